//! `clipwarden clips [--camera C] [--from T] [--to T]`: clips with their hold state and when
//! they expire.

use std::fmt::Write;

use anyhow::Result;
use clipwarden::config::Settings;
use clipwarden::exit::{Code, Exit};
use clipwarden::human;
use clipwarden::pass::rules_for;
use clipwarden::policy;
use clipwarden::timearg::{self, Role};
use jiff::Timestamp;
use serde::Serialize;

use super::Cli;
use super::output::{JsonPath, emit, emit_json, match_cameras};
use super::status::full_scan;

#[derive(Serialize)]
struct JsonClip {
    #[serde(flatten)]
    path: JsonPath,
    camera: String,
    recorded: Timestamp,
    bytes: u64,
    held: bool,
    holds: Vec<String>,
    /// When it is deleted if nothing changes; `null` while it cannot be judged.
    expires: Option<Timestamp>,
}

pub fn run(
    cli: &Cli,
    settings: &Settings,
    cameras: &[String],
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Code> {
    let now = Timestamp::now();
    let z = &settings.timezone;
    let from = from
        .map(|t| {
            timearg::parse(t, Role::From, z, now).map_err(|e| Exit::usage(format!("--from: {e}")))
        })
        .transpose()?;
    let start = from.map_or(Timestamp::MIN, |r| r.earliest);
    // Without --from, a --to has no start to follow: it means its most recent occurrence.
    let to_role = if from.is_some() {
        Role::To(start)
    } else {
        Role::Until
    };
    let to = to
        .map(|t| timearg::parse(t, to_role, z, now).map_err(|e| Exit::usage(format!("--to: {e}"))))
        .transpose()?;
    let end = to.map_or(Timestamp::MAX, |r| r.latest);
    if start > end {
        return Err(Exit::usage("--from is after --to").into());
    }
    if !cli.json {
        for (flag, r) in [("--from", from), ("--to", to)] {
            if let Some(r) = r {
                eprintln!("{flag} {}", timearg::echo(&r, z, now));
            }
        }
    }

    let (scan, holds) = full_scan(settings, now);
    let wanted = match_cameras(cameras, &scan.cameras).map_err(Exit::usage)?;
    let rules = rules_for(settings, &scan.cameras);
    let mut list: Vec<(&clipwarden::clip::Clip, Vec<u32>)> = scan
        .clips
        .iter()
        .filter(|c| wanted.is_empty() || wanted.iter().any(|w| w == scan.camera_name(c)))
        .filter(|c| c.span.0 <= end && c.span.1 >= start)
        .map(|c| {
            let mut cov = Vec::new();
            holds.covering(c, &mut cov);
            (c, cov)
        })
        .collect();
    list.sort_by(|a, b| {
        (scan.camera_name(a.0), a.0.recorded).cmp(&(scan.camera_name(b.0), b.0.recorded))
    });

    let rows: Vec<JsonClip> = list
        .iter()
        .map(|(c, cov)| JsonClip {
            path: JsonPath::new(&c.path(&settings.roots[usize::from(c.root())].path)),
            camera: scan.camera_name(c).to_string(),
            recorded: c.recorded,
            bytes: c.meta.size,
            held: cov.iter().any(|&h| holds.get(h).is_active(now)),
            holds: cov.iter().map(|&h| holds.get(h).label.clone()).collect(),
            expires: policy::expires(c, cov, &holds, &rules, now),
        })
        .collect();
    if cli.json {
        emit_json(&rows)?;
        return Ok(Code::Ok);
    }
    let mut o = String::new();
    for ((clip, _), r) in list.iter().zip(&rows) {
        let _ = writeln!(
            o,
            "{}  {:<12} {:>10}  {}  {}",
            human::time(r.recorded, z),
            human::escape(r.camera.as_bytes()),
            human::bytes(r.bytes),
            match r.expires {
                Some(e) if e <= now => "due now".to_string(),
                Some(e) => format!("expires {}", human::time(e, z)),
                None => "cannot be judged".to_string(),
            },
            human::escape_path(&clip.path(&settings.roots[usize::from(clip.root())].path)),
        );
        if r.held {
            let _ = writeln!(o, "    held by {}", r.holds.join(", "));
        }
    }
    let bytes: u64 = rows.iter().map(|r| r.bytes).sum();
    let held = rows.iter().filter(|r| r.held).count() as u64;
    let _ = writeln!(
        o,
        "{}, {}, {} held",
        human::plural(rows.len() as u64, "clip", "clips"),
        human::bytes(bytes),
        human::count(held)
    );
    emit(&o)?;
    Ok(Code::Ok)
}
