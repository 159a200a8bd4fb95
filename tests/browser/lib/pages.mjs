// ferrid's pages as a person uses them. Elements are found by form field name, label text or
// role only: the page design may change, field names, form actions and English labels do not.

export const field = (page, name) => page.locator(`input[name="${name}"]`);

export const button = (page, name) => page.getByRole('button', { name });

export const heading = (page, name) => page.getByRole('heading', { name });

// Waits until the browser shows `pathname` (on `origin`, when given).
export async function waitForPage(page, pathname, origin) {
  await page.waitForURL((url) => url.pathname === pathname && (!origin || url.origin === origin));
}

// Fills in the sign-in form and submits it.
export async function signIn(page, email, password) {
  await field(page, 'email').fill(email);
  await field(page, 'password').fill(password);
  await button(page, /^\s*sign in\s*$/i).click();
}

// Allows access on the consent page.
export async function allow(page) {
  await button(page, /^\s*allow/i).click();
}

// The main frame's path after each navigation, to tell afterwards which pages were shown.
export function recordPaths(page) {
  const paths = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) paths.push(new URL(frame.url()).pathname);
  });
  return paths;
}
