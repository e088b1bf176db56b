//! Shared output pieces: paths in JSON (lossy `path`, exact `path_b64`), writing stdout
//! without panicking on a closed pipe, and the camera-name matching the CLI uses.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

/// A filesystem path in JSON: `path` lossy, `path_b64` exact when it is not UTF-8.
#[derive(Serialize, Debug, Clone)]
pub struct JsonPath {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_b64: Option<String>,
}

impl JsonPath {
    pub fn new(p: &Path) -> JsonPath {
        let bytes = p.as_os_str().as_encoded_bytes();
        match std::str::from_utf8(bytes) {
            Ok(s) => JsonPath {
                path: s.to_string(),
                path_b64: None,
            },
            Err(_) => JsonPath {
                path: String::from_utf8_lossy(bytes).into_owned(),
                path_b64: Some(clipwarden::digest::base64(bytes)),
            },
        }
    }
}

/// Writes `text` to stdout. A reader that went away (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// Writes one JSON document and a newline to stdout.
pub fn emit_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    emit(&s)
}

/// Camera names from the user, matched without regard to case against the scan's names;
/// an unknown name is an error that suggests the closest known ones.
pub fn match_cameras(wanted: &[String], known: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for w in wanted {
        let hits: Vec<&String> = known.iter().filter(|k| k.eq_ignore_ascii_case(w)).collect();
        if hits.is_empty() {
            let mut close: Vec<(usize, &String)> = known
                .iter()
                .map(|k| (edit_distance(&w.to_lowercase(), &k.to_lowercase()), k))
                .collect();
            close.sort();
            let names: Vec<&str> = close.iter().take(3).map(|(_, k)| k.as_str()).collect();
            return Err(if names.is_empty() {
                format!("unknown camera \"{w}\": no cameras were found in the roots")
            } else {
                format!(
                    "unknown camera \"{w}\"; the closest known: {}",
                    names.join(", ")
                )
            });
        }
        // Every spelling counts: a hold or an erasure for "front" must not miss "Front".
        out.extend(
            hits.into_iter()
                .filter(|h| !out.contains(*h))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    Ok(out)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_match_without_case_and_suggest() {
        let known = vec![
            "Entrance".to_string(),
            "Yard".to_string(),
            "Bar".to_string(),
        ];
        assert_eq!(
            match_cameras(&["entrance".into()], &known),
            Ok(vec!["Entrance".to_string()])
        );
        let err = match_cameras(&["entrnce".into()], &known).unwrap_err();
        assert!(
            err.starts_with("unknown camera \"entrnce\"; the closest known: Entrance"),
            "{err}"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn non_utf8_paths_keep_their_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/r/caf\xe9.mp4"));
        let j = JsonPath::new(p);
        assert_eq!(j.path, "/r/caf\u{fffd}.mp4");
        assert_eq!(
            j.path_b64.as_deref(),
            Some(clipwarden::digest::base64(b"/r/caf\xe9.mp4").as_str())
        );
    }
}
