//! Eviction under `maxmemory` (Redis 7.0.15's `performEvictions`): when a command arrives
//! while used memory (`crate::memory`) is over the limit, the node chooses victims by its
//! policy (`cairn_engine::evict::Picker`: Redis's sampling and eviction pool, or random keys
//! from the node's own generator) until their estimated sizes (MEMORY USAGE's) cover the
//! excess, and appends one Evict entry naming them in the command's lane, before the command's
//! own entry. Every node (and every replay) deletes the same keys when it applies that entry.
//!
//! While an Evict entry is in flight, its keys and estimated bytes count as freed already:
//! commands arriving meanwhile neither evict again for the same excess nor pick the same keys.
//! When it is applied the memory reading is refreshed. A pass stops at the time limit
//! `maxmemory-eviction-tenacity` gives it (checked every 16 keys, as Redis does) or when its
//! entry is full; with memory still over, the next pass starts once its entry is applied
//! (Redis's eviction time proc), and
//! housekeeping ticks check too, so a `CONFIG SET maxmemory` lower than the data evicts
//! without waiting for a command.
//!
//! Eviction is per node: on a shared log each node evicts for its own memory, and the keys go
//! on every node. Nodes over the limit at the same moment may each evict for it. Paused
//! clients (CLIENT PAUSE) stop eviction, and the OOM refusal with it, as in Redis.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use cairn_engine::evict::{Choice, Picker, Policy};
use cairn_engine::{Body, Entry, Rng};
use cairn_resp::Reply;

use super::{Core, NodeHandle, Relaxed};

/// `maxmemory-policy` and what goes with it: the choice of victims (`maxmemory-samples`,
/// `maxmemory-eviction-tenacity`) and LFU tracking (`lfu-log-factor`, `lfu-decay-time`), with
/// Redis's defaults and ranges. Node-local: each node evicts for its own memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictionConfig {
    pub policy: Policy,
    pub samples: u64,
    pub tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig {
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

impl EvictionConfig {
    /// What the engine tracks on each key access under these settings.
    pub fn tracking(&self) -> cairn_engine::evict::Tracking {
        cairn_engine::evict::Tracking {
            lfu: self.policy.is_lfu(),
            lfu_log_factor: u32::try_from(self.lfu_log_factor).unwrap_or(u32::MAX),
            lfu_decay_time: u32::try_from(self.lfu_decay_time).unwrap_or(u32::MAX),
        }
    }
}

/// The node's eviction state.
pub(super) struct Eviction {
    settings: EvictionConfig,
    picker: Picker,
    /// The node's own randomness for sampling (eviction choices are the node's, not the log's).
    rng: Rng,
    /// Keys named by Evict entries in flight, by database: not chosen again.
    in_flight: HashMap<usize, HashSet<Box<[u8]>>>,
    /// Estimated bytes those entries free, in all and by request number.
    in_flight_bytes: u64,
    entries: HashMap<u64, u64>,
    /// A pass stopped at its time limit (or a full entry) with memory still over: another runs
    /// once an entry of this node's is applied.
    resume: bool,
}

impl Eviction {
    pub(super) fn new(settings: EvictionConfig) -> Eviction {
        Eviction {
            settings,
            picker: Picker::default(),
            rng: Rng::new(fastrand::u64(..)),
            in_flight: HashMap::new(),
            in_flight_bytes: 0,
            entries: HashMap::new(),
            resume: false,
        }
    }
}

/// What one pass achieved (Redis's EVICT_OK, EVICT_RUNNING, EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Covered,
    /// Stopped at its time limit or at the size of one entry, with more to free.
    Running,
    NothingLeft,
}

/// Keys chosen between checks of the time limit (Redis checks every 16 deletions).
const KEYS_PER_CHECK: usize = 16;
/// Keys one Evict entry names at most, and the key bytes it carries at most (well under
/// JetStream's default 1 MiB message), so that no entry is too big for the log; a pass that
/// reaches either goes on once its entry is applied.
const ENTRY_KEYS_MAX: usize = 4_096;
const ENTRY_KEY_BYTES_MAX: usize = 256 * 1024;

/// How long a pass may run under `maxmemory-eviction-tenacity` (Redis's
/// `evictionTimeLimitUs`): 0..=10 step linearly up to 500 µs, then 15% more per step, 100 has
/// no limit.
fn time_limit_us(tenacity: u64) -> Option<u64> {
    match tenacity {
        0..=10 => Some(50 * tenacity),
        11..=99 => Some((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64),
        _ => None,
    }
}

impl Core {
    /// The eviction settings changed (CONFIG SET): access tracking follows the policy, and a
    /// new policy starts a new pool (scores of different policies do not compare).
    pub(crate) fn configure_eviction(&mut self, settings: EvictionConfig) {
        if settings.policy != self.eviction.settings.policy {
            self.eviction.picker.reset();
        }
        self.eviction.settings = settings;
        self.engine.set_tracking(settings.tracking());
    }

    /// Redis's `performEvictions`, as a command arrives in `lane` while `maxmemory` is set:
    /// evicts what the policy allows when memory is over the limit, and says whether the node
    /// is out of memory (over the limit with nothing it can evict: commands that may add data
    /// are refused).
    pub(crate) fn out_of_memory(&mut self, maxmemory: u64, lane: usize) -> bool {
        let used = crate::memory::used_bytes();
        if used <= maxmemory || self.shared.pause.active() {
            return false;
        }
        if self.eviction.settings.policy == Policy::NoEviction {
            return true;
        }
        // Entries in flight will free their share: only the rest is this pass's to find.
        let excess = used - maxmemory;
        if excess <= self.eviction.in_flight_bytes {
            return false;
        }
        self.evict_pass(excess - self.eviction.in_flight_bytes, lane) == Pass::NothingLeft
    }

    /// Chooses victims until their estimates reach `bytes` (or the time limit, a full entry,
    /// or nothing is left) and appends their Evict entry.
    fn evict_pass(&mut self, bytes: u64, lane: usize) -> Pass {
        let started = Instant::now();
        let limit_us = time_limit_us(self.eviction.settings.tenacity);
        let (mut keys, mut freed, mut pass) = (Vec::new(), 0u64, Pass::Covered);
        let mut key_bytes = 0;
        let samples = usize::try_from(self.eviction.settings.samples).unwrap_or(usize::MAX);
        let (policy, clock_ms) = (self.eviction.settings.policy, super::unix_ms());
        while freed < bytes {
            let Eviction {
                picker,
                rng,
                in_flight,
                ..
            } = &mut self.eviction;
            let taken = |db: usize, key: &[u8]| in_flight.get(&db).is_some_and(|k| k.contains(key));
            let mut choice = Choice {
                policy,
                samples,
                clock_ms,
                rng,
                taken: &taken,
            };
            let Some(victim) = picker.next(&self.engine, &mut choice) else {
                pass = Pass::NothingLeft;
                break;
            };
            freed += victim.bytes;
            key_bytes += victim.key.len();
            in_flight
                .entry(victim.db)
                .or_default()
                .insert(victim.key[..].into());
            keys.push((victim.db as u32, victim.key));
            let timed_out = keys.len() % KEYS_PER_CHECK == 0
                && limit_us.is_some_and(|us| started.elapsed().as_micros() as u64 > us);
            if timed_out || keys.len() >= ENTRY_KEYS_MAX || key_bytes >= ENTRY_KEY_BYTES_MAX {
                pass = Pass::Running;
                break;
            }
        }
        if !keys.is_empty() {
            let request = self.next_request;
            self.issue(Body::Evict { keys }, 0, None, None, lane);
            self.eviction.entries.insert(request, freed);
            self.eviction.in_flight_bytes += freed;
        }
        self.eviction.resume = pass == Pass::Running;
        let ms = started.elapsed().as_millis() as u64;
        self.shared.latency.sample("eviction-cycle", ms);
        pass
    }

    /// Housekeeping: evicts without waiting for a command (after `CONFIG SET maxmemory`, or
    /// while a pass that timed out has more to do).
    pub(super) fn maybe_evict(&mut self) {
        let maxmemory = self.shared.config.read().expect("config lock").maxmemory;
        if maxmemory > 0 && self.eviction.settings.policy != Policy::NoEviction {
            self.out_of_memory(maxmemory, 0);
        }
    }

    /// Any node's Evict entry was applied: counts what it evicted; the memory it freed shows
    /// in the next reading.
    pub(super) fn evict_applied(&mut self, entry: &Entry, reply: Option<&Reply>) {
        if let (Body::Evict { .. }, Some(Reply::Int(n))) = (&entry.body, reply) {
            self.shared.stats.evicted_keys.fetch_add(*n as u64, Relaxed);
            crate::memory::invalidate();
        }
    }

    /// This node's Evict entry was resolved (applied, or refused by the log): its keys and
    /// bytes no longer count as in flight. A pass that timed out goes on.
    pub(super) fn evict_resolved(&mut self, entry: &Entry) {
        let Body::Evict { keys } = &entry.body else {
            return;
        };
        let e = &mut self.eviction;
        for (db, key) in keys {
            if let Some(set) = e.in_flight.get_mut(&(*db as usize)) {
                set.remove(&key[..]);
                if set.is_empty() {
                    e.in_flight.remove(&(*db as usize));
                }
            }
        }
        if let Some(bytes) = e.entries.remove(&entry.origin.request) {
            e.in_flight_bytes = e.in_flight_bytes.saturating_sub(bytes);
        }
        if std::mem::take(&mut e.resume) {
            self.maybe_evict();
        }
    }
}

impl NodeHandle {
    /// The gate's memory check for a command arriving in `lane` (`Core::out_of_memory`).
    pub fn out_of_memory(&self, maxmemory: u64, lane: usize) -> bool {
        let mut core = self.core.borrow_mut();
        let out = core.out_of_memory(maxmemory, lane);
        if core.has_outgoing() {
            self.flush.notify_one();
        }
        out
    }

    /// CONFIG SET changed eviction settings or `maxmemory`: applies them and evicts now if
    /// memory is over the new limit (as Redis starts its eviction time proc), in `lane`.
    pub fn configure_eviction(&self, settings: EvictionConfig, maxmemory: u64, lane: usize) {
        let mut core = self.core.borrow_mut();
        core.configure_eviction(settings);
        if maxmemory > 0 && settings.policy != Policy::NoEviction {
            core.out_of_memory(maxmemory, lane);
        }
        if core.has_outgoing() {
            self.flush.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Flags};

    #[test]
    fn tenacity_gives_redis_time_limits() {
        assert_eq!(time_limit_us(0), Some(0));
        assert_eq!(time_limit_us(10), Some(500));
        assert_eq!(time_limit_us(11), Some(575));
        assert_eq!(time_limit_us(99), Some(126_205_358));
        assert_eq!(time_limit_us(100), None);
    }

    #[test]
    fn eviction_options_have_redis_defaults_and_limits() {
        assert_eq!(Config::default().eviction.policy, Policy::NoEviction);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "maxmemory-policy = \"allkeys-lfu\"\nmaxmemory-samples = 10\nlfu-decay-time = 0\n",
        )
        .unwrap();
        let c = Config::load(Flags {
            config: Some(path),
            maxmemory_eviction_tenacity: Some(100),
            lfu_log_factor: Some(1),
            ..Flags::default()
        })
        .unwrap();
        let e = EvictionConfig {
            policy: Policy::AllkeysLfu,
            samples: 10,
            tenacity: 100,
            lfu_log_factor: 1,
            lfu_decay_time: 0,
        };
        assert_eq!(c.eviction, e);
        assert!(c.eviction.tracking().lfu);
        for (flags, text) in [
            (
                Flags {
                    maxmemory_policy: Some("lru".into()),
                    ..Flags::default()
                },
                "bad value for 'maxmemory-policy': argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            ),
            (
                Flags {
                    maxmemory_samples: Some(0),
                    ..Flags::default()
                },
                "bad value for 'maxmemory-samples': must be between 1 and 2147483647",
            ),
            (
                Flags {
                    maxmemory_eviction_tenacity: Some(101),
                    ..Flags::default()
                },
                "bad value for 'maxmemory-eviction-tenacity': must be between 0 and 100",
            ),
        ] {
            assert_eq!(Config::load(flags).unwrap_err().to_string(), text);
        }
    }
}
