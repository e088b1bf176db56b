//! `erase` on the real binary (issue 3): a data subject's erasure request selects clips the
//! way a hold window does, deletes all of them or none, and is audited with the request.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{DAY, Env, files, secs};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

const HOUR: i64 = 3600;
const MIN: i64 = 60;

fn ago(env: &Env, s: i64) -> Timestamp {
    secs(env.now) - SignedDuration::from_secs(s)
}

fn plus(t: Timestamp, s: i64) -> Timestamp {
    t + SignedDuration::from_secs(s)
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// A window three days back and the clips around it, all younger than retention: an erasure
/// does not wait for retention.
struct Tree {
    env: Env,
    from: Timestamp,
    to: Timestamp,
    before: PathBuf,
    straddles: PathBuf,
    inside: PathBuf,
    after: PathBuf,
    other_camera: PathBuf,
    marked: PathBuf,
}

fn tree() -> Tree {
    let env = Env::new("\"frigate\"");
    let from = ago(&env, 3 * DAY);
    let to = plus(from, HOUR);
    let c = |cam: &str, start: Timestamp, end: Timestamp| env.clip(cam, start, end, b"face");
    let before = c("front", plus(from, -3 * MIN), plus(from, -2 * MIN));
    let straddles = c("front", plus(from, -10), plus(from, 50));
    let inside = c("front", plus(from, 30 * MIN), plus(from, 31 * MIN));
    let after = c("front", plus(to, MIN), plus(to, 2 * MIN));
    let other_camera = c("yard", plus(from, 30 * MIN), plus(from, 31 * MIN));
    // A held clip outside the selection, with its marker: neither may be touched.
    let marked = c("front", plus(from, -DAY), plus(from, -DAY + MIN));
    std::fs::write(marked.with_extension("mp4.hold"), "case = \"OTHER\"").unwrap();
    // A box where clipwarden has run: its state directory exists (see the test below for
    // one where it does not yet).
    std::fs::create_dir_all(&env.state).unwrap();
    Tree {
        env,
        from,
        to,
        before,
        straddles,
        inside,
        after,
        other_camera,
        marked,
    }
}

impl Tree {
    fn window(&self, extra: &[&str]) -> common::Out {
        let (f, t) = (self.from.to_string(), self.to.to_string());
        let mut args = vec!["erase", "--camera", "front", "--from", &f, "--to", &t];
        args.extend(["--reason", "SAR-2026-17: erase the subject at the door"]);
        args.extend(extra);
        self.env.run(&args)
    }
}

fn listed(j: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = j["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (s(&c["path"]).to_string(), s(&c["status"]).to_string()))
        .collect();
    v.sort();
    v
}

fn all_files(env: &Env) -> BTreeSet<String> {
    files(&env.root).into_iter().collect()
}

fn rel(env: &Env, p: &std::path::Path) -> String {
    p.strip_prefix(&env.root).unwrap().display().to_string()
}

#[test]
fn erase_selects_like_a_hold_window_lists_on_a_dry_run_then_deletes_just_that() {
    let t = tree();
    let env = &t.env;
    let before = all_files(env);

    let dry = t.window(&["--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["erased"], false);
    let want = vec![
        (t.inside.display().to_string(), "erase".to_string()),
        (t.straddles.display().to_string(), "erase".to_string()),
    ];
    let mut want = want;
    want.sort();
    assert_eq!(
        listed(&dry),
        want,
        "the segment still recording at --from is selected"
    );
    let text = t.window(&["--dry-run"]).expect(0);
    text.stdout_has("would erase 2 clips")
        .stdout_has(t.straddles.to_str().unwrap())
        .stdout_has(t.inside.to_str().unwrap());
    assert_eq!(all_files(env), before, "a dry run deletes nothing");
    assert!(env.audit_all().is_empty(), "a dry run writes nothing");

    // No terminal: no question asked, it goes ahead.
    let out = t.window(&["--json"]).expect(0).json();
    assert_eq!(out["erased"], true);
    assert_eq!(out["deleted"], 2);
    assert!(!t.straddles.exists() && !t.inside.exists());
    let mut expected = before.clone();
    expected.remove(&rel(env, &t.straddles));
    expected.remove(&rel(env, &t.inside));
    assert_eq!(
        all_files(env),
        expected,
        "nothing outside the selection is touched"
    );
    for p in [&t.before, &t.after, &t.other_camera, &t.marked] {
        assert!(p.exists(), "{} was not selected", p.display());
    }

    let entries = env.events("clips_deleted");
    assert!(!entries.is_empty());
    let mut names = Vec::new();
    for e in &entries {
        assert_eq!(e["reason"], "erasure");
        let r = &e["request"];
        assert_eq!(r["reason"], "SAR-2026-17: erase the subject at the door");
        assert_eq!(r["uid"], nix::unistd::getuid().as_raw());
        assert!(!s(&r["by"]).is_empty());
        for c in e["clips"].as_array().unwrap() {
            assert_eq!(c["camera"], "front");
            names.push(s(&c["name"]).to_string());
        }
    }
    names.sort();
    let mut want_names: Vec<String> = [&t.straddles, &t.inside]
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    want_names.sort();
    assert_eq!(names, want_names);
    env.run(&["audit", "verify"]).expect(0);

    // Again: nothing left to select.
    t.window(&[]).expect(0).stdout_has("no clip matches");
}

/// Asserts an erasure refused with exit 3 that deleted nothing and named the blocking clip.
fn refused(t: &Tree, out: common::Out, blocker: &std::path::Path, status: &str) -> Value {
    let before_audit = t.env.events("clips_deleted").len();
    let out = out.expect(3);
    let j = out.json();
    assert_eq!(j["erased"], false);
    assert_eq!(j["deleted"], 0);
    let row = j["clips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == blocker.to_str().unwrap())
        .unwrap_or_else(|| panic!("{} not listed: {j}", blocker.display()))
        .clone();
    assert_eq!(row["status"], status, "{j}");
    for c in j["clips"].as_array().unwrap() {
        assert!(
            std::path::Path::new(s(&c["path"])).exists(),
            "all or nothing: {} was deleted",
            s(&c["path"])
        );
    }
    assert_eq!(t.env.events("clips_deleted").len(), before_audit);
    row
}

#[test]
fn erase_deletes_nothing_when_a_registry_hold_covers_one_clip() {
    let t = tree();
    let env = &t.env;
    // Held: only the inside clip.
    let id = env.hold_id(
        &["front"],
        plus(t.from, 20 * MIN),
        plus(t.from, 40 * MIN),
        "POLICE-9",
    );
    let row = refused(&t, t.window(&["--json"]), &t.inside, "held");
    assert_eq!(row["holds"][0], format!("hold {id}").as_str());
    let text = t.window(&[]).expect(3);
    text.stdout_has("nothing erased")
        .stdout_has(&format!("(held by hold {id})"));
    // The dry run says the same and exits 3 as well.
    t.window(&["--dry-run"]).expect(3);
    // Released, the hold no longer stands in the way.
    env.run(&["hold", "release", &id, "--reason", "closed"])
        .expect(0);
    t.window(&[]).expect(0);
    assert!(!t.inside.exists() && !t.straddles.exists());
}

#[test]
fn erase_deletes_nothing_when_a_marker_holds_one_clip() {
    let t = tree();
    let side = t.straddles.with_extension("mp4.hold");
    std::fs::write(&side, "").unwrap();
    let row = refused(&t, t.window(&["--json"]), &t.straddles, "held");
    assert!(s(&row["holds"][0]).ends_with(".mp4.hold"), "{row}");
    std::fs::remove_file(&side).unwrap();

    // A directory marker above the inside clip.
    let dir = t.inside.parent().unwrap().join(".hold");
    std::fs::write(&dir, "case = \"DSAR\"").unwrap();
    refused(&t, t.window(&["--json"]), &t.inside, "held");
    assert!(dir.exists() && t.marked.with_extension("mp4.hold").exists());
}

#[test]
fn erase_deletes_nothing_when_a_clip_is_still_being_written() {
    let t = tree();
    // Its recording reaches into the window and it was written to just now.
    common::set_mtime(&t.inside, t.env.now);
    refused(&t, t.window(&["--json"]), &t.inside, "being_written");
}

#[test]
fn erase_deletes_nothing_when_a_clip_cannot_be_dated() {
    let t = tree();
    let env = &t.env;
    // A clip named at least an hour ahead (beyond future_slack), inside a window that reaches
    // it. Its name starts the hour after next: the next hour's start is under 10 minutes away
    // in the last 10 minutes of every hour, within future_slack, and erasable.
    let ahead = env.file(
        &format!(
            "{}/front/00.00.mp4",
            plus(secs(env.now), 2 * HOUR)
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .strftime("%Y-%m-%d/%H")
        ),
        HOUR,
    );
    let ok = env.frigate("front", 2 * HOUR);
    let (f, to) = (
        ago(env, 3 * HOUR).to_string(),
        plus(secs(env.now), 3 * HOUR).to_string(),
    );
    let out = env.run(&[
        "erase", "--camera", "front", "--from", &f, "--to", &to, "--reason", "SAR", "--json",
    ]);
    refused(&t, out, &ahead, "unjudgeable");
    assert!(ok.exists());

    // By path: a 1970 name from a recorder without a battery clock.
    let epoch = env.file("1970-01-01/00/front/00.00.mp4", DAY);
    let out = env.run(&[
        "erase",
        "--path",
        t.inside.to_str().unwrap(),
        "--path",
        epoch.to_str().unwrap(),
        "--reason",
        "SAR",
        "--json",
    ]);
    refused(&t, out, &epoch, "unjudgeable");
    assert!(t.inside.exists());
}

#[test]
fn erase_by_path_takes_exactly_the_named_clips() {
    let t = tree();
    let env = &t.env;
    let before = all_files(env);
    let out = env
        .run(&[
            "erase",
            "--path",
            t.before.to_str().unwrap(),
            "--path",
            t.other_camera.to_str().unwrap(),
            "--reason",
            "SAR-3",
        ])
        .expect(0);
    out.stdout_has("erased 2 clips").stdout_has("SAR-3");
    let mut expected = before;
    expected.remove(&rel(env, &t.before));
    expected.remove(&rel(env, &t.other_camera));
    assert_eq!(all_files(env), expected);
    let cams: BTreeSet<String> = env
        .events("clips_deleted")
        .iter()
        .flat_map(|e| {
            assert_eq!(e["reason"], "erasure");
            assert_eq!(e["request"]["reason"], "SAR-3");
            e["clips"].as_array().unwrap().clone()
        })
        .map(|c| s(&c["camera"]).to_string())
        .collect();
    assert_eq!(cams, BTreeSet::from(["front".into(), "yard".into()]));
}

#[test]
fn bad_erasure_requests_exit_2_and_delete_nothing() {
    let t = tree();
    let env = &t.env;
    let before = all_files(env);
    let (f, to) = (t.from.to_string(), t.to.to_string());
    std::fs::create_dir_all(&env.state).unwrap();
    let state_file = env.state.join("x.mp4");
    std::fs::write(&state_file, b"x").unwrap();
    let outside = env.tmp.path().join("x.mp4");
    std::fs::write(&outside, b"x").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["erase", "--camera", "front", "--from", &f, "--to", &to],
            "--reason",
        ),
        (
            vec![
                "erase", "--camera", "front", "--from", &f, "--to", &to, "--reason", " ",
            ],
            "--reason is empty",
        ),
        (
            vec![
                "erase", "--camera", "frnt", "--from", &f, "--to", &to, "--reason", "r",
            ],
            "closest known: front",
        ),
        (
            vec![
                "erase", "--camera", "front", "--from", &to, "--to", &f, "--reason", "r",
            ],
            "--from is after --to",
        ),
        (
            vec![
                "erase", "--camera", "front", "--from", "soon", "--to", &to, "--reason", "r",
            ],
            "--from: \"soon\" is not a time",
        ),
        (
            vec!["erase", "--path", "/etc/passwd", "--reason", "r"],
            "system or state directory",
        ),
        (
            vec![
                "erase",
                "--path",
                state_file.to_str().unwrap(),
                "--reason",
                "r",
            ],
            "system or state directory",
        ),
        (
            vec![
                "erase",
                "--path",
                outside.to_str().unwrap(),
                "--reason",
                "r",
            ],
            "not a clip in any root",
        ),
    ];
    for (args, needle) in cases {
        let out = env.run(&args);
        assert_eq!(out.code, 2, "{args:?}:\n{}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    assert_eq!(all_files(env), before);
    assert!(state_file.exists() && outside.exists());
    assert!(env.events("clips_deleted").is_empty());
}

#[test]
fn erase_works_before_any_pass_has_created_the_state_directory() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", DAY);
    assert!(!env.state.exists());
    env.run(&[
        "erase",
        "--path",
        clip.to_str().unwrap(),
        "--reason",
        "SAR-1",
    ])
    .expect(0);
    assert!(!clip.exists());
    assert_eq!(env.events("clips_deleted")[0]["reason"], "erasure");
}
