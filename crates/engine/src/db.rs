//! One logical database (`SELECT` index): the keyspace `Dict` and the expiry index.
//!
//! Expired keys are invisible at once: every lookup takes `now_ms` and treats a key whose
//! `expire_at_ms < now_ms` as absent (Redis: a key expires once now > its expire time). Reads
//! never delete (they are not logged: they report the keys for an Expire entry); writes delete
//! an expired key they touch, and tick entries delete the rest in `expire_at_ms` order.
//!
//! Hash fields can expire too (Redis 7.4). The database indexes every hash that has field
//! TTLs by its earliest one, so that ticks remove expired fields in (time, key, field) order;
//! `set`, `remove` and `clear` keep that index in step, and a command that edits a hash in
//! place reports the change with `reindex_fields`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::num::NonZeroU64;

use crate::dict::Dict;
use crate::evict::{self, Access};
use crate::value::Value;
use crate::watch::DbWatches;

/// The earliest field expire time of a hash value (`None` for other values).
fn field_expiry_ms(value: &Value) -> Option<u64> {
    match value {
        Value::Hash(h) => h.next_expiry_ms(),
        _ => None,
    }
}

/// A stored key: its value, its expire time, and its access data (OBJECT IDLETIME and FREQ,
/// eviction).
pub struct Slot {
    pub value: Value,
    /// Absolute Unix time in ms; `None` = persistent.
    /// Stored expire times are always in the future of a real clock, so never 0; the niche
    /// keeps this field 8 bytes.
    expire_at_ms: Option<NonZeroU64>,
    /// Seconds (node clock) of the last access: the LRU clock. Not part of the replicated
    /// state: it differs between nodes, and neither the digest nor the snapshot includes it.
    access_s: Cell<u32>,
    /// Redis's LFU word (minute of the last decrement << 8 | counter), node-local like
    /// `access_s`; it moves only while the node's policy is an LFU one (`crate::evict`).
    lfu: Cell<u32>,
}

impl Slot {
    pub fn expire_at_ms(&self) -> Option<u64> {
        self.expire_at_ms.map(NonZeroU64::get)
    }

    /// Notes an access at `now_ms` (Redis's `lookupKey` without LOOKUP_NOTOUCH).
    fn accessed(&self, access: &Access, now_ms: u64) {
        self.access_s.set((now_ms / 1000) as u32);
        if access.tracking.lfu {
            self.lfu
                .set(access.lfu_after_access(self.lfu.get(), now_ms));
        }
    }

    pub fn idle_s(&self, now_ms: u64) -> u64 {
        (now_ms / 1000).saturating_sub(u64::from(self.access_s.get()))
    }

    /// The access frequency counter at `now_ms`, after the decay of the minutes since its last
    /// decrement (Redis's `LFUDecrAndReturn`; nothing is stored).
    pub fn lfu_counter(&self, now_ms: u64, decay_time: u32) -> u8 {
        evict::lfu_decayed(self.lfu.get(), now_ms, decay_time)
    }

    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| at.get() < now_ms)
    }
}

pub struct Db {
    pub(crate) keys: Dict<Slot>,
    /// (expire_at_ms, key) for every key with a TTL, ordered by time.
    expires: BTreeSet<(u64, Box<[u8]>)>,
    /// (earliest field expire time, key) for every hash with field TTLs, ordered by time.
    field_expires: BTreeSet<(u64, Box<[u8]>)>,
    /// Keys reads found expired since the node last collected them (for lazy-expiry entries).
    /// Local bookkeeping, not replicated state.
    seen_expired: RefCell<BTreeSet<Box<[u8]>>>,
    /// Keys removed because they expired, while the node wants "expired" notifications
    /// (`None` otherwise). Local bookkeeping, drained after each entry.
    pub(crate) expired_now: Option<Vec<Box<[u8]>>>,
    /// Hashes that ticks removed expired fields from, and whether each was left empty (and
    /// deleted), while the node wants hash or generic notifications (`None` otherwise).
    /// Local bookkeeping, drained after each entry.
    pub(crate) hexpired_now: Option<Vec<(Box<[u8]>, bool)>>,
    /// Keys added to the keyspace, while the node wants "new" notifications (`None`
    /// otherwise). Local bookkeeping, drained after each entry.
    pub(crate) new_now: Option<Vec<Box<[u8]>>>,
    /// Watched keys (replicated: WATCH is a log entry). Every mutator below reports the keys
    /// it changes here.
    pub(crate) watches: DbWatches,
    /// Streams deleted or overwritten by the entry being applied: clients blocked in
    /// XREADGROUP on them are answered (Redis's `signalDeletedKeyAsReady`). Local
    /// bookkeeping, drained after each entry.
    pub(crate) streams_gone: Vec<Box<[u8]>>,
    /// What this node tracks on each access (node-local, `Engine::set_tracking`).
    pub(crate) access: Access,
}

/// Expired keys a database remembers between collections; beyond it ticks catch up.
const SEEN_EXPIRED_MAX: usize = 1024;

impl Db {
    pub fn new(seed: u64) -> Db {
        Db {
            keys: Dict::new(seed),
            expires: BTreeSet::new(),
            field_expires: BTreeSet::new(),
            seen_expired: RefCell::new(BTreeSet::new()),
            expired_now: None,
            hexpired_now: None,
            new_now: None,
            watches: DbWatches::default(),
            streams_gone: Vec::new(),
            access: Access::default(),
        }
    }

    /// Keys including expired ones not yet removed (what DBSIZE counts, as in Redis).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    pub fn dict(&self) -> &Dict<Slot> {
        &self.keys
    }

    /// A live key, or `None` when absent or expired at `now_ms`.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<&Slot> {
        let slot = self.keys.get(key)?;
        if slot.is_expired(now_ms) {
            let mut seen = self.seen_expired.borrow_mut();
            if seen.len() < SEEN_EXPIRED_MAX && !seen.contains(key) {
                seen.insert(key.into());
            }
            return None;
        }
        Some(slot)
    }

    /// A live key looked up by a command that reads or writes it: its access is noted (OBJECT
    /// IDLETIME restarts, the LFU counter moves). [`Db::get`] is the lookup that leaves it,
    /// as Redis's LOOKUP_NOTOUCH (EXISTS, TYPE, TTL, OBJECT).
    pub fn lookup(&self, key: &[u8], now_ms: u64) -> Option<&Slot> {
        let slot = self.get(key, now_ms)?;
        slot.accessed(&self.access, now_ms);
        Some(slot)
    }

    /// [`Db::get_mut`] for a write that accesses the key (its access is noted).
    pub fn lookup_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        self.expire_if_due(key, now_ms);
        if !self.watches.is_empty() && self.keys.contains_key(key) {
            self.watches.touch(key, true);
        }
        let slot = self.keys.get_mut(key)?;
        slot.accessed(&self.access, now_ms);
        Some(slot)
    }

    /// [`Db::get_mut_untouched`] for a write that accesses the key (its access is noted; its
    /// watchers are told by [`Db::touched`] if it changes).
    pub fn lookup_mut_untouched(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        self.expire_if_due(key, now_ms);
        let slot = self.keys.get_mut(key)?;
        slot.accessed(&self.access, now_ms);
        Some(slot)
    }

    /// RESTORE's IDLETIME and FREQ for a key it just stored: under an LFU policy the frequency
    /// counter is set, under any other the last access is moved back (Redis's
    /// `objectSetLRUOrLFU`); the other option is ignored.
    pub fn restore_access(&self, key: &[u8], idle_s: Option<u64>, freq: Option<u8>, now_ms: u64) {
        let Some(slot) = self.keys.get(key) else {
            return;
        };
        if self.access.tracking.lfu {
            if let Some(freq) = freq {
                slot.lfu.set(evict::lfu_word(now_ms, freq));
            }
        } else if let Some(idle_s) = idle_s {
            let at_s = (now_ms / 1000).saturating_sub(idle_s);
            slot.access_s.set(u32::try_from(at_s).unwrap_or(0));
        }
    }

    /// The policy's access tracking for this database (node-local).
    pub fn tracking(&self) -> evict::Tracking {
        self.access.tracking
    }

    /// Up to `count` keys with the earliest expire times that `wanted` accepts, as
    /// (expire_at_ms, key): volatile-ttl's candidates.
    pub(crate) fn expiring_first(
        &self,
        count: usize,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> impl Iterator<Item = (u64, &[u8])> {
        self.expires
            .iter()
            .filter(move |(_, key)| wanted(key))
            .take(count)
            .map(|(at, key)| (*at, &**key))
    }

    /// A key with a TTL, drawn from `random`: the first one to expire at or after a random
    /// time between the earliest and the latest expire time. The expiry index has no ranks;
    /// keys after long gaps in expire times are drawn more often than others.
    pub(crate) fn random_volatile(&self, mut random: impl FnMut() -> u64) -> Option<&[u8]> {
        let (first, last) = (self.expires.first()?.0, self.expires.last()?.0);
        let at = first + random() % (last - first + 1);
        let from = (at, Box::<[u8]>::default());
        self.expires
            .range(from..)
            .next()
            .or_else(|| self.expires.first())
            .map(|(_, key)| &**key)
    }

    /// The keys reads have found expired since the last call.
    pub fn take_seen_expired(&self) -> Vec<Box<[u8]>> {
        let mut seen = self.seen_expired.borrow_mut();
        // Called after every read: the common case allocates nothing.
        if seen.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut *seen).into_iter().collect()
    }

    pub fn get_value(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.get(key, now_ms).map(|s| &s.value)
    }

    pub fn contains(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// For writes: removes the key if it has expired, then returns it if still there.
    /// The write may change the key, so its watchers count it as touched.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        self.expire_if_due(key, now_ms);
        if !self.watches.is_empty() && self.keys.contains_key(key) {
            self.watches.touch(key, true);
        }
        self.keys.get_mut(key)
    }

    /// `get_mut` for a write that may change nothing: its watchers are not told here; the
    /// write calls [`Db::touched`] once it knows it changed the key (Redis signals a modified
    /// key only then).
    pub fn get_mut_untouched(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Slot> {
        self.expire_if_due(key, now_ms);
        self.keys.get_mut(key)
    }

    /// A write through [`Db::get_mut_untouched`] changed `key`, which is still present.
    pub fn touched(&mut self, key: &[u8]) {
        if !self.watches.is_empty() && self.keys.contains_key(key) {
            self.watches.touch(key, true);
        }
    }

    pub fn get_value_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Value> {
        self.get_mut(key, now_ms).map(|s| &mut s.value)
    }

    /// Removes `key` if it is expired at `now_ms`; true if it did.
    pub fn expire_if_due(&mut self, key: &[u8], now_ms: u64) -> bool {
        if self.keys.get(key).is_some_and(|s| s.is_expired(now_ms)) {
            self.remove(key);
            if let Some(expired) = &mut self.expired_now {
                expired.push(key.into());
            }
            return true;
        }
        false
    }

    /// Stores `value` with the given expire time, replacing any old value and TTL.
    pub fn set(&mut self, key: &[u8], value: Value, expire_at_ms: Option<u64>, now_ms: u64) {
        let expire_at_ms = expire_at_ms.filter(|&at| at != 0);
        let fields_at = field_expiry_ms(&value);
        let slot = Slot {
            value,
            expire_at_ms: expire_at_ms.and_then(NonZeroU64::new),
            access_s: Cell::new((now_ms / 1000) as u32),
            lfu: Cell::new(evict::lfu_word(now_ms, evict::LFU_INIT_VAL)),
        };
        let replaced = self.keys.insert(key, slot);
        if let Some(old) = replaced.as_ref().filter(|old| !old.is_expired(now_ms))
            && self.access.tracking.lfu
        {
            // An overwritten key keeps its frequency, counting this access (Redis's
            // `dbOverwrite` after `lookupKeyWrite`).
            let word = self.access.lfu_after_access(old.lfu.get(), now_ms);
            if let Some(slot) = self.keys.get(key) {
                slot.lfu.set(word);
            }
        }
        match replaced {
            // A key replaced after its time is an expired key gone and a new one added.
            Some(old) if old.is_expired(now_ms) => {
                // The expired key's deletion, then the new key.
                self.watches.touch(key, false);
                self.unindex(key, &old);
                if let Some(expired) = &mut self.expired_now {
                    expired.push(key.into());
                }
                if let Some(new) = &mut self.new_now {
                    new.push(key.into());
                }
            }
            Some(old) => {
                self.unindex(key, &old);
                self.note_if_stream(key, &old.value);
            }
            None => {
                if let Some(new) = &mut self.new_now {
                    new.push(key.into());
                }
            }
        }
        if let Some(at) = expire_at_ms {
            self.expires.insert((at, Box::from(key)));
        }
        self.reindex_fields(key, None, fields_at);
        self.watches.touch(key, true);
    }

    /// Drops a slot that left the keyspace from both expiry indexes.
    fn unindex(&mut self, key: &[u8], slot: &Slot) {
        if let Some(at) = slot.expire_at_ms() {
            self.expires.remove(&(at, Box::from(key)));
        }
        self.reindex_fields(key, field_expiry_ms(&slot.value), None);
    }

    /// Moves `key` in the field-expiry index from `before` to `after` (its hash's earliest field
    /// expire time before and after an edit in place).
    pub fn reindex_fields(&mut self, key: &[u8], before: Option<u64>, after: Option<u64>) {
        if before == after {
            return;
        }
        if let Some(at) = before {
            self.field_expires.remove(&(at, Box::from(key)));
        }
        if let Some(at) = after {
            self.field_expires.insert((at, Box::from(key)));
        }
    }

    /// Replaces the value of a live key and keeps its TTL; inserts without TTL otherwise.
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value, now_ms: u64) {
        match self.lookup_mut(key, now_ms) {
            Some(slot) => {
                let before = field_expiry_ms(&slot.value);
                let after = field_expiry_ms(&value);
                let old = std::mem::replace(&mut slot.value, value);
                let was_stream = matches!(old, Value::Stream(_));
                self.reindex_fields(key, before, after);
                if was_stream {
                    self.streams_gone.push(key.into());
                }
            }
            None => self.set(key, value, None, now_ms),
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Slot> {
        let slot = self.keys.remove(key)?;
        self.unindex(key, &slot);
        self.watches.touch(key, false);
        self.note_if_stream(key, &slot.value);
        Some(slot)
    }

    fn note_if_stream(&mut self, key: &[u8], value: &Value) {
        if matches!(value, Value::Stream(_)) {
            self.streams_gone.push(key.into());
        }
    }

    /// Sets or clears the TTL of an existing key; false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: Option<u64>) -> bool {
        let expire_at_ms = expire_at_ms.filter(|&at| at != 0);
        let Some(slot) = self.keys.get_mut(key) else {
            return false;
        };
        let old = std::mem::replace(
            &mut slot.expire_at_ms,
            expire_at_ms.and_then(NonZeroU64::new),
        )
        .map(NonZeroU64::get);
        if let Some(at) = old {
            self.expires.remove(&(at, Box::from(key)));
        }
        if let Some(at) = expire_at_ms {
            self.expires.insert((at, Box::from(key)));
        }
        self.watches.touch(key, true);
        true
    }

    /// Removes up to `keys_max` keys with `expire_at_ms < now_ms`, earliest first.
    pub fn remove_expired(&mut self, now_ms: u64, keys_max: usize) -> usize {
        let mut removed = 0;
        while removed < keys_max {
            match self.expires.first() {
                Some((at, _)) if *at < now_ms => {}
                _ => break,
            }
            let (at, key) = self.expires.pop_first().expect("first exists");
            let slot = self.keys.remove(&key);
            debug_assert!(
                slot.as_ref().is_some_and(|s| s.expire_at_ms() == Some(at)),
                "index and keyspace agree"
            );
            if let Some(slot) = slot {
                self.reindex_fields(&key, field_expiry_ms(&slot.value), None);
            }
            self.watches.touch(&key, false);
            if let Some(expired) = &mut self.expired_now {
                expired.push(key);
            }
            removed += 1;
        }
        removed
    }

    /// Removes up to `fields_max` hash fields with an expire time before `now_ms`: hashes in
    /// order of their earliest field TTL (then key), each hash's fields earliest first. A hash
    /// left empty is deleted. Returns the number of fields removed.
    pub fn remove_expired_fields(&mut self, now_ms: u64, fields_max: usize) -> usize {
        let mut removed = 0;
        while removed < fields_max {
            match self.field_expires.first() {
                Some((at, _)) if *at < now_ms => {}
                _ => break,
            }
            let (at, key) = self.field_expires.pop_first().expect("first exists");
            let Some(Value::Hash(hash)) = self.keys.get_mut(&key).map(|s| &mut s.value) else {
                debug_assert!(false, "field index names a hash");
                continue;
            };
            debug_assert_eq!(
                hash.next_expiry_ms(),
                Some(at),
                "field index and hash agree"
            );
            let fields = hash.remove_expired(now_ms, fields_max - removed);
            removed += fields;
            let (next, empty) = (hash.next_expiry_ms(), hash.is_empty());
            // Popped above: the index now holds nothing for this key.
            self.reindex_fields(&key, None, next);
            if empty {
                self.remove(&key);
            } else {
                self.watches.touch(&key, true);
            }
            if let Some(hexpired) = self.hexpired_now.as_mut().filter(|_| fields > 0) {
                hexpired.push((key, empty));
            }
        }
        removed
    }

    /// The earliest expire time of any hash field.
    pub fn next_field_expiry_ms(&self) -> Option<u64> {
        self.field_expires.first().map(|(at, _)| *at)
    }

    /// Panics unless the field-expiry index names exactly the hashes with field TTLs, each by
    /// its earliest one. For tests: it walks the whole keyspace.
    pub fn assert_field_index(&self) {
        let expected: BTreeSet<(u64, Box<[u8]>)> = self
            .keys
            .iter()
            .filter_map(|(key, slot)| field_expiry_ms(&slot.value).map(|at| (at, key.into())))
            .collect();
        assert_eq!(
            expected, self.field_expires,
            "field-expiry index out of step"
        );
    }

    /// The earliest expire time, if any key has one.
    pub fn next_expiry_ms(&self) -> Option<u64> {
        self.expires.first().map(|(at, _)| *at)
    }

    pub fn clear(&mut self) {
        self.touch_all_watched(None, 0);
        self.keys.clear();
        self.expires.clear();
        self.field_expires.clear();
    }

    pub fn reseed(&mut self, seed: u64) {
        let keys = std::mem::replace(&mut self.keys, Dict::new(seed));
        self.keys = keys.reseeded(seed);
    }
}

// A slot is one per key: the access data fits in what the value and expire time leave of 40
// bytes.
const _: () = assert!(std::mem::size_of::<Slot>() == 40);
