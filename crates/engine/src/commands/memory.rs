//! MEMORY USAGE and MEMORY HELP (Redis 7.0.15's `memoryCommand`, src/object.c).
//!
//! MEMORY USAGE estimates what a key costs the way Redis's `objectComputeSize` does: the key's
//! string, its table entry, the value's object header, and the value by representation,
//! every allocation rounded up to the allocator's size class (jemalloc's, as both Redis and
//! Cairn use). Strings are counted as Redis lays them out (`int`, `embstr`, `raw`); a
//! collection counts the bytes its Cairn representation holds, plus the headers Redis's
//! structure of the same name would have. A hashtable set, like Redis's, is estimated from
//! SAMPLES members (5 by default, 0 = all); the other forms know their size exactly.
//!
//! The other subcommands (DOCTOR, STATS, MALLOC-STATS, PURGE) are the allocator's and the
//! node's, not the keyspace's; they are not implemented, though HELP lists them as Redis does.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{cmd, eq_ignore_case, int_arg, syntax_error};
use crate::engine::ReadCtx;
use crate::table::{Group, Handler, Keys, Spec, flag::*};
use crate::value::Value;

/// MEMORY USAGE takes its key as the second argument.
const KEY2: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("memory", -2, 0, 0, Keys::NONE, Group::Server, "4.0.0", "A container for memory diagnostics commands", Handler::Container)
        .complexity("Depends on subcommand.").sub(MEMORY),
];

#[rustfmt::skip]
static MEMORY: &[Spec] = &[
    cmd("usage", -3, READONLY, 0, KEY2, Group::Server, "4.0.0", "Estimate the memory usage of a key", Handler::Read(memory_usage))
        .complexity("O(N) where N is the number of samples."),
    cmd("help", 2, LOADING | STALE, 0, Keys::NONE, Group::Server, "4.0.0", "Show helpful text about the different subcommands", Handler::Read(memory_help))
        .complexity("O(1)"),
];

// ---------------------------------------------------------------------------------------------
// Low level: allocation sizes

/// Members a hashtable set's estimate looks at by default (Redis's `OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
const SAMPLES_DEFAULT: usize = 5;

/// A value's object header (Redis's `robj`: type, encoding, LRU, refcount, pointer).
const ROBJ_BYTES: usize = 16;
/// One keyspace or hashtable entry (key, value and next pointers).
const DICT_ENTRY_BYTES: usize = 24;
/// A hashtable's header (Redis 7.0's `dict`).
const DICT_BYTES: usize = 56;
/// A quicklist's header.
const QUICKLIST_BYTES: usize = 40;
/// An intset's header (encoding and length).
const INTSET_HEADER_BYTES: usize = 8;

/// The size class an allocation of `n` bytes gets from jemalloc: 8, then steps of 16 up to
/// 128, then four classes per doubling (160, 192, 224, 256, 320, ...).
fn alloc_size(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.next_multiple_of(16);
    }
    let log2 = usize::BITS - 1 - (n - 1).leading_zeros();
    n.next_multiple_of(1 << (log2 - 2))
}

/// An sds string's header for `len` bytes (sdshdr5/8/16/32/64); `min` raises it (values are
/// never sdshdr5).
fn sds_bytes(len: usize, min_header: usize) -> usize {
    let header = match len {
        0..32 => 1,
        32..256 => 3,
        256..65_536 => 5,
        _ if u32::try_from(len).is_ok() => 9,
        _ => 17,
    };
    // Header, bytes and the terminating NUL.
    alloc_size(header.max(min_header) + len + 1)
}

/// What `value` costs, its object header included.
fn value_bytes(value: &Value, samples: usize) -> usize {
    match value {
        Value::Str(s) => match value.encoding() {
            "int" => ROBJ_BYTES,
            // One allocation: header, sdshdr8, bytes, NUL.
            "embstr" => alloc_size(ROBJ_BYTES + 3 + s.len() + 1),
            _ => ROBJ_BYTES + sds_bytes(s.len(), 3),
        },
        Value::List(list) => ROBJ_BYTES + QUICKLIST_BYTES + list.heap_bytes(),
        Value::Hash(hash) if hash.is_compact() => ROBJ_BYTES + alloc_size(hash.heap_bytes()),
        Value::Hash(hash) => ROBJ_BYTES + DICT_BYTES + hash.heap_bytes(),
        Value::Set(set) => match set.as_table() {
            None => ROBJ_BYTES + alloc_size(INTSET_HEADER_BYTES + set.heap_bytes()),
            Some(table) => {
                let buckets = table.bucket_count() * std::mem::size_of::<usize>();
                let (mut seen, mut bytes) = (0usize, 0usize);
                for (member, _) in table.iter().take(samples) {
                    bytes += DICT_ENTRY_BYTES + sds_bytes(member.len(), 0);
                    seen += 1;
                }
                let members = if seen == 0 {
                    0
                } else {
                    (bytes as f64 / seen as f64 * table.len() as f64) as usize
                };
                ROBJ_BYTES + DICT_BYTES + buckets + members
            }
        },
        Value::ZSet(zset) => ROBJ_BYTES + zset.heap_bytes(),
        Value::Stream(stream) => ROBJ_BYTES + stream.redis_bytes(samples),
        // The whole tree, as RedisJSON's JSON.DEBUG MEMORY counts it.
        Value::Json(doc) => {
            ROBJ_BYTES + std::mem::size_of::<crate::types::json::Json>() + doc.heap_bytes()
        }
    }
}

/// What `key` holding `value` costs, as MEMORY USAGE answers with its default SAMPLES
/// (eviction's estimate of the bytes a deletion frees).
pub fn key_bytes(key: &[u8], value: &Value) -> usize {
    key_bytes_sampled(key, value, SAMPLES_DEFAULT)
}

fn key_bytes_sampled(key: &[u8], value: &Value, samples: usize) -> usize {
    sds_bytes(key.len(), 0) + DICT_ENTRY_BYTES + value_bytes(value, samples)
}

// ---------------------------------------------------------------------------------------------
// Commands

/// `MEMORY USAGE key [SAMPLES count]`: bytes, or nil for a missing key. Options are checked
/// before the key is looked up, as Redis does; the lookup does not touch the key.
fn memory_usage(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let mut samples = SAMPLES_DEFAULT;
    let mut j = 3;
    while j < argv.len() {
        if !(eq_ignore_case(&argv[j], "samples") && j + 1 < argv.len()) {
            return syntax_error();
        }
        match int_arg(&argv[j + 1]) {
            Ok(0) => samples = usize::MAX,
            Ok(n) if n > 0 => samples = usize::try_from(n).unwrap_or(usize::MAX),
            Ok(_) => return syntax_error(),
            Err(reply) => return reply,
        }
        j += 2;
    }
    let key = &argv[2];
    let Some(slot) = ctx.db().get(key, ctx.now_ms) else {
        return Reply::Nil;
    };
    let bytes = key_bytes_sampled(key, &slot.value, samples);
    Reply::Int(i64::try_from(bytes).unwrap_or(i64::MAX))
}

fn memory_help(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().copied().map(Reply::simple).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes_are_jemallocs() {
        let classes: Vec<usize> = [1, 8, 9, 23, 24, 33, 128, 129, 160, 161, 257, 1025, 4097]
            .iter()
            .map(|&n| alloc_size(n))
            .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 32, 32, 48, 128, 160, 160, 192, 320, 1280, 5120]
        );
    }

    #[test]
    fn strings_cost_what_redis_reports() {
        // Redis 7.0.15 (jemalloc) answers 64 for SET foo bar, 48 for SET i 12345 and 160 for a
        // 100-byte value under "big".
        let usage = |key: &[u8], value: &[u8]| {
            sds_bytes(key.len(), 0) + DICT_ENTRY_BYTES + value_bytes(&Value::str(value), 5)
        };
        assert_eq!(usage(b"foo", b"bar"), 64);
        assert_eq!(usage(b"i", b"12345"), 48);
        assert_eq!(usage(b"big", &[b'x'; 100]), 160);
    }
}
