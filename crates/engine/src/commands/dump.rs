//! DUMP and RESTORE (Redis 7.0.15's `dumpCommand` and `restoreCommand`, src/cluster.c): a
//! value as Redis's RDB object payload and back, through the codec in `crate::rdb`.
//!
//! DUMP writes the encoding the value is held in, as Redis does: a compact hash as a listpack
//! and a hashtable as a plain hash, an intset as an intset and a hashtable set as a plain set,
//! lists as quicklist nodes split by `list-max-listpack-size` and compressed past the node's
//! `list-compress-depth`, a stream node by node (tombstones included) with its consumer
//! groups. Expired hash fields are left out, and field TTLs are not written (Redis 7.0's
//! format has none).
//!
//! RESTORE builds the value as Redis's loader does (`rdbLoadObject`): a list is a quicklist; a
//! set is an intset while its members are integers and at most `set-max-intset-entries`; a
//! hash stays compact while it has at most `hash-max-listpack-entries` fields, and, when the
//! payload held it as a plain hash or a zipmap, while no field or value is longer than
//! `hash-max-listpack-value` (a ziplist or listpack payload keeps long entries compact, as in
//! Redis); a stream keeps the payload's nodes.
//!
//! Where the errors are decided: Redis checks the options, then whether the key exists
//! (BUSYKEY, unless REPLACE), then the TTL, then the payload. `check` rejects bad options
//! always, and with REPLACE also a bad TTL and a payload whose version or CRC is wrong: then
//! no answer depends on the keyspace. Without REPLACE an existing key answers BUSYKEY whatever
//! the TTL and payload are, so those two are decided in `apply`, after the key is looked up.

use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{cmd, eq_ignore_case, int_arg, syntax_error};
use crate::engine::{Engine, ReadCtx, WriteCtx};
use crate::notify;
use crate::rdb::{
    self, DumpOptions, RdbStream, RdbStreamConsumer, RdbStreamEntry, RdbStreamGroup, RdbStreamId,
    RdbStreamMeta, RdbStreamNack, RdbStreamNode, RdbValue,
};
use crate::table::{Group, Handler, Keys, Spec, acl, flag::*};
use crate::types::hash::{Hash, Limits};
use crate::types::list::List;
use crate::types::set::{Set, SetParams};
use crate::types::stream::{Consumer, Group as StreamGroup, Nack, Stream, StreamId};
use crate::types::zset::{Limits as ZSetLimits, ZSet, compare_scores};
use crate::value::Value;

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("dump", 2, READONLY, acl::KEYSPACE, Keys::ONE, Group::Generic, "2.6.0", "Return a serialized version of the value stored at the specified key.", Handler::Read(dump))
        .complexity("O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."),
    cmd("restore", -4, WRITE | DENYOOM, acl::KEYSPACE | acl::DANGEROUS, Keys::ONE, Group::Generic, "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.", Handler::Write(restore_check, restore))
        .complexity("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."),
];

// ---------------------------------------------------------------------------------------------
// Low level: errors, options, conversions

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
/// RESTORE's answer to a payload it cannot load (Redis's text for every parse failure).
const BAD_DATA: &str = "ERR Bad data format";
/// RDB object types whose hashes Redis keeps compact however long their entries are.
const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
const RDB_TYPE_HASH_LISTPACK: u8 = 16;
const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
const RDB_TYPE_ZSET_LISTPACK: u8 = 17;

/// RESTORE's options after the payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RestoreArgs {
    replace: bool,
    absttl: bool,
    /// IDLETIME, in seconds.
    idle_s: Option<u64>,
    /// FREQ: the LFU counter.
    freq: Option<u8>,
}

/// `[REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`, in any order and repeated, as
/// Redis reads them: IDLETIME and FREQ exclude each other (the later one is a syntax error),
/// and each value is checked where it is met. Which of the two takes effect depends on the
/// node's eviction policy (`Db::restore_access`): FREQ under an LFU one, IDLETIME otherwise.
fn parse_restore(argv: &[Bytes]) -> Result<RestoreArgs, Reply> {
    let mut args = RestoreArgs::default();
    let mut j = 4;
    while j < argv.len() {
        let (arg, has_value) = (&argv[j], j + 1 < argv.len());
        if eq_ignore_case(arg, "replace") {
            args.replace = true;
        } else if eq_ignore_case(arg, "absttl") {
            args.absttl = true;
        } else if eq_ignore_case(arg, "idletime") && has_value && args.freq.is_none() {
            let idle_s = int_arg(&argv[j + 1])?;
            args.idle_s =
                Some(u64::try_from(idle_s).map_err(|_| Reply::error_static(INVALID_IDLETIME))?);
            j += 1;
        } else if eq_ignore_case(arg, "freq") && has_value && args.idle_s.is_none() {
            let freq = int_arg(&argv[j + 1])?;
            let freq = u8::try_from(freq).map_err(|_| Reply::error_static(INVALID_FREQ))?;
            args.freq = Some(freq);
            j += 1;
        } else {
            return Err(syntax_error());
        }
        j += 1;
    }
    Ok(args)
}

/// The TTL argument: milliseconds, relative or (ABSTTL) absolute; 0 = none.
fn parse_ttl(arg: &[u8]) -> Result<u64, Reply> {
    let ttl = int_arg(arg)?;
    u64::try_from(ttl).map_err(|_| Reply::error_static(INVALID_TTL))
}

fn payload_error(e: rdb::RdbError) -> Reply {
    Reply::error_static(e.reply_text())
}

/// What a value holds, as DUMP writes it: `Ok(None)` for a hash whose fields have all expired
/// (the key is as good as gone), an error for a sorted set (not convertible yet).
fn to_rdb(value: &Value, now_ms: u64) -> Result<Option<RdbValue>, Reply> {
    Ok(Some(match value {
        Value::Str(s) => RdbValue::Str(s.to_vec()),
        Value::List(list) => RdbValue::List(list.iter().map(|e| e.elem().to_vec()).collect()),
        Value::Set(set) => {
            RdbValue::Set(set.iter().map(|m| m.with_bytes(<[u8]>::to_vec)).collect())
        }
        Value::Hash(hash) => {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = hash
                .iter()
                .filter(|f| !f.is_expired(now_ms))
                .map(|f| (f.field.to_vec(), f.value.to_vec()))
                .collect();
            if pairs.is_empty() {
                return Ok(None);
            }
            RdbValue::Hash(pairs)
        }
        Value::ZSet(zset) => zset_to_rdb(zset),
        Value::Stream(stream) => RdbValue::Stream(Box::new(stream_to_rdb(stream))),
        // Redis 7.0 without the RedisJSON module has no RDB form for a JSON document.
        Value::Json(_) => {
            return Err(Reply::error_static(
                "ERR DUMP of a JSON document is not supported (it has no RDB form without the RedisJSON module)",
            ));
        }
    }))
}

fn rdb_id(id: StreamId) -> RdbStreamId {
    (id.ms, id.seq)
}

fn stream_id((ms, seq): RdbStreamId) -> StreamId {
    StreamId::new(ms, seq)
}

/// A stream node by node, tombstones included, with its counters and consumer groups.
fn stream_to_rdb(s: &Stream) -> RdbStream {
    let nodes = s
        .nodes()
        .map(|node| RdbStreamNode {
            master_id: rdb_id(node.master),
            master_fields: node.master_fields.iter().map(|f| f.to_vec()).collect(),
            entries: node
                .entries
                .iter()
                .map(|(id, deleted, fields)| RdbStreamEntry {
                    id: rdb_id(*id),
                    deleted: *deleted,
                    fields: fields
                        .iter()
                        .map(|(f, v)| (f.to_vec(), v.to_vec()))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| RdbStreamGroup {
            name: name.to_vec(),
            last_id: rdb_id(g.last_id),
            entries_read: Some(g.entries_read),
            pending: g
                .pel
                .iter()
                .map(|(id, nack)| RdbStreamNack {
                    id: rdb_id(*id),
                    delivery_time_ms: nack.delivery_time,
                    delivery_count: nack.delivery_count,
                })
                .collect(),
            consumers: g
                .consumers
                .iter()
                .map(|(name, c)| RdbStreamConsumer {
                    name: name.to_vec(),
                    seen_time_ms: c.seen_time,
                    pending: c.pel.iter().map(|id| rdb_id(*id)).collect(),
                })
                .collect(),
        })
        .collect();
    RdbStream {
        nodes,
        length: s.len() as u64,
        last_id: rdb_id(s.last_id),
        meta: Some(RdbStreamMeta {
            first_id: rdb_id(s.first_id),
            max_deleted_id: rdb_id(s.max_deleted_id),
            entries_added: s.entries_added,
        }),
        groups,
    }
}

/// The stream a payload holds, its nodes as the payload split them. An older payload (type
/// 15) has no counters: they get the values Redis's loader gives them (first ID the first
/// entry's, no deleted ID, as many added as there are, each group's read counter estimated).
fn stream_from_rdb(r: &RdbStream) -> Stream {
    let mut s = Stream::new();
    for node in &r.nodes {
        let master_fields: Vec<&[u8]> = node.master_fields.iter().map(Vec::as_slice).collect();
        let entries: Vec<(StreamId, bool, Vec<&[u8]>)> = node
            .entries
            .iter()
            .map(|e| {
                let pairs = e
                    .fields
                    .iter()
                    .flat_map(|(f, v)| [f.as_slice(), v.as_slice()])
                    .collect();
                (stream_id(e.id), e.deleted, pairs)
            })
            .collect();
        s.push_node(stream_id(node.master_id), &master_fields, &entries);
    }
    s.last_id = stream_id(r.last_id);
    match r.meta {
        Some(meta) => {
            s.first_id = stream_id(meta.first_id);
            s.max_deleted_id = stream_id(meta.max_deleted_id);
            s.entries_added = meta.entries_added;
        }
        None => {
            s.entries_added = s.len() as u64;
            s.refresh_first_id();
        }
    }
    for g in &r.groups {
        let last_id = stream_id(g.last_id);
        let entries_read = g
            .entries_read
            .unwrap_or_else(|| s.estimate_distance(last_id));
        let mut group = StreamGroup::new(last_id, entries_read);
        // `rdb` checks that each pending entry belongs to exactly one consumer.
        let nacks: BTreeMap<RdbStreamId, &RdbStreamNack> =
            g.pending.iter().map(|n| (n.id, n)).collect();
        for c in &g.consumers {
            let name: Box<[u8]> = c.name.as_slice().into();
            for id in &c.pending {
                let nack = nacks[id];
                group.pel.insert(
                    stream_id(*id),
                    Nack {
                        delivery_time: nack.delivery_time_ms,
                        delivery_count: nack.delivery_count,
                        consumer: name.clone(),
                    },
                );
            }
            let consumer = Consumer {
                seen_time: c.seen_time_ms,
                pel: c.pending.iter().map(|id| stream_id(*id)).collect(),
            };
            group.consumers.insert(name, consumer);
        }
        s.groups.insert(g.name.as_slice().into(), group);
    }
    s
}

/// A sorted set's (member, score) pairs (the codec orders them as the chosen form needs).
fn zset_to_rdb(zset: &ZSet) -> RdbValue {
    RdbValue::ZSet(zset.iter().map(|(m, s)| (m.to_vec(), s)).collect())
}

/// DUMP's encoding choices for `value`: the node's list settings, and for hashes and sets the
/// form the value is held in (the thresholds are set so the codec picks exactly that form).
fn dump_options(engine: &Engine, value: &Value) -> DumpOptions {
    let enc = engine.encodings();
    let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let mut options = DumpOptions {
        hash_max_listpack_entries: size(enc.hash_max_listpack_entries),
        hash_max_listpack_value: size(enc.hash_max_listpack_value),
        zset_max_listpack_entries: size(enc.zset_max_listpack_entries),
        zset_max_listpack_value: size(enc.zset_max_listpack_value),
        set_max_intset_entries: size(enc.set_max_intset_entries),
        list_max_listpack_size: enc.list_max_listpack_size,
        list_compress_depth: engine.list_compress_depth(),
        rdb_compression: true,
    };
    match value {
        Value::Hash(hash) if hash.is_compact() => {
            options.hash_max_listpack_entries = usize::MAX;
            options.hash_max_listpack_value = usize::MAX;
        }
        Value::Hash(_) => options.hash_max_listpack_entries = 0,
        Value::Set(set) if set.as_table().is_none() => options.set_max_intset_entries = usize::MAX,
        Value::Set(_) => options.set_max_intset_entries = 0,
        Value::ZSet(zset) if zset.is_compact() => {
            options.zset_max_listpack_entries = usize::MAX;
            options.zset_max_listpack_value = usize::MAX;
        }
        Value::ZSet(_) => options.zset_max_listpack_entries = 0,
        _ => {}
    }
    options
}

/// The value a RESTORE payload of RDB type `rdb_type` holds, in the representation Redis's
/// loader would give it under the engine's thresholds.
fn from_rdb(engine: &Engine, rdb_type: u8, value: RdbValue) -> Result<Value, Reply> {
    let enc = engine.encodings();
    let bad_data = || Reply::error_static(BAD_DATA);
    Ok(match value {
        RdbValue::Str(s) => Value::Str(s.into_boxed_slice()),
        RdbValue::List(elements) => {
            let mut list = List::with_fill(enc.list_max_listpack_size);
            elements.iter().for_each(|e| list.push_back(e));
            Value::List(Box::new(list))
        }
        RdbValue::Set(members) => {
            let params = SetParams {
                intset_max: enc.set_max_intset_entries,
                seed: engine.hash_seed(),
            };
            let first = members.first().ok_or_else(bad_data)?;
            let mut set = Set::for_member(first, params);
            for member in &members {
                set.add(member, params);
            }
            Value::Set(Box::new(set))
        }
        RdbValue::Hash(pairs) => {
            if pairs.is_empty() {
                return Err(bad_data());
            }
            let packed = matches!(rdb_type, RDB_TYPE_HASH_ZIPLIST | RDB_TYPE_HASH_LISTPACK);
            let limits = Limits {
                entries_max: enc.hash_max_listpack_entries,
                value_max: if packed {
                    u64::MAX
                } else {
                    enc.hash_max_listpack_value
                },
                seed: engine.hash_seed(),
            };
            let mut hash = Hash::new();
            for (field, value) in &pairs {
                hash.set(field, value, false, limits);
            }
            Value::Hash(Box::new(hash))
        }
        RdbValue::Stream(stream) => Value::Stream(Box::new(stream_from_rdb(&stream))),
        RdbValue::ZSet(pairs) => {
            if pairs.is_empty() {
                return Err(bad_data());
            }
            let mut entries: Vec<(&[u8], f64)> = pairs.iter().map(|(m, s)| (&m[..], *s)).collect();
            entries.sort_by(|a, b| compare_scores(a.1, b.1).then_with(|| a.0.cmp(b.0)));
            let mut members: Vec<&[u8]> = entries.iter().map(|e| e.0).collect();
            members.sort_unstable();
            if members.windows(2).any(|w| w[0] == w[1]) || entries.iter().any(|e| e.1.is_nan()) {
                return Err(bad_data());
            }
            // Redis's loader converts a ziplist/listpack payload by its count only, a plain
            // one by count and member length.
            let packed = matches!(rdb_type, RDB_TYPE_ZSET_ZIPLIST | RDB_TYPE_ZSET_LISTPACK);
            let mut limits = ZSetLimits::new(enc, engine.hash_seed());
            if packed {
                limits.value = u64::MAX;
            }
            Value::ZSet(Box::new(ZSet::from_sorted(&entries, &limits)))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Commands

/// `DUMP key`: the payload, or nil when the key is absent.
fn dump(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.db().lookup(&argv[1], ctx.now_ms) else {
        return Reply::Nil;
    };
    match to_rdb(&slot.value, ctx.now_ms) {
        Ok(Some(value)) => {
            let options = dump_options(ctx.engine, &slot.value);
            Reply::Bulk(Bytes::from(rdb::dump_with(&value, &options)))
        }
        Ok(None) => Reply::Nil,
        Err(reply) => reply,
    }
}

fn restore_check(argv: &[Bytes]) -> Result<(), Reply> {
    let args = parse_restore(argv)?;
    if args.replace {
        parse_ttl(&argv[2])?;
        rdb::check_footer(&argv[3]).map_err(payload_error)?;
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`.
fn restore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match restore_generic(ctx, argv) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn restore_generic(ctx: &mut WriteCtx, argv: &[Bytes]) -> Result<Reply, Reply> {
    let args = parse_restore(argv)?;
    let (key, now_ms) = (&argv[1][..], ctx.now_ms);
    if !args.replace && ctx.db().get_mut(key, now_ms).is_some() {
        return Err(Reply::error_static(BUSYKEY));
    }
    let ttl = parse_ttl(&argv[2])?;
    let payload = &argv[3];
    let decoded = rdb::restore(payload).map_err(payload_error)?;
    let value = from_rdb(ctx.engine, payload[0], decoded)?;

    let deleted = args.replace && {
        let db = ctx.db();
        db.get_mut(key, now_ms).is_some() && db.remove(key).is_some()
    };
    let expire_at_ms = match ttl {
        0 => None,
        ttl if args.absttl => Some(ttl),
        ttl => Some(now_ms.saturating_add(ttl)),
    };
    if expire_at_ms.is_some_and(|at| at <= now_ms) {
        // Already expired: nothing is created, and a replaced key is simply gone.
        if deleted {
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::ok());
    }
    let wakes = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
    let db = ctx.db();
    db.set(key, value, expire_at_ms, now_ms);
    db.restore_access(key, args.idle_s, args.freq, now_ms);
    if wakes {
        ctx.signal_ready(key);
    }
    ctx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Harness;

    fn argv(words: &[&[u8]]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w)).collect()
    }

    fn payload(h: &mut Harness, key: &str) -> Bytes {
        match h.run(&argv(&[b"DUMP", key.as_bytes()])) {
            Reply::Bulk(b) => b,
            other => panic!("DUMP {key}: {other:?}"),
        }
    }

    fn run(h: &mut Harness, words: &[&[u8]]) -> Reply {
        h.run(&argv(words))
    }

    #[test]
    fn options_parse_as_redis_reads_them() {
        let parse = |words: &[&[u8]]| {
            let mut all: Vec<&[u8]> = vec![b"RESTORE", b"k", b"0", b"p"];
            all.extend_from_slice(words);
            parse_restore(&argv(&all))
        };
        assert_eq!(parse(&[]), Ok(RestoreArgs::default()));
        let all = parse(&[b"replace", b"ABSTTL", b"IdleTime", b"7"]).unwrap();
        assert!(all.replace && all.absttl && all.idle_s == Some(7));
        assert_eq!(
            parse(&[b"FREQ", b"255", b"freq", b"0"]).unwrap().idle_s,
            None
        );
        assert_eq!(
            parse(&[b"IDLETIME", b"1", b"IDLETIME", b"2"])
                .unwrap()
                .idle_s,
            Some(2)
        );
        for (words, text) in [
            (
                &[b"IDLETIME".as_slice(), b"1", b"FREQ", b"1"][..],
                "ERR syntax error",
            ),
            (&[b"FREQ", b"1", b"IDLETIME", b"1"], "ERR syntax error"),
            (&[b"IDLETIME"], "ERR syntax error"),
            (&[b"FREQ"], "ERR syntax error"),
            (&[b"nope"], "ERR syntax error"),
            (&[b"IDLETIME", b"-1"], INVALID_IDLETIME),
            (
                &[b"IDLETIME", b"x"],
                "ERR value is not an integer or out of range",
            ),
            (&[b"FREQ", b"256"], INVALID_FREQ),
            (&[b"FREQ", b"-1"], INVALID_FREQ),
        ] {
            assert_eq!(parse(words), Err(Reply::error_static(text)), "{words:?}");
        }
    }

    #[test]
    fn round_trips_keep_value_and_encoding() {
        let mut h = Harness::new();
        run(&mut h, &[b"RPUSH", b"l", b"a", b"1", b"", b"-70000"]);
        run(&mut h, &[b"SADD", b"ints", b"3", b"1", b"-2"]);
        run(&mut h, &[b"SADD", b"strs", b"x", b"1"]);
        run(&mut h, &[b"HSET", b"h", b"f", b"v", b"n", b"12"]);
        run(&mut h, &[b"SET", b"s", b"12345"]);
        for key in ["l", "ints", "strs", "h", "s"] {
            let p = payload(&mut h, key);
            let copy = format!("{key}-copy");
            assert_eq!(
                run(&mut h, &[b"RESTORE", copy.as_bytes(), b"0", &p]),
                Reply::ok()
            );
            let a = h
                .engine
                .db(0)
                .get_value(key.as_bytes(), h.clock_ms)
                .unwrap();
            let b = h
                .engine
                .db(0)
                .get_value(copy.as_bytes(), h.clock_ms)
                .unwrap();
            assert_eq!(a.encoding(), b.encoding(), "{key}");
            assert_eq!(
                to_rdb(a, h.clock_ms).unwrap(),
                to_rdb(b, h.clock_ms).unwrap(),
                "{key}"
            );
        }
    }

    #[test]
    fn restore_signals_lists_and_notifies() {
        let mut h = Harness::new();
        h.engine.set_notify(notify::parse("KEA").unwrap());
        run(&mut h, &[b"RPUSH", b"l", b"a"]);
        run(&mut h, &[b"SET", b"s", b"x"]);
        let (list, string) = (payload(&mut h, "l"), payload(&mut h, "s"));
        run(&mut h, &[b"RESTORE", b"l2", b"0", &list]);
        assert_eq!(
            h.engine.ready_keys(),
            &[(0, b"l2".to_vec().into_boxed_slice())]
        );
        assert!(h.engine.events().iter().any(|e| e.event == "restore"));
        run(&mut h, &[b"RESTORE", b"s2", b"0", &string]);
        assert!(h.engine.ready_keys().is_empty());
        assert!(h.engine.events().iter().any(|e| e.event == "restore"));
    }

    #[test]
    fn restored_values_survive_a_snapshot_exactly() {
        // A restored hashtable set and hash, then a snapshot round trip: the restored engine
        // pops the same members and answers HRANDFIELD the same as the original.
        let mut h = Harness::new();
        let members: Vec<Vec<u8>> = (0..300).map(|i| format!("m{i}").into_bytes()).collect();
        let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..600)
            .map(|i| (format!("f{i}").into_bytes(), i.to_string().into_bytes()))
            .collect();
        let set = rdb::dump(&RdbValue::Set(members));
        let hash = rdb::dump(&RdbValue::Hash(fields));
        assert_eq!(run(&mut h, &[b"RESTORE", b"s", b"0", &set]), Reply::ok());
        assert_eq!(run(&mut h, &[b"RESTORE", b"h", b"0", &hash]), Reply::ok());
        let mut copy = Engine::restore(&h.engine.snapshot(), 16).unwrap();
        assert_eq!(copy.digest(), h.engine.digest());
        // The same entry (same seed) on both engines; reads with the same randomness.
        let same_on_both = |original: &mut Engine, copy: &mut Engine, words: &[&[u8]]| {
            let argv = argv(words);
            match crate::table::resolve(&argv).ok().map(|spec| spec.handler) {
                Some(Handler::Read(read)) => {
                    let at = original.now_ms();
                    let a = original.read(read, 0, &argv, at, 99);
                    (a, copy.read(read, 0, &argv, at, 99))
                }
                _ => {
                    let entry = crate::entry::Entry {
                        db: 0,
                        time_ms: original.now_ms(),
                        seed: 0x5eed_1234,
                        origin: crate::entry::Origin {
                            node: 0,
                            request: 0,
                        },
                        body: crate::entry::Body::Command(argv),
                    };
                    (original.apply(&entry), copy.apply(&entry))
                }
            }
        };
        for words in [
            &[b"SPOP".as_slice(), b"s", b"7"][..],
            &[b"SPOP", b"s"],
            &[b"HRANDFIELD", b"h", b"-5"],
            &[b"SRANDMEMBER", b"s", b"-5"],
        ] {
            let (a, b) = same_on_both(&mut h.engine, &mut copy, words);
            assert_eq!(a, b, "{words:?}");
        }
    }

    #[test]
    fn streams_restore_into_the_same_state() {
        // Several nodes (a small node limit), tombstones, a trimmed head, groups with pending
        // entries: the restored stream is the original, byte for byte, and goes on the same.
        let mut h = Harness::new();
        h.cmd("CONFIG SET stream-node-max-entries 5");
        for i in 1..=23 {
            h.cmd(&format!("XADD s {i}-0 f {i} g x"));
        }
        for line in [
            "XADD s 30-1 other 1",
            "XDEL s 2-0 7-0 30-1",
            "XTRIM s MAXLEN 18",
            "XGROUP CREATE s g1 0",
            "XGROUP CREATE s g2 $",
            "XREADGROUP GROUP g1 a COUNT 4 STREAMS s >",
            "XREADGROUP GROUP g1 b COUNT 1 STREAMS s >",
            "XGROUP CREATECONSUMER s g2 idle",
            "XADD empty 1-1 f v",
            "XDEL empty 1-1",
        ] {
            h.cmd(line);
        }
        for key in ["s", "empty"] {
            let p = payload(&mut h, key);
            let copy = format!("{key}-copy");
            assert_eq!(
                run(&mut h, &[b"RESTORE", copy.as_bytes(), b"0", &p]),
                Reply::ok()
            );
            let now = h.engine.now_ms();
            let db = h.engine.db(0);
            assert_eq!(
                db.get_value(key.as_bytes(), now),
                db.get_value(copy.as_bytes(), now),
                "{key}"
            );
            assert_eq!(payload(&mut h, &copy), p);
        }
        for line in ["XADD s 40-0 f 1 g 2", "XADD s-copy 40-0 f 1 g 2"] {
            h.cmd(line);
        }
        let now = h.engine.now_ms();
        let db = h.engine.db(0);
        assert_eq!(db.get_value(b"s", now), db.get_value(b"s-copy", now));
        assert_eq!(h.cmd("OBJECT ENCODING s-copy"), Reply::bulk_copy(b"stream"));
    }

    #[test]
    fn damaged_stream_payloads_restore_into_streams_that_work() {
        // Whatever RESTORE accepts of a damaged stream payload (re-sealed with a valid
        // footer), the stream commands then work on it without panicking.
        let mut h = Harness::new();
        h.cmd("CONFIG SET stream-node-max-entries 3");
        for i in 1..=8 {
            h.cmd(&format!("XADD s {i}-{i} f {i} g x{i}"));
        }
        for line in [
            "XDEL s 2-2 5-5",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g a COUNT 3 STREAMS s >",
            "XGROUP CREATECONSUMER s g b",
        ] {
            h.cmd(line);
        }
        let p = payload(&mut h, "s");
        let body = &p[..p.len() - 10];
        let mut rng = fastrand::Rng::with_seed(23);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut damaged = body.to_vec();
            for _ in 0..rng.usize(1..3) {
                if damaged.is_empty() {
                    break;
                }
                let i = rng.usize(..damaged.len());
                match rng.u8(..3) {
                    0 => damaged[i] = rng.u8(..),
                    1 => damaged[i] ^= 1 << rng.u8(..8),
                    _ => damaged.truncate(i),
                }
            }
            damaged.extend_from_slice(&rdb::RDB_VERSION.to_le_bytes());
            let crc = rdb::crc64(&damaged);
            damaged.extend_from_slice(&crc.to_le_bytes());
            if run(&mut h, &[b"RESTORE", b"d", b"0", &damaged, b"REPLACE"]) != Reply::ok() {
                continue;
            }
            accepted += 1;
            for line in [
                "XRANGE d - +",
                "XREVRANGE d + - COUNT 2",
                "XINFO STREAM d FULL",
                "XINFO GROUPS d",
                "XPENDING d g - + 10",
                "XREADGROUP GROUP g c COUNT 2 STREAMS d >",
                "XAUTOCLAIM d g c 0 0-0",
                "XDEL d 3-3 4-4",
                "XADD d * f v",
                "XTRIM d MAXLEN 2",
                "DUMP d",
            ] {
                h.cmd(line);
            }
        }
        assert!(accepted > 100, "{accepted} accepted");
    }

    #[test]
    fn sorted_sets_round_trip_in_both_forms() {
        let mut h = Harness::new();
        let pairs = vec![(b"b".to_vec(), 2.0), (b"a".to_vec(), 1.0)];
        let payload = rdb::dump(&RdbValue::ZSet(pairs));
        assert_eq!(
            run(&mut h, &[b"RESTORE", b"z", b"0", &payload]),
            Reply::ok()
        );
        assert_eq!(run(&mut h, &[b"ZCARD", b"z"]), Reply::Int(2));
        assert_eq!(
            run(&mut h, &[b"DUMP", b"z"]),
            Reply::Bulk(Bytes::from(payload))
        );
        // A large-form payload restores into the large form.
        let many: Vec<(Vec<u8>, f64)> = (0..200)
            .map(|i| (format!("m{i}").into_bytes(), f64::from(i)))
            .collect();
        let big = rdb::dump_with(
            &RdbValue::ZSet(many),
            &DumpOptions {
                zset_max_listpack_entries: 0,
                ..DumpOptions::default()
            },
        );
        assert_eq!(run(&mut h, &[b"RESTORE", b"y", b"0", &big]), Reply::ok());
        assert_eq!(run(&mut h, &[b"ZCARD", b"y"]), Reply::Int(200));
        assert_eq!(
            run(&mut h, &[b"OBJECT", b"ENCODING", b"y"]),
            Reply::Bulk(Bytes::from_static(b"skiplist"))
        );
    }

    #[test]
    fn packed_hash_payloads_keep_long_values_compact() {
        // A listpack payload with a long value, under a small hash-max-listpack-value: Redis
        // keeps it a listpack; a plain-hash payload of the same content becomes a hashtable.
        let long = vec![b'v'; 100];
        let pairs = vec![(b"f".to_vec(), long)];
        let packed = rdb::dump_with(
            &RdbValue::Hash(pairs.clone()),
            &DumpOptions {
                hash_max_listpack_value: usize::MAX,
                ..DumpOptions::default()
            },
        );
        let plain = rdb::dump_with(
            &RdbValue::Hash(pairs),
            &DumpOptions {
                hash_max_listpack_entries: 0,
                ..DumpOptions::default()
            },
        );
        assert_eq!((packed[0], plain[0]), (RDB_TYPE_HASH_LISTPACK, 4));
        let mut h = Harness::new();
        run(&mut h, &[b"RESTORE", b"a", b"0", &packed]);
        run(&mut h, &[b"RESTORE", b"b", b"0", &plain]);
        let encoding =
            |h: &Harness, k: &[u8]| h.engine.db(0).get_value(k, h.clock_ms).unwrap().encoding();
        assert_eq!(encoding(&h, b"a"), "listpack");
        assert_eq!(encoding(&h, b"b"), "hashtable");
    }
}
