#!/usr/bin/env bash
# The REST API against RESP on the same node, in the same run: GET and SET with keep-alive
# through wrk (POST / with a JSON body, the URL form, and /pipeline with 16 commands per
# request), the same through @upstash/redis (auto-pipelining), and RESP GET/SET through
# redis-benchmark as the reference. Rounds interleave the tools so that background load hits
# all alike; each cell is the median of ROUNDS (default 3) runs of RUN_SECONDS (default 8) with
# CLIENTS (default 50) connections. Prints a markdown report on stdout (progress on stderr).
# CAIRN_BIN=path benchmarks that binary instead of building the work tree.
# Usage: bench/rest.sh | tee /tmp/bench-rest.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECONDS_PER_RUN=${RUN_SECONDS:-8}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
LIB=(python3 "$ROOT/bench/lib.py")

scripts/deps.sh redis
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
[ -d tests/node/node_modules/@upstash/redis ] || (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)

BENCH_TAG=rest
# shellcheck source=bench/common.sh
. bench/common.sh

mapfile -t PORTS < <("${LIB[@]}" free-ports 2)
PORT=${PORTS[0]}
REST=${PORTS[1]}
TOKEN=bench-token
start_cairn cairn "$PORT" --rest-port "$REST" --rest-token "$TOKEN"
wait_ping "$PORT"
URL="http://127.0.0.1:$REST"
VALUE=$(head -c 100 /dev/zero | tr '\0' x)
cli "$PORT" set key "$VALUE" >/dev/null

# wrk scripts: the request, and the latency line wrk's --latency prints for p99.
cat >"$T/get.lua" <<LUA
wrk.method = "POST"
wrk.body = '["GET","key"]'
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
cat >"$T/set.lua" <<LUA
wrk.method = "POST"
wrk.body = '["SET","key","$VALUE"]'
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
{
  echo 'wrk.method = "POST"'
  printf "wrk.body = '["
  for i in $(seq 16); do [ "$i" -gt 1 ] && printf ','; printf '["GET","key"]'; done
  echo "]'"
  echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""
} >"$T/pipeline.lua"

wrk_run() { # wrk_run SCRIPT PATH: prints "req/s p99-ms"
  local out
  out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_RUN}s" --latency -s "$1" "$URL$2" 2>&1)
  echo "$out" | grep -q 'Non-2xx' && die "wrk got errors: $out"
  awk '/Requests\/sec/ {rps = $2} $1 == "99%" {p = $2} END {
    if (p ~ /us$/) {sub(/us$/, "", p); p = p / 1000} else if (p ~ /ms$/) {sub(/ms$/, "", p)}
    else if (p ~ /s$/) {sub(/s$/, "", p); p = p * 1000}
    printf "%d %.2f\n", rps, p}' <<<"$out"
}
wrk_url_get() {
  local out
  out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_RUN}s" --latency -H "Authorization: Bearer $TOKEN" "$URL/get/key" 2>&1)
  awk '/Requests\/sec/ {rps = $2} $1 == "99%" {p = $2} END {
    if (p ~ /us$/) {sub(/us$/, "", p); p = p / 1000} else if (p ~ /ms$/) {sub(/ms$/, "", p)}
    else if (p ~ /s$/) {sub(/s$/, "", p); p = p * 1000}
    printf "%d %.2f\n", rps, p}' <<<"$out"
}
resp_run() { # resp_run TEST: redis-benchmark for about as long; prints "req/s p99-ms"
  redis-benchmark -p "$PORT" -t "$1" -n "${RESP_N:-300000}" -r 1 -d 100 -c "$CLIENTS" --csv 2>/dev/null |
    awk -F'"' 'NR == 2 {printf "%d %s\n", $4, $14}'
}
sdk_run() { # sdk_run get|set
  NODE_PATH="$ROOT/tests/node/node_modules" node "$ROOT/bench/rest-sdk.js" "$URL" "$TOKEN" "$1" \
    "$SECONDS_PER_RUN" "$CLIENTS"
}

declare -A RPS P99
record() { RPS[$1]+="$2 "; P99[$1]+="$3 "; }
for ((round = 1; round <= ROUNDS; round++)); do
  log "round $round/$ROUNDS"
  read -r r p < <(resp_run GET); record resp-get "$r" "$p"
  read -r r p < <(wrk_run "$T/get.lua" /); record rest-get "$r" "$p"
  read -r r p < <(wrk_url_get); record rest-url-get "$r" "$p"
  read -r r p < <(resp_run SET); record resp-set "$r" "$p"
  read -r r p < <(wrk_run "$T/set.lua" /); record rest-set "$r" "$p"
  read -r r p < <(wrk_run "$T/pipeline.lua" /pipeline); record rest-pipeline "$r" "$p"
  read -r r p < <(sdk_run get); record sdk-get "$r" "$p"
  read -r r p < <(sdk_run set); record sdk-set "$r" "$p"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
row() { # row KEY LABEL COMMANDS-PER-REQUEST
  local r p
  r=$(echo "${RPS[$1]}" | median)
  p=$(echo "${P99[$1]}" | median)
  echo "| $2 | $r | $((r * $3)) | $p |"
}

resp_get=$(echo "${RPS[resp-get]}" | median)
rest_get=$(echo "${RPS[rest-get]}" | median)
cat <<EOF
# REST API against RESP

Cairn $CAIRN_FROM, one node, file log with its defaults (appendfsync always), one value of
100 bytes. Each cell is the median of $ROUNDS runs of ${SECONDS_PER_RUN} s (RESP: ${RESP_N:-300000}
requests) with $CLIENTS keep-alive connections, the tools interleaved in each round. REST
through \`wrk -t2 -c$CLIENTS --latency\` (POST / with a JSON body unless said), RESP through
\`redis-benchmark -c $CLIENTS -P 1\`, the SDK through \`@upstash/redis\` with $CLIENTS concurrent
\`await\` loops in one Node process (auto-pipelining batches them into /pipeline). Load
generators share the 2 cores with the server.

| test | requests/s | commands/s | p99 ms |
|---|---|---|---|
EOF
row resp-get "RESP GET" 1
row rest-get "REST GET (POST /)" 1
row rest-url-get "REST GET (GET /get/key)" 1
row sdk-get "@upstash/redis get" 1
row resp-set "RESP SET" 1
row rest-set "REST SET (POST /)" 1
row sdk-set "@upstash/redis set" 1
row rest-pipeline "REST /pipeline, 16 GETs per request" 16
echo
echo "REST GET / RESP GET: $(awk -v a="$rest_get" -v b="$resp_get" 'BEGIN {printf "%.0f%%", a * 100 / b}') (target: at least 50%)."
echo
echo "| machine | |"
echo "|---|---|"
machine_rows
echo "| wrk | $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2) |"
echo "| node | $(node --version) |"
