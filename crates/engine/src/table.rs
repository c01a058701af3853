//! The command table: one row (`Spec`) per command is the single source of truth for its
//! name, arity, flags, key positions, ACL categories, documentation and handler. The session
//! gate, COMMAND, the compatibility document, ACL (categories, key specs, channels) and (later)
//! the REST read-only check all read it.

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

/// Key-spec flags (Redis 7's): what a command does with a group of keys. ACL reads them: a key
/// an `ACCESS` spec names needs read permission (`%R~`), one an `INSERT`/`DELETE`/`UPDATE` spec
/// names needs write permission (`%W~`).
pub mod key {
    pub const RO: u32 = 1 << 0;
    pub const RW: u32 = 1 << 1;
    pub const OW: u32 = 1 << 2;
    pub const RM: u32 = 1 << 3;
    pub const ACCESS: u32 = 1 << 4;
    pub const UPDATE: u32 = 1 << 5;
    pub const INSERT: u32 = 1 << 6;
    pub const DELETE: u32 = 1 << 7;
    pub const VARIABLE_FLAGS: u32 = 1 << 8;

    /// Names in COMMAND INFO order.
    pub const NAMES: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Where a key spec starts looking for keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// At this argument.
    Index(i32),
    /// After the first `keyword` found scanning from `start_from` (negative: from the end,
    /// backwards).
    Keyword {
        keyword: &'static str,
        start_from: i32,
    },
    /// Found only by the row's own function (`KeyAccess::Movable`): SORT's STORE key.
    Unknown,
}

/// How a key spec finds its keys from where it begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Find {
    /// Keys up to `last` (relative to the first; negative: counted from the end), every
    /// `step` arguments.
    Range { last: i32, step: i32, limit: i32 },
    /// The argument at `index` (relative) holds the number of keys, which start at `first`.
    Keynum { index: i32, first: i32, step: i32 },
    /// Found only by the row's own function (`KeyAccess::Movable`).
    Unknown,
}

/// One group of keys of a command (Redis 7's key specs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: u32,
    pub begin: Begin,
    pub find: Find,
}

impl KeySpec {
    /// Keys after a count at `index` (SINTERCARD, LMPOP, ZUNION …: `numkeys key [key …]`).
    pub const fn numkeys(index: i32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(index),
            find: Find::Keynum {
                index: 0,
                first: 1,
                step: 1,
            },
        }
    }

    /// The key after `keyword`, searched from argument `start_from` (GEORADIUS's STORE).
    pub const fn after(keyword: &'static str, start_from: i32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Keyword {
                keyword,
                start_from,
            },
            find: Find::Range {
                last: 0,
                step: 1,
                limit: 0,
            },
        }
    }

    /// Keys only a row's own function finds (shown as `unknown`).
    pub const fn unknown(flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Unknown,
            find: Find::Unknown,
        }
    }

    /// One key at `index`.
    pub const fn at(index: i32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(index),
            find: Find::Range {
                last: 0,
                step: 1,
                limit: 0,
            },
        }
    }
}

/// The key specs of a row.
#[derive(Clone, Copy)]
pub enum KeyAccess {
    /// One spec from the `keys` triple: `RW access update` for writes, `RO access` for reads.
    Legacy,
    /// One spec from the `keys` triple with these flags.
    Flags(u32),
    /// One spec from the `keys` triple whose flags depend on the arguments (SET's GET option):
    /// the flags COMMAND INFO shows, and the function giving a call's flags.
    Variable(u32, fn(&[Bytes]) -> u32),
    /// Specs of their own (several key groups, keyword or numkeys searches).
    Specs(&'static [KeySpec]),
    /// Specs COMMAND INFO shows, some of them `unknown`, and the function that finds the
    /// keys (Redis's `getkeys_proc`, e.g. SORT's STORE key, which may come anywhere).
    Movable(&'static [KeySpec], MovableKeysFn),
}

/// Calls `f(index, flags)` for each key of `argv` until it returns false; returns whether it
/// never did.
pub type MovableKeysFn = fn(&[Bytes], &mut dyn FnMut(usize, u32) -> bool) -> bool;

/// The Pub/Sub channels a row names, which ACL checks against the user's `&` patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    None,
    /// The first argument is a channel published to.
    Publish,
    /// Every argument is a channel subscribed to.
    Subscribe,
    /// Every argument is a channel pattern subscribed to (matched literally against `&`).
    PatternSubscribe,
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
    ClientPause,
    ClientUnpause,
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
    /// SLOWLOG's subcommands (the server dispatches on the subcommand's name).
    Slowlog,
    /// LATENCY's subcommands.
    Latency,
    Monitor,
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
    AclWhoami,
    AclGenpass,
    AclLog,
    AclLoad,
    AclSave,
    AclResttoken,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    ScriptKill,
    FunctionKill,
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
    Stream,
    PubSub,
    Transactions,
    Scripting,
    Connection,
    Server,
    Cluster,
    /// Commands Redis gets from a module (RedisJSON's JSON.*).
    Module,
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
            Group::Stream => "stream",
            Group::Transactions => "transactions",
            Group::Scripting => "scripting",
            Group::PubSub => "pubsub",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Cluster => "cluster",
            Group::Module => "module",
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
    pub key_access: KeyAccess,
    pub channels: Channels,
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

impl Spec {
    /// Whether the row's keys move with its arguments (a keyword or numkeys search, or a
    /// function of its own): COMMAND INFO's `movablekeys`.
    pub fn has_movable_keys(&self) -> bool {
        match self.key_access {
            KeyAccess::Movable(..) => true,
            KeyAccess::Specs(specs) => specs.iter().any(|s| {
                !matches!(s.begin, Begin::Index(_)) || !matches!(s.find, Find::Range { .. })
            }),
            _ => false,
        }
    }

    /// The key specs COMMAND INFO shows for this row.
    pub fn key_spec_list(&self) -> Vec<KeySpec> {
        match self.key_access {
            KeyAccess::Legacy => self.legacy_spec(self.legacy_flags()).into_iter().collect(),
            KeyAccess::Flags(flags) | KeyAccess::Variable(flags, _) => {
                self.legacy_spec(flags).into_iter().collect()
            }
            KeyAccess::Specs(specs) | KeyAccess::Movable(specs, _) => specs.to_vec(),
        }
    }

    /// Calls `f(index, flags)` for every key of `argv` (which passed the arity check), as
    /// Redis's `getKeysFromCommandWithSpecs` finds them, until `f` returns false; returns
    /// whether it never did. Arguments that make a spec invalid (a bad numkeys) give no keys
    /// at all, as in Redis: the command then fails with its own error. No allocation.
    pub fn keys_of(&self, argv: &[Bytes], mut f: impl FnMut(usize, u32) -> bool) -> bool {
        let range = match self.key_access {
            KeyAccess::Specs(specs) => return keys_of_specs(specs, argv, f),
            KeyAccess::Movable(_, find) => return find(argv, &mut f),
            _ => self.triple_keys(argv),
        };
        let Some(KeyRange {
            first,
            last,
            step,
            flags,
        }) = range
        else {
            return true;
        };
        let mut i = first;
        while i <= last {
            if !f(i, flags) {
                return false;
            }
            i += step;
        }
        true
    }

    /// For a row without key specs of its own (the gate's common case), where its keys are in
    /// `argv` and their flags; `None` when it names none. One evaluation, no allocation.
    #[inline]
    pub fn triple_keys(&self, argv: &[Bytes]) -> Option<KeyRange> {
        let flags = match self.key_access {
            KeyAccess::Legacy => self.legacy_flags(),
            KeyAccess::Flags(flags) => flags,
            KeyAccess::Variable(_, flags_of) => flags_of(argv),
            KeyAccess::Specs(_) | KeyAccess::Movable(..) => return None,
        };
        let k = self.keys;
        let argc = argv.len() as i64;
        let (first, last) = (i64::from(k.first), i64::from(k.last));
        let last = if last < 0 { argc + last } else { last };
        if first <= 0 || last >= argc || last < first || first >= argc {
            return None;
        }
        Some(KeyRange {
            first: first as usize,
            last: last as usize,
            step: k.step.max(1) as usize,
            flags,
        })
    }

    fn legacy_flags(&self) -> u32 {
        if self.is_write() {
            key::RW | key::ACCESS | key::UPDATE
        } else {
            key::RO | key::ACCESS
        }
    }

    /// The spec the legacy `keys` triple describes.
    fn legacy_spec(&self, flags: u32) -> Option<KeySpec> {
        let k = self.keys;
        (k.first > 0).then_some(KeySpec {
            flags,
            begin: Begin::Index(k.first),
            find: Find::Range {
                last: if k.last < 0 { k.last } else { k.last - k.first },
                step: k.step,
                limit: 0,
            },
        })
    }
}

/// Keys at `first`, `first + step`, … up to `last` (argument indices), with these flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub first: usize,
    pub last: usize,
    pub step: usize,
    pub flags: u32,
}

/// `Spec::keys_of` for rows with key specs of their own.
fn keys_of_specs(specs: &[KeySpec], argv: &[Bytes], mut f: impl FnMut(usize, u32) -> bool) -> bool {
    if specs.iter().any(|spec| key_range(spec, argv).is_err()) {
        return true;
    }
    for spec in specs {
        let Ok(Some((first, last, step))) = key_range(spec, argv) else {
            continue;
        };
        for i in (first..=last).step_by(step) {
            if i < argv.len() && !f(i, spec.flags) {
                return false;
            }
        }
    }
    true
}

/// The (first, last, step) argument positions of a spec's keys: `Ok(None)` when its keyword is
/// absent, `Err` when the arguments make it invalid (Redis's `getKeysUsingKeySpecs`).
fn key_range(spec: &KeySpec, argv: &[Bytes]) -> Result<Option<(usize, usize, usize)>, ()> {
    let argc = argv.len() as i64;
    let first = match spec.begin {
        Begin::Index(index) => i64::from(index),
        Begin::Keyword {
            keyword,
            start_from,
        } => {
            let from = i64::from(start_from);
            let (start, end) = if from > 0 {
                (from, argc - 1)
            } else {
                (argc + from, 1)
            };
            let mut i = start;
            let mut found = 0;
            // As Redis scans: up to `end`, not including it.
            while i != end && (1..argc).contains(&i) {
                if argv[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                    found = i + 1;
                    break;
                }
                i += if start <= end { 1 } else { -1 };
            }
            if found == 0 {
                return Ok(None);
            }
            found
        }
        Begin::Unknown => return Ok(None),
    };
    let (first, last, step) = match spec.find {
        Find::Range { last, step, limit } => {
            let last = i64::from(last);
            let last = if last >= 0 {
                first + last
            } else if limit == 0 {
                argc + last
            } else {
                first + ((argc - first) / i64::from(limit) + last)
            };
            (first, last, step)
        }
        Find::Keynum {
            index,
            first: from,
            step,
        } => {
            let at = first + i64::from(index);
            if !(0..argc).contains(&at) {
                return Err(());
            }
            let count = crate::commands::parse_i64(&argv[at as usize])
                .filter(|n| *n >= 0)
                .ok_or(())?;
            let first = first + i64::from(from);
            (first, first.saturating_add(count) - 1, step)
        }
        Find::Unknown => return Ok(None),
    };
    if last >= argc || last < first || first >= argc || first < 0 {
        return Err(());
    }
    Ok(Some((first as usize, last as usize, step.max(1) as usize)))
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
