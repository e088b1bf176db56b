//! The audit log as real sweeps of the binary write it, and as `audit verify`, `audit tail`
//! and the stand-alone Python verifier read it: what each deletion records, when the config
//! is recorded, what tampering and a torn line look like, and that a dry run writes nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{DAY, Env, base64, python_verify, snapshot};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn frigate() -> Env {
    Env::new("\"frigate\"")
}

/// The start of the UTC hour `secs` before `env.now`.
fn hour_ago(env: &Env, secs: i64) -> Timestamp {
    Timestamp::from_second((env.now.as_second() - secs) / 3600 * 3600).unwrap()
}

fn mins(n: i64) -> SignedDuration {
    SignedDuration::from_mins(n)
}

fn assert_python_accepts(env: &Env) {
    let segments = env.segments();
    assert!(
        !segments.is_empty(),
        "no audit log in {}",
        env.state.display()
    );
    let out = python_verify(&segments);
    let entries = env.audit_all().len();
    assert_eq!(out.code, 0, "the Python verifier refused the log: {out:?}");
    out.stdout_has(&format!("ok: {entries} entries"));
}

/// A sweep that must succeed; returns its `--json` report.
fn sweep(env: &Env) -> Value {
    env.run(&["sweep", "--json"]).expect(0).json()
}

/// One of each reason in a real tree: a 31-day-old hour holding a capped held clip and an
/// unheld one (two entries for one directory), two unheld 8-day-old clips in another, a clip
/// whose hold has ended, and what must stay: a young clip and a held one within the cap.
struct Tree {
    capped: PathBuf,
    beside_capped: PathBuf,
    yard: [PathBuf; 2],
    ended: PathBuf,
    young: PathBuf,
    held: PathBuf,
}

fn tree(env: &Env) -> Tree {
    let h31 = hour_ago(env, 31 * DAY);
    let capped = env.frigate_span("front", h31 + mins(10), h31 + mins(20));
    std::fs::write(capped.with_extension("mp4.hold"), "case = \"C-1\"\n").unwrap();
    let beside_capped = env.frigate_span("front", h31 + mins(20), h31 + mins(30));
    let h8 = hour_ago(env, 8 * DAY + 7200);
    let yard = [
        env.frigate_span("yard", h8 + mins(5), h8 + mins(15)),
        env.frigate_span("yard", h8 + mins(15), h8 + mins(25)),
    ];
    let h9 = hour_ago(env, 9 * DAY);
    let ended = env.frigate_span("front", h9 + mins(5), h9 + mins(15));
    std::fs::write(
        ended.with_extension("mp4.hold"),
        format!(
            "case = \"C-2\"\nuntil = \"{}\"\n",
            env.now - SignedDuration::from_hours(24)
        ),
    )
    .unwrap();
    let young = env.frigate("front", DAY);
    let held = env.frigate("yard", 10 * DAY);
    std::fs::write(held.with_extension("mp4.hold"), "case = \"C-3\"\n").unwrap();
    Tree {
        capped,
        beside_capped,
        yard,
        ended,
        young,
        held,
    }
}

fn split(p: &Path) -> (String, String) {
    (
        p.parent().unwrap().to_str().unwrap().to_string(),
        p.file_name().unwrap().to_str().unwrap().to_string(),
    )
}

#[test]
fn every_deleted_clip_is_recorded_once_per_directory_and_reason_and_the_chain_verifies() {
    let env = frigate();
    let t = tree(&env);
    let report = sweep(&env);
    let deleted: Vec<&Value> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "deleted")
        .collect();
    assert_eq!(deleted.len(), 5, "{report:#}");
    for p in [
        &t.capped,
        &t.beside_capped,
        &t.yard[0],
        &t.yard[1],
        &t.ended,
    ] {
        assert!(!p.exists(), "{} should be gone", p.display());
    }
    assert!(t.young.exists() && t.held.exists());
    assert!(t.held.with_extension("mp4.hold").exists());
    for p in [&t.capped, &t.ended] {
        let marker = p.with_extension("mp4.hold");
        assert!(!marker.exists(), "a sidecar goes with its clip");
        let shown = marker.to_str().unwrap();
        assert!(
            env.all_events("marker_removed")
                .iter()
                .any(|e| e["path"] == shown),
            "no marker_removed for {shown}: {:#?}",
            env.audit_all()
        );
    }

    let entries = env.all_events("clips_deleted");
    let mut seen_groups = BTreeSet::new();
    let mut recorded: BTreeMap<(String, String), (String, Value)> = BTreeMap::new();
    for e in &entries {
        let dir = s(&e["dir"]).to_string();
        let reason = s(&e["reason"]).to_string();
        assert!(
            seen_groups.insert((dir.clone(), reason.clone())),
            "two entries for {dir} {reason}: {entries:#?}"
        );
        for c in e["clips"].as_array().unwrap() {
            for key in ["name", "camera", "recorded", "bytes", "limit", "holds"] {
                assert!(c.get(key).is_some(), "clip lacks {key}: {c}");
            }
            let k = (dir.clone(), s(&c["name"]).to_string());
            assert!(
                recorded.insert(k, (reason.clone(), c.clone())).is_none(),
                "{c} is recorded twice"
            );
        }
    }
    assert_eq!(recorded.len(), 5, "{entries:#?}");
    let capped_dir = split(&t.capped).0;
    let reasons_there: BTreeSet<&str> = seen_groups
        .iter()
        .filter(|(d, _)| *d == capped_dir)
        .map(|(_, r)| r.as_str())
        .collect();
    assert_eq!(reasons_there, BTreeSet::from(["hold_cap", "retention"]));

    // Each deletion the sweep reported is in the log with the same facts.
    for a in &deleted {
        let key = split(Path::new(s(&a["path"])));
        let (reason, c) = recorded
            .get(&key)
            .unwrap_or_else(|| panic!("{} is not in the audit log", s(&a["path"])));
        assert_eq!(reason, s(&a["reason"]));
        assert_eq!(c["camera"], a["camera"]);
        assert_eq!(c["recorded"], a["recorded"]);
        assert_eq!(c["bytes"], a["bytes"]);
        assert_eq!(c["limit"], a["limit"]);
        assert_eq!(c["holds"], a["holds"]);
    }
    let clip = |p: &PathBuf| &recorded[&split(p)];
    let label = |p: &PathBuf| Value::from(vec![p.with_extension("mp4.hold").to_str().unwrap()]);
    assert_eq!(clip(&t.capped).0, "hold_cap");
    assert_eq!(clip(&t.capped).1["limit"], "30d");
    assert_eq!(clip(&t.capped).1["holds"], label(&t.capped));
    assert_eq!(clip(&t.beside_capped).0, "retention");
    assert_eq!(clip(&t.beside_capped).1["limit"], "7d");
    assert_eq!(
        clip(&t.beside_capped).1["holds"],
        Value::from(Vec::<&str>::new())
    );
    assert_eq!(clip(&t.ended).0, "hold_ended");
    assert_eq!(clip(&t.ended).1["holds"], label(&t.ended));
    assert_eq!(clip(&t.yard[0]).1["camera"], "yard");
    assert_eq!(
        clip(&t.yard[0]).1["recorded"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        hour_ago(&env, 8 * DAY + 7200) + mins(5)
    );

    let sweeps = env.all_events("sweep");
    assert_eq!(sweeps.len(), 1);
    let e = &sweeps[0];
    assert_eq!(e["deleted"], 5);
    assert_eq!(e["due"], 5);
    assert_eq!(e["bytes"], 5 * 7);
    // The young clip's day is provably not due and stays unread: the other 6 are counted.
    assert_eq!(e["clips"], 6);
    assert_eq!(e["clips_complete"], false);
    assert_eq!(e["config_sha256"], env.config_sha256().as_str());

    assert_python_accepts(&env);
    env.run(&["audit", "verify"])
        .expect(0)
        .stdout_has("audit log OK");
}

#[test]
fn a_deleted_clip_with_a_non_utf8_name_is_recorded_exactly() {
    let env = Env::new("\"mtime\"");
    let p = env.root.join("cam").join(OsStr::from_bytes(b"caf\xe9.mp4"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"footage").unwrap();
    common::set_mtime(&p, env.now - SignedDuration::from_hours(24 * 8));
    sweep(&env);
    assert!(!p.exists());
    let e = env.all_events("clips_deleted");
    let c = &e[0]["clips"][0];
    assert_eq!(c["name"], "caf\u{fffd}.mp4");
    assert_eq!(c["name_b64"], base64(b"caf\xe9.mp4").as_str());
    assert_python_accepts(&env);
}

#[test]
fn config_loaded_is_recorded_on_the_first_pass_and_again_only_when_the_config_changes() {
    let env = frigate();
    env.frigate("front", 8 * DAY);
    sweep(&env);
    let first = env.config_sha256();
    let loaded = env.all_events("config_loaded");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["sha256"], first.as_str());
    let all = env.audit_all();
    assert_eq!(all[0]["event"], "config_loaded", "it opens the first pass");

    env.frigate("front", 9 * DAY);
    sweep(&env);
    assert_eq!(env.all_events("config_loaded").len(), 1, "same config");
    assert_eq!(env.all_events("sweep").len(), 2);

    env.write_config("[safety]\nquiet_period = \"3m\"", "\"frigate\"", "");
    let second = env.config_sha256();
    assert_ne!(first, second);
    sweep(&env);
    let loaded = env.all_events("config_loaded");
    assert_eq!(loaded.len(), 2, "the changed config is recorded");
    assert_eq!(loaded[1]["sha256"], second.as_str());
    let sweeps = env.all_events("sweep");
    assert_eq!(sweeps[1]["config_sha256"], first.as_str());
    assert_eq!(sweeps[2]["config_sha256"], second.as_str());
    assert_python_accepts(&env);
}

#[test]
fn the_same_config_through_another_spelling_of_its_path_is_not_a_change() {
    let env = frigate();
    sweep(&env);
    let mut cmd = env.bare_command(&["--config", "clipwarden.toml", "sweep"]);
    cmd.current_dir(env.config.parent().unwrap());
    common::output(&mut cmd).expect(0);
    let loaded = env.all_events("config_loaded");
    assert_eq!(loaded.len(), 1, "the config did not change: {loaded:#?}");
    let sweeps = env.all_events("sweep");
    assert_eq!(sweeps[0]["config_sha256"], sweeps[1]["config_sha256"]);
}

/// A log of a few passes, with clips deleted in several directories.
fn some_log(env: &Env) {
    for (i, cam) in ["front", "yard", "door"].iter().enumerate() {
        env.frigate(cam, 8 * DAY + i as i64 * 3 * 3600);
        env.frigate(cam, DAY + i as i64 * 3600);
    }
    sweep(env);
    env.frigate("front", 9 * DAY);
    sweep(env);
}

fn log_lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.state.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn tampering_one_byte_mid_line_fails_verify_naming_its_seq() {
    let env = frigate();
    some_log(&env);
    env.run(&["audit", "verify"]).expect(0);
    let path = env.state.join("audit.jsonl");
    let mut lines = log_lines(&env);
    assert!(lines.len() >= 5, "{lines:#?}");
    let victim = lines.len() / 2;
    let seq = serde_json::from_str::<Value>(&lines[victim]).unwrap()["seq"]
        .as_u64()
        .unwrap();
    // An alphanumeric byte from the middle of the line on, before its hash.
    let end = lines[victim].rfind(",\"hash\":\"").unwrap();
    let mut bytes = lines[victim].clone().into_bytes();
    let at = (bytes.len() / 2..end)
        .find(|&i| bytes[i].is_ascii_alphanumeric())
        .unwrap();
    bytes[at] = match bytes[at] {
        b'0'..=b'8' | b'a'..=b'y' | b'A'..=b'Y' => bytes[at] + 1,
        b => b - 1,
    };
    lines[victim] = String::from_utf8(bytes).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let out = env.run(&["audit", "verify"]).expect(4);
    out.stdout_has(&format!("seq {seq}:"));
    let j = env.run(&["audit", "verify", "--json"]).expect(4).json();
    assert_eq!(j["problem"]["seq"], seq);
    assert_eq!(j["problem"]["kind"], "hash_mismatch");
    assert_eq!(j["entries"], seq - 1, "the entries before it check out");
    let py = python_verify(&env.segments());
    assert_ne!(py.code, 0, "{py:?}");
    assert!(py.stderr.contains(&format!("FAIL seq {seq} ")), "{py:?}");
}

#[test]
fn verify_with_an_anchor_checks_that_the_log_still_holds_that_entry() {
    let env = frigate();
    some_log(&env);
    let tail = env
        .run(&["audit", "tail", "-n", "1", "--json"])
        .expect(0)
        .json();
    let head = &tail.as_array().unwrap()[0];
    let anchor = format!("{}:{}", head["seq"], s(&head["hash"]));
    env.run(&["audit", "verify", "--anchor", &anchor])
        .expect(0)
        .stdout_has(&format!("anchor {anchor} is in the log"));

    // One from the middle of the log, read off the file as a forwarded journal line would be.
    let mid: Value = serde_json::from_str(&log_lines(&env)[2]).unwrap();
    let anchor = format!("{}:{}", mid["seq"], s(&mid["hash"]));
    env.run(&["audit", "verify", "--anchor", &anchor]).expect(0);

    let mut wrong = s(&mid["hash"]).to_string();
    let last = if wrong.ends_with('0') { "1" } else { "0" };
    wrong.replace_range(63..64, last);
    env.run(&[
        "audit",
        "verify",
        "--anchor",
        &format!("{}:{wrong}", mid["seq"]),
    ])
    .expect(4)
    .stdout_has(&format!("seq {}", mid["seq"]));
    let beyond = head["seq"].as_u64().unwrap() + 100;
    env.run(&[
        "audit",
        "verify",
        "--anchor",
        &format!("{beyond}:{}", s(&head["hash"])),
    ])
    .expect(4);

    for bad in [
        "12".to_string(),
        format!("x:{}", s(&head["hash"])),
        "3:abc".to_string(),
        format!("0:{}", s(&head["hash"])),
        format!("3:{}", "g".repeat(64)),
    ] {
        env.run(&["audit", "verify", "--anchor", &bad])
            .expect(2)
            .stderr_has("--anchor");
    }
}

/// A chain cannot show that its own end was cut off; the anchor sent off the box can.
#[test]
fn an_anchor_catches_entries_cut_off_the_end_or_the_whole_log_removed() {
    let env = frigate();
    some_log(&env);
    let head = env
        .run(&["audit", "tail", "-n", "1", "--json"])
        .expect(0)
        .json()[0]
        .clone();
    let anchor = format!("{}:{}", head["seq"], s(&head["hash"]));
    let path = env.state.join("audit.jsonl");
    let lines = log_lines(&env);

    std::fs::write(&path, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    env.run(&["audit", "verify", "--anchor", &anchor])
        .expect(4)
        .stdout_has(&format!("seq {}", head["seq"]));

    std::fs::remove_file(&path).unwrap();
    env.run(&["audit", "verify", "--anchor", &anchor]).expect(4);
    // Nor does the next pass's fresh chain satisfy it.
    sweep(&env);
    env.run(&["audit", "verify", "--anchor", &anchor]).expect(4);
}

#[test]
fn a_torn_last_line_is_reported_until_the_next_sweep_seals_it_keeping_its_bytes() {
    let env = frigate();
    some_log(&env);
    let path = env.state.join("audit.jsonl");
    let whole = std::fs::read(&path).unwrap();
    let head: Value = serde_json::from_str(log_lines(&env).last().unwrap()).unwrap();
    let next = head["seq"].as_u64().unwrap() + 1;
    let torn = format!("{{\"seq\":{next},\"ts\":\"2026-11-29T0");
    std::fs::write(&path, [&whole[..], torn.as_bytes()].concat()).unwrap();

    for _ in 0..2 {
        let out = env.run(&["audit", "verify"]).expect(4);
        out.stdout_has(&format!("seq {next}:")).stdout_has("torn");
    }
    assert_ne!(python_verify(&env.segments()).code, 0);
    // Neither a read nor a dry run seals it: only a pass that writes.
    env.run(&["status"]).expect(0);
    env.run(&["sweep", "--dry-run"]).expect(0);
    env.run(&["audit", "verify"]).expect(4);

    sweep(&env);
    let after = std::fs::read(&path).unwrap();
    assert!(
        after.starts_with(&whole),
        "the entries before stay as they were"
    );
    let recovered = env.all_events("recovered");
    assert_eq!(recovered.len(), 1);
    let r = &recovered[0];
    assert_eq!(r["seq"], next);
    assert_eq!(r["torn_bytes"], torn.len());
    assert_eq!(r["torn_text"], torn.as_str());
    assert_eq!(r["torn_b64"], base64(torn.as_bytes()).as_str());
    let side = env.state.join(s(&r["saved_to"]));
    assert_eq!(std::fs::read(&side).unwrap(), torn.as_bytes());

    env.run(&["audit", "verify"])
        .expect(0)
        .stdout_has("audit log OK");
    assert_python_accepts(&env);
}

#[test]
fn audit_tail_shows_the_last_n_entries() {
    let env = frigate();
    some_log(&env);
    let lines = log_lines(&env);
    assert!(lines.len() > 4, "{lines:#?}");
    let last: Vec<Value> = lines[lines.len() - 3..]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let out = env.run(&["audit", "tail", "-n", "3"]).expect(0);
    let shown: Vec<&str> = out.stdout.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(shown.len(), 3, "{}", out.stdout);
    for (line, e) in shown.iter().zip(&last) {
        let want = format!("#{} ", e["seq"]);
        assert!(line.starts_with(&want), "{line} should start with {want}");
        assert!(line.contains(s(&e["event"])), "{line}");
    }

    let j = env
        .run(&["audit", "tail", "-n", "3", "--json"])
        .expect(0)
        .json();
    assert_eq!(j, Value::from(last));
    let j = env
        .run(&["audit", "tail", "-n", "100000", "--json"])
        .expect(0)
        .json();
    assert_eq!(j.as_array().unwrap().len(), lines.len());
}

#[test]
fn a_dry_run_writes_nothing_to_the_audit_log_or_the_state() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    let j = env.run(&["sweep", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(j["actions"].as_array().unwrap().len(), 1);
    assert!(
        !env.state.exists(),
        "a dry run on a new box creates no state: {:?}",
        snapshot(&env.state)
    );
    assert!(old.exists());

    sweep(&env);
    let before = snapshot(&env.state);
    assert!(before.contains_key("audit.jsonl") && before.contains_key("state.json"));
    let more = [env.frigate("front", 9 * DAY), env.frigate("yard", 10 * DAY)];
    let j = env.run(&["sweep", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(j["actions"].as_array().unwrap().len(), 2);
    assert_eq!(
        snapshot(&env.state),
        before,
        "the dry run changed the state dir"
    );
    assert!(more.iter().all(|p| p.exists()));
}

#[test]
fn a_removed_audit_log_fails_verification_and_raises_the_alarm() {
    let env = frigate();
    env.run(&["audit", "verify"]).expect(0);
    let out = env.run(&["audit", "tail"]).expect(0);
    assert!(
        out.stdout.is_empty(),
        "a new box has nothing to show: {}",
        out.stdout
    );
    env.frigate("front", 9 * DAY);
    env.run(&["sweep"]).expect(0);
    std::fs::remove_file(env.state.join("audit.jsonl")).unwrap();
    let out = env.run(&["audit", "verify"]).expect(4);
    assert!(
        out.stdout.contains("audit log is missing"),
        "{}",
        out.stdout
    );
    let out = env.run(&["sweep"]).expect(0);
    assert!(
        out.stdout.contains("the audit log was missing"),
        "{}",
        out.stdout
    );
}
