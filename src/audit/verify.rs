//! Read-only checks of the whole chain (`audit verify`, `--anchor`) and `audit tail`.
//!
//! Nothing here takes the state lock, so a verify never delays a pass. The price is that a
//! verify racing a rotation or an append may see a half-written last line; running it again
//! tells a real problem from that.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::line::{ZERO_HASH, check_line, is_hash_text, lenient_head};
use super::log::PrunedSegment;
use super::segment::{CURRENT, MAX_LINE, last_lines, open_read, segments};
use super::{Appended, AuditError};

/// An entry known from off the box (the journal, a ticket): `audit verify --anchor SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    pub seq: u64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad anchor {input:?}: {reason} (expected SEQ:HASH, e.g. 1234:<64 hex digits>)")]
pub struct AnchorParseError {
    input: String,
    reason: String,
}

impl FromStr for Anchor {
    type Err = AnchorParseError;

    fn from_str(s: &str) -> Result<Anchor, AnchorParseError> {
        let fail = |reason: String| AnchorParseError {
            input: s.chars().take(100).collect(),
            reason,
        };
        let (seq, hash) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| fail("no ':' between SEQ and HASH".into()))?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| fail(format!("SEQ {seq:?} is not a whole number")))?;
        if seq == 0 {
            return Err(fail("SEQ starts at 1".into()));
        }
        let hash = hash.to_ascii_lowercase();
        if hash.chars().count() != 64 {
            return Err(fail(format!(
                "HASH has {} characters, not 64",
                hash.chars().count()
            )));
        }
        if !is_hash_text(&hash) {
            return Err(fail("HASH has a character that is not a hex digit".into()));
        }
        Ok(Anchor { seq, hash })
    }
}

/// The daemon's `anchor` entry, as it is sent to the journal.
impl From<Appended> for Anchor {
    fn from(at: Appended) -> Anchor {
        Anchor {
            seq: at.seq,
            hash: at.hash,
        }
    }
}

impl fmt::Display for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// What `verify` found. `problem` is `None` exactly when the chain (and the anchor) checked out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    /// Entries whose hash and link were checked, up to the first problem.
    pub entries: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head_hash: Option<String>,
    pub segments: Vec<PathBuf>,
    /// When earlier segments were pruned: the first present `seq`, vouched for by `audit_pruned`.
    pub pruned_before: Option<u64>,
    pub anchor: Option<Anchor>,
    pub problem: Option<Problem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// The first thing wrong with the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The bad entry's `seq`, as far as it can be read from the line.
    pub seq: Option<u64>,
    pub file: PathBuf,
    /// 1-based line in `file`; `None` when the problem is no single line (a missing anchor).
    pub line: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The last line has no newline: a crash mid-write, until the next pass seals it.
    Torn,
    Malformed,
    HashMismatch,
    SeqGap,
    PrevMismatch,
    /// The log starts after seq 1 and no `audit_pruned` entry accounts for what came before.
    UnvouchedStart,
    AnchorMismatch,
    AnchorMissing,
    AnchorPruned,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(seq) = self.seq {
            write!(f, ": seq {seq}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Checks every segment in chain order by SPEC's rule, and `anchor` if given.
pub fn verify(state_dir: &Path, anchor: Option<Anchor>) -> Result<VerifyReport, AuditError> {
    let files = segments(state_dir)?;
    let mut walk = Walk {
        report: VerifyReport {
            segments: files.clone(),
            anchor,
            ..VerifyReport::default()
        },
        last: None,
        start: None,
        pruned: Vec::new(),
        last_file: files
            .last()
            .cloned()
            .unwrap_or_else(|| state_dir.join(CURRENT)),
    };
    'files: for (i, path) in files.iter().enumerate() {
        let is_last_file = i + 1 == files.len();
        let mut reader = BufReader::with_capacity(256 * 1024, open_read(path)?);
        let (mut cur, mut next) = (Vec::new(), Vec::new());
        let mut have_cur = read_line(&mut reader, &mut cur, path)?;
        let mut number = 0;
        while have_cur {
            number += 1;
            // One line of lookahead: only the very last line of the log may be merely torn.
            let have_next = read_line(&mut reader, &mut next, path)?;
            if let Err(problem) = walk.line(path, number, &cur, is_last_file && !have_next) {
                walk.fail(problem);
                break 'files;
            }
            std::mem::swap(&mut cur, &mut next);
            have_cur = have_next;
        }
    }
    Ok(walk.finish())
}

/// The last `n` lines of the log, oldest first, across segments (lossy UTF-8, no newline).
pub fn tail(state_dir: &Path, n: usize) -> Result<Vec<String>, AuditError> {
    let mut newest_first = Vec::new();
    for path in segments(state_dir)?.iter().rev() {
        if newest_first.len() >= n {
            break;
        }
        let file = open_read(path)?;
        let len = file
            .metadata()
            .map_err(AuditError::io("inspect", path))?
            .len();
        let lines =
            last_lines(&file, len, n - newest_first.len()).map_err(AuditError::io("read", path))?;
        for (_, bytes) in lines.into_iter().rev() {
            let bytes = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            newest_first.push(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    newest_first.reverse();
    Ok(newest_first)
}

fn read_line(
    reader: &mut BufReader<std::fs::File>,
    buf: &mut Vec<u8>,
    path: &Path,
) -> Result<bool, AuditError> {
    buf.clear();
    // Bounded, so a file of garbage without newlines cannot exhaust memory.
    let n = reader
        .by_ref()
        .take(MAX_LINE + 1)
        .read_until(b'\n', buf)
        .map_err(AuditError::io("read", path))?;
    Ok(n > 0)
}

/// The first entry, when the log starts after seq 1 and nothing has vouched for it yet.
struct Start {
    seq: u64,
    prev: String,
    file: PathBuf,
    line: u64,
}

#[derive(Deserialize)]
struct PrunedFields {
    #[serde(default)]
    segments: Vec<PrunedSegment>,
}

struct Walk {
    report: VerifyReport,
    /// `seq` and `hash` of the last good entry.
    last: Option<(u64, String)>,
    start: Option<Start>,
    pruned: Vec<PrunedSegment>,
    last_file: PathBuf,
}

impl Walk {
    fn line(
        &mut self,
        file: &Path,
        number: u64,
        bytes: &[u8],
        is_end: bool,
    ) -> Result<(), Problem> {
        let complete = bytes.last() == Some(&b'\n');
        let body = if complete {
            &bytes[..bytes.len() - 1]
        } else {
            bytes
        };
        let problem = |kind, seq, reason: String| Problem {
            kind,
            seq,
            file: file.to_owned(),
            line: Some(number),
            reason,
        };
        let hint = lenient_head(body).0;
        if body.len() as u64 > MAX_LINE {
            let why = format!("line longer than {MAX_LINE} bytes: not written by clipwarden");
            return Err(problem(ProblemKind::Malformed, hint, why));
        }
        if !complete {
            let (kind, why) = if is_end {
                let why = format!(
                    "the last line is torn ({} bytes without a newline), a write cut short by a crash; the next pass seals it with a `recovered` entry",
                    body.len()
                );
                (ProblemKind::Torn, why)
            } else {
                (
                    ProblemKind::Malformed,
                    "the segment ends without a newline, but the chain goes on in a later segment"
                        .into(),
                )
            };
            return Err(problem(kind, hint, why));
        }
        let entry = check_line(body).map_err(|fault| {
            let kind = if fault.is_hash_mismatch() {
                ProblemKind::HashMismatch
            } else {
                ProblemKind::Malformed
            };
            let mut why = fault.to_string();
            if is_end {
                why.push_str("; as the last line it may be a torn write, which the next pass seals with a `recovered` entry");
            }
            problem(kind, hint, why)
        })?;
        let seq = Some(entry.seq);
        match &self.last {
            None if entry.seq == 1 && entry.prev != ZERO_HASH => {
                let why = "the first entry's prev must be 64 zeros".to_owned();
                return Err(problem(ProblemKind::PrevMismatch, seq, why));
            }
            None if entry.seq > 1 => {
                self.start = Some(Start {
                    seq: entry.seq,
                    prev: entry.prev.clone(),
                    file: file.to_owned(),
                    line: number,
                });
            }
            None => {}
            Some((last_seq, _)) if entry.seq != last_seq + 1 => {
                let why = format!(
                    "expected seq {} after seq {last_seq}: entries are missing, repeated or out of order",
                    last_seq + 1
                );
                return Err(problem(ProblemKind::SeqGap, seq, why));
            }
            Some((last_seq, last_hash)) if entry.prev != *last_hash => {
                let why = format!("prev is not the hash of seq {last_seq}: an entry was replaced");
                return Err(problem(ProblemKind::PrevMismatch, seq, why));
            }
            Some(_) => {}
        }
        if entry.event == "audit_pruned" {
            self.note_pruned(body);
        }
        if let Some(anchor) = &self.report.anchor
            && anchor.seq == entry.seq
            && anchor.hash != entry.hash
        {
            let why = format!(
                "the anchor's hash {} is not this entry's hash {}",
                anchor.hash, entry.hash
            );
            return Err(problem(ProblemKind::AnchorMismatch, seq, why));
        }
        self.report.entries += 1;
        self.report.first_seq.get_or_insert(entry.seq);
        self.report.last_seq = Some(entry.seq);
        self.report.head_hash = Some(entry.hash.clone());
        self.last = Some((entry.seq, entry.hash));
        Ok(())
    }

    /// Records what an `audit_pruned` entry removed, and whether it accounts for the start.
    fn note_pruned(&mut self, body: &[u8]) {
        let Ok(fields) = serde_json::from_slice::<PrunedFields>(body) else {
            return;
        };
        if let Some(start) = &self.start
            && fields
                .segments
                .iter()
                .any(|s| s.last_seq + 1 == start.seq && s.last_hash == start.prev)
        {
            self.report.pruned_before = Some(start.seq);
            self.start = None;
        }
        self.pruned.extend(fields.segments);
    }

    fn fail(&mut self, problem: Problem) {
        // An unvouched start lies before anything found later, so it is the first problem.
        self.report.problem = Some(self.unvouched_start().unwrap_or(problem));
    }

    fn unvouched_start(&mut self) -> Option<Problem> {
        let start = self.start.take()?;
        Some(Problem {
            kind: ProblemKind::UnvouchedStart,
            seq: Some(start.seq),
            file: start.file,
            line: Some(start.line),
            reason: format!(
                "the log begins at seq {} but no audit_pruned entry records removing seq {} with hash {}: earlier entries were removed without audit",
                start.seq,
                start.seq - 1,
                start.prev
            ),
        })
    }

    fn finish(mut self) -> VerifyReport {
        if self.report.problem.is_some() {
            return self.report;
        }
        self.report.problem = self.unvouched_start().or_else(|| self.anchor_problem());
        self.report
    }

    /// The anchor was not met on the walk: say why it cannot be confirmed.
    fn anchor_problem(&self) -> Option<Problem> {
        let anchor = self.report.anchor.as_ref()?;
        let (first, last) = match (self.report.first_seq, self.report.last_seq) {
            (Some(first), Some(last)) if (first..=last).contains(&anchor.seq) => return None,
            (Some(first), Some(last)) => (first, last),
            _ => (0, 0),
        };
        let (kind, reason) = if anchor.seq > last {
            let why = if last == 0 {
                "the log holds no entries at all: it was removed or this is another box".to_owned()
            } else {
                format!(
                    "the log ends at seq {last}, before the anchor: later entries were removed, or the anchor is from another box"
                )
            };
            (ProblemKind::AnchorMissing, why)
        } else {
            let why = match self
                .pruned
                .iter()
                .find(|s| s.first_seq.unwrap_or(1) <= anchor.seq && anchor.seq <= s.last_seq)
            {
                Some(s) => format!(
                    "the anchor's entry was in {}, pruned (recorded by audit_pruned); it can no longer be checked",
                    s.file
                ),
                None => format!("the log now begins at seq {first}, after the anchor's entry"),
            };
            (ProblemKind::AnchorPruned, why)
        };
        Some(Problem {
            kind,
            seq: Some(anchor.seq),
            file: self.last_file.clone(),
            line: None,
            reason,
        })
    }
}
