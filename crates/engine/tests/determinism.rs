//! State is a pure function of the log: a random workload's entries, encoded and replayed into
//! a fresh engine (or from a snapshot plus the tail), give the same digest, byte for byte.

use bytes::Bytes;
use cairn_engine::testing::Harness;
use cairn_engine::{Body, Engine, Entry};

fn random_command(rng: &mut fastrand::Rng) -> Vec<Bytes> {
    let key = format!("k{}", rng.u8(0..40));
    let other = format!("k{}", rng.u8(0..40));
    let n = rng.i64(-1000..1000).to_string();
    let value: String = (0..rng.usize(0..20)).map(|_| rng.alphanumeric()).collect();
    let words: Vec<String> = match rng.u8(0..16) {
        0 => vec!["SET".into(), key, value],
        1 => vec![
            "SET".into(),
            key,
            value,
            "PX".into(),
            rng.u32(1..5000).to_string(),
        ],
        2 => vec!["INCRBY".into(), key, n],
        3 => vec!["APPEND".into(), key, value],
        4 => vec!["DEL".into(), key, other],
        5 => vec!["EXPIRE".into(), key, rng.u32(0..10).to_string()],
        6 => vec!["PERSIST".into(), key],
        7 => vec!["RENAME".into(), key, other],
        8 => vec!["SETRANGE".into(), key, rng.u32(0..50).to_string(), value],
        9 => vec!["MSET".into(), key, value.clone(), other, value],
        10 => vec!["GETDEL".into(), key],
        11 => vec!["COPY".into(), key, other, "REPLACE".into()],
        12 => vec!["MOVE".into(), key, rng.u8(0..16).to_string()],
        13 => vec!["INCRBYFLOAT".into(), key, "1.5".into()],
        14 => vec!["GET".into(), key],
        _ => vec![
            "SWAPDB".into(),
            rng.u8(0..3).to_string(),
            rng.u8(0..3).to_string(),
        ],
    };
    words.into_iter().map(Bytes::from).collect()
}

fn workload(seed: u64, commands: usize) -> Harness {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new();
    h.apply(Body::Init {
        hash_seed: rng.u64(..),
    });
    for _ in 0..commands {
        if rng.u8(0..10) == 0 {
            h.clock_ms += rng.u64(0..3000);
        }
        if rng.u8(0..20) == 0 {
            h.apply(Body::Tick {
                keys_max: rng.u32(1..50),
            });
        }
        if rng.u8(0..30) == 0 {
            let db = rng.usize(0..3).to_string();
            h.run(&[Bytes::from("SELECT"), Bytes::from(db)]);
        }
        let argv = random_command(&mut rng);
        h.run(&argv);
    }
    h
}

fn replay(entries: &[Entry], into: &mut Engine) {
    for entry in entries {
        let decoded = Entry::decode(&entry.encode()).expect("entry round-trips");
        into.apply(&decoded);
    }
}

#[test]
fn replay_gives_the_same_digest() {
    for seed in 0..20 {
        let h = workload(seed, 2_000);
        let mut fresh = Engine::new(16);
        replay(&h.log, &mut fresh);
        assert_eq!(fresh.digest(), h.engine.digest(), "seed {seed}");
        assert_eq!(
            fresh.snapshot().len(),
            h.engine.snapshot().len(),
            "seed {seed}"
        );
        assert_ne!(
            h.engine.digest(),
            "0".repeat(40),
            "seed {seed}: workload left data"
        );
    }
}

#[test]
fn snapshot_plus_tail_gives_the_same_digest() {
    for seed in 100..110 {
        let h = workload(seed, 1_500);
        let cut = h.log.len() / 2;
        let mut first = Engine::new(16);
        replay(&h.log[..cut], &mut first);
        let mut restored = Engine::restore(&first.snapshot(), 16).expect("snapshot restores");
        assert_eq!(restored.digest(), first.digest());
        replay(&h.log[cut..], &mut restored);
        assert_eq!(restored.digest(), h.engine.digest(), "seed {seed}");
    }
}

#[test]
fn replay_ignores_the_wall_clock_of_the_replaying_node() {
    // Entries carry their time; a replay years later must not expire anything differently.
    let h = workload(7, 2_000);
    let mut later = Engine::new(16);
    let shifted: Vec<Entry> = h.log.clone();
    replay(&shifted, &mut later);
    assert_eq!(later.digest(), h.engine.digest());
    assert_eq!(later.now_ms(), h.engine.now_ms());
}
