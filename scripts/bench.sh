#!/usr/bin/env bash
# Benchmarks that print figures (release build). GATEHOUSE_BENCH_SECS sets each phase's length.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target-$(printf %s "$PWD" | sha256sum | cut -c1-12)}"
cargo bench -p server --bench foundation
cargo bench -p server --bench saml
cargo bench -p server --bench scim
cargo bench -p server --bench access
