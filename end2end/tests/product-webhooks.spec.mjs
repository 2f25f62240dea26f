// An admin adds a webhook endpoint on its page (its secret shown once), a group made on the
// Groups page reaches the receiver signed (checked there by the Standard Webhooks reference
// library), a test event and a rotated secret too (the old one signs during the overlap),
// the delivery log shows each delivery, and the endpoint is deleted. JS on and off.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, fresh, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

const receiver = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_WEBHOOK_PORT || '3198'}`;

async function received(request, path) {
  const all = await (await request.get(`${receiver}/received`)).json();
  return all.filter((r) => r.path === path);
}

test('an admin adds, tests, rotates and deletes a webhook endpoint', async ({ page, request }, info) => {
  const path = `/hooks/${info.project.name}-${Date.now()}`;
  const url = `${receiver}${path}`;
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Webhooks' }).click();
  await expect(page).toHaveURL(/\/w\/acme\/settings\/webhooks$/);
  await page.getByLabel('URL').fill(url);
  await page.getByRole('checkbox', { name: /group\.created/ }).check();
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  const shown = page.getByTestId('webhook-secret-shown');
  await expect(shown).toContainText(url);
  const secret = await page.getByTestId('webhook-secret').inputValue();
  expect(secret).toMatch(/^whsec_/);
  const row = page.locator(`li[data-endpoint="${url}"]`);
  await expect(row).toContainText('group.created');
  await request.post(`${receiver}/control`, { data: { secrets: [secret], plan: [] } });

  // A group made on the Groups page is an event the endpoint chose.
  const group = `Hooked ${info.project.name} ${Date.now()}`;
  await page.goto('/w/acme/settings/groups');
  await page.getByLabel('New group').fill(group);
  await page.getByRole('button', { name: 'Create group' }).click();
  await expect(page.locator(`section[data-group="${group}"]`)).toBeVisible();
  await expect.poll(async () => (await received(request, path)).map((r) => r.event && r.event.data.group.name), { timeout: 15_000 }).toContain(group);
  const first = (await received(request, path))[0];
  expect(first.verified).toBe(true);
  expect(first.event.type).toBe('group.created');

  // The test button; the log shows both deliveries. Shown once: not on a reload.
  await page.goto('/w/acme/settings/webhooks');
  await expect(page.getByTestId('webhook-secret-shown')).toHaveCount(0);
  await fresh(page);
  await page.getByRole('button', { name: `Send a test event to ${url}` }).click();
  await expect.poll(async () => (await received(request, path)).length, { timeout: 15_000 }).toBe(2);
  await expect.poll(async () => {
    await page.goto('/w/acme/settings/webhooks');
    return page.locator('[data-testid="webhook-deliveries"] tr[data-state="delivered"]').count();
  }, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
  await expect(page.locator('tr[data-event="webhook.test"]').first()).toContainText('HTTP 200');

  // Rotated with a day's overlap: a receiver still on the old secret accepts.
  await fresh(page);
  await page.locator(`li[data-endpoint="${url}"]`).getByRole('button', { name: `Rotate the secret of ${url}` }).click();
  await expect(page.getByTestId('webhook-secret-shown')).toBeVisible();
  const rotated = await page.getByTestId('webhook-secret').inputValue();
  expect(rotated).not.toBe(secret);
  await expect(page.locator(`li[data-endpoint="${url}"]`)).toContainText('the previous secret signs too until');
  await page.goto('/w/acme/settings/webhooks');
  await fresh(page);
  await page.getByRole('button', { name: `Send a test event to ${url}` }).click();
  await expect.poll(async () => (await received(request, path)).length, { timeout: 15_000 }).toBe(3);
  const third = (await received(request, path))[2];
  expect(third.verified).toBe(true);
  expect(third.signatures.length).toBe(2);

  // Deleted: gone from the page.
  await page.goto('/w/acme/settings/webhooks');
  await fresh(page);
  await page.getByRole('button', { name: `Delete ${url}` }).click();
  await expect(page.locator(`li[data-endpoint="${url}"]`)).toHaveCount(0);
});
