//! Cairn's DUMP payloads in a real Redis 7.0.15 (`cairn_engine::rdb`): RESTORE takes each
//! one, the value Redis then reports (GET, LRANGE, SMEMBERS, HGETALL, ZRANGE WITHSCORES,
//! XRANGE) is the value dumped, and Redis's own DUMP of the restored key reads back as that
//! value. Under a configuration that matches the dump options, with compression off, Redis's
//! DUMP is byte for byte Cairn's wherever the encoding fixes the order (all but hash-table
//! sets and hashes).

mod common;

use std::collections::BTreeSet;

use cairn_engine::rdb::{
    self, DumpOptions, RdbStream, RdbStreamConsumer, RdbStreamEntry, RdbStreamGroup, RdbStreamId,
    RdbStreamMeta, RdbStreamNack, RdbStreamNode, RdbValue,
};
use common::differential::Oracle;
use common::{Client, Resp};

/// Streams as Redis holds them: nodes led by their first entry's fields, tombstones, entries
/// with other fields, values of every listpack string size, consumer groups.
fn streams() -> Vec<(&'static str, RdbStream)> {
    let entry = |id: RdbStreamId, deleted: bool, fields: &[(&[u8], &[u8])]| RdbStreamEntry {
        id,
        deleted,
        fields: fields
            .iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect(),
    };
    let long = vec![b'v'; 5000];
    let mut nodes = Vec::new();
    for n in 0..3u64 {
        let base = n * 100 + 1;
        nodes.push(RdbStreamNode {
            master_id: (base, 0),
            master_fields: vec![b"f".to_vec(), b"g".to_vec()],
            entries: vec![
                entry((base, 0), n == 1, &[(b"f", b"1"), (b"g", b"-70000")]),
                entry((base, 1), false, &[(b"f", b""), (b"g", &long[..100])]),
                entry((base + 1, 0), false, &[(b"other", b"x")]),
                entry(
                    (base + 2, 5),
                    n == 2,
                    &[(b"f", &long), (b"g", b"12345678901")],
                ),
            ],
        });
    }
    let groups = vec![
        RdbStreamGroup {
            name: b"7".to_vec(),
            last_id: (0, 0),
            entries_read: Some(0),
            pending: Vec::new(),
            consumers: Vec::new(),
        },
        RdbStreamGroup {
            name: b"workers".to_vec(),
            last_id: (101, 1),
            entries_read: Some(-1),
            pending: vec![
                RdbStreamNack {
                    id: (1, 0),
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 2,
                },
                RdbStreamNack {
                    id: (101, 1),
                    delivery_time_ms: 1_700_000_000_500,
                    delivery_count: 1,
                },
            ],
            consumers: vec![
                RdbStreamConsumer {
                    name: b"a".to_vec(),
                    seen_time_ms: 1_700_000_000_600,
                    pending: vec![(1, 0), (101, 1)],
                },
                RdbStreamConsumer {
                    name: b"idle".to_vec(),
                    seen_time_ms: 1_600_000_000_000,
                    pending: Vec::new(),
                },
            ],
        },
    ];
    let meta = |first_id, max_deleted_id, entries_added| {
        Some(RdbStreamMeta {
            first_id,
            max_deleted_id,
            entries_added,
        })
    };
    vec![
        (
            "stream_nodes",
            RdbStream {
                nodes,
                length: 10,
                last_id: (400, 0),
                meta: meta((1, 0), (203, 5), 14),
                groups,
            },
        ),
        (
            "stream_empty_with_group",
            RdbStream {
                nodes: Vec::new(),
                length: 0,
                last_id: (5, 5),
                meta: meta((0, 0), (5, 5), 3),
                groups: vec![RdbStreamGroup {
                    name: b"g".to_vec(),
                    last_id: (5, 5),
                    entries_read: Some(3),
                    ..RdbStreamGroup::default()
                }],
            },
        ),
    ]
}

/// Values in every encoding `dump` writes, at and around each threshold.
fn values() -> Vec<(String, RdbValue)> {
    let mut rng = fastrand::Rng::with_seed(42);
    let mut noise = |n: usize| (0..n).map(|_| rng.u8(..)).collect::<Vec<u8>>();
    let text = |items: &mut dyn Iterator<Item = String>| -> Vec<Vec<u8>> {
        items.map(String::into_bytes).collect()
    };
    let mut out: Vec<(String, RdbValue)> = Vec::new();
    let mut add = |name: &str, value: RdbValue| out.push((name.to_string(), value));

    for (i, s) in [
        "",
        "0",
        "-1",
        "127",
        "128",
        "-128",
        "-129",
        "32767",
        "32768",
        "-32769",
        "2147483647",
        "2147483648",
        "-2147483648",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "007",
        "-0",
        "+1",
        "1.5",
        "hello",
    ]
    .iter()
    .enumerate()
    {
        add(&format!("str_{i}"), RdbValue::Str(s.as_bytes().to_vec()));
    }
    add("str_binary", RdbValue::Str(b"\x00\xff\r\n\"".to_vec()));
    add("str_lzf", RdbValue::Str(b"compressible ".repeat(500)));
    add("str_noise", RdbValue::Str(noise(3000)));

    add(
        "list_small",
        RdbValue::List(vec![
            b"a".to_vec(),
            b"".to_vec(),
            b"12".to_vec(),
            b"-4097".to_vec(),
            i64::MIN.to_string().into_bytes(),
            b"\x00\xff".to_vec(),
        ]),
    );
    add(
        "list_many",
        RdbValue::List(text(&mut (0..5000).map(|i| format!("item:{}", i % 300)))),
    );
    add(
        "list_big_elements",
        RdbValue::List(vec![
            vec![b'x'; 10_000],
            b"y".to_vec(),
            noise(70_000),
            b"z".to_vec(),
        ]),
    );

    add(
        "set_intset16",
        RdbValue::Set(text(&mut [3, -5, 0].iter().map(i64::to_string))),
    );
    add(
        "set_intset32",
        RdbValue::Set(text(&mut [70_000, -1].iter().map(i64::to_string))),
    );
    add(
        "set_intset64",
        RdbValue::Set(text(
            &mut [i64::MAX, i64::MIN, 1].iter().map(i64::to_string),
        )),
    );
    add(
        "set_512_ints",
        RdbValue::Set(text(&mut (0..512).map(|i| (i * 3).to_string()))),
    );
    add(
        "set_513_ints",
        RdbValue::Set(text(&mut (0..513).map(|i| (i * 3).to_string()))),
    );
    add(
        "set_strings",
        RdbValue::Set(vec![b"a".to_vec(), b"01".to_vec(), b"".to_vec(), noise(40)]),
    );
    add(
        "set_many",
        RdbValue::Set(text(&mut (0..2000).map(|i| format!("member-{i}")))),
    );

    add(
        "hash_small",
        RdbValue::Hash(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"hello".to_vec()),
            (b"".to_vec(), b"".to_vec()),
            (b"12".to_vec(), b"-70000".to_vec()),
        ]),
    );
    add(
        "hash_64_byte_values",
        RdbValue::Hash(vec![(vec![b'f'; 64], vec![b'v'; 64])]),
    );
    add(
        "hash_long_value",
        RdbValue::Hash(vec![
            (b"f".to_vec(), vec![b'v'; 65]),
            (b"g".to_vec(), b"1".to_vec()),
        ]),
    );
    add(
        "hash_many",
        RdbValue::Hash(
            (0..500)
                .map(|i| {
                    (
                        format!("field:{i}").into_bytes(),
                        format!("value:{i}").into_bytes(),
                    )
                })
                .collect(),
        ),
    );

    let scores = [
        0.0,
        -0.0,
        1.0,
        -3.0,
        0.1,
        2.5,
        1e300,
        -1.5e-7,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4611686018427387904.0,
        9.3e18,
        1e15 + 0.25,
    ];
    let pairs: Vec<(Vec<u8>, f64)> = scores
        .iter()
        .enumerate()
        .map(|(i, &s)| (format!("m{i}").into_bytes(), s))
        .collect();
    add("zset_small", RdbValue::ZSet(pairs.clone()));
    add(
        "zset_ties",
        RdbValue::ZSet(vec![
            (b"b".to_vec(), 1.0),
            (b"a".to_vec(), 1.0),
            (b"7".to_vec(), 1.0),
        ]),
    );
    add(
        "zset_long_member",
        RdbValue::ZSet(vec![(vec![b'm'; 65], 1.0), (b"n".to_vec(), 2.0)]),
    );
    add(
        "zset_many",
        RdbValue::ZSet(
            (0..300)
                .map(|i| (format!("member:{i}").into_bytes(), f64::from(i % 50) / 4.0))
                .collect(),
        ),
    );
    for (name, stream) in streams() {
        add(name, RdbValue::Stream(Box::new(stream)));
    }
    out
}

/// The Redis configuration that makes Redis hold values as `options` encodes them.
fn configure(redis: &mut Client, options: &DumpOptions) {
    let settings = [
        (
            "hash-max-listpack-entries",
            options.hash_max_listpack_entries.to_string(),
        ),
        (
            "hash-max-listpack-value",
            options.hash_max_listpack_value.to_string(),
        ),
        (
            "zset-max-listpack-entries",
            options.zset_max_listpack_entries.to_string(),
        ),
        (
            "zset-max-listpack-value",
            options.zset_max_listpack_value.to_string(),
        ),
        (
            "set-max-intset-entries",
            options.set_max_intset_entries.to_string(),
        ),
        (
            "list-max-listpack-size",
            options.list_max_listpack_size.to_string(),
        ),
        (
            "list-compress-depth",
            options.list_compress_depth.to_string(),
        ),
        (
            "rdbcompression",
            if options.rdb_compression { "yes" } else { "no" }.to_string(),
        ),
    ];
    for (name, value) in settings {
        let reply = redis.must(&["CONFIG", "SET", name, &value]);
        assert_eq!(
            reply,
            Resp::Simple("OK".into()),
            "CONFIG SET {name} {value}"
        );
    }
}

fn bulks(reply: Resp) -> Vec<Vec<u8>> {
    match reply {
        Resp::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Resp::Bulk(b) => b,
                other => panic!("expected a bulk string, got {other:?}"),
            })
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn call(redis: &mut Client, args: &[&[u8]]) -> Resp {
    redis.call(args).expect("redis-server answers")
}

/// What Redis reports for `key`, compared with `value`; a description of each difference.
fn check_reported(redis: &mut Client, key: &[u8], value: &RdbValue) -> Option<String> {
    let (got, want) = match value {
        RdbValue::Str(s) => (call(redis, &[b"GET", key]), Resp::Bulk(s.clone())),
        RdbValue::List(items) => (
            call(redis, &[b"LRANGE", key, b"0", b"-1"]),
            Resp::Array(items.iter().cloned().map(Resp::Bulk).collect()),
        ),
        RdbValue::Set(members) => {
            let got: BTreeSet<Vec<u8>> = bulks(call(redis, &[b"SMEMBERS", key]))
                .into_iter()
                .collect();
            let want: BTreeSet<Vec<u8>> = members.iter().cloned().collect();
            return (got != want)
                .then(|| format!("SMEMBERS: {} vs {} members", got.len(), want.len()));
        }
        RdbValue::Hash(pairs) => {
            let flat = bulks(call(redis, &[b"HGETALL", key]));
            let got: BTreeSet<(Vec<u8>, Vec<u8>)> = flat
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            let want: BTreeSet<(Vec<u8>, Vec<u8>)> = pairs.iter().cloned().collect();
            return (got != want)
                .then(|| format!("HGETALL: {} vs {} pairs", got.len(), want.len()));
        }
        RdbValue::ZSet(pairs) => {
            let flat = bulks(call(redis, &[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]));
            let got: Vec<(Vec<u8>, f64)> = flat
                .chunks(2)
                .map(|p| {
                    let score = std::str::from_utf8(&p[1]).unwrap().parse::<f64>().unwrap();
                    (p[0].clone(), score)
                })
                .collect();
            // Redis's order: by score, then by member; -0 and 0 are one score.
            let mut want = pairs.clone();
            let key = |s: f64| if s == 0.0 { 0.0 } else { s };
            want.sort_by(|a, b| key(a.1).total_cmp(&key(b.1)).then_with(|| a.0.cmp(&b.0)));
            return (got != want).then(|| format!("ZRANGE: {got:?}"));
        }
        RdbValue::Stream(stream) => {
            let bulk = |b: &[u8]| Resp::Bulk(b.to_vec());
            let want = Resp::Array(
                stream
                    .nodes
                    .iter()
                    .flat_map(|n| &n.entries)
                    .filter(|e| !e.deleted)
                    .map(|e| {
                        let id = format!("{}-{}", e.id.0, e.id.1);
                        let fields = e.fields.iter().flat_map(|(f, v)| [bulk(f), bulk(v)]);
                        Resp::Array(vec![bulk(id.as_bytes()), Resp::Array(fields.collect())])
                    })
                    .collect(),
            );
            (call(redis, &[b"XRANGE", key, b"-", b"+"]), want)
        }
    };
    (got != want).then(|| format!("got {got:?}"))
}

/// Sets and sorted sets sorted by member, hashes by field: for comparing regardless of the
/// order an encoding stores them in.
fn unordered(value: &RdbValue) -> RdbValue {
    match value.clone() {
        RdbValue::Set(mut m) => {
            m.sort();
            RdbValue::Set(m)
        }
        RdbValue::Hash(mut p) => {
            p.sort();
            RdbValue::Hash(p)
        }
        RdbValue::ZSet(mut p) => {
            p.sort_by(|a, b| a.0.cmp(&b.0));
            RdbValue::ZSet(p)
        }
        other => other,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn redis_restores_cairn_dumps() {
    let oracle = Oracle::start();
    let mut redis = Client::connect(&oracle.addr()).unwrap();
    let small = DumpOptions {
        hash_max_listpack_entries: 3,
        hash_max_listpack_value: 8,
        zset_max_listpack_entries: 3,
        zset_max_listpack_value: 8,
        set_max_intset_entries: 3,
        list_max_listpack_size: 3,
        ..DumpOptions::default()
    };
    let configurations = [
        DumpOptions::default(),
        DumpOptions {
            rdb_compression: false,
            ..DumpOptions::default()
        },
        DumpOptions {
            rdb_compression: false,
            ..small.clone()
        },
        DumpOptions {
            list_max_listpack_size: -1,
            list_compress_depth: 1,
            ..small
        },
        DumpOptions {
            list_max_listpack_size: 5,
            list_compress_depth: 2,
            ..DumpOptions::default()
        },
    ];
    let values = values();
    let mut failures = Vec::new();
    let mut exact = 0;
    for (n, options) in configurations.iter().enumerate() {
        configure(&mut redis, options);
        assert_eq!(redis.must(&["FLUSHALL"]), Resp::Simple("OK".into()));
        for (name, value) in &values {
            let label = format!("configuration {n}, {name}");
            let key = name.as_bytes();
            let payload = rdb::dump_with(value, options);
            let reply = call(&mut redis, &[b"RESTORE", key, b"0", &payload]);
            if reply != Resp::Simple("OK".into()) {
                failures.push(format!("{label}: RESTORE answered {reply:?}"));
                continue;
            }
            if let Some(diff) = check_reported(&mut redis, key, value) {
                failures.push(format!("{label}: {diff}"));
            }
            let Resp::Bulk(redis_dump) = call(&mut redis, &[b"DUMP", key]) else {
                failures.push(format!("{label}: DUMP gave no payload"));
                continue;
            };
            match rdb::restore(&redis_dump) {
                Ok(back) if unordered(&back) == unordered(value) => {}
                other => failures.push(format!("{label}: Redis's DUMP reads back as {other:?}")),
            }
            // A hash table's order is Redis's own; every other encoding fixes the order.
            let hash_table = matches!(payload[0], 2 | 4);
            if !options.rdb_compression && options.list_compress_depth == 0 && !hash_table {
                exact += 1;
                if redis_dump != payload {
                    failures.push(format!(
                        "{label}: Redis's DUMP differs\n redis {}\n cairn {}",
                        hex(&redis_dump),
                        hex(&payload)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(exact > 50, "only {exact} byte-for-byte comparisons");
}

#[test]
fn redis_refuses_what_cairn_refuses() {
    let oracle = Oracle::start();
    let mut redis = Client::connect(&oracle.addr()).unwrap();
    let good = rdb::dump(&RdbValue::Str(b"v".to_vec()));
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut newer = good.clone();
    let n = newer.len();
    newer[n - 10] = 11; // RDB version 11; the CRC is now wrong too, as Redis checks it second
    for payload in [bad_crc, newer, good[..5].to_vec()] {
        let ours = rdb::restore(&payload).unwrap_err();
        let reply = call(&mut redis, &[b"RESTORE", b"k", b"0", &payload]);
        assert_eq!(reply, Resp::Error(ours.reply_text().to_string()));
    }
    // An empty list: Redis and Cairn both call it corrupt.
    let empty = rdb::dump(&RdbValue::List(vec![]));
    let ours = rdb::restore(&empty).unwrap_err();
    let reply = call(&mut redis, &[b"RESTORE", b"k", b"0", &empty]);
    assert_eq!(reply, Resp::Error(ours.reply_text().to_string()));
}
