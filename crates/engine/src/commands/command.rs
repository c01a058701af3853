//! COMMAND and its subcommands: the command table rendered for clients, plus the generated
//! compatibility document. Everything here is derived from the `Spec` rows.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{cmd, eq_ignore_case};
use crate::engine::ReadCtx;
use crate::glob;
use crate::table::{self, Begin, Find, Group, Handler, KeySpec, Keys, Spec, acl, flag};

use flag::*;

const META: u32 = LOADING | STALE;

pub static COMMANDS: &[Spec] = &[cmd(
    "command",
    -1,
    META,
    acl::CONNECTION,
    Keys::NONE,
    Group::Server,
    "2.8.13",
    "Returns detailed information about all commands.",
    Handler::Read(command),
)
.complexity("O(N) where N is the total number of Redis commands")
.sub(SUBCOMMANDS)];

static SUBCOMMANDS: &[Spec] = &[
    cmd(
        "count",
        2,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "2.8.13",
        "Returns a count of commands.",
        Handler::Read(command),
    ),
    cmd(
        "docs",
        -2,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        Handler::Read(command),
    ),
    cmd(
        "getkeys",
        -4,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        Handler::Read(command),
    ),
    cmd(
        "getkeysandflags",
        -4,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
        Handler::Read(command),
    ),
    cmd(
        "help",
        2,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        Handler::Read(command),
    ),
    cmd(
        "info",
        -2,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        Handler::Read(command),
    ),
    cmd(
        "list",
        -2,
        META,
        acl::CONNECTION,
        Keys::NONE,
        Group::Server,
        "7.0.0",
        "Returns a list of command names.",
        Handler::Read(command),
    ),
];

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn simple(s: &str) -> Reply {
    Reply::Simple(Bytes::copy_from_slice(s.as_bytes()))
}

fn command(_ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    if argv.len() == 1 {
        return Reply::Array(table::commands().map(|s| info(s, None)).collect());
    }
    let sub = &argv[1];
    let Some(spec) = SUBCOMMANDS.iter().find(|s| eq_ignore_case(sub, s.name)) else {
        return Reply::error(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            table::lossy_trim(sub, 128)
        ));
    };
    if !spec.arity_ok(argv.len()) {
        return table::arity_error(&format!("command|{}", spec.name));
    }
    match spec.name {
        "count" => Reply::Int(table::commands().count() as i64),
        "info" if argv.len() == 2 => {
            Reply::Array(table::commands().map(|s| info(s, None)).collect())
        }
        "info" => Reply::Array(
            argv[2..]
                .iter()
                .map(|name| find(name).map_or(Reply::Nil, |(s, parent)| info(s, parent)))
                .collect(),
        ),
        "docs" => docs_reply(&argv[2..]),
        "list" => list(&argv[2..]),
        "getkeys" => getkeys(&argv[2..], false),
        "getkeysandflags" => getkeys(&argv[2..], true),
        _ => help(),
    }
}

/// A command by name, including `parent|sub` names.
fn find(name: &[u8]) -> Option<(&'static Spec, Option<&'static Spec>)> {
    match name.iter().position(|&c| c == b'|') {
        None => table::lookup(name).map(|s| (s, None)),
        Some(i) => {
            let parent = table::lookup(&name[..i])?;
            table::lookup_sub(parent, &name[i + 1..]).map(|s| (s, Some(parent)))
        }
    }
}

fn full_name(spec: &Spec, parent: Option<&Spec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

fn flag_names(spec: &Spec) -> Vec<Reply> {
    let mut names: Vec<Reply> = flag::NAMES
        .iter()
        .filter(|(bit, _)| spec.flags & bit != 0 && *bit != flag::ALLOW_BUSY)
        .map(|(_, n)| simple(n))
        .collect();
    // Derived, as Redis's `populateCommandMovableKeys`: keys a fixed position cannot give.
    if spec.has_movable_keys() {
        names.push(simple("movablekeys"));
    }
    if spec.flags & flag::ALLOW_BUSY != 0 {
        names.push(simple("allow_busy"));
    }
    names
}

pub fn acl_names(spec: &Spec) -> Vec<String> {
    let cats = spec.acl_categories();
    acl::NAMES
        .iter()
        .filter(|(bit, _)| cats & bit != 0)
        .map(|(_, n)| format!("@{n}"))
        .collect()
}

fn key_specs(spec: &Spec) -> Vec<Reply> {
    spec.key_spec_list().iter().map(key_spec).collect()
}

/// One key spec as COMMAND INFO shows it.
fn key_spec(ks: &KeySpec) -> Reply {
    let flags = table::key::NAMES
        .iter()
        .filter(|(bit, _)| ks.flags & bit != 0)
        .map(|(_, name)| simple(name))
        .collect();
    let int = |n: i32| Reply::Int(i64::from(n));
    let begin = match ks.begin {
        Begin::Index(index) => ("index", Reply::Map(vec![(bulk("index"), int(index))])),
        Begin::Keyword {
            keyword,
            start_from,
        } => (
            "keyword",
            Reply::Map(vec![
                (bulk("keyword"), bulk(keyword)),
                (bulk("startfrom"), int(start_from)),
            ]),
        ),
        Begin::Unknown => ("unknown", Reply::Map(Vec::new())),
    };
    let find = match ks.find {
        Find::Range { last, step, limit } => (
            "range",
            Reply::Map(vec![
                (bulk("lastkey"), int(last)),
                (bulk("keystep"), int(step)),
                (bulk("limit"), int(limit)),
            ]),
        ),
        Find::Keynum { index, first, step } => (
            "keynum",
            Reply::Map(vec![
                (bulk("keynumidx"), int(index)),
                (bulk("firstkey"), int(first)),
                (bulk("keystep"), int(step)),
            ]),
        ),
        Find::Unknown => ("unknown", Reply::Map(Vec::new())),
    };
    let part = |(kind, spec): (&str, Reply)| {
        Reply::Map(vec![(bulk("type"), bulk(kind)), (bulk("spec"), spec)])
    };
    Reply::Map(vec![
        (bulk("flags"), Reply::Set(flags)),
        (bulk("begin_search"), part(begin)),
        (bulk("find_keys"), part(find)),
    ])
}

/// One COMMAND INFO entry, as Redis 7 shapes it.
fn info(spec: &'static Spec, parent: Option<&'static Spec>) -> Reply {
    Reply::Array(vec![
        bulk(&full_name(spec, parent)),
        Reply::Int(spec.arity as i64),
        Reply::Set(flag_names(spec)),
        Reply::Int(spec.keys.first as i64),
        Reply::Int(spec.keys.last as i64),
        Reply::Int(spec.keys.step as i64),
        Reply::Set(acl_names(spec).iter().map(|n| simple(n)).collect()),
        Reply::Set(Vec::new()),
        Reply::Set(key_specs(spec)),
        Reply::Set(
            spec.subcommands
                .iter()
                .map(|s| info(s, Some(spec)))
                .collect(),
        ),
    ])
}

fn docs(spec: &'static Spec, parent: Option<&'static Spec>) -> Reply {
    let mut fields = vec![
        (bulk("summary"), bulk(spec.summary)),
        (bulk("since"), bulk(spec.since)),
        (bulk("group"), bulk(spec.group.name())),
    ];
    if !spec.complexity.is_empty() {
        fields.push((bulk("complexity"), bulk(spec.complexity)));
    }
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| (bulk(&full_name(s, Some(spec))), docs(s, Some(spec))));
        fields.push((bulk("subcommands"), Reply::Map(subs.collect())));
    }
    let _ = parent;
    Reply::Map(fields)
}

fn docs_reply(names: &[Bytes]) -> Reply {
    let mut out = Vec::new();
    if names.is_empty() {
        for spec in table::commands() {
            out.push((bulk(spec.name), docs(spec, None)));
        }
    }
    for name in names {
        if let Some((spec, parent)) = find(name) {
            out.push((bulk(&full_name(spec, parent)), docs(spec, parent)));
        }
    }
    Reply::Map(out)
}

/// COMMAND LIST's filter: the row and its full name.
type ListFilter = dyn Fn(&Spec, &str) -> bool;

fn list(args: &[Bytes]) -> Reply {
    let filter: Box<ListFilter> = match args {
        [] => Box::new(|_, _| true),
        [by, kind, value] if eq_ignore_case(by, "FILTERBY") => {
            let value = value.clone();
            if eq_ignore_case(kind, "MODULE") {
                Box::new(|_, _| false)
            } else if eq_ignore_case(kind, "ACLCAT") {
                let cat = format!("@{}", String::from_utf8_lossy(&value).to_ascii_lowercase());
                Box::new(move |s, _| acl_names(s).contains(&cat))
            } else if eq_ignore_case(kind, "PATTERN") {
                Box::new(move |_, name| glob::matches(&value, name.as_bytes(), true))
            } else {
                return crate::commands::syntax_error();
            }
        }
        _ => return crate::commands::syntax_error(),
    };
    let mut out = Vec::new();
    for spec in table::commands() {
        if filter(spec, spec.name) {
            out.push(bulk(spec.name));
        }
        for sub in spec.subcommands {
            let name = full_name(sub, Some(spec));
            if filter(sub, &name) {
                out.push(bulk(&name));
            }
        }
    }
    Reply::Array(out)
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS (`with_flags`): the keys of a full command line.
fn getkeys(args: &[Bytes], with_flags: bool) -> Reply {
    let spec = match table::resolve(args) {
        Ok(spec) => spec,
        Err((table::Rejection::Arity, _)) => {
            return match table::lookup(&args[0]) {
                Some(spec) if spec.key_spec_list().is_empty() => no_keys(),
                _ => Reply::error_static("ERR Invalid number of arguments specified for command"),
            };
        }
        Err(_) => return Reply::error_static("ERR Invalid command specified"),
    };
    if spec.key_spec_list().is_empty() {
        return no_keys();
    }
    let mut keys = Vec::new();
    spec.keys_of(args, |i, flags| {
        let key = Reply::Bulk(args[i].clone());
        keys.push(if with_flags {
            let names = table::key::NAMES
                .iter()
                .filter(|(bit, _)| flags & bit != 0)
                .map(|(_, name)| simple(name))
                .collect();
            Reply::Array(vec![key, Reply::Set(names)])
        } else {
            key
        });
        true
    });
    if keys.is_empty() && !crate::script::is_script_command(spec.name) {
        // Scripts may name no keys (Redis's `no-mandatory-keys`).
        return Reply::error_static("ERR Invalid arguments specified for command");
    }
    Reply::Array(keys)
}

fn no_keys() -> Reply {
    Reply::error_static("ERR The command has no key arguments")
}

fn help() -> Reply {
    let lines = [
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
        "GETKEYSANDFLAGS <full-command>",
        "    Return the keys and the access flags from a full Redis command.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(lines.iter().map(|l| simple(l)).collect())
}

// ---------------------------------------------------------------------------------------------
// docs/COMPATIBILITY.md

/// The generated part of docs/COMPATIBILITY.md: every command, by group, from the table.
pub fn compatibility_table() -> String {
    let mut rows: Vec<(String, &'static str, String)> = Vec::new();
    for spec in table::commands() {
        let kind = |s: &Spec| match s.handler {
            Handler::Read(_) => "read",
            Handler::Write(..) => "write (logged)",
            Handler::Session(_) => "connection/node",
            Handler::Container => "container",
        };
        rows.push((
            spec.name.to_uppercase(),
            spec.group.name(),
            format!(
                "{} | {} | {}",
                spec.arity,
                kind(spec),
                acl_names(spec).join(" ")
            ),
        ));
        for sub in spec.subcommands {
            let name = format!("{} {}", spec.name.to_uppercase(), sub.name.to_uppercase());
            rows.push((
                name,
                spec.group.name(),
                format!(
                    "{} | {} | {}",
                    sub.arity,
                    kind(sub),
                    acl_names(sub).join(" ")
                ),
            ));
        }
    }
    rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    let mut out = String::from(
        "| command | group | arity | path | ACL categories |\n|---|---|---|---|---|\n",
    );
    for (name, group, rest) in &rows {
        out.push_str(&format!("| {name} | {group} | {rest} |\n"));
    }
    out.push_str(&format!(
        "\n{} commands ({} top-level).\n",
        rows.len(),
        table::commands().count()
    ));
    out
}
