//! Configuration: defaults < TOML file (`--config`) < `CAIRN_*` environment < flags.
//!
//! Option names are Redis's where Redis has the option (`port`, `bind`, `dir`, `requirepass`,
//! `appendfsync`, `maxclients`, `timeout`, `databases`, `proto-max-bulk-len`,
//! `client-query-buffer-limit`, `client-output-buffer-limit`), with Redis's meaning. In the
//! TOML file they are written as in redis.conf (`port = 6380`, `appendfsync = "everysec"`).

use std::path::PathBuf;

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

/// Command-line flags; each may also come from `CAIRN_<NAME>` (dashes as underscores).
#[derive(Debug, Default, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: a durable, Redis-compatible database over a shared log"
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
    /// Number of logical databases (SELECT 0..n-1) [default: 16].
    #[arg(long, env = "CAIRN_DATABASES")]
    pub databases: Option<usize>,
    /// Largest bulk string a client may send, in bytes [default: 536870912].
    #[arg(long = "proto-max-bulk-len", env = "CAIRN_PROTO_MAX_BULK_LEN")]
    pub proto_max_bulk_len: Option<usize>,
    /// Largest unparsed input buffered for one client, in bytes [default: 1073741824].
    #[arg(
        long = "client-query-buffer-limit",
        env = "CAIRN_CLIENT_QUERY_BUFFER_LIMIT"
    )]
    pub client_query_buffer_limit: Option<usize>,
    /// Close a client whose pending replies exceed this many bytes; 0 = no limit [default: 0].
    #[arg(
        long = "client-output-buffer-limit",
        env = "CAIRN_CLIENT_OUTPUT_BUFFER_LIMIT"
    )]
    pub client_output_buffer_limit: Option<usize>,
    /// Take a snapshot (and truncate the log) after this many log bytes [default: 67108864].
    #[arg(long = "snapshot-log-bytes", env = "CAIRN_SNAPSHOT_LOG_BYTES")]
    pub snapshot_log_bytes: Option<u64>,
    /// Size at which the log starts a new segment file, in bytes [default: 67108864].
    #[arg(long = "log-segment-bytes", env = "CAIRN_LOG_SEGMENT_BYTES")]
    pub log_segment_bytes: Option<u64>,
    /// Log filter: error, warn, info, debug, trace [default: info].
    #[arg(long, env = "CAIRN_LOGLEVEL")]
    pub loglevel: Option<String>,
}

/// The same options as they appear in a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    port: Option<u16>,
    dir: Option<PathBuf>,
    requirepass: Option<String>,
    appendfsync: Option<AppendFsync>,
    maxclients: Option<usize>,
    timeout: Option<u64>,
    databases: Option<usize>,
    proto_max_bulk_len: Option<usize>,
    client_query_buffer_limit: Option<usize>,
    client_output_buffer_limit: Option<usize>,
    snapshot_log_bytes: Option<u64>,
    log_segment_bytes: Option<u64>,
    loglevel: Option<String>,
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub bind: String,
    pub port: u16,
    pub dir: PathBuf,
    pub requirepass: Option<String>,
    pub appendfsync: AppendFsync,
    pub maxclients: usize,
    pub timeout_s: u64,
    pub databases: usize,
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    pub client_output_buffer_limit: usize,
    pub snapshot_log_bytes: u64,
    pub log_segment_bytes: u64,
    pub loglevel: String,
    pub config_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1".into(),
            port: 6379,
            dir: PathBuf::from("./cairn-data"),
            requirepass: None,
            appendfsync: AppendFsync::Always,
            maxclients: 10_000,
            timeout_s: 0,
            databases: 16,
            // Redis's defaults: 512 MiB bulk strings, 1 GiB query buffer.
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit: 0,
            // 64 MiB of log between snapshots keeps replay on restart well under a second.
            snapshot_log_bytes: 64 * 1024 * 1024,
            log_segment_bytes: 64 * 1024 * 1024,
            loglevel: "info".into(),
            config_file: None,
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
            appendfsync: flags
                .appendfsync
                .or(file.appendfsync)
                .unwrap_or(d.appendfsync),
            maxclients: flags.maxclients.or(file.maxclients).unwrap_or(d.maxclients),
            timeout_s: flags.timeout.or(file.timeout).unwrap_or(d.timeout_s),
            databases: flags.databases.or(file.databases).unwrap_or(d.databases),
            proto_max_bulk_len: flags
                .proto_max_bulk_len
                .or(file.proto_max_bulk_len)
                .unwrap_or(d.proto_max_bulk_len),
            client_query_buffer_limit: flags
                .client_query_buffer_limit
                .or(file.client_query_buffer_limit)
                .unwrap_or(d.client_query_buffer_limit),
            client_output_buffer_limit: flags
                .client_output_buffer_limit
                .or(file.client_output_buffer_limit)
                .unwrap_or(d.client_output_buffer_limit),
            snapshot_log_bytes: flags
                .snapshot_log_bytes
                .or(file.snapshot_log_bytes)
                .unwrap_or(d.snapshot_log_bytes),
            log_segment_bytes: flags
                .log_segment_bytes
                .or(file.log_segment_bytes)
                .unwrap_or(d.log_segment_bytes),
            loglevel: flags.loglevel.or(file.loglevel).unwrap_or(d.loglevel),
            config_file: flags.config,
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
        if !["error", "warn", "info", "debug", "trace"].contains(&self.loglevel.as_str()) {
            return bad("loglevel", "must be one of error, warn, info, debug, trace");
        }
        if self.bind.parse::<std::net::IpAddr>().is_err() && self.bind != "localhost" {
            return bad("bind", "must be an IP address");
        }
        Ok(())
    }
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
    }
}
