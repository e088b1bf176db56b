//! A clip (one footage file) as the scanner found it, and the directory it sits in.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;

use crate::fsx::FileMeta;

/// Index into the scan's camera table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CameraId(pub u32);

/// A directory below a root. Shared by every clip in it, so a clip costs no path allocation.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClipDir {
    pub root: u16,
    /// Relative to the root, `/`-separated, empty for the root itself.
    pub rel: Box<[u8]>,
    /// Layout level of the entries inside (0 for the root).
    pub level: u16,
}

impl ClipDir {
    pub fn root(root: u16) -> Arc<ClipDir> {
        Arc::new(ClipDir {
            root,
            rel: Box::default(),
            level: 0,
        })
    }

    pub fn child(&self, name: &[u8]) -> ClipDir {
        let mut rel = Vec::with_capacity(self.rel.len() + 1 + name.len());
        rel.extend_from_slice(&self.rel);
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        ClipDir {
            root: self.root,
            rel: rel.into_boxed_slice(),
            level: self.level + 1,
        }
    }

    pub fn path(&self, root_path: &Path) -> PathBuf {
        crate::fsx::join(root_path, &self.rel, b"")
    }

    /// This directory and each one above it, up to but not including the root, deepest first.
    pub fn ancestors(&self) -> impl Iterator<Item = &[u8]> {
        let rel = &self.rel[..];
        let mut end = Some(rel.len()).filter(|&n| n > 0);
        std::iter::from_fn(move || {
            let e = end?;
            let here = &rel[..e];
            end = here.iter().rposition(|&b| b == b'/');
            Some(here)
        })
    }
}

/// One footage file.
#[derive(Debug, Clone)]
pub struct Clip {
    pub dir: Arc<ClipDir>,
    pub name: Box<[u8]>,
    pub camera: CameraId,
    /// The time its layout gives: the start of the recording (the mtime for `mtime` layouts).
    pub recorded: Timestamp,
    /// The recording: from its time to its file's mtime (for `mtime` layouts, from the previous
    /// clip's mtime on that camera). Hold windows cover a clip whose recording overlaps them.
    pub span: (Timestamp, Timestamp),
    pub meta: FileMeta,
}

impl Clip {
    pub fn root(&self) -> u16 {
        self.dir.root
    }

    pub fn path(&self, root_path: &Path) -> PathBuf {
        crate::fsx::join(root_path, &self.dir.rel, &self.name)
    }

    /// Root-relative path bytes.
    pub fn rel_path(&self) -> Vec<u8> {
        let mut v = self.dir.rel.to_vec();
        if !v.is_empty() {
            v.push(b'/');
        }
        v.extend_from_slice(&self.name);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_stop_below_the_root() {
        let d = ClipDir::root(0)
            .child(b"2026-11-20")
            .child(b"07")
            .child(b"cam");
        assert_eq!(d.rel.as_ref(), b"2026-11-20/07/cam");
        assert_eq!(d.level, 3);
        let got: Vec<&[u8]> = d.ancestors().collect();
        assert_eq!(
            got,
            [&b"2026-11-20/07/cam"[..], b"2026-11-20/07", b"2026-11-20"]
        );
        assert_eq!(ClipDir::root(0).ancestors().count(), 0);
    }
}

/// A file name stored without a heap allocation when it is short, as clip names are
/// (`05.30.mp4`, `2026-11-20T08-30-00.mp4`): the daemon keeps millions of them.
#[derive(Clone, PartialEq, Eq)]
pub enum Name {
    Inline { len: u8, bytes: [u8; 22] },
    Heap(Box<[u8]>),
}

impl Name {
    pub fn new(name: &[u8]) -> Name {
        if name.len() <= 22 {
            let mut bytes = [0u8; 22];
            bytes[..name.len()].copy_from_slice(name);
            Name::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            Name::Heap(name.into())
        }
    }
}

impl std::ops::Deref for Name {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Heap(b) => b,
        }
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// What the daemon's index keeps of a clip: enough to know when it is due and to find it.
/// Its inode is read again when it is acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brief {
    pub name: Name,
    /// Unix seconds: the time its layout gives.
    pub recorded: i64,
    /// Unix seconds: when it was last written, as scanned.
    pub mtime: i64,
    pub size: u64,
    pub camera: CameraId,
    /// Unix seconds: when the daemon next needs to decide about it (`i64::MAX`: never).
    pub due: i64,
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn names_round_trip_and_stay_small() {
        for n in [
            &b""[..],
            b"05.30.mp4",
            b"2026-11-20T08-30-00.mp4",
            &[b'x'; 100],
        ] {
            assert_eq!(&*Name::new(n), n);
        }
        assert!(matches!(
            Name::new(b"2026-11-20T08-30-00.mp4"),
            Name::Heap(_)
        ));
        assert!(matches!(Name::new(b"05.30.mp4"), Name::Inline { .. }));
        assert_eq!(std::mem::size_of::<Name>(), 24);
        assert!(
            std::mem::size_of::<Brief>() <= 64,
            "{}",
            std::mem::size_of::<Brief>()
        );
    }
}
