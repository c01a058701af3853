//! Durability of the real binary on a real disk, across restarts:
//! - a clean stop (SHUTDOWN, SHUTDOWN NOSAVE or SIGTERM) keeps the exact data (DEBUG DIGEST, DBSIZE), keeps TTLs
//!   as absolute times, and keys that expired while the server was down are gone;
//! - state is a pure function of the log: replaying the same log after `kill -9`, under a later
//!   wall clock, gives a byte-identical DEBUG DIGEST;
//! - a damaged record followed by valid ones makes the server refuse to start, naming the file
//!   and the offset, without touching the files; a torn tail is truncated with a warning and
//!   every earlier acknowledged write is kept; a damaged newest snapshot falls back to the
//!   previous one when the log still covers it, and refuses to start when it does not;
//! - `--appendfsync everysec` says in INFO that durability is relaxed, and works;
//! - a second server on the same data directory refuses to start (directory lock);
//! - `kill -9` right after a reply never loses the acknowledged write.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Cairn, Client, Resp, free_port, run_expecting_exit, strip_ansi};

/// How long a node that should refuse to start may take to do so.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound of every "wait until" loop (the condition normally holds within milliseconds).
const WAIT_MAX: Duration = Duration::from_secs(10);
/// Segment header size (docs: `crates/log/src/segment.rs`).
const SEGMENT_HEADER_LEN: usize = 32;

// ---------------------------------------------------------------------------------------------
// Helpers

fn bulk(c: &mut Client, args: &[&str]) -> Option<String> {
    match c.must(args) {
        Resp::Bulk(b) => Some(String::from_utf8(b).unwrap()),
        Resp::Nil => None,
        other => panic!("{args:?} replied {other:?}"),
    }
}

fn int(c: &mut Client, args: &[&str]) -> i64 {
    match c.must(args) {
        Resp::Int(n) => n,
        other => panic!("{args:?} replied {other:?}"),
    }
}

fn ok(c: &mut Client, args: &[&str]) {
    assert_eq!(c.must(args), Resp::Simple("OK".into()), "{args:?}");
}

fn digest(c: &mut Client) -> String {
    match c.must(&["DEBUG", "DIGEST"]) {
        Resp::Simple(s) => s,
        other => panic!("DEBUG DIGEST replied {other:?}"),
    }
}

/// Waits (bounded) until `cond` holds; panics with `what` otherwise.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_MAX;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A deterministic mixed workload without TTLs over several databases and commands.
fn workload(c: &mut Client, tag: &str, n: usize) {
    for i in 0..n {
        let (key, value) = (
            format!("{tag}:s:{i}"),
            format!("value-{tag}-{i}-{}", "x".repeat(i % 50)),
        );
        ok(c, &["SET", &key, &value]);
        int(c, &["INCR", &format!("{tag}:counter:{}", i % 7)]);
        int(c, &["APPEND", &format!("{tag}:log"), &format!("{i},")]);
        match i % 5 {
            0 => ok(
                c,
                &[
                    "MSET",
                    &format!("{tag}:m:{i}:a"),
                    "1",
                    &format!("{tag}:m:{i}:b"),
                    "2",
                ],
            ),
            1 => assert_eq!(int(c, &["DEL", &format!("{tag}:s:{}", i - 1)]), 1),
            2 => assert!(int(c, &["SETRANGE", &key, "3", "RANGE"]) > 0),
            3 => assert!(bulk(c, &["INCRBYFLOAT", &format!("{tag}:float"), "1.25"]).is_some()),
            _ => ok(c, &["RENAME", &key, &format!("{tag}:renamed:{i}")]),
        }
    }
    ok(c, &["SELECT", "3"]);
    ok(c, &["SET", &format!("{tag}:in-db3"), "three"]);
    ok(c, &["SELECT", "0"]);
    int(
        c,
        &["COPY", &format!("{tag}:log"), &format!("{tag}:log-copy")],
    );
}

/// Segment files of `dir`, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("log-") && name.ends_with(".seg")
        })
        .collect();
    segs.sort();
    segs
}

/// `(start, payload_len)` of each whole frame (`len u32 | crc u32 | payload`) after the header,
/// up to the end of the file or to an all-zero frame head (the writer's preallocated space).
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if bytes[at..at + 8] == [0; 8] || at + 8 + len > bytes.len() {
            break;
        }
        out.push((at, len));
        at += 8 + len;
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// Clean restarts

#[derive(Clone, Copy)]
enum Stop {
    ShutdownCommand,
    /// SHUTDOWN NOSAVE: no snapshot, so the restart replays the whole log.
    ShutdownNosave,
    Sigterm,
}

fn stop_cleanly(node: &mut Cairn, how: Stop) {
    let status = match how {
        Stop::ShutdownCommand | Stop::ShutdownNosave => {
            let args: &[&[u8]] = match how {
                Stop::ShutdownNosave => &[b"SHUTDOWN", b"NOSAVE"],
                _ => &[b"SHUTDOWN"],
            };
            let reply = node.client().call(args);
            // Redis closes the connection without a reply when SHUTDOWN succeeds.
            if let Ok(reply) = reply {
                panic!("SHUTDOWN replied {reply:?}");
            }
            node.wait_exit(Duration::from_secs(30))
        }
        Stop::Sigterm => node.terminate(),
    };
    assert!(status.success(), "clean stop exited with {status}");
}

/// Phase 1: data and 100 s TTLs survive a clean stop exactly. Phase 2: keys that expire while
/// the server is down are gone after the restart, and the rest is untouched.
fn clean_restart_preserves_state(how: Stop) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    let empty = digest(&mut c);
    workload(&mut c, "w", 60);
    for i in 0..10 {
        ok(&mut c, &["SET", &format!("ttl:{i}"), "v", "EX", "100"]);
    }
    let (before, keys) = (digest(&mut c), int(&mut c, &["DBSIZE"]));
    assert_ne!(before, empty, "the workload changed nothing");
    stop_cleanly(&mut node, how);

    let mut node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    assert_eq!(
        digest(&mut c),
        before,
        "DEBUG DIGEST changed across a clean restart"
    );
    assert_eq!(int(&mut c, &["DBSIZE"]), keys);
    for i in 0..10 {
        let ttl = int(&mut c, &["TTL", &format!("ttl:{i}")]);
        assert!(
            ttl > 90 && ttl <= 100,
            "TTL of ttl:{i} after restart is {ttl}"
        );
    }

    for i in 0..5 {
        ok(&mut c, &["SET", &format!("gone:{i}"), "v", "PX", "300"]);
    }
    let set_at = Instant::now();
    stop_cleanly(&mut node, how);
    // Stay down until the keys' expire time (300 ms) has certainly passed.
    std::thread::sleep(Duration::from_secs(1).saturating_sub(set_at.elapsed()));
    let node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    for i in 0..5 {
        assert_eq!(bulk(&mut c, &["GET", &format!("gone:{i}")]), None);
        assert_eq!(int(&mut c, &["EXISTS", &format!("gone:{i}")]), 0);
    }
    wait_until("active expiry removed the expired keys", || {
        int(&mut c, &["DBSIZE"]) == keys
    });
    assert_eq!(digest(&mut c), before, "expired keys left traces");
}

#[test]
fn shutdown_command_preserves_data_and_ttls() {
    clean_restart_preserves_state(Stop::ShutdownCommand);
}

#[test]
fn shutdown_nosave_preserves_data_and_ttls() {
    clean_restart_preserves_state(Stop::ShutdownNosave);
}

#[test]
fn sigterm_preserves_data_and_ttls() {
    clean_restart_preserves_state(Stop::Sigterm);
}

#[test]
fn encoding_thresholds_set_at_runtime_survive_kill9_and_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    let get = |c: &mut Client, name: &str| format!("{:?}", c.must(&["CONFIG", "GET", name]));
    ok(&mut c, &["CONFIG", "SET", "hash-max-ziplist-entries", "7"]);
    ok(&mut c, &["SAVE"]);
    ok(&mut c, &["CONFIG", "SET", "zset-max-listpack-value", "2kb"]);
    let before = (
        get(&mut c, "hash-max-listpack-entries"),
        get(&mut c, "zset-max-listpack-value"),
    );
    assert!(before.0.ends_with("Bulk([55])])"), "{before:?}");
    assert!(before.1.ends_with("Bulk([50, 48, 52, 56])])"), "{before:?}");
    node.kill9();
    let node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    let after = (
        get(&mut c, "hash-max-listpack-entries"),
        get(&mut c, "zset-max-listpack-value"),
    );
    assert_eq!(after, before);
}

// ---------------------------------------------------------------------------------------------
// Replay

#[test]
fn replaying_the_log_under_a_later_clock_gives_the_same_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut node = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = node.client();
    let empty = digest(&mut c);
    workload(&mut c, "before-save", 80);
    // State = snapshot + log tail: replay starts from this snapshot.
    ok(&mut c, &["SAVE"]);
    workload(&mut c, "after-save", 80);
    let expected = digest(&mut c);
    assert_ne!(expected, empty);
    for round in 0..2 {
        node.kill9();
        // Replay under a wall clock at least a second later than any entry's time.
        std::thread::sleep(Duration::from_millis(1100));
        node = Cairn::start_in(&dir, free_port(), &[]);
        let mut c = node.client();
        assert_eq!(
            digest(&mut c),
            expected,
            "digest differs after replay {round}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Damaged logs

/// Where in a frame to flip a byte.
#[derive(Clone, Copy, Debug)]
enum Flip {
    Payload,
    Length,
}

/// Writes `n` acknowledged SETs on a node started with `flags`, then kills it.
fn write_and_kill(dir: &Path, flags: &[&str], n: usize) {
    let mut node = Cairn::start_in(dir, free_port(), flags);
    let mut c = node.client();
    for i in 0..n {
        ok(
            &mut c,
            &[
                "SET",
                &format!("k:{i}"),
                &format!("{i}:{}", "v".repeat(1000)),
            ],
        );
    }
    node.kill9();
}

/// Flips one byte of a middle frame of `seg` (valid frames follow it), checks that the server
/// refuses to start naming the file and the frame's offset, leaves the files as they were, and
/// starts again once the byte is restored.
fn assert_refuses_damaged_frame(dir: &Path, seg: &Path, flip: Flip) {
    let original = std::fs::read(seg).unwrap();
    let frames = frames(&original);
    assert!(
        frames.len() >= 3,
        "{} holds only {} frames",
        seg.display(),
        frames.len()
    );
    let (start, len) = frames[frames.len() / 2];
    let at = match flip {
        Flip::Payload => start + 8 + len / 2,
        // The top byte of the length: the frame then claims to run far past the file's end.
        Flip::Length => start + 3,
    };
    let mut damaged = original.clone();
    damaged[at] ^= 0x40;
    std::fs::write(seg, &damaged).unwrap();
    let exited = run_expecting_exit(dir, free_port(), &[], REFUSE_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "started on a log damaged at {} byte {at} ({flip:?})",
            seg.display()
        )
    });
    assert!(
        !exited.status.success(),
        "exit status {} on a damaged log",
        exited.status
    );
    let stderr = exited.stderr;
    assert!(
        stderr.contains(&file_name(seg)) && stderr.contains(&format!("offset {start}")),
        "the message should name {} and offset {start} ({flip:?} flip at {at}): {stderr}",
        file_name(seg)
    );
    assert_eq!(
        std::fs::read(seg).unwrap(),
        damaged,
        "a refused start modified the segment"
    );
    std::fs::write(seg, &original).unwrap();
    let node = Cairn::start_in(dir, free_port(), &[]);
    let mut c = node.client();
    assert!(bulk(&mut c, &["GET", "k:0"]).is_some());
}

#[test]
fn damaged_record_in_the_last_segment_refuses_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    write_and_kill(&dir, &[], 50);
    let segs = segments(&dir);
    assert_eq!(segs.len(), 1, "{segs:?}");
    assert_refuses_damaged_frame(&dir, &segs[0], Flip::Payload);
    assert_refuses_damaged_frame(&dir, &segs[0], Flip::Length);
}

#[test]
fn damaged_record_in_an_earlier_segment_refuses_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // The smallest segments (64 KiB) hold about 60 of these records: 200 fill several.
    write_and_kill(&dir, &["--log-segment-bytes", "65536"], 200);
    let segs = segments(&dir);
    assert!(segs.len() >= 3, "{segs:?}");
    assert_refuses_damaged_frame(&dir, &segs[0], Flip::Payload);
    assert_refuses_damaged_frame(&dir, &segs[1], Flip::Length);
}

/// How a crash tore the final record.
#[derive(Clone, Copy, Debug)]
enum Tear {
    /// The file ends 3 bytes before the record's end: its last bytes never arrived.
    Truncated,
    /// The record's last 3 bytes are zeros (a preallocated file keeps its length).
    Zeroed,
}

/// Tears the final record of the last segment; returns the segment.
fn tear_final_record(dir: &Path, tear: Tear) -> PathBuf {
    let seg = segments(dir).pop().unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    let (start, len) = *frames(&bytes).last().unwrap();
    let end = start + 8 + len;
    let file = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
    match tear {
        Tear::Truncated => file.set_len(end as u64 - 3).unwrap(),
        Tear::Zeroed => {
            std::os::unix::fs::FileExt::write_all_at(&file, &[0; 3], end as u64 - 3).unwrap()
        }
    }
    seg
}

#[test]
fn torn_tail_is_truncated_with_a_warning_and_earlier_writes_kept() {
    for tear in [Tear::Truncated, Tear::Zeroed] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let n = 50;
        write_and_kill(&dir, &[], n);
        // A crash mid-write of the final record (`SET k:49`).
        let seg = tear_final_record(&dir, tear);

        let (node, stderr) = Cairn::start_capturing(&dir, free_port(), &[]);
        wait_until(&format!("the torn tail ({tear:?}) is reported"), || {
            let text = strip_ansi(&stderr.lock().unwrap());
            text.contains("torn tail") && text.contains(&file_name(&seg))
        });
        let mut c = node.client();
        for i in 0..n - 1 {
            assert!(
                bulk(&mut c, &["GET", &format!("k:{i}")]).is_some(),
                "{tear:?}: k:{i} lost"
            );
        }
        let last = bulk(&mut c, &["GET", &format!("k:{}", n - 1)]);
        assert_eq!(last, None, "{tear:?}: the torn record was replayed");
        ok(&mut c, &["SET", "after", "repair"]);
        drop(node);

        // The repair is durable: the next start is clean and has everything.
        let (node, stderr) = Cairn::start_capturing(&dir, free_port(), &[]);
        let mut c = node.client();
        assert_eq!(bulk(&mut c, &["GET", "after"]).as_deref(), Some("repair"));
        assert_eq!(int(&mut c, &["DBSIZE"]), n as i64);
        assert!(!strip_ansi(&stderr.lock().unwrap()).contains("torn tail"));
    }
}

/// Snapshot files of `dir`, oldest first.
fn snapshots(dir: &Path) -> Vec<PathBuf> {
    let mut snaps: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snap"))
        .collect();
    snaps.sort();
    snaps
}

/// Two SAVEs with writes before and between them; returns the digest and the snapshot paths.
fn two_snapshots(dir: &Path, flags: &[&str]) -> (String, Vec<PathBuf>) {
    let mut node = Cairn::start_in(dir, free_port(), flags);
    let mut c = node.client();
    workload(&mut c, "one", 100);
    ok(&mut c, &["SAVE"]);
    workload(&mut c, "two", 100);
    // About 200 KiB of log between the snapshots: several 64 KiB segments.
    fill(&mut c, "fill:", 20, 200, &[b'f'; 1_000]);
    ok(&mut c, &["SAVE"]);
    let expected = digest(&mut c);
    node.kill9();
    let snaps = snapshots(dir);
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    (expected, snaps)
}

/// The 20-digit seq in a `log-<seq>.seg` or `snap-<seq>.snap` file name.
fn seq_in_name(path: &Path) -> u64 {
    let name = file_name(path);
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

fn flip_middle_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn damaged_newest_snapshot_falls_back_when_the_log_covers_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // Default 64 MiB segments: nothing is pruned, the log still holds every record.
    let (expected, snaps) = two_snapshots(&dir, &[]);
    flip_middle_byte(&snaps[1]);
    let node = Cairn::start_in(&dir, free_port(), &[]);
    assert_eq!(
        digest(&mut node.client()),
        expected,
        "data lost falling back"
    );
}

#[test]
fn damaged_newest_snapshot_refuses_start_when_the_log_was_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // 64 KiB segments: the second SAVE prunes the records the older snapshot would need.
    let flags = ["--log-segment-bytes", "65536"];
    let (_, snaps) = two_snapshots(&dir, &flags);
    let older_seq = seq_in_name(&snaps[0]);
    let log_start = seq_in_name(&segments(&dir)[0]);
    assert!(
        log_start > older_seq + 1,
        "the log still covers the older snapshot"
    );
    flip_middle_byte(&snaps[1]);
    let exited = run_expecting_exit(&dir, free_port(), &flags, REFUSE_TIMEOUT)
        .expect("started without the records its fallback snapshot needs");
    assert!(!exited.status.success());
    assert!(
        exited.stderr.contains(&file_name(&snaps[1])),
        "{}",
        exited.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration and locking

fn info_persistence(c: &mut Client) -> String {
    bulk(c, &["INFO", "persistence"]).expect("INFO text")
}

#[test]
fn appendfsync_everysec_is_reported_as_relaxed_and_works() {
    let tmp = tempfile::tempdir().unwrap();
    let strict = Cairn::start(&[]);
    let info = info_persistence(&mut strict.client());
    assert!(
        info.contains("appendfsync:always") && info.contains("durability:always"),
        "{info}"
    );

    let dir = tmp.path().join("data");
    let flags = ["--appendfsync", "everysec"];
    let mut node = Cairn::start_in(&dir, free_port(), &flags);
    let mut c = node.client();
    let info = info_persistence(&mut c);
    assert!(
        info.contains("appendfsync:everysec") && info.contains("durability:relaxed"),
        "{info}"
    );
    assert_eq!(
        c.must(&["CONFIG", "GET", "appendfsync"]),
        Resp::Array(vec![
            Resp::Bulk(b"appendfsync".to_vec()),
            Resp::Bulk(b"everysec".to_vec())
        ])
    );
    for i in 0..100 {
        ok(&mut c, &["SET", &format!("k:{i}"), &i.to_string()]);
    }
    assert_eq!(int(&mut c, &["INCR", "k:7"]), 8);
    assert_eq!(bulk(&mut c, &["GET", "k:99"]).as_deref(), Some("99"));
    // A process crash keeps what reached write(2); only an OS crash may lose the last second.
    node.kill9();
    let node = Cairn::start_in(&dir, free_port(), &flags);
    let mut c = node.client();
    assert_eq!(int(&mut c, &["DBSIZE"]), 100);
    assert_eq!(bulk(&mut c, &["GET", "k:7"]).as_deref(), Some("8"));
}

#[test]
fn a_second_server_on_the_same_directory_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut first = Cairn::start_in(&dir, free_port(), &[]);
    let mut c = first.client();
    ok(&mut c, &["SET", "owner", "first"]);

    let exited = run_expecting_exit(&dir, free_port(), &[], REFUSE_TIMEOUT)
        .expect("a second server started on a directory in use");
    assert!(!exited.status.success());
    assert!(
        exited.stderr.contains("locked") && exited.stderr.contains(&dir.display().to_string()),
        "the message should say the directory is locked: {}",
        exited.stderr
    );
    // The first server is unaffected.
    ok(&mut c, &["SET", "still", "here"]);
    assert_eq!(bulk(&mut c, &["GET", "owner"]).as_deref(), Some("first"));

    // The lock dies with its process, even under kill -9.
    first.kill9();
    let second = Cairn::start_in(&dir, free_port(), &[]);
    assert_eq!(
        bulk(&mut second.client(), &["GET", "still"]).as_deref(),
        Some("here")
    );
}

// ---------------------------------------------------------------------------------------------
// Snapshots racing each other

/// Pipelines `SET <prefix><i % distinct> <value>` for `i in 0..n`, in batches.
fn fill(c: &mut Client, prefix: &str, distinct: usize, n: usize, value: &[u8]) {
    let keys: Vec<usize> = (0..n).collect();
    for chunk in keys.chunks(100) {
        let cmds: Vec<Vec<Vec<u8>>> = chunk
            .iter()
            .map(|i| {
                vec![
                    b"SET".to_vec(),
                    format!("{prefix}{}", i % distinct).into_bytes(),
                    value.to_vec(),
                ]
            })
            .collect();
        let replies = c.pipeline(&cmds).unwrap();
        assert!(
            replies.iter().all(|r| *r == Resp::Simple("OK".into())),
            "{replies:?}"
        );
    }
}

/// SAVE on one connection while another runs DEBUG RELOAD: both are snapshots of durable
/// state and both must succeed. The shape that exposes the race: a large previous snapshot
/// (slow for SAVE's background rebuild to load) and a small current state spread over many
/// segments (quick for DEBUG RELOAD to snapshot, and then prune).
#[test]
fn save_concurrent_with_debug_reload_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let node = Cairn::start_in(&dir, free_port(), &["--log-segment-bytes", "65536"]);
    let (mut a, mut b) = (node.client(), node.client());
    let mut rng = fastrand::Rng::with_seed(11);
    // Incompressible, so the old snapshot really is large on disk.
    let big: Vec<u8> = (0..20_000).map(|_| rng.u8(..)).collect();
    for round in 0..3 {
        fill(&mut a, "big:", 1_500, 1_500, &big);
        ok(&mut a, &["SAVE"]);
        ok(&mut a, &["FLUSHALL"]);
        // About 30 records per 64 KiB segment: 3,000 records fill about 100 segments.
        fill(&mut a, "small:", 50, 3_000, &[b'x'; 2_000]);
        a.send_only(&[b"SAVE"]).unwrap();
        ok(&mut b, &["DEBUG", "RELOAD"]);
        let save = a.read().unwrap();
        assert_eq!(
            save,
            Resp::Simple("OK".into()),
            "round {round}: SAVE during DEBUG RELOAD"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Acknowledged ⇒ durable

#[test]
fn kill9_right_after_the_last_reply_keeps_the_last_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut written: Vec<(String, String)> = Vec::new();
    for round in 0..8 {
        let mut node = Cairn::start_in(&dir, free_port(), &[]);
        let mut c = node.client();
        let count = rng.usize(1..300);
        let batch: Vec<(String, String)> = (0..count)
            .map(|i| {
                (
                    format!("r{round}:{i}"),
                    format!("{round}-{i}-{}", rng.u32(..)),
                )
            })
            .collect();
        if round % 2 == 0 {
            for (k, v) in &batch {
                ok(&mut c, &["SET", k, v]);
            }
        } else {
            // Pipelined: every reply read, then killed at once.
            let cmds: Vec<Vec<Vec<u8>>> = batch
                .iter()
                .map(|(k, v)| {
                    vec![
                        b"SET".to_vec(),
                        k.clone().into_bytes(),
                        v.clone().into_bytes(),
                    ]
                })
                .collect();
            let replies = c.pipeline(&cmds).unwrap();
            assert!(replies.iter().all(|r| *r == Resp::Simple("OK".into())));
        }
        node.kill9();
        written.extend(batch);

        let node = Cairn::start_in(&dir, free_port(), &[]);
        let mut c = node.client();
        for (k, v) in &written {
            assert_eq!(
                bulk(&mut c, &["GET", k]).as_ref(),
                Some(v),
                "round {round}: {k} lost"
            );
        }
    }
}
