//! A command call's execution time, measured once and fed to everything that reports it:
//! INFO commandstats (`calls`, `usec`), LATENCY HISTOGRAM and INFO latencystats, the latency
//! monitor's `command`/`fast-command` events and SLOWLOG. Every counted call goes through
//! `record`, so they always agree on what a call took.
//!
//! What is measured is the command's execution on this node, not the time its client waits:
//! - a read: its run against the engine, not its wait for earlier writes or a log barrier;
//! - a write: applying its entry once the log has made it durable, not the append and the
//!   fsync before it. Each command of an EXEC entry is timed on its own (the engine reads
//!   this node's clock between them); a blocking command is timed by the attempt that served
//!   it, never by the time it spent blocked;
//! - a connection or node command: its run in the session, plus, for one that does part of
//!   its work on the core (INFO, DEBUG, SAVE, …), that part, but not its wait behind earlier
//!   writes;
//! - a write refused by its syntax check before the log: 0.
//!
//! These are per-node observations; nothing here is replicated.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use bytes::Bytes;
use cairn_engine::Spec;
use cairn_engine::script::{CallOutcome, ScriptCall};
use cairn_engine::table::{self, flag};
use cairn_resp::Reply;

use crate::clients::ClientState;
use crate::node::{CallFn, Shared};
use crate::session::Session;
use crate::stats::COMMAND_STATS;

/// Who ran a call: the session's client, or (on the core) a client id, looked up only when
/// the call is logged.
pub enum Caller<'a> {
    Client(&'a ClientState),
    Id(u64),
}

/// Counts a call that took `usec`: commandstats and its histogram, the latency monitor, and
/// SLOWLOG when it is slow enough.
pub fn record(
    shared: &Shared,
    spec: &'static Spec,
    argv: &[Bytes],
    usec: u64,
    failed: bool,
    caller: Caller,
) {
    COMMAND_STATS.record(spec, usec, failed);
    let event = if spec.flags & flag::FAST != 0 {
        "fast-command"
    } else {
        "command"
    };
    shared.latency.sample(event, usec / 1000);
    if shared.slowlog.wants(usec) {
        match caller {
            Caller::Client(client) => shared.slowlog.push(spec, argv, usec, Some(client)),
            Caller::Id(id) => {
                let client = shared.clients.get(id);
                shared.slowlog.push(spec, argv, usec, client.as_deref());
            }
        }
    }
}

/// Command statistics of the commands a script called: Redis counts each as a call of its
/// own, and an error one answered as an error reply. The script's own reply, when it passes
/// such an error on (`redis.call` raising it, or a script returning `redis.pcall`'s error),
/// is counted by the session; that error is not counted twice.
pub fn record_script_calls(shared: &Shared, calls: Vec<ScriptCall>, reply: &Reply) {
    if calls.is_empty() {
        return;
    }
    let passed_on = calls
        .iter()
        .rposition(|c| c.outcome != CallOutcome::Done)
        .filter(|&i| match (&calls[i].outcome, reply) {
            (CallOutcome::Failed(text) | CallOutcome::Rejected(text), Reply::Error(sent)) => {
                sent.starts_with(text)
            }
            _ => false,
        });
    for (i, call) in calls.into_iter().enumerate() {
        let error = match call.outcome {
            CallOutcome::Done => {
                COMMAND_STATS.record(call.spec, 0, false);
                continue;
            }
            CallOutcome::Failed(text) => {
                COMMAND_STATS.record(call.spec, 0, true);
                text
            }
            CallOutcome::Rejected(text) => {
                COMMAND_STATS.rejected(call.spec);
                text
            }
        };
        if passed_on != Some(i) {
            shared.stats.error_reply(&error);
        }
    }
}

/// Microseconds on a monotonic clock: lent to the engine to time an EXEC's commands.
pub fn monotonic_us() -> u64 {
    static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);
    BASE.elapsed().as_micros() as u64
}

/// An EXEC entry this node made for `client` has been applied in `total_us`: each of its
/// commands is a call of its own, timed by `times` (the engine's clock readings before the
/// first command and after each), and the transaction as a whole is a `command` latency
/// sample, as Redis's EXEC is.
pub fn exec_applied(
    shared: &Shared,
    client: u64,
    commands: &[Vec<Bytes>],
    reply: &Reply,
    times: &[u64],
    total_us: u64,
) {
    shared.latency.sample("command", total_us / 1000);
    // A transaction aborted by WATCH (or refused by the log) ran nothing.
    let Reply::Array(replies) = reply else {
        return;
    };
    for (i, (argv, reply)) in commands.iter().zip(replies).enumerate() {
        let Ok(spec) = table::resolve(argv) else {
            continue;
        };
        let usec = match (times.get(i), times.get(i + 1)) {
            (Some(before), Some(after)) => after.saturating_sub(*before),
            _ => 0,
        };
        record(
            shared,
            spec,
            argv,
            usec,
            reply.is_error(),
            Caller::Id(client),
        );
    }
}

/// A connection or node command the session runs (`Session::run_session`), timed from start
/// to `finish`.
pub struct SessionTimer {
    started: Instant,
}

/// Whether the connection or node command being run has sent part of its work to the core
/// (`Session::call`), and what became of it.
#[derive(Default)]
pub enum Running {
    #[default]
    Idle,
    /// In the session: a `Session::call` now is timed.
    Session,
    /// Its core part was sent to the core.
    Core(Arc<Mutex<CorePart>>),
}

pub enum CorePart {
    /// Not run yet, and the session part is still running.
    Pending,
    /// Ran at once (nothing was in flight ahead of it), inside the session part's time.
    Ran {
        failed: bool,
    },
    /// Not run yet, the session part done: the core part records the call when it runs.
    Waiting(Box<WaitingCall>),
    Done,
}

pub struct WaitingCall {
    shared: Arc<Shared>,
    client: Arc<ClientState>,
    spec: &'static Spec,
    argv: Vec<Bytes>,
    session_us: u64,
    failed: bool,
}

impl SessionTimer {
    pub fn start(s: &mut Session) -> SessionTimer {
        s.running = Running::Session;
        SessionTimer {
            started: Instant::now(),
        }
    }

    /// The session part is done (`failed`: its reply is an error): records the call, unless
    /// its core part has yet to run, which then records it.
    pub fn finish(self, s: &mut Session, spec: &'static Spec, argv: &[Bytes], failed: bool) {
        let usec = self.started.elapsed().as_micros() as u64;
        let part = match std::mem::take(&mut s.running) {
            Running::Core(part) => part,
            Running::Idle | Running::Session => {
                return record(
                    &s.shared,
                    spec,
                    argv,
                    usec,
                    failed,
                    Caller::Client(&s.client),
                );
            }
        };
        let mut part = part.lock().expect("call lock");
        match std::mem::replace(&mut *part, CorePart::Done) {
            CorePart::Ran {
                failed: core_failed,
            } => {
                let failed = failed || core_failed;
                record(
                    &s.shared,
                    spec,
                    argv,
                    usec,
                    failed,
                    Caller::Client(&s.client),
                );
            }
            CorePart::Pending => {
                *part = CorePart::Waiting(Box::new(WaitingCall {
                    shared: s.shared.clone(),
                    client: s.client.clone(),
                    spec,
                    argv: argv.to_vec(),
                    session_us: usec,
                    failed,
                }));
            }
            CorePart::Waiting(_) | CorePart::Done => {}
        }
    }
}

/// `Session::call`'s closure, timed when it is the core part of the command being run.
pub fn timed_call(s: &mut Session, call: CallFn) -> CallFn {
    if !matches!(s.running, Running::Session) {
        return call;
    }
    let part = Arc::new(Mutex::new(CorePart::Pending));
    s.running = Running::Core(part.clone());
    Box::new(move |core, reply| {
        let started = Instant::now();
        let out = call(core, reply);
        let usec = started.elapsed().as_micros() as u64;
        let failed = out.as_ref().is_some_and(Reply::is_error);
        let mut part = part.lock().expect("call lock");
        match std::mem::replace(&mut *part, CorePart::Done) {
            CorePart::Pending => *part = CorePart::Ran { failed },
            CorePart::Waiting(w) => record(
                &w.shared,
                w.spec,
                &w.argv,
                w.session_us + usec,
                w.failed || failed,
                Caller::Client(&w.client),
            ),
            CorePart::Ran { .. } | CorePart::Done => {}
        }
        out
    })
}

/// Takes the SLOWLOG and latency options after CONFIG SET.
pub fn configure(shared: &Shared, config: &crate::config::Config) {
    shared.slowlog.configure(config);
    shared.latency.configure(config);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_us();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_us() >= a + 1000);
    }
}
