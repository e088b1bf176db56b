//! Every layout, end to end: the real binary sweeps a real tree and deletes exactly what is
//! past retention, leaving young clips and everything that does not fit the layout.

mod common;

use common::{DAY, Env, files};

/// Sweeps and returns the files left, relative to the root.
fn sweep(env: &Env) -> Vec<String> {
    env.run(&["sweep"]).expect(0);
    files(&env.root)
}

#[test]
fn frigate() {
    let env = Env::new("\"frigate\"");
    let old = env.frigate("front", 8 * DAY);
    let young = env.frigate("front", 6 * DAY);
    let yard = env.frigate("yard", 3 * DAY);
    env.file("notes.txt", 30 * DAY);
    env.file("exports/old.mp4", 30 * DAY);
    let left = sweep(&env);
    assert!(!old.exists());
    assert!(young.exists() && yard.exists());
    assert!(
        left.contains(&"notes.txt".to_string()) && left.contains(&"exports/old.mp4".to_string()),
        "{left:?}"
    );
    // The emptied date, hour and camera directories are pruned.
    assert!(
        !old.parent()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .exists()
    );
}

#[test]
fn motioneye_keeps_camera_directories() {
    let env = Env::new("\"motioneye\"");
    let old = env.motioneye("Camera1", 9 * DAY);
    let young = env.motioneye("Camera2", DAY);
    sweep(&env);
    assert!(!old.exists() && young.exists());
    assert!(
        !old.parent().unwrap().exists(),
        "the emptied date directory is pruned"
    );
    assert!(
        env.root.join("Camera1").is_dir(),
        "the camera directory stays for the recorder"
    );
}

#[test]
fn shinobi() {
    let env = Env::new("\"shinobi\"");
    let name = |age: i64| {
        let t = env.now - jiff::SignedDuration::from_secs(age);
        let z = t.to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Oslo").unwrap());
        format!("grp1/cam7/{}.mp4", z.strftime("%Y-%m-%dT%H-%M-%S"))
    };
    let old = env.file(&name(10 * DAY), 10 * DAY);
    let young = env.file(&name(2 * DAY), 2 * DAY);
    sweep(&env);
    assert!(!old.exists() && young.exists());
    assert!(
        env.root.join("grp1/cam7").is_dir(),
        "group and camera directories stay"
    );
}

#[test]
fn mtime() {
    let env = Env::new("\"mtime\"");
    let old = env.file("cam/any/depth/a.mp4", 8 * DAY);
    let young = env.file("cam/any/depth/b.mp4", DAY);
    let loose = env.file("loose.mp4", 20 * DAY);
    sweep(&env);
    assert!(!old.exists() && young.exists());
    assert!(loose.exists(), "beside the camera directories: not a clip");
}

#[test]
fn pattern_with_its_own_zone() {
    let env =
        Env::new("{ pattern = \"{camera}/{date:%Y%m%d}/{time:%H%M%S}.mp4\", timezone = \"UTC\" }");
    let name = |age: i64| {
        let t = env.now - jiff::SignedDuration::from_secs(age);
        let z = t.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        format!("door/{}.mp4", z.strftime("%Y%m%d/%H%M%S"))
    };
    let old = env.file(&name(7 * DAY + 3600), 7 * DAY + 3600);
    let edge = env.file(&name(7 * DAY - 3600), 7 * DAY - 3600);
    let wrong = env.file("door/2020-01-01/000000.mp4", 30 * DAY);
    sweep(&env);
    assert!(!old.exists(), "past 7 days");
    assert!(edge.exists(), "an hour short of 7 days");
    assert!(wrong.exists(), "does not fit the pattern");
}

/// A local-time layout across DST changes: the binary reads names in the fold as the earlier
/// instant and names in the gap shifted forward, as SPEC says.
#[test]
fn motioneye_across_dst_changes() {
    let env = Env::full(
        "[retention]\ndays = 3650\nhold_cap_days = 3650",
        "\"motioneye\"",
        "",
    );
    for name in [
        "2026-10-25/01-30-00",
        "2026-10-25/02-30-00",
        "2026-10-25/03-30-00",
        "2026-03-29/02-30-00",
    ] {
        env.file(&format!("cam/{name}.mp4"), 30 * DAY);
    }
    let out = env.run(&["clips", "--json"]).expect(0).json();
    let mut got: Vec<(String, String)> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let p = c["path"].as_str().unwrap();
            (
                p[p.len() - 27..].to_string(),
                c["recorded"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "cam/2026-03-29/02-30-00.mp4".to_string(),
                "2026-03-29T01:30:00Z".to_string()
            ),
            (
                "cam/2026-10-25/01-30-00.mp4".into(),
                "2026-10-24T23:30:00Z".into()
            ),
            (
                "cam/2026-10-25/02-30-00.mp4".into(),
                "2026-10-25T00:30:00Z".into()
            ),
            (
                "cam/2026-10-25/03-30-00.mp4".into(),
                "2026-10-25T02:30:00Z".into()
            ),
        ]
    );
}

/// A layout that keeps clips directly in the root (one level): swept like any other.
#[test]
fn a_flat_pattern_with_clips_in_the_root() {
    let env = Env::new(
        "{ pattern = \"{camera}_{date:%Y%m%d}_{time:%H%M%S}.{ext}\", timezone = \"UTC\" }",
    );
    let name = |cam: &str, age: i64| {
        let t = env.now - jiff::SignedDuration::from_secs(age);
        format!(
            "{cam}_{}.mp4",
            t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .strftime("%Y%m%d_%H%M%S")
        )
    };
    let old = env.file(&name("door", 9 * DAY), 9 * DAY);
    let young = env.file(&name("door", DAY), DAY);
    sweep(&env);
    assert!(!old.exists() && young.exists());
    assert!(env.root.is_dir());
}
