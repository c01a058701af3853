//! The `cmsgpack` library (lua-cmsgpack 0.4 as Redis ships it), in Rust: `pack(...)`,
//! `unpack(s)`, `unpack_one(s[, offset])`, `unpack_limit(s, limit[, offset])`. Tables whose keys
//! are exactly 1..n are arrays, others maps; tables nested 16 deep are written as nil (so a
//! table that contains itself still packs); integral numbers use the smallest integer form,
//! others a float when a float holds them exactly, else a double.

use mlua::{Lua, MultiValue, Table, Value};

use super::args::{self, register};

type Res = Result<MultiValue, String>;

/// Tables deeper than this are encoded as nil (`LUACMSGPACK_MAX_NESTING`).
const NESTING_MAX: usize = 16;

fn e(err: mlua::Error) -> String {
    err.to_string()
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    if !n.is_infinite() && !n.is_nan() && (n as i64) as f64 == n {
        encode_int(out, n as i64);
        return;
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if n <= fix_max {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// Keys exactly 1..n (no holes, nothing else).
fn is_array(t: &Table) -> Result<bool, String> {
    let (mut count, mut max) = (0f64, 0f64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(e)?;
        let n = match k {
            Value::Number(n) => n,
            Value::Integer(n) => n as f64,
            _ => return Ok(false),
        };
        if n <= 0.0 || (n as i32) as f64 != n {
            return Ok(false);
        }
        max = max.max(n);
        count += 1.0;
    }
    Ok(max == count)
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) -> Result<(), String> {
    match v {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => encode_number(out, *n),
        Value::Integer(n) => encode_int(out, *n),
        Value::Table(t) if level < NESTING_MAX => {
            if is_array(t)? {
                let len = t.raw_len();
                encode_len(out, len, 0x90, 15, 0xdc, 0xdd);
                for i in 1..=len {
                    let item: Value = t.get(i).map_err(e)?;
                    encode(out, &item, level + 1)?;
                }
            } else {
                // Counted first, then encoded while iterating: holding every pair would take
                // a VM reference slot each, and a big table would exhaust them.
                let mut len = 0;
                for pair in t.clone().pairs::<Value, Value>() {
                    pair.map_err(e)?;
                    len += 1;
                }
                encode_len(out, len, 0x80, 15, 0xde, 0xdf);
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, item) = pair.map_err(e)?;
                    encode(out, &k, level + 1)?;
                    encode(out, &item, level + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

enum DecodeError {
    Eof,
    BadFormat,
    Lua(String),
}

struct Cursor<'a> {
    s: &'a [u8],
    p: usize,
}

impl Cursor<'_> {
    fn need(&self, n: usize) -> Result<&[u8], DecodeError> {
        self.s.get(self.p..self.p + n).ok_or(DecodeError::Eof)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let out = self.s.get(self.p..self.p + n).ok_or(DecodeError::Eof)?;
        self.p += n;
        Ok(out)
    }

    fn be(&mut self, n: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, DecodeError> {
        let b = self.need(1)?[0];
        let lerr = |err: mlua::Error| DecodeError::Lua(err.to_string());
        let num = |n: f64| Ok(Value::Number(n));
        match b {
            0xcc => {
                self.p += 1;
                num(self.be(1)? as f64)
            }
            0xd0 => {
                self.need(2)?;
                self.p += 1;
                num(f64::from(self.be(1)? as u8 as i8))
            }
            0xcd => {
                self.need(3)?;
                self.p += 1;
                num(self.be(2)? as f64)
            }
            0xd1 => {
                self.need(3)?;
                self.p += 1;
                num(f64::from(self.be(2)? as u16 as i16))
            }
            0xce => {
                self.need(5)?;
                self.p += 1;
                num(self.be(4)? as f64)
            }
            0xd2 => {
                self.need(5)?;
                self.p += 1;
                num(f64::from(self.be(4)? as u32 as i32))
            }
            0xcf => {
                self.need(9)?;
                self.p += 1;
                num(self.be(8)? as f64)
            }
            0xd3 => {
                self.need(9)?;
                self.p += 1;
                num(self.be(8)? as i64 as f64)
            }
            0xc0 => {
                self.p += 1;
                Ok(Value::Nil)
            }
            0xc3 | 0xc2 => {
                self.p += 1;
                Ok(Value::Boolean(b == 0xc3))
            }
            0xca => {
                self.need(5)?;
                self.p += 1;
                num(f64::from(f32::from_bits(self.be(4)? as u32)))
            }
            0xcb => {
                self.need(9)?;
                self.p += 1;
                num(f64::from_bits(self.be(8)?))
            }
            0xd9 | 0xda | 0xdb | 0xc4 | 0xc5 | 0xc6 => {
                let width = match b {
                    0xd9 | 0xc4 => 1,
                    0xda | 0xc5 => 2,
                    _ => 4,
                };
                self.need(1 + width)?;
                self.p += 1;
                let len = self.be(width)? as usize;
                let s = self.take(len)?;
                Ok(Value::String(lua.create_string(s).map_err(lerr)?))
            }
            0xdc | 0xdd => {
                let width = if b == 0xdc { 2 } else { 4 };
                self.need(1 + width)?;
                self.p += 1;
                let len = self.be(width)? as usize;
                self.array(lua, len)
            }
            0xde | 0xdf => {
                let width = if b == 0xde { 2 } else { 4 };
                self.need(1 + width)?;
                self.p += 1;
                let len = self.be(width)? as usize;
                self.map(lua, len)
            }
            _ if b & 0x80 == 0 => {
                self.p += 1;
                num(f64::from(b))
            }
            _ if b & 0xe0 == 0xe0 => {
                self.p += 1;
                num(f64::from(b as i8))
            }
            _ if b & 0xe0 == 0xa0 => {
                let len = usize::from(b & 0x1f);
                self.need(1 + len)?;
                self.p += 1;
                let s = self.take(len)?;
                Ok(Value::String(lua.create_string(s).map_err(lerr)?))
            }
            _ if b & 0xf0 == 0x90 => {
                self.p += 1;
                self.array(lua, usize::from(b & 0xf))
            }
            _ if b & 0xf0 == 0x80 => {
                self.p += 1;
                self.map(lua, usize::from(b & 0xf))
            }
            _ => Err(DecodeError::BadFormat),
        }
    }

    fn array(&mut self, lua: &Lua, len: usize) -> Result<Value, DecodeError> {
        let lerr = |err: mlua::Error| DecodeError::Lua(err.to_string());
        let t = lua.create_table().map_err(lerr)?;
        for i in 1..=len {
            let v = self.decode(lua)?;
            t.raw_set(i, v).map_err(lerr)?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, len: usize) -> Result<Value, DecodeError> {
        let lerr = |err: mlua::Error| DecodeError::Lua(err.to_string());
        let t = lua.create_table().map_err(lerr)?;
        for _ in 0..len {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            if !matches!(k, Value::Nil) {
                t.raw_set(k, v).map_err(lerr)?;
            }
        }
        Ok(Value::Table(t))
    }
}

fn pack(_lua: &Lua, a: &[Value]) -> Res {
    if a.is_empty() {
        return Err("bad argument #0 to 'pack' (MessagePack pack needs input.)".to_owned());
    }
    let mut out = Vec::new();
    for v in a {
        encode(&mut out, v, 0)?;
    }
    let s = _lua.create_string(&out).map_err(e)?;
    Ok(args::one(Value::String(s)))
}

fn unpack_full(lua: &Lua, a: &[Value], limit: i64, offset: i64) -> Res {
    let s = args::string(lua, a, 0, "unpack")?;
    let len = s.len() as i64;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        ));
    }
    if offset > len {
        return Err(format!(
            "Start offset {offset} greater than input length {len}."
        ));
    }
    let limit = if decode_all {
        i64::from(i32::MAX)
    } else {
        limit
    };
    let mut c = Cursor {
        s: &s,
        p: offset as usize,
    };
    let mut out = Vec::new();
    let mut count = 0;
    while c.p < s.len() && count < limit {
        match c.decode(lua) {
            Ok(v) => out.push(v),
            Err(DecodeError::Eof) => return Err("Missing bytes in input.".to_owned()),
            Err(DecodeError::BadFormat) => return Err("Bad data format in input.".to_owned()),
            Err(DecodeError::Lua(m)) => return Err(m),
        }
        count += 1;
    }
    if !decode_all {
        let next = if c.p >= s.len() { -1 } else { c.p as i64 };
        out.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_vec(out))
}

fn opt_int(a: &[Value], i: usize, fname: &str) -> Result<i64, String> {
    match a.get(i) {
        None | Some(Value::Nil) => Ok(0),
        _ => Ok(args::number(a, i, fname)? as i64),
    }
}

fn unpack(lua: &Lua, a: &[Value]) -> Res {
    unpack_full(lua, a, 0, 0)
}

fn unpack_one(lua: &Lua, a: &[Value]) -> Res {
    let offset = opt_int(a, 1, "unpack_one")?;
    unpack_full(lua, a, 1, offset)
}

fn unpack_limit(lua: &Lua, a: &[Value]) -> Res {
    let limit = args::number(a, 1, "unpack_limit")? as i64;
    let offset = opt_int(a, 2, "unpack_limit")?;
    unpack_full(lua, a, limit, offset)
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let lib = lua.create_table()?;
    register(lua, &lib, "pack", pack)?;
    register(lua, &lib, "unpack", unpack)?;
    register(lua, &lib, "unpack_one", unpack_one)?;
    register(lua, &lib, "unpack_limit", unpack_limit)?;
    lib.set("_NAME", "cmsgpack")?;
    lib.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    lib.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    lib.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(lib)
}
