//! Injected write / fsync / truncate failures: the MISCONF state machine.

mod common;

use std::time::{Duration, Instant};

use cairn_log::{Bytes, FaultKind, Faults, FileLogConfig, FsyncPolicy, Log, LogHandle};
use common::{Outcome, Outcomes, config, record, replay, segments, start};

fn faulty(
    dir: &std::path::Path,
    segment_bytes_max: u64,
) -> (FileLogConfig, std::sync::Arc<Faults>) {
    let faults = Faults::new();
    let mut c = config(dir);
    c.segment_bytes_max = segment_bytes_max;
    c.faults = Some(faults.clone());
    (c, faults)
}

/// Polls until `cond` holds (a hang guard, not a timing assertion).
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Appends single records until one is durable; returns the durable ones, in order.
fn append_until_durable(log: &LogHandle, out: &Outcomes, next: &mut u64) -> Vec<Bytes> {
    loop {
        let r = record(*next, 30);
        *next += 1;
        let n = out.all().len();
        log.append(vec![r.clone()]);
        match &out.wait_for(n + 1)[n] {
            Outcome::Durable(_, got) => {
                assert_eq!(got, &vec![r]);
                return got.clone();
            }
            Outcome::Failed(got, text) => {
                assert_eq!(got, &vec![r]);
                assert!(text.starts_with("MISCONF"), "{text}");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn durable_records(outcomes: &[Outcome]) -> Vec<Bytes> {
    outcomes
        .iter()
        .flat_map(|o| match o {
            Outcome::Durable(_, r) => r.clone(),
            Outcome::Failed(..) => Vec::new(),
        })
        .collect()
}

fn replayed(c: FileLogConfig) -> Vec<Bytes> {
    let (_, records) = replay(c).unwrap();
    for (i, (seq, _)) in records.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1, "seqs stay contiguous across failures");
    }
    records.into_iter().map(|(_, r)| r).collect()
}

#[test]
fn fsync_failure_fails_the_batch_and_the_log_until_restored() {
    let dir = tempfile::tempdir().unwrap();
    let (c, faults) = faulty(dir.path(), 1 << 20);
    let (log, out, _) = start(c.clone());
    let a = vec![record(1, 30), record(2, 30)];
    log.append(a.clone());
    assert!(out.wait_for(1)[0].is_durable());

    // The fsync fails, and so does every truncate: the log stays failed.
    faults.fail_truncates(u32::MAX, FaultKind::Io);
    faults.fail_fsyncs(1, FaultKind::Io);
    log.append(vec![record(3, 30)]);
    wait_until("failed state", || log.stats().failed);
    let stats = log.stats();
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap()
            .contains("Input/output error"),
        "{stats:?}"
    );
    assert_eq!(stats.durable_seq, 2);
    log.append(vec![record(4, 30)]);
    log.append(vec![record(5, 30)]);
    // Callers learn at once: record 3 failed, and 4 and 5 are refused while the log is failed.
    let outcomes = out.wait_for(4);
    faults.clear();
    for (o, i) in outcomes[1..].iter().zip(3..) {
        let Outcome::Failed(r, text) = o else {
            panic!("{o:?}")
        };
        assert_eq!(r, &vec![record(i, 30)]);
        assert!(
            text.starts_with("MISCONF Errors writing to the log"),
            "{text}"
        );
    }
    wait_until("writable again", || !log.stats().failed);
    let mut next = 100;
    let b = append_until_durable(&log, &out, &mut next);
    assert!(
        log.stats().last_error.is_some(),
        "the last error stays visible"
    );
    log.shutdown();
    let mut expected = a;
    expected.extend(b);
    assert_eq!(replayed(c), expected);
}

#[test]
fn failed_records_are_never_replayed() {
    for kind in [FaultKind::Io, FaultKind::NoSpace] {
        for fail_writes in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (c, faults) = faulty(dir.path(), 1 << 20);
            let (log, out, _) = start(c.clone());
            let mut next = 0;
            for round in 0..3 {
                append_until_durable(&log, &out, &mut next);
                if fail_writes {
                    // Fails after a short write of half the batch.
                    faults.fail_writes(1, kind);
                } else {
                    faults.fail_fsyncs(1, kind);
                }
                let n = out.all().len();
                log.append(vec![record(1000 + round, 300), record(2000 + round, 10)]);
                let o = &out.wait_for(n + 1)[n];
                assert!(matches!(o, Outcome::Failed(r, _) if r.len() == 2), "{o:?}");
            }
            append_until_durable(&log, &out, &mut next);
            log.shutdown();
            assert!(faults.injected_count() >= 3);
            assert_eq!(
                replayed(c),
                durable_records(&out.all()),
                "{kind:?} writes={fail_writes}"
            );
        }
    }
}

#[test]
fn failure_while_rotating_leaves_no_stray_segment() {
    let dir = tempfile::tempdir().unwrap();
    // Four 52-byte records fill a segment: 32 + 4 * (8 + 52) = 272.
    let (c, faults) = faulty(dir.path(), 272);
    let (log, out, _) = start(c.clone());
    for i in 0..4 {
        log.append(vec![record(i, 52)]);
    }
    assert!(out.wait_for(4).iter().all(Outcome::is_durable));
    assert_eq!(segments(dir.path()).len(), 1);
    // The fifth record needs a new segment; the fsync of its header fails.
    faults.fail_fsyncs(1, FaultKind::Io);
    log.append(vec![record(4, 52)]);
    assert!(matches!(&out.wait_for(5)[4], Outcome::Failed(..)));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    assert_eq!(segments(dir.path()).len(), 1, "{names:?}");
    let mut next = 10;
    append_until_durable(&log, &out, &mut next);
    for _ in 0..6 {
        append_until_durable(&log, &out, &mut next);
    }
    log.shutdown();
    assert!(segments(dir.path()).len() >= 2);
    assert_eq!(replayed(c), durable_records(&out.all()));
}

#[test]
fn everysec_background_fsync_failure_keeps_reported_records() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, faults) = faulty(dir.path(), 1 << 20);
    c.fsync = FsyncPolicy::EverySec;
    let (log, out, _) = start(c.clone());
    let mut a = vec![record(0, 30)];
    log.append(a.clone()); // creates the segment (its header is synced at creation)
    assert!(out.wait_for(1)[0].is_durable());
    // Reported durable right after write(2); the background fsync then fails, and the
    // truncation too, so the state is observable.
    faults.fail_truncates(u32::MAX, FaultKind::Io);
    faults.fail_fsyncs(1, FaultKind::Io);
    a.extend([record(1, 30), record(2, 30)]);
    log.append(a[1..].to_vec());
    assert!(out.wait_for(2)[1].is_durable());
    wait_until("background fsync failure", || log.stats().failed);
    log.append(vec![record(3, 30)]);
    faults.clear();
    // Restoring truncates to the last synced offset and rewrites the reported records.
    let o = &out.wait_for(3)[2];
    assert!(
        matches!(o, Outcome::Failed(r, t) if r == &vec![record(3, 30)] && t.starts_with("MISCONF"))
    );
    wait_until("writable again", || !log.stats().failed);
    assert_eq!(log.stats().synced_seq, 3);
    let mut next = 10;
    let b = append_until_durable(&log, &out, &mut next);
    log.shutdown();
    let mut expected = a;
    expected.extend(b);
    assert_eq!(replayed(c), expected);
}

#[test]
fn failure_is_reported_at_once_even_when_the_tail_cannot_be_restored() {
    let dir = tempfile::tempdir().unwrap();
    let (c, faults) = faulty(dir.path(), 1 << 20);
    let (log, out, _) = start(c.clone());
    log.append(vec![record(1, 30)]);
    out.wait_for(1);
    faults.fail_truncates(u32::MAX, FaultKind::Io);
    faults.fail_fsyncs(1, FaultKind::Io);
    log.append(vec![record(2, 30)]);
    let o = &out.wait_for(2)[1];
    let Outcome::Failed(r, text) = o else {
        panic!("{o:?}")
    };
    assert_eq!(r, &vec![record(2, 30)]);
    assert!(text.starts_with("MISCONF"), "{text}");
    // Stats are published after the outcomes are delivered.
    wait_until("failed state", || log.stats().failed);
    log.shutdown();
    // The failed record was never acknowledged: like any unacknowledged write it may or may
    // not be found after a restart whose tail could not be restored, but record 1 is there.
    faults.clear();
    let replay = replayed(c);
    assert!(
        replay == vec![record(1, 30)] || replay == vec![record(1, 30), record(2, 30)],
        "{replay:?}"
    );
}
