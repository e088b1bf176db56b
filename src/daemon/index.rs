//! The daemon's view of the roots: every clip as a compact [`Brief`] with the time it next
//! needs a decision (`due`), grouped by directory, plus the markers. Kept current from
//! filesystem events; rebuilt from a full scan at start-up and at each reconcile.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::clip::{Brief, CameraId, ClipDir};
use crate::scan::{FoundMarker, RootScan, Scan};

/// When a clip's due time has no end (it cannot be judged and never will be).
pub const NEVER: i64 = i64::MAX;

/// One clip and when it next needs a decision.
pub type Entry = Brief;

/// One directory's clips, oldest first.
#[derive(Debug)]
pub struct DirIndex {
    pub dir: Arc<ClipDir>,
    pub clips: Vec<Entry>,
    /// The earliest `due` in `clips`.
    min_due: i64,
}

impl DirIndex {
    fn refresh(&mut self) {
        self.min_due = self.clips.iter().map(|e| e.due).min().unwrap_or(NEVER);
    }
}

/// Per root: directories by relative path, and what the last full scan counted besides clips.
#[derive(Debug, Default)]
pub struct RootIndex {
    pub dirs: BTreeMap<Box<[u8]>, DirIndex>,
    pub clips: u64,
    pub bytes: u64,
    pub scan: RootScan,
}

impl RootIndex {
    /// How many clips are due at `now`; directories with nothing due are not looked into.
    pub fn due_count(&self, now: i64) -> u64 {
        self.dirs
            .values()
            .filter(|d| d.min_due <= now)
            .map(|d| d.clips.iter().filter(|e| e.due <= now).count() as u64)
            .sum()
    }
}

/// The whole view.
#[derive(Debug, Default)]
pub struct Index {
    pub roots: Vec<RootIndex>,
    pub cameras: Vec<String>,
    camera_ids: HashMap<String, CameraId>,
    /// Markers by where they are.
    pub markers: BTreeMap<MarkerKey, FoundMarker>,
}

/// A marker's root, directory and, for a sidecar, its clip's name.
pub type MarkerKey = (u16, Box<[u8]>, Option<Box<[u8]>>);

impl Index {
    /// Builds the view from an index-mode scan; `due` gives each clip's first due time.
    pub fn from_scan(scan: Scan, due: impl Fn(&Arc<ClipDir>, &Brief) -> i64) -> Index {
        let mut ix = Index {
            roots: scan
                .roots
                .into_iter()
                .map(|r| RootIndex {
                    scan: r,
                    ..RootIndex::default()
                })
                .collect(),
            camera_ids: scan
                .cameras
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), CameraId(i as u32)))
                .collect(),
            cameras: scan.cameras,
            markers: BTreeMap::new(),
        };
        for d in scan.indexed {
            let root = &mut ix.roots[usize::from(d.dir.root)];
            let mut clips = d.clips;
            for b in &mut clips {
                b.due = due(&d.dir, b);
            }
            root.clips += clips.len() as u64;
            root.bytes += clips.iter().map(|e| e.size).sum::<u64>();
            let mut di = DirIndex {
                dir: d.dir.clone(),
                clips,
                min_due: NEVER,
            };
            di.refresh();
            root.dirs.insert(d.dir.rel.clone(), di);
        }
        for m in scan.markers {
            ix.markers
                .insert((m.dir.root, m.dir.rel.clone(), m.clip.clone()), m);
        }
        ix
    }

    /// The id of a camera name, adding it if new.
    pub fn camera(&mut self, name: &str) -> CameraId {
        if let Some(&id) = self.camera_ids.get(name) {
            return id;
        }
        let id = CameraId(self.cameras.len() as u32);
        self.cameras.push(name.to_string());
        self.camera_ids.insert(name.to_string(), id);
        id
    }

    pub fn clip_count(&self) -> u64 {
        self.roots.iter().map(|r| r.clips).sum()
    }

    /// The earliest time any clip needs a decision.
    pub fn next_due(&self) -> Option<i64> {
        self.roots
            .iter()
            .flat_map(|r| r.dirs.values().map(|d| d.min_due))
            .min()
            .filter(|&d| d != NEVER)
    }

    /// Adds or replaces a clip.
    pub fn upsert(&mut self, dir: &Arc<ClipDir>, brief: Brief, due: i64) {
        let root = &mut self.roots[usize::from(dir.root)];
        let di = root
            .dirs
            .entry(dir.rel.clone())
            .or_insert_with(|| DirIndex {
                dir: dir.clone(),
                clips: Vec::new(),
                min_due: NEVER,
            });
        match di.clips.iter_mut().find(|e| e.name == brief.name) {
            Some(e) => {
                root.bytes = root.bytes - e.size + brief.size;
                *e = Brief { due, ..brief };
            }
            None => {
                root.clips += 1;
                root.bytes += brief.size;
                let at = di.clips.partition_point(|e| e.recorded <= brief.recorded);
                di.clips.insert(at, Brief { due, ..brief });
            }
        }
        di.min_due = di.min_due.min(due);
    }

    /// Removes a clip; returns it if it was there.
    pub fn remove(&mut self, root: u16, rel: &[u8], name: &[u8]) -> Option<(Arc<ClipDir>, Entry)> {
        let r = &mut self.roots[usize::from(root)];
        let di = r.dirs.get_mut(rel)?;
        let at = di.clips.iter().position(|e| &*e.name == name)?;
        let e = di.clips.remove(at);
        r.clips -= 1;
        r.bytes -= e.size;
        let dir = di.dir.clone();
        if di.clips.is_empty() {
            r.dirs.remove(rel);
        } else {
            di.refresh();
        }
        Some((dir, e))
    }

    /// Removes every clip in `rel` and below (a directory that went away).
    pub fn remove_tree(&mut self, root: u16, rel: &[u8]) -> Vec<(Arc<ClipDir>, Entry)> {
        let r = &mut self.roots[usize::from(root)];
        let below = |k: &[u8]| {
            k == rel || (k.starts_with(rel) && k.get(rel.len()) == Some(&b'/')) || rel.is_empty()
        };
        let keys: Vec<Box<[u8]>> = r.dirs.keys().filter(|k| below(k)).cloned().collect();
        let mut gone = Vec::new();
        for k in keys {
            if let Some(di) = r.dirs.remove(&k) {
                for e in di.clips {
                    r.clips -= 1;
                    r.bytes -= e.size;
                    gone.push((di.dir.clone(), e));
                }
            }
        }
        self.markers
            .retain(|(mr, d, _), _| *mr != root || !below(d));
        gone
    }

    /// Clips whose due time has come, oldest first, at most `limit`.
    pub fn due(&self, now: i64, limit: usize) -> Vec<(Arc<ClipDir>, Brief)> {
        let mut out = Vec::new();
        for r in &self.roots {
            for di in r.dirs.values().filter(|d| d.min_due <= now) {
                for e in di.clips.iter().filter(|e| e.due <= now) {
                    out.push((di.dir.clone(), e.clone()));
                    if out.len() >= limit {
                        return out;
                    }
                }
            }
        }
        out
    }

    /// For disk pressure: the oldest clips of `roots` recorded before each root's
    /// `before[root]`, skipping those `held` says a hold keeps, until their sizes reach `need`.
    pub fn oldest(
        &self,
        roots: &[u16],
        before: &[i64],
        need: u64,
        held: impl Fn(&Brief) -> bool,
    ) -> Vec<(Arc<ClipDir>, Brief)> {
        let mut all: Vec<(&Arc<ClipDir>, &Entry)> = roots
            .iter()
            .flat_map(|&r| {
                let limit = before[usize::from(r)];
                self.roots[usize::from(r)].dirs.values().flat_map(move |d| {
                    d.clips
                        .iter()
                        .filter(move |e| e.recorded < limit)
                        .map(move |e| (&d.dir, e))
                })
            })
            // Held clips are usually the oldest on a disk, and pressure never takes them.
            .filter(|(_, e)| e.due != NEVER && !held(e))
            .collect();
        all.sort_by_key(|(_, e)| e.recorded);
        let mut got = 0u64;
        let mut out = Vec::new();
        for (dir, e) in all {
            if got >= need {
                break;
            }
            got += e.size;
            out.push((dir.clone(), e.clone()));
        }
        out
    }

    /// Sets one clip's due time.
    pub fn set_due(&mut self, root: u16, rel: &[u8], name: &[u8], due: i64) {
        if let Some(di) = self.roots[usize::from(root)].dirs.get_mut(rel)
            && let Some(e) = di.clips.iter_mut().find(|e| &*e.name == name)
        {
            e.due = due;
            di.refresh();
        }
    }

    /// Recomputes every due time (holds changed: what they pushed out may now be due).
    pub fn reset_dues(&mut self, mut due: impl FnMut(&Arc<ClipDir>, &Brief) -> i64) {
        for r in &mut self.roots {
            for di in r.dirs.values_mut() {
                for e in &mut di.clips {
                    let at = due(&di.dir, e);
                    e.due = at;
                }
                di.refresh();
            }
        }
    }

    /// Looks a clip up.
    pub fn get(&self, root: u16, rel: &[u8], name: &[u8]) -> Option<&Entry> {
        self.roots[usize::from(root)]
            .dirs
            .get(rel)?
            .clips
            .iter()
            .find(|e| &*e.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::Name;

    fn brief(name: &str, recorded: i64) -> Brief {
        Brief {
            name: Name::new(name.as_bytes()),
            recorded,
            mtime: recorded + 10,
            size: 100,
            camera: CameraId(0),
            due: NEVER,
        }
    }

    #[test]
    fn upsert_remove_and_due() {
        let mut ix = Index {
            roots: vec![RootIndex::default()],
            ..Index::default()
        };
        let d = Arc::new(ClipDir::root(0).child(b"cam").child(b"2026-11-20"));
        ix.upsert(&d, brief("b", 20), 120);
        ix.upsert(&d, brief("a", 10), 110);
        assert_eq!(ix.clip_count(), 2);
        assert_eq!(ix.next_due(), Some(110));
        let names: Vec<&[u8]> = ix.roots[0].dirs[&d.rel]
            .clips
            .iter()
            .map(|e| &*e.name)
            .collect();
        assert_eq!(names, [b"a", b"b"], "kept oldest first");
        assert_eq!(ix.due(115, 10).len(), 1);
        ix.set_due(0, &d.rel, b"a", NEVER);
        assert_eq!(ix.next_due(), Some(120));
        ix.upsert(&d, brief("b", 20), 125);
        assert_eq!(ix.clip_count(), 2, "replaced, not added");
        assert!(ix.remove(0, &d.rel, b"a").is_some());
        assert!(ix.remove(0, &d.rel, b"a").is_none());
        ix.reset_dues(|_, b| b.recorded);
        assert_eq!(ix.next_due(), Some(20));
        let gone = ix.remove_tree(0, b"cam");
        assert_eq!(gone.len(), 1);
        assert_eq!(ix.clip_count(), 0);
        assert_eq!(ix.next_due(), None);
    }
}
