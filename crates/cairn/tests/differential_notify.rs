//! Keyspace notifications of the list, hash, set and bitmap families against the real
//! `redis-server` 7.0.15: on each server one connection subscribes to `__key*__:*` after
//! `CONFIG SET notify-keyspace-events KEAn` (every class, and "new" for keys added), another
//! runs a script of writes, and the messages each command produced must be equal byte for
//! byte, in order.
//!
//! After every command the script connection publishes a marker (`__keymark__:<n>`, which the
//! pattern also matches); the messages read before it are that command's. A line may start
//! with `any:` (the reply is not compared: SPOP's members are random), `block:` (sent on a
//! third connection, which blocks; the script goes on once the server reports it blocked) or
//! `wake:` (a command after which the blocked connection's reply is read, and compared,
//! before the marker: its events are the served client's).
//!
//! Hash field expiry (Redis 7.4) and HGETDEL/HGETEX/HSETEX (8.0) cannot be compared with 7.0;
//! `crates/engine/tests/notify_events.rs` covers their events.

mod common;

use std::time::{Duration, Instant};

use common::differential::{Oracle, encode, show, words};
use common::{Cairn, Raw};

const PATTERN: &str = "__key*__:*";

/// One server's three connections.
struct Side {
    script: Raw,
    subscriber: Raw,
    blocker: Raw,
    marks: usize,
}

impl Side {
    fn open(addr: &str, resp3: bool) -> Side {
        let mut script = Raw::connect(addr);
        let ok = script.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
        assert_eq!(ok, b"+OK\r\n", "CONFIG SET on {addr}");
        // Expired keys stay until a command touches them, on both servers.
        assert_eq!(script.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), b"+OK\r\n");
        let mut subscriber = Raw::connect(addr);
        if resp3 {
            subscriber.cmd(&["HELLO", "3"]);
        }
        let confirm = subscriber.cmd(&["PSUBSCRIBE", PATTERN]);
        assert!(
            show(&confirm).contains("psubscribe"),
            "PSUBSCRIBE on {addr}: {}",
            show(&confirm)
        );
        Side {
            script,
            subscriber,
            blocker: Raw::connect(addr),
            marks: 0,
        }
    }

    fn call(&mut self, argv: &[Vec<u8>]) -> Vec<u8> {
        self.script.send(&encode(argv));
        self.script.read_reply()
    }

    /// Publishes the next marker and returns the messages that arrived before it.
    fn messages(&mut self) -> Vec<Vec<u8>> {
        self.marks += 1;
        let channel = format!("__keymark__:{}", self.marks);
        let receivers = self.call(&[
            b"PUBLISH".to_vec(),
            channel.clone().into_bytes(),
            b"-".to_vec(),
        ]);
        assert_eq!(receivers, b":1\r\n", "the subscriber hears the marker");
        let tail = format!("${}\r\n{channel}\r\n", channel.len()).into_bytes();
        let mut out = Vec::new();
        loop {
            let message = self.subscriber.read_reply();
            if message.windows(tail.len()).any(|w| w == tail) {
                return out;
            }
            out.push(message);
        }
    }

    /// Waits until the server reports `n` blocked clients.
    fn wait_blocked(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let want = format!("blocked_clients:{n}\r\n");
        loop {
            let info = self.call(&[b"INFO".to_vec(), b"clients".to_vec()]);
            if String::from_utf8_lossy(&info).contains(&want) {
                return;
            }
            assert!(Instant::now() < deadline, "never {n} blocked clients");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs every script on both servers; returns the mismatches and how many messages Redis sent.
fn run(
    oracle: &Oracle,
    cairn: &Cairn,
    resp3: bool,
    scripts: &[(&str, &[&str])],
) -> (Vec<String>, usize) {
    let mut redis = Side::open(&oracle.addr(), resp3);
    let mut ours = Side::open(&cairn.addr(), resp3);
    let mut failures = Vec::new();
    let mut heard = 0;
    for (name, script) in scripts {
        for side in [&mut redis, &mut ours] {
            side.call(&words("FLUSHALL"));
            side.messages();
        }
        for line in *script {
            if let Some(ms) = line.strip_prefix("sleep ") {
                std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
                continue;
            }
            let label = format!("{name}: {line}");
            if let Some(cmd) = line.strip_prefix("block:") {
                for side in [&mut redis, &mut ours] {
                    side.blocker.send(&encode(&words(cmd)));
                    side.wait_blocked(1);
                }
                continue;
            }
            let (compare_reply, wake, cmd) = if let Some(cmd) = line.strip_prefix("any:") {
                (false, false, cmd)
            } else if let Some(cmd) = line.strip_prefix("wake:") {
                (true, true, cmd)
            } else {
                (true, false, *line)
            };
            let argv = words(cmd);
            let mut outcome = Vec::new();
            for side in [&mut redis, &mut ours] {
                let reply = side.call(&argv);
                let served = wake.then(|| side.blocker.read_reply());
                outcome.push((reply, served, side.messages()));
            }
            let (ours_out, redis_out) = (outcome.pop().unwrap(), outcome.pop().unwrap());
            heard += redis_out.2.len();
            if compare_reply && redis_out.0 != ours_out.0 {
                failures.push(format!(
                    "{label}: reply\n    redis: {}\n    cairn: {}",
                    show(&redis_out.0),
                    show(&ours_out.0)
                ));
            }
            if redis_out.1 != ours_out.1 {
                failures.push(format!(
                    "{label}: the blocked client's reply\n    redis: {:?}\n    cairn: {:?}",
                    redis_out.1.as_deref().map(show),
                    ours_out.1.as_deref().map(show)
                ));
            }
            if redis_out.2 != ours_out.2 {
                let list = |m: &[Vec<u8>]| m.iter().map(|m| show(m)).collect::<Vec<_>>();
                failures.push(format!(
                    "{label}: messages\n    redis: {:?}\n    cairn: {:?}",
                    list(&redis_out.2),
                    list(&ours_out.2)
                ));
            }
        }
    }
    (failures, heard)
}

fn check(scripts: &[(&str, &[&str])]) {
    let oracle = Oracle::start();
    let cairn = Cairn::start(&[]);
    let (mut failures, heard) = run(&oracle, &cairn, false, scripts);
    let (resp3, heard3) = run(&oracle, &cairn, true, scripts);
    failures.extend(resp3.into_iter().map(|f| format!("[RESP3] {f}")));
    // Each script line that changes something notifies: a silent run would prove nothing.
    let lines: usize = scripts.iter().map(|(_, s)| s.len()).sum();
    assert!(
        heard >= lines && heard == heard3,
        "Redis sent {heard} (RESP2) and {heard3} (RESP3) messages for {lines} lines"
    );
    assert!(
        failures.is_empty(),
        "{} mismatch(es) with Redis 7.0.15:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const LIST_PUSH_POP: &[&str] = &[
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX l x",
    "RPUSHX l y",
    "LPUSHX missing x",
    "RPUSHX missing x",
    "LPOP l",
    "RPOP l",
    "LPOP l 0",
    "RPOP l 2",
    "LPOP l 10",
    "EXISTS l",
    "LPOP l",
    "RPOP l 3",
    "RPUSH one v",
    "RPOP one",
    "RPUSH one v",
    "LPOP one 1",
    "SET s v",
    "LPUSH s a",
    "LPUSHX s a",
    "LPOP s",
    "RPOP s 2",
    "RPUSH l 1 2 3 4 5",
    "LMPOP 2 missing l LEFT",
    "LMPOP 1 l RIGHT COUNT 2",
    "LMPOP 1 l LEFT COUNT 10",
    "LMPOP 1 l LEFT",
    "LMPOP 2 s l LEFT",
    "DEL l",
    "RPUSH l a",
    "DEL l",
];

const LIST_EDITS: &[&str] = &[
    "RPUSH l a b c a b c",
    "LSET l 0 z",
    "LSET l -1 y",
    "LSET l 99 x",
    "LSET missing 0 x",
    "LINSERT l BEFORE b new",
    "LINSERT l AFTER c new2",
    "LINSERT l BEFORE nothere x",
    "LINSERT missing BEFORE a x",
    "LREM l 0 nothere",
    "LREM l 1 b",
    "LREM l -1 c",
    "LREM l 0 new",
    "LREM missing 0 a",
    "LTRIM l 0 -1",
    "LTRIM l 1 2",
    "LRANGE l 0 -1",
    "LTRIM missing 0 1",
    "LTRIM l 5 1",
    "EXISTS l",
    "RPUSH r x x x",
    "LREM r 0 x",
    "EXISTS r",
    "SET s v",
    "LSET s 0 x",
    "LINSERT s BEFORE a b",
    "LREM s 0 a",
    "LTRIM s 0 1",
];

const LIST_MOVES: &[&str] = &[
    "RPUSH src a b c",
    "LMOVE src dst LEFT RIGHT",
    "LMOVE src dst RIGHT LEFT",
    "LMOVE src src LEFT RIGHT",
    "LMOVE src src RIGHT RIGHT",
    "RPOPLPUSH src dst",
    "EXISTS src",
    "RPOPLPUSH missing dst",
    "LMOVE missing dst LEFT LEFT",
    "RPUSH one x",
    "RPOPLPUSH one one",
    "LMOVE one one LEFT LEFT",
    "SET s v",
    "LMOVE dst s LEFT LEFT",
    "RPOPLPUSH s dst",
    "LMOVE dst fresh RIGHT RIGHT",
    "LRANGE dst 0 -1",
    "LRANGE fresh 0 -1",
];

/// Blocking commands served at once notify like their non-blocking forms.
const LIST_BLOCKING_AT_ONCE: &[&str] = &[
    "RPUSH l a b c",
    "BLPOP missing l 0",
    "BRPOP l 0",
    "BLPOP l 0",
    "EXISTS l",
    "RPUSH l a b c",
    "BLMOVE l d LEFT RIGHT 0",
    "BRPOPLPUSH l d 0",
    "BLMOVE l d RIGHT LEFT 0",
    "EXISTS l",
    "BRPOPLPUSH d d 0",
    "BLMPOP 0 2 missing d RIGHT COUNT 2",
    "BLMPOP 0 1 d LEFT COUNT 5",
    "EXISTS d",
    "SET s v",
    "BLPOP s 0",
    "RPUSH l a",
    "BLMOVE l s LEFT LEFT 0",
];

/// A client blocked in a pop is served by a later push: the push's events, then the pop's.
const LIST_BLOCKED_THEN_SERVED: &[&str] = &[
    "block: BLPOP q 0",
    "wake: RPUSH q a",
    "EXISTS q",
    "block: BRPOP q 0",
    "wake: RPUSH q a b",
    "LRANGE q 0 -1",
    "block: BLMOVE m dst RIGHT LEFT 0",
    "wake: LPUSH m x",
    "EXISTS m",
    "block: BLMPOP 0 1 n LEFT COUNT 5",
    "wake: RPUSH n 1 2 3",
    "EXISTS n",
    "block: BRPOPLPUSH p p 0",
    "wake: RPUSH p only",
    "LRANGE p 0 -1",
];

const LIST_EXPIRED: &[&str] = &[
    "RPUSH l a b",
    "PEXPIRE l 20",
    "RPUSH m a",
    "PEXPIRE m 20",
    "sleep 80",
    "LPUSH l c",
    "LRANGE l 0 -1",
    "LPOP m",
    "EXISTS m",
];

const HASH: &[&str] = &[
    "HSET h a 1 b 2",
    "HSET h a 1",
    "HMSET h c 3",
    "HSETNX h a 9",
    "HSETNX h d 4",
    "HSETNX fresh f v",
    "HDEL h nothere",
    "HDEL h a nothere b",
    "HINCRBY h n 5",
    "HINCRBY h n -10",
    "HINCRBYFLOAT h f 1.5",
    "HINCRBYFLOAT h f 2.5e3",
    "HSET h text abc",
    "HINCRBY h text 1",
    "HINCRBYFLOAT h text 1",
    "HSET h big 9223372036854775807",
    "HINCRBY h big 1",
    "HINCRBY newh x 1",
    "HINCRBYFLOAT newf x 0.5",
    "HDEL fresh f",
    "EXISTS fresh",
    "HDEL missing a",
    "HDEL h c d n f text big",
    "EXISTS h",
    "SET s v",
    "HSET s a 1",
    "HSETNX s a 1",
    "HDEL s a",
    "HINCRBY s a 1",
    "HINCRBYFLOAT s a 1",
    "HSET h a 1",
    "PEXPIRE h 20",
    "sleep 80",
    "HSET h b 2",
    "HGETALL h",
];

const SET_ADD_REMOVE: &[&str] = &[
    "SADD s a b c",
    "SADD s a",
    "SADD s a d",
    "SADD i 1 2 3",
    "SREM s nothere",
    "SREM s a nothere",
    "SREM missing a",
    "SREM s b c d",
    "EXISTS s",
    "SET str v",
    "SADD str a",
    "SREM str a",
    "SADD t x",
    "PEXPIRE t 20",
    "sleep 80",
    "SADD t y",
    "SMEMBERS t",
];

const SET_SMOVE: &[&str] = &[
    "SADD src a b c",
    "SADD dst c",
    "SMOVE src dst a",
    "SMOVE src dst c",
    "SMOVE src dst nothere",
    "SMOVE src src b",
    "SMOVE missing dst a",
    "SMOVE src fresh b",
    "EXISTS src",
    "SMISMEMBER dst a b c only",
    "SET str v",
    "SMOVE dst str a",
    "SMOVE str dst a",
    "SADD one only",
    "SMOVE one dst only",
    "EXISTS one",
];

/// SETBIT and BITFIELD notify only when the string was created or grew, or a value changed.
const BITS: &[&str] = &[
    "SETBIT b 3 1",
    "SETBIT b 3 1",
    "SETBIT b 3 0",
    "SETBIT b 3 0",
    "SETBIT b 20 0",
    "BITFIELD f SET u8 0 7",
    "BITFIELD f SET u8 0 7 GET u4 0",
    "BITFIELD f INCRBY u8 0 0",
    "BITFIELD f OVERFLOW FAIL INCRBY u2 0 9",
    "BITFIELD f INCRBY u8 0 1",
    "BITFIELD f GET u8 0",
    "BITFIELD f SET u8 16 0",
    "SET s x",
    "BITFIELD s SET u8 0 120",
];

const SET_SPOP: &[&str] = &[
    "SADD s a b c d e f g h i j",
    "any: SPOP s",
    "SPOP s 0",
    "any: SPOP s 1",
    "any: SPOP s 2",
    "SCARD s",
    "any: SPOP s 5",
    "SCARD s",
    "any: SPOP s 100",
    "EXISTS s",
    "SPOP missing",
    "SPOP missing 3",
    "SADD one x",
    "SPOP one",
    "EXISTS one",
    "SADD i 1 2 3 4 5 6 7 8 9 10 11 12",
    "any: SPOP i 11",
    "SCARD i",
    "SET str v",
    "SPOP str",
    "SPOP str 2",
];

const SET_STORE: &[&str] = &[
    "SADD a 1 2 3 x",
    "SADD b 2 3 4 y",
    "SINTERSTORE d a b",
    "SUNIONSTORE u a b",
    "SDIFFSTORE f a b",
    "SINTERSTORE d a missing",
    "EXISTS d",
    "SINTERSTORE d a missing",
    "SUNIONSTORE e missing",
    "SDIFFSTORE f a a",
    "EXISTS f",
    "SDIFFSTORE g missing a",
    "SET str v",
    "SUNIONSTORE str a",
    "TYPE str",
    "SET str v",
    "SINTERSTORE str a missing",
    "EXISTS str",
    "SET str v",
    "SDIFFSTORE dd str a",
    "SINTERSTORE dd a str",
    "SUNIONSTORE a a b",
    "SINTERSTORE a a",
    "SDIFFSTORE a a b",
];

/// "new" (class `n`) comes from the keyspace itself, for every family: each key added once,
/// before the event of the command that added it; never for a key only replaced.
const NEW_KEYS: &[&str] = &[
    "SET a 1",
    "SET a 2",
    "SETNX a 3",
    "SETNX b 3",
    "SETEX c 100 v",
    "PSETEX d 100000 v",
    "GETSET e v",
    "MSET f 1 g 2 a 3",
    "MSETNX h 1 i 2",
    "APPEND j x",
    "APPEND j y",
    "APPEND k \"\"",
    "SETRANGE l 0 x",
    "SETRANGE m 0 \"\"",
    "EXISTS m",
    "SETRANGE n 3 \"\"",
    "INCR o",
    "INCRBYFLOAT p 1.5",
    "SETBIT q 3 1",
    "SETBIT q 3 0",
    "BITFIELD r SET u8 0 200",
    "BITFIELD s GET u8 0",
    "EXISTS s",
    "BITOP OR t q r",
    "BITOP AND u missing1 missing2",
    "EXISTS u",
    "PFADD v x",
    "PFADD w",
    "PFMERGE x v",
    "PFMERGE y",
    "GETEX a PX 100000",
    "GETDEL a",
    "RENAME b renamed",
    "RENAME renamed c",
    "RENAMENX c d",
    "RENAMENX c fresh",
    "COPY fresh copied",
    "COPY fresh copied",
    "COPY fresh copied REPLACE",
    "COPY fresh other DB 1",
    "MOVE copied 2",
    "SET str v",
    "PEXPIRE str 20",
    "sleep 80",
    "SET str again",
    "RPUSH list a",
    "HSET hash f v",
    "SADD set m",
    "SWAPDB 0 1",
    "SET list replaced",
];

const ZSET: &[&str] = &[
    "ZADD z 1 a 2 b 3 c 4 d 5 e",
    "ZINCRBY z 1 a",
    "ZREM z e",
    "ZPOPMIN z",
    "ZPOPMAX z 1",
    "ZPOPMIN missing",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZREMRANGEBYSCORE z 1 1",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYSCORE z 100 200",
    "ZADD lex 0 a 0 b 0 c",
    "ZREMRANGEBYLEX lex [a [b",
    "ZUNIONSTORE u 2 z lex",
    "ZINTERSTORE i 2 z lex",
    "ZDIFFSTORE d 2 z lex",
    "ZRANGESTORE r z 0 -1",
    "ZRANGESTORE r missing 0 -1",
    "ZUNIONSTORE u 1 missing",
    "ZMPOP 1 z MIN",
    "ZPOPMIN lex 5",
    "ZADD w 1 x",
    "BZPOPMAX w 0",
    "ZADD w 1 x 2 y",
    "BZMPOP 0 1 w MIN COUNT 5",
    "GEOADD g 13.361389 38.115556 Palermo",
    "GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOSEARCHSTORE gs g FROMLONLAT 0 0 BYRADIUS 1 km",
];

#[test]
fn zset_notifications_match_redis() {
    check(&[("zset", ZSET)]);
}

#[test]
fn new_key_events_match_redis() {
    check(&[("new-keys", NEW_KEYS)]);
}

#[test]
fn list_notifications_match_redis() {
    check(&[
        ("push-pop", LIST_PUSH_POP),
        ("edits", LIST_EDITS),
        ("moves", LIST_MOVES),
        ("blocking-at-once", LIST_BLOCKING_AT_ONCE),
        ("blocked-then-served", LIST_BLOCKED_THEN_SERVED),
        ("expired", LIST_EXPIRED),
    ]);
}

#[test]
fn bit_notifications_match_redis() {
    check(&[("bits", BITS)]);
}

#[test]
fn hash_notifications_match_redis() {
    check(&[("hash", HASH)]);
}

#[test]
fn set_notifications_match_redis() {
    check(&[
        ("add-remove", SET_ADD_REMOVE),
        ("smove", SET_SMOVE),
        ("spop", SET_SPOP),
        ("store", SET_STORE),
    ]);
}

/// What a subscriber silenced with CLIENT REPLY OFF or SKIP receives, byte for byte: Redis
/// still sends (un)subscribe confirmations and messages (they are pushes), and a pending SKIP
/// is used up by the subscribing command.
#[test]
fn silenced_subscribers_still_hear_notifications() {
    let oracle = Oracle::start();
    let cairn = Cairn::start(&[]);
    let cases: &[(bool, &[&str])] = &[
        (false, &["CLIENT REPLY OFF", "PSUBSCRIBE __key*__:*"]),
        (
            false,
            &["CLIENT REPLY SKIP", "PSUBSCRIBE __key*__:*", "PING after"],
        ),
        (
            true,
            &[
                "CLIENT REPLY OFF",
                "SUBSCRIBE __keyspace@0__:l",
                "PSUBSCRIBE __key*__:*",
            ],
        ),
        // RESP3: CLIENT is allowed while subscribed.
        (
            true,
            &[
                "PSUBSCRIBE __key*__:*",
                "CLIENT REPLY OFF",
                "PUNSUBSCRIBE",
                "PSUBSCRIBE __key*__:*",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (resp3, preamble) in cases {
        let mut streams = Vec::new();
        for addr in [oracle.addr(), cairn.addr()] {
            let mut script = Raw::connect(&addr);
            script.cmd(&["FLUSHALL"]);
            script.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
            let mut subscriber = Raw::connect(&addr);
            if *resp3 {
                subscriber.cmd(&["HELLO", "3"]);
            }
            for line in *preamble {
                subscriber.send(&encode(&words(line)));
            }
            // The marker tells when the subscriptions are in place.
            let mut wait = Instant::now();
            while script.cmd(&["PUBLISH", "__keymark__:ready", "-"]) != b":1\r\n" {
                assert!(wait.elapsed() < Duration::from_secs(10), "never subscribed");
                std::thread::sleep(Duration::from_millis(5));
            }
            script.cmd(&["RPUSH", "l", "a"]);
            script.cmd(&["LPOP", "l"]);
            script.cmd(&["PUBLISH", "__keymark__:end", "-"]);
            let mut stream = Vec::new();
            wait = Instant::now();
            loop {
                let value = subscriber.read_reply();
                let end = show(&value).contains("__keymark__:end");
                if !show(&value).contains("__keymark__:ready") {
                    stream.push(show(&value));
                }
                if end || wait.elapsed() > Duration::from_secs(10) {
                    break;
                }
            }
            streams.push(stream);
        }
        if streams[0] != streams[1] {
            failures.push(format!(
                "{preamble:?} (resp3: {resp3})\n    redis: {:?}\n    cairn: {:?}",
                streams[0], streams[1]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
