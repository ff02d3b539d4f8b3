# shellcheck shell=bash
# Shared helpers for the ops scripts in scripts/. Source it, do not run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Conventions every script follows:
#   exit 0  done
#   exit 1  the work failed (a tool, the cluster, the database, S3...)
#   exit 2  the command line or the environment is not acceptable (unknown
#           option, missing value, prod without --yes); nothing was changed
#   exit 3  integrity failure (restore-db.sh: a backup whose sha256 does not
#           match); nothing was changed
# Messages go to stderr and start with the script's name; --help prints the
# usage on stdout. In --dry-run mode every command that would change
# something is printed on stdout, prefixed with "+ ", and not run.

INVENTORY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROG=$(basename "$0")
DRY_RUN=0
YES=0

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }

# die MESSAGE: the work failed (exit 1).
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

# die_with CODE MESSAGE
die_with() {
  local code=$1
  shift
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

# usage_error MESSAGE: one line, exit 2.
usage_error() {
  printf '%s: %s (see %s --help)\n' "$PROG" "$*" "$PROG" >&2
  exit 2
}

# need_value OPTION ARGC: an option that takes a value got one.
need_value() {
  [[ $2 -ge 2 ]] || usage_error "option $1 needs a value"
}

# require_tool NAME HOW-TO-INSTALL
require_tool() {
  command -v "$1" >/dev/null 2>&1 || die_with 2 "$1 not found: $2"
}

# validate_env VALUE: one of dev, staging, prod.
validate_env() {
  case "$1" in
    dev | staging | prod) ;;
    "") usage_error "--env is required (dev, staging or prod)" ;;
    *) usage_error "--env: '$1' is not one of dev, staging, prod" ;;
  esac
}

# confirm_changes ENV: prod changes need --yes (a dry run needs nothing).
confirm_changes() {
  if [[ $1 == prod && $DRY_RUN -eq 0 && $YES -eq 0 ]]; then
    die_with 2 "refusing to change prod without --yes (try --dry-run first)"
  fi
}

# quote_cmd ARGS...: the command as one shell-quoted line.
quote_cmd() {
  local out="" arg
  for arg in "$@"; do
    out+="${out:+ }$(printf '%q' "$arg")"
  done
  printf '%s' "$out"
}

# run ARGS...: runs the command; in dry-run mode prints it instead. The
# command is echoed to stderr before it runs, so a log shows what happened.
run() {
  if [[ $DRY_RUN -eq 1 ]]; then
    printf '+ %s\n' "$(quote_cmd "$@")"
    return 0
  fi
  printf '+ %s\n' "$(quote_cmd "$@")" >&2
  "$@"
}

# read_secret NAME: the value of $NAME, or of the file named by $NAME_FILE
# (trailing newlines dropped), as the inventory binary reads its secrets.
# Empty when neither is set; setting both is an error.
read_secret() {
  local name=$1 file_var="${1}_FILE"
  local value=${!name:-} file=${!file_var:-}
  if [[ -n $value && -n $file ]]; then
    die_with 2 "set either $name or $file_var, not both"
  fi
  if [[ -n $file ]]; then
    [[ -r $file ]] || die_with 2 "$file_var: cannot read $file"
    value=$(<"$file")
  fi
  printf '%s' "$value"
}

# seconds_since START_MS END_MS: the time between two `date +%s%3N`, in
# seconds with three decimals.
seconds_since() {
  local ms=$(($2 - $1))
  printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# make_tmpdir: a private temporary directory, removed when the script exits
# (unless KEEP_TMPDIR=1 by then). Sets TMPDIR_OPS.
KEEP_TMPDIR=0
TMPDIR_OPS=""
cleanup_tmpdir() {
  if [[ -n $TMPDIR_OPS && $KEEP_TMPDIR -eq 0 ]]; then
    rm -rf "$TMPDIR_OPS"
  fi
}
make_tmpdir() {
  TMPDIR_OPS=$(mktemp -d "${TMPDIR:-/tmp}/inventory-ops.XXXXXX")
  chmod 700 "$TMPDIR_OPS"
  trap cleanup_tmpdir EXIT
}

# inventory_bin: the `inventory` binary, from INVENTORY_BIN or PATH.
inventory_bin() {
  local bin=${INVENTORY_BIN:-}
  if [[ -n $bin ]]; then
    [[ -x $bin ]] || die_with 2 "INVENTORY_BIN: $bin is not an executable file"
    printf '%s' "$bin"
    return
  fi
  bin=$(command -v inventory 2>/dev/null) ||
    die_with 2 "the inventory binary is not on PATH: set INVENTORY_BIN=/path/to/inventory (cargo build --release -p inventory-server builds target/release/inventory)"
  printf '%s' "$bin"
}

# --- HTTP --------------------------------------------------------------------

# http_status URL [curl args...]: prints the HTTP status, 000 when nothing
# answered. The body is then in "$TMPDIR_OPS/http-body" and curl's own
# complaint, if any, in "$TMPDIR_OPS/http-error" (see http_error).
# Needs make_tmpdir first.
http_status() {
  local url=$1
  shift
  curl --silent --show-error --connect-timeout 5 --max-time "${HTTP_TIMEOUT:-15}" \
    --output "$TMPDIR_OPS/http-body" --write-out '%{http_code}' "$@" "$url" \
    2>"$TMPDIR_OPS/http-error" || true
}

http_body() { cat "$TMPDIR_OPS/http-body" 2>/dev/null || true; }

# http_error: curl's first complaint of the last request, e.g.
# "curl: (7) Failed to connect to 127.0.0.1 port 9: Connection refused".
http_error() { head -n 1 "$TMPDIR_OPS/http-error" 2>/dev/null || true; }

# wait_ready URL SECONDS: polls URL/ready until it answers 200.
wait_ready() {
  local base=${1%/} timeout=$2 deadline status
  deadline=$((SECONDS + timeout))
  while :; do
    status=$(http_status "$base/ready")
    if [[ $status == 200 ]]; then
      log "$base/ready answers 200"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      die "$base/ready did not answer 200 within ${timeout}s (last status: $status)"
    fi
    sleep 1
  done
}

# --- Kubernetes --------------------------------------------------------------

# k8s_setup ENV CONTEXT: picks the overlay and the kube context.
#   dev     deploy/k8s/overlays/dev, the current kube context unless given
#   staging deploy/k8s/overlays/prod (the production manifests) in its own
#           cluster: context inventory-staging unless given
#   prod    deploy/k8s/overlays/prod, context inventory-prod unless given
# Every environment uses namespace `inventory` (the manifests fix it); the
# kube context is what keeps staging and prod apart, so they never default to
# whatever context happens to be current.
K8S_NAMESPACE=inventory
K8S_OVERLAY=""
K8S_CONTEXT=""
k8s_setup() {
  local env=$1 context=$2
  case "$env" in
    dev) K8S_OVERLAY=$INVENTORY_ROOT/deploy/k8s/overlays/dev ;;
    staging | prod) K8S_OVERLAY=$INVENTORY_ROOT/deploy/k8s/overlays/prod ;;
  esac
  if [[ -n $context ]]; then
    K8S_CONTEXT=$context
  elif [[ $env != dev ]]; then
    K8S_CONTEXT=inventory-$env
  fi
  [[ -d $K8S_OVERLAY ]] || die "overlay $K8S_OVERLAY is missing"
}

# kube ARGS...: kubectl against the environment's context and namespace,
# through `run` (printed in dry-run mode).
kube() {
  local ctx=()
  [[ -n $K8S_CONTEXT ]] && ctx=(--context "$K8S_CONTEXT")
  run kubectl "${ctx[@]}" --namespace "$K8S_NAMESPACE" "$@"
}

# smoke_step LABEL URL ENV SKIP ON_FAILURE: the smoke test that ends a
# deploy or a rollback (skipped when SKIP is 1, printed in dry-run mode);
# dies with ON_FAILURE if it fails.
smoke_step() {
  local label=$1 url=$2 env_name=$3 skip=$4 on_failure=$5
  if [[ $skip -eq 1 ]]; then
    warn "$label smoke test skipped (--skip-smoke-test)"
    return 0
  fi
  log "$label smoke test"
  local smoke=("$INVENTORY_ROOT/scripts/smoke-test.sh" --url "$url" --env "$env_name")
  if [[ $DRY_RUN -eq 1 ]]; then
    printf '+ %s\n' "$(quote_cmd "${smoke[@]}")"
  elif ! "${smoke[@]}"; then
    die "$on_failure"
  fi
}

# finish_change DONE: the last line of a change: DONE, or in dry-run mode
# that nothing was changed.
finish_change() {
  if [[ $DRY_RUN -eq 1 ]]; then
    echo "dry run: nothing was changed"
  else
    log "$1"
  fi
}

# kube_read ARGS...: kubectl for reading; runs even in dry-run mode.
kube_read() {
  local ctx=()
  [[ -n $K8S_CONTEXT ]] && ctx=(--context "$K8S_CONTEXT")
  kubectl "${ctx[@]}" --namespace "$K8S_NAMESPACE" "$@"
}

# --- S3-compatible storage (curl --aws-sigv4, path-style URLs) ---------------

S3_ENDPOINT_URL=""
S3_BUCKET_NAME=""
S3_KEY_PREFIX=""
S3_REGION=""
S3_ACCESS_KEY=""
S3_SECRET_KEY=""
S3_SESSION_TOKEN=""
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

# s3_setup BUCKET PREFIX: settings from the arguments and the environment
# (S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID(_FILE),
# AWS_SECRET_ACCESS_KEY(_FILE), AWS_SESSION_TOKEN(_FILE)).
s3_setup() {
  S3_BUCKET_NAME=$1
  S3_KEY_PREFIX=${2%/}
  S3_REGION=${AWS_REGION:-us-east-1}
  S3_ENDPOINT_URL=${S3_ENDPOINT:-https://s3.$S3_REGION.amazonaws.com}
  S3_ENDPOINT_URL=${S3_ENDPOINT_URL%/}
  [[ -n $S3_BUCKET_NAME ]] || usage_error "--bucket (or S3_BUCKET) is required"
  [[ $S3_BUCKET_NAME =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] ||
    usage_error "bucket '$S3_BUCKET_NAME' is not a valid S3 bucket name"
  [[ $S3_KEY_PREFIX =~ ^[A-Za-z0-9._/-]*$ ]] ||
    usage_error "prefix '$S3_KEY_PREFIX' may hold only letters, digits and . _ / -"
  [[ $S3_ENDPOINT_URL =~ ^https?:// ]] || usage_error "S3_ENDPOINT '$S3_ENDPOINT_URL' is not an http(s) URL"
  [[ $S3_REGION =~ ^[a-z0-9-]+$ ]] || usage_error "AWS_REGION '$S3_REGION' is not a region name"
}

# s3_credentials: reads the credentials (not needed for a dry run).
s3_credentials() {
  S3_ACCESS_KEY=$(read_secret AWS_ACCESS_KEY_ID)
  S3_SECRET_KEY=$(read_secret AWS_SECRET_ACCESS_KEY)
  S3_SESSION_TOKEN=$(read_secret AWS_SESSION_TOKEN)
  [[ -n $S3_ACCESS_KEY ]] || die_with 2 "AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID_FILE) is not set"
  [[ -n $S3_SECRET_KEY ]] || die_with 2 "AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE) is not set"
}

# s3_key NAME...: PREFIX/NAME/... joined with slashes.
s3_key() {
  local IFS=/
  printf '%s' "${S3_KEY_PREFIX:+$S3_KEY_PREFIX/}$*"
}

s3_uri() { printf 's3://%s/%s' "$S3_BUCKET_NAME" "$1"; }

# Escapes a value for a double-quoted string in a curl config file.
curl_cfg_escape() {
  local v=${1//\\/\\\\}
  printf '%s' "${v//\"/\\\"}"
}

# s3_request METHOD KEY OUTFILE PAYLOAD_SHA256 [curl args...]: one signed
# request; prints the HTTP status. The credentials reach curl through a
# config on stdin, never on its command line.
s3_request() {
  local method=$1 key=$2 out=$3 payload=$4
  shift 4
  local cfg status
  cfg="user = \"$(curl_cfg_escape "$S3_ACCESS_KEY"):$(curl_cfg_escape "$S3_SECRET_KEY")\""
  if [[ -n $S3_SESSION_TOKEN ]]; then
    cfg+=$'\n'"header = \"x-amz-security-token: $(curl_cfg_escape "$S3_SESSION_TOKEN")\""
  fi
  if ! status=$(printf '%s\n' "$cfg" | curl --config - --silent --show-error \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --request "$method" \
    --header "x-amz-content-sha256: $payload" \
    --connect-timeout 10 --retry 3 --retry-delay 2 \
    --output "$out" --write-out '%{http_code}' "$@" \
    "$S3_ENDPOINT_URL/$S3_BUCKET_NAME${key:+/$key}"); then
    die "cannot reach S3 at $S3_ENDPOINT_URL ($method $(s3_uri "$key"))"
  fi
  printf '%s' "$status"
}

# s3_error FILE: the <Code> and <Message> of an S3 error body, on one line.
s3_error() {
  local code message
  code=$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$1" 2>/dev/null | head -n 1)
  message=$(sed -n 's:.*<Message>\([^<]*\)</Message>.*:\1:p' "$1" 2>/dev/null | head -n 1)
  printf '%s' "${code:-no S3 error code}${message:+: $message}"
}

# s3_put FILE KEY: uploads FILE as KEY; S3 checks the payload's sha256.
s3_put() {
  local file=$1 key=$2 sha status
  sha=$(sha256sum "$file" | cut -d' ' -f1)
  status=$(s3_request PUT "$key" "$TMPDIR_OPS/s3-response" "$sha" --upload-file "$file")
  [[ $status == 200 ]] ||
    die "upload of $(s3_uri "$key") failed: HTTP $status, $(s3_error "$TMPDIR_OPS/s3-response")"
}

# s3_get KEY FILE: downloads KEY into FILE.
s3_get() {
  local key=$1 file=$2 status
  status=$(s3_request GET "$key" "$file" "$EMPTY_SHA256")
  if [[ $status == 404 ]]; then
    die "$(s3_uri "$key") does not exist"
  fi
  [[ $status == 200 ]] ||
    die "download of $(s3_uri "$key") failed: HTTP $status, $(s3_error "$file")"
}

# s3_list PREFIX: every key under PREFIX, one a line, in S3's (lexical)
# order; follows continuation tokens.
s3_list() {
  local prefix=$1 token="" status page=0 body
  body=$TMPDIR_OPS/s3-list.xml
  while :; do
    local args=(--get)
    [[ -n $token ]] && args+=(--data-urlencode "continuation-token=$token")
    args+=(--data-urlencode "list-type=2" --data-urlencode "prefix=$prefix")
    status=$(s3_request GET "" "$body" "$EMPTY_SHA256" "${args[@]}")
    [[ $status == 200 ]] ||
      die "listing s3://$S3_BUCKET_NAME/$prefix failed: HTTP $status, $(s3_error "$body")"
    # One element per line, then the keys (S3 keys here never hold '<').
    sed 's:<Key>:\n<Key>:g' "$body" | sed -n 's:^<Key>\([^<]*\)</Key>.*:\1:p'
    if grep -q '<IsTruncated>true</IsTruncated>' "$body"; then
      token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$body")
      [[ -n $token ]] || die "S3 said the listing is truncated but gave no continuation token"
      page=$((page + 1))
      ((page < 10000)) || die "more than 10000 pages of backups under s3://$S3_BUCKET_NAME/$prefix"
    else
      break
    fi
  done
}
