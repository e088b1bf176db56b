//! Table-driven tests of the built-in layouts, patterns, DST rules and directory bounds.

use super::*;

fn exts() -> Vec<Box<[u8]>> {
    vec![
        b"mp4".to_vec().into_boxed_slice(),
        b"mkv".to_vec().into_boxed_slice(),
    ]
}

fn oslo() -> TimeZone {
    TimeZone::get("Europe/Oslo").unwrap()
}

/// Walks a relative path through the layout the way the scanner does; returns the camera and
/// time of a clip, or `None` for a path that does not fit.
fn parse(layout: &Layout, rel: &str) -> Option<(String, Timestamp)> {
    let parts: Vec<&str> = rel.split('/').collect();
    let mut partial = Partial::default();
    let mut camera = None;
    for (level, part) in parts.iter().enumerate() {
        let want = if level + 1 == parts.len() {
            Expect::File
        } else {
            Expect::Dir
        };
        if layout.expect(level) != want {
            return None;
        }
        let m = layout.match_name(level, part.as_bytes(), &exts(), &mut partial)?;
        if let Some((a, b)) = m.camera {
            camera = Some(part[a..b].to_string());
        }
    }
    Some((camera?, layout.resolve(&partial)?))
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A layout, a relative path, and the camera and UTC time it should give.
type Case = (Layout, &'static str, Option<(&'static str, &'static str)>);

#[test]
fn built_in_layouts_read_camera_and_time() {
    let cases: Vec<Case> = vec![
        (
            Layout::frigate(),
            "2026-11-20/12/front/05.30.mp4",
            Some(("front", "2026-11-20T12:05:30Z")),
        ),
        (
            Layout::frigate(),
            "2026-11-20/12/front/05.30.MP4",
            Some(("front", "2026-11-20T12:05:30Z")),
        ),
        (Layout::frigate(), "2026-11-20/12/front/05.30.avi", None),
        (Layout::frigate(), "2026-11-20/12/front/5.30.mp4", None),
        (Layout::frigate(), "2026-11-20/24/front/05.30.mp4", None),
        (Layout::frigate(), "2026-13-20/12/front/05.30.mp4", None),
        (Layout::frigate(), "2026-02-30/12/front/05.30.mp4", None),
        (Layout::frigate(), "2026-11-20/12/front/05.60.mp4", None),
        (Layout::frigate(), "2026-11-20/12/05.30.mp4", None),
        (
            Layout::frigate(),
            "2026-11-20/12/front/extra/05.30.mp4",
            None,
        ),
        (
            Layout::frigate(),
            "2026-11-20/12/front/05.30.mp4.hold",
            None,
        ),
        (
            Layout::motioneye(oslo()),
            "Camera1/2026-07-01/12-00-00.mp4",
            Some(("Camera1", "2026-07-01T10:00:00Z")),
        ),
        (
            Layout::motioneye(oslo()),
            "Camera1/2026-01-15/12-00-00.mkv",
            Some(("Camera1", "2026-01-15T11:00:00Z")),
        ),
        (
            Layout::motioneye(oslo()),
            "Camera1/2026-01-15/12-00.mp4",
            None,
        ),
        (
            Layout::shinobi(oslo()),
            "grp/cam2/2026-01-15T08-30-00.mp4",
            Some(("cam2", "2026-01-15T07:30:00Z")),
        ),
        (
            Layout::shinobi(oslo()),
            "cam2/2026-01-15T08-30-00.mp4",
            None,
        ),
    ];
    for (layout, rel, want) in cases {
        let got = parse(&layout, rel);
        let want = want.map(|(c, t)| (c.to_string(), ts(t)));
        assert_eq!(got, want, "{} {rel}", layout.name);
    }
}

#[test]
fn local_times_follow_the_dst_rule() {
    let me = Layout::motioneye(oslo());
    // 2026-03-29 02:00 local does not exist in Oslo: shifted forward by the gap (one hour).
    assert_eq!(
        parse(&me, "c/2026-03-29/02-30-00.mp4").unwrap().1,
        ts("2026-03-29T01:30:00Z")
    );
    assert_eq!(
        parse(&me, "c/2026-03-29/03-30-00.mp4").unwrap().1,
        ts("2026-03-29T01:30:00Z")
    );
    // 2026-10-25 02:30 happens twice: the earlier instant (summer time, +02:00).
    assert_eq!(
        parse(&me, "c/2026-10-25/02-30-00.mp4").unwrap().1,
        ts("2026-10-25T00:30:00Z")
    );
    assert_eq!(
        parse(&me, "c/2026-10-25/03-00-00.mp4").unwrap().1,
        ts("2026-10-25T02:00:00Z")
    );
}

#[test]
fn patterns_read_what_they_say() {
    let cases = [
        (
            "{camera}/{date:%Y%m%d}/{time:%H%M%S}.mp4",
            "door/20261120/123000.mp4",
            Some(("door", "2026-11-20T12:30:00Z")),
        ),
        (
            "{camera}/{date:%Y%m%d}/{time:%H%M%S}.mp4",
            "door/20261120/123000.mkv",
            None,
        ),
        (
            "{date:%Y%m%d}/{camera}-{time:%H%M%S}.{ext}",
            "20261120/front-door-123000.mkv",
            Some(("front-door", "2026-11-20T12:30:00Z")),
        ),
        (
            "{camera}/{ts}.mp4",
            "cam/1764000000.mp4",
            Some(("cam", "2025-11-24T16:00:00Z")),
        ),
        ("{camera}/{ts}.mp4", "cam/17x.mp4", None),
        (
            "rec_{camera}/{date:%y-%m-%d}/{time:%H}h{time:%M}.{ext}",
            "rec_gate/26-11-20/07h05.mp4",
            Some(("gate", "2026-11-20T07:05:00Z")),
        ),
        (
            "rec_{camera}/{date:%y-%m-%d}/{time:%H}h{time:%M}.{ext}",
            "gate/26-11-20/07h05.mp4",
            None,
        ),
        // The same field twice must agree with itself.
        (
            "{date:%Y-%m-%d}/{camera}/{date:%Y-%m-%d}_{time:%H%M%S}.mp4",
            "2026-11-20/c/2026-11-20_010203.mp4",
            Some(("c", "2026-11-20T01:02:03Z")),
        ),
        (
            "{date:%Y-%m-%d}/{camera}/{date:%Y-%m-%d}_{time:%H%M%S}.mp4",
            "2026-11-20/c/2026-11-21_010203.mp4",
            None,
        ),
    ];
    for (pat, rel, want) in cases {
        let layout = Layout::pattern(pat, TimeZone::UTC).unwrap();
        let want = want.map(|(c, t)| (c.to_string(), ts(t)));
        assert_eq!(parse(&layout, rel), want, "{pat} {rel}");
    }
}

#[test]
fn bad_patterns_say_what_is_wrong() {
    let cases = [
        ("{date:%Y%m%d}/{time:%H%M%S}.mp4", "exactly one {camera}"),
        ("{camera}/{time:%H%M%S}.mp4", "full date"),
        ("{camera}/{ts}_{date:%Y%m%d}.mp4", "not both"),
        ("{camera}/{date:%Y%m%d}/{time:%H%q}.mp4", "%q"),
        ("{camera}/{date:%H}.mp4", "belongs in {time"),
        ("{camera}/{date}/x.mp4", "needs a format"),
        ("{camera}/{date:%Y%m%d/x.mp4", "unclosed"),
        ("{camera}/{dated:%Y}/x.mp4", "unknown placeholder"),
        ("{camera}//{date:%Y%m%d}.mp4", "empty path level"),
        ("/{camera}/{date:%Y%m%d}.mp4", "relative"),
        ("{camera}{ts}.mp4", "side by side"),
        ("{camera}/{date:%Y%m%d}.{ext}x", "must end"),
        (
            "{ext}/{camera}/{date:%Y%m%d}.mp4",
            "only appear in the file name",
        ),
    ];
    for (pat, want) in cases {
        let err = Layout::pattern(pat, TimeZone::UTC).unwrap_err().to_string();
        assert!(err.contains(want), "{pat}: {err}");
    }
}

#[test]
fn depth_and_prune_floor_follow_the_layout() {
    let f = Layout::frigate();
    assert_eq!(
        (0..5).map(|l| f.expect(l)).collect::<Vec<_>>(),
        [
            Expect::Dir,
            Expect::Dir,
            Expect::Dir,
            Expect::File,
            Expect::Nothing
        ]
    );
    assert_eq!(f.prune_floor(), 0);
    assert_eq!(Layout::motioneye(oslo()).prune_floor(), 1);
    // Shinobi keeps files directly in the camera directory: nothing below it to prune.
    assert_eq!(Layout::shinobi(oslo()).prune_floor(), 2);
    let m = Layout::mtime();
    assert_eq!(m.prune_floor(), 1);
    assert_eq!(m.expect(0), Expect::Dir);
    assert_eq!(m.expect(5), Expect::File);
    assert_eq!(m.expect(MTIME_MAX_DEPTH), Expect::Nothing);
}

#[test]
fn directory_bounds_contain_every_clip_below() {
    let f = Layout::frigate();
    let mut p = Partial::default();
    f.match_name(0, b"2026-11-20", &exts(), &mut p).unwrap();
    assert_eq!(
        f.bounds(&p),
        Some((ts("2026-11-20T00:00:00Z"), ts("2026-11-20T23:59:59Z")))
    );
    f.match_name(1, b"07", &exts(), &mut p).unwrap();
    assert_eq!(
        f.bounds(&p),
        Some((ts("2026-11-20T07:00:00Z"), ts("2026-11-20T07:59:59Z")))
    );

    // Local zones widen the range so DST cannot make it wrong.
    let me = Layout::motioneye(oslo());
    let mut p = Partial::default();
    me.match_name(0, b"cam", &exts(), &mut p).unwrap();
    assert_eq!(
        me.bounds(&p),
        None,
        "a camera directory does not pin a date"
    );
    me.match_name(1, b"2026-03-29", &exts(), &mut p).unwrap();
    let (lo, hi) = me.bounds(&p).unwrap();
    for name in ["00-00-00.mp4", "02-30-00.mp4", "23-59-59.mp4"] {
        let mut q = p;
        me.match_name(2, name.as_bytes(), &exts(), &mut q).unwrap();
        let t = me.resolve(&q).unwrap();
        assert!(lo <= t && t <= hi, "{name}: {t} outside {lo}..{hi}");
    }

    // A month-level directory spans the whole month, leap days included.
    let monthly = Layout::pattern(
        "{camera}/{date:%Y-%m}/{date:%d}_{time:%H%M%S}.mp4",
        TimeZone::UTC,
    )
    .unwrap();
    let mut p = Partial::default();
    monthly.match_name(0, b"c", &exts(), &mut p).unwrap();
    monthly.match_name(1, b"2028-02", &exts(), &mut p).unwrap();
    assert_eq!(monthly.bounds(&p).unwrap().1, ts("2028-02-29T23:59:59Z"));
}
