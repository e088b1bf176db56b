//! Holds: what keeps a clip past its retention. Markers (sidecar and directory) and, later,
//! registry holds all become [`Hold`]s in one [`Holds`] view that the planner asks
//! `covering(clip)`.

pub mod marker;

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;

use crate::clip::Clip;
use crate::config::MarkerOwners;
use crate::scan::FoundMarker;

/// Where a hold comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `<clip>.hold` beside one clip.
    Sidecar,
    /// `.hold` in a directory below a root: every clip below it.
    Directory,
}

/// One hold, whatever its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// How the audit log and the operator name it: the marker's path.
    pub label: String,
    pub source: Source,
    pub case: Option<String>,
    pub reason: Option<String>,
    pub until: Option<Timestamp>,
    pub released: Option<Timestamp>,
}

impl Hold {
    /// True while it protects its clips: not released, and `until` (if any) not yet passed.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.released.is_none_or(|r| r > now) && self.until.is_none_or(|u| now <= u)
    }
}

/// Index of a hold in [`Holds::all`].
pub type HoldIdx = u32;

type ByName = HashMap<Box<[u8]>, Vec<HoldIdx>>;

/// Every hold known to a pass, indexed for `covering`.
#[derive(Debug, Default)]
pub struct Holds {
    holds: Vec<Hold>,
    /// Per root: directory → clip name → sidecar holds.
    sidecars: HashMap<u16, HashMap<Box<[u8]>, ByName>>,
    /// Per root: directory → directory holds.
    dirs: HashMap<u16, ByName>,
    /// Problems an operator must see: unreadable markers, markers by the wrong owner, a
    /// `.hold` in a root.
    pub alarms: Vec<String>,
}

impl Holds {
    pub fn all(&self) -> &[Hold] {
        &self.holds
    }

    pub fn get(&self, idx: HoldIdx) -> &Hold {
        &self.holds[idx as usize]
    }

    /// Builds the view from the markers a scan found. `root_paths` name them in labels.
    pub fn from_markers(
        markers: &[FoundMarker],
        owners: Option<&MarkerOwners>,
        root_paths: &[&Path],
    ) -> Holds {
        let mut h = Holds::default();
        for m in markers {
            let root = m.dir.root;
            let name = match &m.clip {
                Some(clip) => [&clip[..], b".hold"].concat(),
                None => b".hold".to_vec(),
            };
            let path = crate::fsx::join(root_paths[usize::from(root)], &m.dir.rel, &name);
            let shown = crate::human::escape_path(&path);
            if let Some(problem) = &m.file.problem {
                h.alarms
                    .push(format!("marker {shown} {problem}; it holds anyway"));
            }
            if let (Some(owners), Some(meta)) = (owners, m.file.meta)
                && !owners.allows(meta.uid, meta.gid)
            {
                h.alarms.push(format!(
                    "marker {shown} is owned by uid {} gid {}, not by [holds] marker_owners; it holds nothing",
                    meta.uid, meta.gid
                ));
                continue;
            }
            let info = &m.file.info;
            let idx = h.holds.len() as HoldIdx;
            h.holds.push(Hold {
                label: shown,
                source: if m.clip.is_some() {
                    Source::Sidecar
                } else {
                    Source::Directory
                },
                case: info.case.clone(),
                reason: info.reason.clone(),
                until: info.until,
                released: None,
            });
            match &m.clip {
                Some(clip) => h
                    .sidecars
                    .entry(root)
                    .or_default()
                    .entry(m.dir.rel.clone())
                    .or_default()
                    .entry(clip.clone())
                    .or_default()
                    .push(idx),
                None => h
                    .dirs
                    .entry(root)
                    .or_default()
                    .entry(m.dir.rel.clone())
                    .or_default()
                    .push(idx),
            }
        }
        h
    }

    /// Records that a root has a `.hold` of its own, which holds nothing.
    pub fn root_marker_alarm(&mut self, root_path: &Path) {
        self.alarms.push(format!(
            "{}/.hold is in the root itself and holds nothing: put it in a camera or date directory",
            crate::human::escape_path(root_path)
        ));
    }

    /// The holds covering `clip`, active or not, appended to `out`.
    pub fn covering(&self, clip: &Clip, out: &mut Vec<HoldIdx>) {
        let root = clip.root();
        if let Some(found) = self
            .sidecars
            .get(&root)
            .and_then(|d| d.get(&clip.dir.rel))
            .and_then(|n| n.get(&clip.name))
        {
            out.extend_from_slice(found);
        }
        if let Some(dirs) = self.dirs.get(&root) {
            for anc in clip.dir.ancestors() {
                if let Some(found) = dirs.get(anc) {
                    out.extend_from_slice(found);
                }
            }
        }
    }

    /// True when nothing at all could hold anything.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }
}
