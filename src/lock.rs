//! The one lock in `<state_dir>` that serialises every pass and every audit append.
//!
//! A timer sweep, a CLI erase and the daemon may all want to delete; SPEC allows only one at a
//! time. `flock` is released by the kernel when the process dies, so a crash never leaves the
//! box unable to sweep.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Proof that this process holds the state lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct StateLock {
    state_dir: PathBuf,
    _lock: Flock<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open lock file {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot lock {path}: {source}")]
    Lock { path: PathBuf, source: Errno },
    #[error(
        "{path} is still locked after {waited:?}: another clipwarden pass (sweep, erase or the daemon) is running"
    )]
    Busy { path: PathBuf, waited: Duration },
}

/// Why a lock file could not be locked.
#[derive(Debug)]
pub(crate) enum FlockError {
    Open(std::io::Error),
    Busy(Duration),
    Lock(Errno),
}

/// Opens (creating, 0640, never through a link) the lock file `path` and takes an `flock` on
/// it, trying again until `wait` has passed. A file created here goes to `owner_dir`'s owner
/// (see [`crate::fsx::adopt`]).
pub(crate) fn flock_file(
    path: &Path,
    owner_dir: &Path,
    exclusive: bool,
    wait: Duration,
) -> Result<Flock<File>, FlockError> {
    let started = Instant::now();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .custom_flags(nix::libc::O_CLOEXEC | nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(FlockError::Open)?;
    crate::fsx::adopt(std::os::fd::AsFd::as_fd(&file), owner_dir);
    let arg = if exclusive {
        FlockArg::LockExclusiveNonblock
    } else {
        FlockArg::LockSharedNonblock
    };
    loop {
        match Flock::lock(file, arg) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EWOULDBLOCK)) if started.elapsed() < wait => {
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err((_, Errno::EWOULDBLOCK)) => return Err(FlockError::Busy(started.elapsed())),
            Err((_, e)) => return Err(FlockError::Lock(e)),
        }
    }
}

impl StateLock {
    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn acquire(state_dir: &Path, wait: Duration) -> Result<StateLock, LockError> {
        let path = state_dir.join("lock");
        match flock_file(&path, state_dir, true, wait) {
            Ok(lock) => Ok(StateLock {
                state_dir: state_dir.to_path_buf(),
                _lock: lock,
            }),
            Err(FlockError::Open(source)) => Err(LockError::Open { path, source }),
            Err(FlockError::Busy(waited)) => Err(LockError::Busy { path, waited }),
            Err(FlockError::Lock(source)) => Err(LockError::Lock { path, source }),
        }
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path(), Duration::ZERO).unwrap();
        let err = StateLock::acquire(dir.path(), Duration::from_millis(120)).unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("lock"), "{err}");
        drop(first);
        StateLock::acquire(dir.path(), Duration::ZERO).expect("free again once dropped");
    }
}
