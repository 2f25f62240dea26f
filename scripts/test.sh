#!/usr/bin/env bash
# Every test layer: unit, integration on SQLite, the same on PostgreSQL, Playwright with
# JavaScript on and off. Ends with one line: `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target-$(printf %s "$PWD" | sha256sum | cut -c1-12)}"
export RUST_BACKTRACE=0
logs=$(mktemp -d /tmp/gatehouse-test.XXXXXX)

# A full disk fails builds and tests with errors far from the cause (a CI run here once
# failed most of a test layer on "No space left on device"). Below 15 GB free, the target
# directory's incremental caches go first (rebuilt as needed); below 5 GB after that,
# the run stops and says why.
free_gb() { df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print int($4 / 1048576) }'; }
mkdir -p "$CARGO_TARGET_DIR"
if [ "$(free_gb "$CARGO_TARGET_DIR")" -lt 15 ]; then
  printf '[test] %s GB free: removing incremental build caches under %s\n' "$(free_gb "$CARGO_TARGET_DIR")" "$CARGO_TARGET_DIR"
  rm -rf "$CARGO_TARGET_DIR"/debug/incremental "$CARGO_TARGET_DIR"/*/debug/incremental
fi
if [ "$(free_gb "$CARGO_TARGET_DIR")" -lt 5 ]; then
  printf '[test] only %s GB free on the disk of %s: free some space, then run again\n' "$(free_gb "$CARGO_TARGET_DIR")" "$CARGO_TARGET_DIR"
  echo "0 passed, 1 failed"; exit 1
fi
passed=0; failed=0; broken=()

log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

# Adds the counts of cargo test's "test result:" lines in $1 to the totals.
count_cargo() {
  local p f
  read -r p f < <(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } } END { print p + 0, f + 0 }' "$1")
  passed=$((passed + p)); failed=$((failed + f))
}

run_layer() { # name, log file, command... (a layer that hangs fails after 20 minutes)
  local name=$1 file=$2; shift 2
  log "$name"
  if ! timeout 1200 "$@" 2>&1 | tee "$file"; then broken+=("$name"); fi
}

# --- PostgreSQL: given, or started here (CI must have it) ---
ensure_postgres() {
  if [ -n "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
    local v; v=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
    if [ -n "$v" ]; then
      pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
      for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
      su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
      export GATEHOUSE_TEST_POSTGRES_URL="postgres://postgres:postgres@127.0.0.1:5432/postgres"
    fi
  fi
  [ -n "${GATEHOUSE_TEST_POSTGRES_URL:-}" ] && pg_isready -q -d "$GATEHOUSE_TEST_POSTGRES_URL"
}

# Lints, enforced: formatting, clippy with warnings as errors on every crate (the
# frontend for wasm32, where it runs; the server also as it ships), and no import cycle
# between a crate's modules.
# Each counts as one check.
lint() { # name, log file, command...
  local name=$1 file=$2; shift 2
  log "$name"
  if timeout 1200 "$@" > "$file" 2>&1; then passed=$((passed + 1)); else cat "$file"; failed=$((failed + 1)); broken+=("$name"); fi
}
lint "cargo fmt --check" "$logs/fmt.log" cargo fmt --all --check
# view! bodies, which rustfmt doesn't touch (leptosfmt, then cargo fmt, is the fixed point).
lint "leptosfmt --check (view! macros)" "$logs/leptosfmt.log" leptosfmt --check -q -c leptosfmt.toml app/src frontend/src
lint "module cycles" "$logs/cycles.log" python3 scripts/module-cycles.py
lint "clippy (server, app, migrations; all targets)" "$logs/clippy.log" cargo clippy -p server -p app -p migrations --features app/ssr --all-targets -- -D warnings
# Without the test builders, as the server ships: sea-orm entities may not leave the
# domain (app/src/lib.rs denies unnameable_types there).
lint "clippy (server as shipped: entities stay in the domain)" "$logs/clippy-shipped.log" cargo clippy -p server -p app -p migrations --features app/ssr -- -D warnings
# pub(crate) would let the app crate's adapters (api/, ui/, web/) receive rows the lint
# above can't see: a domain item is pub (records, handles) or pub(in crate::server).
lint "no pub(crate) in the domain" "$logs/crate-visibility.log" bash -c '! grep -rn "pub(crate)" app/src/server --include=*.rs'
lint "clippy (frontend, wasm32)" "$logs/clippy-wasm.log" cargo clippy -p frontend --target wasm32-unknown-unknown --all-targets -- -D warnings

run_layer "unit tests" "$logs/unit.log" cargo test -p app --features ssr -p server -p migrations --lib
count_cargo "$logs/unit.log"

run_layer "integration tests on SQLite" "$logs/it-sqlite.log" env -u GATEHOUSE_TEST_POSTGRES_URL cargo test -p server --test it
count_cargo "$logs/it-sqlite.log"

if ensure_postgres; then
  # Drop databases left by earlier runs, then run the same suite on PostgreSQL.
  psql "$GATEHOUSE_TEST_POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'gh_test_%'" 2>/dev/null \
    | while read -r d; do psql "$GATEHOUSE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1; done
  # --include-ignored: the tests that need PostgreSQL (several processes on one database)
  # are ignored, with their reason, on SQLite, and run here.
  run_layer "integration tests on PostgreSQL" "$logs/it-pg.log" cargo test -p server --test it -- --include-ignored
  count_cargo "$logs/it-pg.log"
elif [ "${CI:-}" = true ]; then
  log "PostgreSQL is required under CI and is not reachable"; broken+=("postgres"); failed=$((failed + 1))
else
  log "no PostgreSQL: skipping that layer (set GATEHOUSE_TEST_POSTGRES_URL)"
fi

# Known-vulnerable dependencies, against the RustSec snapshot in ../shared (offline).
advisories="$(cd .. && pwd)/shared/advisory-db"
if [ -d "$advisories/crates" ]; then
  run_layer "dependency advisories (RustSec snapshot)" "$logs/audit.log" cargo audit --db "$advisories" --no-fetch
  if grep -q "error: [0-9]* vulnerabilit" "$logs/audit.log" || ! grep -q "Scanning Cargo.lock" "$logs/audit.log"; then
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
else
  log "no advisory snapshot at $advisories: skipping the dependency audit"
fi

log "building the site for end-to-end tests"
if cargo leptos build > "$logs/leptos-build.log" 2>&1; then
  for project in js nojs; do
    export PLAYWRIGHT_JSON_OUTPUT_NAME="$logs/e2e-$project.json"
    run_layer "Playwright ($project)" "$logs/e2e-$project.log" bash -c "cd end2end && npx playwright test --project=$project"
    if [ -s "$PLAYWRIGHT_JSON_OUTPUT_NAME" ]; then
      read -r p f < <(node -e 'const s=require(process.argv[1]).stats; console.log(s.expected, s.unexpected + s.flaky)' "$PLAYWRIGHT_JSON_OUTPUT_NAME")
      passed=$((passed + p)); failed=$((failed + f))
    else
      failed=$((failed + 1))
    fi
  done
else
  tail -40 "$logs/leptos-build.log"; broken+=("cargo leptos build"); failed=$((failed + 1))
fi

if [ "${#broken[@]}" -gt 0 ]; then
  log "failing layers: ${broken[*]} (logs in $logs)"
  # Name the failed tests last, where a kept tail of the output still shows them.
  grep -h -E '^test .* \.\.\. FAILED$' "$logs"/unit.log "$logs"/it-*.log 2>/dev/null | sed 's/^/  /'
  for j in "$logs"/e2e-*.json; do [ -s "$j" ] && node scripts/e2e-failures.mjs "$j"; done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "${#broken[@]}" -eq 0 ]
