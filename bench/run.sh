#!/usr/bin/env bash
# Inventory Manager benchmark kit: builds the release binary, starts it on a
# free loopback port with a fresh database (SQLite, or a throwaway durable
# PostgreSQL 15 cluster plus Redis), seeds items and stock, runs the wrk
# scenarios and writes docs/PERFORMANCE.md (via report.py).
#
# Usage: bench/run.sh [--backend sqlite|postgres] [--sync full|normal]
#                     [--pool-size N] [--million|--no-million]
#                     [--duration SECONDS] [--items N] [--orders-only]
#                     [--no-build] [--help]
#
# Environment (flags win over environment):
#   BENCH_BACKEND      sqlite (default) or postgres (PostgreSQL 15 + Redis)
#   BENCH_POOL_SIZE    postgres: DATABASE_POOL_SIZE for the server (default 10)
#   BENCH_PG_SHARED_BUFFERS  postgres: shared_buffers (default 512MB)
#   BENCH_MILLION      postgres: 1 to grow the items to 1,000,000 and measure
#                      the list again (default 1), 0 to skip
#   BENCH_SYNC         INVENTORY_SQLITE_SYNC for the server (default full)
#   BENCH_DURATION     seconds per wrk scenario (default 10)
#   BENCH_ITEMS        items to seed (default 100000)
#   BENCH_THREADS      wrk threads (default 2)
#   BENCH_CONNECTIONS  wrk connections (default 64)
#   BENCH_WORKERS      seeding processes (default 8)
#   BENCH_BIN          server binary to run instead of building
#                      target/release/inventory
#   BENCH_OUT          directory for raw results (default bench/out/<UTC time>)
#   BENCH_REPORT       report to write (default docs/PERFORMANCE.md, or
#                      docs/PERFORMANCE-POSTGRES.md for postgres)
#   BENCH_RUST_LOG     RUST_LOG for the server (default warn)
#   BENCH_ORDERS_ONLY  1 (--orders-only): seed, then run only the sales-order
#                      scenarios and rewrite only the report's orders section
#   BENCH_HOT_ORDERS   draft orders of 1 unit for so_confirm_hot (default 12000)
#   BENCH_HOT_ORDER_STOCK  units on that item, fewer than orders (default 10000)
#   BENCH_HOT_CONFIRM_SECONDS  wrk's time cap for so_confirm_hot (default 30)
#   BENCH_LEDGER_ROWS  ledger rows to grow to before timing the invariants
#                      check (default 1000000; 0 skips the fill and timing)
#
# Load goes to 127.0.0.1 only; every wrk run is bounded by its duration and
# by `timeout`; nothing here asserts on timings. The server (and PostgreSQL
# and Redis) are killed and the temporary data removed on exit, however the
# script ends.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
# the exact command, with any BENCH_* settings taken from the environment
INVOCATION="$(env | grep -E '^BENCH_[A-Z_]+=' | sort | tr '\n' ' ' || true)bench/run.sh${*:+ $*}"

BACKEND="${BENCH_BACKEND:-sqlite}"
POOL_SIZE="${BENCH_POOL_SIZE:-10}"
PG_SHARED_BUFFERS="${BENCH_PG_SHARED_BUFFERS:-512MB}"
MILLION="${BENCH_MILLION:-1}"
SYNC="${BENCH_SYNC:-full}"
DURATION="${BENCH_DURATION:-10}"
ITEMS="${BENCH_ITEMS:-100000}"
THREADS="${BENCH_THREADS:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
WORKERS="${BENCH_WORKERS:-8}"
BIN="${BENCH_BIN:-}"
BUILD=1
[[ -n "$BIN" ]] && BUILD=0
REPORT="${BENCH_REPORT:-}"
SERVER_LOG_LEVEL="${BENCH_RUST_LOG:-warn}"
HOT_TAIL=3          # extra wrk seconds so in-flight hot issues are answered
HOT_STOCK=100000000 # units on the hot item; far above any issue rate x time
STOCK_PER_ITEM=1000 # units received on every seeded item
ORDERS_ONLY="${BENCH_ORDERS_ONLY:-0}"
HOT_ORDERS="${BENCH_HOT_ORDERS:-12000}"
HOT_ORDER_STOCK="${BENCH_HOT_ORDER_STOCK:-10000}"
HOT_CONFIRM_SECONDS="${BENCH_HOT_CONFIRM_SECONDS:-30}"
LEDGER_ROWS="${BENCH_LEDGER_ROWS:-1000000}"
FLOW_TAIL=5         # extra wrk seconds so the flows started are finished

usage() { sed -n '2,42p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --backend) BACKEND="${2:?--backend needs a value}"; shift 2 ;;
    --backend=*) BACKEND="${1#*=}"; shift ;;
    --pool-size) POOL_SIZE="${2:?--pool-size needs a value}"; shift 2 ;;
    --pool-size=*) POOL_SIZE="${1#*=}"; shift ;;
    --million) MILLION=1; shift ;;
    --no-million) MILLION=0; shift ;;
    --sync) SYNC="${2:?--sync needs a value}"; shift 2 ;;
    --sync=*) SYNC="${1#*=}"; shift ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --items) ITEMS="${2:?--items needs a value}"; shift 2 ;;
    --items=*) ITEMS="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    --orders-only) ORDERS_ONLY=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

case "$SYNC" in full | normal) ;; *) echo "sync must be full or normal, not '$SYNC'" >&2; exit 2 ;; esac
case "$BACKEND" in sqlite | postgres) ;; *) echo "backend must be sqlite or postgres, not '$BACKEND'" >&2; exit 2 ;; esac
case "$MILLION" in 0 | 1) ;; *) echo "BENCH_MILLION must be 0 or 1, not '$MILLION'" >&2; exit 2 ;; esac
case "$ORDERS_ONLY" in 0 | 1) ;; *) echo "BENCH_ORDERS_ONLY must be 0 or 1, not '$ORDERS_ONLY'" >&2; exit 2 ;; esac
[[ "$PG_SHARED_BUFFERS" =~ ^[1-9][0-9]*(kB|MB|GB)$ ]] || { echo "BENCH_PG_SHARED_BUFFERS must look like 512MB" >&2; exit 2; }
if [[ -z "$REPORT" ]]; then
  if [[ "$BACKEND" == postgres ]]; then REPORT="$ROOT/docs/PERFORMANCE-POSTGRES.md"; else REPORT="$ROOT/docs/PERFORMANCE.md"; fi
fi
LIST_SMALL=10000     # postgres: items on the second server's database
LIST_LARGE=1000000   # postgres: items the main server's database grows to (--million)
ROUNDS=3             # alternating rounds for the read ratio and the list sizes
for n in DURATION ITEMS THREADS CONNECTIONS WORKERS POOL_SIZE HOT_ORDERS HOT_ORDER_STOCK HOT_CONFIRM_SECONDS; do
  [[ "${!n}" =~ ^[1-9][0-9]*$ ]] || { echo "$n must be a positive integer, not '${!n}'" >&2; exit 2; }
done
((DURATION <= 120)) || { echo "BENCH_DURATION is capped at 120 s" >&2; exit 2; }
((ITEMS <= 1000000)) || { echo "BENCH_ITEMS is capped at 1000000" >&2; exit 2; }
((HOT_CONFIRM_SECONDS <= 120)) || { echo "BENCH_HOT_CONFIRM_SECONDS is capped at 120" >&2; exit 2; }
((HOT_ORDERS <= 200000)) || { echo "BENCH_HOT_ORDERS is capped at 200000" >&2; exit 2; }
if ! [[ "$LEDGER_ROWS" =~ ^[0-9]+$ ]] || ((LEDGER_ROWS > 5000000)); then
  echo "BENCH_LEDGER_ROWS must be 0..5000000, not '$LEDGER_ROWS'" >&2
  exit 2
fi
((POOL_SIZE <= 90)) || { echo "BENCH_POOL_SIZE is capped at 90 (max_connections is 100)" >&2; exit 2; }
if [[ "$BACKEND" == postgres ]] && ((ITEMS <= LIST_SMALL)) && ((!ORDERS_ONLY)); then
  echo "--backend postgres needs --items above $LIST_SMALL (the list is compared with a $LIST_SMALL-item database)" >&2
  exit 2
fi
# each alternating round's scenarios are shorter than the main ones
ROUND_SECONDS=$((DURATION < 5 ? DURATION : 5))
LIST_ROUNDS=$ROUNDS

TOOLS=(wrk python3)
[[ "$BACKEND" == postgres ]] && TOOLS+=(redis-server redis-cli runuser)
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null || {
    echo "$tool not found; on Debian: apt-get update && apt-get install -y wrk python3 postgresql-15 redis-server" >&2
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
# the tree the binary was built from (HEAD may move while the run goes on)
GIT_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
GIT_DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)"

OUT="${BENCH_OUT:-$BENCH_DIR/out/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

# ------------------------------------------------------------------ server
RUN_START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/inventory-bench.XXXXXX")"
SERVER_PID=""
REDIS_PID=""
PG_DIR=""  # the PostgreSQL cluster's directory (postgres backend)

# stop_process PID: SIGTERM, up to 5 s to exit, then SIGKILL; reaps it.
stop_process() {
  local pid=$1
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

SMALL_PID=""  # postgres: the second server, on the 10,000-item database
stop_server() { stop_process "$SERVER_PID"; SERVER_PID=""; }
stop_small() { stop_process "$SMALL_PID"; SMALL_PID=""; }
stop_redis() { stop_process "$REDIS_PID"; REDIS_PID=""; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  stop_small
  stop_redis
  if [[ -n "$PG_DIR" ]]; then
    cp "$PG_DIR/server.log" "$OUT/postgres.log" 2>/dev/null || true
    "$BENCH_DIR/pg.sh" stop "$PG_DIR" || true
  fi
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

pg() { "$BENCH_DIR/pg.sh" psql "$PG_DIR" "$PG_PORT" "$@"; }

if [[ "$BACKEND" == postgres ]]; then
  PG_PORT="$(ctl free-port)"
  PG_DIR="$WORK-pg"
  log "starting PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on) on 127.0.0.1:$PG_PORT, data in $PG_DIR"
  "$BENCH_DIR/pg.sh" start "$PG_DIR" "$PG_PORT" "$PG_SHARED_BUFFERS"
  pg -At -F '|' -c "SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name IN
    ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers',
     'max_connections', 'wal_level', 'commit_delay', 'checkpoint_timeout', 'max_wal_size',
     'effective_cache_size', 'work_mem') ORDER BY name" >"$OUT/pg_settings.txt"
  pg -At -c "SELECT version()" >"$OUT/pg_version.txt"
  REDIS_PORT="$(ctl free-port)"
  mkdir -p "$WORK/redis"
  log "starting redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --daemonize no --protected-mode yes --dir "$WORK/redis" >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] && break
    kill -0 "$REDIS_PID" 2>/dev/null || { cat "$OUT/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] ||
    { echo "redis-server did not answer PING" >&2; exit 1; }
  redis-server --version >"$OUT/redis_version.txt"
  DB_ENV=(DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    DATABASE_POOL_SIZE="$POOL_SIZE" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/")
  DB_DESC="PostgreSQL 127.0.0.1:$PG_PORT, pool $POOL_SIZE, Redis 127.0.0.1:$REDIS_PORT"
else
  DB_ENV=(DATABASE_URL="sqlite://$WORK/inventory.db" INVENTORY_SQLITE_SYNC="$SYNC")
  DB_DESC="sync=$SYNC, db in $WORK"
fi

log "starting $BIN on $BASE ($DB_DESC)"
env PORT="$PORT" BIND_ADDR=127.0.0.1 \
  "${DB_ENV[@]}" \
  INVENTORY_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
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

# ------------------------------------------------------------------ wrk
# run_wrk NAME SCRIPT PATH SECONDS: one bounded wrk run; raw output in
# OUT/NAME.txt, the script's BENCH_RESULT line in OUT/NAME.json.
# WRK_BASE (optional) sends the load to another server than $BASE.
run_wrk() {
  local name=$1 script=$2 path=$3 secs=$4 base=${WRK_BASE:-$BASE}
  local cmd=(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s --latency
    -s "$BENCH_DIR/$script" "$base$path")
  log "scenario $name: ${cmd[*]}"
  local list_env=""
  [[ -n "${BENCH_LIST_PATH:-}" ]] && list_env="BENCH_LIST_PATH=\"$BENCH_LIST_PATH\" "
  [[ -n "${BENCH_PAGE_PATH:-}" ]] && list_env+="BENCH_PAGE_PATH=\"$BENCH_PAGE_PATH\" "
  [[ -n "${BENCH_ORDERS:-}" ]] && list_env+="BENCH_ORDERS=hot_orders.txt BENCH_THREADS=$THREADS "
  printf 'BENCH_SCENARIO=%s %s%s%s\n' "$name" "${BENCH_ACTIVE_MS:+BENCH_ACTIVE_MS=$BENCH_ACTIVE_MS }" \
    "$list_env" "${cmd[*]}" | sed "s#$BENCH_DIR/#bench/#; s#$BASE#http://127.0.0.1:PORT#; s#${SMALL_BASE:-no-second-server}#http://127.0.0.1:PORT2#" >"$OUT/$name.cmd"
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

# walk_to_middle NAME BASE TOKEN SIZE: follows cursors to item SIZE/2 on the
# server at BASE; prints the cursor of the page there.
walk_to_middle() {
  local name=$1 base=$2 token=$3 size=$4
  log "list at $size items ($name): walking cursors to item $((size / 2))"
  LIST_TOKEN="$token" ctl walk-pages "$base" --token-env LIST_TOKEN --depth $((size / 2)) \
    --timeout 180 >"$OUT/list_${size}_walk.json"
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cursor"])' \
    "$OUT/list_${size}_walk.json"
}

# list_rounds: GET /api/v1/items?limit=50, the first page and the page
# halfway through the table, on the 10,000-item server and on the
# 1,000,000-item one in turn, LIST_ROUNDS times: both sizes are measured
# under the same conditions (a comparison minutes apart measures the
# machine's drift as much as the table).
list_rounds() {
  local small_cursor large_cursor round which
  small_cursor="$(walk_to_middle small "$SMALL_BASE" "$SMALL_TOKEN" "$LIST_SMALL")"
  large_cursor="$(walk_to_middle large "$BASE" "$BENCH_TOKEN" "$LIST_LARGE")"
  for round in $(seq 1 "$LIST_ROUNDS"); do
    for which in first deep; do
      local small_path="/api/v1/items?limit=50" large_path="/api/v1/items?limit=50"
      if [[ "$which" == deep ]]; then
        small_path="$small_path&cursor=$small_cursor"
        large_path="$large_path&cursor=$large_cursor"
      fi
      BENCH_TOKEN="$SMALL_TOKEN" WRK_BASE="$SMALL_BASE" BENCH_LIST_PATH="$small_path" \
        run_wrk "list_${LIST_SMALL}_${which}_r${round}" item_list.lua /api/v1/items "$ROUND_SECONDS"
      BENCH_LIST_PATH="$large_path" \
        run_wrk "list_${LIST_LARGE}_${which}_r${round}" item_list.lua /api/v1/items "$ROUND_SECONDS"
    done
  done
}

# wait_idle NAME: when wrk stops, the server (and PostgreSQL) may still be
# working through requests that wrk abandoned (a slow page queues up to
# one per connection); waits, up to 120 s, until the server uses under 4%
# of a CPU over half a second and, on postgres, no query is active, so
# that the next scenario does not pay for this one. The seconds waited go
# to OUT/NAME.settle.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
wait_idle() {
  local name=$1 t0=$EPOCHREALTIME a b active tick_limit
  tick_limit=$(($(getconf CLK_TCK) / 50)) # 2% of a second = 4% of one CPU over 0.5 s
  for _ in $(seq 1 240); do
    a="$(cpu_ticks)"
    sleep 0.5
    b="$(cpu_ticks)"
    active=0
    if [[ "$BACKEND" == postgres ]]; then
      active="$(pg -At -c "SELECT count(*) FROM pg_stat_activity
        WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type = 'client backend'")"
    fi
    ((b - a <= tick_limit && active == 0)) && break
  done
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$OUT/$name.settle"
  log "$name: server idle again $(cat "$OUT/$name.settle") s after the scenario's RSS sample"
}

# page_scenarios SUFFIX SECONDS: the UI pages as a signed-in browser asks
# for them (session cookie, Accept: text/html): the items list (first page),
# an item's page (random seeded ids) and the dashboard.
page_scenarios() {
  local suffix=$1 secs=$2
  BENCH_PAGE_PATH=/items run_wrk "page_items$suffix" page.lua /items "$secs"
  wait_idle "page_items$suffix"
  run_wrk "page_item$suffix" page_item.lua /items "$secs"
  wait_idle "page_item$suffix"
  BENCH_PAGE_PATH=/ run_wrk "page_dashboard$suffix" page.lua / "$secs"
  wait_idle "page_dashboard$suffix"
}

# page_rounds: at LIST_LARGE items, /health and the pages in turn, LIST_ROUNDS
# times, so that each page's p99 is compared with /health's seconds apart.
page_rounds() {
  local round
  for round in $(seq 1 "$LIST_ROUNDS"); do
    run_wrk "health_${LIST_LARGE}_r$round" health.lua /health "$ROUND_SECONDS"
    page_scenarios "_${LIST_LARGE}_r$round" "$ROUND_SECONDS"
  done
}

pg_count_items() { pg -At -c "SELECT count(*) FROM items"; }
db_kb() {
  if [[ "$BACKEND" == postgres ]]; then
    pg -At -c "SELECT pg_database_size('postgres') / 1024"
  else
    du -sk "$WORK" | awk '{ print $1 }'
  fi
}

# ------------------------------------------------------------------ seed
SEED_START=$(date +%s)
if [[ "$BACKEND" == postgres ]] && ((!ORDERS_ONLY)); then
  # The list at LIST_SMALL items is measured on a second server (same binary
  # and settings) over a second database of the same cluster, seeded now and
  # idle until the list rounds at the end.
  pg -q -c "CREATE DATABASE list_small"
  SMALL_PORT="$(ctl free-port)"
  SMALL_BASE="http://127.0.0.1:$SMALL_PORT"
  log "starting a second server on $SMALL_BASE (database list_small, Redis database 1)"
  env PORT="$SMALL_PORT" BIND_ADDR=127.0.0.1 \
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/list_small" \
    DATABASE_POOL_SIZE="$POOL_SIZE" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/1" \
    INVENTORY_ADMIN_PASSWORD="$ADMIN_PASSWORD" LOG_FORMAT=text RUST_LOG="$SERVER_LOG_LEVEL" \
    "$BIN" serve >"$OUT/server_small.log" 2>&1 &
  SMALL_PID=$!
  ctl wait-ready "$SMALL_BASE" --pid "$SMALL_PID" --timeout 60 ||
    { tail -n 30 "$OUT/server_small.log" >&2; exit 1; }
  SMALL_TOKEN="$(ctl login "$SMALL_BASE" --password-env ADMIN_PASSWORD)"
  export SMALL_TOKEN
  log "seeding $LIST_SMALL items on the second server, $STOCK_PER_ITEM units each"
  ctl seed "$SMALL_BASE" --token-env SMALL_TOKEN --items "$LIST_SMALL" --workers "$WORKERS" \
    --stock "$STOCK_PER_ITEM" --no-hot --timeout 240 --out "$OUT/seed_small" >/dev/null
  pg -At -d list_small -c "SELECT count(*) FROM items" >"$OUT/list_${LIST_SMALL}_count.txt"
  log "seeding $ITEMS items with $WORKERS workers, then $STOCK_PER_ITEM units each"
  ctl seed "$BASE" --token-env BENCH_TOKEN --items "$ITEMS" --workers "$WORKERS" \
    --stock "$STOCK_PER_ITEM" --hot-stock "$HOT_STOCK" --timeout 420 --out "$OUT"
else
  log "seeding $ITEMS items with $WORKERS workers, then $STOCK_PER_ITEM units each"
  ctl seed "$BASE" --token-env BENCH_TOKEN --items "$ITEMS" --workers "$WORKERS" \
    --stock "$STOCK_PER_ITEM" --hot-stock "$HOT_STOCK" --timeout 240 --out "$OUT"
fi
SEED_SECONDS=$(($(date +%s) - SEED_START))
export BENCH_IDS="$OUT/ids.txt"
BENCH_HOT_ID="$(cat "$OUT/hot_id.txt")"
export BENCH_HOT_ID
DB_KB="$(db_kb)"

sleep 2
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
RSS_SEEDED_KB="$(proc_kb VmRSS)"
log "idle RSS after seeding (before load): ${RSS_SEEDED_KB} kB; database ${DB_KB} kB; loadavg $LOADAVG"
# ------------------------------------------------------------------ orders
# Sales orders (issue 12): complete flows over many items, confirms racing
# on one hot item, and the invariants check at LEDGER_ROWS ledger rows.
ledger_rows() {
  if [[ "$BACKEND" == postgres ]]; then
    pg -At -c "SELECT count(*) FROM movements"
  else
    python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
print(c.execute("SELECT count(*) FROM movements").fetchone()[0])' "$WORK/inventory.db"
  fi
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

order_scenarios() {
  loadavg >"$OUT/order_flow.load_before"
  BENCH_ACTIVE_MS=$((DURATION * 1000)) run_wrk order_flow order_flow.lua \
    /api/v1/sales-orders $((DURATION + FLOW_TAIL))
  loadavg >"$OUT/order_flow.load_after"
  ctl route-times "$BASE" >"$OUT/order_flow_routes.json" || true
  wait_idle order_flow

  log "so_confirm_hot: $HOT_ORDERS draft orders of 1 unit on an item holding $HOT_ORDER_STOCK"
  ctl make-orders "$BASE" --token-env BENCH_TOKEN --stock "$HOT_ORDER_STOCK" \
    --count "$HOT_ORDERS" --workers "$WORKERS" --out "$OUT/hot_orders.txt" >"$OUT/hot_orders.json"
  wait_idle make_orders
  loadavg >"$OUT/so_confirm_hot.load_before"
  BENCH_ORDERS="$OUT/hot_orders.txt" BENCH_THREADS="$THREADS" run_wrk so_confirm_hot \
    so_confirm_hot.lua /api/v1/sales-orders "$HOT_CONFIRM_SECONDS"
  loadavg >"$OUT/so_confirm_hot.load_after"
  ctl check-orders "$BASE" --token-env BENCH_TOKEN --made "$OUT/hot_orders.json" \
    --result "$OUT/so_confirm_hot.json" --out "$OUT/so_confirm_hot_check.json"

  ((LEDGER_ROWS > 0)) || return 0
  local have need
  have="$(ledger_rows)"
  need=$((LEDGER_ROWS - have))
  if ((need > 0)); then
    log "ledger: $have rows; adding $need through POST /api/v1/movements/batch"
    ctl ledger-fill "$BASE" --token-env BENCH_TOKEN --ids "$BENCH_IDS" --rows "$need" \
      >"$OUT/ledger_fill.json"
  fi
  ledger_rows >"$OUT/invariants_ledger_rows.txt"
  sleep 2
  wait_idle ledger_fill
  log "invariants check at $(cat "$OUT/invariants_ledger_rows.txt") ledger rows (HTTP, 3 times)"
  loadavg >"$OUT/invariants.load_before"
  ctl invariants "$BASE" --token-env BENCH_TOKEN --repeat 3 >"$OUT/invariants_http.json"
  log "invariants check with the CLI: inventory check"
  local t0 rc=0
  t0=$EPOCHREALTIME
  env "${DB_ENV[@]}" INVENTORY_ADMIN_PASSWORD="$ADMIN_PASSWORD" LOG_FORMAT=text \
    RUST_LOG="$SERVER_LOG_LEVEL" timeout 600 "$BIN" check >"$OUT/invariants_cli.txt" 2>&1 || rc=$?
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v rc="$rc" \
    'BEGIN { printf "{\"seconds\": %.3f, \"exit\": %d}\n", b - a, rc }' >"$OUT/invariants_cli.json"
  loadavg >"$OUT/invariants.load_after"
  log "invariants: HTTP $(cat "$OUT/invariants_http.json"); CLI $(cat "$OUT/invariants_cli.json")"
}

if ((!ORDERS_ONLY)); then
  # what each main UI page sends (HTML, linked CSS/JS), and a check that the
  # session cookie opens them (the page scenarios cannot tell a redirect to
  # /login from a page)
  ctl page-weight "$BASE" --token-env BENCH_TOKEN --ids "$BENCH_IDS" >"$OUT/page_weight.json"

  run_wrk health health.lua /health "$DURATION"
  # First pass over random ids with an empty item cache; then every seeded
  # item is read once (bench/benchctl.py warm), so that the second pass
  # measures reads that the cache holds: both are reported.
  run_wrk item_get_cold item_get.lua /api/v1/items "$DURATION"
  ctl warm "$BASE" --token-env BENCH_TOKEN --ids "$BENCH_IDS" >"$OUT/warm.json"
  run_wrk item_get item_get.lua /api/v1/items "$DURATION"
  # The ratio of the two, in alternating rounds: the machine's speed drifts
  # between runs a minute apart, and the rounds show by how much.
  for round in $(seq 1 "$ROUNDS"); do
    run_wrk "health_r$round" health.lua /health "$ROUND_SECONDS"
    run_wrk "item_get_r$round" item_get.lua /api/v1/items "$ROUND_SECONDS"
  done
  if [[ "$BACKEND" == postgres ]]; then
    ctl metrics "$BASE" --token-env BENCH_TOKEN >"$OUT/metrics_after_item_get.json" || true
  fi
  run_wrk item_list item_list.lua /api/v1/items "$DURATION"
  page_scenarios "" "$DURATION"
  run_wrk movements_spread movements_spread.lua /api/v1/movements "$DURATION"

  ctl stock "$BASE" --token-env BENCH_TOKEN --item "$BENCH_HOT_ID" >"$OUT/hot_before.json"
  BENCH_ACTIVE_MS=$((DURATION * 1000)) run_wrk movements_hot movements_hot.lua \
    /api/v1/movements $((DURATION + HOT_TAIL))
  sleep 1 # let the server finish anything still in flight
  ctl stock "$BASE" --token-env BENCH_TOKEN --item "$BENCH_HOT_ID" >"$OUT/hot_after.json"
  ctl check-hot --before "$OUT/hot_before.json" --after "$OUT/hot_after.json" \
    --result "$OUT/movements_hot.json" --out "$OUT/hot_check.json"
fi
order_scenarios

sleep 2
RSS_AFTER_KB="$(proc_kb VmRSS)"
HWM_KB="$(proc_kb VmHWM)"
log "idle RSS after load: ${RSS_AFTER_KB} kB (peak ${HWM_KB} kB)"

# ------------------------------------------------------------------ 1M items
MILLION_SECONDS=""
if [[ "$BACKEND" == postgres ]] && ((MILLION)) && ((!ORDERS_ONLY)); then
  have="$(pg_count_items)"
  bulk=$((LIST_LARGE - have))
  log "growing items from $have to $LIST_LARGE: one INSERT ... SELECT generate_series of $bulk rows"
  M_START=$(date +%s)
  # rows as writes.rs::create_item writes them (no event or stock rows:
  # these items are never read by id and carry no stock); ids are random
  # (gen_random_uuid) rather than v7, skus BULK-0000001... sort after BENCH-*
  pg -c "INSERT INTO items (id, sku, name, description, category, unit, reorder_point,
           unit_cost, attributes, archived, on_hand, reserved, version, created_at, updated_at,
           sku_folded, name_folded)
         SELECT gen_random_uuid(), s.sku, s.name, NULL, 'cat-' || lpad((g % 50)::text, 2, '0'),
           'pcs', 10, (1 + g % 997) * 10000 + (g % 100) * 100, '{}', FALSE, 0, 0, 1, t.now,
           t.now, lower(s.sku), lower(s.name)
         FROM generate_series(1, $bulk) AS g,
           LATERAL (SELECT 'BULK-' || lpad(g::text, 7, '0') AS sku, 'Bulk item ' || g AS name) s,
           (SELECT date_trunc('microseconds', now()) AS now) t" >"$OUT/million_insert.txt" 2>&1
  M_INSERT=$(($(date +%s) - M_START))
  pg -c "VACUUM (ANALYZE) items" -c "CHECKPOINT" >>"$OUT/million_insert.txt" 2>&1
  MILLION_SECONDS=$(($(date +%s) - M_START))
  pg_count_items >"$OUT/list_${LIST_LARGE}_count.txt"
  printf 'bulk_rows=%s\ninsert_seconds=%s\ntotal_seconds=%s\ndb_kb=%s\n' "$bulk" "$M_INSERT" \
    "$MILLION_SECONDS" "$(db_kb)" >"$OUT/million.env"
  log "inserted $bulk rows in ${M_INSERT}s (+ VACUUM ANALYZE, CHECKPOINT: ${MILLION_SECONDS}s)"
  pg -d list_small -c "VACUUM (ANALYZE) items" >>"$OUT/million_insert.txt" 2>&1
  sleep 2
  list_rounds
  ctl page-weight "$BASE" --token-env BENCH_TOKEN --ids "$BENCH_IDS" \
    >"$OUT/page_weight_${LIST_LARGE}.json"
  page_rounds
fi

if [[ "$BACKEND" == postgres ]]; then
  ctl redis-info 127.0.0.1 "$REDIS_PORT" >"$OUT/redis_info.json" || true
fi
grep -cE 'WARN|ERROR' "$OUT/server.log" >"$OUT/server_log_warnings.txt" || true
if [[ "$BACKEND" == postgres ]]; then
  grep -cE 'ERROR|FATAL|PANIC' "$PG_DIR/server.log" >"$OUT/postgres_log_errors.txt" || true
fi
stop_server
stop_small

# ------------------------------------------------------------------ report
cat >"$OUT/meta.env" <<EOF
invocation=$INVOCATION
backend=$BACKEND
pool_size=$POOL_SIZE
pg_shared_buffers=$PG_SHARED_BUFFERS
million=$MILLION
list_small=$LIST_SMALL
list_large=$LIST_LARGE
rounds=$ROUNDS
round_seconds=$ROUND_SECONDS
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
git_rev=$GIT_REV
git_dirty=$GIT_DIRTY
orders_only=$ORDERS_ONLY
hot_orders=$HOT_ORDERS
hot_order_stock=$HOT_ORDER_STOCK
hot_confirm_seconds=$HOT_CONFIRM_SECONDS
ledger_rows_target=$LEDGER_ROWS
flow_tail=$FLOW_TAIL
loadavg_end=$(loadavg)
EOF

REPORT_ARGS=()
((ORDERS_ONLY)) && REPORT_ARGS+=(--orders-only)
python3 "$BENCH_DIR/report.py" "$OUT" --output "$REPORT" "${REPORT_ARGS[@]}"
log "raw results in ${OUT#"$ROOT"/}; report written to ${REPORT#"$ROOT"/}"
