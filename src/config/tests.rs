//! Config errors name file, key and problem; defaults are SPEC's; drop-ins merge in order.

use super::*;

const GOOD: &str = r#"
timezone = "Europe/Oslo"
state_dir = "/srv/state/clipwarden"
[[root]]
path = "/srv/nvr/recordings"
layout = "frigate"
"#;

fn load_texts(texts: &[&str]) -> Result<Settings, ConfigErrors> {
    let files: Vec<PathBuf> = (0..texts.len())
        .map(|i| {
            if i == 0 {
                PathBuf::from("/etc/clipwarden/clipwarden.toml")
            } else {
                PathBuf::from(format!("/etc/clipwarden/conf.d/{i:02}.toml"))
            }
        })
        .collect();
    let texts: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
    from_texts(&files, &texts)
}

#[test]
fn defaults_are_specs() {
    let s = load_texts(&[GOOD]).unwrap();
    assert_eq!(s.retention.days, 7);
    assert_eq!(s.retention.hold_cap_days, 30);
    assert_eq!(s.retention.warn_before, SignedDuration::from_hours(72));
    assert_eq!(s.safety.quiet_period, SignedDuration::from_mins(2));
    assert_eq!(s.safety.max_delete_fraction, 0.5);
    assert_eq!(s.safety.future_slack, SignedDuration::from_mins(10));
    assert_eq!(s.roots[0].min_keep, SignedDuration::from_hours(24));
    assert_eq!(
        s.roots[0].extensions,
        vec![b"mp4".to_vec().into_boxed_slice()]
    );
    assert!(!s.roots[0].expect_mount);
    assert_eq!(s.holds.keep_released, SignedDuration::from_hours(400 * 24));
    assert_eq!(s.audit_keep, SignedDuration::from_hours(1095 * 24));
    assert_eq!(s.reconcile_interval, SignedDuration::from_hours(6));
    assert_eq!(s.timezone_name, "Europe/Oslo");
    assert_eq!(s.fingerprint.len(), 64);
}

#[test]
fn each_error_names_file_key_and_problem() {
    let main = "/etc/clipwarden/clipwarden.toml";
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"",
            "timezone",
            "missing",
        ),
        (
            &format!("{GOOD}\n[retention]\ndayz = 3"),
            "",
            "unknown field `dayz`",
        ),
        (
            &format!("{GOOD}\n[retention]\ndays = \"7\""),
            "",
            "line 9 (`days = \"7\"`): invalid type",
        ),
        (
            &format!("{GOOD}\n[retention]\ndays = 10\nhold_cap_days = 5"),
            "retention.hold_cap_days",
            "less than retention.days",
        ),
        (
            &format!("{GOOD}\n[retention]\ndays = 0"),
            "retention.days",
            "out of range",
        ),
        (
            &format!("{GOOD}\n[safety]\nquiet_period = \"2 minutes\""),
            "safety.quiet_period",
            "\"2 minutes\"",
        ),
        (
            &format!("{GOOD}\n[safety]\nmax_delete_fraction = 1.5"),
            "safety.max_delete_fraction",
            "at most 1",
        ),
        (
            "timezone = \"Mars/Olympus\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"",
            "timezone",
            "not a known IANA",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/etc/nvr\"\nlayout=\"frigate\"",
            "root[0].path",
            "system directory",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/\"\nlayout=\"frigate\"",
            "root[0].path",
            "system directory",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/var\"\nlayout=\"frigate\"",
            "root[0].path",
            "system directory",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/home\"\nlayout=\"frigate\"",
            "root[0].path",
            "system directory",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"srv/a\"\nlayout=\"frigate\"",
            "root[0].path",
            "absolute",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"\n[[root]]\npath=\"/srv/a/b\"\nlayout=\"mtime\"",
            "root[1].path",
            "overlaps root[0]",
        ),
        (
            "timezone = \"UTC\"\nstate_dir=\"/srv/a/.state\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"",
            "state_dir",
            "overlaps root[0]",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"zoneminder\"",
            "root[0].layout",
            "not a layout",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/srv/a\"\nlayout={pattern=\"{camera}/{time:%H}.mp4\"}",
            "root[0].layout",
            "full date",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"\nextensions=[\"hold\"]",
            "root[0].extensions[0]",
            "not a usable",
        ),
        (
            "timezone = \"UTC\"\n[[root]]\npath=\"/srv/a\"\nlayout=\"frigate\"\nmin_free=\"lots\"",
            "root[0].min_free",
            "\"lots\"",
        ),
        ("timezone = \"UTC\"", "root", "no [[root]]"),
        (
            &format!("{GOOD}\n[camera.entrance]\ndays = 9"),
            "camera.entrance.days",
            "never lengthen",
        ),
        (
            &format!("{GOOD}\n[holds]\nmarker_owners = [\"no-such-user-xyz\"]"),
            "holds.marker_owners[0]",
            "neither a user nor a group",
        ),
        (
            &format!("{GOOD}\n[metrics]\ntextfile = \"/srv/nvr/recordings/m.prom\""),
            "metrics.textfile",
            "inside root[0]",
        ),
        (
            &format!("{GOOD}\nunknown_top = 1"),
            "",
            "unknown field `unknown_top`",
        ),
    ];
    for (text, key, problem) in cases {
        let errs = load_texts(&[text]).expect_err(text).0;
        let hit = errs
            .iter()
            .find(|e| e.key.as_deref().unwrap_or("") == *key && e.problem.contains(problem));
        assert!(
            hit.is_some(),
            "want {key}: {problem}\ngot {errs:?}\nfor {text}"
        );
        assert!(errs.iter().all(|e| e.file == Path::new(main)), "{errs:?}");
    }
}

#[test]
fn drop_ins_merge_per_key_in_order_and_take_the_blame() {
    let s = load_texts(&[
        &format!("{GOOD}\n[retention]\ndays = 7\nhold_cap_days = 30"),
        "[retention]\ndays = 5",
        "[retention]\ndays = 6\n[safety]\nquiet_period = \"5m\"",
    ])
    .unwrap();
    assert_eq!(s.retention.days, 6, "the later file wins");
    assert_eq!(
        s.retention.hold_cap_days, 30,
        "keys a drop-in does not set stay"
    );
    assert_eq!(s.safety.quiet_period, SignedDuration::from_mins(5));

    let errs = load_texts(&[GOOD, "[retention]\nhold_cap_days = 3"])
        .unwrap_err()
        .0;
    assert_eq!(
        errs[0].file,
        Path::new("/etc/clipwarden/conf.d/01.toml"),
        "{errs:?}"
    );
    assert_eq!(errs[0].key.as_deref(), Some("retention.hold_cap_days"));

    let errs = load_texts(&[GOOD, "[safety]\nquiet = 3"]).unwrap_err().0;
    assert_eq!(
        errs[0].file,
        Path::new("/etc/clipwarden/conf.d/01.toml"),
        "{errs:?}"
    );
}

#[test]
fn camera_overrides_shorten_retention() {
    let s = load_texts(&[&format!("{GOOD}\n[camera.Entrance]\ndays = 3")]).unwrap();
    assert_eq!(s.retention_for("entrance"), SignedDuration::from_hours(72));
    assert_eq!(s.retention_for("ENTRANCE"), SignedDuration::from_hours(72));
    assert_eq!(s.retention_for("yard"), SignedDuration::from_hours(168));
    assert_eq!(s.shortest_retention(), SignedDuration::from_hours(72));
}

#[test]
fn files_on_disk_with_conf_d() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("clipwarden.toml");
    std::fs::write(&main, GOOD).unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    std::fs::write(dir.path().join("conf.d/20-b.toml"), "[retention]\ndays = 4").unwrap();
    std::fs::write(dir.path().join("conf.d/10-a.toml"), "[retention]\ndays = 3").unwrap();
    std::fs::write(dir.path().join("conf.d/ignored.bak"), "garbage").unwrap();
    let s = load(&main).unwrap();
    assert_eq!(s.retention.days, 4);
    assert_eq!(s.files.len(), 3);
    let missing = load(&dir.path().join("nope.toml")).unwrap_err();
    assert!(
        missing.to_string().contains("nope.toml: cannot read"),
        "{missing}"
    );
}

/// The documented example must stay a valid config, with its optional keys switched on too.
#[test]
fn the_example_config_is_valid_with_and_without_its_optional_keys() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/clipwarden.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let s = from_texts(std::slice::from_ref(&path), std::slice::from_ref(&text)).unwrap();
    assert_eq!(s.retention.days, 7);
    let optional = [
        "min_free",
        "[camera.entrance]",
        "days = 3",
        "marker_owners",
        "textfile",
    ];
    let mut on = String::new();
    for line in text.lines() {
        let bare = line.trim_start_matches("# ");
        if line.starts_with("# ") && optional.iter().any(|k| bare.starts_with(k)) {
            on.push_str(&bare.replace("[\"nvr\", \"clipwarden\"]", "[\"root\"]"));
        } else {
            on.push_str(line);
        }
        on.push('\n');
    }
    let s = from_texts(&[path], &[on]).unwrap();
    assert!(s.roots[0].min_free.is_some());
    assert_eq!(s.retention_for("Entrance"), SignedDuration::from_hours(72));
    assert!(s.holds.marker_owners.is_some() && s.metrics_textfile.is_some());
}
