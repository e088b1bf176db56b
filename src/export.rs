//! Evidence exports: clips copied (never moved, mtimes kept) with a SHA-256 manifest, and the
//! check that a copy still matches it. The manifest is plain JSON with a `sha256sum`-style
//! file beside it, so a police liaison can check it with standard tools.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::digest::{Sha256Hex, sha256_hex};

pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_SUM: &str = "manifest.json.sha256";

/// One copied clip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedFile {
    /// Relative to the case folder.
    pub file: String,
    /// Where it was copied from.
    pub source: String,
    pub camera: String,
    pub recorded: Timestamp,
    pub bytes: u64,
    pub sha256: String,
}

/// A hold the export was made under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedHold {
    pub label: String,
    pub case: Option<String>,
    pub reason: Option<String>,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub case: String,
    pub created: Timestamp,
    pub by: String,
    pub uid: u32,
    pub tool: String,
    pub holds: Vec<ExportedHold>,
    pub files: Vec<ExportedFile>,
}

/// Copies `name` from the directory `src_dir` into the new file `dest`, hashing as it goes,
/// then sets the copy's mtime to the source's and fsyncs it. The source is opened by
/// descriptor without following links; the destination must not exist yet.
pub fn copy_clip(
    src_dir: BorrowedFd<'_>,
    name: &[u8],
    dest: &Path,
    progress: &mut dyn FnMut(u64),
) -> io::Result<(String, u64)> {
    let fd = openat(
        src_dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)?;
    // SAFETY: a freshly opened descriptor we own.
    let mut src = unsafe { File::from_raw_fd(fd.into_raw_fd()) };
    let meta = src.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(dest)?;
    let mut hash = Sha256Hex::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
        progress(n as u64);
    }
    out.set_modified(meta.modified()?)?;
    out.sync_all()?;
    Ok((hash.finish(), total))
}

/// Writes the manifest and its checksum file into `case_dir`, durably. Returns the manifest's
/// SHA-256.
pub fn write_manifest(case_dir: &Path, manifest: &Manifest) -> io::Result<String> {
    let mut text = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    text.push(b'\n');
    let sum = sha256_hex(&text);
    write_new(&case_dir.join(MANIFEST), &text)?;
    write_new(
        &case_dir.join(MANIFEST_SUM),
        format!("{sum}  {MANIFEST}\n").as_bytes(),
    )?;
    crate::atomic::sync_dir(case_dir)?;
    Ok(sum)
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// What `export verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verified {
    pub case_dir: PathBuf,
    pub case: Option<String>,
    pub files: usize,
    pub bytes: u64,
    pub manifest_sha256: Option<String>,
    pub problems: Vec<String>,
}

impl Verified {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Finds the case folder: `dir` itself if it holds a manifest, or its only subfolder that does.
pub fn find_case_dir(dir: &Path) -> Result<PathBuf, String> {
    if dir.join(MANIFEST).exists() {
        return Ok(dir.to_path_buf());
    }
    let cases: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(MANIFEST).exists())
        .collect();
    match cases.len() {
        1 => Ok(cases.into_iter().next().expect("one")),
        0 => Err(format!(
            "{} holds no {MANIFEST}, and no folder in it does",
            dir.display()
        )),
        n => Err(format!(
            "{} holds {n} exports: name the one to verify",
            dir.display()
        )),
    }
}

/// Re-hashes every file against the manifest; reports mismatches, missing and extra files.
pub fn verify(case_dir: &Path) -> Verified {
    let mut v = Verified {
        case_dir: case_dir.to_path_buf(),
        ..Verified::default()
    };
    let text = match std::fs::read(case_dir.join(MANIFEST)) {
        Ok(t) => t,
        Err(e) => {
            v.problems.push(format!("{MANIFEST} cannot be read: {e}"));
            return v;
        }
    };
    let sum = sha256_hex(&text);
    v.manifest_sha256 = Some(sum.clone());
    match std::fs::read_to_string(case_dir.join(MANIFEST_SUM)) {
        Ok(s) if s.split_whitespace().next() == Some(sum.as_str()) => {}
        Ok(_) => v.problems.push(format!(
            "{MANIFEST} does not match {MANIFEST_SUM}: the manifest was changed"
        )),
        Err(e) => v
            .problems
            .push(format!("{MANIFEST_SUM} cannot be read: {e}")),
    }
    let manifest: Manifest = match serde_json::from_slice(&text) {
        Ok(m) => m,
        Err(e) => {
            v.problems
                .push(format!("{MANIFEST} is not a manifest: {e}"));
            return v;
        }
    };
    v.case = Some(manifest.case.clone());
    let mut listed = BTreeSet::new();
    for f in &manifest.files {
        listed.insert(PathBuf::from(&f.file));
        let path = case_dir.join(&f.file);
        match hash_file(&path) {
            Ok((h, n)) if h == f.sha256 && n == f.bytes => {
                v.files += 1;
                v.bytes += n;
            }
            Ok((h, n)) => v.problems.push(format!(
                "{} does not match the manifest: {n} bytes with SHA-256 {h}, expected {} bytes with {}",
                f.file, f.bytes, f.sha256
            )),
            Err(e) => v.problems.push(format!("{} is missing or unreadable: {e}", f.file)),
        }
    }
    let mut present = Vec::new();
    walk_files(case_dir, Path::new(""), &mut present);
    for p in present {
        let top = p == Path::new(MANIFEST) || p == Path::new(MANIFEST_SUM);
        if !top && !listed.contains(&p) {
            v.problems
                .push(format!("{} is not in the manifest", p.display()));
        }
    }
    v
}

fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256Hex::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok((h.finish(), n));
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
}

fn walk_files(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(base.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        match e.file_type() {
            Ok(t) if t.is_dir() => walk_files(base, &r, out),
            _ => out.push(r),
        }
    }
}

/// The filesystem UUID and label of the device holding `path`: udev's names where it has
/// them, else read from the filesystem's own superblock (ext2/3/4, FAT, exFAT) on the mount's
/// source device, so a box without udev still records which stick the evidence went to.
pub fn fs_identity(path: &Path) -> (Option<String>, Option<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(dev) = std::fs::metadata(path).map(|m| m.dev()) else {
        return (None, None);
    };
    let find = |dir: &str| -> Option<String> {
        std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
            let target = std::fs::metadata(e.path()).ok()?;
            (target.rdev() == dev).then(|| unescape_udev(&e.file_name().to_string_lossy()))
        })
    };
    let (uuid, label) = (find("/dev/disk/by-uuid"), find("/dev/disk/by-label"));
    if uuid.is_some() {
        return (uuid, label);
    }
    match source_device(dev).and_then(|d| read_superblock(&d)) {
        Some((u, l)) => (u, l.or(label)),
        None => (None, label),
    }
}

/// udev escapes characters in link names as `\xNN`.
fn unescape_udev(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The block device a filesystem with device number `dev` is mounted from.
fn source_device(dev: u64) -> Option<PathBuf> {
    let want = format!(
        "{}:{}",
        nix::libc::major(dev as _),
        nix::libc::minor(dev as _)
    );
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let mut fields = l.split(' ');
        (fields.nth(2)? == want).then_some(())?;
        let after = l.split(" - ").nth(1)?;
        let source = after.split(' ').nth(1)?;
        source.starts_with("/dev/").then(|| PathBuf::from(source))
    })
}

/// UUID and label from an ext2/3/4, FAT or exFAT superblock.
fn read_superblock(device: &Path) -> Option<(Option<String>, Option<String>)> {
    let mut buf = vec![0u8; 4096];
    let mut f = File::open(device).ok()?;
    f.read_exact(&mut buf).ok()?;
    let text = |b: &[u8]| {
        let t = String::from_utf8_lossy(b)
            .trim_end_matches(['\0', ' '])
            .to_string();
        (!t.is_empty() && t != "NO NAME").then_some(t)
    };
    let serial = |b: &[u8]| format!("{:02X}{:02X}-{:02X}{:02X}", b[3], b[2], b[1], b[0]);
    if buf[1024 + 0x38..1024 + 0x3a] == [0x53, 0xEF] {
        let u = &buf[1024 + 0x68..1024 + 0x78];
        let hex = crate::digest::to_hex(u);
        let uuid = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        return Some((Some(uuid), text(&buf[1024 + 0x78..1024 + 0x88])));
    }
    if &buf[3..11] == b"EXFAT   " {
        return Some((Some(serial(&buf[0x64..0x68])), None));
    }
    if &buf[0x52..0x5a] == b"FAT32   " {
        return Some((Some(serial(&buf[0x43..0x47])), text(&buf[0x47..0x52])));
    }
    if buf[0x36..0x3a] == *b"FAT1" {
        return Some((Some(serial(&buf[0x27..0x2b])), text(&buf[0x2b..0x36])));
    }
    None
}

/// Opens the source directory of a clip for copying, by descriptor, without links.
pub fn open_source_dir(root: &Path, rel: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    let root_fd = crate::fsx::open_root(root)?;
    crate::fsx::open_rel_dir(root_fd.as_fd(), rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn superblocks_give_uuid_and_label() {
        let dir = tempfile::tempdir().unwrap();
        let mut fat = vec![0u8; 4096];
        fat[0x52..0x5a].copy_from_slice(b"FAT32   ");
        fat[0x43..0x47].copy_from_slice(&[0x78, 0x56, 0x34, 0x12]);
        fat[0x47..0x52].copy_from_slice(b"EVIDENCE   ");
        std::fs::write(dir.path().join("fat"), &fat).unwrap();
        assert_eq!(
            read_superblock(&dir.path().join("fat")),
            Some((Some("1234-5678".into()), Some("EVIDENCE".into())))
        );
        let mut ext = vec![0u8; 4096];
        ext[1024 + 0x38..1024 + 0x3a].copy_from_slice(&[0x53, 0xEF]);
        ext[1024 + 0x68..1024 + 0x78].copy_from_slice(&[0x11; 16]);
        ext[1024 + 0x78..1024 + 0x7d].copy_from_slice(b"stick");
        std::fs::write(dir.path().join("ext"), &ext).unwrap();
        assert_eq!(
            read_superblock(&dir.path().join("ext")),
            Some((
                Some("11111111-1111-1111-1111-111111111111".into()),
                Some("stick".into())
            ))
        );
        std::fs::write(dir.path().join("none"), vec![0u8; 4096]).unwrap();
        assert_eq!(read_superblock(&dir.path().join("none")), None);
        assert_eq!(unescape_udev("my\\x20stick"), "my stick");
    }

    #[test]
    fn copy_manifest_verify_and_tamper() {
        let src = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.mp4"), b"frame data").unwrap();
        let old = filetime::FileTime::from_unix_time(1_700_000_000, 0);
        filetime::set_file_mtime(src.path().join("a.mp4"), old).unwrap();
        let dir = File::open(src.path()).unwrap();
        let case = dest.path().join("CASE-1");
        std::fs::create_dir_all(case.join("cam")).unwrap();
        let mut seen = 0;
        let (sha, n) = copy_clip(dir.as_fd(), b"a.mp4", &case.join("cam/x.mp4"), &mut |k| {
            seen += k
        })
        .unwrap();
        assert_eq!(
            (sha.as_str(), n, seen),
            (sha256_hex(b"frame data").as_str(), 10, 10)
        );
        let m = std::fs::metadata(case.join("cam/x.mp4")).unwrap();
        assert_eq!(
            filetime::FileTime::from_last_modification_time(&m),
            old,
            "mtime kept"
        );
        assert!(
            copy_clip(dir.as_fd(), b"a.mp4", &case.join("cam/x.mp4"), &mut |_| {}).is_err(),
            "never overwrites"
        );
        assert!(src.path().join("a.mp4").exists(), "copied, not moved");

        let manifest = Manifest {
            case: "CASE-1".into(),
            created: Timestamp::UNIX_EPOCH,
            by: "alice".into(),
            uid: 1000,
            tool: "test".into(),
            holds: Vec::new(),
            files: vec![ExportedFile {
                file: "cam/x.mp4".into(),
                source: "/src/a.mp4".into(),
                camera: "cam".into(),
                recorded: Timestamp::UNIX_EPOCH,
                bytes: n,
                sha256: sha,
            }],
        };
        write_manifest(&case, &manifest).unwrap();
        assert_eq!(find_case_dir(dest.path()).unwrap(), case);
        let ok = verify(&case);
        assert!(ok.is_ok(), "{:?}", ok.problems);
        assert_eq!(ok.files, 1);

        std::fs::write(case.join("cam/x.mp4"), b"frame dat4").unwrap();
        std::fs::write(case.join("cam/extra.mp4"), b"").unwrap();
        let bad = verify(&case);
        assert_eq!(bad.problems.len(), 2, "{:?}", bad.problems);
        std::fs::remove_file(case.join("cam/x.mp4")).unwrap();
        assert!(verify(&case).problems.iter().any(|p| p.contains("missing")));
        let mut text = std::fs::read_to_string(case.join(MANIFEST)).unwrap();
        text = text.replace("alice", "mallory");
        std::fs::write(case.join(MANIFEST), text).unwrap();
        assert!(
            verify(&case)
                .problems
                .iter()
                .any(|p| p.contains("was changed"))
        );
    }
}
