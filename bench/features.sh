#!/usr/bin/env bash
# Transactions, scripts, pub/sub and streams, Cairn against Redis 7 on this machine, in one run,
# side by side on free loopback ports (Redis without persistence, Redis with appendfsync always,
# Cairn with its defaults: durable):
#   - MULTI/EXEC of 3 commands (SET, INCR, GET), as one operation;
#   - EVALSHA of a small script (INCR a key, return the value), loaded with SCRIPT LOAD;
#   - PUBLISH to a channel with 1 and with 100 subscribers (redis-cli processes);
#   - XADD (auto ID, one field) and XREADGROUP (COUNT 1, then XACK) of a 1-consumer group;
# driven by `cairn bench` (operations of several commands, which redis-benchmark cannot send)
# at pipeline 1 and 16. Prints a markdown report on stdout (progress on stderr). Every server and
# subscriber it starts is stopped by PID on exit. Tune with N_P1 (default 50000), N_P16
# (300000), CLIENTS (50), ROUNDS (3, medians reported).
# CAIRN_BIN=path benchmarks that binary instead of building the work tree.
# Usage: bench/features.sh | tee /tmp/features.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N_P1=${N_P1:-50000}
N_P16=${N_P16:-300000}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
LIB=(python3 "$ROOT/bench/lib.py")

scripts/deps.sh redis

BENCH_TAG=features
# shellcheck source=bench/common.sh
. bench/common.sh

mapfile -t PORTS < <("${LIB[@]}" free-ports 3)
P_REDIS=${PORTS[0]} P_AOF=${PORTS[1]} P_CAIRN=${PORTS[2]}
BENCH=("$T/bin/cairn" bench)
SCRIPT='return redis.call("INCR", KEYS[1])'

cat <<EOF
# Transactions, scripts, pub/sub and streams: Cairn vs Redis 7

## Machine and versions

| what | value |
|---|---|
$(machine_rows)
| Redis | $(redis-server --version) |
| Cairn | $("$T/bin/cairn" --version), $CAIRN_FROM |

EOF

start_redis redis "$P_REDIS" --save '' --appendonly no
start_redis redis-aof "$P_AOF" --save '' --appendonly yes --appendfsync always
start_cairn cairn "$P_CAIRN"
for p in "$P_REDIS" "$P_AOF" "$P_CAIRN"; do wait_ping "$p" >/dev/null || die "no PONG on $p"; done

# subscribers PORT N: N redis-cli processes subscribed to channel "ch" (registered for cleanup).
SUBS=()
subscribers() {
  local port=$1 n=$2 i
  for ((i = 0; i < n; i++)); do
    redis-cli -h 127.0.0.1 -p "$port" subscribe ch >/dev/null 2>&1 &
    SUBS+=($!)
    PIDS+=($!)
  done
  for ((i = 0; i < 100; i++)); do
    [ "$(cli "$port" pubsub numsub ch | tail -1)" = "$n" ] && return 0
    sleep 0.1
  done
  die "subscribers on $port did not register"
}
unsubscribe_all() {
  local pid
  for pid in "${SUBS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done
  SUBS=()
}

RESULTS=$T/results.csv
: >"$RESULTS"
run() { # run LABEL PORT PIPE ROUND NAME [bench args...] OPERATION
  local label=$1 port=$2 pipe=$3 round=$4 name=$5 n=$N_P1
  shift 5
  [ "$pipe" = 16 ] && n=$N_P16
  "${BENCH[@]}" -p "$port" -c "$CLIENTS" -P "$pipe" -n "$n" -r 100000 --csv "$name" "$@" |
    sed "s/^/$label,$pipe,$round,/" >>"$RESULTS" || die "$label: $name failed"
}
bench_server() { # bench_server ROUND LABEL PORT
  local round=$1 label=$2 port=$3 pipe sha
  cli "$port" flushall >/dev/null
  sha=$(cli "$port" script load "$SCRIPT")
  for pipe in 1 16; do
    log "round $round, $label: -P $pipe"
    run "$label" "$port" "$pipe" "$round" "MULTI/EXEC (SET+INCR+GET)" \
      "MULTI; SET k:__rand__ v; INCR counter; GET k:__rand__; EXEC"
    run "$label" "$port" "$pipe" "$round" "EVALSHA (INCR)" "EVALSHA $sha 1 n:__rand__"
    subscribers "$port" 1
    run "$label" "$port" "$pipe" "$round" "PUBLISH (1 subscriber)" "PUBLISH ch hello"
    unsubscribe_all
    subscribers "$port" 100
    run "$label" "$port" "$pipe" "$round" "PUBLISH (100 subscribers)" "PUBLISH ch hello"
    unsubscribe_all
    cli "$port" del s >/dev/null
    run "$label" "$port" "$pipe" "$round" "XADD" --setup "XGROUP CREATE s g $ MKSTREAM" \
      "XADD s * f v"
    run "$label" "$port" "$pipe" "$round" "XREADGROUP + XACK" \
      "XREADGROUP GROUP g c COUNT 1 STREAMS s >; XACK s g 0-1"
  done
}
for ((round = 1; round <= ROUNDS; round++)); do
  bench_server "$round" redis "$P_REDIS"
  bench_server "$round" redis-aof "$P_AOF"
  bench_server "$round" cairn "$P_CAIRN"
done

cat <<EOF
## Throughput and latency

\`cairn bench -c $CLIENTS -P {1,16} -n N -r 100000\` (one operation = the commands listed,
sent back to back; pipeline = operations in flight per client) against one server at a time,
client and server sharing the same $(nproc) cores; the three servers take turns, and each cell
is the median over $ROUNDS rounds. Latencies are per operation, in ms. XADD adds to one stream
that XREADGROUP then reads (as many reads as entries, so every read finds one; the XACK names a
fixed ID, a constant cost). Writes on Cairn are durable (fsync'd before the reply).

EOF
"${LIB[@]}" table "$RESULTS" --all
echo
echo "Spread of ops/s over the rounds (min – max):"
echo
"${LIB[@]}" spread "$RESULTS" --all
