// The admin Overview in a real browser: sign-ins per day as a chart (server-rendered
// SVG), the audit log filtered by action, and the CSV export of what is shown.
import { test, expect } from '@playwright/test';
import fs from 'node:fs';
import { failOnPageProblems, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

test('admin sees sign-ins per day, filters the audit log and exports it', async ({ page }) => {
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Overview', exact: true }).click();
  const chart = page.getByTestId('sign-ins-chart');
  await expect(chart.locator('svg[role="img"] rect').first()).toBeVisible();
  expect(Number(await chart.getAttribute('data-total'))).toBeGreaterThan(0);

  await page.getByLabel('Action').fill('signin');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=signin/);
  const rows = page.getByTestId('audit-log').locator('tbody tr');
  await expect(rows.first()).toHaveAttribute('data-action', 'signin');
  expect(await page.getByTestId('audit-log').locator('tbody tr:not([data-action="signin"])').count()).toBe(0);

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download CSV' }).click()]);
  const lines = fs.readFileSync(await download.path(), 'utf8').trim().split('\r\n');
  expect(lines[0]).toBe('time,actor,action,target,details,ip');
  expect(lines.length).toBeGreaterThan(1);
  expect(lines.slice(1).every((l) => l.split(',')[2] === 'signin')).toBe(true);
});
