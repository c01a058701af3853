//! Random sequences of sorted-set commands run against the engine and against a plain model
//! (a `BTreeMap` of keys to sorted `Vec`s); every reply and the final contents must agree.
//! Members are drawn so that sets cross both thresholds (more than 128 members, members
//! longer than 64 bytes), so the listpack and the skiplist forms and the conversion between
//! them are all exercised. A snapshot taken at the end must restore to an engine that answers
//! the following writes exactly as the original does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_engine::Engine;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// ZADD key [NX|XX] [GT|LT] [CH] score member ...
    Add(u8, u8, Vec<(i8, u16)>),
    Incr(u8, i8, u16),
    Rem(u8, Vec<u16>),
    Score(u8, u16),
    Rank(u8, u16, bool),
    Range(u8, i16, i16, bool),
    RangeByScore(u8, i8, i8, bool),
    Count(u8, i8, i8),
    Pop(u8, bool, u8),
    RemRangeByRank(u8, i16, i16),
    RemRangeByScore(u8, i8, i8),
    Card(u8),
}

/// Two keys, so operations collide often.
fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 2]
}

/// Members 0..300: a few are longer than 64 bytes (the skiplist form).
fn member(m: u16) -> Vec<u8> {
    let m = m % 300;
    if m.is_multiple_of(97) {
        format!("{m}-{}", "x".repeat(70)).into_bytes()
    } else {
        format!("m{m}").into_bytes()
    }
}

fn score(s: i8) -> f64 {
    f64::from(s) / 2.0
}

fn score_arg(s: i8) -> String {
    cairn_resp::format_double(score(s))
}

fn op() -> impl Strategy<Value = Op> {
    let pairs = prop::collection::vec((-20i8..20, any::<u16>()), 1..40);
    prop_oneof![
        6 => (any::<u8>(), 0u8..18, pairs).prop_map(|(k, f, p)| Op::Add(k, f, p)),
        1 => (any::<u8>(), -8i8..8, any::<u16>()).prop_map(|(k, s, m)| Op::Incr(k, s, m)),
        2 => (any::<u8>(), prop::collection::vec(any::<u16>(), 1..4)).prop_map(|(k, m)| Op::Rem(k, m)),
        1 => (any::<u8>(), any::<u16>()).prop_map(|(k, m)| Op::Score(k, m)),
        1 => (any::<u8>(), any::<u16>(), any::<bool>()).prop_map(|(k, m, r)| Op::Rank(k, m, r)),
        1 => (any::<u8>(), -200i16..200, -200i16..200, any::<bool>()).prop_map(|(k, a, b, r)| Op::Range(k, a, b, r)),
        1 => (any::<u8>(), -22i8..22, -22i8..22, any::<bool>()).prop_map(|(k, a, b, r)| Op::RangeByScore(k, a, b, r)),
        1 => (any::<u8>(), -22i8..22, -22i8..22).prop_map(|(k, a, b)| Op::Count(k, a, b)),
        1 => (any::<u8>(), any::<bool>(), 0u8..5).prop_map(|(k, max, n)| Op::Pop(k, max, n)),
        1 => (any::<u8>(), -20i16..20, -20i16..20).prop_map(|(k, a, b)| Op::RemRangeByRank(k, a, b)),
        1 => (any::<u8>(), -22i8..22, -22i8..22).prop_map(|(k, a, b)| Op::RemRangeByScore(k, a, b)),
        1 => any::<u8>().prop_map(Op::Card),
    ]
}

fn argv(words: &[&[u8]]) -> Vec<Bytes> {
    words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// A sorted set as the documentation describes it: (score, member), ordered by score, then
/// member bytes.
type ZModel = Vec<(f64, Vec<u8>)>;

fn order(a: &(f64, Vec<u8>), b: &(f64, Vec<u8>)) -> Ordering {
    a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1))
}

fn position(z: &ZModel, m: &[u8]) -> Option<usize> {
    z.iter().position(|(_, x)| x == m)
}

/// Sets `m`'s score as ZADD does: a new member is added, an equal score changes nothing.
fn put(z: &mut ZModel, m: &[u8], s: f64) {
    match position(z, m) {
        Some(i) if z[i].0 == s => {}
        Some(i) => {
            z.remove(i);
            z.push((s, m.to_vec()));
        }
        None => z.push((s, m.to_vec())),
    }
    z.sort_by(order);
}

fn pairs_reply(entries: &[(f64, Vec<u8>)]) -> Reply {
    Reply::Pairs(
        entries
            .iter()
            .map(|(s, m)| (bulk(m), Reply::Double(*s)))
            .collect(),
    )
}

/// Redis's rank sanitizing.
fn ranks(len: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end.min(len - 1) };
    if start > end || start >= len {
        0..0
    } else {
        start as usize..end as usize + 1
    }
}

fn in_score_range(s: f64, a: i8, b: i8) -> bool {
    s >= score(a) && s <= score(b)
}

/// Applies `op` to the model; returns the command and the reply the engine must give.
fn model_step(model: &mut BTreeMap<Vec<u8>, ZModel>, op: &Op) -> (Vec<Bytes>, Reply) {
    let k = |k: &u8| key(*k);
    let reply = match op {
        Op::Add(kk, flags, pairs) => {
            let (cond, cmp, ch) = (flags % 3, (flags / 3) % 3, flags / 9 == 1);
            let mut words: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), k(kk)];
            if cond > 0 {
                words.push(["NX", "XX"][cond as usize - 1].as_bytes().to_vec());
            }
            if cmp > 0 && cond != 1 {
                words.push(["GT", "LT"][cmp as usize - 1].as_bytes().to_vec());
            }
            if ch {
                words.push(b"CH".to_vec());
            }
            for (s, m) in pairs {
                words.push(score_arg(*s).into_bytes());
                words.push(member(*m));
            }
            let cmd = words.iter().map(|w| Bytes::from(w.clone())).collect();
            let (nx, xx) = (cond == 1, cond == 2);
            let (gt, lt) = (cmp == 1 && cond != 1, cmp == 2 && cond != 1);
            let mut changed = 0;
            let mut added = 0;
            if !xx || model.contains_key(&k(kk)) {
                let z = model.entry(k(kk)).or_default();
                for (s, m) in pairs {
                    let (s, m) = (score(*s), member(*m));
                    match position(z, &m).map(|i| z[i].0) {
                        None if !xx => {
                            put(z, &m, s);
                            added += 1;
                        }
                        None => {}
                        Some(cur) => {
                            let skip = nx || (gt && s <= cur) || (lt && s >= cur);
                            if !skip && s != cur {
                                put(z, &m, s);
                                changed += 1;
                            }
                        }
                    }
                }
                if z.is_empty() {
                    model.remove(&k(kk));
                }
            }
            return (cmd, Reply::Int(if ch { added + changed } else { added }));
        }
        Op::Incr(kk, s, m) => {
            let z = model.entry(k(kk)).or_default();
            let m = member(*m);
            let new = position(z, &m).map_or(0.0, |i| z[i].0) + score(*s);
            put(z, &m, new);
            let cmd = argv(&[b"ZINCRBY", &k(kk), score_arg(*s).as_bytes(), &m]);
            return (cmd, Reply::Double(new));
        }
        Op::Rem(kk, ms) => {
            let mut words = vec![b"ZREM".to_vec(), k(kk)];
            let mut removed = 0;
            for m in ms {
                let m = member(*m);
                if let Some(z) = model.get_mut(&k(kk)) {
                    if let Some(i) = position(z, &m) {
                        z.remove(i);
                        removed += 1;
                    }
                    if z.is_empty() {
                        model.remove(&k(kk));
                    }
                }
                words.push(m);
            }
            let cmd = words.into_iter().map(Bytes::from).collect();
            return (cmd, Reply::Int(removed));
        }
        Op::Score(kk, m) => {
            let m = member(*m);
            let found = model
                .get(&k(kk))
                .and_then(|z| position(z, &m).map(|i| z[i].0));
            let cmd = argv(&[b"ZSCORE", &k(kk), &m]);
            return (cmd, found.map_or(Reply::Nil, Reply::Double));
        }
        Op::Rank(kk, m, rev) => {
            let m = member(*m);
            let z = model.get(&k(kk));
            let rank =
                z.and_then(|z| position(z, &m).map(|i| if *rev { z.len() - 1 - i } else { i }));
            let name: &[u8] = if *rev { b"ZREVRANK" } else { b"ZRANK" };
            return (
                argv(&[name, &k(kk), &m]),
                rank.map_or(Reply::Nil, |r| Reply::Int(r as i64)),
            );
        }
        Op::Range(kk, a, b, rev) => {
            let empty = Vec::new();
            let z = model.get(&k(kk)).unwrap_or(&empty);
            let mut sorted = z.clone();
            if *rev {
                sorted.reverse();
            }
            let r = ranks(z.len(), i64::from(*a), i64::from(*b));
            let mut cmd = argv(&[
                b"ZRANGE",
                &k(kk),
                a.to_string().as_bytes(),
                b.to_string().as_bytes(),
            ]);
            if *rev {
                cmd.push(Bytes::from_static(b"REV"));
            }
            cmd.push(Bytes::from_static(b"WITHSCORES"));
            if r.is_empty() {
                return (cmd, Reply::Array(Vec::new()));
            }
            return (cmd, pairs_reply(&sorted[r]));
        }
        Op::RangeByScore(kk, a, b, rev) => {
            let empty = Vec::new();
            let z = model.get(&k(kk)).unwrap_or(&empty);
            let mut hits: ZModel = z
                .iter()
                .filter(|(s, _)| in_score_range(*s, *a, *b))
                .cloned()
                .collect();
            let (name, first, second): (&[u8], _, _) = if *rev {
                hits.reverse();
                (b"ZREVRANGEBYSCORE", score_arg(*b), score_arg(*a))
            } else {
                (b"ZRANGEBYSCORE", score_arg(*a), score_arg(*b))
            };
            let cmd = argv(&[
                name,
                &k(kk),
                first.as_bytes(),
                second.as_bytes(),
                b"WITHSCORES",
            ]);
            if hits.is_empty() {
                return (cmd, Reply::Array(Vec::new()));
            }
            return (cmd, pairs_reply(&hits));
        }
        Op::Count(kk, a, b) => {
            let n = model.get(&k(kk)).map_or(0, |z| {
                z.iter().filter(|(s, _)| in_score_range(*s, *a, *b)).count()
            });
            let cmd = argv(&[
                b"ZCOUNT",
                &k(kk),
                score_arg(*a).as_bytes(),
                score_arg(*b).as_bytes(),
            ]);
            return (cmd, Reply::Int(n as i64));
        }
        Op::Pop(kk, max, n) => {
            let name: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            let cmd = argv(&[name, &k(kk), n.to_string().as_bytes()]);
            let Some(z) = model.get_mut(&k(kk)) else {
                return (cmd, Reply::Array(Vec::new()));
            };
            let take = (*n as usize).min(z.len());
            let popped: ZModel = if *max {
                let tail = z.split_off(z.len() - take);
                tail.into_iter().rev().collect()
            } else {
                z.drain(..take).collect()
            };
            if z.is_empty() {
                model.remove(&k(kk));
            }
            if *n == 0 {
                return (cmd, Reply::Array(Vec::new()));
            }
            return (cmd, pairs_reply(&popped));
        }
        Op::RemRangeByRank(kk, a, b) => {
            let cmd = argv(&[
                b"ZREMRANGEBYRANK",
                &k(kk),
                a.to_string().as_bytes(),
                b.to_string().as_bytes(),
            ]);
            let Some(z) = model.get_mut(&k(kk)) else {
                return (cmd, Reply::Int(0));
            };
            let r = ranks(z.len(), i64::from(*a), i64::from(*b));
            let n = r.len();
            z.drain(r);
            if z.is_empty() {
                model.remove(&k(kk));
            }
            return (cmd, Reply::Int(n as i64));
        }
        Op::RemRangeByScore(kk, a, b) => {
            let cmd = argv(&[
                b"ZREMRANGEBYSCORE",
                &k(kk),
                score_arg(*a).as_bytes(),
                score_arg(*b).as_bytes(),
            ]);
            let Some(z) = model.get_mut(&k(kk)) else {
                return (cmd, Reply::Int(0));
            };
            let before = z.len();
            z.retain(|(s, _)| !in_score_range(*s, *a, *b));
            let n = before - z.len();
            if z.is_empty() {
                model.remove(&k(kk));
            }
            return (cmd, Reply::Int(n as i64));
        }
        Op::Card(kk) => Reply::Int(model.get(&k(kk)).map_or(0, |z| z.len() as i64)),
    };
    let Op::Card(kk) = op else {
        unreachable!("every other op returned")
    };
    (argv(&[b"ZCARD", &key(*kk)]), reply)
}

/// Empty pairs and an empty array are the same on the wire (`*0`).
fn norm(reply: Reply) -> Reply {
    match reply {
        Reply::Pairs(pairs) if pairs.is_empty() => Reply::Array(Vec::new()),
        other => other,
    }
}

/// Every key's whole contents, as the engine answers them.
fn contents(h: &mut Harness) -> Vec<Reply> {
    (0..2)
        .map(|k| h.run(&argv(&[b"ZRANGE", &key(k), b"0", b"-1", b"WITHSCORES"])))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sorted_sets_match_a_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut harness = Harness::new();
        let mut model = BTreeMap::new();
        for op in &ops {
            let (cmd, want) = model_step(&mut model, op);
            prop_assert_eq!(norm(harness.run(&cmd)), norm(want), "{:?}", op);
        }
        for k in 0..2u8 {
            let want = match model.get(&key(k)) {
                Some(z) => pairs_reply(z),
                None => Reply::Array(Vec::new()),
            };
            prop_assert_eq!(norm(contents(&mut harness)[k as usize].clone()), norm(want));
        }

        // A restored engine holds the same state and answers the next writes identically.
        let bytes = harness.engine.snapshot();
        let mut restored = Harness::new();
        restored.engine = Engine::restore(&bytes, harness.engine.databases()).unwrap();
        restored.clock_ms = harness.clock_ms;
        prop_assert_eq!(restored.engine.digest(), harness.engine.digest());
        for line in ["ZPOPMIN a 3", "ZADD b 1 new 2 m1", "ZPOPMAX b", "ZRANGE a 0 -1 WITHSCORES"] {
            let cmd: Vec<Bytes> = line.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
            prop_assert_eq!(restored.run(&cmd), harness.run(&cmd), "{}", line);
        }
        prop_assert_eq!(restored.engine.digest(), harness.engine.digest());
    }
}
