// What the browser tests share: how Chromium is started and the backtest form's submit, with
// the helpers that need no browser (common.mjs: progress lines, checks, polling, Redis, tokens,
// how a test ends) re-exported.

import { chromium } from 'playwright-core';
import { check } from './common.mjs';

export { check, mintToken, nowSecs, poll, redisCli, redisPublish, run, step } from './common.mjs';

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
