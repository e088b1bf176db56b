//! The audit entries for registry holds, shared by the CLI that changes holds and the passes
//! that notice holds ending, vanishing or being purged.

use jiff::Timestamp;
use serde::Serialize;

use super::registry::{RegistryHold, Selector};

/// `hold_created`: everything the hold says, as it was made.
#[derive(Serialize)]
pub struct Created<'a> {
    pub id: &'a str,
    pub case: &'a str,
    pub reason: &'a str,
    pub by: &'a str,
    pub uid: u32,
    pub selector: &'a Selector,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Set when a pass records a hold whose own entry was never written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

impl<'a> Created<'a> {
    pub fn of(h: &'a RegistryHold, late: bool) -> Created<'a> {
        Created {
            id: &h.id,
            case: &h.case,
            reason: &h.reason,
            by: &h.created_by,
            uid: h.created_uid,
            selector: &h.selector,
            until: h.until,
            late,
        }
    }
}

/// `hold_released`.
#[derive(Serialize)]
pub struct Released<'a> {
    pub id: &'a str,
    pub case: &'a str,
    pub by: &'a str,
    pub uid: u32,
    pub reason: &'a str,
}

/// `hold_extended`.
#[derive(Serialize)]
pub struct Extended<'a> {
    pub id: &'a str,
    pub case: &'a str,
    pub by: &'a str,
    pub uid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_was: Option<Timestamp>,
    pub until: Timestamp,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub capped: bool,
}

/// `hold_ended` (its `until` passed), `hold_purged` (removed after `keep_released`) and
/// `hold_vanished` (its file went without either).
#[derive(Serialize)]
pub struct Lifecycle<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}
