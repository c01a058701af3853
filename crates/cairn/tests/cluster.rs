//! Several Cairn nodes over one NATS JetStream stream (three real `nats-server` processes on
//! loopback, `sync_interval: always`):
//! - a write through one node is seen at once by a read through another (linearizable reads);
//! - `consistency session` reads locally and still sees the connection's own writes;
//! - kill -9 of a Cairn node, or of a NATS server, under a write load: the clients of the
//!   other nodes keep working and no acknowledged write is lost;
//! - a node that joins later loads the newest snapshot, follows the stream, and ends with the
//!   same data (DEBUG DIGEST) as the others.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nats::NatsCluster;
use common::{Cairn, Client, Resp};

/// The tests of this file each run a whole cluster; one at a time keeps 2 cores usable.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn bulk(s: &str) -> Resp {
    Resp::Bulk(s.as_bytes().to_vec())
}

fn digest(node: &Cairn) -> String {
    match node.client().must(&["DEBUG", "DIGEST"]) {
        Resp::Simple(d) => d,
        Resp::Bulk(d) => String::from_utf8(d).unwrap(),
        other => panic!("DEBUG DIGEST replied {other:?}"),
    }
}

fn info_field(node: &Cairn, field: &str) -> String {
    let Resp::Bulk(text) = node.client().must(&["INFO", "cluster"]) else {
        panic!("INFO is a bulk string");
    };
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO cluster:\n{text}"))
        .to_string()
}

#[test]
fn a_write_on_one_node_is_read_on_another() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let mut clients: Vec<Client> = nodes.iter().map(Cairn::client).collect();
    for i in 0..300 {
        let (w, r) = (i % 3, (i + 1 + i / 3) % 3);
        let key = format!("k{}", i % 7);
        let value = format!("v{i}");
        assert_eq!(
            clients[w].must(&["SET", &key, &value]),
            Resp::Simple("OK".into())
        );
        assert_eq!(
            clients[r].must(&["GET", &key]),
            bulk(&value),
            "write {i} through node {w}, read through node {r}"
        );
    }
    // Read-modify-write commands from every node see each other's effects.
    for i in 1..=60 {
        assert_eq!(
            clients[i % 3].must(&["INCR", "counter"]),
            Resp::Int(i as i64)
        );
    }
    clients[0].must(&["SET", "t", "x", "EX", "100"]);
    let Resp::Int(ttl) = clients[2].must(&["TTL", "t"]) else {
        panic!("TTL is an integer");
    };
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    for c in &mut clients {
        c.must(&["GET", "counter"]);
    }
    let digests: Vec<String> = nodes.iter().map(digest).collect();
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    assert_eq!(info_field(&nodes[1], "log"), "jetstream");
    assert_eq!(info_field(&nodes[1], "consistency"), "linearizable");
    // `cairn cluster status` lists every node with its address and applied position (each
    // node refreshes its entry every second).
    let urls = nats.urls();
    eventually(10, "every node in cluster status, caught up", || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["cluster", "status", "--nats-url", &urls])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("stream CAIRN_default"), "{text}");
        assert!(text.contains("snapshot at seq"), "{text}");
        nodes
            .iter()
            .all(|node| {
                text.lines()
                    .find(|l| l.contains(&node.addr()))
                    .and_then(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
                    .is_some_and(|applied| applied > 300)
            })
            .then_some(())
    });
}

#[test]
fn session_consistency_reads_the_connections_own_writes_at_once() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let a = nats.node(&["--consistency", "session"]);
    let b = nats.node(&["--consistency", "session"]);
    let (mut ca, mut cb) = (a.client(), b.client());
    for i in 0..100 {
        let value = format!("v{i}");
        ca.must(&["SET", "k", &value]);
        assert_eq!(ca.must(&["GET", "k"]), bulk(&value));
    }
    // The other node follows the stream and catches up by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cb.must(&["GET", "k"]) != bulk("v99") {
        assert!(Instant::now() < deadline, "node b never caught up");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(info_field(&b, "consistency"), "session");
    // A sync token carries read-your-writes to another node.
    for i in 0..100 {
        let value = format!("w{i}");
        ca.must(&["SET", "k", &value]);
        let Resp::Int(token) = ca.must(&["CAIRN.SYNCTOKEN"]) else {
            panic!("CAIRN.SYNCTOKEN is an integer");
        };
        assert_eq!(
            cb.must(&["CAIRN.SYNC", &token.to_string()]),
            Resp::Simple("OK".into())
        );
        assert_eq!(cb.must(&["GET", "k"]), bulk(&value), "after sync {token}");
    }
    assert_eq!(
        cb.must(&["CAIRN.SYNC", "99999999"]),
        Resp::Error("ERR sync token is ahead of the log".into())
    );
    assert_eq!(
        cb.must(&["CAIRN.SYNC", "x"]),
        Resp::Error("ERR invalid sync token".into())
    );
}

#[test]
fn sync_tokens_on_a_single_node() {
    let node = Cairn::start(&[]);
    let mut c = node.client();
    c.must(&["SET", "a", "1"]);
    let Resp::Int(token) = c.must(&["CAIRN.SYNCTOKEN"]) else {
        panic!("CAIRN.SYNCTOKEN is an integer");
    };
    assert!(token >= 2, "token {token}");
    assert_eq!(
        c.must(&["CAIRN.SYNC", &token.to_string()]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        c.must(&["CAIRN.SYNC", &(token + 1).to_string()]),
        Resp::Error("ERR sync token is ahead of the log".into())
    );
}

/// Writers each INCR their own key through one node, recording the last value acknowledged.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Writer>>,
    ops: Arc<Vec<AtomicU64>>,
}

#[derive(Debug)]
struct Writer {
    key: String,
    node: usize,
    acked: i64,
    /// An INCR was sent but its reply never came (the node died): it may have been applied.
    unknown: bool,
    /// Longest gap between two acknowledgements.
    stall: Duration,
}

fn start_load(nodes: &[&Cairn], per_node: usize) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(
        (0..nodes.len() * per_node)
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let mut threads = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for t in 0..per_node {
            let id = n * per_node + t;
            let addr = node.addr();
            let (stop, ops) = (stop.clone(), ops.clone());
            threads.push(std::thread::spawn(move || {
                let key = format!("w{id}");
                let mut w = Writer {
                    key: key.clone(),
                    node: n,
                    acked: 0,
                    unknown: false,
                    stall: Duration::ZERO,
                };
                let Ok(mut client) = Client::connect(&addr) else {
                    return w;
                };
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    match client.call(&[b"INCR", key.as_bytes()]) {
                        Ok(Resp::Int(v)) => {
                            assert_eq!(v, w.acked + 1, "{key}: INCR skipped or repeated");
                            w.acked = v;
                            w.stall = w.stall.max(last.elapsed());
                            last = Instant::now();
                            ops[id].fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(other) => panic!("{key}: INCR replied {other:?}"),
                        Err(_) => {
                            w.unknown = true;
                            break;
                        }
                    }
                }
                w
            }));
        }
    }
    Load { stop, threads, ops }
}

impl Load {
    fn ops(&self, id: usize) -> u64 {
        self.ops[id].load(Ordering::Relaxed)
    }

    fn finish(self) -> Vec<Writer> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

/// Every acknowledged INCR is in the data, as read through `node`; an unknown one at most once.
fn check_acked(node: &Cairn, writers: &[Writer]) {
    let mut c = node.client();
    for w in writers {
        let value = match c.must(&["GET", &w.key]) {
            Resp::Bulk(b) => String::from_utf8(b).unwrap().parse::<i64>().unwrap(),
            Resp::Nil => 0,
            other => panic!("GET {} replied {other:?}", w.key),
        };
        let most = w.acked + i64::from(w.unknown);
        assert!(
            (w.acked..=most).contains(&value),
            "{}: value {value}, acknowledged {} (unknown outcome: {})",
            w.key,
            w.acked,
            w.unknown
        );
    }
}

/// Waits until every writer in `ids` has acknowledged more operations than in `before`.
fn wait_progress(load: &Load, ids: &[usize], what: &str) -> Duration {
    let before: Vec<u64> = ids.iter().map(|&i| load.ops(i)).collect();
    let started = Instant::now();
    while ids
        .iter()
        .zip(&before)
        .any(|(&i, &b)| load.ops(i) <= b + 10)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "clients stopped making progress after {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed()
}

#[test]
fn killing_a_node_under_load_loses_no_acknowledged_write() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let mut nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let load = start_load(&nodes.iter().collect::<Vec<_>>(), 2);
    wait_progress(&load, &[0, 1, 2, 3, 4, 5], "the start");
    std::thread::sleep(Duration::from_millis(500));
    nodes[1].kill9();
    let resumed = wait_progress(&load, &[0, 1, 4, 5], "node 1 was killed");
    std::thread::sleep(Duration::from_millis(500));
    let writers = load.finish();
    eprintln!("surviving clients progressed {resumed:?} after the kill");
    assert!(writers.iter().filter(|w| w.node == 1).all(|w| w.unknown));
    check_acked(&nodes[0], &writers);
    check_acked(&nodes[2], &writers);
    // A replacement node catches up to the same data.
    let replacement = nats.node(&[]);
    check_acked(&replacement, &writers);
    replacement.client().must(&["GET", "w0"]);
    nodes[0].client().must(&["GET", "w0"]);
    assert_eq!(digest(&replacement), digest(&nodes[0]));
}

#[test]
fn killing_a_nats_server_under_load_loses_no_acknowledged_write() {
    let _serial = serial();
    let mut nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let load = start_load(&nodes.iter().collect::<Vec<_>>(), 2);
    wait_progress(&load, &[0, 1, 2, 3, 4, 5], "the start");
    std::thread::sleep(Duration::from_millis(500));
    // The stream's leader: the worst case (an election before appends go on).
    let leader = nats
        .stream_leader("CAIRN_default")
        .expect("the stream has a leader");
    nats.kill9(leader);
    let resumed = wait_progress(&load, &[0, 1, 2, 3, 4, 5], "a NATS server was killed");
    std::thread::sleep(Duration::from_millis(500));
    let writers = load.finish();
    let stall = writers.iter().map(|w| w.stall).max().unwrap();
    eprintln!("all clients progressed {resumed:?} after the kill; longest stall {stall:?}");
    assert!(writers.iter().all(|w| !w.unknown), "{writers:?}");
    for node in &nodes {
        check_acked(node, &writers);
    }
    // The killed server comes back and the cluster keeps serving.
    nats.start_one(leader);
    nodes[0].client().must(&["SET", "after", "restart"]);
    assert_eq!(nodes[2].client().must(&["GET", "after"]), bulk("restart"));
}

#[test]
fn a_new_node_joins_from_the_newest_snapshot() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let a = nats.node(&[]);
    let b = nats.node(&[]);
    let (mut ca, mut cb) = (a.client(), b.client());
    for i in 0..300 {
        ca.must(&["SET", &format!("a{i}"), &i.to_string()]);
    }
    assert_eq!(ca.must(&["SAVE"]), Resp::Simple("OK".into()));
    for i in 0..200 {
        cb.must(&["SET", &format!("b{i}"), &i.to_string()]);
    }
    // The second snapshot moves the pointer and purges the stream below the first.
    assert_eq!(cb.must(&["SAVE"]), Resp::Simple("OK".into()));
    for i in 0..100 {
        ca.must(&["SET", &format!("c{i}"), &i.to_string()]);
        ca.must(&["DEL", &format!("a{i}")]);
    }
    let c = nats.node(&[]);
    let started_from: u64 = info_field(&c, "snapshot_seq_at_start").parse().unwrap();
    assert!(started_from > 300, "started from snapshot {started_from}");
    let mut cc = c.client();
    assert_eq!(cc.must(&["GET", "b199"]), bulk("199"));
    assert_eq!(cc.must(&["GET", "c99"]), bulk("99"));
    assert_eq!(cc.must(&["GET", "a5"]), Resp::Nil);
    assert_eq!(cc.must(&["DBSIZE"]), Resp::Int(500));
    // DEBUG DIGEST takes no barrier: a read first brings each node up to date.
    ca.must(&["GET", "c99"]);
    cb.must(&["GET", "c99"]);
    assert_eq!(digest(&c), digest(&a));
    assert_eq!(digest(&c), digest(&b));
    // It takes writes like any other node.
    cc.must(&["SET", "from-c", "1"]);
    assert_eq!(cb.must(&["GET", "from-c"]), bulk("1"));
}

#[test]
fn an_entry_too_large_for_nats_is_refused_and_nothing_else_is_lost() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let a = nats.node(&[]);
    let b = nats.node(&[]);
    let mut ca = a.client();
    let big = "x".repeat(2 * 1024 * 1024);
    // Pipelined around the big one, the small writes of the same connection still succeed.
    let cmds: Vec<Vec<Vec<u8>>> = vec![
        vec![b"SET".to_vec(), b"before".to_vec(), b"1".to_vec()],
        vec![b"SET".to_vec(), b"big".to_vec(), big.into_bytes()],
        vec![b"SET".to_vec(), b"after".to_vec(), b"2".to_vec()],
    ];
    let replies = ca.pipeline(&cmds).unwrap();
    assert_eq!(replies[0], Resp::Simple("OK".into()));
    match &replies[1] {
        Resp::Error(e) => assert!(e.starts_with("ERR entry too large for the log"), "{e}"),
        other => panic!("a 2 MiB SET replied {other:?}"),
    }
    assert_eq!(replies[2], Resp::Simple("OK".into()));
    let mut cb = b.client();
    assert_eq!(cb.must(&["GET", "big"]), Resp::Nil);
    assert_eq!(cb.must(&["GET", "before"]), bulk("1"));
    assert_eq!(cb.must(&["GET", "after"]), bulk("2"));
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `secs` seconds.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn housekeeper(nodes: &[Cairn], alive: &[usize]) -> Option<usize> {
    let holders: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&i| info_field(&nodes[i], "housekeeper") == "yes")
        .collect();
    (holders.len() == 1).then(|| holders[0])
}

fn expire_all(writer: &Cairn, reader: &Cairn) {
    let mut w = writer.client();
    for i in 0..50 {
        w.must(&["SET", &format!("t{i}"), "x", "PX", "200"]);
    }
    let mut r = reader.client();
    eventually(20, "active expiry to remove the keys", || {
        (r.must(&["DBSIZE"]) == Resp::Int(0)).then_some(())
    });
}

#[test]
fn one_node_holds_the_housekeeping_lease_and_another_takes_over() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let mut nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let first = eventually(20, "one housekeeper", || housekeeper(&nodes, &[0, 1, 2]));
    let epoch: u64 = info_field(&nodes[first], "lease_epoch").parse().unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != first).collect();
    expire_all(&nodes[others[0]], &nodes[others[1]]);
    nodes[first].kill9();
    let second = eventually(30, "a new housekeeper", || housekeeper(&nodes, &others));
    let new_epoch: u64 = info_field(&nodes[second], "lease_epoch").parse().unwrap();
    assert!(new_epoch > epoch, "epoch {epoch} -> {new_epoch}");
    expire_all(&nodes[others[0]], &nodes[others[1]]);
}

fn signal(node: &Cairn, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig}");
}

#[test]
fn a_node_left_behind_a_purge_stops_loudly_and_a_restart_catches_up() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let urls = nats.urls();
    let small = ["--snapshot-log-bytes", "65536"];
    let a = nats.node(&small);
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--log", "jetstream", "--nats-url", urls.as_str()];
    args.extend_from_slice(&small);
    let (b, stderr) = Cairn::start_capturing(&tmp.path().join("b"), common::free_port(), &args);
    let mut b = b;
    // Freeze b, and wait until a holds the lease (b's lapses while it is frozen).
    signal(&b, "-STOP");
    let nodes = [a];
    eventually(30, "a takes the lease", || housekeeper(&nodes, &[0]));
    // Enough log for several snapshots: the stream is purged below the previous one.
    let mut c = nodes[0].client();
    let value = "v".repeat(1000);
    for i in 0..1500 {
        c.must(&["SET", &format!("k{i}"), &value]);
    }
    eventually(30, "two snapshots and a purge", || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["cluster", "status", "--nats-url", &urls])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let first: u64 = text
            .lines()
            .next()?
            .split("seq ")
            .nth(1)?
            .split("..")
            .next()?
            .parse()
            .ok()?;
        (first > 1).then_some(())
    });
    signal(&b, "-CONT");
    let status = b.wait_exit(Duration::from_secs(30));
    assert!(!status.success());
    let text = common::strip_ansi(&stderr.lock().unwrap());
    assert!(text.contains("can no longer follow the log"), "{text}");
    // Started again, it loads the newest snapshot and has everything.
    let b = nats.node(&[]);
    let mut cb = b.client();
    assert_eq!(cb.must(&["DBSIZE"]), Resp::Int(1500));
    assert_eq!(cb.must(&["GET", "k1499"]), Resp::Bulk(value.into_bytes()));
}

#[test]
fn pipelined_replies_keep_their_order_while_reads_wait_for_barriers() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let node = nats.node(&[]);
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let addr = node.addr();
            std::thread::spawn(move || {
                let mut c = Client::connect(&addr).unwrap();
                for round in 0..40 {
                    let key = format!("p{t}");
                    let value = format!("{round}");
                    let cmds: Vec<Vec<Vec<u8>>> = vec![
                        vec![b"GET".to_vec(), key.clone().into_bytes()],
                        vec![
                            b"SET".to_vec(),
                            key.clone().into_bytes(),
                            value.clone().into_bytes(),
                        ],
                        vec![b"GET".to_vec(), key.clone().into_bytes()],
                        vec![b"INCR".to_vec(), format!("n{t}").into_bytes()],
                    ];
                    let replies = c.pipeline(&cmds).unwrap();
                    let previous =
                        (round > 0).then(|| Resp::Bulk((round - 1).to_string().into_bytes()));
                    assert_eq!(
                        replies[0],
                        previous.unwrap_or(Resp::Nil),
                        "round {round}: {replies:?}"
                    );
                    assert_eq!(
                        replies[1],
                        Resp::Simple("OK".into()),
                        "round {round}: {replies:?}"
                    );
                    assert_eq!(
                        replies[2],
                        Resp::Bulk(value.into_bytes()),
                        "round {round}: {replies:?}"
                    );
                    assert_eq!(
                        replies[3],
                        Resp::Int(round as i64 + 1),
                        "round {round}: {replies:?}"
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_message_published_on_one_node_reaches_subscribers_on_the_others() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let raw = |i: usize| common::Raw::connect(&format!("127.0.0.1:{}", nodes[i].port));
    let mut sub = raw(0);
    sub.send_cmd(&["SUBSCRIBE", "news"]);
    sub.read_reply();
    sub.send_cmd(&["PSUBSCRIBE", "n*"]);
    sub.read_reply();
    let mut shard = raw(2);
    shard.send_cmd(&["SSUBSCRIBE", "orders"]);
    shard.read_reply();
    let mut publisher = raw(1);
    // Interest in the pub/sub subject spreads through the NATS cluster asynchronously:
    // publish until the first message arrives, then every later one must arrive in order.
    sub.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert_eq!(publisher.cmd(&["PUBLISH", "news", "hello"]), b":0\r\n");
        if sub.stream.peek(&mut [0u8; 1]).is_ok_and(|n| n == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "no message reached node 0");
    }
    sub.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Drain copies of "hello" published while interest was spreading.
    publisher.cmd(&["PUBLISH", "news", "marker"]);
    loop {
        let reply = String::from_utf8(sub.read_reply()).unwrap();
        if reply.contains("marker") && reply.contains("pmessage") {
            break;
        }
    }
    for i in 0..20 {
        publisher.cmd(&["PUBLISH", "news", &format!("m{i}")]);
    }
    for i in 0..20 {
        let message = String::from_utf8(sub.read_reply()).unwrap();
        assert_eq!(
            message,
            format!(
                "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n${}\r\nm{i}\r\n",
                1 + i.to_string().len()
            )
        );
        let pattern = String::from_utf8(sub.read_reply()).unwrap();
        assert!(
            pattern.starts_with("*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n"),
            "{pattern}"
        );
    }
    // Shard channels travel the same way.
    let deadline = Instant::now() + Duration::from_secs(20);
    shard
        .stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    loop {
        publisher.cmd(&["SPUBLISH", "orders", "o1"]);
        if shard.stream.peek(&mut [0u8; 1]).is_ok_and(|n| n == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "no shard message reached node 2");
    }
}

#[test]
fn clients_blocked_on_different_nodes_each_get_a_different_element() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let raw = |i: usize| common::Raw::connect(&format!("127.0.0.1:{}", nodes[i].port));
    let mut waiters: Vec<common::Raw> = (0..3).map(raw).collect();
    let mut admins: Vec<common::Raw> = (0..3).map(raw).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send_cmd(&["BLPOP", "jobs", "0"]);
        admins[i].wait_blocked(1);
    }
    assert_eq!(admins[1].cmd(&["RPUSH", "jobs", "a", "b"]), b":2\r\n");
    // Two of the three are served, each with its own element; one stays blocked.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut served: Vec<(usize, String)> = Vec::new();
    while served.len() < 2 {
        for (i, w) in waiters.iter_mut().enumerate() {
            if served.iter().any(|(j, _)| *j == i) {
                continue;
            }
            w.stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            if w.stream.peek(&mut [0u8; 1]).is_ok_and(|n| n == 1) {
                w.stream
                    .set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                served.push((i, String::from_utf8(w.read_reply()).unwrap()));
            }
        }
        assert!(Instant::now() < deadline, "served only {served:?}");
    }
    let left = (0..3).find(|i| served.iter().all(|(j, _)| j != i)).unwrap();
    admins[left].wait_blocked(1);
    assert_eq!(admins[2].cmd(&["LPUSH", "jobs", "c"]), b":1\r\n");
    waiters[left]
        .stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    served.push((left, String::from_utf8(waiters[left].read_reply()).unwrap()));
    let mut elements: Vec<String> = served
        .iter()
        .map(|(_, r)| r.rsplit("\r\n").nth(1).unwrap().to_string())
        .collect();
    elements.sort();
    assert_eq!(elements, ["a", "b", "c"], "{served:?}");
    assert_eq!(admins[0].cmd(&["EXISTS", "jobs"]), b":0\r\n");
}

/// A chain of BLMOVEs parked on one node: a push through that node is answered once the
/// whole chain has run there (as Redis serves it); a push through another node is served by
/// later entries, each element once, and the chain ends in the same state.
#[test]
fn a_blmove_chain_on_one_node_is_served_before_its_pushers_reply() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..2).map(|_| nats.node(&[])).collect();
    let raw = |i: usize| common::Raw::connect(&format!("127.0.0.1:{}", nodes[i].port));
    let mut admin = raw(0);
    let mut other = raw(1);
    for pusher in [0, 1] {
        let mut w1 = raw(0);
        let mut w2 = raw(0);
        w1.send_cmd(&["BLMOVE", "list1", "list2", "RIGHT", "LEFT", "0"]);
        admin.wait_blocked(1);
        w2.send_cmd(&["BLMOVE", "list2", "list3", "LEFT", "RIGHT", "0"]);
        admin.wait_blocked(2);
        let push = if pusher == 0 { &mut admin } else { &mut other };
        assert_eq!(push.cmd(&["RPUSH", "list1", "foo"]), b":1\r\n");
        if pusher == 0 {
            assert_eq!(admin.cmd(&["LRANGE", "list2", "0", "-1"]), b"*0\r\n");
            assert_eq!(
                admin.cmd(&["LRANGE", "list3", "0", "-1"]),
                b"*1\r\n$3\r\nfoo\r\n"
            );
        }
        assert_eq!(w1.read_reply(), b"$3\r\nfoo\r\n");
        assert_eq!(w2.read_reply(), b"$3\r\nfoo\r\n");
        for node in [&mut admin, &mut other] {
            assert_eq!(node.cmd(&["LRANGE", "list1", "0", "-1"]), b"*0\r\n");
            assert_eq!(node.cmd(&["LRANGE", "list2", "0", "-1"]), b"*0\r\n");
        }
        assert_eq!(other.cmd(&["RPOP", "list3"]), b"$3\r\nfoo\r\n");
        assert_eq!(admin.cmd(&["EXISTS", "list3"]), b":0\r\n");
    }
}

#[test]
fn watch_on_one_node_sees_writes_through_the_others() {
    let _serial = serial();
    let nats = NatsCluster::start(3);
    let nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let mut a = nodes[0].client();
    let mut b = nodes[1].client();
    a.must(&["SET", "x", "1"]);
    assert_eq!(a.must(&["WATCH", "x"]), Resp::Simple("OK".into()));
    b.must(&["SET", "x", "2"]);
    a.must(&["MULTI"]);
    a.must(&["INCR", "x"]);
    assert_eq!(
        a.must(&["EXEC"]),
        Resp::Nil,
        "a write through another node aborts EXEC"
    );
    assert_eq!(a.must(&["WATCH", "x"]), Resp::Simple("OK".into()));
    a.must(&["MULTI"]);
    a.must(&["INCR", "x"]);
    assert_eq!(a.must(&["EXEC"]), Resp::Array(vec![Resp::Int(3)]));

    // Optimistic increments from clients of every node: each retries until its EXEC commits;
    // none is lost and none counted twice.
    let per_client = 30;
    let threads: Vec<_> = nodes
        .iter()
        .flat_map(|n| [n.client(), n.client()])
        .map(|mut c| {
            std::thread::spawn(move || {
                let mut aborts = 0;
                for _ in 0..per_client {
                    loop {
                        c.must(&["WATCH", "counter"]);
                        let value = match c.must(&["GET", "counter"]) {
                            Resp::Bulk(v) => String::from_utf8(v).unwrap().parse::<i64>().unwrap(),
                            _ => 0,
                        };
                        c.must(&["MULTI"]);
                        c.must(&["SET", "counter", &(value + 1).to_string()]);
                        match c.must(&["EXEC"]) {
                            Resp::Array(_) => break,
                            Resp::Nil => aborts += 1,
                            other => panic!("EXEC replied {other:?}"),
                        }
                    }
                }
                aborts
            })
        })
        .collect();
    let aborts: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        nodes[2].client().must(&["GET", "counter"]),
        bulk(&(6 * per_client).to_string()),
        "{aborts} aborted attempts"
    );
    assert_eq!(digest(&nodes[0]), digest(&nodes[1]));
    assert_eq!(digest(&nodes[1]), digest(&nodes[2]));
}
