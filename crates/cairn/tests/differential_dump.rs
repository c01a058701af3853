//! Differential tests of DUMP, RESTORE and MEMORY USAGE against Redis 7.0.15 (harness:
//! `common/differential.rs`):
//! - scripts over RESP2 and RESP3: DUMP payloads compared byte for byte where the encoding
//!   fixes them (no LZF, no hashtable order), every RESTORE option and error, MEMORY's
//!   replies;
//! - DUMP → RESTORE round trips inside each server, each side restoring its own payloads and
//!   answering the same;
//! - across servers: Redis's payloads restored into Cairn, and Cairn's into Redis, compared by
//!   type, OBJECT ENCODING, contents and TTL under default and small encoding thresholds.
//!   MEMORY USAGE is only checked to be of the same order of magnitude as Redis's.
//!
//! Sorted sets are covered by `dump_interop.rs`, streams by `differential_dump_stream.rs`.

mod common;

use common::differential::*;
use common::{Client, Resp};

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

/// Payloads whose bytes the encoding fixes: Cairn's must be Redis's. (Strings that LZF
/// compresses are left to the round trips: Redis's compressor starts from an uninitialized
/// hash table, so its output is not a function of the input alone.)
const DUMP_EXACT: &[&str] = &[
    "DUMP nothing",
    "SET foo bar",
    "DUMP foo",
    "SET empty \"\"",
    "DUMP empty",
    "SET i8 -128",
    "DUMP i8",
    "SET i16 32767",
    "DUMP i16",
    "SET i32 -2147483648",
    "DUMP i32",
    "SET i64 9223372036854775807",
    "DUMP i64",
    "SET notint 007",
    "DUMP notint",
    "SET bin \"a\\x00\\xff\\r\\n\"",
    "DUMP bin",
    "SET text the-quick-brown-fox-jumps-over-the-lazy-dog-0123456789",
    "DUMP text",
    "RPUSH l a b c 1 2 -300 70000",
    "DUMP l",
    "RPUSH one x",
    "DUMP one",
    "SADD ints 3 1 2 -7",
    "DUMP ints",
    // A 64-bit intset of one member (16 bytes): over 20 bytes a payload string may be
    // LZF-compressed, and the compressor's choices are its own.
    "SADD wide 4294967296",
    "DUMP wide",
    "HSET h f v n 12 \"\" empty",
    "DUMP h",
    "TYPE l",
];

/// RESTORE's options and errors, in Redis's order of checks. Payloads: "bar" as Redis 7.0
/// dumps it, one with a damaged CRC, one from a newer RDB version, one whose footer checks out
/// around an unknown type byte, and one from RDB version 9.
const RESTORE_ERRORS: &[&str] = &[
    "SET foo bar",
    "RESTORE",
    "RESTORE k 0",
    "DUMP",
    "DUMP a b",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" nope",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" IDLETIME",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" FREQ",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" IDLETIME x",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" IDLETIME -1",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" FREQ 256",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" FREQ -1",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" FREQ 1.5",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" IDLETIME 1 FREQ 1",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" FREQ 1 IDLETIME 1",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" REPLACE REPLACE absttl FREQ 0 freq 255",
    "GET k",
    "DEL k",
    "RESTORE foo 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" nope",
    "RESTORE foo 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "RESTORE foo 0 \"...\"",
    "RESTORE foo x \"...\"",
    "RESTORE foo -1 \"...\"",
    "RESTORE k x \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "RESTORE k -1 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "RESTORE k 1.5 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "RESTORE foo x \"...\" REPLACE",
    "RESTORE foo -1 \"...\" REPLACE",
    "RESTORE k 0 \"...\"",
    "RESTORE k 0 \"\"",
    "RESTORE k 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x18\"",
    "RESTORE k 0 \"\\x00\\x03bar\\x0b\\x00\\x8f\\x61\\xf4\\x13\\x13\\xf9\\x14\\x9e\"",
    "RESTORE foo 0 \"...\" REPLACE",
    "RESTORE k 0 \"\\x63\\x03bar\\x0a\\x00\\xfa\\xd1\\xa0\\xbf\\x7f\\xf5\\x3e\\x01\"",
    "RESTORE foo 0 \"\\x63\\x03bar\\x0a\\x00\\xfa\\xd1\\xa0\\xbf\\x7f\\xf5\\x3e\\x01\" REPLACE",
    "RESTORE k 0 \"\\x01\\x00\\x0a\\x00\\x5b\\xf8\\x25\\xcc\\x6c\\x17\\x43\\x56\"",
    "GET foo",
    "EXISTS k",
    "RESTORE k 0 \"\\x00\\x03bar\\x09\\x00\\x36\\x4c\\x18\\xac\\xba\\xe0\\x9e\\xa6\"",
    "GET k",
    "OBJECT ENCODING k",
    "near 1: OBJECT IDLETIME k",
    "RESTORE foo 0 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" REPLACE IDLETIME 1000",
    "near 2: OBJECT IDLETIME foo",
    "RESTORE past 1000 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" ABSTTL",
    "EXISTS past",
    "RESTORE foo 1 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" ABSTTL REPLACE",
    "EXISTS foo",
    "RESTORE ttl 5000 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "near 1000: PTTL ttl",
    "RESTORE long 2569591501 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\"",
    "near 1000: PTTL long",
    "RESTORE abs 9999999999999 \"\\x00\\x03bar\\x0a\\x00\\xe6\\xbe\\x49\\x60\\xee\\x66\\xfd\\x17\" ABSTTL",
    "PEXPIRETIME abs",
];

/// Encodings Redis's loader gives: a plain payload by its contents, an intset by its count,
/// under default and changed thresholds.
const RESTORE_ENCODINGS: &[&str] = &[
    // Plain hashes (type 4): compact unless a value is too long or there are too many fields.
    "RESTORE plain 0 \"\\x04\\x01\\x01a\\x011\\x0a\\x00\\xae\\x36\\x5d\\x68\\x3a\\x78\\xdd\\x10\"",
    "OBJECT ENCODING plain",
    "RESTORE long 0 \"\\x04\\x01\\x01f\\x40\\x64vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\\x0a\\x00\\xb9\\x48\\x27\\x09\\x99\\x7a\\x4f\\x82\"",
    "OBJECT ENCODING long",
    "HSTRLEN long f",
    "CONFIG SET hash-max-listpack-entries 1",
    "RESTORE plain2 0 \"\\x04\\x02\\x01a\\x011\\x01b\\x01x\\x0a\\x00\\xcb\\x58\\x1e\\xa4\\xc5\\xcb\\xb8\\x9b\"",
    "OBJECT ENCODING plain2",
    "sort: HGETALL plain2",
    "CONFIG SET hash-max-listpack-entries 512",
    "CONFIG SET set-max-intset-entries 1",
    "RESTORE s 0 \"\\x0b\\x0e\\x02\\x00\\x00\\x00\\x03\\x00\\x00\\x00\\x01\\x00\\x02\\x00\\x03\\x00\\x0a\\x00\\xa5\\x02\\x5c\\xe2\\x6d\\x6e\\x4d\\x1b\"",
    "OBJECT ENCODING s",
    "sort: SMEMBERS s",
    "CONFIG SET set-max-intset-entries 512",
    "RESTORE s2 0 \"\\x02\\x02\\xc0\\x07\\x015\\x0a\\x00\\xc6\\xdc\\xc2\\x8f\\xa8\\x8b\\xfc\\xb8\"",
    "OBJECT ENCODING s2",
    "SMEMBERS s2",
    "RESTORE s3 0 \"\\x02\\x02\\x01x\\x01y\\x0a\\x00\\xac\\x3a\\x8d\\x68\\x11\\x84\\xaa\\x31\"",
    "OBJECT ENCODING s3",
];

const MEMORY: &[&str] = &[
    "MEMORY USAGE nothing",
    "SET foo bar",
    "MEMORY USAGE foo",
    "SET i 12345",
    "MEMORY USAGE i",
    "SET e44 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "MEMORY USAGE e44",
    "SET r45 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "MEMORY USAGE r45",
    "SET a-key-name-of-more-than-thirty-two-bytes 1",
    "MEMORY USAGE a-key-name-of-more-than-thirty-two-bytes",
    "MEMORY USAGE foo SAMPLES 0",
    "MEMORY USAGE foo samples 3 SAMPLES 1",
    "MEMORY USAGE foo SAMPLES -1",
    "MEMORY USAGE foo SAMPLES x",
    "MEMORY USAGE foo SAMPLES",
    "MEMORY USAGE foo bar",
    "MEMORY USAGE nothing SAMPLES x",
    "MEMORY",
    "MEMORY USAGE",
    "MEMORY HELP x",
    "MEMORY NOPE",
    "MEMORY HELP",
    "CONFIG GET list-compress-depth",
    "CONFIG SET list-compress-depth -1",
    "CONFIG SET list-compress-depth 2147483648",
    "CONFIG SET list-compress-depth x",
    "CONFIG SET list-compress-depth 3",
    "CONFIG GET list-compress-depth",
    "CONFIG SET list-compress-depth 0",
];

#[test]
fn scripts() {
    check_both_protocols(&[
        ("dump-exact", DUMP_EXACT),
        ("restore-errors", RESTORE_ERRORS),
        ("restore-encodings", RESTORE_ENCODINGS),
        ("memory", MEMORY),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Round trips inside each server
// ---------------------------------------------------------------------------------------------

/// Builds values, dumps each (`save NAME: DUMP key` keeps each server's own payload), restores
/// them under new names (`$NAME` is that server's payload) and reads them back. Replies are
/// compared as the scripts above compare them; the payloads themselves are not (LZF and
/// hashtable order are each server's own).
const ROUND_TRIPS: &[&str] = &[
    "SET s hello",
    "SET n -42",
    "SET long aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "RPUSH l a b c 1 2 3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "SADD ints 5 -1 70000",
    "SADD strs a b c 1",
    "HSET h a 1 b 2 c hello",
    "HSET bigh f vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv g 1",
    "SET ttl x PX 100000",
    "CONFIG SET hash-max-listpack-value 1000",
    "HSET lp f vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
    "OBJECT ENCODING lp",
    "save LP: DUMP lp",
    "CONFIG SET hash-max-listpack-value 64",
    "RESTORE lp2 0 $LP",
    "OBJECT ENCODING lp2",
    "HGETALL lp2",
    "HSET lp2 g 1",
    "OBJECT ENCODING lp2",
    "HSET lp2 h vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
    "OBJECT ENCODING lp2",
    "save S: DUMP s",
    "save N: DUMP n",
    "save LONG: DUMP long",
    "save L: DUMP l",
    "save INTS: DUMP ints",
    "save STRS: DUMP strs",
    "save H: DUMP h",
    "save BIGH: DUMP bigh",
    "save TTL: DUMP ttl",
    "RESTORE s2 0 $S",
    "RESTORE n2 0 $N",
    "RESTORE long2 0 $LONG",
    "RESTORE l2 0 $L",
    "RESTORE ints2 0 $INTS",
    "RESTORE strs2 0 $STRS",
    "RESTORE h2 0 $H",
    "RESTORE bigh2 0 $BIGH",
    "RESTORE ttl2 0 $TTL",
    "GET s2",
    "OBJECT ENCODING s2",
    "GET n2",
    "OBJECT ENCODING n2",
    "GET long2",
    "OBJECT ENCODING long2",
    "LRANGE l2 0 -1",
    "OBJECT ENCODING l2",
    "SMEMBERS ints2",
    "OBJECT ENCODING ints2",
    "sort: SMEMBERS strs2",
    "OBJECT ENCODING strs2",
    "HGETALL h2",
    "OBJECT ENCODING h2",
    "sort: HGETALL bigh2",
    "OBJECT ENCODING bigh2",
    "GET ttl2",
    "TTL ttl2",
    "RESTORE s 0 $S",
    "RESTORE s 0 $L REPLACE",
    "LRANGE s 0 -1",
    "RESTORE s 0 $H REPLACE ABSTTL IDLETIME 10",
    "HGETALL s",
    "near 1: OBJECT IDLETIME s",
    "RESTORE tl 60000 $TTL",
    "near 1000: PTTL tl",
    "RESTORE gone 1 $S ABSTTL",
    "EXISTS gone",
    "DUMP nothing",
];

/// A payload each server gave for the same `save` line.
struct Saved {
    name: String,
    redis: Vec<u8>,
    cairn: Vec<u8>,
}

/// The bulk string of a raw reply (a `save` line's DUMP must give one).
fn bulk_payload(raw: Result<Vec<u8>, String>, side: &str, command: &str) -> Vec<u8> {
    let raw = raw.unwrap_or_else(|e| panic!("{side}: {command}: {e}"));
    assert_eq!(raw[0], b'$', "{side}: {command} gave {}", show(&raw));
    let body = raw.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    raw[body..raw.len() - 2].to_vec()
}

/// `argv` with every `$NAME` replaced by that side's saved payload.
fn substitute(argv: &[Vec<u8>], saved: &[Saved], redis_side: bool) -> Vec<Vec<u8>> {
    argv.iter()
        .map(|word| {
            let found = word
                .strip_prefix(b"$")
                .and_then(|name| saved.iter().find(|s| s.name.as_bytes() == name));
            match found {
                Some(s) if redis_side => s.redis.clone(),
                Some(s) => s.cairn.clone(),
                None => word.clone(),
            }
        })
        .collect()
}

/// Runs a script with saved payloads on both servers and reports every mismatch.
fn run_round_trips(pair: &Pair, resp3: bool, script: &[&str]) -> Vec<String> {
    let mut failures = Vec::new();
    let (mut redis, mut cairn) = pair.connect(resp3, &mut failures);
    let flush = parse_line("FLUSHALL");
    exchange(&mut redis, &mut cairn, "round trips", &flush, &mut failures);
    let mut saved: Vec<Saved> = Vec::new();
    for line in script {
        if let Some(rest) = line.strip_prefix("save ") {
            let (name, command) = rest.split_once(": ").expect("save NAME: COMMAND");
            let request = encode(&words(command));
            saved.push(Saved {
                name: name.to_string(),
                redis: bulk_payload(try_reply(&mut redis.stream, &request), "redis", command),
                cairn: bulk_payload(try_reply(&mut cairn.stream, &request), "cairn", command),
            });
            continue;
        }
        let (mode, argv) = parse_line(line);
        let expected = try_reply(&mut redis.stream, &encode(&substitute(&argv, &saved, true)));
        let actual = try_reply(
            &mut cairn.stream,
            &encode(&substitute(&argv, &saved, false)),
        );
        match (expected, actual) {
            (Ok(e), Ok(a)) if agree(mode, &e, &a) => {}
            (e, a) => failures.push(format!(
                "{line}\n    redis: {:?}\n    cairn: {:?}",
                e.map(|r| show(&r)),
                a.map(|r| show(&r))
            )),
        }
    }
    failures
}

#[test]
fn round_trips_within_each_server() {
    let pair = Pair::start();
    let mut failures = run_round_trips(&pair, false, ROUND_TRIPS);
    failures.extend(
        run_round_trips(&pair, true, ROUND_TRIPS)
            .into_iter()
            .map(|f| format!("[RESP3] {f}")),
    );
    assert_none("RESP2/RESP3", failures);
}

// ---------------------------------------------------------------------------------------------
// Across servers
// ---------------------------------------------------------------------------------------------

/// Commands that build one key each, in every encoding and around each threshold.
fn fixtures() -> Vec<(String, Vec<Vec<Vec<u8>>>)> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut out: Vec<(String, Vec<Vec<Vec<u8>>>)> = Vec::new();
    let bytes = |s: &str| s.as_bytes().to_vec();
    let mut add = |key: &str, command: &str, args: Vec<Vec<u8>>| {
        let mut argv = vec![bytes(command), bytes(key)];
        argv.extend(args);
        out.push((key.to_string(), vec![argv]));
    };
    let text = |items: &mut dyn Iterator<Item = String>| -> Vec<Vec<u8>> {
        items.map(String::into_bytes).collect()
    };

    for (i, s) in [
        "",
        "0",
        "-1",
        "12345",
        "-2147483649",
        "9223372036854775807",
        "007",
        "1.5",
    ]
    .iter()
    .enumerate()
    {
        add(&format!("str{i}"), "SET", vec![bytes(s)]);
    }
    add("str_44", "SET", vec![vec![b'q'; 44]]);
    add("str_45", "SET", vec![vec![b'q'; 45]]);
    add("str_lzf", "SET", vec![b"compressible ".repeat(300)]);
    add(
        "str_noise",
        "SET",
        vec![(0..3000).map(|_| rng.u8(..)).collect()],
    );
    add(
        "str_ttl",
        "SET",
        vec![bytes("v"), bytes("PX"), bytes("500000")],
    );

    add(
        "list_small",
        "RPUSH",
        text(&mut ["a", "", "12", "-4097", "x"].iter().map(|s| s.to_string())),
    );
    add(
        "list_many",
        "RPUSH",
        text(&mut (0..3000).map(|i| format!("item:{}", i % 300))),
    );
    add(
        "list_ints",
        "RPUSH",
        text(&mut (0..600).map(|i| (i * 7919 - 1_000_000).to_string())),
    );
    add(
        "list_big",
        "RPUSH",
        vec![
            vec![b'x'; 10_000],
            bytes("y"),
            (0..9000).map(|_| rng.u8(..)).collect(),
        ],
    );

    add(
        "set_ints",
        "SADD",
        text(&mut [3, -5, 0, 70_000].iter().map(i64::to_string)),
    );
    add(
        "set_wide",
        "SADD",
        text(&mut [i64::MAX, i64::MIN].iter().map(i64::to_string)),
    );
    add(
        "set_512",
        "SADD",
        text(&mut (0..512).map(|i| (i * 3).to_string())),
    );
    add(
        "set_513",
        "SADD",
        text(&mut (0..513).map(|i| (i * 3).to_string())),
    );
    add(
        "set_strs",
        "SADD",
        text(&mut ["a", "01", "", "b"].iter().map(|s| s.to_string())),
    );
    add(
        "set_many",
        "SADD",
        text(&mut (0..2000).map(|i| format!("member-{i}"))),
    );

    let pairs = |n: usize, value: &dyn Fn(usize) -> String| -> Vec<Vec<u8>> {
        (0..n)
            .flat_map(|i| [format!("field:{i}").into_bytes(), value(i).into_bytes()])
            .collect()
    };
    add("hash_small", "HSET", pairs(5, &|i| format!("v{i}")));
    add(
        "hash_ints",
        "HSET",
        pairs(5, &|i| (i as i64 * -70_001).to_string()),
    );
    add("hash_64", "HSET", vec![vec![b'f'; 64], vec![b'v'; 64]]);
    add(
        "hash_65",
        "HSET",
        vec![bytes("f"), vec![b'v'; 65], bytes("g"), bytes("1")],
    );
    add("hash_512", "HSET", pairs(512, &|i| i.to_string()));
    add("hash_513", "HSET", pairs(513, &|i| i.to_string()));
    out
}

/// What a key holds as seen from outside: type, encoding, contents (unordered where the
/// encoding's order is a hashtable's) and whether it has a TTL.
fn describe(client: &mut Client, key: &[u8]) -> String {
    let mut call = |args: &[&[u8]]| client.call(args).expect("server answers");
    let kind = call(&[b"TYPE", key]);
    let encoding = call(&[b"OBJECT", b"ENCODING", key]);
    let contents = match &kind {
        Resp::Simple(t) if t == "string" => call(&[b"GET", key]),
        Resp::Simple(t) if t == "list" => call(&[b"LRANGE", key, b"0", b"-1"]),
        Resp::Simple(t) if t == "set" => sorted(call(&[b"SMEMBERS", key])),
        Resp::Simple(t) if t == "hash" && encoding == Resp::Bulk(b"listpack".to_vec()) => {
            call(&[b"HGETALL", key])
        }
        Resp::Simple(t) if t == "hash" => pairs_sorted(call(&[b"HGETALL", key])),
        other => other.clone(),
    };
    let has_ttl = !matches!(call(&[b"PTTL", key]), Resp::Int(-1));
    let contents = format!("{contents:?}");
    let shown: String = contents.chars().take(300).collect();
    format!(
        "{kind:?} {encoding:?} ttl={has_ttl} {shown} ({} chars, fingerprint {:x})",
        contents.len(),
        fnv(contents.as_bytes())
    )
}

/// A short fingerprint, so two long contents that differ past their shown prefix still differ.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn sorted(reply: Resp) -> Resp {
    match reply {
        Resp::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Resp::Array(items)
        }
        other => other,
    }
}

fn pairs_sorted(reply: Resp) -> Resp {
    match reply {
        Resp::Array(items) => {
            let mut pairs: Vec<Vec<Resp>> = items.chunks(2).map(<[Resp]>::to_vec).collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            Resp::Array(pairs.concat())
        }
        other => other,
    }
}

/// Encoding thresholds both servers are set to for a pass: Redis's defaults, then small ones.
const CONFIGURATIONS: &[&[(&str, &str)]] = &[
    &[
        ("hash-max-listpack-entries", "512"),
        ("hash-max-listpack-value", "64"),
        ("set-max-intset-entries", "512"),
        ("list-max-listpack-size", "-2"),
        ("list-compress-depth", "0"),
    ],
    &[
        ("hash-max-listpack-entries", "4"),
        ("hash-max-listpack-value", "8"),
        ("set-max-intset-entries", "3"),
        ("list-max-listpack-size", "5"),
        ("list-compress-depth", "1"),
    ],
];

fn configure(client: &mut Client, settings: &[(&str, &str)]) {
    for (name, value) in settings {
        let reply = client.must(&["CONFIG", "SET", name, value]);
        assert_eq!(
            reply,
            Resp::Simple("OK".into()),
            "CONFIG SET {name} {value}"
        );
    }
}

/// Builds every fixture on `from`, DUMPs it there and RESTOREs it into `to` under the same
/// name; the key must then look the same on both. Returns every difference.
fn dump_across(from: &mut Client, to: &mut Client, from_name: &str, to_name: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for (n, settings) in CONFIGURATIONS.iter().enumerate() {
        configure(from, settings);
        configure(to, settings);
        for client in [&mut *from, &mut *to] {
            assert_eq!(client.must(&["FLUSHALL"]), Resp::Simple("OK".into()));
        }
        for (key, commands) in fixtures() {
            let label = format!("configuration {n}, {key}");
            for command in &commands {
                let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
                let reply = from.call(&args).unwrap();
                assert!(!matches!(reply, Resp::Error(_)), "{label}: {reply:?}");
            }
            let key = key.as_bytes();
            let Resp::Bulk(payload) = from.call(&[b"DUMP", key]).unwrap() else {
                failures.push(format!("{label}: {from_name} gave no payload"));
                continue;
            };
            let ttl = match from.call(&[b"PTTL", key]).unwrap() {
                Resp::Int(ms) if ms > 0 => ms.to_string().into_bytes(),
                _ => b"0".to_vec(),
            };
            let reply = to.call(&[b"RESTORE", key, &ttl, &payload]).unwrap();
            if reply != Resp::Simple("OK".into()) {
                failures.push(format!("{label}: {to_name}'s RESTORE answered {reply:?}"));
                continue;
            }
            let (source, copy) = (describe(from, key), describe(to, key));
            if source != copy {
                failures.push(format!(
                    "{label}:\n    {from_name}: {source}\n    {to_name}: {copy}"
                ));
            }
            let usage = |c: &mut Client| match c.call(&[b"MEMORY", b"USAGE", key]).unwrap() {
                Resp::Int(bytes) => bytes,
                other => panic!("{label}: MEMORY USAGE answered {other:?}"),
            };
            let (a, b) = (usage(from), usage(to));
            if !(b > 0 && a > 0 && b <= a * 10 && a <= b * 10) {
                failures.push(format!(
                    "{label}: MEMORY USAGE {from_name} {a}, {to_name} {b}: not the same order of magnitude"
                ));
            }
        }
    }
    configure(from, CONFIGURATIONS[0]);
    configure(to, CONFIGURATIONS[0]);
    failures
}

#[test]
fn redis_dumps_restore_into_cairn() {
    let pair = Pair::start();
    let mut redis = Client::connect(&pair.oracle.addr()).unwrap();
    let mut cairn = Client::connect(&pair.cairn.addr()).unwrap();
    let failures = dump_across(&mut redis, &mut cairn, "redis", "cairn");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cairn_dumps_restore_into_redis() {
    let pair = Pair::start();
    let mut redis = Client::connect(&pair.oracle.addr()).unwrap();
    let mut cairn = Client::connect(&pair.cairn.addr()).unwrap();
    let failures = dump_across(&mut cairn, &mut redis, "cairn", "redis");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
