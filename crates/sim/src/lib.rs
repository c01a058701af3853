//! A seeded, deterministic simulation of Cairn's cluster protocol: several nodes, each with
//! its own engine replica, over one in-memory shared log (a model of a JetStream stream),
//! with faults injected from the seed, and the system's invariants checked after every step.
//!
//! # What is simulated
//!
//! - **The log** ([`log`]): messages with consecutive seqs, a `Nats-Msg-Id` and the stream
//!   leader's timestamp; deduplication by id inside a window of steps (a retry after the
//!   window is stored again); purge below a seq (numbering never resets); the tail seq as the
//!   read barrier.
//! - **Nodes** ([`node`], mirroring `Core` in `crates/server/src/node.rs`): an incarnation id
//!   (random, new on every start, at least 8 away from any other and below `u64::MAX - 8`)
//!   with 8 **write lanes**. A connection (client) always uses lane `client_id % 8`; lane `l`
//!   is a writer of its own in the log (`origin.node = incarnation + l`), and every lane
//!   draws its requests from the incarnation's ONE counter (a lane's requests increase but
//!   are not contiguous). Lane 0 also carries the node's own entries (Tick, Expire, Lease).
//!   Lanes go through `publishers` publishers (1 in most seeds, the default; 2 to 8 in the
//!   others), lane `l` on publisher `l % P`, each with one message in flight, its own
//!   `Nats-Msg-Id` space (`incarnation + p`), and group commit: a message carries every
//!   record queued on it since its previous message, all lanes, in issue order, retried with
//!   the same id and bytes until acknowledged. A node applies the log in order from its own
//!   position, with each entry's time replaced by the message's timestamp.
//! - **Replies** in a connection's order. A write is answered when its node applies its
//!   entry; a read waits in its lane for the writes the lane issued before it arrived (not
//!   for other lanes') and, on a linearizable node, for a read barrier; on a session node
//!   (one node slot in five) for no barrier. A lane answers its client operations
//!   in arrival order: a write applied while an earlier read of its lane still waits has its
//!   reply held until that read is answered ([`Mode::EagerWriteReplies`] does not, as the
//!   server's core does not today).
//! - **Read barriers** (strict mode): an empty message on the control subject; its position
//!   is the tail when it is stored (an attempt may be refused, lost, or stored with its
//!   acknowledgement lost and retried); the acknowledgement reaches the node a few steps
//!   later. One barrier in flight per node: a read arriving meanwhile waits for the next one,
//!   requested when the one in flight returns.
//! - **The housekeeping lease**: a lease service (the KV key `lease`, compare-and-swap) that
//!   each node polls every `LEASE_INTERVAL_MS` of its own clock: the holder renews it, any
//!   other node takes it (epoch + 1) once it was not renewed for `LEASE_TIMEOUT_MS` by the
//!   reader's clock, and the taker appends a `Lease { epoch }` entry in lane 0. Only a node
//!   whose ENGINE says it holds the lease (`lease_holder() == incarnation`) ticks (every
//!   `TICK_INTERVAL_MS`, one tick in flight, when keys are due by its clock) and takes
//!   snapshots. Reads that find expired keys issue lazy-expiry entries (lane 0).
//! - **Snapshots**: now and then a housekeeper snapshots its engine at its applied position
//!   (dropped if the pointer is already there); the log is then purged below the previous
//!   snapshot. A node starts from the newest (sometimes the previous) snapshot and replays
//!   from the seq after it.
//! - **Simplifications**: a barrier is not stored as a message (its position is the tail when
//!   it is stored, which is equivalent: the empty message holds no records); reads run after
//!   a whole message is applied, never between two records of one (the server may, which is
//!   also linearizable); CAIRN.SYNC and node calls (which wait for every lane) and records the
//!   log refuses for good are not modelled.
//!
//! # Faults (probabilities drawn per seed)
//!
//! Lost append (not stored, retried); lost ack (stored, retried, deduplicated); a retry only
//! after the duplicate window (stored twice); an attempt held in the network and stored
//! later (possibly after the node moved on or crashed, possibly twice); lost or refused
//! barriers; delayed delivery to a node; crash at any step (pending writes get no answer:
//! unknown outcome; its connections close) and restart with a new incarnation and new
//! connections from a snapshot; a running node that fell behind a purge restarting from a
//! snapshot; leader failover (no leader for a few steps, and the leader clock jumping back);
//! a **stalled lease holder**: its lease loop stops (no renewal) and its consumer lags, so
//! another node takes the lease over while the old holder, from its stale engine, still
//! believes it holds it and keeps ticking (a zombie).
//!
//! # What is checked
//!
//! After every message a node applies, and after every step:
//! 1. **Same prefix, same state.** A reference engine applies every stored message at once
//!    (with `apply_logged`); its digest, logical time, writer count and lease at each seq are
//!    kept, and every node (restarted ones and restored snapshots included) must match them
//!    when it reaches that seq. The reference itself must agree key by key, and on the lease,
//!    with an independent model ([`model`]) that dedups by origin, which also checks that each
//!    writer's (each lane's) requests first reach the log in increasing order (what the
//!    engine's filter relies on). Each message holds entries of its publisher's lanes only,
//!    in issue order.
//! 2. **Exactly once.** Values of append keys only grow and never hold a token twice, on
//!    every node; an acknowledged APPEND's token is present exactly once when it is
//!    acknowledged; an acknowledged reply equals the reference's reply for that entry;
//!    acknowledged INCRs of one counter return distinct values no larger than the INCRs
//!    issued. At the end (after a drain with no faults, in which every node must become idle
//!    and caught up): acknowledged tokens appear exactly once, unknown ones at most once, and
//!    each counter lies between its acknowledged INCRs and those plus the unknown ones.
//! 3. **Linearizable reads.** A read on a linearizable node is answered at a position at or
//!    past the seq of every write acknowledged (anywhere) before it arrived, with the model's
//!    value at that position, and holds the latest tokens acknowledged before it. Every read
//!    sees its own client's earlier writes.
//! 4. **Reply order.** Each client gets its replies in the order it sent its commands.
//! 5. **Fencing.** Every Tick comes after a Lease entry; a Tick from a writer that does not
//!    hold the lease at its position (a zombie's) answers `Int(0)` and leaves the reference's
//!    digest unchanged (and every node agrees at that position); a Lease entry answers 1
//!    exactly when its epoch is newer. **Expiry progresses**: the drain lasts until no key
//!    with an expire time is left, which only the holder's ticks can achieve, and then no
//!    node may hold one.
//!
//! Deliberately unsafe modes exist only for the tests that prove these checks catch a
//! missing duplicate filter ([`Mode::NoFilter`]), a missing read barrier
//! ([`Mode::NoBarrier`]), write replies overtaking a connection's earlier read
//! ([`Mode::EagerWriteReplies`]) and lanes sharing one writer id over several publishers
//! ([`Mode::SharedWriter`]).
//!
//! # Running and replaying
//!
//! `cargo test -p cairn-sim --release` runs a fixed set of seeds (`CAIRN_SIM_SEEDS=<count>`
//! for more, `CAIRN_SIM_STEPS=<n>` for longer runs). A failure prints its seed, step, a
//! description and the last events, and replays exactly with
//! `CAIRN_SIM_SEED=<n> [CAIRN_SIM_STEPS=<n>] cargo test -p cairn-sim --release replay`.
//! Everything comes from the seed: no clocks, no OS randomness, no hash-map iteration order.

pub mod log;
pub mod model;
pub mod node;
pub mod sim;

pub use sim::{Config, Failure, Mode, Report, Stats, run};

/// Steps of a run unless `CAIRN_SIM_STEPS` says otherwise.
pub const DEFAULT_STEPS: u64 = 3_000;

/// A non-negative integer from the environment, if set and valid.
pub fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={text:?} is not a number"),
    }
}

/// `CAIRN_SIM_STEPS`, or [`DEFAULT_STEPS`].
pub fn steps_from_env() -> u64 {
    env_u64("CAIRN_SIM_STEPS").unwrap_or(DEFAULT_STEPS)
}
