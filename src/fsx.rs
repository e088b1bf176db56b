//! The few filesystem calls everything goes through: directories opened by descriptor without
//! following links, and `fstatat` that never follows a symlink.
//!
//! `stat` and `statfs` come from rustix, not from libc: on 32-bit glibc (armv7 recorders) the
//! libc ABI has 32-bit sizes, inode numbers, times and block counts, so a clip of 2 GiB, a
//! 64-bit inode, an mtime after 2038 or a disk over 16 TiB fails with EOVERFLOW. rustix makes
//! the syscalls itself (statx, statfs64) and gives 64-bit fields on every target.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use jiff::Timestamp;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;
use rustix::fs::{AtFlags, FileType, Stat};

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
    fn from_stat(st: &Stat) -> FileMeta {
        let ts = |s: i64, ns: i64| Timestamp::new(s, ns as i32).unwrap_or(Timestamp::UNIX_EPOCH);
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => FileKind::File,
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            _ => FileKind::Other,
        };
        // rustix's `Stat` is the kernel's layout on 64-bit targets and its own all-64-bit
        // struct on 32-bit ones, so some of these conversions are no-ops on one of them.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        FileMeta {
            ino: u64::from(st.st_ino),
            dev: u64::from(st.st_dev),
            size: i64::from(st.st_size).max(0) as u64,
            kind,
            mtime: ts(i64::from(st.st_mtime), st.st_mtime_nsec as i64),
            ctime: ts(i64::from(st.st_ctime), st.st_ctime_nsec as i64),
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
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map(|s| FileMeta::from_stat(&s))
        .map_err(io::Error::from)
}

pub fn stat_fd(fd: BorrowedFd<'_>) -> io::Result<FileMeta> {
    rustix::fs::fstat(fd)
        .map(|s| FileMeta::from_stat(&s))
        .map_err(io::Error::from)
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
pub fn free_bytes(path: &Path) -> Option<u64> {
    space(path).map(|(free, _)| free)
}

/// Free bytes (for unprivileged writers) and total bytes of the filesystem holding `path`.
pub fn space(path: &Path) -> Option<(u64, u64)> {
    let v = rustix::fs::statvfs(path).ok()?;
    Some((
        v.f_bavail.saturating_mul(v.f_frsize),
        v.f_blocks.saturating_mul(v.f_frsize),
    ))
}

/// The filesystem's magic number (`statfs.f_type`). Magic numbers are 32-bit values; the
/// field is a signed `long`, so on 32-bit targets btrfs (0x9123683E) and others would come
/// out negative if widened with their sign.
pub fn fs_magic(path: &Path) -> Option<u32> {
    rustix::fs::statfs(path).ok().map(|fs| fs.f_type as u32)
}

/// The filesystem's id (`statvfs.f_fsid`, both of its 32-bit words), to notice a root whose
/// disk was swapped or not mounted.
pub fn fs_id(dir: BorrowedFd<'_>) -> io::Result<u64> {
    Ok(rustix::fs::fstatvfs(dir)?.f_fsid)
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
