#!/usr/bin/env bash
# Throwaway, DURABLE PostgreSQL cluster for bench/run.sh --backend postgres,
# from Debian's postgresql binaries, on a loopback port in a temporary
# directory. Unlike scripts/pg-test-cluster.sh (fsync off, for tests) this
# cluster keeps PostgreSQL's durability: fsync, synchronous_commit and
# full_page_writes on, so commit figures are those of a real deployment.
#
#   bench/pg.sh start DIR PORT [SHARED_BUFFERS]  # initdb + start (DIR must not exist)
#   bench/pg.sh stop DIR                         # stop (immediate) and delete DIR
#   bench/pg.sh psql DIR PORT [psql args...]     # psql as postgres over TCP
#
# As root the cluster runs as the postgres user (runuser): PostgreSQL refuses
# to run as root. It listens on 127.0.0.1 only, with trust authentication
# (loopback, throwaway data).
set -euo pipefail

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

find_bin() {
  local name=$1 dir
  for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return; }
  done
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  echo "error: $name not found; on Debian: apt-get install postgresql-15" >&2
  exit 2
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local dir=${1:?usage: start DIR PORT} port=${2:?usage: start DIR PORT} sb=${3:-512MB}
  [[ -e "$dir" ]] && { echo "error: $dir exists" >&2; exit 2; }
  mkdir -m 700 "$dir"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  as_owner "$(find_bin initdb)" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  # durability stays at PostgreSQL's defaults, stated explicitly
  as_owner "$(find_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=$sb -c max_connections=100" \
    >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

stop() {
  local dir=${1:?usage: stop DIR}
  if [[ -d "$dir/data" ]]; then
    as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

run_psql() {
  local dir=${1:?usage: psql DIR PORT ...} port=${2:?usage: psql DIR PORT ...}
  shift 2
  [[ -d "$dir" ]] || { echo "error: no cluster in $dir" >&2; exit 2; }
  "$(find_bin psql)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop "${2:-}" ;;
  psql) shift; run_psql "$@" ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
