//! Pub/sub over real sockets, byte for byte as Redis 7.0.15 answers (the expected bytes were
//! taken from redis-server 7.0.15): channel, pattern and shard subscriptions, RESP2's
//! subscribed mode and RESP3 push messages, PUBSUB queries, RESET, and a subscriber that does
//! not read being cut off by `client-output-buffer-limit pubsub` while everyone else goes on.
//! `cluster.rs` covers a message published on one node reaching a subscriber on another.

mod common;

use common::{Cairn, Raw};

fn connect(node: &Cairn) -> Raw {
    Raw::connect(&format!("127.0.0.1:{}", node.port))
}

/// Reads `n` replies and returns them concatenated.
fn replies(c: &mut Raw, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| c.read_reply()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn channels_and_patterns_deliver_in_resp2() {
    let node = Cairn::start(&[]);
    let mut sub = connect(&node);
    let mut publisher = connect(&node);
    sub.send_cmd(&["SUBSCRIBE", "c1", "c2"]);
    assert_eq!(
        text(&replies(&mut sub, 2)),
        "*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nc2\r\n:2\r\n"
    );
    sub.send_cmd(&["PSUBSCRIBE", "c*"]);
    assert_eq!(
        text(&sub.read_reply()),
        "*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:3\r\n"
    );
    assert_eq!(
        text(&sub.cmd(&["GET", "x"])),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(text(&sub.cmd(&["PING"])), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(
        text(&sub.cmd(&["PING", "hi"])),
        "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n"
    );

    assert_eq!(publisher.cmd(&["PUBLISH", "c1", "m1"]), b":2\r\n");
    assert_eq!(
        text(&replies(&mut sub, 2)),
        "*3\r\n$7\r\nmessage\r\n$2\r\nc1\r\n$2\r\nm1\r\n*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nc1\r\n$2\r\nm1\r\n"
    );
    assert_eq!(
        text(&publisher.cmd(&["PUBSUB", "NUMSUB", "c1", "zz"])),
        "*4\r\n$2\r\nc1\r\n:1\r\n$2\r\nzz\r\n:0\r\n"
    );
    assert_eq!(publisher.cmd(&["PUBSUB", "NUMPAT"]), b":1\r\n");
    let channels = text(&publisher.cmd(&["PUBSUB", "CHANNELS"]));
    assert!(channels.starts_with("*2\r\n") && channels.contains("c1") && channels.contains("c2"));
    assert_eq!(
        text(&publisher.cmd(&["PUBSUB", "CHANNELS", "a", "b"])),
        "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n"
    );
    let list = text(&publisher.cmd(&["CLIENT", "LIST"]));
    assert!(list.contains("flags=P db=0 sub=2 psub=1 ssub=0"), "{list}");

    sub.send_cmd(&["UNSUBSCRIBE"]);
    let both = text(&replies(&mut sub, 2));
    assert!(
        both.contains("unsubscribe\r\n$2\r\nc1\r\n") && both.ends_with(":1\r\n"),
        "{both}"
    );
    sub.send_cmd(&["PUNSUBSCRIBE"]);
    assert_eq!(
        text(&sub.read_reply()),
        "*3\r\n$12\r\npunsubscribe\r\n$2\r\nc*\r\n:0\r\n"
    );
    sub.send_cmd(&["UNSUBSCRIBE"]);
    assert_eq!(
        text(&sub.read_reply()),
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    );
    // No longer subscribed: any command runs again.
    assert_eq!(sub.cmd(&["GET", "x"]), b"$-1\r\n");
    assert_eq!(publisher.cmd(&["PUBLISH", "c1", "m2"]), b":0\r\n");
}

#[test]
fn shard_channels_count_apart_and_resp3_gets_push_messages() {
    let node = Cairn::start(&[]);
    let mut sub = connect(&node);
    let mut publisher = connect(&node);
    assert!(text(&sub.cmd(&["HELLO", "3"])).starts_with('%'));
    sub.send_cmd(&["SUBSCRIBE", "plain"]);
    assert_eq!(
        text(&sub.read_reply()),
        ">3\r\n$9\r\nsubscribe\r\n$5\r\nplain\r\n:1\r\n"
    );
    sub.send_cmd(&["SSUBSCRIBE", "s1"]);
    assert_eq!(
        text(&sub.read_reply()),
        ">3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n"
    );
    // RESP3 connections keep running commands while subscribed.
    assert_eq!(sub.cmd(&["SET", "k", "v"]), b"+OK\r\n");
    assert_eq!(publisher.cmd(&["SPUBLISH", "s1", "sm"]), b":1\r\n");
    assert_eq!(
        text(&sub.read_reply()),
        ">3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nsm\r\n"
    );
    assert_eq!(publisher.cmd(&["PUBLISH", "s1", "x"]), b":0\r\n");
    assert_eq!(
        text(&publisher.cmd(&["PUBSUB", "SHARDNUMSUB", "s1"])),
        "*2\r\n$2\r\ns1\r\n:1\r\n"
    );
    assert_eq!(
        text(&publisher.cmd(&["PUBSUB", "SHARDCHANNELS"])),
        "*1\r\n$2\r\ns1\r\n"
    );
    assert_eq!(sub.cmd(&["RESET"]), b"+RESET\r\n");
    assert_eq!(publisher.cmd(&["PUBLISH", "plain", "gone"]), b":0\r\n");
    assert_eq!(publisher.cmd(&["SPUBLISH", "s1", "gone"]), b":0\r\n");
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off_and_nobody_else_waits() {
    let node = Cairn::start(&["--client-output-buffer-limit", "pubsub 256kb 0 0"]);
    let mut slow = connect(&node);
    let mut fine = connect(&node);
    let mut publisher = connect(&node);
    slow.send_cmd(&["SUBSCRIBE", "firehose"]);
    slow.read_reply();
    fine.send_cmd(&["SUBSCRIBE", "firehose"]);
    fine.read_reply();
    let payload = "x".repeat(16 * 1024);
    let mut received_by_fine = 0;
    // The slow subscriber never reads: 16 MiB at it passes any socket buffer.
    for _ in 0..1024 {
        publisher.cmd(&["PUBLISH", "firehose", &payload]);
        fine.read_reply();
        received_by_fine += 1;
    }
    assert_eq!(received_by_fine, 1024);
    assert_eq!(publisher.cmd(&["PUBLISH", "firehose", "last"]), b":1\r\n");
    assert!(slow.is_closed(), "the slow subscriber is still connected");
}

#[test]
fn keyspace_notifications_follow_writes_and_expiry() {
    let node = Cairn::start(&["--notify-keyspace-events", "Kg$"]);
    let mut sub = connect(&node);
    let mut c = connect(&node);
    assert_eq!(
        text(&c.cmd(&["CONFIG", "GET", "notify-keyspace-events"])),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\ng$K\r\n"
    );
    sub.send_cmd(&["PSUBSCRIBE", "__key*__:*"]);
    sub.read_reply();
    c.cmd(&["SET", "a", "1", "EX", "100"]);
    assert_eq!(
        text(&replies(&mut sub, 2)),
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@0__:a\r\n$3\r\nset\r\n\
         *4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$16\r\n__keyspace@0__:a\r\n$6\r\nexpire\r\n"
    );
    assert_eq!(
        text(&c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Q"])),
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
    );
    // Events by name (E), expired keys (x) included.
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    c.cmd(&["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(c.cmd(&["GET", "gone"]), b"$-1\r\n");
    assert_eq!(
        text(&sub.read_reply()),
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$22\r\n__keyevent@0__:expired\r\n$4\r\ngone\r\n"
    );
    c.cmd(&["RENAME", "a", "b"]);
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Eg"]);
    c.cmd(&["RENAME", "b", "a"]);
    assert_eq!(
        text(&replies(&mut sub, 2)),
        "*4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$26\r\n__keyevent@0__:rename_from\r\n$1\r\nb\r\n\
         *4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$24\r\n__keyevent@0__:rename_to\r\n$1\r\na\r\n"
    );
}
