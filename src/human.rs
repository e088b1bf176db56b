//! Output for a person at a terminal: sizes in KiB/MiB/GiB, counts with separators, times in
//! the configured zone with their offset, and names with control characters escaped.

use std::fmt::Write;
use std::path::Path;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Escapes control characters and invalid UTF-8 so a hostile file name cannot rewrite the
/// terminal or forge a line of output.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

pub fn escape_path(p: &Path) -> String {
    escape(p.as_os_str().as_encoded_bytes())
}

/// `512 B`, `1.5 KiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 clip`, `2,148 clips`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", count(n))
    }
}

/// `2026-11-20 13:05:30 +01:00` in the configured zone.
pub fn time(t: Timestamp, zone: &TimeZone) -> String {
    t.to_zoned_datetime(zone.clone())
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

/// A duration as people say it: `45s`, `12m`, `5h 10m`, `3d 4h`.
pub fn span(d: SignedDuration) -> String {
    let s = d.as_secs().unsigned_abs();
    let (days, hours, mins) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match () {
        _ if days > 0 && hours > 0 => format!("{days}d {hours}h"),
        _ if days > 0 => format!("{days}d"),
        _ if hours > 0 && mins > 0 => format!("{hours}h {mins}m"),
        _ if hours > 0 => format!("{hours}h"),
        _ if mins > 0 => format!("{mins}m"),
        _ => format!("{s}s"),
    }
}

/// `3d 4h ago` or `in 2h`.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let d = now.duration_since(t);
    if d.is_negative() {
        format!("in {}", span(d))
    } else {
        format!("{} ago", span(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_could_fool_a_terminal() {
        assert_eq!(escape(b"cam1/05.30.mp4"), "cam1/05.30.mp4");
        assert_eq!(escape(b"a\nb\x1b[31mc"), "a\\nb\\u{1b}[31mc");
        assert_eq!(escape(b"caf\xc3\xa9 \xff"), "caf\u{e9} \\xff");
        assert_eq!(escape(b"back\\slash"), "back\\\\slash");
    }

    #[test]
    fn sizes_counts_and_spans() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(plural(1, "clip", "clips"), "1 clip");
        assert_eq!(plural(2148, "clip", "clips"), "2,148 clips");
        assert_eq!(span(SignedDuration::from_secs(45)), "45s");
        assert_eq!(
            span(SignedDuration::from_secs(3 * 86_400 + 4 * 3600 + 59)),
            "3d 4h"
        );
        assert_eq!(span(SignedDuration::from_secs(5 * 3600 + 600)), "5h 10m");
        let now: Timestamp = "2026-11-29T12:00:00Z".parse().unwrap();
        assert_eq!(
            relative("2026-11-29T10:00:00Z".parse().unwrap(), now),
            "2h ago"
        );
        assert_eq!(
            relative("2026-11-29T14:00:00Z".parse().unwrap(), now),
            "in 2h"
        );
        let oslo = TimeZone::get("Europe/Oslo").unwrap();
        assert_eq!(time(now, &oslo), "2026-11-29 13:00:00 +01:00");
    }
}
