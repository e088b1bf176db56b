//! Anchoring the audit chain off the box: an `anchor` entry whose `seq` and `hash` go to the
//! journal under a fixed `MESSAGE_ID`, for the site's log forwarding to carry away. Someone
//! with root can rewrite the whole log, but not the copies already shipped.

use jiff::Timestamp;

use crate::audit::{AuditError, AuditLog};
use crate::lock::{LockError, StateLock};

/// The journal's `MESSAGE_ID` for anchors, fixed so log forwarding can select them.
pub const MESSAGE_ID: &str = "5f0c1a3e9b7d4c28a6e2f1d0b3c4a5e6";

#[derive(Debug, thiserror::Error)]
pub enum AnchorError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Writes an `anchor` entry and logs its `seq` and `hash`; returns the seq.
pub fn write(state_dir: &std::path::Path, now: Timestamp) -> Result<u64, AnchorError> {
    // Briefly: the daemon's loop (and its watchdog) must not wait on a long CLI pass.
    let lock = StateLock::acquire(state_dir, std::time::Duration::from_secs(1))?;
    let mut audit = AuditLog::open(&lock, now)?;
    let a = audit.append(now, "anchor", &())?;
    audit.sync()?;
    tracing::info!(
        message_id = MESSAGE_ID,
        anchor_seq = a.seq,
        anchor_hash = %a.hash,
        "audit anchor {}:{}",
        a.seq,
        a.hash
    );
    Ok(a.seq)
}
