// Swagger's Authorize round trip in headless Chromium (run by tests/api/swagger_browser.rs):
// open /swagger, Authorize with the FerridOAuth scheme (the built-in public client with PKCE),
// sign in and consent at ferrid in the popup, then "Try it out" on GET /api/me/sessions and on
// an admin API call, expecting 200 in Swagger's response panel. Screenshots go to the given
// directory; on failure the page's HTML goes there too.
//
// usage: node swagger_authorize.mjs <base-url> <email> <password> <screenshot-dir> <user-id>

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const [base, email, password, screenshotArg, userId] = process.argv.slice(2);
if (!userId) {
  console.error('usage: node swagger_authorize.mjs <base-url> <email> <password> <screenshot-dir> <user-id>');
  process.exit(2);
}
const screenshots = resolve(screenshotArg);
mkdirSync(screenshots, { recursive: true });
console.log(`screenshots: ${screenshots}`);

// Generous: CI runs this beside the rest of the suite on two cores.
const TIMEOUT = 60_000;
const profile = mkdtempSync(join(tmpdir(), 'ferrid-chromium-'));
// A fresh profile per run; Playwright passes it to Chromium as --user-data-dir.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 1000 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
context.setDefaultTimeout(TIMEOUT);
const page = context.pages()[0] ?? (await context.newPage());
page.on('console', (message) => {
  if (message.type() === 'error') console.log(`console error: ${message.text()}`);
});
page.on('response', (response) => {
  if (response.status() >= 400) console.log(`${response.status()} ${response.url()}`);
});

// The viewport, or just `element` when given.
async function shot(name, element) {
  const path = join(screenshots, `${name}.png`);
  await (element ?? page).screenshot({ path });
  console.log(`screenshot: ${path}`);
}

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
  await shot(`swagger-${operationId}-${status}`, operation);
  await operation.locator('.opblock-summary').first().click();
}

let failed = false;
try {
  await page.goto(`${base}/swagger`);
  await page.locator('button.btn.authorize').first().click();
  const scheme = page.locator('.auth-container').filter({ has: page.locator('h4', { hasText: 'FerridOAuth (OAuth2' }) });
  await scheme.waitFor();
  // initOAuth presets the public client and the scopes; no secret is preset (there is none).
  const clientId = await scheme.locator('input[id^="client_id"]').inputValue();
  if (clientId !== 'ferrid-swagger') throw new Error(`client_id preset is ${JSON.stringify(clientId)}`);
  const secret = scheme.locator('input[id^="client_secret"]');
  if ((await secret.count()) && (await secret.inputValue())) throw new Error('the page presets a client secret');
  const admin = scheme.locator('input[type="checkbox"][data-value="ferrid:admin"]');
  if (!(await admin.isChecked())) await admin.check({ force: true });

  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    scheme.locator('button.authorize').click(),
  ]);
  // The receiver page hands the code to Swagger (which redeems it with the PKCE verifier) and
  // closes the popup, possibly before any later step here: listen from the start.
  const closed = popup.waitForEvent('close', { timeout: TIMEOUT });
  await popup.waitForLoadState();
  const authorizeUrl = new URL(popup.url());
  console.log(`popup: ${authorizeUrl.origin}${authorizeUrl.pathname}`);
  await popup.locator('#email').fill(email);
  await popup.locator('#password').fill(password);
  await popup.locator('button[type="submit"]').click();
  const consent = popup.locator('form[action="/consent"]').waitFor().then(() => true, () => false);
  if ((await Promise.race([closed.then(() => false), consent])) && !popup.isClosed()) {
    await popup.locator('button[value="allow"]').click();
  }
  await closed;
  await scheme.locator('button', { hasText: 'Logout' }).waitFor();
  await shot('swagger-authorized');
  await page.locator('.modal-ux button.close-modal').first().click();

  await tryItOut('list_my_sessions', {}, 200);
  await tryItOut('admin_list_user_sessions', { user_id: userId }, 200);
  console.log('swagger authorize round trip: ok');
} catch (error) {
  failed = true;
  console.error(error.stack || String(error));
  for (const [index, open] of context.pages().entries()) {
    const name = index === 0 ? 'failure' : `failure-popup-${index}`;
    writeFileSync(join(screenshots, `${name}.html`), await open.content().catch(() => ''));
    await open.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true }).catch(() => {});
    console.error(`saved ${join(screenshots, name)}.{html,png} (${open.url()})`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
