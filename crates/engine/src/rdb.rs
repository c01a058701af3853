//! DUMP and RESTORE payloads: values in Redis's RDB object format, converted to and from a
//! neutral `RdbValue` that knows nothing of how Cairn keeps values in memory.
//!
//! A payload, as Redis 7.0 writes it (`createDumpPayload`) and checks it (`verifyDumpPayload`):
//! ```text
//! u8 object type | the value in that type's RDB form | u16 RDB version | u64 CRC-64
//! ```
//! The version (10 for Redis 7.0) and the CRC (Redis's Jones CRC-64 of everything before it)
//! are little-endian. RESTORE refuses a payload whose version is above 10 or whose CRC does
//! not match, then parses the value; bytes after the value are ignored, as Redis ignores them.
//!
//! Written (`encode`), the forms Redis 7.0 itself writes for the same value under the same
//! thresholds (`DumpOptions`, Redis's defaults unless changed):
//! - strings: the 8/16/32-bit integer encodings for integers, LZF when over 20 bytes and it
//!   saves at least 4 (`rdbcompression`), else raw;
//! - lists: quicklist 2 (type 18) of listpack nodes split as `list-max-listpack-size` splits
//!   them, inner nodes LZF-compressed past `list-compress-depth`, a plain node per element of
//!   1 GiB or more;
//! - sets: intset (11) when every member is an integer and they are few enough, else plain (2);
//! - hashes: listpack (16) when small, else plain (4);
//! - sorted sets: listpack (17) when small, sorted by score then member, else zset 2 (5) with
//!   binary scores, highest first;
//! - streams: listpacks 2 (19), one listpack per node as Redis splits them, tombstones
//!   included, with the consumer groups (`rdb/stream.rs`).
//!
//! Read (`decode`), every form Redis 7.0.15's RESTORE reads: strings raw, integer-encoded and
//! LZF; lists plain (1), ziplist (10), quicklist (14) and quicklist 2 (18) with plain and
//! packed nodes, compressed or not; sets plain (2) and intset (11); hashes plain (4), zipmap
//! (9), ziplist (13) and listpack (16); sorted sets zset (3, text scores), zset 2 (5), ziplist
//! (12) and listpack (17); streams listpacks (15, before Redis 7.0: without its counters) and
//! listpacks 2 (19). Module values (6, 7) are refused with their own error; Cairn has none.
//!
//! Reading checks everything Redis's deep sanitization (`sanitize-dump-payload yes`) checks,
//! whatever a caller's setting: structure of every compact encoding, no empty collection, no
//! duplicate member or field, no NaN score. It is stricter than Redis in corners no Redis
//! writes: a value must end before the footer (Redis would read on into it), a score stored
//! as text must parse as a double, and a length field cannot hold a string encoding marker.
//! Every length is checked against the bytes that remain before anything is allocated for it,
//! so hostile input costs at most memory proportional to itself (LZF expands at most 88-fold,
//! as in Redis).
//!
//! Architecture invariant: nothing here depends on `value.rs` or `types/`; callers convert.

mod crc64;
mod decode;
mod encode;
mod intset;
mod listpack;
mod lzf;
mod num;
mod stream;
mod ziplist;
mod zipmap;

pub use stream::{
    RdbStream, RdbStreamConsumer, RdbStreamEntry, RdbStreamGroup, RdbStreamId, RdbStreamMeta,
    RdbStreamNack, RdbStreamNode,
};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;

/// The RDB version Redis 7.0 writes into DUMP payloads and the highest RESTORE accepts.
pub const RDB_VERSION: u16 = 10;

/// Bytes after the value: the version and the CRC.
const FOOTER_LEN: usize = 2 + 8;

/// A value as DUMP and RESTORE carry it. Collections keep the payload's order: a hash's or
/// set's iteration order, a sorted set's stored order (ascending in a listpack, descending in
/// a zset 2).
#[derive(Debug, Clone, PartialEq)]
pub enum RdbValue {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Stream(Box<RdbStream>),
}

/// The thresholds `dump_with` chooses encodings by: Redis's configuration parameters of the
/// same names. A value within a compact encoding's limits is written in that encoding, as
/// Redis would hold (and DUMP) it under the same configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOptions {
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    /// Positive: at most this many elements per quicklist node (and at most 8 KiB);
    /// -1 to -5: nodes of at most 4, 8, 16, 32 or 64 KiB.
    pub list_max_listpack_size: i64,
    /// Quicklist nodes left uncompressed at each end of a list; 0 compresses none.
    pub list_compress_depth: usize,
    /// Redis's `rdbcompression`: LZF-compress strings over 20 bytes when that saves space.
    pub rdb_compression: bool,
}

impl Default for DumpOptions {
    /// Redis 7.0's defaults.
    fn default() -> DumpOptions {
        DumpOptions {
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            rdb_compression: true,
        }
    }
}

/// Why RESTORE refuses a payload. `reply_text` is the error Redis answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// Shorter than its footer, from a newer Redis, or damaged.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The value does not parse; the reason is for logs and tests, not for clients.
    #[error("Bad data format ({0})")]
    Corrupt(&'static str),
    #[error("Bad data format: module values are not supported")]
    Module,
}

impl RdbError {
    /// The error reply, with its prefix, exactly as Redis 7.0's RESTORE words it.
    pub fn reply_text(&self) -> &'static str {
        match self {
            RdbError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            RdbError::Corrupt(_) => "ERR Bad data format",
            RdbError::Module => "ERR Bad data format: module values are not supported",
        }
    }
}

/// DUMP's payload for `value`, encoded as Redis 7.0 with its default configuration would.
pub fn dump(value: &RdbValue) -> Vec<u8> {
    dump_with(value, &DumpOptions::default())
}

/// DUMP's payload for `value`, encodings chosen by `options`.
///
/// Redis holds no empty collection, duplicate member or NaN score; given one, this writes a
/// payload RESTORE refuses (empty, NaN) or keeps the first of the duplicates.
pub fn dump_with(value: &RdbValue, options: &DumpOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode::value(&mut out, value, options);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(0, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Redis's CRC-64 of `bytes` (DUMP payload footers; FUNCTION DUMP uses it too).
pub fn crc64(bytes: &[u8]) -> u64 {
    crc64::crc64(0, bytes)
}

/// LZF-decompresses `input` into `out_len` bytes (RDB strings; FUNCTION RESTORE uses it too).
pub fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    lzf::decompress(input, out_len)
}

/// The value a DUMP payload holds (RESTORE's parser).
pub fn restore(payload: &[u8]) -> Result<RdbValue, RdbError> {
    decode::value(verify(payload)?)
}

/// Whether a payload's footer checks out (its version and CRC), without parsing the value:
/// the check RESTORE can make before anything else is known.
pub fn check_footer(payload: &[u8]) -> Result<(), RdbError> {
    verify(payload).map(drop)
}

/// The payload without its footer, once the footer's version and CRC check out.
fn verify(payload: &[u8]) -> Result<&[u8], RdbError> {
    let body_len = payload
        .len()
        .checked_sub(FOOTER_LEN)
        .ok_or(RdbError::VersionOrChecksum)?;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let crc = u64::from_le_bytes(footer[2..].try_into().expect("8 bytes"));
    if version > RDB_VERSION || crc64::crc64(0, &payload[..body_len + 2]) != crc {
        return Err(RdbError::VersionOrChecksum);
    }
    Ok(&payload[..body_len])
}

/// RDB object type bytes (Redis's `RDB_TYPE_*`).
mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;

    /// Quicklist 2 node containers.
    pub const NODE_PLAIN: u64 = 1;
    pub const NODE_PACKED: u64 = 2;
}
