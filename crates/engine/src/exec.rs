//! Commands run inside an entry being applied: a MULTI/EXEC batch, and the commands a script
//! calls. Every node runs them in log order with the entry's time and seed, so they are
//! deterministic like any write; reads among them see the state the batch has made so far.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::engine::{ReadCtx, Rng, WriteCtx};
use crate::table::{Handler, Spec, flag};

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
            let reply = apply(ctx, argv);
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
