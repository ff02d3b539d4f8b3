#!/usr/bin/env bash
# Downloads a backup made by scripts/backup-db.sh from S3-compatible storage,
# verifies its sha256, and restores it into an empty database with
# `inventory restore`. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/restore-db.sh --env ENV (--latest | --key KEY) [--from-env ENV]
                             [--bucket BUCKET] [--prefix PREFIX] [--dry-run] [--yes]
       scripts/restore-db.sh --env ENV --list [--from-env ENV] [--bucket BUCKET]

Restores a backup into the database named by DATABASE_URL (or
DATABASE_URL_FILE), which must be empty or absent: stop the server first.
  1. pick the backup: --key KEY, or with --latest the newest backup under
     s3://BUCKET/PREFIX/FROM-ENV/ that has its .sha256 (one without it was
     cut short and is skipped)
  2. download it and its .sha256; the sha256 must match, or it stops with
     exit status 3 and restores nothing
  3. inventory restore --input FILE (a non-empty target is refused by
     inventory with exit status 2, and left as it was)
It prints how long the restore took.

A SQLite backup (.db) restores into sqlite:// only; an export (.jsonl, the
PostgreSQL backups) restores into either backend. To move a SQLite backup to
PostgreSQL, restore it to SQLite, then inventory export / inventory import.

Options:
  --env ENV          dev, staging or prod (required): the environment being
                     restored (prod needs --yes)
  --from-env ENV     whose backups to use (default: --env); e.g. the restore
                     drill restores prod's backup into staging
  --latest           the newest complete backup
  --key KEY          a backup's key, as backup-db.sh printed it
                     (s3://BUCKET/KEY or KEY)
  --list             list the backups (newest last) and stop
  --bucket BUCKET    bucket name (default: $S3_BUCKET)
  --prefix PREFIX    key prefix (default: $S3_PREFIX, else inventory)
  --dry-run          download and verify the backup, restore nothing
  --yes              confirm a restore into prod
  -h, --help         this help

Environment: DATABASE_URL or DATABASE_URL_FILE (the target), INVENTORY_BIN,
and S3_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID(_FILE),
AWS_SECRET_ACCESS_KEY(_FILE), AWS_SESSION_TOKEN(_FILE) as for
scripts/backup-db.sh.
Exit status: 0 restored (or verified, with --dry-run); 1 a download or the
restore failed; 2 bad usage or a target that is not empty; 3 the backup's
sha256 does not match (corrupt or tampered with), or it has none.
EOF
}

env_name=""
from_env=""
latest=0
key=""
list=0
bucket=${S3_BUCKET:-}
prefix=${S3_PREFIX:-inventory}
while (($#)); do
  case "$1" in
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --from-env) need_value "$1" $# && from_env=$2 && shift ;;
    --latest) latest=1 ;;
    --key) need_value "$1" $# && key=$2 && shift ;;
    --list) list=1 ;;
    --bucket) need_value "$1" $# && bucket=$2 && shift ;;
    --prefix) need_value "$1" $# && prefix=$2 && shift ;;
    --dry-run) DRY_RUN=1 ;;
    --yes) YES=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

validate_env "$env_name"
from_env=${from_env:-$env_name}
validate_env "$from_env"
s3_setup "$bucket" "$prefix"
if ((list + latest + (${#key} > 0 ? 1 : 0) != 1)); then
  usage_error "give exactly one of --latest, --key KEY, --list"
fi
if [[ -n $key ]]; then
  key=${key#"s3://$S3_BUCKET_NAME/"}
  [[ $key =~ ^[A-Za-z0-9._/-]+$ && $key != *.sha256 ]] ||
    usage_error "--key: '$key' is not the key of a backup"
fi
require_tool curl "install it with apt-get install curl (7.75 or later, for --aws-sigv4)"
require_tool sha256sum "install coreutils"
s3_credentials
make_tmpdir

folder=$(s3_key "$from_env")/
# Complete backups under the folder, oldest first: keys of backup-db.sh's
# form whose .sha256 is there too.
backups() {
  local all k
  local -A present=()
  s3_list "$folder" >"$TMPDIR_OPS/keys"
  mapfile -t all <"$TMPDIR_OPS/keys"
  for k in "${all[@]}"; do present[$k]=1; done
  for k in "${all[@]}"; do
    [[ ${k#"$folder"} =~ ^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.(db|jsonl)$ ]] || continue
    if [[ -n ${present[$k.sha256]:-} ]]; then
      printf '%s\n' "$k"
    else
      warn "skipping $(s3_uri "$k"): it has no .sha256 (the backup was cut short)"
    fi
  done | sort
}

if [[ $list -eq 1 ]]; then
  backups
  exit 0
fi

confirm_changes "$env_name"
if [[ $DRY_RUN -eq 0 ]]; then
  [[ -n $(read_secret DATABASE_URL) ]] ||
    die_with 2 "DATABASE_URL (or DATABASE_URL_FILE) is not set: name the database to restore into"
fi
bin=$(inventory_bin)

if [[ $latest -eq 1 ]]; then
  key=$(backups | tail -n 1)
  [[ -n $key ]] || die "no complete backup under $(s3_uri "$folder")"
  log "latest backup of $from_env: $(s3_uri "$key")"
fi

started=$(date +%s%3N)
name=${key##*/}
file=$TMPDIR_OPS/$name
log "1/3 download $(s3_uri "$key")"
s3_get "$key" "$file"
log "2/3 verify its sha256"
status=$(s3_request GET "$key.sha256" "$file.sha256" "$EMPTY_SHA256")
if [[ $status == 404 ]]; then
  die_with 3 "$(s3_uri "$key") has no .sha256 next to it: it cannot be verified, so it is not restored"
fi
[[ $status == 200 ]] ||
  die "download of $(s3_uri "$key.sha256") failed: HTTP $status, $(s3_error "$file.sha256")"
expected=$(head -c 64 "$file.sha256")
[[ $expected =~ ^[0-9a-f]{64}$ ]] ||
  die_with 3 "$(s3_uri "$key.sha256") does not hold a sha256; nothing was restored"
actual=$(sha256sum "$file" | cut -d' ' -f1)
if [[ $actual != "$expected" ]]; then
  die_with 3 "sha256 mismatch for $(s3_uri "$key"): expected $expected, got $actual; the backup is corrupt or was tampered with, and nothing was restored"
fi
log "sha256 $actual matches"

if [[ $name == *.db ]]; then
  target=$(read_secret DATABASE_URL)
  if [[ -n $target && $target != sqlite:* ]]; then
    die_with 2 "$name is a SQLite backup: it restores into a sqlite:// database only (then inventory export / inventory import moves it)"
  fi
fi

if [[ $DRY_RUN -eq 1 ]]; then
  printf '+ %s\n' "$(quote_cmd "$bin" restore --input "$file")"
  echo "dry run: $(s3_uri "$key") is intact (sha256 $actual); nothing was restored"
  exit 0
fi
log "3/3 inventory restore into the $env_name database"
restore_started=$(date +%s%3N)
code=0
"$bin" restore --input "$file" || code=$?
if ((code != 0)); then
  die_with "$code" "inventory restore failed (exit $code; 2: the target is not empty or not acceptable, and was left as it was)"
fi
finished=$(date +%s%3N)
log "restored $(s3_uri "$key") into $env_name: the restore took $(seconds_since "$restore_started" "$finished") s; download, check and restore $(seconds_since "$started" "$finished") s"
