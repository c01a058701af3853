//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, …) resolved inside the ordered log.
//!
//! A blocking command is first appended like any write. When its entry finds nothing to take,
//! the engine answers `blocked()` and the node parks the client here instead of replying.
//! Every applied entry (this node's or another's) reports the keys it gave elements to
//! (`Engine::ready_keys`), or whole databases (`Engine::ready_dbs`: SWAPDB), which stand for
//! every key a client parked there waits on; for each key, the first parked client waiting on
//! it (arrival order) has its command appended again. The log orders that attempt against
//! every other write, so no two clients, on this node or any other, can take the same
//! element. An attempt that is served wakes the next client waiting on the same keys (the key
//! may hold more); one that finds the key empty again goes back to its place.
//!
//! The session takes no further command from a client while it is blocked (as Redis). A
//! timeout answers the timeout reply (a null array, as Redis 7.0) unless an attempt is in the
//! log, whose outcome then decides. Clients that disconnected are dropped when found.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use cairn_engine::commands::{blocked_argv, blocking_args, is_blocked};
use cairn_engine::{Body, Spec};
use cairn_resp::Reply;

use super::{Core, Msg, ReplyTx};

pub(super) struct Parked {
    id: u64,
    /// The client's id (CLIENT UNBLOCK).
    client: u64,
    spec: &'static Spec,
    db: usize,
    argv: Vec<Bytes>,
    keys: Vec<Bytes>,
    reply: ReplyTx,
    lane: usize,
    /// An attempt is in the log: its outcome decides.
    in_flight: bool,
    /// The timeout passed while an attempt was in the log.
    timed_out: bool,
}

#[derive(Default)]
pub(super) struct Blocked {
    /// Parked clients in arrival order.
    parked: Vec<Parked>,
    /// Attempts in the log, by (lane, arrival order) of the attempt: the parked client's id.
    attempts: HashMap<(usize, u64), u64>,
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

    /// Remembers which client made the blocking command at (lane, order).
    pub(super) fn note_client(&mut self, at: (usize, u64), client: u64) {
        self.clients.insert(at, client);
    }
}

impl Core {
    /// The outcome of a blocking command's entry, made by this node: `Some` is the reply to
    /// send now; `None` means the client stays blocked.
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

    pub(super) fn blocking_outcome(
        &mut self,
        spec: &'static Spec,
        entry_db: u32,
        body: &Body,
        reply: Reply,
        tx: ReplyTx,
        (lane, order): (usize, u64),
    ) -> Option<(ReplyTx, Reply)> {
        let attempt_of = self.blocked.attempts.remove(&(lane, order));
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
                // The keys may hold more: the next client waiting on them tries too.
                for key in &served.keys {
                    self.wake(served.db, key);
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
            lane,
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

    /// The keys the entry just applied made ready: the first client parked on each tries.
    /// A database made ready as a whole (SWAPDB) makes ready every key a client waits on in it.
    pub(super) fn wake_ready(&mut self) {
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
            self.wake(db, &key);
        }
    }

    /// Appends again the command of the first client parked on (`db`, `key`) with no attempt
    /// in the log.
    fn wake(&mut self, db: usize, key: &Bytes) {
        loop {
            let Some(at) = self
                .blocked
                .parked
                .iter()
                .position(|p| !p.in_flight && p.db == db && p.keys.contains(key))
            else {
                return;
            };
            if self.blocked.parked[at].reply.is_closed() {
                self.blocked.parked.remove(at);
                continue;
            }
            let lane = self.blocked.parked[at].lane;
            let order = self.take_order(lane);
            let p = &mut self.blocked.parked[at];
            p.in_flight = true;
            let (id, spec, argv, reply) = (p.id, p.spec, p.argv.clone(), p.reply.clone());
            let client = p.client;
            self.blocked.attempts.insert((lane, order), id);
            self.issue_ordered(
                Body::Command(argv),
                db,
                Some(reply),
                Some(spec),
                (lane, order, client),
            );
            return;
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
