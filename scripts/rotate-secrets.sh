#!/usr/bin/env bash
# Rotates the PostgreSQL password of the app's database role without a
# restart: new password, ALTER ROLE, new database URL into the secret the
# servers read (DATABASE_URL_FILE), then /ready. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/rotate-secrets.sh --env ENV --local --database-url-file PATH
                                 [--role NAME] [--admin-url-file PATH] [--new-password-file PATH]
                                 [--url BASE_URL] [--timeout SECS] [--dry-run] [--yes]
       scripts/rotate-secrets.sh --env staging|prod [--context CTX]
                                 [--secret NAME] [--role NAME] [--admin-url-file PATH]
                                 [--url BASE_URL] [--timeout SECS] [--dry-run] [--yes]

Rotates the password in the database URL the servers read from
DATABASE_URL_FILE. The servers re-read that file when it changes, so the
new password takes effect without a restart:
  1. read the current URL (postgres://ROLE:PASSWORD@HOST:PORT/DB?...)
  2. generate a new password (32 random bytes as 64 hex characters), or
     take the one given with --new-password-file
  3. stage the new URL (local: a temporary file next to PATH, same mode;
     Kubernetes: a private temporary directory)
  4. ALTER ROLE "ROLE" PASSWORD '<SCRAM-SHA-256 verifier>' with psql, as
     ROLE itself with the current URL (a role may change its own password)
     or with --admin-url-file; the plain password never reaches the server's
     logs. Connections already open stay open.
  5. connect with the new URL (SELECT current_user) to prove it works
  6. publish the new URL:
       local:      rename the staged file over PATH (atomic: a reader sees
                   the old URL or the new one, never half of one)
       Kubernetes: kubectl create secret generic NAME --from-file=... for
                   every key of the Secret (the others unchanged)
                   --dry-run=client -o yaml | kubectl apply -f -
                   (the kubelet refreshes the mounted files within about a
                   minute)
  7. with --url, wait until BASE_URL/ready answers 200 (--timeout, default
     60 s local, 180 s Kubernetes)
If step 4 fails nothing changed. If step 5 or 6 fails after the password
changed, the new URL is kept (the message names the file) so it can be
published by hand.

Modes:
  --local                  the secret is the file --database-url-file PATH
                           (a single server, compose, a test); any --env
  (default) Kubernetes     the key database-url of Secret NAME (default
                           inventory-secrets) in namespace inventory; staging
                           and prod only (the dev overlay generates its
                           Secret from literals in deploy/k8s/overlays/dev)

Options:
  --env ENV                dev, staging or prod (required); prod needs --yes
  --local                  local mode (above)
  --database-url-file PATH local mode: the file holding the URL
  --role NAME              the role to rotate: must be the URL's user (a
                           guard against rotating the wrong secret)
  --admin-url-file PATH    a file with the URL of a role allowed to ALTER
                           ROLE (default: the current URL, as the role itself)
  --new-password-file PATH use the password in PATH (first line; 12 to 1024
                           printable ASCII characters) instead of a random one
  --new-password VALUE     the same from the command line, where other local
                           users can see it (ps): for tests and drills only
  --context CTX            kube context (default inventory-staging /
                           inventory-prod)
  --secret NAME            Kubernetes Secret (default inventory-secrets)
  --url BASE_URL           the service, to wait for /ready afterwards
  --timeout SECS           how long to wait for /ready
  --dry-run                print the steps and commands, change nothing
                           (Kubernetes: the Secret is read, not written)
  --yes                    confirm a change to prod
  -h, --help               this help

Needs psql (apt-get install postgresql-client), python3 (for the SCRAM
verifier), curl with --url, kubectl in Kubernetes mode.
Exit status: 0 rotated; 1 a step failed (the message says whether the
password changed); 2 bad usage.
EOF
}

env_name=""
local_mode=0
url_file=""
role=""
admin_url_file=""
context=""
secret_name=inventory-secrets
ready_url=""
timeout=""
new_password_file=""
new_password_arg=""
while (($#)); do
  case "$1" in
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --local) local_mode=1 ;;
    --database-url-file) need_value "$1" $# && url_file=$2 && shift ;;
    --role) need_value "$1" $# && role=$2 && shift ;;
    --admin-url-file) need_value "$1" $# && admin_url_file=$2 && shift ;;
    --new-password-file) need_value "$1" $# && new_password_file=$2 && shift ;;
    --new-password) need_value "$1" $# && new_password_arg=$2 && shift ;;
    --context) need_value "$1" $# && context=$2 && shift ;;
    --secret) need_value "$1" $# && secret_name=$2 && shift ;;
    --url) need_value "$1" $# && ready_url=$2 && shift ;;
    --timeout) need_value "$1" $# && timeout=$2 && shift ;;
    --dry-run) DRY_RUN=1 ;;
    --yes) YES=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

validate_env "$env_name"
if [[ $local_mode -eq 1 ]]; then
  [[ -n $url_file ]] || usage_error "--local needs --database-url-file PATH"
  [[ -f $url_file && -r $url_file ]] || usage_error "--database-url-file: cannot read $url_file"
  timeout=${timeout:-60}
else
  [[ -z $url_file ]] || usage_error "--database-url-file is for --local mode"
  [[ $env_name != dev ]] ||
    usage_error "the dev overlay generates inventory-secrets from literals (deploy/k8s/overlays/dev): rotate with --local, or edit the overlay"
  [[ $secret_name =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || usage_error "--secret: '$secret_name' is not a Secret name"
  timeout=${timeout:-180}
fi
[[ $timeout =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout: '$timeout' is not a number of seconds"
[[ -z $admin_url_file || -r $admin_url_file ]] || usage_error "--admin-url-file: cannot read $admin_url_file"
[[ -z $new_password_file || -z $new_password_arg ]] || usage_error "give --new-password-file or --new-password, not both"
[[ -z $new_password_file || -r $new_password_file ]] || usage_error "--new-password-file: cannot read $new_password_file"
if [[ -n $ready_url ]]; then
  [[ $ready_url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url: '$ready_url' is not an http(s) URL"
  require_tool curl "install it with apt-get install curl"
fi
confirm_changes "$env_name"
if [[ $DRY_RUN -eq 0 ]]; then
  require_tool psql "install it with apt-get install postgresql-client"
  require_tool python3 "install it with apt-get install python3"
fi
make_tmpdir

# --- PostgreSQL URLs -----------------------------------------------------------

# pct_encode TEXT: TEXT for the userinfo of a URL (RFC 3986 unreserved
# characters kept, every other byte as %XX).
pct_encode() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# pct_decode TEXT: %XX sequences decoded (a backslash stays a backslash).
pct_decode() {
  local s=${1//\\/\\\\}
  printf '%b' "${s//%/\\x}"
}

# parse_url URL: sets URL_SCHEME URL_USER_RAW URL_USER URL_PASSWORD URL_REST
# (host, port, database and parameters), or fails.
parse_url() {
  [[ $1 =~ ^(postgres|postgresql)://([^:@/]+)(:(.*))?@([^@]+)$ ]] ||
    die_with 2 "the database URL is not postgres://ROLE:PASSWORD@HOST/DB (only PostgreSQL passwords are rotated)"
  URL_SCHEME=${BASH_REMATCH[1]}
  URL_USER_RAW=${BASH_REMATCH[2]}
  URL_PASSWORD=$(pct_decode "${BASH_REMATCH[4]}")
  URL_REST=${BASH_REMATCH[5]}
  URL_USER=$(pct_decode "$URL_USER_RAW")
}

# psql_as URL SQL: runs SQL (fed on stdin) over URL; the password reaches
# psql through PGPASSWORD, not its command line. Prints the result rows.
psql_as() {
  local URL_SCHEME URL_USER_RAW URL_USER URL_PASSWORD URL_REST
  parse_url "$1"
  PGPASSWORD=$URL_PASSWORD PGCONNECT_TIMEOUT=10 \
    psql "$URL_SCHEME://$URL_USER_RAW@$URL_REST" -X -q -A -t -v ON_ERROR_STOP=1 <<<"$2"
}

# scram_verifier: reads a password on stdin, prints its SCRAM-SHA-256
# verifier (RFC 5803, as PostgreSQL stores it: 4096 iterations, 16-byte salt).
scram_verifier() {
  # shellcheck disable=SC2016 # Python code, not shell: nothing to expand
  python3 -c '
import base64, hashlib, hmac, os, sys
password = sys.stdin.readline().rstrip("\n").encode()
salt, iterations = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
stored_key = hashlib.sha256(client_key).digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}")
'
}

# --- 1. the current URL ----------------------------------------------------------

secret_dir=$TMPDIR_OPS/secret
mkdir -m 700 "$secret_dir"
if [[ $local_mode -eq 1 ]]; then
  where=$url_file
  current=$(head -n 1 "$url_file" | tr -d '\r')
else
  require_tool kubectl "install kubectl (v1.27 or later)"
  k8s_setup "$env_name" "$context"
  where="Secret $secret_name (context $K8S_CONTEXT, namespace $K8S_NAMESPACE)"
  # shellcheck disable=SC2016 # a Go template, not shell: nothing to expand
  kube_read get secret "$secret_name" \
    -o go-template='{{range $k, $v := .data}}{{$k}} {{$v}}{{"\n"}}{{end}}' >"$TMPDIR_OPS/secret.txt" ||
    die "cannot read $where"
  while read -r k v; do
    [[ $k =~ ^[A-Za-z0-9._-]+$ ]] || die "$where has a key that is not a file name: '$k'"
    base64 -d <<<"$v" >"$secret_dir/$k" || die "$where: the value of $k is not base64"
  done <"$TMPDIR_OPS/secret.txt"
  [[ -f $secret_dir/database-url ]] || die "$where has no key database-url"
  current=$(head -n 1 "$secret_dir/database-url" | tr -d '\r')
fi
parse_url "$current"
[[ -z $role || $role == "$URL_USER" ]] ||
  die_with 2 "--role $role: the URL in $where is for role '$URL_USER'; nothing was changed"
role=$URL_USER
log "1/7 current URL read from $where (role $role)"

# --- 2. a new password, 3. staged ------------------------------------------------

if [[ -n $new_password_file || -n $new_password_arg ]]; then
  if [[ -n $new_password_file ]]; then
    new_password=$(head -n 1 "$new_password_file" | tr -d '\r')
  else
    warn "--new-password puts the password where other local users can see it (ps); prefer --new-password-file"
    new_password=$new_password_arg
  fi
  # Printable ASCII only: PostgreSQL normalises other characters (SASLprep)
  # before hashing, which the verifier computed here does not.
  if ! (LC_ALL=C && [[ $new_password =~ ^[[:print:]]{12,1024}$ ]]); then
    die_with 2 "the new password must be 12 to 1024 printable ASCII characters"
  fi
  [[ $new_password != "$URL_PASSWORD" ]] || die_with 2 "the new password is the current one"
  log "2/7 new password given"
else
  new_password=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
  [[ ${#new_password} -eq 64 ]] || die "could not read 32 random bytes from /dev/urandom"
  log "2/7 new password generated"
fi
new_url="$URL_SCHEME://$URL_USER_RAW:$(pct_encode "$new_password")@$URL_REST"

if [[ $DRY_RUN -eq 1 ]]; then
  echo "dry run: the password of role $role ($env_name) would be rotated; steps:"
  alter_as="the current URL"
  [[ -z $admin_url_file ]] || alter_as="the URL in $admin_url_file"
  printf '+ psql <%s> <<< %s\n' "$alter_as" \
    "ALTER ROLE \"$role\" PASSWORD 'SCRAM-SHA-256\$4096:<salt>\$<stored key>:<server key>'"
  echo "+ psql <the new URL> <<< 'SELECT current_user'"
  if [[ $local_mode -eq 1 ]]; then
    echo "+ mv -f $(dirname "$url_file")/.$(basename "$url_file").<random> $url_file"
  else
    files=""
    for f in "$secret_dir"/*; do files+=" --from-file=${f##*/}=<tmp>/${f##*/}"; done
    echo "+ kubectl --namespace $K8S_NAMESPACE create secret generic $secret_name$files --dry-run=client -o yaml | kubectl --context $K8S_CONTEXT --namespace $K8S_NAMESPACE apply -f -"
  fi
  [[ -z $ready_url ]] || echo "+ wait up to ${timeout}s for ${ready_url%/}/ready to answer 200"
  echo "dry run: nothing was changed"
  exit 0
fi

if [[ $local_mode -eq 1 ]]; then
  staged=$(mktemp "$(dirname "$url_file")/.$(basename "$url_file").XXXXXX")
  # Same mode (and owner, as root) as the file it replaces.
  chmod --reference="$url_file" "$staged"
  if [[ $(id -u) -eq 0 ]]; then chown --reference="$url_file" "$staged"; fi
  printf '%s\n' "$new_url" >"$staged"
else
  staged=$secret_dir/database-url
  printf '%s' "$new_url" >"$staged.new"
fi
log "3/7 new URL staged"

# --- 4. ALTER ROLE ---------------------------------------------------------------

verifier=$(scram_verifier <<<"$new_password")
[[ $verifier =~ ^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$ ]] ||
  die "could not compute the SCRAM verifier (python3)"
admin_url=$current
[[ -z $admin_url_file ]] || admin_url=$(head -n 1 "$admin_url_file" | tr -d '\r')
if ! psql_as "$admin_url" "ALTER ROLE \"${role//\"/\"\"}\" PASSWORD '$verifier';" >/dev/null; then
  rm -f "$staged" "$staged.new"
  die "ALTER ROLE failed; the password was NOT changed and $where is as it was"
fi
log "4/7 ALTER ROLE $role: the new password is in force (open connections stay open)"

# From here the old password no longer opens connections: keep the new URL
# whatever happens, and say where it is.
keep_new_url() {
  if [[ $local_mode -eq 1 ]]; then
    die "$1; the password WAS changed: the new URL is in $staged, put it into $url_file (mv -f $staged $url_file)"
  fi
  KEEP_TMPDIR=1
  die "$1; the password WAS changed: the new URL is in $staged.new, put it into $where under key database-url"
}

# --- 5. the new URL works --------------------------------------------------------

if ! who=$(psql_as "$new_url" "SELECT current_user;"); then
  keep_new_url "the new URL does not connect"
fi
[[ $who == "$role" ]] || keep_new_url "the new URL connects as '$who', not '$role'"
log "5/7 the new URL connects as $role"

# --- 6. publish ------------------------------------------------------------------

if [[ $local_mode -eq 1 ]]; then
  mv -f "$staged" "$url_file" || keep_new_url "cannot replace $url_file"
  log "6/7 $url_file replaced"
else
  mv -f "$staged.new" "$staged"
  KEEP_TMPDIR=1 # until the Secret is written
  files=()
  for f in "$secret_dir"/*; do files+=("--from-file=${f##*/}=$f"); done
  printf '+ %s | %s\n' \
    "$(quote_cmd kubectl --namespace "$K8S_NAMESPACE" create secret generic "$secret_name" "${files[@]}" --dry-run=client -o yaml)" \
    "$(quote_cmd kubectl --context "$K8S_CONTEXT" --namespace "$K8S_NAMESPACE" apply -f -)" >&2
  if ! kubectl --namespace "$K8S_NAMESPACE" create secret generic "$secret_name" "${files[@]}" \
    --dry-run=client -o yaml | kube_read apply -f - >&2; then
    die "kubectl apply of Secret $secret_name failed; the password WAS changed: the new URL is in $staged, put it into $where under key database-url"
  fi
  KEEP_TMPDIR=0
  log "6/7 Secret $secret_name updated; the kubelet refreshes the mounted files within about a minute"
fi

# --- 7. the service is ready -----------------------------------------------------

if [[ -n $ready_url ]]; then
  log "7/7 waiting up to ${timeout}s for ${ready_url%/}/ready"
  wait_ready "$ready_url" "$timeout"
else
  log "7/7 no --url given: not waiting for /ready"
fi
log "rotated the password of role $role ($env_name)"
