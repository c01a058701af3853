//! FUNCTION and FCALL / FCALL_RO.
//!
//! FUNCTION LOAD, DELETE, FLUSH and RESTORE are writes: libraries are replicated state, loaded
//! on every node in log order and carried by snapshots. FCALL runs inside its log entry like
//! EVAL; FCALL_RO is a read.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::script::{EVAL_KEYS, EVAL_RO_KEYS};
use crate::commands::{cmd, eq_ignore_case, parse_i64};
use crate::engine::{ReadCtx, WriteCtx};
use crate::script::{self, Caller, Invocation, function, sflag};
use crate::table::{Group, Handler, Keys, SessionCmd, Spec, acl, flag::*};

const G: Group = Group::Scripting;
const SC: u32 = acl::SCRIPTING;

/// The opcode of a library in a FUNCTION DUMP payload (Redis's `RDB_OPCODE_FUNCTION2`).
const OPCODE_FUNCTION2: u8 = 245;

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("fcall", -3, NOSCRIPT | STALE | SKIP_MONITOR | MAY_REPLICATE, SC, Keys::NONE, G, "7.0.0", "Invoke a function", Handler::Write(fcall_check, fcall)).key_specs(EVAL_KEYS)
        .complexity("Depends on the function that is executed."),
    cmd("fcall_ro", -3, READONLY | NOSCRIPT | STALE | SKIP_MONITOR, SC, Keys::NONE, G, "7.0.0", "Invoke a read-only function", Handler::Read(fcall_ro)).key_specs(EVAL_RO_KEYS)
        .complexity("Depends on the function that is executed."),
    cmd("function", -2, 0, SC, Keys::NONE, G, "7.0.0", "A container for function commands", Handler::Container)
        .complexity("Depends on subcommand.").sub(FUNCTION),
];

#[rustfmt::skip]
static FUNCTION: &[Spec] = &[
    cmd("load", -3, WRITE | DENYOOM | NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "Create a function with the given arguments (name, code, description)", Handler::Write(load_check, load))
        .complexity("O(1) (considering compilation time is redundant)"),
    cmd("delete", 3, WRITE | NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "Delete a function by name", Handler::Write(ok_check, delete))
        .complexity("O(1)"),
    cmd("flush", -2, WRITE | NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "Deleting all functions", Handler::Write(flush_check, flush))
        .complexity("O(N) where N is the number of functions deleted"),
    cmd("dump", 2, NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "Dump all functions into a serialized binary payload", Handler::Read(dump))
        .complexity("O(N) where N is the number of functions"),
    cmd("restore", -3, WRITE | DENYOOM | NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "Restore all the functions on the given payload", Handler::Write(restore_check, restore))
        .complexity("O(N) where N is the number of functions on the payload"),
    cmd("list", -2, NOSCRIPT, SC, Keys::NONE, G, "7.0.0", "List information about all the functions", Handler::Read(list))
        .complexity("O(N) where N is the number of functions"),
    cmd("stats", 2, NOSCRIPT | ALLOW_BUSY, SC, Keys::NONE, G, "7.0.0", "Return information about the function currently running (name, description, duration)", Handler::Read(stats))
        .complexity("O(1)"),
    cmd("kill", 2, NOSCRIPT | ALLOW_BUSY, SC, Keys::NONE, G, "7.0.0", "Kill the function currently in execution.", Handler::Session(SessionCmd::FunctionKill))
        .complexity("O(1)"),
    cmd("help", 2, LOADING | STALE, SC, Keys::NONE, G, "7.0.0", "Show helpful text about the different subcommands", Handler::Read(help))
        .complexity("O(1)"),
];

// ---------------------------------------------------------------------------------------------
// FCALL

fn numkeys(argv: &[Bytes]) -> Result<usize, Reply> {
    let n = parse_i64(&argv[2])
        .ok_or_else(|| Reply::error_static("ERR Bad number of keys provided"))?;
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

/// Nothing to check before the log: Redis looks the function up before it reads numkeys.
fn fcall_check(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

/// The function's callback and whether it runs read-only.
fn prepare(
    scripting: &script::Scripting,
    argv: &[Bytes],
    ro_command: bool,
) -> Result<(mlua::Function, bool, usize, u32), Reply> {
    let name = String::from_utf8_lossy(&argv[1]);
    let Some((_, info)) = scripting.libraries().function(&name) else {
        return Err(Reply::error_static("ERR Function not found"));
    };
    let n = numkeys(argv)?;
    if info.flags & sflag::NO_WRITES == 0 && ro_command {
        return Err(Reply::error_static(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let read_only = ro_command || info.flags & sflag::NO_WRITES != 0;
    let callback = scripting
        .libraries()
        .callback(&name)
        .ok_or_else(|| Reply::error_static("ERR Function not found"))?;
    Ok((callback, read_only, n, info.flags))
}

fn fcall(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let scripting = &ctx.engine.scripting;
    let (f, read_only, n, flags) = match prepare(scripting, argv, false) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let vm = scripting.functions_vm().clone();
    let control = scripting.control().clone();
    let seed = ctx.rng.next_u64();
    let invocation = Invocation {
        f,
        name: String::from_utf8_lossy(&argv[1]).into_owned(),
        keys: &argv[3..3 + n],
        args: &argv[3 + n..],
        is_eval: false,
        read_only,
        flags,
        seed,
    };
    script::run(&vm, &control, Caller::Write(ctx), invocation)
}

fn fcall_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let scripting = &ctx.engine.scripting;
    let (f, _, n, flags) = match prepare(scripting, argv, true) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let vm = scripting.functions_vm().clone();
    let control = scripting.control().clone();
    let seed = ctx.rng.next_u64();
    let invocation = Invocation {
        f,
        name: String::from_utf8_lossy(&argv[1]).into_owned(),
        keys: &argv[3..3 + n],
        args: &argv[3 + n..],
        is_eval: false,
        read_only: true,
        flags,
        seed,
    };
    script::run(&vm, &control, Caller::Read(ctx), invocation)
}

// ---------------------------------------------------------------------------------------------
// FUNCTION LOAD, DELETE, FLUSH

/// (replace, code).
fn load_args(argv: &[Bytes]) -> Result<(bool, &Bytes), Reply> {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if eq_ignore_case(&argv[i], "replace") {
            replace = true;
            i += 1;
            continue;
        }
        return Err(Reply::error(format!(
            "ERR Unknown option given: {}",
            String::from_utf8_lossy(&argv[i])
        )));
    }
    if i >= argv.len() {
        return Err(Reply::error_static("ERR Function code is missing"));
    }
    Ok((replace, &argv[i]))
}

fn load_check(argv: &[Bytes]) -> Result<(), Reply> {
    load_args(argv).map(|_| ())
}

fn load(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (replace, code) = match load_args(argv) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    match ctx.engine.scripting.libraries_mut().load(code, replace) {
        Ok(name) => Reply::bulk(Bytes::from(name)),
        Err(text) => function::error(text),
    }
}

fn ok_check(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn delete(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&argv[2]);
    if ctx.engine.scripting.libraries_mut().delete(&name) {
        Reply::ok()
    } else {
        Reply::error_static("ERR Library not found")
    }
}

/// Redis's `addReplySubcommandSyntaxError`: names the subcommand as the client wrote it.
fn subcommand_syntax(sub: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        crate::table::lossy_trim(sub, 128)
    ))
}

fn flush_check(argv: &[Bytes]) -> Result<(), Reply> {
    match argv.len() {
        2 => Ok(()),
        3 if eq_ignore_case(&argv[2], "sync") || eq_ignore_case(&argv[2], "async") => Ok(()),
        3 => Err(Reply::error_static(
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
        )),
        _ => Err(subcommand_syntax(&argv[1])),
    }
}

fn flush(ctx: &mut WriteCtx, _argv: &[Bytes]) -> Reply {
    ctx.engine.scripting.libraries_mut().flush();
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// FUNCTION DUMP, RESTORE

fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(0x40 | (len >> 8) as u8);
        out.push(len as u8);
    } else {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn dump(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    let mut out = Vec::new();
    for code in ctx.engine.scripting.libraries().codes() {
        out.push(OPCODE_FUNCTION2);
        put_len(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&crate::rdb::RDB_VERSION.to_le_bytes());
    let crc = crate::rdb::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Reply::bulk(Bytes::from(out))
}

/// A string in RDB encoding (plain, integer or LZF-compressed).
fn get_string(body: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let first = *body.get(*pos)?;
    *pos += 1;
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let s = body.get(*pos..*pos + n)?;
        *pos += n;
        Some(s)
    };
    let len_at = |pos: &mut usize| -> Option<usize> {
        let b = *body.get(*pos)?;
        *pos += 1;
        Some(match b >> 6 {
            0 => usize::from(b & 0x3f),
            1 => (usize::from(b & 0x3f) << 8) | usize::from(*take(pos, 1)?.first()?),
            2 if b == 0x80 => u32::from_be_bytes(take(pos, 4)?.try_into().ok()?) as usize,
            2 if b == 0x81 => u64::from_be_bytes(take(pos, 8)?.try_into().ok()?) as usize,
            _ => return None,
        })
    };
    match first >> 6 {
        3 => match first & 0x3f {
            0 => Some((take(pos, 1)?[0] as i8).to_string().into_bytes()),
            1 => Some(
                i16::from_le_bytes(take(pos, 2)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            2 => Some(
                i32::from_le_bytes(take(pos, 4)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            3 => {
                let clen = len_at(pos)?;
                let len = len_at(pos)?;
                let data = take(pos, clen)?;
                crate::rdb::lzf_decompress(data, len)
            }
            _ => None,
        },
        _ => {
            *pos -= 1;
            let len = len_at(pos)?;
            Some(take(pos, len)?.to_vec())
        }
    }
}

fn restore_check(argv: &[Bytes]) -> Result<(), Reply> {
    if argv.len() > 4 {
        return Err(subcommand_syntax(&argv[1]));
    }
    if let Some(policy) = argv.get(3)
        && !["append", "replace", "flush"]
            .iter()
            .any(|p| eq_ignore_case(policy, p))
    {
        return Err(Reply::error_static(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        ));
    }
    Ok(())
}

fn restore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let payload = &argv[2];
    if crate::rdb::check_footer(payload).is_err() {
        return Reply::error_static("ERR DUMP payload version or checksum are wrong");
    }
    let body = &payload[..payload.len() - 10];
    let mut codes = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        if body[pos] != OPCODE_FUNCTION2 {
            return Reply::error_static("ERR given type is not a function");
        }
        pos += 1;
        match get_string(body, &mut pos) {
            Some(code) => codes.push(Bytes::from(code)),
            None => return Reply::error_static("ERR failed loading the given functions payload"),
        }
    }
    let policy = argv.get(3).map(|p| p.to_ascii_lowercase());
    let libraries = ctx.engine.scripting.libraries_mut();
    let before = libraries.snapshot_codes();
    if policy.as_deref() == Some(b"flush") {
        libraries.flush();
    }
    let replace = policy.as_deref() == Some(b"replace");
    for code in &codes {
        if let Err(text) = libraries.load(code, replace) {
            // All or nothing: the libraries as they were.
            libraries.flush();
            for code in &before {
                let _ = libraries.load(code, false);
            }
            let text = if text.starts_with("Library '") {
                text.replacen("Library '", "Library ", 1)
                    .replacen("' already", " already", 1)
            } else {
                text
            };
            return function::error(text);
        }
    }
    Reply::ok()
}

// ---------------------------------------------------------------------------------------------
// FUNCTION LIST, STATS, HELP

fn list(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 2;
    while i < argv.len() {
        if eq_ignore_case(&argv[i], "withcode") && !with_code {
            with_code = true;
        } else if eq_ignore_case(&argv[i], "libraryname") && pattern.is_none() {
            if i + 1 >= argv.len() {
                return Reply::error_static("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return Reply::error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&argv[i])
            ));
        }
        i += 1;
    }
    let mut out = Vec::new();
    for lib in ctx.engine.scripting.libraries().iter() {
        if let Some(p) = pattern
            && !crate::glob::matches(p, lib.name.as_bytes(), false)
        {
            continue;
        }
        let functions = lib
            .functions
            .values()
            .map(|f| {
                let flags = sflag::NAMES
                    .iter()
                    .filter(|(bit, _)| f.flags & bit != 0)
                    .map(|(_, name)| Reply::simple(name))
                    .collect();
                Reply::Map(vec![
                    (
                        Reply::simple("name"),
                        Reply::bulk(Bytes::from(f.name.clone())),
                    ),
                    (
                        Reply::simple("description"),
                        f.description.clone().map(Reply::Bulk).unwrap_or(Reply::Nil),
                    ),
                    (Reply::simple("flags"), Reply::Set(flags)),
                ])
            })
            .collect();
        let mut fields = vec![
            (
                Reply::simple("library_name"),
                Reply::bulk(Bytes::from(lib.name.clone())),
            ),
            (Reply::simple("engine"), Reply::simple("LUA")),
            (Reply::simple("functions"), Reply::Array(functions)),
        ];
        if with_code {
            fields.push((Reply::simple("library_code"), Reply::Bulk(lib.code.clone())));
        }
        out.push(Reply::Map(fields));
    }
    Reply::Array(out)
}

fn stats(ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    let libraries = ctx.engine.scripting.libraries();
    Reply::Map(vec![
        (Reply::simple("running_script"), Reply::Nil),
        (
            Reply::simple("engines"),
            Reply::Map(vec![(
                Reply::simple("LUA"),
                Reply::Map(vec![
                    (
                        Reply::simple("libraries_count"),
                        Reply::Int(libraries.len() as i64),
                    ),
                    (
                        Reply::simple("functions_count"),
                        Reply::Int(libraries.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ])
}

fn help(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().copied().map(Reply::simple).collect())
}
