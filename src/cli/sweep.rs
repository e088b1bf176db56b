//! `clipwarden sweep [--dry-run] [--force]`: one pass, reported for a person or as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use anyhow::Result;
use clipwarden::clip::ClipDir;
use clipwarden::config::Settings;
use clipwarden::config::units::format_duration;
use clipwarden::execute::Outcome;
use clipwarden::exit::{Code, Exit};
use clipwarden::human;
use clipwarden::pass::{self, PassOptions, PassResult};
use clipwarden::policy::{Keep, Reason};
use jiff::Timestamp;
use serde::Serialize;

use super::Cli;
use super::output::{JsonPath, emit, emit_json};

pub fn run(cli: &Cli, settings: &Settings, dry_run: bool, force: bool) -> Result<Code> {
    let now = Timestamp::now();
    let opts = PassOptions {
        dry_run,
        force,
        ..PassOptions::default()
    };
    let result = pass::run(settings, opts, now).map_err(|e| match e {
        pass::PassError::Lock(_) => anyhow::Error::new(Exit::new(Code::Runtime, e.to_string())),
        e => anyhow::Error::new(e),
    })?;
    if cli.json {
        emit_json(&json(settings, &result, dry_run))?;
    } else {
        emit(&text(settings, &result, dry_run, cli.verbose > 0))?;
    }
    for a in &result.alarms {
        tracing::warn!(alarm = %a, "alarm");
    }
    Ok(if result.is_refused() {
        Code::Refused
    } else if result.has_errors() {
        Code::Runtime
    } else {
        Code::Ok
    })
}

/// The state of one planned deletion, for reports.
fn status(r: &PassResult, i: usize, dry_run: bool) -> (&'static str, Option<String>) {
    let root = r.scan.clips[r.plan.actions[i].clip].root();
    if let Some(refusal) = r.refusal_of(root) {
        return ("refused", Some(refusal.guard().to_string()));
    }
    if dry_run {
        return ("planned", None);
    }
    match r.report.as_ref().and_then(|rep| rep.outcomes[i].as_ref()) {
        Some(Outcome::Deleted { .. }) => ("deleted", None),
        Some(Outcome::Kept(why)) => ("kept", Some(why.clone())),
        Some(Outcome::Failed(why)) => ("failed", Some(why.clone())),
        None => (
            "not_attempted",
            Some("the pass stopped before this clip".into()),
        ),
    }
}

#[derive(Serialize)]
struct JsonAction {
    #[serde(flatten)]
    path: JsonPath,
    camera: String,
    recorded: Timestamp,
    bytes: u64,
    reason: Reason,
    limit: String,
    holds: Vec<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Serialize)]
struct JsonKept {
    #[serde(flatten)]
    path: JsonPath,
    camera: String,
    recorded: Timestamp,
    bytes: u64,
    why: &'static str,
    holds: Vec<String>,
}

#[derive(Serialize)]
struct JsonRoot {
    #[serde(flatten)]
    path: JsonPath,
    layout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
    /// Clips counted; all of them only when `recognised_complete`.
    recognised: u64,
    recognised_complete: bool,
    /// Directories whose clips are all too young to be due, left unread.
    young_dirs_unread: usize,
    unrecognised: u64,
    unrecognised_samples: Vec<String>,
    errors: Vec<String>,
    due: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<JsonRefusal>,
    forced: bool,
    filesystem_changed: bool,
}

#[derive(Serialize)]
struct JsonRefusal {
    guard: &'static str,
    message: String,
}

#[derive(Serialize)]
struct JsonSweep {
    dry_run: bool,
    now: Timestamp,
    actions: Vec<JsonAction>,
    kept: Vec<JsonKept>,
    roots: Vec<JsonRoot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<JsonRefusal>,
    alarms: Vec<String>,
    summary: Summary,
}

#[derive(Serialize, Default)]
struct Summary {
    due: u64,
    deleted: u64,
    bytes_deleted: u64,
    kept: u64,
    failed: u64,
    held_past_retention: u64,
    being_written: u64,
    unjudgeable: u64,
    overdue: u64,
    unrecognised: u64,
    errors: u64,
    seconds: f64,
}

fn keep_name(k: &Keep) -> &'static str {
    match k {
        Keep::Held => "held",
        Keep::BeingWritten => "being_written",
        Keep::Unjudgeable { overdue: false } => "unjudgeable",
        Keep::Unjudgeable { overdue: true } => "overdue",
    }
}

fn summary(r: &PassResult, dry_run: bool) -> Summary {
    let mut s = Summary {
        due: r.plan.actions.len() as u64,
        seconds: r.elapsed.as_secs_f64(),
        ..Summary::default()
    };
    for (i, a) in r.plan.actions.iter().enumerate() {
        match status(r, i, dry_run).0 {
            "deleted" => {
                s.deleted += 1;
                s.bytes_deleted += r.scan.clips[a.clip].meta.size;
            }
            "kept" => s.kept += 1,
            "failed" => s.failed += 1,
            _ => {}
        }
    }
    for k in &r.plan.kept {
        match k.why {
            Keep::Held => s.held_past_retention += 1,
            Keep::BeingWritten => s.being_written += 1,
            Keep::Unjudgeable { overdue } => {
                s.unjudgeable += 1;
                s.overdue += u64::from(overdue);
            }
        }
    }
    for root in &r.scan.roots {
        s.unrecognised += root.unrecognised;
        s.errors += root.errors.len() as u64 + u64::from(root.unavailable.is_some());
    }
    if let Some(rep) = &r.report {
        s.errors += rep.errors.len() as u64 + u64::from(rep.aborted.is_some());
    }
    s
}

fn json(settings: &Settings, r: &PassResult, dry_run: bool) -> JsonSweep {
    let clip_path = |c: &clipwarden::clip::Clip| {
        JsonPath::new(&c.path(&settings.roots[usize::from(c.root())].path))
    };
    let labels = |hs: &[u32]| {
        hs.iter()
            .map(|&h| r.holds.get(h).label.clone())
            .collect::<Vec<_>>()
    };
    let actions = r
        .plan
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let c = &r.scan.clips[a.clip];
            let (status, detail) = status(r, i, dry_run);
            JsonAction {
                path: clip_path(c),
                camera: r.scan.camera_name(c).to_string(),
                recorded: c.recorded,
                bytes: c.meta.size,
                reason: a.reason,
                limit: format_duration(a.limit),
                holds: labels(&a.holds),
                status,
                detail,
            }
        })
        .collect();
    let kept = r
        .plan
        .kept
        .iter()
        .map(|k| {
            let c = &r.scan.clips[k.clip];
            JsonKept {
                path: clip_path(c),
                camera: r.scan.camera_name(c).to_string(),
                recorded: c.recorded,
                bytes: c.meta.size,
                why: keep_name(&k.why),
                holds: labels(&k.holds),
            }
        })
        .collect();
    let mut due: BTreeMap<u16, u64> = BTreeMap::new();
    for a in &r.plan.actions {
        *due.entry(r.scan.clips[a.clip].root()).or_default() += 1;
    }
    let roots = settings
        .roots
        .iter()
        .zip(&r.scan.roots)
        .enumerate()
        .map(|(i, (cfg, s))| {
            let i = i as u16;
            JsonRoot {
                path: JsonPath::new(&cfg.path),
                layout: cfg.layout.name.clone(),
                unavailable: s.unavailable.clone(),
                recognised: s.recognised,
                recognised_complete: s.is_complete(),
                young_dirs_unread: s.deferred.len(),
                unrecognised: s.unrecognised,
                unrecognised_samples: s
                    .unrecognised_samples
                    .iter()
                    .map(|p| human::escape(p))
                    .collect(),
                errors: s
                    .errors
                    .iter()
                    .map(|e| format!("{}: {}", human::escape_path(&e.path), e.error))
                    .collect(),
                due: due.get(&i).copied().unwrap_or(0),
                refused: r
                    .refused
                    .iter()
                    .find(|x| x.root == Some(i))
                    .map(|x| JsonRefusal {
                        guard: x.refusal.guard(),
                        message: x.refusal.explain(),
                    }),
                forced: r.forced.contains(&i),
                filesystem_changed: r.root_changed.contains(&i),
            }
        })
        .collect();
    JsonSweep {
        dry_run,
        now: r.now,
        actions,
        kept,
        roots,
        refused: r
            .refused
            .iter()
            .find(|x| x.root.is_none())
            .map(|x| JsonRefusal {
                guard: x.refusal.guard(),
                message: x.refusal.explain(),
            }),
        alarms: r.alarms.clone(),
        summary: summary(r, dry_run),
    }
}

/// Per root and reason: how many, how big, which recording times, in how many directories.
#[derive(Default)]
struct Group {
    clips: u64,
    bytes: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    dirs: std::collections::BTreeSet<Vec<u8>>,
    /// The directory last added to `dirs`: a directory's clips come one after another, so
    /// each is added once instead of copied and compared once per clip (musl's byte-wise
    /// memcmp made that a fifth of a dry run's CPU on a static build).
    last_dir: Option<Arc<ClipDir>>,
}

pub(super) fn text(settings: &Settings, r: &PassResult, dry_run: bool, verbose: bool) -> String {
    let z = &settings.timezone;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "clipwarden sweep{} at {} ({})",
        if dry_run {
            " --dry-run (nothing is deleted)"
        } else {
            ""
        },
        human::time(r.now, z),
        settings.timezone_name
    );
    let overrides: Vec<String> = settings
        .cameras
        .iter()
        .map(|(c, d)| format!("{c} {}", format_duration(*d)))
        .collect();
    let _ = writeln!(
        o,
        "retention {}{}, hold cap {}",
        format_duration(settings.retention.retention()),
        if overrides.is_empty() {
            String::new()
        } else {
            format!(" ({})", overrides.join(", "))
        },
        format_duration(settings.retention.hold_cap()),
    );
    let verb = if dry_run { "would delete" } else { "deleted" };
    for (i, (cfg, s)) in settings.roots.iter().zip(&r.scan.roots).enumerate() {
        let i = i as u16;
        let _ = writeln!(
            o,
            "\n{} ({})",
            human::escape_path(&cfg.path),
            cfg.layout.name
        );
        if let Some(why) = &s.unavailable {
            let _ = writeln!(
                o,
                "  UNAVAILABLE: {why}; nothing here was scanned or deleted"
            );
            continue;
        }
        let mut groups: BTreeMap<(&'static str, Reason), Group> = BTreeMap::new();
        for (k, a) in r.plan.actions.iter().enumerate() {
            let c = &r.scan.clips[a.clip];
            if c.root() != i {
                continue;
            }
            let st = status(r, k, dry_run).0;
            let g = groups.entry((st, a.reason)).or_default();
            g.clips += 1;
            g.bytes += c.meta.size;
            g.first = Some(g.first.map_or(c.recorded, |t| t.min(c.recorded)));
            g.last = Some(g.last.map_or(c.recorded, |t| t.max(c.recorded)));
            if !g.last_dir.as_ref().is_some_and(|d| Arc::ptr_eq(d, &c.dir)) {
                g.dirs.insert(c.dir.rel.to_vec());
                g.last_dir = Some(c.dir.clone());
            }
            if verbose {
                let _ = writeln!(
                    o,
                    "  {:<8} {}  {}  {}  {}  {}",
                    st,
                    human::escape(&c.rel_path()),
                    human::escape(r.scan.camera_name(c).as_bytes()),
                    human::time(c.recorded, z),
                    human::bytes(c.meta.size),
                    a.reason.as_str()
                );
            }
        }
        let due = human::count(groups.values().map(|g| g.clips).sum());
        if s.is_complete() {
            let _ = writeln!(
                o,
                "  {} recognised, {due} due",
                human::plural(s.recognised, "clip", "clips")
            );
        } else {
            let _ = writeln!(
                o,
                "  {due} due; {} counted, {} too young to hold anything due left unread",
                human::plural(s.recognised, "clip", "clips"),
                human::plural(s.deferred.len() as u64, "directory", "directories"),
            );
        }
        for ((st, reason), g) in &groups {
            let what = match *st {
                "deleted" | "planned" => verb.to_string(),
                "refused" => "refused to delete".to_string(),
                other => other.replace('_', " "),
            };
            let _ = writeln!(
                o,
                "  {what} {} ({}) for {}: recorded {} to {}, in {}",
                human::plural(g.clips, "clip", "clips"),
                human::bytes(g.bytes),
                explain_reason(*reason, settings),
                g.first.map_or_else(String::new, |t| human::time(t, z)),
                g.last.map_or_else(String::new, |t| human::time(t, z)),
                human::plural(g.dirs.len() as u64, "directory", "directories")
            );
        }
        let mut kept: BTreeMap<&'static str, (u64, std::collections::BTreeSet<String>)> =
            BTreeMap::new();
        for k in r
            .plan
            .kept
            .iter()
            .filter(|k| r.scan.clips[k.clip].root() == i)
        {
            let e = kept.entry(keep_name(&k.why)).or_default();
            e.0 += 1;
            for &h in &k.holds {
                let hold = r.holds.get(h);
                e.1.insert(hold.case.clone().unwrap_or_else(|| hold.label.clone()));
            }
        }
        for (why, (n, cases)) in &kept {
            let detail = match *why {
                "held" => format!(
                    "held past retention (holds: {})",
                    cases.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                "being_written" => format!(
                    "written within the last {}",
                    format_duration(settings.safety.quiet_period)
                ),
                "unjudgeable" => {
                    "dated in the future or before 2020: never deleted, check the recorder's clock"
                        .into()
                }
                _ => "overdue: undatable and older than the hold cap by ctime; check them by hand"
                    .into(),
            };
            let _ = writeln!(o, "  kept {}: {detail}", human::plural(*n, "clip", "clips"));
        }
        if s.unrecognised > 0 {
            let eg: Vec<String> = s
                .unrecognised_samples
                .iter()
                .take(3)
                .map(|p| human::escape(p))
                .collect();
            let _ = writeln!(
                o,
                "  {} unrecognised (not fitting the layout, never deleted), e.g. {}",
                human::count(s.unrecognised),
                eg.join(", ")
            );
        }
        for e in &s.errors {
            let _ = writeln!(o, "  ERROR {}: {}", human::escape_path(&e.path), e.error);
        }
        if r.root_changed.contains(&i) {
            let _ = writeln!(
                o,
                "  NOTE: this root is on a different filesystem than at the last pass"
            );
        }
        if r.forced.contains(&i) {
            let _ = writeln!(
                o,
                "  FORCED past the max_delete_fraction guard (--force; audited)"
            );
        }
        if let Some(x) = r.refused.iter().find(|x| x.root == Some(i)) {
            let _ = writeln!(
                o,
                "  REFUSED ({}): {}",
                x.refusal.guard(),
                x.refusal.explain()
            );
        }
    }
    if let Some(x) = r.refused.iter().find(|x| x.root.is_none()) {
        let _ = writeln!(
            o,
            "\nREFUSED ({}): {}",
            x.refusal.guard(),
            x.refusal.explain()
        );
    }
    if !r.alarms.is_empty() {
        let _ = writeln!(o, "\nalarms:");
        for a in &r.alarms {
            let _ = writeln!(o, "  {a}");
        }
    }
    let s = summary(r, dry_run);
    let (n, b) = if dry_run {
        (
            s.due,
            r.plan
                .actions
                .iter()
                .map(|a| r.scan.clips[a.clip].meta.size)
                .sum(),
        )
    } else {
        (s.deleted, s.bytes_deleted)
    };
    let _ = writeln!(
        o,
        "\nsummary: {verb} {} ({}) in {:.2} s; kept {} held past retention; {} unrecognised; {} errors{}",
        human::plural(n, "clip", "clips"),
        human::bytes(b),
        s.seconds,
        human::count(s.held_past_retention),
        human::count(s.unrecognised),
        human::count(s.errors + s.failed),
        if r.is_refused() {
            "; REFUSED by a safety guard (exit 3)"
        } else {
            ""
        }
    );
    o
}

fn explain_reason(reason: Reason, settings: &Settings) -> String {
    match reason {
        Reason::Retention if !settings.cameras.is_empty() => {
            "retention (older than its camera's retention)".into()
        }
        Reason::Retention => format!(
            "retention (older than {})",
            format_duration(settings.retention.retention())
        ),
        Reason::HoldEnded => "hold_ended (past retention, its hold has ended)".into(),
        Reason::HoldCap => format!(
            "hold_cap (held, but older than the {} cap)",
            format_duration(settings.retention.hold_cap())
        ),
        Reason::Erasure => "erasure (a data subject's request)".into(),
        Reason::DiskPressure => {
            "disk_pressure (the disk is below min_free; oldest unheld footage first)".into()
        }
    }
}
