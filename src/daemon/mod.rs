//! `clipwarden run`: the pipeline kept warm. One full scan at start, then the index follows
//! filesystem events; the loop sleeps until the next clip is due (or a reconcile, a watchdog
//! ping, an anchor), and every deletion is a pass through the same planner, guards, executor
//! and audit log as `sweep`.

mod anchor;
mod events;
mod index;
mod report;
mod sdnotify;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use notify::Watcher;

use crate::clip::{Brief, Clip};
use crate::config::Settings;
use crate::execute::Outcome;
use crate::holds::Holds;
use crate::holds::registry::Registry;
use crate::pass::{self, PassOptions, PassResult};
use crate::policy::{self, Rules};
use crate::scan::{self, ScanRequest};
pub use anchor::MESSAGE_ID;
use index::{Index, NEVER};

/// A clip's place: root, directory below it, name.
type Place = (u16, Box<[u8]>, Box<[u8]>);

/// How long a clip a hold covered until the last re-decision is remembered as held.
const RECENTLY_HELD_FOR: i64 = 3600;
/// How long deletions of clips that fall due one by one are gathered into one pass: an SD
/// card should not see a pass (and its fsyncs) per clip.
const BATCH_EVERY: Duration = Duration::from_secs(30);
/// Most clips one pass takes, so a stop request is never kept waiting long.
const BATCH_MAX: usize = 10_000;
/// After a refused or failed pass, when its clips are tried again.
const BACKOFF: i64 = 600;
/// The longest the loop sleeps: a wall-clock jump is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// How often the roots' filesystems are compared with the view's: a mount over a root (or an
/// unmount under it) sends no event a watch can see.
const ROOT_CHECK_EVERY: Duration = Duration::from_secs(10);
/// The metrics textfile is rewritten at most this often: SD cards wear.
const METRICS_EVERY: Duration = Duration::from_secs(15);
/// Anchors go to the journal at least this often.
const ANCHOR_EVERY: Duration = Duration::from_secs(15 * 60);

enum Msg {
    Fs(notify::Result<notify::Event>),
    Signal(i32),
}

/// What the daemon tells an operator is wrong, by kind, replaced when the same kind recurs.
#[derive(Default)]
struct Alarms(BTreeMap<&'static str, String>);

impl Alarms {
    fn raise(&mut self, kind: &'static str, message: String) {
        debug_assert!(
            crate::metrics::ALARM_KINDS.contains(&kind),
            "unknown alarm kind {kind}"
        );
        if self.0.get(kind) != Some(&message) {
            tracing::error!(alarm = kind, "{message}");
        }
        self.0.insert(kind, message);
    }

    fn clear(&mut self, kind: &'static str) {
        self.0.remove(kind);
    }
}

struct Daemon {
    config_path: PathBuf,
    settings: Settings,
    index: Index,
    holds: Holds,
    notifier: sdnotify::Notifier,
    alarms: Alarms,
    deleted: BTreeMap<&'static str, u64>,
    refusals: BTreeMap<&'static str, u64>,
    overflow: Arc<AtomicBool>,
    watcher: Option<notify::RecommendedWatcher>,
    /// Watches failed (inotify limits): rescan every this often instead.
    polling: Option<Duration>,
    tx: SyncSender<Msg>,
    next_reconcile: Instant,
    next_anchor: Instant,
    next_watchdog: Option<Instant>,
    last_batch: Option<Instant>,
    /// A clip arrived already due: the next batch need not wait for the gathering window.
    urgent: bool,
    last_pass: Option<(Timestamp, Duration)>,
    /// When disk pressure is next checked.
    next_pressure: Instant,
    /// When the roots' filesystems are next compared with the view's.
    next_root_check: Instant,
    clock: (Instant, Timestamp),
    config_valid: bool,
    stop: bool,
    /// The metrics textfile, if configured, and whether anything changed since it was written.
    metrics: Option<crate::metrics::TextfileWriter>,
    metrics_dirty: bool,
    audit_seq: Option<u64>,
    /// The STATUS last sent: systemd hears only changes.
    last_status: String,
    /// Clips a hold keeps past retention, as of the last time every due time was set.
    held: usize,
    /// Markers or registry holds changed: rebuild the view and re-decide every clip, once,
    /// at the end of the current round of events.
    holds_dirty: bool,
    /// Clips a hold covered until the last re-decision, by place, with when to forget them:
    /// a marker removed just before its clips must not hide their vanishing.
    recently_held: std::collections::HashMap<Place, i64>,
}

/// Runs the daemon until SIGTERM or SIGINT. The config is already validated.
pub fn run(config_path: &Path, settings: Settings) -> anyhow::Result<()> {
    let (tx, rx) = sync_channel::<Msg>(8192);
    let signals_tx = tx.clone();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])?;
    std::thread::spawn(move || {
        for s in signals.forever() {
            if signals_tx.send(Msg::Signal(s)).is_err() {
                break;
            }
        }
    });
    let mut notifier = sdnotify::Notifier::from_env();
    let started = Instant::now();
    let mut d = Daemon {
        config_path: config_path.to_path_buf(),
        index: Index::default(),
        holds: Holds::default(),
        alarms: Alarms::default(),
        deleted: BTreeMap::new(),
        refusals: BTreeMap::new(),
        overflow: Arc::new(AtomicBool::new(false)),
        watcher: None,
        polling: None,
        tx,
        next_reconcile: started,
        next_anchor: started,
        next_watchdog: notifier.watchdog.map(|_| started),
        last_batch: None,
        urgent: false,
        last_pass: None,
        next_pressure: started,
        next_root_check: started,
        clock: (started, Timestamp::now()),
        config_valid: true,
        stop: false,
        metrics: None,
        metrics_dirty: true,
        audit_seq: None,
        last_status: String::new(),
        held: 0,
        holds_dirty: false,
        recently_held: std::collections::HashMap::new(),
        notifier: sdnotify::Notifier::from_env(),
        settings,
    };
    std::mem::swap(&mut d.notifier, &mut notifier);
    d.metrics = d
        .settings
        .metrics_textfile
        .clone()
        .map(|p| crate::metrics::TextfileWriter::new(p, METRICS_EVERY));
    d.watch();
    d.reconcile();
    d.batch(true);
    let status = d.status_line();
    d.notifier.ready(&status);
    tracing::info!(
        clips = d.index.clip_count(),
        seconds = started.elapsed().as_secs_f64(),
        "ready"
    );
    d.main_loop(&rx);
    d.notifier.stopping();
    d.write_metrics(true);
    tracing::info!("stopped");
    Ok(())
}

impl Daemon {
    fn main_loop(&mut self, rx: &Receiver<Msg>) {
        while !self.stop {
            let wake = self.next_wake();
            let timeout = wake.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(msg) => {
                    self.handle(msg);
                    // Take whatever else is queued before acting on it.
                    while let Ok(msg) = rx.try_recv() {
                        self.handle(msg);
                        if self.stop {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.stop {
                break;
            }
            self.tick();
        }
    }

    /// Everything time-driven: watchdog, clock jumps, overflows, reconciles, due clips,
    /// anchors, status.
    fn tick(&mut self) {
        let now_i = Instant::now();
        if let Some(at) = self.next_watchdog
            && now_i >= at
        {
            self.notifier.watchdog_ping();
            self.next_watchdog = self.notifier.watchdog.map(|w| now_i + w);
        }
        self.check_clock();
        if self.overflow.swap(false, Ordering::Relaxed) {
            tracing::warn!("filesystem event queue overflowed: rescanning");
            self.next_reconcile = now_i;
        }
        if std::mem::take(&mut self.holds_dirty) {
            self.holds_changed();
        }
        if now_i >= self.next_root_check {
            self.next_root_check = now_i + ROOT_CHECK_EVERY;
            self.check_roots();
        }
        if now_i >= self.next_reconcile {
            self.reconcile();
        }
        let batch_ready = self.urgent || self.last_batch.is_none_or(|t| now_i >= t + BATCH_EVERY);
        if batch_ready
            && self
                .index
                .next_due()
                .is_some_and(|d| d <= Timestamp::now().as_second())
        {
            self.batch(false);
        }
        if now_i >= self.next_pressure {
            self.relieve_pressure();
        }
        if now_i >= self.next_anchor {
            self.anchor();
        }
        let status = self.status_line();
        if status != self.last_status {
            self.notifier.status(&status);
            self.last_status = status;
        }
        self.metrics_dirty = true;
        self.write_metrics(false);
    }

    /// Offers the metrics to the textfile writer, which writes at most once per interval.
    fn write_metrics(&mut self, now_or_never: bool) {
        if self.metrics.is_none() || !self.metrics_dirty {
            return;
        }
        let now = Instant::now();
        if !now_or_never
            && self
                .metrics
                .as_ref()
                .and_then(|m| m.due())
                .is_some_and(|d| d > now)
        {
            return;
        }
        let text = crate::metrics::render(&self.snapshot());
        let Some(w) = self.metrics.as_mut() else {
            return;
        };
        let result = if now_or_never {
            w.offer(text, now).and_then(|_| w.flush_now(now))
        } else {
            w.offer(text, now)
        };
        match result {
            Ok(_) => self.metrics_dirty = false,
            Err(e) => {
                tracing::warn!(error = %e, path = %w.path().display(), "cannot write the metrics textfile")
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let now_i = Instant::now();
        let mut wake = now_i + MAX_SLEEP;
        wake = wake
            .min(self.next_reconcile)
            .min(self.next_anchor)
            .min(self.next_root_check);
        if let Some(w) = self.next_watchdog {
            wake = wake.min(w);
        }
        if let Some(m) = self.metrics.as_ref().and_then(|m| m.due()) {
            wake = wake.min(m);
        }
        if let Some(due) = self.index.next_due() {
            let secs = due.saturating_sub(Timestamp::now().as_second()).max(0) as u64;
            let mut at = now_i + Duration::from_secs(secs);
            if let Some(last) = self.last_batch.filter(|_| !self.urgent) {
                at = at.max(last + BATCH_EVERY);
            }
            wake = wake.min(at);
        }
        wake
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Signal(signal_hook::consts::SIGHUP) => self.reload(),
            Msg::Signal(_) => {
                tracing::info!("stop requested");
                self.stop = true;
            }
            Msg::Fs(Ok(event)) => self.on_event(event),
            Msg::Fs(Err(e)) => {
                tracing::warn!(error = %e, "filesystem watch error: rescanning");
                self.next_reconcile = Instant::now();
            }
        }
    }

    fn on_event(&mut self, event: notify::Event) {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
        if event.need_rescan() {
            self.overflow.store(true, Ordering::Relaxed);
            return;
        }
        if self.index.roots.len() != self.settings.roots.len() {
            return; // the roots changed: the rescan that follows sees everything
        }
        // Opens and reads change nothing (and include this daemon's own scans); a directory
        // needs reading only when it arrives.
        let arrived = match event.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
            EventKind::Access(_) => return,
            EventKind::Create(CreateKind::Folder | CreateKind::Any) => true,
            EventKind::Modify(ModifyKind::Name(_)) => true,
            // A recorder writes a segment in many chunks; its close (or a touch) says when
            // it is done, so each write need not be looked at.
            EventKind::Modify(ModifyKind::Data(_)) => return,
            _ => false,
        };
        let registry = Registry::new(&self.settings.state_dir);
        if event.paths.iter().any(|p| p.starts_with(registry.dir())) {
            // Only a hold file arriving, changing or going matters; the lock and temp files
            // (every pass touches the lock) do not.
            let hold_file = |p: &PathBuf| {
                p.file_name()
                    .map(|n| n.as_encoded_bytes())
                    .is_some_and(|n| n.ends_with(b".toml") && !n.starts_with(b"."))
            };
            if event.paths.iter().any(hold_file) {
                self.holds_dirty = true;
            }
            return;
        }
        let now = Timestamp::now();
        let mut change = events::Change::default();
        let settings = &self.settings;
        let due = |camera: &str, b: &Brief| {
            b.recorded
                .saturating_add(settings.retention_for(camera).as_secs())
        };
        for p in &event.paths {
            change.merge(events::refresh(
                &mut self.index,
                settings,
                p,
                now,
                arrived,
                &due,
            ));
        }
        if change.rescan {
            self.next_reconcile = Instant::now();
        }
        self.urgent |= change.due_now;
        if !change.gone.is_empty() {
            self.vanished(change.gone, now);
        }
        if change.markers {
            self.holds_dirty = true;
        }
    }

    /// Markers or registry holds changed: rebuild the holds view, and let every clip be
    /// decided again (what a hold pushed out may be due now).
    fn holds_changed(&mut self) {
        self.rebuild_holds();
        self.redue();
    }

    /// Every clip's next decision, from the holds view: a held clip is not looked at again
    /// until its hold ends or it reaches the cap.
    fn redue(&mut self) {
        let rules = pass::rules_for(&self.settings, &self.index.cameras);
        let cameras = self.index.cameras.clone();
        let (holds, settings, now) = (&self.holds, &self.settings, Timestamp::now());
        let quiet = settings.safety.quiet_period.as_secs();
        let mut cov = Vec::new();
        let mut held = 0;
        let forget = now.as_second() + RECENTLY_HELD_FOR;
        let recently = &mut self.recently_held;
        recently.retain(|_, until| *until > now.as_second());
        self.index.reset_dues(|dir, b| {
            let camera = cameras.get(b.camera.0 as usize).map_or("", String::as_str);
            let held_until = b
                .recorded
                .saturating_add(settings.retention_for(camera).as_secs() + quiet);
            if b.due != NEVER && b.due > held_until {
                recently.insert((dir.root, dir.rel.clone(), (*b.name).into()), forget);
            }
            let clip = clip_of(dir, b, now);
            cov.clear();
            holds.covering(&clip, &mut cov);
            let due = match policy::expires(&clip, &cov, holds, &rules, now) {
                Some(t) => t.as_second(),
                None if clip.recorded > now => b.recorded,
                None => NEVER,
            };
            held += usize::from(due != NEVER && due > held_until);
            due
        });
        self.held = held;
    }

    fn rebuild_holds(&mut self) {
        let roots: Vec<&Path> = self
            .settings
            .roots
            .iter()
            .map(|r| r.path.as_path())
            .collect();
        let markers: Vec<_> = self.index.markers.values().cloned().collect();
        let mut holds =
            Holds::from_markers(&markers, self.settings.holds.marker_owners.as_ref(), &roots);
        match Registry::new(&self.settings.state_dir).load() {
            Ok(reg) => {
                holds.add_registry(&reg, &self.index.cameras, &roots);
                self.alarms.clear("registry");
            }
            Err(e) => self.alarms.raise(
                "registry",
                format!("{e}: nothing is deleted until it is readable"),
            ),
        }
        match holds.alarms.first() {
            Some(a) => self.alarms.raise("marker", a.clone()),
            None => self.alarms.clear("marker"),
        }
        self.holds = holds;
    }

    /// Clips gone without this daemon deleting them: a held one is evidence lost by another
    /// hand, which the audit log and the operator must hear about.
    fn vanished(&mut self, gone: Vec<(Arc<crate::clip::ClipDir>, index::Entry)>, now: Timestamp) {
        let mut lost = Vec::new();
        let mut cov = Vec::new();
        let cap = self.settings.retention.hold_cap().as_secs();
        let quiet = self.settings.safety.quiet_period.as_secs();
        for (dir, e) in gone {
            // Past the cap it was due to go anyway (a CLI sweep may have taken it).
            if now.as_second() - e.recorded > cap {
                continue;
            }
            let clip = clip_of(&dir, &e, now);
            cov.clear();
            self.holds.covering(&clip, &mut cov);
            let camera = self
                .index
                .cameras
                .get(e.camera.0 as usize)
                .map_or("", String::as_str);
            let held_until = e
                .recorded
                .saturating_add(self.settings.retention_for(camera).as_secs() + quiet);
            let key = (dir.root, dir.rel.clone(), Box::<[u8]>::from(&*e.name));
            let held_before =
                (e.due != NEVER && e.due > held_until) || self.recently_held.contains_key(&key);
            let mut active: Vec<String> = cov
                .iter()
                .filter(|&&h| self.holds.get(h).is_active(now))
                .map(|&h| self.holds.get(h).label.clone())
                .collect();
            if active.is_empty() && held_before {
                active.push("a hold removed shortly before".into());
            }
            if !active.is_empty() {
                let root = &self.settings.roots[usize::from(dir.root)].path;
                lost.push((crate::human::escape_path(&clip.path(root)), active));
            }
        }
        if lost.is_empty() {
            return;
        }
        #[derive(serde::Serialize)]
        struct Vanished<'a> {
            path: &'a str,
            holds: &'a [String],
        }
        if let Ok(lock) =
            crate::lock::StateLock::acquire(&self.settings.state_dir, Duration::from_secs(2))
            && let Ok(mut audit) = crate::audit::AuditLog::open(&lock, now)
        {
            for (path, holds) in &lost {
                let _ = audit.append(now, "clip_vanished", &Vanished { path, holds });
            }
            let _ = audit.sync();
        }
        self.alarms.raise(
            "clip_vanished",
            format!(
                "{} held clip(s) vanished without clipwarden deleting them, e.g. {}: another program is deleting evidence",
                lost.len(),
                lost[0].0
            ),
        );
    }

    /// A full rescan: the index is rebuilt from the filesystem.
    fn reconcile(&mut self) {
        let started = Instant::now();
        let now = Timestamp::now();
        let req = ScanRequest {
            roots: &self.settings.roots,
            now,
            future_slack: self.settings.safety.future_slack,
            collect_before: vec![None; self.settings.roots.len()],
            defer_young: false,
            index: true,
            zone: &self.settings.timezone,
            threads: scan::default_threads(),
        };
        let found = scan::scan(&req);
        for (cfg, r) in self.settings.roots.iter().zip(&found.roots) {
            if let Some(e) = &r.unavailable {
                self.alarms.raise(
                    "root_unavailable",
                    format!("root {} is unavailable: {e}", cfg.path.display()),
                );
            }
        }
        if found.roots.iter().all(|r| r.unavailable.is_none()) {
            self.alarms.clear("root_unavailable");
        }
        // A root that came back, or whose filesystem changed (an unmount and remount, a swapped
        // disk), has watches on inodes that are gone: set them up again.
        let remounted = !self.index.roots.is_empty()
            && found
                .roots
                .iter()
                .zip(&self.index.roots)
                .any(|(now, was)| now.fs != was.scan.fs);
        let before = std::mem::replace(&mut self.index, Index::from_scan(found, |_, _| NEVER));
        // Held clips the old view had and the new one lacks went by another hand, while events
        // were lost or watches could not be kept. They are judged by the old view.
        if before.roots.len() == self.index.roots.len() {
            let gone: Vec<_> = before
                .roots
                .iter()
                .flat_map(|r| {
                    r.dirs
                        .values()
                        .flat_map(|d| d.clips.iter().map(move |e| (d.dir.clone(), e.clone())))
                })
                .filter(|(d, e)| self.index.get(d.root, &d.rel, &e.name).is_none())
                .collect();
            let after = std::mem::replace(&mut self.index, before);
            self.vanished(gone, now);
            self.index = after;
        }
        if remounted {
            tracing::warn!("a root's filesystem changed: watching it again");
            self.watch();
        }
        self.rebuild_holds();
        self.redue();
        // What a rescan finds already due (after a reload, an overflow, a clock jump) goes now.
        self.urgent |= self.index.next_due().is_some_and(|d| d <= now.as_second());
        self.check_writable();
        let jitter = jitter(self.settings.reconcile_interval);
        let every = self
            .polling
            .unwrap_or(duration(self.settings.reconcile_interval));
        self.next_reconcile =
            Instant::now() + every.min(duration(self.settings.reconcile_interval)) + jitter;
        tracing::info!(
            clips = self.index.clip_count(),
            seconds = started.elapsed().as_secs_f64(),
            "reconciled"
        );
    }

    /// Disk pressure: a pass over the oldest footage the filesystems below `min_free` could
    /// give up. Checked every half minute; while only held or recent footage is left (the
    /// pass raises the alarm), every ten minutes.
    fn relieve_pressure(&mut self) {
        self.next_pressure = Instant::now() + BATCH_EVERY;
        let pressures = crate::pressure::check(&self.settings);
        if pressures.is_empty() {
            self.alarms.clear("disk_pressure");
            return;
        }
        let now = Timestamp::now();
        let before: Vec<i64> = self
            .settings
            .roots
            .iter()
            .map(|r| now.as_second() - r.min_keep.as_secs())
            .collect();
        let mut extra = Vec::new();
        let (settings, cameras) = (&self.settings, &self.index.cameras);
        let quiet = settings.safety.quiet_period.as_secs();
        let held = |b: &Brief| {
            let camera = cameras.get(b.camera.0 as usize).map_or("", String::as_str);
            b.due
                > b.recorded
                    .saturating_add(settings.retention_for(camera).as_secs() + quiet)
        };
        for p in &pressures {
            extra.extend(self.index.oldest(&p.roots, &before, p.need, held));
        }
        self.alarms.clear("disk_pressure");
        self.batch_with(extra);
        if self.alarms.0.contains_key("disk_pressure") || self.alarms.0.contains_key("guard") {
            self.next_pressure = Instant::now() + Duration::from_secs(BACKOFF as u64);
        }
    }

    /// One pass over the clips that are due.
    fn batch(&mut self, startup: bool) {
        let now = Timestamp::now();
        let due = self.index.due(now.as_second(), BATCH_MAX);
        if due.is_empty() && !startup {
            self.last_batch = Some(Instant::now());
            self.urgent = false;
            return;
        }
        self.batch_with(due);
    }

    /// One pass over `batch` (due clips, and for disk pressure the oldest ones).
    fn batch_with(&mut self, mut due: Vec<(Arc<crate::clip::ClipDir>, Brief)>) {
        let now = Timestamp::now();
        self.last_batch = Some(Instant::now());
        self.urgent = false;
        due.sort_by(|a, b| (a.0.root, &a.0.rel, &*a.1.name).cmp(&(b.0.root, &b.0.rel, &*b.1.name)));
        due.dedup_by(|a, b| a.0.root == b.0.root && a.0.rel == b.0.rel && a.1.name == b.1.name);
        let started = Instant::now();
        let mut source = source::Due {
            index: &self.index,
            settings: &self.settings,
            batch: due,
            gone: Vec::new(),
            foreign: Vec::new(),
            unreadable: Vec::new(),
        };
        let opts = PassOptions {
            lock_wait: Some(Duration::from_secs(2)),
            ..PassOptions::default()
        };
        let result = pass::run_from(&self.settings, opts, now, &mut source);
        let batch = std::mem::take(&mut source.batch);
        let (gone, foreign) = (
            std::mem::take(&mut source.gone),
            std::mem::take(&mut source.foreign),
        );
        for (dir, b) in std::mem::take(&mut source.unreadable) {
            self.index
                .set_due(dir.root, &dir.rel, &b.name, now.as_second() + 60);
        }
        for (dir, b) in foreign {
            self.index.remove(dir.root, &dir.rel, &b.name);
        }
        let gone: Vec<_> = gone
            .into_iter()
            .filter_map(|(dir, b)| self.index.remove(dir.root, &dir.rel, &b.name))
            .collect();
        self.vanished(gone, now);
        let full = batch.len() >= BATCH_MAX;
        match result {
            Ok(r) => {
                // A backlog (a first start on an old disk) goes batch after batch.
                self.urgent |= full && !r.is_refused();
                self.after_pass(&r, now);
                self.last_pass = Some((now, started.elapsed()));
                self.anchor();
            }
            Err(pass::PassError::Lock(crate::lock::LockError::Busy { .. })) => {
                // A CLI sweep or erase holds the lock: try again shortly, without an alarm.
                tracing::info!("another pass holds the lock; trying again in 30 s");
                for (dir, b) in batch {
                    self.index
                        .set_due(dir.root, &dir.rel, &b.name, now.as_second() + 30);
                }
            }
            Err(e) => {
                self.alarms
                    .raise("pass", format!("a deletion pass failed: {e}"));
                for (dir, b) in batch {
                    self.index
                        .set_due(dir.root, &dir.rel, &b.name, now.as_second() + BACKOFF);
                }
            }
        }
    }

    /// Brings the index in line with what a pass did and decided.
    fn after_pass(&mut self, r: &PassResult, now: Timestamp) {
        self.alarms.clear("pass");
        match r.refused.first() {
            Some(x) => {
                *self.refusals.entry(x.refusal.guard()).or_default() += 1;
                self.alarms.raise("guard", x.refusal.explain());
            }
            None => self.alarms.clear("guard"),
        }
        self.alarms.clear("pass");
        for a in &r.alarms {
            let kind = if a.starts_with("disk pressure") {
                "disk_pressure"
            } else {
                "pass_alarm"
            };
            self.alarms.raise(kind, a.clone());
        }
        let report = r.report.as_ref();
        let mut cov = Vec::new();
        for (i, a) in r.plan.actions.iter().enumerate() {
            let c = &r.scan.clips[a.clip];
            match report.and_then(|rep| rep.outcomes[i].as_ref()) {
                Some(Outcome::Deleted { reason, .. }) => {
                    *self.deleted.entry(reason.as_str()).or_default() += 1;
                    self.index.remove(c.root(), &c.dir.rel, &c.name);
                }
                // Refused, kept at the last moment, or failed: look again later.
                _ => self
                    .index
                    .set_due(c.root(), &c.dir.rel, &c.name, now.as_second() + BACKOFF),
            }
        }
        // Every other clip of the batch stays: its next decision is when it next expires.
        let planned: std::collections::HashSet<usize> =
            r.plan.actions.iter().map(|a| a.clip).collect();
        for (i, c) in r
            .scan
            .clips
            .iter()
            .enumerate()
            .filter(|(i, _)| !planned.contains(i))
        {
            cov.clear();
            r.holds.covering(c, &mut cov);
            let next = next_due(c, &cov, &r.holds, &r.rules, now);
            self.index.set_due(c.root(), &c.dir.rel, &c.name, next);
            let _ = i;
        }
    }

    fn anchor(&mut self) {
        match anchor::write(&self.settings.state_dir, Timestamp::now()) {
            Ok(seq) => {
                self.audit_seq = Some(seq);
                self.next_anchor = Instant::now() + ANCHOR_EVERY;
                self.alarms.clear("audit");
            }
            Err(anchor::AnchorError::Lock(crate::lock::LockError::Busy { .. })) => {
                self.next_anchor = Instant::now() + Duration::from_secs(60);
            }
            Err(e) => {
                self.alarms
                    .raise("audit", format!("cannot anchor the audit log: {e}"));
                self.next_anchor = Instant::now() + Duration::from_secs(60);
            }
        }
    }

    /// SIGHUP: a config that fails validation is rejected and the running one stays.
    fn reload(&mut self) {
        self.notifier.reloading();
        match crate::config::load(&self.config_path) {
            Ok(new) => {
                let roots_changed = new.roots.iter().map(|r| &r.path).ne(self
                    .settings
                    .roots
                    .iter()
                    .map(|r| &r.path));
                if new.metrics_textfile != self.settings.metrics_textfile {
                    self.metrics = new
                        .metrics_textfile
                        .clone()
                        .map(|p| crate::metrics::TextfileWriter::new(p, METRICS_EVERY));
                }
                self.settings = new;
                self.config_valid = true;
                self.alarms.clear("config_reload");
                tracing::info!(roots_changed, "config reloaded");
                if roots_changed {
                    // Events queued for the old roots must not meet the new settings.
                    self.watch();
                    self.reconcile();
                }
                self.next_reconcile = Instant::now();
            }
            Err(e) => {
                self.config_valid = false;
                self.alarms.raise(
                    "config_reload",
                    format!("config reload rejected, the running config stays: {e}"),
                );
            }
        }
        let status = self.status_line();
        self.notifier.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// Sets up inotify watches on the roots and the registry. If the kernel's watch limit is
    /// reached, says which sysctl to raise and falls back to periodic rescans.
    fn watch(&mut self) {
        let tx = self.tx.clone();
        let overflow = self.overflow.clone();
        let handler = move |res: notify::Result<notify::Event>| {
            if tx.try_send(Msg::Fs(res)).is_err() {
                // The loop is behind: the events are lost, so the view must be rebuilt.
                overflow.store(true, Ordering::Relaxed);
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let mut watcher = match notify::RecommendedWatcher::new(handler, config) {
            Ok(w) => w,
            Err(e) => {
                self.fall_back(format!("cannot start inotify: {e}"));
                return;
            }
        };
        let registry = Registry::new(&self.settings.state_dir);
        let _ = std::fs::create_dir_all(registry.dir());
        let _ = watcher.watch(registry.dir(), notify::RecursiveMode::NonRecursive);
        for r in &self.settings.roots {
            if let Err(e) = watcher.watch(&r.path, notify::RecursiveMode::Recursive) {
                let why = match e.kind {
                    notify::ErrorKind::MaxFilesWatch => format!(
                        "the inotify watch limit is reached watching {}: raise it (sysctl -w fs.inotify.max_user_watches=524288, and in /etc/sysctl.d/ to keep it)",
                        r.path.display()
                    ),
                    _ => format!("cannot watch {}: {e}", r.path.display()),
                };
                self.fall_back(why);
                self.watcher = Some(watcher);
                return;
            }
        }
        self.polling = None;
        self.alarms.clear("watch");
        self.watcher = Some(watcher);
    }

    fn fall_back(&mut self, why: String) {
        self.alarms.raise(
            "watch",
            format!("{why}; falling back to a full rescan every 5 minutes"),
        );
        self.polling = Some(Duration::from_secs(300));
        self.next_reconcile = self
            .next_reconcile
            .min(Instant::now() + Duration::from_secs(300));
    }

    /// Compares how far the wall clock moved with the monotonic clock: a jump is logged, and
    /// the view is rebuilt, since every due time is a wall-clock time.
    fn check_clock(&mut self) {
        let (then_i, then_w) = self.clock;
        let now_i = Instant::now();
        let now_w = Timestamp::now();
        let mono = now_i.duration_since(then_i).as_secs_f64();
        let wall = now_w.duration_since(then_w).as_secs_f64();
        if (wall - mono).abs() > 60.0 {
            self.alarms.raise(
                "clock",
                format!(
                    "the wall clock jumped by {:.0} s; the guards judge every pass",
                    wall - mono
                ),
            );
            self.next_reconcile = now_i;
        }
        self.clock = (now_i, now_w);
    }

    /// A root mounted, unmounted or swapped since the view was built: rescan (which watches
    /// it again).
    fn check_roots(&mut self) {
        let changed = self
            .settings
            .roots
            .iter()
            .zip(&self.index.roots)
            .any(|(cfg, r)| scan::fs_id(&cfg.path).ok() != r.scan.fs);
        if changed {
            tracing::warn!("a root's filesystem changed: rescanning");
            self.next_reconcile = Instant::now();
        }
    }

    fn check_writable(&mut self) {
        let bad: Vec<String> = self
            .settings
            .roots
            .iter()
            .filter(|r| nix::unistd::access(&r.path, nix::unistd::AccessFlags::W_OK).is_err())
            .map(|r| r.path.display().to_string())
            .collect();
        if bad.is_empty() {
            self.alarms.clear("root_unwritable");
        } else {
            self.alarms.raise(
                "root_unwritable",
                format!(
                    "not writable, so nothing there can be deleted: {}",
                    bad.join(", ")
                ),
            );
        }
    }

    fn status_line(&self) -> String {
        let now = Timestamp::now();
        let held = self.held;
        let next = self
            .index
            .next_due()
            .and_then(|d| Timestamp::from_second(d).ok())
            .map_or_else(
                || "none".into(),
                |t| crate::human::relative(t.max(now), now),
            );
        let mut s = format!(
            "{} clips, {} held past retention, next deletion {}",
            self.index.clip_count(),
            held,
            next
        );
        if !self.alarms.0.is_empty() {
            let kinds: Vec<&str> = self.alarms.0.keys().copied().collect();
            s.push_str(&format!("; ALARM: {}", kinds.join(", ")));
        }
        s
    }
}

/// When a clip that stays needs its next decision.
fn next_due(c: &Clip, cov: &[u32], holds: &Holds, rules: &Rules, now: Timestamp) -> i64 {
    match policy::expires(c, cov, holds, rules, now) {
        Some(t) => t.as_second().max(now.as_second() + 1),
        // It cannot be judged: from the future, look again once it is not; before 2020, never.
        None if c.recorded > now => c.recorded.as_second(),
        None => NEVER,
    }
}

/// A Clip from what the index knows, for hold coverage (no fresh inode).
fn clip_of(dir: &Arc<crate::clip::ClipDir>, b: &Brief, now: Timestamp) -> Clip {
    let t = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
    Clip {
        dir: dir.clone(),
        name: b.name.to_vec().into_boxed_slice(),
        camera: b.camera,
        recorded: t(b.recorded),
        span: (t(b.recorded), t(b.recorded.max(b.mtime))),
        meta: crate::fsx::FileMeta {
            ino: 0,
            dev: 0,
            size: b.size,
            kind: crate::fsx::FileKind::File,
            mtime: t(b.mtime),
            // The index keeps no ctime; a future mtime stands for "written now", so the clip
            // comes up for a decision on its fresh inode soon instead of in the future.
            ctime: t(b.mtime.min(now.as_second())),
            uid: 0,
            gid: 0,
        },
    }
}

fn duration(d: SignedDuration) -> Duration {
    Duration::from_secs(d.as_secs().max(0) as u64)
}

/// Up to a tenth of the interval, so a fleet's recorders do not rescan in step.
fn jitter(interval: SignedDuration) -> Duration {
    let span = (interval.as_secs().max(10) / 10) as u64;
    let seed = std::process::id() as u64 ^ Timestamp::now().subsec_nanosecond() as u64;
    Duration::from_secs(seed % span.max(1))
}
