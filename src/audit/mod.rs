//! The append-only, hash-chained audit log in `<state_dir>/audit.jsonl` and its monthly segments.
//!
//! Every line carries the hash of the line before it, so an edit, a deletion or a reordering
//! breaks the chain at a `seq` that `verify` can name. The format is fixed by SPEC ("Audit
//! log"): a verifier only hashes bytes and reads two fields, so it never re-serialises.
//!
//! - [`line`]: building a line and checking one line's bytes.
//! - [`segment`]: the segment files, their chain order, reading a file's tail.
//! - [`log`]: [`AuditLog`], the writer (append, rotation, torn-line recovery, pruning).
//! - [`verify`]: the read-only chain check and `audit tail`.

mod line;
mod log;
mod segment;
mod verify;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

pub use line::ZERO_HASH;
pub use log::{Appended, AuditLog};
pub use segment::{CURRENT, segments};
pub use verify::{Anchor, AnchorParseError, Problem, ProblemKind, VerifyReport, tail, verify};

/// What can go wrong reading or writing the audit log. Every message names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("audit event name {event:?} is not lowercase letters, digits and '_'")]
    EventName { event: String },
    #[error("cannot record audit event `{event}`: {reason}")]
    Fields { event: String, reason: String },
    #[error(
        "{}: {reason} (at byte {offset}); the log's head cannot be found, run `clipwarden audit verify`",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error(
        "{}: an earlier write failed and could not be undone; refusing to append after a partial line",
        path.display()
    )]
    Poisoned { path: PathBuf },
    #[error("audit keep period {keep} is negative")]
    NegativeKeep { keep: String },
}

impl AuditError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| AuditError::Io {
            action,
            path,
            source,
        }
    }
}
