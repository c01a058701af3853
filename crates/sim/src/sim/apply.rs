//! Applying: the reference, the model, nodes following the log, replies.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // Applying

    /// The reference engine and the model apply everything the log stored.
    pub(super) fn reference_catch_up(&mut self) -> Result<(), String> {
        while self.reference.applied < self.log.last_seq() {
            let seq = self.reference.applied + 1;
            let Some(message) = self.log.get(seq).cloned() else {
                return Err(format!(
                    "reference: seq {seq} was purged before it was applied"
                ));
            };
            self.check_message(&message)?;
            for record in &message.records {
                let entry = decode(record, message.timestamp_ms)?;
                self.reference_apply(seq, &entry)?;
            }
            let r = &mut self.reference;
            r.applied = seq;
            r.observer
                .update(&r.engine)
                .map_err(|e| format!("reference at seq {seq}: {e}"))?;
            self.compare_model(seq)?;
            self.sigs.insert(seq, sig(&self.reference.engine));
        }
        Ok(())
    }

    /// A node's message holds only its own entries, each of a lane of the publisher that sent
    /// it, in issue order (increasing requests of the incarnation's one counter).
    pub(super) fn check_message(&self, message: &Message) -> Result<(), String> {
        let id = message.id;
        if id.publisher == 0 {
            return Ok(());
        }
        let Some((incarnation, p)) = self.publisher_owner(id.publisher) else {
            return Err(format!(
                "seq {}: message {id} from no known publisher",
                message.seq
            ));
        };
        let mut last = 0;
        for record in &message.records {
            let origin = Entry::decode_origin(record)
                .map_err(|e| format!("seq {}: undecodable record: {e}", message.seq))?;
            let lane = origin.node.wrapping_sub(incarnation);
            let shared = self.config.mode == Mode::SharedWriter;
            if !shared && (lane >= LANES as u64 || lane as usize % self.publishers != p) {
                return Err(format!(
                    "seq {}: message {id} (publisher {p} of {incarnation}) carries an entry of writer {}",
                    message.seq, origin.node
                ));
            }
            if origin.request <= last {
                return Err(format!(
                    "seq {}: message {id} carries request {} after request {last}: not in issue order",
                    message.seq, origin.request
                ));
            }
            last = origin.request;
        }
        Ok(())
    }

    /// The reference applies one entry next to the model; Tick and Lease entries are checked
    /// against the lease as the model has it.
    pub(super) fn reference_apply(&mut self, seq: u64, entry: &Entry) -> Result<(), String> {
        let r = &mut self.reference;
        let lease = r.model.lease();
        let zombie_tick =
            matches!(entry.body, Body::Tick { .. }) && r.model.fenced(entry.origin.node);
        let before = zombie_tick.then(|| r.engine.digest());
        let modelled = r.model.apply(seq, entry)?;
        let reply = r.engine.apply_logged(entry);
        let reply = match (modelled, reply) {
            (model::Applied::Applied, Some(reply)) => format!("{reply:?}"),
            (model::Applied::Copy, None) => {
                self.stats.copies_skipped += 1;
                return Ok(());
            }
            (modelled, reply) => {
                return Err(format!(
                    "seq {seq}: the model says {modelled:?} for {:?}, the engine's filter {}",
                    entry.origin,
                    if reply.is_some() {
                        "applied it"
                    } else {
                        "skipped it"
                    }
                ));
            }
        };
        let writer = entry.origin.node;
        match &entry.body {
            Body::Command(_)
            | Body::Script { .. }
            | Body::Watch { .. }
            | Body::Unwatch { .. }
            | Body::Exec { .. } => {
                r.replies.insert((writer, entry.origin.request), reply);
            }
            Body::Tick { .. } if lease.0 == 0 => {
                return Err(format!(
                    "seq {seq}: a Tick from writer {writer} before any lease was granted"
                ));
            }
            Body::Tick { .. } if zombie_tick => {
                let after = r.engine.digest();
                if reply != "Int(0)" || before.as_ref() != Some(&after) {
                    return Err(format!(
                        "seq {seq}: a Tick from writer {writer}, which does not hold the lease (epoch {} is {}'s), answered {reply} and changed the digest from {before:?} to {after}",
                        lease.0, lease.1
                    ));
                }
                self.stats.zombie_ticks += 1;
            }
            Body::Tick { keys_max } => {
                let n = reply_int(&reply)
                    .filter(|&n| (0..=i64::from(*keys_max)).contains(&n))
                    .ok_or_else(|| {
                        format!(
                            "seq {seq}: the holder's Tick (keys_max {keys_max}) answered {reply}"
                        )
                    })?;
                self.stats.ticks += 1;
                self.stats.keys_expired_by_ticks += n as u64;
            }
            Body::Lease { epoch } => {
                let granted = *epoch > lease.0;
                if reply_int(&reply) != Some(i64::from(granted)) {
                    return Err(format!(
                        "seq {seq}: Lease epoch {epoch} from writer {writer} over epoch {} answered {reply}",
                        lease.0
                    ));
                }
                if granted {
                    self.stats.lease_grants += 1;
                }
            }
            Body::Init { .. }
            | Body::Expire { .. }
            | Body::Evict { .. }
            | Body::Config { .. }
            | Body::Users { .. } => {}
        }
        Ok(())
    }

    /// The reference engine shows every key and the lease as the model has them.
    pub(super) fn compare_model(&self, seq: u64) -> Result<(), String> {
        let (engine, model) = (&self.reference.engine, &self.reference.model);
        let now = engine.now_ms();
        if now != model.now_ms() {
            return Err(format!(
                "seq {seq}: engine time {now}, model time {}",
                model.now_ms()
            ));
        }
        let lease = (
            engine.lease_epoch(),
            engine.lease_holder().unwrap_or_default(),
        );
        if lease != model.lease() {
            return Err(format!(
                "seq {seq}: the engine's lease is {lease:?}, the model's {:?}",
                model.lease()
            ));
        }
        for k in &self.keys {
            let live = raw_value(engine, k).filter(|(_, at)| at.is_none_or(|at| at >= now));
            let modelled = model.current(k).map(|s| (&s.value[..], s.expire_at_ms));
            if live != modelled {
                return Err(format!(
                    "seq {seq}: key {} is {:?} in the engine, {:?} in the model",
                    show(k),
                    live.map(|(v, at)| (String::from_utf8_lossy(v), at)),
                    modelled.map(|(v, at)| (String::from_utf8_lossy(v), at)),
                ));
            }
        }
        Ok(())
    }

    /// The node's consumer delivers up to a few messages, in order (fewer, or none, when it
    /// is delayed or lags), then waiting reads and held replies go out as they may.
    pub(super) fn deliver(&mut self, i: usize) -> Result<(), String> {
        let Some(mut node) = self.nodes[i].take() else {
            return Ok(());
        };
        if !self.faults || node.delayed_until <= self.step {
            let lag = if self.faults && self.step < node.lag_until {
                node.lag_steps
            } else {
                0
            };
            for _ in 0..self.rng.usize(1..=6) {
                let seq = node.applied + 1;
                if seq > self.log.last_seq() {
                    break;
                }
                if seq < self.log.first_seq() {
                    // Its next record was purged: only a snapshot can bring it back.
                    self.trace(format!(
                        "node {i}: needs seq {seq}, the log starts at {}",
                        self.log.first_seq()
                    ));
                    self.nodes[i] = Some(node);
                    self.crash(i);
                    self.stats.reloads_after_purge += 1;
                    let newest = self.snapshots.len().checked_sub(1);
                    return self.start_node(i, newest);
                }
                let Some(message) = self.log.get(seq) else {
                    return Err(format!("node {i}: seq {seq} vanished"));
                };
                if message.step + lag > self.step {
                    break;
                }
                let message = message.clone();
                self.apply_message(i, &mut node, &message)?;
            }
        }
        self.drain_waiting(i, &mut node)?;
        self.nodes[i] = Some(node);
        Ok(())
    }

    pub(super) fn apply_message(
        &mut self,
        i: usize,
        node: &mut Node,
        message: &Message,
    ) -> Result<(), String> {
        let seq = message.seq;
        if seq != node.applied + 1 {
            return Err(format!(
                "node {i}: consumer delivered seq {seq} after {}",
                node.applied
            ));
        }
        let mut answered = Vec::new();
        let mut tick_again = false;
        for record in &message.records {
            let entry = decode(record, message.timestamp_ms)?;
            let reply = match self.config.mode {
                Mode::NoFilter => Some(node.engine.apply(&entry)),
                _ => node.engine.apply_logged(&entry),
            };
            if node.own_lane(entry.origin.node).is_none() {
                continue;
            }
            let Some(issued) = node.pending.remove(&entry.origin.request) else {
                continue;
            };
            let Some(reply) = reply else {
                return Err(format!(
                    "node {i}: its own request {} at seq {seq} was skipped as a copy while it waits",
                    entry.origin.request
                ));
            };
            let lane = issued.lane;
            if node.own_lane(entry.origin.node) != Some(lane) && !node.shared_writer {
                return Err(format!(
                    "node {i}: request {} issued in lane {lane} came back as writer {}",
                    entry.origin.request, entry.origin.node
                ));
            }
            node.resolved[lane] += 1;
            let reply = format!("{reply:?}");
            match issued.what {
                What::Client { op, ticket } => answered.push((lane, ticket, op, reply)),
                What::Tick { keys_max } => {
                    node.tick_in_flight = false;
                    tick_again |= reply_int(&reply).is_some_and(|n| n >= i64::from(keys_max));
                }
                What::Expire { db, keys } => {
                    for key in keys {
                        node.expiring.remove(&(db, key));
                    }
                }
                What::Lease { .. } => {}
            }
        }
        node.applied = seq;
        self.observers[i]
            .update(&node.engine)
            .map_err(|e| format!("node {i} at seq {seq}: {e}"))?;
        let Some(expected) = self.sigs.get(&seq) else {
            return Err(format!("no reference state kept for seq {seq}"));
        };
        let actual = sig(&node.engine);
        if !self.same(&actual, expected) {
            return Err(format!(
                "node {i} (incarnation {}) at seq {seq} differs from the reference: {actual:?}, expected {expected:?}{}",
                node.incarnation,
                self.describe_difference(&node.engine, seq)
            ));
        }
        for (lane, ticket, op, reply) in answered {
            let behind_read = node.waiting[lane]
                .front()
                .is_some_and(|r| r.ticket < ticket);
            if self.config.mode != Mode::EagerWriteReplies
                && (behind_read || !node.held[lane].is_empty())
            {
                node.held[lane].push_back(HeldReply {
                    ticket,
                    op,
                    seq,
                    reply,
                });
                self.stats.writes_held += 1;
            } else {
                self.acknowledge(i, op, seq, reply)?;
            }
        }
        if tick_again {
            self.maybe_tick(i, node);
        }
        Ok(())
    }

    /// Runs the reads at the front of each lane that may run, and sends the write replies
    /// held behind them: a lane answers its client operations in arrival order.
    pub(super) fn drain_waiting(&mut self, i: usize, node: &mut Node) -> Result<(), String> {
        for lane in 0..LANES {
            loop {
                let limit = node.waiting[lane].front().map_or(u64::MAX, |r| r.ticket);
                while node.held[lane].front().is_some_and(|h| h.ticket < limit) {
                    let held = node.held[lane].pop_front().expect("front exists");
                    self.acknowledge(i, held.op, held.seq, held.reply)?;
                }
                if !node.waiting[lane].front().is_some_and(|r| node.runnable(r)) {
                    break;
                }
                let read = node.waiting[lane].pop_front().expect("front exists");
                self.answer_read(i, node, &read)?;
            }
        }
        Ok(())
    }

    /// Whether a node's state matches the reference's at the same position. Without the
    /// filter (`Mode::NoFilter`) nodes keep no writer table: only the data is compared.
    pub(super) fn same(&self, actual: &Sig, expected: &Sig) -> bool {
        match self.config.mode {
            Mode::NoFilter => {
                (&actual.digest, actual.now_ms) == (&expected.digest, expected.now_ms)
            }
            _ => actual == expected,
        }
    }

    /// The keys where `engine` at `seq` differs from the model, for a failure message.
    pub(super) fn describe_difference(&self, engine: &Engine, seq: u64) -> String {
        let now = engine.now_ms();
        let mut out = String::new();
        for k in &self.keys {
            let live = raw_value(engine, k)
                .filter(|(_, at)| at.is_none_or(|at| at >= now))
                .map(|(v, _)| v);
            let modelled = self
                .reference
                .model
                .state_at(k, seq)
                .filter(|s| s.visible_at(now))
                .map(|s| &s.value[..]);
            if live != modelled {
                out += &format!(
                    "; key {} is {:?}, the model has {:?}",
                    show(k),
                    live.map(String::from_utf8_lossy),
                    modelled.map(String::from_utf8_lossy)
                );
            }
        }
        out
    }

    /// A reply reaches client of `op`: it must be the oldest operation the client has not
    /// had an answer to (a connection's replies come back in the order it sent commands).
    pub(super) fn replied(&mut self, i: usize, op: usize) -> Result<(), String> {
        let client = &mut self.clients[self.ops[op].client];
        match client.unanswered.pop_front() {
            Some(front) if front == op => Ok(()),
            front => {
                let (id, lane) = (client.id, client.lane);
                Err(format!(
                    "reply order: client {id} (lane {lane}) at node {i} got the reply to op {op} ({}) in place of {}, which it sent first",
                    self.describe_op(op),
                    front.map_or("nothing".into(), |f| format!(
                        "op {f} ({})",
                        self.describe_op(f)
                    ))
                ))
            }
        }
    }

    /// An operation, for a failure message.
    pub(super) fn describe_op(&self, op: usize) -> String {
        match &self.ops[op].kind {
            OpKind::Read { key: k, .. } => format!("a GET {}", show(k)),
            OpKind::Append { key: k } => format!("an APPEND to {}", APPEND_KEYS[*k].1),
            OpKind::Incr { counter } => format!("an INCR of {}", COUNTER_KEYS[*counter].1),
            OpKind::OtherWrite => "a write".into(),
        }
    }

    /// A client write is answered by node `i` after it applied the write's entry at `seq`.
    pub(super) fn acknowledge(
        &mut self,
        i: usize,
        op: usize,
        seq: u64,
        reply: String,
    ) -> Result<(), String> {
        self.replied(i, op)?;
        let origin = self.ops[op].origin;
        match self
            .reference
            .replies
            .remove(&(origin.node, origin.request))
        {
            Some(expected) if expected == reply => {}
            expected => {
                return Err(format!(
                    "node {i}: write {origin:?} answered {reply}, the reference applied it with {expected:?}"
                ));
            }
        }
        self.ops[op].status = Status::Acked { seq };
        self.stats.writes_acked += 1;
        self.max_acked_seq = self.max_acked_seq.max(seq);
        match self.ops[op].kind {
            OpKind::Append { key: k } => {
                let count = self.observers[i].count(op);
                if count != 1 {
                    return Err(format!(
                        "node {i}: APPEND t{op} to {} acknowledged at seq {seq}, but the token appears {count} times",
                        APPEND_KEYS[k].1
                    ));
                }
                self.acked_tokens[k].push(op);
            }
            OpKind::Incr { counter } => {
                let n =
                    reply_int(&reply).ok_or_else(|| format!("node {i}: INCR answered {reply}"))?;
                let issued = self.incr_issued[counter];
                if n < 1 || n as u64 > issued {
                    return Err(format!(
                        "node {i}: INCR {} answered {n}, with {issued} INCRs issued",
                        COUNTER_KEYS[counter].1
                    ));
                }
                if !self.incr_replies[counter].insert(n) {
                    return Err(format!(
                        "node {i}: two acknowledged INCRs of {} both answered {n}",
                        COUNTER_KEYS[counter].1
                    ));
                }
            }
            OpKind::OtherWrite | OpKind::Read { .. } => {}
        }
        Ok(())
    }

    /// Answers a read from node `i`'s state at its applied position and checks it.
    pub(super) fn answer_read(
        &mut self,
        i: usize,
        node: &mut Node,
        read: &PendingRead,
    ) -> Result<(), String> {
        let op = read.op;
        let OpKind::Read {
            key: k,
            required,
            acked_before,
            own_write,
        } = self.ops[op].kind.clone()
        else {
            return Err(format!("op {op} is not a read"));
        };
        self.replied(i, op)?;
        let position = node.applied;
        if position < required {
            return Err(format!(
                "stale read: GET {} at node {i} answered at seq {position}, but a write acknowledged before the read arrived is at seq {required}",
                show(&k)
            ));
        }
        if let Some(w) = own_write {
            match self.ops[w].status {
                Status::Acked { seq } if seq <= position => {}
                status => {
                    return Err(format!(
                        "read-your-writes: GET {} at node {i} answered at seq {position}, its client's earlier write op {w} is {status:?}",
                        show(&k)
                    ));
                }
            }
        }
        if (0..LANES).any(|l| l != read.lane && node.resolved[l] < read.issued_at_arrival[l]) {
            self.stats.reads_past_other_lanes += 1;
        }
        let clock = self.node_clock_ms(i).max(node.engine.now_ms());
        let value = node
            .engine
            .db(k.0 as usize)
            .get(&k.1, clock)
            .and_then(|s| s.value.as_str())
            .map(<[u8]>::to_vec);
        let expected = self
            .reference
            .model
            .state_at(&k, position)
            .filter(|s| s.visible_at(clock))
            .map(|s| s.value.clone());
        if value != expected {
            return Err(format!(
                "GET {} at node {i}, seq {position}, clock {clock}: {:?}, the model has {:?}",
                show(&k),
                value.as_deref().map(String::from_utf8_lossy),
                expected.as_deref().map(String::from_utf8_lossy)
            ));
        }
        if let Some(a) = APPEND_KEYS.iter().position(|&ak| key(ak) == k) {
            let tokens = parse_tokens(value.as_deref().unwrap_or_default())?;
            let before = &self.acked_tokens[a][..acked_before];
            for &t in before.iter().rev().take(READ_TOKENS_CHECKED) {
                if !tokens.contains(&(t as u64)) {
                    return Err(format!(
                        "GET {} at node {i} misses t{t}, acknowledged before the read arrived",
                        show(&k)
                    ));
                }
            }
        }
        self.ops[op].status = Status::Answered;
        self.stats.reads_answered += 1;
        // What a node does after a read: keys it found expired (and not already in an Expire
        // entry of its own) become a lazy-expiry entry in lane 0.
        for (db, keys) in node.engine.take_seen_expired() {
            let db = db as u32;
            let keys: Vec<Bytes> = keys
                .into_iter()
                .map(Bytes::from)
                .filter(|k| node.expiring.insert((db, k.clone())))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let seed = self.rng.u64(..);
            node.issue(
                0,
                db,
                clock,
                seed,
                Body::Expire { keys: keys.clone() },
                What::Expire { db, keys },
            );
            self.stats.internal_entries += 1;
        }
        Ok(())
    }
}
