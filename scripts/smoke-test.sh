#!/usr/bin/env bash
# End-to-end smoke test of a running Inventory Manager over HTTP. Stops at the
# first failed check with a message naming it. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/smoke-test.sh --url BASE_URL [options]

Checks a running server end to end, in this order, and stops at the first
failure (exit 1, one line naming the check):
  1. GET  /health                     answers 200
  2. GET  /ready                      answers 200
  3. POST /api/v1/auth/login          the smoke-test user gets a token
  4. POST /api/v1/items               an item with a unique SKU (SMOKE-...)
  5. POST /api/v1/movements           receive 5, then issue 2
  6. GET  /api/v1/items/{id}          on_hand is 3
  7. GET  /metrics                    carries inventory_build_info
  8. clean-up: issue the remaining 3, archive the item (DELETE), log out
With --read-only only steps 1, 2, 3 and 7 run (and the log-out): nothing is
written.

Options:
  --url URL          base URL of the server (default: $INVENTORY_URL),
                     e.g. http://127.0.0.1:3000 or https://inventory.example.com
  --metrics-url URL  base URL serving /metrics when METRICS_PORT moved it off
                     the main port (default: the base URL)
  --env ENV          dev, staging or prod: names the environment in the output
  --username NAME    user to log in as (default: $SMOKE_USERNAME, else admin);
                     needs the manager role unless --read-only
  --read-only        write nothing (steps 1, 2, 3, 7)
  --timeout SECONDS  limit for each request (default 15)
  --dry-run          print the requests it would make and make none
  -h, --help         this help

The password comes from SMOKE_PASSWORD or SMOKE_PASSWORD_FILE, else from
INVENTORY_ADMIN_PASSWORD or INVENTORY_ADMIN_PASSWORD_FILE (as the server reads
it). It never appears on a command line.

Needs curl and jq. Exit status: 0 every check passed, 1 a check failed,
2 bad usage or a missing tool or password.
EOF
}

url=${INVENTORY_URL:-}
metrics_url=""
env_name=""
username=${SMOKE_USERNAME:-admin}
read_only=0
while (($#)); do
  case "$1" in
    --url) need_value "$1" $# && url=$2 && shift ;;
    --metrics-url) need_value "$1" $# && metrics_url=$2 && shift ;;
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --username) need_value "$1" $# && username=$2 && shift ;;
    --read-only) read_only=1 ;;
    --timeout) need_value "$1" $# && HTTP_TIMEOUT=$2 && shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

[[ -n $url ]] || usage_error "--url (or INVENTORY_URL) is required"
[[ $url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url: '$url' is not an http(s) URL"
url=${url%/}
metrics_url=${metrics_url:-$url}
metrics_url=${metrics_url%/}
[[ -z $env_name ]] || validate_env "$env_name"
[[ ${HTTP_TIMEOUT:-15} =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout: '${HTTP_TIMEOUT:-}' is not a number of seconds"
label=${env_name:+$env_name }$url

if [[ $DRY_RUN -eq 1 ]]; then
  echo "dry run: the smoke test of $label would make these requests:"
  echo "+ GET $url/health"
  echo "+ GET $url/ready"
  echo "+ POST $url/api/v1/auth/login (as $username)"
  if [[ $read_only -eq 0 ]]; then
    echo "+ POST $url/api/v1/items (sku SMOKE-<time>-<random>)"
    echo "+ POST $url/api/v1/movements (receive 5)"
    echo "+ POST $url/api/v1/movements (issue 2)"
    echo "+ GET $url/api/v1/items/<id> (expect on_hand 3)"
  fi
  echo "+ GET $metrics_url/metrics (expect inventory_build_info)"
  if [[ $read_only -eq 0 ]]; then
    echo "+ POST $url/api/v1/movements (issue 3)"
    echo "+ DELETE $url/api/v1/items/<id>"
  fi
  echo "+ POST $url/api/v1/auth/logout"
  exit 0
fi

require_tool curl "install it with apt-get install curl"
require_tool jq "install it with apt-get install jq"
password=$(read_secret SMOKE_PASSWORD)
[[ -n $password ]] || password=$(read_secret INVENTORY_ADMIN_PASSWORD)
[[ -n $password ]] ||
  die_with 2 "no password: set SMOKE_PASSWORD(_FILE) or INVENTORY_ADMIN_PASSWORD(_FILE)"

make_tmpdir
step=""

ok() { printf 'ok    %s\n' "$*"; }

# fail MESSAGE: the current step failed.
fail() { die "smoke test of $label FAILED at '$step': $*"; }

# expect STATUS GOT: the answer had the expected status, or the step fails
# with what came back instead.
expect() {
  local want=$1 got=$2 detail
  [[ $got == "$want" ]] && return 0
  if [[ $got == 000 ]]; then
    fail "no answer ($(http_error))"
  fi
  detail=$(http_body | head -c 300 | tr '\n' ' ')
  fail "HTTP $got, expected $want${detail:+: $detail}"
}

# api METHOD PATH [JSON-BODY-FILE]: an authenticated request; prints the status.
api() {
  local method=$1 path=$2 body=${3:-}
  local args=(--request "$method" --config "$TMPDIR_OPS/auth.cfg")
  [[ -n $body ]] && args+=(--header 'content-type: application/json' --data-binary "@$body")
  http_status "$url$path" "${args[@]}"
}

json_field() { http_body | jq -r "$1"; }

step="GET /health"
expect 200 "$(http_status "$url/health")"
ok "$step"

step="GET /ready"
expect 200 "$(http_status "$url/ready")"
ok "$step ($(json_field '.checks | to_entries | map("\(.key)=\(.value)") | join(", ")' 2>/dev/null || true))"

step="POST /api/v1/auth/login"
SMOKE_U=$username SMOKE_P=$password jq -n '{username: env.SMOKE_U, password: env.SMOKE_P}' \
  >"$TMPDIR_OPS/login.json"
expect 200 "$(http_status "$url/api/v1/auth/login" --request POST \
  --header 'content-type: application/json' --data-binary "@$TMPDIR_OPS/login.json")"
rm -f "$TMPDIR_OPS/login.json"
token=$(json_field '.access_token // empty')
[[ -n $token ]] || fail "the answer has no access_token"
# The token reaches curl through a private config file, not its command line.
printf 'header = "authorization: Bearer %s"\n' "$token" >"$TMPDIR_OPS/auth.cfg"
ok "$step (as $username)"

logged_in=1
logout() {
  if [[ ${logged_in:-0} -eq 1 ]]; then
    logged_in=0
    api POST /api/v1/auth/logout >/dev/null || true
  fi
}
# A failed check still ends the session; the tmpdir goes afterwards.
trap 'logout; cleanup_tmpdir' EXIT

# movement KIND QUANTITY
movement() {
  jq -n --arg id "$item_id" --arg kind "$1" --argjson q "$2" \
    '{item_id: $id, kind: $kind, quantity: $q}' >"$TMPDIR_OPS/movement.json"
  expect 201 "$(api POST /api/v1/movements "$TMPDIR_OPS/movement.json")"
}

if [[ $read_only -eq 0 ]]; then
  step="POST /api/v1/items"
  sku="SMOKE-$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  jq -n --arg sku "$sku" \
    '{sku: $sku, name: "Smoke test item (archived by smoke-test.sh)", unit: "each"}' \
    >"$TMPDIR_OPS/item.json"
  expect 201 "$(api POST /api/v1/items "$TMPDIR_OPS/item.json")"
  item_id=$(json_field '.id // empty')
  [[ -n $item_id ]] || fail "the answer has no id"
  ok "$step ($sku)"

  step="POST /api/v1/movements (receive 5)"
  movement receive 5
  ok "$step"
  step="POST /api/v1/movements (issue 2)"
  movement issue 2
  ok "$step"

  step="GET /api/v1/items/{id}"
  expect 200 "$(api GET "/api/v1/items/$item_id")"
  on_hand=$(json_field '.on_hand')
  [[ $on_hand == 3 ]] || fail "on_hand is '$on_hand', expected 3 after receiving 5 and issuing 2"
  ok "$step (on_hand 3)"
fi

step="GET /metrics"
expect 200 "$(http_status "$metrics_url/metrics")"
build=$(http_body | grep -m 1 '^inventory_build_info{' || true)
[[ -n $build ]] || fail "/metrics has no inventory_build_info"
ok "$step (${build%% *})"

if [[ $read_only -eq 0 ]]; then
  step="clean-up: issue 3"
  movement issue 3
  step="clean-up: DELETE /api/v1/items/{id}"
  expect 204 "$(api DELETE "/api/v1/items/$item_id")"
  ok "clean-up (item $sku archived with on_hand 0)"
fi

step="POST /api/v1/auth/logout"
logged_in=0
expect 204 "$(api POST /api/v1/auth/logout)"
ok "$step"

echo "smoke test of $label passed"
