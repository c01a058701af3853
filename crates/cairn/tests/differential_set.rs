//! Differential tests of the set family against Redis 7.0.15 (harness:
//! `common/differential.rs`): every command, its options and its errors, over RESP2 and RESP3,
//! then a seeded random sequence compared reply by reply.
//!
//! Replies whose order is a hashtable's (SMEMBERS, SINTER, SUNION, SDIFF, SSCAN of a
//! hashtable) are compared as multisets (`sort:`); an intset's replies are compared exactly
//! (both list it in ascending order). SPOP and SRANDMEMBER are compared only where the result
//! does not depend on randomness (a count of at least the set's size, or 0).

mod common;

use common::differential::*;

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

const BASICS: &[&str] = &[
    "SADD s 3 1 2 2",
    "SADD s 2 4",
    "SCARD s",
    "SMEMBERS s",
    "OBJECT ENCODING s",
    "SISMEMBER s 1",
    "SISMEMBER s 01",
    "SMISMEMBER s 1 5 4 1",
    "SREM s 5 1 1",
    "SMEMBERS s",
    "TYPE s",
    "SADD s 007",
    "OBJECT ENCODING s",
    "SREM s 007",
    "OBJECT ENCODING s",
    "sort: SMEMBERS s",
    "SADD big 213244124402402314402033402",
    "OBJECT ENCODING big",
    "SADD signs -0 +1",
    "OBJECT ENCODING signs",
    "SADD wide 9223372036854775807 -9223372036854775808 0 -32768 32767 65536 -2147483649",
    "OBJECT ENCODING wide",
    "SMEMBERS wide",
    "SREM wide 9223372036854775807 -9223372036854775808",
    "SMEMBERS wide",
    "SADD h foo bar",
    "OBJECT ENCODING h",
    "SADD bin \"a\\x00b\" \"\" \"\\xff\\r\\n\"",
    "SISMEMBER bin \"a\\x00b\"",
    "SISMEMBER bin \"\"",
    "sort: SMEMBERS bin",
    "SREM bin \"a\\x00b\" \"\" \"\\xff\\r\\n\" x",
    "EXISTS bin",
    "SREM s 2 3 4 99",
    "EXISTS s",
    "SCARD nokey",
    "SISMEMBER nokey a",
    "SMISMEMBER nokey a b",
    "SMEMBERS nokey",
    "SET str x",
    "SADD str a",
    "SREM str a",
    "SCARD str",
    "SISMEMBER str a",
    "SMISMEMBER str a",
    "SMEMBERS str",
    "SADD s",
    "SREM s",
    "SCARD",
    "SISMEMBER s",
    "SMISMEMBER s",
    "SMEMBERS a b",
];

const SPOP_SRANDMEMBER: &[&str] = &[
    "SADD one 42",
    "SRANDMEMBER one",
    "SRANDMEMBER one 1",
    "SRANDMEMBER one 5",
    "SRANDMEMBER one -3",
    "SRANDMEMBER one 0",
    "SPOP one",
    "EXISTS one",
    "SADD one 42",
    "SPOP one 1",
    "SADD h only",
    "SPOP h 7",
    "EXISTS h",
    "SADD ints 5 3 9 1",
    "SRANDMEMBER ints 4",
    "SRANDMEMBER ints 100",
    "SPOP ints 0",
    "SPOP ints 4",
    "EXISTS ints",
    "SADD ints 5 3 9 1",
    "SPOP ints 9223372036854775807",
    "SADD mixed 30 10 20 x",
    "SREM mixed x",
    "SPOP mixed 3",
    "SADD strs a b c d",
    "sort: SRANDMEMBER strs 4",
    "sort: SPOP strs 10",
    "SPOP nokey",
    "SPOP nokey 3",
    "SPOP nokey 0",
    "SRANDMEMBER nokey",
    "SRANDMEMBER nokey 3",
    "SRANDMEMBER nokey -3",
    "SRANDMEMBER nokey 0",
    "SADD s a b c",
    "SPOP s -1",
    "SPOP s x",
    "SPOP s 1.5",
    "SPOP s 9223372036854775808",
    "SPOP s 1 2",
    "SRANDMEMBER s x",
    "SRANDMEMBER s -9223372036854775808",
    "SRANDMEMBER s 9223372036854775808",
    "SRANDMEMBER s 1 2",
    "SRANDMEMBER s 0",
    "SCARD s",
    "SET str x",
    "SPOP str",
    "SPOP str 0",
    "SPOP str x",
    "SRANDMEMBER str",
    "SRANDMEMBER str 0",
    "SRANDMEMBER str x",
    "SPOP nokey x",
    "SRANDMEMBER nokey x",
    "SPOP",
    "SRANDMEMBER",
];

const SMOVE: &[&str] = &[
    "SADD src 1 a b",
    "SADD dst 2 3 4",
    "SMOVE src dst 1",
    "OBJECT ENCODING dst",
    "SMEMBERS dst",
    "SMOVE src dst a",
    "OBJECT ENCODING dst",
    "SMOVE src dst nothere",
    "SMOVE src dst b",
    "EXISTS src",
    "SCARD dst",
    "SADD from 7 x",
    "SMOVE from new1 7",
    "OBJECT ENCODING new1",
    "SMOVE from new2 x",
    "OBJECT ENCODING new2",
    "EXISTS from",
    "SADD a 1 2",
    "SADD b 1",
    "SMOVE a b 1",
    "SMEMBERS a",
    "SMOVE b b 1",
    "SMOVE b b 5",
    "SET str x",
    "SMOVE nokey str a",
    "SMOVE str b a",
    "SMOVE b str 1",
    "SMOVE str str a",
    "SMOVE a b",
];

/// SMOVE tells the destination's watchers only when it added the member: a destination that
/// already held it is unchanged, so a transaction watching it still commits.
const SMOVE_WATCH: &[&str] = &[
    "SADD srcset a b",
    "SADD dstset a",
    "WATCH dstset",
    "SMOVE srcset dstset a",
    "MULTI",
    "SCARD dstset",
    "EXEC",
    "WATCH dstset",
    "SMOVE srcset dstset b",
    "MULTI",
    "SCARD dstset",
    "EXEC",
    "SADD one x",
    "SADD two x",
    "WATCH one",
    "SMOVE one two x",
    "MULTI",
    "EXISTS one",
    "EXEC",
];

const ALGEBRA: &[&str] = &[
    "SADD a 1 2 3 4 5",
    "SADD b 4 5 6 7",
    "SADD c 5 7 9",
    "SINTER a b",
    "SINTER a b c",
    "SINTER a nokey",
    "SINTER a a a",
    "SUNION a b",
    "SUNION a nokey c",
    "SUNION nokey",
    "SDIFF a b c",
    "SDIFF b a c",
    "SDIFF nokey a",
    "SDIFF a a",
    "SDIFF a b a",
    "SINTERCARD 2 a b",
    "SINTERCARD 2 a b LIMIT 1",
    "SINTERCARD 2 a b LIMIT 1 LIMIT 0",
    "SINTERCARD 3 a b c",
    "SINTERCARD 1 nokey LIMIT 10",
    "SINTERCARD 0 a",
    "SINTERCARD x a",
    "SINTERCARD 3 a b",
    "SINTERCARD 1 a b",
    "SINTERCARD 1 a LIMIT",
    "SINTERCARD 1 a LIMIT -1",
    "SINTERCARD 1 a LIMIT x",
    "SINTERCARD 1 a \"limit\\x00x\" 1",
    "SINTERCARD",
    "SADD h 1 2 3 x 100 200 300 400",
    "SREM h x",
    "SINTER a h",
    "SDIFF a h",
    "sort: SUNION h c",
    "SADD s x y 3",
    "sort: SDIFF s a",
    "sort: SUNION s h",
    "SINTERSTORE dst a b",
    "SMEMBERS dst",
    "OBJECT ENCODING dst",
    "SET other v",
    "EXPIRE other 100",
    "SUNIONSTORE other a c",
    "TTL other",
    "SDIFFSTORE dst a b c",
    "SMEMBERS dst",
    "SDIFFSTORE dst a a",
    "EXISTS dst",
    "SADD dst z",
    "SINTERSTORE dst a nokey",
    "EXISTS dst",
    "SADD dst z",
    "SUNIONSTORE dst nokey1 nokey2",
    "EXISTS dst",
    "SADD self 1 2 3",
    "SINTERSTORE self self b a",
    "SMEMBERS self",
    "SADD strs p q 1",
    "SUNIONSTORE u a strs",
    "OBJECT ENCODING u",
    "SDIFFSTORE d2 strs p",
    "OBJECT ENCODING d2",
    "SADD five 1 2 3 4 q",
    "SADD six 1 2 3 4 5 q",
    "SADD sub1 q",
    "SADD sub2 zz",
    "SDIFFSTORE d4 five sub1 sub2",
    "OBJECT ENCODING d4",
    "SDIFFSTORE d5 six sub1 sub2",
    "OBJECT ENCODING d5",
    "sort: SMEMBERS d5",
    "SET str x",
    "SINTER a str",
    "SINTER nokey str",
    "SINTERCARD 2 str nokey",
    "SUNION str",
    "SDIFF nokey str",
    "SINTERSTORE dst2 str a",
    "SDIFFSTORE dst2 str",
    "SUNIONSTORE str a",
    "TYPE str",
    "SINTER",
    "SDIFFSTORE d",
];

const SSCAN: &[&str] = &[
    "SADD s 1 2 3 10 20 30",
    "SSCAN s 0",
    "SSCAN s 5",
    "SSCAN s 0 COUNT 1",
    "SSCAN s 0 MATCH 1*",
    "SSCAN s 0 match *0 count 2",
    "SSCAN s 0 MATCH *",
    "SSCAN s \"\" MATCH 3*",
    "SSCAN s 0 COUNT 0",
    "SSCAN s 0 COUNT -1",
    "SSCAN s 0 COUNT x",
    "SSCAN s 0 COUNT",
    "SSCAN s 0 TYPE set",
    "SSCAN s x",
    "SSCAN s \" 0\"",
    "SSCAN s 18446744073709551616",
    "SSCAN s -1",
    "SSCAN nokey 0",
    "SSCAN nokey 0 COUNT 0",
    "SSCAN nokey x",
    "SET str x",
    "SSCAN str 0",
    "SSCAN str 0 COUNT 0",
    "SADD h only",
    "SSCAN h 0",
    "SSCAN h 0 MATCH x*",
    "SADD big a b c d e f g h i j k l m n o p",
    "sort: SSCAN big 0 COUNT 1000",
    "sort: SSCAN big 0 COUNT 1000 MATCH [a-e]",
    "SSCAN s",
];

/// Sets through the keyspace commands and a snapshot round trip.
const KEYSPACE: &[&str] = &[
    "SADD ints 3 1 2",
    "SADD strs a b c",
    "COPY ints ints2",
    "SMEMBERS ints2",
    "OBJECT ENCODING ints2",
    "COPY strs strs2",
    "sort: SMEMBERS strs2",
    "RENAME strs2 strs3",
    "TYPE strs3",
    "DEBUG RELOAD",
    "OBJECT ENCODING ints",
    "OBJECT ENCODING strs",
    "SMEMBERS ints",
    "sort: SMEMBERS strs3",
    "SADD strs 4",
    "SCARD strs",
];

#[test]
fn set_family_matches_redis() {
    check_both_protocols(&[
        ("basics", BASICS),
        ("spop-srandmember", SPOP_SRANDMEMBER),
        ("smove", SMOVE),
        ("smove-watch", SMOVE_WATCH),
        ("algebra", ALGEBRA),
        ("sscan", SSCAN),
        ("keyspace", KEYSPACE),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Seeded random sequence
// ---------------------------------------------------------------------------------------------

/// A fixed seed, so a failure replays exactly.
const SEED: u64 = 0x5e75_5eed;
const COMMANDS: usize = 3000;

/// Members: small integers (intsets), integers of every width, and strings (hashtables).
fn member(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..10) {
        0..=5 => rng.i64(-4..24).to_string(),
        6 => ["70000", "-2147483649", "9223372036854775807"][rng.usize(0..3)].to_string(),
        _ => ["x", "y", "z", "007", "-0", "\"a b\""][rng.usize(0..6)].to_string(),
    }
}

fn members(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(1..5);
    (0..n).map(|_| member(rng)).collect::<Vec<_>>().join(" ")
}

/// Four set keys and a string key, so commands meet WRONGTYPE and missing keys.
fn key(rng: &mut fastrand::Rng) -> &'static str {
    ["s1", "s2", "s3", "s4", "str"][rng.usize(0..5)]
}

fn keys(rng: &mut fastrand::Rng) -> String {
    let n = rng.usize(1..4);
    (0..n).map(|_| key(rng)).collect::<Vec<_>>().join(" ")
}

fn random_command(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..22) {
        0..=4 => format!("SADD {} {}", key(rng), members(rng)),
        5 => {
            // Past set-max-intset-entries now and then.
            let start = rng.i64(-10..10);
            let all: Vec<String> = (start..start + 520).map(|i| i.to_string()).collect();
            format!("SADD {} {}", key(rng), all.join(" "))
        }
        6..=7 => format!("SREM {} {}", key(rng), members(rng)),
        8 => format!("SMOVE {} {} {}", key(rng), key(rng), member(rng)),
        9 => format!("SCARD {}", key(rng)),
        10 => format!("SISMEMBER {} {}", key(rng), member(rng)),
        11 => format!("SMISMEMBER {} {}", key(rng), members(rng)),
        12 => format!("sort: SMEMBERS {}", key(rng)),
        13 => {
            let name = ["SINTER", "SUNION", "SDIFF"][rng.usize(0..3)];
            format!("sort: {name} {}", keys(rng))
        }
        14..=15 => {
            let name = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][rng.usize(0..3)];
            format!("{name} {} {}", key(rng), keys(rng))
        }
        16 => {
            let keys = keys(rng);
            let numkeys = keys.split(' ').count();
            match rng.u8(0..3) {
                0 => format!("SINTERCARD {numkeys} {keys}"),
                _ => format!("SINTERCARD {numkeys} {keys} LIMIT {}", rng.u8(0..4)),
            }
        }
        17 => format!("OBJECT ENCODING {}", key(rng)),
        // Whole-set SPOP/SRANDMEMBER: no randomness in what they return.
        18 => format!("sort: SPOP {} 100000", key(rng)),
        19 => match rng.u8(0..3) {
            0 => format!("sort: SRANDMEMBER {} 100000", key(rng)),
            1 => format!("SRANDMEMBER {} 0", key(rng)),
            _ => format!("SPOP {} 0", key(rng)),
        },
        20 => format!("sort: SSCAN {} 0 COUNT 100000", key(rng)),
        _ => match rng.u8(0..4) {
            0 => format!("DEL {}", key(rng)),
            1 => "SET str v".to_string(),
            2 => format!(
                "sort: SSCAN {} 0 COUNT 100000 MATCH *{}*",
                key(rng),
                rng.u8(0..10)
            ),
            _ => format!("TYPE {}", key(rng)),
        },
    }
}

#[test]
fn random_set_commands_match_redis() {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let lines: Vec<String> = (0..COMMANDS).map(|_| random_command(&mut rng)).collect();
    let script: Vec<&str> = lines.iter().map(String::as_str).collect();
    check_both_protocols(&[("random", &script)]);
}
