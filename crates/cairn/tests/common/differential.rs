//! The differential harness: the same command scripts go to Cairn and to a real
//! `redis-server` 7.0.15 (started on a free loopback port), and the raw RESP replies must be
//! equal byte for byte, over RESP2 and over RESP3 (`HELLO 3` first).
//!
//! A script is text, one command per line, words split as redis-cli splits them (double
//! quotes, `\xHH`). A line may start with a comparison mode:
//! - `sort:` arrays (and sets, maps) are compared as multisets (KEYS, SCAN);
//! - `near N:` both replies are integers at most N apart (PTTL, OBJECT IDLETIME);
//! - `shape:` integers are ignored (HELLO carries the connection id).
//!
//! and `sleep MS` pauses the script (to let short expiry times pass; nothing is timed).
//!
//! Every mismatch of a test is collected and reported together.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cairn, Raw, free_port};

// ---------------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------------

/// The Redis version whose replies Cairn must reproduce.
pub const ORACLE_VERSION: &str = "v=7.0.15";

/// A `redis-server` on a free loopback port, killed by PID when dropped (also on panic).
pub struct Oracle {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Oracle {
    pub fn start() -> Oracle {
        let version = Command::new("redis-server").arg("--version").output();
        let version = match version {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(e) => panic!("redis-server not found ({e}): run scripts/deps.sh"),
        };
        assert!(
            version.contains(ORACLE_VERSION),
            "the oracle must be Redis 7.0.15, found {version:?}: run scripts/deps.sh"
        );
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            // DEBUG SET-ACTIVE-EXPIRE keeps expired keys in place for the expiry scripts.
            .args(["--enable-debug-command", "local"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (run scripts/deps.sh)");
        let mut oracle = Oracle {
            child,
            port,
            _dir: dir,
        };
        oracle.wait_ready();
        oracle
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited at start: {status}");
            }
            if TcpStream::connect(self.addr()).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Script lines
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Exact,
    Sorted,
    Near(i64),
    Shape,
}

/// Splits a script line into its mode and its arguments.
pub fn parse_line(line: &str) -> (Mode, Vec<Vec<u8>>) {
    if let Some(rest) = line.strip_prefix("sort:") {
        return (Mode::Sorted, words(rest));
    }
    if let Some(rest) = line.strip_prefix("shape:") {
        return (Mode::Shape, words(rest));
    }
    if let Some(rest) = line.strip_prefix("near ") {
        let (n, rest) = rest.split_once(':').expect("near N: command");
        return (Mode::Near(n.trim().parse().unwrap()), words(rest));
    }
    (Mode::Exact, words(line))
}

/// Words separated by spaces; `"..."` groups words and understands `\xHH`, `\"`, `\\`,
/// `\r`, `\n` (as redis-cli does).
pub fn words(text: &str) -> Vec<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let mut word = Vec::new();
        if bytes[i] == b'"' {
            i += 1;
            while bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    let (byte, used) = unescape(&bytes[i + 1..]);
                    word.push(byte);
                    i += 1 + used;
                } else {
                    word.push(bytes[i]);
                    i += 1;
                }
            }
            i += 1;
        } else {
            while i < bytes.len() && bytes[i] != b' ' {
                word.push(bytes[i]);
                i += 1;
            }
        }
        out.push(word);
    }
    out
}

/// The byte an escape (after its backslash) stands for, and how many bytes it used.
pub fn unescape(rest: &[u8]) -> (u8, usize) {
    match rest[0] {
        b'x' => {
            let hex = std::str::from_utf8(&rest[1..3]).unwrap();
            (u8::from_str_radix(hex, 16).unwrap(), 3)
        }
        b'r' => (b'\r', 1),
        b'n' => (b'\n', 1),
        other => (other, 1),
    }
}

pub fn encode(argv: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", argv.len()).into_bytes();
    for arg in argv {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Replies as trees, for the relaxed comparisons
// ---------------------------------------------------------------------------------------------

/// One RESP value: its header line (with a bulk's payload) and its elements.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    head: Vec<u8>,
    kids: Vec<Node>,
}

pub fn parse_node(raw: &[u8], pos: &mut usize) -> Node {
    let end = *pos + raw[*pos..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut head = raw[*pos..end].to_vec();
    *pos = end;
    let n = std::str::from_utf8(&head[1..head.len() - 2])
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(-1);
    let mut kids = Vec::new();
    match head[0] {
        b'$' | b'=' | b'!' if n >= 0 => {
            head.extend_from_slice(&raw[*pos..*pos + n as usize + 2]);
            *pos += n as usize + 2;
        }
        b'*' | b'~' | b'>' => (0..n.max(0)).for_each(|_| kids.push(parse_node(raw, pos))),
        b'%' => (0..2 * n.max(0)).for_each(|_| kids.push(parse_node(raw, pos))),
        _ => {}
    }
    Node { head, kids }
}

pub fn render(node: &Node, out: &mut Vec<u8>) {
    out.extend_from_slice(&node.head);
    node.kids.iter().for_each(|k| render(k, out));
}

/// Sorts every aggregate's elements (a map's pairs as pairs).
pub fn sort_node(node: &mut Node) {
    node.kids.iter_mut().for_each(sort_node);
    match node.head[0] {
        b'%' => {
            let mut pairs: Vec<Vec<Node>> = node.kids.chunks(2).map(<[Node]>::to_vec).collect();
            pairs.sort();
            node.kids = pairs.concat();
        }
        b'*' | b'~' => node.kids.sort(),
        _ => {}
    }
}

/// Replaces every integer with 0.
pub fn erase_integers(node: &mut Node) {
    if node.head[0] == b':' {
        node.head = b":0\r\n".to_vec();
    }
    node.kids.iter_mut().for_each(erase_integers);
}

pub fn integer(raw: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(raw.strip_prefix(b":")?).ok()?;
    text.trim_end().parse().ok()
}

/// Whether two raw replies agree under `mode`.
pub fn agree(mode: Mode, redis: &[u8], cairn: &[u8]) -> bool {
    let normal = |raw: &[u8], f: fn(&mut Node)| {
        let mut node = parse_node(raw, &mut 0);
        f(&mut node);
        let mut out = Vec::new();
        render(&node, &mut out);
        out
    };
    match mode {
        Mode::Exact => redis == cairn,
        Mode::Sorted => normal(redis, sort_node) == normal(cairn, sort_node),
        Mode::Shape => normal(redis, erase_integers) == normal(cairn, erase_integers),
        Mode::Near(n) => match (integer(redis), integer(cairn)) {
            (Some(a), Some(b)) => (a - b).abs() <= n,
            _ => redis == cairn,
        },
    }
}

pub fn show(raw: &[u8]) -> String {
    raw.escape_ascii().to_string()
}

// ---------------------------------------------------------------------------------------------
// Running scripts on both servers
// ---------------------------------------------------------------------------------------------

pub struct Pair {
    pub oracle: Oracle,
    pub cairn: Cairn,
}

impl Pair {
    pub fn start() -> Pair {
        Pair {
            oracle: Oracle::start(),
            cairn: Cairn::start(&[]),
        }
    }

    /// Fresh connections to both, with `HELLO 3` sent (and compared) first when `resp3`.
    pub fn connect(&self, resp3: bool, failures: &mut Vec<String>) -> (Raw, Raw) {
        let mut redis = Raw::connect(&self.oracle.addr());
        let mut cairn = self.cairn.conn();
        if resp3 {
            let hello = parse_line("shape: HELLO 3");
            exchange(&mut redis, &mut cairn, "HELLO 3", &hello, failures);
        }
        (redis, cairn)
    }

    /// Runs each script on fresh connections after FLUSHALL; returns every mismatch.
    pub fn run(&self, resp3: bool, scripts: &[(&str, &[&str])]) -> Vec<String> {
        let mut failures = Vec::new();
        for (name, script) in scripts {
            let (mut redis, mut cairn) = self.connect(resp3, &mut failures);
            let flush = parse_line("FLUSHALL");
            exchange(&mut redis, &mut cairn, name, &flush, &mut failures);
            for line in *script {
                if let Some(ms) = line.strip_prefix("sleep ") {
                    std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                    continue;
                }
                let label = format!("{name}: {line}");
                if !exchange(
                    &mut redis,
                    &mut cairn,
                    &label,
                    &parse_line(line),
                    &mut failures,
                ) {
                    break;
                }
            }
        }
        failures
    }
}

/// Sends one command to both and records a mismatch; `false` once a connection is lost.
pub fn exchange(
    redis: &mut Raw,
    cairn: &mut Raw,
    label: &str,
    (mode, argv): &(Mode, Vec<Vec<u8>>),
    failures: &mut Vec<String>,
) -> bool {
    let request = encode(argv);
    let expected = try_reply(&mut redis.stream, &request);
    let actual = try_reply(&mut cairn.stream, &request);
    match (expected, actual) {
        (Ok(expected), Ok(actual)) if agree(*mode, &expected, &actual) => true,
        (Ok(expected), Ok(actual)) => {
            failures.push(format!(
                "{label}\n    redis: {}\n    cairn: {}",
                show(&expected),
                show(&actual)
            ));
            true
        }
        (expected, actual) => {
            failures.push(format!(
                "{label}: connection lost (rest of the script skipped)\n    redis: {expected:?}\n    cairn: {actual:?}"
            ));
            false
        }
    }
}

/// Sends a request and reads one whole reply, raw; an error if the connection breaks.
pub fn try_reply(stream: &mut TcpStream, request: &[u8]) -> Result<Vec<u8>, String> {
    stream.write_all(request).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    read_value(stream, &mut out)?;
    Ok(out)
}

pub fn read_value(stream: &mut TcpStream, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    let mut byte = [0u8; 1];
    while !out[start..].ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => out.push(byte[0]),
            Ok(_) => return Err(format!("closed after {:?}", show(out))),
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = out[start..out.len() - 2].to_vec();
    let n: i64 = std::str::from_utf8(&line[1..])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(-1);
    match line[0] {
        b'$' | b'=' | b'!' if n >= 0 => {
            let mut body = vec![0u8; n as usize + 2];
            stream.read_exact(&mut body).map_err(|e| e.to_string())?;
            out.extend_from_slice(&body);
        }
        b'*' | b'~' | b'>' => (0..n.max(0)).try_for_each(|_| read_value(stream, out))?,
        b'%' => (0..2 * n.max(0)).try_for_each(|_| read_value(stream, out))?,
        _ => {}
    }
    Ok(())
}

pub fn assert_none(protocol: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} mismatch(es) with Redis 7.0.15 over {protocol}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs the scripts over RESP2 and RESP3 on one pair of servers.
pub fn check_both_protocols(scripts: &[(&str, &[&str])]) {
    let pair = Pair::start();
    let mut failures = pair.run(false, scripts);
    failures.extend(
        pair.run(true, scripts)
            .into_iter()
            .map(|f| format!("[RESP3] {f}")),
    );
    assert_none("RESP2/RESP3", failures);
}
