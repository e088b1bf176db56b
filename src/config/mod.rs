//! TOML → typed, validated [`Settings`]. Layers as zincati does: raw optional fields per
//! file, merged in order (main file, then `conf.d/*.toml` by name), then validated once into
//! settings that the rest of the program can trust. Every error names file, key and problem.

mod raw;
pub mod units;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::tz::TimeZone;

use crate::layout::Layout;
pub use units::FreeSpace;

/// Where the config lives unless `--config` or `$CLIPWARDEN_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/clipwarden/clipwarden.toml";

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The files it was read from, in merge order.
    pub files: Vec<PathBuf>,
    /// SHA-256 of the files' bytes in merge order (for a lone file, its `sha256sum`):
    /// recorded with every pass in the audit log.
    pub fingerprint: String,
    pub timezone: TimeZone,
    pub timezone_name: String,
    pub state_dir: PathBuf,
    pub retention: Retention,
    pub safety: Safety,
    pub roots: Vec<Root>,
    /// Per-camera retention, keyed by lowercase camera name.
    pub cameras: BTreeMap<String, SignedDuration>,
    pub holds: HoldSettings,
    pub audit_keep: SignedDuration,
    pub reconcile_interval: SignedDuration,
    pub metrics_textfile: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: i64,
    pub hold_cap_days: i64,
    pub warn_before: SignedDuration,
}

impl Retention {
    pub fn retention(&self) -> SignedDuration {
        SignedDuration::from_hours(self.days * 24)
    }

    pub fn hold_cap(&self) -> SignedDuration {
        SignedDuration::from_hours(self.hold_cap_days * 24)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Safety {
    pub quiet_period: SignedDuration,
    pub max_delete_fraction: f64,
    pub future_slack: SignedDuration,
}

#[derive(Debug, Clone)]
pub struct Root {
    /// Absolute and normalised.
    pub path: PathBuf,
    pub layout: Layout,
    /// Lowercase, without the dot.
    pub extensions: Vec<Box<[u8]>>,
    pub min_free: Option<FreeSpace>,
    pub min_keep: SignedDuration,
    pub expect_mount: bool,
}

impl Root {
    /// True when `name` ends in `.<ext>` for one of the root's clip extensions.
    pub fn has_clip_extension(&self, name: &[u8]) -> bool {
        name.iter().rposition(|&b| b == b'.').is_some_and(|dot| {
            let ext = &name[dot + 1..];
            self.extensions.iter().any(|e| ext.eq_ignore_ascii_case(e))
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct HoldSettings {
    /// `None`: any owner's marker counts. Otherwise only these users' or groups' markers do.
    pub marker_owners: Option<MarkerOwners>,
    pub keep_released: SignedDuration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkerOwners {
    pub names: Vec<String>,
    pub uids: Vec<u32>,
    pub gids: Vec<u32>,
}

impl MarkerOwners {
    pub fn allows(&self, uid: u32, gid: u32) -> bool {
        self.uids.contains(&uid) || self.gids.contains(&gid)
    }
}

impl Settings {
    /// Retention for one camera: the per-camera override where there is one.
    pub fn retention_for(&self, camera: &str) -> SignedDuration {
        if self.cameras.is_empty() {
            return self.retention.retention();
        }
        self.cameras
            .get(&camera.to_lowercase())
            .copied()
            .unwrap_or_else(|| self.retention.retention())
    }

    /// The shortest retention any camera has: below this age nothing is ever due.
    pub fn shortest_retention(&self) -> SignedDuration {
        self.cameras
            .values()
            .copied()
            .chain([self.retention.retention()])
            .min()
            .unwrap_or(self.retention.retention())
    }
}

/// One problem in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: Option<String>,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: {k}: {}", self.file.display(), self.problem),
            None => write!(f, "{}: {}", self.file.display(), self.problem),
        }
    }
}

/// Every problem found, so one `config check` shows them all.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "config error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The main file followed by its drop-ins, `conf.d/*.toml` beside it, in name order.
pub fn config_files(main: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = vec![main.to_path_buf()];
    let dropins = main.parent().unwrap_or(Path::new(".")).join("conf.d");
    match std::fs::read_dir(&dropins) {
        Ok(rd) => {
            let mut extra = Vec::new();
            for e in rd {
                let e = e.map_err(|e| ConfigError {
                    file: dropins.clone(),
                    key: None,
                    problem: format!("cannot list drop-in directory: {e}"),
                })?;
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") {
                    extra.push(p);
                }
            }
            extra.sort();
            files.extend(extra);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ConfigError {
                file: dropins,
                key: None,
                problem: format!("cannot list drop-in directory: {e}"),
            });
        }
    }
    Ok(files)
}

/// Reads, merges and validates the config rooted at `main`.
pub fn load(main: &Path) -> Result<Settings, ConfigErrors> {
    let files = config_files(main).map_err(|e| ConfigErrors(vec![e]))?;
    let mut texts = Vec::new();
    let mut errors = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push(t),
            Err(e) => {
                errors.push(ConfigError {
                    file: f.clone(),
                    key: None,
                    problem: format!("cannot read: {e}"),
                });
                texts.push(String::new());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    from_texts(&files, &texts)
}

/// Validates config text already read; `files[i]` names `texts[i]` in messages.
pub fn from_texts(files: &[PathBuf], texts: &[String]) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut merged = toml::Table::new();
    let mut origin = BTreeMap::new();
    let mut fingerprint = Vec::new();
    for (i, (file, text)) in files.iter().zip(texts).enumerate() {
        // The bytes alone, in merge order: for one file this is what `sha256sum` prints, and
        // the same file reached by another spelling of its path is the same config.
        fingerprint.extend_from_slice(text.as_bytes());
        // Schema first, per file, so an unknown or mistyped key is blamed on its own file.
        if let Err(e) = toml::from_str::<raw::RawConfig>(text) {
            errors.push(ConfigError {
                file: file.clone(),
                key: None,
                problem: describe_toml_error(&e, text),
            });
            continue;
        }
        match toml::from_str::<toml::Table>(text) {
            Ok(t) => raw::merge(&mut merged, t, i, "", &mut origin),
            Err(e) => errors.push(ConfigError {
                file: file.clone(),
                key: None,
                problem: describe_toml_error(&e, text),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let raw: raw::RawConfig = merged.try_into().map_err(|e: toml::de::Error| {
        ConfigErrors(vec![ConfigError {
            file: files[0].clone(),
            key: None,
            problem: e.message().to_string(),
        }])
    })?;
    let blame = |key: &str| -> PathBuf {
        // The most specific key that some file set; else the main file.
        let mut k = key.to_string();
        loop {
            if let Some(&i) = origin.get(&k) {
                return files[i].clone();
            }
            match k.rfind(['.', '[']) {
                Some(cut) => k.truncate(cut),
                None => return files[0].clone(),
            }
        }
    };
    validate::settings(
        raw,
        &blame,
        files.to_vec(),
        crate::digest::sha256_hex(&fingerprint),
    )
}

/// A TOML error as one line: where, and what.
fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} (`{snippet}`): {msg}")
        }
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests;
