// The bundled tickrouter dashboard (served at `/`). Protocol: docs/PROTOCOL.md.
//
// SECURITY: every string that comes from the server is written with textContent, an attribute
// or a dataset entry, never parsed as HTML. Keep it that way: no innerHTML / insertAdjacentHTML.

import { connect } from '/static/tickrouter.js';

/** This tab's own token outside demo mode: sessionStorage, so it survives a reload of this tab only. */
const STORAGE_TOKEN = 'tickrouter.dashboard.token';

// The first thing the page does: a token handed over in the URL fragment (`/#token=...`) leaves
// the address bar and this history entry at once, before anything can copy, log or bookmark the
// URL; from here on it lives in this tab's sessionStorage only. See takeFragmentToken.
const FRAGMENT_TOKEN = takeFragmentToken();

const DEFAULT_WATCHLIST = ['AAPL', 'MSFT', 'NVDA', 'TSLA', 'AMZN', 'GOOGL'];
const STORAGE_WATCHLIST = 'tickrouter.dashboard.watchlist';
const STORAGE_PATTERNS = 'tickrouter.dashboard.patternSubscriptions';
/** Explicit public topics: replaces the defaults, so an admin token does not pull the raw tick feed. */
const TOPICS = ['patterns', 'streaming', 'alerts', 'market', 'system'];
const MAX_PATTERN_ROWS = 100;
const MAX_ALERTS = 100;
const MAX_STREAM_PATTERNS = 15;
const MAX_INDICATORS = 40;
const SPARK_POINTS = 60;
const MAX_JOBS = 20;
const SYMBOL_RE = /^[A-Za-z0-9.\-_/:^=]{1,32}$/;
const REPLIES = new Set(['ack', 'pong', 'error', 'connection_confirmed']);
const MAX_OPS_ENTRIES = 200;
/** `/?admin=1`: in demo mode, ask for a demo token with the admin role (the errors panel). */
const WANT_ADMIN = ['1', 'true', 'yes'].includes(new URLSearchParams(location.search).get('admin') ?? '');

const $ = (id) => document.getElementById(id);

// ---- small DOM and formatting helpers --------------------------------------------------------

/** createElement with text-only children: strings become text nodes, never markup. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text != null) node.textContent = String(props.text);
  if (props.title) node.title = String(props.title);
  if (props.dataset) for (const [k, v] of Object.entries(props.dataset)) node.dataset[k] = String(v);
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(id, text) {
  const node = $(id);
  if (node) node.textContent = text == null ? '–' : String(text);
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

function fmtTime(ms) {
  if (!isNum(ms)) return '–';
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function fmtDateTime(ms) {
  if (!isNum(ms)) return '–';
  return new Date(ms).toLocaleString([], { hour12: false });
}

function fmtNum(n, maxDigits = 4) {
  if (!isNum(n)) return '–';
  return n.toLocaleString(undefined, { maximumFractionDigits: maxDigits });
}

function fmtPrice(n) {
  if (!isNum(n)) return '–';
  return n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: n < 1 ? 4 : 2 });
}

function fmtCompact(n) {
  if (!isNum(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e12) return (n / 1e12).toFixed(2) + 'T';
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'B';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return fmtNum(n, 2);
}

function fmtSigned(n, digits = 2, suffix = '') {
  if (!isNum(n)) return '–';
  return (n > 0 ? '+' : '') + n.toFixed(digits) + suffix;
}

/** Confidence (0..1) as a whole percentage; the same rounding is used by the filter. */
const confPct = (c) => (isNum(c) ? Math.round(c * 100) : 0);

function fmtDuration(seconds) {
  if (!isNum(seconds)) return '–';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

function compactValue(v, max = 80) {
  if (isNum(v)) return fmtNum(v);
  if (typeof v === 'string') return v.length > max ? v.slice(0, max) + '…' : v;
  if (v == null || typeof v !== 'object') return String(v);
  const json = JSON.stringify(v);
  return json.length > max ? json.slice(0, max) + '…' : json;
}

/** `{a: 1, b: {c: 2}}` -> `a=1 b={"c":2}` (at most `limit` entries). */
function compactObject(obj, limit = 8) {
  if (!obj || typeof obj !== 'object') return '';
  const entries = Object.entries(obj);
  const shown = entries.slice(0, limit).map(([k, v]) => `${k}=${compactValue(v, 40)}`);
  if (entries.length > limit) shown.push(`+${entries.length - limit} more`);
  return shown.join(' ');
}

function healthLevel(status) {
  const s = String(status ?? '').trim().toLowerCase();
  if (!s || s === 'unknown') return 'unknown';
  if (['healthy', 'ok', 'good', 'active', 'online', 'running', 'connected', 'up', 'completed'].includes(s)) return 'good';
  if (['degraded', 'warning', 'warn', 'idle', 'reconnecting', 'starting', 'stopped', 'paused'].includes(s)) return 'warn';
  return 'bad';
}

function setBadge(id, status) {
  const node = $(id);
  if (!node) return;
  node.textContent = status == null || status === '' ? 'unknown' : String(status);
  node.dataset.level = healthLevel(status);
}

function kvList(dl, entries) {
  dl.replaceChildren(
    ...entries.map(([k, v]) => el('div', {}, el('dt', { text: k }), el('dd', { text: v, title: v }))),
  );
}

function loadJson(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw == null ? fallback : JSON.parse(raw);
  } catch (_) {
    return fallback;
  }
}

function saveJson(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (_) {
    /* storage disabled or full: the setting just does not persist */
  }
}

let noticeTimer = null;
function showNotice(text, sticky = false) {
  const node = $('notice');
  node.textContent = text;
  node.title = text;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => (node.textContent = ''), 8000);
}

function setNote(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle('error', isError);
}

const describeError = (err) =>
  err && err.code ? `${err.code}: ${err.message ?? ''}` : String(err && err.message ? err.message : err);

// ---- state -----------------------------------------------------------------------------------

function loadWatchlist() {
  const saved = loadJson(STORAGE_WATCHLIST, null);
  if (Array.isArray(saved) && saved.every((s) => typeof s === 'string' && SYMBOL_RE.test(s))) {
    return saved.map((s) => s.toUpperCase());
  }
  return [...DEFAULT_WATCHLIST];
}

function loadPatternSubs() {
  const saved = loadJson(STORAGE_PATTERNS, []);
  if (!Array.isArray(saved)) return [];
  return saved.filter(
    (r) => r && typeof r.pattern === 'string' && r.pattern.trim() && isNum(r.min_confidence) &&
      r.min_confidence >= 0 && r.min_confidence <= 1 &&
      (r.symbols == null || (Array.isArray(r.symbols) && r.symbols.every((s) => typeof s === 'string'))),
  );
}

const state = {
  watchlist: loadWatchlist(),
  /** The user's preferred tile order (the server acks symbols sorted). */
  watchOrder: [],
  patternSubs: loadPatternSubs(),
  minConfidence: 0,
  eventsThisSecond: 0,
  /** GET /api/info: {auth, demo_mode}, read once at start. */
  info: { auth: true, demo_mode: false },
  /** Where state.token comes from: 'demo' (/api/demo-token), 'user' (signed in: pasted or #token=), null (anonymous). */
  tokenSource: null,
  tokenRetried: false,
  /** The page's token (the demo token in demo mode, else the user's), also used for the HTTP APIs. */
  token: null,
  /** Bumped on every identity change: API answers for an earlier identity are dropped. */
  epoch: 0,
  /** From connection_confirmed: null for an anonymous session. */
  userId: null,
  roles: [],
  /** Where the watched symbols come from: 'stored' (the user's stored watchlist), 'session' (this tab's own list), null (not known yet). */
  watchSource: null,
  /** The user's stored watchlist as last read (GET/PUT /api/me/watchlist, preferences_changed), or null. */
  storedWatchlist: null,
  /** The alert rules last rendered in the preferences form, and whether the form has unsaved edits. */
  prefs: null,
  prefsDirty: false,
  /** A PUT is in flight: a preferences_changed meanwhile is most likely its own echo. */
  prefsSaving: false,
  patternAlertsTotal: 0,
};
state.watchOrder = [...state.watchlist];

/** @type {import('./tickrouter.js').TickrouterClient | null} */
let client = null;

// ---- header ------------------------------------------------------------------------------

function onStatus(status, detail = {}) {
  const pill = $('status');
  pill.dataset.status = status;
  pill.textContent = status;
  if (status === 'open') {
    showNotice('');
  } else if (status === 'reconnecting') {
    pill.title = `retry ${detail.attempt} in ${Math.round(detail.delayMs / 100) / 10} s`;
    showNotice(`connection lost (${detail.code || 'no code'}${detail.reason ? ' ' + detail.reason : ''}); ` +
      `retrying in ${(detail.delayMs / 1000).toFixed(1)} s`, true);
  } else if (status === 'closed' && detail.fatal) {
    onFatalClose(detail);
  }
}

async function onFatalClose(detail) {
  // The user's own token: say so, offer the sign-in form again, carry on anonymously.
  if (state.tokenSource === 'user') {
    tokenRefused(detail.message || 'the server refused the token');
    return;
  }
  // A demo token expires; fetch a fresh one once before giving up.
  if (state.tokenSource === 'demo' && !state.tokenRetried) {
    state.tokenRetried = true;
    showNotice('token refused; requesting a new one…', true);
    const fresh = await fetchDemoToken();
    start(fresh, fresh ? 'demo' : null);
    return;
  }
  showNotice(`disconnected: ${detail.message || detail.reason}. Reload the page to retry.`, true);
}

function onConnectionConfirmed(data) {
  state.tokenRetried = false;
  state.userId = data.user_id == null ? null : String(data.user_id);
  state.roles = Array.isArray(data.roles) ? data.roles.map(String) : [];
  const user = state.userId ?? 'anonymous';
  const roles = state.roles.length ? ` (${state.roles.join(', ')})` : '';
  setText('user-id', user + roles);
  // A signed-in session sends no watchlist: it follows the stored one, which this reports. An
  // anonymous session's own list is re-sent on every connect and its ack follows.
  if (state.userId != null && data.watchlist && Array.isArray(data.watchlist.symbols)) {
    applyEffectiveWatchlist(data.watchlist.symbols, data.watchlist.source === 'stored' ? 'stored' : 'session');
  } else if (state.userId == null) {
    state.storedWatchlist = null;
  }
  $('watchlist-submit').textContent = state.userId != null ? 'Save my watchlist' : 'Set watchlist';
  $('watchlist-submit').title = state.userId != null
    ? 'Stores it for your user (PUT /api/me/watchlist): every session of yours that follows it updates'
    : "Sets this tab's own list";
  renderWatchSource();
  showPreferencesPanel(state.userId != null);
  showAdminPanel(state.roles.includes('admin'));
  if (state.userId != null && state.tokenSource === 'user') renderSignIn('hidden');
  setNote(
    'backtests-note',
    data.user_id == null ? anonymousBacktestsNote() : 'Progress and results of your own jobs appear here.',
  );
  $('backtest-submit').disabled = data.user_id == null;
  loadJobs();
}

function countEvent(_data, event) {
  if (!REPLIES.has(event)) state.eventsThisSecond += 1;
}

// ---- pattern alerts ----------------------------------------------------------------------

function onPatternAlert(a) {
  state.patternAlertsTotal += 1;
  $('pattern-alerts-body').dataset.total = String(state.patternAlertsTotal);
  const pct = confPct(a.confidence);
  const tierTf = [a.tier, a.timeframe].filter(Boolean).join(' / ') || '–';
  const extra = [
    isNum(a.price_change) ? `price change ${fmtSigned(a.price_change)}` : '',
    isNum(a.volume) ? `volume ${fmtCompact(a.volume)}` : '',
    isNum(a.expires_at) ? `expires ${fmtDateTime(a.expires_at)}` : '',
    a.details ? `details: ${compactObject(a.details)}` : '',
    a.indicators ? `indicators: ${compactObject(a.indicators)}` : '',
    a.metadata ? `metadata: ${compactObject(a.metadata)}` : '',
  ].filter(Boolean).join('\n');
  const row = el(
    'tr',
    { className: 'fresh', dataset: { confidence: pct, symbol: a.symbol }, title: extra },
    el('td', { className: 'num', text: fmtTime(a.timestamp) }),
    el('td', { className: 'sym', text: a.symbol }),
    el('td', { text: a.pattern }),
    el('td', { className: 'num', text: `${pct}%` }),
    el('td', { text: tierTf }),
    el('td', { className: 'num', text: isNum(a.current_price) ? fmtPrice(a.current_price) : '–' }),
    el('td', { text: a.source ?? '–' }),
  );
  row.hidden = pct < state.minConfidence;
  const body = $('pattern-alerts-body');
  body.prepend(row);
  while (body.rows.length > MAX_PATTERN_ROWS) body.lastElementChild.remove();
  updatePatternCount();
}

function applyConfidenceFilter() {
  state.minConfidence = Number($('confidence-filter').value) || 0;
  $('confidence-value').textContent = `${state.minConfidence}%`;
  for (const row of $('pattern-alerts-body').rows) {
    row.hidden = Number(row.dataset.confidence) < state.minConfidence;
  }
  updatePatternCount();
}

function updatePatternCount() {
  const rows = $('pattern-alerts-body').rows;
  let shown = 0;
  for (const row of rows) if (!row.hidden) shown += 1;
  setText('pattern-alerts-count', rows.length ? `showing ${shown} of ${rows.length}` : 'no alerts yet');
}

// ---- pattern subscriptions editor --------------------------------------------------------

function renderPatternSubs() {
  const list = $('pattern-subs-list');
  list.replaceChildren(
    ...state.patternSubs.map((rule, i) => {
      const symbols = rule.symbols && rule.symbols.length ? ` on ${rule.symbols.join(', ')}` : '';
      const remove = el('button', { className: 'link', text: '×', title: 'Remove this rule' });
      remove.type = 'button';
      remove.addEventListener('click', () => applyPatternSubs(state.patternSubs.filter((_, j) => j !== i)));
      return el('li', {}, `${rule.pattern} ≥ ${rule.min_confidence}${symbols}`, remove);
    }),
  );
  const n = state.patternSubs.length;
  setText('pattern-subs-summary', n ? `${n} rule${n === 1 ? '' : 's'}` : 'all patterns');
}

function applyPatternSubs(next) {
  if (!client) return;
  setNote('pattern-subs-status', 'applying…');
  client
    .setPatternSubscriptions(next)
    .then((ack) => {
      state.patternSubs = next;
      saveJson(STORAGE_PATTERNS, next);
      renderPatternSubs();
      setNote('pattern-subs-status',
        ack.count ? `server filter active: ${ack.count} rule(s)` : 'no filter: every pattern alert is delivered');
    })
    .catch((err) => setNote('pattern-subs-status', `not applied: ${describeError(err)}`, true));
}

function onPatternSubSubmit(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  const pattern = form.elements.pattern.value.trim();
  const min = Number(form.elements.min_confidence.value);
  const symbols = parseSymbols(form.elements.symbols.value);
  if (!pattern) return setNote('pattern-subs-status', 'a pattern name is required', true);
  if (!Number.isFinite(min) || min < 0 || min > 1) {
    return setNote('pattern-subs-status', 'min confidence must be between 0 and 1', true);
  }
  if (symbols.invalid.length) {
    return setNote('pattern-subs-status', `invalid symbol(s): ${symbols.invalid.join(', ')}`, true);
  }
  const rule = { pattern, min_confidence: min };
  if (symbols.valid.length) rule.symbols = symbols.valid;
  applyPatternSubs([...state.patternSubs, rule]);
  form.elements.pattern.value = '';
  form.elements.symbols.value = '';
}

// ---- watchlist and price tiles -----------------------------------------------------------

/** @type {Map<string, object>} symbol -> tile state */
const tiles = new Map();

function parseSymbols(text) {
  const valid = [];
  const invalid = [];
  for (const raw of String(text).split(/[\s,;]+/)) {
    const s = raw.trim().toUpperCase();
    if (!s) continue;
    if (!SYMBOL_RE.test(s)) invalid.push(raw);
    else if (!valid.includes(s)) valid.push(s);
  }
  return { valid, invalid };
}

function makeTile(symbol) {
  const svgNs = 'http://www.w3.org/2000/svg';
  const spark = document.createElementNS(svgNs, 'svg');
  spark.setAttribute('class', 'spark');
  spark.setAttribute('viewBox', '0 0 120 34');
  spark.setAttribute('preserveAspectRatio', 'none');
  spark.setAttribute('aria-hidden', 'true');
  const line = document.createElementNS(svgNs, 'polyline');
  spark.append(line);
  const t = {
    symbol,
    history: [],
    price: null,
    prevClose: null,
    ref: null,
    changePct: null,
    line,
    sym: el('span', { className: 'sym', text: symbol }),
    spike: el('span', { className: 'spike' }),
    name: el('span', { className: 'name' }),
    priceEl: el('span', { className: 'price', text: '–' }),
    changeEl: el('span', { className: 'change', text: '–' }),
    volEl: el('span', { text: '' }),
    timeEl: el('span', { text: 'waiting for data' }),
    flashTimer: null,
    spikeTimer: null,
  };
  t.el = el(
    'article',
    { className: 'tile', dataset: { symbol } },
    t.sym,
    t.spike,
    t.name,
    t.priceEl,
    t.changeEl,
    spark,
    el('div', { className: 'meta' }, t.volEl, t.timeEl),
  );
  return t;
}

function syncTiles(symbols) {
  const wanted = new Set(symbols);
  for (const [sym, t] of tiles) {
    if (!wanted.has(sym)) {
      t.el.remove();
      tiles.delete(sym);
    }
  }
  const container = $('price-tiles');
  for (const sym of symbols) {
    let t = tiles.get(sym);
    if (!t) {
      t = makeTile(sym);
      tiles.set(sym, t);
    }
    container.append(t.el); // appending an existing node moves it: keeps the wanted order
  }
}

/** The tile order: the user's order for symbols they typed, then any others the server kept. */
function orderedSymbols(acked) {
  const set = new Set(acked);
  const first = state.watchOrder.filter((s) => set.has(s));
  return [...first, ...acked.filter((s) => !first.includes(s))];
}

/**
 * The symbols the session watches now (the price tiles follow them) and their source:
 * 'stored' while it follows the user's stored watchlist, 'session' for its own list.
 */
function applyEffectiveWatchlist(symbols, source) {
  state.watchSource = source;
  state.watchlist = orderedSymbols(symbols.map((s) => String(s).toUpperCase()));
  // Only an anonymous tab's own list is kept in this browser; a user's is stored on the server.
  if (source === 'session' && state.userId == null) saveJson(STORAGE_WATCHLIST, state.watchlist);
  if (source === 'stored') state.storedWatchlist = [...state.watchlist];
  syncTiles(state.watchlist);
  const input = $('watchlist-input');
  if (document.activeElement !== input) {
    // An empty stored list: offer this browser's last list (or the defaults) to save.
    input.value = (state.watchlist.length || source !== 'stored' ? state.watchlist : loadWatchlist()).join(', ');
  }
  renderWatchSource();
}

function renderWatchSource() {
  const node = $('watchlist-source');
  const list = state.watchlist.length ? state.watchlist.join(', ') : 'no symbols';
  let text;
  if (state.watchSource === 'stored') {
    text = state.watchlist.length
      ? `following your stored watchlist: ${list}`
      : 'following your stored watchlist, which is empty: type symbols above and save them';
  } else if (state.watchSource === 'session') {
    text = state.userId != null
      ? `this tab's own list: ${list} (your stored watchlist no longer moves this tab)`
      : `this tab's own list: ${list}`;
  } else {
    text = '';
  }
  node.textContent = text;
  node.dataset.source = state.watchSource ?? '';
  node.dataset.symbols = state.watchlist.join(',');
}

function onWatchlistAck(ack) {
  applyEffectiveWatchlist(ack.symbols, ack.source === 'stored' ? 'stored' : 'session');
}

/** The user's stored watchlist changed (our PUT, another tab, another service). */
function onStoredWatchlist(watchlist) {
  if (!watchlist || !Array.isArray(watchlist.symbols)) return;
  state.storedWatchlist = watchlist.symbols.map(String);
  if (state.watchSource === 'stored' || state.watchSource === null) {
    applyEffectiveWatchlist(state.storedWatchlist, 'stored');
  } else {
    setNote('watchlist-status',
      `your stored watchlist changed (${state.storedWatchlist.length} symbols); this tab keeps its own list`);
  }
}

function onWatchlistSubmit(ev) {
  ev.preventDefault();
  if (!client) return;
  const { valid, invalid } = parseSymbols($('watchlist-input').value);
  if (invalid.length) return setNote('watchlist-status', `invalid symbol(s): ${invalid.join(', ')}`, true);
  state.watchOrder = valid;
  if (state.userId != null && state.token) {
    saveStoredWatchlist(valid);
    return;
  }
  setNote('watchlist-status', 'updating…');
  client
    .setWatchlist(valid)
    .then((ack) => {
      $('watchlist-input').value = orderedSymbols(ack.symbols).join(', ');
      setNote('watchlist-status', `watching ${ack.symbols.length} symbol(s)`);
    })
    .catch((err) => setNote('watchlist-status', `not updated: ${describeError(err)}`, true));
}

/**
 * A signed-in session stores the list (PUT /api/me/watchlist) instead of sending `watchlist`:
 * it follows the stored list, and so do the user's other sessions that never sent their own.
 */
async function saveStoredWatchlist(symbols) {
  const button = $('watchlist-submit');
  button.disabled = true;
  setNote('watchlist-status', 'saving your stored watchlist…');
  try {
    const r = await api('PUT', '/api/me/watchlist', { symbols });
    if (r.status === 200 && r.data && Array.isArray(r.data.symbols)) {
      onStoredWatchlist(r.data);
      $('watchlist-input').value = orderedSymbols(r.data.symbols).join(', ');
      const n = r.data.symbols.length;
      setNote('watchlist-status', `saved your stored watchlist (${n} symbol${n === 1 ? '' : 's'}) at ${fmtTime(Date.now())}`);
      $('watchlist-status').dataset.state = 'saved';
    } else if (r.status === 400 && r.data && r.data.fields) {
      const why = Object.entries(r.data.fields).map(([f, m]) => `${f}: ${m}`).join('; ');
      setNote('watchlist-status', `not saved: ${why}`, true);
      $('watchlist-status').dataset.state = 'invalid';
    } else {
      setNote('watchlist-status', `not saved: ${apiMessage(r)}`, true);
      $('watchlist-status').dataset.state = 'error';
    }
  } catch (err) {
    setNote('watchlist-status', `not saved: ${describeError(err)}`, true);
    $('watchlist-status').dataset.state = 'error';
  } finally {
    button.disabled = false;
  }
}

/**
 * One price observation. `changePct` (percent units) is authoritative when the producer sent
 * it (price updates); otherwise the change is computed against the previous close implied by
 * the last price update, or against the first price seen on this page.
 */
function updatePrice(symbol, price, { changePct, volume, timestamp, basis } = {}) {
  const t = tiles.get(symbol);
  if (!t || !isNum(price)) return;
  if (isNum(changePct)) {
    t.changePct = changePct;
    if (changePct !== 0 && changePct > -100) t.prevClose = price / (1 + changePct / 100);
    t.changeEl.title = 'change vs previous close';
  } else if (isNum(t.prevClose) && t.prevClose > 0) {
    t.changePct = ((price - t.prevClose) / t.prevClose) * 100;
  } else {
    if (!isNum(t.ref)) t.ref = price;
    t.changePct = t.ref ? ((price - t.ref) / t.ref) * 100 : 0;
    t.changeEl.title = 'change since the first price seen on this page';
  }
  const previous = t.price;
  t.price = price;
  t.history.push(price);
  if (t.history.length > SPARK_POINTS) t.history.splice(0, t.history.length - SPARK_POINTS);

  t.priceEl.textContent = fmtPrice(price);
  t.changeEl.textContent = fmtSigned(t.changePct, 2, '%');
  t.el.classList.toggle('up', t.changePct > 0);
  t.el.classList.toggle('down', t.changePct < 0);
  if (isNum(volume)) t.volEl.textContent = `vol ${fmtCompact(volume)}`;
  t.timeEl.textContent = `${basis} ${fmtTime(timestamp)}`;
  if (isNum(previous) && previous !== price) {
    t.el.classList.remove('tick-up', 'tick-down');
    t.el.classList.add(price > previous ? 'tick-up' : 'tick-down');
    clearTimeout(t.flashTimer);
    t.flashTimer = setTimeout(() => t.el.classList.remove('tick-up', 'tick-down'), 600);
  }
  drawSparkline(t);
}

function drawSparkline(t) {
  const h = t.history;
  if (h.length < 2) {
    t.line.setAttribute('points', '');
    return;
  }
  const min = Math.min(...h);
  const max = Math.max(...h);
  const span = max - min || 1;
  const points = h.map((p, i) => {
    const x = (i / (h.length - 1)) * 120;
    const y = 32 - ((p - min) / span) * 30;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  t.line.setAttribute('points', points.join(' '));
}

function onPriceUpdate(d) {
  updatePrice(d.symbol, d.price, {
    changePct: d.change_percent,
    volume: d.volume,
    timestamp: d.timestamp,
    basis: 'price',
  });
}

function onOhlcvUpdate(d) {
  const o = d.ohlcv || {};
  updatePrice(d.symbol, o.close, { volume: o.volume, timestamp: d.timestamp, basis: `bar ${d.timeframe}` });
  const t = tiles.get(d.symbol);
  if (t) t.priceEl.title = `${d.timeframe} bar O ${fmtPrice(o.open)} H ${fmtPrice(o.high)} L ${fmtPrice(o.low)} C ${fmtPrice(o.close)}`;
}

function onTickData(d) {
  updatePrice(d.symbol, d.price, { volume: d.volume, timestamp: d.timestamp, basis: 'tick' });
}

// ---- streaming ---------------------------------------------------------------------------

const streaming = { patternBatches: 0, patterns: 0, indicatorBatches: 0, indicators: 0 };
/** @type {Map<string, {calc: object, fresh: boolean}>} "SYMBOL|indicator" -> latest, oldest first */
const indicators = new Map();
let indicatorsFrame = 0;

function renderStreamingCounters() {
  setText('streaming-pattern-batches', streaming.patternBatches.toLocaleString());
  setText('streaming-pattern-count', streaming.patterns.toLocaleString());
  setText('streaming-indicator-batches', streaming.indicatorBatches.toLocaleString());
  setText('streaming-indicator-count', streaming.indicators.toLocaleString());
}

function addStreamingPatterns(items) {
  const list = $('streaming-patterns');
  for (const item of items.slice(-MAX_STREAM_PATTERNS)) {
    const d = item && item.detection;
    if (!d) continue;
    list.prepend(
      el(
        'li',
        { title: [d.bar_data ? `bar: ${compactObject(d.bar_data)}` : '', compactObject(d.parameters)].filter(Boolean).join('\n') },
        el('span', { className: 'time', text: fmtTime(d.timestamp) }),
        el('strong', { text: d.symbol }),
        ` ${d.pattern_type} · ${confPct(d.confidence)}% · ${d.timeframe}`,
      ),
    );
  }
  while (list.children.length > MAX_STREAM_PATTERNS) list.lastElementChild.remove();
}

function addIndicators(items) {
  for (const item of items) {
    const c = item && item.calculation;
    if (!c) continue;
    const key = `${c.symbol}|${c.indicator_type}`;
    indicators.delete(key); // re-insert: the map stays ordered oldest -> newest update
    indicators.set(key, { calc: c, fresh: true });
  }
  while (indicators.size > MAX_INDICATORS) indicators.delete(indicators.keys().next().value);
  if (!indicatorsFrame) indicatorsFrame = requestAnimationFrame(renderIndicators);
}

function indicatorValue(c) {
  if (isNum(c.value)) return fmtNum(c.value);
  const values = c.values && typeof c.values === 'object' ? c.values : {};
  return Object.keys(values).length ? compactObject(values, 6) : '—';
}

function renderIndicators() {
  indicatorsFrame = 0;
  const rows = [...indicators.values()]
    .sort((a, b) =>
      a.calc.symbol === b.calc.symbol
        ? String(a.calc.indicator_type).localeCompare(String(b.calc.indicator_type))
        : String(a.calc.symbol).localeCompare(String(b.calc.symbol)))
    .map((entry) => {
      const c = entry.calc;
      const row = el(
        'tr',
        { className: entry.fresh ? 'fresh' : '', dataset: { symbol: c.symbol }, title: c.metadata ? compactObject(c.metadata) : '' },
        el('td', { className: 'sym', text: c.symbol }),
        el('td', { text: c.indicator_type }),
        el('td', { className: 'wrap', text: indicatorValue(c) }),
        el('td', { text: c.timeframe }),
        el('td', { className: 'num', text: fmtTime(c.timestamp) }),
      );
      entry.fresh = false;
      return row;
    });
  $('streaming-indicators').replaceChildren(...rows);
}

function batchCount(d, items) {
  return isNum(d.count) ? d.count : items.length;
}

function onPatternsBatch(d) {
  const items = Array.isArray(d.patterns) ? d.patterns : [];
  streaming.patternBatches += 1;
  streaming.patterns += batchCount(d, items);
  renderStreamingCounters();
  addStreamingPatterns(items);
}

function onIndicatorsBatch(d) {
  const items = Array.isArray(d.indicators) ? d.indicators : [];
  streaming.indicatorBatches += 1;
  streaming.indicators += batchCount(d, items);
  renderStreamingCounters();
  addIndicators(items);
}

function onStreamingPattern(d) {
  streaming.patterns += 1;
  renderStreamingCounters();
  addStreamingPatterns([d]);
}

function onStreamingIndicator(d) {
  streaming.indicators += 1;
  renderStreamingCounters();
  addIndicators([d]);
}

// ---- alerts ------------------------------------------------------------------------------

function addAlert({ level, label, text, detail, timestamp, notify = false }) {
  const list = $('alerts-list');
  const item = el(
    'li',
    { className: notify ? 'notify' : '', dataset: { level } },
    el('span', { className: 'time', text: fmtTime(timestamp) }),
    el('span', { className: 'label', text: label }),
    text,
    detail ? el('span', { className: 'detail', text: detail }) : null,
  );
  list.prepend(item);
  while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
  setText('alerts-count', `${list.children.length}`);
}

function severityLevel(severity, fallback) {
  const s = String(severity ?? '').trim().toLowerCase();
  return ['critical', 'error', 'warning', 'info'].includes(s) ? s : fallback;
}

function onIndicatorAlert(d) {
  const a = d.alert || {};
  addAlert({
    level: severityLevel(a.severity, 'info'),
    label: a.severity ? String(a.severity).toUpperCase() : 'INDICATOR',
    text: `${a.symbol} ${a.alert_type}`,
    detail: compactObject(a.data),
    timestamp: a.timestamp,
  });
}

function onCriticalAlert(d) {
  const a = d.alert || {};
  if (a.is_recovery === true) {
    addAlert({
      level: 'recovered',
      label: 'RECOVERED',
      text: a.message,
      detail: [a.component, a.recovery].filter(Boolean).join(' · '),
      timestamp: a.timestamp,
    });
    return;
  }
  const level = severityLevel(a.severity, 'critical');
  addAlert({
    level: level === 'info' ? 'critical' : level,
    label: level === 'warning' || level === 'error' ? level.toUpperCase() : 'CRITICAL',
    text: a.type && a.type !== 'ALERT' ? `${a.type}: ${a.message}` : a.message,
    detail: [a.component, a.action_required, compactObject(a.data)].filter(Boolean).join(' · '),
    timestamp: a.timestamp,
  });
}

function onMarketEvent(d) {
  switch (d.type) {
    case 'dashboard_alert': {
      const a = d.alert || {};
      addAlert({
        level: 'info',
        label: 'MARKET',
        text: [a.symbol, a.title].filter(Boolean).join(' · ') || a.type || 'market alert',
        detail: [a.description, a.type].filter(Boolean).join(' · '),
        timestamp: a.timestamp ?? d.timestamp,
        notify: a.show_notification === true,
      });
      break;
    }
    case 'volume_spike': {
      const t = tiles.get(d.symbol);
      const m = d.volume_data && d.volume_data.spike_multiple;
      if (t && isNum(m)) {
        t.spike.textContent = `vol ×${fmtNum(m, 1)}`;
        t.spike.title = compactObject(d.volume_data);
        clearTimeout(t.spikeTimer);
        t.spikeTimer = setTimeout(() => (t.spike.textContent = ''), 60000);
      }
      break;
    }
    case 'symbol_metadata': {
      const t = tiles.get(d.symbol);
      const m = d.metadata || {};
      if (t) {
        t.name.textContent = [m.name, m.sector].filter((v) => typeof v === 'string' && v).join(' · ');
        t.name.title = compactObject(m);
      }
      break;
    }
    case 'dashboard_summary':
      renderDashboardSummary(d.summary || {}, d.timestamp);
      break;
    default:
      break;
  }
}

// ---- system ------------------------------------------------------------------------------

function onSystemHealth(d) {
  setBadge('system-health-status', d.overall_status);
  setText('system-health-detail', [d.source, d.message, `at ${fmtTime(d.timestamp)}`].filter(Boolean).join(' · '));
  const entries = [];
  for (const [k, v] of Object.entries(d.components || {})) entries.push([k, compactValue(v, 60)]);
  for (const [k, v] of Object.entries(d.metrics || {})) entries.push([k, compactValue(v, 60)]);
  kvList($('system-health-components'), entries);
}

function onStreamingHealth(d) {
  const h = d.health || {};
  setBadge('streaming-health-status', h.status);
  setText('streaming-health-symbols', isNum(h.active_symbols) ? h.active_symbols.toLocaleString() : '–');
  setText('streaming-health-tps', fmtNum(h.ticks_per_second, 1));
  setText('streaming-health-totals', `${fmtNum(h.patterns_detected, 0)} / ${fmtNum(h.indicators_calculated, 0)}`);
  const conn = h.connection_status || compactObject(h.connection) || '–';
  setText('streaming-health-connection', conn);
  const issues = Array.isArray(h.issues) ? h.issues : [];
  $('streaming-health-issues').replaceChildren(...issues.map((i) => el('li', { text: compactValue(i, 200) })));
}

function onStreamingSession(d) {
  const s = d.session || {};
  const id = String(s.session_id ?? '');
  const shortId = id.length > 12 ? id.slice(0, 8) + '…' : id;
  let text;
  if (d.type === 'streaming_session_started') {
    text = [`started ${shortId}`, s.universe, `${fmtNum(s.symbol_count, 0)} symbols`, s.status,
      isNum(s.start_time) ? fmtDateTime(s.start_time) : '', s.trigger_type].filter(Boolean).join(' · ');
  } else {
    text = [`stopped ${shortId}`, s.final_status, fmtDuration(s.duration_seconds),
      `${fmtNum(s.total_patterns, 0)} patterns / ${fmtNum(s.total_indicators, 0)} indicators`,
      isNum(s.stopped_at) ? fmtDateTime(s.stopped_at) : '', s.reason].filter(Boolean).join(' · ');
  }
  const node = $('streaming-session');
  node.textContent = text;
  node.title = id;
}

function onMarketSummary(d) {
  const s = d.summary || {};
  kvList($('market-summary'), [
    ['symbols', fmtNum(s.total_symbols, 0)],
    ['up / down', `${fmtNum(s.symbols_up, 0)} / ${fmtNum(s.symbols_down, 0)}`],
    ['volume', fmtCompact(s.total_volume)],
    ['market cap change', fmtSigned(s.market_cap_change)],
    ['updated', fmtTime(d.timestamp)],
  ]);
}

function renderDashboardSummary(summary, timestamp) {
  const entries = Object.entries(summary).map(([k, v]) => {
    if (k === 'top_movers' && Array.isArray(v)) {
      const movers = v
        .map((m) => (m && typeof m === 'object' && m.symbol ? `${m.symbol} ${fmtSigned(m.change_percent, 1, '%')}` : compactValue(m, 30)))
        .join(', ');
      return ['top movers', movers];
    }
    return [k.replace(/_/g, ' '), compactValue(v, 60)];
  });
  entries.push(['summary at', fmtTime(timestamp)]);
  kvList($('dashboard-summary'), entries);
}

// ---- my alert rules (preferences) --------------------------------------------------------
//
// A signed-in user's stored alert rules (docs/PROTOCOL.md section 12): loaded with
// GET /api/me/alert-rules, saved with PUT (which replaces them all), and re-rendered from every
// `preferences_changed` event (another tab, another instance or a producer changed them).

/** Renders the rules object of GET/PUT /api/me/alert-rules (or of a preferences_changed event). */
function renderPrefs(rules, origin) {
  if (!rules || typeof rules !== 'object') return;
  state.prefs = rules;
  const form = $('prefs-form');
  form.elements.enabled.checked = rules.enabled !== false;
  form.elements.max_alerts_per_hour.value = isNum(rules.max_alerts_per_hour) ? String(rules.max_alerts_per_hour) : '';
  const quiet = rules.quiet_hours && typeof rules.quiet_hours === 'object' ? rules.quiet_hours : null;
  form.elements.quiet_start.value = quiet && typeof quiet.start === 'string' ? quiet.start : '';
  form.elements.quiet_end.value = quiet && typeof quiet.end === 'string' ? quiet.end : '';
  form.elements.quiet_time_zone.value = quiet && typeof quiet.time_zone === 'string' ? quiet.time_zone : '';
  $('prefs-subs').replaceChildren();
  for (const sub of Array.isArray(rules.subscriptions) ? rules.subscriptions : []) addSubRow(sub);
  renumberSubRows();
  showPrefsErrors({});
  state.prefsDirty = false;

  const badge = $('prefs-stored');
  const stored = rules.stored === true;
  badge.textContent = stored ? 'rules stored' : 'no rules stored';
  badge.dataset.level = stored ? 'good' : 'unknown';
  badge.title = stored ? 'These rules filter the pattern alerts of all your sessions' : 'Nothing stored: every pattern alert reaches you';
  const panel = $('preferences');
  panel.dataset.origin = origin;
  panel.dataset.stored = String(stored);
}

/** One editable row of `subscriptions`; its error slots are named by renumberSubRows(). */
function addSubRow(sub = {}) {
  const input = (type, name, value, label) => {
    const node = el('input');
    node.type = type;
    node.name = name;
    node.setAttribute('aria-label', label);
    if (type === 'checkbox') node.checked = value;
    else node.value = value;
    return node;
  };
  const pattern = input('text', 'sub_pattern', typeof sub.pattern === 'string' ? sub.pattern : '', 'Pattern name (exact)');
  pattern.setAttribute('list', 'prefs-pattern-names');
  pattern.spellcheck = false;
  pattern.placeholder = 'e.g. Doji';
  const min = input('number', 'sub_min_confidence', isNum(sub.min_confidence) ? String(sub.min_confidence) : '0', 'Minimum confidence (0 to 1)');
  min.min = '0';
  min.max = '1';
  min.step = '0.01';
  const symbols = input('text', 'sub_symbols', Array.isArray(sub.symbols) ? sub.symbols.join(', ') : '', 'Symbols (empty: every symbol)');
  symbols.spellcheck = false;
  symbols.placeholder = 'all symbols';
  const enabled = input('checkbox', 'sub_enabled', sub.enabled !== false, 'Entry enabled');
  const remove = el('button', { className: 'link', text: '×', title: 'Remove this pattern' });
  remove.type = 'button';
  const slot = (key) => el('span', { className: 'field-error', dataset: { key } });
  const row = el(
    'tr',
    { className: 'sub-row' },
    el('td', {}, pattern, slot('pattern'), slot('')),
    el('td', {}, min, slot('min_confidence')),
    el('td', {}, symbols, slot('symbols')),
    el('td', {}, enabled, slot('enabled')),
    el('td', {}, remove),
  );
  remove.addEventListener('click', () => {
    row.remove();
    renumberSubRows();
    showPrefsErrors({}); // the server's indices no longer match the rows
    state.prefsDirty = true;
  });
  $('prefs-subs').append(row);
  return row;
}

/** Names each row's error slots after its index: `subscriptions[2].min_confidence`, ... */
function renumberSubRows() {
  const rows = [...$('prefs-subs').rows];
  rows.forEach((row, i) => {
    row.dataset.index = String(i);
    for (const slot of row.querySelectorAll('.field-error')) {
      slot.dataset.field = slot.dataset.key ? `subscriptions[${i}].${slot.dataset.key}` : `subscriptions[${i}]`;
    }
  });
  $('prefs-subs-empty').hidden = rows.length > 0;
}

/** The form as a PUT /api/me/alert-rules body. Values are sent as typed: the server validates. */
function prefsRequest(form) {
  const maxRaw = String(form.elements.max_alerts_per_hour.value).trim();
  const start = String(form.elements.quiet_start.value).trim();
  const end = String(form.elements.quiet_end.value).trim();
  const zone = String(form.elements.quiet_time_zone.value).trim();
  let quiet = null;
  if (start || end || zone) {
    quiet = { start, end };
    if (zone) quiet.time_zone = zone;
  }
  const subscriptions = [...$('prefs-subs').rows].map((row) => {
    const minRaw = String(row.querySelector('[name="sub_min_confidence"]').value).trim();
    return {
      pattern: String(row.querySelector('[name="sub_pattern"]').value).trim(),
      min_confidence: minRaw === '' ? 0 : Number(minRaw),
      symbols: String(row.querySelector('[name="sub_symbols"]').value).split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean),
      enabled: row.querySelector('[name="sub_enabled"]').checked,
    };
  });
  return {
    enabled: form.elements.enabled.checked,
    max_alerts_per_hour: maxRaw === '' ? null : Number(maxRaw),
    quiet_hours: quiet,
    subscriptions,
  };
}

/** The slot for a server field name: exact, else its closest parent (`subscriptions[0].symbols[3]` -> `subscriptions[0].symbols`). */
function prefsErrorSlot(form, field) {
  let name = field;
  while (name) {
    const slot = [...form.querySelectorAll('.field-error')].find((n) => n.dataset.field === name);
    if (slot) return slot;
    const cut = Math.max(name.lastIndexOf('.'), name.lastIndexOf('['));
    if (cut <= 0) break;
    name = name.slice(0, cut);
  }
  return null;
}

/** Shows every field error of a 400 next to its field; the ones with no slot are listed below the form. */
function showPrefsErrors(fields) {
  const form = $('prefs-form');
  for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  const other = [];
  for (const [field, message] of Object.entries(fields || {})) {
    const slot = prefsErrorSlot(form, field);
    if (!slot) {
      other.push(el('li', { text: `${field}: ${message}`, dataset: { field } }));
      continue;
    }
    const text = slot.dataset.label ? `${slot.dataset.label}: ${message}` : String(message);
    slot.textContent = slot.textContent ? `${slot.textContent}; ${text}` : text;
    const control = slot.dataset.control
      ? form.elements[slot.dataset.control]
      : slot.parentElement.querySelector('input, select');
    if (control) control.setAttribute('aria-invalid', 'true');
  }
  $('prefs-other-errors').replaceChildren(...other);
}

function setPrefsStatus(text, stateName, isError = false) {
  setNote('prefs-status', text, isError);
  $('prefs-status').dataset.state = stateName;
}

async function loadPreferences({ force = false } = {}) {
  if (!state.token) return;
  const epoch = state.epoch;
  setPrefsStatus('loading your preferences…', 'loading');
  const failed = (err) => ({ status: 0, data: { message: describeError(err) } });
  const [rules, watchlist] = await Promise.all([
    api('GET', '/api/me/alert-rules').catch(failed),
    api('GET', '/api/me/watchlist').catch(failed),
  ]);
  if (epoch !== state.epoch) return; // signed in or out meanwhile: another user's rules
  if (watchlist.status === 200 && watchlist.data) {
    // Older servers do not report the session's watchlist at connect: the stored one is it.
    if (state.watchSource === null) onStoredWatchlist(watchlist.data);
    else state.storedWatchlist = Array.isArray(watchlist.data.symbols) ? watchlist.data.symbols.map(String) : null;
  }
  if (rules.status !== 200 || !rules.data) {
    setPrefsStatus(`could not load your alert rules: ${apiMessage(rules)}`, 'error', true);
    return;
  }
  if (state.prefsDirty && !force) {
    setPrefsStatus('you have unsaved changes: the server copy was not loaded over them (Discard changes loads it)', 'dirty');
    return;
  }
  renderPrefs(rules.data, 'get');
  setPrefsStatus(rules.data.stored ? 'your stored rules' : 'no rules stored: every pattern alert reaches you', 'loaded');
}

async function savePrefs(body, doneText) {
  const buttons = ['prefs-save', 'prefs-clear', 'prefs-reload'].map($);
  for (const b of buttons) b.disabled = true;
  state.prefsSaving = true;
  setPrefsStatus('saving…', 'saving');
  try {
    const r = await api('PUT', '/api/me/alert-rules', body);
    if (r.status === 200 && r.data) {
      renderPrefs(r.data, 'put');
      setPrefsStatus(`${doneText} at ${fmtTime(Date.now())}`, 'saved');
    } else if (r.status === 400 && r.data && r.data.fields) {
      showPrefsErrors(r.data.fields);
      const n = Object.keys(r.data.fields).length;
      setPrefsStatus(`not saved: ${n} field${n === 1 ? '' : 's'} to fix (marked in red)`, 'invalid', true);
    } else {
      setPrefsStatus(`not saved: ${apiMessage(r)}`, 'error', true);
    }
  } catch (err) {
    setPrefsStatus(`not saved: ${describeError(err)}`, 'error', true);
  } finally {
    state.prefsSaving = false;
    for (const b of buttons) b.disabled = false;
  }
}

function onPrefsSubmit(ev) {
  ev.preventDefault();
  if (!state.token) return setPrefsStatus('alert rules need a signed-in session (a token)', 'error', true);
  savePrefs(prefsRequest(ev.currentTarget), 'saved');
}

/** `preferences_changed`: the new state, whoever changed it (this tab's save included). */
function onPreferencesChanged(d) {
  if (!d || typeof d !== 'object') return;
  if (d.changed === 'watchlist') {
    onStoredWatchlist(d.watchlist);
    return;
  }
  if (d.changed !== 'alert_rules' || !d.alert_rules) return;
  const hadEdits = state.prefsDirty && !state.prefsSaving;
  renderPrefs(d.alert_rules, 'event');
  const panel = $('preferences');
  panel.dataset.eventRenders = String(Number(panel.dataset.eventRenders || 0) + 1);
  setText('prefs-updated', `rules changed at ${fmtTime(Date.now())}: shown as stored now` +
    (hadEdits ? ' (your unsaved edits were replaced)' : ''));
}

function showPreferencesPanel(signedIn) {
  const panel = $('preferences');
  const wasHidden = panel.hidden;
  panel.hidden = !signedIn;
  // After every (re)connect: changes made while disconnected arrive with no event.
  if (signedIn) loadPreferences({ force: wasHidden });
}

function bindPreferences() {
  $('prefs-pattern-names').replaceChildren(...PATTERN_CATALOGUE.map((name) => {
    const option = el('option');
    option.value = name;
    return option;
  }));
  let zones = [];
  try {
    zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  } catch (_) {
    zones = [];
  }
  $('prefs-time-zones').replaceChildren(...['UTC', ...zones.filter((z) => z !== 'UTC')].map((zone) => {
    const option = el('option');
    option.value = zone;
    return option;
  }));
  const form = $('prefs-form');
  form.addEventListener('submit', onPrefsSubmit);
  form.addEventListener('input', () => (state.prefsDirty = true));
  $('prefs-add-sub').addEventListener('click', () => {
    const row = addSubRow({});
    renumberSubRows();
    state.prefsDirty = true;
    row.querySelector('input').focus();
  });
  $('prefs-reload').addEventListener('click', () => loadPreferences({ force: true }));
  $('prefs-clear').addEventListener('click', () => savePrefs({}, 'all rules removed: every pattern alert reaches you'));
  renumberSubRows();
}

// ---- admin: producer errors and monitoring reports ---------------------------------------
//
// GET /api/admin/errors (the operations log, newest first) with its severity / source filters,
// plus the live `system_error` and `monitoring_event` frames of the `admin` topic.

function opsFilter() {
  return {
    severity: String($('admin-severity').value).trim().toLowerCase(),
    source: String($('admin-source').value).trim(),
  };
}

/** One log entry or live frame. `event` is `system_error` or `monitoring_event`. */
function opsItem(event, data, origin, id) {
  const d = data && typeof data === 'object' ? data : {};
  let level;
  let label;
  let text;
  let detail;
  if (event === 'system_error') {
    const severity = String(d.severity ?? '').toLowerCase();
    level = severity || 'error';
    label = severity ? severity.toUpperCase() : 'ERROR';
    text = `${d.source ?? 'unknown source'}: ${d.message ?? ''}`;
    detail = [
      d.category ? `category ${d.category}` : '',
      d.component ? `component ${d.component}` : '',
      d.context ? compactObject(d.context) : '',
      d.error_id ? `id ${d.error_id}` : '',
    ].filter(Boolean).join(' · ');
  } else {
    level = 'info';
    label = 'MONITOR';
    text = String(d.event_type ?? event ?? 'monitoring event');
    detail = compactObject(d.fields);
  }
  return el(
    'li',
    { dataset: { level, event: String(event), origin, id: id ?? '', severity: d.severity ?? '', source: d.source ?? '' } },
    el('span', { className: 'time', text: fmtDateTime(d.timestamp) }),
    el('span', { className: 'label', text: label }),
    el('span', { className: 'message', text }),
    el('span', { className: 'origin', text: origin === 'live' ? 'live' : 'log', title: origin === 'live' ? 'received live' : `from the log, entry ${id}` }),
    detail ? el('span', { className: 'detail', text: detail }) : null,
  );
}

function updateOpsCount() {
  const n = $('admin-errors-list').children.length;
  setText('admin-count', n ? `${n} shown` : '');
}

let opsRequests = 0;

async function loadOpsLog() {
  if (!state.token || !state.roles.includes('admin')) return;
  const seq = ++opsRequests;
  const { severity, source } = opsFilter();
  const query = new URLSearchParams({ limit: '100' });
  if (severity) query.set('severity', severity);
  if (source) query.set('source', source);
  const status = $('admin-status');
  const epoch = state.epoch;
  setNote('admin-status', 'loading the operations log…');
  const r = await api('GET', `/api/admin/errors?${query}`).catch((err) => ({ status: 0, data: { message: describeError(err) } }));
  if (seq !== opsRequests || epoch !== state.epoch) return; // a newer request (other filters, another identity) answers instead
  if (r.status !== 200 || !r.data || !Array.isArray(r.data.errors)) {
    setNote('admin-status', `could not load the operations log: ${apiMessage(r)}`, true);
    status.dataset.state = 'error';
    return;
  }
  $('admin-errors-list').replaceChildren(
    ...r.data.errors.map((e) => opsItem(e.event, e.data, 'log', e.id)),
  );
  updateOpsCount();
  const n = r.data.errors.length;
  const filters = [severity && `severity ${severity}`, source && `source ${source}`].filter(Boolean).join(', ');
  setNote('admin-status', `${n ? `${n} logged entr${n === 1 ? 'y' : 'ies'}, newest first` : 'nothing logged'}` +
    `${filters ? ` (${filters})` : ''}; refreshed ${fmtTime(Date.now())}. New ones appear live.`);
  status.dataset.state = 'loaded';
  status.dataset.refreshes = String(Number(status.dataset.refreshes || 0) + 1);
}

/** A live frame, shown when it passes the filters (monitoring events have no severity or source, as in the API). */
function onOpsEvent(event, d) {
  if ($('admin').hidden || !d) return;
  const { severity, source } = opsFilter();
  if (severity && String(d.severity ?? '').toLowerCase() !== severity) return;
  if (source && d.source !== source) return;
  const list = $('admin-errors-list');
  list.prepend(opsItem(event, d, 'live'));
  while (list.children.length > MAX_OPS_ENTRIES) list.lastElementChild.remove();
  updateOpsCount();
}

function showAdminPanel(isAdmin) {
  $('admin').hidden = !isAdmin;
  if (!isAdmin || !client) return;
  // The dashboard subscribes to the public topics only (no raw tick feed); admins add `admin`
  // for system_error / monitoring_event. A later subscribe adds to the topics held.
  client.subscribe(['admin']).catch((err) => setNote('admin-status', `no live errors: ${describeError(err)}`, true));
  loadOpsLog();
}

function bindAdmin() {
  $('admin-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadOpsLog();
  });
  $('admin-severity').addEventListener('change', loadOpsLog);
}

// ---- backtests ---------------------------------------------------------------------------
//
// Jobs are submitted and listed over the JSON API (docs/PROTOCOL.md, "Backtest job API") with
// the page's token; their progress and results arrive live as `backtest_progress` and
// `backtest_result`, which the server sends to the job owner only.

/** The alert manager's 11 patterns, which backtests offer (src/domain/alert_rules.rs CATALOGUE; docs/PRODUCERS.md#alert-rules). */
const PATTERN_CATALOGUE = [
  'Doji', 'Hammer', 'ShootingStar', 'Engulfing', 'Harami', 'MorningStar', 'EveningStar',
  'ThreeWhiteSoldiers', 'ThreeBlackCrows', 'PiercingLine', 'DarkCloudCover',
];
const DEFAULT_BACKTEST_PATTERNS = ['Doji', 'Hammer', 'Engulfing'];
const BACKTEST_FIELDS = ['symbols', 'patterns', 'start_date', 'end_date', 'initial_capital', 'commission_rate', 'slippage_rate'];
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/** @type {Map<string, object>} job_id -> job card, oldest first */
const jobs = new Map();

/**
 * Calls the JSON APIs (backtests, preferences, admin) with the page's token. A refused demo token
 * is renewed once; a refused token of the user's signs the tab out and offers the form again.
 */
async function api(method, path, body) {
  const source = state.tokenSource;
  const sentWith = state.token;
  const send = () =>
    fetch(path, {
      method,
      cache: 'no-store',
      credentials: 'same-origin',
      headers: {
        ...(state.token ? { Authorization: `Bearer ${state.token}` } : {}),
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let res = await send();
  if (res.status === 401 && source === 'demo' && state.token === sentWith) {
    const fresh = await fetchDemoToken();
    if (fresh && fresh !== state.token) {
      state.token = fresh;
      res = await send();
    }
  }
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    /* an empty or non-JSON body: status only */
  }
  // Only if the tab still uses the token that was refused (not after a sign-out or a new sign-in).
  if (res.status === 401 && source === 'user' && state.token === sentWith) {
    tokenRefused(`the server refused the token (HTTP 401 from ${path.split('?')[0]}: ` +
      `${(data && (data.message || data.error)) || 'unauthorized'})`);
  }
  return { status: res.status, data };
}

const apiMessage = (r) => (r.data && (r.data.message || r.data.error)) || `HTTP ${r.status}`;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function jobCard(jobId) {
  let job = jobs.get(jobId);
  if (job) return job;
  const bar = el('span');
  job = {
    id: jobId,
    status: 'queued',
    bar,
    barBox: el('div', { className: 'bar' }, bar),
    badge: el('span', { className: 'badge', text: 'queued' }),
    pct: el('span', { className: 'pct', text: '0%' }),
    summary: el('p', { className: 'job-summary' }),
    detail: el('p', { className: 'note' }),
    result: el('dl', { className: 'kv results' }),
    cancel: el('button', { className: 'link cancel', text: 'cancel', title: 'Cancel this backtest' }),
  };
  job.barBox.setAttribute('role', 'progressbar');
  job.barBox.setAttribute('aria-valuemin', '0');
  job.barBox.setAttribute('aria-valuemax', '100');
  job.cancel.type = 'button';
  job.cancel.addEventListener('click', () => cancelJob(job));
  job.el = el(
    'li',
    { dataset: { jobId, status: 'queued', progress: 0 } },
    el('div', { className: 'job-head' },
      el('span', { className: 'job-id', text: jobId, title: jobId }), job.pct, job.badge, job.cancel),
    job.summary,
    job.barBox,
    job.detail,
    job.result,
  );
  jobs.set(jobId, job);
  $('backtest-jobs').prepend(job.el);
  while (jobs.size > MAX_JOBS) {
    const [oldest, card] = jobs.entries().next().value;
    card.el.remove();
    jobs.delete(oldest);
  }
  updateJobCount();
  return job;
}

function updateJobCount() {
  const running = [...jobs.values()].filter((j) => !TERMINAL.has(j.status)).length;
  setText('backtests-count', jobs.size ? `${running} running · ${jobs.size} shown` : '');
}

function setJobStatus(job, status) {
  job.status = status;
  job.badge.textContent = status;
  job.badge.dataset.level = healthLevel(status === 'queued' ? 'starting' : status);
  job.el.dataset.status = status;
  job.cancel.hidden = TERMINAL.has(status);
  updateJobCount();
}

function setJobProgress(job, fraction) {
  const pct = Math.round(Math.min(1, Math.max(0, isNum(fraction) ? fraction : 0)) * 100);
  job.bar.style.width = `${pct}%`;
  job.pct.textContent = `${pct}%`;
  job.barBox.setAttribute('aria-valuenow', String(pct));
  job.el.dataset.progress = String(pct);
}

function setJobSummary(job, config) {
  if (!config) return;
  const symbols = Array.isArray(config.symbols) ? config.symbols : [];
  const patterns = Array.isArray(config.patterns) ? config.patterns : [];
  const shown = symbols.length > 6 ? `${symbols.slice(0, 6).join(', ')} +${symbols.length - 6}` : symbols.join(', ');
  job.summary.textContent = `${shown} · ${patterns.join(', ')} · ${config.start_date} → ${config.end_date}`;
  job.summary.title = `symbols: ${symbols.join(', ')}\npatterns: ${patterns.join(', ')}\n` +
    `capital ${fmtNum(config.initial_capital, 2)}, commission ${config.commission_rate}, slippage ${config.slippage_rate}`;
}

const pctOf = (v, digits = 1) => (isNum(v) ? `${(v * 100).toFixed(digits)}%` : '–');

/** The headline figures first (fractions shown as percentages), then anything else sent. */
function renderResults(job, results) {
  const r = results && typeof results === 'object' ? results : {};
  const known = {
    win_rate: ['win rate', pctOf(r.win_rate)],
    roi: ['ROI', isNum(r.roi) ? fmtSigned(r.roi * 100, 2, '%') : '–'],
    sharpe_ratio: ['Sharpe', isNum(r.sharpe_ratio) ? r.sharpe_ratio.toFixed(2) : '–'],
    max_drawdown: ['max drawdown', pctOf(r.max_drawdown)],
    total_trades: ['trades', isNum(r.total_trades)
      ? `${fmtNum(r.total_trades, 0)}${isNum(r.winning_trades) ? ` (${fmtNum(r.winning_trades, 0)} won)` : ''}` : '–'],
  };
  const entries = Object.entries(known)
    .filter(([k]) => k in r)
    .map(([, entry]) => entry);
  for (const [k, v] of Object.entries(r)) {
    if (!(k in known) && k !== 'winning_trades') entries.push([k.replace(/_/g, ' '), compactValue(v, 40)]);
  }
  kvList(job.result, entries);
  job.result.dataset.ready = entries.length ? 'true' : 'false';
}

/** A job record from the API (`GET /api/backtests`, cancel replies). */
function renderJobRecord(record) {
  if (!record || typeof record.job_id !== 'string') return;
  const job = jobCard(record.job_id);
  setJobSummary(job, record.config);
  setJobStatus(job, String(record.status));
  setJobProgress(job, record.progress);
  job.detail.textContent = [
    `submitted ${fmtDateTime(record.created_at)}`,
    record.current_symbol && !TERMINAL.has(record.status) ? `at ${record.current_symbol}` : '',
    isNum(record.completed_at) ? `${record.status} ${fmtTime(record.completed_at)}` : '',
    record.error_message ? `error: ${record.error_message}` : '',
  ].filter(Boolean).join(' · ');
  if (record.results) renderResults(job, record.results);
}

function onBacktestProgress(d) {
  const job = jobCard(String(d.job_id));
  if (TERMINAL.has(job.status)) return; // a report sent before the job finished or was cancelled
  setJobStatus(job, 'running');
  setJobProgress(job, d.progress);
  const processed = d.processed_symbols == null ? '' : `processed ${compactValue(d.processed_symbols, 30)}`;
  job.detail.textContent = [
    d.current_symbol ? `at ${d.current_symbol}` : '',
    processed,
    isNum(d.estimated_completion) ? `ETA ${fmtTime(d.estimated_completion)}` : '',
  ].filter(Boolean).join(' · ');
}

function onBacktestResult(d) {
  const job = jobCard(String(d.job_id));
  if (TERMINAL.has(job.status) && job.status !== d.status) return; // e.g. cancelled here first
  setJobStatus(job, String(d.status));
  if (d.status === 'completed') setJobProgress(job, 1);
  job.detail.textContent = [
    `${d.status} at ${fmtTime(d.timestamp)}`,
    isNum(d.processing_time_seconds) ? `in ${fmtDuration(d.processing_time_seconds)}` : '',
    d.error_message ? `error: ${d.error_message}` : '',
  ].filter(Boolean).join(' · ');
  renderResults(job, d.results);
}

/** The user's jobs, newest first, after every (re)connect: events missed meanwhile are in them. */
async function loadJobs() {
  if (!state.token) return;
  const epoch = state.epoch;
  const r = await api('GET', '/api/backtests').catch((err) => ({ status: 0, data: { message: String(err) } }));
  if (epoch !== state.epoch) return; // signed in or out meanwhile: another user's jobs
  if (r.status !== 200 || !r.data || !Array.isArray(r.data.jobs)) {
    setNote('backtest-form-status', `could not load your backtests: ${apiMessage(r)}`, true);
    return;
  }
  for (const record of [...r.data.jobs].reverse()) renderJobRecord(record);
}

function showFieldErrors(fields) {
  const form = $('backtest-form');
  const leftover = [];
  for (const node of form.querySelectorAll('.field-error')) node.textContent = '';
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
  for (const [field, message] of Object.entries(fields || {})) {
    const slot = form.querySelector(`.field-error[data-field="${BACKTEST_FIELDS.includes(field) ? field : '-'}"]`);
    if (!slot) {
      leftover.push(`${field}: ${message}`);
      continue;
    }
    slot.textContent = String(message);
    const control = field === 'patterns' ? $('backtest-patterns') : form.elements[field];
    if (control) control.setAttribute('aria-invalid', 'true');
  }
  return leftover;
}

/** The form as an API request. Empty numbers are left out (the server's defaults apply). */
function backtestRequest(form) {
  const body = {
    symbols: String(form.elements.symbols.value).split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean),
    patterns: [...form.querySelectorAll('input[name="pattern"]:checked')].map((c) => c.value),
    start_date: form.elements.start_date.value,
    end_date: form.elements.end_date.value,
  };
  for (const field of ['initial_capital', 'commission_rate', 'slippage_rate']) {
    const raw = String(form.elements[field].value).trim();
    if (raw !== '') body[field] = Number(raw);
  }
  return body;
}

async function onBacktestSubmit(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  if (!state.token) {
    setNote('backtest-form-status', 'backtests need a signed-in session (a token)', true);
    return;
  }
  const button = $('backtest-submit');
  button.disabled = true;
  const epoch = state.epoch;
  setNote('backtest-form-status', 'submitting…');
  try {
    const r = await api('POST', '/api/backtests', backtestRequest(form));
    if (epoch !== state.epoch) return; // signed in or out meanwhile: the job is another user's
    if (r.status === 201 && r.data && r.data.job_id) {
      showFieldErrors({});
      const id = String(r.data.job_id);
      // Its first progress report may have arrived before this reply: keep what it said.
      if (!jobs.has(id)) jobCard(id).detail.textContent = 'queued: waiting for the backtester';
      setNote('backtest-form-status', `submitted ${r.data.job_id}`);
      // The record has the normalised config (upper-case symbols, defaults).
      api('GET', `/api/backtests/${encodeURIComponent(r.data.job_id)}`)
        .then((got) => got.status === 200 && setJobSummary(jobCard(got.data.job_id), got.data.config))
        .catch(() => {});
    } else if (r.status === 400 && r.data && r.data.fields) {
      const leftover = showFieldErrors(r.data.fields);
      setNote('backtest-form-status', ['not submitted: fix the fields marked in red', ...leftover].join('; '), true);
    } else {
      setNote('backtest-form-status', `not submitted: ${apiMessage(r)}`, true);
    }
  } catch (err) {
    setNote('backtest-form-status', `not submitted: ${describeError(err)}`, true);
  } finally {
    button.disabled = state.userId == null;
  }
}

async function cancelJob(job) {
  job.cancel.disabled = true;
  try {
    const r = await api('POST', `/api/backtests/${encodeURIComponent(job.id)}/cancel`);
    if (r.status === 200) renderJobRecord(r.data);
    else if (r.status === 409 && r.data && r.data.status) setJobStatus(job, String(r.data.status));
    else job.detail.textContent = `cancel failed: ${apiMessage(r)}`;
  } catch (err) {
    job.detail.textContent = `cancel failed: ${describeError(err)}`;
  } finally {
    job.cancel.disabled = false;
  }
}

function bindBacktestForm() {
  const box = $('backtest-patterns');
  box.replaceChildren(
    ...PATTERN_CATALOGUE.map((name) => {
      const check = el('input');
      check.type = 'checkbox';
      check.name = 'pattern';
      check.value = name;
      check.checked = DEFAULT_BACKTEST_PATTERNS.includes(name);
      return el('label', { className: 'check' }, check, name);
    }),
  );
  const form = $('backtest-form');
  const end = new Date(Date.now() - 24 * 3600 * 1000);
  const start = new Date(end.getTime() - 365 * 24 * 3600 * 1000);
  form.elements.start_date.value = isoDay(start);
  form.elements.end_date.value = isoDay(end);
  form.addEventListener('submit', onBacktestSubmit);
}

// ---- wiring ------------------------------------------------------------------------------

const HANDLERS = {
  connection_confirmed: onConnectionConfirmed,
  pattern_alert: onPatternAlert,
  streaming_patterns_batch: onPatternsBatch,
  streaming_indicators_batch: onIndicatorsBatch,
  streaming_pattern: onStreamingPattern,
  streaming_indicator: onStreamingIndicator,
  indicator_alert: onIndicatorAlert,
  critical_alert: onCriticalAlert,
  dashboard_market_event: onMarketEvent,
  dashboard_price_update: onPriceUpdate,
  dashboard_ohlcv_update: onOhlcvUpdate,
  tick_data: onTickData,
  system_health: onSystemHealth,
  streaming_health: onStreamingHealth,
  streaming_session: onStreamingSession,
  dashboard_market_summary: onMarketSummary,
  backtest_progress: onBacktestProgress,
  backtest_result: onBacktestResult,
  preferences_changed: onPreferencesChanged,
  system_error: (d) => onOpsEvent('system_error', d),
  monitoring_event: (d) => onOpsEvent('monitoring_event', d),
  ack: (d) => {
    if (d && d.op === 'watchlist' && Array.isArray(d.symbols)) onWatchlistAck(d);
  },
  error: (d) => showNotice(`server error ${describeError(d)}`),
};

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

// ---- signing in ---------------------------------------------------------------------------
//
// GET /api/info says how: in demo mode the page takes a demo token (/api/demo-token, `/?admin=1`
// for the admin role); with `auth` on, the user signs in with their own token, pasted into the
// form or handed over as `/#token=...`, and it is kept in this tab's sessionStorage (a reload
// stays signed in, a new tab or a closed browser does not); with `auth` off every session is
// anonymous and no form is shown. A token the server refuses (401 on the upgrade or the API)
// is forgotten, the page says so, offers the form again and carries on anonymously.

const ANONYMOUS_TEXT = 'Anonymous session: public events only. Sign in with your access token ' +
  'for your stored watchlist, alert rules and backtests (a link ending in #token=… signs in too).';
const NO_AUTH_TEXT = 'This server checks no tokens (no JWT secret is configured): every session ' +
  'is anonymous, with public events only.';

/**
 * Takes `token=...` out of the URL fragment: replaces this history entry with the same URL
 * without it (other fragment parameters stay), keeps the token in sessionStorage and returns it
 * (null when there is none). Runs first, at module start: see FRAGMENT_TOKEN.
 */
function takeFragmentToken() {
  const hash = location.hash.replace(/^#/, '');
  const parts = hash ? hash.split('&') : [];
  const mine = parts.filter((p) => p === 'token' || p.startsWith('token='));
  if (!mine.length) return null;
  const rest = parts.filter((p) => !mine.includes(p)).join('&');
  const clean = location.pathname + location.search + (rest ? `#${rest}` : '');
  try {
    history.replaceState(history.state, '', clean);
  } catch (_) {
    location.hash = rest; // leaves an empty '#', never the token
  }
  let token = '';
  try {
    token = decodeURIComponent(mine[mine.length - 1].slice('token='.length)).trim();
  } catch (_) {
    token = ''; // malformed escapes: not a token anyone could use
  }
  if (!token) return null;
  storeToken(token);
  return token;
}

function storeToken(token) {
  try {
    sessionStorage.setItem(STORAGE_TOKEN, token);
  } catch (_) {
    /* storage disabled: the token lasts as long as this page */
  }
}

function readStoredToken() {
  try {
    return sessionStorage.getItem(STORAGE_TOKEN) || null;
  } catch (_) {
    return null;
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(STORAGE_TOKEN);
  } catch (_) {
    /* nothing stored */
  }
}

/** base64url -> text (UTF-8). Throws on malformed input. */
function base64UrlText(part) {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/**
 * What the page can tell about a token before sending it: its user and expiry, or why the server
 * would refuse it anyway (not a JWT, no user, expired). The signature only the server can check.
 * Returns {ok: true, token, sub, exp} or {ok: false, token, why}.
 */
function inspectToken(raw) {
  const token = String(raw ?? '').trim().replace(/^Bearer\s+/i, '');
  if (!token) return { ok: false, token, why: 'paste a token first' };
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]+$/.test(p))) {
    return { ok: false, token, why: 'that is not a token: a JWT is three base64url parts joined by dots' };
  }
  let claims;
  try {
    claims = JSON.parse(base64UrlText(parts[1]));
  } catch (_) {
    return { ok: false, token, why: 'that is not a token: its claims are not readable' };
  }
  if (!claims || typeof claims !== 'object') {
    return { ok: false, token, why: 'that is not a token: its claims are not an object' };
  }
  const sub = typeof claims.sub === 'string' ? claims.sub.trim() : isNum(claims.sub) ? String(claims.sub) : '';
  if (!sub) return { ok: false, token, why: 'the token names no user (no "sub" claim)' };
  if (!isNum(claims.exp)) return { ok: false, token, why: 'the token has no expiry ("exp" claim), which the server requires' };
  // The server allows 5 s of leeway; so does this check.
  if (claims.exp * 1000 + 5000 < Date.now()) {
    return { ok: false, token, why: `the token for ${sub} expired at ${fmtDateTime(claims.exp * 1000)}` };
  }
  return { ok: true, token, sub, exp: claims.exp };
}

/**
 * The sign-in bar under the header. `mode`: 'hidden' (demo mode, or signed in: the top bar shows
 * the user and Sign out), 'anonymous' (the form), 'refused' (why, and the form again),
 * 'signing-in' (a token is being tried), 'no-auth' (sessions are anonymous; no form).
 */
function renderSignIn(mode, text = '') {
  const box = $('signin');
  box.dataset.state = mode;
  box.hidden = mode === 'hidden';
  $('signin-form').hidden = !(mode === 'anonymous' || mode === 'refused');
  $('signin-status').textContent = text;
  if (mode === 'refused') $('signin-token').setAttribute('aria-invalid', 'true');
  else $('signin-token').removeAttribute('aria-invalid');
}

/** The bar for a tab without a token of the user's; `why` says what just happened. */
function showSignedOut(why = '', refused = false) {
  if (state.info.demo_mode) {
    renderSignIn('hidden');
    if (why) showNotice(capitalise(why), refused);
  } else if (!state.info.auth) {
    renderSignIn('no-auth', why ? `${capitalise(why)}. ${NO_AUTH_TEXT}` : NO_AUTH_TEXT);
  } else {
    const text = !why ? ANONYMOUS_TEXT
      : refused ? `${capitalise(why)}. Paste a valid token to sign in; this tab is anonymous meanwhile.`
      : `${capitalise(why)}. ${ANONYMOUS_TEXT}`;
    renderSignIn(refused ? 'refused' : 'anonymous', text);
  }
}

const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1);

function anonymousBacktestsNote() {
  if (state.info.demo_mode) return 'Anonymous session: backtests need a signed-in user (in demo mode the page gets a demo token).';
  if (!state.info.auth) return 'Anonymous session: backtests need a signed-in user, and this server checks no tokens.';
  return 'Anonymous session: sign in with your token (above) to run backtests.';
}

/** Signs this tab in with the user's token; false (and the bar says why) when it cannot be one. */
function signIn(raw) {
  if (!state.info.auth) {
    forgetToken();
    showSignedOut('the token was not used');
    return false;
  }
  const t = inspectToken(raw);
  if (!t.ok) {
    forgetToken();
    showSignedOut(t.why, true);
    return false;
  }
  storeToken(t.token);
  renderSignIn('signing-in', `signing in as ${t.sub}…`);
  start(t.token, 'user');
  return true;
}

function signOut() {
  forgetToken();
  dropToken();
  showSignedOut('signed out: this tab forgot its token');
  startDefault();
}

/** Stops using the user's token at once (the API calls still in flight see it gone), before startDefault reconnects. */
function dropToken() {
  state.token = null;
  state.tokenSource = null;
}

/** The server refused the user's token (WebSocket upgrade or API): forget it and go on without. */
function tokenRefused(why) {
  if (state.tokenSource !== 'user') return;
  forgetToken();
  dropToken();
  showSignedOut(why, true);
  startDefault();
}

/** `GET /api/info`; when it cannot be read, assume tokens are checked and no demo tokens are handed out. */
async function fetchInfo() {
  try {
    const res = await fetch('/api/info', { cache: 'no-store', credentials: 'same-origin' });
    if (res.ok) {
      const body = await res.json();
      if (body && typeof body === 'object') return { auth: body.auth !== false, demo_mode: body.demo_mode === true };
    }
  } catch (_) {
    /* unreachable: the socket's reconnects will say so */
  }
  return { auth: true, demo_mode: false };
}

/** The demo token (demo mode only: GET /api/info said so); null when it cannot be had. `/?admin=1` asks for the admin role. */
async function fetchDemoToken() {
  if (!state.info.demo_mode) return null;
  try {
    const res = await fetch(WANT_ADMIN ? '/api/demo-token?role=admin' : '/api/demo-token', { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) return null;
    const body = await res.json();
    return body && typeof body.token === 'string' && body.token ? body.token : null;
  } catch (_) {
    return null;
  }
}

/** A fresh demo token, also for the API calls. */
async function renewDemoToken() {
  const fresh = await fetchDemoToken();
  if (fresh) state.token = fresh;
  return fresh;
}

/** Without a token of the user's: the demo token in demo mode, else an anonymous session. */
async function startDefault() {
  const epoch = state.epoch;
  const token = await fetchDemoToken();
  if (epoch !== state.epoch) return; // signed in meanwhile
  start(token, token ? 'demo' : null);
}

/** What the page showed for the previous identity goes: jobs, rules, the errors log, the user. */
function resetIdentity() {
  state.epoch += 1;
  state.userId = null;
  state.roles = [];
  state.watchSource = null;
  state.storedWatchlist = null;
  state.prefsDirty = false;
  for (const job of jobs.values()) job.el.remove();
  jobs.clear();
  updateJobCount();
  showFieldErrors({});
  setNote('backtest-form-status', '');
  $('backtest-submit').disabled = true;
  $('preferences').hidden = true;
  setText('prefs-updated', '');
  $('admin').hidden = true;
  $('admin-errors-list').replaceChildren();
  updateOpsCount();
  setNote('watchlist-status', '');
  delete $('watchlist-status').dataset.state;
  setText('user-id', '…');
}

/** (Re)connects with `token` (null: anonymous); `source` is 'demo' or 'user'. */
function start(token, source) {
  if (client) client.close();
  resetIdentity();
  state.tokenSource = token ? source : null;
  state.token = token || null;
  $('signout').hidden = state.tokenSource !== 'user';
  if (!token) {
    // An anonymous tab shows its own list (kept in this browser) at once; a signed-in one waits
    // for the server to say which symbols it follows (connection_confirmed).
    state.watchlist = loadWatchlist();
    state.watchOrder = [...state.watchlist];
    state.watchSource = null;
    $('watchlist-input').value = state.watchlist.join(', ');
    syncTiles(state.watchlist);
    renderWatchSource();
  }
  client = connect(wsUrl(), {
    token,
    topics: TOPICS,
    // A signed-in session sends no watchlist: it follows the user's stored one (PUT
    // /api/me/watchlist). Sending one would pin this tab to its own list until it reconnects.
    watchlist: token ? undefined : state.watchlist,
    patternSubscriptions: state.patternSubs.length ? state.patternSubs : undefined,
    // A demo token is renewed before it expires and on reconnects; a pasted one cannot be (its
    // user signs in again when it runs out).
    getToken: source === 'demo' ? renewDemoToken : undefined,
    onStatus,
  });
  for (const [event, handler] of Object.entries(HANDLERS)) client.on(event, handler);
  client.on('*', countEvent);
}

function bindSignIn() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('signin-token');
    if (signIn(input.value)) input.value = '';
    else input.focus();
  });
  $('signout').addEventListener('click', signOut);
}

function bindUi() {
  $('watchlist-input').value = state.watchlist.join(', ');
  $('watchlist-form').addEventListener('submit', onWatchlistSubmit);
  $('confidence-filter').addEventListener('input', applyConfidenceFilter);
  $('pattern-sub-form').addEventListener('submit', onPatternSubSubmit);
  $('pattern-subs-clear').addEventListener('click', () => applyPatternSubs([]));
  renderPatternSubs();
  applyConfidenceFilter();
  renderStreamingCounters();
  bindBacktestForm();
  bindPreferences();
  bindAdmin();
  bindSignIn();
  setInterval(() => {
    setText('events-per-second', state.eventsThisSecond.toLocaleString());
    state.eventsThisSecond = 0;
  }, 1000);
}

async function main() {
  bindUi();
  state.info = await fetchInfo();
  // The user's own token: from the link (#token=, already out of the URL) or this tab's storage.
  const token = FRAGMENT_TOKEN ?? readStoredToken();
  if (token && signIn(token)) return;
  if (!token) showSignedOut();
  await startDefault();
}

main();
