//! `export` and `export verify` on the real binary (issue 3): evidence copies for a police or
//! access request, with a SHA-256 manifest that standard tools can check, onto another
//! filesystem, never over an earlier export, and never into a root or a system directory.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{DAY, Env, files, secs, snapshot};
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use sha2::Digest;

const MIN: i64 = 60;

fn ago(env: &Env, s: i64) -> Timestamp {
    secs(env.now) - SignedDuration::from_secs(s)
}

fn plus(t: Timestamp, s: i64) -> Timestamp {
    t + SignedDuration::from_secs(s)
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mtime(p: &Path) -> filetime::FileTime {
    filetime::FileTime::from_last_modification_time(&std::fs::metadata(p).unwrap())
}

/// A recorder with clips held under case P-1 (by a registry hold and by a marker), and
/// clips that are not: another case, a released hold of the same case, nothing at all.
struct Case {
    env: Env,
    hold: String,
    /// Source clip → what it holds.
    held: BTreeMap<PathBuf, Vec<u8>>,
    not_held: Vec<PathBuf>,
}

fn case() -> Case {
    let env = Env::new("\"frigate\"");
    let from = ago(&env, 9 * DAY);
    let mut held = BTreeMap::new();
    for i in 0..3 {
        let t = plus(from, i * MIN);
        let bytes = format!("front frame data {i}")
            .repeat(100 + i as usize)
            .into_bytes();
        held.insert(env.clip("front", t, plus(t, 50), &bytes), bytes);
    }
    let marked = env.clip("yard", from, plus(from, 50), b"yard frame data");
    std::fs::write(
        marked.with_extension("mp4.hold"),
        "case = \"P-1\"\nreason = \"marked by the police liaison\"",
    )
    .unwrap();
    held.insert(marked, b"yard frame data".to_vec());
    let other = env.clip("yard", plus(from, MIN), plus(from, 110), b"other case");
    std::fs::write(other.with_extension("mp4.hold"), "case = \"P-2\"").unwrap();
    let released = env.clip("back", from, plus(from, 50), b"released");
    let unheld = env.clip("front", plus(from, -DAY), plus(from, -DAY + 50), b"unheld");
    let hold = env.hold_id(&["front"], plus(from, -10), plus(from, 3 * MIN), "P-1");
    let gone = env.hold_id(&["back"], plus(from, -10), plus(from, 3 * MIN), "P-1");
    env.run(&["hold", "release", &gone, "--reason", "not needed"])
        .expect(0);
    Case {
        env,
        hold,
        held,
        not_held: vec![other, released, unheld],
    }
}

/// A fresh, empty destination directory (a stand-in for a USB disk's mount point).
fn dest(env: &Env, name: &str) -> PathBuf {
    let d = env.tmp.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn export(env: &Env, case: &str, dest: &Path) -> common::Out {
    env.run(&["export", "--case", case, "--dest", dest.to_str().unwrap()])
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn export_copies_every_clip_held_under_the_case_with_a_checkable_manifest() {
    let c = case();
    let env = &c.env;
    let usb = dest(env, "usb");
    let sources_before = snapshot(&env.root);
    let out = env
        .run(&[
            "export",
            "--case",
            "P-1",
            "--dest",
            usb.to_str().unwrap(),
            "--json",
        ])
        .expect(0);
    let entry = out.json();
    let dir = usb.join("P-1");
    assert_eq!(s(&entry["dest"]), dir.display().to_string());
    assert_eq!(entry["files"], 4);

    // Copied, never moved: the recorder's tree is exactly as it was.
    assert_eq!(snapshot(&env.root), sources_before);

    let manifest_bytes = std::fs::read(dir.join("manifest.json")).unwrap();
    let m: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(m["case"], "P-1");
    let labels: Vec<&str> = m["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| s(&h["label"]))
        .collect();
    assert!(
        labels.contains(&format!("hold {}", c.hold).as_str()),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|l| l.ends_with(".mp4.hold")),
        "{labels:?}"
    );
    assert_eq!(
        labels.len(),
        2,
        "the released hold is not among them: {labels:?}"
    );

    let listed = m["files"].as_array().unwrap();
    assert_eq!(listed.len(), c.held.len());
    let mut names = Vec::new();
    for f in listed {
        let source = PathBuf::from(s(&f["source"]));
        let bytes = c
            .held
            .get(&source)
            .unwrap_or_else(|| panic!("{} is not held under P-1", source.display()));
        let copy = dir.join(s(&f["file"]));
        assert_eq!(&std::fs::read(&copy).unwrap(), bytes, "{}", copy.display());
        assert_eq!(f["bytes"], bytes.len());
        assert_eq!(s(&f["sha256"]), sha256(bytes));
        assert_eq!(mtime(&copy), mtime(&source), "the copy keeps the mtime");
        // Camera and recording time in the name.
        let camera = s(&f["camera"]);
        let recorded: Timestamp = s(&f["recorded"]).parse().unwrap();
        let stamp = recorded
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let name = copy.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.contains(camera) && name.contains(&stamp),
            "{name} lacks {camera} or {stamp}"
        );
        names.push(s(&f["file"]).to_string());
    }
    names.push("manifest.json".into());
    names.push("manifest.json.sha256".into());
    names.sort();
    assert_eq!(files(&dir), names, "nothing else is in the export");
    for p in &c.not_held {
        let text = String::from_utf8_lossy(&manifest_bytes);
        assert!(
            !text.contains(p.to_str().unwrap()),
            "{} exported",
            p.display()
        );
    }

    let sum = sha256(&manifest_bytes);
    assert_eq!(
        std::fs::read_to_string(dir.join("manifest.json.sha256")).unwrap(),
        format!("{sum}  manifest.json\n")
    );
    assert_eq!(s(&entry["manifest_sha256"]), sum);
    let audited = env.events("export");
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["manifest_sha256"], sum.as_str());
    assert_eq!(audited[0]["case"], "P-1");
    assert_eq!(audited[0]["files"], 4);
    assert_eq!(s(&audited[0]["dest"]), dir.display().to_string());
    env.run(&["audit", "verify"]).expect(0);

    if common::which("sha256sum").is_some() {
        let out = common::output(
            std::process::Command::new("sha256sum")
                .args(["-c", "manifest.json.sha256"])
                .current_dir(&dir),
        );
        assert_eq!(out.code, 0, "sha256sum -c: {}{}", out.stdout, out.stderr);
    } else {
        eprintln!("sha256sum not installed: checked the sum file by hand only");
    }

    // The case folder, or the destination holding exactly that one case.
    for d in [&dir, &usb] {
        env.run(&["export", "verify", d.to_str().unwrap()])
            .expect(0)
            .stdout_has("export OK: 4 files");
    }
}

#[test]
fn export_verify_fails_on_a_changed_missing_or_extra_file_or_an_edited_manifest() {
    let c = case();
    let env = &c.env;
    let usb = dest(env, "usb");
    export(env, "P-1", &usb).expect(0);
    let original = usb.join("P-1");
    let m: Value =
        serde_json::from_slice(&std::fs::read(original.join("manifest.json")).unwrap()).unwrap();
    let first = s(&m["files"][0]["file"]).to_string();

    type Tamper = fn(&Path, &str);
    let tampers: [(&str, Tamper, &str); 5] = [
        (
            "changed",
            |d, f| {
                let p = d.join(f);
                let mut b = std::fs::read(&p).unwrap();
                b[0] ^= 1;
                std::fs::write(&p, b).unwrap();
            },
            "does not match the manifest",
        ),
        (
            "missing",
            |d, f| std::fs::remove_file(d.join(f)).unwrap(),
            "missing",
        ),
        (
            "extra",
            |d, f| {
                let p = d.join(f).with_file_name("planted.mp4");
                std::fs::write(p, b"x").unwrap();
            },
            "planted.mp4 is not in the manifest",
        ),
        (
            "manifest",
            |d, _| {
                let p = d.join("manifest.json");
                let t = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, t.replacen("P-1", "P-9", 1)).unwrap();
            },
            "the manifest was changed",
        ),
        (
            "sum",
            |d, _| std::fs::write(d.join("manifest.json.sha256"), "0".repeat(64)).unwrap(),
            "the manifest was changed",
        ),
    ];
    for (what, tamper, needle) in tampers {
        let copy = env.tmp.path().join(format!("copy-{what}/P-1"));
        copy_dir(&original, &copy);
        env.run(&["export", "verify", copy.to_str().unwrap()])
            .expect(0);
        tamper(&copy, &first);
        let out = env.run(&["export", "verify", copy.to_str().unwrap()]);
        let out = out.expect(4);
        out.stdout_has("FAILED").stdout_has(needle);
        // Given the destination instead of the case folder, the same.
        env.run(&["export", "verify", copy.parent().unwrap().to_str().unwrap()])
            .expect(4);
    }
    // A folder with no export, and one with two: nothing to verify is a failed verification.
    let empty = dest(env, "empty");
    env.run(&["export", "verify", empty.to_str().unwrap()])
        .expect(4);
    copy_dir(&original, &usb.join("P-1-again"));
    env.run(&["export", "verify", usb.to_str().unwrap()])
        .expect(4)
        .stderr_has("holds 2 exports");
    env.run(&["export", "verify", original.to_str().unwrap()])
        .expect(0);
}

#[test]
fn an_earlier_export_is_never_overwritten() {
    let c = case();
    let env = &c.env;
    let usb = dest(env, "usb");
    export(env, "P-1", &usb).expect(0);
    let before = snapshot(&usb);
    let out = export(env, "P-1", &usb).expect(1);
    out.stderr_has("never overwritten");
    assert_eq!(snapshot(&usb), before);
    assert_eq!(env.events("export").len(), 1);
    // Even an empty folder of that name is left alone.
    let other = dest(env, "usb2");
    std::fs::create_dir(other.join("P-1")).unwrap();
    export(env, "P-1", &other).expect(1);
    assert!(files(&other).is_empty());
    let third = dest(env, "usb3");
    export(env, "P-1", &third).expect(0);
}

#[test]
fn a_dest_in_a_root_a_system_directory_or_the_state_directory_is_refused() {
    let c = case();
    let env = &c.env;
    let before = snapshot(&env.root);
    let inside = env.root.join("exports");
    std::fs::create_dir_all(&inside).unwrap();
    let link = env.tmp.path().join("looks-like-usb");
    std::os::unix::fs::symlink(&env.root, &link).unwrap();
    let dotdot = env.tmp.path().join("usb/../rec");
    std::fs::create_dir_all(env.tmp.path().join("usb")).unwrap();
    let state_sub = env.state.join("holds");
    for (d, needle) in [
        (env.root.as_path(), "inside the root"),
        (inside.as_path(), "inside the root"),
        (link.as_path(), "inside the root"),
        (dotdot.as_path(), "inside the root"),
        (Path::new("/etc"), "system or state directory"),
        (Path::new("/usr/local"), "system or state directory"),
        (Path::new("/"), "system or state directory"),
        (env.state.as_path(), "system or state directory"),
        (state_sub.as_path(), "system or state directory"),
    ] {
        let out = export(env, "P-1", d);
        assert_eq!(out.code, 2, "{}: {}{}", d.display(), out.stdout, out.stderr);
        assert!(
            out.stderr.contains(needle),
            "{}: {}",
            d.display(),
            out.stderr
        );
    }
    let mut expect = before;
    expect.insert("exports/".into(), Vec::new());
    assert_eq!(snapshot(&env.root), expect, "nothing written into the root");
    assert!(!env.state.join("P-1").exists() && !Path::new("/etc/P-1").exists());
    let missing = env.tmp.path().join("not-mounted");
    export(env, "P-1", &missing)
        .expect(2)
        .stderr_has("not a directory");
    let usb = dest(env, "usb");
    let out = env.run(&["export", "--case=../P-1", "--dest", usb.to_str().unwrap()]);
    out.expect(2).stderr_has("not a case reference");
    assert!(env.events("export").is_empty());
}

#[test]
fn a_case_that_holds_no_clips_exits_1_and_writes_nothing() {
    let c = case();
    let env = &c.env;
    let usb = dest(env, "usb");
    export(env, "NOPE-1", &usb)
        .expect(1)
        .stderr_has("no clip is held under case NOPE-1");
    // A case whose only hold was released holds nothing either.
    let back = ago(env, 9 * DAY);
    let id = env.hold_id(&["back"], plus(back, -10), plus(back, 60), "P-3");
    env.run(&["hold", "release", &id, "--reason", "closed"])
        .expect(0);
    export(env, "P-3", &usb).expect(1);
    assert!(snapshot(&usb).is_empty(), "{:?}", snapshot(&usb));
    assert!(env.events("export").is_empty());
}

/// A loop-mounted ext4 image (or, failing that, a tmpfs) at a fresh directory; unmounted when
/// dropped.
struct Mounted {
    dir: PathBuf,
    image: Option<PathBuf>,
}

impl Mounted {
    fn ext4(env: &Env, uuid: &str, label: &str) -> Option<Mounted> {
        let image = env.tmp.path().join("usb.img");
        let dir = dest(env, "usb-stick");
        let ok = |cmd: &mut std::process::Command| {
            cmd.output().map(|o| o.status.success()).unwrap_or(false)
        };
        let made = ok(std::process::Command::new("truncate")
            .args(["-s", "32M"])
            .arg(&image))
            && ok(std::process::Command::new("mkfs.ext4")
                .args(["-q", "-F", "-U", uuid, "-L", label])
                .arg(&image))
            && ok(std::process::Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&dir));
        made.then_some(Mounted {
            dir,
            image: Some(image),
        })
    }

    fn tmpfs(env: &Env) -> Option<Mounted> {
        let dir = dest(env, "usb-tmpfs");
        nix::mount::mount(
            Some("tmpfs"),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=32m"),
        )
        .ok()?;
        Some(Mounted { dir, image: None })
    }

    /// Unmounts and mounts the image again read-only, as the police station would.
    fn remount_read_only(&self) -> bool {
        let Some(image) = &self.image else {
            return false;
        };
        nix::mount::umount(&self.dir).unwrap();
        std::process::Command::new("mount")
            .args(["-o", "loop,ro"])
            .arg(image)
            .arg(&self.dir)
            .status()
            .unwrap()
            .success()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn on_device(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().dev()
}

#[test]
fn export_onto_a_second_filesystem_then_verify_there() {
    if !common::is_root() {
        eprintln!("skipped: mounting a second filesystem needs root");
        return;
    }
    let c = case();
    let env = &c.env;
    let Some(stick) = Mounted::ext4(env, "3f1c2a9e-5b7d-4c11-9e0a-0d6c2b8f4a71", "EVIDENCE")
        .or_else(|| Mounted::tmpfs(env))
    else {
        eprintln!("skipped: cannot mount an ext4 image or a tmpfs here");
        return;
    };
    assert_ne!(
        on_device(&stick.dir),
        on_device(&env.root),
        "not another filesystem"
    );
    export(env, "P-1", &stick.dir)
        .expect(0)
        .stdout_has("exported 4 clips");
    env.run(&["export", "verify", stick.dir.to_str().unwrap()])
        .expect(0);
    for src in c.held.keys() {
        assert!(src.exists(), "moved, not copied: {}", src.display());
    }
    let audited = &env.events("export")[0];
    assert!(audited.get("fs_uuid").is_some() && audited.get("fs_label").is_some());
    if stick.remount_read_only() {
        env.run(&["export", "verify", stick.dir.join("P-1").to_str().unwrap()])
            .expect(0);
    }
    drop(stick);
}

#[test]
fn the_export_entry_names_the_destination_filesystem_uuid_and_label() {
    if !common::is_root() {
        eprintln!("skipped: mounting a second filesystem needs root");
        return;
    }
    let c = case();
    let env = &c.env;
    let uuid = "3f1c2a9e-5b7d-4c11-9e0a-0d6c2b8f4a71";
    let Some(stick) = Mounted::ext4(env, uuid, "EVIDENCE") else {
        eprintln!("skipped: cannot loop-mount an ext4 image here");
        return;
    };
    let entry = env
        .run(&[
            "export",
            "--case",
            "P-1",
            "--dest",
            stick.dir.to_str().unwrap(),
            "--json",
        ])
        .expect(0)
        .json();
    drop(stick);
    assert_eq!(entry["fs_uuid"], uuid, "{entry}");
    assert_eq!(entry["fs_label"], "EVIDENCE", "{entry}");
    assert_eq!(env.events("export")[0]["fs_uuid"], uuid);
}
