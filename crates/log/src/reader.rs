//! Reading records back: the replay iterator of [`crate::Recovery`] and [`read_range`].

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use bytes::Bytes;

use crate::segment::{
    Head, READ_BUFFER_BYTES, SegmentFile, frame_len, list_segments, read_head, read_header,
};
use crate::{LogError, Seq};

/// Reads durable records `(after, upto]` from the segments in `dir`, in order.
///
/// Meant for a background snapshotter that replays the log while the writer appends: `upto`
/// must not exceed the durable seq. The segment files are opened before this returns, so a
/// concurrent snapshot deleting old segments does not disturb the iteration. Every record's
/// CRC is checked; a missing or damaged record ends the iteration with an error.
pub fn read_range(dir: &Path, after: Seq, upto: Seq) -> Result<RecordIter, LogError> {
    if upto <= after {
        return Ok(RecordIter::empty());
    }
    let segments = list_segments(dir)?;
    // Lengths are bounded by the file size, so no allocation can exceed what is on disk.
    RecordIter::new(segments, after, upto, u32::MAX)
}

/// A segment file opened for reading.
struct Source {
    seg: SegmentFile,
    file: File,
}

/// The segment being read.
struct Cursor {
    seg: SegmentFile,
    reader: BufReader<File>,
    offset: u64,
    file_len: u64,
}

/// Iterator over `(seq, record)` pairs in seq order; see [`read_range`] and
/// [`crate::Recovery::records`]. After an error it yields nothing more.
pub struct RecordIter {
    pending: VecDeque<Source>,
    cursor: Option<Cursor>,
    /// Seq of the next frame in the cursor's segment.
    seq: Seq,
    after: Seq,
    upto: Seq,
    record_bytes_max: u32,
    done: bool,
    /// An error to yield first (construction failed).
    error: Option<LogError>,
}

impl RecordIter {
    fn empty() -> Self {
        RecordIter {
            pending: VecDeque::new(),
            cursor: None,
            seq: 1,
            after: 0,
            upto: 0,
            record_bytes_max: 0,
            done: true,
            error: None,
        }
    }

    /// An iterator that yields `error` and ends.
    pub(crate) fn failed(error: LogError) -> Self {
        RecordIter {
            done: false,
            error: Some(error),
            ..RecordIter::empty()
        }
    }

    /// Iterates `(after, upto]` over `segments` (sorted by first seq), opening the needed files
    /// now.
    pub(crate) fn new(
        segments: Vec<SegmentFile>,
        after: Seq,
        upto: Seq,
        record_bytes_max: u32,
    ) -> Result<Self, LogError> {
        if upto <= after {
            return Ok(RecordIter::empty());
        }
        let Some(start) = segments.iter().rposition(|s| s.first_seq <= after + 1) else {
            let reason = match segments.first() {
                Some(s) => format!("the log starts at seq {}", s.first_seq),
                None => "the log has no segments".to_string(),
            };
            return Err(LogError::Missing {
                from: after + 1,
                upto,
                reason,
            });
        };
        let mut pending = VecDeque::new();
        for seg in segments.into_iter().skip(start) {
            if seg.first_seq > upto {
                break;
            }
            let file = File::open(&seg.path).map_err(|e| LogError::io(&seg.path, e))?;
            pending.push_back(Source { seg, file });
        }
        let seq = pending.front().map_or(after + 1, |s| s.seg.first_seq);
        Ok(RecordIter {
            pending,
            cursor: None,
            seq,
            after,
            upto,
            record_bytes_max,
            done: false,
            error: None,
        })
    }

    /// Opens the next segment, checking that it continues the seq sequence.
    fn advance(&mut self) -> Result<(), LogError> {
        let Some(Source { seg, file }) = self.pending.pop_front() else {
            return Err(LogError::Missing {
                from: self.seq,
                upto: self.upto,
                reason: format!("the log ends at seq {}", self.seq - 1),
            });
        };
        if seg.first_seq != self.seq {
            return Err(LogError::corrupt(
                &seg.path,
                0,
                format!(
                    "segment starts at seq {} but seq {} was expected",
                    seg.first_seq, self.seq
                ),
            ));
        }
        let file_len = file
            .metadata()
            .map_err(|e| LogError::io(&seg.path, e))?
            .len();
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        read_header(&seg, &mut reader)?;
        self.cursor = Some(Cursor {
            seg,
            reader,
            offset: crate::segment::HEADER_LEN,
            file_len,
        });
        Ok(())
    }

    fn read_next(&mut self) -> Result<Option<(Seq, Bytes)>, LogError> {
        loop {
            if self.seq > self.upto {
                return Ok(None);
            }
            if self.cursor.is_none() {
                self.advance()?;
            }
            let Some(c) = self.cursor.as_mut() else {
                continue;
            };
            let io_err = |e| LogError::io(&c.seg.path, e);
            let head = read_head(&mut c.reader, c.file_len - c.offset, self.record_bytes_max)
                .map_err(io_err)?;
            let (len, crc) = match head {
                // An all-zero head starts the writer's preallocated space: the end of what
                // has been written (no real frame is all zeros: its CRC covers the length).
                Head::End | Head::Frame { len: 0, crc: 0 } => {
                    self.cursor = None;
                    continue;
                }
                Head::Bad(reason) => return Err(LogError::corrupt(&c.seg.path, c.offset, reason)),
                Head::Frame { len, crc } => (len, crc),
            };
            let at = c.offset;
            c.offset += frame_len(len as usize);
            let seq = self.seq;
            self.seq += 1;
            if seq <= self.after {
                c.reader.seek_relative(i64::from(len)).map_err(io_err)?;
                continue;
            }
            let mut payload = vec![0u8; len as usize];
            c.reader.read_exact(&mut payload).map_err(io_err)?;
            let actual = crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), &payload);
            if actual != crc {
                return Err(LogError::corrupt(
                    &c.seg.path,
                    at,
                    format!("record {seq} checksum mismatch"),
                ));
            }
            return Ok(Some((seq, Bytes::from(payload))));
        }
    }
}

impl Iterator for RecordIter {
    type Item = Result<(Seq, Bytes), LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.error.take() {
            self.done = true;
            return Some(Err(e));
        }
        match self.read_next() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
