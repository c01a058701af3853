//! The client registry: what CLIENT LIST/INFO/KILL and INFO clients see of each connection.
//! Each session owns an `Arc<ClientState>` and updates it with atomics; the registry lock is
//! taken only on connect, disconnect and CLIENT LIST/KILL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use crate::stats::COMMAND_STATS;

pub struct ClientState {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    /// Milliseconds since `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    pub db: AtomicUsize,
    pub resp: AtomicU8,
    /// Row in COMMAND_STATS of the last command (usize::MAX: none yet).
    pub last_cmd: AtomicUsize,
    pub qbuf: AtomicUsize,
    /// Room allocated for input beyond `qbuf`.
    pub qbuf_free: AtomicUsize,
    pub omem: AtomicUsize,
    pub name: Mutex<Option<Bytes>>,
    pub lib_name: Mutex<Option<Bytes>>,
    pub lib_ver: Mutex<Option<Bytes>>,
    pub no_evict: AtomicBool,
    /// MONITOR (CLIENT LIST flag `O`).
    pub monitor: AtomicBool,
    /// Waiting in a blocking command, or held by CLIENT PAUSE (CLIENT LIST flag `b`).
    pub blocked: AtomicBool,
    /// Pub/sub subscriptions: channels, patterns, shard channels.
    pub sub: AtomicUsize,
    pub psub: AtomicUsize,
    pub ssub: AtomicUsize,
    /// The name of the user the connection is authenticated as (CLIENT LIST `user=`).
    pub user: Mutex<Bytes>,
    pub killed: AtomicBool,
    pub kill: tokio::sync::Notify,
}

impl ClientState {
    pub fn touch(&self) {
        self.last_interaction_ms
            .store(self.created.elapsed().as_millis() as u64, Relaxed);
    }

    /// Milliseconds since the last command.
    pub fn idle_ms(&self) -> u64 {
        (self.created.elapsed().as_millis() as u64)
            .saturating_sub(self.last_interaction_ms.load(Relaxed))
    }

    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill.notify_one();
    }

    /// One CLIENT LIST line, fields as Redis 7.0 prints them.
    pub fn line(&self) -> String {
        let age_s = self.created.elapsed().as_secs();
        let idle_ms = (self.created.elapsed().as_millis() as u64)
            .saturating_sub(self.last_interaction_ms.load(Relaxed));
        let text = |m: &Mutex<Option<Bytes>>| {
            m.lock()
                .expect("client lock")
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let cmd = match self.last_cmd.load(Relaxed) {
            usize::MAX => "NULL".to_string(),
            row => COMMAND_STATS.name(row).to_string(),
        };
        let qbuf = self.qbuf.load(Relaxed);
        let qbuf_free = self.qbuf_free.load(Relaxed);
        let omem = self.omem.load(Relaxed);
        let (sub, psub, ssub) = (
            self.sub.load(Relaxed),
            self.psub.load(Relaxed),
            self.ssub.load(Relaxed),
        );
        let mut flags = String::new();
        if self.monitor.load(Relaxed) {
            flags.push('O');
        }
        if sub + psub + ssub > 0 {
            flags.push('P');
        }
        if self.blocked.load(Relaxed) {
            flags.push('b');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={age_s} idle={} flags={flags} db={} sub={sub} psub={psub} ssub={ssub} multi=-1 qbuf={qbuf} qbuf-free={qbuf_free} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={cmd} user={} redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            text(&self.name),
            idle_ms / 1000,
            self.db.load(Relaxed),
            qbuf + qbuf_free + omem,
            String::from_utf8_lossy(&self.user.lock().expect("client lock")),
            self.resp.load(Relaxed),
        )
    }
}

#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientState>>>,
    next_id: AtomicU64,
}

impl Clients {
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr) -> Arc<ClientState> {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let state = Arc::new(ClientState {
            id,
            addr,
            laddr,
            created: Instant::now(),
            last_interaction_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(usize::MAX),
            qbuf: AtomicUsize::new(0),
            qbuf_free: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            name: Mutex::new(None),
            lib_name: Mutex::new(None),
            lib_ver: Mutex::new(None),
            no_evict: AtomicBool::new(false),
            monitor: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            sub: AtomicUsize::new(0),
            psub: AtomicUsize::new(0),
            ssub: AtomicUsize::new(0),
            user: Mutex::new(Bytes::from_static(b"default")),
            killed: AtomicBool::new(false),
            kill: tokio::sync::Notify::new(),
        });
        self.map
            .lock()
            .expect("clients lock")
            .insert(id, state.clone());
        state
    }

    pub fn unregister(&self, id: u64) {
        self.map.lock().expect("clients lock").remove(&id);
    }

    pub fn len(&self) -> usize {
        self.map.lock().expect("clients lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn all(&self) -> Vec<Arc<ClientState>> {
        self.map
            .lock()
            .expect("clients lock")
            .values()
            .cloned()
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientState>> {
        self.map.lock().expect("clients lock").get(&id).cloned()
    }
}
