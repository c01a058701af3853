#!/usr/bin/env bash
# What ACL costs: GET and SET on one Cairn node as the `default` user (no restriction: the
# gate's fast path) and as a restricted user (`+@read +@write ~key:*`: the command bitmap and a
# key pattern checked on every command), in the same run, rounds interleaved so that the
# machine's background load hits both alike. Two measures: throughput (req/s), and the CPU
# time the event-loop thread (sessions, gate, engine) spends per request, from
# /proc/<pid>/task/<pid>/schedstat, which a busy machine disturbs far less than wall time.
# Prints a markdown report on stdout (progress on stderr); medians of ROUNDS (default 7) runs
# of N (default 200000) requests, CLIENTS (50) connections, pipeline 1 and 16, 100-byte
# values, random keys.
# CAIRN_BIN=path benchmarks that binary instead of building the work tree.
# Usage: bench/acl.sh | tee /tmp/bench-acl.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-7}
LIB=(python3 "$ROOT/bench/lib.py")

scripts/deps.sh redis

BENCH_TAG=acl
# shellcheck source=bench/common.sh
. bench/common.sh

mapfile -t PORTS < <("${LIB[@]}" free-ports 1)
PORT=${PORTS[0]}
mkdir -p "$T/cairn"
"$T/bin/cairn" --port "$PORT" --dir "$T/cairn" >>"$T/cairn.log" 2>&1 &
CAIRN_PID=$!
PIDS+=("$CAIRN_PID")
"${LIB[@]}" wait-ping "$PORT" 60
redis-cli -p "$PORT" ACL SETUSER bench on '>bench-pw' '+@read' '+@write' '~key:*' >/dev/null
redis-benchmark -p "$PORT" -t SET -n 100000 -r 100000 -d 100 -P 16 -q >/dev/null 2>&1

# Nanoseconds the event-loop thread (the process's main thread) has run so far.
loop_cpu_ns() { cut -d' ' -f1 "/proc/$CAIRN_PID/task/$CAIRN_PID/schedstat"; }

run() { # run AS TEST PIPELINE: one redis-benchmark run; prints "req/s cpu-ns-per-request"
  local as=$1 test=$2 pipeline=$3 auth=() before after rps
  [ "$as" = restricted ] && auth=(--user bench -a bench-pw)
  before=$(loop_cpu_ns)
  rps=$(redis-benchmark -p "$PORT" "${auth[@]}" -t "$test" -n "$N" -r 100000 -d 100 \
    -c "$CLIENTS" -P "$pipeline" --csv 2>/dev/null | awk -F'"' 'NR == 2 {print $4}')
  after=$(loop_cpu_ns)
  echo "$rps $(((after - before) / N))"
}

declare -A RPS CPU
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS"
  for test in GET SET; do
    for pipeline in 1 16; do
      # Alternate which user goes first, so that neither always meets the warmer server.
      order=(default restricted)
      ((round % 2 == 0)) && order=(restricted default)
      for as in "${order[@]}"; do
        read -r r c < <(run "$as" "$test" "$pipeline")
        RPS[$test,$pipeline,$as]+="$r "
        CPU[$test,$pipeline,$as]+="$c "
      done
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

cat <<EOF
# ACL overhead

Cairn $CAIRN_FROM, one node, file log with its defaults (appendfsync always). Each cell is
the median of $ROUNDS runs of \`redis-benchmark -t <test> -n $N -r 100000 -d 100 -c $CLIENTS
-P <pipeline>\`, the two users' runs interleaved (which goes first alternates). \`default\`: \`on nopass ~* &* +@all\` (the
gate skips the check). \`restricted\`: \`+@read +@write ~key:*\` (command bitmap and key
pattern checked on every command).

| test | pipeline | default req/s | restricted req/s | ratio | default CPU ns/req | restricted CPU ns/req | CPU cost of ACL |
|---|---|---|---|---|---|---|---|
EOF
for test in GET SET; do
  for pipeline in 1 16; do
    d=$(echo "${RPS[$test,$pipeline,default]}" | median)
    r=$(echo "${RPS[$test,$pipeline,restricted]}" | median)
    cd_=$(echo "${CPU[$test,$pipeline,default]}" | median)
    cr=$(echo "${CPU[$test,$pipeline,restricted]}" | median)
    ratio=$(awk -v a="$d" -v b="$r" 'BEGIN {printf "%.3f", b / a}')
    cost=$(awk -v a="$cd_" -v b="$cr" 'BEGIN {printf "%+.1f%%", (b - a) * 100 / a}')
    echo "| $test | $pipeline | $d | $r | $ratio | $cd_ | $cr | $cost |"
  done
done
echo
echo "| machine | |"
echo "|---|---|"
machine_rows
