// The bundled JavaScript client (static/tickrouter.js) resuming and acknowledging on its own, in
// Debian's chromium, headless, driven by playwright-core against real tickrouter servers on one
// Redis with the demo producer publishing (scripts/browser-test.sh starts everything and runs
// this after the other browser tests; it exits non-zero on any failure).
//
// 1. patterns (anonymous, demo server): a page's client loses its connection; 20 alerts are
//    published while it is down, 3 more while its `resume` is held back (so they reach it live
//    before the replay of the 20); after the resume its pattern_alert handler has every one of
//    them once, in offset order, onRecover says `patterns` was recovered, and live alerts keep
//    coming. A new client given the old positions (options.resumeFrom) gets them too.
// 2. the user's stream (signed in, auth server): a backtest finishes while no page of its user
//    is open; the next page's backtest_result handler gets the result as a queued message, the
//    client acknowledges it by itself, and the next page is not sent it again. What a page
//    handled is acknowledged when it closes, too.
//
// Which socket drops, when a reconnect may proceed and when the resume may leave the page is
// decided by the test through a WebSocket stand-in given to the client (options.WebSocket);
// every wait is for a condition (a backtest's status, known only to the server, is polled).
//
// Environment: TICKROUTER_URL (required: the demo-mode server), TICKROUTER_AUTH_URL and
// JWT_SECRET (required: a server on the same Redis with that JWT secret), REDIS_SOCKET or
// REDIS_URL (the Redis they read: the test publishes pattern alerts there), CHROMIUM.

import { check, launch, mintToken, nowSecs, poll, redisCli, run, step } from './harness.mjs';

const DEMO = process.env.TICKROUTER_URL;
const AUTH = process.env.TICKROUTER_AUTH_URL;
const SECRET = process.env.JWT_SECRET;
if (!DEMO || !AUTH || !SECRET) {
  console.error('TICKROUTER_URL, TICKROUTER_AUTH_URL and JWT_SECRET must be set');
  process.exit(2);
}

const RUN = Date.now().toString(36);
/** The test's own pattern: the demo producer's alerts never carry it. */
const PROBE = `RecoveryProbe-${RUN}`;

async function main() {
  const browser = await launch();
  const problems = [];
  const openLab = async (base, name) => {
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (err) => problems.push(`${name}: page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`${name}: console ${msg.type()}: ${msg.text()}`);
    });
    // The dashboard's document as the server serves it (its origin, its Content-Security-Policy)
    // without the dashboard's script, so only the test's clients connect. (A document the test
    // made up would not count as loopback, and Chromium refuses a public page's connections to
    // loopback.)
    await page.route(`${base}/static/dashboard.js`, (route) => route.fulfill({ contentType: 'text/javascript', body: '' }));
    await page.goto(`${base}/`);
    await page.evaluate(installLab);
    return page;
  };
  try {
    await patternsRecovered(await openLab(DEMO, 'patterns lab'));
    await userStreamAcknowledged(openLab);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(`the pages reported problems:\n  ${problems.join('\n  ')}`);
  step('no console errors or warnings');
}

/** Part 1: `patterns` across a lost connection, with live alerts overtaking the replay. */
async function patternsRecovered(page) {
  const url = wsUrl(DEMO);
  await page.evaluate((url) => {
    lab.open('observer', { url, topics: ['patterns'] });
    lab.open('main', { url, topics: ['patterns', 'system'], steered: true });
  }, url);
  await page.waitForFunction(() => lab.confirmed('observer') && lab.confirmed('main'));
  const before = await page.evaluate(() => lab.clients.main.client.positions());
  check(typeof before.patterns?.epoch === 'string' && Number.isInteger(before.patterns.offset),
    `connection_confirmed gave the patterns position: ${JSON.stringify(before)}`);

  await publishProbes(1, 3);
  await page.waitForFunction((p) => lab.probes('main', p).length === 3, PROBE);
  const saved = await page.evaluate(() => lab.clients.main.client.positions());
  step(`connected, 3 alerts received (patterns at ${saved.patterns.offset}, epoch ${saved.patterns.epoch})`);

  // The connection drops; the client's reconnect waits until the test lets it through.
  await page.evaluate(() => {
    lab.hold('connect');
    lab.hold('resume');
    lab.drop('main');
  });
  await page.waitForFunction(() => lab.clients.main.statuses.at(-1) === 'reconnecting' && lab.waiting.connect.length === 1);
  step('connection dropped; the reconnect is held');

  await publishProbes(4, 23);
  // The observer got them live, so they are in the history (it is written before delivery).
  await page.waitForFunction((p) => lab.probes('observer', p).some((a) => a.seq === 23), PROBE);
  check((await page.evaluate((p) => lab.probes('main', p).length, PROBE)) === 3, 'nothing reached the page while it was down');
  step('20 alerts published while the page was down');

  // Reconnected: topics re-applied, the resume held back; 3 alerts then reach the socket live.
  await page.evaluate(() => lab.release('connect'));
  await page.waitForFunction(() => lab.waiting.resume.length === 1);
  await publishProbes(24, 26);
  await page.waitForFunction((p) => lab.rawProbes(p).some((a) => a.seq === 26 && a.socket === 1), PROBE);
  check((await page.evaluate((p) => lab.probes('main', p).length, PROBE)) === 3,
    'alerts arriving between sending resume and its answer are held');
  step('reconnected; 3 alerts arrived live before the resume reached the server, held by the client');

  await page.evaluate(() => lab.release('resume'));
  await page.waitForFunction(() => lab.clients.main.recoveries.length === 1);
  const got = await page.evaluate((p) => ({
    probes: lab.probes('main', p),
    offsets: lab.clients.main.events.filter((e) => e.event === 'pattern_alert').map((e) => e.meta.offset),
    recovery: lab.clients.main.recoveries[0],
    raw: lab.rawProbes(p).filter((a) => a.socket === 1).map((a) => a.seq),
    observer: lab.probes('observer', p),
  }), PROBE);
  check(got.raw.slice(0, 3).join() === '24,25,26' && got.raw.includes(4),
    `the socket got 24-26 live before the replay: ${got.raw}`);
  expectProbes(got.probes, 1, 26, 'the page after the resume');
  checkRuns(got.probes, [[1, 3], [4, 23], [24, 26]]);
  check(got.probes.every((a) => a.stream === 'patterns' && a.queued === false), 'handlers see meta {stream, offset, queued: false}');
  check(got.offsets.every((o, i) => i === 0 || o > got.offsets[i - 1]),
    `every pattern alert the page handled (the demo's too) came in offset order, once: ${got.offsets}`);
  const sameOffsets = got.observer.filter((a) => a.seq >= 4 && a.seq <= 23).every((a) =>
    got.probes.find((b) => b.seq === a.seq).offset === a.offset);
  check(sameOffsets, 'the replayed offsets are those the observer got live');
  const { recovered, notRecovered } = got.recovery;
  check(recovered.patterns >= 20 && !('patterns' in notRecovered),
    `onRecover: patterns recovered with the 20 missed replayed: ${JSON.stringify(got.recovery)}`);
  step(`resumed: onRecover ${JSON.stringify(got.recovery)}; the handler got alerts 1-26 once each, ` +
    `in order, offsets ${got.probes[3].offset}-${got.probes[22].offset} replayed before the live ${got.probes[23].offset}-${got.probes[25].offset}`);

  await publishProbes(27, 29);
  await page.waitForFunction((p) => lab.probes('main', p).length >= 29, PROBE);
  const after = await page.evaluate((p) => ({ probes: lab.probes('main', p), positions: lab.clients.main.client.positions() }), PROBE);
  expectProbes(after.probes, 1, 29, 'the page after the resume, live');
  checkRuns(after.probes, [[27, 29]]);
  check(after.positions.patterns.epoch === saved.patterns.epoch && after.positions.patterns.offset >= after.probes[28].offset,
    `positions() follows what was handled: ${JSON.stringify(after.positions)}`);
  step('live alerts keep arriving after the resume (27-29); positions() moved with them');

  // A new client started from the positions saved before the drop (as a reloaded page would).
  await page.evaluate(({ url, saved }) => lab.open('restored', { url, topics: ['patterns'], resumeFrom: saved }), { url, saved });
  await page.waitForFunction(() => lab.clients.restored.recoveries.length === 1);
  const restored = await page.evaluate((p) => ({ probes: lab.probes('restored', p), recovery: lab.clients.restored.recoveries[0] }), PROBE);
  expectProbes(restored.probes, 4, 29, 'a client given resumeFrom');
  check(restored.recovery.recovered.patterns >= 26, `onRecover on the first connect with resumeFrom: ${JSON.stringify(restored.recovery)}`);
  step(`a new client with resumeFrom the saved positions got alerts 4-29 on its first connect (${JSON.stringify(restored.recovery)})`);
  await page.close();
}

/** Part 2: the user's stream: queued while away, acknowledged by the client, not sent again. */
async function userStreamAcknowledged(openLab) {
  const user = `recovery-${RUN}`;
  const token = mintToken({ sub: user, exp: nowSecs() + 3600 }, SECRET);
  const url = wsUrl(AUTH);
  // A page of this user, recording; `ackIntervalMs` as given.
  const userPage = async (name, options = {}) => {
    const page = await openLab(AUTH, name);
    await page.evaluate(({ url, token, options }) =>
      lab.open('user', { url, token, topics: ['system'], steered: true, ...options }), { url, token, options });
    await page.waitForFunction(() => lab.confirmed('user'));
    // Replies come after what the server sends on connecting, the queued messages included.
    await page.evaluate(() => lab.clients.user.client.ping());
    return page;
  };
  const userFrames = (page) => page.evaluate(() => {
    const { events, queued, everyFrame, recoveries, acks } = lab.clients.user;
    return { events, queued, everyFrame, recoveries, acks, handled: lab.clients.user.handledUser() };
  });

  // A backtest that runs while no page of the user is open.
  const first = await submitJob(token);
  await poll(`${first} completed`, async () => (await getJob(token, first)).status === 'completed', { timeoutMs: 60_000 });
  step(`${first} ran and completed while no page of ${user} was open`);

  const one = await userPage('user page 1');
  await one.waitForFunction((job) => lab.clients.user.events.some((e) => e.event === 'backtest_result' && e.data.job_id === job), first);
  let seen = await userFrames(one);
  const result = seen.events.find((e) => e.event === 'backtest_result' && e.data.job_id === first);
  check(result.meta.queued === true && result.meta.stream === 'user' && Number.isInteger(result.meta.offset) &&
    result.meta.queuedAt > 0 && result.meta.queuedAt <= Date.now() && result.data.status === 'completed',
    `the result reached on('backtest_result') as queued: ${JSON.stringify(result.meta)} ${result.data.status}`);
  check(seen.queued.some((q) => q.data.event === 'backtest_result' && q.data.data.job_id === first && q.meta.offset === result.meta.offset),
    'on(\'queued_message\') got it too, with the original event');
  const frames = seen.everyFrame.filter((f) => f.stream === 'user' && f.offset === result.meta.offset);
  check(frames.length === 1 && frames[0].event === 'queued_message', `'*' saw the frame once, as it came: ${JSON.stringify(frames)}`);
  // The automatic acknowledgement: one for everything queued (they came at once).
  await one.waitForFunction(() => lab.clients.user.acks.length > 0);
  seen = await userFrames(one);
  const burst = Math.max(...seen.queued.map((q) => q.meta.offset));
  check(seen.acks[0] >= burst, `one acknowledgement covered the ${seen.queued.length} queued entries (up to ${burst}): ${seen.acks}`);
  step(`page 1: backtest_result for ${first} as a queued message (offset ${result.meta.offset}, ` +
    `queued at ${new Date(result.meta.queuedAt).toISOString()}), acknowledged by the client (ack ${seen.acks.join(', ')})`);
  await one.evaluate(() => lab.clients.user.client.close());
  await one.waitForFunction(() => lab.sockets.every((s) => s.readyState === 3));
  const handledByOne = Math.max(...(await userFrames(one)).handled);
  await one.close();

  // Page 2 acknowledges only when it closes (a long interval), so the close must send it.
  const two = await userPage('user page 2', { ackIntervalMs: 3_600_000 });
  seen = await userFrames(two);
  check(!seen.events.some((e) => e.data.job_id === first), `page 2 is not sent ${first} again`);
  check(seen.queued.every((q) => q.meta.offset > handledByOne),
    `page 2 is sent nothing page 1 handled (page 1 up to ${handledByOne}; queued ${seen.queued.map((q) => q.meta.offset)})`);
  step(`page 2: nothing page 1 handled came again (${seen.queued.length} newer entries queued)`);

  const second = await submitJob(token);
  await two.waitForFunction((job) => lab.clients.user.events.some((e) => e.event === 'backtest_result' && e.data.job_id === job), second);
  seen = await userFrames(two);
  const live = seen.events.find((e) => e.event === 'backtest_result' && e.data.job_id === second);
  check(live.meta.queued === false && seen.acks.length === 0, `page 2 got ${second} live and has not acknowledged yet (${seen.acks})`);

  // Its connection drops before it acknowledged: the server queues what it handled again, and
  // the client, reconnected, drops what it already handled.
  await two.evaluate(() => lab.drop('user'));
  await two.waitForFunction(() => lab.clients.user.recoveries.length === 1);
  seen = await userFrames(two);
  const again = await two.evaluate((offset) => lab.raw.filter((r) => r.socket === 1 && r.frame.stream === 'user' && r.frame.offset === offset).map((r) => r.frame.event), live.meta.offset);
  check(again.join() === 'queued_message', `after the reconnect the server sent ${second}'s result again, queued: ${again}`);
  check(seen.events.filter((e) => e.data.job_id === second && e.event === 'backtest_result').length === 1,
    `the client handed it to the handlers once: ${JSON.stringify(seen.events.filter((e) => e.data.job_id === second).map((e) => e.meta))}`);
  check(new Set(seen.handled).size === seen.handled.length, `no user-stream offset was handled twice: ${seen.handled}`);
  check(seen.recoveries[0].recovered.user >= 0, `onRecover: the user stream recovered: ${JSON.stringify(seen.recoveries[0])}`);
  step(`page 2 lost its connection before acknowledging: ${second}'s result came again as a queued message and was dropped; ` +
    `onRecover ${JSON.stringify(seen.recoveries[0])}`);

  await two.evaluate(() => lab.clients.user.client.close());
  // The server answers the close only after the ack before it.
  await two.waitForFunction(() => lab.sockets.every((s) => s.readyState === 3));
  const handledByTwo = Math.max(...(await userFrames(two)).handled);
  check(handledByTwo >= live.meta.offset, 'page 2 handled the result');
  await two.close();

  const three = await userPage('user page 3');
  seen = await userFrames(three);
  check(!seen.events.some((e) => e.data.job_id === second), `page 3 is not sent ${second} again`);
  check(seen.queued.every((q) => q.meta.offset > handledByTwo),
    `page 3 is sent nothing page 2 handled (page 2 up to ${handledByTwo}; queued ${seen.queued.map((q) => q.meta.offset)})`);
  step(`page 2 got ${second} live and acknowledged it (up to ${handledByTwo}) when it closed: page 3 is not sent it`);
  await three.close();
}

/** Alerts seq..to of the test's pattern, published at once (one EVAL: nothing comes between). */
async function publishProbes(from, to) {
  const alerts = [];
  for (let seq = from; seq <= to; seq++) {
    alerts.push(JSON.stringify({
      event_type: 'pattern_detected', pattern: PROBE, symbol: 'AAPL', confidence: 0.9,
      timestamp: Date.now() / 1000, metadata: { seq },
    }));
  }
  const script = "local n = 0 for _, m in ipairs(ARGV) do n = n + redis.call('publish', KEYS[1], m) end return n";
  const received = Number(await redisCli('eval', script, '1', 'tickstock.events.patterns', ...alerts));
  check(received >= alerts.length, `tickrouter received the alerts ${from}-${to} (${received} deliveries)`);
}

/** `probes` are alerts from..to, each once, in this order, with increasing offsets. */
function expectProbes(probes, from, to, who) {
  const seqs = probes.map((a) => a.seq);
  const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  check(seqs.join() === want.join(), `${who}: alerts ${from}-${to} once each, in order: got ${seqs}`);
  check(probes.every((a, i) => i === 0 || a.offset > probes[i - 1].offset), `${who}: offsets increase: ${probes.map((a) => a.offset)}`);
}

/** Each [from, to] run, published in one go, has consecutive offsets. */
function checkRuns(probes, runs) {
  for (const [from, to] of runs) {
    const run = probes.filter((a) => a.seq >= from && a.seq <= to);
    check(run.every((a, i) => i === 0 || a.offset === run[i - 1].offset + 1),
      `alerts ${from}-${to} have consecutive offsets: ${run.map((a) => a.offset)}`);
  }
}

async function submitJob(token) {
  const res = await fetch(`${AUTH}/api/backtests`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ symbols: ['AAPL'], patterns: ['Doji'], start_date: '2024-01-01', end_date: '2024-06-30' }),
  });
  const body = await res.json();
  check(res.status === 201, `the backtest was accepted: ${res.status} ${JSON.stringify(body)}`);
  return body.job_id;
}

async function getJob(token, id) {
  const res = await fetch(`${AUTH}/api/backtests/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  check(res.status === 200, `GET /api/backtests/${id}: ${res.status}`);
  return res.json();
}

function wsUrl(base) {
  return `${base.replace(/^http/, 'ws')}/ws`;
}

/**
 * Runs in the page: `window.lab`, clients of /static/tickrouter.js that record what their
 * handlers get, and a WebSocket stand-in (for clients opened with `steered`) through which the
 * test drops a connection (`drop`), holds new connections (`hold('connect')`) and outgoing
 * `resume` ops (`hold('resume')`) until it releases them, and sees every frame that arrived.
 */
async function installLab() {
  const { connect } = await import('/static/tickrouter.js');
  const lab = {
    clients: {},
    sockets: [],
    /** Every frame the steered sockets received, as it came: {socket, frame}. */
    raw: [],
    held: { connect: false, resume: false },
    waiting: { connect: [], resume: [] },
    hold(kind) {
      lab.held[kind] = true;
    },
    release(kind) {
      lab.held[kind] = false;
      for (const go of lab.waiting[kind].splice(0)) go();
    },
    /** Runs `go` now, or when `kind` is released. */
    gate(kind, go) {
      if (lab.held[kind]) lab.waiting[kind].push(go);
      else go();
    },
    /** Closes a client's live socket, as a lost connection looks to the client. */
    drop(name) {
      const socket = lab.sockets.filter((s) => s.owner === name && s.readyState === 1).at(-1);
      socket.ws.close(4000, 'dropped by the test');
    },
    confirmed(name) {
      return lab.clients[name]?.client.sessionId != null;
    },
    /** The test's alerts a client's pattern_alert handler got: {seq, offset, stream, queued}. */
    probes(name, pattern) {
      return lab.clients[name].events
        .filter((e) => e.event === 'pattern_alert' && e.data.pattern === pattern)
        .map((e) => ({ seq: e.data.metadata.seq, offset: e.meta.offset, stream: e.meta.stream, queued: e.meta.queued }));
    },
    rawProbes(pattern) {
      return lab.raw
        .filter((r) => r.frame.event === 'pattern_alert' && r.frame.data.pattern === pattern)
        .map((r) => ({ seq: r.frame.data.metadata.seq, offset: r.frame.offset, socket: r.socket }));
    },
    open(name, { steered, ...options }) {
      const rec = { events: [], queued: [], everyFrame: [], acks: [], recoveries: [], statuses: [] };
      const client = connect(options.url, {
        ...options,
        WebSocket: steered ? steeredSocket(name) : undefined,
        onStatus: (status) => rec.statuses.push(status),
        onRecover: (result) => rec.recoveries.push(result),
      });
      for (const event of ['pattern_alert', 'backtest_progress', 'backtest_result']) {
        client.on(event, (data, ev, _frame, meta) => rec.events.push({ event: ev, data, meta }));
      }
      client.on('queued_message', (data, _ev, _frame, meta) => rec.queued.push({ data, meta }));
      client.on('*', (_data, event, frame) => rec.everyFrame.push({ event, stream: frame.stream, offset: frame.offset }));
      client.on('ack', (data) => {
        if (data.op === 'ack') rec.acks.push(data.streams.user);
      });
      /** The user-stream offsets handed to handlers. */
      rec.handledUser = () => rec.everyFrame.filter((f) => f.stream === 'user').map((f) => f.offset);
      lab.clients[name] = { client, ...rec };
      return true;
    },
  };

  /** A WebSocket class for one client: a real socket behind the test's gates. */
  function steeredSocket(owner) {
    return class SteeredSocket {
      constructor(url) {
        this.owner = owner;
        this.ws = null;
        this.cancelled = false;
        this.onopen = this.onmessage = this.onerror = this.onclose = null;
        const index = lab.sockets.push(this) - 1;
        lab.gate('connect', () => {
          if (this.cancelled) return;
          const ws = new WebSocket(url);
          this.ws = ws;
          ws.onopen = (e) => this.onopen?.(e);
          ws.onmessage = (e) => {
            lab.raw.push({ socket: index, frame: JSON.parse(e.data) });
            this.onmessage?.(e);
          };
          ws.onerror = (e) => this.onerror?.(e);
          ws.onclose = (e) => this.onclose?.(e);
        });
      }
      get readyState() {
        if (this.ws) return this.ws.readyState;
        return this.cancelled ? 3 : 0;
      }
      send(text) {
        if (JSON.parse(text).op === 'resume') lab.gate('resume', () => this.ws.send(text));
        else this.ws.send(text);
      }
      close(code, reason) {
        this.cancelled = true;
        this.ws?.close(code, reason);
      }
    };
  }

  window.lab = lab;
}

run('recovery browser test', main);
