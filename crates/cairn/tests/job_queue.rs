//! A job queue run by several Node processes with ioredis (tests/node/job-queue.js):
//! producers LPUSH jobs inside MULTI/EXEC, consumers BLMOVE them to a processing list and
//! acknowledge with MULTI/EXEC. Half-way the server is killed with SIGKILL and started again
//! on the same data. Afterwards every job a producer added is done exactly once, and nothing
//! is left queued or half-processed.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Cairn, Client, Resp};

const PRODUCERS: usize = 2;
const CONSUMERS: usize = 3;
const JOBS_PER_PRODUCER: usize = 1500;

fn node_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/node");
    assert!(
        dir.join("node_modules/ioredis").exists(),
        "{}/node_modules is missing: run scripts/deps.sh",
        dir.display()
    );
    dir
}

fn spawn(args: &[&str]) -> Child {
    let dir = node_dir();
    Command::new("node")
        .arg(dir.join("job-queue.js"))
        .args(args)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("node not found ({e}): run scripts/deps.sh"))
}

/// Waits for a program and returns the `acked` count it printed.
fn acked(child: Child, what: &str) -> usize {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed: {}\nstderr: {}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let at = text
        .find("\"acked\":")
        .unwrap_or_else(|| panic!("{what}: {text}"));
    text[at + 8..]
        .trim_end()
        .trim_end_matches('}')
        .parse()
        .unwrap()
}

fn strings(reply: Resp) -> Vec<String> {
    let Resp::Array(items) = reply else {
        panic!("expected an array, got {reply:?}");
    };
    items
        .into_iter()
        .map(|item| match item {
            Resp::Bulk(b) => String::from_utf8(b).unwrap(),
            other => panic!("expected a bulk string, got {other:?}"),
        })
        .collect()
}

fn int(reply: Resp) -> i64 {
    match reply {
        Resp::Int(n) => n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn no_acknowledged_job_is_lost_or_done_twice_across_a_kill_9() {
    let mut cairn = Cairn::start(&[]);
    let (dir, port) = (cairn.dir.clone(), cairn.port);
    let port_text = port.to_string();
    let count = JOBS_PER_PRODUCER.to_string();
    let producers: Vec<Child> = (0..PRODUCERS)
        .map(|i| spawn(&["produce", &port_text, &format!("p{i}"), &count]))
        .collect();
    let consumers: Vec<Child> = (0..CONSUMERS)
        .map(|i| spawn(&["consume", &port_text, &format!("c{i}")]))
        .collect();

    // Kill the server once a good part of the work is done, then start it again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = cairn.client().call(&[b"SCARD", b"done"]).ok().map(int);
        if done.is_some_and(|n| n >= (PRODUCERS * JOBS_PER_PRODUCER / 3) as i64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no progress before the kill: {done:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    cairn.kill9();
    let cairn = Cairn::start_in(&dir, port, &[]);

    let produced_acked: usize = producers
        .into_iter()
        .enumerate()
        .map(|(i, p)| acked(p, &format!("producer {i}")))
        .sum();
    assert_eq!(produced_acked, PRODUCERS * JOBS_PER_PRODUCER);
    let mut c: Client = cairn.client();
    c.must(&["SET", "stop", "1"]);
    let consumed_acked: usize = consumers
        .into_iter()
        .enumerate()
        .map(|(i, p)| acked(p, &format!("consumer {i}")))
        .sum();

    let produced = strings(c.must(&["SMEMBERS", "produced"]));
    let done = strings(c.must(&["SMEMBERS", "done"]));
    assert_eq!(
        produced.len(),
        PRODUCERS * JOBS_PER_PRODUCER,
        "every job added once"
    );
    let mut produced_sorted = produced.clone();
    produced_sorted.sort();
    let mut done_sorted = done.clone();
    done_sorted.sort();
    assert_eq!(done_sorted, produced_sorted, "every job done");
    assert_eq!(
        consumed_acked,
        done.len(),
        "each acknowledgement counted once"
    );
    let processed = strings(c.must(&["HGETALL", "processed"]));
    let counts: BTreeMap<&str, &str> = processed
        .chunks(2)
        .map(|pair| (pair[0].as_str(), pair[1].as_str()))
        .collect();
    assert_eq!(counts.len(), done.len());
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != "1").collect();
    assert!(twice.is_empty(), "jobs done more than once: {twice:?}");
    assert_eq!(int(c.must(&["LLEN", "jobs"])), 0);
    for i in 0..CONSUMERS {
        let list = format!("processing:c{i}");
        assert_eq!(int(c.must(&["LLEN", &list])), 0, "{list}");
    }
}
