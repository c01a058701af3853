//! One node process between two crashes: an incarnation, its engine replica, its request and
//! message counters, the group-commit batch, the one message in flight, and the clients
//! waiting for their entries to come back from the log.

use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_engine::{Body, Engine, Entry, Origin};

use crate::log::MsgId;

/// Logical databases every engine is configured with.
pub const DATABASES: usize = 16;

/// Who waits for an entry the node issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiter {
    /// A client write: the index of its operation in the simulation's history.
    Client(usize),
    /// The node's own housekeeping (tick, lazy-expiry entries): nobody waits.
    Internal,
}

/// The message the node is appending: the same id and bytes on every retry.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub id: MsgId,
    pub records: Vec<Bytes>,
    /// The step of the next attempt.
    pub next_attempt: u64,
    pub attempts: u32,
}

/// A linearizable read waiting for its barrier.
#[derive(Clone, Debug)]
pub struct PendingRead {
    pub op: usize,
    /// The log's tail when the read arrived: it is answered once `applied >= barrier`.
    pub barrier: u64,
}

pub struct Node {
    pub incarnation: u64,
    pub engine: Engine,
    /// The seq of the last message applied.
    pub applied: u64,
    request: u64,
    message: u64,
    /// Entries issued since the last message was formed, in request order.
    pub outgoing: Vec<Bytes>,
    pub in_flight: Option<InFlight>,
    /// Issued entries not yet applied, by request.
    pub pending: BTreeMap<u64, Waiter>,
    pub reads: Vec<PendingRead>,
    /// No delivery from the log before this step.
    pub delayed_until: u64,
}

impl Node {
    /// A node that starts from `engine`, the state at log position `applied`.
    pub fn new(incarnation: u64, engine: Engine, applied: u64) -> Node {
        assert_ne!(incarnation, 0, "origin node 0 means 'no writer'");
        Node {
            incarnation,
            engine,
            applied,
            request: 0,
            message: 0,
            outgoing: Vec::new(),
            in_flight: None,
            pending: BTreeMap::new(),
            reads: Vec::new(),
            delayed_until: 0,
        }
    }

    /// Issues an entry: the next request of this incarnation, queued for the next message.
    pub fn issue(
        &mut self,
        db: u32,
        time_ms: u64,
        seed: u64,
        body: Body,
        waiter: Waiter,
    ) -> Origin {
        self.request += 1;
        let origin = Origin {
            node: self.incarnation,
            request: self.request,
        };
        let entry = Entry {
            db,
            time_ms,
            seed,
            origin,
            body,
        };
        self.outgoing.push(entry.encode());
        self.pending.insert(self.request, waiter);
        origin
    }

    /// Group commit: when nothing is in flight, everything issued since the last message
    /// becomes the next message. Returns whether a new message was formed.
    pub fn form_message(&mut self, step: u64) -> bool {
        if self.in_flight.is_some() || self.outgoing.is_empty() {
            return false;
        }
        self.message += 1;
        self.in_flight = Some(InFlight {
            id: MsgId {
                incarnation: self.incarnation,
                counter: self.message,
            },
            records: std::mem::take(&mut self.outgoing),
            next_attempt: step,
            attempts: 0,
        });
        true
    }

    /// Whether the node has nothing left to do: no entries queued, in flight or unapplied,
    /// no read waiting.
    pub fn is_idle(&self) -> bool {
        self.outgoing.is_empty()
            && self.in_flight.is_none()
            && self.pending.is_empty()
            && self.reads.is_empty()
    }
}
