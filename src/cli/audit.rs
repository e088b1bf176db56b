//! `clipwarden audit verify [--anchor SEQ:HASH]` and `audit tail [-n N]`.

use std::fmt::Write;

use anyhow::Result;
use clipwarden::audit::{self, Anchor};
use clipwarden::config::Settings;
use clipwarden::exit::{Code, Exit};
use clipwarden::human;
use jiff::Timestamp;
use serde_json::Value;

use super::Cli;
use super::output::{emit, emit_json};

pub fn verify(cli: &Cli, settings: &Settings, anchor: Option<&str>) -> Result<Code> {
    let anchor = anchor
        .map(|a| {
            a.parse::<Anchor>()
                .map_err(|e| Exit::usage(format!("--anchor: {e}")))
        })
        .transpose()?;
    if audit::segments(&settings.state_dir).map_or(true, |s| s.is_empty()) {
        return missing_log(cli, settings);
    }
    let report = audit::verify(&settings.state_dir, anchor)?;
    if cli.json {
        emit_json(&report)?;
    } else {
        let mut o = String::new();
        match &report.problem {
            None => {
                let _ = writeln!(
                    o,
                    "audit log OK: {} entries (seq {} to {}) in {} segments",
                    human::count(report.entries),
                    report.first_seq.map_or("-".into(), |s| s.to_string()),
                    report.last_seq.map_or("-".into(), |s| s.to_string()),
                    report.segments.len()
                );
                if let Some(p) = report.pruned_before {
                    let _ = writeln!(
                        o,
                        "entries before seq {p} were pruned, as an audit_pruned entry records"
                    );
                }
                if let Some(a) = &report.anchor {
                    let _ = writeln!(o, "anchor {a} is in the log");
                }
                if let Some(h) = &report.head_hash {
                    let _ = writeln!(o, "head {}:{h}", report.last_seq.unwrap_or(0));
                }
            }
            Some(p) => {
                let _ = writeln!(o, "audit log FAILED verification at {p}");
                let _ = writeln!(
                    o,
                    "{} entries before it check out",
                    human::count(report.entries)
                );
            }
        }
        emit(&o)?;
    }
    Ok(if report.is_ok() {
        Code::Ok
    } else {
        Code::VerifyFailed
    })
}

/// No audit log at all: fine on a new box, a failure once passes have run (someone removed it).
fn missing_log(cli: &Cli, settings: &Settings) -> Result<Code> {
    let state = clipwarden::state::State::load(&settings.state_dir)?;
    let (ok, message) = match state.last_clock {
        None => (true, "no audit log yet: no pass has run".to_string()),
        Some(t) => (
            false,
            format!(
                "the audit log is missing from {}, although passes have run (the last at {}): it was removed",
                settings.state_dir.display(),
                human::time(t, &settings.timezone)
            ),
        ),
    };
    if cli.json {
        emit_json(
            &serde_json::json!({ "entries": 0, "ok": ok, "problem": (!ok).then_some(&message) }),
        )?;
    } else {
        emit(&format!(
            "{}{message}\n",
            if ok {
                ""
            } else {
                "audit log FAILED verification: "
            }
        ))?;
    }
    Ok(if ok { Code::Ok } else { Code::VerifyFailed })
}

pub fn tail(cli: &Cli, settings: &Settings, n: usize) -> Result<Code> {
    let lines = if audit::segments(&settings.state_dir).map_or(true, |s| s.is_empty()) {
        Vec::new()
    } else {
        audit::tail(&settings.state_dir, n)?
    };
    if cli.json {
        let values: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.clone())))
            .collect();
        emit_json(&values)?;
        return Ok(Code::Ok);
    }
    let mut o = String::new();
    for line in &lines {
        let _ = writeln!(o, "{}", describe(line, settings));
    }
    emit(&o)?;
    Ok(Code::Ok)
}

/// One entry as a line for a person: seq, local time, event, then its fields in short.
fn describe(line: &str, settings: &Settings) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
        return format!("(unreadable line) {}", human::escape(line.as_bytes()));
    };
    let seq = map.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let ts = map
        .get("ts")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(|| "?".into(), |t| human::time(t, &settings.timezone));
    let event = map.get("event").and_then(Value::as_str).unwrap_or("?");
    let mut o = format!("#{seq} {ts} {event}");
    for (k, v) in &map {
        if matches!(k.as_str(), "seq" | "ts" | "event" | "prev" | "hash") {
            continue;
        }
        let shown = match v {
            Value::String(s) => human::escape(s.as_bytes()),
            Value::Array(a) => format!("[{} items]", a.len()),
            Value::Object(_) => "{…}".into(),
            other => other.to_string(),
        };
        let _ = write!(o, " {k}={shown}");
    }
    o
}
