//! The unlink phase: sync the batch's audit entries, re-check the registry under its shared
//! lock, then unlink on a few threads, checking each file and its markers last of all.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nix::unistd::{UnlinkatFlags, unlinkat};

use super::{
    DeleteFailed, Executor, FailedClip, MarkerRemoved, Outcome, Ready, Report, Stop, lossy,
    marker_snapshot,
};
use crate::audit::AuditLog;
use crate::clip::ClipDir;
use crate::fsx;
use crate::holds::Holds;
use crate::holds::registry::RegistryError;
use crate::policy::Reason;

/// Within one directory, how many clips are unlinked between looks at its directory markers.
const MARKER_RECHECK: usize = 256;
/// How long a batch waits for a registry writer (`hold add`) to finish.
const REGISTRY_WAIT: Duration = Duration::from_secs(30);

impl Executor<'_> {
    /// Syncs the audit entries of the batch, then unlinks its clips, re-checking each one last
    /// time; then records failures and removes the sidecar markers of deleted clips.
    pub(super) fn flush(
        &self,
        batch: &mut Vec<Ready>,
        audit: &mut AuditLog,
        report: &mut Report,
        touched: &mut Vec<Arc<ClipDir>>,
    ) -> Result<(), Stop> {
        if batch.is_empty() {
            return Ok(());
        }
        audit.sync()?;
        // Registry writers wait while this batch is re-checked against the registry and
        // unlinked, so a hold placed now is either seen here or placed after the unlinks.
        let guard = match self.registry {
            Some(live) => Some(live.registry.lock(false, REGISTRY_WAIT)?),
            None => None,
        };
        let held = self.newly_held(batch)?;
        let root_path = |d: &ClipDir| &self.roots[usize::from(d.root)].path;
        let mut failed: BTreeMap<Vec<u8>, (String, Vec<FailedClip>)> = BTreeMap::new();
        let mut sidecars: Vec<Ready> = Vec::new();
        let results = self.unlink_all(batch, &held);
        drop(guard);
        for (r, result) in batch.drain(..).zip(results) {
            match result {
                Ok(()) => {
                    report.outcomes[r.action] = Some(Outcome::Deleted {
                        reason: r.reason,
                        bytes: r.bytes,
                    });
                    if touched.last().is_none_or(|d| d.rel != r.dir.dir.rel) {
                        touched.push(r.dir.dir.clone());
                    }
                    if r.sidecar.is_some() {
                        sidecars.push(r);
                    }
                }
                Err(outcome) => {
                    let (Outcome::Kept(why) | Outcome::Failed(why)) = &outcome else {
                        unreachable!("only kept or failed here")
                    };
                    let dir_path =
                        crate::human::escape_path(&r.dir.dir.path(root_path(&r.dir.dir)));
                    failed
                        .entry(r.dir.dir.rel.to_vec())
                        .or_insert_with(|| (dir_path, Vec::new()))
                        .1
                        .push(FailedClip {
                            name: lossy(&r.clip.name),
                            error: why.clone(),
                        });
                    report.outcomes[r.action] = Some(outcome);
                }
            }
        }
        for (_, (dir, clips)) in failed {
            audit.append(self.now, "delete_failed", &DeleteFailed { dir, clips })?;
        }
        if sidecars.is_empty() {
            return Ok(audit.sync()?);
        }
        let mut paths = Vec::with_capacity(sidecars.len());
        for r in &sidecars {
            let side = [&r.clip.name[..], b".hold"].concat();
            let path = fsx::join(root_path(&r.dir.dir), &r.dir.dir.rel, &side);
            let entry = MarkerRemoved {
                path: crate::human::escape_path(&path),
                owner_uid: r.sidecar_uid,
                sha256: r.sidecar_sha.clone(),
                clips: vec![lossy(&r.clip.name)],
                why: "its clip was deleted",
            };
            audit.append(self.now, "marker_removed", &entry)?;
            paths.push((side, path));
        }
        audit.sync()?;
        for (r, (side, path)) in sidecars.iter().zip(paths) {
            match unlinkat(r.dir.fd().as_fd(), &*side, UnlinkatFlags::NoRemoveDir) {
                Ok(()) => report.markers_removed.push(path),
                Err(e) => report.errors.push(format!(
                    "cannot remove marker {}: {}",
                    crate::human::escape_path(&path),
                    e.desc()
                )),
            }
        }
        Ok(())
    }

    /// Unlinks the batch's clips on a few threads, one directory at a time each: a directory's
    /// markers are checked once, then each clip just before its `unlinkat`. Unlinks dominate
    /// a big first sweep, and they overlap well on every filesystem we have measured.
    fn unlink_all(&self, batch: &[Ready], held: &[bool]) -> Vec<Result<(), Outcome>> {
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            match runs.last_mut() {
                Some(run) if Arc::ptr_eq(&batch[run.start].dir, &r.dir) => run.end = i + 1,
                _ => runs.push(i..i + 1),
            }
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = crate::scan::default_threads().min(runs.len()).max(1);
        let done: Vec<Vec<(usize, Result<(), Outcome>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(run) = runs.get(k) else { break };
                            let mut markers_same = !batch[run.start].dir.markers_changed();
                            for (k, i) in run.clone().enumerate() {
                                // A long run looks at its directory markers again now and then,
                                // so a `.hold` placed partway through is seen.
                                if k > 0 && k % MARKER_RECHECK == 0 {
                                    markers_same = markers_same && !batch[i].dir.markers_changed();
                                }
                                let result = if held[i] {
                                    Err(Outcome::Kept(
                                        "a registry hold was placed after the entry was written"
                                            .into(),
                                    ))
                                } else {
                                    self.unlink_one(&batch[i], markers_same)
                                };
                                out.push((i, result));
                            }
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("unlink thread panicked"))
                .collect()
        });
        let mut results: Vec<Result<(), Outcome>> = (0..batch.len()).map(|_| Ok(())).collect();
        for (i, r) in done.into_iter().flatten() {
            results[i] = r;
        }
        results
    }

    /// A last check that says keep is a decision (Kept); a failed unlink is a failure.
    fn unlink_one(&self, r: &Ready, markers_same: bool) -> Result<(), Outcome> {
        self.last_check(r, markers_same).map_err(Outcome::Kept)?;
        unlinkat(
            r.dir.fd().as_fd(),
            &*r.clip.name,
            UnlinkatFlags::NoRemoveDir,
        )
        .map_err(|e| Outcome::Failed(format!("unlink failed: {}", e.desc())))
    }

    /// Which clips of the batch an active registry hold now covers that did not when their
    /// entry was written (a hold on footage past the cap protects nothing and does not count).
    fn newly_held(&self, batch: &[Ready]) -> Result<Vec<bool>, RegistryError> {
        let Some(live) = self.registry else {
            return Ok(vec![false; batch.len()]);
        };
        let root_paths: Vec<&Path> = self.roots.iter().map(|r| r.path.as_path()).collect();
        let mut holds = Holds::default();
        holds.add_registry(&live.current()?, self.cameras, &root_paths);
        let mut covering = Vec::new();
        Ok(batch
            .iter()
            .map(|r| {
                covering.clear();
                holds.covering(&r.clip, &mut covering);
                let active = covering.iter().any(|&h| holds.get(h).is_active(self.now));
                active
                    && r.reason != Reason::HoldCap
                    && crate::policy::age(&r.clip, self.now) <= self.rules.hold_cap
            })
            .collect())
    }

    /// The check just before `unlinkat`: same regular file, not written since, and no marker
    /// appeared or changed since the pre-check.
    fn last_check(&self, r: &Ready, markers_same: bool) -> Result<(), String> {
        if !markers_same {
            return Err(
                "kept: a directory marker appeared or changed after the entry was written".into(),
            );
        }
        let side = [&r.clip.name[..], b".hold"].concat();
        if marker_snapshot(r.dir.fd(), &side) != r.sidecar {
            return Err("its marker appeared or changed after the entry was written".into());
        }
        let m = fsx::stat_at(r.dir.fd().as_fd(), &r.clip.name)
            .map_err(|e| format!("gone before unlink: {e}"))?;
        if !m.is_file() || m.ino != r.clip.meta.ino || m.dev != r.clip.meta.dev {
            return Err("replaced by another file since the scan".into());
        }
        let written = if m.mtime > self.now { m.ctime } else { m.mtime };
        if self.now.duration_since(written) < self.rules.quiet_period {
            return Err("written to after the entry was written".into());
        }
        Ok(())
    }
}
