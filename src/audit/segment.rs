//! The segment files of the audit log: their names, their chain order, and reading their ends.
//!
//! Rotated segments are named by the month of their first entry, but a box whose clock was
//! wrong for a while (a dead RTC battery writes 1970) can rotate a segment whose name sorts
//! before older ones. Chain order therefore comes from each segment's first `seq`; the name
//! only breaks ties (an empty or damaged first line).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::AuditError;
use super::line::lenient_head;

/// The current segment, the only one ever written to.
pub const CURRENT: &str = "audit.jsonl";

/// No line the writer makes comes near this; past it a file's end is garbage, not a line,
/// and reading on would only exhaust the memory of a small recorder.
pub(crate) const MAX_LINE: u64 = 64 << 20;

/// A rotated segment, in chain order by `order`.
#[derive(Debug, Clone)]
pub(crate) struct Rotated {
    pub path: PathBuf,
    pub name: String,
    pub first_seq: Option<u64>,
    month: (i16, i8, u32),
}

/// `audit-YYYY-MM.jsonl`, or `audit-YYYY-MM.N.jsonl` (N ≥ 2) when a month's name was taken.
pub(crate) fn rotated_name(month: (i16, i8), n: u32) -> String {
    let (y, m) = month;
    if n <= 1 {
        format!("audit-{y:04}-{m:02}.jsonl")
    } else {
        format!("audit-{y:04}-{m:02}.{n}.jsonl")
    }
}

fn parse_rotated_name(name: &str) -> Option<(i16, i8, u32)> {
    let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    let (date, n) = match rest.split_once('.') {
        Some((date, n)) if !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()) => {
            (date, n.parse().ok().filter(|&n| n >= 2)?)
        }
        Some(_) => return None,
        None => (rest, 1),
    };
    let (y, m) = date.split_once('-')?;
    if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: i8 = m.parse().ok()?;
    (1..=12)
        .contains(&month)
        .then_some((y.parse().ok()?, month, n))
}

/// Rotated segments in chain order (oldest first).
pub(crate) fn rotated(state_dir: &Path) -> Result<Vec<Rotated>, AuditError> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(state_dir).map_err(AuditError::io("list", state_dir))?;
    for entry in entries {
        let entry = entry.map_err(AuditError::io("list", state_dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(month) = parse_rotated_name(&name) else {
            continue;
        };
        let path = entry.path();
        let first_seq = lenient_head(&read_head(&path, 64)?).0;
        found.push(Rotated {
            path,
            name,
            first_seq,
            month,
        });
    }
    found.sort_by_key(|s| (s.first_seq.unwrap_or(0), s.month));
    Ok(found)
}

/// Every segment file in chain order: the rotated ones, then `audit.jsonl` if it exists.
/// This is the order in which a verifier must read them.
pub fn segments(state_dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut all: Vec<PathBuf> = rotated(state_dir)?.into_iter().map(|s| s.path).collect();
    let current = state_dir.join(CURRENT);
    match current.symlink_metadata() {
        Ok(_) => all.push(current),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(AuditError::io("inspect", current)(e)),
    }
    Ok(all)
}

/// Opens a segment for reading, refusing a symlink planted in its place.
pub(crate) fn open_read(path: &Path) -> Result<File, AuditError> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(AuditError::io("open", path))
}

/// Up to `n` bytes from the start of a segment: enough to read its first `seq` and `ts`.
pub(crate) fn read_head(path: &Path, n: usize) -> Result<Vec<u8>, AuditError> {
    let file = open_read(path)?;
    let mut buf = vec![0; n];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AuditError::io("read", path)(e)),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The last `want` lines of the first `len` bytes of `file`, each with its byte offset and its
/// newline (the final one may lack it: a torn write). Reads backwards, so a segment of tens of
/// MB costs only its last lines.
pub(crate) fn last_lines(file: &File, len: u64, want: usize) -> io::Result<Vec<(u64, Vec<u8>)>> {
    const CHUNK: u64 = 64 * 1024;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut start = len;
    let mut newlines = 0;
    while start > 0 && newlines < want {
        if len - start > MAX_LINE.saturating_mul(want as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no line break in the last {} bytes", len - start),
            ));
        }
        let take = CHUNK.min(start);
        let mut chunk = vec![0; take as usize];
        file.read_exact_at(&mut chunk, start - take)?;
        // The file's own final newline ends the last line; it does not start one.
        let counted = if start == len && chunk.last() == Some(&b'\n') {
            &chunk[..chunk.len() - 1]
        } else {
            &chunk[..]
        };
        newlines += counted.iter().filter(|&&b| b == b'\n').count();
        start -= take;
        chunks.push(chunk);
    }
    let buf: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    let mut lines = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let end = buf[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| at + i + 1);
        lines.push((start + at as u64, buf[at..end].to_vec()));
        at = end;
    }
    // Unless we reached the start of the file, the first piece may begin mid-line.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(want);
    Ok(lines.split_off(skip))
}

/// Makes renames, creations and removals in the state directory durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), AuditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(AuditError::io("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn rotated_names_round_trip_and_strangers_are_ignored() {
        assert_eq!(rotated_name((2024, 3), 1), "audit-2024-03.jsonl");
        assert_eq!(rotated_name((2024, 3), 2), "audit-2024-03.2.jsonl");
        assert_eq!(
            parse_rotated_name("audit-2024-03.jsonl"),
            Some((2024, 3, 1))
        );
        assert_eq!(
            parse_rotated_name("audit-2024-03.2.jsonl"),
            Some((2024, 3, 2))
        );
        for stranger in [
            "audit.jsonl",
            "audit-2024-13.jsonl",
            "audit-2024-3.jsonl",
            "audit-2024-03.1.jsonl",
            "audit-2024-03.02.jsonl",
            "audit-2024-03.jsonl.tmp",
            "audit-torn-5.bin",
        ] {
            assert_eq!(parse_rotated_name(stranger), None, "{stranger}");
        }
    }

    #[test]
    fn chain_order_follows_first_seq_not_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "audit-2024-05.jsonl",
            "{\"seq\":1,\"ts\":\"2024-05-01T00:00:00Z\"",
        );
        // A month with a clock stuck in 1970 came after May in the chain.
        write(
            "audit-1970-01.jsonl",
            "{\"seq\":40,\"ts\":\"1970-01-01T00:00:00Z\"",
        );
        write("audit-2024-07.jsonl", "{\"seq\":90,");
        write(CURRENT, "");
        write("notes.txt", "");
        let names: Vec<_> = segments(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "audit-2024-05.jsonl",
                "audit-1970-01.jsonl",
                "audit-2024-07.jsonl",
                CURRENT
            ]
        );
    }

    #[test]
    fn last_lines_reads_only_the_end_and_keeps_offsets() {
        let mut f = tempfile::tempfile().unwrap();
        let long = "x".repeat(150_000);
        write!(f, "a\n{long}\nb\ntorn").unwrap();
        let len = f.metadata().unwrap().len();
        let lines = last_lines(&f, len, 2).unwrap();
        assert_eq!(
            lines,
            [(150_003, b"b\n".to_vec()), (150_005, b"torn".to_vec())]
        );
        let lines = last_lines(&f, len, 3).unwrap();
        assert_eq!(lines[0], (2, format!("{long}\n").into_bytes()));
        assert_eq!(last_lines(&f, len, 9).unwrap().len(), 4);
        assert_eq!(last_lines(&f, 2, 1).unwrap(), [(0, b"a\n".to_vec())]);
        assert!(last_lines(&f, 0, 1).unwrap().is_empty());
    }
}
