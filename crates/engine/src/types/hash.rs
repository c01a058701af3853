//! Hash values, with per-field expire times (Redis 7.4's hash field expiration).
//!
//! Two representations, as in Redis:
//! - `Pack` (`listpack`): every field and value in one byte buffer, in insertion order; a
//!   lookup is a linear scan. Once a field-expiry command touches it, it becomes `listpackex`:
//!   each entry also carries its expire time, and entries are kept ordered by it (earliest
//!   first, fields without a TTL last), so expired fields are always at the front.
//! - `Table` (`hashtable`): a chained hash table with power-of-two bucket counts and Redis's
//!   reverse-binary SCAN cursor (like `crate::dict`), each entry one node plus one buffer holding
//!   field and value; fields with a TTL are also in an index ordered by expire time.
//!
//! A pack becomes a table when a field or value is longer than `hash-max-listpack-value` or
//! when it holds more than `hash-max-listpack-entries` fields; never the other way (Redis 7.0).
//!
//! Expire times are absolute Unix milliseconds. This type stores them and orders by them;
//! what "expired" means at a given time (an expire time before now) is applied by the
//! commands, which hide expired fields from reads and remove them on writes, and by the
//! database's tick (`Db::remove_expired_fields`).
//!
//! Snapshot form (`encode`): u8 form (0 listpack, 1 listpackex, 2 hashtable), then
//! - packs: u64 count, per field in order: u32 len, field, u32 len, value, and for
//!   listpackex a u64 expire time (0 = none);
//! - tables: u64 seed, u64 buckets, u64 count, per field in iteration order: u32 len, field,
//!   u32 len, value, u64 expire time (0 = none). Decoding rebuilds the same buckets and chain
//!   order, so iteration (HGETALL, HSCAN) is the same on a restored node.

use std::collections::BTreeSet;
use std::fmt;
use std::hash::BuildHasher;

use foldhash::fast::FixedState;

use crate::snapshot::{Reader, SnapshotError};

/// What decides a hash's form: the replicated `hash-max-listpack-*` thresholds, and the seed a
/// new table hashes with (the engine's, set from the log).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub entries_max: u64,
    pub value_max: u64,
    pub seed: u64,
}

/// Redis refuses to grow a listpack beyond 1 GiB (`lpSafeToAdd`); it converts instead.
const PACK_BYTES_MAX: usize = 1 << 30;

// ---------------------------------------------------------------------------------------------
// Varints (LEB128): lengths and expire times inside packs and table nodes

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint this module wrote.
fn get_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// Pack: listpack and listpackex

/// Entries back to back: varint field length, field, varint value length, value, and in ex
/// mode a varint expire time (0 = none).
#[derive(Clone, Default, PartialEq)]
struct Pack {
    bytes: Vec<u8>,
    len: usize,
    /// `listpackex`: entries carry expire times and are ordered by them.
    ex: bool,
}

/// Where one pack entry is, and what it holds.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    field: (usize, usize),
    value: (usize, usize),
    end: usize,
    expire_at_ms: Option<u64>,
}

impl Pack {
    fn span(&self, start: usize) -> Span {
        let b = &self.bytes;
        let mut pos = start;
        let flen = get_varint(b, &mut pos) as usize;
        let field = (pos, pos + flen);
        pos += flen;
        let vlen = get_varint(b, &mut pos) as usize;
        let value = (pos, pos + vlen);
        pos += vlen;
        let expire_at_ms = if self.ex {
            Some(get_varint(b, &mut pos)).filter(|&at| at != 0)
        } else {
            None
        };
        Span {
            start,
            field,
            value,
            end: pos,
            expire_at_ms,
        }
    }

    fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            (pos < self.bytes.len()).then(|| {
                let span = self.span(pos);
                pos = span.end;
                span
            })
        })
    }

    fn slice(&self, (from, to): (usize, usize)) -> &[u8] {
        &self.bytes[from..to]
    }

    fn find(&self, field: &[u8]) -> Option<Span> {
        self.spans().find(|s| self.slice(s.field) == field)
    }

    fn field_at(&self, span: Span) -> Field<'_> {
        Field {
            field: self.slice(span.field),
            value: self.slice(span.value),
            expire_at_ms: span.expire_at_ms,
        }
    }

    fn encode_entry(&self, field: &[u8], value: &[u8], expire_at_ms: Option<u64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(field.len() + value.len() + 12);
        put_varint(&mut out, field.len() as u64);
        out.extend_from_slice(field);
        put_varint(&mut out, value.len() as u64);
        out.extend_from_slice(value);
        if self.ex {
            put_varint(&mut out, expire_at_ms.unwrap_or(0));
        }
        out
    }

    /// Replaces the bytes `start..end` (one entry, or nothing) with one encoded entry.
    fn splice(&mut self, start: usize, end: usize, entry: Vec<u8>) {
        let grow = entry.len().saturating_sub(end - start);
        // Exact reservations keep a pack about as small as Redis's listpack.
        self.bytes.reserve_exact(grow);
        self.bytes.splice(start..end, entry);
    }

    fn push(&mut self, field: &[u8], value: &[u8], expire_at_ms: Option<u64>) {
        let entry = self.encode_entry(field, value, expire_at_ms);
        let end = self.bytes.len();
        self.splice(end, end, entry);
        self.len += 1;
    }

    /// Ex mode: inserts before the first entry that has no TTL or a TTL at or after `at`
    /// (Redis's `listpackExAddInternal`).
    fn insert_by_expire(&mut self, field: &[u8], value: &[u8], at: u64) {
        let pos = self
            .spans()
            .find(|s| s.expire_at_ms.is_none_or(|t| t >= at))
            .map_or(self.bytes.len(), |s| s.start);
        let entry = self.encode_entry(field, value, Some(at));
        self.splice(pos, pos, entry);
        self.len += 1;
    }

    fn remove_span(&mut self, span: Span) {
        self.bytes.drain(span.start..span.end);
        self.len -= 1;
        // Give memory back once a quarter of the buffer is unused.
        if self.bytes.capacity() - self.bytes.len() > self.bytes.len() / 4 + 64 {
            self.bytes.shrink_to_fit();
        }
    }

    /// HSET semantics: a new field goes last; an existing one keeps its place and TTL, except
    /// that with `keep_ttl` false a field with a TTL loses it and moves last (as Redis 7.4's
    /// listpackex does). True if the field is new.
    fn set(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        let Some(span) = self.find(field) else {
            self.push(field, value, None);
            return true;
        };
        if span.expire_at_ms.is_some() && !keep_ttl {
            self.remove_span(span);
            self.push(field, value, None);
        } else {
            let entry = self.encode_entry(field, value, span.expire_at_ms);
            self.splice(span.start, span.end, entry);
        }
        false
    }

    /// Ex mode: gives `field` a new expire time (or none), moving it to its ordered place.
    fn set_expire(&mut self, field: &[u8], at: Option<u64>) -> bool {
        debug_assert!(self.ex, "expire times need listpackex");
        let Some(span) = self.find(field) else {
            return false;
        };
        let value = self.slice(span.value).to_vec();
        self.remove_span(span);
        match at {
            Some(at) => self.insert_by_expire(field, &value, at),
            None => self.push(field, &value, None),
        }
        true
    }

    /// Converts to listpackex: every entry gets "no TTL", which keeps the order valid.
    fn make_ex(&mut self) {
        if self.ex {
            return;
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() + self.len);
        for span in self.spans() {
            bytes.extend_from_slice(&self.bytes[span.start..span.end]);
            bytes.push(0);
        }
        self.bytes = bytes;
        self.ex = true;
    }

    /// Ex mode keeps expiring entries first, earliest first.
    fn next_expiry_ms(&self) -> Option<u64> {
        if !self.ex || self.len == 0 {
            return None;
        }
        self.span(0).expire_at_ms
    }
}

// ---------------------------------------------------------------------------------------------
// Table: hashtable

/// One field: `data` holds a varint field length, the field, then the value. 32 bytes, so
/// with the bucket pointer and the data buffer a field costs what a Redis `dictEntry` and
/// its two sds strings cost.
struct Node {
    next: Option<Box<Node>>,
    data: Box<[u8]>,
    /// 0 = no TTL (a stored expire time is never 0).
    expire_at_ms: u64,
}

impl Node {
    fn new(field: &[u8], value: &[u8], expire_at_ms: u64) -> Node {
        Node {
            next: None,
            data: Node::pack(field, value),
            expire_at_ms,
        }
    }

    fn pack(field: &[u8], value: &[u8]) -> Box<[u8]> {
        let mut data =
            Vec::with_capacity(varint_len(field.len() as u64) + field.len() + value.len());
        put_varint(&mut data, field.len() as u64);
        data.extend_from_slice(field);
        data.extend_from_slice(value);
        data.into_boxed_slice()
    }

    fn parts(&self) -> (&[u8], &[u8]) {
        let mut pos = 0;
        let flen = get_varint(&self.data, &mut pos) as usize;
        let (field, value) = self.data[pos..].split_at(flen);
        (field, value)
    }

    fn field(&self) -> &[u8] {
        self.parts().0
    }

    fn expire(&self) -> Option<u64> {
        (self.expire_at_ms != 0).then_some(self.expire_at_ms)
    }

    fn as_field(&self) -> Field<'_> {
        let (field, value) = self.parts();
        Field {
            field,
            value,
            expire_at_ms: self.expire(),
        }
    }
}

struct Table {
    buckets: Vec<Option<Box<Node>>>,
    len: usize,
    seed: u64,
    hasher: FixedState,
    /// (expire_at_ms, field) of every field with a TTL, earliest first.
    expires: BTreeSet<(u64, Box<[u8]>)>,
    /// Bytes of all node payloads, for `heap_bytes`.
    data_bytes: usize,
}

/// The smallest table; also the size a table shrinks back to.
const BUCKETS_MIN: usize = 4;

/// Chain positions a random draw picks from: picking a bucket and then a position below this
/// (rather than below the chain's length) keeps fields in long chains from being drawn less
/// often. Retries cost about `CHAIN_SAMPLE` / load factor draws.
const CHAIN_SAMPLE: u64 = 8;

impl Table {
    fn with_capacity(seed: u64, len: usize) -> Table {
        let size = len.next_power_of_two().max(BUCKETS_MIN);
        Table {
            buckets: (0..size).map(|_| None).collect(),
            len: 0,
            seed,
            hasher: FixedState::with_seed(seed),
            expires: BTreeSet::new(),
            data_bytes: 0,
        }
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn bucket_of(&self, field: &[u8]) -> usize {
        (self.hasher.hash_one(field) as usize) & self.mask()
    }

    fn get(&self, field: &[u8]) -> Option<&Node> {
        let mut node = self.buckets[self.bucket_of(field)].as_deref();
        while let Some(n) = node {
            if n.field() == field {
                return Some(n);
            }
            node = n.next.as_deref();
        }
        None
    }

    fn get_mut(&mut self, field: &[u8]) -> Option<&mut Node> {
        let b = self.bucket_of(field);
        let mut node = self.buckets[b].as_deref_mut();
        while let Some(n) = node {
            if n.field() == field {
                return Some(n);
            }
            node = n.next.as_deref_mut();
        }
        None
    }

    /// Adds a field known to be absent, at the head of its chain.
    fn insert_new(&mut self, node: Node) {
        if self.len >= self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
        let indexed = node.expire_at_ms != 0;
        self.link(indexed, node);
    }

    /// Links `node` into its bucket, with no resize check (decode presizes).
    fn link(&mut self, index_expire: bool, mut node: Node) {
        if index_expire {
            self.expires
                .insert((node.expire_at_ms, node.field().into()));
        }
        self.data_bytes += node.data.len();
        let b = self.bucket_of(node.field());
        node.next = self.buckets[b].take();
        self.buckets[b] = Some(Box::new(node));
        self.len += 1;
    }

    fn set(&mut self, field: &[u8], value: &[u8], keep_ttl: bool) -> bool {
        let Some(node) = self.get_mut(field) else {
            self.insert_new(Node::new(field, value, 0));
            return true;
        };
        let old_len = node.data.len();
        node.data = Node::pack(field, value);
        let new_len = node.data.len();
        let cleared = (!keep_ttl && node.expire_at_ms != 0)
            .then(|| std::mem::replace(&mut node.expire_at_ms, 0));
        self.data_bytes = self.data_bytes - old_len + new_len;
        if let Some(at) = cleared {
            self.expires.remove(&(at, Box::from(field)));
        }
        false
    }

    /// Unlinks `field`; returns its node.
    fn unlink(&mut self, field: &[u8]) -> Option<Box<Node>> {
        let b = self.bucket_of(field);
        let mut link = &mut self.buckets[b];
        loop {
            match link {
                None => return None,
                Some(n) if n.field() == field => {
                    let mut node = link.take().expect("matched Some");
                    *link = node.next.take();
                    self.len -= 1;
                    self.data_bytes -= node.data.len();
                    return Some(node);
                }
                Some(n) => link = &mut n.next,
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some(node) = self.unlink(field) else {
            return false;
        };
        if node.expire_at_ms != 0 {
            self.expires.remove(&(node.expire_at_ms, Box::from(field)));
        }
        self.maybe_shrink();
        true
    }

    fn set_expire(&mut self, field: &[u8], at: Option<u64>) -> bool {
        let Some(node) = self.get_mut(field) else {
            return false;
        };
        let old = std::mem::replace(&mut node.expire_at_ms, at.unwrap_or(0));
        if old != 0 {
            self.expires.remove(&(old, Box::from(field)));
        }
        if let Some(at) = at {
            self.expires.insert((at, Box::from(field)));
        }
        true
    }

    fn maybe_shrink(&mut self) {
        // At 1/8 load, so that inserts and removals near a boundary do not thrash.
        if self.buckets.len() > BUCKETS_MIN && self.len * 8 < self.buckets.len() {
            self.resize((self.len.next_power_of_two() * 2).max(BUCKETS_MIN));
        }
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two());
        let old = std::mem::replace(&mut self.buckets, (0..size).map(|_| None).collect());
        for mut bucket in old {
            while let Some(mut n) = bucket {
                bucket = n.next.take();
                let b = self.bucket_of(n.field());
                n.next = self.buckets[b].take();
                self.buckets[b] = Some(n);
            }
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Node> {
        self.buckets.iter().flat_map(|bucket| {
            let mut node = bucket.as_deref();
            std::iter::from_fn(move || {
                let n = node?;
                node = n.next.as_deref();
                Some(n)
            })
        })
    }

    /// Visits the nodes of the bucket at `cursor`; returns the next cursor (0 = done), walking
    /// bucket indexes with their bits reversed, as Redis's dictScan does.
    fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(&'a Node)) -> u64 {
        let mask = self.mask() as u64;
        let mut node = self.buckets[(cursor & mask) as usize].as_deref();
        while let Some(n) = node {
            visit(n);
            node = n.next.as_deref();
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits().wrapping_add(1);
        v.reverse_bits()
    }

    /// A random node: a random bucket and a random position below `CHAIN_SAMPLE` (or below
    /// the chain's length, if longer), retried until the position holds a field. Uniform
    /// while no chain is longer than `CHAIN_SAMPLE`, which with a seeded hash and at most one
    /// field per bucket on average is nearly always so.
    fn random(&self, random: &mut dyn FnMut() -> u64) -> &Node {
        assert!(self.len > 0, "random field of an empty table");
        let mask = self.mask() as u64;
        loop {
            let Some(head) = self.buckets[(random() & mask) as usize].as_deref() else {
                continue;
            };
            let mut chain = 0u64;
            let mut node = Some(head);
            while let Some(n) = node {
                chain += 1;
                node = n.next.as_deref();
            }
            let pos = random() % chain.max(CHAIN_SAMPLE);
            if pos >= chain {
                continue;
            }
            let mut node = head;
            for _ in 0..pos {
                node = node
                    .next
                    .as_deref()
                    .expect("position below the chain length");
            }
            return node;
        }
    }

    /// Removes up to `max` fields whose expire time is before `now_ms`, earliest first.
    fn remove_expired(&mut self, now_ms: u64, max: usize) -> usize {
        let mut removed = 0;
        while removed < max {
            match self.expires.first() {
                Some((at, _)) if *at < now_ms => {}
                _ => break,
            }
            let (_, field) = self.expires.pop_first().expect("first exists");
            let node = self.unlink(&field);
            debug_assert!(node.is_some(), "expire index and table agree");
            removed += 1;
        }
        if removed > 0 {
            self.maybe_shrink();
        }
        removed
    }

    fn heap_bytes(&self) -> usize {
        let index: usize = self.expires.iter().map(|(_, f)| f.len() + 32).sum();
        self.buckets.len() * 8 + self.len * std::mem::size_of::<Node>() + self.data_bytes + index
    }
}

impl Clone for Table {
    fn clone(&self) -> Table {
        // Same buckets, same chain order: relink each chain's nodes in reverse.
        let mut out = Table::with_capacity(self.seed, 0);
        out.buckets = (0..self.buckets.len()).map(|_| None).collect();
        let mut chain = Vec::new();
        for (b, bucket) in self.buckets.iter().enumerate() {
            chain.clear();
            let mut node = bucket.as_deref();
            while let Some(n) = node {
                chain.push(n);
                node = n.next.as_deref();
            }
            for n in chain.iter().rev() {
                let copy = Box::new(Node {
                    next: out.buckets[b].take(),
                    data: n.data.clone(),
                    expire_at_ms: n.expire_at_ms,
                });
                out.buckets[b] = Some(copy);
            }
        }
        out.len = self.len;
        out.expires = self.expires.clone();
        out.data_bytes = self.data_bytes;
        out
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        // Unlink chains iteratively: dropping a long chain recursively could overflow the stack.
        for bucket in &mut self.buckets {
            let mut next = bucket.take();
            while let Some(mut n) = next {
                next = n.next.take();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hash

#[derive(Clone)]
enum Form {
    Pack(Pack),
    Table(Table),
}

#[derive(Clone)]
pub struct Hash {
    form: Form,
}

/// One field as iteration shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub field: &'a [u8],
    pub value: &'a [u8],
    pub expire_at_ms: Option<u64>,
}

impl Field<'_> {
    /// Whether the field has expired at `now_ms` (its expire time is before now).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at < now_ms)
    }
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::new()
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash {
            form: Form::Pack(Pack::default()),
        }
    }

    /// Fields stored, including expired ones not removed yet.
    pub fn len(&self) -> usize {
        match &self.form {
            Form::Pack(p) => p.len,
            Form::Table(t) => t.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match &self.form {
            Form::Pack(p) if p.ex => "listpackex",
            Form::Pack(_) => "listpack",
            Form::Table(_) => "hashtable",
        }
    }

    pub fn is_compact(&self) -> bool {
        matches!(self.form, Form::Pack(_))
    }

    pub fn heap_bytes(&self) -> usize {
        match &self.form {
            Form::Pack(p) => p.bytes.capacity(),
            Form::Table(t) => t.heap_bytes(),
        }
    }

    /// A field, expired or not.
    pub fn get(&self, field: &[u8]) -> Option<Field<'_>> {
        match &self.form {
            Form::Pack(p) => p.find(field).map(|s| p.field_at(s)),
            Form::Table(t) => t.get(field).map(Node::as_field),
        }
    }

    /// A field that has not expired at `now_ms`.
    pub fn get_live(&self, field: &[u8], now_ms: u64) -> Option<Field<'_>> {
        self.get(field).filter(|f| !f.is_expired(now_ms))
    }

    /// Fields in iteration order: a pack's order, or a table's bucket order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_>> {
        let (pack, table) = match &self.form {
            Form::Pack(p) => (Some(p), None),
            Form::Table(t) => (None, Some(t)),
        };
        let packed = pack
            .into_iter()
            .flat_map(|p| p.spans().map(move |s| p.field_at(s)));
        let tabled = table.into_iter().flat_map(|t| t.iter().map(Node::as_field));
        packed.chain(tabled)
    }

    /// Redis's `hashTypeTryConversion`: before adding `args` (fields and values), a pack
    /// becomes a table if any of them is longer than `hash-max-listpack-value`, or if the pack
    /// would grow past its size limit.
    pub fn prepare<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: Limits) {
        let Form::Pack(p) = &self.form else {
            return;
        };
        let mut sum = 0usize;
        for arg in args {
            if arg.len() as u64 > limits.value_max {
                self.convert(limits.seed);
                return;
            }
            sum = sum.saturating_add(arg.len());
        }
        if p.bytes.len().saturating_add(sum) > PACK_BYTES_MAX {
            self.convert(limits.seed);
        }
    }

    /// Sets `field` to `value` (Redis's `hashTypeSet`); with `keep_ttl` false the field loses
    /// any TTL it had. Converts the pack first when either is too long for it, and after when
    /// it holds too many fields. True if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], keep_ttl: bool, limits: Limits) -> bool {
        if self.is_compact()
            && (field.len() as u64 > limits.value_max || value.len() as u64 > limits.value_max)
        {
            self.convert(limits.seed);
        }
        match &mut self.form {
            Form::Pack(p) => {
                let created = p.set(field, value, keep_ttl);
                if p.len as u64 > limits.entries_max {
                    self.convert(limits.seed);
                }
                created
            }
            Form::Table(t) => t.set(field, value, keep_ttl),
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.form {
            Form::Pack(p) => match p.find(field) {
                Some(span) => {
                    p.remove_span(span);
                    true
                }
                None => false,
            },
            Form::Table(t) => t.remove(field),
        }
    }

    /// Makes a pack able to hold expire times (`listpack` → `listpackex`), as Redis does when
    /// a field-expiry command first touches a hash.
    pub fn make_ex(&mut self) {
        if let Form::Pack(p) = &mut self.form {
            p.make_ex();
        }
    }

    /// Sets (`Some`) or clears (`None`) the expire time of `field`; false if there is no such
    /// field. A pack must be in ex mode (`make_ex`).
    pub fn set_expire(&mut self, field: &[u8], at: Option<u64>) -> bool {
        match &mut self.form {
            Form::Pack(p) => {
                p.make_ex();
                p.set_expire(field, at)
            }
            Form::Table(t) => t.set_expire(field, at),
        }
    }

    /// The earliest expire time of any field.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        match &self.form {
            Form::Pack(p) => p.next_expiry_ms(),
            Form::Table(t) => t.expires.first().map(|(at, _)| *at),
        }
    }

    /// Whether some field has expired at `now_ms`.
    pub fn has_expired(&self, now_ms: u64) -> bool {
        self.next_expiry_ms().is_some_and(|at| at < now_ms)
    }

    /// Fields not expired at `now_ms`.
    pub fn live_len(&self, now_ms: u64) -> usize {
        if !self.has_expired(now_ms) {
            return self.len();
        }
        let expired = match &self.form {
            Form::Pack(p) => p
                .spans()
                .take_while(|s| s.expire_at_ms.is_some_and(|at| at < now_ms))
                .count(),
            Form::Table(t) => t.expires.iter().take_while(|(at, _)| *at < now_ms).count(),
        };
        self.len() - expired
    }

    /// Removes up to `max` fields expired at `now_ms`, earliest first; returns how many.
    pub fn remove_expired(&mut self, now_ms: u64, max: usize) -> usize {
        match &mut self.form {
            Form::Pack(p) => {
                let mut removed = 0;
                while removed < max && p.next_expiry_ms().is_some_and(|at| at < now_ms) {
                    let span = p.span(0);
                    p.remove_span(span);
                    removed += 1;
                }
                removed
            }
            Form::Table(t) => t.remove_expired(now_ms, max),
        }
    }

    /// One HSCAN step: a pack visits every field and answers cursor 0; a table visits the
    /// bucket at `cursor` and answers the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, mut visit: impl FnMut(Field<'a>)) -> u64 {
        match &self.form {
            Form::Pack(_) => {
                self.iter().for_each(visit);
                0
            }
            Form::Table(t) => t.scan(cursor, |n| visit(n.as_field())),
        }
    }

    /// A field chosen with `random`, expired or not: uniformly in a pack; in a table, a random
    /// bucket and then a random field of its chain (as Redis's dictGetFairRandomKey
    /// approximates). The hash must not be empty.
    pub fn random(&self, random: &mut dyn FnMut() -> u64) -> Field<'_> {
        match &self.form {
            Form::Pack(p) => {
                let index = (random() % p.len as u64) as usize;
                self.iter().nth(index).expect("index below the length")
            }
            Form::Table(t) => t.random(random).as_field(),
        }
    }

    /// Pack → table (one way), keeping every field's value and expire time.
    fn convert(&mut self, seed: u64) {
        let Form::Pack(p) = &self.form else {
            return;
        };
        let mut table = Table::with_capacity(seed, p.len);
        for span in p.spans() {
            let at = span.expire_at_ms.unwrap_or(0);
            table.insert_new(Node::new(p.slice(span.field), p.slice(span.value), at));
        }
        self.form = Form::Table(table);
    }

    // -----------------------------------------------------------------------------------------
    // Snapshot form

    pub fn encode(&self, out: &mut Vec<u8>) {
        fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        match &self.form {
            Form::Pack(p) => {
                out.push(if p.ex { FORM_LISTPACKEX } else { FORM_LISTPACK });
                out.extend_from_slice(&(p.len as u64).to_le_bytes());
                for span in p.spans() {
                    put_bytes(out, p.slice(span.field));
                    put_bytes(out, p.slice(span.value));
                    if p.ex {
                        out.extend_from_slice(&span.expire_at_ms.unwrap_or(0).to_le_bytes());
                    }
                }
            }
            Form::Table(t) => {
                out.push(FORM_HASHTABLE);
                for n in [t.seed, t.buckets.len() as u64, t.len as u64] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                for node in t.iter() {
                    let (field, value) = node.parts();
                    put_bytes(out, field);
                    put_bytes(out, value);
                    out.extend_from_slice(&node.expire_at_ms.to_le_bytes());
                }
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Hash, SnapshotError> {
        let form = r.u8()?;
        match form {
            FORM_LISTPACK | FORM_LISTPACKEX => {
                let ex = form == FORM_LISTPACKEX;
                let mut pack = Pack {
                    ex,
                    ..Pack::default()
                };
                let mut seen = BTreeSet::new();
                for _ in 0..r.u64()? {
                    let field = r.bytes()?;
                    let value = r.bytes()?;
                    let at = if ex { r.u64()? } else { 0 };
                    if !seen.insert(field) {
                        return Err(SnapshotError::Type(SNAPSHOT_TYPE_HASH));
                    }
                    pack.push(field, value, Some(at).filter(|&at| at != 0));
                }
                Ok(Hash {
                    form: Form::Pack(pack),
                })
            }
            FORM_HASHTABLE => {
                let (seed, buckets, len) = (r.u64()?, r.u64()?, r.u64()?);
                let mut entries = Vec::new();
                for _ in 0..len {
                    let (field, value) = (r.bytes()?, r.bytes()?);
                    entries.push((field, value, r.u64()?));
                }
                // The recorded bucket count, if it is one a table could have had.
                let fits = buckets.is_power_of_two() && buckets >= entries.len() as u64;
                let sane = buckets <= (entries.len() as u64).saturating_mul(16).max(64);
                let size = if fits && sane {
                    buckets as usize
                } else {
                    entries.len().next_power_of_two()
                };
                let mut table = Table::with_capacity(seed, size);
                // Prepending in reverse rebuilds each chain in its recorded order.
                for &(field, value, at) in entries.iter().rev() {
                    if table.get(field).is_some() {
                        return Err(SnapshotError::Type(SNAPSHOT_TYPE_HASH));
                    }
                    table.link(at != 0, Node::new(field, value, at));
                }
                Ok(Hash {
                    form: Form::Table(table),
                })
            }
            _ => Err(SnapshotError::Type(SNAPSHOT_TYPE_HASH)),
        }
    }
}

const FORM_LISTPACK: u8 = 0;
const FORM_LISTPACKEX: u8 = 1;
const FORM_HASHTABLE: u8 = 2;
/// The snapshot's type byte for hashes: what a malformed hash (an unknown form, a field
/// twice) is reported as.
const SNAPSHOT_TYPE_HASH: u8 = 2;

/// Equal content: same form, and the same fields, values and expire times (in the same order
/// for packs, whose order replies show; in any order for tables).
impl PartialEq for Hash {
    fn eq(&self, other: &Hash) -> bool {
        match (&self.form, &other.form) {
            (Form::Pack(a), Form::Pack(b)) => a == b,
            (Form::Table(a), Form::Table(b)) => {
                a.len == b.len
                    && a.iter().all(|n| {
                        let (field, value) = n.parts();
                        b.get(field).is_some_and(|m| {
                            m.parts().1 == value && m.expire_at_ms == n.expire_at_ms
                        })
                    })
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.encoding())?;
        let mut list = f.debug_list();
        for field in self.iter() {
            list.entry(&(
                String::from_utf8_lossy(field.field),
                String::from_utf8_lossy(field.value),
                field.expire_at_ms,
            ));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const SMALL: Limits = Limits {
        entries_max: 128,
        value_max: 64,
        seed: 7,
    };

    fn table_limits() -> Limits {
        Limits {
            entries_max: 0,
            ..SMALL
        }
    }

    fn fields(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>, Option<u64>)> {
        h.iter()
            .map(|f| (f.field.to_vec(), f.value.to_vec(), f.expire_at_ms))
            .collect()
    }

    fn round_trip(h: &Hash) -> Hash {
        let mut bytes = Vec::new();
        h.encode(&mut bytes);
        let mut r = Reader::new(&bytes);
        let back = Hash::decode(&mut r).expect("decodes");
        assert_eq!(back.encoding(), h.encoding());
        back
    }

    /// Random sets, removals, expire changes and expiry sweeps against a `BTreeMap`, in both
    /// forms; every few steps the hash must match the model, and survive a snapshot.
    #[test]
    fn behaves_like_a_map_in_both_forms() {
        for limits in [SMALL, table_limits()] {
            let mut rng = fastrand::Rng::with_seed(11);
            let mut h = Hash::new();
            let mut model: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)> = BTreeMap::new();
            for step in 0..20_000u64 {
                let field = format!("f{}", rng.u32(0..60)).into_bytes();
                match rng.u32(0..10) {
                    0..=3 => {
                        let value = format!("v{step}").into_bytes();
                        let keep = rng.bool();
                        let created = h.set(&field, &value, keep, limits);
                        let old = model.get(&field).cloned();
                        assert_eq!(created, old.is_none());
                        let ttl = if keep { old.and_then(|o| o.1) } else { None };
                        model.insert(field, (value, ttl));
                    }
                    4 | 5 => assert_eq!(h.remove(&field), model.remove(&field).is_some()),
                    6 | 7 => {
                        let at = rng.bool().then(|| rng.u64(1..1000));
                        let exists = h.set_expire(&field, at);
                        assert_eq!(exists, model.contains_key(&field));
                        if let Some(entry) = model.get_mut(&field) {
                            entry.1 = at;
                        }
                    }
                    8 => {
                        let now = rng.u64(0..1000);
                        let max = rng.usize(0..5);
                        let due = model
                            .values()
                            .filter(|(_, ttl)| ttl.is_some_and(|t| t < now))
                            .count();
                        assert_eq!(h.live_len(now), model.len() - due);
                        let removed = h.remove_expired(now, max);
                        assert_eq!(removed, due.min(max));
                        // The earliest go first: fields with equal times in any order.
                        let mut expiring: Vec<(u64, Vec<u8>)> = model
                            .iter()
                            .filter_map(|(f, (_, ttl))| ttl.map(|t| (t, f.clone())))
                            .filter(|(t, _)| *t < now)
                            .collect();
                        expiring.sort();
                        for (_, f) in expiring.into_iter().take(removed) {
                            if h.get(&f).is_none() {
                                model.remove(&f);
                            }
                        }
                    }
                    _ => {
                        let got = h.get(&field).map(|f| (f.value.to_vec(), f.expire_at_ms));
                        assert_eq!(got, model.get(&field).cloned());
                    }
                }
                assert_eq!(h.len(), model.len());
                let earliest = model.values().filter_map(|(_, t)| *t).min();
                assert_eq!(h.next_expiry_ms(), earliest);
                if step % 997 == 0 {
                    let back = round_trip(&h);
                    assert_eq!(fields(&back), fields(&h));
                    assert_eq!(back, h);
                    h = back;
                }
            }
            let mut seen: Vec<_> = fields(&h);
            seen.sort();
            let expect: Vec<_> = model.into_iter().map(|(f, (v, t))| (f, v, t)).collect();
            assert_eq!(seen, expect);
        }
    }

    #[test]
    fn listpackex_orders_fields_by_expire_time() {
        let mut h = Hash::new();
        for f in ["a", "b", "c", "d"] {
            h.set(f.as_bytes(), b"v", false, SMALL);
        }
        assert_eq!(h.encoding(), "listpack");
        h.make_ex();
        assert_eq!(h.encoding(), "listpackex");
        h.set_expire(b"c", Some(50));
        h.set_expire(b"a", Some(100));
        h.set_expire(b"d", Some(50));
        let order: Vec<&[u8]> = h.iter().map(|f| f.field).collect();
        // Equal times: the newer goes first (inserted before the first at or after it).
        assert_eq!(order, [&b"d"[..], b"c", b"a", b"b"]);
        // Losing the TTL (HSET, HPERSIST) moves a field last.
        h.set(b"d", b"w", false, SMALL);
        h.set_expire(b"c", None);
        let order: Vec<&[u8]> = h.iter().map(|f| f.field).collect();
        assert_eq!(order, [&b"a"[..], b"b", b"d", b"c"]);
        // Keeping it (HINCRBY) keeps the place.
        h.set_expire(b"b", Some(200));
        h.set(b"a", b"x", true, SMALL);
        assert_eq!(h.get(b"a").unwrap().expire_at_ms, Some(100));
        let order: Vec<&[u8]> = h.iter().map(|f| f.field).collect();
        assert_eq!(order, [&b"a"[..], b"b", b"d", b"c"]);
        assert_eq!(h.remove_expired(150, usize::MAX), 1);
        assert_eq!(h.next_expiry_ms(), Some(200));
    }

    #[test]
    fn packs_convert_one_way_by_the_thresholds() {
        let limits = Limits {
            entries_max: 4,
            value_max: 8,
            seed: 3,
        };
        let mut h = Hash::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", false, limits);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", false, limits);
        assert_eq!(h.encoding(), "hashtable");
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        h.set(b"f", b"v", false, limits);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = Hash::new();
        h.set(b"short", b"123456789", false, limits);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.prepare([&b"ok"[..], b"123456789"], limits);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = Hash::new();
        h.set_expire(b"none", Some(5));
        h.set(b"a", b"1", false, limits);
        h.make_ex();
        h.set_expire(b"a", Some(9));
        h.set(b"long-field-name", b"1", false, limits);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a").unwrap().expire_at_ms, Some(9));
        assert_eq!(h.next_expiry_ms(), Some(9));
    }

    #[test]
    fn a_restored_table_iterates_in_the_same_order() {
        let mut h = Hash::new();
        let mut rng = fastrand::Rng::with_seed(5);
        for i in 0..3000 {
            h.set(format!("k{i}").as_bytes(), b"v", false, SMALL);
            if rng.u32(0..3) == 0 {
                h.remove(format!("k{}", rng.u32(0..i + 1)).as_bytes());
            }
            if rng.u32(0..5) == 0 {
                h.set_expire(format!("k{i}").as_bytes(), Some(rng.u64(1..1_000_000)));
            }
        }
        assert_eq!(h.encoding(), "hashtable");
        let back = round_trip(&h);
        assert_eq!(fields(&back), fields(&h));
        assert_eq!(fields(&h.clone()), fields(&h));
        // Same buckets: the same cursors.
        let (mut a, mut b) = (0, 0);
        loop {
            let (mut fa, mut fb) = (Vec::new(), Vec::new());
            a = h.scan(a, |f| fa.push(f.field.to_vec()));
            b = back.scan(b, |f| fb.push(f.field.to_vec()));
            assert_eq!((a, &fa), (b, &fb));
            if a == 0 {
                break;
            }
        }
    }

    #[test]
    fn decode_refuses_a_field_twice() {
        let mut bytes = vec![FORM_LISTPACK];
        bytes.extend_from_slice(&2u64.to_le_bytes());
        for _ in 0..2 {
            for part in [&b"f"[..], b"v"] {
                bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
                bytes.extend_from_slice(part);
            }
        }
        assert!(Hash::decode(&mut Reader::new(&bytes)).is_err());
        assert!(Hash::decode(&mut Reader::new(&[9])).is_err());
        assert!(Hash::decode(&mut Reader::new(&bytes[..bytes.len() - 1])).is_err());
    }

    #[test]
    fn scan_returns_every_field_across_resizes() {
        let mut h = Hash::new();
        for i in 0..500 {
            h.set(format!("stay{i}").as_bytes(), b"v", false, table_limits());
        }
        let mut seen = BTreeSet::new();
        let (mut cursor, mut step) = (0, 0);
        loop {
            cursor = h.scan(cursor, |f| {
                seen.insert(f.field.to_vec());
            });
            step += 1;
            for i in 0..50 {
                let tmp = format!("tmp{step}-{i}").into_bytes();
                if step % 2 == 0 {
                    h.set(&tmp, b"v", false, table_limits());
                } else {
                    h.remove(format!("tmp{}-{i}", step - 1).as_bytes());
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "missed stay{i}"
            );
        }
    }

    /// Draws from a table with collisions stay close to uniform (Redis's HRANDFIELD test
    /// checks a chi-square bound on ten fields).
    #[test]
    fn random_draws_are_nearly_uniform() {
        for seed in 0..20 {
            let limits = Limits {
                seed,
                ..table_limits()
            };
            let mut h = Hash::new();
            for i in 0..10 {
                h.set(format!("f{i}").as_bytes(), b"v", false, limits);
            }
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut counts: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let draws = 10_000.0;
            for _ in 0..draws as usize {
                let f = h.random(&mut || rng.u64(..)).field.to_vec();
                *counts.entry(f).or_default() += 1.0;
            }
            let expected = draws / 10.0;
            let chi: f64 = counts
                .values()
                .map(|c| (c - expected).powi(2) / expected)
                .sum();
            assert_eq!(counts.len(), 10);
            // df = 9: 40 is far beyond the 0.001% tail.
            assert!(chi < 40.0, "seed {seed}: chi-square {chi}");
        }
    }
}
