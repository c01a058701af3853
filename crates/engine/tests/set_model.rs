//! Random sequences of set commands run against the engine and against a plain model
//! (`BTreeSet`s, plus the encoding Redis would report); every reply, every encoding and the
//! final contents must agree. Replies whose order or choice is the engine's own (hashtable
//! order, SPOP, SRANDMEMBER) are checked for what they must satisfy, and SPOP's choice is then
//! applied to the model.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

/// `set-max-intset-entries`' default.
const INTSET_MAX: usize = 512;

type Member = Vec<u8>;

/// One key of the model: its members and whether Redis would hold it as a hashtable.
#[derive(Clone, Debug, Default)]
struct ModelSet {
    members: BTreeSet<Member>,
    table: bool,
}

#[derive(Default)]
struct Model {
    sets: BTreeMap<Member, ModelSet>,
}

#[derive(Clone, Debug)]
enum Op {
    Sadd(u8, Vec<Member>),
    SaddRange(u8, i64, usize),
    Srem(u8, Vec<Member>),
    Smove(u8, u8, Member),
    Scard(u8),
    Sismember(u8, Member),
    Smismember(u8, Vec<Member>),
    Smembers(u8),
    Spop(u8, Option<u64>),
    Srandmember(u8, i64),
    Algebra(Algebra, Vec<u8>),
    Store(Algebra, u8, Vec<u8>),
    Sintercard(Vec<u8>, u64),
    Sscan(u8, u64),
    Del(u8),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

/// Three set keys and a string key ("str"), so operations collide and meet WRONGTYPE.
fn key(k: u8) -> Member {
    match k % 4 {
        3 => b"str".to_vec(),
        k => vec![b'a' + k],
    }
}

fn is_int(m: &[u8]) -> bool {
    std::str::from_utf8(m)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .is_some_and(|n| n.to_string().as_bytes() == m)
}

fn member() -> impl Strategy<Value = Member> {
    prop_oneof![
        4 => (-3i64..20).prop_map(|n| n.to_string().into_bytes()),
        2 => prop::sample::select(vec!["x", "y", "z", "007", "", "-0", "1.0"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(i64::MIN.to_string().into_bytes()),
        1 => Just(b"99999999999999999999".to_vec()),
    ]
}

fn keys() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..5, 1..4)
}

fn algebra() -> impl Strategy<Value = Algebra> {
    prop_oneof![
        Just(Algebra::Inter),
        Just(Algebra::Union),
        Just(Algebra::Diff)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let members = || prop::collection::vec(member(), 1..5);
    prop_oneof![
        6 => (any::<u8>(), members()).prop_map(|(k, m)| Op::Sadd(k, m)),
        1 => (any::<u8>(), -5i64..5, 400usize..600).prop_map(|(k, s, n)| Op::SaddRange(k, s, n)),
        3 => (any::<u8>(), members()).prop_map(|(k, m)| Op::Srem(k, m)),
        2 => (any::<u8>(), any::<u8>(), member()).prop_map(|(a, b, m)| Op::Smove(a, b, m)),
        1 => any::<u8>().prop_map(Op::Scard),
        1 => (any::<u8>(), member()).prop_map(|(k, m)| Op::Sismember(k, m)),
        1 => (any::<u8>(), members()).prop_map(|(k, m)| Op::Smismember(k, m)),
        1 => any::<u8>().prop_map(Op::Smembers),
        2 => (any::<u8>(), prop::option::of(0u64..30)).prop_map(|(k, c)| Op::Spop(k, c)),
        1 => (any::<u8>(), -30i64..30).prop_map(|(k, c)| Op::Srandmember(k, c)),
        2 => (algebra(), keys()).prop_map(|(a, k)| Op::Algebra(a, k)),
        2 => (algebra(), any::<u8>(), keys()).prop_map(|(a, d, k)| Op::Store(a, d, k)),
        1 => (keys(), 0u64..4).prop_map(|(k, l)| Op::Sintercard(k, l)),
        1 => (any::<u8>(), 1u64..5).prop_map(|(k, c)| Op::Sscan(k, c)),
        1 => any::<u8>().prop_map(Op::Del),
    ]
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

fn command(name: &str, keys: &[Member], rest: &[Member]) -> Vec<Bytes> {
    let mut out = vec![Bytes::copy_from_slice(name.as_bytes())];
    out.extend(keys.iter().chain(rest).map(|p| Bytes::copy_from_slice(p)));
    out
}

fn wrongtype() -> Reply {
    Reply::error_static("WRONGTYPE Operation against a key holding the wrong kind of value")
}

fn bulks(members: &BTreeSet<Member>) -> Vec<Reply> {
    members
        .iter()
        .map(|m| Reply::Bulk(Bytes::copy_from_slice(m)))
        .collect()
}

/// The members of a reply's array or set, in reply order.
fn items(reply: &Reply) -> Vec<Member> {
    match reply {
        Reply::Array(items) | Reply::Set(items) => items
            .iter()
            .map(|r| match r {
                Reply::Bulk(b) => b.to_vec(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect(),
        other => panic!("not an aggregate: {other:?}"),
    }
}

fn sorted_reply(reply: &Reply) -> Reply {
    let mut members = items(reply);
    members.sort();
    Reply::Array(
        members
            .into_iter()
            .map(|m| Reply::Bulk(Bytes::from(m)))
            .collect(),
    )
}

impl Model {
    /// `None` for WRONGTYPE (the string key), else the set (empty when missing).
    fn get(&self, k: &[u8]) -> Option<BTreeSet<Member>> {
        if k == b"str" {
            return None;
        }
        Some(
            self.sets
                .get(k)
                .map(|s| s.members.clone())
                .unwrap_or_default(),
        )
    }

    fn encoding(&self, k: &[u8]) -> Reply {
        match self.sets.get(k) {
            None => Reply::Nil,
            Some(s) => Reply::bulk(if s.table { "hashtable" } else { "intset" }),
        }
    }

    /// Adds to `k` as SADD does (creating it with the first member's encoding).
    fn add(&mut self, k: &[u8], members: &[Member]) -> usize {
        let set = self.sets.entry(k.to_vec()).or_insert_with(|| ModelSet {
            members: BTreeSet::new(),
            table: !is_int(&members[0]),
        });
        let mut added = 0;
        for m in members {
            if set.members.insert(m.clone()) {
                added += 1;
                if !is_int(m) || set.members.len() > INTSET_MAX {
                    set.table = true;
                }
            }
        }
        added
    }

    fn remove(&mut self, k: &[u8], members: &[Member]) -> usize {
        let Some(set) = self.sets.get_mut(k) else {
            return 0;
        };
        let removed = members.iter().filter(|m| set.members.remove(*m)).count();
        if set.members.is_empty() {
            self.sets.remove(k);
        }
        removed
    }

    /// The result of an algebra command and whether Redis builds it as a hashtable.
    fn algebra(&self, op: Algebra, keys: &[Member]) -> Option<(BTreeSet<Member>, bool)> {
        let sets: Vec<BTreeSet<Member>> =
            keys.iter().map(|k| self.get(k)).collect::<Option<_>>()?;
        let result: BTreeSet<Member> = match op {
            Algebra::Inter => sets[0]
                .iter()
                .filter(|m| sets[1..].iter().all(|s| s.contains(*m)))
                .cloned()
                .collect(),
            Algebra::Union => sets.iter().flatten().cloned().collect(),
            Algebra::Diff => sets[0]
                .iter()
                .filter(|m| !sets[1..].iter().any(|s| s.contains(*m)))
                .cloned()
                .collect(),
        };
        let table_of = |s: &BTreeSet<Member>| s.iter().any(|m| !is_int(m)) || s.len() > INTSET_MAX;
        let mut table = table_of(&result);
        if op == Algebra::Diff && !sets[0].is_empty() && !keys[1..].contains(&keys[0]) {
            // Redis's second algorithm adds the whole first set before removing.
            let present: Vec<&BTreeSet<Member>> = sets.iter().filter(|s| !s.is_empty()).collect();
            let one = sets[0].len() * present.len() / 2;
            let two: usize = present.iter().map(|s| s.len()).sum();
            if one > two {
                table = table_of(&sets[0]);
            }
        }
        Some((result, table))
    }

    /// Applies `op`; returns the command and the reply to expect, or a check to run on it.
    fn step(&mut self, op: &Op, h: &mut Harness) -> Result<(), TestCaseError> {
        match op {
            Op::Sadd(k, members) => {
                let k = key(*k);
                let want = match self.get(&k) {
                    None => wrongtype(),
                    Some(_) => Reply::Int(self.add(&k, members) as i64),
                };
                prop_assert_eq!(
                    h.run(&command("SADD", std::slice::from_ref(&k), members)),
                    want
                );
            }
            Op::SaddRange(k, start, n) => {
                let k = key(*k);
                let members: Vec<Member> = (0..*n as i64)
                    .map(|i| (start + i).to_string().into_bytes())
                    .collect();
                let want = match self.get(&k) {
                    None => wrongtype(),
                    Some(_) => Reply::Int(self.add(&k, &members) as i64),
                };
                prop_assert_eq!(
                    h.run(&command("SADD", std::slice::from_ref(&k), &members)),
                    want
                );
            }
            Op::Srem(k, members) => {
                let k = key(*k);
                let want = match self.get(&k) {
                    None => wrongtype(),
                    Some(_) => Reply::Int(self.remove(&k, members) as i64),
                };
                prop_assert_eq!(
                    h.run(&command("SREM", std::slice::from_ref(&k), members)),
                    want
                );
            }
            Op::Smove(a, b, m) => self.smove(key(*a), key(*b), m, h)?,
            Op::Scard(k) => {
                let k = key(*k);
                let want = self
                    .get(&k)
                    .map_or_else(wrongtype, |s| Reply::Int(s.len() as i64));
                prop_assert_eq!(h.run(&command("SCARD", &[k], &[])), want);
            }
            Op::Sismember(k, m) => {
                let k = key(*k);
                let want = self
                    .get(&k)
                    .map_or_else(wrongtype, |s| Reply::Int(i64::from(s.contains(m))));
                prop_assert_eq!(
                    h.run(&command("SISMEMBER", &[k], std::slice::from_ref(m))),
                    want
                );
            }
            Op::Smismember(k, members) => {
                let k = key(*k);
                let want = self.get(&k).map_or_else(wrongtype, |s| {
                    Reply::Array(
                        members
                            .iter()
                            .map(|m| Reply::Int(i64::from(s.contains(m))))
                            .collect(),
                    )
                });
                prop_assert_eq!(h.run(&command("SMISMEMBER", &[k], members)), want);
            }
            Op::Smembers(k) => {
                let k = key(*k);
                let got = h.run(&command("SMEMBERS", std::slice::from_ref(&k), &[]));
                match self.get(&k) {
                    None => prop_assert_eq!(got, wrongtype()),
                    Some(s) => prop_assert_eq!(sorted_reply(&got), Reply::Array(bulks(&s))),
                }
            }
            Op::Spop(k, count) => self.spop(key(*k), *count, h)?,
            Op::Srandmember(k, count) => {
                let k = key(*k);
                let got = h.run(&argv(&[b"SRANDMEMBER", &k, count.to_string().as_bytes()]));
                let Some(s) = self.get(&k) else {
                    prop_assert_eq!(got, wrongtype());
                    return Ok(());
                };
                let got = items(&got);
                prop_assert!(got.iter().all(|m| s.contains(m)));
                if *count >= 0 {
                    prop_assert_eq!(got.len(), (*count as usize).min(s.len()));
                    let distinct: BTreeSet<&Member> = got.iter().collect();
                    prop_assert_eq!(distinct.len(), got.len());
                } else if !s.is_empty() {
                    prop_assert_eq!(got.len(), count.unsigned_abs() as usize);
                }
            }
            Op::Algebra(op, keys) => {
                let keys: Vec<Member> = keys.iter().map(|k| key(*k)).collect();
                let name = match op {
                    Algebra::Inter => "SINTER",
                    Algebra::Union => "SUNION",
                    Algebra::Diff => "SDIFF",
                };
                let got = h.run(&command(name, &keys, &[]));
                match self.algebra(*op, &keys) {
                    None => prop_assert_eq!(got, wrongtype()),
                    Some((s, _)) => prop_assert_eq!(sorted_reply(&got), Reply::Array(bulks(&s))),
                }
            }
            Op::Store(op, dst, keys) => {
                let (dst, keys): (Member, Vec<Member>) =
                    (key(*dst), keys.iter().map(|k| key(*k)).collect());
                let name = match op {
                    Algebra::Inter => "SINTERSTORE",
                    Algebra::Union => "SUNIONSTORE",
                    Algebra::Diff => "SDIFFSTORE",
                };
                let got = h.run(&command(name, std::slice::from_ref(&dst), &keys));
                match self.algebra(*op, &keys) {
                    None => prop_assert_eq!(got, wrongtype()),
                    Some((s, table)) => {
                        prop_assert_eq!(got, Reply::Int(s.len() as i64));
                        if dst == b"str" {
                            // The string is replaced (or deleted): the model keeps "str" a string.
                            h.run(&argv(&[b"SET", b"str", b"v"]));
                        } else if s.is_empty() {
                            self.sets.remove(&dst);
                        } else {
                            self.sets
                                .insert(dst.clone(), ModelSet { members: s, table });
                        }
                    }
                }
            }
            Op::Sintercard(keys, limit) => {
                let keys: Vec<Member> = keys.iter().map(|k| key(*k)).collect();
                let numkeys = keys.len().to_string().into_bytes();
                let rest = [b"LIMIT".to_vec(), limit.to_string().into_bytes()];
                let mut cmd = command("SINTERCARD", &[numkeys], &keys);
                cmd.extend(rest.iter().map(|p| Bytes::copy_from_slice(p)));
                let want = self
                    .algebra(Algebra::Inter, &keys)
                    .map_or_else(wrongtype, |(s, _)| {
                        let n = s.len() as u64;
                        Reply::Int(if *limit == 0 { n } else { n.min(*limit) } as i64)
                    });
                prop_assert_eq!(h.run(&cmd), want);
            }
            Op::Sscan(k, count) => self.sscan(key(*k), *count, h)?,
            Op::Del(k) => {
                let k = key(*k);
                if k != b"str" {
                    self.sets.remove(&k);
                    h.run(&argv(&[b"DEL", &k]));
                }
            }
        }
        Ok(())
    }

    fn smove(
        &mut self,
        src: Member,
        dst: Member,
        m: &Member,
        h: &mut Harness,
    ) -> Result<(), TestCaseError> {
        let got = h.run(&argv(&[b"SMOVE", &src, &dst, m]));
        let want = match (self.get(&src), self.get(&dst)) {
            (Some(s), _) if s.is_empty() => Reply::Int(0),
            (None, _) | (_, None) => wrongtype(),
            (Some(s), _) if src == dst => Reply::Int(i64::from(s.contains(m))),
            (Some(s), _) if !s.contains(m) => Reply::Int(0),
            _ => {
                self.remove(&src, std::slice::from_ref(m));
                self.add(&dst, std::slice::from_ref(m));
                Reply::Int(1)
            }
        };
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn spop(
        &mut self,
        k: Member,
        count: Option<u64>,
        h: &mut Harness,
    ) -> Result<(), TestCaseError> {
        let mut cmd = argv(&[b"SPOP", &k]);
        if let Some(c) = count {
            cmd.push(Bytes::from(c.to_string()));
        }
        let got = h.run(&cmd);
        let Some(s) = self.get(&k) else {
            prop_assert_eq!(got, wrongtype());
            return Ok(());
        };
        let popped = match (&got, count) {
            (Reply::Nil, None) => Vec::new(),
            (Reply::Bulk(b), None) => vec![b.to_vec()],
            (_, Some(_)) => items(&got),
            _ => return Err(TestCaseError::fail(format!("SPOP replied {got:?}"))),
        };
        prop_assert_eq!(
            popped.len(),
            count.unwrap_or(1).min(s.len() as u64) as usize
        );
        let distinct: BTreeSet<&Member> = popped.iter().collect();
        prop_assert_eq!(distinct.len(), popped.len());
        prop_assert!(popped.iter().all(|m| s.contains(m)));
        let size = s.len() as u64;
        self.remove(&k, &popped);
        // SPOP's third case rebuilds the survivors' set, which may be an intset again.
        if let (Some(c), Some(set)) = (count, self.sets.get_mut(&k))
            && c < size
            && (size - c) * 5 <= c
        {
            set.table = set.members.iter().any(|m| !is_int(m)) || set.members.len() > INTSET_MAX;
        }
        Ok(())
    }

    /// A whole SSCAN iteration returns every member (at least once).
    fn sscan(&mut self, k: Member, count: u64, h: &mut Harness) -> Result<(), TestCaseError> {
        let mut cursor = b"0".to_vec();
        let mut seen = BTreeSet::new();
        for _ in 0..10_000 {
            let got = h.run(&argv(&[
                b"SSCAN",
                &k,
                &cursor,
                b"COUNT",
                count.to_string().as_bytes(),
            ]));
            let Reply::Array(parts) = &got else {
                prop_assert_eq!(got, wrongtype());
                prop_assert!(self.get(&k).is_none());
                return Ok(());
            };
            let Reply::Bulk(next) = &parts[0] else {
                return Err(TestCaseError::fail("cursor is a bulk"));
            };
            seen.extend(items(&parts[1]));
            cursor = next.to_vec();
            if cursor == b"0" {
                prop_assert_eq!(seen, self.get(&k).unwrap());
                return Ok(());
            }
        }
        Err(TestCaseError::fail("SSCAN did not finish"))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sets_match_a_model(ops in prop::collection::vec(op(), 1..50)) {
        let mut h = Harness::new();
        h.run(&argv(&[b"SET", b"str", b"v"]));
        let mut model = Model::default();
        for op in &ops {
            model.step(op, &mut h)?;
            for k in 0..3 {
                let k = key(k);
                let got = h.run(&argv(&[b"OBJECT", b"ENCODING", &k]));
                prop_assert_eq!(got, model.encoding(&k), "encoding of {:?} after {:?}", k, op);
            }
        }
        for k in 0..3 {
            let k = key(k);
            let got = h.run(&argv(&[b"SMEMBERS", &k]));
            prop_assert_eq!(sorted_reply(&got), Reply::Array(bulks(&model.get(&k).unwrap())));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Determinism: SPOP's choices are a function of the log

/// A random set workload with SPOP in every form, expiry and copies, on a seeded log.
fn spop_workload(seed: u64, commands: usize) -> Harness {
    use cairn_engine::Body;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new();
    h.apply(Body::Init {
        hash_seed: rng.u64(..),
    });
    for _ in 0..commands {
        let key = format!("s{}", rng.u8(0..4));
        let other = format!("s{}", rng.u8(0..4));
        let member = match rng.u8(0..3) {
            0 => rng.i64(-50..50).to_string(),
            _ => format!("m{}", rng.u16(0..400)),
        };
        let words: Vec<String> = match rng.u8(0..12) {
            0..=3 => {
                let mut w = vec!["SADD".to_string(), key];
                w.extend((0..rng.usize(1..40)).map(|i| format!("{member}{i}")));
                w
            }
            4 => vec!["SADD".into(), key, member],
            5 => vec!["SREM".into(), key, member],
            6 => vec!["SPOP".into(), key],
            7 => vec!["SPOP".into(), key, rng.u64(0..60).to_string()],
            8 => vec!["SMOVE".into(), key, other, member],
            9 => vec!["SUNIONSTORE".into(), other, key, "s9".into()],
            10 => vec!["COPY".into(), key, other, "REPLACE".into()],
            _ => vec!["PEXPIRE".into(), key, rng.u64(1..3000).to_string()],
        };
        if rng.u8(0..10) == 0 {
            h.clock_ms += rng.u64(0..2000);
        }
        let argv: Vec<Bytes> = words.into_iter().map(Bytes::from).collect();
        h.run(&argv);
    }
    h
}

/// Replays `entries` into `engine`, decoding each from its log encoding; returns the replies.
fn replay(entries: &[cairn_engine::Entry], engine: &mut cairn_engine::Engine) -> Vec<Reply> {
    entries
        .iter()
        .map(|e| engine.apply(&cairn_engine::Entry::decode(&e.encode()).unwrap()))
        .collect()
}

#[test]
fn spop_replays_identically_from_the_log_and_from_snapshots() {
    use cairn_engine::Engine;
    for seed in 0..12 {
        let h = spop_workload(seed, 1_500);
        let mut full = Engine::new(16);
        let replies = replay(&h.log, &mut full);
        assert_eq!(full.digest(), h.engine.digest(), "seed {seed}");
        // Restore at several points; the tail must answer exactly as the first replay did.
        for cut in [h.log.len() / 3, h.log.len() / 2, h.log.len() - 10] {
            let mut head = Engine::new(16);
            replay(&h.log[..cut], &mut head);
            let mut restored = Engine::restore(&head.snapshot(), 16).unwrap();
            assert_eq!(restored.digest(), head.digest(), "seed {seed} cut {cut}");
            let tail = replay(&h.log[cut..], &mut restored);
            assert_eq!(tail, replies[cut..], "seed {seed} cut {cut}");
            assert_eq!(
                restored.digest(),
                h.engine.digest(),
                "seed {seed} cut {cut}"
            );
        }
        assert_ne!(h.engine.digest(), "0".repeat(40), "seed {seed} left data");
    }
}
