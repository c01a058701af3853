//! SLOWLOG: the node's log of commands whose execution took at least
//! `slowlog-log-slower-than` microseconds (negative: off; 0: every command), newest first,
//! at most `slowlog-max-len` entries (Redis's `slowlog.c`).
//!
//! The log is this node's own, never replicated: a command is logged by the node that ran it
//! for its client, with the time it took there (see `calls.rs` for what is measured). Entries
//! keep at most 32 arguments and 128 bytes of each; arguments that carry secrets (AUTH's and
//! HELLO's passwords, ACL SETUSER's rules, sensitive CONFIG SET values) are logged as
//! `(redacted)`, and EXEC (flag `skip_slowlog`) is not logged itself: its commands are.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use cairn_engine::commands::{eq_ignore_case, parse_i64};
use cairn_engine::table::flag;
use cairn_engine::{Spec, table};
use cairn_resp::Reply;

use crate::clients::ClientState;
use crate::config::Config;

/// Arguments an entry keeps; the last one kept says how many more there were (Redis's
/// `SLOWLOG_ENTRY_MAX_ARGC`).
const ARGC_MAX: usize = 32;
/// Bytes of an argument an entry keeps (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
const ARG_BYTES_MAX: usize = 128;

struct Entry {
    id: u64,
    time_s: u64,
    duration_us: u64,
    argv: Vec<Bytes>,
    /// The client's address (`ip:port`) and name ("" when it has none).
    peer: String,
    name: Bytes,
}

/// The node's slow log.
pub struct SlowLog {
    /// `slowlog-log-slower-than` in µs (negative: off).
    slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    len_max: AtomicU64,
    next_id: AtomicU64,
    /// Newest first. Taken only to log a command over the threshold and by SLOWLOG.
    entries: Mutex<VecDeque<Entry>>,
}

impl SlowLog {
    pub fn new(config: &Config) -> SlowLog {
        let log = SlowLog {
            slower_than_us: AtomicI64::new(-1),
            len_max: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        };
        log.configure(config);
        log
    }

    /// Takes the log's options (at start and after CONFIG SET). A shorter `slowlog-max-len`
    /// drops the oldest entries at once while the log is on, as the CONFIG SET call's own
    /// check does in Redis.
    pub fn configure(&self, config: &Config) {
        self.slower_than_us
            .store(config.slowlog_log_slower_than_us, Relaxed);
        self.len_max.store(config.slowlog_max_len, Relaxed);
        if config.slowlog_log_slower_than_us >= 0 {
            self.trim(&mut self.entries.lock().expect("slowlog lock"));
        }
    }

    /// Whether a command that took `usec` is logged: the one check every call pays.
    #[inline]
    pub fn wants(&self, usec: u64) -> bool {
        let threshold = self.slower_than_us.load(Relaxed);
        threshold >= 0 && usec >= threshold as u64
    }

    /// Logs a command that took `usec` (the caller has checked `wants`).
    pub fn push(&self, spec: &Spec, argv: &[Bytes], usec: u64, client: Option<&ClientState>) {
        if spec.flags & flag::SKIP_SLOWLOG != 0 {
            return;
        }
        let (peer, name) = match client {
            Some(c) => (
                c.addr.to_string(),
                c.name
                    .lock()
                    .expect("client lock")
                    .clone()
                    .unwrap_or_default(),
            ),
            None => (String::new(), Bytes::new()),
        };
        let entry = Entry {
            id: self.next_id.fetch_add(1, Relaxed),
            time_s: crate::node::unix_ms() / 1000,
            duration_us: usec,
            argv: kept_args(spec, argv),
            peer,
            name,
        };
        let mut entries = self.entries.lock().expect("slowlog lock");
        entries.push_front(entry);
        self.trim(&mut entries);
    }

    fn trim(&self, entries: &mut VecDeque<Entry>) {
        let len_max = self.len_max.load(Relaxed).min(usize::MAX as u64) as usize;
        entries.truncate(len_max);
    }
}

/// What an entry keeps of `argv`: redacted, at most ARGC_MAX arguments of at most
/// ARG_BYTES_MAX bytes each.
fn kept_args(spec: &Spec, argv: &[Bytes]) -> Vec<Bytes> {
    let redacted = redacted_args(spec, argv);
    let argc = argv.len().min(ARGC_MAX);
    let mut out = Vec::with_capacity(argc);
    for (i, arg) in argv.iter().enumerate().take(argc) {
        if argc < argv.len() && i == argc - 1 {
            let more = argv.len() - argc + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if redacted.contains(&i) {
            out.push(Bytes::from_static(b"(redacted)"));
        } else if arg.len() > ARG_BYTES_MAX {
            let mut kept = arg[..ARG_BYTES_MAX].to_vec();
            let more = arg.len() - ARG_BYTES_MAX;
            kept.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
            out.push(Bytes::from(kept));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

/// Positions of `argv` that carry secrets and are never shown (Redis's
/// `redactClientCommandArgument` calls): AUTH's username and password, HELLO's AUTH pair,
/// every argument of ACL SETUSER (and of Cairn's ACL RESTTOKEN) after the subcommand, and the
/// value of a sensitive option in CONFIG SET (`requirepass`, `masterauth`, `masteruser`).
/// Where Redis answers a malformed AUTH or HELLO before redacting, SLOWLOG redacts anyway;
/// MONITOR (`monitor::redact`) shows those as Redis does.
pub fn redacted_args(spec: &Spec, argv: &[Bytes]) -> Vec<usize> {
    let name = spec.name;
    // The row was resolved from argv[0]: a subcommand's container is argv[0].
    let parent = |container: &str| argv.len() > 1 && eq_ignore_case(&argv[0], container);
    if name == "auth" {
        return (1..argv.len()).collect();
    }
    if name == "hello" {
        let mut out = Vec::new();
        let mut j = 2;
        while j < argv.len() {
            if eq_ignore_case(&argv[j], "AUTH") && j + 2 < argv.len() {
                out.extend([j + 1, j + 2]);
                j += 3;
            } else if eq_ignore_case(&argv[j], "SETNAME") && j + 1 < argv.len() {
                j += 2;
            } else {
                break;
            }
        }
        return out;
    }
    if matches!(name, "setuser" | "resttoken") && parent("acl") {
        return (2..argv.len()).collect();
    }
    if name == "set" && parent("config") {
        return argv
            .iter()
            .enumerate()
            .skip(2)
            .step_by(2)
            .filter(|(_, option)| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|s| eq_ignore_case(option, s))
            })
            .map(|(i, _)| i + 1)
            .filter(|&i| i < argv.len())
            .collect();
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------------
// SLOWLOG

/// SLOWLOG's subcommands (the table has checked each one's arity).
pub fn command(log: &SlowLog, argv: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if argv.len() <= 3 => get(log, argv.get(2)),
        "len" => Reply::Int(log.entries.lock().expect("slowlog lock").len() as i64),
        "reset" => {
            log.entries.lock().expect("slowlog lock").clear();
            Reply::ok()
        }
        "help" => crate::commands::help("SLOWLOG", HELP),
        _ => Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            table::lossy_trim(&argv[1], 128),
            String::from_utf8_lossy(&argv[0]).to_ascii_uppercase()
        )),
    }
}

/// SLOWLOG GET [count]: the newest `count` entries (default 10; -1: all).
fn get(log: &SlowLog, count: Option<&Bytes>) -> Reply {
    let entries = log.entries.lock().expect("slowlog lock");
    // Redis gives its range message for a count that is not a number too.
    let count = match count.map(|arg| parse_i64(arg)) {
        None => 10,
        Some(Some(-1)) => entries.len(),
        Some(Some(n)) if n >= 0 => n as usize,
        Some(_) => return Reply::error_static("ERR count should be greater than or equal to -1"),
    };
    Reply::Array(
        entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.time_s as i64),
                    Reply::Int(e.duration_us as i64),
                    Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::Bulk(Bytes::from(e.peer.clone())),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    )
}

const HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn kept(words: &[&str]) -> Vec<String> {
        let argv = argv(words);
        let spec = table::resolve(&argv).unwrap_or_else(|_| panic!("{words:?} resolves"));
        kept_args(spec, &argv)
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(kept(&["AUTH", "pw"]), ["AUTH", "(redacted)"]);
        assert_eq!(
            kept(&["auth", "user", "pw"]),
            ["auth", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            kept(&["HELLO", "3", "SETNAME", "x", "AUTH", "u", "p"]),
            [
                "HELLO",
                "3",
                "SETNAME",
                "x",
                "AUTH",
                "(redacted)",
                "(redacted)"
            ]
        );
        assert_eq!(
            kept(&["acl", "setuser", "bob", "on", ">pw"]),
            ["acl", "setuser", "(redacted)", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            kept(&["config", "set", "masterauth", "x", "timeout", "0"]),
            ["config", "set", "masterauth", "(redacted)", "timeout", "0"]
        );
        assert_eq!(
            kept(&["config", "set", "REQUIREPASS", "x"]),
            ["config", "set", "REQUIREPASS", "(redacted)"]
        );
        assert_eq!(
            kept(&["set", "masterauth", "x"]),
            ["set", "masterauth", "x"]
        );
    }

    #[test]
    fn long_commands_are_trimmed() {
        let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let mut words = vec!["sadd", "s"];
        words.extend(many.iter().map(String::as_str));
        let got = kept(&words);
        assert_eq!(got.len(), ARGC_MAX);
        assert_eq!(got[ARGC_MAX - 1], "... (11 more arguments)");
        assert_eq!(got[ARGC_MAX - 2], "28");
        let long = "A".repeat(200);
        let got = kept(&["sadd", "s", &long]);
        assert_eq!(got[2], format!("{}... (72 more bytes)", "A".repeat(128)));
        let exact = "B".repeat(128);
        assert_eq!(kept(&["sadd", "s", &exact])[2], exact);
    }
}
