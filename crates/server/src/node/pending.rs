//! A lane's own writes waiting for the log, in the order they were issued.
//!
//! Request numbers rise as writes are issued and the log resolves a lane's records in that
//! order, so the write being resolved is almost always the oldest: a queue, searched from
//! the front, is all it takes (a sorted map cost a tree walk and node churn per write).

use std::collections::VecDeque;

use cairn_engine::{Entry, Spec};

use super::ReplyTx;

pub(super) struct PendingWrite {
    /// The entry as made: applied when its record comes back durable, without decoding it.
    pub entry: Entry,
    pub reply: Option<ReplyTx>,
    pub spec: Option<&'static Spec>,
    /// The log will never store it; the error is sent once every earlier write is resolved.
    pub failed: Option<String>,
    /// Arrival order in its lane (replies leave a lane in this order).
    pub order: u64,
    /// The client whose command it is (0: the node's own entry).
    pub client: u64,
}

/// Own writes of one lane by request number, oldest first.
#[derive(Default)]
pub(super) struct Pending {
    queue: VecDeque<(u64, PendingWrite)>,
}

impl Pending {
    /// Adds the newest write; `request` is above every request already queued.
    pub fn push(&mut self, request: u64, write: PendingWrite) {
        debug_assert!(self.queue.back().is_none_or(|(r, _)| *r < request));
        self.queue.push_back((request, write));
    }

    fn position(&self, request: u64) -> Option<usize> {
        match self.queue.front() {
            Some((r, _)) if *r == request => Some(0),
            _ => self.queue.binary_search_by_key(&request, |(r, _)| *r).ok(),
        }
    }

    pub fn remove(&mut self, request: u64) -> Option<PendingWrite> {
        let at = self.position(request)?;
        self.queue.remove(at).map(|(_, w)| w)
    }

    pub fn get_mut(&mut self, request: u64) -> Option<&mut PendingWrite> {
        let at = self.position(request)?;
        self.queue.get_mut(at).map(|(_, w)| w)
    }

    /// Takes the oldest write if the log refused it and it was issued before `request`.
    pub fn pop_failed_before(&mut self, request: u64) -> Option<PendingWrite> {
        let (r, w) = self.queue.front()?;
        if *r >= request || w.failed.is_none() {
            return None;
        }
        self.queue.pop_front().map(|(_, w)| w)
    }
}
