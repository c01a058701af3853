//! A Cairn node: configuration, the RESP front end, sessions, and the core over the
//! log.
//!
//! - `config`: options (file < env < flags), Redis names.
//! - `node`: opens the log, rebuilds state, runs the core (writes → log → apply →
//!   reply; reads behind a barrier; expiry ticks; snapshots).
//! - `session`: one task per connection: decode, gate, dispatch, ordered replies, limits;
//!   the same code over plain TCP and over TLS.
//! - `tls`: the TLS listener's certificates (rustls), handshakes, reloads.
//! - `commands`, `admin`, `info`: connection and node commands.
//! - `multi`: MULTI/EXEC/WATCH on the session side (queueing, the EXEC entry, merged replies).
//! - `acl`: authentication, the ACL LOG, protected mode, the ACL file (users live in the
//!   engine).
//! - `clients`, `stats`: the client registry and counters.
//! - `memory`: used memory as `maxmemory` counts it (jemalloc's statistics, a snapshot's copy
//!   left out).
//! - `calls`, `slowlog`, `latency`: what a command's execution took, and what reports it
//!   (commandstats, SLOWLOG, LATENCY and its histograms); per node, never replicated.
//! - `http`: the Upstash-compatible REST API (JSON over HTTP, SSE), a front end that runs
//!   commands through sessions like RESP's.

pub mod acl;
pub mod admin;
pub mod calls;
pub mod clients;
pub mod commands;
pub mod config;
pub mod http;
pub mod info;
pub mod latency;
pub mod memory;
pub mod monitor;
pub mod multi;
pub mod node;
pub mod pause;
pub mod pubsub;
pub mod session;
pub mod slowlog;
pub mod stats;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use cairn_resp::Reply;
pub use config::{Config, Flags};
use node::{Msg, Shared};

/// A node ready to serve: state rebuilt, listeners bound.
pub struct Server {
    pub shared: Arc<Shared>,
    /// RESP over plain TCP (`port`); `None` with `port 0`.
    pub listener: Option<TcpListener>,
    /// RESP over TLS (`tls-port`); `None` with `tls-port 0`.
    pub tls_listener: Option<TcpListener>,
    /// The REST API (`rest-port`); `None` with `rest-port 0`.
    rest: Option<http::Listener>,
    node: node::Started,
}

impl Server {
    /// Opens the data directory (rebuilding state) and binds the listeners.
    pub async fn start(mut config: Config) -> anyhow::Result<Server> {
        fit_maxclients_to_fd_limit(&mut config);
        // `port 0` turns the plain listener off, as in Redis. A configuration loaded from a
        // file, the environment or flags cannot have both ports 0 (`Config::load` refuses it);
        // one built in code with both 0 (in-process tests) gets a plain listener on a port the
        // OS picks.
        let ephemeral = config.port == 0 && config.tls.port == 0;
        let bind = |port: u16| {
            let host = config.bind.clone();
            async move {
                if port == 0 && !ephemeral {
                    return Ok(None);
                }
                listen(&host, port)
                    .await
                    .map(Some)
                    .map_err(|e| anyhow::anyhow!("cannot listen on {host}:{port}: {e}"))
            }
        };
        let listener = bind(config.port).await?;
        let tls_listener = match config.tls.port {
            0 => None,
            port => bind(port).await?,
        };
        // Checked when the configuration was loaded; built again here from the same files.
        let tls = match config.tls.enabled() {
            true => Some(tls::server_config(&config.tls).map_err(|e| anyhow::anyhow!("{e}"))?),
            false => None,
        };
        let rest_listener = http::bind(&config, ephemeral).await?;
        let rest = match rest_listener {
            // After the data directory exists: a generated token is kept there.
            Some(listener) => Some(http::Listener::new(listener, &config)?),
            None => None,
        };
        let node = node::start(config)?;
        if let Some(tls) = tls {
            node.shared.tls.install(tls);
        }
        Ok(Server {
            shared: node.shared.clone(),
            listener,
            tls_listener,
            rest,
            node,
        })
    }

    /// The plain listener's address, or the TLS one's when only TLS is served.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.plain_addr()
            .or_else(|| self.tls_addr())
            .expect("at least one listener")
    }

    pub fn plain_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn tls_addr(&self) -> Option<std::net::SocketAddr> {
        self.tls_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The REST API's address, if it is served.
    pub fn rest_addr(&self) -> Option<std::net::SocketAddr> {
        self.rest.as_ref().and_then(|l| l.local_addr())
    }

    /// Serves clients on the current thread until SHUTDOWN (or `request_shutdown`), then
    /// closes the log. Every session and the core run on this one thread, as in Redis; the
    /// log's writer has its own.
    pub async fn run(self) -> anyhow::Result<()> {
        let local = tokio::task::LocalSet::new();
        local.run_until(self.serve()).await
    }

    async fn serve(self) -> anyhow::Result<()> {
        let mut started = self.node;
        let acl_ready = started.acl_ready.take();
        let (node, done) = started.spawn();
        if let Some(mut ready) = acl_ready {
            // Clients wait (in the accept queue) until the configured users are in force.
            if let Some(Reply::Error(e)) = ready.recv().await {
                tracing::error!(
                    "the configured users could not be logged: {}",
                    String::from_utf8_lossy(&e)
                );
            }
        }
        let rest = self.rest.map(|rest| {
            tokio::task::spawn_local(http::serve(rest, self.shared.clone(), node.clone()))
        });
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            let (accepted, tls) = tokio::select! {
                accepted = accept_on(self.listener.as_ref()) => (accepted, false),
                accepted = accept_on(self.tls_listener.as_ref()) => (accepted, true),
                _ = shutdown.changed() => break,
            };
            match accepted {
                Ok((stream, addr)) if tls => tls::accept(&self.shared, &node, stream, addr),
                Ok((stream, addr)) => accept(&self.shared, &node, stream, addr),
                Err(e) => {
                    // Out of file descriptors (or similar): back off instead of spinning;
                    // the pending connection is accepted once a descriptor frees up.
                    tracing::warn!("accepting a client connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        // REST requests in progress finish first (bounded by the REST grace period).
        if let Some(rest) = rest {
            let _ = rest.await;
        }
        for client in self.shared.clients.all() {
            client.kill();
        }
        let _ = self.shared.inbox.send(Msg::Stop);
        let _ = done.await;
        Ok(())
    }

    /// Runs the server on a thread of its own (for tests and embedding).
    pub fn spawn_thread(self) -> std::thread::JoinHandle<anyhow::Result<()>> {
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(self.run())
        })
    }
}

/// Pending connections the kernel may queue before accept: Redis's `tcp-backlog` default. A
/// short queue (std's 128) drops SYNs when many clients connect at once, and each dropped SYN
/// costs that client a one-second retransmission.
const TCP_BACKLOG: u32 = 511;

pub(crate) async fn listen(bind: &str, port: u16) -> std::io::Result<TcpListener> {
    let host = if bind == "localhost" {
        "127.0.0.1"
    } else {
        bind
    };
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(TCP_BACKLOG)
}

/// Descriptors kept for the log, snapshots and the listener, as Redis reserves 32.
const RESERVED_FDS: u64 = 32;

/// Lowers `maxclients` to what the open-files limit allows, as Redis does at startup, so
/// that the client past the limit gets "max number of clients reached" instead of nothing.
fn fit_maxclients_to_fd_limit(config: &mut Config) {
    let Some(allowed) = max_clients_allowed() else {
        return;
    };
    if config.maxclients > allowed {
        tracing::warn!(
            maxclients = config.maxclients,
            "maxclients lowered to {allowed} to fit the open-files limit"
        );
        config.maxclients = allowed;
    }
}

/// The most clients the open-files limit leaves room for, if it is known.
pub(crate) fn max_clients_allowed() -> Option<usize> {
    let soft = open_files_limit()?;
    Some(soft.saturating_sub(RESERVED_FDS).max(1) as usize)
}

/// The soft RLIMIT_NOFILE, read from /proc (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The next connection on `listener`; never ready when there is none.
async fn accept_on(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Whether one more client fits under `maxclients`; counts the refusal when not.
pub(crate) fn room_for_client(shared: &Shared) -> bool {
    let maxclients = shared.config.read().expect("config lock").maxclients;
    if shared.clients.len() >= maxclients {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        return false;
    }
    true
}

/// Tells a client past `maxclients` so, then closes its connection.
pub(crate) fn refuse_client<S: AsyncWrite + Unpin + 'static>(mut stream: S) {
    tokio::task::spawn_local(async move {
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        // A TLS stream may still hold the reply's record.
        let _ = stream.shutdown().await;
    });
}

fn accept(
    shared: &Arc<Shared>,
    node: &node::NodeHandle,
    mut stream: tokio::net::TcpStream,
    addr: std::net::SocketAddr,
) {
    shared.stats.connections_received.fetch_add(1, Relaxed);
    if !room_for_client(shared) {
        refuse_client(stream);
        return;
    }
    let protected_mode = shared.config.read().expect("config lock").protected_mode;
    let default_nopass = node.users(|u| u.default_user().nopass());
    if acl::protected_mode_refuses(protected_mode, default_nopass, addr.ip()) {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        tokio::task::spawn_local(async move {
            let _ = stream
                .write_all(acl::PROTECTED_MODE_DENIED.as_bytes())
                .await;
        });
        return;
    }
    let laddr = stream.local_addr().unwrap_or(addr);
    let client = shared.clients.register(addr, laddr);
    tokio::task::spawn_local(session::serve(stream, shared.clone(), node.clone(), client));
}

/// Asks a running node to stop the way SHUTDOWN does (snapshot, then exit).
pub fn request_shutdown(shared: &Arc<Shared>) {
    let call: node::CallFn = Box::new(|core, _| {
        if core.snapshot_on_stop()
            && let Err(e) = core.snapshot_now()
        {
            tracing::error!("snapshot at shutdown failed: {e}");
        }
        core.stopping = true;
        let _ = core.shared.shutdown.send(true);
        None
    });
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = shared.inbox.send(Msg::Call {
        call,
        reply: tx,
        lane: 0,
    });
}
