//! Argument parsing for the sorted-set family, with the C library's rules Redis inherits:
//! scores go through `strtod` (decimal, hex floats, `inf`, and `nan` rejected afterwards),
//! ranges through `strtod` on a C string (so `""` is 0 and leading space is allowed), option
//! words through `strcasecmp` (the bytes up to a NUL count), blocking timeouts through
//! `strtold` and x87 arithmetic.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::string::long_double::{self, LongDouble};
use crate::commands::{NOT_FLOAT, int_arg};
use crate::types::zset::ScoreRange;

pub const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const RANGE_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// C's `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The bytes C sees of an argument: up to the first NUL.
pub fn c_str(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|&b| b == 0)
        .map_or(arg, |nul| &arg[..nul])
}

/// Redis's `!strcasecmp(arg, word)`.
pub fn is_word(arg: &[u8], word: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(word.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// strtod

/// What `strtod` returns: the value, how many bytes it consumed (0 when nothing converts)
/// and whether it set `ERANGE` (overflow to infinity, or a nonzero input rounding to zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Strtod {
    pub value: f64,
    pub len: usize,
    pub erange: bool,
}

/// glibc's `strtod` on `s` (which the caller has cut at a NUL if C would): leading space, a
/// sign, then a decimal float, a hex float (`0x1.8p3`), `inf`/`infinity` or `nan`/`nan(...)`,
/// taking the longest prefix that forms one. Correctly rounded, as glibc is.
pub fn strtod(s: &[u8]) -> Strtod {
    const NONE: Strtod = Strtod {
        value: 0.0,
        len: 0,
        erange: false,
    };
    let space = s.iter().take_while(|&&c| is_c_space(c)).count();
    let mut pos = space;
    let neg = match s.get(pos) {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let rest = &s[pos..];
    let signed = |v: f64| if neg { -v } else { v };
    let starts =
        |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"inf") {
        let len = if starts(b"infinity") { 8 } else { 3 };
        return Strtod {
            value: signed(f64::INFINITY),
            len: pos + len,
            erange: false,
        };
    }
    if starts(b"nan") {
        let mut len = 3;
        if rest.get(3) == Some(&b'(') {
            let inner = rest[4..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            if rest.get(4 + inner) == Some(&b')') {
                len = 5 + inner;
            }
        }
        return Strtod {
            value: f64::NAN,
            len: pos + len,
            erange: false,
        };
    }
    let hex = rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (rest[2].is_ascii_hexdigit()
            || (rest[2] == b'.' && rest.get(3).is_some_and(u8::is_ascii_hexdigit)));
    let parsed = if hex {
        hex_float(&rest[2..]).map(|(v, n, e)| (v, n + 2, e))
    } else {
        decimal_float(rest)
    };
    match parsed {
        Some((value, n, erange)) => Strtod {
            value: signed(value),
            len: pos + n,
            erange,
        },
        None => NONE,
    }
}

/// `digits[.digits]` at the start of `s` with `is_digit`: (integer part, fraction, length).
fn mantissa(s: &[u8], is_digit: fn(&u8) -> bool) -> (&[u8], &[u8], usize) {
    let int_len = s.iter().take_while(|c| is_digit(c)).count();
    if s.get(int_len) != Some(&b'.') {
        return (&s[..int_len], &[], int_len);
    }
    let frac_len = s[int_len + 1..].iter().take_while(|c| is_digit(c)).count();
    (
        &s[..int_len],
        &s[int_len + 1..int_len + 1 + frac_len],
        int_len + 1 + frac_len,
    )
}

/// An exponent (`e-12`, `p3`) at the start of `s`: its length and value (saturated), or
/// `None` when it is not a complete exponent (strtod then stops before the marker).
fn exponent(s: &[u8], marker: u8) -> Option<(usize, i64)> {
    if s.first().map(|c| c | 0x20) != Some(marker) {
        return None;
    }
    let (neg, sign_len) = match s.get(1) {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let digits = s[1 + sign_len..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 {
        return None;
    }
    // Saturate far beyond any exponent that still changes the result.
    let v = s[1 + sign_len..1 + sign_len + digits]
        .iter()
        .fold(0i64, |v, d| (v * 10 + i64::from(d - b'0')).min(1 << 40));
    Some((1 + sign_len + digits, if neg { -v } else { v }))
}

fn decimal_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let (int, frac, mut len) = mantissa(s, u8::is_ascii_digit);
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if let Some((n, _)) = exponent(&s[len..], b'e') {
        len += n;
    }
    let text = std::str::from_utf8(&s[..len]).ok()?;
    // Rust's parser rounds correctly, like glibc, for any number of digits.
    let value: f64 = text.parse().ok()?;
    let nonzero = int.iter().chain(frac).any(|&d| d != b'0');
    let erange = value.is_infinite() || (nonzero && value == 0.0);
    Some((value, len, erange))
}

/// A hex float after its `0x`: (magnitude, length, erange).
fn hex_float(s: &[u8]) -> Option<(f64, usize, bool)> {
    let (int, frac, mut len) = mantissa(s, u8::is_ascii_hexdigit);
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp2 = 0i64;
    if let Some((n, e)) = exponent(&s[len..], b'p') {
        len += n;
        exp2 = e;
    }
    // Keep the first 15 significant hex digits (60 bits); later nonzero digits are sticky.
    let mut mant: u64 = 0;
    let mut kept = 0;
    let mut sticky = false;
    for (i, &c) in int.iter().chain(frac).enumerate() {
        let d = u64::from((c as char).to_digit(16).expect("hex digit"));
        let in_fraction = i >= int.len();
        if mant == 0 && d == 0 {
            if in_fraction {
                exp2 -= 4;
            }
            continue;
        }
        if kept < 15 {
            mant = (mant << 4) | d;
            kept += 1;
            if in_fraction {
                exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !in_fraction {
                exp2 += 4;
            }
        }
    }
    let value = round_binary(mant, exp2, sticky);
    let erange = value.is_infinite() || (mant != 0 && value == 0.0);
    Some((value, len, erange))
}

/// `(mant + ε) × 2^exp2` rounded to the nearest f64 (ties to even), ε ∈ (0, 1) if `sticky`.
fn round_binary(mant: u64, exp2: i64, sticky: bool) -> f64 {
    if mant == 0 {
        return 0.0;
    }
    let lz = i64::from(mant.leading_zeros());
    let m = u128::from(mant << lz) << 64; // value = m × 2^(exp2 - lz - 64)
    let e = exp2 - lz - 64;
    // The leading bit's weight: 2^(e + 127).
    let top = e + 127;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Bits kept: 53 for normal numbers, fewer below 2^-1022.
    let keep = if top >= -1022 { 53 } else { 53 - (-1022 - top) };
    if keep <= 0 {
        // At most half the smallest subnormal: rounds to it only when strictly above half.
        let above_half = keep == 0 && (m > 1u128 << 127 || sticky);
        return if above_half { f64::from_bits(1) } else { 0.0 };
    }
    let shift = 128 - keep as u32;
    let mut q = m >> shift;
    let rem = m & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rem > half || (rem == half && (sticky || q & 1 == 1)) {
        q += 1;
    }
    if top >= -1022 {
        let (mut q, mut top) = (q as u64, top);
        if q == 1 << 53 {
            q >>= 1;
            top += 1;
            if top > 1023 {
                return f64::INFINITY;
            }
        }
        f64::from_bits(((top + 1023) as u64) << 52 | (q & ((1 << 52) - 1)))
    } else {
        // Subnormal: the exponent field is 0 and q is the fraction (it may round up into
        // the smallest normal, whose bits follow on naturally).
        f64::from_bits(q as u64)
    }
}

/// Redis's `string2d`: the whole argument is one `strtod` number, with no leading space, no
/// overflow to infinity or underflow to zero, and not NaN.
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_c_space(s[0]) {
        return None;
    }
    let r = strtod(s);
    let bad = r.len != s.len()
        || (r.erange && (r.value.is_infinite() || r.value == 0.0))
        || r.value.is_nan();
    (!bad).then_some(r.value)
}

/// A score, increment or weight: `string2d` or `msg`.
pub fn float_arg(arg: &[u8], msg: &'static str) -> Result<f64, Reply> {
    string2d(arg).ok_or_else(|| Reply::error_static(msg))
}

pub fn score_arg(arg: &[u8]) -> Result<f64, Reply> {
    float_arg(arg, NOT_FLOAT)
}

// ---------------------------------------------------------------------------------------------
// Integers

/// Redis's `getRangeLongFromObjectOrReply`: an integer in `min..=max`, or `msg` (for both a
/// non-integer and an out-of-range value) or its default texts.
pub fn range_long(arg: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, Reply> {
    let v = match (int_arg(arg), msg) {
        (Ok(v), _) => v,
        (Err(_), Some(msg)) => return Err(Reply::error_static(msg)),
        (Err(e), None) => return Err(e),
    };
    if v < min || v > max {
        return Err(match msg {
            Some(msg) => Reply::error_static(msg),
            None => Reply::error(format!(
                "ERR value is out of range, value must between {min} and {max}"
            )),
        });
    }
    Ok(v)
}

/// Redis's `getPositiveLongFromObjectOrReply`: an integer ≥ 0.
pub fn positive_long(arg: &[u8], msg: Option<&'static str>) -> Result<i64, Reply> {
    range_long(arg, 0, i64::MAX, Some(msg.unwrap_or(NOT_POSITIVE)))
}

// ---------------------------------------------------------------------------------------------
// Ranges

/// One end of a score range (`zslParseRange`): `(` makes it exclusive; the rest goes to
/// `strtod` as a C string and must be consumed whole (the empty string is 0); NaN is refused.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (exclusive, text) = match arg.first() {
        Some(b'(') => (true, &arg[1..]),
        _ => (false, arg),
    };
    let text = c_str(text);
    let r = strtod(text);
    (r.len == text.len() && !r.value.is_nan()).then_some((r.value, exclusive))
}

pub fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (score_bound(min), score_bound(max)) {
        (Some((min, min_ex)), Some((max, max_ex))) => Ok(ScoreRange {
            min,
            min_ex,
            max,
            max_ex,
        }),
        _ => Err(Reply::error_static(RANGE_NOT_FLOAT)),
    }
}

/// One end of a lexicographic range: `-` (before everything), `+` (after everything), or a
/// member prefixed by `[` (inclusive) or `(` (exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Bytes),
    Excl(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Option<LexBound> {
        // `+` and `-` are compared as C strings: "+\0junk" is `+`.
        let alone = arg.len() == 1 || arg.get(1) == Some(&0);
        match arg.first()? {
            b'+' if alone => Some(LexBound::Max),
            b'-' if alone => Some(LexBound::Min),
            b'[' => Some(LexBound::Incl(arg.slice(1..))),
            b'(' => Some(LexBound::Excl(arg.slice(1..))),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Incl(_))
    }

    /// Redis's `sdscmplex` of a member against this bound.
    fn cmp_member(&self, member: &[u8]) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match self {
            LexBound::Min => Greater,
            LexBound::Max => Less,
            LexBound::Incl(b) | LexBound::Excl(b) => member.cmp(b),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, Reply> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Reply::error_static(RANGE_NOT_LEX)),
        }
    }

    pub fn gte_min(&self, member: &[u8]) -> bool {
        let ord = self.min.cmp_member(member);
        if self.min.exclusive() {
            ord.is_gt()
        } else {
            ord.is_ge()
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        let ord = self.max.cmp_member(member);
        if self.max.exclusive() {
            ord.is_lt()
        } else {
            ord.is_le()
        }
    }

    /// Ranges that are empty whatever the set holds (min above max, or equal ends with one
    /// excluded; `- -` and `+ +` count as equal and excluded).
    pub fn always_empty(&self) -> bool {
        use std::cmp::Ordering::*;
        let cmp = match (&self.min, &self.max) {
            (LexBound::Min, LexBound::Min) | (LexBound::Max, LexBound::Max) => Equal,
            (LexBound::Min, _) | (_, LexBound::Max) => Less,
            (LexBound::Max, _) | (_, LexBound::Min) => Greater,
            (LexBound::Incl(a) | LexBound::Excl(a), LexBound::Incl(b) | LexBound::Excl(b)) => {
                a.cmp(b)
            }
        };
        cmp == Greater || (cmp == Equal && (self.min.exclusive() || self.max.exclusive()))
    }
}

// ---------------------------------------------------------------------------------------------
// Blocking timeouts

/// A blocking command's timeout in seconds, as Redis reads it: `strtold` (string2ld rules),
/// then `(long long) ceill(t * 1000.0)` in x87 arithmetic; the result is milliseconds, 0 for
/// "wait forever". A product beyond `i64` converts to `i64::MIN` (the x87 "integer
/// indefinite"), so huge timeouts are "negative", exactly as on Redis.
pub fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let value = long_double::parse(arg).ok_or_else(|| Reply::error_static(TIMEOUT_NOT_FLOAT))?;
    let ms = match value {
        LongDouble::Inf { .. } => i64::MIN,
        LongDouble::Finite { neg, mant, exp } => ceil_times_1000(neg, mant, exp),
    };
    u64::try_from(ms).map_err(|_| Reply::error_static(TIMEOUT_NEGATIVE))
}

/// `(long long) ceill(±mant × 2^exp × 1000)` with the product rounded to 64 significant bits.
fn ceil_times_1000(neg: bool, mant: u64, exp: i32) -> i64 {
    if mant == 0 {
        return 0;
    }
    // The exact product has at most 74 bits; round it to 64, nearest-even.
    let p = u128::from(mant) * 1000;
    let bits = 128 - p.leading_zeros() as i32;
    let (mut q, mut e) = (p, exp);
    if bits > 64 {
        let shift = (bits - 64) as u32;
        let rem = p & ((1u128 << shift) - 1);
        let half = 1u128 << (shift - 1);
        q = p >> shift;
        if rem > half || (rem == half && q & 1 == 1) {
            q += 1;
        }
        e += shift as i32;
    }
    // value = ±q × 2^e; anything at or above 2^63 in magnitude is "integer indefinite".
    let magnitude_bits = 128 - q.leading_zeros() as i32 + e;
    if magnitude_bits > 63 {
        return i64::MIN;
    }
    let (int, frac) = if e >= 0 {
        (q << e, 0)
    } else if -e >= 128 {
        (0, q)
    } else {
        (q >> -e, q & ((1u128 << -e) - 1))
    };
    let int = int as i64;
    if neg {
        -int // ceil of a negative number truncates toward zero
    } else {
        int + i64::from(frac != 0)
    }
}

// ---------------------------------------------------------------------------------------------
// Score text

/// How a listpack stores a score (Redis's `d2string`), which ZSCAN returns for the compact
/// form: integers below 2^62 as integers, -0 as "-0", others as `%.17g`.
pub fn d2string(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // double2ll: |value| ≤ 2^62 and integral.
    let bound = (i64::MAX / 2) as f64;
    if value.is_finite() && value >= -bound && value <= bound && value.fract() == 0.0 {
        return itoa::Buffer::new().format(value as i64).to_owned();
    }
    cairn_resp::format_double(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> Option<f64> {
        string2d(s.as_bytes())
    }

    #[test]
    fn string2d_takes_what_strtod_takes_whole() {
        assert_eq!(full("1.5"), Some(1.5));
        assert_eq!(full("0x10"), Some(16.0));
        assert_eq!(full("0x1.8p1"), Some(3.0));
        assert_eq!(full("-0x.8"), Some(-0.5));
        assert_eq!(full("+inf"), Some(f64::INFINITY));
        assert_eq!(full("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(full("1e308"), Some(1e308));
        assert_eq!(full(".5"), Some(0.5));
        assert_eq!(full("5."), Some(5.0));
        assert_eq!(full("0e-400"), Some(0.0));
        assert_eq!(full("4.9e-324"), Some(f64::from_bits(1)));
        for bad in [
            "",
            " 1",
            "1 ",
            "1e",
            "1e+",
            "abc",
            "nan",
            "-nan",
            "1e400",
            "1e-400",
            "0x",
            "0x1p",
            "inf1",
            "1\0",
            ".",
            "-",
            "0x1p99999",
        ] {
            assert_eq!(full(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_floats_round_to_nearest_even() {
        assert_eq!(full("0x1.fffffffffffff8p0"), Some(2.0));
        assert_eq!(
            full("0x1.fffffffffffff7ffp0"),
            Some(f64::from_bits(0x3fff_ffff_ffff_ffff))
        );
        assert_eq!(full("0x1.00000000000008p0"), Some(1.0));
        assert_eq!(full("0x1.000000000000080001p0"), Some(1.0 + f64::EPSILON));
        assert_eq!(full("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(full("0x1p-1022"), Some(f64::MIN_POSITIVE));
        assert_eq!(full("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(full("0x1p1024"), None);
        assert_eq!(full("0x1p-1076"), None, "below half the smallest subnormal");
        assert_eq!(full("0x1.8p-1075"), Some(f64::from_bits(1)));
    }

    #[test]
    fn range_bounds_read_c_strings() {
        let r = score_range(b"(1", b"+inf").unwrap();
        assert_eq!(
            (r.min, r.min_ex, r.max, r.max_ex),
            (1.0, true, f64::INFINITY, false)
        );
        let r = score_range(b"", b"(").unwrap();
        assert_eq!((r.min, r.max, r.max_ex), (0.0, 0.0, true));
        assert!(score_range(b" 1", b"2\0junk").is_ok());
        assert!(score_range(b"1e400", b"-1e-400").is_ok(), "no ERANGE check");
        for bad in ["1 ", "nan", "(nan", "x", " "] {
            assert!(score_range(bad.as_bytes(), b"1").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn lex_ranges_order_their_ends() {
        let r = |a: &'static str, b: &'static str| {
            LexRange::parse(&Bytes::from(a), &Bytes::from(b)).unwrap()
        };
        assert!(r("-", "-").always_empty());
        assert!(r("+", "+").always_empty());
        assert!(r("+", "-").always_empty());
        assert!(!r("-", "+").always_empty());
        assert!(r("(a", "[a").always_empty());
        assert!(!r("[a", "[a").always_empty());
        assert!(r("[b", "[a").always_empty());
        assert!(r("[a", "(b").gte_min(b"a") && !r("(a", "(b").gte_min(b"a"));
        assert!(r("-", "+\0x").lte_max(b"zzz"));
        assert!(LexRange::parse(&Bytes::from("a"), &Bytes::from("+")).is_err());
        assert!(LexRange::parse(&Bytes::from("+x"), &Bytes::from("+")).is_err());
        assert!(LexRange::parse(&Bytes::from(""), &Bytes::from("+")).is_err());
    }

    #[test]
    fn timeouts_follow_x87_arithmetic() {
        let t = |s: &str| timeout_ms(s.as_bytes());
        assert_eq!(t("0"), Ok(0));
        assert_eq!(t("1"), Ok(1000));
        assert_eq!(t("0.0011"), Ok(2));
        assert_eq!(t("-0.0001"), Ok(0));
        // -0.001 as a long double is just above -0.001: ceil gives -0.
        assert_eq!(t("-0.001"), Ok(0));
        assert_eq!(t("0x10"), Ok(16000));
        assert_eq!(t("9223372036854775.807"), Ok(9_223_372_036_854_775_807));
        for negative in [
            "-1",
            "-0.002",
            "inf",
            "1e300",
            "1e400",
            "9223372036854775807",
        ] {
            assert_eq!(
                t(negative),
                Err(Reply::error_static(TIMEOUT_NEGATIVE)),
                "{negative}"
            );
        }
        for bad in ["abc", "", " 1", "1e5000", "nan"] {
            assert_eq!(t(bad), Err(Reply::error_static(TIMEOUT_NOT_FLOAT)), "{bad}");
        }
    }

    #[test]
    fn listpack_scores_print_like_d2string() {
        assert_eq!(d2string(1.0), "1");
        assert_eq!(d2string(-0.0), "-0");
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(1e17), "100000000000000000");
        assert_eq!(d2string(1e19), "1e+19");
        assert_eq!(d2string(f64::NEG_INFINITY), "-inf");
        assert_eq!(d2string(0.1), "0.10000000000000001");
    }
}
