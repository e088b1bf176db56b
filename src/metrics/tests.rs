use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::*;

const NOW: i64 = 1_795_953_600; // 2026-11-29T12:00:00Z

fn camera(clips: u64, bytes: u64, oldest: Option<f64>, retention: f64) -> CameraMetrics {
    CameraMetrics {
        clips,
        bytes,
        oldest_unheld_age_seconds: oldest,
        oldest_unheld_recorded: oldest
            .filter(|a| a.is_finite())
            .map(|a| jiff::Timestamp::from_second(NOW - a as i64).unwrap()),
        retention_seconds: Some(retention),
    }
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// A recorder with two disks, cameras named the way installers name them, and a root whose
/// path has every character the text format must escape.
fn realistic() -> Snapshot {
    const DAY: f64 = 86_400.0;
    let mut disk1 = BTreeMap::new();
    disk1.insert(
        "entrance".into(),
        camera(60_480, 96_000_000_000, Some(6.9 * DAY), 3.0 * DAY),
    );
    disk1.insert(
        "bar \"north\"".into(),
        camera(12, 4_000_000, Some(0.5), 7.0 * DAY),
    );
    disk1.insert("Kasse 2 – Ærø".into(), camera(0, 0, None, 7.0 * DAY));
    let mut disk2 = BTreeMap::new();
    disk2.insert(
        "entrance".into(),
        camera(100, 160_000_000, Some(7.5 * DAY), 7.0 * DAY),
    );
    disk2.insert(
        "back\\door\nyard".into(),
        camera(3, 9_000, Some(60.0), 7.0 * DAY),
    );
    disk2.insert(
        "カメラ".into(),
        camera(1, 1, Some(f64::INFINITY), 7.0 * DAY),
    );
    Snapshot {
        roots: vec![
            RootMetrics {
                path: "/srv/nvr/disk1".into(),
                writable: true,
                free_bytes: Some(u64::MAX),
                unrecognised: 4,
                cameras: disk1,
            },
            RootMetrics {
                path: "/srv/nvr/odd \"disk\\2\"\nnew line".into(),
                writable: false,
                free_bytes: None,
                unrecognised: 0,
                cameras: disk2,
            },
        ],
        overdue: 2,
        held_clips: 1_440,
        held_bytes: 2_300_000_000,
        holds_reaching_cap: 1,
        deleted_total: map(&[
            ("retention", 123_456),
            ("hold_cap", 7),
            ("future_reason", 1),
        ]),
        guard_refusals_total: map(&[("clock", 1)]),
        alarms: map(&[("guard", 1), ("clip_vanished", 2)]),
        config_valid: true,
        audit_seq: Some(98_765),
        last_pass_timestamp: Some("2026-11-29T12:00:00.25Z".parse().unwrap()),
        last_pass_duration: Some(Duration::from_millis(1_500)),
    }
}

/// Runs `promtool check metrics` on `text`; the whole of its output, and whether it passed.
/// A missing promtool fails the test: a check that quietly does not run checks nothing.
fn promtool_check(text: &str) -> (bool, String) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed, so the metrics cannot be checked. Install it with \
             `apt-get install -y --no-install-recommends prometheus` (Debian's prometheus \
             package provides /usr/bin/promtool); .ci/run does this"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn promtool_accepts_a_realistic_snapshot_without_lint_warnings() {
    let text = render(&realistic());
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool: {said}\n--- input:\n{text}"
    );
    // The check has teeth: a counter without `_total` is a lint warning.
    let (ok, said) = promtool_check("# HELP x_deleted d\n# TYPE x_deleted counter\nx_deleted 1\n");
    assert!(!ok && said.contains("_total"), "promtool: {said}");
}

#[test]
fn promtool_accepts_an_empty_snapshot() {
    let text = render(&Snapshot::default());
    let (ok, said) = promtool_check(&text);
    assert!(
        ok && said.trim().is_empty(),
        "promtool: {said}\n--- input:\n{text}"
    );
}

#[test]
fn label_values_escape_backslash_quote_and_newline() {
    let text = render(&realistic());
    assert!(text.contains(
        r#"clipwarden_clips{root="/srv/nvr/odd \"disk\\2\"\nnew line",camera="back\\door\nyard"} 3"#
    ));
    assert!(text.contains(r#"clipwarden_clips{root="/srv/nvr/disk1",camera="bar \"north\""} 12"#));
    assert!(text.contains(r#"camera="Kasse 2 – Ærø"} 0"#));
    assert!(text.contains(r#"clipwarden_oldest_unheld_clip_age_seconds{camera="カメラ"} +Inf"#));
    // Every line is a comment or a sample: no raw newline escaped a label value.
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP clipwarden_")
                || line.starts_with("# TYPE clipwarden_")
                || line.starts_with("clipwarden_"),
            "{line}"
        );
    }
}

#[test]
fn every_family_has_help_and_type_and_counters_end_in_total() {
    let text = render(&realistic());
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has no HELP"
            );
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name} {kind}");
            families.push(name.to_string());
        }
    }
    let mut unique = families.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), families.len(), "a family is declared twice");
    for name in [
        "clipwarden_clips",
        "clipwarden_clip_bytes",
        "clipwarden_oldest_unheld_clip_age_seconds",
        "clipwarden_oldest_unheld_clip_timestamp_seconds",
        "clipwarden_retention_seconds",
        "clipwarden_overdue_clips",
        "clipwarden_unrecognised_files",
        "clipwarden_held_clips",
        "clipwarden_held_clip_bytes",
        "clipwarden_holds_reaching_cap",
        "clipwarden_deleted_clips_total",
        "clipwarden_guard_refusals_total",
        "clipwarden_alarms",
        "clipwarden_config_valid",
        "clipwarden_root_writable",
        "clipwarden_root_free_bytes",
        "clipwarden_audit_seq",
        "clipwarden_last_pass_timestamp_seconds",
        "clipwarden_last_pass_duration_seconds",
    ] {
        assert!(families.iter().any(|f| f == name), "{name} missing");
    }
    // The same families whether or not there is anything to show.
    let empty = render(&Snapshot::default());
    assert_eq!(empty.matches("# TYPE ").count(), families.len());
}

#[test]
fn counters_and_alarms_show_every_known_key_from_the_start() {
    let text = render(&Snapshot::default());
    for reason in DELETE_REASONS {
        assert!(text.contains(&format!(
            "clipwarden_deleted_clips_total{{reason=\"{reason}\"}} 0\n"
        )));
    }
    for guard in GUARDS {
        assert!(text.contains(&format!(
            "clipwarden_guard_refusals_total{{guard=\"{guard}\"}} 0\n"
        )));
    }
    for kind in ALARM_KINDS {
        assert!(text.contains(&format!("clipwarden_alarms{{kind=\"{kind}\"}} 0\n")));
    }
    let text = render(&realistic());
    assert!(text.contains("clipwarden_deleted_clips_total{reason=\"retention\"} 123456\n"));
    assert!(text.contains("clipwarden_deleted_clips_total{reason=\"future_reason\"} 1\n"));
    assert!(text.contains("clipwarden_deleted_clips_total{reason=\"erasure\"} 0\n"));
    assert!(text.contains("clipwarden_guard_refusals_total{guard=\"clock\"} 1\n"));
    assert!(text.contains("clipwarden_alarms{kind=\"clip_vanished\"} 2\n"));
}

#[test]
fn known_keys_match_the_names_the_rest_of_the_crate_uses() {
    use crate::guard::Refusal;
    use crate::policy::Reason;
    let t: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
    for r in [
        Refusal::ClockBehind { now: t, last: t },
        Refusal::Fraction {
            planned: 1,
            recognised: 1,
            max: 0.5,
        },
        Refusal::NotMounted,
        Refusal::Registry(String::new()),
    ] {
        assert!(GUARDS.contains(&r.guard()), "{}", r.guard());
    }
    for r in [
        Reason::Retention,
        Reason::HoldEnded,
        Reason::HoldCap,
        Reason::Erasure,
    ] {
        assert!(DELETE_REASONS.contains(&r.as_str()), "{}", r.as_str());
    }
}

#[test]
fn a_camera_on_two_roots_shows_its_oldest_clip_and_strictest_retention() {
    let text = render(&realistic());
    // entrance: 6.9 d on disk1, 7.5 d on disk2; retention 3 d on disk1, 7 d on disk2.
    assert!(
        text.contains("clipwarden_oldest_unheld_clip_age_seconds{camera=\"entrance\"} 648000\n")
    );
    assert!(text.contains(&format!(
        "clipwarden_oldest_unheld_clip_timestamp_seconds{{camera=\"entrance\"}} {}\n",
        NOW - 648_000
    )));
    assert!(text.contains("clipwarden_retention_seconds{camera=\"entrance\"} 259200\n"));
    assert!(text.contains("clipwarden_clips{root=\"/srv/nvr/disk1\",camera=\"entrance\"} 60480\n"));
    // A camera with no unheld clip has no age sample rather than a made-up one.
    assert!(!text.contains("oldest_unheld_clip_age_seconds{camera=\"Kasse"));
    assert!(!text.contains("oldest_unheld_clip_timestamp_seconds{camera=\"Kasse"));
}

#[test]
fn scalars_and_times() {
    let text = render(&realistic());
    for line in [
        "clipwarden_overdue_clips 2",
        "clipwarden_held_clips 1440",
        "clipwarden_held_clip_bytes 2300000000",
        "clipwarden_holds_reaching_cap 1",
        "clipwarden_config_valid 1",
        "clipwarden_audit_seq 98765",
        "clipwarden_last_pass_timestamp_seconds 1795953600.25",
        "clipwarden_last_pass_duration_seconds 1.5",
        "clipwarden_root_writable{root=\"/srv/nvr/disk1\"} 1",
        "clipwarden_root_free_bytes{root=\"/srv/nvr/disk1\"} 18446744073709551615",
        "clipwarden_unrecognised_files{root=\"/srv/nvr/disk1\"} 4",
    ] {
        assert!(text.contains(&format!("{line}\n")), "{line}");
    }
    assert!(text.contains(
        "clipwarden_root_writable{root=\"/srv/nvr/odd \\\"disk\\\\2\\\"\\nnew line\"} 0\n"
    ));
    let empty = render(&Snapshot::default());
    for absent in [
        "clipwarden_audit_seq ",
        "clipwarden_last_pass_timestamp_seconds ",
        "clipwarden_root_free_bytes{",
    ] {
        assert!(!empty.lines().any(|l| l.starts_with(absent)), "{absent}");
    }
    assert!(empty.contains("clipwarden_config_valid 0\n"));
}

#[test]
fn non_utf8_root_paths_are_shown_lossily() {
    use std::os::unix::ffi::OsStrExt;
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(b"/srv/nvr/\xff"));
    let mut cameras = BTreeMap::new();
    cameras.insert("c".to_string(), CameraMetrics::default());
    let s = Snapshot {
        roots: vec![RootMetrics {
            path,
            cameras,
            ..Default::default()
        }],
        ..Default::default()
    };
    let text = render(&s);
    assert!(text.contains("clipwarden_clips{root=\"/srv/nvr/\u{fffd}\",camera=\"c\"} 0\n"));
    assert!(text.contains("clipwarden_root_writable{root=\"/srv/nvr/\u{fffd}\"} 0\n"));
}
