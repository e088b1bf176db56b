//! Registry upkeep at the start of a pass, under the state lock: every hold gets its audit
//! entries even when the command that changed it could not write them, holds whose `until`
//! passed are recorded as ended, old ended holds are purged, and a hold file that vanished
//! without a release or purge raises the alarm.

use jiff::{SignedDuration, Timestamp};

use crate::audit::{AuditError, AuditLog};
use crate::holds::entries::{Created, Lifecycle};
use crate::holds::registry::{Registry, RegistryError, RegistryHold};
use crate::state::State;

/// How long `status` keeps showing a vanished hold's alarm.
pub const VANISHED_SHOWN: SignedDuration = SignedDuration::from_hours(7 * 24);

#[derive(Debug, thiserror::Error)]
pub enum UpkeepError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Brings the registry and the audit log into step; returns the holds now in the registry
/// and any alarms.
pub fn run(
    registry: &Registry,
    state: &mut State,
    audit: &mut AuditLog,
    keep_released: SignedDuration,
    now: Timestamp,
) -> Result<(Vec<RegistryHold>, Vec<String>), UpkeepError> {
    let lock = registry.lock(true, std::time::Duration::from_secs(30))?;
    let mut holds = registry.load()?;
    let mut alarms = Vec::new();

    for id in state.known_holds.clone() {
        if !holds.iter().any(|h| h.id == id) {
            audit.append(
                now,
                "hold_vanished",
                &Lifecycle {
                    id: &id,
                    case: None,
                    at: None,
                },
            )?;
            alarms.push(format!(
                "hold {id} vanished from the registry without being released or purged: its footage is no longer protected; find out who removed {}",
                registry.path_of(&id).display()
            ));
            tracing::error!(hold = %id, "hold file vanished");
            state.known_holds.remove(&id);
            state.vanished_holds.insert(id.clone(), now);
        }
    }

    state
        .vanished_holds
        .retain(|_, at| now.duration_since(*at) < VANISHED_SHOWN);
    let mut keep = Vec::with_capacity(holds.len());
    for mut h in holds.drain(..) {
        if h.audit_seq.is_none() {
            let a = audit.append(now, "hold_created", &Created::of(&h, true))?;
            h.audit_seq = Some(a.seq);
            registry.save(&h, &lock)?;
        }
        if h.released.is_none()
            && h.ended.is_none()
            && let Some(until) = h.until.filter(|u| *u < now)
        {
            audit.append(
                now,
                "hold_ended",
                &Lifecycle {
                    id: &h.id,
                    case: Some(&h.case),
                    at: Some(until),
                },
            )?;
            h.ended = Some(now);
            registry.save(&h, &lock)?;
        }
        let purge = h
            .ended_at(now)
            .is_some_and(|end| now.duration_since(end) > keep_released);
        if purge {
            audit.append(
                now,
                "hold_purged",
                &Lifecycle {
                    id: &h.id,
                    case: Some(&h.case),
                    at: h.ended_at(now),
                },
            )?;
            audit.sync()?;
            registry.remove(&h.id, &lock)?;
            state.known_holds.remove(&h.id);
            continue;
        }
        state.known_holds.insert(h.id.clone());
        keep.push(h);
    }
    audit.sync()?;
    Ok((keep, alarms))
}
