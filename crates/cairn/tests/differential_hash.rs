//! Differential tests of the hash family against redis-server 7.0.15 (harness:
//! `common/differential.rs`): every Redis 7.0 hash command, its options and its errors, over
//! RESP2 and RESP3, plus a seeded random sequence compared reply by reply.
//!
//! Left out on purpose: replies chosen at random (HRANDFIELD with a count below the hash's
//! size), the order and cursors of a hash table (compared as sets, `sort:`), and the
//! field-expiry commands, which Redis 7.0 does not have (transcripts and the model test cover
//! them).

mod common;

use common::differential::*;

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

const SET_GET: &[&str] = &[
    "HSET h a 1 b 2 c 3",
    "HSET h a 10 d 4",
    "HSET h a 11 a 12",
    "HGET h a",
    "HGETALL h",
    "HKEYS h",
    "HVALS h",
    "HLEN h",
    "OBJECT ENCODING h",
    "TYPE h",
    "HSET bin \"f\\x00\\xff\" \"v\\r\\n\\x00\" \"\" \"\"",
    "HGET bin \"f\\x00\\xff\"",
    "HGET bin \"\"",
    "HGETALL bin",
    "HSET h",
    "HSET h a",
    "HSET h a 1 b",
    "HMSET h a 1 b",
    "HSETNX h a",
    "HGET h",
    "HMGET h",
    "HDEL h",
    "HLEN",
    "HGETALL h x",
    "HSTRLEN h",
    "HEXISTS h",
    "HMSET h e 5 a 13",
    "HMGET h a e zz",
    "HMGET nokey a b",
    "HSETNX h a 99",
    "HSETNX h f 6",
    "HSETNX fresh f v",
    "HGETALL fresh",
    "HGET h zz",
    "HGET nokey a",
    "HLEN nokey",
    "HSTRLEN nokey a",
    "HSTRLEN h zz",
    "HSTRLEN h a",
    "HEXISTS nokey a",
    "HEXISTS h zz",
    "HEXISTS h a",
    "HGETALL nokey",
    "HKEYS nokey",
    "HVALS nokey",
    "HSET lens i -12345 s hello",
    "HSTRLEN lens i",
    "HSTRLEN lens s",
    "HDEL h a zz b",
    "HGETALL h",
    "HDEL nokey a",
    "HSET two x 1 y 2",
    "HDEL two x y x z",
    "EXISTS two",
    "HSET order a 1 b 2 c 3",
    "HDEL order a",
    "HSET order a 1",
    "HKEYS order",
    "HGETALL order",
    "SET s v",
    "HSET s a 1",
    "HSETNX s a 1",
    "HMSET s a 1",
    "HGET s a",
    "HMGET s a",
    "HDEL s a",
    "HLEN s",
    "HSTRLEN s a",
    "HEXISTS s a",
    "HKEYS s",
    "HVALS s",
    "HGETALL s",
    "GET h",
    "hset MiXeD a 1",
    "HgEtAlL MiXeD",
];

const ENCODINGS: &[&str] = &[
    "HSET enc f 1234567890123456789012345678901234567890123456789012345678901234",
    "OBJECT ENCODING enc",
    "HSET enc g 12345678901234567890123456789012345678901234567890123456789012345",
    "OBJECT ENCODING enc",
    "HSET enc2 1234567890123456789012345678901234567890123456789012345678901234567890 v",
    "OBJECT ENCODING enc2",
    "HDEL enc g",
    "OBJECT ENCODING enc",
    "HSETNX enc3 f 12345678901234567890123456789012345678901234567890123456789012345",
    "OBJECT ENCODING enc3",
    "HSETNX enc4 f v",
    "HSETNX enc4 f 12345678901234567890123456789012345678901234567890123456789012345",
    "OBJECT ENCODING enc4",
    "HINCRBYFLOAT enc5 f 1e100",
    "OBJECT ENCODING enc5",
    "HSET enc6 a 1",
    "HINCRBY enc6 123456789012345678901234567890123456789012345678901234567890123456789 1",
    "OBJECT ENCODING enc6",
    "sort: HGETALL enc6",
];

const COUNTERS: &[&str] = &[
    "HINCRBY h n 5",
    "HINCRBY h n -7",
    "HINCRBY h n 0",
    "HINCRBY h n 9223372036854775807",
    "HINCRBY h big 9223372036854775807",
    "HINCRBY h big 1",
    "HINCRBY h small -9223372036854775808",
    "HINCRBY h small -1",
    "HINCRBY h n abc",
    "HINCRBY h n 1.5",
    "HINCRBY h n \" 1\"",
    "HINCRBY h n +1",
    "HINCRBY h n 01",
    "HINCRBY h n 9223372036854775808",
    "HINCRBY h n",
    "SET s v",
    "HINCRBY s n x",
    "HINCRBY s n 1",
    "HSET h str abc sp \" 1\" sp2 \"1 \" z 007 nul \"1\\x002\"",
    "HINCRBY h str 1",
    "HINCRBY h sp 1",
    "HINCRBY h sp2 1",
    "HINCRBY h z 1",
    "HINCRBY h nul 1",
    "HINCRBYFLOAT f x 10.5",
    "HINCRBYFLOAT f x 0.1",
    "HINCRBYFLOAT f y 1.23",
    "HINCRBYFLOAT f y 0.77",
    "HINCRBYFLOAT f y -0.1",
    "HINCRBYFLOAT f z 5.0e3",
    "HINCRBYFLOAT f z 2e-1",
    "HINCRBYFLOAT f big 1e308",
    "HINCRBYFLOAT f big 1e308",
    "HINCRBYFLOAT f neg -1e-10",
    "HINCRBYFLOAT f hex 0x10",
    "HINCRBYFLOAT f int 3",
    "HINCRBY f int 4",
    "HINCRBYFLOAT f int 0.5",
    "HINCRBY f int 1",
    "HINCRBYFLOAT f x abc",
    "HINCRBYFLOAT f x \"\"",
    "HINCRBYFLOAT f x \" 1\"",
    "HINCRBYFLOAT f x nan",
    "HINCRBYFLOAT f x inf",
    "HINCRBYFLOAT f x -inf",
    "HINCRBYFLOAT f x +inf",
    "HINCRBYFLOAT s x 1",
    "HINCRBYFLOAT s x abc",
    "HINCRBYFLOAT nokey x inf",
    "EXISTS nokey",
    "HSET f str abc sp \" 1\" nul \"1\\x002\" huge 1e4933 inf inf",
    "HINCRBYFLOAT f str 1",
    "HINCRBYFLOAT f sp 1",
    "HINCRBYFLOAT f nul 1",
    "HINCRBYFLOAT f huge 1",
    "HINCRBYFLOAT f inf 1",
    "HSET f max 1.18e4932",
    "HINCRBYFLOAT f max 1.18e4932",
    "sort: HGETALL f",
];

const RANDOM_AND_SCAN: &[&str] = &[
    "HSET h a 1 b 2 c 3",
    "HSET one only v",
    "HRANDFIELD nokey",
    "HRANDFIELD nokey 5",
    "HRANDFIELD nokey -5 WITHVALUES",
    "HRANDFIELD h 0",
    "HRANDFIELD h 0 WITHVALUES",
    "HRANDFIELD h 3",
    "HRANDFIELD h 100",
    "HRANDFIELD h 100 WITHVALUES",
    "HRANDFIELD one",
    "HRANDFIELD one 1",
    "HRANDFIELD one -3",
    "HRANDFIELD one -2 withvalues",
    "HRANDFIELD one 1 WITHVALUES",
    "HRANDFIELD h abc",
    "HRANDFIELD nokey abc",
    "HRANDFIELD h 1.5",
    "HRANDFIELD h 1 WITHSCORES",
    "HRANDFIELD h 1 WITHVALUES extra",
    "HRANDFIELD h -9223372036854775808",
    "HRANDFIELD h -9223372036854775808 WITHVALUES",
    "HRANDFIELD h -9223372036854770000 WITHVALUES",
    "HRANDFIELD h 4611686018427387904 WITHVALUES",
    "HRANDFIELD h 4611686018427387903 WITHVALUES",
    "SET s v",
    "HRANDFIELD s",
    "HRANDFIELD s 3",
    "HRANDFIELD s abc",
    "HSCAN h 0",
    "HSCAN h 7",
    "HSCAN h 0 COUNT 1",
    "HSCAN h 0 MATCH b*",
    "HSCAN h 0 MATCH * COUNT 100",
    "HSCAN h 0 match [ab] count 2",
    "HSCAN nokey 0",
    "HSCAN nokey 0 COUNT 0",
    "HSCAN nokey 0 BAD",
    "HSCAN h abc",
    "HSCAN h -1",
    "HSCAN h 18446744073709551616",
    "HSCAN nokey abc",
    "HSCAN s 0",
    "HSCAN s abc",
    "HSCAN h 0 COUNT 0",
    "HSCAN h 0 COUNT -1",
    "HSCAN h 0 COUNT abc",
    "HSCAN h 0 COUNT",
    "HSCAN h 0 MATCH",
    "HSCAN h 0 TYPE hash",
    "HSCAN h",
];

/// Hashes next to the keyspace commands: TTLs, renames, copies, deletion.
const KEYSPACE: &[&str] = &[
    "HSET h a 1 b 2",
    "EXPIRE h 100",
    "TTL h",
    "HSET h c 3",
    "TTL h",
    "RENAME h h2",
    "HGETALL h2",
    "TTL h2",
    "COPY h2 h3",
    "HGETALL h3",
    "HDEL h3 a b c",
    "EXISTS h3",
    "HGETALL h2",
    "DEL h2",
    "HGETALL h2",
    "HSET h4 a 1",
    "SET h4 s",
    "GET h4",
    "HSET h5 a 1",
    "PEXPIRE h5 1",
    "sleep 20",
    "HGET h5 a",
    "HLEN h5",
    "HSET h5 b 2",
    "HGETALL h5",
    "TTL h5",
];

/// `HSET big f0 v0 ... f{n-1} v{n-1}` and the checks of a hash table, compared as sets.
fn big_hash_script(n: usize) -> Vec<String> {
    let mut hset = String::from("HSET big");
    for i in 0..n {
        hset.push_str(&format!(" f{i} v{i}"));
    }
    let mut lines = vec![
        hset,
        "OBJECT ENCODING big".into(),
        "HLEN big".into(),
        "sort: HGETALL big".into(),
        "sort: HKEYS big".into(),
        "sort: HVALS big".into(),
        format!("sort: HRANDFIELD big {}", n + 1),
        format!("sort: HRANDFIELD big {n} WITHVALUES"),
        "HRANDFIELD big 0".into(),
        "sort: HSCAN big 0 COUNT 100000".into(),
        "sort: HSCAN big 0 MATCH f1* COUNT 100000".into(),
        "HMGET big f0 f1 nosuch f99".into(),
        "HSTRLEN big f100".into(),
        "HEXISTS big f129".into(),
        "HINCRBY big counter 7".into(),
        "HINCRBYFLOAT big float 0.5".into(),
        "HSETNX big f3 x".into(),
        "HGET big f3".into(),
    ];
    // Deleting all but a few fields shrinks the table; it stays a hash table.
    let mut hdel = String::from("HDEL big");
    for i in 3..n {
        hdel.push_str(&format!(" f{i}"));
    }
    lines.push(hdel);
    lines.push("OBJECT ENCODING big".into());
    lines.push("sort: HGETALL big".into());
    lines.push("HDEL big f0 f1 f2 counter float".into());
    lines.push("EXISTS big".into());
    // hash-max-listpack-entries is 512: the 513th field converts.
    let mut edge = String::from("HSET edge");
    for i in 0..512 {
        edge.push_str(&format!(" e{i} {i}"));
    }
    lines.extend([
        edge,
        "OBJECT ENCODING edge".into(),
        "HGETALL edge".into(),
        "HSETNX edge e512 x".into(),
        "OBJECT ENCODING edge".into(),
        "HLEN edge".into(),
    ]);
    lines
}

/// A seeded random sequence of hash commands over a few keys and fields. Values are mostly
/// short (hashes stay listpacks and are compared in order); now and then one is longer than
/// `hash-max-listpack-value`, and replies whose order a hash table decides go `sort:`.
fn random_script(seed: u64, commands: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut lines = Vec::with_capacity(commands);
    for _ in 0..commands {
        let key = format!("k{}", rng.u8(0..4));
        let field = |rng: &mut fastrand::Rng| format!("f{}", rng.u8(0..8));
        let value = |rng: &mut fastrand::Rng| match rng.u8(0..20) {
            0 => "x".repeat(70),
            1 => "abc".to_string(),
            2 => "1.5".to_string(),
            _ => rng.i64(-100..100).to_string(),
        };
        let line = match rng.u8(0..20) {
            0..=3 => {
                let mut line = format!("HSET {key}");
                for _ in 0..rng.usize(1..4) {
                    line.push_str(&format!(" {} {}", field(&mut rng), value(&mut rng)));
                }
                line
            }
            4 => format!("HSETNX {key} {} {}", field(&mut rng), value(&mut rng)),
            5 | 6 => {
                let mut line = format!("HDEL {key}");
                for _ in 0..rng.usize(1..4) {
                    line.push_str(&format!(" {}", field(&mut rng)));
                }
                line
            }
            7 => format!("HGET {key} {}", field(&mut rng)),
            8 => format!(
                "HMGET {key} {} {} {}",
                field(&mut rng),
                field(&mut rng),
                field(&mut rng)
            ),
            9 => format!("HLEN {key}"),
            10 => format!("HSTRLEN {key} {}", field(&mut rng)),
            11 => format!("HEXISTS {key} {}", field(&mut rng)),
            12 => format!("HINCRBY {key} {} {}", field(&mut rng), rng.i64(-10..10)),
            13 => format!(
                "HINCRBYFLOAT {key} {} {}",
                field(&mut rng),
                rng.i64(-10..10)
            ),
            14 => format!("sort: HGETALL {key}"),
            15 => format!("sort: HKEYS {key}"),
            16 => format!("sort: HVALS {key}"),
            17 => format!("sort: HRANDFIELD {key} {} WITHVALUES", rng.u8(8..12)),
            18 => format!("sort: HSCAN {key} 0 COUNT 1000"),
            _ => match rng.u8(0..4) {
                0 => format!("DEL {key}"),
                1 => format!("SET {key} str"),
                2 => format!("TYPE {key}"),
                _ => format!("OBJECT ENCODING {key}"),
            },
        };
        lines.push(line);
    }
    lines
}

fn check_owned(scripts: &[(&str, Vec<String>)]) {
    let lines: Vec<Vec<&str>> = scripts
        .iter()
        .map(|(_, l)| l.iter().map(String::as_str).collect())
        .collect();
    let named: Vec<(&str, &[&str])> = scripts
        .iter()
        .zip(&lines)
        .map(|((name, _), l)| (*name, l.as_slice()))
        .collect();
    check_both_protocols(&named);
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn hash_family_matches_redis() {
    check_both_protocols(&[
        ("set-get", SET_GET),
        ("encodings", ENCODINGS),
        ("counters", COUNTERS),
        ("random-and-scan", RANDOM_AND_SCAN),
        ("keyspace", KEYSPACE),
    ]);
}

#[test]
fn hash_tables_match_redis_as_sets() {
    check_owned(&[("big-hash", big_hash_script(600))]);
}

#[test]
fn random_hash_commands_match_redis() {
    check_owned(&[("random-hash", random_script(0x4a5e, 3000))]);
}

/// A full HSCAN of a hash table returns every field exactly as Redis's does, though the
/// cursors differ: both iterations are collected and compared as sets.
#[test]
fn hscan_iterations_cover_a_hash_table_like_redis() {
    let pair = Pair::start();
    let mut redis = common::Raw::connect(&pair.oracle.addr());
    let mut cairn = pair.cairn.conn();
    for raw in [&mut redis, &mut cairn] {
        for chunk in 0..10 {
            let mut args = vec!["HSET".to_string(), "scan".into()];
            for i in chunk * 100..(chunk + 1) * 100 {
                args.extend([format!("field:{i}"), format!("value:{i}")]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(raw.cmd(&args), b":100\r\n");
        }
    }
    let iterate = |raw: &mut common::Raw, count: &str| {
        let mut seen = std::collections::BTreeMap::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let reply = raw.cmd(&["HSCAN", "scan", &cursor, "COUNT", count]);
            let text = String::from_utf8_lossy(&reply).into_owned();
            let lines: Vec<&str> = text.split("\r\n").collect();
            // *2, $len, cursor, *n, then $len/bulk pairs.
            cursor = lines[2].to_string();
            let bulks: Vec<&str> = lines[4..]
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| c[1])
                .collect();
            for pair in bulks.chunks(2) {
                seen.insert(pair[0].to_string(), pair[1].to_string());
            }
            calls += 1;
            if cursor == "0" {
                return (seen, calls);
            }
        }
    };
    for count in ["1", "10", "77"] {
        let (expected, _) = iterate(&mut redis, count);
        let (actual, calls) = iterate(&mut cairn, count);
        assert_eq!(actual.len(), 1000, "COUNT {count}");
        assert_eq!(actual, expected, "COUNT {count}");
        assert!(calls > 1, "a hash table answers in steps (COUNT {count})");
    }
}
