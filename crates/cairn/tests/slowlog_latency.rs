//! SLOWLOG and LATENCY on the real binary over real sockets: every subcommand, the options
//! and their limits, what is logged (reads, writes, connection and node commands, EXEC's
//! commands, a served blocking command) and what is hidden (secrets, EXEC itself), and the
//! per-command histograms of LATENCY HISTOGRAM and INFO latencystats. Nothing here depends
//! on how fast the machine is: `slowlog-log-slower-than 0` logs every command, and DEBUG
//! SLEEP gives lower bounds only. The deterministic replies (errors, HELP, options, empty
//! results) are compared byte for byte with redis-server 7.0.15.

mod common;

use common::differential::check_both_protocols;
use common::{Cairn, Client, Raw, Resp};

/// One SLOWLOG GET entry.
#[derive(Debug)]
struct Entry {
    id: i64,
    time_s: i64,
    usec: i64,
    argv: Vec<String>,
    peer: String,
    name: String,
}

fn text(r: &Resp) -> String {
    match r {
        Resp::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Resp::Simple(s) | Resp::Error(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

fn int(r: &Resp) -> i64 {
    match r {
        Resp::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn array(r: Resp) -> Vec<Resp> {
    match r {
        Resp::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn slowlog(c: &mut Client, args: &[&str]) -> Vec<Entry> {
    let mut argv = vec!["SLOWLOG", "GET"];
    argv.extend_from_slice(args);
    array(c.must(&argv))
        .into_iter()
        .map(|e| {
            let f = array(e);
            assert_eq!(f.len(), 6, "{f:?}");
            Entry {
                id: int(&f[0]),
                time_s: int(&f[1]),
                usec: int(&f[2]),
                argv: array(f[3].clone()).iter().map(text).collect(),
                peer: text(&f[4]),
                name: text(&f[5]),
            }
        })
        .collect()
}

fn argvs(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.argv.join(" ")).collect()
}

fn ok(c: &mut Client, args: &[&str]) {
    assert_eq!(c.must(args), Resp::Simple("OK".into()), "{args:?}");
}

fn err(c: &mut Client, args: &[&str]) -> String {
    match c.must(args) {
        Resp::Error(e) => e,
        other => panic!("{args:?}: expected an error, got {other:?}"),
    }
}

/// The local address the server sees for `c` (CLIENT INFO's `addr=`).
fn peer_of(c: &mut Client) -> String {
    let info = text(&c.must(&["CLIENT", "INFO"]));
    info.split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------------------------

#[test]
fn slowlog_logs_every_kind_of_command_with_its_client() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    assert_eq!(c.must(&["CONFIG", "GET", "slowlog-log-slower-than"]), {
        Resp::Array(vec![
            Resp::Bulk(b"slowlog-log-slower-than".to_vec()),
            Resp::Bulk(b"10000".to_vec()),
        ])
    });
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(0));
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut c, &["CLIENT", "SETNAME", "logger"]);
    ok(&mut c, &["SET", "k", "v"]);
    assert_eq!(c.must(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
    err(&mut c, &["INCR", "k"]);
    // A write refused by its syntax check is a (failed) call too.
    err(&mut c, &["SET", "k", "v", "EX", "0"]);
    let peer = peer_of(&mut c);
    let got = slowlog(&mut c, &["-1"]);
    assert_eq!(
        argvs(&got),
        [
            "CLIENT INFO",
            "SET k v EX 0",
            "INCR k",
            "GET k",
            "SET k v",
            "CLIENT SETNAME logger",
            "CONFIG SET slowlog-log-slower-than 0",
        ]
    );
    // Newest first, ids consecutive from 0; each entry names the client as it was then.
    let ids: Vec<i64> = got.iter().map(|e| e.id).collect();
    assert_eq!(ids, [6, 5, 4, 3, 2, 1, 0]);
    assert!(got.iter().all(|e| e.peer == peer && e.usec >= 0));
    assert!(got.iter().all(|e| e.time_s > 1_600_000_000));
    assert_eq!(got[6].name, "");
    assert!(got[..6].iter().all(|e| e.name == "logger"));
    // SLOWLOG GET was logged after it ran.
    assert_eq!(
        argvs(&slowlog(&mut c, &["1"])),
        ["SLOWLOG GET -1"],
        "the previous GET is the newest entry"
    );
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(9));
    ok(&mut c, &["SLOWLOG", "RESET"]);
    // RESET is logged after it emptied the log.
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(1));
    assert_eq!(
        argvs(&slowlog(&mut c, &[])),
        ["SLOWLOG LEN", "SLOWLOG RESET"]
    );
}

#[test]
fn slowlog_options_and_limits() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    // A high threshold logs nothing; -1 turns the log off.
    ok(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "100000000"],
    );
    c.must(&["PING"]);
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(0));
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut c, &["CONFIG", "SET", "slowlog-max-len", "10"]);
    for _ in 0..30 {
        c.must(&["PING"]);
    }
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(10));
    assert_eq!(slowlog(&mut c, &[]).len(), 10, "GET shows 10 by default");
    assert_eq!(slowlog(&mut c, &["5"]).len(), 5);
    assert_eq!(slowlog(&mut c, &["0"]).len(), 0);
    assert_eq!(slowlog(&mut c, &["-1"]).len(), 10);
    assert_eq!(slowlog(&mut c, &["1000"]).len(), 10);
    for bad in ["-2", "-222", "abc", "1.5"] {
        assert_eq!(
            err(&mut c, &["SLOWLOG", "GET", bad]),
            "ERR count should be greater than or equal to -1"
        );
    }
    // A shorter maximum drops the oldest entries at once.
    ok(&mut c, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(3));
    ok(&mut c, &["CONFIG", "SET", "slowlog-max-len", "0"]);
    c.must(&["PING"]);
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(0));
    ok(&mut c, &["CONFIG", "SET", "slowlog-max-len", "128"]);
    // 32 arguments at most, the last saying how many more there were; 128 bytes of each.
    ok(&mut c, &["SLOWLOG", "RESET"]);
    let members: Vec<String> = (3..=33).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "set"];
    sadd.extend(members.iter().map(String::as_str));
    c.must(&sadd);
    let long = "A".repeat(129);
    c.must(&["SADD", "set", "foo", &long]);
    let got = slowlog(&mut c, &["2"]);
    assert_eq!(got[1].argv.len(), 32);
    assert_eq!(got[1].argv[30], "31");
    assert_eq!(got[1].argv[31], "... (2 more arguments)");
    assert_eq!(
        got[0].argv,
        [
            "SADD",
            "set",
            "foo",
            &format!("{}... (1 more bytes)", "A".repeat(128))
        ]
    );
    // Off: nothing more is logged, not even after RESET.
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    ok(&mut c, &["SLOWLOG", "RESET"]);
    c.must(&["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(0));
}

#[test]
fn slowlog_times_node_commands_their_core_part_included() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    ok(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "15000"],
    );
    ok(&mut c, &["SLOWLOG", "RESET"]);
    // Alone, DEBUG SLEEP's core part runs at once; pipelined behind a write, it waits for
    // the write and is timed when it runs. Either way it took at least its sleep.
    c.must(&["DEBUG", "SLEEP", "0.02"]);
    let replies = c
        .pipeline(&[
            vec![b"SET".to_vec(), b"x".to_vec(), b"1".to_vec()],
            vec![b"DEBUG".to_vec(), b"SLEEP".to_vec(), b"0.02".to_vec()],
        ])
        .unwrap();
    assert_eq!(replies[1], Resp::Simple("OK".into()));
    let got = slowlog(&mut c, &[]);
    let sleeps: Vec<&Entry> = got
        .iter()
        .filter(|e| e.argv.join(" ") == "DEBUG SLEEP 0.02")
        .collect();
    assert_eq!(sleeps.len(), 2, "{got:?}");
    assert!(sleeps.iter().all(|e| e.usec >= 20_000), "{got:?}");
}

#[test]
fn slowlog_hides_secrets_and_logs_transactions_command_by_command() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    ok(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    ok(&mut c, &["SLOWLOG", "RESET"]);
    err(&mut c, &["AUTH", "not-the-password"]);
    err(&mut c, &["AUTH", "someone", "secret"]);
    err(&mut c, &["HELLO", "2", "AUTH", "someone", "secret"]);
    c.must(&["ACL", "SETUSER", "slowlog test user", "+get"]);
    ok(
        &mut c,
        &["ACL", "SETUSER", "slowlog-user", "on", ">secret", "+get"],
    );
    ok(&mut c, &["CONFIG", "SET", "requirepass", ""]);
    ok(&mut c, &["CONFIG", "SET", "timeout", "0"]);
    let got = slowlog(&mut c, &[]);
    assert_eq!(
        argvs(&got),
        [
            "CONFIG SET timeout 0",
            "CONFIG SET requirepass (redacted)",
            "ACL SETUSER (redacted) (redacted) (redacted) (redacted)",
            "ACL SETUSER (redacted) (redacted)",
            "HELLO 2 AUTH (redacted) (redacted)",
            "AUTH (redacted) (redacted)",
            "AUTH (redacted)",
            "SLOWLOG RESET",
        ]
    );
    // EXEC is not logged; the commands it ran are, each on its own. SLOWLOG works inside a
    // transaction.
    ok(&mut c, &["SLOWLOG", "RESET"]);
    ok(&mut c, &["MULTI"]);
    c.must(&["SET", "n", "1"]);
    c.must(&["INCR", "n"]);
    c.must(&["SLOWLOG", "LEN"]);
    assert_eq!(
        c.must(&["EXEC"]),
        Resp::Array(vec![Resp::Simple("OK".into()), Resp::Int(2), Resp::Int(4)])
    );
    assert_eq!(
        argvs(&slowlog(&mut c, &[])),
        ["SLOWLOG LEN", "INCR n", "SET n 1", "MULTI", "SLOWLOG RESET"]
    );
    // A blocking command is logged once served, as it was sent.
    let mut blocked = cairn.conn();
    blocked.send_cmd(&["BLPOP", "list", "0"]);
    let mut waiter = cairn.conn();
    waiter.wait_blocked(1);
    ok(&mut c, &["SLOWLOG", "RESET"]);
    c.must(&["LPUSH", "list", "a"]);
    assert_eq!(blocked.read_reply(), b"*2\r\n$4\r\nlist\r\n$1\r\na\r\n");
    let got = argvs(&slowlog(&mut c, &[]));
    assert!(got.contains(&"BLPOP list 0".to_string()), "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// LATENCY
// ---------------------------------------------------------------------------------------------

#[test]
fn latency_monitor_records_commands_over_the_threshold() {
    // A threshold of 100 ms: no other command here comes near it.
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    // Off by default: nothing is recorded.
    c.must(&["DEBUG", "SLEEP", "0.12"]);
    assert_eq!(c.must(&["LATENCY", "LATEST"]), Resp::Array(vec![]));
    ok(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "100"],
    );
    c.must(&["DEBUG", "SLEEP", "0.12"]);
    let latest = array(c.must(&["LATENCY", "LATEST"]));
    assert_eq!(latest.len(), 1, "{latest:?}");
    let event = array(latest[0].clone());
    assert_eq!(text(&event[0]), "command");
    assert!(int(&event[1]) > 1_600_000_000);
    assert!(int(&event[2]) >= 120 && int(&event[3]) >= int(&event[2]));
    let history = array(c.must(&["LATENCY", "HISTORY", "command"]));
    assert!(!history.is_empty());
    for sample in history {
        let sample = array(sample);
        assert_eq!(sample.len(), 2);
        assert!(int(&sample[1]) >= 120);
    }
    assert_eq!(
        c.must(&["LATENCY", "HISTORY", "blabla"]),
        Resp::Array(vec![])
    );
    let graph = text(&c.must(&["LATENCY", "GRAPH", "command"]));
    assert!(graph.starts_with("command - high "), "{graph}");
    assert!(graph.contains(&"-".repeat(80)), "{graph}");
    let doctor = text(&c.must(&["LATENCY", "DOCTOR"]));
    assert!(doctor.contains("1. command: "), "{doctor}");
    assert_eq!(c.must(&["LATENCY", "RESET", "blabla"]), Resp::Int(0));
    assert_eq!(
        c.must(&["LATENCY", "RESET", "COMMAND", "command"]),
        Resp::Int(1)
    );
    assert_eq!(c.must(&["LATENCY", "LATEST"]), Resp::Array(vec![]));
    c.must(&["DEBUG", "SLEEP", "0.12"]);
    assert_eq!(c.must(&["LATENCY", "RESET"]), Resp::Int(1));
    assert_eq!(
        err(&mut c, &["LATENCY", "GRAPH", "command"]),
        "ERR No samples available for event 'command'"
    );
}

/// One command of `LATENCY HISTOGRAM`: (name, calls, [(bucket µs, cumulative calls)]).
type Histogram = (String, i64, Vec<(i64, i64)>);

/// `LATENCY HISTOGRAM`'s reply, RESP2.
fn histogram(c: &mut Client, args: &[&str]) -> Vec<Histogram> {
    let mut argv = vec!["LATENCY", "HISTOGRAM"];
    argv.extend_from_slice(args);
    let flat = array(c.must(&argv));
    flat.chunks(2)
        .map(|pair| {
            let body = array(pair[1].clone());
            assert_eq!(text(&body[0]), "calls");
            assert_eq!(text(&body[2]), "histogram_usec");
            let buckets = array(body[3].clone())
                .chunks(2)
                .map(|b| (int(&b[0]), int(&b[1])))
                .collect();
            (text(&pair[0]), int(&body[1]), buckets)
        })
        .collect()
}

#[test]
fn latency_histogram_counts_calls_per_command() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    ok(&mut c, &["CONFIG", "RESETSTAT"]);
    let all = histogram(&mut c, &[]);
    assert_eq!(all.len(), 1, "only CONFIG RESETSTAT ran: {all:?}");
    assert_eq!(all[0].0, "config|resetstat");
    ok(&mut c, &["SET", "a", "b"]);
    ok(&mut c, &["SET", "c", "d"]);
    c.must(&["GET", "a"]);
    c.must(&["CLIENT", "ID"]);
    c.must(&["CLIENT", "LIST"]);
    let got = histogram(&mut c, &["set", "client", "blabla", "get|x", "client|id"]);
    let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["set", "client|id", "client|list", "client|id"]);
    assert_eq!(got[0].1, 2);
    for (name, calls, buckets) in &got {
        // Cumulative counts that grow, ending at the calls; buckets named as Redis's.
        assert!(!buckets.is_empty(), "{name}");
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        );
        assert_eq!(buckets.last().unwrap().1, *calls);
        assert!(buckets.iter().all(|(usec, _)| {
            [
                1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454,
            ]
            .contains(usec)
                || *usec > 8454
        }));
    }
    assert!(histogram(&mut c, &["blabla"]).is_empty());
    // RESP3: maps.
    let mut raw = cairn.conn();
    raw.cmd(&["HELLO", "3"]);
    let reply = raw.cmd(&["LATENCY", "HISTOGRAM", "get"]);
    let prefix = b"%1\r\n$3\r\nget\r\n%2\r\n$5\r\ncalls\r\n:1\r\n$14\r\nhistogram_usec\r\n%1\r\n:";
    assert!(
        reply.starts_with(prefix),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // With latency-tracking off, calls are not counted.
    ok(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]);
    ok(&mut c, &["CONFIG", "RESETSTAT"]);
    ok(&mut c, &["SET", "a", "b"]);
    assert!(histogram(&mut c, &["set"]).is_empty());
}

#[test]
fn info_latencystats_reports_the_configured_percentiles() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.client();
    ok(&mut c, &["CONFIG", "RESETSTAT"]);
    ok(&mut c, &["SET", "a", "b"]);
    let info = text(&c.must(&["INFO", "latencystats"]));
    assert!(info.starts_with("# Latencystats\r\n"), "{info}");
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .unwrap_or_else(|| panic!("{info}"));
    assert!(
        line.contains(":p50=") && line.contains(",p99=") && line.contains(",p99.9="),
        "{line}"
    );
    ok(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0.0 50.0 100.0",
        ],
    );
    let info = text(&c.must(&["INFO", "latencystats"]));
    assert!(info.contains("latency_percentiles_usec_set:p0="), "{info}");
    assert!(
        info.contains("latency_percentiles_usec_config|set:p0="),
        "{info}"
    );
    assert!(text(&c.must(&["INFO", "everything"])).contains("# Latencystats\r\n"));
    assert!(!text(&c.must(&["INFO"])).contains("# Latencystats"));
    ok(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]);
    assert_eq!(
        text(&c.must(&["INFO", "latencystats"])),
        "# Latencystats\r\n"
    );
}

#[test]
fn slowlog_and_latency_options_from_the_command_line() {
    let cairn = Cairn::start(&[
        "--slowlog-log-slower-than",
        "-1",
        "--slowlog-max-len",
        "7",
        "--latency-monitor-threshold",
        "3",
        "--latency-tracking",
        "no",
        "--latency-tracking-info-percentiles",
        "90 99.99",
    ]);
    let mut c = cairn.client();
    let got = array(c.must(&["CONFIG", "GET", "slowlog*", "latency*"]));
    let pairs: Vec<(String, String)> = got.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect();
    assert_eq!(
        pairs,
        [
            ("slowlog-log-slower-than".into(), "-1".into()),
            ("slowlog-max-len".into(), "7".into()),
            ("latency-monitor-threshold".into(), "3".into()),
            ("latency-tracking".into(), "no".into()),
            (
                "latency-tracking-info-percentiles".into(),
                "90 99.99".into()
            ),
        ]
    );
    c.must(&["PING"]);
    assert_eq!(c.must(&["SLOWLOG", "LEN"]), Resp::Int(0));
}

// ---------------------------------------------------------------------------------------------
// Against Redis 7.0.15
// ---------------------------------------------------------------------------------------------

const HELP_AND_ERRORS: &[&str] = &[
    "SLOWLOG HELP",
    "slowlog help",
    "LATENCY HELP",
    "SLOWLOG",
    "SLOWLOG FOO",
    "SLOWLOG GET 1 2",
    "SLOWLOG GET -2",
    "SLOWLOG GET abc",
    "SLOWLOG LEN x",
    "SLOWLOG RESET x",
    "SLOWLOG HELP x",
    "LATENCY",
    "LATENCY FOO",
    "LATENCY HELP xxx",
    "LATENCY LATEST x",
    "LATENCY HISTORY",
    "LATENCY GRAPH",
    "LATENCY DOCTOR x",
    "LATENCY GRAPH nosuchevent",
    "LATENCY HISTORY nosuchevent",
    "LATENCY RESET nosuchevent other",
    "LATENCY HISTOGRAM nosuchcommand get|nosuch a|b|c",
];

const EMPTY_STATE: &[&str] = &[
    "CONFIG SET slowlog-log-slower-than -1",
    "SLOWLOG RESET",
    "SLOWLOG LEN",
    "SLOWLOG GET",
    "SLOWLOG GET -1",
    "LATENCY RESET",
    "LATENCY LATEST",
    "LATENCY DOCTOR",
    "CONFIG SET slowlog-log-slower-than 10000",
];

const OPTIONS: &[&str] = &[
    "sort: CONFIG GET slowlog*",
    "sort: CONFIG GET latency*",
    "CONFIG SET slowlog-log-slower-than abc",
    "CONFIG SET slowlog-log-slower-than -2",
    "CONFIG SET slowlog-log-slower-than 1.5",
    "CONFIG SET slowlog-max-len -1",
    "CONFIG SET slowlog-max-len abc",
    "CONFIG SET latency-monitor-threshold -1",
    "CONFIG SET latency-monitor-threshold x",
    "CONFIG SET latency-tracking maybe",
    "CONFIG SET latency-tracking-info-percentiles \"50 101\"",
    "CONFIG SET latency-tracking-info-percentiles \"10.0 50.0 a\"",
    "CONFIG GET latency-tracking-info-percentiles",
    "CONFIG SET latency-tracking-info-percentiles \"0.0 50.0 100.0\"",
    "CONFIG GET latency-tracking-info-percentiles",
    "CONFIG SET latency-tracking-info-percentiles \"\"",
    "CONFIG GET latency-tracking-info-percentiles",
    "CONFIG SET latency-tracking-info-percentiles \"99.999 12.5\"",
    "CONFIG GET latency-tracking-info-percentiles",
    "CONFIG SET latency-tracking-info-percentiles \"50 99 99.9\"",
    "CONFIG SET slowlog-max-len 0 latency-tracking NO latency-monitor-threshold 0",
    "sort: CONFIG GET slowlog*",
    "sort: CONFIG GET latency*",
    "CONFIG SET slowlog-max-len 128 latency-tracking yes",
];

#[test]
fn deterministic_replies_match_redis() {
    check_both_protocols(&[
        ("help and errors", HELP_AND_ERRORS),
        ("empty state", EMPTY_STATE),
        ("options", OPTIONS),
    ]);
}

#[test]
fn raw_connection_sees_the_same_shapes() {
    // SLOWLOG GET over RESP3 is an array of arrays, as over RESP2.
    let cairn = Cairn::start(&[]);
    let mut raw: Raw = cairn.conn();
    raw.cmd(&["HELLO", "3"]);
    raw.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    raw.cmd(&["CLIENT", "SETNAME", "n3"]);
    let reply = raw.cmd(&["SLOWLOG", "GET", "1"]);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("*1\r\n*6\r\n:"), "{text}");
    assert!(
        text.contains("*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$2\r\nn3\r\n"),
        "{text}"
    );
    assert!(text.ends_with("$2\r\nn3\r\n"), "{text}");
}
