//! Fault injection at the file I/O layer, and [`IoFile`], the wrapper every log and snapshot
//! write, truncate and fsync goes through.
//!
//! Tests arm a [`Faults`] (shared through `FileLogConfig::faults`) to make the next N writes,
//! fsyncs or truncates fail with `ENOSPC`/`EIO`-like errors, so the real error paths run. A
//! failing write first writes half of its buffer, as a short write before `ENOSPC` would.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Like `ENOSPC`.
    NoSpace,
    /// Like `EIO`.
    Io,
}

impl FaultKind {
    fn to_u8(self) -> u8 {
        match self {
            FaultKind::NoSpace => 0,
            FaultKind::Io => 1,
        }
    }

    fn from_u8(v: u8) -> Self {
        if v == 0 {
            FaultKind::NoSpace
        } else {
            FaultKind::Io
        }
    }

    fn error(self, op: &str) -> io::Error {
        match self {
            FaultKind::NoSpace => io::Error::new(
                io::ErrorKind::StorageFull,
                format!("No space left on device (injected {op} fault)"),
            ),
            FaultKind::Io => io::Error::other(format!("Input/output error (injected {op} fault)")),
        }
    }
}

/// A fault counter: fail the next `remaining` operations (`u32::MAX` = until cleared).
#[derive(Debug, Default)]
struct Counter {
    remaining: AtomicU32,
    kind: AtomicU8,
}

impl Counter {
    fn arm(&self, n: u32, kind: FaultKind) {
        self.kind.store(kind.to_u8(), Ordering::SeqCst);
        self.remaining.store(n, Ordering::SeqCst);
    }

    /// Consumes one armed fault, if any.
    fn take(&self) -> Option<FaultKind> {
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                0 => None,
                u32::MAX => Some(u32::MAX),
                n => Some(n - 1),
            })
            .ok()
            .map(|_| FaultKind::from_u8(self.kind.load(Ordering::SeqCst)))
    }
}

/// Test hook: makes upcoming file operations of a log fail.
#[derive(Debug, Default)]
pub struct Faults {
    writes: Counter,
    fsyncs: Counter,
    truncates: Counter,
    injected: AtomicU64,
    held: Mutex<bool>,
    released: Condvar,
}

impl Faults {
    /// A new, disarmed hook.
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    /// The next `n` writes fail (each after writing half of its buffer). `u32::MAX` = until
    /// [`Faults::clear`].
    pub fn fail_writes(&self, n: u32, kind: FaultKind) {
        self.writes.arm(n, kind);
    }

    /// The next `n` fsyncs (file `fdatasync` or directory fsync) fail without syncing.
    pub fn fail_fsyncs(&self, n: u32, kind: FaultKind) {
        self.fsyncs.arm(n, kind);
    }

    /// The next `n` truncates (`set_len`) fail.
    pub fn fail_truncates(&self, n: u32, kind: FaultKind) {
        self.truncates.arm(n, kind);
    }

    /// Disarms every fault and releases held fsyncs.
    pub fn clear(&self) {
        self.writes.arm(0, FaultKind::Io);
        self.fsyncs.arm(0, FaultKind::Io);
        self.truncates.arm(0, FaultKind::Io);
        self.release_fsyncs();
    }

    /// How many faults were injected so far.
    pub fn injected_count(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// File fsyncs block until [`Faults::release_fsyncs`] (to make group commit observable
    /// without timing).
    pub fn hold_fsyncs(&self) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    /// Unblocks held fsyncs.
    pub fn release_fsyncs(&self) {
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.released.notify_all();
    }

    fn wait_released(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        while *held {
            held = self
                .released
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn check(&self, counter: &Counter, op: &str) -> io::Result<()> {
        match counter.take() {
            Some(kind) => {
                self.injected.fetch_add(1, Ordering::SeqCst);
                Err(kind.error(op))
            }
            None => Ok(()),
        }
    }
}

/// A file whose writes, fsyncs and truncates pass through the fault hook. All methods take
/// `&self` so the `EverySec` syncer thread can share the writer's handle.
#[derive(Debug)]
pub(crate) struct IoFile {
    file: File,
    path: PathBuf,
    faults: Option<Arc<Faults>>,
}

impl IoFile {
    pub(crate) fn new(file: File, path: PathBuf, faults: Option<Arc<Faults>>) -> Self {
        IoFile { file, path, faults }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    pub(crate) fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if let Some(faults) = &self.faults
            && let Err(e) = faults.check(&faults.writes, "write")
        {
            (&self.file).write_all(&buf[..buf.len() / 2])?;
            return Err(e);
        }
        (&self.file).write_all(buf)
    }

    pub(crate) fn sync_data(&self) -> io::Result<()> {
        if let Some(faults) = &self.faults {
            faults.wait_released();
            faults.check(&faults.fsyncs, "fsync")?;
        }
        self.file.sync_data()
    }

    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        if let Some(faults) = &self.faults {
            faults.check(&faults.truncates, "truncate")?;
        }
        self.file.set_len(len)
    }

    /// Writes zeros over `[from, to)` without moving the cursor (preallocation).
    pub(crate) fn write_zeros(&self, from: u64, to: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if let Some(faults) = &self.faults {
            faults.check(&faults.writes, "write")?;
        }
        // Written from one static 1 MiB buffer of zeros: large writes, no allocation.
        static ZEROS: [u8; 1 << 20] = [0; 1 << 20];
        let mut at = from;
        while at < to {
            let n = (to - at).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    pub(crate) fn seek_to(&self, pos: u64) -> io::Result<()> {
        (&self.file).seek(SeekFrom::Start(pos)).map(|_| ())
    }
}

/// Fsyncs a directory, so that file creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path, faults: Option<&Faults>) -> io::Result<()> {
    if let Some(faults) = faults {
        faults.check(&faults.fsyncs, "directory fsync")?;
    }
    File::open(dir)?.sync_all()
}
