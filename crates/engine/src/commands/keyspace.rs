//! The keyspace family (Redis's "generic" group): commands that work on keys whatever their
//! type. DEL, UNLINK, EXISTS, TOUCH, the EXPIRE and TTL families, PERSIST, TYPE, RENAME,
//! RENAMENX, COPY, MOVE, KEYS, SCAN, RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB and OBJECT,
//! with Redis 7.0.15's semantics (src/db.c, src/expire.c, src/object.c).
//!
//! Access times: like Redis's `lookupKey`, commands that look a key up for reading or writing
//! touch it (OBJECT IDLETIME restarts), except those Redis marks `LOOKUP_NOTOUCH`: EXISTS,
//! TYPE, the TTL family, OBJECT and SCAN's TYPE filter.
//!
//! Multi-database commands (MOVE, COPY … DB, SWAPDB, FLUSHALL) go through `ctx.engine`. The
//! number of databases is engine state, unknown to `check()`: a database index is parsed
//! there, and its upper bound is enforced in `apply`.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{
    DB_OUT_OF_RANGE, NO_SUCH_KEY, bulk, cmd, eq_ignore_case, int_arg, not_integer, parse_i64,
    syntax_error,
};
use crate::engine::{ReadCtx, WriteCtx};
use crate::glob;
use crate::notify;
use crate::table::key::{ACCESS, DELETE, INSERT, OW, RM, RO, RW, UPDATE};
use crate::table::{Group, Handler, KeySpec, Keys, Spec, acl, flag::*};
use crate::value::Value;

const KS: u32 = acl::KEYSPACE;
const G: Group = Group::Generic;
/// OBJECT's subcommands take their key as the second argument.
const KEY2: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};
/// RENAME, COPY: the source and the destination key.
const TWO_KEYS: Keys = Keys {
    first: 1,
    last: 2,
    step: 1,
};

/// RENAME, RENAMENX, COPY: the source is read (and deleted), the destination overwritten.
const RENAME_KEYS: &[KeySpec] = &[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, OW | UPDATE),
];
const RENAMENX_KEYS: &[KeySpec] = &[
    KeySpec::at(1, RW | ACCESS | DELETE),
    KeySpec::at(2, OW | INSERT),
];
const COPY_KEYS: &[KeySpec] = &[KeySpec::at(1, RO | ACCESS), KeySpec::at(2, OW | UPDATE)];

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("del", -2, WRITE, KS, Keys::ALL, G, "1.0.0", "Delete a key", Handler::Write(ok_check, del)).key_flags(RM | DELETE)
        .complexity("O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."),
    cmd("unlink", -2, WRITE | FAST, KS, Keys::ALL, G, "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", Handler::Write(ok_check, del)).key_flags(RM | DELETE)
        .complexity("O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of."),
    cmd("exists", -2, READONLY | FAST, KS, Keys::ALL, G, "1.0.0", "Determine if a key exists", Handler::Read(exists)).key_flags(RO)
        .complexity("O(N) where N is the number of keys to check."),
    cmd("touch", -2, READONLY | FAST, KS, Keys::ALL, G, "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", Handler::Read(touch)).key_flags(RO)
        .complexity("O(N) where N is the number of keys that will be touched."),
    cmd("expire", -3, WRITE | FAST, KS, Keys::ONE, G, "1.0.0", "Set a key's time to live in seconds", Handler::Write(expire_check::<false, false>, expire::<false, false>)).key_flags(RW | UPDATE)
        .complexity("O(1)"),
    cmd("pexpire", -3, WRITE | FAST, KS, Keys::ONE, G, "2.6.0", "Set a key's time to live in milliseconds", Handler::Write(expire_check::<true, false>, expire::<true, false>)).key_flags(RW | UPDATE)
        .complexity("O(1)"),
    cmd("expireat", -3, WRITE | FAST, KS, Keys::ONE, G, "1.2.0", "Set the expiration for a key as a UNIX timestamp", Handler::Write(expire_check::<false, true>, expire::<false, true>)).key_flags(RW | UPDATE)
        .complexity("O(1)"),
    cmd("pexpireat", -3, WRITE | FAST, KS, Keys::ONE, G, "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", Handler::Write(expire_check::<true, true>, expire::<true, true>)).key_flags(RW | UPDATE)
        .complexity("O(1)"),
    cmd("ttl", 2, READONLY | FAST, KS, Keys::ONE, G, "1.0.0", "Get the time to live for a key in seconds", Handler::Read(ttl::<false, false>))
        .complexity("O(1)"),
    cmd("pttl", 2, READONLY | FAST, KS, Keys::ONE, G, "2.6.0", "Get the time to live for a key in milliseconds", Handler::Read(ttl::<true, false>))
        .complexity("O(1)"),
    cmd("expiretime", 2, READONLY | FAST, KS, Keys::ONE, G, "7.0.0", "Get the expiration Unix timestamp for a key", Handler::Read(ttl::<false, true>))
        .complexity("O(1)"),
    cmd("pexpiretime", 2, READONLY | FAST, KS, Keys::ONE, G, "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", Handler::Read(ttl::<true, true>))
        .complexity("O(1)"),
    cmd("persist", 2, WRITE | FAST, KS, Keys::ONE, G, "2.2.0", "Remove the expiration from a key", Handler::Write(ok_check, persist)).key_flags(RW | UPDATE)
        .complexity("O(1)"),
    cmd("type", 2, READONLY | FAST, KS, Keys::ONE, G, "1.0.0", "Determine the type stored at key", Handler::Read(type_)).key_flags(RO)
        .complexity("O(1)"),
    cmd("rename", 3, WRITE, KS, TWO_KEYS, G, "1.0.0", "Rename a key", Handler::Write(ok_check, rename::<false>)).key_specs(RENAME_KEYS)
        .complexity("O(1)"),
    cmd("renamenx", 3, WRITE | FAST, KS, TWO_KEYS, G, "1.0.0", "Rename a key, only if the new key does not exist", Handler::Write(ok_check, rename::<true>)).key_specs(RENAMENX_KEYS)
        .complexity("O(1)"),
    cmd("copy", -3, WRITE | DENYOOM, KS, TWO_KEYS, G, "6.2.0", "Copy a key", Handler::Write(copy_check, copy)).key_specs(COPY_KEYS)
        .complexity("O(N) worst case for collections, where N is the number of nested items. O(1) for string values."),
    cmd("move", 3, WRITE | FAST, KS, Keys::ONE, G, "1.0.0", "Move a key to another database", Handler::Write(move_check, move_))
        .complexity("O(1)"),
    cmd("keys", 2, READONLY, KS | acl::DANGEROUS, Keys::NONE, G, "1.0.0", "Find all keys matching the given pattern", Handler::Read(keys))
        .complexity("O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."),
    cmd("scan", -2, READONLY, KS, Keys::NONE, G, "2.8.0", "Incrementally iterate the keys space", Handler::Read(scan))
        .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
    cmd("randomkey", 1, READONLY, KS, Keys::NONE, G, "1.0.0", "Return a random key from the keyspace", Handler::Read(randomkey))
        .complexity("O(1)"),
    cmd("dbsize", 1, READONLY | FAST, KS, Keys::NONE, G, "1.0.0", "Return the number of keys in the selected database", Handler::Read(dbsize))
        .complexity("O(1)"),
    cmd("flushdb", -1, WRITE, KS | acl::DANGEROUS, Keys::NONE, G, "1.0.0", "Remove all keys from the current database", Handler::Write(flush_check, flushdb))
        .complexity("O(N) where N is the number of keys in the selected database"),
    cmd("flushall", -1, WRITE, KS | acl::DANGEROUS, Keys::NONE, G, "1.0.0", "Remove all keys from all databases", Handler::Write(flush_check, flushall))
        .complexity("O(N) where N is the total number of keys in all databases"),
    cmd("swapdb", 3, WRITE | FAST, KS | acl::DANGEROUS, Keys::NONE, G, "4.0.0", "Swaps two Redis databases", Handler::Write(swapdb_check, swapdb))
        .complexity("O(N) where N is the count of clients watching or blocking on keys from both databases."),
    cmd("object", -2, 0, 0, Keys::NONE, G, "2.2.3", "A container for object introspection commands", Handler::Container)
        .complexity("Depends on subcommand.").sub(OBJECT),
];

#[rustfmt::skip]
static OBJECT: &[Spec] = &[
    cmd("encoding", 3, READONLY, KS, KEY2, G, "2.2.3", "Inspect the internal encoding of a Redis object", Handler::Read(object_encoding)).key_flags(RO)
        .complexity("O(1)"),
    cmd("freq", 3, READONLY, KS, KEY2, G, "4.0.0", "Get the logarithmic access frequency counter of a Redis object", Handler::Read(object_freq)).key_flags(RO)
        .complexity("O(1)"),
    cmd("idletime", 3, READONLY, KS, KEY2, G, "2.2.3", "Get the time since a Redis object was last accessed", Handler::Read(object_idletime)).key_flags(RO)
        .complexity("O(1)"),
    cmd("refcount", 3, READONLY, KS, KEY2, G, "2.2.3", "Get the number of references to the value of the key", Handler::Read(object_refcount)).key_flags(RO)
        .complexity("O(1)"),
    cmd("help", 2, LOADING | STALE, KS, Keys::NONE, G, "6.2.0", "Show helpful text about the different subcommands", Handler::Read(object_help))
        .complexity("O(1)"),
];

// ---------------------------------------------------------------------------------------------
// Low level: errors and argument parsing

const SAME_OBJECT: &str = "ERR source and destination objects are the same";
const NOT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const INVALID_CURSOR: &str = "ERR invalid cursor";

/// For writes whose arguments cannot be wrong once arity holds.
fn ok_check(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

/// Redis's `getIntFromObjectOrReply`: an integer that fits in a C `int`. `msg` replaces both
/// errors when given (SWAPDB's "invalid first DB index").
fn int32_arg(arg: &[u8], msg: Option<&'static str>) -> Result<i32, Reply> {
    let value = parse_i64(arg).ok_or_else(|| msg.map_or_else(not_integer, Reply::error_static))?;
    i32::try_from(value).map_err(|_| match msg {
        Some(msg) => Reply::error_static(msg),
        None => Reply::error_static(
            "ERR value is out of range, value must between -2147483648 and 2147483647",
        ),
    })
}

/// A database index below `databases`. `check()` does not know the number of databases and
/// passes `None`: only negative indexes are rejected then.
fn db_index(index: i32, databases: Option<usize>) -> Result<usize, Reply> {
    usize::try_from(index)
        .ok()
        .filter(|&i| i < databases.unwrap_or(usize::MAX))
        .ok_or_else(|| Reply::error_static(DB_OUT_OF_RANGE))
}

/// EXPIRE's NX/XX/GT/LT, as bits.
mod cond {
    pub const NX: u8 = 1;
    pub const XX: u8 = 2;
    pub const GT: u8 = 4;
    pub const LT: u8 = 8;
}

/// `EXPIRE key time [NX|XX|GT|LT]`: the conditions and the time in milliseconds, relative
/// for EXPIRE/PEXPIRE, absolute for the *AT forms. Options are checked before the time, as
/// Redis does.
fn parse_expire<const MS: bool>(argv: &[Bytes], name: &str) -> Result<(u8, i64), Reply> {
    let mut conds = 0;
    for opt in &argv[3..] {
        conds |= match opt.to_ascii_lowercase().as_slice() {
            b"nx" => cond::NX,
            b"xx" => cond::XX,
            b"gt" => cond::GT,
            b"lt" => cond::LT,
            _ => return Err(unsupported_option(opt)),
        };
    }
    if conds & cond::NX != 0 && conds & (cond::XX | cond::GT | cond::LT) != 0 {
        return Err(Reply::error_static(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if conds & cond::GT != 0 && conds & cond::LT != 0 {
        return Err(Reply::error_static(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let when = int_arg(&argv[2])?;
    let when_ms = if MS {
        Some(when)
    } else {
        when.checked_mul(1000)
    };
    when_ms
        .map(|ms| (conds, ms))
        .ok_or_else(|| invalid_expire_time(name))
}

/// Redis prints the option with `%s`: its bytes up to the first NUL, raw, with newlines
/// made spaces so the error stays one line.
fn unsupported_option(opt: &[u8]) -> Reply {
    let opt = opt.split(|&b| b == 0).next().unwrap_or_default();
    let mut text = b"ERR Unsupported option ".to_vec();
    text.extend(
        opt.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    Reply::Error(Bytes::from(text))
}

fn invalid_expire_time(name: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{name}' command"))
}

fn expire_name(ms: bool, at: bool) -> &'static str {
    match (ms, at) {
        (false, false) => "expire",
        (true, false) => "pexpire",
        (false, true) => "expireat",
        (true, true) => "pexpireat",
    }
}

/// COPY's options: the destination database (`None`: the current one) and REPLACE.
struct CopyArgs {
    db: Option<usize>,
    replace: bool,
}

/// Parses COPY's options left to right, as Redis does: a bad DB index is reported before
/// any later syntax error. In `check()` (`databases` is `None`) parsing stops at the first
/// index that may be valid; `apply` parses again with the real bound.
fn parse_copy(argv: &[Bytes], databases: Option<usize>) -> Result<CopyArgs, Reply> {
    let mut args = CopyArgs {
        db: None,
        replace: false,
    };
    let mut j = 3;
    while j < argv.len() {
        if eq_ignore_case(&argv[j], "replace") {
            args.replace = true;
        } else if eq_ignore_case(&argv[j], "db") && j + 1 < argv.len() {
            args.db = Some(db_index(int32_arg(&argv[j + 1], None)?, databases)?);
            if databases.is_none() {
                return Ok(args);
            }
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(args)
}

/// FLUSHDB/FLUSHALL take nothing, SYNC or ASYNC (both mean "now" here: the engine frees
/// memory as it applies the entry).
fn flush_check(argv: &[Bytes]) -> Result<(), Reply> {
    match argv {
        [_] => Ok(()),
        [_, mode] if eq_ignore_case(mode, "sync") || eq_ignore_case(mode, "async") => Ok(()),
        _ => Err(syntax_error()),
    }
}

/// SWAPDB's two indexes; both must parse before either is range-checked.
fn parse_swapdb(argv: &[Bytes], databases: Option<usize>) -> Result<(usize, usize), Reply> {
    let a = int32_arg(&argv[1], Some("ERR invalid first DB index"))?;
    let b = int32_arg(&argv[2], Some("ERR invalid second DB index"))?;
    Ok((db_index(a, databases)?, db_index(b, databases)?))
}

/// Redis parses a SCAN cursor with `strtoul`: an optional sign (a negative value wraps, as
/// in C), decimal digits and nothing else, no leading space; the empty string is cursor 0.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (negative, digits) = match arg.first() {
        None => return Some(0),
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// SCAN's options after the cursor.
struct ScanArgs<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
    type_name: Option<&'a [u8]>,
}

/// SCAN's default COUNT.
const SCAN_COUNT_DEFAULT: usize = 10;

fn parse_scan(argv: &[Bytes]) -> Result<ScanArgs<'_>, Reply> {
    let mut args = ScanArgs {
        count: SCAN_COUNT_DEFAULT,
        pattern: None,
        type_name: None,
    };
    let mut i = 2;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if eq_ignore_case(&argv[i], "count") && has_value {
            let count = int_arg(&argv[i + 1])?;
            args.count = usize::try_from(count)
                .ok()
                .filter(|&c| c >= 1)
                .ok_or_else(syntax_error)?;
        } else if eq_ignore_case(&argv[i], "match") && has_value {
            // "*" matches everything, so Redis skips matching for it (even for the empty key).
            args.pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
        } else if eq_ignore_case(&argv[i], "type") && has_value {
            args.type_name = Some(&argv[i + 1]);
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Commands: existence and deletion

/// DEL and UNLINK (memory is freed as the entry applies, so they are the same here).
fn del(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let mut deleted = 0;
    for key in &argv[1..] {
        ctx.db().expire_if_due(key, now_ms);
        if ctx.db().remove(key).is_some() {
            deleted += 1;
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Reply::Int(deleted)
}

/// EXISTS counts a key once per time it is named.
fn exists(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    Reply::Int(
        argv[1..]
            .iter()
            .filter(|key| db.contains(key, ctx.now_ms))
            .count() as i64,
    )
}

fn touch(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut touched = 0;
    for key in &argv[1..] {
        if db.lookup(key, ctx.now_ms).is_some() {
            touched += 1;
        }
    }
    Reply::Int(touched)
}

fn type_(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let slot = ctx.db().get(&argv[1], ctx.now_ms);
    Reply::simple(slot.map_or("none", |s| s.value.type_name()))
}

// ---------------------------------------------------------------------------------------------
// Commands: expiry

fn expire_check<const MS: bool, const AT: bool>(argv: &[Bytes]) -> Result<(), Reply> {
    parse_expire::<MS>(argv, expire_name(MS, AT)).map(drop)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (Redis's `expireGenericCommand`). A time at or
/// before now deletes the key (and still answers 1).
fn expire<const MS: bool, const AT: bool>(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let name = expire_name(MS, AT);
    let (conds, when_ms) = match parse_expire::<MS>(argv, name) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    // Relative times count from the entry's time; the sum must fit in an i64.
    let base_ms = if AT { 0 } else { ctx.now_ms as i64 };
    let Some(when_ms) = when_ms.checked_add(base_ms) else {
        return invalid_expire_time(name);
    };
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    let key = &argv[1];
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Reply::Int(0);
    };
    // A key without TTL counts as expiring at infinity (GT never beats it, LT always does).
    let current_ms = slot.expire_at_ms().map(|at| at as i64);
    let refused = (conds & cond::NX != 0 && current_ms.is_some())
        || (conds & cond::XX != 0 && current_ms.is_none())
        || (conds & cond::GT != 0 && current_ms.is_none_or(|at| when_ms <= at))
        || (conds & cond::LT != 0 && current_ms.is_some_and(|at| when_ms >= at));
    if refused {
        return Reply::Int(0);
    }
    match u64::try_from(when_ms) {
        Ok(at) if at > now_ms => {
            db.set_expire(key, Some(at));
            ctx.notify(notify::GENERIC, "expire", key);
        }
        _ => {
            db.remove(key);
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Reply::Int(1)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for a missing key, -1 without TTL; seconds are
/// rounded to the nearest, as Redis does (its `(ttl+500)/1000` overflows near `i64::MAX`,
/// and Redis 7.0.15 then answers as if it had computed in unsigned arithmetic, as we do).
fn ttl<const MS: bool, const ABS: bool>(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.db().get(&argv[1], ctx.now_ms) else {
        return Reply::Int(-2);
    };
    let Some(at_ms) = slot.expire_at_ms() else {
        return Reply::Int(-1);
    };
    let ms = if ABS {
        at_ms
    } else {
        at_ms.saturating_sub(ctx.now_ms)
    };
    let out = if MS {
        ms
    } else {
        ms.saturating_add(500) / 1000
    };
    Reply::Int(i64::try_from(out).unwrap_or(i64::MAX))
}

fn persist(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    let Some(slot) = db.lookup_mut(&argv[1], now_ms) else {
        return Reply::Int(0);
    };
    if slot.expire_at_ms().is_none() {
        return Reply::Int(0);
    }
    db.set_expire(&argv[1], None);
    ctx.notify(notify::GENERIC, "persist", &argv[1]);
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// Commands: renaming and copying

/// RENAME (`NX` false) and RENAMENX: the value and its TTL move to the new name.
fn rename<const NX: bool>(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (src, dst) = (&argv[1], &argv[2]);
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    if db.lookup_mut(src, now_ms).is_none() {
        return Reply::error_static(NO_SUCH_KEY);
    }
    let done = if NX { Reply::Int(1) } else { Reply::ok() };
    if src == dst {
        return if NX { Reply::Int(0) } else { done };
    }
    if db.get_mut(dst, now_ms).is_some() {
        if NX {
            return Reply::Int(0);
        }
        db.remove(dst);
    }
    let slot = db.remove(src).expect("looked up above");
    let expire_at_ms = slot.expire_at_ms();
    let wakes = blocked_clients_may_wait(&slot.value);
    db.set(dst, slot.value, expire_at_ms, now_ms);
    if wakes {
        ctx.signal_ready(dst);
    }
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    done
}

/// A key of this type may be what a blocked client waits for (BLPOP, BZPOPMIN …).
fn blocked_clients_may_wait(value: &Value) -> bool {
    matches!(value, Value::List(_) | Value::ZSet(_))
}

fn copy_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_copy(argv, None).map(drop)
}

/// `COPY source destination [DB index] [REPLACE]`: the copy keeps the source's TTL.
fn copy(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_copy(argv, Some(ctx.engine.databases())) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let (key, new_key) = (&argv[1], &argv[2]);
    let dst_db = args.db.unwrap_or(ctx.db);
    if dst_db == ctx.db && key == new_key {
        return Reply::error_static(SAME_OBJECT);
    }
    let now_ms = ctx.now_ms;
    let Some(slot) = ctx.db().lookup_mut(key, now_ms) else {
        return Reply::Int(0);
    };
    let (value, expire_at_ms) = (slot.value.clone(), slot.expire_at_ms());
    let dst = ctx.engine.db_mut(dst_db);
    if dst.get_mut(new_key, now_ms).is_some() {
        if !args.replace {
            return Reply::Int(0);
        }
        dst.remove(new_key);
    }
    let wakes = blocked_clients_may_wait(&value);
    dst.set(new_key, value, expire_at_ms, now_ms);
    if wakes {
        ctx.signal_ready_in(dst_db, new_key);
    }
    ctx.notify_in(dst_db, notify::GENERIC, "copy_to", new_key);
    Reply::Int(1)
}

fn move_check(argv: &[Bytes]) -> Result<(), Reply> {
    db_index(int32_arg(&argv[2], None)?, None).map(drop)
}

/// `MOVE key db`: 1 if moved, 0 if the key is missing here or present there.
fn move_(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let dst_db =
        match int32_arg(&argv[2], None).and_then(|i| db_index(i, Some(ctx.engine.databases()))) {
            Ok(db) => db,
            Err(reply) => return reply,
        };
    if dst_db == ctx.db {
        return Reply::error_static(SAME_OBJECT);
    }
    let (key, now_ms) = (&argv[1], ctx.now_ms);
    if ctx.db().lookup_mut(key, now_ms).is_none() {
        return Reply::Int(0);
    }
    if ctx.engine.db_mut(dst_db).get_mut(key, now_ms).is_some() {
        return Reply::Int(0);
    }
    let slot = ctx.db().remove(key).expect("looked up above");
    let expire_at_ms = slot.expire_at_ms();
    if blocked_clients_may_wait(&slot.value) {
        ctx.signal_ready_in(dst_db, key);
    }
    ctx.engine
        .db_mut(dst_db)
        .set(key, slot.value, expire_at_ms, now_ms);
    ctx.notify(notify::GENERIC, "move_from", key);
    ctx.notify_in(dst_db, notify::GENERIC, "move_to", key);
    Reply::Int(1)
}

// ---------------------------------------------------------------------------------------------
// Commands: iteration

fn keys(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let pattern = &argv[1];
    // Like Redis, "*" skips matching, so it also returns the empty key.
    let all = &pattern[..] == b"*";
    let db = ctx.db();
    let found = db
        .dict()
        .iter()
        .filter(|(key, _)| all || glob::matches(pattern, key, false))
        .filter(|(key, _)| db.contains(key, ctx.now_ms))
        .map(|(key, _)| bulk(key))
        .collect();
    Reply::Array(found)
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`. Like Redis, it walks buckets
/// until it has COUNT keys (or has visited 10 × COUNT buckets), then filters by pattern,
/// type and expiry, so a call may return fewer keys than COUNT, or none.
fn scan(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(mut cursor) = parse_cursor(&argv[1]) else {
        return Reply::error_static(INVALID_CURSOR);
    };
    let args = match parse_scan(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let db = ctx.db();
    let mut found: Vec<Bytes> = Vec::new();
    // Bound the work on a sparse table, as Redis does (its `maxiterations`).
    let mut buckets_left = args.count.saturating_mul(10);
    loop {
        cursor = db
            .dict()
            .scan(cursor, |key, _| found.push(Bytes::copy_from_slice(key)));
        if cursor == 0 || buckets_left == 0 || found.len() >= args.count {
            break;
        }
        buckets_left -= 1;
    }
    let keys = found
        .into_iter()
        .filter(|key| args.pattern.is_none_or(|p| glob::matches(p, key, false)))
        .filter(|key| match db.get(key, ctx.now_ms) {
            Some(slot) => args
                .type_name
                .is_none_or(|t| t.eq_ignore_ascii_case(slot.value.type_name().as_bytes())),
            None => false,
        })
        .map(Reply::Bulk)
        .collect();
    let cursor = itoa::Buffer::new().format(cursor).as_bytes().to_vec();
    Reply::Array(vec![Reply::Bulk(Bytes::from(cursor)), Reply::Array(keys)])
}

/// Random draws before RANDOMKEY falls back to walking the table: with this many misses,
/// nearly every key has expired and a walk is the cheaper way to find a live one.
const RANDOMKEY_TRIES: usize = 100;

/// A live key chosen at random, or nil. Expired keys that no tick has removed yet are
/// skipped (Redis deletes them as it meets them; a read cannot).
fn randomkey(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    let (engine, now_ms, rng) = (ctx.engine, ctx.now_ms, &mut ctx.rng);
    let db = engine.db(ctx.db);
    for _ in 0..RANDOMKEY_TRIES {
        let Some(key) = db.dict().random_key(|| rng.next_u64()) else {
            return Reply::Nil;
        };
        if db.contains(key, now_ms) {
            return bulk(key);
        }
    }
    let live = db
        .dict()
        .iter()
        .find(|(_, slot)| slot.expire_at_ms().is_none_or(|at| at > now_ms));
    live.map_or(Reply::Nil, |(key, _)| bulk(key))
}

/// Keys in the table, including expired ones no tick has removed yet (as Redis counts).
fn dbsize(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    Reply::Int(ctx.db().len() as i64)
}

// ---------------------------------------------------------------------------------------------
// Commands: whole databases

fn flushdb(ctx: &mut WriteCtx, _argv: &[Bytes]) -> Reply {
    ctx.db().clear();
    // Clients blocked in XREADGROUP learn their stream is gone.
    let db = ctx.db;
    ctx.signal_ready_db(db);
    Reply::ok()
}

fn flushall(ctx: &mut WriteCtx, _argv: &[Bytes]) -> Reply {
    for index in 0..ctx.engine.databases() {
        ctx.engine.db_mut(index).clear();
        ctx.signal_ready_db(index);
    }
    Reply::ok()
}

fn swapdb_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_swapdb(argv, None).map(drop)
}

fn swapdb(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match parse_swapdb(argv, Some(ctx.engine.databases())) {
        Ok((a, b)) => {
            ctx.engine.swap_dbs(a, b);
            // Clients blocked in either database may now find what they wait for.
            ctx.signal_ready_db(a);
            ctx.signal_ready_db(b);
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: OBJECT. Lookups here never touch the key (Redis's LOOKUP_NOTOUCH).

fn object_encoding(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let slot = ctx.db().get(&argv[2], ctx.now_ms);
    slot.map_or(Reply::Nil, |s| Reply::bulk(s.value.encoding()))
}

/// The access frequency counter, decayed to now: tracked only under an LFU eviction policy
/// (the node's, `crate::evict`).
fn object_freq(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.db().get(&argv[2], ctx.now_ms) else {
        return Reply::Nil;
    };
    let tracking = ctx.db().tracking();
    if !tracking.lfu {
        return Reply::error_static(NOT_LFU);
    }
    Reply::Int(i64::from(
        slot.lfu_counter(ctx.now_ms, tracking.lfu_decay_time),
    ))
}

/// Seconds since the last access; not tracked under an LFU eviction policy.
fn object_idletime(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.db().get(&argv[2], ctx.now_ms) else {
        return Reply::Nil;
    };
    if ctx.db().tracking().lfu {
        return Reply::error_static(LFU_SELECTED);
    }
    Reply::Int(slot.idle_s(ctx.now_ms) as i64)
}

/// Redis shares one object for the integers 0..=9999 (`OBJ_SHARED_INTEGERS`) and reports
/// its refcount as `INT_MAX`; every other value has one reference.
fn object_refcount(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.db().get(&argv[2], ctx.now_ms) else {
        return Reply::Nil;
    };
    let shared = slot.value.encoding() == "int"
        && slot
            .value
            .as_str()
            .and_then(parse_i64)
            .is_some_and(|v| (0..10_000).contains(&v));
    Reply::Int(if shared { i64::from(i32::MAX) } else { 1 })
}

fn object_help(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().copied().map(Reply::simple).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::testing::Harness;
    use crate::value::Value;

    fn put(h: &mut Harness, key: &[u8], expire_at_ms: Option<u64>) {
        let now_ms = h.clock_ms;
        h.engine
            .db_mut(0)
            .set(key, Value::str(b"v"), expire_at_ms, now_ms);
    }

    /// One SCAN call: the next cursor and the keys.
    fn scan_once(h: &mut Harness, cursor: u64, count: usize) -> (u64, Vec<Vec<u8>>) {
        let argv: Vec<Bytes> = ["SCAN", &cursor.to_string(), "COUNT", &count.to_string()]
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        let Reply::Array(parts) = h.run(&argv) else {
            panic!("SCAN replies an array")
        };
        let [Reply::Bulk(next), Reply::Array(keys)] = &parts[..] else {
            panic!("bad reply")
        };
        let next = std::str::from_utf8(next).unwrap().parse().unwrap();
        let keys = keys
            .iter()
            .map(|k| match k {
                Reply::Bulk(k) => k.to_vec(),
                other => panic!("key {other:?}"),
            })
            .collect();
        (next, keys)
    }

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"-18446744073709551615"), Some(1));
        for bad in [
            &b"18446744073709551616"[..],
            b"-",
            b"+",
            b" 1",
            b"1 ",
            b"0x1",
            b"1.0",
            b"--1",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn randomkey_finds_the_one_live_key_among_expired_ones() {
        let mut h = Harness::new();
        let past = h.clock_ms - 1;
        for i in 0..5000 {
            put(&mut h, format!("dead{i}").as_bytes(), Some(past));
        }
        put(&mut h, b"alive", None);
        for _ in 0..5 {
            assert_eq!(h.cmd("RANDOMKEY"), bulk(b"alive"));
        }
    }

    #[test]
    fn randomkey_returns_every_key_eventually() {
        let mut h = Harness::new();
        for i in 0..20 {
            put(&mut h, format!("k{i}").as_bytes(), None);
        }
        let mut seen = BTreeSet::new();
        for _ in 0..2000 {
            let Reply::Bulk(key) = h.cmd("RANDOMKEY") else {
                panic!("a key")
            };
            seen.insert(key);
        }
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn scan_filters_expired_keys_after_collecting() {
        let mut h = Harness::new();
        let past = h.clock_ms - 1;
        for i in 0..1000 {
            put(&mut h, format!("dead{i}").as_bytes(), Some(past));
        }
        for i in 0..10 {
            put(&mut h, format!("live{i}").as_bytes(), None);
        }
        // Each call collects about COUNT keys and then drops the expired ones, so most calls
        // return nothing; a full iteration still returns every live key, and only those.
        let (mut cursor, mut seen, mut empty_calls) = (0, BTreeSet::new(), 0);
        loop {
            let (next, keys) = scan_once(&mut h, cursor, 5);
            empty_calls += usize::from(keys.is_empty());
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let live: BTreeSet<Vec<u8>> = (0..10).map(|i| format!("live{i}").into_bytes()).collect();
        assert_eq!(seen, live);
        assert!(empty_calls > 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Redis's SCAN guarantee: a key present for the whole iteration is returned at least
        /// once, however the table grows or shrinks between calls; nothing else appears but
        /// keys that existed at some point.
        #[test]
        fn scan_returns_every_key_present_throughout(
            stable in 0usize..300,
            churn in prop::collection::vec((any::<bool>(), 0u32..400), 0..60),
            count in 1usize..30,
        ) {
            let mut h = Harness::new();
            let mut ever = BTreeSet::new();
            for i in 0..stable {
                let key = format!("stable{i}").into_bytes();
                put(&mut h, &key, None);
                ever.insert(key);
            }
            let (mut cursor, mut seen, mut step) = (0, BTreeSet::new(), 0);
            loop {
                let (next, keys) = scan_once(&mut h, cursor, count);
                seen.extend(keys);
                cursor = next;
                if cursor == 0 {
                    break;
                }
                // Between calls: insert or delete a burst of temporary keys.
                if let Some(&(insert, n)) = churn.get(step % churn.len().max(1)) {
                    for i in 0..n {
                        let key = format!("tmp{i}").into_bytes();
                        if insert {
                            put(&mut h, &key, None);
                            ever.insert(key);
                        } else {
                            h.engine.db_mut(0).remove(&key);
                        }
                    }
                }
                step += 1;
                prop_assert!(step < 100_000, "SCAN did not terminate");
            }
            for i in 0..stable {
                let key = format!("stable{i}").into_bytes();
                prop_assert!(seen.contains(&key), "missed stable{}", i);
            }
            prop_assert!(seen.is_subset(&ever));
        }
    }
}
