// End-to-end test of the bundled dashboard: Debian's chromium, headless, driven by
// playwright-core against a running tickrouter (demo mode) with `tickrouter demo` publishing.
// scripts/browser-test.sh starts everything and runs this; it exits non-zero on any failure.
//
// Environment: TICKROUTER_URL (required, e.g. http://127.0.0.1:8080), CHROMIUM (default
// /usr/bin/chromium), SCREENSHOT (where the 1440x900 picture of the admin tab goes; default
// tickrouter-dashboard.png in the system's temporary directory, never the source tree: the
// README's docs/dashboard.png is refreshed only when asked, SCREENSHOT=docs/dashboard.png
// scripts/browser-test.sh), and the Redis tickrouter reads, for publishing a producer error:
// REDIS_SOCKET (a Unix socket path, as scripts/browser-test.sh gives) or REDIS_URL
// (redis://host:port), used through redis-cli.

import { fileURLToPath } from 'node:url';
import path from 'node:path';
import os from 'node:os';
import { checkLayout } from './layout.mjs';
import { check, launch, poll, redisPublish, run, step, submitBacktest } from './harness.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BASE = process.env.TICKROUTER_URL;
const SCREENSHOT = path.resolve(process.env.SCREENSHOT || path.join(os.tmpdir(), 'tickrouter-dashboard.png'));
/** The layout is checked at these window sizes; the first is the screenshot's. */
const SCREEN = { width: 1440, height: 900 };
const WIDE_SIZES = [{ width: 1280, height: 900 }, { width: 1920, height: 1080 }];

if (!BASE) {
  console.error('TICKROUTER_URL is not set');
  process.exit(2);
}


const WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN', 'GOOGL'];

async function main() {
  const browser = await launch();
  const problems = [];
  // Chromium logs every non-2xx fetch; the deliberate 400s below are expected, per page.
  const expected400 = new Map();
  const openPage = async (name) => {
    const page = await browser.newPage({ viewport: SCREEN });
    page.setDefaultTimeout(30_000);
    expected400.set(page, 0);
    page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      if (expected400.get(page) > 0 && /status of 400/.test(msg.text())) {
        expected400.set(page, expected400.get(page) - 1);
        return;
      }
      problems.push(`${name}: console error: ${msg.text()}`);
    });
    return page;
  };
  const expect400 = (page) => expected400.set(page, expected400.get(page) + 1);
  try {
    const page = await openPage('dashboard');
    const frames = recordFrames(page);

    step(`opening ${BASE}/`);
    await page.goto(`${BASE}/`);
    await page.waitForSelector('#status[data-status="open"]');
    step('connected (status pill open)');
    await page.waitForFunction(() => document.getElementById('user-id').textContent.startsWith('demo'));
    check(await page.$eval('#admin', (n) => n.hidden), 'no admin panel without the admin role');
    check(await page.$eval('#signin', (n) => n.hidden), 'no sign-in bar in demo mode (the page takes a demo token)');
    check(await page.$eval('#signout', (n) => n.hidden), 'no Sign out button for the demo token');
    await prefsLoaded(page);
    step('signed in as demo: preferences panel loaded, no admin panel');

    // The same user in a second tab, with the admin role: the errors panel, and the other end
    // of every preferences_changed below.
    const admin = await openPage('admin tab');
    await admin.goto(`${BASE}/?admin=1`);
    await admin.waitForSelector('#status[data-status="open"]');
    await admin.waitForFunction(() => document.getElementById('user-id').textContent === 'demo (admin)');
    await admin.waitForSelector('#admin:not([hidden]) #admin-status[data-state="loaded"]');
    await prefsLoaded(admin);
    step('second tab /?admin=1: signed in as demo (admin), errors panel loaded');

    // Pattern alerts from the demo's engine (one every ~2 s).
    await page.waitForFunction(() => document.querySelectorAll('#pattern-alerts-body tr').length >= 2);
    const alert = await page.$eval('#pattern-alerts-body tr', (row) =>
      [...row.cells].map((c) => c.textContent));
    check(/%$/.test(alert[3]), `pattern alert confidence column: ${alert}`);
    step(`pattern alerts arriving, e.g. ${alert.slice(1, 4).join(' ')}`);

    // A signed-in session follows its user's stored watchlist: the demo producer stores one for
    // the demo user (the demo's first six symbols) unless the user saved their own.
    await page.waitForSelector('#watchlist-source[data-source="stored"]');
    // The tiles and the source line show exactly `symbols` (sorted), from the stored watchlist.
    const tilesFollow = (symbols) => {
      const shown = [...document.querySelectorAll('#price-tiles .tile')].map((t) => t.dataset.symbol).sort();
      const source = document.getElementById('watchlist-source');
      return source.dataset.source === 'stored' && source.dataset.symbols.split(',').sort().join() === symbols.join() &&
        shown.join() === symbols.join();
    };
    await page.waitForFunction(tilesFollow, [...WATCHLIST].sort());
    step(`the page follows the demo user's stored watchlist: ${[...WATCHLIST].sort().join(' ')}`);

    // The form stores another one (PUT /api/me/watchlist), and every session that follows it moves.
    const saved = [...WATCHLIST.filter((s) => s !== 'GOOGL'), 'AMD'];
    await page.fill('#watchlist-input', saved.map((s) => s.toLowerCase()).join(', '));
    await page.click('#watchlist-submit');
    await page.waitForSelector('#watchlist-status[data-state="saved"]');
    const sorted = [...saved].sort();
    await page.waitForFunction(tilesFollow, sorted);
    await admin.waitForFunction(tilesFollow, sorted);
    check(
      /stored watchlist/.test(await page.textContent('#watchlist-source')),
      `the source says stored: ${await page.textContent('#watchlist-source')}`,
    );
    step(`stored watchlist saved from the form; both tabs follow it: ${sorted.join(' ')}`);

    // Changed in the other tab: this one follows too (preferences_changed).
    const moved = [...sorted, 'META'].sort();
    await admin.fill('#watchlist-input', moved.join(', '));
    await admin.click('#watchlist-submit');
    await admin.waitForSelector('#watchlist-status[data-state="saved"]');
    await page.waitForFunction(tilesFollow, moved);
    step('stored watchlist changed in the other tab: tiles follow (META added)');

    // Every watchlist tile gets a price.
    await page.waitForFunction(() => {
      const prices = [...document.querySelectorAll('#price-tiles .tile .price')];
      return prices.length >= 6 && prices.every((p) => /\d/.test(p.textContent));
    });
    step('every price tile filled');
    await tilesShowTheDay(page, frames);
    await chartOfTheSelectedSymbol(page);
    await layoutAtEverySize(page, 'demo user');

    await alertRulesRoundTrip(page, admin, expect400);
    await adminErrors(admin);
    await adminGroups(admin);
    await sortAndFilterAlerts(page);

    // A 400 from the API shows next to each field it names.
    await page.fill('#backtest-form input[name="initial_capital"]', '0');
    await page.fill('#backtest-form input[name="commission_rate"]', '0.5');
    expect400(page);
    await page.click('#backtest-submit');
    await page.waitForFunction(() =>
      document.querySelector('.field-error[data-field="initial_capital"]').textContent &&
      document.querySelector('.field-error[data-field="commission_rate"]').textContent);
    const fieldErrors = await page.$$eval('#backtest-form .field-error', (nodes) =>
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
    await prefsLoaded(page);
    await page.waitForFunction(tilesFollow, moved);
    step('after a reload the page still follows the stored watchlist and shows the stored rules');

    // The picture is of the admin tab, which has every panel; a few stored rules show the
    // rules editor (the checks are done, so filtering alerts no longer matters). Producer health
    // comes every 10 s.
    await admin.bringToFront();
    for (const [pattern, min, symbols] of [['Doji', '0.6', ''], ['Hammer', '0.5', 'AAPL, MSFT']]) {
      await admin.click('#prefs-add-sub');
      await admin.fill('#prefs-subs tr:last-child [name="sub_pattern"]', pattern);
      await admin.fill('#prefs-subs tr:last-child [name="sub_min_confidence"]', min);
      await admin.fill('#prefs-subs tr:last-child [name="sub_symbols"]', symbols);
    }
    await admin.fill('#prefs-form [name="max_alerts_per_hour"]', '500');
    await admin.click('#prefs-save');
    await admin.waitForSelector('#prefs-status[data-state="saved"]');
    await admin.waitForSelector('#system-health-status:not([data-level="unknown"])');
    await admin.waitForFunction(() => document.querySelectorAll('#pattern-alerts-body tr').length >= 5);
    await admin.waitForFunction(() => {
      const prices = [...document.querySelectorAll('#price-tiles .tile .price')];
      return prices.length >= 6 && prices.every((p) => /\d/.test(p.textContent));
    });
    await figuresHaveUnits(admin);
    await faviconServed(admin);
    await layoutAtEverySize(admin, 'admin tab');
    // The picture: what a 1440x900 window shows, the chart with a few bars in it.
    await admin.waitForFunction(() => Number(document.getElementById('chart-note').dataset.bars) >= 3);
    await admin.evaluate(() => window.scrollTo(0, 0));
    await admin.screenshot({ path: SCREENSHOT });
    const shown = path.relative(ROOT, SCREENSHOT);
    step(`screenshot of the admin tab (${SCREEN.width}x${SCREEN.height}) saved to ${shown.startsWith('..') ? SCREENSHOT : shown}`);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`the page reported problems:\n  ${problems.join('\n  ')}`);
}

/** The layout checks (tests/browser/layout.mjs) at 1440x900 (pattern alerts on screen), 1280 and 1920 wide. */
async function layoutAtEverySize(page, who) {
  step(`layout, ${who}, ${SCREEN.width}x${SCREEN.height}: ${await checkLayout(page, { ...SCREEN, fold: 'pattern-alerts', label: who })}`);
  for (const size of WIDE_SIZES) {
    step(`layout, ${who}, ${size.width}x${size.height}: ${await checkLayout(page, { ...size, fold: 'pattern-alerts', label: who })}`);
  }
  await page.setViewportSize(SCREEN);
}

/** Keeps, per symbol, the volumes the price updates, bars and ticks carried (the frames the page received). */
function recordFrames(page) {
  const seen = { price: new Map(), bar: new Map(), tick: new Map(), frames: 0 };
  const note = (kind, symbol, volume) => {
    if (typeof symbol !== 'string' || typeof volume !== 'number') return;
    if (!seen[kind].has(symbol)) seen[kind].set(symbol, new Set());
    seen[kind].get(symbol).add(volume);
  };
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
    let frame;
    try {
      frame = JSON.parse(String(payload));
    } catch (_) {
      return;
    }
    const d = frame && frame.data;
    if (!d) return;
    seen.frames += 1;
    if (frame.event === 'dashboard_price_update') note('price', d.symbol, d.volume);
    else if (frame.event === 'dashboard_ohlcv_update') note('bar', d.symbol, d.ohlcv && d.ohlcv.volume);
    else if (frame.event === 'tick_data') note('tick', d.symbol, d.volume);
  }));
  return seen;
}

/**
 * Each tile shows the day: its volume is one a price update carried (never a bar's or a
 * trade's), its text and border colours follow the sign of the day's change.
 */
async function tilesShowTheDay(page, frames) {
  await page.waitForFunction(() => [...document.querySelectorAll('#price-tiles .tile')]
    .filter((t) => t.dataset.dayVolume).length >= 3, undefined, { timeout: 45_000 });
  // Tiles fill from the snapshots at once; the demo sends the watched symbols a tick every few
  // seconds, so wait for one (and a bar) rather than expect it by now.
  const seen = (kind) => [...frames[kind].values()].reduce((n, v) => n + v.size, 0);
  await poll('bars and ticks reaching the page too', () => seen('bar') > 0 && seen('tick') > 0);
  const tiles = await page.$$eval('#price-tiles .tile', (nodes) => nodes.map((t) => {
    const css = (sel, prop) => getComputedStyle(t.querySelector(sel) ?? t)[prop];
    return {
      symbol: t.dataset.symbol,
      basis: t.dataset.basis,
      direction: t.dataset.direction,
      dayVolume: t.dataset.dayVolume ? Number(t.dataset.dayVolume) : null,
      vol: t.querySelector('.vol').textContent,
      change: t.querySelector('.change .abs').textContent,
      pct: t.querySelector('.change .pct').textContent,
      border: getComputedStyle(t).borderTopColor,
      price: css('.price', 'color'),
      changeColor: css('.change', 'color'),
    };
  }));
  const GREEN = '63, 185, 80';
  const RED = '248, 81, 73';
  for (const t of tiles) {
    if (t.dayVolume == null) continue;
    const carried = frames.price.get(t.symbol) ?? new Set();
    check(carried.has(t.dayVolume), `${t.symbol}'s day volume ${t.dayVolume} came from a price update (${[...carried].slice(-5)})`);
    check(/^day vol \d/.test(t.vol), `${t.symbol} labels its day volume: ${t.vol}`);
    check(/^[+-]?\d/.test(t.change) && /%$/.test(t.pct), `${t.symbol} shows the change absolute and in %: ${t.change} ${t.pct}`);
    if (t.basis !== 'day' || t.direction === 'flat') continue;
    const rgb = t.direction === 'up' ? GREEN : RED;
    check((t.direction === 'up') === t.change.startsWith('+'), `${t.symbol}: direction ${t.direction} follows the day's change ${t.change}`);
    for (const [what, color] of [['border', t.border], ['price', t.price], ['change', t.changeColor]]) {
      check(color.includes(rgb), `${t.symbol} (${t.direction} on the day): ${what} colour ${color}`);
    }
  }
  const shown = tiles.filter((t) => t.dayVolume != null);
  step(`tiles show the day: ${shown.map((t) => `${t.symbol} ${t.change} ${t.pct} ${t.vol}`).join(', ')}; ` +
    `day volumes from price updates only (${seen('bar')} bar and ${seen('tick')} tick volumes seen), colours by the day's change`);
}

/** Clicking a tile charts that symbol: candles and the price line, drawn on the canvas. */
async function chartOfTheSelectedSymbol(page) {
  const symbol = await page.$eval('#price-tiles .tile:nth-child(2)', (t) => t.dataset.symbol);
  await page.click(`#price-tiles .tile[data-symbol="${symbol}"]`);
  await page.waitForSelector(`#chart[data-symbol="${symbol}"]`);
  check(await page.$eval(`#price-tiles .tile[data-symbol="${symbol}"]`, (t) => t.getAttribute('aria-pressed') === 'true'),
    'the selected tile is marked pressed');
  check((await page.textContent('#chart-symbol')) === symbol, 'the chart names the symbol');
  await page.waitForFunction(() => {
    const note = document.getElementById('chart-note').dataset;
    return Number(note.bars) >= 1 && Number(note.points) >= 2;
  }, undefined, { timeout: 45_000 });
  const drawn = await page.$eval('#chart-canvas', (canvas) => {
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const colours = new Set();
    let painted = 0;
    for (let i = 0; i < data.length; i += 16) {
      if (data[i + 3] === 0) continue;
      painted += 1;
      colours.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
    }
    return { painted, colours: colours.size, width: canvas.width, height: canvas.height };
  });
  check(drawn.width > 200 && drawn.height > 100 && drawn.painted > 500 && drawn.colours > 4, `the chart is drawn: ${JSON.stringify(drawn)}`);
  const note = await page.textContent('#chart-note');
  check(/since it loaded/.test(note) && /snapshot/.test(note), `the chart says where its data comes from: ${note}`);
  step(`tile ${symbol} clicked: the chart draws it (${note.replace(/^.*\(/, '(')})`);
}

/** The pattern alerts sort by time, symbol and confidence, and filter by symbol. */
async function sortAndFilterAlerts(page) {
  await page.waitForFunction(() => document.querySelectorAll('#pattern-alerts-body tr').length >= 6);
  const rows = () => page.$$eval('#pattern-alerts-body tr', (trs) => trs.map((r) => ({
    symbol: r.dataset.symbol, conf: Number(r.dataset.confidence), ts: Number(r.dataset.timestamp), hidden: r.hidden,
  })));
  const sorted = (list, cmp) => list.every((r, i) => i === 0 || cmp(list[i - 1], r) <= 0);
  await page.click('#pattern-alerts-table button[data-sort="confidence"]');
  check(sorted(await rows(), (a, b) => b.conf - a.conf), 'sorted by confidence, highest first');
  await page.click('#pattern-alerts-table button[data-sort="confidence"]');
  check(sorted(await rows(), (a, b) => a.conf - b.conf), 'sorted by confidence, lowest first');
  await page.click('#pattern-alerts-table button[data-sort="symbol"]');
  check(sorted(await rows(), (a, b) => a.symbol.localeCompare(b.symbol)), 'sorted by symbol');
  check(await page.$eval('#pattern-alerts-table button[data-sort="symbol"]', (b) => b.parentElement.getAttribute('aria-sort')) === 'ascending',
    'the symbol column says it sorts ascending');
  await page.click('#pattern-alerts-table button[data-sort="time"]');
  check(sorted(await rows(), (a, b) => b.ts - a.ts), 'sorted by time, newest first');
  const symbol = (await rows())[0].symbol;
  await page.fill('#pattern-symbol-filter', symbol.toLowerCase());
  const filtered = await rows();
  check(filtered.some((r) => !r.hidden) && filtered.every((r) => r.hidden === (r.symbol !== symbol)),
    `the symbol filter shows ${symbol} only: ${JSON.stringify(filtered.filter((r) => !r.hidden).map((r) => r.symbol))}`);
  check(/showing \d+ of \d+ \(/.test(await page.textContent('#pattern-alerts-count')), 'the count names the filter');
  await page.fill('#pattern-symbol-filter', '');
  check((await rows()).every((r) => !r.hidden), 'clearing the filter shows every alert again');
  step(`pattern alerts sorted by confidence, symbol and time, filtered to ${symbol}`);
}

/** The admin panel groups producer errors, monitoring events and the message monitor (/debug's data). */
async function adminGroups(admin) {
  await admin.waitForSelector('#admin-monitor-status[data-state="loaded"]');
  const monitor = await admin.$$eval('#admin-monitor-messages tr', (rows) => rows.map((r) => r.dataset.channel));
  const channels = await admin.$$eval('#admin-monitor-fields tr', (rows) => rows.length);
  check(monitor.length >= 1 && channels >= 1, `the message monitor lists messages (${monitor.length}) and channels (${channels})`);
  check(await admin.$$eval('#admin-errors-list li', (items) => items.every((li) => li.dataset.event === 'system_error')),
    'the producer errors list holds producer errors only');
  check(await admin.$$eval('#admin-monitoring-list li', (items) => items.every((li) => li.dataset.event === 'monitoring_event')),
    'the monitoring list holds monitoring events only');
  check((await admin.getAttribute('#admin a[href="/debug"]', 'href')) === '/debug', 'the panel links the full message monitor');
  step(`admin panel: producer errors, monitoring events, message monitor (${monitor.length} messages, ${channels} channels)`);
}

/** Health fractions as %, the market cap change with its unit. */
async function figuresHaveUnits(page) {
  await page.waitForFunction(() => document.querySelector('#market-summary dt')?.textContent === 'symbols');
  const figures = await page.$$eval('#system-health-components div, #market-summary div', (divs) =>
    Object.fromEntries(divs.map((d) => [d.querySelector('dt').textContent, d.querySelector('dd').textContent])));
  for (const [label, value] of Object.entries(figures)) {
    if (/usage|percent|market cap change/.test(label)) check(/\d%$/.test(value), `${label} is a percentage: ${value}`);
    check(!/^0\.\d+$/.test(value) || !/usage/.test(label), `${label} is not a raw fraction: ${value}`);
  }
  check('market cap change' in figures, `the market summary has the market cap change: ${JSON.stringify(figures)}`);
  step(`figures with units: ${Object.entries(figures).map(([k, v]) => `${k} ${v}`).join(', ')}`);
}

/** The favicon is a file of the dashboard's, linked from the page. */
async function faviconServed(page) {
  const href = await page.$eval('link[rel="icon"]', (link) => link.getAttribute('href'));
  check(href === '/static/favicon.png', `the page links its favicon: ${href}`);
  const res = await page.evaluate(async (url) => {
    const r = await fetch(url);
    return { status: r.status, type: r.headers.get('content-type'), bytes: (await r.arrayBuffer()).byteLength };
  }, href);
  check(res.status === 200 && res.type === 'image/png' && res.bytes > 100, `the favicon is served: ${JSON.stringify(res)}`);
}

/** The preferences panel is shown and loaded (GET /api/me/alert-rules answered 200). */
async function prefsLoaded(page) {
  await page.waitForSelector('#preferences:not([hidden]) #prefs-status:is([data-state="loaded"], [data-state="error"])');
  const status = await page.$eval('#prefs-status', (n) => [n.dataset.state, n.textContent]);
  check(status[0] === 'loaded', `the preferences panel loads: ${status[1]}`);
}

/** Reads the preferences form as the user sees it. */
function readPrefsForm(page) {
  return page.evaluate(() => {
    const form = document.getElementById('prefs-form');
    return {
      enabled: form.elements.enabled.checked,
      max: form.elements.max_alerts_per_hour.value,
      quiet: [form.elements.quiet_start.value, form.elements.quiet_end.value, form.elements.quiet_time_zone.value],
      rows: [...document.querySelectorAll('#prefs-subs tr')].map((row) => ({
        pattern: row.querySelector('[name="sub_pattern"]').value,
        min: Number(row.querySelector('[name="sub_min_confidence"]').value),
        symbols: row.querySelector('[name="sub_symbols"]').value,
        enabled: row.querySelector('[name="sub_enabled"]').checked,
      })),
      stored: document.getElementById('preferences').dataset.stored,
      renders: Number(document.getElementById('preferences').dataset.eventRenders),
    };
  });
}

const eventRenders = (page) =>
  page.$eval('#preferences', (panel) => Number(panel.dataset.eventRenders));

/** Waits for a preferences_changed re-render past `before` whose form matches `ok`. */
async function waitForEventRender(page, before, ok, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const form = await readPrefsForm(page);
    if (form.renders > before && ok(form)) return form;
    if (Date.now() > deadline) throw new Error(`check failed: no preferences_changed re-render (${what}): ${JSON.stringify(form)}`);
    await page.waitForFunction((n) => Number(document.getElementById('preferences').dataset.eventRenders) > n,
      form.renders, { timeout: Math.max(1, deadline - Date.now()) }).catch(() => {});
  }
}

/** Alerts keep arriving: at least `n` more pattern_alert frames within the timeout. */
async function alertsKeepArriving(page, n, what) {
  const total = () => Number(document.getElementById('pattern-alerts-body').dataset.total || 0);
  const before = await page.evaluate(total);
  await page.waitForFunction(([target]) =>
    Number(document.getElementById('pattern-alerts-body').dataset.total || 0) >= target, [before + n], { timeout: 45_000 })
    .catch(() => { throw new Error(`check failed: fewer than ${n} new pattern alerts in 45 s ${what}`); });
  step(`pattern alerts keep arriving ${what} (${before} -> ${await page.evaluate(total)})`);
}

/** (a) and (d): alert rules saved through the form, refused field by field, then removed. */
async function alertRulesRoundTrip(page, other, expect400) {
  const doji = (f) => f.rows.length === 1 && f.rows[0].pattern === 'Doji' && f.rows[0].min === 0.8 &&
    f.rows[0].symbols === 'AAPL' && f.rows[0].enabled && f.stored === 'true';

  // Doji >= 0.8 on AAPL, saved with the form.
  const before = await eventRenders(page);
  const otherBefore = await eventRenders(other);
  await page.click('#prefs-add-sub');
  const row = '#prefs-subs tr:last-child';
  await page.fill(`${row} [name="sub_pattern"]`, 'Doji');
  await page.fill(`${row} [name="sub_min_confidence"]`, '0.8');
  await page.fill(`${row} [name="sub_symbols"]`, 'aapl');
  await page.click('#prefs-save');
  await page.waitForSelector('#prefs-status[data-state="saved"]');
  const saved = await readPrefsForm(page);
  check(doji(saved), `the saved form shows the stored rule: ${JSON.stringify(saved)}`);
  step('alert rule Doji >= 0.8 on AAPL saved from the form (PUT /api/me/alert-rules)');
  await waitForEventRender(page, before, doji, 'this tab');
  await waitForEventRender(other, otherBefore, doji, 'the other tab');
  step('preferences_changed re-rendered the rules in both tabs');

  // The rule is in force on the server: it refuses alerts (/stats), and every alert the page
  // gets after the re-render is a Doji on AAPL at 80 % or more.
  const total = () => Number(document.getElementById('pattern-alerts-body').dataset.total || 0);
  const refused = () => fetch('/stats', { cache: 'no-store' }).then((r) => r.json()).then((s) =>
    Object.values(s.alert_rules.refused).reduce((a, b) => a + b, 0));
  const total0 = await page.evaluate(total);
  const refused0 = await page.evaluate(refused);
  for (const deadline = Date.now() + 45_000; (await page.evaluate(refused)) < refused0 + 3;) {
    check(Date.now() < deadline, 'the server refused 3 alerts under the rule within 45 s');
    await page.waitForTimeout(250); // polling /stats: the server's count, not a page condition
  }
  const fresh = (await page.evaluate(total)) - total0;
  const passed = await page.$$eval('#pattern-alerts-body tr', (rows, n) => rows.slice(0, n).map((r) =>
    [r.dataset.symbol, r.cells[2].textContent, Number(r.dataset.confidence)]), fresh);
  check(passed.every(([sym, pattern, pct]) => sym === 'AAPL' && pattern === 'Doji' && pct >= 80),
    `only Doji >= 0.8 on AAPL reaches the page under the rule: ${JSON.stringify(passed)}`);
  step(`the server applies the rule: ${(await page.evaluate(refused)) - refused0} alerts refused, ${fresh} delivered`);

  // Two invalid fields: both shown, by field name, and nothing saved.
  await page.fill('#prefs-subs tr:first-child [name="sub_min_confidence"]', '2');
  await page.fill('#prefs-form [name="quiet_start"]', '22:00');
  await page.fill('#prefs-form [name="quiet_end"]', '06:30');
  await page.fill('#prefs-form [name="quiet_time_zone"]', 'Mars/Olympus');
  expect400(page);
  await page.click('#prefs-save');
  await page.waitForSelector('#prefs-status[data-state="invalid"]');
  const errors = await page.$$eval('#prefs-form .field-error', (nodes) =>
    Object.fromEntries(nodes.filter((n) => n.textContent).map((n) => [n.dataset.field, n.textContent])));
  const others = await page.$$eval('#prefs-other-errors li', (items) => items.map((i) => i.textContent));
  check(
    'subscriptions[0].min_confidence' in errors && 'quiet_hours.time_zone' in errors && others.length === 0,
    `field errors shown next to their fields: ${JSON.stringify(errors)} ${JSON.stringify(others)}`,
  );
  check(/Mars\/Olympus/.test(errors['quiet_hours.time_zone']), `the time zone error names it: ${errors['quiet_hours.time_zone']}`);
  const got = await page.evaluate(async () => {
    const { token } = await (await fetch('/api/demo-token')).json();
    return (await fetch('/api/me/alert-rules', { headers: { Authorization: `Bearer ${token}` } })).json();
  });
  check(got.subscriptions.length === 1 && got.subscriptions[0].min_confidence === 0.8 && got.quiet_hours === null,
    `a refused PUT changed nothing: ${JSON.stringify(got)}`);
  step(`invalid rules refused, errors shown on ${Object.keys(errors).join(' and ')}`);

  // All patterns under a generous hourly cap: alerts must keep coming (the cap once froze the panel).
  await page.click('#prefs-reload');
  await page.waitForFunction(() => document.getElementById('prefs-status').dataset.state === 'loaded' &&
    !document.querySelector('#prefs-form .field-error:not(:empty)'));
  await page.click('#prefs-subs tr:first-child button');
  await page.fill('#prefs-form [name="max_alerts_per_hour"]', '5000');
  await page.click('#prefs-save');
  await page.waitForSelector('#prefs-status[data-state="saved"]');
  const capped = await readPrefsForm(page);
  check(capped.max === '5000' && capped.rows.length === 0, `cap saved: ${JSON.stringify(capped)}`);
  await alertsKeepArriving(page, 3, 'under max_alerts_per_hour 5000');

  // Restore: no rules at all, so the later checks see every alert.
  const beforeClear = await eventRenders(other);
  await page.click('#prefs-clear');
  await page.waitForFunction(() => document.getElementById('prefs-status').dataset.state === 'saved' &&
    document.getElementById('preferences').dataset.stored === 'false');
  const cleared = (f) => f.rows.length === 0 && f.max === '' && f.stored === 'false' && f.enabled;
  check(cleared(await readPrefsForm(page)), 'the form shows no rules after removing them');
  await waitForEventRender(other, beforeClear, cleared, 'the other tab, rules removed');
  step('all rules removed (PUT {}); the other tab re-rendered');
  await alertsKeepArriving(page, 3, 'after the preferences round trip');
}

/** (c): the admin errors panel shows a producer error live and, after Refresh, from the API. */
async function adminErrors(admin) {
  const message = `disk full (browser test ${Date.now()})`;
  const report = {
    error_id: `browser-test-${Date.now()}`,
    source: 'browser-test',
    severity: 'error',
    message,
    category: 'storage',
    timestamp: Date.now() / 1000,
  };
  const receivers = await redisPublish('tickstock:errors', JSON.stringify(report));
  check(receivers >= 1, `tickrouter listens on tickstock:errors (${receivers} subscribers)`);
  const entry = (origin) => `#admin-errors-list li[data-origin="${origin}"][data-event="system_error"]`;
  await admin.waitForFunction(([sel, text]) =>
    [...document.querySelectorAll(sel)].some((li) => li.textContent.includes(text)), [entry('live'), message]);
  step('the producer error appeared live in the admin panel');

  const refreshes = await admin.$eval('#admin-status', (n) => Number(n.dataset.refreshes));
  await admin.click('#admin-refresh');
  await admin.waitForFunction((n) => Number(document.getElementById('admin-status').dataset.refreshes) > n, refreshes);
  const logged = await admin.$$eval(entry('log'), (items, text) =>
    items.filter((li) => li.textContent.includes(text)).map((li) => ({ id: li.dataset.id, severity: li.dataset.severity })), message);
  check(logged.length === 1 && /^\d+-\d+$/.test(logged[0].id) && logged[0].severity === 'error',
    `after Refresh the error is listed from GET /api/admin/errors: ${JSON.stringify(logged)}`);
  check(
    (await admin.$eval('#admin-errors-list li', (li) => li.textContent)).includes(message),
    'the newest entry comes first',
  );
  step(`after Refresh the error is listed from the log (entry ${logged[0].id})`);

  // The filters go to the API: another severity hides it, its source finds it.
  await admin.selectOption('#admin-severity', 'critical');
  await admin.waitForFunction((n) => Number(document.getElementById('admin-status').dataset.refreshes) > n + 1, refreshes);
  check(!(await admin.textContent('#admin-errors-list')).includes(message), 'severity filter critical hides it');
  await admin.selectOption('#admin-severity', '');
  await admin.waitForFunction((n) => Number(document.getElementById('admin-status').dataset.refreshes) > n + 2, refreshes);
  await admin.fill('#admin-source', 'browser-test');
  await admin.click('#admin-refresh');
  await admin.waitForFunction((n) => Number(document.getElementById('admin-status').dataset.refreshes) > n + 3, refreshes);
  const sources = await admin.$$eval('#admin-errors-list li', (items) => items.map((li) => li.dataset.source));
  check(sources.length >= 1 && sources.every((s) => s === 'browser-test'), `source filter: ${sources}`);
  step('severity and source filters applied through the API');
}

run('browser test', main);
