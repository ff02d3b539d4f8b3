#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, and the whole
# test suite. As root it first installs the tools the tests use from Debian's
# packages; otherwise it says what is missing (and under CI=true the tests
# that need a missing tool fail instead of skipping).
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages the tests drive for real: promtool (prometheus), shellcheck.
packages=(prometheus shellcheck)
tools=(promtool shellcheck)

missing=()
for i in "${!tools[@]}"; do
  command -v "${tools[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
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

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
