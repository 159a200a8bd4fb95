// Swagger's Authorize round trip in headless Chromium (run by tests/api/browser_pages.rs):
// open /swagger, Authorize with the FerridOAuth scheme (the built-in public client with PKCE),
// sign in and consent at ferrid in the popup, then "Try it out" on GET /api/me/sessions and on
// an admin API call, expecting 200 in Swagger's response panel. Swagger UI's own markup is
// selected by its classes (it is not ours); ferrid's pages by field name and role.
//
// usage: node swagger_authorize.mjs <base-url> <email> <password> <screenshot-dir> <user-id>

import { STEP_TIMEOUT_MS, check, runScenario } from './lib/browser.mjs';
import { allow, signIn } from './lib/pages.mjs';

const [base, email, password, screenshotDir, userId] = process.argv.slice(2);
if (!userId) {
  console.error('usage: node swagger_authorize.mjs <base-url> <email> <password> <screenshot-dir> <user-id>');
  process.exit(2);
}

await runScenario('swagger_authorize', screenshotDir, {}, async ({ page, screenshots }) => {
  // Expands an operation, runs "Try it out" → Execute, and expects `status` in the live response.
  async function tryItOut(operationId, params, status) {
    const operation = page.locator(`[id$="-${operationId}"]`).first();
    await operation.locator('.opblock-summary').first().click();
    await operation.locator('button.try-out__btn').click();
    for (const [name, value] of Object.entries(params)) {
      await operation.locator(`tr[data-param-name="${name}"] input`).fill(value);
    }
    await operation.locator('button.execute').click();
    const cell = operation.locator('.live-responses-table tr.response .response-col_status').first();
    await cell.waitFor();
    const got = (await cell.innerText()).trim();
    if (!got.startsWith(String(status))) {
      const body = await operation.locator('.live-responses-table').first().innerText();
      throw new Error(`${operationId}: expected ${status}, got ${got}\n${body}`);
    }
    console.log(`${operationId}: ${got}`);
    await screenshots.take(operation, `try-it-out-${operationId}-${status}`);
    await operation.locator('.opblock-summary').first().click();
  }

  await page.goto(`${base}/swagger`);
  await page.locator('button.btn.authorize').first().click();
  const scheme = page.locator('.auth-container').filter({ has: page.locator('h4', { hasText: 'FerridOAuth (OAuth2' }) });
  await scheme.waitFor();
  // initOAuth presets the public client and the scopes; no secret is preset (there is none).
  const clientId = await scheme.locator('input[id^="client_id"]').inputValue();
  check(clientId === 'ferrid-swagger', `client_id preset is ${JSON.stringify(clientId)}`);
  const secret = scheme.locator('input[id^="client_secret"]');
  check(!((await secret.count()) && (await secret.inputValue())), 'the page presets a client secret');
  const admin = scheme.locator('input[type="checkbox"][data-value="ferrid:admin"]');
  if (!(await admin.isChecked())) await admin.check({ force: true });
  await screenshots.take(page, 'authorize-dialog');

  const [popup] = await Promise.all([page.waitForEvent('popup'), scheme.locator('button.authorize').click()]);
  // The receiver page hands the code to Swagger (which redeems it with the PKCE verifier) and
  // closes the popup, possibly before any later step here: listen from the start.
  const closed = popup.waitForEvent('close', { timeout: STEP_TIMEOUT_MS });
  await popup.waitForLoadState();
  console.log(`popup: ${new URL(popup.url()).pathname}`);
  await screenshots.take(popup, 'popup-login');
  await signIn(popup, email, password);
  const consent = popup.waitForURL((url) => url.pathname === '/consent').then(() => true, () => false);
  if ((await Promise.race([closed.then(() => false), consent])) && !popup.isClosed()) {
    await screenshots.take(popup, 'popup-consent');
    await allow(popup);
  }
  await closed;
  await scheme.locator('button', { hasText: 'Logout' }).waitFor();
  await screenshots.take(page, 'authorized');
  await page.locator('.modal-ux button.close-modal').first().click();

  await tryItOut('list_my_sessions', {}, 200);
  await tryItOut('admin_list_user_sessions', { user_id: userId }, 200);
});
