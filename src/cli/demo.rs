//! `clipwarden demo [DIR]`: builds a small, realistic recorder in DIR (three cameras, twelve
//! days of segments, holds of every kind, strays) and shows a dry run and a sweep on it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clipwarden::exit::{Code, Exit};
use clipwarden::pass::{self, PassOptions};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::Cli;
use super::output::emit;

const CAMERAS: [&str; 3] = ["entrance", "bar", "yard"];
const DAYS: i64 = 12;
const SEGMENT_MINUTES: i64 = 10;

pub fn run(cli: &Cli, dir: Option<&Path>) -> Result<Code> {
    let dir = match dir {
        Some(d) => {
            if fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()) {
                return Err(Exit::usage(format!(
                    "{} is not empty: the demo builds into a new or empty directory",
                    d.display()
                ))
                .into());
            }
            fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.to_path_buf()
        }
        None => new_temp_dir()?,
    };
    let dir = fs::canonicalize(&dir)?;
    let now = Timestamp::now();
    let zone_name = TimeZone::try_system()
        .ok()
        .and_then(|z| z.iana_name().map(str::to_string))
        .filter(|n| TimeZone::get(n).is_ok())
        .unwrap_or_else(|| "UTC".into());
    let files = build_tree(&dir.join("recordings"), now)?;
    let config = dir.join("clipwarden.toml");
    fs::write(
        &config,
        format!(
            "# A demo config made by `clipwarden demo`; see config/clipwarden.toml for every key.\n\
             timezone = \"{zone_name}\"\n\
             state_dir = \"{}\"\n\n\
             [retention]\ndays = 7\nhold_cap_days = 30\n\n\
             [[root]]\npath = \"{}\"\nlayout = \"frigate\"\nextensions = [\"mp4\"]\n",
            dir.join("state").display(),
            dir.join("recordings").display()
        ),
    )?;
    let settings = clipwarden::config::load(&config).map_err(|e| Exit::usage(e.to_string()))?;

    let mut o = format!(
        "Built a sample recorder in {dir}:\n\
         - {files} clips from {n} cameras ({cams}): {DAYS} days of {SEGMENT_MINUTES}-minute segments in Frigate's layout (YYYY-MM-DD/HH/<camera>/MM.SS.mp4, UTC)\n\
         - a police hold on one 9-day-old clip (recordings/…/entrance/00.00.mp4.hold, case POLICE-2026-0142)\n\
         - an incident hold on a whole hour 10 days ago (recordings/…/21/.hold, case INC-2026-118)\n\
         - a 31-day-old clip held by a marker: past the 30-day cap, so it goes anyway\n\
         - a stray README.txt and a stray exported.mp4 that fit no layout: never deleted\n\
         Config: {config}\n\
         Policy: keep 7 days; a hold keeps footage up to 30 days, never longer.\n\n",
        dir = dir.display(),
        n = CAMERAS.len(),
        cams = CAMERAS.join(", "),
        config = config.display(),
    );

    o.push_str("=== 1. Dry run: what a sweep would do, deleting nothing ===\n\n");
    let dry = pass::run(
        &settings,
        PassOptions {
            dry_run: true,
            ..PassOptions::default()
        },
        now,
    )?;
    o.push_str(&super::sweep::text(&settings, &dry, true, cli.verbose > 0));

    o.push_str("\n=== 2. The sweep itself ===\n\n");
    let real = pass::run(&settings, PassOptions::default(), now)?;
    o.push_str(&super::sweep::text(
        &settings,
        &real,
        false,
        cli.verbose > 0,
    ));

    let report = clipwarden::audit::verify(&settings.state_dir, None)?;
    o.push_str(&format!(
        "\n=== 3. The audit log ===\n\n{} entries in {}, chain {}.\n",
        report.entries,
        settings.state_dir.join("audit.jsonl").display(),
        if report.is_ok() { "verified" } else { "BROKEN" }
    ));
    o.push_str(&format!(
        "\nLook around:\n  clipwarden --config {c} status\n  clipwarden --config {c} clips --camera entrance\n  clipwarden --config {c} audit tail\n  clipwarden --config {c} audit verify\n",
        c = config.display()
    ));
    emit(&o)?;
    Ok(if real.is_refused() {
        Code::Refused
    } else {
        Code::Ok
    })
}

fn new_temp_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    for i in 0..1000u32 {
        let d = base.join(format!("clipwarden-demo-{}-{i}", std::process::id()));
        match fs::create_dir(&d) {
            Ok(()) => return Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", d.display())),
        }
    }
    anyhow::bail!("cannot find a free directory name in {}", base.display())
}

/// Writes a sparse clip (realistic size, no disk used) whose mtime is the segment's end.
fn clip(root: &Path, start: Timestamp, camera: &str, size: u64) -> Result<PathBuf> {
    let t = start.to_zoned_datetime(TimeZone::UTC);
    let dir = root
        .join(t.strftime("%Y-%m-%d/%H").to_string())
        .join(camera);
    fs::create_dir_all(&dir)?;
    let path = dir.join(t.strftime("%M.%S.mp4").to_string());
    let f = File::create(&path)?;
    f.set_len(size)?;
    let end = start + SignedDuration::from_mins(SEGMENT_MINUTES);
    let mtime =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(end.as_second().max(0) as u64);
    f.set_modified(mtime.min(std::time::SystemTime::now()))?;
    Ok(path)
}

fn build_tree(root: &Path, now: Timestamp) -> Result<usize> {
    fs::create_dir_all(root)?;
    let seg = SEGMENT_MINUTES * 60;
    let latest = now.as_second() / seg * seg - seg;
    let first = latest - DAYS * 86_400;
    let mut count = 0;
    let mut n: u64 = 0;
    for start in (first..=latest).step_by(seg as usize) {
        for camera in CAMERAS {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let size = (20 << 20) + (n >> 40) % (10 << 20);
            clip(root, Timestamp::from_second(start)?, camera, size)?;
            count += 1;
        }
    }
    // A police request: one clip from nine days ago, held by its sidecar.
    let police = Timestamp::from_second((now.as_second() - 9 * 86_400) / 3600 * 3600)?;
    let held = clip(root, police, "entrance", 24 << 20)?;
    fs::write(
        held.with_extension("mp4.hold"),
        "case = \"POLICE-2026-0142\"\nreason = \"Police request: assault at the entrance\"\nby = \"duty manager\"\n",
    )?;
    // An incident: the whole 21:00 hour ten days ago, every camera.
    let incident =
        Timestamp::from_second((now.as_second() - 10 * 86_400) / 86_400 * 86_400 + 21 * 3600)?;
    let hour = root.join(
        incident
            .to_zoned_datetime(TimeZone::UTC)
            .strftime("%Y-%m-%d/%H")
            .to_string(),
    );
    fs::create_dir_all(&hour)?;
    fs::write(
        hour.join(".hold"),
        "case = \"INC-2026-118\"\nreason = \"Glass thrown at the bar\"\n",
    )?;
    // An old held clip: past the 30-day cap, so it is deleted anyway.
    let old = Timestamp::from_second((now.as_second() - 31 * 86_400) / 3600 * 3600)?;
    let capped = clip(root, old, "bar", 22 << 20)?;
    fs::write(
        capped.with_extension("mp4.hold"),
        "case = \"INC-2026-071\"\n",
    )?;
    fs::write(root.join("README.txt"), "not footage\n")?;
    File::create(root.join("exported.mp4"))?.set_len(1 << 20)?;
    Ok(count + 2)
}
