//! Layouts: how a root's paths give each clip's camera and recording time.
//!
//! Pure: a layout turns names into fields and fields into instants; it never touches the
//! filesystem. The scanner asks it, level by level, whether a directory can hold clips and
//! whether everything below a directory is provably too young to matter.

mod pattern;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use pattern::{Matched, Partial, PatternError, Segment};
use pattern::{Token, compile_segment};

/// For `mtime` layouts, how long before its mtime a camera's first remaining clip is taken to
/// have started recording: its predecessor (whose mtime marks the start) may be deleted
/// already. Generous, since a too-early start only makes a hold window cover more.
pub const MTIME_UNKNOWN_START: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Deeper than any real recorder writes; bounds the walk of `mtime` layouts.
pub const MTIME_MAX_DEPTH: usize = 16;

/// A compiled layout with its time zone.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `frigate`, `motioneye`, `shinobi`, `mtime`, or the pattern text.
    pub name: String,
    shape: Shape,
    pub zone: TimeZone,
}

#[derive(Debug, Clone)]
enum Shape {
    /// One segment per path level; the last one is the file name.
    Named(Vec<Segment>),
    /// `<camera>/…anything…`: the time is the file's mtime.
    Mtime,
}

/// What the layout says about an entry at some level below the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A directory matching this segment may lead to clips.
    Dir,
    /// A file matching this segment is a clip.
    File,
    /// Nothing at this depth can be a clip (deeper than the layout goes).
    Nothing,
}

impl Layout {
    pub fn frigate() -> Layout {
        Layout::named(
            "frigate",
            "{date:%Y-%m-%d}/{time:%H}/{camera}/{time:%M.%S}.{ext}",
            TimeZone::UTC,
        )
    }

    pub fn motioneye(zone: TimeZone) -> Layout {
        Layout::named(
            "motioneye",
            "{camera}/{date:%Y-%m-%d}/{time:%H-%M-%S}.{ext}",
            zone,
        )
    }

    pub fn shinobi(zone: TimeZone) -> Layout {
        Layout::named(
            "shinobi",
            "{any}/{camera}/{date:%Y-%m-%d}T{time:%H-%M-%S}.{ext}",
            zone,
        )
    }

    pub fn mtime() -> Layout {
        Layout {
            name: "mtime".into(),
            shape: Shape::Mtime,
            zone: TimeZone::UTC,
        }
    }

    fn named(name: &str, pattern: &str, zone: TimeZone) -> Layout {
        let mut layout = Layout::pattern(pattern, zone).expect("built-in layouts compile");
        layout.name = name.into();
        layout
    }

    /// Compiles a `pattern` layout. It needs `{camera}` and either a full date (`%Y` or `%y`,
    /// `%m`, `%d`) or `{ts}`, and no level may be empty.
    pub fn pattern(text: &str, zone: TimeZone) -> Result<Layout, PatternError> {
        if text.starts_with('/') || text.ends_with('/') {
            return Err(PatternError(format!(
                "\"{text}\" must be relative to the root and end with the file name"
            )));
        }
        let segments = text
            .split('/')
            .map(compile_segment)
            .collect::<Result<Vec<_>, _>>()?;
        let all = || segments.iter().flat_map(|s| s.tokens.iter());
        let count = |want: &dyn Fn(&Token) -> bool| all().filter(|t| want(t)).count();
        let field = |f: pattern::Field| move |t: &Token| *t == Token::Field(f);
        if count(&|t| *t == Token::Camera) != 1 {
            return Err(PatternError(format!(
                "\"{text}\" needs exactly one {{camera}}"
            )));
        }
        let has_ts = count(&|t| *t == Token::Ts) > 0;
        let years = count(&field(pattern::Field::Year)) + count(&field(pattern::Field::Year2));
        let full_date = years > 0
            && count(&field(pattern::Field::Month)) > 0
            && count(&field(pattern::Field::Day)) > 0;
        if has_ts == full_date {
            return Err(PatternError(format!(
                "\"{text}\" needs either a full date ({{date:%Y-%m-%d}} or similar) or {{ts}}, not both and not neither"
            )));
        }
        if segments[..segments.len() - 1]
            .iter()
            .any(|s| s.has(|t| *t == Token::Ext))
        {
            return Err(PatternError(format!(
                "{{ext}} can only appear in the file name of \"{text}\""
            )));
        }
        Ok(Layout {
            name: text.into(),
            shape: Shape::Named(segments),
            zone,
        })
    }

    /// True when the clip's time is its mtime rather than its name.
    pub fn is_mtime(&self) -> bool {
        matches!(self.shape, Shape::Mtime)
    }

    /// True when the layout reads local times, so DST rules apply to its paths.
    pub fn is_utc(&self) -> bool {
        self.zone == TimeZone::UTC
    }

    /// What an entry at `level` (0 = directly in the root) can be.
    pub fn expect(&self, level: usize) -> Expect {
        match &self.shape {
            Shape::Named(segs) if level + 1 < segs.len() => Expect::Dir,
            Shape::Named(segs) if level + 1 == segs.len() => Expect::File,
            Shape::Named(_) => Expect::Nothing,
            // The camera directory, then anything down to the depth limit.
            Shape::Mtime if level == 0 => Expect::Dir,
            Shape::Mtime if level < MTIME_MAX_DEPTH => Expect::File,
            Shape::Mtime => Expect::Nothing,
        }
    }

    /// Matches a name at `level`. For `mtime` layouts the camera is level 0 and every deeper
    /// name matches (the caller checks the extension and takes the time from the inode).
    pub fn match_name(
        &self,
        level: usize,
        name: &[u8],
        exts: &[Box<[u8]>],
        partial: &mut Partial,
    ) -> Option<Matched> {
        match &self.shape {
            Shape::Named(segs) => segs.get(level)?.matches(name, exts, partial),
            Shape::Mtime if level == 0 => Some(Matched {
                camera: Some((0, name.len())),
            }),
            Shape::Mtime => Some(Matched { camera: None }),
        }
    }

    /// Directories at this level and deeper may be removed once emptied: the first level that
    /// carries a date or time (for `mtime`, anything below the camera directory). Never the
    /// root and never a camera or group directory the recorder may not recreate.
    pub fn prune_floor(&self) -> usize {
        match &self.shape {
            Shape::Named(segs) => segs
                .iter()
                .position(Segment::has_time)
                .unwrap_or(segs.len()),
            Shape::Mtime => 1,
        }
    }

    /// The recording time a complete set of fields names. Local times follow SPEC: in a fold
    /// the earlier instant, in a gap shifted forward by the gap's length.
    pub fn resolve(&self, p: &Partial) -> Option<Timestamp> {
        if let Some(ts) = p.ts {
            return Timestamp::from_second(ts).ok();
        }
        let date = Date::new(p.year?, p.month?, p.day?).ok()?;
        let dt = date.at(
            p.hour.unwrap_or(0),
            p.minute.unwrap_or(0),
            p.second.unwrap_or(0),
            0,
        );
        self.zone.to_ambiguous_timestamp(dt).compatible().ok()
    }

    /// The earliest and latest recording time any clip below a directory with these fields can
    /// have, or `None` when the fields do not pin a date yet. Local zones get a margin so a DST
    /// change inside the range cannot make the bound wrong.
    pub fn bounds(&self, p: &Partial) -> Option<(Timestamp, Timestamp)> {
        if p.ts.is_some() {
            return None;
        }
        let year = p.year?;
        let (m_lo, m_hi) = p.month.map_or((1, 12), |m| (m, m));
        let last_day = Date::new(year, m_hi, 1).ok()?.days_in_month();
        let (d_lo, d_hi) = p.day.map_or((1, last_day), |d| (d, d));
        let lo = DateTime::new(
            year,
            m_lo,
            d_lo,
            p.hour.unwrap_or(0),
            p.minute.unwrap_or(0),
            p.second.unwrap_or(0),
            0,
        )
        .ok()?;
        let hi = DateTime::new(
            year,
            m_hi,
            d_hi,
            p.hour.unwrap_or(23),
            p.minute.unwrap_or(59),
            p.second.unwrap_or(59),
            0,
        )
        .ok()?;
        let margin = if self.is_utc() {
            SignedDuration::ZERO
        } else {
            SignedDuration::from_hours(3)
        };
        let lo = self.zone.to_ambiguous_timestamp(lo).earlier().ok()?;
        let hi = self.zone.to_ambiguous_timestamp(hi).later().ok()?;
        Some((lo.checked_sub(margin).ok()?, hi.checked_add(margin).ok()?))
    }

    /// Reads a root-relative path the way the scanner would reach it: every directory level
    /// must fit, and with `file` the last component must fit as a clip name. Gives the fields
    /// read and the camera name's byte range in `rel`, or `None` for a path that does not fit.
    pub fn locate(
        &self,
        rel: &[u8],
        file: bool,
        exts: &[Box<[u8]>],
    ) -> Option<(Partial, Option<(usize, usize)>)> {
        let mut partial = Partial::default();
        let mut camera = None;
        let mut start = 0;
        let parts: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        for (level, part) in parts.iter().enumerate() {
            let last = level + 1 == parts.len();
            let want_file = last && file;
            let ok = match self.expect(level) {
                Expect::Dir => !want_file,
                Expect::File => want_file || self.is_mtime(),
                Expect::Nothing => false,
            };
            if !ok {
                return None;
            }
            let m = self.match_name(level, part, exts, &mut partial)?;
            if let Some((a, b)) = m.camera {
                camera = Some((start + a, start + b));
            }
            start += part.len() + 1;
        }
        Some((partial, camera))
    }

    /// True when a date or time field appears at this level, so a directory here narrows time.
    pub fn level_has_time(&self, level: usize) -> bool {
        match &self.shape {
            Shape::Named(segs) => segs.get(level).is_some_and(Segment::has_time),
            Shape::Mtime => false,
        }
    }
}

#[cfg(test)]
mod tests;
