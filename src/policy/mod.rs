//! The planner: a pure function of clips, holds, rules and `now` that says which clips go
//! and why. No I/O and no clock, so every rule here is testable with plain values, and the
//! executor can ask the same question again just before it unlinks.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::clip::Clip;
use crate::holds::{HoldIdx, Holds};
use crate::scan::is_unjudgeable;

/// Why a clip is deleted. The names are the audit log's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Older than its retention, never held.
    Retention,
    /// Older than its retention; the holds that kept it have ended.
    HoldEnded,
    /// Held, but older than the hold cap: no hold keeps a clip longer.
    HoldCap,
    /// Named by a data subject's erasure request.
    Erasure,
    /// The filesystem is below `min_free`: the oldest unheld footage goes first.
    DiskPressure,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Retention => "retention",
            Reason::HoldEnded => "hold_ended",
            Reason::HoldCap => "hold_cap",
            Reason::Erasure => "erasure",
            Reason::DiskPressure => "disk_pressure",
        }
    }
}

/// Why a clip that is past its retention stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// An active hold covers it and the cap is not reached.
    Held,
    /// Written within the quiet period (or mtime in the future and ctime within it).
    BeingWritten,
    /// Dated in the future or before 2020. `overdue` once its ctime is past the hold cap.
    Unjudgeable { overdue: bool },
}

/// The retention rules the planner applies.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Retention per camera, indexed by [`crate::clip::CameraId`].
    pub retention: Vec<SignedDuration>,
    pub hold_cap: SignedDuration,
    pub quiet_period: SignedDuration,
    pub future_slack: SignedDuration,
    /// Per root: disk pressure never takes footage younger than this.
    pub min_keep: Vec<SignedDuration>,
}

impl Rules {
    fn retention_of(&self, clip: &Clip) -> SignedDuration {
        self.retention[clip.camera.0 as usize]
    }
}

/// The verdict on one clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delete {
        reason: Reason,
        limit: SignedDuration,
    },
    Keep(Keep),
    /// Younger than its limit.
    NotDue,
}

/// A planned deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Index into the clips the plan was made from.
    pub clip: usize,
    pub reason: Reason,
    /// The limit the clip passed: its retention, or the hold cap.
    pub limit: SignedDuration,
    /// Every hold that covered it, active or ended.
    pub holds: Vec<HoldIdx>,
}

/// A clip past its retention that stays, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub clip: usize,
    pub why: Keep,
    pub holds: Vec<HoldIdx>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub kept: Vec<Kept>,
}

/// A clip's age: now minus its recording time.
pub fn age(clip: &Clip, now: Timestamp) -> SignedDuration {
    now.duration_since(clip.recorded)
}

/// When the file was last written, for the quiet period: a future mtime is not believed, the
/// ctime (which the kernel sets) is used instead.
pub fn last_write(clip: &Clip, now: Timestamp) -> Timestamp {
    if clip.meta.mtime > now {
        clip.meta.ctime
    } else {
        clip.meta.mtime
    }
}

/// A clip dated in the future or before 2020 is kept, whatever else is true of it; once its
/// ctime is past the hold cap it is overdue, so it is not forgotten.
fn unjudgeable(clip: &Clip, rules: &Rules, now: Timestamp) -> Option<Verdict> {
    is_unjudgeable(clip.recorded, now, rules.future_slack).then(|| {
        let overdue = now.duration_since(clip.meta.ctime) > rules.hold_cap;
        Verdict::Keep(Keep::Unjudgeable { overdue })
    })
}

/// The verdict on one clip, given every hold that covers it.
pub fn decide(
    clip: &Clip,
    covering: &[HoldIdx],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
) -> Verdict {
    if let Some(v) = unjudgeable(clip, rules, now) {
        return v;
    }
    let age = age(clip, now);
    let retention = rules.retention_of(clip);
    let active = covering.iter().any(|&h| holds.get(h).is_active(now));
    let (reason, limit) = if active {
        if age > rules.hold_cap {
            (Reason::HoldCap, rules.hold_cap)
        } else if age > retention {
            return Verdict::Keep(Keep::Held);
        } else {
            return Verdict::NotDue;
        }
    } else if age > retention {
        let reason = if covering.is_empty() {
            Reason::Retention
        } else {
            Reason::HoldEnded
        };
        (reason, retention)
    } else {
        return Verdict::NotDue;
    };
    if now.duration_since(last_write(clip, now)) < rules.quiet_period {
        return Verdict::Keep(Keep::BeingWritten);
    }
    Verdict::Delete { reason, limit }
}

/// The verdict on a clip an erasure request names: it goes now, whatever its age, unless an
/// active hold keeps it (within the cap), it is still being written, or it cannot be judged.
pub fn decide_erasure(
    clip: &Clip,
    covering: &[HoldIdx],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
) -> Verdict {
    if let Some(v) = unjudgeable(clip, rules, now) {
        return v;
    }
    let held = covering.iter().any(|&h| holds.get(h).is_active(now));
    if held && age(clip, now) <= rules.hold_cap {
        return Verdict::Keep(Keep::Held);
    }
    if now.duration_since(last_write(clip, now)) < rules.quiet_period {
        return Verdict::Keep(Keep::BeingWritten);
    }
    Verdict::Delete {
        reason: Reason::Erasure,
        limit: SignedDuration::ZERO,
    }
}

/// The verdict on a clip disk pressure would take: never one held, still being written,
/// undatable, or younger than its root's `min_keep`.
pub fn decide_pressure(
    clip: &Clip,
    covering: &[HoldIdx],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
) -> Verdict {
    if let Some(v) = unjudgeable(clip, rules, now) {
        return v;
    }
    if covering.iter().any(|&h| holds.get(h).is_active(now)) {
        return Verdict::Keep(Keep::Held);
    }
    let min_keep = rules
        .min_keep
        .get(usize::from(clip.root()))
        .copied()
        .unwrap_or(SignedDuration::MAX);
    if age(clip, now) <= min_keep {
        return Verdict::NotDue;
    }
    if now.duration_since(last_write(clip, now)) < rules.quiet_period {
        return Verdict::Keep(Keep::BeingWritten);
    }
    Verdict::Delete {
        reason: Reason::DiskPressure,
        limit: min_keep,
    }
}

/// Adds disk-pressure deletions to `plan` for the clips `eligible` names (one filesystem's
/// clips): oldest first, until `need` bytes would be freed. Returns the bytes still missing.
pub fn plan_pressure(
    plan: &mut Plan,
    clips: &[Clip],
    eligible: &[usize],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
    need: u64,
) -> u64 {
    let planned: std::collections::HashSet<usize> = plan.actions.iter().map(|a| a.clip).collect();
    let mut order: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|i| !planned.contains(i))
        .collect();
    order.sort_by_key(|&i| clips[i].recorded);
    let mut freed = 0u64;
    let mut covering = Vec::new();
    for i in order {
        if freed >= need {
            break;
        }
        covering.clear();
        holds.covering(&clips[i], &mut covering);
        if let Verdict::Delete { reason, limit } =
            decide_pressure(&clips[i], &covering, holds, rules, now)
        {
            freed += clips[i].meta.size;
            plan.actions.push(Action {
                clip: i,
                reason,
                limit,
                holds: covering.clone(),
            });
        }
    }
    need.saturating_sub(freed)
}

/// The verdict for a planned action, by the rule that planned it.
pub fn redecide(
    planned: Reason,
    clip: &Clip,
    covering: &[HoldIdx],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
) -> Verdict {
    match planned {
        Reason::Erasure => decide_erasure(clip, covering, holds, rules, now),
        Reason::DiskPressure => decide_pressure(clip, covering, holds, rules, now),
        Reason::Retention | Reason::HoldEnded | Reason::HoldCap => {
            decide(clip, covering, holds, rules, now)
        }
    }
}

/// When a clip stops being kept, if nothing changes: retention, or for a held clip the end of
/// its holds (never past the cap). `None` while it cannot be judged.
pub fn expires(
    clip: &Clip,
    covering: &[HoldIdx],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
) -> Option<Timestamp> {
    if is_unjudgeable(clip.recorded, now, rules.future_slack) {
        return None;
    }
    let retention_end = clip
        .recorded
        .saturating_add(rules.retention_of(clip))
        .ok()?;
    let cap_end = clip.recorded.saturating_add(rules.hold_cap).ok()?;
    let mut end = retention_end;
    for &h in covering {
        let hold = holds.get(h);
        if hold.is_active(now) {
            let hold_end = hold.until.unwrap_or(cap_end).min(cap_end);
            end = end.max(hold_end);
        }
    }
    let quiet_end = last_write(clip, now)
        .saturating_add(rules.quiet_period)
        .ok()?;
    Some(end.max(quiet_end))
}

/// Plans a pass: every clip that is due goes, with its reason; clips past retention that stay
/// are listed with why.
pub fn plan(clips: &[Clip], holds: &Holds, rules: &Rules, now: Timestamp) -> Plan {
    let mut p = Plan::default();
    let mut covering = Vec::new();
    for (i, clip) in clips.iter().enumerate() {
        covering.clear();
        holds.covering(clip, &mut covering);
        match decide(clip, &covering, holds, rules, now) {
            Verdict::Delete { reason, limit } => p.actions.push(Action {
                clip: i,
                reason,
                limit,
                holds: covering.clone(),
            }),
            Verdict::Keep(why) => p.kept.push(Kept {
                clip: i,
                why,
                holds: covering.clone(),
            }),
            Verdict::NotDue => {}
        }
    }
    p
}

/// A hold whose oldest footage reaches the hold cap soon: staff must export before then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapWarning {
    pub hold: HoldIdx,
    /// When its oldest covered clip reaches the cap and is deleted.
    pub first_cap: Timestamp,
    pub clips: u64,
}

/// Active holds whose footage reaches the cap within `warn_before` of `now`.
pub fn cap_warnings(
    clips: &[Clip],
    holds: &Holds,
    rules: &Rules,
    now: Timestamp,
    warn_before: SignedDuration,
) -> Vec<CapWarning> {
    let mut by_hold: std::collections::BTreeMap<HoldIdx, CapWarning> =
        std::collections::BTreeMap::new();
    let mut covering = Vec::new();
    let horizon = now.saturating_add(warn_before).unwrap_or(now);
    for clip in clips {
        covering.clear();
        holds.covering(clip, &mut covering);
        let Ok(cap) = clip.recorded.checked_add(rules.hold_cap) else {
            continue;
        };
        if cap > horizon || is_unjudgeable(clip.recorded, now, rules.future_slack) {
            continue;
        }
        for &h in covering.iter().filter(|&&h| holds.get(h).is_active(now)) {
            let w = by_hold.entry(h).or_insert(CapWarning {
                hold: h,
                first_cap: cap,
                clips: 0,
            });
            w.first_cap = w.first_cap.min(cap);
            w.clips += 1;
        }
    }
    by_hold.into_values().collect()
}

#[cfg(test)]
mod tests;
