//! JSON documents (the `ReJSON-RL` type of RedisJSON 2.x, which Upstash serves as JSON.*).
//!
//! A document is a tree of [`Json`] values. Objects keep their keys in insertion order (a
//! vector of pairs: lookups are linear, which suits the small objects documents are made of;
//! a replaced key keeps its place, a new key goes last). Numbers are integers (`i64`) or
//! floats (`f64`) as they were written: `1` stays an integer, `1.0` stays a float, and floats
//! print as RedisJSON prints them (the shortest text that reads back, with a `.0` when whole).
//!
//! The text parser follows JSON (RFC 8259) as serde_json reads it, with its error texts and a
//! nesting limit of 128; a number too large for `i64` reads as a float. JSONPath lives in
//! `json/path.rs`.
//!
//! Snapshot form: `u32 len, compact JSON text`. The compact text round-trips exactly (floats
//! print their shortest round-trip form), so a restored document equals the original.
//!
//! Sections: the value, parsing, printing, snapshot.

pub mod path;

use crate::snapshot::{Reader, SnapshotError};

/// The deepest nesting a JSON argument may have (serde_json's recursion limit, which
/// RedisJSON keeps).
pub const DEPTH_MAX: usize = 128;

/// The deepest nesting a stored document may reach by values set inside values: writes that
/// would go deeper are refused, so that every recursive walk of a document (printing, path
/// matching, comparing, dropping) stays far from the stack's end.
pub const DOC_DEPTH_MAX: usize = 1024;

// ---------------------------------------------------------------------------------------------
// The value

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The name JSON.TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) => "integer",
            Json::Float(_) => "number",
            Json::Str(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The child at position `index` (an array element, or an object's `index`-th value).
    pub fn child(&self, index: usize) -> Option<&Json> {
        match self {
            Json::Array(items) => items.get(index),
            Json::Object(pairs) => pairs.get(index).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn child_mut(&mut self, index: usize) -> Option<&mut Json> {
        match self {
            Json::Array(items) => items.get_mut(index),
            Json::Object(pairs) => pairs.get_mut(index).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a concrete path of child positions.
    pub fn at_mut(&mut self, path: &[usize]) -> Option<&mut Json> {
        let mut node = self;
        for &index in path {
            node = node.child_mut(index)?;
        }
        Some(node)
    }

    pub fn at(&self, path: &[usize]) -> Option<&Json> {
        let mut node = self;
        for &index in path {
            node = node.child(index)?;
        }
        Some(node)
    }

    /// Sets `key` in an object: in place when present, last otherwise.
    pub fn insert(pairs: &mut Vec<(String, Json)>, key: &str, value: Json) {
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => pairs.push((key.to_owned(), value)),
        }
    }

    /// Equality as JSON.ARRINDEX and filters see it: numbers by value (an integer equals the
    /// float of the same value only when both are the same kind, as RedisJSON), objects
    /// whatever their key order.
    pub fn same(&self, other: &Json) -> bool {
        match (self, other) {
            (Json::Array(a), Json::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Json::Object(a), Json::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| other.get(k).is_some_and(|w| v.same(w)))
                    && b.iter().all(|(k, _)| self.get(k).is_some())
            }
            _ => self == other,
        }
    }

    /// Bytes held on the heap (an estimate for MEMORY USAGE and INFO).
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<Json>();
        match self {
            Json::Str(s) => s.capacity(),
            Json::Array(items) => {
                items.capacity() * slot + items.iter().map(Json::heap_bytes).sum::<usize>()
            }
            Json::Object(pairs) => {
                pairs.capacity() * std::mem::size_of::<(String, Json)>()
                    + pairs
                        .iter()
                        .map(|(k, v)| k.capacity() + v.heap_bytes())
                        .sum::<usize>()
            }
            _ => 0,
        }
    }

    /// Levels of nesting: 0 for a scalar or an empty container.
    pub fn depth(&self) -> usize {
        match self {
            Json::Array(items) if !items.is_empty() => {
                1 + items.iter().map(Json::depth).max().unwrap_or(0)
            }
            Json::Object(pairs) if !pairs.is_empty() => {
                1 + pairs.iter().map(|(_, v)| v.depth()).max().unwrap_or(0)
            }
            _ => 0,
        }
    }

    /// Values in the tree (for the size OBJECT and MEMORY report).
    pub fn len(&self) -> usize {
        match self {
            Json::Array(items) => 1 + items.iter().map(Json::len).sum::<usize>(),
            Json::Object(pairs) => 1 + pairs.iter().map(|(_, v)| v.len()).sum::<usize>(),
            _ => 1,
        }
    }

    /// A document is never empty: it holds at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// OBJECT ENCODING of a module type, as Redis answers for every module value.
    pub fn encoding(&self) -> &'static str {
        "raw"
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A parse error in serde_json's words: `"<what> at line L column C"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth_max: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ParseError {
        let upto = &self.text[..self.pos.min(self.text.len())];
        let line = 1 + upto.iter().filter(|&&b| b == b'\n').count();
        let start = upto.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let column = self.pos.min(self.text.len()) - start;
        ParseError(format!("{what} at line {line} column {column}"))
    }

    /// The error at the byte just read (serde_json counts the offending byte's column).
    fn error_here(&mut self, what: &str) -> ParseError {
        self.pos += 1;
        self.error(what)
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Json, ParseError> {
        self.skip_space();
        let Some(b) = self.peek() else {
            return Err(self.error("EOF while parsing a value"));
        };
        match b {
            b'n' => self.word("null", Json::Null),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'"' => {
                self.pos += 1;
                Ok(Json::Str(self.string()?))
            }
            b'-' | b'0'..=b'9' => self.number(),
            b'[' | b'{' if depth >= self.depth_max => {
                Err(self.error_here("recursion limit exceeded"))
            }
            b'[' => {
                self.pos += 1;
                self.array(depth + 1)
            }
            b'{' => {
                self.pos += 1;
                self.object(depth + 1)
            }
            _ => Err(self.error_here("expected value")),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, ParseError> {
        for &expected in word.as_bytes() {
            match self.peek() {
                None => return Err(self.error("EOF while parsing a value")),
                Some(b) if b == expected => self.pos += 1,
                Some(_) => return Err(self.error_here("expected ident")),
            }
        }
        Ok(value)
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.pos += 1;
                }
            }
            None => return Err(self.error("EOF while parsing a value")),
            Some(_) => return Err(self.error_here("invalid number")),
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error_here("invalid number"));
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).expect("ASCII");
        if !float && let Ok(i) = text.parse::<i64>() {
            return Ok(Json::Int(i));
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Json::Float(f)),
            _ => Err(self.error("number out of range")),
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let mut v = 0;
        for _ in 0..4 {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            let digit = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error_here("invalid escape"))?;
            self.pos += 1;
            v = v * 16 + digit;
        }
        Ok(v)
    }

    /// A string's contents after its opening quote.
    fn string(&mut self) -> Result<String, ParseError> {
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("EOF while parsing a string"));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("EOF while parsing a string"));
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => {
                    return Err(self.error(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
                _ => out.push(b),
            }
        }
        let mut s = String::from_utf8(out).map_err(|_| self.error("invalid unicode code point"))?;
        s.shrink_to_fit();
        Ok(s)
    }

    fn unicode_escape(&mut self) -> Result<char, ParseError> {
        let high = self.hex4()?;
        if (0xDC00..0xE000).contains(&high) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high).ok_or_else(|| self.error("invalid unicode code point"));
        }
        if self.text.get(self.pos..self.pos + 2) != Some(b"\\u") {
            return Err(self.error("unexpected end of hex escape"));
        }
        self.pos += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return Err(self.error("lone leading surrogate in hex escape"));
        }
        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        char::from_u32(c).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn array(&mut self, depth: usize) -> Result<Json, ParseError> {
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        return Err(self.error_here("trailing comma"));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    // Documents are mostly read: hold no spare capacity.
                    items.shrink_to_fit();
                    return Ok(Json::Array(items));
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error_here("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, ParseError> {
        let mut pairs: Vec<(String, Json)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(pairs));
        }
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'"') => self.pos += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error_here("key must be a string")),
            }
            let key = self.string()?;
            self.skip_space();
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error_here("expected `:`")),
            }
            let value = self.value(depth)?;
            pairs.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_space();
                    if self.peek() == Some(b'}') {
                        return Err(self.error_here("trailing comma"));
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    dedupe_keys(&mut pairs);
                    pairs.shrink_to_fit();
                    return Ok(Json::Object(pairs));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error_here("expected `,` or `}`")),
            }
        }
    }
}

/// A repeated key keeps the last value (serde_json's map), in the first one's place; in
/// O(n log n), so that a huge object costs no more than sorting its keys.
fn dedupe_keys(pairs: &mut Vec<(String, Json)>) {
    if pairs.len() < 2 {
        return;
    }
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| pairs[a].0.cmp(&pairs[b].0).then(a.cmp(&b)));
    let mut drop = vec![false; pairs.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && pairs[order[end]].0 == pairs[order[start]].0 {
            end += 1;
        }
        if end - start > 1 {
            let (first, last) = (order[start], order[end - 1]);
            let value = std::mem::replace(&mut pairs[last].1, Json::Null);
            pairs[first].1 = value;
            for &i in &order[start + 1..end] {
                drop[i] = true;
            }
        }
        start = end;
    }
    if drop.contains(&true) {
        let mut i = 0;
        pairs.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
    }
}

/// Parses one JSON text (surrounding whitespace allowed, nothing else after it).
pub fn parse(text: &[u8]) -> Result<Json, ParseError> {
    parse_within(text, DEPTH_MAX)
}

fn parse_within(text: &[u8], depth_max: usize) -> Result<Json, ParseError> {
    let mut p = Parser {
        text,
        pos: 0,
        depth_max,
    };
    let value = p.value(0)?;
    p.skip_space();
    if p.pos < text.len() {
        p.pos += 1;
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Printing

/// JSON.GET's INDENT, NEWLINE and SPACE strings (none: compact output).
#[derive(Clone, Copy, Debug, Default)]
pub struct Format<'a> {
    pub indent: &'a [u8],
    pub newline: &'a [u8],
    pub space: &'a [u8],
}

/// A float as RedisJSON prints it: the shortest text that reads back, `.0` on whole values,
/// exponent notation outside 1e-5..1e16.
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    let mut buf = ryu::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn new_line(out: &mut Vec<u8>, format: &Format, depth: usize) {
    out.extend_from_slice(format.newline);
    for _ in 0..depth {
        out.extend_from_slice(format.indent);
    }
}

/// Appends `value` as JSON text in `format` (compact when the format is empty).
pub fn write(out: &mut Vec<u8>, value: &Json, format: &Format, depth: usize) {
    match value {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Json::Float(f) => write_float(out, *f),
        Json::Str(s) => write_string(out, s),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                new_line(out, format, depth + 1);
                write(out, item, format, depth + 1);
            }
            if !items.is_empty() {
                new_line(out, format, depth);
            }
            out.push(b']');
        }
        Json::Object(pairs) => {
            out.push(b'{');
            for (i, (key, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                new_line(out, format, depth + 1);
                write_string(out, key);
                out.push(b':');
                out.extend_from_slice(format.space);
                write(out, item, format, depth + 1);
            }
            if !pairs.is_empty() {
                new_line(out, format, depth);
            }
            out.push(b'}');
        }
    }
}

/// Writes a JSON array of `values` (JSONPath replies), in `format`.
pub fn write_list<'a>(
    out: &mut Vec<u8>,
    values: impl ExactSizeIterator<Item = &'a Json>,
    format: &Format,
    depth: usize,
) {
    let empty = values.len() == 0;
    out.push(b'[');
    for (i, item) in values.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        new_line(out, format, depth + 1);
        write(out, item, format, depth + 1);
    }
    if !empty {
        new_line(out, format, depth);
    }
    out.push(b']');
}

/// A JSON string literal for `text` (an object key in JSON.GET's multi-path reply).
pub fn write_key(out: &mut Vec<u8>, text: &str) {
    write_string(out, text);
}

pub fn to_text(value: &Json) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value, &Format::default(), 0);
    out
}

// ---------------------------------------------------------------------------------------------
// Snapshot

pub fn encode(value: &Json, out: &mut Vec<u8>) {
    let text = to_text(value);
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(&text);
}

pub fn decode(r: &mut Reader) -> Result<Json, SnapshotError> {
    // Stored documents may be nested deeper than an argument may.
    parse_within(r.bytes()?, DOC_DEPTH_MAX).map_err(|_| SnapshotError::Invalid("JSON document"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        String::from_utf8(to_text(&parse(text.as_bytes()).unwrap())).unwrap()
    }

    #[test]
    fn parses_and_prints_compactly_in_order() {
        assert_eq!(
            round(r#" { "b" : 1, "a" : [true, false, null, "x\n\u00e9"], "c": {} } "#),
            r#"{"b":1,"a":[true,false,null,"x\né"],"c":{}}"#
        );
        assert_eq!(round("1.0"), "1.0");
        assert_eq!(round("1e2"), "100.0");
        assert_eq!(round("-0"), "0");
        assert_eq!(round("12345678901234567890"), "1.2345678901234567e19");
        assert_eq!(round(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(round(r#"{"a":1,"a":2}"#), r#"{"a":2}"#);
        assert_eq!(
            round(r#"{"b":1,"a":2,"b":3,"c":4,"a":5}"#),
            r#"{"b":3,"a":5,"c":4}"#
        );
    }

    #[test]
    fn errors_in_serde_json_words() {
        let err = |t: &str| parse(t.as_bytes()).unwrap_err().0;
        assert_eq!(err(""), "EOF while parsing a value at line 1 column 0");
        assert_eq!(err("{a"), "key must be a string at line 1 column 2");
        assert_eq!(err("[1,]"), "trailing comma at line 1 column 4");
        assert_eq!(err("1 2"), "trailing characters at line 1 column 3");
        assert_eq!(err("nul"), "EOF while parsing a value at line 1 column 3");
        assert!(parse(&[b'['; 129]).is_err());
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        assert!(parse(deep.as_bytes()).is_err());
        assert_eq!(
            parse_within(deep.as_bytes(), DOC_DEPTH_MAX)
                .unwrap()
                .depth(),
            499
        );
    }

    #[test]
    fn snapshot_form_is_frozen() {
        let v = parse(br#"{ "a" : [1, 2.5, "x"] }"#).unwrap();
        let mut out = Vec::new();
        encode(&v, &mut out);
        assert_eq!(out, b"\x11\0\0\0{\"a\":[1,2.5,\"x\"]}");
        assert_eq!(decode(&mut Reader::new(&out)).unwrap(), v);
        // Snapshots before version 9 hold no JSON documents: a type 6 there is refused.
        let mut h = crate::testing::Harness::new();
        h.cmd("JSON.SET k $ 1");
        let mut bytes = h.engine.snapshot();
        assert!(crate::Engine::restore(&bytes, 16).is_ok());
        bytes[0] = 8;
        assert!(matches!(
            crate::Engine::restore(&bytes, 16),
            Err(SnapshotError::Type(6))
        ));
    }

    #[test]
    fn formats_with_indent_newline_space() {
        let v = parse(br#"{"a":[1,[]],"b":{}}"#).unwrap();
        let mut out = Vec::new();
        let f = Format {
            indent: b"\t",
            newline: b"\n",
            space: b" ",
        };
        write(&mut out, &v, &f, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"a\": [\n\t\t1,\n\t\t[]\n\t],\n\t\"b\": {}\n}"
        );
    }
}
