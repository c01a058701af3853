#!/usr/bin/env bash
# The data types, Cairn against Redis 7 on this machine, in one run, side by side on free
# loopback ports:
#   - throughput and latency of LPUSH, LPOP, LRANGE_100, HSET, SADD, SPOP, ZADD, ZPOPMIN and
#     ZRANGE (first 10 of a 1000-member sorted set) at pipeline 1 and 16, from redis-benchmark,
#     against Redis without persistence, Redis with appendfsync always, and Cairn (durable);
#   - memory for one hash, one set and one sorted set of MEMBERS members each (RSS growth of
#     the server while it holds them, per member).
# Prints a markdown report on stdout (progress on stderr). Every server it starts is stopped by
# PID on exit. Loads are fixed request counts; tune with N_P1 (default 100000), N_P16 (1000000),
# CLIENTS (50), ROUNDS (3, medians reported), MEMBERS (1000000).
# CAIRN_BIN=path benchmarks that binary instead of building the work tree.
# Usage: bench/types.sh | tee /tmp/types.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N_P1=${N_P1:-100000}
N_P16=${N_P16:-1000000}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
MEMBERS=${MEMBERS:-1000000}
LIB=(python3 "$ROOT/bench/lib.py")

scripts/deps.sh redis

BENCH_TAG=types
# shellcheck source=bench/common.sh
. bench/common.sh

mapfile -t PORTS < <("${LIB[@]}" free-ports 3)
P_REDIS=${PORTS[0]} P_AOF=${PORTS[1]} P_CAIRN=${PORTS[2]}

log "machine facts"
cat <<EOF
# Data types: Cairn vs Redis 7

## Machine and versions

| what | value |
|---|---|
$(machine_rows)
| Redis | $(redis-server --version) |
| Cairn | $("$T/bin/cairn" --version), $CAIRN_FROM |

EOF

# --- throughput and latency ------------------------------------------------------------------
start_redis redis "$P_REDIS" --save '' --appendonly no
start_redis redis-aof "$P_AOF" --save '' --appendonly yes --appendfsync always
start_cairn cairn "$P_CAIRN"
for p in "$P_REDIS" "$P_AOF" "$P_CAIRN"; do wait_ping "$p" >/dev/null || die "no PONG on $p"; done
"${LIB[@]}" gen-members zset 1000 "$T/zrange.resp"

RESULTS=$T/results.csv
: >"$RESULTS"
bench_server() { # bench_server ROUND LABEL PORT
  local round=$1 label=$2 port=$3 pipe n
  cli "$port" flushall >/dev/null
  cli "$port" --pipe <"$T/zrange.resp" >/dev/null
  for pipe in 1 16; do
    n=$N_P1; [ "$pipe" = 16 ] && n=$N_P16
    log "round $round, $label: -P $pipe"
    # LPUSH before LPOP and LRANGE_100, as redis-benchmark orders them, so the pops find data.
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -r 100000 \
      -t lpush,lpop,lrange_100,hset,sadd,spop,zadd,zpopmin -n "$n" -P "$pipe" --csv |
      sed "s/^/$label,$pipe,$round,/" >>"$RESULTS"
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$n" -P "$pipe" --csv \
      ZRANGE z 0 9 | sed "s/^\"ZRANGE z 0 9\"/\"ZRANGE (10 of 1000)\"/; s/^/$label,$pipe,$round,/" >>"$RESULTS"
  done
}
for ((round = 1; round <= ROUNDS; round++)); do
  bench_server "$round" redis "$P_REDIS"
  bench_server "$round" redis-aof "$P_AOF"
  bench_server "$round" cairn "$P_CAIRN"
done

cat <<EOF
## Throughput and latency

\`redis-benchmark -c $CLIENTS -r 100000 -t lpush,lpop,lrange_100,hset,sadd,spop,zadd,zpopmin
-n N -P {1,16}\` and \`redis-benchmark ... ZRANGE z 0 9\` (a 1000-member sorted set) against one
server at a time, client and server sharing the same $(nproc) cores; the three servers take
turns, and each cell is the median over $ROUNDS rounds. Latencies are redis-benchmark's, in ms.
Ratios are of ops/s. Writes on Cairn are durable (fsync'd before the reply).

EOF
"${LIB[@]}" table "$RESULTS" --all
echo
echo "Spread of ops/s over the rounds (min – max):"
echo
"${LIB[@]}" spread "$RESULTS" --all
echo
for pid in "${PIDS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done

# --- memory for one big hash, set and sorted set -----------------------------------------------
MEM=$T/mem.kv
echo "members=$MEMBERS" >"$MEM"
for kind in hash set zset; do
  log "memory: $kind of $MEMBERS members"
  "${LIB[@]}" gen-members "$kind" "$MEMBERS" "$T/$kind.resp"
  start_redis "redis-$kind" "$P_REDIS" --save '' --appendonly no
  r_pid=$LAST_PID
  start_cairn "cairn-$kind" "$P_CAIRN"
  c_pid=$LAST_PID
  wait_ping "$P_REDIS" >/dev/null && wait_ping "$P_CAIRN" >/dev/null || die "no PONG"
  sleep 1
  for side in redis cairn; do
    if [ "$side" = redis ]; then port=$P_REDIS pid=$r_pid; else port=$P_CAIRN pid=$c_pid; fi
    before=$(rss "$pid")
    cli "$port" --pipe <"$T/$kind.resp" >/dev/null
    [ "$(cli "$port" dbsize)" = 1 ] || die "$side: $kind not loaded"
    if [ "$side" = cairn ]; then
      # Load-time buffers (large log entries, allocator caches) are not the data: count what
      # a node holds once restarted from its own log, as it runs from then on, against the
      # same fresh, empty process it started as.
      stop_pid "$pid"; forget_pid "$pid"
      start_cairn "cairn-$kind" "$P_CAIRN"
      pid=$LAST_PID
      wait_ping "$P_CAIRN" >/dev/null || die "cairn did not restart"
      [ "$(cli "$port" dbsize)" = 1 ] || die "cairn: $kind lost in the restart"
    fi
    sleep 1
    after=$(rss "$pid")
    echo "${side}_${kind}=$((after - before))" >>"$MEM"
  done
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done
done

cat <<EOF
## Memory for one big collection

One hash (\`f:<i>\` -> \`v:<i>\`), one set (\`m:<i>\`) and one sorted set (\`m:<i>\`, score i) of
$MEMBERS members, loaded with \`redis-cli --pipe\` in commands of 1000 members; RSS growth of the
server holding it, per member. Redis is measured right after the load; Cairn after a restart
from its own log (the same data, without the load's transient buffers).

EOF
"${LIB[@]}" mem-table "$MEM"
