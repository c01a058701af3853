//! Collection values: one file per data type (`list`, `hash`, `set`, `zset`, `stream`), each owning its
//! representation, its snapshot encoding and the encoding name OBJECT ENCODING reports. The
//! commands that use them live in `commands/`.
//!
//! Rules every type keeps:
//! - A collection is never stored empty: the command that removes its last element removes
//!   the key.
//! - The representation (compact or large) is replicated state: it is chosen when a write
//!   applies, from the thresholds in `Encodings` (themselves replicated), never converts back
//!   (as in Redis 7.0), and the snapshot records it. Any choice a write makes by position
//!   (SPOP, random eviction) is a function of the replicated state and the entry's seed, so a
//!   node restored from a snapshot picks exactly what a node that applied the log picks.

pub mod hash;
pub mod json;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;

/// The size thresholds that decide a value's representation (Redis's `*-max-listpack-*`,
/// `set-max-intset-entries` and `hll-sparse-max-bytes` options, with Redis 7.0's defaults). Replicated: a
/// change is a log entry, so every node converts at the same write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    /// `list-max-listpack-size`: positive = entries per node, negative = -1..-5 for 4..64 KiB.
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// `hll-sparse-max-bytes`: a sparse HyperLogLog longer than this becomes dense.
    pub hll_sparse_max_bytes: u64,
    /// `stream-node-max-bytes` / `stream-node-max-entries`: when a stream starts a new node
    /// (0: no limit).
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
}

impl Default for Encodings {
    fn default() -> Encodings {
        Encodings {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
        }
    }
}

impl Encodings {
    /// The options as CONFIG names them, in snapshot order (snapshots before version 8 hold
    /// the first 7).
    pub const NAMES: [&'static str; 9] = [
        "list-max-listpack-size",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "set-max-intset-entries",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
        "hll-sparse-max-bytes",
        "stream-node-max-bytes",
        "stream-node-max-entries",
    ];

    pub fn get(&self, name: &str) -> Option<i64> {
        Some(match name {
            "list-max-listpack-size" | "list-max-ziplist-size" => self.list_max_listpack_size,
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                self.hash_max_listpack_entries as i64
            }
            "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                self.hash_max_listpack_value as i64
            }
            "set-max-intset-entries" => self.set_max_intset_entries as i64,
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                self.zset_max_listpack_entries as i64
            }
            "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                self.zset_max_listpack_value as i64
            }
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes as i64,
            "stream-node-max-bytes" => self.stream_node_max_bytes as i64,
            "stream-node-max-entries" => self.stream_node_max_entries as i64,
            _ => return None,
        })
    }

    /// Sets one option; `Err` with Redis's reason when the value is out of range.
    pub fn set(&mut self, name: &str, value: i64) -> Result<(), &'static str> {
        let unsigned = || u64::try_from(value).map_err(|_| "argument must be a memory value");
        match name {
            "list-max-listpack-size" | "list-max-ziplist-size" => {
                if !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&value) {
                    return Err("argument must be between -2147483648 and 2147483647 inclusive");
                }
                self.list_max_listpack_size = value;
            }
            "hash-max-listpack-entries" | "hash-max-ziplist-entries" => {
                self.hash_max_listpack_entries = unsigned()?;
            }
            "hash-max-listpack-value" | "hash-max-ziplist-value" => {
                self.hash_max_listpack_value = unsigned()?;
            }
            "set-max-intset-entries" => self.set_max_intset_entries = unsigned()?,
            "zset-max-listpack-entries" | "zset-max-ziplist-entries" => {
                self.zset_max_listpack_entries = unsigned()?;
            }
            "zset-max-listpack-value" | "zset-max-ziplist-value" => {
                self.zset_max_listpack_value = unsigned()?;
            }
            "hll-sparse-max-bytes" => self.hll_sparse_max_bytes = unsigned()?,
            "stream-node-max-bytes" => self.stream_node_max_bytes = unsigned()?,
            "stream-node-max-entries" => self.stream_node_max_entries = unsigned()?,
            _ => return Err("unknown option"),
        }
        Ok(())
    }
}
