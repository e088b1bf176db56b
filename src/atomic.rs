//! Atomic replacement of small files (state, holds, metrics): write a temp file beside the
//! target, fsync it, rename it over the target, fsync the directory. A crash leaves either the
//! old file or the new one, never a torn one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Replaces `path` with `bytes`, durably. `mode` applies to a newly created file, less the
/// umask.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace(path, bytes, mode, false)
}

/// Like [`write`], but the new file gets exactly `mode`, whatever the umask: for a file that
/// another user's program must read, such as the metrics textfile that node_exporter reads
/// while the service runs with `UMask=0027`.
pub fn write_exact_mode(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    replace(path, bytes, mode, true)
}

fn replace(path: &Path, bytes: &[u8], mode: u32, exact_mode: bool) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)?;
        if exact_mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        crate::fsx::adopt(std::os::fd::AsFd::as_fd(&f), dir);
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory so a rename or unlink in it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write(&p, b"one", 0o600).unwrap();
        write(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        assert!(write(&dir.path().join("missing/x"), b"", 0o600).is_err());
    }

    #[test]
    fn exact_mode_ignores_the_umask() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("clipwarden.prom");
        // The umask is shared by every test thread, so this test does not change it: 0o666
        // has bits that any usual umask (022, 027, 077) would clear.
        write_exact_mode(&p, b"x", 0o666).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o666);
        write_exact_mode(&p, b"y", 0o644).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o644);
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
    }
}
