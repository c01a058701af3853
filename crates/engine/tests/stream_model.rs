//! Random sequences of stream commands run against the engine and against a plain model (a
//! `BTreeMap` of entries per key, with groups and their pending entries); every reply must
//! agree, and a snapshot taken at the end restores to an engine that answers the next
//! commands identically (groups, PELs and last IDs included).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use cairn_engine::Engine;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

type Id = (u64, u64);

#[derive(Clone, Debug, Default)]
struct Group {
    last: Id,
    /// id -> (consumer, delivery count)
    pel: BTreeMap<Id, (u8, u64)>,
    consumers: BTreeSet<u8>,
}

/// An entry's field-value pairs.
type Fields = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Clone, Debug, Default)]
struct Stream {
    entries: BTreeMap<Id, Fields>,
    last: Id,
    groups: BTreeMap<u8, Group>,
}

type Model = BTreeMap<u8, Stream>;

#[derive(Clone, Debug)]
enum Op {
    Add {
        key: u8,
        id: Id,
        fields: Vec<(u8, u16)>,
    },
    /// `n` entries after the last ID, in the same millisecond (spanning several nodes).
    Fill {
        key: u8,
        n: u16,
    },
    Del {
        key: u8,
        ids: Vec<Id>,
    },
    Range {
        key: u8,
        start: Id,
        end: Id,
        count: u8,
        rev: bool,
    },
    Len {
        key: u8,
    },
    TrimLen {
        key: u8,
        maxlen: u8,
    },
    TrimId {
        key: u8,
        min: Id,
    },
    Create {
        key: u8,
        group: u8,
    },
    ReadGroup {
        key: u8,
        group: u8,
        consumer: u8,
        count: u8,
    },
    Ack {
        key: u8,
        group: u8,
        ids: Vec<Id>,
    },
    Pending {
        key: u8,
        group: u8,
    },
}

fn id() -> impl Strategy<Value = Id> {
    (0..40u64, prop_oneof![3 => 0..3u64, 1 => 0..400u64])
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..2u8;
    prop_oneof![
        4 => (key.clone(), id(), prop::collection::vec((0..3u8, any::<u16>()), 1..4))
            .prop_map(|(key, id, fields)| Op::Add { key, id, fields }),
        1 => (key.clone(), 50..250u16).prop_map(|(key, n)| Op::Fill { key, n }),
        1 => (key.clone(), prop::collection::vec(id(), 1..3)).prop_map(|(key, ids)| Op::Del { key, ids }),
        2 => (key.clone(), id(), id(), 0..5u8, any::<bool>())
            .prop_map(|(key, start, end, count, rev)| Op::Range { key, start, end, count, rev }),
        1 => key.clone().prop_map(|key| Op::Len { key }),
        1 => (key.clone(), 0..10u8).prop_map(|(key, maxlen)| Op::TrimLen { key, maxlen }),
        1 => (key.clone(), id()).prop_map(|(key, min)| Op::TrimId { key, min }),
        1 => (key.clone(), 0..2u8).prop_map(|(key, group)| Op::Create { key, group }),
        2 => (key.clone(), 0..2u8, 0..3u8, 0..4u8)
            .prop_map(|(key, group, consumer, count)| Op::ReadGroup { key, group, consumer, count }),
        1 => (key.clone(), 0..2u8, prop::collection::vec(id(), 1..3))
            .prop_map(|(key, group, ids)| Op::Ack { key, group, ids }),
        1 => (key, 0..2u8).prop_map(|(key, group)| Op::Pending { key, group }),
    ]
}

fn key_name(k: u8) -> String {
    format!("s{k}")
}

fn id_text((ms, seq): Id) -> String {
    format!("{ms}-{seq}")
}

fn bulk(text: &str) -> Reply {
    Reply::bulk_copy(text.as_bytes())
}

/// Runs a model command; `EVAL_FILL key id...` stands for one XADD per ID.
fn run(h: &mut Harness, cmd: &[String]) -> Reply {
    if cmd[0] != "EVAL_FILL" {
        return h.run(&argv(cmd));
    }
    let mut n = 0;
    for id in &cmd[2..] {
        let add = [
            String::from("XADD"),
            cmd[1].clone(),
            id.clone(),
            "f".into(),
            "v".into(),
        ];
        if matches!(h.run(&argv(&add)), Reply::Bulk(_)) {
            n += 1;
        }
    }
    Reply::Int(n)
}

fn argv(words: &[String]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

fn entry_reply(id: Id, fields: &[(Vec<u8>, Vec<u8>)]) -> Reply {
    let flat = fields
        .iter()
        .flat_map(|(f, v)| [Reply::bulk_copy(f), Reply::bulk_copy(v)])
        .collect();
    Reply::Array(vec![bulk(&id_text(id)), Reply::Array(flat)])
}

fn nogroup(key: &str, group: &str, suffix: &str) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{key}' or consumer group '{group}'{suffix}"
    ))
}

fn step(model: &mut Model, op: &Op) -> (Vec<String>, Reply) {
    let w = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    match op {
        Op::Add { key, id, fields } => {
            let mut cmd = w(&["XADD", &key_name(*key), &id_text(*id)]);
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = fields
                .iter()
                .map(|(f, v)| (format!("f{f}").into_bytes(), v.to_string().into_bytes()))
                .collect();
            for (f, v) in &pairs {
                cmd.push(String::from_utf8(f.clone()).unwrap());
                cmd.push(String::from_utf8(v.clone()).unwrap());
            }
            if *id == (0, 0) {
                let e = "ERR The ID specified in XADD must be greater than 0-0";
                return (cmd, Reply::error(e));
            }
            let s = model.entry(*key).or_default();
            if *id <= s.last {
                let e = "ERR The ID specified in XADD is equal or smaller than the target stream top item";
                return (cmd, Reply::error(e));
            }
            s.entries.insert(*id, pairs);
            s.last = *id;
            (cmd, bulk(&id_text(*id)))
        }
        Op::Fill { key, n } => {
            let s = model.entry(*key).or_default();
            let (ms, seq) = s.last;
            let ids: Vec<Id> = (1..=u64::from(*n)).map(|i| (ms.max(1), seq + i)).collect();
            let mut cmd = w(&["EVAL_FILL", &key_name(*key)]);
            for i in &ids {
                cmd.push(id_text(*i));
                s.entries.insert(*i, vec![(b"f".to_vec(), b"v".to_vec())]);
            }
            s.last = *ids.last().unwrap();
            (cmd, Reply::Int(ids.len() as i64))
        }
        Op::Del { key, ids } => {
            let mut cmd = w(&["XDEL", &key_name(*key)]);
            cmd.extend(ids.iter().map(|i| id_text(*i)));
            let n = model.get_mut(key).map_or(0, |s| {
                ids.iter().filter(|i| s.entries.remove(i).is_some()).count()
            });
            (cmd, Reply::Int(n as i64))
        }
        Op::Range {
            key,
            start,
            end,
            count,
            rev,
        } => {
            let name = if *rev { "XREVRANGE" } else { "XRANGE" };
            let (a, b) = if *rev { (*end, *start) } else { (*start, *end) };
            let cmd = w(&[
                name,
                &key_name(*key),
                &id_text(a),
                &id_text(b),
                "COUNT",
                &count.to_string(),
            ]);
            let Some(s) = model.get(key) else {
                return (cmd, Reply::Array(Vec::new()));
            };
            if *count == 0 {
                return (cmd, Reply::NilArray);
            }
            let items: Vec<Reply> = if start > end {
                Vec::new()
            } else if *rev {
                s.entries
                    .range(*start..=*end)
                    .rev()
                    .take(*count as usize)
                    .map(|(i, f)| entry_reply(*i, f))
                    .collect()
            } else {
                s.entries
                    .range(*start..=*end)
                    .take(*count as usize)
                    .map(|(i, f)| entry_reply(*i, f))
                    .collect()
            };
            (cmd, Reply::Array(items))
        }
        Op::Len { key } => {
            let n = model.get(key).map_or(0, |s| s.entries.len());
            (w(&["XLEN", &key_name(*key)]), Reply::Int(n as i64))
        }
        Op::TrimLen { key, maxlen } => {
            let cmd = w(&["XTRIM", &key_name(*key), "MAXLEN", &maxlen.to_string()]);
            let Some(s) = model.get_mut(key) else {
                return (cmd, Reply::Int(0));
            };
            let mut n = 0;
            while s.entries.len() > *maxlen as usize {
                s.entries.pop_first();
                n += 1;
            }
            (cmd, Reply::Int(n))
        }
        Op::TrimId { key, min } => {
            let cmd = w(&["XTRIM", &key_name(*key), "MINID", &id_text(*min)]);
            let Some(s) = model.get_mut(key) else {
                return (cmd, Reply::Int(0));
            };
            let before = s.entries.len();
            s.entries.retain(|i, _| i >= min);
            (cmd, Reply::Int((before - s.entries.len()) as i64))
        }
        Op::Create { key, group } => {
            let cmd = w(&[
                "XGROUP",
                "CREATE",
                &key_name(*key),
                &format!("g{group}"),
                "0",
                "MKSTREAM",
            ]);
            let s = model.entry(*key).or_default();
            if s.groups.contains_key(group) {
                return (
                    cmd,
                    Reply::error("BUSYGROUP Consumer Group name already exists"),
                );
            }
            s.groups.insert(*group, Group::default());
            (cmd, Reply::ok())
        }
        Op::ReadGroup {
            key,
            group,
            consumer,
            count,
        } => {
            let (k, g) = (key_name(*key), format!("g{group}"));
            let cmd = w(&[
                "XREADGROUP",
                "GROUP",
                &g,
                &format!("c{consumer}"),
                "COUNT",
                &count.to_string(),
                "STREAMS",
                &k,
                ">",
            ]);
            let Some(s) = model.get_mut(key).filter(|s| s.groups.contains_key(group)) else {
                return (cmd, nogroup(&k, &g, " in XREADGROUP with GROUP option"));
            };
            let grp = s.groups.get_mut(group).unwrap();
            let new: Vec<Id> = s
                .entries
                .range((
                    std::ops::Bound::Excluded(grp.last),
                    std::ops::Bound::Unbounded,
                ))
                .map(|(i, _)| *i)
                .take(if *count == 0 {
                    usize::MAX
                } else {
                    *count as usize
                })
                .collect();
            if new.is_empty() {
                return (cmd, Reply::NilArray);
            }
            grp.consumers.insert(*consumer);
            let mut items = Vec::new();
            for i in new {
                grp.last = i;
                grp.pel.insert(i, (*consumer, 1));
                items.push(entry_reply(i, &s.entries[&i]));
            }
            (
                cmd,
                Reply::MapOfPairs(vec![(bulk(&k), Reply::Array(items))]),
            )
        }
        Op::Ack { key, group, ids } => {
            let mut cmd = w(&["XACK", &key_name(*key), &format!("g{group}")]);
            cmd.extend(ids.iter().map(|i| id_text(*i)));
            let n = model
                .get_mut(key)
                .and_then(|s| s.groups.get_mut(group))
                .map_or(0, |g| {
                    ids.iter().filter(|i| g.pel.remove(i).is_some()).count()
                });
            (cmd, Reply::Int(n as i64))
        }
        Op::Pending { key, group } => {
            let (k, g) = (key_name(*key), format!("g{group}"));
            let cmd = w(&["XPENDING", &k, &g]);
            let Some(grp) = model.get(key).and_then(|s| s.groups.get(group)) else {
                return (cmd, nogroup(&k, &g, ""));
            };
            if grp.pel.is_empty() {
                return (
                    cmd,
                    Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]),
                );
            }
            let mut per: BTreeMap<u8, usize> = BTreeMap::new();
            for (c, _) in grp.pel.values() {
                *per.entry(*c).or_default() += 1;
            }
            let consumers = per
                .iter()
                .map(|(c, n)| Reply::Array(vec![bulk(&format!("c{c}")), bulk(&n.to_string())]))
                .collect();
            let reply = Reply::Array(vec![
                Reply::Int(grp.pel.len() as i64),
                bulk(&id_text(*grp.pel.keys().next().unwrap())),
                bulk(&id_text(*grp.pel.keys().next_back().unwrap())),
                Reply::Array(consumers),
            ]);
            (cmd, reply)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn streams_match_a_btreemap_model(ops in prop::collection::vec(op(), 1..150)) {
        let mut h = Harness::new();
        let mut model = Model::new();
        for op in &ops {
            let (cmd, expected) = step(&mut model, op);
            prop_assert_eq!(run(&mut h, &cmd), expected, "{:?}", cmd);
        }

        // A restored engine holds the same streams and groups and answers the next commands
        // the same way.
        let restored = Engine::restore(&h.engine.snapshot(), 16).expect("restore");
        prop_assert_eq!(restored.digest(), h.engine.digest());
        let mut twin = Harness::new();
        twin.engine = restored;
        for op in ops.iter().rev().take(30) {
            let (cmd, expected) = step(&mut model, op);
            prop_assert_eq!(run(&mut h, &cmd), expected.clone(), "{:?}", cmd);
            prop_assert_eq!(run(&mut twin, &cmd), expected, "restored: {:?}", cmd);
        }
        prop_assert_eq!(twin.engine.digest(), h.engine.digest());
    }
}
