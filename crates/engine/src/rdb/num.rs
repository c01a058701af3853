//! Numbers as Redis writes them into RDB structures: which strings count as integers, which
//! doubles count as integers, and the text of the others (`%.17g`).

/// The integer `s` spells, if `s` is exactly how that integer prints: no sign but `-`, no
/// leading zeros, no `-0`, at most 20 bytes. Redis's `string2ll`/`lpStringToInt64`: the
/// strings Redis stores in integer encodings, because they convert back unchanged.
pub fn canonical_i64(s: &[u8]) -> Option<i64> {
    // 20 bytes hold "-9223372036854775808"; Redis refuses longer ones before parsing.
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let value: i64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(value).as_bytes() == s).then_some(value)
}

/// Decimal text of an integer.
pub fn int_text(value: i64) -> Vec<u8> {
    itoa::Buffer::new().format(value).as_bytes().to_vec()
}

/// The integer a double holds exactly, if it is within ±2^62 (Redis's `double2ll`, whose
/// range keeps the conversion safe). -0.0 counts as 0.
pub fn double_to_i64(value: f64) -> Option<i64> {
    // i64::MAX / 2 as a double is 2^62 exactly.
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&value) {
        return None; // also NaN
    }
    let int = value as i64;
    (int as f64 == value).then_some(int)
}

/// A score as text the way Redis's `d2string` writes one that is not an integer: `inf`,
/// `-inf`, `nan`, or C's `%.17g`.
pub fn score_text(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value < 0.0 { "-inf" } else { "inf" }.to_string()
    } else {
        format_g17(value)
    }
}

/// C's `printf("%.17g")` of a finite double: 17 significant digits, trailing zeros removed,
/// scientific notation (`e+XX`, at least two exponent digits) when the exponent is below -4
/// or at least 17.
pub fn format_g17(value: f64) -> String {
    debug_assert!(value.is_finite());
    // Rust's `{:.16e}` rounds to 17 significant digits exactly as glibc does (the exact
    // decimal value, ties to even); only the layout differs.
    let sci = format!("{value:.16e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if !(-4..17).contains(&exponent) {
        let fraction = digits[1..].trim_end_matches('0');
        out.push_str(&digits[..1]);
        if !fraction.is_empty() {
            out.push('.');
            out.push_str(fraction);
        }
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        out.push_str(&format!("e{exp_sign}{:02}", exponent.unsigned_abs()));
    } else if exponent >= 0 {
        let point = exponent as usize + 1;
        out.push_str(&digits[..point]);
        let fraction = digits[point..].trim_end_matches('0');
        if !fraction.is_empty() {
            out.push('.');
            out.push_str(fraction);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// A double written as text (a listpack score, an old-style zset score): what C's `strtod`
/// would read from Redis's own output. Anything else is `None`.
pub fn parse_double(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_integers() {
        for (text, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("127", Some(127)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("007", None),
            ("+5", None),
            (" 5", None),
            ("5 ", None),
            ("", None),
            ("-", None),
            ("1.0", None),
            ("00000000000000000000001", None),
        ] {
            assert_eq!(canonical_i64(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn doubles_as_integers() {
        assert_eq!(double_to_i64(3.0), Some(3));
        assert_eq!(double_to_i64(-0.0), Some(0));
        assert_eq!(double_to_i64(1.5), None);
        assert_eq!(double_to_i64(f64::NAN), None);
        assert_eq!(double_to_i64(f64::INFINITY), None);
        assert_eq!(double_to_i64(4611686018427387904.0), Some(1 << 62));
        assert_eq!(double_to_i64(4611686018427387904.0 * 2.0), None);
        assert_eq!(double_to_i64(-4611686018427387904.0), Some(-(1 << 62)));
    }

    #[test]
    fn g17_matches_c() {
        // Expected texts are glibc's printf("%.17g").
        for (value, want) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (1e300, "1.0000000000000001e+300"),
            (1.5e-7, "1.4999999999999999e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (12345678901234567.0, "12345678901234568"),
            (2f64.powi(63), "9.2233720368547758e+18"),
            // Exactly halfway at the 17th digit: ties go to the even digit, as in glibc.
            (1e15 + 0.25, "1000000000000000.2"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (3.0, "3"),
        ] {
            assert_eq!(format_g17(value), want, "{value:e}");
            assert_eq!(parse_double(want.as_bytes()), Some(value));
        }
        assert_eq!(score_text(f64::INFINITY), "inf");
        assert_eq!(score_text(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn parses_redis_double_texts() {
        assert_eq!(parse_double(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_double(b"12"), Some(12.0));
        assert_eq!(parse_double(b"1.5e+20"), Some(1.5e20));
        assert_eq!(parse_double(b"abc"), None);
        assert_eq!(parse_double(b"\xff"), None);
    }
}
