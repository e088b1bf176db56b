//! User and group names from `/etc/passwd` and `/etc/group`, read directly: a static binary
//! has no NSS, and a recorder's accounts are local.

use std::path::Path;

/// One `name:x:id:...` line's name and id.
fn entries(file: &Path) -> Vec<(String, u32)> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let id = f.nth(1)?.parse().ok()?;
            Some((name.to_string(), id))
        })
        .collect()
}

pub fn uid_of(name: &str) -> Option<u32> {
    entries(Path::new("/etc/passwd"))
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, id)| id)
}

pub fn gid_of(name: &str) -> Option<u32> {
    entries(Path::new("/etc/group"))
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, id)| id)
}

pub fn user_name(uid: u32) -> Option<String> {
    entries(Path::new("/etc/passwd"))
        .into_iter()
        .find(|&(_, id)| id == uid)
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_uid_zero() {
        assert_eq!(uid_of("root"), Some(0));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(gid_of("root"), Some(0));
        assert_eq!(uid_of("no-such-user-here"), None);
    }
}
