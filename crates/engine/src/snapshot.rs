//! Engine state as bytes (snapshots) and as a digest (DEBUG DIGEST, determinism tests).
//!
//! Snapshot layout (version 9; the log crate adds compression and checksums around it):
//! ```text
//! u8 version | u64 now_ms | u64 hash_seed | u32 databases
//! per database: u64 keys, then per key: u32 key_len, key, u64 expire_at_ms (0 = none),
//!               u8 type, value (type 0 string: u32 len, bytes; types 1 list, 2 hash, 3 set,
//!               4 zset, 5 stream, 6 json (from version 9): the form their `encode` in
//!               `types/` documents)
//! u32 writers, then per writer: u64 node, u64 request, u64 time_ms   (from version 2)
//! u64 lease_epoch, u64 lease_node                                     (from version 3)
//! 7 x i64: the encoding thresholds, in `Encodings::NAMES` order       (from version 4;
//!     9 from version 8: the stream node limits)
//! users and their ACL rules, as `acl::encode_users` documents         (from version 5;
//!                                    before it, the `default` user of a new database)
//! u32 watchers, then per watcher: u64 node, u64 client, u64 since_ms, u8 dirty,
//!     u32 keys, then per key: u32 db, u32 key_len, key, u8 expired   (from version 6)
//! u32 scripts, then per script: u32 len, body (EVAL's cache)          (from version 7)
//! u32 libraries, then per library: u32 len, code (FUNCTION LOAD)      (from version 7)
//! ```
//! Integers are little-endian.

use crate::db::Slot;
use crate::engine::{Engine, Writer};
use crate::types::{Encodings, hash::Hash, list::List, set::Set, stream::Stream, zset::ZSet};
use crate::value::Value;

pub const SNAPSHOT_VERSION: u8 = 9;

const TYPE_STRING: u8 = 0;
const TYPE_LIST: u8 = 1;
const TYPE_HASH: u8 = 2;
const TYPE_SET: u8 = 3;
const TYPE_ZSET: u8 = 4;
const TYPE_STREAM: u8 = 5;
const TYPE_JSON: u8 = 6;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot truncated at byte {0}")]
    Truncated(usize),
    #[error("unknown snapshot version {0}")]
    Version(u8),
    #[error("unknown value type {0} in snapshot")]
    Type(u8),
    #[error("malformed users in snapshot")]
    Users,
    #[error("snapshot has {found} databases, this server is configured for {configured}")]
    Databases { found: usize, configured: usize },
    #[error("invalid {0} in snapshot")]
    Invalid(&'static str),
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(s) => {
            out.push(TYPE_STRING);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
        Value::List(l) => {
            out.push(TYPE_LIST);
            l.encode(out);
        }
        Value::Hash(h) => {
            out.push(TYPE_HASH);
            h.encode(out);
        }
        Value::Set(s) => {
            out.push(TYPE_SET);
            s.encode(out);
        }
        Value::ZSet(z) => {
            out.push(TYPE_ZSET);
            z.encode(out);
        }
        Value::Stream(s) => {
            out.push(TYPE_STREAM);
            s.encode(out);
        }
        Value::Json(j) => {
            out.push(TYPE_JSON);
            crate::types::json::encode(j, out);
        }
    }
}

/// Reads a snapshot's bytes; every read checks the length first.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or(SnapshotError::Truncated(self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A `u32` length, then that many bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

impl Engine {
    /// Serializes the replicated state. Key order follows the dict and does not matter.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&self.now_ms().to_le_bytes());
        out.extend_from_slice(&self.hash_seed().to_le_bytes());
        out.extend_from_slice(&(self.databases() as u32).to_le_bytes());
        for db in &self.dbs {
            out.extend_from_slice(&(db.len() as u64).to_le_bytes());
            for (key, slot) in db.dict().iter() {
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(key);
                out.extend_from_slice(&slot.expire_at_ms().unwrap_or(0).to_le_bytes());
                put_value(&mut out, &slot.value);
            }
        }
        out.extend_from_slice(&(self.writers.len() as u32).to_le_bytes());
        for (node, w) in &self.writers {
            for n in [*node, w.request, w.time_ms] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.lease.0.to_le_bytes());
        out.extend_from_slice(&self.lease.1.to_le_bytes());
        for name in Encodings::NAMES {
            let value = self.encodings.get(name).expect("a known option");
            out.extend_from_slice(&value.to_le_bytes());
        }
        crate::acl::encode_users(&self.users, &mut out);
        let watchers = self.watch_state();
        out.extend_from_slice(&(watchers.len() as u32).to_le_bytes());
        for w in watchers {
            for n in [w.id.0, w.id.1, w.since_ms] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.push(u8::from(w.dirty));
            out.extend_from_slice(&(w.keys.len() as u32).to_le_bytes());
            for (db, key, expired) in w.keys {
                out.extend_from_slice(&(db as u32).to_le_bytes());
                out.extend_from_slice(&(key.len() as u32).to_le_bytes());
                out.extend_from_slice(&key);
                out.push(u8::from(expired));
            }
        }
        let scripts: Vec<_> = self.scripting.scripts().collect();
        out.extend_from_slice(&(scripts.len() as u32).to_le_bytes());
        for (_, script) in scripts {
            out.extend_from_slice(&(script.body.len() as u32).to_le_bytes());
            out.extend_from_slice(&script.body);
        }
        let codes: Vec<_> = self.scripting.libraries().codes().collect();
        out.extend_from_slice(&(codes.len() as u32).to_le_bytes());
        for code in codes {
            out.extend_from_slice(&(code.len() as u32).to_le_bytes());
            out.extend_from_slice(code);
        }
        out
    }

    pub fn restore(bytes: &[u8], databases: usize) -> Result<Engine, SnapshotError> {
        let mut r = Reader::new(bytes);
        let version = r.u8()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) {
            return Err(SnapshotError::Version(version));
        }
        let now_ms = r.u64()?;
        let hash_seed = r.u64()?;
        let found = r.u32()? as usize;
        if found > databases {
            return Err(SnapshotError::Databases {
                found,
                configured: databases,
            });
        }
        let mut engine = Engine::with_seed(databases, hash_seed, now_ms);
        for index in 0..found {
            let keys = r.u64()?;
            let db = engine.db_mut(index);
            for _ in 0..keys {
                let key_len = r.u32()? as usize;
                let key = r.take(key_len)?;
                let expire = r.u64()?;
                let value = match r.u8()? {
                    TYPE_STRING => Value::Str(r.bytes()?.into()),
                    TYPE_LIST => Value::List(Box::new(List::decode(&mut r)?)),
                    TYPE_HASH => Value::Hash(Box::new(Hash::decode(&mut r)?)),
                    TYPE_SET => Value::Set(Box::new(Set::decode(&mut r)?)),
                    TYPE_ZSET => Value::ZSet(Box::new(ZSet::decode(&mut r)?)),
                    TYPE_STREAM => Value::Stream(Box::new(Stream::decode(&mut r)?)),
                    TYPE_JSON if version >= 9 => {
                        Value::Json(Box::new(crate::types::json::decode(&mut r)?))
                    }
                    other => return Err(SnapshotError::Type(other)),
                };
                db.set(key, value, (expire != 0).then_some(expire), now_ms);
            }
        }
        if version >= 2 {
            for _ in 0..r.u32()? {
                let node = r.u64()?;
                let (request, time_ms) = (r.u64()?, r.u64()?);
                engine.writers.insert(node, Writer { request, time_ms });
            }
        }
        if version >= 3 {
            engine.lease = (r.u64()?, r.u64()?);
        }
        if version >= 4 {
            let count = if version >= 8 {
                Encodings::NAMES.len()
            } else {
                7
            };
            for name in &Encodings::NAMES[..count] {
                let value = r.u64()? as i64;
                engine
                    .encodings
                    .set(name, value)
                    .map_err(|_| SnapshotError::Truncated(r.pos))?;
            }
        }
        if version >= 5 {
            engine.users = crate::acl::decode_users(&mut r)?;
        }
        if version >= 6 {
            for _ in 0..r.u32()? {
                let id = (r.u64()?, r.u64()?);
                let since_ms = r.u64()?;
                let dirty = r.u8()? != 0;
                let count = r.u32()?;
                let mut keys = Vec::new();
                for _ in 0..count {
                    let db = r.u32()? as usize;
                    if db >= found {
                        return Err(SnapshotError::Invalid("watched key's database"));
                    }
                    let key: Box<[u8]> = r.bytes()?.into();
                    keys.push((db, key, r.u8()? != 0));
                }
                engine.restore_watcher(crate::watch::SavedWatcher {
                    id,
                    since_ms,
                    dirty,
                    keys,
                });
            }
        }
        if version >= 7 {
            for _ in 0..r.u32()? {
                let body = bytes::Bytes::copy_from_slice(r.bytes()?);
                engine
                    .scripting
                    .restore_script(body)
                    .map_err(|_| SnapshotError::Invalid("script"))?;
            }
            let mut codes = Vec::new();
            for _ in 0..r.u32()? {
                codes.push(bytes::Bytes::copy_from_slice(r.bytes()?));
            }
            engine
                .scripting
                .restore_libraries(codes)
                .map_err(|_| SnapshotError::Invalid("function library"))?;
        }
        if r.pos != bytes.len() {
            return Err(SnapshotError::Truncated(r.pos));
        }
        Ok(engine)
    }

    /// A digest of the replicated state, independent of iteration order: 40 hex digits, all
    /// zeros for an empty keyspace (as Redis's DEBUG DIGEST).
    pub fn digest(&self) -> String {
        let mut acc = [0u8; 20];
        for (index, db) in self.dbs.iter().enumerate() {
            for (key, slot) in db.dict().iter() {
                let d = key_digest(index, key, slot);
                for (a, b) in acc.iter_mut().zip(d) {
                    *a ^= b;
                }
            }
        }
        acc.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The digest of one key: its database, name, expire time and value.
pub fn key_digest(db: usize, key: &[u8], slot: &Slot) -> [u8; 20] {
    let mut h = sha1_smol::Sha1::new();
    h.update(&(db as u64).to_le_bytes());
    h.update(&(key.len() as u64).to_le_bytes());
    h.update(key);
    h.update(&slot.expire_at_ms().unwrap_or(0).to_le_bytes());
    let mut value = Vec::new();
    put_value(&mut value, &slot.value);
    h.update(&value);
    h.digest().bytes()
}

/// DEBUG DIGEST-VALUE: the digest of a value alone (zeros when the key is missing).
pub fn value_digest(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "0".repeat(40);
    };
    let mut bytes = Vec::new();
    put_value(&mut bytes, value);
    let mut h = sha1_smol::Sha1::new();
    h.update(&bytes);
    h.digest().to_string()
}
