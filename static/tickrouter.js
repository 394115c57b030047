/**
 * tickrouter.js: a small, dependency-free client for the tickrouter WebSocket protocol
 * (docs/PROTOCOL.md). ES module; works in browsers and in any runtime with a WHATWG `WebSocket`.
 *
 * @example
 *   import { connect } from '/static/tickrouter.js';
 *   const client = connect('wss://example.com/ws', {
 *     token,                                    // optional JWT; omit for an anonymous session
 *     getToken: () => fetchMyToken(),           // optional, async: fresh tokens for expiry and reconnects
 *     topics: ['patterns', 'streaming'],        // optional; omitted = the server's default topics
 *     watchlist: ['AAPL', 'NVDA'],              // optional; this session's own symbols (prices,
 *                                               // OHLCV, ticks). Omit it to follow the user's
 *                                               // stored watchlist (signed-in sessions).
 *     patternSubscriptions: [{ pattern: 'Doji', min_confidence: 0.7 }],  // optional
 *     onStatus: (status, detail) => console.log(status, detail),
 *     onRecover: ({ recovered, notRecovered }) => {   // after each reconnect's resume
 *       if (notRecovered.patterns) refetchAlerts();    // e.g. {patterns: 'too_old'}
 *     },
 *     resumeFrom: JSON.parse(sessionStorage.getItem('positions') || 'null'),  // optional
 *   });
 *   const off = client.on('pattern_alert', (data) => console.log(data.symbol, data.pattern));
 *   client.on('backtest_result', (data, event, frame, meta) => {
 *     if (meta.queued) console.log('finished while the page was closed', meta.queuedAt);
 *   });
 *   client.on('*', (data, event) => {});          // every frame, replies included
 *   addEventListener('pagehide', () => sessionStorage.setItem('positions', JSON.stringify(client.positions())));
 *   await client.setWatchlist(['MSFT']);          // resolves with the ack data: {op, source, symbols}
 *   client.close();
 *
 * connect(url, options) -> TickrouterClient
 *   url      `ws://` / `wss://` URL of `GET /ws` (an `http(s)://` or relative URL is converted).
 *            A `token` query parameter in it is used when options.token is not given.
 *   options  token                 string | null  JWT sent as `?token=` on every (re)connect.
 *            getToken              async () => string   optional; returns a fresh JWT. Called
 *                                                 before every reconnect (and before the first
 *                                                 connect when no token is given), and when the
 *                                                 server sends `token_expiring`: the client then
 *                                                 sends `auth` with the fresh token, which keeps
 *                                                 the session (topics, watchlist, pattern
 *                                                 subscriptions) past the old token's `exp`.
 *                                                 Without it, a session whose token expires is
 *                                                 closed with `token_expired` (1008) and the
 *                                                 reconnect with the old token is refused.
 *                                                 A getToken that throws or returns nothing
 *                                                 leaves the current token in use.
 *            topics                string[]       applied with `subscribe` on every (re)connect.
 *                                                 The first `subscribe` REPLACES the server's
 *                                                 default topics; omit it to keep the defaults.
 *            watchlist             string[]       applied with `watchlist` on every (re)connect.
 *                                                 A session that sends `watchlist` watches exactly
 *                                                 those symbols from then on; a signed-in session
 *                                                 that never does follows its user's STORED
 *                                                 watchlist (GET/PUT /api/me/watchlist), so omit
 *                                                 this option (and never call setWatchlist) to
 *                                                 follow it.
 *            patternSubscriptions  object[]       applied with `pattern_subscriptions`.
 *            onStatus(status, detail)             status is one of:
 *              'connecting'   {url, attempt}            a socket is being opened (first try)
 *              'open'         {url}                     the socket is open
 *              'reconnecting' {attempt, delayMs, code, reason, handshakeFailures}
 *                                                       lost or refused; retrying after delayMs
 *              'closed'       {code, reason, fatal, byClient, message?}
 *                                                       final: after close() (fatal false) or
 *                                                       after the token was refused (fatal true)
 *            opTimeoutMs           number (10000) a request with no reply by then is rejected
 *                                                 with {code: 'timeout'}.
 *            pingIntervalMs        number (25000) app-level liveness `ping` while open; a ping
 *                                                 without a pong within opTimeoutMs drops the
 *                                                 socket and reconnects. 0 disables it.
 *            maxHandshakeFailures  number (3)     see "Reconnects" below.
 *            onRecover({recovered, notRecovered})  called after each `resume` is answered
 *                                                 (every reconnect; see "History" below), once
 *                                                 the frames it replayed went to the handlers:
 *                                                 recovered maps each stream whose missed frames
 *                                                 were all replayed to how many (e.g.
 *                                                 {patterns: 20}), notRecovered each other
 *                                                 stream to why not ('epoch_changed', 'too_old',
 *                                                 'not_allowed', 'unavailable', or the error
 *                                                 code when the server refused the resume).
 *                                                 Refetch the state of the streams not recovered.
 *            resumeFrom            object         positions() saved by an earlier client (e.g.
 *                                                 in sessionStorage): the first connect resumes
 *                                                 from them, as a reconnect does.
 *            ackIntervalMs         number (500)   a signed-in session acknowledges its user's
 *                                                 stream at most this often (see "History").
 *            WebSocket             constructor    defaults to globalThis.WebSocket.
 *
 * TickrouterClient
 *   on(event, handler) -> off()  handler(data, event, frame, meta) for one event name (e.g.
 *                                'pattern_alert', 'ack', 'error', 'connection_confirmed'),
 *                                or '*' for every frame. Returns a function that removes it.
 *                                meta is {queued, queuedAt, stream, offset}: stream and offset
 *                                are the frame's place in a recoverable stream (undefined for
 *                                other frames), queued is true (with queuedAt, epoch ms) when
 *                                the event waited in the user's offline queue.
 *   off(event, handler)
 *   subscribe(topics)            -> Promise<{op: 'subscribe', topics}>
 *   unsubscribe(topics)          -> Promise<{op: 'unsubscribe', topics}>
 *   setWatchlist(symbols)        -> Promise<{op: 'watchlist', source: 'session', symbols}>
 *                                   From then on (and after reconnects) the session watches
 *                                   exactly these symbols, no longer the stored watchlist.
 *   setPatternSubscriptions(subs)-> Promise<{op: 'pattern_subscriptions', count}>
 *   auth(token)                  -> Promise<{op: 'auth', user_id, roles, topics, watchlist}>  (used on reconnects)
 *   ping()                       -> Promise<{server_time}>
 *   positions()                  -> {stream: {epoch, offset}}: where the client is in each
 *                                   recoverable stream it follows (what a reconnect resumes
 *                                   from). epoch is null once Redis lost that history while
 *                                   connected: a resume from it reports 'epoch_changed'.
 *   close()                      closes for good; no reconnect. A pending acknowledgement of
 *                                the user's stream is sent first.
 *   status, sessionId, userId, roles, topics   last known values (read-only).
 *   watchlist                    {symbols, source} | null: the symbols the session watches and
 *                                where they come from, 'stored' (the user's stored watchlist,
 *                                kept up to date from `preferences_changed`) or 'session' (its
 *                                own list), from connection_confirmed and the acks (read-only).
 *
 * Token expiry
 *   The server sends `token_expiring` {expires_at} (epoch ms) 60 s before the token's `exp`,
 *   or halfway through what is left when that is sooner, and closes the session at `exp` with
 *   1008 `token_expired` unless `auth` gave it a fresh token for the same user. With getToken
 *   this is handled here; handlers registered with on('token_expiring') still see the event.
 *
 *   Every op carries a fresh numeric `id`; its Promise resolves with the `ack` / `pong` data or
 *   rejects with the `error` data `{code, message}`. Client-side rejections use the codes
 *   'timeout', 'disconnected' (the socket dropped before the reply) and 'closed' (after close()).
 *   Ops called while the socket is not open are queued and sent once it opens. A bad argument
 *   (not an array or a string) rejects with {code: 'invalid_argument'} and sends nothing.
 *
 * History (docs/PROTOCOL.md, resume and ack)
 *   Frames of the recoverable streams (`patterns`, `alerts`, `system`, `admin`, and `user`: the
 *   signed-in user's own alerts, backtest events and preference changes) carry `stream` and
 *   `offset`. The client keeps a position per stream it follows: the epoch from
 *   `connection_confirmed` (or, for a stream followed later, the `subscribe` or `auth` ack) and
 *   the last offset handled (a stream it had no position for starts at that head; snapshots
 *   are not positions). After every reconnect, once the
 *   session state is sent again, it sends `resume` with those positions; the server replays what
 *   was missed and answers which streams it recovered. Frames of those streams that arrive
 *   before that answer are held, then given to the handlers in offset order per stream, each
 *   offset once (an offset already handled is dropped, whichever way it came again). A stream
 *   not recovered continues from the new connection's head, and onRecover says why. A live
 *   frame whose offset is lower than the last one on that connection means Redis lost the
 *   stream's history and offsets began again: the position's epoch becomes unknown.
 *   `queued_message` (the user's stream entries that arrived while no page of theirs
 *   acknowledged them, sent right after `connection_confirmed`) goes to 'queued_message'
 *   handlers with its data {event, data, queued_at}, and to the original event's handlers with
 *   the original data and meta.queued true; '*' handlers get the frame once, as it came.
 *   A signed-in session acknowledges (op `ack`) the highest user-stream offset whose handlers
 *   ran, at most every ackIntervalMs and before close(), so the next page of that user is not
 *   sent those entries again; what was not acknowledged comes again as `queued_message` and is
 *   dropped if this client already handled it.
 *
 * Reconnects
 *   Exponential backoff with jitter: 0.5 s doubling up to 30 s (each delay is drawn from
 *   [d/2, d]), reset once a connection is confirmed by the server. After every reconnect the
 *   client re-applies the topics, watchlist and pattern subscriptions the server last
 *   acknowledged (or those given to connect()), then sends `resume` (see "History"), then any
 *   queued ops. A session that
 *   followed its user's stored watchlist is not given a watchlist on reconnect (it follows the
 *   stored one again); only the `symbol:` topics it subscribed itself are re-subscribed.
 *   The browser WebSocket API hides HTTP status codes, so a refused token (HTTP 401) shows up as a
 *   socket that closes before it opens. When a token is in use, `maxHandshakeFailures` such
 *   immediate pre-open closes in a row end the client with onStatus('closed', {fatal: true}).
 *   To tell a refused token from a server that is merely down, each such close is followed by a
 *   plain HTTP GET of the same URL (it opens no session): a readable 401 is fatal at once, a
 *   network error or a 503 (session limit) does not count, and an unreadable status (a
 *   cross-origin page) counts toward the limit. (A page whose Content-Security-Policy blocks that
 *   GET sees it as a network error and keeps retrying.) Without a token a 401 is impossible, so
 *   pre-open failures are retried forever. No reconnect ever happens after close().
 */

const BACKOFF_INITIAL_MS = 500;
const BACKOFF_MAX_MS = 30000;
/** A pre-open close later than this after the socket was created is not a refused handshake. */
const IMMEDIATE_CLOSE_MS = 5000;
const REPLY_EVENTS = new Set(['ack', 'pong', 'error']);
/** The user's own recoverable stream: the one a signed-in session acknowledges. */
const USER_STREAM = 'user';

/**
 * Opens a tickrouter client. See the module header for the options.
 * @param {string} url
 * @param {object} [options]
 * @returns {TickrouterClient}
 */
export function connect(url, options = {}) {
  return new TickrouterClient(url, options);
}

export class TickrouterClient {
  constructor(url, options = {}) {
    this._url = toWsUrl(url);
    this._token = options.token != null ? String(options.token) : this._url.searchParams.get('token');
    this._url.searchParams.delete('token');
    this._onStatus = typeof options.onStatus === 'function' ? options.onStatus : () => {};
    this._opTimeoutMs = options.opTimeoutMs ?? 10000;
    this._pingIntervalMs = options.pingIntervalMs ?? 25000;
    this._maxHandshakeFailures = options.maxHandshakeFailures ?? 3;
    this._getToken = typeof options.getToken === 'function' ? options.getToken : null;
    this._onRecover = typeof options.onRecover === 'function' ? options.onRecover : null;
    this._ackIntervalMs = options.ackIntervalMs ?? 500;
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new Error('tickrouter.js: no WebSocket implementation available');
    }

    // What to re-apply after a reconnect; null means "never set, keep the server's default".
    const symbolTopics = [];
    let topics = null;
    if (Array.isArray(options.topics)) {
      topics = [];
      for (const t of options.topics) {
        const s = String(t);
        if (s.startsWith('symbol:')) symbolTopics.push(s.slice(7));
        else topics.push(s);
      }
    }
    let symbols = Array.isArray(options.watchlist) ? options.watchlist.map(String) : null;
    if (symbolTopics.length && symbols !== null) symbols = [...symbols, ...symbolTopics];
    this._want = {
      topics,
      // The session's own symbol list (sent with `watchlist`), or null: never set, so a
      // signed-in session follows its user's stored watchlist.
      symbols,
      // `symbol:` topics subscribed while `symbols` is null: re-subscribed after a reconnect
      // without replacing the stored watchlist.
      symbolTopics: symbols === null ? symbolTopics.map(normaliseSymbol) : [],
      patterns: Array.isArray(options.patternSubscriptions) ? options.patternSubscriptions : null,
    };

    this._handlers = new Map();
    this._pending = new Map(); // id -> {resolve, reject, timer, onAck}
    this._outbox = []; // requests waiting for an open socket
    this._nextId = 1;
    this._ws = null;
    this._attempt = 0; // reconnect attempts since the last confirmed connection
    this._handshakeFailures = 0;
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._closedByUser = false;
    this._status = 'connecting';
    this.sessionId = null;
    this.userId = null;
    this.roles = [];
    this.topics = [];
    this.watchlist = null;

    // Per recoverable stream: {epoch, offset, seen}. epoch: null when unknown; offset: where a
    // resume starts (the last offset handled, or the head it started at); seen: the highest
    // offset handed to the handlers in this epoch (0: none), so a repeat is dropped.
    this._positions = new Map();
    for (const [name, p] of Object.entries(options.resumeFrom ?? {})) {
      if (p && (typeof p.epoch === 'string' || p.epoch === null) && Number.isInteger(p.offset) && p.offset >= 0) {
        this._positions.set(name, { epoch: p.epoch, offset: p.offset, seen: p.offset });
      } else {
        console.warn(`tickrouter.js: ignoring resumeFrom.${name}: not {epoch, offset}`, p);
      }
    }
    this._heads = {}; // the current connection's connection_confirmed `streams`
    this._connLast = new Map(); // per stream, the last offset received on the current connection
    this._recovery = null; // {streams, held: frames} while a resume awaits its answer
    // The user's stream on the current connection: the highest offset handled, the highest
    // acknowledgement sent, and the timer that coalesces acknowledgements.
    this._ackable = 0;
    this._ackSent = 0;
    this._ackTimer = null;

    if (this._token || !this._getToken) this._open(false);
    else this._freshToken().then(() => this._closedByUser || this._open(false));
  }

  get status() {
    return this._status;
  }

  on(event, handler) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    this._handlers.get(event).add(handler);
    return () => this.off(event, handler);
  }

  off(event, handler) {
    this._handlers.get(event)?.delete(handler);
  }

  subscribe(topics) {
    const list = toStrings(topics);
    if (!list) return badArgument('topics');
    return this._request('subscribe', { topics: list }, () => this._trackSymbolTopics(list, true));
  }

  unsubscribe(topics) {
    const list = toStrings(topics);
    if (!list) return badArgument('topics');
    return this._request('unsubscribe', { topics: list }, () => this._trackSymbolTopics(list, false));
  }

  setWatchlist(symbols) {
    const list = toStrings(symbols);
    return list ? this._request('watchlist', { symbols: list }) : badArgument('symbols');
  }

  setPatternSubscriptions(subs) {
    if (!Array.isArray(subs)) return badArgument('subscriptions');
    const subscriptions = subs.map(normaliseSubscription);
    return this._request('pattern_subscriptions', { subscriptions }, () => {
      this._want.patterns = subscriptions;
    });
  }

  auth(token) {
    const t = String(token);
    return this._request('auth', { token: t }, () => {
      this._token = t;
    });
  }

  ping() {
    return this._request('ping', {});
  }

  positions() {
    const out = {};
    for (const [name, p] of this._positions) out[name] = { epoch: p.epoch, offset: p.offset };
    return out;
  }

  close() {
    if (this._closedByUser) return;
    // Before anything is torn down: the server handles the ack before the close frame.
    this._sendAck();
    this._closedByUser = true;
    clearTimeout(this._reconnectTimer);
    this._stopPing();
    this._endConnection();
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, 'client closed');
      } catch (_) {
        /* already closing */
      }
    }
    this._failAll('closed', 'the client was closed');
    this._setStatus('closed', { code: 1000, reason: 'client closed', fatal: false, byClient: true });
  }

  // ---- internals -------------------------------------------------------------------------

  _setStatus(status, detail) {
    this._status = status;
    try {
      this._onStatus(status, detail);
    } catch (err) {
      console.error('tickrouter.js: onStatus handler failed', err);
    }
  }

  _open(isRetry) {
    const url = new URL(this._url.href);
    if (this._token) url.searchParams.set('token', this._token);
    if (!isRetry) this._setStatus('connecting', { url: this._url.href, attempt: this._attempt });
    let ws;
    try {
      ws = new this._WebSocket(url.href);
    } catch (err) {
      // A malformed URL cannot get better by retrying.
      this._closedByUser = true;
      this._failAll('closed', String(err && err.message ? err.message : err));
      this._setStatus('closed', { code: 0, reason: 'invalid_url', fatal: true, byClient: false, message: String(err) });
      return;
    }
    this._ws = ws;
    const createdAt = Date.now();
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this._handshakeFailures = 0;
      this._setStatus('open', { url: this._url.href });
      this._reapply();
      this._resume();
      const queued = this._outbox.splice(0);
      for (const req of queued) this._transmit(req);
      this._startPing();
    };
    ws.onmessage = (msg) => this._onFrame(msg.data);
    const end = (code, reason) => {
      if (this._ws !== ws) return;
      detach(ws);
      this._onClose(code, reason, opened, Date.now() - createdAt);
    };
    // Browsers follow an error with a close event, but not every implementation does (Node's
    // undici skips it for a refused handshake), so an error ends the attempt by itself.
    ws.onerror = () => {
      end(1006, '');
      try {
        ws.close();
      } catch (_) {
        /* ignore */
      }
    };
    ws.onclose = (ev) => end(ev.code, ev.reason);
  }

  async _onClose(code, reason, opened, lifetimeMs) {
    this._ws = null;
    this._stopPing();
    this._endConnection();
    this._failAll('disconnected', `connection lost (${code}${reason ? ' ' + reason : ''})`);
    if (this._closedByUser) return;
    if (!opened && this._token && lifetimeMs < IMMEDIATE_CLOSE_MS) {
      const cause = await this._probeRefusal();
      if (this._closedByUser) return;
      if (cause === 'unknown') this._handshakeFailures += 1;
      if (cause === 'refused' || this._handshakeFailures >= this._maxHandshakeFailures) {
        this._closedByUser = true;
        this._failAll('closed', 'the token was refused');
        this._setStatus('closed', {
          code,
          reason: 'handshake_failed',
          fatal: true,
          byClient: false,
          message:
            cause === 'refused'
              ? 'the server refused the token (HTTP 401: invalid, expired or not accepted)'
              : `the connection closed before opening ${this._handshakeFailures} times in a row: ` +
                'the token was most likely refused (HTTP 401)',
        });
        return;
      }
    }
    this._scheduleReconnect(code, reason);
  }

  /**
   * Why a handshake with a token failed, from a plain HTTP GET of the same URL (no upgrade, so no
   * session): 'refused' (401), 'busy' (503), 'accepted' (any other readable status: the token is
   * fine), 'unreachable' (network error: the server is down) or 'unknown' (the status is not
   * readable, e.g. a cross-origin page, or no fetch()). Only 'unknown' counts toward
   * maxHandshakeFailures; 'refused' is fatal at once.
   */
  async _probeRefusal() {
    if (typeof fetch !== 'function') return 'unknown';
    const url = new URL(this._url.href);
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    url.searchParams.set('token', this._token);
    const inBrowser = typeof location !== 'undefined';
    const sameOrigin = inBrowser && url.origin === location.origin;
    const init = { cache: 'no-store', credentials: 'omit' };
    if (inBrowser && !sameOrigin) init.mode = 'no-cors';
    let timer;
    try {
      const controller = typeof AbortController === 'function' ? new AbortController() : null;
      if (controller) {
        init.signal = controller.signal;
        timer = setTimeout(() => controller.abort(), IMMEDIATE_CLOSE_MS);
      }
      const res = await fetch(url.href, init);
      if (res.type === 'opaque') return 'unknown';
      if (res.status === 401) return 'refused';
      if (res.status === 503) return 'busy';
      return 'accepted';
    } catch (_) {
      return 'unreachable';
    } finally {
      clearTimeout(timer);
    }
  }

  /** Replaces the token with getToken()'s, if there is a getToken and it gives one. */
  async _freshToken() {
    if (!this._getToken) return false;
    try {
      const token = await this._getToken();
      if (typeof token === 'string' && token) {
        this._token = token;
        return true;
      }
    } catch (err) {
      console.warn('tickrouter.js: getToken failed; keeping the current token', err);
    }
    return false;
  }

  /** On `token_expiring`: a fresh token through `auth`, so the session outlives the old one. */
  async _refreshToken() {
    if (!(await this._freshToken()) || this._closedByUser) return;
    this.auth(this._token).catch((err) => {
      console.warn('tickrouter.js: the fresh token was refused', err);
    });
  }

  _scheduleReconnect(code, reason) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.min(this._attempt, 16));
    const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
    this._attempt += 1;
    this._setStatus('reconnecting', {
      attempt: this._attempt,
      delayMs,
      code,
      reason,
      handshakeFailures: this._handshakeFailures,
    });
    this._reconnectTimer = setTimeout(async () => {
      if (this._closedByUser) return;
      await this._freshToken();
      if (!this._closedByUser) this._open(true);
    }, delayMs);
  }

  /** Re-sends the session state after a (re)connect; replies flow through the usual handlers. */
  _reapply() {
    const { topics, symbols, symbolTopics, patterns } = this._want;
    const quiet = (p) => p.catch(() => {}); // errors are still delivered to on('error')
    if (topics !== null) {
      const all = symbols === null ? [...topics, ...symbolTopics.map((s) => `symbol:${s}`)] : topics;
      quiet(this._transmit(this._makeRequest('subscribe', { topics: all })));
    }
    if (symbols !== null) quiet(this._transmit(this._makeRequest('watchlist', { symbols })));
    if (patterns !== null) {
      quiet(this._transmit(this._makeRequest('pattern_subscriptions', { subscriptions: patterns })));
    }
  }

  /**
   * Sends `resume` with the positions of the streams the client had, and holds their frames
   * until it is answered (`_recovered`). Nothing to resume on a first connect unless
   * options.resumeFrom gave positions.
   */
  _resume() {
    const streams = {};
    // An unknown epoch matches none: the server answers epoch_changed, which is the truth.
    for (const [name, p] of this._positions) streams[name] = { epoch: p.epoch ?? '', offset: p.offset };
    if (Object.keys(streams).length === 0) return;
    const recovery = { streams: Object.keys(streams), held: [] };
    this._recovery = recovery;
    const req = this._makeRequest('resume', { streams }, (data) => this._recovered(recovery, data, null));
    req.onError = (err) => this._recovered(recovery, null, err);
    // A timeout keeps holding: the server answers ops in order, so the answer (and the replay
    // before it) is still coming, or the ping check drops the link.
    this._transmit(req).catch(() => {});
  }

  /** The resume's answer (or error): the held frames in order, then onRecover. */
  _recovered(recovery, data, err) {
    if (this._recovery !== recovery) return;
    this._recovery = null;
    for (const frame of inOffsetOrder(recovery.held)) this._deliver(frame);
    const answers = (data && data.streams) || {};
    const result = { recovered: {}, notRecovered: {} };
    for (const name of recovery.streams) {
      const answer = answers[name];
      if (answer && answer.recovered === true) {
        result.recovered[name] = Number(answer.replayed) || 0;
        continue;
      }
      result.notRecovered[name] = answer ? String(answer.reason) : String((err && err.code) || 'unknown');
      // What was missed is lost: carry on from this connection's head.
      const head = this._heads[name];
      const p = this._positions.get(name);
      if (p && isHead(head)) {
        p.epoch = head.epoch;
        p.offset = Math.max(p.offset, head.offset);
      }
    }
    if (!this._onRecover) return;
    try {
      this._onRecover(result);
    } catch (e) {
      console.error('tickrouter.js: onRecover handler failed', e);
    }
  }

  /** The end of a connection: held frames are dropped (the next resume replays them). */
  _endConnection() {
    this._recovery = null;
    this._connLast.clear();
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    this._ackable = 0;
    this._ackSent = 0;
  }

  /** Positions from connection_confirmed: a stream with none starts at its head. */
  _adoptHeads(streams) {
    this._heads = streams && typeof streams === 'object' ? streams : {};
    for (const [name, head] of Object.entries(this._heads)) {
      if (!isHead(head)) continue;
      const p = this._positions.get(name);
      // A known epoch that differs: Redis lost that history and its offsets began again, so
      // what was seen says nothing about what comes now. (A resume already sent for it is
      // answered epoch_changed.)
      if (!p || (p.epoch !== null && p.epoch !== head.epoch)) {
        this._positions.set(name, { epoch: head.epoch, offset: head.offset, seen: 0 });
      }
    }
  }

  /**
   * The positions an `auth` or `subscribe` ack gives for the streams it made the session follow:
   * such a stream starts there, and one whose epoch was unknown learns it.
   */
  _adoptJoined(streams) {
    if (!streams || typeof streams !== 'object') return;
    for (const [name, head] of Object.entries(streams)) {
      if (!isHead(head)) continue;
      this._heads[name] = head;
      const p = this._positions.get(name);
      if (!p) this._positions.set(name, { epoch: head.epoch, offset: head.offset, seen: 0 });
      else if (p.epoch === null) p.epoch = head.epoch;
    }
  }

  /** Forgets the positions of streams the session no longer follows. */
  _keepFollowed() {
    for (const name of this._positions.keys()) {
      const followed = name === USER_STREAM ? this.userId != null : this.topics.includes(name);
      if (!followed) this._positions.delete(name);
    }
  }

  /** A frame of a recoverable stream, in order: dropped if handled before, else dispatched. */
  _deliver(frame) {
    const { stream, offset } = frame;
    let p = this._positions.get(stream);
    const last = this._connLast.get(stream);
    this._connLast.set(stream, offset);
    if (last !== undefined && offset < last) {
      // The server never sends an offset twice on one connection: offsets began again, Redis
      // lost the history. Its new epoch is unknown until the next connection_confirmed.
      p = { epoch: null, offset: 0, seen: 0 };
      this._positions.set(stream, p);
      if (stream === USER_STREAM) this._ackable = this._ackSent = 0;
    } else if (p && offset <= p.seen) {
      // Handled on an earlier connection (the queue sends what was not yet acknowledged).
      if (stream === USER_STREAM) this._handledUser(offset);
      return;
    }
    if (!p) {
      // A stream followed since the connection started: the confirmed epoch is its history's.
      p = { epoch: isHead(this._heads[stream]) ? this._heads[stream].epoch : null, offset, seen: 0 };
      this._positions.set(stream, p);
    }
    p.seen = offset;
    p.offset = Math.max(p.offset, offset);
    const queued = frame.event === 'queued_message' && frame.data && typeof frame.data === 'object';
    if (queued) {
      // Not mirrored (_dispatch): what was queued is older than connection_confirmed's state.
      const meta = { queued: true, queuedAt: frame.data.queued_at, stream, offset };
      this._emit('queued_message', frame.data, frame, meta, true);
      if (typeof frame.data.event === 'string') this._emit(frame.data.event, frame.data.data, frame, meta, false);
    } else {
      this._dispatch(frame, { queued: false, stream, offset });
    }
    if (stream === USER_STREAM) this._handledUser(offset);
  }

  /** A user-stream offset whose handlers ran: acknowledged within ackIntervalMs. */
  _handledUser(offset) {
    if (this.userId == null) return;
    this._ackable = Math.max(this._ackable, offset);
    if (this._ackable > this._ackSent && this._ackTimer === null) {
      this._ackTimer = setTimeout(() => {
        this._ackTimer = null;
        this._sendAck();
      }, this._ackIntervalMs);
    }
  }

  /** Acknowledges the user's stream up to the highest offset handled, if not done yet. */
  _sendAck() {
    clearTimeout(this._ackTimer);
    this._ackTimer = null;
    const upTo = this._ackable;
    const ws = this._ws;
    if (upTo <= this._ackSent || !ws || ws.readyState !== 1 || this._closedByUser) return;
    this._ackSent = upTo;
    this._request('ack', { streams: { [USER_STREAM]: upTo } }).catch(() => {
      // Refused (rate_limited, unavailable): try again later on this connection. A lost
      // connection needs nothing: the entries come again as queued_message and are
      // acknowledged then.
      if (this._ws !== ws || this._ackSent !== upTo) return;
      this._ackSent = 0;
      this._handledUser(upTo);
    });
  }

  _makeRequest(op, fields, onAck) {
    const req = { id: this._nextId++, op, fields, onAck };
    req.promise = new Promise((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    return req;
  }

  _request(op, fields, onAck) {
    if (this._closedByUser) {
      return Promise.reject({ code: 'closed', message: 'the client was closed' });
    }
    const req = this._makeRequest(op, fields, onAck);
    if (this._ws && this._ws.readyState === 1) this._transmit(req);
    else this._outbox.push(req);
    return req.promise;
  }

  _transmit(req) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) {
      this._outbox.push(req);
      return req.promise;
    }
    req.timer = setTimeout(() => {
      // Stays pending: a late ack still updates the mirrored state (settling twice is a no-op).
      req.reject({ code: 'timeout', message: `no reply to ${req.op} within ${this._opTimeoutMs} ms` });
    }, this._opTimeoutMs);
    this._pending.set(req.id, req);
    ws.send(JSON.stringify({ op: req.op, id: req.id, ...req.fields }));
    return req.promise;
  }

  _failAll(code, message) {
    for (const req of this._pending.values()) {
      clearTimeout(req.timer);
      req.reject({ code, message });
    }
    this._pending.clear();
    if (code === 'closed') {
      for (const req of this._outbox.splice(0)) req.reject({ code, message });
    }
  }

  _onFrame(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (_) {
      console.warn('tickrouter.js: ignoring a frame that is not JSON');
      return;
    }
    if (!frame || typeof frame.event !== 'string') return;
    const { event, data } = frame;
    if (isPositioned(frame)) {
      if (this._recovery) this._recovery.held.push(frame);
      else this._deliver(frame);
      return;
    }
    if (event === 'connection_confirmed' && data) {
      this._attempt = 0; // a confirmed connection resets the backoff
      this.sessionId = data.session_id ?? null;
      this.userId = data.user_id ?? null;
      this.roles = Array.isArray(data.roles) ? data.roles : [];
      this.topics = Array.isArray(data.topics) ? data.topics : [];
      this.watchlist = readWatchlist(data.watchlist);
      this._adoptHeads(data.streams);
      this._keepFollowed();
    } else if (event === 'token_expiring') {
      this._refreshToken();
    } else if (REPLY_EVENTS.has(event)) {
      this._settle(event, data, frame.id);
    }
    this._dispatch(frame, { queued: false });
  }

  /** Hands a frame to its handlers, after mirroring what it changes in the client's state. */
  _dispatch(frame, meta) {
    const { event, data } = frame;
    if (event === 'preferences_changed' && data) {
      const stored = data.changed === 'watchlist' && data.watchlist;
      if (stored && Array.isArray(stored.symbols) && this.watchlist && this.watchlist.source === 'stored') {
        this.watchlist = { source: 'stored', symbols: [...stored.symbols].map(String).sort() };
      }
    }
    this._emit(event, data, frame, meta, true);
  }

  _settle(event, data, id) {
    let req;
    if (id != null) {
      req = this._pending.get(id);
    } else if (event === 'error') {
      // Errors raised before the server parsed the frame (rate_limited, frame_too_large, ...)
      // carry no id. The server answers frames in order, so it belongs to the oldest request.
      req = this._pending.values().next().value;
    }
    if (!req) return;
    this._pending.delete(req.id);
    clearTimeout(req.timer);
    if (event === 'error') {
      if (req.onError) req.onError(data);
      req.reject(data);
      return;
    }
    if (event === 'ack' && data) {
      this._applyAck(data);
      this._adoptJoined(data.streams);
    }
    if (req.onAck) req.onAck(data);
    req.resolve(data);
  }

  /** Mirrors what the server acknowledged, so a reconnect restores exactly that. */
  _applyAck(data) {
    if ((data.op === 'subscribe' || data.op === 'unsubscribe') && Array.isArray(data.topics)) {
      this.topics = data.topics;
      this._keepFollowed();
      const topics = [];
      const symbols = [];
      for (const t of data.topics) {
        if (t.startsWith('symbol:')) symbols.push(t.slice(7));
        else topics.push(t);
      }
      this._want.topics = topics;
      if (this.watchlist) this.watchlist = { source: this.watchlist.source, symbols: [...symbols].sort() };
      // While the session follows the stored watchlist, the acked symbols are the stored ones
      // (plus its own symbol: topics, tracked apart): adopting them as the session's own list
      // would make the next reconnect send `watchlist` and stop following the stored one.
      if (!this._followsStored() && (symbols.length || this._want.symbols !== null)) {
        this._want.symbols = symbols;
      }
    } else if (data.op === 'watchlist' && Array.isArray(data.symbols)) {
      this._want.symbols = data.symbols;
      this._want.symbolTopics = [];
      this.watchlist = { source: typeof data.source === 'string' ? data.source : 'session', symbols: data.symbols };
      const plain = this.topics.filter((t) => !t.startsWith('symbol:'));
      this.topics = [...plain, ...data.symbols.map((s) => `symbol:${s}`)];
    } else if (data.op === 'auth') {
      const userId = data.user_id ?? null;
      if (userId !== this.userId) {
        // Another user's stream: nothing of the old one's position or acknowledgements applies.
        this._positions.delete(USER_STREAM);
        this._connLast.delete(USER_STREAM);
        this._ackable = this._ackSent = 0;
      }
      this.userId = userId;
      this.roles = Array.isArray(data.roles) ? data.roles : [];
      if (Array.isArray(data.topics)) this.topics = data.topics;
      if (data.watchlist) this.watchlist = readWatchlist(data.watchlist);
      this._keepFollowed();
    }
  }

  /** Whether the session follows its user's stored watchlist (it never sent its own). */
  _followsStored() {
    return this._want.symbols === null && this.watchlist !== null && this.watchlist.source === 'stored';
  }

  /** Remembers the `symbol:` topics the caller (un)subscribed while it has no list of its own. */
  _trackSymbolTopics(list, add) {
    if (this._want.symbols !== null) return;
    const mine = new Set(this._want.symbolTopics);
    for (const t of list) {
      if (!t.startsWith('symbol:')) continue;
      const s = normaliseSymbol(t.slice(7));
      if (add) mine.add(s);
      else mine.delete(s);
    }
    this._want.symbolTopics = [...mine];
  }

  /** Calls the handlers of `event`, and the '*' ones when `everyFrame` (once per frame). */
  _emit(event, data, frame, meta, everyFrame) {
    for (const key of everyFrame ? [event, '*'] : [event]) {
      const set = this._handlers.get(key);
      if (!set) continue;
      for (const handler of [...set]) {
        try {
          handler(data, event, frame, meta);
        } catch (err) {
          console.error(`tickrouter.js: handler for ${event} failed`, err);
        }
      }
    }
  }

  _startPing() {
    this._stopPing();
    if (!(this._pingIntervalMs > 0)) return;
    this._pingTimer = setInterval(() => {
      const ws = this._ws;
      if (!ws || ws.readyState !== 1) return;
      this.ping().catch((err) => {
        if (err && err.code === 'timeout' && this._ws === ws) {
          // The link is dead; a close handshake may never finish, so do not wait for it.
          detach(ws);
          try {
            ws.close(4000, 'ping timeout');
          } catch (_) {
            /* ignore */
          }
          this._onClose(4000, 'ping_timeout', true, Infinity);
        }
      });
    }, this._pingIntervalMs);
  }

  _stopPing() {
    clearInterval(this._pingTimer);
    this._pingTimer = null;
  }
}

/** Whether a frame has a place in a recoverable stream (a snapshot's is from when it was live). */
function isPositioned(frame) {
  return typeof frame.stream === 'string' && Number.isInteger(frame.offset) && frame.snapshot !== true;
}

/** A connection_confirmed `streams` entry: {epoch, offset}. */
function isHead(head) {
  return !!head && typeof head.epoch === 'string' && Number.isInteger(head.offset);
}

/**
 * The frames, each stream's in offset order in the places that stream's frames had, so the
 * streams stay interleaved as they arrived.
 */
function inOffsetOrder(frames) {
  const byStream = new Map();
  for (const f of frames) {
    if (!byStream.has(f.stream)) byStream.set(f.stream, []);
    byStream.get(f.stream).push(f);
  }
  for (const list of byStream.values()) list.sort((a, b) => a.offset - b.offset);
  const next = new Map([...byStream.keys()].map((k) => [k, 0]));
  return frames.map((f) => {
    const i = next.get(f.stream);
    next.set(f.stream, i + 1);
    return byStream.get(f.stream)[i];
  });
}

function detach(ws) {
  ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
}

/** An array of strings from an array or a single string; null for anything else. */
function toStrings(list) {
  if (typeof list === 'string') return [list];
  return Array.isArray(list) ? list.map(String) : null;
}

/** connection_confirmed's / the auth ack's `watchlist` as {source, symbols}, or null (older servers). */
function readWatchlist(w) {
  if (!w || typeof w !== 'object' || !Array.isArray(w.symbols)) return null;
  return { source: w.source === 'stored' ? 'stored' : 'session', symbols: w.symbols.map(String) };
}

function normaliseSymbol(s) {
  return String(s).trim().toUpperCase();
}

function badArgument(name) {
  return Promise.reject({ code: 'invalid_argument', message: `${name} must be an array of strings` });
}

function normaliseSubscription(sub) {
  const out = { pattern: String(sub.pattern), min_confidence: Number(sub.min_confidence ?? 0) };
  if (Array.isArray(sub.symbols) && sub.symbols.length) out.symbols = sub.symbols.map(String);
  return out;
}

function toWsUrl(url) {
  const base = typeof location !== 'undefined' ? location.href : undefined;
  const u = new URL(String(url), base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  return u;
}
