#!/usr/bin/env bash
# Status of Inventory Manager at a glance: health, readiness and key metrics
# over HTTP, and/or the Deployment and its pods through kubectl. Read-only.
# See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/monitor.sh --url BASE_URL [options]
       scripts/monitor.sh --k8s --env ENV [--context CTX] [options]

Prints the service's status once, or every --interval seconds with --watch.
It only reads: nothing is changed, so there is no --dry-run.

HTTP (--url, default $INVENTORY_URL):
  health and readiness (status and checks), build version, items (total,
  active, low stock), open connections and the database pool, requests
  (total, 5xx), problem responses by type, stock movements by kind; with
  --watch, the request rate between two scrapes.
Kubernetes (--k8s): the Deployment, its pods, its rollout status and the HPA
  in namespace inventory (kubectl get / rollout status --watch=false).
  --env picks the kube context as deploy.sh does: dev the current context,
  staging inventory-staging, prod inventory-prod (--context overrides).

Options:
  --url URL          base URL of the server
  --metrics-url URL  base URL serving /metrics when METRICS_PORT moved it
                     (default: the base URL)
  --k8s              show the Kubernetes objects too (or only, without --url)
  --env ENV          dev, staging or prod
  --context CTX      kube context (see above)
  --watch            repeat until interrupted (or --count rounds)
  --interval SECONDS between rounds with --watch (default 10)
  --count N          with --watch: stop after N rounds
  --timeout SECONDS  limit for each HTTP request (default 10)
  -h, --help         this help

Exit status: 0 healthy (/health and /ready 200, the rollout complete),
1 not healthy (the output says what), 2 bad usage or a missing tool.
Needs curl (HTTP) and kubectl (--k8s).
EOF
}

url=${INVENTORY_URL:-}
metrics_url=""
k8s=0
env_name=""
context=""
watch=0
interval=10
count=0
HTTP_TIMEOUT=10
while (($#)); do
  case "$1" in
    --url) need_value "$1" $# && url=$2 && shift ;;
    --metrics-url) need_value "$1" $# && metrics_url=$2 && shift ;;
    --k8s) k8s=1 ;;
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --context) need_value "$1" $# && context=$2 && shift ;;
    --watch) watch=1 ;;
    --interval) need_value "$1" $# && interval=$2 && shift ;;
    --count) need_value "$1" $# && count=$2 && shift ;;
    --timeout) need_value "$1" $# && HTTP_TIMEOUT=$2 && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

[[ -n $url || $k8s -eq 1 ]] || usage_error "give --url BASE_URL (or INVENTORY_URL), --k8s, or both"
[[ $interval =~ ^[1-9][0-9]*$ ]] || usage_error "--interval: '$interval' is not a number of seconds"
[[ $count =~ ^[0-9]+$ ]] || usage_error "--count: '$count' is not a number"
[[ $HTTP_TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout: '$HTTP_TIMEOUT' is not a number of seconds"
if [[ -n $url ]]; then
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url: '$url' is not an http(s) URL"
  url=${url%/}
  metrics_url=${metrics_url:-$url}
  metrics_url=${metrics_url%/}
  require_tool curl "install it with apt-get install curl"
fi
if [[ $k8s -eq 1 ]]; then
  validate_env "$env_name"
  require_tool kubectl "install kubectl (v1.27 or later)"
  k8s_setup "$env_name" "$context"
elif [[ -n $env_name ]]; then
  validate_env "$env_name"
fi

make_tmpdir
previous_requests=""
previous_time=""

# metric NAME [LABEL-REGEX]: the sum of the samples of NAME (whose labels
# match the regex) in the last scrape; empty when there is none.
metric() {
  awk -v name="$1" -v want="${2:-}" '
    /^#/ { next }
    {
      series = $1
      base = series; sub(/\{.*/, "", base)
      if (base != name) next
      if (want != "" && series !~ want) next
      sum += $2; found = 1
    }
    END { if (found) printf "%.15g\n", sum }
  ' "$TMPDIR_OPS/metrics"
}

# by_label NAME LABEL: "value count" pairs of NAME per LABEL, comma-separated.
by_label() {
  awk -v name="$1" -v label="$2" '
    /^#/ { next }
    index($1, name "{") == 1 {
      if (match($1, label "=\"[^\"]*\"")) {
        v = substr($1, RSTART + length(label) + 2, RLENGTH - length(label) - 3)
        total[v] += $2
      }
    }
    END { sep = ""; for (v in total) { printf "%s%s %.15g", sep, v, total[v]; sep = ", " } }
  ' "$TMPDIR_OPS/metrics"
}

# http_round: one look over HTTP; returns 1 when not healthy.
http_round() {
  local healthy=0 status body
  status=$(http_status "$url/health")
  if [[ $status == 200 ]]; then
    printf '%-12s %s\n' health "200 $(http_body | tr -d '\n' | head -c 100)"
  else
    healthy=1
    printf '%-12s %s\n' health "DOWN: $([[ $status == 000 ]] && http_error || echo "HTTP $status")"
    return "$healthy"
  fi
  status=$(http_status "$url/ready")
  body=$(http_body | tr -d '\n' | head -c 200)
  if [[ $status == 200 ]]; then
    printf '%-12s %s\n' ready "200 $body"
  else
    healthy=1
    printf '%-12s %s\n' ready "NOT READY: HTTP $status $body"
  fi

  status=$(http_status "$metrics_url/metrics")
  if [[ $status != 200 ]]; then
    printf '%-12s %s\n' metrics "UNAVAILABLE: HTTP $status $(http_error)"
    return 1
  fi
  cp "$TMPDIR_OPS/http-body" "$TMPDIR_OPS/metrics"
  local build requests now rate="" errors_5xx
  build=$(grep -m 1 '^inventory_build_info{' "$TMPDIR_OPS/metrics" | sed 's/^inventory_build_info{\(.*\)} .*/\1/' || true)
  printf '%-12s %s\n' build "${build:-unknown (no inventory_build_info)}"
  printf '%-12s total %s, active %s, low stock %s\n' items \
    "$(metric inventory_items_total)" "$(metric inventory_items_active)" "$(metric inventory_low_stock_items)"
  printf '%-12s http %s open; db pool active %s, idle %s, max %s\n' connections \
    "$(metric inventory_active_connections)" \
    "$(metric inventory_db_pool_connections 'state="active"')" \
    "$(metric inventory_db_pool_connections 'state="idle"')" \
    "$(metric inventory_db_pool_connections 'state="max"')"
  requests=$(metric inventory_requests_total)
  now=$(date +%s.%N)
  if [[ -n $previous_requests && -n $requests ]]; then
    rate=$(awk -v a="$previous_requests" -v b="$requests" -v t0="$previous_time" -v t1="$now" \
      'BEGIN { d = t1 - t0; if (d > 0) printf "%.1f", (b - a) / d }')
  fi
  previous_requests=$requests
  previous_time=$now
  errors_5xx=$(metric inventory_requests_total 'status="5[0-9][0-9]"')
  printf '%-12s total %s, 5xx %s%s\n' requests "${requests:-0}" "${errors_5xx:-0}" \
    "${rate:+, $rate/s since the last round}"
  printf '%-12s %s\n' errors "$(by_label inventory_errors_total type)"
  printf '%-12s %s\n' movements "$(by_label inventory_stock_movements_total kind)"
  return "$healthy"
}

# k8s_round: the Deployment, pods, rollout and HPA; returns 1 when the
# rollout is not complete or the cluster does not answer.
k8s_round() {
  local healthy=0
  echo "kubernetes   context ${K8S_CONTEXT:-(current)}, namespace $K8S_NAMESPACE"
  kube_read get deployment inventory -o wide || healthy=1
  kube_read get pods -l app.kubernetes.io/name=inventory -o wide || healthy=1
  kube_read rollout status deployment/inventory --watch=false || healthy=1
  kube_read get hpa inventory || true
  return "$healthy"
}

round() {
  local healthy=0
  printf '== inventory %s %s\n' "${env_name:+$env_name }${url:-}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  if [[ -n $url ]]; then
    http_round || healthy=1
  fi
  if [[ $k8s -eq 1 ]]; then
    k8s_round || healthy=1
  fi
  if [[ $healthy -eq 0 ]]; then
    echo "status       HEALTHY"
  else
    echo "status       UNHEALTHY"
  fi
  return "$healthy"
}

if [[ $watch -eq 0 ]]; then
  round
  exit
fi
rounds=0
while :; do
  result=0
  round || result=1
  rounds=$((rounds + 1))
  if ((count > 0 && rounds >= count)); then
    exit "$result"
  fi
  sleep "$interval"
done
