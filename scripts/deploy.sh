#!/usr/bin/env bash
# Deploys Inventory Manager to Kubernetes from deploy/k8s: render, migrate,
# roll out, smoke-test. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh --env ENV [--image IMAGE] (--url BASE_URL | --skip-smoke-test)
                         [--context CTX] [--dry-run] [--yes] [options]

Deploys one release, in this order, and stops at the first failure:
  1. render   kubectl kustomize deploy/k8s/overlays/<overlay>, with IMAGE set
              on the Deployment and the migration Job (and a change-cause
              annotation, shown by `kubectl rollout history`)
  2. apply    everything but the Deployment and the Job (Namespace,
              ConfigMap, Secrets in dev, Service, NetworkPolicies, ...)
  3. migrate  delete the previous Job inventory-migrate, apply the new one,
              kubectl wait until it completes (`inventory migrate`); on
              failure its logs are shown and the Deployment is NOT changed
  4. roll out apply the Deployment, kubectl rollout status
  5. smoke    scripts/smoke-test.sh --url BASE_URL
A failed step 4 or 5 leaves the old pods serving (maxUnavailable 0) and
names the rollback command (scripts/rollback.sh).

Environments (namespace inventory in each):
  dev      overlay dev (in-cluster PostgreSQL and Redis), the current kube
           context; IMAGE defaults to the overlay's localhost/inventory:dev
  staging  overlay prod (the production manifests), kube context
           inventory-staging; --image required
  prod     overlay prod, kube context inventory-prod; --image required and
           pinned by digest (NAME@sha256:...); --yes required

Options:
  --env ENV                dev, staging or prod (required)
  --image IMAGE            image to run, e.g.
                           registry.example.com/inventory/inventory@sha256:<digest>
  --url URL                base URL of the environment, for the smoke test
                           (default: $INVENTORY_URL)
  --skip-smoke-test        do not run step 5
  --context CTX            kube context instead of the default above
  --render-to DIR          keep the rendered manifests in DIR (rest.yaml,
                           job.yaml, app.yaml)
  --migrate-timeout SECS   how long to wait for the migration (default 660)
  --rollout-timeout SECS   how long to wait for the rollout (default 600)
  --dry-run                render for real, print every kubectl command that
                           would change something, change nothing
  --yes                    confirm a change to prod
  -h, --help               this help

The smoke test reads its password from SMOKE_PASSWORD(_FILE) or
INVENTORY_ADMIN_PASSWORD(_FILE); see scripts/smoke-test.sh --help.
Exit status: 0 deployed and smoke-tested; 1 a step failed; 2 bad usage.
EOF
}

env_name=""
image=""
url=${INVENTORY_URL:-}
skip_smoke=0
context=""
render_to=""
migrate_timeout=660
rollout_timeout=600
while (($#)); do
  case "$1" in
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --image) need_value "$1" $# && image=$2 && shift ;;
    --url) need_value "$1" $# && url=$2 && shift ;;
    --skip-smoke-test) skip_smoke=1 ;;
    --context) need_value "$1" $# && context=$2 && shift ;;
    --render-to) need_value "$1" $# && render_to=$2 && shift ;;
    --migrate-timeout) need_value "$1" $# && migrate_timeout=$2 && shift ;;
    --rollout-timeout) need_value "$1" $# && rollout_timeout=$2 && shift ;;
    --dry-run) DRY_RUN=1 ;;
    --yes) YES=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

validate_env "$env_name"
[[ $migrate_timeout =~ ^[1-9][0-9]*$ ]] || usage_error "--migrate-timeout: '$migrate_timeout' is not a number of seconds"
[[ $rollout_timeout =~ ^[1-9][0-9]*$ ]] || usage_error "--rollout-timeout: '$rollout_timeout' is not a number of seconds"
if [[ -n $image ]]; then
  [[ $image =~ ^[a-z0-9][a-z0-9._/:-]*(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?$ ]] ||
    usage_error "--image: '$image' is not an image reference"
elif [[ $env_name != dev ]]; then
  usage_error "--image is required for $env_name (the prod overlay's image is a placeholder)"
fi
if [[ $env_name == prod && ! $image =~ @sha256:[0-9a-f]{64}$ ]]; then
  usage_error "--image: prod runs images pinned by digest (NAME@sha256:<64 hex digits>), not '$image'"
fi
if [[ $image =~ @sha256:0{64}$ ]]; then
  usage_error "--image: the all-zero digest is the overlay's placeholder, not a release"
fi
if [[ $skip_smoke -eq 0 ]]; then
  [[ -n $url ]] || usage_error "--url BASE_URL (or INVENTORY_URL) is needed for the smoke test, or pass --skip-smoke-test"
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url: '$url' is not an http(s) URL"
fi
confirm_changes "$env_name"
require_tool kubectl "install kubectl (v1.27 or later: kustomize v5)"
k8s_setup "$env_name" "$context"
if [[ $skip_smoke -eq 0 && $DRY_RUN -eq 0 ]]; then
  # Fail before changing anything rather than after the rollout.
  require_tool curl "install it with apt-get install curl"
  require_tool jq "install it with apt-get install jq"
  if [[ -z $(read_secret SMOKE_PASSWORD) && -z $(read_secret INVENTORY_ADMIN_PASSWORD) ]]; then
    die_with 2 "the smoke test needs a password: set SMOKE_PASSWORD(_FILE) or INVENTORY_ADMIN_PASSWORD(_FILE), or pass --skip-smoke-test"
  fi
fi

make_tmpdir
if [[ -n $render_to ]]; then
  mkdir -p "$render_to"
  out=$(cd "$render_to" && pwd)
  rm -f "$out/rest.yaml" "$out/job.yaml" "$out/app.yaml"
else
  out=$TMPDIR_OPS
fi

# 1. Render the overlay, then set the image and the change-cause on top of
# it with a throwaway kustomization (the repository is not edited).
log "1/5 render $K8S_OVERLAY${image:+ with image $image}"
work=$TMPDIR_OPS/release
mkdir -p "$work"
kubectl kustomize "$K8S_OVERLAY" >"$work/overlay.yaml" ||
  die "kubectl kustomize $K8S_OVERLAY failed"
who=$(id -un 2>/dev/null || echo unknown)
who=${who//[^A-Za-z0-9._-]/}
cause="deploy.sh env=$env_name image=${image:-overlay default} by $who at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
{
  cat <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - overlay.yaml
patches:
  - target:
      kind: Deployment
      name: inventory
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: inventory
        annotations:
          kubernetes.io/change-cause: "$cause"
EOF
  if [[ -n $image ]]; then
    cat <<EOF
      spec:
        template:
          spec:
            containers:
              - name: inventory
                image: "$image"
  - target:
      kind: Job
      name: inventory-migrate
    patch: |-
      apiVersion: batch/v1
      kind: Job
      metadata:
        name: inventory-migrate
      spec:
        template:
          spec:
            containers:
              - name: migrate
                image: "$image"
EOF
  fi
} >"$work/kustomization.yaml"
kubectl kustomize "$work" >"$work/release.yaml" || die "rendering the release failed"

# Split it: the migration Job, the app's Deployment, and everything else.
awk -v dir="$out" '
  function flush(   f) {
    if (doc == "") return
    f = dir "/rest.yaml"
    if (kind == "Job" && name == "inventory-migrate") f = dir "/job.yaml"
    else if (kind == "Deployment" && name == "inventory") f = dir "/app.yaml"
    printf "---\n%s", doc >> f
    doc = ""; kind = ""; name = ""; meta = 0
  }
  /^---$/ { flush(); next }
  /^kind: / { kind = $2 }
  /^metadata:/ { meta = 1 }
  /^[^ ]/ && !/^metadata:/ { meta = 0 }
  meta && name == "" && /^  name: / { name = $2 }
  { doc = doc $0 "\n" }
  END { flush() }
' "$work/release.yaml"
[[ -s $out/job.yaml ]] || die "the rendered release has no Job inventory-migrate"
[[ -s $out/app.yaml ]] || die "the rendered release has no Deployment inventory"
[[ -s $out/rest.yaml ]] || die "the rendered release holds nothing but the Job and the Deployment"
deployed_image=$(sed -n 's/^ *image: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$out/app.yaml" | head -n 1)
[[ -z $image || $deployed_image == "$image" ]] ||
  die "the rendered Deployment runs '$deployed_image', not '$image'"
log "release: image $deployed_image, context ${K8S_CONTEXT:-(current)}, namespace $K8S_NAMESPACE"
if [[ $DRY_RUN -eq 1 ]]; then
  echo "dry run: $env_name would get image $deployed_image (context ${K8S_CONTEXT:-current}, namespace $K8S_NAMESPACE)"
  echo "objects: $(grep -h '^kind: ' "$out/rest.yaml" "$out/job.yaml" "$out/app.yaml" | cut -d' ' -f2 | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"
  [[ -n $render_to ]] && echo "rendered manifests: $out/rest.yaml $out/job.yaml $out/app.yaml"
  echo "commands:"
fi

rollback_hint="scripts/rollback.sh --env $env_name${context:+ --context $context}${url:+ --url $url}"
[[ $env_name == prod ]] && rollback_hint+=" --yes"

# 2. Everything the Job and the pods need.
log "2/5 apply the configuration and services"
kube apply -f "$out/rest.yaml"

# 3. Migrate first: a failing migration stops the release before any pod changes.
log "3/5 migrate"
kube delete job inventory-migrate --ignore-not-found --wait=true
kube apply -f "$out/job.yaml"
if ! kube wait --for=condition=complete job/inventory-migrate --timeout="${migrate_timeout}s"; then
  kube_read logs job/inventory-migrate --tail=100 >&2 || true
  die "the migration Job did not complete within ${migrate_timeout}s (its logs are above); the Deployment was NOT changed"
fi

# 4. Roll out.
log "4/5 roll out"
kube apply -f "$out/app.yaml"
if ! kube rollout status deployment/inventory --timeout="${rollout_timeout}s"; then
  die "the rollout did not complete within ${rollout_timeout}s; the old pods keep serving. Look at: scripts/monitor.sh --k8s --env $env_name; undo with: $rollback_hint"
fi

# 5. Smoke test.
smoke_step 5/5 "$url" "$env_name" "$skip_smoke" \
  "the smoke test failed after the rollout; undo with: $rollback_hint"
finish_change "deployed $deployed_image to $env_name"
