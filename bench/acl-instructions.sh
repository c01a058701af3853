#!/usr/bin/env bash
# What ACL costs, in instructions: the user-space instructions a Cairn node executes per GET and
# per SET, as the `default` user and as a restricted user (`+@read +@write ~key:*`), counted by
# valgrind's callgrind. Unlike timings, the counts barely move with the machine's load. The
# cost per request is the slope between a run of N_SMALL and one of N_LARGE requests, so
# start-up, AUTH and redis-benchmark's own set-up cancel out. Needs valgrind; slow (the node
# runs about 50 times slower under callgrind). Prints a markdown table on stdout.
# CAIRN_BIN=path measures that binary instead of building the work tree.
# Usage: bench/acl-instructions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N_SMALL=${N_SMALL:-1000}
N_LARGE=${N_LARGE:-20000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
scripts/deps.sh redis

BENCH_TAG=acl-instructions
# shellcheck source=bench/common.sh
. bench/common.sh

PORT=$(python3 bench/lib.py free-ports 1)

instructions() { # instructions AS TEST N: total instructions of a node serving N requests as AS
  local as=$1 test=$2 n=$3 d="$T/$1-$2-$3" pid auth=()
  mkdir -p "$d"
  # everysec: the fsync wait is not what is measured, and it keeps the run short.
  valgrind --tool=callgrind --callgrind-out-file="$d/out" "$T/bin/cairn" --port "$PORT" \
    --dir "$d/data" --appendfsync everysec >"$d/log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  python3 bench/lib.py wait-ping "$PORT" 120
  redis-cli -p "$PORT" ACL SETUSER bench on '>bench-pw' '+@read' '+@write' '~key:*' >/dev/null
  [ "$as" = restricted ] && auth=(--user bench -a bench-pw)
  callgrind_total "$pid" "$d/out" "$PORT" "$test" "$n" "${auth[@]}"
}

cat <<EOF
# ACL overhead in instructions

Cairn $CAIRN_FROM under valgrind's callgrind, \`redis-benchmark -c 10 -P 16 -d 100 -r 1000\`;
user-space instructions per request, from the difference between $N_SMALL and $N_LARGE
requests.

| test | default instr/req | restricted instr/req | ACL instr/req | share |
|---|---|---|---|---|
EOF
for test in GET SET; do
  declare -A per
  for as in default restricted; do
    log "$test as $as"
    per[$as]=$(per_request "$as" "$test")
  done
  d=${per[default]} r=${per[restricted]}
  share=$(awk -v a="$d" -v b="$r" 'BEGIN {printf "%+.1f%%", (b - a) * 100 / a}')
  echo "| $test | $d | $r | $((r - d)) | $share |"
done
