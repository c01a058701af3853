//! RESP over TLS, end to end with the real binary: certificates from `cairn tls init`,
//! TLS-only nodes (`--port 0`), real clients (redis-cli, ioredis in tests/node, the redis
//! crate, and a bare rustls client for what the others cannot show: the certificate served,
//! the protocol version, the cipher suite), client certificates, reloads without a restart,
//! and hostile input on the TLS port.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Cairn, free_port, run_expecting_exit, strip_ansi};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned, SupportedProtocolVersion};

// ---------------------------------------------------------------------------------------------
// Certificates and nodes

/// Runs `cairn tls init` into `dir` for 127.0.0.1 and returns what it printed.
fn tls_init(dir: &Path, tls_port: u16) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tls", "init", "--host", "127.0.0.1", "--host", "localhost"])
        .args(["--tls-port", &tls_port.to_string(), "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "tls init: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// A directory of certificates from `cairn tls init`.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn new(parent: &Path, name: &str) -> Certs {
        let dir = parent.join(name);
        tls_init(&dir, 6379);
        Certs { dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn client(&self) -> Option<(PathBuf, PathBuf)> {
        Some((self.dir.join("client.crt"), self.dir.join("client.key")))
    }

    /// Flags for a TLS-only node serving this directory's server certificate.
    fn flags(&self, tls_port: u16) -> Vec<String> {
        let mut flags: Vec<String> = ["--port", "0", "--tls-port"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        flags.push(tls_port.to_string());
        for (flag, file) in [
            ("--tls-cert-file", "server.crt"),
            ("--tls-key-file", "server.key"),
            ("--tls-ca-cert-file", "ca.crt"),
        ] {
            flags.push(flag.into());
            flags.push(self.file(file));
        }
        flags
    }
}

/// A TLS-only node (its stderr captured); `extra` flags come after the certificate flags.
fn tls_node(tmp: &Path, certs: &Certs, extra: &[&str]) -> (Cairn, Arc<Mutex<String>>) {
    let port = free_port();
    let mut flags = certs.flags(port);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Cairn::start_capturing(&tmp.join("data"), port, &flags)
}

/// Lines containing `needle` once there is at least one (the node's stderr is collected by a
/// thread of its own, so a line may show up a moment after the event).
fn logged(log: &Arc<Mutex<String>>, needle: &str) -> Vec<String> {
    wait_until(&format!("{needle:?} in the log"), || {
        !log_lines(log, needle).is_empty()
    });
    log_lines(log, needle)
}

/// Log lines containing `needle`.
fn log_lines(log: &Arc<Mutex<String>>, needle: &str) -> Vec<String> {
    strip_ansi(&log.lock().unwrap())
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// A bare rustls client

/// What a client offers: the CA it trusts, its certificate, versions and suites.
struct Offer<'a> {
    ca: &'a Path,
    client: Option<(PathBuf, PathBuf)>,
    versions: &'a [&'static SupportedProtocolVersion],
    suites: Option<&'a [rustls::SupportedCipherSuite]>,
}

impl<'a> Offer<'a> {
    fn trusting(ca: &'a Path) -> Offer<'a> {
        Offer {
            ca,
            client: None,
            versions: rustls::ALL_VERSIONS,
            suites: None,
        }
    }

    fn with_cert(mut self, certs: &Certs) -> Self {
        self.client = certs.client();
        self
    }

    fn config(&self) -> Arc<ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(suites) = self.suites {
            provider.cipher_suites.retain(|s| suites.contains(s));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(self.versions)
            .unwrap()
            .with_root_certificates(roots);
        let config = match &self.client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(cert)
                        .unwrap()
                        .map(Result::unwrap)
                        .collect(),
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

struct TlsConn {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

impl TlsConn {
    /// Connects and completes the handshake (as far as the client can tell: with TLS 1.3 a
    /// server's refusal of the client certificate arrives with the first reply).
    fn connect(port: u16, offer: &Offer) -> std::io::Result<TlsConn> {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut conn =
            ClientConnection::new(offer.config(), name).map_err(std::io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(TlsConn {
            stream: BufReader::new(StreamOwned::new(conn, tcp)),
        })
    }

    /// Sends a command and reads its reply, rendered as one line (`+OK`, `$v`, `-ERR …`,
    /// `:1`, `*` followed by the elements).
    fn cmd(&mut self, args: &[&str]) -> std::io::Result<String> {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.stream.get_mut().write_all(out.as_bytes())?;
        self.stream.get_mut().flush()?;
        self.reply()
    }

    fn reply(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.stream.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end().to_string();
        let n: i64 = line[1..].parse().unwrap_or(-1);
        match line.as_bytes()[0] {
            b'$' if n >= 0 => {
                let mut body = vec![0u8; n as usize + 2];
                self.stream.read_exact(&mut body)?;
                Ok(format!("${}", String::from_utf8_lossy(&body[..n as usize])))
            }
            b'*' if n > 0 => {
                let mut parts = vec![line.clone()];
                for _ in 0..n {
                    parts.push(self.reply()?);
                }
                Ok(parts.join(" "))
            }
            _ => Ok(line),
        }
    }

    fn peer_certificate(&self) -> Vec<u8> {
        let conn = &self.stream.get_ref().conn;
        conn.peer_certificates().unwrap()[0].to_vec()
    }
}

/// PING over a new connection: `Ok(())` on +PONG, else the error text.
fn ping(port: u16, offer: &Offer) -> Result<(), String> {
    let mut conn = TlsConn::connect(port, offer).map_err(|e| e.to_string())?;
    match conn.cmd(&["PING"]) {
        Ok(reply) if reply == "+PONG" => Ok(()),
        Ok(reply) => Err(reply),
        Err(e) => Err(e.to_string()),
    }
}

fn der_of(pem_file: &str) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file).unwrap().to_vec()
}

// ---------------------------------------------------------------------------------------------
// cairn tls init, and the clients it prints settings for

#[test]
fn tls_init_writes_a_ca_and_certificates_and_rotates_under_the_same_ca() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let printed = tls_init(&dir, 6380);
    for (file, mode) in [
        ("ca.crt", 0o644),
        ("ca.key", 0o600),
        ("server.crt", 0o644),
        ("server.key", 0o600),
        ("client.crt", 0o644),
        ("client.key", 0o600),
    ] {
        let meta = std::fs::metadata(dir.join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
    }
    let d = std::fs::canonicalize(&dir).unwrap().display().to_string();
    for expected in [
        format!(
            "cairn --port 0 --tls-port 6380 --tls-cert-file {d}/server.crt --tls-key-file {d}/server.key --tls-ca-cert-file {d}/ca.crt"
        ),
        format!(
            "redis-cli --tls --cacert {d}/ca.crt --cert {d}/client.crt --key {d}/client.key -h 127.0.0.1 -p 6380"
        ),
        format!(
            "new Redis({{ host: '127.0.0.1', port: 6380, tls: {{ ca: fs.readFileSync('{d}/ca.crt')"
        ),
        "a new development CA".to_string(),
    ] {
        assert!(
            printed.contains(&expected),
            "missing {expected:?} in:\n{printed}"
        );
    }
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    let server = std::fs::read(dir.join("server.crt")).unwrap();
    // Again: the CA stays, the certificates are new (and `tls init` checked they chain to it).
    let printed = tls_init(&dir, 6380);
    assert!(printed.contains("kept the CA already there"), "{printed}");
    assert_eq!(std::fs::read(dir.join("ca.crt")).unwrap(), ca);
    assert_ne!(std::fs::read(dir.join("server.crt")).unwrap(), server);
    // Half a CA is refused rather than replaced.
    std::fs::remove_file(dir.join("ca.key")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tls", "init", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only one of ca.crt and ca.key"));
}

/// The printed server flags start a node, and the printed redis-cli line talks to it.
#[test]
fn redis_cli_runs_commands_with_the_printed_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let printed = tls_init(&tmp.path().join("certs"), port);
    let line = |prefix: &str| -> Vec<String> {
        let line = printed
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{printed}"));
        line.split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    let server_flags = line("cairn --port 0");
    let flags: Vec<&str> = server_flags.iter().map(String::as_str).collect();
    let (_node, _log) = Cairn::start_capturing(&tmp.path().join("data"), port, &flags);
    let cli_flags = line("redis-cli --tls");
    let cli = |flags: &[String], args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(flags)
            .args(args)
            .output()
            .expect("redis-cli (scripts/deps.sh installs it)");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
            + &String::from_utf8_lossy(&out.stderr)
    };
    assert_eq!(cli(&cli_flags, &["set", "greeting", "hello"]), "OK");
    assert_eq!(cli(&cli_flags, &["get", "greeting"]), "hello");
    // Only the CA, no client certificate: refused while tls-auth-clients is yes (the default)…
    let ca_only: Vec<String> = cli_flags
        .iter()
        .take(3)
        .cloned()
        .chain(["-h", "127.0.0.1", "-p", &port.to_string()].map(String::from))
        .collect();
    assert_eq!(ca_only[..3], ["--tls", "--cacert", cli_flags[2].as_str()]);
    assert_ne!(cli(&ca_only, &["get", "greeting"]), "hello");
    // … and accepted once it is no.
    assert_eq!(
        cli(&cli_flags, &["config", "set", "tls-auth-clients", "no"]),
        "OK"
    );
    assert_eq!(cli(&ca_only, &["get", "greeting"]), "hello");
    // Plain redis-cli to the TLS port is told why it fails.
    let plain = cli(
        &[
            "-h".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ],
        &["ping"],
    );
    assert!(plain.contains("this port speaks TLS"), "{plain}");
}

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node")
}

/// tests/node/session-store.js over TLS: `Ok(stdout)` or `Err(stderr)`.
fn session_store(port: u16, ca: &str, client: Option<(&str, &str)>) -> Result<String, String> {
    let dir = node_dir();
    assert!(
        dir.join("node_modules/ioredis").is_dir(),
        "{}/node_modules is missing: run scripts/deps.sh",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("session-store.js"))
        .args([&port.to_string(), "127.0.0.1", "--tls-ca", ca]);
    if let Some((cert, key)) = client {
        cmd.args(["--tls-cert", cert, "--tls-key", key]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("node not found ({e}): run scripts/deps.sh"));
    match out.status.success() {
        true => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    }
}

#[test]
fn ioredis_stores_a_session_over_tls_only_and_a_foreign_ca_fails_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let other = Certs::new(tmp.path(), "other");
    let (node, log) = tls_node(tmp.path(), &certs, &[]);
    let out = session_store(
        node.port,
        &certs.file("ca.crt"),
        Some((&certs.file("client.crt"), &certs.file("client.key"))),
    )
    .unwrap();
    assert!(
        out.contains(r#""session":{"userId":1,"name":"Ada""#),
        "{out}"
    );
    assert!(out.contains(r#""ttl":3600"#), "{out}");
    // The same program trusting another CA refuses the server's certificate.
    let err = session_store(
        node.port,
        &other.file("ca.crt"),
        Some((&other.file("client.crt"), &other.file("client.key"))),
    )
    .unwrap_err();
    assert!(
        err.contains("certificate") || err.contains("verify"),
        "expected a certificate error: {err}"
    );
    wait_until("the failed handshake in the log", || {
        !log_lines(&log, "TLS handshake with").is_empty()
    });
    // Nothing reached the data: the session written first is all there is.
    let mut conn = TlsConn::connect(
        node.port,
        &Offer::trusting(&certs.dir.join("ca.crt")).with_cert(&certs),
    )
    .unwrap();
    assert_eq!(conn.cmd(&["DBSIZE"]).unwrap(), ":1");
}

#[test]
fn the_redis_crate_connects_with_tls_rustls() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, _log) = tls_node(tmp.path(), &certs, &[]);
    let url = format!("rediss://127.0.0.1:{}/", node.port);
    let read = |name: &str| std::fs::read(certs.dir.join(name)).unwrap();
    let with_cert = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: read("client.crt"),
            client_key: read("client.key"),
        }),
        root_cert: Some(read("ca.crt")),
    };
    let client = redis::Client::build_with_tls(url.as_str(), with_cert).unwrap();
    let mut con = client.get_connection().unwrap();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    // The async client too.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let n: i64 = redis::cmd("INCR")
            .arg("n")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(n, 1);
    });
    // Without a client certificate (tls-auth-clients yes), no command gets through.
    let no_cert = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(read("ca.crt")),
    };
    let client = redis::Client::build_with_tls(url.as_str(), no_cert).unwrap();
    let refused = client
        .get_connection()
        .and_then(|mut con| redis::cmd("GET").arg("k").query::<String>(&mut con));
    assert!(refused.is_err(), "{refused:?}");
}

// ---------------------------------------------------------------------------------------------
// Client certificates

#[test]
fn client_certificates_are_verified_against_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let other = Certs::new(tmp.path(), "other");
    let (node, log) = tls_node(tmp.path(), &certs, &["--tls-auth-clients", "yes"]);
    let ca = certs.dir.join("ca.crt");
    let port = node.port;
    // An open, authenticated connection, to show refusals do not touch it.
    let mut admin = TlsConn::connect(port, &Offer::trusting(&ca).with_cert(&certs)).unwrap();
    assert_eq!(admin.cmd(&["SET", "k", "v"]).unwrap(), "+OK");

    // yes: a certificate from the CA is needed.
    ping(port, &Offer::trusting(&ca).with_cert(&certs)).unwrap();
    ping(port, &Offer::trusting(&ca)).unwrap_err();
    ping(port, &Offer::trusting(&ca).with_cert(&other)).unwrap_err();
    // optional: none is fine, a bad one is not.
    let set = |conn: &mut TlsConn, name: &str, value: &str| {
        conn.cmd(&["CONFIG", "SET", name, value]).unwrap()
    };
    assert_eq!(set(&mut admin, "tls-auth-clients", "optional"), "+OK");
    ping(port, &Offer::trusting(&ca)).unwrap();
    ping(port, &Offer::trusting(&ca).with_cert(&certs)).unwrap();
    ping(port, &Offer::trusting(&ca).with_cert(&other)).unwrap_err();
    // A new CA for clients (CONFIG SET tls-ca-cert-file) takes effect for new connections.
    assert_eq!(set(&mut admin, "tls-auth-clients", "yes"), "+OK");
    assert_eq!(
        set(&mut admin, "tls-ca-cert-file", &other.file("ca.crt")),
        "+OK"
    );
    ping(port, &Offer::trusting(&ca).with_cert(&other)).unwrap();
    ping(port, &Offer::trusting(&ca).with_cert(&certs)).unwrap_err();
    // no: nobody is asked.
    assert_eq!(set(&mut admin, "tls-auth-clients", "no"), "+OK");
    ping(port, &Offer::trusting(&ca)).unwrap();
    assert_eq!(admin.cmd(&["GET", "k"]).unwrap(), "$v");
    let refused = logged(&log, "TLS handshake with");
    assert!(
        !refused.is_empty() && refused.len() <= 2,
        "one line per 10 s: {refused:?}"
    );
    // CONFIG SET of an unknown value changes nothing.
    let reply = set(&mut admin, "tls-auth-clients", "maybe");
    assert!(reply.starts_with("-ERR CONFIG SET failed"), "{reply}");
    let got = admin.cmd(&["CONFIG", "GET", "tls-auth-clients"]).unwrap();
    assert_eq!(got, "*2 $tls-auth-clients $no");
}

// ---------------------------------------------------------------------------------------------
// Reloading certificates

/// Copies `from`'s server certificate and key over `to`'s, each by rename (as a deploy tool
/// would), so the node never reads half a file.
fn install(from: &Certs, to: &Path) {
    for name in ["server.crt", "server.key"] {
        let tmp = to.join(format!("{name}.new"));
        std::fs::copy(from.dir.join(name), &tmp).unwrap();
        std::fs::rename(&tmp, to.join(name)).unwrap();
    }
}

#[test]
fn certificates_reload_on_config_set_and_sighup_and_open_connections_keep_working() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Certs::new(tmp.path(), "a");
    let b = Certs::new(tmp.path(), "b");
    // The node reads its certificate from live/, which starts as a copy of a's.
    let live = Certs {
        dir: tmp.path().join("live"),
    };
    std::fs::create_dir(&live.dir).unwrap();
    install(&a, &live.dir);
    std::fs::copy(a.dir.join("ca.crt"), live.dir.join("ca.crt")).unwrap();
    let (node, log) = tls_node(tmp.path(), &live, &["--tls-auth-clients", "no"]);
    let port = node.port;
    let (ca_a, ca_b) = (a.dir.join("ca.crt"), b.dir.join("ca.crt"));
    let mut old = TlsConn::connect(port, &Offer::trusting(&ca_a)).unwrap();
    assert_eq!(old.cmd(&["SET", "k", "v"]).unwrap(), "+OK");
    assert_eq!(old.peer_certificate(), der_of(&a.file("server.crt")));

    // CONFIG SET: new connections get b's certificate; the open one goes on.
    let reply = old
        .cmd(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &b.file("server.crt"),
            "tls-key-file",
            &b.file("server.key"),
        ])
        .unwrap();
    assert_eq!(reply, "+OK");
    let fresh = TlsConn::connect(port, &Offer::trusting(&ca_b)).unwrap();
    assert_eq!(fresh.peer_certificate(), der_of(&b.file("server.crt")));
    let refused = TlsConn::connect(port, &Offer::trusting(&ca_a))
        .err()
        .unwrap();
    assert!(refused.to_string().contains("UnknownIssuer"), "{refused}");
    assert_eq!(old.cmd(&["GET", "k"]).unwrap(), "$v");

    // A bad new certificate is refused with an error naming the option; b's stays.
    let missing = tmp.path().join("missing.crt").display().to_string();
    let reply = old
        .cmd(&["CONFIG", "SET", "tls-cert-file", &missing])
        .unwrap();
    assert!(
        reply.starts_with("-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file')"),
        "{reply}"
    );
    let reply = old
        .cmd(&["CONFIG", "SET", "tls-cert-file", &a.file("server.crt")])
        .unwrap();
    assert!(
        reply.contains("'tls-key-file'") && reply.contains("is not the key of"),
        "{reply}"
    );
    let got = old.cmd(&["CONFIG", "GET", "tls-cert-file"]).unwrap();
    assert_eq!(got, format!("*2 $tls-cert-file ${}", b.file("server.crt")));
    ping(port, &Offer::trusting(&ca_b)).unwrap();

    // Back to live/ (still a's), then SIGHUP after b's files are installed there.
    let reply = old
        .cmd(&[
            "CONFIG",
            "SET",
            "tls-cert-file",
            &live.file("server.crt"),
            "tls-key-file",
            &live.file("server.key"),
        ])
        .unwrap();
    assert_eq!(reply, "+OK");
    ping(port, &Offer::trusting(&ca_a)).unwrap();
    install(&b, &live.dir);
    ping(port, &Offer::trusting(&ca_a)).unwrap(); // nothing reloads by itself
    let hup = |pid: u32| {
        let sent = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    hup(node.child.id());
    wait_until("SIGHUP to load b's certificate", || {
        ping(port, &Offer::trusting(&ca_b)).is_ok()
    });
    assert_eq!(old.cmd(&["GET", "k"]).unwrap(), "$v");

    // A SIGHUP that finds a broken file keeps the certificate in use, and says so.
    std::fs::write(
        live.dir.join("server.crt"),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
    )
    .unwrap();
    hup(node.child.id());
    wait_until("the refused reload in the log", || {
        !log_lines(&log, "TLS reload refused").is_empty()
    });
    let fresh = TlsConn::connect(port, &Offer::trusting(&ca_b)).unwrap();
    assert_eq!(fresh.peer_certificate(), der_of(&b.file("server.crt")));
    assert_eq!(old.cmd(&["GET", "k"]).unwrap(), "$v");
    let line = log_lines(&log, "TLS reload refused").join("\n");
    assert!(line.contains("tls-cert-file"), "{line}");
}

// ---------------------------------------------------------------------------------------------
// Versions and cipher suites

#[test]
fn tls_protocols_and_ciphersuites_limit_what_a_client_may_negotiate() {
    use rustls::crypto::ring::cipher_suite as suite;
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, _log) = tls_node(
        tmp.path(),
        &certs,
        &[
            "--tls-auth-clients",
            "no",
            "--tls-protocols",
            "TLSv1.3",
            "--tls-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
        ],
    );
    let ca = certs.dir.join("ca.crt");
    let port = node.port;
    let tls12 = Offer {
        versions: &[&rustls::version::TLS12],
        ..Offer::trusting(&ca)
    };
    ping(port, &tls12).unwrap_err();
    let aes = [suite::TLS13_AES_128_GCM_SHA256];
    let aes_only = Offer {
        suites: Some(&aes),
        ..Offer::trusting(&ca)
    };
    ping(port, &aes_only).unwrap_err();
    let conn = TlsConn::connect(port, &Offer::trusting(&ca)).unwrap();
    let negotiated = conn
        .stream
        .get_ref()
        .conn
        .negotiated_cipher_suite()
        .unwrap();
    assert_eq!(negotiated, suite::TLS13_CHACHA20_POLY1305_SHA256);
    // Both versions, TLSv1.2 restricted to one suite.
    let mut admin = conn;
    let reply = admin
        .cmd(&[
            "CONFIG",
            "SET",
            "tls-protocols",
            "TLSv1.2 TLSv1.3",
            "tls-ciphers",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ])
        .unwrap();
    assert_eq!(reply, "+OK");
    let conn = TlsConn::connect(port, &tls12).unwrap();
    let negotiated = conn
        .stream
        .get_ref()
        .conn
        .negotiated_cipher_suite()
        .unwrap();
    assert_eq!(negotiated, suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    // Bad values are refused and change nothing.
    let reply = admin
        .cmd(&["CONFIG", "SET", "tls-protocols", "TLSv1.1"])
        .unwrap();
    assert!(
        reply.contains("'tls-protocols'") && reply.contains("not supported"),
        "{reply}"
    );
    let reply = admin
        .cmd(&["CONFIG", "SET", "tls-ciphersuites", "RC4"])
        .unwrap();
    assert!(reply.contains("unknown cipher suite"), "{reply}");
    let got = admin.cmd(&["CONFIG", "GET", "tls-protocols"]).unwrap();
    assert_eq!(got, "*2 $tls-protocols $TLSv1.2 TLSv1.3");
}

// ---------------------------------------------------------------------------------------------
// Bad input on the TLS port

/// Reads until EOF or error; whether the server closed within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(within)).unwrap();
    common::read_to_close(stream)
}

#[test]
fn a_stalled_handshake_is_closed_after_the_timeout_and_costs_others_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, log) = tls_node(
        tmp.path(),
        &certs,
        &[
            "--tls-auth-clients",
            "no",
            "--tls-handshake-timeout-ms",
            "3000",
        ],
    );
    let port = node.port;
    let ca = certs.dir.join("ca.crt");
    let mut client = TlsConn::connect(port, &Offer::trusting(&ca)).unwrap();
    let started = Instant::now();
    // Silent connections, and one that stops halfway through a ClientHello.
    let mut stalled: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    stalled.push(half);
    // Meanwhile others connect and run commands at once.
    for i in 0..20 {
        let t = Instant::now();
        let key = format!("k{i}");
        assert_eq!(client.cmd(&["SET", &key, "v"]).unwrap(), "+OK");
        ping(port, &Offer::trusting(&ca)).unwrap();
        assert!(
            t.elapsed() < Duration::from_millis(1000),
            "a client waited {:?}",
            t.elapsed()
        );
    }
    for s in &mut stalled {
        let (bytes, closed) = closed_within(s, Duration::from_secs(10));
        assert!(closed, "a stalled handshake was left open");
        // The half ClientHello may get a TLS alert; the silent ones get nothing.
        assert!(bytes.len() < 64, "{bytes:?}");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "closed after {waited:?}"
    );
    let lines = logged(&log, "not done after 3000 ms");
    assert_eq!(lines.len(), 1, "one line for six stalls: {lines:?}");
    assert_eq!(client.cmd(&["DBSIZE"]).unwrap(), ":20");
}

#[test]
fn plaintext_and_garbage_on_the_tls_port_are_closed_and_logged_once() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, log) = tls_node(tmp.path(), &certs, &["--tls-auth-clients", "no"]);
    let port = node.port;
    let ca = certs.dir.join("ca.crt");
    let mut client = TlsConn::connect(port, &Offer::trusting(&ca)).unwrap();
    assert_eq!(client.cmd(&["SET", "k", "v"]).unwrap(), "+OK");
    // Each sender closes its side after writing, so an incomplete record ends the handshake
    // at once instead of stalling it.
    let send = |bytes: &[u8]| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        closed_within(&mut s, Duration::from_secs(10))
    };
    // RESP and inline commands are told to use TLS, in plaintext.
    for request in [&b"*1\r\n$4\r\nPING\r\n"[..], b"PING\r\n", b"GET k\r\n"] {
        let (reply, closed) = send(request);
        assert!(closed);
        assert!(
            reply.starts_with(b"-ERR this port speaks TLS"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    // Binary garbage and broken TLS records are closed (at most with a TLS alert).
    let mut junk = vec![0x16, 0x03, 0x03, 0xff, 0xff];
    junk.extend((0..64 * 1024).map(|i| (i * 7 % 251) as u8));
    let mut big_record = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc];
    big_record.extend(vec![0u8; 16 * 1024]);
    for bytes in [
        &[0u8, 1, 2, 3][..],
        &[0xff; 100],
        &junk,
        &big_record,
        b"\x16\x03\x01",
    ] {
        let (reply, closed) = send(bytes);
        assert!(closed);
        assert!(reply.len() < 64 && !reply.starts_with(b"-ERR"), "{reply:?}");
    }
    // The open client never noticed; new ones connect as before.
    assert_eq!(client.cmd(&["GET", "k"]).unwrap(), "$v");
    ping(port, &Offer::trusting(&ca)).unwrap();
    let plaintext = logged(&log, "that is not TLS");
    assert_eq!(plaintext.len(), 1, "{plaintext:?}");
    let failed = logged(&log, "TLS handshake with");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let info = client.cmd(&["INFO", "stats"]).unwrap();
    let failures: u64 = info
        .split("tls_handshake_failures:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    // Every refused connection is counted.
    assert_eq!(failures, 8, "{info}");
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn bad_tls_settings_stop_the_start_with_the_option_named() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (crt, key, ca) = (
        certs.file("server.crt"),
        certs.file("server.key"),
        certs.file("ca.crt"),
    );
    let port = free_port();
    let p = free_port().to_string();
    let missing = tmp.path().join("missing.pem").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--tls-port", &p],
            "'tls-cert-file': is needed with tls-port",
        ),
        (
            vec!["--tls-port", &p, "--tls-cert-file", &crt],
            "'tls-key-file'",
        ),
        (
            vec![
                "--tls-port",
                &p,
                "--tls-cert-file",
                &crt,
                "--tls-key-file",
                &key,
            ],
            "'tls-ca-cert-file': is needed to verify client certificates",
        ),
        (
            vec![
                "--tls-port",
                &p,
                "--tls-cert-file",
                &missing,
                "--tls-key-file",
                &key,
                "--tls-auth-clients",
                "no",
            ],
            "'tls-cert-file'",
        ),
        (
            vec![
                "--tls-port",
                &p,
                "--tls-cert-file",
                &crt,
                "--tls-key-file",
                &ca,
                "--tls-auth-clients",
                "no",
            ],
            "'tls-key-file'",
        ),
        (
            vec![
                "--tls-port",
                &p,
                "--tls-cert-file",
                &crt,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca,
                "--tls-protocols",
                "SSLv3",
            ],
            "'tls-protocols'",
        ),
        (vec!["--port", "0"], "'port': port and tls-port are both 0"),
        (vec!["--tls-auth-clients", "sometimes"], "tls-auth-clients"),
    ];
    for (flags, expected) in cases {
        let exited = run_expecting_exit(
            &tmp.path().join("data"),
            port,
            &flags,
            Duration::from_secs(20),
        )
        .unwrap_or_else(|| panic!("{flags:?} started"));
        assert_eq!(
            exited.status.code(),
            Some(2),
            "{flags:?}: {}",
            exited.stderr
        );
        assert!(
            exited.stderr.contains(expected),
            "{flags:?}: {}",
            exited.stderr
        );
        assert_eq!(exited.stderr.trim().lines().count(), 1, "{}", exited.stderr);
    }
}

#[test]
fn plain_and_tls_listeners_serve_the_same_data_and_options_come_from_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (plain_port, tls_port) = (free_port(), free_port());
    let toml = format!(
        "port = {plain_port}\ntls-port = {tls_port}\ntls-cert-file = \"{}\"\ntls-key-file = \"{}\"\ntls-ca-cert-file = \"\"\ntls-auth-clients = \"no\"\ntls-handshake-timeout-ms = 2500\n",
        certs.file("server.crt"),
        certs.file("server.key"),
    );
    let config = tmp.path().join("cairn.toml");
    std::fs::write(&config, toml).unwrap();
    let (node, _log) = Cairn::start_capturing(
        &tmp.path().join("data"),
        plain_port,
        &["--config", config.to_str().unwrap()],
    );
    let mut plain = node.client();
    assert_eq!(
        plain.must(&["SET", "k", "plain"]),
        common::Resp::Simple("OK".into())
    );
    let mut tls = TlsConn::connect(tls_port, &Offer::trusting(&certs.dir.join("ca.crt"))).unwrap();
    assert_eq!(tls.cmd(&["GET", "k"]).unwrap(), "$plain");
    let got = tls.cmd(&["CONFIG", "GET", "tls-*"]).unwrap();
    assert!(got.contains(&format!("$tls-port ${tls_port}")), "{got}");
    assert!(got.contains("$tls-handshake-timeout-ms $2500"), "{got}");
    assert!(
        got.contains("$tls-ca-cert-file $ $tls-auth-clients $no"),
        "{got}"
    );
    // CONFIG REWRITE writes the TLS options back in a form the next start reads.
    assert_eq!(tls.cmd(&["CONFIG", "REWRITE"]).unwrap(), "+OK");
    let rewritten = std::fs::read_to_string(&config).unwrap();
    assert!(
        rewritten.contains(&format!("tls-port = {tls_port}")),
        "{rewritten}"
    );
    assert!(
        rewritten.contains("tls-auth-clients = \"no\""),
        "{rewritten}"
    );
    drop(tls);
    drop(node);
    let (_node, _log) = Cairn::start_capturing(
        &tmp.path().join("data2"),
        plain_port,
        &["--config", config.to_str().unwrap()],
    );
    let mut tls = TlsConn::connect(tls_port, &Offer::trusting(&certs.dir.join("ca.crt"))).unwrap();
    assert_eq!(tls.cmd(&["PING"]).unwrap(), "+PONG");
}

/// Replies bigger than the socket takes at once, and long pipelines: TLS holds encrypted
/// records the socket has not taken yet, and they must still leave (the session flushes).
#[test]
fn large_values_and_pipelines_cross_tls_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, _log) = tls_node(tmp.path(), &certs, &["--tls-auth-clients", "no"]);
    let mut conn =
        TlsConn::connect(node.port, &Offer::trusting(&certs.dir.join("ca.crt"))).unwrap();
    let value: String = (0..8 * 1024 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    assert_eq!(conn.cmd(&["SET", "big", &value]).unwrap(), "+OK");
    let back = conn.cmd(&["GET", "big"]).unwrap();
    assert_eq!(back.len(), value.len() + 1);
    assert!(back[1..] == value, "the value came back changed");
    // A client that reads slower than the server writes: the socket is full whenever the
    // server writes, so the reply's last records wait in the server's TLS buffer, and the
    // server must flush them once the socket drains.
    let huge = value.repeat(3);
    assert_eq!(conn.cmd(&["SET", "huge", &huge]).unwrap(), "+OK");
    let get = b"*2\r\n$3\r\nGET\r\n$4\r\nhuge\r\n";
    conn.stream.get_mut().write_all(get).unwrap();
    conn.stream.get_mut().flush().unwrap();
    let expected = format!("${}\r\n", huge.len()).len() + huge.len() + 2;
    let (mut got, mut buf) = (0, vec![0u8; 256 * 1024]);
    while got < expected {
        let n = conn.stream.read(&mut buf).expect("the whole reply");
        assert!(n > 0, "closed after {got} of {expected} bytes");
        got += n;
        std::thread::sleep(Duration::from_millis(2));
    }
    // 20,000 commands in one write; every reply arrives, in order.
    let mut batch = String::new();
    for i in 0..20_000 {
        let key = format!("k{}", i % 100);
        batch.push_str(&format!("*2\r\n$4\r\nINCR\r\n${}\r\n{key}\r\n", key.len()));
    }
    conn.stream.get_mut().write_all(batch.as_bytes()).unwrap();
    conn.stream.get_mut().flush().unwrap();
    for i in 0..20_000 {
        assert_eq!(conn.reply().unwrap(), format!(":{}", i / 100 + 1));
    }
}

/// A TLS client that stops reading is closed by `client-output-buffer-limit` like a plain
/// one, and leaves: closing does not wait for it to take the records still buffered for it
/// (its socket is full by then: the soft limit gives the server a second of writing first).
#[test]
fn a_tls_client_that_stops_reading_is_closed_and_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = Certs::new(tmp.path(), "certs");
    let (node, log) = tls_node(
        tmp.path(),
        &certs,
        &[
            "--tls-auth-clients",
            "no",
            "--client-output-buffer-limit",
            "normal 0 1mb 1",
        ],
    );
    let ca = certs.dir.join("ca.crt");
    let offer = Offer::trusting(&ca);
    let mut admin = TlsConn::connect(node.port, &offer).unwrap();
    let value = "x".repeat(512 * 1024);
    assert_eq!(admin.cmd(&["SET", "v", &value]).unwrap(), "+OK");
    let mut victim = TlsConn::connect(node.port, &offer).unwrap();
    let get = b"*2\r\n$3\r\nGET\r\n$1\r\nv\r\n".repeat(200);
    victim.stream.get_mut().write_all(&get).unwrap();
    victim.stream.get_mut().flush().unwrap();
    let connected = |admin: &mut TlsConn| {
        let info = admin.cmd(&["INFO", "clients"]).unwrap();
        info.split("connected_clients:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_string()
    };
    wait_until("the client that does not read to leave", || {
        connected(&mut admin) == "1"
    });
    // Closed by the limit, not for another reason.
    logged(&log, "output buffer limit");
    assert_eq!(admin.cmd(&["PING"]).unwrap(), "+PONG");
}
