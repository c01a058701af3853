//! Eviction: the Evict entry as every node applies it ("evicted" events, WATCH, replay), and
//! the node's choice of victims under each policy (`cairn_engine::evict::Picker`).

use std::collections::BTreeSet;

use bytes::Bytes;
use cairn_engine::evict::{Choice, Picker, Policy, Victim};
use cairn_engine::notify;
use cairn_engine::testing::{CLOCK_START_MS, Harness, split_args};
use cairn_engine::{Body, Engine, Rng};

fn keys(h: &Harness, db: usize) -> BTreeSet<String> {
    h.engine
        .db(db)
        .dict()
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

fn events(h: &Harness) -> Vec<String> {
    h.engine
        .events()
        .iter()
        .map(|e| format!("{}@{} {}", String::from_utf8_lossy(&e.key), e.db, e.event))
        .collect()
}

fn evict_body(keys: &[(u32, &str)]) -> Body {
    Body::Evict {
        keys: keys
            .iter()
            .map(|(db, k)| (*db, Bytes::copy_from_slice(k.as_bytes())))
            .collect(),
    }
}

#[test]
fn evicting_deletes_existing_keys_across_databases_with_evicted_events() {
    let mut h = Harness::new();
    h.engine.set_notify(notify::parse("KEA").unwrap());
    h.cmd("SET a 1");
    h.cmd("SET gone 1 PX 50");
    h.cmd("SELECT 2");
    h.cmd("RPUSH l x");
    h.cmd("SELECT 0");
    h.clock_ms += 100;
    let reply = h.apply(evict_body(&[
        (0, "a"),
        (2, "l"),
        (0, "nothere"),
        (0, "gone"),
        (99, "a"),
    ]));
    assert_eq!(reply, cairn_resp::Reply::Int(2));
    // The expired key goes as expired; an unknown database is skipped.
    assert_eq!(events(&h), ["a@0 evicted", "l@2 evicted", "gone@0 expired"]);
    assert!(keys(&h, 0).is_empty() && keys(&h, 2).is_empty());

    // Only the classes the node asked for: `e` alone gives the evictions.
    h.engine.set_notify(notify::parse("Ee").unwrap());
    h.cmd("SET b 1");
    h.cmd("SET c 1");
    h.apply(evict_body(&[(0, "b"), (0, "c")]));
    assert_eq!(events(&h), ["b@0 evicted", "c@0 evicted"]);
    h.engine.set_notify(notify::parse("Ex").unwrap());
    h.cmd("SET d 1");
    h.apply(evict_body(&[(0, "d")]));
    assert!(events(&h).is_empty());
}

#[test]
fn an_evicted_watched_key_aborts_the_transaction() {
    let mut h = Harness::new();
    h.cmd("SET w 1");
    let watch = |h: &mut Harness| {
        h.apply(Body::Watch {
            client: 7,
            keys: vec![Bytes::from_static(b"w")],
        })
    };
    let exec = |h: &mut Harness| {
        h.apply(Body::Exec {
            client: 7,
            watching: true,
            commands: vec![split_args("SET w 2").unwrap()],
        })
    };
    watch(&mut h);
    h.apply(evict_body(&[(0, "w")]));
    assert_eq!(exec(&mut h), cairn_resp::Reply::NilArray);
    // Evicting something else leaves the watch alone.
    h.cmd("SET w 1");
    watch(&mut h);
    h.cmd("SET other 1");
    h.apply(evict_body(&[(0, "other")]));
    assert!(matches!(exec(&mut h), cairn_resp::Reply::Array(_)));
}

#[test]
fn replaying_a_log_with_evictions_gives_the_same_state() {
    let mut h = Harness::new();
    for i in 0..200 {
        h.cmd(&format!("SET k{i} {i}"));
        if i % 10 == 9 {
            h.apply(evict_body(&[(0, &format!("k{}", i - 5))]));
        }
    }
    // Access data (node-local) differs between the two engines; the state does not.
    h.set_policy(Policy::AllkeysLfu);
    for _ in 0..50 {
        h.cmd("GET k1");
    }
    let mut replayed = Engine::new(16);
    for entry in &h.log {
        replayed.apply(entry);
    }
    assert_eq!(replayed.digest(), h.engine.digest());
    assert_eq!(h.engine.db(0).len(), 180);
    let restored = Engine::restore(&h.engine.snapshot(), 16).unwrap();
    assert_eq!(restored.digest(), h.engine.digest());
}

// ---------------------------------------------------------------------------------------------
// Choosing victims

/// Picks up to `n` victims as a node would, each new pick skipping the ones already taken.
fn pick(h: &Harness, policy: Policy, n: usize, seed: u64) -> Vec<Victim> {
    let mut picker = Picker::default();
    let mut rng = Rng::new(seed);
    let mut taken: Vec<(usize, Bytes)> = Vec::new();
    for _ in 0..n {
        let chosen = taken.clone();
        let skip = move |db: usize, key: &[u8]| chosen.iter().any(|(d, k)| *d == db && k == key);
        let mut choice = Choice {
            policy,
            samples: 5,
            clock_ms: h.clock_ms,
            rng: &mut rng,
            taken: &skip,
        };
        match picker.next(&h.engine, &mut choice) {
            Some(v) => taken.push((v.db, v.key.clone())),
            None => break,
        }
    }
    taken
        .into_iter()
        .map(|(db, key)| Victim { db, key, bytes: 0 })
        .collect()
}

fn names(victims: &[Victim]) -> BTreeSet<String> {
    victims
        .iter()
        .map(|v| format!("{}@{}", String::from_utf8_lossy(&v.key), v.db))
        .collect()
}

/// Odd keys volatile, even ones persistent, in databases 0 and 1.
fn mixed(n: usize) -> Harness {
    let mut h = Harness::new();
    for db in 0..2 {
        h.cmd(&format!("SELECT {db}"));
        for i in 0..n {
            if i % 2 == 1 {
                h.cmd(&format!("SET k{i} v EX {}", 1000 + i));
            } else {
                h.cmd(&format!("SET k{i} v"));
            }
        }
    }
    h.cmd("SELECT 0");
    h
}

#[test]
fn volatile_policies_never_choose_persistent_keys() {
    let h = mixed(100);
    for policy in [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
    ] {
        let victims = pick(&h, policy, 1000, 3);
        // Every volatile key of both databases, then nothing more.
        assert_eq!(victims.len(), 100, "{policy:?}");
        for v in &victims {
            let slot = h.engine.db(v.db).dict().get(&v.key).unwrap();
            assert!(slot.expire_at_ms().is_some(), "{policy:?} chose {v:?}");
        }
        assert_eq!(names(&victims).len(), 100, "{policy:?}: no key twice");
    }
}

#[test]
fn allkeys_policies_reach_every_key_and_noeviction_none() {
    let h = mixed(60);
    for policy in [
        Policy::AllkeysLru,
        Policy::AllkeysLfu,
        Policy::AllkeysRandom,
    ] {
        let victims = pick(&h, policy, 1000, 5);
        assert_eq!(names(&victims).len(), 120, "{policy:?}");
    }
    assert!(pick(&h, Policy::NoEviction, 10, 5).is_empty());
    assert!(pick(&Harness::new(), Policy::AllkeysLru, 10, 5).is_empty());
    let mut persistent = Harness::new();
    persistent.cmd("SET p 1");
    assert!(pick(&persistent, Policy::VolatileLru, 10, 5).is_empty());
}

#[test]
fn volatile_ttl_chooses_the_keys_that_expire_first() {
    let h = mixed(40);
    let victims = pick(&h, Policy::VolatileTtl, 4, 1);
    // k1 and k3 of each database expire first (EX 1001, 1003).
    assert_eq!(
        names(&victims),
        ["k1@0", "k1@1", "k3@0", "k3@1"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn lru_prefers_keys_idle_longest() {
    let mut h = Harness::new();
    h.set_policy(Policy::AllkeysLru);
    for i in 0..200 {
        h.cmd(&format!("SET old{i} v"));
    }
    h.clock_ms += 60_000;
    for i in 0..200 {
        h.cmd(&format!("SET new{i} v"));
    }
    h.clock_ms += 1_000;
    // Reading half of the old keys makes them recent.
    for i in 0..100 {
        h.cmd(&format!("GET old{i}"));
    }
    let victims = pick(&h, Policy::AllkeysLru, 50, 9);
    let idle_old = victims
        .iter()
        .filter(|v| {
            let k = String::from_utf8_lossy(&v.key);
            k.strip_prefix("old")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 100)
        })
        .count();
    // Sampling approximates LRU: nearly every victim is one of the 100 idle keys.
    // (Chance alone would give about 12.)
    assert!(idle_old >= 40, "{idle_old} of 50");
}

#[test]
fn lfu_prefers_keys_used_least() {
    let mut h = Harness::new();
    h.set_policy(Policy::AllkeysLfu);
    for i in 0..200 {
        h.cmd(&format!("SET k{i} v"));
    }
    // The first 150 keys are read often; the last 50 never.
    for _ in 0..30 {
        for i in 0..150 {
            h.cmd(&format!("GET k{i}"));
        }
    }
    let victims = pick(&h, Policy::AllkeysLfu, 20, 11);
    let cold = victims
        .iter()
        .filter(|v| {
            String::from_utf8_lossy(&v.key)[1..]
                .parse::<u32>()
                .is_ok_and(|n| n >= 150)
        })
        .count();
    // Sampling approximates LFU (chance alone would give about 5).
    assert!(cold >= 12, "{cold} of 20");
}

#[test]
fn a_victim_carries_memory_usages_estimate() {
    let mut h = Harness::new();
    h.cmd("SET foo bar");
    let mut rng = Rng::new(1);
    let skip = |_: usize, _: &[u8]| false;
    let mut choice = Choice {
        policy: Policy::AllkeysRandom,
        samples: 5,
        clock_ms: CLOCK_START_MS,
        rng: &mut rng,
        taken: &skip,
    };
    let v = Picker::default().next(&h.engine, &mut choice).unwrap();
    // MEMORY USAGE foo answers 64 for SET foo bar, as Redis 7.0.
    assert_eq!((v.db, &v.key[..], v.bytes), (0, &b"foo"[..], 64));
}
