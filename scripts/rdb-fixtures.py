#!/usr/bin/env python3
"""Regenerates crates/engine/src/rdb/fixtures.rs: DUMP payloads taken from a real
redis-server 7.0.15, with the values Redis itself reports for them.

    scripts/rdb-fixtures.py > crates/engine/src/rdb/fixtures.rs && cargo fmt

Every value is built with Redis commands (under the configuration of its group), DUMPed, and
read back (GET, LRANGE, SMEMBERS, HGETALL, ZRANGE WITHSCORES). Payloads in encodings Redis
7.0 no longer writes (linked lists, ziplists, zipmaps, text scores) are put together here,
then RESTOREd into the same server with `sanitize-dump-payload yes` (the checks Cairn always
makes): a payload is kept only if Redis accepts it, and its expected value is what Redis
reports after loading it. Payloads Redis refuses are kept with Redis's error text.

The server runs on a loopback port in 49000..49999 with no persistence and is stopped by
its PID.
"""

import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------------------------
# A minimal RESP2 client


class Err(Exception):
    pass


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def __call__(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def read(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise Err(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)
            return data[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)


def free_port():
    """A loopback port in 49000..49999 that nothing listens on."""
    ports = list(range(49000, 50000))
    random.Random(os.getpid()).shuffle(ports)
    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 49000..49999")


def start_server(workdir):
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--enable-debug-command", "local"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited at start (port %d)" % port)
            try:
                client = Client(port)
            except OSError:
                time.sleep(0.05)
                continue
            info = client("INFO", "server")
            assert b"redis_version:7.0.15" in info, "needs redis-server 7.0.15"
            return proc, client
        raise RuntimeError("redis-server did not start")
    except BaseException:
        proc.terminate()
        proc.wait()
        raise


# --------------------------------------------------------------------------------------------
# Encoders for the payloads Redis 7.0 no longer writes

def crc64(data):
    poly = 0x95AC9329AC4BC9B5
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc


def payload(body, version=10):
    body = body + struct.pack("<H", version)
    return body + struct.pack("<Q", crc64(body))


def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | n >> 8, n & 0xFF])
    return b"\x80" + struct.pack(">I", n)


def rdb_str(s):
    return rdb_len(len(s)) + s


def rdb_int(v):
    if -128 <= v < 128:
        return b"\xc0" + struct.pack("<b", v)
    if -32768 <= v < 32768:
        return b"\xc1" + struct.pack("<h", v)
    return b"\xc2" + struct.pack("<i", v)


def rdb_lzf_run(byte, n):
    """An LZF string of `n` copies of `byte` (n >= 4): one literal, then copies."""
    stream = bytes([0, byte])
    left = n - 1
    while left > 0:
        take = min(left, 264)
        if take < 3:
            stream += bytes([take - 1]) + bytes([byte]) * take
            break
        l = take - 2
        if l < 7:
            stream += bytes([l << 5, 0])
        else:
            stream += bytes([7 << 5, l - 7, 0])
        left -= take
    return b"\xc3" + rdb_len(len(stream)) + rdb_len(n) + stream


def ziplist(entries):
    body = b""
    prev = 0
    tail = 10
    for e in entries:
        start = 10 + len(body)
        tail = start
        ent = bytes([prev]) if prev < 254 else b"\xfe" + struct.pack("<I", prev)
        if isinstance(e, int):
            if 0 <= e <= 12:
                ent += bytes([0xF1 + e])
            elif -128 <= e < 128:
                ent += b"\xfe" + struct.pack("<b", e)
            elif -32768 <= e < 32768:
                ent += b"\xc0" + struct.pack("<h", e)
            elif -(1 << 23) <= e < 1 << 23:
                ent += b"\xf0" + struct.pack("<i", e)[:3]
            elif -(1 << 31) <= e < 1 << 31:
                ent += b"\xd0" + struct.pack("<i", e)
            else:
                ent += b"\xe0" + struct.pack("<q", e)
        else:
            if len(e) < 64:
                ent += bytes([len(e)])
            elif len(e) < 16384:
                ent += struct.pack(">H", 0x4000 | len(e))
            else:
                ent += b"\x80" + struct.pack(">I", len(e))
            ent += e
        body += ent
        prev = len(ent)
    total = 10 + len(body) + 1
    return struct.pack("<IIH", total, tail, min(len(entries), 65535)) + body + b"\xff"


def zipmap(pairs, free=0):
    out = bytes([min(len(pairs), 254)])

    def zlen(n):
        return bytes([n]) if n < 254 else b"\xfe" + struct.pack("<I", n)

    for f, v in pairs:
        out += zlen(len(f)) + f + zlen(len(v)) + bytes([free]) + v + b"\x00" * free
    return out + b"\xff"


def intset(values, width):
    fmt = {2: "<h", 4: "<i", 8: "<q"}[width]
    return struct.pack("<II", width, len(values)) + b"".join(struct.pack(fmt, v) for v in values)


def listpack(entries):
    """A listpack with integers in their smallest width and strings as they are."""
    body = b""
    for e in entries:
        if isinstance(e, int):
            if 0 <= e <= 127:
                enc = bytes([e])
            elif -4096 <= e <= 4095:
                u = e & 0x1FFF
                enc = bytes([0xC0 | u >> 8, u & 0xFF])
            else:
                enc = b"\xf4" + struct.pack("<q", e)
        else:
            assert len(e) < 64
            enc = bytes([0x80 | len(e)]) + e
        n = len(enc)
        back = bytes([n]) if n < 128 else bytes([n >> 7, (n & 127) | 128])
        body += enc + back
    return struct.pack("<IH", 6 + len(body) + 1, min(len(entries), 65535)) + body + b"\xff"


# --------------------------------------------------------------------------------------------
# Reading a key back


def read_value(r, key):
    kind = r("TYPE", key)
    enc = r("OBJECT", "ENCODING", key).decode()
    if kind == "string":
        return ("Str", r("GET", key)), enc
    if kind == "list":
        return ("List", r("LRANGE", key, 0, -1)), enc
    if kind == "set":
        return ("Set", r("SMEMBERS", key)), enc
    if kind == "hash":
        flat = r("HGETALL", key)
        return ("Hash", list(zip(flat[::2], flat[1::2]))), enc
    if kind == "zset":
        flat = r("ZRANGE", key, 0, -1, "WITHSCORES")
        pairs = [(m, float(s)) for m, s in zip(flat[::2], flat[1::2])]
        if enc == "skiplist":
            pairs.reverse()  # DUMP walks the skiplist from its tail
        return ("ZSet", pairs), enc
    raise RuntimeError("unexpected type %s" % kind)


# --------------------------------------------------------------------------------------------
# Rust output


def rust_bytes(b):
    out = 'b"'
    for c in b:
        ch = chr(c)
        if ch in '"\\':
            out += "\\" + ch
        elif 0x20 <= c < 0x7F:
            out += ch
        else:
            out += "\\x%02x" % c
    return out + '"'


def rust_f64(x):
    if x == float("inf"):
        return "f64::INFINITY"
    if x == float("-inf"):
        return "f64::NEG_INFINITY"
    text = repr(x)
    return text if ("." in text or "e" in text) else text + ".0"


def rust_value(value):
    kind, v = value
    if kind == "Str":
        return "s(%s)" % rust_bytes(v)
    if kind in ("List", "Set"):
        fn = "list" if kind == "List" else "set"
        return "%s(&[%s])" % (fn, ", ".join(rust_bytes(e) for e in v))
    if kind == "Hash":
        return "hash(&[%s])" % ", ".join("(%s, %s)" % (rust_bytes(f), rust_bytes(x)) for f, x in v)
    return "zset(&[%s])" % ", ".join("(%s, %s)" % (rust_bytes(m), rust_f64(s)) for m, s in v)


def hex_expr(data, indent=12):
    """The hex of `data` as a Rust string expression, 96 digits a line."""
    h = data.hex()
    lines = ['"%s"' % h[i:i + 96] for i in range(0, len(h), 96)] or ['""']
    if len(lines) == 1:
        return lines[0]
    inner = ",\n".join(" " * (indent + 4) + line for line in lines)
    return "concat!(\n%s,\n%s)" % (inner, " " * indent)


# --------------------------------------------------------------------------------------------
# What is generated

DEFAULTS = {
    "hash-max-listpack-entries": 128, "hash-max-listpack-value": 64,
    "zset-max-listpack-entries": 128, "zset-max-listpack-value": 64,
    "set-max-intset-entries": 512, "list-max-listpack-size": -2,
    "list-compress-depth": 0, "rdbcompression": "yes",
}

INTS = [0, 1, -1, 12, 13, 127, 128, -128, -129, 4095, 4096, -4096, -4097, 32767, 32768,
        -32768, -32769, 8388607, 8388608, -8388608, -8388609, 2147483647, 2147483648,
        -2147483648, -2147483649, 9223372036854775807, -9223372036854775808]


def groups():
    """(group name, config, exact re-encoding?, [(name, [commands], large value as Rust)])"""
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(80))
    noise_long = bytes(rng.randrange(256) for _ in range(120))
    strings = [
        ("str_empty", b""), ("str_binary", b"\x00\xff\r\n\"\\"), ("str_hello", b"hello"),
        ("str_float", b"1.5"), ("str_leading_zero", b"007"), ("str_minus_zero", b"-0"),
        ("str_11_digits", b"12345678901"), ("str_noise", noise),
        ("str_repetitive", b"abc" * 40),
    ] + [("str_int_%s" % str(v).replace("-", "m"), str(v).encode()) for v in INTS]
    basic = [(name, [["SET", name, v]], None) for name, v in strings]
    basic += [
        ("list_small", [["RPUSH", "list_small", "a", "1", "-1", "", "hello world",
                         "12345678901234567890", "9223372036854775807", b"\x00\xff"]], None),
        ("list_ints", [["RPUSH", "list_ints"] + INTS], None),
        ("list_two_nodes", [["RPUSH", "list_two_nodes"] + ["item:%d" % i for i in range(1000)]],
         'list_of((0..1000).map(|i| format!("item:{i}")))'),
        ("set_intset16", [["SADD", "set_intset16", 3, 1, -5, 2]], None),
        ("set_intset32", [["SADD", "set_intset32", 70000, 1, -2]], None),
        ("set_intset64", [["SADD", "set_intset64", 1 << 40, -1, 9223372036854775807]], None),
        ("set_strings", [["SADD", "set_strings", "a", "b", "c", b"\x00"]], None),
        ("set_mixed", [["SADD", "set_mixed", "1", "a", "007"]], None),
        ("set_large_ints", [["SADD", "set_large_ints"] + list(range(600))],
         "set_of((0..600).map(|i| i.to_string()))"),
        ("hash_small", [["HSET", "hash_small", "a", "1", "b", "hello", "c", "",
                         "num", "12345678901234", "neg", "-77"]], None),
        ("hash_long_value", [["HSET", "hash_long_value", "f", "v" * 100, "g", "1"]], None),
        ("hash_many", [["HSET", "hash_many"] + [x for i in range(200) for x in ("f%d" % i, "v%d" % i)]],
         'hash_of((0..200).map(|i| (format!("f{i}"), format!("v{i}"))))'),
        ("zset_small", [["ZADD", "zset_small", 1, "a", 2.5, "b", "-inf", "c", "+inf", "d", 0, "e",
                         -3, "f", 0.1, "g", 1e300, "h", "1000000000000000.25", "i", "-0", "j",
                         5, "x", 5, "w", 4611686018427387904, "big", 1.5e-7, "tiny",
                         -1234.5678, "neg", 7, "123"]], None),
        ("zset_long_member", [["ZADD", "zset_long_member", 1, "m" * 100, 2, "n", 0.5, "o"]], None),
        ("zset_many", [["ZADD", "zset_many"] + [x for i in range(200) for x in (i * 0.5, "m%d" % i)]],
         'zset_of((0..200).map(|i| (format!("m{i}"), f64::from(i) * 0.5)).rev())'),
    ]
    small = {"hash-max-listpack-entries": 4, "hash-max-listpack-value": 8,
             "zset-max-listpack-entries": 4, "zset-max-listpack-value": 8,
             "set-max-intset-entries": 4, "list-max-listpack-size": 3}
    small_values = [
        ("small_list_nodes", [["RPUSH", "small_list_nodes"] + [str(i) for i in range(10)]], None),
        ("small_set_over_intset", [["SADD", "small_set_over_intset", 1, 2, 3, 4, 5]], None),
        ("small_hash_over_entries", [["HSET", "small_hash_over_entries", "a", 1, "b", 2, "c", 3,
                                      "d", 4, "e", 5]], None),
        ("small_hash_over_value", [["HSET", "small_hash_over_value", "a", "123456789"]], None),
        ("small_zset_over_entries", [["ZADD", "small_zset_over_entries", 1, "a", 2, "b", 3, "c",
                                      4, "d", 5, "e"]], None),
        ("small_zset_over_value", [["ZADD", "small_zset_over_value", 1, "123456789", 2, "x"]],
         None),
    ]
    comp = [
        ("list_big_elements", [["RPUSH", "list_big_elements", "x" * 10000, "y", "z" * 9000]],
         'list_of(["x".repeat(10000), "y".to_string(), "z".repeat(9000)])'),
        ("lzf_string", [["SET", "lzf_string", "abcdefgh" * 30]], None),
        ("lzf_list_node", [["RPUSH", "lzf_list_node"] + ["element-%d" % (i % 7) for i in range(50)]],
         'list_of((0..50).map(|i| format!("element-{}", i % 7)))'),
        ("lzf_hash_listpack", [["HSET", "lzf_hash_listpack"] +
                               [x for i in range(30) for x in ("field%d" % i, "value" * 5)]],
         'hash_of((0..30).map(|i| (format!("field{i}"), "value".repeat(5))))'),
        ("lzf_hash_plain", [["HSET", "lzf_hash_plain", "f", "long value " * 20]], None),
        ("lzf_set_plain", [["SADD", "lzf_set_plain", "member " * 10, "other " * 10]], None),
        ("lzf_zset_skiplist", [["ZADD", "lzf_zset_skiplist", 1, "member " * 20, 2, "x"]], None),
    ]
    compressed = [
        ("compressed_nodes", [["RPUSH", "compressed_nodes"] +
                              ["element-%02d-%s" % (i, "x" * 20) for i in range(20)]],
         'list_of((0..20).map(|i| format!("element-{i:02}-{}", "x".repeat(20))))'),
    ]
    plain = [
        ("plain_nodes", [["DEBUG", "QUICKLIST-PACKED-THRESHOLD", 100],
                         ["RPUSH", "plain_nodes", "a", "P" * 200, "b", noise_long, "c"]],
         None),
    ]
    return [
        ("defaults", {"rdbcompression": "no"}, True, basic),
        ("compression", {}, False, comp + [(n, c, x) for n, c, x in basic
                                           if n in ("str_repetitive", "hash_small")]),
        ("small_thresholds", dict(small, rdbcompression="no"), True, small_values),
        ("compressed_nodes", {"list-max-listpack-size": 4, "list-compress-depth": 1}, False,
         compressed),
        ("plain_nodes", {}, False, plain),
    ]


def legacy():
    """(name, payload): payloads in the forms only older versions of Redis write."""
    zl_ints = [0, 12, 13, -128, 127, -129, 32767, -32769, 8388607, -8388609, 2147483647,
               -2147483649, 9223372036854775807]
    long_entry = b"L" * 300
    return [
        ("legacy_list_linked", payload(
            b"\x01" + rdb_len(5) + rdb_str(b"a") + rdb_int(1) + rdb_int(-300) +
            rdb_lzf_run(ord("z"), 40) + rdb_str(b""))),
        ("legacy_list_ziplist", payload(
            b"\x0a" + rdb_str(ziplist([b"a", b"", long_entry] + zl_ints + [b"end"])))),
        ("legacy_list_quicklist", payload(
            b"\x0e" + rdb_len(3) + rdb_str(ziplist([b"one", 2, b"three"])) +
            rdb_str(ziplist([])) + rdb_str(ziplist([b"four", long_entry, 5])))),
        ("legacy_set_plain", payload(
            b"\x02" + rdb_len(4) + rdb_str(b"x") + rdb_int(5) + rdb_int(-70000) +
            rdb_lzf_run(ord("m"), 30))),
        ("legacy_set_intset_wide", payload(b"\x0b" + rdb_str(intset([-3, 1, 2], 8)))),
        ("legacy_zset_text_scores", payload(
            b"\x03" + rdb_len(5) + rdb_str(b"a") + b"\x031.5" + rdb_str(b"b") + b"\xfe" +
            rdb_str(b"c") + b"\xff" + rdb_str(b"d") + b"\x09-2.5e-300" + rdb_int(42) + b"\x013")),
        ("legacy_zset_ziplist", payload(
            b"\x0c" + rdb_str(ziplist([b"a", 1, b"b", b"2.5", b"c", b"inf", b"7", -3])))),
        ("legacy_hash_zipmap", payload(
            b"\x09" + rdb_str(zipmap([(b"f1", b"v1"), (b"f" * 260, b"long field"),
                                      (b"n", b"")], free=1)))),
        ("legacy_hash_ziplist", payload(
            b"\x0d" + rdb_str(ziplist([b"a", 1, b"b", b"hello", 7, long_entry])))),
        ("legacy_hash_listpack_unknown_count", payload(
            b"\x10" + rdb_str(listpack([b"a", 1, b"b", b"x"])[:4] + b"\xff\xff" +
                              listpack([b"a", 1, b"b", b"x"])[6:]))),
        ("legacy_zset_listpack_wide_ints", payload(
            b"\x11" + rdb_str(listpack([b"a", -5000, b"b", 1 << 40])))),
        ("legacy_version_9", payload(b"\x00" + rdb_str(b"from RDB 9"), version=9)),
        ("legacy_zset2_negative_zero", payload(
            b"\x05" + rdb_len(2) + rdb_str(b"a") + struct.pack("<d", 1.0) +
            rdb_str(b"b") + struct.pack("<d", -0.0))),
    ]


def refused():
    """(name, payload, our error as Rust): payloads Redis's RESTORE refuses."""
    good = payload(b"\x00" + rdb_str(b"v"))
    return [
        ("version_11", payload(b"\x00" + rdb_str(b"v"), version=11), "RdbError::VersionOrChecksum"),
        ("bad_crc", good[:-1] + bytes([good[-1] ^ 1]), "RdbError::VersionOrChecksum"),
        ("short", b"\x00\x01\x02", "RdbError::VersionOrChecksum"),
        ("empty_list", payload(b"\x01\x00"), "RdbError::Corrupt(_)"),
        ("empty_quicklist", payload(b"\x12\x01\x02" + rdb_str(listpack([]))), "RdbError::Corrupt(_)"),
        ("duplicate_set_member", payload(b"\x02\x02" + rdb_str(b"a") + rdb_str(b"a")),
         "RdbError::Corrupt(_)"),
        ("duplicate_hash_field", payload(b"\x04\x02" + rdb_str(b"a") + rdb_str(b"1") +
                                         rdb_str(b"a") + rdb_str(b"2")), "RdbError::Corrupt(_)"),
        ("duplicate_zset_member", payload(b"\x05\x02" + rdb_str(b"a") + struct.pack("<d", 1) +
                                          rdb_str(b"a") + struct.pack("<d", 2)),
         "RdbError::Corrupt(_)"),
        ("nan_score", payload(b"\x05\x01" + rdb_str(b"a") + struct.pack("<d", float("nan"))),
         "RdbError::Corrupt(_)"),
        ("quicklist_container_3", payload(b"\x12\x01\x03" + rdb_str(b"x")), "RdbError::Corrupt(_)"),
        ("truncated_string", payload(b"\x00\x32abc"), "RdbError::Corrupt(_)"),
        ("bad_lzf", payload(b"\x00\xc3\x02\x05\x00a"), "RdbError::Corrupt(_)"),
        ("unknown_type_8", payload(b"\x08\x00"), "RdbError::Corrupt(_)"),
        ("type_20", payload(b"\x14" + rdb_str(listpack([b"a"]))), "RdbError::Corrupt(_)"),
        ("module_type", payload(b"\x07" + b"\x00" * 9), "RdbError::Module"),
        ("odd_hash_listpack", payload(b"\x10" + rdb_str(listpack([b"a", 1, b"b"]))),
         "RdbError::Corrupt(_)"),
        ("intset_unsorted", payload(b"\x0b" + rdb_str(intset([2, 1], 2))), "RdbError::Corrupt(_)"),
    ]


# --------------------------------------------------------------------------------------------


HEADER = '''\
//! Payloads made by a real redis-server 7.0.15, and the values Redis reports for them.
//!
//! Generated by `scripts/rdb-fixtures.py` (do not edit by hand): each value was built with
//! the commands shown, under its group's configuration, then DUMPed and read back with GET,
//! LRANGE, SMEMBERS, HGETALL or ZRANGE WITHSCORES. Legacy payloads (forms Redis 7.0 no
//! longer writes) were put together by the script and kept only because Redis 7.0.15's
//! RESTORE accepted them (with `sanitize-dump-payload yes`); their values are what Redis
//! reported after loading them. Refused payloads are ones that RESTORE refused, with its
//! error.

use super::{DumpOptions, RdbError, RdbValue};

pub struct Fixture {
    pub name: &'static str,
    /// Redis's OBJECT ENCODING of the key that was dumped (of the restored key, for legacy).
    pub encoding: &'static str,
    pub hex: &'static str,
    pub value: RdbValue,
    /// Whether the payload keeps the order Redis reported (otherwise compare as sets).
    pub ordered: bool,
    /// Options under which `dump_with` must reproduce the payload byte for byte.
    pub exact: Option<DumpOptions>,
}

pub struct Refused {
    pub name: &'static str,
    pub hex: &'static str,
    /// Redis's reply to RESTORE.
    pub redis: &'static str,
    pub ours: fn(&RdbError) -> bool,
}

fn s(b: &[u8]) -> RdbValue {
    RdbValue::Str(b.to_vec())
}

fn list(items: &[&[u8]]) -> RdbValue {
    RdbValue::List(items.iter().map(|e| e.to_vec()).collect())
}

fn set(items: &[&[u8]]) -> RdbValue {
    RdbValue::Set(items.iter().map(|e| e.to_vec()).collect())
}

fn hash(pairs: &[(&[u8], &[u8])]) -> RdbValue {
    RdbValue::Hash(pairs.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())
}

fn zset(pairs: &[(&[u8], f64)]) -> RdbValue {
    RdbValue::ZSet(pairs.iter().map(|(m, s)| (m.to_vec(), *s)).collect())
}

fn list_of(items: impl IntoIterator<Item = String>) -> RdbValue {
    RdbValue::List(items.into_iter().map(String::into_bytes).collect())
}

fn set_of(items: impl IntoIterator<Item = String>) -> RdbValue {
    RdbValue::Set(items.into_iter().map(String::into_bytes).collect())
}

fn hash_of(pairs: impl IntoIterator<Item = (String, String)>) -> RdbValue {
    RdbValue::Hash(pairs.into_iter().map(|(f, v)| (f.into_bytes(), v.into_bytes())).collect())
}

fn zset_of(pairs: impl IntoIterator<Item = (String, f64)>) -> RdbValue {
    RdbValue::ZSet(pairs.into_iter().map(|(m, s)| (m.into_bytes(), s)).collect())
}
'''


def options_expr(config):
    c = dict(DEFAULTS, **config)
    return ("DumpOptions { hash_max_listpack_entries: %d, hash_max_listpack_value: %d, "
            "zset_max_listpack_entries: %d, zset_max_listpack_value: %d, "
            "set_max_intset_entries: %d, list_max_listpack_size: %d, list_compress_depth: %d, "
            "rdb_compression: %s }" % (
                c["hash-max-listpack-entries"], c["hash-max-listpack-value"],
                c["zset-max-listpack-entries"], c["zset-max-listpack-value"],
                c["set-max-intset-entries"], c["list-max-listpack-size"],
                c["list-compress-depth"], "true" if c["rdbcompression"] == "yes" else "false"))


def describe(commands):
    def word(a):
        a = a if isinstance(a, bytes) else str(a).encode()
        if len(a) > 32:
            return "<%d bytes>" % len(a)
        text = rust_bytes(a)[2:-1]
        return text if text and " " not in text else '"%s"' % text
    text = "; ".join(" ".join(word(a) for a in c[:12]) + (" ..." if len(c) > 12 else "")
                     for c in commands)
    return text.replace("*/", "* /")


def main():
    with tempfile.TemporaryDirectory(prefix="rdb-fixtures-") as workdir:
        generate(workdir)


def generate(workdir):
    proc, r = start_server(workdir)
    out = [HEADER]
    for group, config, exact, _ in groups():
        if exact:
            out.append("/// The configuration of group `%s`." % group)
            out.append("fn options_%s() -> DumpOptions {" % group)
            out.append("    %s" % options_expr(config))
            out.append("}")
            out.append("")
    out += ["pub fn payloads() -> Vec<Fixture> {", "    vec!["]
    try:
        for group, config, exact, values in groups():
            r("FLUSHALL")
            r("DEBUG", "QUICKLIST-PACKED-THRESHOLD", 1 << 30)
            for k, v in dict(DEFAULTS, **config).items():
                r("CONFIG", "SET", k, v)
            out.append("        // Group %s: %s" % (group, config or "Redis's defaults"))
            for name, commands, rust in values:
                key = commands[-1][1]
                for c in commands:
                    r(*c)
                dumped = r("DUMP", key)
                value, enc = read_value(r, key)
                # The payload must also load back into the same value.
                r("RESTORE", key + "_copy", 0, dumped)
                copy = read_value(r, key + "_copy")[0]
                assert copy == value or (value[0] != "List" and sorted(copy[1]) == sorted(value[1]))
                ordered = not (value[0] in ("Set", "Hash") and enc == "hashtable")
                out.append("        // %s" % describe(commands))
                out.append("        Fixture {")
                out.append('            name: "%s/%s",' % (group, name))
                out.append('            encoding: "%s",' % enc)
                out.append("            hex: %s," % hex_expr(dumped))
                out.append("            value: %s," % (rust or rust_value(value)))
                out.append("            ordered: %s," % ("true" if ordered else "false"))
                out.append("            exact: %s," % (
                    "Some(options_%s())" % group if exact else "None"))
                out.append("        },")
        r("FLUSHALL")
        for k, v in DEFAULTS.items():
            r("CONFIG", "SET", k, v)
        # The checks Cairn always makes are the ones of Redis's deep sanitization.
        r("CONFIG", "SET", "sanitize-dump-payload", "yes")
        out.append("        // Legacy forms, accepted by Redis 7.0.15's RESTORE")
        for name, data in legacy():
            r("RESTORE", name, 0, data)
            value, enc = read_value(r, name)
            out.append("        Fixture {")
            out.append('            name: "legacy/%s",' % name)
            out.append('            encoding: "%s",' % enc)
            out.append("            hex: %s," % hex_expr(data))
            out.append("            value: %s," % rust_value(value))
            out.append("            ordered: %s," % ("true" if value[0] == "List" else "false"))
            out.append("            exact: None,")
            out.append("        },")
        out.append("    ]")
        out.append("}")
        out.append("")
        out.append("pub fn refused() -> Vec<Refused> {")
        out.append("    vec![")
        for name, data, ours in refused():
            try:
                reply = r("RESTORE", "refused_" + name, 0, data)
                raise RuntimeError("Redis accepted %s: %r" % (name, reply))
            except Err as e:
                text = str(e)
            out.append("        Refused {")
            out.append('            name: "%s",' % name)
            out.append("            hex: %s," % hex_expr(data))
            out.append('            redis: "%s",' % text)
            out.append("            ours: |e| matches!(e, %s)," % ours)
            out.append("        },")
        out.append("    ]")
        out.append("}")
        # A stream: Redis takes it, Cairn refuses it with its own error.
        r("XADD", "stream", "1-1", "field", "value")
        stream = r("DUMP", "stream")
        out.append("")
        out.append("/// DUMP of `XADD stream 1-1 field value`.")
        out.append("pub const STREAM_HEX: &str = %s;" % hex_expr(stream, 0))
    finally:
        proc.terminate()
        proc.wait()
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
