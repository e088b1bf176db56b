//! Holds: what keeps a clip past its retention. Markers (sidecar and directory) and registry
//! holds all become [`Hold`]s in one [`Holds`] view that the planner asks `covering(clip)`.

pub mod entries;
pub mod id;
pub mod marker;
pub mod registry;

use std::collections::HashMap;
use std::path::Path;

use jiff::Timestamp;

use crate::clip::{CameraId, Clip};
use crate::config::MarkerOwners;
use crate::scan::FoundMarker;
use registry::{RegistryHold, Selector};

/// Where a hold comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `<clip>.hold` beside one clip.
    Sidecar,
    /// `.hold` in a directory below a root: every clip below it.
    Directory,
    /// A hold in the registry, made with `clipwarden hold add`.
    Registry,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Sidecar => "sidecar",
            Source::Directory => "directory",
            Source::Registry => "registry",
        }
    }
}

/// One hold, whatever its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// How the audit log and the operator name it: the marker's path, or `hold <ID>`.
    pub label: String,
    /// The registry ID, for registry holds.
    pub id: Option<String>,
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
    /// Registry windows by camera: clips whose recording overlaps `[from, to]`.
    windows: HashMap<CameraId, Vec<(Timestamp, Timestamp, HoldIdx)>>,
    /// Per root: directory → clip name → registry holds naming that clip by path.
    paths: HashMap<u16, HashMap<Box<[u8]>, ByName>>,
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
                id: None,
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

    /// Adds registry holds. `cameras` is the scan's camera table (names match without regard
    /// to case); `root_paths` place `--path` holds in their root.
    pub fn add_registry(
        &mut self,
        registry: &[RegistryHold],
        cameras: &[String],
        root_paths: &[&Path],
    ) {
        for r in registry {
            let idx = self.holds.len() as HoldIdx;
            self.holds.push(Hold {
                label: format!("hold {}", r.id),
                id: Some(r.id.clone()),
                source: Source::Registry,
                case: Some(r.case.clone()),
                reason: Some(r.reason.clone()),
                until: r.until,
                released: r.released.as_ref().map(|x| x.at),
            });
            self.index_selector(&r.selector, idx, cameras, root_paths);
        }
    }

    /// A view holding only `selector`, to ask which clips it covers: `hold add` and `erase`
    /// select exactly as a registry hold covers.
    pub fn selection(selector: &Selector, cameras: &[String], root_paths: &[&Path]) -> Holds {
        let mut h = Holds::default();
        h.holds.push(Hold {
            label: "selection".into(),
            id: None,
            source: Source::Registry,
            case: None,
            reason: None,
            until: None,
            released: None,
        });
        h.index_selector(selector, 0, cameras, root_paths);
        h
    }

    fn index_selector(
        &mut self,
        selector: &Selector,
        idx: HoldIdx,
        cameras: &[String],
        root_paths: &[&Path],
    ) {
        match selector {
            Selector::Window {
                cameras: wanted,
                from,
                to,
            } => {
                for (i, name) in cameras.iter().enumerate() {
                    if wanted.iter().any(|w| w.eq_ignore_ascii_case(name)) {
                        self.windows
                            .entry(CameraId(i as u32))
                            .or_default()
                            .push((*from, *to, idx));
                    }
                }
            }
            Selector::Paths { paths } => {
                for p in paths {
                    let Some((root, dir, name)) = locate(Path::new(p), root_paths) else {
                        let label = &self.holds[idx as usize].label;
                        self.alarms.push(format!(
                            "{label} names {p}, which is in no root now: it protects nothing there"
                        ));
                        continue;
                    };
                    self.paths
                        .entry(root)
                        .or_default()
                        .entry(dir)
                        .or_default()
                        .entry(name)
                        .or_default()
                        .push(idx);
                }
            }
        }
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
        if let Some(windows) = self.windows.get(&clip.camera) {
            let (start, end) = clip.span;
            out.extend(
                windows
                    .iter()
                    .filter(|(from, to, _)| start <= *to && end >= *from)
                    .map(|w| w.2),
            );
        }
        if let Some(found) = self
            .paths
            .get(&root)
            .and_then(|d| d.get(&clip.dir.rel))
            .and_then(|n| n.get(&clip.name))
        {
            out.extend_from_slice(found);
        }
    }

    /// True when nothing at all could hold anything.
    pub fn is_empty(&self) -> bool {
        self.holds.is_empty()
    }
}

/// A clip's place: its root, its directory below the root, its name.
type Place = (u16, Box<[u8]>, Box<[u8]>);

/// Splits an absolute clip path into its root, directory and name, if it lies in a root.
fn locate(path: &Path, root_paths: &[&Path]) -> Option<Place> {
    let (i, rel) = root_paths
        .iter()
        .enumerate()
        .find_map(|(i, r)| path.strip_prefix(r).ok().map(|rel| (i, rel)))?;
    let rel = rel.as_os_str().as_encoded_bytes();
    let (dir, name) = match rel.iter().rposition(|&b| b == b'/') {
        Some(cut) => (&rel[..cut], &rel[cut + 1..]),
        None => (&rel[..0], rel),
    };
    if name.is_empty() {
        return None;
    }
    Some((i as u16, dir.into(), name.into()))
}
