// Shared by every spec: with JavaScript on, the page must really hydrate (forms would
// also work without it), and no script may be refused by the CSP or fail.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';

export function failOnPageProblems(test) {
  test.beforeEach(async ({ page }, info) => {
    const problems = [];
    page.on('pageerror', (e) => problems.push(e.message));
    // Expected 4xx answers (a refused sign-in) log "Failed to load resource"; anything
    // else — a CSP refusal, a hydration error — is a problem.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
    });
    info.problems = problems;
  });

  test.afterEach(async ({ page }, info) => {
    if (info.project.name === 'js') {
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    }
    expect(info.problems).toEqual([]);
  });
}

export const admin = { email: 'ada@acme.test', password: 'correct horse battery' };
export const member = { name: 'Bob Member', email: 'bob@acme.test', password: 'member password 1' };

// What the foundation story leaves behind, made here when a spec runs on its own (each
// Playwright run starts a fresh server): workspace acme and its admin, acme.test claimed
// and verified, and Bob as a member. Each step looks first and only does what is
// missing, so after the foundation story this only reads.
export async function ensureAcme(browser) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const setup = await page.goto('/setup');
  if (setup.status() === 200 && new URL(page.url()).pathname === '/setup') {
    const port = process.env.GATEHOUSE_E2E_PORT || '3100';
    const token = readFileSync(`/tmp/gatehouse-e2e-${port}.setup-token`, 'utf8').trim();
    await page.getByLabel('Setup token').fill(token);
    await page.getByLabel('Workspace name').fill('Acme');
    await page.getByLabel('Workspace URL name').fill('acme');
    await page.getByLabel('Your name').fill('Ada Admin');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await expect(page).toHaveURL(/\/w\/acme\/settings\/authentication/);
  } else {
    await signIn(page, admin);
  }
  await page.goto('/w/acme/settings/authentication');
  const claim = page.locator('li[data-domain="acme.test"]');
  if ((await claim.count()) === 0) {
    await page.getByLabel('Domain', { exact: true }).fill('acme.test');
    await page.getByRole('button', { name: 'Add domain' }).click();
    await expect(claim).toBeVisible();
  }
  if ((await claim.getAttribute('data-status')) !== 'verified') {
    const dnsApi = `http://127.0.0.1:${process.env.GATEHOUSE_E2E_DNS_HTTP_PORT || '3195'}`;
    const name = (await claim.getByTestId('record-name').textContent()).trim();
    const value = (await claim.getByTestId('record-value').textContent()).trim();
    expect((await page.request.put(`${dnsApi}/txt?name=${name}`, { data: value })).status()).toBe(200);
    await claim.getByRole('button', { name: 'Check acme.test' }).click();
    await expect(page.locator('li[data-domain="acme.test"]')).toHaveAttribute('data-status', 'verified');
  }
  await page.goto('/w/acme/settings/members');
  if ((await page.locator(`tr[data-email="${member.email}"]`).count()) === 0) {
    await page.getByLabel('Email').fill(member.email);
    await page.getByRole('button', { name: 'Invite', exact: true }).click();
    const link = await page.getByTestId('invite-link').inputValue();
    const joining = await browser.newContext();
    const mp = await joining.newPage();
    await mp.goto(new URL(link).pathname);
    await mp.getByLabel('Your name').fill(member.name);
    await mp.getByLabel('Choose a password').fill(member.password);
    await mp.getByRole('button', { name: 'Join workspace' }).click();
    await expect(mp).toHaveURL(/\/w\/acme$/);
    await joining.close();
  }
  await ctx.close();
}

async function signIn(page, who) {
  await page.goto('/w/acme/login');
  await page.getByLabel('Email').first().fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/w\/acme$/);
}

// The admin of the foundation story signs in with the password form (after making what
// that story makes, when the spec runs on its own).
export async function signInAsAdmin(page) {
  await ensureAcme(page.context().browser());
  await page.goto('/w/acme/login');
  await page.getByLabel('Email').first().fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/w\/acme$/);
}

// The admin (on `page`) invites `who` as a member; they join in a browser context of their
// own, which is returned with its page, signed in.
export async function inviteAndJoin(page, browser, who) {
  await page.goto('/w/acme/settings/members');
  await page.getByLabel('Email').fill(who.email);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  const link = await page.getByTestId('invite-link').inputValue();
  const ctx = await browser.newContext();
  const mp = await ctx.newPage();
  await mp.goto(new URL(link).pathname);
  await mp.getByLabel('Your name').fill(who.name);
  await mp.getByLabel('Choose a password').fill(who.password);
  await mp.getByRole('button', { name: 'Join workspace' }).click();
  await expect(mp).toHaveURL(/\/w\/acme$/);
  return { ctx, mp };
}

// The admin creates group `group` with `email` in it (confirming the access preview).
export async function groupWith(page, group, email) {
  await page.goto('/w/acme/settings/groups');
  await page.getByLabel('New group').fill(group);
  await page.getByRole('button', { name: 'Create group' }).click();
  const card = page.locator(`section[data-group="${group}"]`);
  await expect(card).toBeVisible();
  await fresh(page);
  await card.getByLabel(`Email to add to ${group}`).fill(email);
  await card.getByRole('button', { name: 'Add member' }).click();
  await page.getByRole('button', { name: 'Confirm and save' }).click();
  await expect(page.locator(`section[data-group="${group}"]`)).toContainText(email);
}

// With JavaScript on, a page's islands (live updates, copy buttons) hydrate a moment after
// it loads; forms post natively either way. A step that needs an island waits for it.
export async function hydrated(page) {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

// The page's live-update stream is open: a change made from now on reaches it.
export async function listening(page) {
  await hydrated(page);
  await expect(page.locator('body')).toHaveAttribute('data-live', 'open');
}

// With JavaScript on, a live page that just saved fetches itself again when the change's
// live event comes back about 300 ms later (unless a field then holds unsaved input: that
// waits, see live.spec.mjs), and the new <main> replaces its inputs. Before typing into
// such a page again, load it afresh (without JavaScript there are no live updates).
export async function fresh(page) {
  if (test.info().project.name !== 'js') return;
  await page.reload();
  await hydrated(page);
}
