//! Randomized tests: histories produced by a simulated linearizable store
//! must be accepted, and mutations that are guaranteed to break
//! linearizability must be rejected. Tiny histories are cross-checked against
//! a brute-force checker, and a large history is checked for scale.

mod common;

use std::time::Instant;

use cairn_lincheck::{Event, Op, Outcome, Ret, Violation, check};
use common::*;

fn random_workload(rng: &mut fastrand::Rng) -> Workload {
    let counter = rng.bool();
    Workload {
        clients: rng.u64(1..=8),
        ops: rng.usize(10..=300),
        keys: if counter {
            rng.usize(0..=3)
        } else {
            rng.usize(1..=3)
        },
        counter,
        max_gap: rng.u64(0..=100),
        max_latency: rng.u64(1..=200),
        unknown_pct: rng.u32(0..=20),
        tiny_values: rng.u32(0..3) == 0,
    }
}

fn assert_linearizable(h: &[Event], what: &str) {
    if let Err(v) = check(h) {
        panic!("{what}: expected linearizable, got:\n{v}");
    }
}

fn assert_rejected(h: &[Event], key: &[u8], what: &str) {
    match check(h) {
        Err(Violation::NotLinearizable(c)) => {
            assert_eq!(c.key, key, "{what}: wrong key in\n{c}");
            assert!(!c.to_string().is_empty());
        }
        other => panic!("{what}: expected a violation on {key:?}, got {other:?}"),
    }
}

fn is_known(e: &Event) -> bool {
    matches!(e.outcome, Outcome::Ok(_))
}

#[test]
fn simulated_histories_are_linearizable() {
    for seed in 0..500 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = random_workload(&mut rng);
        let h = simulate(&mut rng, &w);
        assert_linearizable(&h, &format!("seed {seed} {w:?}"));
    }
}

#[test]
fn read_of_a_value_never_written_is_rejected() {
    let mut tested = 0;
    for seed in 0..300 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = random_workload(&mut rng);
        let mut h = simulate(&mut rng, &w);
        let reads: Vec<usize> = (0..h.len())
            .filter(|&i| h[i].op == Op::Get && is_known(&h[i]))
            .collect();
        if reads.is_empty() {
            continue;
        }
        let i = reads[rng.usize(..reads.len())];
        h[i].outcome = Outcome::Ok(Ret::Value(Some(b"never written".to_vec())));
        let key = h[i].key.clone();
        assert_rejected(&h, &key, &format!("seed {seed}"));
        tested += 1;
    }
    assert!(tested > 200, "{tested}");
}

#[test]
fn read_of_a_value_written_only_later_is_rejected() {
    let mut tested = 0;
    for seed in 0..300 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = Workload {
            keys: rng.usize(1..=3),
            ..random_workload(&mut rng)
        };
        let mut h = simulate(&mut rng, &w);
        // (read, write) pairs on one key where the write, of a unique
        // non-integer value, was invoked after the read returned.
        let mut pairs = Vec::new();
        for (r, read) in h.iter().enumerate() {
            if read.op != Op::Get || !is_known(read) {
                continue;
            }
            for (s, write) in h.iter().enumerate() {
                if let Op::Set(v) = &write.op
                    && write.key == read.key
                    && v.starts_with(b"c")
                    && write.invoked_ns > read.returned_ns
                {
                    pairs.push((r, s));
                }
            }
        }
        if pairs.is_empty() {
            continue;
        }
        let (r, s) = pairs[rng.usize(..pairs.len())];
        let Op::Set(v) = h[s].op.clone() else {
            unreachable!()
        };
        h[r].outcome = Outcome::Ok(Ret::Value(Some(v)));
        let key = h[r].key.clone();
        assert_rejected(&h, &key, &format!("seed {seed}"));
        tested += 1;
    }
    assert!(tested > 150, "{tested}");
}

/// Known INCRs on the pure counter key, as (index, result), and the pairs
/// `(a, b)` of them where `a` returned before `b` was invoked.
fn ordered_counter_increments(h: &[Event]) -> Vec<((usize, i64), (usize, i64))> {
    let incrs: Vec<(usize, i64)> = h
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match (&e.op, &e.outcome) {
            (Op::Incr, Outcome::Ok(Ret::Int(n))) if e.key == b"ctr" => Some((i, *n)),
            _ => None,
        })
        .collect();
    let mut pairs = Vec::new();
    for &a in &incrs {
        for &b in &incrs {
            if h[a.0].returned_ns < h[b.0].invoked_ns {
                pairs.push((a, b));
            }
        }
    }
    pairs
}

fn counter_workload(rng: &mut fastrand::Rng) -> Workload {
    Workload {
        counter: true,
        ..random_workload(rng)
    }
}

#[test]
fn swapped_increment_results_are_rejected() {
    // On a key that only sees INCR, results increase along any linearization,
    // so two increments ordered in real time cannot swap results.
    let mut tested = 0;
    for seed in 0..300 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = counter_workload(&mut rng);
        let mut h = simulate(&mut rng, &w);
        let pairs = ordered_counter_increments(&h);
        if pairs.is_empty() {
            continue;
        }
        let ((a, ra), (b, rb)) = pairs[rng.usize(..pairs.len())];
        assert!(
            ra < rb,
            "seed {seed}: simulator produced non-monotonic counter"
        );
        h[a].outcome = Outcome::Ok(Ret::Int(rb));
        h[b].outcome = Outcome::Ok(Ret::Int(ra));
        assert_rejected(&h, b"ctr", &format!("seed {seed}"));
        tested += 1;
    }
    assert!(tested > 150, "{tested}");
}

#[test]
fn duplicated_increment_result_is_rejected() {
    let mut tested = 0;
    for seed in 0..300 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = counter_workload(&mut rng);
        let mut h = simulate(&mut rng, &w);
        let pairs = ordered_counter_increments(&h);
        if pairs.is_empty() {
            continue;
        }
        let ((_, ra), (b, _)) = pairs[rng.usize(..pairs.len())];
        h[b].outcome = Outcome::Ok(Ret::Int(ra));
        assert_rejected(&h, b"ctr", &format!("seed {seed}"));
        tested += 1;
    }
    assert!(tested > 150, "{tested}");
}

#[test]
fn stale_counter_read_is_rejected() {
    let mut tested = 0;
    for seed in 0..300 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let w = counter_workload(&mut rng);
        let mut h = simulate(&mut rng, &w);
        // A read invoked after an INCR returned `n` must see at least `n`.
        let mut cases = Vec::new();
        for (i, inc) in h.iter().enumerate() {
            let Outcome::Ok(Ret::Int(n)) = inc.outcome else {
                continue;
            };
            if inc.key != b"ctr" {
                continue;
            }
            for (r, read) in h.iter().enumerate() {
                if read.key == b"ctr"
                    && read.op == Op::Get
                    && is_known(read)
                    && h[i].returned_ns < read.invoked_ns
                {
                    cases.push((r, n));
                }
            }
        }
        if cases.is_empty() {
            continue;
        }
        let (r, n) = cases[rng.usize(..cases.len())];
        let stale = (n > 1).then(|| (n - 1 - rng.i64(0..n - 1)).to_string().into_bytes());
        h[r].outcome = Outcome::Ok(Ret::Value(stale));
        assert_rejected(&h, b"ctr", &format!("seed {seed}"));
        tested += 1;
    }
    assert!(tested > 150, "{tested}");
}

/// Randomly breaks a history (or not): changes a result, an interval, or
/// forgets an outcome.
fn perturb(rng: &mut fastrand::Rng, h: &mut [Event]) {
    let i = rng.usize(..h.len());
    let values: Vec<Vec<u8>> = h
        .iter()
        .filter_map(|e| match &e.op {
            Op::Set(v) => Some(v.clone()),
            _ => None,
        })
        .chain([b"1".to_vec(), b"2".to_vec()])
        .collect();
    let e = &mut h[i];
    match rng.u32(0..4) {
        0 => {
            let t0 = rng.u64(0..40);
            e.invoked_ns = t0;
            e.returned_ns = t0 + rng.u64(0..20);
        }
        1 => e.outcome = Outcome::Unknown,
        _ => {
            let ret = match e.op {
                Op::Set(_) => Ret::Done,
                Op::Get if rng.u32(0..4) == 0 => Ret::Value(None),
                Op::Get => Ret::Value(Some(values[rng.usize(..values.len())].clone())),
                Op::Incr if rng.u32(0..4) == 0 => Ret::Error,
                Op::Incr => Ret::Int(rng.i64(0..4)),
                Op::Del => Ret::Int(rng.i64(0..2)),
            };
            e.outcome = Outcome::Ok(ret);
        }
    }
}

#[test]
fn agrees_with_brute_force_on_small_histories() {
    let (mut yes, mut no) = (0, 0);
    for seed in 0..30_000 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let counter = rng.u32(0..4) == 0;
        let w = Workload {
            clients: rng.u64(1..=5),
            ops: rng.usize(1..=20),
            keys: if counter { 0 } else { rng.usize(1..=2) },
            counter,
            max_gap: rng.u64(0..=10),
            max_latency: rng.u64(1..=20),
            unknown_pct: rng.u32(0..=40),
            tiny_values: true,
        };
        let mut h = simulate(&mut rng, &w);
        // Leave a third of the histories as simulated (linearizable), break
        // (or not) the others at random.
        for _ in 0..rng.usize(0..=2) {
            perturb(&mut rng, &mut h);
        }
        let expected = brute_force(&h);
        let got = check(&h);
        assert_eq!(
            got.is_ok(),
            expected,
            "seed {seed}: checker says {got:?}, brute force says {expected}\n{h:#?}"
        );
        if expected { yes += 1 } else { no += 1 }
    }
    assert!(yes > 500 && no > 500, "linearizable: {yes}, not: {no}");
}

fn timed_check(name: &str, h: &[Event]) {
    let start = Instant::now();
    let res = check(h);
    let elapsed = start.elapsed();
    eprintln!("{name}: checked {} events in {elapsed:?}", h.len());
    if let Err(v) = res {
        panic!("{name}: expected linearizable, got:\n{v}");
    }
}

#[test]
fn scale_20k_ops_5_keys_30_clients() {
    let mut rng = fastrand::Rng::with_seed(20_000);
    let w = Workload {
        clients: 30,
        ops: 20_000,
        keys: 5,
        counter: false,
        max_gap: 1_000_000,
        max_latency: 500_000,
        unknown_pct: 1,
        tiny_values: false,
    };
    let h = simulate(&mut rng, &w);
    timed_check("scale (mostly non-overlapping)", &h);
}

#[test]
fn scale_20k_ops_high_concurrency() {
    // Latency far above think time: each key always has ~6 operations in
    // flight, plus a pure counter key and 2% unknown outcomes.
    let mut rng = fastrand::Rng::with_seed(20_001);
    let w = Workload {
        clients: 30,
        ops: 20_000,
        keys: 5,
        counter: true,
        max_gap: 50_000,
        max_latency: 2_000_000,
        unknown_pct: 2,
        tiny_values: false,
    };
    let h = simulate(&mut rng, &w);
    timed_check("scale (high concurrency)", &h);
}

#[test]
fn scale_violation_is_found_in_a_large_history() {
    let mut rng = fastrand::Rng::with_seed(20_002);
    let w = Workload {
        clients: 30,
        ops: 20_000,
        keys: 5,
        counter: false,
        max_gap: 1_000_000,
        max_latency: 500_000,
        unknown_pct: 1,
        tiny_values: false,
    };
    let mut h = simulate(&mut rng, &w);
    let i = (h.len() * 3 / 4..h.len())
        .find(|&i| h[i].op == Op::Get && is_known(&h[i]))
        .expect("a read");
    h[i].outcome = Outcome::Ok(Ret::Value(Some(b"bogus".to_vec())));
    let start = Instant::now();
    let res = check(&h);
    eprintln!("scale violation: found in {:?}", start.elapsed());
    match res {
        Err(Violation::NotLinearizable(c)) => {
            assert_eq!(c.key, h[i].key);
            assert_eq!(c.stuck.index, i, "{c}");
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn violation_among_many_unknown_outcomes_is_pinpointed() {
    // Proving a violation requires exhausting every way to use the
    // unknown-outcome writes, which can exceed the budget; either way the
    // report must point at the impossible read (no linearization can get
    // past it, so it is the furthest dead end).
    let mut verdicts = (0, 0);
    for seed in 0..4 {
        let mut rng = fastrand::Rng::with_seed(30_000 + seed);
        let w = Workload {
            clients: 30,
            ops: 10_000,
            keys: 5,
            counter: true,
            max_gap: 1_000_000,
            max_latency: 500_000,
            unknown_pct: 5,
            tiny_values: false,
        };
        let mut h = simulate(&mut rng, &w);
        let i = (h.len() * 3 / 4..h.len())
            .find(|&i| h[i].op == Op::Get && is_known(&h[i]))
            .expect("a read");
        h[i].outcome = Outcome::Ok(Ret::Value(Some(b"bogus".to_vec())));
        let c = match cairn_lincheck::check_with_limit(&h, 5_000_000) {
            Err(Violation::NotLinearizable(c)) => {
                verdicts.0 += 1;
                c
            }
            Err(Violation::Timeout {
                furthest: Some(c), ..
            }) => {
                verdicts.1 += 1;
                c
            }
            other => panic!("seed {seed}: expected a violation or a timeout, got {other:?}"),
        };
        assert_eq!(c.stuck.index, i, "seed {seed}:\n{c}");
    }
    eprintln!("violations found: {}, timeouts: {}", verdicts.0, verdicts.1);
}
