//! DUMP/RESTORE against Redis's own payloads, round trips, and hostile input.

use proptest::prelude::*;

use super::fixtures;
use super::*;

fn from_hex(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// `body` with a valid footer: version 10 and its CRC.
fn seal(body: &[u8]) -> Vec<u8> {
    seal_version(body, RDB_VERSION)
}

fn seal_version(body: &[u8], version: u16) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// What `dump` keeps of a value and `restore` gives back, in a comparable order: the first of
/// duplicate members or fields; sets and sorted sets sorted by member (their stored order is
/// the encoding's); lists and hashes in order.
fn canonical(value: &RdbValue) -> RdbValue {
    fn first<T: Clone>(items: &[T], key: impl Fn(&T) -> &[u8]) -> Vec<T> {
        let mut seen = std::collections::BTreeSet::new();
        items
            .iter()
            .filter(|item| seen.insert(key(item).to_vec()))
            .cloned()
            .collect()
    }
    match value {
        RdbValue::Str(_) | RdbValue::List(_) | RdbValue::Stream(_) => value.clone(),
        RdbValue::Set(members) => {
            let mut members = first(members, |m| m);
            members.sort();
            RdbValue::Set(members)
        }
        RdbValue::Hash(pairs) => RdbValue::Hash(first(pairs, |(f, _)| f)),
        RdbValue::ZSet(pairs) => {
            let mut pairs = first(pairs, |(m, _)| m);
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            RdbValue::ZSet(pairs)
        }
    }
}

/// Like `canonical`, and hashes sorted too: for payloads whose order is a hash table's.
fn unordered(value: &RdbValue) -> RdbValue {
    match canonical(value) {
        RdbValue::Hash(mut pairs) => {
            pairs.sort();
            RdbValue::Hash(pairs)
        }
        other => other,
    }
}

fn round_trip(value: &RdbValue, options: &DumpOptions) -> Vec<u8> {
    let payload = dump_with(value, options);
    match restore(&payload) {
        Ok(back) => assert_eq!(canonical(&back), canonical(value), "options {options:?}"),
        Err(e) => panic!("{e:?} restoring the dump of {value:?} with {options:?}"),
    }
    payload
}

fn bytes_list(items: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> Vec<Vec<u8>> {
    items.into_iter().map(Into::into).collect()
}

// ---------------------------------------------------------------------------------------------
// Redis's payloads

#[test]
fn decodes_every_redis_payload_and_reencodes_it_exactly() {
    let mut failures = Vec::new();
    for fixture in fixtures::payloads() {
        let payload = from_hex(fixture.hex);
        let got = match restore(&payload) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{} ({}): {e:?}", fixture.name, fixture.encoding));
                continue;
            }
        };
        let same = if fixture.ordered {
            got == fixture.value
        } else {
            unordered(&got) == unordered(&fixture.value)
        };
        if !same {
            failures.push(format!(
                "{} ({}): got {got:?}",
                fixture.name, fixture.encoding
            ));
        }
        if let Some(options) = &fixture.exact {
            let ours = dump_with(&got, options);
            if ours != payload {
                failures.push(format!(
                    "{}: dump differs\n redis {}\n ours  {}",
                    fixture.name,
                    fixture.hex,
                    ours.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn redis_payloads_cover_every_readable_form() {
    let encodings: std::collections::BTreeSet<&str> =
        fixtures::payloads().iter().map(|f| f.encoding).collect();
    let want = [
        "embstr",
        "hashtable",
        "int",
        "intset",
        "listpack",
        "quicklist",
        "raw",
        "skiplist",
    ];
    assert_eq!(encodings.into_iter().collect::<Vec<_>>(), want);
    let payloads: Vec<Vec<u8>> = fixtures::payloads()
        .iter()
        .map(|f| from_hex(f.hex))
        .collect();
    let types: std::collections::BTreeSet<u8> = payloads.iter().map(|p| p[0]).collect();
    let readable = [0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 16, 17, 18];
    assert_eq!(types.into_iter().collect::<Vec<_>>(), readable);
    // Strings in each encoding: int8, int16, int32, LZF.
    for marker in [0xc0, 0xc1, 0xc2, 0xc3] {
        assert!(
            payloads
                .iter()
                .any(|p| p[0] == kind::STRING && p[1] == marker),
            "no string with encoding {marker:#x}"
        );
    }
    // Quicklist 2 nodes: plain and packed, each raw and LZF-compressed.
    let forms: std::collections::BTreeSet<(u64, bool)> = payloads
        .iter()
        .filter(|p| p[0] == kind::LIST_QUICKLIST_2)
        .flat_map(|p| decode::quicklist_node_forms(&p[1..p.len() - 10]))
        .collect();
    let want = [(1, false), (1, true), (2, false), (2, true)];
    assert_eq!(forms.into_iter().collect::<Vec<_>>(), want);
}

#[test]
fn refuses_what_redis_refuses() {
    for refused in fixtures::refused() {
        let err = restore(&from_hex(refused.hex)).expect_err(refused.name);
        assert!((refused.ours)(&err), "{}: {err:?}", refused.name);
        // Same words as Redis; ours may say more (module values).
        assert!(
            err.reply_text().starts_with(refused.redis),
            "{}: {} vs {}",
            refused.name,
            err.reply_text(),
            refused.redis
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Streams

fn entry(id: RdbStreamId, deleted: bool, fields: &[(&str, &str)]) -> RdbStreamEntry {
    RdbStreamEntry {
        id,
        deleted,
        fields: fields
            .iter()
            .map(|(f, v)| (f.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
    }
}

#[test]
fn decodes_redis_stream_payload_and_reencodes_it_exactly() {
    let payload = from_hex(fixtures::STREAM_HEX);
    assert_eq!(payload[0], kind::STREAM_LISTPACKS_2);
    let expected = RdbStream {
        nodes: vec![RdbStreamNode {
            master_id: (1, 1),
            master_fields: vec![b"field".to_vec()],
            entries: vec![entry((1, 1), false, &[("field", "value")])],
        }],
        length: 1,
        last_id: (1, 1),
        meta: Some(RdbStreamMeta {
            first_id: (1, 1),
            max_deleted_id: (0, 0),
            entries_added: 1,
        }),
        groups: Vec::new(),
    };
    let got = restore(&payload).unwrap();
    assert_eq!(got, RdbValue::Stream(Box::new(expected)));
    let exact = DumpOptions {
        rdb_compression: false,
        ..DumpOptions::default()
    };
    assert_eq!(dump_with(&got, &exact), payload);
}

/// Redis 5's DUMP (RDB 9, type 15) from unit/type/stream-cgroups: no counters, no groups'
/// read counters; an LZF-compressed listpack whose first entries are deleted or trimmed.
const LEGACY_STREAM_HEX: &str = concat!(
    "0f011000000000000000010000000000000000c3404a405716570000002300020104010101846461746105000103",
    "010020010381610204200a0001400a0062600a0002400a0063600a4022018164200a4039200a0065600a0005400a",
    "0066200a00ff02060002026731050004000000000000000100000000000000003ef783437a010000010000000000",
    "00000200000000000000003ef783437a01000001000000000000000400000000000000003ef783437a0100000100",
    "0000000000000500000000000000003ef783437a0100000101036331313ef783437a010000040000000000000001",
    "00000000000000000000000000000002000000000000000000000000000000040000000000000000000000000000",
    "000500000000000000000267320000000009003d52ef6867521dfa",
);

#[test]
fn decodes_a_legacy_stream_without_its_counters() {
    let payload = from_hex(LEGACY_STREAM_HEX);
    assert_eq!(payload[0], kind::STREAM_LISTPACKS);
    let RdbValue::Stream(s) = restore(&payload).unwrap() else {
        panic!("a stream");
    };
    assert_eq!(s.meta, None);
    assert_eq!((s.length, s.last_id), (2, (6, 0)));
    assert_eq!(s.nodes.len(), 1);
    let node = &s.nodes[0];
    assert_eq!(node.master_id, (1, 0));
    assert_eq!(node.master_fields, [b"data".to_vec()]);
    let live: Vec<_> = node.entries.iter().filter(|e| !e.deleted).collect();
    assert_eq!(
        live,
        [
            &entry((5, 0), false, &[("data", "e")]),
            &entry((6, 0), false, &[("data", "f")])
        ]
    );
    assert_eq!(node.entries.len(), 6);
    let names: Vec<&[u8]> = s.groups.iter().map(|g| g.name.as_slice()).collect();
    assert_eq!(names, [&b"g1"[..], b"g2"]);
    let g1 = &s.groups[0];
    assert_eq!((g1.last_id, g1.entries_read), ((5, 0), None));
    assert_eq!(g1.pending.len(), 4);
    assert_eq!(g1.consumers[0].name, b"c11");
    assert_eq!(g1.consumers[0].pending, [(1, 0), (2, 0), (4, 0), (5, 0)]);
    // Written again it is type 19 with the counters Redis's loader gives it.
    let again = dump(&RdbValue::Stream(s.clone()));
    assert_eq!(again[0], kind::STREAM_LISTPACKS_2);
    let RdbValue::Stream(back) = restore(&again).unwrap() else {
        panic!("a stream");
    };
    assert_eq!(
        back.meta,
        Some(RdbStreamMeta {
            first_id: (5, 0),
            max_deleted_id: (0, 0),
            entries_added: 2
        })
    );
    assert_eq!(back.nodes, s.nodes);
}

/// A stream with every part: several nodes, tombstones, entries with the master's fields and
/// with others, groups with pending entries and a consumer without any.
fn stream_specimen() -> RdbStream {
    let mut nodes = Vec::new();
    let mut id = 0;
    for n in 0..3u64 {
        let mut entries = Vec::new();
        for i in 0..4u64 {
            id += 1 + i * 7;
            let fields: &[(&str, &str)] = match i {
                2 => &[("other", "x"), ("f", "")],
                _ => &[
                    ("f", "12"),
                    (
                        "g",
                        "a value long enough to be worth compressing, compressing",
                    ),
                ],
            };
            entries.push(entry((id, n), i == 1, fields));
        }
        nodes.push(RdbStreamNode {
            master_id: entries[0].id,
            master_fields: vec![b"f".to_vec(), b"g".to_vec()],
            entries,
        });
    }
    let last = nodes[2].entries[3].id;
    RdbStream {
        nodes,
        length: 9,
        last_id: (last.0 + 5, 0),
        meta: Some(RdbStreamMeta {
            first_id: (1, 0),
            max_deleted_id: (9, 0),
            entries_added: 30,
        }),
        groups: vec![
            RdbStreamGroup {
                name: b"123".to_vec(),
                last_id: (0, 0),
                entries_read: Some(-1),
                pending: Vec::new(),
                consumers: Vec::new(),
            },
            RdbStreamGroup {
                name: b"g".to_vec(),
                last_id: last,
                entries_read: Some(7),
                pending: vec![
                    RdbStreamNack {
                        id: (1, 0),
                        delivery_time_ms: 1_700_000_000_000,
                        delivery_count: 3,
                    },
                    RdbStreamNack {
                        id: (2, 99),
                        delivery_time_ms: 5,
                        delivery_count: 100_000,
                    },
                ],
                consumers: vec![
                    RdbStreamConsumer {
                        name: b"alice".to_vec(),
                        seen_time_ms: 1_700_000_000_001,
                        pending: vec![(1, 0), (2, 99)],
                    },
                    RdbStreamConsumer {
                        name: b"bob".to_vec(),
                        seen_time_ms: 0,
                        pending: Vec::new(),
                    },
                ],
            },
        ],
    }
}

#[test]
fn streams_round_trip() {
    let specimen = stream_specimen();
    for compression in [false, true] {
        let options = DumpOptions {
            rdb_compression: compression,
            ..DumpOptions::default()
        };
        round_trip(&RdbValue::Stream(Box::new(specimen.clone())), &options);
    }
    let empty = RdbStream {
        meta: Some(RdbStreamMeta::default()),
        ..RdbStream::default()
    };
    round_trip(&RdbValue::Stream(Box::new(empty)), &DumpOptions::default());
}

#[test]
fn streams_that_break_their_invariants_are_refused() {
    type Damage = fn(&mut RdbStream);
    let damages: &[(&str, Damage)] = &[
        ("entries out of order", |s| s.nodes[1].entries.swap(0, 2)),
        ("nodes out of order", |s| s.nodes.swap(0, 1)),
        ("an entry below its node's key", |s| {
            s.nodes[1].master_id.0 += 1
        }),
        ("an entry repeated", |s| {
            let first = s.nodes[2].entries[0].clone();
            s.nodes[1].entries.push(first);
        }),
        ("length", |s| s.length += 1),
        ("last ID below an entry", |s| s.last_id = (1, 0)),
        ("a node without a live entry", |s| {
            s.nodes[0].entries.iter_mut().for_each(|e| e.deleted = true);
            s.length -= 3;
        }),
        ("duplicate group", |s| s.groups[0].name = b"g".to_vec()),
        ("duplicate consumer", |s| {
            s.groups[1].consumers[1].name = b"alice".to_vec()
        }),
        ("pending entry without consumer", |s| {
            s.groups[1].consumers[0].pending.pop();
        }),
        ("pending entry owned twice", |s| {
            s.groups[1].consumers[1].pending.push((1, 0));
        }),
        ("consumer entry not pending", |s| {
            s.groups[1].consumers[1].pending.push((7, 7));
        }),
        ("duplicate pending entry", |s| {
            let again = s.groups[1].pending[0];
            s.groups[1].pending.push(again);
        }),
    ];
    for (name, damage) in damages {
        let mut s = stream_specimen();
        damage(&mut s);
        let payload = dump(&RdbValue::Stream(Box::new(s)));
        assert!(
            matches!(restore(&payload), Err(RdbError::Corrupt(_))),
            "{name}: {:?}",
            restore(&payload)
        );
    }
}

/// Random well-formed streams (seeded): each round-trips.
#[test]
fn random_streams_round_trip() {
    let mut rng = fastrand::Rng::with_seed(19);
    for _ in 0..300 {
        let mut s = RdbStream::default();
        let mut id = (rng.u64(..1 << 40), rng.u64(..));
        let mut length = 0;
        for _ in 0..rng.usize(..5) {
            let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..rng.usize(..4))
                .map(|i| {
                    (
                        vec![b'a' + i as u8; rng.usize(1..3)],
                        rng.u64(..).to_string().into_bytes(),
                    )
                })
                .collect();
            let mut node = RdbStreamNode {
                master_id: id,
                master_fields: fields.iter().map(|(f, _)| f.clone()).collect(),
                entries: Vec::new(),
            };
            for i in 0..rng.usize(1..20) {
                let deleted = i > 0 && rng.u8(..4) == 0;
                length += u64::from(!deleted);
                let fields = if rng.bool() {
                    fields.clone()
                } else {
                    vec![(b"z".to_vec(), vec![b'v'; rng.usize(..300)])]
                };
                node.entries.push(RdbStreamEntry {
                    id,
                    deleted,
                    fields,
                });
                id = match rng.u8(..3) {
                    0 if id.1 < u64::MAX => (id.0, id.1 + 1),
                    _ => (id.0 + rng.u64(1..1 << 20), rng.u64(..)),
                };
            }
            s.nodes.push(node);
        }
        s.length = length;
        s.last_id = id;
        s.meta = Some(RdbStreamMeta {
            first_id: (rng.u64(..), rng.u64(..)),
            max_deleted_id: (rng.u64(..), 0),
            entries_added: rng.u64(..),
        });
        round_trip(&RdbValue::Stream(Box::new(s)), &DumpOptions::default());
    }
}

// ---------------------------------------------------------------------------------------------
// The footer

#[test]
fn footer_is_version_and_crc() {
    let payload = dump(&RdbValue::Str(b"hello".to_vec()));
    assert_eq!(
        payload,
        b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a"
    );
    let n = payload.len();
    assert_eq!(&payload[n - 10..n - 8], &[10, 0]);
    let crc = crc64::crc64(0, &payload[..n - 8]);
    assert_eq!(payload[n - 8..], crc.to_le_bytes());
}

#[test]
fn checks_version_and_crc() {
    let body = b"\x00\x02hi";
    assert_eq!(restore(&seal(body)), Ok(RdbValue::Str(b"hi".to_vec())));
    assert_eq!(
        restore(&seal_version(body, 1)),
        Ok(RdbValue::Str(b"hi".to_vec()))
    );
    assert_eq!(
        restore(&seal_version(body, 11)),
        Err(RdbError::VersionOrChecksum)
    );
    let good = seal(body);
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x10;
        assert_eq!(restore(&bad), Err(RdbError::VersionOrChecksum), "byte {i}");
    }
    for n in 0..10 {
        assert_eq!(restore(&good[..n]), Err(RdbError::VersionOrChecksum));
    }
    assert_eq!(
        RdbError::VersionOrChecksum.reply_text(),
        "ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(RdbError::Corrupt("x").reply_text(), "ERR Bad data format");
}

#[test]
fn ignores_bytes_after_the_value_as_redis_does() {
    assert_eq!(
        restore(&seal(b"\x00\x02hi-trailing")),
        Ok(RdbValue::Str(b"hi".to_vec()))
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips and the encodings chosen

#[test]
fn strings_round_trip_in_redis_encodings() {
    let mut rng = fastrand::Rng::with_seed(3);
    let noise: Vec<u8> = (0..500).map(|_| rng.u8(..)).collect();
    let cases: Vec<(Vec<u8>, u8)> = vec![
        (b"".to_vec(), 0x00),
        (b"\x00\xff\r\n".to_vec(), 0x04),
        (b"-128".to_vec(), 0xc0),
        (b"127".to_vec(), 0xc0),
        (b"128".to_vec(), 0xc1),
        (b"-129".to_vec(), 0xc1),
        (b"32767".to_vec(), 0xc1),
        (b"32768".to_vec(), 0xc2),
        (b"-2147483648".to_vec(), 0xc2),
        (b"2147483648".to_vec(), 0x0a),
        (b"9223372036854775807".to_vec(), 19),
        (b"-0".to_vec(), 0x02),
        (b"+1".to_vec(), 0x02),
        (b"01".to_vec(), 0x02),
        (vec![b'a'; 20], 20),
        (vec![b'a'; 21], 0xc3),
        (b"abcdefgh".repeat(1000), 0xc3),
        (noise.clone(), 0x41), // incompressible: a 14-bit length (0x4000 | 500)
    ];
    for (s, marker) in cases {
        let payload = round_trip(&RdbValue::Str(s.clone()), &DumpOptions::default());
        assert_eq!(payload[0], kind::STRING);
        assert_eq!(payload[1], marker, "{:?}", String::from_utf8_lossy(&s));
    }
    let plain = DumpOptions {
        rdb_compression: false,
        ..DumpOptions::default()
    };
    let payload = round_trip(&RdbValue::Str(vec![b'a'; 100]), &plain);
    assert_eq!(payload[1], 0x40, "rdbcompression off: stored raw");
}

#[test]
fn lists_round_trip_in_every_node_layout() {
    let mut rng = fastrand::Rng::with_seed(5);
    let big: Vec<Vec<u8>> = (0..3000)
        .map(|i| match i % 5 {
            0 => i.to_string().into_bytes(),
            1 => vec![],
            2 => (0..rng.usize(0..40)).map(|_| rng.u8(..)).collect(),
            3 => format!("element-{}", i % 17).into_bytes(),
            _ => vec![b'L'; rng.usize(0..9000)],
        })
        .collect();
    let values = [
        bytes_list([&b"a"[..], b"", b"1", b"-1", b"\x00\xff"]),
        bytes_list([vec![b'x'; 70_000]]),
        big,
    ];
    for fill in [-5, -2, -1, 0, 1, 3, 128, 40_000] {
        for depth in [0, 1, 2] {
            let options = DumpOptions {
                list_max_listpack_size: fill,
                list_compress_depth: depth,
                ..DumpOptions::default()
            };
            for value in &values {
                let payload = round_trip(&RdbValue::List(value.clone()), &options);
                assert_eq!(payload[0], kind::LIST_QUICKLIST_2);
            }
        }
    }
}

#[test]
fn sets_use_an_intset_only_for_few_integers() {
    let ints = |n: i64| {
        RdbValue::Set(
            (0..n)
                .map(|i| (i * 7919).to_string().into_bytes())
                .collect(),
        )
    };
    assert_eq!(
        round_trip(&ints(512), &DumpOptions::default())[0],
        kind::SET_INTSET
    );
    assert_eq!(
        round_trip(&ints(513), &DumpOptions::default())[0],
        kind::SET
    );
    let wide = RdbValue::Set(bytes_list([
        i64::MIN.to_string(),
        "0".into(),
        i64::MAX.to_string(),
    ]));
    assert_eq!(
        round_trip(&wide, &DumpOptions::default())[0],
        kind::SET_INTSET
    );
    for mixed in [
        bytes_list([&b"1"[..], b"a"]),
        bytes_list([&b"1"[..], b"01"]),
        bytes_list([&b"-0"[..]]),
        bytes_list([&b""[..], b"\x00", b"\xff\xfe"]),
    ] {
        assert_eq!(
            round_trip(&RdbValue::Set(mixed), &DumpOptions::default())[0],
            kind::SET
        );
    }
    // A member given twice is written once.
    let dup = RdbValue::Set(bytes_list([&b"a"[..], b"b", b"a"]));
    assert_eq!(
        restore(&dump(&dup)),
        Ok(RdbValue::Set(bytes_list([&b"a"[..], b"b"])))
    );
}

#[test]
fn hashes_use_a_listpack_only_when_small() {
    let hash = |n: usize, value_len: usize| {
        RdbValue::Hash(
            (0..n)
                .map(|i| (format!("f{i}").into_bytes(), vec![b'v'; value_len]))
                .collect(),
        )
    };
    let options = DumpOptions::default();
    assert_eq!(round_trip(&hash(128, 64), &options)[0], kind::HASH_LISTPACK);
    assert_eq!(round_trip(&hash(129, 1), &options)[0], kind::HASH);
    assert_eq!(round_trip(&hash(3, 65), &options)[0], kind::HASH);
    let odd = RdbValue::Hash(vec![
        (b"".to_vec(), b"".to_vec()),
        (b"12".to_vec(), b"-7".to_vec()),
        (b"\x00".to_vec(), b"x".repeat(5000)),
    ]);
    round_trip(&odd, &options);
    let dup = RdbValue::Hash(vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"a".to_vec(), b"2".to_vec()),
    ]);
    assert_eq!(
        restore(&dump(&dup)),
        Ok(RdbValue::Hash(vec![(b"a".to_vec(), b"1".to_vec())]))
    );
}

#[test]
fn sorted_sets_keep_every_score() {
    let scores = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        1.5e-7,
        1e300,
        -1e-300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        4611686018427387904.0,
        4611686018427387904.0 * 2.0,
        9007199254740993.0,
        1e15 + 0.25,
        -123456.789,
    ];
    let value = RdbValue::ZSet(
        scores
            .iter()
            .enumerate()
            .map(|(i, &s)| (format!("m{i}").into_bytes(), s))
            .collect(),
    );
    let bits = |v: &RdbValue| match canonical(v) {
        RdbValue::ZSet(pairs) => pairs
            .iter()
            .map(|(m, s)| (m.clone(), if *s == 0.0 { 0 } else { s.to_bits() }))
            .collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    for entries in [128, 1] {
        let options = DumpOptions {
            zset_max_listpack_entries: entries,
            ..DumpOptions::default()
        };
        let payload = round_trip(&value, &options);
        let expected = if entries == 128 {
            kind::ZSET_LISTPACK
        } else {
            kind::ZSET_2
        };
        assert_eq!(payload[0], expected);
        // Exactly the same doubles, bit for bit (but -0 and 0 are one score).
        assert_eq!(bits(&restore(&payload).unwrap()), bits(&value));
    }
}

#[test]
fn sorted_sets_are_stored_in_redis_order() {
    let value = RdbValue::ZSet(vec![
        (b"b".to_vec(), 2.0),
        (b"a".to_vec(), 2.0),
        (b"c".to_vec(), -1.0),
        (b"long".repeat(20), 3.0),
    ]);
    let restored = restore(&dump(&value)).unwrap();
    let order = |v: RdbValue| match v {
        RdbValue::ZSet(pairs) => pairs.into_iter().map(|(m, _)| m).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    // A member over 64 bytes: zset 2, highest first.
    assert_eq!(
        order(restored),
        [
            b"long".repeat(20),
            b"b".to_vec(),
            b"a".to_vec(),
            b"c".to_vec()
        ]
    );
    let small = RdbValue::ZSet(vec![(b"b".to_vec(), 2.0), (b"a".to_vec(), 2.0)]);
    assert_eq!(
        order(restore(&dump(&small)).unwrap()),
        [b"a".to_vec(), b"b".to_vec()]
    );
}

#[test]
fn empty_collections_are_refused_as_redis_refuses_them() {
    for value in [
        RdbValue::List(vec![]),
        RdbValue::Set(vec![]),
        RdbValue::Hash(vec![]),
        RdbValue::ZSet(vec![]),
    ] {
        assert!(matches!(restore(&dump(&value)), Err(RdbError::Corrupt(_))));
    }
    // An empty string is a value like any other.
    assert_eq!(
        restore(&dump(&RdbValue::Str(vec![]))),
        Ok(RdbValue::Str(vec![]))
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile input

#[test]
fn absurd_lengths_are_refused_before_allocating() {
    let huge = [0x81, 0x40, 0, 0, 0, 0, 0, 0, 0]; // 2^62 as a 64-bit length
    for type_byte in [0u8, 1, 2, 3, 4, 5, 14, 18] {
        let mut body = vec![type_byte];
        body.extend_from_slice(&huge);
        assert!(matches!(restore(&seal(&body)), Err(RdbError::Corrupt(_))));
    }
    // An LZF string claiming a gigabyte from three bytes.
    let body = [0x00, 0xc3, 0x03, 0x80, 0x40, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(restore(&seal(&body)), Err(RdbError::Corrupt(_))));
    // A listpack header claiming 65534 elements in a few bytes.
    let body = [0x10, 0x07, 7, 0, 0, 0, 0xfe, 0xff, 0xff];
    assert!(matches!(restore(&seal(&body)), Err(RdbError::Corrupt(_))));
}

/// Values of every kind and encoding, to damage.
fn specimens() -> Vec<(RdbValue, DumpOptions)> {
    let small = DumpOptions {
        hash_max_listpack_entries: 2,
        zset_max_listpack_entries: 2,
        set_max_intset_entries: 2,
        list_max_listpack_size: 2,
        list_compress_depth: 1,
        ..DumpOptions::default()
    };
    let values = [
        RdbValue::Str(b"hello".to_vec()),
        RdbValue::Str(b"1234".to_vec()),
        RdbValue::Str(b"abcabcabcabcabcabcabcabcabc".to_vec()),
        RdbValue::List(bytes_list(
            (0..9).map(|i| format!("element-{i}-element-element-element")),
        )),
        RdbValue::Set(bytes_list([&b"1"[..], b"2", b"-70000"])),
        RdbValue::Set(bytes_list([&b"x"[..], b"y", b"z"])),
        RdbValue::Hash(vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"two".to_vec()),
        ]),
        RdbValue::ZSet(vec![(b"a".to_vec(), 1.5), (b"b".to_vec(), 2.0)]),
        RdbValue::Stream(Box::new(stream_specimen())),
    ];
    let mut out = Vec::new();
    for value in values {
        out.push((value.clone(), DumpOptions::default()));
        out.push((value, small.clone()));
    }
    out
}

/// Anything `restore` accepts is a well-formed value: dumping it and restoring again gives
/// it back.
fn assert_well_formed(value: &RdbValue) {
    let again = restore(&dump(value)).expect("an accepted value dumps into an accepted payload");
    assert_eq!(canonical(&again), canonical(value));
}

#[test]
fn damaged_payloads_never_panic() {
    let mut bodies: Vec<Vec<u8>> = specimens()
        .iter()
        .map(|(v, o)| {
            let p = dump_with(v, o);
            p[..p.len() - 10].to_vec()
        })
        .collect();
    bodies.extend(fixtures::payloads().iter().map(|f| {
        let p = from_hex(f.hex);
        p[..p.len() - 10].to_vec()
    }));
    let mut rng = fastrand::Rng::with_seed(11);
    let mut accepted = 0;
    for _ in 0..200_000 {
        let mut body = bodies[rng.usize(..bodies.len())].clone();
        for _ in 0..rng.usize(1..4) {
            match rng.u8(..4) {
                0 if !body.is_empty() => {
                    let i = rng.usize(..body.len());
                    body[i] = rng.u8(..);
                }
                1 if !body.is_empty() => {
                    let i = rng.usize(..body.len());
                    body[i] ^= 1 << rng.u8(..8);
                }
                2 => body.truncate(rng.usize(..=body.len())),
                _ => body.insert(rng.usize(..=body.len()), rng.u8(..)),
            }
        }
        if let Ok(value) = restore(&seal(&body)) {
            assert_well_formed(&value);
            accepted += 1;
        }
    }
    // Some damage leaves a valid value (a changed byte inside a string), most does not.
    assert!(accepted > 1000, "{accepted} accepted");
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        prop::collection::vec(any::<u8>(), 60..70),
        any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
        (any::<u8>(), 15..300usize).prop_map(|(b, n)| vec![b; n]),
        "[a-c]{0,70}".prop_map(String::into_bytes),
    ]
}

fn any_score() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("no NaN", |s| !s.is_nan()),
        (-1000i64..1000).prop_map(|v| v as f64),
        (-1000i64..1000).prop_map(|v| v as f64 / 8.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
    ]
}

fn any_value() -> impl Strategy<Value = RdbValue> {
    let items = || prop::collection::vec(any_bytes(), 1..200);
    prop_oneof![
        any_bytes().prop_map(RdbValue::Str),
        items().prop_map(RdbValue::List),
        items().prop_map(RdbValue::Set),
        prop::collection::vec((any_bytes(), any_bytes()), 1..200).prop_map(RdbValue::Hash),
        prop::collection::vec((any_bytes(), any_score()), 1..200).prop_map(RdbValue::ZSet),
    ]
}

fn any_options() -> impl Strategy<Value = DumpOptions> {
    (
        (0usize..200, 0usize..80, 0usize..200, 0usize..80),
        (0usize..600, -7i64..12, 0usize..3, any::<bool>()),
    )
        .prop_map(
            |((he, hv, ze, zv), (si, fill, depth, compression))| DumpOptions {
                hash_max_listpack_entries: he,
                hash_max_listpack_value: hv,
                zset_max_listpack_entries: ze,
                zset_max_listpack_value: zv,
                set_max_intset_entries: si,
                list_max_listpack_size: fill,
                list_compress_depth: depth,
                rdb_compression: compression,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_value_round_trips(value in any_value(), options in any_options()) {
        let payload = dump_with(&value, &options);
        let back = restore(&payload).expect("our own payload");
        prop_assert_eq!(canonical(&back), canonical(&value));
    }

    #[test]
    fn random_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(value) = restore(&seal(&body)) {
            assert_well_formed(&value);
        }
        let _ = restore(&body);
    }
}
