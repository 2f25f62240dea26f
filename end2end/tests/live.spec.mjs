// Live updates never take what a member is typing: a change heard while a field holds
// unsaved input waits (without it, the refetch rendered the group cards again and the
// typed email was gone), and the page refetches once the field is back as rendered. JS
// only: without JavaScript there are no live updates, every page is fresh from the server.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, inviteAndJoin, listening, signInAsAdmin } from './support.mjs';

failOnPageProblems(test);

test('a change heard while the admin types waits until the field is left as rendered', async ({ page, browser }, info) => {
  test.skip(info.project.name !== 'js', 'live updates need JavaScript');
  const stamp = Date.now();
  const [mine, theirs] = [`Typing ${stamp}`, `Elsewhere ${stamp}`];
  await signInAsAdmin(page);
  await page.goto('/w/acme/settings/groups');
  await page.getByLabel('New group').fill(mine);
  await page.getByRole('button', { name: 'Create group' }).click();
  await expect(page.locator(`section[data-group="${mine}"]`)).toBeVisible();
  await page.reload();
  await listening(page);
  const email = page.getByLabel(`Email to add to ${mine}`);
  await email.fill('half-typed@acme');

  // Meanwhile another admin creates a group: the page hears it.
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await signInAsAdmin(other);
  await other.goto('/w/acme/settings/groups');
  await other.getByLabel('New group').fill(theirs);
  await other.getByRole('button', { name: 'Create group' }).click();
  await expect(other.locator(`section[data-group="${theirs}"]`)).toBeVisible();

  // The typed text stays and the cards wait.
  await page.waitForTimeout(1500);
  await expect(page.getByLabel(`Email to add to ${mine}`)).toHaveValue('half-typed@acme');
  await expect(page.locator(`section[data-group="${theirs}"]`)).toHaveCount(0);
  // Back as rendered: the waiting change is shown.
  await email.fill('');
  await expect(page.locator(`section[data-group="${theirs}"]`)).toBeVisible();
  await ctx.close();
});

test('a fresh invite link stays on show while the members page hears changes', async ({ page, browser }, info) => {
  test.skip(info.project.name !== 'js', 'live updates need JavaScript');
  const stamp = Date.now();
  await signInAsAdmin(page);
  await page.goto('/w/acme/settings/members');
  await page.getByLabel('Email').fill(`shown-once-${stamp}@acme.test`);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  const link = await page.getByTestId('invite-link').inputValue();
  await listening(page);

  // Another admin's invitee joins: the members page hears it, and a fetch of the page
  // would no longer carry the first link (it is shown once).
  const ctx = await browser.newContext();
  const other = await ctx.newPage();
  await signInAsAdmin(other);
  const joined = await inviteAndJoin(other, browser, { name: `Joiner ${stamp}`, email: `joiner-${stamp}@acme.test`, password: 'joiner password 1' });
  await joined.ctx.close();
  await page.waitForTimeout(1500);
  await expect(page.getByTestId('invite-link')).toHaveValue(link);
  // Loaded again, the page shows who joined.
  await page.reload();
  await expect(page.getByText(`joiner-${stamp}@acme.test`)).toBeVisible();
  // The first invitee joins too, so no invite is left pending for the stories after this.
  const first = await browser.newContext();
  const fp = await first.newPage();
  await fp.goto(new URL(link).pathname);
  await fp.getByLabel('Your name').fill(`Shown Once ${stamp}`);
  await fp.getByLabel('Choose a password').fill('shown once password 1');
  await fp.getByRole('button', { name: 'Join workspace' }).click();
  await expect(fp).toHaveURL(/\/w\/acme$/);
  await first.close();
  await ctx.close();
});
