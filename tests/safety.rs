//! SPEC's safety rules, each on the real binary and a real tree, each with a test that fails
//! if the rule is broken.

mod common;

use std::time::Duration;

use common::{DAY, Env, files, is_root};
use jiff::SignedDuration;

fn held_marker(clip: &std::path::Path, body: &str) -> std::path::PathBuf {
    let m = clip.with_extension("mp4.hold");
    std::fs::write(&m, body).unwrap();
    m
}

#[test]
fn held_clips_stay_until_the_cap_then_go_with_their_marker() {
    let env = Env::new("\"frigate\"");
    let held = env.frigate("front", 10 * DAY);
    let held_marker_path = held_marker(&held, "case = \"P-1\"");
    let capped = env.frigate("front", 31 * DAY);
    let capped_marker = held_marker(&capped, "case = \"P-0\"");
    let free = env.frigate("yard", 10 * DAY);
    env.run(&["sweep"]).expect(0);
    assert!(
        held.exists() && held_marker_path.exists(),
        "held within the cap"
    );
    assert!(!free.exists(), "unheld and past retention");
    assert!(
        !capped.exists() && !capped_marker.exists(),
        "past the cap: clip and its marker go"
    );
    let deleted = env.events("clips_deleted");
    let reasons: Vec<&str> = deleted
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"hold_cap") && reasons.contains(&"retention"),
        "{reasons:?}"
    );
    let cap_entry = deleted.iter().find(|e| e["reason"] == "hold_cap").unwrap();
    assert_eq!(cap_entry["clips"][0]["limit"], "30d");
    assert!(
        cap_entry["clips"][0]["holds"][0]
            .as_str()
            .unwrap()
            .ends_with(".mp4.hold")
    );
    let removed = env.events("marker_removed");
    assert_eq!(removed.len(), 1);
    assert!(removed[0]["path"].as_str().unwrap().ends_with(".mp4.hold"));
    assert_eq!(removed[0]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_hold_that_has_ended_lets_its_clips_go() {
    let env = Env::new("\"frigate\"");
    let ended = env.frigate("front", 10 * DAY);
    held_marker(&ended, "case = \"P-2\"\nuntil = 2026-01-01T00:00:00Z");
    let running = env.frigate("front", 11 * DAY);
    held_marker(&running, "case = \"P-3\"\nuntil = 2099-01-01T00:00:00Z");
    env.run(&["sweep"]).expect(0);
    assert!(!ended.exists() && running.exists());
    let e = env.events("clips_deleted");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["reason"], "hold_ended");
}

#[test]
fn a_directory_marker_holds_everything_below_it_but_not_in_the_root() {
    let env = Env::new("\"motioneye\"");
    let a = env.motioneye("Camera1", 9 * DAY);
    let b = env.motioneye("Camera1", 10 * DAY);
    let c = env.motioneye("Camera2", 9 * DAY);
    std::fs::write(env.root.join("Camera1/.hold"), "case = \"INC-7\"").unwrap();
    std::fs::write(env.root.join(".hold"), "").unwrap();
    let out = env.run(&["sweep"]).expect(0);
    assert!(a.exists() && b.exists(), "held by Camera1/.hold");
    assert!(!c.exists(), "the root's .hold holds nothing");
    assert!(
        out.stdout
            .contains(".hold is in the root itself and holds nothing"),
        "{}",
        out.stdout
    );
}

#[test]
fn markers_that_cannot_be_read_or_parsed_still_hold() {
    let env = Env::new("\"frigate\"");
    let bad_toml = env.frigate("a", 9 * DAY);
    held_marker(&bad_toml, "case = [unclosed");
    let huge = env.frigate("b", 9 * DAY);
    held_marker(&huge, &"#".repeat(70_000));
    let link = env.frigate("c", 9 * DAY);
    std::os::unix::fs::symlink("/dev/null", link.with_extension("mp4.hold")).unwrap();
    let dir = env.frigate("d", 9 * DAY);
    std::fs::create_dir(dir.with_extension("mp4.hold")).unwrap();
    let fifo = env.frigate("e", 9 * DAY);
    nix::unistd::mkfifo(
        &fifo.with_extension("mp4.hold"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = env.run(&["sweep"]).expect(0);
    for (clip, why) in [
        (&bad_toml, "not valid marker TOML"),
        (&huge, "64 KiB"),
        (&link, "symlink"),
        (&dir, "not a regular file"),
        (&fifo, "not a regular file"),
    ] {
        assert!(
            clip.exists(),
            "{} deleted despite its marker",
            clip.display()
        );
        assert!(
            out.stdout.contains(why),
            "no alarm with {why:?}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn markers_from_other_owners_hold_nothing_when_owners_are_listed() {
    if !is_root() {
        eprintln!("skipped: needs root to chown a marker");
        return;
    }
    let env = Env::full("[holds]\nmarker_owners = [\"root\"]", "\"frigate\"", "");
    let theirs = env.frigate("a", 9 * DAY);
    let m = held_marker(&theirs, "case = \"X\"");
    nix::unistd::chown(&m, Some(4242.into()), Some(4242.into())).unwrap();
    let ours = env.frigate("b", 9 * DAY);
    held_marker(&ours, "case = \"Y\"");
    let out = env.run(&["sweep"]).expect(0);
    assert!(!theirs.exists(), "a stranger's marker must not hold");
    assert!(ours.exists());
    assert!(
        out.stdout.contains("uid 4242") && out.stdout.contains("marker_owners"),
        "{}",
        out.stdout
    );
}

#[test]
fn nothing_outside_the_root_or_through_a_symlink_is_deleted() {
    let env = Env::new("\"frigate\"");
    let outside = tempfile::tempdir().unwrap();
    let t = env.now - SignedDuration::from_secs(20 * DAY);
    let day = t
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d")
        .to_string();
    let victim_dir = outside.path().join("00/front");
    std::fs::create_dir_all(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("00.00.mp4"), b"evidence").unwrap();
    common::set_mtime(&victim_dir.join("00.00.mp4"), t);
    std::fs::write(outside.path().join("victim.mp4"), b"evidence").unwrap();
    // A date directory that is a link to the outside, and a clip that is a link.
    std::os::unix::fs::symlink(outside.path(), env.root.join(&day)).unwrap();
    let real = env.frigate("front", 20 * DAY + 3600);
    let linked_clip = real.with_file_name("59.59.mp4");
    std::os::unix::fs::symlink(outside.path().join("victim.mp4"), &linked_clip).unwrap();
    env.run(&["sweep"]).expect(0);
    assert!(victim_dir.join("00.00.mp4").exists() && outside.path().join("victim.mp4").exists());
    assert!(
        linked_clip.symlink_metadata().is_ok(),
        "the link itself is not a clip either"
    );
}

#[test]
fn files_that_are_not_clips_are_never_deleted() {
    let env = Env::new("\"frigate\"");
    let real = env.frigate("front", 20 * DAY);
    let dir = real.parent().unwrap();
    for name in [
        "notes.txt",
        "00.00.mkv",
        "thumb.jpg",
        "garbage.mp4",
        "00.00.mp4.part",
    ] {
        std::fs::write(dir.join(name), b"x").unwrap();
        common::set_mtime(
            &dir.join(name),
            env.now - SignedDuration::from_secs(20 * DAY),
        );
    }
    env.run(&["sweep"]).expect(0);
    assert!(!real.exists());
    let left: Vec<String> = files(dir).into_iter().collect();
    assert_eq!(
        left,
        [
            "00.00.mkv",
            "00.00.mp4.part",
            "garbage.mp4",
            "notes.txt",
            "thumb.jpg"
        ]
    );
}

#[test]
fn files_still_being_written_are_kept() {
    let env = Env::new("\"frigate\"");
    let written_now = env.frigate("a", 9 * DAY);
    common::set_mtime(&written_now, env.now - SignedDuration::from_secs(30));
    let future = env.frigate("b", 9 * DAY);
    // An mtime in the future is not believed; the ctime (just now) says it was touched.
    common::set_mtime(&future, env.now + SignedDuration::from_secs(DAY));
    let done = env.frigate("c", 9 * DAY);
    let out = env.run(&["sweep", "--json"]).expect(0).json();
    assert!(written_now.exists() && future.exists() && !done.exists());
    let kept: Vec<&str> = out["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["why"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["being_written", "being_written"]);
}

#[test]
fn clips_that_cannot_be_judged_are_kept_and_reported() {
    let env = Env::new("\"frigate\"");
    let future = env.file("2099-01-01/00/cam/00.00.mp4", 9 * DAY);
    let epoch = env.file("1970-01-01/00/cam/00.00.mp4", 9 * DAY);
    let out = env.run(&["sweep", "--json"]).expect(0).json();
    assert!(future.exists() && epoch.exists());
    assert_eq!(out["summary"]["unjudgeable"], 2);
}

fn write_state(env: &Env, json: &str) {
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::write(env.state.join("state.json"), json).unwrap();
}

#[test]
fn a_clock_behind_the_last_pass_refuses_and_is_not_remembered() {
    let env = Env::new("\"frigate\"");
    let old = env.frigate("front", 9 * DAY);
    let last = env.now + SignedDuration::from_secs(DAY);
    write_state(&env, &format!("{{\"last_clock\":\"{last}\"}}"));
    let dry = env.run(&["sweep", "--dry-run"]).expect(3);
    assert!(dry.stdout.contains("REFUSED (clock)"), "{}", dry.stdout);
    let out = env.run(&["sweep"]).expect(3);
    assert!(
        out.stdout.contains("earlier than the last pass"),
        "{}",
        out.stdout
    );
    assert!(old.exists());
    let refused = env.events("guard_refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["guard"], "clock");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.state.join("state.json")).unwrap()).unwrap();
    assert_eq!(
        state["last_clock"].as_str().unwrap(),
        last.to_string(),
        "a refused pass does not move the remembered time"
    );
}

#[test]
fn the_fraction_guard_refuses_a_mass_deletion_until_forced() {
    let env = Env::new("\"frigate\"");
    let old: Vec<_> = (0..20)
        .map(|i| env.frigate("front", 9 * DAY + i * 600))
        .collect();
    let young: Vec<_> = (0..5)
        .map(|i| env.frigate("front", DAY + i * 600))
        .collect();
    let out = env.run(&["sweep"]).expect(3);
    assert!(
        out.stdout.contains("20 of 25 clips (80%)"),
        "{}",
        out.stdout
    );
    assert!(old.iter().all(|p| p.exists()), "nothing deleted");
    let refused = env.events("guard_refused");
    assert_eq!(refused[0]["guard"], "max_delete_fraction");
    assert_eq!(refused[0]["planned"], 20);
    // Refused again, unchanged: a refusal does not wear off by itself.
    env.run(&["sweep"]).expect(3);
    let forced = env.run(&["sweep", "--force"]).expect(0);
    assert!(forced.stdout.contains("FORCED"), "{}", forced.stdout);
    assert!(old.iter().all(|p| !p.exists()) && young.iter().all(|p| p.exists()));
    let sweeps = env.events("sweep");
    assert_eq!(
        sweeps.last().unwrap()["forced"].as_array().unwrap().len(),
        1,
        "--force is audited"
    );
    // And the next ordinary pass runs normally.
    env.run(&["sweep"]).expect(0);
}

#[test]
fn ten_clips_or_fewer_never_trip_the_fraction_guard() {
    let env = Env::new("\"frigate\"");
    let old: Vec<_> = (0..10)
        .map(|i| env.frigate("front", 9 * DAY + i * 600))
        .collect();
    env.run(&["sweep"]).expect(0);
    assert!(old.iter().all(|p| !p.exists()));
}

#[test]
fn a_root_that_should_be_mounted_but_is_not_is_not_swept() {
    let env = Env::with("\"frigate\"", "expect_mount = true");
    let old = env.frigate("front", 9 * DAY);
    let out = env.run(&["sweep"]).expect(3);
    assert!(out.stdout.contains("not a mount point"), "{}", out.stdout);
    assert!(old.exists());
    assert_eq!(env.events("guard_refused")[0]["guard"], "expect_mount");

    // Mounted, it is swept. Mounting needs privileges; without them this half is skipped.
    let mounted = nix::mount::mount(
        Some("tmpfs"),
        &env.root,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    if mounted.is_err() {
        eprintln!("skipped the mounted half: cannot mount tmpfs here");
        return;
    }
    let on_disk = env.frigate("front", 9 * DAY + 600);
    let result = env.run(&["sweep"]);
    let gone = !on_disk.exists();
    let _ = nix::mount::umount(&env.root);
    result.expect(0);
    assert!(gone, "a mounted root is swept");
}

#[test]
fn a_changed_filesystem_is_noticed_and_audited() {
    let env = Env::new("\"frigate\"");
    env.frigate("front", DAY);
    write_state(
        &env,
        &format!(
            "{{\"roots\":{{\"{}\":{{\"dev\":1,\"fsid\":2}}}}}}",
            env.root.display()
        ),
    );
    let out = env.run(&["sweep"]).expect(0);
    assert!(
        out.stdout.contains("different filesystem"),
        "{}",
        out.stdout
    );
    let changed = env.events("root_changed");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["was"]["dev"], 1);
    // Remembered now: the next pass is quiet about it.
    env.run(&["sweep"]).expect(0);
    assert_eq!(env.events("root_changed").len(), 1);
}

#[test]
fn two_passes_never_delete_at_once() {
    let env = Env::new("\"frigate\"");
    let old = env.frigate("front", 9 * DAY);
    std::fs::create_dir_all(&env.state).unwrap();
    let lock = clipwarden::lock::StateLock::acquire(&env.state, Duration::ZERO).unwrap();
    let mut child = env
        .command(&["sweep"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(old.exists(), "deleted while another pass held the lock");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the second pass should be waiting"
    );
    drop(lock);
    assert!(child.wait().unwrap().success());
    assert!(!old.exists());
}

#[test]
fn an_unreadable_directory_is_reported_and_the_walk_goes_on() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("\"frigate\"");
    let blocked = env.frigate("front", 9 * DAY);
    let fine = env.frigate("yard", 9 * DAY);
    let blocked_dir = blocked.parent().unwrap();
    let mut cmd = env.command(&["sweep"]);
    if is_root() {
        // Root reads everything: run the binary as nobody, who owns the tree but one directory.
        let nobody = nix::unistd::Uid::from_raw(65534);
        for p in [&env.root, &env.state] {
            std::fs::create_dir_all(p).unwrap();
            std::process::Command::new("chown")
                .arg("-R")
                .arg("65534:65534")
                .arg(p)
                .status()
                .unwrap();
        }
        nix::unistd::chown(blocked_dir, Some(0.into()), Some(0.into())).unwrap();
        std::os::unix::process::CommandExt::uid(&mut cmd, nobody.as_raw());
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    }
    std::fs::set_permissions(blocked_dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = common::output(&mut cmd);
    std::fs::set_permissions(blocked_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = out.expect(1);
    assert!(
        out.stdout
            .contains(&format!("ERROR {}", blocked_dir.display())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Permission denied"), "{}", out.stdout);
    assert!(
        blocked.exists() && !fine.exists(),
        "the walk went on past the unreadable directory"
    );
}

#[test]
fn a_directory_left_with_only_its_marker_goes_with_it() {
    let env = Env::new("\"frigate\"");
    let capped = env.frigate("front", 31 * DAY);
    let hour = capped.parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(hour.join(".hold"), "case = \"OLD\"").unwrap();
    let keep_marker_hour = env
        .frigate("yard", 9 * DAY)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(keep_marker_hour.join(".hold"), "case = \"NEW\"").unwrap();
    env.run(&["sweep"]).expect(0);
    assert!(
        !capped.exists() && !hour.exists(),
        "the emptied hour and its .hold are gone"
    );
    assert!(
        keep_marker_hour.join(".hold").exists(),
        "a marker still holding footage stays"
    );
    let removed = env.events("marker_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["why"], "nothing it held is left");
    assert!(env.root.is_dir(), "the root is never removed");
}

#[test]
fn markers_appearing_and_going_by_another_hand_are_audited() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let marker = held_marker(&clip, "case = \"P-9\"");
    env.run(&["sweep"]).expect(0);
    let added = env.events("marker_added");
    assert_eq!(added.len(), 1);
    assert!(added[0]["path"].as_str().unwrap().ends_with(".mp4.hold"));
    assert_eq!(added[0]["owner_uid"], nix::unistd::geteuid().as_raw());
    assert_eq!(
        added[0]["sha256"],
        clipwarden::digest::sha256_hex(b"case = \"P-9\"")
    );
    assert_eq!(added[0]["clips"], 1);
    env.run(&["sweep"]).expect(0);
    assert_eq!(
        env.events("marker_added").len(),
        1,
        "an unchanged marker is recorded once"
    );

    std::fs::remove_file(&marker).unwrap();
    env.run(&["sweep"]).expect(0);
    let removed = env.events("marker_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["path"], added[0]["path"]);
    assert!(!clip.exists(), "no longer held, so past retention");
}

#[test]
fn disk_pressure_takes_the_oldest_unheld_footage_but_never_held_or_recent() {
    // 99% free can never be reached: every eligible clip goes, and the alarm says what is left.
    let env = Env::with("\"frigate\"", "min_free = \"99%\"\nmin_keep = \"1h\"");
    let eligible: Vec<_> = (2..6).map(|h| env.frigate("front", h * 3600)).collect();
    let held = env.frigate("yard", 3 * 3600);
    held_marker(&held, "case = \"P-10\"");
    let recent = env.frigate("front", 1800);
    let out = env.run(&["sweep"]).expect(0);
    assert!(eligible.iter().all(|p| !p.exists()), "{}", out.stdout);
    assert!(held.exists() && recent.exists());
    assert!(out.stdout.contains("disk pressure on"), "{}", out.stdout);
    let reasons: Vec<String> = env
        .events("clips_deleted")
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons.iter().all(|r| r == "disk_pressure"), "{reasons:?}");
    assert_eq!(env.events("clips_deleted")[0]["clips"][0]["limit"], "1h");
}

#[test]
fn without_pressure_min_free_takes_nothing_early() {
    let env = Env::with("\"frigate\"", "min_free = \"1B\"\nmin_keep = \"1h\"");
    let young = env.frigate("front", 3 * 3600);
    env.run(&["sweep"]).expect(0);
    assert!(young.exists());
}

#[test]
fn files_a_root_command_creates_in_the_state_dir_belong_to_its_owner() {
    use std::os::unix::fs::MetadataExt;
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let env = Env::new("\"frigate\"");
    let young = env.frigate("front", DAY);
    std::fs::create_dir_all(&env.state).unwrap();
    nix::unistd::chown(&env.state, Some(65534.into()), Some(65534.into())).unwrap();
    env.run(&["sweep"]).expect(0);
    let t = env.now - SignedDuration::from_secs(DAY + 60);
    let from = t.to_string();
    env.run(&[
        "hold",
        "add",
        "--camera",
        "front",
        "--from",
        &from,
        "--to",
        &env.now.to_string(),
        "--case",
        "OWN-1",
        "--reason",
        "test",
    ])
    .expect(0);
    let mut checked = 0;
    for path in common::files(&env.state) {
        let m = std::fs::metadata(env.state.join(&path)).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (65534, 65534),
            "{path} is not the state owner's"
        );
        checked += 1;
    }
    assert!(
        checked >= 4,
        "lock, audit log, state and the hold were all checked: {checked}"
    );
    assert!(young.exists());
}

#[test]
fn many_small_directories_do_not_exhaust_file_descriptors() {
    // Dahua-style deep trees: one clip per hour directory, five levels down.
    let env = Env::new("\"mtime\"");
    let clips: Vec<_> = (0..200)
        .map(|h| {
            env.file(
                &format!(
                    "cam/2026-11-{:02}/001/dav/{:02}/seg.mp4",
                    1 + h / 24,
                    h % 24
                ),
                9 * DAY + h,
            )
        })
        .collect();
    let mut cmd = env.command(&["sweep", "--force"]);
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let lim = nix::libc::rlimit {
                rlim_cur: 128,
                rlim_max: 128,
            };
            if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = common::output(&mut cmd).expect(0);
    assert!(clips.iter().all(|c| !c.exists()), "{}", out.stdout);
}

#[test]
fn markers_in_young_directories_counted_for_the_guard_are_not_reported_removed() {
    let env = Env::new("\"frigate\"");
    // 15 due and 20 young: the guard needs the young days' count, so they are read for it.
    for i in 0..15 {
        env.frigate("front", 9 * DAY + i * 600);
    }
    let young: Vec<_> = (0..20)
        .map(|i| env.frigate("yard", DAY + i * 600))
        .collect();
    let hour = young[0].parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(hour.join(".hold"), "case = \"Y\"").unwrap();
    // As if the daemon had already recorded that marker.
    let shown = hour.join(".hold").display().to_string();
    std::fs::create_dir_all(&env.state).unwrap();
    std::fs::write(
        env.state.join("state.json"),
        format!("{{\"known_markers\":{{\"{shown}\":{{\"sha256\":null,\"owner_uid\":0}}}}}}"),
    )
    .unwrap();
    env.run(&["sweep"]).expect(0);
    assert!(
        env.events("marker_removed").is_empty(),
        "{:?}",
        env.events("marker_removed")
    );
}

#[test]
fn a_clip_whose_inode_cannot_be_read_is_reported_not_dropped() {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        eprintln!("skipped: needs root to run the binary as another user");
        return;
    }
    let env = Env::new("\"frigate\"");
    let hidden = env.frigate("front", 9 * DAY);
    let fine = env.frigate("yard", 9 * DAY);
    let dir = hidden.parent().unwrap();
    for p in [&env.root, &env.state] {
        std::fs::create_dir_all(p).unwrap();
        std::process::Command::new("chown")
            .arg("-R")
            .arg("65534:65534")
            .arg(p)
            .status()
            .unwrap();
    }
    // Listable but not searchable: its names can be read, its inodes cannot.
    nix::unistd::chown(dir, Some(0.into()), Some(0.into())).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o444)).unwrap();
    let mut cmd = env.command(&["sweep"]);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let out = common::output(&mut cmd);
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = out.expect(1);
    assert!(
        out.stdout.contains(&format!("ERROR {}", hidden.display())),
        "{}",
        out.stdout
    );
    assert!(hidden.exists() && !fine.exists());
}
