//! The ordered, durable log of Cairn.
//!
//! The database state is "the latest snapshot at seq S, plus every record after S replayed in
//! order". This crate stores both halves. Records are opaque [`Bytes`] (an encoded entry made by
//! another crate); the log never looks inside them.
//!
//! * [`Log`] / [`LogSink`] are the seam every backend implements: `append` never blocks on I/O,
//!   and each append call gets exactly one outcome (`durable` or `failed`) delivered to the sink,
//!   in append order, from the log's own thread.
//! * [`FileLog`] is the local-disk backend: segment files with CRC-framed records, group commit
//!   on a writer thread, torn-tail recovery, and a MISCONF-style failed state on I/O errors.
//! * Snapshots ([`Log::put_snapshot`], [`latest_snapshot`]) are lz4-compressed, CRC-checked
//!   files written atomically next to the segments.
//! * [`JetStreamLog`] is the shared backend: one replicated NATS JetStream stream that many
//!   nodes append to and all follow (`jetstream.rs`).
//!
//! The byte layout and every crash case are described in `docs/log-format.md`.

mod error;
mod faults;
mod handle;
pub mod jetstream;
mod reader;
mod recovery;
mod segment;
mod snapshot;
mod sync;
mod tail;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use bytes::Bytes;

pub use error::LogError;
pub use faults::{FaultKind, Faults};
pub use handle::{FileLog, LogHandle};
pub use jetstream::{BarrierMode, JetStreamConfig, JetStreamHandle, JetStreamLog};
pub use reader::{RecordIter, read_range};
pub use recovery::{Recovery, TruncatedTail};
pub use snapshot::latest_snapshot;

/// 1-based, contiguous position of a record in the log; 0 means "nothing".
pub type Seq = u64;

/// Default size at which a segment file is closed and a new one started.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 * 1024 * 1024;
/// Default largest accepted record: a 512 MiB Redis bulk string plus 1 MiB of entry overhead.
pub const RECORD_BYTES_MAX_DEFAULT: u32 = 512 * 1024 * 1024 + 1024 * 1024;
/// Default period of the failed-state retry.
pub const RETRY_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);
/// Default group commit window: none (an fsync starts as soon as there is something to sync).
pub const COMMIT_WINDOW_DEFAULT: Duration = Duration::ZERO;

/// When appended records are made durable (Redis `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// `fdatasync` before a record is reported durable (group commit). The default.
    #[default]
    Always,
    /// Report durable right after `write(2)`; `fdatasync` at most once per second on a
    /// background thread. An explicit opt-in relaxation: an OS crash or power loss can lose the
    /// last second of records that were reported durable.
    EverySec,
}

/// Configuration of a [`FileLog`].
#[derive(Debug, Clone)]
pub struct FileLogConfig {
    /// Directory holding the segments, the snapshots and the `LOCK` file (created if missing).
    pub dir: PathBuf,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// A segment is rotated once adding the next append call would take it past this size. A
    /// single append call larger than this still goes into one segment.
    pub segment_bytes_max: u64,
    /// Largest accepted record payload, checked on append and on recovery. Never lower it below
    /// the largest record already in the log: recovery treats a longer frame as damaged.
    pub record_bytes_max: u32,
    /// How often the writer retries leaving the failed state.
    pub retry_interval: Duration,
    /// Group commit window: when the previous fsync served several append calls, the writer
    /// waits this long for more before the next fsync (zero: never waits).
    pub commit_window: Duration,
    /// Fault injection for tests (`None` in production).
    pub faults: Option<Arc<Faults>>,
}

impl FileLogConfig {
    /// A configuration with the defaults: `Always`, 64 MiB segments, 513 MiB records, 1 s retry.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileLogConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            record_bytes_max: RECORD_BYTES_MAX_DEFAULT,
            retry_interval: RETRY_INTERVAL_DEFAULT,
            commit_window: COMMIT_WINDOW_DEFAULT,
            faults: None,
        }
    }
}

/// Counters and state of a log, for `INFO persistence`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Last seq handed to `write(2)` successfully.
    pub appended_seq: Seq,
    /// Last seq reported durable to the sink.
    pub durable_seq: Seq,
    /// Last seq covered by a successful `fdatasync` (equals `durable_seq` under `Always`).
    pub synced_seq: Seq,
    /// Successful `fdatasync` calls on segment files since start.
    pub fsync_count: u64,
    /// Bytes written to segment files since start.
    pub bytes_written: u64,
    /// Records reported durable since start.
    pub records_durable: u64,
    /// Records reported failed since start.
    pub records_failed: u64,
    /// The writer is in the failed (MISCONF) state: appends are rejected.
    pub failed: bool,
    /// Text of the most recent write/fsync error, kept after the log recovers.
    pub last_error: Option<String>,
}

/// One record read back from a log.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// The log position once this record is applied (records of one JetStream message share
    /// the message's sequence).
    pub seq: Seq,
    /// The log's own time for the record (the JetStream leader's timestamp), when it has one.
    pub time_ms: Option<u64>,
    pub bytes: Bytes,
}

/// Records read back from a log, in order.
pub type RecordStream = Box<dyn Iterator<Item = Result<LogRecord, LogError>> + Send>;

/// The seam every log backend implements.
///
/// The file log is written by one node: each `append` call gets exactly one outcome on the
/// [`LogSink`] given at start, `durable` with all of its records or `failed` with all of them,
/// delivered in append order from the log's own thread. A shared log (JetStream) delivers
/// every node's records, its own included, through `delivered`, in log order; it reports
/// `failed` only for records it will never store.
pub trait Log: Send + Sync {
    /// Queues records for appending. Never blocks on I/O.
    fn append(&self, records: Vec<Bytes>);
    /// Queues records of one write lane (an ordering domain of the node: its records reach
    /// the log in the order appended; different lanes may interleave). A log with one writer
    /// keeps everything in append order.
    fn append_lane(&self, lane: usize, records: Vec<Bytes>) {
        let _ = lane;
        self.append(records);
    }
    /// Asks for a read barrier, answered later through [`LogSink::barrier`]. Returns false
    /// when this log needs none: it has no writer but this node, so a read only waits for
    /// the node's own writes.
    fn barrier(&self) -> bool {
        false
    }
    /// Current counters and state.
    fn stats(&self) -> LogStats;
    /// Facts about the backend for INFO (`name`, value).
    fn describe(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Writes and syncs everything queued, reports its outcomes, stops the log's threads and
    /// joins them. Appends after shutdown are reported failed on the caller's thread.
    fn shutdown(&self);
    /// Stores a snapshot of the state at `seq` (which must be durable) and drops what it
    /// makes unnecessary. Callable from any thread, concurrently with appends.
    fn put_snapshot(&self, seq: Seq, state: &[u8]) -> Result<(), LogError>;
    /// The newest snapshot, `(seq, state)`.
    fn latest_snapshot(&self) -> Result<Option<(Seq, Vec<u8>)>, LogError>;
    /// The records after `after`, up to and including position `upto`.
    fn read_range(&self, after: Seq, upto: Seq) -> Result<RecordStream, LogError>;
    /// Carries a pub/sub message to the other nodes sharing this log (never stored, never
    /// replayed; at most once). A log with one node has no one to carry it to.
    fn broadcast(&self, message: Bytes) {
        let _ = message;
    }
}

/// Receives what a log reports.
pub trait LogSink: Send + 'static {
    /// File log: these records are on disk (`fdatasync` done under `Always`; `write(2)` done
    /// under `EverySec`) with seqs `first_seq..first_seq + records.len()`.
    fn durable(&self, first_seq: Seq, records: Vec<Bytes>);
    /// Shared log: the next message of the log, from any node, at position `seq`, stamped by
    /// the log at `time_ms`. `records` is empty for messages that carry no entries.
    fn delivered(&self, seq: Seq, time_ms: u64, records: Vec<Bytes>);
    /// These records were not made durable and will never be replayed. `error` is a
    /// client-facing text (`MISCONF ...` for I/O failures, `ERR ...` for rejected records).
    fn failed(&self, records: Vec<Bytes>, error: String);
    /// The answer to [`Log::barrier`]: the log's tail was at `seq` after the request was made.
    fn barrier(&self, seq: Seq);
    /// Shared log: this node acquired the housekeeping lease at `epoch` (it should append a
    /// Lease entry, which makes the grant take effect at that position of the log).
    fn lease(&self, epoch: u64);
    /// The log can no longer be followed (records this node needs are gone); the node must
    /// stop and be restarted from a snapshot.
    fn lost(&self, error: String);
    /// Shared log: a pub/sub message another node broadcast.
    fn broadcast(&self, message: Bytes) {
        let _ = message;
    }
}
