#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the tests, from Debian's
# postgresql binaries, on a free loopback port in a temporary directory.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # exports TEST_DATABASE_URL, PG_TEST_DIR
#   scripts/pg-test-cluster.sh start --tls CERTS  # TLS only, with CERTS/server.crt and .key
#   scripts/pg-test-cluster.sh halt "$PG_TEST_DIR"   # stop the server, keep the data
#   scripts/pg-test-cluster.sh resume "$PG_TEST_DIR" # start it again on the same port
#   scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"   # stop and delete everything
#
# Durability is switched off (fsync=off): the cluster lives only for a test run.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

find_bin() {
  local name=$1 dir
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return; }
  done
  echo "error: $name not found; install PostgreSQL: apt-get install postgresql" >&2
  exit 2
}

# PostgreSQL refuses to run as root: as root, run it as the postgres user.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local initdb pg_ctl dir port tls=""
  if [[ ${1:-} == --tls ]]; then
    tls=${2:?usage: start --tls CERT_DIR}
    [[ -f $tls/server.crt && -f $tls/server.key ]] || {
      echo "error: $tls must hold server.crt and server.key" >&2
      exit 2
    }
  fi
  initdb=$(find_bin initdb)
  pg_ctl=$(find_bin pg_ctl)
  dir=$(mktemp -d /tmp/inventory-pg.XXXXXX)
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # Members of password_required log in with a password (the secret
  # rotation test); everyone else is trusted, as initdb set up.
  {
    # With --tls a connection without TLS is refused, so a client that
    # connects at all has used it.
    [[ -n $tls ]] && echo "hostnossl all all 127.0.0.1/32 reject"
    echo "host all +password_required 127.0.0.1/32 scram-sha-256"
    cat "$dir/data/pg_hba.conf"
  } >"$dir/pg_hba.conf.new"
  if [[ -n $tls ]]; then
    # The server reads its key only when the key is private to it.
    install -m 0644 "$tls/server.crt" "$dir/data/server.crt"
    install -m 0600 "$tls/server.key" "$dir/data/server.key"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir/data/server.crt" "$dir/data/server.key"
    touch "$dir/tls"
  fi
  as_owner cp "$dir/pg_hba.conf.new" "$dir/data/pg_hba.conf"
  echo "$port" >"$dir/port"
  launch "$dir"
  echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export PG_TEST_DIR=$dir"
}

launch() {
  local dir=$1 pg_ctl port
  pg_ctl=$(find_bin pg_ctl)
  port=$(cat "$dir/port")
  local ssl=""
  [[ -f $dir/tls ]] && ssl="-c ssl=on"
  as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 $ssl" \
    >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
}

halt() {
  local dir=${1:?usage: halt DIR}
  as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m fast -w stop >/dev/null
}

stop() {
  local dir=${1:?usage: stop DIR} pg_ctl
  pg_ctl=$(find_bin pg_ctl)
  if [[ -d "$dir/data" ]]; then
    as_owner "$pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "${@:2}" ;;
  stop) stop "${2:-}" ;;
  halt) halt "${2:-}" ;;
  resume) launch "${2:?usage: resume DIR}" ;;
  -h | --help) usage ;;
  *) usage >&2; exit 2 ;;
esac
