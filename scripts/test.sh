#!/usr/bin/env bash
# Runs every test: installs what they need (scripts/deps.sh), checks formatting and lints,
# then the whole workspace's tests (unit, transcripts, determinism, crash, end-to-end with
# redis-cli, the redis crate and ioredis). The end-to-end tests start the release binary, as
# a user would, so the tests run in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
output=$(mktemp)
trap 'rm -f "$output"' EXIT
cargo test --workspace --release 2>&1 | tee "$output"
summary=$(grep -E '^test result:' "$output" | awk '{p+=$4; f+=$6; i+=$8} END {print p" passed, "f" failed, "i" skipped"}')
echo "summary: $summary"
