#!/usr/bin/env bash
# `make bench` (WASM): builds the browser bundle as `make run` ships it (cargo-leptos
# release: the wasm-release profile, wasm-bindgen, wasm-opt) and prints what a browser
# downloads for the first page, raw and gzip -9, next to the goals (issue 15: first page
# <= 250 KB gzip, the whole app <= 400 KB). Pages are server-rendered Leptos islands: one
# bundle holds every island, so the first page and the whole app download the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:?run through make bench}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo leptos build --release --frontend-only >"$log" 2>&1 || { cat "$log"; exit 1; }
pkg=target/site/pkg
size() { stat -c %s "$1"; }
gz() { gzip -9 -c "$1" | wc -c; }
printf '# Browser bundle (release, wasm-opt): bytes raw / gzip -9\n'
total_raw=0; total_gz=0
for f in gatehouse.wasm gatehouse.js gatehouse.css; do
  r=$(size "$pkg/$f"); g=$(gz "$pkg/$f")
  total_raw=$((total_raw + r)); total_gz=$((total_gz + g))
  printf '%-16s %9d / %8d\n' "$f" "$r" "$g"
done
printf '%-16s %9d / %8d\n' "first page" "$total_raw" "$total_gz"
wasm_gz=$(gz "$pkg/gatehouse.wasm")
printf 'WASM gzip %d KB: goal <= 250 KB for the first page, <= 400 KB for the whole app (%d%% of the first-page goal)\n' \
  "$((wasm_gz / 1000))" "$((wasm_gz * 100 / 250000))"
printf 'islands in the bundle: %s\n' "$(grep -o 'export function [A-Za-z]*_[0-9]*' "$pkg/gatehouse.d.ts" | sed 's/export function //; s/_[0-9]*$//' | sort | paste -sd' ')"
