//! The writer: appends entries under the state lock, rotates monthly, seals torn tails, prunes.
//!
//! Durability contract: `append` only writes (one `write` per line, no buffering across lines,
//! so a crash tears at most the last line); `sync` is the point after which an entry survives
//! a power cut. Callers record `clips_deleted`, call `sync`, and only then unlink.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::AuditError;
use super::line::{
    Entry, ZERO_HASH, base64, build_line, check_event_name, check_line, fields_inner, lenient_head,
    month_of,
};
use super::segment::{CURRENT, last_lines, open_read, read_head, rotated, rotated_name, sync_dir};
use crate::digest::sha256_hex;
use crate::lock::StateLock;

/// Torn bytes up to this size are kept inside the `recovered` entry itself; larger ones (never
/// a real torn write, which is at most one line) only in the side file, with their SHA-256.
const INLINE_TORN_MAX: usize = 1 << 20;

/// Where an appended entry landed in the chain: what an `anchor` sends off the box.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

/// The open audit log. Only one exists at a time, because opening takes the state lock.
#[derive(Debug)]
pub struct AuditLog {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes of the current segment that hold whole entries: where a failed write is cut back to.
    len: u64,
    next_seq: u64,
    head_hash: String,
    /// UTC month of the current segment's first entry; `None` while it is empty.
    month: Option<(i16, i8)>,
    /// Set when the file may end in a partial line or lost data: appending after it would bury
    /// the damage mid-chain, so this process stops writing.
    poisoned: bool,
}

/// Fields of the `recovered` entry that seals a torn last line. It is written where the torn
/// bytes began, so `offset` is also its own position in its segment.
#[derive(Serialize)]
struct Recovered<'a> {
    offset: u64,
    torn_bytes: u64,
    torn_sha256: String,
    why: &'a str,
    saved_to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    torn_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    torn_b64: Option<String>,
}

/// Fields of `audit_pruned`.
#[derive(Serialize)]
struct Pruned {
    keep: String,
    cutoff: String,
    segments: Vec<PrunedSegment>,
}

/// One removed segment as `audit_pruned` records it; `verify` reads it back to accept a chain
/// that starts after seq 1.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PrunedSegment {
    pub file: String,
    pub first_seq: Option<u64>,
    pub last_seq: u64,
    pub last_hash: String,
    pub last_ts: String,
}

/// A last line that is not a whole, valid entry.
struct Torn {
    offset: u64,
    bytes: Vec<u8>,
    why: String,
}

impl AuditLog {
    /// Opens (or starts) the log. Holding `lock` proves no one else writes it.
    ///
    /// Reads only the tail to learn the head; seals a torn last line with a `recovered` entry;
    /// rotates a segment begun in an earlier month. Everything is synced before it returns.
    pub fn open(lock: &StateLock, now: Timestamp) -> Result<AuditLog, AuditError> {
        let dir = lock.state_dir().to_path_buf();
        let path = dir.join(CURRENT);
        let file = open_current(&path)?;
        let len = file
            .metadata()
            .map_err(AuditError::io("inspect", &path))?
            .len();
        let mut tail = last_lines(&file, len, 2).map_err(|e| tail_error(&path, len, e))?;

        let mut head = None;
        let mut torn = None;
        if let Some((offset, bytes)) = tail.pop() {
            match whole_entry(&bytes) {
                Ok(entry) => head = Some(entry),
                Err(why) => {
                    torn = Some(Torn { offset, bytes, why });
                    if let Some((offset, bytes)) = tail.pop() {
                        let entry = whole_entry(&bytes).map_err(|why| AuditError::Corrupt {
                            path: path.clone(),
                            offset,
                            reason: format!("the line before the torn last line is bad too: {why}"),
                        })?;
                        head = Some(entry);
                    }
                }
            }
        }
        let kept = torn.as_ref().map_or(len, |t| t.offset);
        let month = if kept == 0 {
            None
        } else {
            let first = read_head(&path, 256)?;
            let first_ts = lenient_head(&first).1.and_then(|ts| ts.parse().ok());
            first_ts
                .or_else(|| head.as_ref().and_then(|h| h.ts.parse().ok()))
                .map(month_of)
        };
        if head.is_none() {
            head = rotated_head(&dir)?;
        }

        let mut log = AuditLog {
            dir,
            path,
            file,
            len: kept,
            next_seq: head.as_ref().map_or(1, |h| h.seq + 1),
            head_hash: head.map_or_else(|| ZERO_HASH.to_owned(), |h| h.hash),
            month,
            poisoned: false,
        };
        if let Some(torn) = torn {
            log.seal(torn, now)?;
        }
        log.rotate_if_due(now)?;
        log.sync()?;
        sync_dir(&log.dir)?;
        Ok(log)
    }

    /// Appends one entry: `fields` (a struct serialising to a JSON object, or `()`) become its
    /// members in declaration order. Written in one `write`; not synced.
    pub fn append<T: Serialize + ?Sized>(
        &mut self,
        now: Timestamp,
        event: &str,
        fields: &T,
    ) -> Result<Appended, AuditError> {
        self.check_usable()?;
        check_event_name(event)?;
        let inner = fields_inner(event, fields)?;
        // A daemon keeps the log open for weeks, so the month turns here as well as in `open`.
        self.rotate_if_due(now)?;
        self.write_entry(now, event, &inner)
    }

    /// Writes one entry to the current file as it is, without rotating: a `recovered` entry
    /// belongs in the file its torn bytes were cut from, at the `offset` it records.
    fn write_entry(
        &mut self,
        now: Timestamp,
        event: &str,
        inner: &str,
    ) -> Result<Appended, AuditError> {
        self.check_usable()?;
        let seq = self.next_seq;
        let (line, hash) = build_line(seq, now, event, inner, &self.head_hash);
        if let Err(e) = (&self.file).write_all(line.as_bytes()) {
            // Cut a partial line off now, or the next good append would bury it mid-chain.
            if self.file.set_len(self.len).is_err() {
                self.poisoned = true;
            }
            return Err(AuditError::io("append to", &self.path)(e));
        }
        self.len += line.len() as u64;
        self.next_seq += 1;
        self.head_hash.clone_from(&hash);
        self.month.get_or_insert(month_of(now));
        Ok(Appended { seq, hash })
    }

    /// Makes every appended entry durable.
    pub fn sync(&mut self) -> Result<(), AuditError> {
        self.check_usable()?;
        if let Err(e) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the dirty pages and report the
            // next fsync as clean; nothing written from here on could be trusted to be there.
            self.poisoned = true;
            return Err(AuditError::io("sync", &self.path)(e));
        }
        Ok(())
    }

    /// The last entry's `seq` and `hash`, or `None` for a log with no entry yet.
    pub fn head(&self) -> Option<(u64, &str)> {
        (self.next_seq > 1).then(|| (self.next_seq - 1, self.head_hash.as_str()))
    }

    /// The current segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the oldest rotated segments whose last entry is older than `now - keep`, after
    /// recording them in one synced `audit_pruned` entry. Only a run of the oldest segments is
    /// removed, so the chain keeps a single start that the entry vouches for; the current
    /// segment is never removed. Returns the removed paths.
    pub fn prune(
        &mut self,
        keep: SignedDuration,
        now: Timestamp,
    ) -> Result<Vec<PathBuf>, AuditError> {
        self.check_usable()?;
        if keep.is_negative() {
            return Err(AuditError::NegativeKeep {
                keep: format!("{keep:#}"),
            });
        }
        let Ok(cutoff) = now.checked_sub(keep) else {
            return Ok(Vec::new());
        };
        let mut doomed = Vec::new();
        let mut paths = Vec::new();
        for seg in rotated(&self.dir)? {
            let last = match last_entry(&seg.path)? {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err((_, why)) => {
                    warn!(segment = %seg.path.display(), why, "audit segment kept: its age cannot be judged");
                    break;
                }
            };
            match last.ts.parse::<Timestamp>() {
                Ok(ts) if ts < cutoff => {}
                _ => break,
            }
            doomed.push(PrunedSegment {
                file: seg.name,
                first_seq: seg.first_seq,
                last_seq: last.seq,
                last_hash: last.hash,
                last_ts: last.ts,
            });
            paths.push(seg.path);
        }
        if doomed.is_empty() {
            return Ok(paths);
        }
        let fields = Pruned {
            keep: format!("{keep:#}"),
            cutoff: cutoff.to_string(),
            segments: doomed,
        };
        // Recorded and durable before anything is removed, like every other deletion.
        self.append(now, "audit_pruned", &fields)?;
        self.sync()?;
        for path in &paths {
            std::fs::remove_file(path).map_err(AuditError::io("remove", path))?;
            info!(segment = %path.display(), "audit segment pruned");
        }
        sync_dir(&self.dir)?;
        Ok(paths)
    }

    fn check_usable(&self) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn rotate_if_due(&mut self, now: Timestamp) -> Result<(), AuditError> {
        let Some(month) = self.month else {
            return Ok(());
        };
        if month >= month_of(now) {
            return Ok(());
        }
        self.sync()?;
        // A name already taken means the clock went back and forth across months: never
        // overwrite a segment, take the next free suffix.
        let target = (1..=u32::MAX)
            .map(|n| self.dir.join(rotated_name(month, n)))
            .find(|p| {
                p.symlink_metadata()
                    .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            })
            .ok_or_else(|| AuditError::Corrupt {
                path: self.path.clone(),
                offset: 0,
                reason: "no free name to rotate to".into(),
            })?;
        std::fs::rename(&self.path, &target).map_err(AuditError::io("rotate", &self.path))?;
        // Until the new file is open, self.file is the rotated segment: writing there would
        // fork the chain.
        self.poisoned = true;
        self.file = open_current(&self.path)?;
        self.poisoned = false;
        self.len = 0;
        self.month = None;
        sync_dir(&self.dir)?;
        info!(segment = %target.display(), "audit segment rotated");
        Ok(())
    }

    /// Saves the torn bytes aside, cuts them off and records them, so the chain verifies
    /// again and nothing that was on disk is hidden.
    fn seal(&mut self, torn: Torn, now: Timestamp) -> Result<(), AuditError> {
        let side = self.save_torn(&torn.bytes)?;
        let saved_to = side
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        self.file
            .set_len(torn.offset)
            .and_then(|()| self.file.sync_data())
            .map_err(AuditError::io("truncate the torn line of", &self.path))?;
        self.len = torn.offset;
        let inline = torn.bytes.len() <= INLINE_TORN_MAX;
        let fields = Recovered {
            offset: torn.offset,
            torn_bytes: torn.bytes.len() as u64,
            torn_sha256: sha256_hex(&torn.bytes),
            why: &torn.why,
            saved_to: &saved_to,
            torn_text: inline.then(|| String::from_utf8_lossy(&torn.bytes).into_owned()),
            torn_b64: inline.then(|| base64(&torn.bytes)),
        };
        let at = self.write_entry(now, "recovered", &fields_inner("recovered", &fields)?)?;
        self.sync()?;
        warn!(
            seq = at.seq,
            torn_bytes = torn.bytes.len(),
            offset = torn.offset,
            saved_to = %side.display(),
            why = %torn.why,
            "sealed a torn audit line"
        );
        Ok(())
    }

    /// Writes torn bytes to a new `audit-torn-<seq>.bin`, never over an earlier one.
    fn save_torn(&self, bytes: &[u8]) -> Result<PathBuf, AuditError> {
        for n in 1..=u32::MAX {
            let name = match n {
                1 => format!("audit-torn-{}.bin", self.next_seq),
                n => format!("audit-torn-{}.{n}.bin", self.next_seq),
            };
            let path = self.dir.join(name);
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o640)
                .custom_flags(nix::libc::O_NOFOLLOW)
                .open(&path);
            let mut file = match created {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(AuditError::io("create", path)(e)),
            };
            crate::fsx::adopt(std::os::fd::AsFd::as_fd(&file), &self.dir);
            file.write_all(bytes)
                .and_then(|()| file.sync_all())
                .map_err(AuditError::io("write", &path))?;
            sync_dir(&self.dir)?;
            return Ok(path);
        }
        Err(AuditError::Corrupt {
            path: self.path.clone(),
            offset: self.len,
            reason: "no free name for the torn bytes".into(),
        })
    }
}

fn open_current(path: &Path) -> Result<File, AuditError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(AuditError::io("open", path))?;
    if let Some(dir) = path.parent() {
        crate::fsx::adopt(std::os::fd::AsFd::as_fd(&file), dir);
    }
    Ok(file)
}

fn tail_error(path: &Path, len: u64, e: std::io::Error) -> AuditError {
    if e.kind() == std::io::ErrorKind::InvalidData {
        AuditError::Corrupt {
            path: path.to_owned(),
            offset: len,
            reason: e.to_string(),
        }
    } else {
        AuditError::io("read", path)(e)
    }
}

/// A line read with its newline: an entry only if it is whole and valid.
fn whole_entry(bytes: &[u8]) -> Result<Entry, String> {
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Err("no newline at its end".into());
    };
    check_line(body).map_err(|fault| fault.to_string())
}

/// The last entry of a rotated segment: `Ok(Ok(None))` when it is empty, the inner error (with
/// the line's offset) when its last line is not a whole entry.
fn last_entry(path: &Path) -> Result<Result<Option<Entry>, (u64, String)>, AuditError> {
    let file = open_read(path)?;
    let len = file
        .metadata()
        .map_err(AuditError::io("inspect", path))?
        .len();
    let mut lines = last_lines(&file, len, 1).map_err(|e| tail_error(path, len, e))?;
    Ok(lines
        .pop()
        .map(|(offset, bytes)| whole_entry(&bytes).map_err(|why| (offset, why)))
        .transpose())
}

/// Head of the newest non-empty rotated segment: where the chain goes on when the current
/// segment is new or held only a torn line.
fn rotated_head(dir: &Path) -> Result<Option<Entry>, AuditError> {
    for seg in rotated(dir)?.into_iter().rev() {
        match last_entry(&seg.path)? {
            Ok(Some(entry)) => return Ok(Some(entry)),
            Ok(None) => continue,
            Err((offset, why)) => {
                return Err(AuditError::Corrupt {
                    path: seg.path,
                    offset,
                    reason: format!("its last line is not a valid entry ({why})"),
                });
            }
        }
    }
    Ok(None)
}
