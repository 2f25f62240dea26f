#!/usr/bin/env bash
# `make run`'s build: `cargo leptos build --release`, skipped when nothing it reads has
# changed since its last successful run (cargo alone would be quick, but cargo-leptos
# always runs wasm-bindgen and wasm-opt again: a minute or more on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?run through make}"
stamp="$CARGO_TARGET_DIR/release/.site-built"
site=target/site/pkg/gatehouse.wasm
inputs=(Cargo.toml Cargo.lock package-lock.json app frontend migrations public style server/Cargo.toml server/src)
bin="$CARGO_TARGET_DIR/release/gatehouse"
# Up to date: a stamp from a finished release build, the binary and the site it wrote,
# no input changed since, and no other build replaced either: the tests' debug build
# writes the site, and `make bench` writes a release binary with the test builders in it
# (benches turn on the `testing` feature), which must never be the one served.
if [ -f "$stamp" ] && [ -x "$bin" ] && ! [ "$bin" -nt "$stamp" ] && [ -f "$site" ] && ! [ "$site" -nt "$stamp" ] \
  && [ -z "$(find "${inputs[@]}" -newer "$stamp" -print -quit)" ]; then
  echo "[build] the release build is up to date (nothing changed since $(date -r "$stamp" '+%F %T')): not rebuilding"
  exit 0
fi
# The stamp takes the time the build started, so an edit made during it still counts.
mkdir -p "$CARGO_TARGET_DIR/release"
started=$(mktemp "$CARGO_TARGET_DIR/release/.site-building.XXXXXX")
trap 'rm -f "$started"' EXIT
cargo leptos build --release
touch -r "$started" "$stamp"
# The site and binary this build wrote are newer than the stamp (the start time): they get
# the stamp's time, so only a site or binary another build writes later counts as newer.
touch -r "$stamp" "$site" "$bin"
