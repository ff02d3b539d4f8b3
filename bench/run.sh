#!/usr/bin/env bash
# Inventory Manager benchmark kit: builds the release binary, starts it on a
# free loopback port with a fresh SQLite database, seeds items and stock,
# runs five wrk scenarios and writes docs/PERFORMANCE.md (via report.py).
#
# Usage: bench/run.sh [--sync full|normal] [--duration SECONDS]
#                     [--items N] [--no-build] [--help]
#
# Environment (flags win over environment):
#   BENCH_SYNC         INVENTORY_SQLITE_SYNC for the server (default full)
#   BENCH_DURATION     seconds per wrk scenario (default 10)
#   BENCH_ITEMS        items to seed (default 100000)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 64)
#   BENCH_WORKERS      seeding processes (default 8)
#   BENCH_BIN          server binary to run instead of building
#                      target/release/inventory
#   BENCH_OUT          directory for raw results (default bench/out/<UTC time>)
#   BENCH_REPORT       report to write (default docs/PERFORMANCE.md)
#   BENCH_RUST_LOG     RUST_LOG for the server (default warn)
#
# Load goes to 127.0.0.1 only; every wrk run is bounded by its duration and
# by `timeout`; nothing here asserts on timings. The server is killed and the
# temporary database removed on exit, however the script ends.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
# the exact command, with any BENCH_* settings taken from the environment
INVOCATION="$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ' || true)bench/run.sh${*:+ $*}"

SYNC="${BENCH_SYNC:-full}"
DURATION="${BENCH_DURATION:-10}"
ITEMS="${BENCH_ITEMS:-100000}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
WORKERS="${BENCH_WORKERS:-8}"
BIN="${BENCH_BIN:-}"
BUILD=1
[[ -n "$BIN" ]] && BUILD=0
REPORT="${BENCH_REPORT:-$ROOT/docs/PERFORMANCE.md}"
SERVER_LOG_LEVEL="${BENCH_RUST_LOG:-warn}"
HOT_TAIL=3          # extra wrk seconds so in-flight hot issues are answered
HOT_STOCK=100000000 # units on the hot item; far above any issue rate x time
STOCK_PER_ITEM=1000 # units received on every seeded item

usage() { sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --sync) SYNC="${2:?--sync needs a value}"; shift 2 ;;
    --sync=*) SYNC="${1#*=}"; shift ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --items) ITEMS="${2:?--items needs a value}"; shift 2 ;;
    --items=*) ITEMS="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

case "$SYNC" in full | normal) ;; *) echo "sync must be full or normal, not '$SYNC'" >&2; exit 2 ;; esac
for n in DURATION ITEMS THREADS CONNECTIONS WORKERS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer, not '${!n}'" >&2; exit 2; }
done
((DURATION <= 120)) || { echo "BENCH_DURATION is capped at 120 s" >&2; exit 2; }
((ITEMS <= 1000000)) || { echo "BENCH_ITEMS is capped at 1000000" >&2; exit 2; }

for tool in wrk python3; do
  command -v "$tool" >/dev/null || {
    echo "$tool not found; on Debian: apt-get update && apt-get install -y wrk python3" >&2
    exit 1
  }
done

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
ctl() { python3 "$BENCH_DIR/benchctl.py" "$@"; }

# ------------------------------------------------------------------ build
if [[ -z "$BIN" ]]; then
  BIN="$ROOT/target/release/inventory"
  if ((BUILD)); then
    log "cargo build --release -p inventory-server"
    (cd "$ROOT" && timeout 1800 cargo build --release -p inventory-server)
  fi
fi
[[ -x "$BIN" ]] || { echo "server binary not found: $BIN" >&2; exit 1; }

OUT="${BENCH_OUT:-$BENCH_DIR/out/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# ------------------------------------------------------------------ server
RUN_START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/inventory-bench.XXXXXX")"
SERVER_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "$SERVER_PID" ]]; then
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the floor under a durable commit on the database's filesystem
ctl fsync-probe "$WORK" >"$OUT/fsync.json"
log "fsync probe in $WORK: $(cat "$OUT/fsync.json")"

ADMIN_PASSWORD="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export ADMIN_PASSWORD
PORT="$(ctl free-port)"
BASE="http://127.0.0.1:$PORT"

log "starting $BIN on $BASE (sync=$SYNC, db in $WORK)"
env PORT="$PORT" BIND_ADDR=127.0.0.1 \
  DATABASE_URL="sqlite://$WORK/inventory.db" \
  INVENTORY_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  INVENTORY_SQLITE_SYNC="$SYNC" \
  LOG_FORMAT=text RUST_LOG="$SERVER_LOG_LEVEL" \
  "$BIN" serve >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

if ! ctl wait-ready "$BASE" --pid "$SERVER_PID" --timeout 60; then
  echo "--- last lines of $OUT/server.log:" >&2
  tail -n 30 "$OUT/server.log" >&2 || true
  exit 1
fi

proc_kb() { # proc_kb FIELD -> kB value of FIELD in /proc/PID/status
  awk -v f="$1:" '$1 == f { print $2 }' "/proc/$SERVER_PID/status"
}

sleep 1
RSS_START_KB="$(proc_kb VmRSS)"
log "idle RSS after start: ${RSS_START_KB} kB"

BENCH_TOKEN="$(ctl login "$BASE" --password-env ADMIN_PASSWORD)"
export BENCH_TOKEN

# ------------------------------------------------------------------ seed
log "seeding $ITEMS items with $WORKERS workers, then $STOCK_PER_ITEM units each"
SEED_START=$(date +%s)
ctl seed "$BASE" --token-env BENCH_TOKEN --items "$ITEMS" --workers "$WORKERS" \
  --stock "$STOCK_PER_ITEM" --hot-stock "$HOT_STOCK" --timeout 240 --out "$OUT"
SEED_SECONDS=$(($(date +%s) - SEED_START))
export BENCH_IDS="$OUT/ids.txt"
BENCH_HOT_ID="$(cat "$OUT/hot_id.txt")"
export BENCH_HOT_ID
DB_KB="$(du -sk "$WORK" | awk '{ print $1 }')"

sleep 2
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
RSS_SEEDED_KB="$(proc_kb VmRSS)"
log "idle RSS after seeding (before load): ${RSS_SEEDED_KB} kB; database ${DB_KB} kB; loadavg $LOADAVG"

# ------------------------------------------------------------------ scenarios
# run_wrk NAME SCRIPT PATH SECONDS: one bounded wrk run; raw output in
# OUT/NAME.txt, the script's BENCH_RESULT line in OUT/NAME.json.
run_wrk() {
  local name=$1 script=$2 path=$3 secs=$4
  local cmd=(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s --latency
    -s "$BENCH_DIR/$script" "$BASE$path")
  log "scenario $name: ${cmd[*]}"
  printf 'BENCH_SCENARIO=%s %s%s\n' "$name" "${BENCH_ACTIVE_MS:+BENCH_ACTIVE_MS=$BENCH_ACTIVE_MS }" \
    "${cmd[*]}" | sed "s#$BENCH_DIR/#bench/#; s#$BASE#http://127.0.0.1:PORT#" >"$OUT/$name.cmd"
  BENCH_SCENARIO="$name" timeout --kill-after=5 $((secs + 30)) "${cmd[@]}" >"$OUT/$name.txt" 2>&1 || {
    echo "wrk failed for $name (exit $?):" >&2
    cat "$OUT/$name.txt" >&2
    exit 1
  }
  grep -v '^BENCH_RESULT ' "$OUT/$name.txt" >&2 || true
  grep '^BENCH_RESULT ' "$OUT/$name.txt" | sed 's/^BENCH_RESULT //' >"$OUT/$name.json"
  [[ -s "$OUT/$name.json" ]] || { echo "no BENCH_RESULT from $name" >&2; exit 1; }
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server exited during $name; last lines of its log:" >&2
    tail -n 30 "$OUT/server.log" >&2 || true
    exit 1
  fi
  sleep 1
  proc_kb VmRSS >"$OUT/$name.rss"
}

run_wrk health health.lua /health "$DURATION"
# First pass over random ids with an empty item cache, then the same load
# once the cache holds the working set: both are reported.
run_wrk item_get_cold item_get.lua /api/v1/items "$DURATION"
run_wrk item_get item_get.lua /api/v1/items "$DURATION"
run_wrk item_list item_list.lua /api/v1/items "$DURATION"
run_wrk movements_spread movements_spread.lua /api/v1/movements "$DURATION"

ctl stock "$BASE" --token-env BENCH_TOKEN --item "$BENCH_HOT_ID" >"$OUT/hot_before.json"
BENCH_ACTIVE_MS=$((DURATION * 1000)) run_wrk movements_hot movements_hot.lua \
  /api/v1/movements $((DURATION + HOT_TAIL))
sleep 1 # let the server finish anything still in flight
ctl stock "$BASE" --token-env BENCH_TOKEN --item "$BENCH_HOT_ID" >"$OUT/hot_after.json"
ctl check-hot --before "$OUT/hot_before.json" --after "$OUT/hot_after.json" \
  --result "$OUT/movements_hot.json" --out "$OUT/hot_check.json"

sleep 2
RSS_AFTER_KB="$(proc_kb VmRSS)"
HWM_KB="$(proc_kb VmHWM)"
log "idle RSS after load: ${RSS_AFTER_KB} kB (peak ${HWM_KB} kB)"

grep -cE 'WARN|ERROR' "$OUT/server.log" >"$OUT/server_log_warnings.txt" || true
stop_server

# ------------------------------------------------------------------ report
cat >"$OUT/meta.env" <<EOF
invocation=$INVOCATION
sync=$SYNC
duration=$DURATION
items=$ITEMS
threads=$THREADS
connections=$CONNECTIONS
workers=$WORKERS
hot_tail=$HOT_TAIL
rust_log=$SERVER_LOG_LEVEL
seed_seconds=$SEED_SECONDS
db_kb_after_seed=$DB_KB
rss_start_kb=$RSS_START_KB
rss_seeded_kb=$RSS_SEEDED_KB
rss_after_kb=$RSS_AFTER_KB
rss_peak_kb=$HWM_KB
binary=${BIN#"$ROOT"/}
run_seconds=$(($(date +%s) - RUN_START))
loadavg_before_load=$LOADAVG
git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
git_dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
EOF

python3 "$BENCH_DIR/report.py" "$OUT" --output "$REPORT"
log "raw results in ${OUT#"$ROOT"/}; report written to ${REPORT#"$ROOT"/}"
