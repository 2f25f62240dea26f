// Groups, resources and grants in a real browser (the workspace comes from the foundation
// story, or from support's ensureAcme when run alone): an admin creates a group and a
// collection, grants the group view in the matrix, and the collection opens; a resource
// that doesn't exist is a 404.
import { test, expect } from '@playwright/test';
import { admin, failOnPageProblems, fresh, groupWith, inviteAndJoin, listening, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

test('admin manages groups, resources and the access matrix', async ({ page }, info) => {
  const group = `Analysts ${info.project.name}`;
  const collection = `Revenue ${info.project.name}`;
  await signInAsAdmin(page);

  await page.getByRole('link', { name: 'Groups', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Groups' })).toBeVisible();
  await expect(page.locator('section[data-group="Everyone"]')).toContainText('Built-in');
  await page.getByLabel('New group').fill(group);
  await page.getByRole('button', { name: 'Create group' }).click();
  const card = page.locator(`section[data-group="${group}"]`);
  await expect(card).toBeVisible();
  await fresh(page);
  await card.getByLabel(`Email to add to ${group}`).fill(admin.email);
  await card.getByRole('button', { name: 'Add member' }).click();
  // Every access change goes through the preview; an admin reaches everything anyway.
  await expect(page.getByTestId('access-preview')).toHaveAttribute('data-total', '0');
  await expect(page.getByTestId('no-change')).toBeVisible();
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page).toHaveURL(/\/settings\/groups/);
  await expect(page.locator(`section[data-group="${group}"]`)).toContainText(admin.email);

  await page.getByRole('link', { name: 'Access', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill(collection);
  await page.getByLabel('Description', { exact: true }).fill('Quarterly numbers');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const cell = page.getByLabel(`${group} on ${collection}`, { exact: true });
  await expect(cell).toHaveAttribute('data-level', 'none');
  await fresh(page);
  await cell.selectOption('view');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
  await expect(page.getByTestId('access-preview')).toContainText(`Give “${group}” view access to “${collection}”`);
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page).toHaveURL(/\/settings\/access/);
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toHaveAttribute('data-level', 'view');

  await page.getByRole('link', { name: collection }).click();
  await expect(page.getByRole('heading', { name: collection })).toBeVisible();
  await expect(page.getByTestId('resource')).toHaveAttribute('data-level', 'edit');

  await page.goto('/w/acme');
  await expect(page.getByTestId('my-resources')).toContainText(collection);

  const missing = await page.goto('/w/acme/r/999999');
  expect(missing.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
});

// A member has a collection open; the admin's preview names them before the grant is
// revoked; after saving, the member's open page shows the loss without a reload, and the
// next navigation is a 404. Live updates need JavaScript; without it the next load shows it.
test('a revoked grant closes the member\'s open page live; the preview names them first', async ({ page, browser }, info) => {
  const tag = info.project.name;
  const group = `Readers ${tag}`;
  const collection = `Board pack ${tag}`;
  const member = { email: `mia.${tag}@acme.test`, name: `Mia ${tag}`, password: 'mia password 12345' };
  await signInAsAdmin(page);

  const { ctx, mp } = await inviteAndJoin(page, browser, member);
  await groupWith(page, group, member.email);

  await page.goto('/w/acme/settings/access');
  await page.getByLabel('Name', { exact: true }).fill(collection);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toBeVisible();
  await fresh(page);
  await page.getByLabel(`${group} on ${collection}`, { exact: true }).selectOption('view');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
  const gain = page.locator(`tr[data-member="${member.email}"][data-resource="${collection}"]`);
  await expect(gain).toHaveAttribute('data-change', 'gain');
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toHaveAttribute('data-level', 'view');

  // The member opens the collection.
  await mp.goto('/w/acme');
  await mp.getByRole('link', { name: collection }).click();
  await expect(mp.getByTestId('resource')).toHaveAttribute('data-level', 'view');
  const url = mp.url();
  // With JavaScript, the open page follows changes once its stream is open.
  if (tag === 'js') await listening(mp);

  // The admin previews the revocation: it names the member and what they lose.
  await fresh(page);
  await page.getByLabel(`${group} on ${collection}`, { exact: true }).selectOption('none');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
  const loss = page.locator(`tr[data-member="${member.email}"][data-resource="${collection}"]`);
  await expect(loss).toHaveAttribute('data-change', 'loss');
  await expect(page.getByTestId('access-preview')).toHaveAttribute('data-total', '1');
  await expect(mp.getByTestId('resource')).toBeVisible(); // nothing saved yet
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page.getByLabel(`${group} on ${collection}`, { exact: true })).toHaveAttribute('data-level', 'none');

  if (tag === 'js') {
    // Without a reload: the open page says so and its content is gone.
    await expect(mp.getByTestId('access-lost')).toBeVisible();
    await expect(mp.getByTestId('resource')).toHaveCount(0);
    expect(mp.url()).toBe(url);
  }
  const res = await mp.goto(url);
  expect(res.status()).toBe(404);
  await expect(mp.getByRole('heading', { name: 'Not found' })).toBeVisible();
  await ctx.close();
});
