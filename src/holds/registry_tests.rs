//! The registry on a real directory: round trips, fail-closed loading, locking.

use super::*;

fn hold(id: &HoldId) -> RegistryHold {
    RegistryHold {
        id: id.to_string(),
        case: "POLICE-1".into(),
        reason: "assault at the entrance".into(),
        created: "2026-11-29T10:00:00Z".parse().unwrap(),
        created_by: "alice".into(),
        created_uid: 1000,
        until: None,
        selector: Selector::Window {
            cameras: vec!["entrance".into()],
            from: "2026-11-28T17:00:00Z".parse().unwrap(),
            to: "2026-11-28T19:00:00Z".parse().unwrap(),
        },
        released: None,
        ended: None,
        extended: Vec::new(),
        audit_seq: None,
    }
}

#[test]
fn saves_and_loads_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    assert!(reg.load().unwrap().is_empty(), "no directory yet: no holds");
    let lock = reg.lock(true, Duration::ZERO).unwrap();
    let a = hold(&reg.new_id(&[]));
    let mut b = hold(&reg.new_id(std::slice::from_ref(&a)));
    b.selector = Selector::Paths {
        paths: vec!["/srv/nvr/x.mp4".into()],
    };
    b.released = Some(Release {
        at: b.created,
        by: "bob".into(),
        uid: 1001,
        reason: "case closed".into(),
    });
    b.extended.push(Extension {
        at: b.created,
        by: "bob".into(),
        uid: 1001,
        from: None,
        to: b.created,
    });
    reg.save(&a, &lock).unwrap();
    reg.save(&b, &lock).unwrap();
    let mut got = reg.load().unwrap();
    got.sort_by(|x, y| x.id.cmp(&y.id));
    let mut want = vec![a, b];
    want.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(got, want);
    let names: Vec<String> = std::fs::read_dir(reg.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n == ".lock" || n.ends_with(".toml")),
        "no temp files left: {names:?}"
    );
}

#[test]
fn a_bad_file_fails_the_whole_load_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    let lock = reg.lock(true, Duration::ZERO).unwrap();
    let good = hold(&reg.new_id(&[]));
    reg.save(&good, &lock).unwrap();
    let other = reg.new_id(std::slice::from_ref(&good));
    let cases: Vec<(String, &str, &str)> = vec![
        (format!("{other}.toml"), "case = [", "corrupt"),
        (format!("{other}.toml"), "id = \"x\"", "corrupt"),
        ("notes.txt".into(), "hello", "not named"),
        ("ABCD-EFG.toml".into(), "", "check character"),
    ];
    for (name, content, want) in cases {
        let p = reg.dir().join(&name);
        std::fs::write(&p, content).unwrap();
        let err = reg.load().unwrap_err().to_string();
        assert!(err.contains(&name) && err.contains(want), "{name}: {err}");
        std::fs::remove_file(&p).unwrap();
    }
    // A copy under another hold's name is caught too.
    let text = std::fs::read_to_string(reg.path_of(&good.id)).unwrap();
    std::fs::write(reg.path_of(other.as_str()), text).unwrap();
    assert!(reg.load().unwrap_err().to_string().contains("but is named"));
}

#[test]
fn writers_exclude_each_other_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(dir.path());
    let w = reg.lock(true, Duration::ZERO).unwrap();
    assert!(matches!(
        reg.lock(false, Duration::from_millis(50)),
        Err(RegistryError::Busy { .. })
    ));
    drop(w);
    let r1 = reg.lock(false, Duration::ZERO).unwrap();
    let _r2 = reg.lock(false, Duration::ZERO).expect("readers share");
    assert!(reg.lock(true, Duration::from_millis(50)).is_err());
    drop(r1);
}

#[test]
fn activity_follows_release_and_until() {
    let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
    let reg_dir = tempfile::tempdir().unwrap();
    let reg = Registry::new(reg_dir.path());
    let mut h = hold(&reg.new_id(&[]));
    assert!(h.is_active(now) && h.ended_at(now).is_none());
    h.until = Some("2026-11-29T11:00:00Z".parse().unwrap());
    assert!(!h.is_active(now));
    assert_eq!(h.ended_at(now), h.until);
    h.until = None;
    h.released = Some(Release {
        at: "2026-11-29T09:00:00Z".parse().unwrap(),
        by: "b".into(),
        uid: 1,
        reason: "r".into(),
    });
    assert!(!h.is_active(now));
    assert_eq!(
        h.ended_at(now),
        Some("2026-11-29T09:00:00Z".parse().unwrap())
    );
}
