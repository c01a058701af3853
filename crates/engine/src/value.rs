//! `Value`: what a key holds. Each data type adds a variant (and its file under `types/`).

/// A stored value. Strings are plain bytes; integer-looking strings are reported with the
/// `int` encoding, as Redis does, but stored as their text so reads need no formatting.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Box<[u8]>),
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
        }
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && crate::commands::parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= EMBSTR_LEN_MAX => "embstr",
            Value::Str(_) => "raw",
        }
    }

    pub fn as_str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
        }
    }

    /// Bytes this value holds on the heap, for INFO memory accounting.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.len(),
        }
    }
}
