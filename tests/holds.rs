//! Legal holds on the real binary and real trees (issue 3): `hold add | list | show | release
//! | extend`, the window rule, the cap, bad input, mistyped IDs, the registry failing closed,
//! vanished and purged holds, the operator under sudo, holds placed while a sweep runs, and
//! `hold add` killed at any point.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{DAY, Env, Out, Traced, oslo, secs, snapshot};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

const HOUR: i64 = 3600;
const MIN: i64 = 60;
/// The hold ID alphabet: no 0/O, 1/I/L, U.
const ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTVWXY";

fn frigate() -> Env {
    Env::new("\"frigate\"")
}

/// `env.now` to the second, minus `secs`.
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

/// The paths a `hold show --json` lists, sorted.
fn shown_paths(env: &Env, id: &str) -> Vec<String> {
    let show = env.run(&["hold", "show", id, "--json"]).expect(0).json();
    let mut v: Vec<String> = show["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["path"]).to_string())
        .collect();
    v.sort();
    v
}

fn paths(ps: &[&PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = ps.iter().map(|p| p.display().to_string()).collect();
    v.sort();
    v
}

/// Every reason given in `clips_deleted` entries for the clip named `name` in `dir`.
fn deleted_reasons(env: &Env, clip: &Path) -> Vec<String> {
    let dir = clip.parent().unwrap().display().to_string();
    let name = clip.file_name().unwrap().to_string_lossy().into_owned();
    env.all_events("clips_deleted")
        .iter()
        .filter(|e| e["dir"] == dir.as_str())
        .filter(|e| {
            e["clips"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == name.as_str())
        })
        .map(|e| s(&e["reason"]).to_string())
        .collect()
}

fn is_hold_id(id: &str) -> bool {
    id.len() == 8
        && id.as_bytes()[4] == b'-'
        && id
            .chars()
            .enumerate()
            .all(|(i, c)| i == 4 || ALPHABET.contains(c))
}

// ---------------------------------------------------------------------------------------
// hold add

#[test]
fn hold_add_places_an_audited_hold_with_a_checkable_id() {
    let env = frigate();
    let from = ago(&env, 9 * DAY);
    env.clip("front", from, plus(from, MIN), b"one");
    let out = env
        .hold_window(
            &["front"],
            from,
            plus(from, HOUR),
            "POLICE-2026-0142",
            &["--json"],
        )
        .expect(0);
    let j = out.json();
    let id = s(&j["id"]).to_string();
    assert!(
        is_hold_id(&id),
        "{id} is not XXXX-XXX from the unambiguous alphabet"
    );
    assert_eq!(j["case"], "POLICE-2026-0142");
    assert_eq!(j["state"], "active");
    assert_eq!(j["selector"]["kind"], "window");
    assert_eq!(j["selector"]["cameras"], serde_json::json!(["front"]));
    assert_eq!(s(&j["selector"]["from"]), from.to_string());

    // The ID as a person would type it back: lower case, no dash.
    let typed = id.replace('-', "").to_lowercase();
    let shown = env
        .run(&["hold", "show", &typed, "--json"])
        .expect(0)
        .json();
    assert_eq!(shown["id"], id.as_str());

    assert_eq!(env.hold_files(), [format!("{id}.toml")]);
    let created = env.events("hold_created");
    assert_eq!(created.len(), 1, "{created:?}");
    let c = &created[0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["case"], "POLICE-2026-0142");
    assert_eq!(c["reason"], "incident reported by staff");
    assert_eq!(c["selector"]["kind"], "window");
    assert!(c.get("late").is_none(), "written by hold add itself: {c}");
    let file = env.hold_toml(&id);
    assert_eq!(
        file["audit_seq"].as_integer().map(|n| n as u64),
        c["seq"].as_u64(),
        "the entry's seq is stamped back into the hold file"
    );
    assert_eq!(j["audit_seq"], c["seq"], "--json shows the stamped hold");
    env.run(&["audit", "verify"]).expect(0);
}

#[test]
fn hold_add_reports_per_camera_what_it_covers_and_how_to_export_it() {
    let env = frigate();
    let from = ago(&env, 2 * DAY);
    let to = plus(from, HOUR);
    // front: a clip a minute for ten minutes, nothing for half an hour, ten more, then
    // nothing to the end of the window. yard: nothing in the window at all.
    for m in (0..10).chain(40..50) {
        let t = plus(from, m * MIN);
        env.clip("front", t, plus(t, MIN), &[7u8; 1000]);
    }
    env.clip("yard", ago(&env, 5 * DAY), ago(&env, 5 * DAY - MIN), b"y");
    let out = env
        .hold_window(&["front", "yard"], from, to, "INC-77", &[])
        .expect(0);
    let id = env.hold_files()[0].trim_end_matches(".toml").to_string();
    out.stdout_has(&format!("hold {id} placed for case INC-77"))
        .stdout_has(&format!("window {} to {}", oslo(from), oslo(to)))
        .stdout_has(&format!(
            "front: 20 clips (19.5 KiB), first {}, last {}",
            oslo(from),
            oslo(plus(from, 49 * MIN))
        ))
        .stdout_has(&format!(
            "gap: nothing recorded from {} to {} (30m)",
            oslo(plus(from, 10 * MIN)),
            oslo(plus(from, 40 * MIN))
        ))
        .stdout_has(&format!(
            "gap: nothing recorded from {} to {} (10m)",
            oslo(plus(from, 50 * MIN)),
            oslo(to)
        ))
        .stdout_has("yard: no clips recorded in the window")
        .stdout_has(&format!(
            "reaches the 30-day cap on {}",
            oslo(plus(to, 30 * DAY))
        ))
        .stdout_has(&format!("Before {}, export", oslo(plus(to, 30 * DAY))))
        .stdout_has("clipwarden export --case INC-77 --dest ");
}

#[test]
fn a_window_covers_every_clip_whose_recording_overlaps_it_and_a_sweep_keeps_them() {
    let env = frigate();
    let from = ago(&env, 9 * DAY);
    let to = plus(from, 2 * HOUR);
    // Entirely before the window, and ending just before it opens.
    let before = env.clip("front", plus(from, -5 * MIN), plus(from, -4 * MIN), b"a");
    let ends_early = env.clip("front", plus(from, -70), plus(from, -1), b"b");
    // Began before --from and was still recording at it: the 17:59:50 segment.
    let straddles = env.clip("front", plus(from, -10), plus(from, 50), b"c");
    // Ends exactly at --from: both ends are included.
    let touches_from = env.clip("front", plus(from, -3 * MIN), from, b"d");
    let inside = env.clip("front", plus(from, HOUR), plus(from, HOUR + MIN), b"e");
    // Begins exactly at --to, and one a second after it.
    let at_to = env.clip("front", to, plus(to, MIN), b"f");
    let after = env.clip("front", plus(to, 2 * MIN), plus(to, 3 * MIN), b"g");
    // Another camera, inside the window.
    let other = env.clip("yard", plus(from, HOUR), plus(from, HOUR + MIN), b"h");
    // Young clips, so that the sweep stays under the fraction guard whatever it deletes.
    for i in 0..10 {
        env.frigate("yard", DAY + i * MIN);
    }

    let id = env.hold_id(&["front"], from, to, "P-1");
    assert_eq!(
        shown_paths(&env, &id),
        paths(&[&straddles, &touches_from, &inside, &at_to]),
        "hold show lists exactly the overlapping clips"
    );
    let out = env.run(&["sweep", "--json"]).expect(0).json();
    for kept in [&straddles, &touches_from, &inside, &at_to] {
        assert!(kept.exists(), "{} is held but was deleted", kept.display());
    }
    for gone in [&before, &ends_early, &after, &other] {
        assert!(
            !gone.exists(),
            "{} is not held but was kept",
            gone.display()
        );
        assert_eq!(deleted_reasons(&env, gone), ["retention"]);
    }
    assert_eq!(out["summary"]["held_past_retention"], 4, "{out}");
}

#[test]
fn typed_times_are_echoed_with_offset_and_age_and_clock_times_resolve_as_spec_says() {
    let env = frigate();
    env.clip(
        "front",
        ago(&env, 3 * HOUR),
        ago(&env, 3 * HOUR - MIN),
        b"x",
    );
    let zone = jiff::tz::TimeZone::get("Europe/Oslo").unwrap();
    let local = |t: Timestamp| t.to_zoned_datetime(zone.clone());
    // HH:MM: --from is its most recent past occurrence, --to the first after --from.
    let from_t = local(ago(&env, 2 * HOUR)).strftime("%H:%M").to_string();
    let to_t = local(ago(&env, HOUR)).strftime("%H:%M").to_string();
    let out = env
        .run(&[
            "hold", "add", "--camera", "front", "--from", &from_t, "--to", &to_t, "--case",
            "HHMM-1", "--reason", "x", "--json",
        ])
        .expect(0);
    let minute = |t: Timestamp| Timestamp::from_second(t.as_second() - t.as_second() % 60).unwrap();
    let sel = &out.json()["selector"];
    assert_eq!(s(&sel["from"]), minute(ago(&env, 2 * HOUR)).to_string());
    assert_eq!(s(&sel["to"]), minute(ago(&env, HOUR)).to_string());
    for line in out.stderr.lines().filter(|l| l.starts_with("--")) {
        assert!(
            (line.contains("+01:00") || line.contains("+02:00")) && line.contains(" ago)"),
            "echo without offset or age: {line}"
        );
    }
    out.stderr_has(&format!(
        "--from {} (2h ago)",
        oslo(minute(ago(&env, 2 * HOUR)))
    ))
    .stderr_has("--to   ");

    // "YYYY-MM-DD HH:MM" in the configured zone, and --until echoed too.
    let from_l = local(ago(&env, 3 * HOUR))
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let until = (secs(env.now) + SignedDuration::from_secs(2 * DAY + 30 * MIN)).to_string();
    let out = env
        .run(&[
            "hold", "add", "--camera", "front", "--from", &from_l, "--to", &to_t, "--case",
            "LOCAL-1", "--reason", "x", "--until", &until, "--json",
        ])
        .expect(0);
    assert_eq!(
        s(&out.json()["selector"]["from"]),
        minute(ago(&env, 3 * HOUR)).to_string()
    );
    out.stderr_has("--until ").stderr_has("(in 2d)");
}

/// Runs `hold add` with `args` and asserts exit 2, `needle` on stderr, and no hold placed.
fn refused(env: &Env, args: &[&str], needle: &str) {
    let mut all = vec!["hold", "add"];
    all.extend(args);
    let out = env.run(&all);
    assert_eq!(
        out.code, 2,
        "{args:?} should exit 2\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{}",
        out.stderr
    );
    assert!(env.hold_files().is_empty(), "{args:?} placed a hold");
    assert!(
        env.events("hold_created").is_empty(),
        "{args:?} audited a hold"
    );
}

#[test]
fn bad_input_exits_2_says_what_is_wrong_and_places_nothing() {
    let env = frigate();
    env.frigate("front", 2 * DAY);
    let (f, t) = (ago(&env, 3 * DAY).to_string(), ago(&env, DAY).to_string());
    let win = |extra: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = ["--camera", "front", "--from", &f, "--to", &t]
            .iter()
            .map(|x| x.to_string())
            .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v
    };
    let run = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&env, &a, needle);
    };
    run(win(&["--reason", "r"]), "--case");
    run(win(&["--case", "C-1"]), "--reason");
    run(
        win(&["--case", "C-1", "--reason", "  "]),
        "--reason is empty",
    );
    let long = "A".repeat(65);
    for bad in [
        "-leading-dash",
        ".dot",
        "has space",
        "slash/inside",
        "ümlaut",
        "",
        &long,
    ] {
        let mut a = win(&["--reason", "r"]);
        a.push(format!("--case={bad}"));
        run(a, "is not a case reference");
    }
    // The longest allowed case is fine: checked at the end, once.
    let now = secs(env.now);
    let future = plus(now, HOUR).to_string();
    let later = plus(now, 2 * HOUR).to_string();
    let far = plus(now, 25 * HOUR).to_string();
    let hour_ago = ago(&env, HOUR).to_string();
    for (from, to, needle) in [
        ("garbage", t.as_str(), "--from: \"garbage\" is not a time"),
        (f.as_str(), "25:99", "--to: \"25:99\" is not a time"),
        (t.as_str(), f.as_str(), "--from is after --to"),
        (future.as_str(), later.as_str(), "--from is in the future"),
        (hour_ago.as_str(), far.as_str(), "more than 24 h ahead"),
    ] {
        run(
            vec![
                "--camera".into(),
                "front".into(),
                "--from".into(),
                from.into(),
                "--to".into(),
                to.into(),
                "--case".into(),
                "C-1".into(),
                "--reason".into(),
                "r".into(),
            ],
            needle,
        );
    }
    run(
        vec![
            "--camera".into(),
            "front".into(),
            "--from".into(),
            f.clone(),
            "--case".into(),
            "C-1".into(),
            "--reason".into(),
            "r".into(),
        ],
        "needs both --from and --to",
    );
    run(
        win(&["--case", "C-1", "--reason", "r", "--until", "someday"]),
        "--until: \"someday\" is not a time",
    );
    // The longest case allowed is accepted.
    let ok = "Z".repeat(64);
    let mut a: Vec<&str> = vec!["hold", "add", "--camera", "front", "--from", &f, "--to", &t];
    a.extend(["--case", &ok, "--reason", "r"]);
    env.run(&a).expect(0);
}

#[test]
fn an_unknown_camera_exits_2_naming_the_closest_and_names_match_without_case() {
    let env = frigate();
    let c1 = env.frigate("Entrance", 9 * DAY);
    env.frigate("Yard", 9 * DAY);
    let (f, t) = (ago(&env, 10 * DAY), ago(&env, 8 * DAY));
    let out = env.hold_window(&["entrnce"], f, t, "C-2", &[]).expect(2);
    out.stderr_has("unknown camera \"entrnce\"")
        .stderr_has("closest known: Entrance");
    assert!(env.hold_files().is_empty());
    let id = env.hold_id(&["ENTRANCE"], f, t, "C-2");
    assert_eq!(shown_paths(&env, &id), paths(&[&c1]));
    env.run(&["sweep"]).expect(0);
    assert!(c1.exists(), "held under another spelling of its camera");
}

#[test]
fn path_holds_take_clips_in_a_root_only() {
    let env = frigate();
    let held = env.frigate("front", 9 * DAY);
    let free = env.frigate("front", 9 * DAY + HOUR);
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::write(env.state.join("note.mp4"), b"x").unwrap();
    let outside = env.tmp.path().join("elsewhere.mp4");
    std::fs::write(&outside, b"x").unwrap();
    let not_a_clip = held.with_file_name("notes.txt");
    std::fs::write(&not_a_clip, b"x").unwrap();
    let link = env.tmp.path().join("link-to-etc");
    std::os::unix::fs::symlink("/etc", &link).unwrap();
    let state_file = env.state.join("note.mp4");
    let via_link = link.join("passwd");
    let dotdot = env.root.join("../state/note.mp4");
    for (p, needle) in [
        (outside.as_path(), "is not a clip in any root"),
        (not_a_clip.as_path(), "is not a clip in any root"),
        (Path::new("/etc/passwd"), "a system or state directory"),
        (via_link.as_path(), "a system or state directory"),
        (state_file.as_path(), "a system or state directory"),
        (dotdot.as_path(), "a system or state directory"),
    ] {
        let p = p.to_str().unwrap();
        refused(
            &env,
            &["--path", p, "--case", "C-3", "--reason", "r"],
            needle,
        );
    }
    refused(
        &env,
        &[
            "--path",
            held.to_str().unwrap(),
            "--camera",
            "front",
            "--case",
            "C-3",
            "--reason",
            "r",
        ],
        "not both",
    );
    let out = env
        .run(&[
            "hold",
            "add",
            "--path",
            held.to_str().unwrap(),
            "--case",
            "C-3",
            "--reason",
            "r",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(out["selector"]["kind"], "paths");
    assert_eq!(out["selector"]["paths"][0], held.to_str().unwrap());
    assert_eq!(shown_paths(&env, s(&out["id"])), paths(&[&held]));
    env.run(&["sweep"]).expect(0);
    assert!(held.exists() && !free.exists());
}

// ---------------------------------------------------------------------------------------
// IDs

/// Mistypings of `id` a person makes: each character replaced, neighbours swapped, and the
/// look-alikes the alphabet leaves out.
fn mistypings(id: &str) -> Vec<String> {
    let chars: Vec<char> = id.chars().filter(|&c| c != '-').collect();
    let mut out = Vec::new();
    for i in 0..chars.len() {
        let mut c = chars.clone();
        let pos = ALPHABET.find(c[i]).unwrap();
        c[i] = ALPHABET
            .chars()
            .nth((pos + 1 + i) % ALPHABET.len())
            .unwrap();
        out.push(c.iter().collect());
    }
    for i in 0..chars.len() - 1 {
        if chars[i] != chars[i + 1] {
            let mut c = chars.clone();
            c.swap(i, i + 1);
            out.push(c.iter().collect());
        }
    }
    for (i, bad) in ['0', 'O', '1', 'I', 'L'].into_iter().enumerate() {
        let mut c = chars.clone();
        c[i % chars.len()] = bad;
        out.push(c.iter().collect());
    }
    out
}

#[test]
fn a_mistyped_id_is_rejected_and_never_taken_for_another_hold() {
    let env = frigate();
    env.frigate("front", DAY);
    let (f, t) = (ago(&env, 2 * DAY), ago(&env, HOUR));
    let a = env.hold_id(&["front"], f, t, "CASE-A");
    let b = env.hold_id(&["front"], f, t, "CASE-B");
    let before = snapshot(&env.state);
    for typo in mistypings(&a) {
        for cmd in [
            vec!["hold", "show", typo.as_str()],
            vec!["hold", "release", typo.as_str(), "--reason", "closed"],
            vec!["hold", "extend", typo.as_str(), "--until", "23:59"],
        ] {
            let out = env.run(&cmd);
            assert_eq!(
                out.code, 2,
                "{cmd:?} accepted:\n{}{}",
                out.stdout, out.stderr
            );
            assert!(
                out.stderr.contains("not a hold ID") || out.stderr.contains("not a valid hold ID"),
                "{cmd:?}: {}",
                out.stderr
            );
            assert!(
                !out.stdout.contains("CASE-") && !out.stderr.contains("CASE-"),
                "{cmd:?} named a hold: {}{}",
                out.stdout,
                out.stderr
            );
        }
    }
    let out = env.run(&["hold", "show", "K7Q"]).expect(2);
    out.stderr_has("7 characters");
    let out = env
        .run(&["hold", "show", &a.replace(&a[..1], "0")])
        .expect(2);
    out.stderr_has("never contain 0 or O");
    // A well-formed ID that is in no hold.
    let other = clipwarden::holds::id::HoldId::from_entropy([9, 9, 9, 9, 9, 9]).to_string();
    if other != a && other != b {
        env.run(&["hold", "show", &other])
            .expect(2)
            .stderr_has("no hold");
    }
    assert_eq!(
        snapshot(&env.state),
        before,
        "a rejected ID changed the state"
    );
    assert!(env.events("hold_released").is_empty());
}

// ---------------------------------------------------------------------------------------
// until, extend, release, the cap

#[test]
fn until_past_the_cap_is_accepted_capped_and_said() {
    let env = frigate();
    env.frigate("front", 5 * DAY);
    let (f, t) = (ago(&env, 6 * DAY), ago(&env, 4 * DAY));
    let until = plus(secs(env.now), 60 * DAY).to_string();
    let out = env
        .hold_window(&["front"], f, t, "CAP-1", &["--until", &until])
        .expect(0);
    let cap = plus(t, 30 * DAY);
    out.stdout_has(&format!(
        "--until is past the 30-day cap: capped to {}",
        oslo(cap)
    ));
    let id = env.hold_files()[0].trim_end_matches(".toml").to_string();
    let j = env.run(&["hold", "show", &id, "--json"]).expect(0).json();
    assert_eq!(
        s(&j["until"]),
        cap.to_string(),
        "the registry holds the capped end"
    );
    assert_eq!(s(&j["cap"]), cap.to_string());
    let created = &env.events("hold_created")[0];
    assert_eq!(s(&created["until"]), cap.to_string());
}

#[test]
fn extend_moves_until_later_only_refuses_without_until_and_caps() {
    let env = frigate();
    env.frigate("front", 5 * DAY);
    let (f, t) = (ago(&env, 6 * DAY), ago(&env, 4 * DAY));
    let now = secs(env.now);
    let until = plus(now, 2 * DAY);
    let out = env
        .hold_window(
            &["front"],
            f,
            t,
            "EXT-1",
            &["--until", &until.to_string(), "--json"],
        )
        .expect(0);
    let id = s(&out.json()["id"]).to_string();

    let earlier = plus(now, DAY).to_string();
    let out = env
        .run(&["hold", "extend", &id, "--until", &earlier])
        .expect(2);
    out.stderr_has("never shortens");
    let same = until.to_string();
    env.run(&["hold", "extend", &id, "--until", &same])
        .expect(2);
    assert_eq!(
        env.hold_toml(&id)["until"].as_str(),
        Some(until.to_string().as_str()),
        "a refused extension changes nothing"
    );

    let later = plus(now, 5 * DAY);
    let out = env
        .run(&["hold", "extend", &id, "--until", &later.to_string()])
        .expect(0);
    out.stdout_has(&format!(
        "hold {id} (case EXT-1) now runs until {}",
        oslo(later)
    ))
    .stderr_has("--until ");
    assert!(!out.stdout.contains("capped"), "{}", out.stdout);

    let past_cap = plus(now, 90 * DAY).to_string();
    let cap = plus(t, 30 * DAY);
    let out = env
        .run(&["hold", "extend", &id, "--until", &past_cap])
        .expect(0);
    out.stdout_has(&format!(
        "now runs until {}, capped at the 30-day cap",
        oslo(cap)
    ));
    let j = env.run(&["hold", "show", &id, "--json"]).expect(0).json();
    assert_eq!(s(&j["until"]), cap.to_string());
    let ext = j["extended"].as_array().unwrap();
    assert_eq!(ext.len(), 2, "{j}");
    assert_eq!(s(&ext[0]["to"]), later.to_string());
    let audited = env.events("hold_extended");
    assert_eq!(audited.len(), 2);
    assert_eq!(s(&audited[0]["until_was"]), until.to_string());
    assert_eq!(audited[1]["capped"], true);

    // A hold without until already runs to the cap.
    let open = env.hold_id(&["front"], f, t, "EXT-2");
    let out = env
        .run(&["hold", "extend", &open, "--until", &later.to_string()])
        .expect(2);
    out.stderr_has("no end date").stderr_has("cap");
    assert!(env.hold_toml(&open).get("until").is_none());
}

#[test]
fn release_prints_the_case_and_the_next_sweep_deletes_with_hold_ended() {
    let env = frigate();
    let (f, t) = (ago(&env, 10 * DAY), ago(&env, 8 * DAY));
    let held: Vec<PathBuf> = (0..3)
        .map(|i| env.frigate("front", 9 * DAY + i * MIN))
        .collect();
    let young = env.frigate("front", DAY);
    for i in 0..4 {
        env.frigate("yard", DAY + i * MIN);
    }
    let id = env.hold_id(&["front"], f, t, "REL-1");
    env.run(&["sweep"]).expect(0);
    assert!(held.iter().all(|p| p.exists()));

    let out = env
        .run(&["hold", "release", &id, "--reason", "case closed by police"])
        .expect(0);
    out.stdout_has(&format!("released hold {id} for case REL-1"));
    let r = &env.events("hold_released")[0];
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["case"], "REL-1");
    assert_eq!(r["reason"], "case closed by police");
    let j = env.run(&["hold", "show", &id, "--json"]).expect(0).json();
    assert_eq!(j["state"], "released");
    assert_eq!(j["released"]["reason"], "case closed by police");
    // Releasing twice is refused.
    env.run(&["hold", "release", &id, "--reason", "again"])
        .expect(2)
        .stderr_has("already released");
    env.run(&["hold", "release", &id]).expect(2);

    env.run(&["sweep"]).expect(0);
    for p in &held {
        assert!(!p.exists(), "released and past retention: {}", p.display());
        assert_eq!(deleted_reasons(&env, p), ["hold_ended"]);
    }
    assert!(young.exists(), "within retention, held or not");
    let entry = env
        .events("clips_deleted")
        .into_iter()
        .find(|e| e["reason"] == "hold_ended")
        .unwrap();
    assert_eq!(entry["clips"][0]["holds"][0], format!("hold {id}").as_str());
}

#[test]
fn a_held_clip_goes_at_the_cap_with_hold_cap_and_a_hold_past_it_is_a_warning() {
    let env = frigate();
    let capped = env.frigate("front", 31 * DAY);
    let within = env.frigate("front", 20 * DAY);
    for i in 0..4 {
        env.frigate("front", DAY + i * MIN);
    }
    let id = env.hold_id(
        &["front"],
        ago(&env, 32 * DAY),
        ago(&env, 19 * DAY),
        "CAP-2",
    );
    env.run(&["sweep"]).expect(0);
    assert!(!capped.exists(), "no hold keeps a clip past the cap");
    assert!(within.exists());
    assert_eq!(deleted_reasons(&env, &capped), ["hold_cap"]);
    let e = env
        .events("clips_deleted")
        .into_iter()
        .find(|e| e["reason"] == "hold_cap")
        .unwrap();
    assert_eq!(e["clips"][0]["limit"], "30d");
    assert_eq!(e["clips"][0]["holds"][0], format!("hold {id}").as_str());

    // A hold on footage all past the cap is accepted, with a warning that it protects nothing.
    let old = env.frigate("yard", 40 * DAY);
    let out = env
        .hold_window(
            &["yard"],
            ago(&env, 41 * DAY),
            ago(&env, 39 * DAY),
            "CAP-3",
            &[],
        )
        .expect(0);
    out.stdout_has("protects nothing");
    env.run(&["sweep"]).expect(0);
    assert!(!old.exists());
    assert_eq!(deleted_reasons(&env, &old), ["hold_cap"]);
}

#[test]
fn list_and_show_report_holds_covered_clips_and_expiry() {
    let env = frigate();
    let a1 = env.frigate("front", 9 * DAY);
    let a2 = env.frigate("front", 9 * DAY + 10 * MIN);
    env.frigate("yard", 9 * DAY);
    let (f, t) = (ago(&env, 10 * DAY), ago(&env, 8 * DAY));
    let a = env.hold_id(&["front"], f, t, "LIST-A");
    let b = env.hold_id(&["yard"], f, t, "LIST-B");
    env.run(&["hold", "release", &b, "--reason", "done"])
        .expect(0);

    let list = env.run(&["hold", "list", "--json"]).expect(0).json();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(row(&a)["state"], "active");
    assert_eq!(row(&a)["case"], "LIST-A");
    assert_eq!(row(&b)["state"], "released");

    let text = env.run(&["hold", "list"]).expect(0);
    text.stdout_has(&a)
        .stdout_has(&b)
        .stdout_has("LIST-A")
        .stdout_has("2 holds");

    let show = env.run(&["hold", "show", &a, "--json"]).expect(0).json();
    let clips = show["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    let cap_of = |p: &Path| {
        let c = clips
            .iter()
            .find(|c| c["path"] == p.to_str().unwrap())
            .unwrap();
        assert_eq!(c["camera"], "front");
        let recorded: Timestamp = s(&c["recorded"]).parse().unwrap();
        let expires: Timestamp = s(&c["expires"]).parse().unwrap();
        (recorded, expires)
    };
    for p in [&a1, &a2] {
        let (recorded, expires) = cap_of(p);
        assert_eq!(
            expires,
            plus(recorded, 30 * DAY),
            "a hold without until keeps to the cap"
        );
    }
    let text = env.run(&["hold", "show", &a]).expect(0);
    text.stdout_has(&format!("hold {a} (active), case LIST-A"))
        .stdout_has("reason: incident reported by staff")
        .stdout_has(a1.to_str().unwrap())
        .stdout_has(&format!("expires {}", oslo(plus(cap_of(&a1).0, 30 * DAY))));
    let text = env.run(&["hold", "show", &b]).expect(0);
    text.stdout_has("(released)").stdout_has("released by ");
}

// ---------------------------------------------------------------------------------------
// The registry fails closed; vanished and purged holds

#[test]
fn a_corrupt_hold_file_stops_every_deletion_and_is_named() {
    let env = frigate();
    let old = env.frigate("front", 9 * DAY);
    let young = env.frigate("front", DAY);
    std::fs::create_dir_all(env.holds_dir()).unwrap();
    let name = clipwarden::holds::id::HoldId::from_entropy([1, 2, 3, 4, 5, 6]).to_string();
    let bad = env.holds_dir().join(format!("{name}.toml"));
    std::fs::write(&bad, "id = [\"torn").unwrap();
    let shown = bad.display().to_string();

    let out = env.run(&["sweep"]).expect(3);
    out.stdout_has(&shown).stdout_has("REFUSED (hold_registry)");
    assert!(old.exists() && young.exists(), "nothing is deleted");
    let refused = env.events("guard_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["guard"], "hold_registry");
    assert!(s(&refused[0]["message"]).contains(&shown));
    assert!(env.events("clips_deleted").is_empty());

    env.run(&["sweep", "--dry-run"])
        .expect(3)
        .stdout_has(&shown);
    let status = env.run(&["status", "--json"]).expect(0).json();
    assert!(
        status["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| s(a).contains(&shown) && s(a).contains("delete nothing")),
        "{}",
        status["alarms"]
    );
    env.run(&["status"]).expect(0).stdout_has(&shown);
    let out = env.run(&[
        "erase",
        "--path",
        old.to_str().unwrap(),
        "--reason",
        "subject request",
    ]);
    let out = out.expect(3);
    out.stderr_has(&shown);
    assert!(old.exists());

    // Anything else in the registry that is not a hold file fails closed the same way.
    std::fs::remove_file(&bad).unwrap();
    let stray = env.holds_dir().join("copy-of-hold.toml~");
    std::fs::write(&stray, "").unwrap();
    env.run(&["sweep"])
        .expect(3)
        .stdout_has(&stray.display().to_string());
    assert!(old.exists());
    std::fs::remove_file(&stray).unwrap();
    env.run(&["sweep"]).expect(0);
    assert!(!old.exists() && young.exists());
}

#[test]
fn a_hold_file_removed_by_hand_is_audited_as_vanished_with_an_alarm() {
    let env = frigate();
    let clip = env.frigate("front", 9 * DAY);
    for i in 0..4 {
        env.frigate("front", DAY + i * MIN);
    }
    let id = env.hold_id(&["front"], ago(&env, 10 * DAY), ago(&env, 8 * DAY), "VAN-1");
    env.run(&["sweep"]).expect(0);
    assert!(clip.exists());
    std::fs::remove_file(env.holds_dir().join(format!("{id}.toml"))).unwrap();
    let out = env.run(&["sweep"]).expect(0);
    out.stdout_has(&format!("hold {id} vanished from the registry"));
    let vanished = env.events("hold_vanished");
    assert_eq!(vanished.len(), 1);
    assert_eq!(vanished[0]["id"], id.as_str());
    assert!(
        !clip.exists(),
        "with its hold gone the clip is past retention"
    );
    // Said once: the next pass does not record it again.
    env.run(&["sweep"]).expect(0);
    assert_eq!(env.events("hold_vanished").len(), 1);
    // Released and purged holds are not vanished ones.
    assert!(env.events("hold_purged").is_empty());
}

#[test]
fn status_shows_the_alarm_for_a_vanished_hold() {
    let env = frigate();
    env.frigate("front", 9 * DAY);
    let id = env.hold_id(&["front"], ago(&env, 10 * DAY), ago(&env, 8 * DAY), "VAN-2");
    std::fs::remove_file(env.holds_dir().join(format!("{id}.toml"))).unwrap();
    let before_sweep = env.run(&["status", "--json"]).expect(0).json();
    assert!(
        before_sweep["alarms"].to_string().contains(&id),
        "status before the next sweep: {}",
        before_sweep["alarms"]
    );
    env.run(&["sweep"]).expect(0);
    let after_sweep = env.run(&["status", "--json"]).expect(0).json();
    assert!(
        after_sweep["alarms"].to_string().contains(&id),
        "status after the sweep that noticed: {}",
        after_sweep["alarms"]
    );
}

#[test]
fn released_holds_are_purged_after_keep_released_and_audited() {
    let env = Env::full("[holds]\nkeep_released = \"1d\"", "\"frigate\"", "");
    env.frigate("front", DAY);
    let (f, t) = (ago(&env, 2 * DAY), ago(&env, HOUR));
    let old = env.hold_id(&["front"], f, t, "PURGE-1");
    let recent = env.hold_id(&["front"], f, t, "PURGE-2");
    let active = env.hold_id(&["front"], f, t, "PURGE-3");
    for id in [&old, &recent] {
        env.run(&["hold", "release", id, "--reason", "closed"])
            .expect(0);
    }
    // Backdate the first release past keep_released, as if it were made three days ago.
    let path = env.holds_dir().join(format!("{old}.toml"));
    let mut hold = env.hold_toml(&old);
    let back = ago(&env, 3 * DAY).to_string();
    hold["released"]["at"] = toml::Value::String(back.clone());
    std::fs::write(&path, toml::to_string(&hold).unwrap()).unwrap();
    env.run(&["hold", "list"]).expect(0);

    env.run(&["sweep"]).expect(0);
    assert!(!path.exists(), "purged from the registry");
    let purged = env.events("hold_purged");
    assert_eq!(purged.len(), 1, "{purged:?}");
    assert_eq!(purged[0]["id"], old.as_str());
    assert_eq!(purged[0]["case"], "PURGE-1");
    assert_eq!(s(&purged[0]["at"]), back);
    assert!(
        env.events("hold_vanished").is_empty(),
        "a purge is not a vanishing"
    );
    let left: BTreeSet<String> = env
        .run(&["hold", "list", "--json"])
        .expect(0)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(&h["id"]).to_string())
        .collect();
    assert_eq!(left, BTreeSet::from([recent, active]));
    env.run(&["sweep"]).expect(0);
    assert_eq!(env.events("hold_purged").len(), 1);
    assert!(env.events("hold_vanished").is_empty());
}

// ---------------------------------------------------------------------------------------
// Who placed it

#[test]
fn without_sudo_the_operator_is_the_login_name_and_uid() {
    let env = frigate();
    env.frigate("front", DAY);
    let uid = nix::unistd::getuid().as_raw();
    let name = clipwarden::users::user_name(uid).expect("the test user has a name");
    let mut cmd = env.command(&[
        "hold", "add", "--camera", "front", "--from", "00:00", "--to", "23:59", "--case", "WHO-1",
        "--reason", "r", "--json",
    ]);
    cmd.env("LOGNAME", &name).env("USER", &name);
    let j = common::output(&mut cmd).expect(0).json();
    assert_eq!(j["created_by"], name.as_str());
    assert_eq!(j["created_uid"], uid);
    let c = &env.events("hold_created")[0];
    assert_eq!(c["by"], name.as_str());
    assert_eq!(c["uid"], uid);
}

/// Runs the binary in a private mount namespace whose `/etc` is overlaid so that
/// `/etc/clipwarden/clipwarden.toml` is this env's config: the default path sudo demands,
/// without touching the real `/etc`. `None` where namespaces or overlays are unavailable.
fn under_sudo_with_default_config(env: &Env, args: &[&str]) -> Option<Out> {
    let overlay = env.tmp.path().join("etc-overlay");
    let (upper, work) = (overlay.join("upper"), overlay.join("work"));
    std::fs::create_dir_all(upper.join("clipwarden")).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::copy(&env.config, upper.join("clipwarden/clipwarden.toml")).unwrap();
    let script = format!(
        "mount --make-rprivate / && mount -t overlay overlay -o lowerdir=/etc,upperdir={},workdir={} /etc || exit 97; exec \"$0\" \"$@\"",
        upper.display(),
        work.display()
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_clipwarden"))
        .args(args)
        .env("SUDO_UID", "1234")
        .env("SUDO_USER", "alice")
        .env("LOGNAME", "root")
        .env_remove("CLIPWARDEN_CONFIG");
    let out = common::output(&mut cmd);
    (out.code != 97 && !out.stderr.contains("unshare:")).then_some(out)
}

#[test]
fn under_sudo_the_operator_is_sudo_user_with_the_numeric_uid() {
    if !common::is_root() || common::which("unshare").is_none() {
        eprintln!("skipped: needs root and unshare to give sudo its default config");
        return;
    }
    let env = frigate();
    env.frigate("front", DAY);
    let args = [
        "hold", "add", "--camera", "front", "--from", "00:00", "--to", "23:59", "--case", "SUDO-1",
        "--reason", "r", "--json",
    ];
    let Some(out) = under_sudo_with_default_config(&env, &args) else {
        eprintln!("skipped: cannot overlay /etc in a private mount namespace here");
        return;
    };
    let j = out.expect(0).json();
    assert_eq!(j["created_by"], "alice");
    assert_eq!(j["created_uid"], 1234);
    let c = &env.events("hold_created")[0];
    assert_eq!(
        (&c["by"], &c["uid"]),
        (&Value::from("alice"), &Value::from(1234))
    );
    let id = s(&j["id"]).to_string();
    let out = under_sudo_with_default_config(
        &env,
        &["hold", "release", &id, "--reason", "closed", "--json"],
    )
    .unwrap()
    .expect(0);
    assert_eq!(out.json()["released"]["by"], "alice");
    assert_eq!(env.events("hold_released")[0]["uid"], 1234);
    // And under sudo the test's own --config is refused, so the overlay was what was read.
    let mut cmd = env.command(&["hold", "list"]);
    cmd.env("SUDO_UID", "1234").env("SUDO_USER", "alice");
    common::output(&mut cmd).expect(2).stderr_has("sudo");
}

// ---------------------------------------------------------------------------------------
// Holds placed while a sweep runs

/// A tree for the race tests: `n` clips each for `held` and `free`, one a minute, all past
/// retention and within the cap. Returns (held clips, free clips, window covering `held`).
fn race_tree(env: &Env, n: i64) -> (Vec<PathBuf>, Vec<PathBuf>, Timestamp, Timestamp) {
    let newest = ago(env, 8 * DAY);
    let mut held = Vec::new();
    let mut free = Vec::new();
    for i in 0..n {
        let t = plus(newest, -i * MIN);
        held.push(env.clip("held", t, plus(t, 50), b"h"));
        free.push(env.clip("free", t, plus(t, 50), b"f"));
    }
    (held, free, plus(newest, -n * MIN), plus(newest, MIN))
}

#[test]
fn a_hold_placed_while_a_sweep_waits_for_the_state_lock_is_honoured() {
    let env = frigate();
    let (held, free, from, to) = race_tree(&env, 5);
    std::fs::create_dir_all(&env.state).unwrap();
    let lock = clipwarden::lock::StateLock::acquire(&env.state, Duration::ZERO).unwrap();
    let sweep = env
        .command(&["sweep", "--force"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The registry write needs no state lock: the hold is placed while the pass waits, and
    // its audit entry is left to that pass.
    let out = env.hold_window(&["held"], from, to, "RACE-1", &["--json"]);
    let out = out.expect(0);
    let id = s(&out.json()["id"]).to_string();
    assert!(env.hold_files().contains(&format!("{id}.toml")));
    assert!(env.events("hold_created").is_empty());
    let mut sweep = sweep;
    assert!(
        sweep.try_wait().unwrap().is_none(),
        "the sweep cannot have run while the test holds the state lock"
    );
    drop(lock);
    let swept = sweep.wait_with_output().unwrap();
    assert!(
        swept.status.success(),
        "{}",
        String::from_utf8_lossy(&swept.stdout)
    );
    for p in &held {
        assert!(p.exists(), "held clip deleted: {}", p.display());
    }
    for p in &free {
        assert!(!p.exists(), "unheld clip kept: {}", p.display());
    }
    let created = env.events("hold_created");
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["id"], id.as_str());
    assert_eq!(
        created[0]["late"], true,
        "written by the pass, marked as late"
    );
    assert_eq!(
        env.hold_toml(&id)["audit_seq"].as_integer(),
        created[0]["seq"].as_i64()
    );
    env.run(&["audit", "verify"]).expect(0);
}

#[test]
fn hold_add_says_when_a_running_pass_will_write_its_audit_entry() {
    let env = frigate();
    env.frigate("front", DAY);
    std::fs::create_dir_all(&env.state).unwrap();
    let lock = clipwarden::lock::StateLock::acquire(&env.state, Duration::ZERO).unwrap();
    let out = env
        .hold_window(
            &["front"],
            ago(&env, 2 * DAY),
            ago(&env, HOUR),
            "RACE-2",
            &[],
        )
        .expect(0);
    out.stdout_has("a pass is running: the hold is in force now, and its audit entry will be written by the next pass");
    drop(lock);
    env.run(&["sweep"]).expect(0);
    assert_eq!(env.events("hold_created").len(), 1);
}

/// Whether strace can drive these tests here; says why not when it cannot.
fn strace_ready() -> bool {
    if common::which("strace").is_none() {
        eprintln!("skipped: strace is not installed (apt-get install strace)");
        return false;
    }
    true
}

#[test]
fn a_hold_placed_after_a_sweep_recorded_a_clip_but_before_the_unlink_is_honoured() {
    if !strace_ready() {
        return;
    }
    let env = frigate();
    let (held, free, from, to) = race_tree(&env, 4);
    // The sweep's flocks: the state lock, the registry lock for upkeep and its release, then
    // the executor's shared registry lock before it unlinks. Stop there, making that first
    // try fail as if a writer held the lock, so the pass retries after the hold is placed.
    let sweep = env.command(&["sweep", "--json"]);
    let mut t = Traced::spawn(
        &sweep,
        "flock:error=EAGAIN:signal=SIGSTOP:when=4",
        env.tmp.path().join("strace.log"),
    )
    .unwrap();
    assert!(
        t.wait_stopped(),
        "the sweep ended without reaching its unlink step"
    );
    // Where it stopped: every clip recorded as deleted (and synced), none unlinked yet.
    let recorded: usize = env
        .events("clips_deleted")
        .iter()
        .map(|e| e["clips"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        recorded, 8,
        "stopped elsewhere than between the audit entry and the unlink"
    );
    assert!(held.iter().chain(&free).all(|p| p.exists()));

    let out = env
        .hold_window(&["held"], from, to, "RACE-3", &["--json"])
        .expect(0);
    let id = s(&out.json()["id"]).to_string();
    let swept = t.resume_and_wait().expect(0);
    for p in &held {
        assert!(p.exists(), "held clip deleted: {}", p.display());
    }
    for p in &free {
        assert!(!p.exists(), "unheld clip kept: {}", p.display());
    }
    let actions = swept.json()["actions"].as_array().unwrap().clone();
    let kept: Vec<&Value> = actions.iter().filter(|a| a["status"] == "kept").collect();
    assert_eq!(kept.len(), 4, "{actions:?}");
    assert!(
        kept.iter()
            .all(|a| a["camera"] == "held" && s(&a["detail"]).contains("registry hold was placed"))
    );
    // The kept clips were recorded as deleted before the hold; the log says they were not.
    let failed: Vec<String> = env
        .events("delete_failed")
        .iter()
        .flat_map(|e| e["clips"].as_array().unwrap().clone())
        .map(|c| s(&c["name"]).to_string())
        .collect();
    assert_eq!(failed.len(), 4, "{failed:?}");
    // The hold's own entry: written by the next pass, since this one held the lock.
    env.run(&["sweep"]).expect(0);
    assert!(held.iter().all(|p| p.exists()));
    let created = env.events("hold_created");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["id"], id.as_str());
    env.run(&["audit", "verify"]).expect(0);
}

#[test]
fn a_hold_placed_between_two_batches_of_a_big_sweep_covers_every_clip_not_yet_deleted() {
    if !strace_ready() {
        return;
    }
    let env = frigate();
    // More clips than the executor unlinks per batch (8192), so the pass unlinks twice.
    let (held, free, from, to) = race_tree(&env, 5000);
    // Stop right after the first batch's unlinks, when the executor lets go of the registry
    // (its 5th flock): the first batch is gone, the second not yet looked at.
    let sweep = env.command(&["sweep", "--force"]);
    let mut t = Traced::spawn(
        &sweep,
        "flock:signal=SIGSTOP:when=5",
        env.tmp.path().join("strace.log"),
    )
    .unwrap();
    assert!(t.wait_stopped(), "the sweep ended without a second batch");
    let present: Vec<&PathBuf> = held.iter().filter(|p| p.exists()).collect();
    let free_left = free.iter().filter(|p| p.exists()).count();
    assert!(
        !present.is_empty() && present.len() < held.len() && free_left > 0,
        "not stopped between batches: {} of {} held and {free_left} free clips left",
        present.len(),
        held.len()
    );
    let reg = clipwarden::holds::registry::Registry::new(&env.state);
    drop(
        reg.lock(true, Duration::ZERO)
            .expect("the registry is free between batches"),
    );

    env.hold_window(&["held"], from, to, "RACE-4", &[])
        .expect(0);
    let swept = t.resume_and_wait();
    let swept = swept.expect(0);
    let lost: Vec<&&PathBuf> = present.iter().filter(|p| !p.exists()).collect();
    assert!(
        lost.is_empty(),
        "{} clips deleted after their hold was placed, e.g. {}\n{}",
        lost.len(),
        lost[0].display(),
        swept.stdout
    );
    assert!(free.iter().all(|p| !p.exists()), "every unheld clip goes");
    // What the log says was deleted is exactly what is gone.
    let recorded: BTreeSet<String> = env
        .events("clips_deleted")
        .iter()
        .flat_map(|e| {
            let dir = s(&e["dir"]).to_string();
            e["clips"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |c| format!("{dir}/{}", s(&c["name"])))
                .collect::<Vec<_>>()
        })
        .collect();
    let gone: BTreeSet<String> = held
        .iter()
        .chain(&free)
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(recorded.len(), gone.len());
    assert!(recorded == gone, "the audit log and the tree disagree");
}

#[test]
fn a_hold_is_audited_once_when_a_pass_records_it_first() {
    if !strace_ready() {
        return;
    }
    let env = frigate();
    env.frigate("front", DAY);
    // hold add's flocks: the registry lock to save the hold, its release; then the state
    // lock for the audit entry. Stop it right after the hold is saved.
    let add = env.command(&[
        "hold", "add", "--camera", "front", "--from", "00:00", "--to", "23:59", "--case",
        "TWICE-1", "--reason", "r", "--json",
    ]);
    let mut t = Traced::spawn(
        &add,
        "flock:signal=SIGSTOP:when=2",
        env.tmp.path().join("s.log"),
    )
    .unwrap();
    assert!(t.wait_stopped());
    let id = env.hold_files()[0].trim_end_matches(".toml").to_string();
    assert!(env.hold_toml(&id).get("audit_seq").is_none());
    // A pass runs meanwhile and records the hold it finds unaudited.
    env.run(&["sweep"]).expect(0);
    assert_eq!(env.events("hold_created").len(), 1);
    t.resume_and_wait().expect(0);
    let created = env.events("hold_created");
    assert_eq!(created.len(), 1, "one hold, one hold_created: {created:#?}");
}

// ---------------------------------------------------------------------------------------
// kill -9 during hold add

/// After `hold add` was killed: every hold file loads, sweeps are not refused for the
/// registry, and every hold in `done` is there as it was placed.
fn registry_is_whole(env: &Env, done: &[(String, String)]) {
    let list = env.run(&["hold", "list", "--json"]).expect(0).json();
    let listed: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (s(&h["id"]).to_string(), s(&h["case"]).to_string()))
        .collect();
    assert_eq!(
        listed.len(),
        env.hold_files().len(),
        "a file in the registry does not load: {:?}",
        env.registry_names()
    );
    for d in done {
        assert!(listed.contains(d), "hold {d:?} was lost");
    }
    let dry = env.run(&["sweep", "--dry-run"]);
    assert_ne!(dry.code, 3, "the registry is refused:\n{}", dry.stdout);
    assert!(!dry.stdout.contains("hold_registry"), "{}", dry.stdout);
}

#[test]
fn kill_9_at_any_moment_of_hold_add_leaves_a_whole_registry() {
    let env = frigate();
    for i in 0..20 {
        env.frigate("front", DAY + i * MIN);
    }
    let (f, t) = (ago(&env, 2 * DAY), ago(&env, HOUR));
    let mut done: Vec<(String, String)> = Vec::new();
    for round in 0..60u64 {
        let case = format!("KILL-{round}");
        let (fs, ts) = (f.to_string(), t.to_string());
        let mut cmd = env.command(&[
            "hold", "add", "--camera", "front", "--from", &fs, "--to", &ts, "--case", &case,
            "--reason", "r", "--json",
        ]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // Varied points: from before it has read its config to after it has finished.
        std::thread::sleep(Duration::from_micros((round * 797) % 25_000));
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        if o.status.success() {
            let j: Value = serde_json::from_slice(&o.stdout).unwrap();
            done.push((s(&j["id"]).to_string(), case));
        }
    }
    eprintln!(
        "{} of 60 runs finished before the kill; registry: {:?}",
        done.len(),
        env.registry_names().len()
    );
    assert!(
        done.len() < 60,
        "no run was killed: the kills came too late to test anything"
    );
    registry_is_whole(&env, &done);
    // A real pass afterwards audits every hold whose own entry was cut off, and the chain holds.
    env.run(&["sweep"]).expect(0);
    let created: BTreeSet<String> = env
        .events("hold_created")
        .iter()
        .map(|e| s(&e["id"]).to_string())
        .collect();
    for f in env.hold_files() {
        assert!(
            created.contains(f.trim_end_matches(".toml")),
            "{f} never audited"
        );
    }
    env.run(&["audit", "verify"]).expect(0);
    // And hold add still works.
    env.hold_id(&["front"], f, t, "AFTER");
}

#[test]
fn kill_9_at_each_write_fsync_and_rename_of_hold_add_leaves_a_whole_registry() {
    if !strace_ready() {
        return;
    }
    let env = frigate();
    env.frigate("front", DAY);
    let (f, t) = (ago(&env, 2 * DAY), ago(&env, HOUR));
    let mut done = vec![(env.hold_id(&["front"], f, t, "FIRST"), "FIRST".to_string())];
    let mut killed = 0;
    for syscall in ["write", "fsync", "rename", "flock"] {
        for when in 1..=8 {
            let case = format!("K-{syscall}-{when}");
            let (fs, ts) = (f.to_string(), t.to_string());
            let cmd = env.command(&[
                "hold", "add", "--camera", "front", "--from", &fs, "--to", &ts, "--case", &case,
                "--reason", "r", "--json",
            ]);
            let log = env.tmp.path().join(format!("{syscall}-{when}.log"));
            let inject = format!("{syscall}:signal=SIGKILL:when={when}");
            let out = Traced::spawn(&cmd, &inject, log).unwrap().finish();
            if out.code == 0 {
                done.push((s(&out.json()["id"]).to_string(), case));
            } else {
                killed += 1;
            }
            registry_is_whole(&env, &done);
        }
    }
    eprintln!("{killed} runs killed; registry: {:?}", env.registry_names());
    assert!(
        killed >= 8,
        "the kills missed hold add: only {killed} runs were killed"
    );
    env.run(&["sweep"]).expect(0);
    env.run(&["audit", "verify"]).expect(0);
}

#[test]
fn holds_reaching_the_cap_within_warn_before_are_shown_in_status() {
    let env = frigate();
    env.frigate("front", 28 * DAY); // reaches the 30-day cap in 2 days, within warn_before (3d)
    env.frigate("yard", 10 * DAY); // reaches it in 20 days
    let soon = env.hold_id(
        &["front"],
        ago(&env, 28 * DAY + 60),
        ago(&env, 28 * DAY - 60),
        "SOON-1",
    );
    let later = env.hold_id(
        &["yard"],
        ago(&env, 10 * DAY + 60),
        ago(&env, 10 * DAY - 60),
        "LATER-1",
    );
    let status = env.run(&["status", "--json"]).expect(0).json();
    let holds = status["holds"].as_array().unwrap();
    let find = |id: &str| {
        holds
            .iter()
            .find(|h| h["label"].as_str().unwrap().contains(id))
            .unwrap()
            .clone()
    };
    assert_eq!(find(&soon)["reaches_cap_soon"], true);
    assert_eq!(find(&later)["reaches_cap_soon"], false);
    assert!(
        status["alarms"]
            .to_string()
            .contains("reaches the 30-day cap"),
        "{}",
        status["alarms"]
    );
    let text = env.run(&["status"]).expect(0).stdout;
    assert!(text.contains("export them before"), "{text}");
}
