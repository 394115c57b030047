// Signing in to the bundled dashboard outside demo mode: Debian's chromium, headless, driven by
// playwright-core against a tickrouter with a JWT secret and no demo mode (and the demo producer
// publishing on its Redis, whose backtester answers jobs). scripts/browser-test.sh starts
// everything and runs this after dashboard.test.mjs; it exits non-zero on any failure.
//
// Environment: TICKROUTER_URL (required: the server with a secret, not in demo mode), JWT_SECRET
// (required: its secret; the test mints HS256 tokens with it), TICKROUTER_NOAUTH_URL (optional:
// a server with no secret, where the page must offer no sign-in), CHROMIUM (default
// /usr/bin/chromium).
//
// Every page fails the test on a console error or a page error, except the few refusals a page
// provokes on purpose (a refused token shows as a 401 in the console), on any 404, and on any
// request for /api/demo-token: outside demo mode the page asks GET /api/info instead.

import { checkLayout } from './layout.mjs';
import { check, launch, mintToken, nowSecs, run, step, submitBacktest } from './harness.mjs';

const BASE = process.env.TICKROUTER_URL;
const NOAUTH = process.env.TICKROUTER_NOAUTH_URL || '';
const SECRET = process.env.JWT_SECRET;
/** The dashboard's sessionStorage key for the user's token (static/dashboard.js STORAGE_TOKEN). */
const STORAGE_TOKEN = 'tickrouter.dashboard.token';
/** What Chromium logs when the server refuses a token: the upgrade, and tickrouter.js's probe or an API call. */
const REFUSAL_ERRORS = [/WebSocket connection to '[^']*' failed/, /status of 401/];

if (!BASE || !SECRET) {
  console.error('TICKROUTER_URL and JWT_SECRET must be set');
  process.exit(2);
}


/** An HS256 JWT, as the server's secret (or another) signs it. */
const mint = (claims, secret = SECRET) => mintToken(claims, secret);

async function main() {
  const browser = await launch();
  const problems = [];
  /** Each page is its own browser context: its own sessionStorage, like a new tab opened from a link. */
  const openPage = async (name, { allow = [] } = {}) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      if (allow.some((re) => re.test(msg.text()))) return;
      problems.push(`${name}: console error: ${msg.text()}`);
    });
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/api/demo-token') problems.push(`${name}: asked for a demo token: ${req.url()}`);
    });
    page.on('response', (res) => {
      if (res.status() === 404) problems.push(`${name}: 404 for ${res.url()}`);
    });
    return page;
  };

  try {
    const user = `alice-${Date.now().toString(36)}`;
    const token = mint({ sub: user, exp: nowSecs() + 3600 });

    // ---- anonymous: the sign-in form, and nothing that needs a user -----------------------
    const page = await openPage('tab');
    const info = page.waitForResponse((res) => new URL(res.url()).pathname === '/api/info');
    step(`opening ${BASE}/ with no token`);
    await page.goto(`${BASE}/`);
    check((await (await info).json()).demo_mode === false, 'GET /api/info says demo mode is off');
    await connectedAs(page, 'anonymous');
    await page.waitForSelector('#signin[data-state="anonymous"] #signin-form:not([hidden]) #signin-token');
    check(await page.$eval('#signout', (b) => b.hidden), 'no Sign out button while anonymous');
    check(await page.$eval('#preferences', (p) => p.hidden), 'no alert rules panel while anonymous');
    check(await page.$eval('#backtest-submit', (b) => b.disabled), 'backtests cannot be submitted anonymously');
    check(/sign in/i.test(await page.textContent('#backtests-note')), 'the backtests panel says to sign in');
    step('anonymous: the sign-in form is shown; no demo token asked for, no 404, no console error');
    step(`layout, anonymous with the sign-in bar: ${await checkLayout(page, { width: 1280, height: 900, fold: 'pattern-alerts', label: 'anonymous' })}`);

    // Tokens the page can tell are unusable are refused without a round trip.
    await signInWith(page, 'not a token');
    await page.waitForFunction(() => document.getElementById('signin').dataset.state === 'refused' &&
      /not a token/.test(document.getElementById('signin-status').textContent));
    await signInWith(page, mint({ sub: user, exp: nowSecs() - 3600 }));
    await page.waitForFunction(() => /expired/.test(document.getElementById('signin-status').textContent));
    check(await page.$eval('#signin-token', (i) => i.getAttribute('aria-invalid') === 'true'), 'the token field is marked invalid');
    check((await page.textContent('#user-id')) === 'anonymous', 'still anonymous after unusable tokens');
    check((await storedToken(page)) === null, 'an unusable token is not kept');
    step('a malformed and an expired token are refused in the page, with the reason');

    // ---- sign in by pasting the token -------------------------------------------------------
    await signInWith(page, token);
    await connectedAs(page, user);
    await page.waitForSelector('#signin', { state: 'hidden' });
    await page.waitForSelector('#signout:not([hidden])');
    await prefsLoaded(page);
    check((await page.$eval('#signin-token', (i) => i.value)) === '', 'the form forgets the pasted token');
    check((await storedToken(page)) === token, 'the token is kept in sessionStorage');
    check(!(await page.evaluate(() => JSON.stringify({ ...localStorage }))).includes(token), 'the token is not in localStorage');
    step(`signed in by pasting a token: the top bar shows ${user}, the alert rules panel loaded`);
    step(`layout, signed in: ${await checkLayout(page, { width: 1280, height: 900, fold: 'pattern-alerts', label: 'signed in' })}`);

    // ---- a backtest from the form: listed, then progress and results from the backtester ----
    check(!(await page.$eval('#backtest-submit', (b) => b.disabled)), 'backtests can be submitted once signed in');
    await page.fill('#backtest-form input[name="symbols"]', 'aapl, MSFT');
    const jobId = await submitBacktest(page);
    const card = `#backtest-jobs li[data-job-id="${jobId}"]`;
    await page.waitForSelector(card);
    step(`${jobId} submitted and listed`);
    await page.waitForSelector(`${card}[data-status="completed"][data-progress="100"] .results[data-ready="true"]`, { timeout: 90_000 });
    step(`${jobId} completed with results (backtest_progress / backtest_result reached ${user})`);

    // ---- a reload stays signed in (sessionStorage) -----------------------------------------
    await page.reload();
    await connectedAs(page, user);
    await page.waitForSelector('#signin', { state: 'hidden' });
    await page.waitForSelector(`${card}[data-status="completed"]`);
    step('after a reload: still signed in, the job listed from GET /api/backtests');

    // ---- a link with #token=: gone from the address bar at once, then signed in -----------
    const linked = await openPage('#token link');
    await linked.goto(`${BASE}/?from=link#token=${token}`, { waitUntil: 'domcontentloaded' });
    // The module runs before DOMContentLoaded; the fragment must already be gone, and stay gone.
    const href = await linked.evaluate(() => location.href);
    check(!href.includes('token') && !href.includes('#'), `the fragment left the address bar at once: ${href}`);
    check(href === `${BASE}/?from=link`, `the rest of the URL is kept: ${href}`);
    await connectedAs(linked, user);
    check(!linked.url().includes('token'), `no token in the URL after signing in: ${linked.url()}`);
    check((await storedToken(linked)) === token, 'the linked token is kept in sessionStorage');
    await linked.waitForSelector(`${card}[data-status="completed"]`);
    step(`opened /#token=…: the fragment was gone by DOMContentLoaded, signed in as ${user}`);
    await linked.close();

    // ---- sign out: anonymous again, and after a reload too ---------------------------------
    await page.click('#signout');
    await connectedAs(page, 'anonymous');
    await page.waitForSelector('#signin[data-state="anonymous"] #signin-form:not([hidden])');
    check((await storedToken(page)) === null, 'sign out forgets the token');
    check(await page.$eval('#signout', (b) => b.hidden), 'no Sign out button after signing out');
    check(await page.$eval('#preferences', (p) => p.hidden), 'the alert rules panel is hidden after signing out');
    check((await page.$$(`${card}`)).length === 0, 'the signed-out page no longer lists the user\'s jobs');
    await page.reload();
    await connectedAs(page, 'anonymous');
    await page.waitForSelector('#signin[data-state="anonymous"] #signin-form:not([hidden])');
    step('signed out: anonymous again, the form is back, and a reload stays anonymous');

    // ---- a token the server refuses on the upgrade: said so, the form again ----------------
    const refused = await openPage('refused token', { allow: REFUSAL_ERRORS });
    await refused.goto(`${BASE}/#token=${mint({ sub: user, exp: nowSecs() + 3600 }, `${SECRET}-not-it`)}`);
    await refused.waitForSelector('#signin[data-state="refused"] #signin-form:not([hidden])');
    check(/401/.test(await refused.textContent('#signin-status')), `the page says the server refused it: ${await refused.textContent('#signin-status')}`);
    await connectedAs(refused, 'anonymous');
    check((await storedToken(refused)) === null, 'a refused token is forgotten');
    step(`a wrongly signed token: "${(await refused.textContent('#signin-status')).split('.')[0]}", anonymous, form offered`);
    // ... and signing in from that form works.
    await signInWith(refused, token);
    await connectedAs(refused, user);
    await refused.waitForSelector('#signin', { state: 'hidden' });
    step('signed in from the form offered after the refusal');
    await refused.close();

    // ---- a token that expires while the tab is open: a 401 signs the tab out ----------------
    // The server closes the session at `exp` (token_expired) and the client reconnects with the
    // same token, accepted within the 5 s leeway and refused with 401 after it; the API refuses
    // it after the leeway too. Whichever 401 the page meets first signs it out: an API call made
    // past the leeway (Discard changes reloads the rules) when the reconnects have not yet.
    const expiring = await openPage('expiring token', { allow: REFUSAL_ERRORS });
    const exp = nowSecs() + 3;
    await expiring.goto(`${BASE}/#token=${mint({ sub: user, exp })}`);
    await connectedAs(expiring, user);
    await prefsLoaded(expiring);
    // Past the server's 5 s of leeway: a condition on the clock, not a fixed sleep.
    await expiring.waitForFunction((until) => Date.now() > until, (exp + 6) * 1000, { timeout: 20_000 });
    // Checked and clicked in one go in the page: the socket may sign the tab out at any moment.
    const by = await expiring.evaluate(() => {
      if (document.getElementById('preferences').hidden) return 'the WebSocket reconnect';
      document.getElementById('prefs-reload').click();
      return 'the API';
    });
    await expiring.waitForSelector('#signin[data-state="refused"] #signin-form:not([hidden])');
    check(/401/.test(await expiring.textContent('#signin-status')), `the page says the server refused it: ${await expiring.textContent('#signin-status')}`);
    await connectedAs(expiring, 'anonymous');
    check((await storedToken(expiring)) === null, 'the expired token is forgotten');
    step(`a token that expired while open: ${by} answered 401, the page says so, offers the form, anonymous`);
    await expiring.close();

    // ---- no secret on the server: no sign-in at all ----------------------------------------
    if (NOAUTH) {
      const open = await openPage('server without a secret');
      await open.goto(`${NOAUTH}/`);
      await connectedAs(open, 'anonymous');
      await open.waitForSelector('#signin[data-state="no-auth"]');
      check(await open.$eval('#signin-form', (f) => f.hidden), 'no sign-in form when the server checks no tokens');
      check(/anonymous/.test(await open.textContent('#signin-status')), 'the page says sessions are anonymous');
      await open.close();
      // A link with a token: still taken out of the URL, and not used.
      const link = await openPage('server without a secret, #token link');
      await link.goto(`${NOAUTH}/#token=${token}`, { waitUntil: 'domcontentloaded' });
      check(!(await link.evaluate(() => location.href)).includes('token'), 'the fragment is removed here too');
      await connectedAs(link, 'anonymous');
      check(/not used/.test(await link.textContent('#signin-status')), 'the page says the token was not used');
      check((await storedToken(link)) === null, 'the unused token is not kept');
      step('server without a secret: no sign-in form, "every session is anonymous"; a #token link is ignored');
      await link.close();
    }
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`the pages reported problems:\n  ${problems.join('\n  ')}`);
  step('no console errors, no 404, no demo token asked for');
}

/** The socket is open and connection_confirmed named `who` ('anonymous' or a user id). */
async function connectedAs(page, who) {
  await page.waitForFunction((name) =>
    document.getElementById('status').dataset.status === 'open' &&
    document.getElementById('user-id').textContent === name, who);
}

async function signInWith(page, token) {
  await page.fill('#signin-token', token);
  await page.click('#signin-submit');
}

const storedToken = (page) => page.evaluate((key) => sessionStorage.getItem(key), STORAGE_TOKEN);

/** The preferences panel is shown and loaded (GET /api/me/alert-rules answered 200). */
async function prefsLoaded(page) {
  await page.waitForSelector('#preferences:not([hidden]) #prefs-status:is([data-state="loaded"], [data-state="error"])');
  const status = await page.$eval('#prefs-status', (n) => [n.dataset.state, n.textContent]);
  check(status[0] === 'loaded', `the preferences panel loads: ${status[1]}`);
}

run('sign-in browser test', main);
