// End-to-end test of the bundled dashboard: Debian's chromium, headless, driven by
// playwright-core against a running tickrouter (demo mode) with `tickrouter demo` publishing.
// scripts/browser-test.sh starts everything and runs this; it exits non-zero on any failure.
//
// Environment: TICKROUTER_URL (required, e.g. http://127.0.0.1:8080), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT (default docs/dashboard.png from the repository root).

import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASE = process.env.TICKROUTER_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT || path.join(ROOT, 'docs/dashboard.png');
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

if (!BASE) {
  console.error('TICKROUTER_URL is not set');
  process.exit(2);
}

const started = Date.now();
const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
  const problems = [];
  let expected400 = 0;
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      // Chromium logs every non-2xx fetch; the one deliberate 400 below is expected.
      if (expected400 > 0 && /status of 400/.test(msg.text())) {
        expected400 -= 1;
        return;
      }
      problems.push(`console error: ${msg.text()}`);
    });

    step(`opening ${BASE}/`);
    await page.goto(`${BASE}/`);
    await page.waitForSelector('#status[data-status="open"]');
    step('connected (status pill open)');
    await page.waitForFunction(() => document.getElementById('user-id').textContent.startsWith('demo'));

    // Pattern alerts from the demo's engine (one every ~2 s).
    await page.waitForFunction(() => document.querySelectorAll('#pattern-alerts-body tr').length >= 2);
    const alert = await page.$eval('#pattern-alerts-body tr', (row) =>
      [...row.cells].map((c) => c.textContent));
    check(/%$/.test(alert[3]), `pattern alert confidence column: ${alert}`);
    step(`pattern alerts arriving, e.g. ${alert.slice(1, 4).join(' ')}`);

    // Every watchlist tile gets a price.
    await page.waitForFunction(() => {
      const prices = [...document.querySelectorAll('#price-tiles .tile .price')];
      return prices.length >= 6 && prices.every((p) => /\d/.test(p.textContent));
    });
    step('every price tile filled');

    // A 400 from the API shows next to each field it names.
    await page.fill('#backtest-form input[name="initial_capital"]', '0');
    await page.fill('#backtest-form input[name="commission_rate"]', '0.5');
    expected400 = 1;
    await page.click('#backtest-submit');
    await page.waitForFunction(() =>
      document.querySelector('.field-error[data-field="initial_capital"]').textContent &&
      document.querySelector('.field-error[data-field="commission_rate"]').textContent);
    const fieldErrors = await page.$$eval('.field-error', (nodes) =>
      nodes.filter((n) => n.textContent).map((n) => n.dataset.field));
    check(fieldErrors.join() === 'initial_capital,commission_rate', `field errors shown: ${fieldErrors}`);
    step(`invalid submission refused, errors on ${fieldErrors.join(' and ')}`);

    // A valid backtest runs to 100 % and shows its result.
    await page.fill('#backtest-form input[name="initial_capital"]', '250000');
    await page.fill('#backtest-form input[name="commission_rate"]', '0.001');
    await page.fill('#backtest-form input[name="symbols"]', 'aapl, MSFT, NVDA');
    await page.check('#backtest-patterns input[value="MorningStar"]');
    const jobId = await submitBacktest(page);
    check(/^backtest_\d+_[0-9a-f]{8}$/.test(jobId), `job id format: ${jobId}`);
    const card = `#backtest-jobs li[data-job-id="${jobId}"]`;
    await page.waitForSelector(`${card}[data-status="running"]`);
    step(`${jobId} running`);
    await page.waitForSelector(`${card}[data-progress="100"]`);
    await page.waitForSelector(`${card}[data-status="completed"] .results[data-ready="true"]`);
    const results = await page.$$eval(`${card} .results div`, (divs) =>
      Object.fromEntries(divs.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
    for (const figure of ['win rate', 'ROI', 'Sharpe', 'max drawdown', 'trades']) {
      check(figure in results && /\d/.test(results[figure]), `result figure ${figure}: ${JSON.stringify(results)}`);
    }
    const width = await page.$eval(`${card} .bar span`, (bar) => bar.style.width);
    check(width === '100%', `progress bar width ${width}`);
    check(
      (await page.$eval(`${card} .job-summary`, (n) => n.textContent)).startsWith('AAPL, MSFT, NVDA'),
      'the card shows the normalised symbols',
    );
    step(`${jobId} completed: ${JSON.stringify(results)}`);

    // A long backtest is cancelled from its card.
    const many = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN', 'GOOGL', 'META', 'AMD', 'NFLX', 'INTC'];
    await page.fill('#backtest-form input[name="symbols"]', many.join(', '));
    const longJob = await submitBacktest(page);
    const longCard = `#backtest-jobs li[data-job-id="${longJob}"]`;
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.progress) >= 5, longCard);
    await page.click(`${longCard} button.cancel`);
    await page.waitForSelector(`${longCard}[data-status="cancelled"]`);
    step(`${longJob} cancelled from its card`);

    // The list survives a reload: the page loads the user's jobs from the API.
    await page.reload();
    await page.waitForSelector('#status[data-status="open"]');
    await page.waitForSelector(`${card}[data-status="completed"][data-progress="100"] .results[data-ready="true"]`);
    await page.waitForSelector(`${longCard}[data-status="cancelled"]`);
    step('after a reload both jobs are listed from GET /api/backtests');

    // Let the panels fill for the picture: producer health comes every 10 s.
    await page.waitForSelector('#system-health-status:not([data-level="unknown"])');
    await page.waitForFunction(() => document.querySelectorAll('#pattern-alerts-body tr').length >= 5);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    step(`screenshot saved to ${path.relative(ROOT, SCREENSHOT)}`);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`the page reported problems:\n  ${problems.join('\n  ')}`);
}

async function submitBacktest(page) {
  const before = await page.textContent('#backtest-form-status');
  await page.click('#backtest-submit');
  await page.waitForFunction((previous) => {
    const text = document.getElementById('backtest-form-status').textContent;
    return text !== previous && /^submitted backtest_/.test(text);
  }, before);
  const status = await page.textContent('#backtest-form-status');
  return status.replace(/^submitted /, '').trim();
}

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

main().then(
  () => {
    step('browser test passed');
    process.exit(0);
  },
  (err) => {
    console.error(`browser test FAILED: ${err.stack || err}`);
    process.exit(1);
  },
);
