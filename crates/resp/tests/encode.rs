//! Reply encoder tests: every `Reply` variant in RESP2 and RESP3, and the request encoder.

use bytes::{Bytes, BytesMut};
use cairn_resp::{Protocol, Reply, encode, encode_command};

fn wire(reply: &Reply, proto: Protocol) -> String {
    let mut out = BytesMut::new();
    encode(reply, proto, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts the RESP2 and RESP3 encodings of `reply`.
fn check(reply: Reply, resp2: &str, resp3: &str) {
    assert_eq!(wire(&reply, Protocol::Resp2), resp2, "RESP2 {reply:?}");
    assert_eq!(wire(&reply, Protocol::Resp3), resp3, "RESP3 {reply:?}");
}

fn bulk(text: &str) -> Reply {
    Reply::bulk_copy(text.as_bytes())
}

#[test]
fn simple_and_error() {
    check(Reply::ok(), "+OK\r\n", "+OK\r\n");
    check(Reply::simple("QUEUED"), "+QUEUED\r\n", "+QUEUED\r\n");
    check(Reply::simple(""), "+\r\n", "+\r\n");
    check(
        Reply::error_static("ERR syntax error"),
        "-ERR syntax error\r\n",
        "-ERR syntax error\r\n",
    );
    check(
        Reply::error("WRONGTYPE x"),
        "-WRONGTYPE x\r\n",
        "-WRONGTYPE x\r\n",
    );
}

#[test]
fn line_breaks_in_simple_and_error_become_spaces() {
    check(Reply::simple("a\r\nb\nc"), "+a  b c\r\n", "+a  b c\r\n");
    check(Reply::error("ERR a\nb\r"), "-ERR a b\r\n", "-ERR a b\r\n");
    check(Reply::error("\r\nERR x\r\n\n"), "-ERR x\r\n", "-ERR x\r\n");
    check(Reply::error("\r\n"), "-\r\n", "-\r\n");
}

#[test]
fn integers() {
    check(Reply::Int(0), ":0\r\n", ":0\r\n");
    check(Reply::Int(-42), ":-42\r\n", ":-42\r\n");
    check(
        Reply::Int(i64::MAX),
        ":9223372036854775807\r\n",
        ":9223372036854775807\r\n",
    );
    check(
        Reply::Int(i64::MIN),
        ":-9223372036854775808\r\n",
        ":-9223372036854775808\r\n",
    );
}

#[test]
fn bulk_strings() {
    check(bulk("hello"), "$5\r\nhello\r\n", "$5\r\nhello\r\n");
    check(bulk(""), "$0\r\n\r\n", "$0\r\n\r\n");
    check(bulk("a\r\nb"), "$4\r\na\r\nb\r\n", "$4\r\na\r\nb\r\n");
    let mut out = BytesMut::new();
    encode(
        &Reply::Bulk(Bytes::from_static(b"\x00\xff")),
        Protocol::Resp2,
        &mut out,
    );
    assert_eq!(&out[..], b"$2\r\n\x00\xff\r\n");
}

#[test]
fn nils() {
    check(Reply::Nil, "$-1\r\n", "_\r\n");
    check(Reply::NilArray, "*-1\r\n", "_\r\n");
}

#[test]
fn arrays_sets_and_pushes() {
    let items = vec![bulk("a"), Reply::Int(1), Reply::Nil];
    check(
        Reply::Array(items.clone()),
        "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n",
        "*3\r\n$1\r\na\r\n:1\r\n_\r\n",
    );
    check(
        Reply::Set(items.clone()),
        "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n",
        "~3\r\n$1\r\na\r\n:1\r\n_\r\n",
    );
    check(
        Reply::Push(items),
        "*3\r\n$1\r\na\r\n:1\r\n$-1\r\n",
        ">3\r\n$1\r\na\r\n:1\r\n_\r\n",
    );
    check(Reply::Array(Vec::new()), "*0\r\n", "*0\r\n");
    check(Reply::Set(Vec::new()), "*0\r\n", "~0\r\n");
    check(Reply::Push(Vec::new()), "*0\r\n", ">0\r\n");
}

#[test]
fn pairs_nest_in_resp3_and_flatten_in_resp2() {
    check(
        Reply::Pairs(vec![(bulk("f"), bulk("v")), (bulk("g"), Reply::Int(2))]),
        "*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n:2\r\n",
        "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\ng\r\n:2\r\n",
    );
    check(Reply::Pairs(Vec::new()), "*0\r\n", "*0\r\n");
}

#[test]
fn maps_of_pairs_are_maps_in_resp3_and_nest_in_resp2() {
    check(
        Reply::MapOfPairs(vec![
            (bulk("s"), Reply::Array(vec![])),
            (bulk("t"), Reply::Int(2)),
        ]),
        "*2\r\n*2\r\n$1\r\ns\r\n*0\r\n*2\r\n$1\r\nt\r\n:2\r\n",
        "%2\r\n$1\r\ns\r\n*0\r\n$1\r\nt\r\n:2\r\n",
    );
    check(Reply::MapOfPairs(Vec::new()), "*0\r\n", "%0\r\n");
}

#[test]
fn nested_aggregates_use_the_same_protocol() {
    let reply = Reply::Array(vec![
        Reply::Set(vec![Reply::Bool(true)]),
        Reply::Double(1.5),
    ]);
    check(
        reply,
        "*2\r\n*1\r\n:1\r\n$3\r\n1.5\r\n",
        "*2\r\n~1\r\n#t\r\n,1.5\r\n",
    );
}

#[test]
fn maps() {
    let reply = Reply::Map(vec![(bulk("k1"), Reply::Int(1)), (bulk("k2"), Reply::Nil)]);
    check(
        reply,
        "*4\r\n$2\r\nk1\r\n:1\r\n$2\r\nk2\r\n$-1\r\n",
        "%2\r\n$2\r\nk1\r\n:1\r\n$2\r\nk2\r\n_\r\n",
    );
    check(Reply::Map(Vec::new()), "*0\r\n", "%0\r\n");
}

#[test]
fn doubles() {
    check(Reply::Double(1.5), "$3\r\n1.5\r\n", ",1.5\r\n");
    check(
        Reply::Double(0.1),
        "$19\r\n0.10000000000000001\r\n",
        ",0.10000000000000001\r\n",
    );
    check(Reply::Double(3.0), "$1\r\n3\r\n", ",3\r\n");
    check(Reply::Double(1e20), "$5\r\n1e+20\r\n", ",1e+20\r\n");
    check(Reply::Double(-0.0), "$2\r\n-0\r\n", ",-0\r\n");
    check(Reply::Double(f64::INFINITY), "$3\r\ninf\r\n", ",inf\r\n");
    check(
        Reply::Double(f64::NEG_INFINITY),
        "$4\r\n-inf\r\n",
        ",-inf\r\n",
    );
    check(Reply::Double(f64::NAN), "$3\r\nnan\r\n", ",nan\r\n");
}

#[test]
fn booleans() {
    check(Reply::Bool(true), ":1\r\n", "#t\r\n");
    check(Reply::Bool(false), ":0\r\n", "#f\r\n");
}

#[test]
fn verbatim() {
    let reply = Reply::Verbatim("txt", Bytes::from_static(b"Some string"));
    check(
        reply,
        "$11\r\nSome string\r\n",
        "=15\r\ntxt:Some string\r\n",
    );
    check(
        Reply::Verbatim("mkd", Bytes::new()),
        "$0\r\n\r\n",
        "=4\r\nmkd:\r\n",
    );
}

#[test]
fn encode_appends() {
    let mut out = BytesMut::from(&b"+x\r\n"[..]);
    encode(&Reply::Int(1), Protocol::Resp3, &mut out);
    assert_eq!(&out[..], b"+x\r\n:1\r\n");
}

#[test]
fn commands() {
    let mut out = BytesMut::new();
    encode_command(&[b"SET", b"k", b""], &mut out);
    assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    out.clear();
    encode_command(&[], &mut out);
    assert_eq!(&out[..], b"*0\r\n");
}
