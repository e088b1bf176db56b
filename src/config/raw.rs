//! The config as written: every key optional, unknown keys rejected. Files are parsed one by
//! one against this schema (so an error names its file), then merged key by key.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub timezone: Option<String>,
    pub state_dir: Option<String>,
    pub retention: Option<RawRetention>,
    pub safety: Option<RawSafety>,
    pub root: Option<Vec<RawRoot>>,
    pub camera: Option<BTreeMap<String, RawCamera>>,
    pub holds: Option<RawHolds>,
    pub audit: Option<RawAudit>,
    pub daemon: Option<RawDaemon>,
    pub metrics: Option<RawMetrics>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub days: Option<i64>,
    pub hold_cap_days: Option<i64>,
    pub warn_before: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    pub quiet_period: Option<String>,
    pub max_delete_fraction: Option<f64>,
    pub future_slack: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoot {
    pub path: Option<String>,
    /// A name or `{ pattern, timezone }`; read by hand for clearer errors than serde's.
    pub layout: Option<toml::Value>,
    pub extensions: Option<Vec<String>>,
    pub min_free: Option<String>,
    pub min_keep: Option<String>,
    pub expect_mount: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCamera {
    pub days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHolds {
    pub marker_owners: Option<Vec<String>>,
    pub keep_released: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub keep: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub reconcile_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    pub textfile: Option<String>,
}

/// Merges `src` into `dst`: tables merge key by key, anything else (arrays included, so a
/// drop-in's `[[root]]` list replaces the main file's) is replaced. `origin` records which
/// file last set each dotted key, so validation errors can name it.
pub fn merge(
    dst: &mut toml::Table,
    src: toml::Table,
    file: usize,
    prefix: &str,
    origin: &mut BTreeMap<String, usize>,
) {
    for (k, v) in src {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (dst.get_mut(&k), v) {
            (Some(toml::Value::Table(d)), toml::Value::Table(s)) => {
                merge(d, s, file, &key, origin);
            }
            (_, v) => {
                mark(&v, file, &key, origin);
                dst.insert(k, v);
            }
        }
    }
}

fn mark(v: &toml::Value, file: usize, key: &str, origin: &mut BTreeMap<String, usize>) {
    origin.insert(key.to_string(), file);
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                mark(v, file, &format!("{key}.{k}"), origin);
            }
        }
        toml::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                mark(v, file, &format!("{key}[{i}]"), origin);
            }
        }
        _ => {}
    }
}
