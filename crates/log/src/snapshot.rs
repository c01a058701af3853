//! Snapshot files: engine state at seq S, opaque to the log.
//!
//! ```text
//! header (40 bytes): magic "CAIRNSNP" | version u32 | block_bytes u32 | seq u64
//!                    | state_len u64 | reserved u32 (0) | crc32c(bytes 0..36) u32
//! block (repeated ceil(state_len / block_bytes) times):
//!                    raw_len u32 | stored_len u32 | crc32c(raw_len ++ stored_len ++ stored) u32
//!                    | stored bytes (lz4 block if stored_len < raw_len, else raw)
//! trailer (24 bytes): magic "CAIRNEND" | state_len u64 | crc32c(state) u32
//!                    | crc32c(trailer bytes 0..20) u32
//! ```
//!
//! Written to `snap-<seq>.snap.tmp`, fdatasync'ed, renamed to `snap-<seq>.snap`, then the
//! directory is fsync'ed. After that, log segments holding only records <= seq are deleted and
//! all snapshots but the newest two are deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::{info, warn};

use crate::faults::{IoFile, sync_dir};
use crate::segment::list_segments;
use crate::{Faults, LogError, Seq};

const SNAP_MAGIC: [u8; 8] = *b"CAIRNSNP";
const SNAP_END_MAGIC: [u8; 8] = *b"CAIRNEND";
const SNAP_VERSION: u32 = 1;
const SNAP_HEADER_LEN: usize = 40;
const BLOCK_HEAD_LEN: usize = 12;
const TRAILER_LEN: usize = 24;
/// Uncompressed size of a block when writing.
const BLOCK_BYTES: u32 = 1024 * 1024;
/// Largest block size a reader accepts (bounds allocations on a damaged header).
const BLOCK_BYTES_MAX: u32 = 64 * 1024 * 1024;
const SNAP_PREFIX: &str = "snap-";
const SNAP_SUFFIX: &str = ".snap";
/// Suffix given to a snapshot that failed verification and was skipped on open.
pub(crate) const CORRUPT_SUFFIX: &str = ".corrupt";

/// A snapshot file found in the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotFile {
    pub(crate) path: PathBuf,
    pub(crate) seq: Seq,
}

fn snapshot_name(seq: Seq) -> String {
    format!("{SNAP_PREFIX}{seq:020}{SNAP_SUFFIX}")
}

fn parse_snapshot_name(name: &str) -> Option<Seq> {
    let digits = name.strip_prefix(SNAP_PREFIX)?.strip_suffix(SNAP_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Snapshot files of `dir`, oldest first.
pub(crate) fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotFile>, LogError> {
    let mut snaps = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| LogError::io(dir, e))? {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_snapshot_name) {
            snaps.push(SnapshotFile {
                path: entry.path(),
                seq,
            });
        }
    }
    snaps.sort_by_key(|s| s.seq);
    Ok(snaps)
}

/// The newest snapshot in `dir`, verified. A damaged newest snapshot is an error here; the
/// fallback to an older one is decided by [`crate::FileLog::open`], which knows the log.
pub fn latest_snapshot(dir: &Path) -> Result<Option<(Seq, Vec<u8>)>, LogError> {
    match list_snapshots(dir)?.last() {
        Some(snap) => read_snapshot(snap).map(|state| Some((snap.seq, state))),
        None => Ok(None),
    }
}

fn encode_header(seq: Seq, state_len: u64) -> [u8; SNAP_HEADER_LEN] {
    let mut h = [0u8; SNAP_HEADER_LEN];
    h[0..8].copy_from_slice(&SNAP_MAGIC);
    h[8..12].copy_from_slice(&SNAP_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&BLOCK_BYTES.to_le_bytes());
    h[16..24].copy_from_slice(&seq.to_le_bytes());
    h[24..32].copy_from_slice(&state_len.to_le_bytes());
    let crc = crc32c::crc32c(&h[..36]);
    h[36..40].copy_from_slice(&crc.to_le_bytes());
    h
}

fn encode_block(out: &mut Vec<u8>, raw: &[u8], scratch: &mut Vec<u8>) {
    scratch.resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
    let stored: &[u8] = match lz4_flex::block::compress_into(raw, scratch) {
        Ok(n) if n < raw.len() => &scratch[..n],
        _ => raw,
    };
    let raw_len = (raw.len() as u32).to_le_bytes();
    let stored_len = (stored.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&raw_len), &stored_len),
        stored,
    );
    out.extend_from_slice(&raw_len);
    out.extend_from_slice(&stored_len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(stored);
}

fn encode_trailer(state: &[u8]) -> [u8; TRAILER_LEN] {
    let mut t = [0u8; TRAILER_LEN];
    t[0..8].copy_from_slice(&SNAP_END_MAGIC);
    t[8..16].copy_from_slice(&(state.len() as u64).to_le_bytes());
    t[16..20].copy_from_slice(&crc32c::crc32c(state).to_le_bytes());
    let crc = crc32c::crc32c(&t[..20]);
    t[20..24].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Writes the snapshot of `state` at `seq` durably (temp file, fdatasync, rename, dir fsync).
pub(crate) fn write_snapshot(
    dir: &Path,
    seq: Seq,
    state: &[u8],
    faults: Option<&Arc<Faults>>,
) -> Result<PathBuf, LogError> {
    let path = dir.join(snapshot_name(seq));
    let tmp = dir.join(format!(
        "{}{}",
        snapshot_name(seq),
        crate::segment::TMP_SUFFIX
    ));
    let result = write_tmp(&tmp, seq, state, faults)
        .and_then(|()| fs::rename(&tmp, &path))
        .and_then(|()| sync_dir(dir, faults.map(|f| &**f)));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(LogError::io(&path, e));
    }
    Ok(path)
}

fn write_tmp(tmp: &Path, seq: Seq, state: &[u8], faults: Option<&Arc<Faults>>) -> io::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    let file = IoFile::new(file, tmp.to_path_buf(), faults.cloned());
    let mut buf = Vec::with_capacity(BLOCK_BYTES as usize + 64);
    let mut scratch = Vec::new();
    buf.extend_from_slice(&encode_header(seq, state.len() as u64));
    for raw in state.chunks(BLOCK_BYTES as usize) {
        encode_block(&mut buf, raw, &mut scratch);
        file.write_all(&buf)?;
        buf.clear();
    }
    buf.extend_from_slice(&encode_trailer(state));
    file.write_all(&buf)?;
    file.sync_data()?;
    debug_assert!(file.file().metadata()?.len() >= (SNAP_HEADER_LEN + TRAILER_LEN) as u64);
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Reads a snapshot file with a position, for error offsets.
struct SnapReader<'a> {
    snap: &'a SnapshotFile,
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
}

impl SnapReader<'_> {
    fn corrupt(&self, offset: u64, reason: impl Into<String>) -> LogError {
        LogError::corrupt(&self.snap.path, offset, reason)
    }

    fn read(&mut self, buf: &mut [u8], what: &str) -> Result<(), LogError> {
        if self.file_len - self.offset < buf.len() as u64 {
            return Err(self.corrupt(self.offset, format!("truncated snapshot: {what} missing")));
        }
        self.reader
            .read_exact(buf)
            .map_err(|e| LogError::io(&self.snap.path, e))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    /// Reads and checks the header; returns (block_bytes, state_len).
    fn header(&mut self) -> Result<(u32, u64), LogError> {
        let mut h = [0u8; SNAP_HEADER_LEN];
        self.read(&mut h, "header")?;
        if h[0..8] != SNAP_MAGIC {
            return Err(self.corrupt(0, "bad snapshot magic"));
        }
        if crc32c::crc32c(&h[..36]) != u32_at(&h, 36) {
            return Err(self.corrupt(0, "snapshot header checksum mismatch"));
        }
        let version = u32_at(&h, 8);
        if version != SNAP_VERSION {
            return Err(self.corrupt(0, format!("unsupported snapshot version {version}")));
        }
        let block_bytes = u32_at(&h, 12);
        if block_bytes == 0 || block_bytes > BLOCK_BYTES_MAX {
            return Err(self.corrupt(0, format!("bad snapshot block size {block_bytes}")));
        }
        if u64_at(&h, 16) != self.snap.seq {
            return Err(self.corrupt(0, "snapshot header seq does not match the file name"));
        }
        Ok((block_bytes, u64_at(&h, 24)))
    }

    /// Reads one block of `raw_len` bytes, appending the decoded bytes to `out`.
    fn block(
        &mut self,
        raw_len: u32,
        out: &mut Vec<u8>,
        buf: &mut Vec<u8>,
    ) -> Result<(), LogError> {
        let at = self.offset;
        let mut head = [0u8; BLOCK_HEAD_LEN];
        self.read(&mut head, "block header")?;
        let stored_len = u32_at(&head, 4);
        if u32_at(&head, 0) != raw_len || stored_len > raw_len {
            return Err(self.corrupt(at, "bad snapshot block lengths"));
        }
        buf.resize(stored_len as usize, 0);
        self.read(buf, "block data")?;
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head[..8]), buf);
        if crc != u32_at(&head, 8) {
            return Err(self.corrupt(at, "snapshot block checksum mismatch"));
        }
        if stored_len == raw_len {
            out.extend_from_slice(buf);
            return Ok(());
        }
        let start = out.len();
        out.resize(start + raw_len as usize, 0);
        match lz4_flex::block::decompress_into(buf, &mut out[start..]) {
            Ok(n) if n == raw_len as usize => Ok(()),
            Ok(n) => Err(self.corrupt(at, format!("snapshot block decoded to {n} bytes"))),
            Err(e) => Err(self.corrupt(at, format!("snapshot block does not decompress: {e}"))),
        }
    }

    fn trailer(&mut self, state: &[u8]) -> Result<(), LogError> {
        let at = self.offset;
        let mut t = [0u8; TRAILER_LEN];
        self.read(&mut t, "trailer")?;
        if t[0..8] != SNAP_END_MAGIC || crc32c::crc32c(&t[..20]) != u32_at(&t, 20) {
            return Err(self.corrupt(at, "bad snapshot trailer"));
        }
        if u64_at(&t, 8) != state.len() as u64 || u32_at(&t, 16) != crc32c::crc32c(state) {
            return Err(self.corrupt(at, "snapshot content checksum mismatch"));
        }
        if self.offset != self.file_len {
            return Err(self.corrupt(self.offset, "bytes after the snapshot trailer"));
        }
        Ok(())
    }
}

/// Reads and verifies a snapshot file, returning the state.
pub(crate) fn read_snapshot(snap: &SnapshotFile) -> Result<Vec<u8>, LogError> {
    let file = File::open(&snap.path).map_err(|e| LogError::io(&snap.path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io(&snap.path, e))?
        .len();
    let mut r = SnapReader {
        snap,
        reader: BufReader::new(file),
        offset: 0,
        file_len,
    };
    let (block_bytes, state_len) = r.header()?;
    // lz4 expands at most ~255x; a damaged length cannot make us reserve much more than that.
    let plausible = file_len.saturating_mul(256);
    if state_len > plausible {
        return Err(r.corrupt(
            0,
            format!("snapshot state length {state_len} is implausible"),
        ));
    }
    let mut state = Vec::with_capacity(state_len as usize);
    let mut buf = Vec::new();
    let mut left = state_len;
    while left > 0 {
        let raw_len = left.min(u64::from(block_bytes)) as u32;
        r.block(raw_len, &mut state, &mut buf)?;
        left -= u64::from(raw_len);
    }
    r.trailer(&state)?;
    debug_assert_eq!(state.len() as u64, state_len);
    Ok(state)
}

/// The snapshot recovery starts from.
pub(crate) struct Chosen {
    pub(crate) snapshot: Option<(Seq, Vec<u8>)>,
    /// Newer snapshots that failed verification and are skipped.
    pub(crate) corrupt: Vec<PathBuf>,
}

/// Picks the newest valid snapshot. A damaged snapshot is skipped only if the log still holds
/// every record after the next older one (`log_first_seq <= older + 1`); otherwise the damage
/// is returned as an error.
pub(crate) fn choose(dir: &Path, log_first_seq: Option<Seq>) -> Result<Chosen, LogError> {
    let snaps = list_snapshots(dir)?;
    let mut corrupt = Vec::new();
    for (i, snap) in snaps.iter().enumerate().rev() {
        let err = match read_snapshot(snap) {
            Ok(state) => {
                return Ok(Chosen {
                    snapshot: Some((snap.seq, state)),
                    corrupt,
                });
            }
            Err(LogError::Corrupt {
                file,
                offset,
                reason,
            }) => (file, offset, reason),
            Err(other) => return Err(other),
        };
        let older = if i == 0 { 0 } else { snaps[i - 1].seq };
        let covered = log_first_seq.is_some_and(|first| first <= older + 1);
        let (file, offset, reason) = err;
        if !covered {
            let log = match log_first_seq {
                Some(first) => format!("the log starts at seq {first}"),
                None => "the log holds no records".to_string(),
            };
            let fallback = if i == 0 {
                "an empty state".to_string()
            } else {
                format!("the previous snapshot (seq {older})")
            };
            return Err(LogError::corrupt(
                file,
                offset,
                format!("{reason}; cannot fall back to {fallback}: {log}"),
            ));
        }
        warn!(file = %file.display(), offset, %reason,
            "snapshot damaged; falling back to the previous one (seq {older}) and replaying the log");
        corrupt.push(file);
    }
    Ok(Chosen {
        snapshot: None,
        corrupt,
    })
}

/// Renames damaged snapshots out of the way (kept for inspection, ignored from now on).
pub(crate) fn set_aside(
    dir: &Path,
    corrupt: &[PathBuf],
    faults: Option<&Faults>,
) -> Result<(), LogError> {
    for path in corrupt {
        let mut aside = path.clone().into_os_string();
        aside.push(CORRUPT_SUFFIX);
        fs::rename(path, &aside).map_err(|e| LogError::io(path, e))?;
    }
    if !corrupt.is_empty() {
        sync_dir(dir, faults).map_err(|e| LogError::io(dir, e))?;
    }
    Ok(())
}

/// After a durable snapshot at `seq`: deletes segments holding only records <= seq (never the
/// last one) and all snapshots but the newest two. Failures are logged, not returned: the
/// snapshot itself is already durable.
pub(crate) fn prune(dir: &Path, seq: Seq, faults: Option<&Faults>, segments_lock: &Mutex<()>) {
    if let Err(e) = prune_inner(dir, seq, faults, segments_lock) {
        warn!(error = %e, "could not delete files made obsolete by the snapshot at seq {seq}");
    }
}

fn prune_inner(
    dir: &Path,
    seq: Seq,
    faults: Option<&Faults>,
    segments_lock: &Mutex<()>,
) -> Result<(), LogError> {
    let mut deleted = 0;
    let snaps = list_snapshots(dir)?;
    for snap in snaps.iter().rev().skip(2) {
        fs::remove_file(&snap.path).map_err(|e| LogError::io(&snap.path, e))?;
        deleted += 1;
    }
    {
        let _guard = segments_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let segs = list_segments(dir)?;
        for pair in segs.windows(2) {
            if pair[1].first_seq <= seq + 1 {
                fs::remove_file(&pair[0].path).map_err(|e| LogError::io(&pair[0].path, e))?;
                deleted += 1;
            }
        }
    }
    if deleted > 0 {
        sync_dir(dir, faults).map_err(|e| LogError::io(dir, e))?;
        info!(
            deleted,
            "deleted files made obsolete by the snapshot at seq {seq}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(parse_snapshot_name(&snapshot_name(9)), Some(9));
        assert_eq!(
            parse_snapshot_name("snap-00000000000000000009.snap.tmp"),
            None
        );
        assert_eq!(
            parse_snapshot_name("snap-00000000000000000009.snap.corrupt"),
            None
        );
    }

    #[test]
    fn incompressible_blocks_are_stored_raw() {
        let mut rng = fastrand::Rng::with_seed(7);
        let raw: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
        let mut out = Vec::new();
        encode_block(&mut out, &raw, &mut Vec::new());
        assert_eq!(u32_at(&out, 4), 4096);
        let mut zeros = Vec::new();
        encode_block(&mut zeros, &[0u8; 4096], &mut Vec::new());
        assert!(u32_at(&zeros, 4) < 100);
    }
}
