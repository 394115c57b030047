// The bundled tickrouter dashboard (served at `/`). Protocol: docs/PROTOCOL.md.
//
// SECURITY: every string that comes from the server is written with textContent, an attribute
// or a dataset entry, never parsed as HTML. Keep it that way: no innerHTML / insertAdjacentHTML.

import { connect } from '/static/tickrouter.js';

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
  usingToken: false,
  tokenRetried: false,
  /** The page's token (the demo token in demo mode), also used for the backtest API. */
  token: null,
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
  // A demo token expires; fetch a fresh one once before giving up.
  if (state.usingToken && !state.tokenRetried) {
    state.tokenRetried = true;
    showNotice('token refused; requesting a new one…', true);
    start(await fetchDemoToken());
    return;
  }
  showNotice(`disconnected: ${detail.message || detail.reason}. Reload the page to retry.`, true);
}

function onConnectionConfirmed(data) {
  state.tokenRetried = false;
  const user = data.user_id == null ? 'anonymous' : String(data.user_id);
  const roles = Array.isArray(data.roles) && data.roles.length ? ` (${data.roles.join(', ')})` : '';
  setText('user-id', user + roles);
  setNote(
    'backtests-note',
    data.user_id == null
      ? 'Anonymous session: backtests need a signed-in user (in demo mode the page gets a demo token).'
      : 'Progress and results of your own jobs appear here.',
  );
  $('backtest-submit').disabled = data.user_id == null;
  loadJobs();
}

function countEvent(_data, event) {
  if (!REPLIES.has(event)) state.eventsThisSecond += 1;
}

// ---- pattern alerts ----------------------------------------------------------------------

function onPatternAlert(a) {
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

function onWatchlistAck(ack) {
  state.watchlist = orderedSymbols(ack.symbols);
  saveJson(STORAGE_WATCHLIST, state.watchlist);
  syncTiles(state.watchlist);
  const input = $('watchlist-input');
  if (document.activeElement !== input) input.value = state.watchlist.join(', ');
}

function onWatchlistSubmit(ev) {
  ev.preventDefault();
  if (!client) return;
  const { valid, invalid } = parseSymbols($('watchlist-input').value);
  if (invalid.length) return setNote('watchlist-status', `invalid symbol(s): ${invalid.join(', ')}`, true);
  state.watchOrder = valid;
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

/** Calls the backtest API with the page's token; a refused demo token is renewed once. */
async function backtestApi(method, path, body) {
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
  if (res.status === 401 && state.usingToken) {
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
  const r = await backtestApi('GET', '/api/backtests').catch((err) => ({ status: 0, data: { message: String(err) } }));
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
  setNote('backtest-form-status', 'submitting…');
  try {
    const r = await backtestApi('POST', '/api/backtests', backtestRequest(form));
    if (r.status === 201 && r.data && r.data.job_id) {
      showFieldErrors({});
      const id = String(r.data.job_id);
      // Its first progress report may have arrived before this reply: keep what it said.
      if (!jobs.has(id)) jobCard(id).detail.textContent = 'queued: waiting for the backtester';
      setNote('backtest-form-status', `submitted ${r.data.job_id}`);
      // The record has the normalised config (upper-case symbols, defaults).
      backtestApi('GET', `/api/backtests/${encodeURIComponent(r.data.job_id)}`)
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
    button.disabled = false;
  }
}

async function cancelJob(job) {
  job.cancel.disabled = true;
  try {
    const r = await backtestApi('POST', `/api/backtests/${encodeURIComponent(job.id)}/cancel`);
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
  ack: (d) => {
    if (d && d.op === 'watchlist' && Array.isArray(d.symbols)) onWatchlistAck(d);
  },
  error: (d) => showNotice(`server error ${describeError(d)}`),
};

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

/** The demo token when the server runs in demo mode (200 {token}); null otherwise (404). */
async function fetchDemoToken() {
  try {
    const res = await fetch('/api/demo-token', { cache: 'no-store', credentials: 'same-origin' });
    if (!res.ok) return null;
    const body = await res.json();
    return body && typeof body.token === 'string' && body.token ? body.token : null;
  } catch (_) {
    return null;
  }
}

function start(token) {
  if (client) client.close();
  state.usingToken = Boolean(token);
  state.token = token || null;
  client = connect(wsUrl(), {
    token,
    topics: TOPICS,
    watchlist: state.watchlist,
    patternSubscriptions: state.patternSubs.length ? state.patternSubs : undefined,
    onStatus,
  });
  for (const [event, handler] of Object.entries(HANDLERS)) client.on(event, handler);
  client.on('*', countEvent);
}

function bindUi() {
  syncTiles(state.watchlist);
  $('watchlist-input').value = state.watchlist.join(', ');
  $('watchlist-form').addEventListener('submit', onWatchlistSubmit);
  $('confidence-filter').addEventListener('input', applyConfidenceFilter);
  $('pattern-sub-form').addEventListener('submit', onPatternSubSubmit);
  $('pattern-subs-clear').addEventListener('click', () => applyPatternSubs([]));
  renderPatternSubs();
  applyConfidenceFilter();
  renderStreamingCounters();
  bindBacktestForm();
  setInterval(() => {
    setText('events-per-second', state.eventsThisSecond.toLocaleString());
    state.eventsThisSecond = 0;
  }, 1000);
}

async function main() {
  bindUi();
  start(await fetchDemoToken());
}

main();
