//! The official Upstash clients, unmodified, against Cairn's REST API on the real binary:
//! `@upstash/redis` and `@upstash/ratelimit` (tests/node/, pinned in package.json) and
//! `upstash-redis` (tests/python/, pinned by scripts/deps.sh into .deps/venv). Each program
//! is given only the URL and the tokens. node and the venv come from scripts/deps.sh; when
//! they are missing the tests fail and say so rather than skip.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::Cairn;
use common::http::start_rest;

const TOKEN: &str = "clients-token";
const READONLY: &str = "clients-readonly-token";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Server {
    cairn: Cairn,
    url: String,
}

fn start() -> Server {
    let (cairn, port) = start_rest(&["--rest-token", TOKEN, "--rest-readonly-token", READONLY]);
    Server {
        cairn,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// Runs a client program and checks it printed `ok <part>` for each part.
fn run(mut cmd: Command, what: &str, parts: &[&str]) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what} not found ({e}): run scripts/deps.sh"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in parts {
        assert!(stdout.contains(&format!("ok {part}")), "{what}: {stdout}");
    }
}

fn node(server: &Server, script: &str, parts: &[&str]) {
    let dir = root().join("tests/node");
    assert!(
        dir.join("node_modules/@upstash/redis").exists(),
        "{}/node_modules is missing: run scripts/deps.sh",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script))
        .args([&server.url, TOKEN, READONLY])
        .args(parts)
        .current_dir(&dir);
    run(cmd, script, parts);
}

fn python(server: &Server, parts: &[&str]) {
    let python = root().join(".deps/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/deps.sh",
        python.display()
    );
    let mut cmd = Command::new(python);
    cmd.arg(root().join("tests/python/upstash_redis_e2e.py"))
        .args([&server.url, TOKEN, READONLY])
        .args(parts);
    run(cmd, "upstash_redis_e2e.py", parts);
}

/// Nothing the clients did is left behind: no REST client registered, no subscription.
fn assert_clean(server: &Server) {
    let mut raw = server.cairn.conn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = String::from_utf8(raw.cmd(&["CLIENT", "LIST"])).unwrap();
        let numpat = raw.cmd(&["PUBSUB", "NUMSUB", "chat"]);
        if list.matches("id=").count() == 1 && numpat == b"*2\r\n$4\r\nchat\r\n:0\r\n" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {list}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn upstash_redis_js() {
    let server = start();
    node(&server, "upstash-redis.js", &["basic"]);
    assert_clean(&server);
    // What the program wrote is there for RESP clients too.
    assert_eq!(
        server.cairn.conn().cmd(&["ZSCORE", "z", "m"]),
        b"$5\r\n99.75\r\n"
    );
}

#[test]
fn upstash_redis_python() {
    let server = start();
    python(&server, &["basic"]);
    assert_clean(&server);
    assert_eq!(
        server.cairn.conn().cmd(&["HGET", "h", "name"]),
        b"$3\r\nAda\r\n"
    );
}

#[test]
fn upstash_redis_js_multi_exec() {
    node(&start(), "upstash-redis.js", &["multi"]);
}

#[test]
fn upstash_redis_js_scripts() {
    node(&start(), "upstash-redis.js", &["scripts"]);
}

#[test]
fn upstash_redis_js_json() {
    let server = start();
    node(&server, "upstash-redis.js", &["json"]);
    assert_eq!(
        server.cairn.conn().cmd(&["JSON.GET", "doc2"]),
        b"$7\r\n{\"a\":1}\r\n"
    );
}

#[test]
fn upstash_redis_python_multi_exec() {
    python(&start(), &["multi"]);
}

#[test]
fn upstash_redis_python_scripts() {
    python(&start(), &["scripts"]);
}

#[test]
fn upstash_ratelimit_limits_hold_under_concurrency() {
    let server = start();
    node(&server, "ratelimit.js", &["ratelimit"]);
}
