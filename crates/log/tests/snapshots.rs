//! Snapshots: format round trip, damage detection and fallback, pruning, recovery.

mod common;

use std::fs;
use std::path::Path;

use cairn_log::{Bytes, FileLogConfig, Log, LogError, LogHandle, Seq, latest_snapshot};
use common::{Outcomes, config, record, replay, segments, snapshots, start};

fn append_n(log: &LogHandle, out: &Outcomes, from: u64, n: u64) -> Vec<Bytes> {
    let records: Vec<Bytes> = (from..from + n).map(|i| record(i, 40)).collect();
    let outcomes = common::append_each(log, out, &records);
    assert!(outcomes.iter().all(common::Outcome::is_durable));
    records
}

fn big_state() -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(3);
    let mut state = Vec::new();
    // Compressible and incompressible stretches, crossing 1 MiB block boundaries.
    for i in 0..7 {
        if i % 2 == 0 {
            state.extend(std::iter::repeat_n(b"key:value;".iter().copied(), 60_000).flatten());
        } else {
            state.extend((0..500_000).map(|_| rng.u8(..)));
        }
    }
    state
}

fn one_segment(dir: &Path) -> FileLogConfig {
    let mut c = config(dir);
    c.segment_bytes_max = 1 << 20;
    c
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 0x01;
    fs::write(path, b).unwrap();
}

fn records_after(recovery: &cairn_log::Recovery) -> Vec<(Seq, Bytes)> {
    recovery.records().collect::<Result<_, _>>().unwrap()
}

#[test]
fn put_and_latest_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(one_segment(dir.path()));
    assert_eq!(latest_snapshot(dir.path()).unwrap(), None);
    append_n(&log, &out, 0, 10);
    for (seq, state) in [(3, Vec::new()), (5, b"small".to_vec()), (10, big_state())] {
        log.put_snapshot(seq, &state).unwrap();
        assert_eq!(latest_snapshot(dir.path()).unwrap(), Some((seq, state)));
    }
    log.shutdown();
    let (recovery, records) = replay(one_segment(dir.path())).unwrap();
    assert_eq!(recovery.snapshot, Some((10, big_state())));
    assert_eq!(recovery.snapshot_seq(), 10);
    assert_eq!(recovery.last_seq, 10);
    assert!(records.is_empty());
}

#[test]
fn snapshot_must_not_be_ahead_of_the_durable_log() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(one_segment(dir.path()));
    append_n(&log, &out, 0, 3);
    let err = log.put_snapshot(4, b"x").unwrap_err();
    assert!(
        matches!(err, LogError::SnapshotAhead { seq: 4, durable: 3 }),
        "{err}"
    );
    log.put_snapshot(3, b"x").unwrap();
}

#[test]
fn recovery_is_snapshot_plus_tail_and_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (log, out, _) = start(c.clone());
    let mut all = append_n(&log, &out, 0, 100);
    let before = segments(dir.path()).len();
    log.put_snapshot(60, b"state@60").unwrap();
    let remaining = segments(dir.path());
    assert!(remaining.len() < before);
    // The first remaining segment holds seq 61; no segment holding only <= 60 is left.
    let first_seqs: Vec<u64> = remaining
        .iter()
        .map(|p| {
            p.file_name().unwrap().to_str().unwrap()[4..24]
                .parse()
                .unwrap()
        })
        .collect();
    assert!(first_seqs[0] <= 61, "{first_seqs:?}");
    assert!(first_seqs.get(1).is_none_or(|s| *s > 61), "{first_seqs:?}");
    all.extend(append_n(&log, &out, 100, 20));
    log.shutdown();

    let (recovery, records) = replay(c.clone()).unwrap();
    assert_eq!(recovery.snapshot, Some((60, b"state@60".to_vec())));
    let (seqs, got): (Vec<Seq>, Vec<Bytes>) = records.into_iter().unzip();
    assert_eq!(seqs, (61..=120).collect::<Vec<_>>());
    assert_eq!(got, all[60..]);
}

#[test]
fn only_the_two_newest_snapshots_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out, _) = start(one_segment(dir.path()));
    append_n(&log, &out, 0, 30);
    for seq in [10, 20, 30] {
        log.put_snapshot(seq, format!("s{seq}").as_bytes()).unwrap();
    }
    let names: Vec<String> = snapshots(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "snap-00000000000000000020.snap",
            "snap-00000000000000000030.snap"
        ]
    );
}

#[test]
fn damaged_snapshot_falls_back_when_the_log_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = one_segment(dir.path());
    let (log, out, _) = start(c.clone());
    let mut all = append_n(&log, &out, 0, 10);
    log.put_snapshot(5, b"state@5").unwrap();
    all.extend(append_n(&log, &out, 10, 10));
    log.put_snapshot(15, &big_state()).unwrap();
    log.shutdown();
    let newest = snapshots(dir.path()).pop().unwrap();
    flip(&newest, 100_000); // inside a block

    match latest_snapshot(dir.path()) {
        Err(LogError::Corrupt { file, reason, .. }) => {
            assert_eq!(file, newest);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("damage undetected: {other:?}"),
    }
    let (recovery, records) = replay(c.clone()).unwrap();
    assert_eq!(recovery.snapshot, Some((5, b"state@5".to_vec())));
    assert_eq!(recovery.discarded_snapshots, vec![newest.clone()]);
    let got: Vec<Bytes> = records.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, all[5..]);
    assert!(!newest.exists(), "the damaged snapshot is set aside");
    let mut aside = newest.into_os_string();
    aside.push(".corrupt");
    assert!(Path::new(&aside).exists());
}

#[test]
fn damaged_only_snapshot_falls_back_to_replaying_the_whole_log() {
    let dir = tempfile::tempdir().unwrap();
    let c = one_segment(dir.path());
    let (log, out, _) = start(c.clone());
    let all = append_n(&log, &out, 0, 10);
    log.put_snapshot(7, b"state@7").unwrap();
    log.shutdown();
    // Damage the trailer: a truncated snapshot file.
    let snap = snapshots(dir.path()).pop().unwrap();
    let len = fs::metadata(&snap).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&snap)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (recovery, records) = replay(c).unwrap();
    assert_eq!(recovery.snapshot, None);
    assert_eq!(records.into_iter().map(|(_, r)| r).collect::<Vec<_>>(), all);
}

#[test]
fn damaged_snapshot_without_the_log_behind_it_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path());
    let (log, out, _) = start(c.clone());
    append_n(&log, &out, 0, 100);
    log.put_snapshot(40, b"state@40").unwrap();
    append_n(&log, &out, 100, 10);
    log.put_snapshot(100, b"state@100").unwrap();
    log.shutdown();
    let newest = snapshots(dir.path()).pop().unwrap();
    flip(&newest, 20); // header
    match replay(c) {
        Err(LogError::Corrupt {
            file,
            offset,
            reason,
        }) => {
            assert_eq!((file, offset), (newest, 0));
            assert!(reason.contains("cannot fall back"), "{reason}");
            assert!(reason.contains("seq 40"), "{reason}");
        }
        other => panic!("expected a corruption error, got {other:?}"),
    }
}

#[test]
fn snapshot_newer_than_the_surviving_log() {
    // Possible under EverySec: the snapshot is durable, the last records were not.
    let dir = tempfile::tempdir().unwrap();
    let c = one_segment(dir.path());
    let (log, out, _) = start(c.clone());
    append_n(&log, &out, 0, 10);
    log.put_snapshot(10, b"state@10").unwrap();
    log.shutdown();
    let seg = segments(dir.path()).pop().unwrap();
    let (cut, _) = common::frame_offsets(&fs::read(&seg).unwrap())[7];
    fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let (log, out, recovery) = start(c.clone());
    assert_eq!(recovery.last_seq, 10);
    assert!(records_after(&recovery).is_empty());
    log.append(vec![record(11, 40)]);
    assert_eq!(
        out.wait_for(1)[0],
        common::Outcome::Durable(11, vec![record(11, 40)])
    );
    log.shutdown();
    let (recovery, records) = replay(c).unwrap();
    assert_eq!(recovery.snapshot, Some((10, b"state@10".to_vec())));
    assert_eq!(records, vec![(11, record(11, 40))]);
}
