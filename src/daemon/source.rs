//! The daemon's clips for a pass: those its index says are due, with their inodes read now,
//! and the counts and markers the guards and the planner need.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use jiff::Timestamp;

use super::index::Index;
use crate::clip::{Brief, Clip, ClipDir};
use crate::config::Settings;
use crate::fsx;
use crate::pass::Source;
use crate::scan::{RootScan, Scan};

/// A pass's view of the due part of the index.
pub struct Due<'a> {
    pub index: &'a Index,
    pub settings: &'a Settings,
    pub batch: Vec<(Arc<ClipDir>, Brief)>,
    /// Clips the batch named that were gone when looked at (the index learns by events).
    pub gone: Vec<(Arc<ClipDir>, Brief)>,
}

impl Source for Due<'_> {
    fn pending(&self, root: u16) -> u64 {
        self.index.roots[usize::from(root)].due_count(Timestamp::now().as_second())
    }

    fn scan(&mut self) -> Scan {
        let mut clips = Vec::with_capacity(self.batch.len());
        let mut dirs: HashMap<(u16, Box<[u8]>), Option<OwnedFd>> = HashMap::new();
        for (dir, brief) in &self.batch {
            let root = &self.settings.roots[usize::from(dir.root)];
            let fd = dirs.entry((dir.root, dir.rel.clone())).or_insert_with(|| {
                fsx::open_root(&root.path)
                    .and_then(|r| fsx::open_rel_dir(r.as_fd(), &dir.rel))
                    .ok()
            });
            let meta = fd
                .as_ref()
                .and_then(|fd| fsx::stat_at(fd.as_fd(), &brief.name).ok());
            let Some(meta) = meta.filter(|m| m.is_file()) else {
                self.gone.push((dir.clone(), brief.clone()));
                continue;
            };
            let recorded = Timestamp::from_second(brief.recorded).unwrap_or(Timestamp::UNIX_EPOCH);
            let start = if root.layout.is_mtime() {
                previous_mtime(self.index, dir, brief).unwrap_or(recorded)
            } else {
                recorded
            };
            clips.push(Clip {
                dir: dir.clone(),
                name: brief.name.to_vec().into_boxed_slice(),
                camera: brief.camera,
                recorded,
                span: (start, recorded.max(meta.mtime)),
                meta,
            });
        }
        let roots = self
            .index
            .roots
            .iter()
            .zip(&self.settings.roots)
            .map(|(r, cfg)| RootScan {
                fs: crate::scan::fs_id(&cfg.path).ok(),
                unavailable: crate::scan::fs_id(&cfg.path).err().map(|e| e.to_string()),
                recognised: r.clips,
                unrecognised: r.scan.unrecognised,
                unrecognised_samples: r.scan.unrecognised_samples.clone(),
                root_marker: r.scan.root_marker,
                ..RootScan::default()
            })
            .collect();
        Scan {
            roots,
            cameras: self.index.cameras.clone(),
            clips,
            indexed: Vec::new(),
            markers: self.index.markers.values().cloned().collect(),
        }
    }
}

/// For `mtime` layouts a recording starts at the previous clip's mtime on that camera; the
/// index keeps a directory's clips in time order, which is where that clip almost always is.
fn previous_mtime(index: &Index, dir: &ClipDir, brief: &Brief) -> Option<Timestamp> {
    let di = index.roots[usize::from(dir.root)].dirs.get(&dir.rel)?;
    di.clips
        .iter()
        .filter(|e| e.camera == brief.camera && e.mtime < brief.mtime)
        .map(|e| e.mtime)
        .max()
        .and_then(|t| Timestamp::from_second(t).ok())
}
