//! The sorted set against a plain model (a sorted `Vec`), in both forms, with every
//! structural invariant checked after each step.

use std::collections::BTreeSet;

use super::*;
use crate::engine::Rng;

fn limits(entries: u64) -> Limits {
    Limits {
        entries,
        value: 64,
        seed: 7,
    }
}

/// The model: (score, member) pairs in Redis's order.
#[derive(Default)]
struct Model(Vec<(f64, Vec<u8>)>);

impl Model {
    fn sort(&mut self) {
        self.0
            .sort_by(|a, b| compare_scores(a.0, b.0).then_with(|| a.1.cmp(&b.1)));
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let old = self.remove(member);
        let keep = match old {
            Some(o) if o == score => o,
            _ => score,
        };
        self.0.push((keep, member.to_vec()));
        self.sort();
        old
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let pos = self.0.iter().position(|(_, m)| m == member)?;
        Some(self.0.remove(pos).0)
    }
}

fn assert_same(z: &ZSet, model: &Model) {
    z.check();
    assert_eq!(z.len(), model.0.len());
    let got: Vec<(f64, Vec<u8>)> = z.iter().map(|(m, s)| (s, m.to_vec())).collect();
    assert_eq!(got, model.0);
}

fn member(rng: &mut Rng, space: u64) -> Vec<u8> {
    format!("m{}", rng.next_u64() % space).into_bytes()
}

fn score(rng: &mut Rng) -> f64 {
    match rng.next_u64() % 8 {
        0 => 0.0,
        1 => -0.0,
        2 => f64::INFINITY,
        3 => f64::NEG_INFINITY,
        _ => (rng.next_u64() % 50) as f64 / 4.0 - 5.0,
    }
}

fn random_ops(entries: u64, space: u64, steps: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let lim = limits(entries);
    let mut z = ZSet::new();
    let mut model = Model::default();
    for step in 0..steps {
        match rng.next_u64() % 10 {
            0..=4 => {
                let m = member(&mut rng, space);
                let s = score(&mut rng);
                assert_eq!(z.insert(&m, s, &lim), model.insert(&m, s), "step {step}");
            }
            5 | 6 => {
                let m = member(&mut rng, space);
                assert_eq!(z.remove(&m), model.remove(&m), "step {step}");
            }
            7 => {
                let n = model.0.len();
                let a = (rng.next_u64() % (n as u64 + 2)) as usize;
                let b = a + (rng.next_u64() % 4) as usize;
                let expected = b.min(n).saturating_sub(a);
                assert_eq!(z.remove_ranks(a..b), expected);
                if a < n {
                    model.0.drain(a..b.min(n));
                }
            }
            8 => {
                let m = member(&mut rng, space);
                let expected = model
                    .0
                    .iter()
                    .position(|(_, x)| *x == m)
                    .map(|r| (r, model.0[r].0));
                assert_eq!(z.rank(&m), expected);
                if let Some((r, s)) = expected {
                    assert_eq!(z.get(r), Some((&m[..], s)));
                }
            }
            _ => {
                let lo = score(&mut rng);
                let range = ScoreRange {
                    min: lo,
                    min_ex: rng.next_u64().is_multiple_of(2),
                    max: lo + (rng.next_u64() % 6) as f64,
                    max_ex: rng.next_u64().is_multiple_of(2),
                };
                let ranks = z.score_ranks(&range);
                let expected: Vec<usize> = (0..model.0.len())
                    .filter(|&i| range.above_min(model.0[i].0) && range.below_max(model.0[i].0))
                    .collect();
                assert_eq!(ranks.clone().collect::<Vec<_>>(), expected);
                let forward: Vec<_> = z.iter_from(ranks.start, false).take(ranks.len()).collect();
                let backward: Vec<_> = z
                    .iter_from(ranks.end.wrapping_sub(1), true)
                    .take(ranks.len())
                    .collect();
                assert_eq!(
                    forward.iter().rev().collect::<Vec<_>>(),
                    backward.iter().collect::<Vec<_>>()
                );
            }
        }
        assert_same(&z, &model);
    }
}

#[test]
fn compact_form_matches_the_model() {
    random_ops(u64::MAX, 40, 3000, 1);
}

#[test]
fn large_form_matches_the_model() {
    random_ops(0, 60, 3000, 2);
    random_ops(0, 3000, 6000, 3);
}

#[test]
fn conversion_happens_at_the_thresholds() {
    let lim = limits(3);
    let mut z = ZSet::new();
    for (i, m) in ["a", "b", "c"].iter().enumerate() {
        z.insert(m.as_bytes(), i as f64, &lim);
    }
    assert_eq!(z.encoding(), "listpack");
    z.insert(b"a", 10.0, &lim);
    assert_eq!(z.encoding(), "listpack", "an update is not an addition");
    z.insert(b"d", 4.0, &lim);
    assert_eq!(z.encoding(), "skiplist");
    z.remove(b"d");
    assert_eq!(z.encoding(), "skiplist", "conversion is one-way");

    let mut long = ZSet::new();
    long.insert(&[b'x'; 65], 1.0, &lim);
    assert_eq!(long.encoding(), "skiplist");
    let mut zero = ZSet::new();
    zero.insert(b"a", 1.0, &limits(0));
    assert_eq!(zero.encoding(), "skiplist");
}

#[test]
fn equal_scores_keep_the_stored_zero() {
    let lim = limits(128);
    for entries in [128, 0] {
        let mut z = ZSet::new();
        z.insert(b"a", 0.0, &limits(entries));
        assert_eq!(z.insert(b"a", -0.0, &lim), Some(0.0));
        assert!(z.score(b"a").unwrap().is_sign_positive());
    }
}

#[test]
fn large_sets_keep_their_invariants() {
    let lim = limits(0);
    let mut z = ZSet::new();
    let mut rng = Rng::new(9);
    let n = 20_000;
    for i in 0..n {
        z.insert(
            format!("k{i}").as_bytes(),
            (rng.next_u64() % 1000) as f64,
            &lim,
        );
    }
    z.check();
    for i in (0..n).step_by(3) {
        assert!(z.remove(format!("k{i}").as_bytes()).is_some());
    }
    z.check();
    let mut last: Option<(Vec<u8>, f64)> = None;
    for (rank, (m, s)) in z.iter().enumerate() {
        assert_eq!(z.rank(m), Some((rank, s)));
        if let Some((lm, ls)) = &last {
            assert!(compare_scores(*ls, s).then_with(|| lm[..].cmp(m)).is_lt());
        }
        last = Some((m.to_vec(), s));
    }
    // Emptying it through ranks keeps every structure consistent.
    while !z.is_empty() {
        let len = z.len();
        z.remove_ranks(len / 2..len / 2 + 97);
        z.check();
    }
}

#[test]
fn ordered_loads_fill_leaves() {
    let lim = limits(0);
    let entries: Vec<(Vec<u8>, f64)> = (0..10_000)
        .map(|i| (format!("{i:06}").into_bytes(), 1.0))
        .collect();
    let refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (&m[..], *s)).collect();
    let z = ZSet::from_sorted(&refs, &lim);
    z.check();
    let Repr::Large(l) = &z.repr else {
        panic!("large form")
    };
    // 10 000 entries in full 63-entry leaves.
    assert_eq!(l.tree.leaves(), 10_000usize.div_ceil(63));
    assert!(z.heap_bytes() < 10_000 * 80, "{} bytes", z.heap_bytes());
}

#[test]
fn scan_returns_every_member_present_throughout() {
    let lim = limits(0);
    let mut z = ZSet::new();
    for i in 0..500 {
        z.insert(format!("s{i}").as_bytes(), i as f64, &lim);
    }
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let mut step = 0;
    loop {
        cursor = z.scan(cursor, 10, |m, _| {
            seen.insert(m.to_vec());
        });
        // Grow and shrink the table between calls; members 0..250 stay throughout.
        step += 1;
        if step % 3 == 0 {
            for j in 0..200 {
                z.insert(format!("extra{step}-{j}").as_bytes(), 0.0, &lim);
            }
        } else if step % 3 == 1 {
            for i in 250..500 {
                z.remove(format!("s{i}").as_bytes());
            }
        }
        if cursor == 0 {
            break;
        }
    }
    for i in 0..250 {
        assert!(seen.contains(format!("s{i}").as_bytes()), "s{i} missed");
    }
}

#[test]
fn snapshot_form_round_trips_in_both_forms() {
    for entries in [128, 0] {
        let lim = limits(entries);
        let mut z = ZSet::new();
        for i in 0..300 {
            z.insert(
                format!("r{}", i * 7 % 300).as_bytes(),
                (i % 13) as f64 - 0.5,
                &lim,
            );
        }
        z.insert(b"neg-zero", -0.0, &lim);
        z.insert(b"inf", f64::INFINITY, &lim);
        let mut bytes = Vec::new();
        z.encode(&mut bytes);
        let back = ZSet::decode(&mut Reader::new(&bytes)).unwrap();
        back.check();
        assert_eq!(back, z);
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(again, bytes);
    }
    let mut small = ZSet::new();
    small.insert(b"a", 1.0, &limits(128));
    let mut bytes = Vec::new();
    small.encode(&mut bytes);
    assert_eq!(
        ZSet::decode(&mut Reader::new(&bytes)).unwrap().encoding(),
        "listpack"
    );
}

#[test]
fn clones_are_independent() {
    let lim = limits(0);
    let mut z = ZSet::new();
    for i in 0..100 {
        z.insert(format!("c{i}").as_bytes(), i as f64, &lim);
    }
    let copy = z.clone();
    z.remove(b"c5");
    assert_eq!(copy.len(), 100);
    assert_eq!(copy.score(b"c5"), Some(5.0));
    copy.check();
}
