//! Node administration commands: CLIENT LIST/KILL, CONFIG GET/SET/REWRITE, BGSAVE, SHUTDOWN,
//! DEBUG.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use cairn_engine::commands::{eq_ignore_case, parse_f64, parse_i64, syntax_error};
use cairn_engine::evict::Policy;
use cairn_engine::{Engine, Spec, glob, table};
use cairn_resp::Reply;

use crate::config::{Config, OutputLimits, TlsAuthClients, parse_size};
use crate::node::Core;
use crate::session::Session;

// ---------------------------------------------------------------------------------------------
// CLIENT LIST / KILL

pub fn client_list(s: &mut Session, argv: &[Bytes]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < argv.len() {
        if eq_ignore_case(&argv[i], "TYPE") && i + 1 < argv.len() {
            let kind = &argv[i + 1];
            if !["normal", "master", "replica", "pubsub", "slave"]
                .iter()
                .any(|k| eq_ignore_case(kind, k))
            {
                return Reply::error(format!(
                    "ERR Unknown client type '{}'",
                    table::lossy_trim(kind, 64)
                ));
            }
            if !eq_ignore_case(kind, "normal") {
                return Reply::Verbatim("txt", Bytes::new());
            }
            i += 2;
        } else if eq_ignore_case(&argv[i], "ID") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for arg in &argv[i + 1..] {
                match parse_i64(arg) {
                    Some(id) if id > 0 => list.push(id as u64),
                    _ => return Reply::error_static("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            i = argv.len();
        } else {
            return syntax_error();
        }
    }
    let mut out = String::new();
    for client in s.shared.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
            continue;
        }
        out.push_str(&client.line());
        out.push('\n');
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

pub fn client_kill(s: &mut Session, argv: &[Bytes]) -> Reply {
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(&argv[2]);
        return match s
            .shared
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.to_string() == addr)
        {
            Some(c) => {
                kill_client(s, &c);
                Reply::ok()
            }
            None => Reply::error_static("ERR No such client"),
        };
    }
    if !argv.len().is_multiple_of(2) {
        return syntax_error();
    }
    let (mut id, mut addr, mut laddr, mut user, mut skipme) = (None, None, None, None, true);
    for pair in argv[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if eq_ignore_case(opt, "ID") {
            match parse_i64(val) {
                Some(v) if v > 0 => id = Some(v as u64),
                _ => return Reply::error_static("ERR client-id should be greater than 0"),
            }
        } else if eq_ignore_case(opt, "ADDR") {
            addr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ignore_case(opt, "LADDR") {
            laddr = Some(String::from_utf8_lossy(val).into_owned());
        } else if eq_ignore_case(opt, "USER") {
            if s.node.users(|u| u.get(val).is_none()) {
                let name = table::lossy_trim(val, 128);
                return Reply::error(format!("ERR No such user '{name}'"));
            }
            user = Some(val.clone());
        } else if eq_ignore_case(opt, "SKIPME") {
            skipme = match crate::commands::on_off(val).or_else(|| yes_no(val)) {
                Some(v) => v,
                None => return syntax_error(),
            };
        } else if eq_ignore_case(opt, "TYPE") {
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|k| eq_ignore_case(val, k))
            {
                let kind = table::lossy_trim(val, 64);
                return Reply::error(format!("ERR Unknown client type '{kind}'"));
            }
            if !eq_ignore_case(val, "normal") {
                return Reply::Int(0);
            }
        } else {
            return syntax_error();
        }
    }
    let mut killed = 0;
    for c in s.shared.clients.all() {
        let matches = id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
            && user
                .as_ref()
                .is_none_or(|u| *u == *c.user.lock().expect("client lock"))
            && !(skipme && c.id == s.client.id);
        if matches {
            kill_client(s, &c);
            killed += 1;
        }
    }
    Reply::Int(killed)
}

/// Kills a client; the calling client itself is closed after its reply is written.
fn kill_client(s: &mut Session, c: &crate::clients::ClientState) {
    if c.id == s.client.id {
        s.closing = true;
    } else {
        c.kill();
    }
}

fn yes_no(arg: &[u8]) -> Option<bool> {
    if eq_ignore_case(arg, "yes") {
        Some(true)
    } else if eq_ignore_case(arg, "no") {
        Some(false)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// CONFIG

/// (name, mutable at runtime). The order is CONFIG GET's. Setting an immutable option to
/// its current value is accepted (tools round-trip `CONFIG GET *`).
const OPTIONS: &[(&str, bool)] = &[
    ("bind", false),
    ("port", false),
    ("dir", false),
    ("requirepass", true),
    ("aclfile", false),
    ("protected-mode", true),
    ("acllog-max-len", true),
    ("slowlog-log-slower-than", true),
    ("slowlog-max-len", true),
    ("latency-monitor-threshold", true),
    ("latency-tracking", true),
    ("latency-tracking-info-percentiles", true),
    ("appendfsync", false),
    ("appendonly", false),
    ("maxclients", true),
    ("timeout", true),
    ("databases", false),
    ("proto-max-bulk-len", true),
    ("client-query-buffer-limit", true),
    ("client-output-buffer-limit", true),
    ("snapshot-log-bytes", true),
    ("log-segment-bytes", false),
    ("log-commit-window-us", false),
    // Read once at start-up: the log filter is not reloaded at runtime.
    ("loglevel", false),
    ("save", true),
    ("notify-keyspace-events", true),
    ("maxmemory", true),
    ("maxmemory-policy", true),
    ("maxmemory-samples", true),
    ("maxmemory-eviction-tenacity", true),
    ("lfu-log-factor", true),
    ("lfu-decay-time", true),
    ("list-compress-depth", true),
    ("tls-port", false),
    // Setting any of these (even to its current value) reloads the certificate files.
    ("tls-cert-file", true),
    ("tls-key-file", true),
    ("tls-ca-cert-file", true),
    ("tls-auth-clients", true),
    ("tls-protocols", true),
    ("tls-ciphersuites", true),
    ("tls-ciphers", true),
    ("tls-handshake-timeout-ms", true),
    ("rest-port", false),
    ("rest-bind", false),
    ("rest-max-request-size", false),
    ("rest-max-key-size", false),
    ("rest-max-record-size", false),
    ("rest-cors-origin", false),
];

/// Options whose value is text even when it looks like a number (CONFIG REWRITE).
const TEXT_OPTIONS: &[&str] = &[
    "requirepass",
    "tls-cert-file",
    "tls-key-file",
    "tls-ca-cert-file",
];

fn option_value(config: &Config, name: &str) -> String {
    match name {
        "bind" => config.bind.clone(),
        "port" => config.port.to_string(),
        "dir" => config.dir.display().to_string(),
        "requirepass" => config.requirepass.clone().unwrap_or_default(),
        "aclfile" => config.aclfile.clone().unwrap_or_default(),
        "protected-mode" => if config.protected_mode { "yes" } else { "no" }.into(),
        "acllog-max-len" => config.acllog_max_len.to_string(),
        "slowlog-log-slower-than" => config.slowlog_log_slower_than_us.to_string(),
        "slowlog-max-len" => config.slowlog_max_len.to_string(),
        "latency-monitor-threshold" => config.latency_monitor_threshold_ms.to_string(),
        "latency-tracking" => if config.latency_tracking { "yes" } else { "no" }.into(),
        "latency-tracking-info-percentiles" => {
            crate::latency::percentiles_text(&config.latency_tracking_info_percentiles)
        }
        "appendfsync" => config.appendfsync.name().into(),
        "appendonly" => "yes".into(),
        "maxclients" => config.maxclients.to_string(),
        "timeout" => config.timeout_s.to_string(),
        "databases" => config.databases.to_string(),
        "proto-max-bulk-len" => config.proto_max_bulk_len.to_string(),
        "client-query-buffer-limit" => config.client_query_buffer_limit.to_string(),
        "client-output-buffer-limit" => config.client_output_buffer_limit.redis_format(),
        "snapshot-log-bytes" => config.snapshot_log_bytes.to_string(),
        "log-segment-bytes" => config.log_segment_bytes.to_string(),
        "log-commit-window-us" => config.log_commit_window_us.to_string(),
        "loglevel" => config.loglevel.clone(),
        "save" => config.save.clone(),
        "notify-keyspace-events" => cairn_engine::notify::format(config.notify_keyspace_events),
        "maxmemory" => config.maxmemory.to_string(),
        "maxmemory-policy" => config.eviction.policy.name().into(),
        "maxmemory-samples" => config.eviction.samples.to_string(),
        "maxmemory-eviction-tenacity" => config.eviction.tenacity.to_string(),
        "lfu-log-factor" => config.eviction.lfu_log_factor.to_string(),
        "lfu-decay-time" => config.eviction.lfu_decay_time.to_string(),
        "list-compress-depth" => config.list_compress_depth.to_string(),
        "tls-port" => config.tls.port.to_string(),
        "tls-cert-file" => path_text(&config.tls.cert_file),
        "tls-key-file" => path_text(&config.tls.key_file),
        "tls-ca-cert-file" => path_text(&config.tls.ca_cert_file),
        "tls-auth-clients" => config.tls.auth_clients.name().into(),
        "tls-protocols" => config.tls.protocols.clone(),
        "tls-ciphersuites" => config.tls.ciphersuites.clone(),
        "tls-ciphers" => config.tls.ciphers.clone(),
        "tls-handshake-timeout-ms" => config.tls.handshake_timeout_ms.to_string(),
        "rest-port" => config.rest.port.to_string(),
        "rest-bind" => config
            .rest
            .bind
            .clone()
            .unwrap_or_else(|| config.bind.clone()),
        "rest-max-request-size" => config.rest.max_request_size.to_string(),
        "rest-max-key-size" => config.rest.max_key_size.to_string(),
        "rest-max-record-size" => config.rest.max_record_size.to_string(),
        "rest-cors-origin" => config.rest.cors_origin.clone(),
        _ => String::new(),
    }
}

/// Options that change results, so every node must agree on them: kept in the engine and
/// changed by a Config log entry. Each with the name Redis 7.0 keeps as an alias.
const ENGINE_OPTIONS: &[(&str, Option<&str>)] = &[
    ("list-max-listpack-size", Some("list-max-ziplist-size")),
    (
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
    ),
    ("hash-max-listpack-value", Some("hash-max-ziplist-value")),
    ("set-max-intset-entries", None),
    (
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
    ),
    ("zset-max-listpack-value", Some("zset-max-ziplist-value")),
    ("hll-sparse-max-bytes", None),
    ("stream-node-max-bytes", None),
    ("stream-node-max-entries", None),
];

/// The engine option `name` is (by its name or alias), as its main name.
fn engine_option(name: &str) -> Option<&'static str> {
    ENGINE_OPTIONS
        .iter()
        .find(|(main, alias)| *main == name || *alias == Some(name))
        .map(|(main, _)| *main)
}

/// Checks an engine option's value as Redis does; returns it as the integer to log.
fn engine_option_value(name: &str, value: &str) -> Result<i64, String> {
    let parsed = if name.ends_with("-value") || name.ends_with("-bytes") {
        parse_size(value).and_then(|v| i64::try_from(v).map_err(|_| String::new()))
    } else {
        value
            .parse::<i64>()
            .map_err(|_| "argument couldn't be parsed into an integer".to_string())
    }?;
    let (min, max) = if name == "list-max-listpack-size" {
        (i64::from(i32::MIN), i64::from(i32::MAX))
    } else {
        (0, i64::MAX)
    };
    if !(min..=max).contains(&parsed) {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(parsed)
}

fn path_text(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

pub fn config_get(s: &mut Session, argv: &[Bytes]) -> Reply {
    let encodings = s.node.encodings();
    let config = s.shared.config.read().expect("config lock");
    let mut out = Vec::new();
    for (main, alias) in ENGINE_OPTIONS {
        for name in std::iter::once(*main).chain(*alias) {
            if argv[2..]
                .iter()
                .any(|p| glob::matches(p, name.as_bytes(), true))
            {
                let value = encodings.get(main).unwrap_or_default().to_string();
                let name = Reply::bulk(Bytes::from_static(name.as_bytes()));
                out.push((name, Reply::bulk(Bytes::from(value))));
            }
        }
    }
    for (name, _) in OPTIONS {
        if argv[2..]
            .iter()
            .any(|p| glob::matches(p, name.as_bytes(), true))
        {
            let value = option_value(&config, name);
            let name = Reply::bulk(Bytes::from_static(name.as_bytes()));
            out.push((name, Reply::bulk(Bytes::from(value))));
        }
    }
    Reply::Map(out)
}

/// CONFIG SET: node options change at once; engine options (if any) go through the log and
/// the reply comes once their entry is applied. `None`: the core replies.
/// Whether CONFIG SET with these arguments answers at once: it sets no option that changes
/// through the log (the encoding thresholds, requirepass). Only those may be queued in MULTI.
pub fn config_set_is_local(argv: &[Bytes]) -> bool {
    argv[2..].chunks(2).all(|pair| {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        engine_option(&name).is_none() && name != "requirepass"
    })
}

pub fn config_set(s: &mut Session, argv: &[Bytes]) -> Option<Reply> {
    if !argv.len().is_multiple_of(2) {
        return Some(syntax_error());
    }
    let mut engine_pairs = Vec::new();
    let mut node_argv = argv[..2].to_vec();
    for pair in argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let Some(main) = engine_option(&name) else {
            node_argv.extend_from_slice(pair);
            continue;
        };
        if engine_pairs.iter().step_by(2).any(|n: &Bytes| n == main) {
            return Some(Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        match engine_option_value(main, &String::from_utf8_lossy(&pair[1])) {
            Ok(value) => {
                engine_pairs.push(Bytes::from_static(main.as_bytes()));
                engine_pairs.push(Bytes::from(value.to_string()));
            }
            Err(message) => {
                return Some(Reply::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {message}"
                )));
            }
        }
    }
    let reply = config_set_node(s, &node_argv);
    if reply.is_error() {
        return Some(reply);
    }
    let (notify, depth) = {
        let config = s.shared.config.read().expect("config lock");
        (config.notify_keyspace_events, config.list_compress_depth)
    };
    s.node.set_notify(notify);
    s.node.set_list_compress_depth(depth);
    // Eviction settings, and a lower `maxmemory`, take effect now: the node evicts at once if
    // memory is over the limit, as Redis does after CONFIG SET maxmemory.
    if node_argv[2..].chunks(2).any(|pair| {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        name.starts_with("maxmemory") || name.starts_with("lfu-")
    }) {
        let (eviction, maxmemory) = {
            let config = s.shared.config.read().expect("config lock");
            (config.eviction, config.maxmemory)
        };
        s.node.configure_eviction(eviction, maxmemory, s.lane());
    }
    // requirepass is the `default` user's password: every node must agree, so it changes
    // through the log, as ACL SETUSER does.
    let users = node_argv[2..]
        .chunks(2)
        .find(|pair| eq_ignore_case(&pair[0], "requirepass"))
        .map(|_| {
            let config = s.shared.config.read().expect("config lock");
            crate::acl::requirepass_entry(config.requirepass.as_deref())
        });
    if engine_pairs.is_empty() && users.is_none() {
        return Some(reply);
    }
    let lane = s.lane();
    s.call(Box::new(move |core, reply| {
        if let Some(body) = users {
            let last = engine_pairs.is_empty().then(|| reply.clone());
            core.issue(body, 0, last, None, lane);
        }
        if !engine_pairs.is_empty() {
            core.issue_config(engine_pairs, reply, lane);
        }
        None
    }));
    None
}

fn config_set_node(s: &mut Session, argv: &[Bytes]) -> Reply {
    let failed = |name: &str, message: &str| {
        Reply::error(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - {message}"
        ))
    };
    let mut config = s.shared.config.write().expect("config lock");
    let mut next = config.clone();
    let mut seen: Vec<&str> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let Some(&(name, mutable)) = OPTIONS.iter().find(|(n, _)| *n == name) else {
            return Reply::error(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if seen.contains(&name) {
            return failed(name, "duplicate parameter");
        }
        seen.push(name);
        if !mutable {
            if option_value(&next, name) == value {
                continue;
            }
            return failed(name, "can't set immutable config");
        }
        if let Err(message) = set_option(&mut next, name, &value) {
            return failed(name, &message);
        }
    }
    // New TLS settings take effect only if the certificates load with them; otherwise
    // nothing of this CONFIG SET is applied and the current certificates stay.
    if seen.iter().any(|name| name.starts_with("tls-"))
        && let Err(e) = crate::tls::reconfigure(&s.shared.tls, &next.tls)
    {
        tracing::warn!("CONFIG SET refused: {e}");
        return failed(e.option, &e.message);
    }
    *config = next;
    crate::calls::configure(&s.shared, &config);
    Reply::ok()
}

fn set_option(c: &mut Config, name: &str, value: &str) -> Result<(), String> {
    let int = |min: u64, max: u64| match value.parse::<i64>() {
        Ok(v) if v >= 0 && (min..=max).contains(&(v as u64)) => Ok(v as u64),
        Ok(_) => Err(format!(
            "argument must be between {min} and {max} inclusive"
        )),
        Err(_) => Err("argument couldn't be parsed into an integer".to_string()),
    };
    let size_at_least = |min: u64| match parse_size(value) {
        Ok(v) if v >= min => Ok(v),
        Ok(_) => Err(format!(
            "argument must be between {min} and 9223372036854775807 inclusive"
        )),
        Err(e) => Err(e),
    };
    match name {
        "requirepass" => c.requirepass = (!value.is_empty()).then(|| value.to_string()),
        "protected-mode" => {
            c.protected_mode = crate::config::parse_yes_no(value)
                .ok_or_else(|| "argument must be 'yes' or 'no'".to_string())?;
        }
        "acllog-max-len" => c.acllog_max_len = int(0, i64::MAX as u64)? as usize,
        "slowlog-log-slower-than" => {
            c.slowlog_log_slower_than_us = match value.parse::<i64>() {
                Ok(v) if v >= -1 => v,
                Ok(_) => {
                    return Err(
                        "argument must be between -1 and 9223372036854775807 inclusive".into(),
                    );
                }
                Err(_) => return Err("argument couldn't be parsed into an integer".into()),
            }
        }
        "slowlog-max-len" => c.slowlog_max_len = int(0, i64::MAX as u64)?,
        "latency-monitor-threshold" => c.latency_monitor_threshold_ms = int(0, i64::MAX as u64)?,
        "latency-tracking" => {
            c.latency_tracking = crate::config::parse_yes_no(value)
                .ok_or_else(|| "argument must be 'yes' or 'no'".to_string())?;
        }
        "latency-tracking-info-percentiles" => {
            c.latency_tracking_info_percentiles = crate::latency::parse_percentiles(value)?;
        }
        "maxclients" => {
            let wanted = int(1, u64::from(u32::MAX))? as usize;
            let allowed = crate::max_clients_allowed().unwrap_or(usize::MAX);
            if wanted > allowed {
                return Err(format!(
                    "The operating system is not able to handle the specified number of clients, try with {allowed}"
                ));
            }
            c.maxclients = wanted;
        }
        "timeout" => c.timeout_s = int(0, i32::MAX as u64)?,
        "maxmemory" => c.maxmemory = parse_size(value)?,
        "maxmemory-policy" => {
            c.eviction.policy = Policy::parse(value).ok_or_else(Policy::parse_error)?;
        }
        "maxmemory-samples" => c.eviction.samples = int(1, i32::MAX as u64)?,
        "maxmemory-eviction-tenacity" => c.eviction.tenacity = int(0, 100)?,
        "lfu-log-factor" => c.eviction.lfu_log_factor = int(0, i32::MAX as u64)?,
        "lfu-decay-time" => c.eviction.lfu_decay_time = int(0, i32::MAX as u64)?,
        "list-compress-depth" => c.list_compress_depth = int(0, i32::MAX as u64)?,
        // Redis refuses bulk and query-buffer limits under 1 MiB.
        "proto-max-bulk-len" => c.proto_max_bulk_len = size_at_least(1024 * 1024)? as usize,
        "client-query-buffer-limit" => {
            c.client_query_buffer_limit = size_at_least(1024 * 1024)? as usize;
        }
        "client-output-buffer-limit" => {
            c.client_output_buffer_limit =
                OutputLimits::parse_over(value, c.client_output_buffer_limit)?
        }
        "snapshot-log-bytes" => c.snapshot_log_bytes = parse_size(value)?,
        "notify-keyspace-events" => {
            c.notify_keyspace_events = cairn_engine::notify::parse(value).ok_or_else(|| {
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()
            })?;
        }
        "tls-cert-file" => c.tls.cert_file = non_empty_path(value),
        "tls-key-file" => c.tls.key_file = non_empty_path(value),
        "tls-ca-cert-file" => c.tls.ca_cert_file = non_empty_path(value),
        "tls-auth-clients" => {
            c.tls.auth_clients = TlsAuthClients::parse(value)
                .ok_or("argument(s) must be one of the following: yes, no, optional")?;
        }
        "tls-protocols" => c.tls.protocols = value.to_string(),
        "tls-ciphersuites" => c.tls.ciphersuites = value.to_string(),
        "tls-ciphers" => c.tls.ciphers = value.to_string(),
        "tls-handshake-timeout-ms" => {
            c.tls.handshake_timeout_ms = int(1, crate::tls::HANDSHAKE_TIMEOUT_MS_MAX)?;
        }
        "save" => {
            let words: Vec<&str> = value.split_whitespace().collect();
            if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            c.save = words.join(" ");
        }
        _ => return Err("can't set immutable config".into()),
    }
    Ok(())
}

fn non_empty_path(value: &str) -> Option<std::path::PathBuf> {
    (!value.is_empty()).then(|| std::path::PathBuf::from(value))
}

pub fn config_rewrite(s: &mut Session) -> Reply {
    let config = s.shared.config.read().expect("config lock");
    let Some(path) = config.config_file.clone() else {
        return Reply::error_static("ERR The server is running without a config file");
    };
    let mut text = String::from("# Written by CONFIG REWRITE.\n");
    for (name, _) in OPTIONS {
        if matches!(*name, "appendonly" | "save" | "list-compress-depth") {
            continue;
        }
        // Left to their defaults when not configured: the default REST port only warns when
        // it is taken, and the REST bind address follows `bind`.
        if (*name == "rest-port" && !config.rest.port_configured)
            || (*name == "rest-bind" && config.rest.bind.is_none())
        {
            continue;
        }
        let value = option_value(&config, name);
        if TEXT_OPTIONS.contains(name) && value.is_empty() {
            continue;
        }
        let numeric = value.parse::<i64>().is_ok() && !TEXT_OPTIONS.contains(name);
        if numeric {
            text.push_str(&format!("{name} = {value}\n"));
        } else {
            text.push_str(&format!("{name} = {}\n", toml_string(&value)));
        }
    }
    // Written beside the file and renamed over it, so a crash never leaves half a config.
    let tmp = path.with_extension("rewrite.tmp");
    match std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(format!("ERR Rewriting config file: {e}")),
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------------------
// BGSAVE, SHUTDOWN

pub fn bgsave(s: &mut Session, argv: &[Bytes]) -> Option<Reply> {
    let schedule = match argv.len() {
        1 => false,
        2 if eq_ignore_case(&argv[1], "SCHEDULE") => true,
        _ => return Some(syntax_error()),
    };
    s.call(Box::new(move |core, _| {
        Some(if core.start_snapshot() {
            Reply::simple("Background saving started")
        } else if schedule {
            Reply::simple("Background saving scheduled")
        } else {
            Reply::error_static("ERR Background save already in progress")
        })
    }));
    None
}

pub fn shutdown(s: &mut Session, argv: &[Bytes]) -> Option<Reply> {
    let (mut nosave, mut save, mut force, mut abort, mut now) = (false, false, false, false, false);
    for arg in &argv[1..] {
        let flag = if eq_ignore_case(arg, "NOSAVE") {
            &mut nosave
        } else if eq_ignore_case(arg, "SAVE") {
            &mut save
        } else if eq_ignore_case(arg, "NOW") {
            &mut now
        } else if eq_ignore_case(arg, "FORCE") {
            &mut force
        } else if eq_ignore_case(arg, "ABORT") {
            &mut abort
        } else {
            return Some(syntax_error());
        };
        *flag = true;
    }
    // As Redis: SAVE and NOSAVE exclude each other; ABORT takes no other flag.
    if (save && nosave) || (abort && (save || nosave || now || force)) {
        return Some(syntax_error());
    }
    if abort {
        return Some(Reply::error_static("ERR No shutdown in progress."));
    }
    s.call_exclusive(Box::new(move |core, _| {
        // SAVE always snapshots; by default a node sharing the log leaves it to the lease
        // holder (the stream and the newest snapshot already hold everything).
        let snapshot = save || (!nosave && core.snapshot_on_stop());
        let saved = if snapshot {
            core.snapshot_now()
        } else {
            Ok(())
        };
        if let Err(e) = saved {
            tracing::error!("snapshot at shutdown failed: {e}");
            if !force {
                return Some(Reply::error_static(
                    "ERR Errors trying to SHUTDOWN. Check logs.",
                ));
            }
        }
        tracing::info!("shutdown requested by a client");
        core.stopping = true;
        let _ = core.shared.shutdown.send(true);
        None
    }));
    None
}

// ---------------------------------------------------------------------------------------------
// DEBUG

pub fn debug(s: &mut Session, _spec: &'static Spec, argv: &[Bytes]) -> Option<Reply> {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    let args: Vec<Bytes> = argv[2..].to_vec();
    match (sub.as_str(), args.len()) {
        ("sleep", 1) => {
            let Some(secs) = parse_f64(&args[0]).filter(|v| *v >= 0.0 && v.is_finite()) else {
                return Some(Reply::error_static("ERR value is not a valid float"));
            };
            s.call(Box::new(move |_, _| {
                std::thread::sleep(std::time::Duration::from_secs_f64(secs.min(3600.0)));
                Some(Reply::ok())
            }));
            None
        }
        ("set-active-expire", 1) => {
            let on = parse_i64(&args[0]).is_some_and(|v| v != 0);
            s.shared.active_expire.store(on, Relaxed);
            Some(Reply::ok())
        }
        ("digest", 0) => {
            s.call(Box::new(|core, _| {
                Some(Reply::Simple(Bytes::from(core.engine.digest())))
            }));
            None
        }
        ("digest-value", _) => {
            let db = s.db;
            s.call(Box::new(move |core, _| {
                let now = crate::node::unix_ms();
                let out = args
                    .iter()
                    .map(|k| {
                        let value = core.engine.db(db).get_value(k, now);
                        Reply::Simple(Bytes::from(cairn_engine::snapshot::value_digest(value)))
                    })
                    .collect();
                Some(Reply::Array(out))
            }));
            None
        }
        ("object", 1) => {
            let db = s.db;
            s.call(Box::new(move |core, _| {
                Some(debug_object(&core.engine, db, &args[0]))
            }));
            None
        }
        ("reload", _) => {
            s.call_exclusive(Box::new(|core, _| Some(debug_reload(core))));
            None
        }
        ("stringmatch-len", _) | ("jmap", 0) | ("quicklist-packed-threshold", 1) => {
            Some(Reply::ok())
        }
        ("help", 0) => Some(crate::commands::help("DEBUG", DEBUG_HELP)),
        _ => Some(Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            table::lossy_trim(&argv[1], 128)
        ))),
    }
}

fn debug_object(engine: &Engine, db: usize, key: &[u8]) -> Reply {
    let now = crate::node::unix_ms();
    let Some(slot) = engine.db(db).get(key, now) else {
        return Reply::error_static("ERR no such key");
    };
    Reply::Simple(Bytes::from(format!(
        "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:0 lru_seconds_idle:{}",
        slot.value.encoding(),
        slot.value.heap_bytes(),
        slot.idle_s(now)
    )))
}

/// DEBUG RELOAD: write a snapshot of the live state and rebuild the engine from it.
fn debug_reload(core: &mut Core) -> Reply {
    if let Err(e) = core.snapshot_now() {
        return Reply::error(format!("ERR Error trying to save the snapshot: {e}"));
    }
    let bytes = core.engine.snapshot();
    match Engine::restore(&bytes, core.engine.databases()) {
        Ok(mut engine) => {
            let notify = core.shared.config.read().expect("config lock");
            engine.set_notify(notify.notify_keyspace_events);
            engine.set_list_compress_depth(notify.list_compress_depth as usize);
            engine.set_exec_clock(Some(crate::calls::monotonic_us));
            engine.set_tracking(notify.eviction.tracking());
            drop(notify);
            core.engine = engine;
            Reply::ok()
        }
        Err(e) => Reply::error(format!("ERR Error trying to load the snapshot: {e}")),
    }
}

const DEBUG_HELP: &[&str] = &[
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "OBJECT <key>",
    "    Show low level info about the key and associated value.",
    "RELOAD",
    "    Save the snapshot on disk and reload it back to memory.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not accessed.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
];
