//! MONITOR over real sockets. The lines a monitor receives for a sequence of commands are
//! compared with redis-server 7.0.15's (with the time and the client's port masked): quoting,
//! redaction of AUTH and HELLO, hidden admin commands, MULTI/EXEC (committed and discarded,
//! SELECT inside), scripts and functions with their `lua` calls. Then what Cairn adds or must
//! hold on its own: several clients at once, a monitor refused keyspace commands, RESET and
//! CLIENT LIST's `O` flag, a monitor that does not read cut off at its output buffer limit
//! while everyone else goes on, and the REST API's `/monitor` stream.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::differential::Oracle;
use common::http::{Http, start_rest};
use common::{Cairn, Raw};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads monitor lines up to and including the first that contains `last`.
fn lines_until(monitor: &mut Raw, last: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let line = text(&monitor.read_reply());
        let done = line.contains(last);
        out.push(line);
        if done {
            return out;
        }
    }
}

/// `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"` with the time and the port masked.
fn masked(line: &str) -> String {
    let line = line.trim_end();
    let rest = line
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("not a monitor line: {line:?}"));
    let (time, rest) = rest.split_once(' ').unwrap();
    let (secs, micros) = time.split_once('.').unwrap();
    assert!(
        secs.parse::<u64>().is_ok() && micros.len() == 6 && micros.parse::<u32>().is_ok(),
        "time {time:?}"
    );
    let (origin, args) = rest.split_once("] ").unwrap();
    let origin = match origin.split_once(' ') {
        Some((db, addr)) if addr.starts_with("127.0.0.1:") => format!("{db} 127.0.0.1:*"),
        _ => origin.to_string(),
    };
    format!("{origin}] {args}")
}

/// Commands sent one at a time (each answered before the next goes), so that a script's
/// calls come before the next command on both servers.
const SEQUENCE: &[&[&str]] = &[
    &["SET", "k", "v"],
    &["GET", "k"],
    &["SET", "bin", "a\"b\\c\n\r\t\x07\x08\x00\u{ff} \u{e9}"],
    &["CLIENT", "ID"],
    &["CLIENT", "LIST"],
    &["CONFIG", "GET", "maxmemory"],
    &["NOSUCHCOMMAND", "x"],
    &["GET"],
    &["PING"],
    &["ECHO", "hi"],
    &["PUBLISH", "ch", "m"],
    &["MULTI"],
    &["SET", "x", "1"],
    &["INCR", "x"],
    &["EXEC"],
    &["MULTI"],
    &["SYNTAX", "error"],
    &["EXEC"],
    &["MULTI"],
    &["SELECT", "2"],
    &["GET", "k"],
    &["EXEC"],
    &["SELECT", "0"],
    &[
        "EVAL",
        "redis.call('set', KEYS[1], ARGV[1]) redis.call('select', '3') return redis.call('get', 'x')",
        "1",
        "foo",
        "bar",
    ],
    &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "foo"],
    &["EVALSHA", "0123456789012345678901234567890123456789", "0"],
    &[
        "FUNCTION",
        "LOAD",
        "REPLACE",
        "#!lua name=t\nredis.register_function('test', function() return redis.call('set', 'foo', 'bar') end)",
    ],
    &["FCALL", "test", "0"],
    &["MULTI"],
    &["EVAL", "return redis.call('incr', 'n')", "0"],
    &["EXEC"],
    &["AUTH", "not-real"],
    &["AUTH", "not-real", "not-a-password"],
    &["AUTH", "a", "b", "c"],
    &["HELLO", "2", "AUTH", "not-real", "not-a-password"],
    &["HELLO", "4", "AUTH", "u", "p"],
    &["HELLO", "2", "SETNAME", "me", "AUTH", "u", "p"],
    &["HELLO", "2", "FOO", "AUTH", "u", "p"],
    &["DEL", "k", "bin", "x", "foo", "n"],
    &["ECHO", "end"],
];

/// The masked lines a monitor receives for SEQUENCE on the server at `addr`.
fn monitored(addr: &str) -> Vec<String> {
    let mut monitor = Raw::connect(addr);
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut c = Raw::connect(addr);
    for argv in SEQUENCE {
        c.cmd(argv);
    }
    lines_until(&mut monitor, "\"ECHO\" \"end\"")
        .iter()
        .map(|l| masked(l))
        .collect()
}

#[test]
fn monitor_lines_match_redis() {
    let oracle = Oracle::start();
    let cairn = Cairn::start(&[]);
    let expected = monitored(&oracle.addr());
    let actual = monitored(&cairn.addr());
    assert_eq!(actual, expected, "Cairn (left) differs from Redis (right)");
    // The parts the suite's tests look for.
    let all = expected.join("\n");
    for needle in [
        r#"[0 lua] "set" "foo" "bar""#,
        r#""AUTH" "(redacted)" "(redacted)""#,
        r#"[2 127.0.0.1:*] "EXEC""#,
    ] {
        assert!(all.contains(needle), "{needle} missing from:\n{all}");
    }
}

#[test]
fn monitor_replies_and_refusals_match_redis() {
    common::differential::check_both_protocols(&[
        ("monitor in multi", &["MULTI", "MONITOR", "EXEC"]),
        (
            "a monitor may not touch keys",
            &[
                "SET k v",
                "MONITOR",
                "GET k",
                "SET k w",
                "PUBLISH ch m",
                "PFCOUNT h",
                "EVAL \"return 1\" 0",
                "EVAL_RO \"return 1\" 0",
                // (A command that runs would add its own line to this connection's replies.)
                "RESET",
                "GET k",
            ],
        ),
    ]);
}

#[test]
fn several_clients_are_shown_with_their_addresses() {
    let node = Cairn::start(&[]);
    let mut monitor = node.conn();
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut a = node.conn();
    let mut b = node.conn();
    let addr_a = a.stream.local_addr().unwrap().to_string();
    let addr_b = b.stream.local_addr().unwrap().to_string();
    a.cmd(&["SET", "k", "1"]);
    b.cmd(&["INCR", "k"]);
    a.cmd(&["SELECT", "5"]);
    a.cmd(&["GET", "k"]);
    b.cmd(&["ECHO", "end"]);
    let lines = lines_until(&mut monitor, "\"ECHO\" \"end\"");
    let tails: Vec<&str> = lines
        .iter()
        .map(|l| l.trim_end().split_once(' ').unwrap().1)
        .collect();
    assert_eq!(
        tails,
        [
            format!(r#"[0 {addr_a}] "SET" "k" "1""#),
            format!(r#"[0 {addr_b}] "INCR" "k""#),
            format!(r#"[5 {addr_a}] "SELECT" "5""#),
            format!(r#"[5 {addr_a}] "GET" "k""#),
            format!(r#"[0 {addr_b}] "ECHO" "end""#),
        ]
    );
    // A second MONITOR gets no reply (as in Redis); the client still is one monitor.
    monitor.send_cmd(&["MONITOR"]);
    monitor.send_cmd(&["PING"]);
    assert_eq!(monitor.read_reply(), b"+PONG\r\n");
    let own = text(&monitor.read_reply());
    assert!(own.ends_with("\"PING\"\r\n"), "{own}");
}

#[test]
fn reset_stops_monitoring_and_client_list_shows_monitors() {
    let node = Cairn::start(&[]);
    let mut monitor = node.conn();
    monitor.cmd(&["CLIENT", "SETNAME", "mon"]);
    assert_eq!(monitor.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut c = node.conn();
    let list = text(&c.cmd(&["CLIENT", "LIST"]));
    let line = list.lines().find(|l| l.contains(" name=mon ")).unwrap();
    assert!(
        line.contains(" flags=O ") && line.contains(" cmd=monitor "),
        "{line}"
    );
    assert_eq!(monitor.cmd(&["RESET"]), b"+RESET\r\n");
    // RESET cleared the name too; the monitor is gone from the list's flags.
    let list = text(&c.cmd(&["CLIENT", "LIST"]));
    assert!(!list.contains("flags=O"), "{list}");
    c.cmd(&["SET", "k", "v"]);
    // No line came: the next reply is the PING's.
    assert_eq!(monitor.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn a_monitor_that_does_not_read_is_cut_off_and_nobody_else_waits() {
    // Monitors are normal clients for the output buffer limit, as in Redis.
    let node = Cairn::start(&["--client-output-buffer-limit", "normal 256kb 0 0"]);
    let mut slow = node.conn();
    assert_eq!(slow.cmd(&["MONITOR"]), b"+OK\r\n");
    let mut fine = node.conn();
    assert_eq!(fine.cmd(&["MONITOR"]), b"+OK\r\n");
    // (Monitor lines are simple strings: read them buffered.)
    let mut fine_lines = BufReader::new(fine.stream.try_clone().unwrap());
    let mut writer = node.conn();
    let payload = "x".repeat(16 * 1024);
    // The slow monitor never reads: 16 MiB of lines pass any socket buffer.
    for i in 0..1024 {
        let echoed = writer.cmd(&["ECHO", &payload]);
        assert_eq!(echoed.len(), payload.len() + 10, "ECHO {i}");
        let mut line = String::new();
        fine_lines.read_line(&mut line).unwrap();
        assert!(line.contains("\"ECHO\" \"xxxx"), "{}", &line[..80]);
    }
    assert!(slow.is_closed(), "the slow monitor is still connected");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = text(&writer.cmd(&["CLIENT", "LIST"]));
        if list.matches("flags=O").count() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cut-off monitor stays: {list}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rest_monitor_streams_lines_as_server_sent_events() {
    const TOKEN: &str = "monitor-token";
    const READONLY: &str = "monitor-readonly";
    let (node, rest) = start_rest(&["--rest-token", TOKEN, "--rest-readonly-token", READONLY]);
    let addr = format!("127.0.0.1:{rest}");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut stream = Http::connect(&addr);
    stream.send(
        "POST",
        "/monitor",
        &[&auth, "Accept: text/event-stream"],
        b"",
    );
    let (status, headers) = stream.read_head();
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type")
                && v.starts_with("text/event-stream"))
    );
    assert_eq!(stream.next_event(), "\"OK\"");
    // A REST command and a RESP command both show, REST's with its HTTP peer's address.
    let mut http = Http::connect(&addr);
    let r = http.request("POST", "/", &[&auth], br#"["SET","k","v w"]"#);
    assert_eq!(r.text(), r#"{"result":"OK"}"#);
    let mut c = node.conn();
    c.cmd(&["GET", "k"]);
    let first = stream.next_event();
    let peer = http.reader.get_ref().local_addr().unwrap().to_string();
    assert!(
        first.ends_with(&format!(r#" [0 {peer}] "SET" "k" "v w""#)),
        "{first}"
    );
    let second = stream.next_event();
    assert!(second.ends_with(r#"] "GET" "k""#), "{second}");
    // MONITOR needs @admin: the read-only token is refused.
    let mut refused = Http::connect(&addr);
    let r = refused.request(
        "POST",
        "/monitor",
        &[&format!("Authorization: Bearer {READONLY}")],
        b"",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("NOPERM"), "{}", r.text());
    // A client that leaves is no longer a monitor.
    let _ = stream.reader.get_mut().flush();
    drop(stream);
    wait_for_no_monitor(&mut c);
    // A stream whose client does not read is cut off (past 32 MiB of lines waiting), and the
    // node's other clients go on.
    let mut slow = Http::connect(&addr);
    slow.send("POST", "/monitor", &[&auth], b"");
    assert_eq!(slow.read_head().0, 200);
    let payload = "x".repeat(16 * 1024);
    for i in 0..4096 {
        let echoed = c.cmd(&["ECHO", &payload]);
        assert_eq!(echoed.len(), payload.len() + 10, "ECHO {i}");
    }
    wait_for_no_monitor(&mut c);
}

/// Waits (bounded) until CLIENT LIST shows no monitor; commands meanwhile give a monitor
/// whose client left lines to fail on.
fn wait_for_no_monitor(c: &mut Raw) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.cmd(&["PING"]);
        let list = text(&c.cmd(&["CLIENT", "LIST"]));
        if !list.contains("flags=O") {
            return;
        }
        assert!(Instant::now() < deadline, "a monitor stays: {list}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
