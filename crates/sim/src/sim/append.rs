//! Appending: publishers, retries, the log storing attempts, barriers.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // Appending

    /// The log stores (or deduplicates) one attempt.
    pub(super) fn store(&mut self, id: MsgId, records: Vec<Bytes>) -> Appended {
        let count = records.len();
        let writers: BTreeSet<u64> = records
            .iter()
            .filter_map(|r| Entry::decode_origin(r).ok())
            .map(|o| o.node)
            .collect();
        let appended = self
            .log
            .append(id, records, self.leader_clock_ms(), self.step);
        match appended {
            Appended::Stored(seq) => {
                self.stats.messages_stored += 1;
                self.stats.largest_batch = self.stats.largest_batch.max(count as u64);
                let again = !self.stored_ids.insert(id);
                if again {
                    self.stats.duplicates_stored += 1;
                } else {
                    if writers.len() > 1 {
                        self.stats.multi_lane_messages += 1;
                    }
                    if self
                        .publisher_owner(id.publisher)
                        .is_some_and(|(_, p)| p > 0)
                    {
                        self.stats.other_publisher_messages += 1;
                    }
                }
                self.trace(format!(
                    "stored {id} at seq {seq} ({count} entries, {} lanes){}",
                    writers.len(),
                    if again { ", a duplicate" } else { "" }
                ));
            }
            Appended::Duplicate(seq) => {
                self.stats.dedupe_hits += 1;
                self.trace(format!("deduplicated {id} (seq {seq})"));
            }
        }
        appended
    }

    pub(super) fn land_late_copies(&mut self) {
        if self.network.is_empty() || self.step < self.election_until {
            return;
        }
        let (due, later): (Vec<Late>, Vec<Late>) = std::mem::take(&mut self.network)
            .into_iter()
            .partition(|l| l.lands <= self.step);
        self.network = later;
        for late in due {
            self.stats.late_copies += 1;
            self.store(late.id, late.records);
        }
    }

    /// Each publisher of the node forms its next message if it can and makes the attempt
    /// that is due.
    pub(super) fn send(&mut self, i: usize) {
        for p in 0..self.publishers {
            self.send_publisher(i, p);
        }
    }

    pub(super) fn send_publisher(&mut self, i: usize, p: usize) {
        let step = self.step;
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        node.form_message(p, step);
        let Some(in_flight) = &mut node.publishers[p].in_flight else {
            return;
        };
        if in_flight.next_attempt > step {
            return;
        }
        in_flight.attempts += 1;
        let (id, records) = (in_flight.id, in_flight.records.clone());
        self.stats.append_attempts += 1;
        let backoff = self.rng.u64(1..=4);
        if self.faults && step < self.election_until {
            self.stats.election_refusals += 1;
            self.retry(i, p, step + backoff);
            return;
        }
        let o = &self.odds;
        let thresholds = [
            o.lost_append,
            o.lost_append + o.late_copy,
            o.lost_append + o.late_copy + o.lost_ack,
            o.lost_append + o.late_copy + o.lost_ack + o.slow_retry,
        ];
        let roll = if self.faults { self.rng.f64() } else { 1.0 };
        let outcome = thresholds.iter().position(|&t| roll < t);
        if outcome == Some(0) {
            self.stats.lost_appends += 1;
            self.trace(format!("node {i}: append of {id} lost"));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(1) {
            let lands = step + self.rng.u64(1..=2 * self.log.window_steps() + 5);
            self.network.push(Late { lands, id, records });
            self.trace(format!(
                "node {i}: append of {id} held in the network until step {lands}"
            ));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(2) {
            self.store(id, records);
            self.stats.lost_acks += 1;
            self.trace(format!("node {i}: ack of {id} lost"));
            self.retry(i, p, step + backoff);
        } else if outcome == Some(3) {
            self.store(id, records);
            self.stats.slow_retries += 1;
            let at = step + self.log.window_steps() + self.rng.u64(0..=10);
            self.trace(format!(
                "node {i}: ack of {id} lost, retry after the window at step {at}"
            ));
            self.retry(i, p, at);
        } else {
            self.store(id, records);
            if let Some(node) = &mut self.nodes[i] {
                node.publishers[p].in_flight = None;
            }
        }
    }

    pub(super) fn retry(&mut self, i: usize, p: usize, at: u64) {
        if let Some(in_flight) = self.nodes[i]
            .as_mut()
            .and_then(|n| n.publishers[p].in_flight.as_mut())
        {
            in_flight.next_attempt = at;
        }
    }

    /// The node's read barrier in flight (strict mode: an empty message on the control
    /// subject, no `Nats-Msg-Id`): an attempt may be refused or lost, or stored with its
    /// acknowledgement lost (the retry stores another, later one). The barrier's position is
    /// the log's tail when it is stored: every message stored before it. Its acknowledgement
    /// reaches the node a few steps later, and the next barrier is requested then if reads
    /// wait for it.
    pub(super) fn send_barrier(&mut self, i: usize) {
        let step = self.step;
        let Some(state) = self.nodes[i].as_ref().and_then(|n| n.barrier) else {
            return;
        };
        let mut state = state;
        if let BarrierState::Sending { next_attempt } = state
            && next_attempt <= step
        {
            let backoff = self.rng.u64(1..=4);
            state = if self.faults && step < self.election_until {
                self.stats.election_refusals += 1;
                BarrierState::Sending {
                    next_attempt: step + backoff,
                }
            } else {
                let roll = if self.faults { self.rng.f64() } else { 1.0 };
                if roll < self.odds.lost_append + self.odds.lost_ack {
                    BarrierState::Sending {
                        next_attempt: step + backoff,
                    }
                } else {
                    BarrierState::Acked {
                        seq: self.log.last_seq(),
                        at: step + self.rng.u64(0..=3),
                    }
                }
            };
        }
        let Some(node) = &mut self.nodes[i] else {
            return;
        };
        node.barrier = Some(state);
        if let BarrierState::Acked { seq, at } = state
            && at <= step
            && node.on_barrier(seq, step)
        {
            self.stats.barriers += 1;
        }
    }
}
