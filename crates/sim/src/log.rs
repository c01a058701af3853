//! The in-memory shared log: what a JetStream stream does for Cairn, reduced to what the
//! protocol depends on.
//!
//! - Messages get consecutive sequence numbers from 1; a purge moves `first_seq` up and never
//!   resets the numbering.
//! - Every message carries its `Nats-Msg-Id` and the leader's timestamp.
//! - Deduplication by message id inside a window of simulated steps: a second append of an id
//!   stored less than `window_steps` ago is acknowledged with the original seq and not stored;
//!   one that arrives later is stored again (a duplicate in the log).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use bytes::Bytes;

/// `Nats-Msg-Id: <publisher>.<counter>`: a publisher (`incarnation + p` for publisher `p` of
/// a node incarnation) and its message counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MsgId {
    pub publisher: u64,
    pub counter: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.publisher, self.counter)
    }
}

/// One stored message: a group-committed batch of encoded entries.
#[derive(Clone, Debug)]
pub struct Message {
    pub seq: u64,
    pub id: MsgId,
    /// The stream leader's clock when it stored the message; nodes apply every entry of the
    /// message at this time.
    pub timestamp_ms: u64,
    /// The simulated step it was stored at (for consumers that lag behind).
    pub step: u64,
    /// `Entry::encode()` of each entry, in issue order.
    pub records: Vec<Bytes>,
}

/// The answer to an append that reached the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored as a new message at this seq.
    Stored(u64),
    /// The id was seen inside the window: not stored; this is the original's seq.
    Duplicate(u64),
}

impl Appended {
    pub fn seq(self) -> u64 {
        match self {
            Appended::Stored(seq) | Appended::Duplicate(seq) => seq,
        }
    }
}

pub struct Log {
    /// The first seq still stored (`last_seq + 1` when the log is empty).
    first_seq: u64,
    last_seq: u64,
    /// Messages `first_seq..=last_seq`.
    messages: VecDeque<Message>,
    window_steps: u64,
    /// Ids stored inside the window: id → (seq, step stored).
    recent: BTreeMap<MsgId, (u64, u64)>,
    /// The same ids in the order they were stored, to expire them.
    recent_order: VecDeque<(u64, MsgId)>,
}

impl Log {
    pub fn new(window_steps: u64) -> Log {
        Log {
            first_seq: 1,
            last_seq: 0,
            messages: VecDeque::new(),
            window_steps,
            recent: BTreeMap::new(),
            recent_order: VecDeque::new(),
        }
    }

    pub fn window_steps(&self) -> u64 {
        self.window_steps
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// The read barrier: the seq of the newest stored message (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Appends one message at simulated `step`, deduplicating by id inside the window.
    pub fn append(
        &mut self,
        id: MsgId,
        records: Vec<Bytes>,
        timestamp_ms: u64,
        step: u64,
    ) -> Appended {
        self.forget_before(step);
        if let Some(&(seq, _)) = self.recent.get(&id) {
            return Appended::Duplicate(seq);
        }
        self.last_seq += 1;
        let seq = self.last_seq;
        self.messages.push_back(Message {
            seq,
            id,
            timestamp_ms,
            step,
            records,
        });
        self.recent.insert(id, (seq, step));
        self.recent_order.push_back((step, id));
        Appended::Stored(seq)
    }

    /// Drops ids stored `window_steps` or more steps before `step`.
    fn forget_before(&mut self, step: u64) {
        while let Some(&(stored, id)) = self.recent_order.front() {
            if stored + self.window_steps > step {
                break;
            }
            self.recent_order.pop_front();
            if self.recent.get(&id).is_some_and(|&(_, s)| s == stored) {
                self.recent.remove(&id);
            }
        }
    }

    /// The message at `seq`, if it is stored (not purged, not in the future).
    pub fn get(&self, seq: u64) -> Option<&Message> {
        if seq < self.first_seq || seq > self.last_seq {
            return None;
        }
        let message = &self.messages[(seq - self.first_seq) as usize];
        debug_assert_eq!(message.seq, seq);
        Some(message)
    }

    /// JetStream `purge {"seq": seq}`: removes every message below `seq`. Returns how many.
    pub fn purge_below(&mut self, seq: u64) -> u64 {
        let seq = seq.min(self.last_seq + 1);
        let mut removed = 0;
        while self.first_seq < seq {
            self.messages.pop_front();
            self.first_seq += 1;
            removed += 1;
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(counter: u64) -> MsgId {
        MsgId {
            publisher: 7,
            counter,
        }
    }

    #[test]
    fn dedupes_inside_the_window_and_stores_again_after_it() {
        let mut log = Log::new(10);
        assert_eq!(log.append(id(1), vec![], 5, 0), Appended::Stored(1));
        assert_eq!(log.append(id(1), vec![], 5, 9), Appended::Duplicate(1));
        assert_eq!(log.append(id(2), vec![], 5, 9), Appended::Stored(2));
        assert_eq!(log.append(id(1), vec![], 5, 10), Appended::Stored(3));
        assert_eq!(log.append(id(1), vec![], 5, 11), Appended::Duplicate(3));
        assert_eq!(log.last_seq(), 3);
    }

    #[test]
    fn purge_keeps_numbering() {
        let mut log = Log::new(10);
        for i in 1..=5 {
            log.append(id(i), vec![], 1, i);
        }
        assert_eq!(log.purge_below(3), 2);
        assert_eq!(log.first_seq(), 3);
        assert!(log.get(2).is_none());
        assert_eq!(log.get(3).map(|m| m.id), Some(id(3)));
        assert_eq!(log.append(id(6), vec![], 1, 6), Appended::Stored(6));
        assert_eq!(log.purge_below(100), 4);
        assert_eq!((log.first_seq(), log.last_seq()), (7, 6));
        assert_eq!(log.append(id(7), vec![], 1, 7), Appended::Stored(7));
        assert_eq!(log.get(7).map(|m| m.seq), Some(7));
    }
}
