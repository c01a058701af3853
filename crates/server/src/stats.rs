//! Counters shared by every session and the core: command statistics (INFO
//! commandstats) and server-wide counters (INFO stats). Atomics only; no locks on the hot path.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use cairn_engine::Spec;
use cairn_engine::acl::ids;

#[derive(Default)]
pub struct CmdStat {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// The calls' latency distribution (LATENCY HISTOGRAM, INFO latencystats), counted while
    /// `latency-tracking` is on.
    pub latency: crate::latency::Histogram,
}

/// Every row (subcommands included) with its full name (`client|list`) and counters, in the
/// order of the command table's row ids (`acl::ids`), so a command finds its counters by
/// its id.
pub struct CommandStats {
    rows: Vec<(String, CmdStat)>,
}

pub static COMMAND_STATS: LazyLock<CommandStats> = LazyLock::new(|| {
    let rows = ids::rows()
        .iter()
        .map(|row| (row.name.clone(), CmdStat::default()))
        .collect();
    CommandStats { rows }
});

impl CommandStats {
    pub fn get(&self, spec: &'static Spec) -> Option<&CmdStat> {
        self.rows.get(ids::id_of(spec)).map(|(_, stat)| stat)
    }

    pub fn record(&self, spec: &'static Spec, usec: u64, failed: bool) {
        if let Some(s) = self.get(spec) {
            s.calls.fetch_add(1, Relaxed);
            s.usec.fetch_add(usec, Relaxed);
            if crate::latency::tracking() {
                s.latency.record(usec);
            }
            if failed {
                s.failed.fetch_add(1, Relaxed);
            }
        }
    }

    pub fn row(&self, spec: &'static Spec) -> Option<usize> {
        let row = ids::id_of(spec);
        (row < self.rows.len()).then_some(row)
    }

    pub fn name(&self, row: usize) -> &str {
        &self.rows[row].0
    }

    pub fn rejected(&self, spec: &'static Spec) {
        if let Some(s) = self.get(spec) {
            s.rejected.fetch_add(1, Relaxed);
        }
    }

    /// `cmdstat_<name>:calls=…` lines for every command that ran or was rejected.
    pub fn render(&self, out: &mut String) {
        for (name, s) in &self.rows {
            let (calls, usec) = (s.calls.load(Relaxed), s.usec.load(Relaxed));
            let (rejected, failed) = (s.rejected.load(Relaxed), s.failed.load(Relaxed));
            if calls == 0 && rejected == 0 && failed == 0 {
                continue;
            }
            let per_call = if calls == 0 {
                0.0
            } else {
                usec as f64 / calls as f64
            };
            out.push_str(&format!(
                "cmdstat_{name}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n"
            ));
        }
    }

    pub fn reset(&self) {
        for (_, s) in &self.rows {
            s.calls.store(0, Relaxed);
            s.usec.store(0, Relaxed);
            s.rejected.store(0, Relaxed);
            s.failed.store(0, Relaxed);
            s.latency.reset();
        }
    }
}

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct ServerStats {
    pub error_replies: AtomicU64,
    /// Error replies by prefix (`ERR`, `WRONGTYPE`, …) for INFO errorstats. Errors are rare,
    /// so a lock is fine here; Redis caps the number of prefixes at 128.
    pub errors_by_prefix: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Keys deleted by Evict entries this node applied (any node's).
    pub evicted_keys: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    pub protocol_errors: AtomicU64,
}

/// Distinct error prefixes tracked before new ones are ignored (Redis's limit).
const ERROR_PREFIXES_MAX: usize = 128;

impl ServerStats {
    pub fn error_reply(&self, text: &[u8]) {
        self.error_replies.fetch_add(1, Relaxed);
        let end = text.iter().position(|&c| c == b' ').unwrap_or(text.len());
        let prefix = String::from_utf8_lossy(&text[..end]).into_owned();
        let mut map = self.errors_by_prefix.lock().expect("stats lock");
        let len = map.len();
        match map.get_mut(&prefix) {
            Some(n) => *n += 1,
            None if len < ERROR_PREFIXES_MAX => {
                map.insert(prefix, 1);
            }
            None => {}
        }
    }

    pub fn reset(&self) {
        self.errors_by_prefix.lock().expect("stats lock").clear();
        for c in [
            &self.error_replies,
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.expired_keys,
            &self.evicted_keys,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.unexpected_error_replies,
            &self.protocol_errors,
        ] {
            c.store(0, Relaxed);
        }
    }
}
