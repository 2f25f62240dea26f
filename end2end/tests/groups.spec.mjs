// Groups, resources and grants in a real browser (runs after the foundation story, which
// creates the workspace): an admin creates a group and a collection, grants the group
// view in the matrix, and the collection opens; a resource that doesn't exist is a 404.
import { test, expect } from '@playwright/test';
import { admin, failOnPageProblems, signInAsAdmin } from './support.mjs';

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
  await card.getByLabel(`Email to add to ${group}`).fill(admin.email);
  await card.getByRole('button', { name: 'Add member' }).click();
  await expect(page.locator(`section[data-group="${group}"]`)).toContainText(admin.email);

  await page.getByRole('link', { name: 'Access', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill(collection);
  await page.getByLabel('Description', { exact: true }).fill('Quarterly numbers');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  const cell = page.getByLabel(`${group} on ${collection}`, { exact: true });
  await expect(cell).toHaveAttribute('data-level', 'none');
  await cell.selectOption('view');
  await page.getByRole('button', { name: `Save ${group} on ${collection}`, exact: true }).click();
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
