//! Configuration: defaults < TOML file (`--config`) < `CAIRN_*` environment < flags.
//!
//! Option names are Redis's where Redis has the option (`port`, `bind`, `dir`, `requirepass`,
//! `appendfsync`, `maxclients`, `timeout`, `databases`, `proto-max-bulk-len`,
//! `client-query-buffer-limit`, `client-output-buffer-limit`, `aclfile`, `protected-mode`,
//! `acllog-max-len`, `slowlog-*`, `latency-*`), with Redis's meaning. In the
//! TOML file they are written as in redis.conf (`port = 6380`, `appendfsync = "everysec"`).
//! TLS takes Redis's `tls-*` options (`TlsConfig`); `port 0` turns the plain listener off.

use std::path::PathBuf;

use cairn_engine::evict::Policy;

pub use crate::node::EvictionConfig;
use clap::Parser;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("bad value for '{name}': {message}")]
    Value { name: &'static str, message: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AppendFsync {
    /// fdatasync before every reply to a write (group commit): an acknowledged write survives a crash.
    Always,
    /// Reply after write(2) and fdatasync once per second: a crash may lose the last second.
    Everysec,
}

impl AppendFsync {
    pub fn name(self) -> &'static str {
        match self {
            AppendFsync::Always => "always",
            AppendFsync::Everysec => "everysec",
        }
    }
}

/// Where the log lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// Segment files in `dir`: one node.
    File,
    /// A NATS JetStream stream shared by every node of the database.
    Jetstream,
}

/// What a read waits for on a shared log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// A read reflects every write acknowledged anywhere before it arrived (a log barrier).
    Linearizable,
    /// A read runs on this node's state at once; it reflects the connection's own writes.
    Session,
}

/// How a linearizable read finds the log's tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ReadBarrier {
    /// Append an empty message and use its sequence (a quorum round trip).
    Strict,
    /// Ask the stream leader for its last sequence (cheaper; a deposed leader can be stale).
    Leader,
}

/// Whether TLS clients must present a certificate signed by `tls-ca-cert-file`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TlsAuthClients {
    /// A client without a valid certificate fails the handshake (Redis's default).
    Yes,
    /// Clients are not asked for a certificate.
    No,
    /// A certificate is asked for and verified if sent; a client may send none.
    Optional,
}

impl TlsAuthClients {
    pub fn name(self) -> &'static str {
        match self {
            TlsAuthClients::Yes => "yes",
            TlsAuthClients::No => "no",
            TlsAuthClients::Optional => "optional",
        }
    }

    pub fn parse(text: &str) -> Option<TlsAuthClients> {
        match text.to_ascii_lowercase().as_str() {
            "yes" => Some(TlsAuthClients::Yes),
            "no" => Some(TlsAuthClients::No),
            "optional" => Some(TlsAuthClients::Optional),
            _ => None,
        }
    }
}

/// Command-line flags; each may also come from `CAIRN_<NAME>` (dashes as underscores).
#[derive(Debug, Default, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: a durable, Redis-compatible database over a shared log",
    // A later flag overrides an earlier one, as a later redis.conf line does.
    args_override_self = true
)]
pub struct Flags {
    /// TOML config file (Redis option names as keys).
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "CAIRN_BIND")]
    pub bind: Option<String>,
    /// TCP port for RESP clients [default: 6379].
    #[arg(long, env = "CAIRN_PORT")]
    pub port: Option<u16>,
    /// Data directory: the log and its snapshots [default: ./cairn-data].
    #[arg(long, env = "CAIRN_DIR")]
    pub dir: Option<PathBuf>,
    /// Password of the `default` user; clients must AUTH when set [default: none].
    #[arg(long, env = "CAIRN_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,
    /// ACL file (users, as ACL SAVE writes them) imported at start when its users differ from
    /// the database's, and used by ACL LOAD/SAVE; relative to `dir` [default: none].
    #[arg(long, env = "CAIRN_ACLFILE")]
    pub aclfile: Option<String>,
    /// Refuse clients other than 127.0.0.1 and ::1 while the `default` user has no password:
    /// yes or no [default: yes].
    #[arg(long = "protected-mode", env = "CAIRN_PROTECTED_MODE")]
    pub protected_mode: Option<String>,
    /// Entries kept in the ACL LOG [default: 128].
    #[arg(long = "acllog-max-len", env = "CAIRN_ACLLOG_MAX_LEN")]
    pub acllog_max_len: Option<usize>,
    /// Log commands that run at least this many microseconds in SLOWLOG; -1 = never, 0 =
    /// every command [default: 10000].
    #[arg(
        long = "slowlog-log-slower-than",
        env = "CAIRN_SLOWLOG_LOG_SLOWER_THAN",
        allow_negative_numbers = true
    )]
    pub slowlog_log_slower_than: Option<i64>,
    /// Entries kept in SLOWLOG [default: 128].
    #[arg(long = "slowlog-max-len", env = "CAIRN_SLOWLOG_MAX_LEN")]
    pub slowlog_max_len: Option<u64>,
    /// Record latency events (LATENCY) of at least this many milliseconds; 0 = off
    /// [default: 0].
    #[arg(
        long = "latency-monitor-threshold",
        env = "CAIRN_LATENCY_MONITOR_THRESHOLD"
    )]
    pub latency_monitor_threshold: Option<u64>,
    /// Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats): yes or no
    /// [default: yes].
    #[arg(long = "latency-tracking", env = "CAIRN_LATENCY_TRACKING")]
    pub latency_tracking: Option<String>,
    /// Percentiles INFO latencystats reports, space-separated [default: "50 99 99.9"].
    #[arg(
        long = "latency-tracking-info-percentiles",
        env = "CAIRN_LATENCY_TRACKING_INFO_PERCENTILES"
    )]
    pub latency_tracking_info_percentiles: Option<String>,
    /// When a write is acknowledged: after fdatasync (always) or after write(2) (everysec)
    /// [default: always].
    #[arg(long, env = "CAIRN_APPENDFSYNC", value_enum)]
    pub appendfsync: Option<AppendFsync>,
    /// Most simultaneous client connections [default: 10000].
    #[arg(long, env = "CAIRN_MAXCLIENTS")]
    pub maxclients: Option<usize>,
    /// Close a connection idle for this many seconds; 0 = never [default: 0].
    #[arg(long, env = "CAIRN_TIMEOUT")]
    pub timeout: Option<u64>,
    /// Memory limit (bytes, or with a unit: 100mb, 2gb): past it, keys are evicted by
    /// `maxmemory-policy`, or commands that may add data answer -OOM; 0 = none [default: 0].
    #[arg(long, env = "CAIRN_MAXMEMORY")]
    pub maxmemory: Option<String>,
    /// What goes past `maxmemory`: noeviction, allkeys-lru, volatile-lru, allkeys-lfu,
    /// volatile-lfu, allkeys-random, volatile-random or volatile-ttl [default: noeviction].
    #[arg(long = "maxmemory-policy", env = "CAIRN_MAXMEMORY_POLICY")]
    pub maxmemory_policy: Option<String>,
    /// Keys sampled per database for each LRU/LFU/TTL eviction choice [default: 5].
    #[arg(long = "maxmemory-samples", env = "CAIRN_MAXMEMORY_SAMPLES")]
    pub maxmemory_samples: Option<u64>,
    /// How long one eviction pass may run, 0-100 (10: 500 µs; 100: no limit) [default: 10].
    #[arg(
        long = "maxmemory-eviction-tenacity",
        env = "CAIRN_MAXMEMORY_EVICTION_TENACITY"
    )]
    pub maxmemory_eviction_tenacity: Option<u64>,
    /// LFU counter growth: the higher, the more accesses a step takes [default: 10].
    #[arg(long = "lfu-log-factor", env = "CAIRN_LFU_LOG_FACTOR")]
    pub lfu_log_factor: Option<u64>,
    /// Minutes per step of an idle key's LFU counter decay; 0 = none [default: 1].
    #[arg(long = "lfu-decay-time", env = "CAIRN_LFU_DECAY_TIME")]
    pub lfu_decay_time: Option<u64>,
    /// Number of logical databases (SELECT 0..n-1) [default: 16].
    #[arg(long, env = "CAIRN_DATABASES")]
    pub databases: Option<usize>,
    /// Largest bulk string a client may send, in bytes [default: 536870912].
    #[arg(long = "proto-max-bulk-len", env = "CAIRN_PROTO_MAX_BULK_LEN")]
    pub proto_max_bulk_len: Option<usize>,
    /// Keyspace notifications to publish, as Redis's flag letters (e.g. "KEA") [default: ""].
    #[arg(long = "notify-keyspace-events", env = "CAIRN_NOTIFY_KEYSPACE_EVENTS")]
    pub notify_keyspace_events: Option<String>,
    /// Largest unparsed input buffered for one client, in bytes [default: 1073741824].
    #[arg(
        long = "client-query-buffer-limit",
        env = "CAIRN_CLIENT_QUERY_BUFFER_LIMIT"
    )]
    pub client_query_buffer_limit: Option<usize>,
    /// Limit on a normal client's unread replies, as Redis writes it ("normal <hard> <soft>
    /// <soft-seconds>") or a plain byte count (the hard limit); 0 = none [default: "normal 0 0 0"].
    #[arg(
        long = "client-output-buffer-limit",
        env = "CAIRN_CLIENT_OUTPUT_BUFFER_LIMIT"
    )]
    pub client_output_buffer_limit: Option<String>,
    /// Take a snapshot (and truncate the log) after this many log bytes [default: 67108864].
    #[arg(long = "snapshot-log-bytes", env = "CAIRN_SNAPSHOT_LOG_BYTES")]
    pub snapshot_log_bytes: Option<u64>,
    /// Size at which the log starts a new segment file, in bytes [default: 67108864].
    #[arg(long = "log-segment-bytes", env = "CAIRN_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,
    /// Group commit window in microseconds: when the last fsync served several batches of
    /// writes, wait this long for more before the next (0 = never wait) [default: 0].
    #[arg(long = "log-commit-window-us", env = "CAIRN_LOG_COMMIT_WINDOW_US")]
    pub log_commit_window_us: Option<u64>,
    /// Log level: debug, verbose, notice, warning (or error, warn, info, trace) [default: notice].
    #[arg(long, env = "CAIRN_LOGLEVEL")]
    pub loglevel: Option<String>,
    /// Where the log lives: file (in `dir`) or jetstream (shared by many nodes) [default: file].
    #[arg(long, env = "CAIRN_LOG", value_enum)]
    pub log: Option<LogKind>,
    /// NATS server URLs, comma-separated (log = jetstream) [default: nats://127.0.0.1:4222].
    #[arg(long = "nats-url", env = "CAIRN_NATS_URL")]
    pub nats_url: Option<String>,
    /// Database name: the JetStream stream is CAIRN_<name> [default: default].
    #[arg(long = "nats-database", env = "CAIRN_NATS_DATABASE")]
    pub nats_database: Option<String>,
    /// Replicas of a new stream [default: 3].
    #[arg(long = "nats-replicas", env = "CAIRN_NATS_REPLICAS")]
    pub nats_replicas: Option<usize>,
    /// NATS user name [default: none].
    #[arg(long = "nats-user", env = "CAIRN_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password [default: none].
    #[arg(
        long = "nats-password",
        env = "CAIRN_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub nats_password: Option<String>,
    /// NATS token [default: none].
    #[arg(long = "nats-token", env = "CAIRN_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// NATS credentials file (.creds) [default: none].
    #[arg(long = "nats-creds", env = "CAIRN_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate (PEM) of the NATS servers; implies TLS [default: none].
    #[arg(long = "nats-tls-ca-file", env = "CAIRN_NATS_TLS_CA_FILE")]
    pub nats_tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for NATS [default: none].
    #[arg(long = "nats-tls-cert-file", env = "CAIRN_NATS_TLS_CERT_FILE")]
    pub nats_tls_cert_file: Option<PathBuf>,
    /// Client key (PEM) for NATS [default: none].
    #[arg(long = "nats-tls-key-file", env = "CAIRN_NATS_TLS_KEY_FILE")]
    pub nats_tls_key_file: Option<PathBuf>,
    /// How long an append waits for JetStream's ack before retrying, in ms [default: 1000].
    #[arg(long = "nats-ack-timeout-ms", env = "CAIRN_NATS_ACK_TIMEOUT_MS")]
    pub nats_ack_timeout_ms: Option<u64>,
    /// Publishers per node, each with one message in flight; the node's 8 write lanes are
    /// spread over them [default: 1].
    #[arg(long = "nats-publishers", env = "CAIRN_NATS_PUBLISHERS")]
    pub nats_publishers: Option<usize>,
    /// Reads on a shared log: linearizable or session [default: linearizable].
    #[arg(long, env = "CAIRN_CONSISTENCY", value_enum)]
    pub consistency: Option<Consistency>,
    /// How a linearizable read finds the log's tail: strict or leader [default: strict].
    #[arg(long = "read-barrier", env = "CAIRN_READ_BARRIER", value_enum)]
    pub read_barrier: Option<ReadBarrier>,
    /// TCP port for RESP over TLS; 0 = no TLS listener [default: 0]. With `--port 0`, TLS only.
    #[arg(long = "tls-port", env = "CAIRN_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// Server certificate chain (PEM), needed with tls-port [default: none].
    #[arg(long = "tls-cert-file", env = "CAIRN_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of the server certificate [default: none].
    #[arg(long = "tls-key-file", env = "CAIRN_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to [default: none].
    #[arg(long = "tls-ca-cert-file", env = "CAIRN_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates: yes (required), no, or optional [default: yes].
    #[arg(long = "tls-auth-clients", env = "CAIRN_TLS_AUTH_CLIENTS", value_enum)]
    pub tls_auth_clients: Option<TlsAuthClients>,
    /// TLS versions to accept, a subset of "TLSv1.2 TLSv1.3" [default: "TLSv1.2 TLSv1.3"].
    #[arg(long = "tls-protocols", env = "CAIRN_TLS_PROTOCOLS")]
    pub tls_protocols: Option<String>,
    /// TLSv1.3 cipher suites, colon-separated (TLS_AES_256_GCM_SHA384, …) [default: all].
    #[arg(long = "tls-ciphersuites", env = "CAIRN_TLS_CIPHERSUITES")]
    pub tls_ciphersuites: Option<String>,
    /// TLSv1.2 cipher suites, colon-separated (ECDHE-ECDSA-AES128-GCM-SHA256, …) [default: all].
    #[arg(long = "tls-ciphers", env = "CAIRN_TLS_CIPHERS")]
    pub tls_ciphers: Option<String>,
    /// Close a TLS connection whose handshake has not finished after this many ms [default: 10000].
    #[arg(
        long = "tls-handshake-timeout-ms",
        env = "CAIRN_TLS_HANDSHAKE_TIMEOUT_MS"
    )]
    pub tls_handshake_timeout_ms: Option<u64>,
    /// TCP port of the Upstash-compatible REST API (HTTPS when tls-port is set); 0 = off
    /// [default: 8080].
    #[arg(long = "rest-port", env = "CAIRN_REST_PORT")]
    pub rest_port: Option<u16>,
    /// Address the REST API listens on [default: as bind].
    #[arg(long = "rest-bind", env = "CAIRN_REST_BIND")]
    pub rest_bind: Option<String>,
    /// Largest REST request body, in bytes [default: 10485760].
    #[arg(long = "rest-max-request-size", env = "CAIRN_REST_MAX_REQUEST_SIZE")]
    pub rest_max_request_size: Option<usize>,
    /// Longest key a REST command may name, in bytes; 0 = no limit [default: 32768, as
    /// Upstash].
    #[arg(long = "rest-max-key-size", env = "CAIRN_REST_MAX_KEY_SIZE")]
    pub rest_max_key_size: Option<usize>,
    /// Longest other argument (a value) of a REST command, in bytes; 0 = no limit [default:
    /// 104857600, as Upstash].
    #[arg(long = "rest-max-record-size", env = "CAIRN_REST_MAX_RECORD_SIZE")]
    pub rest_max_record_size: Option<usize>,
    /// REST token with the `default` user's rights [default: generated at first start into
    /// <dir>/rest-token].
    #[arg(long = "rest-token", env = "CAIRN_REST_TOKEN", hide_env_values = true)]
    pub rest_token: Option<String>,
    /// REST token with the read-only `default_ro` user's rights [default: none].
    #[arg(
        long = "rest-readonly-token",
        env = "CAIRN_REST_READONLY_TOKEN",
        hide_env_values = true
    )]
    pub rest_readonly_token: Option<String>,
    /// Access-Control-Allow-Origin of REST replies ("" = no CORS headers) [default: *].
    #[arg(long = "rest-cors-origin", env = "CAIRN_REST_CORS_ORIGIN")]
    pub rest_cors_origin: Option<String>,
}

/// A size in a TOML file: a number of bytes, or text with a unit ("100mb").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn text(self) -> String {
        match self {
            Size::Bytes(n) => n.to_string(),
            Size::Text(text) => text,
        }
    }
}

/// The same options as they appear in a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    notify_keyspace_events: Option<String>,
    bind: Option<String>,
    port: Option<u16>,
    dir: Option<PathBuf>,
    requirepass: Option<String>,
    aclfile: Option<String>,
    protected_mode: Option<String>,
    acllog_max_len: Option<usize>,
    slowlog_log_slower_than: Option<i64>,
    slowlog_max_len: Option<u64>,
    latency_monitor_threshold: Option<u64>,
    latency_tracking: Option<String>,
    latency_tracking_info_percentiles: Option<String>,
    appendfsync: Option<AppendFsync>,
    maxclients: Option<usize>,
    timeout: Option<u64>,
    maxmemory: Option<Size>,
    maxmemory_policy: Option<String>,
    maxmemory_samples: Option<u64>,
    maxmemory_eviction_tenacity: Option<u64>,
    lfu_log_factor: Option<u64>,
    lfu_decay_time: Option<u64>,
    databases: Option<usize>,
    proto_max_bulk_len: Option<usize>,
    client_query_buffer_limit: Option<usize>,
    client_output_buffer_limit: Option<String>,
    snapshot_log_bytes: Option<u64>,
    log_segment_bytes: Option<u64>,
    log_commit_window_us: Option<u64>,
    loglevel: Option<String>,
    log: Option<LogKind>,
    nats_url: Option<String>,
    nats_database: Option<String>,
    nats_replicas: Option<usize>,
    nats_user: Option<String>,
    nats_password: Option<String>,
    nats_token: Option<String>,
    nats_creds: Option<PathBuf>,
    nats_tls_ca_file: Option<PathBuf>,
    nats_tls_cert_file: Option<PathBuf>,
    nats_tls_key_file: Option<PathBuf>,
    nats_ack_timeout_ms: Option<u64>,
    nats_publishers: Option<usize>,
    consistency: Option<Consistency>,
    read_barrier: Option<ReadBarrier>,
    tls_port: Option<u16>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_ca_cert_file: Option<PathBuf>,
    tls_auth_clients: Option<TlsAuthClients>,
    tls_protocols: Option<String>,
    tls_ciphersuites: Option<String>,
    tls_ciphers: Option<String>,
    tls_handshake_timeout_ms: Option<u64>,
    rest_port: Option<u16>,
    rest_bind: Option<String>,
    rest_max_request_size: Option<usize>,
    rest_max_key_size: Option<usize>,
    rest_max_record_size: Option<usize>,
    rest_token: Option<String>,
    rest_readonly_token: Option<String>,
    rest_cors_origin: Option<String>,
}

/// The REST API's settings (`rest-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestConfig {
    /// 0: no REST listener.
    pub port: u16,
    /// Whether `port` was configured (a configured port that cannot be bound stops the start;
    /// the default one only gets a warning).
    pub port_configured: bool,
    /// `None`: as `bind`.
    pub bind: Option<String>,
    pub max_request_size: usize,
    /// Longest key / other argument of a command (0: no limit).
    pub max_key_size: usize,
    pub max_record_size: usize,
    pub token: Option<String>,
    pub readonly_token: Option<String>,
    /// "": no CORS headers.
    pub cors_origin: String,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            port: 8080,
            port_configured: false,
            bind: None,
            // Upstash's documented maximum request size.
            max_request_size: 10 * 1024 * 1024,
            // Upstash's documented key and record limits.
            max_key_size: 32 * 1024,
            max_record_size: 100 * 1024 * 1024,
            token: None,
            readonly_token: None,
            cors_origin: "*".into(),
        }
    }
}

/// The shared log's settings (used when `log = jetstream`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    pub urls: Vec<String>,
    pub database: String,
    pub replicas: usize,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub creds: Option<PathBuf>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub ack_timeout_ms: u64,
    pub publishers: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            urls: vec!["nats://127.0.0.1:4222".into()],
            database: "default".into(),
            replicas: 3,
            user: None,
            password: None,
            token: None,
            creds: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            ack_timeout_ms: 1_000,
            publishers: 1,
        }
    }
}

/// The TLS front end's settings (Redis's `tls-*` options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// 0: no TLS listener.
    pub port: u16,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_cert_file: Option<PathBuf>,
    pub auth_clients: TlsAuthClients,
    /// Space-separated, as Redis writes it; checked by `tls::parse_protocols`.
    pub protocols: String,
    /// TLSv1.3 suites, as given ("" = every suite); checked by `tls::parse_suites`.
    pub ciphersuites: String,
    /// TLSv1.2 suites, as given ("" = every suite).
    pub ciphers: String,
    pub handshake_timeout_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            port: 0,
            cert_file: None,
            key_file: None,
            ca_cert_file: None,
            auth_clients: TlsAuthClients::Yes,
            protocols: "TLSv1.2 TLSv1.3".into(),
            ciphersuites: String::new(),
            ciphers: String::new(),
            // A handshake is two round trips; ten seconds covers a slow mobile link while a
            // client that connects and sends nothing holds its descriptor only that long.
            handshake_timeout_ms: 10_000,
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.port != 0
    }
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `notify-keyspace-events`, as `cairn_engine::notify` flags.
    pub notify_keyspace_events: u32,
    /// `list-compress-depth`: how DUMP compresses lists (set by CONFIG SET only).
    pub list_compress_depth: u64,
    pub bind: String,
    pub port: u16,
    pub dir: PathBuf,
    pub requirepass: Option<String>,
    /// As given (relative to `dir` when not absolute).
    pub aclfile: Option<String>,
    pub protected_mode: bool,
    pub acllog_max_len: usize,
    /// `slowlog-log-slower-than`: SLOWLOG takes commands of at least this many µs (negative:
    /// none).
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold` (0: the latency monitor is off).
    pub latency_monitor_threshold_ms: u64,
    pub latency_tracking: bool,
    pub latency_tracking_info_percentiles: Vec<f64>,
    pub appendfsync: AppendFsync,
    pub maxclients: usize,
    pub timeout_s: u64,
    /// `maxmemory` in bytes (0: no limit).
    pub maxmemory: u64,
    /// `maxmemory-policy` and the settings of eviction and access tracking.
    pub eviction: EvictionConfig,
    pub databases: usize,
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    pub client_output_buffer_limit: OutputLimits,
    pub snapshot_log_bytes: u64,
    pub log_segment_bytes: u64,
    pub log_commit_window_us: u64,
    pub loglevel: String,
    pub log: LogKind,
    pub nats: NatsConfig,
    pub consistency: Consistency,
    pub read_barrier: ReadBarrier,
    pub tls: TlsConfig,
    pub rest: RestConfig,
    /// Accepted and reported for compatibility (`CONFIG SET save ""`); snapshots follow
    /// `snapshot_log_bytes`.
    pub save: String,
    pub config_file: Option<PathBuf>,
    /// Fault injection into the log's file I/O, for in-process tests; never set from outside.
    pub log_faults: Option<std::sync::Arc<cairn_log::Faults>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            dir: PathBuf::from("./cairn-data"),
            notify_keyspace_events: 0,
            list_compress_depth: 0,
            requirepass: None,
            aclfile: None,
            protected_mode: true,
            // Redis's default.
            acllog_max_len: 128,
            // Redis's defaults: 10 ms, 128 entries; the latency monitor off; histograms on,
            // reported at p50, p99 and p99.9.
            slowlog_log_slower_than_us: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold_ms: 0,
            latency_tracking: true,
            latency_tracking_info_percentiles: vec![50.0, 99.0, 99.9],
            appendfsync: AppendFsync::Always,
            maxclients: 10_000,
            timeout_s: 0,
            maxmemory: 0,
            eviction: EvictionConfig::default(),
            databases: 16,
            // Redis's defaults: 512 MiB bulk strings, 1 GiB query buffer.
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: OutputLimits::default(),
            // 64 MiB of log between snapshots keeps replay on restart well under a second.
            snapshot_log_bytes: 64 * 1024 * 1024,
            log_segment_bytes: 64 * 1024 * 1024,
            log_commit_window_us: 0,
            loglevel: "notice".into(),
            log: LogKind::File,
            nats: NatsConfig::default(),
            consistency: Consistency::Linearizable,
            read_barrier: ReadBarrier::Strict,
            tls: TlsConfig::default(),
            rest: RestConfig::default(),
            save: String::new(),
            config_file: None,
            log_faults: None,
        }
    }
}

impl Config {
    /// Merges file, environment and flags (environment and flags arrive together from clap).
    pub fn load(flags: Flags) -> Result<Config, ConfigError> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.message().to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let d = Config::default();
        let config = Config {
            bind: flags.bind.or(file.bind).unwrap_or(d.bind),
            port: flags.port.or(file.port).unwrap_or(d.port),
            dir: flags.dir.or(file.dir).unwrap_or(d.dir),
            requirepass: flags
                .requirepass
                .or(file.requirepass)
                .filter(|p| !p.is_empty()),
            aclfile: flags.aclfile.or(file.aclfile).filter(|p| !p.is_empty()),
            protected_mode: match flags.protected_mode.or(file.protected_mode) {
                Some(text) => parse_yes_no(&text).ok_or_else(|| ConfigError::Value {
                    name: "protected-mode",
                    message: "must be yes or no".into(),
                })?,
                None => d.protected_mode,
            },
            acllog_max_len: flags
                .acllog_max_len
                .or(file.acllog_max_len)
                .unwrap_or(d.acllog_max_len),
            slowlog_log_slower_than_us: flags
                .slowlog_log_slower_than
                .or(file.slowlog_log_slower_than)
                .unwrap_or(d.slowlog_log_slower_than_us),
            slowlog_max_len: flags
                .slowlog_max_len
                .or(file.slowlog_max_len)
                .unwrap_or(d.slowlog_max_len),
            latency_monitor_threshold_ms: flags
                .latency_monitor_threshold
                .or(file.latency_monitor_threshold)
                .unwrap_or(d.latency_monitor_threshold_ms),
            latency_tracking: match flags.latency_tracking.or(file.latency_tracking) {
                Some(text) => parse_yes_no(&text).ok_or_else(|| ConfigError::Value {
                    name: "latency-tracking",
                    message: "must be yes or no".into(),
                })?,
                None => d.latency_tracking,
            },
            latency_tracking_info_percentiles: match flags
                .latency_tracking_info_percentiles
                .or(file.latency_tracking_info_percentiles)
            {
                Some(text) => crate::latency::parse_percentiles(&text).map_err(|message| {
                    ConfigError::Value {
                        name: "latency-tracking-info-percentiles",
                        message,
                    }
                })?,
                None => d.latency_tracking_info_percentiles,
            },
            appendfsync: flags
                .appendfsync
                .or(file.appendfsync)
                .unwrap_or(d.appendfsync),
            maxclients: flags.maxclients.or(file.maxclients).unwrap_or(d.maxclients),
            timeout_s: flags.timeout.or(file.timeout).unwrap_or(d.timeout_s),
            notify_keyspace_events: match flags
                .notify_keyspace_events
                .or(file.notify_keyspace_events)
            {
                Some(text) => {
                    cairn_engine::notify::parse(&text).ok_or_else(|| ConfigError::Value {
                        name: "notify-keyspace-events",
                        message: "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into(),
                    })?
                }
                None => d.notify_keyspace_events,
            },
            list_compress_depth: d.list_compress_depth,
            maxmemory: match flags.maxmemory.or(file.maxmemory.map(Size::text)) {
                Some(text) => parse_size(&text).map_err(|message| ConfigError::Value {
                    name: "maxmemory",
                    message,
                })?,
                None => d.maxmemory,
            },
            eviction: EvictionConfig {
                policy: match flags.maxmemory_policy.or(file.maxmemory_policy) {
                    Some(text) => Policy::parse(&text).ok_or_else(|| ConfigError::Value {
                        name: "maxmemory-policy",
                        message: Policy::parse_error(),
                    })?,
                    None => d.eviction.policy,
                },
                samples: flags
                    .maxmemory_samples
                    .or(file.maxmemory_samples)
                    .unwrap_or(d.eviction.samples),
                tenacity: flags
                    .maxmemory_eviction_tenacity
                    .or(file.maxmemory_eviction_tenacity)
                    .unwrap_or(d.eviction.tenacity),
                lfu_log_factor: flags
                    .lfu_log_factor
                    .or(file.lfu_log_factor)
                    .unwrap_or(d.eviction.lfu_log_factor),
                lfu_decay_time: flags
                    .lfu_decay_time
                    .or(file.lfu_decay_time)
                    .unwrap_or(d.eviction.lfu_decay_time),
            },
            databases: flags.databases.or(file.databases).unwrap_or(d.databases),
            proto_max_bulk_len: flags
                .proto_max_bulk_len
                .or(file.proto_max_bulk_len)
                .unwrap_or(d.proto_max_bulk_len),
            client_query_buffer_limit: flags
                .client_query_buffer_limit
                .or(file.client_query_buffer_limit)
                .unwrap_or(d.client_query_buffer_limit),
            client_output_buffer_limit: match flags
                .client_output_buffer_limit
                .or(file.client_output_buffer_limit)
            {
                Some(text) => OutputLimits::parse(&text).map_err(|message| ConfigError::Value {
                    name: "client-output-buffer-limit",
                    message,
                })?,
                None => d.client_output_buffer_limit,
            },
            snapshot_log_bytes: flags
                .snapshot_log_bytes
                .or(file.snapshot_log_bytes)
                .unwrap_or(d.snapshot_log_bytes),
            log_segment_bytes: flags
                .log_segment_bytes
                .or(file.log_segment_bytes)
                .unwrap_or(d.log_segment_bytes),
            log_commit_window_us: flags
                .log_commit_window_us
                .or(file.log_commit_window_us)
                .unwrap_or(d.log_commit_window_us),
            loglevel: flags.loglevel.or(file.loglevel).unwrap_or(d.loglevel),
            log: flags.log.or(file.log).unwrap_or(d.log),
            nats: NatsConfig {
                urls: match flags.nats_url.or(file.nats_url) {
                    Some(text) => text
                        .split(',')
                        .map(|u| u.trim().to_string())
                        .filter(|u| !u.is_empty())
                        .collect(),
                    None => d.nats.urls,
                },
                database: flags
                    .nats_database
                    .or(file.nats_database)
                    .unwrap_or(d.nats.database),
                replicas: flags
                    .nats_replicas
                    .or(file.nats_replicas)
                    .unwrap_or(d.nats.replicas),
                user: flags.nats_user.or(file.nats_user),
                password: flags.nats_password.or(file.nats_password),
                token: flags.nats_token.or(file.nats_token),
                creds: flags.nats_creds.or(file.nats_creds),
                tls_ca_file: flags.nats_tls_ca_file.or(file.nats_tls_ca_file),
                tls_cert_file: flags.nats_tls_cert_file.or(file.nats_tls_cert_file),
                tls_key_file: flags.nats_tls_key_file.or(file.nats_tls_key_file),
                ack_timeout_ms: flags
                    .nats_ack_timeout_ms
                    .or(file.nats_ack_timeout_ms)
                    .unwrap_or(d.nats.ack_timeout_ms),
                publishers: flags
                    .nats_publishers
                    .or(file.nats_publishers)
                    .unwrap_or(d.nats.publishers),
            },
            consistency: flags
                .consistency
                .or(file.consistency)
                .unwrap_or(d.consistency),
            read_barrier: flags
                .read_barrier
                .or(file.read_barrier)
                .unwrap_or(d.read_barrier),
            tls: TlsConfig {
                port: flags.tls_port.or(file.tls_port).unwrap_or(d.tls.port),
                cert_file: non_empty(flags.tls_cert_file.or(file.tls_cert_file)),
                key_file: non_empty(flags.tls_key_file.or(file.tls_key_file)),
                ca_cert_file: non_empty(flags.tls_ca_cert_file.or(file.tls_ca_cert_file)),
                auth_clients: flags
                    .tls_auth_clients
                    .or(file.tls_auth_clients)
                    .unwrap_or(d.tls.auth_clients),
                protocols: flags
                    .tls_protocols
                    .or(file.tls_protocols)
                    .unwrap_or(d.tls.protocols),
                ciphersuites: flags
                    .tls_ciphersuites
                    .or(file.tls_ciphersuites)
                    .unwrap_or(d.tls.ciphersuites),
                ciphers: flags
                    .tls_ciphers
                    .or(file.tls_ciphers)
                    .unwrap_or(d.tls.ciphers),
                handshake_timeout_ms: flags
                    .tls_handshake_timeout_ms
                    .or(file.tls_handshake_timeout_ms)
                    .unwrap_or(d.tls.handshake_timeout_ms),
            },
            rest: {
                let port = flags.rest_port.or(file.rest_port);
                RestConfig {
                    port: port.unwrap_or(d.rest.port),
                    port_configured: port.is_some(),
                    bind: flags.rest_bind.or(file.rest_bind).filter(|b| !b.is_empty()),
                    max_request_size: flags
                        .rest_max_request_size
                        .or(file.rest_max_request_size)
                        .unwrap_or(d.rest.max_request_size),
                    max_key_size: flags
                        .rest_max_key_size
                        .or(file.rest_max_key_size)
                        .unwrap_or(d.rest.max_key_size),
                    max_record_size: flags
                        .rest_max_record_size
                        .or(file.rest_max_record_size)
                        .unwrap_or(d.rest.max_record_size),
                    token: flags
                        .rest_token
                        .or(file.rest_token)
                        .filter(|t| !t.is_empty()),
                    readonly_token: flags
                        .rest_readonly_token
                        .or(file.rest_readonly_token)
                        .filter(|t| !t.is_empty()),
                    cors_origin: flags
                        .rest_cors_origin
                        .or(file.rest_cors_origin)
                        .unwrap_or(d.rest.cors_origin),
                }
            },
            save: d.save,
            config_file: flags.config,
            log_faults: None,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name, message: &str| {
            Err(ConfigError::Value {
                name,
                message: message.into(),
            })
        };
        if self.databases == 0 || self.databases > 1_000_000 {
            return bad("databases", "must be between 1 and 1000000");
        }
        if self.maxclients == 0 {
            return bad("maxclients", "must be at least 1");
        }
        let e = &self.eviction;
        for (name, value, min, max) in [
            ("maxmemory-samples", e.samples, 1, i32::MAX as u64),
            ("maxmemory-eviction-tenacity", e.tenacity, 0, 100),
            ("lfu-log-factor", e.lfu_log_factor, 0, i32::MAX as u64),
            ("lfu-decay-time", e.lfu_decay_time, 0, i32::MAX as u64),
        ] {
            if !(min..=max).contains(&value) {
                return bad(name, &format!("must be between {min} and {max}"));
            }
        }
        if self.slowlog_log_slower_than_us < -1 {
            return bad("slowlog-log-slower-than", "must be at least -1");
        }
        if self.slowlog_max_len > i64::MAX as u64 {
            return bad("slowlog-max-len", "must be at most 9223372036854775807");
        }
        if self.latency_monitor_threshold_ms > i64::MAX as u64 {
            return bad(
                "latency-monitor-threshold",
                "must be at most 9223372036854775807",
            );
        }
        // Redis refuses bulk limits under 1 MiB; below that ordinary values would be refused.
        if self.proto_max_bulk_len < 1024 * 1024 {
            return bad("proto-max-bulk-len", "must be at least 1048576 (1 MiB)");
        }
        if self.client_query_buffer_limit < 1024 * 1024 {
            return bad(
                "client-query-buffer-limit",
                "must be at least 1048576 (1 MiB)",
            );
        }
        if self.log_segment_bytes < 64 * 1024 {
            return bad("log-segment-bytes", "must be at least 65536");
        }
        if log_filter(&self.loglevel).is_none() {
            return bad(
                "loglevel",
                "must be one of debug, verbose, notice, warning (or error, warn, info, trace)",
            );
        }
        if self.nats.urls.is_empty() {
            return bad("nats-url", "needs at least one URL");
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return bad("nats-replicas", "must be between 1 and 5");
        }
        if !(1..=crate::node::LANES).contains(&self.nats.publishers) {
            return bad("nats-publishers", "must be between 1 and 8");
        }
        if self.nats.ack_timeout_ms == 0 {
            return bad("nats-ack-timeout-ms", "must be at least 1");
        }
        if self.nats.user.is_some() != self.nats.password.is_some() {
            return bad("nats-user", "nats-user and nats-password go together");
        }
        if self.bind.parse::<std::net::IpAddr>().is_err() && self.bind != "localhost" {
            return bad("bind", "must be an IP address");
        }
        if let Some(bind) = &self.rest.bind
            && bind.parse::<std::net::IpAddr>().is_err()
            && bind != "localhost"
        {
            return bad("rest-bind", "must be an IP address");
        }
        if self.rest.port != 0 && (self.rest.port == self.port || self.rest.port == self.tls.port) {
            return bad("rest-port", "must differ from port and tls-port");
        }
        // Below 1 KiB not even a small pipeline fits.
        if self.rest.max_request_size < 1024 {
            return bad("rest-max-request-size", "must be at least 1024");
        }
        if self.rest.token.is_some() && self.rest.token == self.rest.readonly_token {
            return bad("rest-readonly-token", "must differ from rest-token");
        }
        self.validate_tls()
    }

    /// The TLS options, and with `tls-port` set, the certificates themselves: a server that
    /// cannot present a certificate clients can verify refuses to start.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let bad = |name, message: &str| {
            Err(ConfigError::Value {
                name,
                message: message.into(),
            })
        };
        let tls = &self.tls;
        if self.port == 0 && tls.port == 0 {
            return bad(
                "port",
                "port and tls-port are both 0: there would be nothing to listen on",
            );
        }
        if tls.port != 0 && tls.port == self.port {
            return bad("tls-port", "must differ from port");
        }
        crate::tls::check_settings(tls).map_err(ConfigError::from)?;
        if tls.enabled() {
            crate::tls::server_config(tls).map_err(ConfigError::from)?;
        }
        Ok(())
    }
}

/// An empty path (`tls-ca-cert-file = ""`, as CONFIG REWRITE writes an unset one) is no path.
fn non_empty(path: Option<PathBuf>) -> Option<PathBuf> {
    path.filter(|p| !p.as_os_str().is_empty())
}

impl From<crate::tls::TlsError> for ConfigError {
    fn from(e: crate::tls::TlsError) -> Self {
        ConfigError::Value {
            name: e.option,
            message: e.message,
        }
    }
}

/// Redis's boolean option values.
pub fn parse_yes_no(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// The tracing filter for a log level: Redis's names (debug, verbose, notice, warning) and
/// the usual ones (error, warn, info, trace).
pub fn log_filter(level: &str) -> Option<&'static str> {
    Some(match level {
        "trace" => "trace",
        "debug" | "verbose" => "debug",
        "info" | "notice" => "info",
        "warn" | "warning" => "warn",
        "error" => "error",
        _ => return None,
    })
}

/// `client-output-buffer-limit` for normal clients: close a client whose unread replies
/// exceed `hard_bytes`, or stay above `soft_bytes` for `soft_seconds` (0 = no limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` by client class: `normal` clients, and `pubsub` clients
/// (connections with a subscription). The replica class is reported with Redis's default:
/// Cairn has no replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: OutputLimit,
    pub pubsub: OutputLimit,
}

impl Default for OutputLimits {
    fn default() -> OutputLimits {
        OutputLimits {
            normal: OutputLimit::default(),
            pubsub: OutputLimit {
                hard_bytes: 32 * 1024 * 1024,
                soft_bytes: 8 * 1024 * 1024,
                soft_seconds: 60,
            },
        }
    }
}

const REPLICA_CLASS: &str = "slave 268435456 67108864 60";

impl OutputLimits {
    /// Parses Redis's form (`normal 1mb 0 0 pubsub …`) or a plain size (the normal class's
    /// hard limit); classes not given keep their defaults.
    pub fn parse(text: &str) -> Result<OutputLimits, String> {
        OutputLimits::parse_over(text, OutputLimits::default())
    }

    /// Like `parse`, but classes not given keep `current`, as Redis keeps each class it is
    /// not given (CONFIG SET).
    pub fn parse_over(text: &str, current: OutputLimits) -> Result<OutputLimits, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if let [size] = words.as_slice() {
            let hard_bytes = parse_size(size)?;
            return Ok(OutputLimits {
                normal: OutputLimit {
                    hard_bytes,
                    ..OutputLimit::default()
                },
                ..current
            });
        }
        if words.is_empty() || !words.len().is_multiple_of(4) {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut limits = current;
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        for class in words.chunks(4) {
            let parsed = OutputLimit {
                hard_bytes: parse_size(class[1]).map_err(|_| bad())?,
                soft_bytes: parse_size(class[2]).map_err(|_| bad())?,
                soft_seconds: class[3].parse().map_err(|_| bad())?,
            };
            match class[0] {
                "normal" => limits.normal = parsed,
                "pubsub" => limits.pubsub = parsed,
                "slave" | "replica" => {}
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    );
                }
            }
        }
        Ok(limits)
    }

    pub fn redis_format(&self) -> String {
        let (n, p) = (self.normal, self.pubsub);
        format!(
            "normal {} {} {} {REPLICA_CLASS} pubsub {} {} {}",
            n.hard_bytes, n.soft_bytes, n.soft_seconds, p.hard_bytes, p.soft_bytes, p.soft_seconds
        )
    }
}

/// A byte count with Redis's units (`1mb`, `64k`, `1gb`; k/m/g are powers of 1000, kb/mb/gb
/// of 1024).
pub fn parse_size(value: &str) -> Result<u64, String> {
    let lower = value.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let bad = || "argument must be a memory value".to_string();
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let mult: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "port = 7000\nmaxclients = 5\nappendfsync = \"everysec\"\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            port: Some(7001),
            ..Flags::default()
        };
        let c = Config::load(flags).unwrap();
        assert_eq!(c.port, 7001);
        assert_eq!(c.maxclients, 5);
        assert_eq!(c.appendfsync, AppendFsync::Everysec);
        assert_eq!(c.databases, 16);
    }

    #[test]
    fn bad_values_are_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(&path, "portt = 1\n").unwrap();
        let err = Config::load(Flags {
            config: Some(path),
            ..Flags::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `portt`"), "{err}");
        let err = Config::load(Flags {
            databases: Some(0),
            ..Flags::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for 'databases': must be between 1 and 1000000"
        );
        let err = Config::load(Flags {
            nats_publishers: Some(9),
            ..Flags::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for 'nats-publishers': must be between 1 and 8"
        );
        for (flags, text) in [
            (
                Flags {
                    nats_replicas: Some(6),
                    ..Flags::default()
                },
                "bad value for 'nats-replicas': must be between 1 and 5",
            ),
            (
                Flags {
                    nats_ack_timeout_ms: Some(0),
                    ..Flags::default()
                },
                "bad value for 'nats-ack-timeout-ms': must be at least 1",
            ),
        ] {
            assert_eq!(Config::load(flags).unwrap_err().to_string(), text);
        }
        let err = Config::load(Flags {
            nats_url: Some(" , ".into()),
            ..Flags::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad value for 'nats-url': needs at least one URL"
        );
    }

    #[test]
    fn slowlog_and_latency_options_have_redis_defaults_and_limits() {
        let d = Config::default();
        assert_eq!(d.slowlog_log_slower_than_us, 10_000);
        assert_eq!(d.slowlog_max_len, 128);
        assert_eq!(d.latency_monitor_threshold_ms, 0);
        assert!(d.latency_tracking);
        assert_eq!(d.latency_tracking_info_percentiles, [50.0, 99.0, 99.9]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "slowlog-log-slower-than = -1\nslowlog-max-len = 3\nlatency-monitor-threshold = 5\n\
             latency-tracking = \"no\"\nlatency-tracking-info-percentiles = \"90 100\"\n",
        )
        .unwrap();
        let c = Config::load(Flags {
            config: Some(path),
            slowlog_max_len: Some(4),
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(c.slowlog_log_slower_than_us, -1);
        assert_eq!(c.slowlog_max_len, 4);
        assert_eq!(c.latency_monitor_threshold_ms, 5);
        assert!(!c.latency_tracking);
        assert_eq!(c.latency_tracking_info_percentiles, [90.0, 100.0]);
        for (flags, text) in [
            (
                Flags {
                    slowlog_log_slower_than: Some(-2),
                    ..Flags::default()
                },
                "bad value for 'slowlog-log-slower-than': must be at least -1",
            ),
            (
                Flags {
                    latency_tracking: Some("maybe".into()),
                    ..Flags::default()
                },
                "bad value for 'latency-tracking': must be yes or no",
            ),
            (
                Flags {
                    latency_tracking_info_percentiles: Some("50 101".into()),
                    ..Flags::default()
                },
                "bad value for 'latency-tracking-info-percentiles': latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
            ),
        ] {
            assert_eq!(Config::load(flags).unwrap_err().to_string(), text);
        }
    }
}

#[cfg(test)]
mod tls_tests {
    use super::*;

    #[test]
    fn tls_options_come_from_file_and_flags_and_are_checked_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cairn.toml");
        std::fs::write(
            &path,
            "tls-auth-clients = \"optional\"\ntls-protocols = \"TLSv1.3\"\ntls-ca-cert-file = \"\"\ntls-handshake-timeout-ms = 250\n",
        )
        .unwrap();
        let c = Config::load(Flags {
            config: Some(path.clone()),
            tls_auth_clients: Some(TlsAuthClients::No),
            ..Flags::default()
        })
        .unwrap();
        assert_eq!(c.tls.auth_clients, TlsAuthClients::No);
        assert_eq!(c.tls.protocols, "TLSv1.3");
        assert_eq!(c.tls.ca_cert_file, None);
        assert_eq!(c.tls.handshake_timeout_ms, 250);
        assert!(!c.tls.enabled());
        let error = |flags: Flags| Config::load(flags).unwrap_err().to_string();
        assert_eq!(
            error(Flags {
                port: Some(7000),
                tls_port: Some(7000),
                ..Flags::default()
            }),
            "bad value for 'tls-port': must differ from port"
        );
        assert!(
            error(Flags {
                port: Some(0),
                ..Flags::default()
            })
            .starts_with("bad value for 'port': port and tls-port are both 0")
        );
        assert!(
            error(Flags {
                tls_port: Some(6380),
                ..Flags::default()
            })
            .starts_with("bad value for 'tls-cert-file': is needed with tls-port")
        );
        // Checked even while TLS is off, so that turning it on later cannot fail on them.
        assert!(
            error(Flags {
                tls_ciphers: Some("DEFAULT".into()),
                ..Flags::default()
            })
            .starts_with("bad value for 'tls-ciphers': unknown cipher suite")
        );
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[test]
    fn output_limit_takes_redis_form_or_a_size() {
        let l = OutputLimits::parse("normal 1mb 64kb 10 pubsub 2mb 1mb 5").unwrap();
        assert_eq!(
            l.normal,
            OutputLimit {
                hard_bytes: 1 << 20,
                soft_bytes: 64 << 10,
                soft_seconds: 10
            }
        );
        assert_eq!(
            l.pubsub,
            OutputLimit {
                hard_bytes: 2 << 20,
                soft_bytes: 1 << 20,
                soft_seconds: 5
            }
        );
        // Classes not given keep what they had.
        let only_pubsub = OutputLimits::parse_over("pubsub 1 2 3", l).unwrap();
        assert_eq!(only_pubsub.normal, l.normal);
        assert_eq!(only_pubsub.pubsub.hard_bytes, 1);
        assert_eq!(
            OutputLimits::parse("2mb").unwrap().normal.hard_bytes,
            2 << 20
        );
        assert!(OutputLimits::parse("normal 1 2").is_err());
        assert!(OutputLimits::parse("bogus 1 2 3").is_err());
        assert_eq!(
            OutputLimits::default().redis_format(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }

    #[test]
    fn log_levels_take_redis_names() {
        assert_eq!(log_filter("notice"), Some("info"));
        assert_eq!(log_filter("warning"), Some("warn"));
        assert_eq!(log_filter("verbose"), Some("debug"));
        assert_eq!(log_filter("loud"), None);
    }
}
