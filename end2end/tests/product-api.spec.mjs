// An admin makes an API key for the product on its page (shown once), the product calls
// /v1 with it, the page shows its last use, and revoking it stops it at once. JS on and off.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

test('an admin makes, uses and revokes an API key', async ({ page }, info) => {
  const name = `Analytics ${info.project.name}`;
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'API keys' }).click();
  await expect(page).toHaveURL(/\/w\/acme\/settings\/api-keys$/);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('checkbox', { name: /directory:read/ }).check();
  await page.getByRole('checkbox', { name: /access:check/ }).check();
  await page.getByLabel(/Expires after/).fill('30');
  await page.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByTestId('api-key-shown');
  await expect(shown).toContainText(name);
  const key = await page.getByTestId('api-key').inputValue();
  expect(key).toMatch(/^ghk_[0-9a-f]{16}_/);
  const row = page.locator(`li[data-key="${name}"]`);
  await expect(row).toHaveAttribute('data-status', 'active');
  await expect(row.getByTestId('last-used')).toHaveText('never used');

  // The product calls the API with it.
  const members = await page.request.get('/v1/members', { headers: { Authorization: `Bearer ${key}` } });
  expect(members.status()).toBe(200);
  expect((await members.json()).items.map((m) => m.email)).toContain('ada@acme.test');
  const write = await page.request.post('/v1/resources', { headers: { Authorization: `Bearer ${key}` }, data: { kind: 'collection', name: 'Nope' } });
  expect(write.status()).toBe(403);

  // Shown once: a reload shows the key's row and its use, never the secret.
  await page.reload();
  await expect(page.getByTestId('api-key-shown')).toHaveCount(0);
  await expect(page.locator(`li[data-key="${name}"]`).getByTestId('last-used')).toContainText('last used');

  // Revoked: the next call fails.
  await page.locator(`li[data-key="${name}"]`).getByRole('button', { name: `Revoke ${name}` }).click();
  await expect(page.locator(`li[data-key="${name}"]`)).toHaveAttribute('data-status', 'revoked');
  const after = await page.request.get('/v1/members', { headers: { Authorization: `Bearer ${key}` } });
  expect(after.status()).toBe(401);
});
