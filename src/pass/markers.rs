//! Markers are accountable: a pass records each marker it sees for the first time
//! (`marker_added`) and each one it no longer finds (`marker_removed`), with its owner, its
//! content's SHA-256 and the clips it covers, so a hold that appeared or went by another hand
//! is on the record.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditError, AuditLog};
use crate::config::Settings;
use crate::holds::Holds;
use crate::scan::Scan;
use crate::state::State;

/// What a pass remembers of a marker it has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenMarker {
    pub sha256: Option<String>,
    pub owner_uid: Option<u32>,
}

#[derive(Serialize)]
struct Entry<'a> {
    path: &'a str,
    owner_uid: Option<u32>,
    sha256: Option<&'a str>,
    /// Clips it covers among those this pass collected.
    clips: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
}

/// Audits markers that appeared or went since the last pass. Markers in roots that could not
/// be read, or under directories left unread or only counted, are not judged missing.
pub fn audit_changes(
    settings: &Settings,
    scan: &Scan,
    holds: &Holds,
    state: &mut State,
    audit: &mut AuditLog,
    now: Timestamp,
) -> Result<(), AuditError> {
    let mut present: BTreeMap<String, (SeenMarker, Option<String>)> = BTreeMap::new();
    for m in &scan.markers {
        let root = &settings.roots[usize::from(m.dir.root)].path;
        let name = match &m.clip {
            Some(c) => [&c[..], b".hold"].concat(),
            None => b".hold".to_vec(),
        };
        let path = crate::human::escape_path(&crate::fsx::join(root, &m.dir.rel, &name));
        let seen = SeenMarker {
            sha256: m.file.sha256.clone(),
            owner_uid: m.file.meta.map(|x| x.uid),
        };
        present.insert(path, (seen, m.file.problem.clone()));
    }
    let covered = coverage(scan, holds);
    for (path, (seen, problem)) in &present {
        if state.known_markers.get(path) == Some(seen) {
            continue;
        }
        let entry = Entry {
            path,
            owner_uid: seen.owner_uid,
            sha256: seen.sha256.as_deref(),
            clips: covered.get(path.as_str()).copied().unwrap_or(0),
            problem: problem.as_deref(),
        };
        audit.append(now, "marker_added", &entry)?;
        state.known_markers.insert(path.clone(), seen.clone());
    }
    let readable: Vec<String> = settings
        .roots
        .iter()
        .zip(&scan.roots)
        .filter(|(_, r)| r.unavailable.is_none() && r.errors.is_empty())
        .map(|(cfg, _)| crate::human::escape_path(&cfg.path))
        .collect();
    let deferred: Vec<String> = settings
        .roots
        .iter()
        .zip(&scan.roots)
        .flat_map(|(cfg, r)| {
            r.deferred
                .iter()
                .map(|d| &d.dir)
                .chain(&r.counted)
                .map(move |d| crate::human::escape_path(&d.path(&cfg.path)))
        })
        .collect();
    let gone: Vec<(String, SeenMarker)> = state
        .known_markers
        .iter()
        .filter(|(p, _)| !present.contains_key(*p))
        .filter(|(p, _)| readable.iter().any(|r| p.starts_with(&format!("{r}/"))))
        .filter(|(p, _)| !deferred.iter().any(|d| p.starts_with(&format!("{d}/"))))
        .map(|(p, s)| (p.clone(), s.clone()))
        .collect();
    for (path, seen) in gone {
        let entry = Entry {
            path: &path,
            owner_uid: seen.owner_uid,
            sha256: seen.sha256.as_deref(),
            clips: 0,
            problem: None,
        };
        audit.append(now, "marker_removed", &entry)?;
        state.known_markers.remove(&path);
    }
    Ok(())
}

/// How many collected clips each marker covers, by the marker's shown path.
fn coverage<'h>(scan: &Scan, holds: &'h Holds) -> BTreeMap<&'h str, u64> {
    let mut out = BTreeMap::new();
    let mut cov = Vec::new();
    for c in &scan.clips {
        cov.clear();
        holds.covering(c, &mut cov);
        for &h in &cov {
            let hold = holds.get(h);
            if hold.id.is_none() {
                *out.entry(hold.label.as_str()).or_default() += 1;
            }
        }
    }
    out
}
