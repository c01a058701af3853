//! The command table: one row (`Spec`) per command is the single source of truth for its
//! name, arity, flags, key positions, ACL categories, documentation and handler. The session
//! gate, COMMAND, the compatibility document and (later) ACL and the REST read-only check all
//! read it.

use std::sync::LazyLock;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::dict::Dict;
use crate::engine::{ReadCtx, WriteCtx};

/// Command flags, as COMMAND INFO reports them.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;

    /// Names in COMMAND INFO order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        // MAY_REPLICATE is hidden from COMMAND INFO, as in Redis.
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories. `@read`/`@write`/`@fast`/`@slow`/`@admin`/`@dangerous`/`@blocking` are
/// derived from the flags; rows list only their data-type/area categories.
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    /// Names in Redis's `ACL CAT` order.
    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// Where keys are in argv (legacy COMMAND INFO triple; `last` < 0 counts from the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

impl Keys {
    pub const NONE: Keys = Keys {
        first: 0,
        last: 0,
        step: 0,
    };
    pub const ONE: Keys = Keys {
        first: 1,
        last: 1,
        step: 1,
    };
    pub const ALL: Keys = Keys {
        first: 1,
        last: -1,
        step: 1,
    };
}

pub type ReadFn = fn(&mut ReadCtx, &[Bytes]) -> Reply;
/// Checks syntax before an entry is made, so syntax errors never reach the log.
pub type CheckFn = fn(&[Bytes]) -> Result<(), Reply>;
pub type ApplyFn = fn(&mut WriteCtx, &[Bytes]) -> Reply;

/// Commands that belong to the connection or the node rather than the keyspace. The server
/// matches on this enum exhaustively, so a row cannot lack its implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionCmd {
    Ping,
    Echo,
    Quit,
    Reset,
    Hello,
    Auth,
    Select,
    ClientId,
    ClientSetname,
    ClientGetname,
    ClientSetinfo,
    ClientList,
    ClientInfo,
    ClientKill,
    ClientNoEvict,
    ClientUnblock,
    ClientReply,
    ClientHelp,
    Info,
    ConfigGet,
    ConfigSet,
    ConfigResetstat,
    ConfigRewrite,
    ConfigHelp,
    Time,
    Lastsave,
    Save,
    Bgsave,
    Shutdown,
    Debug,
    SyncToken,
    Sync,
    Subscribe,
    Unsubscribe,
    Psubscribe,
    Punsubscribe,
    Ssubscribe,
    Sunsubscribe,
    Publish,
    Spublish,
    PubsubChannels,
    PubsubNumsub,
    PubsubNumpat,
    PubsubShardchannels,
    PubsubShardnumsub,
    PubsubHelp,
}

#[derive(Clone, Copy)]
pub enum Handler {
    /// Runs against local state after the read barrier; never changes replicated state.
    Read(ReadFn),
    /// Becomes a log entry; every node applies it in log order.
    Write(CheckFn, ApplyFn),
    Session(SessionCmd),
    /// Only dispatches to `subcommands`.
    Container,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Generic,
    String,
    List,
    Hash,
    Set,
    SortedSet,
    Bitmap,
    HyperLogLog,
    Geo,
    PubSub,
    Connection,
    Server,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::Bitmap => "bitmap",
            Group::HyperLogLog => "hyperloglog",
            Group::Geo => "geo",
            Group::PubSub => "pubsub",
            Group::Connection => "connection",
            Group::Server => "server",
        }
    }
}

pub struct Spec {
    /// Lowercase; a subcommand's name is its own word (`setname`), its full name `client|setname`.
    pub name: &'static str,
    /// Redis arity: n = exactly n arguments (name included), -n = at least n.
    pub arity: i32,
    pub flags: u32,
    pub acl: u32,
    pub keys: Keys,
    pub group: Group,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [Spec],
}

impl Spec {
    pub fn is_write(&self) -> bool {
        self.flags & flag::WRITE != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity as i64;
        let argc = argc as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    /// ACL categories including those implied by the flags.
    pub fn acl_categories(&self) -> u32 {
        let mut cats = self.acl;
        if self.flags & flag::WRITE != 0 {
            cats |= acl::WRITE;
        }
        if self.flags & flag::READONLY != 0 && self.acl & acl::SCRIPTING == 0 {
            cats |= acl::READ;
        }
        if self.flags & flag::ADMIN != 0 {
            cats |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.flags & flag::PUBSUB != 0 {
            cats |= acl::PUBSUB;
        }
        if self.flags & flag::FAST != 0 {
            cats |= acl::FAST;
        }
        if self.flags & flag::BLOCKING != 0 {
            cats |= acl::BLOCKING;
        }
        if cats & acl::FAST == 0 {
            cats |= acl::SLOW;
        }
        cats
    }

    /// The keys of `argv` for this command, by the `keys` triple.
    pub fn key_indices(&self, argc: usize) -> impl Iterator<Item = usize> {
        let k = self.keys;
        let last = if k.last < 0 {
            argc as i64 + k.last as i64
        } else {
            k.last as i64
        };
        let step = k.step.max(1) as usize;
        let range = if k.first <= 0 {
            0..0
        } else {
            k.first as usize..(last.max(0) as usize + 1).min(argc)
        };
        range.step_by(step)
    }
}

/// Every top-level command, in no particular order.
pub fn commands() -> impl Iterator<Item = &'static Spec> {
    crate::commands::FAMILIES
        .iter()
        .flat_map(|family| family.iter())
}

static BY_NAME: LazyLock<Dict<&'static Spec>> = LazyLock::new(|| {
    // Fixed seed: this table is not attacker-influenced (names are ours).
    let mut dict = Dict::new(0x6361_6972_6e00);
    for spec in commands() {
        let previous = dict.insert(spec.name.as_bytes(), spec);
        assert!(
            previous.is_none(),
            "command {} is in the table twice",
            spec.name
        );
    }
    dict
});

/// Longest command name, so lookups lowercase into a stack buffer.
const NAME_LEN_MAX: usize = 32;

fn lowercase(name: &[u8], buf: &mut [u8; NAME_LEN_MAX]) -> Option<usize> {
    if name.len() > NAME_LEN_MAX {
        return None;
    }
    for (dst, src) in buf.iter_mut().zip(name) {
        *dst = src.to_ascii_lowercase();
    }
    Some(name.len())
}

/// The top-level row for a command name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let mut buf = [0u8; NAME_LEN_MAX];
    let len = lowercase(name, &mut buf)?;
    BY_NAME.get(&buf[..len]).copied()
}

pub fn lookup_sub(spec: &'static Spec, name: &[u8]) -> Option<&'static Spec> {
    spec.subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Why a command can't run, as Redis words it.
pub enum Rejection {
    Unknown,
    UnknownSubcommand,
    Arity,
}

/// Resolves argv to the row that handles it (the subcommand's, for containers) and checks
/// arity. This is the first half of the gate; the session adds auth and MULTI state.
pub fn resolve(argv: &[Bytes]) -> Result<&'static Spec, (Rejection, Reply)> {
    let Some(spec) = argv.first().and_then(|n| lookup(n)) else {
        return Err((Rejection::Unknown, unknown_command(argv)));
    };
    if !spec.arity_ok(argv.len()) {
        return Err((Rejection::Arity, arity_error(spec.name)));
    }
    if !matches!(spec.handler, Handler::Container) {
        return Ok(spec);
    }
    let sub = lookup_sub(spec, &argv[1]).ok_or_else(|| {
        let text = format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            lossy_trim(&argv[1], 128),
            spec.name.to_ascii_uppercase()
        );
        (Rejection::UnknownSubcommand, Reply::error(text))
    })?;
    if !sub.arity_ok(argv.len()) {
        return Err((
            Rejection::Arity,
            arity_error(&format!("{}|{}", spec.name, sub.name)),
        ));
    }
    Ok(sub)
}

pub fn arity_error(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Redis's text for an unknown command: the name and up to 128 bytes of arguments.
pub fn unknown_command(argv: &[Bytes]) -> Reply {
    let name = argv.first().map(|n| lossy_trim(n, 128)).unwrap_or_default();
    let mut args = String::new();
    for arg in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push_str(&format!("'{}' ", lossy_trim(arg, room)));
    }
    Reply::error(format!(
        "ERR unknown command '{name}', with args beginning with: {args}"
    ))
}

/// Redis prints client bytes in errors raw, cut to `max` bytes; newlines become spaces so
/// the error stays one line.
pub fn lossy_trim(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
}
