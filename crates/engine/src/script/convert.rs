//! Redis's conversion rules between command replies and Lua values, both ways, for RESP2 and
//! RESP3 (`redis.setresp`).

use bytes::Bytes;
use cairn_resp::Reply;
use mlua::{Lua, Table, Value};

/// Nesting beyond which a reply or a Lua table is not converted (a table may contain itself).
const DEPTH_MAX: usize = 1000;

/// A command's reply as the script sees it (`redis.call`'s return value). Errors become
/// `{err = "CODE message"}` tables.
pub fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    Ok(match reply {
        Reply::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s)?)?;
            Value::Table(t)
        }
        Reply::Error(e) => Value::Table(error_table(lua, e)?),
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil | Reply::NilArray => {
            if resp3 {
                Value::Nil
            } else {
                Value::Boolean(false)
            }
        }
        Reply::Array(items) | Reply::Push(items) => array(lua, items.iter(), resp3)?,
        Reply::Set(items) => {
            if resp3 {
                let set = lua.create_table()?;
                for item in items {
                    set.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
                }
                wrapped(lua, "set", Value::Table(set))?
            } else {
                array(lua, items.iter(), resp3)?
            }
        }
        Reply::Map(pairs) => {
            if resp3 {
                let map = lua.create_table()?;
                for (k, v) in pairs {
                    map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
                }
                wrapped(lua, "map", Value::Table(map))?
            } else {
                array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3)?
            }
        }
        Reply::MapOfPairs(pairs) => {
            if resp3 {
                let map = lua.create_table()?;
                for (k, v) in pairs {
                    map.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
                }
                wrapped(lua, "map", Value::Table(map))?
            } else {
                let t = lua.create_table()?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    let pair = array(lua, [k, v].into_iter(), resp3)?;
                    t.raw_set(i + 1, pair)?;
                }
                Value::Table(t)
            }
        }
        Reply::Pairs(pairs) => {
            if resp3 {
                let t = lua.create_table()?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    let pair = array(lua, [k, v].into_iter(), resp3)?;
                    t.raw_set(i + 1, pair)?;
                }
                Value::Table(t)
            } else {
                array(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3)?
            }
        }
        Reply::Double(d) => {
            if resp3 {
                wrapped(lua, "double", Value::Number(*d))?
            } else {
                let text = cairn_resp::format_double(*d);
                Value::String(lua.create_string(text)?)
            }
        }
        Reply::DoubleText(text) => {
            if resp3 {
                let d = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(0.0);
                wrapped(lua, "double", Value::Number(d))?
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
        Reply::Bool(b) => {
            if resp3 {
                Value::Boolean(*b)
            } else {
                Value::Number(f64::from(u8::from(*b)))
            }
        }
        Reply::Verbatim(format, text) => {
            if resp3 {
                let v = lua.create_table()?;
                v.raw_set("string", lua.create_string(text)?)?;
                v.raw_set("format", *format)?;
                wrapped(lua, "verbatim_string", Value::Table(v))?
            } else {
                Value::String(lua.create_string(text)?)
            }
        }
    })
}

fn array<'a>(
    lua: &Lua,
    items: impl Iterator<Item = &'a Reply>,
    resp3: bool,
) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, item) in items.enumerate() {
        t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
    }
    Ok(Value::Table(t))
}

fn wrapped(lua: &Lua, field: &str, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(field, value)?;
    Ok(Value::Table(t))
}

/// `{err = text}` for an error reply's text (`CODE message`, trailing newlines trimmed).
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let mut text = text;
    while let [rest @ .., b'\r' | b'\n'] = text {
        text = rest;
    }
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(text)?)?;
    Ok(t)
}

/// `{err = "ERR " .. message}`: an error of the scripting layer itself.
pub fn err(lua: &Lua, message: &str) -> mlua::Result<Table> {
    error_table(lua, format!("ERR {message}").as_bytes())
}

/// A script's return value as a reply. `resp3`: the protocol the script chose with
/// `redis.setresp` (it decides how booleans convert).
pub fn lua_to_reply(value: &Value, resp3: bool) -> Reply {
    to_reply(value, resp3, 0)
}

fn to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > DEPTH_MAX {
        return Reply::error_static("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) => {
            if resp3 {
                Reply::Bool(*b)
            } else if *b {
                Reply::Int(1)
            } else {
                Reply::Nil
            }
        }
        // C's (long long) cast: out of range (and NaN) gives the x86 result, LLONG_MIN.
        Value::Number(n) if n.is_finite() && n.abs() < 9.2e18 => Reply::Int(*n as i64),
        Value::Number(_) => Reply::Int(i64::MIN),
        Value::Integer(n) => Reply::Int(*n),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Reply::Error(one_line(&e.as_bytes()));
    }
    if let Ok(Value::String(ok)) = t.raw_get::<Value>("ok") {
        return Reply::Simple(one_line(&ok.as_bytes()));
    }
    if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
        return Reply::Double(d);
    }
    if let Ok(Value::Integer(d)) = t.raw_get::<Value>("double") {
        return Reply::Double(d as f64);
    }
    if let Ok(Value::String(n)) = t.raw_get::<Value>("big_number") {
        return Reply::Bulk(one_line(&n.as_bytes()));
    }
    if let Ok(Value::Table(v)) = t.raw_get::<Value>("verbatim_string")
        && let (Ok(Value::String(format)), Ok(Value::String(text))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
    {
        let text = Bytes::copy_from_slice(&text.as_bytes());
        return match &*format.as_bytes() {
            b"txt" => Reply::Verbatim("txt", text),
            b"mkd" => Reply::Verbatim("mkd", text),
            _ => Reply::Bulk(text),
        };
    }
    if let Ok(Value::Table(map)) = t.raw_get::<Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in map.pairs::<Value, Value>().flatten() {
            pairs.push((
                to_reply(&k, resp3, depth + 1),
                to_reply(&v, resp3, depth + 1),
            ));
        }
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let mut items = Vec::new();
        for (k, _) in set.pairs::<Value, Value>().flatten() {
            items.push(to_reply(&k, resp3, depth + 1));
        }
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply(&v, resp3, depth + 1)),
        }
    }
    Reply::Array(items)
}

/// Status and error lines may not contain CR or LF: Redis turns them into spaces.
fn one_line(bytes: &[u8]) -> Bytes {
    bytes
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect::<Vec<u8>>()
        .into()
}
