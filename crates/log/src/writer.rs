//! The writer thread: group commit, segment rotation, and the failed (MISCONF) state.
//!
//! The thread blocks for the first queued message, drains everything else queued, writes all
//! accepted records (one buffer, large payloads written directly), runs one `fdatasync` under
//! `Always`, then reports each append call's outcome in order. Appends that arrive while an
//! fsync runs wait in the channel and form the next batch.
//!
//! On a write or fsync error the unreported records are failed, the writer enters the failed
//! state (every later append is failed with a `MISCONF` text) and immediately tries to restore
//! the tail: reopen the segment, truncate it to the last synced offset, rewrite from memory the
//! records already reported durable but not yet synced (`EverySec` only), fsync. The failed
//! state is left only when a retry of that restore succeeds, at most every `retry_interval`.
//! An fsync is never retried on the same dirty data: after a failed fsync the kernel may have
//! dropped the pages, so the bytes on disk are unknown and only truncation is trusted.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, error, info, warn};

use crate::faults::{IoFile, sync_dir};
use crate::recovery::Opened;
use crate::segment::{
    HEADER_LEN, TMP_SUFFIX, encode_frame, encode_frame_head, encode_header, frame_len,
    list_segments, segment_path,
};
use crate::sync::{SyncDone, SyncJob, Syncer};
use crate::{Faults, FileLogConfig, FsyncPolicy, LogSink, LogStats, Seq};

/// Messages to the writer thread.
pub(crate) enum Msg {
    Append(Vec<Bytes>),
    /// The syncer finished a sync.
    Wake,
    Shutdown,
}

/// Buffered bytes that trigger a write(2) within a batch.
const WRITE_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Payloads at least this large are written directly instead of copied into the buffer.
const DIRECT_WRITE_BYTES: usize = 1024 * 1024;
/// The write buffer is freed after a batch that grew it beyond this.
const BUF_KEEP_BYTES: usize = 16 * 1024 * 1024;
/// `EverySec` fsync period.
const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);

/// State shared between the writer thread and the handles.
pub(crate) struct Shared {
    pub(crate) stats: Mutex<LogStats>,
    /// Updated before each `durable` callback, so the sink can snapshot right away.
    pub(crate) durable_seq: AtomicU64,
    /// Held while segment files are created, removed or truncated (writer) or pruned
    /// (snapshots), so neither sees the other half-way.
    pub(crate) segments_lock: Mutex<()>,
}

/// The segment being appended to.
struct ActiveSegment {
    first_seq: Seq,
    path: PathBuf,
    file: Arc<IoFile>,
    written_len: u64,
    synced_len: u64,
    /// File length: records end at `written_len`, zeros follow up to here. Overwriting
    /// blocks that already exist lets fdatasync flush data alone, with no file-size update
    /// to journal: on ext4 an appending fdatasync costs ~20x an overwriting one.
    allocated_len: u64,
}

/// How much zeroed space is added to the active segment at a time.
const PREALLOC_BYTES: u64 = 8 * 1024 * 1024;

/// An append call waiting for the commit of its batch: outcomes are delivered in call order,
/// so even a rejected call waits for the accepted calls before it.
enum Pending {
    Accepted { first_seq: Seq, records: Vec<Bytes> },
    Rejected { records: Vec<Bytes>, text: String },
}

struct Failure {
    text: String,
    next_retry: Instant,
}

fn misconf(err: &io::Error) -> String {
    format!("MISCONF Errors writing to the log: {err}")
}

pub(crate) struct Writer {
    dir: PathBuf,
    policy: FsyncPolicy,
    segment_bytes_max: u64,
    record_bytes_max: u32,
    retry_interval: Duration,
    faults: Option<Arc<Faults>>,
    /// Held for the thread's lifetime: the directory lock.
    _lock: File,
    seg: Option<ActiveSegment>,
    /// Seq the next accepted record gets.
    next_seq: Seq,
    /// Last seq reported durable.
    reported_seq: Seq,
    /// Last seq covered by a successful fsync.
    synced_seq: Seq,
    /// `EverySec`: records `(synced_seq, reported_seq]`, all in the current segment.
    unsynced: VecDeque<Bytes>,
    failure: Option<Failure>,
    sink: Box<dyn LogSink>,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    stats: LogStats,
    syncer: Option<Syncer>,
    last_sync_start: Instant,
    /// Bumped whenever the segment handle changes; stale sync results are ignored.
    generation: u64,
    buf: Vec<u8>,
    /// Append calls the last commit served, and how long to wait for more when it was > 1.
    last_commit_calls: usize,
    commit_window: Duration,
}

impl Writer {
    pub(crate) fn new(
        config: &FileLogConfig,
        opened: Opened,
        sink: Box<dyn LogSink>,
        rx: Receiver<Msg>,
        shared: Arc<Shared>,
        syncer: Option<Syncer>,
    ) -> Self {
        let last = opened.last_seq;
        let seg = opened.tail.map(|t| ActiveSegment {
            first_seq: t.first_seq,
            path: t.file.path().to_path_buf(),
            file: Arc::new(t.file),
            written_len: t.len,
            synced_len: t.len,
            allocated_len: t.len,
        });
        let stats = LogStats {
            appended_seq: last,
            durable_seq: last,
            synced_seq: last,
            ..LogStats::default()
        };
        Writer {
            dir: config.dir.clone(),
            policy: config.fsync,
            segment_bytes_max: config.segment_bytes_max,
            record_bytes_max: config.record_bytes_max,
            retry_interval: config.retry_interval,
            faults: config.faults.clone(),
            _lock: opened.lock,
            seg,
            next_seq: last + 1,
            reported_seq: last,
            synced_seq: last,
            unsynced: VecDeque::new(),
            failure: None,
            sink,
            rx,
            shared,
            stats,
            syncer,
            last_sync_start: Instant::now(),
            generation: 0,
            buf: Vec::new(),
            last_commit_calls: 0,
            commit_window: config.commit_window,
        }
    }

    /// The thread body. Returns the sink, for appends after shutdown.
    pub(crate) fn run(mut self) -> Box<dyn LogSink> {
        self.publish();
        loop {
            let Some(first) = self.receive() else { break };
            let mut calls = Vec::new();
            let mut shutdown = false;
            let mut take = |m: Msg| match m {
                Msg::Append(records) => calls.push(records),
                Msg::Wake => {}
                Msg::Shutdown => shutdown = true,
            };
            let appending = matches!(first, Some(Msg::Append(_)));
            if let Some(m) = first {
                take(m);
            }
            while let Ok(m) = self.rx.try_recv() {
                take(m);
            }
            // Group commit window: when the last commit served several callers, wait a moment
            // for the rest of them before paying for an fsync (PostgreSQL's commit_delay). A
            // lone writer never waits.
            if appending && self.policy == FsyncPolicy::Always && self.last_commit_calls > 1 {
                let until = Instant::now() + self.commit_window;
                while let Ok(m) = self
                    .rx
                    .recv_timeout(until.saturating_duration_since(Instant::now()))
                {
                    take(m);
                }
            }
            self.last_commit_calls = calls.len();
            self.poll_sync();
            self.retry_if_due();
            if !calls.is_empty() {
                self.process(calls);
            }
            self.maybe_start_sync();
            self.publish();
            if shutdown {
                break;
            }
        }
        self.finish();
        self.sink
    }

    /// Waits for the next message or deadline: `None` when the channel is gone, `Some(None)`
    /// on a deadline.
    fn receive(&self) -> Option<Option<Msg>> {
        let deadline = match &self.failure {
            Some(f) => Some(f.next_retry),
            None if self.sync_wanted() => Some(self.last_sync_start + EVERYSEC_INTERVAL),
            None => None,
        };
        match deadline {
            None => self.rx.recv().ok().map(Some),
            Some(at) => match self
                .rx
                .recv_timeout(at.saturating_duration_since(Instant::now()))
            {
                Ok(m) => Some(Some(m)),
                Err(RecvTimeoutError::Timeout) => Some(None),
                Err(RecvTimeoutError::Disconnected) => None,
            },
        }
    }

    fn publish(&mut self) {
        self.stats.durable_seq = self.reported_seq;
        self.stats.synced_seq = self.synced_seq;
        self.stats.failed = self.failure.is_some();
        *self
            .shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = self.stats.clone();
    }

    fn process(&mut self, calls: Vec<Vec<Bytes>>) {
        let mut chunk = Vec::new();
        for records in calls {
            let rejection = match &self.failure {
                Some(f) => Some(f.text.clone()),
                None => self.oversized(&records),
            };
            if let Some(text) = rejection {
                chunk.push(Pending::Rejected { records, text });
                continue;
            }
            match self.stage(&mut chunk, &records) {
                Ok(()) => {
                    let first_seq = self.next_seq;
                    self.next_seq += records.len() as u64;
                    chunk.push(Pending::Accepted { first_seq, records });
                }
                Err(e) => self.enter_failed(&e, std::mem::take(&mut chunk), Some(records)),
            }
        }
        if let Err(e) = self.commit(&mut chunk) {
            self.enter_failed(&e, chunk, None);
        }
        if self.buf.capacity() > BUF_KEEP_BYTES {
            self.buf = Vec::new();
        }
    }

    fn oversized(&self, records: &[Bytes]) -> Option<String> {
        let max = self.record_bytes_max;
        let big = records.iter().find(|r| r.len() as u64 > u64::from(max))?;
        Some(format!(
            "ERR record of {} bytes exceeds record_bytes_max ({max})",
            big.len()
        ))
    }

    fn needs_rotation(&self, bytes: u64) -> bool {
        let Some(seg) = &self.seg else { return true };
        let used = seg.written_len + self.buf.len() as u64;
        used > HEADER_LEN && used + bytes > self.segment_bytes_max
    }

    /// Encodes one append call's records (rotating first if they do not fit), writing the
    /// buffer when it grows large. Seqs are assigned by the caller on success.
    fn stage(&mut self, chunk: &mut Vec<Pending>, records: &[Bytes]) -> io::Result<()> {
        let bytes: u64 = records.iter().map(|r| frame_len(r.len())).sum();
        if self.needs_rotation(bytes) {
            self.commit(chunk)?;
            self.rotate()?;
        }
        for r in records {
            encode_frame_head(&mut self.buf, r);
            if r.len() >= DIRECT_WRITE_BYTES {
                self.write_buf()?;
                self.write_direct(r)?;
            } else {
                self.buf.extend_from_slice(r);
                if self.buf.len() >= WRITE_CHUNK_BYTES {
                    self.write_buf()?;
                }
            }
        }
        Ok(())
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.write_direct_inner(None);
        self.buf.clear();
        result
    }

    fn write_direct(&mut self, payload: &[u8]) -> io::Result<()> {
        self.write_direct_inner(Some(payload))
    }

    /// Writes `payload`, or the buffer when `None`.
    fn write_direct_inner(&mut self, payload: Option<&[u8]>) -> io::Result<()> {
        let bytes = payload.unwrap_or(&self.buf);
        let seg = self
            .seg
            .as_mut()
            .ok_or_else(|| io::Error::other("no open segment"))?;
        let end = seg.written_len + bytes.len() as u64;
        if end > seg.allocated_len {
            // Zero a region ahead of the writes and make its size durable once, so that the
            // fdatasyncs of the next appends need not.
            let target = end.max((seg.allocated_len + PREALLOC_BYTES).min(self.segment_bytes_max));
            seg.file
                .write_zeros(seg.allocated_len.max(seg.written_len), target)?;
            seg.file.sync_data()?;
            seg.allocated_len = target;
        }
        seg.file.write_all(bytes)?;
        seg.written_len += bytes.len() as u64;
        self.stats.bytes_written += bytes.len() as u64;
        Ok(())
    }

    /// Writes what is buffered, fsyncs (`Always`) and reports the chunk durable. On error the
    /// chunk is left for the caller to fail.
    fn commit(&mut self, chunk: &mut Vec<Pending>) -> io::Result<()> {
        let last = self.next_seq - 1;
        if chunk.iter().any(|p| matches!(p, Pending::Accepted { .. })) {
            self.write_buf()?;
            self.stats.appended_seq = last;
            if self.policy == FsyncPolicy::Always
                && let Some(seg) = self.seg.as_mut()
            {
                seg.file.sync_data()?;
                seg.synced_len = seg.written_len;
                self.stats.fsync_count += 1;
                self.synced_seq = last;
            }
        }
        debug_assert!(self.buf.is_empty());
        for p in chunk.drain(..) {
            match p {
                Pending::Accepted { first_seq, records } => self.report_durable(first_seq, records),
                Pending::Rejected { records, text } => self.fail(records, text),
            }
        }
        debug_assert_eq!(self.reported_seq, last);
        Ok(())
    }

    fn report_durable(&mut self, first_seq: Seq, records: Vec<Bytes>) {
        let n = records.len() as u64;
        debug_assert_eq!(first_seq, self.reported_seq + 1);
        if self.policy == FsyncPolicy::EverySec {
            self.unsynced.extend(records.iter().cloned());
        }
        self.reported_seq = first_seq + n - 1;
        debug_assert!(
            self.policy == FsyncPolicy::Always
                || self.unsynced.len() as u64 == self.reported_seq - self.synced_seq
        );
        self.shared
            .durable_seq
            .store(self.reported_seq, Ordering::SeqCst);
        self.stats.records_durable += n;
        self.sink.durable(first_seq, records);
    }

    fn fail(&mut self, records: Vec<Bytes>, text: String) {
        self.stats.records_failed += records.len() as u64;
        self.sink.failed(records, text);
    }

    /// Records that `(synced_seq, seq]` are durable.
    fn mark_synced(&mut self, seq: Seq) {
        debug_assert!(seq <= self.reported_seq);
        if seq > self.synced_seq {
            let n = (seq - self.synced_seq) as usize;
            self.unsynced.drain(..n.min(self.unsynced.len()));
            self.synced_seq = seq;
        }
    }

    /// Makes the current segment durable and starts a new one at `next_seq`.
    fn rotate(&mut self) -> io::Result<()> {
        self.wait_sync()?;
        if let Some(seg) = self.seg.as_mut()
            && seg.synced_len < seg.written_len
        {
            seg.file.sync_data()?;
            seg.synced_len = seg.written_len;
            self.stats.fsync_count += 1;
            self.mark_synced(self.reported_seq);
        }
        // Only the last segment may end in preallocated zeros: trim this one (durably)
        // before the next exists.
        if let Some(seg) = self.seg.as_mut()
            && seg.allocated_len > seg.written_len
        {
            seg.file.set_len(seg.written_len)?;
            seg.file.sync_data()?;
            seg.allocated_len = seg.written_len;
        }
        let shared = Arc::clone(&self.shared);
        let _guard = shared
            .segments_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first_seq = self.next_seq;
        let (path, file) = create_segment(&self.dir, first_seq, self.faults.as_ref())?;
        debug!(file = %path.display(), "started a new log segment");
        self.seg = Some(ActiveSegment {
            first_seq,
            path,
            file: Arc::new(file),
            written_len: HEADER_LEN,
            synced_len: HEADER_LEN,
            allocated_len: HEADER_LEN,
        });
        self.generation += 1;
        Ok(())
    }

    /// Enters the failed state and reports the batch's unreported calls failed, in call
    /// order: accepted ones with the MISCONF text, rejected ones with their own.
    fn enter_failed(&mut self, err: &io::Error, chunk: Vec<Pending>, extra: Option<Vec<Bytes>>) {
        debug_assert!(self.failure.is_none());
        let text = misconf(err);
        error!(error = %err, "log write failed; appends are rejected until the log is writable again");
        self.buf.clear();
        self.next_seq = self.reported_seq + 1;
        self.stats.appended_seq = self.reported_seq;
        self.stats.last_error = Some(text.clone());
        self.failure = Some(Failure {
            text: text.clone(),
            next_retry: Instant::now() + self.retry_interval,
        });
        // The callers learn at once that their writes were not made durable. If the tail
        // cannot be restored yet, their bytes may still be in the file: should the process
        // crash before a retry restores it, they may reappear (as any unacknowledged write
        // may); once restored, they never will.
        if let Err(e) = self.restore_tail() {
            warn!(error = %e, "could not restore the log tail yet; will retry");
        }
        for p in chunk {
            match p {
                Pending::Accepted { records, .. } => self.fail(records, text.clone()),
                Pending::Rejected { records, text } => self.fail(records, text),
            }
        }
        if let Some(records) = extra {
            self.fail(records, text);
        }
    }

    fn retry_if_due(&mut self) {
        let Some(f) = &self.failure else { return };
        if Instant::now() < f.next_retry {
            return;
        }
        match self.restore_tail() {
            Ok(()) => {
                info!("the log is writable again");
                self.failure = None;
            }
            Err(e) => {
                warn!(error = %e, "the log is still not writable; will retry");
                let text = misconf(&e);
                self.stats.last_error = Some(text.clone());
                self.failure = Some(Failure {
                    text,
                    next_retry: Instant::now() + self.retry_interval,
                });
            }
        }
    }

    /// Brings the current segment back to exactly the reported records, from a fresh handle:
    /// truncate to the synced length, rewrite the reported-but-unsynced records from memory,
    /// fsync. Also removes segment files a failed rotation may have left.
    fn restore_tail(&mut self) -> io::Result<()> {
        // The result does not matter: everything after the synced length is rewritten anyway.
        let _ = self.wait_sync();
        let shared = Arc::clone(&self.shared);
        let _guard = shared
            .segments_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.remove_strays()?;
        let Some(seg) = self.seg.as_mut() else {
            return Ok(());
        };
        let file = OpenOptions::new().write(true).open(&seg.path)?;
        let file = IoFile::new(file, seg.path.clone(), self.faults.clone());
        file.set_len(seg.synced_len)?;
        file.seek_to(seg.synced_len)?;
        self.buf.clear();
        for r in &self.unsynced {
            encode_frame(&mut self.buf, r);
        }
        let len = seg.synced_len + self.buf.len() as u64;
        let written = file.write_all(&self.buf);
        self.buf.clear();
        written?;
        file.sync_data()?;
        debug_assert_eq!(file.file().metadata()?.len(), len);
        seg.file = Arc::new(file);
        seg.written_len = len;
        seg.synced_len = len;
        seg.allocated_len = len;
        self.stats.fsync_count += 1;
        self.generation += 1;
        self.mark_synced(self.reported_seq);
        Ok(())
    }

    /// Deletes segment files after the current one and unfinished `*.tmp` segments.
    fn remove_strays(&self) -> io::Result<()> {
        let after = self.seg.as_ref().map_or(self.next_seq, |s| s.first_seq + 1);
        let mut removed = false;
        let strays = list_segments(&self.dir).map_err(io::Error::other)?;
        for seg in strays.iter().filter(|s| s.first_seq >= after) {
            fs::remove_file(&seg.path)?;
            removed = true;
        }
        match fs::remove_file(tmp_path(&segment_path(&self.dir, self.next_seq))) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if removed {
            sync_dir(&self.dir, self.faults.as_deref())?;
        }
        Ok(())
    }

    /// `EverySec`: unsynced bytes and a syncer ready to take them (when it is busy, its
    /// `Wake` message ends the wait instead of a deadline).
    fn sync_wanted(&self) -> bool {
        self.syncer.as_ref().is_some_and(Syncer::ready)
            && self
                .seg
                .as_ref()
                .is_some_and(|s| s.written_len > s.synced_len)
    }

    fn maybe_start_sync(&mut self) {
        if self.failure.is_some() || self.last_sync_start.elapsed() < EVERYSEC_INTERVAL {
            return;
        }
        let (Some(syncer), Some(seg)) = (&self.syncer, &self.seg) else {
            return;
        };
        if seg.written_len <= seg.synced_len || !syncer.ready() {
            return;
        }
        syncer.submit(SyncJob {
            file: Arc::clone(&seg.file),
            len: seg.written_len,
            seq: self.reported_seq,
            generation: self.generation,
        });
        self.last_sync_start = Instant::now();
    }

    fn poll_sync(&mut self) {
        let Some(done) = self.syncer.as_ref().and_then(Syncer::poll) else {
            return;
        };
        if let Err(e) = self.sync_done(done) {
            if self.failure.is_none() {
                self.enter_failed(&e, Vec::new(), None);
            } else {
                self.stats.last_error = Some(misconf(&e));
            }
        }
    }

    /// Waits for an in-flight background sync and applies its result.
    fn wait_sync(&mut self) -> io::Result<()> {
        match self.syncer.as_ref().and_then(Syncer::wait) {
            Some(done) => self.sync_done(done),
            None => Ok(()),
        }
    }

    fn sync_done(&mut self, done: SyncDone) -> io::Result<()> {
        done.result?;
        if done.generation != self.generation {
            return Ok(());
        }
        if let Some(seg) = self.seg.as_mut() {
            seg.synced_len = seg.synced_len.max(done.len);
        }
        self.stats.fsync_count += 1;
        self.mark_synced(done.seq);
        Ok(())
    }

    /// Shutdown: settle the syncer, leave the failed state if possible, sync what is left.
    fn finish(&mut self) {
        if let Err(e) = self.wait_sync()
            && self.failure.is_none()
        {
            self.enter_failed(&e, Vec::new(), None);
        }
        if let Some(f) = self.failure.as_mut() {
            f.next_retry = Instant::now();
            self.retry_if_due();
        }
        if self.failure.is_none()
            && let Some(seg) = self.seg.as_mut()
            && seg.written_len > seg.synced_len
        {
            match seg.file.sync_data() {
                Ok(()) => {
                    seg.synced_len = seg.written_len;
                    self.stats.fsync_count += 1;
                    self.mark_synced(self.reported_seq);
                }
                Err(e) => {
                    self.stats.last_error = Some(misconf(&e));
                    self.failure = Some(Failure {
                        text: misconf(&e),
                        next_retry: Instant::now(),
                    });
                }
            }
        }
        if self.synced_seq < self.reported_seq {
            error!(
                synced = self.synced_seq,
                reported = self.reported_seq,
                "log shut down without syncing records reported durable; they may be lost"
            );
        }
        if let Some(mut syncer) = self.syncer.take() {
            syncer.stop();
        }
        // A clean shutdown leaves no preallocated zeros behind.
        if self.failure.is_none()
            && let Some(seg) = self.seg.as_mut()
            && seg.allocated_len > seg.written_len
            && seg
                .file
                .set_len(seg.written_len)
                .and_then(|()| seg.file.sync_data())
                .is_ok()
        {
            seg.allocated_len = seg.written_len;
        }
        self.publish();
    }
}

/// Creates segment `first_seq`: header written to a temp file, fdatasync, rename, dir fsync.
/// On failure nothing is left behind (best effort).
fn create_segment(
    dir: &Path,
    first_seq: Seq,
    faults: Option<&Arc<Faults>>,
) -> io::Result<(PathBuf, IoFile)> {
    let path = segment_path(dir, first_seq);
    let tmp = tmp_path(&path);
    let create = || -> io::Result<IoFile> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let file = IoFile::new(file, path.clone(), faults.cloned());
        file.write_all(&encode_header(first_seq))?;
        file.sync_data()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir, faults.map(|f| &**f))?;
        Ok(file)
    };
    match create() {
        Ok(file) => Ok((path, file)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_file(&path);
            let _ = sync_dir(dir, None);
            Err(e)
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    PathBuf::from(tmp)
}
