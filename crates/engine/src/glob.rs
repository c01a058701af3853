//! Redis glob-style pattern matching over bytes (KEYS, SCAN MATCH, and later PSUBSCRIBE and
//! ACL key patterns), with the exact semantics of Redis 7.0's `stringmatchlen`:
//!
//! - `*` any run of bytes, `?` one byte, `\x` the byte `x` literally;
//! - `[abc]`, `[^abc]`, `[a-z]` (a reversed range `[z-a]` is the same range), `\` escapes
//!   inside brackets; an unterminated `[` ends at the end of the pattern;
//! - `nocase` folds ASCII letters only (Redis runs in the C locale);
//! - range bounds compare as *signed* chars, as Redis does on x86: a byte >= 0x80 sorts
//!   below `'\0'`.
//!
//! Redis matches recursively, one level per `*`, and since 7.0 (CVE-2022-36021) stops as soon
//! as the text after a `*` matched nowhere in the rest of the subject (`skipLongerMatches`):
//! giving an earlier `*` a longer match cannot help then. With that rule only the most recent
//! `*` is ever retried, so this implementation keeps one backtrack point instead of recursing:
//! same answers, O(pattern × subject) time, constant stack, and therefore no need for the
//! nesting limit later Redis versions added against deep recursion.

/// True if `subject` matches `pattern`.
pub fn matches(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let (mut p, mut s) = (0, 0);
    // The most recent `*`: where the pattern resumes after it, and the subject position it
    // was last tried at.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if attempt(pattern, subject, nocase, &mut p, &mut s, &mut star) {
            return true;
        }
        // Give the last `*` one more byte. Redis tries only non-empty rests of the subject.
        match star {
            Some((resume, tried)) if tried + 1 < subject.len() => {
                star = Some((resume, tried + 1));
                (p, s) = (resume, tried + 1);
            }
            _ => return false,
        }
    }
}

/// Matches from (`p`, `s`) until success or the first mismatch, recording each `*` it
/// passes in `star`. One pass of Redis's `while(patternLen && stringLen)` loop.
fn attempt(
    pattern: &[u8],
    subject: &[u8],
    nocase: bool,
    p: &mut usize,
    s: &mut usize,
    star: &mut Option<(usize, usize)>,
) -> bool {
    while *p < pattern.len() && *s < subject.len() {
        match pattern[*p] {
            b'*' => {
                while pattern.get(*p + 1) == Some(&b'*') {
                    *p += 1;
                }
                if *p + 1 == pattern.len() {
                    return true;
                }
                *p += 1;
                *star = Some((*p, *s));
                continue;
            }
            b'?' => {}
            b'[' => {
                if !bracket(pattern, p, subject[*s], nocase) {
                    return false;
                }
            }
            c => {
                let c = if c == b'\\' && pattern.len() - *p >= 2 {
                    *p += 1;
                    pattern[*p]
                } else {
                    c
                };
                if !same(c, subject[*s], nocase) {
                    return false;
                }
            }
        }
        *s += 1;
        *p += 1;
        if *s == subject.len() {
            // Trailing stars match the empty rest.
            while pattern.get(*p) == Some(&b'*') {
                *p += 1;
            }
            break;
        }
    }
    *p == pattern.len() && *s == subject.len()
}

fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// A byte as C's signed `char` (x86), lowercased if `nocase`: how Redis compares ranges.
fn signed(c: u8, nocase: bool) -> i32 {
    let c = if nocase { c.to_ascii_lowercase() } else { c };
    i32::from(c as i8)
}

/// Matches `c` against the class starting at `pattern[*p] == b'['`; leaves `*p` on its last
/// byte (the `]`, or the pattern's last byte when the class is unterminated).
fn bracket(pattern: &[u8], p: &mut usize, c: u8, nocase: bool) -> bool {
    let len = pattern.len();
    *p += 1;
    let not = pattern.get(*p) == Some(&b'^');
    if not {
        *p += 1;
    }
    let mut matched = false;
    loop {
        let left = len - *p;
        match pattern.get(*p) {
            Some(b'\\') if left >= 2 => {
                *p += 1;
                // Redis compares an escaped byte exactly, even with `nocase`.
                matched |= pattern[*p] == c;
            }
            Some(b']') => break,
            None => {
                // Unterminated: stay on the last byte so the caller's step ends the pattern.
                *p -= 1;
                break;
            }
            Some(&start) if left >= 3 && pattern[*p + 1] == b'-' => {
                let (a, b) = (signed(start, nocase), signed(pattern[*p + 2], nocase));
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                matched |= (lo..=hi).contains(&signed(c, nocase));
                *p += 2;
            }
            Some(&literal) => matched |= same(literal, c, nocase),
        }
        *p += 1;
    }
    matched != not
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Redis 7.0.15's `stringmatchlen_impl`, transliterated (recursion and all) as the model.
    /// Reads past the end see `\0`, as they do in Redis's NUL-terminated sds strings.
    fn reference(pat: &[u8], string: &[u8], nocase: bool) -> bool {
        let mut skip = false;
        reference_at(pat, 0, string, 0, nocase, &mut skip)
    }

    fn at(b: &[u8], i: usize) -> u8 {
        b.get(i).copied().unwrap_or(0)
    }

    fn reference_at(
        pat: &[u8],
        mut p: usize,
        s: &[u8],
        mut i: usize,
        nc: bool,
        skip: &mut bool,
    ) -> bool {
        let (mut plen, mut slen) = (pat.len() - p, s.len() - i);
        while plen > 0 && slen > 0 {
            match pat[p] {
                b'*' => {
                    while plen > 0 && at(pat, p + 1) == b'*' {
                        p += 1;
                        plen -= 1;
                    }
                    if plen == 1 {
                        return true;
                    }
                    while slen > 0 {
                        if reference_at(pat, p + 1, s, i, nc, skip) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        i += 1;
                        slen -= 1;
                    }
                    *skip = true;
                    return false;
                }
                b'?' => {}
                b'[' => {
                    if !reference_bracket(pat, &mut p, &mut plen, s[i], nc) {
                        return false;
                    }
                }
                c => {
                    let c = if c == b'\\' && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        pat[p]
                    } else {
                        c
                    };
                    if !same(c, s[i], nc) {
                        return false;
                    }
                }
            }
            i += 1;
            slen -= 1;
            p += 1;
            plen -= 1;
            if slen == 0 {
                while at(pat, p) == b'*' {
                    p += 1;
                    plen -= 1;
                }
                break;
            }
        }
        plen == 0 && slen == 0
    }

    /// The `case '['` of `stringmatchlen_impl`.
    fn reference_bracket(pat: &[u8], p: &mut usize, plen: &mut usize, c: u8, nc: bool) -> bool {
        *p += 1;
        *plen -= 1;
        let not = at(pat, *p) == b'^';
        if not {
            *p += 1;
            *plen -= 1;
        }
        let mut m = false;
        loop {
            if at(pat, *p) == b'\\' && *plen >= 2 {
                *p += 1;
                *plen -= 1;
                m |= pat[*p] == c;
            } else if at(pat, *p) == b']' {
                break;
            } else if *plen == 0 {
                *p -= 1;
                *plen += 1;
                break;
            } else if *plen >= 3 && pat[*p + 1] == b'-' {
                let (mut lo, mut hi) = (signed(pat[*p], nc), signed(pat[*p + 2], nc));
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                *p += 2;
                *plen -= 2;
                m |= signed(c, nc) >= lo && signed(c, nc) <= hi;
            } else {
                m |= same(pat[*p], c, nc);
            }
            *p += 1;
            *plen -= 1;
        }
        m != not
    }

    fn yes(pattern: &str, subject: &str) {
        assert!(
            matches(pattern.as_bytes(), subject.as_bytes(), false),
            "{pattern:?} ~ {subject:?}"
        );
    }

    fn no(pattern: &str, subject: &str) {
        assert!(
            !matches(pattern.as_bytes(), subject.as_bytes(), false),
            "{pattern:?} !~ {subject:?}"
        );
    }

    #[test]
    fn wildcards() {
        yes("*", "anything");
        yes("h?llo", "hello");
        yes("h*llo", "hllo");
        yes("h*llo", "heeeello");
        yes("a*b*c", "aXbYc");
        yes("a**", "a");
        yes("*a*", "a");
        no("h?llo", "hllo");
        no("a*b", "acbd");
        yes("", "");
        no("", "a");
        // Redis never matches a `*` against an empty subject (KEYS * and SCAN MATCH * only
        // return the empty key because they skip matching for the pattern "*").
        no("*", "");
        no("**", "");
        no("?", "");
    }

    #[test]
    fn classes() {
        yes("h[ae]llo", "hallo");
        no("h[ae]llo", "hillo");
        yes("h[^e]llo", "hallo");
        no("h[^e]llo", "hello");
        yes("h[a-b]llo", "hbllo");
        yes("h[b-a]llo", "hallo"); // reversed ranges are ranges
        no("h[a-b]llo", "hcllo");
        yes("[\\]]", "]");
        yes("[a-]", "]"); // `-` then `]` is the range a..] (`]` < `a`), and the class is unterminated
        no("[", "["); // `[` followed by nothing: an empty class, which matches nothing
    }

    #[test]
    fn unterminated_classes_follow_redis() {
        assert!(!matches(b"[", b"a", false));
        assert!(matches(b"[^", b"a", false)); // the negated empty class matches any byte
        assert!(matches(b"[ab", b"b", false));
        assert!(!matches(b"[ab", b"bb", false));
    }

    #[test]
    fn escapes() {
        yes("\\*", "*");
        no("\\*", "a");
        yes("a\\", "a\\"); // a trailing backslash is literal
        yes("\\?x", "?x");
    }

    #[test]
    fn nocase_folds_ascii_only() {
        assert!(matches(b"HeLLo", b"hello", true));
        assert!(matches(b"h[A-Z]llo", b"hello", true));
        assert!(!matches(b"HeLLo", b"hello", false));
        assert!(!matches(b"[\\E]", b"e", true)); // escaped bytes compare exactly
        assert!(!matches("É".as_bytes(), "é".as_bytes(), true));
    }

    #[test]
    fn high_bytes_compare_as_signed_chars() {
        // [a-\xff] is the signed range -1..=97: 0xff and ASCII up to 'a', not 0x80..0xfe.
        assert!(matches(b"[a-\xff]", b"\xff", false));
        assert!(matches(b"[a-\xff]", b"A", false));
        assert!(!matches(b"[a-\xff]", b"\x80", false));
        assert!(!matches(b"[a-\xff]", b"b", false));
        assert!(matches(b"[\x80-\x90]", b"\x85", false));
    }

    #[test]
    fn pathological_patterns_finish_quickly() {
        let subject = vec![b'a'; 10_000];
        assert!(!matches(b"a*a*a*a*a*a*a*a*a*a*a*a*b", &subject, false));
        let many_stars = b"*a".repeat(100_000);
        assert!(matches(&many_stars, &vec![b'a'; 100_000], false));
        assert!(!matches(
            &[many_stars.as_slice(), b"b"].concat(),
            &vec![b'a'; 100_001],
            false
        ));
    }

    #[test]
    fn cases_found_against_redis() {
        // Each was checked with Redis 7.0.15's KEYS. A one-off differential run (about 25,000
        // random patterns over the proptest alphabet against KEYS on a fixed set of keys) agreed
        // with `matches` on every pattern.
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"[a-]", b"]", true),
            (b"[", b"[", false),
            (b"[^", b"x", true),
            (b"[ab", b"b", true),
            (b"[ab", b"bb", false),
            (b"a[", b"a", false),
            (b"a\\", b"a\\", true),
            (b"[a-\xff]", b"\xff", true),
            (b"[a-\xff]", b"\x80", false),
            (b"[\x80-\x90]", b"\x85", true),
            (b"[\\]]", b"]", true),
            (b"\\?x", b"?x", true),
            (b"**", b"", false),
        ];
        for (pattern, subject, expected) in cases {
            assert_eq!(
                matches(pattern, subject, false),
                *expected,
                "{pattern:?} {subject:?}"
            );
        }
    }

    fn alphabet() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(prop::sample::select(b"ab*?[]^-\\A\x80\xff".to_vec()), 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn agrees_with_redis_recursion(pattern in alphabet(), subject in alphabet(), nocase: bool) {
            prop_assert_eq!(matches(&pattern, &subject, nocase), reference(&pattern, &subject, nocase));
        }
    }
}
