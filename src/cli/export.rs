//! `clipwarden export --case REF --dest DIR` and `export verify DIR`: evidence copies for a
//! police or access request, with a SHA-256 manifest for chain of custody.

use std::fmt::Write;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clipwarden::audit::AuditLog;
use clipwarden::clip::Clip;
use clipwarden::config::Settings;
use clipwarden::exit::{Code, Exit};
use clipwarden::export::{self, ExportedFile, ExportedHold, Manifest};
use clipwarden::holds::registry::Registry;
use clipwarden::lock::StateLock;
use clipwarden::pass::LOCK_WAIT;
use clipwarden::{human, paths};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::output::{emit, emit_json};
use super::select::check_case;
use super::status::full_scan;
use super::{Cli, Operator};

#[derive(Serialize)]
struct ExportEntry<'a> {
    case: &'a str,
    dest: String,
    files: usize,
    bytes: u64,
    manifest_sha256: &'a str,
    fs_uuid: Option<String>,
    fs_label: Option<String>,
    by: &'a str,
    uid: u32,
}

pub fn run(
    cli: &Cli,
    settings: &Settings,
    case: &str,
    dest: &Path,
    who: &Operator,
) -> Result<Code> {
    check_case(case)?;
    let now = Timestamp::now();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let dest = paths::normalize(&cwd.join(dest))
        .ok_or_else(|| Exit::usage("--dest is not a usable path"))?;
    for form in paths::forms(&dest) {
        if paths::is_system_dir(&form) || paths::is_within(&form, &settings.state_dir) {
            return Err(Exit::usage(format!(
                "--dest {} is a system or state directory: export somewhere else, like a USB disk",
                form.display()
            ))
            .into());
        }
        if let Some(r) = settings
            .roots
            .iter()
            .find(|r| paths::is_within(&form, &r.path))
        {
            return Err(Exit::usage(format!(
                "--dest {} lies inside the root {}: an export there would itself be swept away",
                form.display(),
                r.path.display()
            ))
            .into());
        }
    }
    if !dest.is_dir() {
        return Err(Exit::usage(format!(
            "--dest {} is not a directory (mount the disk first)",
            dest.display()
        ))
        .into());
    }
    let case_dir = dest.join(case);
    if case_dir.symlink_metadata().is_ok() {
        return Err(Exit::new(
            Code::Runtime,
            format!(
                "{} exists: an earlier export is never overwritten; choose another --dest",
                case_dir.display()
            ),
        )
        .into());
    }

    // Fail closed: without the registry, which clips the case holds is unknown.
    Registry::new(&settings.state_dir).load()?;
    let (scan, holds) = full_scan(settings, now);
    let mut clips: Vec<&Clip> = Vec::new();
    let mut under: std::collections::BTreeSet<u32> = Default::default();
    let mut cov = Vec::new();
    for c in &scan.clips {
        cov.clear();
        holds.covering(c, &mut cov);
        let ours: Vec<u32> = cov
            .iter()
            .copied()
            .filter(|&h| {
                let hold = holds.get(h);
                hold.is_active(now)
                    && hold
                        .case
                        .as_deref()
                        .is_some_and(|k| k.eq_ignore_ascii_case(case))
            })
            .collect();
        if !ours.is_empty() {
            under.extend(ours);
            clips.push(c);
        }
    }
    if clips.is_empty() {
        return Err(Exit::new(
            Code::Runtime,
            format!(
                "no clip is held under case {case}: nothing exported (see `clipwarden hold list`)"
            ),
        )
        .into());
    }
    clips.sort_by(|a, b| (scan.camera_name(a), a.recorded).cmp(&(scan.camera_name(b), b.recorded)));
    let total: u64 = clips.iter().map(|c| c.meta.size).sum();

    std::fs::create_dir(&case_dir)
        .with_context(|| format!("cannot create {}", case_dir.display()))?;
    let mut files = Vec::with_capacity(clips.len());
    let mut done = 0u64;
    let tty = std::io::stderr().is_terminal() && !cli.quiet;
    for (i, c) in clips.iter().enumerate() {
        let camera = scan.camera_name(c);
        let safe_camera: String = camera
            .chars()
            .map(|ch| {
                if ch.is_alphanumeric() || "-_.".contains(ch) {
                    ch
                } else {
                    '_'
                }
            })
            .collect();
        let ext = std::path::Path::new(std::ffi::OsStr::new(
            &String::from_utf8_lossy(&c.name).into_owned(),
        ))
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "bin".into());
        let stamp = c
            .recorded
            .to_zoned_datetime(TimeZone::UTC)
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        std::fs::create_dir_all(case_dir.join(&safe_camera))?;
        let mut rel = format!("{safe_camera}/{safe_camera}_{stamp}.{ext}");
        let mut n = 2;
        while case_dir.join(&rel).exists() {
            rel = format!("{safe_camera}/{safe_camera}_{stamp}_{n}.{ext}");
            n += 1;
        }
        let root = &settings.roots[usize::from(c.root())].path;
        let src_dir = export::open_source_dir(root, &c.dir.rel)?;
        let source = c.path(root);
        let (sha256, bytes) = export::copy_clip(
            std::os::fd::AsFd::as_fd(&src_dir),
            &c.name,
            &case_dir.join(&rel),
            &mut |k| {
                done += k;
                if tty {
                    eprint!(
                        "\rcopying {}/{} clips, {} of {}   ",
                        i + 1,
                        clips.len(),
                        human::bytes(done),
                        human::bytes(total)
                    );
                }
            },
        )
        .with_context(|| format!("copying {}", source.display()))?;
        files.push(ExportedFile {
            file: rel,
            source: source.to_string_lossy().into_owned(),
            camera: camera.to_string(),
            recorded: c.recorded,
            bytes,
            sha256,
        });
    }
    if tty {
        eprintln!();
    }
    for d in std::fs::read_dir(&case_dir)?.flatten() {
        clipwarden::atomic::sync_dir(&d.path()).ok();
    }
    let manifest = Manifest {
        case: case.to_string(),
        created: now,
        by: who.name.clone(),
        uid: who.uid,
        tool: format!("clipwarden {}", env!("CARGO_PKG_VERSION")),
        holds: under
            .iter()
            .map(|&h| {
                let hold = holds.get(h);
                ExportedHold {
                    label: hold.label.clone(),
                    case: hold.case.clone(),
                    reason: hold.reason.clone(),
                    until: hold.until,
                }
            })
            .collect(),
        files,
    };
    let sum = export::write_manifest(&case_dir, &manifest)?;
    clipwarden::atomic::sync_dir(&dest)?;
    let (fs_uuid, fs_label) = export::fs_identity(&dest);
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();

    clipwarden::pass::create_state_dir(&settings.state_dir)?;
    let lock = StateLock::acquire(&settings.state_dir, LOCK_WAIT)?;
    let mut audit = AuditLog::open(&lock, now)?;
    let entry = ExportEntry {
        case,
        dest: case_dir.display().to_string(),
        files: manifest.files.len(),
        bytes,
        manifest_sha256: &sum,
        fs_uuid: fs_uuid.clone(),
        fs_label: fs_label.clone(),
        by: &who.name,
        uid: who.uid,
    };
    audit.append(now, "export", &entry)?;
    audit.sync()?;

    if cli.json {
        emit_json(&entry)?;
    } else {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "exported {} ({}) for case {case} to {}",
            human::plural(manifest.files.len() as u64, "clip", "clips"),
            human::bytes(bytes),
            case_dir.display()
        );
        let _ = writeln!(o, "manifest SHA-256 {sum}");
        let _ = writeln!(
            o,
            "filesystem: {}{}",
            fs_uuid.map_or_else(|| "no UUID".into(), |u| format!("UUID {u}")),
            fs_label.map_or_else(String::new, |l| format!(", label {l}"))
        );
        let _ = writeln!(
            o,
            "check it at any time with: clipwarden export verify {}",
            case_dir.display()
        );
        emit(&o)?;
    }
    Ok(Code::Ok)
}

pub fn verify(cli: &Cli, dir: &Path) -> Result<Code> {
    let case_dir = export::find_case_dir(dir).map_err(Exit::verify_failed)?;
    let v = export::verify(&case_dir);
    if cli.json {
        emit_json(&v)?;
    } else {
        let mut o = String::new();
        if v.is_ok() {
            let _ = writeln!(
                o,
                "export OK: {} ({}) match the manifest of case {} (SHA-256 {})",
                human::plural(v.files as u64, "file", "files"),
                human::bytes(v.bytes),
                v.case.as_deref().unwrap_or("?"),
                v.manifest_sha256.as_deref().unwrap_or("?")
            );
        } else {
            let _ = writeln!(o, "export FAILED verification in {}:", case_dir.display());
            for p in &v.problems {
                let _ = writeln!(o, "  {}", human::escape(p.as_bytes()));
            }
        }
        emit(&o)?;
    }
    Ok(if v.is_ok() {
        Code::Ok
    } else {
        Code::VerifyFailed
    })
}
