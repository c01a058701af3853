//! The duplicate filter: an entry that repeats a request its writer already had applied
//! changes nothing, on every node, including one restored from a snapshot.

use bytes::Bytes;
use cairn_engine::engine::WRITER_HORIZON_MS;
use cairn_engine::{Body, Engine, Entry, Origin};

fn entry(node: u64, request: u64, time_ms: u64, words: &[&str]) -> Entry {
    Entry {
        db: 0,
        time_ms,
        seed: 7,
        origin: Origin { node, request },
        body: Body::Command(words.iter().map(|w| Bytes::from(w.to_string())).collect()),
    }
}

#[test]
fn a_repeated_request_is_skipped() {
    let mut e = Engine::new(16);
    let incr = entry(1, 1, 1_000, &["INCR", "n"]);
    assert!(e.apply_logged(&incr).is_some());
    assert!(e.apply_logged(&incr).is_none(), "the copy is skipped");
    // An older request of the same writer is a copy too.
    assert!(
        e.apply_logged(&entry(1, 2, 1_000, &["INCR", "n"]))
            .is_some()
    );
    assert!(
        e.apply_logged(&entry(1, 1, 1_000, &["INCR", "n"]))
            .is_none()
    );
    // Another writer's request 1 is its own.
    assert!(
        e.apply_logged(&entry(2, 1, 1_000, &["INCR", "n"]))
            .is_some()
    );
    let mut check = Engine::new(16);
    for i in 1..=3 {
        check.apply(&entry(9, i, 1_000, &["INCR", "n"]));
    }
    assert_eq!(e.digest(), check.digest());
}

#[test]
fn entries_without_an_origin_are_never_filtered() {
    let mut e = Engine::new(16);
    let incr = entry(0, 0, 1_000, &["INCR", "n"]);
    assert!(e.apply_logged(&incr).is_some());
    assert!(e.apply_logged(&incr).is_some());
    assert_eq!(e.writers_known(), 0);
}

#[test]
fn the_filter_survives_a_snapshot() {
    let mut e = Engine::new(16);
    e.apply_logged(&entry(5, 10, 1_000, &["SET", "k", "a"]));
    let mut restored = Engine::restore(&e.snapshot(), 16).expect("restores");
    assert_eq!(restored.writers_known(), 1);
    assert!(
        restored
            .apply_logged(&entry(5, 10, 1_000, &["SET", "k", "b"]))
            .is_none()
    );
    assert_eq!(restored.digest(), e.digest());
    assert_eq!(restored.snapshot(), e.snapshot(), "byte for byte");
}

#[test]
fn silent_writers_are_forgotten_after_the_horizon() {
    let mut e = Engine::new(16);
    e.apply_logged(&entry(1, 1, 1_000, &["SET", "a", "1"]));
    e.apply_logged(&entry(2, 1, 2_000, &["SET", "b", "1"]));
    // A new writer arrives after writer 1's horizon but within writer 2's.
    e.apply_logged(&entry(3, 1, 1_001 + WRITER_HORIZON_MS, &["SET", "c", "1"]));
    assert_eq!(e.writers_known(), 2);
}

#[test]
fn a_version_1_snapshot_restores_with_no_writers() {
    // u8 version 1 | u64 now_ms | u64 hash_seed | u32 databases = 1 | u64 keys = 0
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.extend_from_slice(&0x5eedu64.to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    let e = Engine::restore(&bytes, 16).expect("version 1 restores");
    assert_eq!((e.now_ms(), e.writers_known()), (5, 0));
}

fn lease(node: u64, request: u64, epoch: u64) -> Entry {
    Entry {
        db: 0,
        time_ms: 1_000,
        seed: 0,
        origin: Origin { node, request },
        body: Body::Lease { epoch },
    }
}

fn tick(node: u64, request: u64, time_ms: u64) -> Entry {
    Entry {
        db: 0,
        time_ms,
        seed: 0,
        origin: Origin { node, request },
        body: Body::Tick { keys_max: 100 },
    }
}

#[test]
fn ticks_from_a_node_without_the_lease_change_nothing() {
    let mut e = Engine::new(16);
    e.apply_logged(&entry(1, 1, 1_000, &["SET", "k", "v", "PX", "10"]));
    assert_eq!(e.lease_holder(), None);
    e.apply_logged(&lease(2, 1, 1));
    assert_eq!((e.lease_holder(), e.lease_epoch()), (Some(2), 1));
    // Node 1 lost (never had) the lease: its tick is fenced off.
    assert_eq!(
        e.apply_logged(&tick(1, 2, 5_000)),
        Some(cairn_resp::Reply::Int(0))
    );
    assert_eq!(e.db(0).len(), 1);
    // A stale grant does not move the lease back.
    assert_eq!(
        e.apply_logged(&lease(1, 3, 1)),
        Some(cairn_resp::Reply::Int(0))
    );
    assert_eq!(e.lease_holder(), Some(2));
    assert_eq!(
        e.apply_logged(&tick(2, 2, 5_000)),
        Some(cairn_resp::Reply::Int(1))
    );
    assert_eq!(e.db(0).len(), 0);
    let restored = Engine::restore(&e.snapshot(), 16).expect("restores");
    assert_eq!(
        (restored.lease_holder(), restored.lease_epoch()),
        (Some(2), 1)
    );
}

/// A node passes the row it resolved its own entry's command to; the apply uses it only for
/// a top-level row of the command's name, so a stale or mismatched row cannot change what
/// the entry does.
#[test]
fn a_resolved_row_stands_only_for_its_own_command() {
    use cairn_engine::table::lookup;
    use cairn_resp::Reply;
    let mut e = Engine::new(16);
    let set = entry(1, 1, 1_000, &["set", "k", "v"]);
    let reply = e.apply_logged_resolved(&set, lookup(b"SET"));
    assert_eq!(reply, Some(Reply::ok()));
    // A row of another command (a read) is ignored: the entry still sets.
    let set2 = entry(1, 2, 1_000, &["SET", "k", "w"]);
    assert_eq!(
        e.apply_logged_resolved(&set2, lookup(b"GET")),
        Some(Reply::ok())
    );
    // A container row is ignored too: the table resolves the subcommand.
    let config = entry(
        1,
        3,
        1_000,
        &["CONFIG", "SET", "hash-max-listpack-entries", "64"],
    );
    let mut plain = Engine::new(16);
    assert_eq!(
        e.apply_logged_resolved(&config, lookup(b"CONFIG")),
        plain.apply_logged(&config)
    );
    let mut check = Engine::new(16);
    check.apply(&entry(2, 1, 1_000, &["SET", "k", "w"]));
    check.apply(&config);
    assert_eq!(e.digest(), check.digest());
}
