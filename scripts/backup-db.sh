#!/usr/bin/env bash
# Takes a consistent online backup of the database with `inventory backup`
# and uploads it, with its sha256, to S3-compatible storage. See --help.
set -euo pipefail

# shellcheck source=lib/common.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
  cat <<'EOF'
Usage: scripts/backup-db.sh --env ENV [--bucket BUCKET] [--prefix PREFIX]
                            [--keep-local DIR] [--dry-run]

Backs up the database the server uses, while it keeps serving:
  1. inventory backup --output FILE   (SQLite: a consistent copy of the
     database file; PostgreSQL: an export from one snapshot)
  2. upload FILE to   s3://BUCKET/PREFIX/ENV/<UTC time>.<db|jsonl>
     e.g.             s3://backups/inventory/prod/20250131T090000.123Z.db
  3. upload its sha256 (sha256sum format) next to it, as <same key>.sha256
The checksum goes last: a backup without one was cut short, and
scripts/restore-db.sh --latest skips it. The object's s3:// URI is printed on
standard output.

Options:
  --env ENV         dev, staging or prod (required): the folder in the bucket
  --bucket BUCKET   bucket name (default: $S3_BUCKET)
  --prefix PREFIX   key prefix (default: $S3_PREFIX, else inventory)
  --keep-local DIR  also keep the backup and its .sha256 in DIR
  --dry-run         print what would be done, back up and upload nothing
  -h, --help        this help

Environment:
  DATABASE_URL or DATABASE_URL_FILE   the database, exactly as for the server
  INVENTORY_BIN                       the inventory binary (default: on PATH)
  S3_ENDPOINT        S3-compatible endpoint, path-style
                     (default: https://s3.$AWS_REGION.amazonaws.com)
  AWS_REGION         signing region (default: us-east-1)
  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional),
  each also as NAME_FILE; they reach curl through a config on its standard
  input, never its command line.

Requests are signed with curl --aws-sigv4 (curl 7.75 or later); no other S3
client is needed. One upload holds up to 5 GiB (a single S3 PUT).
Exit status: 0 uploaded; 1 the backup or an upload failed; 2 bad usage.
EOF
}

env_name=""
bucket=${S3_BUCKET:-}
prefix=${S3_PREFIX:-inventory}
keep_local=""
while (($#)); do
  case "$1" in
    --env) need_value "$1" $# && env_name=$2 && shift ;;
    --bucket) need_value "$1" $# && bucket=$2 && shift ;;
    --prefix) need_value "$1" $# && prefix=$2 && shift ;;
    --keep-local) need_value "$1" $# && keep_local=$2 && shift ;;
    --dry-run) DRY_RUN=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option: $1" ;;
  esac
  shift
done

validate_env "$env_name"
s3_setup "$bucket" "$prefix"
require_tool curl "install it with apt-get install curl (7.75 or later, for --aws-sigv4)"
require_tool sha256sum "install coreutils"
database_url=$(read_secret DATABASE_URL)
[[ -n $database_url ]] || die_with 2 "DATABASE_URL (or DATABASE_URL_FILE) is not set: name the database to back up"
case "$database_url" in
  sqlite:*) ext=db backend=SQLite ;;
  postgres:* | postgresql:*) ext=jsonl backend=PostgreSQL ;;
  *) die_with 2 "DATABASE_URL: the scheme is not sqlite:// or postgres://" ;;
esac
unset database_url
bin=$(inventory_bin)
[[ -z $keep_local || -d $keep_local ]] || die_with 2 "--keep-local: $keep_local is not a directory"

name="$(date -u +%Y%m%dT%H%M%S.%3NZ).$ext"
key=$(s3_key "$env_name" "$name")
if [[ $DRY_RUN -eq 1 ]]; then
  echo "dry run: would back up the $backend database of $env_name to $(s3_uri "$key"); commands:"
  printf '+ %s\n' "$(quote_cmd "$bin" backup --output "<tmp>/$name")"
  echo "+ sha256sum $name > $name.sha256"
  echo "+ PUT $S3_ENDPOINT_URL/$S3_BUCKET_NAME/$key"
  echo "+ PUT $S3_ENDPOINT_URL/$S3_BUCKET_NAME/$key.sha256"
  echo "dry run: nothing was backed up or uploaded"
  exit 0
fi
s3_credentials
make_tmpdir

started=$SECONDS
log "1/3 inventory backup ($backend, $env_name)"
"$bin" backup --output "$TMPDIR_OPS/$name" ||
  die "inventory backup failed (exit $?); nothing was uploaded"
size=$(stat -c %s "$TMPDIR_OPS/$name")
((size <= 5 * 1024 * 1024 * 1024)) ||
  die "the backup is $size bytes, over the 5 GiB a single S3 upload takes"
(cd "$TMPDIR_OPS" && sha256sum "$name" >"$name.sha256")

log "2/3 upload $(s3_uri "$key") ($size bytes)"
s3_put "$TMPDIR_OPS/$name" "$key"
log "3/3 upload $(s3_uri "$key.sha256")"
s3_put "$TMPDIR_OPS/$name.sha256" "$key.sha256"

if [[ -n $keep_local ]]; then
  cp "$TMPDIR_OPS/$name" "$TMPDIR_OPS/$name.sha256" "$keep_local/"
  log "kept a copy in $keep_local/$name"
fi
log "backed up $env_name in $((SECONDS - started)) s: sha256 $(cut -d' ' -f1 "$TMPDIR_OPS/$name.sha256")"
s3_uri "$key"
echo
