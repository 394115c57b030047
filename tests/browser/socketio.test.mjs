// socket.io-client's browser bundle in Debian's chromium, headless (playwright-core): a page
// tickrouter serves (the dashboard) loads the bundle, connects with io() and its defaults (long-polling, then
// the upgrade to WebSocket) and receives the demo producer's live events, for the latest 4.x and
// for 3.1, which the legacy pages load. scripts/browser-test.sh runs it against the demo server
// with the demo producer publishing; it exits non-zero on any failure.
//
// Environment: TICKROUTER_URL (required: the demo server), SOCKETIO_CLIENTS (required: the
// directory holding the npm packages, tests/socketio/node_modules), CHROMIUM (default
// /usr/bin/chromium).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { check, launch, run, step } from './harness.mjs';

const BASE = process.env.TICKROUTER_URL;
const CLIENTS = process.env.SOCKETIO_CLIENTS;
if (!BASE || !CLIENTS) {
  console.error('TICKROUTER_URL and SOCKETIO_CLIENTS must be set');
  process.exit(2);
}

/** What the page runs once the bundle is loaded: io() with its defaults, and what arrived, for
 * the test to read. */
const CONNECT = () => {
  window.seen = { events: {}, transports: [] };
  const socket = io();
  window.sio = socket;
  socket.io.on('open', () => window.seen.transports.push(socket.io.engine.transport.name));
  socket.on('connection_confirmed', (data) => { window.seen.confirmed = data; });
  socket.onAny((name) => { window.seen.events[name] = (window.seen.events[name] || 0) + 1; });
};

async function main() {
  const browser = await launch();
  try {
    for (const [version, pkg] of [['4.x', 'socket.io-client'], ['3.1', 'sio3']]) {
      const bundle = await readFile(join(CLIENTS, pkg, 'dist', 'socket.io.min.js'));
      // The dashboard's Content-Security-Policy allows its own scripts only; the bundle is ours.
      const page = await browser.newPage({ bypassCSP: true });
      const problems = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg) => msg.type() === 'error' && problems.push(`console error: ${msg.text()}`));
      // A page tickrouter serves (the dashboard), so the page's origin is the server's own, with
      // the bundle added to it.
      await page.goto(BASE);
      await page.addScriptTag({ content: bundle.toString() });
      await page.evaluate(CONNECT);
      step(`socket.io-client ${version}: page loaded`);
      await page.waitForFunction(() => window.seen.confirmed, null, { timeout: 15_000 });
      check((await page.evaluate(() => window.seen.transports[0])) === 'polling', `${version} starts on polling`);
      await page.waitForFunction(() => window.sio.io.engine.transport.name === 'websocket', null, { timeout: 15_000 });
      step(`socket.io-client ${version}: upgraded to websocket`);
      // The demo producer publishes patterns and streaming batches every few seconds (the market
      // summary and health may be snapshots of earlier states, so they do not count as live).
      const live = ['pattern_alert', 'streaming_patterns_batch', 'streaming_indicators_batch'];
      await page.waitForFunction((names) => names.some((n) => window.seen.events[n] > 0), live, { timeout: 30_000 });
      const events = await page.evaluate(() => window.seen.events);
      step(`socket.io-client ${version}: live events ${JSON.stringify(events)}`);
      check(problems.length === 0, `no page problems: ${problems.join('; ')}`);
      await page.close();
    }
  } finally {
    await browser.close();
  }
}

run('socketio.test', main);
