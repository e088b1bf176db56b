//! The command line as its users meet it, on the real binary and real trees: exit codes,
//! config errors that name file, key and problem, the sudo rule, the `--json` shapes SPEC
//! fixes, output that a hostile file name cannot forge, the `clips` filters, the alarms of
//! `status`, and `demo`.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{DAY, Env, base64, files, resize, snapshot};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

const HOUR: i64 = 3600;

fn frigate() -> Env {
    Env::new("\"frigate\"")
}

fn ago(env: &Env, secs: i64) -> Timestamp {
    env.now - SignedDuration::from_secs(secs)
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

// ---------------------------------------------------------------------------------------
// Exit codes

#[test]
fn a_normal_sweep_exits_0_and_deletes_what_is_due() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    let young = env.frigate("front", DAY);
    env.run(&["sweep"]).expect(0);
    assert!(!old.exists() && young.exists());
}

#[test]
fn an_unknown_flag_exits_2_and_deletes_nothing() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    let out = env.run(&["sweep", "--bogus"]).expect(2);
    out.stderr_has("--bogus");
    assert!(old.exists());
}

#[test]
fn an_unreadable_time_exits_2_quoting_it() {
    let env = frigate();
    env.frigate("front", DAY);
    let out = env.run(&["clips", "--from", "garbage"]).expect(2);
    out.stderr_has("--from").stderr_has("\"garbage\"");
    assert_eq!(out.stdout, "", "nothing is listed for a bad window");
}

#[test]
fn from_after_to_exits_2() {
    let env = frigate();
    env.frigate("front", 2 * DAY);
    let from = ago(&env, DAY).to_string();
    let to = ago(&env, 2 * DAY).to_string();
    let out = env.run(&["clips", "--from", &from, "--to", &to]).expect(2);
    out.stderr_has("--from is after --to");
    assert_eq!(out.stdout, "");
}

#[test]
fn an_unknown_camera_exits_2_naming_the_closest_known() {
    let env = frigate();
    env.frigate("Entrance", DAY);
    env.frigate("Yard", DAY + HOUR);
    let out = env.run(&["clips", "--camera", "entrnce"]).expect(2);
    out.stderr_has("\"entrnce\"")
        .stderr_has("closest known: Entrance");
    assert_eq!(out.stdout, "");
}

#[test]
fn a_missing_root_is_reported_and_exits_1_while_the_others_are_swept() {
    let env = frigate();
    let missing = env.tmp.path().join("disk2");
    env.write_config(
        "",
        "\"frigate\"",
        &format!(
            "[[root]]\npath = \"{}\"\nlayout = \"frigate\"\n",
            missing.display()
        ),
    );
    let old = env.frigate("front", 8 * DAY);
    let young = env.frigate("front", DAY);

    let dry = env.run(&["sweep", "--dry-run", "--json"]).expect(1).json();
    let roots = dry["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(roots[1]["path"], missing.to_str().unwrap());
    assert!(roots[1]["unavailable"].is_string(), "{dry:#}");
    assert!(roots[0].get("unavailable").is_none_or(Value::is_null));
    assert!(old.exists(), "a dry run deletes nothing");

    let out = env.run(&["sweep"]).expect(1);
    out.stdout_has(&format!("{} (frigate)\n  UNAVAILABLE", missing.display()));
    assert!(!old.exists(), "the root that is there is still swept");
    assert!(young.exists());
    assert!(!missing.exists(), "a missing root is not created");
}

// ---------------------------------------------------------------------------------------
// Config errors through the binary

/// A config for `env` with `body` verbatim (no timezone unless `body` sets it).
fn raw_config(env: &Env, body: &str) {
    std::fs::write(&env.config, body).unwrap();
}

fn root_section(path: &Path) -> String {
    format!(
        "[[root]]\npath = \"{}\"\nlayout = \"frigate\"\n",
        path.display()
    )
}

/// Runs `sweep` on a bad config: exit 2, stderr names `file`, `key` and `problem`, and the
/// old clip laid down beforehand is still there.
fn assert_config_error(env: &Env, file: &Path, key: &str, problem: &str) {
    let old = env.frigate("front", 8 * DAY);
    let out = env.run(&["sweep"]).expect(2);
    out.stderr_has(&file.display().to_string())
        .stderr_has(key)
        .stderr_has(problem);
    assert!(old.exists(), "a bad config deletes nothing");
    assert!(!env.state.exists(), "a bad config writes no state");
}

#[test]
fn config_without_timezone_exits_2() {
    let env = frigate();
    let body = format!(
        "state_dir = \"{}\"\n{}",
        env.state.display(),
        root_section(&env.root)
    );
    raw_config(&env, &body);
    assert_config_error(&env, &env.config, "timezone", "missing");
}

#[test]
fn config_with_an_unknown_key_exits_2() {
    let env = frigate();
    env.write_config(
        "[retention]\ndays = 7\nkeep_forever = true",
        "\"frigate\"",
        "",
    );
    assert_config_error(&env, &env.config, "keep_forever", "unknown field");
}

#[test]
fn config_with_a_hold_cap_below_retention_exits_2() {
    let env = frigate();
    env.write_config(
        "[retention]\ndays = 10\nhold_cap_days = 5",
        "\"frigate\"",
        "",
    );
    assert_config_error(
        &env,
        &env.config,
        "retention.hold_cap_days",
        "less than retention.days",
    );
}

#[test]
fn config_with_overlapping_roots_exits_2() {
    let env = frigate();
    env.write_config("", "\"frigate\"", &root_section(&env.root.join("cam")));
    assert_config_error(&env, &env.config, "root[1].path", "overlaps root[0]");
}

#[test]
fn config_with_a_root_in_a_system_directory_exits_2() {
    let env = frigate();
    let body = format!(
        "timezone = \"UTC\"\nstate_dir = \"{}\"\n{}",
        env.state.display(),
        root_section(Path::new("/etc/x"))
    );
    raw_config(&env, &body);
    assert_config_error(&env, &env.config, "root[0].path", "system directory");
}

#[test]
fn config_with_the_state_dir_inside_a_root_exits_2() {
    let env = frigate();
    let body = format!(
        "timezone = \"UTC\"\nstate_dir = \"{}\"\n{}",
        env.root.join("state").display(),
        root_section(&env.root)
    );
    raw_config(&env, &body);
    let old = env.frigate("front", 8 * DAY);
    let out = env.run(&["sweep"]).expect(2);
    out.stderr_has(&env.config.display().to_string())
        .stderr_has("state_dir")
        .stderr_has("outside the recordings");
    assert!(old.exists());
    assert!(!env.root.join("state").exists());
}

fn dropin(env: &Env, name: &str, text: &str) -> PathBuf {
    let dir = env.config.parent().unwrap().join("conf.d");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_bad_dropin_is_blamed_on_the_dropin() {
    let env = frigate();
    dropin(&env, "10-fleet.toml", "[safety]\nquiet_period = \"5m\"\n");
    let bad = dropin(&env, "50-site.toml", "[safety]\nquiet_perod = \"1m\"\n");
    assert_config_error(&env, &bad, "quiet_perod", "unknown field");
    let out = env.run(&["config", "check"]).expect(2);
    assert!(
        !out.stderr.contains(&format!("{}:", env.config.display())),
        "the main file is not blamed:\n{}",
        out.stderr
    );

    // A value that parses but is wrong, set only by the drop-in, is blamed on it as well.
    std::fs::write(&bad, "[safety]\nmax_delete_fraction = 2.0\n").unwrap();
    let out = env.run(&["config", "check"]).expect(2);
    out.stderr_has(&format!("{}: safety.max_delete_fraction", bad.display()));
}

#[test]
fn config_check_prints_the_effective_config_with_defaults_and_probes_the_roots() {
    let env = frigate();
    let missing = env.tmp.path().join("disk2");
    env.write_config("", "\"frigate\"", &root_section(&missing));
    dropin(&env, "50-site.toml", "[retention]\ndays = 5\n");

    let out = env.run(&["config", "check"]).expect(0);
    for line in [
        "timezone = \"Europe/Oslo\"",
        "days = 5",
        "hold_cap_days = 30",
        "warn_before = \"3d\"",
        "quiet_period = \"2m\"",
        "max_delete_fraction = 0.5",
        "future_slack = \"10m\"",
        "keep = \"1095d\"",
        "reconcile_interval = \"6h\"",
    ] {
        assert!(
            out.stdout.lines().any(|l| l.trim_end() == line),
            "effective config lacks `{line}`:\n{}",
            out.stdout
        );
    }
    out.stdout_has(&format!("  {}: missing", missing.display()));
    let root_probe = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("  {}: ", env.root.display())))
        .unwrap_or_else(|| panic!("no probe for the root:\n{}", out.stdout));
    assert!(
        root_probe.contains("readable") && root_probe.contains("writable"),
        "{root_probe}"
    );

    let j = env.run(&["config", "check", "--json"]).expect(0).json();
    assert_eq!(j["valid"], true);
    assert_eq!(j["files"].as_array().unwrap().len(), 2, "{j:#}");
    let probes = j["roots"].as_array().unwrap();
    assert_eq!(probes[0]["exists"], true);
    assert_eq!(probes[0]["writable"], true);
    assert_eq!(probes[1]["exists"], false);
}

// ---------------------------------------------------------------------------------------
// The sudo rule

fn under_sudo(cmd: &mut std::process::Command) -> &mut std::process::Command {
    cmd.env("SUDO_UID", "1000").env("SUDO_USER", "alice")
}

#[test]
fn under_sudo_a_config_other_than_the_default_is_refused() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    let path = env.config.display().to_string();

    let out = common::output(under_sudo(&mut env.command(&["sweep"]))).expect(2);
    out.stderr_has("sudo")
        .stderr_has("/etc/clipwarden/clipwarden.toml")
        .stderr_has(&path);

    let mut cmd = env.bare_command(&["sweep"]);
    cmd.env("CLIPWARDEN_CONFIG", &env.config);
    let out = common::output(under_sudo(&mut cmd)).expect(2);
    out.stderr_has("sudo").stderr_has(&path);
    assert!(old.exists(), "nothing is deleted on a refused config");

    // Without sudo the same variable is honoured: the refusal is the sudo rule's.
    let mut cmd = env.bare_command(&["sweep"]);
    cmd.env("CLIPWARDEN_CONFIG", &env.config);
    common::output(&mut cmd).expect(0);
    assert!(!old.exists());
}

#[test]
fn under_sudo_the_default_config_is_not_refused_by_the_sudo_rule() {
    let env = frigate();
    let out = common::output(under_sudo(&mut env.bare_command(&[
        "--config",
        "/etc/clipwarden/clipwarden.toml",
        "status",
    ])));
    assert!(
        !out.stderr.contains("under sudo"),
        "the default is what sudo must use:\n{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------
// --json shapes

fn action_key(a: &Value) -> (String, String, String, u64, String) {
    (
        s(&a["path"]).to_string(),
        s(&a["camera"]).to_string(),
        s(&a["recorded"]).to_string(),
        a["bytes"].as_u64().unwrap(),
        s(&a["reason"]).to_string(),
    )
}

#[test]
fn sweep_json_lists_each_deletion_with_path_camera_recorded_bytes_and_reason() {
    let env = frigate();
    let front = env.frigate("front", 8 * DAY);
    let yard = env.frigate("yard", 9 * DAY);
    resize(&yard, 5000);
    let young = env.frigate("front", DAY);

    let j = env.run(&["sweep", "--json"]).expect(0).json();
    assert!(j.is_object(), "{j:#}");
    assert_eq!(j["dry_run"], false);
    let actions = j["actions"].as_array().unwrap();
    let mut got: Vec<_> = actions.iter().map(action_key).collect();
    got.sort();
    let rfc = |age: i64| {
        Timestamp::from_second(ago(&env, age).as_second())
            .unwrap()
            .to_string()
    };
    let mut want = vec![
        (
            front.to_str().unwrap().to_string(),
            "front".to_string(),
            rfc(8 * DAY),
            7,
            "retention".to_string(),
        ),
        (
            yard.to_str().unwrap().to_string(),
            "yard".to_string(),
            rfc(9 * DAY),
            5000,
            "retention".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    for a in actions {
        assert!(Path::new(s(&a["path"])).is_absolute());
        s(&a["recorded"])
            .parse::<Timestamp>()
            .expect("recorded is RFC 3339");
        assert_eq!(a["status"], "deleted");
    }
    assert!(!front.exists() && !yard.exists() && young.exists());
}

#[test]
fn a_dry_run_plans_the_same_actions_and_deletes_nothing() {
    let env = frigate();
    let old: Vec<PathBuf> = (0..3)
        .map(|i| env.frigate(["front", "yard", "door"][i], 8 * DAY + i as i64 * HOUR))
        .collect();
    env.frigate("front", DAY);
    env.frigate("yard", 2 * DAY);
    env.frigate("door", 3 * DAY);
    let before = snapshot(env.tmp.path());

    let dry = env.run(&["sweep", "--dry-run", "--json"]).expect(0).json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        snapshot(env.tmp.path()),
        before,
        "a dry run changes nothing"
    );
    let planned = dry["actions"].as_array().unwrap();
    assert!(planned.iter().all(|a| a["status"] == "planned"), "{dry:#}");

    let real = env.run(&["sweep", "--json"]).expect(0).json();
    let mut a: Vec<_> = planned.iter().map(action_key).collect();
    let mut b: Vec<_> = real["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(action_key)
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), 3);
    assert_eq!(a, b, "the dry run planned what the sweep then did");
    assert!(old.iter().all(|p| !p.exists()));
}

#[test]
fn clips_json_lists_path_camera_recorded_held_and_expires() {
    let env = frigate();
    let plain = env.frigate("front", 3 * DAY);
    let held = env.frigate("yard", 10 * DAY);
    std::fs::write(
        held.with_extension("mp4.hold"),
        "case = \"POL-1\"\nreason = \"assault\"\n",
    )
    .unwrap();

    let j = env.run(&["clips", "--json"]).expect(0).json();
    let list = j.as_array().unwrap_or_else(|| panic!("a list: {j:#}"));
    assert_eq!(list.len(), 2, "markers are never clips: {j:#}");
    let find = |p: &Path| {
        list.iter()
            .find(|c| c["path"] == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("{} missing: {j:#}", p.display()))
    };
    let day = |n: i64| SignedDuration::from_hours(24 * n);
    let recorded = |c: &Value| s(&c["recorded"]).parse::<Timestamp>().unwrap();
    let expires = |c: &Value| s(&c["expires"]).parse::<Timestamp>().unwrap();

    let c = find(&plain);
    assert_eq!(c["camera"], "front");
    assert_eq!(c["held"], false);
    assert_eq!(recorded(c).as_second(), ago(&env, 3 * DAY).as_second());
    assert_eq!(expires(c), recorded(c) + day(7), "unheld: retention");

    let c = find(&held);
    assert_eq!(c["camera"], "yard");
    assert_eq!(c["held"], true);
    assert_eq!(expires(c), recorded(c) + day(30), "held: the cap");
}

#[test]
fn status_json_is_one_object() {
    let env = frigate();
    env.frigate("front", 8 * DAY);
    env.frigate("front", DAY);
    let j = env.run(&["status", "--json"]).expect(0).json();
    assert!(j.is_object(), "{j:#}");
    assert_eq!(j["clips"], 2);
    assert_eq!(j["due_now"], 1);
    assert_eq!(j["roots"][0]["path"], env.root.to_str().unwrap());
    assert!(j["alarms"].as_array().unwrap().is_empty(), "{j:#}");
}

#[test]
fn a_non_utf8_name_is_lossy_in_path_and_exact_in_path_b64() {
    let env = Env::new("\"mtime\"");
    let name = OsStr::from_bytes(b"caf\xe9 \xff.mp4");
    let p = env.root.join("cam").join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"footage").unwrap();
    common::set_mtime(&p, ago(&env, 8 * DAY));
    let tidy = env.file("cam/plain.mp4", 9 * DAY);

    let lossy = format!("{}/cam/caf\u{fffd} \u{fffd}.mp4", env.root.display());
    let exact = base64(p.as_os_str().as_bytes());
    let check = |list: &[Value]| {
        let c = list
            .iter()
            .find(|c| c["path"] == lossy.as_str())
            .unwrap_or_else(|| panic!("no lossy {lossy:?} in {list:#?}"));
        assert_eq!(c["path_b64"], exact.as_str());
        let t = list
            .iter()
            .find(|c| c["path"] == tidy.to_str().unwrap())
            .unwrap();
        assert!(
            t.get("path_b64").is_none_or(Value::is_null),
            "a UTF-8 path needs no path_b64: {t}"
        );
    };
    let clips = env.run(&["clips", "--json"]).expect(0).json();
    check(clips.as_array().unwrap());
    let sweep = env.run(&["sweep", "--json"]).expect(0).json();
    check(sweep["actions"].as_array().unwrap());
    assert!(!p.exists());
}

// ---------------------------------------------------------------------------------------
// Output for a person

#[test]
fn control_characters_in_names_are_escaped_in_human_output() {
    let env = frigate();
    // Unrecognised files whose names would forge a line or drive the terminal.
    let forged = "x\nsummary: deleted 0 clips (0 B).mp4";
    std::fs::write(env.root.join(forged), b"").unwrap();
    std::fs::write(env.root.join("\x1b[2Jcleared.mp4"), b"").unwrap();
    // A real clip whose camera directory carries an escape sequence.
    let cam = "cam\x1b[31mred";
    env.frigate(cam, 8 * DAY);
    env.frigate(cam, DAY);

    for args in [
        &["sweep", "--dry-run", "-v"][..],
        &["status"],
        &["clips"],
        &["sweep"],
    ] {
        let out = env.run(args);
        assert!(out.code == 0, "{args:?}: {out:?}");
        assert!(
            !out.stdout.contains('\x1b'),
            "{args:?} put a raw ESC on stdout:\n{}",
            out.stdout
        );
        assert!(
            !out.stdout
                .lines()
                .any(|l| l.starts_with("summary: deleted 0")),
            "{args:?}: a file name forged a line:\n{}",
            out.stdout
        );
        if args[0] != "clips" {
            out.stdout_has("x\\nsummary: deleted 0 clips (0 B).mp4");
        }
        if args[0] != "sweep" || args.len() > 1 {
            out.stdout_has("cam\\u{1b}[31mred");
        }
    }
}

#[test]
fn sizes_are_in_kib_mib_gib_and_the_sweep_ends_with_a_summary() {
    let env = frigate();
    let a = env.frigate("alpha", 8 * DAY);
    resize(&a, 1536);
    let b = env.frigate("bravo", 9 * DAY);
    resize(&b, 3 << 20);
    let c = env.frigate("charlie", DAY);
    resize(&c, 2 << 30);

    let status = env.run(&["status"]).expect(0);
    for (cam, size) in [
        ("alpha", "1.5 KiB"),
        ("bravo", "3.0 MiB"),
        ("charlie", "2.0 GiB"),
    ] {
        let line = status
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(cam))
            .unwrap_or_else(|| panic!("no line for {cam}:\n{}", status.stdout));
        assert!(line.contains(size), "{cam} should show {size}: {line}");
    }

    let out = env.run(&["sweep"]).expect(0);
    let summaries: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("summary:"))
        .collect();
    assert_eq!(summaries.len(), 1, "{}", out.stdout);
    assert!(
        summaries[0].starts_with("summary: deleted 2 clips (3.0 MiB)"),
        "{}",
        summaries[0]
    );
    assert!(!a.exists() && !b.exists() && c.exists());
}

// ---------------------------------------------------------------------------------------
// clips --camera, --from, --to

fn listed(out: &common::Out) -> Vec<String> {
    let mut v: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| s(&c["path"]).to_string())
        .collect();
    v.sort();
    v
}

fn sorted(paths: &[&PathBuf]) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn clips_camera_matches_without_regard_to_case() {
    let env = frigate();
    let e1 = env.frigate("Entrance", DAY);
    let e2 = env.frigate("Entrance", 2 * DAY);
    let y = env.frigate("Yard", DAY + HOUR);
    env.frigate("Bar", DAY + 2 * HOUR);

    let out = env
        .run(&["clips", "--json", "--camera", "ENTRANCE"])
        .expect(0);
    assert_eq!(listed(&out), sorted(&[&e1, &e2]));
    let out = env
        .run(&[
            "clips", "--json", "--camera", "entrance", "--camera", "yArD",
        ])
        .expect(0);
    assert_eq!(listed(&out), sorted(&[&e1, &e2, &y]));
}

#[test]
fn clips_window_selects_recordings_that_overlap_it_and_echoes_the_times() {
    let env = frigate();
    let from = Timestamp::from_second(env.now.as_second() / 60 * 60).unwrap()
        - SignedDuration::from_hours(72);
    let to = from + SignedDuration::from_hours(1);
    let m = |n: i64| SignedDuration::from_mins(n);
    // Began before --from and was still recording at --from: the segment SPEC names.
    let straddles_from = env.frigate_span("door", from - m(10), from + m(5));
    let ended_before = env.frigate_span("door", from - m(30), from - m(20));
    let inside = env.frigate_span("door", from + m(20), from + m(30));
    let straddles_to = env.frigate_span("door", to - m(5), to + m(5));
    let after = env.frigate_span("door", to + m(10), to + m(20));
    assert!(ended_before.exists() && after.exists());

    let oslo = TimeZone::get("Europe/Oslo").unwrap();
    let local = |t: Timestamp| {
        t.to_zoned_datetime(oslo.clone())
            .strftime("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    };
    // --from as a local time in the configured zone (unless it falls in a DST fold, where it
    // would name two instants), --to as RFC 3339.
    let civil = from.to_zoned_datetime(oslo.clone()).datetime();
    let from_text = if oslo.to_ambiguous_timestamp(civil).is_ambiguous() {
        from.to_string()
    } else {
        civil.strftime("%Y-%m-%d %H:%M").to_string()
    };
    let out = env
        .run(&["clips", "--from", &from_text, "--to", &to.to_string()])
        .expect(0);
    out.stderr_has(&format!("--from {} (", local(from)))
        .stderr_has(&format!("--to {} (", local(to)));
    for flag in ["--from", "--to"] {
        let line = out.stderr.lines().find(|l| l.starts_with(flag)).unwrap();
        assert!(line.ends_with(" ago)"), "{line}");
    }

    let out = env
        .run(&[
            "clips",
            "--json",
            "--from",
            &from_text,
            "--to",
            &to.to_string(),
        ])
        .expect(0);
    assert_eq!(
        listed(&out),
        sorted(&[&straddles_from, &inside, &straddles_to])
    );
}

// ---------------------------------------------------------------------------------------
// status alarms

fn alarms(env: &Env) -> (Value, Vec<String>) {
    let j = env.run(&["status", "--json"]).expect(0).json();
    let a = j["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| s(v).to_string())
        .collect();
    (j, a)
}

#[test]
fn a_hold_marker_in_the_root_itself_holds_nothing_and_raises_the_alarm() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    std::fs::write(env.root.join(".hold"), "case = \"X-1\"\n").unwrap();

    let (j, alarms) = alarms(&env);
    let root_hold = format!("{}/.hold", env.root.display());
    assert!(
        alarms
            .iter()
            .any(|a| a.contains(&root_hold) && a.contains("holds nothing")),
        "{alarms:?}"
    );
    assert_eq!(j["held_clips"], 0);
    assert_eq!(j["due_now"], 1);
    env.run(&["status"])
        .expect(0)
        .stdout_has(&format!("{root_hold} is in the root itself"));

    env.run(&["sweep"]).expect(0);
    assert!(!old.exists(), "a .hold in the root protects nothing");
}

#[test]
fn an_unparsable_marker_still_holds_and_is_reported() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    let marker = old.with_extension("mp4.hold");
    std::fs::write(&marker, "case = = \"broken\n").unwrap();

    let (j, alarms) = alarms(&env);
    let shown = marker.display().to_string();
    assert!(
        alarms.iter().any(|a| a.contains(&shown)),
        "the marker is named: {alarms:?}"
    );
    assert_eq!(j["held_clips"], 1);
    assert_eq!(j["due_now"], 0);
    env.run(&["status"]).expect(0).stdout_has(&shown);

    env.run(&["sweep"]).expect(0);
    assert!(old.exists() && marker.exists(), "fail closed: it holds");
}

#[test]
fn a_clock_behind_the_remembered_one_is_an_alarm_and_sweeps_are_refused() {
    let env = frigate();
    let old = env.frigate("front", 8 * DAY);
    std::fs::create_dir_all(&env.state).unwrap();
    let later = env.now + SignedDuration::from_hours(48);
    std::fs::write(
        env.state.join("state.json"),
        format!("{{\"last_clock\": \"{later}\"}}\n"),
    )
    .unwrap();

    let (_, alarms) = alarms(&env);
    assert!(
        alarms
            .iter()
            .any(|a| a.contains("earlier than the last pass")),
        "{alarms:?}"
    );
    env.run(&["status"])
        .expect(0)
        .stdout_has("earlier than the last pass");

    env.run(&["sweep"]).expect(3);
    assert!(
        old.exists(),
        "nothing is deleted on the word of a wrong clock"
    );
}

// ---------------------------------------------------------------------------------------
// demo

#[test]
fn demo_builds_a_tree_sweeps_it_and_keeps_the_held_clips() {
    let env = frigate();
    let dir = env.tmp.path().join("demo");
    let out = common::output(&mut env.bare_command(&["demo", dir.to_str().unwrap()])).expect(0);
    let sweep = out
        .stdout
        .split("=== 2.")
        .nth(1)
        .unwrap_or_else(|| panic!("no sweep section:\n{}", out.stdout));
    let deleted: Vec<&str> = sweep
        .lines()
        .filter(|l| l.starts_with("  deleted "))
        .collect();
    assert!(
        deleted.iter().any(|l| l.contains("for retention")),
        "{sweep}"
    );
    assert!(
        deleted.iter().any(|l| l.contains("for hold_cap")),
        "{sweep}"
    );
    assert!(
        sweep.contains("held past retention (holds: INC-2026-118, POLICE-2026-0142)"),
        "{sweep}"
    );

    let rec = dir.join("recordings");
    let mut markers: Vec<String> = files(&rec)
        .into_iter()
        .filter(|f| f.ends_with(".hold"))
        .collect();
    markers.sort();
    assert_eq!(
        markers.len(),
        2,
        "the held clips' markers stay, the capped one's goes: {markers:?}"
    );
    let sidecar = markers.iter().find(|m| m.ends_with(".mp4.hold")).unwrap();
    assert!(
        rec.join(sidecar.trim_end_matches(".hold")).exists(),
        "the police-held clip is kept"
    );
    let dir_marker = markers.iter().find(|m| m.ends_with("/.hold")).unwrap();
    let hour = rec.join(dir_marker.trim_end_matches(".hold"));
    let held: Vec<String> = files(&hour)
        .into_iter()
        .filter(|f| f.ends_with(".mp4"))
        .collect();
    assert_eq!(held.len(), 18, "three cameras, six segments: {held:?}");

    let config = dir.join("clipwarden.toml");
    let out = common::output(&mut env.bare_command(&[
        "--config",
        config.to_str().unwrap(),
        "audit",
        "verify",
    ]))
    .expect(0);
    out.stdout_has("audit log OK");
}

#[test]
fn demo_into_a_non_empty_directory_exits_2_and_touches_nothing() {
    let env = frigate();
    let dir = env.tmp.path().join("precious");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    let before = snapshot(&dir);
    let out = common::output(&mut env.bare_command(&["demo", dir.to_str().unwrap()])).expect(2);
    out.stderr_has("not empty");
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn clips_camera_selects_every_camera_whose_name_matches_without_case() {
    let env = frigate();
    let upper = env.frigate("Front", DAY);
    let lower = env.frigate("front", DAY + HOUR);
    for wanted in ["front", "Front", "FRONT"] {
        let out = env.run(&["clips", "--json", "--camera", wanted]).expect(0);
        assert_eq!(listed(&out), sorted(&[&upper, &lower]), "--camera {wanted}");
    }
}

#[test]
fn clips_to_a_clock_time_without_from_is_read_near_now() {
    let env = frigate();
    let clip = env.frigate("front", 2 * DAY);
    let out = env.run(&["clips", "--to", "12:00"]);
    if out.code == 2 {
        return; // refusing the form is honest too
    }
    let out = out.expect(0);
    let echo = out.stderr.lines().find(|l| l.starts_with("--to ")).unwrap();
    let year: i32 = echo[5..9].parse().unwrap_or(0);
    let now_year = i32::from(env.now.to_zoned_datetime(TimeZone::UTC).year());
    assert!((now_year - 1..=now_year + 1).contains(&year), "{echo}");
    let out = env.run(&["clips", "--json", "--to", "12:00"]).expect(0);
    assert_eq!(
        listed(&out),
        sorted(&[&clip]),
        "any 12:00 near now is after a clip two days old"
    );
}
