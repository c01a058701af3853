//! Reading: an object type byte and the value after it (Redis's `rdbLoadObject`), with every
//! check of its deep sanitization and every length checked before it is trusted.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::listpack::Item;
use super::num::{int_text, parse_double};
use super::{RdbError, RdbValue, intset, kind, listpack, lzf, stream, ziplist, zipmap};

type Result<T> = std::result::Result<T, RdbError>;

fn corrupt<T>(why: &'static str) -> Result<T> {
    Err(RdbError::Corrupt(why))
}

pub fn value(body: &[u8]) -> Result<RdbValue> {
    let mut r = Reader { buf: body, pos: 0 };
    let value = match r.byte()? {
        kind::STRING => RdbValue::Str(r.string()?.into_owned()),
        kind::LIST => RdbValue::List(plain_list(&mut r)?),
        kind::LIST_ZIPLIST => RdbValue::List(non_empty(strings(ziplist::items(&r.string()?)?))?),
        kind::LIST_QUICKLIST => RdbValue::List(quicklist(&mut r, false)?),
        kind::LIST_QUICKLIST_2 => RdbValue::List(quicklist(&mut r, true)?),
        kind::SET => RdbValue::Set(plain_set(&mut r)?),
        kind::SET_INTSET => {
            let members = intset::decode(&r.string()?)?;
            RdbValue::Set(members.into_iter().map(int_text).collect())
        }
        kind::HASH => RdbValue::Hash(plain_hash(&mut r)?),
        kind::HASH_ZIPMAP => {
            let pairs = zipmap::pairs(&r.string()?)?
                .into_iter()
                .map(|(f, v)| (f.to_vec(), v.to_vec()))
                .collect();
            RdbValue::Hash(distinct_keys(pairs)?)
        }
        kind::HASH_ZIPLIST => RdbValue::Hash(hash_pairs(ziplist::items(&r.string()?)?)?),
        kind::HASH_LISTPACK => RdbValue::Hash(hash_pairs(listpack::items(&r.string()?)?)?),
        kind::ZSET => RdbValue::ZSet(plain_zset(&mut r, false)?),
        kind::ZSET_2 => RdbValue::ZSet(plain_zset(&mut r, true)?),
        kind::ZSET_ZIPLIST => RdbValue::ZSet(zset_pairs(ziplist::items(&r.string()?)?)?),
        kind::ZSET_LISTPACK => RdbValue::ZSet(zset_pairs(listpack::items(&r.string()?)?)?),
        kind::STREAM_LISTPACKS => RdbValue::Stream(Box::new(stream::decode(&mut r, false)?)),
        kind::STREAM_LISTPACKS_2 => RdbValue::Stream(Box::new(stream::decode(&mut r, true)?)),
        kind::MODULE | kind::MODULE_2 => return Err(RdbError::Module),
        _ => return corrupt("unknown object type"),
    };
    // Bytes after the value are ignored, as Redis ignores them.
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// The byte reader

pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A length field, or the special string encoding it announces instead.
enum Len {
    Plain(u64),
    /// The low 6 bits of a 0b11 first byte: 0-2 integer widths, 3 LZF.
    Special(u8),
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(RdbError::Corrupt("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes; never allocates, so `n` may be anything.
    pub(super) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => {
                let bytes = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(bytes)
            }
            _ => corrupt("length past the end"),
        }
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N as u64)?.try_into().expect("N bytes"))
    }

    /// A length field (Redis's `rdbLoadLenByRef`).
    fn len_field(&mut self) -> Result<Len> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0b00 => Len::Plain(u64::from(first & 0x3f)),
            0b01 => Len::Plain(u64::from(first & 0x3f) << 8 | u64::from(self.byte()?)),
            0b11 => Len::Special(first & 0x3f),
            _ => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return corrupt("unknown length encoding"),
            },
        })
    }

    /// A length that must be a plain one.
    pub(super) fn len(&mut self) -> Result<u64> {
        match self.len_field()? {
            Len::Plain(n) => Ok(n),
            Len::Special(_) => corrupt("encoded value where a length belongs"),
        }
    }

    /// A count of things that each take at least `min_bytes` of what remains: at least one
    /// (Redis refuses empty collections), and never more than the bytes could hold, so it is
    /// safe to reserve room for.
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = self.len()?;
        if n == 0 {
            return corrupt("empty collection");
        }
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() / min_bytes => Ok(n),
            _ => corrupt("count larger than the payload"),
        }
    }

    /// A count of things that each take at least `min_bytes` of what remains, possibly 0
    /// (a stream may have no node, group, pending entry or consumer).
    pub(super) fn count_or_zero(&mut self, min_bytes: usize) -> Result<usize> {
        match usize::try_from(self.len()?) {
            Ok(n) if n <= self.remaining() / min_bytes => Ok(n),
            _ => corrupt("count larger than the payload"),
        }
    }

    /// A string in any encoding (Redis's `rdbGenericLoadStringObject`); integers come back
    /// as their decimal text.
    pub(super) fn string(&mut self) -> Result<Cow<'a, [u8]>> {
        match self.len_field()? {
            Len::Plain(n) => Ok(Cow::Borrowed(self.take(n)?)),
            Len::Special(0) => Ok(Cow::Owned(int_text(i64::from(i8::from_le_bytes(
                self.array()?,
            ))))),
            Len::Special(1) => Ok(Cow::Owned(int_text(i64::from(i16::from_le_bytes(
                self.array()?,
            ))))),
            Len::Special(2) => Ok(Cow::Owned(int_text(i64::from(i32::from_le_bytes(
                self.array()?,
            ))))),
            Len::Special(3) => {
                let packed_len = self.len()?;
                let len = self.len()?;
                let packed = self.take(packed_len)?;
                let len = usize::try_from(len).or(corrupt("LZF length"))?;
                match lzf::decompress(packed, len) {
                    Some(bytes) => Ok(Cow::Owned(bytes)),
                    None => corrupt("invalid LZF compressed string"),
                }
            }
            Len::Special(_) => corrupt("unknown string encoding"),
        }
    }

    /// A score stored in binary (zset 2): a little-endian IEEE 754 double.
    fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A score stored as text (zset, before RDB 8): a length byte, with 253, 254 and 255
    /// standing for NaN, +inf and -inf, then the text.
    fn text_double(&mut self) -> Result<f64> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => parse_double(self.take(u64::from(len))?).ok_or(RdbError::Corrupt("score text")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

fn plain_list(r: &mut Reader) -> Result<Vec<Vec<u8>>> {
    // Each element takes at least its one-byte length.
    let n = r.count(1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.string()?.into_owned());
    }
    Ok(out)
}

/// Quicklist nodes: ziplists (`v2` false), or a container (plain or packed) and then an
/// element or a listpack. Empty nodes are skipped, as Redis skips them; an empty list is not.
fn quicklist(r: &mut Reader, v2: bool) -> Result<Vec<Vec<u8>>> {
    // Each node takes at least a container byte and a one-byte string.
    let nodes = r.count(2)?;
    let mut out = Vec::new();
    for _ in 0..nodes {
        let container = if v2 { r.len()? } else { kind::NODE_PACKED };
        if container != kind::NODE_PLAIN && container != kind::NODE_PACKED {
            return corrupt("quicklist node container");
        }
        let data = r.string()?;
        if data.is_empty() {
            return corrupt("empty quicklist node");
        }
        if container == kind::NODE_PLAIN {
            out.push(data.into_owned());
        } else if v2 {
            out.extend(strings(listpack::items(&data)?));
        } else {
            out.extend(strings(ziplist::items(&data)?));
        }
    }
    non_empty(out)
}

fn strings(items: Vec<Item>) -> Vec<Vec<u8>> {
    items.into_iter().map(Item::to_bytes).collect()
}

fn non_empty<T>(items: Vec<T>) -> Result<Vec<T>> {
    if items.is_empty() {
        return corrupt("empty collection");
    }
    Ok(items)
}

// ---------------------------------------------------------------------------------------------
// Sets, hashes, sorted sets

fn plain_set(r: &mut Reader) -> Result<Vec<Vec<u8>>> {
    let n = r.count(1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.string()?.into_owned());
    }
    if !distinct(out.iter().map(Vec::as_slice)) {
        return corrupt("duplicate set members");
    }
    Ok(out)
}

fn plain_hash(r: &mut Reader) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    // Each pair takes at least two one-byte strings.
    let n = r.count(2)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let field = r.string()?.into_owned();
        let value = r.string()?.into_owned();
        out.push((field, value));
    }
    distinct_keys(out)
}

/// Field-value pairs from a ziplist or listpack of alternating fields and values.
fn hash_pairs(items: Vec<Item>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !items.len().is_multiple_of(2) {
        return corrupt("odd number of hash entries");
    }
    let pairs = items
        .chunks_exact(2)
        .map(|pair| (pair[0].to_bytes(), pair[1].to_bytes()))
        .collect();
    distinct_keys(non_empty(pairs)?)
}

/// Sorted set pairs, scores in binary (zset 2) or as text (zset).
fn plain_zset(r: &mut Reader, binary: bool) -> Result<Vec<(Vec<u8>, f64)>> {
    // Each pair takes at least a one-byte member and a one-byte (text) or 8-byte score.
    let n = r.count(if binary { 9 } else { 2 })?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let member = r.string()?.into_owned();
        let score = if binary {
            r.binary_double()?
        } else {
            r.text_double()?
        };
        out.push((member, score));
    }
    checked_zset(out)
}

/// Member-score pairs from a ziplist or listpack of alternating members and scores.
fn zset_pairs(items: Vec<Item>) -> Result<Vec<(Vec<u8>, f64)>> {
    if !items.len().is_multiple_of(2) {
        return corrupt("odd number of sorted set entries");
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    for pair in items.chunks_exact(2) {
        let score = match pair[1] {
            Item::Int(v) => v as f64,
            Item::Str(text) => parse_double(text).ok_or(RdbError::Corrupt("score text"))?,
        };
        out.push((pair[0].to_bytes(), score));
    }
    checked_zset(non_empty(out)?)
}

fn checked_zset(pairs: Vec<(Vec<u8>, f64)>) -> Result<Vec<(Vec<u8>, f64)>> {
    if pairs.iter().any(|(_, score)| score.is_nan()) {
        return corrupt("NaN score");
    }
    distinct_keys(pairs)
}

fn distinct<'a>(keys: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut seen = BTreeSet::new();
    keys.into_iter().all(|key| seen.insert(key))
}

fn distinct_keys<V>(pairs: Vec<(Vec<u8>, V)>) -> Result<Vec<(Vec<u8>, V)>> {
    if !distinct(pairs.iter().map(|(k, _)| k.as_slice())) {
        return corrupt("duplicate fields or members");
    }
    Ok(pairs)
}

/// The (container, LZF-compressed) form of each node of a quicklist 2 body (after its type
/// byte); for tests that check which forms their payloads cover.
#[cfg(test)]
pub fn quicklist_node_forms(body: &[u8]) -> Vec<(u64, bool)> {
    let mut r = Reader { buf: body, pos: 0 };
    let nodes = r.count(2).expect("a quicklist");
    (0..nodes)
        .map(|_| {
            let container = r.len().expect("a container");
            let compressed = r.buf[r.pos] == 0xc3;
            r.string().expect("a node");
            (container, compressed)
        })
        .collect()
}
