//! Test environment for running the real binary on real trees, as fd's `testenv` does: a
//! temp dir with a root, a state dir and a config; helpers to lay down clips with the right
//! names and mtimes; and a runner that captures exit code, stdout and stderr.
#![allow(dead_code)] // each test file uses its own part of the harness

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

    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.audit_lines()
            .into_iter()
            .filter(|e| e["event"] == event)
            .collect()
    }
}

pub fn set_mtime(p: &Path, t: Timestamp) {
    let ft = filetime::FileTime::from_unix_time(t.as_second(), 0);
    filetime::set_symlink_file_times(p, ft, ft).unwrap();
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
