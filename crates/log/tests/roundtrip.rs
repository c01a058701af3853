//! Append / recover round trips, group commit, locking, limits and readers.

mod common;

use std::sync::Arc;
use std::thread;

use cairn_log::{Bytes, FileLog, FsyncPolicy, Log, LogError, Seq, read_range};
use common::{Outcome, config, record, replay, segments, start};

/// Appends `n` records starting at record index `from`, in calls of 1..=4 records, and
/// checks every call is reported durable with contiguous seqs.
fn append_checked(log: &impl Log, out: &common::Outcomes, from: u64, n: u64) -> Vec<Bytes> {
    let mut rng = fastrand::Rng::with_seed(from);
    let before = out.all().len();
    let mut all = Vec::new();
    let mut calls = 0;
    let mut i = from;
    while i < from + n {
        let k = rng.u64(1..=4).min(from + n - i);
        let call: Vec<Bytes> = (i..i + k).map(|j| record(j, rng.usize(0..120))).collect();
        all.extend(call.iter().cloned());
        log.append(call);
        calls += 1;
        i += k;
    }
    let outcomes = out.wait_for(before + calls);
    let mut next = from + 1;
    let mut got = Vec::new();
    for o in &outcomes[before..] {
        let Outcome::Durable(first, records) = o else {
            panic!("append failed: {o:?}")
        };
        assert_eq!(*first, next, "seqs must be contiguous");
        next += records.len() as u64;
        got.extend(records.iter().cloned());
    }
    assert_eq!(got, all, "outcomes must come back in append order");
    all
}

fn seqs_and_records(records: &[(Seq, Bytes)]) -> (Vec<Seq>, Vec<Bytes>) {
    records.iter().cloned().unzip()
}

#[test]
fn round_trip_across_rotations_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, recovery) = start(config(dir.path()));
    assert_eq!(recovery.last_seq, 0);
    let mut expected = append_checked(&log, &out, 0, 200);
    log.shutdown();
    drop(log);
    assert!(
        segments(dir.path()).len() > 5,
        "the test must rotate segments"
    );

    let (recovery, records) = replay(config(dir.path())).unwrap();
    assert_eq!(recovery.last_seq, 200);
    assert_eq!(recovery.truncated_tail, None);
    let (seqs, got) = seqs_and_records(&records);
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_eq!(got, expected);

    // Reopen after a clean shutdown and keep appending.
    let (log, out, recovery) = start(config(dir.path()));
    assert_eq!(recovery.last_seq, 200);
    expected.extend(append_checked(&log, &out, 200, 150));
    assert_eq!(log.stats().durable_seq, 350);
    drop(log); // dropping the last handle shuts down
    let (_, records) = replay(config(dir.path())).unwrap();
    let (seqs, got) = seqs_and_records(&records);
    assert_eq!(seqs, (1..=350).collect::<Vec<_>>());
    assert_eq!(got, expected);
}

#[test]
fn everysec_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.fsync = FsyncPolicy::EverySec;
    let (log, out, _) = start(c.clone());
    let expected = append_checked(&log, &out, 0, 120);
    log.shutdown();
    let stats = log.stats();
    assert_eq!(stats.synced_seq, 120, "shutdown syncs everything");
    let (_, records) = replay(c).unwrap();
    assert_eq!(seqs_and_records(&records).1, expected);
}

#[test]
fn group_commit_shares_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let faults = cairn_log::Faults::new();
    let mut c = config(dir.path());
    c.segment_bytes_max = 64 * 1024 * 1024;
    c.faults = Some(faults.clone());
    let (log, out, _) = start(c.clone());
    common::append_each(&log, &out, &[record(0, 10)]);
    let fsyncs_before = log.stats().fsync_count;

    // While the writer waits in an fsync, everything appended must join the next one.
    faults.hold_fsyncs();
    let log = Arc::new(log);
    log.append(vec![record(1, 10)]);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for i in 0..250u64 {
                    log.append(vec![record(1000 * t + i, 16)]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    faults.release_fsyncs();
    let outcomes = out.wait_for(1 + 1 + 1000);
    assert!(outcomes.iter().all(Outcome::is_durable));
    let appends = 1001;
    let fsyncs = log.stats().fsync_count - fsyncs_before;
    assert!(
        fsyncs <= 2,
        "{fsyncs} fsyncs for {appends} appends: no group commit"
    );
    assert!(fsyncs < appends);
    log.shutdown();
    assert_eq!(replay(c).unwrap().1.len(), 1002);
}

#[test]
fn concurrent_appends_keep_each_threads_order() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(config(dir.path()));
    let log = Arc::new(log);
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for i in 0..200u32 {
                    let mut r = vec![t];
                    r.extend_from_slice(&i.to_le_bytes());
                    log.append(vec![Bytes::from(r)]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let outcomes = out.wait_for(800);
    log.shutdown();
    let mut next_per_thread = [0u32; 4];
    for (i, o) in outcomes.iter().enumerate() {
        let Outcome::Durable(seq, r) = o else {
            panic!("{o:?}")
        };
        assert_eq!(*seq, i as u64 + 1);
        let t = r[0][0] as usize;
        let n = u32::from_le_bytes(r[0][1..5].try_into().unwrap());
        assert_eq!(n, next_per_thread[t]);
        next_per_thread[t] += 1;
    }
    let (_, records) = replay(config(dir.path())).unwrap();
    let replayed: Vec<Bytes> = records.into_iter().map(|(_, r)| r).collect();
    let reported: Vec<Bytes> = outcomes
        .into_iter()
        .flat_map(|o| match o {
            Outcome::Durable(_, r) => r,
            Outcome::Failed(..) => unreachable!(),
        })
        .collect();
    assert_eq!(replayed, reported);
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = FileLog::open(config(dir.path())).unwrap();
    let err = FileLog::open(config(dir.path())).unwrap_err();
    assert!(
        matches!(&err, LogError::Locked { dir: d } if d == dir.path()),
        "{err}"
    );
    assert!(err.to_string().contains("locked"), "{err}");
    // Also while running, and released by shutdown.
    let (sink, _) = common::sink();
    let log = first.start(sink).unwrap();
    assert!(matches!(
        FileLog::open(config(dir.path())),
        Err(LogError::Locked { .. })
    ));
    log.shutdown();
    FileLog::open(config(dir.path())).unwrap();
}

#[test]
fn oversized_records_are_rejected_without_failing_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.record_bytes_max = 100;
    let (log, out, _) = start(c.clone());
    log.append(vec![record(1, 10)]);
    log.append(vec![record(2, 10), record(3, 101)]);
    log.append(vec![record(4, 100)]);
    let outcomes = out.wait_for(3);
    assert_eq!(outcomes[0], Outcome::Durable(1, vec![record(1, 10)]));
    let Outcome::Failed(records, text) = &outcomes[1] else {
        panic!("{:?}", outcomes[1])
    };
    assert_eq!(records.len(), 2);
    assert!(
        text.starts_with("ERR") && text.contains("record_bytes_max"),
        "{text}"
    );
    assert_eq!(outcomes[2], Outcome::Durable(2, vec![record(4, 100)]));
    assert!(!log.stats().failed);
    log.shutdown();
    let (_, records) = replay(c).unwrap();
    assert_eq!(records, vec![(1, record(1, 10)), (2, record(4, 100))]);
}

#[test]
fn empty_calls_and_appends_after_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(config(dir.path()));
    log.append(vec![]);
    log.append(vec![record(1, 5)]);
    let outcomes = out.wait_for(2);
    assert_eq!(outcomes[0], Outcome::Durable(1, vec![]));
    assert_eq!(outcomes[1], Outcome::Durable(1, vec![record(1, 5)]));
    log.shutdown();
    log.append(vec![record(2, 5)]);
    let outcomes = out.wait_for(3);
    assert!(matches!(&outcomes[2], Outcome::Failed(r, t) if r.len() == 1 && t.contains("closed")));
    assert!(matches!(log.put_snapshot(1, b"x"), Err(LogError::Closed)));
}

#[test]
fn read_range_reads_durable_records_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(config(dir.path()));
    let written = append_checked(&log, &out, 0, 60);
    let outcomes_before = out.all().len();
    // Keep appending while reading.
    for i in 0..40 {
        log.append(vec![record(100 + i, 50)]);
    }
    let got: Vec<(Seq, Bytes)> = read_range(dir.path(), 10, 60)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(got[0].0, 11);
    assert_eq!(got.last().unwrap().0, 60);
    let records: Vec<Bytes> = got.into_iter().map(|(_, r)| r).collect();
    assert_eq!(records, written[10..60]);
    assert_eq!(read_range(dir.path(), 5, 5).unwrap().count(), 0);
    out.wait_for(outcomes_before + 40);
    let beyond: Vec<_> = read_range(dir.path(), 90, 200).unwrap().collect();
    assert!(
        matches!(
            beyond.last(),
            Some(Err(LogError::Missing { from: 101, .. }))
        ),
        "{beyond:?}"
    );
    log.shutdown();
}

/// With a commit window, a commit that served several callers makes the writer wait for more
/// before the next fsync: every record still becomes durable, in order, and the waiting joins
/// later appends into fewer fsyncs than without the window.
#[test]
fn commit_window_joins_later_appends() {
    let dir = tempfile::tempdir().unwrap();
    let faults = cairn_log::Faults::new();
    let mut c = config(dir.path());
    c.commit_window = std::time::Duration::from_millis(200);
    c.faults = Some(faults.clone());
    let (log, out, _) = start(c.clone());
    // While an fsync is held, calls 1 and 2 queue up: the commit after it serves both, which
    // arms the window for the commit after that.
    faults.hold_fsyncs();
    for i in 0..3u64 {
        log.append(vec![record(i, 10)]);
    }
    faults.release_fsyncs();
    out.wait_for(3);
    let fsyncs_before = log.stats().fsync_count;
    // Appends spread over less than the window share fsyncs.
    for i in 3..12u64 {
        log.append(vec![record(i, 10)]);
        thread::sleep(std::time::Duration::from_millis(5));
    }
    let outcomes = out.wait_for(12);
    assert!(outcomes.iter().all(Outcome::is_durable));
    assert!(
        log.stats().fsync_count - fsyncs_before < 9,
        "{:?}",
        log.stats()
    );
    log.shutdown();
    let expected: Vec<Bytes> = (0..12u64).map(|i| record(i, 10)).collect();
    let (_, replayed) = common::replay(c).unwrap();
    assert_eq!(seqs_and_records(&replayed).1, expected);
}
