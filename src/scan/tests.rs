//! The walk on real trees in temp dirs: what it collects, counts, skips and reports.

use std::collections::BTreeSet;
use std::path::Path;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::layout::Layout;

fn root(path: &Path, layout: Layout) -> Root {
    Root {
        path: path.to_path_buf(),
        layout,
        extensions: vec![b"mp4".to_vec().into_boxed_slice()],
        min_free: None,
        min_keep: SignedDuration::from_hours(24),
        expect_mount: false,
    }
}

fn touch(base: &Path, rel: &str) {
    let p = base.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, b"x").unwrap();
}

fn now() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn run(roots: &[Root], collect_before: Option<Timestamp>, threads: usize) -> Scan {
    scan(&ScanRequest {
        roots,
        now: now(),
        future_slack: SignedDuration::from_mins(10),
        collect_before: vec![collect_before; roots.len()],
        defer_young: false,
        index: false,
        zone: &TimeZone::UTC,
        threads,
    })
}

fn names(scan: &Scan) -> BTreeSet<String> {
    scan.clips
        .iter()
        .map(|c| String::from_utf8(c.rel_path()).unwrap())
        .collect()
}

/// A frigate tree: two old days, one young day, with a few oddities.
fn frigate_tree(base: &Path) {
    for day in ["2026-11-20", "2026-11-21", "2026-11-28"] {
        for hour in ["07", "08"] {
            for cam in ["front", "yard"] {
                for clip in ["00.00.mp4", "00.10.mp4"] {
                    touch(base, &format!("{day}/{hour}/{cam}/{clip}"));
                }
            }
        }
    }
    touch(base, "2026-11-20/07/front/notes.txt"); // not a clip extension: silent
    touch(base, "2026-11-20/07/front/garbage.mp4"); // clip extension, wrong name
    touch(base, "2026-11-20/stray.mp4"); // clip extension, wrong level
    touch(base, "2026-11-20/07/front/deeper/00.00.mp4"); // deeper than the layout
    touch(base, "2030-01-01/07/front/00.00.mp4"); // from the future
    touch(base, "1970-01-01/00/front/00.00.mp4"); // a clock without a battery
    std::fs::create_dir_all(base.join("exports")).unwrap();
}

#[test]
fn collects_old_and_unjudgeable_clips_and_counts_the_young() {
    let dir = tempfile::tempdir().unwrap();
    frigate_tree(dir.path());
    let roots = [root(dir.path(), Layout::frigate())];
    let cutoff: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
    for threads in [1, 2, 4] {
        let s = run(&roots, Some(cutoff), threads);
        let r = &s.roots[0];
        let want: BTreeSet<String> = ["2026-11-20", "2026-11-21"]
            .iter()
            .flat_map(|d| {
                ["07", "08"].iter().flat_map(move |h| {
                    ["front", "yard"].iter().flat_map(move |c| {
                        ["00.00.mp4", "00.10.mp4"]
                            .iter()
                            .map(move |f| format!("{d}/{h}/{c}/{f}"))
                    })
                })
            })
            .chain([
                "2030-01-01/07/front/00.00.mp4".into(),
                "1970-01-01/00/front/00.00.mp4".into(),
            ])
            .collect();
        assert_eq!(names(&s), want, "threads={threads}");
        assert_eq!(r.recognised, 3 * 8 + 2, "every clip counts, young ones too");
        assert_eq!(r.counted_only, 8);
        assert_eq!(
            r.dirs_counted_only,
            1 + 2 + 4,
            "the young day, its hours, their cameras"
        );
        let samples: Vec<String> = r
            .unrecognised_samples
            .iter()
            .map(|s| String::from_utf8_lossy(s).into())
            .collect();
        assert_eq!(
            samples,
            [
                "2026-11-20/07/front/deeper/",
                "2026-11-20/07/front/garbage.mp4",
                "2026-11-20/stray.mp4",
                "exports/"
            ],
        );
        assert_eq!(r.unrecognised, 4);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(s.cameras.len(), 2);
    }
}

#[test]
fn without_a_cutoff_every_clip_is_collected_with_its_inode() {
    let dir = tempfile::tempdir().unwrap();
    frigate_tree(dir.path());
    let s = run(&[root(dir.path(), Layout::frigate())], None, 2);
    assert_eq!(s.clips.len(), 26);
    assert_eq!(s.roots[0].counted_only, 0);
    let c = s.clips.iter().find(|c| &*c.name == b"00.10.mp4").unwrap();
    assert_eq!(c.meta.size, 1);
    assert!(c.span.0 <= c.span.1);
}

#[test]
fn never_follows_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    touch(outside.path(), "07/front/00.00.mp4");
    touch(outside.path(), "victim.mp4");
    touch(dir.path(), "2026-11-20/08/front/00.00.mp4");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("2026-11-21")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("07"), dir.path().join("2026-11-20/07"))
        .unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("victim.mp4"),
        dir.path().join("2026-11-20/08/front/00.10.mp4"),
    )
    .unwrap();
    let s = run(&[root(dir.path(), Layout::frigate())], None, 2);
    assert_eq!(
        names(&s),
        BTreeSet::from(["2026-11-20/08/front/00.00.mp4".to_string()])
    );
    // The link named like a clip is reported, not followed.
    assert_eq!(
        s.roots[0].unrecognised, 1,
        "{:?}",
        s.roots[0].unrecognised_samples
    );
}

#[test]
fn a_root_that_is_a_symlink_or_missing_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
    let roots = [
        root(&dir.path().join("link"), Layout::frigate()),
        root(&dir.path().join("missing"), Layout::frigate()),
        root(&dir.path().join("real"), Layout::frigate()),
    ];
    let s = run(&roots, None, 2);
    assert!(s.roots[0].unavailable.is_some());
    assert!(
        s.roots[1]
            .unavailable
            .as_deref()
            .unwrap()
            .contains("No such file")
    );
    assert!(s.roots[2].unavailable.is_none());
    assert!(s.roots[2].fs.is_some());
}

#[test]
fn finds_markers_but_never_as_clips() {
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), "cam1/2026-11-20/10-00-00.mp4");
    touch(dir.path(), "cam1/2026-11-20/10-00-00.mp4.hold");
    touch(dir.path(), "cam1/2026-11-21/.hold");
    touch(dir.path(), "cam1/2026-11-21/10-00-00.mp4");
    touch(dir.path(), ".hold");
    let s = run(
        &[root(dir.path(), Layout::motioneye(TimeZone::UTC))],
        None,
        1,
    );
    assert_eq!(s.clips.len(), 2);
    assert!(s.roots[0].root_marker);
    let mut found: Vec<(String, Option<String>)> = s
        .markers
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(&m.dir.rel).into_owned(),
                m.clip
                    .as_ref()
                    .map(|c| String::from_utf8_lossy(c).into_owned()),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("cam1/2026-11-20".into(), Some("10-00-00.mp4".into())),
            ("cam1/2026-11-21".into(), None)
        ]
    );
    assert_eq!(s.roots[0].unrecognised, 0);
}

#[test]
fn mtime_layouts_take_time_and_span_from_the_inode() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_764_000_000;
    for (i, rel) in ["cam/a/1.mp4", "cam/a/2.mp4", "cam/b/c/3.mp4", "other/1.mp4"]
        .iter()
        .enumerate()
    {
        touch(dir.path(), rel);
        let t = filetime::FileTime::from_unix_time(t0 + 600 * i as i64, 0);
        filetime::set_file_mtime(dir.path().join(rel), t).unwrap();
    }
    touch(dir.path(), "loose.mp4"); // beside the camera directories: not a clip
    let s = run(&[root(dir.path(), Layout::mtime())], None, 2);
    let mut got: Vec<(String, String, i64, i64)> = s
        .clips
        .iter()
        .map(|c| {
            (
                s.camera_name(c).to_string(),
                String::from_utf8(c.rel_path()).unwrap(),
                c.span.0.as_second() - t0,
                c.recorded.as_second() - t0,
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            // The first clip's predecessor is unknown: it may have started an hour earlier.
            ("cam".into(), "cam/a/1.mp4".into(), -3600, 0),
            ("cam".into(), "cam/a/2.mp4".into(), 0, 600),
            ("cam".into(), "cam/b/c/3.mp4".into(), 600, 1200),
            ("other".into(), "other/1.mp4".into(), 1800 - 3600, 1800),
        ]
    );
    assert_eq!(s.roots[0].unrecognised, 1);
}

#[test]
fn local_time_directories_near_a_dst_change_are_not_skipped_wrongly() {
    // The cutoff falls inside the day of the autumn change; the day must be read.
    let dir = tempfile::tempdir().unwrap();
    touch(dir.path(), "cam/2026-10-25/02-30-00.mp4");
    touch(dir.path(), "cam/2026-10-26/02-30-00.mp4");
    let oslo = TimeZone::get("Europe/Oslo").unwrap();
    let roots = [root(dir.path(), Layout::motioneye(oslo))];
    let cutoff: Timestamp = "2026-10-25T01:00:00Z".parse().unwrap();
    let s = run(&roots, Some(cutoff), 1);
    assert_eq!(
        names(&s),
        BTreeSet::from(["cam/2026-10-25/02-30-00.mp4".to_string()])
    );
    assert_eq!(s.roots[0].recognised, 2);
}

#[test]
fn young_directories_can_be_deferred_and_counted_only_as_far_as_needed() {
    let dir = tempfile::tempdir().unwrap();
    frigate_tree(dir.path());
    for day in ["2026-11-26", "2026-11-27"] {
        touch(dir.path(), &format!("{day}/07/front/00.00.mp4"));
    }
    let roots = [root(dir.path(), Layout::frigate())];
    let req = ScanRequest {
        roots: &roots,
        now: now(),
        future_slack: SignedDuration::from_mins(10),
        collect_before: vec![Some("2026-11-22T12:00:00Z".parse().unwrap())],
        defer_young: true,
        index: false,
        zone: &TimeZone::UTC,
        threads: 2,
    };
    let mut s = scan(&req);
    assert_eq!(
        names(&s).len(),
        18,
        "the old and unjudgeable clips are collected as before"
    );
    let r = &s.roots[0];
    assert_eq!(r.recognised, 18, "young days unread, so uncounted");
    assert_eq!(r.deferred.len(), 3, "three young day directories put aside");
    assert!(!r.is_complete());

    // Enough already counted: nothing more is read.
    count_deferred(&req, &mut s, &[10]);
    assert_eq!(s.roots[0].recognised, 18);
    assert_eq!(s.roots[0].deferred.len(), 3);

    // More needed than there is: everything is read and the count is exact.
    count_deferred(&req, &mut s, &[1000]);
    assert_eq!(s.roots[0].recognised, 18 + 8 + 2);
    assert!(s.roots[0].is_complete());
    assert_eq!(names(&s).len(), 18, "counting collects nothing");
}

#[test]
fn index_mode_gives_compact_clips_by_directory() {
    let dir = tempfile::tempdir().unwrap();
    frigate_tree(dir.path());
    let roots = [root(dir.path(), Layout::frigate())];
    let s = scan(&ScanRequest {
        roots: &roots,
        now: now(),
        future_slack: SignedDuration::from_mins(10),
        collect_before: vec![None],
        defer_young: false,
        index: true,
        zone: &TimeZone::UTC,
        threads: 2,
    });
    assert!(s.clips.is_empty());
    let total: usize = s.indexed.iter().map(|d| d.clips.len()).sum();
    assert_eq!(total as u64, s.roots[0].recognised);
    let front = s
        .indexed
        .iter()
        .find(|d| &*d.dir.rel == b"2026-11-20/07/front")
        .unwrap();
    let names: Vec<&[u8]> = front.clips.iter().map(|b| &*b.name).collect();
    assert_eq!(
        names,
        [&b"00.00.mp4"[..], b"00.10.mp4"],
        "sorted by time; strays are not clips"
    );
    assert_eq!(
        front.clips[1].recorded,
        "2026-11-20T07:00:10Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_second()
    );
    assert_eq!(front.clips[0].size, 1);
}
