//! The scheduler: one loop of simulated steps over nodes, the log, the network, the lease
//! service and the snapshot store, with faults drawn from the seed, and the checks after
//! every step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bytes::Bytes;
use cairn_engine::{Body, Engine, Entry, Origin};

use crate::log::{Appended, Log, Message, MsgId};
use crate::model::{self, Key, Model};
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

    // -----------------------------------------------------------------------------------------
    // Faults

    fn inject_faults(&mut self) {
        if self.rng.f64() < self.odds.failover {
            let back = self.rng.i64(1..=5_000);
            self.leader_offset_ms -= back;
            self.election_until = self.step + self.rng.u64(1..=15);
            self.stats.failovers += 1;
            self.trace(format!(
                "failover: no leader until step {}, leader clock back {back} ms",
                self.election_until
            ));
        }
        if self.rng.f64() < self.odds.snapshot {
            self.take_snapshot();
        }
        if self.rng.f64() < self.odds.zombie {
            self.stall_holder();
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_none() {
                continue;
            }
            if self.rng.f64() < self.odds.crash {
                self.crash(i);
                self.restart_at[i] = self.step + self.rng.u64(1..=40);
            } else if self.rng.f64() < self.odds.delay {
                let until = self.step + self.rng.u64(1..=80);
                if let Some(node) = &mut self.nodes[i] {
                    node.delayed_until = until;
                }
                self.stats.delays += 1;
                self.trace(format!("node {i}: delivery delayed until step {until}"));
            }
        }
    }

    /// The would-be zombie: the lease holder's lease loop stalls (it neither renews the lease
    /// nor looks at it) and its consumer lags, so another node takes the lease over while
    /// it still believes, from its own engine, that it holds it, and keeps ticking.
    fn stall_holder(&mut self) {
        let Some(kv) = self.kv_lease else { return };
        let step = self.step;
        let Some(i) = (0..self.nodes.len()).find(|&i| {
            self.nodes[i].as_ref().is_some_and(|n| {
                n.incarnation == kv.holder && n.housekeeper() && n.lease_stalled_until <= step
            })
        }) else {
            return;
        };
        let stall = self.rng.u64(200..=400);
        let lag = self.rng.u64(20..=80);
        if let Some(node) = &mut self.nodes[i] {
            node.lease_stalled_until = step + stall;
            node.lag_until = step + stall + lag;
            node.lag_steps = lag;
        }
        self.stats.zombie_faults += 1;
        self.trace(format!(
            "node {i}: lease holder stalls for {stall} steps, its consumer {lag} steps behind"
        ));
    }

    /// A housekeeper (a node whose engine says it holds the lease: normally one, two while a
    /// zombie has not noticed) snapshots its engine at its applied position, unless the
    /// pointer is already there; the log is then purged below the previous snapshot
    /// (JetStream `purge {"seq": S_prev + 1}`), so a node restoring the newest one never
    /// misses its tail.
    fn take_snapshot(&mut self) {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].as_ref().is_some_and(Node::housekeeper))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = candidates[self.rng.usize(..candidates.len())];
        let Some(node) = &self.nodes[i] else {
            return;
        };
        let seq = node.applied;
        let newest = self.snapshots.back().map(|(seq, _)| *seq);
        if newest.is_some_and(|s| s >= seq) {
            self.stats.snapshots_dropped += 1;
            self.trace(format!(
                "node {i}: snapshot at seq {seq} dropped, the pointer is at {newest:?}"
            ));
            return;
        }
        self.snapshots.push_back((seq, node.engine.snapshot()));
        self.stats.snapshots += 1;
        if self.snapshots.len() > 2 {
            self.snapshots.pop_front();
        }
        let mut event = format!("node {i}: snapshot at seq {seq}");
        if self.snapshots.len() == 2 {
            let below = self.snapshots[0].0 + 1;
            let purged = self.log.purge_below(below);
            self.stats.purged_messages += purged;
            event += &format!(", log purged below {below} ({purged} messages)");
        }
        self.trace(event);
    }

    /// Kills a node: its engine, queues, messages in flight, barrier and connections are
    /// gone; its clients' unanswered writes have an unknown outcome. Copies of its attempts
    /// may still be in the network.
    fn crash(&mut self, i: usize) {
        let Some(node) = self.nodes[i].take() else {
            return;
        };
        let mut unknown = 0;
        for &c in &node.clients {
            for op in std::mem::take(&mut self.clients[c].unanswered) {
                self.ops[op].status = match self.ops[op].kind {
                    OpKind::Read { .. } => Status::Dropped,
                    _ => {
                        unknown += 1;
                        Status::Unknown
                    }
                };
            }
        }
        self.stats.writes_unknown += unknown;
        self.stats.crashes += 1;
        self.trace(format!(
            "node {i}: crash (incarnation {}, at seq {}, {unknown} writes unanswered, in flight {:?})",
            node.incarnation,
            node.applied,
            node.in_flight_ids()
        ));
    }

    fn restart_due(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_none() && (!self.faults || self.restart_at[i] <= self.step) {
                let snapshot = if self.snapshots.is_empty() {
                    None
                } else if self.snapshots.len() == 2 && self.rng.u8(0..4) == 0 {
                    Some(0)
                } else {
                    Some(self.snapshots.len() - 1)
                };
                self.start_node(i, snapshot)?;
            }
        }
        Ok(())
    }

    /// Starts a node with a new incarnation and new connections from the snapshot at
    /// `snapshot` (an index into the store) or from an empty engine at position 0.
    fn start_node(&mut self, i: usize, snapshot: Option<usize>) -> Result<(), String> {
        let (engine, seq) = match snapshot {
            Some(index) => {
                let (seq, bytes) = &self.snapshots[index];
                let engine = Engine::restore(bytes, DATABASES).map_err(|e| {
                    format!("node {i}: snapshot at seq {seq} does not restore: {e}")
                })?;
                self.stats.restarts_from_snapshot += 1;
                (engine, *seq)
            }
            None => {
                if self.log.first_seq() > 1 {
                    return Err(format!(
                        "node {i}: no snapshot, and the log was purged below {}",
                        self.log.first_seq()
                    ));
                }
                (Engine::new(DATABASES), 0)
            }
        };
        let Some(expected) = self.sigs.get(&seq) else {
            return Err(format!("no reference state kept for seq {seq}"));
        };
        let restored = sig(&engine);
        if !self.same(&restored, expected) {
            return Err(format!(
                "node {i}: the snapshot at seq {seq} restores to {restored:?}, the reference had {expected:?}"
            ));
        }
        let mut observer = Observer::default();
        observer
            .update(&engine)
            .map_err(|e| format!("node {i} restored from seq {seq}: {e}"))?;
        self.observers[i] = observer;
        let incarnation = self.new_incarnation();
        let mut node = Node::new(
            incarnation,
            engine,
            seq,
            self.publishers,
            self.linearizable[i],
        );
        node.shared_writer = self.config.mode == Mode::SharedWriter;
        let clock = self.node_clock_ms(i);
        node.next_lease_ms = clock + self.rng.u64(0..LEASE_INTERVAL_MS);
        node.next_tick_ms = clock + self.rng.u64(0..TICK_INTERVAL_MS);
        let connections = self.rng.u64(2..=12);
        let first_id = self.rng.u64(1..=LANES as u64);
        for id in first_id..first_id + connections {
            node.clients.push(self.clients.len());
            self.clients.push(Client {
                node: i,
                id,
                lane: lane_of_client(id),
                unanswered: VecDeque::new(),
                last_write: None,
            });
        }
        self.stats.clients += connections;
        self.nodes[i] = Some(node);
        if self.step > 0 {
            self.stats.restarts += 1;
        }
        self.trace(format!(
            "node {i}: start, incarnation {incarnation}, from seq {seq}, {connections} clients"
        ));
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Appending

    /// The log stores (or deduplicates) one attempt.
    fn store(&mut self, id: MsgId, records: Vec<Bytes>) -> Appended {
        let count = records.len();
        let writers: BTreeSet<u64> = records
            .iter()
            .filter_map(|r| Entry::decode_origin(r).ok())
            .map(|o| o.node)
            .collect();
        let appended = self
            .log
            .append(id, records, self.leader_clock_ms(), self.step);
        match appended {
            Appended::Stored(seq) => {
                self.stats.messages_stored += 1;
                self.stats.largest_batch = self.stats.largest_batch.max(count as u64);
                let again = !self.stored_ids.insert(id);
                if again {
                    self.stats.duplicates_stored += 1;
                } else {
                    if writers.len() > 1 {
                        self.stats.multi_lane_messages += 1;
                    }
                    if self
                        .publisher_owner(id.publisher)
                        .is_some_and(|(_, p)| p > 0)
                    {
                        self.stats.other_publisher_messages += 1;
                    }
                }
                self.trace(format!(
                    "stored {id} at seq {seq} ({count} entries, {} lanes){}",
                    writers.len(),
                    if again { ", a duplicate" } else { "" }
                ));
            }
            Appended::Duplicate(seq) => {
                self.stats.dedupe_hits += 1;
                self.trace(format!("deduplicated {id} (seq {seq})"));
            }
        }
        appended
    }

    fn land_late_copies(&mut self) {
        if self.network.is_empty() || self.step < self.election_until {
            return;
        }
        let (due, later): (Vec<Late>, Vec<Late>) = std::mem::take(&mut self.network)
            .into_iter()
            .partition(|l| l.lands <= self.step);
        self.network = later;
        for late in due {
            self.stats.late_copies += 1;
            self.store(late.id, late.records);
        }
    }

    /// Each publisher of the node forms its next message if it can and makes the attempt
    /// that is due.
    fn send(&mut self, i: usize) {
        for p in 0..self.publishers {
            self.send_publisher(i, p);
        }
    }

    fn send_publisher(&mut self, i: usize, p: usize) {
        let step = self.step;
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        node.form_message(p, step);
        let Some(in_flight) = &mut node.publishers[p].in_flight else {
            return;
        };
        if in_flight.next_attempt > step {
            return;
        }
        in_flight.attempts += 1;
        let (id, records) = (in_flight.id, in_flight.records.clone());
        self.stats.append_attempts += 1;
        let backoff = self.rng.u64(1..=4);
        if self.faults && step < self.election_until {
            self.stats.election_refusals += 1;
            self.retry(i, p, step + backoff);
            return;
        }
        let o = &self.odds;
        let thresholds = [
            o.lost_append,
            o.lost_append + o.late_copy,
            o.lost_append + o.late_copy + o.lost_ack,
            o.lost_append + o.late_copy + o.lost_ack + o.slow_retry,
        ];
        let roll = if self.faults { self.rng.f64() } else { 1.0 };
        let outcome = thresholds.iter().position(|&t| roll < t);
        if outcome == Some(0) {
            self.stats.lost_appends += 1;
            self.trace(format!("node {i}: append of {id} lost"));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(1) {
            let lands = step + self.rng.u64(1..=2 * self.log.window_steps() + 5);
            self.network.push(Late { lands, id, records });
            self.trace(format!(
                "node {i}: append of {id} held in the network until step {lands}"
            ));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(2) {
            self.store(id, records);
            self.stats.lost_acks += 1;
            self.trace(format!("node {i}: ack of {id} lost"));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(3) {
            self.store(id, records);
            self.stats.slow_retries += 1;
            let at = step + self.log.window_steps() + self.rng.u64(0..=10);
            self.trace(format!(
                "node {i}: ack of {id} lost, retry after the window at step {at}"
            ));
            self.retry(i, p, at);
        } else {
            self.store(id, records);
            if let Some(node) = &mut self.nodes[i] {
                node.publishers[p].in_flight = None;
            }
        }
    }

    fn retry(&mut self, i: usize, p: usize, at: u64) {
        if let Some(in_flight) = self.nodes[i]
            .as_mut()
            .and_then(|n| n.publishers[p].in_flight.as_mut())
        {
            in_flight.next_attempt = at;
        }
    }

    /// The node's read barrier in flight (strict mode: an empty message on the control
    /// subject, no `Nats-Msg-Id`): an attempt may be refused or lost, or stored with its
    /// acknowledgement lost (the retry stores another, later one). The barrier's position is
    /// the log's tail when it is stored: every message stored before it. Its acknowledgement
    /// reaches the node a few steps later, and the next barrier is requested then if reads
    /// wait for it.
    fn send_barrier(&mut self, i: usize) {
        let step = self.step;
        let Some(state) = self.nodes[i].as_ref().and_then(|n| n.barrier) else {
            return;
        };
        let mut state = state;
        if let BarrierState::Sending { next_attempt } = state
            && next_attempt <= step
        {
            let backoff = self.rng.u64(1..=4);
            state = if self.faults && step < self.election_until {
                self.stats.election_refusals += 1;
                BarrierState::Sending {
                    next_attempt: step + backoff,
                }
            } else {
                let roll = if self.faults { self.rng.f64() } else { 1.0 };
                if roll < self.odds.lost_append + self.odds.lost_ack {
                    BarrierState::Sending {
                        next_attempt: step + backoff,
                    }
                } else {
                    BarrierState::Acked {
                        seq: self.log.last_seq(),
                        at: step + self.rng.u64(0..=3),
                    }
                }
            };
        }
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        node.barrier = Some(state);
        if let BarrierState::Acked { seq, at } = state
            && at <= step
            && node.on_barrier(seq, step)
        {
            self.stats.barriers += 1;
        }
    }

    // -----------------------------------------------------------------------------------------
    // Applying

    /// The reference engine and the model apply everything the log stored.
    fn reference_catch_up(&mut self) -> Result<(), String> {
        while self.reference.applied < self.log.last_seq() {
            let seq = self.reference.applied + 1;
            let Some(message) = self.log.get(seq).cloned() else {
                return Err(format!(
                    "reference: seq {seq} was purged before it was applied"
                ));
            };
            self.check_message(&message)?;
            for record in &message.records {
                let entry = decode(record, message.timestamp_ms)?;
                self.reference_apply(seq, &entry)?;
            }
            let r = &mut self.reference;
            r.applied = seq;
            r.observer
                .update(&r.engine)
                .map_err(|e| format!("reference at seq {seq}: {e}"))?;
            self.compare_model(seq)?;
            self.sigs.insert(seq, sig(&self.reference.engine));
        }
        Ok(())
    }

    /// A node's message holds only its own entries, each of a lane of the publisher that sent
    /// it, in issue order (increasing requests of the incarnation's one counter).
    fn check_message(&self, message: &Message) -> Result<(), String> {
        let id = message.id;
        if id.publisher == 0 {
            return Ok(());
        }
        let Some((incarnation, p)) = self.publisher_owner(id.publisher) else {
            return Err(format!(
                "seq {}: message {id} from no known publisher",
                message.seq
            ));
        };
        let mut last = 0;
        for record in &message.records {
            let origin = Entry::decode_origin(record)
                .map_err(|e| format!("seq {}: undecodable record: {e}", message.seq))?;
            let lane = origin.node.wrapping_sub(incarnation);
            let shared = self.config.mode == Mode::SharedWriter;
            if !shared && (lane >= LANES as u64 || lane as usize % self.publishers != p) {
                return Err(format!(
                    "seq {}: message {id} (publisher {p} of {incarnation}) carries an entry of writer {}",
                    message.seq, origin.node
                ));
            }
            if origin.request <= last {
                return Err(format!(
                    "seq {}: message {id} carries request {} after request {last}: not in issue order",
                    message.seq, origin.request
                ));
            }
            last = origin.request;
        }
        Ok(())
    }

    /// The reference applies one entry next to the model; Tick and Lease entries are checked
    /// against the lease as the model has it.
    fn reference_apply(&mut self, seq: u64, entry: &Entry) -> Result<(), String> {
        let r = &mut self.reference;
        let lease = r.model.lease();
        let zombie_tick =
            matches!(entry.body, Body::Tick { .. }) && r.model.fenced(entry.origin.node);
        let before = zombie_tick.then(|| r.engine.digest());
        let modelled = r.model.apply(seq, entry)?;
        let reply = r.engine.apply_logged(entry);
        let reply = match (modelled, reply) {
            (model::Applied::Applied, Some(reply)) => format!("{reply:?}"),
            (model::Applied::Copy, None) => {
                self.stats.copies_skipped += 1;
                return Ok(());
            }
            (modelled, reply) => {
                return Err(format!(
                    "seq {seq}: the model says {modelled:?} for {:?}, the engine's filter {}",
                    entry.origin,
                    if reply.is_some() {
                        "applied it"
                    } else {
                        "skipped it"
                    }
                ));
            }
        };
        let writer = entry.origin.node;
        match &entry.body {
            Body::Command(_) => {
                r.replies.insert((writer, entry.origin.request), reply);
            }
            Body::Tick { .. } if lease.0 == 0 => {
                return Err(format!(
                    "seq {seq}: a Tick from writer {writer} before any lease was granted"
                ));
            }
            Body::Tick { .. } if zombie_tick => {
                let after = r.engine.digest();
                if reply != "Int(0)" || before.as_ref() != Some(&after) {
                    return Err(format!(
                        "seq {seq}: a Tick from writer {writer}, which does not hold the lease (epoch {} is {}'s), answered {reply} and changed the digest from {before:?} to {after}",
                        lease.0, lease.1
                    ));
                }
                self.stats.zombie_ticks += 1;
            }
            Body::Tick { keys_max } => {
                let n = reply_int(&reply)
                    .filter(|&n| (0..=i64::from(*keys_max)).contains(&n))
                    .ok_or_else(|| {
                        format!(
                            "seq {seq}: the holder's Tick (keys_max {keys_max}) answered {reply}"
                        )
                    })?;
                self.stats.ticks += 1;
                self.stats.keys_expired_by_ticks += n as u64;
            }
            Body::Lease { epoch } => {
                let granted = *epoch > lease.0;
                if reply_int(&reply) != Some(i64::from(granted)) {
                    return Err(format!(
                        "seq {seq}: Lease epoch {epoch} from writer {writer} over epoch {} answered {reply}",
                        lease.0
                    ));
                }
                if granted {
                    self.stats.lease_grants += 1;
                }
            }
            Body::Init { .. } | Body::Expire { .. } => {}
        }
        Ok(())
    }

    /// The reference engine shows every key and the lease as the model has them.
    fn compare_model(&self, seq: u64) -> Result<(), String> {
        let (engine, model) = (&self.reference.engine, &self.reference.model);
        let now = engine.now_ms();
        if now != model.now_ms() {
            return Err(format!(
                "seq {seq}: engine time {now}, model time {}",
                model.now_ms()
            ));
        }
        let lease = (
            engine.lease_epoch(),
            engine.lease_holder().unwrap_or_default(),
        );
        if lease != model.lease() {
            return Err(format!(
                "seq {seq}: the engine's lease is {lease:?}, the model's {:?}",
                model.lease()
            ));
        }
        for k in &self.keys {
            let live = raw_value(engine, k).filter(|(_, at)| at.is_none_or(|at| at >= now));
            let modelled = model.current(k).map(|s| (&s.value[..], s.expire_at_ms));
            if live != modelled {
                return Err(format!(
                    "seq {seq}: key {} is {:?} in the engine, {:?} in the model",
                    show(k),
                    live.map(|(v, at)| (String::from_utf8_lossy(v), at)),
                    modelled.map(|(v, at)| (String::from_utf8_lossy(v), at)),
                ));
            }
        }
        Ok(())
    }

    /// The node's consumer delivers up to a few messages, in order (fewer, or none, when it
    /// is delayed or lags), then waiting reads and held replies go out as they may.
    fn deliver(&mut self, i: usize) -> Result<(), String> {
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        if !self.faults || node.delayed_until <= self.step {
            let lag = if self.faults && self.step < node.lag_until {
                node.lag_steps
            } else {
                0
            };
            for _ in 0..self.rng.usize(1..=6) {
                let seq = node.applied + 1;
                if seq > self.log.last_seq() {
                    break;
                }
                if seq < self.log.first_seq() {
                    // Its next record was purged: only a snapshot can bring it back.
                    self.trace(format!(
                        "node {i}: needs seq {seq}, the log starts at {}",
                        self.log.first_seq()
                    ));
                    self.nodes[i] = Some(node);
                    self.crash(i);
                    self.stats.reloads_after_purge += 1;
                    let newest = self.snapshots.len().checked_sub(1);
                    return self.start_node(i, newest);
                }
                let Some(message) = self.log.get(seq) else {
                    return Err(format!("node {i}: seq {seq} vanished"));
                };
                if message.step + lag > self.step {
                    break;
                }
                let message = message.clone();
                self.apply_message(i, &mut node, &message)?;
            }
        }
        self.drain_waiting(i, &mut node)?;
        self.nodes[i] = Some(node);
        Ok(())
    }

    fn apply_message(
        &mut self,
        i: usize,
        node: &mut Node,
        message: &Message,
    ) -> Result<(), String> {
        let seq = message.seq;
        if seq != node.applied + 1 {
            return Err(format!(
                "node {i}: consumer delivered seq {seq} after {}",
                node.applied
            ));
        }
        let mut answered = Vec::new();
        let mut tick_again = false;
        for record in &message.records {
            let entry = decode(record, message.timestamp_ms)?;
            let reply = match self.config.mode {
                Mode::NoFilter => Some(node.engine.apply(&entry)),
                _ => node.engine.apply_logged(&entry),
            };
            if node.own_lane(entry.origin.node).is_none() {
                continue;
            }
            let Some(issued) = node.pending.remove(&entry.origin.request) else {
                continue;
            };
            let Some(reply) = reply else {
                return Err(format!(
                    "node {i}: its own request {} at seq {seq} was skipped as a copy while it waits",
                    entry.origin.request
                ));
            };
            let lane = issued.lane;
            if node.own_lane(entry.origin.node) != Some(lane) && !node.shared_writer {
                return Err(format!(
                    "node {i}: request {} issued in lane {lane} came back as writer {}",
                    entry.origin.request, entry.origin.node
                ));
            }
            node.resolved[lane] += 1;
            let reply = format!("{reply:?}");
            match issued.what {
                What::Client { op, ticket } => answered.push((lane, ticket, op, reply)),
                What::Tick { keys_max } => {
                    node.tick_in_flight = false;
                    tick_again |= reply_int(&reply).is_some_and(|n| n >= i64::from(keys_max));
                }
                What::Expire { db, keys } => {
                    for key in keys {
                        node.expiring.remove(&(db, key));
                    }
                }
                What::Lease { .. } => {}
            }
        }
        node.applied = seq;
        self.observers[i]
            .update(&node.engine)
            .map_err(|e| format!("node {i} at seq {seq}: {e}"))?;
        let Some(expected) = self.sigs.get(&seq) else {
            return Err(format!("no reference state kept for seq {seq}"));
        };
        let actual = sig(&node.engine);
        if !self.same(&actual, expected) {
            return Err(format!(
                "node {i} (incarnation {}) at seq {seq} differs from the reference: {actual:?}, expected {expected:?}{}",
                node.incarnation,
                self.describe_difference(&node.engine, seq)
            ));
        }
        for (lane, ticket, op, reply) in answered {
            let behind_read = node.waiting[lane]
                .front()
                .is_some_and(|r| r.ticket < ticket);
            if self.config.mode != Mode::EagerWriteReplies
                && (behind_read || !node.held[lane].is_empty())
            {
                node.held[lane].push_back(HeldReply {
                    ticket,
                    op,
                    seq,
                    reply,
                });
                self.stats.writes_held += 1;
            } else {
                self.acknowledge(i, op, seq, reply)?;
            }
        }
        if tick_again {
            self.maybe_tick(i, node);
        }
        Ok(())
    }

    /// Runs the reads at the front of each lane that may run, and sends the write replies
    /// held behind them: a lane answers its client operations in arrival order.
    fn drain_waiting(&mut self, i: usize, node: &mut Node) -> Result<(), String> {
        for lane in 0..LANES {
            loop {
                let limit = node.waiting[lane].front().map_or(u64::MAX, |r| r.ticket);
                while node.held[lane].front().is_some_and(|h| h.ticket < limit) {
                    let held = node.held[lane].pop_front().expect("front exists");
                    self.acknowledge(i, held.op, held.seq, held.reply)?;
                }
                if !node.waiting[lane].front().is_some_and(|r| node.runnable(r)) {
                    break;
                }
                let read = node.waiting[lane].pop_front().expect("front exists");
                self.answer_read(i, node, &read)?;
            }
        }
        Ok(())
    }

    /// Whether a node's state matches the reference's at the same position. Without the
    /// filter (`Mode::NoFilter`) nodes keep no writer table: only the data is compared.
    fn same(&self, actual: &Sig, expected: &Sig) -> bool {
        match self.config.mode {
            Mode::NoFilter => {
                (&actual.digest, actual.now_ms) == (&expected.digest, expected.now_ms)
            }
            _ => actual == expected,
        }
    }

    /// The keys where `engine` at `seq` differs from the model, for a failure message.
    fn describe_difference(&self, engine: &Engine, seq: u64) -> String {
        let now = engine.now_ms();
        let mut out = String::new();
        for k in &self.keys {
            let live = raw_value(engine, k)
                .filter(|(_, at)| at.is_none_or(|at| at >= now))
                .map(|(v, _)| v);
            let modelled = self
                .reference
                .model
                .state_at(k, seq)
                .filter(|s| s.visible_at(now))
                .map(|s| &s.value[..]);
            if live != modelled {
                out += &format!(
                    "; key {} is {:?}, the model has {:?}",
                    show(k),
                    live.map(String::from_utf8_lossy),
                    modelled.map(String::from_utf8_lossy)
                );
            }
        }
        out
    }

    /// A reply reaches client of `op`: it must be the oldest operation the client has not
    /// had an answer to (a connection's replies come back in the order it sent commands).
    fn replied(&mut self, i: usize, op: usize) -> Result<(), String> {
        let client = &mut self.clients[self.ops[op].client];
        match client.unanswered.pop_front() {
            Some(front) if front == op => Ok(()),
            front => {
                let (id, lane) = (client.id, client.lane);
                Err(format!(
                    "reply order: client {id} (lane {lane}) at node {i} got the reply to op {op} ({}) in place of {}, which it sent first",
                    self.describe_op(op),
                    front.map_or("nothing".into(), |f| format!(
                        "op {f} ({})",
                        self.describe_op(f)
                    ))
                ))
            }
        }
    }

    /// An operation, for a failure message.
    fn describe_op(&self, op: usize) -> String {
        match &self.ops[op].kind {
            OpKind::Read { key: k, .. } => format!("a GET {}", show(k)),
            OpKind::Append { key: k } => format!("an APPEND to {}", APPEND_KEYS[*k].1),
            OpKind::Incr { counter } => format!("an INCR of {}", COUNTER_KEYS[*counter].1),
            OpKind::OtherWrite => "a write".into(),
        }
    }

    /// A client write is answered by node `i` after it applied the write's entry at `seq`.
    fn acknowledge(&mut self, i: usize, op: usize, seq: u64, reply: String) -> Result<(), String> {
        self.replied(i, op)?;
        let origin = self.ops[op].origin;
        match self
            .reference
            .replies
            .remove(&(origin.node, origin.request))
        {
            Some(expected) if expected == reply => {}
            expected => {
                return Err(format!(
                    "node {i}: write {origin:?} answered {reply}, the reference applied it with {expected:?}"
                ));
            }
        }
        self.ops[op].status = Status::Acked { seq };
        self.stats.writes_acked += 1;
        self.max_acked_seq = self.max_acked_seq.max(seq);
        match self.ops[op].kind {
            OpKind::Append { key: k } => {
                let count = self.observers[i].count(op);
                if count != 1 {
                    return Err(format!(
                        "node {i}: APPEND t{op} to {} acknowledged at seq {seq}, but the token appears {count} times",
                        APPEND_KEYS[k].1
                    ));
                }
                self.acked_tokens[k].push(op);
            }
            OpKind::Incr { counter } => {
                let n =
                    reply_int(&reply).ok_or_else(|| format!("node {i}: INCR answered {reply}"))?;
                let issued = self.incr_issued[counter];
                if n < 1 || n as u64 > issued {
                    return Err(format!(
                        "node {i}: INCR {} answered {n}, with {issued} INCRs issued",
                        COUNTER_KEYS[counter].1
                    ));
                }
                if !self.incr_replies[counter].insert(n) {
                    return Err(format!(
                        "node {i}: two acknowledged INCRs of {} both answered {n}",
                        COUNTER_KEYS[counter].1
                    ));
                }
            }
            OpKind::OtherWrite | OpKind::Read { .. } => {}
        }
        Ok(())
    }

    /// Answers a read from node `i`'s state at its applied position and checks it.
    fn answer_read(&mut self, i: usize, node: &mut Node, read: &PendingRead) -> Result<(), String> {
        let op = read.op;
        let OpKind::Read {
            key: k,
            required,
            acked_before,
            own_write,
        } = self.ops[op].kind.clone()
        else {
            return Err(format!("op {op} is not a read"));
        };
        self.replied(i, op)?;
        let position = node.applied;
        if position < required {
            return Err(format!(
                "stale read: GET {} at node {i} answered at seq {position}, but a write acknowledged before the read arrived is at seq {required}",
                show(&k)
            ));
        }
        if let Some(w) = own_write {
            match self.ops[w].status {
                Status::Acked { seq } if seq <= position => {}
                status => {
                    return Err(format!(
                        "read-your-writes: GET {} at node {i} answered at seq {position}, its client's earlier write op {w} is {status:?}",
                        show(&k)
                    ));
                }
            }
        }
        if (0..LANES).any(|l| l != read.lane && node.resolved[l] < read.issued_at_arrival[l]) {
            self.stats.reads_past_other_lanes += 1;
        }
        let clock = self.node_clock_ms(i).max(node.engine.now_ms());
        let value = node
            .engine
            .db(k.0 as usize)
            .get(&k.1, clock)
            .and_then(|s| s.value.as_str())
            .map(<[u8]>::to_vec);
        let expected = self
            .reference
            .model
            .state_at(&k, position)
            .filter(|s| s.visible_at(clock))
            .map(|s| s.value.clone());
        if value != expected {
            return Err(format!(
                "GET {} at node {i}, seq {position}, clock {clock}: {:?}, the model has {:?}",
                show(&k),
                value.as_deref().map(String::from_utf8_lossy),
                expected.as_deref().map(String::from_utf8_lossy)
            ));
        }
        if let Some(a) = APPEND_KEYS.iter().position(|&ak| key(ak) == k) {
            let tokens = parse_tokens(value.as_deref().unwrap_or_default())?;
            let before = &self.acked_tokens[a][..acked_before];
            for &t in before.iter().rev().take(READ_TOKENS_CHECKED) {
                if !tokens.contains(&(t as u64)) {
                    return Err(format!(
                        "GET {} at node {i} misses t{t}, acknowledged before the read arrived",
                        show(&k)
                    ));
                }
            }
        }
        self.ops[op].status = Status::Answered;
        self.stats.reads_answered += 1;
        // What a node does after a read: keys it found expired (and not already in an Expire
        // entry of its own) become a lazy-expiry entry in lane 0.
        for (db, keys) in node.engine.take_seen_expired() {
            let db = db as u32;
            let keys: Vec<Bytes> = keys
                .into_iter()
                .map(Bytes::from)
                .filter(|k| node.expiring.insert((db, k.clone())))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let seed = self.rng.u64(..);
            node.issue(
                0,
                db,
                clock,
                seed,
                Body::Expire { keys: keys.clone() },
                What::Expire { db, keys },
            );
            self.stats.internal_entries += 1;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Housekeeping: the lease and ticks

    /// Node `i`'s lease loop and tick timer, by its own clock.
    fn housekeeping(&mut self, i: usize) {
        let Some(mut node) = self.nodes[i].take() else {
            return;
        };
        let clock = self.node_clock_ms(i);
        if clock >= node.next_lease_ms {
            node.next_lease_ms = clock + LEASE_INTERVAL_MS;
            if !self.faults || node.lease_stalled_until <= self.step {
                self.lease_round(i, &mut node);
            }
        }
        if clock >= node.next_tick_ms {
            node.next_tick_ms = clock + TICK_INTERVAL_MS;
            self.maybe_tick(i, &mut node);
        }
        self.nodes[i] = Some(node);
    }

    /// One round of the lease loop (`try_lease`): the holder renews; anyone else takes the
    /// lease (epoch + 1, compare-and-swap) when it is missing or was not renewed for
    /// `LEASE_TIMEOUT_MS` by this node's clock, and appends a Lease entry in lane 0.
    fn lease_round(&mut self, i: usize, node: &mut Node) {
        let clock = self.node_clock_ms(i);
        let me = node.incarnation;
        let epoch = match &mut self.kv_lease {
            None => 1,
            Some(kv) if kv.holder == me => {
                kv.renewed_ms = clock;
                return;
            }
            Some(kv) if clock.saturating_sub(kv.renewed_ms) < LEASE_TIMEOUT_MS => return,
            Some(kv) => {
                self.stats.lease_takeovers += 1;
                kv.epoch + 1
            }
        };
        let previous = self.kv_lease.map(|kv| kv.holder);
        self.kv_lease = Some(KvLease {
            holder: me,
            epoch,
            renewed_ms: clock,
        });
        let seed = self.rng.u64(..);
        node.issue(
            0,
            0,
            clock,
            seed,
            Body::Lease { epoch },
            What::Lease { epoch },
        );
        self.stats.internal_entries += 1;
        self.trace(format!(
            "node {i}: takes the lease at epoch {epoch} (from {previous:?})"
        ));
    }

    /// `maybe_tick`: a node whose engine says it holds the lease, with no tick in flight,
    /// ticks when keys are due by its clock.
    fn maybe_tick(&mut self, i: usize, node: &mut Node) {
        let clock = self.node_clock_ms(i);
        if node.tick_in_flight || !node.housekeeper() || !node.engine.expired_keys_due(clock) {
            return;
        }
        let keys_max = self.rng.u32(1..=8);
        let seed = self.rng.u64(..);
        node.issue(
            0,
            0,
            clock,
            seed,
            Body::Tick { keys_max },
            What::Tick { keys_max },
        );
        node.tick_in_flight = true;
        self.stats.internal_entries += 1;
    }

    // -----------------------------------------------------------------------------------------
    // Clients

    fn client_ops(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            let Some(node) = &self.nodes[i] else {
                continue;
            };
            if self.rng.f64() >= self.odds.client_op {
                continue;
            }
            let client = node.clients[self.rng.usize(..node.clients.len())];
            let op = self.ops.len();
            let roll = self.rng.u8(0..100);
            let plain = key(PLAIN_KEYS[self.rng.usize(..PLAIN_KEYS.len())]);
            let ms = self.rng.u64(50..3_000).to_string();
            let (db, words, kind): (u32, Vec<Bytes>, OpKind) = match roll {
                0..30 => {
                    let k = self.rng.usize(..APPEND_KEYS.len());
                    let (db, name) = APPEND_KEYS[k];
                    (
                        db,
                        vec!["APPEND".into(), name.into(), token(op).into()],
                        OpKind::Append { key: k },
                    )
                }
                30..52 => {
                    let k = self.rng.usize(..COUNTER_KEYS.len());
                    let (db, name) = COUNTER_KEYS[k];
                    self.incr_issued[k] += 1;
                    (
                        db,
                        vec!["INCR".into(), name.into()],
                        OpKind::Incr { counter: k },
                    )
                }
                52..62 => (
                    plain.0,
                    vec!["SET".into(), plain.1, format!("v{op}").into()],
                    OpKind::OtherWrite,
                ),
                62..70 => (
                    plain.0,
                    vec![
                        "SET".into(),
                        plain.1,
                        format!("v{op}").into(),
                        "PX".into(),
                        ms.into(),
                    ],
                    OpKind::OtherWrite,
                ),
                70..76 => (plain.0, vec!["DEL".into(), plain.1], OpKind::OtherWrite),
                76..80 => (
                    plain.0,
                    vec!["PEXPIRE".into(), plain.1, ms.into()],
                    OpKind::OtherWrite,
                ),
                80..82 => (
                    plain.0,
                    vec![
                        "EXPIRE".into(),
                        plain.1,
                        self.rng.u8(1..=3).to_string().into(),
                    ],
                    OpKind::OtherWrite,
                ),
                _ => {
                    self.read(i, client)?;
                    continue;
                }
            };
            let clock = self.node_clock_ms(i);
            let seed = self.rng.u64(..);
            let lane = self.clients[client].lane;
            let node = self.nodes[i].as_mut().expect("a live node");
            let ticket = node.ticket(lane);
            let origin = node.issue(
                lane,
                db,
                clock,
                seed,
                Body::Command(words),
                What::Client { op, ticket },
            );
            self.ops.push(Op {
                node: i,
                client,
                origin,
                kind,
                status: Status::Pending,
            });
            self.clients[client].unanswered.push_back(op);
            self.clients[client].last_write = Some(op);
            self.stats.writes += 1;
        }
        Ok(())
    }

    /// A GET arrives at node `i` from `client`: it waits in the client's lane for the writes
    /// the lane issued before it and, on a linearizable node, for a read barrier requested
    /// after it arrived (`Mode::NoBarrier`: for no barrier).
    fn read(&mut self, i: usize, client: usize) -> Result<(), String> {
        let k = self.keys[self.rng.usize(..self.keys.len())].clone();
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        let linearizable = node.linearizable;
        let tail = self.log.last_seq();
        let required = if linearizable { self.max_acked_seq } else { 0 };
        if self.max_acked_seq > tail {
            return Err(format!(
                "a write acknowledged at seq {} is beyond the log's tail {tail}",
                self.max_acked_seq
            ));
        }
        let acked_before = match APPEND_KEYS.iter().position(|&ak| key(ak) == k) {
            Some(a) if linearizable => self.acked_tokens[a].len(),
            _ => 0,
        };
        let op = self.ops.len();
        self.ops.push(Op {
            node: i,
            client,
            origin: Origin::default(),
            kind: OpKind::Read {
                key: k,
                required,
                acked_before,
                own_write: self.clients[client].last_write,
            },
            status: Status::Pending,
        });
        self.clients[client].unanswered.push_back(op);
        self.stats.reads += 1;
        let lane = self.clients[client].lane;
        let ticket = node.ticket(lane);
        let barrier = if !linearizable {
            self.stats.session_reads += 1;
            0
        } else if self.config.mode == Mode::NoBarrier {
            0
        } else {
            let (barrier, sent) = node.request_barrier(self.step);
            if sent {
                self.stats.barriers += 1;
            } else {
                self.stats.reads_next_barrier += 1;
            }
            barrier
        };
        let read = PendingRead {
            op,
            lane,
            ticket,
            mark: node.issued[lane],
            issued_at_arrival: node.issued,
            barrier,
            barrier_seq: None,
        };
        let result = if node.waiting[lane].is_empty() && node.runnable(&read) {
            self.answer_read(i, &mut node, &read)
        } else {
            self.stats.reads_waited += 1;
            node.waiting[lane].push_back(read);
            Ok(())
        };
        self.nodes[i] = Some(node);
        result
    }

    /// Forgets reference states and model history no node can reach any more.
    fn prune(&mut self) {
        let mut keep = self.snapshots.front().map_or(0, |(seq, _)| *seq);
        for node in self.nodes.iter().flatten() {
            keep = keep.min(node.applied);
        }
        self.sigs = self.sigs.split_off(&keep);
        self.reference.model.prune_below(keep);
    }

    // -----------------------------------------------------------------------------------------
    // The end of a run

    /// Every node idle and caught up, nothing in the network, and no key with an expire time
    /// left (the holder's ticks removed them all).
    fn quiescent(&self) -> bool {
        let tail = self.log.last_seq();
        self.network.is_empty()
            && self.reference.applied == tail
            && volatile_keys(&self.reference.engine) == 0
            && self
                .nodes
                .iter()
                .all(|n| n.as_ref().is_some_and(|n| n.is_idle() && n.applied == tail))
    }

    /// No more faults or clients: crashed nodes restart, delays and stalls end, late copies
    /// land, and every node must become idle and caught up, with every expiring key removed.
    fn drain(&mut self) -> Result<(), String> {
        self.faults = false;
        self.clients_on = false;
        self.stats.volatile_at_drain += volatile_keys(&self.reference.engine) as u64;
        self.trace("drain: faults and clients stop".into());
        let start = self.step;
        while !self.quiescent() {
            if self.step - start >= DRAIN_STEPS_MAX {
                let busy: Vec<String> = self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| match n {
                        None => format!("node {i} down"),
                        Some(n) => format!(
                            "node {i} at seq {}: {} queued, in flight {:?}, {} pending, {} reads, barrier {:?}, housekeeper {}",
                            n.applied,
                            n.queued(),
                            n.in_flight_ids(),
                            n.pending.len(),
                            n.waiting.iter().map(VecDeque::len).sum::<usize>(),
                            n.barrier,
                            n.housekeeper()
                        ),
                    })
                    .collect();
                return Err(format!(
                    "not quiescent {DRAIN_STEPS_MAX} steps after faults stopped (log tail {}, {} keys with an expire time, lease {:?}): {}",
                    self.log.last_seq(),
                    volatile_keys(&self.reference.engine),
                    self.kv_lease,
                    busy.join("; ")
                ));
            }
            self.step()?;
        }
        Ok(())
    }

    /// Every acknowledged write is in the final state exactly once, every write of unknown
    /// outcome at most once, every counter counts what it should, every node agrees, every
    /// key with an expire time is gone from every node, and every client has its replies.
    fn final_checks(&mut self) -> Result<(), String> {
        let engine = &self.reference.engine;
        let expected = sig(engine);
        for (i, node) in self.nodes.iter().enumerate() {
            let node = node.as_ref().ok_or(format!("node {i} down after drain"))?;
            let actual = sig(&node.engine);
            if actual != expected {
                return Err(format!(
                    "after drain node {i} holds {actual:?}, the reference {expected:?}"
                ));
            }
            let volatile = volatile_keys(&node.engine);
            if volatile > 0 {
                return Err(format!(
                    "expiry stalled: after drain node {i} still holds {volatile} keys with an expire time"
                ));
            }
        }
        if let Some(c) = self.clients.iter().find(|c| !c.unanswered.is_empty()) {
            return Err(format!(
                "client {} at node {} still waits for ops {:?}",
                c.id, c.node, c.unanswered
            ));
        }
        let mut counts = BTreeMap::new();
        for k in APPEND_KEYS {
            let value = raw_value(engine, &key(k)).map_or(&[][..], |(v, _)| v);
            for t in parse_tokens(value)? {
                *counts.entry(t).or_insert(0u32) += 1;
            }
        }
        let mut incr_acked = [0u64; COUNTER_KEYS.len()];
        let mut incr_unknown = [0u64; COUNTER_KEYS.len()];
        for (op, o) in self.ops.iter().enumerate() {
            if o.status == Status::Pending {
                return Err(format!(
                    "op {op} ({:?} at node {}) never answered",
                    o.kind, o.node
                ));
            }
            match (&o.kind, o.status) {
                (OpKind::Append { key: k }, status) => {
                    let n = counts.get(&(op as u64)).copied().unwrap_or(0);
                    let acked = matches!(status, Status::Acked { .. });
                    if (acked && n != 1) || n > 1 {
                        return Err(format!(
                            "APPEND t{op} to {} ({status:?}) appears {n} times in the final state",
                            APPEND_KEYS[*k].1
                        ));
                    }
                }
                (OpKind::Incr { counter }, Status::Acked { .. }) => incr_acked[*counter] += 1,
                (OpKind::Incr { counter }, Status::Unknown) => incr_unknown[*counter] += 1,
                _ => {}
            }
        }
        for (c, k) in COUNTER_KEYS.into_iter().enumerate() {
            let value = match raw_value(engine, &key(k)) {
                None => 0,
                Some((v, _)) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("counter {} holds {v:?}", k.1))?,
            };
            let (acked, unknown) = (incr_acked[c], incr_unknown[c]);
            if value < acked || value > acked + unknown {
                return Err(format!(
                    "counter {} is {value}: {acked} INCRs acknowledged, {unknown} of unknown outcome",
                    k.1
                ));
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
