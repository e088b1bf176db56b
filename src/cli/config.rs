//! `clipwarden config check`: validate, probe each root, print the effective config.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use clipwarden::config::units::format_duration;
use clipwarden::config::{self as cfg, Root, Settings};
use clipwarden::exit::{Code, Exit};
use clipwarden::{guard, human};
use serde::Serialize;

use super::Cli;
use super::output::{emit, emit_json};

#[derive(Serialize)]
struct Probe {
    path: String,
    exists: bool,
    is_directory: bool,
    readable: bool,
    writable: bool,
    filesystem: Option<String>,
    mount_point: bool,
    free_bytes: Option<u64>,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct Check {
    valid: bool,
    files: Vec<String>,
    sha256: String,
    effective: String,
    roots: Vec<Probe>,
    state_dir: Probe,
}

pub fn check(cli: &Cli, path: &Path) -> Result<Code> {
    let settings = cfg::load(path).map_err(|e| Exit::usage(e.to_string()))?;
    let roots: Vec<Probe> = settings.roots.iter().map(probe_root).collect();
    let state_dir = probe_state_dir(&settings.state_dir);
    let report = Check {
        valid: true,
        files: settings
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        sha256: settings.fingerprint.clone(),
        effective: effective(&settings),
        roots,
        state_dir,
    };
    if cli.json {
        emit_json(&report)?;
        return Ok(Code::Ok);
    }
    let mut o = String::new();
    let _ = writeln!(o, "config OK: {}", report.files.join(", "));
    let _ = writeln!(o, "sha256 {}\n", report.sha256);
    o.push_str(&report.effective);
    let _ = writeln!(o, "\nprobes:");
    for p in report.roots.iter().chain([&report.state_dir]) {
        let fs = p.filesystem.as_deref().unwrap_or("?");
        let _ = writeln!(
            o,
            "  {}: {}{}{}{}",
            p.path,
            if p.exists {
                fs.to_string()
            } else {
                "missing".into()
            },
            if p.exists && p.readable {
                ", readable"
            } else {
                ""
            },
            if p.exists && p.writable {
                ", writable"
            } else {
                ""
            },
            p.free_bytes
                .map_or_else(String::new, |f| format!(", {} free", human::bytes(f)))
        );
        for problem in &p.problems {
            let _ = writeln!(o, "    WARNING: {problem}");
        }
    }
    emit(&o)?;
    Ok(Code::Ok)
}

/// The merged settings, written back as TOML a person can compare with the files.
fn effective(s: &Settings) -> String {
    let mut o = String::new();
    let q = |v: &str| toml::Value::String(v.to_string()).to_string();
    let _ = writeln!(o, "timezone = {}", q(&s.timezone_name));
    let _ = writeln!(o, "state_dir = {}", q(&s.state_dir.display().to_string()));
    let _ = writeln!(
        o,
        "\n[retention]\ndays = {}\nhold_cap_days = {}\nwarn_before = {}",
        s.retention.days,
        s.retention.hold_cap_days,
        q(&format_duration(s.retention.warn_before))
    );
    let _ = writeln!(
        o,
        "\n[safety]\nquiet_period = {}\nmax_delete_fraction = {}\nfuture_slack = {}",
        q(&format_duration(s.safety.quiet_period)),
        s.safety.max_delete_fraction,
        q(&format_duration(s.safety.future_slack))
    );
    for r in &s.roots {
        root_toml(&mut o, r, s);
    }
    for (cam, d) in &s.cameras {
        let _ = writeln!(o, "\n[camera.{}]\ndays = {}", q(cam), d.as_secs() / 86_400);
    }
    let _ = writeln!(o, "\n[holds]");
    if let Some(owners) = &s.holds.marker_owners {
        let names: Vec<String> = owners.names.iter().map(|n| q(n)).collect();
        let _ = writeln!(o, "marker_owners = [{}]", names.join(", "));
    }
    let _ = writeln!(
        o,
        "keep_released = {}",
        q(&format_duration(s.holds.keep_released))
    );
    let _ = writeln!(o, "\n[audit]\nkeep = {}", q(&format_duration(s.audit_keep)));
    let _ = writeln!(
        o,
        "\n[daemon]\nreconcile_interval = {}",
        q(&format_duration(s.reconcile_interval))
    );
    if let Some(t) = &s.metrics_textfile {
        let _ = writeln!(o, "\n[metrics]\ntextfile = {}", q(&t.display().to_string()));
    }
    o
}

fn root_toml(o: &mut String, r: &Root, s: &Settings) {
    let q = |v: &str| toml::Value::String(v.to_string()).to_string();
    let _ = writeln!(o, "\n[[root]]\npath = {}", q(&r.path.display().to_string()));
    match r.layout.name.as_str() {
        "frigate" | "mtime" => {
            let _ = writeln!(o, "layout = {}", q(&r.layout.name));
        }
        "motioneye" | "shinobi" => {
            let _ = writeln!(
                o,
                "layout = {}    # local times in {}",
                q(&r.layout.name),
                s.timezone_name
            );
        }
        pattern => {
            let zone = r.layout.zone.iana_name().unwrap_or("UTC");
            let _ = writeln!(
                o,
                "layout = {{ pattern = {}, timezone = {} }}",
                q(pattern),
                q(zone)
            );
        }
    }
    let exts: Vec<String> = r
        .extensions
        .iter()
        .map(|e| q(&String::from_utf8_lossy(e)))
        .collect();
    let _ = writeln!(o, "extensions = [{}]", exts.join(", "));
    if let Some(m) = r.min_free {
        let _ = writeln!(o, "min_free = {}", q(&m.to_string()));
    }
    let _ = writeln!(
        o,
        "min_keep = {}\nexpect_mount = {}",
        q(&format_duration(r.min_keep)),
        r.expect_mount
    );
}

fn probe(path: &Path) -> Probe {
    let meta = std::fs::symlink_metadata(path);
    let mut p = Probe {
        path: human::escape_path(path),
        exists: meta.is_ok(),
        is_directory: meta.as_ref().is_ok_and(|m| m.is_dir()),
        readable: false,
        writable: false,
        filesystem: None,
        mount_point: false,
        free_bytes: None,
        problems: Vec::new(),
    };
    match &meta {
        Err(e) => {
            p.problems.push(format!("cannot be examined: {e}"));
            return p;
        }
        Ok(m) if m.file_type().is_symlink() => {
            p.problems.push(
                "is a symlink: clipwarden never follows links, so configure the real path".into(),
            );
            return p;
        }
        Ok(m) if !m.is_dir() => {
            p.problems.push("is not a directory".into());
            return p;
        }
        Ok(_) => {}
    }
    p.readable = std::fs::read_dir(path).is_ok();
    p.writable = nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok();
    p.mount_point = guard::is_mount_point(path).unwrap_or(false);
    p.filesystem = clipwarden::fsx::fs_magic(path).map(fs_name);
    p.free_bytes = clipwarden::fsx::free_bytes(path);
    if !p.readable {
        p.problems.push("cannot be read by this user".into());
    }
    p
}

fn probe_root(r: &Root) -> Probe {
    let mut p = probe(&r.path);
    if p.exists && p.is_directory && !p.writable {
        p.problems.push(
            "is not writable by this user: clips in it cannot be deleted (see README: permissions)"
                .into(),
        );
    }
    if r.expect_mount && p.exists && !p.mount_point {
        p.problems
            .push("expect_mount = true but this is not a mount point: it will not be swept".into());
    }
    p
}

fn probe_state_dir(dir: &Path) -> Probe {
    let mut p = probe(dir);
    if !p.exists {
        p.problems.clear();
        let parent = dir.parent().unwrap_or(Path::new("/"));
        if nix::unistd::access(parent, nix::unistd::AccessFlags::W_OK).is_ok() {
            p.problems
                .push("does not exist yet; the first sweep creates it".into());
        } else {
            p.problems.push(format!(
                "does not exist and {} is not writable: create it for the service user",
                parent.display()
            ));
        }
    } else if !p.writable {
        p.problems
            .push("is not writable: sweeps cannot lock, audit or remember the clock".into());
    }
    p
}

/// Names for the filesystems a recorder is likely to have.
fn fs_name(magic: u32) -> String {
    match magic {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs".into(),
        0x6969 => "nfs".into(),
        0x4d44 => "vfat".into(),
        0x2011_BAB0 => "exfat".into(),
        0xF2F5_2010 => "f2fs".into(),
        0x794c_7630 => "overlayfs".into(),
        0xFF53_4D42 | 0xFE53_4D42 => "cifs/smb".into(),
        0x6573_5546 => "fuse".into(),
        0x7366_746e => "ntfs3".into(),
        0x5346_544e => "ntfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        other => format!("filesystem 0x{other:x}"),
    }
}
