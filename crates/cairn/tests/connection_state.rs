//! Connection state that Redis 7.0.15 keeps in a particular way, checked over real sockets:
//! CLIENT KILL of one's own connection, runtime CONFIG SET reaching existing connections
//! (timeout, requirepass), client-output-buffer-limit classes, CLIENT REPLY OFF/SKIP, SHUTDOWN
//! flag combinations, and INFO errorstats.

mod common;

use std::time::{Duration, Instant};

use common::{Cairn, Raw};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

#[test]
fn killing_ones_own_connection_by_address_still_answers() {
    let cairn = Cairn::start(&[]);
    for _ in 0..5 {
        let mut c = cairn.conn();
        let own = c.stream.local_addr().unwrap().to_string();
        assert_eq!(c.cmd(&["CLIENT", "KILL", &own]), b"+OK\r\n");
        assert!(c.is_closed(), "the killed connection stays open");
    }
}

#[test]
fn timeout_set_at_runtime_reaches_idle_connections() {
    let cairn = Cairn::start(&[]);
    let mut idle = cairn.conn();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    let mut admin = cairn.conn();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "timeout", "1"]), b"+OK\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut closed = false;
    while Instant::now() < deadline && !closed {
        closed = idle.is_closed();
    }
    assert!(
        closed,
        "an idle connection outlived the timeout set after it connected"
    );
}

#[test]
fn clearing_requirepass_unlocks_connections_that_never_authenticated() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "requirepass", "pw"]),
        b"+OK\r\n"
    );
    let mut locked = cairn.conn();
    assert!(text(&locked.cmd(&["PING"])).starts_with("-NOAUTH"));
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", ""]), b"+OK\r\n");
    assert_eq!(locked.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn output_limit_classes_not_given_are_kept() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let set = |c: &mut Raw, v: &str| c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", v]);
    assert_eq!(set(&mut c, "normal 1mb 0 0"), b"+OK\r\n");
    assert_eq!(set(&mut c, "pubsub 32mb 8mb 60"), b"+OK\r\n");
    let got = text(&c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]));
    assert!(got.contains("normal 1048576 0 0"), "{got}");
}

#[test]
fn client_reply_skip_does_not_undo_off() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    c.send(b"CLIENT REPLY OFF\r\nCLIENT REPLY SKIP\r\nPING a\r\nPING b\r\nCLIENT REPLY ON\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n", "only CLIENT REPLY ON answers");
    assert_eq!(c.cmd(&["PING", "c"]), b"$1\r\nc\r\n");
    // A pending SKIP swallows RESET's own reply.
    c.send(b"CLIENT REPLY SKIP\r\nRESET\r\nPING d\r\n");
    assert_eq!(c.read_reply(), b"$1\r\nd\r\n");
}

#[test]
fn shutdown_rejects_contradictory_flags_and_keeps_running() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    for args in [
        &["SHUTDOWN", "SAVE", "NOSAVE"][..],
        &["SHUTDOWN", "ABORT", "NOSAVE"],
        &["SHUTDOWN", "BOGUS"],
    ] {
        assert_eq!(c.cmd(args), b"-ERR syntax error\r\n", "{args:?}");
    }
    assert_eq!(
        c.cmd(&["SHUTDOWN", "ABORT"]),
        b"-ERR No shutdown in progress.\r\n"
    );
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn info_errorstats_counts_error_replies_by_prefix() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    assert_eq!(c.cmd(&["SET", "k", "v", "BOGUS"]), b"-ERR syntax error\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert!(text(&c.cmd(&["INCR", "k"])).starts_with("-ERR value is not an integer"));
    assert!(text(&c.cmd(&["GET"])).starts_with("-ERR wrong number of arguments"));
    let errorstats = text(&c.cmd(&["INFO", "errorstats"]));
    assert!(
        errorstats.contains("# Errorstats\r\nerrorstat_ERR:count=3\r\n"),
        "{errorstats}"
    );
    let default = text(&c.cmd(&["INFO"]));
    assert!(default.contains("# Errorstats"), "{default}");
    assert!(default.contains("total_error_replies:3"), "{default}");
}
