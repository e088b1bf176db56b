//! `clipwarden hold add | list | show | release | extend`: legal holds in the registry.
//!
//! A change is written to the registry first (atomically, under its lock), so it is in force
//! at once, even for a sweep already running; its audit entry follows under the state lock.
//! If a long pass holds that lock, the next pass writes the entry instead.

use std::fmt::Write;
use std::time::Duration;

use anyhow::Result;
use clipwarden::audit::AuditLog;
use clipwarden::clip::Clip;
use clipwarden::config::Settings;
use clipwarden::exit::{Code, Exit};
use clipwarden::holds::entries::{Created, Extended, Released};
use clipwarden::holds::id::HoldId;
use clipwarden::holds::registry::{Extension, Registry, RegistryHold, Release, Selector};
use clipwarden::lock::StateLock;
use clipwarden::pass::rules_for;
use clipwarden::scan::Scan;
use clipwarden::state::State;
use clipwarden::timearg::{self, Role};
use clipwarden::{human, policy};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::output::{JsonPath, emit, emit_json};
use super::select::{self, Typed};
use super::status::full_scan;
use super::{Cli, Operator};

/// How long a hold change waits for a running pass before leaving its audit entry to the next.
const AUDIT_WAIT: Duration = Duration::from_secs(10);
const REGISTRY_WAIT: Duration = Duration::from_secs(60);

pub struct AddArgs<'a> {
    pub typed: Typed<'a>,
    pub case: &'a str,
    pub reason: &'a str,
    pub until: Option<&'a str>,
}

/// The hold as shown in `--json` and by `hold show`.
#[derive(Serialize)]
struct HoldJson<'a> {
    #[serde(flatten)]
    hold: &'a RegistryHold,
    state: &'static str,
    /// When its newest footage reaches the cap: no hold lasts longer.
    cap: Option<Timestamp>,
}

fn state_of(h: &RegistryHold, now: Timestamp) -> &'static str {
    if h.released.is_some() {
        "released"
    } else if h.is_active(now) {
        "active"
    } else {
        "ended"
    }
}

/// When the newest footage a selector can cover reaches the cap.
fn cap_of(selector: &Selector, covered: &[&Clip], hold_cap: SignedDuration) -> Option<Timestamp> {
    let newest = match selector {
        Selector::Window { to, .. } => Some(*to),
        Selector::Paths { .. } => covered.iter().map(|c| c.recorded).max(),
    };
    newest.and_then(|t| t.checked_add(hold_cap).ok())
}

pub fn add(cli: &Cli, settings: &Settings, args: AddArgs<'_>, who: &Operator) -> Result<Code> {
    select::check_case(args.case)?;
    select::check_reason(args.reason)?;
    let now = Timestamp::now();
    let z = &settings.timezone;
    let until = args
        .until
        .map(|t| {
            timearg::parse(t, Role::Ahead, z, now).map_err(|e| Exit::usage(format!("--until: {e}")))
        })
        .transpose()?;
    if let Some(u) = &until {
        eprintln!("--until {}", timearg::echo(u, z, now));
        if u.latest <= now {
            return Err(
                Exit::usage("--until is in the past: a hold must end later than now").into(),
            );
        }
    }
    let (scan, _) = full_scan(settings, now);
    let selector = select::resolve(&args.typed, settings, &scan, now, true)?;
    let covered: Vec<&Clip> = select::covered(&selector, settings, &scan)
        .into_iter()
        .map(|i| &scan.clips[i])
        .collect();
    let cap = cap_of(&selector, &covered, settings.retention.hold_cap());
    let mut notes = Vec::new();
    let until = until.map(|u| u.latest);
    let capped = match (until, cap) {
        (Some(u), Some(c)) if u > c => {
            notes.push(format!(
                "--until is past the {}-day cap: capped to {} (footage needed longer must be exported before then)",
                settings.retention.hold_cap_days,
                human::time(c, z)
            ));
            Some(c)
        }
        (u, _) => u,
    };
    if covered.is_empty() {
        notes.push(
            "no clip is in this window yet: the hold covers whatever is recorded in it".into(),
        );
    } else if covered
        .iter()
        .all(|c| policy::age(c, now) > settings.retention.hold_cap())
    {
        notes.push(
            "every clip it covers is already past the cap: this hold protects nothing".into(),
        );
    }

    clipwarden::pass::create_state_dir(&settings.state_dir)?;
    let registry = Registry::new(&settings.state_dir);
    let hold = {
        let lock = registry.lock(true, REGISTRY_WAIT)?;
        let existing = registry.load()?;
        let hold = RegistryHold {
            id: registry.new_id(&existing).to_string(),
            case: args.case.to_string(),
            reason: args.reason.trim().to_string(),
            created: now,
            created_by: who.name.clone(),
            created_uid: who.uid,
            until: capped,
            selector,
            released: None,
            ended: None,
            extended: Vec::new(),
            audit_seq: None,
        };
        registry.save(&hold, &lock)?;
        hold
    };
    let audited = record(settings, &registry, &hold.id, now, |h| {
        (
            "hold_created",
            serde_json::to_value(Created::of(h, false)).expect("serialises"),
        )
    })?;
    if !audited {
        notes.push("a pass is running: the hold is in force now, and its audit entry will be written by the next pass".into());
    }
    let hold = registry
        .load()?
        .into_iter()
        .find(|h| h.id == hold.id)
        .unwrap_or(hold);

    if cli.json {
        emit_json(&HoldJson {
            state: state_of(&hold, now),
            cap,
            hold: &hold,
        })?;
    } else {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "hold {} placed for case {} by {}",
            hold.id, hold.case, hold.created_by
        );
        let _ = writeln!(o, "{}", summary(&hold, &covered, &scan, settings, cap, now));
        for n in notes.iter() {
            let _ = writeln!(o, "note: {n}");
        }
        let _ = writeln!(
            o,
            "\nBefore {}, export what must be kept longer:\n  clipwarden export --case {} --dest /media/<usb-disk>",
            cap.map_or_else(|| "the cap".to_string(), |c| human::time(c, z)),
            hold.case
        );
        emit(&o)?;
    }
    Ok(Code::Ok)
}

/// Per camera: first and last covered clip, gaps, bytes, and when the footage reaches the cap.
fn summary(
    hold: &RegistryHold,
    covered: &[&Clip],
    scan: &Scan,
    settings: &Settings,
    cap: Option<Timestamp>,
    now: Timestamp,
) -> String {
    let z = &settings.timezone;
    let mut o = String::new();
    let mut by_camera: std::collections::BTreeMap<&str, Vec<&Clip>> = Default::default();
    for c in covered {
        by_camera.entry(scan.camera_name(c)).or_default().push(c);
    }
    if let Selector::Window { cameras, from, to } = &hold.selector {
        let _ = writeln!(
            o,
            "window {} to {}",
            human::time(*from, z),
            human::time(*to, z)
        );
        for cam in cameras {
            by_camera.entry(cam.as_str()).or_default();
        }
    }
    for (cam, clips) in &mut by_camera {
        clips.sort_by_key(|c| c.recorded);
        let bytes: u64 = clips.iter().map(|c| c.meta.size).sum();
        let (Some(first), Some(last)) = (clips.first(), clips.last()) else {
            let _ = writeln!(
                o,
                "  {}: no clips recorded in the window",
                human::escape(cam.as_bytes())
            );
            continue;
        };
        let _ = writeln!(
            o,
            "  {}: {} ({}), first {}, last {}",
            human::escape(cam.as_bytes()),
            human::plural(clips.len() as u64, "clip", "clips"),
            human::bytes(bytes),
            human::time(first.recorded, z),
            human::time(last.recorded, z),
        );
        for g in gaps(clips, &hold.selector, now) {
            let _ = writeln!(
                o,
                "    gap: nothing recorded from {} to {} ({})",
                human::time(g.0, z),
                human::time(g.1, z),
                human::span(g.1.duration_since(g.0))
            );
        }
    }
    if let Some(c) = cap {
        let _ = write!(
            o,
            "held until {}; the footage reaches the {}-day cap on {} ({})",
            hold.until
                .map_or_else(|| "the cap".to_string(), |u| human::time(u, z)),
            settings.retention.hold_cap_days,
            human::time(c, z),
            human::relative(c, now)
        );
    }
    o
}

/// Stretches of the window with no recording longer than a minute, edges included.
fn gaps(clips: &[&Clip], selector: &Selector, now: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    const SLACK: SignedDuration = SignedDuration::from_secs(60);
    let mut out = Vec::new();
    let (mut covered_to, end) = match selector {
        Selector::Window { from, to, .. } => (*from, (*to).min(now)),
        Selector::Paths { .. } => return out,
    };
    for c in clips {
        if c.span.0.duration_since(covered_to) > SLACK {
            out.push((covered_to, c.span.0));
        }
        covered_to = covered_to.max(c.span.1);
    }
    if end.duration_since(covered_to) > SLACK {
        out.push((covered_to, end));
    }
    out
}

/// Appends a hold's audit entry under the state lock and stamps the hold with its `seq` (for
/// `hold_created`). False when a running pass holds the lock: the next pass writes it.
fn record(
    settings: &Settings,
    registry: &Registry,
    id: &str,
    now: Timestamp,
    entry: impl Fn(&RegistryHold) -> (&'static str, serde_json::Value),
) -> Result<bool> {
    let lock = match StateLock::acquire(&settings.state_dir, AUDIT_WAIT) {
        Ok(l) => l,
        Err(clipwarden::lock::LockError::Busy { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut audit = AuditLog::open(&lock, now)?;
    let reg_lock = registry.lock(true, REGISTRY_WAIT)?;
    let mut hold = registry
        .load()?
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| anyhow::anyhow!("hold {id} vanished while it was being recorded"))?;
    let (event, fields) = entry(&hold);
    if event == "hold_created" && hold.audit_seq.is_some() {
        // A pass recorded it while this command waited for the lock.
        return Ok(true);
    }
    let appended = audit.append(now, event, &fields)?;
    audit.sync()?;
    if event == "hold_created" {
        hold.audit_seq = Some(appended.seq);
        registry.save(&hold, &reg_lock)?;
    }
    let mut state = State::load(&settings.state_dir)?;
    if state.known_holds.insert(id.to_string()) {
        state.save(&settings.state_dir)?;
    }
    Ok(true)
}

pub fn list(cli: &Cli, settings: &Settings) -> Result<Code> {
    let now = Timestamp::now();
    let holds = Registry::new(&settings.state_dir).load()?;
    if cli.json {
        let rows: Vec<HoldJson<'_>> = holds
            .iter()
            .map(|h| HoldJson {
                hold: h,
                state: state_of(h, now),
                cap: None,
            })
            .collect();
        emit_json(&rows)?;
        return Ok(Code::Ok);
    }
    let z = &settings.timezone;
    let mut o = String::new();
    for h in &holds {
        let what = match &h.selector {
            Selector::Window { cameras, from, to } => format!(
                "{} {} to {}",
                cameras.join(","),
                human::time(*from, z),
                human::time(*to, z)
            ),
            Selector::Paths { paths } => human::plural(paths.len() as u64, "path", "paths"),
        };
        let _ = writeln!(
            o,
            "{}  {:<8}  {:<20}  {}  until {}  by {} {}",
            h.id,
            state_of(h, now),
            h.case,
            what,
            h.until
                .map_or_else(|| "the cap".to_string(), |u| human::time(u, z)),
            h.created_by,
            human::time(h.created, z)
        );
    }
    let _ = writeln!(o, "{}", human::plural(holds.len() as u64, "hold", "holds"));
    emit(&o)?;
    Ok(Code::Ok)
}

fn find(settings: &Settings, typed: &str) -> Result<(Registry, RegistryHold)> {
    let id = HoldId::parse(typed).map_err(Exit::usage)?;
    let registry = Registry::new(&settings.state_dir);
    let hold = registry
        .load()?
        .into_iter()
        .find(|h| h.id == id.as_str())
        .ok_or_else(|| {
            Exit::usage(format!(
                "no hold {id} in the registry (see `clipwarden hold list`)"
            ))
        })?;
    Ok((registry, hold))
}

#[derive(Serialize)]
struct ShowClip {
    #[serde(flatten)]
    path: JsonPath,
    camera: String,
    recorded: Timestamp,
    bytes: u64,
    expires: Option<Timestamp>,
}

pub fn show(cli: &Cli, settings: &Settings, typed: &str) -> Result<Code> {
    let (_, hold) = find(settings, typed)?;
    let now = Timestamp::now();
    let (scan, holds) = full_scan(settings, now);
    let rules = rules_for(settings, &scan.cameras);
    let covered: Vec<&Clip> = select::covered(&hold.selector, settings, &scan)
        .into_iter()
        .map(|i| &scan.clips[i])
        .collect();
    let cap = cap_of(&hold.selector, &covered, settings.retention.hold_cap());
    let clips: Vec<ShowClip> = covered
        .iter()
        .map(|c| {
            let mut cov = Vec::new();
            holds.covering(c, &mut cov);
            ShowClip {
                path: JsonPath::new(&c.path(&settings.roots[usize::from(c.root())].path)),
                camera: scan.camera_name(c).to_string(),
                recorded: c.recorded,
                bytes: c.meta.size,
                expires: policy::expires(c, &cov, &holds, &rules, now),
            }
        })
        .collect();
    if cli.json {
        #[derive(Serialize)]
        struct Show<'a> {
            #[serde(flatten)]
            hold: HoldJson<'a>,
            clips: Vec<ShowClip>,
        }
        emit_json(&Show {
            hold: HoldJson {
                hold: &hold,
                state: state_of(&hold, now),
                cap,
            },
            clips,
        })?;
        return Ok(Code::Ok);
    }
    let z = &settings.timezone;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "hold {} ({}), case {}",
        hold.id,
        state_of(&hold, now),
        hold.case
    );
    let _ = writeln!(o, "reason: {}", human::escape(hold.reason.as_bytes()));
    let _ = writeln!(
        o,
        "placed by {} (uid {}) at {}",
        hold.created_by,
        hold.created_uid,
        human::time(hold.created, z)
    );
    if let Some(r) = &hold.released {
        let _ = writeln!(
            o,
            "released by {} (uid {}) at {}: {}",
            r.by,
            r.uid,
            human::time(r.at, z),
            human::escape(r.reason.as_bytes())
        );
    }
    for e in &hold.extended {
        let _ = writeln!(
            o,
            "extended by {} at {} to {}",
            e.by,
            human::time(e.at, z),
            human::time(e.to, z)
        );
    }
    let _ = writeln!(o, "{}", summary(&hold, &covered, &scan, settings, cap, now));
    for c in &clips {
        let _ = writeln!(
            o,
            "  {}  {:<12} {:>10}  {}  {}",
            human::time(c.recorded, z),
            human::escape(c.camera.as_bytes()),
            human::bytes(c.bytes),
            c.expires.map_or_else(
                || "cannot be judged".into(),
                |e| format!("expires {}", human::time(e, z))
            ),
            human::escape(c.path.path.as_bytes())
        );
    }
    emit(&o)?;
    Ok(Code::Ok)
}

pub fn release(
    cli: &Cli,
    settings: &Settings,
    typed: &str,
    reason: &str,
    who: &Operator,
) -> Result<Code> {
    select::check_reason(reason)?;
    let now = Timestamp::now();
    let (registry, _) = find(settings, typed)?;
    let hold = {
        let lock = registry.lock(true, REGISTRY_WAIT)?;
        let (_, mut hold) = find(settings, typed)?;
        if let Some(r) = &hold.released {
            return Err(Exit::usage(format!(
                "hold {} (case {}) was already released by {} at {}",
                hold.id,
                hold.case,
                r.by,
                human::time(r.at, &settings.timezone)
            ))
            .into());
        }
        hold.released = Some(Release {
            at: now,
            by: who.name.clone(),
            uid: who.uid,
            reason: reason.trim().to_string(),
        });
        registry.save(&hold, &lock)?;
        hold
    };
    let audited = record(settings, &registry, &hold.id, now, |h| {
        let r = h.released.as_ref().expect("just released");
        let e = Released {
            id: &h.id,
            case: &h.case,
            by: &r.by,
            uid: r.uid,
            reason: &r.reason,
        };
        (
            "hold_released",
            serde_json::to_value(e).expect("serialises"),
        )
    })?;
    if cli.json {
        emit_json(&HoldJson {
            hold: &hold,
            state: state_of(&hold, now),
            cap: None,
        })?;
    } else {
        emit(&format!(
            "released hold {} for case {}: its footage past retention goes at the next pass{}\n",
            hold.id,
            hold.case,
            if audited {
                ""
            } else {
                " (a pass is running; it records the release)"
            }
        ))?;
    }
    Ok(Code::Ok)
}

pub fn extend(
    cli: &Cli,
    settings: &Settings,
    typed: &str,
    until: &str,
    who: &Operator,
) -> Result<Code> {
    let now = Timestamp::now();
    let z = &settings.timezone;
    let until = timearg::parse(until, Role::Ahead, z, now)
        .map_err(|e| Exit::usage(format!("--until: {e}")))?;
    eprintln!("--until {}", timearg::echo(&until, z, now));
    let (registry, _) = find(settings, typed)?;
    let (scan, _) = full_scan(settings, now);
    let (hold, capped, was) = {
        let lock = registry.lock(true, REGISTRY_WAIT)?;
        let (_, mut hold) = find(settings, typed)?;
        if !hold.is_active(now) {
            return Err(Exit::usage(format!(
                "hold {} is {}: a new hold is needed",
                hold.id,
                state_of(&hold, now)
            ))
            .into());
        }
        let Some(was) = hold.until else {
            return Err(Exit::usage(format!(
                "hold {} has no end date: it already runs to the {}-day cap, which nothing extends",
                hold.id, settings.retention.hold_cap_days
            ))
            .into());
        };
        if until.latest <= was {
            return Err(Exit::usage(format!(
                "--until {} is not later than the hold's current end ({}): extend never shortens a hold; release it instead",
                human::time(until.latest, z),
                human::time(was, z)
            ))
            .into());
        }
        let covered: Vec<&Clip> = select::covered(&hold.selector, settings, &scan)
            .into_iter()
            .map(|i| &scan.clips[i])
            .collect();
        let cap = cap_of(&hold.selector, &covered, settings.retention.hold_cap());
        let new = cap.map_or(until.latest, |c| until.latest.min(c));
        let capped = new < until.latest;
        hold.until = Some(new);
        hold.extended.push(Extension {
            at: now,
            by: who.name.clone(),
            uid: who.uid,
            from: Some(was),
            to: new,
        });
        registry.save(&hold, &lock)?;
        (hold, capped, was)
    };
    let new = hold.until.expect("just set");
    record(settings, &registry, &hold.id, now, |h| {
        let e = Extended {
            id: &h.id,
            case: &h.case,
            by: &who.name,
            uid: who.uid,
            until_was: Some(was),
            until: new,
            capped,
        };
        (
            "hold_extended",
            serde_json::to_value(e).expect("serialises"),
        )
    })?;
    if cli.json {
        emit_json(&HoldJson {
            hold: &hold,
            state: state_of(&hold, now),
            cap: None,
        })?;
    } else {
        emit(&format!(
            "hold {} (case {}) now runs until {}{}\n",
            hold.id,
            hold.case,
            human::time(new, z),
            if capped {
                format!(
                    ", capped at the {}-day cap",
                    settings.retention.hold_cap_days
                )
            } else {
                String::new()
            }
        ))?;
    }
    Ok(Code::Ok)
}
