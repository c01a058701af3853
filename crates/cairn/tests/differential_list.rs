//! Differential tests of the list family (harness: `common/differential.rs`): scripted
//! commands with their options and errors, then a seeded random sequence over a few keys,
//! compared reply by reply with redis-server 7.0.15.
//!
//! Left out on purpose: blocking commands that would actually block (the node parks the
//! client; Redis would hold the connection), and COMMAND INFO of list commands (Cairn's key
//! specs are derived from the key triple, so their flags are coarser than Redis's).

mod common;

use common::differential::*;

// ---------------------------------------------------------------------------------------------
// Scripts
// ---------------------------------------------------------------------------------------------

const PUSH_POP: &[&str] = &[
    "LPUSH l a",
    "LPUSH l b c",
    "RPUSH l d e",
    "LRANGE l 0 -1",
    "LLEN l",
    "TYPE l",
    "OBJECT ENCODING l",
    "LPUSHX l x",
    "RPUSHX l y z",
    "LPUSHX missing a",
    "RPUSHX missing a b",
    "EXISTS missing",
    "LPOP l",
    "RPOP l",
    "LPOP l 2",
    "RPOP l 2",
    "LPOP l 0",
    "RPOP l 100",
    "EXISTS l",
    "LPOP l",
    "RPOP l 1",
    "LPOP l 0",
    "RPUSH n 0 1 127 128 -1 -128 -129 32767 -32768 2147483648 9223372036854775807 -9223372036854775808 9223372036854775808 -0 01 +1 \" 1\" 1.5 \"\"",
    "LRANGE n 0 -1",
    "RPUSH b \"\\x00\\xff\" \"a\\r\\nb\"",
    "LRANGE b 0 -1",
    "SET s v",
    "LPUSH s a",
    "RPUSHX s a",
    "LPOP s",
    "LPOP s 0",
    "LLEN s",
    "LPOP s -1",
    "LPOP missing abc",
    "LPOP s 9223372036854775808",
    "LPUSH",
    "LPUSH l",
    "LPOP l 1 2",
    "RPOP l 1 2",
    "LLEN a b",
];

const RANGE_INDEX: &[&str] = &[
    "RPUSH l a b c d e f",
    "LRANGE l 1 3",
    "LRANGE l -3 -1",
    "LRANGE l -100 100",
    "LRANGE l 2 1",
    "LRANGE l 6 10",
    "LRANGE l -7 -7",
    "LRANGE l -9223372036854775808 9223372036854775807",
    "LRANGE missing 0 -1",
    "LRANGE l a 1",
    "LRANGE missing 0 1.5",
    "LINDEX l 0",
    "LINDEX l -1",
    "LINDEX l 6",
    "LINDEX l -7",
    "LINDEX l -9223372036854775808",
    "LINDEX missing abc",
    "LINDEX l abc",
    "SET s v",
    "LRANGE s 0 -1",
    "LRANGE s x 0",
    "LINDEX s x",
    "LRANGE l 0",
    "LINDEX l 0 1",
];

const EDITS: &[&str] = &[
    "RPUSH l a b c",
    "LSET l 0 x",
    "LSET l -1 12345",
    "LRANGE l 0 -1",
    "LSET l 3 v",
    "LSET l -9223372036854775808 v",
    "LSET l abc v",
    "LSET missing 0 v",
    "LSET missing abc v",
    "SET s v",
    "LSET s abc v",
    "DEL l",
    "RPUSH l a b c b",
    "LINSERT l BEFORE b x",
    "LINSERT l after b y",
    "LINSERT l before zz v",
    "LINSERT missing before a v",
    "LINSERT l middle a v",
    "LINSERT missing middle a v",
    "LINSERT s before a v",
    "LRANGE l 0 -1",
    "DEL l",
    "RPUSH l a b a c a b a",
    "LREM l 2 a",
    "LREM l -1 b",
    "LRANGE l 0 -1",
    "LREM l 0 a",
    "LREM l -9223372036854775808 c",
    "LREM l 1 b",
    "EXISTS l",
    "LREM missing 1 a",
    "LREM s 1 a",
    "LREM missing x a",
    "RPUSH n 1 01 1 -1 1",
    "LREM n 0 1",
    "LRANGE n 0 -1",
    "RPUSH t a b c d e f",
    "LTRIM t 1 -2",
    "LRANGE t 0 -1",
    "LTRIM t 1 0",
    "EXISTS t",
    "RPUSH t a b c",
    "LTRIM t -9223372036854775808 9223372036854775807",
    "LRANGE t 0 -1",
    "LTRIM missing 0 1",
    "LTRIM s 0 1",
    "LTRIM s x 1",
    "LTRIM t 0 x",
];

const LPOS: &[&str] = &[
    "RPUSH l a b c 1 2 3 c c",
    "LPOS l c",
    "LPOS l 1",
    "LPOS l x",
    "LPOS missing a",
    "LPOS missing a COUNT 0",
    "LPOS l c RANK 2",
    "LPOS l c RANK -1",
    "LPOS l c RANK -4",
    "LPOS l c COUNT 0 RANK -1",
    "LPOS l c COUNT 2 RANK -2",
    "LPOS l c MAXLEN 3 COUNT 0",
    "LPOS l c MAXLEN 1 RANK -1",
    "LPOS l c RANK -9223372036854775808",
    "LPOS l c RANK -9223372036854775808 COUNT 2",
    "LPOS l c RANK 0",
    "LPOS missing c RANK 0",
    "LPOS l c COUNT -1",
    "LPOS l c MAXLEN x",
    "LPOS l c RANK",
    "LPOS l c FOO 1",
    "SET s v",
    "LPOS s a",
    "LPOS l",
];

const MOVES: &[&str] = &[
    "RPUSH src a b c",
    "LMOVE src dst LEFT RIGHT",
    "LMOVE src dst RIGHT LEFT",
    "LMOVE src dst left left",
    "EXISTS src",
    "LRANGE dst 0 -1",
    "RPOPLPUSH dst dst",
    "LMOVE dst dst LEFT RIGHT",
    "LRANGE dst 0 -1",
    "RPOPLPUSH dst other",
    "RPUSH one x",
    "LMOVE one one LEFT RIGHT",
    "SET s v",
    "LMOVE s other LEFT RIGHT",
    "LMOVE other s LEFT RIGHT",
    "RPOPLPUSH missing s",
    "LMOVE other dst UP LEFT",
    "LMOVE s dst LEFT middle",
    "LMOVE other dst \"LEFT\\x00junk\" right",
    "LRANGE dst 0 -1",
    "LMOVE a b LEFT",
    "RPOPLPUSH a b c",
];

const MPOP: &[&str] = &[
    "RPUSH a 1 2 3",
    "RPUSH b x y z",
    "LMPOP 2 missing a LEFT",
    "LMPOP 2 missing a RIGHT COUNT 10",
    "LMPOP 2 a b left count 2",
    "LMPOP 2 a missing LEFT",
    "SET s v",
    "LMPOP 2 b s LEFT",
    "LMPOP 2 missing s LEFT",
    "LMPOP 0 a LEFT",
    "LMPOP x a LEFT",
    "LMPOP 2 a LEFT",
    "LMPOP 1 a MIDDLE",
    "LMPOP 1 a LEFT COUNT 0",
    "LMPOP 1 a LEFT COUNT",
    "LMPOP 1 a LEFT COUNT 1 COUNT 1",
    "LMPOP 9223372036854775807 a LEFT",
    "LMPOP 1 a",
];

/// Blocking commands where a key has elements (or another type): served at once.
const BLOCKING_SERVED: &[&str] = &[
    "RPUSH a 1 2 3",
    "BLPOP missing a 0",
    "BRPOP missing a 0",
    "BLPOP a 0.5",
    "EXISTS a",
    "RPUSH a 1 2 3",
    "BLMOVE a d LEFT RIGHT 0",
    "BRPOPLPUSH a d 0",
    "BLMOVE a a LEFT RIGHT 10",
    "LRANGE d 0 -1",
    "BLMPOP 0 2 missing d RIGHT COUNT 5",
    "BLMPOP 0.01 1 a LEFT",
    "SET s v",
    "RPUSH l x y",
    "BLPOP s l 0",
    "BRPOP missing s 0",
    "BLMOVE s l LEFT RIGHT 0",
    "BLMOVE l s LEFT RIGHT 0",
    "BLMPOP 0 2 s l LEFT",
    "BLPOP l abc",
    "BLPOP l -1",
    "BLPOP l -0.0011",
    "BLPOP l inf",
    "BLPOP l nan",
    "BRPOP l \"\"",
    "BLMOVE l d UP RIGHT -1",
    "BRPOPLPUSH l d x",
    "BLMPOP -1 1 l LEFT",
    "BLMPOP x 0 l LEFT",
    "BLMPOP x 1 l LEFT COUNT 0",
    "BLPOP l 0x1p-3",
    "BRPOP l -0.001",
    "BLPOP l",
    "BLMOVE a b LEFT RIGHT",
    "BLMPOP 0 1 a",
];

/// Long elements and long lists span many 8 KiB chunks: edits in the middle split them,
/// removals merge them.
fn large_script() -> Vec<String> {
    let long = |c: char, n: usize| c.to_string().repeat(n);
    let numbers: Vec<String> = (0..2000).map(|i| (i * 7 % 1000).to_string()).collect();
    vec![
        format!(
            "RPUSH big {} {} {}",
            long('x', 3000),
            long('y', 3000),
            long('z', 3000)
        ),
        format!("LINSERT big AFTER {} {}", long('x', 3000), long('m', 5000)),
        "LLEN big".into(),
        "LRANGE big 1 2".into(),
        format!("LSET big 0 {}", long('w', 9000)),
        "LINDEX big 0".into(),
        format!("LPOS big {} RANK -1", long('y', 3000)),
        format!("LREM big 0 {}", long('m', 5000)),
        "LRANGE big 0 -1".into(),
        format!("RPUSH n {}", numbers.join(" ")),
        "LLEN n".into(),
        "LRANGE n 990 1010".into(),
        "LINDEX n 1500".into(),
        "LINDEX n -1500".into(),
        "LPOS n 993 COUNT 0".into(),
        "LPOS n 993 RANK -2 COUNT 3 MAXLEN 1500".into(),
        "LSET n 1000 hello".into(),
        "LINSERT n BEFORE hello there".into(),
        "LREM n 3 7".into(),
        "LREM n -2 14".into(),
        "LREM n 0 21".into(),
        "LRANGE n 995 1005".into(),
        "LPOP n 300".into(),
        "RPOP n 300".into(),
        "LTRIM n 100 -100".into(),
        "LLEN n".into(),
        "LRANGE n 0 20".into(),
        "LMPOP 1 n RIGHT COUNT 1000".into(),
        "LLEN n".into(),
        "LRANGE n 0 -1".into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The seeded random sequence
// ---------------------------------------------------------------------------------------------

/// Three list keys, and `s`, which SET turns into a string now and then (WRONGTYPE).
fn key(rng: &mut fastrand::Rng) -> &'static str {
    if rng.u8(0..12) == 0 {
        "s"
    } else {
        pick(rng, &["a", "b", "c"])
    }
}

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(..items.len())]
}

/// An element: a few repeating words and numbers (so searches match), sometimes long.
fn element(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..20) {
        0 => format!("\"{}\"", "L".repeat(rng.usize(60..5000))),
        1 => "\"\"".into(),
        2..=7 => rng.i64(-3..20).to_string(),
        _ => pick(rng, &["x", "y", "z", "01", "w"]).into(),
    }
}

fn index(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..20) {
        0 => "-9223372036854775808".into(),
        1 => "9223372036854775807".into(),
        2 => "x".into(),
        _ => rng.i64(-12..12).to_string(),
    }
}

fn side(rng: &mut fastrand::Rng) -> &'static str {
    pick(rng, &["LEFT", "RIGHT", "left", "right"])
}

/// One random command line; `None` for a blocking command whose keys may all be empty (it
/// would block on Redis), which the caller guards with EXISTS first.
fn random_line(rng: &mut fastrand::Rng) -> (String, Option<Vec<&'static str>>) {
    let k = key(rng);
    let k2 = key(rng);
    let elems = |rng: &mut fastrand::Rng| {
        (0..rng.usize(1..6))
            .map(|_| element(rng))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let line = match rng.u8(0..30) {
        0..=3 => format!("RPUSH {k} {}", elems(rng)),
        4..=6 => format!("LPUSH {k} {}", elems(rng)),
        7 => format!("{} {k} {}", pick(rng, &["LPUSHX", "RPUSHX"]), elems(rng)),
        8 | 9 => format!("{} {k}", pick(rng, &["LPOP", "RPOP"])),
        10 => format!("{} {k} {}", pick(rng, &["LPOP", "RPOP"]), rng.i64(-1..6)),
        11 | 12 => format!("LRANGE {k} {} {}", index(rng), index(rng)),
        13 => format!("LINDEX {k} {}", index(rng)),
        14 => format!("LSET {k} {} {}", index(rng), element(rng)),
        15 => format!(
            "LINSERT {k} {} {} {}",
            pick(rng, &["BEFORE", "AFTER", "after", "AROUND"]),
            element(rng),
            element(rng)
        ),
        16 => format!("LREM {k} {} {}", rng.i64(-3..4), element(rng)),
        17 => format!("LTRIM {k} {} {}", index(rng), index(rng)),
        18 => {
            let mut line = format!("LPOS {k} {}", element(rng));
            if rng.bool() {
                line += &format!(" RANK {}", rng.i64(-3..4));
            }
            if rng.bool() {
                line += &format!(" COUNT {}", rng.i64(-1..4));
            }
            if rng.bool() {
                line += &format!(" MAXLEN {}", rng.i64(-1..8));
            }
            line
        }
        19 | 20 => format!("LMOVE {k} {k2} {} {}", side(rng), side(rng)),
        21 => format!("RPOPLPUSH {k} {k2}"),
        22 => format!("LMPOP 2 {k} {k2} {} COUNT {}", side(rng), rng.i64(0..5)),
        23 => format!("LLEN {k}"),
        24 => "SET s v".into(),
        25 => format!("DEL {}", pick(rng, &["a", "b", "c", "s"])),
        26 => return (format!("BLPOP {k} {k2} 0"), Some(vec![k, k2])),
        27 => return (format!("BRPOP {k} 0.01"), Some(vec![k])),
        28 => {
            let line = format!("BLMOVE {k} {k2} {} {} 0", side(rng), side(rng));
            return (line, Some(vec![k]));
        }
        _ => {
            let line = format!("BLMPOP 0 2 {k} {k2} {} COUNT 3", side(rng));
            return (line, Some(vec![k, k2]));
        }
    };
    (line, None)
}

fn random_sequence(pair: &Pair, resp3: bool, seed: u64, commands: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let (mut redis, mut cairn) = pair.connect(resp3, &mut failures);
    let mut rng = fastrand::Rng::with_seed(seed);
    exchange(
        &mut redis,
        &mut cairn,
        "FLUSHALL",
        &parse_line("FLUSHALL"),
        &mut failures,
    );
    for _ in 0..commands {
        let (line, guard) = random_line(&mut rng);
        if let Some(keys) = guard {
            // Only when a key exists: Redis would block on empty keys.
            let probe = encode(&parse_line(&format!("EXISTS {}", keys.join(" "))).1);
            let expected = try_reply(&mut redis.stream, &probe);
            let actual = try_reply(&mut cairn.stream, &probe);
            if expected != actual {
                failures.push(format!(
                    "seed {seed}: EXISTS before {line}: {expected:?} {actual:?}"
                ));
            }
            if expected.as_deref() == Ok(b":0\r\n") {
                continue;
            }
        }
        let label = format!("seed {seed}: {line}");
        if !exchange(
            &mut redis,
            &mut cairn,
            &label,
            &parse_line(&line),
            &mut failures,
        ) {
            break;
        }
        if failures.len() > 20 {
            break;
        }
    }
    failures
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn list_family_matches_redis() {
    check_both_protocols(&[
        ("push-pop", PUSH_POP),
        ("range-index", RANGE_INDEX),
        ("edits", EDITS),
        ("lpos", LPOS),
        ("moves", MOVES),
        ("mpop", MPOP),
        ("blocking-served", BLOCKING_SERVED),
    ]);
    let large = large_script();
    let large: Vec<&str> = large.iter().map(String::as_str).collect();
    check_both_protocols(&[("large", &large)]);
}

#[test]
fn random_list_sequences_match_redis() {
    let pair = Pair::start();
    let mut failures = random_sequence(&pair, false, 0x6c69_7374, 3000);
    failures.extend(
        random_sequence(&pair, true, 0x6c69_7375, 1000)
            .into_iter()
            .map(|f| format!("[RESP3] {f}")),
    );
    assert_none("RESP2/RESP3", failures);
}
