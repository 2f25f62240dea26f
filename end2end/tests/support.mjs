// Shared by every spec: with JavaScript on, the page must really hydrate (forms would
// also work without it), and no script may be refused by the CSP or fail.
import { expect } from '@playwright/test';

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

// The admin of the foundation story signs in with the password form.
export async function signInAsAdmin(page) {
  await page.goto('/w/acme/login');
  await page.getByLabel('Email').first().fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page).toHaveURL(/\/w\/acme$/);
}
