//! [`FileLog`] (an opened, recovered log directory) and [`LogHandle`] (the running log).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SendError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::{self, JoinHandle, ThreadId};

use bytes::Bytes;
use tracing::error;

use crate::recovery::{self, Opened};
use crate::snapshot::{prune, write_snapshot};
use crate::sync::Syncer;
use crate::writer::{Msg, Shared, Writer};
use crate::{FileLogConfig, FsyncPolicy, Log, LogError, LogSink, LogStats, Recovery, Seq};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An opened, locked and recovered log directory, not yet accepting appends.
#[derive(Debug)]
pub struct FileLog {
    config: FileLogConfig,
    opened: Opened,
}

impl FileLog {
    /// Locks `config.dir` (a second opener gets [`LogError::Locked`]), validates every segment
    /// and recovers the tail. Returns what to replay: the newest valid snapshot and the records
    /// after it.
    pub fn open(config: FileLogConfig) -> Result<(FileLog, Recovery), LogError> {
        let (opened, recovery) = recovery::open(&config)?;
        Ok((FileLog { config, opened }, recovery))
    }

    /// Seq of the last record; the next append gets `last_seq() + 1`.
    pub fn last_seq(&self) -> Seq {
        self.opened.last_seq
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Spawns the writer thread (and the `EverySec` syncer). Outcomes go to `sink`.
    pub fn start(self, sink: Box<dyn LogSink>) -> Result<LogHandle, LogError> {
        let FileLog { config, opened } = self;
        let dir = config.dir.clone();
        let (tx, rx) = mpsc::channel();
        let syncer = match config.fsync {
            FsyncPolicy::Always => None,
            FsyncPolicy::EverySec => {
                Some(Syncer::spawn(tx.clone()).map_err(|e| LogError::io(&dir, e))?)
            }
        };
        let shared = Arc::new(Shared {
            stats: Mutex::new(LogStats::default()),
            durable_seq: AtomicU64::new(opened.last_seq),
            segments_lock: Mutex::new(()),
        });
        let writer = Writer::new(&config, opened, sink, rx, Arc::clone(&shared), syncer);
        let thread = thread::Builder::new()
            .name("cairn-log".into())
            .spawn(move || writer.run())
            .map_err(|e| LogError::io(&dir, e))?;
        let writer_id = thread.thread().id();
        Ok(LogHandle {
            inner: Arc::new(Inner {
                config,
                tx: RwLock::new(Some(tx)),
                shared,
                thread: Mutex::new(Some(thread)),
                writer_id,
                closed_sink: Mutex::new(None),
                snapshot_lock: Mutex::new(()),
            }),
        })
    }
}

/// The running log. Cheap to clone; the log shuts down when the last clone is dropped.
#[derive(Clone)]
pub struct LogHandle {
    inner: Arc<Inner>,
}

struct Inner {
    config: FileLogConfig,
    tx: RwLock<Option<Sender<Msg>>>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<Box<dyn LogSink>>>>,
    writer_id: ThreadId,
    /// The sink, handed back by the writer thread at shutdown.
    closed_sink: Mutex<Option<Box<dyn LogSink>>>,
    snapshot_lock: Mutex<()>,
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.tx
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn shutdown(&self) {
        // Waits for a snapshot in progress: the directory lock goes away with the writer.
        let _snapshot = lock(&self.snapshot_lock);
        let tx = self
            .tx
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tx) = tx {
            // Fails only if the writer thread is already gone (it panicked).
            let _ = tx.send(Msg::Shutdown);
        }
        if thread::current().id() == self.writer_id {
            // Called from a sink callback: the writer exits after this batch; joining here
            // would deadlock.
            return;
        }
        let mut thread = lock(&self.thread);
        if let Some(handle) = thread.take() {
            match handle.join() {
                Ok(sink) => *lock(&self.closed_sink) = Some(sink),
                Err(_) => error!("the log writer thread panicked"),
            }
        }
    }

    /// Appends after shutdown: reported failed on the caller's thread.
    fn fail_closed(&self, records: Vec<Bytes>) {
        // Taking the thread lock waits for a shutdown in progress to hand the sink back.
        drop(lock(&self.thread));
        match lock(&self.closed_sink).as_ref() {
            Some(sink) => sink.failed(records, "ERR log is closed".into()),
            None => error!(
                records = records.len(),
                "append after the log writer stopped; records dropped"
            ),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl LogHandle {
    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.inner.config.dir
    }
}

impl Log for LogHandle {
    /// Stores a snapshot of the engine state at `seq` (temp file, fsync, rename, dir fsync),
    /// then deletes segments holding only records <= `seq` and all snapshots but the newest
    /// two. Callable from any thread, concurrently with appends. `seq` must be durable.
    fn put_snapshot(&self, seq: Seq, state: &[u8]) -> Result<(), LogError> {
        let inner = &self.inner;
        let _snapshot = lock(&inner.snapshot_lock);
        if inner.is_closed() {
            return Err(LogError::Closed);
        }
        let durable = inner.shared.durable_seq.load(Ordering::SeqCst);
        if seq > durable {
            return Err(LogError::SnapshotAhead { seq, durable });
        }
        let dir = &inner.config.dir;
        let faults = inner.config.faults.as_ref();
        write_snapshot(dir, seq, state, faults)?;
        prune(dir, seq, faults.map(|f| &**f), &inner.shared.segments_lock);
        Ok(())
    }

    fn latest_snapshot(&self) -> Result<Option<(Seq, Vec<u8>)>, LogError> {
        crate::latest_snapshot(self.dir())
    }

    fn read_range(&self, after: Seq, upto: Seq) -> Result<crate::RecordStream, LogError> {
        let records = crate::read_range(self.dir(), after, upto)?;
        Ok(Box::new(records.map(|r| {
            r.map(|(seq, bytes)| crate::LogRecord {
                seq,
                time_ms: None,
                bytes,
            })
        })))
    }

    fn append(&self, records: Vec<Bytes>) {
        let records = {
            let tx = self.inner.tx.read().unwrap_or_else(PoisonError::into_inner);
            let Some(tx) = tx.as_ref() else {
                drop(tx);
                return self.inner.fail_closed(records);
            };
            match tx.send(Msg::Append(records)) {
                Ok(()) => return,
                Err(SendError(Msg::Append(records))) => records,
                Err(SendError(_)) => return,
            }
        };
        self.inner.fail_closed(records);
    }

    fn stats(&self) -> LogStats {
        let mut stats = lock(&self.inner.shared.stats).clone();
        stats.durable_seq = self.inner.shared.durable_seq.load(Ordering::SeqCst);
        stats
    }

    fn shutdown(&self) {
        self.inner.shutdown();
    }
}
