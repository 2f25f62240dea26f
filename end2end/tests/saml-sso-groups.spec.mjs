// IdP groups at sign-in, in a real browser through the pysaml2 IdP: an admin maps an IdP
// group to a Gatehouse group on the provider's page, a member signing in through the IdP
// lands in it, the Groups page shows the group as managed at sign-in (no editing there),
// and ending the mapping gives it back to the admins. JS on and off.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, signInAsAdmin } from './support.mjs';

const idp = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_IDP_PORT || '3190'}`;

failOnPageProblems(test);

test('a mapped IdP group keeps a Gatehouse group in sync at sign-in', async ({ page, browser }, info) => {
  const tag = info.project.name;
  const [provider, group, idpGroup, who] = [`Groups IdP ${tag}`, `Analysts ${tag}`, `analysts-${tag}`, `dana.${tag}@acme.test`];
  await signInAsAdmin(page);
  await page.goto('/w/acme/settings/groups');
  await page.getByLabel('New group').fill(group);
  await page.getByRole('button', { name: 'Create group' }).click();
  await expect(page.locator(`section[data-group="${group}"]`)).toBeVisible();

  // A provider from the IdP's metadata; the IdP lists the member in idpGroup.
  await page.goto('/w/acme/settings/authentication');
  await page.getByRole('link', { name: '+ Add New Provider' }).click();
  await page.locator('input[name=name]').fill(provider);
  await page.getByLabel('Paste metadata XML').fill(await (await page.request.get(`${idp}/metadata`)).text());
  await page.getByRole('button', { name: 'Add provider' }).click();
  await expect(page.getByRole('heading', { name: provider })).toBeVisible();
  const providerPage = page.url();
  const acs = await page.getByTestId('acs-url').inputValue();
  const spMetadata = await (await page.request.get(acs.replace(/acs$/, 'metadata'))).text();
  const reg = await page.request.post(`${idp}/admin/sp?groups=${idpGroup}`, { data: spMetadata, headers: { 'content-type': 'application/xml' } });
  expect(reg.status()).toBe(200);
  const domains = page.getByTestId('asserted-domains');
  await domains.getByLabel('Domains this provider may assert').fill('acme.test');
  await domains.getByRole('button', { name: 'Save domains' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Domains saved.' })).toBeVisible();

  // Groups from sign-in: the attribute, then the mapping.
  await page.goto(providerPage);
  const section = page.getByTestId('sign-in-groups');
  await section.getByLabel(/Groups attribute/).fill('groups');
  await section.getByRole('button', { name: 'Save groups from sign-in' }).click();
  await expect(page.getByTestId('sign-in-groups')).toHaveAttribute('data-on', 'true');
  await page.goto(providerPage);
  await page.getByTestId('sign-in-groups').getByLabel('IdP group', { exact: true }).fill(idpGroup);
  await page.getByTestId('sign-in-groups').getByLabel('Gatehouse group').selectOption({ label: group });
  await page.getByTestId('sign-in-groups').getByRole('button', { name: 'Map group' }).click();
  await expect(page.locator(`li[data-idp-group="${idpGroup}"]`)).toContainText(group);

  // Switched on; the member signs in through the IdP's form.
  await page.goto('/w/acme/settings/authentication');
  await page.getByRole('switch', { name: provider }).click();
  await expect(page.getByRole('switch', { name: provider })).toHaveAttribute('aria-checked', 'true');
  const ctx = await browser.newContext({ javaScriptEnabled: tag === 'js' });
  const member = await ctx.newPage();
  await member.goto('/w/acme/login');
  await member.getByRole('link', { name: `Sign in with ${provider}` }).click();
  await expect(member).toHaveURL(new RegExp(`^${idp}/sso/redirect`));
  await member.locator('input[name=username]').fill(who);
  await member.locator('input[name=password]').fill('secret');
  await member.getByRole('button', { name: 'Sign in' }).click();
  if (tag === 'nojs') await member.getByRole('button', { name: 'Continue' }).click();
  await expect(member).toHaveURL(/\/w\/acme$/);
  await ctx.close();

  // The group has the member, is managed at sign-in, and can't be edited here.
  await page.goto('/w/acme/settings/groups');
  const card = page.locator(`section[data-group="${group}"]`);
  await expect(card).toContainText(who);
  await expect(card).toContainText(`Managed by ${provider} at sign-in`);
  await expect(card.getByLabel(`Email to add to ${group}`)).toHaveCount(0);

  // Ending the mapping gives it back to the admins, members kept.
  await page.goto(providerPage);
  await page.getByRole('button', { name: `End the mapping of ${group}` }).click();
  await expect(page.locator(`li[data-idp-group="${idpGroup}"]`)).toHaveCount(0);
  await page.goto('/w/acme/settings/groups');
  await expect(page.locator(`section[data-group="${group}"]`).getByLabel(`Email to add to ${group}`)).toBeVisible();
  await expect(page.locator(`section[data-group="${group}"]`)).toContainText(who);
});
