//! One pass: scan, holds, plan, guards, execute, audit, remember. `sweep` is one pass; a dry
//! run is the same pass without the lock, the executor or any write.

mod markers;
mod upkeep;

pub use markers::SeenMarker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use crate::audit::{AuditError, AuditLog};
use crate::config::Settings;
use crate::execute::{Executor, LiveRegistry, Outcome, Report};
use crate::guard::{self, Refusal};
use crate::holds::Holds;
use crate::holds::registry::Registry;
use crate::lock::{LockError, StateLock};
use crate::policy::{self, Keep, Plan, Rules};
use crate::scan::{self, Scan, ScanRequest};
use crate::state::{State, StateError};

/// How long a pass waits for another one (the daemon's batch, a timer sweep) to finish.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, Default)]
pub struct PassOptions {
    pub dry_run: bool,
    pub force: bool,
    pub threads: usize,
    /// How long to wait for another pass's lock; `None` for [`LOCK_WAIT`]. The daemon waits
    /// briefly and tries again later, so its watchdog and signals are never kept waiting.
    pub lock_wait: Option<Duration>,
}

/// A guard's refusal and what it covered.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The root refused, or `None` for the whole pass (the clock).
    pub root: Option<u16>,
    pub refusal: Refusal,
}

/// Everything a pass saw and did, for the command to report.
pub struct PassResult {
    pub now: Timestamp,
    pub scan: Scan,
    pub holds: Holds,
    pub rules: Rules,
    pub plan: Plan,
    pub refused: Vec<Refused>,
    /// Roots whose fraction guard `--force` overrode.
    pub forced: Vec<u16>,
    /// Roots whose filesystem differs from the one remembered.
    pub root_changed: Vec<u16>,
    /// `None` for a dry run.
    pub report: Option<Report>,
    /// Problems an operator must see besides refusals: bad markers, a `.hold` in a root, an
    /// audit failure that stopped the pass.
    pub alarms: Vec<String>,
    pub elapsed: Duration,
}

impl PassResult {
    /// True when any guard refused any part of the pass.
    pub fn is_refused(&self) -> bool {
        !self.refused.is_empty()
    }

    /// The refusal covering a root's actions, if any.
    pub fn refusal_of(&self, root: u16) -> Option<&Refusal> {
        self.refused
            .iter()
            .find(|r| r.root.is_none() || r.root == Some(root))
            .map(|r| &r.refusal)
    }

    pub fn is_root_refused(&self, root: u16) -> bool {
        self.refusal_of(root).is_some()
    }

    /// Whether the pass fell short of what it should have done: a root it could not read, a
    /// directory it could not read, a file it failed to delete, an audit failure.
    pub fn has_errors(&self) -> bool {
        self.scan
            .roots
            .iter()
            .any(|r| r.unavailable.is_some() || !r.errors.is_empty())
            || self.report.as_ref().is_some_and(|r| {
                r.aborted.is_some()
                    || !r.errors.is_empty()
                    || r.outcomes
                        .iter()
                        .any(|o| matches!(o, Some(Outcome::Failed(_))))
            })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Registry(String),
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
}

impl From<upkeep::UpkeepError> for PassError {
    fn from(e: upkeep::UpkeepError) -> PassError {
        match e {
            upkeep::UpkeepError::Audit(a) => PassError::Audit(a),
            upkeep::UpkeepError::Registry(r) => PassError::Registry(r.to_string()),
        }
    }
}

#[derive(Serialize)]
struct GuardRefusedEntry {
    guard: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<String>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_clock: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    planned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recognised: Option<u64>,
}

#[derive(Serialize)]
struct SweepEntry {
    roots: usize,
    /// Clips counted; every clip only when `clips_complete` (young directories may go unread).
    clips: u64,
    clips_complete: bool,
    due: usize,
    deleted: u64,
    bytes: u64,
    kept: u64,
    failed: u64,
    held_past_retention: u64,
    unjudgeable: u64,
    overdue: u64,
    unrecognised: u64,
    refused: Vec<String>,
    forced: Vec<String>,
    duration_ms: u64,
    config_sha256: String,
}

/// Where a pass gets its clips: a walk of the roots (`sweep`), or the daemon's index.
pub trait Source {
    /// The clips the pass may act on, and the counts the guards need.
    fn scan(&mut self) -> Scan;
    /// Counts more of a root's clips when the fraction guard needs a larger count
    /// (`need[root]`); sources that count everything up front do nothing.
    fn count_more(&mut self, _scan: &mut Scan, _need: &[u64]) {}

    /// Clips of `root` due now, counting those not handed to this pass: the daemon deletes a
    /// backlog in batches, and the fraction guard must judge the whole of it, not a batch.
    fn pending(&self, _root: u16) -> u64 {
        0
    }
}

/// A walk of every root: provably young directories are left unread until the fraction guard
/// needs their count.
struct Walk<'a> {
    request: ScanRequest<'a>,
}

impl Source for Walk<'_> {
    fn scan(&mut self) -> Scan {
        scan::scan(&self.request)
    }

    fn count_more(&mut self, scan: &mut Scan, need: &[u64]) {
        scan::count_deferred(&self.request, scan, need);
    }
}

/// Runs one pass at `now` over the roots.
pub fn run(
    settings: &Settings,
    opts: PassOptions,
    now: Timestamp,
) -> Result<PassResult, PassError> {
    let cutoff = now.checked_sub(settings.shortest_retention()).ok();
    // A filesystem under pressure may give up footage down to min_keep: collect that far.
    let pressed: Vec<u16> = crate::pressure::check(settings)
        .into_iter()
        .flat_map(|p| p.roots)
        .collect();
    let collect_before = settings
        .roots
        .iter()
        .enumerate()
        .map(|(i, r)| match pressed.contains(&(i as u16)) {
            true => now.checked_sub(r.min_keep).ok().max(cutoff),
            false => cutoff,
        })
        .collect();
    let mut walk = Walk {
        request: ScanRequest {
            roots: &settings.roots,
            now,
            future_slack: settings.safety.future_slack,
            collect_before,
            defer_young: true,
            index: false,
            zone: &settings.timezone,
            threads: if opts.threads == 0 {
                scan::default_threads()
            } else {
                opts.threads
            },
        },
    };
    run_from(settings, opts, now, &mut walk)
}

/// Runs one pass at `now` over the clips `source` gives.
pub fn run_from(
    settings: &Settings,
    opts: PassOptions,
    now: Timestamp,
    source: &mut dyn Source,
) -> Result<PassResult, PassError> {
    let started = Instant::now();
    let state_dir = &settings.state_dir;
    let (lock, mut audit) = if opts.dry_run {
        (None, None)
    } else {
        create_state_dir(state_dir)?;
        let lock = StateLock::acquire(state_dir, opts.lock_wait.unwrap_or(LOCK_WAIT))?;
        let audit = AuditLog::open(&lock, now)?;
        (Some(lock), Some(audit))
    };
    let mut state = State::load(state_dir)?;
    let mut alarms = Vec::new();
    if let Some(audit) = &audit
        && audit.head().is_none()
        && let Some(last) = state.last_clock
    {
        alarms.push(format!(
            "the audit log was missing although passes have run (the last at {last}); a new chain starts now: find out who removed it"
        ));
        tracing::error!(state_dir = %state_dir.display(), "audit log missing; starting a new chain");
    }

    if let Some(audit) = audit.as_mut()
        && state.config_sha256.as_deref() != Some(settings.fingerprint.as_str())
    {
        #[derive(Serialize)]
        struct ConfigLoaded<'a> {
            files: Vec<String>,
            sha256: &'a str,
        }
        let files = settings
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        audit.append(
            now,
            "config_loaded",
            &ConfigLoaded {
                files,
                sha256: &settings.fingerprint,
            },
        )?;
        state.config_sha256 = Some(settings.fingerprint.clone());
    }

    let mut refused = Vec::new();
    // The registry, kept in step with the audit log by a real pass; read-only in a dry run.
    // Unreadable, it refuses every deletion: a hold in it might cover anything.
    let registry = Registry::new(state_dir);
    let registry_holds = match audit.as_mut() {
        Some(audit) => upkeep::run(
            &registry,
            &mut state,
            audit,
            settings.holds.keep_released,
            now,
        )
        .map(|(holds, more)| {
            alarms.extend(more);
            holds
        }),
        None => registry.load().map_err(upkeep::UpkeepError::from),
    };
    let registry_holds = match registry_holds {
        Ok(h) => h,
        Err(upkeep::UpkeepError::Registry(e)) => {
            refused.push(Refused {
                root: None,
                refusal: Refusal::Registry(e.to_string()),
            });
            Vec::new()
        }
        Err(upkeep::UpkeepError::Audit(e)) => return Err(e.into()),
    };
    if let Some(r) = guard::check_clock(now, state.last_clock, settings.safety.future_slack) {
        refused.push(Refused {
            root: None,
            refusal: r,
        });
    }
    for (i, root) in settings.roots.iter().enumerate() {
        if root.expect_mount && !guard::is_mount_point(&root.path).unwrap_or(false) {
            refused.push(Refused {
                root: Some(i as u16),
                refusal: Refusal::NotMounted,
            });
        }
    }

    let mut scan = source.scan();

    let root_paths: Vec<&std::path::Path> =
        settings.roots.iter().map(|r| r.path.as_path()).collect();
    let mut holds = Holds::from_markers(
        &scan.markers,
        settings.holds.marker_owners.as_ref(),
        &root_paths,
    );
    holds.add_registry(&registry_holds, &scan.cameras, &root_paths);
    for (i, r) in scan.roots.iter().enumerate() {
        if r.root_marker {
            holds.root_marker_alarm(&settings.roots[i].path);
        }
    }
    let rules = rules_for(settings, &scan.cameras);
    let mut plan = policy::plan(&scan.clips, &holds, &rules, now);
    for p in crate::pressure::check(settings) {
        let in_fs = |c: &crate::clip::Clip| p.roots.contains(&c.root());
        let freeing: u64 = plan
            .actions
            .iter()
            .map(|a| &scan.clips[a.clip])
            .filter(|c| in_fs(c))
            .map(|c| c.meta.size)
            .sum();
        let eligible: Vec<usize> = (0..scan.clips.len())
            .filter(|&i| in_fs(&scan.clips[i]))
            .collect();
        let short = policy::plan_pressure(
            &mut plan,
            &scan.clips,
            &eligible,
            &holds,
            &rules,
            now,
            p.need.saturating_sub(freeing),
        );
        if short > 0 {
            let roots: Vec<String> = p
                .roots
                .iter()
                .map(|&i| settings.roots[usize::from(i)].path.display().to_string())
                .collect();
            alarms.push(format!(
                "disk pressure on {}: {} free, below min_free ({}); {} more would have to go, but only held, recent (min_keep) or still-written footage is left",
                roots.join(", "),
                crate::human::bytes(p.free),
                crate::human::bytes(p.threshold),
                crate::human::bytes(short)
            ));
        }
    }

    let mut per_root: BTreeMap<u16, u64> = BTreeMap::new();
    for a in &plan.actions {
        *per_root.entry(scan.clips[a.clip].root()).or_default() += 1;
    }
    // The fraction guard needs a root's count only up to planned / max_delete_fraction: young
    // directories stay unread unless the clips counted so far fall short of that.
    let max = settings.safety.max_delete_fraction;
    let need: Vec<u64> = (0..settings.roots.len() as u16)
        .map(|i| match per_root.get(&i) {
            Some(&planned) if planned > 10 => (planned as f64 / max).ceil() as u64,
            _ => 0,
        })
        .collect();
    if scan
        .roots
        .iter()
        .zip(&need)
        .any(|(r, &n)| r.recognised < n && !r.deferred.is_empty())
    {
        source.count_more(&mut scan, &need);
    }
    for root in 0..settings.roots.len() as u16 {
        let pending = source.pending(root);
        if pending > 0 {
            let planned = per_root.entry(root).or_default();
            *planned = (*planned).max(pending);
        }
    }
    let mut forced = Vec::new();
    for (&root, &planned) in &per_root {
        let recognised = scan.roots[usize::from(root)].recognised;
        if let Some(r) = guard::check_fraction(planned, recognised, max, false) {
            if opts.force {
                forced.push(root);
            } else {
                refused.push(Refused {
                    root: Some(root),
                    refusal: r,
                });
            }
        }
    }

    let mut root_changed = Vec::new();
    for (i, r) in scan.roots.iter().enumerate() {
        let (Some(fs), Some(was)) = (r.fs, state.roots.get(&settings.roots[i].path)) else {
            continue;
        };
        if fs != *was {
            root_changed.push(i as u16);
        }
    }

    alarms.extend(holds.alarms.iter().cloned());
    let mut result = PassResult {
        now,
        scan,
        holds,
        rules,
        plan,
        refused,
        forced,
        root_changed,
        report: None,
        alarms: Vec::new(),
        elapsed: Duration::ZERO,
    };

    if let (Some(audit), Some(_lock)) = (audit.as_mut(), lock.as_ref()) {
        markers::audit_changes(
            settings,
            &result.scan,
            &result.holds,
            &mut state,
            audit,
            now,
        )?;
        for &i in &result.root_changed {
            #[derive(Serialize)]
            struct RootChanged {
                root: String,
                was: crate::scan::FsId,
                now: Option<crate::scan::FsId>,
            }
            let path = &settings.roots[usize::from(i)].path;
            let entry = RootChanged {
                root: path.display().to_string(),
                was: state.roots[path],
                now: result.scan.roots[usize::from(i)].fs,
            };
            audit.append(now, "root_changed", &entry)?;
        }
        for r in &result.refused {
            let (planned, recognised) = match &r.refusal {
                Refusal::Fraction {
                    planned,
                    recognised,
                    ..
                } => (Some(*planned), Some(*recognised)),
                _ => (None, None),
            };
            let entry = GuardRefusedEntry {
                guard: r.refusal.guard(),
                root: r
                    .root
                    .map(|i| settings.roots[usize::from(i)].path.display().to_string()),
                message: r.refusal.explain(),
                last_clock: state.last_clock.filter(|_| r.root.is_none()),
                planned,
                recognised,
            };
            audit.append(now, "guard_refused", &entry)?;
        }
        audit.sync()?;

        let allowed = Plan {
            actions: result
                .plan
                .actions
                .iter()
                .filter(|a| !result.is_root_refused(result.scan.clips[a.clip].root()))
                .cloned()
                .collect(),
            kept: Vec::new(),
        };
        let live = LiveRegistry::new(&registry);
        let executor = Executor {
            roots: &settings.roots,
            cameras: &result.scan.cameras,
            rules: &result.rules,
            owners: settings.holds.marker_owners.as_ref(),
            zone: &settings.timezone,
            now,
            registry: Some(&live),
            request: None,
        };
        let report = executor.run(&result.scan.clips, &allowed, audit);
        if let Some(e) = &report.registry_failed {
            result.refused.push(Refused {
                root: None,
                refusal: Refusal::Registry(e.clone()),
            });
        }
        // Outcomes are reported against the full plan: map them back.
        let mut outcomes = vec![None; result.plan.actions.len()];
        let mut it = report.outcomes.iter();
        for (i, a) in result.plan.actions.iter().enumerate() {
            if !result.is_root_refused(result.scan.clips[a.clip].root()) {
                outcomes[i] = it.next().cloned().flatten();
            }
        }
        let report = Report { outcomes, ..report };
        alarms.extend(report.aborted.iter().map(|a| format!("pass stopped: {a}")));

        let entry = sweep_entry(settings, &result, &report, started.elapsed());
        audit.append(now, "sweep", &entry)?;
        let pruned = audit.prune(settings.audit_keep, now)?;
        if !pruned.is_empty() {
            tracing::info!(segments = pruned.len(), "old audit segments pruned");
        }
        audit.sync()?;

        if !result.is_refused() {
            state.last_clock = Some(now);
        }
        // Markers the executor removed were audited as it removed them.
        for m in &report.markers_removed {
            state
                .known_markers
                .remove(&m.to_string_lossy().into_owned());
        }
        for (i, r) in result.scan.roots.iter().enumerate() {
            if let Some(fs) = r.fs
                && !result.is_root_refused(i as u16)
            {
                state.roots.insert(settings.roots[i].path.clone(), fs);
            }
        }
        state.save(state_dir)?;
        result.report = Some(report);
    }
    result.alarms = alarms;
    result.elapsed = started.elapsed();
    Ok(result)
}

/// The planner's rules for the cameras a scan found.
pub fn rules_for(settings: &Settings, cameras: &[String]) -> Rules {
    Rules {
        retention: cameras.iter().map(|c| settings.retention_for(c)).collect(),
        hold_cap: settings.retention.hold_cap(),
        quiet_period: settings.safety.quiet_period,
        future_slack: settings.safety.future_slack,
        min_keep: settings.roots.iter().map(|r| r.min_keep).collect(),
    }
}

/// Creates the state directory if it is missing (0750), as the first command to need it.
pub fn create_state_dir(dir: &std::path::Path) -> Result<(), PassError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .map_err(|source| PassError::StateDir {
            path: dir.to_path_buf(),
            source,
        })
}

fn sweep_entry(
    settings: &Settings,
    r: &PassResult,
    report: &Report,
    elapsed: Duration,
) -> SweepEntry {
    let mut deleted = 0;
    let mut bytes = 0;
    let mut kept = 0;
    let mut failed = 0;
    for o in report.outcomes.iter().flatten() {
        match o {
            Outcome::Deleted { bytes: b, .. } => {
                deleted += 1;
                bytes += b;
            }
            Outcome::Kept(_) => kept += 1,
            Outcome::Failed(_) => failed += 1,
        }
    }
    let count = |f: &dyn Fn(&Keep) -> bool| r.plan.kept.iter().filter(|k| f(&k.why)).count() as u64;
    let name = |i: u16| settings.roots[usize::from(i)].path.display().to_string();
    SweepEntry {
        roots: settings.roots.len(),
        clips: r.scan.roots.iter().map(|x| x.recognised).sum(),
        clips_complete: r.scan.roots.iter().all(|x| x.is_complete()),
        due: r.plan.actions.len(),
        deleted,
        bytes,
        kept,
        failed,
        held_past_retention: count(&|k| *k == Keep::Held),
        unjudgeable: count(&|k| matches!(k, Keep::Unjudgeable { .. })),
        overdue: count(&|k| matches!(k, Keep::Unjudgeable { overdue: true })),
        unrecognised: r.scan.roots.iter().map(|x| x.unrecognised).sum(),
        refused: r
            .refused
            .iter()
            .map(|x| {
                x.root
                    .map_or_else(|| format!("all roots ({})", x.refusal.guard()), name)
            })
            .collect(),
        forced: r.forced.iter().map(|&i| name(i)).collect(),
        duration_ms: elapsed.as_millis() as u64,
        config_sha256: settings.fingerprint.clone(),
    }
}
