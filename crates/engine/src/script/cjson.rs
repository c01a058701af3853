//! The `cjson` library (lua-cjson 2.1 as Redis 7.0 ships it), in Rust: `encode`, `decode`,
//! `null` and the configuration functions. Numbers are written with `%.14g`, `/` is escaped,
//! an empty table is an object, sparse arrays and bad keys raise lua-cjson's errors.
//!
//! The configuration (`encode_max_depth`, …) lasts for one script invocation: a setting that
//! outlived it would be VM state the log does not carry.

use std::sync::{Arc, Mutex};

use mlua::{Lua, MultiValue, Table, Value};

use super::args::{self, one};

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub encode_max_depth: i64,
    pub decode_max_depth: i64,
    pub encode_invalid_numbers: u8,
    pub decode_invalid_numbers: bool,
    pub encode_number_precision: usize,
    pub encode_keep_buffer: bool,
    pub sparse_convert: bool,
    pub sparse_ratio: i64,
    pub sparse_safe: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            encode_number_precision: 14,
            encode_keep_buffer: true,
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
        }
    }
}

pub type Shared = Arc<Mutex<Config>>;

fn cfg(shared: &Shared) -> Config {
    *shared.lock().expect("cjson config")
}

// ---------------------------------------------------------------------------------------------
// Number formatting

/// C's `%.<precision>g`.
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("exponent digits");
    if exp < -4 || exp >= p as i32 {
        let mantissa = strip_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn encode_error(kind: &str, reason: &str) -> String {
    format!("Cannot serialise {kind}: {reason}")
}

fn append_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn append_number(out: &mut Vec<u8>, n: f64, c: &Config) -> Result<(), String> {
    if n.is_nan() || n.is_infinite() {
        match c.encode_invalid_numbers {
            0 => return Err(encode_error("number", "must not be NaN or Inf")),
            1 if n.is_nan() => {
                out.extend_from_slice(b"nan");
                return Ok(());
            }
            1 => {}
            _ => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
        }
    }
    out.extend_from_slice(format_g(n, c.encode_number_precision).as_bytes());
    Ok(())
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        _ => None,
    }
}

/// lua-cjson's `lua_array_length`: the array length, or `None` for an object.
fn array_length(t: &Table, c: &Config) -> Result<Option<usize>, String> {
    let mut max = 0f64;
    let mut items = 0i64;
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        match number_of(&k) {
            Some(k) if k != 0.0 && k.floor() == k && k >= 1.0 => {
                max = max.max(k);
                items += 1;
            }
            _ => return Ok(None),
        }
    }
    if c.sparse_ratio > 0 && max > (items * c.sparse_ratio) as f64 && max > c.sparse_safe as f64 {
        if !c.sparse_convert {
            return Err(encode_error("table", "excessively sparse array"));
        }
        return Ok(None);
    }
    Ok((max > 0.0).then_some(max as usize))
}

fn append_value(out: &mut Vec<u8>, v: &Value, depth: i64, c: &Config) -> Result<(), String> {
    match v {
        Value::String(s) => append_string(out, &s.as_bytes()),
        Value::Number(_) | Value::Integer(_) => append_number(out, number_of(v).unwrap_or(0.0), c)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > c.encode_max_depth {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t, c)? {
                Some(len) => {
                    out.push(b'[');
                    for i in 1..=len {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        append_value(out, &item, depth, c)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| e.to_string())?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::Number(_) | Value::Integer(_) => {
                                out.push(b'"');
                                append_number(out, number_of(&k).unwrap_or(0.0), c)?;
                                out.extend_from_slice(b"\":");
                            }
                            Value::String(s) => {
                                append_string(out, &s.as_bytes());
                                out.push(b':');
                            }
                            other => {
                                return Err(encode_error(
                                    args::type_name(Some(other)),
                                    "table key must be a number or string",
                                ));
                            }
                        }
                        append_value(out, &item, depth, c)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => {
            return Err(encode_error(
                args::type_name(Some(other)),
                "type not supported",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Parser<'a, 'l> {
    lua: &'l Lua,
    s: &'a [u8],
    pos: usize,
    depth: i64,
    c: Config,
}

enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Token {
    fn name(&self) -> &'static str {
        match self {
            Token::ObjBegin => "T_OBJ_BEGIN",
            Token::ObjEnd => "T_OBJ_END",
            Token::ArrBegin => "T_ARR_BEGIN",
            Token::ArrEnd => "T_ARR_END",
            Token::Str(_) => "T_STRING",
            Token::Num(_) => "T_NUMBER",
            Token::Bool(_) => "T_BOOLEAN",
            Token::Null => "T_NULL",
            Token::Colon => "T_COLON",
            Token::Comma => "T_COMMA",
            Token::End => "T_END",
            Token::Error(text) => text,
        }
    }
}

impl Parser<'_, '_> {
    /// The next token and where it starts.
    fn next(&mut self) -> (Token, usize) {
        while self.pos < self.s.len() && matches!(self.s[self.pos], b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&b) = self.s.get(self.pos) else {
            return (Token::End, start);
        };
        let token = match b {
            b'{' => self.single(Token::ObjBegin),
            b'}' => self.single(Token::ObjEnd),
            b'[' => self.single(Token::ArrBegin),
            b']' => self.single(Token::ArrEnd),
            b':' => self.single(Token::Colon),
            b',' => self.single(Token::Comma),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b'i' | b'I' | b'n' | b'N'
                if self.c.decode_invalid_numbers && self.invalid_number_ahead() =>
            {
                self.number()
            }
            b't' => self.word(b"true", Token::Bool(true)),
            b'f' => self.word(b"false", Token::Bool(false)),
            b'n' => self.word(b"null", Token::Null),
            _ => Token::Error("invalid token"),
        };
        (token, start)
    }

    fn single(&mut self, t: Token) -> Token {
        self.pos += 1;
        t
    }

    fn word(&mut self, word: &[u8], t: Token) -> Token {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            t
        } else {
            Token::Error("invalid token")
        }
    }

    fn invalid_number_ahead(&self) -> bool {
        let rest = &self.s[self.pos..];
        let lower: Vec<u8> = rest.iter().take(8).map(u8::to_ascii_lowercase).collect();
        lower.starts_with(b"inf") || lower.starts_with(b"nan")
    }

    fn number(&mut self) -> Token {
        let rest = &self.s[self.pos..];
        let mut end = 0;
        if matches!(rest.first(), Some(b'-' | b'+')) {
            end += 1;
        }
        let word: Vec<u8> = rest[end..]
            .iter()
            .take(8)
            .map(u8::to_ascii_lowercase)
            .collect();
        if word.starts_with(b"infinity") || word.starts_with(b"inf") || word.starts_with(b"nan") {
            let len = if word.starts_with(b"infinity") { 8 } else { 3 };
            let neg = rest[0] == b'-';
            let v = if word.starts_with(b"nan") {
                f64::NAN
            } else {
                f64::INFINITY
            };
            self.pos += end + len;
            return Token::Num(if neg { -v } else { v });
        }
        let digits = |s: &[u8], mut i: usize| {
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        let int_end = digits(rest, end);
        let mut e = int_end;
        if e < rest.len() && rest[e] == b'.' {
            e = digits(rest, e + 1);
        }
        if e < rest.len() && matches!(rest[e], b'e' | b'E') {
            let mut x = e + 1;
            if x < rest.len() && matches!(rest[x], b'+' | b'-') {
                x += 1;
            }
            let y = digits(rest, x);
            if y > x {
                e = y;
            }
        }
        let text = std::str::from_utf8(&rest[..e]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(v) if int_end > end || e > int_end => {
                self.pos += e;
                Token::Num(v)
            }
            _ => Token::Error("invalid number"),
        }
    }

    fn string(&mut self) -> Token {
        let mut out = Vec::new();
        let mut i = self.pos + 1;
        loop {
            let Some(&b) = self.s.get(i) else {
                return Token::Error("unexpected end of string");
            };
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&esc) = self.s.get(i + 1) else {
                        return Token::Error("unexpected end of string");
                    };
                    match esc {
                        b'"' | b'\\' | b'/' => out.push(esc),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => match self.unicode(i) {
                            Some((c, used)) => {
                                let mut buf = [0u8; 4];
                                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                                i += used;
                                continue;
                            }
                            None => return Token::Error("invalid unicode escape code"),
                        },
                        _ => return Token::Error("invalid escape code"),
                    }
                    i += 2;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        self.pos = i + 1;
        Token::Str(out)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    /// A `\uXXXX` escape at `i` (a surrogate pair takes two): the character and bytes used.
    fn unicode(&self, i: usize) -> Option<(char, usize)> {
        let hi = self.hex4(i + 2)?;
        if (0xDC00..=0xDFFF).contains(&hi) {
            return None;
        }
        if (0xD800..=0xDBFF).contains(&hi) {
            if self.s.get(i + 6..i + 8)? != b"\\u" {
                return None;
            }
            let lo = self.hex4(i + 8)?;
            if !(0xDC00..=0xDFFF).contains(&lo) {
                return None;
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return Some((char::from_u32(c)?, 12));
        }
        Some((char::from_u32(hi)?, 6))
    }

    fn fail(&self, expected: &str, token: &Token, at: usize) -> String {
        format!(
            "Expected {expected} but found {} at character {}",
            token.name(),
            at + 1
        )
    }

    fn descend(&mut self, at: usize) -> Result<(), String> {
        self.depth += 1;
        if self.depth > self.c.decode_max_depth {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                at + 1
            ));
        }
        Ok(())
    }

    fn value(&mut self, token: Token, at: usize) -> Result<Value, String> {
        let lua = self.lua;
        let e = |e: mlua::Error| e.to_string();
        Ok(match token {
            Token::Str(s) => Value::String(lua.create_string(&s).map_err(e)?),
            Token::Num(n) => Value::Number(n),
            Token::Bool(b) => Value::Boolean(b),
            Token::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
            Token::ObjBegin => {
                self.descend(at)?;
                let t = lua.create_table().map_err(e)?;
                let (mut tok, mut at) = self.next();
                if matches!(tok, Token::ObjEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    let Token::Str(key) = tok else {
                        return Err(self.fail("object key string", &tok, at));
                    };
                    let (colon, cat) = self.next();
                    if !matches!(colon, Token::Colon) {
                        return Err(self.fail("colon", &colon, cat));
                    }
                    let (vt, vat) = self.next();
                    let v = self.value(vt, vat)?;
                    t.raw_set(lua.create_string(&key).map_err(e)?, v)
                        .map_err(e)?;
                    let (sep, sat) = self.next();
                    match sep {
                        Token::ObjEnd => break,
                        Token::Comma => {}
                        other => return Err(self.fail("comma or object end", &other, sat)),
                    }
                    (tok, at) = self.next();
                }
                self.depth -= 1;
                Value::Table(t)
            }
            Token::ArrBegin => {
                self.descend(at)?;
                let t = lua.create_table().map_err(e)?;
                let (mut tok, mut at) = self.next();
                if matches!(tok, Token::ArrEnd) {
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                let mut i = 1;
                loop {
                    let v = self.value(tok, at)?;
                    t.raw_set(i, v).map_err(e)?;
                    i += 1;
                    let (sep, sat) = self.next();
                    match sep {
                        Token::ArrEnd => break,
                        Token::Comma => {}
                        other => return Err(self.fail("comma or array end", &other, sat)),
                    }
                    (tok, at) = self.next();
                }
                self.depth -= 1;
                Value::Table(t)
            }
            other => return Err(self.fail("value", &other, at)),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The library

fn exactly_one(a: &[Value]) -> Result<(), String> {
    if a.len() != 1 {
        return Err(args::bad_arg(1, "encode", "expected 1 argument"));
    }
    Ok(())
}

fn encode(lua: &Lua, a: &[Value], c: &Config) -> Result<MultiValue, String> {
    exactly_one(a)?;
    let mut out = Vec::new();
    append_value(&mut out, &a[0], 0, c)?;
    Ok(one(Value::String(
        lua.create_string(&out).map_err(|e| e.to_string())?,
    )))
}

fn decode(lua: &Lua, a: &[Value], c: &Config) -> Result<MultiValue, String> {
    if a.len() != 1 {
        return Err(args::bad_arg(1, "decode", "expected 1 argument"));
    }
    let s = args::string(lua, a, 0, "decode")?;
    if s.len() >= 2 && (s[0] == 0 || s[1] == 0) {
        return Err("JSON parser does not support UTF-16 or UTF-32".to_owned());
    }
    let mut p = Parser {
        lua,
        s: &s,
        pos: 0,
        depth: 0,
        c: *c,
    };
    let (token, at) = p.next();
    let v = p.value(token, at)?;
    let (end, at) = p.next();
    if !matches!(end, Token::End) {
        return Err(p.fail("the end", &end, at));
    }
    Ok(one(v))
}

/// A configuration function: with no argument it answers the setting, with arguments it
/// changes it (checked as lua-cjson checks them).
fn configure(lua: &Lua, shared: &Shared, name: &str, a: &[Value]) -> Result<MultiValue, String> {
    let mut c = shared.lock().expect("cjson config");
    let int_arg = |i: usize, min: i64, max: i64| -> Result<Option<i64>, String> {
        match a.get(i) {
            None | Some(Value::Nil) => Ok(None),
            _ => {
                let v = args::number(a, i, name)? as i64;
                if v < min || v > max {
                    return Err(args::bad_arg(
                        i + 1,
                        name,
                        &format!("expected integer between {min} and {max}"),
                    ));
                }
                Ok(Some(v))
            }
        }
    };
    let bool_arg = |i: usize| -> Result<Option<u8>, String> {
        match a.get(i) {
            None | Some(Value::Nil) => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(u8::from(*b))),
            Some(Value::String(s)) if &*s.as_bytes() == b"on" => Ok(Some(1)),
            Some(Value::String(s)) if &*s.as_bytes() == b"off" => Ok(Some(0)),
            Some(Value::String(s)) if &*s.as_bytes() == b"null" => Ok(Some(2)),
            _ => Err(args::bad_arg(
                i + 1,
                name,
                "invalid option (expected boolean or 'on'/'off')",
            )),
        }
    };
    let num = |n: i64| Value::Number(n as f64);
    let flag = |b: bool| Value::Boolean(b);
    let values = match name {
        "encode_max_depth" => {
            if let Some(v) = int_arg(0, 1, i64::from(i32::MAX))? {
                c.encode_max_depth = v;
            }
            vec![num(c.encode_max_depth)]
        }
        "decode_max_depth" => {
            if let Some(v) = int_arg(0, 1, i64::from(i32::MAX))? {
                c.decode_max_depth = v;
            }
            vec![num(c.decode_max_depth)]
        }
        "encode_number_precision" => {
            if let Some(v) = int_arg(0, 1, 14)? {
                c.encode_number_precision = v as usize;
            }
            vec![num(c.encode_number_precision as i64)]
        }
        "encode_keep_buffer" => {
            if let Some(v) = bool_arg(0)? {
                c.encode_keep_buffer = v != 0;
            }
            vec![flag(c.encode_keep_buffer)]
        }
        "encode_invalid_numbers" => {
            if let Some(v) = bool_arg(0)? {
                c.encode_invalid_numbers = v;
            }
            match c.encode_invalid_numbers {
                0 => vec![flag(false)],
                1 => vec![flag(true)],
                _ => vec![Value::String(
                    lua.create_string("null").map_err(|e| e.to_string())?,
                )],
            }
        }
        "decode_invalid_numbers" => {
            if let Some(v) = bool_arg(0)? {
                c.decode_invalid_numbers = v != 0;
            }
            vec![flag(c.decode_invalid_numbers)]
        }
        _ => {
            // encode_sparse_array([convert[, ratio[, safe]]])
            if let Some(v) = bool_arg(0)? {
                c.sparse_convert = v != 0;
            }
            if let Some(v) = int_arg(1, 0, i64::from(i32::MAX))? {
                c.sparse_ratio = v;
            }
            if let Some(v) = int_arg(2, 0, i64::from(i32::MAX))? {
                c.sparse_safe = v;
            }
            vec![
                flag(c.sparse_convert),
                num(c.sparse_ratio),
                num(c.sparse_safe),
            ]
        }
    };
    Ok(MultiValue::from_vec(values))
}

pub fn open(lua: &Lua, shared: &Shared) -> mlua::Result<Table> {
    let lib = lua.create_table()?;
    let s = shared.clone();
    lib.set(
        "encode",
        lua.create_function(move |lua, a: MultiValue| {
            let a: Vec<Value> = a.into_iter().collect();
            encode(lua, &a, &cfg(&s)).map_err(|m| args::raise(lua, m))
        })?,
    )?;
    let s = shared.clone();
    lib.set(
        "decode",
        lua.create_function(move |lua, a: MultiValue| {
            let a: Vec<Value> = a.into_iter().collect();
            decode(lua, &a, &cfg(&s)).map_err(|m| args::raise(lua, m))
        })?,
    )?;
    for name in [
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_keep_buffer",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
        "encode_sparse_array",
    ] {
        let s = shared.clone();
        lib.set(
            name,
            lua.create_function(move |lua, a: MultiValue| {
                let a: Vec<Value> = a.into_iter().collect();
                configure(lua, &s, name, &a).map_err(|m| args::raise(lua, m))
            })?,
        )?;
    }
    lib.set("_NAME", "cjson")?;
    lib.set("_VERSION", "2.1.0")?;
    Ok(lib)
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn numbers_format_like_printf_g() {
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(1e20, 14), "1e+20");
        assert_eq!(format_g(0.0003, 14), "0.0003");
        assert_eq!(format_g(0.00001, 14), "1e-05");
        assert_eq!(format_g(1023.2, 14), "1023.2");
        assert_eq!(format_g(-5000.0, 14), "-5000");
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_g(12345678901234567.0, 14), "1.2345678901235e+16");
    }
}
