#!/usr/bin/env bash
# Rolls the Inventory Manager Deployment back to an earlier revision, waits
# for it, and smoke-tests it. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/rollback.sh --env ENV (--url BASE_URL | --skip-smoke-test)
                           [--to-revision N] [--context CTX] [--dry-run] [--yes]
       scripts/rollback.sh --env ENV --list [--context CTX]

Rolls the Deployment `inventory` back, in this order, stopping at the first
failure:
  1. history  kubectl rollout history deployment/inventory (shown, read-only)
  2. undo     kubectl rollout undo deployment/inventory [--to-revision=N]
              (default: the revision before the current one)
  3. wait     kubectl rollout status deployment/inventory
  4. smoke    scripts/smoke-test.sh --url BASE_URL

It changes the pods only: not the database schema, not the ConfigMap or the
Secrets. An older release refuses a database that a newer one migrated
("the database schema is at version N, newer than this binary supports"):
its pods then never become ready, step 3 times out, and the current pods keep
serving (maxUnavailable 0). See docs/runbooks/rollback.md for that case.

Environments and kube contexts are those of scripts/deploy.sh: dev the
current context, staging inventory-staging, prod inventory-prod (and --yes).

Options:
  --env ENV                dev, staging or prod (required)
  --to-revision N          roll back to revision N (see --list)
  --url URL                base URL for the smoke test (default: $INVENTORY_URL)
  --skip-smoke-test        do not run step 4
  --context CTX            kube context instead of the default
  --rollout-timeout SECS   how long to wait in step 3 (default 600)
  --list                   only show the revisions (kubectl rollout history)
  --dry-run                print the kubectl commands that would change
                           something, change nothing
  --yes                    confirm a change to prod
  -h, --help               this help

Exit status: 0 rolled back and smoke-tested; 1 a step failed; 2 bad usage.
EOF
}

env_name=""
revision=""
url=${INVENTORY_URL:-}
skip_smoke=0
context=""
rollout_timeout=600
list=0
while (($#)); do
  case "$1" in
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --to-revision) need_value "$1" $# && revision=$2 && shift ;;
    --url) need_value "$1" $# && url=$2 && shift ;;
    --skip-smoke-test) skip_smoke=1 ;;
    --context) need_value "$1" $# && context=$2 && shift ;;
    --rollout-timeout) need_value "$1" $# && rollout_timeout=$2 && shift ;;
    --list) list=1 ;;
    --dry-run) DRY_RUN=1 ;;
    --yes) YES=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

validate_env "$env_name"
require_tool kubectl "install kubectl (v1.27 or later)"
k8s_setup "$env_name" "$context"
if [[ $list -eq 1 ]]; then
  kube_read rollout history deployment/inventory
  exit 0
fi
[[ -z $revision || $revision =~ ^[1-9][0-9]*$ ]] || usage_error "--to-revision: '$revision' is not a revision number"
[[ $rollout_timeout =~ ^[1-9][0-9]*$ ]] || usage_error "--rollout-timeout: '$rollout_timeout' is not a number of seconds"
if [[ $skip_smoke -eq 0 ]]; then
  [[ -n $url ]] || usage_error "--url BASE_URL (or INVENTORY_URL) is needed for the smoke test, or pass --skip-smoke-test"
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url: '$url' is not an http(s) URL"
fi
confirm_changes "$env_name"
if [[ $skip_smoke -eq 0 && $DRY_RUN -eq 0 ]]; then
  require_tool curl "install it with apt-get install curl"
  require_tool jq "install it with apt-get install jq"
  if [[ -z $(read_secret SMOKE_PASSWORD) && -z $(read_secret INVENTORY_ADMIN_PASSWORD) ]]; then
    die_with 2 "the smoke test needs a password: set SMOKE_PASSWORD(_FILE) or INVENTORY_ADMIN_PASSWORD(_FILE), or pass --skip-smoke-test"
  fi
fi

log "1/4 revisions of deployment/inventory (context ${K8S_CONTEXT:-(current)}, namespace $K8S_NAMESPACE)"
if ! kube_read rollout history deployment/inventory >&2; then
  [[ $DRY_RUN -eq 1 ]] || die "cannot read the rollout history of deployment/inventory"
  warn "cannot read the rollout history (is the cluster reachable?); the dry run goes on"
fi
[[ $DRY_RUN -eq 1 ]] && echo "dry run: $env_name would be rolled back to ${revision:+revision }${revision:-the previous revision}; commands:"

log "2/4 undo"
undo=(rollout undo deployment/inventory)
[[ -n $revision ]] && undo+=("--to-revision=$revision")
kube "${undo[@]}" || die "kubectl rollout undo failed; nothing was changed"

log "3/4 wait for the rollout"
if ! kube rollout status deployment/inventory --timeout="${rollout_timeout}s"; then
  die "the rollback did not complete within ${rollout_timeout}s; the pods that were serving keep serving. If the new pods fail with 'newer than this binary supports', the release being undone migrated the database: see docs/runbooks/rollback.md"
fi

smoke_step 4/4 "$url" "$env_name" "$skip_smoke" \
  "the smoke test failed after the rollback: see docs/runbooks/incident-response.md"
finish_change "rolled back $env_name"
