//! The scheduler: one loop of simulated steps over nodes, the log, the network, the lease
//! service and the snapshot store, with faults drawn from the seed, and the checks after
//! every step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bytes::Bytes;
use cairn_engine::{Body, Engine, Entry, Origin};

use crate::log::{Appended, Log, Message, MsgId};
use crate::model::{self, Key, Model};
mod append;
mod apply;
mod clients;
mod end;
mod faults;
mod housekeeping;

use crate::node::{
    BarrierState, DATABASES, HeldReply, LANES, Node, PendingRead, What, lane_of_client,
};

/// What the nodes do; the unsafe modes exist to prove that the checks catch their bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The protocol as it should be.
    Safe,
    /// Nodes apply records with `Engine::apply`, without the duplicate filter.
    NoFilter,
    /// Nodes answer reads without waiting for a barrier (only for their lane's writes).
    NoBarrier,
    /// A write's reply leaves as soon as its entry is applied, even while an earlier read of
    /// the same connection still waits for its barrier: what `crates/server/src/node.rs`
    /// does today (`resolve_own` sends at once; the session fills the first empty slot).
    EagerWriteReplies,
    /// Every lane writes as the node's one writer (`origin.node = incarnation`), with at least
    /// two publishers: a writer's requests then reach the log out of order.
    SharedWriter,
}

impl Mode {
    /// `safe`, `no-filter`, `no-barrier`, `eager-write-replies` or `shared-writer` (the
    /// `CAIRN_SIM_MODE` values).
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "safe" => Some(Mode::Safe),
            "no-filter" => Some(Mode::NoFilter),
            "no-barrier" => Some(Mode::NoBarrier),
            "eager-write-replies" => Some(Mode::EagerWriteReplies),
            "shared-writer" => Some(Mode::SharedWriter),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Safe => "safe",
            Mode::NoFilter => "no-filter",
            Mode::NoBarrier => "no-barrier",
            Mode::EagerWriteReplies => "eager-write-replies",
            Mode::SharedWriter => "shared-writer",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// Steps with clients and faults; a drain phase without either follows.
    pub steps: u64,
    pub mode: Mode,
}

impl Config {
    pub fn new(seed: u64, steps: u64) -> Config {
        Config {
            seed,
            steps,
            mode: Mode::Safe,
        }
    }
}

macro_rules! stats {
    ($($(#[$doc:meta])* $field:ident),* $(,)?) => {
        /// Counters of what happened in a run (or, added up, in many runs).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl Stats {
            /// Adds another run's counters (`largest_batch` takes the larger).
            pub fn add(&mut self, other: &Stats) {
                let largest_batch = self.largest_batch.max(other.largest_batch);
                $(self.$field += other.$field;)*
                self.largest_batch = largest_batch;
            }

            /// Every counter by name.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field)),*]
            }
        }
    };
}

stats! {
    /// Steps run, drain included.
    steps,
    /// Connections opened (a node incarnation's clients).
    clients,
    /// Client writes issued.
    writes,
    /// Client writes answered (their entry applied by the node that took them).
    writes_acked,
    /// Client writes whose node crashed before answering.
    writes_unknown,
    /// Write replies held back behind an earlier read of their lane still waiting.
    writes_held,
    reads,
    reads_answered,
    /// Reads that had to wait (for their lane's writes or a barrier).
    reads_waited,
    /// Reads answered while another lane of their node still had earlier writes unresolved.
    reads_past_other_lanes,
    /// Reads on nodes with session consistency (no barrier).
    session_reads,
    /// Read barriers requested.
    barriers,
    /// Reads that arrived while a barrier was in flight and waited for the next one.
    reads_next_barrier,
    /// Tick, lazy-expiry and Lease entries the nodes issued.
    internal_entries,
    append_attempts,
    messages_stored,
    /// The most entries in one message.
    largest_batch,
    /// Messages carrying the entries of more than one lane.
    multi_lane_messages,
    /// Messages sent by a node's publisher other than its first (`publishers > 1`).
    other_publisher_messages,
    /// Appends the log acknowledged as duplicates of a message inside the window.
    dedupe_hits,
    /// Messages stored a second time (a retry or a late copy after the window).
    duplicates_stored,
    /// Entries the reference engine's filter skipped.
    copies_skipped,
    lost_appends,
    lost_acks,
    /// Retries sent only after the duplicate window had passed.
    slow_retries,
    /// Attempts held in the network and stored (or deduplicated) later.
    late_copies,
    /// Attempts refused while the stream had no leader.
    election_refusals,
    /// Leader failovers (an election, and the leader clock jumping back).
    failovers,
    delays,
    crashes,
    restarts,
    restarts_from_snapshot,
    /// Running nodes that fell behind a purge and had to restart from a snapshot.
    reloads_after_purge,
    snapshots,
    /// Snapshots a housekeeper dropped because the pointer was already at or past them.
    snapshots_dropped,
    purged_messages,
    /// Leases taken in the lease service from a holder that stopped renewing.
    lease_takeovers,
    /// Lease entries that moved the lease in the log.
    lease_grants,
    /// Lease holders stalled (lease loop stopped, consumer lagging): would-be zombies.
    zombie_faults,
    /// Tick entries from a node that no longer held the lease, applied as no-ops.
    zombie_ticks,
    /// Tick entries of the lease holder applied.
    ticks,
    /// Keys the holder's ticks removed.
    keys_expired_by_ticks,
    /// Keys with an expire time when the drain began (all must be removed by its end).
    volatile_at_drain,
}

/// The outcome of a run that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
    pub publishers: usize,
    pub stats: Stats,
    pub last_seq: u64,
    pub digest: String,
}

/// A failed check: where, and the events that led to it.
#[derive(Clone, Debug)]
pub struct Failure {
    pub seed: u64,
    pub step: u64,
    pub steps: u64,
    pub mode: Mode,
    pub message: String,
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "cairn-sim: seed {}, step {}: {}",
            self.seed, self.step, self.message
        )?;
        write!(
            f,
            "  replay: CAIRN_SIM_SEED={} CAIRN_SIM_STEPS={}",
            self.seed, self.steps
        )?;
        if self.mode != Mode::Safe {
            write!(f, " CAIRN_SIM_MODE={}", self.mode.name())?;
        }
        writeln!(f, " cargo test -p cairn-sim --release replay")?;
        writeln!(f, "  last events:")?;
        for line in &self.trace {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// Runs one seed: the workload with faults for `config.steps` steps, then a drain without
/// faults or clients until every node is idle and caught up and every key with an expire
/// time has been removed, then the final checks.
pub fn run(config: &Config) -> Result<Report, Failure> {
    let mut sim = Sim::new(config);
    if let Err(message) = sim.bootstrap() {
        return Err(sim.failure(message));
    }
    for _ in 0..config.steps {
        if let Err(message) = sim.step() {
            return Err(sim.failure(message));
        }
    }
    if let Err(message) = sim.drain().and_then(|()| sim.final_checks()) {
        return Err(sim.failure(message));
    }
    Ok(sim.report())
}
// ---------------------------------------------------------------------------------------------
// The workload's keys

/// Keys only ever APPENDed to (never deleted or expired): tokens "t<op>," make a lost or
/// repeated application visible.
const APPEND_KEYS: [(u32, &str); 3] = [(0, "a:0"), (0, "a:1"), (1, "a:2")];
/// Keys only ever INCRed.
const COUNTER_KEYS: [(u32, &str); 3] = [(0, "c:0"), (0, "c:1"), (1, "c:2")];
/// Keys for SET, SET PX, DEL, PEXPIRE and EXPIRE.
const PLAIN_KEYS: [(u32, &str); 4] = [(0, "s:0"), (0, "s:1"), (1, "s:2"), (1, "s:3")];

fn key((db, name): (u32, &'static str)) -> Key {
    (db, Bytes::from_static(name.as_bytes()))
}

fn all_keys() -> Vec<Key> {
    APPEND_KEYS
        .into_iter()
        .chain(COUNTER_KEYS)
        .chain(PLAIN_KEYS)
        .map(key)
        .collect()
}

fn show(key: &Key) -> String {
    format!("{}/{}", key.0, String::from_utf8_lossy(&key.1))
}

fn token(op: usize) -> String {
    format!("t{op},")
}

/// The tokens in (a suffix of) an append key's value.
fn parse_tokens(bytes: &[u8]) -> Result<Vec<u64>, String> {
    let Some(body) = bytes.strip_suffix(b",") else {
        return if bytes.is_empty() {
            Ok(Vec::new())
        } else {
            Err(format!(
                "append value does not end with ',': {:?}",
                String::from_utf8_lossy(bytes)
            ))
        };
    };
    body.split(|&b| b == b',')
        .map(|t| {
            t.strip_prefix(b"t")
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("bad token {:?}", String::from_utf8_lossy(t)))
        })
        .collect()
}

/// The stored value of a key, expired or not, without touching the engine's read bookkeeping.
fn raw_value<'a>(engine: &'a Engine, key: &Key) -> Option<(&'a [u8], Option<u64>)> {
    let slot = engine.db(key.0 as usize).dict().get(&key.1)?;
    Some((slot.value.as_str()?, slot.expire_at_ms()))
}

/// Follows the append keys of one engine as it applies the log: values only grow, and no
/// token ever appears twice.
#[derive(Clone, Default)]
struct Observer {
    lens: [usize; APPEND_KEYS.len()],
    counts: BTreeMap<u64, u32>,
}

impl Observer {
    fn update(&mut self, engine: &Engine) -> Result<(), String> {
        for (i, k) in APPEND_KEYS.into_iter().enumerate() {
            let k = key(k);
            let value = raw_value(engine, &k).map_or(&[][..], |(v, _)| v);
            if value.len() < self.lens[i] {
                return Err(format!(
                    "append key {} shrank from {} to {} bytes",
                    show(&k),
                    self.lens[i],
                    value.len()
                ));
            }
            for t in parse_tokens(&value[self.lens[i]..])? {
                let count = self.counts.entry(t).or_insert(0);
                *count += 1;
                if *count > 1 {
                    return Err(format!(
                        "token t{t} applied twice: it appears {count} times in {}",
                        show(&k)
                    ));
                }
            }
            self.lens[i] = value.len();
        }
        Ok(())
    }

    fn count(&self, op: usize) -> u32 {
        self.counts.get(&(op as u64)).copied().unwrap_or(0)
    }
}

/// What two engines at the same log position must agree on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sig {
    digest: String,
    now_ms: u64,
    writers: usize,
    /// The housekeeping lease: (epoch, holder writer).
    lease: (u64, u64),
}

fn sig(engine: &Engine) -> Sig {
    Sig {
        digest: engine.digest(),
        now_ms: engine.now_ms(),
        writers: engine.writers_known(),
        lease: (
            engine.lease_epoch(),
            engine.lease_holder().unwrap_or_default(),
        ),
    }
}

/// Keys with an expire time, across databases.
fn volatile_keys(engine: &Engine) -> usize {
    (0..engine.databases())
        .map(|d| engine.db(d).expires_len())
        .sum()
}

/// `n` from a reply formatted `Int(n)`.
fn reply_int(reply: &str) -> Option<i64> {
    reply
        .strip_prefix("Int(")
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
}

/// The reference: always caught up with the log, applying it with `apply_logged`, next to the
/// independent model.
struct Reference {
    engine: Engine,
    applied: u64,
    model: Model,
    observer: Observer,
    /// Replies of applied client commands nobody has answered yet, by origin.
    replies: BTreeMap<(u64, u64), String>,
}

// ---------------------------------------------------------------------------------------------
// Client operations

#[derive(Clone, Debug)]
enum OpKind {
    Append {
        key: usize,
    },
    Incr {
        counter: usize,
    },
    OtherWrite,
    Read {
        key: Key,
        /// The highest seq of a write acknowledged before the read arrived (0 for a
        /// session-consistency read).
        required: u64,
        /// For an append key: how many of its tokens were acknowledged before the read.
        acked_before: usize,
        /// The latest write its client issued before it (read-your-writes).
        own_write: Option<usize>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Pending,
    /// Answered after the node applied its entry at `seq`.
    Acked {
        seq: u64,
    },
    /// The node crashed first: the write may or may not be in the log.
    Unknown,
    /// A read, answered.
    Answered,
    /// A read whose node crashed.
    Dropped,
}

#[derive(Clone, Debug)]
struct Op {
    node: usize,
    client: usize,
    origin: Origin,
    kind: OpKind,
    status: Status,
}

/// A connection to one node incarnation. It pipelines: it sends commands without waiting
/// for replies, and its replies must come back in the order it sent the commands.
#[derive(Clone, Debug)]
struct Client {
    node: usize,
    id: u64,
    lane: usize,
    /// Its operations not answered yet, in the order it issued them.
    unanswered: VecDeque<usize>,
    last_write: Option<usize>,
}

/// Fault and workload probabilities, drawn from the seed.
#[derive(Clone, Debug)]
struct Odds {
    /// A client operation at a live node, per step.
    client_op: f64,
    /// Per append or barrier attempt.
    lost_append: f64,
    late_copy: f64,
    lost_ack: f64,
    slow_retry: f64,
    /// Per live node per step.
    delay: f64,
    crash: f64,
    /// Per step.
    snapshot: f64,
    failover: f64,
    zombie: f64,
}

/// An attempt held in the network, stored (or deduplicated) when it lands.
struct Late {
    lands: u64,
    id: MsgId,
    records: Vec<Bytes>,
}

/// The lease service (the KV key `lease`, changed only by compare-and-swap): who holds the
/// lease, at which epoch, and when the holder last renewed it by its own clock.
#[derive(Clone, Copy, Debug)]
struct KvLease {
    holder: u64,
    epoch: u64,
    renewed_ms: u64,
}

const TRACE_LEN: usize = 48;
/// The drain must reach quiescence within this many steps.
const DRAIN_STEPS_MAX: u64 = 20_000;
/// Reads check this many of the latest tokens acknowledged before them.
const READ_TOKENS_CHECKED: usize = 8;
/// The first Unix time of the simulated clock (2023-11-14).
const CLOCK_START_MS: u64 = 1_700_000_000_000;
/// How often each node runs its lease round, by its clock (1 s in the server, scaled down).
const LEASE_INTERVAL_MS: u64 = 200;
/// A lease not renewed for this long, by the reader's clock, may be taken over (5 s in the
/// server, scaled down; still well above interval + clock skew).
const LEASE_TIMEOUT_MS: u64 = 1_500;
/// How often a node checks whether to tick (the server's `TICK_INTERVAL`).
const TICK_INTERVAL_MS: u64 = 100;

struct Sim {
    config: Config,
    rng: fastrand::Rng,
    odds: Odds,
    /// Publishers per node (`nats-publishers`).
    publishers: usize,
    faults: bool,
    clients_on: bool,
    step: u64,
    now_ms: u64,
    /// The stream leader's clock is `now_ms + leader_offset_ms`; a failover moves it back.
    leader_offset_ms: i64,
    /// No leader (appends refused) before this step.
    election_until: u64,
    log: Log,
    stored_ids: BTreeSet<MsgId>,
    network: Vec<Late>,
    nodes: Vec<Option<Node>>,
    observers: Vec<Observer>,
    /// Per node slot: its clock's offset from the simulation's, its consistency, and when a
    /// crashed one restarts.
    skew_ms: Vec<i64>,
    linearizable: Vec<bool>,
    restart_at: Vec<u64>,
    incarnations: BTreeSet<u64>,
    kv_lease: Option<KvLease>,
    /// (seq, engine snapshot bytes), oldest first; at most two are kept.
    snapshots: VecDeque<(u64, Vec<u8>)>,
    reference: Reference,
    /// Log position → what every engine at that position must hold.
    sigs: BTreeMap<u64, Sig>,
    keys: Vec<Key>,
    clients: Vec<Client>,
    ops: Vec<Op>,
    /// Per append key: ops acknowledged, in order.
    acked_tokens: [Vec<usize>; APPEND_KEYS.len()],
    incr_issued: [u64; COUNTER_KEYS.len()],
    /// Per counter: the values acknowledged INCRs returned.
    incr_replies: [BTreeSet<i64>; COUNTER_KEYS.len()],
    max_acked_seq: u64,
    stats: Stats,
    trace: VecDeque<String>,
}

impl Sim {
    fn new(config: &Config) -> Sim {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let nodes = rng.usize(2..=5);
        let window_steps = rng.u64(4..=40);
        let odds = Odds {
            client_op: 0.15 + 0.45 * rng.f64(),
            lost_append: 0.15 * rng.f64(),
            late_copy: 0.06 * rng.f64(),
            lost_ack: 0.15 * rng.f64(),
            slow_retry: 0.05 * rng.f64(),
            delay: 0.02 * rng.f64(),
            crash: 0.004 * rng.f64(),
            snapshot: 0.002 + 0.02 * rng.f64(),
            failover: 0.004 * rng.f64(),
            zombie: 0.003 * rng.f64(),
        };
        let mut publishers = if rng.u8(0..4) == 0 {
            rng.usize(2..=LANES)
        } else {
            1
        };
        if config.mode == Mode::SharedWriter {
            publishers = publishers.max(2);
        }
        let skew_ms = (0..nodes).map(|_| rng.i64(-250..=250)).collect();
        let linearizable = (0..nodes).map(|_| rng.u8(0..5) != 0).collect();
        Sim {
            config: config.clone(),
            rng,
            odds,
            publishers,
            faults: true,
            clients_on: true,
            step: 0,
            now_ms: CLOCK_START_MS,
            leader_offset_ms: 0,
            election_until: 0,
            log: Log::new(window_steps),
            stored_ids: BTreeSet::new(),
            network: Vec::new(),
            nodes: (0..nodes).map(|_| None).collect(),
            observers: vec![Observer::default(); nodes],
            skew_ms,
            linearizable,
            restart_at: vec![0; nodes],
            incarnations: BTreeSet::new(),
            kv_lease: None,
            snapshots: VecDeque::new(),
            reference: Reference {
                engine: Engine::new(DATABASES),
                applied: 0,
                model: Model::default(),
                observer: Observer::default(),
                replies: BTreeMap::new(),
            },
            sigs: BTreeMap::new(),
            keys: all_keys(),
            clients: Vec::new(),
            ops: Vec::new(),
            acked_tokens: Default::default(),
            incr_issued: [0; COUNTER_KEYS.len()],
            incr_replies: Default::default(),
            max_acked_seq: 0,
            stats: Stats::default(),
            trace: VecDeque::new(),
        }
    }

    fn failure(&self, message: String) -> Failure {
        Failure {
            seed: self.config.seed,
            step: self.step,
            steps: self.config.steps,
            mode: self.config.mode,
            message,
            trace: self.trace.iter().cloned().collect(),
        }
    }

    fn trace(&mut self, event: String) {
        if self.trace.len() == TRACE_LEN {
            self.trace.pop_front();
        }
        self.trace.push_back(format!("step {}: {event}", self.step));
    }

    fn report(&self) -> Report {
        Report {
            seed: self.config.seed,
            nodes: self.nodes.len(),
            publishers: self.publishers,
            stats: self.stats.clone(),
            last_seq: self.log.last_seq(),
            digest: self.reference.engine.digest(),
        }
    }

    fn leader_clock_ms(&self) -> u64 {
        self.now_ms.saturating_add_signed(self.leader_offset_ms)
    }

    fn node_clock_ms(&self, i: usize) -> u64 {
        self.now_ms.saturating_add_signed(self.skew_ms[i])
    }

    /// A new incarnation id: non-zero, below `u64::MAX - LANES`, and at least `LANES` away
    /// from every other, so that lane writers and publisher ids never collide.
    fn new_incarnation(&mut self) -> u64 {
        let room = LANES as u64;
        loop {
            let id = self.rng.u64(1..u64::MAX - room);
            let near = id.saturating_sub(room - 1)..=id + (room - 1);
            if self.incarnations.range(near).next().is_none() {
                self.incarnations.insert(id);
                return id;
            }
        }
    }

    /// The node incarnation and publisher index behind a message's publisher id.
    fn publisher_owner(&self, publisher: u64) -> Option<(u64, usize)> {
        let incarnation = *self.incarnations.range(..=publisher).next_back()?;
        let p = (publisher - incarnation) as usize;
        (p < self.publishers).then_some((incarnation, p))
    }

    /// The log's first message (Init, which fixes the hash seed) and the first nodes.
    fn bootstrap(&mut self) -> Result<(), String> {
        self.sigs.insert(0, sig(&self.reference.engine));
        let init = Entry {
            db: 0,
            time_ms: self.leader_clock_ms(),
            seed: 0,
            origin: Origin::default(),
            body: Body::Init {
                hash_seed: self.rng.u64(..),
            },
        };
        let id = MsgId {
            publisher: 0,
            counter: 0,
        };
        self.store(id, vec![init.encode()]);
        for i in 0..self.nodes.len() {
            self.start_node(i, None)?;
        }
        Ok(())
    }

    fn step(&mut self) -> Result<(), String> {
        self.step += 1;
        self.stats.steps += 1;
        self.now_ms += self.rng.u64(1..=20);
        if self.faults {
            self.inject_faults();
        }
        self.restart_due()?;
        self.land_late_copies();
        for i in 0..self.nodes.len() {
            self.send_barrier(i);
        }
        for i in 0..self.nodes.len() {
            self.send(i);
        }
        self.reference_catch_up()?;
        for i in 0..self.nodes.len() {
            self.deliver(i)?;
        }
        for i in 0..self.nodes.len() {
            self.housekeeping(i);
        }
        if self.clients_on {
            self.client_ops()?;
        }
        self.check_step()?;
        if self.step.is_multiple_of(64) {
            self.prune();
        }
        Ok(())
    }

    /// What must hold between steps (the state checks run as each message is applied).
    fn check_step(&self) -> Result<(), String> {
        let tail = self.log.last_seq();
        if self.reference.applied != tail || self.max_acked_seq > tail {
            return Err(format!(
                "log tail {tail}, reference at {}, highest acknowledged seq {}",
                self.reference.applied, self.max_acked_seq
            ));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if node.applied > tail {
                return Err(format!(
                    "node {i} applied {} past the tail {tail}",
                    node.applied
                ));
            }
            for (p, publisher) in node.publishers.iter().enumerate() {
                if let Some(m) = &publisher.in_flight
                    && m.id.publisher != node.incarnation + p as u64
                {
                    return Err(format!(
                        "node {i} sends {} as publisher {p} of incarnation {}",
                        m.id, node.incarnation
                    ));
                }
            }
            let in_flight = node.barriers_sent - node.barriers_done;
            if in_flight > 1 || (in_flight == 1) != node.barrier.is_some() {
                return Err(format!(
                    "node {i}: barriers sent {}, done {}, in flight {:?}",
                    node.barriers_sent, node.barriers_done, node.barrier
                ));
            }
            for lane in 0..LANES {
                if let Some(read) = node.waiting[lane].front()
                    && node.runnable(read)
                {
                    return Err(format!(
                        "node {i}: read {} still waits in lane {lane} at seq {} (barrier {:?})",
                        read.op, node.applied, read.barrier_seq
                    ));
                }
                if let Some(held) = node.held[lane].front()
                    && node.waiting[lane]
                        .front()
                        .is_none_or(|r| r.ticket > held.ticket)
                {
                    return Err(format!(
                        "node {i}: the reply to op {} is held in lane {lane} with no earlier read waiting",
                        held.op
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Decodes a record and gives it the message's timestamp, as a node does.
fn decode(record: &Bytes, timestamp_ms: u64) -> Result<Entry, String> {
    let mut entry = Entry::decode(record).map_err(|e| format!("undecodable record: {e}"))?;
    entry.time_ms = timestamp_ms;
    Ok(entry)
}
