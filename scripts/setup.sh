#!/usr/bin/env bash
# Installs what building, running and testing Gatehouse needs on a new Debian machine,
# skipping whatever is already there. Usage: scripts/setup.sh run|test
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs a newer rustc than the machine's 1.95
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: xmlsec/libxml2 and libclang for samael (SAML), plus test peers.
pkgs=(pkg-config libxml2-dev libxmlsec1-dev libxmlsec1-openssl libclang-dev xmlsec1 nodejs npm)
if [ "$mode" = test ]; then
  pkgs+=(postgresql chromium python3-venv nginx caddy)
fi
missing=()
for p in "${pkgs[@]}"; do
  if [ "$p" = nodejs ] || [ "$p" = npm ]; then command -v "${p/nodejs/node}" >/dev/null 2>&1 && continue; fi
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# A faster release profile for tools we only run (about half the build time).
fast_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    CARGO_TARGET_DIR="${TOOLS_TARGET_DIR:-$HOME/.cache/gatehouse/tools-target}" cargo install "$@"
}

if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
  log "building cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes on 2 cores, once)"
  fast_install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wbg_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  log "building wasm-bindgen-cli $wbg_version (about 13 minutes, once)"
  # Not --locked: its lock file wants a webpki-roots version the registry mirror lacks.
  fast_install wasm-bindgen-cli --version "$wbg_version"
fi

if [ "$mode" = test ] && [ "$(cargo audit --version 2>/dev/null | awk '{print $2}')" != 0.22.2 ]; then
  log "building cargo-audit 0.22.2 (about 8 minutes, once) for the offline advisory check"
  fast_install cargo-audit --version 0.22.2 --locked
fi

# The view! macros' format check (make lint, make test): rustfmt leaves macro bodies alone.
if [ "$mode" = test ] && [ "$(leptosfmt --version 2>/dev/null | awk '{print $2}')" != 0.1.33 ]; then
  log "building leptosfmt 0.1.33 (about a minute, once) for the view! format check"
  fast_install leptosfmt --version 0.1.33 --locked
fi

# tailwindcss, wasm-opt (binaryen) and Playwright from npm, pinned in package-lock.json.
if [ ! -x node_modules/.bin/tailwindcss ] || [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm tools"
  npm ci --no-audit --no-fund --loglevel=error
fi
if [ "$mode" = test ]; then
  if [ ! -x .venv/bin/python ] || [ scripts/requirements-test.txt -nt .venv/.installed ]; then
    log "installing Python test peers into .venv"
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    touch .venv/.installed
  fi
fi
log "ready"
