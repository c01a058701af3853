//! MONITOR, as in Redis 7.0: a monitoring client receives one line per command this node
//! runs for its clients, `+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`, arguments quoted
//! as Redis's `sdscatrepr` quotes them, and `[0 lua]` for the commands scripts call.
//!
//! Which commands: those that pass the gate (refusals are not shown), except admin commands
//! and those flagged `skip_monitor`; EVAL, EVALSHA, FCALL and their read-only forms are shown
//! before they run, followed by their scripts' calls. AUTH and HELLO's passwords are shown as
//! `(redacted)`. A transaction shows MULTI when it is issued, and its commands and EXEC when
//! EXEC runs (only EXEC when it is discarded). Lines go out in the order the node takes the
//! commands; the calls of a script that runs as a log entry follow when the entry applies.
//!
//! A node shows its own clients' commands (RESP and REST) and the calls of their scripts, not
//! the commands other nodes of a shared log take.
//!
//! A line is made once and handed to each monitor's push channel; a monitor is a normal
//! client for `client-output-buffer-limit` (as in Redis), so one that does not read is closed
//! at that limit without slowing anyone else. With nobody monitoring, the cost is one atomic
//! load per command.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::{BufMut, Bytes, BytesMut};
use cairn_engine::commands::parse_i64;
use cairn_engine::table::{self, flag};
use cairn_engine::{Engine, Spec};
use cairn_resp::Reply;

use crate::node::Shared;
use crate::pubsub::PushTx;
use crate::session::Session;

/// The node's monitoring clients.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    list: Mutex<Vec<(u64, PushTx)>>,
}

impl Monitors {
    /// Whether anyone monitors (the only cost of MONITOR when nobody does).
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    fn add(&self, client: u64, tx: PushTx) {
        let mut list = self.list.lock().expect("monitors lock");
        list.push((client, tx));
        self.count.store(list.len(), Relaxed);
    }

    fn remove(&self, client: u64) {
        let mut list = self.list.lock().expect("monitors lock");
        list.retain(|(id, _)| *id != client);
        self.count.store(list.len(), Relaxed);
    }

    /// Sends one line (without `+` and CRLF) to every monitor.
    fn feed(&self, line: Bytes) {
        let mut list = self.list.lock().expect("monitors lock");
        list.retain(|(_, tx)| tx.send(Reply::Simple(line.clone())).is_ok());
        self.count.store(list.len(), Relaxed);
    }
}

/// Who ran a command: a client at an address, or a script.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Client(&'a SocketAddr),
    Lua,
}

/// One MONITOR line: time, `[db origin]`, the arguments quoted.
fn line(db: usize, origin: Origin, argv: &[Bytes]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = String::with_capacity(48 + argv.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(out, "{}.{:06} [{db} ", now.as_secs(), now.subsec_micros());
    match origin {
        Origin::Client(addr) => {
            let _ = write!(out, "{addr}] ");
        }
        Origin::Lua => out.push_str("lua] "),
    }
    let mut out = BytesMut::from(out.as_bytes());
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.put_u8(b' ');
        }
        quote(arg, &mut out);
    }
    out.freeze()
}

/// Redis's `sdscatrepr`: a double-quoted string with C escapes, `\xHH` for bytes that are not
/// printable ASCII.
fn quote(arg: &[u8], out: &mut BytesMut) {
    out.put_u8(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.put_slice(&[b'\\', b]),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            0x07 => out.put_slice(b"\\a"),
            0x08 => out.put_slice(b"\\b"),
            0x20..=0x7e => out.put_u8(b),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.put_slice(&[b'\\', b'x', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
        }
    }
    out.put_u8(b'"');
}

/// EVAL, EVALSHA, FCALL and their read-only forms: `skip_monitor`, but shown before they run.
fn runs_script(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Whether MONITOR shows `spec` (Redis hides admin commands and `skip_monitor` ones).
fn shown(spec: &Spec) -> bool {
    spec.flags & (flag::ADMIN | flag::SKIP_MONITOR) == 0 || runs_script(spec.name)
}

const REDACTED: Bytes = Bytes::from_static(b"(redacted)");

/// AUTH's and HELLO's credentials, replaced as Redis redacts them (the positions SLOWLOG
/// hides too), but only when the command got to read them: an AUTH with too many arguments,
/// or a HELLO that fails on its version, shows them as they came, as in Redis. MONITOR hides
/// the other commands SLOWLOG redacts (ACL SETUSER, CONFIG SET) altogether: they are admin.
fn redact(spec: &Spec, argv: &[Bytes]) -> Option<Vec<Bytes>> {
    let read = match spec.name {
        "auth" => argv.len() <= 3,
        "hello" => argv.len() >= 2 && matches!(parse_i64(&argv[1]), Some(2 | 3)),
        _ => false,
    };
    if !read {
        return None;
    }
    let mut out = argv.to_vec();
    for i in crate::slowlog::redacted_args(spec, argv) {
        out[i] = REDACTED;
    }
    Some(out)
}

/// Shows a command the session runs (called only while someone monitors).
pub(crate) fn command(s: &Session, spec: &Spec, argv: &[Bytes]) {
    if !shown(spec) {
        return;
    }
    let redacted = redact(spec, argv);
    let argv = redacted.as_deref().unwrap_or(argv);
    s.shared
        .monitors
        .feed(line(s.db, Origin::Client(&s.client.addr), argv));
}

/// MONITOR: the connection receives every command from now on. A client already monitoring
/// gets no reply, as in Redis.
pub(crate) fn start(s: &mut Session) -> Option<Reply> {
    if s.client.monitor.swap(true, Relaxed) {
        return None;
    }
    s.shared.monitors.add(s.client.id, s.push_tx.clone());
    Some(Reply::ok())
}

/// MONITOR inside a transaction (Redis refuses clients that may not block).
pub(crate) fn refused_in_exec() -> Reply {
    Reply::error_static("ERR MONITOR isn't allowed for DENY BLOCKING client")
}

/// RESET, or the connection closes: it monitors no more.
pub(crate) fn stop(s: &mut Session) {
    if s.client.monitor.swap(false, Relaxed) {
        s.shared.monitors.remove(s.client.id);
    }
}

/// A monitoring client may not run commands that read or change keys (Redis's error for the
/// replicas its monitors are a kind of).
pub(crate) fn refuses(s: &Session, spec: &Spec, argv: &[Bytes]) -> Option<Reply> {
    if !s.client.monitor.load(Relaxed) {
        return None;
    }
    let keyspace = spec.flags & (flag::READONLY | flag::WRITE) != 0
        || crate::pause::may_replicate(&s.node, spec, argv);
    keyspace.then(|| Reply::error_static("ERR Replica can't interact with the keyspace"))
}

/// Turns on the engine's record of the commands run inside what is about to run (an entry this
/// node made, or a read), when someone monitors.
pub(crate) fn tap_begin(engine: &Engine, shared: &Shared) -> bool {
    let on = shared.monitors.active();
    if on {
        engine.tap().set(true);
    }
    on
}

/// Shows what the engine recorded: scripts' calls as `lua`, an EXEC's commands as its client's
/// (`client`: its id, for an EXEC entry).
pub(crate) fn tap_end(engine: &Engine, shared: &Shared, client: Option<u64>) {
    let tap = engine.tap();
    tap.set(false);
    let calls = tap.take();
    if calls.is_empty() {
        return;
    }
    let addr = client.and_then(|id| shared.clients.get(id)).map(|c| c.addr);
    for call in calls {
        if !table::resolve(&call.argv).is_ok_and(shown) {
            continue;
        }
        let origin = match (call.lua, &addr) {
            (true, _) => Origin::Lua,
            (false, Some(addr)) => Origin::Client(addr),
            (false, None) => continue,
        };
        shared.monitors.feed(line(call.db, origin, &call.argv));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(arg: &[u8]) -> String {
        let mut out = BytesMut::new();
        quote(arg, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn arguments_are_quoted_as_redis_quotes_them() {
        assert_eq!(quoted(b"keys"), r#""keys""#);
        assert_eq!(
            quoted(b"a\"b\\c\n\r\t\x07\x08\x00\xff \xc3\xa9"),
            r#""a\"b\\c\n\r\t\a\b\x00\xff \xc3\xa9""#
        );
    }

    #[test]
    fn lines_name_the_database_and_the_origin() {
        let addr: SocketAddr = "127.0.0.1:60866".parse().unwrap();
        let argv = [Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        let text = String::from_utf8(line(3, Origin::Client(&addr), &argv).to_vec()).unwrap();
        let (time, rest) = text.split_once(' ').unwrap();
        assert_eq!(rest, r#"[3 127.0.0.1:60866] "get" "k""#);
        let (secs, micros) = time.split_once('.').unwrap();
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6);
        let text = String::from_utf8(line(0, Origin::Lua, &argv).to_vec()).unwrap();
        assert!(text.ends_with(r#" [0 lua] "get" "k""#));
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn redacted(words: &[&str]) -> Vec<String> {
        let argv = args(words);
        let spec = table::resolve(&argv).ok().expect("a known command");
        redact(spec, &argv)
            .unwrap_or(argv)
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn credentials_are_redacted_as_redis_does() {
        assert_eq!(redacted(&["AUTH", "pw"]), ["AUTH", "(redacted)"]);
        assert_eq!(
            redacted(&["auth", "u", "pw"]),
            ["auth", "(redacted)", "(redacted)"]
        );
        // A syntax error comes before the redaction.
        assert_eq!(redacted(&["auth", "a", "b", "c"]), ["auth", "a", "b", "c"]);
        assert_eq!(
            redacted(&["HELLO", "2", "SETNAME", "x", "AUTH", "u", "p"]),
            [
                "HELLO",
                "2",
                "SETNAME",
                "x",
                "AUTH",
                "(redacted)",
                "(redacted)"
            ]
        );
        assert_eq!(
            redacted(&["HELLO", "4", "AUTH", "u", "p"]),
            ["HELLO", "4", "AUTH", "u", "p"]
        );
        assert_eq!(
            redacted(&["HELLO", "2", "FOO", "AUTH", "u", "p"]),
            ["HELLO", "2", "FOO", "AUTH", "u", "p"]
        );
    }

    #[test]
    fn admin_and_skip_monitor_commands_are_hidden_but_scripts_are_shown() {
        let spec = |words: &[&str]| table::resolve(&args(words)).ok().expect("a known command");
        assert!(shown(spec(&["get", "k"])));
        assert!(shown(spec(&["client", "id"])));
        assert!(!shown(spec(&["client", "list"])));
        assert!(!shown(spec(&["config", "get", "x"])));
        assert!(!shown(spec(&["monitor"])));
        assert!(shown(spec(&["eval", "return 1", "0"])));
        assert!(shown(spec(&["fcall_ro", "f", "0"])));
    }
}
