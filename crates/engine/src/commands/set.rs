//! The set family: SADD, SREM, SMOVE, SPOP, SCARD, SISMEMBER, SMISMEMBER, SMEMBERS,
//! SRANDMEMBER, SINTER, SINTERCARD, SINTERSTORE, SUNION, SUNIONSTORE, SDIFF, SDIFFSTORE and
//! SSCAN, with Redis 7.0.15's semantics, replies and errors (`src/t_set.c`).
//!
//! Sections, low level first: errors and argument parsing, typed access to the keyspace, the
//! set algebra shared by several commands, then the commands, then the table.
//!
//! Randomness: SPOP is a write and draws from the entry's seed (`ctx.rng`); what it picks
//! depends only on that and on the set's replicated representation, so every node, and a node
//! restored from a snapshot, pops the same members. SRANDMEMBER is a read and draws from the
//! node's generator.
//!
//! Keyspace notifications follow Redis: the command's event after its change ("sadd",
//! "srem", "spop", "sinterstore", ...), then "del" when it emptied and removed a set; a STORE
//! command whose result is empty notifies "del" for the destination it removed.
//!
//! Reply order: an intset iterates in ascending order, as Redis's does, so replies built from
//! intsets match Redis exactly; a hashtable iterates in its bucket order, which differs from
//! Redis's (another hash function), as any client must already allow for.

use std::collections::BTreeSet;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::NUMKEYS_RO;
use crate::commands::{
    cmd, eq_ignore_case, keyspace::parse_cursor, not_integer, parse_i64, syntax_error, wrong_type,
};
use crate::db::Db;
use crate::engine::{Engine, ReadCtx, Rng, WriteCtx};
use crate::glob;
use crate::notify;
use crate::table::{Group, Handler, Keys, Spec, acl, flag::*};
use crate::types::set::{Member, Set, SetParams};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors and argument parsing

const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
const SRANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const INVALID_CURSOR: &str = "ERR invalid cursor";

/// The most members SRANDMEMBER with a negative count returns. Redis has no bound (it stops
/// when the client is closed); a reply is built whole here, so an absurd count would exhaust
/// memory instead. 2^22 replies are a few hundred MiB at most.
pub const SRANDMEMBER_REPEATS_MAX: u64 = 1 << 22;

fn too_many_repeats() -> Reply {
    Reply::error(format!(
        "ERR SRANDMEMBER with a negative count returns at most {SRANDMEMBER_REPEATS_MAX} members"
    ))
}

/// Redis compares option words with `strcasecmp`: the bytes up to the first NUL count.
fn is_word(arg: &[u8], word: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    eq_ignore_case(&arg[..end], word)
}

/// A non-negative integer, or `error` for anything else (Redis's
/// `getPositiveLongFromObjectOrReply` with a message).
fn non_negative(arg: &[u8], error: &'static str) -> Result<u64, Reply> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Reply::error_static(error))
}

/// SPOP's optional count: `None` without one.
fn spop_count(argv: &[Bytes]) -> Result<Option<u64>, Reply> {
    match argv.len() {
        2 => Ok(None),
        3 => non_negative(&argv[2], NOT_POSITIVE).map(Some),
        _ => Err(syntax_error()),
    }
}

fn spop_check(argv: &[Bytes]) -> Result<(), Reply> {
    spop_count(argv).map(drop)
}

/// SRANDMEMBER's count: an integer in -i64::MAX..=i64::MAX.
fn srandmember_count(arg: &[u8]) -> Result<i64, Reply> {
    match parse_i64(arg) {
        None => Err(not_integer()),
        Some(i64::MIN) => Err(Reply::error_static(SRANDMEMBER_RANGE)),
        Some(n) => Ok(n),
    }
}

/// SINTERCARD's keys (as a range of argv) and LIMIT (0 = none).
fn parse_sintercard(argv: &[Bytes]) -> Result<(std::ops::Range<usize>, u64), Reply> {
    let numkeys = parse_i64(&argv[1])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::error_static(NUMKEYS))?;
    if numkeys > argv.len() as i64 - 2 {
        return Err(Reply::error_static(NUMKEYS_TOO_MANY));
    }
    let keys_end = 2 + numkeys as usize;
    let mut limit = 0;
    let mut j = keys_end;
    while j < argv.len() {
        if is_word(&argv[j], "limit") && j + 1 < argv.len() {
            limit = non_negative(&argv[j + 1], LIMIT_NEGATIVE)?;
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok((2..keys_end, limit))
}

/// SSCAN's options after the cursor: COUNT (default 10) and MATCH.
struct ScanArgs<'a> {
    count: usize,
    pattern: Option<&'a [u8]>,
}

fn parse_sscan(argv: &[Bytes]) -> Result<ScanArgs<'_>, Reply> {
    let mut args = ScanArgs {
        count: 10,
        pattern: None,
    };
    let mut j = 3;
    while j < argv.len() {
        let has_value = j + 1 < argv.len();
        if is_word(&argv[j], "count") && has_value {
            let count = parse_i64(&argv[j + 1]).ok_or_else(not_integer)?;
            args.count = usize::try_from(count)
                .ok()
                .filter(|&c| c >= 1)
                .ok_or_else(syntax_error)?;
        } else if is_word(&argv[j], "match") && has_value {
            // "*" matches everything, so Redis skips matching for it.
            args.pattern = Some(&argv[j + 1][..]).filter(|p| *p != b"*");
        } else {
            return Err(syntax_error());
        }
        j += 2;
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------------
// Typed access: a key holding another type is WRONGTYPE

fn params(engine: &Engine) -> SetParams {
    SetParams {
        intset_max: engine.encodings().set_max_intset_entries,
        seed: engine.hash_seed(),
    }
}

/// The set at `key`: `Ok(None)` when absent or expired, WRONGTYPE when not a set.
fn get_set<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Set>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::Set(set) => Ok(Some(set)),
        _ => Err(wrong_type()),
    }
}

/// For writes: the set at `key`, an expired key removed first.
fn get_set_mut<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Result<Option<&'a mut Set>, Reply> {
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    match &mut slot.value {
        Value::Set(set) => Ok(Some(set)),
        _ => Err(wrong_type()),
    }
}

/// The sets at `keys`, `None` for a missing key, in order. Like Redis, the first key holding
/// another type ends the lookup with WRONGTYPE.
fn get_sets<'a>(db: &'a Db, keys: &[Bytes], now_ms: u64) -> Result<Vec<Option<&'a Set>>, Reply> {
    keys.iter().map(|key| get_set(db, key, now_ms)).collect()
}

/// For the STORE commands: removes the expired keys among `keys` so that the lookups that
/// follow (on `&Db`) see what a write's lookup sees.
fn expire_keys(db: &mut Db, keys: &[Bytes], now_ms: u64) {
    for key in keys {
        db.expire_if_due(key, now_ms);
    }
}

/// Stores `result` at `dst` (replacing any value and TTL) and notifies `event`, or, when it is
/// empty, deletes `dst` (notifying "del" if there was one); answers the result's size.
fn store(ctx: &mut WriteCtx, dst: &[u8], result: Set, event: &'static str) -> Reply {
    let (len, now_ms) = (result.len(), ctx.now_ms);
    let db = ctx.db();
    if len == 0 {
        db.expire_if_due(dst, now_ms);
        if db.remove(dst).is_some() {
            ctx.notify(notify::GENERIC, "del", dst);
        }
    } else {
        db.set(dst, Value::Set(Box::new(result)), None, now_ms);
        ctx.notify(notify::SET, event, dst);
    }
    Reply::Int(len as i64)
}

/// "del" for a key whose set the command emptied (and removed).
fn notify_if_removed(ctx: &mut WriteCtx, key: &[u8], emptied: bool) {
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn members_reply<'a>(members: impl Iterator<Item = Member<'a>>) -> Vec<Reply> {
    members.map(|m| Reply::Bulk(m.to_bytes())).collect()
}

// ---------------------------------------------------------------------------------------------
// Set algebra (Redis's sinterGenericCommand and sunionDiffGenericCommand)

/// Visits the members of the intersection in the order of the smallest set (ties keep key
/// order) until `visit` returns false. A missing key is an empty set.
fn inter_generic<'a>(sets: &[Option<&'a Set>], mut visit: impl FnMut(Member<'a>) -> bool) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return;
    };
    sets.sort_by_key(|s| s.len());
    let first: &'a Set = sets[0];
    for member in first.iter() {
        let everywhere = sets[1..]
            .iter()
            .all(|s| std::ptr::eq(*s, first) || s.contains_member(member));
        if everywhere && !visit(member) {
            break;
        }
    }
}

/// The intersection as a new set (SINTERSTORE).
fn inter_set(sets: &[Option<&Set>], params: SetParams) -> Set {
    let mut out = Set::new_intset();
    inter_generic(sets, |m| {
        out.add_member(m, params);
        true
    });
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// The union or difference as a new set, built exactly as Redis builds it (an intset that
/// converts as members arrive), so that its encoding, and the order of a reply made from it,
/// match Redis's.
fn union_diff_generic(sets: &[Option<&Set>], op: SetOp, params: SetParams) -> Set {
    let mut out = Set::new_intset();
    if op == SetOp::Union {
        for set in sets.iter().flatten() {
            for member in set.iter() {
                out.add_member(member, params);
            }
        }
        return out;
    }
    let Some(first) = sets[0] else {
        return out;
    };
    let others: Vec<&Set> = sets[1..].iter().flatten().copied().collect();
    if others.iter().any(|s| std::ptr::eq(*s, first)) {
        // The first key subtracted from itself.
        return out;
    }
    // Redis picks the cheaper of two algorithms; they build the same members but not always
    // the same encoding (the second adds the whole first set before removing).
    let present = 1 + others.len() as u128;
    let one_work = first.len() as u128 * present / 2;
    let two_work = first.len() as u128 + others.iter().map(|s| s.len() as u128).sum::<u128>();
    if one_work <= two_work {
        for member in first.iter() {
            if !others.iter().any(|s| s.contains_member(member)) {
                out.add_member(member, params);
            }
        }
    } else {
        for member in first.iter() {
            out.add_member(member, params);
        }
        for set in others {
            for member in set.iter() {
                out.remove_member(member);
            }
            if out.is_empty() {
                break;
            }
        }
    }
    out
}

/// SUNION, SDIFF: the result as a RESP3 set.
fn union_diff_read(ctx: &mut ReadCtx, argv: &[Bytes], op: SetOp) -> Reply {
    let params = params(ctx.engine);
    let sets = match get_sets(ctx.db(), &argv[1..], ctx.now_ms) {
        Ok(sets) => sets,
        Err(reply) => return reply,
    };
    let out = union_diff_generic(&sets, op, params);
    Reply::Set(members_reply(out.iter()))
}

/// SUNIONSTORE, SDIFFSTORE.
fn union_diff_store(ctx: &mut WriteCtx, argv: &[Bytes], op: SetOp) -> Reply {
    let (params, now_ms) = (params(ctx.engine), ctx.now_ms);
    let db = ctx.db();
    expire_keys(db, &argv[2..], now_ms);
    let result = match get_sets(db, &argv[2..], now_ms) {
        Ok(sets) => union_diff_generic(&sets, op, params),
        Err(reply) => return reply,
    };
    let event = match op {
        SetOp::Union => "sunionstore",
        SetOp::Diff => "sdiffstore",
    };
    store(ctx, &argv[1], result, event)
}

// ---------------------------------------------------------------------------------------------
// Commands: adding, removing, moving

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn sadd(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (params, now_ms, key) = (params(ctx.engine), ctx.now_ms, &argv[1]);
    let db = ctx.db();
    let added = match get_set_mut(db, key, now_ms) {
        Err(reply) => return reply,
        Ok(Some(set)) => argv[2..].iter().filter(|m| set.add(m, params)).count(),
        Ok(None) => {
            let mut set = Set::for_member(&argv[2], params);
            let added = argv[2..].iter().filter(|m| set.add(m, params)).count();
            db.set(key, Value::Set(Box::new(set)), None, now_ms);
            added
        }
    };
    if added > 0 {
        ctx.notify(notify::SET, "sadd", key);
    }
    Reply::Int(added as i64)
}

fn srem(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (now_ms, key) = (ctx.now_ms, &argv[1]);
    let db = ctx.db();
    let set = match get_set_mut(db, key, now_ms) {
        Ok(Some(set)) => set,
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    let removed = argv[2..].iter().filter(|m| set.remove(m)).count();
    let emptied = set.is_empty();
    if emptied {
        db.remove(key);
    }
    if removed > 0 {
        ctx.notify(notify::SET, "srem", key);
    }
    notify_if_removed(ctx, key, emptied);
    Reply::Int(removed as i64)
}

/// `SMOVE source destination member`: a missing source answers 0 before any type check of
/// the destination, as in Redis.
fn smove(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (params, now_ms) = (params(ctx.engine), ctx.now_ms);
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3][..]);
    let db = ctx.db();
    expire_keys(db, &argv[1..3], now_ms);
    let src_set = match get_set(db, src, now_ms) {
        Ok(Some(set)) => set,
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    if src == dst {
        return Reply::Int(i64::from(src_set.contains(member)));
    }
    // A destination that already holds the member is left untouched: no event, and its
    // watchers are not told (Redis signals the destination only when the member was added).
    let (dst_exists, dst_has_member) = match get_set(db, dst, now_ms) {
        Ok(found) => (
            found.is_some(),
            found.is_some_and(|set| set.contains(member)),
        ),
        Err(reply) => return reply,
    };
    let src_set = get_set_mut(db, src, now_ms)
        .ok()
        .flatten()
        .expect("checked above");
    if !src_set.remove(member) {
        return Reply::Int(0);
    }
    let emptied = src_set.is_empty();
    if emptied {
        db.remove(src);
    }
    // The source's events come before the destination is made (its "new").
    ctx.notify(notify::SET, "srem", src);
    notify_if_removed(ctx, src, emptied);
    let db = ctx.db();
    let added = if dst_has_member {
        false
    } else if dst_exists {
        let dst_set = get_set_mut(db, dst, now_ms)
            .ok()
            .flatten()
            .expect("checked above");
        dst_set.add(member, params)
    } else {
        let mut set = Set::for_member(member, params);
        set.add(member, params);
        db.set(dst, Value::Set(Box::new(set)), None, now_ms);
        true
    };
    if added {
        ctx.notify(notify::SET, "sadd", dst);
    }
    Reply::Int(1)
}

/// `SPOP key [count]`. Without a count: one member or nil. With one: a RESP3 set of up to
/// `count` members, chosen as Redis does in three cases (all of them; a few, popped one by
/// one; most of them, by choosing the few that stay).
fn spop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let count = match spop_count(argv) {
        Ok(count) => count,
        Err(reply) => return reply,
    };
    let (params, now_ms, key) = (params(ctx.engine), ctx.now_ms, &argv[1]);
    let db = ctx.engine.db_mut(ctx.db);
    let rng = &mut ctx.rng;
    let set = match get_set_mut(db, key, now_ms) {
        Ok(Some(set)) => set,
        Ok(None) if count.is_some() => return Reply::Set(Vec::new()),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    let Some(count) = count else {
        let member = set.pop_random(rng).expect("a stored set is never empty");
        let emptied = set.is_empty();
        if emptied {
            db.remove(key);
        }
        ctx.notify(notify::SET, "spop", key);
        notify_if_removed(ctx, key, emptied);
        return Reply::Bulk(member);
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    let size = set.len() as u64;
    if count >= size {
        let all = union_diff_generic(&[Some(&*set)], SetOp::Union, params);
        let reply = members_reply(all.iter());
        db.remove(key);
        ctx.notify(notify::SET, "spop", key);
        notify_if_removed(ctx, key, true);
        return Reply::Set(reply);
    }
    let remaining = size - count;
    // Redis's SPOP_MOVE_STRATEGY_MUL: past this ratio, choosing who stays is cheaper.
    const MOVE_STRATEGY_MUL: u64 = 5;
    if remaining * MOVE_STRATEGY_MUL > count {
        let popped = (0..count).map(|_| Reply::Bulk(set.pop_random(rng).expect("count < size")));
        let popped = popped.collect();
        ctx.notify(notify::SET, "spop", key);
        return Reply::Set(popped);
    }
    let mut stays: Option<Set> = None;
    for _ in 0..remaining {
        let member = set.pop_random(rng).expect("remaining < size");
        stays
            .get_or_insert_with(|| Set::for_member(&member, params))
            .add(&member, params);
    }
    let reply = members_reply(set.iter());
    *set = stays.expect("at least one member stays");
    ctx.notify(notify::SET, "spop", key);
    Reply::Set(reply)
}

// ---------------------------------------------------------------------------------------------
// Commands: single-set reads

fn scard(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_set(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(set) => Reply::Int(set.map_or(0, |s| s.len() as i64)),
        Err(reply) => reply,
    }
}

fn sismember(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_set(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(set) => Reply::Int(i64::from(set.is_some_and(|s| s.contains(&argv[2])))),
        Err(reply) => reply,
    }
}

/// SMISMEMBER: a missing key is an empty set (zeros), not an empty reply.
fn smismember(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let set = match get_set(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(set) => set,
        Err(reply) => return reply,
    };
    let found = argv[2..]
        .iter()
        .map(|m| Reply::Int(i64::from(set.is_some_and(|s| s.contains(m)))));
    Reply::Array(found.collect())
}

/// SMEMBERS: Redis runs it as SINTER of one key.
fn smembers(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_set(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(set) => Reply::Set(set.map_or_else(Vec::new, |s| members_reply(s.iter()))),
        Err(reply) => reply,
    }
}

/// `SRANDMEMBER key [count]`: without a count, one member or nil; with a positive count, up
/// to that many distinct members; with a negative one, exactly |count| members, repeats
/// allowed. The count is parsed before the key is looked up, as in Redis.
fn srandmember(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let count = match argv.len() {
        2 => None,
        3 => match srandmember_count(&argv[2]) {
            Ok(count) => Some(count),
            Err(reply) => return reply,
        },
        _ => return syntax_error(),
    };
    let (engine, now_ms, rng) = (ctx.engine, ctx.now_ms, &mut ctx.rng);
    let set = match get_set(engine.db(ctx.db), &argv[1], now_ms) {
        Ok(Some(set)) => set,
        Ok(None) if count.is_some() => return Reply::Array(Vec::new()),
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    match count {
        None => Reply::Bulk(set.random(rng).expect("never empty").to_bytes()),
        Some(count) => srandmember_with_count(set, count, rng),
    }
}

fn srandmember_with_count(set: &Set, count: i64, rng: &mut Rng) -> Reply {
    let wanted = count.unsigned_abs();
    let size = set.len() as u64;
    let pick = |rng: &mut Rng| set.random(rng).expect("never empty");
    if count < 0 || wanted == 1 {
        if wanted > SRANDMEMBER_REPEATS_MAX {
            return too_many_repeats();
        }
        return Reply::Array(
            (0..wanted)
                .map(|_| Reply::Bulk(pick(rng).to_bytes()))
                .collect(),
        );
    }
    if wanted >= size {
        return Reply::Array(members_reply(set.iter()));
    }
    // Redis's SRANDMEMBER_SUB_STRATEGY_MUL: asking for most of the set, shuffle it partially;
    // asking for few, draw until enough distinct members came up.
    const SUB_STRATEGY_MUL: u64 = 3;
    let wanted = wanted as usize;
    if wanted as u64 * SUB_STRATEGY_MUL > size {
        let mut all: Vec<Member> = set.iter().collect();
        for i in 0..wanted {
            let j = i + (rng.next_u64() % (all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        return Reply::Array(members_reply(all.into_iter().take(wanted)));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(wanted);
    while out.len() < wanted {
        let member = pick(rng);
        if seen.insert(member) {
            out.push(Reply::Bulk(member.to_bytes()));
        }
    }
    Reply::Array(out)
}

/// `SSCAN key cursor [MATCH pattern] [COUNT count]`: an intset answers whole with cursor 0;
/// a hashtable walks its buckets with the reverse-binary cursor until COUNT members (or ten
/// times COUNT buckets), then filters by pattern. The cursor is parsed first, the options only
/// once the key is known to be a set.
fn sscan(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(mut cursor) = parse_cursor(&argv[2]) else {
        return Reply::error_static(INVALID_CURSOR);
    };
    let set = match get_set(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(set)) => set,
        Ok(None) => return scan_reply(0, Vec::new()),
        Err(reply) => return reply,
    };
    let args = match parse_sscan(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let mut found = Vec::new();
    match set.as_table() {
        None => {
            found.extend(set.iter().map(Member::to_bytes));
            cursor = 0;
        }
        Some(table) => {
            // Bound the work on a sparse table, as Redis does (its `maxiterations`).
            let mut buckets_left = args.count.saturating_mul(10);
            loop {
                cursor = table.scan(cursor, |key, _| found.push(Bytes::copy_from_slice(key)));
                if cursor == 0 || buckets_left == 0 || found.len() >= args.count {
                    break;
                }
                buckets_left -= 1;
            }
        }
    }
    let members = found
        .into_iter()
        .filter(|m| args.pattern.is_none_or(|p| glob::matches(p, m, false)))
        .map(Reply::Bulk)
        .collect();
    scan_reply(cursor, members)
}

fn scan_reply(cursor: u64, members: Vec<Reply>) -> Reply {
    let cursor = Bytes::copy_from_slice(itoa::Buffer::new().format(cursor).as_bytes());
    Reply::Array(vec![Reply::Bulk(cursor), Reply::Array(members)])
}

// ---------------------------------------------------------------------------------------------
// Commands: algebra over several sets

fn sinter(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let sets = match get_sets(ctx.db(), &argv[1..], ctx.now_ms) {
        Ok(sets) => sets,
        Err(reply) => return reply,
    };
    let mut out = Vec::new();
    inter_generic(&sets, |m| {
        out.push(Reply::Bulk(m.to_bytes()));
        true
    });
    Reply::Set(out)
}

/// `SINTERCARD numkeys key [key ...] [LIMIT limit]`: the size of the intersection, counting
/// stops at LIMIT (0: no limit).
fn sintercard(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (keys, limit) = match parse_sintercard(argv) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let sets = match get_sets(ctx.db(), &argv[keys], ctx.now_ms) {
        Ok(sets) => sets,
        Err(reply) => return reply,
    };
    let mut found = 0u64;
    inter_generic(&sets, |_| {
        found += 1;
        limit == 0 || found < limit
    });
    Reply::Int(found as i64)
}

fn sinterstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (params, now_ms) = (params(ctx.engine), ctx.now_ms);
    let db = ctx.db();
    expire_keys(db, &argv[2..], now_ms);
    let result = match get_sets(db, &argv[2..], now_ms) {
        Ok(sets) => inter_set(&sets, params),
        Err(reply) => return reply,
    };
    store(ctx, &argv[1], result, "sinterstore")
}

fn sunion(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    union_diff_read(ctx, argv, SetOp::Union)
}

fn sdiff(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    union_diff_read(ctx, argv, SetOp::Diff)
}

fn sunionstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    union_diff_store(ctx, argv, SetOp::Union)
}

fn sdiffstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    union_diff_store(ctx, argv, SetOp::Diff)
}

// ---------------------------------------------------------------------------------------------
// The table

const S: u32 = acl::SET;
const G: Group = Group::Set;
const O1: &str = "O(1)";
const INTER: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const UNION: &str = "O(N) where N is the total number of elements in all given sets.";
/// SMOVE: the source and the destination.
const TWO_KEYS: Keys = Keys {
    first: 1,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("sadd", -3, WRITE | DENYOOM | FAST, S, Keys::ONE, G, "1.0.0", "Add one or more members to a set", Handler::Write(no_syntax, sadd))
        .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd("srem", -3, WRITE | FAST, S, Keys::ONE, G, "1.0.0", "Remove one or more members from a set", Handler::Write(no_syntax, srem))
        .complexity("O(N) where N is the number of members to be removed."),
    cmd("smove", 4, WRITE | FAST, S, TWO_KEYS, G, "1.0.0", "Move a member from one set to another", Handler::Write(no_syntax, smove))
        .complexity(O1),
    cmd("spop", -2, WRITE | FAST, S, Keys::ONE, G, "1.0.0", "Remove and return one or multiple random members from a set", Handler::Write(spop_check, spop))
        .complexity("Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
    cmd("scard", 2, READONLY | FAST, S, Keys::ONE, G, "1.0.0", "Get the number of members in a set", Handler::Read(scard))
        .complexity(O1),
    cmd("sismember", 3, READONLY | FAST, S, Keys::ONE, G, "1.0.0", "Determine if a given value is a member of a set", Handler::Read(sismember))
        .complexity(O1),
    cmd("smismember", -3, READONLY | FAST, S, Keys::ONE, G, "6.2.0", "Returns the membership associated with the given elements for a set", Handler::Read(smismember))
        .complexity("O(N) where N is the number of elements being checked for membership"),
    cmd("smembers", 2, READONLY, S, Keys::ONE, G, "1.0.0", "Get all the members in a set", Handler::Read(smembers))
        .complexity("O(N) where N is the set cardinality."),
    cmd("srandmember", -2, READONLY, S, Keys::ONE, G, "1.0.0", "Get one or multiple random members from a set", Handler::Read(srandmember))
        .complexity("Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
    cmd("sinter", -2, READONLY, S, Keys::ALL, G, "1.0.0", "Intersect multiple sets", Handler::Read(sinter))
        .complexity(INTER),
    // Its keys follow `numkeys` (Redis reports 0 0 0 and the `movablekeys` flag).
    cmd("sintercard", -3, READONLY, S, Keys::NONE, G, "7.0.0", "Intersect multiple sets and return the cardinality of the result", Handler::Read(sintercard)).key_specs(NUMKEYS_RO)
        .complexity(INTER),
    cmd("sinterstore", -3, WRITE | DENYOOM, S, Keys::ALL, G, "1.0.0", "Intersect multiple sets and store the resulting set in a key", Handler::Write(no_syntax, sinterstore))
        .complexity(INTER),
    cmd("sunion", -2, READONLY, S, Keys::ALL, G, "1.0.0", "Add multiple sets", Handler::Read(sunion))
        .complexity(UNION),
    cmd("sunionstore", -3, WRITE | DENYOOM, S, Keys::ALL, G, "1.0.0", "Add multiple sets and store the resulting set in a key", Handler::Write(no_syntax, sunionstore))
        .complexity(UNION),
    cmd("sdiff", -2, READONLY, S, Keys::ALL, G, "1.0.0", "Subtract multiple sets", Handler::Read(sdiff))
        .complexity(UNION),
    cmd("sdiffstore", -3, WRITE | DENYOOM, S, Keys::ALL, G, "1.0.0", "Subtract multiple sets and store the resulting set in a key", Handler::Write(no_syntax, sdiffstore))
        .complexity(UNION),
    cmd("sscan", -3, READONLY, S, Keys::ONE, G, "2.8.0", "Incrementally iterate Set elements", Handler::Read(sscan))
        .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Body, Entry, Origin};
    use crate::testing::Harness;

    fn spop_entry(key: &str, count: &str, seed: u64) -> Entry {
        Entry {
            db: 0,
            time_ms: crate::testing::CLOCK_START_MS,
            seed,
            origin: Origin::default(),
            body: Body::Command(vec![
                Bytes::from_static(b"SPOP"),
                Bytes::copy_from_slice(key.as_bytes()),
                Bytes::copy_from_slice(count.as_bytes()),
            ]),
        }
    }

    /// SPOP picks by position; a node restored from a snapshot must pick exactly what the node
    /// that took the snapshot picks, for every SPOP case and both encodings.
    #[test]
    fn spop_after_a_snapshot_round_trip_picks_the_same_members() {
        let mut h = Harness::new();
        h.cmd("SADD ints 1");
        h.cmd("SADD strs x");
        for i in 0..3000 {
            h.cmd(&format!("SADD strs m{i}"));
            if i < 400 {
                h.cmd(&format!("SADD ints {}", i * 7919));
            }
        }
        // Shrink partly, so the table has more buckets than a fresh build of it would.
        for i in 0..2600 {
            h.cmd(&format!("SREM strs m{i}"));
        }
        let restored_bytes = h.engine.snapshot();
        let mut restored =
            crate::engine::Engine::restore(&restored_bytes, h.engine.databases()).unwrap();
        assert_eq!(restored.digest(), h.engine.digest());
        for (i, (key, count)) in [
            ("strs", "3"),
            ("strs", "300"),
            ("ints", "1"),
            ("ints", "350"),
            ("strs", "50"),
            ("ints", "10"),
            ("strs", "1000"),
        ]
        .into_iter()
        .enumerate()
        {
            let entry = spop_entry(key, count, 0xfeed + i as u64);
            let want = h.engine.apply(&entry);
            assert!(!want.is_error());
            assert_eq!(restored.apply(&entry), want, "SPOP {key} {count}");
            assert_eq!(restored.digest(), h.engine.digest());
        }
    }

    #[test]
    fn srandmember_refuses_an_unbounded_reply() {
        let mut h = Harness::new();
        h.cmd("SADD s a");
        let reply = h.cmd("SRANDMEMBER s -9223372036854775807");
        assert!(reply.is_error(), "{reply:?}");
        let Reply::Array(items) = h.cmd("SRANDMEMBER s -1000") else {
            panic!("an array");
        };
        assert_eq!(items.len(), 1000);
    }

    #[test]
    fn syntax_errors_stop_before_the_log() {
        for line in ["SPOP k -1", "SPOP k x", "SPOP k 1 2"] {
            let argv = crate::testing::split_args(line).unwrap();
            assert!(spop_check(&argv).is_err(), "{line}");
        }
    }
}
