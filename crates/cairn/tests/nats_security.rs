//! A node reaches NATS the way production does: with a user and password, over TLS with the
//! servers' CA, and refuses to start (one clear error) when the credentials or the certificate
//! are wrong.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use common::nats::NatsCluster;
use common::{Resp, free_port, run_expecting_exit};

static SERIAL: Mutex<()> = Mutex::new(());

fn works(node: &common::Cairn) {
    let mut c = node.client();
    assert_eq!(c.must(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    assert_eq!(c.must(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
}

/// Starts a node expected to fail; returns its stderr.
fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let exited = run_expecting_exit(
        &dir.path().join("data"),
        free_port(),
        args,
        Duration::from_secs(30),
    )
    .expect("the node refuses to start");
    assert!(!exited.status.success());
    exited.stderr
}

#[test]
fn nodes_log_in_to_nats_with_a_user_and_password() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let nats =
        NatsCluster::start_with(3, "authorization { user: cairn, password: s3cret }", "nats");
    let node = nats.node(&["--nats-user", "cairn", "--nats-password", "s3cret"]);
    works(&node);
    let urls = nats.urls();
    let stderr = refused(&[
        "--log",
        "jetstream",
        "--nats-url",
        &urls,
        "--nats-user",
        "cairn",
        "--nats-password",
        "wrong",
    ]);
    assert!(stderr.contains("authorization violation"), "{stderr}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "openssl {args:?}: {status:?}");
}

/// An EC P-256 key `<name>.key` and either a self-signed CA certificate `<name>.pem`
/// (`csr: false`) or a signing request `<name>.csr`, for the subject `cn`.
fn ec_key_and(dir: &Path, name: &str, cn: &str, csr: bool) {
    let (key, out) = (
        format!("{name}.key"),
        format!("{name}.{}", if csr { "csr" } else { "pem" }),
    );
    let subject = format!("/CN={cn}");
    let mut args = vec!["req"];
    if !csr {
        args.extend_from_slice(&["-x509", "-days", "2"]);
    }
    args.extend_from_slice(&[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &out,
        "-subj",
        &subject,
    ]);
    openssl(dir, &args);
}

#[test]
fn nodes_reach_nats_over_tls_and_check_its_certificate() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    ec_key_and(d, "ca", "cairn test CA", false);
    ec_key_and(d, "server", "127.0.0.1", true);
    std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    // A second CA that did not sign the servers' certificate.
    ec_key_and(d, "other", "other CA", false);
    let tls = format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\" }}",
        d.join("server.pem").display(),
        d.join("server.key").display()
    );
    let nats = NatsCluster::start_with(3, &tls, "tls");
    let ca_file = d.join("ca.pem").display().to_string();
    let node = nats.node(&["--nats-tls-ca-file", &ca_file]);
    works(&node);
    let other_file = d.join("other.pem").display().to_string();
    let urls = nats.urls();
    let stderr = refused(&[
        "--log",
        "jetstream",
        "--nats-url",
        &urls,
        "--nats-tls-ca-file",
        &other_file,
    ]);
    assert!(stderr.to_lowercase().contains("tls"), "{stderr}");
}
