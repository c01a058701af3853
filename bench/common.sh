# Shared by the benchmark scripts (sourced, not run): logging, a temp dir whose processes are
# stopped by PID on exit, the Cairn binary under test, starting servers and small probes
# (scripts may redefine any of these after sourcing), and the machine facts every report
# starts with. Set BENCH_TAG before sourcing; the caller is in the repository root.

log() { echo "[$BENCH_TAG $(date +%T)] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# --- temp dir, PIDs, cleanup -----------------------------------------------------------------
T=$(mktemp -d -t "cairn-$BENCH_TAG.XXXXXX")
mkdir -p "$T/bin"
PIDS=()
stop_pid() { # stop_pid PID: SIGTERM, wait up to 30 s, then SIGKILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
forget_pid() { # forget_pid PID: it has exited and been waited for; never signal it again
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the binary under test: CAIRN_BIN, or the work tree built in release mode -----------------
if [ -n "${CAIRN_BIN:-}" ]; then
  CAIRN_FROM="prebuilt binary $CAIRN_BIN"
  cp "$CAIRN_BIN" "$T/bin/cairn"
else
  log "building Cairn (release)"
  cargo build --release -p cairn --quiet
  cp target/release/cairn "$T/bin/cairn" # a stable copy: others may rebuild target/ meanwhile
  CAIRN_FROM="built from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates 2>/dev/null || echo " with uncommitted changes")"
fi

# --- servers: start_* set LAST_PID and register it for the cleanup -----------------------------
LAST_PID=
start_redis() { # start_redis NAME PORT EXTRA_ARGS...
  local name=$1 port=$2; shift 2
  mkdir -p "$T/$name"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$T/$name" --logfile "$T/$name.log" \
    --daemonize no "$@" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
start_cairn() { # start_cairn NAME PORT EXTRA_ARGS...
  local name=$1 port=$2; shift 2
  mkdir -p "$T/$name"
  "$T/bin/cairn" --port "$port" --dir "$T/$name" "$@" >>"$T/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
wait_ping() { "${LIB[@]}" wait-ping "$1" 60; }
rss() { "${LIB[@]}" rss "$1"; }
cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
info_field() { cli "$1" info persistence | tr -d '\r' | awk -F: -v k="$2" '$1 == k {print $2}'; }
kv() { awk -F= -v k="$2" '$1 == k {print $2}' "$1"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }

machine_rows() { # the machine rows of a report's "Machine and versions" table
  cat <<ROWS
| date (UTC) | $(date -u '+%Y-%m-%d %H:%M:%S') |
| CPUs (nproc) | $(nproc) |
| CPU model | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |
| memory | $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) |
| load average at start | $(cut -d' ' -f1-3 /proc/loadavg) |
ROWS
}

# --- instruction counts (valgrind's callgrind) --------------------------------------------------
callgrind_total() { # callgrind_total PID OUT PORT TEST N [redis-benchmark args...]
  # Drives the server PID (running under callgrind, writing OUT) with N pipelined TEST
  # requests, stops it and prints the instructions it executed.
  local pid=$1 out=$2 port=$3 test=$4 n=$5
  shift 5
  python3 bench/lib.py wait-ping "$port" 120
  redis-benchmark -p "$port" "$@" -t "$test" -n "$n" -r 1000 -d 100 -c 10 -P 16 \
    --csv >/dev/null 2>&1
  redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$pid" || true
  forget_pid "$pid"
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}
per_request() { # per_request WHO TEST: the slope of the script's `instructions WHO TEST N`
  # between N_SMALL and N_LARGE requests, so start-up and set-up cancel out.
  local small large
  small=$(instructions "$1" "$2" "$N_SMALL")
  large=$(instructions "$1" "$2" "$N_LARGE")
  echo $(((large - small) / (N_LARGE - N_SMALL)))
}
