//! An independent model of the workload: a few lines of plain Rust that say what the commands
//! the simulation issues do, written without the engine. It applies the log's entries in
//! order, skipping any entry whose origin it has already seen (exactly once by origin, kept
//! as a set rather than the engine's per-writer high-water mark), with time clamped to be
//! monotonic. It keeps the history of every key by log position so that a read answered at
//! position P can be checked against the state at P.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use cairn_engine::{Body, Entry};

/// A key: (database, name).
pub type Key = (u32, Bytes);

/// A key's stored state: value and absolute expire time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub value: Vec<u8>,
    pub expire_at_ms: Option<u64>,
}

impl State {
    /// Whether a read at `clock_ms` sees it (a key expires once the clock passes its time).
    pub fn visible_at(&self, clock_ms: u64) -> bool {
        self.expire_at_ms.is_none_or(|at| at >= clock_ms)
    }
}

#[derive(Default)]
pub struct Model {
    now_ms: u64,
    keys: BTreeMap<Key, State>,
    seen: BTreeSet<(u64, u64)>,
    /// The highest request seen per writer: a writer's requests must first reach the log in
    /// increasing order (the property the engine's duplicate filter relies on).
    newest: BTreeMap<u64, u64>,
    /// Per key: (seq, state after the message at seq), one element per message that changed it.
    history: BTreeMap<Key, Vec<(u64, Option<State>)>>,
    /// The housekeeping lease: (epoch, holder writer); epoch 0 = never granted.
    lease: (u64, u64),
}

/// What the model did with one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// A copy of an entry already applied.
    Copy,
}

impl Model {
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The housekeeping lease as the log granted it so far: (epoch, holder writer).
    pub fn lease(&self) -> (u64, u64) {
        self.lease
    }

    /// Whether a Tick entry from `writer` would be fenced off (a lease is granted to
    /// another writer).
    pub fn fenced(&self, writer: u64) -> bool {
        self.lease.0 > 0 && self.lease.1 != writer
    }

    /// The live state of `key` at the model's current time.
    pub fn current(&self, key: &Key) -> Option<&State> {
        self.keys.get(key).filter(|s| s.visible_at(self.now_ms))
    }

    /// Applies one entry of the message at `seq` (its `time_ms` already the message's).
    pub fn apply(&mut self, seq: u64, entry: &Entry) -> Result<Applied, String> {
        let origin = entry.origin;
        if origin.node != 0 {
            if !self.seen.insert((origin.node, origin.request)) {
                return Ok(Applied::Copy);
            }
            let newest = self.newest.entry(origin.node).or_insert(0);
            if origin.request <= *newest {
                return Err(format!(
                    "writer {} request {} first reached the log after its request {}",
                    origin.node, origin.request, *newest
                ));
            }
            *newest = origin.request;
        }
        self.now_ms = self.now_ms.max(entry.time_ms);
        if let Body::Lease { epoch } = entry.body
            && epoch > self.lease.0
        {
            self.lease = (epoch, origin.node);
        }
        let Body::Command(argv) = &entry.body else {
            // Init, Tick, Expire and Lease change no visible state (expired keys are hidden
            // whether removed or not).
            return Ok(Applied::Applied);
        };
        let now = self.now_ms;
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        let key: Key = (entry.db, argv[1].clone());
        let live = self.keys.get(&key).filter(|s| s.visible_at(now)).cloned();
        let new = match (name.as_str(), argv.len()) {
            ("APPEND", 3) => Some(match live {
                Some(mut s) => {
                    s.value.extend_from_slice(&argv[2]);
                    s
                }
                None => State {
                    value: argv[2].to_vec(),
                    expire_at_ms: None,
                },
            }),
            ("INCR", 2) => {
                let (n, expire_at_ms) = match live {
                    Some(s) => {
                        let n: i64 = std::str::from_utf8(&s.value)
                            .ok()
                            .and_then(|t| t.parse().ok())
                            .ok_or_else(|| format!("model: INCR on a non-integer {key:?}"))?;
                        (n, s.expire_at_ms)
                    }
                    None => (0, None),
                };
                Some(State {
                    value: (n + 1).to_string().into_bytes(),
                    expire_at_ms,
                })
            }
            ("SET", 3) => Some(State {
                value: argv[2].to_vec(),
                expire_at_ms: None,
            }),
            ("SET", 5) => Some(State {
                value: argv[2].to_vec(),
                expire_at_ms: Some(now + parse_ms(&argv[4])?),
            }),
            ("DEL", 2) => None,
            ("PEXPIRE", 3) => {
                let ms = parse_ms(&argv[2])?;
                live.map(|mut s| {
                    s.expire_at_ms = Some(now + ms);
                    s
                })
            }
            ("EXPIRE", 3) => {
                let ms = parse_ms(&argv[2])? * 1000;
                live.map(|mut s| {
                    s.expire_at_ms = Some(now + ms);
                    s
                })
            }
            _ => return Err(format!("model: unexpected command {argv:?}")),
        };
        match &new {
            Some(state) => self.keys.insert(key.clone(), state.clone()),
            None => self.keys.remove(&key),
        };
        let history = self.history.entry(key).or_default();
        match history.last_mut() {
            Some((s, state)) if *s == seq => *state = new,
            _ => history.push((seq, new)),
        }
        Ok(Applied::Applied)
    }

    /// The stored state of `key` after the message at `seq` (expired or not).
    pub fn state_at(&self, key: &Key, seq: u64) -> Option<&State> {
        let history = self.history.get(key)?;
        let i = history.partition_point(|(s, _)| *s <= seq);
        history[..i].last().and_then(|(_, state)| state.as_ref())
    }

    /// Forgets history no read can ask for: keeps, per key, the newest state at or below `seq`.
    pub fn prune_below(&mut self, seq: u64) {
        for history in self.history.values_mut() {
            let i = history.partition_point(|(s, _)| *s <= seq);
            if i > 1 {
                history.drain(..i - 1);
            }
        }
    }
}

fn parse_ms(arg: &Bytes) -> Result<u64, String> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|t| t.parse().ok())
        .filter(|&ms| ms > 0)
        .ok_or_else(|| format!("model: bad milliseconds {arg:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::Origin;

    fn entry(node: u64, request: u64, time_ms: u64, words: &[&str]) -> Entry {
        Entry {
            db: 0,
            time_ms,
            seed: 0,
            origin: Origin { node, request },
            body: Body::Command(words.iter().map(|w| Bytes::from(w.to_string())).collect()),
        }
    }

    #[test]
    fn applies_once_by_origin_and_keeps_history() {
        let mut m = Model::default();
        let k: Key = (0, Bytes::from_static(b"k"));
        assert_eq!(
            m.apply(1, &entry(1, 1, 100, &["APPEND", "k", "a,"])),
            Ok(Applied::Applied)
        );
        assert_eq!(
            m.apply(2, &entry(1, 1, 100, &["APPEND", "k", "a,"])),
            Ok(Applied::Copy)
        );
        assert_eq!(
            m.apply(2, &entry(1, 2, 90, &["APPEND", "k", "b,"])),
            Ok(Applied::Applied)
        );
        assert_eq!(m.now_ms(), 100, "time never goes back");
        assert_eq!(
            m.apply(3, &entry(2, 1, 100, &["EXPIRE", "k", "1"])),
            Ok(Applied::Applied)
        );
        assert_eq!(m.state_at(&k, 1).map(|s| &s.value[..]), Some(&b"a,"[..]));
        assert_eq!(m.state_at(&k, 3).and_then(|s| s.expire_at_ms), Some(1_100));
        assert!(m.state_at(&k, 0).is_none());
        m.prune_below(2);
        assert_eq!(m.state_at(&k, 2).map(|s| &s.value[..]), Some(&b"a,b,"[..]));
        // Expired keys are gone for writes: INCR starts again from 0.
        assert_eq!(
            m.apply(4, &entry(2, 2, 1_101, &["INCR", "k"])),
            Ok(Applied::Applied)
        );
        assert_eq!(m.current(&k).map(|s| &s.value[..]), Some(&b"1"[..]));
    }

    #[test]
    fn the_newest_epoch_holds_the_lease() {
        let mut m = Model::default();
        let lease = |node, request, epoch| Entry {
            db: 0,
            time_ms: 0,
            seed: 0,
            origin: Origin { node, request },
            body: Body::Lease { epoch },
        };
        assert!(!m.fenced(5));
        m.apply(1, &lease(10, 1, 2)).expect("applies");
        assert_eq!(m.lease(), (2, 10));
        assert!(m.fenced(5) && !m.fenced(10));
        m.apply(2, &lease(20, 1, 1)).expect("applies");
        assert_eq!(m.lease(), (2, 10), "an older epoch changes nothing");
        m.apply(3, &lease(20, 2, 3)).expect("applies");
        assert_eq!(m.lease(), (3, 20));
    }

    #[test]
    fn a_writer_out_of_order_is_an_error() {
        let mut m = Model::default();
        m.apply(1, &entry(1, 2, 0, &["DEL", "k"])).expect("applies");
        assert!(m.apply(2, &entry(1, 1, 0, &["DEL", "k"])).is_err());
    }
}
