//! Consumer groups: XGROUP's subcommands, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//!
//! A delivery (XREADGROUP, XCLAIM, XAUTOCLAIM) stamps the entry's `now_ms` as the delivery
//! time and the consumer's seen time; XPENDING measures idle times with the node's clock.
//! Creating a consumer on the way notifies `xgroup-createconsumer`, as Redis does.

use bytes::Bytes;
use cairn_resp::Reply;

use super::{
    DOLLAR_IN_XREADGROUP, ReadArgs, entry_reply, error_with, get_stream, get_stream_mut, id_reply,
    is_word, parse_end, parse_id, parse_start, parse_strict_id, read_args, reply_of, retry_argv,
    stream_or_create,
};
use crate::commands::{blocked_retrying, cmd, int_arg, parse_i64, syntax_error};
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group as TableGroup, Handler, Keys, Spec, acl, flag::*, key};
use crate::types::stream::{ENTRIES_READ_INVALID, Group, Nack, Stream, StreamId};

const XGROUP_NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
const ENTRIES_READ_NEGATIVE: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub(super) const STREAM_GONE: &str = "UNBLOCKED the stream key no longer exists";
pub(super) const GROUP_GONE: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";
const COUNT_NOT_POSITIVE: &str = "ERR COUNT must be > 0";
/// XAUTOCLAIM's COUNT at most (Redis: `LONG_MAX / max(sizeof(streamID), attempts factor)`).
const AUTOCLAIM_COUNT_MAX: i64 = i64::MAX / 16;
/// XAUTOCLAIM scans at most COUNT × this many pending entries.
const AUTOCLAIM_ATTEMPTS_FACTOR: u64 = 10;

/// `unknown subcommand or wrong number of arguments`, naming the command as typed.
fn subcommand_error(argv: &[Bytes]) -> Reply {
    let command = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
    error_with(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        &argv[1][..argv[1].len().min(128)],
        b"'. Try ",
        command.as_bytes(),
        b" HELP.",
    ])
}

fn nogroup_key(key: &[u8], group: &[u8]) -> Reply {
    error_with(&[
        b"NOGROUP No such key '",
        key,
        b"' or consumer group '",
        group,
        b"'",
    ])
}

fn nogroup_for_key(group: &[u8], key: &[u8]) -> Reply {
    error_with(&[
        b"NOGROUP No such consumer group '",
        group,
        b"' for key name '",
        key,
        b"'",
    ])
}

/// Looks a consumer up (refreshing its seen time) or creates it: whether it was created.
fn touch_consumer(group: &mut Group, name: &[u8], now_ms: u64) -> bool {
    match group.consumers.get_mut(name) {
        Some(c) => {
            c.seen_time = now_ms;
            false
        }
        None => {
            let consumer = crate::types::stream::Consumer {
                seen_time: now_ms,
                ..Default::default()
            };
            group.consumers.insert(name.into(), consumer);
            true
        }
    }
}

/// Gives pending entry `id` to `consumer` (which exists), creating the entry if needed.
fn assign<'a>(group: &'a mut Group, id: StreamId, consumer: &[u8]) -> &'a mut Nack {
    let nack = group.pel.entry(id).or_insert_with(|| Nack {
        delivery_time: 0,
        delivery_count: 0,
        consumer: consumer.into(),
    });
    if *nack.consumer != *consumer {
        if let Some(old) = group.consumers.get_mut(&nack.consumer) {
            old.pel.remove(&id);
        }
        nack.consumer = consumer.into();
    }
    group
        .consumers
        .get_mut(consumer)
        .expect("the consumer exists")
        .pel
        .insert(id);
    group.pel.get_mut(&id).expect("just inserted")
}

// ---------------------------------------------------------------------------------------------
// XGROUP

/// The options XGROUP reads from its sixth argument on (MKSTREAM, ENTRIESREAD), before it
/// looks the key up.
fn xgroup_options(argv: &[Bytes]) -> Result<(bool, i64), Reply> {
    let create = is_word(&argv[1], "create");
    let setid = is_word(&argv[1], "setid");
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_INVALID);
    let mut i = 5;
    while i < argv.len() {
        if create && is_word(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is_word(&argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = int_arg(&argv[i + 1])?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(Reply::error_static(ENTRIES_READ_NEGATIVE));
            }
            i += 2;
        } else {
            return Err(subcommand_error(argv));
        }
    }
    Ok((mkstream, entries_read))
}

fn xgroup_check(argv: &[Bytes]) -> Result<(), Reply> {
    xgroup_options(argv).map(|_| ())
}

/// The stream (which must exist unless MKSTREAM) and, for every subcommand but CREATE and
/// DESTROY, the group (which must exist).
fn xgroup_target<'a>(
    ctx: &'a mut WriteCtx,
    argv: &[Bytes],
    mkstream: bool,
) -> Result<Option<&'a mut Stream>, Reply> {
    let now_ms = ctx.now_ms;
    let s = get_stream_mut(ctx.db(), &argv[2], now_ms)?;
    if mkstream {
        return Ok(s);
    }
    let Some(s) = s else {
        return Err(Reply::error_static(XGROUP_NEEDS_KEY));
    };
    let needs_group = ["setid", "createconsumer", "delconsumer"]
        .iter()
        .any(|w| is_word(&argv[1], w));
    if needs_group && !s.groups.contains_key(&argv[3][..]) {
        return Err(nogroup_for_key(&argv[3], &argv[2]));
    }
    Ok(Some(s))
}

fn xgroup_create(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let (mkstream, entries_read) = xgroup_options(argv)?;
        let (now_ms, key) = (ctx.now_ms, &argv[2]);
        let exists = xgroup_target(ctx, argv, mkstream)?.is_some();
        if argv.len() > 8 {
            return Err(subcommand_error(argv));
        }
        let id = if &argv[4][..] == b"$" {
            match get_stream(ctx.db(), key, now_ms)? {
                Some(s) => s.last_id,
                None => StreamId::MIN,
            }
        } else {
            parse_strict_id(&argv[4])?
        };
        let s = if exists {
            get_stream_mut(ctx.db(), key, now_ms)?.expect("exists")
        } else {
            stream_or_create(ctx.db(), key, now_ms)?
        };
        if s.groups.contains_key(&argv[3][..]) {
            return Err(Reply::error_static(BUSYGROUP));
        }
        s.groups
            .insert(argv[3][..].into(), Group::new(id, entries_read));
        ctx.notify(notify::STREAM, "xgroup-create", key);
        Ok(Reply::ok())
    })();
    reply_of(result)
}

fn xgroup_setid(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let (_, entries_read) = xgroup_options(argv)?;
        let s = xgroup_target(ctx, argv, false)?.expect("checked");
        if argv.len() != 5 && argv.len() != 7 {
            return Err(subcommand_error(argv));
        }
        let id = if &argv[4][..] == b"$" {
            s.last_id
        } else {
            parse_id(&argv[4], 0)?
        };
        let group = s.groups.get_mut(&argv[3][..]).expect("checked");
        group.last_id = id;
        group.entries_read = entries_read;
        ctx.notify(notify::STREAM, "xgroup-setid", &argv[2]);
        Ok(Reply::ok())
    })();
    reply_of(result)
}

fn xgroup_destroy(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let s = xgroup_target(ctx, argv, false)?.expect("checked");
        if s.groups.remove(&argv[3][..]).is_none() {
            return Ok(Reply::Int(0));
        }
        ctx.notify(notify::STREAM, "xgroup-destroy", &argv[2]);
        // Clients blocked in XREADGROUP on this group learn it is gone.
        ctx.signal_ready(&argv[2]);
        Ok(Reply::Int(1))
    })();
    reply_of(result)
}

fn xgroup_createconsumer(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let now_ms = ctx.now_ms;
        let s = xgroup_target(ctx, argv, false)?.expect("checked");
        let group = s.groups.get_mut(&argv[3][..]).expect("checked");
        if group.consumers.contains_key(&argv[4][..]) {
            return Ok(Reply::Int(0));
        }
        touch_consumer(group, &argv[4], now_ms);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", &argv[2]);
        Ok(Reply::Int(1))
    })();
    reply_of(result)
}

fn xgroup_delconsumer(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let s = xgroup_target(ctx, argv, false)?.expect("checked");
        let group = s.groups.get_mut(&argv[3][..]).expect("checked");
        let Some(pending) = group.remove_consumer(&argv[4]) else {
            return Ok(Reply::Int(0));
        };
        ctx.notify(notify::STREAM, "xgroup-delconsumer", &argv[2]);
        Ok(Reply::Int(pending as i64))
    })();
    reply_of(result)
}

fn xgroup_help(_ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
    ];
    help_reply(&argv[0], LINES)
}

/// Redis's `addReplyHelp`: a header naming the command, the lines, then HELP's own.
pub(super) fn help_reply(command: &[u8], lines: &[&'static str]) -> Reply {
    let name = String::from_utf8_lossy(command).to_ascii_uppercase();
    let mut out = vec![Reply::Simple(Bytes::from(format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )))];
    out.extend(lines.iter().map(|l| Reply::simple(l)));
    out.push(Reply::simple("HELP"));
    out.push(Reply::simple("    Prints this help."));
    Reply::Array(out)
}

// ---------------------------------------------------------------------------------------------
// XREADGROUP

/// Serves one key of an XREADGROUP: its entries reply, or `None` when there is nothing to
/// serve now. `after` is MAX for `>`.
#[allow(clippy::too_many_arguments)] // reason: one read's whole context
fn serve_group(
    s: &mut Stream,
    group_name: &[u8],
    consumer: &[u8],
    after: StreamId,
    count: usize,
    noack: bool,
    now_ms: u64,
    created: &mut bool,
) -> Option<Reply> {
    let history = after != StreamId::MAX;
    let group = s.groups.get(group_name)?;
    if !history {
        let max = s.edge_id(false)?;
        if max <= group.last_id {
            return None;
        }
    }
    let group = s.groups.get_mut(group_name)?;
    *created |= touch_consumer(group, consumer, now_ms);
    let after = if history { after } else { group.last_id };
    let start = after.next().unwrap_or(StreamId::MAX);
    if history {
        let ids: Vec<StreamId> = group.consumers[consumer]
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.get(id) {
                Some(fields) => {
                    out.push(entry_reply(id, &fields));
                    let nack = s
                        .groups
                        .get_mut(group_name)
                        .and_then(|g| g.pel.get_mut(&id))
                        .expect("a consumer's pending entry is the group's");
                    nack.delivery_time = now_ms;
                    nack.delivery_count += 1;
                }
                None => out.push(Reply::Array(vec![id_reply(id), Reply::NilArray])),
            }
        }
        return Some(Reply::Array(out));
    }
    let last = group.last_id;
    let entries = s.range(start, StreamId::MAX, false, count);
    let reply = Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect());
    let ids: Vec<StreamId> = entries.iter().map(|(id, _)| *id).collect();
    for id in ids {
        if id > last {
            s.advance_group(group_name, id);
        }
        if !noack {
            let group = s.groups.get_mut(group_name).expect("exists");
            let nack = assign(group, id, consumer);
            nack.delivery_time = now_ms;
            nack.delivery_count = 1;
        }
    }
    Some(reply)
}

/// The ID after which XREADGROUP reads, per key (MAX for `>`), once every key is known to be
/// a stream with the group.
fn group_ids(ctx: &mut WriteCtx, argv: &[Bytes], args: &ReadArgs) -> Result<Vec<StreamId>, Reply> {
    let (group, _) = args.group.as_ref().expect("XREADGROUP has a group");
    let now_ms = ctx.now_ms;
    let mut ids = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        let key = &argv[args.streams_at + i];
        let arg = &argv[args.streams_at + args.streams + i];
        if args.retry {
            match get_stream(ctx.db(), key, now_ms) {
                Ok(Some(s)) if s.groups.contains_key(&group[..]) => {}
                Ok(Some(_)) => return Err(Reply::error_static(GROUP_GONE)),
                _ => return Err(Reply::error_static(STREAM_GONE)),
            }
        }
        let s = get_stream(ctx.db(), key, now_ms)?;
        if !s.is_some_and(|s| s.groups.contains_key(&group[..])) {
            return Err(error_with(&[
                b"NOGROUP No such key '",
                key,
                b"' or consumer group '",
                group,
                b"' in XREADGROUP with GROUP option",
            ]));
        }
        ids.push(match &arg[..] {
            b"$" => return Err(Reply::error_static(DOLLAR_IN_XREADGROUP)),
            b">" => StreamId::MAX,
            _ => parse_strict_id(arg)?,
        });
    }
    Ok(ids)
}

pub(super) fn xreadgroup(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let args = read_args(argv)?;
        let ids = group_ids(ctx, argv, &args)?;
        let (group, consumer) = args.group.clone().expect("XREADGROUP has a group");
        let now_ms = ctx.now_ms;
        let mut served = Vec::new();
        for (i, after) in ids.iter().enumerate() {
            let key = &argv[args.streams_at + i];
            let s = get_stream_mut(ctx.db(), key, now_ms)?.expect("checked");
            let mut created = false;
            let reply = serve_group(
                s,
                &group,
                &consumer,
                *after,
                args.count as usize,
                args.noack,
                now_ms,
                &mut created,
            );
            if created {
                ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
            }
            if let Some(entries) = reply {
                served.push((Reply::Bulk(key.clone()), entries));
                // A waiter Redis serves gets the one key that became ready.
                if args.retry {
                    break;
                }
            }
        }
        if !served.is_empty() {
            return Ok(Reply::MapOfPairs(served));
        }
        if args.block_ms.is_some() {
            return Ok(blocked_retrying(retry_argv(argv, &args, &ids, true)));
        }
        Ok(Reply::NilArray)
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XACK

/// XACK: the key and group are looked up before the IDs are parsed.
pub(super) fn xack(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let now_ms = ctx.now_ms;
        let Some(s) = get_stream_mut(ctx.db(), &argv[1], now_ms)? else {
            return Ok(Reply::Int(0));
        };
        let Some(group) = s.groups.get_mut(&argv[2][..]) else {
            return Ok(Reply::Int(0));
        };
        let ids = argv[3..]
            .iter()
            .map(|a| parse_strict_id(a))
            .collect::<Result<Vec<_>, _>>()?;
        let acked = ids
            .into_iter()
            .filter(|id| group.remove_pending(*id))
            .count();
        Ok(Reply::Int(acked as i64))
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XPENDING

struct PendingRange {
    min_idle_ms: i64,
    start: StreamId,
    end: StreamId,
    count: u64,
    consumer: Option<Bytes>,
}

fn pending_args(argv: &[Bytes]) -> Result<Option<PendingRange>, Reply> {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(syntax_error());
    }
    if argc == 3 {
        return Ok(None);
    }
    let mut at = 3;
    let mut min_idle_ms = 0;
    if is_word(&argv[3], "idle") {
        min_idle_ms = int_arg(&argv[4])?;
        if argc < 8 {
            return Err(syntax_error());
        }
        at += 2;
    }
    let count = int_arg(&argv[at + 2])?.max(0) as u64;
    let start = parse_start(&argv[at])?;
    let end = parse_end(&argv[at + 1])?;
    Ok(Some(PendingRange {
        min_idle_ms,
        start,
        end,
        count,
        consumer: argv.get(at + 3).cloned(),
    }))
}

pub(super) fn xpending(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let range = pending_args(argv)?;
        let now_ms = ctx.now_ms as i64;
        let s = get_stream(ctx.db(), &argv[1], ctx.now_ms)?;
        let Some(group) = s.and_then(|s| s.groups.get(&argv[2][..])) else {
            return Err(nogroup_key(&argv[1], &argv[2]));
        };
        let Some(range) = range else {
            return Ok(pending_summary(group));
        };
        let pel: Box<dyn Iterator<Item = StreamId>> = match &range.consumer {
            Some(name) => match group.consumers.get(&name[..]) {
                Some(c) => Box::new(c.pel.range(range.start..).copied()),
                None => return Ok(Reply::Array(Vec::new())),
            },
            None => Box::new(group.pel.range(range.start..).map(|(id, _)| *id)),
        };
        let mut out = Vec::new();
        let mut count = range.count;
        for id in pel {
            if count == 0 || id > range.end {
                break;
            }
            let nack = &group.pel[&id];
            let idle = now_ms - nack.delivery_time as i64;
            if range.min_idle_ms != 0 && idle < range.min_idle_ms {
                continue;
            }
            count -= 1;
            out.push(Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(Bytes::copy_from_slice(&nack.consumer)),
                Reply::Int(idle.max(0)),
                Reply::Int(nack.delivery_count as i64),
            ]));
        }
        Ok(Reply::Array(out))
    })();
    reply_of(result)
}

fn pending_summary(group: &Group) -> Reply {
    let (Some((first, _)), Some((last, _))) =
        (group.pel.first_key_value(), group.pel.last_key_value())
    else {
        return Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
    };
    let consumers = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pel.is_empty())
        .map(|(name, c)| {
            Reply::Array(vec![
                Reply::Bulk(Bytes::copy_from_slice(name)),
                Reply::Bulk(Bytes::from(c.pel.len().to_string())),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::Int(group.pel.len() as i64),
        id_reply(*first),
        id_reply(*last),
        Reply::Array(consumers),
    ])
}

// ---------------------------------------------------------------------------------------------
// XCLAIM

#[derive(Default)]
struct ClaimOptions {
    force: bool,
    justid: bool,
    /// Delivery time to set (IDLE/TIME), before clamping.
    delivery_time: Option<i64>,
    retry_count: Option<i64>,
    last_id: StreamId,
}

fn claim_options(argv: &[Bytes], from: usize, now_ms: i64) -> Result<ClaimOptions, Reply> {
    let mut o = ClaimOptions::default();
    let int_or =
        |arg: &[u8], text: &'static str| parse_i64(arg).ok_or_else(|| Reply::error_static(text));
    let mut j = from;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j][..];
        if is_word(opt, "force") {
            o.force = true;
        } else if is_word(opt, "justid") {
            o.justid = true;
        } else if is_word(opt, "idle") && more > 0 {
            j += 1;
            let idle = int_or(&argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            o.delivery_time = Some(now_ms.wrapping_sub(idle));
        } else if is_word(opt, "time") && more > 0 {
            j += 1;
            o.delivery_time = Some(int_or(
                &argv[j],
                "ERR Invalid TIME option argument for XCLAIM",
            )?);
        } else if is_word(opt, "retrycount") && more > 0 {
            j += 1;
            o.retry_count = Some(int_or(
                &argv[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            )?);
        } else if is_word(opt, "lastid") && more > 0 {
            j += 1;
            o.last_id = parse_strict_id(&argv[j])?;
        } else {
            return Err(error_with(&[
                b"ERR Unrecognized XCLAIM option '",
                opt,
                b"'",
            ]));
        }
        j += 1;
    }
    Ok(o)
}

/// XCLAIM: the key and group are looked up first, then the arguments are parsed.
pub(super) fn xclaim(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let s = get_stream_mut(ctx.db(), key, now_ms)?;
        let Some(s) = s.filter(|s| s.groups.contains_key(&argv[2][..])) else {
            return Err(nogroup_key(key, &argv[2]));
        };
        let min_idle = parse_i64(&argv[4])
            .ok_or_else(|| Reply::error_static("ERR Invalid min-idle-time argument for XCLAIM"))?
            .max(0);
        let ids: Vec<StreamId> = argv[5..]
            .iter()
            .map_while(|a| parse_strict_id(a).ok())
            .collect();
        let now = now_ms as i64;
        let o = claim_options(argv, 5 + ids.len(), now)?;
        let delivery_time = match o.delivery_time {
            Some(t) if (0..=now).contains(&t) => t as u64,
            _ => now_ms,
        };
        let (consumer, name) = (&argv[3], &argv[2][..]);
        let mut created = false;
        let mut touched = false;
        let mut out = Vec::new();
        {
            let group = s.groups.get_mut(name).expect("checked");
            if o.last_id > group.last_id {
                group.last_id = o.last_id;
            }
        }
        for id in ids {
            if !s.contains(id) {
                s.groups.get_mut(name).expect("checked").remove_pending(id);
                continue;
            }
            let group = s.groups.get_mut(name).expect("checked");
            let existing = group.pel.get(&id).map(|n| n.delivery_time);
            let (first_count, skip_idle) = match existing {
                Some(time) => (None, min_idle != 0 && now - (time as i64) < min_idle),
                None if o.force => (Some(1), false),
                None => continue,
            };
            if skip_idle {
                continue;
            }
            if !touched {
                created |= touch_consumer(group, consumer, now_ms);
                touched = true;
            }
            let nack = assign(group, id, consumer);
            if let Some(n) = first_count {
                nack.delivery_count = n;
            }
            nack.delivery_time = delivery_time;
            match o.retry_count {
                Some(n) if n >= 0 => nack.delivery_count = n as u64,
                _ if !o.justid => nack.delivery_count += 1,
                _ => {}
            }
            out.push(if o.justid {
                id_reply(id)
            } else {
                entry_reply(id, &s.get(id).expect("exists"))
            });
        }
        if created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        Ok(Reply::Array(out))
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XAUTOCLAIM

struct AutoClaim {
    min_idle: i64,
    start: StreamId,
    count: u64,
    justid: bool,
}

fn autoclaim_args(argv: &[Bytes]) -> Result<AutoClaim, Reply> {
    let min_idle = parse_i64(&argv[4])
        .ok_or_else(|| Reply::error_static("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = parse_start(&argv[5])?;
    let mut args = AutoClaim {
        min_idle,
        start,
        count: 100,
        justid: false,
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is_word(&argv[j], "count") && more > 0 {
            args.count = match parse_i64(&argv[j + 1]) {
                Some(n) if (1..=AUTOCLAIM_COUNT_MAX).contains(&n) => n as u64,
                _ => return Err(Reply::error_static(COUNT_NOT_POSITIVE)),
            };
            j += 1;
        } else if is_word(&argv[j], "justid") {
            args.justid = true;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(args)
}

pub(super) fn xautoclaim_check(argv: &[Bytes]) -> Result<(), Reply> {
    autoclaim_args(argv).map(|_| ())
}

pub(super) fn xautoclaim(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let args = autoclaim_args(argv)?;
        let (now_ms, key) = (ctx.now_ms, &argv[1]);
        let s = get_stream_mut(ctx.db(), key, now_ms)?;
        let name = &argv[2][..];
        let Some(s) = s.filter(|s| s.groups.contains_key(name)) else {
            return Err(nogroup_key(key, name));
        };
        let consumer = &argv[3];
        let mut attempts = args.count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
        let mut count = args.count;
        let pending: Vec<StreamId> = s.groups[name]
            .pel
            .range(args.start..)
            .map(|(id, _)| *id)
            .take(usize::try_from(attempts.saturating_add(1)).unwrap_or(usize::MAX))
            .collect();
        let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
        let mut created = false;
        let mut touched = false;
        let mut next = 0;
        while attempts > 0 && count > 0 && next < pending.len() {
            attempts -= 1;
            let id = pending[next];
            next += 1;
            if !s.contains(id) {
                s.groups.get_mut(name).expect("checked").remove_pending(id);
                deleted.push(id_reply(id));
                count -= 1;
                continue;
            }
            let group = s.groups.get_mut(name).expect("checked");
            let time = group.pel[&id].delivery_time as i64;
            if args.min_idle != 0 && (now_ms as i64) - time < args.min_idle {
                continue;
            }
            if !touched {
                created |= touch_consumer(group, consumer, now_ms);
                touched = true;
            }
            let nack = assign(group, id, consumer);
            nack.delivery_time = now_ms;
            if !args.justid {
                nack.delivery_count += 1;
            }
            claimed.push(if args.justid {
                id_reply(id)
            } else {
                entry_reply(id, &s.get(id).expect("exists"))
            });
            count -= 1;
        }
        let cursor = pending.get(next).copied().unwrap_or(StreamId::MIN);
        if created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        Ok(Reply::Array(vec![
            id_reply(cursor),
            Reply::Array(claimed),
            Reply::Array(deleted),
        ]))
    })();
    reply_of(result)
}

// ---------------------------------------------------------------------------------------------
// XGROUP's rows

const S: u32 = acl::STREAM;
const G: TableGroup = TableGroup::Stream;
const AT_2: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub(super) static XGROUP: &[Spec] = &[
    cmd("create", -5, WRITE | DENYOOM, S, AT_2, G, "5.0.0", "Create a consumer group.", Handler::Write(xgroup_check, xgroup_create)).key_flags(key::RW | key::INSERT).complexity("O(1)"),
    cmd("createconsumer", 5, WRITE | DENYOOM, S, AT_2, G, "6.2.0", "Create a consumer in a consumer group.", Handler::Write(xgroup_check, xgroup_createconsumer)).key_flags(key::RW | key::INSERT).complexity("O(1)"),
    cmd("delconsumer", 5, WRITE, S, AT_2, G, "5.0.0", "Delete a consumer from a consumer group.", Handler::Write(xgroup_check, xgroup_delconsumer)).key_flags(key::RW | key::DELETE).complexity("O(1)"),
    cmd("destroy", 4, WRITE, S, AT_2, G, "5.0.0", "Destroy a consumer group.", Handler::Write(xgroup_check, xgroup_destroy)).key_flags(key::RW | key::DELETE).complexity("O(N) where N is the number of entries in the group's pending entries list (PEL)."),
    cmd("setid", -5, WRITE, S, AT_2, G, "5.0.0", "Set a consumer group to an arbitrary last delivered ID value.", Handler::Write(xgroup_check, xgroup_setid)).key_flags(key::RW | key::UPDATE).complexity("O(1)"),
    cmd("help", 2, LOADING | STALE, S, Keys::NONE, G, "5.0.0", "Show helpful text about the different subcommands", Handler::Read(xgroup_help)).complexity("O(1)"),
];
