//! `clipwarden erase (--camera C… --from T --to T | --path P…) --reason TEXT [--dry-run]`: a
//! data subject's erasure request, all or nothing, through the same executor and audit log as
//! every other deletion.

use std::fmt::Write;
use std::io::{BufRead, IsTerminal};

use anyhow::Result;
use clipwarden::audit::AuditLog;
use clipwarden::config::Settings;
use clipwarden::execute::{Executor, LiveRegistry, Outcome, Request};
use clipwarden::exit::{Code, Exit};
use clipwarden::guard;
use clipwarden::holds::registry::Registry;
use clipwarden::human;
use clipwarden::lock::StateLock;
use clipwarden::pass::{LOCK_WAIT, rules_for};
use clipwarden::policy::{self, Action, Keep, Plan, Reason, Verdict};
use clipwarden::state::State;
use jiff::Timestamp;
use serde::Serialize;

use super::output::{JsonPath, emit, emit_json};
use super::select::{self, Typed};
use super::status::full_scan;
use super::{Cli, Operator};

#[derive(Serialize)]
struct Row {
    #[serde(flatten)]
    path: JsonPath,
    camera: String,
    recorded: Timestamp,
    bytes: u64,
    /// `erase`, or why it cannot go: `held`, `being_written`, `unjudgeable`.
    status: &'static str,
    holds: Vec<String>,
}

#[derive(Serialize)]
struct Report {
    dry_run: bool,
    erased: bool,
    clips: Vec<Row>,
    deleted: u64,
    bytes_deleted: u64,
}

pub fn run(
    cli: &Cli,
    settings: &Settings,
    typed: Typed<'_>,
    reason: &str,
    dry_run: bool,
    who: &Operator,
) -> Result<Code> {
    select::check_reason(reason)?;
    let now = Timestamp::now();
    let registry = Registry::new(&settings.state_dir);
    registry.load().map_err(|e| {
        Exit::refused(format!("{e}; nothing is erased until it is readable, since a hold in it might cover these clips"))
    })?;
    let (scan, holds) = full_scan(settings, now);
    let selector = select::resolve(&typed, settings, &scan, now, false)?;
    let mut selected = select::covered(&selector, settings, &scan);
    selected.sort_by(|&a, &b| {
        let (x, y) = (&scan.clips[a], &scan.clips[b]);
        (scan.camera_name(x), x.recorded).cmp(&(scan.camera_name(y), y.recorded))
    });
    let rules = rules_for(settings, &scan.cameras);

    let mut rows = Vec::new();
    let mut actions = Vec::new();
    let mut blocked = 0;
    for &i in &selected {
        let c = &scan.clips[i];
        let mut cov = Vec::new();
        holds.covering(c, &mut cov);
        let status = match policy::decide_erasure(c, &cov, &holds, &rules, now) {
            Verdict::Delete { .. } => {
                actions.push(Action {
                    clip: i,
                    reason: Reason::Erasure,
                    limit: jiff::SignedDuration::ZERO,
                    holds: cov.clone(),
                });
                "erase"
            }
            Verdict::Keep(Keep::Held) => "held",
            Verdict::Keep(Keep::BeingWritten) => "being_written",
            Verdict::Keep(Keep::Unjudgeable { .. }) => "unjudgeable",
            Verdict::NotDue => unreachable!("an erasure has no age limit"),
        };
        blocked += usize::from(status != "erase");
        rows.push(Row {
            path: JsonPath::new(&c.path(&settings.roots[usize::from(c.root())].path)),
            camera: scan.camera_name(c).to_string(),
            recorded: c.recorded,
            bytes: c.meta.size,
            status,
            holds: cov.iter().map(|&h| holds.get(h).label.clone()).collect(),
        });
    }
    let bytes: u64 = actions.iter().map(|a| scan.clips[a.clip].meta.size).sum();
    let mut report = Report {
        dry_run,
        erased: false,
        clips: rows,
        deleted: 0,
        bytes_deleted: 0,
    };
    let show = |report: &Report, head: &str| -> Result<()> {
        if cli.json {
            return emit_json(report);
        }
        let mut o = format!("{head}\n");
        for r in &report.clips {
            let _ = writeln!(
                o,
                "  {:<13} {}  {:<12} {}{}",
                r.status,
                human::time(r.recorded, &settings.timezone),
                human::escape(r.camera.as_bytes()),
                human::escape(r.path.path.as_bytes()),
                if r.holds.is_empty() {
                    String::new()
                } else {
                    format!("  (held by {})", r.holds.join(", "))
                }
            );
        }
        emit(&o)
    };

    if selected.is_empty() {
        show(&report, "no clip matches: nothing to erase")?;
        return Ok(Code::Ok);
    }
    if blocked > 0 {
        show(
            &report,
            &format!(
                "nothing erased: {} of the {} selected cannot go now (held, still being written, or undatable); an erasure is all or nothing",
                human::plural(blocked as u64, "clip", "clips"),
                selected.len()
            ),
        )?;
        return Ok(Code::Refused);
    }
    if dry_run {
        show(
            &report,
            &format!(
                "would erase {} ({})",
                human::plural(actions.len() as u64, "clip", "clips"),
                human::bytes(bytes)
            ),
        )?;
        return Ok(Code::Ok);
    }
    // On a terminal a person confirms, whatever the output format.
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!(
            "Erase {} ({}) permanently, for \"{}\"? Type ERASE to confirm: ",
            human::plural(actions.len() as u64, "clip", "clips"),
            human::bytes(bytes),
            human::escape(reason.as_bytes())
        );
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "ERASE" {
            return Err(Exit::new(Code::Runtime, "not confirmed: nothing was erased").into());
        }
    }

    clipwarden::pass::create_state_dir(&settings.state_dir)?;
    let lock = StateLock::acquire(&settings.state_dir, LOCK_WAIT)?;
    let mut audit = AuditLog::open(&lock, now)?;
    let state = State::load(&settings.state_dir)?;
    if let Some(r) = guard::check_clock(now, state.last_clock, settings.safety.future_slack) {
        #[derive(Serialize)]
        struct Refused {
            guard: &'static str,
            message: String,
            command: &'static str,
        }
        audit.append(
            now,
            "guard_refused",
            &Refused {
                guard: r.guard(),
                message: r.explain(),
                command: "erase",
            },
        )?;
        audit.sync()?;
        return Err(Exit::refused(r.explain()).into());
    }
    let request = Request {
        by: who.name.clone(),
        uid: who.uid,
        reason: reason.trim().to_string(),
    };
    let live = LiveRegistry::new(&registry);
    let executor = Executor {
        roots: &settings.roots,
        cameras: &scan.cameras,
        rules: &rules,
        owners: settings.holds.marker_owners.as_ref(),
        zone: &settings.timezone,
        now,
        registry: Some(&live),
        request: Some(&request),
    };
    let plan = Plan {
        actions,
        kept: Vec::new(),
    };
    let done = executor.run(&scan.clips, &plan, &mut audit);
    let mut kept = 0;
    let mut failed = 0;
    for (a, o) in plan.actions.iter().zip(&done.outcomes) {
        match o {
            Some(Outcome::Deleted { bytes, .. }) => {
                report.deleted += 1;
                report.bytes_deleted += bytes;
            }
            Some(Outcome::Kept(why)) => {
                kept += 1;
                eprintln!(
                    "kept {}: {why}",
                    human::escape_path(
                        &scan.clips[a.clip]
                            .path(&settings.roots[usize::from(scan.clips[a.clip].root())].path)
                    )
                );
            }
            _ => failed += 1,
        }
    }
    report.erased =
        kept == 0 && failed == 0 && done.aborted.is_none() && done.registry_failed.is_none();
    show(
        &report,
        &format!(
            "erased {} ({}) for \"{}\"",
            human::plural(report.deleted, "clip", "clips"),
            human::bytes(report.bytes_deleted),
            human::escape(reason.as_bytes())
        ),
    )?;
    Ok(if done.registry_failed.is_some() || kept > 0 {
        Code::Refused
    } else if failed > 0 || done.aborted.is_some() {
        Code::Runtime
    } else {
        Code::Ok
    })
}
