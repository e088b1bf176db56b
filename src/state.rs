//! What passes remember between runs: the clock reading of the last pass no guard refused,
//! each root's filesystem, and the config fingerprint last audited.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::scan::FsId;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The wall clock at the start of the last pass that no guard refused.
    pub last_clock: Option<Timestamp>,
    /// Each root's filesystem as last swept, by root path.
    #[serde(default)]
    pub roots: BTreeMap<PathBuf, FsId>,
    /// The config fingerprint last recorded with `config_loaded`.
    pub config_sha256: Option<String>,
    /// Registry hold IDs seen and not purged: one missing later has vanished.
    #[serde(default)]
    pub known_holds: std::collections::BTreeSet<String>,
    /// Registry holds whose file vanished, and when a pass noticed: `status` keeps showing
    /// the alarm for a week, so a timer-driven box does not hide it after one sweep.
    #[serde(default)]
    pub vanished_holds: BTreeMap<String, jiff::Timestamp>,
    /// Markers seen by a pass, by path: one that appears or goes is audited.
    #[serde(default)]
    pub known_markers: BTreeMap<String, crate::pass::SeenMarker>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is corrupt ({source}); move it aside to start afresh, which re-arms the first-run guards"
    )]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl State {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    /// Loads the state; a missing file is a first run.
    pub fn load(state_dir: &Path) -> Result<State, StateError> {
        let path = State::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Read { path, source }),
        }
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        let path = State::path(state_dir);
        let mut bytes = serde_json::to_vec_pretty(self).expect("state serialises");
        bytes.push(b'\n');
        crate::atomic::write(&path, &bytes, 0o640)
            .map_err(|source| StateError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_first_run() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State {
            last_clock: Some("2026-11-29T12:00:00Z".parse().unwrap()),
            ..State::default()
        };
        s.roots.insert(
            "/srv/nvr".into(),
            FsId {
                dev: 2049,
                fsid: 77,
            },
        );
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        std::fs::write(State::path(dir.path()), "{ nope").unwrap();
        let err = State::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state.json is corrupt"), "{err}");
    }
}
