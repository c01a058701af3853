//! The node over a log whose disk misbehaves (faults injected at the file I/O layer):
//! - a write whose entry cannot be made durable is refused with MISCONF, never acknowledged
//!   and never visible; reads keep working; writes work again once the disk does.
//! - the read barrier: a read that arrives after a write was issued waits until that write is
//!   durable and applied, and then sees it (nothing not yet durable is ever visible).

use std::sync::Arc;
use std::time::Duration;

use cairn_log::{FaultKind, Faults};
use cairn_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(faults: &Arc<Faults>) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        port: 0,
        dir: dir.path().join("data"),
        log_faults: Some(faults.clone()),
        ..Config::default()
    };
    (Server::start(config).await.unwrap(), dir)
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends a command and reads one reply line (enough for the replies used here).
async fn cmd(c: &mut TcpStream, args: &[&str]) -> String {
    c.write_all(&resp(args)).await.unwrap();
    read_reply(c).await
}

async fn read_reply(c: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), c.read(&mut buf))
        .await
        .expect("reply in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fsync_refuses_writes_and_recovers() {
    let faults = Faults::new();
    let (server, _dir) = start(&faults).await;
    let addr = server.local_addr();
    server.spawn_thread();
    let mut c = TcpStream::connect(addr).await.unwrap();
    assert_eq!(cmd(&mut c, &["SET", "a", "1"]).await, "+OK\r\n");

    faults.fail_fsyncs(u32::MAX, FaultKind::NoSpace);
    let reply = cmd(&mut c, &["SET", "b", "2"]).await;
    assert!(reply.starts_with("-MISCONF "), "{reply}");
    // Reads are served; the refused write is not visible.
    assert_eq!(cmd(&mut c, &["GET", "a"]).await, "$1\r\n1\r\n");
    assert_eq!(cmd(&mut c, &["GET", "b"]).await, "$-1\r\n");
    // The log publishes its state just after delivering outcomes: poll briefly.
    let mut info = String::new();
    for _ in 0..100 {
        info = cmd(&mut c, &["INFO", "persistence"]).await;
        if info.contains("log_write_status:err") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(info.contains("log_write_status:err"), "{info}");

    faults.clear();
    // The log retries on its own; writes succeed again once it has recovered.
    let mut ok = false;
    for _ in 0..100 {
        if cmd(&mut c, &["SET", "c", "3"]).await == "+OK\r\n" {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "writes never recovered");
    assert_eq!(cmd(&mut c, &["GET", "c"]).await, "$1\r\n3\r\n");
    assert_eq!(cmd(&mut c, &["GET", "b"]).await, "$-1\r\n");
}

/// A read never shows a write that is not durable yet. On the writer's own connection a read
/// pipelined after the write waits for it; another connection (another write lane) gets the
/// durable value at once, which is linearizable: the write has not completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_wait_for_earlier_writes_to_be_durable() {
    let faults = Faults::new();
    let (server, _dir) = start(&faults).await;
    let addr = server.local_addr();
    server.spawn_thread();
    let mut writer = TcpStream::connect(addr).await.unwrap();
    let mut reader = TcpStream::connect(addr).await.unwrap();
    assert_eq!(cmd(&mut writer, &["SET", "k", "old"]).await, "+OK\r\n");

    faults.hold_fsyncs();
    let mut pipeline = resp(&["SET", "k", "new"]);
    pipeline.extend_from_slice(&resp(&["GET", "k"]));
    writer.write_all(&pipeline).await.unwrap();
    // Give the write time to be issued to the log (it cannot become durable: fsyncs are held).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cmd(&mut reader, &["GET", "k"]).await, "$3\r\nold\r\n");
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(300), writer.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the writer's connection answered before its write was durable"
    );

    faults.release_fsyncs();
    let expected = "+OK\r\n$3\r\nnew\r\n";
    let mut got = String::new();
    while got.len() < expected.len() {
        got.push_str(&read_reply(&mut writer).await);
    }
    assert_eq!(got, expected);
    assert_eq!(cmd(&mut reader, &["GET", "k"]).await, "$3\r\nnew\r\n");
}
