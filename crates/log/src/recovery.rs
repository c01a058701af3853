//! Opening a log directory: lock it, clean leftovers, pick the snapshot, validate the segments
//! and repair a torn tail.
//!
//! Order of work in [`open`]:
//! 1. take the `LOCK` file (`File::try_lock`), delete `*.tmp` leftovers of interrupted
//!    creations;
//! 2. choose the newest valid snapshot (see [`crate::snapshot::choose`] for the fallback);
//! 3. delete segments that hold only records covered by the snapshot (an interrupted prune);
//! 4. validate the remaining segments in order: headers, seq contiguity, every frame's CRC.
//!    An invalid frame in a non-last segment is corruption; in the last segment the tail
//!    classifier (`tail.rs`) decides between a torn tail (truncate, fsync, warn) and
//!    corruption (error);
//! 5. fsync the last segment so that everything about to be replayed is durable.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::faults::{IoFile, sync_dir};
use crate::reader::RecordIter;
use crate::segment::{SegmentFile, TMP_SUFFIX, list_segments, scan_segment};
use crate::snapshot::{self, set_aside};
use crate::tail::{self, Verdict};
use crate::{Faults, FileLogConfig, LogError, Seq};

const LOCK_FILE: &str = "LOCK";

/// A torn tail that recovery removed from the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The segment file.
    pub file: PathBuf,
    /// Where the file now ends: the end of the last whole record.
    pub offset: u64,
    /// How many bytes were removed.
    pub bytes_removed: u64,
    /// Why the first removed frame was invalid.
    pub reason: String,
}

/// What [`crate::FileLog::open`] found: the state to rebuild is `snapshot` plus
/// [`Recovery::records`] replayed in order.
#[derive(Debug)]
pub struct Recovery {
    /// The newest valid snapshot, `(seq, state)`.
    pub snapshot: Option<(Seq, Vec<u8>)>,
    /// Seq of the last record (or of the snapshot, if the log holds nothing after it). The
    /// next appended record gets `last_seq + 1`.
    pub last_seq: Seq,
    /// The torn tail removed from the last segment, if any.
    pub truncated_tail: Option<TruncatedTail>,
    /// Damaged snapshots that were skipped (renamed to `*.corrupt`).
    pub discarded_snapshots: Vec<PathBuf>,
    snapshot_seq: Seq,
    segments: Vec<SegmentFile>,
    record_bytes_max: u32,
}

impl Recovery {
    /// Seq of the snapshot recovery starts from (0 if none).
    pub fn snapshot_seq(&self) -> Seq {
        self.snapshot_seq
    }

    /// The records after the snapshot, `(snapshot_seq, last_seq]`, in order, read from disk
    /// with their CRCs checked again. Consume it before starting to take snapshots.
    pub fn records(&self) -> RecordIter {
        RecordIter::new(
            self.segments.clone(),
            self.snapshot_seq,
            self.last_seq,
            self.record_bytes_max,
        )
        .unwrap_or_else(RecordIter::failed)
    }
}

/// The last segment, ready for appending.
#[derive(Debug)]
pub(crate) struct Tail {
    pub(crate) first_seq: Seq,
    pub(crate) file: IoFile,
    pub(crate) len: u64,
}

/// Everything the writer needs from recovery.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) lock: File,
    pub(crate) tail: Option<Tail>,
    pub(crate) last_seq: Seq,
}

fn lock_dir(dir: &Path) -> Result<File, LogError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| LogError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(LogError::io(&path, e)),
    }
}

/// Deletes `*.tmp` files: segments or snapshots whose creation never completed.
fn remove_leftovers(dir: &Path, faults: Option<&Faults>) -> Result<(), LogError> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if (name.starts_with("log-") || name.starts_with("snap-")) && name.ends_with(TMP_SUFFIX) {
            fs::remove_file(entry.path()).map_err(|e| LogError::io(entry.path(), e))?;
            info!(file = %entry.path().display(), "deleted an unfinished temporary file");
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir, faults).map_err(|e| LogError::io(dir, e))?;
    }
    Ok(())
}

fn remove_segments(segs: &[SegmentFile], why: &str) -> Result<(), LogError> {
    for seg in segs {
        fs::remove_file(&seg.path).map_err(|e| LogError::io(&seg.path, e))?;
        info!(file = %seg.path.display(), "deleted segment: {why}");
    }
    Ok(())
}

fn check_config(config: &FileLogConfig) -> Result<(), LogError> {
    if config.segment_bytes_max <= crate::segment::HEADER_LEN {
        return Err(LogError::Config(format!(
            "segment_bytes_max ({}) must exceed the segment header ({} bytes)",
            config.segment_bytes_max,
            crate::segment::HEADER_LEN
        )));
    }
    if config.record_bytes_max == 0 {
        return Err(LogError::Config("record_bytes_max must be positive".into()));
    }
    Ok(())
}

/// Opens `config.dir`; see the module docs.
pub(crate) fn open(config: &FileLogConfig) -> Result<(Opened, Recovery), LogError> {
    check_config(config)?;
    let dir = config.dir.as_path();
    let faults = config.faults.as_deref();
    fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
    let lock = lock_dir(dir)?;
    remove_leftovers(dir, faults)?;
    let mut segs = list_segments(dir)?;
    let chosen = snapshot::choose(dir, segs.first().map(|s| s.first_seq))?;
    let snap_seq = chosen.snapshot.as_ref().map_or(0, |(seq, _)| *seq);
    if !segs.is_empty() {
        let Some(start) = segs.iter().rposition(|s| s.first_seq <= snap_seq + 1) else {
            return Err(LogError::corrupt(
                &segs[0].path,
                0,
                format!(
                    "records {}..{} are missing: the log starts at seq {} but the snapshot is at seq {snap_seq}",
                    snap_seq + 1,
                    segs[0].first_seq,
                    segs[0].first_seq
                ),
            ));
        };
        let needed = segs.split_off(start);
        remove_segments(&segs, "all its records are covered by the snapshot")?;
        segs = needed;
    }
    let validated = validate(&segs, config)?;
    let mut tail = None;
    let last_seq = if validated.end_seq < snap_seq {
        // Only after an EverySec crash: the snapshot outlived unsynced records it covers.
        remove_segments(&segs, "the snapshot is newer than its last record")?;
        segs.clear();
        snap_seq
    } else {
        if let Some(last) = segs.last() {
            tail = Some(open_tail(last, validated.tail_len, config.faults.clone())?);
        }
        validated.end_seq
    };
    set_aside(dir, &chosen.corrupt, faults)?;
    sync_dir(dir, faults).map_err(|e| LogError::io(dir, e))?;
    let recovery = Recovery {
        snapshot: chosen.snapshot,
        last_seq,
        truncated_tail: validated.truncated,
        discarded_snapshots: chosen.corrupt,
        snapshot_seq: snap_seq,
        segments: segs,
        record_bytes_max: config.record_bytes_max,
    };
    Ok((
        Opened {
            lock,
            tail,
            last_seq,
        },
        recovery,
    ))
}

/// Result of validating the needed segments.
struct Validated {
    /// Seq of the last valid record (first seq - 1 of the first segment if none; 0 if no
    /// segments).
    end_seq: Seq,
    /// Valid length of the last segment.
    tail_len: u64,
    truncated: Option<TruncatedTail>,
}

fn validate(segs: &[SegmentFile], config: &FileLogConfig) -> Result<Validated, LogError> {
    let mut v = Validated {
        end_seq: segs.first().map_or(0, |s| s.first_seq.saturating_sub(1)),
        tail_len: 0,
        truncated: None,
    };
    for (i, seg) in segs.iter().enumerate() {
        if seg.first_seq != v.end_seq + 1 {
            return Err(LogError::corrupt(
                &seg.path,
                0,
                format!(
                    "segment starts at seq {} but the previous segment ends at seq {}: records are missing",
                    seg.first_seq, v.end_seq
                ),
            ));
        }
        let scan = scan_segment(seg, config.record_bytes_max)?;
        if let Some(reason) = scan.bad {
            if i + 1 < segs.len() {
                return Err(LogError::corrupt(
                    &seg.path,
                    scan.valid_len,
                    format!("{reason} (in a segment that is not the last one)"),
                ));
            }
            v.truncated = Some(repair_tail(
                seg,
                scan.valid_len,
                scan.file_len,
                reason,
                config,
            )?);
        }
        v.end_seq = seg.first_seq + scan.records - 1;
        v.tail_len = scan.valid_len;
    }
    Ok(v)
}

/// True if the file holds only zero bytes from `offset` to its end.
fn zeros_from(path: &Path, offset: u64) -> io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// Classifies the suspect region of the last segment; truncates a torn tail.
fn repair_tail(
    seg: &SegmentFile,
    bad: u64,
    file_len: u64,
    reason: String,
    config: &FileLogConfig,
) -> Result<TruncatedTail, LogError> {
    match tail::classify(&seg.path, bad, file_len, config.record_bytes_max)? {
        Verdict::Torn => {}
        Verdict::Corrupt { valid_frame_at } => {
            return Err(LogError::corrupt(
                &seg.path,
                bad,
                format!(
                    "{reason}; a valid record follows at offset {valid_frame_at}, so this is damage inside the log, not a torn tail"
                ),
            ));
        }
        Verdict::Undecided => {
            return Err(LogError::corrupt(
                &seg.path,
                bad,
                format!("{reason}; could not prove that no valid record follows"),
            ));
        }
    }
    let io_err = |e| LogError::io(&seg.path, e);
    let preallocated = zeros_from(&seg.path, bad).map_err(io_err)?;
    let file = OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .map_err(io_err)?;
    let file = IoFile::new(file, seg.path.clone(), config.faults.clone());
    file.set_len(bad).map_err(io_err)?;
    file.sync_data().map_err(io_err)?;
    debug_assert_eq!(file.file().metadata().map_err(io_err)?.len(), bad);
    if preallocated {
        // The writer preallocates zeros ahead of its appends: an all-zero rest is the normal
        // end of the last segment, not damage.
        debug!(file = %seg.path.display(), offset = bad, "trimmed preallocated space");
    } else {
        warn!(file = %seg.path.display(), offset = bad, bytes_removed = file_len - bad, %reason,
            "truncated a torn tail left by a crash");
    }
    Ok(TruncatedTail {
        file: seg.path.clone(),
        offset: bad,
        bytes_removed: file_len - bad,
        reason,
    })
}

/// Opens the last segment for appending at `len` and fsyncs it: records read back from the
/// page cache after a process crash become durable before anyone acts on them.
fn open_tail(seg: &SegmentFile, len: u64, faults: Option<Arc<Faults>>) -> Result<Tail, LogError> {
    let io_err = |e: io::Error| LogError::io(&seg.path, e);
    let file = OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .map_err(io_err)?;
    let file = IoFile::new(file, seg.path.clone(), faults);
    debug_assert_eq!(file.file().metadata().map_err(io_err)?.len(), len);
    file.seek_to(len).map_err(io_err)?;
    file.sync_data().map_err(io_err)?;
    Ok(Tail {
        first_seq: seg.first_seq,
        file,
        len,
    })
}
