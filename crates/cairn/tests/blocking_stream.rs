//! Blocking stream reads over real sockets: XREAD BLOCK with `$` is served by a later XADD
//! from another connection (and only with what came after it blocked), XREADGROUP BLOCK with
//! `>` likewise, timeouts answer a null array, two waiters are served in arrival order, and a
//! group destroyed under a waiting XREADGROUP answers NOGROUP.

mod common;

use std::time::Duration;

use common::{Cairn, Raw};

fn addr(node: &Cairn) -> String {
    format!("127.0.0.1:{}", node.port)
}

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn xread_dollar_waits_for_entries_after_it_blocked() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    assert_eq!(
        other.cmd(&["XADD", "s", "1-0", "old", "x"]),
        b"$3\r\n1-0\r\n"
    );
    blocked.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    other.wait_blocked(1);
    // A write to another key does not serve it; an entry on the stream does.
    other.cmd(&["XADD", "t", "1-0", "f", "v"]);
    assert_eq!(
        other.cmd(&["XADD", "s", "2-0", "new", "y"]),
        b"$3\r\n2-0\r\n"
    );
    assert_eq!(
        text(blocked.read_reply()),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$3\r\nnew\r\n$1\r\ny\r\n"
    );
    other.wait_blocked(0);
}

#[test]
fn xread_on_a_missing_key_waits_for_its_first_entry() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    blocked.send_cmd(&[
        "XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "a", "b", "$", "0",
    ]);
    other.wait_blocked(1);
    other.cmd(&["XADD", "b", "5-0", "f", "v"]);
    assert_eq!(
        text(blocked.read_reply()),
        "*1\r\n*2\r\n$1\r\nb\r\n*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}

#[test]
fn xreadgroup_waits_for_new_entries_and_two_waiters_are_served_in_order() {
    let node = Cairn::start(&[]);
    let mut first = Raw::connect(&addr(&node));
    let mut second = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    assert_eq!(
        other.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        b"+OK\r\n"
    );
    first.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    other.wait_blocked(1);
    second.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "COUNT",
        "1",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    other.wait_blocked(2);
    // One entry: the first waiter takes it, the second keeps waiting.
    other.cmd(&["XADD", "s", "1-0", "f", "1"]);
    assert_eq!(
        text(first.read_reply()),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\n1\r\n"
    );
    other.wait_blocked(1);
    other.cmd(&["XADD", "s", "2-0", "f", "2"]);
    assert_eq!(
        text(second.read_reply()),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\n2\r\n"
    );
    other.wait_blocked(0);
    assert_eq!(
        text(other.cmd(&["XPENDING", "s", "g"])),
        "*4\r\n:2\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*2\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n*2\r\n$3\r\nbob\r\n$1\r\n1\r\n"
    );
}

#[test]
fn timeouts_answer_a_null_array_in_both_protocols() {
    let node = Cairn::start(&[]);
    let mut c = Raw::connect(&addr(&node));
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]),
        b"*-1\r\n"
    );
    c.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    assert_eq!(
        c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "50",
            "STREAMS",
            "s",
            ">"
        ]),
        b"*-1\r\n"
    );
    c.cmd(&["HELLO", "3"]);
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]),
        b"_\r\n"
    );
    // Served at once: the later timeout answers nothing more.
    c.cmd(&["XADD", "s", "1-0", "f", "v"]);
    let served = text(c.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "0"]));
    assert!(served.contains("$3\r\n1-0\r\n"), "{served}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn destroying_the_group_answers_nogroup_to_its_waiters() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    other.cmd(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    blocked.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["XGROUP", "DESTROY", "s", "g"]), b":1\r\n");
    assert!(text(blocked.read_reply()).starts_with("-NOGROUP "));
    other.wait_blocked(0);
}

#[test]
fn deleting_the_stream_unblocks_xreadgroup_but_not_xread() {
    let node = Cairn::start(&[]);
    let mut group_reader = Raw::connect(&addr(&node));
    let mut reader = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    other.cmd(&["XADD", "s", "1-0", "f", "v"]);
    other.cmd(&["XGROUP", "CREATE", "s", "g", "$"]);
    group_reader.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    other.wait_blocked(1);
    reader.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    other.wait_blocked(2);
    assert_eq!(other.cmd(&["DEL", "s"]), b":1\r\n");
    assert_eq!(
        text(group_reader.read_reply()),
        "-UNBLOCKED the stream key no longer exists\r\n"
    );
    other.wait_blocked(1);
    other.cmd(&["XADD", "s", "2-0", "f", "v"]);
    assert_eq!(
        text(reader.read_reply()),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}
