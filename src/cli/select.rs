//! What `hold add` and `erase` select: cameras and a window (every clip whose recording
//! overlaps it), or clip paths. Typed times are resolved and echoed; paths are checked against
//! the roots, the system directories and the state directory.

use std::path::{Path, PathBuf};

use clipwarden::clip::Clip;
use clipwarden::config::Settings;
use clipwarden::exit::Exit;
use clipwarden::holds::registry::Selector;
use clipwarden::scan::Scan;
use clipwarden::timearg::{self, MAX_AHEAD, Role};
use clipwarden::{human, paths};
use jiff::Timestamp;

use super::output::match_cameras;

/// The selection flags as typed.
pub struct Typed<'a> {
    pub cameras: &'a [String],
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub paths: &'a [PathBuf],
}

/// The `--case` rule: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
pub fn check_case(case: &str) -> Result<(), Exit> {
    let ok = !case.is_empty()
        && case.len() <= 64
        && case.as_bytes()[0].is_ascii_alphanumeric()
        && case
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Exit::usage(format!(
            "--case \"{}\" is not a case reference: up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (like POLICE-2026-0142)",
            human::escape(case.as_bytes())
        )))
    }
}

pub fn check_reason(reason: &str) -> Result<(), Exit> {
    if reason.trim().is_empty() {
        Err(Exit::usage(
            "--reason is empty: say why, in words a data-protection officer can read later",
        ))
    } else {
        Ok(())
    }
}

/// Resolves the selection against a scan. `window_rules` applies `hold add`'s limits on the
/// window (not in the future, at most 24 h ahead). Echoes resolved times on stderr.
pub fn resolve(
    typed: &Typed<'_>,
    settings: &Settings,
    scan: &Scan,
    now: Timestamp,
    window_rules: bool,
) -> Result<Selector, Exit> {
    let z = &settings.timezone;
    let window = !typed.cameras.is_empty() || typed.from.is_some() || typed.to.is_some();
    match (window, typed.paths.is_empty()) {
        (true, false) => {
            return Err(Exit::usage(
                "give either --camera with --from and --to, or --path, not both",
            ));
        }
        (false, true) => {
            return Err(Exit::usage(
                "say what to select: --camera C --from T --to T, or --path P",
            ));
        }
        _ => {}
    }
    if !window {
        return resolve_paths(typed.paths, settings, scan).map(|paths| Selector::Paths { paths });
    }
    let (Some(from), Some(to)) = (typed.from, typed.to) else {
        return Err(Exit::usage("a window needs both --from and --to"));
    };
    if typed.cameras.is_empty() {
        return Err(Exit::usage("a window needs at least one --camera"));
    }
    let from = timearg::parse(from, Role::From, z, now)
        .map_err(|e| Exit::usage(format!("--from: {e}")))?;
    let to = timearg::parse(to, Role::To(from.earliest), z, now)
        .map_err(|e| Exit::usage(format!("--to: {e}")))?;
    eprintln!("--from {}", timearg::echo(&from, z, now));
    eprintln!("--to   {}", timearg::echo(&to, z, now));
    let (from, to) = (from.earliest, to.latest);
    if from > to {
        return Err(Exit::usage("--from is after --to"));
    }
    if window_rules {
        if from > now {
            return Err(Exit::usage(
                "--from is in the future: footage that does not exist yet cannot be held",
            ));
        }
        if to.duration_since(now) > MAX_AHEAD {
            return Err(Exit::usage(
                "--to is more than 24 h ahead: hold what exists, and extend later if needed",
            ));
        }
    }
    let cameras = match_cameras(typed.cameras, &scan.cameras).map_err(Exit::usage)?;
    Ok(Selector::Window { cameras, from, to })
}

/// Each `--path` must be a clip in a root, and resolve into no system or state directory.
fn resolve_paths(typed: &[PathBuf], settings: &Settings, scan: &Scan) -> Result<Vec<String>, Exit> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut out = Vec::new();
    for p in typed {
        let shown = human::escape_path(p);
        let abs = paths::normalize(&cwd.join(p))
            .ok_or_else(|| Exit::usage(format!("--path {shown} is not a usable path")))?;
        for form in paths::forms(&abs) {
            if paths::is_system_dir(&form) || paths::is_within(&form, &settings.state_dir) {
                return Err(Exit::usage(format!(
                    "--path {shown} resolves to {}, a system or state directory: never",
                    form.display()
                )));
            }
        }
        let clip = find_clip(&abs, settings, scan).ok_or_else(|| {
            Exit::usage(format!(
                "--path {shown} is not a clip in any root (roots: {})",
                settings
                    .roots
                    .iter()
                    .map(|r| human::escape_path(&r.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let path = clip.path(&settings.roots[usize::from(clip.root())].path);
        let text = path.to_str().ok_or_else(|| {
            Exit::usage(format!(
                "--path {shown} is not UTF-8: hold it by camera and window instead"
            ))
        })?;
        if !out.iter().any(|o| o == text) {
            out.push(text.to_string());
        }
    }
    Ok(out)
}

/// The scanned clip at `abs`, matched against the roots as configured and as resolved.
fn find_clip<'a>(abs: &Path, settings: &Settings, scan: &'a Scan) -> Option<&'a Clip> {
    let canonical = std::fs::canonicalize(abs).ok();
    scan.clips.iter().find(|c| {
        let root = &settings.roots[usize::from(c.root())].path;
        let p = c.path(root);
        p == abs
            || canonical
                .as_ref()
                .is_some_and(|k| std::fs::canonicalize(&p).ok().as_ref() == Some(k))
    })
}

/// Indices of the scanned clips the selection covers.
pub fn covered(selector: &Selector, settings: &Settings, scan: &Scan) -> Vec<usize> {
    let root_paths: Vec<&Path> = settings.roots.iter().map(|r| r.path.as_path()).collect();
    let holds = clipwarden::holds::Holds::selection(selector, &scan.cameras, &root_paths);
    let mut cov = Vec::new();
    (0..scan.clips.len())
        .filter(|&i| {
            cov.clear();
            holds.covering(&scan.clips[i], &mut cov);
            !cov.is_empty()
        })
        .collect()
}
