//! The end of a run: draining and the final checks.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // The end of a run

    /// Every node idle and caught up, nothing in the network, and no key with an expire time
    /// left (the holder's ticks removed them all).
    pub(super) fn quiescent(&self) -> bool {
        let tail = self.log.last_seq();
        self.network.is_empty()
            && self.reference.applied == tail
            && volatile_keys(&self.reference.engine) == 0
            && self
                .nodes
                .iter()
                .all(|n| n.as_ref().is_some_and(|n| n.is_idle() && n.applied == tail))
    }

    /// No more faults or clients: crashed nodes restart, delays and stalls end, late copies
    /// land, and every node must become idle and caught up, with every expiring key removed.
    pub(super) fn drain(&mut self) -> Result<(), String> {
        self.faults = false;
        self.clients_on = false;
        self.stats.volatile_at_drain += volatile_keys(&self.reference.engine) as u64;
        self.trace("drain: faults and clients stop".into());
        let start = self.step;
        while !self.quiescent() {
            if self.step - start >= DRAIN_STEPS_MAX {
                let busy: Vec<String> = self
                    .nodes
                    .iter()
                    .enumerate()
                    .map(|(i, n)| match n {
                        None => format!("node {i} down"),
                        Some(n) => format!(
                            "node {i} at seq {}: {} queued, in flight {:?}, {} pending, {} reads, barrier {:?}, housekeeper {}",
                            n.applied,
                            n.queued(),
                            n.in_flight_ids(),
                            n.pending.len(),
                            n.waiting.iter().map(VecDeque::len).sum::<usize>(),
                            n.barrier,
                            n.housekeeper()
                        ),
                    })
                    .collect();
                return Err(format!(
                    "not quiescent {DRAIN_STEPS_MAX} steps after faults stopped (log tail {}, {} keys with an expire time, lease {:?}): {}",
                    self.log.last_seq(),
                    volatile_keys(&self.reference.engine),
                    self.kv_lease,
                    busy.join("; ")
                ));
            }
            self.step()?;
        }
        Ok(())
    }

    /// Every acknowledged write is in the final state exactly once, every write of unknown
    /// outcome at most once, every counter counts what it should, every node agrees, every
    /// key with an expire time is gone from every node, and every client has its replies.
    pub(super) fn final_checks(&mut self) -> Result<(), String> {
        let engine = &self.reference.engine;
        let expected = sig(engine);
        for (i, node) in self.nodes.iter().enumerate() {
            let node = node.as_ref().ok_or(format!("node {i} down after drain"))?;
            let actual = sig(&node.engine);
            if actual != expected {
                return Err(format!(
                    "after drain node {i} holds {actual:?}, the reference {expected:?}"
                ));
            }
            let volatile = volatile_keys(&node.engine);
            if volatile > 0 {
                return Err(format!(
                    "expiry stalled: after drain node {i} still holds {volatile} keys with an expire time"
                ));
            }
        }
        if let Some(c) = self.clients.iter().find(|c| !c.unanswered.is_empty()) {
            return Err(format!(
                "client {} at node {} still waits for ops {:?}",
                c.id, c.node, c.unanswered
            ));
        }
        let mut counts = BTreeMap::new();
        for k in APPEND_KEYS {
            let value = raw_value(engine, &key(k)).map_or(&[][..], |(v, _)| v);
            for t in parse_tokens(value)? {
                *counts.entry(t).or_insert(0u32) += 1;
            }
        }
        let mut incr_acked = [0u64; COUNTER_KEYS.len()];
        let mut incr_unknown = [0u64; COUNTER_KEYS.len()];
        for (op, o) in self.ops.iter().enumerate() {
            if o.status == Status::Pending {
                return Err(format!(
                    "op {op} ({:?} at node {}) never answered",
                    o.kind, o.node
                ));
            }
            match (&o.kind, o.status) {
                (OpKind::Append { key: k }, status) => {
                    let n = counts.get(&(op as u64)).copied().unwrap_or(0);
                    let acked = matches!(status, Status::Acked { .. });
                    if (acked && n != 1) || n > 1 {
                        return Err(format!(
                            "APPEND t{op} to {} ({status:?}) appears {n} times in the final state",
                            APPEND_KEYS[*k].1
                        ));
                    }
                }
                (OpKind::Incr { counter }, Status::Acked { .. }) => incr_acked[*counter] += 1,
                (OpKind::Incr { counter }, Status::Unknown) => incr_unknown[*counter] += 1,
                _ => {}
            }
        }
        for (c, k) in COUNTER_KEYS.into_iter().enumerate() {
            let value = match raw_value(engine, &key(k)) {
                None => 0,
                Some((v, _)) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("counter {} holds {v:?}", k.1))?,
            };
            let (acked, unknown) = (incr_acked[c], incr_unknown[c]);
            if value < acked || value > acked + unknown {
                return Err(format!(
                    "counter {} is {value}: {acked} INCRs acknowledged, {unknown} of unknown outcome",
                    k.1
                ));
            }
        }
        Ok(())
    }
}
