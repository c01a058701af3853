//! CLIENT PAUSE / CLIENT UNPAUSE over real sockets. Each scenario runs against Cairn and
//! against redis-server 7.0.15 and the replies must be equal byte for byte: WRITE holds writes
//! (and PUBLISH, PFCOUNT, scripts that may write, EXEC of a transaction holding one) while
//! reads, read-only scripts and read-only transactions pass; ALL holds everything, CLIENT
//! UNPAUSE included, until its time passes; held clients run in the order they were held;
//! refused commands answer at once; a pause queued in MULTI starts when EXEC has run; expiry
//! deletes wait for the end of the pause. Nothing is timed: the tests wait (bounded) for INFO
//! `blocked_clients` to show a client held. Last, on a NATS cluster: a pause and a monitor
//! concern the node they are sent to.

mod common;

use std::time::{Duration, Instant};

use common::differential::Oracle;
use common::{Cairn, Raw};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `scenario` against Cairn and against Redis 7.0.15; their transcripts must be equal.
fn differential(extra: &[&str], scenario: fn(&str) -> Vec<String>) {
    let oracle = Oracle::start();
    let cairn = Cairn::start(extra);
    let expected = scenario(&oracle.addr());
    let actual = scenario(&cairn.addr());
    assert_eq!(actual, expected, "Cairn (left) differs from Redis (right)");
}

/// Polls `f` (every 10 ms, at most 20 s) until it returns true.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value of one `field:` line of INFO `section`.
fn info_field(c: &mut Raw, section: &str, field: &str) -> String {
    let info = text(&c.cmd(&["INFO", section]));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or("")
        .to_string()
}

#[test]
fn write_pause_holds_writes_in_arrival_order_while_reads_pass() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        admin.cmd(&["PFADD", "hll", "a"]);
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])));
        // Held in the reverse order of their ids (Cairn's write lanes follow client ids), so
        // that arrival order is not the order of their lanes.
        let mut held: Vec<(i64, Raw)> = (0..8)
            .map(|_| {
                let mut c = Raw::connect(addr);
                let id = text(&c.cmd(&["CLIENT", "ID"]))[1..].trim().parse().unwrap();
                (id, c)
            })
            .collect();
        held.sort_by_key(|(id, _)| -(id % 8));
        for (i, (_, c)) in held.iter_mut().enumerate() {
            c.send_cmd(&["RPUSH", "list", &format!("v{i}")]);
            admin.wait_blocked(i + 1);
        }
        let mut publisher = Raw::connect(addr);
        publisher.send_cmd(&["PUBLISH", "ch", "m"]);
        admin.wait_blocked(9);
        let mut counter = Raw::connect(addr);
        counter.send_cmd(&["PFCOUNT", "hll"]);
        admin.wait_blocked(10);
        // Reads and connection commands pass; the writes are still waiting.
        let mut reader = Raw::connect(addr);
        out.push(text(&reader.cmd(&["LRANGE", "list", "0", "-1"])));
        out.push(text(&reader.cmd(&["PING"])));
        out.push(text(&reader.cmd(&["EXISTS", "list"])));
        // Refused commands answer at once.
        out.push(text(&reader.cmd(&["SET", "k"])));
        out.push(text(&reader.cmd(&["NOSUCHCOMMAND", "x"])));
        out.push(info_field(&mut reader, "clients", "blocked_clients"));
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        for (_, c) in held.iter_mut() {
            out.push(text(&c.read_reply()));
        }
        out.push(text(&publisher.read_reply()));
        out.push(text(&counter.read_reply()));
        out.push(text(&reader.cmd(&["LRANGE", "list", "0", "-1"])));
        out.push(info_field(&mut reader, "clients", "blocked_clients"));
        out
    });
}

#[test]
fn all_pause_holds_everything_until_its_time_passes() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        let mut reader = Raw::connect(addr);
        let mut unpauser = Raw::connect(addr);
        // The SET after the pause in the same batch is held first.
        admin.send_cmd(&["CLIENT", "PAUSE", "1000", "ALL"]);
        admin.send_cmd(&["SET", "k", "v"]);
        out.push(text(&admin.read_reply()));
        // Held too, behind the SET: it sees the SET's value once the pause ends. Under ALL even
        // CLIENT UNPAUSE waits (as in Redis 7.0): only time ends this pause.
        reader.send_cmd(&["GET", "k"]);
        unpauser.send_cmd(&["CLIENT", "UNPAUSE"]);
        out.push(text(&admin.read_reply()));
        out.push(text(&reader.read_reply()));
        out.push(text(&unpauser.read_reply()));
        out.push(text(&admin.cmd(&["GET", "k"])));
        out
    });
}

#[test]
fn pause_timeout_ends_the_pause_and_releases_held_clients() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "1500", "WRITE"])));
        let mut writer = Raw::connect(addr);
        writer.send_cmd(&["INCR", "n"]);
        admin.wait_blocked(1);
        // No UNPAUSE: the reply comes when the pause's time has passed.
        out.push(text(&writer.read_reply()));
        admin.wait_blocked(0);
        out.push(text(&writer.cmd(&["INCR", "n"])));
        out
    });
}

#[test]
fn a_second_pause_keeps_the_stricter_mode_and_unpause_ends_both() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])));
        // A shorter pause changes nothing; a zero pause neither (without a mode it would make
        // this one ALL: a pause keeps the stricter mode).
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "10", "WRITE"])));
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "0", "WRITE"])));
        let mut writer = Raw::connect(addr);
        writer.send_cmd(&["SET", "k", "1"]);
        admin.wait_blocked(1);
        out.push(text(&admin.cmd(&["GET", "k"])));
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        out.push(text(&writer.read_reply()));
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        out.push(text(&admin.cmd(&["GET", "k"])));
        out
    });
}

#[test]
fn transactions_and_scripts_are_held_by_what_they_may_do() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        admin.cmd(&["SET", "x", "y"]);
        admin.cmd(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=lib\nredis.register_function{function_name='ro', callback=function() return 'hello' end, flags={'no-writes'}}\nredis.register_function('rw', function() return redis.call('set', 'f', '1') end)",
        ]);
        // Queued before the pause: the EXEC of a write transaction is held.
        let mut tx = Raw::connect(addr);
        tx.cmd(&["MULTI"]);
        tx.cmd(&["SET", "t", "1"]);
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])));
        tx.send_cmd(&["EXEC"]);
        admin.wait_blocked(1);
        // What cannot write passes.
        let mut c = Raw::connect(addr);
        for argv in [
            &[
                "EVAL",
                "#!lua flags=no-writes\nreturn redis.call('get', 'x')",
                "0",
            ][..],
            &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "x"],
            &["SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2"],
            &["FCALL", "ro", "0"],
            &["FCALL_RO", "ro", "0"],
            &["MULTI"],
            &["GET", "x"],
            &["EVAL", "#!lua flags=no-writes\nreturn 12", "0"],
            &["EXEC"],
        ] {
            out.push(text(&c.cmd(argv)));
        }
        let sha = text(&c.cmd(&["SCRIPT", "LOAD", "#!lua flags=no-writes\nreturn 2"]));
        let sha = sha.lines().nth(1).unwrap().to_string();
        out.push(text(&c.cmd(&["EVALSHA", &sha, "0"])));
        // What may write is held: a script without flags, one with flags but no `no-writes`,
        // a function that writes, an EVALSHA of a script not loaded.
        let mut held = Vec::new();
        for argv in [
            &["EVAL", "return 1", "0"][..],
            &["EVAL", "#!lua\nreturn 2", "0"],
            &["FCALL", "rw", "0"],
            &["EVALSHA", "0123456789012345678901234567890123456789", "0"],
        ] {
            let mut h = Raw::connect(addr);
            h.send_cmd(argv);
            admin.wait_blocked(2 + held.len());
            held.push(h);
        }
        out.push(text(&c.cmd(&["EXISTS", "t", "f"])));
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        out.push(text(&tx.read_reply()));
        for mut h in held {
            out.push(text(&h.read_reply()));
        }
        out.push(text(&c.cmd(&["EXISTS", "t", "f"])));
        out
    });
}

#[test]
fn a_pause_inside_multi_starts_when_the_transaction_ends() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        for argv in [
            &["MULTI"][..],
            &["SET", "a", "1"],
            &["CLIENT", "PAUSE", "60000", "WRITE"],
            &["SET", "b", "2"],
            &["EXEC"],
        ] {
            out.push(text(&admin.cmd(argv)));
        }
        let mut writer = Raw::connect(addr);
        writer.send_cmd(&["SET", "c", "3"]);
        admin.wait_blocked(1);
        out.push(text(&admin.cmd(&["MGET", "a", "b", "c"])));
        // A write queued in MULTI during the pause is held while queueing, as in Redis.
        let mut tx = Raw::connect(addr);
        out.push(text(&tx.cmd(&["MULTI"])));
        tx.send_cmd(&["SET", "d", "4"]);
        admin.wait_blocked(2);
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        out.push(text(&writer.read_reply()));
        out.push(text(&tx.read_reply()));
        out.push(text(&tx.cmd(&["EXEC"])));
        out.push(text(&admin.cmd(&["MGET", "a", "b", "c", "d"])));
        out
    });
}

#[test]
fn expiry_waits_for_the_end_of_the_pause() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut c = Raw::connect(addr);
        c.cmd(&["FLUSHALL"]);
        let expired_before = info_field(&mut c, "stats", "expired_keys");
        for argv in [
            &["MULTI"][..],
            &["SET", "k", "v", "PX", "20"],
            &["SET", "p", "v"],
            &["CLIENT", "PAUSE", "60000", "WRITE"],
            &["EXEC"],
        ] {
            out.push(text(&c.cmd(argv)));
        }
        wait_until("k expired", || c.cmd(&["GET", "k"]) == b"$-1\r\n");
        // Logically gone, still counted: neither a read nor active expiry removed it.
        for argv in [
            &["DBSIZE"][..],
            &["EXISTS", "k"],
            &["TTL", "k"],
            &["KEYS", "*"],
            &["SCAN", "0"],
        ] {
            out.push(text(&c.cmd(argv)));
        }
        out.push(info_field(&mut c, "keyspace", "db0"));
        out.push(info_field(&mut c, "stats", "expired_keys"));
        out.push(text(&c.cmd(&["CLIENT", "UNPAUSE"])));
        // Once unpaused, a read (or active expiry) removes it.
        out.push(text(&c.cmd(&["GET", "k"])));
        wait_until("k removed", || c.cmd(&["DBSIZE"]) == b":1\r\n");
        out.push(info_field(&mut c, "keyspace", "db0"));
        let expired_after = info_field(&mut c, "stats", "expired_keys");
        out.push(format!("expired {expired_before} -> {expired_after}"));
        out
    });
}

#[test]
fn held_clients_that_leave_are_forgotten() {
    differential(&[], |addr| {
        let mut out = Vec::new();
        let mut admin = Raw::connect(addr);
        admin.cmd(&["FLUSHALL"]);
        out.push(text(&admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"])));
        let mut gone = Raw::connect(addr);
        gone.send_cmd(&["SET", "never", "1"]);
        admin.wait_blocked(1);
        drop(gone);
        admin.wait_blocked(0);
        out.push(text(&admin.cmd(&["CLIENT", "UNPAUSE"])));
        out.push(text(&admin.cmd(&["EXISTS", "never"])));
        out
    });
}

#[test]
fn client_pause_errors_match_redis() {
    common::differential::check_both_protocols(&[(
        "pause syntax",
        &[
            "CLIENT PAUSE abc FOO",
            "CLIENT PAUSE abc",
            "CLIENT PAUSE abc WRITE",
            "CLIENT PAUSE -1",
            "CLIENT PAUSE -1 ALL",
            "CLIENT PAUSE 99999999999999999999",
            "CLIENT PAUSE 1.5",
            "CLIENT PAUSE 1 2 3",
            "CLIENT PAUSE",
            "CLIENT UNPAUSE x",
            "CLIENT PAUSE 0 write",
            "CLIENT PAUSE 0 all",
            "SET k v",
            "CLIENT UNPAUSE",
            "CLIENT UNPAUSE",
            "GET k",
            "MULTI",
            "CLIENT PAUSE 0 WRITE",
            "CLIENT UNPAUSE",
            "EXEC",
        ],
    )]);
}

#[test]
fn client_list_shows_held_clients_as_blocked() {
    let node = Cairn::start(&[]);
    let mut admin = node.conn();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    let mut writer = node.conn();
    writer.send_cmd(&["CLIENT", "SETNAME", "w"]);
    writer.read_reply();
    writer.send_cmd(&["SET", "k", "v"]);
    admin.wait_blocked(1);
    let list = text(&admin.cmd(&["CLIENT", "LIST"]));
    let line = list.lines().find(|l| l.contains(" name=w ")).unwrap();
    assert!(
        line.contains(" flags=b ") && line.contains(" cmd=set "),
        "{line}"
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(writer.read_reply(), b"+OK\r\n");
    let list = text(&admin.cmd(&["CLIENT", "LIST"]));
    let line = list.lines().find(|l| l.contains(" name=w ")).unwrap();
    assert!(line.contains(" flags=N "), "{line}");
}

/// On a shared log a pause and a monitor concern the node they are sent to: the other node
/// keeps taking writes (which the paused node applies and serves to its readers), and a
/// monitor sees its own node's clients only, not the other node's commands or script calls.
#[test]
fn on_a_cluster_pause_and_monitor_concern_one_node() {
    let nats = common::nats::NatsCluster::start(3);
    let a = nats.node(&[]);
    let b = nats.node(&[]);
    let mut monitor = a.conn();
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut admin = a.conn();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        b"+OK\r\n"
    );
    let mut held = a.conn();
    held.send_cmd(&["SET", "k", "from-a"]);
    admin.wait_blocked(1);
    let mut other = b.conn();
    assert_eq!(other.cmd(&["SET", "k", "from-b"]), b"+OK\r\n");
    assert_eq!(
        other.cmd(&["EVAL", "return redis.call('incr', 'n')", "0"]),
        b":1\r\n"
    );
    assert_eq!(admin.cmd(&["GET", "k"]), b"$6\r\nfrom-b\r\n");
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), b"+OK\r\n");
    assert_eq!(held.read_reply(), b"+OK\r\n");
    assert_eq!(other.cmd(&["GET", "k"]), b"$6\r\nfrom-a\r\n");
    admin.cmd(&["ECHO", "end"]);
    let mut shown = Vec::new();
    loop {
        let line = text(&monitor.read_reply());
        let args = line.trim_end().split_once("] ").unwrap().1.to_string();
        // (wait_blocked's INFO calls come and go.)
        if !args.starts_with("\"INFO\"") {
            shown.push(args);
        }
        if line.contains("\"ECHO\" \"end\"") {
            break;
        }
    }
    assert_eq!(
        shown,
        [r#""GET" "k""#, r#""SET" "k" "from-a""#, r#""ECHO" "end""#]
    );
}
