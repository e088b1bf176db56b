//! Directory reading with `getdents64` straight into one reusable buffer.
//!
//! The scan's floor is this syscall: no `stat`, no allocation per entry, and a buffer far
//! larger than musl's 2 KiB `readdir` one, so a directory of thousands of segments costs a
//! handful of syscalls on the static ARM build too.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::libc;

/// What `d_type` says an entry is. `Unknown` means the filesystem does not say (some
/// network and older filesystems); the caller must `fstatat` without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
    Unknown,
}

/// One entry, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub ino: u64,
    pub kind: Kind,
    pub name: &'a [u8],
}

/// A reusable `getdents64` buffer. One per scanning thread.
pub struct DirReader {
    // u64 words keep the buffer 8-byte aligned, as the kernel's records are.
    buf: Vec<u64>,
}

impl Default for DirReader {
    fn default() -> Self {
        DirReader::with_capacity(64 * 1024)
    }
}

impl DirReader {
    pub fn with_capacity(bytes: usize) -> Self {
        DirReader {
            buf: vec![0; bytes.div_ceil(8).max(64)],
        }
    }

    /// Calls `f` for every entry of the open directory `dir` except `.` and `..`.
    pub fn for_each(
        &mut self,
        dir: BorrowedFd<'_>,
        mut f: impl FnMut(Entry<'_>),
    ) -> io::Result<()> {
        loop {
            let cap = self.buf.len() * 8;
            // SAFETY: the buffer is valid for `cap` writable bytes and outlives the call.
            let n = unsafe {
                libc::syscall(
                    libc::SYS_getdents64,
                    dir.as_raw_fd(),
                    self.buf.as_mut_ptr().cast::<u8>(),
                    cap,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if n == 0 {
                return Ok(());
            }
            // SAFETY: the kernel wrote `n` bytes, all within the buffer.
            let bytes =
                unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), n as usize) };
            parse_records(bytes, &mut f)?;
        }
    }
}

/// Walks `linux_dirent64` records: u64 ino, i64 off, u16 reclen, u8 type, NUL-ended name.
fn parse_records(mut bytes: &[u8], f: &mut impl FnMut(Entry<'_>)) -> io::Result<()> {
    const HEADER: usize = 19;
    while !bytes.is_empty() {
        let corrupt = || io::Error::new(io::ErrorKind::InvalidData, "malformed getdents64 record");
        if bytes.len() < HEADER {
            return Err(corrupt());
        }
        let ino = u64::from_ne_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let reclen = usize::from(u16::from_ne_bytes(
            bytes[16..18].try_into().expect("2 bytes"),
        ));
        if reclen < HEADER || reclen > bytes.len() {
            return Err(corrupt());
        }
        let d_type = bytes[18];
        let raw_name = &bytes[HEADER..reclen];
        let name = &raw_name[..raw_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw_name.len())];
        bytes = &bytes[reclen..];
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match d_type {
            libc::DT_REG => Kind::File,
            libc::DT_DIR => Kind::Dir,
            libc::DT_LNK => Kind::Symlink,
            libc::DT_UNKNOWN => Kind::Unknown,
            _ => Kind::Other,
        };
        f(Entry { ino, kind, name });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn reads_every_entry_with_type_and_inode() {
        let dir = tempfile::tempdir().unwrap();
        let mut want = BTreeMap::new();
        for i in 0..3000 {
            let p = dir.path().join(format!("{i:05}.mp4"));
            std::fs::write(&p, b"").unwrap();
            want.insert(
                format!("{i:05}.mp4"),
                (p.metadata().unwrap().ino(), Kind::File),
            );
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        want.insert(
            "sub".into(),
            (dir.path().join("sub").metadata().unwrap().ino(), Kind::Dir),
        );
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        want.insert(
            "link".into(),
            (
                dir.path().join("link").symlink_metadata().unwrap().ino(),
                Kind::Symlink,
            ),
        );

        let fd = std::fs::File::open(dir.path()).unwrap();
        let mut got = BTreeMap::new();
        // A small buffer forces many getdents64 calls and records split across them.
        DirReader::with_capacity(1024)
            .for_each(fd.as_fd(), |e| {
                let name = String::from_utf8(e.name.to_vec()).unwrap();
                assert!(
                    got.insert(name, (e.ino, e.kind)).is_none(),
                    "entry seen twice"
                );
            })
            .unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn a_file_descriptor_that_is_not_a_directory_is_an_error() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = DirReader::default()
            .for_each(f.as_file().as_fd(), |_| {})
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
    }

    #[test]
    fn malformed_records_are_errors_not_panics() {
        let mut rec = vec![0u8; 24];
        rec[16] = 200; // reclen past the end
        assert!(parse_records(&rec, &mut |_| {}).is_err());
        assert!(parse_records(&rec[..10], &mut |_| {}).is_err());
    }
}
