//! INFO: the sections Redis clients and tools read, filled from the node's state. Runs on the
//! core (it reads the keyspace).

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use crate::commands::REDIS_VERSION;
use crate::node::Core;
use crate::stats::COMMAND_STATS;

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

pub fn render(core: &Core, args: &[Bytes]) -> String {
    let mut wanted: Vec<String> = Vec::new();
    for arg in args {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(DEFAULT.iter().map(|s| s.to_string())),
            "all" | "everything" => wanted.extend(ALL.iter().map(|s| s.to_string())),
            _ => wanted.push(name),
        }
    }
    if args.is_empty() {
        wanted.extend(DEFAULT.iter().map(|s| s.to_string()));
    }
    let mut out = String::new();
    for section in ALL {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server(core, &mut out),
            "clients" => clients(core, &mut out),
            "memory" => memory(core, &mut out),
            "persistence" => persistence(core, &mut out),
            "stats" => stats(core, &mut out),
            "replication" => replication(core, &mut out),
            "cpu" => cpu(&mut out),
            "commandstats" => {
                out.push_str("# Commandstats\r\n");
                COMMAND_STATS.render(&mut out);
            }
            "latencystats" => {
                let config = core.shared.config.read().expect("config lock");
                crate::latency::render_info(&mut out, &config.latency_tracking_info_percentiles);
            }
            "cluster" => cluster(core, &mut out),
            "errorstats" => errorstats(core, &mut out),
            "keyspace" => keyspace(core, &mut out),
            _ => {}
        }
    }
    out
}

fn server(core: &Core, out: &mut String) {
    let config = core.shared.config.read().expect("config lock");
    let uptime = core.shared.started.elapsed().as_secs();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_VERSION}\r\ncairn_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\nexecutable:{}\r\nconfig_file:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        config.port,
        uptime / 86_400,
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        config
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    );
}

fn clients(core: &Core, out: &mut String) {
    let maxclients = core.shared.config.read().expect("config lock").maxclients;
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{maxclients}\r\nblocked_clients:{}\r\ntracking_clients:0\r\nwatching_clients:{}\r\ntotal_watched_keys:{}\r\n",
        core.shared.clients.len(),
        core.blocked_clients() + core.shared.pause.held(),
        core.engine.watching_clients(),
        core.engine.watched_keys()
    );
}

fn memory(core: &Core, out: &mut String) {
    let (used, rss) = (crate::memory::used_bytes(), crate::memory::rss_bytes());
    let (maxmemory, policy) = {
        let config = core.shared.config.read().expect("config lock");
        (config.maxmemory, config.eviction.policy)
    };
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nmaxmemory:{maxmemory}\r\nmaxmemory_policy:{}\r\nmem_allocator:{}\r\n",
        used as f64 / (1024.0 * 1024.0),
        policy.name(),
        crate::memory::allocator(),
    );
    let scripting = core.engine.scripting();
    let eval_vm = scripting.vm().used_memory();
    let functions_vm = scripting.libraries().vm().used_memory();
    let (scripts, script_bytes) = scripting
        .scripts()
        .fold((0, 0), |(n, b), (_, s)| (n + 1, b + s.body.len()));
    let libraries = scripting.libraries();
    let _ = write!(
        out,
        "used_memory_lua:{eval_vm}\r\nused_memory_vm_eval:{eval_vm}\r\nused_memory_scripts_eval:{script_bytes}\r\nnumber_of_cached_scripts:{scripts}\r\nnumber_of_functions:{}\r\nnumber_of_libraries:{}\r\nused_memory_vm_functions:{functions_vm}\r\nused_memory_vm_total:{}\r\n",
        libraries.function_count(),
        libraries.len(),
        eval_vm + functions_vm,
    );
}

fn persistence(core: &Core, out: &mut String) {
    let config = core.shared.config.read().expect("config lock");
    let log = core.log().stats();
    let _ = write!(
        out,
        "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\naof_enabled:1\r\nappendfsync:{}\r\nlog_durable_seq:{}\r\nlog_fsyncs:{}\r\nlog_bytes_written:{}\r\nlog_write_status:{}\r\n",
        core.shared.changes_since_save.load(Relaxed),
        u8::from(core.shared.snapshot_in_progress.load(Relaxed)),
        core.shared.lastsave_s.load(Relaxed),
        if core.shared.last_snapshot_ok.load(Relaxed) {
            "ok"
        } else {
            "err"
        },
        config.appendfsync.name(),
        core.durable_seq,
        log.fsync_count,
        log.bytes_written,
        if log.failed { "err" } else { "ok" },
    );
    if config.appendfsync == crate::config::AppendFsync::Everysec {
        out.push_str("durability:relaxed (appendfsync everysec: a crash may lose up to one second of acknowledged writes)\r\n");
    } else {
        out.push_str("durability:always\r\n");
    }
    if let Some(error) = &log.last_error {
        let _ = write!(
            out,
            "log_last_error:{}\r\n",
            error.replace(['\r', '\n'], " ")
        );
    }
}

fn stats(core: &Core, out: &mut String) {
    let s = &core.shared.stats;
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\ntotal_error_replies:{}\r\nprotocol_errors:{}\r\ntls_handshakes:{}\r\ntls_handshake_failures:{}\r\nmigrate_cached_sockets:0\r\n",
        s.connections_received.load(Relaxed),
        s.commands_processed.load(Relaxed),
        s.net_input_bytes.load(Relaxed),
        s.net_output_bytes.load(Relaxed),
        s.rejected_connections.load(Relaxed),
        s.expired_keys.load(Relaxed),
        s.evicted_keys.load(Relaxed),
        s.error_replies.load(Relaxed),
        s.protocol_errors.load(Relaxed),
        core.shared.tls.handshakes.load(Relaxed),
        core.shared.tls.handshake_failures.load(Relaxed),
    );
}

fn replication(core: &Core, out: &mut String) {
    // A single node is a primary without replicas; the offset is the log's durable seq.
    let _ = write!(
        out,
        "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{:040x}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:{}\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
        core.shared.node_id, core.durable_seq
    );
}

/// Not Redis Cluster (`cluster_enabled:0`: one keyspace, no slots), but the node's place in
/// the log: what it applied, what it started from, and for a shared log the stream and the
/// NATS servers.
fn cluster(core: &Core, out: &mut String) {
    let config = core.shared.config.read().expect("config lock");
    let (snapshot_seq, seq_at_start, replayed) = core.started_from;
    let _ = write!(
        out,
        "# Cluster\r\ncluster_enabled:0\r\nlog:{}\r\nnode_id:{:016x}\r\napplied_seq:{}\r\nsnapshot_seq_at_start:{snapshot_seq}\r\nlog_seq_at_start:{seq_at_start}\r\nrecords_replayed_at_start:{replayed}\r\n",
        match config.log {
            crate::config::LogKind::File => "file",
            crate::config::LogKind::Jetstream => "jetstream",
        },
        core.shared.node_id,
        core.durable_seq,
    );
    if config.log == crate::config::LogKind::Jetstream {
        let _ = write!(
            out,
            "consistency:{}\r\nread_barrier:{}\r\n",
            match config.consistency {
                crate::config::Consistency::Linearizable => "linearizable",
                crate::config::Consistency::Session => "session",
            },
            match config.read_barrier {
                crate::config::ReadBarrier::Strict => "strict",
                crate::config::ReadBarrier::Leader => "leader",
            },
        );
    }
    if config.log == crate::config::LogKind::Jetstream {
        let _ = write!(
            out,
            "lease_epoch:{}\r\nlease_holder:{}\r\nhousekeeper:{}\r\n",
            core.engine.lease_epoch(),
            core.engine
                .lease_holder()
                .map_or(String::new(), |n| format!("{n:016x}")),
            if core.housekeeper() { "yes" } else { "no" },
        );
    }
    for (name, value) in core.log().describe() {
        let _ = write!(out, "{name}:{}\r\n", value.replace(['\r', '\n'], " "));
    }
}

fn errorstats(core: &Core, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    for (prefix, count) in core
        .shared
        .stats
        .errors_by_prefix
        .lock()
        .expect("stats lock")
        .iter()
    {
        let _ = write!(out, "errorstat_{prefix}:count={count}\r\n");
    }
}

fn cpu(out: &mut String) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields 14 and 15 (1-based) after the command name are utime and stime in clock ticks (100 Hz).
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    let _ = write!(
        out,
        "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\n",
        tick(12),
        tick(11)
    );
}

fn keyspace(core: &Core, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for i in 0..core.engine.databases() {
        let db = core.engine.db(i);
        if db.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "db{i}:keys={},expires={},avg_ttl=0\r\n",
            db.len(),
            db.expires_len()
        );
    }
}
