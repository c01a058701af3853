//! Clients: the workload and reads.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // Clients

    pub(super) fn client_ops(&mut self) -> Result<(), String> {
        for i in 0..self.nodes.len() {
            let Some(node) = &self.nodes[i] else {
                continue;
            };
            if self.rng.f64() >= self.odds.client_op {
                continue;
            }
            let client = node.clients[self.rng.usize(..node.clients.len())];
            let op = self.ops.len();
            let roll = self.rng.u8(0..100);
            let plain = key(PLAIN_KEYS[self.rng.usize(..PLAIN_KEYS.len())]);
            let ms = self.rng.u64(50..3_000).to_string();
            let (db, words, kind): (u32, Vec<Bytes>, OpKind) = match roll {
                0..30 => {
                    let k = self.rng.usize(..APPEND_KEYS.len());
                    let (db, name) = APPEND_KEYS[k];
                    (
                        db,
                        vec!["APPEND".into(), name.into(), token(op).into()],
                        OpKind::Append { key: k },
                    )
                }
                30..52 => {
                    let k = self.rng.usize(..COUNTER_KEYS.len());
                    let (db, name) = COUNTER_KEYS[k];
                    self.incr_issued[k] += 1;
                    (
                        db,
                        vec!["INCR".into(), name.into()],
                        OpKind::Incr { counter: k },
                    )
                }
                52..62 => (
                    plain.0,
                    vec!["SET".into(), plain.1, format!("v{op}").into()],
                    OpKind::OtherWrite,
                ),
                62..70 => (
                    plain.0,
                    vec![
                        "SET".into(),
                        plain.1,
                        format!("v{op}").into(),
                        "PX".into(),
                        ms.into(),
                    ],
                    OpKind::OtherWrite,
                ),
                70..76 => (plain.0, vec!["DEL".into(), plain.1], OpKind::OtherWrite),
                76..80 => (
                    plain.0,
                    vec!["PEXPIRE".into(), plain.1, ms.into()],
                    OpKind::OtherWrite,
                ),
                80..82 => (
                    plain.0,
                    vec![
                        "EXPIRE".into(),
                        plain.1,
                        self.rng.u8(1..=3).to_string().into(),
                    ],
                    OpKind::OtherWrite,
                ),
                _ => {
                    self.read(i, client)?;
                    continue;
                }
            };
            let clock = self.node_clock_ms(i);
            let seed = self.rng.u64(..);
            let lane = self.clients[client].lane;
            let node = self.nodes[i].as_mut().expect("a live node");
            let ticket = node.ticket(lane);
            let origin = node.issue(
                lane,
                db,
                clock,
                seed,
                Body::Command(words),
                What::Client { op, ticket },
            );
            self.ops.push(Op {
                node: i,
                client,
                origin,
                kind,
                status: Status::Pending,
            });
            self.clients[client].unanswered.push_back(op);
            self.clients[client].last_write = Some(op);
            self.stats.writes += 1;
        }
        Ok(())
    }

    /// A GET arrives at node `i` from `client`: it waits in the client's lane for the writes
    /// the lane issued before it and, on a linearizable node, for a read barrier requested
    /// after it arrived (`Mode::NoBarrier`: for no barrier).
    pub(super) fn read(&mut self, i: usize, client: usize) -> Result<(), String> {
        let k = self.keys[self.rng.usize(..self.keys.len())].clone();
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        let linearizable = node.linearizable;
        let tail = self.log.last_seq();
        let required = if linearizable { self.max_acked_seq } else { 0 };
        if self.max_acked_seq > tail {
            return Err(format!(
                "a write acknowledged at seq {} is beyond the log's tail {tail}",
                self.max_acked_seq
            ));
        }
        let acked_before = match APPEND_KEYS.iter().position(|&ak| key(ak) == k) {
            Some(a) if linearizable => self.acked_tokens[a].len(),
            _ => 0,
        };
        let op = self.ops.len();
        self.ops.push(Op {
            node: i,
            client,
            origin: Origin::default(),
            kind: OpKind::Read {
                key: k,
                required,
                acked_before,
                own_write: self.clients[client].last_write,
            },
            status: Status::Pending,
        });
        self.clients[client].unanswered.push_back(op);
        self.stats.reads += 1;
        let lane = self.clients[client].lane;
        let ticket = node.ticket(lane);
        let barrier = if !linearizable {
            self.stats.session_reads += 1;
            0
        } else if self.config.mode == Mode::NoBarrier {
            0
        } else {
            let (barrier, sent) = node.request_barrier(self.step);
            if sent {
                self.stats.barriers += 1;
            } else {
                self.stats.reads_next_barrier += 1;
            }
            barrier
        };
        let read = PendingRead {
            op,
            lane,
            ticket,
            mark: node.issued[lane],
            issued_at_arrival: node.issued,
            barrier,
            barrier_seq: None,
        };
        let result = if node.waiting[lane].is_empty() && node.runnable(&read) {
            self.answer_read(i, &mut node, &read)
        } else {
            self.stats.reads_waited += 1;
            node.waiting[lane].push_back(read);
            Ok(())
        };
        self.nodes[i] = Some(node);
        result
    }

    /// Forgets reference states and model history no node can reach any more.
    pub(super) fn prune(&mut self) {
        let mut keep = self.snapshots.front().map_or(0, |(seq, _)| *seq);
        for node in self.nodes.iter().flatten() {
            keep = keep.min(node.applied);
        }
        self.sigs = self.sigs.split_off(&keep);
        self.reference.model.prune_below(keep);
    }
}
