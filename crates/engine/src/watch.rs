//! WATCH: optimistic locking for transactions, decided by the log alone.
//!
//! WATCH, UNWATCH and EXEC are log entries, so every node registers the same watches at the
//! same log position and sees the same writes touch them: whether an EXEC commits is a pure
//! function of the log, as Redis decides it on one server (`multi.c`). A database keeps, for
//! each watched key, who watches it and whether the key was already expired at WATCH time;
//! every change to a key goes through `Db`'s mutators, which call `touch`. A watcher is dirty
//! once a key it watches was touched; EXEC of a dirty watcher answers a null array.
//!
//! A node that dies leaves its clients' watches behind; ticks forget watches older than
//! `WATCH_HORIZON_MS` (an EXEC after that aborts, as if a key had been touched).
//!
//! Architecture invariant: a write nobody watches pays one `is_empty` check here.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::db::Db;
use crate::dict::Dict;
use crate::engine::Engine;

/// A watching client: (origin node, client id on that node).
pub type WatcherId = (u64, u64);

/// How long an idle WATCH is kept: far beyond any transaction a client means to finish.
pub const WATCH_HORIZON_MS: u64 = 24 * 60 * 60 * 1000;

/// One database's watched keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbWatches {
    keys: BTreeMap<Box<[u8]>, Vec<WatchedKey>>,
    /// Watchers a touch of one of this database's keys made dirty.
    dirty: BTreeSet<WatcherId>,
}

#[derive(Clone, Debug, PartialEq)]
struct WatchedKey {
    watcher: WatcherId,
    /// The key existed but had expired when it was watched: its deletion changes nothing.
    expired: bool,
}

impl DbWatches {
    /// A write changed `key`; `present` says whether the key is in the keyspace afterwards.
    #[inline]
    pub fn touch(&mut self, key: &[u8], present: bool) {
        if self.keys.is_empty() {
            return;
        }
        self.touch_slow(key, present);
    }

    fn touch_slow(&mut self, key: &[u8], present: bool) {
        let Some(watchers) = self.keys.get_mut(key) else {
            return;
        };
        for w in watchers {
            if w.expired {
                // Deleting a key that had already expired is no logical change; from then on
                // the key is an absent one like any other.
                if !present {
                    w.expired = false;
                }
                continue;
            }
            self.dirty.insert(w.watcher);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A watcher as a snapshot holds it.
pub(crate) struct SavedWatcher {
    pub id: WatcherId,
    pub since_ms: u64,
    pub dirty: bool,
    /// (database, key, expired when watched).
    pub keys: Vec<(usize, Box<[u8]>, bool)>,
}

/// What the engine remembers of one watching client.
#[derive(Clone, Debug, PartialEq)]
pub struct Watcher {
    /// Logical time of its WATCH (for the horizon).
    pub since_ms: u64,
    /// (database, key) in the order they were watched.
    pub keys: Vec<(usize, Box<[u8]>)>,
}

impl Db {
    /// FLUSHDB/FLUSHALL (`replaced_with` = None) and SWAPDB (the database whose keys take this
    /// one's place): touches every watched key that exists now or will exist, except where
    /// an expired key gives way to no key or to another expired key (Redis's
    /// `touchAllWatchedKeysInDb`).
    pub(crate) fn touch_all_watched(
        &mut self,
        replaced_with: Option<&Dict<crate::db::Slot>>,
        now_ms: u64,
    ) {
        if self.watches.is_empty() {
            return;
        }
        let DbWatches { keys, dirty } = &mut self.watches;
        for (key, watchers) in keys.iter_mut() {
            let in_emptied = self.keys.contains_key(key);
            let incoming = replaced_with.and_then(|d| d.get(key));
            if !in_emptied && incoming.is_none() {
                continue;
            }
            let incoming_expired = incoming.is_some_and(|s| s.is_expired(now_ms));
            for w in watchers.iter_mut() {
                if w.expired {
                    if incoming.is_none() {
                        w.expired = false;
                        continue;
                    } else if incoming_expired {
                        continue;
                    }
                } else if !in_emptied && incoming_expired {
                    w.expired = true;
                    continue;
                }
                dirty.insert(w.watcher);
            }
        }
    }
}

impl Engine {
    /// WATCH `keys` of `db` for `id`.
    pub(crate) fn watch(&mut self, id: WatcherId, db: usize, keys: &[Bytes], now_ms: u64) {
        // No point in watching more once dirty: the EXEC fails anyway.
        if self.watcher_dirty(id) {
            return;
        }
        let watcher = self.watchers.entry(id).or_insert_with(|| Watcher {
            since_ms: now_ms,
            keys: Vec::new(),
        });
        watcher.since_ms = watcher.since_ms.max(now_ms);
        let state = &mut self.dbs[db];
        for key in keys {
            if watcher.keys.iter().any(|(d, k)| *d == db && **k == **key) {
                continue;
            }
            watcher.keys.push((db, key[..].into()));
            let expired = state
                .dict()
                .get(key)
                .is_some_and(|slot| slot.is_expired(now_ms));
            state
                .watches
                .keys
                .entry(key[..].into())
                .or_default()
                .push(WatchedKey {
                    watcher: id,
                    expired,
                });
        }
    }

    /// Forgets every watch of `id`.
    pub(crate) fn unwatch(&mut self, id: WatcherId) {
        let Some(watcher) = self.watchers.remove(&id) else {
            return;
        };
        for (db, key) in watcher.keys {
            let watches = &mut self.dbs[db].watches;
            watches.dirty.remove(&id);
            if let Some(list) = watches.keys.get_mut(&key) {
                list.retain(|w| w.watcher != id);
                if list.is_empty() {
                    watches.keys.remove(&key);
                }
            }
        }
    }

    fn watcher_dirty(&self, id: WatcherId) -> bool {
        self.watchers.get(&id).is_some_and(|w| {
            w.keys
                .iter()
                .any(|(db, _)| self.dbs[*db].watches.dirty.contains(&id))
        })
    }

    /// Whether EXEC of a client that watched must abort: its watches are gone (forgotten
    /// past the horizon), one of its keys was touched, or a key that was live when watched
    /// has expired since (Redis's `isWatchedKeyExpired`).
    pub(crate) fn watch_failed(&self, id: WatcherId, now_ms: u64) -> bool {
        let Some(watcher) = self.watchers.get(&id) else {
            return true;
        };
        watcher.keys.iter().any(|(db, key)| {
            let state = &self.dbs[*db];
            if state.watches.dirty.contains(&id) {
                return true;
            }
            let was_expired = state
                .watches
                .keys
                .get(key)
                .and_then(|list| list.iter().find(|w| w.watcher == id))
                .is_some_and(|w| w.expired);
            !was_expired
                && state
                    .dict()
                    .get(key)
                    .is_some_and(|slot| slot.is_expired(now_ms))
        })
    }

    /// Drops watches older than the horizon (clients of nodes that died).
    pub(crate) fn forget_old_watches(&mut self, now_ms: u64) {
        let old: Vec<WatcherId> = self
            .watchers
            .iter()
            .filter(|(_, w)| w.since_ms.saturating_add(WATCH_HORIZON_MS) < now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            self.unwatch(id);
        }
    }

    /// Clients with watches registered (INFO `watching_clients`).
    pub fn watching_clients(&self) -> usize {
        self.watchers.len()
    }

    /// Distinct watched keys across databases (INFO `total_watched_keys`).
    pub fn watched_keys(&self) -> usize {
        self.dbs.iter().map(|db| db.watches.keys.len()).sum()
    }

    /// Every watcher with its keys and flags, for snapshots.
    pub(crate) fn watch_state(&self) -> Vec<SavedWatcher> {
        self.watchers
            .iter()
            .map(|(id, w)| {
                let keys = w
                    .keys
                    .iter()
                    .map(|(db, key)| {
                        let expired = self.dbs[*db]
                            .watches
                            .keys
                            .get(key)
                            .and_then(|list| list.iter().find(|x| x.watcher == *id))
                            .is_some_and(|x| x.expired);
                        (*db, key.clone(), expired)
                    })
                    .collect();
                SavedWatcher {
                    id: *id,
                    since_ms: w.since_ms,
                    dirty: self.watcher_dirty(*id),
                    keys,
                }
            })
            .collect()
    }

    /// Restores one watcher written by `watch_state`.
    pub(crate) fn restore_watcher(&mut self, saved: SavedWatcher) {
        let SavedWatcher {
            id,
            since_ms,
            dirty,
            keys,
        } = saved;
        let mut watcher = Watcher {
            since_ms,
            keys: Vec::with_capacity(keys.len()),
        };
        for (db, key, expired) in keys {
            let watches = &mut self.dbs[db].watches;
            if dirty {
                watches.dirty.insert(id);
            }
            watches
                .keys
                .entry(key.clone())
                .or_default()
                .push(WatchedKey {
                    watcher: id,
                    expired,
                });
            watcher.keys.push((db, key));
        }
        self.watchers.insert(id, watcher);
    }
}
