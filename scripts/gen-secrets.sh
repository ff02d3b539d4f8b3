#!/usr/bin/env bash
# Creates the secret files that compose.yaml reads, one value per file:
#
#   postgres_password, redis_password, admin_password, grafana_admin_password
#       random (64 hex characters); kept when the file already exists
#   database_url, redis_url
#       derived from the passwords above, rewritten on every run
#   alertmanager_pagerduty_routing_key, alertmanager_slack_webhook_url
#       placeholders (notifications fail until you put real values there);
#       kept when the file already exists
#
# Usage: scripts/gen-secrets.sh [DIR]
#   DIR defaults to $INVENTORY_SECRETS_DIR, else secrets/ at the repository
#   root (git-ignored). compose.yaml reads ${INVENTORY_SECRETS_DIR:-./secrets}.
#
# Safe to run again. To rotate a password, delete its file and run again; the
# PostgreSQL password is only applied when its volume is first initialised.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-${INVENTORY_SECRETS_DIR:-$root/secrets}}

umask 077
mkdir -p "$dir"
# Only the owner may open the directory. The files themselves are 0644: the
# containers read them as their own non-root users (postgres, redis, grafana,
# uid 10001 for the app), not as the owner of the files.
chmod 700 "$dir"

# 32 random bytes as hex: safe inside URLs and configuration files.
random_secret() {
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

# write NAME VALUE: replaces DIR/NAME atomically.
write() {
  local tmp
  tmp=$(mktemp "$dir/.$1.XXXXXX")
  printf '%s\n' "$2" >"$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$dir/$1"
}

# password NAME: prints the password in DIR/NAME, creating it first if absent.
password() {
  local file=$dir/$1
  if [[ ! -s $file ]]; then
    write "$1" "$(random_secret)"
    echo "created $file" >&2
  fi
  head -n 1 "$file"
}

postgres_password=$(password postgres_password)
redis_password=$(password redis_password)
password admin_password >/dev/null
password grafana_admin_password >/dev/null

placeholder() {
  [[ -s $dir/$1 ]] || write "$1" "$2"
}
placeholder alertmanager_pagerduty_routing_key replace-me
placeholder alertmanager_slack_webhook_url https://hooks.slack.invalid/replace-me

write database_url "postgres://inventory:${postgres_password}@postgres:5432/inventory"
write redis_url "redis://:${redis_password}@redis:6379/"
echo "secrets ready in $dir" >&2
