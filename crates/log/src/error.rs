//! The error type of the log.

use std::io;
use std::path::PathBuf;

use crate::Seq;

/// Everything that can go wrong opening, reading or writing the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O error on a file or directory of the log.
    #[error("log I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Damaged data that recovery must not guess about; the server refuses to start.
    #[error("log corrupt: {} at offset {offset}: {reason}", file.display())]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damaged header, frame or block in `file`.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record is larger than `record_bytes_max`.
    #[error("record of {len} bytes exceeds record_bytes_max ({max})")]
    RecordTooLarge {
        /// Payload length of the record.
        len: u64,
        /// The configured limit.
        max: u32,
    },
    /// Another process (or another `FileLog` in this one) holds the directory lock.
    #[error(
        "log directory {} is locked by another process (LOCK file held); is another server running on it?",
        dir.display()
    )]
    Locked {
        /// The log directory.
        dir: PathBuf,
    },
    /// The writer is in the failed state.
    #[error("log writer failed: {0}")]
    Failed(String),
    /// The log was shut down.
    #[error("log is closed")]
    Closed,
    /// A snapshot was offered for a seq the log has not made durable yet.
    #[error("snapshot at seq {seq} is ahead of the durable log (durable seq {durable})")]
    SnapshotAhead {
        /// Seq of the offered snapshot.
        seq: Seq,
        /// Last durable seq.
        durable: Seq,
    },
    /// Records asked for by `read_range` are not in the log.
    #[error("records {from}..={upto} are not in the log: {reason}")]
    Missing {
        /// First missing seq.
        from: Seq,
        /// Last seq asked for.
        upto: Seq,
        /// Why.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("invalid log configuration: {0}")]
    Config(String),
    /// NATS or JetStream reported an error.
    #[error("NATS: {0}")]
    Nats(String),
}

impl LogError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LogError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        LogError::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}
