// What every browser scenario shares: Debian's Chromium launched headless through
// playwright-core, numbered screenshots, the page's HTML and a screenshot on failure, and a time
// bound so that a hang fails the run instead of blocking CI.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
// A whole scenario; CI runs it beside the rest of the suite on two cores.
export const SCENARIO_TIMEOUT_MS = 60_000;
// One step (a click, a navigation, a wait for a field).
export const STEP_TIMEOUT_MS = 20_000;

// Numbered screenshots of the important steps: `<dir>/01-login.png`, `<dir>/02-consent.png`, …
export class Screenshots {
  constructor(dir) {
    this.dir = dir;
    this.taken = [];
  }

  async take(target, step) {
    const path = join(this.dir, `${String(this.taken.length + 1).padStart(2, '0')}-${step}.png`);
    await target.screenshot({ path });
    this.taken.push(path);
    console.log(`screenshot: ${path}`);
  }
}

// Keeps every open page's HTML and a full-page screenshot next to the step screenshots.
async function saveFailure(context, dir) {
  for (const [index, page] of context.pages().entries()) {
    const base = join(dir, index === 0 ? 'failure' : `failure-${index + 1}`);
    writeFileSync(`${base}.html`, await page.content().catch((error) => `<!-- no content: ${error} -->`));
    await page.screenshot({ path: `${base}.png`, fullPage: true }).catch(() => {});
    console.error(`failure page saved: ${base}.html and ${base}.png (${page.url()})`);
  }
}

// Runs `scenario({ context, page, screenshots })` in a fresh headless Chromium, within
// SCENARIO_TIMEOUT_MS, and exits the process: 0 when it resolved, 1 when it threw or timed out.
// `options.javaScriptEnabled: false` runs it with JavaScript off.
export async function runScenario(name, screenshotDir, options, scenario) {
  const dir = resolve(screenshotDir);
  // Only this run's pictures, so the list printed is the list kept.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Should closing the browser itself hang, still end.
  setTimeout(() => {
    console.error(`${name}: the browser did not close; exiting`);
    process.exit(1);
  }, SCENARIO_TIMEOUT_MS + 15_000).unref();

  // A fresh profile per run; Playwright passes it to Chromium as --user-data-dir.
  const profile = mkdtempSync(join(tmpdir(), 'ferrid-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    // The scenarios read English labels; the pages choose their language by Accept-Language.
    locale: 'en-US',
    javaScriptEnabled: options.javaScriptEnabled ?? true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  context.on('page', (opened) => watch(opened));
  watch(page);
  const screenshots = new Screenshots(dir);

  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: timed out after ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
  });
  let failed = false;
  try {
    await Promise.race([scenario({ context, page, screenshots }), deadline]);
    console.log(`${name}: ok (${screenshots.taken.length} screenshots in ${dir})`);
  } catch (error) {
    failed = true;
    console.error(`${name}: FAILED at ${page.url()}\n${error.stack || error}`);
    await saveFailure(context, dir);
  } finally {
    clearTimeout(timer);
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

// Console errors and failed responses end up in the test's output.
function watch(page) {
  page.on('console', (message) => {
    if (message.type() === 'error') console.log(`console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) console.log(`${response.status()} ${response.url()}`);
  });
}

// Throws with `message` unless `condition` holds.
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The line the Rust side of a scenario reads back (tests/api/browser_pages.rs).
export function report(result) {
  console.log(`result: ${JSON.stringify(result)}`);
}
