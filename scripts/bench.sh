#!/usr/bin/env bash
# Benchmarks that print figures (release build). GATEHOUSE_BENCH_SECS sets each phase's length.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target-$(printf %s "$PWD" | sha256sum | cut -c1-12)}"
# The SCIM benchmark's second half and the soak need PostgreSQL: the one given in
# GATEHOUSE_BENCH_POSTGRES_URL / GATEHOUSE_SOAK_POSTGRES_URL, or the local cluster started
# here (as scripts/test.sh does).
if [ -z "${GATEHOUSE_SOAK_POSTGRES_URL:-}${GATEHOUSE_BENCH_POSTGRES_URL:-}" ] && command -v pg_ctlcluster >/dev/null && [ "$(id -u)" = 0 ]; then
  v=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  if [ -n "$v" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$v" main start >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
  fi
fi
scripts/wasm-size.sh
cargo bench -p server --bench foundation
cargo bench -p server --bench saml
cargo bench -p server --bench scim
cargo bench -p server --bench entra
cargo bench -p server --bench access
cargo bench -p server --bench soak
