//! `Reply`: the protocol-neutral result of a command. Handlers build values; the encoder in
//! `encode.rs` owns every difference between RESP2 and RESP3.

use bytes::Bytes;

/// The protocol a connection speaks, chosen with `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// A command's result, independent of the wire protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a status line. Never contains `\r` or `\n`.
    Simple(Bytes),
    /// `-ERR ...`: the full error text including its prefix (`ERR`, `WRONGTYPE`, ...).
    Error(Bytes),
    Int(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map; a flat array of 2n elements in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set; an array in RESP2.
    Set(Vec<Reply>),
    /// Ordered pairs: an array of two-element arrays in RESP3, a flat array of 2n elements in
    /// RESP2 (ZRANGE WITHSCORES, ZPOPMIN with a count, HRANDFIELD … WITHVALUES).
    Pairs(Vec<(Reply, Reply)>),
    /// Keyed pairs: a RESP3 map, an array of two-element arrays in RESP2 (XREAD and
    /// XREADGROUP: stream name → entries).
    MapOfPairs(Vec<(Reply, Reply)>),
    /// RESP3 double; a bulk string in RESP2 (formatted as Redis 7.0 does, `%.17g`).
    Double(f64),
    /// A double already formatted (Redis's `addReplyHumanLongDouble`: GEOPOS coordinates):
    /// `,<text>` in RESP3, a bulk string in RESP2.
    DoubleText(Bytes),
    /// RESP3 boolean; the integer 1 or 0 in RESP2.
    Bool(bool),
    /// RESP3 verbatim string (`=len\r\ntxt:...`); a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    /// RESP3 push (out-of-band: pub/sub messages); an array in RESP2.
    Push(Vec<Reply>),
}

impl Reply {
    pub const fn ok() -> Reply {
        Reply::Simple(Bytes::from_static(b"OK"))
    }

    pub fn simple(text: &'static str) -> Reply {
        Reply::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error reply; `text` carries its prefix, e.g. `"ERR syntax error"`.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(Bytes::from(text.into()))
    }

    pub fn error_static(text: &'static str) -> Reply {
        Reply::Error(Bytes::from_static(text.as_bytes()))
    }

    pub fn bulk(bytes: impl Into<Bytes>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    pub fn bulk_copy(bytes: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
