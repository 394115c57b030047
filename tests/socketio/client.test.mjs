// The real socket.io-client against tickrouter's /socket.io/, in Node (node:test): the latest
// 4.x and 3.1 (the version the legacy pages load), each over the WebSocket transport: connecting
// anonymously and with a token, a refused token, ops as events with acknowledgements, and events
// for the right user only. Run by scripts/socketio-test.sh, which starts Redis and tickrouter:
// TICKROUTER_URL (http://ADDR), JWT_SECRET (the server's; tokens are minted with it) and
// REDIS_SOCKET (where the test publishes).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { io as io4 } from 'socket.io-client';
import { io as io3 } from 'sio3';
import { mintToken, nowSecs, redisCli, redisPublish } from '../browser/common.mjs';

const URL = process.env.TICKROUTER_URL;
const SECRET = process.env.JWT_SECRET;
assert.ok(URL && SECRET && process.env.REDIS_SOCKET, 'TICKROUTER_URL, JWT_SECRET, REDIS_SOCKET');

/** How long any one expected thing may take. */
const WAIT_MS = 5000;

const token = (user) => mintToken({ sub: user, exp: nowSecs() + 3600 }, SECRET);

/** Resolves with the first `event` the socket emits (its first argument), or rejects after
 * WAIT_MS. */
function once(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${WAIT_MS} ms`)), WAIT_MS);
    timer.unref();
    socket.once(event, (data) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

/** Emits `event` with `data` and resolves with the acknowledgement's argument. */
function emitWithAck(socket, event, data) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack of ${event} within ${WAIT_MS} ms`)), WAIT_MS);
    socket.emit(event, data, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** How many user records (alert rules, watchlists) tickrouter has read from Redis. */
async function loads() {
  const stats = await (await fetch(`${URL}/stats`)).json();
  return stats.alert_rules_cache.loads + stats.watchlist_cache.loads;
}

/** Every `event` the socket emits from now on. */
function record(socket, event) {
  const seen = [];
  socket.on(event, (data) => seen.push(data));
  return seen;
}

for (const [version, io] of [['4.x', io4], ['3.1', io3]]) {
  describe(`socket.io-client ${version}, websocket transport`, () => {
    const sockets = [];
    /** A socket to tickrouter, with `connection_confirmed` listened for before it connects. */
    const connect = (options = {}) => {
      const socket = io(URL, { transports: ['websocket'], reconnection: false, ...options });
      sockets.push(socket);
      const confirmed = once(socket, 'connection_confirmed');
      // A test that expects no confirmation does not wait for this one.
      confirmed.catch(() => {});
      return { socket, confirmed };
    };
    after(() => sockets.forEach((socket) => socket.close()));
    /** `connect`, once tickrouter has read the user's stored rules and watchlist. */
    const connectLoaded = async (options) => {
      const before = await loads();
      const connection = connect(options);
      await connection.confirmed;
      for (const deadline = Date.now() + WAIT_MS; (await loads()) < before + 2;) {
        assert.ok(Date.now() < deadline, "the user's stored rules and watchlist were read");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return connection;
    };

    test('an anonymous socket connects and is confirmed', async () => {
      const { socket, confirmed } = connect();
      const data = await confirmed;
      assert.equal(socket.connected, true);
      assert.equal(data.user_id, null);
      assert.equal(typeof data.session_id, 'number');
    });

    test('auth.token signs the session in', async () => {
      const { confirmed } = connect({ auth: { token: token('alice') } });
      assert.equal((await confirmed).user_id, 'alice');
    });

    test('a refused token gets connect_error with a plain message', async () => {
      const { socket } = connect({ auth: { token: 'not-a-jwt' } });
      const err = await once(socket, 'connect_error');
      assert.match(err.message, /malformed token/);
      assert.equal(socket.connected, false);
    });

    test('ops are events whose acknowledgement gets the /ws reply data', async () => {
      const { socket, confirmed } = connect();
      await confirmed;
      assert.deepEqual(await emitWithAck(socket, 'watchlist', { symbols: ['aapl', 'msft'] }), {
        op: 'watchlist',
        source: 'session',
        symbols: ['AAPL', 'MSFT'],
      });
      const refused = await emitWithAck(socket, 'subscribe', { topics: ['no-such-topic'] });
      assert.equal(refused.code, 'unknown_topic');
      const pong = once(socket, 'pong');
      socket.emit('ping');
      assert.equal(typeof (await pong).server_time, 'number');
      const heartbeat = once(socket, 'heartbeat_ack');
      socket.emit('heartbeat');
      assert.equal(typeof (await heartbeat).timestamp, 'number');
    });

    test("pattern alerts pass each user's own rules, backtest events reach their owner only", async () => {
      const owner = `owner-${version}`;
      const other = `other-${version}`;
      const job = `job_sio_${version.replace('.', '_')}`;
      await redisCli('set', `tickstock:jobs:${job}`, JSON.stringify({ job_id: job, user_id: owner }));
      // The owner's stored rules: Doji only from 0.95; the other user has none (every alert).
      await redisCli('set', `tickstock:alerts:subscriptions:${owner}`, JSON.stringify({
        Doji: { pattern: 'Doji', enabled: true, confidence_threshold: 0.95, symbols: null },
      }));
      const alice = await connectLoaded({ auth: { token: token(owner) } });
      const bob = await connectLoaded({ auth: { token: token(other) } });
      const bobsProgress = record(bob.socket, 'backtest_progress');
      const progress = once(alice.socket, 'backtest_progress');
      await redisPublish('tickstock.events.backtesting.progress', JSON.stringify({
        event_type: 'backtest_progress', job_id: job, progress: 0.5, status: 'processing',
      }));
      assert.equal((await progress).job_id, job);
      const alerts = { alice: record(alice.socket, 'pattern_alert'), bob: record(bob.socket, 'pattern_alert') };
      const done = [alice, bob].map(({ socket }) => new Promise((resolve) => {
        socket.on('pattern_alert', (alert) => alert.symbol === 'LAST' && resolve());
      }));
      for (const [symbol, confidence] of [['FIRST', 0.9], ['LAST', 0.99]]) {
        await redisPublish('tickstock.events.patterns', JSON.stringify({
          event_type: 'pattern_detected', source: 'socketio-test', timestamp: nowSecs(),
          data: { symbol, pattern: 'Doji', confidence },
        }));
      }
      await Promise.all(done);
      const symbols = (list) => list.map((alert) => alert.symbol);
      assert.deepEqual(symbols(alerts.alice), ['LAST'], "the owner's rule refuses 0.9");
      assert.deepEqual(symbols(alerts.bob), ['FIRST', 'LAST']);
      // Once bob has had both alerts, he would have had alice's progress before them.
      assert.deepEqual(bobsProgress, []);
    });
  });
}

for (const [version, io] of [['4.x', io4], ['3.1', io3]]) {
  test(`socket.io-client ${version} with io() defaults starts on polling and upgrades`, async () => {
    const socket = io(URL, { reconnection: false, auth: { token: token(`poller-${version}`) } });
    const opened = new Promise((resolve) => socket.io.once('open', () => resolve(socket.io.engine.transport.name)));
    try {
      assert.equal(await opened, 'polling');
      const confirmed = await once(socket, 'connection_confirmed');
      assert.equal(confirmed.user_id, `poller-${version}`);
      const engine = socket.io.engine;
      if (engine.transport.name !== 'websocket') await once(engine, 'upgrade');
      assert.equal(engine.transport.name, 'websocket');
      // The session is the same one after the upgrade: its op and acknowledgement go through.
      assert.deepEqual(await emitWithAck(socket, 'watchlist', { symbols: ['spy'] }), {
        op: 'watchlist',
        source: 'session',
        symbols: ['SPY'],
      });
    } finally {
      socket.close();
    }
  });

  test(`socket.io-client ${version} on polling only gets ops, acks and events`, async () => {
    const socket = io(URL, { reconnection: false, transports: ['polling'] });
    try {
      await once(socket, 'connection_confirmed');
      assert.equal(socket.io.engine.transport.name, 'polling');
      assert.deepEqual(await emitWithAck(socket, 'watchlist', { symbols: ['qqq'] }), {
        op: 'watchlist',
        source: 'session',
        symbols: ['QQQ'],
      });
      const alert = once(socket, 'pattern_alert');
      await redisPublish('tickstock.events.patterns', JSON.stringify({
        event_type: 'pattern_detected', source: 'socketio-test', timestamp: nowSecs(),
        data: { symbol: 'QQQ', pattern: 'Hammer', confidence: 0.8 },
      }));
      assert.equal((await alert).pattern, 'Hammer');
    } finally {
      socket.close();
    }
  });
}

test('socket.io-client 4.x recovers after a forced disconnect: socket.recovered, nothing missed', async () => {
  const socket = io4(URL, { transports: ['websocket'], reconnectionDelay: 300, reconnectionDelayMax: 300 });
  const publish = (symbol) => redisPublish('tickstock.events.patterns', JSON.stringify({
    event_type: 'pattern_detected', source: 'socketio-test', timestamp: nowSecs(),
    data: { symbol, pattern: 'Recovery', confidence: 0.9 },
  }));
  try {
    await once(socket, 'connection_confirmed');
    const seen = [];
    socket.on('pattern_alert', (alert) => {
      if (alert.pattern === 'Recovery') seen.push(alert.symbol);
    });
    const first = once(socket, 'pattern_alert');
    await publish('REC1');
    await first;
    assert.equal(socket.recovered, false);
    // The transport drops: the client reconnects by itself, sending its pid and last offset.
    const disconnected = once(socket, 'disconnect');
    socket.io.engine.close();
    await disconnected;
    const reconnected = once(socket, 'connect');
    await publish('REC2');
    await publish('REC3');
    await reconnected;
    assert.equal(socket.recovered, true);
    const last = seen.includes('REC3') ? null : once(socket, 'pattern_alert');
    await last;
    assert.deepEqual(seen, ['REC1', 'REC2', 'REC3']);
  } finally {
    socket.close();
  }
});
