//! MULTI/EXEC/WATCH end to end, on real sockets against the real binary:
//! - the `redis` crate's atomic pipelines and its WATCH-retry `transaction` helper, with
//!   another connection changing the watched key in between;
//! - Redis's replies byte for byte: QUEUED, EXECABORT, null arrays, errors inside EXEC, RESP3;
//! - SELECT inside a transaction moves the connection; blocking commands answer at once;
//!   connection commands (PING, PUBLISH, CLIENT SETNAME) run inside EXEC;
//! - OOM past `maxmemory` refuses a transaction that writes but not one that only reads;
//! - a closed connection's watches are dropped, and committed transactions survive a restart.

mod common;

use common::{Cairn, Raw};
use redis::aio::MultiplexedConnection;

fn exchange(raw: &mut Raw, lines: &[&[&str]]) -> String {
    lines
        .iter()
        .map(|args| String::from_utf8(raw.cmd(args)).unwrap())
        .collect()
}

#[test]
fn queued_replies_errors_and_aborts_are_redis_s() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    assert_eq!(
        exchange(
            &mut c,
            &[
                &["RPUSH", "l", "a", "b"],
                &["MULTI"],
                &["LRANGE", "l", "0", "-1"],
                &["PING"],
                &["SET", "s", "v"],
                &["INCR", "s"],
                &["SET", "t", "1", "EX", "0"],
                &["EXEC"],
            ]
        ),
        ":2\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*5\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n+PONG\r\n+OK\r\n-ERR value is not an integer or out of range\r\n-ERR invalid expire time in 'set' command\r\n"
    );
    // A command refused while queueing aborts the whole transaction.
    assert_eq!(
        exchange(
            &mut c,
            &[
                &["MULTI"],
                &["SET", "a", "1"],
                &["NOSUCH"],
                &["GET"],
                &["EXEC"],
                &["EXISTS", "a"],
            ]
        ),
        "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH', with args beginning with: \r\n-ERR wrong number of arguments for 'get' command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n"
    );
    assert_eq!(
        exchange(
            &mut c,
            &[
                &["EXEC"],
                &["DISCARD"],
                &["MULTI"],
                &["MULTI"],
                &["WATCH", "x"],
                &["SAVE"],
                &["EXEC"],
                &["MULTI"],
                &["SET", "a", "1"],
                &["DISCARD"],
                &["EXISTS", "a"],
                &["MULTI"],
                &["EXEC"],
            ]
        ),
        "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of previous errors.\r\n+OK\r\n+QUEUED\r\n+OK\r\n:0\r\n+OK\r\n*0\r\n"
    );
    // RESP3: the replies inside EXEC keep their RESP3 types; an aborted EXEC is a null.
    assert!(
        String::from_utf8(c.cmd(&["HELLO", "3"]))
            .unwrap()
            .starts_with("%7")
    );
    assert_eq!(
        exchange(
            &mut c,
            &[
                &["MULTI"],
                &["HGETALL", "none"],
                &["ZSCORE", "none", "m"],
                &["EXEC"],
                &["WATCH", "w"],
                &["SET", "w", "1"],
                &["MULTI"],
                &["GET", "w"],
                &["EXEC"],
            ]
        ),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n%0\r\n_\r\n+OK\r\n+OK\r\n+OK\r\n+QUEUED\r\n_\r\n"
    );
}

#[test]
fn watch_aborts_when_another_connection_touches_a_key() {
    let cairn = Cairn::start(&[]);
    let (mut a, mut b) = (cairn.conn(), cairn.conn());
    assert_eq!(
        exchange(&mut a, &[&["SET", "x", "30"], &["WATCH", "x", "y"]]),
        "+OK\r\n+OK\r\n"
    );
    assert_eq!(b.cmd(&["GET", "x"]), b"$2\r\n30\r\n", "reads do not touch");
    assert_eq!(b.cmd(&["SET", "x", "40"]), b"+OK\r\n");
    assert_eq!(
        exchange(
            &mut a,
            &[&["MULTI"], &["INCR", "x"], &["EXEC"], &["GET", "x"]]
        ),
        "+OK\r\n+QUEUED\r\n*-1\r\n$2\r\n40\r\n"
    );
    // UNWATCH and DISCARD drop the watches; an untouched watch commits.
    assert_eq!(
        exchange(
            &mut a,
            &[
                &["WATCH", "x"],
                &["UNWATCH"],
                &["WATCH", "y"],
                &["MULTI"],
                &["DISCARD"],
            ]
        ),
        "+OK\r\n+OK\r\n+OK\r\n+OK\r\n+OK\r\n"
    );
    b.cmd(&["SET", "x", "1"]);
    b.cmd(&["SET", "y", "1"]);
    assert_eq!(
        exchange(
            &mut a,
            &[&["WATCH", "x"], &["MULTI"], &["INCR", "x"], &["EXEC"]]
        ),
        "+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:2\r\n"
    );
    let info = String::from_utf8(b.cmd(&["INFO", "clients"])).unwrap();
    assert!(info.contains("watching_clients:0\r\n"), "{info}");
    // A connection that closes while watching leaves no watch behind.
    a.cmd(&["WATCH", "x", "y", "z"]);
    let info = String::from_utf8(b.cmd(&["INFO", "clients"])).unwrap();
    assert!(info.contains("total_watched_keys:3\r\n"), "{info}");
    drop(a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let info = String::from_utf8(b.cmd(&["INFO", "clients"])).unwrap();
        if info.contains("watching_clients:0\r\n") && info.contains("total_watched_keys:0\r\n") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{info}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn select_blocking_and_connection_commands_inside_exec() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    let mut sub = cairn.conn();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "news"]),
        b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    // SELECT inside EXEC moves the connection: the GET pipelined behind EXEC reads db 3.
    c.send(
        &[
            common::encode_command(&[b"MULTI"]),
            common::encode_command(&[b"SELECT", b"3"]),
            common::encode_command(&[b"SET", b"k", b"three"]),
            common::encode_command(&[b"BLPOP", b"none", b"0"]),
            common::encode_command(&[b"BLMOVE", b"none", b"d", b"LEFT", b"LEFT", b"0"]),
            common::encode_command(&[b"PUBLISH", b"news", b"hi"]),
            common::encode_command(&[b"CLIENT", b"SETNAME", b"tx"]),
            common::encode_command(&[b"EXEC"]),
            common::encode_command(&[b"GET", b"k"]),
            common::encode_command(&[b"CLIENT", b"GETNAME"]),
        ]
        .concat(),
    );
    let replies: String = (0..10)
        .map(|_| String::from_utf8(c.read_reply()).unwrap())
        .collect();
    assert_eq!(
        replies,
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*6\r\n+OK\r\n+OK\r\n*-1\r\n$-1\r\n:1\r\n+OK\r\n$5\r\nthree\r\n$2\r\ntx\r\n"
    );
    assert_eq!(
        sub.read_reply(),
        b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
    );
    assert_eq!(c.cmd(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(c.cmd(&["EXISTS", "k"]), b":0\r\n");
}

#[test]
fn maxmemory_refuses_transactions_that_write() {
    let cairn = Cairn::start(&[]);
    let (mut c, mut admin) = (cairn.conn(), cairn.conn());
    c.cmd(&["SET", "x", "value"]);
    assert_eq!(
        exchange(&mut c, &[&["MULTI"], &["GET", "x"], &["SET", "y", "1"]]),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n"
    );
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory", "1"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&["EXEC"]),
        b"-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    assert_eq!(
        exchange(
            &mut c,
            &[&["SET", "y", "1"], &["MULTI"], &["PING"], &["DISCARD"]]
        ),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n+OK\r\n-OOM command not allowed when used memory > 'maxmemory'.\r\n+OK\r\n"
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "maxmemory"]),
        b"*2\r\n$9\r\nmaxmemory\r\n$1\r\n1\r\n"
    );
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxmemory", "0"]), b"+OK\r\n");
    assert_eq!(
        exchange(&mut c, &[&["MULTI"], &["GET", "x"], &["EXEC"]]),
        "+OK\r\n+QUEUED\r\n*1\r\n$5\r\nvalue\r\n"
    );
    assert!(
        String::from_utf8(admin.cmd(&["CONFIG", "SET", "maxmemory-policy", "lru"]))
            .unwrap()
            .starts_with(
                "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy')"
            )
    );
}

async fn connect(cairn: &Cairn) -> MultiplexedConnection {
    let client = redis::Client::open(cairn.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

#[test]
fn the_redis_crate_s_atomic_pipelines_and_watch_retries() {
    let mut cairn = Cairn::start(&[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut con = connect(&cairn).await;
        let (a, b): (String, i64) = redis::pipe()
            .atomic()
            .set("k", "v")
            .ignore()
            .get("k")
            .incr("n", 5)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((a.as_str(), b), ("v", 5));

        // The sync helper retries the closure while the watched key keeps changing.
        let client = redis::Client::open(cairn.url()).unwrap();
        let mut sync = client.get_connection().unwrap();
        let mut other = client.get_connection().unwrap();
        let mut attempts = 0;
        let (total,): (i64,) = redis::transaction(&mut sync, &["n"], |con, pipe| {
            attempts += 1;
            let n: i64 = redis::cmd("GET").arg("n").query(con)?;
            if attempts < 3 {
                // Another client changes the watched key before EXEC.
                redis::cmd("INCR").arg("n").exec(&mut other)?;
            }
            pipe.set("n", n * 10).ignore().get("n").query(con)
        })
        .unwrap();
        assert_eq!(attempts, 3);
        assert_eq!(total, 70);
    });
    // Committed transactions are in the log: a restart replays them.
    cairn.stop();
    let restarted = Cairn::start_in(&cairn.dir, cairn.port, &[]);
    let mut c = restarted.conn();
    assert_eq!(c.cmd(&["MGET", "k", "n"]), b"*2\r\n$1\r\nv\r\n$2\r\n70\r\n");
}

#[test]
fn commands_run_by_exec_count_once_in_commandstats() {
    let cairn = Cairn::start(&[]);
    let mut c = cairn.conn();
    c.cmd(&["CONFIG", "RESETSTAT"]);
    assert_eq!(
        exchange(
            &mut c,
            &[&["MULTI"], &["SET", "foo", "bar"], &["PING"], &["EXEC"]]
        ),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n+PONG\r\n"
    );
    let stats = String::from_utf8(c.cmd(&["INFO", "commandstats"])).unwrap();
    for name in ["multi", "set", "ping", "exec"] {
        assert!(
            stats.contains(&format!("cmdstat_{name}:calls=1,")),
            "{name}: {stats}"
        );
    }
}
