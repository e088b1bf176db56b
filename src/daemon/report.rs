//! What the daemon knows, as metrics: counts and bytes per root and camera, the oldest unheld
//! clip per camera (the compliance figure), holds, alarms, guard trips and passes.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::index::NEVER;
use super::{Daemon, clip_of};
use crate::metrics::{CameraMetrics, RootMetrics, Snapshot};
use crate::scan::EARLIEST_JUDGEABLE;

impl Daemon {
    /// The metrics snapshot now. One walk over the index; the daemon calls it at most once per
    /// textfile interval.
    pub(super) fn snapshot(&self) -> Snapshot {
        let now = Timestamp::now();
        let s = &self.settings;
        let cap = s.retention.hold_cap().as_secs();
        let slack = s.safety.future_slack.as_secs();
        let mut roots: Vec<RootMetrics> = s
            .roots
            .iter()
            .map(|r| RootMetrics {
                path: r.path.clone(),
                writable: nix::unistd::access(&r.path, nix::unistd::AccessFlags::W_OK).is_ok(),
                free_bytes: crate::fsx::free_bytes(&r.path),
                unrecognised: 0,
                cameras: BTreeMap::new(),
            })
            .collect();
        let mut overdue = 0;
        let (mut held_clips, mut held_bytes) = (0, 0);
        let mut reaching: std::collections::BTreeSet<u32> = Default::default();
        let horizon = now.as_second() + s.retention.warn_before.as_secs();
        let mut cov = Vec::new();
        for (ri, r) in self.index.roots.iter().enumerate() {
            roots[ri].unrecognised = r.scan.unrecognised;
            for d in r.dirs.values() {
                for e in &d.clips {
                    let b = e;
                    let camera = &self.index.cameras[b.camera.0 as usize];
                    let retention = s.retention_for(camera).as_secs();
                    let m =
                        roots[ri]
                            .cameras
                            .entry(camera.clone())
                            .or_insert_with(|| CameraMetrics {
                                retention_seconds: Some(retention as f64),
                                ..CameraMetrics::default()
                            });
                    m.clips += 1;
                    m.bytes += b.size;
                    let judgeable = b.recorded >= EARLIEST_JUDGEABLE.as_second()
                        && b.recorded <= now.as_second() + slack;
                    if !judgeable {
                        // Counted by mtime, which is never later than the ctime SPEC names:
                        // this can only over-report, never hide a file.
                        overdue += u64::from(now.as_second() - b.mtime > cap);
                        continue;
                    }
                    let held = e.due != NEVER && e.due > b.recorded.saturating_add(retention);
                    if held {
                        held_clips += 1;
                        held_bytes += b.size;
                        if b.recorded + cap <= horizon {
                            cov.clear();
                            self.holds.covering(&clip_of(&d.dir, b, now), &mut cov);
                            reaching.extend(
                                cov.iter()
                                    .copied()
                                    .filter(|&h| self.holds.get(h).is_active(now)),
                            );
                        }
                    } else if m
                        .oldest_unheld_recorded
                        .is_none_or(|t| b.recorded < t.as_second())
                    {
                        let t = Timestamp::from_second(b.recorded).unwrap_or(now);
                        m.oldest_unheld_recorded = Some(t);
                        m.oldest_unheld_age_seconds =
                            Some(now.duration_since(t).as_secs_f64().max(0.0));
                    }
                }
            }
        }
        Snapshot {
            roots,
            overdue,
            held_clips,
            held_bytes,
            holds_reaching_cap: reaching.len() as u64,
            deleted_total: self
                .deleted
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            guard_refusals_total: self
                .refusals
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            alarms: self.alarms.0.keys().map(|k| (k.to_string(), 1)).collect(),
            config_valid: self.config_valid,
            audit_seq: self.audit_seq,
            last_pass_timestamp: self
                .last_pass
                .map(|(t, d)| t + SignedDuration::try_from(d).unwrap_or_default()),
            last_pass_duration: self.last_pass.map(|(_, d)| d),
        }
    }
}
