//! List values: a deque of chunks, each a packed run of encoded elements (the idea of Redis's
//! quicklist of listpacks). Pushing and popping at either end touch one chunk; LRANGE walks
//! packed bytes; an element costs its bytes plus two to ten bytes of framing, never an
//! allocation of its own. Redis 7.0 reports every list as `quicklist`.
//!
//! Sections: the element encoding, one chunk, the list (ends, positions, scans, edits), the
//! snapshot form.
//!
//! The chunk layout is not replicated state: two nodes holding the same elements may chunk
//! them differently (a restored list is packed afresh), and nothing a client sees depends on
//! it. Equality, the digest and the snapshot see elements only.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

use crate::commands::parse_i64;
use crate::snapshot::{Reader, SnapshotError};

// ---------------------------------------------------------------------------------------------
// The element encoding
//
// Every entry can be read from either end: it starts with a tag byte and ends with the same
// tag, and lengths sit next to the tag at both ends.
//
// ```text
// 0x00..=0x7f                       the integer 0..=127, the whole entry is this byte
// 0x80|len  payload  tag            a string of 0..=63 bytes
// 0xc0|hi  lo  payload  lo  tag     a string of 64..=4095 bytes (hi:lo is the length)
// 0xd0+k-1  k bytes  tag            an integer in k = 1..=8 bytes, little-endian, signed
// 0xe0  len:u32  payload  len  tag  a string of 4 KiB ..= 4 GiB - 1
// 0xe1  len:u64  payload  len  tag  anything longer
// ```
//
// A string is stored as an integer exactly when Redis's `string2ll` accepts it (canonical
// decimal: no sign but `-`, no leading zeros, no "-0"), so it formats back to the same
// bytes. Equal elements therefore always have equal encodings, and a search compares bytes.

const TAG_STR6: u8 = 0x80;
const TAG_STR12: u8 = 0xc0;
const TAG_INT: u8 = 0xd0;
const TAG_STR32: u8 = 0xe0;
const TAG_STR64: u8 = 0xe1;

/// One element in its packed form, before it is written into a chunk.
struct Encoded<'a> {
    /// The tag, then the length or the integer's bytes.
    head: [u8; 9],
    head_len: usize,
    /// Bytes after the payload: `head[1..trailer_len]` then the tag; 0 for a one-byte entry.
    trailer_len: usize,
    payload: &'a [u8],
}

impl<'a> Encoded<'a> {
    fn new(elem: &'a [u8]) -> Encoded<'a> {
        let mut head = [0u8; 9];
        if let Some(v) = parse_i64(elem) {
            if (0..0x80).contains(&v) {
                head[0] = v as u8;
                return Encoded {
                    head,
                    head_len: 1,
                    trailer_len: 0,
                    payload: &[],
                };
            }
            let k = int_width(v);
            head[0] = TAG_INT + (k as u8 - 1);
            head[1..=k].copy_from_slice(&v.to_le_bytes()[..k]);
            return Encoded {
                head,
                head_len: 1 + k,
                trailer_len: 1,
                payload: &[],
            };
        }
        let len = elem.len();
        let head_len = if len < 64 {
            head[0] = TAG_STR6 | len as u8;
            1
        } else if len < 4096 {
            head[0] = TAG_STR12 | (len >> 8) as u8;
            head[1] = len as u8;
            2
        } else if let Ok(len) = u32::try_from(len) {
            head[0] = TAG_STR32;
            head[1..5].copy_from_slice(&len.to_le_bytes());
            5
        } else {
            head[0] = TAG_STR64;
            head[1..9].copy_from_slice(&(len as u64).to_le_bytes());
            9
        };
        Encoded {
            head,
            head_len,
            trailer_len: head_len,
            payload: elem,
        }
    }

    fn len(&self) -> usize {
        self.head_len + self.payload.len() + self.trailer_len
    }

    fn trailer(&self) -> impl Iterator<Item = u8> + '_ {
        let extra = self.trailer_len.saturating_sub(1);
        let tag = (self.trailer_len > 0).then_some(self.head[0]);
        self.head[1..1 + extra].iter().copied().chain(tag)
    }

    /// Writes the entry into `dst`, which is exactly `self.len()` bytes.
    fn write(&self, dst: &mut [u8]) {
        let (head, rest) = dst.split_at_mut(self.head_len);
        head.copy_from_slice(&self.head[..self.head_len]);
        let (payload, trailer) = rest.split_at_mut(self.payload.len());
        payload.copy_from_slice(self.payload);
        for (d, s) in trailer.iter_mut().zip(self.trailer()) {
            *d = s;
        }
    }

    fn extend(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head[..self.head_len]);
        out.extend_from_slice(self.payload);
        out.extend(self.trailer());
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.extend(&mut out);
        out
    }
}

/// Bytes needed to hold `v` as a signed little-endian integer.
fn int_width(v: i64) -> usize {
    (1..8)
        .find(|&k| {
            let bound = 1i64 << (8 * k - 1);
            (-bound..bound).contains(&v)
        })
        .unwrap_or(8)
}

fn read_u32(bytes: &[u8]) -> usize {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize
}

fn read_u64(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes")) as usize
}

/// The size of the entry that starts at `buf[at]`.
fn size_forward(buf: &[u8], at: usize) -> usize {
    let tag = buf[at];
    match tag {
        0x00..=0x7f => 1,
        0x80..=0xbf => usize::from(tag & 0x3f) + 2,
        0xc0..=0xcf => (usize::from(tag & 0x0f) << 8 | usize::from(buf[at + 1])) + 4,
        0xd0..=0xd7 => usize::from(tag - TAG_INT) + 3,
        TAG_STR32 => read_u32(&buf[at + 1..at + 5]) + 10,
        TAG_STR64 => read_u64(&buf[at + 1..at + 9]) + 18,
        _ => unreachable!("list entry tag {tag:#x}"),
    }
}

/// The size of the entry that ends just before `buf[end]`.
fn size_backward(buf: &[u8], end: usize) -> usize {
    let tag = buf[end - 1];
    match tag {
        0x00..=0x7f => 1,
        0x80..=0xbf => usize::from(tag & 0x3f) + 2,
        0xc0..=0xcf => (usize::from(tag & 0x0f) << 8 | usize::from(buf[end - 2])) + 4,
        0xd0..=0xd7 => usize::from(tag - TAG_INT) + 3,
        TAG_STR32 => read_u32(&buf[end - 5..end - 1]) + 10,
        TAG_STR64 => read_u64(&buf[end - 9..end - 1]) + 18,
        _ => unreachable!("list entry tag {tag:#x}"),
    }
}

/// An element as stored: a string, or an integer that prints as the string it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Elem<'_> {
    pub fn to_bytes(self) -> Bytes {
        match self {
            Elem::Str(s) => Bytes::copy_from_slice(s),
            Elem::Int(v) => Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes()),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(v) => itoa::Buffer::new().format(v).as_bytes().to_vec(),
        }
    }
}

/// One packed entry of a list, as an iterator yields it.
#[derive(Clone, Copy)]
pub struct Entry<'a>(&'a [u8]);

impl<'a> Entry<'a> {
    pub fn elem(self) -> Elem<'a> {
        let e = self.0;
        match e[0] {
            tag @ 0x00..=0x7f => Elem::Int(i64::from(tag)),
            0x80..=0xbf => Elem::Str(&e[1..e.len() - 1]),
            0xc0..=0xcf => Elem::Str(&e[2..e.len() - 2]),
            tag @ 0xd0..=0xd7 => {
                let k = usize::from(tag - TAG_INT) + 1;
                let mut bytes = [0u8; 8];
                bytes[..k].copy_from_slice(&e[1..=k]);
                // Sign-extend from the top byte written.
                let shift = 64 - 8 * k as u32;
                Elem::Int(i64::from_le_bytes(bytes) << shift >> shift)
            }
            TAG_STR32 => Elem::Str(&e[5..e.len() - 5]),
            _ => Elem::Str(&e[9..e.len() - 9]),
        }
    }

    pub fn to_bytes(self) -> Bytes {
        self.elem().to_bytes()
    }

    /// Whether this entry holds `needle` (from [`List::needle`]).
    pub fn is(self, needle: &Needle) -> bool {
        self.0 == needle.0.as_slice()
    }
}

/// An element encoded for searching: equal elements have equal encodings.
pub struct Needle(Vec<u8>);

// ---------------------------------------------------------------------------------------------
// One chunk

/// A run of entries in `buf[head..]`. The bytes before `head` are free room for pushes at the
/// front, so both ends take pushes and pops without moving the rest.
#[derive(Clone)]
struct Chunk {
    buf: Vec<u8>,
    head: usize,
    count: u32,
}

/// How full a chunk may grow: Redis's `list-max-listpack-size`, read the same way.
#[derive(Clone, Copy, Debug)]
struct Limit {
    bytes: usize,
    count: usize,
}

/// Redis's `SIZE_SAFETY_LIMIT`: a count-limited chunk still stops at 8 KiB.
const COUNT_MODE_BYTES_MAX: usize = 8192;

impl Limit {
    fn of(fill: i32) -> Limit {
        if fill < 0 {
            // -1..-5: 4, 8, 16, 32, 64 KiB; lower values count as -5, as in Redis.
            let level = (-(fill as i64) - 1).min(4) as u32;
            Limit {
                bytes: 4096 << level,
                count: usize::MAX,
            }
        } else {
            Limit {
                bytes: COUNT_MODE_BYTES_MAX,
                count: (fill as usize).max(1),
            }
        }
    }
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            buf: Vec::new(),
            head: 0,
            count: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    fn live(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    fn takes(&self, size: usize, limit: Limit) -> bool {
        (self.count as usize) < limit.count && self.bytes() + size <= limit.bytes
    }

    fn push_back(&mut self, enc: &Encoded) {
        enc.extend(&mut self.buf);
        self.count += 1;
    }

    fn push_front(&mut self, enc: &Encoded, limit: Limit) {
        let size = enc.len();
        if self.head < size {
            // Make room at the front: as much again as the chunk holds (amortized O(1)
            // pushes), but no more than it can still take.
            let live = self.bytes();
            let room = live.min(limit.bytes.saturating_sub(live));
            let gap = size.max(room);
            let mut buf = Vec::with_capacity(gap + live);
            buf.resize(gap, 0);
            buf.extend_from_slice(self.live());
            self.buf = buf;
            self.head = gap;
        }
        self.head -= size;
        enc.write(&mut self.buf[self.head..self.head + size]);
        self.count += 1;
    }

    /// Drops the free room: a chunk that is no longer at an end of its list keeps no slack.
    fn seal(&mut self) {
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.shrink_to_fit();
    }

    fn first(&self) -> Entry<'_> {
        Entry(&self.buf[self.head..self.head + size_forward(&self.buf, self.head)])
    }

    fn last(&self) -> Entry<'_> {
        let end = self.buf.len();
        Entry(&self.buf[end - size_backward(&self.buf, end)..])
    }

    /// Byte offset of the entry at `index` (< count), walking from the nearer end.
    fn offset_of(&self, index: usize) -> usize {
        let count = self.count as usize;
        if index < count / 2 {
            let mut at = self.head;
            for _ in 0..index {
                at += size_forward(&self.buf, at);
            }
            at
        } else {
            let mut end = self.buf.len();
            for _ in 0..count - 1 - index {
                end -= size_backward(&self.buf, end);
            }
            end - size_backward(&self.buf, end)
        }
    }

    /// Removes the first `n` (< count) entries.
    fn drop_front(&mut self, n: usize) {
        for _ in 0..n {
            self.head += size_forward(&self.buf, self.head);
        }
        self.count -= n as u32;
    }

    /// Removes the last `n` (< count) entries.
    fn drop_back(&mut self, n: usize) {
        let mut end = self.buf.len();
        for _ in 0..n {
            end -= size_backward(&self.buf, end);
        }
        self.buf.truncate(end);
        self.count -= n as u32;
    }

    /// Splits off the second half of the entries as a new chunk.
    fn split(&mut self) -> Chunk {
        let keep = self.count as usize / 2;
        let at = self.offset_of(keep);
        let tail = Chunk {
            buf: self.buf[at..].to_vec(),
            head: 0,
            count: self.count - keep as u32,
        };
        self.buf.truncate(at);
        self.count = keep as u32;
        tail
    }
}

// ---------------------------------------------------------------------------------------------
// The list

#[derive(Clone)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// `list-max-listpack-size` when the list was made (Redis also fixes it at creation).
    fill: i32,
}

/// Redis's default `list-max-listpack-size` (8 KiB chunks).
const FILL_DEFAULT: i32 = -2;

impl Default for List {
    fn default() -> List {
        List::with_fill(i64::from(FILL_DEFAULT))
    }
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LEFT).
    Head,
    /// The tail (RIGHT).
    Tail,
}

impl List {
    /// An empty list whose chunks follow `list-max-listpack-size = fill`.
    pub fn with_fill(fill: i64) -> List {
        List {
            chunks: VecDeque::new(),
            len: 0,
            fill: fill.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_bytes(&self) -> usize {
        let chunks = self.chunks.capacity() * std::mem::size_of::<Chunk>();
        chunks + self.chunks.iter().map(|c| c.buf.capacity()).sum::<usize>()
    }

    fn limit(&self) -> Limit {
        Limit::of(self.fill)
    }

    /// An element encoded for [`Entry::is`].
    pub fn needle(elem: &[u8]) -> Needle {
        Needle(Encoded::new(elem).to_vec())
    }

    // -- Ends ----------------------------------------------------------------------------------

    pub fn push(&mut self, end: End, elem: &[u8]) {
        match end {
            End::Head => self.push_front(elem),
            End::Tail => self.push_back(elem),
        }
    }

    pub fn push_back(&mut self, elem: &[u8]) {
        let enc = Encoded::new(elem);
        let limit = self.limit();
        match self.chunks.back_mut() {
            Some(c) if c.takes(enc.len(), limit) => c.push_back(&enc),
            last => {
                if let Some(c) = last {
                    c.seal();
                }
                let mut c = Chunk::new();
                c.push_back(&enc);
                self.chunks.push_back(c);
            }
        }
        self.len += 1;
    }

    pub fn push_front(&mut self, elem: &[u8]) {
        let enc = Encoded::new(elem);
        let limit = self.limit();
        match self.chunks.front_mut() {
            Some(c) if c.takes(enc.len(), limit) => c.push_front(&enc, limit),
            first => {
                if let Some(c) = first {
                    c.seal();
                }
                let mut c = Chunk::new();
                c.push_front(&enc, limit);
                self.chunks.push_front(c);
            }
        }
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let value = self.peek(end)?.to_bytes();
        match end {
            End::Head => self.drain_front(1),
            End::Tail => self.drain_back(1),
        }
        Some(value)
    }

    /// The element at one end.
    pub fn peek(&self, end: End) -> Option<Entry<'_>> {
        match end {
            End::Head => self.chunks.front().map(Chunk::first),
            End::Tail => self.chunks.back().map(Chunk::last),
        }
    }

    /// Removes the first `n` elements (all of them if fewer).
    pub fn drain_front(&mut self, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        while left > 0 {
            let c = self
                .chunks
                .front_mut()
                .expect("len counts the chunks' entries");
            if c.count as usize <= left {
                left -= c.count as usize;
                self.chunks.pop_front();
            } else {
                c.drop_front(left);
                left = 0;
            }
        }
    }

    /// Removes the last `n` elements (all of them if fewer).
    pub fn drain_back(&mut self, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        while left > 0 {
            let c = self
                .chunks
                .back_mut()
                .expect("len counts the chunks' entries");
            if c.count as usize <= left {
                left -= c.count as usize;
                self.chunks.pop_back();
            } else {
                c.drop_back(left);
                left = 0;
            }
        }
    }

    // -- Positions -----------------------------------------------------------------------------

    /// (chunk, byte offset) of the element at `index` (< len), walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut left = index;
            for (i, c) in self.chunks.iter().enumerate() {
                if left < c.count as usize {
                    return (i, c.offset_of(left));
                }
                left -= c.count as usize;
            }
        } else {
            let mut left = self.len - 1 - index;
            for (i, c) in self.chunks.iter().enumerate().rev() {
                if left < c.count as usize {
                    return (i, c.offset_of(c.count as usize - 1 - left));
                }
                left -= c.count as usize;
            }
        }
        unreachable!("index {index} within len {}", self.len)
    }

    /// The element at `index` (< len).
    pub fn get(&self, index: usize) -> Option<Entry<'_>> {
        if index >= self.len {
            return None;
        }
        let (ci, at) = self.locate(index);
        let buf = &self.chunks[ci].buf;
        Some(Entry(&buf[at..at + size_forward(buf, at)]))
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        if self.is_empty() {
            return Iter {
                chunks: &self.chunks,
                chunk: 0,
                at: 0,
                forward: true,
                left: 0,
            };
        }
        self.iter_from(0, true)
    }

    /// The elements from `index` (< len) towards the tail (`forward`) or the head.
    pub fn iter_from(&self, index: usize, forward: bool) -> Iter<'_> {
        let (chunk, at) = self.locate(index);
        let (at, left) = if forward {
            (at, self.len - index)
        } else {
            (at + size_forward(&self.chunks[chunk].buf, at), index + 1)
        };
        Iter {
            chunks: &self.chunks,
            chunk,
            at,
            forward,
            left,
        }
    }

    // -- Edits ---------------------------------------------------------------------------------

    /// Splits chunk `ci` while it is over the limit and holds more than one entry.
    fn fit(&mut self, ci: usize) {
        let limit = self.limit();
        let c = &self.chunks[ci];
        if c.count > 1 && (c.bytes() > limit.bytes || c.count as usize > limit.count) {
            let tail = self.chunks[ci].split();
            self.chunks.insert(ci + 1, tail);
            self.fit(ci + 1);
            self.fit(ci);
        }
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, elem: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let (ci, at) = self.locate(index);
        let enc = Encoded::new(elem);
        let c = &mut self.chunks[ci];
        let old = size_forward(&c.buf, at);
        if old == enc.len() {
            enc.write(&mut c.buf[at..at + old]);
        } else {
            c.buf.splice(at..at + old, enc.to_vec());
            self.fit(ci);
        }
        true
    }

    /// Inserts `elem` next to the first element equal to `pivot` (after it or before it);
    /// false if there is none.
    pub fn insert(&mut self, pivot: &[u8], elem: &[u8], after: bool) -> bool {
        let needle = List::needle(pivot);
        let mut found = None;
        'chunks: for (ci, c) in self.chunks.iter().enumerate() {
            let mut at = c.head;
            while at < c.buf.len() {
                let size = size_forward(&c.buf, at);
                if Entry(&c.buf[at..at + size]).is(&needle) {
                    found = Some((ci, if after { at + size } else { at }));
                    break 'chunks;
                }
                at += size;
            }
        }
        let Some((ci, at)) = found else {
            return false;
        };
        let c = &mut self.chunks[ci];
        c.buf.splice(at..at, Encoded::new(elem).to_vec());
        c.count += 1;
        self.len += 1;
        self.fit(ci);
        true
    }

    /// Removes up to `limit` elements equal to `elem` (0: all), scanning from the head or,
    /// with `from_tail`, from the tail. Returns how many went.
    pub fn remove(&mut self, elem: &[u8], limit: u64, from_tail: bool) -> usize {
        let needle = List::needle(elem);
        let limit = if limit == 0 { u64::MAX } else { limit };
        let mut removed: u64 = 0;
        let n = self.chunks.len();
        for step in 0..n {
            if removed == limit {
                break;
            }
            let ci = if from_tail { n - 1 - step } else { step };
            let c = &mut self.chunks[ci];
            let mut hits = Vec::new();
            let mut at = c.head;
            while at < c.buf.len() {
                let size = size_forward(&c.buf, at);
                if Entry(&c.buf[at..at + size]).is(&needle) {
                    hits.push((at, size));
                }
                at += size;
            }
            let want = usize::try_from(limit - removed).unwrap_or(usize::MAX);
            if hits.len() > want {
                if from_tail {
                    hits.drain(..hits.len() - want);
                } else {
                    hits.truncate(want);
                }
            }
            if hits.is_empty() {
                continue;
            }
            let gone: usize = hits.iter().map(|&(_, size)| size).sum();
            let mut buf = Vec::with_capacity(c.bytes() - gone);
            let mut from = c.head;
            for &(at, size) in &hits {
                buf.extend_from_slice(&c.buf[from..at]);
                from = at + size;
            }
            buf.extend_from_slice(&c.buf[from..]);
            c.buf = buf;
            c.head = 0;
            c.count -= hits.len() as u32;
            removed += hits.len() as u64;
        }
        if removed > 0 {
            self.len -= removed as usize;
            self.chunks.retain(|c| c.count > 0);
            self.merge_small();
        }
        removed as usize
    }

    /// Merges neighbouring chunks that fit in one, after removals left them small.
    fn merge_small(&mut self) {
        let limit = self.limit();
        let mut i = 0;
        while i + 1 < self.chunks.len() {
            let (a, b) = (&self.chunks[i], &self.chunks[i + 1]);
            let fits =
                a.bytes() + b.bytes() <= limit.bytes && (a.count + b.count) as usize <= limit.count;
            if fits {
                let b = self.chunks.remove(i + 1).expect("i + 1 < len");
                let a = &mut self.chunks[i];
                a.buf.reserve_exact(b.bytes());
                a.buf.extend_from_slice(b.live());
                a.count += b.count;
            } else {
                i += 1;
            }
        }
    }

    // -- Snapshot form -------------------------------------------------------------------------

    /// Snapshot form: u64 count, then per element u32 len, bytes (head first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.len as u64).to_le_bytes());
        for entry in self.iter() {
            match entry.elem() {
                Elem::Str(s) => {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s);
                }
                Elem::Int(v) => {
                    let mut buf = itoa::Buffer::new();
                    let s = buf.format(v).as_bytes();
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s);
                }
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<List, SnapshotError> {
        let n = r.u64()?;
        let mut list = List::default();
        for _ in 0..n {
            list.push_back(r.bytes()?);
        }
        Ok(list)
    }
}

/// Lists are equal when their elements are, however they are chunked.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0)
    }
}

impl fmt::Debug for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|e| String::from_utf8_lossy(&e.elem().to_vec()).into_owned()),
            )
            .finish()
    }
}

/// Walks a list's entries in one direction.
pub struct Iter<'a> {
    chunks: &'a VecDeque<Chunk>,
    chunk: usize,
    /// Forward: where the next entry starts; backward: where it ends.
    at: usize,
    forward: bool,
    /// Entries still to yield: the walk never steps past the list's end.
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut c = &self.chunks[self.chunk];
        if self.forward {
            if self.at == c.buf.len() {
                self.chunk += 1;
                c = &self.chunks[self.chunk];
                self.at = c.head;
            }
            let start = self.at;
            self.at += size_forward(&c.buf, start);
            Some(Entry(&c.buf[start..self.at]))
        } else {
            if self.at == c.head {
                self.chunk -= 1;
                c = &self.chunks[self.chunk];
                self.at = c.buf.len();
            }
            let end = self.at;
            self.at -= size_backward(&c.buf, end);
            Some(Entry(&c.buf[self.at..end]))
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn elems(list: &List) -> Vec<Vec<u8>> {
        list.iter().map(|e| e.elem().to_vec()).collect()
    }

    #[test]
    fn entries_round_trip_and_read_from_both_ends() {
        let samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"0".to_vec(),
            b"127".to_vec(),
            b"128".to_vec(),
            b"-1".to_vec(),
            b"-128".to_vec(),
            b"-129".to_vec(),
            b"32767".to_vec(),
            b"9223372036854775807".to_vec(),
            b"-9223372036854775808".to_vec(),
            b"9223372036854775808".to_vec(),
            b"-0".to_vec(),
            b"01".to_vec(),
            b"+1".to_vec(),
            b" 1".to_vec(),
            vec![b'x'; 63],
            vec![b'x'; 64],
            vec![b'y'; 4095],
            vec![b'z'; 4096],
            vec![0xff; 70000],
        ];
        for s in &samples {
            let enc = Encoded::new(s).to_vec();
            assert_eq!(size_forward(&enc, 0), enc.len(), "{s:?}");
            assert_eq!(size_backward(&enc, enc.len()), enc.len(), "{s:?}");
            assert_eq!(Entry(&enc).elem().to_vec(), *s);
            let mut dst = vec![0u8; enc.len()];
            Encoded::new(s).write(&mut dst);
            assert_eq!(dst, enc);
        }
        assert_eq!(Encoded::new(b"5").len(), 1, "small integers take one byte");
        assert_eq!(Encoded::new(b"-5").len(), 3);
        assert_eq!(Encoded::new(b"abc").len(), 5);
        assert_eq!(
            Entry(&Encoded::new(b"-129").to_vec()).elem(),
            Elem::Int(-129)
        );
        assert_eq!(
            Entry(&Encoded::new(b"01").to_vec()).elem(),
            Elem::Str(b"01")
        );
    }

    /// Random operations against a VecDeque, with chunk limits small enough that every
    /// operation crosses chunk boundaries.
    #[test]
    fn matches_a_deque_under_every_fill() {
        for fill in [1, 2, 3, 5, -1, -2] {
            let mut rng = crate::engine::Rng::new(fill as u64 + 7);
            let mut list = List::with_fill(fill);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..4000 {
                let r = rng.next_u64();
                let value = match r % 5 {
                    0 => (r >> 8).to_string().into_bytes(),
                    1 => ((r >> 8) % 300).to_string().into_bytes(),
                    2 => vec![b'a' + (r >> 8) as u8 % 4; (r >> 16) as usize % 5],
                    3 => vec![b'b'; (r >> 16) as usize % 5000],
                    _ => format!("-{}", (r >> 8) % 5).into_bytes(),
                };
                match (r >> 40) % 10 {
                    0 | 1 => {
                        list.push_back(&value);
                        model.push_back(value);
                    }
                    2 | 3 => {
                        list.push_front(&value);
                        model.push_front(value);
                    }
                    4 => {
                        let a = list.pop(End::Head).map(|b| b.to_vec());
                        assert_eq!(a, model.pop_front());
                    }
                    5 => {
                        let a = list.pop(End::Tail).map(|b| b.to_vec());
                        assert_eq!(a, model.pop_back());
                    }
                    6 if !model.is_empty() => {
                        let i = (r >> 20) as usize % model.len();
                        assert!(list.set(i, &value));
                        model[i] = value;
                    }
                    7 if !model.is_empty() => {
                        let pivot = model[(r >> 20) as usize % model.len()].clone();
                        let after = r & 1 == 1;
                        assert!(list.insert(&pivot, &value, after));
                        let i = model.iter().position(|v| *v == pivot).unwrap();
                        model.insert(if after { i + 1 } else { i }, value);
                    }
                    8 if !model.is_empty() => {
                        let target = model[(r >> 20) as usize % model.len()].clone();
                        let limit = (r >> 30) % 3;
                        let from_tail = r & 2 == 2;
                        let removed = list.remove(&target, limit, from_tail);
                        let mut left = if limit == 0 {
                            usize::MAX
                        } else {
                            limit as usize
                        };
                        let mut kept: Vec<Vec<u8>> = Vec::new();
                        let mut gone = 0;
                        let items: Vec<Vec<u8>> = if from_tail {
                            model.iter().rev().cloned().collect()
                        } else {
                            model.iter().cloned().collect()
                        };
                        for v in items {
                            if v == target && left > 0 {
                                left -= 1;
                                gone += 1;
                            } else {
                                kept.push(v);
                            }
                        }
                        if from_tail {
                            kept.reverse();
                        }
                        model = kept.into();
                        assert_eq!(removed, gone);
                    }
                    _ => {
                        let n = (r >> 20) as usize % 4;
                        if r & 1 == 0 {
                            list.drain_front(n);
                            model.drain(..n.min(model.len()));
                        } else {
                            list.drain_back(n);
                            let keep = model.len().saturating_sub(n);
                            model.truncate(keep);
                        }
                    }
                }
                assert_eq!(list.len(), model.len(), "fill {fill} step {step}");
                if step % 97 == 0 || model.len() < 8 {
                    assert_eq!(
                        elems(&list),
                        Vec::from(model.clone()),
                        "fill {fill} step {step}"
                    );
                    for (i, want) in model.iter().enumerate() {
                        assert_eq!(list.get(i).unwrap().elem().to_vec(), *want);
                    }
                    if !model.is_empty() {
                        let i = (r >> 24) as usize % model.len();
                        let back: Vec<Vec<u8>> = list
                            .iter_from(i, false)
                            .map(|e| e.elem().to_vec())
                            .collect();
                        let want: Vec<Vec<u8>> = model.iter().take(i + 1).rev().cloned().collect();
                        assert_eq!(back, want);
                        let fwd: Vec<Vec<u8>> =
                            list.iter_from(i, true).map(|e| e.elem().to_vec()).collect();
                        let want: Vec<Vec<u8>> = model.iter().skip(i).cloned().collect();
                        assert_eq!(fwd, want);
                    }
                    assert_eq!(
                        list.chunks.iter().map(|c| c.count as usize).sum::<usize>(),
                        list.len()
                    );
                    assert!(list.chunks.iter().all(|c| c.count > 0));
                }
            }
        }
    }

    #[test]
    fn chunks_respect_the_fill() {
        let mut list = List::with_fill(3);
        for i in 0..10 {
            list.push_back(format!("v{i}").as_bytes());
        }
        assert_eq!(list.chunks.len(), 4);
        let mut list = List::default();
        for _ in 0..10_000 {
            list.push_front(b"0123456789");
        }
        // 12 bytes an entry in 8 KiB chunks.
        assert_eq!(list.chunks.len(), 10_000usize.div_ceil(8192 / 12));
        assert!(
            list.heap_bytes() < 10_000 * 12 * 11 / 10,
            "{}",
            list.heap_bytes()
        );
    }

    #[test]
    fn equality_and_snapshot_ignore_chunking() {
        let mut a = List::with_fill(1);
        let mut b = List::with_fill(-5);
        for i in 0..100 {
            a.push_back(i.to_string().as_bytes());
            b.push_back(i.to_string().as_bytes());
        }
        assert_eq!(a, b);
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.encode(&mut ea);
        b.encode(&mut eb);
        assert_eq!(ea, eb);
        let back = List::decode(&mut Reader::new(&ea)).unwrap();
        assert_eq!(back, a);
        b.set(5, b"x");
        assert_ne!(a, b);
    }
}
