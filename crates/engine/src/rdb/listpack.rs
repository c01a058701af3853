//! Listpacks: the compact sequence Redis 7.0 stores small hashes, small sorted sets and
//! quicklist nodes in, and writes into RDB as one string.
//!
//! ```text
//! u32 total bytes | u16 element count (65535: count unknown) | elements | 0xFF
//! element: encoding [+ length] [+ data] | backlen (the element's length so far, 1..5 bytes)
//! encodings: 0xxxxxxx 7-bit uint       10LLLLLL string < 64      110xxxxx 13-bit int
//!            1110LLLL LLLLLLLL string < 4096                     11110000 u32 len, string
//!            0xF1/0xF2/0xF3/0xF4 16/24/32/64-bit int             0xF5..0xFE invalid
//! ```
//! All multi-byte integers are little-endian; integers are two's complement of their width.
//! The backlen is big-endian base-128: its first byte has no continuation bit, every later
//! one has 0x80 set, so it can be read backwards from the next element.

use super::RdbError;
use super::num::{canonical_i64, int_text};

const HEADER: usize = 6;
const EOF: u8 = 0xff;
/// The header's count when the real count does not fit 16 bits.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element of a listpack or ziplist, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Item<'_> {
    /// The element as Redis returns it: integers as decimal text.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            Item::Str(s) => s.to_vec(),
            Item::Int(v) => int_text(v),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Builds a listpack element by element, choosing encodings as Redis's `lpAppend` does.
pub struct Writer {
    buf: Vec<u8>,
    count: usize,
}

impl Writer {
    pub fn new() -> Writer {
        Writer {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Appends a string; one that spells an integer canonically is stored as that integer.
    pub fn push(&mut self, s: &[u8]) {
        match canonical_i64(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        // Each width is the smallest two's complement field that holds v.
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v & 0x1fff) as u16;
            self.buf.push(0xc0 | (u >> 8) as u8);
            self.buf.push(u as u8);
        } else if (-32768..=32767).contains(&v) {
            self.buf.push(0xf1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xf2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if (-2_147_483_648..=2_147_483_647).contains(&v) {
            self.buf.push(0xf3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xf4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.end_element(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.push(0xe0 | (len >> 8) as u8);
            self.buf.push(len as u8);
        } else {
            self.buf.push(0xf0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_element(start);
    }

    fn end_element(&mut self, start: usize) {
        let len = self.buf.len() - start;
        put_backlen(&mut self.buf, len);
        self.count += 1;
    }

    /// The listpack's size if it were finished now (Redis's `lpBytes`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// Bytes of the backlen of an element `len` bytes long. The bounds are Redis's
/// (`lpEncodeBacklen`), including its off-by-one at each step above the first.
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn put_backlen(out: &mut Vec<u8>, len: usize) {
    let size = backlen_size(len);
    for i in (0..size).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        // The first (most significant) byte carries no continuation bit.
        out.push(if i == size - 1 { group } else { group | 0x80 });
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

fn corrupt(why: &'static str) -> RdbError {
    RdbError::Corrupt(why)
}

/// Every element of `lp`, after checking its whole structure: header size and count, each
/// element's encoding, bounds and backlen, the terminator.
pub fn items(lp: &[u8]) -> Result<Vec<Item<'_>>, RdbError> {
    if lp.len() < HEADER + 1 || lp[lp.len() - 1] != EOF {
        return Err(corrupt("listpack too short or unterminated"));
    }
    if u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize != lp.len() {
        return Err(corrupt("listpack total bytes header"));
    }
    let count = u16::from_le_bytes([lp[4], lp[5]]);
    // Elements live before the terminator; the smallest element takes 2 bytes.
    let body = &lp[..lp.len() - 1];
    let mut out = Vec::with_capacity(usize::from(count).min(body.len() / 2));
    let mut pos = HEADER;
    while pos < body.len() {
        let (len, item) = element(body, pos).ok_or_else(|| corrupt("listpack element encoding"))?;
        let backlen_at = pos + len;
        let end = backlen_at + backlen_size(len);
        if end > body.len() {
            return Err(corrupt("listpack element past the end"));
        }
        let mut expect = Vec::with_capacity(5);
        put_backlen(&mut expect, len);
        if body[backlen_at..end] != expect[..] {
            return Err(corrupt("listpack backlen"));
        }
        out.push(item);
        pos = end;
    }
    if count != COUNT_UNKNOWN && usize::from(count) != out.len() {
        return Err(corrupt("listpack element count header"));
    }
    Ok(out)
}

/// The element at `pos`: its length without the backlen, and its value. `None` if its
/// encoding is invalid or it does not fit in `body`.
fn element(body: &[u8], pos: usize) -> Option<(usize, Item<'_>)> {
    let b = body[pos];
    let byte = |i: usize| body.get(pos + i).copied();
    let le = |from: usize, n: usize| -> Option<u64> {
        let bytes = body.get(pos + from..pos + from + n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &x| acc << 8 | u64::from(x)),
        )
    };
    // Sign-extends the low `bits` bits of `raw`.
    let signed = |raw: u64, bits: u32| -> i64 { ((raw << (64 - bits)) as i64) >> (64 - bits) };
    let string = |header: usize, n: usize| -> Option<(usize, Item<'_>)> {
        let data = body.get(pos + header..(pos + header).checked_add(n)?)?;
        Some((header + n, Item::Str(data)))
    };
    match b {
        0x00..=0x7f => Some((1, Item::Int(i64::from(b)))),
        0x80..=0xbf => string(1, usize::from(b & 0x3f)),
        0xc0..=0xdf => {
            let raw = u64::from(b & 0x1f) << 8 | u64::from(byte(1)?);
            Some((2, Item::Int(signed(raw, 13))))
        }
        0xe0..=0xef => string(2, usize::from(b & 0x0f) << 8 | usize::from(byte(1)?)),
        0xf0 => string(5, usize::try_from(le(1, 4)?).ok()?),
        0xf1 => Some((3, Item::Int(signed(le(1, 2)?, 16)))),
        0xf2 => Some((4, Item::Int(signed(le(1, 3)?, 24)))),
        0xf3 => Some((5, Item::Int(signed(le(1, 4)?, 32)))),
        0xf4 => Some((9, Item::Int(le(1, 8)? as i64))),
        _ => None, // 0xf5..=0xfe are unused; 0xff is the terminator, not an element
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(elements: &[&[u8]]) -> Vec<u8> {
        let mut w = Writer::new();
        for e in elements {
            w.push(e);
        }
        w.finish()
    }

    #[test]
    fn matches_redis_bytes() {
        // HSET h a 1 b hello on Redis 7.0 stores this listpack (from its DUMP payload).
        let lp = build(&[b"a", b"1", b"b", b"hello"]);
        let want = b"\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x85hello\x06\xff";
        assert_eq!(lp, want);
        assert_eq!(
            items(&lp).unwrap(),
            [
                Item::Str(b"a"),
                Item::Int(1),
                Item::Str(b"b"),
                Item::Str(b"hello")
            ]
        );
    }

    #[test]
    fn integer_widths_round_trip() {
        let values = [
            0,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8_388_607,
            -8_388_608,
            8_388_608,
            2_147_483_647,
            -2_147_483_648,
            2_147_483_648,
            i64::MAX,
            i64::MIN,
        ];
        let mut w = Writer::new();
        for v in values {
            w.push_int(v);
        }
        let lp = w.finish();
        let got: Vec<Item> = items(&lp).unwrap();
        let want: Vec<Item> = values.iter().map(|&v| Item::Int(v)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn string_lengths_round_trip() {
        // Around each string-length encoding and backlen size boundary.
        let lens = [
            0, 1, 62, 63, 64, 125, 126, 127, 4095, 4096, 16380, 16381, 16382, 70_000,
        ];
        let strings: Vec<Vec<u8>> = lens.iter().map(|&n| vec![b'x'; n]).collect();
        let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
        let lp = build(&refs);
        let got: Vec<Vec<u8>> = items(&lp)
            .unwrap()
            .into_iter()
            .map(Item::to_bytes)
            .collect();
        assert_eq!(got, strings);
    }

    #[test]
    fn backlen_bounds_follow_redis() {
        assert_eq!(backlen_size(127), 1);
        assert_eq!(backlen_size(128), 2);
        assert_eq!(backlen_size(16382), 2);
        assert_eq!(backlen_size(16383), 3);
        let mut out = Vec::new();
        put_backlen(&mut out, 300);
        assert_eq!(out, [(300 >> 7) as u8, (300 & 127) as u8 | 128]);
    }

    #[test]
    fn unknown_count_header_is_accepted() {
        let mut lp = build(&[b"x", b"y"]);
        lp[4..6].copy_from_slice(&COUNT_UNKNOWN.to_le_bytes());
        assert_eq!(items(&lp).unwrap().len(), 2);
    }

    #[test]
    fn rejects_damage() {
        let good = build(&[b"a", b"1", b"hello"]);
        assert!(items(&good).is_ok());
        let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut lp = good.clone();
            f(&mut lp);
            items(&lp).is_err()
        };
        assert!(damaged(&|lp| lp[0] += 1), "total bytes");
        assert!(damaged(&|lp| lp[4] = 2), "count");
        assert!(damaged(&|lp| *lp.last_mut().unwrap() = 0), "terminator");
        assert!(damaged(&|lp| lp[6] = 0xf5), "encoding");
        assert!(damaged(&|lp| lp[8] = 9), "backlen");
        assert!(
            damaged(&|lp| lp[11] = 0x86),
            "string longer than the listpack"
        );
        assert!(damaged(&|lp| lp.truncate(3)), "truncated header");
        assert!(items(&[]).is_err());
    }
}
