//! DUMP and RESTORE of streams against redis-server 7.0.15 (harness: `common/differential.rs`):
//! the same streams are built on both servers (nodes of several sizes, tombstones, trimmed
//! heads, consumer groups with pending entries and idle consumers, counters set by XSETID);
//! then Redis's payloads are restored into Cairn and Cairn's into Redis, and each copy must
//! answer XINFO STREAM FULL (times included: the payload carries them) and XRANGE exactly as
//! the original does, and go on answering the same to the same writes (XADD into the last
//! node, XDEL, XTRIM, XREADGROUP, XAUTOCLAIM). A payload from Redis 5 (type 15, without
//! Redis 7.0's counters) restores into both with the same counters.

mod common;

use common::Raw;
use common::differential::*;

/// Sends `argv` and reads one reply, raw.
fn call(conn: &mut Raw, argv: &[&[u8]]) -> Vec<u8> {
    let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    conn.send(&encode(&argv));
    conn.read_reply()
}

fn run(conn: &mut Raw, line: &str) -> Vec<u8> {
    let (_, argv) = parse_line(line);
    conn.send(&encode(&argv));
    conn.read_reply()
}

/// The bulk string of a raw reply.
fn bulk(raw: &[u8]) -> Vec<u8> {
    assert_eq!(raw[0], b'$', "not a bulk string: {}", show(raw));
    let body = raw.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    raw[body..raw.len() - 2].to_vec()
}

/// Builds the fixture streams (explicit IDs, so both servers hold the same ones).
fn build(conn: &mut Raw) {
    run(conn, "FLUSHALL");
    // Three nodes of 100 entries (the default limit), then an entry with other fields.
    for i in 1..=250 {
        run(conn, &format!("XADD big {i}-1 name n{i} val {i}"));
    }
    for line in [
        "XADD big 300-0 other x",
        "XADD big 301-0 name abc val 12345678901 extra 1",
        "XADD big 302-5 name -7 val \"\"",
        "XDEL big 5-1 7-1 101-1 300-0",
        "XGROUP CREATE big g1 0",
        "XGROUP CREATE big 123 $",
        "XGROUP CREATE big late 200-1",
        "XREADGROUP GROUP g1 alice COUNT 3 STREAMS big >",
        "XREADGROUP GROUP g1 bob COUNT 2 STREAMS big >",
        "XGROUP CREATECONSUMER big g1 carol",
        "XACK big g1 1-1",
        "XCLAIM big g1 carol 0 3-1",
        // Emptied by XDEL: no node, counters kept.
        "XADD emptied 1-1 a b",
        "XDEL emptied 1-1",
        // Only a group.
        "XGROUP CREATE bare g 0 MKSTREAM",
        // Trimmed heads, a first node whose first entry is deleted.
        "CONFIG SET stream-node-max-entries 4",
        "XADD small 1-0 f 1",
        "XADD small 2-0 f 2",
        "XADD small 3-0 g 3",
        "XADD small 4-0 f 4",
        "XADD small 5-0 f 5",
        "XADD small 6-0 f 6 h 7",
        "XADD small 7-0 f 7",
        "XADD small 8-0 f 8",
        "XADD small 9-0 f 9",
        "XTRIM small MAXLEN = 7",
        "XDEL small 5-0",
        "XSETID small 9-0 ENTRIESADDED 100 MAXDELETEDID 6-0",
        "XGROUP CREATE small g 0",
        "XREADGROUP GROUP g c COUNT 2 STREAMS small >",
        "CONFIG SET stream-node-max-entries 100",
        // Long values: listpack strings of every length form, an LZF-compressed node.
        "XADD long 1-1 f vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
    ] {
        run(conn, line);
    }
    let big = "x".repeat(5000);
    call(conn, &[b"XADD", b"long", b"2-2", b"f", big.as_bytes()]);
    let binary = b"\x00\xff\r\n";
    call(conn, &[b"XADD", b"long", b"3-3", binary, binary]);
}

const KEYS: &[&str] = &["big", "emptied", "bare", "small", "long"];

/// What a stream answers: XINFO STREAM FULL and its entries. `timed`: times in it come from
/// the servers' clocks, so only its shape is compared.
fn describe(conn: &mut Raw, key: &str, timed: bool) -> Vec<(String, Vec<u8>)> {
    let shape = if timed { "shape: " } else { "" };
    [
        format!("{shape}XINFO STREAM {key} FULL"),
        format!("XINFO STREAM {key}"),
        format!("XRANGE {key} - +"),
        format!("XLEN {key}"),
        format!("TYPE {key}"),
        format!("OBJECT ENCODING {key}"),
    ]
    .into_iter()
    .map(|line| {
        let reply = run(conn, &line);
        (line, reply)
    })
    .collect()
}

/// Writes both copies then answer, compared reply by reply (`shape:` where the replies hold
/// times of the writes, which each server takes from its own clock).
fn follow_up(key: &str) -> Vec<String> {
    [
        "XADD {} 400-0 name after val 1",
        "XADD {} 400-1 f 1",
        "XADD {} 400-1 f 1",
        "XREADGROUP GROUP g1 dave COUNT 5 STREAMS {} >",
        "XREADGROUP GROUP g COUNT 5 STREAMS {} >",
        "XAUTOCLAIM {} g1 erin 0 0-0 COUNT 2",
        "XDEL {} 2-1 400-0",
        "XTRIM {} MINID ~ 150",
        "XTRIM {} MAXLEN 3",
        "shape: XINFO STREAM {} FULL",
        "XINFO GROUPS {}",
        "XPENDING {} g1",
        "XRANGE {} - +",
    ]
    .iter()
    .map(|l| l.replace("{}", key))
    .collect()
}

fn compare(
    failures: &mut Vec<String>,
    label: &str,
    original: &[(String, Vec<u8>)],
    copy: &[(String, Vec<u8>)],
) {
    for ((line, expected), (_, actual)) in original.iter().zip(copy) {
        if !agree(parse_line(line).0, expected, actual) {
            failures.push(format!(
                "{label}: {line}\n    original: {}\n    copy:     {}",
                show(expected),
                show(actual)
            ));
        }
    }
}

/// Dumps each fixture on `from`, restores it on `to` in place of `to`'s own, and compares
/// the copy with the original, then both after the same writes. The copy's own DUMP restores
/// on `from` (as `KEY-back`) into what answers as the original.
fn across(from: &mut Raw, to: &mut Raw, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for key in KEYS {
        let payload = bulk(&call(from, &[b"DUMP", key.as_bytes()]));
        let restored = call(
            to,
            &[b"RESTORE", key.as_bytes(), b"0", &payload, b"REPLACE"],
        );
        if restored != b"+OK\r\n" {
            failures.push(format!("{label}: RESTORE {key}: {}", show(&restored)));
            continue;
        }
        let original = describe(from, key, false);
        compare(
            &mut failures,
            &format!("{label} {key}"),
            &original,
            &describe(to, key, false),
        );
        let again = bulk(&call(to, &[b"DUMP", key.as_bytes()]));
        let back = format!("{key}-back");
        call(from, &[b"RESTORE", back.as_bytes(), b"0", &again]);
        compare(
            &mut failures,
            &format!("{label} {key} and back"),
            &original,
            &describe(from, &back, false),
        );
        let lines = follow_up(key);
        let ran: Vec<(String, Vec<u8>)> = lines.iter().map(|l| (l.clone(), run(from, l))).collect();
        let ran_copy: Vec<(String, Vec<u8>)> =
            lines.iter().map(|l| (l.clone(), run(to, l))).collect();
        compare(
            &mut failures,
            &format!("{label} {key} then"),
            &ran,
            &ran_copy,
        );
    }
    failures
}

#[test]
fn stream_dumps_restore_across_servers() {
    let pair = Pair::start();
    let mut redis = Raw::connect(&pair.oracle.addr());
    let mut cairn = pair.cairn.conn();
    build(&mut redis);
    build(&mut cairn);
    let mut failures = across(&mut redis, &mut cairn, "redis -> cairn");
    build(&mut redis);
    build(&mut cairn);
    failures.extend(across(&mut cairn, &mut redis, "cairn -> redis"));
    assert_none("RESP2", failures);
}

/// unit/type/stream-cgroups "Loading from legacy (Redis <= v6.2.x, rdb_ver < 10)
/// persistence": Redis 5's DUMP after six XADDs, an XDEL, two XGROUP CREATEs, an XREADGROUP
/// of four and XTRIM MAXLEN = 2.
const LEGACY: &[u8] = b"\x0F\x01\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\xC3\x40\x4A\x40\x57\x16\x57\x00\x00\x00\x23\x00\x02\x01\x04\x01\x01\x01\x84\x64\x61\x74\x61\x05\x00\x01\x03\x01\x00\x20\x01\x03\x81\x61\x02\x04\x20\x0A\x00\x01\x40\x0A\x00\x62\x60\x0A\x00\x02\x40\x0A\x00\x63\x60\x0A\x40\x22\x01\x81\x64\x20\x0A\x40\x39\x20\x0A\x00\x65\x60\x0A\x00\x05\x40\x0A\x00\x66\x20\x0A\x00\xFF\x02\x06\x00\x02\x02\x67\x31\x05\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x3E\xF7\x83\x43\x7A\x01\x00\x00\x01\x01\x03\x63\x31\x31\x3E\xF7\x83\x43\x7A\x01\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x02\x67\x32\x00\x00\x00\x00\x09\x00\x3D\x52\xEF\x68\x67\x52\x1D\xFA";

#[test]
fn legacy_stream_payloads_restore_as_in_redis() {
    let pair = Pair::start();
    let mut redis = Raw::connect(&pair.oracle.addr());
    let mut cairn = pair.cairn.conn();
    let mut failures = Vec::new();
    let replies = |conn: &mut Raw| -> Vec<(String, Vec<u8>)> {
        let mut out = vec![(
            "RESTORE x 0 <legacy>".to_string(),
            call(conn, &[b"RESTORE", b"x", b"0", LEGACY]),
        )];
        out.extend(describe(conn, "x", false));
        out.extend(follow_up("x").iter().map(|l| (l.clone(), run(conn, l))));
        // Redis's DUMP of it now is type 19; restored again it answers the same.
        let payload = bulk(&call(conn, &[b"DUMP", b"x"]));
        out.push(("DUMP x (type)".to_string(), payload[..1].to_vec()));
        call(conn, &[b"RESTORE", b"y", b"0", &payload]);
        out.extend(describe(conn, "y", true));
        out
    };
    let expected = replies(&mut redis);
    let actual = replies(&mut cairn);
    compare(&mut failures, "legacy", &expected, &actual);
    assert_none("RESP2", failures);
}
