//! Segment files: naming, the versioned header, record frames and the validating scan.
//!
//! ```text
//! header (32 bytes): magic "CAIRNLOG" | version u32 | header_len u32 | first_seq u64
//!                    | reserved u32 (0) | crc32c(bytes 0..28) u32          (all little-endian)
//! frame:             len u32 | crc32c(len bytes ++ payload) u32 | payload (len bytes)
//! ```

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{LogError, Seq};

pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"CAIRNLOG";
pub(crate) const SEGMENT_VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 32;
pub(crate) const FRAME_HEAD_LEN: u64 = 8;
const SEGMENT_PREFIX: &str = "log-";
const SEGMENT_SUFFIX: &str = ".seg";
/// Suffix of files being created; leftovers are deleted on open.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Read buffer of scans and readers.
pub(crate) const READ_BUFFER_BYTES: usize = 256 * 1024;

/// A segment file found in the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub(crate) path: PathBuf,
    pub(crate) first_seq: Seq,
}

pub(crate) fn segment_name(first_seq: Seq) -> String {
    format!("{SEGMENT_PREFIX}{first_seq:020}{SEGMENT_SUFFIX}")
}

pub(crate) fn segment_path(dir: &Path, first_seq: Seq) -> PathBuf {
    dir.join(segment_name(first_seq))
}

fn parse_segment_name(name: &str) -> Option<Seq> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment files of `dir`, ordered by first seq. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, LogError> {
    let mut segments = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io(dir, e))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            segments.push(SegmentFile {
                path: entry.path(),
                first_seq,
            });
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

pub(crate) fn encode_header(first_seq: Seq) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
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

/// Decodes a header and returns its first seq.
pub(crate) fn decode_header(h: &[u8; HEADER_LEN as usize]) -> Result<Seq, String> {
    if h[0..8] != SEGMENT_MAGIC {
        return Err("bad segment magic (not a cairn log segment)".into());
    }
    let crc = u32_at(h, 28);
    if crc32c::crc32c(&h[..28]) != crc {
        return Err("segment header checksum mismatch".into());
    }
    let version = u32_at(h, 8);
    if version != SEGMENT_VERSION {
        return Err(format!("unsupported segment format version {version}"));
    }
    let header_len = u32_at(h, 12);
    if u64::from(header_len) != HEADER_LEN {
        return Err(format!("unsupported segment header length {header_len}"));
    }
    Ok(u64_at(h, 16))
}

/// Reads and checks the header of `seg` (magic, version, CRC, first seq = file name).
pub(crate) fn read_header(seg: &SegmentFile, r: &mut impl Read) -> Result<(), LogError> {
    let mut h = [0u8; HEADER_LEN as usize];
    if let Err(e) = r.read_exact(&mut h) {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Err(LogError::corrupt(
                &seg.path,
                0,
                "file shorter than segment header",
            ));
        }
        return Err(LogError::io(&seg.path, e));
    }
    let first_seq = decode_header(&h).map_err(|r| LogError::corrupt(&seg.path, 0, r))?;
    if first_seq != seg.first_seq {
        return Err(LogError::corrupt(
            &seg.path,
            0,
            format!("header first seq {first_seq} does not match the file name"),
        ));
    }
    Ok(())
}

/// Size of the frame holding a payload of `payload_len` bytes.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    FRAME_HEAD_LEN + payload_len as u64
}

/// Appends the frame of `payload` to `buf`. The CRC covers the length bytes and the payload, so
/// a torn or flipped length is detected.
pub(crate) fn encode_frame(buf: &mut Vec<u8>, payload: &[u8]) {
    encode_frame_head(buf, payload);
    buf.extend_from_slice(payload);
}

/// Appends the 8-byte head (length, CRC) of `payload`'s frame to `buf`.
pub(crate) fn encode_frame_head(buf: &mut Vec<u8>, payload: &[u8]) {
    debug_assert!(u32::try_from(payload.len()).is_ok());
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    buf.extend_from_slice(&len);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// The head of the frame at the current position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    /// Clean end of file at a frame boundary.
    End,
    /// The head is unusable; the reason is a human-readable text.
    Bad(String),
    /// A plausible frame: `len` fits in the file and in `record_bytes_max`.
    Frame { len: u32, crc: u32 },
}

/// Reads a frame head with `remaining` bytes left in the file, without trusting its length.
pub(crate) fn read_head(r: &mut impl Read, remaining: u64, max: u32) -> io::Result<Head> {
    if remaining == 0 {
        return Ok(Head::End);
    }
    if remaining < FRAME_HEAD_LEN {
        return Ok(Head::Bad(format!(
            "incomplete frame header ({remaining} bytes before end of file)"
        )));
    }
    let mut b = [0u8; FRAME_HEAD_LEN as usize];
    r.read_exact(&mut b)?;
    Ok(check_head(&b, remaining, max))
}

/// Checks the 8 head bytes of a frame with `remaining` bytes left in the file from its start.
pub(crate) fn check_head(b: &[u8], remaining: u64, max: u32) -> Head {
    let len = u32_at(b, 0);
    let crc = u32_at(b, 4);
    if len > max {
        return Head::Bad(format!(
            "record length {len} exceeds record_bytes_max {max}"
        ));
    }
    if u64::from(len) > remaining - FRAME_HEAD_LEN {
        return Head::Bad(format!(
            "record of {len} bytes extends past the end of the file ({} bytes left)",
            remaining - FRAME_HEAD_LEN
        ));
    }
    Head::Frame { len, crc }
}

/// Reads `len` payload bytes, returning whether their CRC (with the length) matches `crc`.
pub(crate) fn check_payload(
    r: &mut impl Read,
    len: u32,
    crc: u32,
    scratch: &mut Vec<u8>,
) -> io::Result<bool> {
    scratch.resize(READ_BUFFER_BYTES, 0);
    let mut actual = crc32c::crc32c(&len.to_le_bytes());
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(scratch.len());
        r.read_exact(&mut scratch[..n])?;
        actual = crc32c::crc32c_append(actual, &scratch[..n]);
        left -= n;
    }
    Ok(actual == crc)
}

/// What a validating scan of one segment found.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Whole, valid records before `valid_len`.
    pub(crate) records: u64,
    /// End of the last valid frame.
    pub(crate) valid_len: u64,
    /// Length of the file.
    pub(crate) file_len: u64,
    /// The first invalid frame: its offset is `valid_len`.
    pub(crate) bad: Option<String>,
}

/// Validates the header and every frame of `seg`, stopping at the first invalid frame.
pub(crate) fn scan_segment(seg: &SegmentFile, max: u32) -> Result<Scan, LogError> {
    let io_err = |e| LogError::io(&seg.path, e);
    let file = File::open(&seg.path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    let mut r = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    read_header(seg, &mut r)?;
    let mut scan = Scan {
        records: 0,
        valid_len: HEADER_LEN,
        file_len,
        bad: None,
    };
    let mut scratch = Vec::new();
    loop {
        let remaining = file_len - scan.valid_len;
        match read_head(&mut r, remaining, max).map_err(io_err)? {
            Head::End => return Ok(scan),
            Head::Bad(reason) => {
                scan.bad = Some(reason);
                return Ok(scan);
            }
            Head::Frame { len, crc } => {
                if !check_payload(&mut r, len, crc, &mut scratch).map_err(io_err)? {
                    scan.bad = Some("record checksum mismatch".into());
                    return Ok(scan);
                }
                scan.records += 1;
                scan.valid_len += frame_len(len as usize);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_name(42), "log-00000000000000000042.seg");
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert_eq!(parse_segment_name("log-42.seg"), None);
        assert_eq!(parse_segment_name("log-00000000000000000042.seg.tmp"), None);
        assert_eq!(parse_segment_name("snap-00000000000000000042.snap"), None);
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = encode_header(7);
        assert_eq!(decode_header(&h), Ok(7));
        for i in 0..h.len() {
            let mut bad = h;
            bad[i] ^= 0x10;
            assert!(decode_header(&bad).is_err(), "flip at {i} undetected");
        }
    }

    #[test]
    fn frame_crc_covers_length() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, b"hello");
        assert_eq!(buf.len() as u64, frame_len(5));
        let mut scratch = Vec::new();
        let Head::Frame { len, crc } = check_head(&buf[..8], buf.len() as u64, 100) else {
            panic!("head rejected")
        };
        assert!(check_payload(&mut &buf[8..], len, crc, &mut scratch).unwrap());
        // Same payload bytes read with a different length: the CRC must not match.
        assert!(!check_payload(&mut &buf[8..], 4, crc, &mut scratch).unwrap());
        // A zeroed frame head never validates.
        let zero = [0u8; 8];
        let Head::Frame { len, crc } = check_head(&zero, 8, 100) else {
            panic!("zero head rejected")
        };
        assert!(!check_payload(&mut &[][..], len, crc, &mut scratch).unwrap());
    }

    #[test]
    fn head_rejects_oversized_and_overlong_lengths() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, &[1u8; 10]);
        assert!(matches!(check_head(&buf[..8], 18, 9), Head::Bad(_)));
        assert!(matches!(check_head(&buf[..8], 17, 100), Head::Bad(_)));
        assert!(matches!(
            check_head(&buf[..8], 18, 10),
            Head::Frame { len: 10, .. }
        ));
    }
}
