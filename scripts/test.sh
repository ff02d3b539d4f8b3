#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, and the whole
# test suite, against SQLite and against a throwaway PostgreSQL cluster. As
# root it first installs the tools the tests use from Debian's packages;
# otherwise it says what is missing (and under CI=true the tests that need a
# missing tool fail instead of skipping).
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages the tests drive for real.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing ${missing[*]}; install with: sudo apt-get install ${missing[*]}" >&2
  fi
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> starting a throwaway PostgreSQL cluster"
eval "$(scripts/pg-test-cluster.sh start)"
trap 'scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"' EXIT

echo "==> cargo test (SQLite; the Store contract suite against SQLite and PostgreSQL)"
cargo test --workspace --locked

echo "==> HTTP integration tests against PostgreSQL"
TEST_BACKEND=postgres cargo test --locked -p inventory-server --test api --test ledger --test events --test cache --test smoke
