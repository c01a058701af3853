//! Eviction under `maxmemory` (Redis 7.0.15's src/evict.c): the policies, the access data they
//! rank keys by, and the choice of victims.
//!
//! Who decides what: the node measures its memory and, when it is over the limit, picks
//! victims with [`Picker`] (its own clock and randomness, read-only on the engine) and appends
//! an Evict entry; applying that entry (`Engine::apply`) deletes the named keys on every node
//! and in every replay alike. Nothing here changes replicated state.
//!
//! Access data is node-local, as OBJECT IDLETIME's always was: each slot keeps the second of its
//! last access (the LRU clock) and Redis's 24-bit LFU word (16 bits of minutes, the last
//! decrement time, and an 8-bit logarithmic counter). Neither is in the digest or the
//! snapshot. Every access updates the LRU clock; the LFU counter moves only while the node's
//! policy is an LFU one (it draws randomness), and keys start at [`LFU_INIT_VAL`].

use std::cell::Cell;

use bytes::Bytes;

use crate::engine::{Engine, Rng};

// ---------------------------------------------------------------------------------------------
// Policies

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    /// Every policy, in the order Redis lists them in its CONFIG SET error.
    pub const ALL: [Policy; 8] = [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllkeysLru,
        Policy::AllkeysLfu,
        Policy::AllkeysRandom,
        Policy::NoEviction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::NoEviction => "noeviction",
        }
    }

    /// A policy by name, any case (as Redis's enum configs read them).
    pub fn parse(text: &str) -> Option<Policy> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(text))
    }

    /// Redis's error for a name that is none of them.
    pub fn parse_error() -> String {
        let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
        format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    fn is_lru(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::AllkeysLru)
    }

    /// Any key may go (`allkeys-*`), not only keys with a TTL.
    pub fn allkeys(self) -> bool {
        matches!(
            self,
            Policy::AllkeysLru | Policy::AllkeysLfu | Policy::AllkeysRandom
        )
    }

    fn is_random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

// ---------------------------------------------------------------------------------------------
// Access data: LRU clock and LFU counter

/// The counter a new key starts with, so that it can collect a few accesses before it looks
/// like the least used (Redis's `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u8 = 5;

/// What the node tracks on each access (node-local; follows `maxmemory-policy`,
/// `lfu-log-factor` and `lfu-decay-time`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracking {
    /// An LFU policy is selected: accesses move the frequency counter.
    pub lfu: bool,
    /// `lfu-log-factor`: how many accesses it takes to raise the counter (Redis's default 10).
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per halving step of an idle key's counter (0: never decays).
    pub lfu_decay_time: u32,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

/// Minutes of `now_ms`, 16 bits (Redis's `LFUGetTimeInMinutes`).
fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// The LFU word: the minute of the last decrement and the counter.
pub(crate) fn lfu_word(now_ms: u64, counter: u8) -> u32 {
    (minutes(now_ms) << 8) | u32::from(counter)
}

/// The counter of `word`, decremented by one per `decay_time` minutes since its last
/// decrement (Redis's `LFUDecrAndReturn`); nothing is stored.
pub(crate) fn lfu_decayed(word: u32, now_ms: u64, decay_time: u32) -> u8 {
    let (ldt, counter) = (word >> 8, (word & 0xff) as u8);
    if decay_time == 0 {
        return counter;
    }
    let now = minutes(now_ms);
    // The 16-bit minute clock wraps (every 45 days): taken as wrapped once.
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65_535 - ldt + now
    };
    let periods = elapsed / decay_time;
    counter.saturating_sub(u8::try_from(periods).unwrap_or(u8::MAX))
}

/// Raises `counter` with probability 1 / ((counter - LFU_INIT_VAL) * factor + 1), `r` being
/// uniform in [0, 1) (Redis's `LFULogIncr`); saturates at 255.
pub(crate) fn lfu_incremented(counter: u8, factor: u32, r: f64) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    if r < p { counter + 1 } else { counter }
}

/// A database's tracking settings and the randomness LFU increments draw (node-local; a fixed
/// seed: the draws only ever move access data, never replicated state).
pub(crate) struct Access {
    pub tracking: Tracking,
    random: Cell<u64>,
}

impl Default for Access {
    fn default() -> Self {
        Access {
            tracking: Tracking::default(),
            random: Cell::new(0x1f0_c0de),
        }
    }
}

impl Access {
    /// Uniform in [0, 1), from a SplitMix64 stream.
    pub fn uniform(&self) -> f64 {
        let mut rng = Rng::new(self.random.get());
        let v = rng.next_u64();
        self.random
            .set(self.random.get().wrapping_add(0x9e37_79b9_7f4a_7c15));
        (v >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The LFU word after an access at `now_ms` (Redis's `updateLFU`).
    pub fn lfu_after_access(&self, word: u32, now_ms: u64) -> u32 {
        let t = self.tracking;
        let counter = lfu_decayed(word, now_ms, t.lfu_decay_time);
        lfu_word(
            now_ms,
            lfu_incremented(counter, t.lfu_log_factor, self.uniform()),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Choosing victims

/// Candidates the pool keeps between choices (Redis's `EVPOOL_SIZE`).
const POOL_SIZE: usize = 16;
/// Times the picker refills its pool before it looks for a candidate key by key (Redis loops
/// until it finds one; here keys named by an eviction entry still in flight are taken).
const REFILLS_MAX: usize = 4;
/// Draws a random policy makes per database before it moves on.
const RANDOM_TRIES: usize = 8;

/// A key the picker chose: its database, name and the bytes its deletion should free (MEMORY
/// USAGE's estimate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    pub db: usize,
    pub key: Bytes,
    pub bytes: u64,
}

#[derive(Clone, Debug)]
struct Candidate {
    /// Higher is a better victim: idle ms (LRU), 255 - frequency (LFU), or how soon the key
    /// expires (volatile-ttl).
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// Redis's eviction pool and the random policies' database cursor, kept by the node between
/// choices (node-local). Scores are only comparable under one policy: [`Picker::reset`] when it
/// changes.
#[derive(Debug, Default)]
pub struct Picker {
    /// Ascending by score: the best candidate is last.
    pool: Vec<Candidate>,
    next_db: usize,
}

/// What a choice needs from the node: the policy, `maxmemory-samples`, its clock and
/// randomness, and the keys already named by eviction entries in flight (skipped).
pub struct Choice<'a> {
    pub policy: Policy,
    pub samples: usize,
    pub clock_ms: u64,
    pub rng: &'a mut Rng,
    pub taken: &'a dyn Fn(usize, &[u8]) -> bool,
}

impl Picker {
    pub fn reset(&mut self) {
        self.pool.clear();
    }

    /// The next key to evict, or `None` when the policy finds none (no keys, or no keys with
    /// a TTL for a volatile policy, or every candidate already taken).
    pub fn next(&mut self, engine: &Engine, choice: &mut Choice) -> Option<Victim> {
        match choice.policy {
            Policy::NoEviction => None,
            p if p.is_random() => self.next_random(engine, choice),
            _ => self.next_pooled(engine, choice),
        }
    }

    /// LRU, LFU and volatile-ttl: sample every database into the pool, then take the best
    /// candidate that still exists (Redis's `evictionPoolPopulate` and its caller).
    fn next_pooled(&mut self, engine: &Engine, choice: &mut Choice) -> Option<Victim> {
        for _ in 0..REFILLS_MAX {
            let mut keys = 0;
            for db in 0..engine.databases() {
                keys += self.populate(engine, db, choice);
            }
            if keys == 0 {
                return None;
            }
            while let Some(c) = self.pool.pop() {
                if let Some(victim) = victim(engine, choice, c.db, &c.key) {
                    return Some(victim);
                }
            }
        }
        first_untaken(engine, choice)
    }

    /// Adds `db`'s samples to the pool; returns how many keys the policy could take there.
    fn populate(&mut self, engine: &Engine, db: usize, choice: &mut Choice) -> usize {
        let state = engine.db(db);
        let (policy, now_ms) = (choice.policy, choice.clock_ms);
        let decay_time = state.access.tracking.lfu_decay_time;
        let score = |slot: &crate::db::Slot| {
            if policy.is_lru() {
                slot.idle_s(now_ms).saturating_mul(1000)
            } else {
                255 - u64::from(slot.lfu_counter(now_ms, decay_time))
            }
        };
        let mut found: Vec<(u64, &[u8])> = Vec::with_capacity(choice.samples);
        let (rng, taken) = (&mut *choice.rng, choice.taken);
        if policy == Policy::VolatileTtl {
            // The expiry index is ordered: its first keys are exactly what sampling looks for.
            for (at, key) in state.expiring_first(choice.samples, |key| !taken(db, key)) {
                found.push((u64::MAX - at, key));
            }
        } else if policy.allkeys() {
            state.dict().some_keys(
                choice.samples,
                || rng.next_u64(),
                |key, slot| found.push((score(slot), key)),
            );
        } else {
            for _ in 0..choice.samples {
                if let Some(key) = state.random_volatile(|| rng.next_u64())
                    && let Some(slot) = state.dict().get(key)
                {
                    found.push((score(slot), key));
                }
            }
        }
        for (score, key) in found {
            if !taken(db, key) {
                self.insert(Candidate {
                    score,
                    db,
                    key: key.into(),
                });
            }
        }
        if policy.allkeys() {
            state.len()
        } else {
            state.expires_len()
        }
    }

    /// Inserts in score order; a full pool drops its worst candidate for a better one.
    fn insert(&mut self, c: Candidate) {
        if self.pool.iter().any(|p| p.db == c.db && p.key == c.key) {
            return;
        }
        if self.pool.len() == POOL_SIZE {
            if c.score <= self.pool[0].score {
                return;
            }
            self.pool.remove(0);
        }
        let at = self.pool.partition_point(|p| p.score < c.score);
        self.pool.insert(at, c);
    }

    /// allkeys-random, volatile-random: a random key of the next database that has one, the
    /// databases taken in turn (Redis's static `next_db`).
    fn next_random(&mut self, engine: &Engine, choice: &mut Choice) -> Option<Victim> {
        let dbs = engine.databases();
        for _ in 0..dbs {
            self.next_db = (self.next_db + 1) % dbs;
            let (db, state) = (self.next_db, engine.db(self.next_db));
            for _ in 0..RANDOM_TRIES {
                let rng = &mut *choice.rng;
                let key = if choice.policy.allkeys() {
                    state.dict().random_key(|| rng.next_u64())
                } else {
                    state.random_volatile(|| rng.next_u64())
                };
                let Some(key) = key else {
                    break;
                };
                if let Some(victim) = victim(engine, choice, db, key) {
                    return Some(victim);
                }
            }
        }
        first_untaken(engine, choice)
    }
}

/// When sampling keeps finding keys already taken (most of what the policy may evict is named
/// by entries in flight), the first key the policy may take, in table order.
fn first_untaken(engine: &Engine, choice: &Choice) -> Option<Victim> {
    (0..engine.databases()).find_map(|db| {
        let state = engine.db(db);
        let key = if choice.policy.allkeys() {
            state
                .dict()
                .iter()
                .map(|(key, _)| key)
                .find(|key| !(choice.taken)(db, key))
        } else {
            state
                .expiring_first(1, |key| !(choice.taken)(db, key))
                .next()
                .map(|(_, key)| key)
        }?;
        victim(engine, choice, db, key)
    })
}

/// `key` of `db` as a victim, if it is still there, may go under the policy and is not taken.
fn victim(engine: &Engine, choice: &Choice, db: usize, key: &[u8]) -> Option<Victim> {
    let slot = engine.db(db).dict().get(key)?;
    if (!choice.policy.allkeys() && slot.expire_at_ms().is_none()) || (choice.taken)(db, key) {
        return None;
    }
    Some(Victim {
        db,
        key: Bytes::copy_from_slice(key),
        bytes: crate::commands::memory::key_bytes(key, &slot.value) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_by_name_in_any_case() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Some(p));
            assert_eq!(Policy::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(Policy::parse("lru"), None);
        assert_eq!(
            Policy::parse_error(),
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"
        );
    }

    #[test]
    fn lfu_counter_decays_by_one_per_period() {
        // The start of a minute.
        let t0 = 28_333_334 * 60_000;
        let word = lfu_word(t0, 10);
        assert_eq!(lfu_decayed(word, t0, 1), 10);
        assert_eq!(lfu_decayed(word, t0 + 59_999, 1), 10);
        assert_eq!(lfu_decayed(word, t0 + 3 * 60_000, 1), 7);
        assert_eq!(lfu_decayed(word, t0 + 4 * 60_000, 2), 8);
        assert_eq!(lfu_decayed(word, t0 + 100 * 60_000, 1), 0);
        assert_eq!(lfu_decayed(word, t0 + 100 * 60_000, 0), 10, "0: no decay");
    }

    #[test]
    fn lfu_increments_get_rarer_as_the_counter_grows() {
        assert_eq!(
            lfu_incremented(3, 10, 0.99),
            4,
            "below LFU_INIT_VAL: always"
        );
        assert_eq!(lfu_incremented(5, 10, 0.99), 6);
        // At 15 with factor 10 the chance is 1/101.
        assert_eq!(lfu_incremented(15, 10, 0.0098), 16);
        assert_eq!(lfu_incremented(15, 10, 0.0100), 15);
        assert_eq!(lfu_incremented(255, 0, 0.0), 255);
        // With factor 10, a hundred accesses reach about 10 and a million 255 (the table in
        // Redis's redis.conf).
        let access = Access::default();
        let mut word = lfu_word(0, LFU_INIT_VAL);
        for _ in 0..100 {
            word = access.lfu_after_access(word, 0);
        }
        let after_100 = word & 0xff;
        assert!((7..=14).contains(&after_100), "{after_100}");
        for _ in 0..1_000_000 {
            word = access.lfu_after_access(word, 0);
        }
        assert!(word & 0xff >= 240, "{}", word & 0xff);
    }

    #[test]
    fn the_pool_keeps_the_best_candidates_in_order() {
        let mut p = Picker::default();
        for score in [5, 1, 9, 3, 9] {
            p.insert(Candidate {
                score,
                db: 0,
                key: format!("k{score}").into_bytes().into(),
            });
        }
        let scores: Vec<u64> = p.pool.iter().map(|c| c.score).collect();
        assert_eq!(
            scores,
            [1, 3, 5, 9],
            "a key already pooled is not added twice"
        );
        for score in 100..120 {
            p.insert(Candidate {
                score,
                db: 1,
                key: format!("k{score}").into_bytes().into(),
            });
        }
        assert_eq!(p.pool.len(), POOL_SIZE);
        assert_eq!(p.pool[0].score, 104);
        assert_eq!(p.pool[POOL_SIZE - 1].score, 119);
    }
}
