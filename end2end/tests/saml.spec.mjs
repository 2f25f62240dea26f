// Custom SAML against a real IdP (pysaml2, scripts/interop/saml_idp.py, started by the
// Playwright config): an admin adds a provider by pasting the IdP's metadata, runs Test
// sign-in, switches it on; a new member signs in through the IdP's login form (JIT, since
// acme.test is claimed by the foundation story, or by support's ensureAcme when run alone).
import { test, expect } from '@playwright/test';
import { admin, failOnPageProblems, signInAsAdmin } from './support.mjs';

const idp = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_IDP_PORT || '3190'}`;

failOnPageProblems(test);

// The IdP's login form, then its auto-POST page back to our ACS (without JS: "Continue").
async function throughIdp(page, info, email) {
  await expect(page).toHaveURL(new RegExp(`^${idp}/sso/redirect`));
  await page.locator('input[name=username]').fill(email);
  await page.locator('input[name=password]').fill('secret');
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (info.project.name === 'nojs') {
    await page.getByRole('button', { name: 'Continue' }).click();
  }
}

test('admin adds, tests and enables a SAML provider; a member signs in through it', async ({ page, browser }, info) => {
  const provider = `Corp IdP ${info.project.name}`;
  await signInAsAdmin(page);

  await page.getByRole('link', { name: 'Member Authorization' }).click();
  await page.getByRole('link', { name: '+ Add New Provider' }).click();
  await expect(page.getByRole('heading', { name: 'Add SAML provider' })).toBeVisible();
  const metadata = await (await page.request.get(`${idp}/metadata`)).text();
  await page.locator('input[name=name]').fill(provider);
  await page.getByLabel('Paste metadata XML').fill(metadata);
  await page.getByRole('button', { name: 'Add provider' }).click();
  await expect(page.getByRole('heading', { name: provider })).toBeVisible();
  await expect(page.getByText('Provider added')).toBeVisible();
  const acs = await page.getByTestId('acs-url').inputValue();
  expect(acs).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/saml\/[0-9a-f]+\/acs$/);
  await expect(page.getByTestId('entity-id')).toHaveValue(acs.replace(/acs$/, 'metadata'));
  await expect(page.getByTestId('certs')).toContainText('expires');
  // Which domains it may assert: as the only provider, every verified domain by default;
  // the admin can name them.
  const domains = page.getByTestId('asserted-domains');
  await expect(domains).toContainText('acme.test');
  await expect(domains).toContainText('default: every verified domain');
  await domains.getByLabel('Domains this provider may assert').fill('acme.test');
  await domains.getByRole('button', { name: 'Save domains' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Domains saved.' })).toBeVisible();
  await expect(page.getByTestId('asserted-domains')).not.toContainText('default: every verified domain');

  // The IT admin gives our SP metadata to the IdP (the "download" link's target).
  const spMetadata = await (await page.request.get(acs.replace(/acs$/, 'metadata'))).text();
  const reg = await page.request.post(`${idp}/admin/sp`, { data: spMetadata, headers: { 'content-type': 'application/xml' } });
  expect(reg.status()).toBe(200);

  // Test sign-in: the real flow, a diagnosis, no session for the tested identity.
  await page.getByRole('link', { name: 'Test sign-in' }).click();
  await throughIdp(page, info, 'tina@acme.test');
  await expect(page.getByTestId('test-result')).toHaveAttribute('data-accepted', 'true');
  await expect(page.getByTestId('test-checks')).toContainText('signature');
  await expect(page.getByTestId('test-attributes')).toContainText('tina@acme.test');
  await expect(page.getByTestId('me')).toContainText(admin.email);

  // Switch it on.
  await page.getByRole('link', { name: '← Member Authorization' }).click();
  await page.getByRole('switch', { name: provider }).click();
  await expect(page.getByRole('switch', { name: provider })).toHaveAttribute('aria-checked', 'true');

  // A new person in the claimed domain signs in through the IdP's form.
  const ctx = await browser.newContext({ javaScriptEnabled: info.project.name === 'js' });
  const member = await ctx.newPage();
  await member.goto('/w/acme/login');
  await member.getByRole('link', { name: `Sign in with ${provider}` }).click();
  await throughIdp(member, info, 'carol.jones@acme.test');
  await expect(member).toHaveURL(/\/w\/acme$/);
  await expect(member.getByTestId('me')).toContainText('carol.jones@acme.test');
  await expect(member.getByTestId('me')).toContainText('Carol Jones');
  // Single Logout: signing out ends the session here, then goes through the IdP's SLO
  // endpoint (its metadata has one), whose signed answer comes back to ours.
  await member.getByRole('button', { name: 'Sign out' }).click();
  await expect(member.locator('#slo-message')).toHaveText(`You are signed out here and at ${provider}.`);
  await member.goto('/w/acme');
  await expect(member).toHaveURL(/\/w\/acme\/login$/);
  await ctx.close();

  // Email-first: "Continue with SSO" reaches the IdP on its own origin (the login page's
  // CSP form-action 'self' once stopped the redirect chain there) and signs the person in.
  const ctx2 = await browser.newContext({ javaScriptEnabled: info.project.name === 'js' });
  const byEmail = await ctx2.newPage();
  await byEmail.goto('/w/acme/login');
  await byEmail.getByTestId('email-first').locator('input[name=email]').fill('dan.brown@acme.test');
  await byEmail.getByRole('button', { name: 'Continue with SSO' }).click();
  await throughIdp(byEmail, info, 'dan.brown@acme.test');
  await expect(byEmail).toHaveURL(/\/w\/acme$/);
  await expect(byEmail.getByTestId('me')).toContainText('dan.brown@acme.test');
  await ctx2.close();
});
