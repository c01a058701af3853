//! `Entry`: one record of the log, and its frozen binary encoding.
//!
//! Layout (version 1), all integers little-endian or LEB128 varints (`v`):
//! ```text
//! u8 version (=1) | u8 kind | v db | u64 time_ms | u64 seed | v origin.node | v origin.request | body
//! kind 1 Command: v argc, then argc × (v len, bytes)
//! kind 2 Tick:    v keys_max
//! kind 3 Init:    u64 hash_seed
//! kind 4 Expire:  v count, then count × (v len, key bytes)
//! kind 5 Lease:   v epoch
//! kind 6 Config:  v count (even), then count × (v len, bytes): name, value, name, value …
//! kind 7 Users:   v count, then count × (v len, bytes): one ACL LIST line per user
//! kind 8 Watch:   v client, then a list as in Command: the keys
//! kind 9 Unwatch: v client
//! kind 10 Exec:   v client, u8 watching (0/1), v count, then count × a list as in Command
//! kind 11 (read only; kind 12 replaced it) a list as in Command: the user's name, then the argv
//! kind 12 Script: u8 flags (1: a user follows, 2: oom), [v len, user bytes], then a list as in
//!         Command: the argv
//! kind 13 Evict:  v count, then count × (v db, v len, key bytes); the header's db is unused (0)
//! ```
//! A changed layout or a new field means a new version byte, and decoders keep reading every
//! old version; a new body kind takes a new kind number (a binary that predates it refuses
//! the record loudly rather than misreading it). The golden test pins every kind's bytes.

use bytes::{Buf, BufMut, Bytes};

pub const ENTRY_VERSION: u8 = 1;

/// Who made an entry: the node and its request counter. The node that appended an entry
/// replies to its client when it applies that entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    pub node: u64,
    pub request: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The logical database (`SELECT` index) the body runs in.
    pub db: u32,
    /// The appending node's clock; the engine's time is the max of all entries' times.
    pub time_ms: u64,
    /// Randomness for the body (RANDOMKEY-like choices, script seeds).
    pub seed: u64,
    pub origin: Origin,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// A write command's argv, name first, as the client sent it (syntax already checked).
    Command(Vec<Bytes>),
    /// Active expiry: remove up to `keys_max` keys whose expire time is <= `time_ms`.
    Tick { keys_max: u32 },
    /// The first entry of a new log: fixes the keyspace hash seed for every node.
    Init { hash_seed: u64 },
    /// Lazy expiry: a read found these keys of `db` expired; remove each that still is at
    /// `time_ms` (Redis deletes a key its reads find expired).
    Expire { keys: Vec<Bytes> },
    /// The origin node took the housekeeping lease (active expiry, snapshots) at `epoch`.
    /// From the position of the newest such entry on, Tick entries of other nodes change
    /// nothing: a node that lost the lease is fenced by the log itself.
    Lease { epoch: u64 },
    /// CONFIG SET of options that change results (the collection encoding thresholds): name,
    /// value, name, value … all validated by the node that made the entry.
    Config { pairs: Vec<Bytes> },
    /// ACL LOAD (or an aclfile imported at start): every user, one `user <name> <rules>` line
    /// each as ACL LIST writes them (passwords as hashes), replacing all users.
    Users { lines: Vec<Bytes> },
    /// WATCH: client `client` of the origin node watches these keys of `db` until its EXEC,
    /// DISCARD or UNWATCH (`crate::watch`).
    Watch { client: u64, keys: Vec<Bytes> },
    /// UNWATCH (also DISCARD, RESET, or a closed connection that was watching).
    Unwatch { client: u64 },
    /// EXEC: the queued commands of a transaction, run one after the other in `db` (a SELECT
    /// among them switches it). `watching`: the client had WATCHed keys, so the transaction
    /// commits only if none of them was touched since.
    Exec {
        client: u64,
        watching: bool,
        commands: Vec<Vec<Bytes>>,
    },
    /// A script command (EVAL, EVALSHA, FCALL) with what the node that accepted it knew of
    /// its caller: `user`, a user with ACL restrictions (the commands the script calls are
    /// checked against that user's rules as they run); `oom`, the node was over `maxmemory`
    /// (the script may not start writing with a command that can add data, unless its flags
    /// allow it).
    Script {
        user: Option<Bytes>,
        oom: bool,
        argv: Vec<Bytes>,
    },
    /// Eviction under `maxmemory`: the origin node was over its limit and chose these keys,
    /// as (db, key), in eviction order (`crate::evict`). Each that still exists is deleted
    /// ("evicted"; one that has expired meanwhile is removed as expired instead).
    Evict { keys: Vec<(u32, Bytes)> },
}

const KIND_COMMAND: u8 = 1;
const KIND_TICK: u8 = 2;
const KIND_INIT: u8 = 3;
const KIND_EXPIRE: u8 = 4;
const KIND_LEASE: u8 = 5;
const KIND_CONFIG: u8 = 6;
const KIND_USERS: u8 = 7;
const KIND_WATCH: u8 = 8;
const KIND_UNWATCH: u8 = 9;
const KIND_EXEC: u8 = 10;
const KIND_COMMAND_AS: u8 = 11;
const KIND_SCRIPT: u8 = 12;
const KIND_EVICT: u8 = 13;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("log entry truncated")]
    Truncated,
    #[error("unknown log entry version {0}")]
    Version(u8),
    #[error("unknown log entry kind {0}")]
    Kind(u8),
    #[error("unknown log entry flags {0:#x}")]
    Flags(u8),
    #[error("log entry varint overflows")]
    Varint,
    #[error("log entry has {0} trailing bytes")]
    Trailing(usize),
}

/// The bytes `put_varint` writes for `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn get_varint(buf: &mut Bytes) -> Result<u64, EntryError> {
    let mut rest = &buf[..];
    let v = slice_varint(&mut rest)?;
    buf.advance(buf.len() - rest.len());
    Ok(v)
}

/// Reads a varint from the front of `buf`, advancing it.
fn slice_varint(buf: &mut &[u8]) -> Result<u64, EntryError> {
    let mut v = 0u64;
    // A u64 needs at most 10 groups of 7 bits.
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or(EntryError::Truncated)?;
        *buf = rest;
        if shift == 63 && byte > 1 {
            return Err(EntryError::Varint);
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(EntryError::Varint)
}

fn get_u64(buf: &mut Bytes) -> Result<u64, EntryError> {
    if buf.remaining() < 8 {
        return Err(EntryError::Truncated);
    }
    Ok(buf.get_u64_le())
}

/// The bytes `put_list` writes for `items`.
fn list_len(items: &[Bytes]) -> usize {
    varint_len(items.len() as u64)
        + items
            .iter()
            .map(|item| varint_len(item.len() as u64) + item.len())
            .sum::<usize>()
}

fn put_list(out: &mut Vec<u8>, items: &[Bytes]) {
    put_varint(out, items.len() as u64);
    for item in items {
        put_varint(out, item.len() as u64);
        out.put_slice(item);
    }
}

fn get_list(buf: &mut Bytes) -> Result<Vec<Bytes>, EntryError> {
    let count = get_varint(buf)?;
    // Every item takes at least one byte, so the count can't exceed what's left.
    if count > buf.remaining() as u64 {
        return Err(EntryError::Truncated);
    }
    let mut items = Vec::with_capacity(count as usize);
    for _ in 0..count {
        items.push(get_bytes(buf)?);
    }
    Ok(items)
}

/// `v len, bytes`.
fn get_bytes(buf: &mut Bytes) -> Result<Bytes, EntryError> {
    let len = get_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(EntryError::Truncated);
    }
    Ok(buf.split_to(len as usize))
}

/// Everything before the body.
struct Header {
    kind: u8,
    db: u32,
    time_ms: u64,
    seed: u64,
    origin: Origin,
}

fn decode_header(buf: &mut Bytes) -> Result<Header, EntryError> {
    if buf.remaining() < 2 {
        return Err(EntryError::Truncated);
    }
    let version = buf.get_u8();
    if version != ENTRY_VERSION {
        return Err(EntryError::Version(version));
    }
    let kind = buf.get_u8();
    let db = u32::try_from(get_varint(buf)?).map_err(|_| EntryError::Varint)?;
    let time_ms = get_u64(buf)?;
    let seed = get_u64(buf)?;
    let origin = Origin {
        node: get_varint(buf)?,
        request: get_varint(buf)?,
    };
    Ok(Header {
        kind,
        db,
        time_ms,
        seed,
        origin,
    })
}

impl Entry {
    pub fn encode(&self) -> Bytes {
        // Sized exactly: a vector whose length is its capacity becomes `Bytes` without a
        // second allocation.
        let mut out = Vec::with_capacity(self.encoded_len());
        out.put_u8(ENTRY_VERSION);
        out.put_u8(match self.body {
            Body::Command(_) => KIND_COMMAND,
            Body::Tick { .. } => KIND_TICK,
            Body::Init { .. } => KIND_INIT,
            Body::Expire { .. } => KIND_EXPIRE,
            Body::Lease { .. } => KIND_LEASE,
            Body::Config { .. } => KIND_CONFIG,
            Body::Users { .. } => KIND_USERS,
            Body::Watch { .. } => KIND_WATCH,
            Body::Unwatch { .. } => KIND_UNWATCH,
            Body::Exec { .. } => KIND_EXEC,
            Body::Script { .. } => KIND_SCRIPT,
            Body::Evict { .. } => KIND_EVICT,
        });
        put_varint(&mut out, u64::from(self.db));
        out.put_u64_le(self.time_ms);
        out.put_u64_le(self.seed);
        put_varint(&mut out, self.origin.node);
        put_varint(&mut out, self.origin.request);
        match &self.body {
            Body::Command(argv)
            | Body::Expire { keys: argv }
            | Body::Config { pairs: argv }
            | Body::Users { lines: argv } => put_list(&mut out, argv),
            Body::Tick { keys_max } => put_varint(&mut out, u64::from(*keys_max)),
            Body::Init { hash_seed } => out.put_u64_le(*hash_seed),
            Body::Lease { epoch } => put_varint(&mut out, *epoch),
            Body::Watch { client, keys } => {
                put_varint(&mut out, *client);
                put_list(&mut out, keys);
            }
            Body::Unwatch { client } => put_varint(&mut out, *client),
            Body::Evict { keys } => {
                put_varint(&mut out, keys.len() as u64);
                for (db, key) in keys {
                    put_varint(&mut out, u64::from(*db));
                    put_varint(&mut out, key.len() as u64);
                    out.put_slice(key);
                }
            }
            Body::Script { user, oom, argv } => {
                out.put_u8(u8::from(user.is_some()) | (u8::from(*oom) << 1));
                if let Some(user) = user {
                    put_varint(&mut out, user.len() as u64);
                    out.put_slice(user);
                }
                put_list(&mut out, argv);
            }
            Body::Exec {
                client,
                watching,
                commands,
            } => {
                put_varint(&mut out, *client);
                out.put_u8(u8::from(*watching));
                put_varint(&mut out, commands.len() as u64);
                for argv in commands {
                    put_list(&mut out, argv);
                }
            }
        }
        debug_assert_eq!(out.len(), out.capacity());
        Bytes::from(out)
    }

    /// The length of `encode`'s bytes.
    fn encoded_len(&self) -> usize {
        let header = 2
            + varint_len(u64::from(self.db))
            + 16
            + varint_len(self.origin.node)
            + varint_len(self.origin.request);
        let body = match &self.body {
            Body::Command(argv)
            | Body::Expire { keys: argv }
            | Body::Config { pairs: argv }
            | Body::Users { lines: argv } => list_len(argv),
            Body::Tick { keys_max } => varint_len(u64::from(*keys_max)),
            Body::Init { .. } => 8,
            Body::Lease { epoch } => varint_len(*epoch),
            Body::Watch { client, keys } => varint_len(*client) + list_len(keys),
            Body::Unwatch { client } => varint_len(*client),
            Body::Evict { keys } => {
                varint_len(keys.len() as u64)
                    + keys
                        .iter()
                        .map(|(db, key)| {
                            varint_len(u64::from(*db)) + varint_len(key.len() as u64) + key.len()
                        })
                        .sum::<usize>()
            }
            Body::Script { user, argv, .. } => {
                1 + user
                    .as_ref()
                    .map_or(0, |u| varint_len(u.len() as u64) + u.len())
                    + list_len(argv)
            }
            Body::Exec {
                client, commands, ..
            } => {
                varint_len(*client)
                    + 1
                    + varint_len(commands.len() as u64)
                    + commands.iter().map(|argv| list_len(argv)).sum::<usize>()
            }
        };
        header + body
    }

    /// Reads only who made a record (its header), without decoding the body.
    /// Runs for every record a node applies, so it reads the bytes in place.
    pub fn decode_origin(record: &[u8]) -> Result<Origin, EntryError> {
        let mut buf = record;
        match buf {
            [ENTRY_VERSION, _, rest @ ..] => buf = rest,
            [version, _, ..] => return Err(EntryError::Version(*version)),
            _ => return Err(EntryError::Truncated),
        }
        slice_varint(&mut buf)?; // db
        // Time and seed.
        buf = buf.get(16..).ok_or(EntryError::Truncated)?;
        Ok(Origin {
            node: slice_varint(&mut buf)?,
            request: slice_varint(&mut buf)?,
        })
    }

    /// Decodes a record; arguments are zero-copy slices of `record`.
    pub fn decode(record: &Bytes) -> Result<Entry, EntryError> {
        let mut buf = record.clone();
        let Header {
            kind,
            db,
            time_ms,
            seed,
            origin,
        } = decode_header(&mut buf)?;
        let body = match kind {
            KIND_COMMAND => Body::Command(get_list(&mut buf)?),
            KIND_EXPIRE => Body::Expire {
                keys: get_list(&mut buf)?,
            },
            KIND_TICK => Body::Tick {
                keys_max: u32::try_from(get_varint(&mut buf)?).map_err(|_| EntryError::Varint)?,
            },
            KIND_INIT => Body::Init {
                hash_seed: get_u64(&mut buf)?,
            },
            KIND_LEASE => Body::Lease {
                epoch: get_varint(&mut buf)?,
            },
            KIND_CONFIG => Body::Config {
                pairs: get_list(&mut buf)?,
            },
            KIND_USERS => Body::Users {
                lines: get_list(&mut buf)?,
            },
            KIND_WATCH => Body::Watch {
                client: get_varint(&mut buf)?,
                keys: get_list(&mut buf)?,
            },
            KIND_UNWATCH => Body::Unwatch {
                client: get_varint(&mut buf)?,
            },
            KIND_COMMAND_AS => {
                let mut items = get_list(&mut buf)?;
                if items.is_empty() {
                    return Err(EntryError::Truncated);
                }
                let user = items.remove(0);
                Body::Script {
                    user: Some(user),
                    oom: false,
                    argv: items,
                }
            }
            KIND_SCRIPT => {
                if !buf.has_remaining() {
                    return Err(EntryError::Truncated);
                }
                let flags = buf.get_u8();
                if flags > 3 {
                    return Err(EntryError::Flags(flags));
                }
                let user = if flags & 1 != 0 {
                    Some(get_bytes(&mut buf)?)
                } else {
                    None
                };
                Body::Script {
                    user,
                    oom: flags & 2 != 0,
                    argv: get_list(&mut buf)?,
                }
            }
            KIND_EVICT => {
                let count = get_varint(&mut buf)?;
                // Every key takes at least two bytes (its db and its length).
                if count > buf.remaining() as u64 / 2 {
                    return Err(EntryError::Truncated);
                }
                let keys = (0..count)
                    .map(|_| {
                        let db =
                            u32::try_from(get_varint(&mut buf)?).map_err(|_| EntryError::Varint)?;
                        Ok((db, get_bytes(&mut buf)?))
                    })
                    .collect::<Result<_, EntryError>>()?;
                Body::Evict { keys }
            }
            KIND_EXEC => {
                let client = get_varint(&mut buf)?;
                if !buf.has_remaining() {
                    return Err(EntryError::Truncated);
                }
                let watching = buf.get_u8() != 0;
                let count = get_varint(&mut buf)?;
                // Every command takes at least one byte.
                if count > buf.remaining() as u64 {
                    return Err(EntryError::Truncated);
                }
                let commands = (0..count)
                    .map(|_| get_list(&mut buf))
                    .collect::<Result<_, _>>()?;
                Body::Exec {
                    client,
                    watching,
                    commands,
                }
            }
            other => return Err(EntryError::Kind(other)),
        };
        if buf.has_remaining() {
            return Err(EntryError::Trailing(buf.remaining()));
        }
        Ok(Entry {
            db,
            time_ms,
            seed,
            origin,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> Body {
        Body::Command(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    /// Version 1's bytes, frozen: a change here breaks every existing log.
    #[test]
    fn golden_version_1() {
        let e = Entry {
            db: 3,
            time_ms: 0x0102_0304_0506_0708,
            seed: 42,
            origin: Origin {
                node: 300,
                request: 5,
            },
            body: command(&["SET", "k", "v"]),
        };
        let expected: &[u8] = &[
            1, 1, 3, 8, 7, 6, 5, 4, 3, 2, 1, 42, 0, 0, 0, 0, 0, 0, 0, 0xac, 0x02, 5, 3, 3, b'S',
            b'E', b'T', 1, b'k', 1, b'v',
        ];
        assert_eq!(&e.encode()[..], expected);
        assert_eq!(Entry::decode(&Bytes::from_static(expected)).unwrap(), e);
        assert_eq!(
            Entry::decode_origin(&Bytes::from_static(expected)).unwrap(),
            e.origin
        );

        let tick = Entry {
            db: 0,
            time_ms: 1,
            seed: 0,
            origin: Origin::default(),
            body: Body::Tick { keys_max: 200 },
        };
        let expected: &[u8] = &[
            1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc8, 0x01,
        ];
        assert_eq!(&tick.encode()[..], expected);

        let init = Entry {
            db: 0,
            time_ms: 0,
            seed: 0,
            origin: Origin::default(),
            body: Body::Init { hash_seed: 1 },
        };
        let bytes = init.encode();
        assert_eq!(bytes[1], 3);
        assert_eq!(&bytes[bytes.len() - 8..], &[1, 0, 0, 0, 0, 0, 0, 0]);

        let keys = vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")];
        let expire = Entry {
            db: 2,
            time_ms: 1,
            seed: 0,
            origin: Origin::default(),
            body: Body::Expire { keys },
        };
        let expected: &[u8] = &[
            1, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, b'a', 2, b'b',
            b'c',
        ];
        assert_eq!(&expire.encode()[..], expected);
        assert_eq!(
            Entry::decode(&Bytes::from_static(expected)).unwrap(),
            expire
        );

        let lease = Entry {
            db: 0,
            time_ms: 1,
            seed: 0,
            origin: Origin {
                node: 7,
                request: 2,
            },
            body: Body::Lease { epoch: 300 },
        };
        let expected: &[u8] = &[
            1, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 2, 0xac, 0x02,
        ];
        assert_eq!(&lease.encode()[..], expected);
        assert_eq!(Entry::decode(&Bytes::from_static(expected)).unwrap(), lease);

        let config = Entry {
            db: 0,
            time_ms: 1,
            seed: 0,
            origin: Origin::default(),
            body: Body::Config {
                pairs: vec![Bytes::from_static(b"a"), Bytes::from_static(b"7")],
            },
        };
        let expected: &[u8] = &[
            1, 6, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, b'a', 1, b'7',
        ];
        assert_eq!(&config.encode()[..], expected);
        assert_eq!(
            Entry::decode(&Bytes::from_static(expected)).unwrap(),
            config
        );

        let users = Entry {
            db: 0,
            time_ms: 1,
            seed: 0,
            origin: Origin::default(),
            body: Body::Users {
                lines: vec![Bytes::from_static(b"user a off")],
            },
        };
        let expected: &[u8] = &[
            1, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 10, b'u', b's', b'e',
            b'r', b' ', b'a', b' ', b'o', b'f', b'f',
        ];
        assert_eq!(&users.encode()[..], expected);
        assert_eq!(Entry::decode(&Bytes::from_static(expected)).unwrap(), users);

        let header: &[u8] = &[
            1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let frozen = |kind: u8, body: Body, tail: &[u8]| {
            let e = Entry {
                db: 0,
                time_ms: 1,
                seed: 0,
                origin: Origin::default(),
                body,
            };
            let mut expected = header.to_vec();
            expected[1] = kind;
            expected.extend_from_slice(tail);
            assert_eq!(&e.encode()[..], &expected[..], "kind {kind}");
            assert_eq!(Entry::decode(&Bytes::from(expected)).unwrap(), e);
        };
        frozen(
            8,
            Body::Watch {
                client: 300,
                keys: vec![Bytes::from_static(b"k")],
            },
            &[0xac, 0x02, 1, 1, b'k'],
        );
        frozen(9, Body::Unwatch { client: 5 }, &[5]);
        frozen(
            12,
            Body::Script {
                user: Some(Bytes::from_static(b"u")),
                oom: false,
                argv: vec![Bytes::from_static(b"EVAL")],
            },
            &[1, 1, b'u', 1, 4, b'E', b'V', b'A', b'L'],
        );
        frozen(
            12,
            Body::Script {
                user: None,
                oom: true,
                argv: vec![Bytes::from_static(b"EVAL")],
            },
            &[2, 1, 4, b'E', b'V', b'A', b'L'],
        );
        // Kind 11, written before kind 12 existed, still reads.
        let mut old = header.to_vec();
        old[1] = 11;
        old.extend_from_slice(&[2, 1, b'u', 4, b'E', b'V', b'A', b'L']);
        assert_eq!(
            Entry::decode(&Bytes::from(old)).unwrap().body,
            Body::Script {
                user: Some(Bytes::from_static(b"u")),
                oom: false,
                argv: vec![Bytes::from_static(b"EVAL")],
            }
        );
        let mut bad = header.to_vec();
        bad[1] = 12;
        bad.extend_from_slice(&[4, 1, 4, b'E', b'V', b'A', b'L']);
        assert_eq!(Entry::decode(&Bytes::from(bad)), Err(EntryError::Flags(4)));
        frozen(
            10,
            Body::Exec {
                client: 5,
                watching: true,
                commands: vec![
                    vec![Bytes::from_static(b"PING")],
                    vec![Bytes::from_static(b"DEL"), Bytes::from_static(b"k")],
                ],
            },
            &[
                5, 1, 2, 1, 4, b'P', b'I', b'N', b'G', 2, 3, b'D', b'E', b'L', 1, b'k',
            ],
        );
        frozen(
            13,
            Body::Evict {
                keys: vec![
                    (0, Bytes::from_static(b"k")),
                    (300, Bytes::from_static(b"ab")),
                ],
            },
            &[2, 0, 1, b'k', 0xac, 0x02, 2, b'a', b'b'],
        );
        frozen(13, Body::Evict { keys: Vec::new() }, &[0]);
        // A count the record cannot hold is refused before anything is allocated for it.
        let mut bad = header.to_vec();
        bad[1] = 13;
        bad.extend_from_slice(&[0xff, 0xff, 0x03, 0, 0]);
        assert_eq!(Entry::decode(&Bytes::from(bad)), Err(EntryError::Truncated));
    }

    #[test]
    fn round_trip_and_rejects_garbage() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..500 {
            let argv = (0..rng.usize(1..6))
                .map(|_| {
                    Bytes::from(
                        (0..rng.usize(0..300))
                            .map(|_| rng.u8(..))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            let e = Entry {
                db: rng.u32(0..16),
                time_ms: rng.u64(..),
                seed: rng.u64(..),
                origin: Origin {
                    node: rng.u64(..),
                    request: rng.u64(..),
                },
                body: Body::Command(argv),
            };
            let bytes = e.encode();
            assert_eq!(Entry::decode(&bytes).unwrap(), e);
            assert_eq!(Entry::decode_origin(&bytes).unwrap(), e.origin);
            let header = bytes.len()
                - list_len(match &e.body {
                    Body::Command(argv) => argv,
                    _ => unreachable!(),
                });
            assert!(Entry::decode_origin(&bytes[..header - 1]).is_err());
            // Every strict prefix is rejected, never mis-decoded.
            let cut = rng.usize(0..bytes.len());
            assert!(Entry::decode(&bytes.slice(..cut)).is_err());
        }
        assert_eq!(
            Entry::decode(&Bytes::from_static(&[9, 1])),
            Err(EntryError::Version(9))
        );
        assert_eq!(Entry::decode_origin(&[9, 1]), Err(EntryError::Version(9)));
        assert_eq!(Entry::decode_origin(&[1]), Err(EntryError::Truncated));
    }

    /// `encode` sizes its buffer by `encoded_len`; every kind and every varint width agree.
    #[test]
    fn encoded_len_is_exact() {
        let widths = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let list =
            |n: usize| -> Vec<Bytes> { (0..n).map(|i| Bytes::from(vec![b'x'; i * 67])).collect() };
        for &v in &widths {
            let bodies = [
                Body::Command(list(3)),
                Body::Tick { keys_max: v as u32 },
                Body::Init { hash_seed: v },
                Body::Expire { keys: list(2) },
                Body::Lease { epoch: v },
                Body::Config { pairs: list(0) },
                Body::Users { lines: list(1) },
                Body::Watch {
                    client: v,
                    keys: list(4),
                },
                Body::Unwatch { client: v },
                Body::Exec {
                    client: v,
                    watching: true,
                    commands: vec![list(2), list(0), list(200)],
                },
                Body::Script {
                    user: Some(Bytes::from(vec![b'u'; 130])),
                    oom: true,
                    argv: list(3),
                },
                Body::Script {
                    user: None,
                    oom: false,
                    argv: list(1),
                },
                Body::Evict {
                    keys: list(3)
                        .into_iter()
                        .enumerate()
                        .map(|(i, k)| ((v as u32).wrapping_add(i as u32), k))
                        .collect(),
                },
            ];
            for body in bodies {
                let e = Entry {
                    db: v as u32,
                    time_ms: v,
                    seed: v,
                    origin: Origin {
                        node: v,
                        request: v,
                    },
                    body,
                };
                assert_eq!(e.encode().len(), e.encoded_len(), "{:?}", e.body);
            }
        }
    }
}
