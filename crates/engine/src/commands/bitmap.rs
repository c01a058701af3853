//! Bit operations on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, with Redis 7.0.15's semantics (`src/bitops.c`), replies and errors.
//!
//! Bits are numbered from the most significant bit of the first byte (bit 0 is `0x80` of byte
//! 0). A string read past its end reads as zero bits; a write past its end first pads the
//! string with zero bytes, as Redis's `lookupStringForBitCommand` does. Writes keep the string
//! under `STRING_LEN_MAX` through the offset check (a bit offset at or beyond 512 MiB × 8 is
//! refused before the log).
//!
//! Where errors are found: every argument Redis parses before it looks the key up is checked
//! in `check` (rejected before the log) and again in `apply`; what Redis parses after the lookup
//! (BITCOUNT's and BITPOS's ranges, which are reads) is parsed after it here too, so a missing
//! key or a wrong type answers first, exactly as in Redis.
//!
//! Sections, low level first: errors and argument parsing, typed access to the keyspace, the
//! bit primitives, the commands, the table. BITFIELD lives in `bitmap/field.rs`.

mod field;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::string::STRING_LEN_MAX;
use crate::commands::{cmd, eq_ignore_case, int_arg, parse_i64, syntax_error, wrong_type};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group, Handler, Keys, Spec, acl, flag::*};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors and argument parsing

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "ERR bit is not an integer or out of range";
const BIT_ARG_ERR: &str = "ERR The bit argument must be 1 or 0.";
const BITOP_NOT_ARITY: &str = "ERR BITOP NOT must be called with a single source key.";

/// Redis compares option words with `strcasecmp`: the bytes up to the first NUL count.
fn c_str(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|&b| b == 0)
        .map_or(arg, |nul| &arg[..nul])
}

fn is_word(arg: &[u8], word: &str) -> bool {
    eq_ignore_case(c_str(arg), word)
}

/// Redis's `getBitOffsetFromArgument`: a non-negative integer whose byte lies within
/// `STRING_LEN_MAX`. With `hash_bits` > 0 (BITFIELD), `#N` means N × `hash_bits`; the product
/// wraps as Redis's does before the range check.
fn bit_offset(arg: &[u8], hash_bits: u32) -> Result<u64, Reply> {
    let err = || Reply::error_static(BIT_OFFSET_ERR);
    let (digits, scale) = match arg.first() {
        Some(b'#') if hash_bits > 0 => (&arg[1..], i64::from(hash_bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits).ok_or_else(err)?.wrapping_mul(scale);
    if offset < 0 || (offset as u64 >> 3) >= STRING_LEN_MAX {
        return Err(err());
    }
    Ok(offset as u64)
}

/// BITCOUNT's and BITPOS's unit word: `BIT` (true) or `BYTE` (false).
fn unit_is_bit(arg: &[u8]) -> Result<bool, Reply> {
    if is_word(arg, "bit") {
        Ok(true)
    } else if is_word(arg, "byte") {
        Ok(false)
    } else {
        Err(syntax_error())
    }
}

// ---------------------------------------------------------------------------------------------
// Typed access: a key holding another type is WRONGTYPE

/// The string at `key` for a read: `Ok(None)` when absent or expired.
fn get_str<'a>(db: &'a Db, key: &[u8], now_ms: u64) -> Result<Option<&'a [u8]>, Reply> {
    let Some(slot) = db.lookup(key, now_ms) else {
        return Ok(None);
    };
    slot.value.as_str().map(Some).ok_or_else(wrong_type)
}

/// Redis's `lookupStringForBitCommand`: the string at `key`, created or padded with zero bytes
/// so that byte `byte` exists. Its TTL is kept. The flag says whether it was created or grew;
/// otherwise the caller tells the key's watchers (`Db::touched`) only if it changes a bit.
fn string_for_bits<'a>(
    db: &'a mut Db,
    key: &[u8],
    byte: u64,
    now_ms: u64,
) -> Result<(&'a mut Box<[u8]>, bool), Reply> {
    // Offsets are checked against STRING_LEN_MAX (plus a BITFIELD's width), so this fits.
    let len = byte as usize + 1;
    let mut grew = false;
    if !db.contains(key, now_ms) {
        db.set(
            key,
            Value::Str(vec![0; len].into_boxed_slice()),
            None,
            now_ms,
        );
        grew = true;
    } else if db
        .get_value(key, now_ms)
        .and_then(Value::as_str)
        .is_some_and(|s| s.len() < len)
    {
        db.touched(key);
        grew = true;
    }
    let slot = db
        .lookup_mut_untouched(key, now_ms)
        .expect("present or just created");
    let Value::Str(s) = &mut slot.value else {
        return Err(wrong_type());
    };
    if s.len() < len {
        let mut bytes = std::mem::take(s).into_vec();
        bytes.resize(len, 0);
        *s = bytes.into_boxed_slice();
    }
    Ok((s, grew))
}

// ---------------------------------------------------------------------------------------------
// Bit primitives

/// Set bits in `bytes`.
fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut count: u64 = words
        .by_ref()
        .map(|w| u64::from(u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones()))
        .sum();
    count += words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    count
}

/// Redis's `redisBitpos`: the position of the first bit equal to `bit` in `bytes`. The bytes
/// are followed by zeros: looking for a 0 in all-ones bytes answers the first bit after them,
/// looking for a 1 in all-zero bytes answers -1.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0x00 } else { 0xff };
    match bytes.iter().position(|&b| b != skip) {
        Some(i) => {
            let b = if bit { bytes[i] } else { !bytes[i] };
            (i as i64) * 8 + i64::from(b.leading_zeros())
        }
        None if bit => -1,
        None => bytes.len() as i64 * 8,
    }
}

/// The bit at `offset` (zero past the end).
fn get_bit(bytes: &[u8], offset: u64) -> u8 {
    let byte = (offset >> 3) as usize;
    bytes.get(byte).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

/// A BITCOUNT/BITPOS range after Redis's conversion: inclusive byte indexes `start..=end`
/// (empty when start > end) and, for BIT ranges, the masks of the out-of-range bits in the
/// first and last byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

impl Range {
    fn whole(len: usize) -> Range {
        Range {
            start: 0,
            end: len as i64 - 1,
            first_mask: 0,
            last_mask: 0,
        }
    }

    /// Negative indexes count from the end, then both are clamped to the string (in bits for
    /// `is_bit`); a BIT range becomes bytes plus edge masks.
    fn clamp(len: usize, mut start: i64, mut end: i64, is_bit: bool) -> Range {
        let total = if is_bit { len as i64 * 8 } else { len as i64 };
        if start < 0 {
            start += total;
        }
        if end < 0 {
            end += total;
        }
        start = start.max(0);
        end = end.max(0).min(total - 1);
        let (mut first_mask, mut last_mask) = (0, 0);
        if is_bit && start <= end {
            first_mask = !((1u16 << (8 - (start & 7))) - 1) as u8;
            last_mask = ((1u16 << (7 - (end & 7))) - 1) as u8;
            start >>= 3;
            end >>= 3;
        }
        Range {
            start,
            end,
            first_mask,
            last_mask,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SETBIT, GETBIT

fn setbit_args(argv: &[Bytes]) -> Result<(u64, u8), Reply> {
    let offset = bit_offset(&argv[2], 0)?;
    match parse_i64(&argv[3]) {
        Some(on @ (0 | 1)) => Ok((offset, on as u8)),
        _ => Err(Reply::error_static(BIT_VALUE_ERR)),
    }
}

fn setbit_check(argv: &[Bytes]) -> Result<(), Reply> {
    setbit_args(argv).map(|_| ())
}

/// SETBIT: answers the bit's previous value.
fn setbit(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (offset, on) = match setbit_args(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let (s, grew) = match string_for_bits(ctx.db(), &argv[1], offset >> 3, now_ms) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let old = get_bit(s, offset);
    let byte = &mut s[(offset >> 3) as usize];
    let shift = 7 - (offset & 7);
    *byte = (*byte & !(1 << shift)) | (on << shift);
    // As Redis: a change (event, watchers, dirty) when the string was created or grew, or the
    // bit changed.
    let changed = grew || old != on;
    if changed {
        ctx.db().touched(&argv[1]);
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    ctx.dirty(u64::from(changed));
    Reply::Int(i64::from(old))
}

fn getbit(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let offset = match bit_offset(&argv[2], 0) {
        Ok(offset) => offset,
        Err(reply) => return reply,
    };
    match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(s) => Reply::Int(i64::from(get_bit(s.unwrap_or_default(), offset))),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------------
// BITCOUNT, BITPOS

/// BITCOUNT key [start end [BYTE|BIT]]: the key is looked up first (a missing key is 0
/// whatever follows), then the range, then the unit word.
fn bitcount(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let s = match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(0),
        Err(reply) => return reply,
    };
    let range = match argv.len() {
        2 => Range::whole(s.len()),
        4 | 5 => {
            let (start, end) = match (int_arg(&argv[2]), int_arg(&argv[3])) {
                (Ok(start), Ok(end)) => (start, end),
                (Err(reply), _) | (_, Err(reply)) => return reply,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let is_bit = match argv.get(4).map(|unit| unit_is_bit(unit)) {
                Some(Ok(is_bit)) => is_bit,
                Some(Err(reply)) => return reply,
                None => false,
            };
            Range::clamp(s.len(), start, end, is_bit)
        }
        _ => return syntax_error(),
    };
    if range.start > range.end {
        return Reply::Int(0);
    }
    let (start, end) = (range.start as usize, range.end as usize);
    let mut count = popcount(&s[start..=end]);
    count -= u64::from((s[start] & range.first_mask).count_ones());
    count -= u64::from((s[end] & range.last_mask).count_ones());
    Reply::Int(count as i64)
}

/// BITPOS key bit [start [end [BYTE|BIT]]]: the bit is parsed first, then the key is looked
/// up (a missing key is all zeros), then the range. Without an explicit end, looking for a 0
/// may answer the first bit after the string (it is zero-padded on the right); with one, the
/// range is exact and a range of ones answers -1.
fn bitpos(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let bit = match int_arg(&argv[2]) {
        Ok(0) => false,
        Ok(1) => true,
        Ok(_) => return Reply::error_static(BIT_ARG_ERR),
        Err(reply) => return reply,
    };
    let s = match get_str(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Err(reply) => return reply,
    };
    let (range, end_given) = match bitpos_range(s.len(), argv) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    Reply::Int(bitpos_in(s, bit, range, end_given))
}

/// BITPOS's range arguments, parsed in Redis's order: start, the unit word, end.
fn bitpos_range(len: usize, argv: &[Bytes]) -> Result<(Range, bool), Reply> {
    if argv.len() == 3 {
        return Ok((Range::whole(len), false));
    }
    if argv.len() > 6 {
        return Err(syntax_error());
    }
    let start = int_arg(&argv[3])?;
    let is_bit = match argv.get(5) {
        Some(unit) => unit_is_bit(unit)?,
        None => false,
    };
    let (end, end_given) = match argv.get(4) {
        Some(end) => (int_arg(end)?, true),
        // Only BYTE ranges get here (BIT needs an end), so the default end is the last byte.
        None => (len as i64 - 1, false),
    };
    Ok((Range::clamp(len, start, end, is_bit), end_given))
}

/// The search of `bitposCommand` over a converted range: the partial first byte, the whole
/// bytes, then the partial last byte.
fn bitpos_in(s: &[u8], bit: bool, range: Range, end_given: bool) -> i64 {
    if range.start > range.end {
        return -1;
    }
    let Range {
        mut start,
        end,
        first_mask,
        last_mask,
    } = range;
    let mut bytes = end - start + 1;
    // Forces the masked bits to the value not looked for.
    let masked = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'search: {
        if first_mask != 0 {
            let mut b = masked(s[start as usize], first_mask);
            if last_mask != 0 && bytes == 1 {
                b = masked(b, last_mask);
            }
            let pos = first_bit(&[b], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'search pos;
            }
            start += 1;
            bytes -= 1;
        }
        let whole = bytes - i64::from(last_mask != 0);
        if whole > 0 {
            let pos = first_bit(&s[start as usize..(start + whole) as usize], bit);
            if bytes == whole || (pos != -1 && pos != whole * 8) {
                break 'search pos;
            }
            start += whole;
            bytes -= whole;
        }
        first_bit(&[masked(s[end as usize], last_mask)], bit)
    };
    if end_given && !bit && pos == bytes * 8 {
        return -1;
    }
    if pos == -1 { -1 } else { pos + start * 8 }
}

// ---------------------------------------------------------------------------------------------
// BITOP

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop_args(argv: &[Bytes]) -> Result<BitOp, Reply> {
    let name = &argv[1];
    let op = if is_word(name, "and") {
        BitOp::And
    } else if is_word(name, "or") {
        BitOp::Or
    } else if is_word(name, "xor") {
        BitOp::Xor
    } else if is_word(name, "not") {
        BitOp::Not
    } else {
        return Err(syntax_error());
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(Reply::error_static(BITOP_NOT_ARITY));
    }
    Ok(op)
}

fn bitop_check(argv: &[Bytes]) -> Result<(), Reply> {
    bitop_args(argv).map(|_| ())
}

/// The result of `op` over `sources`, each zero-padded to the longest.
fn bitop_compute(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let len = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    out[..sources[0].len()].copy_from_slice(sources[0]);
    if op == BitOp::Not {
        out.iter_mut().for_each(|b| *b = !*b);
        return out;
    }
    for src in &sources[1..] {
        let (head, tail) = out.split_at_mut(src.len());
        match op {
            BitOp::And => {
                head.iter_mut().zip(*src).for_each(|(o, s)| *o &= s);
                tail.fill(0);
            }
            BitOp::Or => head.iter_mut().zip(*src).for_each(|(o, s)| *o |= s),
            BitOp::Xor => head.iter_mut().zip(*src).for_each(|(o, s)| *o ^= s),
            BitOp::Not => unreachable!("NOT has one source"),
        }
    }
    out
}

/// BITOP op dest src...: missing sources are empty strings; an empty result deletes `dest`.
/// The result replaces `dest` (its TTL cleared). Answers the result's length.
fn bitop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let op = match bitop_args(argv) {
        Ok(op) => op,
        Err(reply) => return reply,
    };
    let now_ms = ctx.now_ms;
    let db = ctx.db();
    let mut sources: Vec<&[u8]> = Vec::with_capacity(argv.len() - 3);
    for key in &argv[3..] {
        match get_str(db, key, now_ms) {
            Ok(s) => sources.push(s.unwrap_or_default()),
            Err(reply) => return reply,
        }
    }
    let result = bitop_compute(op, &sources);
    let len = result.len();
    if len > 0 {
        db.set(
            &argv[2],
            Value::Str(result.into_boxed_slice()),
            None,
            now_ms,
        );
        ctx.notify(notify::STRING, "set", &argv[2]);
    } else if db.remove(&argv[2]).is_some() {
        ctx.notify(notify::GENERIC, "del", &argv[2]);
    }
    Reply::Int(len as i64)
}

// ---------------------------------------------------------------------------------------------
// The table (metadata from Redis 7.0.15's COMMAND INFO and COMMAND DOCS)

const BM: u32 = acl::BITMAP;
const G: Group = Group::Bitmap;
const BITOP_KEYS: Keys = Keys {
    first: 2,
    last: -1,
    step: 1,
};
const FIELD_COMPLEXITY: &str = "O(1) for each subcommand specified";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("setbit", 4, WRITE | DENYOOM, BM, Keys::ONE, G, "2.2.0", "Sets or clears the bit at offset in the string value stored at key", Handler::Write(setbit_check, setbit)).complexity("O(1)"),
    cmd("getbit", 3, READONLY | FAST, BM, Keys::ONE, G, "2.2.0", "Returns the bit value at offset in the string value stored at key", Handler::Read(getbit)).complexity("O(1)"),
    cmd("bitcount", -2, READONLY, BM, Keys::ONE, G, "2.6.0", "Count set bits in a string", Handler::Read(bitcount)).complexity("O(N)"),
    cmd("bitpos", -3, READONLY, BM, Keys::ONE, G, "2.8.7", "Find first bit set or clear in a string", Handler::Read(bitpos)).complexity("O(N)"),
    cmd("bitop", -4, WRITE | DENYOOM, BM, BITOP_KEYS, G, "2.6.0", "Perform bitwise operations between strings", Handler::Write(bitop_check, bitop)).complexity("O(N)"),
    cmd("bitfield", -2, WRITE | DENYOOM, BM, Keys::ONE, G, "3.2.0", "Perform arbitrary bitfield integer operations on strings", Handler::Write(field::bitfield_check, field::bitfield)).complexity(FIELD_COMPLEXITY),
    cmd("bitfield_ro", -2, READONLY | FAST, BM, Keys::ONE, G, "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", Handler::Read(field::bitfield_ro)).complexity(FIELD_COMPLEXITY),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::split_args;

    fn args(line: &str) -> Vec<Bytes> {
        split_args(line).expect("valid line")
    }

    #[test]
    fn offsets_stop_at_the_string_limit() {
        let last = STRING_LEN_MAX * 8 - 1;
        assert_eq!(bit_offset(last.to_string().as_bytes(), 0), Ok(last));
        let err = Err(Reply::error_static(BIT_OFFSET_ERR));
        assert_eq!(bit_offset((last + 1).to_string().as_bytes(), 0), err);
        assert_eq!(bit_offset(b"-1", 0), err);
        assert_eq!(bit_offset(b"#1", 0), err, "# only for BITFIELD");
        assert_eq!(bit_offset(b"#3", 8), Ok(24));
        assert_eq!(bit_offset(b"#", 8), err);
        // The product wraps before the range check, as in Redis.
        assert_eq!(bit_offset(b"#4611686018427387904", 4), Ok(0));
    }

    #[test]
    fn first_bit_pads_with_zeros() {
        assert_eq!(first_bit(&[], true), -1);
        assert_eq!(first_bit(&[], false), 0);
        assert_eq!(first_bit(&[0xff, 0xff], false), 16);
        assert_eq!(first_bit(&[0x00, 0x00], true), -1);
        assert_eq!(first_bit(&[0xff, 0xf0], false), 12);
        assert_eq!(first_bit(&[0x00, 0x0f], true), 12);
    }

    #[test]
    fn bit_ranges_mask_their_edges() {
        // Bits 3..=12 of a 2-byte string: bytes 0..=1, bits 0-2 of byte 0 and 13-15 masked.
        let r = Range::clamp(2, 3, 12, true);
        assert_eq!((r.start, r.end), (0, 1));
        assert_eq!((r.first_mask, r.last_mask), (0b1110_0000, 0b0000_0111));
        let r = Range::clamp(6, -2, 1, false);
        assert!(r.start > r.end);
        assert_eq!(Range::clamp(0, 0, -1, false).end, -1);
    }

    #[test]
    fn bitop_pads_shorter_sources() {
        let a: &[u8] = b"\x01\x02\xff\xff";
        let b: &[u8] = b"\x01\x02\xff";
        assert_eq!(bitop_compute(BitOp::And, &[a, b]), b"\x01\x02\xff\x00");
        assert_eq!(bitop_compute(BitOp::Or, &[a, b]), b"\x01\x02\xff\xff");
        assert_eq!(bitop_compute(BitOp::Xor, &[a, b]), b"\x00\x00\x00\xff");
        assert_eq!(bitop_compute(BitOp::And, &[b"", a]), b"\x00\x00\x00\x00");
        assert_eq!(bitop_compute(BitOp::Not, &[b"\xaa\x00"]), b"\x55\xff");
    }

    #[test]
    fn syntax_errors_stop_before_the_log() {
        assert_eq!(bitop_check(&args("BITOP nand d a")), Err(syntax_error()));
        assert_eq!(
            bitop_check(&args("BITOP not d a b")),
            Err(Reply::error_static(BITOP_NOT_ARITY))
        );
        assert!(bitop_check(&args("BITOP \"and\\x00x\" d a")).is_ok());
        assert_eq!(
            setbit_check(&args("SETBIT k 0 2")),
            Err(Reply::error_static(BIT_VALUE_ERR))
        );
        assert_eq!(
            setbit_check(&args("SETBIT k x 1")),
            Err(Reply::error_static(BIT_OFFSET_ERR))
        );
    }
}
