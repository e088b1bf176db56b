//! The few filesystem calls everything goes through: directories opened by descriptor without
//! following links, and `fstatat` that never follows a symlink.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use jiff::Timestamp;
use nix::fcntl::AtFlags;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// What a re-check or the planner needs from an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub ino: u64,
    pub dev: u64,
    pub size: u64,
    pub kind: FileKind,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl FileMeta {
    pub fn from_stat(st: &FileStat) -> FileMeta {
        let ts = |s: i64, ns: i64| Timestamp::new(s, ns as i32).unwrap_or(Timestamp::UNIX_EPOCH);
        let fmt = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let kind = if fmt == SFlag::S_IFREG {
            FileKind::File
        } else if fmt == SFlag::S_IFDIR {
            FileKind::Dir
        } else if fmt == SFlag::S_IFLNK {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        #[allow(clippy::useless_conversion)] // the widths differ between 32- and 64-bit targets
        FileMeta {
            ino: st.st_ino.into(),
            dev: st.st_dev.into(),
            size: st.st_size.max(0) as u64,
            kind,
            mtime: ts(st.st_mtime.into(), st.st_mtime_nsec.into()),
            ctime: ts(st.st_ctime.into(), st.st_ctime_nsec.into()),
            uid: st.st_uid,
            gid: st.st_gid,
        }
    }

    /// The same from `std`'s metadata (taken without following links).
    pub fn from_std(m: &std::fs::Metadata) -> FileMeta {
        use std::os::unix::fs::MetadataExt;
        let ts = |s: i64, ns: i64| Timestamp::new(s, ns as i32).unwrap_or(Timestamp::UNIX_EPOCH);
        let t = m.file_type();
        let kind = if t.is_file() {
            FileKind::File
        } else if t.is_dir() {
            FileKind::Dir
        } else if t.is_symlink() {
            FileKind::Symlink
        } else {
            FileKind::Other
        };
        FileMeta {
            ino: m.ino(),
            dev: m.dev(),
            size: m.size(),
            kind,
            mtime: ts(m.mtime(), m.mtime_nsec()),
            ctime: ts(m.ctime(), m.ctime_nsec()),
            uid: m.uid(),
            gid: m.gid(),
        }
    }

    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens a root. The configured path may pass through symlinks above it, but the root itself
/// must be a real directory: O_NOFOLLOW refuses a root that is a link.
pub fn open_root(path: &Path) -> io::Result<OwnedFd> {
    open(path, DIR_FLAGS, Mode::empty()).map_err(errno)
}

/// Opens the directory `name` inside `dir`, refusing symlinks.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    openat(dir, name, DIR_FLAGS, Mode::empty()).map_err(errno)
}

/// Opens `rel` (components separated by `/`) below `root` one component at a time, so no
/// component can be a symlink; a directory swapped for a link mid-pass fails with ELOOP or
/// ENOTDIR instead of redirecting the caller.
pub fn open_rel_dir(root: BorrowedFd<'_>, rel: &[u8]) -> io::Result<OwnedFd> {
    let mut cur = root.try_clone_to_owned()?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if comp == b"." || comp == b".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path component . or ..",
            ));
        }
        cur = open_dir_at(cur.as_fd(), comp)?;
    }
    Ok(cur)
}

/// `fstatat` without following a final symlink.
pub fn stat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<FileMeta> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|s| FileMeta::from_stat(&s))
        .map_err(errno)
}

pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileMeta> {
    fstat(fd).map(|s| FileMeta::from_stat(&s)).map_err(errno)
}

/// Joins a root path with a relative directory and a name, for messages and `--json`.
pub fn join(root: &Path, rel_dir: &[u8], name: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let mut p = root.to_path_buf();
    if !rel_dir.is_empty() {
        p.push(std::ffi::OsStr::from_bytes(rel_dir));
    }
    if !name.is_empty() {
        p.push(std::ffi::OsStr::from_bytes(name));
    }
    p
}

/// Bytes available to unprivileged writers on the filesystem holding `path`.
#[allow(clippy::unnecessary_cast)] // the statvfs fields are 32 bits wide on armv7
pub fn free_bytes(path: &Path) -> Option<u64> {
    let v = nix::sys::statvfs::statvfs(path).ok()?;
    Some((v.blocks_available() as u64).saturating_mul(v.fragment_size() as u64))
}

/// The filesystem's magic number (`statfs.f_type`).
#[allow(clippy::unnecessary_cast)] // its width differs between targets
pub fn fs_magic(path: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|fs| fs.filesystem_type().0 as i64)
}

/// When running as root in a directory someone else owns (the state directory, owned by the
/// service user), gives a file just created there to that owner. Otherwise a `sudo clipwarden
/// hold add` would leave a root-owned registry file the daemon cannot read, and an
/// unreadable registry stops all deletion.
pub fn adopt(file: BorrowedFd<'_>, dir: &Path) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let Ok(owner) = std::fs::metadata(dir) else {
        return;
    };
    if owner.uid() == 0 {
        return;
    }
    let (uid, gid) = (
        nix::unistd::Uid::from_raw(owner.uid()),
        nix::unistd::Gid::from_raw(owner.gid()),
    );
    if let Err(e) = nix::unistd::fchown(file, Some(uid), Some(gid)) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot give a new file to the directory's owner");
    }
}
