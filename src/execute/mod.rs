//! The executor: applies a [`Plan`] and trusts nothing the scan saw.
//!
//! For each directory it re-opens the path from the root one component at a time without
//! following links, re-reads the markers, and asks the planner again with the file's fresh
//! inode. Survivors are written to the audit log and fsynced *before* they are unlinked; just
//! before each `unlinkat` the file and its markers are checked once more, and a clip that
//! changed in between is kept and recorded as `delete_failed`. Emptied directories are pruned
//! from the layout's first date level down. No failure on one file stops the others.

mod prune;
mod unlink;

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::audit::{AuditError, AuditLog};
use crate::clip::{Clip, ClipDir};
use crate::config::{MarkerOwners, Root};
use crate::dirent::DirReader;
use crate::fsx;
use crate::holds::registry::{Registry, RegistryError, RegistryHold, Stamp};
use crate::holds::{Holds, marker};
use crate::policy::{Plan, Reason, Rules, Verdict, redecide};
use crate::scan::FoundMarker;

/// How many clips are recorded per fsync of the audit log before they are unlinked. Large
/// enough that an SD card's fsync does not dominate a first sweep, small enough that a crash
/// leaves few entries for files that still exist.
const BATCH: usize = 8192;
/// Directories (each with a descriptor per level) queued before a flush; far below the usual
/// 1024-descriptor limit even for five-level trees.
const MAX_OPEN_DIRS: usize = 64;

/// What became of one planned deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Deleted {
        reason: Reason,
        bytes: u64,
    },
    /// Not deleted, on purpose: the re-check found a reason to keep it.
    Kept(String),
    /// Not deleted because something failed.
    Failed(String),
}

/// Everything a pass did.
#[derive(Debug, Default)]
pub struct Report {
    /// One per action of the plan, in the plan's order; `None` if the pass stopped first.
    pub outcomes: Vec<Option<Outcome>>,
    pub dirs_removed: Vec<PathBuf>,
    pub markers_removed: Vec<PathBuf>,
    /// Problems outside any one clip (a root that would not open, a directory left behind).
    pub errors: Vec<String>,
    /// Set when the audit log failed: nothing more was deleted after that.
    pub aborted: Option<String>,
    /// Set when the hold registry could not be read: nothing more was deleted (fail closed).
    pub registry_failed: Option<String>,
}

/// Why the executor stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// The hold registry as the executor sees it: re-read whenever its directory has changed, so a
/// hold placed while a pass runs is honoured for every clip not yet deleted.
pub struct LiveRegistry<'a> {
    pub registry: &'a Registry,
    cache: Mutex<Option<Snapshot>>,
}

/// The registry as last read, and the directory stamp it was read at.
type Snapshot = (Option<Stamp>, Arc<Vec<RegistryHold>>);

impl<'a> LiveRegistry<'a> {
    pub fn new(registry: &'a Registry) -> LiveRegistry<'a> {
        LiveRegistry {
            registry,
            cache: Mutex::new(None),
        }
    }

    /// The registry now. Fails closed: an unreadable registry stops deletion.
    fn current(&self) -> Result<Arc<Vec<RegistryHold>>, RegistryError> {
        let stamp = self.registry.stamp();
        let mut cache = self.cache.lock().expect("registry cache poisoned");
        if let Some((seen, holds)) = cache.as_ref()
            && *seen == stamp
        {
            return Ok(holds.clone());
        }
        let holds = Arc::new(self.registry.load()?);
        *cache = Some((stamp, holds.clone()));
        Ok(holds)
    }
}

/// Applies plans with the rules they were made with.
pub struct Executor<'a> {
    pub roots: &'a [Root],
    pub cameras: &'a [String],
    pub rules: &'a Rules,
    pub owners: Option<&'a MarkerOwners>,
    pub zone: &'a TimeZone,
    pub now: Timestamp,
    /// Registry holds, re-read as they change; `None` only where no registry exists (tests).
    pub registry: Option<&'a LiveRegistry<'a>>,
    /// For an erasure: the request, recorded with every `clips_deleted` entry.
    pub request: Option<&'a Request>,
}

/// A directory opened for deletion: a descriptor per level below the root, so the markers
/// on the way down can be checked again just before unlinking.
struct OpenDir {
    dir: Arc<ClipDir>,
    /// The root, shared by every directory of a pass.
    root: Arc<OwnedFd>,
    /// The clips' directory, opened from the root level by level; `None` when the layout
    /// keeps clips in the root itself. One descriptor a queued directory, so deep trees of
    /// small directories stay far from the descriptor limit.
    leaf: Option<OwnedFd>,
    /// `.hold` at each level below the root as first seen: (inode, mtime, size) or absent.
    dir_markers: Vec<Option<(u64, Timestamp, u64)>>,
}

impl OpenDir {
    fn fd(&self) -> &OwnedFd {
        self.leaf.as_ref().unwrap_or(&self.root)
    }

    /// True when a directory marker appeared, vanished or changed since the pre-check (or a
    /// level can no longer be opened the safe way).
    fn markers_changed(&self) -> bool {
        let mut cur: Option<OwnedFd> = None;
        let comps = self.dir.rel.split(|&b| b == b'/').filter(|c| !c.is_empty());
        for (comp, seen) in comps.zip(&self.dir_markers) {
            let parent = cur.as_ref().unwrap_or(&self.root);
            let Ok(fd) = fsx::open_dir_at(parent.as_fd(), comp) else {
                return true;
            };
            if marker_snapshot(&fd, b".hold") != *seen {
                return true;
            }
            cur = Some(fd);
        }
        false
    }
}

fn marker_snapshot(dir: &OwnedFd, name: &[u8]) -> Option<(u64, Timestamp, u64)> {
    fsx::stat_at(dir.as_fd(), name)
        .ok()
        .map(|m| (m.ino, m.mtime, m.size))
}

/// A clip that passed the pre-check, waiting for the audit sync and its unlink.
struct Ready {
    action: usize,
    dir: Arc<OpenDir>,
    /// The clip as scanned: its inode is what the last check compares against.
    clip: Clip,
    reason: Reason,
    bytes: u64,
    sidecar: Option<(u64, Timestamp, u64)>,
    sidecar_sha: Option<String>,
    sidecar_uid: Option<u32>,
}

#[derive(Serialize)]
struct DeletedClip<'a> {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_b64: Option<String>,
    camera: &'a str,
    recorded: Timestamp,
    bytes: u64,
    limit: String,
    holds: Vec<String>,
}

#[derive(Serialize)]
struct ClipsDeleted<'a> {
    dir: String,
    reason: &'static str,
    clips: Vec<DeletedClip<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<&'a Request>,
}

/// Who asked for a deletion that no retention rule makes (an erasure), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub by: String,
    pub uid: u32,
    pub reason: String,
}

#[derive(Serialize)]
struct FailedClip {
    name: String,
    error: String,
}

#[derive(Serialize)]
struct DeleteFailed {
    dir: String,
    clips: Vec<FailedClip>,
}

#[derive(Serialize)]
pub(crate) struct MarkerRemoved {
    pub path: String,
    pub owner_uid: Option<u32>,
    pub sha256: Option<String>,
    pub clips: Vec<String>,
    pub why: &'static str,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Executor<'_> {
    /// The limit a clip passed for `reason`: the hold cap, or its camera's retention.
    fn limit(&self, reason: Reason, clip: &Clip) -> jiff::SignedDuration {
        match reason {
            Reason::HoldCap => self.rules.hold_cap,
            Reason::Retention | Reason::HoldEnded => self.rules.retention[clip.camera.0 as usize],
            Reason::Erasure => jiff::SignedDuration::ZERO,
            Reason::DiskPressure => self.rules.min_keep[usize::from(clip.root())],
        }
    }

    /// Carries out `plan` over `clips`, recording everything in `audit`.
    pub fn run(&self, clips: &[Clip], plan: &Plan, audit: &mut AuditLog) -> Report {
        let mut report = Report {
            outcomes: vec![None; plan.actions.len()],
            ..Report::default()
        };
        let mut order: Vec<usize> = (0..plan.actions.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&clips[plan.actions[a].clip], &clips[plan.actions[b].clip]);
            (ca.root(), &ca.dir.rel, &ca.name).cmp(&(cb.root(), &cb.dir.rel, &cb.name))
        });
        let mut start = 0;
        while start < order.len() && report.aborted.is_none() && report.registry_failed.is_none() {
            let root = clips[plan.actions[order[start]].clip].root();
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|&&i| clips[plan.actions[i].clip].root() == root)
                    .count();
            match self.run_root(root, &order[start..end], clips, plan, audit, &mut report) {
                Ok(()) => {}
                Err(Stop::Audit(e)) => report.aborted = Some(e.to_string()),
                Err(Stop::Registry(e)) => report.registry_failed = Some(e.to_string()),
            }
            start = end;
        }
        report
    }

    fn run_root(
        &self,
        root: u16,
        actions: &[usize],
        clips: &[Clip],
        plan: &Plan,
        audit: &mut AuditLog,
        report: &mut Report,
    ) -> Result<(), Stop> {
        let root_cfg = &self.roots[usize::from(root)];
        let root_fd = match fsx::open_root(&root_cfg.path) {
            Ok(fd) => Arc::new(fd),
            Err(e) => {
                let why = format!("root {} cannot be opened: {e}", root_cfg.path.display());
                for &a in actions {
                    report.outcomes[a] = Some(Outcome::Failed(why.clone()));
                }
                report.errors.push(why);
                return Ok(());
            }
        };
        let mut batch: Vec<Ready> = Vec::new();
        let mut touched: Vec<Arc<ClipDir>> = Vec::new();
        let mut start = 0;
        while start < actions.len() {
            let dir = clips[plan.actions[actions[start]].clip].dir.clone();
            let end = start
                + actions[start..]
                    .iter()
                    .take_while(|&&i| clips[plan.actions[i].clip].dir.rel == dir.rel)
                    .count();
            self.precheck_dir(
                &root_fd,
                &dir,
                &actions[start..end],
                clips,
                plan,
                audit,
                report,
                &mut batch,
            )?;
            // Each queued directory keeps its descriptors open until the flush: flush by
            // directories too, so deep trees of small directories cannot run out of them.
            let open_dirs = batch
                .iter()
                .map(|r| Arc::as_ptr(&r.dir))
                .collect::<std::collections::HashSet<_>>()
                .len();
            if batch.len() >= BATCH || open_dirs >= MAX_OPEN_DIRS {
                self.flush(&mut batch, audit, report, &mut touched)?;
            }
            start = end;
        }
        self.flush(&mut batch, audit, report, &mut touched)?;
        Ok(prune::prune(
            self, &root_fd, root_cfg, touched, audit, report,
        )?)
    }

    /// Re-opens one directory, re-reads its markers and re-decides each clip with its fresh
    /// inode; survivors are recorded in the audit log (not yet synced) and queued.
    #[allow(clippy::too_many_arguments)]
    fn precheck_dir(
        &self,
        root_fd: &Arc<OwnedFd>,
        dir: &Arc<ClipDir>,
        actions: &[usize],
        clips: &[Clip],
        plan: &Plan,
        audit: &mut AuditLog,
        report: &mut Report,
        batch: &mut Vec<Ready>,
    ) -> Result<(), Stop> {
        let root_path = &self.roots[usize::from(dir.root)].path;
        let (open, found) = match self.open_dir(root_fd, dir) {
            Ok(x) => x,
            Err(e) => {
                let why = format!("directory cannot be opened safely: {e}");
                for &a in actions {
                    report.outcomes[a] = Some(Outcome::Failed(why.clone()));
                }
                return Ok(());
            }
        };
        let open = Arc::new(open);
        let mut markers = found;
        let wanted: std::collections::HashSet<&[u8]> = actions
            .iter()
            .map(|&a| &*clips[plan.actions[a].clip].name)
            .collect();
        // Sidecars of the clips to delete, by clip name, as listed now: a clip without one
        // needs no extra stat, and the snapshot is what the last check compares against.
        let mut sidecars: std::collections::HashMap<Box<[u8]>, usize> = Default::default();
        let listed = DirReader::default().for_each(open.fd().as_fd(), |e| {
            if let Some(clip) = e.name.strip_suffix(b".hold")
                && !clip.is_empty()
                && wanted.contains(clip)
            {
                sidecars.insert(clip.into(), markers.len());
                markers.push(FoundMarker {
                    dir: dir.clone(),
                    clip: Some(clip.into()),
                    file: marker::read(open.fd().as_fd(), e.name, self.zone),
                });
            }
        });
        if let Err(e) = listed {
            let why = format!("directory cannot be read: {e}");
            for &a in actions {
                report.outcomes[a] = Some(Outcome::Failed(why.clone()));
            }
            return Ok(());
        }
        let root_paths: Vec<&Path> = self.roots.iter().map(|r| r.path.as_path()).collect();
        let mut holds = Holds::from_markers(&markers, self.owners, &root_paths);
        if let Some(live) = self.registry {
            holds.add_registry(&live.current()?, self.cameras, &root_paths);
        }

        let mut by_reason: BTreeMap<Reason, Vec<(usize, Clip, Vec<String>)>> = BTreeMap::new();
        let mut covering = Vec::new();
        for &a in actions {
            let scanned = &clips[plan.actions[a].clip];
            // The scan's inode is re-checked just before the unlink (`last_check`); here the
            // markers are fresh and the verdict is asked again with them.
            let clip = scanned.clone();
            covering.clear();
            holds.covering(&clip, &mut covering);
            match redecide(
                plan.actions[a].reason,
                &clip,
                &covering,
                &holds,
                self.rules,
                self.now,
            ) {
                Verdict::Delete { reason, .. } => {
                    let labels = covering
                        .iter()
                        .map(|&h| holds.get(h).label.clone())
                        .collect();
                    by_reason.entry(reason).or_default().push((a, clip, labels));
                }
                Verdict::Keep(why) => {
                    report.outcomes[a] = Some(Outcome::Kept(format!("re-check: {why:?}")));
                }
                Verdict::NotDue => {
                    report.outcomes[a] = Some(Outcome::Kept("re-check: no longer due".into()));
                }
            }
        }

        let dir_path = crate::human::escape_path(&dir.path(root_path));
        for (reason, items) in by_reason {
            let entry = ClipsDeleted {
                dir: dir_path.clone(),
                reason: reason.as_str(),
                clips: items
                    .iter()
                    .map(|(_, c, labels)| DeletedClip {
                        name: lossy(&c.name),
                        name_b64: std::str::from_utf8(&c.name)
                            .is_err()
                            .then(|| crate::digest::base64(&c.name)),
                        camera: &self.cameras[c.camera.0 as usize],
                        recorded: c.recorded,
                        bytes: c.meta.size,
                        limit: crate::config::units::format_duration(self.limit(reason, c)),
                        holds: labels.clone(),
                    })
                    .collect(),
                request: self.request.filter(|_| reason == Reason::Erasure),
            };
            audit.append(self.now, "clips_deleted", &entry)?;
            for (a, c, _) in items {
                let found = sidecars.get(&c.name[..]).map(|&i| &markers[i].file);
                let side = found.and_then(|f| f.meta).map(|m| (m.ino, m.mtime, m.size));
                batch.push(Ready {
                    action: a,
                    dir: open.clone(),
                    bytes: c.meta.size,
                    clip: c,
                    reason,
                    sidecar: side,
                    sidecar_sha: found.and_then(|f| f.sha256.clone()),
                    sidecar_uid: found.and_then(|f| f.meta.map(|m| m.uid)),
                });
            }
        }
        Ok(())
    }

    /// Opens `dir` below the root component by component, reading each level's `.hold`.
    fn open_dir(
        &self,
        root_fd: &Arc<OwnedFd>,
        dir: &Arc<ClipDir>,
    ) -> std::io::Result<(OpenDir, Vec<FoundMarker>)> {
        let mut leaf: Option<OwnedFd> = None;
        let mut dir_markers = Vec::new();
        let mut found = Vec::new();
        let mut here = ClipDir::root(dir.root);
        let root_dev = fsx::stat_fd(root_fd.as_fd())?.dev;
        for comp in dir.rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            let parent = leaf.as_ref().unwrap_or(root_fd);
            let fd = fsx::open_dir_at(parent.as_fd(), comp)?;
            // Another filesystem mounted inside the root is not the root's: never delete there.
            if fsx::stat_fd(fd.as_fd())?.dev != root_dev {
                return Err(std::io::Error::other(
                    "a different filesystem is mounted there",
                ));
            }
            here = Arc::new(here.child(comp));
            let snap = marker_snapshot(&fd, b".hold");
            if snap.is_some() {
                found.push(FoundMarker {
                    dir: here.clone(),
                    clip: None,
                    file: marker::read(fd.as_fd(), b".hold", self.zone),
                });
            }
            dir_markers.push(snap);
            leaf = Some(fd);
        }
        Ok((
            OpenDir {
                dir: dir.clone(),
                root: root_fd.clone(),
                leaf,
                dir_markers,
            },
            found,
        ))
    }
}
