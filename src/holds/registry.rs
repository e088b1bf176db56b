//! The hold registry: one TOML file per hold under `<state_dir>/holds/`, written atomically
//! under an `flock`, read fail-closed: a file that cannot be read or parsed stops deletion and
//! is named in the error.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use super::id::HoldId;

/// A hold made with the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryHold {
    pub id: String,
    pub case: String,
    pub reason: String,
    pub created: Timestamp,
    pub created_by: String,
    pub created_uid: u32,
    /// When it ends by itself, already capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    pub selector: Selector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
    /// When a pass recorded `hold_ended` after `until` passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extended: Vec<Extension>,
    /// The `seq` of its `hold_created` audit entry; `None` until that entry is written (a pass
    /// writes any that are missing, so a hold is never unaudited for long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<u64>,
}

/// What a hold covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selector {
    /// Clips of these cameras (any case) whose recording overlaps `[from, to]`.
    Window {
        cameras: Vec<String>,
        from: Timestamp,
        to: Timestamp,
    },
    /// These clips, by absolute path.
    Paths { paths: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub at: Timestamp,
    pub by: String,
    pub uid: u32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extension {
    pub at: Timestamp,
    pub by: String,
    pub uid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    pub to: Timestamp,
}

impl RegistryHold {
    /// True while it protects its clips.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.released.is_none() && self.until.is_none_or(|u| now <= u)
    }

    /// When it stopped protecting, if it has.
    pub fn ended_at(&self, now: Timestamp) -> Option<Timestamp> {
        match (&self.released, self.until) {
            (Some(r), Some(u)) => Some(r.at.min(u)),
            (Some(r), None) => Some(r.at),
            (None, Some(u)) if u < now => Some(u),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("hold registry {path}: cannot read: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("hold registry file {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error("hold registry {path}: cannot write: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "hold registry {path} is still locked after {waited:?}: another command is changing holds"
    )]
    Busy { path: PathBuf, waited: Duration },
}

/// `<state_dir>/holds/`.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// Proof of holding the registry lock; shared for readers that must not race a writer (the
/// executor's last check), exclusive for writers.
pub struct RegistryLock {
    _lock: Flock<File>,
}

/// Identifies one state of the registry directory: any write renames a file into it.
pub type Stamp = (i64, i64, i64, i64);

impl Registry {
    pub fn new(state_dir: &Path) -> Registry {
        Registry {
            dir: state_dir.join("holds"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn create_dir(&self) -> Result<(), RegistryError> {
        use std::os::unix::fs::DirBuilderExt;
        let existed = self.dir.is_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&self.dir)
            .map_err(|source| RegistryError::Write {
                path: self.dir.clone(),
                source,
            })?;
        if !existed
            && let (Ok(d), Some(parent)) = (std::fs::File::open(&self.dir), self.dir.parent())
        {
            crate::fsx::adopt(std::os::fd::AsFd::as_fd(&d), parent);
        }
        Ok(())
    }

    /// Takes the registry lock, waiting up to `wait`. Creates the directory if needed.
    pub fn lock(&self, exclusive: bool, wait: Duration) -> Result<RegistryLock, RegistryError> {
        use crate::lock::{FlockError, flock_file};
        self.create_dir()?;
        let path = self.dir.join(".lock");
        match flock_file(&path, &self.dir, exclusive, wait) {
            Ok(lock) => Ok(RegistryLock { _lock: lock }),
            Err(FlockError::Open(source)) => Err(RegistryError::Write { path, source }),
            Err(FlockError::Busy(waited)) => Err(RegistryError::Busy { path, waited }),
            Err(FlockError::Lock(e)) => Err(RegistryError::Write {
                path,
                source: io::Error::from(e),
            }),
        }
    }

    /// The directory's change stamp (mtime and ctime), or `None` if it does not exist.
    pub fn stamp(&self) -> Option<Stamp> {
        let m = std::fs::metadata(&self.dir).ok()?;
        Some((m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
    }

    /// Every hold. Fails closed: one unreadable or corrupt file fails the whole load.
    pub fn load(&self) -> Result<Vec<RegistryHold>, RegistryError> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RegistryError::Unreadable {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut holds = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|source| RegistryError::Unreadable {
                path: self.dir.clone(),
                source,
            })?;
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue; // the lock and in-flight temp files
            }
            holds.push(self.read_one(&entry.path())?);
        }
        holds.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(holds)
    }

    fn read_one(&self, path: &Path) -> Result<RegistryHold, RegistryError> {
        let corrupt = |problem: String| RegistryError::Corrupt {
            path: path.to_path_buf(),
            problem,
        };
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".toml"))
            .ok_or_else(|| corrupt("is not named <hold id>.toml".into()))?;
        let id = HoldId::parse(stem).map_err(|e| corrupt(format!("its name: {e}")))?;
        let meta = std::fs::symlink_metadata(path).map_err(|source| RegistryError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        if !meta.is_file() {
            return Err(corrupt("is not a regular file".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let hold: RegistryHold =
            toml::from_str(&text).map_err(|e| corrupt(e.message().trim().to_string()))?;
        if hold.id != id.as_str() {
            return Err(corrupt(format!("holds id {} but is named {id}", hold.id)));
        }
        Ok(hold)
    }

    /// Replaces one hold's file atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, hold: &RegistryHold, _lock: &RegistryLock) -> Result<(), RegistryError> {
        let path = self.path_of(&hold.id);
        let text = toml::to_string(hold).expect("holds serialise");
        crate::atomic::write(&path, text.as_bytes(), 0o640)
            .map_err(|source| RegistryError::Write { path, source })
    }

    /// Removes a purged hold's file.
    pub fn remove(&self, id: &str, _lock: &RegistryLock) -> Result<(), RegistryError> {
        let path = self.path_of(id);
        std::fs::remove_file(&path)
            .and_then(|()| crate::atomic::sync_dir(&self.dir))
            .map_err(|source| RegistryError::Write { path, source })
    }

    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.toml"))
    }

    /// A fresh ID no existing hold has.
    pub fn new_id(&self, existing: &[RegistryHold]) -> HoldId {
        loop {
            let mut bytes = [0u8; 6];
            fill_random(&mut bytes);
            let id = HoldId::from_entropy(bytes);
            if !existing.iter().any(|h| h.id == id.as_str()) && !self.path_of(id.as_str()).exists()
            {
                return id;
            }
        }
    }
}

/// Entropy for IDs from the kernel; the clock as a fallback is fine, IDs need not be secret.
fn fill_random(buf: &mut [u8]) {
    use std::io::Read;
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> (8 * i)) as u8;
        }
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
