//! Argument checks with the texts of Lua's `luaL_check*`, for the libraries written in Rust.
//! A failed check is an `Err(message)` that the library returns as `FAIL, message`, so the
//! Lua wrapper raises it at the caller, as `luaL_error` does.

use mlua::{Lua, MultiValue, Table, Value};

/// Lua's name for a value's type (`luaL_typename`).
pub fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Number(_) | Value::Integer(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

pub fn bad_arg(n: usize, fname: &str, what: &str) -> String {
    format!("bad argument #{n} to '{fname}' ({what})")
}

fn expected(args: &[Value], i: usize, fname: &str, kind: &str) -> String {
    bad_arg(
        i + 1,
        fname,
        &format!("{kind} expected, got {}", type_name(args.get(i))),
    )
}

/// `luaL_checknumber`: a number or a string that converts to one.
pub fn number(args: &[Value], i: usize, fname: &str) -> Result<f64, String> {
    match args.get(i) {
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::String(s)) => {
            parse_number(&s.as_bytes()).ok_or_else(|| expected(args, i, fname, "number"))
        }
        _ => Err(expected(args, i, fname, "number")),
    }
}

/// `luaL_checklstring`: a string, or a number converted to one (`%.14g`).
pub fn string(lua: &Lua, args: &[Value], i: usize, fname: &str) -> Result<Vec<u8>, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(v @ (Value::Number(_) | Value::Integer(_))) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| expected(args, i, fname, "string")),
        _ => Err(expected(args, i, fname, "string")),
    }
}

/// Lua's string → number conversion (`lua_str2number`: strtod, or hex with 0x).
pub fn parse_number(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    let lower = body.to_ascii_lowercase();
    if lower.starts_with("inf") || lower.starts_with("nan") {
        let v = match lower.as_str() {
            "inf" | "infinity" => f64::INFINITY,
            "nan" => f64::NAN,
            _ => return None,
        };
        return Some(if neg { -v } else { v });
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// What a Rust function raises into Lua. `Text` is a plain error (luaL_error: the message,
/// prefixed with the caller's position when it has one); `Table` is the `{err = ...}` table
/// Redis's API raises. The error handler and Cairn's `pcall` turn them back into Lua values.
#[derive(Debug, thiserror::Error)]
pub enum Raised {
    #[error("{0}")]
    Text(String),
    #[error("{0}")]
    Table(String),
}

/// `luaL_error`: raises `message` at the caller's position (`user_script:1: ...`), or with no
/// position when the caller is a C function (pcall).
pub fn raise(lua: &Lua, message: String) -> mlua::Error {
    let place = lua
        .inspect_stack(1, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    mlua::Error::external(Raised::Text(format!("{place}{message}")))
}

/// Raises Redis's `{err = "ERR message"}` table.
pub fn raise_err(message: &str) -> mlua::Error {
    mlua::Error::external(Raised::Table(format!("ERR {message}")))
}

/// Registers `f` in `lib` as a library function with Lua's error behaviour.
pub fn register(
    lua: &Lua,
    lib: &Table,
    name: &'static str,
    f: fn(&Lua, &[Value]) -> Result<MultiValue, String>,
) -> mlua::Result<()> {
    let func = lua.create_function(move |lua, args: MultiValue| {
        let args: Vec<Value> = args.into_iter().collect();
        f(lua, &args).map_err(|message| raise(lua, message))
    })?;
    lib.set(name, func)
}

/// One value as a function's results.
pub fn one(v: Value) -> MultiValue {
    MultiValue::from_vec(vec![v])
}
