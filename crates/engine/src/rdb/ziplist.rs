//! Ziplists: the compact sequence of Redis 2.6 to 6.2 (lists, hashes, sorted sets and
//! quicklist nodes). Redis 7.0 no longer writes them but RESTORE still reads them; so does
//! this module, which only reads.
//!
//! ```text
//! u32 total bytes | u32 offset of the last entry | u16 entry count (65535: unknown)
//! entries | 0xFF
//! entry: prevlen (1 byte < 254, or 0xFE + u32) | encoding | data
//! encodings: 00LLLLLL string < 64     01LLLLLL LLLLLLLL string < 16384 (big-endian length)
//!            10______ + u32 big-endian length, string
//!            0xC0 i16, 0xD0 i32, 0xE0 i64, 0xF0 i24, 0xFE i8 (little-endian)
//!            0xF1..0xFD the integers 0..12 themselves
//! ```

use super::RdbError;
use super::listpack::Item;

const HEADER: usize = 10;
const END: u8 = 0xff;
/// A prevlen byte announcing a 4-byte length.
const BIG_PREVLEN: u8 = 0xfe;
const COUNT_UNKNOWN: u16 = u16::MAX;

fn corrupt() -> RdbError {
    RdbError::Corrupt("ziplist integrity check failed")
}

/// Every entry of `zl`, after checking what Redis's deep validation checks: header size,
/// tail offset and count, each entry's encoding, bounds and prevlen, the terminator.
pub fn items(zl: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if zl.len() < HEADER + 1 || zl[zl.len() - 1] != END {
        return Err(corrupt());
    }
    let u32_at = |i: usize| u32::from_le_bytes([zl[i], zl[i + 1], zl[i + 2], zl[i + 3]]) as usize;
    if u32_at(0) != zl.len() {
        return Err(corrupt());
    }
    let tail = u32_at(4);
    let count = u16::from_le_bytes([zl[8], zl[9]]);
    let body = &zl[..zl.len() - 1];
    // The smallest entry takes 2 bytes (prevlen and an immediate integer).
    let mut out = Vec::with_capacity(usize::from(count).min(body.len() / 2));
    let mut pos = HEADER;
    let mut prev_len = 0;
    let mut last_start = None;
    while pos < body.len() {
        let (header, prevlen, item, len) = entry(body, pos).ok_or_else(corrupt)?;
        if prevlen != prev_len {
            return Err(corrupt());
        }
        out.push(item);
        last_start = Some(pos);
        prev_len = header + len;
        pos += prev_len;
    }
    let tail_ok = match last_start {
        Some(start) => tail == start,
        None => tail < zl.len(),
    };
    if !tail_ok || (count != COUNT_UNKNOWN && usize::from(count) != out.len()) {
        return Err(corrupt());
    }
    Ok(out)
}

/// The entry at `pos`: (header bytes, the previous entry's length it records, its value,
/// data bytes). `None` if its encoding is invalid or it does not fit in `body`.
fn entry(body: &[u8], pos: usize) -> Option<(usize, usize, Item<'_>, usize)> {
    let (prevlen_size, prevlen) = if body[pos] < BIG_PREVLEN {
        (1, usize::from(body[pos]))
    } else {
        let b = body.get(pos + 1..pos + 5)?;
        (5, u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let at = pos + prevlen_size;
    let enc = *body.get(at)?;
    let (enc_size, len, int_width) = match enc >> 6 {
        0b00 => (1, usize::from(enc & 0x3f), None),
        0b01 => (
            2,
            usize::from(enc & 0x3f) << 8 | usize::from(*body.get(at + 1)?),
            None,
        ),
        0b10 => {
            let b = body.get(at + 1..at + 5)?;
            (
                5,
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
                None,
            )
        }
        _ => {
            let width = match enc {
                0xfe => 1,
                0xc0 => 2,
                0xf0 => 3,
                0xd0 => 4,
                0xe0 => 8,
                0xf1..=0xfd => 0,
                _ => return None,
            };
            (1, width, Some(width))
        }
    };
    let header = prevlen_size + enc_size;
    let data = body.get(pos + header..(pos + header).checked_add(len)?)?;
    let item = match int_width {
        None => Item::Str(data),
        Some(0) => Item::Int(i64::from(enc & 0x0f) - 1),
        Some(width) => {
            let raw = data
                .iter()
                .rev()
                .fold(0u64, |acc, &x| acc << 8 | u64::from(x));
            let bits = 8 * width as u32;
            Item::Int(((raw << (64 - bits)) as i64) >> (64 - bits))
        }
    };
    Some((header, prevlen, item, len))
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A ziplist of `entries`, encoded the way Redis 6.2 would (test data for the readers).
    pub fn build(entries: &[Item]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER];
        let mut prev_len = 0usize;
        let mut tail = HEADER;
        for item in entries {
            let start = buf.len();
            tail = start;
            if prev_len < usize::from(BIG_PREVLEN) {
                buf.push(prev_len as u8);
            } else {
                buf.push(BIG_PREVLEN);
                buf.extend_from_slice(&(prev_len as u32).to_le_bytes());
            }
            match *item {
                Item::Str(s) if s.len() < 64 => buf.push(s.len() as u8),
                Item::Str(s) if s.len() < 16384 => {
                    buf.extend_from_slice(&(0x4000 | s.len() as u16).to_be_bytes());
                }
                Item::Str(s) => {
                    buf.push(0x80);
                    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
                }
                Item::Int(v) if (0..=12).contains(&v) => buf.push(0xf1 + v as u8),
                Item::Int(v) if i8::try_from(v).is_ok() => buf.extend([0xfe, v as u8]),
                Item::Int(v) if i16::try_from(v).is_ok() => {
                    buf.push(0xc0);
                    buf.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Item::Int(v) if (-(1 << 23)..1 << 23).contains(&v) => {
                    buf.push(0xf0);
                    buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Item::Int(v) if i32::try_from(v).is_ok() => {
                    buf.push(0xd0);
                    buf.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Item::Int(v) => {
                    buf.push(0xe0);
                    buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            if let Item::Str(s) = item {
                buf.extend_from_slice(s);
            }
            prev_len = buf.len() - start;
        }
        buf.push(END);
        let total = buf.len() as u32;
        buf[0..4].copy_from_slice(&total.to_le_bytes());
        buf[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
        let count = u16::try_from(entries.len()).unwrap_or(COUNT_UNKNOWN);
        buf[8..10].copy_from_slice(&count.to_le_bytes());
        buf
    }

    #[test]
    fn reads_redis_example() {
        // The two-entry ziplist from the comment at the top of Redis's ziplist.c: "2", "5".
        let zl = b"\x0f\x00\x00\x00\x0c\x00\x00\x00\x02\x00\x00\xf3\x02\xf6\xff";
        assert_eq!(items(zl).unwrap(), [Item::Int(2), Item::Int(5)]);
    }

    #[test]
    fn round_trips_every_encoding() {
        let long = vec![b'q'; 300];
        let huge = vec![b'h'; 20_000];
        let entries = [
            Item::Str(b""),
            Item::Str(b"hello"),
            Item::Str(&long),
            Item::Int(0),
            Item::Int(12),
            Item::Int(13),
            Item::Int(-128),
            Item::Int(-129),
            Item::Int(-32768),
            Item::Int(-32769),
            Item::Int(8_388_607),
            Item::Int(8_388_608),
            Item::Int(i64::MIN),
            Item::Str(&huge),
            Item::Int(1),
        ];
        assert_eq!(items(&build(&entries)).unwrap(), entries);
        assert_eq!(items(&build(&[])).unwrap(), []);
    }

    #[test]
    fn rejects_damage() {
        let good = build(&[Item::Str(b"ab"), Item::Int(7), Item::Str(b"cd")]);
        assert!(items(&good).is_ok());
        let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut zl = good.clone();
            f(&mut zl);
            items(&zl).is_err()
        };
        assert!(damaged(&|zl| zl[0] += 1), "total bytes");
        assert!(damaged(&|zl| zl[4] += 1), "tail offset");
        assert!(damaged(&|zl| zl[8] = 9), "count");
        assert!(damaged(&|zl| zl[10] = 1), "first prevlen");
        assert!(damaged(&|zl| zl[14] = 3), "second prevlen");
        assert!(damaged(&|zl| zl[15] = 0xc1), "encoding");
        assert!(damaged(&|zl| zl[11] = 0x3f), "string past the end");
        assert!(damaged(&|zl| *zl.last_mut().unwrap() = 0), "terminator");
    }
}
