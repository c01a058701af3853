//! The shared log on NATS JetStream: many stateless nodes append to one replicated stream and
//! each applies all of it, in stream order.
//!
//! * One stream per database, `CAIRN_<database>`, subjects `cairn.<database>.log` (entries) and
//!   `cairn.<database>.ctl` (read barriers), R`replicas`, file storage, `discard: new` and no
//!   limits (a limit must never drop entries under the state machine), `deny_delete`.
//! * Group commit: one message carries every record queued since the previous message
//!   (`u8 version | (u32 len, bytes)*`). At most one message is in flight per node, so one
//!   node's records reach the stream in the order it issued them; the engine's writer filter
//!   relies on that. A message is retried with the same `Nats-Msg-Id` until it is acknowledged
//!   (a timed-out publish may well have been stored; JetStream answers the retry with the
//!   original sequence). Only a definite rejection (too large, refused by the server) is
//!   reported failed.
//! * Every node follows the stream with its own ordered consumer, checks that sequences are
//!   contiguous, and hands each message to the sink with its stream sequence (the log
//!   position) and the leader's timestamp (the entries' time).
//! * Read barrier: strict mode appends an empty message to the control subject and uses its
//!   acknowledged sequence (a Raft round trip: linearizable even across leader changes);
//!   leader mode asks the stream leader for its last sequence (cheaper, but a deposed leader
//!   that has not noticed yet can answer with a stale one).
//! * Snapshots go to the object store `CAIRN_<database>_snapshots`; the key `snapshot` of the
//!   KV bucket `CAIRN_<database>_meta` points at the newest and only moves forward
//!   (compare-and-swap on its revision). Once it has moved, the stream is purged below the
//!   previous snapshot, so a node restoring the newest one always finds its tail.
//!
//! The client runs on a runtime of its own (one worker thread); the node talks to it through
//! channels and the [`LogSink`], as with the file log.

use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, context::PublishErrorKind, stream};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{Log, LogError, LogSink, LogStats, Seq};

/// Version byte of a message's payload.
pub const PAYLOAD_VERSION: u8 = 1;
/// Room left in a message for the headers (`Nats-Msg-Id`) and the payload's own framing.
const HEADER_ROOM: usize = 256;
/// How often the lease holder renews the housekeeping lease, and others look at it.
const LEASE_INTERVAL: Duration = Duration::from_secs(1);
/// A lease not renewed for this long (by the observer's clock) may be taken over.
const LEASE_TIMEOUT_MS: u64 = 5_000;
/// How often a node refreshes its entry in the membership bucket.
const MEMBER_INTERVAL: Duration = Duration::from_secs(1);
/// A member entry not refreshed for this long expires.
const MEMBER_TTL: Duration = Duration::from_secs(10);
/// Longest wait between retries of a message or a barrier.
const BACKOFF_MAX: Duration = Duration::from_millis(250);
/// A follower that received nothing for this long checks whether the stream has moved on:
/// at once against what this node's own appends and barriers were acknowledged with, and
/// every `FOLLOW_REMOTE_CHECK` against the stream leader.
const FOLLOW_IDLE_CHECK: Duration = Duration::from_millis(200);
const FOLLOW_REMOTE_CHECK: Duration = Duration::from_secs(1);

/// How a read barrier is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BarrierMode {
    /// An empty message appended to the control subject: its acknowledged sequence.
    #[default]
    Strict,
    /// The stream leader's last sequence (`STREAM.INFO`).
    Leader,
}

/// Configuration of the JetStream log.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    /// NATS server URLs (`nats://host:port`, `tls://host:port`).
    pub urls: Vec<String>,
    /// Database name: names the stream, its subjects and buckets (`[A-Za-z0-9_-]+`).
    pub database: String,
    /// Stream replicas (R3 on a three-server cluster).
    pub replicas: usize,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// A NATS `.creds` file (JWT + nkey seed).
    pub creds_file: Option<PathBuf>,
    /// CA certificate (PEM) that signs the NATS servers' certificates.
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for servers that verify clients.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// Refuse plain-text connections.
    pub tls_required: bool,
    /// This node's incarnation: names its messages (`Nats-Msg-Id: <writer>.<n>`; publisher
    /// `p` names them `writer_id + p`).
    pub writer_id: u64,
    /// Independent publishers, one message in flight each; the node's write lanes are spread
    /// over them (`lane % publishers`), so each lane's records stay in order.
    pub publishers: usize,
    pub barrier: BarrierMode,
    /// How long a publish waits for its acknowledgement before it is retried.
    pub ack_timeout: Duration,
    /// The stream's duplicate window (new streams only).
    pub duplicate_window: Duration,
    /// How long opening waits for the servers and the stream.
    pub connect_timeout: Duration,
    /// The address clients reach this node at, published in the membership bucket.
    pub advertise: String,
}

impl JetStreamConfig {
    pub fn new(urls: Vec<String>, database: impl Into<String>) -> Self {
        JetStreamConfig {
            urls,
            database: database.into(),
            replicas: 3,
            user: None,
            password: None,
            token: None,
            creds_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_required: false,
            writer_id: 1,
            publishers: 1,
            barrier: BarrierMode::Strict,
            ack_timeout: Duration::from_secs(1),
            duplicate_window: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            advertise: String::new(),
        }
    }

    fn stream_name(&self) -> String {
        format!("CAIRN_{}", self.database)
    }
}

/// Encodes records as one message payload.
pub fn encode_batch(records: &[Bytes]) -> Bytes {
    let len = 1 + records.iter().map(|r| 4 + r.len()).sum::<usize>();
    let mut out = BytesMut::with_capacity(len);
    out.put_u8(PAYLOAD_VERSION);
    for r in records {
        out.put_u32_le(r.len() as u32);
        out.put_slice(r);
    }
    out.freeze()
}

/// Splits a message payload into its records.
pub fn decode_batch(payload: &Bytes) -> Result<Vec<Bytes>, String> {
    let Some((&version, _)) = payload.split_first() else {
        return Ok(Vec::new());
    };
    if version != PAYLOAD_VERSION {
        return Err(format!("unknown message version {version}"));
    }
    let mut records = Vec::new();
    let mut pos = 1;
    while pos < payload.len() {
        let header = payload.get(pos..pos + 4).ok_or("truncated record header")?;
        let len = u32::from_le_bytes(header.try_into().expect("4 bytes")) as usize;
        let end = (pos + 4)
            .checked_add(len)
            .filter(|&e| e <= payload.len())
            .ok_or("truncated record")?;
        records.push(payload.slice(pos + 4..end));
        pos = end;
    }
    Ok(records)
}

fn nats(context: &str, e: impl std::fmt::Display) -> LogError {
    LogError::Nats(format!("{context}: {e}"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection to the cluster and the names of this database's stream and buckets.
struct Conn {
    client: async_nats::Client,
    js: jetstream::Context,
    stream: String,
    log_subject: String,
    ctl_subject: String,
    /// Core NATS subject (not in the stream) carrying pub/sub messages between nodes.
    pubsub_subject: String,
    config: JetStreamConfig,
}

impl Conn {
    async fn connect(config: JetStreamConfig) -> Result<Conn, LogError> {
        let db = &config.database;
        if db.is_empty()
            || !db
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(LogError::Config(format!(
                "database name {db:?} must be letters, digits, '_' or '-'"
            )));
        }
        let urls = config.urls.join(",");
        let addrs = config
            .urls
            .iter()
            .map(|u| u.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LogError::Config(format!("bad NATS URL in {urls}: {e}")))?;
        // Servers that are not up yet are waited for (until connect_timeout); refused
        // credentials or a TLS failure end the attempt at once.
        let deadline = tokio::time::Instant::now() + config.connect_timeout;
        let client = loop {
            let options = Conn::options(&config).await?;
            match options.connect(addrs.clone()).await {
                Ok(client) => break client,
                Err(e) => {
                    use async_nats::ConnectErrorKind as K;
                    let fatal = matches!(
                        e.kind(),
                        K::Authentication | K::AuthorizationViolation | K::Tls | K::ServerParse
                    );
                    if fatal || tokio::time::Instant::now() >= deadline {
                        return Err(nats(&format!("connecting to {urls}"), e));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        let js = jetstream::ContextBuilder::new()
            .timeout(config.ack_timeout)
            .build(client.clone());
        Ok(Conn {
            client,
            js,
            stream: config.stream_name(),
            log_subject: format!("cairn.{db}.log"),
            ctl_subject: format!("cairn.{db}.ctl"),
            pubsub_subject: format!("cairn.{db}.pubsub"),
            config,
        })
    }

    async fn options(config: &JetStreamConfig) -> Result<async_nats::ConnectOptions, LogError> {
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("cairn-{:016x}", config.writer_id))
            .connection_timeout(config.connect_timeout)
            .require_tls(config.tls_required);
        if let (Some(user), Some(password)) = (&config.user, &config.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &config.token {
            options = options.token(token.clone());
        }
        if let Some(path) = &config.creds_file {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| nats(&format!("reading {}", path.display()), e))?;
        }
        if let Some(ca) = &config.tls_ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options)
    }

    fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![self.log_subject.clone(), self.ctl_subject.clone()],
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            num_replicas: self.config.replicas,
            duplicate_window: self.config.duplicate_window,
            deny_delete: true,
            deny_purge: false,
            allow_direct: true,
            description: Some("Cairn log".into()),
            ..Default::default()
        }
    }

    /// The stream, created if missing; retried until `connect_timeout` while the cluster
    /// elects its leaders.
    async fn ensure_stream(&self) -> Result<stream::Stream, LogError> {
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        loop {
            match self.js.get_or_create_stream(self.stream_config()).await {
                Ok(s) => return Ok(s),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(nats(&format!("opening stream {}", self.stream), e));
                }
                Err(e) => {
                    warn!(stream = %self.stream, "waiting for the stream: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    async fn stream(&self) -> Result<stream::Stream<()>, LogError> {
        self.js
            .get_stream_no_info(&self.stream)
            .await
            .map_err(|e| nats("stream", e))
    }

    async fn snapshots(&self) -> Result<jetstream::object_store::ObjectStore, LogError> {
        let bucket = format!("{}_snapshots", self.stream);
        if let Ok(store) = self.js.get_object_store(&bucket).await {
            return Ok(store);
        }
        let config = jetstream::object_store::Config {
            bucket: bucket.clone(),
            num_replicas: self.config.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        match self.js.create_object_store(config).await {
            Ok(store) => Ok(store),
            Err(_) => self
                .js
                .get_object_store(&bucket)
                .await
                .map_err(|e| nats("snapshot bucket", e)),
        }
    }

    /// The KV bucket holding the snapshot pointer.
    async fn meta(&self) -> Result<jetstream::kv::Store, LogError> {
        self.kv_bucket("meta", Duration::ZERO, stream::StorageType::File)
            .await
    }

    /// The KV bucket where live nodes publish themselves (entries expire unless refreshed).
    async fn members(&self) -> Result<jetstream::kv::Store, LogError> {
        self.kv_bucket("members", MEMBER_TTL, stream::StorageType::Memory)
            .await
    }

    /// The KV bucket `<stream>_<name>`, created if missing (another node may win the race).
    async fn kv_bucket(
        &self,
        name: &str,
        max_age: Duration,
        storage: stream::StorageType,
    ) -> Result<jetstream::kv::Store, LogError> {
        let bucket = format!("{}_{name}", self.stream);
        if let Ok(kv) = self.js.get_key_value(&bucket).await {
            return Ok(kv);
        }
        let config = jetstream::kv::Config {
            bucket: bucket.clone(),
            history: 1,
            max_age,
            num_replicas: self.config.replicas,
            storage,
            ..Default::default()
        };
        match self.js.create_key_value(config).await {
            Ok(kv) => Ok(kv),
            Err(_) => self
                .js
                .get_key_value(&bucket)
                .await
                .map_err(|e| nats(&format!("bucket {bucket}"), e)),
        }
    }

    /// The stream's last sequence, as its leader sees it.
    async fn last_seq(&self) -> Result<Seq, LogError> {
        let info = self
            .stream()
            .await?
            .get_info()
            .await
            .map_err(|e| nats("stream info", e))?;
        Ok(info.state.last_sequence)
    }

    /// One read barrier.
    async fn barrier(&self) -> Result<Seq, String> {
        match self.config.barrier {
            BarrierMode::Strict => {
                let ack = self
                    .js
                    .publish(self.ctl_subject.clone(), Bytes::new())
                    .await
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(ack.sequence)
            }
            BarrierMode::Leader => self.last_seq().await.map_err(|e| e.to_string()),
        }
    }

    /// Publishes one message; `Err((definite, text))`: `definite` means the server refused it.
    async fn publish(&self, id: &str, payload: Bytes) -> Result<Seq, (bool, String)> {
        let message = jetstream::message::PublishMessage::build()
            .payload(payload)
            .message_id(id);
        let ack = match self
            .js
            .send_publish(self.log_subject.clone(), message)
            .await
        {
            Ok(future) => future.await,
            Err(e) => Err(e),
        };
        ack.map(|a| a.sequence).map_err(|e| {
            let refused = e.kind() == PublishErrorKind::MaxPayloadExceeded
                || (e.kind() == PublishErrorKind::Other
                    && std::error::Error::source(&e)
                        .is_some_and(|s| s.downcast_ref::<jetstream::Error>().is_some()));
            (refused, e.to_string())
        })
    }

    /// An ordered consumer delivering every message from `from` on. While the cluster elects
    /// (a NATS server just died) creating one times out: retried until `connect_timeout`, as
    /// opening the log is, so a node starting then waits instead of exiting.
    async fn consumer(&self, from: Seq) -> Result<consumer::pull::Ordered, LogError> {
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        let consumer = loop {
            let attempt = async {
                self.stream()
                    .await?
                    .create_consumer(consumer::pull::OrderedConfig {
                        deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                            start_sequence: from.max(1),
                        },
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| nats("creating a consumer", e))
            };
            match attempt.await {
                Ok(consumer) => break consumer,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(e) => {
                    warn!("creating a consumer, will retry: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        };
        consumer
            .messages()
            .await
            .map_err(|e| nats("consuming the stream", e))
    }
}

/// One message of the stream, as the follower delivers it.
#[derive(Debug, Clone)]
pub struct Message {
    /// Stream sequence: the log position once this message is applied.
    pub seq: Seq,
    /// The leader's timestamp, in milliseconds since the epoch.
    pub time_ms: u64,
    /// The entries it carries (none for a barrier).
    pub records: Vec<Bytes>,
}

/// Checks contiguity and decodes one delivered message: `Ok(None)` for a copy already seen.
fn accept(
    message: &jetstream::Message,
    expected: &mut Seq,
    ctl_subject: &str,
) -> Result<Option<Message>, LogError> {
    let info = message.info().map_err(|e| nats("message info", e))?;
    let seq = info.stream_sequence;
    if seq < *expected {
        return Ok(None);
    }
    if seq > *expected {
        return Err(LogError::Missing {
            from: *expected,
            upto: seq - 1,
            reason: "not in the stream (purged below a newer snapshot)".into(),
        });
    }
    let time_ms = (info.published.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    *expected = seq + 1;
    let records = if message.subject.as_str() == ctl_subject {
        Vec::new()
    } else {
        decode_batch(&message.payload).map_err(|reason| LogError::Missing {
            from: seq,
            upto: seq,
            reason: format!("undecodable message: {reason}"),
        })?
    };
    Ok(Some(Message {
        seq,
        time_ms,
        records,
    }))
}

/// Reads messages `from..=upto` into `tx` (stops early if the receiver goes away).
async fn read_range(
    conn: &Conn,
    from: Seq,
    upto: Seq,
    tx: &std_mpsc::SyncSender<Result<Message, LogError>>,
) {
    if upto < from {
        return;
    }
    let mut expected = from;
    let result: Result<(), LogError> = async {
        let mut messages = conn.consumer(from).await?;
        while expected <= upto {
            let Some(next) = messages.next().await else {
                return Err(nats("reading the stream", "consumer ended"));
            };
            let next = next.map_err(|e| nats("reading the stream", e))?;
            if let Some(m) = accept(&next, &mut expected, &conn.ctl_subject)?
                && tx.send(Ok(m)).is_err()
            {
                return Ok(());
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = tx.send(Err(e));
    }
}

/// The runtime the client lives on.
struct Runtime {
    /// Always `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
}

/// Dropped from anywhere, the core's runtime included: stops without waiting.
impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Runtime {
    fn new() -> Result<Runtime, LogError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cairn-nats")
            .enable_all()
            .build()
            .map_err(|e| nats("starting the NATS client runtime", e))?;
        Ok(Runtime { rt: Some(rt) })
    }

    fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        drop(self.handle().spawn(fut));
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.rt
            .as_ref()
            .expect("runtime present until dropped")
            .handle()
    }

    /// Runs `fut` on the client's runtime and waits for it, from any thread (including
    /// another runtime's).
    fn block<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = T> + Send + 'static,
    ) -> T {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().expect("the NATS runtime ran the task")
    }
}

/// What a node loads before it serves: the newest snapshot and the messages after it, up to
/// the stream's last sequence when the log was opened.
pub struct JetStreamRecovery {
    pub snapshot: Option<(Seq, Vec<u8>)>,
    /// The stream's last sequence when opened; the follower starts after it.
    pub last_seq: Seq,
    messages: std_mpsc::Receiver<Result<Message, LogError>>,
}

impl JetStreamRecovery {
    /// The messages after the snapshot, in order.
    pub fn messages(&self) -> impl Iterator<Item = Result<Message, LogError>> + '_ {
        self.messages.iter()
    }
}

/// An opened JetStream log: connected, the stream ensured; not yet following it.
pub struct JetStreamLog {
    runtime: Arc<Runtime>,
    conn: Arc<Conn>,
    last_seq: Seq,
}

impl JetStreamLog {
    /// Connects, ensures the stream, loads the newest snapshot and starts reading the
    /// messages after it (up to the stream's current last sequence).
    pub fn open(config: JetStreamConfig) -> Result<(JetStreamLog, JetStreamRecovery), LogError> {
        let runtime = Arc::new(Runtime::new()?);
        let conn = Arc::new(runtime.block(Conn::connect(config))?);
        let c = conn.clone();
        let (snapshot, last_seq, first_seq) = runtime.block(async move {
            // Right after the cluster starts (or a bucket is created) its streams may still
            // be electing leaders: retry until connect_timeout.
            let deadline = tokio::time::Instant::now() + c.config.connect_timeout;
            loop {
                let attempt = async {
                    let stream = c.ensure_stream().await?;
                    let info = stream.cached_info().clone();
                    let snapshot = latest_snapshot(&c).await?;
                    let last = c.last_seq().await?;
                    Ok::<_, LogError>((snapshot, last, info.state.first_sequence))
                };
                match attempt.await {
                    Ok(opened) => return Ok(opened),
                    Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                    Err(e) => {
                        warn!("opening the log, will retry: {e}");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
        })?;
        let base = snapshot.as_ref().map_or(0, |s| s.0);
        if base + 1 < first_seq && last_seq >= first_seq {
            return Err(LogError::Missing {
                from: base + 1,
                upto: first_seq - 1,
                reason: "purged from the stream and not covered by a snapshot".into(),
            });
        }
        info!(
            stream = %conn.stream,
            snapshot_seq = base,
            last_seq,
            "opened the JetStream log"
        );
        let (tx, rx) = std_mpsc::sync_channel(1024);
        let c = conn.clone();
        runtime.spawn(async move { read_range(&c, base + 1, last_seq, &tx).await });
        let log = JetStreamLog {
            runtime,
            conn,
            last_seq,
        };
        let recovery = JetStreamRecovery {
            snapshot,
            last_seq,
            messages: rx,
        };
        Ok((log, recovery))
    }

    /// Starts publishing appends and following the stream from `applied + 1`; outcomes,
    /// messages and barriers go to `sink`. `snapshot_seq` (what the node loaded) is published
    /// with its membership entry.
    pub fn start(self, sink: Box<dyn LogSink>, applied: Seq, snapshot_seq: Seq) -> JetStreamHandle {
        let sink: Arc<Mutex<Box<dyn LogSink>>> = Arc::new(Mutex::new(sink));
        let stats = Arc::new(Mutex::new(LogStats {
            durable_seq: applied,
            appended_seq: self.last_seq,
            ..LogStats::default()
        }));
        let (barrier_tx, barrier_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let rt = self.runtime.handle();
        let (mut append_tx, mut publishers) = (Vec::new(), Vec::new());
        for publisher in 0..self.conn.config.publishers.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            append_tx.push(tx);
            publishers.push(rt.spawn(publish_loop(
                self.conn.clone(),
                publisher,
                rx,
                sink.clone(),
                stats.clone(),
            )));
        }
        rt.spawn(barrier_loop(
            self.conn.clone(),
            barrier_rx,
            sink.clone(),
            stats.clone(),
            stop_rx.clone(),
        ));
        rt.spawn(follow_loop(
            self.conn.clone(),
            applied + 1,
            sink.clone(),
            stats.clone(),
            stop_rx.clone(),
        ));
        rt.spawn(member_loop(
            self.conn.clone(),
            stats.clone(),
            snapshot_seq,
            stop_rx.clone(),
        ));
        let (broadcast_tx, broadcast_rx) = mpsc::unbounded_channel();
        rt.spawn(broadcast_loop(self.conn.clone(), broadcast_rx));
        rt.spawn(listen_loop(
            self.conn.clone(),
            sink.clone(),
            stop_rx.clone(),
        ));
        rt.spawn(lease_loop(self.conn.clone(), sink, stop_rx));
        JetStreamHandle {
            inner: Arc::new(HandleInner {
                runtime: self.runtime,
                conn: self.conn,
                append_tx: Mutex::new(Some(append_tx)),
                barrier_tx,
                broadcast_tx,
                stop_tx,
                publishers: Mutex::new(publishers),
                stats,
            }),
        }
    }
}

/// Sends one publisher's queued records as messages, one in flight, retrying each until
/// acknowledged.
async fn publish_loop(
    conn: Arc<Conn>,
    publisher: usize,
    mut rx: mpsc::UnboundedReceiver<Vec<Bytes>>,
    sink: Arc<Mutex<Box<dyn LogSink>>>,
    stats: Arc<Mutex<LogStats>>,
) {
    let max_payload = conn.client.server_info().max_payload.max(4096);
    let budget = max_payload - HEADER_ROOM;
    let mut queue = std::collections::VecDeque::new();
    let mut counter = 0u64;
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(records) => queue.extend(records),
                None => return,
            }
        }
        while let Ok(records) = rx.try_recv() {
            queue.extend(records);
        }
        let (mut batch, mut size, mut too_large) = (Vec::new(), 1, Vec::new());
        while let Some(record) = queue.front() {
            let need = 4 + record.len();
            if 1 + need > budget {
                too_large.extend(queue.pop_front());
                continue;
            }
            if size + need > budget {
                break;
            }
            size += need;
            batch.extend(queue.pop_front());
        }
        if !too_large.is_empty() {
            let error = format!(
                "ERR entry too large for the log: the NATS servers' max_payload is {max_payload} bytes"
            );
            lock(&stats).records_failed += too_large.len() as u64;
            lock(&sink).failed(too_large, error);
        }
        if batch.is_empty() {
            continue;
        }
        counter += 1;
        let id = format!(
            "{:016x}.{counter}",
            conn.config.writer_id + publisher as u64
        );
        let payload = encode_batch(&batch);
        let mut backoff = Duration::from_millis(10);
        loop {
            match conn.publish(&id, payload.clone()).await {
                Ok(seq) => {
                    let mut s = lock(&stats);
                    s.appended_seq = s.appended_seq.max(seq);
                    s.bytes_written += payload.len() as u64;
                    s.failed = false;
                    break;
                }
                Err((true, error)) => {
                    warn!(message = %id, "the stream refused a message: {error}");
                    {
                        let mut s = lock(&stats);
                        s.records_failed += batch.len() as u64;
                        s.last_error = Some(error.clone());
                    }
                    lock(&sink).failed(batch, format!("ERR the log refused the entry: {error}"));
                    break;
                }
                Err((false, error)) => {
                    warn!(message = %id, "publishing, will retry: {error}");
                    {
                        let mut s = lock(&stats);
                        s.failed = true;
                        s.last_error = Some(error);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }
}

/// Answers barrier requests; requests that arrive while one is in flight share the next.
async fn barrier_loop(
    conn: Arc<Conn>,
    mut rx: mpsc::UnboundedReceiver<()>,
    sink: Arc<Mutex<Box<dyn LogSink>>>,
    stats: Arc<Mutex<LogStats>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while rx.recv().await.is_some() {
        while rx.try_recv().is_ok() {}
        let mut backoff = Duration::from_millis(10);
        let seq = loop {
            tokio::select! {
                result = conn.barrier() => match result {
                    Ok(seq) => break seq,
                    Err(e) => warn!("read barrier, will retry: {e}"),
                },
                _ = stop.changed() => return,
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        };
        {
            let mut s = lock(&stats);
            s.appended_seq = s.appended_seq.max(seq);
        }
        lock(&sink).barrier(seq);
    }
}

/// Follows the stream from `next`, handing every message to the sink in order.
async fn follow_loop(
    conn: Arc<Conn>,
    mut next: Seq,
    sink: Arc<Mutex<Box<dyn LogSink>>>,
    stats: Arc<Mutex<LogStats>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let mut messages = match conn.consumer(next).await {
            Ok(m) => m,
            Err(e) => {
                warn!("following the stream, will retry: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        let mut last_remote_check = tokio::time::Instant::now();
        loop {
            let item = tokio::select! {
                item = tokio::time::timeout(FOLLOW_IDLE_CHECK, messages.next()) => item,
                _ = stop.changed() => return,
            };
            let Ok(item) = item else {
                // Quiet for a while: fine if the stream is quiet too. Otherwise the consumer is
                // stuck (its server went away and it was not recreated): make a new one.
                let mut last = lock(&stats).appended_seq;
                if last < next && last_remote_check.elapsed() >= FOLLOW_REMOTE_CHECK {
                    last_remote_check = tokio::time::Instant::now();
                    last = conn.last_seq().await.unwrap_or(0);
                }
                if last >= next {
                    warn!(next, last, "the stream consumer stalled; recreating it");
                    break;
                }
                continue;
            };
            let message = match item {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    warn!("following the stream, resuming at {next}: {e}");
                    break;
                }
                None => break,
            };
            match accept(&message, &mut next, &conn.ctl_subject) {
                Ok(Some(m)) => {
                    {
                        let mut s = lock(&stats);
                        s.durable_seq = m.seq;
                        s.records_durable += m.records.len() as u64;
                    }
                    lock(&sink).delivered(m.seq, m.time_ms, m.records);
                }
                Ok(None) => {}
                Err(e) => {
                    lock(&sink).lost(e.to_string());
                    return;
                }
            }
        }
    }
}

/// Keeps this node's entry in the membership bucket fresh; removes it on stop.
async fn member_loop(
    conn: Arc<Conn>,
    stats: Arc<Mutex<LogStats>>,
    snapshot_seq: Seq,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let key = format!("{:016x}", conn.config.writer_id);
    let started_ms = unix_ms();
    let mut members = None;
    loop {
        if members.is_none() {
            members = conn.members().await.ok();
        }
        if let Some(kv) = &members {
            let info = conn.client.server_info();
            let value = format!(
                "addr={}\napplied={}\nsnapshot={snapshot_seq}\nserver={}\nstarted_ms={started_ms}\nupdated_ms={}\n",
                conn.config.advertise,
                lock(&stats).durable_seq,
                info.server_name,
                unix_ms()
            );
            if let Err(e) = kv.put(&key, value.into()).await {
                tracing::debug!("refreshing the membership entry: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(MEMBER_INTERVAL) => {}
            _ = stop.changed() => {
                if let Some(kv) = &members {
                    let _ = kv.delete(&key).await;
                }
                return;
            }
        }
    }
}

/// Holds or watches the housekeeping lease: the key `lease` of the meta bucket, value
/// Publishes this node's pub/sub messages on the pub/sub subject, in order, each prefixed
/// with the node's writer id (so the node skips its own). Core NATS: at most once, as Redis
/// pub/sub is.
async fn broadcast_loop(conn: Arc<Conn>, mut rx: mpsc::UnboundedReceiver<Bytes>) {
    let me = conn.config.writer_id.to_le_bytes();
    while let Some(message) = rx.recv().await {
        let mut payload = Vec::with_capacity(8 + message.len());
        payload.extend_from_slice(&me);
        payload.extend_from_slice(&message);
        if let Err(e) = conn
            .client
            .publish(conn.pubsub_subject.clone(), payload.into())
            .await
        {
            warn!("broadcasting a pub/sub message: {e}");
        }
    }
}

/// Delivers the other nodes' pub/sub messages to the sink.
async fn listen_loop(
    conn: Arc<Conn>,
    sink: Arc<Mutex<Box<dyn LogSink>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let me = conn.config.writer_id.to_le_bytes();
    let mut subscription = loop {
        match conn.client.subscribe(conn.pubsub_subject.clone()).await {
            Ok(s) => break s,
            Err(e) => {
                warn!("subscribing to pub/sub messages, will retry: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    loop {
        tokio::select! {
            message = subscription.next() => {
                let Some(message) = message else { return };
                let payload = message.payload;
                if payload.len() >= 8 && payload[..8] != me {
                    lock(&sink).broadcast(payload.slice(8..));
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// `<holder> <epoch> <renewed_ms>`, changed only by compare-and-swap on its revision. A node
/// that takes it (free, or not renewed for `LEASE_TIMEOUT_MS`) tells the sink, which appends
/// the Lease entry that fences the previous holder off through the log.
async fn lease_loop(
    conn: Arc<Conn>,
    sink: Arc<Mutex<Box<dyn LogSink>>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let me = format!("{:016x}", conn.config.writer_id);
    let mut kv = None;
    loop {
        if kv.is_none() {
            kv = conn.meta().await.ok();
        }
        if let Some(kv) = &kv {
            match try_lease(kv, &me).await {
                Ok(Some(epoch)) => {
                    info!(epoch, "took the housekeeping lease");
                    lock(&sink).lease(epoch);
                }
                Ok(None) => {}
                Err(e) => tracing::debug!("housekeeping lease: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(LEASE_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One round of the lease: renews it if held, takes it if free or expired. `Some(epoch)`
/// when newly taken.
async fn try_lease(kv: &jetstream::kv::Store, me: &str) -> Result<Option<u64>, String> {
    let value = |epoch: u64| Bytes::from(format!("{me} {epoch} {}", unix_ms()));
    let Some(entry) = kv.entry("lease").await.map_err(|e| e.to_string())? else {
        return match kv.create("lease", value(1)).await {
            Ok(_) => Ok(Some(1)),
            Err(_) => Ok(None),
        };
    };
    let text = String::from_utf8_lossy(&entry.value).into_owned();
    let mut words = text.split(' ');
    let holder = words.next().unwrap_or("");
    let epoch: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let renewed: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    if holder == me {
        kv.update("lease", value(epoch), entry.revision)
            .await
            .map_err(|e| e.to_string())?;
        return Ok(None);
    }
    if unix_ms().saturating_sub(renewed) < LEASE_TIMEOUT_MS {
        return Ok(None);
    }
    match kv.update("lease", value(epoch + 1), entry.revision).await {
        Ok(_) => Ok(Some(epoch + 1)),
        Err(_) => Ok(None),
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `cairn cluster status`: the stream, its replicas, the snapshot pointer and every live node
/// with the position it has applied and its lag.
pub fn cluster_status(config: JetStreamConfig) -> Result<String, LogError> {
    let runtime = Runtime::new()?;
    runtime.block(async move {
        let conn = Conn::connect(config).await?;
        let info = conn
            .stream()
            .await?
            .get_info()
            .await
            .map_err(|e| nats(&format!("stream {}", conn.stream), e))?;
        let last = info.state.last_sequence;
        let mut out = format!(
            "stream {}: seq {}..{} ({} messages, {} bytes), R{}\n",
            conn.stream,
            info.state.first_sequence,
            last,
            info.state.messages,
            info.state.bytes,
            info.config.num_replicas
        );
        if let Some(cluster) = &info.cluster {
            out.push_str(&format!(
                "  leader {}\n",
                cluster.leader.as_deref().unwrap_or("(none)")
            ));
            for peer in &cluster.replicas {
                out.push_str(&format!(
                    "  replica {} current={} lag={}\n",
                    peer.name,
                    peer.current,
                    peer.lag.unwrap_or(0)
                ));
            }
        }
        let snapshot = match conn.meta().await?.get("snapshot").await {
            Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
            _ => "none".into(),
        };
        out.push_str(&format!("snapshot at seq {snapshot}\n"));
        let kv = conn.members().await?;
        let mut keys: Vec<String> = kv
            .keys()
            .await
            .map_err(|e| nats("members", e))?
            .filter_map(|k| async move { k.ok() })
            .collect()
            .await;
        keys.sort();
        out.push_str(&format!(
            "{:<18} {:<22} {:>10} {:>8} {:>10} {:<8} {:>8}\n",
            "node", "address", "applied", "lag", "snapshot", "nats", "seen"
        ));
        let now = unix_ms();
        for key in keys {
            let Ok(Some(value)) = kv.get(&key).await else {
                continue;
            };
            let text = String::from_utf8_lossy(&value);
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                    .unwrap_or("")
                    .to_string()
            };
            let applied: u64 = field("applied").parse().unwrap_or(0);
            let seen = now.saturating_sub(field("updated_ms").parse().unwrap_or(0));
            out.push_str(&format!(
                "{:<18} {:<22} {:>10} {:>8} {:>10} {:<8} {:>7}s\n",
                key,
                field("addr"),
                applied,
                last.saturating_sub(applied),
                field("snapshot"),
                field("server"),
                seen / 1000
            ));
        }
        Ok(out)
    })
}

async fn latest_snapshot(conn: &Conn) -> Result<Option<(Seq, Vec<u8>)>, LogError> {
    let kv = conn.meta().await?;
    let Some(value) = kv
        .get("snapshot")
        .await
        .map_err(|e| nats("snapshot pointer", e))?
    else {
        return Ok(None);
    };
    let seq = parse_seq(&value)?;
    let objects = conn.snapshots().await?;
    let mut object = objects
        .get(object_name(seq))
        .await
        .map_err(|e| nats(&format!("snapshot {seq}"), e))?;
    let mut compressed = Vec::new();
    object
        .read_to_end(&mut compressed)
        .await
        .map_err(|e| nats(&format!("reading snapshot {seq}"), e))?;
    let state = lz4_flex::decompress_size_prepended(&compressed)
        .map_err(|e| nats(&format!("snapshot {seq} is damaged"), e))?;
    Ok(Some((seq, state)))
}

fn object_name(seq: Seq) -> String {
    format!("{seq:020}")
}

fn parse_seq(value: &[u8]) -> Result<Seq, LogError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| nats("snapshot pointer", "not a sequence number"))
}

/// Stores a snapshot, moves the pointer forward (compare-and-swap), purges the stream below
/// the previous snapshot and deletes snapshots older than it.
async fn put_snapshot(conn: &Conn, seq: Seq, state: Vec<u8>) -> Result<(), LogError> {
    let kv = conn.meta().await?;
    if let Some(value) = kv
        .get("snapshot")
        .await
        .map_err(|e| nats("snapshot pointer", e))?
        && parse_seq(&value)? >= seq
    {
        // A snapshot at least as new is already stored.
        return Ok(());
    }
    let compressed = lz4_flex::compress_prepend_size(&state);
    let objects = conn.snapshots().await?;
    objects
        .put(object_name(seq).as_str(), &mut compressed.as_slice())
        .await
        .map_err(|e| nats(&format!("storing snapshot {seq}"), e))?;
    let value = Bytes::from(seq.to_string());
    let previous = loop {
        let entry = kv
            .entry("snapshot")
            .await
            .map_err(|e| nats("snapshot pointer", e))?;
        let (previous, result) = match entry {
            Some(e) => {
                let previous = parse_seq(&e.value)?;
                if previous >= seq {
                    // Another node got as far or further meanwhile.
                    if previous > seq {
                        let _ = objects.delete(object_name(seq)).await;
                    }
                    return Ok(());
                }
                let result = kv.update("snapshot", value.clone(), e.revision).await;
                (previous, result.map(|_| ()).map_err(|e| e.to_string()))
            }
            None => {
                let result = kv.create("snapshot", value.clone()).await;
                (0, result.map(|_| ()).map_err(|e| e.to_string()))
            }
        };
        match result {
            Ok(()) => break previous,
            // Lost a race with another node: read the pointer again.
            Err(e) => warn!(seq, "moving the snapshot pointer, will retry: {e}"),
        }
    };
    if previous > 0 {
        let stream = conn.stream().await?;
        stream
            .purge()
            .sequence(previous + 1)
            .await
            .map_err(|e| nats("purging the stream", e))?;
        let mut list = objects
            .list()
            .await
            .map_err(|e| nats("listing snapshots", e))?;
        while let Some(Ok(object)) = list.next().await {
            if object.name.parse::<Seq>().is_ok_and(|s| s < previous) {
                let _ = objects.delete(&object.name).await;
            }
        }
    }
    Ok(())
}

/// The running JetStream log. Cheap to clone.
#[derive(Clone)]
pub struct JetStreamHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    runtime: Arc<Runtime>,
    conn: Arc<Conn>,
    append_tx: Mutex<Option<Vec<mpsc::UnboundedSender<Vec<Bytes>>>>>,
    barrier_tx: mpsc::UnboundedSender<()>,
    /// Pub/sub messages to send to the other nodes, in order.
    broadcast_tx: mpsc::UnboundedSender<Bytes>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    publishers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    stats: Arc<Mutex<LogStats>>,
}

impl Log for JetStreamHandle {
    fn append(&self, records: Vec<Bytes>) {
        self.append_lane(0, records);
    }

    fn append_lane(&self, lane: usize, records: Vec<Bytes>) {
        let rejected = match lock(&self.inner.append_tx).as_ref() {
            Some(txs) => txs[lane % txs.len()].send(records).err().map(|e| e.0),
            None => Some(records),
        };
        if let Some(records) = rejected {
            warn!(records = records.len(), "append after the log closed");
        }
    }

    fn barrier(&self) -> bool {
        let _ = self.inner.barrier_tx.send(());
        true
    }

    fn broadcast(&self, message: Bytes) {
        let _ = self.inner.broadcast_tx.send(message);
    }

    fn stats(&self) -> LogStats {
        lock(&self.inner.stats).clone()
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let conn = &self.inner.conn;
        let info = conn.client.server_info();
        vec![
            ("log_stream", conn.stream.clone()),
            (
                "nats_connection",
                format!("{:?}", conn.client.connection_state()).to_lowercase(),
            ),
            (
                "nats_server",
                format!("{} {}:{}", info.server_name, info.host, info.port),
            ),
            ("nats_servers_known", info.connect_urls.join(",")),
            ("nats_urls", conn.config.urls.join(",")),
        ]
    }

    fn shutdown(&self) {
        let inner = &self.inner;
        drop(lock(&inner.append_tx).take());
        let publishers = std::mem::take(&mut *lock(&inner.publishers));
        if !publishers.is_empty() {
            // Queued messages get their ack timeout and a few retries to land.
            let wait = inner.conn.config.ack_timeout * 3;
            let _ = inner.runtime.block(async move {
                tokio::time::timeout(wait, futures_util::future::join_all(publishers)).await
            });
        }
        let _ = inner.stop_tx.send(true);
    }

    fn put_snapshot(&self, seq: Seq, state: &[u8]) -> Result<(), LogError> {
        let conn = self.inner.conn.clone();
        let state = state.to_vec();
        self.inner
            .runtime
            .block(async move { put_snapshot(&conn, seq, state).await })
    }

    fn latest_snapshot(&self) -> Result<Option<(Seq, Vec<u8>)>, LogError> {
        let conn = self.inner.conn.clone();
        self.inner
            .runtime
            .block(async move { latest_snapshot(&conn).await })
    }

    fn read_range(&self, after: Seq, upto: Seq) -> Result<crate::RecordStream, LogError> {
        let (tx, rx) = std_mpsc::sync_channel(1024);
        let conn = self.inner.conn.clone();
        self.inner
            .runtime
            .spawn(async move { read_range(&conn, after + 1, upto, &tx).await });
        Ok(Box::new(rx.into_iter().flat_map(|m| {
            match m {
                Ok(m) => m
                    .records
                    .into_iter()
                    .map(|r| {
                        Ok(crate::LogRecord {
                            seq: m.seq,
                            time_ms: Some(m.time_ms),
                            bytes: r,
                        })
                    })
                    .collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }
        })))
    }
}
