//! Eviction under `maxmemory` on the real binary (jemalloc's `stats.allocated` as used memory):
//! each policy keeps memory bounded while writes keep coming, and takes only what it may —
//! volatile policies never a persistent key (the node answers OOM once only those are left),
//! LFU the keys used least, volatile-ttl the keys that expire first. Subscribers get the
//! `evicted` events, INFO counts them, and a kill -9 and restart bring back exactly the keys
//! that were there before the kill (evictions are log entries).
//!
//! Memory bounds, not timings: a node applies a pipeline's writes together, and a pipeline's
//! commands all pass the gate before any of them is applied, so used memory can pass the limit
//! by a few pipelines' worth (`PIPELINE` values, their requests and log records) before the
//! next eviction; the checks allow `SLACK` (about 50 KB is typical here).

mod common;

use std::collections::BTreeSet;

use common::{Cairn, Client, Resp};

/// Commands per pipeline while filling.
const PIPELINE: usize = 50;
/// Memory the test may add on top of what the node uses at rest.
const BUDGET: u64 = 2 * 1024 * 1024;
/// How far past `maxmemory` a node may be seen between evictions.
const SLACK: u64 = BUDGET / 8;
/// Each value's length: ~300-byte keys, so the budget holds a few thousand.
const VALUE_LEN: usize = 200;

fn info_field(c: &mut Client, section: &str, name: &str) -> u64 {
    let Resp::Bulk(text) = c.must(&["INFO", section]) else {
        panic!("INFO is a bulk string");
    };
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
        .trim()
        .parse()
        .unwrap()
}

fn used_memory(c: &mut Client) -> u64 {
    info_field(c, "memory", "used_memory")
}

fn ok(reply: &Resp) -> bool {
    matches!(reply, Resp::Simple(s) if s == "OK")
}

/// Sets `keys` (with `EX ttl` when given, a TTL per key), `PIPELINE` at a time; returns the
/// replies and the highest used memory seen after a pipeline.
fn fill(c: &mut Client, keys: &[String], ttl: impl Fn(usize) -> Option<u64>) -> (Vec<Resp>, u64) {
    let value = vec![b'v'; VALUE_LEN];
    let (mut replies, mut peak) = (Vec::new(), 0);
    for (n, chunk) in keys.chunks(PIPELINE).enumerate() {
        let cmds: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let mut cmd = vec![b"SET".to_vec(), key.as_bytes().to_vec(), value.clone()];
                if let Some(s) = ttl(n * PIPELINE + i) {
                    cmd.extend([b"EX".to_vec(), s.to_string().into_bytes()]);
                }
                cmd
            })
            .collect();
        replies.extend(c.pipeline(&cmds).unwrap());
        peak = peak.max(used_memory(c));
    }
    (replies, peak)
}

/// Which of `keys` exist.
fn existing(c: &mut Client, keys: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for chunk in keys.chunks(500) {
        let cmds: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .map(|k| vec![b"EXISTS".to_vec(), k.as_bytes().to_vec()])
            .collect();
        for (key, reply) in chunk.iter().zip(c.pipeline(&cmds).unwrap()) {
            if reply == Resp::Int(1) {
                out.insert(key.clone());
            }
        }
    }
    out
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i:06}")).collect()
}

/// Stops evicting (every command that arrives over the limit may evict) and waits until the
/// Evict entries already made are applied (INFO runs after every write issued before it).
fn settle(c: &mut Client) {
    assert!(ok(&c.must(&["CONFIG", "SET", "maxmemory", "0"])));
    c.must(&["INFO", "stats"]);
}

/// A fresh, empty node state with `policy` and a limit `BUDGET` above what it uses now.
fn limit_for(c: &mut Client, policy: &str) -> u64 {
    assert!(ok(&c.must(&["CONFIG", "SET", "maxmemory", "0"])));
    assert!(ok(&c.must(&["FLUSHALL"])));
    let limit = used_memory(c) + BUDGET;
    assert!(ok(&c.must(&["CONFIG", "SET", "maxmemory-policy", policy])));
    assert!(ok(&c.must(&[
        "CONFIG",
        "SET",
        "maxmemory",
        &limit.to_string()
    ])));
    limit
}

#[test]
fn allkeys_policies_keep_memory_bounded() {
    let node = Cairn::start(&[]);
    let mut c = node.client();
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let limit = limit_for(&mut c, policy);
        // Three budgets' worth of writes: the node must keep evicting.
        let keys = names(policy, 3 * BUDGET as usize / (VALUE_LEN + 100));
        let (replies, peak) = fill(&mut c, &keys, |_| None);
        assert!(replies.iter().all(ok), "{policy}: every write is taken");
        assert!(
            peak < limit + SLACK,
            "{policy}: used {peak} with maxmemory {limit}"
        );
        settle(&mut c);
        let left = existing(&mut c, &keys).len();
        assert!(left < keys.len() / 2, "{policy}: {left} keys left");
        assert!(
            left > 0,
            "{policy}: evicting for the excess leaves the rest"
        );
        assert_eq!(
            info_field(&mut c, "stats", "evicted_keys") as usize,
            keys.len() - left,
            "{policy}: INFO counts what went"
        );
        assert!(ok(&c.must(&["CONFIG", "RESETSTAT"])));
        assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
    }
    let Resp::Bulk(info) = c.must(&["INFO", "memory"]) else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.contains("maxmemory_policy:allkeys-random\r\n"),
        "{info}"
    );
    assert!(info.contains("mem_allocator:jemalloc"), "{info}");
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    let node = Cairn::start(&[]);
    let mut c = node.client();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let limit = limit_for(&mut c, policy);
        // Half the budget in persistent keys, then three budgets of volatile ones.
        let persistent = names(
            &format!("{policy}-p"),
            BUDGET as usize / 2 / (VALUE_LEN + 100),
        );
        let (replies, _) = fill(&mut c, &persistent, |_| None);
        assert!(replies.iter().all(ok), "{policy}");
        let volatile = names(
            &format!("{policy}-v"),
            3 * BUDGET as usize / (VALUE_LEN + 100),
        );
        let (replies, peak) = fill(&mut c, &volatile, |i| Some(100_000 + i as u64));
        assert!(replies.iter().all(ok), "{policy}: volatile keys make room");
        assert!(peak < limit + SLACK, "{policy}: used {peak} with {limit}");
        assert_eq!(
            existing(&mut c, &persistent).len(),
            persistent.len(),
            "{policy} evicted a persistent key"
        );
        let left = existing(&mut c, &volatile);
        assert!(
            left.len() < volatile.len() / 2,
            "{policy}: {} left",
            left.len()
        );
        if policy == "volatile-ttl" {
            // Keys go in expire-time order: those left are the ones set last (longest TTLs).
            let first_left = volatile.iter().position(|k| left.contains(k)).unwrap();
            assert!(
                volatile[first_left..].iter().all(|k| left.contains(k)),
                "volatile-ttl evicted out of TTL order"
            );
        }
        // With only persistent keys able to fill it, memory runs out: writes get OOM.
        let more = names(
            &format!("{policy}-q"),
            2 * BUDGET as usize / (VALUE_LEN + 100),
        );
        let (replies, _) = fill(&mut c, &more, |_| None);
        assert!(
            replies
                .iter()
                .any(|r| matches!(r, Resp::Error(e) if e.starts_with("OOM command not allowed"))),
            "{policy}: no OOM once nothing can be evicted"
        );
        assert_eq!(
            existing(&mut c, &persistent).len(),
            persistent.len(),
            "{policy} evicted a persistent key"
        );
        assert!(existing(&mut c, &volatile).is_empty(), "{policy}");
    }
}

#[test]
fn lfu_keeps_the_keys_used_most() {
    let node = Cairn::start(&[]);
    let mut c = node.client();
    limit_for(&mut c, "allkeys-lfu");
    let hot = names("hot", 100);
    fill(&mut c, &hot, |_| None);
    for _ in 0..30 {
        let reads: Vec<Vec<Vec<u8>>> = hot
            .iter()
            .map(|k| vec![b"GET".to_vec(), k.as_bytes().to_vec()])
            .collect();
        c.pipeline(&reads).unwrap();
    }
    let Resp::Int(freq) = c.must(&["OBJECT", "FREQ", &hot[0]]) else {
        panic!("OBJECT FREQ answers an integer under an LFU policy");
    };
    assert!(
        freq > 5,
        "30 reads raise the counter above LFU_INIT_VAL: {freq}"
    );
    let cold = names("cold", 3 * BUDGET as usize / (VALUE_LEN + 100));
    fill(&mut c, &cold, |_| None);
    let hot_left = existing(&mut c, &hot).len();
    let cold_left = existing(&mut c, &cold).len();
    assert!(hot_left >= 95, "{hot_left} of 100 hot keys left");
    assert!(cold_left < cold.len() / 2, "{cold_left} cold keys left");
}

#[test]
fn subscribers_get_evicted_events_and_a_restart_finds_the_same_keys() {
    let mut node = Cairn::start(&[]);
    let mut c = node.client();
    assert!(ok(&c.must(&[
        "CONFIG",
        "SET",
        "notify-keyspace-events",
        "Ee"
    ])));
    let mut sub = node.conn();
    sub.cmd(&["PSUBSCRIBE", "__keyevent@*__:evicted"]);
    let limit = limit_for(&mut c, "allkeys-lru");
    assert!(ok(&c.must(&["SELECT", "3"])));
    let keys = names("e", 2 * BUDGET as usize / (VALUE_LEN + 100));
    fill(&mut c, &keys, |_| None);
    // The first event names a key of database 3 that is gone.
    let event = String::from_utf8_lossy(&sub.read_reply()).into_owned();
    assert!(
        event.contains("__keyevent@3__:evicted"),
        "unexpected message {event:?}"
    );
    let key = event
        .split("\r\n")
        .filter(|l| l.starts_with("e:"))
        .last()
        .unwrap_or_else(|| panic!("no key in {event:?}"))
        .to_string();
    assert_eq!(c.must(&["EXISTS", &key]), Resp::Int(0));
    assert!(used_memory(&mut c) < limit + SLACK);

    settle(&mut c);
    let before = c.must(&["DEBUG", "DIGEST"]);
    let left = existing(&mut c, &keys);
    assert!(!left.is_empty() && left.len() < keys.len());
    drop(sub);
    node.kill9();
    let dir = node.dir.clone();
    let restarted = Cairn::start_in(&dir, common::free_port(), &[]);
    let mut c = restarted.client();
    assert_eq!(c.must(&["DEBUG", "DIGEST"]), before);
    assert!(ok(&c.must(&["SELECT", "3"])));
    assert_eq!(existing(&mut c, &keys), left);
}

/// The keys an allkeys-lru node keeps when three budgets of writes go through it.
fn keys_kept(extra: &[&str]) -> usize {
    let node = Cairn::start(extra);
    let mut c = node.client();
    limit_for(&mut c, "allkeys-lru");
    let keys = names("s", 3 * BUDGET as usize / (VALUE_LEN + 100));
    let (replies, _) = fill(&mut c, &keys, |_| None);
    assert!(replies.iter().all(ok));
    settle(&mut c);
    existing(&mut c, &keys).len()
}

#[test]
fn a_background_snapshot_does_not_make_the_node_evict() {
    // A snapshot every 256 KiB of log: several rebuild a copy of the data on their own thread
    // while the writes go on. That copy is not the node's memory to evict for.
    let quiet = keys_kept(&[]);
    let busy = keys_kept(&["--snapshot-log-bytes", "262144"]);
    // Typically within 10%; counting the copy as used memory keeps a quarter to a half.
    assert!(
        busy * 5 >= quiet * 4,
        "{busy} keys kept with snapshots, {quiet} without"
    );
}

#[test]
fn a_limit_far_below_the_data_evicts_every_key() {
    let node = Cairn::start(&["--maxmemory-eviction-tenacity", "0"]);
    let mut c = node.client();
    let keys = names("all", 20_000);
    let (replies, _) = fill(&mut c, &keys, |_| None);
    assert!(replies.iter().all(ok));
    // Tenacity 0 stops each pass after 16 keys: the node goes on pass after pass by itself,
    // each once the previous entry is applied (and each command that arrives meanwhile
    // evicts too).
    assert!(ok(&c.must(&[
        "CONFIG",
        "SET",
        "maxmemory-policy",
        "allkeys-random"
    ])));
    assert!(ok(&c.must(&["CONFIG", "SET", "maxmemory", "1"])));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while c.must(&["DBSIZE"]) != Resp::Int(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "keys left: {:?}",
            c.must(&["DBSIZE"])
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 20_000);
    // Nothing left to evict: a write is refused, a read is not.
    assert!(matches!(c.must(&["SET", "k", "v"]), Resp::Error(e) if e.starts_with("OOM")));
    assert_eq!(c.must(&["GET", "k"]), Resp::Nil);
}

#[test]
fn on_a_shared_log_every_node_applies_one_nodes_evictions() {
    let nats = common::nats::NatsCluster::start(3);
    let (a, b) = (nats.node(&[]), nats.node(&[]));
    let (mut ca, mut cb) = (a.client(), b.client());
    // Only node A has a limit; the keys it evicts go on node B too.
    let limit = limit_for(&mut ca, "allkeys-random");
    let keys = names("c", 3 * BUDGET as usize / (VALUE_LEN + 100));
    let (replies, peak) = fill(&mut ca, &keys, |_| None);
    assert!(replies.iter().all(ok));
    assert!(peak < limit + SLACK, "used {peak} with {limit}");
    settle(&mut ca);
    let left = existing(&mut ca, &keys);
    assert!(left.len() < keys.len() / 2, "{} left", left.len());
    // Reads on B wait for a log barrier: they see every eviction A made.
    assert_eq!(existing(&mut cb, &keys), left);
    assert_eq!(ca.must(&["DEBUG", "DIGEST"]), cb.must(&["DEBUG", "DIGEST"]));
    assert_eq!(
        info_field(&mut cb, "stats", "evicted_keys") as usize,
        keys.len() - left.len()
    );
}

#[test]
fn rest_requests_evict_and_get_oom_as_resp_clients_do() {
    let (node, port) = common::http::start_rest(&["--rest-token", "t0k3n"]);
    let mut c = node.client();
    let post = |path: &str, body: &str| {
        let mut http = common::http::Http::connect(&format!("127.0.0.1:{port}"));
        let headers = ["Authorization: Bearer t0k3n"];
        http.request("POST", path, &headers, body.as_bytes()).text()
    };
    let limit = limit_for(&mut c, "allkeys-lru");
    let value = "v".repeat(VALUE_LEN);
    let keys = names("r", 3 * BUDGET as usize / (VALUE_LEN + 100));
    for chunk in keys.chunks(PIPELINE) {
        let cmds: Vec<String> = chunk
            .iter()
            .map(|k| format!(r#"["SET","{k}","{value}"]"#))
            .collect();
        let replies = post("/pipeline", &format!("[{}]", cmds.join(",")));
        assert_eq!(replies.matches(r#"{"result":"OK"}"#).count(), chunk.len());
        assert!(used_memory(&mut c) < limit + SLACK);
    }
    settle(&mut c);
    let left = existing(&mut c, &keys).len();
    assert!(left > 0 && left < keys.len() / 2, "{left} keys left");
    // Nothing the policy may take: a request that may add data is refused.
    assert!(ok(&c.must(&[
        "CONFIG",
        "SET",
        "maxmemory-policy",
        "volatile-lru"
    ])));
    assert!(ok(&c.must(&["CONFIG", "SET", "maxmemory", "1"])));
    assert_eq!(
        post("/", r#"["SET","k","v"]"#),
        r#"{"error":"OOM command not allowed when used memory > 'maxmemory'."}"#
    );
}

#[test]
fn config_set_rejects_bad_values_as_redis_does() {
    let node = Cairn::start(&[
        "--maxmemory-policy",
        "volatile-ttl",
        "--lfu-log-factor",
        "3",
    ]);
    let mut c = node.client();
    let get = |c: &mut Client, name: &str| c.must(&["CONFIG", "GET", name]);
    let pair = |name: &str, value: &str| {
        Resp::Array(vec![
            Resp::Bulk(name.as_bytes().to_vec()),
            Resp::Bulk(value.as_bytes().to_vec()),
        ])
    };
    assert_eq!(
        get(&mut c, "maxmemory-policy"),
        pair("maxmemory-policy", "volatile-ttl")
    );
    assert_eq!(get(&mut c, "lfu-log-factor"), pair("lfu-log-factor", "3"));
    assert_eq!(get(&mut c, "lfu-decay-time"), pair("lfu-decay-time", "1"));
    assert_eq!(
        get(&mut c, "maxmemory-samples"),
        pair("maxmemory-samples", "5")
    );
    assert_eq!(
        get(&mut c, "maxmemory-eviction-tenacity"),
        pair("maxmemory-eviction-tenacity", "10")
    );
    for (name, value, error) in [
        (
            "maxmemory-policy",
            "lru",
            "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
        (
            "maxmemory-samples",
            "0",
            "argument must be between 1 and 2147483647 inclusive",
        ),
        (
            "maxmemory-eviction-tenacity",
            "101",
            "argument must be between 0 and 100 inclusive",
        ),
        (
            "lfu-log-factor",
            "-1",
            "argument must be between 0 and 2147483647 inclusive",
        ),
        (
            "lfu-decay-time",
            "x",
            "argument couldn't be parsed into an integer",
        ),
    ] {
        assert_eq!(
            c.must(&["CONFIG", "SET", name, value]),
            Resp::Error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {error}"
            ))
        );
    }
    assert!(ok(&c.must(&[
        "CONFIG",
        "SET",
        "maxmemory-policy",
        "ALLKEYS-LFU"
    ])));
    assert_eq!(
        get(&mut c, "maxmemory-policy"),
        pair("maxmemory-policy", "allkeys-lfu")
    );
    assert!(ok(&c.must(&["SET", "k", "v"])));
    assert_eq!(c.must(&["OBJECT", "FREQ", "k"]), Resp::Int(5));
    assert!(matches!(c.must(&["OBJECT", "IDLETIME", "k"]), Resp::Error(e) if e.contains("LFU")));
}
