//! The deterministic state machine of Cairn.
//!
//! - `acl`: users and their ACL rules (replicated), the permission check the gate runs.
//! - `entry`: the log record (`Entry`) and its frozen encoding.
//! - `evict`: `maxmemory-policy`, the access data it ranks keys by (node-local) and the choice
//!   of victims the node makes.
//! - `engine`: `Engine::apply(entry)` (the only way replicated state changes) and
//!   `Engine::read` (read-only commands against local state).
//! - `exec`: commands run inside an entry (MULTI/EXEC batches, scripts' calls).
//! - `watch`: WATCH's registry, which decides whether an EXEC commits.
//! - `table`: the command table (`Spec` rows), the single source of truth for every command.
//! - `commands/`: one file per command family; each exports its table rows.
//! - `db`, `dict`, `value`: the keyspace of one logical database, its hash table and values.
//! - `snapshot`: state as bytes and as a digest.
//! - `script`: Lua scripting (EVAL's cache, FUNCTION's libraries, the sandboxed VMs).
//! - `glob`: Redis's pattern matching (KEYS, SCAN MATCH).
//! - `tap`: the commands run inside an entry or a read, recorded for MONITOR (node-local).
//! - `testing`: the transcript runner `check()` used by every family's tests.
//!
//! Architecture invariant: nothing in this crate reads a clock, draws OS randomness, does I/O
//! or iterates a randomly seeded hash map. Time and seeds come from entries (writes) or from
//! the caller (reads, which never change replicated state). clippy.toml enforces it.

pub mod acl;
pub mod commands;
pub mod db;
pub mod dict;
pub mod engine;
pub mod entry;
pub mod evict;
pub mod exec;
pub mod glob;
pub mod notify;
pub mod rdb;
pub mod script;
pub mod snapshot;
pub mod table;
pub mod tap;
pub mod testing;
pub mod types;
pub mod value;
pub mod watch;

pub use engine::{Engine, ReadCtx, Rng, WriteCtx};
pub use entry::{Body, Entry, Origin};
pub use table::{Handler, SessionCmd, Spec};
pub use value::Value;
