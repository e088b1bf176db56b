//! Times typed by people under stress: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` in the configured
//! zone, or `HH:MM` alone (for a window's start its most recent past occurrence, for its end
//! the first occurrence after the start). A local time in the daylight-saving fold names two
//! instants; a window then covers both.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// What a typed time is for.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    /// A window's start, or a single point in time.
    From,
    /// A window's end, after the given start.
    To(Timestamp),
    /// A window's end with no start: `HH:MM` is its most recent past occurrence.
    Until,
    /// A deadline (`--until`): `HH:MM` is its next occurrence, a bare date its last second.
    Ahead,
}

/// A typed time, resolved. `earliest == latest` unless it fell in a DST fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub earliest: Timestamp,
    pub latest: Timestamp,
}

impl Resolved {
    fn one(t: Timestamp) -> Resolved {
        Resolved {
            earliest: t,
            latest: t,
        }
    }

    /// For a window's start the earlier instant, for its end the later one, so a window typed
    /// in local time covers everything the words could mean.
    pub fn for_role(&self, role: Role) -> Timestamp {
        match role {
            Role::From => self.earliest,
            Role::To(_) | Role::Until | Role::Ahead => self.latest,
        }
    }
}

const FORMS: &str =
    "use RFC 3339 (2026-11-28T18:00:00+01:00), a local \"2026-11-28 18:00\", or \"18:00\"";

/// Parses `text` for `role` at `now` in `zone`.
pub fn parse(text: &str, role: Role, zone: &TimeZone, now: Timestamp) -> Result<Resolved, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("empty time: {FORMS}"));
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(Resolved::one(ts));
    }
    if let Some(time) = parse_clock(t) {
        let today = zone.to_datetime(now).date();
        return match role {
            Role::From | Role::Until => {
                let r = local(today.to_datetime(time), zone)?;
                if r.earliest <= now {
                    Ok(r)
                } else {
                    local(yesterday(today)?.to_datetime(time), zone)
                }
            }
            Role::Ahead => {
                let r = local(today.to_datetime(time), zone)?;
                if r.latest > now {
                    Ok(r)
                } else {
                    local(
                        today
                            .tomorrow()
                            .map_err(|e| e.to_string())?
                            .to_datetime(time),
                        zone,
                    )
                }
            }
            Role::To(from) => {
                let day = zone.to_datetime(from).date();
                let r = local(day.to_datetime(time), zone)?;
                if r.latest > from {
                    Ok(r)
                } else {
                    local(
                        day.tomorrow().map_err(|e| e.to_string())?.to_datetime(time),
                        zone,
                    )
                }
            }
        };
    }
    let normalized = t.replacen(' ', "T", 1);
    if let Ok(dt) = normalized.parse::<DateTime>()
        && normalized.len() > 10
    {
        return local(dt, zone);
    }
    if let Ok(d) = t.parse::<Date>()
        && t.len() == 10
    {
        // A bare date: its start for a window's start, its last second for a window's end.
        let time = match role {
            Role::From => Time::midnight(),
            Role::To(_) | Role::Until | Role::Ahead => Time::constant(23, 59, 59, 0),
        };
        return local(d.to_datetime(time), zone);
    }
    Err(format!("\"{text}\" is not a time I can read: {FORMS}"))
}

fn yesterday(d: Date) -> Result<Date, String> {
    d.yesterday().map_err(|e| e.to_string())
}

/// `HH:MM` or `HH:MM:SS`.
fn parse_clock(t: &str) -> Option<Time> {
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<i8>().ok());
    Time::new(n(0)?, n(1)?, n(2)?, 0).ok()
}

/// A civil time in `zone`: both instants in a fold, shifted forward in a gap.
fn local(dt: DateTime, zone: &TimeZone) -> Result<Resolved, String> {
    let amb = zone.to_ambiguous_timestamp(dt);
    let earliest = amb.compatible().map_err(|e| e.to_string())?;
    let latest = amb.later().map_err(|e| e.to_string())?;
    Ok(Resolved {
        earliest,
        latest: latest.max(earliest),
    })
}

/// How a resolved time is echoed back: `2026-11-28 18:00:00 +01:00 (19h 15m ago)`.
pub fn echo(r: &Resolved, zone: &TimeZone, now: Timestamp) -> String {
    let one = |t: Timestamp| {
        format!(
            "{} ({})",
            crate::human::time(t, zone),
            crate::human::relative(t, now)
        )
    };
    if r.earliest == r.latest {
        one(r.earliest)
    } else {
        format!(
            "{} or {} (a daylight-saving fold: both are covered)",
            one(r.earliest),
            one(r.latest)
        )
    }
}

/// How far ahead of now a window may end (`hold add` refuses more).
pub const MAX_AHEAD: SignedDuration = SignedDuration::from_hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    fn oslo() -> TimeZone {
        TimeZone::get("Europe/Oslo").unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn forms() {
        let now = ts("2026-11-29T01:10:00Z"); // 02:10 in Oslo
        let z = oslo();
        let from = |s| parse(s, Role::From, &z, now).map(|r| r.earliest);
        assert_eq!(
            from("2026-11-28T18:00:00+01:00"),
            Ok(ts("2026-11-28T17:00:00Z"))
        );
        assert_eq!(from("2026-11-28T17:00:00Z"), Ok(ts("2026-11-28T17:00:00Z")));
        assert_eq!(from("2026-11-28 18:00"), Ok(ts("2026-11-28T17:00:00Z")));
        assert_eq!(from("2026-11-28 18:00:30"), Ok(ts("2026-11-28T17:00:30Z")));
        assert_eq!(from("2026-11-28"), Ok(ts("2026-11-27T23:00:00Z")));
        // At 02:10, "23:50" is yesterday's; "01:00" is today's.
        assert_eq!(from("23:50"), Ok(ts("2026-11-28T22:50:00Z")));
        assert_eq!(from("01:00"), Ok(ts("2026-11-29T00:00:00Z")));
        for bad in ["", "tomorrow", "25:00", "2026-13-01 10:00", "18h00", "1:00"] {
            let err = from(bad).unwrap_err();
            assert!(
                err.contains("RFC 3339") || err.contains("empty"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn to_follows_from() {
        let z = oslo();
        let now = ts("2026-11-29T01:10:00Z");
        let from = parse("23:50", Role::From, &z, now).unwrap().earliest;
        let to = parse("00:30", Role::To(from), &z, now).unwrap().latest;
        assert_eq!(
            to,
            ts("2026-11-28T23:30:00Z"),
            "the first 00:30 after 23:50 is the next day"
        );
        let to = parse("23:55", Role::To(from), &z, now).unwrap().latest;
        assert_eq!(to, ts("2026-11-28T22:55:00Z"));
        let to = parse("2026-11-28", Role::To(from), &z, now).unwrap().latest;
        assert_eq!(
            to,
            ts("2026-11-28T22:59:59Z"),
            "a bare date ends at its last second"
        );
    }

    #[test]
    fn the_fold_names_both_instants_and_the_gap_shifts_forward() {
        let z = oslo();
        let now = ts("2026-12-01T00:00:00Z");
        let fold = parse("2026-10-25 02:30", Role::From, &z, now).unwrap();
        assert_eq!(fold.earliest, ts("2026-10-25T00:30:00Z"));
        assert_eq!(fold.latest, ts("2026-10-25T01:30:00Z"));
        assert!(echo(&fold, &z, now).contains("both are covered"));
        let gap = parse("2026-03-29 02:30", Role::From, &z, now).unwrap();
        assert_eq!(gap.earliest, ts("2026-03-29T01:30:00Z"));
        assert_eq!(gap.latest, gap.earliest);
    }
}
