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
  node.title = text; // a note cut short by its line shows in full on hover
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

function countEvent(_data, event, frame) {
  // A snapshot is a state seen before, not a new event.
  if (!REPLIES.has(event) && !(frame && frame.snapshot === true)) state.eventsThisSecond += 1;
}

// ---- pattern alerts ----------------------------------------------------------------------

/** The rows of the pattern alerts table, in arrival order: {seq, ts, symbol, conf, row}. */
const patternRows = [];
const patternView = {
  /** 'time', 'symbol' or 'confidence', and the direction. */
  sort: 'time',
  dir: 'desc',
  /** Symbols to show (upper case); empty: all. */
  symbols: new Set(),
};
const DEFAULT_SORT_DIR = { time: 'desc', symbol: 'asc', confidence: 'desc' };
let patternSeq = 0;

/** The table's order: < 0 when `a` comes before `b`. Ties: newest first. */
function comparePatternRows(a, b) {
  const sign = patternView.dir === 'asc' ? 1 : -1;
  let c = 0;
  if (patternView.sort === 'symbol') c = sign * a.symbol.localeCompare(b.symbol);
  else if (patternView.sort === 'confidence') c = sign * (a.conf - b.conf);
  else c = sign * ((isNum(a.ts) ? a.ts : 0) - (isNum(b.ts) ? b.ts : 0));
  return c || b.seq - a.seq;
}

function patternRowHidden(r) {
  return r.conf < state.minConfidence || (patternView.symbols.size > 0 && !patternView.symbols.has(r.symbol));
}

function onPatternAlert(a) {
  state.patternAlertsTotal += 1;
  const body = $('pattern-alerts-body');
  body.dataset.total = String(state.patternAlertsTotal);
  const pct = confPct(a.confidence);
  const tierTf = [a.tier, a.timeframe].filter(Boolean).join(' / ') || '–';
  const extra = [
    a.direction ? `direction ${a.direction}` : '',
    isNum(a.price_change) ? `price change ${fmtSigned(a.price_change)}` : '',
    isNum(a.volume) ? `volume ${fmtCompact(a.volume)} shares` : '',
    isNum(a.expires_at) ? `expires ${fmtDateTime(a.expires_at)}` : '',
    a.details ? `details: ${compactObject(a.details)}` : '',
    a.indicators ? `indicators: ${compactObject(a.indicators)}` : '',
    a.metadata ? `metadata: ${compactObject(a.metadata)}` : '',
  ].filter(Boolean).join('\n');
  const symbol = String(a.symbol ?? '');
  const row = el(
    'tr',
    { className: 'fresh', dataset: { confidence: pct, symbol, timestamp: isNum(a.timestamp) ? a.timestamp : '' }, title: extra },
    el('td', { className: 'num', text: fmtTime(a.timestamp) }),
    el('td', { className: 'sym', text: symbol }),
    el('td', { text: a.pattern }),
    el('td', { className: 'num', text: `${pct}%` }),
    el('td', { text: tierTf }),
    el('td', { className: 'num', text: isNum(a.current_price) ? fmtPrice(a.current_price) : '–' }),
    el('td', { text: a.source ?? '–' }),
  );
  const entry = { seq: ++patternSeq, ts: a.timestamp, symbol: symbol.toUpperCase(), conf: pct, row };
  row.hidden = patternRowHidden(entry);
  // Into its place in the current order (newest first by default: the top).
  const before = [...body.rows].find((r) => comparePatternRows(entry, r.entry) < 0);
  row.entry = entry;
  body.insertBefore(row, before ?? null);
  patternRows.push(entry);
  while (patternRows.length > MAX_PATTERN_ROWS) patternRows.shift().row.remove(); // the oldest arrival goes
  noteAlertSymbol(entry.symbol);
  updatePatternCount();
}

/** The symbol filter offers every symbol seen. */
const alertSymbols = new Set();
function noteAlertSymbol(symbol) {
  if (!symbol || alertSymbols.has(symbol)) return;
  alertSymbols.add(symbol);
  const option = el('option');
  option.value = symbol;
  $('pattern-symbols').append(option);
}

function sortPatternRows(key) {
  patternView.dir = patternView.sort === key ? (patternView.dir === 'asc' ? 'desc' : 'asc') : DEFAULT_SORT_DIR[key];
  patternView.sort = key;
  for (const button of document.querySelectorAll('#pattern-alerts-table button.sort')) {
    button.parentElement.setAttribute('aria-sort',
      button.dataset.sort === key ? (patternView.dir === 'asc' ? 'ascending' : 'descending') : 'none');
  }
  const body = $('pattern-alerts-body');
  body.replaceChildren(...[...patternRows].sort(comparePatternRows).map((r) => r.row));
  body.dataset.sort = `${key} ${patternView.dir}`;
}

function applyPatternFilters() {
  state.minConfidence = Number($('confidence-filter').value) || 0;
  $('confidence-value').textContent = `${state.minConfidence}%`;
  patternView.symbols = new Set(parseSymbols($('pattern-symbol-filter').value).valid);
  for (const r of patternRows) r.row.hidden = patternRowHidden(r);
  updatePatternCount();
}

function updatePatternCount() {
  const shown = patternRows.filter((r) => !r.row.hidden).length;
  const filters = [
    state.minConfidence ? `≥ ${state.minConfidence}%` : '',
    patternView.symbols.size ? [...patternView.symbols].join(', ') : '',
  ].filter(Boolean).join(', ');
  setText('pattern-alerts-count', patternRows.length
    ? `showing ${shown} of ${patternRows.length}${filters ? ` (${filters})` : ''}` : 'no alerts yet');
}

function bindPatternTable() {
  for (const button of document.querySelectorAll('#pattern-alerts-table button.sort')) {
    button.addEventListener('click', () => sortPatternRows(button.dataset.sort));
  }
  $('confidence-filter').addEventListener('input', applyPatternFilters);
  $('pattern-symbol-filter').addEventListener('input', applyPatternFilters);
  applyPatternFilters();
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
    /** The day's reference price (previous close), implied by the last price update: price - change. */
    dayRef: null,
    /** The day's change, absolute and in percent; from price updates, or against dayRef. */
    change: null,
    changePct: null,
    /** The first price seen on this page: the change's basis until a price update says the day's. */
    pageRef: null,
    /** Shares traded today: only ever from a price update's `volume` (a bar's or a trade's is not the day's). */
    dayVolume: null,
    dayVolumeAt: null,
    line,
    sym: el('span', { className: 'sym', text: symbol }),
    spike: el('span', { className: 'spike' }),
    name: el('span', { className: 'name' }),
    priceEl: el('span', { className: 'price', text: '–' }),
    changeAbs: el('span', { className: 'abs', text: '–' }),
    changePctEl: el('span', { className: 'pct', text: '' }),
    volEl: el('span', { className: 'vol', text: 'day vol –', title: 'shares traded today (from the price updates)' }),
    timeEl: el('span', { className: 'last', text: '–', title: 'waiting for data' }),
    spikeTimer: null,
  };
  t.changeEl = el('span', { className: 'change' }, t.changeAbs, t.changePctEl);
  t.el = el(
    'button',
    { className: 'tile', dataset: { symbol, direction: 'flat', basis: 'none' }, title: `${symbol}: click to chart it` },
    el('span', { className: 'head' }, t.sym, t.name),
    t.timeEl,
    t.priceEl,
    t.changeEl,
    spark,
    el('span', { className: 'meta' }, t.volEl, t.spike),
  );
  t.el.type = 'button';
  t.el.setAttribute('aria-pressed', 'false');
  t.el.addEventListener('click', () => selectChartSymbol(symbol));
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
  ensureChartSymbol();
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
  node.title = text;
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
 * One price observation, from a price update (`day`: its `change` / `change_percent` are the
 * day's, its `volume` the day's volume), a bar's close or a tick. The day's change of a bar or a
 * tick is measured against the reference the last price update implied (price - change); before
 * any price update, against the first price seen on this page, and the tile says so and stays
 * neutral. The volume shown is always the day's: bars and ticks never touch it.
 */
function updatePrice(symbol, price, { day = null, timestamp, basis } = {}) {
  const t = tiles.get(symbol);
  if (!t || !isNum(price)) return;
  if (day) {
    let change = isNum(day.change) ? day.change : 0;
    const pct = isNum(day.changePct) ? day.changePct : null;
    if (change === 0 && isNum(pct) && pct !== 0 && pct > -100) change = price - price / (1 + pct / 100);
    t.dayRef = price - change;
    t.change = change;
    t.changePct = isNum(pct) ? pct : t.dayRef ? (change / t.dayRef) * 100 : 0;
    if (isNum(day.volume)) {
      t.dayVolume = day.volume;
      t.dayVolumeAt = timestamp;
    }
  } else if (isNum(t.dayRef) && t.dayRef > 0) {
    t.change = price - t.dayRef;
    t.changePct = (t.change / t.dayRef) * 100;
  } else {
    if (!isNum(t.pageRef)) t.pageRef = price;
    t.change = price - t.pageRef;
    t.changePct = t.pageRef ? (t.change / t.pageRef) * 100 : 0;
  }
  const dayKnown = isNum(t.dayRef);
  t.price = price;
  t.history.push(price);
  if (t.history.length > SPARK_POINTS) t.history.splice(0, t.history.length - SPARK_POINTS);

  t.priceEl.textContent = fmtPrice(price);
  t.changeAbs.textContent = fmtSigned(t.change, price < 1 ? 4 : 2);
  t.changePctEl.textContent = fmtSigned(t.changePct, 2, '%');
  t.changeEl.title = dayKnown
    ? `the day's change: against ${fmtPrice(t.dayRef)} (the previous close the price updates imply)`
    : 'change since the first price this page saw (no price update with the day\'s change yet)';
  t.el.dataset.basis = dayKnown ? 'day' : 'page';
  t.el.dataset.direction = !dayKnown || t.change === 0 ? 'flat' : t.change > 0 ? 'up' : 'down';
  if (isNum(t.dayVolume)) {
    t.volEl.textContent = `day vol ${fmtCompact(t.dayVolume)}`;
    t.volEl.title = `${fmtNum(t.dayVolume, 0)} shares traded today (price update at ${fmtTime(t.dayVolumeAt)})`;
    t.el.dataset.dayVolume = String(t.dayVolume);
  }
  t.timeEl.textContent = fmtTime(timestamp);
  t.timeEl.title = `last ${basis} at ${fmtDateTime(timestamp)}`;
  drawSparkline(t);
  if (symbol === chart.symbol) renderChartQuote();
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

/** `frame.snapshot`: the latest state the server kept, sent when the session starts watching the symbol. */
function onPriceUpdate(d, _event, frame) {
  recordPoint(d.symbol, d.timestamp, d.price, frame && frame.snapshot === true ? 'snapshot price' : 'price');
  updatePrice(d.symbol, d.price, {
    day: { change: d.change, changePct: d.change_percent, volume: d.volume },
    timestamp: d.timestamp,
    basis: 'price',
  });
}

function onOhlcvUpdate(d, _event, frame) {
  const o = d.ohlcv || {};
  recordBar(d.symbol, d.timestamp, o, d.timeframe, frame && frame.snapshot === true);
  updatePrice(d.symbol, o.close, { timestamp: d.timestamp, basis: `bar ${d.timeframe}` });
  const t = tiles.get(d.symbol);
  if (t) {
    t.priceEl.title = `last ${d.timeframe} bar: O ${fmtPrice(o.open)} H ${fmtPrice(o.high)} L ${fmtPrice(o.low)} ` +
      `C ${fmtPrice(o.close)}, ${fmtCompact(o.volume)} shares in the bar`;
  }
}

function onTickData(d) {
  recordPoint(d.symbol, d.timestamp, d.price, 'tick');
  updatePrice(d.symbol, d.price, { timestamp: d.timestamp, basis: 'tick' });
}

// ---- chart of the selected symbol ----------------------------------------------------------
//
// There is no history endpoint yet: the chart is drawn from what this page has received since
// it loaded (dashboard_price_update and tick_data as the price line, dashboard_ohlcv_update as
// candles with their volume below), kept per symbol in `series`, starting with the server's
// snapshot of the symbol (its latest price and bar, `"snapshot": true`, sent when the session
// starts watching it). Drawn by hand on a canvas.

const MAX_SERIES_POINTS = 4000;
const MAX_SERIES_BARS = 600;
/** Candles shown at most: older ones scroll off the left. */
const CHART_BARS = 120;
const PAGE_LOADED_AT = Date.now();
const STORAGE_CHART = 'tickrouter.dashboard.chartSymbol';

/** @type {Map<string, {points: {t: number, p: number}[], bars: {t: number, o: number, h: number, l: number, c: number, v: number, tf: string}[]}>} */
const series = new Map();
const chart = { symbol: null, frame: 0, hoverX: null, width: 0, height: 0, layout: null };

function seriesFor(symbol) {
  let s = series.get(symbol);
  if (!s) {
    s = { points: [], bars: [] };
    series.set(symbol, s);
  }
  return s;
}

function recordPoint(symbol, t, p, kind) {
  if (typeof symbol !== 'string' || !isNum(t) || !isNum(p)) return;
  const s = seriesFor(symbol);
  // Out-of-order arrivals are placed by time (rare: the feed is in order per symbol).
  let i = s.points.length;
  while (i > 0 && s.points[i - 1].t > t) i -= 1;
  // A snapshot repeats a state already seen (after a reconnect, a watchlist change).
  if (i > 0 && s.points[i - 1].t === t && s.points[i - 1].p === p) return;
  s.points.splice(i, 0, { t, p, kind });
  if (s.points.length > MAX_SERIES_POINTS) s.points.splice(0, s.points.length - MAX_SERIES_POINTS);
  if (symbol === chart.symbol) scheduleChart();
}

function recordBar(symbol, t, o, timeframe, snapshot = false) {
  if (typeof symbol !== 'string' || !isNum(t) || !o || ![o.open, o.high, o.low, o.close].every(isNum)) return;
  const s = seriesFor(symbol);
  const bar = { t, o: o.open, h: o.high, l: o.low, c: o.close, v: isNum(o.volume) ? o.volume : 0, tf: String(timeframe ?? ''), snapshot };
  const last = s.bars[s.bars.length - 1];
  if (last && last.t === t) s.bars[s.bars.length - 1] = bar; // the same bar, updated
  else if (last && last.t > t) return; // a late bar: the chart keeps time order
  else s.bars.push(bar);
  if (s.bars.length > MAX_SERIES_BARS) s.bars.splice(0, s.bars.length - MAX_SERIES_BARS);
  if (symbol === chart.symbol) scheduleChart();
}

function selectChartSymbol(symbol) {
  chart.symbol = symbol;
  chart.hoverX = null;
  if (symbol) saveJson(STORAGE_CHART, symbol);
  for (const [sym, t] of tiles) t.el.setAttribute('aria-pressed', String(sym === symbol));
  $('chart').dataset.symbol = symbol ?? '';
  setText('chart-symbol', symbol ?? '–');
  renderChartQuote();
  scheduleChart();
}

/** Keeps the chart on a watched symbol: the stored choice, else the first tile. */
function ensureChartSymbol() {
  if (chart.symbol && tiles.has(chart.symbol)) {
    selectChartSymbol(chart.symbol);
    return;
  }
  const saved = loadJson(STORAGE_CHART, null);
  const first = tiles.keys().next().value ?? null;
  selectChartSymbol(typeof saved === 'string' && tiles.has(saved) ? saved : first);
}

function renderChartQuote() {
  const node = $('chart-quote');
  const t = chart.symbol ? tiles.get(chart.symbol) : null;
  if (!t || !isNum(t.price)) {
    node.textContent = '';
    node.dataset.direction = 'flat';
    return;
  }
  const parts = [fmtPrice(t.price)];
  if (isNum(t.dayRef)) parts.push(`${fmtSigned(t.change, t.price < 1 ? 4 : 2)} (${fmtSigned(t.changePct, 2, '%')}) today`);
  if (isNum(t.dayVolume)) parts.push(`day vol ${fmtCompact(t.dayVolume)}`);
  node.textContent = parts.join(' · ');
  node.dataset.direction = t.el.dataset.direction;
}

function scheduleChart() {
  if (!chart.frame) chart.frame = requestAnimationFrame(drawChart);
}

/** A timeframe as milliseconds ("1min", "5m", "1h", "1d"), or null. */
function timeframeMs(tf) {
  const m = /^(\d+)\s*(s|sec|m|min|h|hour|d|day)s?$/i.exec(String(tf ?? '').trim());
  if (!m) return null;
  const unit = { s: 1e3, sec: 1e3, m: 6e4, min: 6e4, h: 36e5, hour: 36e5, d: 864e5, day: 864e5 }[m[2].toLowerCase()];
  return Number(m[1]) * unit;
}

/** About `count` round steps covering [min, max]. */
function niceTicks(min, max, count) {
  const span = max - min;
  if (!(span > 0)) return [min];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function resizeChart() {
  const box = $('chart-box');
  const canvas = $('chart-canvas');
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(box.clientWidth));
  const h = Math.max(1, Math.round(box.clientHeight));
  if (w === chart.width && h === chart.height && canvas.width === Math.round(w * dpr)) return;
  chart.width = w;
  chart.height = h;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  scheduleChart();
}

function drawChart() {
  chart.frame = 0;
  const canvas = $('chart-canvas');
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const dpr = window.devicePixelRatio || 1;
  const W = chart.width;
  const H = chart.height;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const colors = {
    text: cssVar('--muted', '#8b96a5'),
    grid: 'rgba(139, 150, 165, .14)',
    up: cssVar('--up', '#3fb950'),
    down: cssVar('--down', '#f85149'),
    line: cssVar('--accent', '#58a6ff'),
    vol: 'rgba(139, 150, 165, .38)',
    fg: cssVar('--text', '#d6dde6'),
  };
  ctx.font = `11px ${cssVar('--mono', 'monospace')}`;
  const sym = chart.symbol;
  const s = sym ? series.get(sym) : null;
  const allBars = s ? s.bars : [];
  const allPoints = s ? s.points : [];
  setChartNote(sym, s);
  if (!sym || (allBars.length === 0 && allPoints.length < 2)) {
    ctx.fillStyle = colors.text;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText(sym ? `waiting for ${sym}'s prices and bars…` : 'click a watchlist tile to chart it', W / 2, H / 2);
    chart.layout = null;
    $('chart-canvas').setAttribute('aria-label', 'price chart: no data yet');
    return;
  }

  // The time window: everything since the page loaded, at most the last CHART_BARS candles.
  const bars = allBars.slice(-CHART_BARS);
  const spacing = medianSpacing(allBars);
  const firstBarStart = bars.length ? bars[0].t - barSpan(bars, 0, spacing) : Infinity;
  let t0 = Math.min(firstBarStart, allPoints.length ? allPoints[0].t : Infinity);
  if (allBars.length > CHART_BARS) t0 = firstBarStart;
  const t1 = Math.max(bars.length ? bars[bars.length - 1].t : -Infinity, allPoints.length ? allPoints[allPoints.length - 1].t : -Infinity);
  const points = allPoints.filter((p) => p.t >= t0);
  let lo = Infinity;
  let hi = -Infinity;
  for (const b of bars) { lo = Math.min(lo, b.l); hi = Math.max(hi, b.h); }
  for (const p of points) { lo = Math.min(lo, p.p); hi = Math.max(hi, p.p); }
  if (!(hi > lo)) { hi += Math.abs(hi) * 0.001 || 1; lo -= Math.abs(lo) * 0.001 || 1; }
  const pad = (hi - lo) * 0.06;
  lo -= pad;
  hi += pad;

  const axisW = Math.max(54, ctx.measureText(fmtPrice(hi)).width + 14,
    bars.length ? ctx.measureText(`vol ${fmtCompact(Math.max(...bars.map((b) => b.v)))}`).width + 10 : 0);
  const L = 6;
  const R = W - axisW;
  const top = 8;
  const bottom = H - 18;
  const volH = bars.length ? Math.round((bottom - top) * 0.22) : 0;
  const priceBottom = bottom - volH - (volH ? 6 : 0);
  const tSpan = Math.max(1, t1 - t0);
  const x = (t) => L + ((t - t0) / tSpan) * (R - L);
  const y = (p) => top + (1 - (p - lo) / (hi - lo)) * (priceBottom - top);
  chart.layout = { x, t0, t1, L, R, tSpan, bars, points, spacing };

  // Grid and axes: prices on the right, times below.
  ctx.lineWidth = 1;
  ctx.strokeStyle = colors.grid;
  ctx.fillStyle = colors.text;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  const lastY = (() => {
    const p = allPoints[allPoints.length - 1];
    const b = bars[bars.length - 1];
    const v = p && (!b || p.t >= b.t) ? p.p : b ? b.c : null;
    return isNum(v) ? y(v) : null;
  })();
  for (const v of niceTicks(lo, hi, 5)) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(R, yy); ctx.stroke();
    // The last price's label (below) has the axis there.
    if (lastY == null || Math.abs(yy - lastY) > 14) ctx.fillText(fmtPrice(v), R + 6, yy);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'alphabetic';
  const labels = Math.max(2, Math.floor((R - L) / 110));
  for (let i = 0; i <= labels; i += 1) {
    const t = t0 + (tSpan * i) / labels;
    const xx = Math.round(x(t)) + 0.5;
    ctx.beginPath(); ctx.moveTo(xx, top); ctx.lineTo(xx, bottom); ctx.stroke();
    ctx.textAlign = i === 0 ? 'left' : i === labels ? 'right' : 'center';
    ctx.fillText(fmtTime(t), xx, H - 4);
  }

  // Volume of each bar, under the prices.
  if (bars.length) {
    const vMax = Math.max(...bars.map((b) => b.v)) || 1;
    const vTop = bottom - volH;
    bars.forEach((b, i) => {
      const x0 = x(b.t - barSpan(bars, i, spacing));
      const x1 = x(b.t);
      const w = Math.max(1, (x1 - x0) * 0.7);
      const hgt = (b.v / vMax) * volH;
      ctx.fillStyle = b.c >= b.o ? 'rgba(63, 185, 80, .45)' : 'rgba(248, 81, 73, .45)';
      ctx.fillRect(x1 - (x1 - x0) / 2 - w / 2, bottom - hgt, w, hgt);
    });
    ctx.fillStyle = colors.text;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(`vol ${fmtCompact(vMax)}`, R + 6, vTop);
    ctx.strokeStyle = colors.grid;
    ctx.beginPath(); ctx.moveTo(L, vTop - 3.5); ctx.lineTo(R, vTop - 3.5); ctx.stroke();

    // Candles.
    bars.forEach((b, i) => {
      const x0 = x(b.t - barSpan(bars, i, spacing));
      const x1 = x(b.t);
      const mid = (x0 + x1) / 2;
      const w = Math.max(1, (x1 - x0) * 0.7);
      const color = b.c >= b.o ? colors.up : colors.down;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath(); ctx.moveTo(Math.round(mid) + 0.5, y(b.h)); ctx.lineTo(Math.round(mid) + 0.5, y(b.l)); ctx.stroke();
      const yo = y(b.o);
      const yc = y(b.c);
      ctx.fillRect(mid - w / 2, Math.min(yo, yc), w, Math.max(1, Math.abs(yc - yo)));
    });
  }

  // The price line (price updates and ticks).
  if (points.length >= 2) {
    ctx.strokeStyle = colors.line;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.p)) : ctx.moveTo(x(p.t), y(p.p))));
    ctx.stroke();
    ctx.lineWidth = 1;
  }

  // The last price, marked on the axis.
  const lastPoint = points[points.length - 1];
  const lastBar = bars[bars.length - 1];
  const last = lastPoint && (!lastBar || lastPoint.t >= lastBar.t) ? lastPoint.p : lastBar ? lastBar.c : null;
  if (isNum(last)) {
    const yy = Math.round(y(last)) + 0.5;
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = colors.line;
    ctx.beginPath(); ctx.moveTo(L, yy); ctx.lineTo(R, yy); ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = colors.line;
    ctx.fillRect(R + 1, yy - 8, axisW - 2, 16);
    ctx.fillStyle = '#0d1117';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(fmtPrice(last), R + 6, yy);
  }

  // The crosshair and its read-out.
  if (chart.hoverX != null && chart.hoverX >= L && chart.hoverX <= R) {
    ctx.strokeStyle = 'rgba(214, 221, 230, .45)';
    ctx.beginPath(); ctx.moveTo(Math.round(chart.hoverX) + 0.5, top); ctx.lineTo(Math.round(chart.hoverX) + 0.5, bottom); ctx.stroke();
  }
  renderReadout();
  $('chart-canvas').setAttribute('aria-label',
    `${sym} since ${fmtTime(t0)}: ${bars.length} bars, ${points.length} prices, last ${isNum(last) ? fmtPrice(last) : '–'}`);
}

/** The typical time between bars (their timestamps), for the first bar and gaps. */
function medianSpacing(bars) {
  const gaps = [];
  for (let i = Math.max(1, bars.length - 40); i < bars.length; i += 1) gaps.push(bars[i].t - bars[i - 1].t);
  gaps.sort((a, b) => a - b);
  if (gaps.length) return gaps[Math.floor(gaps.length / 2)] || 1000;
  return (bars.length && timeframeMs(bars[0].tf)) || 60_000;
}

/** How much time bar i covers: since the previous bar (a feed may send bars faster than their timeframe), at most 3 typical gaps. */
function barSpan(bars, i, spacing) {
  if (i === 0) return spacing;
  return Math.min(bars[i].t - bars[i - 1].t, spacing * 3) || spacing;
}

function renderReadout() {
  const node = $('chart-readout');
  const lay = chart.layout;
  if (!lay || chart.hoverX == null) {
    const s = chart.symbol ? series.get(chart.symbol) : null;
    const b = s && s.bars[s.bars.length - 1];
    node.textContent = b
      ? `last ${b.tf} bar ${fmtTime(b.t)}: O ${fmtPrice(b.o)} H ${fmtPrice(b.h)} L ${fmtPrice(b.l)} C ${fmtPrice(b.c)} · vol ${fmtCompact(b.v)} sh`
      : 'no bar yet (OHLCV bars come from dashboard_ohlcv_update)';
    return;
  }
  const t = lay.t0 + ((chart.hoverX - lay.L) / (lay.R - lay.L)) * lay.tSpan;
  const bar = lay.bars.find((b, i) => t <= b.t && t >= b.t - barSpan(lay.bars, i, lay.spacing));
  let point = null;
  for (const p of lay.points) {
    if (p.t > t) break;
    point = p;
  }
  const parts = [fmtTime(t)];
  if (point) parts.push(`price ${fmtPrice(point.p)} (${point.kind} ${fmtTime(point.t)})`);
  if (bar) parts.push(`bar O ${fmtPrice(bar.o)} H ${fmtPrice(bar.h)} L ${fmtPrice(bar.l)} C ${fmtPrice(bar.c)} vol ${fmtCompact(bar.v)} sh`);
  node.textContent = parts.join(' · ');
}

function setChartNote(sym, s) {
  const bars = s ? s.bars.length : 0;
  const points = s ? s.points.length : 0;
  const node = $('chart-note');
  node.textContent = `Drawn from what this page received since it loaded at ${fmtTime(PAGE_LOADED_AT)}` +
    (sym ? ` (${sym}: ${bars} bar${bars === 1 ? '' : 's'}, ${points} price${points === 1 ? '' : 's'})` : '') +
    ': the server\'s snapshot is the latest price and bar only, no history yet.';
  node.title = 'The line joins price updates and ticks; candles are OHLCV bars with their volume below. ' +
    'The server sends each symbol\'s latest price and bar when the page starts watching it (its snapshot), ' +
    'but keeps no history: after a reload the chart starts again from those.';
  node.dataset.bars = String(bars);
  node.dataset.points = String(points);
}

function bindChart() {
  const canvas = $('chart-canvas');
  new ResizeObserver(resizeChart).observe($('chart-box'));
  canvas.addEventListener('mousemove', (ev) => {
    const rect = canvas.getBoundingClientRect();
    chart.hoverX = ev.clientX - rect.left;
    scheduleChart();
  });
  canvas.addEventListener('mouseleave', () => {
    chart.hoverX = null;
    scheduleChart();
  });
  resizeChart();
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
        t.spike.textContent = `×${fmtNum(m, 1)}`;
        t.spike.title = `volume spike at ${fmtTime(d.timestamp)}: ${fmtNum(m, 1)}× the average volume (${compactObject(d.volume_data)})`;
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

/**
 * A producer figure with its unit, read from its name: fractions of usage, ratios and rates
 * (0..1) as percentages, `*_percent` as percent, `*_mb` / `*_bytes` as MB, `*_ms` as ms,
 * seconds and hours as durations, `*_per_second` as /s. Returns [label, text].
 */
function metricEntry(key, value) {
  const k = String(key).toLowerCase();
  const label = k.replace(/_(percent|pct|mb|gb|bytes|ms|secs|seconds|hours)$/, '').replace(/_/g, ' ');
  if (!isNum(value)) return [k.replace(/_/g, ' '), compactValue(value, 60)];
  if (/(_percent|_pct|percent)$/.test(k)) return [label, `${fmtNum(value, 1)}%`];
  if (/(usage|utili[sz]ation|ratio|_rate|_load|_fraction|_share)$/.test(k) && value >= 0 && value <= 1) {
    return [label, `${(value * 100).toFixed(1)}%`];
  }
  if (/_mb$/.test(k)) return [label, `${fmtNum(value, 0)} MB`];
  if (/_gb$/.test(k)) return [label, `${fmtNum(value, 2)} GB`];
  if (/_bytes$/.test(k)) return [label, `${fmtNum(value / 1048576, 1)} MB`];
  if (/(_ms|latency|lag)$/.test(k)) return [label, `${fmtNum(value, 1)} ms`];
  if (/_(secs|seconds)$/.test(k)) return [label, fmtDuration(value)];
  if (/_hours$/.test(k)) return [label, fmtDuration(value * 3600)];
  if (/(_per_second|_per_sec|_ps)$/.test(k)) return [label.replace(/ per sec(ond)?$/, ''), `${fmtNum(value, 1)}/s`];
  if (/_per_minute$/.test(k)) return [label.replace(/ per minute$/, ''), `${fmtNum(value, 1)}/min`];
  return [label, fmtNum(value)];
}

/** Every figure of an object with its unit; nested objects one level deep (`system cpu`). */
function metricEntries(obj, prefix = '', depth = 0) {
  const entries = [];
  for (const [k, v] of Object.entries(obj && typeof obj === 'object' ? obj : {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && depth < 1) {
      entries.push(...metricEntries(v, `${prefix}${k.replace(/_/g, ' ')} `, depth + 1));
    } else {
      const [label, text] = metricEntry(k, v);
      entries.push([`${prefix}${label}`, text]);
    }
  }
  return entries;
}

function onSystemHealth(d) {
  setBadge('system-health-status', d.overall_status);
  setText('system-health-detail', [d.source, d.message, `at ${fmtTime(d.timestamp)}`].filter(Boolean).join(' · '));
  const entries = [];
  for (const [k, v] of Object.entries(d.components || {})) entries.push([k, compactValue(v, 60)]);
  entries.push(...metricEntries(d.metrics));
  kvList($('system-health-components'), entries);
}

function onStreamingHealth(d) {
  const h = d.health || {};
  setBadge('streaming-health-status', h.status);
  setText('streaming-health-symbols', isNum(h.active_symbols) ? h.active_symbols.toLocaleString() : '–');
  setText('streaming-health-tps', isNum(h.ticks_per_second) ? `${fmtNum(h.ticks_per_second, 1)}/s` : '–');
  setText('streaming-health-totals', `${fmtNum(h.patterns_detected, 0)} / ${fmtNum(h.indicators_calculated, 0)}`);
  const conn = h.connection_status || compactObject(h.connection) || '–';
  setText('streaming-health-connection', conn);
  // The producer's resources (cpu_percent, memory_mb, ...) and data flow (processing_lag_ms, ...).
  const flow = { ...(h.data_flow || {}) };
  delete flow.ticks_per_second; // shown above
  kvList($('streaming-health-resources'), [...metricEntries(h.resources), ...metricEntries(flow)]);
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
    ['volume', `${fmtCompact(s.total_volume)} shares`],
    // Percent units, like change_percent (docs/PROTOCOL.md: dashboard_market_summary).
    ['market cap change', fmtSigned(s.market_cap_change, 2, '%')],
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
  const m = $('admin-monitoring-list').children.length;
  setText('admin-monitoring-count', m ? `${m} shown` : 'none yet');
}

/** Where an entry goes: monitoring reports in their own list, producer errors (and anything else) in the errors list. */
const opsList = (event) => $(event === 'monitoring_event' ? 'admin-monitoring-list' : 'admin-errors-list');

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
  const failed = (err) => ({ status: 0, data: { message: describeError(err) } });
  // Monitoring reports have no severity or source: with a filter set, they are asked for apart.
  const filtered = Boolean(severity || source);
  const [r, all] = await Promise.all([
    api('GET', `/api/admin/errors?${query}`).catch(failed),
    filtered ? api('GET', '/api/admin/errors?limit=100').catch(failed) : null,
  ]);
  if (seq !== opsRequests || epoch !== state.epoch) return; // a newer request (other filters, another identity) answers instead
  if (r.status !== 200 || !r.data || !Array.isArray(r.data.errors)) {
    setNote('admin-status', `could not load the operations log: ${apiMessage(r)}`, true);
    status.dataset.state = 'error';
    return;
  }
  const errors = r.data.errors.filter((e) => e.event !== 'monitoring_event');
  const monitoringSource = all && all.status === 200 && all.data && Array.isArray(all.data.errors) ? all.data.errors : r.data.errors;
  $('admin-errors-list').replaceChildren(...errors.map((e) => opsItem(e.event, e.data, 'log', e.id)));
  $('admin-monitoring-list').replaceChildren(
    ...monitoringSource.filter((e) => e.event === 'monitoring_event').map((e) => opsItem(e.event, e.data, 'log', e.id)),
  );
  updateOpsCount();
  const n = errors.length;
  const filters = [severity && `severity ${severity}`, source && `source ${source}`].filter(Boolean).join(', ');
  setNote('admin-status', `${n ? `${n} logged error${n === 1 ? '' : 's'}, newest first` : 'no error logged'}` +
    `${filters ? ` (${filters})` : ''}; refreshed ${fmtTime(Date.now())}. New ones appear live.`);
  status.dataset.state = 'loaded';
  status.dataset.refreshes = String(Number(status.dataset.refreshes || 0) + 1);
}

/** A live frame: a producer error when it passes the filters, a monitoring report always. */
function onOpsEvent(event, d) {
  if ($('admin').hidden || !d) return;
  const { severity, source } = opsFilter();
  if (event !== 'monitoring_event') {
    // The filters are the producer errors' (monitoring reports have neither).
    if (severity && String(d.severity ?? '').toLowerCase() !== severity) return;
    if (source && d.source !== source) return;
  }
  const list = opsList(event);
  list.prepend(opsItem(event, d, 'live'));
  while (list.children.length > MAX_OPS_ENTRIES) list.lastElementChild.remove();
  updateOpsCount();
}

function showAdminPanel(isAdmin) {
  $('admin').hidden = !isAdmin;
  startMonitor(isAdmin && Boolean(client));
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
  $('admin-monitor-refresh').addEventListener('click', loadMonitor);
}

/** The message monitor (the /debug page's data): the last messages and the field names per channel. */
const MONITOR_MESSAGES = 30;
const MONITOR_EVERY_MS = 15_000;
let monitorRequests = 0;
let monitorTimer = null;

async function loadMonitor() {
  if (!state.token || !state.roles.includes('admin') || $('admin').hidden) return;
  const seq = ++monitorRequests;
  const epoch = state.epoch;
  const status = $('admin-monitor-status');
  const failed = (err) => ({ status: 0, data: { message: describeError(err) } });
  const [messages, fields] = await Promise.all([
    api('GET', `/debug/messages?limit=${MONITOR_MESSAGES}`).catch(failed),
    api('GET', '/debug/field-names').catch(failed),
  ]);
  if (seq !== monitorRequests || epoch !== state.epoch) return;
  if (messages.status === 404 || fields.status === 404) {
    setNote('admin-monitor-status', 'The message monitor is not on this port (server.admin_bind moves /debug to the operator port): open /debug there.');
    status.dataset.state = 'elsewhere';
    return;
  }
  if (messages.status !== 200 || fields.status !== 200 || !messages.data || !fields.data) {
    setNote('admin-monitor-status', `could not load the message monitor: ${apiMessage(messages.status !== 200 ? messages : fields)}`, true);
    status.dataset.state = 'error';
    return;
  }
  const list = Array.isArray(messages.data.messages) ? messages.data.messages : [];
  $('admin-monitor-messages').replaceChildren(...list.map((m) => {
    const outcome = m.outcome && typeof m.outcome === 'object' ? m.outcome : {};
    const drops = Array.isArray(outcome.drops) ? outcome.drops : [];
    const raw = String(m.raw ?? '');
    const row = el(
      'tr',
      { dataset: { channel: m.channel ?? '', dropped: String(drops.length > 0) } },
      el('td', { className: 'num', text: fmtTime(m.received_at) }),
      el('td', { text: m.channel ?? '–', title: m.kind ? `kind ${m.kind}` : '' }),
      el('td', { text: drops.length ? `dropped: ${drops.join(', ')}` : `${fmtNum(outcome.events, 0)} event(s)` }),
      el('td', { className: 'raw', text: raw.length > 120 ? `${raw.slice(0, 120)}…` : raw, title: raw.slice(0, 2000) + (m.truncated ? ` … (${m.bytes} bytes)` : '') }),
    );
    row.cells[2].className = drops.length ? 'drop' : '';
    return row;
  }));
  const channels = fields.data.channels && typeof fields.data.channels === 'object' ? fields.data.channels : {};
  $('admin-monitor-fields').replaceChildren(...Object.entries(channels).map(([channel, r]) => {
    const names = [
      r.pattern_name_fields && Object.keys(r.pattern_name_fields).length ? `pattern: ${Object.keys(r.pattern_name_fields).join(', ')}` : '',
      r.indicator_name_fields && Object.keys(r.indicator_name_fields).length ? `indicator: ${Object.keys(r.indicator_name_fields).join(', ')}` : '',
    ].filter(Boolean).join('; ');
    return el(
      'tr',
      { title: String(r.recommendation ?? '') },
      el('td', { text: channel }),
      el('td', { className: 'num', text: fmtNum(r.messages, 0) }),
      el('td', { className: r.has_inconsistency ? 'wrap warn' : 'wrap', text: names || String(r.recommendation ?? '–') }),
    );
  }));
  const dropped = list.filter((m) => m.outcome && Array.isArray(m.outcome.drops) && m.outcome.drops.length).length;
  setNote('admin-monitor-status', `last ${list.length} inbound message${list.length === 1 ? '' : 's'} (${dropped} dropped), ` +
    `${Object.keys(channels).length} channels; refreshed ${fmtTime(Date.now())}, every ${MONITOR_EVERY_MS / 1000} s`);
  status.dataset.state = 'loaded';
}

function startMonitor(on) {
  clearInterval(monitorTimer);
  monitorTimer = null;
  if (!on) return;
  loadMonitor();
  monitorTimer = setInterval(() => {
    if (!document.hidden) loadMonitor();
  }, MONITOR_EVERY_MS);
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
  startMonitor(false);
  $('admin-errors-list').replaceChildren();
  $('admin-monitoring-list').replaceChildren();
  $('admin-monitor-fields').replaceChildren();
  $('admin-monitor-messages').replaceChildren();
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
  $('pattern-sub-form').addEventListener('submit', onPatternSubSubmit);
  $('pattern-subs-clear').addEventListener('click', () => applyPatternSubs([]));
  renderPatternSubs();
  bindPatternTable();
  bindChart();
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
