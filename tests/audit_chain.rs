//! The audit chain as an outsider sees it: a log written through the library API, across
//! month segments and with awkward field values, must pass the stand-alone Python verifier
//! (`tests/verify_audit.py`, SPEC's rule and nothing else), and a tampered copy must fail it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use clipwarden::audit::{self, AuditLog, ProblemKind};
use clipwarden::lock::StateLock;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

#[derive(Serialize)]
struct Clip {
    name: String,
    camera: String,
    bytes: u64,
    /// A member named `hash` inside the line: readers must take the *last* `,"hash":"`.
    hash: String,
}

#[derive(Serialize)]
struct Deleted {
    dir: String,
    reason: &'static str,
    clips: Vec<Clip>,
    note: Option<String>,
}

/// Strings a real recorder can produce: other scripts, quotes, backslashes, control
/// characters, and text that looks like the line's own members.
const AWKWARD: [&str; 8] = [
    "Inngang øst",
    "カメラ-2 🎥",
    "say \"cheese\"",
    r"C:\nvr\cam\",
    "tab\there\nnewline\u{0}nul\u{1b}[31mred",
    r#","hash":"0000","prev":""#,
    "\u{2028}\u{feff}\u{7f}",
    "",
];

fn entry(i: usize) -> Deleted {
    let text = |k: usize| AWKWARD[(i + k) % AWKWARD.len()].to_owned();
    Deleted {
        dir: format!("/srv/nvr/{}/2024-01-{:02}", text(0), i % 28 + 1),
        reason: [
            "retention",
            "hold_ended",
            "hold_cap",
            "disk_pressure",
            "erasure",
        ][i % 5],
        clips: (0..i % 4)
            .map(|k| Clip {
                name: format!("{:02}.{:02}.mp4", k, i % 60),
                camera: text(k + 1),
                bytes: (i * 1_048_573 + k) as u64,
                hash: format!("{:064x}", i * 31 + k),
            })
            .collect(),
        note: (i % 3 == 0).then(|| text(2)),
    }
}

/// A log of 300 entries, six hours apart from late January to mid-April, opened three
/// times: it rotates at `open` (into March) and while open, at an append (into February and
/// April).
fn build(state_dir: &Path) {
    let lock = StateLock::acquire(state_dir, Duration::ZERO).unwrap();
    let start: Timestamp = "2024-01-29T00:00:00Z".parse().unwrap();
    let at = |i: usize| start + SignedDuration::from_hours(i as i64 * 6);
    for (from, to) in [(0, 128), (128, 200), (200, 300)] {
        let mut log = AuditLog::open(&lock, at(from)).unwrap();
        for i in from..to {
            let event = if i % 7 == 0 { "sweep" } else { "clips_deleted" };
            log.append(at(i), event, &entry(i)).unwrap();
        }
        log.sync().unwrap();
    }
}

fn python_verify(segments: &[PathBuf]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify_audit.py");
    Command::new("python3")
        .arg(script)
        .args(segments)
        .output()
        .expect("python3 must be installed to run the stand-alone audit verifier")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_python_verifier_accepts_the_log_and_rejects_a_tampered_copy() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let segments = audit::segments(dir.path()).unwrap();
    let names: Vec<_> = segments
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "audit-2024-01.jsonl",
            "audit-2024-02.jsonl",
            "audit-2024-03.jsonl",
            "audit.jsonl"
        ]
    );
    let report = audit::verify(dir.path(), None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    assert_eq!(report.entries, 300);

    let out = python_verify(&segments);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("300 entries"), "{}", text(&out));

    // Change one digit of one clip's size in the middle of February.
    let copy = tempfile::tempdir().unwrap();
    for seg in &segments {
        fs::copy(seg, copy.path().join(seg.file_name().unwrap())).unwrap();
    }
    let feb = copy.path().join("audit-2024-02.jsonl");
    let mut lines: Vec<String> = fs::read_to_string(&feb)
        .unwrap()
        .lines()
        .map(Into::into)
        .collect();
    let victim = (lines.len() / 2..lines.len())
        .find(|&i| lines[i].contains("\"bytes\":"))
        .expect("an entry with clips");
    let seq = serde_json::from_str::<serde_json::Value>(&lines[victim]).unwrap()["seq"].clone();
    let at = lines[victim].find("\"bytes\":").unwrap() + 8;
    let digit = lines[victim].as_bytes()[at];
    let swapped = if digit == b'9' { "1" } else { "9" };
    lines[victim].replace_range(at..at + 1, swapped);
    fs::write(&feb, lines.join("\n") + "\n").unwrap();

    let copied = audit::segments(copy.path()).unwrap();
    let out = python_verify(&copied);
    assert!(
        !out.status.success(),
        "tampering went unnoticed: {}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("FAIL seq {seq} ")),
        "{}",
        text(&out)
    );

    let problem = audit::verify(copy.path(), None).unwrap().problem.unwrap();
    assert_eq!(problem.kind, ProblemKind::HashMismatch);
    assert_eq!(problem.seq, seq.as_u64());
}

#[test]
fn the_python_verifier_rejects_a_missing_segment_and_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let segments = audit::segments(dir.path()).unwrap();

    // Without January the chain starts after seq 1 and nothing vouches for it.
    let out = python_verify(&segments[1..]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit_pruned"), "{}", text(&out));

    // Out of order, the first February line does not follow the last March one.
    let out = python_verify(&[
        segments[0].clone(),
        segments[2].clone(),
        segments[1].clone(),
    ]);
    assert!(!out.status.success(), "{}", text(&out));

    let current = dir.path().join("audit.jsonl");
    let mut bytes = fs::read(&current).unwrap();
    bytes.truncate(bytes.len() - 10);
    fs::write(&current, &bytes).unwrap();
    let out = python_verify(&segments);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("FAIL seq 300 "), "{}", text(&out));
}

#[test]
fn the_python_verifier_accepts_a_pruned_log_only_as_far_as_audited() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let lock = StateLock::acquire(dir.path(), Duration::ZERO).unwrap();
    let now: Timestamp = "2024-04-15T00:00:00Z".parse().unwrap();
    let mut log = AuditLog::open(&lock, now).unwrap();
    let removed = log.prune(SignedDuration::from_hours(24 * 30), now).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert!(audit::verify(dir.path(), None).unwrap().is_ok());
    let segments = audit::segments(dir.path()).unwrap();
    let out = python_verify(&segments);
    assert!(out.status.success(), "{}", text(&out));

    // The audit_pruned entry vouches for February's end, not for March's removed by hand.
    let out = python_verify(&segments[1..]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("audit_pruned"), "{}", text(&out));
}
