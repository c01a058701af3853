//! Crash images: write a log, then rewrite its files as a crash (or the disk) would leave them,
//! and check what recovery makes of them.

mod common;

use std::fs;
use std::path::Path;

use cairn_log::{Bytes, FileLogConfig, Log, LogError};
use common::{config, frame_offsets, record, replay, segments, start};

/// Writes `n` records of `len` bytes, one append call each, and shuts down cleanly.
fn write_log(dir: &Path, c: &FileLogConfig, n: u64, len: usize) -> Vec<Bytes> {
    let (log, out, _) = start(c.clone());
    let records: Vec<Bytes> = (0..n).map(|i| record(i, len)).collect();
    let outcomes = common::append_each(&log, &out, &records);
    assert!(outcomes.iter().all(common::Outcome::is_durable));
    log.shutdown();
    assert!(!segments(dir).is_empty());
    records
}

fn one_segment(dir: &Path) -> FileLogConfig {
    let mut c = config(dir);
    c.segment_bytes_max = 1 << 20;
    c
}

/// Copies the log in `src` to a fresh directory, passing each segment's bytes through `edit`.
fn crash_image(src: &Path, edit: impl Fn(&Path, &mut Vec<u8>)) -> tempfile::TempDir {
    let dst = tempfile::tempdir().unwrap();
    for seg in segments(src) {
        let mut bytes = fs::read(&seg).unwrap();
        edit(&seg, &mut bytes);
        fs::write(dst.path().join(seg.file_name().unwrap()), bytes).unwrap();
    }
    dst
}

fn same_name(a: &Path, b: &Path) -> bool {
    a.file_name() == b.file_name()
}

fn replayed(dir: &Path) -> Vec<Bytes> {
    let (_, records) = replay(one_segment(dir)).unwrap();
    for (i, (seq, _)) in records.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
    }
    records.into_iter().map(|(_, r)| r).collect()
}

fn expect_corrupt(dir: &Path, c: FileLogConfig, file: &Path, offset: u64) -> String {
    match replay(c) {
        Err(LogError::Corrupt {
            file: f,
            offset: o,
            reason,
        }) => {
            assert!(same_name(&f, file), "corrupt file {f:?}, expected {file:?}");
            assert_eq!(f.parent(), Some(dir));
            assert_eq!(o, offset, "{reason}");
            reason
        }
        other => panic!("expected corruption in {file:?} at {offset}, got {other:?}"),
    }
}

#[test]
fn torn_final_record_at_every_offset() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 40);
    let seg = segments(src.path()).remove(0);
    let frames = frame_offsets(&fs::read(&seg).unwrap());
    let (start, end) = frames[4];
    for cut in start..end {
        let image = crash_image(src.path(), |_, b| b.truncate(cut as usize));
        let (recovery, got) = replay(one_segment(image.path())).unwrap();
        let got: Vec<Bytes> = got.into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, records[..4], "cut at {cut}");
        assert_eq!(recovery.last_seq, 4);
        match recovery.truncated_tail {
            None => assert_eq!(cut, start),
            Some(t) => {
                assert_eq!(
                    (t.offset, t.bytes_removed),
                    (start, cut - start),
                    "cut at {cut}"
                );
                assert!(same_name(&t.file, &seg));
            }
        }
        let seg_len = fs::metadata(image.path().join(seg.file_name().unwrap()))
            .unwrap()
            .len();
        assert_eq!(seg_len, start, "the torn tail must be truncated on disk");
    }
}

#[test]
fn zeroed_tail_is_truncated() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 40);
    for zeros in [1usize, 7, 8, 9, 100, 4096] {
        let image = crash_image(src.path(), |_, b| b.extend(std::iter::repeat_n(0u8, zeros)));
        assert_eq!(replayed(image.path()), records, "{zeros} zero bytes");
    }
}

#[test]
fn partial_record_followed_by_zeros_is_truncated() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 100);
    let seg = segments(src.path()).remove(0);
    let (start, end) = frame_offsets(&fs::read(&seg).unwrap())[3];
    // The head and some payload of record 4 reached the disk; the rest of the file is zeros.
    let image = crash_image(src.path(), |_, b| {
        let keep = (start + 30) as usize;
        b[keep..].fill(0);
    });
    assert_eq!(replayed(image.path()), records[..3]);
    assert!(end > start + 30);
}

#[test]
fn garbage_tail_is_truncated() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 40);
    let mut rng = fastrand::Rng::with_seed(42);
    for len in [1usize, 8, 13, 64, 1000, 70_000] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let image = crash_image(src.path(), |_, b| b.extend_from_slice(&garbage));
        assert_eq!(replayed(image.path()), records, "{len} garbage bytes");
    }
    // A frame head claiming a gigantic record is a torn head, never an allocation.
    let image = crash_image(src.path(), |_, b| {
        b.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        b.extend_from_slice(&[0xAB; 20]);
    });
    assert_eq!(replayed(image.path()), records);
}

#[test]
fn damaged_final_record_counts_as_torn() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 40);
    let seg = segments(src.path()).remove(0);
    let (start, _) = frame_offsets(&fs::read(&seg).unwrap())[4];
    let image = crash_image(src.path(), |_, b| b[start as usize + 20] ^= 0x01);
    assert_eq!(replayed(image.path()), records[..4]);
}

#[test]
fn flipped_byte_before_valid_records_is_corruption() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &one_segment(src.path()), 10, 40);
    let seg = segments(src.path()).remove(0);
    let (start, end) = frame_offsets(&fs::read(&seg).unwrap())[3];
    // Every byte of the frame: length, CRC and payload.
    for at in start..end {
        let image = crash_image(src.path(), |_, b| b[at as usize] ^= 0x20);
        let reason = expect_corrupt(image.path(), one_segment(image.path()), &seg, start);
        assert!(reason.contains("not a torn tail"), "{reason}");
    }
    // The same damage followed by a zeroed tail (a crash after the damage) is still caught.
    let image = crash_image(src.path(), |_, b| {
        b[start as usize + 12] ^= 0x20;
        b.extend_from_slice(&[0u8; 300]);
    });
    expect_corrupt(image.path(), one_segment(image.path()), &seg, start);
}

#[test]
fn flipped_byte_in_a_non_last_segment_is_corruption() {
    let src = tempfile::tempdir().unwrap();
    let c = config(src.path());
    write_log(src.path(), &c, 40, 60);
    let segs = segments(src.path());
    assert!(segs.len() >= 3);
    let frames = frame_offsets(&fs::read(&segs[1]).unwrap());
    // Last record of the segment (nothing follows it in this file) and the first one.
    for (start, _) in [*frames.last().unwrap(), frames[0]] {
        let image = crash_image(src.path(), |p, b| {
            if same_name(p, &segs[1]) {
                b[start as usize + 10] ^= 0x01;
            }
        });
        let err = replay(config(image.path())).unwrap_err();
        let msg = err.to_string();
        expect_corrupt(image.path(), config(image.path()), &segs[1], start);
        assert!(
            msg.contains(segs[1].file_name().unwrap().to_str().unwrap()),
            "{msg}"
        );
        assert!(msg.contains(&format!("offset {start}")), "{msg}");
    }
    // A torn-looking end of a non-last segment is corruption too.
    let image = crash_image(src.path(), |p, b| {
        if same_name(p, &segs[0]) {
            b.truncate(b.len() - 3);
        }
    });
    let first_frames = frame_offsets(&fs::read(&segs[0]).unwrap());
    let last_start = first_frames.last().unwrap().0;
    expect_corrupt(image.path(), config(image.path()), &segs[0], last_start);
}

#[test]
fn bad_segment_header_is_corruption() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &config(src.path()), 40, 60);
    let segs = segments(src.path());
    for target in [&segs[0], segs.last().unwrap()] {
        for at in [0usize, 9, 17, 30] {
            let image = crash_image(src.path(), |p, b| {
                if same_name(p, target) {
                    b[at] ^= 0x04;
                }
            });
            expect_corrupt(image.path(), config(image.path()), target, 0);
        }
        let image = crash_image(src.path(), |p, b| {
            if same_name(p, target) {
                b.truncate(20);
            }
        });
        expect_corrupt(image.path(), config(image.path()), target, 0);
    }
}

#[test]
fn missing_segment_is_corruption() {
    let src = tempfile::tempdir().unwrap();
    write_log(src.path(), &config(src.path()), 40, 60);
    let segs = segments(src.path());
    let image = crash_image(src.path(), |_, _| {});
    fs::remove_file(image.path().join(segs[1].file_name().unwrap())).unwrap();
    let reason = expect_corrupt(image.path(), config(image.path()), &segs[2], 0);
    assert!(reason.contains("missing"), "{reason}");
    // Without the first segment, records 1.. are missing too.
    let image = crash_image(src.path(), |_, _| {});
    fs::remove_file(image.path().join(segs[0].file_name().unwrap())).unwrap();
    expect_corrupt(image.path(), config(image.path()), &segs[1], 0);
}

#[test]
fn unfinished_temporary_files_are_removed() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 3, 10);
    let image = crash_image(src.path(), |_, _| {});
    let tmp_seg = image.path().join("log-00000000000000000004.seg.tmp");
    let tmp_snap = image.path().join("snap-00000000000000000003.snap.tmp");
    fs::write(&tmp_seg, b"CAIRN").unwrap();
    fs::write(&tmp_snap, b"half a snapshot").unwrap();
    assert_eq!(replayed(image.path()), records);
    assert!(!tmp_seg.exists() && !tmp_snap.exists());
}

#[test]
fn appends_continue_after_a_truncated_tail() {
    let src = tempfile::tempdir().unwrap();
    let records = write_log(src.path(), &one_segment(src.path()), 5, 40);
    let image = crash_image(src.path(), |_, b| b.truncate(b.len() - 7));
    let (log, out, recovery) = start(one_segment(image.path()));
    assert_eq!(recovery.last_seq, 4);
    log.append(vec![record(99, 40)]);
    assert_eq!(
        out.wait_for(1)[0],
        common::Outcome::Durable(5, vec![record(99, 40)])
    );
    log.shutdown();
    let mut expected = records[..4].to_vec();
    expected.push(record(99, 40));
    assert_eq!(replayed(image.path()), expected);
}

/// A crash while the writer runs leaves the active segment's preallocated zeros after the
/// last record: recovery keeps every durable record, trims the zeros, and appends go on.
#[test]
fn crash_with_preallocated_space_keeps_every_durable_record() {
    let src = tempfile::tempdir().unwrap();
    let (log, out, _) = start(one_segment(src.path()));
    let records: Vec<Bytes> = (0..30).map(|i| record(i, 60)).collect();
    let outcomes = common::append_each(&log, &out, &records);
    assert!(outcomes.iter().all(|o| o.is_durable()));
    // The image is taken while the log is still open: no clean shutdown trimmed the file.
    let image = crash_image(src.path(), |_, b| {
        assert!(
            b.ends_with(&[0u8; 64]),
            "the active segment is preallocated"
        );
    });
    log.shutdown();
    let (log, out, recovery) = start(one_segment(image.path()));
    assert_eq!(recovery.last_seq, 30);
    log.append(vec![record(99, 60)]);
    assert_eq!(
        out.wait_for(1)[0],
        common::Outcome::Durable(31, vec![record(99, 60)])
    );
    log.shutdown();
    let mut expected = records.clone();
    expected.push(record(99, 60));
    assert_eq!(replayed(image.path()), expected);
}
