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

/// A directory's root and relative path.
type DirKey = (u16, Box<[u8]>);

/// A pass's view of the due part of the index.
pub struct Due<'a> {
    pub index: &'a Index,
    pub settings: &'a Settings,
    pub batch: Vec<(Arc<ClipDir>, Brief)>,
    /// Clips the batch named that were gone when looked at.
    pub gone: Vec<(Arc<ClipDir>, Brief)>,
    /// Clips no longer a regular file on the root's filesystem (replaced by a link, or under
    /// something mounted since).
    pub foreign: Vec<(Arc<ClipDir>, Brief)>,
    /// Clips that could not be looked at (the error says nothing about them): tried later.
    pub unreadable: Vec<(Arc<ClipDir>, Brief)>,
}

impl Source for Due<'_> {
    fn pending(&self, root: u16) -> u64 {
        self.index.roots[usize::from(root)].due_count(Timestamp::now().as_second())
    }

    fn scan(&mut self) -> Scan {
        let mut clips = Vec::with_capacity(self.batch.len());
        // The batch comes sorted by directory: one descriptor open at a time.
        let mut open: Option<(DirKey, std::io::Result<OwnedFd>)> = None;
        let mut spans: HashMap<(u16, u32), Vec<i64>> = HashMap::new();
        for (dir, brief) in &self.batch {
            let root = &self.settings.roots[usize::from(dir.root)];
            let key = (dir.root, dir.rel.clone());
            if open.as_ref().is_none_or(|(k, _)| *k != key) {
                let fd =
                    fsx::open_root(&root.path).and_then(|r| fsx::open_rel_dir(r.as_fd(), &dir.rel));
                open = Some((key, fd));
            }
            let fd = &open.as_ref().expect("just set").1;
            let root_dev = self.index.roots[usize::from(dir.root)]
                .scan
                .fs
                .map(|f| f.dev);
            let meta = match fd {
                Ok(fd) => fsx::stat_at(fd.as_fd(), &brief.name),
                Err(e) => Err(std::io::Error::from_raw_os_error(
                    e.raw_os_error().unwrap_or(nix::libc::EIO),
                )),
            };
            match meta {
                Ok(m) if m.is_file() && Some(m.dev) == root_dev => {
                    let recorded =
                        Timestamp::from_second(brief.recorded).unwrap_or(Timestamp::UNIX_EPOCH);
                    let start = if root.layout.is_mtime() {
                        let mtimes = spans
                            .entry((dir.root, brief.camera.0))
                            .or_insert_with(|| camera_mtimes(self.index, dir.root, brief));
                        previous(mtimes, brief.mtime).unwrap_or_else(|| {
                            recorded
                                .checked_sub(crate::layout::MTIME_UNKNOWN_START)
                                .unwrap_or(recorded)
                        })
                    } else {
                        recorded
                    };
                    clips.push(Clip {
                        dir: dir.clone(),
                        name: brief.name.to_vec().into_boxed_slice(),
                        camera: brief.camera,
                        recorded,
                        span: (start, recorded.max(m.mtime)),
                        meta: m,
                    });
                }
                // Gone, or no longer a regular file of the root's filesystem: not ours now.
                Ok(_) => self.foreign.push((dir.clone(), brief.clone())),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(nix::libc::ENOENT | nix::libc::ENOTDIR)
                    ) =>
                {
                    self.gone.push((dir.clone(), brief.clone()));
                }
                // Anything else (out of descriptors, permissions) says nothing about the clip.
                Err(_) => self.unreadable.push((dir.clone(), brief.clone())),
            }
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

/// Every mtime of one camera's clips in a root, sorted: for `mtime` layouts a recording
/// starts at the previous clip's mtime on that camera, wherever in the root that clip is.
fn camera_mtimes(index: &Index, root: u16, brief: &Brief) -> Vec<i64> {
    let mut v: Vec<i64> = index.roots[usize::from(root)]
        .dirs
        .values()
        .flat_map(|d| d.clips.iter())
        .filter(|e| e.camera == brief.camera)
        .map(|e| e.mtime)
        .collect();
    v.sort_unstable();
    v
}

/// The latest of `sorted` strictly before `t`.
fn previous(sorted: &[i64], t: i64) -> Option<Timestamp> {
    let at = sorted.partition_point(|&m| m < t);
    at.checked_sub(1)
        .and_then(|i| Timestamp::from_second(sorted[i]).ok())
}
