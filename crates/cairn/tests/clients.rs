//! End to end with clients nobody here wrote, on real sockets against the real binary:
//! - the `redis` crate (async, tokio) over RESP2 and RESP3: strings, expiry, pipelines, error
//!   replies surfacing as errors with Redis's text, HELLO, CLIENT SETNAME/GETNAME, every byte
//!   value, a 1 MiB value;
//! - `redis-cli`: the README's session commands and the exact bytes it prints for errors;
//! - Node's ioredis running tests/node/session-store.js unmodified (only the port is given).
//!
//! redis-cli and node come from scripts/deps.sh; when they are missing the tests fail and say
//! so rather than skip.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::Cairn;
use redis::Value;
use redis::aio::MultiplexedConnection;

// ---------------------------------------------------------------------------------------------
// The redis crate
// ---------------------------------------------------------------------------------------------

async fn connect(cairn: &Cairn, resp3: bool) -> MultiplexedConnection {
    let url = if resp3 {
        format!("{}?protocol=resp3", cairn.url())
    } else {
        cairn.url()
    };
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn query<T: redis::FromRedisValue>(con: &mut MultiplexedConnection, args: &[&[u8]]) -> T {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd.query_async(con).await.unwrap()
}

/// The error a command gets, as the crate reports it: (code, detail).
async fn query_err(con: &mut MultiplexedConnection, args: &[&str]) -> (String, String) {
    let mut cmd = redis::cmd(args[0]);
    cmd.arg(&args[1..]);
    let err = cmd.query_async::<Value>(con).await.unwrap_err();
    (
        err.code().unwrap_or("<none>").to_string(),
        err.detail().unwrap_or("<none>").to_string(),
    )
}

async fn strings_and_expiry(con: &mut MultiplexedConnection) {
    let ok: String = query(con, &[b"SET", b"session:1", b"{\"userId\":1}"]).await;
    assert_eq!(ok, "OK");
    let got: Option<String> = query(con, &[b"GET", b"session:1"]).await;
    assert_eq!(got.as_deref(), Some("{\"userId\":1}"));
    let missing: Option<String> = query(con, &[b"GET", b"session:none"]).await;
    assert_eq!(missing, None);
    let set: i64 = query(con, &[b"EXPIRE", b"session:1", b"3600"]).await;
    assert_eq!(set, 1);
    let ttl: i64 = query(con, &[b"TTL", b"session:1"]).await;
    assert!((3590..=3600).contains(&ttl), "ttl {ttl}");
    let no_ttl: i64 = query(con, &[b"TTL", b"session:none"]).await;
    assert_eq!(no_ttl, -2);
    let n: i64 = query(con, &[b"INCR", b"counter"]).await;
    assert_eq!(n, 1);
    let n: i64 = query(con, &[b"INCR", b"counter"]).await;
    assert_eq!(n, 2);
    let ok: String = query(con, &[b"MSET", b"a", b"1", b"b", b"2"]).await;
    assert_eq!(ok, "OK");
    let many: Vec<Option<String>> = query(con, &[b"MGET", b"a", b"nope", b"b", b"counter"]).await;
    assert_eq!(
        many,
        [Some("1".into()), None, Some("2".into()), Some("2".into())]
    );
    let deleted: i64 = query(con, &[b"DEL", b"a", b"b", b"nope", b"session:1"]).await;
    assert_eq!(deleted, 3);
    let gone: i64 = query(con, &[b"EXISTS", b"a", b"session:1"]).await;
    assert_eq!(gone, 0);
}

async fn pipelines(con: &mut MultiplexedConnection) {
    let (set, got, n, deleted, after): (String, String, i64, i64, Option<String>) = redis::pipe()
        .cmd("SET")
        .arg("p:1")
        .arg("v1")
        .cmd("GET")
        .arg("p:1")
        .cmd("INCRBY")
        .arg("p:n")
        .arg(41)
        .cmd("DEL")
        .arg("p:1")
        .cmd("GET")
        .arg("p:1")
        .query_async(con)
        .await
        .unwrap();
    assert_eq!(
        (set.as_str(), got.as_str(), n, deleted, after),
        ("OK", "v1", 41, 1, None)
    );
    // A failing command in the middle fails alone; the ones around it run.
    let results: Vec<redis::RedisResult<Value>> = redis::pipe()
        .cmd("SET")
        .arg("p:s")
        .arg("text")
        .cmd("INCR")
        .arg("p:s")
        .cmd("GET")
        .arg("p:s")
        .ignore_errors()
        .query_async(con)
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    assert_eq!(
        results[2].as_ref().unwrap(),
        &Value::BulkString(b"text".to_vec())
    );
}

async fn error_replies(con: &mut MultiplexedConnection) {
    let _: String = query(con, &[b"SET", b"e:s", b"abc"]).await;
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["INCR", "e:s"],
            "ERR",
            "value is not an integer or out of range",
        ),
        (
            &["GET"],
            "ERR",
            "wrong number of arguments for 'get' command",
        ),
        (&["SET", "k", "v", "NX", "XX"], "ERR", "syntax error"),
        (
            &["INCRBYFLOAT", "e:s", "1"],
            "ERR",
            "value is not a valid float",
        ),
        (&["SELECT", "99"], "ERR", "DB index is out of range"),
        (&["RENAME", "e:none", "x"], "ERR", "no such key"),
        (
            &["NOSUCH", "a"],
            "ERR",
            "unknown command 'NOSUCH', with args beginning with: 'a' ",
        ),
        (&["HELLO", "4"], "NOPROTO", "unsupported protocol version"),
    ];
    for (args, code, detail) in cases {
        let (c, d) = query_err(con, args).await;
        assert_eq!((c.as_str(), d.as_str()), (*code, *detail), "{args:?}");
    }
    // The connection is still usable after errors.
    let pong: String = query(con, &[b"PING"]).await;
    assert_eq!(pong, "PONG");
}

async fn hello_and_names(con: &mut MultiplexedConnection, resp3: bool) {
    let proto: &[u8] = if resp3 { b"3" } else { b"2" };
    let hello: Value = query(con, &[b"HELLO", proto]).await;
    let pairs: Vec<(Value, Value)> = match hello {
        Value::Map(pairs) => pairs,
        Value::Array(flat) if !resp3 => flat
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect(),
        other => panic!("HELLO gave {other:?}"),
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == Value::BulkString(name.as_bytes().to_vec()))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("HELLO has no {name}: {pairs:?}"))
    };
    assert_eq!(field("server"), Value::BulkString(b"redis".to_vec()));
    assert_eq!(field("version"), Value::BulkString(b"7.0.15".to_vec()));
    assert_eq!(field("proto"), Value::Int(if resp3 { 3 } else { 2 }));
    assert!(matches!(field("id"), Value::Int(id) if id > 0));
    assert_eq!(field("mode"), Value::BulkString(b"standalone".to_vec()));
    let none: Option<String> = query(con, &[b"CLIENT", b"GETNAME"]).await;
    assert_eq!(none, None);
    let ok: String = query(con, &[b"CLIENT", b"SETNAME", b"web-42"]).await;
    assert_eq!(ok, "OK");
    let name: Option<String> = query(con, &[b"CLIENT", b"GETNAME"]).await;
    assert_eq!(name.as_deref(), Some("web-42"));
    let (code, detail) = query_err(con, &["CLIENT", "SETNAME", "has space"]).await;
    assert_eq!(
        (code.as_str(), detail.as_str()),
        (
            "ERR",
            "Client names cannot contain spaces, newlines or special characters."
        )
    );
}

async fn binary_values(con: &mut MultiplexedConnection) {
    let every_byte: Vec<u8> = (0..=255).collect();
    let _: String = query(con, &[b"SET", &every_byte, &every_byte]).await;
    let back: Vec<u8> = query(con, &[b"GET", &every_byte]).await;
    assert_eq!(back, every_byte);
    let len: i64 = query(con, &[b"STRLEN", &every_byte]).await;
    assert_eq!(len, 256);
    let range: Vec<u8> = query(con, &[b"GETRANGE", &every_byte, b"10", b"13"]).await;
    assert_eq!(range, [10, 11, 12, 13]);
    // 1 MiB of varied bytes, so a lost or shifted chunk would show.
    let big: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _: String = query(con, &[b"SET", b"big", &big]).await;
    let back: Vec<u8> = query(con, &[b"GET", b"big"]).await;
    assert!(back == big, "1 MiB value came back different");
    let len: i64 = query(con, &[b"APPEND", b"big", b"!"]).await;
    assert_eq!(len, 1024 * 1024 + 1);
}

async fn redis_crate_session(resp3: bool) {
    let cairn = Cairn::start(&[]);
    let mut con = connect(&cairn, resp3).await;
    strings_and_expiry(&mut con).await;
    pipelines(&mut con).await;
    error_replies(&mut con).await;
    hello_and_names(&mut con, resp3).await;
    binary_values(&mut con).await;
    // A second connection sees everything the first one wrote.
    let mut other = connect(&cairn, resp3).await;
    let n: i64 = query(&mut other, &[b"GET", b"counter"]).await;
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_over_resp2() {
    redis_crate_session(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_over_resp3() {
    redis_crate_session(true).await;
}

/// RESP3-only reply types come through the crate as RESP3 values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_sees_resp3_types() {
    let cairn = Cairn::start(&[]);
    let mut con = connect(&cairn, true).await;
    let _: String = query(
        &mut con,
        &[b"MSET", b"key1", b"ohmytext", b"key2", b"mynewtext"],
    )
    .await;
    let lcs: Value = query(&mut con, &[b"LCS", b"key1", b"key2", b"IDX"]).await;
    let Value::Map(pairs) = lcs else {
        panic!("LCS IDX over RESP3 is a map, got {lcs:?}")
    };
    assert_eq!(
        pairs[1],
        (Value::BulkString(b"len".to_vec()), Value::Int(6))
    );
    let nil: Value = query(&mut con, &[b"GET", b"nothing"]).await;
    assert_eq!(nil, Value::Nil);
    let config: Value = query(&mut con, &[b"CONFIG", b"GET", b"timeout"]).await;
    assert_eq!(
        config,
        Value::Map(vec![(
            Value::BulkString(b"timeout".to_vec()),
            Value::BulkString(b"0".to_vec())
        )])
    );
}

// ---------------------------------------------------------------------------------------------
// redis-cli
// ---------------------------------------------------------------------------------------------

fn redis_cli(cairn: &Cairn, args: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &cairn.port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("redis-cli not found ({e}): run scripts/deps.sh"))
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "redis-cli failed: {out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn redis_cli_session_commands() {
    let cairn = Cairn::start(&[]);
    let set = redis_cli(
        &cairn,
        &["set", "session:user123", "{\"userId\":1}", "EX", "3600"],
    );
    assert_eq!(stdout(&set), "OK\n");
    let get = redis_cli(&cairn, &["get", "session:user123"]);
    assert_eq!(stdout(&get), "{\"userId\":1}\n");
    let ttl: i64 = stdout(&redis_cli(&cairn, &["ttl", "session:user123"]))
        .trim()
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&ttl), "ttl {ttl}");
    assert_eq!(stdout(&redis_cli(&cairn, &["incr", "visits"])), "1\n");
    assert_eq!(
        stdout(&redis_cli(&cairn, &["mget", "visits", "none"])),
        "1\n\n"
    );
    assert_eq!(
        stdout(&redis_cli(&cairn, &["del", "session:user123"])),
        "1\n"
    );
    assert_eq!(
        stdout(&redis_cli(&cairn, &["get", "session:user123"])),
        "\n"
    );
    assert_eq!(
        stdout(&redis_cli(&cairn, &["ttl", "session:user123"])),
        "-2\n"
    );
    assert_eq!(stdout(&redis_cli(&cairn, &["ping"])), "PONG\n");
    // --no-raw prints types as an interactive session does.
    let typed = redis_cli(&cairn, &["--no-raw", "mget", "visits", "none"]);
    assert_eq!(stdout(&typed), "1) \"1\"\n2) (nil)\n");
}

/// The exact bytes redis-cli prints (not on a terminal) for error replies, as with Redis
/// 7.0.15: the error line, then an empty line.
#[test]
fn redis_cli_error_output_is_redis_s() {
    let cairn = Cairn::start(&[]);
    stdout(&redis_cli(&cairn, &["set", "text", "abc"]));
    let cases: &[(&[&str], &str)] = &[
        (
            &["set", "k"],
            "ERR wrong number of arguments for 'set' command\n\n",
        ),
        (
            &["incr", "text"],
            "ERR value is not an integer or out of range\n\n",
        ),
        (&["set", "k", "v", "xx", "yy"], "ERR syntax error\n\n"),
        (
            &["expire", "text", "soon"],
            "ERR value is not an integer or out of range\n\n",
        ),
        (
            &["set", "k", "v", "EX", "0"],
            "ERR invalid expire time in 'set' command\n\n",
        ),
        (
            &["foo", "bar"],
            "ERR unknown command 'foo', with args beginning with: 'bar' \n\n",
        ),
    ];
    for (args, expected) in cases {
        let out = redis_cli(&cairn, args);
        assert_eq!(stdout(&out), *expected, "redis-cli {args:?}");
    }
    let typed = redis_cli(&cairn, &["--no-raw", "incr", "text"]);
    assert_eq!(
        stdout(&typed),
        "(error) ERR value is not an integer or out of range\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Node: ioredis
// ---------------------------------------------------------------------------------------------

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node")
}

/// The seed's session program (ioredis): SET session:<id> <json>, EXPIRE 3600, GET, TTL and a
/// pipeline; it prints the session read back.
#[test]
fn ioredis_session_store() {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/ioredis").is_dir(),
        "{}/node_modules is missing: run scripts/deps.sh",
        dir.display()
    );
    let cairn = Cairn::start(&[]);
    let out = Command::new("node")
        .arg(dir.join("session-store.js"))
        .arg(cairn.port.to_string())
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("node not found ({e}): run scripts/deps.sh"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "session-store.js failed: {out:?}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = "{\"session\":{\"userId\":1,\"name\":\"Ada\",\"roles\":[\"admin\"],\"at\":\"2026-11-26T00:00:00Z\"},\"ttl\":";
    assert!(text.starts_with(expected), "output: {text:?}");
    let ttl: i64 = text[expected.len()..]
        .trim_end()
        .trim_end_matches('}')
        .parse()
        .unwrap();
    assert!((3590..=3600).contains(&ttl), "output: {text:?}");
    // What the program wrote is in Cairn for everyone else.
    let mut raw = cairn.conn();
    let stored = raw.cmd(&["GET", "session:user123"]);
    assert!(stored.starts_with(b"$"), "{}", stored.escape_ascii());
    assert_eq!(raw.cmd(&["EXISTS", "session:other"]), b":0\r\n");
}
