//! The string family: SET and its variants, GET and its variants, counters, ranges and LCS,
//! with Redis 7.0.15's semantics (`src/t_string.c`), replies and errors.
//!
//! Sections, low level first: limits and errors, typed access to the keyspace, the SET/GETEX
//! option parser and expire arithmetic, then the commands, then the table.
//!
//! Where the syntax check runs: option words, and every argument Redis parses before it looks
//! the key up, are checked in `check` (rejected before the log). Whatever Redis parses *after*
//! the lookup (GETEX's expire value, INCRBYFLOAT's increment, LCS's options) is checked in
//! apply, so a missing key or a wrong type answers first, exactly as in Redis.

pub(crate) mod long_double;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{
    OVERFLOW, cmd, eq_ignore_case, i64_bytes, int_arg, not_integer, parse_i64, syntax_error,
    wrong_type,
};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::key::{ACCESS, DELETE, INSERT, OW, RO, RW, UPDATE, VARIABLE_FLAGS};
use crate::table::{Group, Handler, Keys, Spec, acl, arity_error, flag::*};
use crate::value::Value;
use long_double::LongDouble;

// ---------------------------------------------------------------------------------------------
// Limits and errors

/// The longest string APPEND and SETRANGE may build: Redis's `proto-max-bulk-len` default,
/// 512 MiB. Making it configurable is the server's job; the engine uses the default for now.
pub const STRING_LEN_MAX: u64 = 512 * 1024 * 1024;

const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
const DECR_OVERFLOW: &str = "ERR decrement would overflow";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
const LCS_LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";
const LCS_TOO_MUCH_MEMORY: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";

fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

/// Redis's `checkStringLength`: would a string of `len + append` bytes be too long?
fn check_string_len(len: u64, append: u64) -> Result<(), Reply> {
    match len.checked_add(append) {
        Some(total) if total <= STRING_LEN_MAX => Ok(()),
        _ => Err(Reply::error_static(TOO_BIG)),
    }
}

/// Redis compares option words as C strings: the bytes up to the first NUL count
/// (`SET k v "nx\0junk"` is `SET k v NX`).
fn c_str(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|&b| b == 0)
        .map_or(arg, |nul| &arg[..nul])
}

fn is_word(arg: &[u8], word: &str) -> bool {
    eq_ignore_case(c_str(arg), word)
}

/// For writes whose syntax has nothing to check.
fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Typed access: a key holding another type is WRONGTYPE

/// The string at `key`: `Ok(None)` when absent or expired, WRONGTYPE when not a string.
fn get_str<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a [u8]>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    slot.value.as_str().map(Some).ok_or_else(wrong_type)
}

/// For in-place edits (APPEND, SETRANGE): the string at `key`, its TTL untouched. An expired
/// key is removed first, as a write's lookup does in Redis.
fn get_str_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Box<[u8]>>, Reply> {
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    match &mut slot.value {
        Value::Str(s) => Ok(Some(s)),
        _ => Err(wrong_type()),
    }
}

fn bulk_or_nil(value: Option<&[u8]>) -> Reply {
    value.map_or(Reply::Nil, Reply::bulk_copy)
}

fn int_reply(n: usize) -> Reply {
    Reply::Int(n as i64)
}

// ---------------------------------------------------------------------------------------------
// SET/GETEX options and expire times (Redis's parseExtendedStringArgumentsOrReply and
// getExpireMillisecondsOrReply)

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn is_relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

mod opt {
    pub const NX: u16 = 1 << 0;
    pub const XX: u16 = 1 << 1;
    pub const GET: u16 = 1 << 2;
    pub const KEEPTTL: u16 = 1 << 3;
    pub const PERSIST: u16 = 1 << 4;
    pub const EX: u16 = 1 << 5;
    pub const PX: u16 = 1 << 6;
    pub const EXAT: u16 = 1 << 7;
    pub const PXAT: u16 = 1 << 8;
    pub const EXPIRES: u16 = EX | PX | EXAT | PXAT;
}

/// The options of SET (from argv[3]) or GETEX (from argv[2]), with Redis's exact rules: NX and
/// XX exclude each other, KEEPTTL/PERSIST exclude every expire, each expire kind excludes the
/// others but may repeat (the last wins), and GET/NX/XX/KEEPTTL are SET's, PERSIST GETEX's.
#[derive(Debug, Default)]
struct Extended {
    flags: u16,
    /// The expire kind and the index of its value in argv.
    expire: Option<(ExpireKind, usize)>,
}

fn parse_extended(argv: &[Bytes], for_set: bool) -> Result<Extended, Reply> {
    use opt::*;
    let mut ext = Extended::default();
    let mut j = if for_set { 3 } else { 2 };
    while j < argv.len() {
        let arg = &argv[j];
        let f = ext.flags;
        let has_next = j + 1 < argv.len();
        let expire_ok = |kind: u16| has_next && f & (KEEPTTL | PERSIST | (EXPIRES & !kind)) == 0;
        let (flag, allowed) = if is_word(arg, "nx") {
            (NX, for_set && f & XX == 0)
        } else if is_word(arg, "xx") {
            (XX, for_set && f & NX == 0)
        } else if is_word(arg, "get") {
            (GET, for_set)
        } else if is_word(arg, "keepttl") {
            (KEEPTTL, for_set && f & (PERSIST | EXPIRES) == 0)
        } else if is_word(arg, "persist") {
            (PERSIST, !for_set && f & (EXPIRES | KEEPTTL) == 0)
        } else if is_word(arg, "ex") {
            (EX, expire_ok(EX))
        } else if is_word(arg, "px") {
            (PX, expire_ok(PX))
        } else if is_word(arg, "exat") {
            (EXAT, expire_ok(EXAT))
        } else if is_word(arg, "pxat") {
            (PXAT, expire_ok(PXAT))
        } else {
            (0, false)
        };
        if !allowed {
            return Err(syntax_error());
        }
        ext.flags |= flag;
        let kind = match flag {
            EX => ExpireKind::Ex,
            PX => ExpireKind::Px,
            EXAT => ExpireKind::ExAt,
            PXAT => ExpireKind::PxAt,
            _ => {
                j += 1;
                continue;
            }
        };
        ext.expire = Some((kind, j + 1));
        j += 2;
    }
    Ok(ext)
}

/// The clock-free half of an expire argument: an integer, positive, and (for seconds) small
/// enough to become milliseconds. Returns milliseconds, relative or absolute as `kind` says.
fn expire_arg_ms(arg: &[u8], kind: ExpireKind, command: &str) -> Result<i64, Reply> {
    let v = int_arg(arg)?;
    // 1000 ms per second: the product must fit in i64 (Redis's LLONG_MAX / 1000 test).
    if v <= 0 || (kind.in_seconds() && v > i64::MAX / 1000) {
        return Err(invalid_expire(command));
    }
    Ok(if kind.in_seconds() { v * 1000 } else { v })
}

/// The absolute expire time: relative kinds add the entry's clock; overflow is an error.
fn expire_at_ms(ms: i64, kind: ExpireKind, now_ms: u64, command: &str) -> Result<u64, Reply> {
    let at = if kind.is_relative() {
        i64::try_from(now_ms)
            .ok()
            .and_then(|now| ms.checked_add(now))
    } else {
        Some(ms)
    };
    match at {
        Some(at) if at > 0 => Ok(at as u64),
        _ => Err(invalid_expire(command)),
    }
}

// ---------------------------------------------------------------------------------------------
// SET and its variants: SETNX, SETEX, PSETEX, GETSET (Redis's setGenericCommand)

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Always,
    /// Only if the key does not exist.
    Nx,
    /// Only if the key exists.
    Xx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetTtl {
    Clear,
    Keep,
    /// Milliseconds, validated by `expire_arg_ms`.
    Expire(ExpireKind, i64),
}

#[derive(Clone, Copy, Debug)]
struct SetArgs {
    cond: Cond,
    /// Reply with the old value (SET ... GET, GETSET).
    get: bool,
    ttl: SetTtl,
}

/// What `set_generic` did: whether it stored, and the old value when GET asked for it.
struct SetOutcome {
    stored: bool,
    old: Reply,
}

fn parse_set(argv: &[Bytes]) -> Result<SetArgs, Reply> {
    let ext = parse_extended(argv, true)?;
    let cond = match ext.flags {
        f if f & opt::NX != 0 => Cond::Nx,
        f if f & opt::XX != 0 => Cond::Xx,
        _ => Cond::Always,
    };
    let ttl = match ext.expire {
        Some((kind, at)) => SetTtl::Expire(kind, expire_arg_ms(&argv[at], kind, "set")?),
        None if ext.flags & opt::KEEPTTL != 0 => SetTtl::Keep,
        None => SetTtl::Clear,
    };
    Ok(SetArgs {
        cond,
        get: ext.flags & opt::GET != 0,
        ttl,
    })
}

/// Stores `value` at `key` under `args`. Errors come in Redis's order: the expire time, then
/// GET's type check (a wrong type stops the SET), then NX/XX.
fn set_generic(
    ctx: &mut WriteCtx,
    key: &[u8],
    value: &[u8],
    args: SetArgs,
    command: &str,
) -> Result<SetOutcome, Reply> {
    let now_ms = ctx.now_ms;
    let expire_at = match args.ttl {
        SetTtl::Expire(kind, ms) => Some(expire_at_ms(ms, kind, now_ms, command)?),
        SetTtl::Clear | SetTtl::Keep => None,
    };
    let db = ctx.db();
    let old = if args.get {
        bulk_or_nil(get_str(db, key, now_ms)?)
    } else {
        Reply::Nil
    };
    let refused = match args.cond {
        Cond::Nx => db.contains(key, now_ms),
        Cond::Xx => !db.contains(key, now_ms),
        _ => false,
    };
    if refused {
        return Ok(SetOutcome { stored: false, old });
    }
    if args.ttl == SetTtl::Keep {
        db.set_keep_ttl(key, Value::str(value), now_ms);
    } else {
        db.set(key, Value::str(value), expire_at, now_ms);
    }
    ctx.notify(notify::STRING, "set", key);
    if expire_at.is_some() {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    Ok(SetOutcome { stored: true, old })
}

fn set_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_set(argv).map(|_| ())
}

fn set(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_set(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    match set_generic(ctx, &argv[1], &argv[2], args, "set") {
        Ok(outcome) if args.get => outcome.old,
        Ok(SetOutcome { stored: true, .. }) => Reply::ok(),
        Ok(SetOutcome { stored: false, .. }) => Reply::Nil,
        Err(reply) => reply,
    }
}

fn setnx(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = SetArgs {
        cond: Cond::Nx,
        get: false,
        ttl: SetTtl::Clear,
    };
    match set_generic(ctx, &argv[1], &argv[2], args, "setnx") {
        Ok(outcome) => Reply::Int(i64::from(outcome.stored)),
        Err(reply) => reply,
    }
}

/// SETEX/PSETEX: `argv[2]` is the expire, `argv[3]` the value.
fn setex_generic(ctx: &mut WriteCtx, argv: &[Bytes], kind: ExpireKind, command: &str) -> Reply {
    let ms = match expire_arg_ms(&argv[2], kind, command) {
        Ok(ms) => ms,
        Err(reply) => return reply,
    };
    let args = SetArgs {
        cond: Cond::Always,
        get: false,
        ttl: SetTtl::Expire(kind, ms),
    };
    match set_generic(ctx, &argv[1], &argv[3], args, command) {
        Ok(_) => Reply::ok(),
        Err(reply) => reply,
    }
}

fn setex_check(argv: &[Bytes]) -> Result<(), Reply> {
    expire_arg_ms(&argv[2], ExpireKind::Ex, "setex").map(|_| ())
}

fn setex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    setex_generic(ctx, argv, ExpireKind::Ex, "setex")
}

fn psetex_check(argv: &[Bytes]) -> Result<(), Reply> {
    expire_arg_ms(&argv[2], ExpireKind::Px, "psetex").map(|_| ())
}

fn psetex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    setex_generic(ctx, argv, ExpireKind::Px, "psetex")
}

fn getset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = SetArgs {
        cond: Cond::Always,
        get: true,
        ttl: SetTtl::Clear,
    };
    match set_generic(ctx, &argv[1], &argv[2], args, "getset") {
        Ok(outcome) => outcome.old,
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// MSET, MSETNX

/// An odd number of arguments after the name is an arity error, named like Redis's table.
fn mset_pairs_check(argv: &[Bytes], name: &str) -> Result<(), Reply> {
    if argv.len().is_multiple_of(2) {
        Err(arity_error(name))
    } else {
        Ok(())
    }
}

fn mset_check(argv: &[Bytes]) -> Result<(), Reply> {
    mset_pairs_check(argv, "mset")
}

fn msetnx_check(argv: &[Bytes]) -> Result<(), Reply> {
    mset_pairs_check(argv, "msetnx")
}

fn mset_generic(ctx: &mut WriteCtx, argv: &[Bytes], nx: bool) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    // Pairs start at argv[1]; a trailing lone key (rejected by check) is ignored.
    let pairs = argv[1..].chunks_exact(2);
    if nx && pairs.clone().any(|pair| db.contains(&pair[0], now_ms)) {
        return Reply::Int(0);
    }
    for pair in pairs {
        ctx.db().set(&pair[0], Value::str(&pair[1]), None, now_ms);
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    if nx { Reply::Int(1) } else { Reply::ok() }
}

fn mset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match mset_check(argv) {
        Ok(()) => mset_generic(ctx, argv, false),
        Err(reply) => reply,
    }
}

fn msetnx(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match msetnx_check(argv) {
        Ok(()) => mset_generic(ctx, argv, true),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// GET and its variants: MGET, GETDEL, GETEX, STRLEN

fn get(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(value) => bulk_or_nil(value),
        Err(reply) => reply,
    }
}

/// MGET answers nil for a key of another type rather than WRONGTYPE.
fn mget(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let values = argv[1..]
        .iter()
        .map(|key| bulk_or_nil(get_str(db, key, ctx.now_ms).ok().flatten()));
    Reply::Array(values.collect())
}

fn getdel(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    let reply = match get_str(db, &argv[1], now_ms) {
        Ok(Some(value)) => Reply::bulk_copy(value),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    db.remove(&argv[1]);
    ctx.notify(notify::GENERIC, "del", &argv[1]);
    reply
}

fn getex_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_extended(argv, false).map(|_| ())
}

/// GETEX: the expire value is validated only once the key is known to be a string.
fn getex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let ext = match parse_extended(argv, false) {
        Ok(ext) => ext,
        Err(reply) => return reply,
    };
    let (now_ms, key) = (ctx.now_ms, &argv[1][..]);
    let db = ctx.db();
    let reply = match get_str(db, key, now_ms) {
        Ok(Some(value)) => Reply::bulk_copy(value),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    if let Some((kind, at)) = ext.expire {
        let expire_at = expire_arg_ms(&argv[at], kind, "getex")
            .and_then(|ms| expire_at_ms(ms, kind, now_ms, "getex"));
        match expire_at {
            // An absolute time already past deletes the key (Redis's checkAlreadyExpired).
            Ok(at) if !kind.is_relative() && at <= now_ms => {
                db.remove(key);
                ctx.notify(notify::GENERIC, "del", key);
            }
            Ok(at) => {
                db.set_expire(key, Some(at));
                ctx.notify(notify::GENERIC, "expire", key);
            }
            Err(reply) => return reply,
        }
    } else if ext.flags & opt::PERSIST != 0 {
        let had_ttl = db.get(key, now_ms).and_then(|s| s.expire_at_ms()).is_some();
        db.set_expire(key, None);
        if had_ttl {
            ctx.notify(notify::GENERIC, "persist", key);
        }
    }
    reply
}

fn strlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(value) => int_reply(value.map_or(0, <[u8]>::len)),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// APPEND, GETRANGE/SUBSTR, SETRANGE

fn append(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (now_ms, key, tail) = (ctx.now_ms, &argv[1][..], &argv[2][..]);
    let db = ctx.db();
    match get_str_mut(db, key, now_ms) {
        Ok(Some(s)) => {
            if let Err(reply) = check_string_len(s.len() as u64, tail.len() as u64) {
                return reply;
            }
            let mut bytes = std::mem::take(s).into_vec();
            bytes.extend_from_slice(tail);
            *s = bytes.into_boxed_slice();
            let len = s.len();
            ctx.notify(notify::STRING, "append", key);
            int_reply(len)
        }
        Ok(None) => {
            db.set(key, Value::str(tail), None, now_ms);
            ctx.notify(notify::STRING, "append", key);
            int_reply(tail.len())
        }
        Err(reply) => reply,
    }
}

/// The bytes GETRANGE returns for `start..=end` (inclusive, negative from the end), with
/// Redis's clamping.
fn range_of(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 {
        (len + end).max(0)
    } else {
        end.min(len - 1)
    };
    if start > end || len == 0 {
        &[]
    } else {
        &s[start as usize..=end as usize]
    }
}

/// GETRANGE and its old name SUBSTR. The indexes are parsed before the key is looked up.
fn getrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&argv[2]), int_arg(&argv[3])) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(s)) => Reply::bulk_copy(range_of(s, start, end)),
        Ok(None) => Reply::bulk(Bytes::new()),
        Err(reply) => reply,
    }
}

fn setrange_offset(argv: &[Bytes]) -> Result<u64, Reply> {
    let offset = int_arg(&argv[2])?;
    u64::try_from(offset).map_err(|_| Reply::error_static(OFFSET_OUT_OF_RANGE))
}

fn setrange_check(argv: &[Bytes]) -> Result<(), Reply> {
    setrange_offset(argv).map(|_| ())
}

/// SETRANGE: an empty value changes nothing (and creates no key); otherwise the string grows
/// with zero bytes as needed, within `STRING_LEN_MAX`.
fn setrange(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let offset = match setrange_offset(argv) {
        Ok(offset) => offset,
        Err(reply) => return reply,
    };
    let (now_ms, key, patch) = (ctx.now_ms, &argv[1][..], &argv[3][..]);
    let db = ctx.db();
    let existing = match get_str_mut(db, key, now_ms) {
        Ok(existing) => existing,
        Err(reply) => return reply,
    };
    if patch.is_empty() {
        return int_reply(existing.map_or(0, |s| s.len()));
    }
    if let Err(reply) = check_string_len(offset, patch.len() as u64) {
        return reply;
    }
    // Within STRING_LEN_MAX, so it fits in usize.
    let (start, end) = (offset as usize, offset as usize + patch.len());
    let splice = |mut bytes: Vec<u8>| {
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(patch);
        bytes.into_boxed_slice()
    };
    let len = match existing {
        Some(s) => {
            *s = splice(std::mem::take(s).into_vec());
            s.len()
        }
        None => {
            db.set(key, Value::Str(splice(Vec::new())), None, now_ms);
            end
        }
    };
    ctx.notify(notify::STRING, "setrange", key);
    int_reply(len)
}

// ---------------------------------------------------------------------------------------------
// Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT (all keep the key's TTL)

/// Adds `delta` to the integer at `key` (0 when absent).
fn incr_generic(ctx: &mut WriteCtx, key: &[u8], delta: i64) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    let current = match get_str(db, key, now_ms) {
        Ok(None) => 0,
        Ok(Some(s)) => match parse_i64(s) {
            Some(v) => v,
            None => return not_integer(),
        },
        Err(reply) => return reply,
    };
    let Some(value) = current.checked_add(delta) else {
        return Reply::error_static(OVERFLOW);
    };
    db.set_keep_ttl(key, Value::Str(i64_bytes(value)), now_ms);
    ctx.notify(notify::STRING, "incrby", key);
    Reply::Int(value)
}

fn incr(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    incr_generic(ctx, &argv[1], 1)
}

fn decr(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    incr_generic(ctx, &argv[1], -1)
}

fn incrby_check(argv: &[Bytes]) -> Result<(), Reply> {
    int_arg(&argv[2]).map(|_| ())
}

fn incrby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match int_arg(&argv[2]) {
        Ok(delta) => incr_generic(ctx, &argv[1], delta),
        Err(reply) => reply,
    }
}

/// DECRBY's decrement, negated; i64::MIN has no negation.
fn decrby_delta(argv: &[Bytes]) -> Result<i64, Reply> {
    int_arg(&argv[2])?
        .checked_neg()
        .ok_or_else(|| Reply::error_static(DECR_OVERFLOW))
}

fn decrby_check(argv: &[Bytes]) -> Result<(), Reply> {
    decrby_delta(argv).map(|_| ())
}

fn decrby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match decrby_delta(argv) {
        Ok(delta) => incr_generic(ctx, &argv[1], delta),
        Err(reply) => reply,
    }
}

/// INCRBYFLOAT in x87 extended precision, as Redis does (see `long_double`). The stored value
/// is parsed first, then the increment: both after the type check, as in Redis.
fn incrbyfloat(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (now_ms, key) = (ctx.now_ms, &argv[1][..]);
    let db = ctx.db();
    let current = match get_str(db, key, now_ms) {
        Ok(None) => Some(LongDouble::ZERO),
        Ok(Some(s)) => long_double::parse(s),
        Err(reply) => return reply,
    };
    let (Some(current), Some(incr)) = (current, long_double::parse(&argv[2])) else {
        return Reply::error_static(NOT_FLOAT);
    };
    let Some(sum) = long_double::checked_add(current, incr) else {
        return Reply::error_static(NAN_OR_INFINITY);
    };
    let text = Bytes::from(long_double::format_human(sum));
    db.set_keep_ttl(key, Value::str(&text), now_ms);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    Reply::Bulk(text)
}

// ---------------------------------------------------------------------------------------------
// LCS

#[derive(Debug, Default)]
struct LcsArgs {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

fn parse_lcs(argv: &[Bytes]) -> Result<LcsArgs, Reply> {
    let mut args = LcsArgs::default();
    let mut j = 3;
    while j < argv.len() {
        let arg = &argv[j];
        if is_word(arg, "idx") {
            args.idx = true;
        } else if is_word(arg, "len") {
            args.len = true;
        } else if is_word(arg, "withmatchlen") {
            args.with_match_len = true;
        } else if is_word(arg, "minmatchlen") && j + 1 < argv.len() {
            args.min_match_len = int_arg(&argv[j + 1])?.max(0) as u64;
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    if args.len && args.idx {
        return Err(Reply::error_static(LCS_LEN_AND_IDX));
    }
    Ok(args)
}

/// The dynamic-programming table: `table[i * (b.len() + 1) + j]` is the LCS length of
/// `a[..i]` and `b[..j]`. Redis refuses a table larger than proto-max-bulk-len.
fn lcs_table(a: &[u8], b: &[u8]) -> Result<Vec<u32>, Reply> {
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    // 4 bytes per cell (uint32_t in Redis).
    if cells * 4 > STRING_LEN_MAX {
        return Err(Reply::error_static(LCS_TOO_MUCH_MEMORY));
    }
    let width = b.len() + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    Ok(table)
}

/// One matching range: (start, end) in `a`, (start, end) in `b`, inclusive.
type LcsRange = ((usize, usize), (usize, usize));

/// Walks the table back from the end, as Redis does: the common subsequence, and its
/// contiguous ranges from last to first.
fn lcs_walk(a: &[u8], b: &[u8], table: &[u32]) -> (Vec<u8>, Vec<LcsRange>) {
    let width = b.len() + 1;
    let mut result = Vec::with_capacity(table[table.len() - 1] as usize);
    let mut ranges = Vec::new();
    let mut current: Option<LcsRange> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result.push(a[i - 1]);
            match &mut current {
                None => current = Some(((i - 1, i - 1), (j - 1, j - 1))),
                Some(((a_start, _), (b_start, _))) if *a_start == i && *b_start == j => {
                    *a_start -= 1;
                    *b_start -= 1;
                }
                Some(_) => emit = true,
            }
            // A match at the first byte of either string ends the walk: emit now.
            if let Some(((0, _), _) | (_, (0, _))) = current {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            ranges.extend(current.take());
        }
    }
    result.reverse();
    (result, ranges)
}

fn lcs_range_reply(((a0, a1), (b0, b1)): LcsRange, with_len: bool) -> Reply {
    let pair = |x: usize, y: usize| Reply::Array(vec![int_reply(x), int_reply(y)]);
    let mut items = vec![pair(a0, a1), pair(b0, b1)];
    if with_len {
        items.push(int_reply(a1 - a0 + 1));
    }
    Reply::Array(items)
}

/// LCS: the type check comes first, then the options, as in Redis.
fn lcs(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let (a, b) = match (
        get_str(db, &argv[1], ctx.now_ms),
        get_str(db, &argv[2], ctx.now_ms),
    ) {
        (Ok(a), Ok(b)) => (a.unwrap_or_default(), b.unwrap_or_default()),
        _ => return Reply::error_static(LCS_NOT_STRINGS),
    };
    let args = match parse_lcs(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let table = match lcs_table(a, b) {
        Ok(table) => table,
        Err(reply) => return reply,
    };
    let len = Reply::Int(i64::from(table[table.len() - 1]));
    if args.len {
        return len;
    }
    let (result, ranges) = lcs_walk(a, b, &table);
    if !args.idx {
        return Reply::Bulk(Bytes::from(result));
    }
    let matches = ranges
        .into_iter()
        .filter(|((a0, a1), _)| (a1 - a0 + 1) as u64 >= args.min_match_len)
        .map(|range| lcs_range_reply(range, args.with_match_len))
        .collect();
    Reply::Map(vec![
        (
            Reply::bulk(Bytes::from_static(b"matches")),
            Reply::Array(matches),
        ),
        (Reply::bulk(Bytes::from_static(b"len")), len),
    ])
}

// ---------------------------------------------------------------------------------------------
// The table (metadata from Redis 7.0.15's COMMAND INFO and COMMAND DOCS)

/// SET's key: overwritten, and also read when the GET option is given (Redis's `setGetKeys`).
fn set_key_flags(argv: &[Bytes]) -> u32 {
    if argv.iter().skip(3).any(|arg| is_word(arg, "get")) {
        RW | ACCESS | UPDATE
    } else {
        OW | UPDATE
    }
}

const STR: u32 = acl::STRING;
const G: Group = Group::String;
const O1: &str = "O(1)";
const RANGE: &str = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.";
const MULTI_KEYS: Keys = Keys {
    first: 1,
    last: -1,
    step: 1,
};
const PAIRS: Keys = Keys {
    first: 1,
    last: -1,
    step: 2,
};
const TWO_KEYS: Keys = Keys {
    first: 1,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("set", -3, WRITE | DENYOOM, STR, Keys::ONE, G, "1.0.0", "Set the string value of a key", Handler::Write(set_check, set)).key_flags_by(RW | ACCESS | UPDATE | VARIABLE_FLAGS, set_key_flags).complexity(O1),
    cmd("setnx", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Set the value of a key, only if the key does not exist", Handler::Write(no_syntax, setnx)).key_flags(OW | INSERT).complexity(O1),
    cmd("setex", 4, WRITE | DENYOOM, STR, Keys::ONE, G, "2.0.0", "Set the value and expiration of a key", Handler::Write(setex_check, setex)).key_flags(OW | UPDATE).complexity(O1),
    cmd("psetex", 4, WRITE | DENYOOM, STR, Keys::ONE, G, "2.6.0", "Set the value and expiration in milliseconds of a key", Handler::Write(psetex_check, psetex)).key_flags(OW | UPDATE).complexity(O1),
    cmd("getset", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Set the string value of a key and return its old value", Handler::Write(no_syntax, getset)).complexity(O1),
    cmd("mset", -3, WRITE | DENYOOM, STR, PAIRS, G, "1.0.1", "Set multiple keys to multiple values", Handler::Write(mset_check, mset)).key_flags(OW | UPDATE).complexity("O(N) where N is the number of keys to set."),
    cmd("msetnx", -3, WRITE | DENYOOM, STR, PAIRS, G, "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", Handler::Write(msetnx_check, msetnx)).key_flags(OW | INSERT).complexity("O(N) where N is the number of keys to set."),
    cmd("get", 2, READONLY | FAST, STR, Keys::ONE, G, "1.0.0", "Get the value of a key", Handler::Read(get)).complexity(O1),
    cmd("mget", -2, READONLY | FAST, STR, MULTI_KEYS, G, "1.0.0", "Get the values of all the given keys", Handler::Read(mget)).complexity("O(N) where N is the number of keys to retrieve."),
    cmd("getdel", 2, WRITE | FAST, STR, Keys::ONE, G, "6.2.0", "Get the value of a key and delete the key", Handler::Write(no_syntax, getdel)).key_flags(RW | ACCESS | DELETE).complexity(O1),
    cmd("getex", -2, WRITE | FAST, STR, Keys::ONE, G, "6.2.0", "Get the value of a key and optionally set its expiration", Handler::Write(getex_check, getex)).complexity(O1),
    cmd("strlen", 2, READONLY | FAST, STR, Keys::ONE, G, "2.2.0", "Get the length of the value stored in a key", Handler::Read(strlen)).key_flags(RO).complexity(O1),
    cmd("append", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "2.0.0", "Append a value to a key", Handler::Write(no_syntax, append)).key_flags(RW | INSERT).complexity("O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."),
    cmd("getrange", 4, READONLY, STR, Keys::ONE, G, "2.4.0", "Get a substring of the string stored at a key", Handler::Read(getrange)).complexity(RANGE),
    cmd("substr", 4, READONLY, STR, Keys::ONE, G, "1.0.0", "Get a substring of the string stored at a key", Handler::Read(getrange)).complexity(RANGE),
    cmd("setrange", 4, WRITE | DENYOOM, STR, Keys::ONE, G, "2.2.0", "Overwrite part of a string at key starting at the specified offset", Handler::Write(setrange_check, setrange)).key_flags(RW | UPDATE).complexity("O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument."),
    cmd("incr", 2, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Increment the integer value of a key by one", Handler::Write(no_syntax, incr)).complexity(O1),
    cmd("decr", 2, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Decrement the integer value of a key by one", Handler::Write(no_syntax, decr)).complexity(O1),
    cmd("incrby", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Increment the integer value of a key by the given amount", Handler::Write(incrby_check, incrby)).complexity(O1),
    cmd("decrby", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "1.0.0", "Decrement the integer value of a key by the given number", Handler::Write(decrby_check, decrby)).complexity(O1),
    cmd("incrbyfloat", 3, WRITE | DENYOOM | FAST, STR, Keys::ONE, G, "2.6.0", "Increment the float value of a key by the given amount", Handler::Write(no_syntax, incrbyfloat)).complexity(O1),
    cmd("lcs", -3, READONLY, STR, TWO_KEYS, G, "7.0.0", "Find longest common substring", Handler::Read(lcs)).complexity("O(N*M) where N and M are the lengths of s1 and s2, respectively"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Harness, split_args};

    fn args(line: &str) -> Vec<Bytes> {
        split_args(line).expect("valid line")
    }

    #[test]
    fn string_len_limit_is_proto_max_bulk_len() {
        assert!(check_string_len(STRING_LEN_MAX - 1, 1).is_ok());
        assert!(check_string_len(0, STRING_LEN_MAX).is_ok());
        let too_big = Err(Reply::error_static(TOO_BIG));
        assert_eq!(check_string_len(STRING_LEN_MAX, 1), too_big);
        assert_eq!(check_string_len(i64::MAX as u64, 1), too_big);
        assert_eq!(
            check_string_len(u64::MAX, 1),
            too_big,
            "overflow is too big, not a wrap"
        );
    }

    #[test]
    fn syntax_errors_stop_before_the_log_state_errors_do_not() {
        assert_eq!(set_check(&args("SET k v EX 10 PX 10")), Err(syntax_error()));
        assert_eq!(set_check(&args("SET k v EX 0")), Err(invalid_expire("set")));
        assert_eq!(setex_check(&args("SETEX k abc v")), Err(not_integer()));
        assert_eq!(
            decrby_check(&args("DECRBY k -9223372036854775808")),
            Err(Reply::error_static(DECR_OVERFLOW))
        );
        assert_eq!(
            setrange_check(&args("SETRANGE k -1 v")),
            Err(Reply::error_static(OFFSET_OUT_OF_RANGE))
        );
        assert_eq!(mset_check(&args("MSET a 1 b")), Err(arity_error("mset")));
        // Redis checks these only once the key is known to exist and be a string.
        assert!(getex_check(&args("GETEX k EX abc")).is_ok());
        assert!(no_syntax(&args("INCRBYFLOAT k abc")).is_ok());
    }

    #[test]
    fn expire_times_never_overflow() {
        let now = 1_700_000_000_000;
        assert_eq!(
            expire_arg_ms(b"9223372036854775", ExpireKind::Ex, "set"),
            Ok(9_223_372_036_854_775_000)
        );
        assert!(expire_arg_ms(b"9223372036854776", ExpireKind::ExAt, "set").is_err());
        assert!(expire_at_ms(i64::MAX, ExpireKind::Px, now, "set").is_err());
        assert_eq!(
            expire_at_ms(i64::MAX, ExpireKind::PxAt, now, "set"),
            Ok(i64::MAX as u64)
        );
        assert_eq!(
            expire_at_ms(1000, ExpireKind::Px, now, "set"),
            Ok(now + 1000)
        );
        assert!(
            expire_at_ms(1, ExpireKind::Px, u64::MAX, "set").is_err(),
            "a clock past i64"
        );
    }

    #[test]
    fn options_compare_as_c_strings() {
        assert_eq!(c_str(b"nx\0junk"), b"nx");
        assert_eq!(c_str(b"nx"), b"nx");
        assert_eq!(c_str(b"\0"), b"");
        assert!(is_word(b"KeepTTL\0", "keepttl"));
        assert!(!is_word(b"keepttlx", "keepttl"));
    }

    #[test]
    fn getrange_clamps_like_redis() {
        let s = b"Hello World";
        assert_eq!(range_of(s, 0, -1), s);
        assert_eq!(range_of(s, -3, -1), b"rld");
        assert_eq!(range_of(s, -1, -3), b"");
        assert_eq!(range_of(s, -100, 100), s);
        assert_eq!(range_of(s, i64::MIN, i64::MAX), s);
        assert_eq!(range_of(s, i64::MAX, i64::MIN), b"");
        assert_eq!(range_of(b"", 0, -1), b"");
        assert_eq!(range_of(b"", -1, 0), b"");
    }

    #[test]
    fn lcs_refuses_a_table_over_proto_max_bulk_len() {
        // (11585 + 1) × (11584 + 1) cells of 4 bytes is just over 512 MiB (checked on Redis).
        let mut h = Harness::new();
        let a = Bytes::from(vec![b'x'; 11585]);
        let b = Bytes::from(vec![b'y'; 11584]);
        h.run(&[Bytes::from_static(b"SET"), Bytes::from_static(b"a"), a]);
        h.run(&[Bytes::from_static(b"SET"), Bytes::from_static(b"b"), b]);
        assert_eq!(
            h.cmd("LCS a b LEN"),
            Reply::error_static(LCS_TOO_MUCH_MEMORY)
        );
        assert_eq!(
            h.cmd("LCS a b LEN IDX"),
            Reply::error_static(LCS_LEN_AND_IDX)
        );
        assert_eq!(h.cmd("LCS a missing LEN"), Reply::Int(0));
    }

    #[test]
    fn rows_carry_redis_metadata() {
        let row = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect("row");
        assert_eq!(
            row("set").acl_categories(),
            acl::WRITE | acl::STRING | acl::SLOW
        );
        assert_eq!(
            row("get").acl_categories(),
            acl::READ | acl::STRING | acl::FAST
        );
        assert_eq!(
            row("lcs").acl_categories(),
            acl::READ | acl::STRING | acl::SLOW
        );
        assert_eq!(row("mset").key_indices(5).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(row("mget").key_indices(4).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(row("lcs").key_indices(5).collect::<Vec<_>>(), [1, 2]);
        assert!(
            COMMANDS
                .iter()
                .all(|s| s.group == Group::String && !s.complexity.is_empty())
        );
    }
}
