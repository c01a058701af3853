//! BITFIELD and BITFIELD_RO: integers of 1 to 64 bits (unsigned: 1 to 63) at any bit offset
//! of a string, read, written and incremented with WRAP, SAT or FAIL overflow handling.
//!
//! Every operation is parsed before the key is looked up (so every syntax error is found by
//! `check`, before the log); the string is then created or padded once, up to the farthest bit
//! a SET or INCRBY touches, and the operations run in order. A BITFIELD whose operations are
//! all GETs does not create the key.

use bytes::Bytes;
use cairn_resp::Reply;

use super::{bit_offset, get_str, is_word, string_for_bits};
use crate::commands::{int_arg, syntax_error};
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;

const TYPE_ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const OVERFLOW_ERR: &str = "ERR Invalid OVERFLOW type specified";
const RO_ERR: &str = "ERR BITFIELD_RO only supports the GET subcommand";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Set(i64),
    Incrby(i64),
}

/// One operation: what, where, and the overflow rule in force when it was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Op {
    kind: Kind,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`. The width is read as a
/// C string (up to a NUL).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let err = || Reply::error_static(TYPE_ERR);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let width = super::c_str(&arg[1..]);
    match crate::commands::parse_i64(width) {
        Some(bits) if bits >= 1 && bits <= if signed { 64 } else { 63 } => {
            Ok((signed, bits as u32))
        }
        _ => Err(err()),
    }
}

/// The operations, in Redis's parsing order: subcommand word (with enough arguments left),
/// type, offset, value.
fn parse_ops(argv: &[Bytes]) -> Result<Vec<Op>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let word = &argv[j];
        let kind = if is_word(word, "get") && left >= 2 {
            Kind::Get
        } else if is_word(word, "set") && left >= 3 {
            Kind::Set(0)
        } else if is_word(word, "incrby") && left >= 3 {
            Kind::Incrby(0)
        } else if is_word(word, "overflow") && left >= 1 {
            let name = &argv[j + 1];
            overflow = if is_word(name, "wrap") {
                Overflow::Wrap
            } else if is_word(name, "sat") {
                Overflow::Sat
            } else if is_word(name, "fail") {
                Overflow::Fail
            } else {
                return Err(Reply::error_static(OVERFLOW_ERR));
            };
            j += 2;
            continue;
        } else {
            return Err(syntax_error());
        };
        let (signed, bits) = field_type(&argv[j + 1])?;
        let offset = bit_offset(&argv[j + 2], bits)?;
        let kind = match kind {
            Kind::Get => Kind::Get,
            Kind::Set(_) => Kind::Set(int_arg(&argv[j + 3])?),
            Kind::Incrby(_) => Kind::Incrby(int_arg(&argv[j + 3])?),
        };
        ops.push(Op {
            kind,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if kind == Kind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

pub(super) fn bitfield_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_ops(argv).map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Integers in bits

/// The `bits`-bit big-endian unsigned integer at bit `offset` (zero past the end).
fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |value, j| {
        (value << 1) | u64::from(super::get_bit(s, offset + j))
    })
}

fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let value = get_unsigned(s, offset, bits) as i64;
    if bits < 64 && value & (1 << (bits - 1)) != 0 {
        value | (-1i64 << bits)
    } else {
        value
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (inside `s`).
fn set_unsigned(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bit = ((value >> (u64::from(bits) - 1 - j)) & 1) as u8;
        let at = offset + j;
        let byte = &mut s[(at >> 3) as usize];
        let shift = 7 - (at & 7);
        *byte = (*byte & !(1 << shift)) | (bit << shift);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves `0..2^bits`, and the
/// value to store instead under WRAP or SAT.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, rule: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        Some(match rule {
            Overflow::Wrap => wrap(),
            Overflow::Sat | Overflow::Fail => max,
        })
    } else if incr < 0 && incr < min_incr {
        Some(match rule {
            Overflow::Wrap => wrap(),
            Overflow::Sat | Overflow::Fail => 0,
        })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, the same for `-2^(bits-1)..2^(bits-1)`.
fn signed_overflow(value: i64, incr: i64, bits: u32, rule: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let sum = (value as u64).wrapping_add(incr as u64);
        if bits == 64 {
            return sum as i64;
        }
        let mask = u64::MAX << bits;
        if sum & (1 << (bits - 1)) != 0 {
            (sum | mask) as i64
        } else {
            (sum & !mask) as i64
        }
    };
    let wide = bits != 64;
    if value > max || (wide && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr) {
        Some(match rule {
            Overflow::Wrap => wrap(),
            Overflow::Sat | Overflow::Fail => max,
        })
    } else if value < min || (wide && incr < min_incr) || (value < 0 && incr < 0 && incr < min_incr)
    {
        Some(match rule {
            Overflow::Wrap => wrap(),
            Overflow::Sat | Overflow::Fail => min,
        })
    } else {
        None
    }
}

/// Runs one SET or INCRBY on `s` (already long enough): the reply (nil when FAIL refused it)
/// and whether the stored value changed. SET answers the old value, INCRBY the new one.
fn write_op(s: &mut [u8], op: &Op) -> (Reply, bool) {
    let (bits, offset) = (op.bits, op.offset);
    let (value, incr) = match op.kind {
        Kind::Set(value) => (Some(value), 0),
        Kind::Incrby(incr) => (None, incr),
        Kind::Get => unreachable!("GET does not write"),
    };
    let (overflowed, stored, reply, changed) = if op.signed {
        let old = get_signed(s, offset, bits);
        let start = value.unwrap_or(old);
        let overflow = signed_overflow(start, incr, bits, op.overflow);
        let new = overflow.unwrap_or(start.wrapping_add(incr));
        let reply = if value.is_some() { old } else { new };
        (overflow.is_some(), new as u64, reply, new != old)
    } else {
        let old = get_unsigned(s, offset, bits);
        let start = value.map_or(old, |v| v as u64);
        let overflow = unsigned_overflow(start, incr, bits, op.overflow);
        let new = overflow.unwrap_or(start.wrapping_add(incr as u64));
        let reply = if value.is_some() { old } else { new };
        (overflow.is_some(), new, reply as i64, new != old)
    };
    if overflowed && op.overflow == Overflow::Fail {
        return (Reply::Nil, false);
    }
    set_unsigned(s, offset, bits, stored);
    (Reply::Int(reply), changed)
}

fn read_op(s: &[u8], op: &Op) -> Reply {
    if op.signed {
        Reply::Int(get_signed(s, op.offset, op.bits))
    } else {
        Reply::Int(get_unsigned(s, op.offset, op.bits) as i64)
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

/// BITFIELD: with a SET or INCRBY, the string is created or padded up to the farthest bit they
/// write (even if FAIL then refuses every write), and each operation answers in order.
pub(super) fn bitfield(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let ops = match parse_ops(argv) {
        Ok(ops) => ops,
        Err(reply) => return reply,
    };
    let highest = ops
        .iter()
        .filter(|op| op.kind != Kind::Get)
        .map(|op| op.offset + u64::from(op.bits) - 1)
        .max();
    let now_ms = ctx.now_ms;
    let Some(highest) = highest else {
        ctx.dirty(0);
        return read_only(get_str(ctx.db(), &argv[1], now_ms), &ops);
    };
    let (s, grew) = match string_for_bits(ctx.db(), &argv[1], highest >> 3, now_ms) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    // As Redis: each SET or INCRBY that wrote counts as a change when the string was created
    // or grew, or the value it wrote differs from the one it found.
    let mut changes = 0;
    let replies = ops
        .iter()
        .map(|op| match op.kind {
            Kind::Get => read_op(s, op),
            Kind::Set(_) | Kind::Incrby(_) => {
                let (out, changed) = write_op(s, op);
                changes += u64::from(changed || (grew && out != Reply::Nil));
                out
            }
        })
        .collect();
    if changes > 0 {
        ctx.db().touched(&argv[1]);
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    ctx.dirty(changes);
    Reply::Array(replies)
}

/// Only GETs: a missing key reads as zeros.
fn read_only(s: Result<Option<&[u8]>, Reply>, ops: &[Op]) -> Reply {
    match s {
        Ok(s) => {
            let s = s.unwrap_or_default();
            Reply::Array(ops.iter().map(|op| read_op(s, op)).collect())
        }
        Err(reply) => reply,
    }
}

/// BITFIELD_RO: BITFIELD with GETs only; any other operation is refused once all parse.
pub(super) fn bitfield_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let ops = match parse_ops(argv) {
        Ok(ops) => ops,
        Err(reply) => return reply,
    };
    if ops.iter().any(|op| op.kind != Kind::Get) {
        return Reply::error_static(RO_ERR);
    }
    read_only(get_str(ctx.db(), &argv[1], ctx.now_ms), &ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_i1_to_i64_and_u1_to_u63() {
        assert_eq!(field_type(b"i64"), Ok((true, 64)));
        assert_eq!(field_type(b"u63"), Ok((false, 63)));
        assert_eq!(field_type(b"u8\0junk"), Ok((false, 8)));
        for bad in ["u64", "i0", "i65", "x8", "", "i", "i08", "u-1"] {
            assert_eq!(
                field_type(bad.as_bytes()),
                Err(Reply::error_static(TYPE_ERR)),
                "{bad}"
            );
        }
    }

    #[test]
    fn integers_round_trip_at_any_offset() {
        let mut s = vec![0u8; 10];
        set_unsigned(&mut s, 3, 13, 0x1abc);
        assert_eq!(get_unsigned(&s, 3, 13), 0x1abc);
        set_unsigned(&mut s, 5, 64, u64::MAX - 5);
        assert_eq!(get_signed(&s, 5, 64), -6);
        set_unsigned(&mut s, 0, 8, (-100i64) as u64);
        assert_eq!(get_signed(&s, 0, 8), -100);
        assert_eq!(get_unsigned(b"\xff", 4, 8), 0xf0, "zero past the end");
    }

    #[test]
    fn overflow_follows_redis() {
        assert_eq!(unsigned_overflow(100, 257, 8, Overflow::Wrap), Some(101));
        assert_eq!(unsigned_overflow(100, 257, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(100, -255, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(100, 10, 8, Overflow::Sat), None);
        // A negative SET value is a huge unsigned one: SAT stores the maximum.
        assert_eq!(
            unsigned_overflow(-5i64 as u64, 0, 8, Overflow::Sat),
            Some(255)
        );
        assert_eq!(signed_overflow(100, 257, 8, Overflow::Wrap), Some(101));
        assert_eq!(signed_overflow(100, 257, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(100, -255, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(
            signed_overflow(i64::MIN, -1, 64, Overflow::Sat),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(-1, 1, 64, Overflow::Sat), None);
    }
}
