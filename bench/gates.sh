#!/usr/bin/env bash
# The performance gates: a short bench/run.sh on PostgreSQL + Redis, then
# bench/gates.py holds its results to bench/gates.toml (exit 1 when a gate
# fails). Run by perf.yml (and so by ci.yml on main) and by the Jenkinsfile.
#
#   bench/gates.sh [--no-build]     about 6 minutes after the build on 2 cores
#
# The short run (each setting can be overridden through the environment):
#   BENCH_ITEMS=20000        items seeded on the main server (the list is
#                            also measured against a second, 10,000-item one)
#   BENCH_DURATION=5         seconds per scenario (the rounds are 5 s anyway)
#   BENCH_HOT_ORDERS=600, BENCH_HOT_ORDER_STOCK=500   a small hot-confirm run
#   BENCH_LEDGER_ROWS=0      no ledger fill, no invariants timing
# and always: --backend postgres --million (the main server's items grown to
# 1,000,000 by one INSERT ... SELECT for the list rounds). The results go to
# BENCH_OUT (default bench/out/gates-<UTC time>), the report to
# BENCH_OUT/PERFORMANCE-gates.md: docs/PERFORMANCE*.md are not touched.
# Other arguments go to bench/run.sh (e.g. --no-build, --pool-size N).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

export BENCH_OUT="${BENCH_OUT:-$BENCH_DIR/out/gates-$(date -u +%Y%m%dT%H%M%SZ)}"
export BENCH_REPORT="${BENCH_REPORT:-$BENCH_OUT/PERFORMANCE-gates.md}"
export BENCH_ITEMS="${BENCH_ITEMS:-20000}"
export BENCH_DURATION="${BENCH_DURATION:-5}"
export BENCH_HOT_ORDERS="${BENCH_HOT_ORDERS:-600}"
export BENCH_HOT_ORDER_STOCK="${BENCH_HOT_ORDER_STOCK:-500}"
export BENCH_LEDGER_ROWS="${BENCH_LEDGER_ROWS:-0}"

# bounded: a hang ends after an hour, a cold build included
timeout --kill-after=30 3600 "$BENCH_DIR/run.sh" --backend postgres --million "$@"
python3 "$BENCH_DIR/gates.py" "$BENCH_OUT" --gates "$BENCH_DIR/gates.toml"
