//! Property: whatever a crash leaves after the last acknowledged record, recovery returns
//! exactly the whole records before the cut — a prefix of what was appended that contains
//! every record reported durable.
//!
//! Crash model (see docs/log-format.md): bytes up to the end of the last acknowledged record
//! are on disk; after it, any prefix of the later writes may be, followed by zeros or garbage.
//! A segment is complete before the next one is created, so the cut falls in one segment and
//! later segments do not exist.

mod common;

use std::fs;

use cairn_log::{Bytes, Log};
use common::{Outcome, config, frame_offsets, replay, segments, start};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Noise {
    None,
    Zeros(usize),
    Garbage(Vec<u8>),
}

fn noise() -> impl Strategy<Value = Noise> {
    prop_oneof![
        Just(Noise::None),
        (1usize..600).prop_map(Noise::Zeros),
        proptest::collection::vec(any::<u8>(), 1..600).prop_map(Noise::Garbage),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    /// Record sizes, grouped into append calls.
    calls: Vec<Vec<usize>>,
    segment_bytes_max: u64,
    /// Fraction (per mille) of the records acknowledged before the crash.
    acked_permille: u32,
    /// Fraction (per mille) of the remaining bytes that reached the disk.
    cut_permille: u32,
    noise: Noise,
}

fn case() -> impl Strategy<Value = Case> {
    (
        proptest::collection::vec(proptest::collection::vec(0usize..300, 1..4), 1..25),
        prop_oneof![Just(200u64), Just(700), Just(1 << 20)],
        0u32..=1000,
        0u32..=1000,
        noise(),
    )
        .prop_map(
            |(calls, segment_bytes_max, acked_permille, cut_permille, noise)| Case {
                calls,
                segment_bytes_max,
                acked_permille,
                cut_permille,
                noise,
            },
        )
}

/// A point in the byte stream: segment index and offset in it.
type Point = (usize, u64);

fn run(case: &Case) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.segment_bytes_max = case.segment_bytes_max;
    let (log, out, _) = start(c);
    let mut i = 0u64;
    for sizes in &case.calls {
        let call: Vec<Bytes> = sizes
            .iter()
            .map(|&len| {
                i += 1;
                common::record(i, len)
            })
            .collect();
        log.append(call);
    }
    let outcomes = out.wait_for(case.calls.len());
    log.shutdown();
    let reported: Vec<Bytes> = outcomes
        .into_iter()
        .flat_map(|o| match o {
            Outcome::Durable(_, r) => r,
            Outcome::Failed(r, e) => panic!("append of {} records failed: {e}", r.len()),
        })
        .collect();

    // Where every record ends, and every point a crash could cut at.
    let segs = segments(dir.path());
    let files: Vec<Vec<u8>> = segs.iter().map(|p| fs::read(p).unwrap()).collect();
    let mut ends: Vec<Point> = Vec::new();
    let mut points: Vec<Point> = Vec::new();
    for (j, bytes) in files.iter().enumerate() {
        ends.extend(frame_offsets(bytes).into_iter().map(|(_, end)| (j, end)));
        points.extend((32..=bytes.len() as u64).map(|o| (j, o)));
    }
    prop_assert_eq!(ends.len(), reported.len());
    let acked = reported.len() * case.acked_permille as usize / 1000;
    let first_point = if acked == 0 { (0, 32) } else { ends[acked - 1] };
    let from = points.iter().position(|p| *p == first_point).unwrap();
    let cut = points[from + (points.len() - 1 - from) * case.cut_permille as usize / 1000];
    let whole = ends.iter().take_while(|e| **e <= cut).count();

    // Build the crash image in a fresh directory.
    let image = tempfile::tempdir().unwrap();
    for (j, bytes) in files.iter().enumerate().take(cut.0 + 1) {
        let mut bytes = bytes.clone();
        if j == cut.0 {
            bytes.truncate(cut.1 as usize);
            match &case.noise {
                Noise::None => {}
                Noise::Zeros(n) => bytes.extend(std::iter::repeat_n(0u8, *n)),
                Noise::Garbage(g) => bytes.extend_from_slice(g),
            }
        }
        fs::write(image.path().join(segs[j].file_name().unwrap()), bytes).unwrap();
    }

    let (_, records) =
        replay(config(image.path())).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (seqs, got): (Vec<u64>, Vec<Bytes>) = records.into_iter().unzip();
    prop_assert!(got.len() >= acked, "lost acknowledged records");
    prop_assert_eq!(&got[..], &reported[..whole]);
    prop_assert_eq!(seqs, (1..=whole as u64).collect::<Vec<_>>());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn crash_recovers_a_prefix_holding_every_acknowledged_record(case in case()) {
        run(&case)?;
    }
}
