// Playwright drives Debian's Chromium (never a downloaded browser). Each project runs
// against a fresh server and database started by scripts/e2e-server.sh.
import { defineConfig } from '@playwright/test';

const port = process.env.GATEHOUSE_E2E_PORT || '3100';
const idpPort = process.env.GATEHOUSE_E2E_IDP_PORT || '3190';
const dnsPort = process.env.GATEHOUSE_E2E_DNS_PORT || '3194';
const dnsHttpPort = process.env.GATEHOUSE_E2E_DNS_HTTP_PORT || '3195';
// Browsers reach Gatehouse through nginx on `port`; Gatehouse itself listens on `inner`,
// and the product behind forward-auth (scripts/interop/product_app.py) on `productPort`.
const inner = process.env.GATEHOUSE_E2E_INNER_PORT || '3197';
const productPort = process.env.GATEHOUSE_E2E_PRODUCT_PORT || '3196';
// The webhook receiver (scripts/interop/webhook_receiver.py), on loopback: the server runs
// with private addresses allowed (scripts/e2e-server.sh).
const webhookPort = process.env.GATEHOUSE_E2E_WEBHOOK_PORT || '3198';
// OIDC providers shaped like Google, Microsoft and Slack (scripts/interop/oidc_provider.mjs);
// scripts/e2e-server.sh points the app at the same ports.
const oidc = [['google', 'google', 3191], ['office365', 'microsoft', 3192], ['slack', 'slack', 3193]];
// An Okta-shaped IdP for a workspace's own OpenID Connect connection (any connection's
// redirect URI under /oidc/ is registered).
const connectionIdpPort = process.env.GATEHOUSE_E2E_CONNECTION_IDP_PORT || '3189';

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['json', { outputFile: process.env.PLAYWRIGHT_JSON_OUTPUT_NAME || 'test-results/results.json' }]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    },
    trace: 'off',
  },
  projects: [
    { name: 'js', use: { javaScriptEnabled: true } },
    { name: 'nojs', use: { javaScriptEnabled: false } },
  ],
  webServer: [
    {
      command: `../scripts/e2e-server.sh ${port} ${inner}`,
      url: `http://127.0.0.1:${inner}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `../.venv/bin/python ../scripts/interop/product_app.py --port ${productPort}`,
      url: `http://127.0.0.1:${productPort}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `../.venv/bin/python ../scripts/interop/webhook_receiver.py --port ${webhookPort}`,
      url: `http://127.0.0.1:${webhookPort}/received`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      // A real nginx (Debian's) in front of both, with auth_request to /forward-auth.
      command: `../scripts/e2e-nginx.sh ${port} ${inner} ${productPort}`,
      url: `http://127.0.0.1:${port}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      // The SAML IdP (pysaml2), with a fresh key directory per run.
      command: `../.venv/bin/python ../scripts/interop/saml_idp.py --port ${idpPort} --state-dir $(mktemp -d /tmp/gatehouse-idp.XXXXXX)`,
      url: `http://127.0.0.1:${idpPort}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      // A DNS server whose TXT records the specs publish (domain verification); the app
      // asks it (scripts/e2e-server.sh sets GATEHOUSE_DNS_RESOLVER).
      command: `../.venv/bin/python ../scripts/interop/dns_server.py --dns-port ${dnsPort} --http-port ${dnsHttpPort}`,
      url: `http://127.0.0.1:${dnsHttpPort}/healthz`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    {
      command: `node ../scripts/interop/oidc_provider.mjs --port ${connectionIdpPort} --profile okta --client-id workspace-app `
        + `--client-secret workspace-secret --redirect-uri-prefix http://127.0.0.1:${port}/oidc/`,
      url: `http://127.0.0.1:${connectionIdpPort}/oauth2/default/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    },
    ...oidc.map(([key, profile, p]) => ({
      command: `node ../scripts/interop/oidc_provider.mjs --port ${p} --profile ${profile} --client-id gatehouse `
        + `--client-secret gatehouse-secret --redirect-uri http://127.0.0.1:${port}/auth/${key}/callback`,
      url: `http://127.0.0.1:${p}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: 'pipe',
      stderr: 'pipe',
    })),
  ],
});
