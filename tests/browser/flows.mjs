// ferrid's sign-in pages in headless Chromium, one scenario per run (run by
// tests/api/browser_pages.rs, which starts ferrid and prepares users, second factors and the
// upstream provider). A relying party in this process (lib/rp.mjs) registers itself, starts each
// flow and checks what comes back.
//
// usage: node flows.mjs <scenario> <json parameters>
//   parameters: issuer, email, password, screenshots (a directory), and per scenario
//   totp_secret + totp_time (totp), mail_dir + new_password (password_reset),
//   upstream + upstream_email (google).

import { check, report, runScenario } from './lib/browser.mjs';
import { waitForMail } from './lib/mail.mjs';
import { allow, button, field, heading, recordPaths, signIn, waitForPage } from './lib/pages.mjs';
import { startRelyingParty } from './lib/rp.mjs';
import { totp } from './lib/totp.mjs';

// Waits for the RP's callback and checks that it signed in to `client`.
async function landAtRp({ page, rp }, client) {
  await page.waitForURL(rp.isCallback);
  // The RP shows what it refused (an error response, a bad code or ID token): fail with that.
  const refused = page.locator('#error');
  if (await refused.count()) throw new Error(`the RP did not sign in: ${await refused.innerText()}`);
  await heading(page, `Signed in to ${client}`).waitFor();
  const last = rp.signIns.at(-1);
  check(last?.client === client, `the RP recorded ${JSON.stringify(last)}`);
  return last.claims;
}

// From the RP's sign-in link through ferrid's login and consent pages and back.
async function signInThroughPages(flow, client) {
  const { page, rp, screenshots } = flow;
  await page.goto(rp.signInUrl(client));
  await waitForPage(page, '/login');
  await screenshots.take(page, 'login');
  await signIn(page, params.email, params.password);
  await waitForPage(page, '/consent');
  await page.getByText(client).first().waitFor();
  await screenshots.take(page, 'consent');
  await allow(page);
  return landAtRp(flow, client);
}

// (a) OIDC Core §3.1: authorize → login → consent → code at the RP, redeemed, ID token checked.
// The login and consent pages are also shown 320 px wide, the narrowest phone (WCAG 1.4.10).
async function signInAndConsent(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  const claims = await signInThroughPages(flow, 'Photos');
  await screenshots.take(page, 'signed-in');

  await page.setViewportSize({ width: 320, height: 640 });
  await rp.register('Notes');
  await page.goto(rp.signInUrl('Notes'));
  await waitForPage(page, '/consent');
  await expectNoSideways(page);
  await screenshots.take(page, 'consent-320px');
  await page.goto(`${params.issuer}/logout`);
  await button(page, /^\s*sign out/i).click();
  await page.goto(rp.signInUrl('Notes'));
  await waitForPage(page, '/login');
  await expectNoSideways(page);
  await screenshots.take(page, 'login-320px');
  report({ claims });
}

// WCAG 1.4.10 (reflow): nothing is cut off or needs scrolling sideways.
async function expectNoSideways(page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => {
    const { scrollWidth, clientWidth } = document.documentElement;
    return { scrollWidth, clientWidth };
  });
  check(scrollWidth <= clientWidth, `the page scrolls sideways: ${scrollWidth} px in ${clientWidth} px`);
}

// (b) Single sign-on: a second client's authorization reuses the session (OIDC Core §3.1.2.3:
// re-authentication is not required), so only its consent page is shown.
async function singleSignOn(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  await rp.register('Notes');
  const first = await signInThroughPages(flow, 'Photos');
  await screenshots.take(page, 'signed-in-first-client');

  const paths = recordPaths(page);
  await page.goto(rp.signInUrl('Notes'));
  await page.waitForURL((url) => url.pathname === '/consent' || rp.isCallback(url));
  check(!paths.includes('/login'), `the second client showed the login page: ${paths.join(' → ')}`);
  if (new URL(page.url()).pathname === '/consent') {
    await screenshots.take(page, 'consent-second-client');
    await allow(page);
  }
  const second = await landAtRp(flow, 'Notes');
  await screenshots.take(page, 'signed-in-second-client');
  check(second.sub === first.sub, 'the same user at both clients');
  check(second.auth_time === first.auth_time, 'one authentication (auth_time) for both');
  report({ first, second, paths });
}

// (c) RFC 6238: after the password the login asks for the authenticator's code.
async function secondStep(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  await page.goto(rp.signInUrl('Photos'));
  await waitForPage(page, '/login');
  await screenshots.take(page, 'login');
  await signIn(page, params.email, params.password);
  await field(page, 'code').waitFor();
  await screenshots.take(page, 'second-step');
  await field(page, 'code').fill(totp(params.totp_secret, params.totp_time));
  await button(page, /^\s*verify/i).click();
  await waitForPage(page, '/consent');
  await screenshots.take(page, 'consent');
  await allow(page);
  const claims = await landAtRp(flow, 'Photos');
  await screenshots.take(page, 'signed-in');
  report({ claims });
}

// (d) A forgotten password: the login page's link, the mail, the mailed link, a new password,
// and a sign-in with it (the old one refused).
async function passwordReset(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  await page.goto(rp.signInUrl('Photos'));
  await waitForPage(page, '/login');
  await screenshots.take(page, 'login');
  await page.getByRole('link', { name: /forgot/i }).click();
  await waitForPage(page, '/password/forgot');
  await screenshots.take(page, 'forgot-password');
  await field(page, 'email').fill(params.email);
  await button(page, /send the link/i).click();
  await heading(page, /check your mail/i).waitFor();
  await screenshots.take(page, 'check-your-mail');

  const link = await waitForMail(params.mail_dir, /\S*\/password\/reset\?token=[A-Za-z0-9_-]+/);
  await page.goto(new URL(link, params.issuer).href);
  await screenshots.take(page, 'choose-new-password');
  await field(page, 'password').fill(params.new_password);
  await field(page, 'confirm').fill(params.new_password);
  await button(page, /set the new password/i).click();
  await heading(page, /password changed/i).waitFor();
  await screenshots.take(page, 'password-changed');

  await page.goto(rp.signInUrl('Photos'));
  await waitForPage(page, '/login');
  await signIn(page, params.email, params.password);
  await page.getByRole('alert').waitFor();
  await screenshots.take(page, 'old-password-refused');
  await signIn(page, params.email, params.new_password);
  await waitForPage(page, '/consent');
  await allow(page);
  const claims = await landAtRp(flow, 'Photos');
  await screenshots.take(page, 'signed-in-with-new-password');
  report({ claims });
}

// (e) OIDC RP-Initiated Logout 1.0: with the ID token as hint ferrid ends the session and returns
// to the registered post_logout_redirect_uri with the state (§2, §3); with only client_id the
// user confirms first. Either way the next authorization shows the login page again.
async function rpInitiatedLogout(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  await signInThroughPages(flow, 'Photos');
  await screenshots.take(page, 'signed-in');

  const logoutPages = [];
  for (const hint of [true, false]) {
    const paths = recordPaths(page);
    await page.goto(rp.signOutUrl('Photos', { hint }));
    await page.waitForURL((url) => url.pathname === '/logout' || rp.isSignedOut(url));
    if (new URL(page.url()).pathname === '/logout') {
      await page.getByText('Photos').first().waitFor();
      await screenshots.take(page, `logout-confirmation-${hint ? 'with' : 'without'}-hint`);
      await button(page, /^\s*sign out/i).click();
    }
    await page.waitForURL(rp.isSignedOut);
    await heading(page, 'Signed out').waitFor();
    await screenshots.take(page, `signed-out-${hint ? 'with' : 'without'}-hint`);
    logoutPages.push(paths.filter((path) => path === '/logout').length);

    // The session is gone: the login page again.
    await page.goto(rp.signInUrl('Photos'));
    await waitForPage(page, '/login');
    await screenshots.take(page, `login-after-logout-${hint ? 'with' : 'without'}-hint`);
    if (hint) {
      await signIn(page, params.email, params.password);
      await landAtRp(flow, 'Photos'); // consent is remembered
    }
  }
  check(rp.signOuts.length === 2, `${rp.signOuts.length} returns from logout`);
  check(logoutPages[0] === 0, "with the RP's hint for this session ferrid signs out without asking");
  check(logoutPages[1] === 1, 'without a hint ferrid asks before signing out');
  report({ signOuts: rp.signOuts.length });
}

// (f) "Continue with Google" against an upstream OpenID provider (another ferrid, on
// localhost so that its cookies stay apart): its login and consent, then ferrid's consent.
async function continueWithGoogle(flow) {
  const { page, rp, screenshots } = flow;
  const upstream = new URL(params.upstream).origin;
  await rp.register('Photos');
  await page.goto(rp.signInUrl('Photos'));
  await waitForPage(page, '/login');
  await screenshots.take(page, 'login-with-google-button');
  await page.getByRole('link', { name: /continue with google/i }).click();
  await waitForPage(page, '/login', upstream);
  await screenshots.take(page, 'google-login');
  await signIn(page, params.upstream_email, params.password);
  await waitForPage(page, '/consent', upstream);
  await screenshots.take(page, 'google-consent');
  await allow(page);
  await waitForPage(page, '/consent', new URL(params.issuer).origin);
  await screenshots.take(page, 'consent');
  await allow(page);
  const claims = await landAtRp(flow, 'Photos');
  await screenshots.take(page, 'signed-in');
  report({ claims });
}

// What has the keyboard focus, and whether the focus is visible (WCAG 2.4.7): the element
// matches :focus-visible and draws an outline or a shadow.
async function focused(page) {
  return page.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    return {
      tag: element.tagName.toLowerCase(),
      name: element.getAttribute('name'),
      text: element.matches('a, button, summary') ? element.innerText.trim() : '',
      visible: element.matches(':focus-visible') && (outline || style.boxShadow !== 'none'),
    };
  });
}

const describe = (focus) => `${focus.tag}${focus.name ? `[name=${focus.name}]` : ''}${focus.text ? ` "${focus.text}"` : ''}`;

// Presses Tab (at most 15 times) until `wanted` holds for the focused element; returns every
// element the focus passed, ending with the wanted one.
async function tabTo(page, wanted, what) {
  const passed = [];
  for (let presses = 0; presses <= 15; presses++) {
    const focus = await focused(page);
    passed.push(focus);
    if (wanted(focus)) return passed;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached ${what}: ${passed.map(describe).join(' → ')}`);
}

async function expectFocus(page, wanted, what) {
  const focus = await focused(page);
  check(wanted(focus), `expected the focus on ${what}, it is on ${describe(focus)}`);
  check(focus.visible, `the focus on ${what} is not visible`);
  return focus;
}

// (h) Keyboard only (WCAG 2.1.1, 2.4.3, 2.4.7): from the RP's link, the login and consent pages
// are completed with Tab, Shift+Tab, typing, Enter and Space; the focus follows the form's order
// and is always visible.
async function keyboardOnly(flow) {
  const { page, rp, screenshots } = flow;
  const isEmail = (focus) => focus.name === 'email';
  const isPassword = (focus) => focus.name === 'password';
  const isSignIn = (focus) => focus.tag === 'button' && /sign in/i.test(focus.text);
  await rp.register('Photos');
  await page.goto(rp.signInUrl('Photos'));
  await waitForPage(page, '/login');

  const before = await tabTo(page, isEmail, 'the email field');
  check(!before.slice(0, -1).some((focus) => focus.tag === 'input'), 'the email field is the first field');
  await expectFocus(page, isEmail, 'the email field');
  await page.keyboard.type(params.email);
  await page.keyboard.press('Tab');
  await expectFocus(page, isPassword, 'the password field');
  await page.keyboard.type(params.password);
  await page.keyboard.press('Tab');
  await expectFocus(page, isSignIn, 'the sign-in button');
  await page.keyboard.press('Shift+Tab');
  await expectFocus(page, isPassword, 'the password field, backwards');
  await page.keyboard.press('Tab');
  await expectFocus(page, isSignIn, 'the sign-in button');
  await page.keyboard.press('Tab');
  await expectFocus(page, (focus) => focus.tag === 'a' && /forgot/i.test(focus.text), 'the forgot-password link');
  await page.keyboard.press('Shift+Tab');
  await expectFocus(page, isSignIn, 'the sign-in button, backwards');
  await screenshots.take(page, 'login-sign-in-button-focused');
  await page.keyboard.press('Enter');

  await waitForPage(page, '/consent');
  const isAllow = (focus) => focus.tag === 'button' && /^allow/i.test(focus.text);
  const isDeny = (focus) => focus.tag === 'button' && /^deny/i.test(focus.text);
  const order = await tabTo(page, isDeny, 'the deny button');
  check(order.some(isAllow), `Allow comes before Deny: ${order.map(describe).join(' → ')}`);
  await expectFocus(page, isDeny, 'the deny button');
  await page.keyboard.press('Shift+Tab');
  await expectFocus(page, isAllow, 'the allow button');
  await screenshots.take(page, 'consent-allow-focused');
  await page.keyboard.press('Space');
  const claims = await landAtRp(flow, 'Photos');
  await screenshots.take(page, 'signed-in');
  report({ claims, consentOrder: order.map(describe) });
}

// (i) JavaScript off: the login and consent pages are plain forms and still work.
async function withoutJavaScript(flow) {
  const { page, rp, screenshots } = flow;
  await rp.register('Photos');
  const claims = await signInThroughPages(flow, 'Photos');
  // The RP's page says whether its script ran: it must not have.
  await page.getByText('JavaScript is off').waitFor();
  await screenshots.take(page, 'signed-in-without-javascript');
  report({ claims });
}

// Last, so that every function and constant above exists when the scenario runs.
const [name, json] = process.argv.slice(2);
const scenarios = {
  sign_in: signInAndConsent,
  sso: singleSignOn,
  totp: secondStep,
  password_reset: passwordReset,
  logout: rpInitiatedLogout,
  google: continueWithGoogle,
  keyboard: keyboardOnly,
  no_javascript: withoutJavaScript,
};
if (!scenarios[name] || !json) {
  console.error(`usage: node flows.mjs <${Object.keys(scenarios).join('|')}> <json parameters>`);
  process.exit(2);
}
const params = JSON.parse(json);
const options = { javaScriptEnabled: name !== 'no_javascript' };

await runScenario(name, params.screenshots, options, async (browser) => {
  const rp = await startRelyingParty(params.issuer);
  try {
    await scenarios[name]({ ...browser, rp });
  } finally {
    await rp.close();
  }
});
