//! Disk pressure: which filesystems are below their roots' `min_free`, and how many bytes must
//! go to get back above it with a margin. Roots sharing a filesystem share its pressure.

use crate::config::Settings;

/// One filesystem under pressure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pressure {
    /// The roots on it.
    pub roots: Vec<u16>,
    pub free: u64,
    pub threshold: u64,
    /// Bytes to free to be back above the threshold plus the margin.
    pub need: u64,
}

/// Free space is brought back a little above `min_free` (1% of the filesystem), so a pass
/// does not fall below it again with the next segment written.
fn margin(total: u64) -> u64 {
    total / 100
}

/// The filesystems below `min_free` now.
pub fn check(settings: &Settings) -> Vec<Pressure> {
    let mut by_fs: Vec<(u64, Pressure)> = Vec::new();
    for (i, root) in settings.roots.iter().enumerate() {
        let Some(min_free) = root.min_free else {
            continue;
        };
        let Ok(fs) = crate::scan::fs_id(&root.path) else {
            continue;
        };
        let Some((free, total)) = crate::fsx::space(&root.path) else {
            continue;
        };
        let threshold = min_free.bytes_of(total);
        match by_fs.iter_mut().find(|(dev, _)| *dev == fs.dev) {
            Some((_, p)) => {
                p.roots.push(i as u16);
                p.threshold = p.threshold.max(threshold);
                p.need = (p.threshold + margin(total)).saturating_sub(free);
            }
            None => by_fs.push((
                fs.dev,
                Pressure {
                    roots: vec![i as u16],
                    free,
                    threshold,
                    need: (threshold + margin(total)).saturating_sub(free),
                },
            )),
        }
    }
    by_fs
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.free < p.threshold)
        .collect()
}
