//! The planner's rules on plain values, and property tests for DESIGN's invariants.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::clip::{CameraId, ClipDir};
use crate::fsx::{FileKind, FileMeta};
use crate::holds::marker::{MarkerFile, MarkerInfo};
use crate::scan::FoundMarker;

const DAY: i64 = 86_400;

fn now() -> Timestamp {
    "2026-11-29T12:00:00Z".parse().unwrap()
}

fn rules() -> Rules {
    Rules {
        retention: vec![
            SignedDuration::from_hours(7 * 24),
            SignedDuration::from_hours(3 * 24),
        ],
        hold_cap: SignedDuration::from_hours(30 * 24),
        quiet_period: SignedDuration::from_mins(2),
        future_slack: SignedDuration::from_mins(10),
        min_keep: vec![SignedDuration::from_hours(24)],
    }
}

/// A clip recorded `age` seconds before now, written 10 s later unless `written` says when.
fn clip(dir: &Arc<ClipDir>, name: &str, camera: u32, age: i64, written: Option<i64>) -> Clip {
    let recorded = now() - SignedDuration::from_secs(age);
    let mtime = now() - SignedDuration::from_secs(written.unwrap_or(age - 10));
    Clip {
        dir: dir.clone(),
        name: name.as_bytes().into(),
        camera: CameraId(camera),
        recorded,
        span: (recorded, mtime.max(recorded)),
        meta: FileMeta {
            ino: 1,
            dev: 1,
            size: 100,
            kind: FileKind::File,
            mtime,
            ctime: mtime.min(now()),
            uid: 0,
            gid: 0,
        },
    }
}

fn marker(dir: &Arc<ClipDir>, clip: Option<&str>, until: Option<Timestamp>) -> FoundMarker {
    FoundMarker {
        dir: dir.clone(),
        clip: clip.map(|c| c.as_bytes().into()),
        file: MarkerFile {
            meta: None,
            sha256: None,
            info: MarkerInfo {
                until,
                ..MarkerInfo::default()
            },
            problem: None,
        },
    }
}

fn holds(markers: &[FoundMarker]) -> Holds {
    Holds::from_markers(markers, None, &[std::path::Path::new("/r")])
}

fn verdict(c: &Clip, h: &Holds) -> Verdict {
    let mut cov = Vec::new();
    h.covering(c, &mut cov);
    decide(c, &cov, h, &rules(), now())
}

#[test]
fn the_rules_one_by_one() {
    let d = Arc::new(ClipDir::root(0).child(b"cam"));
    let none = holds(&[]);
    let del = |reason, days: i64| Verdict::Delete {
        reason,
        limit: SignedDuration::from_hours(days * 24),
    };
    // Due only when strictly older than the limit.
    assert_eq!(
        verdict(&clip(&d, "a", 0, 7 * DAY, None), &none),
        Verdict::NotDue
    );
    assert_eq!(
        verdict(&clip(&d, "a", 0, 7 * DAY + 1, None), &none),
        del(Reason::Retention, 7)
    );
    // Per-camera retention.
    assert_eq!(
        verdict(&clip(&d, "a", 1, 3 * DAY + 1, None), &none),
        del(Reason::Retention, 3)
    );
    // Still being written (or touched since).
    assert_eq!(
        verdict(&clip(&d, "a", 0, 8 * DAY, Some(60)), &none),
        Verdict::Keep(Keep::BeingWritten)
    );
    assert_eq!(
        verdict(&clip(&d, "a", 0, 8 * DAY, Some(120)), &none),
        del(Reason::Retention, 7)
    );
    // A future mtime is judged by the ctime.
    let mut future = clip(&d, "a", 0, 8 * DAY, Some(-3600));
    future.meta.ctime = now() - SignedDuration::from_secs(30);
    assert_eq!(verdict(&future, &none), Verdict::Keep(Keep::BeingWritten));
    future.meta.ctime = now() - SignedDuration::from_secs(DAY);
    assert_eq!(verdict(&future, &none), del(Reason::Retention, 7));
    // Cannot be judged: from the future, or before 2020.
    assert_eq!(
        verdict(&clip(&d, "a", 0, -11 * 60, Some(0)), &none),
        Verdict::Keep(Keep::Unjudgeable { overdue: false })
    );
    let mut old = clip(&d, "a", 0, 20_000 * DAY, None);
    assert_eq!(
        verdict(&old, &none),
        Verdict::Keep(Keep::Unjudgeable { overdue: true })
    );
    old.meta.ctime = now() - SignedDuration::from_secs(29 * DAY);
    assert_eq!(
        verdict(&old, &none),
        Verdict::Keep(Keep::Unjudgeable { overdue: false })
    );
}

#[test]
fn holds_keep_until_the_cap_or_their_end() {
    let d = Arc::new(ClipDir::root(0).child(b"cam").child(b"2026-11-01"));
    let past = now() - SignedDuration::from_secs(60);
    let future = now() + SignedDuration::from_secs(DAY);
    let h = holds(&[
        marker(&d, Some("held"), None),
        marker(&d, Some("ended"), Some(past)),
        marker(&d, Some("until"), Some(future)),
    ]);
    let del = |reason, days: i64| Verdict::Delete {
        reason,
        limit: SignedDuration::from_hours(days * 24),
    };
    assert_eq!(
        verdict(&clip(&d, "held", 0, 10 * DAY, None), &h),
        Verdict::Keep(Keep::Held)
    );
    assert_eq!(
        verdict(&clip(&d, "held", 0, 30 * DAY, None), &h),
        Verdict::Keep(Keep::Held)
    );
    assert_eq!(
        verdict(&clip(&d, "held", 0, 30 * DAY + 1, None), &h),
        del(Reason::HoldCap, 30)
    );
    assert_eq!(
        verdict(&clip(&d, "held", 0, DAY, None), &h),
        Verdict::NotDue
    );
    assert_eq!(
        verdict(&clip(&d, "ended", 0, 10 * DAY, None), &h),
        del(Reason::HoldEnded, 7)
    );
    assert_eq!(
        verdict(&clip(&d, "ended", 0, DAY, None), &h),
        Verdict::NotDue
    );
    assert_eq!(
        verdict(&clip(&d, "until", 0, 10 * DAY, None), &h),
        Verdict::Keep(Keep::Held)
    );
    assert_eq!(
        verdict(&clip(&d, "until", 0, 31 * DAY, None), &h),
        del(Reason::HoldCap, 30)
    );

    // A directory marker holds everything below it, and nothing beside it.
    let cam = Arc::new(ClipDir::root(0).child(b"cam"));
    let other = Arc::new(ClipDir::root(0).child(b"other").child(b"2026-11-01"));
    let h = holds(&[marker(&cam, None, None)]);
    assert_eq!(
        verdict(&clip(&d, "x", 0, 10 * DAY, None), &h),
        Verdict::Keep(Keep::Held)
    );
    assert_eq!(
        verdict(&clip(&other, "x", 0, 10 * DAY, None), &h),
        del(Reason::Retention, 7)
    );
}

#[test]
fn expiry_matches_the_verdict() {
    let d = Arc::new(ClipDir::root(0).child(b"cam"));
    let until = now() + SignedDuration::from_secs(2 * DAY);
    let h = holds(&[
        marker(&d, Some("u"), Some(until)),
        marker(&d, Some("cap"), None),
    ]);
    let exp = |c: &Clip| {
        let mut cov = Vec::new();
        h.covering(c, &mut cov);
        expires(c, &cov, &h, &rules(), now())
    };
    let young = clip(&d, "y", 0, DAY, None);
    assert_eq!(
        exp(&young),
        Some(young.recorded + SignedDuration::from_hours(7 * 24))
    );
    assert_eq!(exp(&clip(&d, "u", 0, 10 * DAY, None)), Some(until));
    let capped = clip(&d, "cap", 0, 10 * DAY, None);
    assert_eq!(
        exp(&capped),
        Some(capped.recorded + SignedDuration::from_hours(30 * 24))
    );
    assert_eq!(exp(&clip(&d, "f", 0, -DAY, Some(-DAY))), None);
}

/// One generated clip: age in seconds, camera, seconds since last write, and its hold.
#[derive(Debug, Clone)]
struct Gen {
    age: i64,
    camera: u32,
    written: i64,
    sidecar: Option<Option<i64>>,
}

fn gen_clip() -> impl Strategy<Value = Gen> {
    (
        prop_oneof![
            -2 * DAY..40 * DAY,
            Just(7 * DAY),
            Just(7 * DAY + 1),
            Just(30 * DAY),
            Just(30 * DAY + 1),
            Just(3 * DAY + 1),
            Just(20_000 * DAY)
        ],
        0u32..2,
        prop_oneof![0i64..300, Just(-600), Just(5000)],
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (-5 * DAY..5 * DAY).prop_map(|u| Some(Some(u)))
        ],
    )
        .prop_map(|(age, camera, written, sidecar)| Gen {
            age,
            camera,
            written,
            sidecar,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn planner_invariants(gens in prop::collection::vec(gen_clip(), 0..40), dir_hold in prop::option::of(prop::option::of(-5 * DAY..5 * DAY))) {
        let held_dir = Arc::new(ClipDir::root(0).child(b"held"));
        let free_dir = Arc::new(ClipDir::root(0).child(b"free"));
        let mut markers = Vec::new();
        if let Some(until) = dir_hold {
            markers.push(marker(&held_dir, None, until.map(|u| now() + SignedDuration::from_secs(u))));
        }
        let clips: Vec<Clip> = gens.iter().enumerate().map(|(i, g)| {
            let dir = if i % 3 == 0 { &held_dir } else { &free_dir };
            let name = format!("{i}.mp4");
            if let Some(until) = g.sidecar {
                markers.push(marker(dir, Some(&name), until.map(|u| now() + SignedDuration::from_secs(u))));
            }
            clip(dir, &name, g.camera, g.age, Some(g.written.min(g.age)))
        }).collect();
        let h = holds(&markers);
        let r = rules();
        let p = plan(&clips, &h, &r, now());

        let mut seen = std::collections::HashSet::new();
        for a in &p.actions {
            prop_assert!(a.clip < clips.len());
            prop_assert!(seen.insert(a.clip), "a clip planned twice");
        }
        for (i, c) in clips.iter().enumerate() {
            let mut cov = Vec::new();
            h.covering(c, &mut cov);
            let held = cov.iter().any(|&x| h.get(x).is_active(now()));
            let age = age(c, now());
            let retention = r.retention[c.camera.0 as usize];
            let quiet = now().duration_since(last_write(c, now())) < r.quiet_period;
            let judgeable = !is_unjudgeable(c.recorded, now(), r.future_slack);
            let planned = p.actions.iter().find(|a| a.clip == i);
            if held && age <= r.hold_cap {
                prop_assert!(planned.is_none(), "held clip within its cap planned: {:?}", c);
            }
            if age <= retention {
                prop_assert!(planned.is_none(), "clip younger than retention planned");
            }
            if !judgeable || quiet {
                prop_assert!(planned.is_none(), "unjudgeable or quiet clip planned");
            }
            if judgeable && !quiet && !held && age > retention {
                prop_assert!(matches!(planned, Some(a) if a.reason != Reason::HoldCap), "expired unheld clip not planned");
            }
            if judgeable && !quiet && held && age > r.hold_cap {
                prop_assert!(matches!(planned, Some(a) if a.reason == Reason::HoldCap), "clip past the cap not planned");
            }
            if let Some(e) = expires(c, &cov, &h, &r, now()) {
                if planned.is_some() {
                    prop_assert!(e <= now(), "planned, yet expires at {e}");
                } else {
                    prop_assert!(e >= now() || quiet, "kept, yet expired at {e}");
                }
            }
        }
    }
}

#[test]
fn disk_pressure_takes_the_oldest_eligible_first_and_stops_when_enough() {
    let d = Arc::new(ClipDir::root(0).child(b"cam"));
    let clips = vec![
        clip(&d, "3h", 0, 3 * 3600, None),
        clip(&d, "5h", 0, 5 * 3600, None),
        clip(&d, "held", 0, 6 * 3600, None),
        clip(&d, "30m", 0, 1800, None),
        clip(&d, "4h", 0, 4 * 3600, None),
    ];
    let h = holds(&[marker(&d, Some("held"), None)]);
    let mut r = rules();
    r.min_keep = vec![SignedDuration::from_hours(1)];
    let eligible: Vec<usize> = (0..clips.len()).collect();
    let mut p = Plan::default();
    let short = plan_pressure(&mut p, &clips, &eligible, &h, &r, now(), 150);
    let names: Vec<&[u8]> = p.actions.iter().map(|a| &*clips[a.clip].name).collect();
    assert_eq!(
        names,
        [&b"5h"[..], b"4h"],
        "oldest unheld first, two clips of 100 bytes cover 150"
    );
    assert_eq!(short, 0);
    assert!(p.actions.iter().all(|a| a.reason == Reason::DiskPressure));
    let mut p = Plan::default();
    let short = plan_pressure(&mut p, &clips, &eligible, &h, &r, now(), 10_000);
    assert_eq!(p.actions.len(), 3, "never the held or the recent one");
    assert_eq!(short, 10_000 - 300);
}
