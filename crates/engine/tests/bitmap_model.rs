//! Random sequences of SETBIT/GETBIT/BITCOUNT/BITPOS/BITOP/BITFIELD/GET run against the engine
//! and against a plain model (bits one at a time, bitfield arithmetic in i128); every reply and
//! the final contents must agree.

use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Debug)]
enum FieldOp {
    Get,
    Set(i64),
    Incrby(i64),
}

#[derive(Clone, Debug)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Option<Overflow>,
}

#[derive(Clone, Debug)]
enum Op {
    SetBit(u8, u64, bool),
    GetBit(u8, u64),
    BitCount(u8, Option<(i64, i64, bool)>),
    BitPos(u8, bool, Option<i64>, Option<(i64, bool)>),
    Combine(&'static str, u8, Vec<u8>),
    BitField(u8, Vec<Field>),
    Get(u8),
}

/// Three keys, so operations collide often.
fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 3]
}

fn field() -> impl Strategy<Value = Field> {
    let op = prop_oneof![
        Just(FieldOp::Get),
        prop_oneof![-300i64..300, any::<i64>()].prop_map(FieldOp::Set),
        prop_oneof![-300i64..300, any::<i64>()].prop_map(FieldOp::Incrby),
    ];
    let overflow = prop_oneof![
        Just(None),
        Just(Some(Overflow::Wrap)),
        Just(Some(Overflow::Sat)),
        Just(Some(Overflow::Fail)),
    ];
    (op, any::<bool>(), 1u32..=64, 0u64..120, overflow).prop_map(
        |(op, signed, bits, offset, overflow)| Field {
            op,
            signed,
            // u64 does not exist.
            bits: if signed { bits } else { bits.min(63) },
            offset,
            overflow,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    let index = prop_oneof![-20i64..20, Just(i64::MAX), Just(i64::MIN)];
    let range = (index.clone(), index.clone(), any::<bool>());
    prop_oneof![
        (any::<u8>(), 0u64..100, any::<bool>()).prop_map(|(k, o, b)| Op::SetBit(k, o, b)),
        (any::<u8>(), 0u64..100).prop_map(|(k, o)| Op::GetBit(k, o)),
        (any::<u8>(), prop::option::of(range)).prop_map(|(k, r)| Op::BitCount(k, r)),
        (
            any::<u8>(),
            any::<bool>(),
            prop::option::of(index.clone()),
            prop::option::of((index, any::<bool>()))
        )
            .prop_map(|(k, b, s, e)| Op::BitPos(k, b, s, e)),
        (
            prop::sample::select(vec!["AND", "OR", "XOR", "NOT"]),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 1..4)
        )
            .prop_map(|(name, d, mut src)| {
                if name == "NOT" {
                    src.truncate(1);
                }
                Op::Combine(name, d, src)
            }),
        (any::<u8>(), prop::collection::vec(field(), 0..4)).prop_map(|(k, f)| Op::BitField(k, f)),
        any::<u8>().prop_map(Op::Get),
    ]
}

fn argv(parts: &[String]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::from(p.clone())).collect()
}

fn name(k: u8) -> String {
    String::from_utf8(key(k)).expect("ascii")
}

// ---------------------------------------------------------------------------------------------
// The model: one bit at a time

fn bit(s: &[u8], i: u64) -> bool {
    s.get((i / 8) as usize)
        .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

fn set_bit(s: &mut Vec<u8>, i: u64, on: bool) {
    let byte = (i / 8) as usize;
    if s.len() <= byte {
        s.resize(byte + 1, 0);
    }
    if on {
        s[byte] |= 0x80 >> (i % 8);
    } else {
        s[byte] &= !(0x80 >> (i % 8));
    }
}

/// An inclusive range as documented: negative from the end, clamped; `None` when empty.
fn clamp(len: i128, start: i64, end: i64) -> Option<(i128, i128)> {
    let fix = |i: i64| {
        let i = i128::from(i);
        if i < 0 { (i + len).max(0) } else { i }
    };
    let (start, end) = (fix(start), fix(end).min(len - 1));
    (start <= end).then_some((start, end))
}

/// A byte range as the bit range it covers; a bit range as itself.
fn bit_range(s: &[u8], start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let len = s.len() as i128 * if in_bits { 8 } else { 1 };
    let (start, end) = clamp(len, start, end)?;
    if in_bits {
        Some((start as u64, end as u64))
    } else {
        Some((start as u64 * 8, end as u64 * 8 + 7))
    }
}

fn model_bitcount(s: &[u8], range: Option<(i64, i64, bool)>) -> i64 {
    let (start, end) = match range {
        None => (0, (s.len() as u64 * 8).wrapping_sub(1)),
        // Documented: a reversed range of negative indexes is empty.
        Some((start, end, _)) if start < 0 && end < 0 && start > end => return 0,
        Some((start, end, in_bits)) => match bit_range(s, start, end, in_bits) {
            Some(r) => r,
            None => return 0,
        },
    };
    if s.is_empty() {
        return 0;
    }
    (start..=end).filter(|&i| bit(s, i)).count() as i64
}

fn model_bitpos(s: Option<&[u8]>, b: bool, start: Option<i64>, end: Option<(i64, bool)>) -> i64 {
    let Some(s) = s else {
        return if b { -1 } else { 0 };
    };
    let total = s.len() as u64 * 8;
    let (from, to) = match (start, end) {
        (None, _) => (0, total),
        (Some(start), None) => match bit_range(s, start, -1, false) {
            Some((from, _)) => (from, total),
            None => return -1,
        },
        (Some(start), Some((end, in_bits))) => match bit_range(s, start, end, in_bits) {
            Some((from, to)) => (from, to + 1),
            None => return -1,
        },
    };
    if let Some(i) = (from..to).find(|&i| bit(s, i) == b) {
        return i as i64;
    }
    // Without an end the string continues with zeros.
    if !b && end.is_none() {
        return to as i64;
    }
    -1
}

fn model_bitop(op: &str, sources: &[Vec<u8>]) -> Vec<u8> {
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let byte = |s: &Vec<u8>| s.get(i).copied().unwrap_or(0);
            let mut out = byte(&sources[0]);
            for s in &sources[1..] {
                match op {
                    "AND" => out &= byte(s),
                    "OR" => out |= byte(s),
                    _ => out ^= byte(s),
                }
            }
            if op == "NOT" { !out } else { out }
        })
        .collect()
}

fn get_field(s: &[u8], f: &Field) -> i128 {
    let mut v: u64 = 0;
    for j in 0..u64::from(f.bits) {
        v = (v << 1) | u64::from(bit(s, f.offset + j));
    }
    let v = i128::from(v);
    if f.signed && v >> (f.bits - 1) == 1 {
        v - (1i128 << f.bits)
    } else {
        v
    }
}

fn set_field(s: &mut Vec<u8>, f: &Field, value: i128) {
    let raw = value.rem_euclid(1i128 << f.bits);
    for j in 0..u64::from(f.bits) {
        set_bit(
            s,
            f.offset + j,
            (raw >> (u64::from(f.bits) - 1 - j)) & 1 == 1,
        );
    }
}

/// Fits `value` in the field's range under `rule`; `None` when FAIL refuses it.
fn fit(f: &Field, value: i128, rule: Overflow) -> Option<i128> {
    let (min, max) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    if (min..=max).contains(&value) {
        return Some(value);
    }
    match rule {
        Overflow::Fail => None,
        Overflow::Sat => Some(value.clamp(min, max)),
        Overflow::Wrap => Some((value - min).rem_euclid(max - min + 1) + min),
    }
}

fn model_bitfield(model: &mut Model, k: &[u8], fields: &[Field]) -> Reply {
    let writes = fields.iter().filter(|f| !matches!(f.op, FieldOp::Get));
    if let Some(last) = writes.map(|f| f.offset + u64::from(f.bits) - 1).max() {
        let s = model.entry(k.to_vec()).or_default();
        if s.len() <= (last / 8) as usize {
            s.resize((last / 8) as usize + 1, 0);
        }
    }
    let mut rule = Overflow::Wrap;
    let mut replies = Vec::new();
    for f in fields {
        rule = f.overflow.unwrap_or(rule);
        let s = model.get(k).cloned().unwrap_or_default();
        let old = get_field(&s, f);
        let (wanted, answer_new) = match f.op {
            FieldOp::Get => {
                replies.push(Reply::Int(old as i64));
                continue;
            }
            // An unsigned field reads a SET value as a u64.
            FieldOp::Set(v) if !f.signed => (i128::from(v as u64), false),
            FieldOp::Set(v) => (i128::from(v), false),
            FieldOp::Incrby(incr) => (old + i128::from(incr), true),
        };
        // Redis's overflow check computes `max - value` in 64 bits: for a SET far below a
        // signed field's minimum that difference wraps, and the value is taken as too large
        // (SAT stores the maximum; redis-server 7.0.15 does this).
        let max = (1i128 << (f.bits - 1)) - 1;
        let wanted = match f.op {
            FieldOp::Set(_) if f.signed && f.bits < 64 && max - wanted > i128::from(i64::MAX) => {
                if rule == Overflow::Sat {
                    max + 1
                } else {
                    wanted
                }
            }
            _ => wanted,
        };
        match fit(f, wanted, rule) {
            None => replies.push(Reply::Nil),
            Some(new) => {
                set_field(model.get_mut(k).expect("created"), f, new);
                replies.push(Reply::Int(if answer_new { new } else { old } as i64));
            }
        }
    }
    Reply::Array(replies)
}

fn field_args(fields: &[Field]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        if let Some(rule) = f.overflow {
            out.push("OVERFLOW".into());
            out.push(format!("{rule:?}").to_uppercase());
        }
        let ty = format!("{}{}", if f.signed { 'i' } else { 'u' }, f.bits);
        let (word, value) = match f.op {
            FieldOp::Get => ("GET", None),
            FieldOp::Set(v) => ("SET", Some(v)),
            FieldOp::Incrby(v) => ("INCRBY", Some(v)),
        };
        out.extend([word.to_string(), ty, f.offset.to_string()]);
        out.extend(value.map(|v| v.to_string()));
    }
    out
}

/// Applies `op` to the model and returns the command and what the engine must answer.
fn model_step(model: &mut Model, op: &Op) -> (Vec<Bytes>, Reply) {
    let s = |model: &Model, k: u8| model.get(&key(k)).cloned();
    match op {
        Op::SetBit(k, offset, on) => {
            let v = model.entry(key(*k)).or_default();
            let old = bit(v, *offset);
            set_bit(v, *offset, *on);
            let cmd = [
                "SETBIT".into(),
                name(*k),
                offset.to_string(),
                u8::from(*on).to_string(),
            ];
            (argv(&cmd), Reply::Int(i64::from(old)))
        }
        Op::GetBit(k, offset) => {
            let got = s(model, *k).is_some_and(|v| bit(&v, *offset));
            let cmd = ["GETBIT".into(), name(*k), offset.to_string()];
            (argv(&cmd), Reply::Int(i64::from(got)))
        }
        Op::BitCount(k, range) => {
            let mut cmd = vec!["BITCOUNT".into(), name(*k)];
            if let Some((start, end, in_bits)) = range {
                cmd.extend([start.to_string(), end.to_string()]);
                cmd.push(if *in_bits { "BIT" } else { "BYTE" }.into());
            }
            let count = s(model, *k).map_or(0, |v| model_bitcount(&v, *range));
            (argv(&cmd), Reply::Int(count))
        }
        Op::BitPos(k, b, start, end) => {
            let mut cmd = vec!["BITPOS".into(), name(*k), u8::from(*b).to_string()];
            // An end needs a start.
            let end = if start.is_some() { *end } else { None };
            cmd.extend(start.map(|s| s.to_string()));
            if let Some((end, in_bits)) = end {
                cmd.push(end.to_string());
                cmd.push(if in_bits { "BIT" } else { "BYTE" }.into());
            }
            let pos = model_bitpos(s(model, *k).as_deref(), *b, *start, end);
            (argv(&cmd), Reply::Int(pos))
        }
        Op::Combine(name_, dest, sources) => {
            let mut cmd = vec!["BITOP".to_string(), name_.to_string(), name(*dest)];
            cmd.extend(sources.iter().map(|k| name(*k)));
            let values: Vec<Vec<u8>> = sources
                .iter()
                .map(|k| s(model, *k).unwrap_or_default())
                .collect();
            let result = model_bitop(name_, &values);
            let len = result.len() as i64;
            if result.is_empty() {
                model.remove(&key(*dest));
            } else {
                model.insert(key(*dest), result);
            }
            (argv(&cmd), Reply::Int(len))
        }
        Op::BitField(k, fields) => {
            let mut cmd = vec!["BITFIELD".into(), name(*k)];
            cmd.extend(field_args(fields));
            (argv(&cmd), model_bitfield(model, &key(*k), fields))
        }
        Op::Get(k) => {
            let reply = s(model, *k).map_or(Reply::Nil, |v| Reply::Bulk(Bytes::from(v)));
            (argv(&["GET".into(), name(*k)]), reply)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bitmaps_match_a_bitwise_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut harness = Harness::new();
        let mut model = Model::new();
        for op in &ops {
            let (cmd, want) = model_step(&mut model, op);
            prop_assert_eq!(harness.run(&cmd), want, "{:?}", op);
        }
        for k in 0..3 {
            let got = harness.run(&argv(&["GET".into(), name(k)]));
            let want = model.get(&key(k)).map_or(Reply::Nil, |v| Reply::Bulk(Bytes::from(v.clone())));
            prop_assert_eq!(got, want);
        }
    }
}
