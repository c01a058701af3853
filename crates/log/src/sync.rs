//! The `EverySec` background syncer: one thread that runs `fdatasync` on the current segment
//! when the writer asks, at most once per second, so that reporting records durable never
//! waits for the disk.
//!
//! Only one sync is ever in flight, and the writer waits for it before rotating, truncating or
//! shutting down, so two fsyncs never race on the same file (an fsync error is reported to only
//! one of two concurrent callers on Linux, which would let the other one carry on wrongly).

use std::io;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crate::Seq;
use crate::faults::IoFile;
use crate::writer::Msg;

/// A request to make `file` durable up to `len` bytes (= records up to `seq`).
pub(crate) struct SyncJob {
    pub(crate) file: Arc<IoFile>,
    pub(crate) len: u64,
    pub(crate) seq: Seq,
    /// The writer's segment generation when the job was made; a stale result is ignored.
    pub(crate) generation: u64,
}

/// The outcome of a [`SyncJob`].
pub(crate) struct SyncDone {
    pub(crate) len: u64,
    pub(crate) seq: Seq,
    pub(crate) generation: u64,
    pub(crate) result: io::Result<()>,
}

#[derive(Default)]
struct Slot {
    job: Option<SyncJob>,
    done: Option<SyncDone>,
    busy: bool,
    stop: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Slot> {
    shared.0.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Handle to the syncer thread, owned by the writer.
pub(crate) struct Syncer {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the thread; it sends [`Msg::Wake`] on `wake` after each sync.
    pub(crate) fn spawn(wake: Sender<Msg>) -> io::Result<Syncer> {
        let shared: Shared = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = thread::Builder::new()
            .name("cairn-log-sync".into())
            .spawn(move || run(&theirs, &wake))?;
        Ok(Syncer {
            shared,
            thread: Some(thread),
        })
    }

    /// Whether a new job can be submitted: nothing in flight and the last result collected
    /// (a result is never overwritten, so an fsync error cannot be lost).
    pub(crate) fn ready(&self) -> bool {
        let slot = lock(&self.shared);
        !slot.busy && slot.done.is_none()
    }

    pub(crate) fn submit(&self, job: SyncJob) {
        let mut slot = lock(&self.shared);
        debug_assert!(!slot.busy && slot.job.is_none() && slot.done.is_none());
        slot.job = Some(job);
        slot.busy = true;
        self.shared.1.notify_all();
    }

    /// The result of a finished sync, if any.
    pub(crate) fn poll(&self) -> Option<SyncDone> {
        lock(&self.shared).done.take()
    }

    /// Waits until no sync is in flight and returns the last result, if any.
    pub(crate) fn wait(&self) -> Option<SyncDone> {
        let mut slot = lock(&self.shared);
        while slot.busy {
            slot = self
                .shared
                .1
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
        slot.done.take()
    }

    /// Stops and joins the thread (after any in-flight sync).
    pub(crate) fn stop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.1.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the log sync thread panicked");
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, wake: &Sender<Msg>) {
    loop {
        let job = {
            let mut slot = lock(shared);
            loop {
                if let Some(job) = slot.job.take() {
                    break job;
                }
                if slot.stop {
                    return;
                }
                slot = shared.1.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let result = job.file.sync_data();
        {
            let mut slot = lock(shared);
            slot.done = Some(SyncDone {
                len: job.len,
                seq: job.seq,
                generation: job.generation,
                result,
            });
            slot.busy = false;
            shared.1.notify_all();
        }
        // The writer may already be gone at shutdown; nothing to wake then.
        let _ = wake.send(Msg::Wake);
    }
}
