//! The REST API's two JSON directions, by hand:
//! - requests: a JSON array of scalars (`["SET","k",99.5]`) or of such arrays (`/pipeline`),
//!   turned into argument byte strings. A number keeps its source text (`99.5`, `1e+21`,
//!   `106242075399214372653`), which a parser into `f64` would change; `\uD83D\uDE00` escapes
//!   combine into real UTF-8; `true`/`false`/`null` become their own text.
//! - replies: a `Reply` as Upstash renders it (RESP2 semantics): doubles and maps become
//!   strings and flat arrays, never JSON floats or objects, and with `Upstash-Encoding: base64`
//!   every string except a top-level `OK` status is the base64 of its bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use cairn_resp::Reply;

// ---------------------------------------------------------------------------------------------
// Requests

/// Why a request body was refused; the text goes into `{"error": ...}`.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest(pub String);

fn bad(text: impl Into<String>) -> BadRequest {
    BadRequest(text.into())
}

/// One JSON value of a request: an argument, or (in a pipeline) a row of arguments.
enum Value {
    Arg(Bytes),
    Row(Vec<Bytes>),
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a [u8]) -> Parser<'a> {
        Parser { text, at: 0 }
    }

    fn skip_space(&mut self) {
        while self
            .text
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), BadRequest> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(bad(format!(
                "ERR failed to parse JSON body: expected '{}' at byte {}",
                c as char, self.at
            )))
        }
    }

    fn end(&mut self) -> Result<(), BadRequest> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(bad(format!(
                "ERR failed to parse JSON body: trailing characters at byte {}",
                self.at
            ))),
        }
    }

    /// An array, each element parsed by `item`.
    fn array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, BadRequest>,
    ) -> Result<Vec<T>, BadRequest> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(out);
                }
                _ => return Err(bad("ERR failed to parse JSON body: expected ',' or ']'")),
            }
        }
    }

    /// A scalar argument, or (when `rows`) an array of scalars.
    fn value(&mut self, rows: bool) -> Result<Value, BadRequest> {
        match self.peek() {
            Some(b'"') => self.string().map(Value::Arg),
            Some(b'[') if rows => self.array(|p| p.arg()).map(Value::Row),
            Some(b'[' | b'{') => Err(bad(
                "ERR nested arrays and objects are not allowed as command arguments",
            )),
            Some(b't') => self.word("true").map(Value::Arg),
            Some(b'f') => self.word("false").map(Value::Arg),
            Some(b'n') => self.word("null").map(Value::Arg),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Arg),
            Some(_) => Err(bad(format!(
                "ERR failed to parse JSON body: unexpected character at byte {}",
                self.at
            ))),
            None => Err(bad("ERR failed to parse JSON body: unexpected end")),
        }
    }

    fn arg(&mut self) -> Result<Bytes, BadRequest> {
        match self.value(false)? {
            Value::Arg(arg) => Ok(arg),
            Value::Row(_) => unreachable!("rows are not parsed here"),
        }
    }

    fn word(&mut self, word: &'static str) -> Result<Bytes, BadRequest> {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(Bytes::from_static(word.as_bytes()))
        } else {
            Err(bad(format!(
                "ERR failed to parse JSON body: unexpected word at byte {}",
                self.at
            )))
        }
    }

    /// A number, checked against JSON's grammar and kept as written.
    fn number(&mut self) -> Result<Bytes, BadRequest> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.text.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
            p.at > from
        };
        if self.text.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        if !digits(self) || (self.text[int_start] == b'0' && self.at - int_start > 1) {
            return Err(bad("ERR failed to parse JSON body: invalid number"));
        }
        if self.text.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(bad("ERR failed to parse JSON body: invalid number"));
            }
        }
        if matches!(self.text.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.text.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(bad("ERR failed to parse JSON body: invalid number"));
            }
        }
        Ok(Bytes::copy_from_slice(&self.text[start..self.at]))
    }

    fn hex4(&mut self) -> Result<u32, BadRequest> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| bad("ERR failed to parse JSON body: invalid \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }

    /// A string's bytes: UTF-8 as sent, escapes decoded; a surrogate pair is one character
    /// and a lone surrogate becomes U+FFFD (it has no UTF-8 form).
    fn string(&mut self) -> Result<Bytes, BadRequest> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let run = self.text[self.at..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .ok_or_else(|| bad("ERR failed to parse JSON body: unterminated string"))?;
            out.extend_from_slice(&self.text[self.at..self.at + run]);
            self.at += run;
            let c = self.text[self.at];
            self.at += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self
                        .text
                        .get(self.at)
                        .ok_or_else(|| bad("ERR failed to parse JSON body: unterminated string"))?;
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let ch = self.unicode_escape()?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(bad("ERR failed to parse JSON body: invalid escape")),
                    }
                }
                _ => {
                    return Err(bad(
                        "ERR failed to parse JSON body: control character in string",
                    ));
                }
            }
        }
        if std::str::from_utf8(&out).is_err() {
            return Err(bad("ERR failed to parse JSON body: invalid UTF-8"));
        }
        Ok(Bytes::from(out))
    }

    /// The character of a `\uXXXX` escape (after the `u`), with its low surrogate if any.
    fn unicode_escape(&mut self) -> Result<char, BadRequest> {
        let high = self.hex4()?;
        if (0xD800..0xDC00).contains(&high) && self.text[self.at..].starts_with(b"\\u") {
            let save = self.at;
            self.at += 2;
            let low = self.hex4()?;
            if (0xDC00..0xE000).contains(&low) {
                let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            self.at = save;
        }
        Ok(char::from_u32(high).unwrap_or('\u{FFFD}'))
    }
}

/// A single command: `["SET","k","v"]`.
pub fn parse_command(body: &[u8]) -> Result<Vec<Bytes>, BadRequest> {
    let mut p = Parser::new(body);
    if p.peek() != Some(b'[') {
        return Err(bad(
            "ERR the request body must be a JSON array: [\"CMD\", ...]",
        ));
    }
    let argv = p.array(|p| p.arg())?;
    p.end()?;
    if argv.is_empty() {
        return Err(bad("ERR the command array is empty"));
    }
    Ok(argv)
}

/// A pipeline or transaction: `[["SET","k","v"],["GET","k"]]`.
pub fn parse_rows(body: &[u8]) -> Result<Vec<Vec<Bytes>>, BadRequest> {
    let mut p = Parser::new(body);
    if p.peek() != Some(b'[') {
        return Err(bad(
            "ERR the request body must be a JSON array of commands: [[\"CMD\", ...], ...]",
        ));
    }
    let rows = p.array(|p| match p.value(true)? {
        Value::Row(row) => Ok(row),
        Value::Arg(_) => Err(bad(
            "ERR each command of a pipeline must be a JSON array: [\"CMD\", ...]",
        )),
    })?;
    p.end()?;
    if rows.iter().any(Vec::is_empty) {
        return Err(bad("ERR a command of the pipeline is an empty array"));
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Replies

/// How strings are written in a reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text; invalid sequences become U+FFFD.
    Text,
    /// `Upstash-Encoding: base64`: the base64 of the bytes.
    Base64,
}

/// Writes `reply` as a response envelope: `{"result": ...}` or `{"error": "..."}`.
pub fn envelope(reply: &Reply, encoding: Encoding, out: &mut Vec<u8>) {
    match reply {
        Reply::Error(text) => {
            out.extend_from_slice(b"{\"error\":");
            text_string(text, out);
            out.push(b'}');
        }
        Reply::Simple(s) if &s[..] == b"OK" => out.extend_from_slice(b"{\"result\":\"OK\"}"),
        _ => {
            out.extend_from_slice(b"{\"result\":");
            value(reply, encoding, out);
            out.push(b'}');
        }
    }
}

/// Writes a bare error envelope.
pub fn error_body(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 12);
    out.extend_from_slice(b"{\"error\":");
    text_string(text.as_bytes(), &mut out);
    out.push(b'}');
    out
}

/// The JSON form of a reply value (RESP2 semantics).
pub fn value(reply: &Reply, encoding: Encoding, out: &mut Vec<u8>) {
    match reply {
        Reply::Nil | Reply::NilArray => out.extend_from_slice(b"null"),
        Reply::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Reply::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
        Reply::Simple(s) | Reply::Bulk(s) | Reply::DoubleText(s) | Reply::Verbatim(_, s) => {
            string(s, encoding, out)
        }
        // An error inside an array has no documented form: its text, never encoded.
        Reply::Error(text) => text_string(text, out),
        Reply::Double(d) => string(cairn_resp::format_double(*d).as_bytes(), encoding, out),
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(item, encoding, out);
            }
            out.push(b']');
        }
        // As RESP2: an array of [stream, entries] arrays.
        Reply::MapOfPairs(pairs) => {
            out.push(b'[');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                value(k, encoding, out);
                out.push(b',');
                value(v, encoding, out);
                out.push(b']');
            }
            out.push(b']');
        }
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            out.push(b'[');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(k, encoding, out);
                out.push(b',');
                value(v, encoding, out);
            }
            out.push(b']');
        }
    }
}

fn string(bytes: &[u8], encoding: Encoding, out: &mut Vec<u8>) {
    match encoding {
        Encoding::Text => text_string(bytes, out),
        Encoding::Base64 => {
            out.push(b'"');
            let at = out.len();
            out.resize(at + bytes.len().div_ceil(3) * 4, 0);
            let n = BASE64
                .encode_slice(bytes, &mut out[at..])
                .expect("buffer sized for base64");
            out.truncate(at + n);
            out.push(b'"');
        }
    }
}

/// A JSON string of `bytes` as UTF-8, invalid sequences replaced by U+FFFD.
pub fn text_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        escape(chunk.valid(), out);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
}

fn escape(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let escaped: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 | 0x7f => {
                out.extend_from_slice(&bytes[from..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
                from = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[from..i]);
        out.extend_from_slice(escaped);
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(body: &str) -> Vec<String> {
        parse_command(body.as_bytes())
            .unwrap()
            .iter()
            .map(|a| String::from_utf8(a.to_vec()).unwrap())
            .collect()
    }

    fn json(reply: &Reply, encoding: Encoding) -> String {
        let mut out = Vec::new();
        envelope(reply, encoding, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_keep_their_source_text() {
        assert_eq!(
            args(r#"["ZADD","z",99.5,"m",100,1e+21,-0.5E-3,106242075399214372653]"#),
            [
                "ZADD",
                "z",
                "99.5",
                "m",
                "100",
                "1e+21",
                "-0.5E-3",
                "106242075399214372653"
            ]
        );
        assert!(parse_command(b"[\"SET\",01]").is_err());
        assert!(parse_command(b"[\"SET\",1.]").is_err());
        assert!(parse_command(b"[\"SET\",-]").is_err());
    }

    #[test]
    fn escapes_and_surrogate_pairs_decode_to_utf8() {
        assert_eq!(
            args(r#"["SET","e","\ud83d\ude00","a\"b\\c\/\n\t\u00e9"]"#),
            ["SET", "e", "😀", "a\"b\\c/\n\té"]
        );
        assert_eq!(args(r#"["X","\ud83d"]"#), ["X", "\u{FFFD}"]);
        assert_eq!(
            args(r#"["X", true, false, null ]"#),
            ["X", "true", "false", "null"]
        );
    }

    #[test]
    fn malformed_bodies_are_refused() {
        for body in [
            "",
            "{}",
            "[]",
            "\"GET\"",
            "[\"GET\",[\"x\"]]",
            "[\"GET\",{\"a\":1}]",
            "[\"GET\"",
            "[\"GET\",]",
            "[\"GET\"] x",
            "[\"a\u{1}\"]",
            "not json",
        ] {
            assert!(parse_command(body.as_bytes()).is_err(), "{body:?}");
        }
        assert!(parse_rows(b"[[]]").is_err());
        assert!(parse_rows(b"[\"GET\"]").is_err());
        assert!(parse_rows(b"[[\"GET\",[1]]]").is_err());
        assert_eq!(parse_rows(b" [ ] ").unwrap().len(), 0);
        assert_eq!(
            parse_rows(b"[[\"GET\",\"k\"],[\"PING\"]]").unwrap().len(),
            2
        );
    }

    #[test]
    fn replies_follow_resp2_semantics() {
        use Encoding::*;
        assert_eq!(json(&Reply::ok(), Base64), r#"{"result":"OK"}"#);
        assert_eq!(json(&Reply::simple("PONG"), Text), r#"{"result":"PONG"}"#);
        assert_eq!(
            json(&Reply::simple("PONG"), Base64),
            r#"{"result":"UE9ORw=="}"#
        );
        assert_eq!(json(&Reply::Nil, Base64), r#"{"result":null}"#);
        assert_eq!(json(&Reply::Int(-7), Base64), r#"{"result":-7}"#);
        assert_eq!(json(&Reply::Double(99.5), Text), r#"{"result":"99.5"}"#);
        assert_eq!(json(&Reply::Bool(true), Text), r#"{"result":1}"#);
        assert_eq!(
            json(&Reply::error_static("ERR x \"y\""), Base64),
            r#"{"error":"ERR x \"y\""}"#
        );
        let map = Reply::Map(vec![(Reply::bulk_copy(b"f"), Reply::bulk_copy(b"v"))]);
        assert_eq!(json(&map, Text), r#"{"result":["f","v"]}"#);
        let streams = Reply::MapOfPairs(vec![(Reply::bulk_copy(b"s"), Reply::Array(vec![]))]);
        assert_eq!(json(&streams, Text), r#"{"result":[["s",[]]]}"#);
        let nested = Reply::Array(vec![
            Reply::bulk_copy(b"m"),
            Reply::Array(vec![Reply::Nil, Reply::ok()]),
        ]);
        assert_eq!(
            json(&nested, Base64),
            r#"{"result":["bQ==",[null,"T0s="]]}"#
        );
        assert_eq!(
            json(&Reply::bulk_copy(b"\xff\"\n\x01"), Text),
            "{\"result\":\"\u{FFFD}\\\"\\n\\u0001\"}"
        );
        assert_eq!(
            json(&Reply::bulk_copy("😀".as_bytes()), Base64),
            r#"{"result":"8J+YgA=="}"#
        );
    }

    proptest::proptest! {
        /// Whatever the bytes, the parser answers (no panic), and a row of any strings, written
        /// with the reply encoder's escaping, parses back to the same bytes.
        #[test]
        fn parser_never_panics_and_round_trips(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            args in proptest::collection::vec(".*", 1..6),
        ) {
            let _ = parse_command(&junk);
            let _ = parse_rows(&junk);
            let mut body = b"[".to_vec();
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                text_string(arg.as_bytes(), &mut body);
            }
            body.push(b']');
            let parsed = parse_command(&body).unwrap();
            let parsed: Vec<&[u8]> = parsed.iter().map(|a| &a[..]).collect();
            let expected: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            proptest::prop_assert_eq!(parsed, expected);
        }
    }
}
