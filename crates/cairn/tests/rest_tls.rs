//! The REST API over HTTPS: with `tls-port` set the REST port serves TLS with the RESP
//! listener's certificate, without asking for client certificates (even under the default
//! `tls-auth-clients yes`), for a bare rustls client and for `@upstash/redis` in Node
//! trusting the development CA of `cairn tls init`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::{Cairn, free_port};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, StreamOwned};

const T: &str = "tls-rest-token";

fn tls_init(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["tls", "init", "--host", "127.0.0.1", "--host", "localhost"])
        .args(["--tls-port", "6379", "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "tls init: {out:?}");
}

fn start(certs: &Path) -> (Cairn, u16) {
    let rest_port = free_port();
    let tls_port = free_port();
    let file = |name: &str| certs.join(name).display().to_string();
    let cairn = Cairn::start(&[
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &file("server.crt"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.crt"),
        "--rest-port",
        &rest_port.to_string(),
        "--rest-token",
        T,
        "--rest-readonly-token",
        "tls-readonly",
    ]);
    (cairn, rest_port)
}

fn client_config(ca: &Path) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[test]
fn https_without_a_client_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    tls_init(&certs);
    let (_cairn, port) = start(&certs);
    let conn = ClientConnection::new(
        client_config(&certs.join("ca.crt")),
        ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    let body = br#"["PING"]"#;
    write!(
        tls,
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {T}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    tls.write_all(body).unwrap();
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let mut reader = BufReader::new(tls);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut len = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    assert_eq!(body, br#"{"result":"PONG"}"#);
    // Plain HTTP on the HTTPS port gets nothing useful.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    plain.write_all(b"GET /ping HTTP/1.1\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out);
    assert!(!out.starts_with(b"HTTP/1.1 200"));
}

#[test]
fn upstash_redis_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    tls_init(&certs);
    let (cairn, port) = start(&certs);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        dir.join("node_modules/@upstash/redis").exists(),
        "{}/node_modules is missing: run scripts/deps.sh",
        dir.display()
    );
    let out = Command::new("node")
        .arg(dir.join("upstash-redis.js"))
        .args([
            &format!("https://127.0.0.1:{port}"),
            T,
            "tls-readonly",
            "basic",
        ])
        .env("NODE_EXTRA_CA_CERTS", certs.join("ca.crt"))
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("node not found ({e}): run scripts/deps.sh"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok basic"),
        "{out:?}"
    );
    drop(cairn);
}
