//! The node's side of ACL: authentication, the NOPERM replies and the ACL LOG (node-local, as
//! in Redis), protected mode, closing the connections of deleted users, the ACL file (ACL LOAD
//! and SAVE, the aclfile imported at start) and requirepass as the `default` user's password.
//!
//! Users themselves live in the engine (`cairn_engine::acl`): this module reads them through
//! the node and changes them only by making log entries.
//!
//! Architecture invariant: a plaintext password never leaves this module and the engine's
//! rule parser: it is hashed before any entry is made, and is never logged, shown in INFO,
//! CLIENT LIST or an error.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_engine::acl::{self as users, Denied, User, Users, ids};
use cairn_engine::commands::{eq_ignore_case, not_integer, parse_i64};
use cairn_engine::{Body, Spec};
use cairn_resp::Reply;

use crate::config::Config;
use crate::node::{Shared, unix_ms};
use crate::session::Session;

pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

// ---------------------------------------------------------------------------------------------
// ACL LOG

/// Events this close in time, with the same reason, context, object and user, are counted in
/// one entry (Redis's `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const GROUPING_WINDOW_MS: u64 = 60_000;
/// How many of the newest entries a new event is compared with (Redis scans 10).
const GROUPING_SCAN: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

struct LogEntry {
    count: u64,
    reason: Reason,
    /// Always "toplevel" until transactions and scripts exist.
    context: &'static str,
    object: Bytes,
    username: Bytes,
    time_ms: u64,
    client_info: String,
}

/// Denied commands and failed authentications on this node, newest first.
#[derive(Default)]
pub struct AclLog {
    entries: VecDeque<LogEntry>,
}

impl AclLog {
    fn add(&mut self, entry: LogEntry, len_max: usize) {
        let same = |e: &LogEntry| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.time_ms.abs_diff(entry.time_ms) <= GROUPING_WINDOW_MS
                && e.object == entry.object
                && e.username == entry.username
        };
        if let Some(i) = self.entries.iter().take(GROUPING_SCAN).position(same) {
            let mut found = self.entries.remove(i).expect("found entry");
            found.count += 1;
            found.time_ms = entry.time_ms;
            found.client_info = entry.client_info;
            self.entries.push_front(found);
            return;
        }
        self.entries.push_front(entry);
        self.entries.truncate(len_max);
    }

    fn reply(&self, count: usize, now_ms: u64) -> Reply {
        let text = |t: &str| Reply::Bulk(Bytes::copy_from_slice(t.as_bytes()));
        let entries = self.entries.iter().take(count).map(|e| {
            Reply::Map(vec![
                (text("count"), Reply::Int(e.count as i64)),
                (text("reason"), text(e.reason.name())),
                (text("context"), text(e.context)),
                (text("object"), Reply::Bulk(e.object.clone())),
                (text("username"), Reply::Bulk(e.username.clone())),
                (
                    text("age-seconds"),
                    Reply::Double(now_ms.saturating_sub(e.time_ms) as f64 / 1000.0),
                ),
                (text("client-info"), text(&e.client_info)),
            ])
        });
        Reply::Array(entries.collect())
    }
}

fn log_event(s: &Session, reason: Reason, object: Bytes, username: Bytes) {
    let len_max = s.shared.config.read().expect("config lock").acllog_max_len;
    let entry = LogEntry {
        count: 1,
        reason,
        context: "toplevel",
        object,
        username,
        time_ms: unix_ms(),
        client_info: s.client.line(),
    };
    s.shared
        .acl_log
        .lock()
        .expect("acl log lock")
        .add(entry, len_max);
}

/// ACL LOG [count | RESET]
pub fn log_command(s: &mut Session, argv: &[Bytes]) -> Reply {
    let mut count = 10;
    if let Some(arg) = argv.get(2) {
        if eq_ignore_case(arg, "RESET") {
            s.shared
                .acl_log
                .lock()
                .expect("acl log lock")
                .entries
                .clear();
            return Reply::ok();
        }
        match parse_i64(arg) {
            Some(n) => count = n.max(0) as usize,
            None => return not_integer(),
        }
    }
    let log = s.shared.acl_log.lock().expect("acl log lock");
    log.reply(count, unix_ms())
}

// ---------------------------------------------------------------------------------------------
// The gate

/// The NOPERM reply to a refused command, after recording it in the ACL LOG.
pub fn refuse(s: &Session, spec: &'static Spec, argv: &[Bytes], denied: Denied) -> Reply {
    let (reason, object, text) = match denied {
        Denied::Command => {
            let row = users::check::acl_row(spec, argv);
            let name = &ids::rows()[ids::id_of(row)].name;
            let text = format!("NOPERM this user has no permissions to run the '{name}' command");
            (
                Reason::Command,
                Bytes::copy_from_slice(name.as_bytes()),
                text,
            )
        }
        Denied::Key(i) => (
            Reason::Key,
            argv[i].clone(),
            "NOPERM this user has no permissions to access one of the keys used as arguments"
                .to_string(),
        ),
        Denied::Channel(i) => (
            Reason::Channel,
            argv[i].clone(),
            "NOPERM this user has no permissions to access one of the channels used as arguments"
                .to_string(),
        ),
    };
    log_event(s, reason, object, s.user.name().clone());
    Reply::error(text)
}

/// Whether a client that has not authenticated must (Redis's `authRequired`): the `default`
/// user has a password or is off.
pub fn auth_required(users: &Users) -> bool {
    let default = users.default_user();
    !default.nopass() || !default.enabled()
}

/// The state a connection starts in (and RESET returns to): the `default` user, already
/// authenticated when it needs no password.
pub fn default_auth(s: &mut Session) {
    let (generation, default) = s.node.users(|u| (u.generation(), u.default_user().clone()));
    s.authenticated = default.nopass() && default.enabled();
    set_user(s, default, generation);
}

fn set_user(s: &mut Session, user: Arc<User>, generation: u64) {
    *s.client.user.lock().expect("client lock") = user.name().clone();
    s.user = user;
    s.acl_generation = generation;
}

/// Looks the connection's user up again after the users changed. False when it no longer
/// exists: the connection is closing (the node closes it).
pub fn refresh_user(s: &mut Session) -> bool {
    let name = s.user.name().clone();
    let (generation, user) = s.node.users(|u| (u.generation(), u.get(&name).cloned()));
    match user {
        Some(user) => {
            s.user = user;
            s.acl_generation = generation;
            true
        }
        None => false,
    }
}

/// Checks `username`/`password`; on success the connection becomes that user. A failure is
/// recorded in the ACL LOG under the command's name as typed (`AUTH`, `HELLO`).
pub fn authenticate(s: &mut Session, command: &Bytes, username: &Bytes, password: &[u8]) -> bool {
    let (generation, user) = s.node.users(|u| (u.generation(), u.get(username).cloned()));
    match user {
        Some(user) if user.accepts(password) => {
            s.authenticated = true;
            set_user(s, user, generation);
            true
        }
        _ => {
            tracing::info!(client = s.client.id, addr = %s.client.addr, "failed AUTH attempt");
            log_event(s, Reason::Auth, command.clone(), username.clone());
            false
        }
    }
}

/// AUTH [username] password
pub fn auth_command(s: &mut Session, argv: &[Bytes]) -> Reply {
    let (username, password) = match argv.len() {
        2 => {
            if s.node.users(|u| u.default_user().nopass()) {
                return Reply::error_static(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            (Bytes::from_static(b"default"), &argv[1])
        }
        3 => (argv[1].clone(), &argv[2]),
        _ => return cairn_engine::commands::syntax_error(),
    };
    if authenticate(s, &argv[0], &username, password) {
        Reply::ok()
    } else {
        Reply::error_static(WRONGPASS)
    }
}

// ---------------------------------------------------------------------------------------------
// Connections of deleted users; protected mode

/// Closes the connections of the users an applied entry deleted (ACL DELUSER) or replaced
/// (ACL LOAD), as Redis frees them. A connection still gets the replies already made for it:
/// the one that ran ACL DELUSER on its own user sees the reply, then the close.
pub fn close_connections(shared: &Shared, names: &[Bytes]) {
    for client in shared.clients.all() {
        let user = client.user.lock().expect("client lock").clone();
        if names.contains(&user) {
            client.kill();
        }
    }
}

/// Redis's text for a connection protected mode refuses.
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode (Redis's `clientAcceptHandler`): while it is on and the `default` user needs
/// no password, only 127.0.0.1 and ::1 may connect (Redis compares those two addresses
/// exactly; an IPv4-mapped 127.0.0.1 counts as 127.0.0.1).
pub fn protected_mode_refuses(protected_mode: bool, default_nopass: bool, peer: IpAddr) -> bool {
    if !protected_mode || !default_nopass {
        return false;
    }
    let local = match peer {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
        }
    };
    !local
}

// ---------------------------------------------------------------------------------------------
// ACL WHOAMI, GENPASS

pub fn whoami(s: &Session) -> Reply {
    Reply::Bulk(s.user.name().clone())
}

/// The most bits ACL GENPASS makes (Redis's `GENPASS_MAX_BITS`).
const GENPASS_BITS_MAX: i64 = 4096;

/// ACL GENPASS [bits]: hex digits from the operating system's CSPRNG.
pub fn genpass(argv: &[Bytes]) -> Reply {
    let bits = match argv.get(2) {
        None => 256,
        Some(arg) => match parse_i64(arg) {
            Some(bits) => bits,
            None => return not_integer(),
        },
    };
    if bits <= 0 || bits > GENPASS_BITS_MAX {
        return Reply::error(format!(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GENPASS_BITS_MAX}"
        ));
    }
    let chars = (bits as usize).div_ceil(4);
    let mut random = vec![0u8; chars.div_ceil(2)];
    if let Err(e) = getrandom::fill(&mut random) {
        return Reply::error(format!("ERR no randomness from the operating system: {e}"));
    }
    let mut text = String::with_capacity(chars + 1);
    for b in &random {
        text.push_str(&format!("{b:02x}"));
    }
    text.truncate(chars);
    Reply::Bulk(Bytes::from(text))
}

// ---------------------------------------------------------------------------------------------
// ACL RESTTOKEN

/// ACL RESTTOKEN user password (Upstash's extension): a REST token with `user`'s rights. The
/// token's secret is added to the user's passwords (hashed) by an ACL SETUSER entry, so it is
/// valid on every node and after restarts; the reply, sent once that entry is applied, is
/// the only place the token appears.
pub fn resttoken(s: &mut Session, argv: &[Bytes]) -> Option<Reply> {
    let (name, password) = (&argv[2], &argv[3]);
    let user = s.node.users(|u| u.get(name).cloned());
    let wrong = || {
        Some(Reply::error(format!(
            "ERR Wrong password or user \"{}\" does not exist",
            String::from_utf8_lossy(name)
        )))
    };
    let Some(user) = user else {
        return wrong();
    };
    // A `nopass` user would lose `nopass` by getting a password (and accepts any token).
    if user.nopass() {
        return Some(Reply::error(format!(
            "ERR user \"{}\" has no password (nopass): give it one before issuing REST tokens",
            String::from_utf8_lossy(name)
        )));
    }
    if !user.accepts(password) {
        log_event(s, Reason::Auth, argv[0].clone(), name.clone());
        return wrong();
    }
    let (token, rule) = match crate::http::tokens::issue_user_token(name) {
        Ok(issued) => issued,
        Err(e) => return Some(Reply::error(format!("ERR {e}"))),
    };
    let argv: Vec<Bytes> = vec![
        Bytes::from_static(b"ACL"),
        Bytes::from_static(b"SETUSER"),
        name.clone(),
        Bytes::from(rule),
    ];
    let lane = s.lane();
    // The session takes nothing else until this replies, so the reply forwarded below keeps
    // its place among the connection's replies.
    s.call_exclusive(Box::new(move |core, reply| {
        let (applied_tx, mut applied) = tokio::sync::mpsc::unbounded_channel();
        core.issue(Body::Command(argv), 0, Some(applied_tx), None, lane);
        let reply = reply.clone();
        tokio::task::spawn_local(async move {
            let out = match applied.recv().await {
                Some(Reply::Error(e)) => Reply::Error(e),
                Some(_) => Reply::Bulk(Bytes::from(token)),
                None => Reply::error_static("ERR the token could not be stored"),
            };
            let _ = reply.send(out);
        });
        None
    }));
    None
}

// ---------------------------------------------------------------------------------------------
// The ACL file

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Where the aclfile is: a relative path is relative to `dir`, as Redis (which runs in `dir`)
/// reads it.
pub fn acl_file_path(config: &Config) -> Option<(String, PathBuf)> {
    let name = config.aclfile.clone()?;
    let path = if Path::new(&name).is_absolute() {
        PathBuf::from(&name)
    } else {
        config.dir.join(&name)
    };
    Some((name, path))
}

/// An OS error as C's `strerror` words it (Rust appends " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Reads and checks the aclfile: its users as ACL LIST lines, or Redis's error text.
pub fn read_acl_file(name: &str, path: &Path) -> Result<Vec<Bytes>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{name}': {}",
            strerror(&e)
        )
    })?;
    users::parse_acl_file(name, &text)
}

/// ACL LOAD: the file's users replace every user, through the log.
pub fn load(s: &mut Session) -> Option<Reply> {
    let file = acl_file_path(&s.shared.config.read().expect("config lock"));
    let Some((name, path)) = file else {
        return Some(Reply::error_static(NO_ACL_FILE));
    };
    let lines = match read_acl_file(&name, &path) {
        Ok(lines) => lines,
        Err(errors) => return Some(Reply::error(format!("ERR {errors}"))),
    };
    let lane = s.lane();
    s.call(Box::new(move |core, reply| {
        core.issue(Body::Users { lines }, 0, Some(reply.clone()), None, lane);
        None
    }));
    None
}

/// ACL SAVE: writes every user to the aclfile (beside it, then renamed over it), once this
/// connection's earlier commands have been applied.
pub fn save(s: &mut Session) -> Option<Reply> {
    let file = acl_file_path(&s.shared.config.read().expect("config lock"));
    let Some((_, path)) = file else {
        return Some(Reply::error_static(NO_ACL_FILE));
    };
    s.call(Box::new(move |core, _| {
        let mut text = Vec::new();
        for line in core.engine.users().lines() {
            text.extend_from_slice(&line);
            text.push(b'\n');
        }
        Some(match write_atomically(&path, &text) {
            Ok(()) => Reply::ok(),
            Err(e) => {
                tracing::warn!("ACL SAVE to {}: {e}", path.display());
                Reply::error_static(
                    "ERR There was an error trying to save the ACLs. Please check the server logs for more information",
                )
            }
        })
    }));
    None
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}-{}", std::process::id(), unix_ms()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

// ---------------------------------------------------------------------------------------------
// requirepass and the aclfile at start

/// ACL SETUSER's entry for a requirepass change: `default` gets this password (hashed) or,
/// for an empty one, none (Redis's `ACLUpdateDefaultUserPassword`).
pub fn requirepass_entry(password: Option<&str>) -> Body {
    let rule = match password {
        Some(p) => format!("#{}", users::hex(&users::hash_password(p.as_bytes()))),
        None => "nopass".to_string(),
    };
    let argv = ["ACL", "SETUSER", "default", "resetpass", &rule];
    Body::Command(argv.iter().map(|a| Bytes::from(a.to_string())).collect())
}

/// The entry a starting node makes so that its configuration holds on the log: the aclfile's
/// users, when the file is not the one the log last loaded and they are not the users
/// already (so that ACL SETUSER changes survive a restart until the file is edited); with no
/// aclfile, requirepass as the `default` user's password when it is not that already (the
/// file wins over requirepass, as in Redis). An aclfile that cannot be read or parsed stops
/// the start.
pub fn startup_entry(config: &Config, users: &Users) -> anyhow::Result<Option<Body>> {
    if let Some((name, path)) = acl_file_path(config) {
        let lines = read_acl_file(&name, &path)
            .map_err(|e| anyhow::anyhow!("Aborting startup because of ACL errors: {e}"))?;
        let loaded = users.imported() == Some(&users::file_digest(&lines));
        return Ok((!loaded && !users.same_as(&lines)).then_some(Body::Users { lines }));
    }
    let Some(password) = &config.requirepass else {
        return Ok(None);
    };
    let hash = users::hash_password(password.as_bytes());
    let default = users.default_user();
    let current = !default.nopass() && default.passwords() == [hash];
    Ok((!current).then(|| requirepass_entry(Some(password))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_mode_admits_only_the_two_loopback_addresses() {
        let refuses = |ip: &str| protected_mode_refuses(true, true, ip.parse().unwrap());
        assert!(!refuses("127.0.0.1"));
        assert!(!refuses("::1"));
        assert!(!refuses("::ffff:127.0.0.1"));
        assert!(refuses("127.0.0.2"), "Redis compares the address exactly");
        assert!(refuses("10.0.0.5"));
        assert!(refuses("2001:db8::1"));
        assert!(!protected_mode_refuses(
            false,
            true,
            "10.0.0.5".parse().unwrap()
        ));
        assert!(!protected_mode_refuses(
            true,
            false,
            "10.0.0.5".parse().unwrap()
        ));
    }

    #[test]
    fn log_groups_similar_events_and_keeps_the_newest() {
        let entry = |object: &'static str, time_ms| LogEntry {
            count: 1,
            reason: Reason::Command,
            context: "toplevel",
            object: Bytes::from_static(object.as_bytes()),
            username: Bytes::from_static(b"u"),
            time_ms,
            client_info: String::new(),
        };
        let mut log = AclLog::default();
        log.add(entry("get", 0), 3);
        log.add(entry("get", 1000), 3);
        log.add(entry("set", 1000), 3);
        assert_eq!(log.entries.len(), 2);
        assert_eq!(log.entries[1].count, 2);
        log.add(entry("get", 200_000), 3);
        assert_eq!(log.entries.len(), 3, "outside the grouping window");
        log.add(entry("del", 200_000), 3);
        assert_eq!(log.entries.len(), 3, "trimmed to the maximum");
        assert_eq!(&log.entries[0].object[..], b"del");
    }

    #[test]
    fn genpass_makes_the_asked_number_of_hex_digits() {
        let text = |reply: Reply| match reply {
            Reply::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        let argv = |bits: &str| {
            vec![
                Bytes::from_static(b"ACL"),
                Bytes::from_static(b"GENPASS"),
                Bytes::from(bits.to_string()),
            ]
        };
        assert_eq!(text(genpass(&argv("256")[..2])).len(), 64);
        assert_eq!(text(genpass(&argv("5"))).len(), 2);
        assert_eq!(text(genpass(&argv("4096"))).len(), 1024);
        assert!(
            text(genpass(&argv("32")))
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
        assert!(genpass(&argv("0")).is_error());
        assert!(genpass(&argv("4097")).is_error());
        assert_eq!(genpass(&argv("x")), not_integer());
    }
}
