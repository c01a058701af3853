//! Invariant 5, end to end: bad input gets Redis's error reply or a closed connection, never
//! a crash, and a well-behaved client working at the same time is unaffected.
//!
//! Every test runs a `Watcher` — a client on its own thread doing SET/GET/INCR and checking
//! each answer — for the whole test, and after each bad case waits until the watcher has
//! completed more rounds and checks that the server process is still running. Cases: wrong
//! arity, wrong argument types, malformed frames (`*-5`, `$-2`, a bulk length over
//! proto-max-bulk-len, `*2147483648`, an unbalanced quote, an inline line over 64 KiB),
//! seeded random garbage on many connections, 1 GB bulk headers with no body (the server's
//! RSS must stay modest), 5,000 idle connections, and running out of file descriptors.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Cairn, Raw, read_to_close};

// ---------------------------------------------------------------------------------------------
// The well-behaved client
// ---------------------------------------------------------------------------------------------

/// A client doing SET/GET/INCR in a loop on its own thread and checking every reply; it
/// panics (ending its thread) on the first wrong answer or lost connection.
struct Watcher {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(cairn: &Cairn) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let mut raw = cairn.conn();
        let (stop2, rounds2) = (stop.clone(), rounds.clone());
        let thread = std::thread::spawn(move || {
            let mut i: u64 = 0;
            while !stop2.load(Relaxed) {
                let key = format!("watch:{}", i % 16);
                let value = format!("value-{i}");
                assert_eq!(raw.cmd(&["SET", &key, &value]), b"+OK\r\n", "round {i}");
                let expected = format!("${}\r\n{value}\r\n", value.len());
                assert_eq!(raw.cmd(&["GET", &key]), expected.as_bytes(), "round {i}");
                let count = format!(":{}\r\n", i + 1);
                assert_eq!(raw.cmd(&["INCR", "watch:n"]), count.as_bytes(), "round {i}");
                i += 1;
                rounds2.store(i, Relaxed);
            }
        });
        Watcher {
            stop,
            rounds,
            thread: Some(thread),
        }
    }

    /// Waits until the watcher completes `n` more rounds: it is still served, correctly.
    fn advances(&mut self, n: u64, after: &str) {
        let target = self.rounds.load(Relaxed) + n;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.rounds.load(Relaxed) < target {
            self.check_running(after);
            assert!(
                Instant::now() < deadline,
                "the well-behaved client made no progress after {after}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn check_running(&mut self, after: &str) {
        if self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
            let result = self.thread.take().unwrap().join();
            let message = match result {
                Err(payload) => panic_text(payload),
                Ok(()) => "stopped".to_string(),
            };
            panic!("the well-behaved client failed during or after {after}: {message}");
        }
    }

    fn finish(mut self) {
        self.advances(10, "the last case");
        self.stop.store(true, Relaxed);
        if let Some(Err(payload)) = self.thread.take().map(JoinHandle::join) {
            panic!("the well-behaved client failed: {}", panic_text(payload));
        }
    }
}

impl Drop for Watcher {
    /// Stops the thread before the node goes away (when a test fails half-way).
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn assert_alive(cairn: &mut Cairn, after: &str) {
    if let Ok(Some(status)) = cairn.child.try_wait() {
        panic!("cairn exited ({status}) after {after}");
    }
}

// ---------------------------------------------------------------------------------------------
// Raw conversations
// ---------------------------------------------------------------------------------------------

/// Sends `bytes` on a fresh connection and reads until the server closes it or goes quiet
/// for 20 s: (everything read, whether the server closed). Write errors are ignored: the
/// server may close while the request is still arriving.
fn conversation(addr: &str, bytes: &[u8], half_close: bool) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = stream.write_all(bytes);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    read_to_close(&mut stream)
}

/// Whether `bytes` is a sequence of whole RESP2 replies.
fn well_formed(bytes: &[u8]) -> bool {
    fn value(b: &[u8], pos: &mut usize) -> Option<()> {
        let end = *pos + b[*pos..].windows(2).position(|w| w == b"\r\n")?;
        let (kind, text) = (b[*pos], std::str::from_utf8(&b[*pos + 1..end]).ok()?);
        *pos = end + 2;
        match kind {
            b'+' | b'-' => Some(()),
            b':' => text.parse::<i64>().ok().map(|_| ()),
            b'$' => match text.parse::<i64>().ok()? {
                -1 => Some(()),
                n if n >= 0 && b.len() >= *pos + n as usize + 2 => {
                    *pos += n as usize;
                    (&b[*pos..*pos + 2] == b"\r\n").then(|| *pos += 2)
                }
                _ => None,
            },
            b'*' => match text.parse::<i64>().ok()? {
                -1 => Some(()),
                n if n >= 0 => (0..n).try_for_each(|_| value(b, pos)),
                _ => None,
            },
            _ => None,
        }
    }
    let mut pos = 0;
    while pos < bytes.len() {
        if value(bytes, &mut pos).is_none() {
            return false;
        }
    }
    true
}

/// A server-side counter from INFO (`total_net_input_bytes`, `connected_clients`, …).
fn info_field(raw: &mut Raw, name: &str) -> u64 {
    let reply = raw.cmd(&["INFO"]);
    let text = String::from_utf8_lossy(&reply);
    let prefix = format!("{name}:");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .trim()
        .parse()
        .unwrap()
}

/// Resident memory of a process, in bytes.
fn rss_bytes(pid: u32) -> u64 {
    common::proc_status_bytes(pid, "VmRSS")
}

// ---------------------------------------------------------------------------------------------
// Bad arguments: an error reply, and the connection goes on
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_arguments_get_redis_errors_and_the_connection_goes_on() {
    let mut cairn = Cairn::start(&[]);
    let mut watcher = Watcher::start(&cairn);
    let mut raw = cairn.conn();
    assert_eq!(raw.cmd(&["SET", "text", "abc"]), b"+OK\r\n");
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let cases: &[(&[&str], &str)] = &[
        (
            &["SET", "k"],
            "-ERR wrong number of arguments for 'set' command\r\n",
        ),
        (
            &["GET"],
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            &["GET", "a", "b"],
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            &["MSET", "a", "1", "b"],
            "-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (&["INCR", "text"], not_int),
        (&["INCRBY", "n", "ten"], not_int),
        (&["EXPIRE", "text", "1.5"], not_int),
        (&["SET", "k", "v", "EX", "soon"], not_int),
        (&["GETRANGE", "text", "0", "x"], not_int),
        (&["SELECT", "db"], not_int),
        (
            &["INCRBYFLOAT", "text", "1"],
            "-ERR value is not a valid float\r\n",
        ),
        (
            &["INCRBYFLOAT", "n", "nan"],
            "-ERR value is not a valid float\r\n",
        ),
        (
            &["SETRANGE", "text", "-1", "x"],
            "-ERR offset is out of range\r\n",
        ),
        (
            &["SET", "k", "v", "EX", "0"],
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (&["SET", "k", "v", "NX", "XX"], "-ERR syntax error\r\n"),
        (&["SELECT", "9999"], "-ERR DB index is out of range\r\n"),
        (&["RENAME", "none", "x"], "-ERR no such key\r\n"),
        (
            &["NOSUCH", "x"],
            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
        ),
    ];
    for (args, expected) in cases {
        let reply = raw.cmd(args);
        assert_eq!(
            reply.escape_ascii().to_string(),
            expected.as_bytes().escape_ascii().to_string(),
            "{args:?}"
        );
        assert_eq!(raw.cmd(&["PING"]), b"+PONG\r\n", "after {args:?}");
        watcher.advances(3, &format!("{args:?}"));
        assert_alive(&mut cairn, &format!("{args:?}"));
    }
    assert_eq!(raw.cmd(&["GET", "text"]), b"$3\r\nabc\r\n");
    watcher.finish();
}

// ---------------------------------------------------------------------------------------------
// Malformed frames: Redis's protocol error, then a closed connection
// ---------------------------------------------------------------------------------------------

/// (name, request, Redis 7.0.15's whole answer before it closes the connection)
fn malformed_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let bulk = "-ERR Protocol error: invalid bulk length\r\n";
    let multibulk = "-ERR Protocol error: invalid multibulk length\r\n";
    vec![
        ("$-2", b"*1\r\n$-2\r\n".to_vec(), bulk),
        (
            "$-1 as an argument",
            b"*2\r\n$3\r\nGET\r\n$-1\r\n".to_vec(),
            bulk,
        ),
        (
            "bulk over proto-max-bulk-len",
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n".to_vec(),
            bulk,
        ),
        ("bulk length not a number", b"*1\r\n$1x\r\n".to_vec(), bulk),
        ("*2147483648", b"*2147483648\r\n".to_vec(), multibulk),
        (
            "*9223372036854775808",
            b"*9223372036854775808\r\n".to_vec(),
            multibulk,
        ),
        ("multibulk not a number", b"*x\r\n".to_vec(), multibulk),
        (
            "no $ before an argument",
            b"*1\r\nGET\r\n".to_vec(),
            "-ERR Protocol error: expected '$', got 'G'\r\n",
        ),
        (
            "unbalanced quote",
            b"SET k \"never closed\r\n".to_vec(),
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            "replies before the error are sent",
            b"PING\r\n*1\r\n$-5\r\n".to_vec(),
            "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            // One byte over the 64 KiB limit and nothing more, so that the server has read
            // everything sent when it closes (unread input would turn its FIN into a reset).
            "inline line over 64 KiB without a newline",
            vec![b'x'; 64 * 1024 + 1],
            "-ERR Protocol error: too big inline request\r\n",
        ),
    ]
}

#[test]
fn malformed_frames_get_the_protocol_error_and_a_close() {
    let mut cairn = Cairn::start(&[]);
    let mut watcher = Watcher::start(&cairn);
    for (name, request, expected) in malformed_cases() {
        let (answer, closed) = conversation(&cairn.addr(), &request, false);
        assert_eq!(
            answer.escape_ascii().to_string(),
            expected.as_bytes().escape_ascii().to_string(),
            "{name}"
        );
        assert!(closed, "{name}: the connection was left open");
        watcher.advances(3, name);
        assert_alive(&mut cairn, name);
    }
    // `*-5` (any count <= 0) is an empty request: ignored, and the connection goes on.
    let (answer, closed) = conversation(&cairn.addr(), b"*-5\r\n*0\r\nPING\r\nQUIT\r\n", false);
    assert_eq!(answer, b"+PONG\r\n+OK\r\n");
    assert!(closed);
    watcher.finish();
}

// ---------------------------------------------------------------------------------------------
// Random garbage on many connections
// ---------------------------------------------------------------------------------------------

/// Starts that steer random bytes into each part of the decoder.
const PREFIXES: &[&[u8]] = &[
    b"",
    b"*",
    b"*3\r\n$3\r\nSET\r\n",
    b"*2\r\n$",
    b"*1\r\n$4\r\nPING\r\n*",
    b"SET k \"",
    b"GET '",
    b"PING\r\n",
];

/// One connection's garbage: a prefix, then up to 16 KiB of random bytes.
fn garbage(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut bytes = PREFIXES[rng.usize(..PREFIXES.len())].to_vec();
    let len = rng.usize(1..16 * 1024);
    bytes.extend((0..len).map(|_| rng.u8(..)));
    bytes
}

#[test]
fn random_garbage_on_many_connections() {
    // Fixed by default so that a failure replays; CAIRN_TEST_SEED explores other inputs.
    let seed: u64 = std::env::var("CAIRN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_ca1e);
    let mut cairn = Cairn::start(&[]);
    let mut watcher = Watcher::start(&cairn);
    // 8 threads x 40 connections, each with its own seeded generator.
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let addr = cairn.addr();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(seed ^ t.wrapping_mul(0x9e37_79b9));
                let mut problems = Vec::new();
                for c in 0..40 {
                    let (answer, closed) = conversation(&addr, &garbage(&mut rng), true);
                    if !closed || !well_formed(&answer) {
                        problems.push(format!(
                            "thread {t} connection {c}: closed={closed} answer={}",
                            answer.escape_ascii()
                        ));
                    }
                }
                problems
            })
        })
        .collect();
    let problems: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        problems.is_empty(),
        "seed {seed}: {} bad conversation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    watcher.advances(20, "320 connections of garbage");
    assert_alive(&mut cairn, "garbage");
    watcher.finish();
}

// ---------------------------------------------------------------------------------------------
// Huge announced sizes
// ---------------------------------------------------------------------------------------------

/// A 1 GB bulk header with no body (allowed: proto-max-bulk-len is raised to 2 GiB) must not
/// make the server allocate 1 GB: with eight such clients, each having sent 1 MiB of body,
/// the server's resident memory stays far below even one of them.
#[test]
fn a_1gb_bulk_header_does_not_allocate_1gb() {
    let mut cairn = Cairn::start(&["--proto-max-bulk-len", "2147483648"]);
    let mut watcher = Watcher::start(&cairn);
    let mut probe = cairn.conn();
    let before = info_field(&mut probe, "total_net_input_bytes");
    let mut request = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1000000000\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'v', 1024 * 1024));
    let holders: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(cairn.addr()).unwrap();
            s.write_all(&request).unwrap();
            s
        })
        .collect();
    // Wait until the server has read everything the holders sent.
    let sent = (request.len() * holders.len()) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut probe, "total_net_input_bytes") < before + sent {
        assert!(
            Instant::now() < deadline,
            "the server did not read the requests"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    watcher.advances(20, "1 GB bulk headers");
    let rss = rss_bytes(cairn.child.id());
    assert!(
        rss < 200 * 1024 * 1024,
        "server RSS is {} MiB with eight 1 GB headers pending",
        rss >> 20
    );
    drop(holders);
    assert_eq!(probe.cmd(&["EXISTS", "big"]), b":0\r\n");
    assert_alive(&mut cairn, "1 GB headers");
    watcher.finish();
}

// ---------------------------------------------------------------------------------------------
// Many idle connections, and running out of file descriptors
// ---------------------------------------------------------------------------------------------

const IDLE_CONNECTIONS: usize = 5000;
/// Descriptors the idle test needs in this process (and in the node, which inherits it).
const IDLE_NOFILE_NEEDED: u64 = IDLE_CONNECTIONS as u64 + 500;
/// Set in the child process that runs the idle test under a raised limit.
const IDLE_CHILD_ENV: &str = "CAIRN_IDLE_TEST_CHILD";

/// This process's soft and hard open-files limits, from /proc/self/limits.
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/self/limits");
    let mut numbers = line["Max open files".len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap_or(u64::MAX));
    (numbers.next().unwrap(), numbers.next().unwrap())
}

/// 5,000 connections that never send anything are held open while the watcher works; every
/// one of them still answers afterwards, and the server forgets them once they close. When
/// this process may not open that many files, the test reruns itself in a child whose soft
/// limit the shell raises to the hard limit (`ulimit -Sn`), which the node then inherits.
#[test]
fn five_thousand_idle_connections_do_not_disturb_a_working_client() {
    let (soft, hard) = nofile_limits();
    if soft >= IDLE_NOFILE_NEEDED {
        return idle_connections_check();
    }
    assert!(
        std::env::var_os(IDLE_CHILD_ENV).is_none() && hard >= IDLE_NOFILE_NEEDED,
        "this test needs {IDLE_NOFILE_NEEDED} open files; the limit is {soft} (hard {hard}): \
         raise it (ulimit -n 10000)"
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg("ulimit -Sn \"$(ulimit -Hn)\" && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "five_thousand_idle_connections_do_not_disturb_a_working_client",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(IDLE_CHILD_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the idle-connection check failed in its child process:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn idle_connections_check() {
    let mut cairn = Cairn::start(&[]);
    let mut watcher = Watcher::start(&cairn);
    let mut probe = cairn.conn();
    let mut idle: Vec<TcpStream> = (0..IDLE_CONNECTIONS)
        .map(|i| {
            TcpStream::connect(cairn.addr()).unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut probe, "connected_clients") < IDLE_CONNECTIONS as u64 + 2 {
        assert!(
            Instant::now() < deadline,
            "the server did not accept every connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    watcher.advances(200, "opening 5,000 idle connections");
    // Idle is not dead: every 50th one answers.
    for (i, stream) in idle.iter_mut().enumerate().step_by(50) {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(b"PING\r\n").unwrap();
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+PONG\r\n", "idle connection {i}");
    }
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(60);
    while info_field(&mut probe, "connected_clients") > 2 {
        assert!(
            Instant::now() < deadline,
            "closed connections were not released"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_alive(&mut cairn, "5,000 idle connections");
    watcher.finish();
}

/// With only 128 file descriptors, clients beyond what the server can hold are told so, as
/// Redis does (it lowers maxclients to what the limit allows): `-ERR max number of clients
/// reached`, then a close. They are not left hanging in the accept queue, and the clients
/// already connected are served.
#[test]
fn running_out_of_file_descriptors_refuses_newcomers_cleanly() {
    let mut cairn = Cairn::start_with_nofile(128, &[]);
    let mut watcher = Watcher::start(&cairn);
    let mut held: Vec<TcpStream> = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let mut stream = TcpStream::connect(cairn.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(b"PING\r\n");
        let (answer, closed) = match read_reply_line(&mut stream) {
            Some(line) if line == b"+PONG\r\n" => {
                held.push(stream);
                continue;
            }
            Some(line) => (line, read_to_close(&mut stream).1),
            None => (b"<no answer in 10 s>".to_vec(), false),
        };
        refused = Some((i, answer, closed));
        break;
    }
    let Some((i, answer, closed)) = refused else {
        panic!("200 connections were all served with a limit of 128 files")
    };
    assert_eq!(
        answer.escape_ascii().to_string(),
        "-ERR max number of clients reached\\r\\n",
        "connection {i} (after {} served)",
        held.len()
    );
    assert!(closed, "the refused connection was left open");
    watcher.advances(20, "running out of file descriptors");
    drop(held);
    // Once clients leave, newcomers are served again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut stream = TcpStream::connect(cairn.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let _ = stream.write_all(b"PING\r\n");
        if read_reply_line(&mut stream).as_deref() == Some(b"+PONG\r\n") {
            break;
        }
        assert!(Instant::now() < deadline, "newcomers are still refused");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_alive(&mut cairn, "running out of file descriptors");
    watcher.finish();
}

/// One reply line, or `None` if nothing came (timeout or close before a whole line).
fn read_reply_line(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    Some(line)
}

#[test]
fn well_formed_accepts_replies_and_rejects_broken_framing() {
    assert!(well_formed(b""));
    assert!(well_formed(
        b"+OK\r\n-ERR x\r\n:1\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n"
    ));
    assert!(!well_formed(b"$3\r\nab\r\n"));
    assert!(!well_formed(b"*2\r\n:1\r\n"));
    assert!(!well_formed(b"hello\r\n"));
}
