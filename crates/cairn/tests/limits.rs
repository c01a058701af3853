//! Every configurable limit, end to end against the real binary: `maxclients`, `timeout`,
//! `proto-max-bulk-len`, `client-query-buffer-limit`, `client-output-buffer-limit`; CONFIG
//! GET/SET round trips and errors; `requirepass` (AUTH, HELLO AUTH, the NOAUTH and WRONGPASS
//! texts of Redis 7.0.15); and bad configuration (flag, TOML key, value, environment), which
//! must stop the binary with status 2 and one clear line.
//!
//! Waits use deadlines; nothing asserts how long anything took.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cairn, Raw};

fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// A RESP2 array of bulk strings, as CONFIG GET answers.
fn bulk_array(items: &[&str]) -> String {
    let mut out = format!("*{}\r\n", items.len());
    items.iter().for_each(|i| out.push_str(&bulk(i)));
    out
}

fn text(reply: Vec<u8>) -> String {
    String::from_utf8_lossy(&reply).into_owned()
}

/// Reads until the server closes the connection or 20 s pass: (bytes read, closed).
fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    common::read_to_close(stream)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// maxclients
// ---------------------------------------------------------------------------------------------

/// Connects and sends PING: the first reply line.
fn ping_new(cairn: &Cairn) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(cairn.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(b"PING\r\n");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => break,
        }
    }
    (stream, String::from_utf8_lossy(&line).into_owned())
}

#[test]
fn maxclients_refuses_the_sixth_client_and_admits_it_once_one_leaves() {
    let cairn = Cairn::start(&["--maxclients", "5"]);
    let mut clients: Vec<Raw> = (0..5).map(|_| cairn.conn()).collect();
    for c in &mut clients {
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    }
    let (mut sixth, line) = ping_new(&cairn);
    assert_eq!(line, "-ERR max number of clients reached\r\n");
    let (rest, closed) = read_to_close(&mut sixth);
    assert!(
        closed && rest.is_empty(),
        "after the refusal: {rest:?}, closed={closed}"
    );
    let info = text(clients[0].cmd(&["INFO", "stats"]));
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");
    // The five are unaffected; once one leaves, a newcomer gets in.
    for c in &mut clients {
        assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
    }
    clients.pop();
    wait_until("a newcomer is admitted", || {
        ping_new(&cairn).1 == "+PONG\r\n"
    });
    // maxclients is mutable: one more slot at run time.
    assert_eq!(
        clients[0].cmd(&["CONFIG", "SET", "maxclients", "6"]),
        b"+OK\r\n"
    );
    let mut newcomers: Vec<TcpStream> = Vec::new();
    for _ in 0..2 {
        let (stream, line) = ping_new(&cairn);
        assert_eq!(line, "+PONG\r\n");
        newcomers.push(stream);
    }
    assert_eq!(ping_new(&cairn).1, "-ERR max number of clients reached\r\n");
}

// ---------------------------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_closes_idle_connections_only() {
    let cairn = Cairn::start(&["--timeout", "1"]);
    let mut idle = cairn.conn();
    assert_eq!(idle.cmd(&["PING"]), b"+PONG\r\n");
    let mut active = cairn.conn();
    // The active client sends a command every 100 ms for 3 s (three timeouts): every one
    // is answered. Meanwhile the idle client, which sends nothing, is closed.
    let until = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    while Instant::now() < until {
        let reply = active.cmd(&["INCR", "active"]);
        n += 1;
        assert_eq!(reply, format!(":{n}\r\n").as_bytes());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(idle.is_closed(), "the idle connection is still open");
    assert_eq!(
        active.cmd(&["GET", "active"]),
        bulk(&n.to_string()).as_bytes()
    );
    // Timeout 0 means never; CONFIG GET shows it.
    assert_eq!(active.cmd(&["CONFIG", "SET", "timeout", "0"]), b"+OK\r\n");
    assert_eq!(
        text(active.cmd(&["CONFIG", "GET", "timeout"])),
        bulk_array(&["timeout", "0"])
    );
}

// ---------------------------------------------------------------------------------------------
// proto-max-bulk-len, client-query-buffer-limit
// ---------------------------------------------------------------------------------------------

fn set_header(key: &str, len: usize) -> Vec<u8> {
    format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${len}\r\n", key.len()).into_bytes()
}

#[test]
fn proto_max_bulk_len_refuses_longer_bulks() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        b"+OK\r\n"
    );
    assert_eq!(
        text(admin.cmd(&["CONFIG", "GET", "proto-max-bulk-len"])),
        bulk_array(&["proto-max-bulk-len", "1048576"])
    );
    // Exactly the limit is accepted.
    let mut ok = set_header("at-limit", 1024 * 1024);
    ok.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    ok.extend_from_slice(b"\r\n");
    admin.send(&ok);
    assert_eq!(admin.read_reply(), b"+OK\r\n");
    assert_eq!(admin.cmd(&["STRLEN", "at-limit"]), b":1048576\r\n");
    // 2 MB is refused at its header (the body is never sent, so nothing is left unread).
    let mut stream = TcpStream::connect(cairn.addr()).unwrap();
    stream
        .write_all(&set_header("too-big", 2 * 1024 * 1024))
        .unwrap();
    let (answer, closed) = read_to_close(&mut stream);
    assert_eq!(text(answer), "-ERR Protocol error: invalid bulk length\r\n");
    assert!(closed, "the connection was left open");
    assert_eq!(admin.cmd(&["EXISTS", "too-big"]), b":0\r\n");
}

/// A 4 MB bulk (allowed by proto-max-bulk-len 8mb) streamed slowly, against a 1 MiB query
/// buffer: the server closes the connection before the request completes.
#[test]
fn client_query_buffer_limit_closes_a_client_streaming_a_large_request() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    let set = |admin: &mut Raw, name: &str, value: &str| {
        assert_eq!(
            admin.cmd(&["CONFIG", "SET", name, value]),
            b"+OK\r\n",
            "{name}"
        );
    };
    set(&mut admin, "proto-max-bulk-len", "8mb");
    set(&mut admin, "client-query-buffer-limit", "1mb");
    let total = 4 * 1024 * 1024;
    let mut stream = TcpStream::connect(cairn.addr()).unwrap();
    stream.write_all(&set_header("streamed", total)).unwrap();
    let chunk = vec![b's'; 64 * 1024];
    let mut sent = 0;
    let mut refused = false;
    while sent < total {
        if stream.write_all(&chunk).is_err() {
            refused = true;
            break;
        }
        sent += chunk.len();
        std::thread::sleep(Duration::from_millis(5));
    }
    if !refused {
        refused = stream.write_all(b"\r\n").is_err();
    }
    let (answer, closed) = read_to_close(&mut stream);
    assert!(
        closed && !answer.starts_with(b"+OK"),
        "sent {sent} bytes: answer {:?}, closed={closed}, write refused={refused}",
        text(answer)
    );
    assert_eq!(admin.cmd(&["EXISTS", "streamed"]), b":0\r\n");
    assert_eq!(admin.cmd(&["PING"]), b"+PONG\r\n");
}

// ---------------------------------------------------------------------------------------------
// client-output-buffer-limit
// ---------------------------------------------------------------------------------------------

/// A node whose normal clients may hold at most 1 MB of unread replies, with `value` set to
/// `len` bytes of `fill`; returns the node and the admin connection that set it up.
fn with_1mb_output_limit_and_value(fill: u8, len: usize) -> (Cairn, Raw) {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    let limit = [
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 1mb 0 0",
    ];
    assert_eq!(admin.cmd(&limit), b"+OK\r\n");
    let value = String::from_utf8(vec![fill; len]).unwrap();
    assert_eq!(admin.cmd(&["SET", "value", &value]), b"+OK\r\n");
    (cairn, admin)
}

/// A client pipelines 2,000 GETs of a 100 KB value (200 MB of replies) and reads nothing:
/// with a 1 MB output limit the server closes it, and serves its other clients meanwhile.
#[test]
fn client_output_buffer_limit_closes_a_client_that_does_not_read() {
    let (cairn, mut admin) = with_1mb_output_limit_and_value(b'v', 100 * 1000);
    let value = "v".repeat(100 * 1000);
    let mut victim = cairn.conn();
    let id = text(victim.cmd(&["CLIENT", "ID"]));
    let id = id.trim_start_matches(':').trim_end().to_string();
    let get = b"*2\r\n$3\r\nGET\r\n$5\r\nvalue\r\n";
    let pipeline: Vec<u8> = get.iter().copied().cycle().take(get.len() * 2000).collect();
    victim.send(&pipeline);
    wait_until("the non-reading client is closed", || {
        let list = admin.cmd(&["CLIENT", "LIST", "ID", &id]);
        assert_eq!(admin.cmd(&["GET", "value"]), bulk(&value).as_bytes());
        list == b"$0\r\n\r\n"
    });
    // Its socket delivers what was sent before the close, then ends, far short of 200 MB.
    let (received, closed) = read_to_close(&mut victim.stream);
    assert!(closed, "the victim's connection is still open");
    assert!(
        received.len() < 2000 * value.len(),
        "all {} bytes of replies arrived",
        received.len()
    );
    let other = text(cairn.conn().cmd(&["STRLEN", "value"]));
    assert_eq!(other, ":100000\r\n");
}

/// Peak resident memory of a process, in bytes.
fn peak_rss_bytes(pid: u32) -> u64 {
    common::proc_status_bytes(pid, "VmHWM")
}

/// The limit bounds what the server holds for a client, not only when it gives up: a client
/// pipelining 600 GETs of a 1 MiB value without reading must be closed before the server
/// has buffered hundreds of them (Redis checks the limit as each reply is added).
#[test]
fn client_output_buffer_limit_bounds_the_server_s_memory() {
    let (cairn, mut admin) = with_1mb_output_limit_and_value(b'm', 1024 * 1024);
    let mut victim = cairn.conn();
    let get = b"*2\r\n$3\r\nGET\r\n$5\r\nvalue\r\n";
    let pipeline: Vec<u8> = get.iter().copied().cycle().take(get.len() * 600).collect();
    victim.send(&pipeline);
    let (_, closed) = read_to_close(&mut victim.stream);
    assert!(closed, "the non-reading client was not closed");
    let peak = peak_rss_bytes(cairn.child.id());
    assert!(
        peak < 200 * 1024 * 1024,
        "the server's memory peaked at {} MiB for one client limited to 1 MiB of output",
        peak >> 20
    );
    assert_eq!(admin.cmd(&["STRLEN", "value"]), b":1048576\r\n");
}

// ---------------------------------------------------------------------------------------------
// CONFIG GET / SET
// ---------------------------------------------------------------------------------------------

#[test]
fn config_set_then_get_round_trips() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let cases: &[(&str, &str, &str)] = &[
        ("maxclients", "100", "100"),
        ("timeout", "30", "30"),
        ("proto-max-bulk-len", "2mb", "2097152"),
        ("proto-max-bulk-len", "3000000", "3000000"),
        ("client-query-buffer-limit", "4mb", "4194304"),
        ("client-query-buffer-limit", "1gb", "1073741824"),
        (
            "client-output-buffer-limit",
            "normal 1mb 0 0",
            "normal 1048576 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        (
            "client-output-buffer-limit",
            "normal 0 0 0",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        ),
        ("requirepass", "", ""),
    ];
    for (name, value, shown) in cases {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", name, value]),
            b"+OK\r\n",
            "{name} {value}"
        );
        assert_eq!(
            text(c.cmd(&["CONFIG", "GET", name])),
            bulk_array(&[name, shown]),
            "{name}"
        );
    }
    // Names are case-insensitive; several at once; globs.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "TIMEOUT", "7", "MaxClients", "70"]),
        b"+OK\r\n"
    );
    let both = text(c.cmd(&["CONFIG", "GET", "timeout", "maxclients"]));
    assert!(both.starts_with("*4\r\n"), "{both}");
    assert!(
        both.contains(&format!("{}{}", bulk("timeout"), bulk("7"))),
        "{both}"
    );
    assert!(
        both.contains(&format!("{}{}", bulk("maxclients"), bulk("70"))),
        "{both}"
    );
    let globbed = text(c.cmd(&["CONFIG", "GET", "max*"]));
    assert!(
        globbed.contains(&format!("{}{}", bulk("maxclients"), bulk("70"))),
        "{globbed}"
    );
    assert!(!globbed.contains("timeout"), "{globbed}");
    assert_eq!(text(c.cmd(&["CONFIG", "GET", "nosuchoption"])), "*0\r\n");
    // Immutable options answer with their running value.
    assert_eq!(
        text(c.cmd(&["CONFIG", "GET", "port"])),
        bulk_array(&["port", &cairn.port.to_string()])
    );
    assert_eq!(
        text(c.cmd(&["CONFIG", "GET", "databases"])),
        bulk_array(&["databases", "16"])
    );
}

/// Redis 7.0.15's error texts; a failed call applies none of its pairs.
#[test]
fn config_set_errors_change_nothing() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let failed = |name: &str, why: &str| {
        format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}\r\n")
    };
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["databases", "4"],
            failed("databases", "can't set immutable config"),
        ),
        (
            vec!["nosuchoption", "1"],
            "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuchoption'\r\n".into(),
        ),
        (
            vec!["timeout", "soon"],
            failed("timeout", "argument couldn't be parsed into an integer"),
        ),
        (
            vec!["proto-max-bulk-len", "1000"],
            failed(
                "proto-max-bulk-len",
                "argument must be between 1048576 and 9223372036854775807 inclusive",
            ),
        ),
        (
            vec!["client-query-buffer-limit", "lots"],
            failed(
                "client-query-buffer-limit",
                "argument must be a memory value",
            ),
        ),
        // One bad pair fails the whole call: the good one before it is not applied.
        (
            vec!["timeout", "9", "databases", "2"],
            failed("databases", "can't set immutable config"),
        ),
    ];
    for (args, expected) in &cases {
        let mut argv = vec!["CONFIG", "SET"];
        argv.extend(args);
        assert_eq!(text(c.cmd(&argv)), *expected, "{args:?}");
    }
    assert_eq!(
        text(c.cmd(&["CONFIG", "GET", "timeout"])),
        bulk_array(&["timeout", "0"])
    );
    assert_eq!(
        text(c.cmd(&["CONFIG", "GET", "proto-max-bulk-len"])),
        bulk_array(&["proto-max-bulk-len", "536870912"])
    );
    assert_eq!(
        text(c.cmd(&["CONFIG", "SET", "timeout"])),
        "-ERR wrong number of arguments for 'config|set' command\r\n"
    );
    assert_eq!(
        text(c.cmd(&["CONFIG", "GET"])),
        "-ERR wrong number of arguments for 'config|get' command\r\n"
    );
}

// ---------------------------------------------------------------------------------------------
// requirepass
// ---------------------------------------------------------------------------------------------

const NOAUTH: &str = "-NOAUTH Authentication required.\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
/// Redis 7.0.15's text (7.2 changed it to "HELLO <proto> AUTH").
const NOAUTH_HELLO: &str = "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";

#[test]
fn requirepass_gates_every_command_until_auth() {
    let cairn = Cairn::start(&["--requirepass", "s3cret"]);
    let mut c = cairn.conn();
    assert_eq!(text(c.cmd(&["GET", "k"])), NOAUTH);
    assert_eq!(text(c.cmd(&["PING"])), NOAUTH);
    assert_eq!(text(c.cmd(&["CLIENT", "SETNAME", "x"])), NOAUTH);
    assert_eq!(text(c.cmd(&["SELECT", "1"])), NOAUTH);
    assert_eq!(text(c.cmd(&["AUTH", "wrong"])), WRONGPASS);
    assert_eq!(text(c.cmd(&["AUTH", "default", "wrong"])), WRONGPASS);
    assert_eq!(text(c.cmd(&["AUTH", "nobody", "s3cret"])), WRONGPASS);
    assert_eq!(
        text(c.cmd(&["AUTH", "a", "b", "c"])),
        "-ERR syntax error\r\n"
    );
    assert_eq!(text(c.cmd(&["GET", "k"])), NOAUTH);
    assert_eq!(text(c.cmd(&["AUTH", "s3cret"])), "+OK\r\n");
    assert_eq!(text(c.cmd(&["SET", "k", "v"])), "+OK\r\n");
    let mut d = cairn.conn();
    assert_eq!(text(d.cmd(&["AUTH", "default", "s3cret"])), "+OK\r\n");
    assert_eq!(text(d.cmd(&["GET", "k"])), bulk("v"));
    // QUIT needs no password.
    let mut q = cairn.conn();
    assert_eq!(text(q.cmd(&["QUIT"])), "+OK\r\n");
    assert!(q.is_closed());
}

#[test]
fn hello_authenticates_and_switches_protocol() {
    let cairn = Cairn::start(&["--requirepass", "s3cret"]);
    let mut c = cairn.conn();
    assert_eq!(
        text(c.cmd(&["HELLO", "3", "AUTH", "default", "wrong"])),
        WRONGPASS
    );
    let hello = text(c.cmd(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"]));
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{hello}"
    );
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert_eq!(text(c.cmd(&["GET", "nothing"])), "_\r\n");
    assert_eq!(text(c.cmd(&["CLIENT", "GETNAME"])), bulk("app"));
}

#[test]
fn hello_without_auth_gets_redis_s_noauth_text() {
    let cairn = Cairn::start(&["--requirepass", "s3cret"]);
    let mut c = cairn.conn();
    assert_eq!(text(c.cmd(&["HELLO", "3"])), NOAUTH_HELLO);
    assert_eq!(text(c.cmd(&["GET", "k"])), NOAUTH);
}

#[test]
fn requirepass_changes_at_run_time_for_new_connections() {
    let cairn = Cairn::start(&[]);
    let mut admin = cairn.conn();
    assert_eq!(
        text(admin.cmd(&["AUTH", "pw"])),
        "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(
        text(admin.cmd(&["CONFIG", "SET", "requirepass", "n3w"])),
        "+OK\r\n"
    );
    // The connection that set it stays in; a new one must authenticate.
    assert_eq!(text(admin.cmd(&["SET", "k", "v"])), "+OK\r\n");
    let mut fresh = cairn.conn();
    assert_eq!(text(fresh.cmd(&["GET", "k"])), NOAUTH);
    assert_eq!(text(fresh.cmd(&["AUTH", "n3w"])), "+OK\r\n");
    assert_eq!(text(fresh.cmd(&["GET", "k"])), bulk("v"));
    assert_eq!(
        text(admin.cmd(&["CONFIG", "GET", "requirepass"])),
        bulk_array(&["requirepass", "n3w"])
    );
    assert_eq!(
        text(admin.cmd(&["CONFIG", "SET", "requirepass", ""])),
        "+OK\r\n"
    );
    assert_eq!(text(cairn.conn().cmd(&["GET", "k"])), bulk("v"));
}

/// The redis crate's own authentication paths: AUTH over RESP2, HELLO 3 AUTH over RESP3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_crate_authenticates_with_the_password_in_the_url() {
    let cairn = Cairn::start(&["--requirepass", "s3cret"]);
    for query in ["", "?protocol=resp3"] {
        let url = format!("redis://:s3cret@127.0.0.1:{}/{query}", cairn.port);
        let client = redis::Client::open(url).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
        assert_eq!(pong, "PONG", "{query}");
        let bad = format!("redis://:nope@127.0.0.1:{}/{query}", cairn.port);
        let refused = redis::Client::open(bad)
            .unwrap()
            .get_multiplexed_async_connection()
            .await;
        let Err(err) = refused else {
            panic!("{query}: a wrong password was accepted")
        };
        // Over RESP2 the crate maps the AUTH failure to its own kind; over RESP3 it passes
        // HELLO's error through.
        assert!(
            err.kind() == redis::ErrorKind::AuthenticationFailed || err.code() == Some("WRONGPASS"),
            "{query}: {err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Bad configuration: status 2 and one clear line
// ---------------------------------------------------------------------------------------------

/// Runs the binary, which must refuse to start: (status code, stderr).
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("--dir").arg(tmp.path().join("data"));
    cmd.args(["--port", &common::free_port().to_string()])
        .args(args);
    cmd.env_remove("CAIRN_PORT").env("NO_COLOR", "1");
    env.iter().for_each(|(k, v)| {
        cmd.env(k, v);
    });
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cairn {args:?} {env:?} started instead of refusing the configuration");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts status 2 and a stderr of exactly one line containing every word of `mentions`.
fn assert_one_clear_line(args: &[&str], env: &[(&str, &str)], mentions: &[&str]) {
    let (code, stderr) = refused_start(args, env);
    assert_eq!(code, Some(2), "{args:?} {env:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?} {env:?}: not one line:\n{stderr}");
    for word in mentions {
        assert!(
            lines[0].contains(word),
            "{args:?}: {:?} does not mention {word}",
            lines[0]
        );
    }
}

fn toml_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("cairn.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn bad_values_and_config_files_stop_with_status_2_and_one_line() {
    assert_one_clear_line(&["--maxclients", "0"], &[], &["maxclients"]);
    assert_one_clear_line(&["--databases", "0"], &[], &["databases"]);
    assert_one_clear_line(
        &["--proto-max-bulk-len", "10"],
        &[],
        &["proto-max-bulk-len"],
    );
    assert_one_clear_line(&["--loglevel", "chatty"], &[], &["loglevel"]);
    assert_one_clear_line(&["--bind", "not-an-ip"], &[], &["bind"]);
    assert_one_clear_line(
        &["--config", "/nonexistent/cairn.toml"],
        &[],
        &["/nonexistent/cairn.toml"],
    );
    let dir = tempfile::tempdir().unwrap();
    let unknown = toml_file(&dir, "portt = 6380\n");
    assert_one_clear_line(&["--config", &unknown], &[], &["portt"]);
    let dir = tempfile::tempdir().unwrap();
    let wrong_type = toml_file(&dir, "maxclients = \"many\"\n");
    assert_one_clear_line(&["--config", &wrong_type], &[], &["many"]);
    let dir = tempfile::tempdir().unwrap();
    let bad_value = toml_file(&dir, "timeout = 0\nclient-query-buffer-limit = 1\n");
    assert_one_clear_line(
        &["--config", &bad_value],
        &[],
        &["client-query-buffer-limit"],
    );
    let dir = tempfile::tempdir().unwrap();
    let syntax = toml_file(&dir, "port = \n");
    assert_one_clear_line(&["--config", &syntax], &[], &["cairn.toml"]);
    assert_one_clear_line(&[], &[("CAIRN_DATABASES", "0")], &["databases"]);
}

#[test]
fn bad_flags_stop_with_status_2_and_one_line() {
    assert_one_clear_line(&["--bogus"], &[], &["--bogus"]);
    assert_one_clear_line(&["--port", "notaport"], &[], &["notaport"]);
    assert_one_clear_line(&["--appendfsync", "sometimes"], &[], &["sometimes"]);
    assert_one_clear_line(&[], &[("CAIRN_MAXCLIENTS", "abc")], &["abc"]);
}
