//! The encoders: [`Reply`] to RESP2/RESP3 bytes (what a server writes), and a command to a
//! multibulk request (what a client writes, for tests and tools).
//!
//! Every difference between RESP2 and RESP3 lives here. Output goes straight into the caller's
//! `BytesMut`; integers are formatted with `itoa` on the stack. Only doubles go through a
//! `String`, since they need C's `%.17g` (see [`format_double`]).
//!
//! Sections, low level to high level: number formatting; line writers; reply encoding;
//! command encoding.

use bytes::{BufMut, BytesMut};
use memchr::memchr2;

use crate::{Protocol, Reply};

// ---------------------------------------------------------------------------------------------
// Number formatting
// ---------------------------------------------------------------------------------------------

/// Significant digits of `%.17g`: enough to round-trip any `f64`.
const DOUBLE_DIGITS: usize = 17;

/// Formats `value` exactly like C's `printf("%.17g", value)` as Redis 7.0 replies with it,
/// except that infinities and NaN are spelled `inf`, `-inf` and `nan` (Redis special-cases
/// infinities; NaN is always `nan`, whatever its sign bit).
///
/// `%.17g`: 17 significant digits, correctly rounded; plain notation when the decimal exponent
/// is in `-4..17`, else `d.ddde+XX` with at least two exponent digits; trailing zeros (and a
/// trailing point) removed. For example 0.1 → `0.10000000000000001`, 1e20 → `1e+20`.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's exact `{:e}` formatting with 16 decimals gives the correctly rounded 17
    // significant digits and the exponent after rounding, which is what `%g` decides on.
    let scientific = format!("{:.*e}", DOUBLE_DIGITS - 1, value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();

    let mut out = String::with_capacity(24);
    if value.is_sign_negative() {
        out.push('-');
    }
    // `%g` uses plain notation iff -4 <= exponent < precision.
    if (-4..DOUBLE_DIGITS as i32).contains(&exponent) {
        push_plain(&mut out, &digits, exponent);
    } else {
        push_exponential(&mut out, &digits, exponent);
    }
    out
}

/// Digits with trailing zeros removed, as `%g` prints the fraction.
fn trim_zeros(digits: &[u8]) -> &[u8] {
    let kept = digits
        .iter()
        .rposition(|&d| d != b'0')
        .map_or(0, |last| last + 1);
    &digits[..kept]
}

/// Appends ASCII digits to a String.
fn push_digits(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// `%g`'s plain form of `0.d0d1d2... × 10^(exponent + 1)`, for `-4 <= exponent < 17`.
fn push_plain(out: &mut String, digits: &[u8], exponent: i32) {
    let fraction = if exponent >= 0 {
        // Safe cast: exponent is in 0..17 here.
        let int_len = exponent as usize + 1;
        push_digits(out, &digits[..int_len]);
        trim_zeros(&digits[int_len..])
    } else {
        out.push('0');
        trim_zeros(digits)
    };
    if !fraction.is_empty() {
        out.push('.');
        for _ in 1..-exponent {
            out.push('0');
        }
        push_digits(out, fraction);
    }
}

/// `%g`'s exponential form `d.ddd e±XX`.
fn push_exponential(out: &mut String, digits: &[u8], exponent: i32) {
    push_digits(out, &digits[..1]);
    let fraction = trim_zeros(&digits[1..]);
    if !fraction.is_empty() {
        out.push('.');
        push_digits(out, fraction);
    }
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    let magnitude = exponent.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    out.push_str(itoa::Buffer::new().format(magnitude));
}

// ---------------------------------------------------------------------------------------------
// Line writers
// ---------------------------------------------------------------------------------------------

/// Writes `<prefix><n>\r\n`, the header of integers, lengths and aggregates.
fn put_header<I: itoa::Integer>(out: &mut BytesMut, prefix: u8, n: I) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    // Prefix plus CRLF.
    out.reserve(digits.len() + 3);
    out.put_u8(prefix);
    out.extend_from_slice(digits.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `<prefix><text>\r\n` with every `\r` and `\n` inside `text` turned into a space, so
/// a status or error can never break the framing.
fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    if memchr2(b'\r', b'\n', text).is_none() {
        out.extend_from_slice(text);
    } else {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes an error line. As Redis's formatted errors do, line breaks at either end are
/// dropped and the remaining ones become spaces.
fn put_error(out: &mut BytesMut, text: &[u8]) {
    let is_break = |b: &u8| *b == b'\r' || *b == b'\n';
    let start = text.iter().position(|b| !is_break(b)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|b| !is_break(b))
        .map_or(start, |last| last + 1);
    put_line(out, b'-', &text[start..end]);
}

/// Writes a bulk string: `$<len>\r\n<bytes>\r\n`.
fn put_bulk(out: &mut BytesMut, bytes: &[u8]) {
    put_header(out, b'$', bytes.len());
    out.reserve(bytes.len() + 2);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------------------------
// Reply encoding
// ---------------------------------------------------------------------------------------------

/// Writes an aggregate header and its elements.
fn put_aggregate(out: &mut BytesMut, proto: Protocol, prefix: u8, items: &[Reply]) {
    put_header(out, prefix, items.len());
    for item in items {
        encode(item, proto, out);
    }
}

/// Writes a map: `%n` in RESP3, a flat array of `2n` keys and values in RESP2.
fn put_map(out: &mut BytesMut, proto: Protocol, pairs: &[(Reply, Reply)]) {
    match proto {
        Protocol::Resp2 => put_header(out, b'*', pairs.len() * 2),
        Protocol::Resp3 => put_header(out, b'%', pairs.len()),
    }
    for (key, value) in pairs {
        encode(key, proto, out);
        encode(value, proto, out);
    }
}

/// Writes pairs: `*n` of `*2` arrays in RESP3, a flat array of `2n` elements in RESP2.
fn put_pairs(out: &mut BytesMut, proto: Protocol, pairs: &[(Reply, Reply)]) {
    let resp3 = proto == Protocol::Resp3;
    put_header(out, b'*', if resp3 { pairs.len() } else { pairs.len() * 2 });
    for (first, second) in pairs {
        if resp3 {
            put_header(out, b'*', 2);
        }
        encode(first, proto, out);
        encode(second, proto, out);
    }
}

/// Writes a double: a bulk string in RESP2, `,<text>` in RESP3.
fn put_double(out: &mut BytesMut, proto: Protocol, value: f64) {
    let text = format_double(value);
    match proto {
        Protocol::Resp2 => put_bulk(out, text.as_bytes()),
        Protocol::Resp3 => {
            out.put_u8(b',');
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes a verbatim string: the bare text as a bulk string in RESP2, `=<len>\r\n<fmt>:<text>`
/// in RESP3 (`fmt` is meant to be three characters, such as `txt`).
fn put_verbatim(out: &mut BytesMut, proto: Protocol, format: &str, text: &[u8]) {
    match proto {
        Protocol::Resp2 => put_bulk(out, text),
        Protocol::Resp3 => {
            // The format, its `:` separator, then the text.
            put_header(out, b'=', format.len() + 1 + text.len());
            out.reserve(format.len() + text.len() + 3);
            out.extend_from_slice(format.as_bytes());
            out.put_u8(b':');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Appends `reply` to `out` in the wire format of `proto`.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match reply {
        Reply::Simple(text) => put_line(out, b'+', text),
        Reply::Error(text) => put_error(out, text),
        Reply::Int(n) => put_header(out, b':', *n),
        Reply::Bulk(bytes) => put_bulk(out, bytes),
        Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => put_aggregate(out, proto, b'*', items),
        Reply::Set(items) => put_aggregate(out, proto, if resp3 { b'~' } else { b'*' }, items),
        Reply::Push(items) => put_aggregate(out, proto, if resp3 { b'>' } else { b'*' }, items),
        Reply::Map(pairs) => put_map(out, proto, pairs),
        Reply::Pairs(pairs) => put_pairs(out, proto, pairs),
        Reply::MapOfPairs(pairs) if resp3 => put_map(out, proto, pairs),
        Reply::MapOfPairs(pairs) => {
            put_header(out, b'*', pairs.len());
            for (key, value) in pairs {
                put_header(out, b'*', 2);
                encode(key, proto, out);
                encode(value, proto, out);
            }
        }
        Reply::Double(value) => put_double(out, proto, *value),
        Reply::DoubleText(text) if resp3 => put_line(out, b',', text),
        Reply::DoubleText(text) => put_bulk(out, text),
        Reply::Bool(value) if resp3 => {
            out.extend_from_slice(if *value { b"#t\r\n" } else { b"#f\r\n" })
        }
        Reply::Bool(value) => put_header(out, b':', i64::from(*value)),
        Reply::Verbatim(format, text) => put_verbatim(out, proto, format, text),
    }
}

// ---------------------------------------------------------------------------------------------
// Command encoding
// ---------------------------------------------------------------------------------------------

/// Appends a request as a client sends it: a multibulk of bulk strings.
pub fn encode_command(args: &[&[u8]], out: &mut BytesMut) {
    put_header(out, b'*', args.len());
    for arg in args {
        put_bulk(out, arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_double_matches_printf() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (3.0, "3"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e-4, "0.0001"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (-2.5, "-2.5"),
            (1e300, "1.0000000000000001e+300"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (value, text) in cases {
            assert_eq!(format_double(*value), *text, "{value:e}");
        }
    }
}
