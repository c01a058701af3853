//! The list family: pushes, pops, ranges, edits, moves and the blocking pops, with Redis
//! 7.0.15's semantics (`src/t_list.c`), replies and errors.
//!
//! Sections, low level first: errors and argument parsing (positions, counts, timeouts), typed
//! access to the keyspace, then the commands (pushes, pops, reads, edits, moves, blocking),
//! what the node needs to park a blocking command, and the table.
//!
//! Where the syntax check runs: every argument Redis parses before it looks the key up is
//! checked in `check` (rejected before the log); what Redis parses after the lookup (LINDEX's
//! and LSET's index) is checked in the handler, so a missing key or a wrong type answers
//! first, exactly as in Redis.
//!
//! Blocking commands: apply serves at once when a key has elements and otherwise answers
//! `blocked()`; the node parks the client (see [`blocking_wait`]) and appends the command
//! again when a write signals one of its keys. Every push signals its key.
//!
//! Keyspace notifications follow Redis: the command's event after its change ("lpush",
//! "rpop", "lset", ...), then "del" when the change emptied the list. A move notifies the
//! push onto the destination before the pop from the source, as Redis does.

use std::ops::Range;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::string::long_double::{self, LongDouble};
use crate::commands::{BMPOP_KEYS, MPOP_KEYS};
use crate::commands::{
    NO_SUCH_KEY, blocked, cmd, eq_ignore_case, int_arg, parse_i64, syntax_error, wrong_type,
};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group, Handler, KeySpec, Keys, Spec, acl, arity_error, flag::*, key};
use crate::types::list::{End, List};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors and argument parsing

const OUT_OF_RANGE: &str = "ERR index out of range";
const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
const MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";

/// Redis compares option words as C strings: the bytes up to the first NUL count.
fn is_word(arg: &[u8], word: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    eq_ignore_case(&arg[..end], word)
}

/// LEFT or RIGHT (Redis's `getListPositionFromObjectOrReply`).
fn end_arg(arg: &[u8]) -> Result<End, Reply> {
    if is_word(arg, "right") {
        Ok(End::Tail)
    } else if is_word(arg, "left") {
        Ok(End::Head)
    } else {
        Err(syntax_error())
    }
}

/// An integer in `min..`: anything else, unparsable included, answers `error` (Redis's
/// `getRangeLongFromObjectOrReply` with a message).
fn int_at_least(arg: &[u8], min: i64, error: &'static str) -> Result<i64, Reply> {
    match parse_i64(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(Reply::error_static(error)),
    }
}

/// A blocking timeout in seconds, as Redis reads it: a `long double` (decimal, hex, `inf`),
/// times 1000 in extended precision, rounded up to whole milliseconds. 0 waits forever.
pub fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let value = long_double::parse(arg).ok_or_else(|| Reply::error_static(TIMEOUT_NOT_FLOAT))?;
    u64::try_from(seconds_to_ms(value)).map_err(|_| Reply::error_static(TIMEOUT_NEGATIVE))
}

/// `(long long) ceill(v * 1000.0L)` on x86-64: the product rounds to a 64-bit significand
/// (nearest, ties to even); a result outside i64 converts to i64::MIN (the x87 "integer
/// indefinite"), which Redis then calls negative.
fn seconds_to_ms(value: LongDouble) -> i64 {
    let (neg, mant, exp) = match value {
        LongDouble::Inf { .. } => return i64::MIN,
        LongDouble::Finite { mant: 0, .. } => return 0,
        LongDouble::Finite { neg, mant, exp } => (neg, mant, exp),
    };
    // 1000 × a 64-bit significand needs at most 74 bits.
    let mut m = u128::from(mant) * 1000;
    let mut e = exp;
    let bits = 128 - m.leading_zeros() as i32;
    if bits > 64 {
        let shift = bits - 64;
        let rem = m & ((1 << shift) - 1);
        let half = 1u128 << (shift - 1);
        m >>= shift;
        e += shift;
        if rem > half || (rem == half && m & 1 == 1) {
            m += 1;
            if m >> 64 != 0 {
                m >>= 1;
                e += 1;
            }
        }
    }
    // The value is ±m × 2^e with m < 2^64; ceil it, then convert.
    let magnitude = if e >= 0 {
        if e > 63 || m.leading_zeros() < 64 + e as u32 {
            return i64::MIN;
        }
        m << e
    } else if e <= -128 {
        // Below one: ceil gives 1 for a positive value and (negative) zero otherwise.
        u128::from(!neg)
    } else {
        let whole = m >> -e;
        let fraction = m & ((1u128 << -e) - 1) != 0;
        // Ceil rounds positive values away from zero and negative ones towards it.
        whole + u128::from(fraction && !neg)
    };
    match i64::try_from(magnitude) {
        Ok(v) if neg => -v,
        Ok(v) => v,
        Err(_) => i64::MIN,
    }
}

/// LPOP/RPOP's optional count; more than one argument after the key is an arity error.
fn pop_count(argv: &[Bytes], name: &str) -> Result<Option<usize>, Reply> {
    match argv.len() {
        2 => Ok(None),
        3 => Ok(Some(int_at_least(&argv[2], 0, MUST_BE_POSITIVE)? as usize)),
        _ => Err(arity_error(name)),
    }
}

/// LMPOP/BLMPOP after the timeout: `numkeys key... LEFT|RIGHT [COUNT n]`.
struct Mpop {
    keys: Range<usize>,
    end: End,
    count: usize,
}

fn parse_mpop(argv: &[Bytes], numkeys_at: usize) -> Result<Mpop, Reply> {
    let numkeys = int_at_least(&argv[numkeys_at], 1, NUMKEYS)? as u64;
    let first = numkeys_at + 1;
    let end_at = match usize::try_from(numkeys) {
        Ok(n) if n < argv.len() - first => first + n,
        _ => return Err(syntax_error()),
    };
    let end = end_arg(&argv[end_at])?;
    let mut count = None;
    let mut j = end_at + 1;
    while j < argv.len() {
        if count.is_none() && is_word(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(int_at_least(&argv[j + 1], 1, COUNT_NOT_POSITIVE)? as usize);
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(Mpop {
        keys: first..end_at,
        end,
        count: count.unwrap_or(1),
    })
}

/// LPOS's options.
struct Lpos {
    /// 1 = the first match; negative counts matches from the tail.
    rank: i64,
    /// `None` without COUNT (a single reply); `Some(0)` = every match.
    count: Option<i64>,
    /// Elements to compare at most; 0 = all.
    maxlen: i64,
}

fn parse_lpos(argv: &[Bytes]) -> Result<Lpos, Reply> {
    let mut opts = Lpos {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < argv.len() {
        let (opt, more) = (&argv[j][..], j + 1 < argv.len());
        if is_word(opt, "rank") && more {
            opts.rank = int_arg(&argv[j + 1])?;
            if opts.rank == 0 {
                return Err(Reply::error_static(RANK_ZERO));
            }
        } else if is_word(opt, "count") && more {
            opts.count = Some(int_at_least(&argv[j + 1], 0, COUNT_NEGATIVE)?);
        } else if is_word(opt, "maxlen") && more {
            opts.maxlen = int_at_least(&argv[j + 1], 0, MAXLEN_NEGATIVE)?;
        } else {
            return Err(syntax_error());
        }
        j += 2;
    }
    Ok(opts)
}

/// An index as Redis's quicklist reads it: negative counts from the tail.
fn index_of(index: i64, len: usize) -> Option<usize> {
    let len = len as i128;
    let i = i128::from(index);
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// The inclusive range `start..=end` (negative from the tail) clamped to the list, as
/// `(first index, element count)`; `None` when empty (Redis's `addListRangeReply`).
fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return None;
    }
    let end = end.min(len - 1);
    Some((start as usize, (end - start + 1) as usize))
}

// ---------------------------------------------------------------------------------------------
// Typed access: a key holding another type is WRONGTYPE

fn get_list<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a List>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::List(list) => Ok(Some(list)),
        _ => Err(wrong_type()),
    }
}

/// For writes: an expired key is removed first, as a write's lookup does in Redis.
fn get_list_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut List>, Reply> {
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    match &mut slot.value {
        Value::List(list) => Ok(Some(list)),
        _ => Err(wrong_type()),
    }
}

/// Pushes `elems` onto the list at `key`, making it when absent; the new length. The key is
/// signalled for blocked clients.
fn push_onto(ctx: &mut WriteCtx, key: &[u8], end: End, elems: &[Bytes]) -> Result<usize, Reply> {
    let (now_ms, fill) = (ctx.now_ms, ctx.engine.encodings().list_max_listpack_size);
    let db = ctx.db();
    let len = match get_list_mut(db, key, now_ms)? {
        Some(list) => {
            elems.iter().for_each(|e| list.push(end, e));
            list.len()
        }
        None => {
            let mut list = List::with_fill(fill);
            elems.iter().for_each(|e| list.push(end, e));
            let len = list.len();
            db.set(key, Value::List(Box::new(list)), None, now_ms);
            len
        }
    };
    ctx.signal_ready(key);
    ctx.notify(notify::LIST, push_event(end), key);
    Ok(len)
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// The events of a pop from `key`: the pop, then "del" when it took the last element (the
/// key is already removed).
fn notify_popped(ctx: &mut WriteCtx, key: &[u8], end: End, emptied: bool) {
    let event = match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    };
    ctx.notify(notify::LIST, event, key);
    notify_if_removed(ctx, key, emptied);
}

/// "del" for a key whose list the command emptied (and removed).
fn notify_if_removed(ctx: &mut WriteCtx, key: &[u8], emptied: bool) {
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn bulks(list: &List, first: usize, n: usize, forward: bool) -> Vec<Reply> {
    list.iter_from(first, forward)
        .take(n)
        .map(|e| Reply::Bulk(e.to_bytes()))
        .collect()
}

/// Removes up to `count` elements from one end: they come out in pop order.
fn pop_many(list: &mut List, end: End, count: usize) -> Vec<Reply> {
    let n = count.min(list.len());
    if n == 0 {
        return Vec::new();
    }
    let items = match end {
        End::Head => bulks(list, 0, n, true),
        End::Tail => bulks(list, list.len() - 1, n, false),
    };
    match end {
        End::Head => list.drain_front(n),
        End::Tail => list.drain_back(n),
    }
    items
}

/// Removes `key` once its list is empty (a collection is never stored empty): `emptied` is
/// the list's `is_empty()` after the command's last change.
fn remove_if_empty(db: &mut Db, key: &[u8], emptied: bool) {
    if emptied {
        db.remove(key);
    }
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn reply_of(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// Pushes: LPUSH, RPUSH, LPUSHX, RPUSHX

fn push_generic(ctx: &mut WriteCtx, argv: &[Bytes], end: End, only_existing: bool) -> Reply {
    let (now_ms, key) = (ctx.now_ms, &argv[1]);
    if only_existing {
        match get_list_mut(ctx.db(), key, now_ms) {
            Ok(Some(_)) => {}
            Ok(None) => return Reply::Int(0),
            Err(reply) => return reply,
        }
    }
    match push_onto(ctx, key, end, &argv[2..]) {
        Ok(len) => Reply::Int(len as i64),
        Err(reply) => reply,
    }
}

fn lpush(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Head, false)
}

fn rpush(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Tail, false)
}

fn lpushx(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Head, true)
}

fn rpushx(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Tail, true)
}

// ---------------------------------------------------------------------------------------------
// Pops: LPOP, RPOP, LMPOP

fn lpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    pop_count(argv, "lpop").map(|_| ())
}

fn rpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    pop_count(argv, "rpop").map(|_| ())
}

fn pop_generic(ctx: &mut WriteCtx, argv: &[Bytes], end: End, name: &str) -> Reply {
    let count = match pop_count(argv, name) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    let (now_ms, key) = (ctx.now_ms, &argv[1][..]);
    let db = ctx.db();
    let list = match get_list_mut(db, key, now_ms) {
        Ok(Some(list)) => list,
        Ok(None) if count.is_some() => return Reply::NilArray,
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let reply = match count {
        // Nothing taken: no event.
        Some(0) => return Reply::Array(Vec::new()),
        None => Reply::Bulk(list.pop(end).expect("lists are never stored empty")),
        Some(n) => Reply::Array(pop_many(list, end, n)),
    };
    let emptied = list.is_empty();
    remove_if_empty(db, key, emptied);
    notify_popped(ctx, key, end, emptied);
    reply
}

fn lpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, End::Head, "lpop")
}

fn rpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, End::Tail, "rpop")
}

/// Pops from the first non-empty list among `keys`: `[key, [elements]]`, or `None` when
/// every key is missing.
fn mpop_generic(ctx: &mut WriteCtx, argv: &[Bytes], mpop: &Mpop) -> Result<Option<Reply>, Reply> {
    let now_ms = ctx.now_ms;
    for key in &argv[mpop.keys.clone()] {
        let db = ctx.db();
        let Some(list) = get_list_mut(db, key, now_ms)? else {
            continue;
        };
        let items = pop_many(list, mpop.end, mpop.count);
        let emptied = list.is_empty();
        remove_if_empty(db, key, emptied);
        notify_popped(ctx, key, mpop.end, emptied);
        return Ok(Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(items),
        ])));
    }
    Ok(None)
}

fn lmpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_mpop(argv, 1).map(|_| ())
}

fn lmpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = parse_mpop(argv, 1)
        .and_then(|mpop| mpop_generic(ctx, argv, &mpop))
        .map(|served| served.unwrap_or(Reply::NilArray));
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// Reads: LLEN, LRANGE, LINDEX, LPOS

fn llen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_list(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(list) => Reply::Int(list.map_or(0, List::len) as i64),
        Err(reply) => reply,
    }
}

/// LRANGE: the indexes are parsed before the key is looked up.
fn lrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let (start, end) = (int_arg(&argv[2])?, int_arg(&argv[3])?);
        let Some(list) = get_list(ctx.db(), &argv[1], ctx.now_ms)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        Ok(Reply::Array(match clamp_range(start, end, list.len()) {
            Some((first, n)) => bulks(list, first, n, true),
            None => Vec::new(),
        }))
    })();
    reply_of(result)
}

/// LINDEX: the key is looked up before the index is parsed.
fn lindex(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let Some(list) = get_list(ctx.db(), &argv[1], ctx.now_ms)? else {
            return Ok(Reply::Nil);
        };
        let index = int_arg(&argv[2])?;
        Ok(index_of(index, list.len())
            .and_then(|i| list.get(i))
            .map_or(Reply::Nil, |e| Reply::Bulk(e.to_bytes())))
    })();
    reply_of(result)
}

/// LPOS, walking as Redis does: a negative rank walks from the tail; indexes always count
/// from the head. Redis negates the rank with wrapping, so `RANK i64::MIN` matches at once.
fn lpos(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let opts = parse_lpos(argv)?;
        let Some(list) = get_list(ctx.db(), &argv[1], ctx.now_ms)? else {
            return Ok(if opts.count.is_some() {
                Reply::Array(Vec::new())
            } else {
                Reply::Nil
            });
        };
        let forward = opts.rank > 0;
        let rank = if forward {
            opts.rank
        } else {
            opts.rank.wrapping_neg()
        };
        let needle = List::needle(&argv[2]);
        let len = list.len();
        let entries = if forward {
            list.iter()
        } else {
            list.iter_from(len - 1, false)
        };
        let mut matches: i64 = 0;
        let mut found = Vec::new();
        for (index, entry) in entries.enumerate() {
            if opts.maxlen != 0 && index as i64 >= opts.maxlen {
                break;
            }
            if !entry.is(&needle) {
                continue;
            }
            matches += 1;
            if matches < rank {
                continue;
            }
            let at = if forward { index } else { len - index - 1 };
            found.push(Reply::Int(at as i64));
            match opts.count {
                None => break,
                Some(0) => {}
                Some(count) if matches.wrapping_sub(rank).wrapping_add(1) >= count => break,
                Some(_) => {}
            }
        }
        Ok(match opts.count {
            Some(_) => Reply::Array(found),
            None => found.pop().unwrap_or(Reply::Nil),
        })
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// Edits: LSET, LINSERT, LREM, LTRIM

/// LSET: the key is looked up before the index is parsed.
fn lset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let result = (|| {
        let Some(list) = get_list_mut(ctx.db(), &argv[1], now_ms)? else {
            return Err(Reply::error_static(NO_SUCH_KEY));
        };
        let index = int_arg(&argv[2])?;
        match index_of(index, list.len()) {
            Some(i) if list.set(i, &argv[3]) => {
                ctx.notify(notify::LIST, "lset", &argv[1]);
                Ok(Reply::ok())
            }
            _ => Err(Reply::error_static(OUT_OF_RANGE)),
        }
    })();
    reply_of(result)
}

fn linsert_after(argv: &[Bytes]) -> Result<bool, Reply> {
    if is_word(&argv[2], "after") {
        Ok(true)
    } else if is_word(&argv[2], "before") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

fn linsert_check(argv: &[Bytes]) -> Result<(), Reply> {
    linsert_after(argv).map(|_| ())
}

fn linsert(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let result = (|| {
        let after = linsert_after(argv)?;
        let Some(list) = get_list_mut(ctx.db(), &argv[1], now_ms)? else {
            return Ok(Reply::Int(0));
        };
        if !list.insert(&argv[3], &argv[4], after) {
            return Ok(Reply::Int(-1));
        }
        let len = list.len();
        ctx.notify(notify::LIST, "linsert", &argv[1]);
        Ok(Reply::Int(len as i64))
    })();
    reply_of(result)
}

fn lrem_check(argv: &[Bytes]) -> Result<(), Reply> {
    int_arg(&argv[2]).map(|_| ())
}

/// LREM: a negative count removes from the tail; `i64::MIN`'s magnitude is out of reach, so
/// it removes every match (as Redis's wrapped negation does).
fn lrem(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let key = &argv[1][..];
    let result = (|| {
        let count = int_arg(&argv[2])?;
        let db = ctx.db();
        let Some(list) = get_list_mut(db, key, now_ms)? else {
            return Ok(Reply::Int(0));
        };
        let removed = list.remove(&argv[3], count.unsigned_abs(), count < 0);
        let emptied = list.is_empty();
        remove_if_empty(db, key, emptied);
        if removed > 0 {
            ctx.notify(notify::LIST, "lrem", key);
        }
        notify_if_removed(ctx, key, emptied);
        Ok(Reply::Int(removed as i64))
    })();
    reply_of(result)
}

fn ltrim_check(argv: &[Bytes]) -> Result<(), Reply> {
    int_arg(&argv[2])?;
    int_arg(&argv[3]).map(|_| ())
}

fn ltrim(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let key = &argv[1][..];
    let result = (|| {
        let (start, end) = (int_arg(&argv[2])?, int_arg(&argv[3])?);
        let db = ctx.db();
        let Some(list) = get_list_mut(db, key, now_ms)? else {
            return Ok(Reply::ok());
        };
        let len = list.len();
        let (first, n) = clamp_range(start, end, len).unwrap_or((len, 0));
        list.drain_back(len - first - n);
        list.drain_front(first);
        let emptied = list.is_empty();
        remove_if_empty(db, key, emptied);
        // Redis notifies a trim even when it removed nothing.
        ctx.notify(notify::LIST, "ltrim", key);
        notify_if_removed(ctx, key, emptied);
        Ok(Reply::ok())
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// Moves: LMOVE, RPOPLPUSH

/// Pops from `src` and pushes onto `dst`: nil when `src` is missing; WRONGTYPE (nothing
/// moved) when either key holds another type. `src == dst` rotates the list.
fn lmove_generic(ctx: &mut WriteCtx, src: &[u8], dst: &[u8], from: End, to: End) -> Reply {
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    match get_list_mut(db, src, now_ms) {
        Ok(Some(_)) => {}
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    }
    if let Err(reply) = get_list_mut(db, dst, now_ms) {
        return reply;
    }
    let list = get_list_mut(db, src, now_ms)
        .ok()
        .flatten()
        .expect("checked above");
    let value = list.pop(from).expect("lists are never stored empty");
    let emptied = if src == dst {
        list.push(to, &value);
        ctx.signal_ready(dst);
        ctx.notify(notify::LIST, push_event(to), dst);
        false
    } else {
        let emptied = list.is_empty();
        remove_if_empty(db, src, emptied);
        let pushed = push_onto(ctx, dst, to, std::slice::from_ref(&value));
        debug_assert!(pushed.is_ok(), "the destination's type was checked");
        emptied
    };
    notify_popped(ctx, src, from, emptied);
    Reply::Bulk(value)
}

fn lmove_ends(argv: &[Bytes]) -> Result<(End, End), Reply> {
    Ok((end_arg(&argv[3])?, end_arg(&argv[4])?))
}

fn lmove_check(argv: &[Bytes]) -> Result<(), Reply> {
    lmove_ends(argv).map(|_| ())
}

fn lmove(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match lmove_ends(argv) {
        Ok((from, to)) => lmove_generic(ctx, &argv[1], &argv[2], from, to),
        Err(reply) => reply,
    }
}

fn rpoplpush(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    lmove_generic(ctx, &argv[1], &argv[2], End::Tail, End::Head)
}

// ---------------------------------------------------------------------------------------------
// Blocking: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP

fn bpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    timeout_ms(&argv[argv.len() - 1]).map(|_| ())
}

/// BLPOP/BRPOP: `[key, element]` from the first key holding a list; WRONGTYPE stops at the
/// first key of another type met before that.
fn bpop_generic(ctx: &mut WriteCtx, argv: &[Bytes], end: End) -> Reply {
    if let Err(reply) = bpop_check(argv) {
        return reply;
    }
    let now_ms = ctx.now_ms;
    for key in &argv[1..argv.len() - 1] {
        let db = ctx.db();
        let list = match get_list_mut(db, key, now_ms) {
            Ok(Some(list)) => list,
            Ok(None) => continue,
            Err(reply) => return reply,
        };
        let value = list.pop(end).expect("lists are never stored empty");
        let emptied = list.is_empty();
        remove_if_empty(db, key, emptied);
        notify_popped(ctx, key, end, emptied);
        return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(value)]);
    }
    blocked()
}

fn blpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    bpop_generic(ctx, argv, End::Head)
}

fn brpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    bpop_generic(ctx, argv, End::Tail)
}

/// BLMOVE/BRPOPLPUSH once parsed: LMOVE when the source has elements.
fn blmove_generic(ctx: &mut WriteCtx, argv: &[Bytes], from: End, to: End) -> Reply {
    let now_ms = ctx.now_ms;
    match get_list_mut(ctx.db(), &argv[1], now_ms) {
        Ok(Some(_)) => lmove_generic(ctx, &argv[1], &argv[2], from, to),
        Ok(None) => blocked(),
        Err(reply) => reply,
    }
}

fn blmove_args(argv: &[Bytes]) -> Result<(End, End), Reply> {
    let ends = lmove_ends(argv)?;
    timeout_ms(&argv[5])?;
    Ok(ends)
}

fn blmove_check(argv: &[Bytes]) -> Result<(), Reply> {
    blmove_args(argv).map(|_| ())
}

fn blmove(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match blmove_args(argv) {
        Ok((from, to)) => blmove_generic(ctx, argv, from, to),
        Err(reply) => reply,
    }
}

fn brpoplpush_check(argv: &[Bytes]) -> Result<(), Reply> {
    timeout_ms(&argv[3]).map(|_| ())
}

fn brpoplpush(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match brpoplpush_check(argv) {
        Ok(()) => blmove_generic(ctx, argv, End::Tail, End::Head),
        Err(reply) => reply,
    }
}

/// BLMPOP's arguments: numkeys, the keys, the end and COUNT, then the timeout (Redis reads
/// the timeout last, so a bad numkeys answers first).
fn blmpop_args(argv: &[Bytes]) -> Result<Mpop, Reply> {
    let mpop = parse_mpop(argv, 2)?;
    timeout_ms(&argv[1])?;
    Ok(mpop)
}

fn blmpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    blmpop_args(argv).map(|_| ())
}

fn blmpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = blmpop_args(argv)
        .and_then(|mpop| mpop_generic(ctx, argv, &mpop))
        .map(|served| served.unwrap_or_else(blocked));
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// What the node needs to park a blocking command

/// How a blocking list command waits when apply answered `blocked()`.
#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    /// Indexes in argv of the keys whose pushes should retry the command.
    pub keys: Range<usize>,
    /// Relative timeout; 0 waits forever.
    pub timeout_ms: u64,
    /// The reply when the time is up, or at once where a client may not block (MULTI,
    /// scripts): a nil array for the pops, a nil for the moves.
    pub timeout_reply: Reply,
}

/// The wait of a blocking list command with valid syntax (`None` for anything else).
pub fn blocking_wait(argv: &[Bytes]) -> Option<Wait> {
    let name = argv.first()?;
    let (keys, timeout_at, timeout_reply) = if is_word(name, "blpop") || is_word(name, "brpop") {
        (1..argv.len() - 1, argv.len() - 1, Reply::NilArray)
    } else if is_word(name, "blmove") || is_word(name, "brpoplpush") {
        (1..2, argv.len() - 1, Reply::Nil)
    } else if is_word(name, "blmpop") {
        (parse_mpop(argv, 2).ok()?.keys, 1, Reply::NilArray)
    } else {
        return None;
    };
    Some(Wait {
        keys,
        timeout_ms: timeout_ms(argv.get(timeout_at)?).ok()?,
        timeout_reply,
    })
}

// ---------------------------------------------------------------------------------------------
// The table (metadata from Redis 7.0.15's COMMAND INFO and COMMAND DOCS)

const L: u32 = acl::LIST;
const G: Group = Group::List;
const PUSH: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const POP: &str = "O(N) where N is the number of elements returned";
const MPOP: &str =
    "O(N+M) where N is the number of provided keys and M is the number of elements returned.";
const BPOP: &str = "O(N) where N is the number of provided keys.";
const MOVE_SUMMARY: &str = "Pop an element from a list, push it to another list and return it; or block until one is available";
const TWO_KEYS: Keys = Keys {
    first: 1,
    last: 2,
    step: 1,
};
const KEYS_BEFORE_TIMEOUT: Keys = Keys {
    first: 1,
    last: -2,
    step: 1,
};

/// LMOVE and its kin: the source loses an element, the destination gains one.
const MOVE_KEYS: &[KeySpec] = &[
    KeySpec::at(1, key::RW | key::ACCESS | key::DELETE),
    KeySpec::at(2, key::RW | key::INSERT),
];

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("lpush", -3, WRITE | DENYOOM | FAST, L, Keys::ONE, G, "1.0.0", "Prepend one or multiple elements to a list", Handler::Write(no_syntax, lpush)).complexity(PUSH),
    cmd("rpush", -3, WRITE | DENYOOM | FAST, L, Keys::ONE, G, "1.0.0", "Append one or multiple elements to a list", Handler::Write(no_syntax, rpush)).complexity(PUSH),
    cmd("lpushx", -3, WRITE | DENYOOM | FAST, L, Keys::ONE, G, "2.2.0", "Prepend an element to a list, only if the list exists", Handler::Write(no_syntax, lpushx)).complexity(PUSH),
    cmd("rpushx", -3, WRITE | DENYOOM | FAST, L, Keys::ONE, G, "2.2.0", "Append an element to a list, only if the list exists", Handler::Write(no_syntax, rpushx)).complexity(PUSH),
    cmd("lpop", -2, WRITE | FAST, L, Keys::ONE, G, "1.0.0", "Remove and get the first elements in a list", Handler::Write(lpop_check, lpop)).complexity(POP),
    cmd("rpop", -2, WRITE | FAST, L, Keys::ONE, G, "1.0.0", "Remove and get the last elements in a list", Handler::Write(rpop_check, rpop)).complexity(POP),
    cmd("lmpop", -4, WRITE, L, Keys::NONE, G, "7.0.0", "Pop elements from a list", Handler::Write(lmpop_check, lmpop)).key_specs(MPOP_KEYS).complexity(MPOP),
    cmd("llen", 2, READONLY | FAST, L, Keys::ONE, G, "1.0.0", "Get the length of a list", Handler::Read(llen)).complexity("O(1)"),
    cmd("lrange", 4, READONLY, L, Keys::ONE, G, "1.0.0", "Get a range of elements from a list", Handler::Read(lrange)).complexity("O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."),
    cmd("lindex", 3, READONLY, L, Keys::ONE, G, "1.0.0", "Get an element from a list by its index", Handler::Read(lindex)).complexity("O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."),
    cmd("lpos", -3, READONLY, L, Keys::ONE, G, "6.0.6", "Return the index of matching elements on a list", Handler::Read(lpos)).complexity("O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."),
    cmd("lset", 4, WRITE | DENYOOM, L, Keys::ONE, G, "1.0.0", "Set the value of an element in a list by its index", Handler::Write(no_syntax, lset)).complexity("O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."),
    cmd("linsert", 5, WRITE | DENYOOM, L, Keys::ONE, G, "2.2.0", "Insert an element before or after another element in a list", Handler::Write(linsert_check, linsert)).complexity("O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."),
    cmd("lrem", 4, WRITE, L, Keys::ONE, G, "1.0.0", "Remove elements from a list", Handler::Write(lrem_check, lrem)).complexity("O(N+M) where N is the length of the list and M is the number of elements removed."),
    cmd("ltrim", 4, WRITE, L, Keys::ONE, G, "1.0.0", "Trim a list to the specified range", Handler::Write(ltrim_check, ltrim)).complexity("O(N) where N is the number of elements to be removed by the operation."),
    cmd("lmove", 5, WRITE | DENYOOM, L, TWO_KEYS, G, "6.2.0", "Pop an element from a list, push it to another list and return it", Handler::Write(lmove_check, lmove)).key_specs(MOVE_KEYS).complexity("O(1)"),
    cmd("rpoplpush", 3, WRITE | DENYOOM, L, TWO_KEYS, G, "1.2.0", "Remove the last element in a list, prepend it to another list and return it", Handler::Write(no_syntax, rpoplpush)).key_specs(MOVE_KEYS).complexity("O(1)"),
    cmd("blpop", -3, WRITE | NOSCRIPT | BLOCKING, L, KEYS_BEFORE_TIMEOUT, G, "2.0.0", "Remove and get the first element in a list, or block until one is available", Handler::Write(bpop_check, blpop)).complexity(BPOP),
    cmd("brpop", -3, WRITE | NOSCRIPT | BLOCKING, L, KEYS_BEFORE_TIMEOUT, G, "2.0.0", "Remove and get the last element in a list, or block until one is available", Handler::Write(bpop_check, brpop)).complexity(BPOP),
    cmd("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, L, TWO_KEYS, G, "6.2.0", MOVE_SUMMARY, Handler::Write(blmove_check, blmove)).key_specs(MOVE_KEYS).complexity("O(1)"),
    cmd("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, L, TWO_KEYS, G, "2.2.0", MOVE_SUMMARY, Handler::Write(brpoplpush_check, brpoplpush)).key_specs(MOVE_KEYS).complexity("O(1)"),
    cmd("blmpop", -5, WRITE | BLOCKING, L, Keys::NONE, G, "7.0.0", "Pop elements from a list, or block until one is available", Handler::Write(blmpop_check, blmpop)).key_specs(BMPOP_KEYS).complexity(MPOP),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::is_blocked;
    use crate::testing::{Harness, split_args};

    fn args(line: &str) -> Vec<Bytes> {
        split_args(line).expect("valid line")
    }

    fn ms(text: &str) -> Result<u64, Reply> {
        timeout_ms(text.as_bytes())
    }

    #[test]
    fn timeouts_read_like_redis() {
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1"), Ok(1000));
        assert_eq!(ms("0.001"), Ok(1));
        assert_eq!(ms("0.0011"), Ok(2), "rounded up");
        assert_eq!(ms("1e-10"), Ok(1));
        assert_eq!(ms("1e-300"), Ok(1), "any positive time waits at least 1 ms");
        assert_eq!(ms("-1e-300"), Ok(0));
        assert_eq!(ms("0x10"), Ok(16_000));
        assert_eq!(ms("-0"), Ok(0));
        assert_eq!(ms("-0.0001"), Ok(0), "ceil(-0.1) is zero, not negative");
        let negative = Err(Reply::error_static(TIMEOUT_NEGATIVE));
        assert_eq!(ms("-1"), negative);
        assert_eq!(ms("-0.0011"), negative);
        // 0.001 is just below a thousandth in binary: -0.999… ms rounds up to 0 (as on Redis).
        assert_eq!(ms("-0.001"), Ok(0));
        assert_eq!(ms("inf"), negative, "out of i64: the integer indefinite");
        assert_eq!(ms("1e400"), negative);
        assert_eq!(ms("9223372036854775.807"), Ok(i64::MAX as u64));
        assert_eq!(ms("9223372036854775.808"), negative);
        let not_float = Err(Reply::error_static(TIMEOUT_NOT_FLOAT));
        for bad in ["", "abc", " 1", "1 ", "nan", "1x"] {
            assert_eq!(ms(bad), not_float, "{bad:?}");
        }
    }

    #[test]
    fn syntax_errors_stop_before_the_log() {
        assert_eq!(lpop_check(&args("LPOP k 1 2")), Err(arity_error("lpop")));
        assert_eq!(
            rpop_check(&args("RPOP k -1")),
            Err(Reply::error_static(MUST_BE_POSITIVE))
        );
        assert_eq!(
            linsert_check(&args("LINSERT k middle p v")),
            Err(syntax_error())
        );
        assert_eq!(lmove_check(&args("LMOVE a b up left")), Err(syntax_error()));
        assert_eq!(
            lmpop_check(&args("LMPOP 0 k left")),
            Err(Reply::error_static(NUMKEYS))
        );
        assert_eq!(lmpop_check(&args("LMPOP 2 k left")), Err(syntax_error()));
        assert_eq!(
            lmpop_check(&args("LMPOP 9223372036854775807 k left")),
            Err(syntax_error())
        );
        assert_eq!(
            blmpop_check(&args("BLMPOP x 1 k left COUNT 0")),
            Err(Reply::error_static(COUNT_NOT_POSITIVE)),
            "COUNT is read before the timeout"
        );
        assert_eq!(
            bpop_check(&args("BLPOP k -1")),
            Err(Reply::error_static(TIMEOUT_NEGATIVE))
        );
        // Redis reads these only once the key is known to be a list.
        assert!(no_syntax(&args("LSET k x v")).is_ok());
    }

    #[test]
    fn blocking_commands_serve_or_block() {
        let mut h = Harness::new();
        assert!(is_blocked(&h.cmd("BLPOP a b 0")));
        assert!(is_blocked(&h.cmd("BLMOVE a b LEFT RIGHT 0")));
        assert!(is_blocked(&h.cmd("BLMPOP 0 2 a b LEFT")));
        assert_eq!(h.cmd("RPUSH b x y"), Reply::Int(2));
        assert_eq!(h.engine.ready_keys(), &[(0, Box::from(&b"b"[..]))]);
        assert_eq!(
            h.cmd("BRPOP a b 0"),
            Reply::Array(vec![Reply::bulk_copy(b"b"), Reply::bulk_copy(b"y")])
        );
        assert_eq!(h.cmd("BRPOPLPUSH b c 0"), Reply::bulk_copy(b"x"));
        assert_eq!(h.engine.ready_keys(), &[(0, Box::from(&b"c"[..]))]);
        assert_eq!(h.cmd("EXISTS b"), Reply::Int(0));
        assert_eq!(h.cmd("SET s v"), Reply::ok());
        assert_eq!(h.cmd("BLPOP a s c 0"), wrong_type());
    }

    #[test]
    fn waits_name_keys_timeouts_and_replies() {
        let wait = blocking_wait(&args("BLPOP a b 1.5")).unwrap();
        assert_eq!((wait.keys, wait.timeout_ms), (1..3, 1500));
        assert_eq!(wait.timeout_reply, Reply::NilArray);
        let wait = blocking_wait(&args("blmove a b left right 0")).unwrap();
        assert_eq!((wait.keys, wait.timeout_ms), (1..2, 0));
        assert_eq!(wait.timeout_reply, Reply::Nil);
        let wait = blocking_wait(&args("BLMPOP 2 3 a b c RIGHT COUNT 2")).unwrap();
        assert_eq!((wait.keys, wait.timeout_ms), (3..6, 2000));
        assert_eq!(blocking_wait(&args("BLPOP a -1")), None);
        assert_eq!(blocking_wait(&args("LPOP a")), None);
    }

    #[test]
    fn rows_carry_redis_metadata() {
        let row = |name: &str| COMMANDS.iter().find(|s| s.name == name).expect("row");
        assert_eq!(
            row("blpop").acl_categories(),
            acl::WRITE | acl::LIST | acl::SLOW | acl::BLOCKING
        );
        assert_eq!(
            row("lpush").acl_categories(),
            acl::WRITE | acl::LIST | acl::FAST
        );
        assert_eq!(
            row("lrange").acl_categories(),
            acl::READ | acl::LIST | acl::SLOW
        );
        assert_eq!(row("blpop").key_indices(4).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(row("lmove").key_indices(5).collect::<Vec<_>>(), [1, 2]);
        assert!(
            COMMANDS
                .iter()
                .all(|s| s.group == Group::List && !s.complexity.is_empty())
        );
    }
}
