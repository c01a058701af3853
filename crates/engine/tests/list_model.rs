//! Random sequences of list commands run against the engine and against a plain model (a
//! `VecDeque` per key); every reply and the final contents must agree, and a snapshot taken at
//! the end restores to an engine that answers the next commands identically.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use cairn_engine::Engine;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;
use proptest::prelude::*;

type Model = BTreeMap<Vec<u8>, VecDeque<Vec<u8>>>;

#[derive(Clone, Debug)]
enum Op {
    Push {
        key: u8,
        head: bool,
        only_existing: bool,
        elems: Vec<Vec<u8>>,
    },
    Pop {
        key: u8,
        head: bool,
        count: Option<usize>,
    },
    Range {
        key: u8,
        start: i64,
        end: i64,
    },
    Index {
        key: u8,
        index: i64,
    },
    Set {
        key: u8,
        index: i64,
        elem: Vec<u8>,
    },
    Insert {
        key: u8,
        after: bool,
        pivot: Vec<u8>,
        elem: Vec<u8>,
    },
    Rem {
        key: u8,
        count: i64,
        elem: Vec<u8>,
    },
    Trim {
        key: u8,
        start: i64,
        end: i64,
    },
    Pos {
        key: u8,
        elem: Vec<u8>,
        rank: i64,
        count: Option<i64>,
        maxlen: i64,
    },
    Move {
        src: u8,
        dst: u8,
        from_head: bool,
        to_head: bool,
    },
    Len {
        key: u8,
    },
}

/// Three keys, so moves and pops collide often.
fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k % 3]
}

/// Elements: small integers (stored packed), a few repeating words (so searches match), and
/// now and then a long string (so chunks fill and split).
fn elem() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => (-3i64..300).prop_map(|n| n.to_string().into_bytes()),
        4 => prop::sample::select(vec!["x", "y", "z", "", "01", "-0", "+1", "1.5"])
            .prop_map(|s| s.as_bytes().to_vec()),
        1 => (0usize..3000, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        1 => Just(i64::MIN.to_string().into_bytes()),
    ]
}

fn index() -> impl Strategy<Value = i64> {
    prop_oneof![8 => -12i64..12, 1 => Just(i64::MIN), 1 => Just(i64::MAX)]
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..3;
    prop_oneof![
        6 => (k.clone(), any::<bool>(), prop::bool::weighted(0.1), prop::collection::vec(elem(), 1..20))
            .prop_map(|(key, head, only_existing, elems)| Op::Push { key, head, only_existing, elems }),
        3 => (k.clone(), any::<bool>(), prop::option::of(0usize..12))
            .prop_map(|(key, head, count)| Op::Pop { key, head, count }),
        2 => (k.clone(), index(), index()).prop_map(|(key, start, end)| Op::Range { key, start, end }),
        1 => (k.clone(), index()).prop_map(|(key, index)| Op::Index { key, index }),
        1 => (k.clone(), index(), elem()).prop_map(|(key, index, elem)| Op::Set { key, index, elem }),
        1 => (k.clone(), any::<bool>(), elem(), elem())
            .prop_map(|(key, after, pivot, elem)| Op::Insert { key, after, pivot, elem }),
        1 => (k.clone(), prop_oneof![-3i64..4, Just(i64::MIN)], elem())
            .prop_map(|(key, count, elem)| Op::Rem { key, count, elem }),
        1 => (k.clone(), index(), index()).prop_map(|(key, start, end)| Op::Trim { key, start, end }),
        1 => (k.clone(), elem(), prop_oneof![1i64..4, -3i64..0], prop::option::of(0i64..3), 0i64..6)
            .prop_map(|(key, elem, rank, count, maxlen)| Op::Pos { key, elem, rank, count, maxlen }),
        2 => (k.clone(), k.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(src, dst, from_head, to_head)| Op::Move { src, dst, from_head, to_head }),
        1 => k.prop_map(|key| Op::Len { key }),
    ]
}

fn argv(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

fn num(n: i64) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn bulks<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> Reply {
    Reply::Array(items.map(|v| bulk(v)).collect())
}

/// LRANGE's and LTRIM's clamping, in i128 so nothing overflows.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i128;
    let (mut start, mut end) = (i128::from(start), i128::from(end));
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.min(len - 1);
    (start <= end && start < len).then(|| (start as usize, (end - start + 1) as usize))
}

fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        i128::from(index) + len as i128
    } else {
        i128::from(index)
    };
    (0..len as i128).contains(&i).then_some(i as usize)
}

/// Applies `op` to the model and returns the command and what the engine must answer.
fn model_step(model: &mut Model, op: &Op) -> (Vec<Bytes>, Reply) {
    let (cmd, reply) = match op {
        Op::Push {
            key: k,
            head,
            only_existing,
            elems,
        } => {
            let name: &[u8] = match (head, only_existing) {
                (true, false) => b"LPUSH",
                (false, false) => b"RPUSH",
                (true, true) => b"LPUSHX",
                (false, true) => b"RPUSHX",
            };
            let key = key(*k);
            let mut parts: Vec<&[u8]> = vec![name, &key];
            parts.extend(elems.iter().map(Vec::as_slice));
            let cmd = argv(&parts);
            if *only_existing && !model.contains_key(&key) {
                return (cmd, Reply::Int(0));
            }
            let list = model.entry(key).or_default();
            for e in elems {
                if *head {
                    list.push_front(e.clone());
                } else {
                    list.push_back(e.clone());
                }
            }
            (cmd, Reply::Int(list.len() as i64))
        }
        Op::Pop {
            key: k,
            head,
            count,
        } => {
            let name: &[u8] = if *head { b"LPOP" } else { b"RPOP" };
            let key = key(*k);
            let cmd = match count {
                Some(n) => argv(&[name, &key, &num(*n as i64)]),
                None => argv(&[name, &key]),
            };
            let reply = match (model.get_mut(&key), count) {
                (None, Some(_)) => Reply::NilArray,
                (None, None) => Reply::Nil,
                (Some(list), None) => {
                    let v = if *head {
                        list.pop_front()
                    } else {
                        list.pop_back()
                    };
                    bulk(&v.unwrap())
                }
                (Some(list), Some(n)) => {
                    let n = (*n).min(list.len());
                    let items: Vec<Vec<u8>> = if *head {
                        list.drain(..n).collect()
                    } else {
                        let at = list.len() - n;
                        list.drain(at..).rev().collect()
                    };
                    bulks(items.iter())
                }
            };
            (cmd, reply)
        }
        Op::Range { key: k, start, end } => {
            let key = key(*k);
            let cmd = argv(&[b"LRANGE", &key, &num(*start), &num(*end)]);
            let list = model.get(&key).cloned().unwrap_or_default();
            let reply = match clamp(*start, *end, list.len()) {
                Some((first, n)) => bulks(list.iter().skip(first).take(n)),
                None => Reply::Array(Vec::new()),
            };
            (cmd, reply)
        }
        Op::Index { key: k, index } => {
            let key = key(*k);
            let cmd = argv(&[b"LINDEX", &key, &num(*index)]);
            let reply = model
                .get(&key)
                .and_then(|l| position(*index, l.len()).map(|i| bulk(&l[i])))
                .unwrap_or(Reply::Nil);
            (cmd, reply)
        }
        Op::Set {
            key: k,
            index,
            elem,
        } => {
            let key = key(*k);
            let cmd = argv(&[b"LSET", &key, &num(*index), elem]);
            let reply = match model.get_mut(&key) {
                None => Reply::error_static("ERR no such key"),
                Some(list) => match position(*index, list.len()) {
                    Some(i) => {
                        list[i] = elem.clone();
                        Reply::ok()
                    }
                    None => Reply::error_static("ERR index out of range"),
                },
            };
            (cmd, reply)
        }
        Op::Insert {
            key: k,
            after,
            pivot,
            elem,
        } => {
            let key = key(*k);
            let word: &[u8] = if *after { b"AFTER" } else { b"BEFORE" };
            let cmd = argv(&[b"LINSERT", &key, word, pivot, elem]);
            let reply = match model.get_mut(&key) {
                None => Reply::Int(0),
                Some(list) => match list.iter().position(|v| v == pivot) {
                    Some(i) => {
                        list.insert(if *after { i + 1 } else { i }, elem.clone());
                        Reply::Int(list.len() as i64)
                    }
                    None => Reply::Int(-1),
                },
            };
            (cmd, reply)
        }
        Op::Rem {
            key: k,
            count,
            elem,
        } => {
            let key = key(*k);
            let cmd = argv(&[b"LREM", &key, &num(*count), elem]);
            let Some(list) = model.get_mut(&key) else {
                return (cmd, Reply::Int(0));
            };
            let mut left = if *count == 0 {
                u64::MAX
            } else {
                count.unsigned_abs()
            };
            let mut kept = VecDeque::new();
            let mut removed = 0;
            let from_tail = *count < 0;
            let order: Vec<Vec<u8>> = if from_tail {
                list.iter().rev().cloned().collect()
            } else {
                list.iter().cloned().collect()
            };
            for v in order {
                if v == *elem && left > 0 {
                    left -= 1;
                    removed += 1;
                } else if from_tail {
                    kept.push_front(v);
                } else {
                    kept.push_back(v);
                }
            }
            *list = kept;
            (cmd, Reply::Int(removed))
        }
        Op::Trim { key: k, start, end } => {
            let key = key(*k);
            let cmd = argv(&[b"LTRIM", &key, &num(*start), &num(*end)]);
            if let Some(list) = model.get_mut(&key) {
                *list = match clamp(*start, *end, list.len()) {
                    Some((first, n)) => list.iter().skip(first).take(n).cloned().collect(),
                    None => VecDeque::new(),
                };
            }
            (cmd, Reply::ok())
        }
        Op::Pos {
            key: k,
            elem,
            rank,
            count,
            maxlen,
        } => {
            let key = key(*k);
            let mut parts: Vec<Vec<u8>> = vec![b"LPOS".to_vec(), key.clone(), elem.clone()];
            parts.extend([
                b"RANK".to_vec(),
                num(*rank),
                b"MAXLEN".to_vec(),
                num(*maxlen),
            ]);
            if let Some(c) = count {
                parts.extend([b"COUNT".to_vec(), num(*c)]);
            }
            let cmd = argv(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let list = model.get(&key).cloned().unwrap_or_default();
            let len = list.len();
            let scan = if *maxlen == 0 {
                len
            } else {
                (*maxlen as usize).min(len)
            };
            let indexes: Vec<usize> = if *rank > 0 {
                (0..scan).collect()
            } else {
                (0..scan).map(|i| len - 1 - i).collect()
            };
            let hits: Vec<i64> = indexes
                .into_iter()
                .filter(|&i| list[i] == *elem)
                .skip(rank.unsigned_abs() as usize - 1)
                .map(|i| i as i64)
                .collect();
            let reply = match count {
                None => hits.first().map_or(Reply::Nil, |&i| Reply::Int(i)),
                Some(c) => {
                    let take = if *c == 0 { hits.len() } else { *c as usize };
                    Reply::Array(hits.into_iter().take(take).map(Reply::Int).collect())
                }
            };
            (cmd, reply)
        }
        Op::Move {
            src,
            dst,
            from_head,
            to_head,
        } => {
            let (src, dst) = (key(*src), key(*dst));
            let word = |head: bool| if head { &b"LEFT"[..] } else { &b"RIGHT"[..] };
            let cmd = argv(&[b"LMOVE", &src, &dst, word(*from_head), word(*to_head)]);
            let Some(list) = model.get_mut(&src) else {
                return (cmd, Reply::Nil);
            };
            let v = if *from_head {
                list.pop_front()
            } else {
                list.pop_back()
            }
            .unwrap();
            if list.is_empty() {
                model.remove(&src);
            }
            let target = model.entry(dst).or_default();
            if *to_head {
                target.push_front(v.clone());
            } else {
                target.push_back(v.clone());
            }
            (cmd, bulk(&v))
        }
        Op::Len { key: k } => {
            let key = key(*k);
            let len = model.get(&key).map_or(0, VecDeque::len);
            (argv(&[b"LLEN", &key]), Reply::Int(len as i64))
        }
    };
    model.retain(|_, l| !l.is_empty());
    (cmd, reply)
}

fn contents(h: &mut Harness, model: &Model) -> Result<(), TestCaseError> {
    for k in 0..3u8 {
        let key = key(k);
        let want = model
            .get(&key)
            .map_or(Reply::Array(Vec::new()), |l| bulks(l.iter()));
        prop_assert_eq!(h.run(&argv(&[b"LRANGE", &key, b"0", b"-1"])), want);
        let exists = Reply::Int(i64::from(model.contains_key(&key)));
        prop_assert_eq!(
            h.run(&argv(&[b"EXISTS", &key])),
            exists,
            "empty lists are removed"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn lists_match_a_deque_model(ops in prop::collection::vec(op(), 1..120)) {
        let mut h = Harness::new();
        let mut model = Model::new();
        for op in &ops {
            let (cmd, expected) = model_step(&mut model, op);
            prop_assert_eq!(h.run(&cmd), expected, "{:?}", op);
        }
        contents(&mut h, &model)?;

        // A restored engine holds the same lists and answers the next writes the same way.
        let restored = Engine::restore(&h.engine.snapshot(), 16).expect("restore");
        prop_assert_eq!(restored.digest(), h.engine.digest());
        let mut twin = Harness::new();
        twin.engine = restored;
        for op in ops.iter().rev().take(20) {
            let (cmd, expected) = model_step(&mut model, op);
            prop_assert_eq!(h.run(&cmd), expected.clone(), "{:?}", op);
            prop_assert_eq!(twin.run(&cmd), expected, "restored: {:?}", op);
        }
        prop_assert_eq!(twin.engine.digest(), h.engine.digest());
        contents(&mut twin, &model)?;
    }
}
