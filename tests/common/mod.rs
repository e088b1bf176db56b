//! Test environment for running the real binary on real trees, as fd's `testenv` does: a
//! temp dir with a root, a state dir and a config; helpers to lay down clips with the right
//! names and mtimes; and a runner that captures exit code, stdout and stderr.
#![allow(dead_code)] // each test file uses its own part of the harness

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub const DAY: i64 = 86_400;

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
    pub now: Timestamp,
}

/// What a run of the binary gave back.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts that stdout contains `needle`, showing both streams when it does not.
    pub fn stdout_has(&self, needle: &str) -> &Out {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts that stderr contains `needle`, showing both streams when it does not.
    pub fn stderr_has(&self, needle: &str) -> &Out {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the exit code, showing everything when it is wrong.
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Env {
    /// A root with `layout` (a TOML value) and the default policy.
    pub fn new(layout: &str) -> Env {
        Env::with(layout, "")
    }

    /// A root with `layout`, plus `extra` TOML appended (sections after `[[root]]` apply to
    /// the root only when they are root keys; put tables like `[retention]` in `top`).
    pub fn with(layout: &str, root_extra: &str) -> Env {
        Env::full("", layout, root_extra)
    }

    pub fn full(top: &str, layout: &str, root_extra: &str) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        // Other users (the unprivileged test runs) must be able to reach the tree.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = tmp.path().join("rec");
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        let config = tmp.path().join("clipwarden.toml");
        let env = Env {
            root,
            state,
            config,
            tmp,
            now: Timestamp::now(),
        };
        env.write_config(top, layout, root_extra);
        env
    }

    pub fn write_config(&self, top: &str, layout: &str, root_extra: &str) {
        let text = format!(
            "timezone = \"Europe/Oslo\"\nstate_dir = \"{}\"\n{top}\n[[root]]\npath = \"{}\"\nlayout = {layout}\nextensions = [\"mp4\"]\n{root_extra}\n",
            self.state.display(),
            self.root.display()
        );
        std::fs::write(&self.config, text).unwrap();
    }

    /// Runs the binary with `--config` and `args`.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut cmd = self.command(args);
        output(&mut cmd)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipwarden"));
        cmd.arg("--config").arg(&self.config).args(args);
        cmd.env_remove("SUDO_UID")
            .env_remove("SUDO_USER")
            .env_remove("CLIPWARDEN_CONFIG");
        cmd
    }

    /// The binary without `--config` (and without the sudo and config variables), for tests
    /// of how the config is found.
    pub fn bare_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_clipwarden"));
        cmd.args(args)
            .env_remove("SUDO_UID")
            .env_remove("SUDO_USER")
            .env_remove("CLIPWARDEN_CONFIG");
        cmd
    }

    /// Creates `rel` below the root, written until `age_secs - 10` seconds ago.
    pub fn file(&self, rel: &str, age_secs: i64) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"footage").unwrap();
        set_mtime(&p, self.now - SignedDuration::from_secs(age_secs - 10));
        p
    }

    /// A Frigate clip for `camera` recorded `age_secs` ago (UTC names).
    pub fn frigate(&self, camera: &str, age_secs: i64) -> PathBuf {
        let t = self.now - SignedDuration::from_secs(age_secs);
        let z = t.to_zoned_datetime(TimeZone::UTC);
        let rel = format!(
            "{}/{camera}/{}.mp4",
            z.strftime("%Y-%m-%d/%H"),
            z.strftime("%M.%S")
        );
        self.file(&rel, age_secs)
    }

    /// A Frigate clip for `camera` whose recording began at `start` (its UTC name) and was
    /// written until `end` (its mtime).
    pub fn frigate_span(&self, camera: &str, start: Timestamp, end: Timestamp) -> PathBuf {
        let z = start.to_zoned_datetime(TimeZone::UTC);
        let p = self.root.join(format!(
            "{}/{camera}/{}.mp4",
            z.strftime("%Y-%m-%d/%H"),
            z.strftime("%M.%S")
        ));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"footage").unwrap();
        set_mtime(&p, end);
        p
    }

    /// A motionEye clip recorded `age_secs` ago (Oslo names).
    pub fn motioneye(&self, camera: &str, age_secs: i64) -> PathBuf {
        let t = self.now - SignedDuration::from_secs(age_secs);
        let z = t.to_zoned_datetime(TimeZone::get("Europe/Oslo").unwrap());
        let rel = format!("{camera}/{}.mp4", z.strftime("%Y-%m-%d/%H-%M-%S"));
        self.file(&rel, age_secs)
    }

    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.state.join("audit.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The audit segments in chain order: rotated ones by their first `seq`, then the current.
    pub fn segments(&self) -> Vec<PathBuf> {
        let mut rotated: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.state)
            .map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("audit-") && n.ends_with(".jsonl")
            })
            .map(|p| {
                let first = std::fs::read_to_string(&p)
                    .ok()
                    .and_then(|t| t.lines().next().map(str::to_string))
                    .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                    .and_then(|v| v["seq"].as_u64())
                    .unwrap_or(0);
                (first, p)
            })
            .collect();
        rotated.sort();
        let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
        let current = self.state.join("audit.jsonl");
        if current.exists() {
            out.push(current);
        }
        out
    }

    /// Every audit entry across all segments, oldest first (a month may turn mid-test).
    pub fn audit_all(&self) -> Vec<serde_json::Value> {
        self.segments()
            .iter()
            .flat_map(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Entries of one kind across all segments.
    pub fn all_events(&self, event: &str) -> Vec<serde_json::Value> {
        self.audit_all()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }

    /// The config's SHA-256 as `config check --json` reports it.
    pub fn config_sha256(&self) -> String {
        self.run(&["config", "check", "--json"]).expect(0).json()["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.audit_lines()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }
}

/// Sets `p`'s atime and mtime (of a symlink itself, not its target). Through rustix rather
/// than filetime: on 32-bit glibc filetime's `time_t` is 32 bits, and a time after 2038
/// would silently wrap into 1901.
pub fn set_mtime(p: &Path, t: Timestamp) {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let ts = Timespec {
        tv_sec: t.as_second(),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    utimensat(CWD, p, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

/// Makes `p` `len` bytes long (sparse) without changing its mtime.
pub fn resize(p: &Path, len: u64) {
    let mtime = filetime::FileTime::from_last_modification_time(&std::fs::metadata(p).unwrap());
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len)
        .unwrap();
    filetime::set_file_mtime(p, mtime).unwrap();
}

/// Standard base64 with padding (RFC 4648), written here so tests do not trust the crate's.
pub fn base64(bytes: &[u8]) -> String {
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(abc[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(abc[((acc << (6 - bits)) & 63) as usize] as char);
    }
    while out.len() % 4 != 0 {
        out.push('=');
    }
    out
}

/// Every file below `dir` with its bytes, and every directory (as `name/`), to show that a
/// command changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Runs the stand-alone Python verifier (SPEC's rule and nothing else) on `segments`.
pub fn python_verify(segments: &[PathBuf]) -> Out {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verify_audit.py");
    output(Command::new("python3").arg(script).args(segments))
}

pub fn output(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("the binary runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Every file below `dir`, relative, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

// ---------------------------------------------------------------------------------------
// Holds, erasures and exports

/// `t` to the whole second, as clip names and RFC 3339 arguments carry it.
pub fn secs(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap()
}

/// `t` as the CLI shows times: `2026-11-28 18:00:00 +01:00` in the test config's zone.
pub fn oslo(t: Timestamp) -> String {
    t.to_zoned_datetime(TimeZone::get("Europe/Oslo").unwrap())
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

impl Env {
    /// A Frigate clip for `camera` recorded from `start` (its name) until `end` (its mtime),
    /// holding `bytes`.
    pub fn clip(&self, camera: &str, start: Timestamp, end: Timestamp, bytes: &[u8]) -> PathBuf {
        let p = self.frigate_span(camera, start, end);
        std::fs::write(&p, bytes).unwrap();
        set_mtime(&p, end);
        p
    }

    /// `<state>/holds/`.
    pub fn holds_dir(&self) -> PathBuf {
        self.state.join("holds")
    }

    /// The names in the registry directory, the lock and temp files included, sorted.
    pub fn registry_names(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.holds_dir())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The hold files (`<ID>.toml`) in the registry, sorted.
    pub fn hold_files(&self) -> Vec<String> {
        self.registry_names()
            .into_iter()
            .filter(|n| !n.starts_with('.'))
            .collect()
    }

    /// One hold's file, parsed.
    pub fn hold_toml(&self, id: &str) -> toml::Table {
        let text = std::fs::read_to_string(self.holds_dir().join(format!("{id}.toml")))
            .unwrap_or_else(|e| panic!("hold file {id}.toml: {e}"));
        text.parse().unwrap()
    }

    /// `hold add --camera C… --from F --to T --case CASE --reason R` plus `extra`.
    pub fn hold_window(
        &self,
        cameras: &[&str],
        from: Timestamp,
        to: Timestamp,
        case: &str,
        extra: &[&str],
    ) -> Out {
        let (from, to) = (from.to_string(), to.to_string());
        let mut args = vec!["hold", "add"];
        for c in cameras {
            args.extend(["--camera", c]);
        }
        args.extend(["--from", &from, "--to", &to, "--case", case]);
        args.extend(["--reason", "incident reported by staff"]);
        args.extend(extra);
        self.run(&args)
    }

    /// Places a window hold with `--json` and returns its ID.
    pub fn hold_id(&self, cameras: &[&str], from: Timestamp, to: Timestamp, case: &str) -> String {
        let out = self
            .hold_window(cameras, from, to, case, &["--json"])
            .expect(0);
        out.json()["id"].as_str().unwrap().to_string()
    }
}

/// Where `program` is on the PATH, if it is.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// A command run under `strace`, stopped or killed at an exact system call, so a test can
/// act at a chosen point of a run without guessing at timing.
pub struct Traced {
    pub child: std::process::Child,
    pub log: PathBuf,
}

impl Traced {
    /// Runs `cmd` (the binary and its arguments, environment kept) under `strace` with
    /// `inject` (e.g. `flock:signal=SIGSTOP:when=4`). `None` when strace is missing.
    pub fn spawn(cmd: &Command, inject: &str, log: PathBuf) -> Option<Traced> {
        let strace = which("strace")?;
        let mut s = Command::new(strace);
        let syscall = inject.split(':').next().unwrap();
        s.args(["-f", "-qq", "-o"])
            .arg(&log)
            .args(["-e", &format!("trace={syscall}"), "-e"])
            .arg(format!("inject={inject}"))
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => s.env(k, v),
                None => s.env_remove(k),
            };
        }
        s.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        Some(Traced {
            child: s.spawn().unwrap(),
            log,
        })
    }

    /// The traced process (strace's child).
    pub fn tracee(&self) -> Option<i32> {
        let pid = self.child.id();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    fn tracee_stopped(&self) -> bool {
        let Some(pid) = self.tracee() else {
            return false;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next();
        matches!(state, Some("t" | "T"))
    }

    /// Waits until the injected SIGSTOP has stopped the run (true), or the run ended without
    /// stopping (false).
    pub fn wait_stopped(&mut self) -> bool {
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            let logged = std::fs::read_to_string(&self.log)
                .unwrap_or_default()
                .contains("--- stopped by SIGSTOP ---");
            if logged && self.tracee_stopped() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Lets a stopped run go on and waits for it to end. SIGCONT is repeated while the run
    /// lasts: one sent while strace is still handling the stop would be lost.
    pub fn resume_and_wait(self) -> Out {
        let pid = self.tracee();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = done.clone();
        let nudger = std::thread::spawn(move || {
            while let Some(pid) = pid.filter(|_| !flag.load(std::sync::atomic::Ordering::SeqCst)) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGCONT,
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let out = self.finish();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        nudger.join().unwrap();
        out
    }

    /// Waits for the run to end and collects its output.
    pub fn finish(self) -> Out {
        let o = self.child.wait_with_output().unwrap();
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}
