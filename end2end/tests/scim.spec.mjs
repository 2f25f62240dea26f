// SCIM provisioning in a real browser: an admin makes SAML the only sign-in method, turns
// provisioning on (the token is shown once), a SCIM client pushes users and a group, and
// the Members page shows them as managed by the provider, without edit controls; the
// provider's page lists the requests, and OAuth client credentials open SCIM too. Runs
// last: it switches password sign-in off.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, signInAsAdmin } from './support.mjs';

const idp = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_IDP_PORT || '3190'}`;

failOnPageProblems(test);

test('admin turns provisioning on; pushed users and groups are read-only and logged', async ({ page }, info) => {
  const provider = `Okta ${info.project.name}`;
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Member Authorization' }).click();
  await page.getByRole('link', { name: '+ Add New Provider' }).click();
  await page.locator('input[name=name]').fill(provider);
  await page.getByLabel('Paste metadata XML').fill(await (await page.request.get(`${idp}/metadata`)).text());
  await page.getByRole('button', { name: 'Add provider' }).click();
  await expect(page.getByRole('heading', { name: provider })).toBeVisible();
  const providerUrl = page.url();

  // Not yet: SAML must be the only method, and the page says so.
  await expect(page.getByTestId('provisioning-blocker')).toBeVisible();

  // Switch this provider on and every other method off.
  await page.getByRole('link', { name: '← Member Authorization' }).click();
  await page.getByRole('switch', { name: provider }).click();
  await expect(page.getByRole('switch', { name: provider })).toHaveAttribute('aria-checked', 'true');
  for (const name of ['Username and password', 'Google', 'Slack', 'Office365']) {
    const sw = page.getByRole('switch', { name, exact: true });
    if ((await sw.count()) && (await sw.getAttribute('aria-checked')) === 'true') {
      await sw.click();
      await expect(sw).toHaveAttribute('aria-checked', 'false');
    }
  }
  await page.goto(providerUrl);
  // Turning it on goes through the reconcile view: what it means, then confirmation.
  await page.getByRole('link', { name: 'Turn provisioning on…' }).click();
  await expect(page.getByRole('heading', { name: /^Reconcile with / })).toBeVisible();
  await expect(page.getByTestId('if-emptied')).toBeVisible();
  await page.getByRole('button', { name: 'Confirm: turn provisioning on' }).click();
  await expect(page.getByTestId('provisioning')).toHaveAttribute('data-on', 'true');
  const token = await page.getByTestId('provider-token').inputValue();
  expect(token.length).toBeGreaterThan(30);
  const base = await page.getByTestId('scim-url').inputValue();

  // The admin page now warns before a fallback method goes back on.
  await page.getByRole('link', { name: '← Member Authorization' }).click();
  await expect(page.getByTestId('fallback-warning').first()).toContainText('Provisioning is on');

  // A SCIM client (Okta's shapes) pushes two users and a group.
  const scim = (method, path, data) =>
    page.request.fetch(`${base}${path}`, { method, data, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' } });
  const ids = [];
  for (const [given, family] of [['Linus', 'Pauling'], ['Rosalind', 'Franklin']]) {
    const email = `${given.toLowerCase()}.${info.project.name}@acme.test`;
    const r = await scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: email,
      name: { givenName: given, familyName: family },
      emails: [{ primary: true, type: 'work', value: email }],
      active: true,
    });
    expect(r.status()).toBe(201);
    ids.push((await r.json()).id);
  }
  const g = await scim('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `Chemists ${info.project.name}`, members: ids.map((value) => ({ value })) });
  expect(g.status()).toBe(201);

  // Members: managed by the provider, no edit controls on those rows.
  await page.getByRole('link', { name: 'Members' }).click();
  const row = page.locator(`tr[data-email="linus.${info.project.name}@acme.test"]`);
  await expect(row).toContainText('Linus Pauling');
  await expect(row).toContainText(`Managed by ${provider}`);
  await expect(row.getByRole('button')).toHaveCount(0);

  // The provider's page: the token isn't shown again; the requests are listed.
  await page.goto(providerUrl);
  await expect(page.getByTestId('provider-token')).toHaveCount(0);
  const activity = page.getByTestId('scim-activity');
  await expect(activity).toContainText('create user');
  await expect(activity).toContainText('create group');
  await expect(activity).toContainText(`linus.${info.project.name}@acme.test`);

  // Or OAuth client credentials (Entra's gallery): made once; the token endpoint's token
  // reads /Users; the secret isn't shown again.
  await page.getByRole('button', { name: 'Generate client credentials' }).click();
  const secret = await page.getByTestId('oauth-client-secret').inputValue();
  const clientId = await page.getByTestId('oauth-client-id').inputValue();
  const tokenUrl = await page.getByTestId('oauth-token-url').inputValue();
  const issued = await page.request.post(tokenUrl, { form: { grant_type: 'client_credentials', client_id: clientId, client_secret: secret } });
  expect(issued.status()).toBe(200);
  const access = (await issued.json()).access_token;
  const users = await page.request.get(`${base}/Users`, { headers: { authorization: `Bearer ${access}` } });
  expect(users.status()).toBe(200);
  await page.goto(providerUrl);
  await expect(page.getByTestId('oauth-client-secret')).toHaveCount(0);
  await expect(page.getByTestId('oauth-facts')).toBeVisible();
});
