//! The compact form (Redis's `listpack` encoding): every entry packed in one buffer, in
//! (score, member) order. An entry is the score (f64, 8 bytes little-endian), the member's
//! length (LEB128) and the member's bytes. Every operation is a linear walk, as on a listpack;
//! the form only holds up to `zset-max-listpack-entries` members.

use std::cmp::Ordering;

use super::tree::cmp_score;

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Pack {
    buf: Vec<u8>,
    len: usize,
}

/// One decoded entry: where it starts and ends in the buffer, its score and member.
#[derive(Clone, Copy, Debug)]
pub(super) struct At<'a> {
    pub start: usize,
    pub end: usize,
    pub score: f64,
    pub member: &'a [u8],
}

/// The score a listpack keeps: Redis writes integral scores as integers, so -0 is stored
/// (and read back) as 0.
fn stored(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

fn put_len(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn len_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

impl Pack {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    fn at(&self, start: usize) -> At<'_> {
        let score = f64::from_le_bytes(self.buf[start..start + 8].try_into().expect("8 bytes"));
        let mut pos = start + 8;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = self.buf[pos];
            pos += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        At {
            start,
            end: pos + len,
            score,
            member: &self.buf[pos..pos + len],
        }
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter { pack: self, pos: 0 }
    }

    pub fn find(&self, member: &[u8]) -> Option<At<'_>> {
        self.iter().find(|e| e.member == member)
    }

    /// The entry at `rank`, walking from the front.
    pub fn nth(&self, rank: usize) -> Option<At<'_>> {
        self.iter().nth(rank)
    }

    /// Inserts a member that is not present, at its place in the order.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let score = stored(score);
        let pos = self
            .iter()
            .find(|e| {
                cmp_score(e.score, score).then_with(|| e.member.cmp(member)) == Ordering::Greater
            })
            .map_or(self.buf.len(), |e| e.start);
        let mut entry = Vec::with_capacity(8 + len_size(member.len()) + member.len());
        entry.extend_from_slice(&score.to_le_bytes());
        put_len(&mut entry, member.len());
        entry.extend_from_slice(member);
        self.buf.reserve_exact(entry.len());
        self.buf.splice(pos..pos, entry);
        self.len += 1;
    }

    /// Removes the entries in bytes `start..end`, which hold `count` entries.
    pub fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        self.buf.drain(start..end);
        self.len -= count;
        // Give memory back once the buffer is mostly empty, as a listpack reallocates.
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// The byte offset where rank `rank` starts (the buffer's end for `rank == len`).
    pub fn offset_of(&self, rank: usize) -> usize {
        self.iter().nth(rank).map_or(self.buf.len(), |e| e.start)
    }

    /// Appends an entry known to sort after every entry present (ordered loads).
    pub fn push(&mut self, score: f64, member: &[u8]) {
        let score = stored(score);
        self.buf.extend_from_slice(&score.to_le_bytes());
        put_len(&mut self.buf, member.len());
        self.buf.extend_from_slice(member);
        self.len += 1;
    }

    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }
}

pub(super) struct PackIter<'a> {
    pack: &'a Pack,
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = At<'a>;

    fn next(&mut self) -> Option<At<'a>> {
        if self.pos >= self.pack.buf.len() {
            return None;
        }
        let at = self.pack.at(self.pos);
        self.pos = at.end;
        Some(at)
    }
}
