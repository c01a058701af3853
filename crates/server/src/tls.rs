//! TLS for the RESP front end (rustls, with ring as the only crypto provider).
//!
//! - Settings: Redis's `tls-*` options checked and turned into a rustls `ServerConfig`
//!   (certificate chain and key, client verification against `tls-ca-cert-file`, versions,
//!   cipher suites).
//! - `TlsState`: the config new connections get. CONFIG SET of a `tls-*` option and SIGHUP
//!   build a new one from the files and swap it in; connections already open keep the config
//!   they were accepted with, and a config that fails to build leaves the old one in place.
//! - Accepting: a connection to `tls-port` first proves it speaks TLS and finishes its
//!   handshake within `tls-handshake-timeout-ms`, on a task of its own, so a slow or hostile
//!   peer costs other clients nothing; then it becomes a client like any other and runs the
//!   same session code as plain TCP (`session::serve_tls`).
//!
//! Failures (plaintext on the TLS port, handshake errors, stalled handshakes) are logged at
//! most once per `LOG_INTERVAL` per kind, with the number of similar ones in between, so a
//! scanner or a misconfigured client fleet cannot flood the log.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite as suite;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;

use crate::config::{TlsAuthClients, TlsConfig};
use crate::node::{NodeHandle, Shared};

/// Largest certificate or key file read (a chain of a few certificates is a few KiB).
const PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;
/// At most one log line per kind of failure in this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The first byte of a TLS handshake record (ContentType::Handshake).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
/// What a RESP client that forgot TLS gets before the connection closes.
const PLAINTEXT_REPLY: &[u8] =
    b"-ERR this port speaks TLS: connect with TLS (redis-cli --tls, rediss://)\r\n";
/// Input drained from a plaintext client before replying, so that the close that follows is
/// a FIN (the reply arrives) rather than a reset for unread data.
const PLAINTEXT_DRAIN_BYTES: usize = 16 * 1024;

// ---------------------------------------------------------------------------------------------
// Settings

/// A TLS option that cannot be used, named as in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    pub option: &'static str,
    pub message: String,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

fn fail<T>(option: &'static str, message: impl Into<String>) -> Result<T, TlsError> {
    Err(TlsError {
        option,
        message: message.into(),
    })
}

/// `tls-protocols`: a non-empty subset of "TLSv1.2 TLSv1.3" (any order, any case).
pub fn parse_protocols(text: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut versions = Vec::new();
    for word in text.split_whitespace() {
        let version = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "{word} is not supported (it is insecure): use TLSv1.2 and/or TLSv1.3"
                ));
            }
            _ => {
                return Err(format!(
                    "unknown protocol {word:?}: use TLSv1.2 and/or TLSv1.3"
                ));
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err("needs TLSv1.2, TLSv1.3 or both".into());
    }
    Ok(versions)
}

/// (OpenSSL name, IANA name, suite): the names Redis users write, and the standard ones.
const TLS13_SUITES: &[(&str, &str, SupportedCipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

const TLS12_SUITES: &[(&str, &str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// `tls-ciphersuites` (TLSv1.3) or `tls-ciphers` (TLSv1.2): names separated by colons (as
/// OpenSSL writes lists), commas or spaces; "" keeps every suite of that version, in rustls's
/// order of preference. `None`: the text was empty.
fn parse_suites(
    text: &str,
    table: &[(&str, &str, SupportedCipherSuite)],
) -> Result<Option<Vec<SupportedCipherSuite>>, String> {
    let mut chosen = Vec::new();
    for name in text
        .split([':', ',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let Some((_, _, found)) = table.iter().find(|(openssl, iana, _)| {
            openssl.eq_ignore_ascii_case(name) || iana.eq_ignore_ascii_case(name)
        }) else {
            let known: Vec<&str> = table.iter().map(|(openssl, _, _)| *openssl).collect();
            return Err(format!(
                "unknown cipher suite {name:?}; supported: {}",
                known.join(":")
            ));
        };
        if !chosen.contains(found) {
            chosen.push(*found);
        }
    }
    Ok((!chosen.is_empty()).then_some(chosen))
}

/// Checks the options that need no file (so CONFIG SET and start-up say the same).
pub fn check_settings(tls: &TlsConfig) -> Result<(), TlsError> {
    parse_protocols(&tls.protocols).or_else(|e| fail("tls-protocols", e))?;
    parse_suites(&tls.ciphersuites, TLS13_SUITES).or_else(|e| fail("tls-ciphersuites", e))?;
    parse_suites(&tls.ciphers, TLS12_SUITES).or_else(|e| fail("tls-ciphers", e))?;
    if !(1..=HANDSHAKE_TIMEOUT_MS_MAX).contains(&tls.handshake_timeout_ms) {
        return fail(
            "tls-handshake-timeout-ms",
            format!("must be between 1 and {HANDSHAKE_TIMEOUT_MS_MAX}"),
        );
    }
    if !tls.enabled() {
        return Ok(());
    }
    let hint = "cairn tls init writes a development CA and certificate";
    if tls.cert_file.is_none() {
        return fail("tls-cert-file", format!("is needed with tls-port ({hint})"));
    }
    if tls.key_file.is_none() {
        return fail("tls-key-file", format!("is needed with tls-port ({hint})"));
    }
    if tls.auth_clients != TlsAuthClients::No && tls.ca_cert_file.is_none() {
        return fail(
            "tls-ca-cert-file",
            format!(
                "is needed to verify client certificates (tls-auth-clients {}); set tls-auth-clients no to accept clients without one",
                tls.auth_clients.name()
            ),
        );
    }
    Ok(())
}

/// An hour: longer would only keep a stalled connection's descriptor.
pub const HANDSHAKE_TIMEOUT_MS_MAX: u64 = 3_600_000;

fn read_pem(option: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .or_else(|e| fail(option, format!("{shown}: {e}")))?
        .len();
    if size > PEM_FILE_BYTES_MAX {
        return fail(
            option,
            format!("{shown}: larger than {PEM_FILE_BYTES_MAX} bytes"),
        );
    }
    std::fs::read(path).or_else(|e| fail(option, format!("{shown}: {e}")))
}

fn read_certs(option: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(option, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .or_else(|e| fail(option, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return fail(
            option,
            format!("{}: no PEM certificate in the file", path.display()),
        );
    }
    Ok(certs)
}

fn read_key(option: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(option, path)?;
    PrivateKeyDer::from_pem_slice(&pem).or_else(|e| {
        fail(
            option,
            format!("{}: no usable PEM private key ({e})", path.display()),
        )
    })
}

/// The crypto provider with the suites the options allow.
fn provider(tls: &TlsConfig) -> Result<CryptoProvider, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    let tls13 =
        parse_suites(&tls.ciphersuites, TLS13_SUITES).or_else(|e| fail("tls-ciphersuites", e))?;
    let tls12 = parse_suites(&tls.ciphers, TLS12_SUITES).or_else(|e| fail("tls-ciphers", e))?;
    provider.cipher_suites.retain(|s| {
        let allowed = match s {
            SupportedCipherSuite::Tls13(_) => &tls13,
            SupportedCipherSuite::Tls12(_) => &tls12,
        };
        allowed.as_ref().is_none_or(|list| list.contains(s))
    });
    Ok(provider)
}

/// Builds the rustls server config from the files and options; every error names the option
/// to fix.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    check_settings(tls)?;
    let (Some(cert_file), Some(key_file)) = (&tls.cert_file, &tls.key_file) else {
        return fail("tls-cert-file", "is needed with tls-port");
    };
    let provider = Arc::new(provider(tls)?);
    let versions = parse_protocols(&tls.protocols).or_else(|e| fail("tls-protocols", e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .or_else(|e| {
            fail(
                "tls-protocols",
                format!("no cipher suite left for these versions ({e}): check tls-ciphersuites and tls-ciphers"),
            )
        })?;
    let verifier = match (tls.auth_clients, &tls.ca_cert_file) {
        (TlsAuthClients::No, _) => WebPkiClientVerifier::no_client_auth(),
        (_, None) => {
            return fail(
                "tls-ca-cert-file",
                "is needed to verify client certificates",
            );
        }
        (auth, Some(ca_file)) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs("tls-ca-cert-file", ca_file)? {
                roots.add(cert).or_else(|e| {
                    fail(
                        "tls-ca-cert-file",
                        format!("{}: not a usable CA certificate: {e}", ca_file.display()),
                    )
                })?;
            }
            let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let builder = if auth == TlsAuthClients::Optional {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .or_else(|e| fail("tls-ca-cert-file", format!("{}: {e}", ca_file.display())))?
        }
    };
    let chain = read_certs("tls-cert-file", cert_file)?;
    let key = read_key("tls-key-file", key_file)?;
    let config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .or_else(|e| match e {
            rustls::Error::InconsistentKeys(_) => fail(
                "tls-key-file",
                format!(
                    "{} is not the key of the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
            ),
            e => fail("tls-key-file", format!("{}: {e}", key_file.display())),
        })?;
    Ok(Arc::new(config))
}

// ---------------------------------------------------------------------------------------------
// Live state: the current config, reloads, throttled failure logs

/// Logs one kind of failure at most once per `LOG_INTERVAL`, counting the rest.
struct Throttled {
    /// Milliseconds since `TlsState::epoch` of the last line logged (u64::MAX: never).
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttled {
    const fn new() -> Throttled {
        Throttled {
            last_ms: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Calls `log` with the number of failures left unlogged since the last line, or counts
    /// this one if a line went out less than `LOG_INTERVAL` ago.
    fn report(&self, now_ms: u64, log: impl FnOnce(u64)) {
        let last = self.last_ms.load(Relaxed);
        if last != u64::MAX && now_ms.saturating_sub(last) < LOG_INTERVAL.as_millis() as u64 {
            self.suppressed.fetch_add(1, Relaxed);
            return;
        }
        self.last_ms.store(now_ms, Relaxed);
        log(self.suppressed.swap(0, Relaxed));
    }
}

/// The TLS front end's live state, in `Shared`.
pub struct TlsState {
    current: RwLock<Option<Arc<ServerConfig>>>,
    handshaking: AtomicUsize,
    epoch: Instant,
    plaintext: Throttled,
    failed: Throttled,
    stalled: Throttled,
    /// Counters (INFO stats): handshakes completed, and refused (plaintext, failed, stalled).
    pub handshakes: AtomicU64,
    pub handshake_failures: AtomicU64,
}

impl Default for TlsState {
    fn default() -> Self {
        TlsState {
            current: RwLock::new(None),
            handshaking: AtomicUsize::new(0),
            epoch: Instant::now(),
            plaintext: Throttled::new(),
            failed: Throttled::new(),
            stalled: Throttled::new(),
            handshakes: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
        }
    }
}

impl TlsState {
    /// The config a new connection gets (`None` until TLS is set up).
    pub fn current(&self) -> Option<Arc<ServerConfig>> {
        self.current.read().expect("tls lock").clone()
    }

    /// Makes `config` the one new connections get.
    pub fn install(&self, config: Arc<ServerConfig>) {
        *self.current.write().expect("tls lock") = Some(config);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// Builds a config from `tls` and installs it; on error the current one stays. Does nothing
/// when TLS is off (`tls-port 0`) beyond checking the options. CONFIG SET calls this with the
/// options it is about to commit; the caller commits them only on `Ok`.
pub fn reconfigure(state: &TlsState, tls: &TlsConfig) -> Result<(), TlsError> {
    if !tls.enabled() {
        return check_settings(tls);
    }
    let config = server_config(tls)?;
    state.install(config);
    tracing::info!("TLS configuration reloaded: new connections use the new certificates");
    Ok(())
}

/// SIGHUP: reads the certificate files again (same paths) and swaps them in for new
/// connections; on error logs it and keeps the current ones.
pub fn reload(shared: &Shared) {
    let tls = shared.config.read().expect("config lock").tls.clone();
    if !tls.enabled() {
        tracing::info!("SIGHUP: TLS is off (tls-port 0), nothing to reload");
        return;
    }
    if let Err(e) = reconfigure(&shared.tls, &tls) {
        tracing::error!("TLS reload refused, the current certificates stay: {e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Accepting connections

/// Takes a connection accepted on `tls-port`: its handshake runs on a task of its own.
pub fn accept(shared: &Arc<Shared>, node: &NodeHandle, stream: TcpStream, addr: SocketAddr) {
    shared.stats.connections_received.fetch_add(1, Relaxed);
    let state = &shared.tls;
    let Some(config) = state.current() else {
        return;
    };
    // Handshakes in progress hold a descriptor and a rustls connection each: bound them as
    // clients are bounded.
    let maxclients = shared.config.read().expect("config lock").maxclients;
    if state.handshaking.load(Relaxed) >= maxclients {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        return;
    }
    state.handshaking.fetch_add(1, Relaxed);
    let shared = shared.clone();
    let node = node.clone();
    tokio::task::spawn_local(async move {
        let done = handshake(&shared, stream, addr, config).await;
        shared.tls.handshaking.fetch_sub(1, Relaxed);
        if let Some(stream) = done {
            shared.tls.handshakes.fetch_add(1, Relaxed);
            start_session(shared, node, stream, addr);
        }
    });
}

/// How the handshake ended when it did not succeed.
enum Refusal {
    /// The peer closed before sending anything (a port probe): not worth a log line.
    Closed,
    Plaintext {
        resp: bool,
    },
    Failed(std::io::Error),
    Stalled,
}

async fn handshake(
    shared: &Shared,
    stream: TcpStream,
    addr: SocketAddr,
    config: Arc<ServerConfig>,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let timeout_ms = shared
        .config
        .read()
        .expect("config lock")
        .tls
        .handshake_timeout_ms;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
    let _ = stream.set_nodelay(true);
    let mut first = [0u8; 1];
    let refusal = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
        Err(_) => Refusal::Stalled,
        Ok(Ok(0)) => Refusal::Closed,
        Ok(Err(e)) => Refusal::Failed(e),
        Ok(Ok(_)) if first[0] != TLS_HANDSHAKE_RECORD => Refusal::Plaintext {
            resp: first[0] == b'*' || first[0].is_ascii_alphabetic(),
        },
        Ok(Ok(_)) => {
            let accepting = tokio_rustls::TlsAcceptor::from(config).accept(stream);
            return match tokio::time::timeout_at(deadline, accepting).await {
                Ok(Ok(tls)) => Some(tls),
                Ok(Err(e)) => {
                    log_refusal(&shared.tls, addr, Refusal::Failed(e), timeout_ms);
                    None
                }
                Err(_) => {
                    log_refusal(&shared.tls, addr, Refusal::Stalled, timeout_ms);
                    None
                }
            };
        }
    };
    if let Refusal::Plaintext { resp: true } = refusal {
        answer_plaintext(&stream).await;
    }
    log_refusal(&shared.tls, addr, refusal, timeout_ms);
    None
}

/// Tells a RESP client that forgot TLS why it is being closed, in plaintext.
async fn answer_plaintext(stream: &TcpStream) {
    let mut drained = 0;
    let mut buf = [0u8; 4096];
    while drained < PLAINTEXT_DRAIN_BYTES {
        match stream.try_read(&mut buf) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    // A fresh socket's send buffer is empty: this never waits.
    let _ = stream.try_write(PLAINTEXT_REPLY);
}

fn log_refusal(state: &TlsState, addr: SocketAddr, refusal: Refusal, timeout_ms: u64) {
    if !matches!(refusal, Refusal::Closed) {
        state.handshake_failures.fetch_add(1, Relaxed);
    }
    let now = state.now_ms();
    let more = |n: u64| {
        if n == 0 {
            String::new()
        } else {
            format!(" ({n} more like it since the last report)")
        }
    };
    match refusal {
        Refusal::Closed => tracing::debug!(%addr, "closed before sending anything on the TLS port"),
        Refusal::Plaintext { .. } => state.plaintext.report(now, |n| {
            tracing::warn!("{addr} sent data that is not TLS to the TLS port (plaintext RESP?); closed{}", more(n))
        }),
        Refusal::Failed(e) => state.failed.report(now, |n| {
            tracing::warn!("TLS handshake with {addr} failed: {e}{}", more(n))
        }),
        Refusal::Stalled => state.stalled.report(now, |n| {
            tracing::warn!(
                "TLS handshake with {addr} not done after {timeout_ms} ms (tls-handshake-timeout-ms); closed{}",
                more(n)
            )
        }),
    }
}

/// A connection past its handshake becomes a client, exactly as a plain one does.
fn start_session(
    shared: Arc<Shared>,
    node: NodeHandle,
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    addr: SocketAddr,
) {
    if !crate::room_for_client(&shared) {
        crate::refuse_client(stream);
        return;
    }
    let protected_mode = shared.config.read().expect("config lock").protected_mode;
    let default_nopass = node.users(|u| u.default_user().nopass());
    if crate::acl::protected_mode_refuses(protected_mode, default_nopass, addr.ip()) {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        let mut stream = stream;
        tokio::task::spawn_local(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stream
                .write_all(crate::acl::PROTECTED_MODE_DENIED.as_bytes())
                .await;
            let _ = stream.shutdown().await;
        });
        return;
    }
    let laddr = stream.get_ref().0.local_addr().unwrap_or(addr);
    let client = shared.clients.register(addr, laddr);
    tokio::task::spawn_local(crate::session::serve_tls(stream, shared, node, client));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_are_subsets_of_tls12_and_tls13() {
        assert_eq!(parse_protocols("TLSv1.2 TLSv1.3").unwrap().len(), 2);
        assert_eq!(
            parse_protocols("tlsv1.3").unwrap(),
            vec![&rustls::version::TLS13]
        );
        assert_eq!(parse_protocols(" TLSv1.3  TLSv1.3 ").unwrap().len(), 1);
        assert!(parse_protocols("").is_err());
        assert!(
            parse_protocols("TLSv1.1")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_protocols("SSLv3").unwrap_err().contains("unknown"));
    }

    #[test]
    fn suites_take_openssl_and_iana_names() {
        let chosen = parse_suites(
            "TLS_AES_128_GCM_SHA256:tls_chacha20_poly1305_sha256",
            TLS13_SUITES,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            chosen,
            vec![
                suite::TLS13_AES_128_GCM_SHA256,
                suite::TLS13_CHACHA20_POLY1305_SHA256
            ]
        );
        let chosen = parse_suites(
            "ECDHE-ECDSA-AES128-GCM-SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            TLS12_SUITES,
        )
        .unwrap()
        .unwrap();
        assert_eq!(chosen.len(), 2);
        assert_eq!(parse_suites("", TLS13_SUITES).unwrap(), None);
        let err = parse_suites("DEFAULT:!MEDIUM", TLS12_SUITES).unwrap_err();
        assert!(err.contains("unknown cipher suite \"DEFAULT\""), "{err}");
        // A TLSv1.2 name is not a TLSv1.3 suite.
        assert!(parse_suites("ECDHE-RSA-AES128-GCM-SHA256", TLS13_SUITES).is_err());
    }

    #[test]
    fn throttled_logs_once_per_interval_and_counts_the_rest() {
        let t = Throttled::new();
        let mut lines = Vec::new();
        for now in [0, 1, 2, 9_999] {
            t.report(now, |n| lines.push(n));
        }
        assert_eq!(lines, vec![0]);
        t.report(10_000, |n| lines.push(n));
        assert_eq!(lines, vec![0, 3]);
    }

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A CA, a server certificate it signed, and a second, unrelated key.
    fn certificates(dir: &Path) -> TlsConfig {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        write(dir, "other.key", &other.serialize_pem());
        TlsConfig {
            port: 6380,
            cert_file: Some(write(dir, "server.crt", &cert.pem())),
            key_file: Some(write(dir, "server.key", &key.serialize_pem())),
            ca_cert_file: Some(write(dir, "ca.crt", &ca_cert.pem())),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn server_config_names_the_option_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let good = certificates(dir.path());
        server_config(&good).unwrap();
        let option = |tls: TlsConfig| server_config(&tls).unwrap_err().option;

        let missing = TlsConfig {
            cert_file: Some(dir.path().join("nope.crt")),
            ..good.clone()
        };
        assert_eq!(option(missing), "tls-cert-file");
        let garbage = TlsConfig {
            cert_file: Some(write(dir.path(), "garbage.crt", "not a certificate\n")),
            ..good.clone()
        };
        let err = server_config(&garbage).unwrap_err();
        assert_eq!(err.option, "tls-cert-file");
        assert!(err.message.contains("no PEM certificate"), "{err}");
        let mismatched = TlsConfig {
            key_file: Some(dir.path().join("other.key")),
            ..good.clone()
        };
        let err = server_config(&mismatched).unwrap_err();
        assert_eq!(err.option, "tls-key-file");
        assert!(err.message.contains("is not the key of"), "{err}");
        let no_ca = TlsConfig {
            ca_cert_file: None,
            ..good.clone()
        };
        assert_eq!(option(no_ca.clone()), "tls-ca-cert-file");
        server_config(&TlsConfig {
            auth_clients: TlsAuthClients::No,
            ..no_ca
        })
        .unwrap();
        let bad_ca = TlsConfig {
            ca_cert_file: Some(dir.path().join("server.key")),
            ..good.clone()
        };
        assert_eq!(option(bad_ca), "tls-ca-cert-file");
        let tls13_only = TlsConfig {
            protocols: "TLSv1.3".into(),
            ciphersuites: "TLS_AES_256_GCM_SHA384".into(),
            ..good.clone()
        };
        server_config(&tls13_only).unwrap();
    }

    #[test]
    fn a_refused_reload_keeps_the_current_config() {
        let dir = tempfile::tempdir().unwrap();
        let good = certificates(dir.path());
        let state = TlsState::default();
        reconfigure(&state, &good).unwrap();
        let before = state.current().unwrap();
        let bad = TlsConfig {
            key_file: Some(dir.path().join("other.key")),
            ..good.clone()
        };
        assert!(reconfigure(&state, &bad).is_err());
        assert!(Arc::ptr_eq(&before, &state.current().unwrap()));
        reconfigure(&state, &good).unwrap();
        assert!(!Arc::ptr_eq(&before, &state.current().unwrap()));
    }
}
