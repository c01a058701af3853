//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! EVAL and EVALSHA are writes: the command is the log entry and every node runs the script
//! while applying it. The script cache is replicated (EVAL and SCRIPT LOAD add to it on every
//! node, SCRIPT FLUSH is logged), so an EVALSHA entry names the same body everywhere, after
//! restarts too. The `_RO` forms are reads: they run against local state and may not write.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{cmd, eq_ignore_case, parse_i64};
use crate::engine::{ReadCtx, WriteCtx};
use crate::script::{self, Caller, Invocation, sflag};
use crate::table::{
    Begin, Find, Group, Handler, KeySpec, Keys, SessionCmd, Spec, acl, flag::*, key,
};

const G: Group = Group::Scripting;
const SC: u32 = acl::SCRIPTING;

/// EVAL's keys: `numkeys` at argument 2, then that many keys.
pub(crate) static EVAL_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RW | key::ACCESS | key::UPDATE,
    begin: Begin::Index(2),
    find: Find::Keynum {
        index: 0,
        first: 1,
        step: 1,
    },
}];

pub(crate) static EVAL_RO_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RO | key::ACCESS,
    begin: Begin::Index(2),
    find: Find::Keynum {
        index: 0,
        first: 1,
        step: 1,
    },
}];

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("eval", -3, NOSCRIPT | STALE | SKIP_MONITOR | MAY_REPLICATE, SC, Keys::NONE, G, "2.6.0", "Execute a Lua script server side", Handler::Write(eval_check, eval)).key_specs(EVAL_KEYS)
        .complexity("Depends on the script that is executed."),
    cmd("evalsha", -3, NOSCRIPT | STALE | SKIP_MONITOR | MAY_REPLICATE, SC, Keys::NONE, G, "2.6.0", "Execute a Lua script server side", Handler::Write(eval_check, evalsha)).key_specs(EVAL_KEYS)
        .complexity("Depends on the script that is executed."),
    cmd("eval_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR, SC, Keys::NONE, G, "7.0.0", "Execute a read-only Lua script server side", Handler::Read(eval_ro)).key_specs(EVAL_RO_KEYS)
        .complexity("Depends on the script that is executed."),
    cmd("evalsha_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR, SC, Keys::NONE, G, "7.0.0", "Execute a read-only Lua script server side", Handler::Read(evalsha_ro)).key_specs(EVAL_RO_KEYS)
        .complexity("Depends on the script that is executed."),
    cmd("script", -2, 0, SC, Keys::NONE, G, "2.6.0", "A container for Lua scripts management commands", Handler::Container)
        .complexity("Depends on subcommand.").sub(SCRIPT),
];

#[rustfmt::skip]
static SCRIPT: &[Spec] = &[
    cmd("load", 3, NOSCRIPT | STALE | MAY_REPLICATE, SC, Keys::NONE, G, "2.6.0", "Load the specified Lua script into the script cache.", Handler::Write(load_check, load))
        .complexity("O(N) with N being the length in bytes of the script body."),
    cmd("exists", -3, NOSCRIPT, SC, Keys::NONE, G, "2.6.0", "Check existence of scripts in the script cache.", Handler::Read(exists))
        .complexity("O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation)."),
    cmd("flush", -2, NOSCRIPT | MAY_REPLICATE, SC, Keys::NONE, G, "2.6.0", "Remove all the scripts from the script cache.", Handler::Write(flush_check, flush))
        .complexity("O(N) with N being the number of scripts in cache"),
    cmd("kill", 2, NOSCRIPT | ALLOW_BUSY, SC, Keys::NONE, G, "2.6.0", "Kill the script currently in execution.", Handler::Session(SessionCmd::ScriptKill))
        .complexity("O(1)"),
    cmd("debug", 3, NOSCRIPT, SC, Keys::NONE, G, "3.2.0", "Set the debug mode for executed scripts.", Handler::Read(debug))
        .complexity("O(1)"),
    cmd("help", 2, LOADING | STALE, SC, Keys::NONE, G, "5.0.0", "Show helpful text about the different subcommands", Handler::Read(help))
        .complexity("O(1)"),
];

// ---------------------------------------------------------------------------------------------
// Low level

/// `numkeys`, checked as Redis checks it before running anything.
pub(crate) fn numkeys(argv: &[Bytes]) -> Result<usize, Reply> {
    let n = parse_i64(&argv[2]).ok_or_else(crate::commands::not_integer)?;
    if n > argv.len() as i64 - 3 {
        return Err(Reply::error_static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(Reply::error_static("ERR Number of keys can't be negative"));
    }
    Ok(n as usize)
}

fn eval_check(argv: &[Bytes]) -> Result<(), Reply> {
    numkeys(argv).map(|_| ())
}

/// A script's flags against the way it was called (Redis's `scriptPrepareForRun`): whether it
/// runs read-only.
fn prepare(flags: u32, ro_command: bool) -> Result<bool, Reply> {
    if flags & sflag::EVAL_COMPAT != 0 {
        return Ok(ro_command);
    }
    if flags & sflag::NO_WRITES == 0 && ro_command {
        return Err(Reply::error_static(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    Ok(ro_command || flags & sflag::NO_WRITES != 0)
}

/// Lowercase sha of an EVALSHA argument, or NOSCRIPT when it cannot name a script.
fn sha_arg(arg: &[u8]) -> Result<String, Reply> {
    if arg.len() != 40 {
        return Err(script::noscript());
    }
    Ok(String::from_utf8_lossy(arg).to_ascii_lowercase())
}

fn run_write(ctx: &mut WriteCtx, argv: &[Bytes], sha: String) -> Reply {
    let n = match numkeys(argv) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let scripting = &ctx.engine.scripting;
    let Some(flags) = scripting.script(&sha).map(|s| s.flags) else {
        return script::noscript();
    };
    let read_only = match prepare(flags, false) {
        Ok(ro) => ro,
        Err(reply) => return reply,
    };
    let f = match scripting.function(&sha) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let vm = scripting.vm().clone();
    let control = scripting.control().clone();
    let seed = ctx.rng.next_u64();
    let invocation = Invocation {
        f,
        name: sha,
        keys: &argv[3..3 + n],
        args: &argv[3 + n..],
        is_eval: true,
        read_only,
        flags,
        seed,
    };
    script::run(&vm, &control, Caller::Write(ctx), invocation)
}

fn run_read(ctx: &mut ReadCtx, argv: &[Bytes], sha: String, body: Option<&Bytes>) -> Reply {
    let n = match numkeys(argv) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let scripting = &ctx.engine.scripting;
    let (flags, f) = match (scripting.script(&sha), body) {
        (Some(s), _) => match scripting.function(&sha) {
            Ok(f) => (s.flags, f),
            Err(reply) => return reply,
        },
        // Not cached: compiled for this call only (a read cannot change the replicated cache).
        (None, Some(body)) => {
            let (flags, skip) = match script::shebang_flags(body) {
                Ok(v) => v,
                Err(reply) => return reply,
            };
            match scripting
                .vm()
                .compile(&body[skip..], script::vm::USER_SCRIPT)
            {
                Ok(f) => (flags, f),
                Err(message) => {
                    return Reply::error(script::one_line(&format!(
                        "ERR Error compiling script (new function): {message}"
                    )));
                }
            }
        }
        (None, None) => return script::noscript(),
    };
    if let Err(reply) = prepare(flags, true) {
        return reply;
    }
    let vm = scripting.vm().clone();
    let control = scripting.control().clone();
    let seed = ctx.rng.next_u64();
    let invocation = Invocation {
        f,
        name: sha,
        keys: &argv[3..3 + n],
        args: &argv[3 + n..],
        is_eval: true,
        read_only: true,
        flags,
        seed,
    };
    script::run(&vm, &control, Caller::Read(ctx), invocation)
}

// ---------------------------------------------------------------------------------------------
// Commands

fn eval(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let sha = match ctx.engine.scripting.add_script(&argv[1]) {
        Ok(sha) => sha,
        Err(reply) => return reply,
    };
    run_write(ctx, argv, sha)
}

fn evalsha(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match sha_arg(&argv[1]) {
        Ok(sha) => run_write(ctx, argv, sha),
        Err(reply) => reply,
    }
}

fn eval_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let sha = script::sha1hex(&argv[1]);
    run_read(ctx, argv, sha, Some(&argv[1]))
}

fn evalsha_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    match sha_arg(&argv[1]) {
        Ok(sha) => run_read(ctx, argv, sha, None),
        Err(reply) => reply,
    }
}

fn load_check(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn load(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match ctx.engine.scripting.add_script(&argv[2]) {
        Ok(sha) => Reply::bulk(Bytes::from(sha)),
        Err(reply) => reply,
    }
}

fn exists(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let scripting = &ctx.engine.scripting;
    Reply::Array(
        argv[2..]
            .iter()
            .map(|sha| {
                let sha = String::from_utf8_lossy(sha);
                Reply::Int(i64::from(scripting.script(&sha).is_some()))
            })
            .collect(),
    )
}

fn flush_check(argv: &[Bytes]) -> Result<(), Reply> {
    match argv.get(2) {
        None => Ok(()),
        Some(mode)
            if argv.len() == 3
                && (eq_ignore_case(mode, "sync") || eq_ignore_case(mode, "async")) =>
        {
            Ok(())
        }
        Some(_) => Err(Reply::error_static(
            "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
        )),
    }
}

fn flush(ctx: &mut WriteCtx, _argv: &[Bytes]) -> Reply {
    ctx.engine.scripting.flush_scripts();
    Reply::ok()
}

fn debug(_ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    if eq_ignore_case(&argv[2], "no") {
        Reply::ok()
    } else if eq_ignore_case(&argv[2], "yes") || eq_ignore_case(&argv[2], "sync") {
        Reply::error_static("ERR SCRIPT DEBUG is not supported by this server")
    } else {
        Reply::error_static("ERR Use SCRIPT DEBUG YES/SYNC/NO")
    }
}

fn help(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed.",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().copied().map(Reply::simple).collect())
}
