//! The hot path: a parallel walk of the roots that reads names with `getdents64`, takes each
//! clip's time from its name where the layout gives one, and `stat`s only what a pass may act
//! on. It never follows a symlink, never leaves a root's filesystem, descends no deeper than
//! the layout needs, and only counts the clips in directories the layout proves too young.
//!
//! Errors carry their path and the walk goes on, as in ripgrep's `ignore` walker.

mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::clip::{Brief, Clip, ClipDir};
use crate::config::Root;
use crate::holds::marker::MarkerFile;

/// Clips dated before this are never judged: a recorder without a battery clock writes 1970
/// names after a power cut, and no real footage is older than the product.
pub const EARLIEST_JUDGEABLE: Timestamp = Timestamp::constant(1_577_836_800, 0); // 2020-01-01Z

/// What to scan and how much to collect.
pub struct ScanRequest<'a> {
    pub roots: &'a [Root],
    pub now: Timestamp,
    pub future_slack: SignedDuration,
    /// Per root: judgeable clips recorded at or after this are only counted, not collected or
    /// `stat`ed. `None` collects every clip (for `status` and `clips`).
    pub collect_before: Vec<Option<Timestamp>>,
    /// Put directories the layout proves too young aside unread (see [`count_deferred`])
    /// instead of counting their clips now.
    pub defer_young: bool,
    /// Collect clips as compact [`Brief`]s grouped by directory (the daemon's index) instead
    /// of [`Clip`]s.
    pub index: bool,
    /// The zone for local times written in markers.
    pub zone: &'a TimeZone,
    pub threads: usize,
}

impl ScanRequest<'_> {
    /// True when a clip dated `t` cannot be judged: from the future or before 2020.
    pub fn is_unjudgeable(&self, t: Timestamp) -> bool {
        is_unjudgeable(t, self.now, self.future_slack)
    }
}

/// True when a clip dated `t` cannot be judged at `now`.
pub fn is_unjudgeable(t: Timestamp, now: Timestamp, future_slack: SignedDuration) -> bool {
    t < EARLIEST_JUDGEABLE || now.checked_add(future_slack).is_ok_and(|limit| t > limit)
}

/// A marker file found beside a clip (`clip` is its name) or in a directory (`clip` is `None`).
#[derive(Debug, Clone)]
pub struct FoundMarker {
    pub dir: Arc<ClipDir>,
    pub clip: Option<Box<[u8]>>,
    pub file: MarkerFile,
}

/// A directory or file the walk could not read. The walk went on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub path: PathBuf,
    pub error: String,
}

/// Identifies the filesystem a root lives on, so a swapped disk is noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FsId {
    pub dev: u64,
    pub fsid: u64,
}

/// What the walk found in one root.
#[derive(Debug, Clone, Default)]
pub struct RootScan {
    pub fs: Option<FsId>,
    /// Set when the root itself could not be opened: nothing below it was seen.
    pub unavailable: Option<String>,
    /// Every clip the layout recognised, collected or only counted.
    pub recognised: u64,
    /// Of those, the ones in provably young places that were only counted.
    pub counted_only: u64,
    /// Files with a clip extension (and directories) that do not fit the layout.
    pub unrecognised: u64,
    /// Root-relative paths of the first unrecognised entries (directories end in `/`).
    pub unrecognised_samples: Vec<Vec<u8>>,
    pub errors: Vec<ScanError>,
    /// A `.hold` directly in the root: it holds nothing and raises the alarm.
    pub root_marker: bool,
    /// Directories below the root on another filesystem, not descended.
    pub other_fs: Vec<Vec<u8>>,
    pub dirs_read: u64,
    pub dirs_counted_only: u64,
    /// Provably young directories left unread (with `defer_young`): nothing in them is due,
    /// so only the fraction guard's count could need them.
    pub deferred: Vec<Deferred>,
    /// Set when counting stopped early because enough was counted.
    pub incomplete: bool,
}

impl RootScan {
    /// True when `recognised` counts every clip in the root, not a lower bound.
    pub fn is_complete(&self) -> bool {
        self.deferred.is_empty() && !self.incomplete
    }
}

/// A directory whose every clip is too young to act on, left unread.
#[derive(Debug, Clone)]
pub struct Deferred {
    pub dir: Arc<ClipDir>,
    pub(crate) partial: crate::layout::Partial,
    pub(crate) camera: Option<crate::clip::CameraId>,
    pub(crate) dev: u64,
}

/// How many unrecognised paths a root keeps as examples.
pub const MAX_SAMPLES: usize = 100;

/// The result of one walk over all roots.
#[derive(Debug, Default)]
pub struct Scan {
    pub roots: Vec<RootScan>,
    /// Camera names by [`crate::clip::CameraId`].
    pub cameras: Vec<String>,
    pub clips: Vec<Clip>,
    /// With [`ScanRequest::index`]: the collected clips, by directory.
    pub indexed: Vec<IndexedDir>,
    pub markers: Vec<FoundMarker>,
}

/// One directory's clips for the daemon's index.
#[derive(Debug)]
pub struct IndexedDir {
    pub dir: Arc<ClipDir>,
    pub clips: Vec<Brief>,
}

impl Scan {
    pub fn camera_name(&self, clip: &Clip) -> &str {
        &self.cameras[clip.camera.0 as usize]
    }
}

/// Walks every root in parallel.
pub fn scan(req: &ScanRequest<'_>) -> Scan {
    walk::run(req)
}

/// Counts clips in the deferred directories of each root until it has counted at least
/// `need[root]` (for the fraction guard), or all of them.
pub fn count_deferred(req: &ScanRequest<'_>, scan: &mut Scan, need: &[u64]) {
    walk::count_deferred(req, scan, need);
}

/// Walks one directory below a root (and all below it), given what the path to it says.
pub fn scan_subtree(
    req: &ScanRequest<'_>,
    dir: Arc<ClipDir>,
    partial: crate::layout::Partial,
    camera: Option<&[u8]>,
) -> Scan {
    walk::run_subtree(req, dir, partial, camera)
}

/// The filesystem a root lives on: its device and `statvfs` filesystem id.
pub fn fs_id(path: &std::path::Path) -> std::io::Result<FsId> {
    use std::os::fd::AsFd;
    let fd = crate::fsx::open_root(path)?;
    let meta = crate::fsx::stat_fd(fd.as_fd())?;
    let fsid = crate::fsx::fs_id(fd.as_fd())?;
    Ok(FsId {
        dev: meta.dev,
        fsid,
    })
}

/// A sensible thread count: the machine's cores, at most eight (directory reads stop scaling
/// long before that on one disk).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

#[cfg(test)]
mod tests;
