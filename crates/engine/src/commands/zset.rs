//! The sorted-set family with Redis 7.0.15's semantics (`src/t_zset.c`), replies and errors
//! (ZRANK/ZREVRANK also take 7.2's WITHSCORE).
//!
//! Sections, low level first: errors and typed access; ZADD/ZINCRBY; single-member commands;
//! pops (blocking and not); ZRANDMEMBER; ZSCAN; the table. Ranges (ZRANGE and its legacy
//! forms, ZRANGESTORE, ZCOUNT/ZLEXCOUNT, ZREMRANGEBY*) live in `range.rs`; the set
//! operations (ZUNION/ZINTER/ZDIFF, their STORE forms, ZINTERCARD) in `setops.rs`; argument
//! parsing with C's rules in `parse.rs`.
//!
//! Where the syntax check runs: whatever Redis parses before it looks a key up is checked in
//! `check` (rejected before the log); what it parses after the lookup (the set operations'
//! WEIGHTS/AGGREGATE) is checked in apply, so a wrong type answers first, as in Redis.
//!
//! Every write that adds members calls `signal_ready` for its key (blocked BZPOPMIN/BZMPOP
//! clients wait on it); the blocking commands answer `blocked()` from apply when none of their
//! keys has members.

pub mod parse;
mod range;
mod setops;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::keyspace::parse_cursor;
use crate::commands::{BMPOP_KEYS, MPOP_KEYS, NUMKEYS_RO};
use crate::commands::{blocked, bulk, cmd, int_arg, syntax_error, wrong_type};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::glob;
use crate::notify;
use crate::table::{Group, Handler, KeySpec, Keys, Spec, acl, arity_error, flag::*, key};
use crate::types::zset::{Limits, ZSet};
use crate::value::Value;
use parse::{is_word, positive_long, range_long, score_arg};

// ---------------------------------------------------------------------------------------------
// Errors

const NAN_RESULT: &str = "ERR resulting score is not a number (NaN)";
const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const INCR_ONE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const COUNT_POSITIVE: &str = "ERR count should be greater than 0";
const OUT_OF_RANGE: &str = "ERR value is out of range";
const INVALID_CURSOR: &str = "ERR invalid cursor";

// ---------------------------------------------------------------------------------------------
// Typed access

/// The sorted set at `key` for a read: `Ok(None)` when absent or expired, WRONGTYPE when the
/// key holds another type.
pub(crate) fn read_zset<'a>(
    db: &'a Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a ZSet>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::ZSet(z) => Ok(Some(z)),
        _ => Err(wrong_type()),
    }
}

/// Runs `f` on the sorted set at `key` and removes the key if `f` left the set empty.
/// `Ok(None)`: no such key. With `create`, a missing key gets a new set, stored only if `f`
/// left members in it.
pub(crate) fn write_zset<R>(
    db: &mut Db,
    key: &[u8],
    now_ms: u64,
    create: bool,
    f: impl FnOnce(&mut ZSet) -> R,
) -> Result<Option<R>, Reply> {
    let (out, empty) = match db.lookup_mut(key, now_ms) {
        Some(slot) => {
            let Value::ZSet(z) = &mut slot.value else {
                return Err(wrong_type());
            };
            let out = f(z);
            (out, z.is_empty())
        }
        None if create => {
            let mut z = Box::new(ZSet::new());
            let out = f(&mut z);
            if !z.is_empty() {
                db.set(key, Value::ZSet(z), None, now_ms);
            }
            return Ok(Some(out));
        }
        None => return Ok(None),
    };
    if empty {
        db.remove(key);
    }
    Ok(Some(out))
}

/// What decides a set's form: the replicated thresholds and hash seed.
pub(crate) fn limits(ctx: &WriteCtx) -> Limits {
    Limits::new(ctx.engine.encodings(), ctx.engine.hash_seed())
}

/// Stores `entries` (ascending, distinct members) at `key` as a new sorted set, replacing
/// whatever the key held (and its TTL); an empty result deletes the key. Replies with the
/// stored count, as the STORE commands do.
/// Stores a STORE form's result at `key` (an empty one deletes the key) with its keyspace
/// event (`event`, or "del" for a deleted key).
pub(crate) fn store_result(
    ctx: &mut WriteCtx,
    key: &[u8],
    entries: &[(&[u8], f64)],
    event: &'static str,
) -> Reply {
    let now_ms = ctx.now_ms;
    if entries.is_empty() {
        if ctx.db().remove(key).is_some() {
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Reply::Int(0);
    }
    let zset = ZSet::from_sorted(entries, &limits(ctx));
    ctx.db().set(key, Value::ZSet(Box::new(zset)), None, now_ms);
    ctx.signal_ready(key);
    ctx.notify(notify::ZSET, event, key);
    Reply::Int(entries.len() as i64)
}

/// The events of members removed from `key` (`event`), and "del" when that emptied it.
pub(crate) fn removal_events(ctx: &mut WriteCtx, key: &[u8], event: &'static str) {
    ctx.notify(notify::ZSET, event, key);
    let now_ms = ctx.now_ms;
    if !ctx.db().contains(key, now_ms) {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn score_reply(score: f64) -> Reply {
    Reply::Double(score)
}

/// Entries as a reply: members only, or (member, score) pairs (a flat array in RESP2,
/// two-element arrays in RESP3).
fn entries_reply<'a>(entries: impl Iterator<Item = (&'a [u8], f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(entries.map(|(m, s)| (bulk(m), score_reply(s))).collect())
    } else {
        Reply::Array(entries.map(|(m, _)| bulk(m)).collect())
    }
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn reply_of(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// ZADD and ZINCRBY (Redis's zaddGenericCommand and zsetAdd)

/// ZADD's conditions (GEOADD shares NX, XX and CH with it).
#[derive(Clone, Copy, Default)]
pub(crate) struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

struct ZaddArgs {
    flags: AddFlags,
    ch: bool,
    /// argv index of the first score.
    first: usize,
    scores: Vec<f64>,
}

fn parse_zadd(argv: &[Bytes], incr: bool) -> Result<ZaddArgs, Reply> {
    let mut flags = AddFlags {
        incr,
        ..AddFlags::default()
    };
    let mut ch = false;
    let mut first = 2;
    while first < argv.len() {
        let arg = &argv[first];
        if is_word(arg, "nx") {
            flags.nx = true;
        } else if is_word(arg, "xx") {
            flags.xx = true;
        } else if is_word(arg, "ch") {
            ch = true;
        } else if is_word(arg, "incr") {
            flags.incr = true;
        } else if is_word(arg, "gt") {
            flags.gt = true;
        } else if is_word(arg, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        first += 1;
    }
    let elements = argv.len() - first;
    if elements == 0 || elements % 2 == 1 {
        return Err(syntax_error());
    }
    let f = flags;
    if f.nx && f.xx {
        return Err(Reply::error_static(XX_AND_NX));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(Reply::error_static(GT_LT_NX));
    }
    if f.incr && elements > 2 {
        return Err(Reply::error_static(INCR_ONE_PAIR));
    }
    let scores = (first..argv.len())
        .step_by(2)
        .map(|i| score_arg(&argv[i]))
        .collect::<Result<_, _>>()?;
    Ok(ZaddArgs {
        flags,
        ch,
        first,
        scores,
    })
}

/// What one ZADD element did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    New,
    Updated,
    /// Processed with the score it already had.
    Same,
    /// Skipped by NX, XX, GT or LT.
    Nop,
}

/// Redis's `zsetAdd` for one element; the score after the operation, or NaN's error.
pub(crate) fn zset_add(
    z: &mut ZSet,
    member: &[u8],
    score: f64,
    f: AddFlags,
    limits: &Limits,
) -> Result<(Added, f64), Reply> {
    let Some(current) = z.score(member) else {
        if f.xx {
            return Ok((Added::Nop, score));
        }
        z.insert(member, score, limits);
        return Ok((Added::New, score));
    };
    if f.nx {
        return Ok((Added::Nop, current));
    }
    let score = if f.incr { score + current } else { score };
    if score.is_nan() {
        return Err(Reply::error_static(NAN_RESULT));
    }
    if (f.lt && score >= current) || (f.gt && score <= current) {
        return Ok((Added::Nop, current));
    }
    if score == current {
        return Ok((Added::Same, score));
    }
    z.insert(member, score, limits);
    Ok((Added::Updated, score))
}

fn zadd_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_zadd(argv, false).map(|_| ())
}

fn zincrby_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_zadd(argv, true).map(|_| ())
}

fn zadd(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zadd_generic(ctx, argv, false)
}

fn zincrby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zadd_generic(ctx, argv, true)
}

fn zadd_generic(ctx: &mut WriteCtx, argv: &[Bytes], incr: bool) -> Reply {
    let args = match parse_zadd(argv, incr) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let limits = limits(ctx);
    let now_ms = ctx.now_ms;
    let f = args.flags;
    // (added, updated, processed, last score)
    let outcome = write_zset(ctx.db(), &argv[1], now_ms, !f.xx, |z| {
        let mut counts = (0i64, 0i64, 0i64, 0.0);
        for (i, &score) in args.scores.iter().enumerate() {
            let member = &argv[args.first + 2 * i + 1];
            let (added, new_score) = zset_add(z, member, score, f, &limits)?;
            counts.0 += i64::from(added == Added::New);
            counts.1 += i64::from(added == Added::Updated);
            counts.2 += i64::from(added != Added::Nop);
            counts.3 = new_score;
        }
        Ok::<_, Reply>(counts)
    });
    let (added, updated, processed, score) = match outcome {
        Ok(Some(Ok(counts))) => counts,
        Ok(None) => (0, 0, 0, 0.0),
        Ok(Some(Err(reply))) | Err(reply) => return reply,
    };
    if added > 0 {
        ctx.signal_ready(&argv[1]);
    }
    if added + updated > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        ctx.notify(notify::ZSET, event, &argv[1]);
    }
    if f.incr {
        if processed > 0 {
            score_reply(score)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if args.ch { added + updated } else { added })
    }
}

// ---------------------------------------------------------------------------------------------
// Single members: ZREM, ZCARD, ZSCORE, ZMSCORE, ZRANK, ZREVRANK

fn zrem(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let now_ms = ctx.now_ms;
    let removed = write_zset(ctx.db(), &argv[1], now_ms, false, |z| {
        let mut removed = 0;
        for member in &argv[2..] {
            removed += i64::from(z.remove(member).is_some());
            if z.is_empty() {
                break;
            }
        }
        removed
    });
    match removed {
        Ok(n) => {
            let n = n.unwrap_or(0);
            if n > 0 {
                removal_events(ctx, &argv[1], "zrem");
            }
            Reply::Int(n)
        }
        Err(reply) => reply,
    }
}

fn zcard(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len() as i64)),
        Err(reply) => reply,
    }
}

fn zscore(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => z
            .and_then(|z| z.score(&argv[2]))
            .map_or(Reply::Nil, score_reply),
        Err(reply) => reply,
    }
}

fn zmscore(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => Reply::Array(
            argv[2..]
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, score_reply))
                .collect(),
        ),
        Err(reply) => reply,
    }
}

/// ZRANK/ZREVRANK key member [WITHSCORE] (the option is Redis 7.2's).
fn zrank_generic(ctx: &mut ReadCtx, argv: &[Bytes], rev: bool, name: &str) -> Reply {
    if argv.len() > 4 {
        return arity_error(name);
    }
    let withscore = argv.len() == 4;
    if withscore && !is_word(&argv[3], "withscore") {
        return syntax_error();
    }
    let missing = if withscore {
        Reply::NilArray
    } else {
        Reply::Nil
    };
    let z = match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return missing,
        Err(reply) => return reply,
    };
    let Some((rank, score)) = z.rank(&argv[2]) else {
        return missing;
    };
    let rank = if rev { z.len() - 1 - rank } else { rank } as i64;
    if withscore {
        Reply::Array(vec![Reply::Int(rank), score_reply(score)])
    } else {
        Reply::Int(rank)
    }
}

fn zrank(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    zrank_generic(ctx, argv, false, "zrank")
}

fn zrevrank(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    zrank_generic(ctx, argv, true, "zrevrank")
}

// ---------------------------------------------------------------------------------------------
// Pops: ZPOPMIN, ZPOPMAX, ZMPOP, BZPOPMIN, BZPOPMAX, BZMPOP (Redis's genericZpopCommand)

/// Members taken out of a set, with their scores.
type Popped = Vec<(Box<[u8]>, f64)>;

/// Pops up to `count` members from the low (or high, `max`) end.
fn pop(z: &mut ZSet, max: bool, count: usize) -> Popped {
    let n = count.min(z.len());
    (0..n)
        .map(|_| {
            let rank = if max { z.len() - 1 } else { 0 };
            z.remove_rank(rank).expect("a member to pop")
        })
        .collect()
}

fn popped_pairs(popped: &[(Box<[u8]>, f64)]) -> Vec<(Reply, Reply)> {
    popped
        .iter()
        .map(|(m, s)| (bulk(m), score_reply(*s)))
        .collect()
}

/// ZPOPMIN/ZPOPMAX's count: absent (`None`: one member, a flat reply) or ≥ 0.
fn zpop_count(argv: &[Bytes]) -> Result<Option<usize>, Reply> {
    match argv.len() {
        2 => Ok(None),
        3 => Ok(Some(positive_long(&argv[2], None)? as usize)),
        _ => Err(syntax_error()),
    }
}

fn zpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    zpop_count(argv).map(|_| ())
}

fn zpop_generic(ctx: &mut WriteCtx, argv: &[Bytes], max: bool) -> Reply {
    let count = match zpop_count(argv) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let popped = write_zset(ctx.db(), &argv[1], now_ms, false, |z| {
        pop(z, max, count.unwrap_or(1))
    });
    if let Ok(Some(members)) = &popped
        && !members.is_empty()
    {
        removal_events(ctx, &argv[1], pop_event(max));
    }
    match (popped, count) {
        (Err(reply), _) => reply,
        (Ok(None), _) => Reply::Array(Vec::new()),
        (Ok(Some(popped)), None) => Reply::Array(
            popped
                .into_iter()
                .flat_map(|(m, s)| [bulk(&m), score_reply(s)])
                .collect(),
        ),
        (Ok(Some(popped)), Some(_)) => Reply::Pairs(popped_pairs(&popped)),
    }
}

fn zpopmin(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zpop_generic(ctx, argv, false)
}

fn zpopmax(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    zpop_generic(ctx, argv, true)
}

/// The first of `keys` holding a sorted set, popped: (key, members). WRONGTYPE stops the
/// walk at the first key of another type, as in Redis.
fn pop_first_key(
    ctx: &mut WriteCtx,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<(Bytes, Popped)>, Reply> {
    let now_ms = ctx.now_ms;
    for key in keys {
        if let Some(popped) = write_zset(ctx.db(), key, now_ms, false, |z| pop(z, max, count))? {
            if !popped.is_empty() {
                removal_events(ctx, key, pop_event(max));
            }
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

fn pop_event(max: bool) -> &'static str {
    if max { "zpopmax" } else { "zpopmin" }
}

/// BZPOPMIN/BZPOPMAX key [key ...] timeout.
fn bzpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse::timeout_ms(&argv[argv.len() - 1]).map(|_| ())
}

fn bzpop_generic(ctx: &mut WriteCtx, argv: &[Bytes], max: bool) -> Reply {
    if let Err(reply) = bzpop_check(argv) {
        return reply;
    }
    match pop_first_key(ctx, &argv[1..argv.len() - 1], max, 1) {
        Ok(Some((key, popped))) => {
            let mut out = vec![Reply::Bulk(key)];
            for (m, s) in popped {
                out.push(bulk(&m));
                out.push(score_reply(s));
            }
            Reply::Array(out)
        }
        Ok(None) => blocked(),
        Err(reply) => reply,
    }
}

fn bzpopmin(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    bzpop_generic(ctx, argv, false)
}

fn bzpopmax(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    bzpop_generic(ctx, argv, true)
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count], from argv[`at`] (the numkeys).
struct MpopArgs {
    keys: std::ops::Range<usize>,
    max: bool,
    count: usize,
}

fn parse_mpop(argv: &[Bytes], at: usize) -> Result<MpopArgs, Reply> {
    let numkeys = range_long(&argv[at], 1, i64::MAX, Some(NUMKEYS))? as u64;
    let where_at = (at as u64 + 1)
        .checked_add(numkeys)
        .filter(|&w| w < argv.len() as u64)
        .ok_or_else(syntax_error)? as usize;
    let max = if is_word(&argv[where_at], "min") {
        false
    } else if is_word(&argv[where_at], "max") {
        true
    } else {
        return Err(syntax_error());
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && is_word(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(range_long(&argv[j + 1], 1, i64::MAX, Some(COUNT_POSITIVE))? as usize);
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok(MpopArgs {
        keys: at + 1..where_at,
        max,
        count: count.unwrap_or(1),
    })
}

fn mpop_reply(key: Bytes, popped: &[(Box<[u8]>, f64)]) -> Reply {
    let members = popped
        .iter()
        .map(|(m, s)| Reply::Array(vec![bulk(m), score_reply(*s)]))
        .collect();
    Reply::Array(vec![Reply::Bulk(key), Reply::Array(members)])
}

fn zmpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_mpop(argv, 1).map(|_| ())
}

fn zmpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_mpop(argv, 1) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    match pop_first_key(ctx, &argv[args.keys], args.max, args.count) {
        Ok(Some((key, popped))) => mpop_reply(key, &popped),
        Ok(None) => Reply::NilArray,
        Err(reply) => reply,
    }
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: the timeout is parsed last.
fn bzmpop_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_mpop(argv, 2)?;
    parse::timeout_ms(&argv[1]).map(|_| ())
}

/// The argv indexes of BZMPOP's keys (its `numkeys` makes them movable), for the node that
/// parks a blocked client on them; `None` when the command's syntax is wrong.
pub fn bzmpop_key_range(argv: &[Bytes]) -> Option<std::ops::Range<usize>> {
    parse_mpop(argv, 2).ok().map(|args| args.keys)
}

fn bzmpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    if let Err(reply) = bzmpop_check(argv) {
        return reply;
    }
    let args = parse_mpop(argv, 2).expect("checked");
    match pop_first_key(ctx, &argv[args.keys], args.max, args.count) {
        Ok(Some((key, popped))) => mpop_reply(key, &popped),
        Ok(None) => blocked(),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER (a read: it draws from the node's randomness)

/// The most draws one ZRANDMEMBER with a negative count may make (16 Mi): Redis would build
/// the reply until the client's output buffer limit closed the connection; Cairn refuses up
/// front with Redis's range error.
const RANDMEMBER_COUNT_MAX: u64 = 1 << 24;

/// ZRANDMEMBER key [count [WITHSCORES]].
fn zrandmember(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    // The database through the engine reference, so the rng stays free to borrow.
    let db = ctx.engine.db(ctx.db);
    if argv.len() == 2 {
        return match read_zset(db, &argv[1], ctx.now_ms) {
            Ok(Some(z)) => {
                let rank = (ctx.rng.next_u64() % z.len() as u64) as usize;
                bulk(z.get(rank).expect("rank below len").0)
            }
            Ok(None) => Reply::Nil,
            Err(reply) => reply,
        };
    }
    let count = match range_long(&argv[2], -i64::MAX, i64::MAX, None) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    if argv.len() > 4 || (argv.len() == 4 && !is_word(&argv[3], "withscores")) {
        return syntax_error();
    }
    let withscores = argv.len() == 4;
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Reply::error_static(OUT_OF_RANGE);
    }
    let z = match read_zset(db, &argv[1], ctx.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Array(Vec::new()),
        Err(reply) => return reply,
    };
    // Draws with repetition make a reply as long as asked; distinct draws stop at the size.
    if count < 0 && count.unsigned_abs() > RANDMEMBER_COUNT_MAX {
        return Reply::error_static(OUT_OF_RANGE);
    }
    let n = z.len();
    let ranks = random_ranks(&mut ctx.rng, n, count);
    // The compact form has no random access: read it once.
    let all: Vec<(&[u8], f64)> = if z.is_compact() {
        z.iter().collect()
    } else {
        Vec::new()
    };
    let entry = |rank: usize| {
        if z.is_compact() {
            all[rank]
        } else {
            z.get(rank).expect("rank below len")
        }
    };
    entries_reply(ranks.into_iter().map(entry), withscores)
}

/// The ranks ZRANDMEMBER returns: `count` draws with repetition when negative; otherwise
/// distinct ranks, the whole set when `count` covers it (in descending order: Redis walks
/// its sorted-set iterator from the tail).
fn random_ranks(rng: &mut crate::engine::Rng, n: usize, count: i64) -> Vec<usize> {
    let draw =
        |rng: &mut crate::engine::Rng, bound: usize| (rng.next_u64() % bound as u64) as usize;
    let want = count.unsigned_abs() as usize;
    if count < 0 || count == 1 {
        return (0..want).map(|_| draw(rng, n)).collect();
    }
    if want >= n {
        return (0..n).rev().collect();
    }
    if want * 3 > n {
        // Most of the set: a partial shuffle.
        let mut ranks: Vec<usize> = (0..n).collect();
        for i in 0..want {
            let j = i + draw(rng, n - i);
            ranks.swap(i, j);
        }
        ranks.truncate(want);
        return ranks;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let rank = draw(rng, n);
        if seen.insert(rank) {
            out.push(rank);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ZSCAN

/// ZSCAN's default COUNT.
const SCAN_COUNT_DEFAULT: usize = 10;

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: options are parsed after the lookup.
fn zscan(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&argv[2]) else {
        return Reply::error_static(INVALID_CURSOR);
    };
    let empty = || Reply::Array(vec![bulk(b"0"), Reply::Array(Vec::new())]);
    let z = match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return empty(),
        Err(reply) => return reply,
    };
    let mut count = SCAN_COUNT_DEFAULT;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 3;
    while i < argv.len() {
        let has_value = i + 1 < argv.len();
        if is_word(&argv[i], "count") && has_value {
            count = match int_arg(&argv[i + 1]) {
                Ok(c) if c >= 1 => c as usize,
                Ok(_) => return syntax_error(),
                Err(reply) => return reply,
            };
        } else if is_word(&argv[i], "match") && has_value {
            // "*" matches everything, so Redis skips matching for it.
            pattern = Some(&argv[i + 1][..]).filter(|p| *p != b"*");
        } else {
            return syntax_error();
        }
        i += 2;
    }
    let compact = z.is_compact();
    let mut items = Vec::new();
    let next = z.scan(cursor, count, |member, score| {
        if pattern.is_none_or(|p| glob::matches(p, member, false)) {
            items.push(bulk(member));
            // The compact form returns scores as its listpack stores them.
            let text = if compact {
                parse::d2string(score)
            } else {
                cairn_resp::format_double(score)
            };
            items.push(Reply::Bulk(Bytes::from(text)));
        }
    });
    let cursor = itoa::Buffer::new().format(next).as_bytes().to_vec();
    Reply::Array(vec![Reply::Bulk(Bytes::from(cursor)), Reply::Array(items)])
}

// ---------------------------------------------------------------------------------------------
// The table

const SS: u32 = acl::SORTEDSET;
const G: Group = Group::SortedSet;
const BLOCKING_KEYS: Keys = Keys {
    first: 1,
    last: -2,
    step: 1,
};
/// Keys found through a numkeys argument: Redis's legacy triple is (0, 0, 0).
const NUMKEYS_KEYS: Keys = Keys::NONE;
/// Z*STORE: the destination, then `numkeys key [key …]`.
const STORE_NUMKEYS: &[KeySpec] = &[
    KeySpec::at(1, key::OW | key::UPDATE),
    KeySpec::numkeys(2, key::RO | key::ACCESS),
];
const RANGE_LOG: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.";
const RANGE_LIMIT: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned. If M is constant (e.g. always asking for the first 10 elements with LIMIT), you can consider it O(log(N)).";
const REMRANGE: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation.";
const MPOP: &str = "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.";
const LOGN: &str = "O(log(N)) with N being the number of elements in the sorted set.";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("zadd", -4, WRITE | DENYOOM | FAST, SS, Keys::ONE, G, "1.2.0", "Add one or more members to a sorted set, or update its score if it already exists", Handler::Write(zadd_check, zadd)).complexity("O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    cmd("zincrby", 4, WRITE | DENYOOM | FAST, SS, Keys::ONE, G, "1.2.0", "Increment the score of a member in a sorted set", Handler::Write(zincrby_check, zincrby)).complexity("O(log(N)) where N is the number of elements in the sorted set."),
    cmd("zrem", -3, WRITE | FAST, SS, Keys::ONE, G, "1.2.0", "Remove one or more members from a sorted set", Handler::Write(no_syntax, zrem)).complexity("O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."),
    cmd("zcard", 2, READONLY | FAST, SS, Keys::ONE, G, "1.2.0", "Get the number of members in a sorted set", Handler::Read(zcard)).complexity("O(1)"),
    cmd("zcount", 4, READONLY | FAST, SS, Keys::ONE, G, "2.0.0", "Count the members in a sorted set with scores within the given values", Handler::Read(range::zcount)).complexity(LOGN),
    cmd("zlexcount", 4, READONLY | FAST, SS, Keys::ONE, G, "2.8.9", "Count the number of members in a sorted set between a given lexicographical range", Handler::Read(range::zlexcount)).complexity(LOGN),
    cmd("zscore", 3, READONLY | FAST, SS, Keys::ONE, G, "1.2.0", "Get the score associated with the given member in a sorted set", Handler::Read(zscore)).complexity("O(1)"),
    cmd("zmscore", -3, READONLY | FAST, SS, Keys::ONE, G, "6.2.0", "Get the score associated with the given members in a sorted set", Handler::Read(zmscore)).complexity("O(N) where N is the number of members being requested."),
    cmd("zrank", -3, READONLY | FAST, SS, Keys::ONE, G, "2.0.0", "Determine the index of a member in a sorted set", Handler::Read(zrank)).complexity("O(log(N))"),
    cmd("zrevrank", -3, READONLY | FAST, SS, Keys::ONE, G, "2.0.0", "Determine the index of a member in a sorted set, with scores ordered from high to low", Handler::Read(zrevrank)).complexity("O(log(N))"),
    cmd("zrange", -4, READONLY, SS, Keys::ONE, G, "1.2.0", "Return a range of members in a sorted set", Handler::Read(range::zrange)).complexity(RANGE_LOG),
    cmd("zrangebyscore", -4, READONLY, SS, Keys::ONE, G, "1.0.5", "Return a range of members in a sorted set, by score", Handler::Read(range::zrangebyscore)).complexity(RANGE_LIMIT),
    cmd("zrevrangebyscore", -4, READONLY, SS, Keys::ONE, G, "2.2.0", "Return a range of members in a sorted set, by score, with scores ordered from high to low", Handler::Read(range::zrevrangebyscore)).complexity(RANGE_LIMIT),
    cmd("zrangebylex", -4, READONLY, SS, Keys::ONE, G, "2.8.9", "Return a range of members in a sorted set, by lexicographical range", Handler::Read(range::zrangebylex)).complexity(RANGE_LIMIT),
    cmd("zrevrangebylex", -4, READONLY, SS, Keys::ONE, G, "2.8.9", "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", Handler::Read(range::zrevrangebylex)).complexity(RANGE_LIMIT),
    cmd("zrevrange", -4, READONLY, SS, Keys::ONE, G, "1.2.0", "Return a range of members in a sorted set, by index, with scores ordered from high to low", Handler::Read(range::zrevrange)).complexity(RANGE_LOG),
    cmd("zrangestore", -5, WRITE | DENYOOM, SS, Keys { first: 1, last: 2, step: 1 }, G, "6.2.0", "Store a range of members from sorted set into another key", Handler::Write(range::zrangestore_check, range::zrangestore)).complexity("O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."),
    cmd("zremrangebyscore", 4, WRITE, SS, Keys::ONE, G, "1.2.0", "Remove all members in a sorted set within the given scores", Handler::Write(range::zremrangebyscore_check, range::zremrangebyscore)).complexity(REMRANGE),
    cmd("zremrangebyrank", 4, WRITE, SS, Keys::ONE, G, "2.0.0", "Remove all members in a sorted set within the given indexes", Handler::Write(range::zremrangebyrank_check, range::zremrangebyrank)).complexity(REMRANGE),
    cmd("zremrangebylex", 4, WRITE, SS, Keys::ONE, G, "2.8.9", "Remove all members in a sorted set between the given lexicographical range", Handler::Write(range::zremrangebylex_check, range::zremrangebylex)).complexity(REMRANGE),
    cmd("zpopmin", -2, WRITE | FAST, SS, Keys::ONE, G, "5.0.0", "Remove and return members with the lowest scores in a sorted set", Handler::Write(zpop_check, zpopmin)).complexity("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd("zpopmax", -2, WRITE | FAST, SS, Keys::ONE, G, "5.0.0", "Remove and return members with the highest scores in a sorted set", Handler::Write(zpop_check, zpopmax)).complexity("O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, SS, BLOCKING_KEYS, G, "5.0.0", "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", Handler::Write(bzpop_check, bzpopmin)).complexity(LOGN),
    cmd("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, SS, BLOCKING_KEYS, G, "5.0.0", "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", Handler::Write(bzpop_check, bzpopmax)).complexity(LOGN),
    cmd("zmpop", -4, WRITE, SS, NUMKEYS_KEYS, G, "7.0.0", "Remove and return members with scores in a sorted set", Handler::Write(zmpop_check, zmpop)).key_specs(MPOP_KEYS).complexity(MPOP),
    cmd("bzmpop", -5, WRITE | BLOCKING, SS, NUMKEYS_KEYS, G, "7.0.0", "Remove and return members with scores in a sorted set or block until one is available", Handler::Write(bzmpop_check, bzmpop)).key_specs(BMPOP_KEYS).complexity(MPOP),
    cmd("zrandmember", -2, READONLY, SS, Keys::ONE, G, "6.2.0", "Get one or multiple random elements from a sorted set", Handler::Read(zrandmember)).complexity("O(N) where N is the number of elements returned"),
    cmd("zunion", -3, READONLY, SS, NUMKEYS_KEYS, G, "6.2.0", "Add multiple sorted sets", Handler::Read(setops::zunion)).key_specs(NUMKEYS_RO).complexity("O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    cmd("zinter", -3, READONLY, SS, NUMKEYS_KEYS, G, "6.2.0", "Intersect multiple sorted sets", Handler::Read(setops::zinter)).key_specs(NUMKEYS_RO).complexity("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    cmd("zdiff", -3, READONLY, SS, NUMKEYS_KEYS, G, "6.2.0", "Subtract multiple sorted sets", Handler::Read(setops::zdiff)).key_specs(NUMKEYS_RO).complexity("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    cmd("zunionstore", -4, WRITE | DENYOOM, SS, Keys::ONE, G, "2.0.0", "Add multiple sorted sets and store the resulting sorted set in a new key", Handler::Write(setops::zunionstore_check, setops::zunionstore)).key_specs(STORE_NUMKEYS).complexity("O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    cmd("zinterstore", -4, WRITE | DENYOOM, SS, Keys::ONE, G, "2.0.0", "Intersect multiple sorted sets and store the resulting sorted set in a new key", Handler::Write(setops::zinterstore_check, setops::zinterstore)).key_specs(STORE_NUMKEYS).complexity("O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    cmd("zdiffstore", -4, WRITE | DENYOOM, SS, Keys::ONE, G, "6.2.0", "Subtract multiple sorted sets and store the resulting sorted set in a new key", Handler::Write(setops::zdiffstore_check, setops::zdiffstore)).key_specs(STORE_NUMKEYS).complexity("O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    cmd("zintercard", -3, READONLY, SS, NUMKEYS_KEYS, G, "7.0.0", "Intersect multiple sorted sets and return the cardinality of the result", Handler::Read(setops::zintercard)).key_specs(NUMKEYS_RO).complexity("O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."),
    cmd("zscan", -3, READONLY, SS, Keys::ONE, G, "2.8.0", "Incrementally iterate sorted sets elements and associated scores", Handler::Read(zscan)).complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

#[cfg(test)]
mod tests;
