//! Shared helpers: event constructors, a simulated linearizable register
//! cluster that produces histories, and a brute-force reference checker.

#![allow(dead_code)]

use cairn_lincheck::{Event, Op, Outcome, Ret};

pub fn ev(client: u64, key: &str, op: Op, ret: Ret, invoked_ns: u64, returned_ns: u64) -> Event {
    Event {
        client,
        key: key.as_bytes().to_vec(),
        op,
        outcome: Outcome::Ok(ret),
        invoked_ns,
        returned_ns,
    }
}

pub fn set(client: u64, key: &str, v: &str, t0: u64, t1: u64) -> Event {
    ev(
        client,
        key,
        Op::Set(v.as_bytes().to_vec()),
        Ret::Done,
        t0,
        t1,
    )
}

pub fn get(client: u64, key: &str, v: Option<&str>, t0: u64, t1: u64) -> Event {
    let v = v.map(|v| v.as_bytes().to_vec());
    ev(client, key, Op::Get, Ret::Value(v), t0, t1)
}

pub fn incr(client: u64, key: &str, n: i64, t0: u64, t1: u64) -> Event {
    ev(client, key, Op::Incr, Ret::Int(n), t0, t1)
}

pub fn incr_err(client: u64, key: &str, t0: u64, t1: u64) -> Event {
    ev(client, key, Op::Incr, Ret::Error, t0, t1)
}

pub fn del(client: u64, key: &str, n: i64, t0: u64, t1: u64) -> Event {
    ev(client, key, Op::Del, Ret::Int(n), t0, t1)
}

/// An operation with unknown outcome invoked at `t0`.
pub fn unknown(client: u64, key: &str, op: Op, t0: u64) -> Event {
    Event {
        client,
        key: key.as_bytes().to_vec(),
        op,
        outcome: Outcome::Unknown,
        invoked_ns: t0,
        // Deliberately garbage: ignored for unknown outcomes.
        returned_ns: 0,
    }
}

/// Redis' integer rule, written independently of the crate's.
pub fn as_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (format!("{n}") == s).then_some(n)
}

/// Applies `op` to a register; returns the new state and the reply.
pub fn apply(state: &Option<Vec<u8>>, op: &Op) -> (Option<Vec<u8>>, Ret) {
    match op {
        Op::Set(v) => (Some(v.clone()), Ret::Done),
        Op::Get => (state.clone(), Ret::Value(state.clone())),
        Op::Incr => {
            let cur = match state {
                None => Some(0),
                Some(v) => as_int(v),
            };
            match cur.and_then(|n| n.checked_add(1)) {
                Some(n) => (Some(n.to_string().into_bytes()), Ret::Int(n)),
                None => (state.clone(), Ret::Error),
            }
        }
        Op::Del => (None, Ret::Int(i64::from(state.is_some()))),
    }
}

/// Parameters of a simulated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    pub clients: u64,
    pub ops: usize,
    /// Ordinary keys `k0..`, with a SET/GET/INCR/DEL mix.
    pub keys: usize,
    /// Also use a pure counter key `ctr` (INCR and GET only).
    pub counter: bool,
    /// Think time between a client's operations: uniform in `0..=max_gap`.
    pub max_gap: u64,
    /// Operation latency: uniform in `1..=max_latency`.
    pub max_latency: u64,
    /// Percentage of operations whose outcome is unknown.
    pub unknown_pct: u32,
    /// SET values come from a tiny domain (`0`, `1`, `2`, `a`, `b`), so
    /// equal values and INCR/SET interplay are common.
    pub tiny_values: bool,
}

/// One simulated operation before results are known.
struct Pending {
    client: u64,
    key: String,
    op: Op,
    invoked: u64,
    returned: u64,
    /// When it takes effect (`None`: an unknown-outcome op that never did).
    lin: Option<u64>,
    unknown: bool,
}

/// Simulates clients against an atomic (hence linearizable) register store:
/// every operation takes effect at a random instant inside its interval
/// (unknown-outcome ones possibly much later, or never), and records the
/// results it would observe.
pub fn simulate(rng: &mut fastrand::Rng, w: &Workload) -> Vec<Event> {
    let mut clocks = vec![0u64; w.clients as usize];
    let mut seq = 0u64;
    let mut pending = Vec::with_capacity(w.ops);
    for i in 0..w.ops {
        let client = (i as u64) % w.clients;
        let invoked = clocks[client as usize] + rng.u64(0..=w.max_gap);
        let returned = invoked + rng.u64(1..=w.max_latency);
        clocks[client as usize] = returned;
        let counter = w.counter && (w.keys == 0 || rng.u32(0..4) == 0);
        let (key, op) = if counter {
            let op = if rng.bool() { Op::Incr } else { Op::Get };
            ("ctr".to_string(), op)
        } else {
            let key = format!("k{}", rng.usize(0..w.keys));
            let op = match rng.u32(0..100) {
                0..40 => Op::Get,
                40..70 => {
                    seq += 1;
                    if w.tiny_values {
                        let v = ["0", "1", "2", "a", "b"][rng.usize(..5)];
                        Op::Set(v.as_bytes().to_vec())
                    } else if rng.bool() {
                        Op::Set(rng.i64(-3..100).to_string().into_bytes())
                    } else {
                        // Unique, never an integer.
                        Op::Set(format!("c{client}-{seq}").into_bytes())
                    }
                }
                70..90 => Op::Incr,
                _ => Op::Del,
            };
            (key, op)
        };
        let unknown = rng.u32(0..100) < w.unknown_pct;
        let lin = if !unknown {
            Some(rng.u64(invoked..=returned))
        } else if rng.bool() {
            // Took effect, possibly long after the client gave up.
            Some(rng.u64(invoked..=returned + 10 * w.max_latency))
        } else {
            None
        };
        pending.push(Pending {
            client,
            key,
            op,
            invoked,
            returned,
            lin,
            unknown,
        });
    }
    let mut order: Vec<usize> = (0..pending.len())
        .filter(|&i| pending[i].lin.is_some())
        .collect();
    order.sort_by_key(|&i| (pending[i].lin, i));
    let mut results: Vec<Option<Ret>> = vec![None; pending.len()];
    let mut store: std::collections::HashMap<String, Option<Vec<u8>>> = Default::default();
    for i in order {
        let p = &pending[i];
        let state = store.entry(p.key.clone()).or_default();
        let (next, ret) = apply(state, &p.op);
        *state = next;
        results[i] = Some(ret);
    }
    pending
        .into_iter()
        .zip(results)
        .map(|(p, ret)| Event {
            client: p.client,
            key: p.key.into_bytes(),
            op: p.op,
            outcome: match ret {
                Some(r) if !p.unknown => Outcome::Ok(r),
                _ => Outcome::Unknown,
            },
            invoked_ns: p.invoked,
            returned_ns: p.returned,
        })
        .collect()
}

/// Reference checker: tries every order (and every subset of unknown-outcome
/// operations), memoizing failed (set, state) pairs. Only for tiny histories.
pub fn brute_force(history: &[Event]) -> bool {
    let mut keys: Vec<&[u8]> = history.iter().map(|e| e.key.as_slice()).collect();
    keys.sort();
    keys.dedup();
    keys.iter().all(|k| {
        let ops: Vec<&Event> = history.iter().filter(|e| e.key == *k).collect();
        assert!(ops.len() <= 64);
        let mut failed = std::collections::HashSet::new();
        brute_rec(&ops, 0, &None, &mut failed)
    })
}

fn brute_rec(
    ops: &[&Event],
    used: u64,
    state: &Option<Vec<u8>>,
    failed: &mut std::collections::HashSet<(u64, Option<Vec<u8>>)>,
) -> bool {
    let known = |e: &Event| matches!(e.outcome, Outcome::Ok(_));
    let is_used = |i: usize| used & (1 << i) != 0;
    if (0..ops.len()).all(|i| is_used(i) || !known(ops[i])) {
        return true;
    }
    if failed.contains(&(used, state.clone())) {
        return false;
    }
    for i in 0..ops.len() {
        if is_used(i) {
            continue;
        }
        // `i` can go next unless some other remaining known op returned
        // strictly before it was invoked.
        let blocked = (0..ops.len()).any(|j| {
            j != i && !is_used(j) && known(ops[j]) && ops[j].returned_ns < ops[i].invoked_ns
        });
        if blocked {
            continue;
        }
        let (next, ret) = apply(state, &ops[i].op);
        let next = match &ops[i].outcome {
            // Rejected without effect: place it without changing state.
            Outcome::Ok(Ret::Error) if ops[i].op != Op::Incr => Some(state.clone()),
            Outcome::Ok(r) => (*r == ret).then_some(next),
            Outcome::Unknown => Some(next),
        };
        if let Some(next) = next
            && brute_rec(ops, used | (1 << i), &next, failed)
        {
            return true;
        }
    }
    failed.insert((used, state.clone()));
    false
}
