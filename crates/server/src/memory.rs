//! Used memory, as `maxmemory` and INFO memory count it.
//!
//! Running on jemalloc (the `cairn` binary installs a [`Probe`]), used memory is jemalloc's
//! `stats.allocated`: the bytes of live allocations, which falls as soon as keys are freed.
//! The resident set size, the fallback where no probe is installed (in-process tests), does
//! not fall when keys are freed (the allocator keeps the pages), so eviction measured by it
//! overshoots.
//!
//! A background snapshot rebuilds a second copy of the data set on a thread of its own. That
//! copy is not the node's to evict for (as the memory of Redis's fork child is not Redis's):
//! the snapshot thread publishes what it holds, its own allocations less its frees by
//! jemalloc's per-thread counters, at checkpoints, each of which first hands the thread's
//! cached blocks back (freed by the thread, they would still count as allocated; turning the
//! cache off for the whole snapshot instead made jemalloc keep the freed copy's pages
//! resident) (`snapshot_checkpoint`): after loading the previous snapshot, every few records it
//! replays, and before serializing, with what serializing and writing may allocate counted
//! ahead; the figure keeps its highest value until the snapshot ends. Used memory leaves it
//! out. Until the first checkpoint the reading taken when it started stands: the copy can
//! make the node evict late, never early. On a shared log the records a rebuild replays are
//! allocated by the log's runtime thread, so the snapshot thread's counters cannot say what it
//! holds: there the first reading stands until the snapshot ends.
//!
//! A reading is cached for `CACHE_US`: advancing jemalloc's epoch merges every arena's
//! statistics, too much for every command. `invalidate` drops it whenever the core has applied
//! entries (once per batch the log hands back), so the next command sees their effect, added
//! keys and evicted ones alike.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// How the binary's allocator reports its memory.
pub struct Probe {
    /// Bytes in live allocations, process-wide (after refreshing the statistics).
    pub allocated: fn() -> Option<u64>,
    /// Bytes the calling thread has allocated and not freed since it started.
    pub thread_held: fn() -> Option<u64>,
    /// Hands the blocks the calling thread's cache keeps back to the allocator: freed by the
    /// thread, they still count as allocated while cached.
    pub thread_flush: fn(),
    /// INFO's `mem_allocator`.
    pub name: &'static str,
}

static PROBE: OnceLock<Probe> = OnceLock::new();

/// A reading is this fresh at most (µs): at 100k commands/s, a few hundred commands share one.
const CACHE_US: u64 = 2_000;

static CACHED_BYTES: AtomicU64 = AtomicU64::new(0);
/// When `CACHED_BYTES` was read (monotonic µs); 0: no valid reading.
static CACHED_AT_US: AtomicU64 = AtomicU64::new(0);
/// What the background snapshot's thread holds; `UNMEASURED` until its first checkpoint.
static SNAPSHOT_HELD: AtomicU64 = AtomicU64::new(0);
/// The reading when the snapshot started, standing until its first checkpoint.
static SNAPSHOT_FROZEN: AtomicU64 = AtomicU64::new(0);
const UNMEASURED: u64 = u64::MAX;
/// Whether the running snapshot's checkpoints count (`snapshot_started`).
static SNAPSHOT_MEASURED: AtomicBool = AtomicBool::new(false);

/// Installs the allocator's probe (once, before the node starts).
pub fn install(probe: Probe) {
    let _ = PROBE.set(probe);
}

/// INFO's `mem_allocator`.
pub fn allocator() -> &'static str {
    PROBE.get().map_or("libc", |p| p.name)
}

/// Used memory in bytes, cached for a moment.
pub fn used_bytes() -> u64 {
    let now_us = crate::calls::monotonic_us().max(1);
    let at = CACHED_AT_US.load(Relaxed);
    if at != 0 && now_us.saturating_sub(at) < CACHE_US {
        return CACHED_BYTES.load(Relaxed);
    }
    let bytes = measure();
    CACHED_BYTES.store(bytes, Relaxed);
    CACHED_AT_US.store(now_us, Relaxed);
    bytes
}

fn measure() -> u64 {
    let Some(allocated) = PROBE.get().and_then(|p| (p.allocated)()) else {
        return rss_bytes();
    };
    match SNAPSHOT_HELD.load(Relaxed) {
        UNMEASURED => SNAPSHOT_FROZEN.load(Relaxed),
        held => allocated.saturating_sub(held),
    }
}

/// The next reading is a fresh one (entries were applied: memory changed).
pub fn invalidate() {
    CACHED_AT_US.store(0, Relaxed);
}

/// A background snapshot is starting (on the core's thread, before its thread spawns).
/// `measured`: the snapshot thread allocates everything it holds itself (the file log), so its
/// checkpoints are trusted; otherwise (records arrive from the shared log's runtime thread,
/// freed by the snapshot's: its counters say nothing) the first reading stands throughout.
pub fn snapshot_started(measured: bool) {
    invalidate();
    SNAPSHOT_FROZEN.store(used_bytes(), Relaxed);
    SNAPSHOT_HELD.store(UNMEASURED, Relaxed);
    SNAPSHOT_MEASURED.store(measured, Relaxed);
}

/// On the snapshot's thread: publishes what it holds now plus `ahead`, what the step it is
/// about to take may allocate, unless an earlier checkpoint published more (the figure only
/// grows while the snapshot runs: counting memory the thread does not hold only makes the
/// node evict later). Returns what it holds.
pub fn snapshot_checkpoint(ahead: u64) -> u64 {
    let held = PROBE.get().and_then(|p| {
        (p.thread_flush)();
        (p.thread_held)()
    });
    let held = held.unwrap_or(0);
    if !SNAPSHOT_MEASURED.load(Relaxed) {
        return held;
    }
    let published = held.saturating_add(ahead).min(UNMEASURED - 1);
    // Only this thread writes the figure while its snapshot runs.
    let before = SNAPSHOT_HELD.load(Relaxed);
    if before == UNMEASURED || published > before {
        SNAPSHOT_HELD.store(published, Relaxed);
    }
    held
}

/// The snapshot's thread is done (its copy is freed).
pub fn snapshot_finished() {
    SNAPSHOT_HELD.store(0, Relaxed);
    invalidate();
}

/// Resident set size from /proc (Linux); 0 elsewhere.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // Linux x86_64 and aarch64 builds of this use 4 KiB pages.
    pages * 4096
}
