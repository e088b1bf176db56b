//! The parallel walk: a shared LIFO of directory jobs (depth-first, so few directory
//! descriptors are open at once) drained by a few threads, each with its own `getdents64`
//! buffer and its own results, merged once at the end.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex};

use jiff::Timestamp;

use super::{
    Deferred, FoundMarker, IndexedDir, MAX_SAMPLES, RootScan, Scan, ScanError, ScanRequest,
};
use crate::clip::{Brief, CameraId, Clip, ClipDir, Name};
use crate::dirent::{DirReader, Entry, Kind};
use crate::fsx::{self, FileKind};
use crate::holds::marker;
use crate::layout::{Expect, Partial};

/// One directory to read.
struct Job {
    dir: Arc<ClipDir>,
    open: Open,
    partial: Partial,
    camera: Option<CameraId>,
    /// Everything below is provably too young to act on: count, do not collect.
    young: bool,
    /// The root's device: the walk never crosses onto another filesystem.
    dev: u64,
}

/// How a job's directory is reached, never through a symlink.
enum Open {
    /// The root itself, by its configured path.
    Root,
    /// A name inside an open parent: the normal case, one `openat` per directory.
    At(Arc<OwnedFd>, Box<[u8]>),
    /// A deferred directory, re-opened from the root component by component.
    FromRoot,
}

struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
}

struct QueueState {
    jobs: Vec<Job>,
    active: usize,
}

impl Queue {
    /// The next job, or `None` once no job is queued and none is running.
    fn pop(&self) -> Option<Job> {
        let mut s = self.state.lock().expect("scan queue poisoned");
        loop {
            if let Some(job) = s.jobs.pop() {
                s.active += 1;
                return Some(job);
            }
            if s.active == 0 {
                self.wake.notify_all();
                return None;
            }
            s = self.wake.wait(s).expect("scan queue poisoned");
        }
    }

    fn finish(&self, children: &mut Vec<Job>) {
        let mut s = self.state.lock().expect("scan queue poisoned");
        s.active -= 1;
        let wake = !children.is_empty() || s.active == 0;
        s.jobs.append(children);
        drop(s);
        if wake {
            self.wake.notify_all();
        }
    }
}

/// Camera names are interned once per scan; each thread caches the ids it has seen so the
/// shared table is only locked for a name new to that thread.
#[derive(Default)]
struct Cameras {
    table: Mutex<CameraTable>,
}

/// Names by id, and ids by name.
type CameraTable = (Vec<String>, HashMap<Vec<u8>, CameraId>);

impl Cameras {
    /// Continues numbering from an earlier scan's table, so ids stay the same.
    fn from_names(names: &[String]) -> Cameras {
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_bytes().to_vec(), CameraId(i as u32)))
            .collect();
        Cameras {
            table: Mutex::new((names.to_vec(), ids)),
        }
    }

    fn intern(&self, cache: &mut HashMap<Box<[u8]>, CameraId>, name: &[u8]) -> CameraId {
        if let Some(&id) = cache.get(name) {
            return id;
        }
        let mut t = self.table.lock().expect("camera table poisoned");
        let (names, ids) = &mut *t;
        let id = *ids.entry(name.to_vec()).or_insert_with(|| {
            names.push(String::from_utf8_lossy(name).into_owned());
            CameraId(names.len() as u32 - 1)
        });
        cache.insert(name.into(), id);
        id
    }
}

/// One thread's results.
struct Worker<'r> {
    req: &'r ScanRequest<'r>,
    cameras: &'r Cameras,
    camera_cache: HashMap<Box<[u8]>, CameraId>,
    roots: Vec<RootScan>,
    clips: Vec<Clip>,
    indexed: Vec<IndexedDir>,
    /// The directory being read's clips, in index mode.
    briefs: Vec<Brief>,
    markers: Vec<FoundMarker>,
    children: Vec<Job>,
    /// Put provably young directories aside instead of reading them.
    defer: bool,
}

/// When counting deferred directories: stop once each root has counted what it needs.
struct Stop {
    need: Vec<u64>,
    have: Vec<std::sync::atomic::AtomicU64>,
}

pub(super) fn run(req: &ScanRequest<'_>) -> Scan {
    let mut roots = vec![RootScan::default(); req.roots.len()];
    let mut jobs = Vec::new();
    for (i, root) in req.roots.iter().enumerate().rev() {
        let i16 = u16::try_from(i).expect("fewer than 65536 roots");
        match super::fs_id(&root.path) {
            Ok(fs) => {
                roots[i].fs = Some(fs);
                jobs.push(Job {
                    dir: ClipDir::root(i16),
                    open: Open::Root,
                    partial: Partial::default(),
                    camera: None,
                    young: false,
                    dev: fs.dev,
                });
            }
            Err(e) => roots[i].unavailable = Some(e.to_string()),
        }
    }
    let cameras = Cameras::default();
    let results = drain(req, jobs, &cameras, req.defer_young, None);
    let mut scan = Scan {
        roots,
        ..Scan::default()
    };
    merge(&mut scan, results);
    scan.cameras = cameras.table.into_inner().expect("camera table poisoned").0;
    fill_mtime_spans(&mut scan.clips, req);
    scan
}

/// Walks one directory below a root and everything under it, as if reached from the root:
/// `partial` and `camera` are what the path to it says.
pub(super) fn run_subtree(
    req: &ScanRequest<'_>,
    dir: Arc<ClipDir>,
    partial: Partial,
    camera: Option<&[u8]>,
) -> Scan {
    let root = usize::from(dir.root);
    let mut scan = Scan {
        roots: vec![RootScan::default(); req.roots.len()],
        ..Scan::default()
    };
    let fs = match super::fs_id(&req.roots[root].path) {
        Ok(fs) => fs,
        Err(e) => {
            scan.roots[root].unavailable = Some(e.to_string());
            return scan;
        }
    };
    scan.roots[root].fs = Some(fs);
    let cameras = Cameras::default();
    let camera = camera.map(|c| cameras.intern(&mut HashMap::new(), c));
    let job = Job {
        dir,
        open: Open::FromRoot,
        partial,
        camera,
        young: false,
        dev: fs.dev,
    };
    let results = drain(req, vec![job], &cameras, false, None);
    merge(&mut scan, results);
    scan.cameras = cameras.table.into_inner().expect("camera table poisoned").0;
    scan
}

/// Counts clips in a root's deferred directories until it has counted `need[root]` in all
/// (or every deferred directory is read). Nothing is collected: they are all too young.
pub(super) fn count_deferred(req: &ScanRequest<'_>, scan: &mut Scan, need: &[u64]) {
    let mut jobs = Vec::new();
    for (root, r) in scan.roots.iter_mut().enumerate() {
        if r.recognised >= need[root] {
            continue;
        }
        for d in r.deferred.drain(..) {
            r.counted.push(d.dir.clone());
            jobs.push(Job {
                dir: d.dir,
                open: Open::FromRoot,
                partial: d.partial,
                camera: d.camera,
                young: true,
                dev: d.dev,
            });
        }
    }
    let stop = Stop {
        need: need.to_vec(),
        have: scan.roots.iter().map(|r| r.recognised.into()).collect(),
    };
    let cameras = Cameras::from_names(&scan.cameras);
    let results = drain(req, jobs, &cameras, false, Some(&stop));
    merge(scan, results);
    scan.cameras = cameras.table.into_inner().expect("camera table poisoned").0;
}

/// Runs `jobs` and everything they lead to on the request's threads.
fn drain<'r>(
    req: &'r ScanRequest<'r>,
    jobs: Vec<Job>,
    cameras: &'r Cameras,
    defer: bool,
    stop: Option<&'r Stop>,
) -> Vec<Worker<'r>> {
    let queue = Queue {
        state: Mutex::new(QueueState { jobs, active: 0 }),
        wake: Condvar::new(),
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..req.threads.max(1))
            .map(|_| {
                let queue = &queue;
                scope.spawn(move || {
                    let mut w = Worker {
                        req,
                        cameras,
                        camera_cache: HashMap::new(),
                        roots: vec![RootScan::default(); req.roots.len()],
                        clips: Vec::new(),
                        indexed: Vec::new(),
                        briefs: Vec::new(),
                        markers: Vec::new(),
                        children: Vec::new(),
                        defer,
                    };
                    let mut reader = DirReader::default();
                    while let Some(job) = queue.pop() {
                        let root = usize::from(job.dir.root);
                        match stop {
                            Some(s) if s.have[root].load(Relaxed) >= s.need[root] => {
                                // Enough is counted: the rest stays unread.
                                w.roots[root].incomplete = true;
                            }
                            Some(s) => {
                                let before = w.roots[root].recognised;
                                w.read_dir(job, &mut reader);
                                s.have[root].fetch_add(w.roots[root].recognised - before, Relaxed);
                            }
                            None => w.read_dir(job, &mut reader),
                        }
                        queue.finish(&mut w.children);
                    }
                    w
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan thread panicked"))
            .collect()
    })
}

fn merge(scan: &mut Scan, results: Vec<Worker<'_>>) {
    for w in results {
        for (total, part) in scan.roots.iter_mut().zip(w.roots) {
            total.recognised += part.recognised;
            total.counted_only += part.counted_only;
            total.unrecognised += part.unrecognised;
            total.root_marker |= part.root_marker;
            total.incomplete |= part.incomplete;
            total.dirs_read += part.dirs_read;
            total.dirs_counted_only += part.dirs_counted_only;
            total.errors.extend(part.errors);
            total.other_fs.extend(part.other_fs);
            total.unrecognised_samples.extend(part.unrecognised_samples);
            total.deferred.extend(part.deferred);
            total.counted.extend(part.counted);
        }
        scan.clips.extend(w.clips);
        scan.indexed.extend(w.indexed);
        scan.markers.extend(w.markers);
    }
    for r in &mut scan.roots {
        r.unrecognised_samples.sort();
        r.unrecognised_samples.truncate(MAX_SAMPLES);
        r.errors.sort_by(|a, b| a.path.cmp(&b.path));
    }
}

/// For `mtime` layouts a recording runs from the previous clip's mtime on that camera to its
/// own; only the whole set of a camera's clips tells where each began.
fn fill_mtime_spans(clips: &mut [Clip], req: &ScanRequest<'_>) {
    let mut idx: Vec<usize> = (0..clips.len())
        .filter(|&i| req.roots[usize::from(clips[i].root())].layout.is_mtime())
        .collect();
    idx.sort_by_key(|&i| (clips[i].root(), clips[i].camera, clips[i].meta.mtime));
    let mut prev: Option<(u16, CameraId, Timestamp)> = None;
    for i in idx {
        let c = &mut clips[i];
        let start = match prev {
            Some((r, cam, t)) if r == c.root() && cam == c.camera => t,
            _ => c
                .meta
                .mtime
                .checked_sub(crate::layout::MTIME_UNKNOWN_START)
                .unwrap_or(c.meta.mtime),
        };
        c.span = (start, c.meta.mtime);
        prev = Some((c.root(), c.camera, c.meta.mtime));
    }
}

impl Worker<'_> {
    fn read_dir(&mut self, job: Job, reader: &mut DirReader) {
        let root_idx = usize::from(job.dir.root);
        let root = &self.req.roots[root_idx];
        let opened = match &job.open {
            Open::Root => fsx::open_root(&root.path),
            Open::At(parent, name) => fsx::open_dir_at(parent.as_fd(), name),
            Open::FromRoot => {
                fsx::open_root(&root.path).and_then(|r| fsx::open_rel_dir(r.as_fd(), &job.dir.rel))
            }
        };
        let fd = match opened.and_then(|fd| fsx::stat_fd(fd.as_fd()).map(|m| (fd, m))) {
            Ok((fd, meta)) if meta.dev == job.dev => fd,
            Ok(_) => {
                self.roots[root_idx].other_fs.push(job.dir.rel.to_vec());
                return;
            }
            Err(e) => {
                self.roots[root_idx].errors.push(ScanError {
                    path: job.dir.path(&root.path),
                    error: e.to_string(),
                });
                return;
            }
        };
        self.roots[root_idx].dirs_read += 1;
        if job.young {
            self.roots[root_idx].dirs_counted_only += 1;
        }
        let fd = Arc::new(fd);
        let result = reader.for_each(fd.as_fd(), |e| self.entry(&job, &fd, e));
        if !self.briefs.is_empty() {
            let mut clips = std::mem::take(&mut self.briefs);
            clips.sort_by_key(|b| b.recorded);
            // The daemon keeps these for weeks: no growth slack.
            clips.shrink_to_fit();
            self.indexed.push(IndexedDir {
                dir: job.dir.clone(),
                clips,
            });
        }
        if let Err(e) = result {
            self.roots[root_idx].errors.push(ScanError {
                path: job.dir.path(&root.path),
                error: e.to_string(),
            });
        }
    }

    fn entry(&mut self, job: &Job, fd: &Arc<OwnedFd>, e: Entry<'_>) {
        let root_idx = usize::from(job.dir.root);
        let root = &self.req.roots[root_idx];
        let level = usize::from(job.dir.level);

        if e.name == b".hold" {
            if level == 0 {
                self.roots[root_idx].root_marker = true;
            } else if !job.young {
                let file = marker::read(fd.as_fd(), e.name, self.req.zone);
                self.markers.push(FoundMarker {
                    dir: job.dir.clone(),
                    clip: None,
                    file,
                });
            }
            return;
        }
        if let Some(clip) = e.name.strip_suffix(b".hold") {
            if !job.young {
                let file = marker::read(fd.as_fd(), e.name, self.req.zone);
                self.markers.push(FoundMarker {
                    dir: job.dir.clone(),
                    clip: Some(clip.into()),
                    file,
                });
            }
            return;
        }

        let kind = match e.kind {
            Kind::Unknown => match fsx::stat_at(fd.as_fd(), e.name) {
                Ok(m) => match m.kind {
                    FileKind::File => Kind::File,
                    FileKind::Dir => Kind::Dir,
                    FileKind::Symlink => Kind::Symlink,
                    FileKind::Other => Kind::Other,
                },
                Err(_) => return, // vanished since the directory was read
            },
            k => k,
        };
        let layout = &root.layout;
        match kind {
            Kind::Dir => {
                let descend = match layout.expect(level) {
                    Expect::Dir => true,
                    Expect::File => layout.is_mtime(),
                    Expect::Nothing => false,
                };
                let mut partial = job.partial;
                let matched = if descend {
                    layout.match_name(level, e.name, &root.extensions, &mut partial)
                } else {
                    None
                };
                let Some(m) = matched else {
                    if e.name != b"lost+found" && !e.name.starts_with(b".") {
                        self.unrecognised(job, e.name, true);
                    }
                    return;
                };
                let camera = match m.camera {
                    Some((a, b)) => {
                        Some(self.cameras.intern(&mut self.camera_cache, &e.name[a..b]))
                    }
                    None => job.camera,
                };
                let young = job.young || self.provably_young(root_idx, level, &partial);
                let dir = Arc::new(job.dir.child(e.name));
                if young && self.defer {
                    self.roots[root_idx].deferred.push(Deferred {
                        dir,
                        partial,
                        camera,
                        dev: job.dev,
                    });
                    return;
                }
                self.children.push(Job {
                    dir,
                    open: Open::At(fd.clone(), e.name.into()),
                    partial,
                    camera,
                    young,
                    dev: job.dev,
                });
            }
            Kind::File => {
                if root.has_clip_extension(e.name) {
                    self.file(job, fd, e.name);
                }
            }
            Kind::Symlink | Kind::Other => {
                if root.has_clip_extension(e.name) {
                    self.unrecognised(job, e.name, false);
                }
            }
            Kind::Unknown => unreachable!("resolved above"),
        }
    }

    /// A regular file with a clip extension at some level.
    fn file(&mut self, job: &Job, fd: &Arc<OwnedFd>, name: &[u8]) {
        let root_idx = usize::from(job.dir.root);
        let root = &self.req.roots[root_idx];
        let layout = &root.layout;
        let level = usize::from(job.dir.level);
        let mut partial = job.partial;
        let matched = match layout.expect(level) {
            Expect::File => layout.match_name(level, name, &root.extensions, &mut partial),
            _ => None,
        };
        let Some(m) = matched else {
            self.unrecognised(job, name, false);
            return;
        };
        let camera = match m.camera {
            Some((a, b)) => Some(self.cameras.intern(&mut self.camera_cache, &name[a..b])),
            None => job.camera,
        };
        let Some(camera) = camera else {
            self.unrecognised(job, name, false);
            return;
        };
        // Named layouts give the time without a stat; mtime layouts need the inode first.
        let (recorded, meta) = if layout.is_mtime() {
            match fsx::stat_at(fd.as_fd(), name) {
                Ok(m) if m.is_file() => (m.mtime, Some(m)),
                Ok(_) => return, // replaced by a non-file since the directory was read
                Err(e) => {
                    self.stat_failed(job, name, &e);
                    return;
                }
            }
        } else {
            match layout.resolve(&partial) {
                Some(t) => (t, None),
                None => {
                    self.unrecognised(job, name, false);
                    return;
                }
            }
        };
        let counts = &mut self.roots[root_idx];
        counts.recognised += 1;
        let collect_before = self.req.collect_before[root_idx];
        let young = job.young
            || (!self.req.is_unjudgeable(recorded)
                && collect_before.is_some_and(|c| recorded >= c));
        if young {
            counts.counted_only += 1;
            return;
        }
        let meta = match meta {
            Some(m) => m,
            None => match fsx::stat_at(fd.as_fd(), name) {
                Ok(m) if m.is_file() => m,
                other => {
                    // Gone or replaced by a non-file since the directory was read: not a clip
                    // now. Any other failure is reported: nothing escapes retention silently.
                    counts.recognised -= 1;
                    if let Err(e) = other {
                        self.stat_failed(job, name, &e);
                    }
                    return;
                }
            },
        };
        if self.req.index {
            self.briefs.push(Brief {
                name: Name::new(name),
                recorded: recorded.as_second(),
                mtime: meta.mtime.as_second(),
                size: meta.size,
                camera,
                due: i64::MAX,
            });
            return;
        }
        self.clips.push(Clip {
            dir: job.dir.clone(),
            name: name.into(),
            camera,
            recorded,
            span: (recorded, recorded.max(meta.mtime)),
            meta,
        });
    }

    /// True when every clip below a directory with these fields is judgeable and recorded
    /// after the collection cutoff.
    fn provably_young(&self, root_idx: usize, level: usize, partial: &Partial) -> bool {
        let Some(cutoff) = self.req.collect_before[root_idx] else {
            return false;
        };
        let layout = &self.req.roots[root_idx].layout;
        if !layout.level_has_time(level) {
            return false;
        }
        layout.bounds(partial).is_some_and(|(lo, hi)| {
            lo >= cutoff && !self.req.is_unjudgeable(lo) && !self.req.is_unjudgeable(hi)
        })
    }

    /// A clip's inode could not be read. Vanishing since the directory was read is no news;
    /// anything else is reported with its path, like an unreadable directory.
    fn stat_failed(&mut self, job: &Job, name: &[u8], e: &std::io::Error) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return;
        }
        let root = &self.req.roots[usize::from(job.dir.root)];
        self.roots[usize::from(job.dir.root)]
            .errors
            .push(ScanError {
                path: crate::fsx::join(&root.path, &job.dir.rel, name),
                error: e.to_string(),
            });
    }

    fn unrecognised(&mut self, job: &Job, name: &[u8], is_dir: bool) {
        let r = &mut self.roots[usize::from(job.dir.root)];
        r.unrecognised += 1;
        if r.unrecognised_samples.len() < MAX_SAMPLES {
            let mut p = job.dir.child(name).rel.into_vec();
            if is_dir {
                p.push(b'/');
            }
            r.unrecognised_samples.push(p);
        }
    }
}
