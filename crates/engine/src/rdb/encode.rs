//! Writing: an `RdbValue` as its object type byte and RDB form, choosing the encodings Redis
//! 7.0 would hold the value in (`rdbSaveObjectType`, `rdbSaveObject`).

use std::collections::BTreeSet;

use super::num::{canonical_i64, double_to_i64, score_text};
use super::{DumpOptions, RdbValue, intset, kind, listpack, lzf};

pub fn value(out: &mut Vec<u8>, value: &RdbValue, options: &DumpOptions) {
    match value {
        RdbValue::Str(s) => {
            out.push(kind::STRING);
            put_string(out, s, options.rdb_compression);
        }
        RdbValue::List(elements) => list(out, elements, options),
        RdbValue::Set(members) => set(out, members, options),
        RdbValue::Hash(pairs) => hash(out, pairs, options),
        RdbValue::ZSet(pairs) => zset(out, pairs, options),
        RdbValue::Stream(stream) => super::stream::encode(out, stream, options),
    }
}

// ---------------------------------------------------------------------------------------------
// Lengths and strings

/// A length: 6 bits in one byte, 14 bits in two, else a marker byte and 4 or 8 bytes
/// big-endian (Redis's `rdbSaveLen`).
pub fn put_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// A string as Redis's `rdbSaveRawString` writes it: an integer of up to 11 characters that
/// fits 32 bits in an integer encoding; over 20 bytes LZF when that saves at least 4 bytes
/// (and `compress`); otherwise length and bytes.
pub fn put_string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    // 11 characters hold "-2147483648".
    if s.len() <= 11
        && let Some(v) = canonical_i64(s)
        && put_int_encoding(out, v)
    {
        return;
    }
    // Under 21 bytes not even a run of one byte compresses by the 4 bytes required.
    if compress
        && s.len() > 20
        && let Some(packed) = lzf::compress(s, s.len() - 4)
    {
        put_lzf(out, &packed, s.len());
        return;
    }
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The 8, 16 or 32-bit integer encoding of `v` (a 0b11 marker byte, then little-endian);
/// false if `v` needs more than 32 bits.
fn put_int_encoding(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(v) = i8::try_from(v) {
        out.push(0xc0);
        out.push(v as u8);
    } else if let Ok(v) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// An LZF-compressed string: marker byte, compressed length, original length, data.
fn put_lzf(out: &mut Vec<u8>, packed: &[u8], original_len: usize) {
    out.push(0xc3);
    put_len(out, packed.len() as u64);
    put_len(out, original_len as u64);
    out.extend_from_slice(packed);
}

// ---------------------------------------------------------------------------------------------
// Lists: quicklist 2

/// Elements this large get a node of their own, stored as they are (Redis's
/// `packed_threshold`, 1 GiB).
const PLAIN_ELEMENT_MIN: usize = 1 << 30;
/// Node size limits for `list-max-listpack-size` -1 to -5 (Redis's `optimization_level`).
const NODE_BYTES_MAX: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// The node size limit that also applies to count-limited nodes (`SIZE_SAFETY_LIMIT`).
const NODE_BYTES_SAFETY: usize = 8192;
/// Redis's estimate of an element's overhead in a listpack when deciding whether it fits.
const ELEMENT_OVERHEAD: usize = 8;
/// The largest count limit Redis accepts (`FILL_MAX`).
const FILL_MAX: i64 = (1 << 15) - 1;
/// Quicklist compression leaves nodes under 48 bytes alone, and keeps a compressed node
/// only if it saves more than 8 bytes (`MIN_COMPRESS_BYTES`, `MIN_COMPRESS_IMPROVE`).
const COMPRESS_NODE_MIN: usize = 48;
const COMPRESS_GAIN_MIN: usize = 8;

enum Node<'a> {
    Packed(Vec<u8>),
    Plain(&'a [u8]),
}

fn list(out: &mut Vec<u8>, elements: &[Vec<u8>], options: &DumpOptions) {
    out.push(kind::LIST_QUICKLIST_2);
    let nodes = quicklist_nodes(elements, options.list_max_listpack_size);
    put_len(out, nodes.len() as u64);
    let depth = options.list_compress_depth;
    for (i, node) in nodes.iter().enumerate() {
        match node {
            Node::Plain(element) => {
                put_len(out, kind::NODE_PLAIN);
                put_string(out, element, options.rdb_compression);
            }
            Node::Packed(lp) => {
                put_len(out, kind::NODE_PACKED);
                // Nodes more than `depth` from both ends are kept compressed in memory and
                // written as they are.
                let inner = depth > 0 && i >= depth && i + depth < nodes.len();
                if inner
                    && lp.len() >= COMPRESS_NODE_MIN
                    && let Some(packed) = lzf::compress(lp, lp.len())
                    && packed.len() + COMPRESS_GAIN_MIN < lp.len()
                {
                    put_lzf(out, &packed, lp.len());
                } else {
                    put_string(out, lp, options.rdb_compression);
                }
            }
        }
    }
}

/// The nodes Redis builds by pushing `elements` one by one at the tail
/// (`_quicklistNodeAllowInsert`).
fn quicklist_nodes(elements: &[Vec<u8>], fill: i64) -> Vec<Node<'_>> {
    let fill = fill.clamp(-(NODE_BYTES_MAX.len() as i64), FILL_MAX);
    let fits = |node: &listpack::Writer, element_len: usize| {
        let new_bytes = node.bytes() + element_len + ELEMENT_OVERHEAD;
        if fill < 0 {
            new_bytes <= NODE_BYTES_MAX[(-fill - 1) as usize]
        } else {
            new_bytes <= NODE_BYTES_SAFETY && (node.len() as i64) < fill
        }
    };
    let mut nodes = Vec::new();
    let mut current: Option<listpack::Writer> = None;
    for element in elements {
        let large = element.len() >= PLAIN_ELEMENT_MIN;
        if let Some(node) = current.take_if(|node| large || !fits(node, element.len())) {
            nodes.push(Node::Packed(node.finish()));
        }
        if large {
            nodes.push(Node::Plain(element));
        } else {
            current
                .get_or_insert_with(listpack::Writer::new)
                .push(element);
        }
    }
    nodes.extend(current.map(|node| Node::Packed(node.finish())));
    nodes
}

// ---------------------------------------------------------------------------------------------
// Sets, hashes, sorted sets

/// The listpack size Redis refuses to grow past (`LISTPACK_MAX_SAFETY_SIZE`, 1 GiB).
const LISTPACK_BYTES_MAX: usize = 1 << 30;

/// Positions of the first occurrence of each distinct key, in order.
fn first_occurrences<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Vec<usize> {
    let mut seen = BTreeSet::new();
    keys.enumerate()
        .filter_map(|(i, key)| seen.insert(key).then_some(i))
        .collect()
}

fn set(out: &mut Vec<u8>, members: &[Vec<u8>], options: &DumpOptions) {
    let keep = first_occurrences(members.iter().map(Vec::as_slice));
    let members: Vec<&[u8]> = keep.iter().map(|&i| members[i].as_slice()).collect();
    if members.len() <= options.set_max_intset_entries {
        let ints: Option<Vec<i64>> = members.iter().map(|m| canonical_i64(m)).collect();
        if let Some(mut ints) = ints {
            ints.sort_unstable();
            out.push(kind::SET_INTSET);
            put_string(out, &intset::encode(&ints), options.rdb_compression);
            return;
        }
    }
    out.push(kind::SET);
    put_len(out, members.len() as u64);
    for member in members {
        put_string(out, member, options.rdb_compression);
    }
}

fn hash(out: &mut Vec<u8>, pairs: &[(Vec<u8>, Vec<u8>)], options: &DumpOptions) {
    let keep = first_occurrences(pairs.iter().map(|(f, _)| f.as_slice()));
    let pairs: Vec<(&[u8], &[u8])> = keep
        .iter()
        .map(|&i| (pairs[i].0.as_slice(), pairs[i].1.as_slice()))
        .collect();
    let value_max = options.hash_max_listpack_value;
    let compact = pairs.len() <= options.hash_max_listpack_entries
        && pairs
            .iter()
            .all(|(f, v)| f.len() <= value_max && v.len() <= value_max)
        && pairs.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>() < LISTPACK_BYTES_MAX;
    if compact {
        let mut lp = listpack::Writer::new();
        for (field, value) in &pairs {
            lp.push(field);
            lp.push(value);
        }
        out.push(kind::HASH_LISTPACK);
        put_string(out, &lp.finish(), options.rdb_compression);
    } else {
        out.push(kind::HASH);
        put_len(out, pairs.len() as u64);
        for (field, value) in pairs {
            put_string(out, field, options.rdb_compression);
            put_string(out, value, options.rdb_compression);
        }
    }
}

fn zset(out: &mut Vec<u8>, pairs: &[(Vec<u8>, f64)], options: &DumpOptions) {
    let keep = first_occurrences(pairs.iter().map(|(m, _)| m.as_slice()));
    let mut pairs: Vec<(&[u8], f64)> = keep
        .iter()
        .map(|&i| (pairs[i].0.as_slice(), pairs[i].1))
        .collect();
    // Redis's order: by score, then by member bytes. -0 and 0 are the same score; total_cmp
    // keeps the sort total even if a NaN slipped in.
    let key = |score: f64| if score == 0.0 { 0.0 } else { score };
    pairs.sort_by(|a, b| key(a.1).total_cmp(&key(b.1)).then_with(|| a.0.cmp(b.0)));
    let compact = pairs.len() <= options.zset_max_listpack_entries
        && pairs
            .iter()
            .all(|(m, _)| m.len() <= options.zset_max_listpack_value)
        && pairs.iter().map(|(m, _)| m.len() + 24).sum::<usize>() < LISTPACK_BYTES_MAX;
    if compact {
        let mut lp = listpack::Writer::new();
        for &(member, score) in &pairs {
            lp.push(member);
            // Scores that are integers go in as integers, others as their %.17g text.
            match double_to_i64(score) {
                Some(int) => lp.push_int(int),
                None => lp.push(score_text(score).as_bytes()),
            }
        }
        out.push(kind::ZSET_LISTPACK);
        put_string(out, &lp.finish(), options.rdb_compression);
    } else {
        // Highest first, as Redis walks its skiplist from the tail: loading then inserts
        // each element at the head.
        out.push(kind::ZSET_2);
        put_len(out, pairs.len() as u64);
        for &(member, score) in pairs.iter().rev() {
            put_string(out, member, options.rdb_compression);
            out.extend_from_slice(&score.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_smallest_form() {
        let enc = |n: u64| {
            let mut out = Vec::new();
            put_len(&mut out, n);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(63), [0x3f]);
        assert_eq!(enc(64), [0x40, 0x40]);
        assert_eq!(enc(16383), [0x7f, 0xff]);
        assert_eq!(enc(16384), [0x80, 0, 0, 0x40, 0]);
        assert_eq!(enc(u32::MAX as u64), [0x80, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(enc(1 << 32), [0x81, 0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn strings_pick_redis_encodings() {
        let enc = |s: &[u8]| {
            let mut out = Vec::new();
            put_string(&mut out, s, true);
            out
        };
        assert_eq!(enc(b"0"), [0xc0, 0]);
        assert_eq!(enc(b"-128"), [0xc0, 0x80]);
        assert_eq!(enc(b"128"), [0xc1, 0x80, 0]);
        assert_eq!(enc(b"-32769"), [0xc2, 0xff, 0x7f, 0xff, 0xff]);
        assert_eq!(enc(b"2147483647"), [0xc2, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(enc(b"2147483648"), b"\x0a2147483648");
        assert_eq!(enc(b"-0"), b"\x02-0");
        assert_eq!(enc(b"01"), b"\x0201");
        assert_eq!(enc(b""), [0]);
        assert_eq!(enc(&[b'a'; 20]), [&[20u8][..], &[b'a'; 20]].concat());
        assert_eq!(enc(&[b'a'; 21])[0], 0xc3);
    }

    #[test]
    fn quicklist_nodes_follow_the_fill_rule() {
        let elements: Vec<Vec<u8>> = (0..10).map(|i| format!("e{i}").into_bytes()).collect();
        let counts = |fill| {
            quicklist_nodes(&elements, fill)
                .iter()
                .map(|n| match n {
                    Node::Packed(lp) => listpack::items(lp).unwrap().len(),
                    Node::Plain(_) => 0,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(4), [4, 4, 2]);
        assert_eq!(counts(0), [1; 10]);
        assert_eq!(counts(-2), [10]);
        // 1000-byte elements: a 4 KiB node takes 4 of them, an 8 KiB node 8.
        let big: Vec<Vec<u8>> = (0..10).map(|_| vec![b'x'; 1000]).collect();
        assert_eq!(quicklist_nodes(&big, -1).len(), 3);
        assert_eq!(quicklist_nodes(&big, -2).len(), 2);
        assert_eq!(quicklist_nodes(&big, -9).len(), 1, "clamped to -5 (64 KiB)");
    }
}
