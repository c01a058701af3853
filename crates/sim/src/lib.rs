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
//! - **Nodes** ([`node`]): an incarnation id (random, non-zero, new on every start) and a
//!   request counter; each client write becomes an `Entry` with origin (incarnation, request).
//!   Group commit: the entries issued since the last append form ONE message, at most one
//!   message in flight per node, retried with the same id and bytes until acknowledged. A
//!   node applies the log in order from its own position, with each entry's time replaced by
//!   the message's timestamp, and answers a write when it applies that write's entry, with
//!   the engine's reply. Reads wait for the barrier (the log's tail when they arrive). Nodes
//!   issue Tick entries and, after reads that found expired keys, lazy-expiry entries.
//! - **Snapshots**: now and then a node snapshots its engine at its applied position; the log
//!   is then purged below the previous snapshot. A node starts from the newest (sometimes the
//!   previous) snapshot and replays from the seq after it.
//!
//! # Faults (probabilities drawn per seed)
//!
//! Lost append (not stored, retried); lost ack (stored, retried, deduplicated); a retry only
//! after the duplicate window (stored twice); an attempt held in the network and stored
//! later (possibly after the node moved on or crashed, possibly twice); delayed delivery to a
//! node; crash at any step (pending writes get no answer: unknown outcome) and restart with a
//! new incarnation from a snapshot; a running node that fell behind a purge restarting from a
//! snapshot; leader failover (no leader for a few steps, and the leader clock jumping back).
//!
//! # What is checked
//!
//! After every message a node applies, and after every step:
//! 1. **Same prefix, same state.** A reference engine applies every stored message at once
//!    (with `apply_logged`); its digest, logical time and writer count at each seq are kept,
//!    and every node (restarted ones and restored snapshots included) must match them when it
//!    reaches that seq. The reference itself must agree key by key with an independent model
//!    ([`model`]) that dedups by origin, which also checks that each writer's requests first
//!    reach the log in increasing order (what the engine's filter relies on).
//! 2. **Exactly once.** Values of append keys only grow and never hold a token twice, on
//!    every node; an acknowledged APPEND's token is present exactly once when it is
//!    acknowledged; an acknowledged reply equals the reference's reply for that entry;
//!    acknowledged INCRs of one counter return distinct values no larger than the INCRs
//!    issued. At the end (after a drain with no faults, in which every node must become idle
//!    and caught up): acknowledged tokens appear exactly once, unknown ones at most once, and
//!    each counter lies between its acknowledged INCRs and those plus the unknown ones.
//! 3. **Linearizable reads.** A read is answered at a position at or past the seq of every
//!    write acknowledged (anywhere) before it arrived, with the model's value at that
//!    position, and holds the latest tokens acknowledged before it.
//!
//! Two deliberately unsafe modes ([`Mode::NoFilter`], [`Mode::NoBarrier`]) exist only for the
//! tests that prove these checks catch a missing duplicate filter or a missing read barrier.
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
