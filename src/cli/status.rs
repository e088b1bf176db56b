//! `clipwarden status`: what is on the recorder now, what is held, what goes next, and every
//! alarm an operator must see. Reads only; never takes the lock.

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Result;
use clipwarden::config::Settings;
use clipwarden::config::units::format_duration;
use clipwarden::exit::Code;
use clipwarden::holds::Holds;
use clipwarden::human;
use clipwarden::pass::rules_for;
use clipwarden::policy::{self, Keep};
use clipwarden::scan::{self, Scan, ScanRequest};
use clipwarden::state::State;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::Cli;
use super::output::{JsonPath, emit, emit_json};

/// A full scan: every clip collected with its inode, for commands that report on all of them.
pub fn full_scan(settings: &Settings, now: Timestamp) -> (Scan, Holds) {
    let scan = scan::scan(&ScanRequest {
        roots: &settings.roots,
        now,
        future_slack: settings.safety.future_slack,
        collect_before: vec![None; settings.roots.len()],
        defer_young: false,
        index: false,
        zone: &settings.timezone,
        threads: scan::default_threads(),
    });
    let paths: Vec<&std::path::Path> = settings.roots.iter().map(|r| r.path.as_path()).collect();
    let mut holds =
        Holds::from_markers(&scan.markers, settings.holds.marker_owners.as_ref(), &paths);
    match clipwarden::holds::registry::Registry::new(&settings.state_dir).load() {
        Ok(reg) => holds.add_registry(&reg, &scan.cameras, &paths),
        Err(e) => holds
            .alarms
            .push(format!("{e}: sweeps delete nothing until it is readable")),
    }
    for (i, r) in scan.roots.iter().enumerate() {
        if r.root_marker {
            holds.root_marker_alarm(&settings.roots[i].path);
        }
    }
    (scan, holds)
}

#[derive(Serialize, Default)]
struct CameraStatus {
    clips: u64,
    bytes: u64,
    held_clips: u64,
    held_bytes: u64,
    oldest: Option<Timestamp>,
    /// The compliance figure: it must stay under the camera's retention.
    oldest_unheld_age_seconds: Option<i64>,
    retention_seconds: i64,
}

#[derive(Serialize)]
struct RootStatus {
    #[serde(flatten)]
    path: JsonPath,
    layout: String,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
    clips: u64,
    bytes: u64,
    free_bytes: Option<u64>,
    unrecognised: u64,
    unrecognised_samples: Vec<String>,
    errors: Vec<String>,
    cameras: BTreeMap<String, CameraStatus>,
}

#[derive(Serialize)]
struct HoldStatus {
    label: String,
    source: &'static str,
    case: Option<String>,
    reason: Option<String>,
    until: Option<Timestamp>,
    active: bool,
    clips: u64,
    bytes: u64,
    /// When its oldest clip reaches the hold cap and is deleted.
    first_cap: Option<Timestamp>,
    reaches_cap_soon: bool,
}

#[derive(Serialize)]
struct Status {
    now: Timestamp,
    timezone: String,
    retention_seconds: i64,
    hold_cap_seconds: i64,
    roots: Vec<RootStatus>,
    clips: u64,
    bytes: u64,
    oldest: Option<Timestamp>,
    due_now: u64,
    next_deletion: Option<Timestamp>,
    held_clips: u64,
    held_bytes: u64,
    holds: Vec<HoldStatus>,
    unjudgeable: u64,
    overdue: u64,
    unrecognised: u64,
    last_pass: Option<Timestamp>,
    audit_head: Option<String>,
    alarms: Vec<String>,
}

pub fn run(cli: &Cli, settings: &Settings) -> Result<Code> {
    let now = Timestamp::now();
    let (scan, holds) = full_scan(settings, now);
    let rules = rules_for(settings, &scan.cameras);
    let plan = policy::plan(&scan.clips, &holds, &rules, now);
    let mut alarms = holds.alarms.clone();

    let mut roots: Vec<RootStatus> = settings
        .roots
        .iter()
        .zip(&scan.roots)
        .map(|(cfg, s)| RootStatus {
            path: JsonPath::new(&cfg.path),
            layout: cfg.layout.name.clone(),
            available: s.unavailable.is_none(),
            unavailable: s.unavailable.clone(),
            clips: 0,
            bytes: 0,
            free_bytes: clipwarden::fsx::free_bytes(&cfg.path),
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
            cameras: BTreeMap::new(),
        })
        .collect();
    for (cfg, s) in settings.roots.iter().zip(&scan.roots) {
        if let Some(why) = &s.unavailable {
            alarms.push(format!(
                "root {} is unavailable: {why}",
                human::escape_path(&cfg.path)
            ));
        }
        for e in &s.errors {
            alarms.push(format!(
                "cannot read {}: {}",
                human::escape_path(&e.path),
                e.error
            ));
        }
    }

    let mut held_clips = 0;
    let mut held_bytes = 0;
    let mut next_deletion: Option<Timestamp> = None;
    let mut per_hold: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut covering = Vec::new();
    for c in &scan.clips {
        covering.clear();
        holds.covering(c, &mut covering);
        let held = covering.iter().any(|&h| holds.get(h).is_active(now));
        for &h in &covering {
            let e = per_hold.entry(h).or_default();
            e.0 += 1;
            e.1 += c.meta.size;
        }
        let root = &mut roots[usize::from(c.root())];
        root.clips += 1;
        root.bytes += c.meta.size;
        let cam = root
            .cameras
            .entry(scan.camera_name(c).to_string())
            .or_default();
        cam.retention_seconds = rules.retention[c.camera.0 as usize].as_secs();
        cam.clips += 1;
        cam.bytes += c.meta.size;
        let judgeable = !scan::is_unjudgeable(c.recorded, now, settings.safety.future_slack);
        if judgeable {
            cam.oldest = Some(cam.oldest.map_or(c.recorded, |t| t.min(c.recorded)));
        }
        if held {
            held_clips += 1;
            held_bytes += c.meta.size;
            cam.held_clips += 1;
            cam.held_bytes += c.meta.size;
        } else if judgeable {
            let age = policy::age(c, now).as_secs();
            cam.oldest_unheld_age_seconds =
                Some(cam.oldest_unheld_age_seconds.map_or(age, |a| a.max(age)));
        }
        if let Some(e) = policy::expires(c, &covering, &holds, &rules, now)
            && e > now
        {
            next_deletion = Some(next_deletion.map_or(e, |n| n.min(e)));
        }
    }

    let warnings = policy::cap_warnings(
        &scan.clips,
        &holds,
        &rules,
        now,
        settings.retention.warn_before,
    );
    let hold_list: Vec<HoldStatus> = holds
        .all()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (clips, bytes) = per_hold.get(&(i as u32)).copied().unwrap_or_default();
            let warn = warnings.iter().find(|w| w.hold == i as u32);
            HoldStatus {
                label: h.label.clone(),
                source: h.source.as_str(),
                case: h.case.clone(),
                reason: h.reason.clone(),
                until: h.until,
                active: h.is_active(now),
                clips,
                bytes,
                first_cap: warn.map(|w| w.first_cap),
                reaches_cap_soon: warn.is_some(),
            }
        })
        .collect();
    for w in &warnings {
        let h = holds.get(w.hold);
        alarms.push(format!(
            "hold {} ({}) reaches the {}-day cap on {}: {} clips will be deleted then; export them before if they are needed longer",
            h.label,
            h.case.as_deref().unwrap_or("no case"),
            settings.retention.hold_cap_days,
            human::time(w.first_cap, &settings.timezone),
            w.clips
        ));
    }

    let state = State::load(&settings.state_dir).unwrap_or_else(|e| {
        alarms.push(e.to_string());
        State::default()
    });
    if let Ok(reg) = clipwarden::holds::registry::Registry::new(&settings.state_dir).load() {
        let missing = state
            .known_holds
            .iter()
            .filter(|id| !reg.iter().any(|h| &h.id == *id));
        for id in missing.chain(state.vanished_holds.keys()) {
            alarms.push(format!(
                "hold {id} vanished from the registry without being released or purged: its footage is no longer protected"
            ));
        }
    }
    if let Some(last) = state.last_clock
        && now.duration_since(last) < -settings.safety.future_slack
    {
        alarms.push(format!(
            "the clock reads {}, earlier than the last pass ({}): sweeps are refused until it is right",
            human::time(now, &settings.timezone),
            human::time(last, &settings.timezone)
        ));
    }
    let overdue = plan
        .kept
        .iter()
        .filter(|k| k.why == Keep::Unjudgeable { overdue: true })
        .count() as u64;
    if overdue > 0 {
        alarms.push(format!(
            "{overdue} clips cannot be dated and are older than the hold cap by ctime: check them by hand"
        ));
    }
    let audit_head = clipwarden::audit::tail(&settings.state_dir, 1)
        .ok()
        .and_then(|v| v.into_iter().next());
    let status = Status {
        now,
        timezone: settings.timezone_name.clone(),
        retention_seconds: settings.retention.retention().as_secs(),
        hold_cap_seconds: settings.retention.hold_cap().as_secs(),
        clips: roots.iter().map(|r| r.clips).sum(),
        bytes: roots.iter().map(|r| r.bytes).sum(),
        oldest: roots
            .iter()
            .flat_map(|r| r.cameras.values().filter_map(|c| c.oldest))
            .min(),
        roots,
        due_now: plan.actions.len() as u64,
        next_deletion,
        held_clips,
        held_bytes,
        holds: hold_list,
        unjudgeable: plan
            .kept
            .iter()
            .filter(|k| matches!(k.why, Keep::Unjudgeable { .. }))
            .count() as u64,
        overdue,
        unrecognised: scan.roots.iter().map(|r| r.unrecognised).sum(),
        last_pass: state.last_clock,
        audit_head,
        alarms,
    };
    if cli.json {
        emit_json(&status)?;
    } else {
        emit(&text(settings, &status))?;
    }
    Ok(Code::Ok)
}

fn text(settings: &Settings, s: &Status) -> String {
    let z = &settings.timezone;
    let mut o = String::new();
    let t = |ts: Timestamp| human::time(ts, z);
    let _ = writeln!(o, "clipwarden status at {} ({})", t(s.now), s.timezone);
    let _ = writeln!(
        o,
        "policy: keep {} ({} with a hold, at most)",
        format_duration(SignedDuration::from_secs(s.retention_seconds)),
        format_duration(SignedDuration::from_secs(s.hold_cap_seconds))
    );
    for r in &s.roots {
        let _ = writeln!(
            o,
            "\n{} ({})",
            human::escape(r.path.path.as_bytes()),
            r.layout
        );
        if let Some(why) = &r.unavailable {
            let _ = writeln!(o, "  UNAVAILABLE: {why}");
            continue;
        }
        let _ = writeln!(
            o,
            "  {} clips, {}{}",
            human::count(r.clips),
            human::bytes(r.bytes),
            r.free_bytes
                .map_or_else(String::new, |f| format!("; {} free", human::bytes(f)))
        );
        for (name, c) in &r.cameras {
            let oldest = c.oldest_unheld_age_seconds.map_or_else(
                || "-".to_string(),
                |a| human::span(SignedDuration::from_secs(a)),
            );
            let _ = writeln!(
                o,
                "  {:<16} {:>9} clips {:>10}  oldest unheld {} (limit {}){}",
                human::escape(name.as_bytes()),
                human::count(c.clips),
                human::bytes(c.bytes),
                oldest,
                format_duration(SignedDuration::from_secs(c.retention_seconds)),
                if c.held_clips > 0 {
                    format!(", {} held", human::count(c.held_clips))
                } else {
                    String::new()
                }
            );
        }
        if r.unrecognised > 0 {
            let _ = writeln!(
                o,
                "  {} unrecognised, e.g. {}",
                human::count(r.unrecognised),
                r.unrecognised_samples
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let _ = writeln!(o);
    if let Some(oldest) = s.oldest {
        let _ = writeln!(
            o,
            "oldest clip: {} ({})",
            t(oldest),
            human::relative(oldest, s.now)
        );
    }
    let _ = writeln!(
        o,
        "due now: {} clips (the next sweep deletes them)",
        human::count(s.due_now)
    );
    match s.next_deletion {
        Some(n) => {
            let _ = writeln!(o, "next deletion: {} ({})", t(n), human::relative(n, s.now));
        }
        None => {
            let _ = writeln!(o, "next deletion: none scheduled");
        }
    }
    let _ = writeln!(
        o,
        "held: {} clips, {}",
        human::count(s.held_clips),
        human::bytes(s.held_bytes)
    );
    for h in &s.holds {
        let _ = writeln!(
            o,
            "  {} {}: {}{}, {}{}",
            if h.active { "hold" } else { "ended" },
            h.label,
            h.case.as_deref().unwrap_or("(no case)"),
            h.until
                .map_or_else(String::new, |u| format!(" until {}", t(u))),
            human::plural(h.clips, "clip", "clips"),
            h.first_cap
                .map_or_else(String::new, |c| format!("; reaches the cap {}", t(c)))
        );
    }
    if s.unjudgeable > 0 {
        let _ = writeln!(
            o,
            "cannot be judged (future or pre-2020 dates): {} clips, {} overdue",
            human::count(s.unjudgeable),
            human::count(s.overdue)
        );
    }
    if s.unrecognised > 0 {
        let _ = writeln!(o, "unrecognised files: {}", human::count(s.unrecognised));
    }
    let _ = writeln!(
        o,
        "last pass: {}",
        s.last_pass.map_or_else(|| "never".to_string(), t)
    );
    if s.alarms.is_empty() {
        let _ = writeln!(o, "alarms: none");
    } else {
        let _ = writeln!(o, "alarms:");
        for a in &s.alarms {
            let _ = writeln!(o, "  {a}");
        }
    }
    o
}
