// Google, Office365 and Slack through oidc-provider (scripts/interop/oidc_provider.mjs, started by
// the Playwright config): the admin switches them on, the login page offers exactly the enabled
// methods, a member (bob, from the foundation story or ensureAcme) signs in with each through the provider's
// login form; switching Slack off removes it and a Slack sign-in already under way is refused.
import { test, expect } from '@playwright/test';
import { failOnPageProblems, signInAsAdmin } from './support.mjs';

const WORK_TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

failOnPageProblems(test);

async function providerLogin(page, login) {
  await expect(page).toHaveURL(/127\.0\.0\.1:319\d\/interaction\//);
  await page.getByLabel('Email').fill(login);
  await page.getByRole('button', { name: 'Sign-in' }).click();
}

async function enabledMethods(page) {
  await page.goto('/w/acme/login');
  return page.locator('a[data-method]').evaluateAll((as) => as.map((a) => a.dataset.method));
}

test('Google, Office365 and Slack: enable, sign in through each, switch Slack off', async ({ page, browser }, info) => {
  await signInAsAdmin(page);
  await page.getByRole('link', { name: 'Member Authorization' }).click();
  for (const name of ['Google', 'Slack', 'Office365']) {
    await page.getByRole('switch', { name }).click();
    await expect(page.getByRole('switch', { name })).toHaveAttribute('aria-checked', 'true');
  }

  const js = info.project.name === 'js';
  const member = await (await browser.newContext({ javaScriptEnabled: js })).newPage();
  const offered = await enabledMethods(member);
  for (const m of ['google', 'slack', 'office365']) expect(offered).toContain(m);
  // Exactly the enabled ones: the workspace's own SAML providers and OIDC connections from
  // the other stories, nothing else.
  expect(offered.filter((m) => !m.startsWith('saml:') && !m.startsWith('oidc:')).sort()).toEqual(['google', 'office365', 'slack']);

  for (const [label, login] of [['Google', 'bob@acme.test'], ['Office365', `bob@acme.test;tid=${WORK_TENANT}`], ['Slack', 'bob@acme.test']]) {
    await member.goto('/w/acme/login');
    await member.getByRole('link', { name: `Sign in with ${label}` }).click();
    await providerLogin(member, login);
    await expect(member).toHaveURL(/\/w\/acme$/);
    await expect(member.getByTestId('me')).toContainText('bob@acme.test');
    await member.getByRole('button', { name: 'Sign out' }).click();
    await expect(member).toHaveURL(/\/w\/acme\/login$/);
  }

  // A Slack sign-in under way while the admin switches Slack off: its callback refuses.
  await member.getByRole('link', { name: 'Sign in with Slack' }).click();
  await expect(member).toHaveURL(/127\.0\.0\.1:3193\/interaction\//);
  await page.getByRole('switch', { name: 'Slack' }).click();
  await expect(page.getByRole('switch', { name: 'Slack' })).toHaveAttribute('aria-checked', 'false');
  await providerLogin(member, 'bob@acme.test');
  await expect(member.locator('#saml-error')).toContainText('switched off');
  expect(await enabledMethods(member)).not.toContain('slack');
  await member.context().close();
});
