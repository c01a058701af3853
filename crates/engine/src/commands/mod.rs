//! Command families, one file each (`string.rs`, `keyspace.rs`, …), each exporting its rows
//! of the command table as `COMMANDS`. Handlers are named after their command; shared logic is
//! `*_generic`. This module holds what every family uses: argument parsing with Redis's exact
//! rules and error texts, and the row constructor.

pub mod acl;
pub mod bitmap;
pub mod cluster;
pub mod command;
pub mod connection;
pub mod dump;
pub mod function;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod json;
pub mod keyspace;
pub mod list;
pub mod memory;
pub mod pubsub;
pub mod script;
pub mod server;
pub mod set;
pub mod sort;
pub mod stream;
pub mod string;
pub mod transaction;
pub mod zset;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::table::{Channels, Group, Handler, KeyAccess, KeySpec, Keys, Spec, key};

// ---------------------------------------------------------------------------------------------
// Key specs several families share (Redis 7's)

/// `numkeys key [key …]` at argument 1, read.
pub(crate) const NUMKEYS_RO: &[KeySpec] = &[KeySpec::numkeys(1, key::RO | key::ACCESS)];
/// LMPOP/ZMPOP: `numkeys key [key …]` at argument 1, popped from.
pub(crate) const MPOP_KEYS: &[KeySpec] =
    &[KeySpec::numkeys(1, key::RW | key::ACCESS | key::DELETE)];
/// BLMPOP/BZMPOP: the same after the timeout.
pub(crate) const BMPOP_KEYS: &[KeySpec] =
    &[KeySpec::numkeys(2, key::RW | key::ACCESS | key::DELETE)];

/// Every family's rows; the table is their union.
pub static FAMILIES: &[&[Spec]] = &[
    string::COMMANDS,
    list::COMMANDS,
    hash::COMMANDS,
    set::COMMANDS,
    zset::COMMANDS,
    stream::COMMANDS,
    geo::COMMANDS,
    sort::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    json::COMMANDS,
    keyspace::COMMANDS,
    dump::COMMANDS,
    memory::COMMANDS,
    pubsub::COMMANDS,
    server::COMMANDS,
    command::COMMANDS,
    connection::COMMANDS,
    acl::COMMANDS,
    transaction::COMMANDS,
    script::COMMANDS,
    function::COMMANDS,
    cluster::COMMANDS,
];

// ---------------------------------------------------------------------------------------------
// Error texts (Redis 7.0's, byte for byte)

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// What a blocking command (BLPOP, BZPOPMIN, …) answers from apply when none of its keys has
/// anything to take. It is never sent to a client: the node keeps the client waiting and
/// appends the same command again when an applied entry signals one of its keys
/// (`WriteCtx::signal_ready`), or answers the command's timeout reply when its time is up.
pub const BLOCKED: &str = "CAIRN-BLOCKED";

pub fn blocked() -> Reply {
    Reply::error_static(BLOCKED)
}

/// `blocked()` naming the argv to park and retry instead of the one applied: XREAD resolves
/// `$` to the stream's last ID at its first attempt, so its retries wait for what comes after.
pub fn blocked_retrying(argv: Vec<Bytes>) -> Reply {
    let mut items = Vec::with_capacity(argv.len() + 1);
    items.push(blocked());
    items.extend(argv.into_iter().map(Reply::Bulk));
    Reply::Array(items)
}

pub fn is_blocked(reply: &Reply) -> bool {
    let marker = |r: &Reply| matches!(r, Reply::Error(text) if text.as_ref() == BLOCKED.as_bytes());
    match reply {
        Reply::Array(items) => items.first().is_some_and(marker),
        other => marker(other),
    }
}

/// The argv a blocked reply asks the node to retry with, when it names one.
pub fn blocked_argv(reply: &Reply) -> Option<Vec<Bytes>> {
    let Reply::Array(items) = reply else {
        return None;
    };
    if !is_blocked(reply) {
        return None;
    }
    items[1..]
        .iter()
        .map(|r| match r {
            Reply::Bulk(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// For a blocking command whose arguments its `check` accepted: the keys it waits on and its
/// timeout in milliseconds (0: forever), as Redis reads them (seconds as a float, rounded up
/// to a whole millisecond; XREAD's and XREADGROUP's BLOCK in milliseconds). `None` for any
/// other command.
pub fn blocking_args(argv: &[Bytes]) -> Option<(Vec<Bytes>, u64)> {
    let name = argv.first()?.to_ascii_lowercase();
    let n = argv.len();
    let (keys, timeout): (&[Bytes], &Bytes) = match name.as_slice() {
        b"xread" | b"xreadgroup" => return stream::blocking_keys(argv),
        b"blpop" | b"brpop" | b"bzpopmin" | b"bzpopmax" if n >= 3 => {
            (&argv[1..n - 1], &argv[n - 1])
        }
        b"blmove" | b"brpoplpush" if n >= 4 => (&argv[1..2], &argv[n - 1]),
        b"blmpop" | b"bzmpop" if n >= 4 => {
            let count = usize::try_from(parse_i64(&argv[2])?).ok()?;
            (argv.get(3..3 + count)?, &argv[1])
        }
        _ => return None,
    };
    let seconds = parse_f64(timeout).filter(|s| *s >= 0.0)?;
    let ms = (seconds * 1000.0).ceil();
    let ms = if ms >= u64::MAX as f64 {
        u64::MAX
    } else {
        ms as u64
    };
    Some((keys.to_vec(), ms))
}

pub fn syntax_error() -> Reply {
    Reply::error_static(SYNTAX)
}

pub fn wrong_type() -> Reply {
    Reply::error_static(WRONGTYPE)
}

pub fn not_integer() -> Reply {
    Reply::error_static(NOT_INTEGER)
}

// ---------------------------------------------------------------------------------------------
// Argument parsing

/// Redis's `string2ll`: optional `-`, digits, no leading zeros (except "0"), no spaces, no
/// `+`, fits in i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    // 20 bytes is the longest i64 ("-9223372036854775808").
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] => return if negative { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Redis's `strtold`-based float parsing: no leading/trailing space, `inf`/`-inf` accepted,
/// NaN rejected.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let v = match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            if lower.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }
        }
        t if t.starts_with("nan") => return None,
        t if t.starts_with("0x") => return None,
        _ => text.parse::<f64>().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// An integer argument, or Redis's "not an integer" error.
pub fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(not_integer)
}

pub fn float_arg(arg: &[u8]) -> Result<f64, Reply> {
    parse_f64(arg).ok_or_else(|| Reply::error_static(NOT_FLOAT))
}

pub fn eq_ignore_case(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Formats an integer reply as bytes (for stored counters).
pub fn i64_bytes(v: i64) -> Box<[u8]> {
    itoa::Buffer::new().format(v).as_bytes().into()
}

pub fn bulk(bytes: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(bytes))
}

// ---------------------------------------------------------------------------------------------
// Row constructor: `cmd(...)` with the fields every row has, then `.sub(...)`/`.complexity(...)`.

#[allow(clippy::too_many_arguments)] // reason: one argument per table column reads as a row
pub const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: u32,
    keys: Keys,
    group: Group,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        acl,
        keys,
        group,
        since,
        summary,
        complexity: "",
        handler,
        subcommands: &[],
        key_access: KeyAccess::Legacy,
        channels: Channels::None,
    }
}

impl Spec {
    pub const fn complexity(mut self, text: &'static str) -> Spec {
        self.complexity = text;
        self
    }

    pub const fn sub(mut self, subcommands: &'static [Spec]) -> Spec {
        self.subcommands = subcommands;
        self
    }

    /// The `keys` triple's keys with these key-spec flags (instead of the default by kind).
    pub const fn key_flags(mut self, flags: u32) -> Spec {
        self.key_access = KeyAccess::Flags(flags);
        self
    }

    /// The `keys` triple's keys, whose flags depend on the arguments.
    pub const fn key_flags_by(mut self, declared: u32, flags_of: fn(&[Bytes]) -> u32) -> Spec {
        self.key_access = KeyAccess::Variable(declared, flags_of);
        self
    }

    /// Key specs of the row's own (several key groups, keyword or numkeys searches).
    pub const fn key_specs(mut self, specs: &'static [KeySpec]) -> Spec {
        self.key_access = KeyAccess::Specs(specs);
        self
    }

    /// Key specs (some `unknown`) and the function that finds the keys.
    pub const fn movable_keys(
        mut self,
        specs: &'static [KeySpec],
        find: crate::table::MovableKeysFn,
    ) -> Spec {
        self.key_access = KeyAccess::Movable(specs, find);
        self
    }

    /// The Pub/Sub channels the row names.
    pub const fn channels(mut self, channels: Channels) -> Spec {
        self.channels = channels;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_parse_like_string2ll() {
        for (s, v) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
        ] {
            assert_eq!(parse_i64(s.as_bytes()), v, "{s}");
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "+1",
            " 1",
            "1 ",
            "01",
            "-0",
            "9223372036854775808",
            "1.0",
            "abc",
        ] {
            assert_eq!(parse_i64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn blocking_commands_name_their_keys_and_timeout() {
        let argv = |words: &[&str]| -> Vec<Bytes> {
            words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let keys = |words: &[&str]| argv(words);
        assert_eq!(
            blocking_args(&argv(&["BLPOP", "a", "b", "1.5"])),
            Some((keys(&["a", "b"]), 1500))
        );
        assert_eq!(
            blocking_args(&argv(&["blmove", "s", "d", "LEFT", "RIGHT", "0"])),
            Some((keys(&["s"]), 0))
        );
        assert_eq!(
            blocking_args(&argv(&["BZMPOP", "0.0001", "2", "x", "y", "MIN"])),
            Some((keys(&["x", "y"]), 1))
        );
        assert_eq!(
            blocking_args(&argv(&["BLMPOP", "1", "3", "x", "LEFT"])),
            None
        );
        assert_eq!(blocking_args(&argv(&["LPOP", "a"])), None);
        assert_eq!(blocking_args(&argv(&["BRPOP", "a", "-1"])), None);
    }

    #[test]
    fn floats_parse_like_strtold() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        for bad in ["", " 1", "1 ", "nan", "abc", "1.5x"] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad}");
        }
    }
}
