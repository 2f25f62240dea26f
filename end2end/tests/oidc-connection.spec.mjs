// A workspace's own OpenID Connect connection, in a real browser through oidc-provider shaped
// like Okta (started by the Playwright config): an admin adds it on Member Authorization, gives
// it the workspace's domain, runs Test sign-in (every check listed, nobody signed in), switches
// it on; a new member signs in through the IdP's form and is created in the claimed domain; the
// admin deletes the connection and its switch goes. JS on and off.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, hydrated, signInAsAdmin } from './support.mjs';

const issuer = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_CONNECTION_IDP_PORT || '3189'}/oauth2/default`;

failOnPageProblems(test);

async function idpLogin(page, login) {
  await expect(page).toHaveURL(/127\.0\.0\.1:\d+\/interaction\//);
  await page.getByLabel('Email').fill(login);
  await page.getByRole('button', { name: 'Sign-in' }).click();
}

test('add an OpenID Connect connection, test it, sign a new member in, delete it', async ({ page, browser }, info) => {
  const tag = info.project.name;
  const [name, who] = [`Okta ${tag}`, `zoe.${tag}@acme.test`];
  await signInAsAdmin(page);
  await page.goto('/w/acme/settings/authentication');
  await page.getByRole('link', { name: '+ Add OpenID Connect connection' }).click();
  await expect(page.getByRole('heading', { name: 'Add OpenID Connect connection' })).toBeVisible();
  await page.locator('input[name=name]').fill(name);
  await page.getByLabel('Issuer (or its discovery URL)').fill(`${issuer}/.well-known/openid-configuration`);
  await page.getByLabel('Client ID').fill('workspace-app');
  await page.getByLabel('Client secret').fill('workspace-secret');
  await page.getByRole('button', { name: 'Add connection' }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.getByRole('status').filter({ hasText: 'Connection added.' })).toBeVisible();
  const connectionPage = page.url().split('?')[0];
  expect(connectionPage).toMatch(/\/settings\/authentication\/oidc\/[0-9a-f]+$/);
  const redirect = await page.getByTestId('redirect-uri').inputValue();
  expect(redirect).toBe(`${new URL(page.url()).origin}/oidc/${connectionPage.split('/').pop()}/callback`);
  if (tag === 'js') {
    // The copy button is an island: hydrated, it answers a click.
    await hydrated(page);
    const copy = page.getByRole('button', { name: /^Copy Redirect URI/ });
    await copy.click();
    await expect(copy).toHaveText('Copied');
  }
  // The secret is never sent back; the issuer is stored without the discovery path.
  await page.goto(connectionPage);
  await expect(page.getByLabel(/Client secret/)).toHaveValue('');
  await expect(page.getByLabel('Issuer (or its discovery URL)')).toHaveValue(issuer);

  // Other providers exist (the SAML stories): it asserts no domain until given one.
  const domains = page.getByTestId('asserted-domains');
  await domains.getByLabel('Domains this provider may assert').fill('acme.test');
  await domains.getByRole('button', { name: 'Save domains' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Domains saved.' })).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`${connectionPage}`));

  // Test sign-in, while it is off: every check, and what a real sign-in would do.
  await page.goto(connectionPage);
  await page.getByRole('link', { name: 'Test sign-in' }).click();
  await idpLogin(page, who);
  await expect(page).toHaveURL(/\?test=\d+$/);
  const result = page.getByTestId('test-result');
  await expect(result).toHaveAttribute('data-accepted', 'true');
  for (const check of ['token', 'signature', 'audience', 'nonce', 'email_verified']) await expect(result).toContainText(check);
  await expect(result).toContainText(`${who} is in a claimed domain: a real sign-in would create this member`);

  // Switched on, a new member signs in through it.
  await page.goto('/w/acme/settings/authentication');
  await page.getByRole('switch', { name }).click();
  await expect(page.getByRole('switch', { name })).toHaveAttribute('aria-checked', 'true');
  await expect(page.locator(`li[data-method^="oidc:"]`).filter({ hasText: name })).toContainText('OpenID Connect');
  const ctx = await browser.newContext({ javaScriptEnabled: tag === 'js' });
  const member = await ctx.newPage();
  await member.goto('/w/acme/login');
  await member.getByRole('link', { name: `Sign in with ${name}` }).click();
  await idpLogin(member, who);
  await expect(member).toHaveURL(/\/w\/acme$/);
  await expect(member.getByTestId('me')).toContainText(who);
  await ctx.close();

  // Deleted: its switch goes, and the member stays.
  await page.goto(connectionPage);
  await page.getByText('Delete this provider…').click();
  await page.getByRole('button', { name: 'Delete provider' }).click();
  await expect(page).toHaveURL(/\/settings\/authentication(\?|$)/);
  await expect(page.getByRole('switch', { name })).toHaveCount(0);
  await page.goto('/w/acme/settings/members');
  await expect(page.getByText(who)).toBeVisible();
});
