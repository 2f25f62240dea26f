// The product behind a real nginx: /app/ on the same site is served by a stand-in product
// (scripts/interop/product_app.py) and every request to it is first asked of Gatehouse's
// /forward-auth (auth_request; scripts/e2e-nginx.sh is the README's configuration). A
// visitor is sent to sign in and back, a member reaches what their groups are granted
// with their identity in headers, forged identity headers never reach the product, a
// view grant doesn't let them save, and a revoked grant is a 404 on the next request.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, fresh, groupWith, inviteAndJoin, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

test('the product behind nginx: sign in and back, identity headers, no forgery, revocation at once', async ({ page, browser }, info) => {
  const tag = info.project.name;
  const group = `Analysts ${tag}`;
  const collection = `Forecast ${tag}`;
  const member = { email: `fay.${tag}@acme.test`, name: `Fay ${tag}`, password: 'fay password 12345' };
  await signInAsAdmin(page);

  // A member, a group with them in it, and a collection the group may view.
  await (await inviteAndJoin(page, browser, member)).ctx.close();
  await groupWith(page, group, member.email);

  await page.goto('/w/acme/settings/access');
  await page.getByLabel('Name', { exact: true }).fill(collection);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toBeVisible();
  await fresh(page);
  await page.getByLabel(`${group} on ${collection}`, { exact: true }).selectOption('view');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toHaveAttribute('data-level', 'view');
  const href = await page.getByRole('link', { name: collection }).getAttribute('href');
  const id = href.split('/').pop();
  const product = `/app/acme/collections/${id}/overview?range=q3`;

  // A visitor opens the product: nginx sends them to sign in, and back after it.
  const ctx = await browser.newContext();
  const mp = await ctx.newPage();
  await mp.goto(product);
  await expect(mp).toHaveURL(/\/w\/acme\/login\?next=/);
  await mp.getByLabel('Email').first().fill(member.email);
  await mp.getByLabel('Password').fill(member.password);
  await mp.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(mp).toHaveURL(new RegExp(`${product.replace(/[?]/g, '\\?')}$`));
  const header = (name) => mp.locator(`dd[data-header="x-gatehouse-${name}"]`);
  await expect(mp.getByTestId('request')).toHaveText(`GET ${product}`);
  await expect(header('email')).toHaveText(member.email);
  await expect(header('role')).toHaveText('member');
  await expect(header('workspace')).toHaveText('acme');
  await expect(header('resource')).toHaveText(id);
  await expect(header('access')).toHaveText('view');
  await expect(header('name')).toHaveText(encodeURIComponent(member.name));
  expect((await header('groups').textContent()).split(',').map(decodeURIComponent)).toContain(group);
  await expect(header('groups-truncated')).toHaveText('false');
  // The product never receives Gatehouse's session cookie.
  expect((await ctx.cookies()).map((c) => c.name)).toContain('gatehouse_session');
  expect(await mp.getByTestId('cookies').textContent()).not.toContain('gatehouse_session');

  // Identity headers the browser makes up never reach the product: the ones Gatehouse
  // answers are its own, and the ones it leaves empty are not passed at all.
  await ctx.setExtraHTTPHeaders({ 'X-Gatehouse-Email': 'ada@acme.test', 'X-Gatehouse-Role': 'admin', 'X-Gatehouse-Resource': '1', 'X-Gatehouse-Access': 'edit' });
  await mp.goto('/app/acme/home');
  await expect(header('email')).toHaveText(member.email);
  await expect(header('role')).toHaveText('member');
  await expect(header('resource')).toHaveCount(0);
  await expect(header('access')).toHaveCount(0);
  await ctx.setExtraHTTPHeaders({});

  // View access doesn't let the member save (a POST needs edit): the same 404 as a
  // missing page. Nor does it reach a collection nobody granted them.
  await mp.goto(product);
  const [saved] = await Promise.all([mp.waitForResponse((r) => r.request().method() === 'POST'), mp.getByRole('button', { name: 'Save' }).click()]);
  expect(saved.status()).toBe(404);
  expect((await mp.goto('/app/acme/collections/999999')).status()).toBe(404);

  // The admin revokes the grant: the member's very next request is a 404.
  await page.getByLabel(`${group} on ${collection}`, { exact: true }).selectOption('none');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toHaveAttribute('data-level', 'none');
  expect((await mp.goto(product)).status()).toBe(404);
  // The workspace-wide part of the product still opens for them.
  expect((await mp.goto('/app/acme/home')).status()).toBe(200);
  // A workspace that doesn't exist is missing, not a sign-in page.
  expect((await mp.goto('/app/nope/home')).status()).toBe(404);
  await ctx.close();
});
