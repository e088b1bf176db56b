//! Keeping the index current: each path an event names is looked at again, and whatever is
//! there now decides (a clip added or replaced, a marker, a new directory to read, or
//! something gone). Event kinds are only hints; the filesystem is the truth.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;

use super::index::{Entry, Index, NEVER};
use crate::clip::{Brief, ClipDir, Name};
use crate::config::Settings;
use crate::fsx::{self, FileKind};
use crate::holds::marker;
use crate::scan::{self, FoundMarker, ScanRequest};

/// What a looked-at path turned out to change.
#[derive(Debug, Default)]
pub struct Change {
    pub clips: bool,
    pub markers: bool,
    /// Clips that went without this daemon deleting them.
    pub gone: Vec<(Arc<ClipDir>, Entry)>,
    /// A root itself changed (removed, remounted): only a full rescan can tell what is there.
    pub rescan: bool,
    /// A clip arrived that is already due: it should go within seconds, not wait for the next
    /// gathered batch.
    pub due_now: bool,
}

impl Change {
    pub fn merge(&mut self, other: Change) {
        self.clips |= other.clips;
        self.markers |= other.markers;
        self.gone.extend(other.gone);
        self.rescan |= other.rescan;
        self.due_now |= other.due_now;
    }
}

/// Looks at `path` again and brings the index in line with it. `due` gives a new clip's first
/// due time from its camera's name. A directory is read only when `arrived` (created or moved
/// in): other events on a directory say nothing about its clips.
pub fn refresh(
    index: &mut Index,
    settings: &Settings,
    path: &Path,
    now: Timestamp,
    arrived: bool,
    due: &dyn Fn(&str, &Brief) -> i64,
) -> Change {
    let mut change = Change::default();
    let Some((root, cfg)) = settings
        .roots
        .iter()
        .enumerate()
        .find(|(_, r)| path.starts_with(&r.path))
    else {
        return change;
    };
    let root = root as u16;
    let rel = path
        .strip_prefix(&cfg.path)
        .expect("prefix checked")
        .as_os_str()
        .as_encoded_bytes();
    if rel.is_empty() {
        change.rescan = true;
        return change;
    }
    let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(cut) => (&rel[..cut], &rel[cut + 1..]),
        None => (&rel[..0], rel),
    };
    let parent_dir = Arc::new(dir_of(root, parent));
    let stat = std::fs::symlink_metadata(path)
        .ok()
        .map(|m| fsx::FileMeta::from_std(&m));
    // Something mounted inside a root is another filesystem: the walk never enters it, and
    // neither does the view (inotify's recursive watch does, so say no here).
    let root_dev = index.roots[usize::from(root)].scan.fs.map(|f| f.dev);
    let meta = match stat {
        Some(m) if Some(m.dev) != root_dev => Some(FileKind::Other),
        m => m.map(|m| m.kind),
    };

    // Markers first: they are never clips.
    if let Some(clip) = marker_target(name) {
        let key = (root, parent.into(), clip.map(Into::into));
        match meta {
            None => change.markers = index.markers.remove(&key).is_some(),
            Some(_) => {
                let file = fsx::open_root(&cfg.path)
                    .and_then(|r| fsx::open_rel_dir(std::os::fd::AsFd::as_fd(&r), parent))
                    .map(|d| marker::read(std::os::fd::AsFd::as_fd(&d), name, &settings.timezone));
                let Ok(file) = file else { return change };
                if parent.is_empty() && clip.is_none() {
                    index.roots[usize::from(root)].scan.root_marker = true;
                    return change;
                }
                let m = FoundMarker {
                    dir: parent_dir,
                    clip: key.2.clone(),
                    file,
                };
                index.markers.insert(key, m);
                change.markers = true;
            }
        }
        return change;
    }

    match meta {
        None | Some(FileKind::Symlink) | Some(FileKind::Other) => {
            if let Some(gone) = index.remove(root, parent, name) {
                change.gone.push(gone);
            }
            let below = index.remove_tree(root, rel);
            change.markers |= !below.is_empty();
            change.gone.extend(below);
            change.clips = true;
        }
        Some(FileKind::Dir) if !arrived => {}
        Some(FileKind::Dir) => {
            let Some((partial, camera)) = cfg.layout.locate(rel, false, &cfg.extensions) else {
                return change;
            };
            let req = ScanRequest {
                roots: &settings.roots,
                now,
                future_slack: settings.safety.future_slack,
                collect_before: vec![None; settings.roots.len()],
                defer_young: false,
                index: true,
                zone: &settings.timezone,
                threads: 1,
            };
            let dir = Arc::new(dir_of(root, rel));
            let found = scan::scan_subtree(&req, dir, partial, camera.map(|(a, b)| &rel[a..b]));
            // What the directory holds now replaces what the index had for it.
            let before = index.remove_tree(root, rel);
            for d in found.indexed {
                for b in d.clips {
                    let name = &found.cameras[b.camera.0 as usize];
                    let cam = index.camera(name);
                    let b = Brief { camera: cam, ..b };
                    let at = due(name, &b);
                    change.due_now |= at <= now.as_second();
                    index.upsert(&d.dir, b, at);
                }
            }
            for m in found.markers {
                index
                    .markers
                    .insert((m.dir.root, m.dir.rel.clone(), m.clip.clone()), m);
            }
            for (dir, e) in before {
                if index.get(root, &dir.rel, &e.name).is_none() {
                    change.gone.push((dir, e));
                }
            }
            change.clips = true;
            change.markers = true;
        }
        Some(FileKind::File) => {
            if !cfg.has_clip_extension(name) {
                return change;
            }
            let Some((partial, camera)) = cfg.layout.locate(rel, true, &cfg.extensions) else {
                if let Some(gone) = index.remove(root, parent, name) {
                    change.gone.push(gone);
                }
                return change;
            };
            let Ok(m) = std::fs::symlink_metadata(path) else {
                return change;
            };
            let inode = fsx::FileMeta::from_std(&m);
            let recorded = if cfg.layout.is_mtime() {
                Some(inode.mtime)
            } else {
                cfg.layout.resolve(&partial)
            };
            let (Some(recorded), Some((a, b))) = (recorded, camera) else {
                return change;
            };
            let camera_name = String::from_utf8_lossy(&rel[a..b]).into_owned();
            let cam = index.camera(&camera_name);
            let brief = Brief {
                name: Name::new(name),
                recorded: recorded.as_second(),
                mtime: inode.mtime.as_second(),
                size: inode.size,
                camera: cam,
                due: NEVER,
            };
            let at = due(&camera_name, &brief);
            change.due_now |= at <= now.as_second();
            index.upsert(&parent_dir, brief, at);
            change.clips = true;
        }
    }
    change
}

/// `Some(None)` for a directory marker, `Some(Some(clip))` for a sidecar, `None` otherwise.
fn marker_target(name: &[u8]) -> Option<Option<&[u8]>> {
    if name == b".hold" {
        return Some(None);
    }
    name.strip_suffix(b".hold")
        .filter(|c| !c.is_empty())
        .map(Some)
}

fn dir_of(root: u16, rel: &[u8]) -> ClipDir {
    let level = if rel.is_empty() {
        0
    } else {
        rel.iter().filter(|&&b| b == b'/').count() as u16 + 1
    };
    ClipDir {
        root,
        rel: rel.into(),
        level,
    }
}
