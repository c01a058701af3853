//! ACL and its subcommands (Redis's `aclCommand`). SETUSER and DELUSER are logged writes: their
//! `check` rejects, before the log, every error that does not depend on the users' current
//! state, and their `apply` changes the users on every node. GETUSER, LIST, USERS, CAT, DRYRUN
//! and HELP read the users. WHOAMI, GENPASS, LOG, LOAD, SAVE and RESTTOKEN (Upstash's extension) belong to the
//! connection or the node (the server runs them).
//!
//! Passwords never reach the log: before an ACL SETUSER entry is made, [`redact_setuser`]
//! turns `>password` into `#sha256` and `<password` into `!sha256`.

use std::borrow::Cow;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::acl::{self, Denied, User, ids, rules};
use crate::commands::cmd;
use crate::engine::{ReadCtx, WriteCtx};
use crate::table::{self, Group, Handler, Keys, SessionCmd as S, Spec, flag::*};

const LOCAL: u32 = NOSCRIPT | LOADING | STALE;
const G: Group = Group::Server;

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("acl", -2, 0, 0, Keys::NONE, G, "6.0.0", "A container for Access List Control commands ", Handler::Container)
        .complexity("Depends on subcommand.").sub(SUBCOMMANDS),
];

#[rustfmt::skip]
static SUBCOMMANDS: &[Spec] = &[
    cmd("cat", -2, LOCAL, 0, Keys::NONE, G, "6.0.0", "List the ACL categories or the commands inside a category", Handler::Read(cat))
        .complexity("O(1) since the categories and commands are a fixed set."),
    cmd("deluser", -3, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "Remove the specified ACL users and the associated rules", Handler::Write(deluser_check, deluser))
        .complexity("O(1) amortized time considering the typical user."),
    cmd("dryrun", -4, ADMIN | LOCAL, 0, Keys::NONE, G, "7.0.0", "Returns whether the user can execute the given command without executing the command.", Handler::Read(dryrun))
        .complexity("O(1)."),
    cmd("genpass", -2, LOCAL, 0, Keys::NONE, G, "6.0.0", "Generate a pseudorandom secure password to use for ACL users", Handler::Session(S::AclGenpass))
        .complexity("O(1)"),
    cmd("getuser", 3, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "Get the rules for a specific ACL user", Handler::Read(getuser))
        .complexity("O(N). Where N is the number of password, command and pattern rules that the user has."),
    cmd("help", 2, LOADING | STALE, 0, Keys::NONE, G, "6.0.0", "Show helpful text about the different subcommands", Handler::Read(help))
        .complexity("O(1)"),
    cmd("list", 2, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "List the current ACL rules in ACL config file format", Handler::Read(list))
        .complexity("O(N). Where N is the number of configured users."),
    cmd("load", 2, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "Reload the ACLs from the configured ACL file", Handler::Session(S::AclLoad))
        .complexity("O(N). Where N is the number of configured users."),
    cmd("log", -2, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "List latest events denied because of ACLs in place", Handler::Session(S::AclLog))
        .complexity("O(N) with N being the number of entries shown."),
    cmd("resttoken", 4, ADMIN | LOCAL, 0, Keys::NONE, G, "7.0.0", "Cairn (an Upstash extension): issues a REST API token with the rights of a user, given its password", Handler::Session(S::AclResttoken))
        .complexity("O(1)"),
    cmd("save", 2, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "Save the current ACL rules in the configured ACL file", Handler::Session(S::AclSave))
        .complexity("O(N). Where N is the number of configured users."),
    cmd("setuser", -3, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "Modify or create the rules for a specific ACL user", Handler::Write(setuser_check, setuser))
        .complexity("O(N). Where N is the number of rules provided."),
    cmd("users", 2, ADMIN | LOCAL, 0, Keys::NONE, G, "6.0.0", "List the username of all the configured ACL rules", Handler::Read(users))
        .complexity("O(N). Where N is the number of configured users."),
    cmd("whoami", 2, LOCAL, 0, Keys::NONE, G, "6.0.0", "Return the name of the user associated to the current connection", Handler::Session(S::AclWhoami))
        .complexity("O(1)"),
];

// ---------------------------------------------------------------------------------------------
// SETUSER

const BAD_USERNAME: &str = "ERR Usernames can't contain spaces or null characters";

/// A rule as an error may show it: a password to remove is shown as its hash, never as is.
fn shown(op: &[u8]) -> Cow<'_, [u8]> {
    match op.first() {
        Some(b'<') => {
            let mut out = b"!".to_vec();
            out.extend_from_slice(acl::hex(&acl::hash_password(&op[1..])).as_bytes());
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(op),
    }
}

/// What the check knows of the user the rules will meet on apply: nothing at first (it may
/// exist, with any keys, channels and passwords), then what earlier rules set.
#[derive(Default)]
struct Known {
    keys: bool,
    channels: bool,
    passwords: bool,
}

impl Known {
    /// Whether the rule's outcome may depend on state the check cannot see; if so the check
    /// stops there and leaves the verdict to apply.
    fn depends_on_state(&self, op: &[u8], scratch: &User) -> bool {
        match op.first() {
            // `~*` and `&*` are `allkeys` and `allchannels`, which never fail.
            Some(b'~' | b'&') if op.len() == 2 && op[1] == b'*' => false,
            Some(b'~' | b'%') => !self.keys,
            Some(b'&') => !self.channels,
            Some(b'<') => {
                let hash = acl::hash_password(&op[1..]);
                !self.passwords && !scratch.passwords().contains(&hash)
            }
            Some(b'!') => match rules::parse_hex(&op[1..]) {
                Some(hash) => !self.passwords && !scratch.passwords().contains(&hash),
                None => false,
            },
            _ => false,
        }
    }

    fn learn(&mut self, op: &[u8]) {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("reset") {
            *self = Known {
                keys: true,
                channels: true,
                passwords: true,
            };
        }
        self.keys |= is("allkeys") || is("~*") || is("resetkeys");
        self.channels |= is("allchannels") || is("&*") || is("resetchannels");
        self.passwords |= is("nopass") || is("resetpass");
    }
}

/// Rejects before the log what fails whatever the user's state: a bad name, an unmatched
/// parenthesis, an unknown command or category, a malformed rule or hash. A rule whose fate
/// depends on the user (`~key` after an `allkeys` it may have, a password it may hold) ends
/// the check: apply decides, deterministically, on every node.
fn setuser_check(argv: &[Bytes]) -> Result<(), Reply> {
    if rules::has_spaces(&argv[2]) {
        return Err(Reply::error_static(BAD_USERNAME));
    }
    let ops =
        rules::merge_selectors(&argv[3..]).map_err(|i| acl::unmatched_parenthesis(&argv[3 + i]))?;
    let mut scratch = User::new(argv[2].clone());
    let mut known = Known::default();
    for op in &ops {
        if known.depends_on_state(op, &scratch) {
            return Ok(());
        }
        scratch
            .apply(op)
            .map_err(|e| acl::modifier_error(&shown(op), e))?;
        known.learn(op);
    }
    Ok(())
}

/// ACL SETUSER's arguments as they may be logged: `>password` becomes `#sha256` and
/// `<password` becomes `!sha256`, and selectors spread over arguments are joined. Takes
/// arguments that passed `setuser_check`.
pub fn redact_setuser(argv: Vec<Bytes>) -> Vec<Bytes> {
    let Ok(ops) = rules::merge_selectors(&argv[3..]) else {
        return argv;
    };
    let mut out = argv[..3].to_vec();
    for op in ops {
        let redacted = match op.first() {
            Some(b'>') => Some('#'),
            Some(b'<') => Some('!'),
            _ => None,
        };
        match redacted {
            Some(prefix) => {
                let hash = acl::hex(&acl::hash_password(&op[1..]));
                out.push(Bytes::from(format!("{prefix}{hash}")));
            }
            None => out.push(op),
        }
    }
    out
}

/// What a write's arguments become in its log entry: ACL SETUSER's passwords are hashed;
/// every other write is logged as sent.
pub fn prepare_for_log(spec: &'static Spec, argv: Vec<Bytes>) -> Vec<Bytes> {
    // By name: a promoted static's address is not unique across crates, so a row is
    // recognized by what it is, not where it is.
    if spec.flags & ADMIN != 0
        && spec.name == "setuser"
        && matches!(spec.handler, Handler::Write(..))
    {
        redact_setuser(argv)
    } else {
        argv
    }
}

fn setuser(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match ctx.engine.users_mut().setuser(&argv[2], &argv[3..]) {
        Ok(()) => Reply::ok(),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// DELUSER

fn deluser_check(argv: &[Bytes]) -> Result<(), Reply> {
    if argv[2..].iter().any(|name| name == "default") {
        return Err(Reply::error_static(
            "ERR The 'default' user cannot be removed",
        ));
    }
    Ok(())
}

fn deluser(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    Reply::Int(ctx.engine.users_mut().deluser(&argv[2..]) as i64)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn getuser(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match ctx.engine.users().get(&argv[2]) {
        Some(user) => acl::describe::getuser_reply(user),
        None => Reply::Nil,
    }
}

fn list(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.engine
            .users()
            .lines()
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    )
}

fn users(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.engine
            .users()
            .iter()
            .map(|u| Reply::Bulk(u.name().clone()))
            .collect(),
    )
}

fn bulk_str(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

/// Redis's `addReplySubcommandSyntaxError`: ACL CAT, GENPASS and LOG take at most one
/// argument, which their arity does not say.
pub fn too_many_arguments(argv: &[Bytes]) -> Option<Reply> {
    (argv.len() > 3).then(|| {
        let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
        text.extend_from_slice(&argv[1][..argv[1].len().min(128)]);
        text.extend_from_slice(b"'. Try ");
        text.extend_from_slice(&argv[0].to_ascii_uppercase());
        text.extend_from_slice(b" HELP.");
        acl::error_text(&text)
    })
}

/// ACL CAT: the categories, or every command (and subcommand) in one.
fn cat(_ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    if let Some(reply) = too_many_arguments(argv) {
        return reply;
    }
    let Some(name) = argv.get(2) else {
        let names = table::acl::NAMES.iter().map(|(_, n)| bulk_str(n));
        return Reply::Array(names.collect());
    };
    let Some(category) = acl::category_by_name(name) else {
        return Reply::error(format!(
            "ERR Unknown category '{}'",
            table::lossy_trim(name, 128)
        ));
    };
    let rows = ids::rows().iter().filter(|r| r.categories & category != 0);
    Reply::Array(rows.map(|r| bulk_str(&r.name)).collect())
}

/// ACL DRYRUN user command [arg …]: OK, or the NOPERM text (as a bulk string) the command
/// would get.
fn dryrun(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let Some(user) = ctx.engine.users().get(&argv[2]) else {
        return acl::error_text(&[b"ERR User '", &argv[2][..], b"' not found"].concat());
    };
    let args = &argv[3..];
    let not_found = || acl::error_text(&[b"ERR Command '", &args[0][..], b"' not found"].concat());
    let Some(base) = table::lookup(&args[0]) else {
        return not_found();
    };
    let spec = if args.len() == 1 || base.subcommands.is_empty() {
        base
    } else {
        match table::lookup_sub(base, &args[1]) {
            Some(sub) => sub,
            None => return not_found(),
        }
    };
    let name = &ids::rows()[ids::id_of(spec)].name;
    if !spec.arity_ok(args.len()) {
        return Reply::error(format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let text = match user.check(spec, args) {
        Ok(()) => return Reply::ok(),
        Err(Denied::Command) => {
            format!("This user has no permissions to run the '{name}' command").into_bytes()
        }
        Err(Denied::Key(i)) => [
            &b"This user has no permissions to access the '"[..],
            &args[i],
            b"' key",
        ]
        .concat(),
        Err(Denied::Channel(i)) => [
            &b"This user has no permissions to access the '"[..],
            &args[i],
            b"' channel",
        ]
        .concat(),
    };
    Reply::Bulk(Bytes::from(text))
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Prints this help.",
];

fn help(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        HELP.iter()
            .map(|l| Reply::Simple(Bytes::from_static(l.as_bytes())))
            .collect(),
    )
}
