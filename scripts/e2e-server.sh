#!/usr/bin/env bash
# Starts a Gatehouse built by `cargo leptos build` on a fresh SQLite file, for Playwright.
# It listens on an inner port; browsers reach it through nginx on the public port
# (scripts/e2e-nginx.sh), which also serves the product behind forward-auth.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-3100}"
inner="${2:-3197}"
dir=$(mktemp -d /tmp/gatehouse-e2e.XXXXXX)
export GATEHOUSE_DATABASE_URL="sqlite://$dir/gatehouse.db?mode=rwc"
export GATEHOUSE_LISTEN="127.0.0.1:$inner"
export GATEHOUSE_PUBLIC_URL="http://127.0.0.1:$port"
export GATEHOUSE_TRUSTED_PROXIES="127.0.0.1/32"
# The product's URIs (scripts/interop/product_app.py behind nginx at /app/).
export GATEHOUSE_FORWARD_AUTH_RULES="/app/{workspace}/collections/{collection}/**; /app/{workspace}/**"
export GATEHOUSE_LOG="${GATEHOUSE_LOG:-warn}"
# The OIDC providers Playwright starts (end2end/playwright.config.mjs).
for pair in GOOGLE:3191 OFFICE365:3192 SLACK:3193; do
  name=${pair%%:*}; p=${pair##*:}
  export "GATEHOUSE_${name}_CLIENT_ID=gatehouse" "GATEHOUSE_${name}_CLIENT_SECRET=gatehouse-secret" "GATEHOUSE_${name}_ISSUER=http://127.0.0.1:$p"
done
# Webhook endpoints on loopback (the receiver Playwright starts); the refusal of private
# addresses is tested in the Rust suite. Retries after 1 s.
export GATEHOUSE_ALLOW_PRIVATE_METADATA_URLS=true GATEHOUSE_WEBHOOK_RETRY_SECS=1
# The DNS server Playwright starts for domain verification.
export GATEHOUSE_DNS_RESOLVER="127.0.0.1:${GATEHOUSE_E2E_DNS_PORT:-3194}"
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
# First run needs the one-time setup token; the foundation spec reads it from this file.
"${CARGO_TARGET_DIR:-target}/debug/gatehouse" setup-token > "/tmp/gatehouse-e2e-$port.setup-token"
exec "${CARGO_TARGET_DIR:-target}/debug/gatehouse" serve
