//! The executor trusts nothing the scan saw: what changes between the scan and the unlink
//! (a new hold, a directory swapped for a link, a replaced or rewritten file) is honoured.
//! These drive the library's pass pieces directly so the change can land exactly in between.

mod common;

use std::path::Path;

use clipwarden::audit::AuditLog;
use clipwarden::config::Settings;
use clipwarden::execute::{Executor, Outcome, Report};
use clipwarden::holds::Holds;
use clipwarden::lock::StateLock;
use clipwarden::pass::rules_for;
use clipwarden::policy::{self, Plan};
use clipwarden::scan::{self, Scan, ScanRequest};
use common::{DAY, Env};

struct Planned {
    settings: Settings,
    scan: Scan,
    plan: Plan,
}

fn scan_and_plan(env: &Env) -> Planned {
    let settings = clipwarden::config::load(&env.config).unwrap();
    let scan = scan::scan(&ScanRequest {
        roots: &settings.roots,
        now: env.now,
        future_slack: settings.safety.future_slack,
        collect_before: vec![None; settings.roots.len()],
        defer_young: false,
        index: false,
        zone: &settings.timezone,
        threads: 2,
    });
    let roots: Vec<&Path> = settings.roots.iter().map(|r| r.path.as_path()).collect();
    let holds = Holds::from_markers(&scan.markers, None, &roots);
    let plan = policy::plan(
        &scan.clips,
        &holds,
        &rules_for(&settings, &scan.cameras),
        env.now,
    );
    Planned {
        settings,
        scan,
        plan,
    }
}

fn execute(env: &Env, p: &Planned) -> Report {
    std::fs::create_dir_all(&env.state).unwrap();
    let lock = StateLock::acquire(&env.state, std::time::Duration::ZERO).unwrap();
    let mut audit = AuditLog::open(&lock, env.now).unwrap();
    let rules = rules_for(&p.settings, &p.scan.cameras);
    Executor {
        roots: &p.settings.roots,
        cameras: &p.scan.cameras,
        rules: &rules,
        owners: None,
        zone: &p.settings.timezone,
        now: env.now,
        registry: None,
        request: None,
    }
    .run(&p.scan.clips, &p.plan, &mut audit)
}

fn only_outcome(r: &Report) -> &Outcome {
    assert_eq!(r.outcomes.len(), 1, "{:?}", r.outcomes);
    r.outcomes[0].as_ref().unwrap()
}

#[test]
fn a_hold_placed_after_the_scan_is_honoured() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let p = scan_and_plan(&env);
    assert_eq!(p.plan.actions.len(), 1);
    std::fs::write(clip.with_extension("mp4.hold"), "case = \"LATE\"").unwrap();
    let r = execute(&env, &p);
    assert!(clip.exists());
    assert!(
        matches!(only_outcome(&r), Outcome::Kept(_)),
        "{:?}",
        r.outcomes
    );
    assert!(
        env.events("clips_deleted").is_empty(),
        "a kept clip is not recorded as deleted"
    );
}

#[test]
fn a_directory_marker_placed_after_the_scan_is_honoured() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let p = scan_and_plan(&env);
    let date_dir = clip.parent().unwrap().parent().unwrap().parent().unwrap();
    std::fs::write(date_dir.join(".hold"), "").unwrap();
    let r = execute(&env, &p);
    assert!(clip.exists());
    assert!(matches!(only_outcome(&r), Outcome::Kept(_)));
}

#[test]
fn a_directory_swapped_for_a_link_cannot_redirect_deletion() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let p = scan_and_plan(&env);
    // Swap the camera directory for a link to a look-alike outside the root.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join(clip.file_name().unwrap()), b"not yours").unwrap();
    let cam_dir = clip.parent().unwrap();
    std::fs::rename(cam_dir, env.tmp.path().join("moved")).unwrap();
    std::os::unix::fs::symlink(outside.path(), cam_dir).unwrap();
    let r = execute(&env, &p);
    assert!(
        outside.path().join(clip.file_name().unwrap()).exists(),
        "deleted through a link"
    );
    assert!(
        matches!(only_outcome(&r), Outcome::Failed(_)),
        "{:?}",
        r.outcomes
    );
}

#[test]
fn a_file_replaced_after_the_scan_is_kept() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let p = scan_and_plan(&env);
    let tmp = clip.with_extension("new");
    std::fs::write(&tmp, b"a new file under the old name").unwrap();
    common::set_mtime(&tmp, env.now - jiff::SignedDuration::from_secs(9 * DAY));
    std::fs::rename(&tmp, &clip).unwrap();
    let r = execute(&env, &p);
    assert!(clip.exists());
    match only_outcome(&r) {
        Outcome::Kept(why) => assert!(why.contains("replaced"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_written_to_after_the_scan_is_kept() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let p = scan_and_plan(&env);
    common::set_mtime(&clip, env.now);
    let r = execute(&env, &p);
    assert!(clip.exists());
    assert!(matches!(only_outcome(&r), Outcome::Kept(_)));
}

#[test]
fn every_deletion_is_in_the_audit_log_before_the_file_goes() {
    let env = Env::new("\"frigate\"");
    let clips: Vec<_> = (0..5)
        .map(|i| env.frigate("front", 9 * DAY + i * 600))
        .collect();
    let p = scan_and_plan(&env);
    let r = execute(&env, &p);
    assert!(
        r.outcomes
            .iter()
            .all(|o| matches!(o, Some(Outcome::Deleted { .. })))
    );
    let recorded: usize = env
        .events("clips_deleted")
        .iter()
        .map(|e| e["clips"].as_array().unwrap().len())
        .sum();
    assert_eq!(recorded, clips.len());
}
