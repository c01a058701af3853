//! The transcript runner: every command family's tests are data run through `check()`.
//!
//! ```text
//! # a comment
//! > SET k v EX 10          a command, split like redis-cli does (quotes, \xHH escapes)
//! +OK                      the expected reply, rendered by `render`
//! @advance 10000           move the clock forward (ms)
//! @tick                    append a tick entry (active expiry)
//! @policy allkeys-lfu      the node's eviction policy from here on (its access tracking)
//! @evict k1 k2             apply an Evict entry naming keys of the selected database; the
//!                          next line is its reply, as for a command
//! resp3 "%1\r\n…"           the previous reply's exact bytes in RESP3 (or `resp2`), where
//!                          the protocols differ
//! ```
//! Writes go through the same path as on a server: syntax check, then an `Entry` applied by
//! `Engine::apply` (at the harness clock); reads through `Engine::read`. `SELECT` switches
//! the harness's database.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::engine::Engine;
use crate::entry::{Body, Entry, Origin};
use crate::table::{self, Handler, SessionCmd};

/// A single client talking straight to an engine, with a controlled clock.
pub struct Harness {
    pub engine: Engine,
    pub db: usize,
    pub clock_ms: u64,
    request: u64,
    /// Every entry applied, in order: the log this harness would have written.
    pub log: Vec<Entry>,
}

/// The harness clock starts at a fixed, realistic Unix time (2023-11-14).
pub const CLOCK_START_MS: u64 = 1_700_000_000_000;

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    pub fn new() -> Harness {
        Harness {
            engine: Engine::new(16),
            db: 0,
            clock_ms: CLOCK_START_MS,
            request: 0,
            log: Vec::new(),
        }
    }

    /// Runs one command as a server would and returns its reply.
    pub fn run(&mut self, argv: &[Bytes]) -> Reply {
        let spec = match table::resolve(argv) {
            Ok(spec) => spec,
            Err((_, reply)) => return reply,
        };
        self.request += 1;
        match spec.handler {
            Handler::Read(read) => {
                let reply = self
                    .engine
                    .read(read, self.db, argv, self.clock_ms, self.request);
                self.expire_seen();
                reply
            }
            Handler::Write(check, _) => {
                if let Err(reply) = check(argv) {
                    return reply;
                }
                let argv = crate::commands::acl::prepare_for_log(spec, argv.to_vec());
                self.apply(Body::Command(argv))
            }
            Handler::Session(SessionCmd::Select) => match crate::commands::parse_i64(&argv[1]) {
                Some(i) if i >= 0 && (i as usize) < self.engine.databases() => {
                    self.db = i as usize;
                    Reply::ok()
                }
                Some(_) => Reply::error_static(crate::commands::DB_OUT_OF_RANGE),
                None => crate::commands::not_integer(),
            },
            Handler::Session(other) => {
                Reply::error(format!("harness: {other:?} runs in the server"))
            }
            Handler::Container => Reply::error_static("harness: container"),
        }
    }

    /// What a node does after a read: keys it found expired become an Expire entry.
    fn expire_seen(&mut self) {
        let selected = self.db;
        for (db, keys) in self.engine.take_seen_expired() {
            self.db = db;
            self.apply(Body::Expire {
                keys: keys.into_iter().map(Bytes::from).collect(),
            });
        }
        self.db = selected;
    }

    pub fn apply(&mut self, body: Body) -> Reply {
        let entry = Entry {
            db: self.db as u32,
            time_ms: self.clock_ms,
            seed: self.request.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            origin: Origin {
                node: 1,
                request: self.request,
            },
            body,
        };
        let reply = self.engine.apply(&entry);
        self.log.push(entry);
        reply
    }

    /// Tracks accesses as a node with eviction policy `policy` does (default LFU settings).
    pub fn set_policy(&mut self, policy: crate::evict::Policy) {
        self.engine.set_tracking(crate::evict::Tracking {
            lfu: policy.is_lfu(),
            ..Default::default()
        });
    }

    /// Applies an Evict entry for `keys` of the selected database.
    pub fn evict(&mut self, keys: &[&str]) -> Reply {
        let db = self.db as u32;
        let keys = keys
            .iter()
            .map(|k| (db, Bytes::copy_from_slice(k.as_bytes())))
            .collect();
        self.apply(Body::Evict { keys })
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        let argv = split_args(line).unwrap_or_else(|| panic!("bad command line: {line}"));
        self.run(&argv)
    }
}

/// Splits a command line like redis-cli: spaces separate, "double quotes" with \n \r \t \"
/// \\ \xHH escapes, 'single quotes' verbatim.
pub fn split_args(line: &str) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    let mut chars = line.as_bytes().iter().copied().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Some(out);
        };
        let mut arg = Vec::new();
        if first == b'"' || first == b'\'' {
            chars.next();
            loop {
                match chars.next()? {
                    c if c == first => break,
                    b'\\' if first == b'"' => match chars.next()? {
                        b'n' => arg.push(b'\n'),
                        b'r' => arg.push(b'\r'),
                        b't' => arg.push(b'\t'),
                        b'x' => {
                            let hex = [chars.next()?, chars.next()?];
                            arg.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
                        }
                        c => arg.push(c),
                    },
                    c => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_ascii_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        out.push(Bytes::from(arg));
    }
}

fn escape(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

fn render_list(items: &[Reply]) -> String {
    items.iter().map(render).collect::<Vec<_>>().join(", ")
}

/// One-line rendering of a reply for transcripts.
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
        Reply::Error(e) => format!("-{}", String::from_utf8_lossy(e)),
        Reply::Int(i) => format!(":{i}"),
        Reply::Bulk(b) => escape(b),
        Reply::Nil => "(nil)".into(),
        Reply::NilArray => "(nil-array)".into(),
        Reply::Array(items) => format!("[{}]", render_list(items)),
        Reply::Set(items) => format!("~[{}]", render_list(items)),
        Reply::Push(items) => format!(">[{}]", render_list(items)),
        Reply::MapOfPairs(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("[{}, {}]", render(k), render(v)))
                .collect();
            format!("[{}]", inner.join(", "))
        }
        Reply::Map(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{} => {}", render(k), render(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Reply::Pairs(pairs) => {
            let inner: Vec<String> = pairs
                .iter()
                .map(|(a, b)| format!("({}, {})", render(a), render(b)))
                .collect();
            format!("[{}]", inner.join(", "))
        }
        Reply::Double(d) => format!(",{}", cairn_resp::format_double(*d)),
        Reply::DoubleText(text) => format!(",{}", String::from_utf8_lossy(text)),
        Reply::Bool(b) => if *b { "#t" } else { "#f" }.into(),
        Reply::Verbatim(fmt, text) => format!("={fmt}:{}", escape(text)),
    }
}

/// `resp2 "…"` / `resp3 "…"`: the exact wire bytes of the previous reply in that protocol,
/// written as a quoted, escaped string.
fn wire_expectation(line: &str) -> Option<(cairn_resp::Protocol, &str)> {
    if let Some(wire) = line.strip_prefix("resp2 ") {
        return Some((cairn_resp::Protocol::Resp2, wire));
    }
    line.strip_prefix("resp3 ")
        .map(|wire| (cairn_resp::Protocol::Resp3, wire))
}

/// Runs a transcript; panics with the file's name and line on the first mismatch.
pub fn check(name: &str, script: &str) {
    let mut h = Harness::new();
    let mut pending: Option<(usize, String, Reply)> = None;
    // The last checked reply, for `resp2`/`resp3` lines that pin its wire bytes.
    let mut last: Option<(usize, String, Reply)> = None;
    for (i, raw) in script.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("> ") {
            if let Some((at, cmd, _)) = pending.take() {
                panic!("{name}:{at}: `{cmd}` has no expected reply");
            }
            let reply = h.cmd(cmd);
            pending = Some((line_no, cmd.to_string(), reply));
        } else if let Some(ms) = line.strip_prefix("@advance ") {
            h.clock_ms += ms
                .trim()
                .parse::<u64>()
                .expect("@advance takes milliseconds");
        } else if line == "@tick" {
            h.apply(Body::Tick { keys_max: u32::MAX });
        } else if let Some(policy) = line.strip_prefix("@policy ") {
            let policy = crate::evict::Policy::parse(policy.trim())
                .unwrap_or_else(|| panic!("{name}:{line_no}: unknown policy {policy}"));
            h.set_policy(policy);
        } else if let Some(keys) = line.strip_prefix("@evict ") {
            if let Some((at, cmd, _)) = pending.take() {
                panic!("{name}:{at}: `{cmd}` has no expected reply");
            }
            let keys: Vec<&str> = keys.split_whitespace().collect();
            pending = Some((line_no, line.to_string(), h.evict(&keys)));
        } else if let Some((proto, wire)) = wire_expectation(line) {
            let Some((at, cmd, reply)) = &last else {
                panic!("{name}:{line_no}: `{line}` follows no checked reply");
            };
            let mut out = bytes::BytesMut::new();
            cairn_resp::encode(reply, proto, &mut out);
            assert_eq!(escape(&out), wire, "{name}:{at}: `{cmd}` over {proto:?}");
        } else {
            let Some((at, cmd, reply)) = pending.take() else {
                panic!("{name}:{line_no}: expected reply `{line}` follows no command");
            };
            let actual = render(&reply);
            assert_eq!(actual, line, "{name}:{at}: `{cmd}`");
            last = Some((at, cmd, reply));
        }
    }
    if let Some((at, cmd, _)) = pending {
        panic!("{name}:{at}: `{cmd}` has no expected reply");
    }
}
