//! The core's housekeeping: expiry ticks (by the lease holder on a shared log), snapshots
//! (started by log volume, SAVE/BGSAVE, or a stop) and their completion.

use super::{Body, Core, Engine, Log, Msg, Relaxed, Reply, ReplyTx, Seq, TICK_KEYS_MAX, unix_ms};

/// Records replayed between two reports of the memory a snapshot rebuild holds (a report is
/// two mallctl reads; the growth between two stays small).
const RECORDS_PER_CHECKPOINT: usize = 64;

impl Core {
    /// Whether a stop without SAVE/NOSAVE writes a snapshot: always on the file log; on a shared
    /// log only for the lease holder.
    pub fn snapshot_on_stop(&self) -> bool {
        !self.shared_log || self.housekeeper()
    }

    /// Whether this node does the housekeeping (active expiry, automatic snapshots): on a
    /// shared log, the holder of the lease as the log has granted it; alone, always.
    pub fn housekeeper(&self) -> bool {
        match self.engine.lease_holder() {
            Some(node) => node == self.shared.node_id,
            None => !self.shared_log,
        }
    }

    pub(super) fn maybe_tick(&mut self) {
        if self.tick_in_flight
            || !self.shared.active_expire.load(Relaxed)
            || !self.housekeeper()
            || self.shared.pause.active()
        {
            return;
        }
        if self.engine.expired_keys_due(unix_ms()) {
            self.tick_in_flight = true;
            self.issue(
                Body::Tick {
                    keys_max: TICK_KEYS_MAX,
                },
                0,
                None,
                None,
                0,
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Snapshots

    pub(super) fn maybe_snapshot(&mut self) {
        let threshold = self
            .shared
            .config
            .read()
            .expect("config lock")
            .snapshot_log_bytes;
        if threshold > 0 && self.bytes_since_snapshot >= threshold && self.housekeeper() {
            self.start_snapshot();
        }
    }

    /// Starts a background snapshot at the current durable seq, unless one is running.
    /// The snapshot thread rebuilds state from the previous snapshot and the log, so the
    /// core never pauses to serialize.
    pub fn start_snapshot(&mut self) -> bool {
        if self.shared.snapshot_in_progress.swap(true, Relaxed) {
            return false;
        }
        let upto = self.durable_seq;
        self.bytes_since_snapshot = 0;
        let databases = self.engine.databases();
        let log = self.log.clone();
        let inbox = self.shared.inbox.clone();
        // The rebuild's copy of the data is left out of used memory (crate::memory).
        crate::memory::snapshot_started(!self.shared_log);
        let spawned = std::thread::Builder::new()
            .name("cairn-snapshot".into())
            .spawn(move || {
                lower_priority();
                let result = snapshot_by_replay(&*log, databases, upto);
                crate::memory::snapshot_finished();
                let _ = inbox.send(Msg::SnapshotDone { seq: upto, result });
            });
        if spawned.is_err() {
            crate::memory::snapshot_finished();
            self.shared.snapshot_in_progress.store(false, Relaxed);
            return false;
        }
        true
    }

    /// SAVE: replies when a snapshot covering everything durable now is on disk.
    pub fn save_and_wait(&mut self, reply: &ReplyTx) {
        self.snapshot_waiters
            .push((self.durable_seq, reply.clone()));
        self.start_snapshot();
    }

    pub(super) fn on_snapshot_done(&mut self, seq: Seq, result: Result<(), String>) {
        self.shared.snapshot_in_progress.store(false, Relaxed);
        self.shared.last_snapshot_ok.store(result.is_ok(), Relaxed);
        match &result {
            Ok(()) => {
                self.shared.lastsave_s.store(unix_ms() / 1000, Relaxed);
                self.shared.changes_since_save.store(0, Relaxed);
                tracing::info!(seq, "snapshot written");
            }
            Err(e) => tracing::error!(seq, "snapshot failed: {e}"),
        }
        let waiters = std::mem::take(&mut self.snapshot_waiters);
        for (needed, tx) in waiters {
            if needed > seq && result.is_ok() {
                self.snapshot_waiters.push((needed, tx));
                continue;
            }
            let _ = tx.send(match &result {
                Ok(()) => Reply::ok(),
                Err(e) => Reply::error(format!("ERR snapshot failed: {e}")),
            });
        }
        if !self.snapshot_waiters.is_empty() {
            self.start_snapshot();
        }
    }

    /// Writes a snapshot of the live engine synchronously (clean shutdown, DEBUG RELOAD).
    pub fn snapshot_now(&mut self) -> Result<(), String> {
        let bytes = self.engine.snapshot();
        self.log
            .put_snapshot(self.durable_seq, &bytes)
            .map_err(|e| e.to_string())?;
        self.bytes_since_snapshot = 0;
        self.shared.lastsave_s.store(unix_ms() / 1000, Relaxed);
        self.shared.changes_since_save.store(0, Relaxed);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The snapshot thread

/// Rebuilds state at `upto` from the newest snapshot plus the log, and writes it. A snapshot
/// written meanwhile (DEBUG RELOAD, shutdown, another node) may have dropped the records this
/// rebuild was reading: then it starts over from that newer snapshot, which covers more.
fn snapshot_by_replay(log: &dyn Log, databases: usize, upto: Seq) -> Result<(), String> {
    let mut last_error = String::new();
    // Each retry starts from a strictly newer snapshot; a few are plenty.
    for _ in 0..3 {
        match rebuild_at(log, databases, upto) {
            Ok(None) => return Ok(()),
            Ok(Some(engine)) => {
                // Serializing takes at most about twice what the engine holds (the output
                // grows by doubling: the old and new buffers live together for a moment);
                // writing, once the engine is dropped, the serialized bytes and their
                // compressed copy: no more than that.
                let held = crate::memory::snapshot_checkpoint(0);
                crate::memory::snapshot_checkpoint(held.saturating_mul(2));
                let bytes = engine.snapshot();
                drop(engine);
                return log.put_snapshot(upto, &bytes).map_err(|e| e.to_string());
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

/// The engine at `upto`, or `None` when the newest snapshot already covers it.
fn rebuild_at(log: &dyn Log, databases: usize, upto: Seq) -> Result<Option<Engine>, String> {
    let (base, mut engine) = match log.latest_snapshot().map_err(|e| e.to_string())? {
        Some((seq, bytes)) => (
            seq,
            Engine::restore(&bytes, databases).map_err(|e| e.to_string())?,
        ),
        None => (0, Engine::new(databases)),
    };
    if base >= upto {
        return Ok(None);
    }
    // What the rebuild holds is reported as it grows.
    crate::memory::snapshot_checkpoint(0);
    let records = log.read_range(base, upto).map_err(|e| e.to_string())?;
    let records = records.enumerate().map(|(i, record)| {
        if i % RECORDS_PER_CHECKPOINT == 0 {
            crate::memory::snapshot_checkpoint(0);
        }
        record
    });
    super::replay(&mut engine, records)?;
    Ok(Some(engine))
}

/// The nice value of the snapshot thread. A snapshot replays the log's records since the
/// previous one, about the work their first apply took; at the default priority that work
/// competes with the event loop for the cores, so a write load ran about 12% slower while a
/// snapshot was being built on a 2-core machine. The snapshot has no deadline (the log keeps
/// every record until it is written), so it takes the cores' idle time first.
const SNAPSHOT_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to `SNAPSHOT_NICE` unless it is lower already
/// (Linux nice values are per thread). Failing is harmless: the snapshot then runs at the
/// event loop's priority.
fn lower_priority() {
    let tid = Some(rustix::thread::gettid());
    let nice = rustix::process::getpriority_process(tid)
        .map_or(SNAPSHOT_NICE, |now| now.max(SNAPSHOT_NICE));
    if let Err(e) = rustix::process::setpriority_process(tid, nice) {
        tracing::debug!("snapshot thread keeps its priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_snapshot_thread_runs_at_a_lower_priority() {
        let nice = std::thread::spawn(|| {
            let tid = Some(rustix::thread::gettid());
            let before = rustix::process::getpriority_process(tid).unwrap();
            super::lower_priority();
            (before, rustix::process::getpriority_process(tid).unwrap())
        })
        .join()
        .unwrap();
        // Raising a nice value needs no privilege; only this thread changed.
        assert_eq!(nice.1, nice.0.max(super::SNAPSHOT_NICE));
        assert_eq!(
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap(),
            nice.0
        );
    }
}
