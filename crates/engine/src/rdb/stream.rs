//! Streams in RDB form (Redis 7.0's `rdbSaveObject`/`rdbLoadObject` for `OBJ_STREAM`):
//!
//! ```text
//! len nodes, per node: string master ID (16 bytes, big-endian ms then seq)
//!                      string listpack (the node as Redis keeps it, below)
//! len length, len last ms, len last seq
//! (type 19 only) len first ms, len first seq, len max-deleted ms, len max-deleted seq,
//!                len entries added
//! len groups, per group: string name, len last ms, len last seq,
//!     (type 19 only) len entries read (two's complement: -1 is 2^64-1)
//!     len pending, per entry: 16-byte ID, u64 LE delivery time, len delivery count
//!     len consumers, per consumer: string name, u64 LE seen time,
//!         len pending, per entry: 16-byte ID (in the group's list)
//! ```
//!
//! A node's listpack (t_stream.c): the master entry `count, deleted, n, field 1..n, 0`, then
//! per entry (deleted ones too) `flags, ms - master ms, seq - master seq`, then either
//! `n, field 1, value 1, …` or, when its fields are the master's (flag 2), `value 1..n`, and
//! last the number of elements the entry took. Flag 1 marks a deleted entry. Field names and
//! values are stored as `lpAppend` stores strings (integers when they spell one).
//!
//! Reading checks what Redis's deep sanitization checks and, since Cairn's stream relies on
//! them, the invariants Redis itself keeps: IDs strictly increasing across nodes, each node
//! keyed at or below its first entry and holding a live entry, the length equal to the live
//! entries, the last ID at or above every entry, unique names, every pending entry owned by
//! exactly one consumer.

use std::collections::{BTreeMap, BTreeSet};

use super::decode::Reader;
use super::encode::{put_len, put_string};
use super::listpack::{self, Item};
use super::num::canonical_i64;
use super::{DumpOptions, RdbError, kind};

type Result<T> = std::result::Result<T, RdbError>;

fn corrupt<T>(why: &'static str) -> Result<T> {
    Err(RdbError::Corrupt(why))
}

/// A stream ID: (milliseconds, sequence).
pub type RdbStreamId = (u64, u64);

/// A stream as DUMP and RESTORE carry it: its nodes as Redis splits them, tombstones included.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStream {
    pub nodes: Vec<RdbStreamNode>,
    /// Live entries.
    pub length: u64,
    pub last_id: RdbStreamId,
    /// Redis 7.0's counters; `None` from an older payload (type 15), which has none.
    pub meta: Option<RdbStreamMeta>,
    /// In name order.
    pub groups: Vec<RdbStreamGroup>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RdbStreamMeta {
    pub first_id: RdbStreamId,
    pub max_deleted_id: RdbStreamId,
    pub entries_added: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStreamNode {
    /// The node's key, which its entries' IDs are deltas from.
    pub master_id: RdbStreamId,
    /// The field names of the node's first entry.
    pub master_fields: Vec<Vec<u8>>,
    pub entries: Vec<RdbStreamEntry>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStreamEntry {
    pub id: RdbStreamId,
    pub deleted: bool,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStreamGroup {
    pub name: Vec<u8>,
    pub last_id: RdbStreamId,
    /// `None` from an older payload (type 15); -1 when unknown.
    pub entries_read: Option<i64>,
    /// In ID order.
    pub pending: Vec<RdbStreamNack>,
    /// In name order.
    pub consumers: Vec<RdbStreamConsumer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RdbStreamNack {
    pub id: RdbStreamId,
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RdbStreamConsumer {
    pub name: Vec<u8>,
    pub seen_time_ms: u64,
    /// In ID order; each is in the group's pending list.
    pub pending: Vec<RdbStreamId>,
}

/// The 16 bytes Redis keys nodes and pending lists with.
fn id_bytes((ms, seq): RdbStreamId) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&ms.to_be_bytes());
    out[8..].copy_from_slice(&seq.to_be_bytes());
    out
}

fn id_from_bytes(bytes: &[u8]) -> RdbStreamId {
    let ms = u64::from_be_bytes(bytes[..8].try_into().expect("16 bytes"));
    let seq = u64::from_be_bytes(bytes[8..16].try_into().expect("16 bytes"));
    (ms, seq)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Type 19: the form Redis 7.0 writes. A stream without counters (`meta: None`) is written
/// with those an older stream loads with.
pub fn encode(out: &mut Vec<u8>, s: &RdbStream, options: &DumpOptions) {
    let compress = options.rdb_compression;
    out.push(kind::STREAM_LISTPACKS_2);
    put_len(out, s.nodes.len() as u64);
    for node in &s.nodes {
        put_string(out, &id_bytes(node.master_id), compress);
        put_string(out, &node_listpack(node), compress);
    }
    put_len(out, s.length);
    put_len(out, s.last_id.0);
    put_len(out, s.last_id.1);
    let meta = s.meta.unwrap_or(RdbStreamMeta {
        first_id: s
            .nodes
            .iter()
            .flat_map(|n| &n.entries)
            .find(|e| !e.deleted)
            .map_or((0, 0), |e| e.id),
        max_deleted_id: (0, 0),
        entries_added: s.length,
    });
    for v in [
        meta.first_id.0,
        meta.first_id.1,
        meta.max_deleted_id.0,
        meta.max_deleted_id.1,
        meta.entries_added,
    ] {
        put_len(out, v);
    }
    put_len(out, s.groups.len() as u64);
    for g in &s.groups {
        put_string(out, &g.name, compress);
        put_len(out, g.last_id.0);
        put_len(out, g.last_id.1);
        put_len(out, g.entries_read.unwrap_or(-1) as u64);
        put_len(out, g.pending.len() as u64);
        for nack in &g.pending {
            out.extend_from_slice(&id_bytes(nack.id));
            out.extend_from_slice(&nack.delivery_time_ms.to_le_bytes());
            put_len(out, nack.delivery_count);
        }
        put_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            put_string(out, &c.name, compress);
            out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            put_len(out, c.pending.len() as u64);
            for id in &c.pending {
                out.extend_from_slice(&id_bytes(*id));
            }
        }
    }
}

/// A node as the listpack Redis keeps it (`streamAppendItem`, XDEL's flag and counters).
fn node_listpack(node: &RdbStreamNode) -> Vec<u8> {
    let mut w = listpack::Writer::new();
    let live = node.entries.iter().filter(|e| !e.deleted).count();
    w.push_int(live as i64);
    w.push_int((node.entries.len() - live) as i64);
    w.push_int(node.master_fields.len() as i64);
    for field in &node.master_fields {
        w.push(field);
    }
    w.push_int(0);
    let (master_ms, master_seq) = node.master_id;
    for e in &node.entries {
        let same = e.fields.len() == node.master_fields.len()
            && e.fields
                .iter()
                .zip(&node.master_fields)
                .all(|((f, _), m)| f == m);
        let flags = i64::from(e.deleted) | if same { 2 } else { 0 };
        w.push_int(flags);
        w.push_int(e.id.0.wrapping_sub(master_ms) as i64);
        w.push_int(e.id.1.wrapping_sub(master_seq) as i64);
        let n = e.fields.len() as i64;
        if same {
            for (_, value) in &e.fields {
                w.push(value);
            }
            w.push_int(3 + n);
        } else {
            w.push_int(n);
            for (field, value) in &e.fields {
                w.push(field);
                w.push(value);
            }
            w.push_int(4 + 2 * n);
        }
    }
    w.finish()
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A stream of type 15 (`v2` false: before Redis 7.0) or 19, after its type byte.
pub fn decode(r: &mut Reader, v2: bool) -> Result<RdbStream> {
    // Each node takes at least a 16-byte key and a one-byte string.
    let nodes = r.count_or_zero(17)?;
    let mut s = RdbStream::default();
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return corrupt("stream node key is not an ID");
        }
        let master_id = id_from_bytes(&key);
        let lp = r.string()?;
        s.nodes.push(node(master_id, &listpack::items(&lp)?)?);
    }
    s.length = r.len()?;
    s.last_id = (r.len()?, r.len()?);
    if v2 {
        s.meta = Some(RdbStreamMeta {
            first_id: (r.len()?, r.len()?),
            max_deleted_id: (r.len()?, r.len()?),
            entries_added: r.len()?,
        });
    }
    check_entries(&s)?;
    // Each group takes at least a one-byte name and five one-byte lengths.
    let groups = r.count_or_zero(6)?;
    for _ in 0..groups {
        s.groups.push(group(r, v2)?);
    }
    if !distinct(s.groups.iter().map(|g| g.name.as_slice())) {
        return corrupt("duplicate consumer group");
    }
    s.groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(s)
}

/// An integer element (`lpGetIntegerIfValid`: a string that spells one counts).
fn int(item: Option<&Item>) -> Result<i64> {
    match item {
        Some(Item::Int(v)) => Ok(*v),
        Some(Item::Str(s)) => canonical_i64(s).ok_or(RdbError::Corrupt("stream integer")),
        None => corrupt("stream listpack ends early"),
    }
}

/// A count element: an integer from 0 to what the listpack could hold.
fn count(item: Option<&Item>, items: usize) -> Result<usize> {
    match usize::try_from(int(item)?) {
        Ok(n) if n <= items => Ok(n),
        _ => corrupt("stream count"),
    }
}

fn bytes(item: Option<&Item>) -> Result<Vec<u8>> {
    item.map(|i| i.to_bytes())
        .ok_or(RdbError::Corrupt("stream listpack ends early"))
}

/// One node from its listpack's elements (Redis's `streamValidateListpackIntegrity`).
fn node(master_id: RdbStreamId, items: &[Item]) -> Result<RdbStreamNode> {
    let mut it = items.iter();
    let live = count(it.next(), items.len())?;
    let deleted = count(it.next(), items.len())?;
    let nfields = count(it.next(), items.len())?;
    let mut node = RdbStreamNode {
        master_id,
        master_fields: (0..nfields)
            .map(|_| bytes(it.next()))
            .collect::<Result<_>>()?,
        entries: Vec::new(),
    };
    if int(it.next())? != 0 {
        return corrupt("stream master entry terminator");
    }
    for _ in 0..live + deleted {
        let flags = int(it.next())?;
        let ms = master_id.0.wrapping_add(int(it.next())? as u64);
        let seq = master_id.1.wrapping_add(int(it.next())? as u64);
        let same = flags & 2 != 0;
        let (n, extra) = if same {
            (nfields, 3)
        } else {
            let n = count(it.next(), items.len())?;
            (n, 4 + n)
        };
        let mut fields = Vec::with_capacity(n);
        for i in 0..n {
            let field = if same {
                node.master_fields[i].clone()
            } else {
                bytes(it.next())?
            };
            fields.push((field, bytes(it.next())?));
        }
        if count(it.next(), items.len())? != n + extra {
            return corrupt("stream entry element count");
        }
        node.entries.push(RdbStreamEntry {
            id: (ms, seq),
            deleted: flags & 1 != 0,
            fields,
        });
    }
    if it.next().is_some() {
        return corrupt("stream listpack has extra elements");
    }
    if node.entries.iter().filter(|e| !e.deleted).count() != live || live == 0 {
        return corrupt("stream node counts");
    }
    Ok(node)
}

/// IDs strictly increasing from each node's key on, the length and the last ID consistent.
fn check_entries(s: &RdbStream) -> Result<()> {
    let mut previous: Option<RdbStreamId> = None;
    for node in &s.nodes {
        if previous.is_some_and(|p| p >= node.master_id) {
            return corrupt("stream nodes out of order");
        }
        let mut floor = node.master_id;
        for (i, e) in node.entries.iter().enumerate() {
            if e.id < floor || (i > 0 && e.id == floor) {
                return corrupt("stream entries out of order");
            }
            floor = e.id;
        }
        previous = Some(floor);
    }
    let live: u64 = s
        .nodes
        .iter()
        .map(|n| n.entries.iter().filter(|e| !e.deleted).count() as u64)
        .sum();
    if live != s.length || previous.is_some_and(|last| last > s.last_id) {
        return corrupt("stream length or last ID");
    }
    Ok(())
}

fn group(r: &mut Reader, v2: bool) -> Result<RdbStreamGroup> {
    let mut g = RdbStreamGroup {
        name: r.string()?.into_owned(),
        last_id: (r.len()?, r.len()?),
        ..RdbStreamGroup::default()
    };
    if v2 {
        g.entries_read = Some(r.len()? as i64);
    }
    // Each pending entry takes 16 + 8 + 1 bytes.
    let pending = r.count_or_zero(25)?;
    let mut owners: BTreeMap<RdbStreamId, bool> = BTreeMap::new();
    for _ in 0..pending {
        let id = id_from_bytes(r.take(16)?);
        let delivery_time_ms = u64::from_le_bytes(r.array()?);
        let delivery_count = r.len()?;
        if owners.insert(id, false).is_some() {
            return corrupt("duplicate pending entry");
        }
        g.pending.push(RdbStreamNack {
            id,
            delivery_time_ms,
            delivery_count,
        });
    }
    g.pending.sort_by_key(|n| n.id);
    // Each consumer takes at least a one-byte name, 8 bytes and a one-byte count.
    let consumers = r.count_or_zero(10)?;
    for _ in 0..consumers {
        let mut c = RdbStreamConsumer {
            name: r.string()?.into_owned(),
            seen_time_ms: u64::from_le_bytes(r.array()?),
            pending: Vec::new(),
        };
        for _ in 0..r.count_or_zero(16)? {
            let id = id_from_bytes(r.take(16)?);
            match owners.get_mut(&id) {
                Some(owned @ false) => *owned = true,
                Some(true) => return corrupt("pending entry owned twice"),
                None => return corrupt("consumer entry not in the group's pending list"),
            }
            c.pending.push(id);
        }
        c.pending.sort_unstable();
        g.consumers.push(c);
    }
    if owners.values().any(|owned| !owned) {
        return corrupt("pending entry without a consumer");
    }
    if !distinct(g.consumers.iter().map(|c| c.name.as_slice())) {
        return corrupt("duplicate consumer");
    }
    g.consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(g)
}

fn distinct<'a>(keys: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut seen = BTreeSet::new();
    keys.into_iter().all(|key| seen.insert(key))
}
