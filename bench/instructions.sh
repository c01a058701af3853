#!/usr/bin/env bash
# User-space instructions per request, Cairn against Redis: valgrind's callgrind counts every
# instruction each server executes in user space (all its threads) while it serves
# redis-benchmark. Unlike timings, the counts barely move with the machine's load, so they
# show the cost of a change on a busy box. The cost per request is the slope between a run of
# N_SMALL and one of N_LARGE requests, so start-up and redis-benchmark's set-up cancel out.
# Kernel time (the socket system calls, which both servers make alike) is not counted.
# Cairn runs with its defaults (every write fdatasync'd before its reply), Redis without
# persistence.
# Needs valgrind; slow (a server runs about 50 times slower under callgrind).
# CAIRN_BIN=path measures that binary instead of building the work tree.
# Usage: bench/instructions.sh | tee /tmp/instructions.md
set -euo pipefail
cd "$(dirname "$0")/.."
N_SMALL=${N_SMALL:-1000}
N_LARGE=${N_LARGE:-20000}
TESTS=${TESTS:-GET SET INCR LPUSH}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
scripts/deps.sh redis

BENCH_TAG=instructions
# shellcheck source=bench/common.sh
. bench/common.sh

PORT=$(python3 bench/lib.py free-ports 1)

instructions() { # instructions SERVER TEST N: total instructions of SERVER serving N requests
  local server=$1 test=$2 n=$3 d="$T/$1-$2-$3" pid
  mkdir -p "$d"
  if [ "$server" = redis ]; then
    valgrind --tool=callgrind --callgrind-out-file="$d/out" redis-server --bind 127.0.0.1 \
      --port "$PORT" --dir "$d" --save '' --appendonly no >"$d/log" 2>&1 &
  else
    valgrind --tool=callgrind --callgrind-out-file="$d/out" "$T/bin/cairn" --port "$PORT" \
      --dir "$d/data" >"$d/log" 2>&1 &
  fi
  pid=$!
  PIDS+=("$pid")
  callgrind_total "$pid" "$d/out" "$PORT" "$test" "$n"
}

cat <<EOF2
# Instructions per request

Cairn $CAIRN_FROM and $(redis-server --version | cut -d' ' -f1-3) under valgrind's callgrind,
\`redis-benchmark -c 10 -P 16 -d 100 -r 1000\`; user-space instructions per request (all
threads), from the difference between $N_SMALL and $N_LARGE requests.

| test | Redis (no persistence) | Cairn (durable) | Cairn / Redis |
|---|---|---|---|
EOF2
for test in $TESTS; do
  declare -A per
  for server in redis cairn; do
    log "$test on $server"
    per[$server]=$(per_request "$server" "$test")
  done
  r=${per[redis]} c=${per[cairn]}
  ratio=$(awk -v a="$c" -v b="$r" 'BEGIN {printf "%.2f", a / b}')
  echo "| $test | $r | $c | ${ratio}× |"
done
