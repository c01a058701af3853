//! Housekeeping: the lease and ticks.

use super::*;

impl Sim {
    // -----------------------------------------------------------------------------------------
    // Housekeeping: the lease and ticks

    /// Node `i`'s lease loop and tick timer, by its own clock.
    pub(super) fn housekeeping(&mut self, i: usize) {
        let Some(mut node) = self.nodes[i].take() else {
            return;
        };
        let clock = self.node_clock_ms(i);
        if clock >= node.next_lease_ms {
            node.next_lease_ms = clock + LEASE_INTERVAL_MS;
            if !self.faults || node.lease_stalled_until <= self.step {
                self.lease_round(i, &mut node);
            }
        }
        if clock >= node.next_tick_ms {
            node.next_tick_ms = clock + TICK_INTERVAL_MS;
            self.maybe_tick(i, &mut node);
        }
        self.nodes[i] = Some(node);
    }

    /// One round of the lease loop (`try_lease`): the holder renews; anyone else takes the
    /// lease (epoch + 1, compare-and-swap) when it is missing or was not renewed for
    /// `LEASE_TIMEOUT_MS` by this node's clock, and appends a Lease entry in lane 0.
    pub(super) fn lease_round(&mut self, i: usize, node: &mut Node) {
        let clock = self.node_clock_ms(i);
        let me = node.incarnation;
        let epoch = match &mut self.kv_lease {
            None => 1,
            Some(kv) if kv.holder == me => {
                kv.renewed_ms = clock;
                return;
            }
            Some(kv) if clock.saturating_sub(kv.renewed_ms) < LEASE_TIMEOUT_MS => return,
            Some(kv) => {
                self.stats.lease_takeovers += 1;
                kv.epoch + 1
            }
        };
        let previous = self.kv_lease.map(|kv| kv.holder);
        self.kv_lease = Some(KvLease {
            holder: me,
            epoch,
            renewed_ms: clock,
        });
        let seed = self.rng.u64(..);
        node.issue(
            0,
            0,
            clock,
            seed,
            Body::Lease { epoch },
            What::Lease { epoch },
        );
        self.stats.internal_entries += 1;
        self.trace(format!(
            "node {i}: takes the lease at epoch {epoch} (from {previous:?})"
        ));
    }

    /// `maybe_tick`: a node whose engine says it holds the lease, with no tick in flight,
    /// ticks when keys are due by its clock.
    pub(super) fn maybe_tick(&mut self, i: usize, node: &mut Node) {
        let clock = self.node_clock_ms(i);
        if node.tick_in_flight || !node.housekeeper() || !node.engine.expired_keys_due(clock) {
            return;
        }
        let keys_max = self.rng.u32(1..=8);
        let seed = self.rng.u64(..);
        node.issue(
            0,
            0,
            clock,
            seed,
            Body::Tick { keys_max },
            What::Tick { keys_max },
        );
        node.tick_in_flight = true;
        self.stats.internal_entries += 1;
    }
}
