//! `cairn`: runs a node (on the embedded file log, or on a shared JetStream log);
//! `cairn cluster status [options]` reports on a shared log's nodes; `cairn tls init` writes
//! a development CA and certificates; `cairn bench` drives any RESP server with operations
//! of several commands (`bench.rs`).

mod bench;
mod tls_init;

use clap::Parser;

// jemalloc, as Redis uses: size classes without per-allocation headers for the keyspace's
// millions of small allocations, and freed memory (a snapshot rebuild's second copy of the
// data set) goes back to the OS instead of staying in the heap.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `stats.allocated`, refreshed (the used memory `maxmemory` is measured against).
fn jemalloc_allocated() -> Option<u64> {
    use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};
    static MIBS: std::sync::OnceLock<Option<(epoch_mib, stats::allocated_mib)>> =
        std::sync::OnceLock::new();
    let (epoch_now, allocated) =
        (*MIBS.get_or_init(|| Some((epoch::mib().ok()?, stats::allocated::mib().ok()?))))?;
    epoch_now.advance().ok()?;
    allocated.read().ok().map(|bytes| bytes as u64)
}

/// What the calling thread has allocated and not freed (jemalloc's per-thread counters).
fn jemalloc_thread_held() -> Option<u64> {
    use tikv_jemalloc_ctl::thread;
    let allocated = thread::allocatedp::read().ok()?.get();
    let deallocated = thread::deallocatedp::read().ok()?.get();
    Some(allocated.saturating_sub(deallocated))
}

/// Empties the calling thread's jemalloc cache (turning it off flushes it; it comes back
/// empty).
fn jemalloc_thread_flush() {
    use tikv_jemalloc_ctl::{Access, AsName};
    let enabled = b"thread.tcache.enabled\0".name();
    let _ = enabled.write(false);
    let _ = enabled.write(true);
}

fn main() {
    // ring is the only provider compiled in; installing it anyway keeps a dependency that
    // enables another from leaving rustls unable to choose (it would panic). An error only
    // means one was installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "bench") {
        let rest = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        std::process::exit(bench::main(rest));
    }
    if args.get(1).is_some_and(|a| a == "tls") {
        if args.get(2).is_none_or(|a| a != "init") {
            eprintln!("cairn: usage: cairn tls init [--host NAME]... [--dir DIR]");
            std::process::exit(2);
        }
        args.drain(1..3);
        std::process::exit(tls_init::main(args));
    }
    let cluster_status = args.get(1).is_some_and(|a| a == "cluster");
    if cluster_status {
        if args.get(2).is_none_or(|a| a != "status") {
            eprintln!(
                "cairn: usage: cairn cluster status [--nats-url URLS] [--nats-database NAME] [...]"
            );
            std::process::exit(2);
        }
        args.drain(1..3);
    }
    let flags = match cairn_server::Flags::try_parse_from(args) {
        Ok(flags) => flags,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One clear line, exit status 2 (clap's full text adds usage lines).
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("cairn: {first} (see cairn --help)");
            std::process::exit(2);
        }
    };
    let config = match cairn_server::Config::load(flags) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cairn: {e}");
            std::process::exit(2);
        }
    };
    if cluster_status {
        let js = cairn_server::node::jetstream_config(&config, 0);
        match cairn_log::jetstream::cluster_status(js) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("cairn: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    init_tracing(&config.loglevel);
    cairn_server::memory::install(cairn_server::memory::Probe {
        allocated: jemalloc_allocated,
        thread_held: jemalloc_thread_held,
        thread_flush: jemalloc_thread_flush,
        name: "jemalloc-5.3.0",
    });
    // One event-loop thread serves every client and runs the engine, as in Redis; the log's
    // writer (group commit, fdatasync) and the snapshotter have threads of their own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cairn: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(serve(config)) {
        eprintln!("cairn: {e:#}");
        std::process::exit(1);
    }
}

async fn serve(config: cairn_server::Config) -> anyhow::Result<()> {
    let dir = config.dir.clone();
    let log = match config.log {
        cairn_server::config::LogKind::File => None,
        cairn_server::config::LogKind::Jetstream => Some(format!(
            "log on JetStream stream CAIRN_{} at {}",
            config.nats.database,
            config.nats.urls.join(",")
        )),
    };
    let fsync = config.appendfsync.name();
    let server = cairn_server::Server::start(config).await?;
    let location = log.unwrap_or_else(|| {
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        format!("data in {}, appendfsync {fsync}", dir.display())
    });
    let mut listening = match (server.plain_addr(), server.tls_addr()) {
        (Some(plain), Some(tls)) => format!("{plain} (RESP2/RESP3) and {tls} (TLS)"),
        (None, Some(tls)) => format!("{tls} (RESP2/RESP3 over TLS only)"),
        _ => format!("{} (RESP2/RESP3)", server.local_addr()),
    };
    if let Some(rest) = server.rest_addr() {
        let scheme = if server.tls_addr().is_some() {
            "https"
        } else {
            "http"
        };
        listening.push_str(&format!(", {scheme}://{rest} (REST)"));
    }
    println!(
        "cairn {} listening on {listening}, {location}",
        env!("CARGO_PKG_VERSION"),
    );
    let shared = server.shared.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received: writing a snapshot and stopping");
        cairn_server::request_shutdown(&shared);
    });
    let shared = server.shared.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).expect("SIGHUP handler");
        while hangup.recv().await.is_some() {
            cairn_server::tls::reload(&shared);
        }
    });
    server.run().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            cairn_server::config::log_filter(level).unwrap_or("info"),
        )
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
