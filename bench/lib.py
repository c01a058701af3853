#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

Subcommands:
  free-ports N              print N free loopback TCP ports, one per line
  gen-set N PATH [SIZE]     write a RESP stream of N `SET key:<i> <SIZE bytes>` commands
  wait-ping PORT SECS       wait until PORT answers PING with +PONG
  pong-at PORT SECS READY   create file READY, then wait for +PONG; print the wall clock (ns)
                            of the first +PONG (start this before the server to time a start)
  rss PID                   print the process's VmRSS in bytes
  dd-us TEXT                parse dd's last line and print microseconds per write (200 writes)
  table RESULTS             markdown throughput table (medians over rounds) from the collected
                            redis-benchmark CSV rows `server,pipeline,round,<csv>`; the
                            commands are SET/GET/INCR/MSET, or every test found with --all
  gen-members TYPE N PATH   a RESP stream filling one key of TYPE (hash, set, zset) with N
                            members, 1000 per command
  mem-table MEM             markdown memory table from bench/types.sh's key=value file
  spread RESULTS            min – max ops/s over the rounds
  targets RESULTS MEM RST   the issue's targets, met or not, from the collected numbers
  tls-table RESULTS TLS     SET/GET over TLS (medians), Cairn / Redis, and each against its
                            plaintext numbers in RESULTS
  tls-spread TLS            min – max ops/s over the rounds, over TLS
  rb CSV TEST               "rps p50 p99" of TEST from one redis-benchmark --csv output
  gap-probe PORT SECS       SET in a loop on PORT for SECS (reconnecting on errors); print the
                            longest gap between two acknowledged SETs in ms, and the count
  stream-leader PORT...     the index (0-based, in argument order) of the NATS server whose
                            monitoring PORT says it leads stream CAIRN_default
  info-field PORT SECTION FIELD   one field of INFO SECTION
"""

import csv
import random
import re
import socket
import statistics
import sys
import time

SERVERS = [("redis", "Redis (no persistence)"),
           ("redis-aof", "Redis (AOF always)"),
           ("cairn", "Cairn (durable)")]
COMMANDS = ["SET", "GET", "INCR", "MSET (10 keys)"]


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    for s in socks:
        print(s.getsockname()[1])
    for s in socks:
        s.close()


def gen_set(n, path, size=100):
    """Values are hex of seeded pseudo-random bytes, different per key, so that neither Redis's
    RDB (LZF) nor Cairn's snapshot (lz4) can compress repeated values away."""
    rnd = random.Random(20240601)
    with open(path, "wb", buffering=1 << 20) as f:
        for i in range(n):
            key = b"key:%d" % i
            value = rnd.randbytes((size + 1) // 2).hex()[:size].encode()
            f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                    % (len(key), key, size, value))


def gen_members(kind, n, path):
    """One key per type: hash `h` (field f:<i> -> value v:<i>), set `s` (member m:<i>), zset `z`
    (member m:<i>, score i); 1000 members per command, as a client loading in bulk would."""
    cmd = {"hash": b"HSET", "set": b"SADD", "zset": b"ZADD"}[kind]
    key = {"hash": b"h", "set": b"s", "zset": b"z"}[kind]

    def bulk(b):
        return b"$%d\r\n%s\r\n" % (len(b), b)

    with open(path, "wb", buffering=1 << 20) as f:
        for start in range(0, n, 1000):
            words = [cmd, key]
            for i in range(start, min(n, start + 1000)):
                if kind == "hash":
                    words += [b"f:%d" % i, b"v:%d" % i]
                elif kind == "set":
                    words.append(b"m:%d" % i)
                else:
                    words += [b"%d" % i, b"m:%d" % i]
            f.write(b"*%d\r\n" % len(words) + b"".join(bulk(w) for w in words))


def mem_table(path):
    kv = read_kv(path)
    print("| type | members | Redis bytes/member | Cairn bytes/member | Cairn / Redis |")
    print("|---|---|---|---|---|")
    for kind in ("hash", "set", "zset"):
        r, c, n = kv.get("redis_%s" % kind), kv.get("cairn_%s" % kind), kv.get("members")
        if r is None or c is None:
            continue
        r, c, n = int(r), int(c), int(n)
        print("| %s | %s | %.1f | %.1f | %.2f× |" % (kind, fmt_rps(n), r / n, c / n,
                                                  c / r if r else float("nan")))


def wait_ping(port, secs):
    """Wall clock (ns) of the first +PONG from PORT, or None after SECS."""
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                data = s.recv(128)
                if data.startswith(b"+PONG"):
                    return time.time_ns()
        except OSError:
            pass
        time.sleep(0.002)
    print("no +PONG on port %d within %s s" % (port, secs), file=sys.stderr)
    return None


def pong_at(port, secs, ready):
    open(ready, "w").close()
    t = wait_ping(port, secs)
    if t is None:
        return 1
    print(t)
    return 0


def rss(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                print(int(line.split()[1]) * 1024)
                return 0
    return 1


def dd_us(text):
    m = re.search(r"copied, ([0-9.,]+) s", text)
    if not m:
        print("?")
        return 1
    print("%.0f" % (float(m.group(1).replace(",", ".")) / 200 * 1e6))
    return 0


def load_rounds(path):
    """Rows `server,pipeline,round,"test","rps","avg",...` -> {(server, p, test): [dict per round]}."""
    out = {}
    with open(path) as f:
        for row in csv.reader(f):
            if len(row) < 11 or row[3] == "test":
                continue
            key = (row[0], int(row[1]), row[3])
            out.setdefault(key, []).append({"rps": float(row[4]), "p50": float(row[7]),
                                            "p99": float(row[9])})
    return out


def load_results(path):
    """The median of each figure over the rounds: {(server, p, test): dict}."""
    return {key: {f: statistics.median(r[f] for r in rounds) for f in ("rps", "p50", "p99")}
            for key, rounds in load_rounds(path).items()}


def fmt_rps(v):
    return "{:,.0f}".format(v)


def commands_in(res):
    """The tests found in the results, in first-seen order."""
    seen = []
    for key in res:
        if key[2] not in seen:
            seen.append(key[2])
    return seen


def table(path, all_tests=False):
    res = load_results(path)
    commands = commands_in(res) if all_tests else COMMANDS
    pipelines = sorted({k[1] for k in res})
    head = ["command", "P"]
    for _, name in SERVERS:
        head += [name + " ops/s", "p50 ms", "p99 ms"]
    head += ["Cairn / Redis", "Cairn / Redis AOF"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in pipelines:
        for cmd in commands:
            cells = [cmd, str(p)]
            for key, _ in SERVERS:
                r = res.get((key, p, cmd))
                cells += [fmt_rps(r["rps"]), "%.3f" % r["p50"], "%.3f" % r["p99"]] if r \
                    else ["-", "-", "-"]
            c, r0, ra = (res.get((s, p, cmd)) for s in ("cairn", "redis", "redis-aof"))
            cells.append("%.2f×" % (c["rps"] / r0["rps"]) if c and r0 else "-")
            cells.append("%.2f×" % (c["rps"] / ra["rps"]) if c and ra else "-")
            print("| " + " | ".join(cells) + " |")


def spread(path, all_tests=False):
    rounds = load_rounds(path)
    commands = commands_in(rounds) if all_tests else COMMANDS
    pipelines = sorted({k[1] for k in rounds})
    print("| command | P | " + " | ".join(name for _, name in SERVERS) + " |")
    print("|---|---|" + "---|" * len(SERVERS))
    for p in pipelines:
        for cmd in commands:
            cells = [cmd, str(p)]
            for key, _ in SERVERS:
                rs = [r["rps"] for r in rounds.get((key, p, cmd), [])]
                cells.append("%s – %s" % (fmt_rps(min(rs)), fmt_rps(max(rs))) if rs else "-")
            print("| " + " | ".join(cells) + " |")


TLS_SERVERS = [("redis-tls", "Redis over TLS (no persistence)"),
               ("cairn-tls", "Cairn over TLS (durable)")]
TLS_COMMANDS = ["SET", "GET"]


def tls_table(results, tls_results):
    plain, res = load_results(results), load_results(tls_results)
    head = ["command", "P"]
    for _, name in TLS_SERVERS:
        head += [name + " ops/s", "p50 ms", "p99 ms"]
    head += ["Cairn / Redis (TLS)", "Redis TLS / plain", "Cairn TLS / plain"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for p in sorted({k[1] for k in res}):
        for cmd in TLS_COMMANDS:
            cells = [cmd, str(p)]
            for key, _ in TLS_SERVERS:
                r = res.get((key, p, cmd))
                cells += [fmt_rps(r["rps"]), "%.3f" % r["p50"], "%.3f" % r["p99"]] if r \
                    else ["-", "-", "-"]
            c, r = res.get(("cairn-tls", p, cmd)), res.get(("redis-tls", p, cmd))
            cells.append("%.2f×" % (c["rps"] / r["rps"]) if c and r else "-")
            for tls, base in ((r, plain.get(("redis", p, cmd))), (c, plain.get(("cairn", p, cmd)))):
                cells.append("%.2f×" % (tls["rps"] / base["rps"]) if tls and base else "-")
            print("| " + " | ".join(cells) + " |")


def tls_spread(tls_results):
    rounds = load_rounds(tls_results)
    print("| command | P | " + " | ".join(name for _, name in TLS_SERVERS) + " |")
    print("|---|---|" + "---|" * len(TLS_SERVERS))
    for p in sorted({k[1] for k in rounds}):
        for cmd in TLS_COMMANDS:
            cells = [cmd, str(p)]
            for key, _ in TLS_SERVERS:
                rs = [r["rps"] for r in rounds.get((key, p, cmd), [])]
                cells.append("%s – %s" % (fmt_rps(min(rs)), fmt_rps(max(rs))) if rs else "-")
            print("| " + " | ".join(cells) + " |")


def read_kv(path):
    out = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.strip().split("=", 1)
                out[k] = v
    return out


def targets(results, mem, restart):
    res = load_results(results)
    m, r = read_kv(mem), read_kv(restart)
    rows = []
    for cmd in ("SET", "GET"):
        for p in (1, 16):
            c, b = res.get(("cairn", p, cmd)), res.get(("redis", p, cmd))
            if c and b:
                ratio = c["rps"] / b["rps"]
                rows.append(("durable Cairn %s P%d ≥ 1.0× Redis (no persistence) ops/s" % (cmd, p),
                             "%.2f× (%s vs %s)" % (ratio, fmt_rps(c["rps"]), fmt_rps(b["rps"])),
                             ratio >= 1.0))
    c, a = res.get(("cairn", 1, "SET")), res.get(("redis-aof", 1, "SET"))
    if c and a:
        rows.append(("durable Cairn SET p99 at P1 ≤ ½ Redis appendfsync-always SET p99",
                     "%.3f ms vs %.3f ms (limit %.3f ms)" % (c["p99"], a["p99"], a["p99"] / 2),
                     c["p99"] <= a["p99"] / 2))
    if "cairn_bpk" in m and "redis_bpk" in m:
        cb, rb = float(m["cairn_bpk"]), float(m["redis_bpk"])
        rows.append(("memory: Cairn bytes/key ≤ Redis bytes/key (after the load)",
                     "%.0f B vs %.0f B" % (cb, rb), cb <= rb))
    if "cairn_restart_bpk" in m and "redis_restart_bpk" in m:
        cb, rb = float(m["cairn_restart_bpk"]), float(m["redis_restart_bpk"])
        rows.append(("memory: Cairn bytes/key ≤ Redis bytes/key (same keys after a restart)",
                     "%.0f B vs %.0f B" % (cb, rb), cb <= rb))
    if "redis_ms" in r:
        rm = float(r["redis_ms"])
        for key, what in (("cairn_clean_ms", "after SHUTDOWN (snapshot)"),
                          ("cairn_kill_ms", "after kill -9 (snapshot + log replay)")):
            if key in r:
                cm = float(r[key])
                rows.append(("restart %s ≤ Redis RDB restart" % what,
                             "%.0f ms vs %.0f ms" % (cm, rm), cm <= rm))
    print("| target | measured | met? |")
    print("|---|---|---|")
    for name, measured, ok in rows:
        print("| %s | %s | %s |" % (name, measured, "met" if ok else "**not met**"))


def rb(path, test):
    with open(path) as f:
        for row in csv.reader(f):
            if row and row[0] == test:
                print(row[1], row[4], row[6])
                return 0
    return 1


def call(sock, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def gap_probe(port, secs):
    deadline = time.monotonic() + secs
    last = time.monotonic()
    gap, count, sock = 0.0, 0, None
    while time.monotonic() < deadline:
        try:
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            call(sock, "SET", "probe", count)
            now = time.monotonic()
            gap, last, count = max(gap, now - last), now, count + 1
        except OSError:
            sock = None
            time.sleep(0.01)
    print("%.0f %d" % (gap * 1000, count))


def stream_leader(ports):
    import json
    import urllib.request
    for port in ports:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/jsz?accounts=true&streams=true" % port,
                                        timeout=2) as r:
                j = json.load(r)
        except OSError:
            continue
        for acc in j.get("account_details", []):
            for st in acc.get("stream_detail", []):
                if st.get("name") == "CAIRN_default":
                    leader = st.get("cluster", {}).get("leader", "")
                    if leader.startswith("n"):
                        print(int(leader[1:]))
                        return 0
    return 1


def info_field(port, section, field):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n" % (len(section), section.encode()))
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if not chunk or data.endswith(b"\r\n") and data.count(b"\r\n") > 1:
                header, _, body = data.partition(b"\r\n")
                if not header.startswith(b"$") or len(body) >= int(header[1:]) + 2:
                    break
    for line in data.decode().split("\r\n"):
        if line.startswith(field + ":"):
            print(line.split(":", 1)[1])
            return 0
    return 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "free-ports":
        free_ports(int(args[0]))
    elif cmd == "gen-set":
        gen_set(int(args[0]), args[1], int(args[2]) if len(args) > 2 else 100)
    elif cmd == "wait-ping":
        return 0 if wait_ping(int(args[0]), float(args[1])) else 1
    elif cmd == "pong-at":
        return pong_at(int(args[0]), float(args[1]), args[2])
    elif cmd == "rss":
        return rss(args[0])
    elif cmd == "dd-us":
        return dd_us(args[0])
    elif cmd == "table":
        table(args[0], "--all" in args[1:])
    elif cmd == "spread":
        spread(args[0], "--all" in args[1:])
    elif cmd == "gen-members":
        gen_members(args[0], int(args[1]), args[2])
    elif cmd == "mem-table":
        mem_table(args[0])
    elif cmd == "targets":
        targets(args[0], args[1], args[2])
    elif cmd == "tls-table":
        tls_table(args[0], args[1])
    elif cmd == "tls-spread":
        tls_spread(args[0])
    elif cmd == "rb":
        return rb(args[0], args[1])
    elif cmd == "gap-probe":
        gap_probe(int(args[0]), float(args[1]))
    elif cmd == "stream-leader":
        return stream_leader(args)
    elif cmd == "info-field":
        return info_field(int(args[0]), args[1], args[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
