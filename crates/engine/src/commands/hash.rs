//! The hash family (Redis's `t_hash.c`): Redis 7.0.15's commands, byte for byte, plus per-field
//! expiry as Redis 7.4 added it (HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT, HTTL, HPTTL,
//! HEXPIRETIME, HPEXPIRETIME, HPERSIST) and Redis 8.0's HGETDEL, HGETEX and HSETEX.
//!
//! Expired fields: a field whose expire time is before now is gone for every command. Reads
//! skip it (they cannot change replicated state); a write that touches a hash first removes
//! all of its expired fields (and the key, if none is left), then runs on what remains; ticks
//! remove the rest (`Db::remove_expired_fields`). Like an expired key in DBSIZE, a hash whose
//! fields have all expired still counts as a key (EXISTS, TYPE, KEYS) until a tick or a write
//! removes it, as in Redis 7.4.
//!
//! Where the syntax check runs: HSET's argument count, HINCRBY's and HINCRBYFLOAT's
//! increments and all of HSETEX's options are parsed before Redis looks the key up, so
//! `check` rejects them before the log. The field-expiry commands, HGETDEL and HGETEX look
//! the key up first (WRONGTYPE wins over a syntax error), so they parse in apply.
//!
//! Keyspace notifications: a write names the hash events of its edit ([`Events`]); `write_hash`
//! notifies "hexpired" first when it removed expired fields, then those events, then "del"
//! when the hash is gone. The names are Redis's: 7.0's for the original commands, 7.4's for
//! the field-expiry commands, 8.0's for HGETDEL, HGETEX and HSETEX (which notify "hdel",
//! "hexpire", "hpersist" and "hset" as their changes are, not events of their own names).
//!
//! Sections: errors and parsing, typed access, then the commands (plain, counters, reads,
//! random and scan, field expiry), then the table.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::keyspace::parse_cursor;
use crate::commands::string::long_double::{self, LongDouble};
use crate::commands::{
    NOT_FLOAT, OVERFLOW, bulk, cmd, eq_ignore_case, i64_bytes, int_arg, parse_i64, syntax_error,
    wrong_type,
};
use crate::db::Db;
use crate::engine::{ReadCtx, Rng, WriteCtx};
use crate::glob;
use crate::notify;
use crate::table::{Group, Handler, Keys, Spec, acl, arity_error, flag::*};
use crate::types::hash::{Field, Hash, Limits};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors

const NOT_INTEGER_VALUE: &str = "ERR hash value is not an integer";
const NOT_FLOAT_VALUE: &str = "ERR hash value is not a float";
const NAN_OR_INFINITY_INCR: &str = "ERR value is NaN or Infinity";
const NAN_OR_INFINITY_RESULT: &str = "ERR increment would produce NaN or Infinity";
const OUT_OF_RANGE: &str = "ERR value is out of range";
const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const INVALID_CURSOR: &str = "ERR invalid cursor";
const FIELDS_MISSING: &str =
    "ERR Mandatory argument FIELDS is missing or not at the right position";
const NUMFIELDS_MISMATCH: &str = "ERR The `numfields` parameter must match the number of arguments";
const NUMFIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";
const NUMFIELDS_ABOVE_ZERO: &str = "ERR Parameter `numFields` should be greater than 0";
const NUMFIELDS_INVALID: &str = "ERR invalid number of fields";
const EXPIRE_NEGATIVE: &str = "ERR invalid expire time, must be >= 0";
const EXPIRE_MISSING: &str = "ERR missing expire time";
const UNKNOWN_ARGUMENT: &str = "ERR unknown argument";
const ONE_OF_FNX_FXX: &str = "ERR Only one of FXX or FNX arguments can be specified";
const ONE_OF_SETEX_TTL: &str =
    "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified";
const ONE_OF_GETEX_TTL: &str =
    "ERR Only one of EX, PX, EXAT, PXAT or PERSIST arguments can be specified";

fn invalid_expire(command: &str) -> Reply {
    Reply::error(format!("ERR invalid expire time in '{command}' command"))
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Redis compares option words as C strings: the bytes up to the first NUL count.
fn is_word(arg: &[u8], word: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    eq_ignore_case(&arg[..end], word)
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

/// The largest field expire time Redis 7.4 accepts: 2^46 - 1 ms (`HFE_MAX_ABS_TIME_MSEC`,
/// its 48-bit expire times with 2 bits reserved).
const FIELD_EXPIRE_MAX_MS: i64 = (1 << 46) - 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Seconds,
    Millis,
}

/// A field expire time (Redis 7.4's checks): an integer, not negative, in `unit`, absolute
/// once `base_ms` (now for relative forms, 0 for the *AT forms) is added, and at most
/// `FIELD_EXPIRE_MAX_MS`.
fn field_expire_ms(arg: &[u8], unit: Unit, base_ms: u64, command: &str) -> Result<u64, Reply> {
    let v = int_arg(arg)?;
    if v < 0 {
        return Err(Reply::error_static(EXPIRE_NEGATIVE));
    }
    let ms = match unit {
        Unit::Seconds if v > FIELD_EXPIRE_MAX_MS / 1000 => return Err(invalid_expire(command)),
        Unit::Seconds => v * 1000,
        Unit::Millis => v,
    };
    if i128::from(ms) > i128::from(FIELD_EXPIRE_MAX_MS) - i128::from(base_ms) {
        return Err(invalid_expire(command));
    }
    Ok(ms as u64 + base_ms)
}

/// `FIELDS numfields field ...` with the FIELDS word at `at`: the fields, or Redis's error
/// (`count_error` for a count that is not a positive integer).
fn parse_fields<'a>(
    argv: &'a [Bytes],
    at: usize,
    count_error: &'static str,
) -> Result<&'a [Bytes], Reply> {
    if !argv.get(at).is_some_and(|a| is_word(a, "fields")) {
        return Err(Reply::error_static(FIELDS_MISSING));
    }
    let Some(count) = argv.get(at + 1) else {
        return Err(arity_error(
            &String::from_utf8_lossy(&argv[0]).to_ascii_lowercase(),
        ));
    };
    let count = parse_i64(count)
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::error_static(count_error))?;
    let fields = &argv[at + 2..];
    if count as u64 != fields.len() as u64 {
        return Err(Reply::error_static(NUMFIELDS_MISMATCH));
    }
    Ok(fields)
}

// ---------------------------------------------------------------------------------------------
// Typed access

/// The hash at `key` for a read: `None` when absent, WRONGTYPE for another type.
fn read_hash<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Hash>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::Hash(h) => Ok(Some(h)),
        _ => Err(wrong_type()),
    }
}

fn read_ctx_hash<'a>(ctx: &ReadCtx<'a>, key: &[u8]) -> Result<Option<&'a Hash>, Reply> {
    read_hash(ctx.engine.db(ctx.db), key, ctx.now_ms)
}

/// Whether a write may create the hash it edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Existing,
    Create,
}

/// What an edit knows besides the hash.
#[derive(Clone, Copy, Debug)]
struct Env {
    limits: Limits,
    now_ms: u64,
}

/// The hash-class keyspace events of an edit, in order (empty when it changed nothing).
type Events = &'static [&'static str];

/// Runs `edit` on the hash at `key` for a write, after removing its expired fields; `None`
/// when there is no hash (and `access` does not create one). Afterwards the database's
/// field-expiry index follows the hash, and a hash left empty is deleted. Notifies
/// "hexpired" when expired fields were removed, then the edit's events, then "del" when a
/// hash that existed, or that the edit changed, is gone.
fn write_hash<R>(
    ctx: &mut WriteCtx,
    key: &[u8],
    access: Access,
    edit: impl FnOnce(&mut Hash, Env) -> (R, Events),
) -> Result<Option<R>, Reply> {
    let encodings = ctx.engine.encodings();
    let env = Env {
        limits: Limits {
            entries_max: encodings.hash_max_listpack_entries,
            value_max: encodings.hash_max_listpack_value,
            seed: ctx.engine.hash_seed(),
        },
        now_ms: ctx.now_ms,
    };
    let db = ctx.db();
    let existed = match db.get_mut(key, env.now_ms).map(|s| &s.value) {
        Some(Value::Hash(_)) => true,
        Some(_) => return Err(wrong_type()),
        None if access == Access::Create => {
            db.set(key, Value::Hash(Box::default()), None, env.now_ms);
            false
        }
        None => return Ok(None),
    };
    let Some(slot) = db.lookup_mut(key, env.now_ms) else {
        return Ok(None);
    };
    let Value::Hash(hash) = &mut slot.value else {
        return Err(wrong_type());
    };
    let before = hash.next_expiry_ms();
    let expired = hash.remove_expired(env.now_ms, usize::MAX) > 0;
    let (result, events) = match (hash.is_empty(), access) {
        // Every field had expired: the hash is gone, and a new one starts afresh.
        (true, Access::Existing) => (None, &[][..]),
        (true, Access::Create) => {
            **hash = Hash::new();
            let (result, events) = edit(hash, env);
            (Some(result), events)
        }
        (false, _) => {
            let (result, events) = edit(hash, env);
            (Some(result), events)
        }
    };
    let (after, empty) = (hash.next_expiry_ms(), hash.is_empty());
    db.reindex_fields(key, before, after);
    if empty {
        db.remove(key);
    }
    if expired {
        ctx.notify(notify::HASH, "hexpired", key);
    }
    for event in events {
        ctx.notify(notify::HASH, event, key);
    }
    if empty && (existed || !events.is_empty()) {
        ctx.notify(notify::GENERIC, "del", key);
    }
    Ok(result)
}

fn field_reply(field: Option<Field<'_>>) -> Reply {
    field.map_or(Reply::Nil, |f| bulk(f.value))
}

// ---------------------------------------------------------------------------------------------
// Commands: setting and deleting

/// HSET and HMSET take field/value pairs: an odd count is an arity error.
fn hset_check(argv: &[Bytes]) -> Result<(), Reply> {
    if argv.len().is_multiple_of(2) {
        Ok(())
    } else {
        Err(arity_error(
            &String::from_utf8_lossy(&argv[0]).to_ascii_lowercase(),
        ))
    }
}

/// Sets every pair in order; the number of new fields.
fn hset_generic(ctx: &mut WriteCtx, argv: &[Bytes]) -> Result<i64, Reply> {
    let created = write_hash(ctx, &argv[1], Access::Create, |hash, env| {
        hash.prepare(argv[2..].iter().map(|a| &a[..]), env.limits);
        let mut created = 0;
        for pair in argv[2..].chunks_exact(2) {
            created += i64::from(hash.set(&pair[0], &pair[1], false, env.limits));
        }
        (created, &["hset"][..])
    })?;
    Ok(created.unwrap_or(0))
}

fn hset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv).map_or_else(|e| e, Reply::Int)
}

fn hmset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv).map_or_else(|e| e, |_| Reply::ok())
}

fn hsetnx(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (field, value) = (&argv[2][..], &argv[3][..]);
    let set = write_hash(ctx, &argv[1], Access::Create, |hash, env| {
        if hash.get(field).is_some() {
            return (false, &[][..]);
        }
        hash.prepare([field, value], env.limits);
        (hash.set(field, value, false, env.limits), &["hset"][..])
    });
    match set {
        Ok(set) => Reply::Int(i64::from(set == Some(true))),
        Err(reply) => reply,
    }
}

/// Removes fields in order until the hash is empty (the rest cannot be there).
fn hdel(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let deleted = write_hash(ctx, &argv[1], Access::Existing, |hash, _| {
        let mut deleted = 0;
        for field in &argv[2..] {
            deleted += i64::from(hash.remove(field));
            if hash.is_empty() {
                break;
            }
        }
        let events: Events = if deleted > 0 { &["hdel"] } else { &[] };
        (deleted, events)
    });
    match deleted {
        Ok(deleted) => Reply::Int(deleted.unwrap_or(0)),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: counters

fn hincrby_check(argv: &[Bytes]) -> Result<(), Reply> {
    int_arg(&argv[3]).map(drop)
}

/// HINCRBY: the field keeps its TTL (Redis 7.4).
fn hincrby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let incr = match int_arg(&argv[3]) {
        Ok(incr) => incr,
        Err(reply) => return reply,
    };
    let field = &argv[2][..];
    let result = write_hash(ctx, &argv[1], Access::Create, |hash, env| {
        let sum = (|| {
            let current = match hash.get(field) {
                Some(f) => {
                    parse_i64(f.value).ok_or_else(|| Reply::error_static(NOT_INTEGER_VALUE))?
                }
                None => 0,
            };
            let sum = current
                .checked_add(incr)
                .ok_or_else(|| Reply::error_static(OVERFLOW))?;
            hash.set(field, &i64_bytes(sum), true, env.limits);
            Ok(sum)
        })();
        let events: Events = if sum.is_ok() { &["hincrby"] } else { &[] };
        (sum, events)
    });
    match result {
        Ok(Some(Ok(sum))) => Reply::Int(sum),
        Ok(Some(Err(reply))) | Err(reply) => reply,
        Ok(None) => Reply::Int(0),
    }
}

/// HINCRBYFLOAT's increment: a long double, finite.
fn parse_float_incr(arg: &[u8]) -> Result<LongDouble, Reply> {
    let incr = long_double::parse(arg).ok_or_else(|| Reply::error_static(NOT_FLOAT))?;
    if !incr.is_finite() {
        return Err(Reply::error_static(NAN_OR_INFINITY_INCR));
    }
    Ok(incr)
}

fn hincrbyfloat_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_float_incr(&argv[3]).map(drop)
}

/// HINCRBYFLOAT in x87 extended precision, as Redis does (see `string::long_double`).
fn hincrbyfloat(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let incr = match parse_float_incr(&argv[3]) {
        Ok(incr) => incr,
        Err(reply) => return reply,
    };
    let field = &argv[2][..];
    let result = write_hash(ctx, &argv[1], Access::Create, |hash, env| {
        let text = (|| {
            let current = match hash.get(field) {
                Some(f) => long_double::parse(f.value)
                    .ok_or_else(|| Reply::error_static(NOT_FLOAT_VALUE))?,
                None => LongDouble::ZERO,
            };
            let sum = long_double::checked_add(current, incr)
                .ok_or_else(|| Reply::error_static(NAN_OR_INFINITY_RESULT))?;
            let text = Bytes::from(long_double::format_human(sum));
            hash.set(field, &text, true, env.limits);
            Ok(text)
        })();
        let events: Events = if text.is_ok() { &["hincrbyfloat"] } else { &[] };
        (text, events)
    });
    match result {
        Ok(Some(Ok(text))) => Reply::Bulk(text),
        Ok(Some(Err(reply))) | Err(reply) => reply,
        Ok(None) => Reply::Nil,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: reads

fn hget(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => field_reply(hash.and_then(|h| h.get_live(&argv[2], ctx.now_ms))),
        Err(reply) => reply,
    }
}

fn hmget(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => Reply::Array(
            argv[2..]
                .iter()
                .map(|f| field_reply(hash.and_then(|h| h.get_live(f, ctx.now_ms))))
                .collect(),
        ),
        Err(reply) => reply,
    }
}

fn hlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => Reply::Int(hash.map_or(0, |h| h.live_len(ctx.now_ms)) as i64),
        Err(reply) => reply,
    }
}

fn hstrlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => {
            let field = hash.and_then(|h| h.get_live(&argv[2], ctx.now_ms));
            Reply::Int(field.map_or(0, |f| f.value.len()) as i64)
        }
        Err(reply) => reply,
    }
}

fn hexists(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => {
            let found = hash.and_then(|h| h.get_live(&argv[2], ctx.now_ms));
            Reply::Int(i64::from(found.is_some()))
        }
        Err(reply) => reply,
    }
}

/// The live fields of the hash at `key`, in iteration order (empty when absent).
fn live_fields<'a>(ctx: &ReadCtx<'a>, key: &[u8]) -> Result<Vec<Field<'a>>, Reply> {
    let now_ms = ctx.now_ms;
    let hash = read_ctx_hash(ctx, key)?;
    Ok(hash
        .into_iter()
        .flat_map(|h| h.iter())
        .filter(|f| !f.is_expired(now_ms))
        .collect())
}

fn hkeys(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match live_fields(ctx, &argv[1]) {
        Ok(fields) => Reply::Array(fields.iter().map(|f| bulk(f.field)).collect()),
        Err(reply) => reply,
    }
}

fn hvals(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match live_fields(ctx, &argv[1]) {
        Ok(fields) => Reply::Array(fields.iter().map(|f| bulk(f.value)).collect()),
        Err(reply) => reply,
    }
}

/// A map in RESP3, a flat array in RESP2.
fn hgetall(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match live_fields(ctx, &argv[1]) {
        Ok(fields) => Reply::Map(
            fields
                .iter()
                .map(|f| (bulk(f.field), bulk(f.value)))
                .collect(),
        ),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: HRANDFIELD and HSCAN

/// HRANDFIELD's count and WITHVALUES, parsed before the key is looked up.
fn parse_hrandfield(argv: &[Bytes]) -> Result<Option<(i64, bool)>, Reply> {
    if argv.len() < 3 {
        return Ok(None);
    }
    let count = int_arg(&argv[2])?;
    if count == i64::MIN {
        return Err(Reply::error_static(COUNT_OUT_OF_RANGE));
    }
    let with_values = match argv.len() {
        3 => false,
        4 if is_word(&argv[3], "withvalues") => true,
        _ => return Err(syntax_error()),
    };
    // The reply holds two elements per field, so the count must double safely.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Reply::error_static(OUT_OF_RANGE));
    }
    // A negative count repeats fields without bound; Redis streams such a reply until the
    // client's output limit closes it, while Cairn builds replies whole: refuse it instead.
    if count < -RANDOM_REPEATS_MAX {
        return Err(Reply::error_static(OUT_OF_RANGE));
    }
    Ok(Some((count, with_values)))
}

/// The most fields a negative HRANDFIELD count may ask for (a reply of about 100 MB of short
/// fields).
const RANDOM_REPEATS_MAX: i64 = 1_000_000;

/// Where HRANDFIELD draws from: the hash, or a list of its live fields when some expired.
struct Sampler<'a> {
    hash: &'a Hash,
    live: Option<Vec<Field<'a>>>,
}

impl<'a> Sampler<'a> {
    fn new(hash: &'a Hash, now_ms: u64) -> Sampler<'a> {
        let live = hash
            .has_expired(now_ms)
            .then(|| hash.iter().filter(|f| !f.is_expired(now_ms)).collect());
        Sampler { hash, live }
    }

    fn len(&self) -> usize {
        self.live.as_ref().map_or(self.hash.len(), Vec::len)
    }

    fn all(&self) -> Vec<Field<'a>> {
        match &self.live {
            Some(live) => live.clone(),
            None => self.hash.iter().collect(),
        }
    }

    /// One field, uniformly (nearly, for a table) and with repetition.
    fn pick(&self, rng: &mut Rng) -> Field<'a> {
        match &self.live {
            Some(live) => live[(rng.next_u64() % live.len() as u64) as usize],
            None => self.hash.random(&mut || rng.next_u64()),
        }
    }

    /// `count` distinct fields, `count * 3 <= len`: by index in iteration order when the
    /// source can be indexed cheaply (a pack or a list, as Redis's lpRandomPairsUnique), by
    /// rejection otherwise.
    fn distinct(&self, count: usize, rng: &mut Rng) -> Vec<Field<'a>> {
        let len = self.len();
        if self.live.is_some() || self.hash.is_compact() {
            // Floyd's algorithm: `count` distinct indexes below `len`.
            let mut chosen = std::collections::BTreeSet::new();
            for top in len - count..len {
                let pick = (rng.next_u64() % (top as u64 + 1)) as usize;
                if !chosen.insert(pick) {
                    chosen.insert(top);
                }
            }
            let all = self.all();
            return chosen.into_iter().map(|i| all[i]).collect();
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let field = self.pick(rng);
            if seen.insert(field.field) {
                out.push(field);
            }
        }
        out
    }
}

fn random_reply(fields: &[Field<'_>], with_values: bool) -> Reply {
    if with_values {
        Reply::Pairs(
            fields
                .iter()
                .map(|f| (bulk(f.field), bulk(f.value)))
                .collect(),
        )
    } else {
        Reply::Array(fields.iter().map(|f| bulk(f.field)).collect())
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]` (Redis's hrandfieldWithCountCommand): a negative
/// count may repeat fields; a positive one returns distinct fields, all of them when the
/// count reaches the size. Draws use the node's randomness (a read).
fn hrandfield(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_hrandfield(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let hash = match read_ctx_hash(ctx, &argv[1]) {
        Ok(Some(hash)) => hash,
        Ok(None) if args.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let sampler = Sampler::new(hash, ctx.now_ms);
    let size = sampler.len();
    let rng = &mut ctx.rng;
    let Some((count, with_values)) = args else {
        return if size == 0 {
            Reply::Nil
        } else {
            bulk(sampler.pick(rng).field)
        };
    };
    if count == 0 || size == 0 {
        return Reply::Array(Vec::new());
    }
    let n = count.unsigned_abs() as usize;
    let fields = if count < 0 || n == 1 {
        (0..n).map(|_| sampler.pick(rng)).collect()
    } else if n >= size {
        sampler.all()
    } else if n.saturating_mul(3) > size {
        // Most of the hash: drop random fields until `n` are left.
        let mut all = sampler.all();
        while all.len() > n {
            let drop = (rng.next_u64() % all.len() as u64) as usize;
            all.swap_remove(drop);
        }
        all
    } else {
        sampler.distinct(n, rng)
    };
    random_reply(&fields, with_values)
}

/// HSCAN's options after the cursor: COUNT (at least 1) and MATCH ("*" matches all).
fn parse_hscan(argv: &[Bytes]) -> Result<(usize, Option<&[u8]>), Reply> {
    // Redis's default COUNT.
    let mut count = 10;
    let mut pattern = None;
    let mut i = 3;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if eq_ignore_case(&argv[i], "count") && has_value {
            count = usize::try_from(int_arg(&argv[i + 1])?)
                .ok()
                .filter(|&c| c >= 1)
                .ok_or_else(syntax_error)?;
        } else if eq_ignore_case(&argv[i], "match") && has_value {
            pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok((count, pattern))
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]`: a pack answers everything with cursor 0;
/// a table walks buckets until it has COUNT fields (or has visited 20 × COUNT buckets, Redis's
/// bound for key/value types), then filters by pattern and expiry.
fn hscan(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(mut cursor) = parse_cursor(&argv[2]) else {
        return Reply::error_static(INVALID_CURSOR);
    };
    let scan_reply = |cursor: u64, items: Vec<Reply>| {
        let cursor = itoa::Buffer::new().format(cursor).as_bytes().to_vec();
        Reply::Array(vec![Reply::Bulk(Bytes::from(cursor)), Reply::Array(items)])
    };
    let hash = match read_ctx_hash(ctx, &argv[1]) {
        Ok(Some(hash)) => hash,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(reply) => return reply,
    };
    let (count, pattern) = match parse_hscan(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let mut found = Vec::new();
    let mut buckets_left = count.saturating_mul(20);
    loop {
        cursor = hash.scan(cursor, |f| found.push(f));
        if cursor == 0 || buckets_left == 0 || found.len() >= count {
            break;
        }
        buckets_left -= 1;
    }
    let now_ms = ctx.now_ms;
    let items = found
        .iter()
        .filter(|f| pattern.is_none_or(|p| glob::matches(p, f.field, false)))
        .filter(|f| !f.is_expired(now_ms))
        .flat_map(|f| [bulk(f.field), bulk(f.value)])
        .collect();
    scan_reply(cursor, items)
}

// ---------------------------------------------------------------------------------------------
// Commands: field expiry (Redis 7.4)

/// What HEXPIRE and its kind answer per field.
mod answer {
    pub const NO_FIELD: i64 = -2;
    pub const NO_TTL: i64 = -1;
    pub const CONDITION_NOT_MET: i64 = 0;
    pub const OK: i64 = 1;
    pub const DELETED: i64 = 2;
}

/// HEXPIRE's NX/XX/GT/LT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

impl Cond {
    /// Whether a field whose expire time is `current` may get `at` (no TTL counts as
    /// infinity: GT never beats it, LT always does).
    fn allows(self, current: Option<u64>, at: u64) -> bool {
        match (self, current) {
            (Cond::Always, _) => true,
            (Cond::Nx, current) => current.is_none(),
            (Cond::Xx, current) => current.is_some(),
            (Cond::Gt, current) => current.is_some_and(|c| at > c),
            (Cond::Lt, current) => current.is_none_or(|c| at < c),
        }
    }
}

/// Gives `field` the expire time `at` under `cond` (Redis's hashTypeSetEx): a time at or
/// before now deletes the field.
fn set_field_expire(hash: &mut Hash, field: &[u8], at: u64, cond: Cond, now_ms: u64) -> i64 {
    let Some(current) = hash.get(field).map(|f| f.expire_at_ms) else {
        return answer::NO_FIELD;
    };
    if !cond.allows(current, at) {
        return answer::CONDITION_NOT_MET;
    }
    if at <= now_ms {
        hash.remove(field);
        return answer::DELETED;
    }
    hash.set_expire(field, Some(at));
    answer::OK
}

/// HEXPIRE, HPEXPIRE, HEXPIREAT, HPEXPIREAT: `key time [NX|XX|GT|LT] FIELDS n field...`,
/// parsed after the key's type check, as Redis 7.4 does.
fn hexpire_generic(ctx: &mut WriteCtx, argv: &[Bytes], unit: Unit, absolute: bool) -> Reply {
    let command = match (unit, absolute) {
        (Unit::Seconds, false) => "hexpire",
        (Unit::Millis, false) => "hpexpire",
        (Unit::Seconds, true) => "hexpireat",
        (Unit::Millis, true) => "hpexpireat",
    };
    let now_ms = ctx.now_ms;
    let parsed = |argv: &[Bytes]| -> Result<(u64, Cond, usize), Reply> {
        let base_ms = if absolute { 0 } else { now_ms };
        let at = field_expire_ms(&argv[2], unit, base_ms, command)?;
        let cond = [
            ("nx", Cond::Nx),
            ("xx", Cond::Xx),
            ("gt", Cond::Gt),
            ("lt", Cond::Lt),
        ]
        .into_iter()
        .find(|(word, _)| is_word(&argv[3], word))
        .map_or(Cond::Always, |(_, cond)| cond);
        Ok((at, cond, if cond == Cond::Always { 3 } else { 4 }))
    };
    per_field_write(ctx, argv, |argv| {
        let (at, cond, fields_at) = parsed(argv)?;
        let fields = parse_fields(argv, fields_at, NUMFIELDS_ABOVE_ZERO)?;
        let each = move |hash: &mut Hash, field: &[u8]| {
            hash.make_ex();
            let answer = set_field_expire(hash, field, at, cond, now_ms);
            let change = match answer {
                answer::OK => Change::Updated,
                answer::DELETED => Change::Deleted,
                _ => Change::None,
            };
            (answer, change)
        };
        Ok((fields, each, &["hexpire"][..]))
    })
}

/// What one field's edit changed (for the keyspace event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    None,
    Updated,
    Deleted,
}

/// The shape of HEXPIRE, HPERSIST, HGETDEL and HGETEX: the key's type check, then `parse`
/// (which may fail), then one answer per field from `each`, in order (`A::missing()` for every
/// field when there is no hash). The events: "hdel" when a field was deleted, otherwise
/// `updated` (from `parse`) when one was updated.
fn per_field_write<'a, P, E, A>(ctx: &mut WriteCtx, argv: &'a [Bytes], parse: P) -> Reply
where
    P: FnOnce(&'a [Bytes]) -> Result<(&'a [Bytes], E, Events), Reply>,
    E: FnMut(&mut Hash, &[u8]) -> (A, Change),
    A: PerField,
{
    let now_ms = ctx.now_ms;
    let exists = match ctx.db().get_value_mut(&argv[1], now_ms) {
        Some(Value::Hash(_)) => true,
        Some(_) => return wrong_type(),
        None => false,
    };
    let (fields, mut each, updated) = match parse(argv) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let missing = || Reply::Array(fields.iter().map(|_| A::missing()).collect());
    if !exists {
        return missing();
    }
    let answers = write_hash(ctx, &argv[1], Access::Existing, |hash, _| {
        let (mut any_updated, mut any_deleted) = (false, false);
        let answers = fields
            .iter()
            .map(|f| {
                let (answer, change) = each(hash, f);
                any_updated |= change == Change::Updated;
                any_deleted |= change == Change::Deleted;
                answer.into_reply()
            })
            .collect::<Vec<_>>();
        let events: Events = match (any_deleted, any_updated) {
            (true, _) => &["hdel"],
            (false, true) => updated,
            (false, false) => &[],
        };
        (answers, events)
    });
    match answers {
        Ok(Some(answers)) => Reply::Array(answers),
        Ok(None) => missing(),
        Err(reply) => reply,
    }
}

/// One element of a per-field reply.
trait PerField {
    fn missing() -> Reply;
    fn into_reply(self) -> Reply;
}

impl PerField for i64 {
    fn missing() -> Reply {
        Reply::Int(answer::NO_FIELD)
    }

    fn into_reply(self) -> Reply {
        Reply::Int(self)
    }
}

/// A field's value (HGETDEL, HGETEX).
impl PerField for Option<Bytes> {
    fn missing() -> Reply {
        Reply::Nil
    }

    fn into_reply(self) -> Reply {
        self.map_or(Reply::Nil, Reply::Bulk)
    }
}

fn hexpire(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, Unit::Seconds, false)
}

fn hpexpire(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, Unit::Millis, false)
}

fn hexpireat(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, Unit::Seconds, true)
}

fn hpexpireat(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, Unit::Millis, true)
}

/// HPERSIST: 1 when a TTL was removed, -1 for a field without one, -2 for no such field.
fn hpersist(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    per_field_write(ctx, argv, |argv| {
        let fields = parse_fields(argv, 2, NUMFIELDS_POSITIVE)?;
        let each = |hash: &mut Hash, field: &[u8]| match hash.get(field).map(|f| f.expire_at_ms) {
            None => (answer::NO_FIELD, Change::None),
            Some(None) => (answer::NO_TTL, Change::None),
            Some(Some(_)) => {
                hash.set_expire(field, None);
                (answer::OK, Change::Updated)
            }
        };
        Ok((fields, each, &["hpersist"][..]))
    })
}

/// HTTL, HPTTL, HEXPIRETIME, HPEXPIRETIME: per field -2 (no such field), -1 (no TTL), or the
/// time left (relative) or the expire time (absolute); seconds round up, as Redis 7.4 does.
fn httl_generic(ctx: &mut ReadCtx, argv: &[Bytes], unit: Unit, absolute: bool) -> Reply {
    let hash = match read_ctx_hash(ctx, &argv[1]) {
        Ok(hash) => hash,
        Err(reply) => return reply,
    };
    let fields = match parse_fields(argv, 2, NUMFIELDS_POSITIVE) {
        Ok(fields) => fields,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let base_ms = if absolute { 0 } else { now_ms };
    let answer = |field: &[u8]| -> i64 {
        let Some(field) = hash.and_then(|h| h.get_live(field, now_ms)) else {
            return answer::NO_FIELD;
        };
        let Some(at) = field.expire_at_ms else {
            return answer::NO_TTL;
        };
        let ms = at.saturating_sub(base_ms);
        let out = match unit {
            Unit::Seconds => ms.div_ceil(1000),
            Unit::Millis => ms,
        };
        i64::try_from(out).unwrap_or(i64::MAX)
    };
    Reply::Array(fields.iter().map(|f| Reply::Int(answer(f))).collect())
}

fn httl(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, Unit::Seconds, false)
}

fn hpttl(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, Unit::Millis, false)
}

fn hexpiretime(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, Unit::Seconds, true)
}

fn hpexpiretime(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, Unit::Millis, true)
}

// ---------------------------------------------------------------------------------------------
// Commands: HGETDEL, HGETEX, HSETEX (Redis 8.0)

/// `HGETDEL key FIELDS n field...`: each field's value (nil when absent), and the field is
/// deleted; a hash left empty is deleted.
fn hgetdel(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    per_field_write(ctx, argv, |argv| {
        let fields = parse_fields(argv, 2, NUMFIELDS_POSITIVE)?;
        let each = |hash: &mut Hash, field: &[u8]| {
            let value = hash.get(field).map(|f| Bytes::copy_from_slice(f.value));
            if value.is_some() {
                hash.remove(field);
                return (value, Change::Deleted);
            }
            (value, Change::None)
        };
        Ok((fields, each, &[][..]))
    })
}

/// An expire option of HGETEX or HSETEX.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    /// Absolute milliseconds, or relative to the entry's time.
    At {
        ms: u64,
        relative: bool,
    },
    Persist,
    KeepTtl,
}

/// The expire word at `argv[i]` (EX, PX, EXAT, PXAT) and its value, clock-free: the
/// milliseconds, relative or absolute.
fn parse_expiry_word(argv: &[Bytes], i: usize, command: &str) -> Option<Result<Expiry, Reply>> {
    let (unit, relative) = [
        ("ex", Unit::Seconds, true),
        ("px", Unit::Millis, true),
        ("exat", Unit::Seconds, false),
        ("pxat", Unit::Millis, false),
    ]
    .into_iter()
    .find(|(word, ..)| is_word(&argv[i], word))
    .map(|(_, unit, relative)| (unit, relative))?;
    let Some(value) = argv.get(i + 1) else {
        return Some(Err(Reply::error_static(EXPIRE_MISSING)));
    };
    Some(field_expire_ms(value, unit, 0, command).map(|ms| Expiry::At { ms, relative }))
}

/// The absolute expire time of an `Expiry::At`, checked against the limit once now is known.
fn resolve_expiry(ms: u64, relative: bool, now_ms: u64, command: &str) -> Result<u64, Reply> {
    if !relative {
        return Ok(ms);
    }
    match ms.checked_add(now_ms) {
        Some(at) if at <= FIELD_EXPIRE_MAX_MS as u64 => Ok(at),
        _ => Err(invalid_expire(command)),
    }
}

/// `HGETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST] FIELDS n field...`: the values,
/// then the fields get the new expire time (one at or before now deletes them) or lose theirs.
fn hgetex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    per_field_write(ctx, argv, |argv| {
        let mut expiry = None;
        let mut i = 2;
        loop {
            let word = match parse_expiry_word(argv, i, "hgetex") {
                Some(parsed) => {
                    i += 2;
                    parsed?
                }
                None if is_word(&argv[i], "persist") => {
                    i += 1;
                    Expiry::Persist
                }
                None => break,
            };
            if expiry.is_some() {
                return Err(Reply::error_static(ONE_OF_GETEX_TTL));
            }
            expiry = Some(word);
            if i >= argv.len() {
                break;
            }
        }
        let expiry = match expiry {
            Some(Expiry::At { ms, relative }) => {
                Some(Some(resolve_expiry(ms, relative, now_ms, "hgetex")?))
            }
            Some(_) => Some(None),
            None => None,
        };
        let fields = parse_fields(argv, i, NUMFIELDS_POSITIVE)?;
        let updated: Events = match expiry {
            Some(None) => &["hpersist"],
            _ => &["hexpire"],
        };
        let each = move |hash: &mut Hash, field: &[u8]| {
            if matches!(expiry, Some(Some(at)) if at > now_ms) {
                hash.make_ex();
            }
            let Some(found) = hash.get(field) else {
                return (None, Change::None);
            };
            let (value, ttl) = (Bytes::copy_from_slice(found.value), found.expire_at_ms);
            let change = match expiry {
                Some(Some(at)) if at <= now_ms => {
                    hash.remove(field);
                    Change::Deleted
                }
                Some(Some(at)) => {
                    hash.set_expire(field, Some(at));
                    Change::Updated
                }
                Some(None) if ttl.is_some() => {
                    hash.set_expire(field, None);
                    Change::Updated
                }
                _ => Change::None,
            };
            (Some(value), change)
        };
        Ok((fields, each, updated))
    })
}

/// HSETEX's options: FNX/FXX, the expiry, and where the field/value pairs start.
#[derive(Clone, Copy, Debug)]
struct SetEx {
    /// Some(true) = FNX (no field may exist), Some(false) = FXX (all must exist).
    only_new: Option<bool>,
    expiry: Option<Expiry>,
    pairs_at: usize,
}

/// `HSETEX key [FNX|FXX] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL] FIELDS n field value ...`,
/// parsed before the key is looked up, as Redis 8.0 does.
fn parse_hsetex(argv: &[Bytes]) -> Result<SetEx, Reply> {
    let mut args = SetEx {
        only_new: None,
        expiry: None,
        pairs_at: 0,
    };
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i];
        if is_word(arg, "fields") {
            if i + 3 >= argv.len() {
                return Err(arity_error("hsetex"));
            }
            let count = parse_i64(&argv[i + 1])
                .filter(|&n| (1..=i64::from(i32::MAX)).contains(&n))
                .ok_or_else(|| Reply::error_static(NUMFIELDS_INVALID))?;
            let rest = argv.len() - i - 2;
            if !rest.is_multiple_of(2) || count as usize != rest / 2 {
                return Err(arity_error("hsetex"));
            }
            args.pairs_at = i + 2;
            return Ok(args);
        }
        if is_word(arg, "fnx") || is_word(arg, "fxx") {
            if args.only_new.is_some() {
                return Err(Reply::error_static(ONE_OF_FNX_FXX));
            }
            args.only_new = Some(is_word(arg, "fnx"));
            i += 1;
            continue;
        }
        let expiry = match parse_expiry_word(argv, i, "hsetex") {
            Some(parsed) if args.expiry.is_none() => {
                i += 2;
                parsed?
            }
            None if is_word(arg, "keepttl") && args.expiry.is_none() => {
                i += 1;
                Expiry::KeepTtl
            }
            Some(_) => return Err(Reply::error_static(ONE_OF_SETEX_TTL)),
            None if is_word(arg, "keepttl") => return Err(Reply::error_static(ONE_OF_SETEX_TTL)),
            None => return Err(Reply::error_static(UNKNOWN_ARGUMENT)),
        };
        args.expiry = Some(expiry);
    }
    Err(Reply::error_static(FIELDS_MISSING))
}

fn hsetex_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_hsetex(argv).map(drop)
}

/// HSETEX: 0 when FNX/FXX refuse (nothing is set), 1 otherwise. Values are set like HSET's
/// (a field loses its TTL) unless an expire option or KEEPTTL is given; an expire time at or
/// before now deletes the fields it names.
fn hsetex(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_hsetex(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let at = match args.expiry {
        Some(Expiry::At { ms, relative }) => {
            match resolve_expiry(ms, relative, ctx.now_ms, "hsetex") {
                Ok(at) => Some(at),
                Err(reply) => return reply,
            }
        }
        _ => None,
    };
    let keep_ttl = args.expiry.is_some();
    let pairs = &argv[args.pairs_at..];
    let now_ms = ctx.now_ms;
    // FXX on a missing key answers at once: the key is never made.
    if args.only_new == Some(false) && ctx.db().get_value_mut(&argv[1], now_ms).is_none() {
        return Reply::Int(0);
    }
    let done = write_hash(ctx, &argv[1], Access::Create, |hash, env| {
        if let Some(only_new) = args.only_new {
            let mut fields = pairs.chunks_exact(2).map(|p| hash.get(&p[0]).is_some());
            let refused = if only_new {
                fields.any(|exists| exists)
            } else {
                !fields.all(|exists| exists)
            };
            if refused {
                return (false, &[][..]);
            }
        }
        hash.prepare(pairs.iter().map(|a| &a[..]), env.limits);
        if at.is_some() {
            hash.make_ex();
        }
        for pair in pairs.chunks_exact(2) {
            hash.set(&pair[0], &pair[1], keep_ttl, env.limits);
            if let Some(at) = at {
                set_field_expire(hash, &pair[0], at, Cond::Always, now_ms);
            }
        }
        // Redis 8.0: "hset", then the expire time's effect (a time at or before now deleted
        // the fields).
        let events: Events = match at {
            None => &["hset"],
            Some(at) if at <= now_ms => &["hset", "hdel"],
            Some(_) => &["hset", "hexpire"],
        };
        (true, events)
    });
    match done {
        Ok(set) => Reply::Int(i64::from(set == Some(true))),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// The table

const H: u32 = acl::HASH;
const G: Group = Group::Hash;
const FIELDS_N: &str = "O(N) where N is the number of specified fields";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("hset", -4, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "2.0.0", "Set the string value of a hash field", Handler::Write(hset_check, hset))
        .complexity("O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
    cmd("hmset", -4, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "2.0.0", "Set multiple hash fields to multiple values", Handler::Write(hset_check, hmset))
        .complexity("O(N) where N is the number of fields being set."),
    cmd("hsetnx", 4, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "2.0.0", "Set the value of a hash field, only if the field does not exist", Handler::Write(no_syntax, hsetnx))
        .complexity("O(1)"),
    cmd("hget", 3, READONLY | FAST, H, Keys::ONE, G, "2.0.0", "Get the value of a hash field", Handler::Read(hget))
        .complexity("O(1)"),
    cmd("hmget", -3, READONLY | FAST, H, Keys::ONE, G, "2.0.0", "Get the values of all the given hash fields", Handler::Read(hmget))
        .complexity("O(N) where N is the number of fields being requested."),
    cmd("hdel", -3, WRITE | FAST, H, Keys::ONE, G, "2.0.0", "Delete one or more hash fields", Handler::Write(no_syntax, hdel))
        .complexity("O(N) where N is the number of fields to be removed."),
    cmd("hlen", 2, READONLY | FAST, H, Keys::ONE, G, "2.0.0", "Get the number of fields in a hash", Handler::Read(hlen))
        .complexity("O(1)"),
    cmd("hstrlen", 3, READONLY | FAST, H, Keys::ONE, G, "3.2.0", "Get the length of the value of a hash field", Handler::Read(hstrlen))
        .complexity("O(1)"),
    cmd("hexists", 3, READONLY | FAST, H, Keys::ONE, G, "2.0.0", "Determine if a hash field exists", Handler::Read(hexists))
        .complexity("O(1)"),
    cmd("hkeys", 2, READONLY, H, Keys::ONE, G, "2.0.0", "Get all the fields in a hash", Handler::Read(hkeys))
        .complexity("O(N) where N is the size of the hash."),
    cmd("hvals", 2, READONLY, H, Keys::ONE, G, "2.0.0", "Get all the values in a hash", Handler::Read(hvals))
        .complexity("O(N) where N is the size of the hash."),
    cmd("hgetall", 2, READONLY, H, Keys::ONE, G, "2.0.0", "Get all the fields and values in a hash", Handler::Read(hgetall))
        .complexity("O(N) where N is the size of the hash."),
    cmd("hincrby", 4, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "2.0.0", "Increment the integer value of a hash field by the given number", Handler::Write(hincrby_check, hincrby))
        .complexity("O(1)"),
    cmd("hincrbyfloat", 4, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "2.6.0", "Increment the float value of a hash field by the given amount", Handler::Write(hincrbyfloat_check, hincrbyfloat))
        .complexity("O(1)"),
    cmd("hrandfield", -2, READONLY, H, Keys::ONE, G, "6.2.0", "Get one or multiple random fields from a hash", Handler::Read(hrandfield))
        .complexity("O(N) where N is the number of fields returned"),
    cmd("hscan", -3, READONLY, H, Keys::ONE, G, "2.8.0", "Incrementally iterate hash fields and associated values", Handler::Read(hscan))
        .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
    cmd("hexpire", -6, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "7.4.0", "Set expiry for hash field using relative time to expire (seconds)", Handler::Write(no_syntax, hexpire))
        .complexity(FIELDS_N),
    cmd("hpexpire", -6, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "7.4.0", "Set expiry for hash field using relative time to expire (milliseconds)", Handler::Write(no_syntax, hpexpire))
        .complexity(FIELDS_N),
    cmd("hexpireat", -6, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (seconds)", Handler::Write(no_syntax, hexpireat))
        .complexity(FIELDS_N),
    cmd("hpexpireat", -6, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "7.4.0", "Set expiry for hash field using an absolute Unix timestamp (milliseconds)", Handler::Write(no_syntax, hpexpireat))
        .complexity(FIELDS_N),
    cmd("httl", -5, READONLY | FAST, H, Keys::ONE, G, "7.4.0", "Returns the TTL in seconds of a hash field.", Handler::Read(httl))
        .complexity(FIELDS_N),
    cmd("hpttl", -5, READONLY | FAST, H, Keys::ONE, G, "7.4.0", "Returns the TTL in milliseconds of a hash field.", Handler::Read(hpttl))
        .complexity(FIELDS_N),
    cmd("hexpiretime", -5, READONLY | FAST, H, Keys::ONE, G, "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in seconds.", Handler::Read(hexpiretime))
        .complexity(FIELDS_N),
    cmd("hpexpiretime", -5, READONLY | FAST, H, Keys::ONE, G, "7.4.0", "Returns the expiration time of a hash field as a Unix timestamp, in msec.", Handler::Read(hpexpiretime))
        .complexity(FIELDS_N),
    cmd("hpersist", -5, WRITE | FAST, H, Keys::ONE, G, "7.4.0", "Removes the expiration time for each specified field", Handler::Write(no_syntax, hpersist))
        .complexity(FIELDS_N),
    cmd("hgetdel", -5, WRITE | FAST, H, Keys::ONE, G, "8.0.0", "Returns the value of a field and deletes it from the hash", Handler::Write(no_syntax, hgetdel))
        .complexity(FIELDS_N),
    cmd("hgetex", -5, WRITE | FAST, H, Keys::ONE, G, "8.0.0", "Get the value of one or more fields of a given hash key, and optionally set their expiration", Handler::Write(no_syntax, hgetex))
        .complexity(FIELDS_N),
    cmd("hsetex", -6, WRITE | DENYOOM | FAST, H, Keys::ONE, G, "8.0.0", "Set the value of one or more fields of a given hash key, and optionally set their expiration", Handler::Write(hsetex_check, hsetex))
        .complexity("O(N) where N is the number of fields being set."),
];
