//! Scenario tests of the audit log: writer and verifier together, on real temp dirs.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use serde::Serialize;

use super::line::base64;
use super::*;
use crate::lock::StateLock;

#[derive(Serialize)]
struct Note {
    n: u64,
    text: String,
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn state() -> (tempfile::TempDir, StateLock) {
    let dir = tempfile::tempdir().unwrap();
    let lock = StateLock::acquire(dir.path(), Duration::ZERO).unwrap();
    (dir, lock)
}

/// Appends entries `from..=to` an hour apart from `start`, with text naming each one.
fn fill(log: &mut AuditLog, from: u64, to: u64, start: &str) {
    let start = t(start);
    for n in from..=to {
        let now = start + SignedDuration::from_hours(i64::try_from(n - from).unwrap());
        let note = Note {
            n,
            text: format!("item-{n} \"quoted\" \\ ü"),
        };
        log.append(now, "note", &note).unwrap();
    }
    log.sync().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn problem(dir: &Path, anchor: Option<Anchor>) -> Problem {
    let report = verify(dir, anchor).unwrap();
    match report.problem {
        Some(problem) => problem,
        None => panic!("expected a problem, the log verified: {report:?}"),
    }
}

fn assert_ok(dir: &Path) -> VerifyReport {
    let report = verify(dir, None).unwrap();
    assert!(report.is_ok(), "{:?}", report.problem);
    report
}

fn field(line: &str, key: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(line).unwrap()[key].clone()
}

#[test]
fn reopen_continues_seq_and_chain() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T10:00:00Z")).unwrap();
    assert_eq!(log.head(), None);
    fill(&mut log, 1, 3, "2024-05-01T10:00:00Z");
    let (seq, hash) = log.head().map(|(s, h)| (s, h.to_owned())).unwrap();
    assert_eq!(seq, 3);
    drop(log);

    let mut log = AuditLog::open(&lock, t("2024-05-02T10:00:00Z")).unwrap();
    assert_eq!(log.head(), Some((3, hash.as_str())));
    let at = log
        .append(t("2024-05-02T10:00:00Z"), "anchor", &())
        .unwrap();
    assert_eq!(at.seq, 4);
    log.sync().unwrap();
    let last = lines(&dir.path().join(CURRENT)).pop().unwrap();
    assert_eq!(field(&last, "prev"), hash.as_str());

    let report = assert_ok(dir.path());
    assert_eq!(
        (report.entries, report.first_seq, report.last_seq),
        (4, Some(1), Some(4))
    );
    assert_eq!(report.head_hash.as_deref(), Some(at.hash.as_str()));
}

#[test]
fn refused_fields_do_not_advance_the_chain() {
    let (_dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T10:00:00Z")).unwrap();
    let now = t("2024-05-01T10:00:00Z");
    assert!(log.append(now, "Bad Name", &()).is_err());
    assert!(
        log.append(now, "x", &serde_json::json!({"seq": 9}))
            .is_err()
    );
    assert_eq!(log.append(now, "x", &()).unwrap().seq, 1);
}

#[test]
fn an_edited_byte_is_named_by_its_seq() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T00:00:00Z")).unwrap();
    fill(&mut log, 1, 10, "2024-05-01T00:00:00Z");
    let path = dir.path().join(CURRENT);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("item-5 ", "item-6 ")).unwrap();
    let p = problem(dir.path(), None);
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::HashMismatch, Some(5), Some(5))
    );
    assert!(p.to_string().contains("seq 5"), "{p}");
}

#[test]
fn a_deleted_line_is_named_by_the_seq_after_the_gap() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T00:00:00Z")).unwrap();
    fill(&mut log, 1, 10, "2024-05-01T00:00:00Z");
    let path = dir.path().join(CURRENT);
    let mut all = lines(&path);
    all.remove(3);
    fs::write(&path, all.join("\n") + "\n").unwrap();
    let p = problem(dir.path(), None);
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::SeqGap, Some(5), Some(4))
    );
}

#[test]
fn a_replaced_line_breaks_the_link_after_it() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T00:00:00Z")).unwrap();
    fill(&mut log, 1, 6, "2024-05-01T00:00:00Z");
    drop(log);
    // A forger rebuilds seq 3 with a valid hash of its own: seq 4's prev gives it away.
    let path = dir.path().join(CURRENT);
    let mut all = lines(&path);
    let prev = field(&all[1], "hash");
    let inner = line::fields_inner(
        "note",
        &Note {
            n: 3,
            text: "nothing happened".into(),
        },
    );
    let (forged, _) = line::build_line(
        3,
        t("2024-05-01T02:00:00Z"),
        "note",
        &inner.unwrap(),
        prev.as_str().unwrap(),
    );
    all[2] = forged.trim_end().to_owned();
    fs::write(&path, all.join("\n") + "\n").unwrap();
    let p = problem(dir.path(), None);
    assert_eq!((p.kind, p.seq), (ProblemKind::PrevMismatch, Some(4)));
}

#[test]
fn a_torn_last_line_is_reported_then_sealed_keeping_its_bytes() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T00:00:00Z")).unwrap();
    fill(&mut log, 1, 5, "2024-05-01T00:00:00Z");
    drop(log);
    let path = dir.path().join(CURRENT);
    let whole_len = fs::metadata(&path).unwrap().len();
    let torn: &[u8] =
        b"{\"seq\":6,\"ts\":\"2024-05-01T05:00:00Z\",\"event\":\"note\",\"n\":6,\"text\":\"it\xc3";
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let p = problem(dir.path(), None);
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::Torn, Some(6), Some(6))
    );

    let log = AuditLog::open(&lock, t("2024-05-01T06:00:00Z")).unwrap();
    assert_eq!(log.head().unwrap().0, 6);
    let report = assert_ok(dir.path());
    assert_eq!(report.last_seq, Some(6));

    let recovered = lines(&path).pop().unwrap();
    assert_eq!(field(&recovered, "event"), "recovered");
    assert_eq!(field(&recovered, "offset"), whole_len);
    assert_eq!(field(&recovered, "torn_bytes"), torn.len());
    assert_eq!(field(&recovered, "torn_b64"), base64(torn).as_str());
    assert_eq!(
        field(&recovered, "torn_text"),
        String::from_utf8_lossy(torn).as_ref()
    );
    let saved_to = field(&recovered, "saved_to");
    assert_eq!(
        fs::read(dir.path().join(saved_to.as_str().unwrap())).unwrap(),
        torn
    );
}

#[test]
fn a_garbled_last_line_with_a_newline_is_sealed_too() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-01T00:00:00Z")).unwrap();
    fill(&mut log, 1, 3, "2024-05-01T00:00:00Z");
    drop(log);
    // What a filesystem can leave after a power cut: the size grew, the data never came.
    let path = dir.path().join(CURRENT);
    let junk = [0u8; 40];
    let mut with_junk = fs::read(&path).unwrap();
    with_junk.extend_from_slice(&junk);
    with_junk.push(b'\n');
    fs::write(&path, &with_junk).unwrap();
    assert_eq!(problem(dir.path(), None).kind, ProblemKind::Malformed);

    AuditLog::open(&lock, t("2024-05-01T04:00:00Z")).unwrap();
    assert_ok(dir.path());
    let recovered = lines(&path).pop().unwrap();
    assert_eq!(
        (field(&recovered, "seq"), field(&recovered, "torn_bytes")),
        (4.into(), 41.into())
    );
}

#[test]
fn a_torn_line_alone_in_a_new_segment_continues_from_the_rotated_one() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-31T22:00:00Z")).unwrap();
    fill(&mut log, 1, 2, "2024-05-31T22:00:00Z");
    drop(log);
    AuditLog::open(&lock, t("2024-06-01T01:00:00Z")).unwrap();
    fs::write(dir.path().join(CURRENT), b"{\"seq\":3,\"ts\":").unwrap();
    let log = AuditLog::open(&lock, t("2024-06-01T02:00:00Z")).unwrap();
    assert_eq!(log.head().unwrap().0, 3);
    assert_eq!(assert_ok(dir.path()).segments.len(), 2);
}

#[test]
fn a_torn_line_from_last_month_is_sealed_where_it_was_cut() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-05-30T00:00:00Z")).unwrap();
    fill(&mut log, 1, 2, "2024-05-30T00:00:00Z");
    drop(log);
    let path = dir.path().join(CURRENT);
    let offset = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"{\"se")
        .unwrap();

    AuditLog::open(&lock, t("2024-06-02T00:00:00Z")).unwrap();
    let may = lines(&dir.path().join("audit-2024-05.jsonl"));
    assert_eq!(may.len(), 3);
    assert_eq!(
        (field(&may[2], "event"), field(&may[2], "offset")),
        ("recovered".into(), offset.into())
    );
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    assert_ok(dir.path());
}

#[test]
fn the_chain_runs_across_month_segments() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-01-31T21:00:00Z")).unwrap();
    // Crosses midnight into February while open: rotation happens at that append.
    fill(&mut log, 1, 5, "2024-01-31T21:00:00Z");
    drop(log);
    let january = dir.path().join("audit-2024-01.jsonl");
    assert_eq!(lines(&january).len(), 3);
    assert_eq!(lines(&dir.path().join(CURRENT)).len(), 2);

    // Opening in March rotates February's segment, named by its first entry.
    let mut log = AuditLog::open(&lock, t("2024-03-02T00:00:00Z")).unwrap();
    assert_eq!(fs::metadata(dir.path().join(CURRENT)).unwrap().len(), 0);
    fill(&mut log, 6, 7, "2024-03-02T00:00:00Z");
    let report = assert_ok(dir.path());
    assert_eq!(report.entries, 7);
    let names: Vec<_> = report
        .segments
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["audit-2024-01.jsonl", "audit-2024-02.jsonl", CURRENT]
    );
    // The first line of a segment links to the last line of the one before.
    let feb_first = lines(&dir.path().join("audit-2024-02.jsonl")).remove(0);
    assert_eq!(
        field(&feb_first, "prev"),
        field(&lines(&january)[2], "hash")
    );
}

#[test]
fn a_clock_that_goes_back_never_overwrites_a_segment() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-01-20T00:00:00Z")).unwrap();
    log.append(t("2024-01-20T00:00:00Z"), "a", &()).unwrap();
    drop(log);
    // February rotates January's segment; then the clock falls back into January.
    let mut log = AuditLog::open(&lock, t("2024-02-02T00:00:00Z")).unwrap();
    log.append(t("2024-01-21T00:00:00Z"), "b", &()).unwrap();
    log.append(t("2024-01-22T00:00:00Z"), "c", &()).unwrap();
    log.append(t("2024-02-03T00:00:00Z"), "d", &()).unwrap();
    log.sync().unwrap();
    assert_eq!(lines(&dir.path().join("audit-2024-01.jsonl")).len(), 1);
    assert_eq!(lines(&dir.path().join("audit-2024-01.2.jsonl")).len(), 2);
    assert_eq!(assert_ok(dir.path()).entries, 4);
}

/// Segments for January to April 2024, each ending on the 20th, and a current one.
fn four_months(lock: &StateLock) -> AuditLog {
    let mut log = AuditLog::open(lock, t("2024-01-18T00:00:00Z")).unwrap();
    for (i, month) in ["01", "02", "03", "04"].iter().enumerate() {
        let from = i as u64 * 3 + 1;
        fill(
            &mut log,
            from,
            from + 2,
            &format!("2024-{month}-20T00:00:00Z"),
        );
    }
    log
}

#[test]
fn prune_removes_only_old_rotated_segments_and_says_so() {
    let (dir, lock) = state();
    let mut log = four_months(&lock);
    let now = t("2024-04-25T00:00:00Z");
    let removed = log.prune(SignedDuration::from_hours(40 * 24), now).unwrap();
    let names: Vec<_> = removed
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["audit-2024-01.jsonl", "audit-2024-02.jsonl"]);
    assert!(dir.path().join("audit-2024-03.jsonl").exists());

    let pruned = lines(&dir.path().join(CURRENT)).pop().unwrap();
    assert_eq!(field(&pruned, "event"), "audit_pruned");
    let segs = field(&pruned, "segments");
    assert_eq!(segs[1]["file"], "audit-2024-02.jsonl");
    assert_eq!(
        (segs[1]["first_seq"].clone(), segs[1]["last_seq"].clone()),
        (4.into(), 6.into())
    );

    let report = assert_ok(dir.path());
    assert_eq!((report.first_seq, report.pruned_before), (Some(7), Some(7)));
    // Nothing more is old enough: no files go and no entry is written.
    let head = log.head().unwrap().0;
    assert!(
        log.prune(SignedDuration::from_hours(40 * 24), now)
            .unwrap()
            .is_empty()
    );
    assert_eq!(log.head().unwrap().0, head);
    // Even a zero keep never takes the current segment.
    log.prune(SignedDuration::ZERO, t("2024-04-30T00:00:00Z"))
        .unwrap();
    assert!(dir.path().join(CURRENT).exists());
    assert_eq!(assert_ok(dir.path()).segments, [dir.path().join(CURRENT)]);
    assert!(log.prune(SignedDuration::from_hours(-1), now).is_err());
}

#[test]
fn prune_takes_only_the_oldest_run_even_after_a_clock_said_1970() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-03-10T00:00:00Z")).unwrap();
    log.append(t("2024-03-10T00:00:00Z"), "a", &()).unwrap();
    drop(log);
    let mut log = AuditLog::open(&lock, t("2024-04-01T00:00:00Z")).unwrap();
    // The RTC lost power: one segment's entries say 1970, though they came after March.
    log.append(t("1970-01-05T00:00:00Z"), "b", &()).unwrap();
    log.append(t("2024-04-02T00:00:00Z"), "c", &()).unwrap();
    assert!(dir.path().join("audit-1970-01.jsonl").exists());

    let keep = SignedDuration::from_hours(30 * 24);
    assert!(
        log.prune(keep, t("2024-04-03T00:00:00Z"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(assert_ok(dir.path()).first_seq, Some(1));
    let removed = log.prune(keep, t("2024-05-03T00:00:00Z")).unwrap();
    assert_eq!(removed.len(), 2, "{removed:?}");
    assert_ok(dir.path());
}

#[test]
fn a_segment_removed_without_audit_fails_verification() {
    let (dir, lock) = state();
    drop(four_months(&lock));
    fs::remove_file(dir.path().join("audit-2024-01.jsonl")).unwrap();
    let p = problem(dir.path(), None);
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::UnvouchedStart, Some(4), Some(1))
    );
    assert!(p.file.ends_with("audit-2024-02.jsonl"), "{p}");
}

#[test]
fn a_segment_removed_after_a_prune_is_not_covered_by_it() {
    let (dir, lock) = state();
    let mut log = four_months(&lock);
    log.prune(
        SignedDuration::from_hours(40 * 24),
        t("2024-04-25T00:00:00Z"),
    )
    .unwrap();
    fs::remove_file(dir.path().join("audit-2024-03.jsonl")).unwrap();
    let p = problem(dir.path(), None);
    assert_eq!((p.kind, p.seq), (ProblemKind::UnvouchedStart, Some(10)));
}

#[test]
fn anchors_are_checked_against_the_log() {
    let (dir, lock) = state();
    let mut log = four_months(&lock);
    let third = lines(&dir.path().join("audit-2024-01.jsonl"))
        .pop()
        .unwrap();
    let hash = field(&third, "hash").as_str().unwrap().to_owned();
    let anchor = |s: &str| Some(s.parse::<Anchor>().unwrap());

    assert!(
        verify(dir.path(), anchor(&format!("3:{hash}")))
            .unwrap()
            .is_ok()
    );
    let p = problem(dir.path(), anchor(&format!("4:{hash}")));
    assert_eq!((p.kind, p.seq), (ProblemKind::AnchorMismatch, Some(4)));
    let p = problem(dir.path(), anchor(&format!("13:{hash}")));
    assert_eq!(
        (p.kind, p.seq, p.line),
        (ProblemKind::AnchorMissing, Some(13), None)
    );

    log.prune(
        SignedDuration::from_hours(40 * 24),
        t("2024-04-25T00:00:00Z"),
    )
    .unwrap();
    let p = problem(dir.path(), anchor(&format!("3:{hash}")));
    assert_eq!(p.kind, ProblemKind::AnchorPruned);
    assert!(p.reason.contains("audit-2024-01.jsonl"), "{p}");
}

#[test]
fn anchor_text_errors_say_what_is_wrong() {
    let hash = "ab".repeat(32);
    let good: Anchor = format!(" 12:{} ", hash.to_uppercase()).parse().unwrap();
    assert_eq!(
        good,
        Anchor {
            seq: 12,
            hash: hash.clone()
        }
    );
    assert_eq!(good.to_string(), format!("12:{hash}"));
    for (text, says) in [
        (hash.clone(), "no ':'"),
        (format!("x:{hash}"), "not a whole number"),
        (format!("0:{hash}"), "starts at 1"),
        ("5:abc".to_owned(), "3 characters"),
        (format!("5:{}", "g".repeat(64)), "hex"),
        (format!("5:{}", "é".repeat(64)), "hex"),
    ] {
        let err = text.parse::<Anchor>().unwrap_err().to_string();
        assert!(err.contains(says), "{text:?}: {err}");
    }
}

#[test]
fn tail_reads_across_segments_oldest_first() {
    let (dir, lock) = state();
    let mut log = AuditLog::open(&lock, t("2024-01-31T22:00:00Z")).unwrap();
    fill(&mut log, 1, 4, "2024-01-31T22:00:00Z");
    let last3: Vec<_> = tail(dir.path(), 3)
        .unwrap()
        .iter()
        .map(|l| field(l, "seq"))
        .collect();
    assert_eq!(last3, [2, 3, 4]);
    assert_eq!(tail(dir.path(), 100).unwrap().len(), 4);
    assert!(tail(dir.path(), 0).unwrap().is_empty());
}

#[test]
fn an_empty_state_dir_verifies_with_no_entries() {
    let dir = tempfile::tempdir().unwrap();
    let report = assert_ok(dir.path());
    assert_eq!((report.entries, report.segments.len()), (0, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_segment_bytes_never_panic(
        rotated in proptest::collection::vec(any::<u8>(), 0..400),
        current in proptest::collection::vec(any::<u8>(), 0..400),
        good_prefix in 0usize..3,
    ) {
        let (dir, lock) = state();
        let mut log = AuditLog::open(&lock, t("2024-01-01T00:00:00Z")).unwrap();
        for _ in 0..good_prefix {
            log.append(t("2024-01-01T00:00:00Z"), "x", &()).unwrap();
        }
        drop(log);
        fs::write(dir.path().join("audit-2023-12.jsonl"), &rotated).unwrap();
        fs::OpenOptions::new().append(true).open(dir.path().join(CURRENT)).unwrap()
            .write_all(&current).unwrap();
        let _ = verify(dir.path(), None).unwrap();
        let _ = tail(dir.path(), 3).unwrap();
        // Opening may refuse a log it cannot find the head of, but must not panic.
        let _ = AuditLog::open(&lock, t("2024-02-01T00:00:00Z"));
    }
}
