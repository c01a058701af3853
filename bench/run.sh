#!/usr/bin/env bash
# Cairn against Redis 7 on this machine, in one run, side by side on free loopback ports:
#   - Redis without persistence, Redis with appendfsync always, Cairn with its defaults
#     (durable: appendfsync always), each driven by redis-benchmark at pipeline 1 and 16;
#   - memory for 1,000,000 keys (key:<n> -> 100-byte value) in Redis and Cairn;
#   - restart time with those keys: Redis RDB load, Cairn after SHUTDOWN and after kill -9;
#   - over TLS (certificates from `cairn tls init`, TLS-only servers, `redis-benchmark --tls`):
#     Redis without persistence and Cairn with its defaults, SET and GET at pipeline 1 and 16.
# Prints a markdown report on stdout (progress on stderr). Every server it starts is stopped by
# PID on exit and its temp dir removed. Loads are fixed request counts; tune with
#   N_P1 (default 100000), N_P16 (1000000), N_WARM (20000), KEYS (1000000), CLIENTS (50),
#   ROUNDS (3: the throughput runs, medians reported), RESTARTS (3 of each kind, median);
# CAIRN_BIN=path benchmarks that binary instead of building the work tree.
# Usage: bench/run.sh | tee /tmp/bench.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N_P1=${N_P1:-100000}
N_P16=${N_P16:-1000000}
N_WARM=${N_WARM:-20000}
KEYS=${KEYS:-1000000}
CLIENTS=${CLIENTS:-50}
ROUNDS=${ROUNDS:-3}
RESTARTS=${RESTARTS:-3}
LIB=(python3 "$ROOT/bench/lib.py")

# --- dependencies: Debian's redis-server and redis-tools, idempotently ------------------------
scripts/deps.sh redis

BENCH_TAG=bench
# shellcheck source=bench/common.sh
. bench/common.sh

wait_exit() { # wait_exit PID SECS: wait for a server we asked to stop
  local pid=$1 i
  for ((i = 0; i < $2 * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && die "pid $pid did not exit within $2 s"
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# --- servers ---------------------------------------------------------------------------------
mapfile -t PORTS < <("${LIB[@]}" free-ports 7)
P_REDIS=${PORTS[0]} P_AOF=${PORTS[1]} P_CAIRN=${PORTS[2]} P_RMEM=${PORTS[3]} P_CMEM=${PORTS[4]}
P_RTLS=${PORTS[5]} P_CTLS=${PORTS[6]}
# timed_start PORT START_FN ARGS...: runs START_FN ARGS (which sets LAST_PID) and sets START_MS to
# the time from just before the start until the first +PONG. The poller is started (and its
# interpreter warm) before the server, so its own start-up is not counted.
START_MS=
timed_start() {
  local port=$1 ready="$T/poller.ready" out="$T/poller.out" poller t0 t1 i
  shift
  rm -f "$ready" "$out"
  "${LIB[@]}" pong-at "$port" 300 "$ready" >"$out" &
  poller=$!
  PIDS+=("$poller")
  for ((i = 0; i < 1000; i++)); do [ -e "$ready" ] && break; sleep 0.01; done
  t0=$(date +%s%N)
  "$@"
  wait "$poller" || die "no +PONG on port $port"
  forget_pid "$poller"
  t1=$(cat "$out")
  START_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}')
}
fsync_cost() { # fsync_cost: "N µs per 4 KiB O_DSYNC write" from dd in the data dir's filesystem
  local out
  out=$(dd if=/dev/zero of="$T/dd.test" bs=4k count=200 oflag=dsync 2>&1 | tail -1)
  rm -f "$T/dd.test"
  echo "$("${LIB[@]}" dd-us "$out") µs"
}

# --- machine -----------------------------------------------------------------------------------
log "machine facts and fsync cost"
cat <<EOF
# Cairn vs Redis 7: benchmark run

## Machine and versions

| what | value |
|---|---|
$(machine_rows)
| kernel | $(uname -sr) |
| data dir filesystem | $(df -T "$T" | awk 'NR==2 {print $2" on "$1}') |
| fsync cost at start (dd bs=4k count=200 oflag=dsync) | $(fsync_cost) per 4 KiB synchronous write |
| Redis | $(redis-server --version) |
| redis-benchmark | $(redis-benchmark --version) |
| Cairn | $("$T/bin/cairn" --version), $CAIRN_FROM |
| rustc | $(rustc --version 2>/dev/null || echo "n/a") |
| loads | $ROUNDS rounds; per round and server: P1 $N_P1 requests per command, P16 $N_P16, $CLIENTS clients, 100-byte values, warm-up $N_WARM SET+GET |

EOF

# --- throughput and latency ------------------------------------------------------------------
start_redis redis "$P_REDIS" --save '' --appendonly no
start_redis redis-aof "$P_AOF" --save '' --appendonly yes --appendfsync always
start_cairn cairn "$P_CAIRN"
for p in "$P_REDIS" "$P_AOF" "$P_CAIRN"; do wait_ping "$p" >/dev/null || die "no PONG on $p"; done

RESULTS=$T/results.csv
: >"$RESULTS"
bench_server() { # bench_server ROUND LABEL PORT
  local round=$1 label=$2 port=$3 pipe n
  log "round $round, $label: warm-up"
  redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d 100 -t SET,GET -n "$N_WARM" -q >/dev/null
  for pipe in 1 16; do
    n=$N_P1; [ "$pipe" = 16 ] && n=$N_P16
    log "round $round, $label: SET,GET,INCR,MSET -n $n -P $pipe"
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d 100 -t SET,GET,INCR,MSET \
      -n "$n" -P "$pipe" --csv | sed "s/^/$label,$pipe,$round,/" >>"$RESULTS"
  done
}
for ((round = 1; round <= ROUNDS; round++)); do
  bench_server "$round" redis "$P_REDIS"
  bench_server "$round" redis-aof "$P_AOF"
  bench_server "$round" cairn "$P_CAIRN"
done
cairn_fsyncs=$(info_field "$P_CAIRN" log_fsyncs)
cairn_seq=$(info_field "$P_CAIRN" log_durable_seq)
for pid in "${PIDS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done

cat <<EOF
## Throughput and latency

\`redis-benchmark -c $CLIENTS -d 100 -t SET,GET,INCR,MSET -n N -P {1,16} --csv\` against one server
at a time, client and server sharing the same $(nproc) cores; the three servers take turns, and
each cell is the median over $ROUNDS rounds. Latencies are redis-benchmark's, in ms. MSET sets
10 keys per request. Ratios are of ops/s. Cairn ran $cairn_fsyncs fdatasyncs for $cairn_seq log
entries (group commit).

EOF
"${LIB[@]}" table "$RESULTS"
echo
echo "Spread of ops/s over the rounds (min – max):"
echo
"${LIB[@]}" spread "$RESULTS"
echo

# --- the same loads over TLS --------------------------------------------------------------------
# Both servers serve TLS only (plain port 0) with one certificate from `cairn tls init`, and do
# not ask for client certificates, so redis-benchmark needs only the CA.
log "TLS: certificates from cairn tls init"
"$T/bin/cairn" tls init --host 127.0.0.1 --dir "$T/tls" >/dev/null
CA=$T/tls/ca.crt
TLS_FILES=(--tls-cert-file "$T/tls/server.crt" --tls-key-file "$T/tls/server.key"
  --tls-ca-cert-file "$CA" --tls-auth-clients no)
start_redis redis-tls 0 --save '' --appendonly no --tls-port "$P_RTLS" "${TLS_FILES[@]}"
start_cairn cairn-tls 0 --tls-port "$P_CTLS" "${TLS_FILES[@]}"
wait_tls_ping() { # wait_tls_ping PORT: up to 60 s for PONG over TLS
  local i
  for ((i = 0; i < 600; i++)); do
    [ "$(redis-cli --tls --cacert "$CA" -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}
for p in "$P_RTLS" "$P_CTLS"; do wait_tls_ping "$p" || die "no PONG over TLS on $p"; done
TLS_RESULTS=$T/tls.csv
: >"$TLS_RESULTS"
bench_tls() { # bench_tls ROUND LABEL PORT
  local round=$1 label=$2 port=$3 pipe n
  local rb=(redis-benchmark --tls --cacert "$CA" -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d 100)
  log "round $round, $label over TLS: warm-up"
  "${rb[@]}" -t SET,GET -n "$N_WARM" -q >/dev/null
  for pipe in 1 16; do
    n=$N_P1; [ "$pipe" = 16 ] && n=$N_P16
    log "round $round, $label over TLS: SET,GET -n $n -P $pipe"
    "${rb[@]}" -t SET,GET -n "$n" -P "$pipe" --csv | sed "s/^/$label,$pipe,$round,/" >>"$TLS_RESULTS"
  done
}
for ((round = 1; round <= ROUNDS; round++)); do
  bench_tls "$round" redis-tls "$P_RTLS"
  bench_tls "$round" cairn-tls "$P_CTLS"
done
for pid in "${PIDS[@]}"; do stop_pid "$pid"; forget_pid "$pid"; done

cat <<EOF
## Over TLS

The same \`redis-benchmark -c $CLIENTS -d 100\` loads, SET and GET only, with \`--tls --cacert ca.crt\`,
against Redis (no persistence) and Cairn (durable), each serving TLS only with the same
certificate (ECDSA P-256 from \`cairn tls init\`; no client certificates). Both negotiate
TLS 1.3 (TLS_AES_256_GCM_SHA384) with redis-benchmark's OpenSSL (Redis: OpenSSL; Cairn: rustls). Median of $ROUNDS
rounds; the last two columns compare each server with itself in plaintext (the table above).

EOF
"${LIB[@]}" tls-table "$RESULTS" "$TLS_RESULTS"
echo
echo "Spread of ops/s over the rounds (min – max):"
echo
"${LIB[@]}" tls-spread "$TLS_RESULTS"
echo

# --- memory for 1M keys ----------------------------------------------------------------------
log "memory: generating $KEYS SET commands"
"${LIB[@]}" gen-set "$KEYS" "$T/keys.resp"
start_redis redis-mem "$P_RMEM" --save '' --appendonly no
R_PID=$LAST_PID
start_cairn cairn-mem "$P_CMEM"
C_PID=$LAST_PID
wait_ping "$P_RMEM" >/dev/null && wait_ping "$P_CMEM" >/dev/null || die "memory servers did not start"
sleep 1
MEM=$T/mem.kv
: >"$MEM"
wait_no_bgsave() { # wait_no_bgsave PORT: a background snapshot holds a second copy of the data
  local i
  for ((i = 0; i < 1200; i++)); do
    [ "$(info_field "$1" rdb_bgsave_in_progress)" = 0 ] && return 0
    sleep 0.1
  done
  die "a background save on port $1 did not finish within 120 s"
}
load_keys() { # load_keys LABEL PORT PID
  local label=$1 port=$2 pid=$3 before after t0 t1 out dbsize
  before=$(rss "$pid")
  log "$label: loading $KEYS keys with redis-cli --pipe"
  t0=$(date +%s%N)
  out=$(cli "$port" --pipe <"$T/keys.resp" 2>&1 | tr -d '\r' | tail -1)
  t1=$(date +%s%N)
  echo "$out" | grep -q "errors: 0, replies: $KEYS" || die "$label load: $out"
  dbsize=$(cli "$port" dbsize)
  [ "$dbsize" = "$KEYS" ] || die "$label DBSIZE is $dbsize, expected $KEYS"
  wait_no_bgsave "$port"
  sleep 1
  after=$(rss "$pid")
  {
    echo "${label}_before=$before"
    echo "${label}_after=$after"
    echo "${label}_bpk=$(((after - before) / KEYS))"
    echo "${label}_load_ms=$(((t1 - t0) / 1000000))"
  } >>"$MEM"
}
load_keys redis "$P_RMEM" "$R_PID"
load_keys cairn "$P_CMEM" "$C_PID"

# --- restart time with 1M keys -----------------------------------------------------------------
RST=$T/restart.kv
: >"$RST"
check_keys() { # check_keys PORT LABEL
  local n
  n=$(cli "$1" dbsize)
  [ "$n" = "$KEYS" ] || die "$2: DBSIZE $n after restart, expected $KEYS"
}
median() { tr ' ' '\n' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
rebuilt_line() { grep 'state rebuilt' "$1" | tail -1 | sed 's/\x1b\[[0-9;]*m//g; s/.*state rebuilt/state rebuilt/'; }

log "redis: SAVE, then $RESTARTS x (SHUTDOWN NOSAVE, restart)"
cli "$P_RMEM" save >/dev/null
rdb_bytes=$(stat -c %s "$T/redis-mem/dump.rdb")
redis_times=
for ((i = 0; i < RESTARTS; i++)); do
  cli "$P_RMEM" shutdown nosave >/dev/null 2>&1 || true
  wait_exit "$R_PID" 60
  timed_start "$P_RMEM" start_redis redis-mem "$P_RMEM" --save '' --appendonly no
  R_PID=$LAST_PID
  redis_times="$redis_times $START_MS"
  [ "$(info_field "$P_RMEM" loading)" = 0 ] || die "redis still loading after PONG"
  check_keys "$P_RMEM" redis
done
redis_rdb_log=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$T/redis-mem.log" | tail -1)
redis_rss_restart=$(rss "$R_PID")

log "cairn: $RESTARTS x (kill -9, restart: snapshot + log replay)"
kill_times=
for ((i = 0; i < RESTARTS; i++)); do
  kill -KILL "$C_PID"
  wait "$C_PID" 2>/dev/null || true
  forget_pid "$C_PID"
  [ "$i" = 0 ] && cairn_log_bytes=$(cat "$T"/cairn-mem/*.seg 2>/dev/null | wc -c)
  timed_start "$P_CMEM" start_cairn cairn-mem "$P_CMEM"
  C_PID=$LAST_PID
  kill_times="$kill_times $START_MS"
  check_keys "$P_CMEM" "cairn after kill -9"
done
kill_line=$(rebuilt_line "$T/cairn-mem.log")

log "cairn: $RESTARTS x (SHUTDOWN, restart: snapshot only)"
clean_times=
for ((i = 0; i < RESTARTS; i++)); do
  cli "$P_CMEM" shutdown >/dev/null 2>&1 || true
  wait_exit "$C_PID" 120
  timed_start "$P_CMEM" start_cairn cairn-mem "$P_CMEM"
  C_PID=$LAST_PID
  clean_times="$clean_times $START_MS"
  check_keys "$P_CMEM" "cairn after SHUTDOWN"
done
clean_line=$(rebuilt_line "$T/cairn-mem.log")
snap_file=$(ls "$T"/cairn-mem/*.snap | sort | tail -1)
snap_bytes=$(stat -c %s "$snap_file")
cairn_rss_restart=$(rss "$C_PID")
{
  echo "redis_ms=$(echo $redis_times | median)"
  echo "cairn_kill_ms=$(echo $kill_times | median)"
  echo "cairn_clean_ms=$(echo $clean_times | median)"
} >>"$RST"
{
  echo "redis_restart_bpk=$(((redis_rss_restart - $(kv "$MEM" redis_before)) / KEYS))"
  echo "cairn_restart_bpk=$(((cairn_rss_restart - $(kv "$MEM" cairn_before)) / KEYS))"
} >>"$MEM"

cat <<EOF
## Memory for $KEYS keys

The same RESP stream (\`SET key:<n> <value>\`, n = 0..$((KEYS - 1)); each value is 100 hex
characters of seeded pseudo-random bytes, different per key, so neither RDB's LZF nor Cairn's
lz4 snapshot compression can fold repeated values) piped with \`redis-cli --pipe\` into a fresh
Redis (no persistence) and a fresh Cairn (defaults); DBSIZE checked = $KEYS on both. RSS is
VmRSS from /proc/<pid>/status, read once no background save is running
(\`rdb_bgsave_in_progress:0\`). "After restart" is the same data set rebuilt at start-up (RDB
load; Cairn snapshot), measured after the restarts below; bytes per key are against the empty
server's RSS.

| server | RSS empty | RSS after load | bytes per key after load | RSS after restart | bytes per key after restart | load time (--pipe) |
|---|---|---|---|---|---|---|
| Redis (no persistence) | $(mib "$(kv "$MEM" redis_before)") | $(mib "$(kv "$MEM" redis_after)") | $(kv "$MEM" redis_bpk) | $(mib "$redis_rss_restart") | $(kv "$MEM" redis_restart_bpk) | $(kv "$MEM" redis_load_ms) ms |
| Cairn (durable) | $(mib "$(kv "$MEM" cairn_before)") | $(mib "$(kv "$MEM" cairn_after)") | $(kv "$MEM" cairn_bpk) | $(mib "$cairn_rss_restart") | $(kv "$MEM" cairn_restart_bpk) | $(kv "$MEM" cairn_load_ms) ms |

## Restart time with $KEYS keys

Time from starting the process until it answers PING with +PONG (Redis answers -LOADING while it
loads; Cairn listens only once its state is rebuilt), median of $RESTARTS restarts. DBSIZE checked
= $KEYS after each restart.

| server | how it stopped | on disk | restart to PONG (median) | each restart, ms | server's own account (last restart) |
|---|---|---|---|---|---|
| Redis | SAVE, then SHUTDOWN NOSAVE | dump.rdb $(mib "$rdb_bytes") | $(kv "$RST" redis_ms) ms | ${redis_times# } | ${redis_rdb_log:-?} |
| Cairn | kill -9 (first: right after the load) | snapshot + log segments $(mib "${cairn_log_bytes:-0}") | $(kv "$RST" cairn_kill_ms) ms | ${kill_times# } | ${kill_line:-?} |
| Cairn | SHUTDOWN (writes a snapshot) | snapshot $(mib "$snap_bytes") | $(kv "$RST" cairn_clean_ms) ms | ${clean_times# } | ${clean_line:-?} |

## Targets

EOF
"${LIB[@]}" targets "$RESULTS" "$MEM" "$RST"
echo
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg). fsync cost at end: $(fsync_cost) per 4 KiB synchronous write."
log "done"
