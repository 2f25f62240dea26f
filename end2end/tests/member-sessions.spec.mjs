// A member's own sessions and an admin's sign-out, in a real browser (the workspace and
// Bob come from the foundation story, or from support's ensureAcme when run alone): Bob signs in from two browsers, sees both
// on "Your sessions" and ends the other one, whose next page is the sign-in page (with
// JavaScript its open page goes there by itself); then an admin signs Bob out everywhere.
import { test, expect } from '@playwright/test';
import { ensureAcme, failOnPageProblems, listening, signInAsAdmin } from './support.mjs';

const bob = { email: 'bob@acme.test', password: 'member password 1' };

failOnPageProblems(test);

async function signInAsBob(page) {
  await page.goto('/w/acme/login');
  await page.getByLabel('Email').first().fill(bob.email);
  await page.getByLabel('Password').fill(bob.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/w\/acme$/);
}

// With JavaScript an open page of an ended session goes to sign-in by itself; without it,
// the next navigation does.
async function expectSignedOut(other, js) {
  if (!js) await other.goto('/w/acme');
  await expect(other).toHaveURL(/\/w\/acme\/login$/, { timeout: 15_000 });
}

test('a member ends a session of another browser; an admin signs a member out everywhere', async ({ page, browser }, info) => {
  const js = info.project.name === 'js';
  await ensureAcme(browser);
  await signInAsBob(page);
  await page.getByRole('link', { name: 'Your sessions' }).click();
  await expect(page.getByRole('heading', { name: 'Your sessions' })).toBeVisible();
  // The list (this browser's session at least) before counting what it offers.
  await expect(page.locator('li[data-current=true]')).toBeVisible();
  // Earlier stories left sessions of Bob's behind: end them first.
  const elsewhere = page.getByRole('button', { name: 'Sign out everywhere else' });
  if (await elsewhere.count()) {
    await elsewhere.click();
    await expect(page.getByRole('status')).toContainText('Signed out everywhere else');
  }
  await expect(page.locator('[data-testid=sessions] li')).toHaveCount(1);

  const ctx = await browser.newContext({ javaScriptEnabled: js });
  const other = await ctx.newPage();
  await signInAsBob(other);
  // With JavaScript, the other browser's open page is to go to sign-in by itself: it
  // must be listening first (a page whose stream opens after its session ended is told
  // at once too: the server tests cover that).
  if (js) await listening(other);
  await page.reload();
  const rows = page.locator('[data-testid=sessions] li');
  await expect(rows).toHaveCount(2);
  await expect(page.locator('li[data-current=true]')).toContainText('This browser');
  await expect(page.locator('li[data-current=false]')).toContainText('Username and password');
  await page.locator('li[data-current=false]').getByRole('button', { name: /^Sign out / }).click();
  await expect(page.getByRole('status')).toContainText('Signed out of that session.');
  await expect(rows).toHaveCount(1);
  await expectSignedOut(other, js);

  // The admin signs Bob out everywhere, from his row on the Members page.
  await signInAsBob(other);
  if (js) await listening(other);
  const adminCtx = await browser.newContext({ javaScriptEnabled: js });
  const adminPage = await adminCtx.newPage();
  await signInAsAdmin(adminPage);
  await adminPage.goto('/w/acme/settings/members');
  const row = adminPage.locator(`tr[data-email="${bob.email}"]`);
  await expect(row.getByTestId('session-count')).toHaveText('2');
  await row.getByRole('button', { name: `Sign ${bob.email} out everywhere` }).click();
  await expect(adminPage.getByRole('status')).toContainText('signed out everywhere');
  await expect(row.getByTestId('session-count')).toHaveText('0');
  await expectSignedOut(other, js);
  // Bob's first browser, open on his account page, goes too (with JavaScript by itself:
  // a navigation of ours would race its reload).
  await expectSignedOut(page, js);
  await ctx.close();
  await adminCtx.close();
});
