//! Marker files (`<clip>.hold`, `.hold`): read without following links, without blocking and
//! without trusting the size, so a hostile or broken marker can only ever hold more, never
//! less.

use std::io::Read;
use std::os::fd::{BorrowedFd, FromRawFd, IntoRawFd};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use serde::Deserialize;

use crate::digest::sha256_hex;
use crate::fsx::{FileKind, FileMeta};

/// Markers larger than this are not read; they still hold.
pub const MAX_MARKER_BYTES: u64 = 64 * 1024;

/// The optional details a marker may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkerInfo {
    pub case: Option<String>,
    pub reason: Option<String>,
    pub by: Option<String>,
    pub created: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// A marker file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerFile {
    /// `None` when the marker could not even be opened.
    pub meta: Option<FileMeta>,
    pub sha256: Option<String>,
    pub info: MarkerInfo,
    /// Why the marker could not be read or parsed. It holds regardless (fail closed).
    pub problem: Option<String>,
}

#[derive(Deserialize)]
struct RawMarker {
    case: Option<toml::Value>,
    reason: Option<toml::Value>,
    by: Option<toml::Value>,
    created: Option<toml::Value>,
    until: Option<toml::Value>,
}

/// Reads the marker `name` in `dir`. Never fails: whatever goes wrong becomes `problem`.
pub fn read(dir: BorrowedFd<'_>, name: &[u8], zone: &TimeZone) -> MarkerFile {
    let mut m = MarkerFile {
        meta: None,
        sha256: None,
        info: MarkerInfo::default(),
        problem: None,
    };
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY;
    let fd = match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::Error::ELOOP) => {
            m.meta = crate::fsx::stat_at(dir, name).ok();
            m.problem = Some("is a symlink; markers are never followed".into());
            return m;
        }
        Err(e) => {
            m.meta = crate::fsx::stat_at(dir, name).ok();
            m.problem = Some(format!("cannot be opened: {}", e.desc()));
            return m;
        }
    };
    // SAFETY: `fd` is a freshly opened descriptor that we own.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd.into_raw_fd()) };
    let meta = match crate::fsx::stat_fd(std::os::fd::AsFd::as_fd(&file)) {
        Ok(meta) => meta,
        Err(e) => {
            m.problem = Some(format!("cannot be examined: {e}"));
            return m;
        }
    };
    m.meta = Some(meta);
    if meta.kind != FileKind::File {
        m.problem = Some("is not a regular file".into());
        return m;
    }
    if meta.size > MAX_MARKER_BYTES {
        m.problem = Some(format!(
            "is {} bytes, more than the 64 KiB a marker may have",
            meta.size
        ));
        return m;
    }
    let mut bytes = Vec::with_capacity(meta.size as usize);
    if let Err(e) = (&mut file)
        .take(MAX_MARKER_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        m.problem = Some(format!("cannot be read: {e}"));
        return m;
    }
    if bytes.len() as u64 > MAX_MARKER_BYTES {
        m.problem = Some("grew past 64 KiB while being read".into());
        return m;
    }
    m.sha256 = Some(sha256_hex(&bytes));
    match parse(&bytes, zone) {
        Ok(info) => m.info = info,
        Err(problem) => m.problem = Some(problem),
    }
    m
}

/// Parses marker content: empty, or TOML with `case`, `reason`, `by`, `created`, `until`.
pub fn parse(bytes: &[u8], zone: &TimeZone) -> Result<MarkerInfo, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    if text.trim().is_empty() {
        return Ok(MarkerInfo::default());
    }
    let raw: RawMarker = toml::from_str(text)
        .map_err(|e| format!("is not valid marker TOML: {}", e.message().trim()))?;
    let string = |v: Option<toml::Value>, key: &str| -> Result<Option<String>, String> {
        match v {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("has a {key} that is not a string")),
        }
    };
    Ok(MarkerInfo {
        case: string(raw.case, "case")?,
        reason: string(raw.reason, "reason")?,
        by: string(raw.by, "by")?,
        created: time(raw.created, "created", zone)?,
        until: time(raw.until, "until", zone)?,
    })
}

/// A TOML datetime or RFC 3339 string. A local date-time is read in the configured zone; a
/// bare date means the end of that day there, since a hold "until the 5th" keeps the 5th.
fn time(v: Option<toml::Value>, key: &str, zone: &TimeZone) -> Result<Option<Timestamp>, String> {
    let text = match v {
        None => return Ok(None),
        Some(toml::Value::Datetime(d)) => d.to_string(),
        Some(toml::Value::String(s)) => s,
        Some(_) => return Err(format!("has a {key} that is not a time")),
    };
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(Some(ts));
    }
    let civil = match text.parse::<jiff::civil::Date>() {
        Ok(d) if text.len() == 10 => Some(d.at(23, 59, 59, 0)),
        _ => text.parse::<jiff::civil::DateTime>().ok(),
    };
    if let Some(dt) = civil {
        return zone
            .to_ambiguous_timestamp(dt)
            .later()
            .map(Some)
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "has a {key} \"{text}\" that is not an RFC 3339 time"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn oslo() -> TimeZone {
        TimeZone::get("Europe/Oslo").unwrap()
    }

    #[test]
    fn content_forms() {
        let z = oslo();
        assert_eq!(parse(b"", &z).unwrap(), MarkerInfo::default());
        assert_eq!(parse(b"\n  \n", &z).unwrap(), MarkerInfo::default());
        let info = parse(b"case = \"P-1\"\nreason = \"police\"\nuntil = 2026-12-01T12:00:00Z\ncreated = \"2026-11-20T08:00:00+01:00\"", &z).unwrap();
        assert_eq!(info.case.as_deref(), Some("P-1"));
        assert_eq!(info.until, Some("2026-12-01T12:00:00Z".parse().unwrap()));
        assert_eq!(info.created, Some("2026-11-20T07:00:00Z".parse().unwrap()));
        let local = parse(b"until = 2026-12-01T12:00:00", &z).unwrap();
        assert_eq!(local.until, Some("2026-12-01T11:00:00Z".parse().unwrap()));
        let day = parse(b"until = 2026-12-01", &z).unwrap();
        assert_eq!(day.until, Some("2026-12-01T22:59:59Z".parse().unwrap()));
        for bad in [
            &b"case = 3"[..],
            b"until = \"soon\"",
            b"this is not toml",
            b"\xff\xfe",
        ] {
            assert!(parse(bad, &z).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn unreadable_markers_report_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let d = std::fs::File::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("ok.hold"), "case = \"A\"").unwrap();
        std::fs::write(dir.path().join("big.hold"), vec![b'#'; 70_000]).unwrap();
        std::fs::write(dir.path().join("bad.hold"), "case = [").unwrap();
        std::os::unix::fs::symlink("ok.hold", dir.path().join("link.hold")).unwrap();
        std::fs::create_dir(dir.path().join("dir.hold")).unwrap();
        nix::unistd::mkfifo(
            &dir.path().join("fifo.hold"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();

        let ok = read(d.as_fd(), b"ok.hold", &oslo());
        assert_eq!(ok.problem, None);
        assert_eq!(ok.info.case.as_deref(), Some("A"));
        assert_eq!(
            ok.sha256.as_deref(),
            Some(sha256_hex(b"case = \"A\"").as_str())
        );
        for (name, why) in [
            ("big.hold", "64 KiB"),
            ("bad.hold", "not valid marker TOML"),
            ("link.hold", "symlink"),
            ("dir.hold", "not a regular file"),
            ("fifo.hold", "not a regular file"),
            ("gone.hold", "cannot be opened"),
        ] {
            let m = read(d.as_fd(), name.as_bytes(), &oslo());
            let problem = m.problem.unwrap_or_default();
            assert!(problem.contains(why), "{name}: {problem}");
        }
    }
}
