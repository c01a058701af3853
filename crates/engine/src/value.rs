//! `Value`: what a key holds. Strings are inline; each collection type lives in `types/`.

use crate::types::{hash::Hash, json::Json, list::List, set::Set, stream::Stream, zset::ZSet};

/// A stored value. Strings are plain bytes; integer-looking strings are reported with the
/// `int` encoding, as Redis does, but stored as their text so reads need no formatting.
/// Collections are boxed so a slot stays small whatever it holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Box<[u8]>),
    List(Box<List>),
    Hash(Box<Hash>),
    Set(Box<Set>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
    /// A JSON document (RedisJSON's `ReJSON-RL` module type).
    Json(Box<Json>),
}

/// Redis keeps strings up to this many bytes in one allocation with their header (`embstr`).
const EMBSTR_LEN_MAX: usize = 44;

impl Value {
    pub fn str(bytes: &[u8]) -> Value {
        Value::Str(bytes.into())
    }

    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
            Value::Json(_) => "ReJSON-RL",
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && crate::commands::parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= EMBSTR_LEN_MAX => "embstr",
            Value::Str(_) => "raw",
            Value::List(l) => l.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::Stream(s) => s.encoding(),
            Value::Json(j) => j.encoding(),
        }
    }

    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Bytes this value holds on the heap, for INFO memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
            Value::List(l) => l.heap_bytes(),
            Value::Hash(h) => h.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
            Value::Stream(s) => s.heap_bytes(),
            Value::Json(j) => j.heap_bytes(),
        }
    }
}
