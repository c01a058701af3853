//! Faults: crashes, restarts, stalls, snapshots and purges.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // Faults

    pub(super) fn inject_faults(&mut self) {
        if self.rng.f64() < self.odds.failover {
            let back = self.rng.i64(1..=5_000);
            self.leader_offset_ms -= back;
            self.election_until = self.step + self.rng.u64(1..=15);
            self.stats.failovers += 1;
            self.trace(format!(
                "failover: no leader until step {}, leader clock back {back} ms",
                self.election_until
            ));
        }
        if self.rng.f64() < self.odds.snapshot {
            self.take_snapshot();
        }
        if self.rng.f64() < self.odds.zombie {
            self.stall_holder();
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_none() {
                continue;
            }
            if self.rng.f64() < self.odds.crash {
                self.crash(i);
                self.restart_at[i] = self.step + self.rng.u64(1..=40);
            } else if self.rng.f64() < self.odds.delay {
                let until = self.step + self.rng.u64(1..=80);
                if let Some(node) = &mut self.nodes[i] {
                    node.delayed_until = until;
                }
                self.stats.delays += 1;
                self.trace(format!("node {i}: delivery delayed until step {until}"));
            }
        }
    }

    /// The would-be zombie: the lease holder's lease loop stalls (it neither renews the lease
    /// nor looks at it) and its consumer lags, so another node takes the lease over while
    /// it still believes, from its own engine, that it holds it, and keeps ticking.
    pub(super) fn stall_holder(&mut self) {
        let Some(kv) = self.kv_lease else { return };
        let step = self.step;
        let Some(i) = (0..self.nodes.len()).find(|&i| {
            self.nodes[i].as_ref().is_some_and(|n| {
                n.incarnation == kv.holder && n.housekeeper() && n.lease_stalled_until <= step
            })
        }) else {
            return;
        };
        let stall = self.rng.u64(200..=400);
        let lag = self.rng.u64(20..=80);
        if let Some(node) = &mut self.nodes[i] {
            node.lease_stalled_until = step + stall;
            node.lag_until = step + stall + lag;
            node.lag_steps = lag;
        }
        self.stats.zombie_faults += 1;
        self.trace(format!(
            "node {i}: lease holder stalls for {stall} steps, its consumer {lag} steps behind"
        ));
    }

    /// A housekeeper (a node whose engine says it holds the lease: normally one, two while a
    /// zombie has not noticed) snapshots its engine at its applied position, unless the
    /// pointer is already there; the log is then purged below the previous snapshot
    /// (JetStream `purge {"seq": S_prev + 1}`), so a node restoring the newest one never
    /// misses its tail.
    pub(super) fn take_snapshot(&mut self) {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].as_ref().is_some_and(Node::housekeeper))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = candidates[self.rng.usize(..candidates.len())];
        let Some(node) = &self.nodes[i] else {
            return;
        };
        let seq = node.applied;
        let newest = self.snapshots.back().map(|(seq, _)| *seq);
        if newest.is_some_and(|s| s >= seq) {
            self.stats.snapshots_dropped += 1;
            self.trace(format!(
                "node {i}: snapshot at seq {seq} dropped, the pointer is at {newest:?}"
            ));
            return;
        }
        self.snapshots.push_back((seq, node.engine.snapshot()));
        self.stats.snapshots += 1;
        if self.snapshots.len() > 2 {
            self.snapshots.pop_front();
        }
        let mut event = format!("node {i}: snapshot at seq {seq}");
        if self.snapshots.len() == 2 {
            let below = self.snapshots[0].0 + 1;
            let purged = self.log.purge_below(below);
            self.stats.purged_messages += purged;
            event += &format!(", log purged below {below} ({purged} messages)");
        }
        self.trace(event);
    }

    /// Kills a node: its engine, queues, messages in flight, barrier and connections are
    /// gone; its clients' unanswered writes have an unknown outcome. Copies of its attempts
    /// may still be in the network.
    pub(super) fn crash(&mut self, i: usize) {
        let Some(node) = self.nodes[i].take() else {
            return;
        };
        let mut unknown = 0;
        for &c in &node.clients {
            for op in std::mem::take(&mut self.clients[c].unanswered) {
                self.ops[op].status = match self.ops[op].kind {
                    OpKind::Read { .. } => Status::Dropped,
                    _ => {
                        unknown += 1;
                        Status::Unknown
                    }
                };
            }
        }
        self.stats.writes_unknown += unknown;
        self.stats.crashes += 1;
        self.trace(format!(
            "node {i}: crash (incarnation {}, at seq {}, {unknown} writes unanswered, in flight {:?})",
            node.incarnation,
            node.applied,
            node.in_flight_ids()
        ));
    }

    pub(super) fn restart_due(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_none() && (!self.faults || self.restart_at[i] <= self.step) {
                let snapshot = if self.snapshots.is_empty() {
                    None
                } else if self.snapshots.len() == 2 && self.rng.u8(0..4) == 0 {
                    Some(0)
                } else {
                    Some(self.snapshots.len() - 1)
                };
                self.start_node(i, snapshot)?;
            }
        }
        Ok(())
    }

    /// Starts a node with a new incarnation and new connections from the snapshot at
    /// `snapshot` (an index into the store) or from an empty engine at position 0.
    pub(super) fn start_node(&mut self, i: usize, snapshot: Option<usize>) -> Result<(), String> {
        let (engine, seq) = match snapshot {
            Some(index) => {
                let (seq, bytes) = &self.snapshots[index];
                let engine = Engine::restore(bytes, DATABASES).map_err(|e| {
                    format!("node {i}: snapshot at seq {seq} does not restore: {e}")
                })?;
                self.stats.restarts_from_snapshot += 1;
                (engine, *seq)
            }
            None => {
                if self.log.first_seq() > 1 {
                    return Err(format!(
                        "node {i}: no snapshot, and the log was purged below {}",
                        self.log.first_seq()
                    ));
                }
                (Engine::new(DATABASES), 0)
            }
        };
        let Some(expected) = self.sigs.get(&seq) else {
            return Err(format!("no reference state kept for seq {seq}"));
        };
        let restored = sig(&engine);
        if !self.same(&restored, expected) {
            return Err(format!(
                "node {i}: the snapshot at seq {seq} restores to {restored:?}, the reference had {expected:?}"
            ));
        }
        let mut observer = Observer::default();
        observer
            .update(&engine)
            .map_err(|e| format!("node {i} restored from seq {seq}: {e}"))?;
        self.observers[i] = observer;
        let incarnation = self.new_incarnation();
        let mut node = Node::new(
            incarnation,
            engine,
            seq,
            self.publishers,
            self.linearizable[i],
        );
        node.shared_writer = self.config.mode == Mode::SharedWriter;
        let clock = self.node_clock_ms(i);
        node.next_lease_ms = clock + self.rng.u64(0..LEASE_INTERVAL_MS);
        node.next_tick_ms = clock + self.rng.u64(0..TICK_INTERVAL_MS);
        let connections = self.rng.u64(2..=12);
        let first_id = self.rng.u64(1..=LANES as u64);
        for id in first_id..first_id + connections {
            node.clients.push(self.clients.len());
            self.clients.push(Client {
                node: i,
                id,
                lane: lane_of_client(id),
                unanswered: VecDeque::new(),
                last_write: None,
            });
        }
        self.stats.clients += connections;
        self.nodes[i] = Some(node);
        if self.step > 0 {
            self.stats.restarts += 1;
        }
        self.trace(format!(
            "node {i}: start, incarnation {incarnation}, from seq {seq}, {connections} clients"
        ));
        Ok(())
    }
}
