#!/usr/bin/env bash
# git-cliff over the Conventional Commits since ci/commits-base, with
# cliff.toml; any other arguments go to git-cliff (--output FILE, --tag vX.Y.Z,
# --latest, --strip header, ...). git-cliff is $GIT_CLIFF, else the one on
# PATH (scripts/test.sh installs git-cliff from PyPI, pinned).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cliff=${GIT_CLIFF:-git-cliff}
command -v "$cliff" >/dev/null ||
  { echo "error: git-cliff not found: pip install git-cliff==2.14.2 (or set GIT_CLIFF)" >&2; exit 2; }
base=$(tr -d "[:space:]" <"$root/ci/commits-base")
cd "$root"
exec "$cliff" --config cliff.toml "$@" -- "$base..HEAD"
