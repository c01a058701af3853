//! The scheduler: one loop of simulated steps over nodes, the log, the network and the
//! snapshot store, with faults drawn from the seed, and the checks after every step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use bytes::Bytes;
use cairn_engine::{Body, Engine, Entry, Origin};

use crate::log::{Appended, Log, Message, MsgId};
use crate::model::{self, Key, Model};
use crate::node::{DATABASES, Node, PendingRead, Waiter};

/// What the nodes do; the unsafe modes exist to prove that the checks catch their bugs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The real protocol.
    Safe,
    /// Nodes apply records with `Engine::apply`, without the duplicate filter.
    NoFilter,
    /// Nodes answer reads from local state at once, without waiting for the barrier.
    NoBarrier,
}

impl Mode {
    /// `safe`, `no-filter` or `no-barrier` (the `CAIRN_SIM_MODE` values).
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "safe" => Some(Mode::Safe),
            "no-filter" => Some(Mode::NoFilter),
            "no-barrier" => Some(Mode::NoBarrier),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Safe => "safe",
            Mode::NoFilter => "no-filter",
            Mode::NoBarrier => "no-barrier",
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
    /// Client writes issued.
    writes,
    /// Client writes answered (their entry applied by the node that took them).
    writes_acked,
    /// Client writes whose node crashed before answering.
    writes_unknown,
    reads,
    reads_answered,
    /// Reads that had to wait for their barrier.
    reads_waited,
    /// Tick and lazy-expiry entries the nodes issued.
    internal_entries,
    append_attempts,
    messages_stored,
    /// The most entries in one message.
    largest_batch,
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
    purged_messages,
}

/// The outcome of a run that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub seed: u64,
    pub nodes: usize,
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
/// faults or clients until every node is idle and caught up, then the final checks.
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
}

fn sig(engine: &Engine) -> Sig {
    Sig {
        digest: engine.digest(),
        now_ms: engine.now_ms(),
        writers: engine.writers_known(),
    }
}

/// The reference: always caught up with the log, applying it with `apply_logged`, next to the
/// independent model.
struct Reference {
    engine: Engine,
    applied: u64,
    model: Model,
    observer: Observer,
    /// Replies of applied entries nobody has answered yet, by origin.
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
        /// The highest seq of a write acknowledged before the read arrived.
        required: u64,
        /// For an append key: how many of its tokens were acknowledged before the read.
        acked_before: usize,
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
    origin: Origin,
    kind: OpKind,
    status: Status,
}

/// Fault and workload probabilities, drawn from the seed.
#[derive(Clone, Debug)]
struct Odds {
    /// A client operation at a live node, per step.
    client_op: f64,
    /// Per append attempt.
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
    tick: f64,
}

/// An attempt held in the network, stored (or deduplicated) when it lands.
struct Late {
    lands: u64,
    id: MsgId,
    records: Vec<Bytes>,
}

const TRACE_LEN: usize = 48;
/// The drain must reach quiescence within this many steps.
const DRAIN_STEPS_MAX: u64 = 20_000;
/// Reads check this many of the latest tokens acknowledged before them.
const READ_TOKENS_CHECKED: usize = 8;
/// The first Unix time of the simulated clock (2023-11-14).
const CLOCK_START_MS: u64 = 1_700_000_000_000;

struct Sim {
    config: Config,
    rng: fastrand::Rng,
    odds: Odds,
    faults: bool,
    clients: bool,
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
    /// Per node slot: its clock's offset from the simulation's, and when a crashed one restarts.
    skew_ms: Vec<i64>,
    restart_at: Vec<u64>,
    incarnations: BTreeSet<u64>,
    /// (seq, engine snapshot bytes), oldest first; at most two are kept.
    snapshots: VecDeque<(u64, Vec<u8>)>,
    reference: Reference,
    /// Log position → what every engine at that position must hold.
    sigs: BTreeMap<u64, Sig>,
    keys: Vec<Key>,
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
            tick: 0.02,
        };
        let skew_ms = (0..nodes).map(|_| rng.i64(-250..=250)).collect();
        Sim {
            config: config.clone(),
            rng,
            odds,
            faults: true,
            clients: true,
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
            restart_at: vec![0; nodes],
            incarnations: BTreeSet::new(),
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

    fn new_incarnation(&mut self) -> u64 {
        loop {
            let id = self.rng.u64(1..);
            if self.incarnations.insert(id) {
                return id;
            }
        }
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
            incarnation: 0,
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
            self.send(i);
        }
        self.reference_catch_up()?;
        for i in 0..self.nodes.len() {
            self.deliver(i)?;
        }
        if self.clients {
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
            if let Some(m) = &node.in_flight
                && m.id.incarnation != node.incarnation
            {
                return Err(format!(
                    "node {i} sends {} as incarnation {}",
                    m.id, node.incarnation
                ));
            }
            if let Some(read) = node.reads.iter().find(|r| r.barrier <= node.applied) {
                return Err(format!(
                    "node {i}: read {} still waits at seq {} for barrier {}",
                    read.op, node.applied, read.barrier
                ));
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

    /// A node at its applied position writes a snapshot; the log is purged below the previous
    /// snapshot (JetStream `purge {"seq": S_prev + 1}`), so a node restoring the newest one
    /// never misses its tail.
    fn take_snapshot(&mut self) {
        let newest = self.snapshots.back().map(|(seq, _)| *seq);
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i]
                    .as_ref()
                    .is_some_and(|n| newest.is_none_or(|s| n.applied > s))
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = candidates[self.rng.usize(..candidates.len())];
        let Some(node) = &self.nodes[i] else {
            return;
        };
        let seq = node.applied;
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

    /// Kills a node: its engine, queue, in-flight message and waiting clients are gone.
    /// Copies of its attempts may still be in the network.
    fn crash(&mut self, i: usize) {
        let Some(node) = self.nodes[i].take() else {
            return;
        };
        let mut unknown = 0;
        for waiter in node.pending.values() {
            if let Waiter::Client(op) = *waiter {
                self.ops[op].status = Status::Unknown;
                unknown += 1;
            }
        }
        for read in &node.reads {
            self.ops[read.op].status = Status::Dropped;
        }
        self.stats.writes_unknown += unknown;
        self.stats.crashes += 1;
        self.trace(format!(
            "node {i}: crash (incarnation {}, at seq {}, {unknown} writes unanswered, in flight {:?})",
            node.incarnation,
            node.applied,
            node.in_flight.as_ref().map(|m| m.id.to_string())
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

    /// Starts a node with a new incarnation from the snapshot at `snapshot` (an index into the
    /// store) or from an empty engine at position 0.
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
        self.nodes[i] = Some(Node::new(incarnation, engine, seq));
        if self.step > 0 {
            self.stats.restarts += 1;
        }
        self.trace(format!(
            "node {i}: start, incarnation {incarnation}, from seq {seq}"
        ));
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Appending

    /// The log stores (or deduplicates) one attempt.
    fn store(&mut self, id: MsgId, records: Vec<Bytes>) -> Appended {
        let count = records.len();
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
                }
                self.trace(format!(
                    "stored {id} at seq {seq} ({count} entries){}",
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

    /// Forms the node's next message if it can and makes the attempt that is due.
    fn send(&mut self, i: usize) {
        let step = self.step;
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        node.form_message(step);
        let Some(in_flight) = &mut node.in_flight else {
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
            self.retry(i, step + backoff);
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
            self.retry(i, step + backoff);
        } else if outcome == Some(1) {
            let lands = step + self.rng.u64(1..=2 * self.log.window_steps() + 5);
            self.network.push(Late { lands, id, records });
            self.trace(format!(
                "node {i}: append of {id} held in the network until step {lands}"
            ));
            self.retry(i, step + backoff);
        } else if outcome == Some(2) {
            self.store(id, records);
            self.stats.lost_acks += 1;
            self.trace(format!("node {i}: ack of {id} lost"));
            self.retry(i, step + backoff);
        } else if outcome == Some(3) {
            self.store(id, records);
            self.stats.slow_retries += 1;
            let at = step + self.log.window_steps() + self.rng.u64(0..=10);
            self.trace(format!(
                "node {i}: ack of {id} lost, retry after the window at step {at}"
            ));
            self.retry(i, at);
        } else {
            self.store(id, records);
            if let Some(node) = &mut self.nodes[i] {
                node.in_flight = None;
            }
        }
    }

    fn retry(&mut self, i: usize, at: u64) {
        if let Some(in_flight) = self.nodes[i].as_mut().and_then(|n| n.in_flight.as_mut()) {
            in_flight.next_attempt = at;
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
            let r = &mut self.reference;
            for record in &message.records {
                let entry = decode(record, message.timestamp_ms)?;
                let modelled = r.model.apply(seq, &entry)?;
                let reply = r.engine.apply_logged(&entry);
                match (modelled, reply) {
                    (model::Applied::Applied, Some(reply)) => {
                        if entry.origin.node != 0 {
                            r.replies.insert(
                                (entry.origin.node, entry.origin.request),
                                format!("{reply:?}"),
                            );
                        }
                    }
                    (model::Applied::Copy, None) => self.stats.copies_skipped += 1,
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
                }
            }
            r.applied = seq;
            r.observer
                .update(&r.engine)
                .map_err(|e| format!("reference at seq {seq}: {e}"))?;
            self.compare_model(seq)?;
            self.sigs.insert(seq, sig(&self.reference.engine));
        }
        Ok(())
    }

    /// The reference engine shows every key as the model has it.
    fn compare_model(&self, seq: u64) -> Result<(), String> {
        let (engine, model) = (&self.reference.engine, &self.reference.model);
        let now = engine.now_ms();
        if now != model.now_ms() {
            return Err(format!(
                "seq {seq}: engine time {now}, model time {}",
                model.now_ms()
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

    /// The node's consumer delivers up to a few messages, in order, then reads whose barrier
    /// is reached are answered.
    fn deliver(&mut self, i: usize) -> Result<(), String> {
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        if !self.faults || node.delayed_until <= self.step {
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
                let Some(message) = self.log.get(seq).cloned() else {
                    return Err(format!("node {i}: seq {seq} vanished"));
                };
                self.apply_message(i, &mut node, &message)?;
            }
        }
        let reached: Vec<PendingRead> = node
            .reads
            .extract_if(.., |r| r.barrier <= node.applied)
            .collect();
        for read in reached {
            self.answer_read(i, &mut node, read.op)?;
        }
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
        for record in &message.records {
            let entry = decode(record, message.timestamp_ms)?;
            let reply = match self.config.mode {
                Mode::NoFilter => Some(node.engine.apply(&entry)),
                Mode::Safe | Mode::NoBarrier => node.engine.apply_logged(&entry),
            };
            if entry.origin.node != node.incarnation {
                continue;
            }
            let Some(waiter) = node.pending.remove(&entry.origin.request) else {
                continue;
            };
            let Some(reply) = reply else {
                return Err(format!(
                    "node {i}: its own request {} at seq {seq} was skipped as a copy while its client waits",
                    entry.origin.request
                ));
            };
            if let Waiter::Client(op) = waiter {
                answered.push((op, format!("{reply:?}")));
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
        for (op, reply) in answered {
            self.acknowledge(i, op, seq, reply)?;
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
            Mode::Safe | Mode::NoBarrier => actual == expected,
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

    /// A client write is answered by node `i` after it applied the write's entry at `seq`.
    fn acknowledge(&mut self, i: usize, op: usize, seq: u64, reply: String) -> Result<(), String> {
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
                let n = reply
                    .strip_prefix("Int(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.parse::<i64>().ok())
                    .ok_or_else(|| format!("node {i}: INCR answered {reply}"))?;
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
    fn answer_read(&mut self, i: usize, node: &mut Node, op: usize) -> Result<(), String> {
        let OpKind::Read {
            key: k,
            required,
            acked_before,
        } = self.ops[op].kind.clone()
        else {
            return Err(format!("op {op} is not a read"));
        };
        let position = node.applied;
        if position < required {
            return Err(format!(
                "stale read: GET {} at node {i} answered at seq {position}, but a write acknowledged before the read arrived is at seq {required}",
                show(&k)
            ));
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
        // What a node does after a read: keys it found expired become a lazy-expiry entry.
        for (db, keys) in node.engine.take_seen_expired() {
            let keys = keys.into_iter().map(Bytes::from).collect();
            let seed = self.rng.u64(..);
            node.issue(
                db as u32,
                clock,
                seed,
                Body::Expire { keys },
                Waiter::Internal,
            );
            self.stats.internal_entries += 1;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Clients

    fn client_ops(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_none() {
                continue;
            }
            if self.rng.f64() < self.odds.tick {
                let keys_max = self.rng.u32(1..=8);
                self.issue(i, 0, Body::Tick { keys_max }, Waiter::Internal);
                self.stats.internal_entries += 1;
            }
            if self.rng.f64() >= self.odds.client_op {
                continue;
            }
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
                    self.read(i)?;
                    continue;
                }
            };
            let origin = self.issue(i, db, Body::Command(words), Waiter::Client(op));
            self.ops.push(Op {
                node: i,
                origin,
                kind,
                status: Status::Pending,
            });
            self.stats.writes += 1;
        }
        Ok(())
    }

    fn issue(&mut self, i: usize, db: u32, body: Body, waiter: Waiter) -> Origin {
        let clock = self.node_clock_ms(i);
        let seed = self.rng.u64(..);
        let node = self.nodes[i].as_mut().expect("issue at a live node");
        node.issue(db, clock, seed, body, waiter)
    }

    /// A linearizable GET arrives at node `i`: it waits until the node has applied the log's
    /// tail as of now (at once in `Mode::NoBarrier`).
    fn read(&mut self, i: usize) -> Result<(), String> {
        let k = self.keys[self.rng.usize(..self.keys.len())].clone();
        let barrier = self.log.last_seq();
        let required = self.max_acked_seq;
        if required > barrier {
            return Err(format!(
                "a write acknowledged at seq {required} is beyond the log's tail {barrier}"
            ));
        }
        let acked_before = APPEND_KEYS
            .iter()
            .position(|&ak| key(ak) == k)
            .map_or(0, |a| self.acked_tokens[a].len());
        let op = self.ops.len();
        self.ops.push(Op {
            node: i,
            origin: Origin::default(),
            kind: OpKind::Read {
                key: k,
                required,
                acked_before,
            },
            status: Status::Pending,
        });
        self.stats.reads += 1;
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        let result = if node.applied >= barrier || self.config.mode == Mode::NoBarrier {
            self.answer_read(i, &mut node, op)
        } else {
            self.stats.reads_waited += 1;
            node.reads.push(PendingRead { op, barrier });
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

    fn quiescent(&self) -> bool {
        let tail = self.log.last_seq();
        self.network.is_empty()
            && self.reference.applied == tail
            && self
                .nodes
                .iter()
                .all(|n| n.as_ref().is_some_and(|n| n.is_idle() && n.applied == tail))
    }

    /// No more faults or clients: crashed nodes restart, delays end, late copies land, and
    /// every node must become idle and caught up.
    fn drain(&mut self) -> Result<(), String> {
        self.faults = false;
        self.clients = false;
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
                            "node {i} at seq {}: {} queued, in flight {:?}, {} pending, {} reads",
                            n.applied,
                            n.outgoing.len(),
                            n.in_flight.as_ref().map(|m| m.id.to_string()),
                            n.pending.len(),
                            n.reads.len()
                        ),
                    })
                    .collect();
                return Err(format!(
                    "not quiescent {DRAIN_STEPS_MAX} steps after faults stopped (log tail {}): {}",
                    self.log.last_seq(),
                    busy.join("; ")
                ));
            }
            self.step()?;
        }
        Ok(())
    }

    /// Every acknowledged write is in the final state exactly once, every write of unknown
    /// outcome at most once, every counter counts what it should, every node agrees.
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
