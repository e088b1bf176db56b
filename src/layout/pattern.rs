//! Path-segment patterns: compile `{camera}/{date:%Y%m%d}/{time:%H%M%S}.mp4` once, then match
//! names against it byte by byte without allocating.

use std::fmt;

/// One piece of a segment pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Lit(Box<[u8]>),
    /// The camera name: one or more bytes.
    Camera,
    /// A name level the layout ignores (shinobi's group): one or more bytes.
    Any,
    Field(Field),
    /// Unix seconds.
    Ts,
    /// One of the root's clip extensions; only ever the last token of a file segment.
    Ext,
}

/// A fixed-width, zero-padded number in a date or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Year,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Field {
    fn width(self) -> usize {
        match self {
            Field::Year => 4,
            _ => 2,
        }
    }
}

/// The date and time pieces read so far on the way down a path. `Copy`, so each directory
/// level hands its own to its children.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Partial {
    pub(crate) year: Option<i16>,
    pub(crate) month: Option<i8>,
    pub(crate) day: Option<i8>,
    pub(crate) hour: Option<i8>,
    pub(crate) minute: Option<i8>,
    pub(crate) second: Option<i8>,
    pub(crate) ts: Option<i64>,
}

impl Partial {
    /// Records a field; a path that gives the same field twice must agree with itself.
    fn set(&mut self, field: Field, value: u32) -> bool {
        fn put<T: PartialEq + Copy>(slot: &mut Option<T>, v: T) -> bool {
            match *slot {
                Some(old) => old == v,
                None => {
                    *slot = Some(v);
                    true
                }
            }
        }
        match field {
            Field::Year => put(&mut self.year, value as i16),
            Field::Year2 => put(&mut self.year, 2000 + value as i16),
            Field::Month => (1..=12).contains(&value) && put(&mut self.month, value as i8),
            Field::Day => (1..=31).contains(&value) && put(&mut self.day, value as i8),
            Field::Hour => value <= 23 && put(&mut self.hour, value as i8),
            Field::Minute => value <= 59 && put(&mut self.minute, value as i8),
            // 60 would be a leap second; cameras do not write them, so it is not a clip.
            Field::Second => value <= 59 && put(&mut self.second, value as i8),
        }
    }
}

/// A compiled path segment: what one directory or file name looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub(crate) tokens: Vec<Token>,
}

/// What a name matched: the range of the camera name, if this segment holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub camera: Option<(usize, usize)>,
}

impl Segment {
    pub(crate) fn has(&self, pred: impl Fn(&Token) -> bool) -> bool {
        self.tokens.iter().any(pred)
    }

    pub(crate) fn has_time(&self) -> bool {
        self.has(|t| matches!(t, Token::Field(_) | Token::Ts))
    }

    /// Matches `name` in full, adding its date and time fields to `partial`. `exts` are the
    /// root's clip extensions, lowercase.
    pub fn matches(
        &self,
        name: &[u8],
        exts: &[Box<[u8]>],
        partial: &mut Partial,
    ) -> Option<Matched> {
        let mut scratch = *partial;
        let mut camera = None;
        if match_from(&self.tokens, name, 0, exts, &mut scratch, &mut camera) {
            *partial = scratch;
            Some(Matched { camera })
        } else {
            None
        }
    }
}

/// Backtracking matcher. Names are short and patterns have few variable-width tokens, so the
/// search stays tiny; variable tokens try the shortest length first so a literal after them
/// anchors as early as the name allows, then longer ones if the rest fails.
fn match_from(
    tokens: &[Token],
    name: &[u8],
    pos: usize,
    exts: &[Box<[u8]>],
    partial: &mut Partial,
    camera: &mut Option<(usize, usize)>,
) -> bool {
    let Some((tok, rest)) = tokens.split_first() else {
        return pos == name.len();
    };
    let tail = &name[pos..];
    match tok {
        Token::Lit(lit) => {
            tail.starts_with(lit) && match_from(rest, name, pos + lit.len(), exts, partial, camera)
        }
        Token::Field(f) => {
            let w = f.width();
            if tail.len() < w || !tail[..w].iter().all(u8::is_ascii_digit) {
                return false;
            }
            let v = tail[..w]
                .iter()
                .fold(0u32, |a, d| a * 10 + u32::from(d - b'0'));
            let saved = *partial;
            if partial.set(*f, v) && match_from(rest, name, pos + w, exts, partial, camera) {
                return true;
            }
            *partial = saved;
            false
        }
        Token::Ts => {
            let digits = tail
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count()
                .min(12);
            for len in (1..=digits).rev() {
                let v = tail[..len]
                    .iter()
                    .fold(0i64, |a, d| a * 10 + i64::from(d - b'0'));
                let saved = *partial;
                if partial.ts.is_none_or(|old| old == v) {
                    partial.ts = Some(v);
                    if match_from(rest, name, pos + len, exts, partial, camera) {
                        return true;
                    }
                }
                *partial = saved;
            }
            false
        }
        Token::Camera | Token::Any => {
            for len in 1..=tail.len() {
                if matches!(tok, Token::Camera) {
                    *camera = Some((pos, pos + len));
                }
                if match_from(rest, name, pos + len, exts, partial, camera) {
                    return true;
                }
            }
            if matches!(tok, Token::Camera) {
                *camera = None;
            }
            false
        }
        Token::Ext => rest.is_empty() && exts.iter().any(|e| tail.eq_ignore_ascii_case(e)),
    }
}

/// Why a pattern does not compile. Displayed after the config key that holds the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError(pub String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compiles one `/`-free segment of a pattern.
pub(crate) fn compile_segment(text: &str) -> Result<Segment, PatternError> {
    let mut tokens: Vec<Token> = Vec::new();
    let mut lit = Vec::new();
    let mut rest = text;
    let flush = |lit: &mut Vec<u8>, tokens: &mut Vec<Token>| {
        if !lit.is_empty() {
            tokens.push(Token::Lit(std::mem::take(lit).into_boxed_slice()));
        }
    };
    while let Some(c) = rest.chars().next() {
        if c == '}' {
            return Err(PatternError(format!(
                "unmatched '}}' in \"{text}\" (placeholders look like {{camera}})"
            )));
        }
        if c != '{' {
            lit.extend_from_slice(&rest.as_bytes()[..c.len_utf8()]);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let close = rest
            .find('}')
            .ok_or_else(|| PatternError(format!("unclosed '{{' in \"{text}\"")))?;
        let inner = &rest[1..close];
        rest = &rest[close + 1..];
        flush(&mut lit, &mut tokens);
        let (name, fmt) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        match (name, fmt) {
            ("camera", None) => tokens.push(Token::Camera),
            ("ts", None) => tokens.push(Token::Ts),
            ("ext", None) => tokens.push(Token::Ext),
            ("any", None) => tokens.push(Token::Any),
            ("date", Some(f)) => compile_strftime(f, true, &mut tokens, text)?,
            ("time", Some(f)) => compile_strftime(f, false, &mut tokens, text)?,
            ("date" | "time", None) => {
                return Err(PatternError(format!(
                    "{{{name}}} needs a format, like {{date:%Y-%m-%d}} or {{time:%H%M%S}}"
                )));
            }
            _ => {
                return Err(PatternError(format!(
                    "unknown placeholder {{{inner}}}: use {{camera}}, {{date:FMT}}, {{time:FMT}}, {{ts}} or {{ext}}"
                )));
            }
        }
    }
    flush(&mut lit, &mut tokens);
    if tokens.is_empty() {
        return Err(PatternError(format!("\"{text}\" has an empty path level")));
    }
    for pair in tokens.windows(2) {
        let variable = |t: &Token| matches!(t, Token::Camera | Token::Any | Token::Ts);
        if variable(&pair[0]) && variable(&pair[1]) {
            return Err(PatternError(format!(
                "\"{text}\" puts two variable-width placeholders side by side; separate them with literal text"
            )));
        }
    }
    if let Some(i) = tokens.iter().position(|t| *t == Token::Ext)
        && i + 1 != tokens.len()
    {
        return Err(PatternError(format!(
            "{{ext}} must end the file name in \"{text}\""
        )));
    }
    Ok(Segment { tokens })
}

fn compile_strftime(
    fmt: &str,
    is_date: bool,
    tokens: &mut Vec<Token>,
    whole: &str,
) -> Result<(), PatternError> {
    let mut chars = fmt.chars();
    let mut lit = Vec::new();
    while let Some(c) = chars.next() {
        if c != '%' {
            let mut buf = [0; 4];
            lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let d = chars.next().ok_or_else(|| {
            PatternError(format!(
                "a lone '%' ends the format \"{fmt}\" in \"{whole}\""
            ))
        })?;
        let field = match (d, is_date) {
            ('%', _) => {
                lit.push(b'%');
                continue;
            }
            ('Y', true) => Field::Year,
            ('y', true) => Field::Year2,
            ('m', true) => Field::Month,
            ('d', true) => Field::Day,
            ('H', false) => Field::Hour,
            ('M', false) => Field::Minute,
            ('S', false) => Field::Second,
            ('Y' | 'y' | 'm' | 'd', false) | ('H' | 'M' | 'S', true) => {
                let (this, other) = if is_date {
                    ("date", "time")
                } else {
                    ("time", "date")
                };
                return Err(PatternError(format!(
                    "%{d} belongs in {{{other}:…}}, not {{{this}:{fmt}}}"
                )));
            }
            _ => {
                return Err(PatternError(format!(
                    "%{d} in \"{fmt}\" is not supported: dates take %Y %y %m %d, times %H %M %S"
                )));
            }
        };
        if !lit.is_empty() {
            tokens.push(Token::Lit(std::mem::take(&mut lit).into_boxed_slice()));
        }
        tokens.push(Token::Field(field));
    }
    if !lit.is_empty() {
        tokens.push(Token::Lit(lit.into_boxed_slice()));
    }
    Ok(())
}
