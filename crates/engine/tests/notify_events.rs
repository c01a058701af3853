//! Keyspace notification events that the differential test against Redis 7.0.15 cannot cover:
//! hash field expiry (Redis 7.4's HEXPIRE family and "hexpired"; Redis 8.0's HGETDEL, HGETEX
//! and HSETEX), fields removed by ticks and by writes, the order of "expired" against a
//! write's own events, "new" for added keys, the classes a node asks for, and SWAPDB's wake-up
//! of whole databases.

use cairn_engine::Body;
use cairn_engine::notify;
use cairn_engine::testing::Harness;
use cairn_resp::Reply;

fn harness(flags: &str) -> Harness {
    let mut h = Harness::new();
    h.engine
        .set_notify(notify::parse(flags).expect("valid flags"));
    h
}

/// The events of the last applied entry, as `key event` (with `@db` outside database 0).
fn events(h: &Harness) -> Vec<String> {
    h.engine
        .events()
        .iter()
        .map(|e| {
            let key = String::from_utf8_lossy(&e.key);
            match e.db {
                0 => format!("{key} {}", e.event),
                db => format!("{key}@{db} {}", e.event),
            }
        })
        .collect()
}

/// Runs a write and returns its events; the reply must not be an error.
fn write(h: &mut Harness, line: &str) -> Vec<String> {
    let reply = h.cmd(line);
    assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
    events(h)
}

fn tick(h: &mut Harness) -> Vec<String> {
    h.apply(Body::Tick { keys_max: u32::MAX });
    events(h)
}

#[test]
fn field_expiry_commands_notify_as_redis_7_4() {
    let mut h = harness("KEA");
    assert_eq!(write(&mut h, "HSET h a 1 b 2 c 3"), ["h hset"]);
    assert_eq!(
        write(&mut h, "HEXPIRE h 100 FIELDS 2 a nothere"),
        ["h hexpire"]
    );
    // Nothing changed: no event.
    assert_eq!(
        write(&mut h, "HEXPIRE h 100 NX FIELDS 1 a"),
        [] as [&str; 0]
    );
    assert_eq!(
        write(&mut h, "HEXPIRE h 100 FIELDS 1 nothere"),
        [] as [&str; 0]
    );
    assert_eq!(
        write(&mut h, "HPEXPIRE h 200000 GT FIELDS 1 a"),
        ["h hexpire"]
    );
    // A time at or before now deletes the field: "hdel", not "hexpire".
    assert_eq!(write(&mut h, "HPEXPIRE h 0 FIELDS 1 a"), ["h hdel"]);
    assert_eq!(write(&mut h, "HEXPIREAT h 1 FIELDS 1 b"), ["h hdel"]);
    assert_eq!(write(&mut h, "HPERSIST h FIELDS 1 c"), [] as [&str; 0]);
    assert_eq!(
        write(&mut h, "HPEXPIREAT h 1800000000000 FIELDS 1 c"),
        ["h hexpire"]
    );
    assert_eq!(
        write(&mut h, "HPERSIST h FIELDS 2 c nothere"),
        ["h hpersist"]
    );
    assert_eq!(write(&mut h, "HPERSIST h FIELDS 1 c"), [] as [&str; 0]);
    // The last field deleted: the hash goes too.
    assert_eq!(
        write(&mut h, "HPEXPIREAT h 1 FIELDS 1 c"),
        ["h hdel", "h del"]
    );
    assert_eq!(h.cmd("EXISTS h"), Reply::Int(0));
    assert_eq!(write(&mut h, "HEXPIRE h 100 FIELDS 1 a"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "HPERSIST h FIELDS 1 a"), [] as [&str; 0]);
}

#[test]
fn hgetdel_hgetex_and_hsetex_notify_as_redis_8_0() {
    let mut h = harness("KEA");
    write(&mut h, "HSET h a 1 b 2 c 3");
    assert_eq!(write(&mut h, "HGETDEL h FIELDS 2 a nothere"), ["h hdel"]);
    assert_eq!(write(&mut h, "HGETDEL h FIELDS 1 nothere"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "HGETDEL missing FIELDS 1 a"), [] as [&str; 0]);

    assert_eq!(write(&mut h, "HGETEX h FIELDS 1 b"), [] as [&str; 0]);
    assert_eq!(
        write(&mut h, "HGETEX h EX 100 FIELDS 2 b nothere"),
        ["h hexpire"]
    );
    assert_eq!(
        write(&mut h, "HGETEX h PERSIST FIELDS 2 b c"),
        ["h hpersist"]
    );
    // c had no TTL: nothing to persist.
    assert_eq!(
        write(&mut h, "HGETEX h PERSIST FIELDS 1 c"),
        [] as [&str; 0]
    );
    assert_eq!(write(&mut h, "HGETEX h PXAT 1 FIELDS 1 b"), ["h hdel"]);
    assert_eq!(
        write(&mut h, "HGETEX h EXAT 1 FIELDS 1 c"),
        ["h hdel", "h del"]
    );

    assert_eq!(write(&mut h, "HSETEX h FIELDS 1 a 1"), ["h hset"]);
    assert_eq!(
        write(&mut h, "HSETEX h EX 100 FIELDS 1 b 2"),
        ["h hset", "h hexpire"]
    );
    assert_eq!(write(&mut h, "HSETEX h KEEPTTL FIELDS 1 b 3"), ["h hset"]);
    // Refused by FNX/FXX: nothing set, no event.
    assert_eq!(write(&mut h, "HSETEX h FNX FIELDS 1 a 9"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "HSETEX h FXX FIELDS 1 z 9"), [] as [&str; 0]);
    assert_eq!(
        write(&mut h, "HSETEX other FXX FIELDS 1 a 1"),
        [] as [&str; 0]
    );
    assert_eq!(h.cmd("EXISTS other"), Reply::Int(0));
    assert_eq!(
        write(&mut h, "HSETEX h PXAT 1 FIELDS 2 a x b y"),
        ["h hset", "h hdel", "h del"]
    );
    // Made and emptied by one command (Redis 8.0 notifies all three).
    assert_eq!(
        write(&mut h, "HSETEX fresh PX 0 FIELDS 1 a 1"),
        ["fresh hset", "fresh hdel", "fresh del"]
    );
    assert_eq!(h.cmd("EXISTS fresh"), Reply::Int(0));
}

#[test]
fn writes_notify_hexpired_before_their_own_events() {
    let mut h = harness("KEA");
    write(&mut h, "HSET h a 1 b 2");
    write(&mut h, "HPEXPIRE h 10 FIELDS 1 a");
    h.clock_ms += 20;
    assert_eq!(write(&mut h, "HSET h c 3"), ["h hexpired", "h hset"]);
    assert_eq!(write(&mut h, "HSET h c 4"), ["h hset"], "once per removal");

    // Every field expired: a write on the existing hash finds it gone.
    write(&mut h, "HPEXPIRE h 10 FIELDS 2 b c");
    h.clock_ms += 20;
    assert_eq!(write(&mut h, "HDEL h b"), ["h hexpired", "h del"]);
    assert_eq!(h.cmd("EXISTS h"), Reply::Int(0));

    write(&mut h, "HSET g a 1");
    write(&mut h, "HPEXPIRE g 10 FIELDS 1 a");
    h.clock_ms += 20;
    assert_eq!(
        write(&mut h, "HPERSIST g FIELDS 1 a"),
        ["g hexpired", "g del"]
    );

    // A write that makes the hash anew keeps the key: no "del".
    write(&mut h, "HSET n a 1");
    write(&mut h, "HPEXPIRE n 10 FIELDS 1 a");
    h.clock_ms += 20;
    assert_eq!(write(&mut h, "HINCRBY n x 1"), ["n hexpired", "n hincrby"]);
    assert_eq!(h.cmd("HLEN n"), Reply::Int(1));
}

#[test]
fn ticks_notify_hexpired_once_per_hash_and_del_for_an_emptied_one() {
    let mut h = harness("KEA");
    write(&mut h, "HSET h a 1 b 2 c 3");
    write(&mut h, "HSET g a 1");
    write(&mut h, "HPEXPIRE h 10 FIELDS 2 a b");
    write(&mut h, "HPEXPIRE g 10 FIELDS 1 a");
    h.clock_ms += 20;
    // In field-expiry order: time, then key.
    assert_eq!(tick(&mut h), ["g hexpired", "g del", "h hexpired"]);
    assert_eq!(h.cmd("HLEN h"), Reply::Int(1));
    assert_eq!(tick(&mut h), [] as [&str; 0]);

    // Other databases, and keys expiring whole in the same tick (keys come first).
    h.cmd("SELECT 3");
    write(&mut h, "HSET x a 1 b 2");
    write(&mut h, "HPEXPIRE x 10 FIELDS 1 a");
    write(&mut h, "SET s v PX 10");
    h.clock_ms += 20;
    assert_eq!(tick(&mut h), ["s@3 expired", "x@3 hexpired"]);
}

#[test]
fn field_expiry_events_follow_the_classes_asked_for() {
    let setup = |h: &mut Harness| {
        h.cmd("HSET h a 1");
        h.cmd("HPEXPIRE h 10 FIELDS 1 a");
        h.clock_ms += 20;
    };
    for (flags, expected) in [
        ("KEA", &["h hexpired", "h del"][..]),
        ("Kh", &["h hexpired"][..]),
        ("Kg", &["h del"][..]),
        ("K$", &[][..]),
        ("", &[][..]),
    ] {
        let mut h = harness(flags);
        setup(&mut h);
        assert_eq!(tick(&mut h), expected, "flags {flags:?}");
    }
}

#[test]
fn expired_keys_a_write_finds_notify_first() {
    let mut h = harness("KEA");
    write(&mut h, "RPUSH l a");
    write(&mut h, "PEXPIRE l 10");
    write(&mut h, "SADD s a");
    write(&mut h, "PEXPIRE s 10");
    h.clock_ms += 20;
    assert_eq!(write(&mut h, "LPUSH l b"), ["l expired", "l lpush"]);
    assert_eq!(write(&mut h, "SADD s b"), ["s expired", "s sadd"]);
}

#[test]
fn lists_and_sets_notify_in_redis_order() {
    let mut h = harness("KEA");
    write(&mut h, "RPUSH src a");
    assert_eq!(
        write(&mut h, "LMOVE src dst LEFT RIGHT"),
        ["dst rpush", "src lpop", "src del"]
    );
    assert_eq!(write(&mut h, "LPOP dst 0"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "LTRIM dst 0 -1"), ["dst ltrim"]);
    assert_eq!(write(&mut h, "BLPOP dst 0"), ["dst lpop", "dst del"]);
    write(&mut h, "SADD s a");
    assert_eq!(write(&mut h, "SMOVE s t a"), ["s srem", "s del", "t sadd"]);
    assert_eq!(write(&mut h, "SPOP t 5"), ["t spop", "t del"]);
    assert_eq!(write(&mut h, "SUNIONSTORE t missing"), [] as [&str; 0]);
    write(&mut h, "SADD t a");
    assert_eq!(write(&mut h, "SINTERSTORE t missing"), ["t del"]);
}

#[test]
fn swapdb_makes_both_databases_ready() {
    let mut h = harness("");
    h.cmd("RPUSH l a");
    assert_eq!(h.engine.ready_dbs(), [] as [usize; 0]);
    assert_eq!(h.cmd("SWAPDB 0 3"), Reply::ok());
    assert_eq!(h.engine.ready_dbs(), [0, 3]);
    assert_eq!(h.engine.events(), []);
    assert_eq!(h.cmd("SWAPDB 2 2"), Reply::ok());
    assert_eq!(h.engine.ready_dbs(), [2]);
    h.cmd("SET k v");
    assert_eq!(h.engine.ready_dbs(), [] as [usize; 0], "cleared per entry");
}

#[test]
fn added_keys_notify_new_before_the_command_event() {
    let mut h = harness("KEAn");
    assert_eq!(write(&mut h, "SET foo bar"), ["foo new", "foo set"]);
    assert_eq!(write(&mut h, "SET foo baz"), ["foo set"]);
    assert_eq!(write(&mut h, "RPUSH l a"), ["l new", "l rpush"]);
    assert_eq!(
        write(&mut h, "LMOVE l m LEFT LEFT"),
        ["m new", "m lpush", "l lpop", "l del"]
    );
    write(&mut h, "PEXPIRE m 10");
    h.clock_ms += 20;
    assert_eq!(write(&mut h, "SADD m x"), ["m expired", "m new", "m sadd"]);
    // Never made: no "new".
    assert_eq!(write(&mut h, "HSETEX h FXX FIELDS 1 a 1"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "LPUSHX h a"), [] as [&str; 0]);
    assert_eq!(write(&mut h, "SINTERSTORE d missing"), [] as [&str; 0]);
    // Only "new" asked for.
    let mut h = harness("En");
    assert_eq!(write(&mut h, "HSET h a 1"), ["h new"]);
    assert_eq!(write(&mut h, "HSET h b 1"), [] as [&str; 0]);
}
