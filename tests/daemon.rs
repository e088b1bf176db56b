//! `clipwarden run` as systemd runs it: the real binary with a real NOTIFY_SOCKET, real
//! inotify, real signals. Waits are bounded (so a broken daemon fails the test instead of
//! hanging it) but nothing is asserted about how long anything took.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{DAY, Env};

const PATIENCE: Duration = Duration::from_secs(60);

struct Daemon {
    child: Child,
    notify: UnixDatagram,
    _sock_dir: tempfile::TempDir,
    seen: Vec<String>,
}

impl Daemon {
    fn start(env: &Env, watchdog_usec: Option<u64>) -> Daemon {
        let sock_dir = tempfile::tempdir().unwrap();
        let path = sock_dir.path().join("notify");
        let notify = UnixDatagram::bind(&path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut cmd = env.command(&["run"]);
        // Its log goes to a file (a pipe nobody reads would fill and stop it) that a failing
        // test prints.
        let log = std::fs::File::create(sock_dir.path().join("daemon.log")).unwrap();
        cmd.env("NOTIFY_SOCKET", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        if let Some(w) = watchdog_usec {
            cmd.env("WATCHDOG_USEC", w.to_string());
        }
        Daemon {
            child: cmd.spawn().unwrap(),
            notify,
            _sock_dir: sock_dir,
            seen: Vec::new(),
        }
    }

    /// Waits for a notify message containing `want`; panics after PATIENCE.
    fn expect_message(&mut self, want: &str) -> String {
        self.expect_matching(want, |m| m.contains(want))
    }

    /// Waits for a notify message for which `pred` holds; panics after PATIENCE.
    fn expect_matching(&mut self, want: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                if pred(&msg) {
                    return msg;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "daemon exited ({status}) before sending {want:?}; seen {:?}",
                    self.seen
                );
            }
        }
        panic!("no {want:?} from the daemon; seen {:?}", self.seen);
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self._sock_dir.path().join("daemon.log"))
                .unwrap_or_default();
            eprintln!(
                "--- daemon log ---\n{log}--- notify messages ---\n{:?}",
                self.seen
            );
        }
    }
}

/// Waits until `cond` holds; panics after PATIENCE.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lays a Frigate clip down outside the root with its final mtime, then moves it in: the
/// daemon sees a whole file appear at once, as a recorder's rename does.
fn arrive(env: &Env, camera: &str, age: i64) -> PathBuf {
    // Staged beside the clips (a dot directory, which no layout reads) so the rename stays on
    // the root's filesystem, whatever is mounted there.
    let staging = env.root.join(".staging");
    std::fs::create_dir_all(&staging).unwrap();
    let at = env.frigate(camera, age);
    let tmp = staging.join(at.file_name().unwrap());
    std::fs::rename(&at, &tmp).unwrap();
    std::fs::rename(&tmp, &at).unwrap();
    at
}

fn gone(p: &Path) -> bool {
    !p.exists()
}

#[test]
fn ready_then_an_expired_clip_that_appears_is_deleted() {
    let env = Env::new("\"frigate\"");
    let young = env.frigate("front", DAY);
    let mut d = Daemon::start(&env, None);
    let ready = d.expect_message("READY=1");
    assert!(ready.contains("STATUS=1 clips"), "{ready}");
    let old = arrive(&env, "yard", 9 * DAY);
    eventually("the expired clip to go", || gone(&old));
    assert!(young.exists());
    let deleted = env.events("clips_deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["reason"], "retention");
    assert!(!env.events("anchor").is_empty(), "anchors after passes");
    assert!(d.stop().success(), "SIGTERM stops it with exit 0");
}

#[test]
fn a_new_marker_keeps_its_clips() {
    let env = Env::new("\"frigate\"");
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    // The marker is placed first, then its clip arrives; an unheld clip arrives after both.
    let held_path = env.frigate("front", 9 * DAY);
    let staging = env.tmp.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let tmp = staging.join("held.mp4");
    std::fs::rename(&held_path, &tmp).unwrap();
    std::fs::write(held_path.with_extension("mp4.hold"), "case = \"D-1\"").unwrap();
    std::fs::rename(&tmp, &held_path).unwrap();
    let unheld = arrive(&env, "front", 9 * DAY + 600);
    eventually("the unheld clip to go", || gone(&unheld));
    assert!(held_path.exists(), "the held clip was deleted");
    assert!(d.stop().success());
}

#[test]
fn a_held_clip_deleted_by_another_hand_raises_the_alarm() {
    let env = Env::new("\"frigate\"");
    let held = env.frigate("front", 9 * DAY);
    std::fs::write(held.with_extension("mp4.hold"), "case = \"D-2\"").unwrap();
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    std::fs::remove_file(&held).unwrap();
    d.expect_message("clip_vanished");
    let v = env.events("clip_vanished");
    assert_eq!(v.len(), 1);
    assert!(v[0]["path"].as_str().unwrap().ends_with(".mp4"));
    assert!(d.stop().success());
}

#[test]
fn sighup_reloads_and_a_bad_config_keeps_the_old_one() {
    let env = Env::new("\"frigate\"");
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    let good = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(&env.config, format!("{good}\nnot_a_key = 1\n")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    d.expect_message("ALARM: config");
    // Still working with the old config: an expired clip is deleted.
    let old = arrive(&env, "yard", 9 * DAY);
    eventually("the expired clip to go under the old config", || gone(&old));
    // A good config clears the alarm; its new retention applies.
    std::fs::write(&env.config, format!("{good}\n[retention]\ndays = 2\n")).unwrap();
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let three_days = env.frigate("front", 3 * DAY);
    let staging = env.tmp.path().join("s2");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::rename(&three_days, staging.join("x.mp4")).unwrap();
    std::fs::rename(staging.join("x.mp4"), &three_days).unwrap();
    eventually("a 3-day-old clip to go under a 2-day retention", || {
        gone(&three_days)
    });
    d.expect_matching("a status without the config alarm", |m| {
        m.contains("STATUS=") && !m.contains("ALARM")
    });
    assert!(d.stop().success());
}

#[test]
fn watchdog_pings_arrive() {
    let env = Env::new("\"frigate\"");
    let mut d = Daemon::start(&env, Some(400_000));
    d.expect_message("READY=1");
    d.expect_message("WATCHDOG=1");
    d.expect_message("WATCHDOG=1");
    assert!(d.stop().success());
}

#[test]
fn a_bad_config_exits_2_before_ready() {
    let env = Env::new("\"frigate\"");
    std::fs::write(&env.config, "timezone = \"Nowhere/Land\"\n").unwrap();
    let mut d = Daemon::start(&env, None);
    let status = d.child.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let mut buf = [0u8; 512];
    assert!(
        d.notify.recv(&mut buf).is_err(),
        "READY must not be sent for a bad config"
    );
}

#[test]
fn a_registry_hold_placed_while_it_runs_is_honoured() {
    let env = Env::new("\"frigate\"");
    env.frigate("front", DAY);
    env.frigate("yard", DAY);
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    let t = env.now - jiff::SignedDuration::from_secs(9 * DAY);
    let from = t
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let to = (t + jiff::SignedDuration::from_secs(3600))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    env.run(&[
        "hold", "add", "--camera", "front", "--from", &from, "--to", &to, "--case", "LIVE-1",
        "--reason", "test",
    ])
    .expect(0);
    let held = arrive(&env, "front", 9 * DAY - 600);
    let unheld = arrive(&env, "yard", 9 * DAY - 600);
    eventually("the unheld clip to go", || gone(&unheld));
    assert!(
        held.exists(),
        "a clip in the registry hold's window was deleted"
    );
    assert!(d.stop().success());
}

#[test]
fn disk_pressure_in_the_daemon_takes_old_unheld_footage_and_raises_the_alarm() {
    let env = Env::with("\"frigate\"", "min_free = \"99%\"\nmin_keep = \"1h\"");
    let old: Vec<_> = (2..5).map(|h| env.frigate("front", h * 3600)).collect();
    let recent = env.frigate("front", 600);
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    eventually("the footage past min_keep to go", || {
        old.iter().all(|p| gone(p))
    });
    assert!(recent.exists());
    d.expect_message("disk_pressure");
    assert!(
        env.events("clips_deleted")
            .iter()
            .all(|e| e["reason"] == "disk_pressure")
    );
    assert!(d.stop().success());
}

#[test]
fn the_metrics_textfile_is_written_and_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("clipwarden.prom");
    let env = Env::full(
        &format!("[metrics]\ntextfile = \"{}\"", prom.display()),
        "\"frigate\"",
        "",
    );
    env.frigate("front", DAY);
    env.frigate("yard", 2 * DAY);
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    eventually("the metrics textfile", || prom.exists());
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("clipwarden_clips{root=") && text.contains("camera=\"front\"} 1"),
        "{text}"
    );
    assert!(text.contains("clipwarden_config_valid 1"), "{text}");
    assert!(
        text.contains("clipwarden_oldest_unheld_clip_age_seconds{camera=\"yard\"}"),
        "{text}"
    );
    let check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&prom).unwrap())
        .output()
        .expect("promtool (Debian package prometheus) must be installed: apt-get install --no-install-recommends prometheus");
    assert!(
        check.status.success() && check.stdout.is_empty() && check.stderr.is_empty(),
        "{check:?}"
    );
    assert!(d.stop().success());
}

#[test]
fn a_disk_mounted_over_a_root_is_watched_and_swept() {
    let env = Env::new("\"frigate\"");
    env.frigate("front", DAY);
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    let mounted = nix::mount::mount(
        Some("tmpfs"),
        &env.root,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    );
    if mounted.is_err() {
        eprintln!("skipped: cannot mount tmpfs here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(&env.root);
    // The new disk is found, watched, and what then arrives on it is swept.
    d.expect_matching("the rescan of the new disk", |m| {
        m.contains("STATUS=0 clips")
    });
    let old = arrive(&env, "yard", 9 * DAY);
    eventually("the expired clip on the new disk to go", || gone(&old));
    assert!(d.stop().success());
}

/// Writes a file with a given mtime, staged inside the root so its arrival is one rename.
fn arrive_at(env: &Env, rel: &str, mtime_age: i64) -> PathBuf {
    let staging = env.root.join(".staging");
    std::fs::create_dir_all(&staging).unwrap();
    let tmp = staging.join(rel.replace('/', "_"));
    std::fs::write(&tmp, b"footage").unwrap();
    common::set_mtime(&tmp, env.now - jiff::SignedDuration::from_secs(mtime_age));
    let at = env.root.join(rel);
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    std::fs::rename(&tmp, &at).unwrap();
    at
}

#[test]
fn a_window_hold_on_an_mtime_layout_is_honoured_across_directories() {
    // The recording of cam/b/2.mp4 starts at the previous clip's mtime, in cam/a.
    let env = Env::new("\"mtime\"");
    env.file("cam/new/0.mp4", DAY);
    let t = |age: i64| (env.now - jiff::SignedDuration::from_secs(age)).to_string();
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    env.run(&[
        "hold",
        "add",
        "--camera",
        "cam",
        "--from",
        &t(10 * DAY),
        "--to",
        &t(10 * DAY - 120),
        "--case",
        "MT-1",
        "--reason",
        "r",
    ])
    .expect(0);
    arrive_at(&env, "cam/a/1.mp4", 10 * DAY + 300);
    let held = arrive_at(&env, "cam/b/2.mp4", 10 * DAY - 600);
    let unheld = arrive_at(&env, "cam/c/3.mp4", 9 * DAY);
    eventually("the unheld clip to go", || gone(&unheld));
    assert!(
        held.exists(),
        "the clip recording through the window was deleted"
    );
    assert!(d.stop().success());
}

#[test]
fn a_clip_with_a_future_mtime_is_judged_by_its_ctime() {
    let env = Env::full("[safety]\nquiet_period = \"1s\"", "\"frigate\"", "");
    let clip = env.frigate("front", 9 * DAY);
    common::set_mtime(
        &clip,
        env.now + jiff::SignedDuration::from_secs(3 * 365 * DAY),
    );
    std::thread::sleep(Duration::from_millis(1500)); // its ctime leaves the quiet period
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    eventually("the clip to go", || gone(&clip));
    assert!(d.stop().success());
}

#[test]
fn nothing_is_deleted_on_a_filesystem_mounted_inside_a_root() {
    let env = Env::new("\"motioneye\"");
    env.motioneye("Camera1", DAY);
    std::fs::create_dir_all(env.root.join("archive")).unwrap();
    if nix::mount::mount(
        Some("tmpfs"),
        &env.root.join("archive"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .is_err()
    {
        eprintln!("skipped: cannot mount tmpfs here");
        return;
    }
    let archive = env.root.join("archive");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(archive.clone());
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    let t = env.now - jiff::SignedDuration::from_secs(9 * DAY);
    let day = t
        .to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Oslo").unwrap())
        .strftime("%Y-%m-%d")
        .to_string();
    std::fs::create_dir_all(archive.join(&day)).unwrap();
    let foreign = archive.join(&day).join("10-00-00.mp4");
    std::fs::write(&foreign, b"not the root's").unwrap();
    common::set_mtime(&foreign, t);
    let ours = arrive_at(&env, &format!("Camera1/{day}/10-00-00.mp4"), 9 * DAY);
    eventually("the root's own expired clip to go", || gone(&ours));
    assert!(
        foreign.exists(),
        "deleted on another filesystem mounted inside the root"
    );
    assert!(d.stop().success());
}

#[test]
fn disk_pressure_takes_unheld_footage_even_when_older_held_footage_fills_the_disk() {
    let env = Env::with("\"frigate\"", "min_free = \"99%\"\nmin_keep = \"1h\"");
    let held: Vec<_> = (20..23).map(|d| env.frigate("front", d * DAY)).collect();
    std::fs::write(env.root.join(".hold-note"), "").ok();
    for h in &held {
        std::fs::write(h.with_extension("mp4.hold"), "case = \"P\"").unwrap();
    }
    let unheld: Vec<_> = (3..6).map(|h| env.frigate("yard", h * 3600)).collect();
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    eventually("the unheld footage past min_keep to go", || {
        unheld.iter().all(|p| gone(p))
    });
    assert!(held.iter().all(|p| p.exists()));
    assert!(d.stop().success());
}

#[test]
fn the_watchdog_keeps_pinging_while_another_pass_holds_the_lock() {
    let env = Env::new("\"frigate\"");
    env.frigate("front", DAY);
    let mut d = Daemon::start(&env, Some(4_000_000));
    d.expect_message("READY=1");
    let lock = clipwarden::lock::StateLock::acquire(&env.state, Duration::from_secs(5)).unwrap();
    let _due = arrive(&env, "yard", 9 * DAY);
    let mut pings = vec![Instant::now()];
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        d.expect_message("WATCHDOG=1");
        pings.push(Instant::now());
    }
    drop(lock);
    let worst = pings.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        worst < Duration::from_secs(4),
        "a gap of {worst:?} would let systemd's watchdog kill it"
    );
    assert!(d.stop().success());
}

#[test]
fn a_root_added_by_reload_is_swept_without_a_crash() {
    let env = Env::new("\"frigate\"");
    env.frigate("front", DAY);
    let second = env.tmp.path().join("rec2");
    std::fs::create_dir_all(&second).unwrap();
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    let text = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!(
            "{text}\n[[root]]\npath = \"{}\"\nlayout = \"mtime\"\n",
            second.display()
        ),
    )
    .unwrap();
    for i in 0..20 {
        std::fs::create_dir_all(second.join("cam")).unwrap();
        std::fs::write(second.join(format!("cam/{i}.mp4")), b"x").unwrap();
    }
    d.signal(nix::sys::signal::Signal::SIGHUP);
    let old = second.join("cam/old.mp4");
    std::fs::write(&old, b"x").unwrap();
    common::set_mtime(&old, env.now - jiff::SignedDuration::from_secs(9 * DAY));
    eventually("the new root's expired clip to go", || gone(&old));
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon died");
    assert!(d.stop().success());
}

#[test]
fn held_clips_removed_right_after_their_marker_raise_the_alarm() {
    let env = Env::new("\"frigate\"");
    let clips: Vec<_> = (0..3)
        .map(|i| env.frigate("front", 9 * DAY + i * 10))
        .collect();
    let hour = clips[0].parent().unwrap().parent().unwrap().to_path_buf();
    std::fs::write(hour.join(".hold"), "case = \"V\"").unwrap();
    let mut d = Daemon::start(&env, None);
    d.expect_message("READY=1");
    std::fs::remove_file(hour.join(".hold")).unwrap();
    for c in &clips {
        let _ = std::fs::remove_file(c);
    }
    d.expect_message("clip_vanished");
    assert!(!env.events("clip_vanished").is_empty());
    assert!(d.stop().success());
}
