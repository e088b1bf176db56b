//! Merged raw config → [`Settings`], collecting every problem with the file that caused it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::tz::TimeZone;

use super::raw::{RawConfig, RawRoot};
use super::units::{parse_duration, parse_free_space};
use super::{
    ConfigError, ConfigErrors, HoldSettings, MarkerOwners, Retention, Root, Safety, Settings,
};
use crate::layout::Layout;
use crate::paths;

struct Check<'a> {
    blame: &'a dyn Fn(&str) -> PathBuf,
    errors: Vec<ConfigError>,
}

impl Check<'_> {
    fn fail(&mut self, key: &str, problem: impl Into<String>) {
        self.errors.push(ConfigError {
            file: (self.blame)(key),
            key: Some(key.to_string()),
            problem: problem.into(),
        });
    }

    fn duration(
        &mut self,
        key: &str,
        v: Option<&str>,
        default: &str,
        min: SignedDuration,
    ) -> SignedDuration {
        let text = v.unwrap_or(default);
        match parse_duration(text) {
            Ok(d) if d >= min => d,
            Ok(_) => {
                self.fail(
                    key,
                    format!(
                        "\"{text}\" is too short: at least {}",
                        super::units::format_duration(min)
                    ),
                );
                parse_duration(default).unwrap_or(min)
            }
            Err(e) => {
                self.fail(key, e);
                parse_duration(default).unwrap_or(min)
            }
        }
    }
}

pub(super) fn settings(
    raw: RawConfig,
    blame: &dyn Fn(&str) -> PathBuf,
    files: Vec<PathBuf>,
    fingerprint: String,
) -> Result<Settings, ConfigErrors> {
    let mut c = Check {
        blame,
        errors: Vec::new(),
    };

    let (timezone, timezone_name) = match raw.timezone.as_deref() {
        None => {
            c.fail("timezone", "missing: set the IANA zone the recorder's local times are in, e.g. timezone = \"Europe/Oslo\"");
            (TimeZone::UTC, String::from("UTC"))
        }
        Some(name) => {
            match TimeZone::get(name) {
                Ok(tz) => (tz, name.to_string()),
                Err(_) => {
                    c.fail("timezone", format!("\"{name}\" is not a known IANA time zone (like \"Europe/Oslo\" or \"UTC\")"));
                    (TimeZone::UTC, String::from("UTC"))
                }
            }
        }
    };

    let state_dir = PathBuf::from(raw.state_dir.as_deref().unwrap_or("/var/lib/clipwarden"));
    let state_dir = match paths::normalize(&state_dir) {
        Some(p) => p,
        None => {
            c.fail(
                "state_dir",
                format!("\"{}\" must be an absolute path", state_dir.display()),
            );
            state_dir
        }
    };

    let r = raw.retention.unwrap_or_default();
    let days = r.days.unwrap_or(7);
    let hold_cap_days = r.hold_cap_days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        c.fail(
            "retention.days",
            format!("{days} is out of range: 1 to 3650 days"),
        );
    }
    if !(1..=3650).contains(&hold_cap_days) {
        c.fail(
            "retention.hold_cap_days",
            format!("{hold_cap_days} is out of range: 1 to 3650 days"),
        );
    } else if hold_cap_days < days {
        c.fail(
            "retention.hold_cap_days",
            format!("{hold_cap_days} is less than retention.days ({days}): a hold could then shorten retention"),
        );
    }
    let retention = Retention {
        days,
        hold_cap_days,
        warn_before: c.duration(
            "retention.warn_before",
            r.warn_before.as_deref(),
            "3d",
            SignedDuration::ZERO,
        ),
    };

    let s = raw.safety.unwrap_or_default();
    let fraction = s.max_delete_fraction.unwrap_or(0.5);
    if !(fraction > 0.0 && fraction <= 1.0) {
        c.fail(
            "safety.max_delete_fraction",
            format!("{fraction} must be more than 0 and at most 1"),
        );
    }
    let safety = Safety {
        quiet_period: c.duration(
            "safety.quiet_period",
            s.quiet_period.as_deref(),
            "2m",
            SignedDuration::ZERO,
        ),
        max_delete_fraction: fraction,
        future_slack: c.duration(
            "safety.future_slack",
            s.future_slack.as_deref(),
            "10m",
            SignedDuration::ZERO,
        ),
    };

    let mut roots = Vec::new();
    let raw_roots = raw.root.unwrap_or_default();
    if raw_roots.is_empty() {
        c.fail(
            "root",
            "no [[root]] is configured: add at least one recording directory",
        );
    }
    for (i, rr) in raw_roots.into_iter().enumerate() {
        if let Some(root) = root(&mut c, i, rr, &timezone) {
            roots.push(root);
        }
    }
    for (i, a) in roots.iter().enumerate() {
        for (j, b) in roots.iter().enumerate().skip(i + 1) {
            if paths::is_within(&a.path, &b.path) || paths::is_within(&b.path, &a.path) {
                c.fail(
                    &format!("root[{j}].path"),
                    format!(
                        "{} overlaps root[{i}] ({}): a file must belong to one root",
                        b.path.display(),
                        a.path.display()
                    ),
                );
            }
        }
        if paths::is_within(&state_dir, &a.path) || paths::is_within(&a.path, &state_dir) {
            c.fail(
                "state_dir",
                format!(
                    "{} overlaps root[{i}] ({}): the state must live outside the recordings",
                    state_dir.display(),
                    a.path.display()
                ),
            );
        }
    }

    let mut cameras = BTreeMap::new();
    for (name, cam) in raw.camera.unwrap_or_default() {
        let key = format!("camera.{name}.days");
        match cam.days {
            None => c.fail(&format!("camera.{name}"), "has no days: remove the section or set days"),
            Some(d) if d < 1 => c.fail(&key, format!("{d} must be at least 1")),
            Some(d) if d > days => c.fail(
                &key,
                format!("{d} is longer than retention.days ({days}): a camera may shorten retention, never lengthen it"),
            ),
            Some(d) => {
                if cameras.insert(name.to_lowercase(), SignedDuration::from_hours(d * 24)).is_some() {
                    c.fail(&format!("camera.{name}"), "is given twice (camera names match without regard to case)");
                }
            }
        }
    }

    let h = raw.holds.unwrap_or_default();
    let marker_owners = h.marker_owners.map(|names| owners(&mut c, names));
    let holds = HoldSettings {
        marker_owners,
        keep_released: c.duration(
            "holds.keep_released",
            h.keep_released.as_deref(),
            "400d",
            SignedDuration::from_hours(24),
        ),
    };

    let audit_keep = c.duration(
        "audit.keep",
        raw.audit.unwrap_or_default().keep.as_deref(),
        "1095d",
        SignedDuration::from_hours(24 * 31),
    );
    let reconcile_interval = c.duration(
        "daemon.reconcile_interval",
        raw.daemon.unwrap_or_default().reconcile_interval.as_deref(),
        "6h",
        SignedDuration::from_mins(1),
    );
    let metrics_textfile = raw.metrics.unwrap_or_default().textfile.map(PathBuf::from);
    if let Some(t) = &metrics_textfile {
        if !t.is_absolute() {
            c.fail(
                "metrics.textfile",
                format!("\"{}\" must be an absolute path", t.display()),
            );
        } else if let Some(i) = roots.iter().position(|r| paths::is_within(t, &r.path)) {
            c.fail(
                "metrics.textfile",
                format!(
                    "{} lies inside root[{i}]: never write into the recordings",
                    t.display()
                ),
            );
        }
    }

    if !c.errors.is_empty() {
        return Err(ConfigErrors(c.errors));
    }
    Ok(Settings {
        files,
        fingerprint,
        timezone,
        timezone_name,
        state_dir,
        retention,
        safety,
        roots,
        cameras,
        holds,
        audit_keep,
        reconcile_interval,
        metrics_textfile,
    })
}

fn root(c: &mut Check<'_>, i: usize, rr: RawRoot, zone: &TimeZone) -> Option<Root> {
    let key = |k: &str| format!("root[{i}].{k}");
    let Some(path) = rr.path else {
        c.fail(&format!("root[{i}]"), "has no path");
        return None;
    };
    let Some(norm) = paths::normalize(Path::new(&path)) else {
        c.fail(&key("path"), format!("\"{path}\" must be an absolute path"));
        return None;
    };
    if let Some(bad) = paths::forms(&norm)
        .into_iter()
        .find(|p| paths::is_system_dir(p))
    {
        c.fail(
            &key("path"),
            format!(
                "\"{path}\" is a system directory ({}): recordings must live elsewhere",
                bad.display()
            ),
        );
        return None;
    }

    let layout = match rr.layout {
        None => {
            c.fail(
                &key("layout"),
                "missing: use frigate, motioneye, shinobi, mtime or { pattern = \"…\" }",
            );
            return None;
        }
        Some(v) => match layout(&v, zone) {
            Ok(l) => l,
            Err(e) => {
                c.fail(&key("layout"), e);
                return None;
            }
        },
    };

    let mut extensions = Vec::new();
    for (j, e) in rr
        .extensions
        .unwrap_or_else(|| vec!["mp4".into()])
        .iter()
        .enumerate()
    {
        let ext = e.trim_start_matches('.').to_ascii_lowercase();
        if ext.is_empty() || ext.contains(['/', '.', '\0']) || ext == "hold" {
            c.fail(
                &format!("root[{i}].extensions[{j}]"),
                format!("\"{e}\" is not a usable clip extension"),
            );
        } else {
            extensions.push(ext.into_bytes().into_boxed_slice());
        }
    }
    if extensions.is_empty() {
        c.fail(&key("extensions"), "is empty: no file could ever be a clip");
    }

    let min_free = rr
        .min_free
        .as_deref()
        .and_then(|t| match parse_free_space(t) {
            Ok(v) => Some(v),
            Err(e) => {
                c.fail(&key("min_free"), e);
                None
            }
        });
    let min_keep = c.duration(
        &key("min_keep"),
        rr.min_keep.as_deref(),
        "24h",
        SignedDuration::ZERO,
    );
    Some(Root {
        path: norm,
        layout,
        extensions,
        min_free,
        min_keep,
        expect_mount: rr.expect_mount.unwrap_or(false),
    })
}

fn layout(v: &toml::Value, zone: &TimeZone) -> Result<Layout, String> {
    match v {
        toml::Value::String(name) => match name.as_str() {
            "frigate" => Ok(Layout::frigate()),
            "motioneye" => Ok(Layout::motioneye(zone.clone())),
            "shinobi" => Ok(Layout::shinobi(zone.clone())),
            "mtime" => Ok(Layout::mtime()),
            other => Err(format!(
                "\"{other}\" is not a layout: use frigate, motioneye, shinobi, mtime or {{ pattern = \"…\" }}"
            )),
        },
        toml::Value::Table(t) => {
            if let Some(k) = t.keys().find(|k| *k != "pattern" && *k != "timezone") {
                return Err(format!(
                    "unknown key \"{k}\" in layout: only pattern and timezone"
                ));
            }
            let Some(toml::Value::String(pattern)) = t.get("pattern") else {
                return Err("a layout table needs pattern = \"…\" (a string)".into());
            };
            let tz = match t.get("timezone") {
                None => zone.clone(),
                Some(toml::Value::String(name)) => TimeZone::get(name)
                    .map_err(|_| format!("timezone \"{name}\" is not a known IANA time zone"))?,
                Some(_) => return Err("timezone must be a string".into()),
            };
            Layout::pattern(pattern, tz).map_err(|e| format!("pattern: {e}"))
        }
        _ => Err("must be a layout name or { pattern = \"…\" }".into()),
    }
}

fn owners(c: &mut Check<'_>, names: Vec<String>) -> MarkerOwners {
    let mut o = MarkerOwners::default();
    for (i, n) in names.iter().enumerate() {
        if let Ok(uid) = n.parse::<u32>() {
            o.uids.push(uid);
            continue;
        }
        let uid = crate::users::uid_of(n);
        let gid = crate::users::gid_of(n);
        if uid.is_none() && gid.is_none() {
            c.fail(
                &format!("holds.marker_owners[{i}]"),
                format!("\"{n}\" is neither a user nor a group on this machine"),
            );
        }
        o.uids.extend(uid);
        o.gids.extend(gid);
    }
    o.names = names;
    o
}
