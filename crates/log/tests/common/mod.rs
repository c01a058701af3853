//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cairn_log::{Bytes, FileLog, FileLogConfig, LogError, LogHandle, LogSink, Recovery, Seq};

/// One outcome delivered to the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Durable(Seq, Vec<Bytes>),
    Failed(Vec<Bytes>, String),
}

impl Outcome {
    pub fn is_durable(&self) -> bool {
        matches!(self, Outcome::Durable(..))
    }
}

type Events = Arc<(Mutex<Vec<Outcome>>, Condvar)>;

/// A sink that records every outcome in order.
pub struct Collect(Events);

impl LogSink for Collect {
    fn durable(&self, first_seq: Seq, records: Vec<Bytes>) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().push(Outcome::Durable(first_seq, records));
        cv.notify_all();
    }

    fn failed(&self, records: Vec<Bytes>, error: String) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().push(Outcome::Failed(records, error));
        cv.notify_all();
    }

    fn delivered(&self, seq: Seq, _time_ms: u64, _records: Vec<Bytes>) {
        panic!("the file log delivered message {seq} as a shared log would");
    }

    fn barrier(&self, seq: Seq) {
        panic!("the file log answered a barrier ({seq}) it was never asked for");
    }

    fn lease(&self, epoch: u64) {
        panic!("the file log granted a lease ({epoch})");
    }

    fn lost(&self, error: String) {
        panic!("the file log reported itself lost: {error}");
    }
}

/// The test side of a [`Collect`] sink.
#[derive(Clone)]
pub struct Outcomes(Events);

/// Guards against a hang only; never a performance assertion.
const HANG_GUARD: Duration = Duration::from_secs(120);

impl Outcomes {
    /// Waits until `n` outcomes arrived and returns all of them.
    pub fn wait_for(&self, n: usize) -> Vec<Outcome> {
        let (m, cv) = &*self.0;
        let guard = m.lock().unwrap();
        let (guard, timeout) = cv
            .wait_timeout_while(guard, HANG_GUARD, |v| v.len() < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "outcomes never arrived: {} of {n}",
            guard.len()
        );
        guard.clone()
    }

    pub fn all(&self) -> Vec<Outcome> {
        self.0.0.lock().unwrap().clone()
    }
}

pub fn sink() -> (Box<dyn LogSink>, Outcomes) {
    let events: Events = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    (Box::new(Collect(events.clone())), Outcomes(events))
}

/// A config with small segments, so tests rotate.
pub fn config(dir: &Path) -> FileLogConfig {
    let mut c = FileLogConfig::new(dir);
    c.segment_bytes_max = 512;
    c.retry_interval = Duration::from_millis(20);
    c
}

pub fn start(config: FileLogConfig) -> (LogHandle, Outcomes, Recovery) {
    let (log, recovery) = FileLog::open(config).expect("open");
    let (sink, outcomes) = sink();
    (log.start(sink).expect("start"), outcomes, recovery)
}

/// Deterministic record content for seq-like index `i`.
pub fn record(i: u64, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    Bytes::from(v)
}

/// Opens `config.dir`, reads the snapshot and every record, and closes it again.
pub fn replay(config: FileLogConfig) -> Result<(Recovery, Vec<(Seq, Bytes)>), LogError> {
    let (log, recovery) = FileLog::open(config)?;
    let records = recovery.records().collect::<Result<Vec<_>, _>>()?;
    drop(log);
    Ok((recovery, records))
}

/// Segment files of `dir`, sorted.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    files_with_suffix(dir, ".seg")
}

pub fn snapshots(dir: &Path) -> Vec<PathBuf> {
    files_with_suffix(dir, ".snap")
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Byte offsets `[start, end)` of each record frame in a segment file (32-byte header).
pub fn frame_offsets(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut at = 32usize;
    let mut v = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 8 + len;
        assert!(end <= bytes.len(), "frame_offsets needs an intact segment");
        v.push((at as u64, end as u64));
        at = end;
    }
    v
}

/// Appends `records` one call per record and waits for all outcomes.
pub fn append_each(log: &LogHandle, out: &Outcomes, records: &[Bytes]) -> Vec<Outcome> {
    use cairn_log::Log;
    let before = out.all().len();
    for r in records {
        log.append(vec![r.clone()]);
    }
    out.wait_for(before + records.len())[before..].to_vec()
}
