//! The stream type: entries ordered by ID, kept in packed nodes, plus consumer groups.
//!
//! Representation (Redis 7.0's, in our own bytes): a `BTreeMap` from each node's master ID
//! to a `Node`, a byte buffer holding up to `NODE_ENTRIES_MAX` entries. A node starts with
//! its master fields (the first entry's field names); every entry stores its ID as deltas
//! from the master ID and, when its fields are the master's, only its values. XDEL marks an
//! entry deleted in place (a tombstone, as Redis does) and frees the node when its last live
//! entry goes, so node boundaries, and with them approximate trimming (`MAXLEN ~`), match
//! Redis's exactly. Each node also tracks the size its Redis listpack would have, because
//! Redis starts a new node when that size reaches `stream-node-max-bytes`.
//!
//! ```text
//! node:  varint nfields, nfields x (varint len, bytes)         master fields
//!        entries: u8 flags (1 deleted, 2 same fields), varint ms delta, varint zigzag seq
//!                 delta, [varint nfields, fields and values | values], each (varint len, bytes)
//! ```
//!
//! Consumer groups (Redis's `streamCG`): last delivered ID, entries-read counter, the group's
//! pending entries (PEL, ordered by ID) and consumers ordered by name, each with its own PEL
//! and seen time. Times are the applying entry's `now_ms`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::snapshot::{Reader, SnapshotError};

// ---------------------------------------------------------------------------------------------
// IDs

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID (Redis's `streamIncrID`); `None` past the last possible one.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (Redis's `streamDecrID`); `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// `ms-seq`, as Redis prints an ID.
    pub fn to_bytes(self) -> bytes::Bytes {
        let (mut ms, mut seq) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (ms, seq) = (
            ms.format(self.ms).as_bytes(),
            seq.format(self.seq).as_bytes(),
        );
        let mut out = Vec::with_capacity(ms.len() + 1 + seq.len());
        out.extend_from_slice(ms);
        out.push(b'-');
        out.extend_from_slice(seq);
        bytes::Bytes::from(out)
    }

    /// The 16 big-endian bytes Redis keys its radix trees with.
    fn key_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

// ---------------------------------------------------------------------------------------------
// Packed bytes

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn get_str<'a>(buf: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let len = get_varint(buf, pos) as usize;
    let s = &buf[*pos..*pos + len];
    *pos += len;
    s
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

// ---------------------------------------------------------------------------------------------
// Redis listpack sizes (only to decide node boundaries as Redis does)

/// Bytes of a listpack integer entry (encoding + back length).
fn lp_int_bytes(v: i64) -> usize {
    let enc = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    enc + 1
}

/// Bytes of a listpack string element (stored as an integer when it reads as one).
fn lp_str_bytes(s: &[u8]) -> usize {
    if let Some(v) = crate::commands::parse_i64(s) {
        return lp_int_bytes(v);
    }
    let len = s.len();
    let enc = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    let back = match enc {
        0..=127 => 1,
        128..=16383 => 2,
        16384..=2_097_151 => 3,
        2_097_152..=268_435_455 => 4,
        _ => 5,
    };
    enc + back
}

/// Redis's defaults for `stream-node-max-bytes` and `stream-node-max-entries`.
pub const NODE_BYTES_MAX: usize = 4096;
pub const NODE_ENTRIES_MAX: usize = 100;
/// The largest listpack Redis builds (`STREAM_LISTPACK_MAX_SIZE`, 1 GiB).
const LISTPACK_BYTES_MAX: usize = 1 << 30;

/// When a node is full (Redis's `stream-node-max-bytes` and `stream-node-max-entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// 0: the listpack maximum.
    pub bytes_max: usize,
    /// 0: no limit.
    pub entries_max: usize,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            bytes_max: NODE_BYTES_MAX,
            entries_max: NODE_ENTRIES_MAX,
        }
    }
}

impl NodeLimits {
    /// The LIMIT an approximate trim gets when none is given: 100 nodes' worth, kept within
    /// 1..=1,000,000 as Redis does (10,000 when the entry limit is off).
    pub fn approx_trim_limit(&self) -> u64 {
        match (self.entries_max as u64).saturating_mul(100) {
            0 => 10_000,
            n => n.min(1_000_000),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes

const FLAG_DELETED: u8 = 1;
const FLAG_SAME_FIELDS: u8 = 2;

#[derive(Clone, Debug, PartialEq)]
struct Node {
    buf: Vec<u8>,
    /// Where the entries start (after the master fields).
    entries_at: u32,
    live: u32,
    deleted: u32,
    /// The Redis listpack's size without its two counters.
    lp_bytes: u32,
    /// The last entry's ID, deleted or not.
    last: StreamId,
}

/// One entry of a node, as decoded.
struct Raw {
    id: StreamId,
    flags_at: usize,
    deleted: bool,
    /// Where its fields (or values) start.
    body: usize,
    same: bool,
    end: usize,
}

impl Node {
    fn new(master: StreamId, pairs: &[&[u8]]) -> Node {
        let fields: Vec<&[u8]> = pairs.iter().step_by(2).copied().collect();
        Node::with_fields(master, &fields)
    }

    /// An empty node whose master fields are `fields`.
    fn with_fields(master: StreamId, fields: &[&[u8]]) -> Node {
        let n = fields.len();
        let mut buf = Vec::new();
        put_varint(&mut buf, n as u64);
        // header (6) + EOF (1) + num-fields + master fields + the zero terminator.
        let mut lp = 7 + lp_int_bytes(n as i64) + lp_int_bytes(0);
        for field in fields {
            put_str(&mut buf, field);
            lp += lp_str_bytes(field);
        }
        Node {
            entries_at: buf.len() as u32,
            buf,
            live: 0,
            deleted: 0,
            lp_bytes: lp as u32,
            last: master,
        }
    }

    fn lp_total(&self) -> usize {
        self.lp_bytes as usize + lp_int_bytes(self.live as i64) + lp_int_bytes(self.deleted as i64)
    }

    fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos);
        (0..n).map(|_| get_str(&self.buf, &mut pos)).collect()
    }

    fn same_as_master(&self, pairs: &[&[u8]]) -> bool {
        let mut pos = 0;
        let n = get_varint(&self.buf, &mut pos) as usize;
        n * 2 == pairs.len()
            && pairs
                .iter()
                .step_by(2)
                .all(|field| get_str(&self.buf, &mut pos) == *field)
    }

    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_as_master(pairs);
        let flags = if same { FLAG_SAME_FIELDS } else { 0 };
        let n = pairs.len() / 2;
        let ms_delta = id.ms.wrapping_sub(master.ms) as i64;
        let seq_delta = id.seq.wrapping_sub(master.seq) as i64;
        self.buf.push(flags);
        put_varint(&mut self.buf, ms_delta as u64);
        put_varint(&mut self.buf, zigzag(seq_delta));
        let mut lp =
            lp_int_bytes(i64::from(flags)) + lp_int_bytes(ms_delta) + lp_int_bytes(seq_delta);
        let mut parts = 3 + n;
        if same {
            for value in pairs.iter().skip(1).step_by(2) {
                put_str(&mut self.buf, value);
                lp += lp_str_bytes(value);
            }
        } else {
            put_varint(&mut self.buf, n as u64);
            lp += lp_int_bytes(n as i64);
            for part in pairs {
                put_str(&mut self.buf, part);
                lp += lp_str_bytes(part);
            }
            parts += n + 1;
        }
        lp += lp_int_bytes(parts as i64);
        self.lp_bytes += lp as u32;
        self.live += 1;
        self.last = id;
    }

    fn raw_at(&self, master: StreamId, pos: usize) -> Raw {
        let buf = &self.buf;
        let mut p = pos;
        let flags = buf[p];
        p += 1;
        let ms_delta = get_varint(buf, &mut p);
        let seq_delta = unzigzag(get_varint(buf, &mut p));
        let id = StreamId::new(
            master.ms.wrapping_add(ms_delta),
            master.seq.wrapping_add(seq_delta as u64),
        );
        let same = flags & FLAG_SAME_FIELDS != 0;
        let body = p;
        let strings = if same {
            self.master_count()
        } else {
            get_varint(buf, &mut p) as usize * 2
        };
        for _ in 0..strings {
            let len = get_varint(buf, &mut p) as usize;
            p += len;
        }
        Raw {
            id,
            flags_at: pos,
            deleted: flags & FLAG_DELETED != 0,
            body,
            same,
            end: p,
        }
    }

    fn master_count(&self) -> usize {
        let mut pos = 0;
        get_varint(&self.buf, &mut pos) as usize
    }

    /// Every entry (tombstones included) in order.
    fn raws(&self, master: StreamId) -> Vec<Raw> {
        let mut out = Vec::with_capacity((self.live + self.deleted) as usize);
        let mut pos = self.entries_at as usize;
        while pos < self.buf.len() {
            let raw = self.raw_at(master, pos);
            pos = raw.end;
            out.push(raw);
        }
        out
    }

    /// The entry's fields and values; `masters` is `master_fields()`, read once per node.
    fn pairs<'a>(&'a self, raw: &Raw, masters: &[&'a [u8]]) -> Vec<(&'a [u8], &'a [u8])> {
        let buf = &self.buf;
        let mut p = raw.body;
        if raw.same {
            masters.iter().map(|f| (*f, get_str(buf, &mut p))).collect()
        } else {
            let n = get_varint(buf, &mut p) as usize;
            (0..n)
                .map(|_| {
                    let f = get_str(buf, &mut p);
                    (f, get_str(buf, &mut p))
                })
                .collect()
        }
    }

    fn mark_deleted(&mut self, raw: &Raw) {
        self.buf[raw.flags_at] |= FLAG_DELETED;
        self.live -= 1;
        self.deleted += 1;
    }
}

/// Field/value pairs of one entry, borrowed from its node.
pub type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

/// One node as stored (`Stream::nodes`): entries are (ID, deleted, fields).
pub struct NodeView<'a> {
    pub master: StreamId,
    pub master_fields: Vec<&'a [u8]>,
    pub entries: Vec<(StreamId, bool, Fields<'a>)>,
}

// ---------------------------------------------------------------------------------------------
// Consumer groups

#[derive(Clone, Debug, PartialEq)]
pub struct Nack {
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: Box<[u8]>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// `entries_read` when unknown (Redis's `SCG_INVALID_ENTRIES_READ`).
pub const ENTRIES_READ_INVALID: i64 = -1;

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Removes `id` from the group's PEL and its consumer's.
    pub fn remove_pending(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&nack.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Deletes a consumer and its pending entries: how many it had.
    pub fn remove_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }
}

// ---------------------------------------------------------------------------------------------
// Trimming

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

// ---------------------------------------------------------------------------------------------
// The stream

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn len(&self) -> usize {
        self.length as usize
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Nodes (XINFO's `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes of Redis's radix tree holding these keys (XINFO's `radix-tree-nodes`).
    pub fn rax_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|id| id.key_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        rax_nodes(&keys, 0)
    }

    pub fn heap_bytes(&self) -> usize {
        let nodes: usize = self
            .nodes
            .values()
            .map(|n| n.buf.capacity() + std::mem::size_of::<Node>() + 16)
            .sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(name, g)| {
                name.len()
                    + 64
                    + g.pel.len() * 64
                    + g.consumers
                        .iter()
                        .map(|(n, c)| n.len() + 48 + c.pel.len() * 16)
                        .sum::<usize>()
            })
            .sum();
        nodes + groups
    }

    /// MEMORY USAGE's estimate as Redis computes it (`objectComputeSize`), without the object
    /// header: the stream struct, its radix tree, the listpacks (the first `samples` averaged,
    /// plus the last one as allocated) and the groups' PELs.
    pub fn redis_bytes(&self, samples: usize) -> usize {
        // sizeof(stream), sizeof(rax), sizeof(raxNode) header, per-node child pointers.
        const STREAM: usize = 88;
        let rax = |elements: usize, nodes: usize| 24 + elements * 16 + nodes * 4 + nodes * 8 * 30;
        let mut total = STREAM + rax(self.nodes.len(), self.rax_nodes());
        let sizes: Vec<usize> = self
            .nodes
            .values()
            .map(|n| {
                n.lp_total()
                    .max(NODE_BYTES_MAX.min(n.lp_total().next_power_of_two()))
            })
            .collect();
        let samples = samples.max(1);
        if sizes.len() <= samples {
            total += sizes.iter().sum::<usize>();
        } else {
            let avg = sizes[..samples].iter().sum::<usize>() / samples;
            total += avg * (sizes.len() - 1) + sizes[sizes.len() - 1];
        }
        for g in self.groups.values() {
            total += 64 + rax(g.pel.len(), g.pel.len() + 1) + 24 * g.pel.len();
            for (name, c) in &g.consumers {
                total += 32 + name.len() + rax(c.pel.len(), c.pel.len() + 1);
            }
        }
        total
    }

    /// The ID XADD `*` gives at `now_ms` (Redis's `streamNextID`); `None` once exhausted.
    pub fn next_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Appends an entry whose ID is above `last_id`: `pairs` is field, value, field, value…
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        debug_assert!(id > self.last_id);
        let total: usize = pairs.iter().map(|p| p.len()).sum();
        let bytes_max = match limits.bytes_max {
            0 => LISTPACK_BYTES_MAX,
            n => n.min(LISTPACK_BYTES_MAX),
        };
        let full = match self.nodes.last_key_value() {
            None => true,
            Some((_, node)) => {
                node.lp_total() + total >= bytes_max
                    || (limits.entries_max != 0
                        && (node.live + node.deleted) as usize >= limits.entries_max)
            }
        };
        if full {
            if let Some((_, node)) = self.nodes.iter_mut().next_back() {
                node.buf.shrink_to_fit();
            }
            self.nodes.insert(id, Node::new(id, pairs));
        }
        let (master, node) = self
            .nodes
            .iter_mut()
            .next_back()
            .expect("a node to append to");
        node.push(*master, id, pairs);
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Calls `f` with each live entry in `start..=end` (in reverse order when `rev`) until it
    /// answers false.
    pub fn scan<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, Fields<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if rev {
            for (master, node) in self.nodes.range(..=end).rev() {
                let masters = node.master_fields();
                for raw in node.raws(*master).iter().rev() {
                    if raw.deleted || raw.id > end {
                        continue;
                    }
                    if raw.id < start {
                        return;
                    }
                    if !f(raw.id, node.pairs(raw, &masters)) {
                        return;
                    }
                }
                if *master <= start {
                    return;
                }
            }
        } else {
            let from = self
                .nodes
                .range(..=start)
                .next_back()
                .map_or(start, |(k, _)| *k);
            for (master, node) in self.nodes.range(from..=end) {
                if node.last < start {
                    continue;
                }
                let masters = node.master_fields();
                let mut pos = node.entries_at as usize;
                while pos < node.buf.len() {
                    let raw = node.raw_at(*master, pos);
                    pos = raw.end;
                    if raw.deleted || raw.id < start {
                        continue;
                    }
                    if raw.id > end {
                        return;
                    }
                    if !f(raw.id, node.pairs(&raw, &masters)) {
                        return;
                    }
                }
            }
        }
    }

    /// The live entries in `start..=end`, at most `count` (0: all).
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<(StreamId, Fields<'_>)> {
        let mut out = Vec::new();
        self.scan(start, end, rev, |id, fields| {
            out.push((id, fields));
            count == 0 || out.len() < count
        });
        out
    }

    pub fn get(&self, id: StreamId) -> Option<Fields<'_>> {
        let mut found = None;
        self.scan(id, id, false, |_, fields| {
            found = Some(fields);
            false
        });
        found
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The first (or last) live ID; `None` when the stream is empty.
    pub fn edge_id(&self, first: bool) -> Option<StreamId> {
        let mut found = None;
        self.scan(StreamId::MIN, StreamId::MAX, !first, |id, _| {
            found = Some(id);
            false
        });
        found
    }

    /// Removes one entry (XDEL): whether it was there. Keeps `first_id` and
    /// `max_deleted_id` as XDEL does.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(raw) = node
            .raws(master)
            .into_iter()
            .find(|r| r.id == id && !r.deleted)
        else {
            return false;
        };
        if node.live == 1 {
            self.nodes.remove(&master);
        } else {
            node.mark_deleted(&raw);
        }
        self.length -= 1;
        if id > self.max_deleted_id {
            self.max_deleted_id = id;
        }
        true
    }

    /// Recomputes `first_id` after entries were removed (XDEL, XTRIM).
    pub fn refresh_first_id(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.edge_id(true).unwrap_or(StreamId::MAX)
        };
    }

    /// Redis's `streamTrim`: removes entries from the head; `approx` removes whole nodes only;
    /// `limit` (0: none) caps the entries removed. The number removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        while let Some((&master, node)) = self.nodes.iter_mut().next() {
            if let Trim::MaxLen(maxlen) = trim
                && self.length <= maxlen
            {
                break;
            }
            let entries = u64::from(node.live);
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match trim {
                Trim::MaxLen(maxlen) => self.length - entries >= maxlen,
                Trim::MinId(min) => node.last < min,
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            for raw in node.raws(master) {
                let stop = match trim {
                    Trim::MaxLen(maxlen) => self.length <= maxlen,
                    Trim::MinId(min) => raw.id >= min,
                };
                if stop {
                    break;
                }
                if !raw.deleted {
                    node.mark_deleted(&raw);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.edge_id(true).unwrap_or(StreamId::MAX);
        }
        deleted
    }

    // -----------------------------------------------------------------------------------------
    // Lag and read counters (Redis 7.0's)

    /// Whether `start..` (or `start..=end`) may hold a deleted entry.
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// `streamEstimateDistanceFromFirstEverEntry`: the entries-read counter of `id`, or
    /// `ENTRIES_READ_INVALID` when it can't be known.
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.length == 0 && id <= self.last_id {
            return added;
        }
        if id == self.last_id {
            return added;
        } else if id > self.last_id {
            return ENTRIES_READ_INVALID;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return added - self.length as i64;
            } else if id == self.first_id {
                return added - self.length as i64 + 1;
            }
        }
        ENTRIES_READ_INVALID
    }

    /// A group's lag (`None`: unknown).
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != ENTRIES_READ_INVALID
            && !self.range_has_tombstones(group.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        let read = self.estimate_distance(group.last_id);
        (read != ENTRIES_READ_INVALID).then(|| self.entries_added as i64 - read)
    }

    /// Moves a group's last ID to `id`, delivered by XREADGROUP, counting it as read.
    pub fn advance_group(&mut self, name: &[u8], id: StreamId) {
        let has_tombstones = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = self.estimate_distance(id);
        let added = self.entries_added;
        let Some(group) = self.groups.get_mut(name) else {
            return;
        };
        if id <= group.last_id {
            return;
        }
        if group.entries_read != ENTRIES_READ_INVALID && !has_tombstones {
            group.entries_read += 1;
        } else if added != 0 {
            group.entries_read = estimate;
        }
        group.last_id = id;
    }

    // -----------------------------------------------------------------------------------------
    // Nodes as DUMP writes them and RESTORE reads them

    /// Every node in ID order: its key (the ID its entries are deltas from), its master
    /// fields, and every entry with whether it is deleted.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'_>> {
        self.nodes.iter().map(|(master, node)| {
            let master_fields = node.master_fields();
            let entries = node
                .raws(*master)
                .iter()
                .map(|raw| (raw.id, raw.deleted, node.pairs(raw, &master_fields)))
                .collect();
            NodeView {
                master: *master,
                master_fields,
                entries,
            }
        })
    }

    /// Appends a node as DUMP carried it (RESTORE), tombstones included. The caller keeps
    /// the invariants (`rdb` checks them): keys and IDs increasing, a live entry in the node,
    /// and sets `last_id`, `first_id`, `max_deleted_id` and `entries_added` afterwards.
    pub fn push_node(
        &mut self,
        master: StreamId,
        master_fields: &[&[u8]],
        entries: &[(StreamId, bool, Vec<&[u8]>)],
    ) {
        let mut node = Node::with_fields(master, master_fields);
        for (id, deleted, pairs) in entries {
            let at = node.buf.len();
            node.push(master, *id, pairs);
            if *deleted {
                node.buf[at] |= FLAG_DELETED;
                node.live -= 1;
                node.deleted += 1;
            }
        }
        self.length += u64::from(node.live);
        self.nodes.insert(master, node);
    }

    // -----------------------------------------------------------------------------------------
    // Snapshot form

    /// ```text
    /// u64 length, entries_added, 3 x (u64 ms, u64 seq): last, first, max deleted
    /// u32 nodes, per node: u64 ms, u64 seq (master), u32 live, u32 deleted, u32 lp_bytes,
    ///     u32 entries_at, u64 ms, u64 seq (last), u32 len, bytes
    /// u32 groups, per group: u32 len, name, u64 ms, u64 seq, i64 entries_read,
    ///     u32 consumers, per consumer: u32 len, name, u64 seen_time
    ///     u64 pending, per entry: u64 ms, u64 seq, u64 delivery_time, u64 delivery_count,
    ///     u32 len, consumer name
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put64 = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes());
        let put32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        let put_id = |out: &mut Vec<u8>, id: StreamId| {
            out.extend_from_slice(&id.ms.to_le_bytes());
            out.extend_from_slice(&id.seq.to_le_bytes());
        };
        let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        put64(out, self.length);
        put64(out, self.entries_added);
        for id in [self.last_id, self.first_id, self.max_deleted_id] {
            put_id(out, id);
        }
        put32(out, self.nodes.len() as u32);
        for (master, node) in &self.nodes {
            put_id(out, *master);
            for v in [node.live, node.deleted, node.lp_bytes, node.entries_at] {
                put32(out, v);
            }
            put_id(out, node.last);
            put_bytes(out, &node.buf);
        }
        put32(out, self.groups.len() as u32);
        for (name, g) in &self.groups {
            put_bytes(out, name);
            put_id(out, g.last_id);
            put64(out, g.entries_read as u64);
            put32(out, g.consumers.len() as u32);
            for (cname, c) in &g.consumers {
                put_bytes(out, cname);
                put64(out, c.seen_time);
            }
            put64(out, g.pel.len() as u64);
            for (id, nack) in &g.pel {
                put_id(out, *id);
                put64(out, nack.delivery_time);
                put64(out, nack.delivery_count);
                put_bytes(out, &nack.consumer);
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Stream, SnapshotError> {
        fn id(r: &mut Reader) -> Result<StreamId, SnapshotError> {
            Ok(StreamId::new(r.u64()?, r.u64()?))
        }
        let mut s = Stream {
            length: r.u64()?,
            entries_added: r.u64()?,
            last_id: id(r)?,
            first_id: id(r)?,
            max_deleted_id: id(r)?,
            ..Stream::default()
        };
        for _ in 0..r.u32()? {
            let master = id(r)?;
            let (live, deleted, lp_bytes, entries_at) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
            let last = id(r)?;
            let buf = r.bytes()?.to_vec();
            // A node may hold no live entry: trimming by ID marks entries deleted without
            // removing their node, as Redis's streamTrim does.
            if entries_at as usize > buf.len() {
                return Err(SnapshotError::Invalid("stream node"));
            }
            let node = Node {
                buf,
                entries_at,
                live,
                deleted,
                lp_bytes,
                last,
            };
            s.nodes.insert(master, node);
        }
        let live: u64 = s.nodes.values().map(|n| u64::from(n.live)).sum();
        if live != s.length {
            return Err(SnapshotError::Invalid("stream length"));
        }
        for _ in 0..r.u32()? {
            let name: Box<[u8]> = r.bytes()?.into();
            let mut g = Group::new(id(r)?, r.u64()? as i64);
            for _ in 0..r.u32()? {
                let cname: Box<[u8]> = r.bytes()?.into();
                let consumer = Consumer {
                    seen_time: r.u64()?,
                    pel: BTreeSet::new(),
                };
                g.consumers.insert(cname, consumer);
            }
            for _ in 0..r.u64()? {
                let pid = id(r)?;
                let (delivery_time, delivery_count) = (r.u64()?, r.u64()?);
                let consumer: Box<[u8]> = r.bytes()?.into();
                let Some(c) = g.consumers.get_mut(&consumer) else {
                    return Err(SnapshotError::Invalid("stream pending entry"));
                };
                c.pel.insert(pid);
                g.pel.insert(
                    pid,
                    Nack {
                        delivery_time,
                        delivery_count,
                        consumer,
                    },
                );
            }
            s.groups.insert(name, g);
        }
        Ok(s)
    }
}

/// Nodes of a Redis radix tree holding `keys` (sorted, distinct, same length) below a
/// vertex at `depth` that starts a node: a compressed run of shared bytes, then either the
/// key's leaf or a branching node whose every child starts a node.
fn rax_nodes(keys: &[[u8; 16]], depth: usize) -> usize {
    let (first, last) = (&keys[0], &keys[keys.len() - 1]);
    let mut d = depth;
    while d < 16 && first[d] == last[d] {
        d += 1;
    }
    let run = usize::from(d > depth);
    if d == 16 {
        return run + 1;
    }
    let mut total = run + 1;
    let mut i = 0;
    while i < keys.len() {
        let byte = keys[i][d];
        let j = i + keys[i..].iter().take_while(|k| k[d] == byte).count();
        total += rax_nodes(&keys[i..j], d + 1);
        i = j;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut Stream, ms: u64, pairs: &[&str]) -> StreamId {
        let id = s.next_id(ms).unwrap();
        let pairs: Vec<&[u8]> = pairs.iter().map(|p| p.as_bytes()).collect();
        s.append(id, &pairs, NodeLimits::default());
        id
    }

    #[test]
    fn entries_come_back_in_order_with_their_fields() {
        let mut s = Stream::new();
        for i in 0..250u64 {
            let v = i.to_string();
            if i % 3 == 0 {
                add(&mut s, 1000 + i / 2, &["a", &v, "b", "x"]);
            } else {
                add(&mut s, 1000 + i / 2, &["other", &v]);
            }
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.node_count(), 3);
        let all = s.range(StreamId::MIN, StreamId::MAX, false, 0);
        assert_eq!(all.len(), 250);
        assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            all[3].1,
            vec![(&b"a"[..], &b"3"[..]), (&b"b"[..], &b"x"[..])]
        );
        let rev = s.range(StreamId::MIN, StreamId::MAX, true, 10);
        assert_eq!(rev[0].0, s.last_id);
        assert_eq!(rev.len(), 10);
        let mid = StreamId::new(1050, 0);
        let from_mid = s.range(mid, StreamId::MAX, false, 1);
        assert_eq!(from_mid[0].0, mid);
    }

    #[test]
    fn deletes_leave_tombstones_and_free_empty_nodes() {
        let mut s = Stream::new();
        let ids: Vec<StreamId> = (0..150)
            .map(|i| add(&mut s, 5, &["f", &i.to_string()]))
            .collect();
        assert!(s.delete(ids[1]));
        assert!(!s.delete(ids[1]));
        assert_eq!(s.len(), 149);
        assert_eq!(s.max_deleted_id, ids[1]);
        for id in &ids[100..] {
            assert!(s.delete(*id));
        }
        assert_eq!(s.node_count(), 1);
        assert_eq!(s.edge_id(false), Some(ids[99]));
        let back = Stream::decode(&mut Reader::new(&{
            let mut out = Vec::new();
            s.encode(&mut out);
            out
        }))
        .unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn trimming_by_length_and_id() {
        let mut s = Stream::new();
        let ids: Vec<StreamId> = (0..300).map(|i| add(&mut s, i, &["f", "v"])).collect();
        assert_eq!(
            s.trim(Trim::MaxLen(250), true, 0),
            0,
            "no whole node to free"
        );
        assert_eq!(s.trim(Trim::MaxLen(199), true, 0), 100);
        assert_eq!(s.trim(Trim::MaxLen(150), false, 0), 50);
        assert_eq!(s.first_id, ids[150]);
        assert_eq!(s.trim(Trim::MinId(ids[160]), false, 0), 10);
        assert_eq!(s.first_id, ids[160]);
        assert_eq!(s.trim(Trim::MaxLen(0), false, 0), 140);
        assert!(s.is_empty());
        assert_eq!(s.first_id, StreamId::MIN);
    }

    #[test]
    fn radix_nodes_count_like_redis() {
        let mut s = Stream::new();
        assert_eq!(s.rax_nodes(), 1);
        add(&mut s, 1, &["a", "b"]);
        assert_eq!(s.rax_nodes(), 2);
    }
}
