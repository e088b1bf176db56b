//! The guards that stop a pass from deleting on the word of a wrong clock, a wrong disk or a
//! first run on a disk full of old footage. Pure decisions, except the mount probe.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

/// A pass, or one root's part of it, that a guard refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The clock reads earlier than a previous pass did.
    ClockBehind { now: Timestamp, last: Timestamp },
    /// One pass would delete more than `max_delete_fraction` of a root's clips.
    Fraction {
        planned: u64,
        recognised: u64,
        max: f64,
    },
    /// `expect_mount = true` but the root is not a mount point.
    NotMounted,
    /// The hold registry cannot be read: any hold in it might cover anything (fail closed).
    Registry(String),
}

impl Refusal {
    /// The `guard` field of the `guard_refused` audit entry.
    pub fn guard(&self) -> &'static str {
        match self {
            Refusal::ClockBehind { .. } => "clock",
            Refusal::Fraction { .. } => "max_delete_fraction",
            Refusal::NotMounted => "expect_mount",
            Refusal::Registry(_) => "hold_registry",
        }
    }

    /// What the operator reads.
    pub fn explain(&self) -> String {
        match self {
            Refusal::ClockBehind { now, last } => format!(
                "the clock reads {now}, earlier than the last pass ({last}); nothing is deleted until the clock is right"
            ),
            Refusal::Fraction { planned, recognised, max } => format!(
                "this pass would delete {planned} of {recognised} clips ({:.0}%), more than max_delete_fraction allows ({:.0}%): a clock jumped forward, or a first run on a disk of old footage. Check the clock and the dates, then run `clipwarden sweep --force` to go ahead",
                100.0 * *planned as f64 / (*recognised).max(1) as f64,
                100.0 * max
            ),
            Refusal::NotMounted => {
                "expect_mount = true but the root is not a mount point: the disk is not mounted, so nothing is swept".into()
            }
            Refusal::Registry(e) => format!(
                "{e}; nothing is deleted until it is readable again, since a hold in it might cover any clip"
            ),
        }
    }
}

/// Refuses when `now` is earlier than the last unrefused pass by more than `slack`.
pub fn check_clock(
    now: Timestamp,
    last: Option<Timestamp>,
    slack: SignedDuration,
) -> Option<Refusal> {
    let last = last?;
    (now.duration_since(last) < -slack).then_some(Refusal::ClockBehind { now, last })
}

/// Refuses when a pass would delete more than `max` of a root's recognised clips and more
/// than ten of them, unless forced.
pub fn check_fraction(planned: u64, recognised: u64, max: f64, force: bool) -> Option<Refusal> {
    let too_many = planned > 10 && planned as f64 > max * recognised as f64;
    (too_many && !force).then_some(Refusal::Fraction {
        planned,
        recognised,
        max,
    })
}

/// True when `path` is a mount point of another filesystem: on a different device than its
/// parent (or `/` itself). Only the device counts: systemd bind-mounts every `ReadWritePaths=`
/// entry onto itself, so an empty directory whose disk failed to mount is listed in
/// `/proc/self/mountinfo` as a mount point inside the service, on the same device as its
/// parent.
pub fn is_mount_point(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::symlink_metadata(path)?;
    let parent = std::fs::symlink_metadata(path.join(".."))?;
    Ok(here.dev() != parent.dev() || here.ino() == parent.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn clock_guard() {
        let slack = SignedDuration::from_mins(10);
        let last = Some(t("2026-11-29T12:00:00Z"));
        assert_eq!(check_clock(t("2026-11-29T12:00:00Z"), None, slack), None);
        assert_eq!(check_clock(t("2026-11-29T11:50:00Z"), last, slack), None);
        assert!(check_clock(t("2026-11-29T11:49:59Z"), last, slack).is_some());
        assert!(check_clock(t("1970-01-01T00:00:00Z"), last, slack).is_some());
        assert_eq!(check_clock(t("2027-01-01T00:00:00Z"), last, slack), None);
    }

    #[test]
    fn fraction_guard() {
        assert_eq!(
            check_fraction(10, 10, 0.5, false),
            None,
            "ten clips or fewer always pass"
        );
        assert!(check_fraction(11, 20, 0.5, false).is_some());
        assert_eq!(check_fraction(10, 20, 0.5, false), None);
        assert_eq!(
            check_fraction(11, 22, 0.5, false),
            None,
            "exactly the fraction passes"
        );
        assert_eq!(check_fraction(11, 20, 0.5, true), None, "--force overrides");
        let r = check_fraction(80, 100, 0.5, false).unwrap();
        assert!(
            r.explain().contains("80 of 100 clips (80%)"),
            "{}",
            r.explain()
        );
    }

    #[test]
    fn mount_points() {
        assert!(is_mount_point(Path::new("/")).unwrap());
        assert!(is_mount_point(Path::new("/proc")).unwrap());
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_mount_point(dir.path()).unwrap());
        // A directory bind-mounted onto itself (as systemd does for ReadWritePaths=) is not a
        // disk. Needs the privilege to mount; without it this part is skipped.
        use nix::mount::{MsFlags, mount, umount};
        if mount(
            Some(dir.path()),
            dir.path(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .is_ok()
        {
            let bound = is_mount_point(dir.path());
            umount(dir.path()).unwrap();
            assert!(
                !bound.unwrap(),
                "a self bind mount must not count as a mounted disk"
            );
        }
    }
}
