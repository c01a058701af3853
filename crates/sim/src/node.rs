//! One node process between two crashes: an incarnation, its engine replica, its 8 write
//! lanes (each a writer of its own in the log) sharing one request counter, its publishers
//! (one message in flight each), the read barrier it has in flight, the reads waiting in
//! their lanes, and the housekeeping state (tick in flight, keys being lazily expired).
//!
//! It mirrors `Core` in `crates/server/src/node.rs` and the JetStream publisher in
//! `crates/log/src/jetstream.rs`; the scheduler in [`crate::sim`] drives it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use cairn_engine::{Body, Engine, Entry, Origin};

use crate::log::MsgId;

/// Logical databases every engine is configured with.
pub const DATABASES: usize = 16;

/// Write lanes of a node (`LANES` in the server): a connection always uses the lane of its
/// client id; lane 0 also carries the node's own entries (Tick, Expire, Lease).
pub const LANES: usize = 8;

/// The writer id of `lane` on the node incarnation `incarnation` (incarnations leave room).
pub fn lane_writer(incarnation: u64, lane: usize) -> u64 {
    incarnation + lane as u64
}

/// The lane of a client (connection) id.
pub fn lane_of_client(id: u64) -> usize {
    (id % LANES as u64) as usize
}

/// What an issued entry is, for when it comes back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// A client write: its operation in the simulation's history and its ticket (arrival
    /// order among the client operations of its lane).
    Client { op: usize, ticket: u64 },
    /// Active expiry by the lease holder.
    Tick { keys_max: u32 },
    /// Lazy expiry of keys reads found expired.
    Expire { db: u32, keys: Vec<Bytes> },
    /// The housekeeping lease this node took in the lease service.
    Lease { epoch: u64 },
}

/// An entry issued and not yet applied.
#[derive(Clone, Debug)]
pub struct Issued {
    pub lane: usize,
    pub what: What,
}

/// The message a publisher is appending: the same id and bytes on every retry.
#[derive(Clone, Debug)]
pub struct InFlight {
    pub id: MsgId,
    pub records: Vec<Bytes>,
    /// The step of the next attempt.
    pub next_attempt: u64,
    pub attempts: u32,
}

/// One publisher (`nats-publishers`): a queue of records and at most one message in flight,
/// named `Nats-Msg-Id: <incarnation + p>.<counter>`.
#[derive(Clone, Debug)]
pub struct Publisher {
    /// `incarnation + p`: the first part of its message ids.
    pub id: u64,
    message: u64,
    /// Records queued since its last message was formed, in issue order (all its lanes).
    pub queue: Vec<Bytes>,
    pub in_flight: Option<InFlight>,
}

/// A read waiting in its lane.
#[derive(Clone, Debug)]
pub struct PendingRead {
    pub op: usize,
    pub lane: usize,
    pub ticket: u64,
    /// `issued[lane]` when it arrived: it runs once the lane has resolved that many writes.
    pub mark: u64,
    /// Every lane's `issued` when it arrived (to count reads that did not wait for other
    /// lanes' earlier writes).
    pub issued_at_arrival: [u64; LANES],
    /// The number of the read barrier it waits for (0: none, a session-consistency read).
    pub barrier: u64,
    /// That barrier's position, once acknowledged.
    pub barrier_seq: Option<u64>,
}

/// A write whose entry was applied but whose reply waits behind an earlier read of its lane.
#[derive(Clone, Debug)]
pub struct HeldReply {
    pub ticket: u64,
    pub op: usize,
    pub seq: u64,
    pub reply: String,
}

/// The read barrier in flight: an empty message on the control subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarrierState {
    /// Not stored yet; the next attempt is due at this step.
    Sending { next_attempt: u64 },
    /// Stored at `seq`; the acknowledgement reaches the node at step `at`.
    Acked { seq: u64, at: u64 },
}

pub struct Node {
    pub incarnation: u64,
    pub engine: Engine,
    /// The seq of the last message applied.
    pub applied: u64,
    /// The one request counter of the incarnation, shared by every lane.
    request: u64,
    pub publishers: Vec<Publisher>,
    /// Issued entries not yet applied, by request.
    pub pending: BTreeMap<u64, Issued>,
    /// Per lane: entries issued / resolved (applied); a lane resolves in issue order.
    pub issued: [u64; LANES],
    pub resolved: [u64; LANES],
    next_ticket: [u64; LANES],
    /// Per lane: reads waiting, in arrival order.
    pub waiting: [VecDeque<PendingRead>; LANES],
    /// Per lane: write replies held behind an earlier waiting read, in ticket order.
    pub held: [VecDeque<HeldReply>; LANES],
    pub barriers_sent: u64,
    pub barriers_done: u64,
    pub barrier: Option<BarrierState>,
    pub tick_in_flight: bool,
    /// Keys in an Expire entry not yet resolved (not reported again meanwhile).
    pub expiring: BTreeSet<(u32, Bytes)>,
    /// Its connections: indices into the simulation's clients.
    pub clients: Vec<usize>,
    /// Whether its reads take a barrier (`consistency = "linearizable"`, the default).
    pub linearizable: bool,
    /// `Mode::SharedWriter`: every lane writes as writer `incarnation` (unsafe with more than
    /// one publisher).
    pub shared_writer: bool,
    /// No delivery from the log before this step.
    pub delayed_until: u64,
    /// Before this step its consumer lags: it gets only messages stored `lag_steps` ago.
    pub lag_until: u64,
    pub lag_steps: u64,
    /// Its lease loop does not run before this step (it neither renews nor looks).
    pub lease_stalled_until: u64,
    /// The node clock of its next lease round and of its next housekeeping tick check.
    pub next_lease_ms: u64,
    pub next_tick_ms: u64,
}

impl Node {
    /// A node that starts from `engine`, the state at log position `applied`.
    pub fn new(
        incarnation: u64,
        engine: Engine,
        applied: u64,
        publishers: usize,
        linearizable: bool,
    ) -> Node {
        assert_ne!(incarnation, 0, "origin node 0 means 'no writer'");
        assert!(incarnation < u64::MAX - LANES as u64, "room for every lane");
        assert!((1..=LANES).contains(&publishers));
        Node {
            incarnation,
            engine,
            applied,
            request: 0,
            publishers: (0..publishers)
                .map(|p| Publisher {
                    id: incarnation + p as u64,
                    message: 0,
                    queue: Vec::new(),
                    in_flight: None,
                })
                .collect(),
            pending: BTreeMap::new(),
            issued: [0; LANES],
            resolved: [0; LANES],
            next_ticket: [0; LANES],
            waiting: Default::default(),
            held: Default::default(),
            barriers_sent: 0,
            barriers_done: 0,
            barrier: None,
            tick_in_flight: false,
            expiring: BTreeSet::new(),
            clients: Vec::new(),
            linearizable,
            shared_writer: false,
            delayed_until: 0,
            lag_until: 0,
            lag_steps: 0,
            lease_stalled_until: 0,
            next_lease_ms: 0,
            next_tick_ms: 0,
        }
    }

    /// The publisher of `lane` (`lane % publishers`).
    pub fn publisher_of(&self, lane: usize) -> usize {
        lane % self.publishers.len()
    }

    /// Issues an entry in `lane`: the next request of this incarnation, queued on the lane's
    /// publisher for its next message.
    pub fn issue(
        &mut self,
        lane: usize,
        db: u32,
        time_ms: u64,
        seed: u64,
        body: Body,
        what: What,
    ) -> Origin {
        self.request += 1;
        let writer_lane = if self.shared_writer { 0 } else { lane };
        let origin = Origin {
            node: lane_writer(self.incarnation, writer_lane),
            request: self.request,
        };
        let entry = Entry {
            db,
            time_ms,
            seed,
            origin,
            body,
        };
        let p = self.publisher_of(lane);
        self.publishers[p].queue.push(entry.encode());
        self.pending.insert(self.request, Issued { lane, what });
        self.issued[lane] += 1;
        origin
    }

    /// The next ticket of `lane`: client operations of a lane are answered in ticket order.
    pub fn ticket(&mut self, lane: usize) -> u64 {
        self.next_ticket[lane] += 1;
        self.next_ticket[lane]
    }

    /// Group commit: when publisher `p` has nothing in flight, everything queued on it
    /// becomes its next message. Returns whether a new message was formed.
    pub fn form_message(&mut self, p: usize, step: u64) -> bool {
        let publisher = &mut self.publishers[p];
        if publisher.in_flight.is_some() || publisher.queue.is_empty() {
            return false;
        }
        publisher.message += 1;
        publisher.in_flight = Some(InFlight {
            id: MsgId {
                publisher: publisher.id,
                counter: publisher.message,
            },
            records: std::mem::take(&mut publisher.queue),
            next_attempt: step,
            attempts: 0,
        });
        true
    }

    /// The lane of an entry this node made, from its origin (`None`: another node's).
    pub fn own_lane(&self, origin_node: u64) -> Option<usize> {
        let lane = origin_node.wrapping_sub(self.incarnation);
        (lane < LANES as u64).then_some(lane as usize)
    }

    /// Whether this node does the housekeeping (ticks, snapshots): the holder of the lease as
    /// the log has granted it, by its own engine.
    pub fn housekeeper(&self) -> bool {
        self.engine.lease_holder() == Some(lane_writer(self.incarnation, 0))
    }

    /// The barrier a read arriving now waits for: a new one if none is in flight, else the
    /// next (requested when the one in flight returns, since that one may have been stored
    /// before the read arrived). Returns the barrier's number and whether it was sent now.
    pub fn request_barrier(&mut self, step: u64) -> (u64, bool) {
        if self.barriers_sent == self.barriers_done {
            self.barriers_sent += 1;
            self.barrier = Some(BarrierState::Sending { next_attempt: step });
            (self.barriers_sent, true)
        } else {
            (self.barriers_sent + 1, false)
        }
    }

    /// A barrier came back at `seq`: the reads waiting for it learn their position, and the
    /// next one is requested if reads wait for it. Returns whether a new one was sent.
    pub fn on_barrier(&mut self, seq: u64, step: u64) -> bool {
        self.barriers_done += 1;
        self.barrier = None;
        let done = self.barriers_done;
        let mut more = false;
        for read in self.waiting.iter_mut().flatten() {
            if read.barrier == done {
                read.barrier_seq = Some(seq);
            }
            more |= read.barrier > done;
        }
        if more {
            self.barriers_sent += 1;
            self.barrier = Some(BarrierState::Sending { next_attempt: step });
        }
        more
    }

    /// Whether a waiting read may run: its lane resolved the writes issued before it and,
    /// if it takes a barrier, the node applied up to the barrier's position.
    pub fn runnable(&self, read: &PendingRead) -> bool {
        self.resolved[read.lane] >= read.mark
            && (read.barrier == 0 || read.barrier_seq.is_some_and(|s| s <= self.applied))
    }

    /// Whether the node has nothing left to do: nothing queued, in flight or unapplied, no
    /// read waiting, no reply held, no barrier in flight.
    pub fn is_idle(&self) -> bool {
        self.publishers
            .iter()
            .all(|p| p.queue.is_empty() && p.in_flight.is_none())
            && self.pending.is_empty()
            && self.waiting.iter().all(VecDeque::is_empty)
            && self.held.iter().all(VecDeque::is_empty)
            && self.barrier.is_none()
    }

    /// Records queued on publishers, not yet in a message.
    pub fn queued(&self) -> usize {
        self.publishers.iter().map(|p| p.queue.len()).sum()
    }

    /// The ids of the messages in flight.
    pub fn in_flight_ids(&self) -> Vec<String> {
        self.publishers
            .iter()
            .filter_map(|p| p.in_flight.as_ref().map(|m| m.id.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(publishers: usize) -> Node {
        Node::new(1_000, Engine::new(DATABASES), 0, publishers, true)
    }

    fn tick() -> Body {
        Body::Tick { keys_max: 1 }
    }

    fn origins(records: &[Bytes]) -> Vec<(u64, u64)> {
        records
            .iter()
            .map(|r| Entry::decode_origin(r).expect("decodes"))
            .map(|o| (o.node, o.request))
            .collect()
    }

    #[test]
    fn lanes_are_writers_sharing_one_request_counter() {
        let mut n = node(1);
        for lane in [3, 5, 3] {
            n.issue(lane, 0, 0, 0, tick(), What::Tick { keys_max: 1 });
        }
        assert_eq!((n.issued[3], n.issued[5], n.issued[0]), (2, 1, 0));
        assert!(n.form_message(0, 1));
        let m = n.publishers[0].in_flight.clone().expect("in flight");
        assert_eq!(m.id.to_string(), "1000.1");
        assert_eq!(
            origins(&m.records),
            vec![(1_003, 1), (1_005, 2), (1_003, 3)],
            "one message, every lane, in issue order"
        );
        n.issue(0, 0, 0, 0, tick(), What::Tick { keys_max: 1 });
        assert!(!n.form_message(0, 2), "one message in flight");
        assert_eq!(n.own_lane(1_005), Some(5));
        assert_eq!(n.own_lane(1_008), None);
        assert_eq!(n.own_lane(999), None);
    }

    #[test]
    fn publishers_take_lanes_modulo_their_count() {
        let mut n = node(2);
        for lane in [2, 3, 4] {
            n.issue(lane, 0, 0, 0, tick(), What::Tick { keys_max: 1 });
        }
        assert!(n.form_message(0, 1) && n.form_message(1, 1));
        let ids: Vec<String> = n.in_flight_ids();
        assert_eq!(ids, ["1000.1", "1001.1"]);
        let records = |p: usize| n.publishers[p].in_flight.as_ref().unwrap().records.clone();
        assert_eq!(origins(&records(0)), vec![(1_002, 1), (1_004, 3)]);
        assert_eq!(origins(&records(1)), vec![(1_003, 2)]);
    }

    #[test]
    fn a_read_arriving_during_a_barrier_waits_for_the_next() {
        let mut n = node(1);
        let read = |barrier| PendingRead {
            op: 0,
            lane: 1,
            ticket: 0,
            mark: 0,
            issued_at_arrival: [0; LANES],
            barrier,
            barrier_seq: None,
        };
        assert_eq!(n.request_barrier(5), (1, true));
        n.waiting[1].push_back(read(1));
        assert_eq!(n.request_barrier(6), (2, false));
        n.waiting[1].push_back(read(2));
        assert!(n.on_barrier(40, 7), "the next barrier goes out");
        assert_eq!(n.waiting[1][0].barrier_seq, Some(40));
        assert_eq!(n.waiting[1][1].barrier_seq, None);
        assert_eq!(n.barrier, Some(BarrierState::Sending { next_attempt: 7 }));
        n.applied = 40;
        assert!(n.runnable(&n.waiting[1][0]) && !n.runnable(&n.waiting[1][1]));
        assert!(!n.on_barrier(41, 8));
        assert_eq!(n.barrier, None);
        assert!(!n.runnable(&n.waiting[1][1]), "applied 40 < barrier 41");
    }
}
