//! Intsets: Redis's sorted array of distinct integers, the encoding of small all-integer sets.
//!
//! ```text
//! u32 width in bytes (2, 4 or 8) | u32 count | count integers of that width, ascending
//! ```
//! Little-endian throughout; the width is the smallest that holds every member.

use super::RdbError;

const HEADER: usize = 8;

/// The intset of `values`, which must be sorted ascending without duplicates.
pub fn encode(values: &[i64]) -> Vec<u8> {
    debug_assert!(values.windows(2).all(|w| w[0] < w[1]));
    let width: usize = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(HEADER + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The members of an intset, after checking what Redis's deep validation checks: a known
/// width, a size that matches the count, at least one member, strictly ascending members.
pub fn decode(bytes: &[u8]) -> Result<Vec<i64>, RdbError> {
    let corrupt = || RdbError::Corrupt("intset integrity check failed");
    if bytes.len() < HEADER {
        return Err(corrupt());
    }
    let width = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let count = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    if !matches!(width, 2 | 4 | 8)
        || count == 0
        || count.checked_mul(width) != Some(bytes.len() - HEADER)
    {
        return Err(corrupt());
    }
    let values: Vec<i64> = bytes[HEADER..]
        .chunks_exact(width)
        .map(|c| {
            let raw = c.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
            let bits = 8 * width as u32;
            ((raw << (64 - bits)) as i64) >> (64 - bits)
        })
        .collect();
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(corrupt());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_widest_member() {
        assert_eq!(
            encode(&[1, 2, 3]),
            b"\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00"
        );
        assert_eq!(encode(&[-32768, 32767])[0], 2);
        assert_eq!(encode(&[-32769, 0])[0], 4);
        assert_eq!(encode(&[0, 2_147_483_648])[0], 8);
        for values in [
            vec![-32768, 0, 32767],
            vec![i32::MIN as i64, -1, i32::MAX as i64],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            assert_eq!(decode(&encode(&values)).unwrap(), values);
        }
    }

    #[test]
    fn rejects_damage() {
        let good = encode(&[1, 2, 3]);
        let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            decode(&b).is_err()
        };
        assert!(damaged(&|b| b[0] = 3), "width");
        assert!(damaged(&|b| b[4] = 4), "count");
        assert!(damaged(&|b| b[4] = 0), "zero count");
        assert!(damaged(&|b| b[8] = 2), "duplicate");
        assert!(damaged(&|b| b[8] = 9), "out of order");
        assert!(damaged(&|b| b.push(0)), "trailing byte");
        assert!(damaged(&|b| b.truncate(5)), "truncated header");
    }
}
