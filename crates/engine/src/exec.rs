//! Commands run inside an entry being applied: a MULTI/EXEC batch, and the commands a script
//! calls. Every node runs them in log order with the entry's time and seed, so they are
//! deterministic like any write; reads among them see the state the batch has made so far.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::engine::{ReadCtx, Rng, WriteCtx};
use crate::table::{self, Handler, Spec, flag};

/// EXEC: runs a transaction's commands in order and answers the array of their replies. The
/// session queued only commands that resolve (arity included); SELECT switches the database
/// for the commands after it.
///
/// With a clock lent by the node, it notes a reading before the first command and after each,
/// so that the node can time them one by one (`Engine::exec_times`).
pub fn exec(ctx: &mut WriteCtx, commands: &[Vec<Bytes>]) -> Reply {
    let mut replies = Vec::with_capacity(commands.len());
    ctx.engine.note_exec_time();
    for argv in commands {
        let reply = match table::resolve(argv) {
            Ok(spec) if spec.name == "select" => {
                let reply = select(ctx, argv);
                ctx.engine.tap.record(ctx.db, false, argv);
                reply
            }
            Ok(spec) => {
                // Recorded before it runs, so that a script's own calls follow it.
                ctx.engine.tap.record(ctx.db, false, argv);
                run_command(ctx, spec, argv)
            }
            Err((_, reply)) => reply,
        };
        replies.push(reply);
        ctx.engine.note_exec_time();
    }
    Reply::Array(replies)
}

/// SELECT inside a transaction: the rest of it runs in that database (the session follows).
fn select(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    match crate::commands::parse_i64(&argv[1]) {
        None => crate::commands::not_integer(),
        Some(index) if index < 0 || index as usize >= ctx.engine.databases() => {
            Reply::error_static(crate::commands::DB_OUT_OF_RANGE)
        }
        Some(index) => {
            ctx.db = index as usize;
            Reply::ok()
        }
    }
}

/// Runs one keyspace command (a `Read` or `Write` row) inside the entry being applied. A
/// blocking command never waits here: when it finds nothing it answers what Redis answers a
/// client that may not block (a null reply), as inside MULTI or a script.
///
/// The caller has resolved `spec` from `argv` (arity included) and decided the command may
/// run here; a write's syntax is checked here, as the session checks it before the log.
pub fn run_command(ctx: &mut WriteCtx, spec: &'static Spec, argv: &[Bytes]) -> Reply {
    match spec.handler {
        Handler::Write(check, apply) => {
            if let Err(reply) = check(argv) {
                return reply;
            }
            // The calling script or transaction counts as one command, whatever this one
            // reports.
            let outer = ctx.engine.replace_dirty(None);
            let reply = apply(ctx, argv);
            ctx.engine.replace_dirty(outer);
            if spec.flags & flag::BLOCKING != 0 && crate::commands::is_blocked(&reply) {
                return null_for_blocking(spec);
            }
            reply
        }
        Handler::Read(read) => {
            let seed = ctx.rng.next_u64();
            let mut read_ctx = ReadCtx {
                engine: &*ctx.engine,
                db: ctx.db,
                now_ms: ctx.now_ms,
                rng: Rng::new(seed),
            };
            read(&mut read_ctx, argv)
        }
        Handler::Session(_) | Handler::Container => {
            Reply::error_static("ERR This command cannot run inside a transaction or script")
        }
    }
}

/// What a blocking command answers when it may not block: BLMOVE and BRPOPLPUSH a null bulk,
/// the others a null array (Redis's `CLIENT_DENY_BLOCKING` replies).
fn null_for_blocking(spec: &Spec) -> Reply {
    match spec.name {
        "blmove" | "brpoplpush" => Reply::Nil,
        _ => Reply::NilArray,
    }
}
