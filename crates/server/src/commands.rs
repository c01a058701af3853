//! Connection and node commands (`Handler::Session` rows): HELLO, AUTH, SELECT, CLIENT,
//! CONFIG, INFO, SAVE, SHUTDOWN, DEBUG… Those that need engine state run on the core
//! through `Session::call`, in order with the session's other commands.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use cairn_engine::commands::{eq_ignore_case, not_integer, parse_i64, syntax_error};
use cairn_engine::{SessionCmd, Spec, table};
use cairn_resp::{Protocol, Reply};

use crate::session::{ReplyMode, Session};

/// The Redis version Cairn answers as (HELLO, INFO): the one its behaviour is tested against.
pub const REDIS_VERSION: &str = "7.0.15";

pub fn run(s: &mut Session, cmd: SessionCmd, spec: &'static Spec, argv: &[Bytes]) -> Option<Reply> {
    use crate::pubsub::{self, Kind};
    use SessionCmd as C;
    match cmd {
        C::Ping if s.subs.any() => {
            Some(pubsub::subscribed_ping(s.proto, argv).unwrap_or_else(|| ping(argv)))
        }
        C::Ping => Some(ping(argv)),
        C::Echo => Some(Reply::Bulk(argv[1].clone())),
        C::Quit => {
            s.closing = true;
            Some(Reply::ok())
        }
        C::Reset => Some(reset(s)),
        C::Hello => Some(hello(s, argv)),
        C::Auth => Some(crate::acl::auth_command(s, argv)),
        C::Select => Some(select(s, argv)),
        C::ClientId => Some(Reply::Int(s.client.id as i64)),
        C::ClientSetname => Some(client_setname(s, &argv[2])),
        C::ClientGetname => Some(match s.client.name.lock().expect("client lock").clone() {
            Some(name) => Reply::Bulk(name),
            None => Reply::Nil,
        }),
        C::ClientSetinfo => Some(client_setinfo(s, argv)),
        C::ClientList => Some(crate::admin::client_list(s, argv)),
        C::ClientInfo => Some(Reply::Verbatim("txt", Bytes::from(s.client.line() + "\n"))),
        C::ClientKill => Some(crate::admin::client_kill(s, argv)),
        C::ClientNoEvict => Some(match on_off(&argv[2]) {
            Some(on) => {
                s.client.no_evict.store(on, Relaxed);
                Reply::ok()
            }
            None => syntax_error(),
        }),
        C::ClientReply => client_reply(s, &argv[2]),
        C::ClientUnblock => Some(client_unblock(s, argv)),
        C::ClientPause => Some(crate::pause::client_pause(s, argv)),
        C::ClientUnpause => Some(crate::pause::client_unpause(s)),
        C::Monitor => crate::monitor::start(s),
        C::ClientHelp => Some(help("CLIENT", CLIENT_HELP)),
        C::Info => {
            let sections: Vec<Bytes> = argv[1..].to_vec();
            s.call(Box::new(move |core, _| {
                Some(Reply::Verbatim(
                    "txt",
                    Bytes::from(crate::info::render(core, &sections)),
                ))
            }));
            None
        }
        C::ConfigGet => Some(crate::admin::config_get(s, argv)),
        C::ConfigSet => crate::admin::config_set(s, argv),
        C::ConfigResetstat => {
            crate::stats::COMMAND_STATS.reset();
            s.shared.stats.reset();
            Some(Reply::ok())
        }
        C::ConfigRewrite => Some(crate::admin::config_rewrite(s)),
        C::ConfigHelp => Some(help("CONFIG", CONFIG_HELP)),
        C::Time => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Some(Reply::Array(vec![
                Reply::Bulk(Bytes::from(now.as_secs().to_string())),
                Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
            ]))
        }
        C::Lastsave => Some(Reply::Int(s.shared.lastsave_s.load(Relaxed) as i64)),
        C::Save => {
            s.call_exclusive(Box::new(|core, reply| {
                core.save_and_wait(reply);
                None
            }));
            None
        }
        C::Bgsave => crate::admin::bgsave(s, argv),
        C::Shutdown => crate::admin::shutdown(s, argv),
        C::Debug => crate::admin::debug(s, spec, argv),
        C::Slowlog => Some(crate::slowlog::command(&s.shared.slowlog, argv)),
        C::Latency => Some(crate::latency::command(s, argv)),
        C::SyncToken => {
            s.call(Box::new(|core, _| {
                Some(Reply::Int(core.durable_seq as i64))
            }));
            None
        }
        C::Subscribe => sub(s, Kind::Channel, &argv[1..], true),
        C::Psubscribe => sub(s, Kind::Pattern, &argv[1..], true),
        C::Ssubscribe => sub(s, Kind::Shard, &argv[1..], true),
        C::Unsubscribe => sub(s, Kind::Channel, &argv[1..], false),
        C::Punsubscribe => sub(s, Kind::Pattern, &argv[1..], false),
        C::Sunsubscribe => sub(s, Kind::Shard, &argv[1..], false),
        C::Publish | C::Spublish => {
            let receivers = s.node.publish(cmd == C::Spublish, &argv[1], &argv[2]);
            Some(Reply::Int(receivers as i64))
        }
        C::PubsubChannels | C::PubsubShardchannels => {
            if argv.len() > 3 {
                return Some(Reply::error(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                    table::lossy_trim(&argv[1], 128)
                )));
            }
            let shard = cmd == C::PubsubShardchannels;
            let pattern = argv.get(2).map(|p| &p[..]);
            let names = s.node.with_broker(|b| b.names(shard, pattern));
            Some(Reply::Array(names.into_iter().map(Reply::Bulk).collect()))
        }
        C::PubsubNumsub | C::PubsubShardnumsub => {
            let shard = cmd == C::PubsubShardnumsub;
            let counts = s.node.with_broker(|b| {
                argv[2..]
                    .iter()
                    .map(|ch| (ch.clone(), b.subscribers(shard, ch)))
                    .collect::<Vec<_>>()
            });
            let mut out = Vec::with_capacity(counts.len() * 2);
            for (channel, n) in counts {
                out.push(Reply::Bulk(channel));
                out.push(Reply::Int(n as i64));
            }
            Some(Reply::Array(out))
        }
        C::PubsubNumpat => Some(Reply::Int(s.node.with_broker(|b| b.patterns()) as i64)),
        C::PubsubHelp => Some(Reply::Array(
            pubsub::PUBSUB_HELP
                .iter()
                .map(|line| Reply::Simple(Bytes::from_static(line.as_bytes())))
                .collect(),
        )),
        C::Sync => match std::str::from_utf8(&argv[1])
            .ok()
            .and_then(|t| t.parse().ok())
        {
            Some(token) => {
                let lane = s.lane();
                s.call(Box::new(move |core, reply| {
                    core.sync_to(token, lane, reply)
                }));
                None
            }
            None => Some(Reply::error_static("ERR invalid sync token")),
        },
        C::AclWhoami => Some(crate::acl::whoami(s)),
        C::AclGenpass | C::AclLog if argv.len() > 3 => {
            cairn_engine::commands::acl::too_many_arguments(argv)
        }
        C::AclGenpass => Some(crate::acl::genpass(argv)),
        C::AclLog => Some(crate::acl::log_command(s, argv)),
        C::AclLoad => crate::acl::load(s),
        C::AclSave => crate::acl::save(s),
        C::AclResttoken => crate::acl::resttoken(s, argv),
        C::Multi => Some(crate::multi::multi(s)),
        C::Exec => crate::multi::exec(s, spec, argv),
        C::Discard => crate::multi::discard(s, spec),
        C::Watch => crate::multi::watch(s, spec, argv),
        C::Unwatch => crate::multi::unwatch(s, spec),
        // Scripts run on the event-loop thread that serves this session: none can be running
        // while a session command is handled.
        C::ScriptKill | C::FunctionKill => Some(Reply::error_static(
            "NOTBUSY No scripts in execution right now.",
        )),
    }
}

/// (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE: their replies are queued here, one per name.
fn sub(s: &mut Session, kind: crate::pubsub::Kind, names: &[Bytes], on: bool) -> Option<Reply> {
    if on {
        crate::pubsub::subscribe(s, kind, names);
    } else {
        crate::pubsub::unsubscribe(s, kind, names);
    }
    None
}

fn client_unblock(s: &mut Session, argv: &[Bytes]) -> Reply {
    let Some(id) = parse_i64(&argv[2]) else {
        return not_integer();
    };
    let error = match argv.get(3) {
        None => false,
        Some(how) if eq_ignore_case(how, "TIMEOUT") => false,
        Some(how) if eq_ignore_case(how, "ERROR") => true,
        Some(_) => {
            return Reply::error_static("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    };
    if argv.len() > 4 {
        return syntax_error();
    }
    Reply::Int(i64::from(id > 0 && s.node.unblock(id as u64, error)))
}

fn ping(argv: &[Bytes]) -> Reply {
    match argv.len() {
        1 => Reply::simple("PONG"),
        2 => Reply::Bulk(argv[1].clone()),
        _ => table::arity_error("ping"),
    }
}

fn reset(s: &mut Session) -> Reply {
    crate::pubsub::unsubscribe_all(s);
    crate::monitor::stop(s);
    s.multi = None;
    crate::multi::forget_watches(s);
    s.db = 0;
    s.proto = Protocol::Resp2;
    // A pending SKIP still swallows this command's own +RESET, as in Redis; OFF is cleared.
    if s.reply_mode == ReplyMode::Off {
        s.reply_mode = ReplyMode::On;
    }
    s.client.db.store(0, Relaxed);
    s.client.resp.store(2, Relaxed);
    *s.client.name.lock().expect("client lock") = None;
    s.client.no_evict.store(false, Relaxed);
    crate::acl::default_auth(s);
    Reply::simple("RESET")
}

fn hello(s: &mut Session, argv: &[Bytes]) -> Reply {
    let mut proto = s.proto;
    if argv.len() >= 2 {
        proto = match parse_i64(&argv[1]) {
            Some(2) => Protocol::Resp2,
            Some(3) => Protocol::Resp3,
            Some(_) => return Reply::error_static("NOPROTO unsupported protocol version"),
            None => {
                return Reply::error_static(
                    "ERR Protocol version is not an integer or out of range",
                );
            }
        };
    }
    let mut i = 2;
    let mut name = None;
    let mut credentials = None;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ignore_case(&argv[i], "AUTH") && more >= 2 {
            credentials = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 3;
        } else if eq_ignore_case(&argv[i], "SETNAME") && more >= 1 {
            name = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                table::lossy_trim(&argv[i], 128)
            ));
        }
    }
    if let Some((user, password)) = credentials
        && !crate::acl::authenticate(s, &argv[0], &user, &password)
    {
        return Reply::error_static(crate::acl::WRONGPASS);
    }
    if !s.authenticated {
        return Reply::error_static(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if let Err(e) = valid_name(&name) {
            return e;
        }
        *s.client.name.lock().expect("client lock") = (!name.is_empty()).then_some(name);
    }
    s.proto = proto;
    s.client
        .resp
        .store(if proto == Protocol::Resp3 { 3 } else { 2 }, Relaxed);
    let text = |t: &'static str| Reply::Bulk(Bytes::from_static(t.as_bytes()));
    Reply::Map(vec![
        (text("server"), text("redis")),
        (text("version"), text(REDIS_VERSION)),
        (
            text("proto"),
            Reply::Int(if proto == Protocol::Resp3 { 3 } else { 2 }),
        ),
        (text("id"), Reply::Int(s.client.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Reply::Array(vec![])),
    ])
}

fn select(s: &mut Session, argv: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&argv[1]) else {
        return not_integer();
    };
    let databases = s.shared.config.read().expect("config lock").databases;
    if index < 0 || index as usize >= databases {
        return Reply::error_static("ERR DB index is out of range");
    }
    s.db = index as usize;
    s.client.db.store(s.db, Relaxed);
    Reply::ok()
}

fn valid_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::error_static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn client_setname(s: &mut Session, name: &Bytes) -> Reply {
    if let Err(e) = valid_name(name) {
        return e;
    }
    *s.client.name.lock().expect("client lock") = (!name.is_empty()).then(|| name.clone());
    Reply::ok()
}

fn client_setinfo(s: &mut Session, argv: &[Bytes]) -> Reply {
    let slot = if eq_ignore_case(&argv[2], "LIB-NAME") {
        &s.client.lib_name
    } else if eq_ignore_case(&argv[2], "LIB-VER") {
        &s.client.lib_ver
    } else {
        return Reply::error(format!(
            "ERR Unrecognized option '{}'",
            table::lossy_trim(&argv[2], 128)
        ));
    };
    if argv[3].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Reply::error(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(&argv[2]).to_ascii_lowercase()
        ));
    }
    *slot.lock().expect("client lock") = (!argv[3].is_empty()).then(|| argv[3].clone());
    Reply::ok()
}

fn client_reply(s: &mut Session, mode: &[u8]) -> Option<Reply> {
    if eq_ignore_case(mode, "ON") {
        s.reply_mode = ReplyMode::On;
        Some(Reply::ok())
    } else if eq_ignore_case(mode, "OFF") {
        s.reply_mode = ReplyMode::Off;
        None
    } else if eq_ignore_case(mode, "SKIP") {
        // Skip the reply to the next command; this one gets none either. While replies are
        // off, SKIP changes nothing (as in Redis).
        if s.reply_mode != ReplyMode::Off {
            s.reply_mode = ReplyMode::Skip;
        }
        None
    } else {
        Some(syntax_error())
    }
}

pub fn on_off(arg: &[u8]) -> Option<bool> {
    if eq_ignore_case(arg, "ON") {
        Some(true)
    } else if eq_ignore_case(arg, "OFF") {
        Some(false)
    } else {
        None
    }
}

pub fn help(name: &str, lines: &[&str]) -> Reply {
    let mut out = vec![Reply::Simple(Bytes::from(format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    )))];
    out.extend(
        lines
            .iter()
            .map(|l| Reply::Simple(Bytes::from(l.to_string()))),
    );
    out.push(Reply::simple("HELP"));
    out.push(Reply::simple("    Prints this help."));
    Reply::Array(out)
}

const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>, USER <username>, SKIPME (yes|no).",
    "LIST [options ...]",
    "    Return information about client connections. Options: TYPE (NORMAL|MASTER|REPLICA|PUBSUB), ID <client-id>.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds (on this node).",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set client library name or version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
];

const CONFIG_HELP: &[&str] = &[
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
];
