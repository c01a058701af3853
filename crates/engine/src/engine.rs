//! `Engine`: the deterministic state machine. `apply(entry)` is the only way replicated state
//! changes; it reads time and randomness from the entry alone. `read` runs a read-only command
//! against current state with the node's clock (to hide keys that expired since the last
//! entry), and cannot change replicated state: it only gets `&Engine`.

use bytes::Bytes;
use cairn_resp::Reply;

use std::collections::BTreeMap;

use crate::acl::Users;
use crate::db::Db;
use crate::entry::{Body, Entry, Origin};
use crate::notify::{self, Event};
use crate::table::{self, Handler, Spec};
use crate::types::Encodings;
use crate::watch::{Watcher, WatcherId};

/// A small deterministic generator (SplitMix64), seeded from a log entry.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// What a write handler sees: the whole engine (MOVE, SWAPDB and FLUSHALL span databases),
/// the selected database, the entry's time and a generator seeded from the entry.
pub struct WriteCtx<'a> {
    pub engine: &'a mut Engine,
    pub db: usize,
    pub now_ms: u64,
    pub rng: Rng,
}

impl WriteCtx<'_> {
    pub fn db(&mut self) -> &mut Db {
        &mut self.engine.dbs[self.db]
    }

    /// Records a keyspace notification event for `key` in the selected database, if the node
    /// asked for its class (Redis's `notifyKeyspaceEvent`).
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        self.notify_in(db, class, event, key);
    }

    /// `notify` for a key of database `db` (MOVE, COPY name the destination's).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        if self.engine.notify_classes & class != 0 {
            // Keys the write's lookups found expired, and keys it added, come first, as in
            // Redis.
            self.engine.collect_keyspace_events();
            self.engine.events.push(Event {
                db,
                class,
                event,
                key: key.into(),
            });
        }
    }

    /// Says how many changes the command made, as Redis adds them to `server.dirty` (0 for a
    /// write that changed nothing); commands that do not call it count as one, or none when
    /// they answer an error.
    pub fn dirty(&mut self, changes: u64) {
        self.engine.dirty = Some(changes);
    }

    /// Records that `key` (in the selected database) now holds elements a blocked client may
    /// be waiting for: list pushes and sorted-set additions call it.
    pub fn signal_ready(&mut self, key: &[u8]) {
        let db = self.db;
        self.signal_ready_in(db, key);
    }

    /// `signal_ready` for a key of database `db` (MOVE, COPY).
    pub fn signal_ready_in(&mut self, db: usize, key: &[u8]) {
        if !self
            .engine
            .ready_keys
            .iter()
            .any(|(d, k)| *d == db && **k == *key)
        {
            self.engine.ready_keys.push((db, key.into()));
        }
    }

    /// Records that any key of database `db` may now hold what a blocked client waits for
    /// (SWAPDB brings in a whole database).
    pub fn signal_ready_db(&mut self, db: usize) {
        if !self.engine.ready_dbs.contains(&db) {
            self.engine.ready_dbs.push(db);
        }
    }
}

/// What a read handler sees. `now_ms` is the node's clock (never earlier than the engine's
/// logical time); `rng` is the node's own randomness: reads are not replicated.
pub struct ReadCtx<'a> {
    pub engine: &'a Engine,
    pub db: usize,
    pub now_ms: u64,
    pub rng: Rng,
}

impl ReadCtx<'_> {
    pub fn db(&self) -> &Db {
        &self.engine.dbs[self.db]
    }
}

pub struct Engine {
    pub(crate) dbs: Vec<Db>,
    /// Logical time: the max `time_ms` of every applied entry.
    now_ms: u64,
    hash_seed: u64,
    /// The newest request applied from each writer (a node incarnation). A log may deliver an
    /// entry twice (JetStream stores a retried append again once its duplicate window has
    /// passed); the copy is skipped, identically on every node, because a writer's requests
    /// reach the log in increasing order.
    pub(crate) writers: BTreeMap<u64, Writer>,
    /// The housekeeping lease as the log granted it: (epoch, holder node); epoch 0 = none.
    pub(crate) lease: (u64, u64),
    /// The thresholds that choose collection representations (replicated).
    pub(crate) encodings: Encodings,
    /// Users and their ACL rules (replicated).
    pub(crate) users: Users,
    /// The user a `Script` entry runs as, while it is applied (its scripts' calls are
    /// checked against that user's rules); `None` otherwise.
    pub(crate) caller: Option<Bytes>,
    /// A `Script` entry that its node accepted over `maxmemory` is being applied.
    pub(crate) oom: bool,
    /// Clients watching keys for a transaction (replicated: WATCH is an entry).
    pub(crate) watchers: BTreeMap<WatcherId, Watcher>,
    /// (db, key) of every key the last applied entry gave elements a blocked client may be
    /// waiting for (list and sorted-set pushes). Node-local bookkeeping, not replicated:
    /// cleared when the next entry applies.
    ready_keys: Vec<(usize, Box<[u8]>)>,
    /// Databases whose every key the last applied entry may have made ready (SWAPDB).
    /// Node-local, like `ready_keys`.
    ready_dbs: Vec<usize>,
    /// What the last applied entry's command adds to Redis's `server.dirty` (INFO's
    /// `rdb_changes_since_last_save`), when its handler says so (`WriteCtx::dirty`): a write
    /// that changed nothing reports 0. `None`: the node counts one (none for an error reply).
    /// Node-local, per entry.
    dirty: Option<u64>,
    /// The row the node resolved the entry's command to (its own entries), so the apply
    /// does not look the name up again. Node-local, per entry.
    resolved: Option<&'static Spec>,
    /// Keyspace notification classes the node wants (`notify-keyspace-events`; node-local).
    notify_classes: u32,
    /// Events of the last applied entry, for those classes. Node-local, cleared per entry.
    events: Vec<Event>,
    /// `list-compress-depth` (node-local): how DUMP compresses a list's inner nodes.
    list_compress_depth: usize,
    /// EVAL's script cache and FUNCTION's libraries (replicated), and the Lua VMs.
    pub(crate) scripting: crate::script::Scripting,
    /// A clock the node lends (monotonic µs) to time an EXEC's commands one by one; the engine
    /// only notes its readings (`exec_times`), which never reach state or a reply.
    exec_clock: Option<fn() -> u64>,
    /// The lent clock's readings in the last EXEC entry: before its first command and after
    /// each. Node-local, like `events`.
    pub(crate) exec_times: Vec<u64>,
    /// Commands run inside an entry or a read, recorded while a client monitors (node-local).
    pub(crate) tap: crate::tap::Tap,
}

/// What the engine remembers of one writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Writer {
    pub request: u64,
    /// Logical time of its newest entry: writers silent for `WRITER_HORIZON_MS` are forgotten.
    pub time_ms: u64,
}

/// How long a silent writer is remembered. A duplicate needs a retry that outlived the log's
/// own duplicate window; an hour is far beyond any retry.
pub const WRITER_HORIZON_MS: u64 = 60 * 60 * 1000;

/// The seed a fresh engine hashes with until the log's Init entry sets the real one.
const HASH_SEED_DEFAULT: u64 = 0x5eed;

impl Engine {
    pub fn new(databases: usize) -> Engine {
        Engine::with_seed(databases, HASH_SEED_DEFAULT, 0)
    }

    pub(crate) fn with_seed(databases: usize, hash_seed: u64, now_ms: u64) -> Engine {
        let dbs = (0..databases).map(|_| Db::new(hash_seed)).collect();
        Engine {
            dbs,
            now_ms,
            hash_seed,
            writers: BTreeMap::new(),
            lease: (0, 0),
            encodings: Encodings::default(),
            users: Users::new(),
            caller: None,
            oom: false,
            watchers: BTreeMap::new(),
            ready_keys: Vec::new(),
            ready_dbs: Vec::new(),
            dirty: None,
            resolved: None,
            notify_classes: 0,
            events: Vec::new(),
            list_compress_depth: 0,
            scripting: crate::script::Scripting::new(),
            exec_clock: None,
            exec_times: Vec::new(),
            tap: crate::tap::Tap::default(),
        }
    }

    /// The node holding the housekeeping lease, once a Lease entry has been applied.
    pub fn lease_holder(&self) -> Option<u64> {
        (self.lease.0 > 0).then_some(self.lease.1)
    }

    /// The lease's epoch (0: never granted).
    pub fn lease_epoch(&self) -> u64 {
        self.lease.0
    }

    /// The keys the last applied entry made ready for blocked clients, as (db, key).
    pub fn ready_keys(&self) -> &[(usize, Box<[u8]>)] {
        &self.ready_keys
    }

    /// The databases the last applied entry made ready as a whole: a client blocked on any
    /// key of one should try again.
    pub fn ready_dbs(&self) -> &[usize] {
        &self.ready_dbs
    }

    /// How many changes the last applied entry's command made, when its handler counted them
    /// as Redis does (`server.dirty`); `None` when it did not say.
    pub fn dirty(&self) -> Option<u64> {
        self.dirty
    }

    /// Swaps the command's change count (`exec::run_command` keeps a nested command's count
    /// out of the script or transaction that called it).
    pub(crate) fn replace_dirty(&mut self, dirty: Option<u64>) -> Option<u64> {
        std::mem::replace(&mut self.dirty, dirty)
    }

    pub fn encodings(&self) -> &Encodings {
        &self.encodings
    }

    /// EVAL's script cache and FUNCTION's libraries.
    pub fn scripting(&self) -> &crate::script::Scripting {
        &self.scripting
    }

    /// The commands recorded for MONITOR (node-local; off unless the node turns it on).
    pub fn tap(&self) -> &crate::tap::Tap {
        &self.tap
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    pub(crate) fn users_mut(&mut self) -> &mut Users {
        &mut self.users
    }

    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[index]
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    pub fn hash_seed(&self) -> u64 {
        self.hash_seed
    }

    /// Applies one entry read from the log: `None` when it repeats a request its writer already
    /// had applied (the copy changes nothing). Entries without an origin node (0) are never
    /// filtered.
    pub fn apply_logged(&mut self, entry: &Entry) -> Option<Reply> {
        let Origin { node, request } = entry.origin;
        if node != 0 {
            match self.writers.get_mut(&node) {
                Some(w) if request <= w.request => return None,
                Some(w) => {
                    w.request = request;
                    w.time_ms = w.time_ms.max(entry.time_ms);
                }
                None => {
                    let now = self.now_ms.max(entry.time_ms);
                    self.writers
                        .retain(|_, w| w.time_ms.saturating_add(WRITER_HORIZON_MS) >= now);
                    self.writers.insert(
                        node,
                        Writer {
                            request,
                            time_ms: entry.time_ms,
                        },
                    );
                }
            }
        }
        Some(self.apply(entry))
    }

    /// [`Engine::apply_logged`] for an entry whose command the node has resolved to `spec`
    /// already (it made the entry); the apply then skips the name lookup.
    pub fn apply_logged_resolved(
        &mut self,
        entry: &Entry,
        spec: Option<&'static Spec>,
    ) -> Option<Reply> {
        self.resolved = spec;
        let reply = self.apply_logged(entry);
        self.resolved = None;
        reply
    }

    /// Writers (node incarnations) the duplicate filter currently remembers.
    pub fn writers_known(&self) -> usize {
        self.writers.len()
    }

    /// Applies one entry and returns the reply for its origin, without the duplicate filter
    /// (tests and tools; the log's records go through [`Engine::apply_logged`]).
    pub fn apply(&mut self, entry: &Entry) -> Reply {
        self.ready_keys.clear();
        self.ready_dbs.clear();
        self.dirty = None;
        self.events.clear();
        self.users.begin_entry();
        let reply = self.apply_body(entry);
        self.collect_keyspace_events();
        for (db, state) in self.dbs.iter_mut().enumerate() {
            if state.streams_gone.is_empty() {
                continue;
            }
            for key in state.streams_gone.drain(..) {
                if !self.ready_keys.iter().any(|(d, k)| *d == db && *k == key) {
                    self.ready_keys.push((db, key));
                }
            }
        }
        reply
    }

    /// Turns what the databases recorded since the last call into events: "expired" per key
    /// removed because it expired, "new" per key added, then "hexpired" per hash that ticks
    /// removed fields from, and "del" for such a hash left empty.
    fn collect_keyspace_events(&mut self) {
        // Nothing records events while notifications are off.
        if self.notify_classes == 0 {
            return;
        }
        if self.notify_classes & notify::EXPIRED != 0 {
            for (db, state) in self.dbs.iter_mut().enumerate() {
                let Some(expired) = &mut state.expired_now else {
                    continue;
                };
                for key in expired.drain(..) {
                    self.events.push(Event {
                        db,
                        class: notify::EXPIRED,
                        event: "expired",
                        key,
                    });
                }
            }
        }
        for (db, state) in self.dbs.iter_mut().enumerate() {
            let Some(new) = &mut state.new_now else {
                continue;
            };
            for key in new.drain(..) {
                self.events.push(Event {
                    db,
                    class: notify::NEW,
                    event: "new",
                    key,
                });
            }
        }
        let classes = self.notify_classes;
        for (db, state) in self.dbs.iter_mut().enumerate() {
            let Some(hexpired) = &mut state.hexpired_now else {
                continue;
            };
            for (key, deleted) in hexpired.drain(..) {
                if classes & notify::HASH != 0 {
                    self.events.push(Event {
                        db,
                        class: notify::HASH,
                        event: "hexpired",
                        key: key.clone(),
                    });
                }
                if deleted && classes & notify::GENERIC != 0 {
                    self.events.push(Event {
                        db,
                        class: notify::GENERIC,
                        event: "del",
                        key,
                    });
                }
            }
        }
    }

    /// Asks for keyspace notification events of `classes` (the `notify-keyspace-events`
    /// flags); 0 turns them off.
    pub fn set_notify(&mut self, classes: u32) {
        self.notify_classes = if notify::active(classes) { classes } else { 0 };
        let expired = self.notify_classes & notify::EXPIRED != 0;
        let hexpired = self.notify_classes & (notify::HASH | notify::GENERIC) != 0;
        let new = self.notify_classes & notify::NEW != 0;
        for db in &mut self.dbs {
            db.expired_now = expired.then(Vec::new);
            db.hexpired_now = hexpired.then(Vec::new);
            db.new_now = new.then(Vec::new);
        }
    }

    /// Sets what the node tracks on each key access (its eviction policy's needs; node-local).
    pub fn set_tracking(&mut self, tracking: crate::evict::Tracking) {
        for db in &mut self.dbs {
            db.access.tracking = tracking;
        }
    }

    /// Lends the engine a clock (monotonic µs) to time each command of an EXEC entry; `None`
    /// stops it. Observation only: what the clock says never changes state or replies.
    pub fn set_exec_clock(&mut self, clock: Option<fn() -> u64>) {
        self.exec_clock = clock;
    }

    /// The lent clock's readings during the last EXEC entry applied: before its first command
    /// and after each (empty without a clock, or when the transaction aborted).
    pub fn exec_times(&self) -> &[u64] {
        &self.exec_times
    }

    /// Notes a reading of the lent clock (EXEC, between its commands).
    pub(crate) fn note_exec_time(&mut self) {
        if let Some(clock) = self.exec_clock {
            self.exec_times.push(clock());
        }
    }

    /// Sets `list-compress-depth`: the quicklist nodes DUMP leaves uncompressed at each end
    /// of a list (0: none compressed). Node-local; a payload decodes the same either way.
    pub fn set_list_compress_depth(&mut self, depth: usize) {
        self.list_compress_depth = depth;
    }

    pub fn list_compress_depth(&self) -> usize {
        self.list_compress_depth
    }

    /// The flags the script of a script command would run with (`Scripting::flags_of`).
    pub fn script_flags(&self, argv: &[Bytes]) -> Option<u32> {
        self.scripting.flags_of(argv)
    }

    /// The keyspace notification events of the last applied entry.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    fn apply_body(&mut self, entry: &Entry) -> Reply {
        self.now_ms = self.now_ms.max(entry.time_ms);
        let db = entry.db as usize;
        if db >= self.dbs.len() {
            return Reply::error_static("ERR DB index is out of range");
        }
        match &entry.body {
            Body::Command(argv) => self.apply_command(db, entry.seed, argv),
            Body::Script { user, oom, argv } => {
                self.caller = user.clone();
                self.oom = *oom;
                let reply = self.apply_command(db, entry.seed, argv);
                self.caller = None;
                self.oom = false;
                reply
            }
            Body::Tick { .. } if self.lease.0 > 0 && entry.origin.node != self.lease.1 => {
                // From a node that no longer holds the lease.
                Reply::Int(0)
            }
            Body::Tick { keys_max } => {
                // One budget for expired keys, then expired hash fields; the reply counts both,
                // so a tick that used it all tells the node to tick again.
                let mut left = *keys_max as usize;
                let now_ms = self.now_ms;
                self.forget_old_watches(now_ms);
                for db in &mut self.dbs {
                    left -= db.remove_expired(now_ms, left);
                }
                for db in &mut self.dbs {
                    left -= db.remove_expired_fields(now_ms, left);
                }
                Reply::Int((*keys_max as usize - left) as i64)
            }
            Body::Expire { keys } => {
                let now_ms = self.now_ms;
                let db = &mut self.dbs[db];
                let removed = keys.iter().filter(|k| db.expire_if_due(k, now_ms)).count();
                Reply::Int(removed as i64)
            }
            Body::Evict { keys } => Reply::Int(self.evict(keys) as i64),
            Body::Lease { epoch } => {
                let granted = *epoch > self.lease.0;
                if granted {
                    self.lease = (*epoch, entry.origin.node);
                }
                Reply::Int(i64::from(granted))
            }
            Body::Config { pairs } => {
                // Validated by the node that made the entry; anything else is skipped the same
                // way on every node.
                for pair in pairs.chunks_exact(2) {
                    let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                    if let Some(value) = crate::commands::parse_i64(&pair[1]) {
                        let _ = self.encodings.set(&name, value);
                    }
                }
                Reply::ok()
            }
            Body::Users { lines } => match self.users.load(lines) {
                Ok(()) => Reply::ok(),
                Err(reply) => reply,
            },
            Body::Watch { client, keys } => {
                let now_ms = self.now_ms;
                self.watch((entry.origin.node, *client), db, keys, now_ms);
                Reply::ok()
            }
            Body::Unwatch { client } => {
                self.unwatch((entry.origin.node, *client));
                Reply::ok()
            }
            Body::Exec {
                client,
                watching,
                commands,
            } => {
                let id = (entry.origin.node, *client);
                let now_ms = self.now_ms;
                let aborted = *watching && self.watch_failed(id, now_ms);
                self.unwatch(id);
                self.exec_times.clear();
                if aborted {
                    return Reply::NilArray;
                }
                let mut ctx = WriteCtx {
                    engine: self,
                    db,
                    now_ms,
                    rng: Rng::new(entry.seed),
                };
                crate::exec::exec(&mut ctx, commands)
            }
            Body::Init { hash_seed } => {
                self.hash_seed = *hash_seed;
                for db in &mut self.dbs {
                    db.reseed(*hash_seed);
                }
                Reply::ok()
            }
        }
    }

    /// Deletes the keys an Evict entry names that still exist (one that has expired meanwhile
    /// goes as expired): "evicted" events, watchers touched. Returns how many were evicted.
    fn evict(&mut self, keys: &[(u32, Bytes)]) -> usize {
        let now_ms = self.now_ms;
        let mut evicted = 0;
        for (db, key) in keys {
            let db = *db as usize;
            let Some(state) = self.dbs.get_mut(db) else {
                continue;
            };
            if state.expire_if_due(key, now_ms) || state.remove(key).is_none() {
                continue;
            }
            evicted += 1;
            if self.notify_classes & notify::EVICTED != 0 {
                self.collect_keyspace_events();
                self.events.push(Event {
                    db,
                    class: notify::EVICTED,
                    event: "evicted",
                    key: key[..].into(),
                });
            }
        }
        evicted
    }

    /// A logged write command, run by its row's apply function.
    fn apply_command(&mut self, db: usize, seed: u64, argv: &[Bytes]) -> Reply {
        // The node's row stands for this command when it is a top-level row of that name
        // (arity was checked with it); otherwise the table decides.
        let resolved = match self.resolved.take() {
            Some(spec)
                if spec.subcommands.is_empty()
                    && spec.name.as_bytes().eq_ignore_ascii_case(&argv[0]) =>
            {
                Ok(spec)
            }
            _ => table::resolve(argv),
        };
        let apply = match resolved {
            Ok(spec) => match spec.handler {
                Handler::Write(_, apply) => apply,
                _ => return Reply::error_static("ERR command is not a write"),
            },
            Err((_, reply)) => return reply,
        };
        let now_ms = self.now_ms;
        let mut ctx = WriteCtx {
            engine: self,
            db,
            now_ms,
            rng: Rng::new(seed),
        };
        apply(&mut ctx, argv)
    }

    /// Runs a read-only handler with the node's clock and randomness.
    pub fn read(
        &self,
        read: table::ReadFn,
        db: usize,
        argv: &[Bytes],
        clock_ms: u64,
        random: u64,
    ) -> Reply {
        let mut ctx = ReadCtx {
            engine: self,
            db,
            now_ms: clock_ms.max(self.now_ms),
            rng: Rng::new(random),
        };
        read(&mut ctx, argv)
    }

    /// Keys or hash fields with an expire time before `clock_ms`, across databases: whether a
    /// tick entry is worth appending.
    pub fn expired_keys_due(&self, clock_ms: u64) -> bool {
        self.dbs.iter().any(|db| {
            let due = |at: Option<u64>| at.is_some_and(|at| at < clock_ms);
            due(db.next_expiry_ms()) || due(db.next_field_expiry_ms())
        })
    }

    /// Keys that reads found expired, by database, since the last call: the node turns them
    /// into Expire entries.
    pub fn take_seen_expired(&self) -> Vec<(usize, Vec<Box<[u8]>>)> {
        let mut out = Vec::new();
        for (i, db) in self.dbs.iter().enumerate() {
            let keys = db.take_seen_expired();
            if !keys.is_empty() {
                out.push((i, keys));
            }
        }
        out
    }

    /// SWAPDB: the databases trade keys; watches stay with their index, and every watched key
    /// that changes is touched.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let now_ms = self.now_ms;
        let (low, high) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(high);
        let (x, y) = (&mut left[low], &mut right[0]);
        x.touch_all_watched(Some(&y.keys), now_ms);
        y.touch_all_watched(Some(&x.keys), now_ms);
        std::mem::swap(x, y);
        std::mem::swap(&mut x.watches, &mut y.watches);
    }

    pub fn db_mut(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }
}
