//! MULTI/EXEC and WATCH as log entries: the engine alone decides whether a transaction
//! commits, the same way on every replay, from a snapshot too. The cases follow Redis's
//! `unit/multi` tests.

use bytes::Bytes;
use cairn_engine::testing::{Harness, render, split_args};
use cairn_engine::{Body, Engine, Entry};

fn argv(line: &str) -> Vec<Bytes> {
    split_args(line).expect("valid command line")
}

/// A client of node 1 that WATCHes and EXECs through the harness's log.
struct Client(u64);

impl Client {
    fn watch(&self, h: &mut Harness, keys: &str) -> String {
        render(&h.apply(Body::Watch {
            client: self.0,
            keys: argv(keys),
        }))
    }

    fn unwatch(&self, h: &mut Harness) -> String {
        render(&h.apply(Body::Unwatch { client: self.0 }))
    }

    fn exec(&self, h: &mut Harness, watching: bool, commands: &[&str]) -> String {
        render(&h.apply(Body::Exec {
            client: self.0,
            watching,
            commands: commands.iter().map(|c| argv(c)).collect(),
        }))
    }
}

#[test]
fn exec_runs_queued_commands_in_order() {
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("RPUSH mylist a b c");
    assert_eq!(
        c.exec(
            &mut h,
            false,
            &["LRANGE mylist 0 -1", "SET x 1", "INCR x", "GET x"]
        ),
        r#"[["a", "b", "c"], +OK, :2, "2"]"#
    );
    // Runtime errors are per command; the others still run.
    assert_eq!(
        c.exec(
            &mut h,
            false,
            &["SET s v", "INCR s", "SET t 1 EX 0", "GET s"]
        ),
        r#"[+OK, -ERR value is not an integer or out of range, -ERR invalid expire time in 'set' command, "v"]"#
    );
    // SPOP inside a transaction (the command rewrites itself in Redis's replication).
    h.cmd("SADD myset a");
    assert_eq!(c.exec(&mut h, false, &["SPOP myset"]), r#"["a"]"#);
    assert_eq!(render(&h.cmd("EXISTS myset")), ":0");
}

#[test]
fn select_switches_the_database_for_the_rest() {
    let mut h = Harness::new();
    let c = Client(1);
    assert_eq!(
        c.exec(
            &mut h,
            false,
            &["SET a 0", "SELECT 3", "SET a 3", "SELECT 99", "SET b 3"]
        ),
        "[+OK, +OK, +OK, -ERR DB index is out of range, +OK]"
    );
    assert_eq!(render(&h.cmd("GET a")), r#""0""#);
    h.cmd("SELECT 3");
    assert_eq!(render(&h.cmd("MGET a b")), r#"["3", "3"]"#);
}

#[test]
fn blocking_commands_do_not_block_inside_exec() {
    let mut h = Harness::new();
    let c = Client(1);
    assert_eq!(
        c.exec(
            &mut h,
            false,
            &[
                "BLPOP none 0",
                "BLMOVE none dst LEFT LEFT 0",
                "BZPOPMIN z 0"
            ]
        ),
        "[(nil-array), (nil), (nil-array)]"
    );
    h.cmd("RPUSH l x");
    assert_eq!(c.exec(&mut h, false, &["BLPOP l 0"]), r#"[["l", "x"]]"#);
}

#[test]
fn a_touched_watched_key_aborts_exec() {
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET x 30");
    assert_eq!(c.watch(&mut h, "x"), "+OK");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");
    // After EXEC the key is no longer watched.
    h.cmd("SET x 40");
    assert_eq!(c.exec(&mut h, false, &["GET x"]), r#"["40"]"#);

    // 1 key of 5 watched.
    c.watch(&mut h, "a b x c d");
    h.cmd("SET x 1");
    assert_eq!(c.exec(&mut h, true, &["SET y 1"]), "(nil-array)");
    assert_eq!(render(&h.cmd("EXISTS y")), ":0");
    // After a failed EXEC the key is no longer watched either.
    h.cmd("SET x 2");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
    assert_eq!(c.exec(&mut h, false, &["GET none"]), "[(nil)]");
}

#[test]
fn writes_that_change_nothing_visible_still_touch() {
    let mut h = Harness::new();
    let c = Client(1);
    // SORT ... STORE with an empty result deletes the destination: a touch.
    h.cmd("LPUSH x bar");
    c.watch(&mut h, "x");
    h.cmd("SORT nolist STORE x");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
    // EXPIRE touches.
    h.cmd("SET x foo");
    c.watch(&mut h, "x");
    h.cmd("EXPIRE x 10");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
}

#[test]
fn reads_and_other_keys_do_not_touch() {
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET x 1");
    c.watch(&mut h, "x y z");
    h.cmd("GET x");
    h.cmd("SET other 1");
    h.cmd("DEL y");
    assert_eq!(c.exec(&mut h, true, &["INCR x"]), "[:2]");
}

#[test]
fn unwatch_and_discard_forget_the_watches() {
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET x 30");
    c.watch(&mut h, "x");
    h.cmd("SET x 40");
    assert_eq!(c.unwatch(&mut h), "+OK");
    assert_eq!(c.exec(&mut h, false, &["GET none"]), "[(nil)]");
    assert_eq!(h.engine.watching_clients(), 0);
    assert_eq!(h.engine.watched_keys(), 0);
}

#[test]
fn watches_are_per_client_and_per_database() {
    let mut h = Harness::new();
    let (a, b) = (Client(1), Client(2));
    h.cmd("SELECT 5");
    h.cmd("SET x 30");
    a.watch(&mut h, "x");
    b.watch(&mut h, "x");
    h.cmd("SELECT 1");
    h.cmd("SET x 10");
    h.cmd("SELECT 5");
    assert_eq!(a.exec(&mut h, true, &["GET none"]), "[(nil)]");
    h.cmd("SET x 31");
    assert_eq!(b.exec(&mut h, true, &["GET none"]), "(nil-array)");
    // A client that never watched (or whose watches are gone) is not the same as one whose
    // registration was forgotten: EXEC of a watching client without one aborts.
    assert_eq!(Client(9).exec(&mut h, true, &["GET none"]), "(nil-array)");
}

#[test]
fn flushdb_and_flushall_touch_only_existing_keys() {
    for flush in ["FLUSHDB", "FLUSHALL"] {
        let mut h = Harness::new();
        let c = Client(1);
        h.cmd("SET x 30");
        c.watch(&mut h, "x");
        h.cmd(flush);
        assert_eq!(
            c.exec(&mut h, true, &["GET none"]),
            "(nil-array)",
            "{flush}"
        );
        c.watch(&mut h, "x");
        h.cmd(flush);
        assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]", "{flush}");
    }
}

#[test]
fn swapdb_touches_keys_that_appear_or_disappear() {
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET x 30");
    c.watch(&mut h, "x");
    h.cmd("SWAPDB 0 1");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");

    let mut h = Harness::new();
    h.cmd("SELECT 1");
    h.cmd("SET x 30");
    h.cmd("SELECT 0");
    c.watch(&mut h, "x");
    h.cmd("SWAPDB 0 1");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");

    // Watches stay with the database index: a key watched in db 0 is db 0's after the swap.
    let mut h = Harness::new();
    c.watch(&mut h, "x");
    h.cmd("SWAPDB 0 1");
    h.cmd("SELECT 1");
    h.cmd("SET x 1");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");
}

#[test]
fn stale_keys_follow_redis() {
    // WATCH of a key already expired (not yet removed), then its removal: no change.
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET x foo PX 1");
    h.clock_ms += 2;
    c.watch(&mut h, "x");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");
    c.watch(&mut h, "x");
    h.cmd("EXISTS x"); // the read reports it; the Expire entry deletes it
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");

    let mut h = Harness::new();
    h.cmd("SET x foo PX 1");
    h.clock_ms += 2;
    c.watch(&mut h, "x");
    h.cmd("FLUSHDB");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");

    // A stale key replaced by no key, and no key replaced by a stale key, through SWAPDB.
    let mut h = Harness::new();
    h.cmd("SELECT 1");
    h.cmd("SET x foo PX 1");
    h.clock_ms += 2;
    h.apply(Body::Watch {
        client: 1,
        keys: argv("x"),
    });
    h.cmd("SWAPDB 0 1");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "[(nil)]");

    // Writing a stale watched key is a change (its deletion, then a new key).
    let mut h = Harness::new();
    h.cmd("SET x foo PX 1");
    h.clock_ms += 2;
    c.watch(&mut h, "x");
    h.cmd("SET x bar");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
}

#[test]
fn a_watched_key_that_expires_aborts_exec() {
    // Lazily: still in the keyspace at EXEC, but past its time.
    let mut h = Harness::new();
    let c = Client(1);
    h.cmd("SET key 1 PX 100");
    c.watch(&mut h, "key");
    h.clock_ms += 101;
    assert_eq!(c.exec(&mut h, true, &["INCR key"]), "(nil-array)");
    // Actively: removed by a tick before EXEC.
    h.cmd("SET x foo");
    h.cmd("EXPIRE x 1");
    c.watch(&mut h, "x");
    h.clock_ms += 1001;
    h.apply(Body::Tick { keys_max: 100 });
    assert_eq!(render(&h.cmd("DBSIZE")), ":0");
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
}

#[test]
fn old_watches_are_forgotten_by_ticks() {
    let mut h = Harness::new();
    let c = Client(1);
    c.watch(&mut h, "x");
    h.clock_ms += cairn_engine::watch::WATCH_HORIZON_MS + 1;
    h.apply(Body::Tick { keys_max: 10 });
    assert_eq!(h.engine.watching_clients(), 0);
    assert_eq!(c.exec(&mut h, true, &["GET none"]), "(nil-array)");
}

/// A random mix of writes, WATCH, UNWATCH and EXEC by a few clients; the same log replayed —
/// whole, or from a snapshot taken at any point — gives the same replies and digest.
#[test]
fn transactions_replay_identically_from_snapshots() {
    for seed in 0..10u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut h = Harness::new();
        let mut replies = Vec::new();
        for _ in 0..600 {
            let key = format!("k{}", rng.u8(0..6));
            let client = rng.u64(1..4);
            if rng.u8(0..8) == 0 {
                h.clock_ms += rng.u64(0..2000);
            }
            let reply = match rng.u8(0..9) {
                0 | 1 => Client(client).watch(&mut h, &key),
                2 => Client(client).unwatch(&mut h),
                3 | 4 => Client(client).exec(
                    &mut h,
                    rng.bool(),
                    &[&format!("INCR {key}"), "INCR total", &format!("GET {key}")],
                ),
                5 => render(&h.cmd(&format!("SET {key} {} PX {}", rng.u8(..), rng.u32(1..3000)))),
                6 => render(&h.cmd(&format!("DEL {key}"))),
                7 => render(&h.apply(Body::Tick { keys_max: 5 })),
                _ => render(&h.cmd(&format!("SWAPDB 0 {}", rng.u8(0..2)))),
            };
            replies.push(reply);
        }
        assert!(
            replies.iter().any(|r| r == "(nil-array)")
                && replies.iter().any(|r| r.starts_with("[:")),
            "seed {seed}: both outcomes occur"
        );
        let mut reference = Engine::new(16);
        let expected: Vec<String> = h.log.iter().map(|e| render(&reference.apply(e))).collect();
        for cut in [0, h.log.len() / 3, h.log.len() / 2, h.log.len() - 1] {
            let mut first = Engine::new(16);
            for entry in &h.log[..cut] {
                first.apply(entry);
            }
            let mut restored = Engine::restore(&first.snapshot(), 16).expect("restores");
            for (i, entry) in h.log.iter().enumerate().skip(cut) {
                let decoded = Entry::decode(&entry.encode()).expect("round-trips");
                let reply = render(&restored.apply(&decoded));
                assert_eq!(reply, expected[i], "seed {seed} cut {cut} entry {i}");
            }
            assert_eq!(
                restored.digest(),
                h.engine.digest(),
                "seed {seed} cut {cut}"
            );
            assert_eq!(restored.watching_clients(), h.engine.watching_clients());
            assert_eq!(restored.watched_keys(), h.engine.watched_keys());
        }
    }
}

/// A clock the node lends only times EXEC's commands: readings before the first and after
/// each, and the same replies and state as without it.
#[test]
fn a_lent_clock_times_each_exec_command_and_changes_nothing() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static TICKS: AtomicU64 = AtomicU64::new(0);
    fn clock() -> u64 {
        TICKS.fetch_add(10, Ordering::Relaxed)
    }
    let commands = ["SET x 1", "INCR x", "GET x", "SELECT 1", "SET y 2"];
    let mut timed = Harness::new();
    let mut plain = Harness::new();
    timed.engine.set_exec_clock(Some(clock));
    let c = Client(1);
    assert_eq!(
        c.exec(&mut timed, false, &commands),
        c.exec(&mut plain, false, &commands)
    );
    assert_eq!(timed.engine.exec_times().len(), commands.len() + 1);
    assert!(timed.engine.exec_times().windows(2).all(|w| w[1] > w[0]));
    assert!(plain.engine.exec_times().is_empty());
    assert_eq!(timed.engine.digest(), plain.engine.digest());
    // An aborted transaction ran nothing, so it has no readings.
    c.watch(&mut timed, "x");
    timed.cmd("SET x 5");
    assert_eq!(c.exec(&mut timed, true, &["GET x"]), "(nil-array)");
    assert!(timed.engine.exec_times().is_empty());
}
