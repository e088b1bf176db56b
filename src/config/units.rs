//! The units a config is written in: durations (`90s`, `2m`, `6h`, `3d`) and free-space
//! thresholds (`10%`, `20GiB`).

use std::fmt;

use jiff::SignedDuration;

/// Parses `<digits><unit>` with unit `s`, `m`, `h` or `d`. The error quotes the bad value.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("\"{text}\" has no unit: write it like 90s, 2m, 6h or 3d"))?;
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "\"{text}\" is not a duration: write it like 90s, 2m, 6h or 3d"
        ));
    }
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is too large a duration"))?;
    let secs_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "\"{text}\" has an unknown unit \"{unit}\": use s, m, h or d"
            ));
        }
    };
    // Ten years is far past any retention question; beyond it the value is a typo.
    const MAX_SECS: i64 = 3660 * 86_400;
    match n.checked_mul(secs_per) {
        Some(s) if s <= MAX_SECS => Ok(SignedDuration::from_secs(s)),
        _ => Err(format!("\"{text}\" is longer than ten years")),
    }
}

/// Writes a duration back in the largest unit that divides it, the way it would be typed.
pub fn format_duration(d: SignedDuration) -> String {
    let s = d.as_secs();
    if s != 0 && s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A free-space threshold: a share of the filesystem or an absolute size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FreeSpace {
    Percent(f64),
    Bytes(u64),
}

impl FreeSpace {
    /// The threshold in bytes on a filesystem of `total` bytes.
    pub fn bytes_of(self, total: u64) -> u64 {
        match self {
            FreeSpace::Percent(p) => (total as f64 * p / 100.0) as u64,
            FreeSpace::Bytes(b) => b,
        }
    }
}

impl fmt::Display for FreeSpace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FreeSpace::Percent(p) => write!(f, "{p}%"),
            FreeSpace::Bytes(b) => write!(f, "{b}B"),
        }
    }
}

/// Parses `10%`, `12.5%`, or a size such as `500MB`, `20GiB`, `1TB`, `4096` (bytes).
pub fn parse_free_space(text: &str) -> Result<FreeSpace, String> {
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let v: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("\"{text}\" is not a percentage"))?;
        if !(v > 0.0 && v < 100.0) {
            return Err(format!("\"{text}\" must be between 0% and 100%"));
        }
        return Ok(FreeSpace::Percent(v));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size: write it like 10%, 500MB or 20GiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        other => {
            return Err(format!(
                "\"{text}\" has an unknown unit \"{other}\": use %, B, KB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|&b| b > 0)
        .map(FreeSpace::Bytes)
        .ok_or_else(|| format!("\"{text}\" is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_round_trip() {
        for (text, secs) in [("90s", 90), ("2m", 120), ("6h", 21_600), ("3d", 259_200)] {
            let d = parse_duration(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(SignedDuration::from_secs(90)), "90s");
        assert_eq!(format_duration(SignedDuration::from_secs(0)), "0s");
    }

    #[test]
    fn bad_durations_quote_the_value() {
        for bad in [
            "",
            "7",
            "d",
            "3 days",
            "3w",
            "-3d",
            "99999999999999999999d",
            "4000d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{bad}: {err}");
        }
    }

    #[test]
    fn free_space_forms() {
        assert_eq!(parse_free_space("10%").unwrap(), FreeSpace::Percent(10.0));
        assert_eq!(
            parse_free_space("20GiB").unwrap(),
            FreeSpace::Bytes(20 << 30)
        );
        assert_eq!(
            parse_free_space("500MB").unwrap(),
            FreeSpace::Bytes(500_000_000)
        );
        assert_eq!(FreeSpace::Percent(10.0).bytes_of(1000), 100);
        for bad in ["0%", "100%", "x%", "10 parsecs", "", "0"] {
            assert!(parse_free_space(bad).is_err(), "{bad}");
        }
    }
}
