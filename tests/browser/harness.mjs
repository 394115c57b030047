// What both browser tests share: how Chromium is started, the timed progress lines, the check
// that fails a test, the backtest form's submit, and how a test ends (exit code 0 or 1).

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** As the machine's probe starts it: no sandbox (root), and none of the background connections
 * this closed network refuses. */
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
}

const started = Date.now();
/** A progress line, with the seconds since the test started. */
export const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** Submits the backtest form as it is filled; the new job's id (a refusal fails the check). */
export async function submitBacktest(page) {
  const before = await page.textContent('#backtest-form-status');
  await page.click('#backtest-submit');
  await page.waitForFunction((previous) => {
    const text = document.getElementById('backtest-form-status').textContent;
    return text !== previous && /^(submitted backtest_|not submitted)/.test(text);
  }, before);
  const status = await page.textContent('#backtest-form-status');
  check(status.startsWith('submitted '), `the backtest was accepted: ${status}`);
  return status.replace(/^submitted /, '').trim();
}

/** Runs `main` and exits: 0 with "NAME passed", 1 with the failure. */
export function run(name, main) {
  main().then(
    () => {
      step(`${name} passed`);
      process.exit(0);
    },
    (err) => {
      console.error(`${name} FAILED: ${err.stack || err}`);
      process.exit(1);
    },
  );
}
