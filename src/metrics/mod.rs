//! Prometheus text exposition of what the daemon knows, and the writer that puts it in a
//! textfile for node_exporter's textfile collector: atomically, and at most once per interval,
//! because the recorders run on SD cards that wear out.
//!
//! [`render`] is pure: the daemon fills a [`Snapshot`] and passes it in. Every family gets its
//! HELP and TYPE lines even when it has no samples, counters end in `_total`, and label values
//! are escaped as the text format says, so `promtool check metrics` has nothing to say.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

mod textfile;
pub use textfile::TextfileWriter;

/// Deletion reasons, as in the audit log. `clipwarden_deleted_clips_total` shows each of them
/// from the start, at 0, so that `increase()` sees the first deletion of a kind.
pub const DELETE_REASONS: [&str; 5] = [
    "retention",
    "hold_ended",
    "hold_cap",
    "disk_pressure",
    "erasure",
];

/// Guards, as [`crate::guard::Refusal::guard`] names them; shown from the start at 0, so an
/// alert on `increase(clipwarden_guard_refusals_total[1h]) > 0` fires on the first trip.
pub const GUARDS: [&str; 4] = [
    "clock",
    "max_delete_fraction",
    "expect_mount",
    "hold_registry",
];

/// Alarm kinds the daemon raises; `clipwarden_alarms` shows each of them, at 0 when clear.
pub const ALARM_KINDS: [&str; 12] = [
    "guard",
    "marker",
    "registry",
    "clip_vanished",
    "disk_pressure",
    "config_reload",
    "root_unwritable",
    "root_unavailable",
    "watch",
    "clock",
    "pass",
    "audit",
];

/// The textfile's mode: node_exporter runs as another user and must read it.
pub const TEXTFILE_MODE: u32 = 0o644;

/// What the daemon knows at one moment, in the terms the metrics use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub roots: Vec<RootMetrics>,
    /// Clips whose time cannot be judged and whose ctime is older than the hold cap.
    pub overdue: u64,
    pub held_clips: u64,
    pub held_bytes: u64,
    /// Holds whose footage reaches the hold cap within `warn_before`.
    pub holds_reaching_cap: u64,
    /// Clips deleted since the daemon started, by reason.
    pub deleted_total: BTreeMap<String, u64>,
    /// Guard refusals since the daemon started, by guard.
    pub guard_refusals_total: BTreeMap<String, u64>,
    /// Active alarms, by kind.
    pub alarms: BTreeMap<String, u64>,
    pub config_valid: bool,
    /// `seq` of the newest audit entry.
    pub audit_seq: Option<u64>,
    /// When the last pass finished.
    pub last_pass_timestamp: Option<jiff::Timestamp>,
    pub last_pass_duration: Option<Duration>,
}

/// One root's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootMetrics {
    pub path: PathBuf,
    pub writable: bool,
    /// Free bytes for an unprivileged user (`statvfs` `f_bavail`), when known.
    pub free_bytes: Option<u64>,
    /// Files under the root that are not clips of its layout.
    pub unrecognised: u64,
    pub cameras: BTreeMap<String, CameraMetrics>,
}

/// One camera's figures within one root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraMetrics {
    pub clips: u64,
    pub bytes: u64,
    /// Age of the oldest clip that no hold covers, if there is one.
    pub oldest_unheld_age_seconds: Option<f64>,
    /// When that clip was recorded. Its metric stays true between writes of the textfile and
    /// after the daemon stops, where the age freezes at the value last written.
    pub oldest_unheld_recorded: Option<jiff::Timestamp>,
    /// The retention in force for this camera, so an alert can compare the age with it.
    pub retention_seconds: Option<f64>,
}

/// The exposition of `s` in Prometheus text format 0.0.4.
pub fn render(s: &Snapshot) -> String {
    let mut out = Out::default();

    out.family("clips", Gauge, "Clips on disk, by root and camera.");
    for (root, cam, m) in cameras(s) {
        out.sample("clips", &[("root", &root), ("camera", cam)], m.clips);
    }
    out.family(
        "clip_bytes",
        Gauge,
        "Bytes of clips on disk, by root and camera.",
    );
    for (root, cam, m) in cameras(s) {
        out.sample("clip_bytes", &[("root", &root), ("camera", cam)], m.bytes);
    }

    // Per camera across roots: the oldest unheld clip anywhere, the strictest retention.
    let mut oldest: BTreeMap<&str, f64> = BTreeMap::new();
    let mut oldest_at: BTreeMap<&str, jiff::Timestamp> = BTreeMap::new();
    let mut retention: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, cam, m) in cameras(s) {
        if let Some(a) = m.oldest_unheld_age_seconds {
            let e = oldest.entry(cam).or_insert(a);
            *e = e.max(a);
        }
        if let Some(t) = m.oldest_unheld_recorded {
            let e = oldest_at.entry(cam).or_insert(t);
            *e = (*e).min(t);
        }
        if let Some(r) = m.retention_seconds {
            let e = retention.entry(cam).or_insert(r);
            *e = e.min(r);
        }
    }
    out.family(
        "oldest_unheld_clip_age_seconds",
        Gauge,
        "Age of the oldest clip no hold covers, by camera, when the file was written: the compliance figure, which must stay under clipwarden_retention_seconds. Absent while a camera has no unheld clip.",
    );
    for (cam, age) in oldest {
        out.sample("oldest_unheld_clip_age_seconds", &[("camera", cam)], age);
    }
    out.family(
        "oldest_unheld_clip_timestamp_seconds",
        Gauge,
        "Recording time of the oldest clip no hold covers, by camera, as a Unix time. time() minus this is the compliance figure, true even while the textfile is not rewritten.",
    );
    for (cam, t) in oldest_at {
        out.sample(
            "oldest_unheld_clip_timestamp_seconds",
            &[("camera", cam)],
            unix_seconds(t),
        );
    }
    out.family(
        "retention_seconds",
        Gauge,
        "Retention in force for unheld clips, by camera.",
    );
    for (cam, r) in retention {
        out.sample("retention_seconds", &[("camera", cam)], r);
    }

    out.family(
        "overdue_clips",
        Gauge,
        "Clips whose recording time cannot be judged and whose ctime is older than the hold cap; they need a person.",
    );
    out.sample("overdue_clips", &[], s.overdue);
    out.family(
        "unrecognised_files",
        Gauge,
        "Files under a root that are not clips of its layout; never deleted.",
    );
    for r in &s.roots {
        out.sample(
            "unrecognised_files",
            &[("root", &root_label(r))],
            r.unrecognised,
        );
    }

    out.family("held_clips", Gauge, "Clips kept past retention by a hold.");
    out.sample("held_clips", &[], s.held_clips);
    out.family(
        "held_clip_bytes",
        Gauge,
        "Bytes of clips kept past retention by a hold.",
    );
    out.sample("held_clip_bytes", &[], s.held_bytes);
    out.family(
        "holds_reaching_cap",
        Gauge,
        "Holds whose footage reaches the hold cap within warn_before: export it before then.",
    );
    out.sample("holds_reaching_cap", &[], s.holds_reaching_cap);

    out.family(
        "deleted_clips_total",
        Counter,
        "Clips deleted since the daemon started, by reason.",
    );
    for (reason, n) in with_known_keys(&s.deleted_total, &DELETE_REASONS) {
        out.sample("deleted_clips_total", &[("reason", reason)], n);
    }
    out.family(
        "guard_refusals_total",
        Counter,
        "Passes (or one root's part of a pass) that a guard refused since the daemon started, by guard.",
    );
    for (guard, n) in with_known_keys(&s.guard_refusals_total, &GUARDS) {
        out.sample("guard_refusals_total", &[("guard", guard)], n);
    }
    out.family("alarms", Gauge, "Active alarms, by kind; 0 when clear.");
    for (kind, n) in with_known_keys(&s.alarms, &ALARM_KINDS) {
        out.sample("alarms", &[("kind", kind)], n);
    }

    out.family(
        "config_valid",
        Gauge,
        "1 while the config last read is valid; 0 when a reload was rejected and the previous config still runs.",
    );
    out.sample("config_valid", &[], u64::from(s.config_valid));
    out.family(
        "root_writable",
        Gauge,
        "1 when clipwarden can delete in the root, 0 when it cannot.",
    );
    for r in &s.roots {
        out.sample(
            "root_writable",
            &[("root", &root_label(r))],
            u64::from(r.writable),
        );
    }
    out.family(
        "root_free_bytes",
        Gauge,
        "Bytes free for unprivileged users on the root's filesystem.",
    );
    for r in &s.roots {
        if let Some(free) = r.free_bytes {
            out.sample("root_free_bytes", &[("root", &root_label(r))], free);
        }
    }

    out.family(
        "audit_seq",
        Gauge,
        "seq of the newest audit log entry; the anchors in the journal carry the same seq with its hash.",
    );
    if let Some(seq) = s.audit_seq {
        out.sample("audit_seq", &[], seq);
    }
    out.family(
        "last_pass_timestamp_seconds",
        Gauge,
        "Unix time at which the last pass finished; a stale value means passes have stopped.",
    );
    if let Some(t) = s.last_pass_timestamp {
        out.sample("last_pass_timestamp_seconds", &[], unix_seconds(t));
    }
    out.family(
        "last_pass_duration_seconds",
        Gauge,
        "How long the last pass took.",
    );
    if let Some(d) = s.last_pass_duration {
        out.sample("last_pass_duration_seconds", &[], d.as_secs_f64());
    }

    out.buf
}

fn unix_seconds(t: jiff::Timestamp) -> f64 {
    t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9
}

/// Every (root label, camera, figures), in order.
fn cameras(s: &Snapshot) -> impl Iterator<Item = (Cow<'_, str>, &str, &CameraMetrics)> {
    s.roots.iter().flat_map(|r| {
        r.cameras
            .iter()
            .map(move |(c, m)| (root_label(r), c.as_str(), m))
    })
}

/// A root's `root` label. Label values must be UTF-8; a path that is not is shown lossily.
fn root_label(r: &RootMetrics) -> Cow<'_, str> {
    r.path.to_string_lossy()
}

/// The map's entries, with each of `known` added at 0 where missing, sorted by key.
fn with_known_keys<'a>(
    map: &'a BTreeMap<String, u64>,
    known: &[&'a str],
) -> BTreeMap<&'a str, u64> {
    let mut all: BTreeMap<&str, u64> = known.iter().map(|k| (*k, 0)).collect();
    all.extend(map.iter().map(|(k, v)| (k.as_str(), *v)));
    all
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}
use Kind::{Counter, Gauge};

/// A sample value: integers are written exactly, floats as the text format spells them.
trait Value {
    fn write(&self, buf: &mut String);
}

impl Value for u64 {
    fn write(&self, buf: &mut String) {
        let _ = write!(buf, "{self}");
    }
}

impl Value for f64 {
    fn write(&self, buf: &mut String) {
        if self.is_nan() {
            buf.push_str("NaN");
        } else if self.is_infinite() {
            buf.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(buf, "{self}");
        }
    }
}

#[derive(Default)]
struct Out {
    buf: String,
}

const PREFIX: &str = "clipwarden_";

impl Out {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Gauge => "gauge",
            Counter => "counter",
        };
        let _ = writeln!(self.buf, "# HELP {PREFIX}{name} {}", escape_help(help));
        let _ = writeln!(self.buf, "# TYPE {PREFIX}{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        self.buf.push_str(PREFIX);
        self.buf.push_str(name);
        if !labels.is_empty() {
            self.buf.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.buf.push(',');
                }
                self.buf.push_str(k);
                self.buf.push_str("=\"");
                escape_label_value(v, &mut self.buf);
                self.buf.push('"');
            }
            self.buf.push('}');
        }
        self.buf.push(' ');
        value.write(&mut self.buf);
        self.buf.push('\n');
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label_value(v: &str, buf: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '"' => buf.push_str("\\\""),
            '\n' => buf.push_str("\\n"),
            c => buf.push(c),
        }
    }
}

/// HELP text escapes backslash and newline.
fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
