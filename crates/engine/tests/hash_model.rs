//! Random sequences of hash commands (HSET, HSETNX, HDEL, HINCRBY, the field-expiry commands,
//! HGETDEL, HGETEX, HSETEX, reads, HRANDFIELD, HSCAN), clock advances, ticks and snapshot
//! round trips, run against the engine and against a plain model: a `BTreeMap` of keys, each a
//! `BTreeMap` of fields with their expire times. Every reply must agree with the model.
//!
//! Two engines run every step: one keeps its state, the other is now and then replaced by a
//! restore of its own snapshot. Their replies must be identical, byte for byte, including the
//! order of a hash table's fields, HSCAN's cursors and HRANDFIELD's draws.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use cairn_engine::testing::Harness;
use cairn_engine::{Body, Engine};
use cairn_resp::Reply;
use proptest::prelude::*;

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

type Fields = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

#[derive(Clone, Debug)]
enum Val {
    Str,
    Hash(Fields),
}

#[derive(Clone, Copy, Debug)]
enum Cond {
    None,
    Nx,
    Xx,
    Gt,
    Lt,
}

/// HGETEX's and HSETEX's expire option: PX ms, PERSIST (HGETEX) or KEEPTTL (HSETEX).
#[derive(Clone, Copy, Debug)]
enum Opt {
    None,
    Px(u64),
    Persist,
    KeepTtl,
}

#[derive(Clone, Debug)]
enum Op {
    HSet(u8, Vec<(u8, Vec<u8>)>),
    HSetNx(u8, u8, Vec<u8>),
    HDel(u8, Vec<u8>),
    HIncrBy(u8, u8, i64),
    HPExpire(u8, u64, Cond, Vec<u8>),
    /// HPEXPIREAT at a multiple of 500 ms near now (equal times are common).
    HPExpireAt(u8, u64, Cond, Vec<u8>),
    HPersist(u8, Vec<u8>),
    HPTtl(u8, Vec<u8>),
    HGetDel(u8, Vec<u8>),
    HGetEx(u8, Opt, Vec<u8>),
    HSetEx(u8, Option<bool>, Opt, Vec<(u8, Vec<u8>)>),
    HGet(u8, u8),
    HLen(u8),
    HGetAll(u8),
    HStrlen(u8, u8),
    HRandField(u8, i64),
    HScan(u8),
    SetString(u8),
    Del(u8),
    Advance(u64),
    Tick,
    Restore,
}

/// Three keys, so operations collide often.
fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 3]
}

/// Field 6 is longer than `hash-max-listpack-value`. The random sequences use fields 0..7;
/// the long run uses all 256.
fn field(f: u8) -> Vec<u8> {
    match f {
        0..6 => format!("f{f}").into_bytes(),
        6 => vec![b'F'; 70],
        n => format!("g{n}").into_bytes(),
    }
}

fn field_id() -> impl Strategy<Value = u8> {
    0u8..7
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => (-50i64..50).prop_map(|n| n.to_string().into_bytes()),
        1 => Just(b"x".to_vec()),
        1 => Just(vec![b'v'; 65]),
    ]
}

fn fields() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(field_id(), 1..4)
}

fn pairs() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    prop::collection::vec((field_id(), value()), 1..4)
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        Just(Cond::None),
        Just(Cond::Nx),
        Just(Cond::Xx),
        Just(Cond::Gt),
        Just(Cond::Lt)
    ]
}

fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..3000]
}

fn op() -> impl Strategy<Value = Op> {
    let k = any::<u8>();
    prop_oneof![
        6 => (k, pairs()).prop_map(|(k, p)| Op::HSet(k, p)),
        2 => (k, field_id(), value()).prop_map(|(k, f, v)| Op::HSetNx(k, f, v)),
        2 => (k, fields()).prop_map(|(k, f)| Op::HDel(k, f)),
        2 => (k, field_id(), -20i64..20).prop_map(|(k, f, n)| Op::HIncrBy(k, f, n)),
        5 => (k, ttl_ms(), cond(), fields()).prop_map(|(k, ms, c, f)| Op::HPExpire(k, ms, c, f)),
        3 => (k, 0u64..4, cond(), fields()).prop_map(|(k, t, c, f)| Op::HPExpireAt(k, t, c, f)),
        2 => (k, fields()).prop_map(|(k, f)| Op::HPersist(k, f)),
        2 => (k, fields()).prop_map(|(k, f)| Op::HPTtl(k, f)),
        2 => (k, fields()).prop_map(|(k, f)| Op::HGetDel(k, f)),
        2 => (k, prop_oneof![Just(Opt::None), ttl_ms().prop_map(Opt::Px), Just(Opt::Persist)], fields())
            .prop_map(|(k, o, f)| Op::HGetEx(k, o, f)),
        3 => (k, prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
              prop_oneof![Just(Opt::None), ttl_ms().prop_map(Opt::Px), Just(Opt::KeepTtl)], pairs())
            .prop_map(|(k, c, o, p)| Op::HSetEx(k, c, o, p)),
        3 => (k, field_id()).prop_map(|(k, f)| Op::HGet(k, f)),
        2 => k.prop_map(Op::HLen),
        2 => k.prop_map(Op::HGetAll),
        1 => (k, field_id()).prop_map(|(k, f)| Op::HStrlen(k, f)),
        2 => (k, -6i64..6).prop_map(|(k, n)| Op::HRandField(k, n)),
        1 => k.prop_map(Op::HScan),
        1 => k.prop_map(Op::SetString),
        1 => k.prop_map(Op::Del),
        4 => (0u64..1500).prop_map(Op::Advance),
        2 => Just(Op::Tick),
        1 => Just(Op::Restore),
    ]
}

fn argv(words: Vec<Vec<u8>>) -> Vec<Bytes> {
    words.into_iter().map(Bytes::from).collect()
}

fn w(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

fn ints(v: Vec<i64>) -> Reply {
    Reply::Array(v.into_iter().map(Reply::Int).collect())
}

/// `FIELDS n f...` for a list of field numbers.
fn fields_words(fs: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![w("FIELDS"), fs.len().to_string().into_bytes()];
    out.extend(fs.iter().map(|&f| field(f)));
    out
}

fn pairs_words(ps: &[(u8, Vec<u8>)]) -> Vec<Vec<u8>> {
    ps.iter()
        .flat_map(|(f, v)| [field(*f), v.clone()])
        .collect()
}

struct Model {
    keys: BTreeMap<Vec<u8>, Val>,
    now: u64,
}

/// What the model says: an exact reply, or a property for replies chosen at random.
enum Want {
    Exact(Reply),
    /// Compared as a set of (field, value) pairs (HGETALL, whose order is the encoding's).
    Map(BTreeMap<Vec<u8>, Vec<u8>>),
    /// HRANDFIELD: the live fields and the count asked for.
    Random(BTreeSet<Vec<u8>>, i64),
    Scan(BTreeMap<Vec<u8>, Vec<u8>>),
}

impl Model {
    fn expired(&self, ttl: Option<u64>) -> bool {
        ttl.is_some_and(|at| at < self.now)
    }

    /// A write's view: WRONGTYPE for a string, the key's expired fields removed first (and
    /// the key, when none is left).
    fn write(&mut self, k: &[u8]) -> Result<Option<&mut Fields>, Reply> {
        let now = self.now;
        match self.keys.get_mut(k) {
            Some(Val::Str) => return Err(Reply::error_static(WRONGTYPE)),
            Some(Val::Hash(h)) => {
                h.retain(|_, (_, ttl)| !ttl.is_some_and(|at| at < now));
                if h.is_empty() {
                    self.keys.remove(k);
                }
            }
            None => {}
        }
        match self.keys.get_mut(k) {
            Some(Val::Hash(h)) => Ok(Some(h)),
            _ => Ok(None),
        }
    }

    /// A read's view: the live fields.
    fn read(&self, k: &[u8]) -> Result<Fields, Reply> {
        match self.keys.get(k) {
            Some(Val::Str) => Err(Reply::error_static(WRONGTYPE)),
            Some(Val::Hash(h)) => Ok(h
                .iter()
                .filter(|(_, (_, ttl))| !self.expired(*ttl))
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect()),
            None => Ok(Fields::new()),
        }
    }

    fn create(&mut self, k: &[u8]) -> Result<&mut Fields, Reply> {
        self.write(k)?;
        match self
            .keys
            .entry(k.to_vec())
            .or_insert_with(|| Val::Hash(Fields::new()))
        {
            Val::Hash(h) => Ok(h),
            Val::Str => Err(Reply::error_static(WRONGTYPE)),
        }
    }

    fn drop_if_empty(&mut self, k: &[u8]) {
        if matches!(self.keys.get(k), Some(Val::Hash(h)) if h.is_empty()) {
            self.keys.remove(k);
        }
    }

    fn step(&mut self, op: &Op) -> (Option<Vec<Bytes>>, Want) {
        let now = self.now;
        let (cmd, want) = match op {
            Op::HSet(k, ps) => {
                let mut words = vec![w("HSET"), key(*k)];
                words.extend(pairs_words(ps));
                let want = self.create(&key(*k)).map(|h| {
                    let mut created = 0;
                    for (f, v) in ps {
                        created += i64::from(h.insert(field(*f), (v.clone(), None)).is_none());
                    }
                    Reply::Int(created)
                });
                (words, want)
            }
            Op::HSetNx(k, f, v) => {
                let words = vec![w("HSETNX"), key(*k), field(*f), v.clone()];
                let want = self.create(&key(*k)).map(|h| {
                    let new = !h.contains_key(&field(*f));
                    if new {
                        h.insert(field(*f), (v.clone(), None));
                    }
                    Reply::Int(i64::from(new))
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HDel(k, fs) => {
                let mut words = vec![w("HDEL"), key(*k)];
                words.extend(fs.iter().map(|&f| field(f)));
                let want = self.write(&key(*k)).map(|h| {
                    let h = match h {
                        Some(h) => h,
                        None => return Reply::Int(0),
                    };
                    Reply::Int(
                        fs.iter()
                            .filter(|&&f| h.remove(&field(f)).is_some())
                            .count() as i64,
                    )
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HIncrBy(k, f, n) => {
                let words = vec![w("HINCRBY"), key(*k), field(*f), n.to_string().into_bytes()];
                let want = self.create(&key(*k)).map(|h| {
                    let (current, ttl) = match h.get(&field(*f)) {
                        None => (Some(0), None),
                        Some((v, ttl)) => {
                            let parsed = std::str::from_utf8(v)
                                .ok()
                                .and_then(|s| s.parse::<i64>().ok());
                            (parsed.filter(|p| p.to_string().as_bytes() == &v[..]), *ttl)
                        }
                    };
                    match current.map(|c| c.checked_add(*n)) {
                        None => Reply::error_static("ERR hash value is not an integer"),
                        Some(None) => {
                            Reply::error_static("ERR increment or decrement would overflow")
                        }
                        Some(Some(sum)) => {
                            h.insert(field(*f), (sum.to_string().into_bytes(), ttl));
                            Reply::Int(sum)
                        }
                    }
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HPExpire(..) | Op::HPExpireAt(..) => {
                let (name, k, c, fs, at) = match op {
                    Op::HPExpire(k, ms, c, fs) => ("HPEXPIRE", k, c, fs, now + ms),
                    Op::HPExpireAt(k, t, c, fs) => {
                        ("HPEXPIREAT", k, c, fs, now - now % 500 + t * 500)
                    }
                    _ => unreachable!(),
                };
                let time = if name == "HPEXPIRE" { at - now } else { at };
                let mut words = vec![w(name), key(*k), time.to_string().into_bytes()];
                match c {
                    Cond::None => {}
                    Cond::Nx => words.push(w("NX")),
                    Cond::Xx => words.push(w("XX")),
                    Cond::Gt => words.push(w("GT")),
                    Cond::Lt => words.push(w("LT")),
                }
                words.extend(fields_words(fs));
                let want = self.write(&key(*k)).map(|h| {
                    let Some(h) = h else {
                        return ints(vec![-2; fs.len()]);
                    };
                    ints(
                        fs.iter()
                            .map(|&f| {
                                let Some((_, ttl)) = h.get(&field(f)) else {
                                    return -2;
                                };
                                let allowed = match c {
                                    Cond::None => true,
                                    Cond::Nx => ttl.is_none(),
                                    Cond::Xx => ttl.is_some(),
                                    Cond::Gt => ttl.is_some_and(|t| at > t),
                                    Cond::Lt => ttl.is_none_or(|t| at < t),
                                };
                                if !allowed {
                                    0
                                } else if at <= now {
                                    h.remove(&field(f));
                                    2
                                } else {
                                    h.get_mut(&field(f)).unwrap().1 = Some(at);
                                    1
                                }
                            })
                            .collect(),
                    )
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HPersist(k, fs) => {
                let mut words = vec![w("HPERSIST"), key(*k)];
                words.extend(fields_words(fs));
                let want = self.write(&key(*k)).map(|h| {
                    let Some(h) = h else {
                        return ints(vec![-2; fs.len()]);
                    };
                    ints(
                        fs.iter()
                            .map(|&f| match h.get_mut(&field(f)) {
                                None => -2,
                                Some((_, None)) => -1,
                                Some((_, ttl)) => {
                                    *ttl = None;
                                    1
                                }
                            })
                            .collect(),
                    )
                });
                (words, want)
            }
            Op::HPTtl(k, fs) => {
                let mut words = vec![w("HPTTL"), key(*k)];
                words.extend(fields_words(fs));
                let want = self.read(&key(*k)).map(|h| {
                    ints(
                        fs.iter()
                            .map(|&f| match h.get(&field(f)) {
                                None => -2,
                                Some((_, None)) => -1,
                                Some((_, Some(at))) => (at - now) as i64,
                            })
                            .collect(),
                    )
                });
                (words, want)
            }
            Op::HGetDel(k, fs) => {
                let mut words = vec![w("HGETDEL"), key(*k)];
                words.extend(fields_words(fs));
                let want = self.write(&key(*k)).map(|mut h| {
                    Reply::Array(
                        fs.iter()
                            .map(|&f| {
                                h.as_mut()
                                    .and_then(|h| h.remove(&field(f)))
                                    .map_or(Reply::Nil, |(v, _)| bulk(&v))
                            })
                            .collect(),
                    )
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HGetEx(k, opt, fs) => {
                let mut words = vec![w("HGETEX"), key(*k)];
                match opt {
                    Opt::Px(ms) => words.extend([w("PX"), ms.to_string().into_bytes()]),
                    Opt::Persist => words.push(w("PERSIST")),
                    _ => {}
                }
                words.extend(fields_words(fs));
                let want = self.write(&key(*k)).map(|mut h| {
                    Reply::Array(
                        fs.iter()
                            .map(|&f| {
                                let Some(h) = h.as_mut() else {
                                    return Reply::Nil;
                                };
                                let Some((v, ttl)) = h.get_mut(&field(f)) else {
                                    return Reply::Nil;
                                };
                                let reply = bulk(v);
                                match opt {
                                    Opt::Px(0) => {
                                        h.remove(&field(f));
                                    }
                                    Opt::Px(ms) => *ttl = Some(now + ms),
                                    Opt::Persist => *ttl = None,
                                    _ => {}
                                }
                                reply
                            })
                            .collect(),
                    )
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HSetEx(k, only_new, opt, ps) => {
                let mut words = vec![w("HSETEX"), key(*k)];
                match only_new {
                    Some(true) => words.push(w("FNX")),
                    Some(false) => words.push(w("FXX")),
                    None => {}
                }
                match opt {
                    Opt::Px(ms) => words.extend([w("PX"), ms.to_string().into_bytes()]),
                    Opt::KeepTtl => words.push(w("KEEPTTL")),
                    _ => {}
                }
                words.push(w("FIELDS"));
                words.push(ps.len().to_string().into_bytes());
                words.extend(pairs_words(ps));
                let want = self.create(&key(*k)).map(|h| {
                    let exists = |f: &u8| h.contains_key(&field(*f));
                    let refused = match only_new {
                        Some(true) => ps.iter().any(|(f, _)| exists(f)),
                        Some(false) => !ps.iter().all(|(f, _)| exists(f)),
                        None => false,
                    };
                    if refused {
                        return Reply::Int(0);
                    }
                    for (f, v) in ps {
                        let old = h.get(&field(*f)).and_then(|(_, ttl)| *ttl);
                        let ttl = match opt {
                            Opt::None => None,
                            Opt::Px(ms) => Some(now + ms),
                            _ => old,
                        };
                        h.insert(field(*f), (v.clone(), ttl));
                        if matches!(opt, Opt::Px(0)) {
                            h.remove(&field(*f));
                        }
                    }
                    Reply::Int(1)
                });
                self.drop_if_empty(&key(*k));
                (words, want)
            }
            Op::HGet(k, f) => {
                let words = vec![w("HGET"), key(*k), field(*f)];
                let want = self
                    .read(&key(*k))
                    .map(|h| h.get(&field(*f)).map_or(Reply::Nil, |(v, _)| bulk(v)));
                (words, want)
            }
            Op::HLen(k) => {
                let want = self.read(&key(*k)).map(|h| Reply::Int(h.len() as i64));
                (vec![w("HLEN"), key(*k)], want)
            }
            Op::HStrlen(k, f) => {
                let want = self
                    .read(&key(*k))
                    .map(|h| Reply::Int(h.get(&field(*f)).map_or(0, |(v, _)| v.len() as i64)));
                (vec![w("HSTRLEN"), key(*k), field(*f)], want)
            }
            Op::HGetAll(k) => {
                let words = vec![w("HGETALL"), key(*k)];
                return match self.read(&key(*k)) {
                    Ok(h) => (
                        Some(argv(words)),
                        Want::Map(h.into_iter().map(|(f, (v, _))| (f, v)).collect()),
                    ),
                    Err(e) => (Some(argv(words)), Want::Exact(e)),
                };
            }
            Op::HRandField(k, n) => {
                let words = vec![w("HRANDFIELD"), key(*k), n.to_string().into_bytes()];
                return match self.read(&key(*k)) {
                    Ok(h) => (Some(argv(words)), Want::Random(h.into_keys().collect(), *n)),
                    Err(e) => (Some(argv(words)), Want::Exact(e)),
                };
            }
            Op::HScan(k) => {
                return match self.read(&key(*k)) {
                    Ok(h) => (
                        None,
                        Want::Scan(h.into_iter().map(|(f, (v, _))| (f, v)).collect()),
                    ),
                    Err(e) => (None, Want::Exact(e)),
                };
            }
            Op::SetString(k) => {
                self.keys.insert(key(*k), Val::Str);
                (vec![w("SET"), key(*k), w("s")], Ok(Reply::ok()))
            }
            Op::Del(k) => {
                // A hash whose fields have all expired is still a key until a tick removes it.
                let existed = self.keys.remove(&key(*k)).is_some();
                (vec![w("DEL"), key(*k)], Ok(Reply::Int(i64::from(existed))))
            }
            Op::Advance(_) | Op::Tick | Op::Restore => return (None, Want::Exact(Reply::Nil)),
        };
        let want = want.unwrap_or_else(|e| e);
        (Some(argv(cmd)), Want::Exact(want))
    }

    /// After a full tick: every expired field is gone, and so is every hash left empty.
    fn tick(&mut self) {
        let now = self.now;
        self.keys.retain(|_, v| match v {
            Val::Hash(h) => {
                h.retain(|_, (_, ttl)| !ttl.is_some_and(|at| at < now));
                !h.is_empty()
            }
            Val::Str => true,
        });
    }
}

/// Runs `argv` on both engines; their replies must be identical.
fn run_both(a: &mut Harness, b: &mut Harness, argv: &[Bytes]) -> Result<Reply, TestCaseError> {
    let ra = a.run(argv);
    let rb = b.run(argv);
    prop_assert_eq!(&ra, &rb, "restored engine differs on {:?}", argv);
    Ok(ra)
}

fn scan_all(a: &mut Harness, b: &mut Harness, k: &[u8]) -> Result<Reply, TestCaseError> {
    let mut cursor = b"0".to_vec();
    let mut out = BTreeMap::new();
    loop {
        let cmd = argv(vec![
            w("HSCAN"),
            k.to_vec(),
            cursor.clone(),
            w("COUNT"),
            w("2"),
        ]);
        let reply = run_both(a, b, &cmd)?;
        let Reply::Array(parts) = reply else {
            return Ok(reply);
        };
        let [Reply::Bulk(next), Reply::Array(items)] = &parts[..] else {
            panic!("bad HSCAN reply {parts:?}");
        };
        for pair in items.chunks(2) {
            let (Reply::Bulk(f), Reply::Bulk(v)) = (&pair[0], &pair[1]) else {
                panic!("bad HSCAN item");
            };
            out.insert(f.to_vec(), v.to_vec());
        }
        cursor = next.to_vec();
        if cursor == b"0" {
            return Ok(Reply::Map(
                out.into_iter().map(|(f, v)| (bulk(&f), bulk(&v))).collect(),
            ));
        }
    }
}

fn check_random(reply: &Reply, live: &BTreeSet<Vec<u8>>, n: i64) -> Result<(), TestCaseError> {
    let Reply::Array(items) = reply else {
        return Err(TestCaseError::fail(format!("HRANDFIELD replied {reply:?}")));
    };
    let got: Vec<Vec<u8>> = items
        .iter()
        .map(|r| match r {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("not a field: {other:?}"),
        })
        .collect();
    let expected_len = if live.is_empty() || n == 0 {
        0
    } else if n < 0 {
        n.unsigned_abs() as usize
    } else {
        (n as usize).min(live.len())
    };
    prop_assert_eq!(got.len(), expected_len);
    prop_assert!(
        got.iter().all(|f| live.contains(f)),
        "{:?} not all in {:?}",
        got,
        live
    );
    if n > 0 {
        let distinct: BTreeSet<_> = got.iter().collect();
        prop_assert_eq!(
            distinct.len(),
            got.len(),
            "repeated fields for a positive count"
        );
    }
    Ok(())
}

fn map_of(reply: &Reply) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let Reply::Map(pairs) = reply else {
        return None;
    };
    Some(
        pairs
            .iter()
            .map(|(f, v)| match (f, v) {
                (Reply::Bulk(f), Reply::Bulk(v)) => (f.to_vec(), v.to_vec()),
                _ => panic!("bad map entry"),
            })
            .collect(),
    )
}

fn run(ops: &[Op]) -> Result<Harness, TestCaseError> {
    let mut a = Harness::new();
    let mut b = Harness::new();
    for h in [&mut a, &mut b] {
        h.apply(Body::Init { hash_seed: 99 });
    }
    let mut model = Model {
        keys: BTreeMap::new(),
        now: a.clock_ms,
    };
    for op in ops {
        match op {
            Op::Advance(ms) => {
                a.clock_ms += ms;
                b.clock_ms += ms;
                model.now += ms;
            }
            Op::Tick => {
                let tick = Body::Tick { keys_max: u32::MAX };
                prop_assert_eq!(a.apply(tick.clone()), b.apply(tick));
                model.tick();
                let dbsize = run_both(&mut a, &mut b, &argv(vec![w("DBSIZE")]))?;
                prop_assert_eq!(dbsize, Reply::Int(model.keys.len() as i64));
            }
            Op::Restore => {
                let bytes = b.engine.snapshot();
                let restored = Engine::restore(&bytes, b.engine.databases()).expect("restores");
                prop_assert_eq!(restored.digest(), b.engine.digest());
                b.engine = restored;
            }
            _ => {
                let (cmd, want) = model.step(op);
                match (cmd, want) {
                    (Some(cmd), Want::Exact(want)) => {
                        let got = run_both(&mut a, &mut b, &cmd)?;
                        prop_assert_eq!(got, want, "{:?}", op);
                    }
                    (Some(cmd), Want::Map(want)) => {
                        let got = run_both(&mut a, &mut b, &cmd)?;
                        prop_assert_eq!(map_of(&got), Some(want), "{:?}", op);
                    }
                    (Some(cmd), Want::Random(live, n)) => {
                        let got = run_both(&mut a, &mut b, &cmd)?;
                        check_random(&got, &live, n)?;
                    }
                    (None, Want::Scan(want)) => {
                        let Op::HScan(k) = op else { unreachable!() };
                        let got = scan_all(&mut a, &mut b, &key(*k))?;
                        prop_assert_eq!(map_of(&got), Some(want), "{:?}", op);
                    }
                    (None, Want::Exact(want)) => {
                        let Op::HScan(k) = op else { unreachable!() };
                        let got = scan_all(&mut a, &mut b, &key(*k))?;
                        prop_assert_eq!(got, want);
                    }
                    (cmd, _) => panic!("unexpected {cmd:?}"),
                }
            }
        }
        for h in [&a, &b] {
            h.engine.db(0).assert_field_index();
        }
    }
    prop_assert_eq!(a.engine.digest(), b.engine.digest());
    Ok(a)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn hashes_match_a_model(ops in prop::collection::vec(op(), 1..80)) {
        run(&ops)?;
    }
}

/// A long deterministic run with many fields per key, so hashes become hash tables and grow,
/// shrink and expire in bulk.
#[test]
fn long_run_with_large_hashes() {
    let mut rng = fastrand::Rng::with_seed(4);
    let mut ops = Vec::new();
    for _ in 0..6000 {
        let k = rng.u8(..);
        let op = match rng.u8(0..12) {
            0..=3 => Op::HSet(
                k,
                (0..rng.usize(1..6))
                    .map(|_| (rng.u8(..), rng.i32(0..9).to_string().into_bytes()))
                    .collect(),
            ),
            4 => Op::HDel(k, (0..rng.usize(1..8)).map(|_| rng.u8(..)).collect()),
            5 => Op::HPExpire(
                k,
                rng.u64(0..2000),
                Cond::None,
                (0..rng.usize(1..6)).map(|_| rng.u8(..)).collect(),
            ),
            6 => Op::Advance(rng.u64(0..500)),
            7 => Op::HGetAll(k),
            8 => Op::HScan(k),
            9 => Op::HRandField(k, rng.i64(-5..20)),
            10 => Op::Tick,
            _ => Op::Restore,
        };
        ops.push(op);
    }
    // Fields from the whole u8 range, up to 256 per key; field 6's name converts to a table.
    let mut h = run(&ops).unwrap();
    let tables = (0..3)
        .filter(|&k| h.run(&argv(vec![w("OBJECT"), w("ENCODING"), key(k)])) == bulk(b"hashtable"))
        .count();
    assert!(tables > 0, "no hash became a hash table");
}
