//! Pruning emptied directories: only from the layout's first date level down, never the root
//! and never a camera or group directory above it that the recorder may not recreate. A
//! directory left holding nothing but its `.hold` loses both, since nothing it held is left.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::unistd::{UnlinkatFlags, unlinkat};

use super::{Executor, MarkerRemoved, Report};
use crate::audit::{AuditError, AuditLog};
use crate::clip::ClipDir;
use crate::config::Root;
use crate::dirent::DirReader;
use crate::fsx;
use crate::holds::marker;

/// Removes each emptied directory in `touched` and then its parents, deepest first, down to
/// the layout's prune floor.
pub(super) fn prune(
    ex: &Executor<'_>,
    root_fd: &OwnedFd,
    root: &Root,
    touched: Vec<Arc<ClipDir>>,
    audit: &mut AuditLog,
    report: &mut Report,
) -> Result<(), AuditError> {
    let floor = root.layout.prune_floor();
    // A directory at depth d (its entries at level d) sits at layout level d - 1.
    let prunable = |depth: u16| usize::from(depth) > floor;
    let mut todo: BTreeSet<(u16, Vec<u8>)> = touched
        .iter()
        .filter(|d| prunable(d.level))
        .map(|d| (d.level, d.rel.to_vec()))
        .collect();
    while let Some((depth, rel)) = todo.pop_last() {
        let (parent_rel, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(cut) => (&rel[..cut], &rel[cut + 1..]),
            None => (&rel[..0], &rel[..]),
        };
        let Ok(parent) = fsx::open_rel_dir(root_fd.as_fd(), parent_rel) else {
            continue; // the parent went away or became a link: nothing of ours to prune
        };
        if remove_dir(
            ex,
            &parent,
            name,
            &fsx::join(&root.path, &rel, b""),
            audit,
            report,
        )? {
            report.dirs_removed.push(fsx::join(&root.path, &rel, b""));
            if prunable(depth - 1) {
                todo.insert((depth - 1, parent_rel.to_vec()));
            }
        }
    }
    Ok(())
}

/// Tries to remove `name` in `parent`; true when it is gone.
fn remove_dir(
    ex: &Executor<'_>,
    parent: &OwnedFd,
    name: &[u8],
    shown: &std::path::Path,
    audit: &mut AuditLog,
    report: &mut Report,
) -> Result<bool, AuditError> {
    match unlinkat(parent.as_fd(), name, UnlinkatFlags::RemoveDir) {
        Ok(()) => return Ok(true),
        Err(Errno::ENOENT) => return Ok(false),
        Err(Errno::ENOTEMPTY | Errno::EEXIST) => {}
        Err(e) => {
            report.errors.push(format!(
                "cannot remove emptied directory {}: {}",
                shown.display(),
                e.desc()
            ));
            return Ok(false);
        }
    }
    let Ok(dir) = fsx::open_dir_at(parent.as_fd(), name) else {
        return Ok(false);
    };
    let mut names = Vec::new();
    let listed = DirReader::with_capacity(4096).for_each(dir.as_fd(), |e| {
        if names.len() < 2 {
            names.push(e.name.to_vec());
        }
    });
    if listed.is_err() || names != [b".hold".to_vec()] {
        return Ok(false);
    }
    let m = marker::read(dir.as_fd(), b".hold", ex.zone);
    let entry = MarkerRemoved {
        path: crate::human::escape_path(&shown.join(".hold")),
        owner_uid: m.meta.map(|m| m.uid),
        sha256: m.sha256,
        clips: Vec::new(),
        why: "nothing it held is left",
    };
    audit.append(ex.now, "marker_removed", &entry)?;
    audit.sync()?;
    if let Err(e) = unlinkat(dir.as_fd(), ".hold", UnlinkatFlags::NoRemoveDir) {
        report.errors.push(format!(
            "cannot remove marker {}/.hold: {}",
            shown.display(),
            e.desc()
        ));
        return Ok(false);
    }
    report.markers_removed.push(shown.join(".hold"));
    Ok(unlinkat(parent.as_fd(), name, UnlinkatFlags::RemoveDir).is_ok())
}
