#!/usr/bin/env bash
# Checks that commit messages are Conventional Commits, with commitlint
# (ci/tools, `npm ci --prefix ci/tools`) and ci/tools/commitlint.config.mjs.
#
#   ci/check-commits.sh                 every commit after ci/commits-base up to HEAD
#   ci/check-commits.sh --range A..B    the commits in A..B
#   ci/check-commits.sh --message FILE  one message (e.g. a commit-msg hook's $1)
#
# Merge commits are left out (their messages are the merger's summary, not a
# change). Every failing commit is reported, then the exit status is 1.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commitlint="$root/ci/tools/node_modules/.bin/commitlint"
config="$root/ci/tools/commitlint.config.mjs"
[[ -x $commitlint ]] || { echo "error: $commitlint missing: run npm ci --prefix ci/tools" >&2; exit 2; }

lint() { "$commitlint" --config "$config" --cwd "$root" --strict "$@"; }

case "${1:-}" in
  --message)
    lint --edit "${2:?--message needs a file}"
    exit
    ;;
  --range) range=${2:?--range needs A..B} ;;
  "") range="$(tr -d "[:space:]" <"$root/ci/commits-base")..HEAD" ;;
  *) echo "usage: ci/check-commits.sh [--range A..B | --message FILE]" >&2; exit 2 ;;
esac

base=${range%%..*}
git -C "$root" cat-file -e "$base^{commit}" 2>/dev/null ||
  { echo "error: $base is not in this clone's history (a shallow clone? fetch it whole)" >&2; exit 2; }

failed=0
checked=0
while read -r sha; do
  checked=$((checked + 1))
  if ! git -C "$root" log -1 --format=%B "$sha" | lint >"${TMPDIR:-/tmp}/commitlint.$$" 2>&1; then
    failed=$((failed + 1))
    echo "commit $sha: $(git -C "$root" log -1 --format=%s "$sha")"
    sed 's/^/    /' "${TMPDIR:-/tmp}/commitlint.$$"
  fi
done < <(git -C "$root" rev-list --no-merges --reverse "$range")
rm -f "${TMPDIR:-/tmp}/commitlint.$$"

echo "$checked commit(s) in $range checked, $failed not conventional"
((failed == 0))
