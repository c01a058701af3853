//! MULTI/EXEC/DISCARD/WATCH/UNWATCH on the session side. The session queues a transaction's
//! commands; EXEC sends the keyspace commands as one log entry (`Body::Exec`), which the
//! engine runs as a unit on every node, and WATCH/UNWATCH are entries too, so that the
//! engine decides from the log alone whether the transaction commits
//! (`cairn_engine::watch`). Connection commands queued in a transaction (PING, ECHO,
//! CLIENT …, PUBLISH) run here when the engine's reply arrives, and their replies are merged
//! into the EXEC array in queue order.

use bytes::Bytes;
use cairn_engine::table::{Handler, flag};
use cairn_engine::{Body, SessionCmd, Spec};
use cairn_resp::Reply;

use crate::session::Session;

/// A transaction being queued.
#[derive(Default)]
pub struct Multi {
    queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    failed: bool,
    /// A queued command may add data (`denyoom`): EXEC is refused past `maxmemory`.
    denyoom: bool,
}

struct Queued {
    spec: &'static Spec,
    argv: Vec<Bytes>,
}

/// How EXEC's reply is put together once the engine has answered.
pub struct ExecPlan {
    parts: Vec<Part>,
    /// EXEC as the client spelled it (MONITOR shows it once the transaction has run).
    name: Bytes,
}

enum Part {
    /// The n-th command of the entry.
    Engine(usize),
    /// A connection command, run when the reply arrives.
    Local(SessionCmd, &'static Spec, Vec<Bytes>),
    /// Decided at EXEC (ACL rules changed since the command was queued).
    Fixed(Reply),
}

pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

/// Connection commands a transaction may queue: those that answer at once in the session.
/// The others (INFO, SAVE, SUBSCRIBE, AUTH, CONFIG SET of a replicated option …) are
/// refused while queueing.
fn queueable(cmd: SessionCmd) -> bool {
    use SessionCmd as C;
    matches!(
        cmd,
        C::Ping
            | C::Echo
            | C::Select
            | C::Time
            | C::Lastsave
            | C::ClientId
            | C::ClientSetname
            | C::ClientGetname
            | C::ClientSetinfo
            | C::ClientList
            | C::ClientInfo
            | C::ClientKill
            | C::ClientNoEvict
            | C::ClientUnblock
            | C::ClientPause
            | C::ClientUnpause
            | C::Monitor
            | C::ClientHelp
            | C::ConfigGet
            | C::ConfigResetstat
            | C::ConfigHelp
            | C::Publish
            | C::Spublish
            | C::PubsubChannels
            | C::PubsubNumsub
            | C::PubsubNumpat
            | C::PubsubShardchannels
            | C::PubsubShardnumsub
            | C::PubsubHelp
            | C::AclWhoami
            | C::AclGenpass
            | C::AclLog
            | C::Slowlog
            | C::Latency
            | C::Unwatch
    )
}

/// Whether the session queues `spec` instead of running it (it is inside MULTI, and the
/// command is not one of those that act on the transaction itself).
pub fn queues(s: &Session, spec: &Spec) -> bool {
    s.multi.is_some()
        && !matches!(
            spec.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
}

/// Queues a command inside MULTI: `+QUEUED`, or an error that makes EXEC abort.
pub fn queue(s: &mut Session, spec: &'static Spec, argv: Vec<Bytes>) -> Reply {
    let allowed = spec.flags & flag::NO_MULTI == 0
        && match spec.handler {
            Handler::Read(_) | Handler::Write(..) => true,
            Handler::Session(SessionCmd::ConfigSet) => crate::admin::config_set_is_local(&argv),
            Handler::Session(cmd) => queueable(cmd),
            Handler::Container => false,
        };
    if !allowed {
        s.multi.as_mut().expect("inside MULTI").failed = true;
        return Reply::error_static("ERR Command not allowed inside a transaction");
    }
    // ACL SETUSER's passwords are hashed before they can reach the log.
    let argv = cairn_engine::commands::acl::prepare_for_log(spec, argv);
    let denyoom = spec.flags & flag::DENYOOM != 0 || s.script_denies_oom(spec, &argv);
    let multi = s.multi.as_mut().expect("inside MULTI");
    multi.denyoom |= denyoom;
    multi.queued.push(Queued { spec, argv });
    Reply::simple("QUEUED")
}

/// Whether `spec` is refused when memory is over `maxmemory` (Redis's `processCommand`):
/// commands that may add data, EXEC of a transaction holding one, and anything queued.
pub fn refused_on_oom(s: &Session, spec: &Spec) -> bool {
    if spec.flags & flag::DENYOOM != 0 {
        return true;
    }
    match &s.multi {
        Some(multi) if spec.name == "exec" => multi.denyoom,
        Some(_) => !matches!(spec.name, "discard" | "quit" | "reset"),
        None => false,
    }
}

/// Whether the transaction being queued holds a command that may change data (CLIENT PAUSE
/// WRITE holds its EXEC). Asked only during a pause.
pub fn may_replicate(s: &Session) -> bool {
    s.multi.as_ref().is_some_and(|m| {
        m.queued
            .iter()
            .any(|q| crate::pause::may_replicate(&s.node, q.spec, &q.argv))
    })
}

/// The gate refused `spec` with `reply` (NOAUTH, NOPERM, OOM): inside MULTI the transaction
/// will abort, and a refused EXEC aborts it at once, naming the reason.
pub fn rejected(s: &mut Session, spec: &Spec, reply: Reply) -> Reply {
    if spec.name == "exec" && s.multi.take().is_some() {
        forget_watches(s);
        let Reply::Error(text) = &reply else {
            return reply;
        };
        return Reply::error(format!(
            "EXECABORT Transaction discarded because of: {}",
            String::from_utf8_lossy(text)
        ));
    }
    flag_failed(s);
    reply
}

/// A command was refused by the gate while queueing (unknown, wrong arity, NOAUTH, NOPERM).
pub fn flag_failed(s: &mut Session) {
    if let Some(multi) = s.multi.as_mut() {
        multi.failed = true;
    }
}

pub fn multi(s: &mut Session) -> Reply {
    if s.multi.is_some() {
        return Reply::error_static("ERR MULTI calls can not be nested");
    }
    s.multi = Some(Multi::default());
    Reply::ok()
}

pub fn discard(s: &mut Session, spec: &'static Spec) -> Option<Reply> {
    if s.multi.take().is_none() {
        return Some(Reply::error_static("ERR DISCARD without MULTI"));
    }
    if s.watching {
        // The Unwatch entry's reply (OK) is DISCARD's.
        s.watching = false;
        let client = s.client.id;
        s.submit_entry(spec, Body::Unwatch { client });
        return None;
    }
    Some(Reply::ok())
}

pub fn watch(s: &mut Session, spec: &'static Spec, argv: &[Bytes]) -> Option<Reply> {
    if s.multi.is_some() {
        return Some(Reply::error_static("ERR WATCH inside MULTI is not allowed"));
    }
    s.watching = true;
    let client = s.client.id;
    s.submit_entry(
        spec,
        Body::Watch {
            client,
            keys: argv[1..].to_vec(),
        },
    );
    None
}

pub fn unwatch(s: &mut Session, spec: &'static Spec) -> Option<Reply> {
    if !s.watching {
        return Some(Reply::ok());
    }
    s.watching = false;
    let client = s.client.id;
    s.submit_entry(spec, Body::Unwatch { client });
    None
}

/// Drops the connection's watches without a reply (EXECABORT, RESET, a closed connection).
pub fn forget_watches(s: &mut Session) {
    if std::mem::take(&mut s.watching) {
        let spec = cairn_engine::table::lookup(b"unwatch").expect("UNWATCH has a row");
        s.submit_detached(
            spec,
            Body::Unwatch {
                client: s.client.id,
            },
        );
    }
}

pub fn exec(s: &mut Session, spec: &'static Spec, argv: &[Bytes]) -> Option<Reply> {
    let Some(multi) = s.multi.take() else {
        return Some(Reply::error_static("ERR EXEC without MULTI"));
    };
    if multi.failed {
        forget_watches(s);
        return Some(Reply::error_static(EXECABORT));
    }
    let watching = std::mem::take(&mut s.watching);
    // ACL rules are checked again (the gate has just refreshed the user for EXEC): they may
    // have changed since the commands were queued.
    let mut commands = Vec::new();
    let mut parts = Vec::with_capacity(multi.queued.len());
    let mut selects = false;
    for Queued { spec, argv } in multi.queued {
        if !s.user.unrestricted()
            && let Err(denied) = s.user.check(spec, &argv)
        {
            parts.push(Part::Fixed(Reply::error(format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                denied_reason(&denied)
            ))));
            continue;
        }
        match spec.handler {
            Handler::Session(SessionCmd::Select) => {
                selects = true;
                parts.push(Part::Engine(commands.len()));
                commands.push(argv);
            }
            Handler::Session(cmd) => parts.push(Part::Local(cmd, spec, argv)),
            _ => {
                parts.push(Part::Engine(commands.len()));
                commands.push(argv);
            }
        }
    }
    let plan = ExecPlan {
        parts,
        name: argv[0].clone(),
    };
    if commands.is_empty() && !watching {
        return Some(merge(s, plan, Reply::Array(Vec::new()), &[]));
    }
    let client = s.client.id;
    // The commands are kept for SELECT: the session follows the database it switches to.
    let selected: Vec<Option<Bytes>> = commands
        .iter()
        .map(|argv| {
            argv[0]
                .eq_ignore_ascii_case(b"select")
                .then(|| argv[1].clone())
        })
        .collect();
    s.submit_exec(
        spec,
        Body::Exec {
            client,
            watching,
            commands,
        },
        Box::new((plan, selected)),
        selects,
    );
    None
}

fn denied_reason(denied: &cairn_engine::acl::Denied) -> &'static str {
    use cairn_engine::acl::Denied;
    match denied {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    }
}

/// `merge` for the reply of EXEC's entry, which MONITOR shows once it has run.
pub fn merge_entry(
    s: &mut Session,
    plan: ExecPlan,
    engine: Reply,
    selected: &[Option<Bytes>],
) -> Reply {
    let name = plan.name.clone();
    let reply = merge(s, plan, engine, selected);
    if s.shared.monitors.active()
        && let Some(spec) = cairn_engine::table::lookup(b"exec")
    {
        crate::monitor::command(s, spec, &[name]);
    }
    reply
}

/// EXEC's reply from the engine's: a null array when a watched key was touched, an error
/// when the entry never applied, else the queued commands' replies in order.
pub fn merge(s: &mut Session, plan: ExecPlan, engine: Reply, selected: &[Option<Bytes>]) -> Reply {
    let Reply::Array(mut replies) = engine else {
        return engine;
    };
    let mut out = Vec::with_capacity(plan.parts.len());
    for part in plan.parts {
        out.push(match part {
            // Commands run by EXEC count in INFO commandstats, as in Redis: the core counted
            // the entry's, each with its own time (`calls::exec_applied`).
            Part::Engine(i) => {
                let reply = std::mem::replace(&mut replies[i], Reply::Nil);
                if let (Some(Some(index)), Reply::Simple(_)) = (selected.get(i), &reply) {
                    s.select_db(index);
                }
                reply
            }
            Part::Local(SessionCmd::Monitor, _, _) => crate::monitor::refused_in_exec(),
            Part::Local(cmd, spec, argv) => {
                let started = std::time::Instant::now();
                let reply = s
                    .run_queued(cmd, spec, &argv)
                    .unwrap_or_else(|| Reply::error_static("ERR command did not complete"));
                let usec = started.elapsed().as_micros() as u64;
                let caller = crate::calls::Caller::Client(&s.client);
                crate::calls::record(&s.shared, spec, &argv, usec, reply.is_error(), caller);
                if s.shared.monitors.active() {
                    crate::monitor::command(s, spec, &argv);
                }
                reply
            }
            Part::Fixed(reply) => reply,
        });
    }
    Reply::Array(out)
}
