//! Large files, late times and large disks on the real binary: the field widths a 32-bit
//! recorder (armv7, glibc) gets wrong when `stat` and `statfs` go through its libc's 32-bit
//! ABI. Each of these failed there with EOVERFLOW before src/fsx.rs took them from rustix.

mod common;

use common::{DAY, Env, is_root, resize, set_mtime};
use jiff::Timestamp;

#[test]
fn a_clip_of_3_gib_is_seen_and_deleted_with_its_size() {
    let env = Env::new("\"frigate\"");
    let big = env.frigate("front", 9 * DAY);
    resize(&big, 3 << 30);
    let clips = env.run(&["clips", "--json"]).expect(0).json();
    assert_eq!(clips.as_array().unwrap().len(), 1, "{clips}");

    let out = env.run(&["sweep", "--json"]).expect(0).json();
    assert_eq!(out["actions"][0]["bytes"], 3u64 << 30, "{out}");
    assert!(!big.exists());
    let deleted = env.events("clips_deleted");
    assert_eq!(deleted[0]["clips"][0]["bytes"], 3u64 << 30);
}

#[test]
fn a_clip_whose_mtime_is_after_2038_is_seen_and_judged_by_its_ctime() {
    let env = Env::new("\"frigate\"");
    let clip = env.frigate("front", 9 * DAY);
    let y2040: Timestamp = "2040-01-01T00:00:00Z".parse().unwrap();
    set_mtime(&clip, y2040);
    let clips = env.run(&["clips", "--json"]).expect(0).json();
    let listed = clips.as_array().unwrap();
    assert_eq!(listed.len(), 1, "the clip vanished from the scan: {clips}");
    // Its ctime is now: it counts as being written, and the sweep keeps it.
    env.run(&["sweep"]).expect(0);
    assert!(clip.exists());
}

/// A tmpfs of `size` mounted on `dir`, unmounted on drop.
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn tmpfs(dir: &std::path::Path, size: &str) -> Option<Mounted> {
        use nix::mount::{MsFlags, mount};
        let opts = format!("size={size},mode=0755");
        match mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some(opts.as_str()),
        ) {
            Ok(()) => Some(Mounted(dir.to_path_buf())),
            Err(e) => {
                eprintln!("skipped: cannot mount a tmpfs on {}: {e}", dir.display());
                None
            }
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_root_on_a_disk_over_16_tib_is_swept() {
    if !is_root() {
        eprintln!("skipped: needs root to mount a 32 TiB tmpfs");
        return;
    }
    let env = Env::new("\"frigate\"");
    // More than 2^32 blocks of 4 KiB: statvfs's block counts overflow 32 bits.
    let Some(_disk) = Mounted::tmpfs(&env.root, "32t") else {
        return;
    };
    let old = env.frigate("front", 9 * DAY);

    let status = env.run(&["status", "--json"]).expect(0).json();
    let root = &status["roots"][0];
    assert_eq!(root["available"], true, "{root}");
    assert!(root["free_bytes"].as_u64().unwrap() > 16 << 40, "{root}");

    let check = env.run(&["config", "check", "--json"]).expect(0).json();
    assert_eq!(check["roots"][0]["filesystem"], "tmpfs", "{check}");

    env.run(&["sweep"]).expect(0);
    assert!(!old.exists(), "the root was not swept");
}
