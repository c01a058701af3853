//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, …) resolved inside the ordered
//! log.
//!
//! A blocking command is first appended like any write. When its entry finds nothing to take,
//! the engine answers `blocked()` and the node parks the client here instead of replying.
//! Every applied entry (this node's or another's) reports the keys it gave elements to
//! (`Engine::ready_keys`), or whole databases (`Engine::ready_dbs`: SWAPDB), which stand for
//! every key a client parked there waits on. The log orders every attempt against every
//! other write, so no two clients, on this node or any other, can take the same element.
//!
//! **Serving in Redis's order.** Redis serves the clients a command made servable before it
//! runs the next command from anyone: ready keys in the order they were signalled, each key's
//! clients in the order they blocked, as long as the key holds elements, and keys that a
//! served BLMOVE pushed to after them (`handleClientsBlockedOnKeys`). Here an attempt is an
//! entry, so serving takes a log round trip; the node keeps Redis's observable order with two
//! rules:
//! - *Planning.* For each ready key in order, the node appends at once, in one lane (so the
//!   log keeps their order), the commands of the clients parked on it in arrival order, as
//!   many as the key can serve by the node's state (its length for a list or sorted set;
//!   every waiter for a stream, whose readers need not consume). A served attempt plans its
//!   keys again (they may hold more) and the keys its entry made ready (BLMOVE's
//!   destination) after it; one that finds nothing goes back to its place.
//! - *Holding.* While an attempt planned after an entry of this node is in the log, the node
//!   holds its clients: replies (the pusher's first of all) wait in their lanes, reads wait
//!   instead of running, new writes are not issued. When the last such attempt has been
//!   applied, everything held goes on in order, so a client that reads after its push (or
//!   after any reply) sees the whole chain served, as in Redis. Attempts planned after
//!   another node's entry hold nothing: otherwise a stream of foreign pushes could hold this
//!   node's clients for ever, and the hold would not order those nodes' clients anyway.
//!
//! On one node every entry is the node's own, so the order is Redis's. On a shared log a chain
//! is exact for the waiters of the node that made the entry; another node's waiters are
//! served by later entries, and a client of a third node may see the state in between (the
//! waiters' attempts are not yet in the log). Serving a waiter inside the very entry that
//! made it servable would need the waiters themselves in replicated state, and then a
//! timeout, a disconnection or a node's death would have to travel through the log before
//! the waiter stops taking elements; this design never gives an element to a client that is
//! not there to take it.
//!
//! The session takes no further command from a client while it is blocked (as Redis). A
//! timeout answers the timeout reply (a null array, as Redis 7.0) unless an attempt is in the
//! log, whose outcome then decides. Clients that disconnected are dropped when found.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use cairn_engine::commands::{blocked_argv, blocking_args, is_blocked};
use cairn_engine::table::Group;
use cairn_engine::value::Value;
use cairn_engine::{Body, Spec};
use cairn_resp::Reply;

use super::{Core, Msg, ReplyTx};

/// The lane of every attempt: one lane keeps a plan's attempts in the order they were made.
const ATTEMPT_LANE: usize = 0;

pub(super) struct Parked {
    id: u64,
    /// The client's id (CLIENT UNBLOCK).
    client: u64,
    spec: &'static Spec,
    db: usize,
    argv: Vec<Bytes>,
    keys: Vec<Bytes>,
    reply: ReplyTx,
    /// An attempt is in the log: its outcome decides.
    in_flight: bool,
    /// The timeout passed while an attempt was in the log.
    timed_out: bool,
}

/// An attempt of a parked client's command in the log.
struct Attempt {
    /// The parked client's id.
    id: u64,
    /// Planned after an entry of this node: the node holds its clients until it is applied.
    holds: bool,
}

#[derive(Default)]
pub(super) struct Blocked {
    /// Parked clients in arrival order.
    parked: Vec<Parked>,
    /// Attempts in the log, by (lane, arrival order) of the attempt.
    attempts: HashMap<(usize, u64), Attempt>,
    /// Attempts in the log that hold the node's clients (see the module doc).
    holding: usize,
    /// First attempts of blocking commands in the log, by (lane, arrival order): the client.
    clients: HashMap<(usize, u64), u64>,
    next_id: u64,
}

impl Blocked {
    /// Clients blocked now (INFO `blocked_clients`).
    pub(super) fn count(&self) -> usize {
        self.parked.iter().filter(|p| !p.reply.is_closed()).count()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.parked.iter().position(|p| p.id == id)
    }

    /// Whether an attempt planned after this node's own entry is in the log: replies, reads
    /// and new writes wait until it has been applied.
    pub(super) fn holds(&self) -> bool {
        self.holding > 0
    }

    /// Forgets the attempt at (lane, order); the parked client's id, if it was one.
    fn finish_attempt(&mut self, at: (usize, u64)) -> Option<u64> {
        let attempt = self.attempts.remove(&at)?;
        if attempt.holds {
            self.holding -= 1;
        }
        Some(attempt.id)
    }

    /// Remembers which client made the blocking command at (lane, order).
    pub(super) fn note_client(&mut self, at: (usize, u64), client: u64) {
        self.clients.insert(at, client);
    }
}

impl Core {
    /// Whether a key the parked client at `at` waits on holds a type other than its command's.
    fn waits_on_other_type(&self, spec: &'static Spec, at: usize) -> bool {
        let wanted = match spec.group {
            cairn_engine::table::Group::List => "list",
            cairn_engine::table::Group::SortedSet => "zset",
            cairn_engine::table::Group::Stream => "stream",
            _ => return false,
        };
        let p = &self.blocked.parked[at];
        let db = self.engine.db(p.db);
        let now_ms = self.engine.now_ms();
        p.keys.iter().any(|key| {
            db.get_value(key, now_ms)
                .is_some_and(|value| value.type_name() != wanted)
        })
    }

    /// The outcome of a blocking command's entry, made by this node: `Some` is the reply to
    /// send now; `None` means the client stays blocked.
    pub(super) fn blocking_outcome(
        &mut self,
        spec: &'static Spec,
        entry_db: u32,
        body: &Body,
        reply: Reply,
        tx: ReplyTx,
        (lane, order): (usize, u64),
    ) -> Option<(ReplyTx, Reply)> {
        let attempt_of = self.blocked.finish_attempt((lane, order));
        let client = self.blocked.clients.remove(&(lane, order)).unwrap_or(0);
        // A retry that finds a key it waits on holding another type leaves the client waiting:
        // Redis serves a waiter only from a key of the type it waits for. (A wrong-typed
        // destination, BLMOVE's, is an error for the client, as in Redis.)
        let wrong_type = matches!(&reply, Reply::Error(e) if e.starts_with(b"WRONGTYPE"));
        let waits = is_blocked(&reply)
            || (wrong_type
                && attempt_of
                    .and_then(|id| self.blocked.position(id))
                    .is_some_and(|at| self.waits_on_other_type(spec, at)));
        if !waits {
            if let Some(at) = attempt_of.and_then(|id| self.blocked.position(id)) {
                let served = self.blocked.parked.remove(at);
                // The keys may hold more: the next clients waiting on them try too (planned
                // after this node's own entry, the attempt, so they hold its clients).
                for key in &served.keys {
                    self.serve_key(served.db, key, true);
                }
            }
            return Some((tx, reply));
        }
        if let Some(id) = attempt_of {
            let at = self.blocked.position(id)?;
            let p = &mut self.blocked.parked[at];
            p.in_flight = false;
            if p.timed_out || p.reply.is_closed() {
                let p = self.blocked.parked.remove(at);
                return p.timed_out.then_some((p.reply, Reply::NilArray));
            }
            return None;
        }
        let Body::Command(argv) = body else {
            return Some((tx, reply));
        };
        // XREAD parks the argv its first attempt resolved (`$` as the stream's last ID).
        let argv = &blocked_argv(&reply).unwrap_or_else(|| argv.clone());
        let Some((keys, timeout_ms)) = blocking_args(argv) else {
            return Some((tx, Reply::NilArray));
        };
        self.blocked
            .parked
            .retain(|p| p.in_flight || !p.reply.is_closed());
        self.blocked.next_id += 1;
        let id = self.blocked.next_id;
        self.blocked.parked.push(Parked {
            id,
            client,
            spec,
            db: entry_db as usize,
            argv: argv.clone(),
            keys,
            reply: tx,
            in_flight: false,
            timed_out: false,
        });
        if timeout_ms > 0 {
            let inbox = self.shared.inbox.clone();
            let after = Duration::from_millis(timeout_ms.min(u64::from(u32::MAX) * 1000));
            tokio::task::spawn_local(async move {
                tokio::time::sleep(after).await;
                let _ = inbox.send(Msg::BlockTimeout { id });
            });
        }
        None
    }

    /// Plans the attempts for the keys the entry just applied made ready, in the order it
    /// made them ready (a database made ready as a whole, SWAPDB, makes ready every key a
    /// client waits on in it). `own`: the entry is this node's, so the attempts hold its
    /// clients until they are applied.
    pub(super) fn wake_ready(&mut self, own: bool) {
        if self.blocked.is_empty()
            || (self.engine.ready_keys().is_empty() && self.engine.ready_dbs().is_empty())
        {
            return;
        }
        let mut ready: Vec<(usize, Bytes)> = self
            .engine
            .ready_keys()
            .iter()
            .map(|(db, key)| (*db, Bytes::copy_from_slice(key)))
            .collect();
        for &db in self.engine.ready_dbs() {
            for p in self.blocked.parked.iter().filter(|p| p.db == db) {
                for key in &p.keys {
                    if !ready.iter().any(|(d, k)| *d == db && k == key) {
                        ready.push((db, key.clone()));
                    }
                }
            }
        }
        for (db, key) in ready {
            self.serve_key(db, &key, own);
        }
    }

    /// How many more clients (`db`, `key`) can serve by this node's state, for clients of
    /// `group`: a list's or sorted set's length less the attempts already in the log for
    /// it; `None` for a stream (XREAD takes nothing, and XREADGROUP's outcome depends on the
    /// group), 0 for a missing key or one of another type.
    fn capacity(&self, db: usize, key: &Bytes, group: Group) -> Option<usize> {
        let value = self.engine.db(db).get_value(key, self.engine.now_ms());
        let len = match (group, value) {
            (Group::Stream, _) => return None,
            (Group::List, Some(Value::List(list))) => list.len(),
            (Group::SortedSet, Some(Value::ZSet(zset))) => zset.len(),
            _ => 0,
        };
        let in_flight = self
            .blocked
            .parked
            .iter()
            .filter(|p| p.in_flight && p.db == db && p.keys.contains(key))
            .count();
        Some(len.saturating_sub(in_flight))
    }

    /// Appends again, in arrival order, the commands of the clients parked on (`db`, `key`)
    /// with no attempt in the log, as many as the key can serve. All go in lane 0, so the
    /// log keeps their order.
    fn serve_key(&mut self, db: usize, key: &Bytes, holds: bool) {
        let mut at = 0;
        while at < self.blocked.parked.len() {
            let p = &self.blocked.parked[at];
            if p.in_flight || p.db != db || !p.keys.contains(key) {
                at += 1;
                continue;
            }
            if p.reply.is_closed() {
                self.blocked.parked.remove(at);
                continue;
            }
            let group = p.spec.group;
            match self.capacity(db, key, group) {
                Some(0) if matches!(group, Group::List | Group::SortedSet) => {
                    // Nothing this client can take; a client of another type may still.
                    at += 1;
                    continue;
                }
                _ => {}
            }
            let order = self.take_order(ATTEMPT_LANE);
            let p = &mut self.blocked.parked[at];
            p.in_flight = true;
            let (id, spec, argv, reply) = (p.id, p.spec, p.argv.clone(), p.reply.clone());
            let client = p.client;
            self.blocked
                .attempts
                .insert((ATTEMPT_LANE, order), Attempt { id, holds });
            if holds {
                self.blocked.holding += 1;
            }
            self.issue_ordered(
                Body::Command(argv),
                db,
                Some(reply),
                Some(spec),
                (ATTEMPT_LANE, order, client),
            );
            at += 1;
        }
    }

    /// The attempt at (lane, order) was a copy the engine skipped: its client waits on.
    pub(super) fn attempt_dropped(&mut self, at: (usize, u64)) {
        if let Some(id) = self.blocked.finish_attempt(at)
            && let Some(at) = self.blocked.position(id)
        {
            self.blocked.parked[at].in_flight = false;
        }
    }

    /// The log refused the attempt at (lane, order): its client got the error, so it is no
    /// longer parked.
    pub(super) fn attempt_refused(&mut self, at: (usize, u64)) {
        if let Some(id) = self.blocked.finish_attempt(at)
            && let Some(at) = self.blocked.position(id)
        {
            self.blocked.parked.remove(at);
        }
    }

    /// A parked client's timeout passed.
    pub(super) fn block_timeout(&mut self, id: u64) {
        let Some(at) = self.blocked.position(id) else {
            return;
        };
        if self.blocked.parked[at].in_flight {
            self.blocked.parked[at].timed_out = true;
            return;
        }
        let p = self.blocked.parked.remove(at);
        let _ = p.reply.send(Reply::NilArray);
    }

    /// CLIENT UNBLOCK: the parked command of `client` answers now. An attempt already in the
    /// log decides as a timeout would.
    pub fn unblock(&mut self, client: u64, error: bool) -> bool {
        let Some(at) = self
            .blocked
            .parked
            .iter()
            .position(|p| p.client == client && !p.reply.is_closed())
        else {
            return false;
        };
        let out = if error {
            Reply::error_static("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            Reply::NilArray
        };
        if self.blocked.parked[at].in_flight {
            // Its attempt decides; a failed one then answers the timeout reply.
            self.blocked.parked[at].timed_out = true;
            return true;
        }
        let p = self.blocked.parked.remove(at);
        let _ = p.reply.send(out);
        true
    }

    /// Clients blocked now (INFO).
    pub fn blocked_clients(&self) -> usize {
        self.blocked.count()
    }
}
