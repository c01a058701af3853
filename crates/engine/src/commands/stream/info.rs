//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis
//! 7.0.15's fields (consumers have `seen-time` and `idle`; `active-time` and `inactive` came
//! in 7.2). Idle times use the node's clock.

use bytes::Bytes;
use cairn_resp::Reply;

use super::group::help_reply;
use super::{entry_reply, error_with, get_stream, id_reply, is_word, reply_of};
use crate::commands::{NO_SUCH_KEY, cmd, int_arg};
use crate::engine::ReadCtx;
use crate::table::{Group as TableGroup, Handler, Keys, Spec, acl, flag::*};
use crate::types::stream::{ENTRIES_READ_INVALID, Group, Stream, StreamId};

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (Reply::bulk(Bytes::from_static(name.as_bytes())), value)
}

fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

fn entries_read(group: &Group) -> Reply {
    if group.entries_read == ENTRIES_READ_INVALID {
        Reply::Nil
    } else {
        Reply::Int(group.entries_read)
    }
}

fn lag(s: &Stream, group: &Group) -> Reply {
    s.lag(group).map_or(Reply::Nil, Reply::Int)
}

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

/// The stream at argv[2], or Redis's "no such key".
fn stream_arg<'a>(ctx: &'a ReadCtx, argv: &[Bytes]) -> Result<&'a Stream, Reply> {
    get_stream(ctx.db(), &argv[2], ctx.now_ms)?.ok_or_else(|| Reply::error_static(NO_SUCH_KEY))
}

fn xinfo_stream(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let s = stream_arg(ctx, argv)?;
        let opts = &argv[3..];
        let full = match opts.len() {
            0 => None,
            1 | 3 if is_word(&opts[0], "full") => {
                if opts.len() == 1 {
                    Some(10)
                } else if !is_word(&opts[1], "count") {
                    return Err(subcommand_error(argv));
                } else {
                    let n = int_arg(&opts[2])?;
                    Some(if n < 0 { 10 } else { n as usize })
                }
            }
            _ => return Err(subcommand_error(argv)),
        };
        let mut out = vec![
            field("length", Reply::Int(s.len() as i64)),
            field("radix-tree-keys", Reply::Int(s.node_count() as i64)),
            field("radix-tree-nodes", Reply::Int(s.rax_nodes() as i64)),
            field("last-generated-id", id_reply(s.last_id)),
            field("max-deleted-entry-id", id_reply(s.max_deleted_id)),
            field("entries-added", Reply::Int(s.entries_added as i64)),
            field("recorded-first-entry-id", id_reply(s.first_id)),
        ];
        match full {
            None => {
                out.push(field("groups", Reply::Int(s.groups.len() as i64)));
                let edge = |rev: bool| {
                    s.range(StreamId::MIN, StreamId::MAX, rev, 1)
                        .first()
                        .map_or(Reply::Nil, |(id, f)| entry_reply(*id, f))
                };
                out.push(field("first-entry", edge(false)));
                out.push(field("last-entry", edge(true)));
            }
            Some(count) => {
                let entries = s.range(StreamId::MIN, StreamId::MAX, false, count);
                out.push(field(
                    "entries",
                    Reply::Array(entries.iter().map(|(id, f)| entry_reply(*id, f)).collect()),
                ));
                let groups = s.groups.iter().map(|(n, g)| full_group(s, n, g, count));
                out.push(field("groups", Reply::Array(groups.collect())));
            }
        }
        Ok(Reply::Map(out))
    })();
    reply_of(result)
}

/// One group of XINFO STREAM FULL; `count` caps each PEL listed (0: all).
fn full_group(s: &Stream, name: &[u8], g: &Group, count: usize) -> Reply {
    let cap = if count == 0 { usize::MAX } else { count };
    let pending = g.pel.iter().take(cap).map(|(id, nack)| {
        Reply::Array(vec![
            id_reply(*id),
            bulk(&nack.consumer),
            Reply::Int(nack.delivery_time as i64),
            Reply::Int(nack.delivery_count as i64),
        ])
    });
    let consumers = g.consumers.iter().map(|(cname, c)| {
        let pending = c.pel.iter().take(cap).map(|id| {
            let nack = &g.pel[id];
            Reply::Array(vec![
                id_reply(*id),
                Reply::Int(nack.delivery_time as i64),
                Reply::Int(nack.delivery_count as i64),
            ])
        });
        Reply::Map(vec![
            field("name", bulk(cname)),
            field("seen-time", Reply::Int(c.seen_time as i64)),
            field("pel-count", Reply::Int(c.pel.len() as i64)),
            field("pending", Reply::Array(pending.collect())),
        ])
    });
    Reply::Map(vec![
        field("name", bulk(name)),
        field("last-delivered-id", id_reply(g.last_id)),
        field("entries-read", entries_read(g)),
        field("lag", lag(s, g)),
        field("pel-count", Reply::Int(g.pel.len() as i64)),
        field("pending", Reply::Array(pending.collect())),
        field("consumers", Reply::Array(consumers.collect())),
    ])
}

fn xinfo_groups(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let s = stream_arg(ctx, argv)?;
        let groups = s.groups.iter().map(|(name, g)| {
            Reply::Map(vec![
                field("name", bulk(name)),
                field("consumers", Reply::Int(g.consumers.len() as i64)),
                field("pending", Reply::Int(g.pel.len() as i64)),
                field("last-delivered-id", id_reply(g.last_id)),
                field("entries-read", entries_read(g)),
                field("lag", lag(s, g)),
            ])
        });
        Ok(Reply::Array(groups.collect()))
    })();
    reply_of(result)
}

fn xinfo_consumers(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let result = (|| {
        let s = stream_arg(ctx, argv)?;
        let Some(g) = s.groups.get(&argv[3][..]) else {
            return Err(error_with(&[
                b"NOGROUP No such consumer group '",
                &argv[3],
                b"' for key name '",
                &argv[2],
                b"'",
            ]));
        };
        let now_ms = ctx.now_ms as i64;
        let consumers = g.consumers.iter().map(|(name, c)| {
            Reply::Map(vec![
                field("name", bulk(name)),
                field("pending", Reply::Int(c.pel.len() as i64)),
                field("idle", Reply::Int((now_ms - c.seen_time as i64).max(0))),
            ])
        });
        Ok(Reply::Array(consumers.collect()))
    })();
    reply_of(result)
}

fn xinfo_help(_ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
    ];
    help_reply(&argv[0], LINES)
}

const S: u32 = acl::STREAM;
const G: TableGroup = TableGroup::Stream;
const AT_2: Keys = Keys {
    first: 2,
    last: 2,
    step: 1,
};

#[rustfmt::skip]
pub(super) static XINFO: &[Spec] = &[
    cmd("consumers", 4, READONLY, S, AT_2, G, "5.0.0", "List the consumers in a consumer group", Handler::Read(xinfo_consumers)).complexity("O(1)"),
    cmd("groups", 3, READONLY, S, AT_2, G, "5.0.0", "List the consumer groups of a stream", Handler::Read(xinfo_groups)).complexity("O(1)"),
    cmd("help", 2, LOADING | STALE, S, Keys::NONE, G, "5.0.0", "Show helpful text about the different subcommands", Handler::Read(xinfo_help)).complexity("O(1)"),
    cmd("stream", -3, READONLY, S, AT_2, G, "5.0.0", "Get information about a stream", Handler::Read(xinfo_stream)).complexity("O(1)"),
];
