//! The stream family: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XREAD, XSETID here;
//! consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) in `group`;
//! XINFO in `info`. Semantics, replies and error texts are Redis 7.0.15's (`src/t_stream.c`).
//!
//! Where the syntax check runs: what Redis parses before it looks the key up (XADD's and
//! XTRIM's options and ID, XRANGE's interval and COUNT, XREAD's options) is checked in
//! `check`, before the log; what Redis parses after the lookup (XDEL's and XACK's IDs, XREAD's
//! IDs, XCLAIM's arguments) is parsed by the handler, so a missing key, a wrong type or a
//! missing group answers first, exactly as in Redis.
//!
//! Time: auto IDs use the entry's `now_ms` and the stream's last ID; delivery and seen times
//! in writes use the entry's `now_ms`; idle times in reads use the node's clock.
//!
//! Blocking: XREAD and XREADGROUP with BLOCK answer `blocked_retrying(argv)` when nothing can
//! be served: the node parks the client with that argv, in which `$` is already the stream's
//! last ID (so a retry waits for entries after the first attempt's last ID) and COUNT is
//! Redis's default for a served blocked read when none was given. XREAD is a `Write` row that
//! changes nothing: the node can only park a command that went through the log. Its flags are
//! Redis's (`readonly`, `blocking`, and the hidden `may_replicate` that marks a logged read,
//! as PFCOUNT has), so ACL and COMMAND see it as a read.

mod group;
mod info;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{
    NO_SUCH_KEY, blocked_retrying, cmd, eq_ignore_case, int_arg, parse_i64, syntax_error,
    wrong_type,
};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{
    Begin, Find, Group, Handler, KeySpec, Keys, Spec, acl, arity_error, flag::*, key,
};
use crate::types::stream::{Fields, NodeLimits, Stream, StreamId, Trim};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const INVALID_START: &str = "ERR invalid start ID for the interval";
const INVALID_END: &str = "ERR invalid end ID for the interval";
const XADD_ZERO: &str = "ERR The ID specified in XADD must be greater than 0-0";
const XADD_EXHAUSTED: &str =
    "ERR The stream has exhausted the last possible ID, unable to add more items";
const XADD_SMALLER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const TOO_LARGE: &str = "ERR Elements are too large to be stored";
const TRIM_BOTH: &str =
    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible";
const MAXLEN_NEGATIVE: &str = "ERR The MAXLEN argument must be >= 0.";
const LIMIT_NEGATIVE: &str = "ERR The LIMIT argument must be >= 0.";
const LIMIT_WITHOUT_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
const XTRIM_WITHOUT_STRATEGY: &str =
    "ERR syntax error, XTRIM must be called with a trimming strategy";
const LIMIT_WITHOUT_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
const TIMEOUT_NOT_INTEGER: &str = "ERR timeout is not an integer or out of range";
const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
const UNBALANCED: &str =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
const GROUP_ONLY_XREADGROUP: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
const NOACK_ONLY_XREADGROUP: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
const MISSING_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
const DOLLAR_IN_XREADGROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
const GT_IN_XREAD: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
const ENTRIES_ADDED_NEGATIVE: &str = "ERR entries_added must be positive";
const XSETID_BELOW_MAX_DELETED: &str =
    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id";
const XSETID_BELOW_TOP: &str =
    "ERR The ID specified in XSETID is smaller than the target stream top item";
const XSETID_BELOW_LENGTH: &str =
    "ERR The entries_added specified in XSETID is smaller than the target stream length";

/// Redis's `stream-node-max-bytes` and `stream-node-max-entries`. They are Redis's defaults
/// until they become replicated settings next to the other encoding thresholds (`Encodings`):
/// they decide node boundaries, which approximate trimming exposes.
/// When a stream starts a new node: `stream-node-max-bytes` and `stream-node-max-entries`.
fn node_limits(ctx: &WriteCtx) -> NodeLimits {
    let e = ctx.engine.encodings();
    NodeLimits {
        bytes_max: e.stream_node_max_bytes as usize,
        entries_max: e.stream_node_max_entries as usize,
    }
}
/// COUNT of a blocked XREAD served without one (Redis's `XREAD_BLOCKED_DEFAULT_COUNT`).
const BLOCKED_COUNT_DEFAULT: &str = "1000";

/// An error whose text embeds client bytes (a key, a group name), as Redis's
/// `addReplyErrorFormat` prints them: raw, with line breaks turned into spaces.
fn error_with(parts: &[&[u8]]) -> Reply {
    let mut text: Vec<u8> = parts.concat();
    for b in &mut text {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    Reply::Error(Bytes::from(text))
}

/// Redis compares option words as C strings: the bytes up to the first NUL count.
fn is_word(arg: &[u8], word: &str) -> bool {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    eq_ignore_case(&arg[..end], word)
}

fn reply_of(result: Result<Reply, Reply>) -> Reply {
    result.unwrap_or_else(|e| e)
}

// ---------------------------------------------------------------------------------------------
// IDs as clients write them

/// Redis's `string2ull`: an integer `string2ll` accepts (not negative), or what `strtoull`
/// reads whole (leading spaces, a sign, leading zeros; a negative value wraps).
fn parse_u64(s: &[u8]) -> Option<u64> {
    if let Some(v) = parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = s
        .iter()
        .take_while(|b| b" \t\n\x0b\x0c\r".contains(b))
        .count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { v.wrapping_neg() } else { v })
}

/// How an ID argument may be written.
#[derive(Clone, Copy)]
struct IdRules {
    /// The sequence when only the milliseconds are given.
    missing_seq: u64,
    /// `-` and `+` are invalid.
    strict: bool,
    /// `ms-*` is accepted (XADD).
    seq_star: bool,
}

/// Redis's `streamGenericParseIDOrReply`: the ID and whether its sequence was given (false
/// only for `ms-*`).
fn parse_id_with(arg: &[u8], rules: IdRules) -> Result<(StreamId, bool), Reply> {
    let invalid = || Reply::error_static(INVALID_ID);
    // Redis copies the argument into a 128-byte buffer and reads it as a C string.
    if arg.len() > 127 {
        return Err(invalid());
    }
    let arg = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match arg {
        b"-" | b"+" if rules.strict => return Err(invalid()),
        b"-" => return Ok((StreamId::MIN, true)),
        b"+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
        None => (arg, None),
    };
    let ms = parse_u64(ms_part).ok_or_else(invalid)?;
    match seq_part {
        Some(b"*") if rules.seq_star => Ok((StreamId::new(ms, 0), false)),
        Some(seq) => Ok((StreamId::new(ms, parse_u64(seq).ok_or_else(invalid)?), true)),
        None => Ok((StreamId::new(ms, rules.missing_seq), true)),
    }
}

/// A strict ID (no `-`/`+`): XDEL, XACK, XCLAIM, XREAD, XGROUP CREATE.
fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    let rules = IdRules {
        missing_seq: 0,
        strict: true,
        seq_star: false,
    };
    parse_id_with(arg, rules).map(|(id, _)| id)
}

/// An ID where `-` and `+` mean the smallest and largest.
fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    let rules = IdRules {
        missing_seq,
        strict: false,
        seq_star: false,
    };
    parse_id_with(arg, rules).map(|(id, _)| id)
}

/// The start of an interval: `(id` excludes it.
fn parse_start(arg: &[u8]) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_strict_id(&arg[1..])?;
        id.next().ok_or_else(|| Reply::error_static(INVALID_START))
    } else {
        parse_id(arg, 0)
    }
}

/// The end of an interval: `(id` excludes it; a bare `ms` ends at its last sequence.
fn parse_end(arg: &[u8]) -> Result<StreamId, Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        let rules = IdRules {
            missing_seq: u64::MAX,
            strict: true,
            seq_star: false,
        };
        let (id, _) = parse_id_with(&arg[1..], rules)?;
        id.prev().ok_or_else(|| Reply::error_static(INVALID_END))
    } else {
        parse_id(arg, u64::MAX)
    }
}

// ---------------------------------------------------------------------------------------------
// Typed access and replies

fn get_stream<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a Stream>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::Stream(s) => Ok(Some(s)),
        _ => Err(wrong_type()),
    }
}

fn get_stream_mut<'a>(
    db: &'a mut Db,
    key: &[u8],
    now_ms: u64,
) -> Result<Option<&'a mut Stream>, Reply> {
    let Some(slot) = db.lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    match &mut slot.value {
        Value::Stream(s) => Ok(Some(s)),
        _ => Err(wrong_type()),
    }
}

/// The stream at `key`, made empty when absent.
fn stream_or_create<'a>(db: &'a mut Db, key: &[u8], now_ms: u64) -> Result<&'a mut Stream, Reply> {
    if get_stream_mut(db, key, now_ms)?.is_none() {
        db.set(key, Value::Stream(Box::default()), None, now_ms);
    }
    Ok(get_stream_mut(db, key, now_ms)?.expect("just created"))
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bytes())
}

/// `[id, [field, value, ...]]`.
fn entry_reply(id: StreamId, fields: &Fields) -> Reply {
    let mut flat = Vec::with_capacity(fields.len() * 2);
    for (f, v) in fields {
        flat.push(Reply::Bulk(Bytes::copy_from_slice(f)));
        flat.push(Reply::Bulk(Bytes::copy_from_slice(v)));
    }
    Reply::Array(vec![id_reply(id), Reply::Array(flat)])
}

fn entries_reply(entries: &[(StreamId, Fields)]) -> Reply {
    Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect())
}

// ---------------------------------------------------------------------------------------------
// XADD and XTRIM options

#[derive(Debug, Default)]
struct AddTrim {
    /// XADD's explicit ID and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    /// Where XADD's ID (or `*`) is.
    id_at: usize,
    no_mkstream: bool,
    trim: Option<Trim>,
    approx: bool,
    /// 0: no limit.
    limit: u64,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(argv: &[Bytes], xadd: bool) -> Result<AddTrim, Reply> {
    let mut args = AddTrim::default();
    let mut limit_given = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i][..];
        if xadd && opt.first() == Some(&b'*') && (opt.len() == 1 || opt[1] == 0) {
            break;
        } else if (is_word(opt, "maxlen") || is_word(opt, "minid")) && more > 0 {
            if args.trim.is_some() {
                return Err(Reply::error_static(TRIM_BOTH));
            }
            args.approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && next == b"~" {
                args.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = &argv[i + 1];
            args.trim = Some(if is_word(opt, "maxlen") {
                let n = int_arg(value)?;
                Trim::MaxLen(u64::try_from(n).map_err(|_| Reply::error_static(MAXLEN_NEGATIVE))?)
            } else {
                Trim::MinId(parse_strict_id(value)?)
            });
            i += 1;
        } else if is_word(opt, "limit") && more > 0 {
            let n = int_arg(&argv[i + 1])?;
            args.limit = u64::try_from(n).map_err(|_| Reply::error_static(LIMIT_NEGATIVE))?;
            limit_given = true;
            i += 1;
        } else if xadd && is_word(opt, "nomkstream") {
            args.no_mkstream = true;
        } else if xadd {
            let rules = IdRules {
                missing_seq: 0,
                strict: true,
                seq_star: true,
            };
            args.id = Some(parse_id_with(opt, rules)?);
            break;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    args.id_at = i;
    if args.limit != 0 && args.trim.is_none() {
        return Err(Reply::error_static(LIMIT_WITHOUT_STRATEGY));
    }
    if !xadd && args.trim.is_none() {
        return Err(Reply::error_static(XTRIM_WITHOUT_STRATEGY));
    }
    if limit_given {
        if !args.approx {
            return Err(Reply::error_static(LIMIT_WITHOUT_APPROX));
        }
    } else if args.approx {
        // Fixed when applied, from the stream node limits then in force.
        args.limit = LIMIT_BY_NODE_SIZE;
    } else {
        args.limit = 0;
    }
    Ok(args)
}

/// XADD's arguments: the options, then field/value pairs after the ID.
fn xadd_args(argv: &[Bytes]) -> Result<AddTrim, Reply> {
    let args = parse_add_trim(argv, true)?;
    let fields = argv.len().saturating_sub(args.id_at + 1);
    if fields < 2 || fields % 2 == 1 {
        return Err(arity_error("xadd"));
    }
    if let Some((id, true)) = args.id
        && id.is_zero()
    {
        return Err(Reply::error_static(XADD_ZERO));
    }
    Ok(args)
}

fn xadd_check(argv: &[Bytes]) -> Result<(), Reply> {
    xadd_args(argv).map(|_| ())
}

/// The ID an entry added now gets (Redis's `streamAppendItem`'s choice).
fn new_entry_id(
    s: &Stream,
    given: Option<(StreamId, bool)>,
    now_ms: u64,
) -> Result<StreamId, Reply> {
    let smaller = || Reply::error_static(XADD_SMALLER);
    let id = match given {
        Some((id, true)) => id,
        Some((id, false)) if id.ms == s.last_id.ms => {
            if s.last_id.seq == u64::MAX {
                // Redis fails here without setting errno to EDOM, so it reports this.
                return Err(Reply::error_static(TOO_LARGE));
            }
            StreamId::new(id.ms, s.last_id.seq + 1)
        }
        Some((id, false)) => id,
        None => s.next_id(now_ms).ok_or_else(smaller)?,
    };
    if id <= s.last_id {
        return Err(smaller());
    }
    Ok(id)
}

/// `~` trimming without LIMIT: Redis's default, 100 nodes' worth of entries.
const LIMIT_BY_NODE_SIZE: u64 = u64::MAX;

fn trim_limit(limit: u64, limits: &NodeLimits) -> u64 {
    if limit == LIMIT_BY_NODE_SIZE {
        limits.approx_trim_limit()
    } else {
        limit
    }
}

fn xadd(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let limits = node_limits(ctx);
    let result = (|| {
        let mut args = xadd_args(argv)?;
        args.limit = trim_limit(args.limit, &limits);
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let db = ctx.db();
        if args.no_mkstream && get_stream_mut(db, key, now_ms)?.is_none() {
            return Ok(Reply::Nil);
        }
        let s = stream_or_create(db, key, now_ms)?;
        if s.last_id == StreamId::MAX {
            return Err(Reply::error_static(XADD_EXHAUSTED));
        }
        let id = new_entry_id(s, args.id, now_ms)?;
        let pairs: Vec<&[u8]> = argv[args.id_at + 1..].iter().map(|b| &b[..]).collect();
        s.append(id, &pairs, limits);
        let trimmed = args
            .trim
            .map_or(0, |trim| s.trim(trim, args.approx, args.limit));
        ctx.notify(notify::STREAM, "xadd", key);
        if trimmed > 0 {
            ctx.notify(notify::STREAM, "xtrim", key);
        }
        ctx.signal_ready(key);
        Ok(id_reply(id))
    })();
    reply_of(result)
}

fn xtrim_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_add_trim(argv, false).map(|_| ())
}

fn xtrim(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let limits = node_limits(ctx);
    let result = (|| {
        let mut args = parse_add_trim(argv, false)?;
        args.limit = trim_limit(args.limit, &limits);
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let Some(s) = get_stream_mut(ctx.db(), key, now_ms)? else {
            return Ok(Reply::Int(0));
        };
        let trim = args.trim.expect("XTRIM has a strategy");
        let deleted = s.trim(trim, args.approx, args.limit);
        if deleted > 0 {
            ctx.notify(notify::STREAM, "xtrim", key);
        }
        Ok(Reply::Int(deleted as i64))
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XRANGE, XREVRANGE, XLEN, XDEL

/// The interval and COUNT (`None`: no COUNT; negative counts read as 0).
fn range_args(argv: &[Bytes], rev: bool) -> Result<(StreamId, StreamId, Option<u64>), Reply> {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = parse_start(start_arg)?;
    let end = parse_end(end_arg)?;
    let mut count = None;
    let mut j = 4;
    while j < argv.len() {
        if is_word(&argv[j], "count") && j + 1 < argv.len() {
            count = Some(int_arg(&argv[j + 1])?.max(0) as u64);
            j += 2;
        } else {
            return Err(syntax_error());
        }
    }
    Ok((start, end, count))
}

fn xrange_generic(ctx: &mut ReadCtx, argv: &[Bytes], rev: bool) -> Reply {
    let result = (|| {
        let (start, end, count) = range_args(argv, rev)?;
        let Some(s) = get_stream(ctx.db(), &argv[1], ctx.now_ms)? else {
            return Ok(Reply::Array(Vec::new()));
        };
        if count == Some(0) {
            return Ok(Reply::NilArray);
        }
        let count = count.unwrap_or(0) as usize;
        Ok(entries_reply(&s.range(start, end, rev, count)))
    })();
    reply_of(result)
}

fn xrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    xrange_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    xrange_generic(ctx, argv, true)
}

fn xlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match get_stream(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(s) => Reply::Int(s.map_or(0, Stream::len) as i64),
        Err(reply) => reply,
    }
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

/// XDEL: the key is looked up before the IDs are parsed.
fn xdel(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let Some(s) = get_stream_mut(ctx.db(), key, now_ms)? else {
            return Ok(Reply::Int(0));
        };
        let ids = argv[2..]
            .iter()
            .map(|a| parse_strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        let mut deleted = 0;
        let mut first_entry = false;
        for id in ids {
            if s.delete(id) {
                first_entry |= id == s.first_id;
                deleted += 1;
            }
        }
        if deleted > 0 {
            if s.is_empty() || first_entry {
                s.refresh_first_id();
            }
            ctx.notify(notify::STREAM, "xdel", key);
        }
        Ok(Reply::Int(deleted))
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XREAD (and the options XREADGROUP shares)

/// XREAD's and XREADGROUP's options.
#[derive(Debug)]
struct ReadArgs {
    /// BLOCK's milliseconds (0: forever); `None` without BLOCK.
    block_ms: Option<u64>,
    count: u64,
    /// Index of the first key; as many IDs follow the keys.
    streams_at: usize,
    streams: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    /// A retry of a blocked read (the node's argv carries `RETRY_WORD`).
    retry: bool,
}

/// Marks the argv a blocked read is retried with, which Redis serves differently from a
/// fresh command: for XREADGROUP a key or group gone since it blocked answers Redis's "no
/// longer exists" errors; for XREAD a key that now holds another type is not ready (the
/// client keeps waiting) rather than WRONGTYPE. Clients cannot send it: `check` rejects it
/// as the syntax error Redis gives an unknown option.
const RETRY_WORD: &str = "BLOCKED-RETRY";

fn is_xreadgroup(argv: &[Bytes]) -> bool {
    argv[0].len() == 10
}

/// Redis's option loop of `xreadCommand`; `internal` accepts the retry marker.
fn read_args_with(argv: &[Bytes], internal: bool) -> Result<ReadArgs, Reply> {
    let group_cmd = is_xreadgroup(argv);
    let mut args = ReadArgs {
        block_ms: None,
        count: 0,
        streams_at: 0,
        streams: 0,
        group: None,
        noack: false,
        retry: false,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i][..];
        if is_word(opt, "block") && more > 0 {
            i += 1;
            let ms = parse_i64(&argv[i]).ok_or_else(|| Reply::error_static(TIMEOUT_NOT_INTEGER))?;
            let ms = u64::try_from(ms).map_err(|_| Reply::error_static(TIMEOUT_NEGATIVE))?;
            args.block_ms = Some(ms);
        } else if is_word(opt, "count") && more > 0 {
            i += 1;
            args.count = int_arg(&argv[i])?.max(0) as u64;
        } else if is_word(opt, "streams") && more > 0 {
            args.streams_at = i + 1;
            let n = argv.len() - args.streams_at;
            if !n.is_multiple_of(2) {
                return Err(Reply::error_static(UNBALANCED));
            }
            args.streams = n / 2;
            break;
        } else if is_word(opt, "group") && more >= 2 {
            if !group_cmd {
                return Err(Reply::error_static(GROUP_ONLY_XREADGROUP));
            }
            args.group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if internal && is_word(opt, RETRY_WORD) {
            args.retry = true;
        } else if is_word(opt, "noack") {
            if !group_cmd {
                return Err(Reply::error_static(NOACK_ONLY_XREADGROUP));
            }
            args.noack = true;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if args.streams_at == 0 {
        return Err(syntax_error());
    }
    if group_cmd && args.group.is_none() {
        return Err(Reply::error_static(MISSING_GROUP));
    }
    Ok(args)
}

/// The options of a command as applied (a client's, or a node's retry).
fn read_args(argv: &[Bytes]) -> Result<ReadArgs, Reply> {
    read_args_with(argv, true)
}

fn xread_check(argv: &[Bytes]) -> Result<(), Reply> {
    read_args_with(argv, false).map(|_| ())
}

/// The keys a blocked XREAD/XREADGROUP waits on and its timeout (ms; 0 = forever); `None`
/// without BLOCK or with bad syntax.
pub fn blocking_keys(argv: &[Bytes]) -> Option<(Vec<Bytes>, u64)> {
    let args = read_args(argv).ok()?;
    let ms = args.block_ms?;
    Some((
        argv[args.streams_at..args.streams_at + args.streams].to_vec(),
        ms,
    ))
}

/// The argv a blocked read is retried with: the IDs as resolved by the first attempt, and
/// COUNT set to Redis's default for a served blocked read when none was given.
fn retry_argv(argv: &[Bytes], args: &ReadArgs, ids: &[StreamId], group: bool) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = argv[..args.streams_at - 1].to_vec();
    if args.count == 0 {
        out.push(Bytes::from_static(b"COUNT"));
        out.push(Bytes::from_static(BLOCKED_COUNT_DEFAULT.as_bytes()));
    }
    if !args.retry {
        out.push(Bytes::from_static(RETRY_WORD.as_bytes()));
    }
    out.push(argv[args.streams_at - 1].clone());
    out.extend_from_slice(&argv[args.streams_at..args.streams_at + args.streams]);
    for (i, id) in ids.iter().enumerate() {
        if group {
            out.push(argv[args.streams_at + args.streams + i].clone());
        } else {
            out.push(id.to_bytes());
        }
    }
    out
}

/// XREAD's lookup: on a retry, a key of another type is as good as missing.
fn lookup_read<'a>(
    db: &'a Db,
    key: &[u8],
    now_ms: u64,
    retry: bool,
) -> Result<Option<&'a Stream>, Reply> {
    match get_stream(db, key, now_ms) {
        Err(_) if retry => Ok(None),
        other => other,
    }
}

/// The ID after which XREAD reads, per key (`$`: the stream's last ID, 0-0 when missing).
fn xread_ids(ctx: &mut WriteCtx, argv: &[Bytes], args: &ReadArgs) -> Result<Vec<StreamId>, Reply> {
    let now_ms = ctx.now_ms;
    let mut ids = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        let key = &argv[args.streams_at + i];
        let arg = &argv[args.streams_at + args.streams + i];
        let s = lookup_read(ctx.db(), key, now_ms, args.retry)?;
        ids.push(if &arg[..] == b"$" {
            s.map_or(StreamId::MIN, |s| s.last_id)
        } else if &arg[..] == b">" {
            return Err(Reply::error_static(GT_IN_XREAD));
        } else {
            parse_strict_id(arg)?
        });
    }
    Ok(ids)
}

fn xread(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let args = read_args(argv)?;
        let ids = xread_ids(ctx, argv, &args)?;
        let now_ms = ctx.now_ms;
        let db = ctx.db();
        let mut served = Vec::new();
        for (i, after) in ids.iter().enumerate() {
            let key = &argv[args.streams_at + i];
            let Some(s) = lookup_read(db, key, now_ms, args.retry)? else {
                continue;
            };
            if s.edge_id(false).is_none_or(|max| max <= *after) {
                continue;
            }
            let start = after.next().unwrap_or(StreamId::MAX);
            let entries = s.range(start, StreamId::MAX, false, args.count as usize);
            served.push((Reply::Bulk(key.clone()), entries_reply(&entries)));
            // A waiter Redis serves gets the one key that became ready.
            if args.retry {
                break;
            }
        }
        if !served.is_empty() {
            return Ok(Reply::MapOfPairs(served));
        }
        if args.block_ms.is_some() {
            return Ok(blocked_retrying(retry_argv(argv, &args, &ids, false)));
        }
        Ok(Reply::NilArray)
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XSETID

struct SetId {
    id: StreamId,
    entries_added: Option<u64>,
    max_deleted: StreamId,
}

fn xsetid_args(argv: &[Bytes]) -> Result<SetId, Reply> {
    let mut args = SetId {
        id: parse_strict_id(&argv[2])?,
        entries_added: None,
        max_deleted: StreamId::MIN,
    };
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if is_word(&argv[i], "entriesadded") && more > 0 {
            let n = int_arg(&argv[i + 1])?;
            let n = u64::try_from(n).map_err(|_| Reply::error_static(ENTRIES_ADDED_NEGATIVE))?;
            args.entries_added = Some(n);
        } else if is_word(&argv[i], "maxdeletedid") && more > 0 {
            args.max_deleted = parse_strict_id(&argv[i + 1])?;
            if args.id < args.max_deleted {
                return Err(Reply::error_static(XSETID_BELOW_MAX_DELETED));
            }
        } else {
            return Err(syntax_error());
        }
        i += 2;
    }
    Ok(args)
}

fn xsetid_check(argv: &[Bytes]) -> Result<(), Reply> {
    xsetid_args(argv).map(|_| ())
}

fn xsetid(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let args = xsetid_args(argv)?;
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let Some(s) = get_stream_mut(ctx.db(), key, now_ms)? else {
            return Err(Reply::error_static(NO_SUCH_KEY));
        };
        if !s.is_empty() {
            let max = s.edge_id(false).unwrap_or(StreamId::MIN);
            if args.id < max {
                return Err(Reply::error_static(XSETID_BELOW_TOP));
            }
            if args.entries_added.is_some_and(|n| (s.len() as u64) > n) {
                return Err(Reply::error_static(XSETID_BELOW_LENGTH));
            }
        }
        s.last_id = args.id;
        if let Some(n) = args.entries_added {
            s.entries_added = n;
        }
        if !args.max_deleted.is_zero() {
            s.max_deleted_id = args.max_deleted;
        }
        ctx.notify(notify::STREAM, "xsetid", key);
        Ok(Reply::ok())
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// The table (metadata from Redis 7.0.15's COMMAND INFO and COMMAND DOCS)

const S: u32 = acl::STREAM;
const G: Group = Group::Stream;
/// XREAD's keys: after STREAMS, the first half of what follows.
const XREAD_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RO | key::ACCESS,
    begin: Begin::Keyword {
        keyword: "STREAMS",
        start_from: 1,
    },
    find: Find::Range {
        last: -1,
        step: 1,
        limit: 2,
    },
}];
const XREADGROUP_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RO | key::ACCESS,
    begin: Begin::Keyword {
        keyword: "STREAMS",
        start_from: 4,
    },
    find: Find::Range {
        last: -1,
        step: 1,
        limit: 2,
    },
}];
const RANGE: &str = "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("xadd", -5, WRITE | DENYOOM | FAST, S, Keys::ONE, G, "5.0.0", "Appends a new entry to a stream", Handler::Write(xadd_check, xadd)).key_flags(key::RW | key::UPDATE).complexity("O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted."),
    cmd("xrange", -4, READONLY, S, Keys::ONE, G, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", Handler::Read(xrange)).complexity(RANGE),
    cmd("xrevrange", -4, READONLY, S, Keys::ONE, G, "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", Handler::Read(xrevrange)).complexity("O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
    cmd("xlen", 2, READONLY | FAST, S, Keys::ONE, G, "5.0.0", "Return the number of entries in a stream", Handler::Read(xlen)).key_flags(key::RO).complexity("O(1)"),
    cmd("xdel", -3, WRITE | FAST, S, Keys::ONE, G, "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", Handler::Write(no_syntax, xdel)).key_flags(key::RW | key::DELETE).complexity("O(1) for each single item to delete in the stream, regardless of the stream size."),
    cmd("xtrim", -4, WRITE, S, Keys::ONE, G, "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", Handler::Write(xtrim_check, xtrim)).key_flags(key::RW | key::DELETE).complexity("O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation."),
    cmd("xread", -4, READONLY | BLOCKING | MAY_REPLICATE, S, Keys::NONE, G, "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", Handler::Write(xread_check, xread)).key_specs(XREAD_KEYS).complexity("For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data."),
    cmd("xreadgroup", -7, WRITE | BLOCKING, S, Keys::NONE, G, "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", Handler::Write(xread_check, group::xreadgroup)).key_specs(XREADGROUP_KEYS).complexity("For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
    cmd("xgroup", -2, 0, 0, Keys::NONE, G, "5.0.0", "A container for consumer groups commands", Handler::Container).complexity("Depends on subcommand.").sub(group::XGROUP),
    cmd("xack", -4, WRITE | FAST, S, Keys::ONE, G, "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", Handler::Write(no_syntax, group::xack)).key_flags(key::RW | key::UPDATE).complexity("O(1) for each message ID processed."),
    cmd("xpending", -3, READONLY, S, Keys::ONE, G, "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", Handler::Read(group::xpending)).complexity("O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer."),
    cmd("xclaim", -6, WRITE | FAST, S, Keys::ONE, G, "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", Handler::Write(no_syntax, group::xclaim)).key_flags(key::RW | key::UPDATE).complexity("O(log N) with N being the number of messages in the PEL of the consumer group."),
    cmd("xautoclaim", -6, WRITE | FAST, S, Keys::ONE, G, "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", Handler::Write(group::xautoclaim_check, group::xautoclaim)).key_flags(key::RW | key::DELETE).complexity("O(1) if COUNT is small."),
    cmd("xinfo", -2, 0, 0, Keys::NONE, G, "5.0.0", "A container for stream introspection commands", Handler::Container).complexity("Depends on subcommand.").sub(info::XINFO),
    cmd("xsetid", -3, WRITE | DENYOOM | FAST, S, Keys::ONE, G, "5.0.0", "An internal command for replicating stream values", Handler::Write(xsetid_check, xsetid)).key_flags(key::RW | key::UPDATE).complexity("O(1)"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Harness, split_args};

    fn args(line: &str) -> Vec<Bytes> {
        split_args(line).expect("valid line")
    }

    #[test]
    fn ids_parse_like_redis() {
        let strict = |s: &str| parse_strict_id(s.as_bytes());
        assert_eq!(strict("1-2"), Ok(StreamId::new(1, 2)));
        assert_eq!(strict("5"), Ok(StreamId::new(5, 0)));
        assert_eq!(
            strict("007-+3"),
            Ok(StreamId::new(7, 3)),
            "strtoull's forms"
        );
        assert!(strict("-").is_err());
        assert!(strict("1-2-3").is_err());
        assert!(strict("-1").is_err());
        assert!(strict("1--1").is_err());
        assert!(strict("18446744073709551616").is_err());
        assert_eq!(parse_end(b"5"), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_start(b"(5-1"), Ok(StreamId::new(5, 2)));
        assert_eq!(parse_end(b"(5-0"), Ok(StreamId::new(4, u64::MAX)));
        assert_eq!(parse_end(b"(0-0"), Err(Reply::error_static(INVALID_END)));
        assert_eq!(parse_start(b"(-"), Err(Reply::error_static(INVALID_ID)));
        assert_eq!(parse_id(b"+", 0), Ok(StreamId::MAX));
    }

    #[test]
    fn syntax_errors_stop_before_the_log() {
        assert_eq!(xadd_check(&args("XADD s * f")), Err(arity_error("xadd")));
        assert_eq!(
            xadd_check(&args("XADD s 0-0 f v")),
            Err(Reply::error_static(XADD_ZERO))
        );
        assert!(xadd_check(&args("XADD s MAXLEN ~ 10 LIMIT 5 * f v")).is_ok());
        assert_eq!(
            xadd_check(&args("XADD s MAXLEN 10 LIMIT 5 * f v")),
            Err(Reply::error_static(LIMIT_WITHOUT_APPROX))
        );
        assert_eq!(
            xtrim_check(&args("XTRIM s LIMIT 5")),
            Err(Reply::error_static(LIMIT_WITHOUT_STRATEGY))
        );
        assert_eq!(
            xread_check(&args("XREAD STREAMS a b c")),
            Err(Reply::error_static(UNBALANCED))
        );
        assert_eq!(
            xread_check(&args("XREAD BLOCK -1 STREAMS a 0")),
            Err(Reply::error_static(TIMEOUT_NEGATIVE))
        );
    }

    /// A retry as the node appends it: straight to the log, without `check`.
    fn retry(h: &mut Harness, line: &str) -> Reply {
        h.apply(crate::entry::Body::Command(args(line)))
    }

    #[test]
    fn retries_of_a_blocked_xreadgroup_answer_what_redis_answers_its_waiters() {
        let mut h = Harness::new();
        h.cmd("XGROUP CREATE s g $ MKSTREAM");
        let blocked = h.cmd("XREADGROUP GROUP g c BLOCK 0 STREAMS s >");
        let argv = crate::commands::blocked_argv(&blocked).expect("a retry argv");
        let line = "XREADGROUP GROUP g c BLOCK 0 COUNT 1000 BLOCKED-RETRY STREAMS s >";
        assert_eq!(argv, args(line));
        assert!(crate::commands::is_blocked(&retry(&mut h, line)));
        h.cmd("XADD s 1-0 f v");
        assert_eq!(h.engine.ready_keys(), &[(0, Box::from(&b"s"[..]))]);
        assert_eq!(
            crate::testing::render(&retry(&mut h, line)),
            r#"[["s", [["1-0", ["f", "v"]]]]]"#
        );
        h.cmd("XGROUP DESTROY s g");
        assert_eq!(h.engine.ready_keys(), &[(0, Box::from(&b"s"[..]))]);
        assert_eq!(retry(&mut h, line), Reply::error_static(group::GROUP_GONE));
        h.cmd("DEL s");
        assert_eq!(h.engine.ready_keys(), &[(0, Box::from(&b"s"[..]))]);
        assert_eq!(retry(&mut h, line), Reply::error_static(group::STREAM_GONE));
        h.cmd("SET s v");
        assert_eq!(retry(&mut h, line), Reply::error_static(group::STREAM_GONE));
    }

    #[test]
    fn a_blocked_xread_waits_after_the_last_id_it_saw() {
        let mut h = Harness::new();
        h.cmd("XADD s 5-0 f v");
        let blocked = h.cmd("XREAD BLOCK 0 STREAMS s nope $ $");
        assert_eq!(
            crate::commands::blocked_argv(&blocked),
            Some(args(
                "XREAD BLOCK 0 COUNT 1000 BLOCKED-RETRY STREAMS s nope 5-0 0-0"
            ))
        );
        let line = "XREAD BLOCK 0 COUNT 1000 BLOCKED-RETRY STREAMS s nope 5-0 0-0";
        assert!(crate::commands::is_blocked(&retry(&mut h, line)));
        h.cmd("SET nope v");
        assert!(
            crate::commands::is_blocked(&retry(&mut h, line)),
            "another type is not ready, not an error"
        );
        h.cmd("XADD s 6-0 f v");
        assert_eq!(
            crate::testing::render(&retry(&mut h, line)),
            r#"[["s", [["6-0", ["f", "v"]]]]]"#
        );
    }

    #[test]
    fn writes_notify_as_redis_does() {
        let mut h = Harness::new();
        h.engine.set_notify(notify::ALL | notify::KEYEVENT);
        let mut events = |line: &str| -> Vec<&'static str> {
            h.cmd(line);
            h.engine
                .events()
                .iter()
                .filter(|e| e.class == notify::STREAM)
                .map(|e| e.event)
                .collect()
        };
        assert_eq!(events("XADD s 1 f v"), ["xadd"]);
        assert_eq!(events("XADD s MAXLEN 1 2 f v"), ["xadd", "xtrim"]);
        assert_eq!(events("XADD s MAXLEN 5 3 f v"), ["xadd"]);
        assert_eq!(events("XDEL s 3"), ["xdel"]);
        assert!(events("XDEL s 3").is_empty());
        assert_eq!(events("XGROUP CREATE s g 0"), ["xgroup-create"]);
        assert_eq!(
            events("XREADGROUP GROUP g c STREAMS s >"),
            ["xgroup-createconsumer"]
        );
        assert!(events("XREADGROUP GROUP g c STREAMS s >").is_empty());
        assert_eq!(
            events("XGROUP CREATECONSUMER s g d"),
            ["xgroup-createconsumer"]
        );
        assert_eq!(events("XCLAIM s g e 0 2-0"), ["xgroup-createconsumer"]);
        assert_eq!(events("XGROUP DELCONSUMER s g d"), ["xgroup-delconsumer"]);
        assert_eq!(events("XGROUP SETID s g 0"), ["xgroup-setid"]);
        assert_eq!(events("XSETID s 10"), ["xsetid"]);
        assert!(events("XTRIM s MAXLEN 5").is_empty());
        assert_eq!(events("XTRIM s MAXLEN 0"), ["xtrim"]);
        assert_eq!(events("XGROUP DESTROY s g"), ["xgroup-destroy"]);
        assert!(events("XGROUP DESTROY s g").is_empty());
    }

    #[test]
    fn blocked_reads_name_their_keys_and_timeout() {
        assert_eq!(
            blocking_keys(&args("XREAD COUNT 2 BLOCK 1500 STREAMS a b $ 0")),
            Some((args("a b"), 1500))
        );
        assert_eq!(
            blocking_keys(&args("XREADGROUP GROUP g c BLOCK 0 STREAMS a >")),
            Some((args("a"), 0))
        );
        assert_eq!(
            xread_check(&args("XREADGROUP GROUP g c BLOCKED-RETRY STREAMS a >")),
            Err(syntax_error())
        );
        assert_eq!(blocking_keys(&args("XREAD STREAMS a 0")), None);
    }
}
