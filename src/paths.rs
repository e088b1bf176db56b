//! Path rules shared by config validation and the CLI: lexical normalisation and the system
//! directories that clipwarden must never treat as recordings or write exports into.

use std::path::{Component, Path, PathBuf};

/// Removes `.` and resolves `..` without touching the filesystem. `None` for a relative path
/// or one that climbs above `/`.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The normalised path, and where it exists its canonical form too, so a symlink cannot
/// smuggle a system directory past the checks.
pub fn forms(path: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = normalize(path).into_iter().collect();
    if let Ok(c) = std::fs::canonicalize(path)
        && !v.contains(&c)
    {
        v.push(c);
    }
    v
}

/// True for `/`, `/home`, `/root`, `/var` themselves, and for `/bin`, `/boot`, `/dev`, `/etc`,
/// `/lib*`, `/proc`, `/run`, `/sbin`, `/sys`, `/usr` and anything under them.
pub fn is_system_dir(path: &Path) -> bool {
    let Some(p) = normalize(path) else {
        return false;
    };
    let mut comps = p.components().skip(1);
    let Some(first) = comps.next() else {
        return true; // "/" itself
    };
    let first = first.as_os_str().to_string_lossy();
    let under = matches!(
        &*first,
        "bin" | "boot" | "dev" | "etc" | "proc" | "run" | "sbin" | "sys" | "usr"
    ) || first.starts_with("lib");
    let itself = comps.next().is_none() && matches!(&*first, "home" | "root" | "var");
    under || itself
}

/// True when `inner` is `outer` or lies below it (by normalised or canonical form).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    let outers = forms(outer);
    forms(inner)
        .iter()
        .any(|i| outers.iter().any(|o| i.starts_with(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_directories() {
        for p in [
            "/",
            "/etc",
            "/etc/x",
            "/usr/local/nvr",
            "/lib64",
            "/lib/x",
            "/var",
            "/home",
            "/root",
            "/dev/shm",
            "/proc/1",
            "/run/media",
            "/sys",
            "/boot",
            "/sbin",
            "/bin/x",
            "/srv/../etc",
            "/var/",
        ] {
            assert!(is_system_dir(Path::new(p)), "{p}");
        }
        for p in [
            "/srv/nvr",
            "/var/lib/nvr",
            "/home/nvr/rec",
            "/mnt/disk1",
            "/library",
            "/data",
        ] {
            // /library starts with "lib": it is under the /lib* rule, as SPEC words it.
            assert_eq!(is_system_dir(Path::new(p)), p == "/library", "{p}");
        }
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c")),
            Some(PathBuf::from("/a/c"))
        );
        assert_eq!(normalize(Path::new("/..")), None);
        assert_eq!(normalize(Path::new("a/b")), None);
        assert!(is_within(Path::new("/srv/nvr/x"), Path::new("/srv/nvr")));
        assert!(is_within(Path::new("/srv/nvr"), Path::new("/srv/nvr/")));
        assert!(!is_within(Path::new("/srv/nvr2"), Path::new("/srv/nvr")));
    }
}
