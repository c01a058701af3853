//! The node: opens the log, rebuilds state (snapshot + replay), and runs the `Core` — the
//! engine and everything around it — on the server's single event-loop thread, as Redis does.
//! Sessions hand it messages (`NodeHandle::submit`); the log (the file log's writer thread, or
//! the JetStream client's runtime) reports back through a channel. The core is the only place
//! replicated state changes:
//! - a write becomes an `Entry`, stamped with this node's clock and a seed, and is appended
//!   to the log in its session's *lane*; when the log hands the record back (durable, or
//!   delivered in stream order on a shared log), the core applies it and sends the reply.
//! - a read waits for the writes of its lane issued before it arrived (applied, or failed) and,
//!   for a linearizable read on a shared log, for a log barrier; then it runs against local
//!   state, which holds only durable entries, so a read never shows what a crash could take
//!   away.
//! - a read with nothing in flight ahead of it runs at once (`NodeHandle::read_now`).
//! - tick entries (active expiry) are appended when keys are due (by the lease holder on a
//!   shared log), and Expire entries for the keys reads found expired (lazy expiry); both are
//!   applied like writes. Over `maxmemory`, Evict entries go before the commands that find
//!   memory full (node/evict.rs).
//!
//! Architecture invariant: replies to one session leave the core in the order the session
//! sent the commands (a session's writes share a lane and are applied in issue order, and its
//! reads and calls wait in that lane behind them).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cairn_engine::table::{ReadFn, flag};
use cairn_engine::{Body, Engine, Entry, Origin, Spec};
use cairn_log::{
    FileLog, FileLogConfig, FsyncPolicy, JetStreamConfig, JetStreamLog, Log, LogError, LogRecord,
    LogSink, Seq,
};
use cairn_resp::Reply;

mod blocking;
mod evict;
mod housekeeping;
mod pending;

use pending::{Pending, PendingWrite};

pub use evict::EvictionConfig;

use crate::clients::Clients;
use crate::config::{AppendFsync, Config, Consistency, LogKind, ReadBarrier};
use crate::stats::ServerStats;

pub type ReplyTx = tokio::sync::mpsc::UnboundedSender<Reply>;
/// Work that needs node state (INFO, DEBUG, SAVE …). `None`: the reply is sent later.
pub type CallFn = Box<dyn FnOnce(&mut Core, &ReplyTx) -> Option<Reply> + Send>;

pub enum Msg {
    Read {
        spec: &'static Spec,
        read: ReadFn,
        db: usize,
        argv: Vec<Bytes>,
        reply: ReplyTx,
        lane: usize,
        /// The client's id (SLOWLOG names it).
        client: u64,
    },
    Write {
        spec: &'static Spec,
        db: usize,
        body: Body,
        reply: ReplyTx,
        lane: usize,
        /// The client's id (CLIENT UNBLOCK finds a blocked client by it; SLOWLOG names it).
        client: u64,
    },
    Call {
        call: CallFn,
        reply: ReplyTx,
        lane: usize,
    },
    Durable {
        first_seq: Seq,
        records: Vec<Bytes>,
    },
    /// A message of a shared log, at position `seq`, stamped by the log at `time_ms`.
    Delivered {
        seq: Seq,
        time_ms: u64,
        records: Vec<Bytes>,
    },
    Barrier {
        seq: Seq,
    },
    /// This node took the housekeeping lease at `epoch`.
    Lease {
        epoch: u64,
    },
    Lost {
        error: String,
    },
    Failed {
        records: Vec<Bytes>,
        error: String,
    },
    SnapshotDone {
        seq: Seq,
        result: Result<(), String>,
    },
    /// The timeout of a blocked client passed.
    BlockTimeout {
        id: u64,
    },
    /// A pub/sub message from another node.
    Broadcast {
        message: Bytes,
    },
    Stop,
}

/// How often the core looks for keys to expire (Redis's default `hz` is 10).
const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// Keys one tick entry may remove, so that one entry never stalls the engine for long.
const TICK_KEYS_MAX: u32 = 2_000;
/// Log outcomes handled before yielding to sessions, so replies flow while the log is busy.
const DRAIN_MAX: usize = 4_096;
/// Write lanes: ordering domains whose appends proceed independently (a session always uses
/// the lane of its client id; lane 0 also carries the node's own entries). Each lane is a
/// writer of its own in the log (`node_id + lane`) with one message in flight on a shared log,
/// so a lane's writes reach the log in issue order while lanes overlap their round trips.
pub const LANES: usize = 8;

/// The writer id of `lane` on node `node_id` (node ids leave room for every lane).
fn lane_writer(node_id: u64, lane: usize) -> u64 {
    node_id + lane as u64
}

/// The lane of a client.
pub fn lane_of_client(id: u64) -> usize {
    (id % LANES as u64) as usize
}

pub type Inbox = tokio::sync::mpsc::UnboundedSender<Msg>;

/// State every session and the core share.
pub struct Shared {
    pub config: RwLock<Config>,
    pub stats: ServerStats,
    pub clients: Clients,
    /// For other threads (the log's writer, the snapshotter, signal handlers).
    pub inbox: Inbox,
    pub started: Instant,
    pub node_id: u64,
    pub lastsave_s: AtomicU64,
    pub active_expire: AtomicBool,
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub changes_since_save: AtomicU64,
    /// Whether the last snapshot attempt succeeded (INFO rdb_last_bgsave_status).
    pub last_snapshot_ok: AtomicBool,
    pub snapshot_in_progress: AtomicBool,
    /// The TLS front end's current certificates and counters.
    pub tls: crate::tls::TlsState,
    /// Commands refused and authentications failed on this node (ACL LOG).
    pub acl_log: std::sync::Mutex<crate::acl::AclLog>,
    /// This node's SLOWLOG and latency monitor (not replicated).
    pub slowlog: crate::slowlog::SlowLog,
    pub latency: crate::latency::LatencyMonitor,
    /// CLIENT PAUSE: this node's pause and the clients it holds.
    pub pause: crate::pause::Pause,
    /// MONITOR: this node's monitoring clients.
    pub monitors: crate::monitor::Monitors,
}

pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub fn unix_ms() -> u64 {
    unix_us() / 1000
}

/// A read or call waiting for earlier writes and, for a linearizable read on a shared log,
/// for a barrier.
struct Waiter {
    /// Writes issued before it arrived that must be resolved first.
    issued: Mark,
    /// The barrier request it waits for (0: none).
    barrier: u64,
    /// The log position that barrier returned, once it has.
    barrier_seq: Option<Seq>,
    /// Arrival order in its lane: a lane's queue is sorted by it.
    order: u64,
    w: Waiting,
}

impl Waiter {
    /// An entry that only keeps its place in the lane (a held reply, a held write).
    fn in_place(order: u64, w: Waiting) -> Waiter {
        Waiter {
            issued: Mark::Lane(0),
            barrier: 0,
            barrier_seq: None,
            order,
            w,
        }
    }
}

/// Which earlier writes a waiter needs resolved.
enum Mark {
    /// Its lane's (a read: the session's own earlier writes are in its lane, and writes
    /// acknowledged to anyone are applied already).
    Lane(u64),
    /// Every lane's (node commands see everything issued before them).
    All(Vec<u64>),
}

enum Waiting {
    Read {
        spec: &'static Spec,
        read: ReadFn,
        db: usize,
        argv: Vec<Bytes>,
        reply: ReplyTx,
        client: u64,
    },
    Call {
        call: CallFn,
        reply: ReplyTx,
    },
    /// CAIRN.SYNC: answered once the node has applied `token`.
    Sync {
        token: Seq,
        reply: ReplyTx,
    },
    /// A write's reply, held until every earlier command of its lane has been answered.
    Ready {
        reply: ReplyTx,
        out: Reply,
    },
    /// A write that arrived behind a read waiting for a log barrier: it is issued only once
    /// that read has run, or the read could see it.
    Write {
        spec: &'static Spec,
        db: usize,
        body: Body,
        reply: ReplyTx,
        client: u64,
    },
}

/// The core's state.
pub struct Core {
    pub engine: Engine,
    pub shared: Arc<Shared>,
    log: Arc<dyn Log>,
    /// What the node loaded at start: the snapshot's position, the log's tail then, and how
    /// many records it replayed between the two.
    pub started_from: (Seq, Seq, u64),
    next_request: u64,
    last_time_ms: u64,
    /// Per lane: writes issued to the log / resolved by it (a lane resolves in issue order).
    issued: [u64; LANES],
    resolved: [u64; LANES],
    /// Own writes per lane, by request number; a lane's replies leave in request order.
    pending: [Pending; LANES],
    /// Reads, calls and held write replies waiting, per lane (sorted by arrival order).
    waiting: [VecDeque<Waiter>; LANES],
    /// Next arrival order per lane.
    next_order: [u64; LANES],
    /// Writes waiting in each lane's queue, not issued yet (counted as issued by the marks
    /// of later reads, which must see them).
    queued_writes: [u64; LANES],
    /// Arrival order of the call being run (CAIRN.SYNC keeps its place when it must wait).
    running_order: u64,
    /// Reads wait for a log barrier (a shared log under linearizable consistency).
    barrier_reads: bool,
    /// The log is shared with other nodes (JetStream).
    shared_log: bool,
    /// Barrier requests sent to the log / answered by it.
    barriers_sent: u64,
    barriers_done: u64,
    /// Records to append, per lane.
    outgoing: [Vec<Bytes>; LANES],
    pub durable_seq: Seq,
    bytes_since_snapshot: u64,
    /// SAVE callers and the seq their snapshot must cover.
    snapshot_waiters: Vec<(Seq, ReplyTx)>,
    tick_in_flight: bool,
    /// Keys with an Expire entry in flight, so repeated reads don't append it again.
    expiring: std::collections::HashSet<(usize, Bytes)>,
    pub stopping: bool,
    /// Clients waiting in a blocking command.
    blocked: blocking::Blocked,
    /// Eviction under `maxmemory`: settings, pool, entries in flight.
    eviction: evict::Eviction,
    /// This node's pub/sub subscriptions.
    pub pubsub: crate::pubsub::Broker,
}

/// Forwards the log's outcomes into the core's inbox.
struct Sink(Inbox);

impl LogSink for Sink {
    fn durable(&self, first_seq: Seq, records: Vec<Bytes>) {
        let _ = self.0.send(Msg::Durable { first_seq, records });
    }

    fn delivered(&self, seq: Seq, time_ms: u64, records: Vec<Bytes>) {
        let _ = self.0.send(Msg::Delivered {
            seq,
            time_ms,
            records,
        });
    }

    fn failed(&self, records: Vec<Bytes>, error: String) {
        let _ = self.0.send(Msg::Failed { records, error });
    }

    fn barrier(&self, seq: Seq) {
        let _ = self.0.send(Msg::Barrier { seq });
    }

    fn lease(&self, epoch: u64) {
        let _ = self.0.send(Msg::Lease { epoch });
    }

    fn lost(&self, error: String) {
        let _ = self.0.send(Msg::Lost { error });
    }

    fn broadcast(&self, message: Bytes) {
        let _ = self.0.send(Msg::Broadcast { message });
    }
}

/// A node ready to run: state rebuilt, the log's writer started.
pub struct Started {
    pub shared: Arc<Shared>,
    core: Core,
    rx: tokio::sync::mpsc::UnboundedReceiver<Msg>,
    /// The reply to the entry that puts the configured users on the log (aclfile,
    /// requirepass), if one was needed: clients are served once it has been applied.
    pub acl_ready: Option<tokio::sync::mpsc::UnboundedReceiver<Reply>>,
}

/// A log opened and started, with the engine rebuilt from it.
struct Opened {
    log: Arc<dyn Log>,
    engine: Engine,
    durable_seq: Seq,
    snapshot_seq: Seq,
    replayed: u64,
}

/// Opens the log and rebuilds the engine (snapshot + replay).
pub fn start(config: Config) -> anyhow::Result<Started> {
    let started = Instant::now();
    let node_id = fastrand::u64(1..u64::MAX - LANES as u64);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let opened = match config.log {
        LogKind::File => open_file(&config, &tx)?,
        LogKind::Jetstream => open_jetstream(&config, node_id, &tx)?,
    };
    let Opened {
        log,
        engine,
        durable_seq,
        snapshot_seq,
        replayed,
    } = opened;
    tracing::info!(
        snapshot_seq,
        replayed,
        last_seq = durable_seq,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "state rebuilt from the log"
    );
    let (shutdown, _) = tokio::sync::watch::channel(false);
    let shared = Arc::new(Shared {
        config: RwLock::new(config.clone()),
        stats: ServerStats::default(),
        clients: Clients::default(),
        inbox: tx,
        started,
        node_id,
        lastsave_s: AtomicU64::new(unix_ms() / 1000),
        active_expire: AtomicBool::new(true),
        shutdown,
        changes_since_save: AtomicU64::new(0),
        last_snapshot_ok: AtomicBool::new(true),
        snapshot_in_progress: AtomicBool::new(false),
        tls: crate::tls::TlsState::default(),
        acl_log: Default::default(),
        slowlog: crate::slowlog::SlowLog::new(&config),
        latency: crate::latency::LatencyMonitor::new(&config),
        pause: Default::default(),
        monitors: Default::default(),
    });
    let barrier_reads =
        config.log == LogKind::Jetstream && config.consistency == Consistency::Linearizable;
    let mut core = Core {
        last_time_ms: engine.now_ms(),
        engine,
        shared: shared.clone(),
        log,
        started_from: (snapshot_seq, durable_seq, replayed),
        next_request: 1,
        issued: [0; LANES],
        resolved: [0; LANES],
        pending: std::array::from_fn(|_| Pending::default()),
        waiting: std::array::from_fn(|_| VecDeque::new()),
        next_order: [0; LANES],
        queued_writes: [0; LANES],
        running_order: 0,
        barrier_reads,
        shared_log: config.log == LogKind::Jetstream,
        barriers_sent: 0,
        barriers_done: 0,
        outgoing: std::array::from_fn(|_| Vec::new()),
        durable_seq,
        bytes_since_snapshot: 0,
        snapshot_waiters: Vec::new(),
        tick_in_flight: false,
        expiring: std::collections::HashSet::new(),
        stopping: false,
        blocked: blocking::Blocked::default(),
        eviction: evict::Eviction::new(config.eviction),
        pubsub: crate::pubsub::Broker::default(),
    };
    let (notify, depth) = {
        let config = core.shared.config.read().expect("config lock");
        (config.notify_keyspace_events, config.list_compress_depth)
    };
    core.engine.set_notify(notify);
    core.engine.set_list_compress_depth(depth as usize);
    core.engine.set_exec_clock(Some(crate::calls::monotonic_us));
    core.engine.set_tracking(config.eviction.tracking());
    if durable_seq == 0 {
        // A new log: its first entry fixes the keyspace hash seed for every node that replays it.
        core.issue(
            Body::Init {
                hash_seed: fastrand::u64(..),
            },
            0,
            None,
            None,
            0,
        );
    }
    let startup = crate::acl::startup_entry(&config, core.engine.users())?;
    // The REST read-only token's user, when it will not exist otherwise.
    let readonly =
        crate::http::tokens::readonly_user_entry(&config, core.engine.users(), startup.as_ref());
    let mut acl_ready = None;
    for body in [startup, readonly].into_iter().flatten() {
        // Clients wait for the first (whose failure is reported); the entries of a lane
        // apply in order.
        let reply = acl_ready.is_none().then(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            acl_ready = Some(rx);
            tx
        });
        core.issue(body, 0, reply, None, 0);
    }
    Ok(Started {
        shared,
        core,
        rx,
        acl_ready,
    })
}

fn open_file(config: &Config, inbox: &Inbox) -> anyhow::Result<Opened> {
    std::fs::create_dir_all(&config.dir).map_err(|e| {
        anyhow::anyhow!("cannot create data directory {}: {e}", config.dir.display())
    })?;
    let log_config = FileLogConfig {
        dir: config.dir.clone(),
        fsync: match config.appendfsync {
            AppendFsync::Always => FsyncPolicy::Always,
            AppendFsync::Everysec => FsyncPolicy::EverySec,
        },
        segment_bytes_max: config.log_segment_bytes,
        commit_window: Duration::from_micros(config.log_commit_window_us),
        faults: config.log_faults.clone(),
        ..FileLogConfig::new(config.dir.clone())
    };
    let (log, recovery) = FileLog::open(log_config)?;
    let (mut engine, snapshot_seq) = match &recovery.snapshot {
        Some((seq, bytes)) => (Engine::restore(bytes, config.databases)?, *seq),
        None => (Engine::new(config.databases), 0),
    };
    let records = recovery.records().map(|r| {
        r.map(|(seq, bytes)| LogRecord {
            seq,
            time_ms: None,
            bytes,
        })
    });
    let (last, replayed) = replay(&mut engine, records).map_err(anyhow::Error::msg)?;
    let log = Arc::new(log.start(Box::new(Sink(inbox.clone())))?);
    Ok(Opened {
        log,
        engine,
        durable_seq: last.unwrap_or(snapshot_seq),
        snapshot_seq,
        replayed,
    })
}

/// The JetStream log's settings from the node's configuration.
pub fn jetstream_config(config: &Config, node_id: u64) -> JetStreamConfig {
    let nats = &config.nats;
    JetStreamConfig {
        replicas: nats.replicas,
        user: nats.user.clone(),
        password: nats.password.clone(),
        token: nats.token.clone(),
        creds_file: nats.creds.clone(),
        tls_ca_file: nats.tls_ca_file.clone(),
        tls_cert_file: nats.tls_cert_file.clone(),
        tls_key_file: nats.tls_key_file.clone(),
        tls_required: nats.tls_ca_file.is_some(),
        writer_id: node_id,
        publishers: nats.publishers,
        barrier: match config.read_barrier {
            ReadBarrier::Strict => cairn_log::BarrierMode::Strict,
            ReadBarrier::Leader => cairn_log::BarrierMode::Leader,
        },
        ack_timeout: Duration::from_millis(nats.ack_timeout_ms),
        advertise: format!("{}:{}", config.bind, config.port),
        ..JetStreamConfig::new(nats.urls.clone(), nats.database.clone())
    }
}

fn open_jetstream(config: &Config, node_id: u64, inbox: &Inbox) -> anyhow::Result<Opened> {
    let (log, recovery) = JetStreamLog::open(jetstream_config(config, node_id))?;
    let (mut engine, snapshot_seq) = match &recovery.snapshot {
        Some((seq, bytes)) => (Engine::restore(bytes, config.databases)?, *seq),
        None => (Engine::new(config.databases), 0),
    };
    let records = recovery.messages().flat_map(|m| match m {
        Ok(m) => m
            .records
            .into_iter()
            .map(|bytes| {
                Ok(LogRecord {
                    seq: m.seq,
                    time_ms: Some(m.time_ms),
                    bytes,
                })
            })
            .collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    });
    let (_, replayed) = replay(&mut engine, records).map_err(anyhow::Error::msg)?;
    let durable_seq = recovery.last_seq.max(snapshot_seq);
    let log = Arc::new(log.start(Box::new(Sink(inbox.clone())), durable_seq, snapshot_seq));
    Ok(Opened {
        log,
        engine,
        durable_seq,
        snapshot_seq,
        replayed,
    })
}

/// The core, shared by the tasks of the event-loop thread.
#[derive(Clone)]
pub struct NodeHandle {
    core: Rc<RefCell<Core>>,
    flush: Rc<tokio::sync::Notify>,
}

impl NodeHandle {
    /// Hands a session's command to the core; appends are flushed to the log once the tasks
    /// that are ready have run (group commit across sessions).
    pub fn submit(&self, msg: Msg) {
        let mut core = self.core.borrow_mut();
        core.handle(msg);
        if core.has_outgoing() {
            self.flush.notify_one();
        }
    }

    /// Runs a read at once and returns its reply when nothing is in flight ahead of it (the
    /// common case); otherwise returns the read for `submit`. The caller must have no reply
    /// of its own still pending, or this one would overtake it.
    pub fn read_now(
        &self,
        spec: &'static Spec,
        read: ReadFn,
        db: usize,
        argv: &[Bytes],
        (lane, client): (usize, u64),
    ) -> Option<Reply> {
        let mut core = self.core.borrow_mut();
        if core.barrier_reads
            || core.blocked.holds()
            || !core.waiting[lane].is_empty()
            || core.resolved[lane] != core.issued[lane]
        {
            return None;
        }
        let reply = core.execute_read(spec, read, db, argv, client);
        if core.has_outgoing() {
            self.flush.notify_one();
        }
        Some(reply)
    }

    /// The flags the script of a script command would run with, from the replicated script
    /// cache and libraries as this node has them now.
    pub fn script_flags(&self, argv: &[Bytes]) -> Option<u32> {
        self.core.borrow().engine.script_flags(argv)
    }

    pub fn pubsub_subscribe(
        &self,
        kind: crate::pubsub::Kind,
        name: &Bytes,
        client: u64,
        tx: &crate::pubsub::PushTx,
    ) {
        self.core
            .borrow_mut()
            .pubsub
            .subscribe(kind, name, client, tx);
    }

    pub fn pubsub_unsubscribe(&self, kind: crate::pubsub::Kind, name: &Bytes, client: u64) {
        self.core
            .borrow_mut()
            .pubsub
            .unsubscribe(kind, name, client);
    }

    /// PUBLISH/SPUBLISH: delivers to this node's subscribers and broadcasts to the other
    /// nodes of a shared log; returns this node's receivers.
    pub fn publish(&self, shard: bool, channel: &Bytes, message: &Bytes) -> usize {
        let core = self.core.borrow();
        let receivers = core.pubsub.publish(shard, channel, message);
        if core.shared_log {
            core.log
                .broadcast(crate::pubsub::encode_message(shard, channel, message));
        }
        receivers
    }

    /// Runs `f` on the node's broker (PUBSUB queries).
    pub fn with_broker<T>(&self, f: impl FnOnce(&crate::pubsub::Broker) -> T) -> T {
        f(&self.core.borrow().pubsub)
    }

    /// `notify-keyspace-events` changed.
    pub fn set_notify(&self, classes: u32) {
        self.core.borrow_mut().engine.set_notify(classes);
    }

    /// `list-compress-depth` changed.
    pub fn set_list_compress_depth(&self, depth: u64) {
        self.core
            .borrow_mut()
            .engine
            .set_list_compress_depth(depth as usize);
    }

    /// CLIENT UNBLOCK: answers a blocked client now (a null array, or `-UNBLOCKED` when
    /// `error`); false if that client is not blocked.
    pub fn unblock(&self, client: u64, error: bool) -> bool {
        self.core.borrow_mut().unblock(client, error)
    }

    /// The engine's collection encoding thresholds (CONFIG GET).
    pub fn encodings(&self) -> cairn_engine::types::Encodings {
        *self.core.borrow().engine.encodings()
    }

    /// The last log position this node has applied (REST sync tokens).
    pub fn durable_seq(&self) -> Seq {
        self.core.borrow().durable_seq
    }

    /// Reads the engine's scripts and functions (CLIENT PAUSE reads their flags).
    pub fn scripting<R>(&self, f: impl FnOnce(&cairn_engine::script::Scripting) -> R) -> R {
        f(self.core.borrow().engine.scripting())
    }

    /// Reads the engine's users (authentication, the ACL gate).
    pub fn users<R>(&self, f: impl FnOnce(&cairn_engine::acl::Users) -> R) -> R {
        f(self.core.borrow().engine.users())
    }

    /// Handles `msg` and whatever else is queued (up to DRAIN_MAX); false once stopping.
    fn drain(&self, msg: Msg, rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>) -> bool {
        let mut core = self.core.borrow_mut();
        let mut running = core.handle(msg);
        for _ in 0..DRAIN_MAX {
            if !running {
                break;
            }
            match rx.try_recv() {
                Ok(msg) => running = core.handle(msg),
                Err(_) => break,
            }
        }
        core.flush();
        running
    }
}

impl Started {
    /// Spawns the core's tasks on the current `LocalSet`; the returned future ends when the
    /// node has stopped (SHUTDOWN or `Msg::Stop`) and the log is closed.
    pub fn spawn(self) -> (NodeHandle, tokio::task::JoinHandle<()>) {
        let node = NodeHandle {
            core: Rc::new(RefCell::new(self.core)),
            flush: Rc::new(tokio::sync::Notify::new()),
        };
        let flusher = node.clone();
        tokio::task::spawn_local(async move {
            loop {
                flusher.flush.notified().await;
                flusher.core.borrow_mut().flush();
            }
        });
        let ticker = node.clone();
        tokio::task::spawn_local(async move {
            let mut interval = tokio::time::interval(TICK_INTERVAL);
            loop {
                interval.tick().await;
                let mut core = ticker.core.borrow_mut();
                core.maybe_tick();
                core.maybe_evict();
                core.flush();
            }
        });
        let done = tokio::task::spawn_local(drive(node.clone(), self.rx));
        (node, done)
    }
}

/// Applies what the log reports and runs messages from other threads, until stopped.
async fn drive(node: NodeHandle, mut rx: tokio::sync::mpsc::UnboundedReceiver<Msg>) {
    while let Some(msg) = rx.recv().await {
        if !node.drain(msg, &mut rx) {
            break;
        }
        // Let sessions write the replies just produced before applying more.
        tokio::task::yield_now().await;
    }
    node.core.borrow_mut().flush();
    loop {
        let in_flight = node.core.borrow().writes_in_flight();
        if !in_flight {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(msg @ (Msg::Durable { .. } | Msg::Failed { .. }))) => {
                node.core.borrow_mut().handle(msg);
            }
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    node.core.borrow().log.shutdown();
}

impl Core {
    /// Returns false when the node should stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Read {
                spec,
                read,
                db,
                argv,
                reply,
                lane,
                client,
            } => {
                let barrier = if self.barrier_reads {
                    self.request_barrier()
                } else {
                    0
                };
                self.wait_or_run(
                    Waiting::Read {
                        spec,
                        read,
                        db,
                        argv,
                        reply,
                        client,
                    },
                    barrier,
                    lane,
                )
            }
            Msg::Call { call, reply, lane } => {
                self.wait_or_run(Waiting::Call { call, reply }, 0, lane)
            }
            Msg::Write {
                spec,
                db,
                body,
                reply,
                lane,
                client,
            } => {
                let order = self.take_order(lane);
                if spec.flags & flag::BLOCKING != 0 {
                    self.blocked.note_client((lane, order), client);
                }
                if self.write_must_wait(lane) {
                    self.queued_writes[lane] += 1;
                    let w = Waiting::Write {
                        spec,
                        db,
                        body,
                        reply,
                        client,
                    };
                    self.waiting[lane].push_back(Waiter::in_place(order, w));
                } else {
                    self.issue_write(spec, db, body, reply, (lane, order, client));
                }
            }
            Msg::Durable { first_seq, records } => {
                for (i, record) in records.iter().enumerate() {
                    self.apply_record(first_seq + i as u64, None, record);
                }
                // Applied writes changed used memory: the next reading is a fresh one.
                crate::memory::invalidate();
                self.maybe_snapshot();
            }
            Msg::Delivered {
                seq,
                time_ms,
                records,
            } => {
                for record in &records {
                    self.apply_record(seq, Some(time_ms), record);
                }
                crate::memory::invalidate();
                self.durable_seq = seq;
                self.drain_waiting();
                self.maybe_snapshot();
            }
            Msg::Barrier { seq } => self.on_barrier(seq),
            Msg::Lease { epoch } => self.issue(Body::Lease { epoch }, 0, None, None, 0),
            Msg::Lost { error } => {
                tracing::error!("the node can no longer follow the log: {error}; restart it");
                std::process::exit(1);
            }
            Msg::Failed { records, error } => self.on_failed(records, &error),
            Msg::SnapshotDone { seq, result } => self.on_snapshot_done(seq, result),
            Msg::BlockTimeout { id } => self.block_timeout(id),
            Msg::Broadcast { message } => {
                if let Some((shard, channel, message)) = crate::pubsub::decode_message(&message) {
                    self.pubsub.publish(shard, &channel, &message);
                }
            }
            Msg::Stop => return false,
        }
        !self.stopping
    }

    /// Makes an entry for `body` and queues it for the log.
    pub(crate) fn issue(
        &mut self,
        body: Body,
        db: usize,
        reply: Option<ReplyTx>,
        spec: Option<&'static Spec>,
        lane: usize,
    ) {
        let order = self.take_order(lane);
        self.issue_ordered(body, db, reply, spec, (lane, order, 0));
    }

    /// CONFIG SET of engine options: a Config entry, answered once applied.
    pub fn issue_config(&mut self, pairs: Vec<Bytes>, reply: &ReplyTx, lane: usize) {
        self.issue(Body::Config { pairs }, 0, Some(reply.clone()), None, lane);
    }

    /// Issues a client's write command; `at`: (lane, arrival order, client).
    fn issue_write(
        &mut self,
        spec: &'static Spec,
        db: usize,
        body: Body,
        reply: ReplyTx,
        at: (usize, u64, u64),
    ) {
        self.issue_ordered(body, db, Some(reply), Some(spec), at);
    }

    /// A write of `lane` must wait in the lane's queue when a read ahead of it waits for a
    /// log barrier (or another write already waits there, or the node holds its clients while
    /// blocked clients are served): applied before that read ran, it
    /// would show in the read's result. Reads that wait only for earlier writes need no
    /// such care: the core runs them as soon as those are applied, before anything later.
    fn write_must_wait(&self, lane: usize) -> bool {
        // While blocked clients are being served, new writes wait too (node/blocking.rs).
        self.blocked.holds()
            || self.waiting[lane]
                .iter()
                .any(|w| w.barrier != 0 || matches!(w.w, Waiting::Write { .. }))
    }

    /// Makes the entry of `body` and queues it; `at`: (lane, arrival order, client or 0).
    fn issue_ordered(
        &mut self,
        body: Body,
        db: usize,
        reply: Option<ReplyTx>,
        spec: Option<&'static Spec>,
        (lane, order, client): (usize, u64, u64),
    ) {
        let request = self.next_request;
        self.next_request += 1;
        // Entry times never go backwards, even if the wall clock does.
        self.last_time_ms = self.last_time_ms.max(unix_ms());
        let entry = Entry {
            db: db as u32,
            time_ms: self.last_time_ms,
            seed: fastrand::u64(..),
            origin: Origin {
                node: lane_writer(self.shared.node_id, lane),
                request,
            },
            body,
        };
        self.outgoing[lane].push(entry.encode());
        self.pending[lane].push(
            request,
            PendingWrite {
                entry,
                reply,
                spec,
                failed: None,
                order,
                client,
            },
        );
        self.issued[lane] += 1;
    }

    fn has_outgoing(&self) -> bool {
        self.outgoing.iter().any(|o| !o.is_empty())
    }

    fn flush(&mut self) {
        for (lane, records) in self.outgoing.iter_mut().enumerate() {
            if !records.is_empty() {
                self.log.append_lane(lane, std::mem::take(records));
            }
        }
    }

    /// The lane of an entry this node made, from its origin (`None`: another node's).
    fn own_lane(&self, origin_node: u64) -> Option<usize> {
        let lane = origin_node.wrapping_sub(self.shared.node_id);
        (lane < LANES as u64).then_some(lane as usize)
    }

    fn take_order(&mut self, lane: usize) -> u64 {
        self.next_order[lane] += 1;
        self.next_order[lane]
    }

    fn mark(&self, w: &Waiting, lane: usize) -> Mark {
        match w {
            Waiting::Call { .. } => Mark::All(
                self.issued
                    .iter()
                    .zip(&self.queued_writes)
                    .map(|(i, q)| i + q)
                    .collect(),
            ),
            Waiting::Read { .. } | Waiting::Sync { .. } => {
                Mark::Lane(self.issued[lane] + self.queued_writes[lane])
            }
            Waiting::Ready { .. } | Waiting::Write { .. } => Mark::Lane(0),
        }
    }

    /// Queues `waiter` in its lane at the place its arrival order gives it.
    fn enqueue(&mut self, lane: usize, waiter: Waiter) {
        let queue = &mut self.waiting[lane];
        let at = queue.partition_point(|w| w.order < waiter.order);
        queue.insert(at, waiter);
    }

    /// Sends a write's reply now, or holds it behind the earlier commands of its lane that are
    /// still waiting (a pipelined GET waiting for a barrier must be answered first), or until
    /// the blocked clients being served have been (node/blocking.rs).
    fn reply_in_order(&mut self, lane: usize, order: u64, reply: ReplyTx, out: Reply) {
        if self.blocked.holds() || self.waiting[lane].front().is_some_and(|w| w.order < order) {
            self.enqueue(lane, Waiter::in_place(order, Waiting::Ready { reply, out }));
        } else {
            let _ = reply.send(out);
        }
    }

    fn mark_reached(&self, mark: &Mark, lane: usize) -> bool {
        match mark {
            Mark::Lane(n) => self.resolved[lane] >= *n,
            Mark::All(ns) => ns.iter().zip(&self.resolved).all(|(n, r)| r >= n),
        }
    }

    /// Runs `w` now if nothing is ahead of it, else queues it in its lane behind the writes
    /// it must see and, when `barrier` is not 0, behind that log barrier.
    fn wait_or_run(&mut self, w: Waiting, barrier: u64, lane: usize) {
        let mark = self.mark(&w, lane);
        let order = self.take_order(lane);
        if barrier == 0
            && !self.blocked.holds()
            && self.waiting[lane].is_empty()
            && self.mark_reached(&mark, lane)
        {
            self.run_waiting(w, order, lane);
        } else {
            self.waiting[lane].push_back(Waiter {
                issued: mark,
                barrier,
                barrier_seq: None,
                order,
                w,
            });
        }
    }

    /// The barrier a read arriving now must wait for: the one in flight was requested before
    /// the read arrived, so the read needs the next, which is sent when that one returns (one
    /// request serves every read that arrived while the previous was in flight).
    fn request_barrier(&mut self) -> u64 {
        if self.barriers_sent == self.barriers_done {
            self.barriers_sent += 1;
            self.log.barrier();
            self.barriers_sent
        } else {
            self.barriers_sent + 1
        }
    }

    fn on_barrier(&mut self, seq: Seq) {
        self.barriers_done += 1;
        let done = self.barriers_done;
        let mut more = false;
        for waiter in self.waiting.iter_mut().flatten() {
            if waiter.barrier == done {
                waiter.barrier_seq = Some(seq);
            }
            more |= waiter.barrier > done;
        }
        if more {
            self.barriers_sent += 1;
            self.log.barrier();
        }
        self.drain_waiting();
    }

    /// Runs a read for `client`; its time is the engine's run (see `calls.rs`).
    fn execute_read(
        &mut self,
        spec: &'static Spec,
        read: ReadFn,
        db: usize,
        argv: &[Bytes],
        client: u64,
    ) -> Reply {
        let started_us = unix_us();
        let tapped = crate::monitor::tap_begin(&self.engine, &self.shared);
        let out = self
            .engine
            .read(read, db, argv, started_us / 1000, fastrand::u64(..));
        if tapped {
            crate::monitor::tap_end(&self.engine, &self.shared, None);
        }
        let usec = unix_us().saturating_sub(started_us);
        let caller = crate::calls::Caller::Id(client);
        crate::calls::record(&self.shared, spec, argv, usec, out.is_error(), caller);
        let script_calls = self.engine.scripting().control().take_calls();
        crate::calls::record_script_calls(&self.shared, script_calls, &out);
        self.expire_seen();
        out
    }

    fn run_waiting(&mut self, w: Waiting, order: u64, lane: usize) {
        match w {
            Waiting::Read {
                spec,
                read,
                db,
                argv,
                reply,
                client,
            } => {
                let out = self.execute_read(spec, read, db, &argv, client);
                let _ = reply.send(out);
            }
            Waiting::Call { call, reply } => {
                self.running_order = order;
                if let Some(out) = call(self, &reply) {
                    let _ = reply.send(out);
                }
            }
            Waiting::Sync { token, reply } => {
                let _ = reply.send(self.sync_reply(token));
            }
            Waiting::Ready { reply, out } => {
                let _ = reply.send(out);
            }
            Waiting::Write {
                spec,
                db,
                body,
                reply,
                client,
            } => {
                self.queued_writes[lane] -= 1;
                self.issue_write(spec, db, body, reply, (lane, order, client));
            }
        }
    }

    /// Runs every waiting read whose barrier has been reached.
    fn drain_waiting(&mut self) {
        if self.blocked.holds() {
            return;
        }
        for lane in 0..LANES {
            while self.waiting[lane].front().is_some_and(|w| {
                self.mark_reached(&w.issued, lane)
                    && (w.barrier == 0 || w.barrier_seq.is_some_and(|s| s <= self.durable_seq))
            }) {
                let waiter = self.waiting[lane].pop_front().expect("front exists");
                self.run_waiting(waiter.w, waiter.order, lane);
            }
        }
    }

    /// Applies one record at log position `seq`; `time_ms` is the log's time for it (a shared
    /// log's leader timestamp), which replaces the appending node's.
    fn apply_record(&mut self, seq: Seq, time_ms: Option<u64>, record: &Bytes) {
        // Our own entries come back as we made them (encoding round-trips exactly, as the entry
        // tests check); others' are decoded.
        let own = match Entry::decode_origin(record) {
            Ok(origin) => self.own_lane(origin.node).and_then(|lane| {
                let p = self.pending[lane].remove(origin.request)?;
                Some((lane, origin.request, p))
            }),
            Err(e) => undecodable(seq, &e),
        };
        let (mut entry, own) = match own {
            Some((lane, request, p)) => {
                // Writes of its lane issued earlier that the log refused are answered first.
                self.resolve_failed_before(lane, request);
                (p.entry, Some((lane, p.reply, p.spec, (p.order, p.client))))
            }
            None => (
                Entry::decode(record).unwrap_or_else(|e| undecodable(seq, &e)),
                None,
            ),
        };
        if let Some(t) = time_ms {
            entry.time_ms = t;
        }
        let started = Instant::now();
        // MONITOR shows the commands run inside the entries this node made.
        let tapped = own.is_some() && crate::monitor::tap_begin(&self.engine, &self.shared);
        // `None`: a copy of an entry applied before (an append the log stored twice).
        let reply = self
            .engine
            .apply_logged_resolved(&entry, own.as_ref().and_then(|o| o.2));
        self.evict_applied(&entry, reply.as_ref());
        if let Body::Tick { .. } = entry.body {
            // Redis's `expire-cycle` event: this node's expiry sweep, whoever made the entry.
            let ms = started.elapsed().as_millis() as u64;
            self.shared.latency.sample("expire-cycle", ms);
        }
        if tapped {
            let client = match &entry.body {
                Body::Exec { client, .. } => Some(*client),
                _ => None,
            };
            crate::monitor::tap_end(&self.engine, &self.shared, client);
        }
        self.durable_seq = self
            .durable_seq
            .max(if time_ms.is_some() { seq - 1 } else { seq });
        self.bytes_since_snapshot += record.len() as u64;
        let script_calls = self.engine.scripting().control().take_calls();
        // Attempts for the clients this entry made servable go out before its reply, which
        // they may hold (node/blocking.rs).
        self.wake_ready(own.is_some());
        match (own, reply) {
            (Some((lane, tx, spec, at)), Some(reply)) => {
                crate::calls::record_script_calls(&self.shared, script_calls, &reply);
                self.resolve_own(&entry, reply, tx, spec, started, (lane, at));
            }
            // A copy of an attempt applied before changes nothing: its client stays parked.
            (Some((lane, _, _, at)), None) => self.attempt_dropped((lane, at.0)),
            _ => {}
        }
        if !self.engine.users().closing().is_empty() {
            crate::acl::close_connections(&self.shared, self.engine.users().closing());
        }
        self.publish_events();
        self.drain_waiting();
    }

    /// Keyspace notifications of the entry just applied, to this node's subscribers (every
    /// node applies every entry, so none travel between nodes).
    fn publish_events(&mut self) {
        let events = self.engine.events();
        if events.is_empty() {
            return;
        }
        let classes = self
            .shared
            .config
            .read()
            .expect("config lock")
            .notify_keyspace_events;
        for e in events {
            let event = Bytes::from_static(e.event.as_bytes());
            let key = Bytes::copy_from_slice(&e.key);
            if classes & cairn_engine::notify::KEYSPACE != 0 {
                let mut channel = format!("__keyspace@{}__:", e.db).into_bytes();
                channel.extend_from_slice(&e.key);
                self.pubsub.publish(false, &Bytes::from(channel), &event);
            }
            if classes & cairn_engine::notify::KEYEVENT != 0 {
                let channel = format!("__keyevent@{}__:{}", e.db, e.event);
                self.pubsub.publish(false, &Bytes::from(channel), &key);
            }
        }
    }

    fn resolve_own(
        &mut self,
        entry: &Entry,
        reply: Reply,
        tx: Option<ReplyTx>,
        spec: Option<&'static Spec>,
        started: Instant,
        (lane, (order, client)): (usize, (u64, u64)),
    ) {
        self.resolved[lane] += 1;
        match (&entry.body, spec) {
            (Body::Expire { keys }, _) => {
                self.forget_expiring(entry.db, keys);
                if let Reply::Int(n) = reply {
                    self.shared.stats.expired_keys.fetch_add(n as u64, Relaxed);
                }
            }
            (Body::Evict { .. }, _) => self.evict_resolved(entry),
            (Body::Tick { keys_max }, _) => {
                self.tick_in_flight = false;
                if let Reply::Int(n) = reply {
                    self.shared.stats.expired_keys.fetch_add(n as u64, Relaxed);
                    if n as u64 >= u64::from(*keys_max) {
                        self.maybe_tick();
                    }
                }
            }
            // WATCH, UNWATCH and EXEC were counted by the session, as connection commands.
            // An attempt of a blocking command that found nothing is not a call yet.
            (Body::Command(argv) | Body::Script { argv, .. }, Some(spec))
                if !cairn_engine::commands::is_blocked(&reply) =>
            {
                let usec = started.elapsed().as_micros() as u64;
                let caller = crate::calls::Caller::Id(client);
                crate::calls::record(&self.shared, spec, argv, usec, reply.is_error(), caller);
                // Redis's `server.dirty`: what the command counted, else one unless it failed
                // (an error reply changed nothing).
                let changes = self.engine.dirty().unwrap_or(u64::from(!reply.is_error()));
                self.shared.changes_since_save.fetch_add(changes, Relaxed);
            }
            (Body::Exec { commands, .. }, _) => {
                let usec = started.elapsed().as_micros() as u64;
                let times = self.engine.exec_times();
                crate::calls::exec_applied(&self.shared, client, commands, &reply, times, usec);
                self.shared.changes_since_save.fetch_add(1, Relaxed);
            }
            _ => {}
        }
        let Some(tx) = tx else {
            return;
        };
        let out = match spec {
            Some(spec) if spec.flags & flag::BLOCKING != 0 => {
                self.blocking_outcome(spec, entry.db, &entry.body, reply, tx, (lane, order))
            }
            _ => Some((tx, reply)),
        };
        if let Some((tx, reply)) = out {
            self.reply_in_order(lane, order, tx, reply);
        }
    }

    /// Records the log will never store. Their errors go out in request order: once every
    /// earlier write of this node is resolved.
    fn on_failed(&mut self, records: Vec<Bytes>, error: &str) {
        for record in &records {
            let Ok(origin) = Entry::decode_origin(record) else {
                continue;
            };
            let Some(lane) = self.own_lane(origin.node) else {
                continue;
            };
            if let Some(p) = self.pending[lane].get_mut(origin.request) {
                p.failed = Some(error.to_string());
            }
        }
        for lane in 0..LANES {
            self.resolve_failed_before(lane, u64::MAX);
        }
        self.drain_waiting();
    }

    /// Answers the refused writes at the front of `lane`'s pending queue, below `request`.
    fn resolve_failed_before(&mut self, lane: usize, request: u64) {
        while let Some(p) = self.pending[lane].pop_failed_before(request) {
            self.resolved[lane] += 1;
            match &p.entry.body {
                Body::Tick { .. } => self.tick_in_flight = false,
                Body::Expire { keys } => self.forget_expiring(p.entry.db, keys),
                Body::Evict { .. } => self.evict_resolved(&p.entry),
                _ => {}
            }
            if p.spec.is_some_and(|spec| spec.flags & flag::BLOCKING != 0) {
                self.attempt_refused((lane, p.order));
            }
            if let (Some(tx), Some(error)) = (p.reply, p.failed) {
                let out = if error.starts_with("ERR ") {
                    Reply::error(error)
                } else {
                    misconf(&error)
                };
                self.reply_in_order(lane, p.order, tx, out);
            }
        }
    }

    /// An Expire entry was resolved (applied or failed): its keys may be reported again.
    fn forget_expiring(&mut self, db: u32, keys: &[Bytes]) {
        for key in keys {
            self.expiring.remove(&(db as usize, key.clone()));
        }
    }

    /// Lazy expiry: keys a read found expired are removed through the log, as Redis removes
    /// a key its reads find expired. Later commands wait behind the entry like any write.
    fn expire_seen(&mut self) {
        let seen = self.engine.take_seen_expired();
        // CLIENT PAUSE: expired keys stay (invisible) until the pause ends, as in Redis.
        if seen.is_empty() || self.shared.pause.active() {
            return;
        }
        for (db, keys) in seen {
            let keys: Vec<Bytes> = keys
                .into_iter()
                .map(Bytes::from)
                .filter(|k| self.expiring.insert((db, k.clone())))
                .collect();
            if !keys.is_empty() {
                self.issue(Body::Expire { keys }, db, None, None, 0);
            }
        }
    }

    /// CAIRN.SYNC: replies now if `token` is applied, else once a log barrier (which covers
    /// every position handed out before it) has been applied.
    pub fn sync_to(&mut self, token: Seq, lane: usize, reply: &ReplyTx) -> Option<Reply> {
        if token <= self.durable_seq || !self.shared_log {
            return Some(self.sync_reply(token));
        }
        let barrier = self.request_barrier();
        let waiter = Waiter {
            issued: Mark::Lane(self.issued[lane] + self.queued_writes[lane]),
            barrier,
            barrier_seq: None,
            order: self.running_order,
            w: Waiting::Sync {
                token,
                reply: reply.clone(),
            },
        };
        self.enqueue(lane, waiter);
        None
    }

    fn sync_reply(&self, token: Seq) -> Reply {
        if token <= self.durable_seq {
            Reply::ok()
        } else {
            Reply::error_static("ERR sync token is ahead of the log")
        }
    }

    pub fn log(&self) -> &dyn Log {
        &*self.log
    }

    /// True when writes are queued or in flight (SHUTDOWN waits for them).
    pub fn writes_in_flight(&self) -> bool {
        self.resolved.iter().zip(&self.issued).any(|(r, i)| r < i)
    }
}

/// The log returned a record this node cannot read back: a bug or on-disk damage that
/// slipped past the checksums. Serving on would diverge from the log, so stop loudly.
fn undecodable(seq: Seq, error: &cairn_engine::entry::EntryError) -> ! {
    tracing::error!(seq, "undecodable log record: {error}");
    std::process::abort();
}

/// The MISCONF error a write gets when the log cannot make it durable.
pub fn misconf(error: &str) -> Reply {
    Reply::error(format!(
        "MISCONF Errors writing to the log: {error}. Commands that may modify the data set are disabled until the log is writable again."
    ))
}

/// Applies log records in order; returns the position of the last one and how many there were.
pub(super) fn replay(
    engine: &mut Engine,
    records: impl Iterator<Item = Result<LogRecord, LogError>>,
) -> Result<(Option<Seq>, u64), String> {
    let (mut last, mut count) = (None, 0);
    for record in records {
        let record = record.map_err(|e| e.to_string())?;
        let mut entry = Entry::decode(&record.bytes)
            .map_err(|e| format!("log record {} cannot be decoded: {e}", record.seq))?;
        if let Some(t) = record.time_ms {
            entry.time_ms = t;
        }
        engine.apply_logged(&entry);
        (last, count) = (Some(record.seq), count + 1);
    }
    Ok((last, count))
}
