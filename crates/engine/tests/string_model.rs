//! Random sequences of SET/APPEND/SETRANGE/GETRANGE/INCRBY/STRLEN/GET run against the engine
//! and against a plain `BTreeMap` model; every reply and the final contents must agree.

use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Set(u8, Vec<u8>),
    Append(u8, Vec<u8>),
    SetRange(u8, u64, Vec<u8>),
    GetRange(u8, i64, i64),
    IncrBy(u8, i64),
    Strlen(u8),
    Get(u8),
}

/// Three keys, so operations collide often.
fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 3]
}

/// Values that are often integers (so INCRBY succeeds) and sometimes arbitrary bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-1000i64..1000).prop_map(|n| n.to_string().into_bytes()),
        prop::collection::vec(prop::sample::select(b"0159-x\x00\xff ".to_vec()), 0..6),
        Just(i64::MAX.to_string().into_bytes()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let delta = prop_oneof![-50i64..50, Just(i64::MAX), Just(i64::MIN), any::<i64>()];
    prop_oneof![
        (any::<u8>(), value()).prop_map(|(k, v)| Op::Set(k, v)),
        (any::<u8>(), value()).prop_map(|(k, v)| Op::Append(k, v)),
        (any::<u8>(), 0u64..24, value()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        (any::<u8>(), -30i64..30, -30i64..30).prop_map(|(k, s, e)| Op::GetRange(k, s, e)),
        (any::<u8>(), delta).prop_map(|(k, d)| Op::IncrBy(k, d)),
        any::<u8>().prop_map(Op::Strlen),
        any::<u8>().prop_map(Op::Get),
    ]
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

/// GETRANGE as documented: inclusive, negative from the end, clamped to the string.
fn model_range(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i128;
    let (start, end) = (i128::from(start), i128::from(end));
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (end + len).max(0)
    } else {
        end.min(len - 1)
    };
    if len == 0 || start > end {
        &[]
    } else {
        &s[start as usize..=end as usize]
    }
}

/// An integer in canonical form only (what Redis's string2ll accepts).
fn model_int(s: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (n.to_string().as_bytes() == s).then_some(n)
}

/// Applies `op` to the model and returns what the engine must answer, and the command.
fn model_step(model: &mut BTreeMap<Vec<u8>, Vec<u8>>, op: &Op) -> (Vec<Bytes>, Reply) {
    match op {
        Op::Set(k, v) => {
            model.insert(key(*k), v.clone());
            (argv(&[b"SET", &key(*k), v]), Reply::ok())
        }
        Op::Append(k, v) => {
            let s = model.entry(key(*k)).or_default();
            s.extend_from_slice(v);
            (argv(&[b"APPEND", &key(*k), v]), Reply::Int(s.len() as i64))
        }
        Op::SetRange(k, offset, v) => {
            let cmd = argv(&[b"SETRANGE", &key(*k), offset.to_string().as_bytes(), v]);
            let len = if v.is_empty() {
                model.get(&key(*k)).map_or(0, Vec::len)
            } else {
                let s = model.entry(key(*k)).or_default();
                let (start, end) = (*offset as usize, *offset as usize + v.len());
                if s.len() < end {
                    s.resize(end, 0);
                }
                s[start..end].copy_from_slice(v);
                s.len()
            };
            (cmd, Reply::Int(len as i64))
        }
        Op::GetRange(k, start, end) => {
            let cmd = argv(&[
                b"GETRANGE",
                &key(*k),
                start.to_string().as_bytes(),
                end.to_string().as_bytes(),
            ]);
            let s = model.get(&key(*k)).map_or(&[][..], Vec::as_slice);
            (cmd, bulk(model_range(s, *start, *end)))
        }
        Op::IncrBy(k, delta) => {
            let cmd = argv(&[b"INCRBY", &key(*k), delta.to_string().as_bytes()]);
            let current = match model.get(&key(*k)) {
                None => Some(0),
                Some(s) => model_int(s),
            };
            let reply = match current.map(|c| c.checked_add(*delta)) {
                None => Reply::error_static("ERR value is not an integer or out of range"),
                Some(None) => Reply::error_static("ERR increment or decrement would overflow"),
                Some(Some(n)) => {
                    model.insert(key(*k), n.to_string().into_bytes());
                    Reply::Int(n)
                }
            };
            (cmd, reply)
        }
        Op::Strlen(k) => {
            let len = model.get(&key(*k)).map_or(0, Vec::len);
            (argv(&[b"STRLEN", &key(*k)]), Reply::Int(len as i64))
        }
        Op::Get(k) => {
            let reply = model.get(&key(*k)).map_or(Reply::Nil, |s| bulk(s));
            (argv(&[b"GET", &key(*k)]), reply)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn strings_match_a_btreemap(ops in prop::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        let mut model = BTreeMap::new();
        for op in &ops {
            let (cmd, want) = model_step(&mut model, op);
            prop_assert_eq!(harness.run(&cmd), want, "{:?}", op);
        }
        for k in 0..3 {
            let got = harness.run(&argv(&[b"GET", &key(k)]));
            prop_assert_eq!(got, model.get(&key(k)).map_or(Reply::Nil, |s| bulk(s)));
        }
    }
}
