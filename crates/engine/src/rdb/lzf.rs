//! LZF, the compression RDB uses for long strings and quicklist nodes.
//!
//! The compressed stream is a sequence of chunks, each led by a control byte:
//! ```text
//! 000LLLLL  <L+1 literal bytes>               L+1 = 1..32 literals
//! LLLooooo  oooooooo                          a copy of L+2 = 3..8 bytes
//! 111ooooo  LLLLLLLL  oooooooo                a copy of L+9 = 9..264 bytes
//! ```
//! A copy repeats bytes already produced, starting `o+1` (1..8192) bytes back; it may overlap
//! the bytes it produces (a run). The uncompressed length is stored beside the stream, not in
//! it, and must match exactly.
//!
//! The compressor is a greedy single-pass matcher over a table of the last position each
//! 3-byte sequence was seen at; any stream in this format decompresses the same, so its
//! choices need not be Redis's.

/// Literal bytes one control byte can announce.
const LITERALS_MAX: usize = 32;
/// How far back a copy can reach (13 bits of offset, plus one).
const DISTANCE_MAX: usize = 1 << 13;
/// The shortest copy worth a back reference (two bytes of reference for three of data).
const MATCH_MIN: usize = 3;
/// The longest copy: 7 in the control byte, 255 in the extra byte, plus 2.
const MATCH_MAX: usize = 7 + 255 + 2;
/// Upper bound of decompressed bytes per compressed byte: a 3-byte reference yields at most
/// `MATCH_MAX` bytes. A stored length above `MATCH_MAX / 3` times the stream's length is a lie.
pub const EXPANSION_MAX: usize = MATCH_MAX / 3;

/// Compresses `input`; `None` if the result would be longer than `out_max` bytes (or `input`
/// is empty), which is how callers ask "is it worth it?".
pub fn compress(input: &[u8], out_max: usize) -> Option<Vec<u8>> {
    if input.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(out_max.min(input.len() + input.len() / LITERALS_MAX + 1));
    // Small inputs get small tables: a dump compresses many short strings.
    let hash_bits = (usize::BITS - input.len().leading_zeros()).clamp(8, 14);
    let mut last_seen = vec![0u32; 1 << hash_bits]; // position + 1; 0 = never seen
    let hash = |p: usize| -> usize {
        let v = u32::from(input[p]) << 16 | u32::from(input[p + 1]) << 8 | u32::from(input[p + 2]);
        (v.wrapping_mul(2_654_435_761) >> (32 - hash_bits)) as usize
    };
    let mut literal_start = 0;
    let mut pos = 0;
    while pos + MATCH_MIN <= input.len() {
        let slot = hash(pos);
        let candidate = last_seen[slot] as usize;
        last_seen[slot] = (pos + 1) as u32;
        let len = match candidate.checked_sub(1) {
            Some(from) if from < pos && pos - from <= DISTANCE_MAX => {
                let limit = MATCH_MAX.min(input.len() - pos);
                (0..limit)
                    .take_while(|&i| input[from + i] == input[pos + i])
                    .count()
            }
            _ => 0,
        };
        if len < MATCH_MIN {
            pos += 1;
            continue;
        }
        let distance = pos - (candidate - 1);
        put_literals(&mut out, &input[literal_start..pos]);
        put_copy(&mut out, distance, len);
        if out.len() > out_max {
            return None;
        }
        // Remember the sequences inside the copy too, so later data can refer to them.
        for p in pos + 1..(pos + len).min(input.len().saturating_sub(MATCH_MIN - 1)) {
            last_seen[hash(p)] = (p + 1) as u32;
        }
        pos += len;
        literal_start = pos;
    }
    put_literals(&mut out, &input[literal_start..]);
    (out.len() <= out_max).then_some(out)
}

fn put_literals(out: &mut Vec<u8>, mut literals: &[u8]) {
    while !literals.is_empty() {
        let n = literals.len().min(LITERALS_MAX);
        out.push((n - 1) as u8);
        out.extend_from_slice(&literals[..n]);
        literals = &literals[n..];
    }
}

fn put_copy(out: &mut Vec<u8>, distance: usize, len: usize) {
    debug_assert!((1..=DISTANCE_MAX).contains(&distance) && (MATCH_MIN..=MATCH_MAX).contains(&len));
    let offset = distance - 1;
    let stored_len = len - 2;
    let high = (offset >> 8) as u8;
    if stored_len < 7 {
        out.push((stored_len as u8) << 5 | high);
    } else {
        out.push(7 << 5 | high);
        out.push((stored_len - 7) as u8);
    }
    out.push(offset as u8);
}

/// Decompresses `input`, which must produce exactly `out_len` bytes. `None` if the stream is
/// malformed (truncated, referring before the start, or producing a different length).
///
/// Memory grows with the bytes actually produced, never with the claimed `out_len` alone.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    if out_len > input.len().saturating_mul(EXPANSION_MAX) {
        return None;
    }
    let mut out: Vec<u8> = Vec::with_capacity(out_len.min(input.len().saturating_mul(4)));
    let mut pos = 0;
    while pos < input.len() {
        let ctrl = usize::from(input[pos]);
        pos += 1;
        if ctrl < LITERALS_MAX {
            let n = ctrl + 1;
            let literals = input.get(pos..pos + n)?;
            if out.len() + n > out_len {
                return None;
            }
            out.extend_from_slice(literals);
            pos += n;
            continue;
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += usize::from(*input.get(pos)?);
            pos += 1;
        }
        let len = len + 2;
        let distance = ((ctrl & 0x1f) << 8 | usize::from(*input.get(pos)?)) + 1;
        pos += 1;
        if distance > out.len() || out.len() + len > out_len {
            return None;
        }
        let from = out.len() - distance;
        if distance >= len {
            out.extend_from_within(from..from + len);
        } else {
            // Overlapping: each byte may be one this copy just produced.
            for i in 0..len {
                out.push(out[from + i]);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let packed = compress(data, data.len() * 2 + 8).expect("fits in twice the size");
        assert_eq!(decompress(&packed, data.len()).as_deref(), Some(data));
    }

    #[test]
    fn round_trips() {
        round_trip(b"a");
        round_trip(b"abc");
        round_trip(&[b'a'; 1000]);
        round_trip(b"abcabcabcabcabcabcabcabcabcabcabc hello hello hello");
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("item:{} ", i % 977).into_bytes())
            .collect();
        round_trip(&text);
        let mut rng = fastrand::Rng::with_seed(7);
        let noise: Vec<u8> = (0..10_000).map(|_| rng.u8(..)).collect();
        round_trip(&noise);
        // Matches reaching the maximum distance and length.
        let mut far = noise[..DISTANCE_MAX].to_vec();
        far.extend_from_slice(&noise[..DISTANCE_MAX]);
        round_trip(&far);
    }

    #[test]
    fn compresses_repetitive_data() {
        let data = [b'x'; 10_000];
        let packed = compress(&data, data.len()).unwrap();
        // A run is one literal and ~38 maximal copies of 264 bytes, 3 bytes each.
        assert!(packed.len() < 150, "{} bytes", packed.len());
    }

    #[test]
    fn gives_up_when_over_budget() {
        let mut rng = fastrand::Rng::with_seed(1);
        let noise: Vec<u8> = (0..100).map(|_| rng.u8(..)).collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
        assert_eq!(compress(b"", 10), None);
    }

    #[test]
    fn decodes_a_hand_made_stream() {
        // "abc" as literals, then a 6-byte copy from 3 back (overlapping): "abcabcabc".
        let stream = [2, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(decompress(&stream, 9).as_deref(), Some(&b"abcabcabc"[..]));
        // A long copy: 7 + 3 + 2 = 12 bytes of 'z'.
        let stream = [0, b'z', 7 << 5, 3, 0];
        assert_eq!(decompress(&stream, 13).as_deref(), Some(&[b'z'; 13][..]));
    }

    #[test]
    fn rejects_malformed_streams() {
        let good = [2, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(decompress(&good, 8), None, "length mismatch (short)");
        assert_eq!(decompress(&good, 10), None, "length mismatch (long)");
        assert_eq!(decompress(&[5, b'a'], 6), None, "truncated literals");
        assert_eq!(
            decompress(&[0, b'a', 1 << 5], 4),
            None,
            "truncated reference"
        );
        assert_eq!(
            decompress(&[0, b'a', 7 << 5], 4),
            None,
            "truncated long reference"
        );
        assert_eq!(
            decompress(&[0, b'a', 1 << 5, 1], 4),
            None,
            "reference before the start"
        );
        assert_eq!(
            decompress(&[0, b'a'], usize::MAX),
            None,
            "absurd claimed length"
        );
    }

    #[test]
    fn random_streams_never_panic() {
        let mut rng = fastrand::Rng::with_seed(99);
        for _ in 0..20_000 {
            let n = rng.usize(0..40);
            let stream: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            let out_len = rng.usize(0..200);
            if let Some(out) = decompress(&stream, out_len) {
                assert_eq!(out.len(), out_len);
            }
        }
    }
}
