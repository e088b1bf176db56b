//! The textfile writer: the exposition goes to node_exporter's textfile collector directory
//! atomically, and at most once per interval, because recorders run on SD cards that wear out.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::TEXTFILE_MODE;

/// Writes the exposition to a textfile atomically (temp file in the same directory, fsync,
/// rename, fsync the directory), at most once per `min_interval`. Content offered sooner is
/// kept pending until [`due`](Self::due); content the file already holds is not written again.
/// Time is passed in, so the rate limit is testable without sleeping.
#[derive(Debug)]
pub struct TextfileWriter {
    path: PathBuf,
    min_interval: Duration,
    /// When the next write may happen; `None` before the first attempt.
    next_allowed: Option<Instant>,
    /// What the file holds, as far as this writer knows.
    written: Option<String>,
    /// Newer content waiting for `next_allowed`. Only ever set while `next_allowed` is.
    pending: Option<String>,
}

impl TextfileWriter {
    /// The daemon uses a `min_interval` of 15 s.
    pub fn new(path: PathBuf, min_interval: Duration) -> Self {
        TextfileWriter {
            path,
            min_interval,
            next_allowed: None,
            written: None,
            pending: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records new content and writes it if at least `min_interval` has passed since the last
    /// attempt, else keeps it pending. True when the file was written. A failed write keeps
    /// the content pending and is retried no sooner than `min_interval` later.
    pub fn offer(&mut self, text: String, now: Instant) -> io::Result<bool> {
        if self.written.as_deref() == Some(text.as_str()) {
            self.pending = None;
            return Ok(false);
        }
        if self.next_allowed.is_some_and(|t| now < t) {
            self.pending = Some(text);
            return Ok(false);
        }
        self.write(text, now)
    }

    /// When a pending write is due (for the daemon's sleep), or `None` when nothing waits.
    pub fn due(&self) -> Option<Instant> {
        self.pending.as_ref().and(self.next_allowed)
    }

    /// Writes the pending content if it is due. True when the file was written.
    pub fn flush_pending(&mut self, now: Instant) -> io::Result<bool> {
        match self.due() {
            Some(due) if now >= due => {
                let text = self.pending.take().unwrap_or_default();
                self.write(text, now)
            }
            _ => Ok(false),
        }
    }

    /// Writes the pending content now, whatever the interval: for a clean shutdown.
    pub fn flush_now(&mut self, now: Instant) -> io::Result<bool> {
        match self.pending.take() {
            Some(text) => self.write(text, now),
            None => Ok(false),
        }
    }

    fn write(&mut self, text: String, now: Instant) -> io::Result<bool> {
        self.next_allowed = Some(now + self.min_interval);
        match crate::atomic::write_exact_mode(&self.path, text.as_bytes(), TEXTFILE_MODE) {
            Ok(()) => {
                self.pending = None;
                self.written = Some(text);
                Ok(true)
            }
            Err(e) => {
                self.pending = Some(text);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    const MIN: Duration = Duration::from_secs(15);

    fn setup() -> (tempfile::TempDir, PathBuf, TextfileWriter, Instant) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clipwarden.prom");
        let w = TextfileWriter::new(path.clone(), MIN);
        (dir, path, w, Instant::now())
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn writes_at_once_then_at_most_once_per_interval_and_the_newest_wins() {
        let (_d, path, mut w, t0) = setup();
        assert_eq!(w.due(), None);
        assert!(w.offer("a\n".into(), t0).unwrap());
        assert_eq!(read(&path), "a\n");
        assert_eq!(w.due(), None);

        assert!(!w.offer("b\n".into(), t0 + s(1)).unwrap());
        assert!(!w.offer("c\n".into(), t0 + s(14)).unwrap());
        assert_eq!(read(&path), "a\n");
        assert_eq!(w.due(), Some(t0 + MIN));
        assert!(!w.flush_pending(t0 + s(14)).unwrap());
        assert_eq!(read(&path), "a\n");

        assert!(w.flush_pending(t0 + MIN).unwrap());
        assert_eq!(read(&path), "c\n");
        assert_eq!(w.due(), None);
        assert!(!w.flush_pending(t0 + s(100)).unwrap());

        // The interval runs from the last write, not the first offer.
        assert!(!w.offer("d\n".into(), t0 + s(29)).unwrap());
        assert_eq!(w.due(), Some(t0 + s(30)));
        assert!(w.offer("e\n".into(), t0 + s(30)).unwrap());
        assert_eq!(read(&path), "e\n");
        assert_eq!(w.due(), None);
        // Long after the last write, an offer is written at once.
        assert!(w.offer("f\n".into(), t0 + s(3600)).unwrap());
        assert_eq!(read(&path), "f\n");
    }

    #[test]
    fn content_the_file_already_holds_is_not_written_again() {
        let (_d, path, mut w, t0) = setup();
        assert!(w.offer("a\n".into(), t0).unwrap());
        let ino = std::fs::metadata(&path).unwrap().ino();
        assert!(!w.offer("a\n".into(), t0 + s(60)).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino, "rewritten");
        // A change that is undone before it was due leaves nothing to write.
        assert!(w.offer("b\n".into(), t0 + s(61)).unwrap());
        assert!(!w.offer("c\n".into(), t0 + s(62)).unwrap());
        assert!(w.due().is_some());
        assert!(!w.offer("b\n".into(), t0 + s(63)).unwrap());
        assert_eq!(w.due(), None);
        let ino = std::fs::metadata(&path).unwrap().ino();
        assert!(!w.flush_pending(t0 + s(120)).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino, "rewritten");
        assert_eq!(read(&path), "b\n");
    }

    #[test]
    fn flush_now_ignores_the_interval_for_shutdown() {
        let (_d, path, mut w, t0) = setup();
        assert!(!w.flush_now(t0).unwrap());
        assert!(w.offer("a\n".into(), t0).unwrap());
        assert!(!w.offer("b\n".into(), t0 + s(1)).unwrap());
        assert!(w.flush_now(t0 + s(2)).unwrap());
        assert_eq!(read(&path), "b\n");
        assert_eq!(w.due(), None);
    }

    #[test]
    fn a_failed_write_stays_pending_and_is_retried_after_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("textfile");
        let path = sub.join("clipwarden.prom");
        let mut w = TextfileWriter::new(path.clone(), MIN);
        let t0 = Instant::now();
        assert!(w.offer("a\n".into(), t0).is_err());
        assert_eq!(w.due(), Some(t0 + MIN), "a failing disk is not hammered");
        std::fs::create_dir(&sub).unwrap();
        assert!(!w.flush_pending(t0 + s(5)).unwrap());
        assert!(w.flush_pending(t0 + MIN).unwrap());
        assert_eq!(read(&path), "a\n");
    }

    #[test]
    fn replacement_is_atomic_readable_by_others_and_leaves_no_temp_file() {
        use std::io::Read;
        let (dir, path, mut w, t0) = setup();
        assert!(w.offer("old\n".into(), t0).unwrap());
        // A reader (node_exporter mid-scrape) that opened the old file keeps reading it whole:
        // the new content arrives by rename onto a new inode, never by rewriting in place.
        let mut reader = std::fs::File::open(&path).unwrap();
        let old_ino = reader.metadata().unwrap().ino();
        assert!(w.offer("new, longer\n".into(), t0 + MIN).unwrap());
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old\n");
        assert_eq!(read(&path), "new, longer\n");
        let meta = std::fs::metadata(&path).unwrap();
        assert_ne!(meta.ino(), old_ino);
        assert_eq!(meta.mode() & 0o777, TEXTFILE_MODE);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["clipwarden.prom"]);
    }
}
