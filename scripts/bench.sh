#!/usr/bin/env bash
# Benchmarks that print figures (release build). GATEHOUSE_BENCH_SECS sets each phase's length.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target}"
cargo bench -p server --bench foundation
