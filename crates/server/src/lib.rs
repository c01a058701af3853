//! A Cairn node: configuration, the RESP front end, sessions, and the engine thread over the
//! log.
//!
//! - `config`: options (file < env < flags), Redis names.
//! - `node`: opens the log, rebuilds state, runs the engine thread (writes → log → apply →
//!   reply; reads behind a barrier; expiry ticks; snapshots).
//! - `session`: one task per connection: decode, gate, dispatch, ordered replies, limits.
//! - `commands`, `admin`, `info`: connection and node commands.
//! - `clients`, `stats`: the client registry and counters.

pub mod admin;
pub mod clients;
pub mod commands;
pub mod config;
pub mod info;
pub mod node;
pub mod session;
pub mod stats;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

pub use config::{Config, Flags};
use node::{Msg, Shared};

/// A running node: the listener address and the handles to stop it.
pub struct Server {
    pub shared: Arc<Shared>,
    pub listener: TcpListener,
    engine: std::thread::JoinHandle<()>,
}

impl Server {
    /// Opens the data directory (rebuilding state) and binds the listener.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let addr = (config.bind.as_str(), config.port);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {}:{}: {e}", config.bind, config.port)
        })?;
        let (shared, engine) = node::start(config)?;
        Ok(Server {
            shared,
            listener,
            engine,
        })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("bound listener")
    }

    /// Accepts clients until SHUTDOWN or `stop`; then drains the engine thread.
    pub async fn run(self) -> anyhow::Result<()> {
        let mut shutdown = self.shared.shutdown.subscribe();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let Ok((stream, addr)) = accepted else { continue };
                    self.accept(stream, addr);
                }
                _ = shutdown.changed() => break,
            }
        }
        for client in self.shared.clients.all() {
            client.kill();
        }
        let _ = self.shared.inbox.send(Msg::Stop);
        let engine = self.engine;
        tokio::task::spawn_blocking(move || engine.join())
            .await
            .ok();
        Ok(())
    }

    fn accept(&self, mut stream: tokio::net::TcpStream, addr: std::net::SocketAddr) {
        let shared = self.shared.clone();
        shared.stats.connections_received.fetch_add(1, Relaxed);
        let maxclients = shared.config.read().expect("config lock").maxclients;
        if shared.clients.len() >= maxclients {
            shared.stats.rejected_connections.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            return;
        }
        let laddr = stream.local_addr().unwrap_or(addr);
        let client = shared.clients.register(addr, laddr);
        tokio::spawn(session::serve(stream, shared, client));
    }
}

/// Asks a running node to stop the way SHUTDOWN does (snapshot, then exit).
pub fn request_shutdown(shared: &Arc<Shared>) {
    let call: node::CallFn = Box::new(|core, _| {
        if let Err(e) = core.snapshot_now() {
            tracing::error!("snapshot at shutdown failed: {e}");
        }
        core.stopping = true;
        let _ = core.shared.shutdown.send(true);
        None
    });
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let _ = shared.inbox.send(Msg::Call { call, reply: tx });
}
