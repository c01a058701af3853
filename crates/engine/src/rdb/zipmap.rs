//! Zipmaps: the compact hash of Redis 2.4 and older. RESTORE still reads them; so does this
//! module, which only reads.
//!
//! ```text
//! u8 count (254: unknown) | entries | 0xFF
//! entry: len field | field | len value | u8 free | value | <free> unused bytes
//! len: one byte below 254, or 0xFE + u32 (little-endian, the byte order of every machine
//!      Redis 2.4 ran on that matters)
//! ```

use super::RdbError;

/// A field and its value, as stored.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

const END: u8 = 0xff;
const BIG_LEN: u8 = 0xfe;

fn corrupt() -> RdbError {
    RdbError::Corrupt("zipmap integrity check failed")
}

/// Every (field, value) pair of `zm`, in order, after checking its structure. An empty
/// zipmap is corrupt, as Redis says.
pub fn pairs(zm: &[u8]) -> Result<Vec<Pair<'_>>, RdbError> {
    if zm.len() < 2 || zm[zm.len() - 1] != END {
        return Err(corrupt());
    }
    let mut out = Vec::new();
    let mut pos = 1;
    loop {
        match zm.get(pos) {
            None => return Err(corrupt()),
            Some(&END) => break,
            Some(_) => {}
        }
        let field = string(zm, &mut pos, 0)?;
        let free = usize::from(*zm.get(pos + length_size(zm, pos)?).ok_or_else(corrupt)?);
        let value = string(zm, &mut pos, 1)?;
        pos = pos.checked_add(free).ok_or_else(corrupt)?;
        out.push((field, value));
    }
    // The terminator found must be the last byte; the count byte must agree (or be "unknown").
    let count_ok = zm[0] == BIG_LEN || usize::from(zm[0]) == out.len();
    if pos != zm.len() - 1 || out.is_empty() || !count_ok {
        return Err(corrupt());
    }
    Ok(out)
}

fn length_size(zm: &[u8], pos: usize) -> Result<usize, RdbError> {
    match zm.get(pos) {
        Some(&b) if b < BIG_LEN => Ok(1),
        Some(&BIG_LEN) => Ok(5),
        _ => Err(corrupt()),
    }
}

/// Reads a length-prefixed string at `*pos`, skipping `gap` bytes between the length and the
/// data (a value's free-space byte).
fn string<'a>(zm: &'a [u8], pos: &mut usize, gap: usize) -> Result<&'a [u8], RdbError> {
    let len = match zm.get(*pos) {
        Some(&b) if b < BIG_LEN => usize::from(b),
        Some(&BIG_LEN) => {
            let b = zm.get(*pos + 1..*pos + 5).ok_or_else(corrupt)?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        _ => return Err(corrupt()),
    };
    let start = *pos + length_size(zm, *pos)? + gap;
    let end = start.checked_add(len).ok_or_else(corrupt)?;
    // Data never reaches the terminator.
    if end >= zm.len() {
        return Err(corrupt());
    }
    *pos = end;
    Ok(&zm[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redis_example() {
        // "foo" => "bar", "hello" => "world", from the comment at the top of Redis's zipmap.c.
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let want: [(&[u8], &[u8]); 2] = [(b"foo", b"bar"), (b"hello", b"world")];
        assert_eq!(pairs(zm).unwrap(), want);
    }

    #[test]
    fn skips_free_space_and_reads_long_lengths() {
        let mut zm = vec![1u8, 1, b'k', BIG_LEN];
        zm.extend_from_slice(&300u32.to_le_bytes());
        zm.push(2); // two free bytes after the value
        zm.extend_from_slice(&[b'v'; 300]);
        zm.extend_from_slice(&[0, 0, END]);
        let got = pairs(&zm).unwrap();
        assert_eq!(got, [(&b"k"[..], &[b'v'; 300][..])]);
    }

    #[test]
    fn rejects_damage() {
        let good = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff".to_vec();
        for (i, b) in [(0, 3u8), (1, 0x20), (5, 0x30), (6, 0x40), (10, 0xff)] {
            let mut zm = good.clone();
            zm[i] = b;
            assert!(pairs(&zm).is_err(), "byte {i} = {b:#x}");
        }
        assert!(pairs(b"\x00\xff").is_err(), "empty");
        assert!(
            pairs(b"\x01\x01a\x01\x00b\xff\xff").is_err(),
            "bytes after the end"
        );
        assert!(pairs(b"").is_err());
    }
}
