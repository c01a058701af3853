//! HyperLogLog: PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST, with Redis 7.0.15's
//! semantics (`src/hyperloglog.c`). An HLL is a plain string in Redis's own format (see
//! `hyperloglog/format.rs`), so GET returns exactly the bytes Redis would hold after the same
//! commands, and an HLL made by Redis (SET from a dump, a GET copied over) works here.
//!
//! The cached cardinality. Redis's PFCOUNT of one key stores the cardinality it computed in
//! the value's header when the cached one is stale, so the bytes GET returns depend on whether
//! a PFCOUNT ran; Redis replicates that PFCOUNT as a write for the same reason. Cairn keeps
//! the bytes identical by doing the same: PFCOUNT is a logged write (its row keeps Redis's
//! READONLY flag and adds MAY_REPLICATE, which Redis also sets and hides), so every node
//! updates the cache at the same point of the log. The alternative — keeping the cache
//! always fresh by computing it on every PFADD/PFMERGE — would make GET differ from Redis
//! (Redis leaves the cache stale until a PFCOUNT), and a read cannot change replicated state.
//! The price is that PFCOUNT waits for the log like any write; a read path for the common
//! case (several keys, or a fresh cache, where nothing changes) would need the server to
//! retry a read as a write, which it does not do today.
//!
//! `hll-sparse-max-bytes` (the sparse→dense promotion threshold) changes replicated state, so
//! it is one of the engine's `Encodings`, set through the log like the collection thresholds.

mod format;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{cmd, eq_ignore_case, wrong_type};
use crate::db::Db;
use crate::engine::{Engine, ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group, Handler, Keys, Spec, acl, flag::*};
use crate::value::Value;
use format::{Corrupt, Encoding, REGISTERS};

// ---------------------------------------------------------------------------------------------
// Errors, limits, typed access

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";
const NO_KEY: &str = "ERR The specified key does not exist";

/// The sparse representation's size limit in force (`hll-sparse-max-bytes`).
fn sparse_max_bytes(engine: &Engine) -> usize {
    usize::try_from(engine.encodings().hll_sparse_max_bytes).unwrap_or(usize::MAX)
}

fn corrupt(_: Corrupt) -> Reply {
    Reply::error_static(INVALID)
}

/// The HLL at `key` for reading: `Ok(None)` when absent; WRONGTYPE for another type or a
/// string that is not an HLL.
fn get_hll<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a [u8]>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    let s = slot.value.as_str().ok_or_else(wrong_type)?;
    format::validate(s).ok_or_else(|| Reply::error_static(NOT_HLL))?;
    Ok(Some(s))
}

/// The HLL at `key` for an edit, with the same checks; its TTL is kept.
fn get_hll_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Box<[u8]>>, Reply> {
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    let Value::Str(s) = &mut slot.value else {
        return Err(wrong_type());
    };
    format::validate(s).ok_or_else(|| Reply::error_static(NOT_HLL))?;
    Ok(Some(s))
}

/// Runs `edit` on the bytes of a stored string as a `Vec` (no copy), then stores them back.
fn edit_in_place<T>(s: &mut Box<[u8]>, edit: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    let mut bytes = std::mem::take(s).into_vec();
    let out = edit(&mut bytes);
    *s = bytes.into_boxed_slice();
    out
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PFADD

/// PFADD key [element ...]: 1 if the key was created or a register changed. An element that
/// meets corrupt sparse data stops the command with INVALIDOBJ; what the earlier elements
/// changed stays (and the cache is left as it was), as in Redis.
fn pfadd(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (now_ms, max_bytes) = (ctx.now_ms, sparse_max_bytes(ctx.engine));
    let key = &argv[1];
    let db = ctx.db();
    let add_all = |hll: &mut Vec<u8>, mut updated: bool| -> Result<bool, Corrupt> {
        for element in &argv[2..] {
            updated |= format::add(hll, element, max_bytes)?;
        }
        if updated {
            format::invalidate_cache(hll);
        }
        Ok(updated)
    };
    let updated = match get_hll_mut(db, key, now_ms) {
        Ok(Some(s)) => edit_in_place(s, |hll| add_all(hll, false)),
        Ok(None) => {
            let mut hll = format::new_sparse();
            let updated = add_all(&mut hll, true);
            db.set(key, Value::Str(hll.into_boxed_slice()), None, now_ms);
            updated
        }
        Err(reply) => return reply,
    };
    match updated {
        Ok(updated) => {
            if updated {
                ctx.notify(notify::STRING, "pfadd", key);
            }
            Reply::Int(i64::from(updated))
        }
        Err(c) => corrupt(c),
    }
}

// ---------------------------------------------------------------------------------------------
// PFCOUNT

/// PFCOUNT key [key ...]: one key answers its cached cardinality, or computes it and stores
/// it in the header (the reason PFCOUNT is logged); several keys answer the cardinality of
/// their union and change nothing. Missing keys count as empty HLLs.
fn pfcount(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if argv.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for key in &argv[1..] {
            match get_hll(db, key, now_ms) {
                Ok(Some(hll)) => {
                    if let Err(c) = format::merge(&mut max, hll) {
                        return corrupt(c);
                    }
                }
                Ok(None) => {}
                Err(reply) => return reply,
            }
        }
        return Reply::Int(format::count_raw(&max) as i64);
    }
    let s = match get_hll_mut(db, &argv[1], now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    if let Some(card) = format::cached_card(s) {
        return Reply::Int(card as i64);
    }
    match format::count(s) {
        Ok(card) => {
            format::set_cached_card(s, card);
            Reply::Int(card as i64)
        }
        Err(c) => corrupt(c),
    }
}

// ---------------------------------------------------------------------------------------------
// PFMERGE

/// PFMERGE dest [src ...]: `dest` takes the register-wise maximum of itself and every source
/// (all validated first); it is created sparse when missing and made dense first when any
/// input is dense.
fn pfmerge(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (now_ms, max_bytes) = (ctx.now_ms, sparse_max_bytes(ctx.engine));
    let db = ctx.db();
    let mut max = Box::new([0u8; REGISTERS]);
    let mut use_dense = false;
    for key in &argv[1..] {
        match get_hll(db, key, now_ms) {
            Ok(Some(hll)) => {
                use_dense |= format::validate(hll) == Some(Encoding::Dense);
                if let Err(c) = format::merge(&mut max, hll) {
                    return corrupt(c);
                }
            }
            Ok(None) => {}
            Err(reply) => return reply,
        }
    }
    let dest = &argv[1];
    if !db.contains(dest, now_ms) {
        let hll = format::new_sparse().into_boxed_slice();
        db.set(dest, Value::Str(hll), None, now_ms);
    }
    let s = match get_hll_mut(db, dest, now_ms) {
        Ok(Some(s)) => s,
        _ => unreachable!("dest was validated or just created"),
    };
    let merged = edit_in_place(s, |hll| {
        if use_dense {
            format::to_dense(hll)?;
        }
        for (i, &m) in max.iter().enumerate().filter(|(_, m)| **m > 0) {
            // Redis ignores a failure here: dest was validated above.
            let _ = format::raise(hll, i, m, max_bytes);
        }
        format::invalidate_cache(hll);
        Ok(())
    });
    match merged {
        Ok(()) => {
            ctx.notify(notify::STRING, "pfadd", dest);
            Reply::ok()
        }
        Err(c) => corrupt(c),
    }
}

// ---------------------------------------------------------------------------------------------
// PFDEBUG, PFSELFTEST

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key. The key is checked before the subcommand
/// name. GETREG and TODENSE convert a sparse HLL to dense (a write, as in Redis).
fn pfdebug(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let s = match get_hll_mut(ctx.db(), &argv[2], now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::error_static(NO_KEY),
        Err(reply) => return reply,
    };
    let sub = c_str(&argv[1]);
    let encoding = format::validate(s).expect("validated");
    if eq_ignore_case(sub, "getreg") {
        if let Err(c) = edit_in_place(s, format::to_dense) {
            return corrupt(c);
        }
        let regs = format::dense_registers(s).map(|r| Reply::Int(i64::from(r)));
        Reply::Array(regs.collect())
    } else if eq_ignore_case(sub, "decode") {
        if encoding != Encoding::Sparse {
            return Reply::error_static("ERR HLL encoding is not sparse");
        }
        Reply::bulk(Bytes::from(format::decode_sparse(s)))
    } else if eq_ignore_case(sub, "encoding") {
        Reply::simple(encoding.name())
    } else if eq_ignore_case(sub, "todense") {
        match edit_in_place(s, format::to_dense) {
            Ok(converted) => Reply::Int(i64::from(converted)),
            Err(c) => corrupt(c),
        }
    } else {
        // Redis formats the name with %s and keeps errors on one line.
        let mut text = b"ERR Unknown PFDEBUG subcommand '".to_vec();
        text.extend(
            sub.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        text.push(b'\'');
        Reply::Error(Bytes::from(text))
    }
}

/// Redis reads subcommand names as C strings: the bytes up to the first NUL.
fn c_str(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|&b| b == 0)
        .map_or(arg, |nul| &arg[..nul])
}

/// PFSELFTEST: checks the register layout and the estimator (about a second of work, as in
/// Redis). It touches no key, so it runs as a read with the node's randomness.
fn pfselftest(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    let max_bytes = sparse_max_bytes(ctx.engine);
    let rng = &mut ctx.rng;
    match format::self_test(|| rng.next_u64(), max_bytes) {
        Ok(()) => Reply::ok(),
        Err(text) => Reply::error(format!("ERR {text}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The table (metadata from Redis 7.0.15's COMMAND INFO and COMMAND DOCS)

const HLL: u32 = acl::HYPERLOGLOG;
const G: Group = Group::HyperLogLog;
const PFDEBUG_KEY: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("pfadd", -2, WRITE | DENYOOM | FAST, HLL, Keys::ONE, G, "2.8.9", "Adds the specified elements to the specified HyperLogLog.", Handler::Write(no_syntax, pfadd)).complexity("O(1) to add every element."),
    // Logged although READONLY: it may store the cardinality it computes (see the module doc).
    cmd("pfcount", -2, READONLY | MAY_REPLICATE, HLL, Keys::ALL, G, "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", Handler::Write(no_syntax, pfcount)).complexity("O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
    cmd("pfmerge", -2, WRITE | DENYOOM, HLL, Keys::ALL, G, "2.8.9", "Merge N different HyperLogLogs into a single one.", Handler::Write(no_syntax, pfmerge)).complexity("O(N) to merge N HyperLogLogs, but with high constant times."),
    cmd("pfdebug", 3, WRITE | DENYOOM | ADMIN, HLL, PFDEBUG_KEY, G, "2.8.9", "Internal commands for debugging HyperLogLog values", Handler::Write(no_syntax, pfdebug)).complexity("N/A"),
    cmd("pfselftest", 1, ADMIN, HLL, Keys::NONE, G, "2.8.9", "An internal command for testing HyperLogLog values", Handler::Read(pfselftest)).complexity("N/A"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    #[test]
    fn pfcount_stores_the_cardinality_it_computes() {
        let mut h = Harness::new();
        h.cmd("PFADD h a b c");
        let stale = h.cmd("GET h");
        assert_eq!(h.cmd("PFCOUNT h"), Reply::Int(3));
        let fresh = h.cmd("GET h");
        let (Reply::Bulk(stale), Reply::Bulk(fresh)) = (stale, fresh) else {
            panic!("strings");
        };
        assert_eq!(stale[15], 0x80);
        assert_eq!(&fresh[8..16], &3u64.to_le_bytes());
        assert_eq!(stale[16..], fresh[16..]);
    }

    #[test]
    fn a_restored_engine_counts_and_caches_the_same() {
        let mut h = Harness::new();
        h.cmd("PFADD h a b c d e f g");
        h.cmd("PFMERGE m h nothere");
        let restored = crate::Engine::restore(&h.engine.snapshot(), 16).expect("restore");
        let mut again = Harness::new();
        again.engine = restored;
        for line in ["PFCOUNT m", "GET m", "PFADD m z", "GET m"] {
            assert_eq!(h.cmd(line), again.cmd(line), "{line}");
        }
    }

    #[test]
    fn getreg_lists_every_register_and_makes_the_hll_dense() {
        let mut h = Harness::new();
        h.cmd("PFADD q a b c");
        let Reply::Array(regs) = h.cmd("PFDEBUG GETREG q") else {
            panic!("an array");
        };
        assert_eq!(regs.len(), REGISTERS);
        // Where Redis puts a, b and c (see format.rs).
        for (i, reg) in regs.iter().enumerate() {
            let want = match i {
                12711 => 2,
                15780 | 8436 => 1,
                _ => 0,
            };
            assert_eq!(*reg, Reply::Int(want), "register {i}");
        }
        assert_eq!(h.cmd("PFDEBUG ENCODING q"), Reply::simple("dense"));
        assert_eq!(h.cmd("PFCOUNT q"), Reply::Int(3));
    }

    #[test]
    fn rows_carry_redis_metadata() {
        let row = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect("row");
        assert_eq!(
            row("pfcount").acl_categories(),
            acl::READ | acl::HYPERLOGLOG | acl::SLOW
        );
        assert_eq!(
            row("pfdebug").acl_categories(),
            acl::WRITE | acl::HYPERLOGLOG | acl::ADMIN | acl::DANGEROUS | acl::SLOW
        );
        assert_eq!(row("pfdebug").key_indices(3).collect::<Vec<_>>(), [2]);
        assert_eq!(row("pfmerge").key_indices(4).collect::<Vec<_>>(), [1, 2, 3]);
    }
}
