//! One audit line: how the writer builds it, and how a reader checks its bytes by SPEC's rule.
//!
//! `{"seq":N,"ts":"…","event":"…",…fields…,"prev":"<64 hex>","hash":"<64 hex>"}` + `\n`.
//! The fields are spliced in as serde_json wrote them, so the hash covers exactly the bytes on
//! disk and nobody has to agree on a canonical JSON form.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::AuditError;
use crate::digest::sha256_hex;

/// `prev` of the first entry ever.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What separates the hashed prefix from the hash. A nested object may contain the same bytes
/// (a field named `hash`), which is why readers look for its *last* occurrence.
pub(crate) const HASH_MARK: &[u8] = b",\"hash\":\"";

/// Members the line itself owns; a field with one of these names would shadow it for readers.
const RESERVED: [&str; 5] = ["seq", "ts", "event", "prev", "hash"];

/// Checks that an event name is a plain identifier, so lines stay greppable.
pub(crate) fn check_event_name(event: &str) -> Result<(), AuditError> {
    let mut bytes = event.bytes();
    let plain = event.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(AuditError::EventName {
            event: event.to_owned(),
        })
    }
}

/// Serialises `fields` and returns its members without the braces ("" for no fields).
pub(crate) fn fields_inner<T: serde::Serialize + ?Sized>(
    event: &str,
    fields: &T,
) -> Result<String, AuditError> {
    let fail = |reason: String| AuditError::Fields {
        event: event.to_owned(),
        reason,
    };
    let json = serde_json::to_string(fields).map_err(|e| fail(e.to_string()))?;
    // `()` and unit structs serialise as null: an event with nothing more to say.
    if json == "null" {
        return Ok(String::new());
    }
    if !(json.starts_with('{') && json.ends_with('}')) {
        return Err(fail(format!(
            "fields must serialise to a JSON object, got {json:.40}"
        )));
    }
    // serde_json escapes newlines inside strings; only a hand-made RawValue could carry one,
    // and a raw newline would split the entry in two.
    if json.contains('\n') {
        return Err(fail("fields contain a raw newline".into()));
    }
    let keys: HashMap<String, IgnoredAny> =
        serde_json::from_str(&json).map_err(|e| fail(e.to_string()))?;
    if let Some(key) = RESERVED.iter().find(|k| keys.contains_key(**k)) {
        return Err(fail(format!(
            "field `{key}` is reserved for the line itself"
        )));
    }
    Ok(json[1..json.len() - 1].to_owned())
}

/// Builds the full line (with its trailing newline) and returns it with its hash.
pub(crate) fn build_line(
    seq: u64,
    ts: Timestamp,
    event: &str,
    inner: &str,
    prev: &str,
) -> (String, String) {
    let mut line = String::with_capacity(200 + inner.len());
    line.push_str("{\"seq\":");
    line.push_str(&seq.to_string());
    line.push_str(",\"ts\":\"");
    line.push_str(&ts.to_string());
    // Event names are checked identifiers, so they need no escaping.
    line.push_str("\",\"event\":\"");
    line.push_str(event);
    line.push('"');
    if !inner.is_empty() {
        line.push(',');
        line.push_str(inner);
    }
    line.push_str(",\"prev\":\"");
    line.push_str(prev);
    line.push('"');
    let hash = sha256_hex(line.as_bytes());
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}\n");
    (line, hash)
}

/// The members of a line that the chain and the writer need.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Entry {
    pub seq: u64,
    pub ts: String,
    pub event: String,
    pub prev: String,
    pub hash: String,
}

/// Why one line is not a valid entry on its own (before looking at its neighbours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineFault {
    NoHash,
    HashMismatch { stored: String, computed: String },
    Malformed(String),
}

impl LineFault {
    pub fn is_hash_mismatch(&self) -> bool {
        matches!(self, LineFault::HashMismatch { .. })
    }
}

impl std::fmt::Display for LineFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineFault::NoHash => f.write_str("no `\"hash\":\"<64 hex>\"}` at the end of the line"),
            LineFault::HashMismatch { stored, computed } => write!(
                f,
                "hash does not match the line's bytes (stored {stored}, computed {computed}): the line was altered"
            ),
            LineFault::Malformed(why) => write!(f, "not a valid entry: {why}"),
        }
    }
}

/// Checks one line (without its newline) by bytes alone, then reads its members.
pub(crate) fn check_line(line: &[u8]) -> Result<Entry, LineFault> {
    let at = rfind(line, HASH_MARK).ok_or(LineFault::NoHash)?;
    let stored = &line[at + HASH_MARK.len()..];
    let well_formed = stored.len() == 66
        && stored[..64]
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && &stored[64..] == b"\"}";
    if !well_formed {
        return Err(LineFault::NoHash);
    }
    let stored = String::from_utf8_lossy(&stored[..64]).into_owned();
    let computed = sha256_hex(&line[..at]);
    if stored != computed {
        return Err(LineFault::HashMismatch { stored, computed });
    }
    let entry: Entry =
        serde_json::from_slice(line).map_err(|e| LineFault::Malformed(e.to_string()))?;
    if entry.hash != stored {
        return Err(LineFault::Malformed("`hash` is not the last member".into()));
    }
    if !is_hash_text(&entry.prev) {
        return Err(LineFault::Malformed(
            "`prev` is not 64 lowercase hex digits".into(),
        ));
    }
    if entry.seq == 0 {
        return Err(LineFault::Malformed("`seq` starts at 1".into()));
    }
    Ok(entry)
}

/// Reads `seq` (and `ts`) from the start of a line without trusting the rest of it, so a
/// damaged line can still be named by its `seq`, and a segment ordered by its first entry.
pub(crate) fn lenient_head(line: &[u8]) -> (Option<u64>, Option<&str>) {
    let Some(rest) = line.strip_prefix(b"{\"seq\":") else {
        return (None, None);
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let seq = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|s| s.parse().ok());
    let ts = rest[digits..]
        .strip_prefix(b",\"ts\":\"")
        .and_then(|r| r.iter().position(|&b| b == b'"').map(|end| &r[..end]))
        .and_then(|ts| std::str::from_utf8(ts).ok());
    (seq, ts)
}

pub(crate) fn is_hash_text(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The UTC (year, month) a segment is named by.
pub(crate) fn month_of(ts: Timestamp) -> (i16, i8) {
    let zdt = ts.to_zoned_datetime(TimeZone::UTC);
    (zdt.year(), zdt.month())
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

pub(crate) use crate::digest::base64;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Serialize)]
    struct Sweep<'a> {
        deleted: u32,
        bytes: u64,
        note: &'a str,
    }

    fn ts() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn line_layout_snapshot() {
        let inner = fields_inner(
            "sweep",
            &Sweep {
                deleted: 3,
                bytes: 1024,
                note: "a\"b\\c\u{1}é",
            },
        )
        .unwrap();
        let (line, hash) = build_line(1, ts(), "sweep", &inner, ZERO_HASH);
        let prefix = format!(
            r#"{{"seq":1,"ts":"2024-05-01T12:00:00Z","event":"sweep","deleted":3,"bytes":1024,"note":"a\"b\\c\u0001é","prev":"{ZERO_HASH}""#
        );
        assert_eq!(hash, sha256_hex(prefix.as_bytes()));
        assert_eq!(line, format!("{prefix},\"hash\":\"{hash}\"}}\n"));
    }

    #[test]
    fn empty_fields_leave_no_stray_comma() {
        assert_eq!(fields_inner("anchor", &()).unwrap(), "");
        let inner = fields_inner("anchor", &serde_json::json!({})).unwrap();
        let (line, hash) = build_line(7, ts(), "anchor", &inner, &"ab".repeat(32));
        let prefix = format!(
            r#"{{"seq":7,"ts":"2024-05-01T12:00:00Z","event":"anchor","prev":"{}""#,
            "ab".repeat(32)
        );
        assert_eq!(
            line,
            format!(
                "{prefix},\"hash\":\"{}\"}}\n",
                sha256_hex(prefix.as_bytes())
            )
        );
        assert_eq!(check_line(line.trim_end().as_bytes()).unwrap().hash, hash);
    }

    #[test]
    fn fields_that_would_confuse_readers_are_refused() {
        for bad in [
            serde_json::json!({"prev": "x"}),
            serde_json::json!({"hash": "x"}),
            serde_json::json!([1, 2]),
            serde_json::json!("text"),
        ] {
            let err = fields_inner("sweep", &bad).unwrap_err();
            assert!(err.to_string().contains("sweep"), "{err}");
        }
        // A nested `hash` is fine: readers take the last `,"hash":"`.
        let inner = fields_inner("x", &serde_json::json!({"h": {"a": 1, "hash": "q"}})).unwrap();
        let (line, _) = build_line(1, ts(), "x", &inner, ZERO_HASH);
        check_line(line.trim_end().as_bytes()).unwrap();
    }

    #[test]
    fn event_names_are_identifiers() {
        check_event_name("clips_deleted").unwrap();
        for bad in ["", "Sweep", "a\"b", "a b", "1x", &"x".repeat(65)] {
            assert!(check_event_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn check_line_names_each_fault() {
        let (line, _) = build_line(5, ts(), "sweep", "\"n\":1", ZERO_HASH);
        let line = line.trim_end().as_bytes().to_vec();
        assert_eq!(check_line(&line).unwrap().seq, 5);

        let mut edited = line.clone();
        let at = edited.iter().position(|&b| b == b'1').unwrap();
        edited[at] = b'2';
        assert!(check_line(&edited).unwrap_err().is_hash_mismatch());
        assert_eq!(lenient_head(&edited).0, Some(5));

        assert_eq!(check_line(&line[..line.len() - 1]), Err(LineFault::NoHash));
        assert_eq!(check_line(b"{}"), Err(LineFault::NoHash));
        // A prefix that hashes right but is not JSON is still refused.
        let junk = b"not json".to_vec();
        let mut forged = junk.clone();
        forged.extend_from_slice(HASH_MARK);
        forged.extend_from_slice(sha256_hex(&junk).as_bytes());
        forged.extend_from_slice(b"\"}");
        assert!(matches!(check_line(&forged), Err(LineFault::Malformed(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = check_line(&bytes);
            let _ = lenient_head(&bytes);
        }

        #[test]
        fn any_string_field_round_trips(s in any::<String>(), seq in 1u64..u64::MAX) {
            let inner = fields_inner("x", &serde_json::json!({ "s": s })).unwrap();
            let (line, hash) = build_line(seq, ts(), "x", &inner, ZERO_HASH);
            prop_assert_eq!(line.matches('\n').count(), 1);
            let entry = check_line(line.trim_end_matches('\n').as_bytes()).unwrap();
            prop_assert_eq!(entry.seq, seq);
            prop_assert_eq!(entry.hash, hash);
        }
    }
}
