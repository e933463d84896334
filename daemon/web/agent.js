// The agent console (served at /agent/ once signed in). Plain ES module:
// every text from the API is put in with textContent, never as HTML.
// Views by hash: #/queue, #/search/<q>, #/s/<id>, #/carriers.
// Keys: "/" focuses the search, Enter opens, Esc goes back.
import { barChart, rangeChart } from './charts.js';

const T = JSON.parse(document.getElementById('words').textContent);
const CARRIERS = JSON.parse(document.getElementById('carriers').textContent);
const app = document.getElementById('app');
const lang = document.documentElement.lang || 'en';

// --- small DOM helpers -----------------------------------------------------

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
const fmt = (s, v) => s.replace('{s}', v);
const reasonName = (r) => (T.reasons && T.reasons[r]) || r;
const carrierName = (c) => (CARRIERS[c] && CARRIERS[c].name) || c || '–';

// Event places' zones (the timeline shows the place's own time beside UTC).
const ZONES = {
  NL: 'Europe/Amsterdam', BE: 'Europe/Brussels', DE: 'Europe/Berlin', FR: 'Europe/Paris',
  LU: 'Europe/Luxembourg', GB: 'Europe/London', IE: 'Europe/Dublin', AT: 'Europe/Vienna',
  CH: 'Europe/Zurich', IT: 'Europe/Rome', ES: 'Europe/Madrid', PT: 'Europe/Lisbon',
  DK: 'Europe/Copenhagen', SE: 'Europe/Stockholm', NO: 'Europe/Oslo', FI: 'Europe/Helsinki',
  PL: 'Europe/Warsaw', CZ: 'Europe/Prague', SK: 'Europe/Bratislava', HU: 'Europe/Budapest',
  SI: 'Europe/Ljubljana', HR: 'Europe/Zagreb', RO: 'Europe/Bucharest', BG: 'Europe/Sofia',
  GR: 'Europe/Athens', EE: 'Europe/Tallinn', LV: 'Europe/Riga', LT: 'Europe/Vilnius',
  JP: 'Asia/Tokyo', CN: 'Asia/Shanghai', HK: 'Asia/Hong_Kong', SG: 'Asia/Singapore',
  AU: 'Australia/Sydney', NZ: 'Pacific/Auckland',
};

function when(iso, zone) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const f = new Intl.DateTimeFormat(lang, {
    timeZone: zone || undefined, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hour12: false,
  });
  return f.format(d);
}
function utc(iso) {
  return iso ? iso.replace('T', ' ').replace(/:\d\dZ$/, 'Z') : '–';
}
function zoneShort(zone, iso) {
  try {
    const parts = new Intl.DateTimeFormat('en', { timeZone: zone, timeZoneName: 'short' }).formatToParts(new Date(iso));
    return parts.find((p) => p.type === 'timeZoneName')?.value || zone;
  } catch {
    return zone;
  }
}

async function call(method, path) {
  const r = await fetch(path, { method, credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) {
    location.href = '/agent/';
    throw new Error('signed out');
  }
  let body = null;
  try { body = await r.json(); } catch { /* empty */ }
  return { status: r.status, body, headers: r.headers };
}

// --- the frame -------------------------------------------------------------

const search = el('input', {
  id: 'q', type: 'search', name: 'q', placeholder: T.search_hint, autocomplete: 'off',
  spellcheck: 'false', 'aria-keyshortcuts': '/', 'aria-label': `${T.search}: ${T.search_hint}`,
});
const queueCount = el('span', { class: 'pill', 'aria-hidden': 'true' });
const liveDot = el('span', { class: 'live off', role: 'status', text: T.offline });
const view = el('main', { id: 'view', tabindex: '-1' });
const otherLang = app.dataset.otherLang;

app.append(
  el('header', { class: 'top' },
    el('a', { class: 'brand', href: '#/queue' }, el('span', { class: 'mark', 'aria-hidden': 'true' }),
      el('span', { text: app.dataset.shop }), el('span', { class: 'sub', text: ' · wismo' })),
    el('form', {
      class: 'search', role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        const q = search.value.trim();
        if (q) go(`#/search/${encodeURIComponent(q)}`);
      },
    }, search, el('button', { type: 'submit', text: T.search })),
    el('nav', { 'aria-label': 'wismo' },
      el('a', { href: '#/queue', id: 'nav-queue' }, T.queue, ' ', queueCount),
      el('a', { href: '#/carriers', id: 'nav-carriers', text: T.carriers })),
    el('div', { class: 'tools' },
      liveDot,
      el('a', { href: `/agent/?lang=${otherLang}`, lang: otherLang, text: otherLang === 'nl' ? 'Nederlands' : 'English' }),
      el('form', { method: 'post', action: '/agent/session/end' }, el('button', { type: 'submit', class: 'quiet', text: T.signout })))),
  view,
  el('footer', { class: 'keys', text: T.keys }),
);

let current = null; // { kind, id?, reload() }
let history = [];

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function back() {
  if (history.length > 1) {
    history.pop();
    const prev = history.pop();
    go(prev);
  } else {
    go('#/queue');
  }
}

function setNav(which) {
  for (const a of document.querySelectorAll('header nav a')) {
    if (a.id === `nav-${which}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// replaceChildren would turn a null into the text "null".
function show(...kids) {
  view.replaceChildren(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
}

function problem(msg) {
  view.replaceChildren(el('p', { class: 'alert', role: 'alert', text: fmt(T.error, msg) }));
}

// --- tables ----------------------------------------------------------------

function statusPill(status) {
  return el('span', { class: `status st-${status}`, text: status ? status.replace(/_/g, ' ') : '–' });
}

function shipTable(caption, rows, cols) {
  if (!rows.length) return el('p', { class: 'none', text: T.none });
  const head = el('tr', {}, cols.map((c) => el('th', { scope: 'col', class: c.cls || null, text: c.title })));
  const body = rows.map((r) => el('tr', {}, cols.map((c, i) => {
    const v = c.value(r);
    if (i === 0) {
      return el('th', { scope: 'row', class: c.cls || null }, el('a', { href: `#/s/${encodeURIComponent(r.id)}`, class: 'open' }, v));
    }
    return el('td', { class: c.cls || null }, v);
  })));
  return el('div', { class: 'tablewrap' },
    el('table', { class: 'ships' }, el('caption', { class: 'sr', text: caption }), el('thead', {}, head), el('tbody', {}, body)));
}

// Arrow keys move between the rows' links; Enter follows the focused one.
view.addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  const links = [...view.querySelectorAll('a.open')];
  const i = links.indexOf(document.activeElement);
  if (i < 0) return;
  e.preventDefault();
  const j = Math.max(0, Math.min(links.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)));
  links[j].focus();
});

// --- views -----------------------------------------------------------------

// Each navigation bumps seq; a view whose answer comes back after the next
// navigation began is not drawn (a slow answer must not cover a newer view).
let seq = 0;

async function showQueue(reason) {
  const t = seq;
  setNav('queue');
  const r = await call('GET', '/agent/queue');
  if (t !== seq) return;
  if (r.status !== 200) return problem(r.body?.message || r.status);
  const { counts, items } = r.body;
  const total = items.length;
  queueCount.textContent = String(total);
  const chips = el('div', { class: 'chips', role: 'group', 'aria-label': T.reason },
    el('a', { href: '#/queue', class: 'chip', 'aria-current': reason ? null : 'true' }, T.all, ' ', el('b', { text: String(total) })),
    Object.entries(counts).map(([k, n]) => el('a', {
      href: `#/queue/${k}`, class: `chip r-${k}`, 'aria-current': reason === k ? 'true' : null,
    }, reasonName(k), ' ', el('b', { text: String(n) }))));
  const shown = reason ? items.filter((i) => i.reasons.includes(reason)) : items;
  show(
    el('h1', {}, T.queue, ' ', el('span', { class: 'count', text: `(${total})` })),
    chips,
    shipTable(T.queue, shown, [
      { title: T.order, value: (i) => i.order_id || i.id },
      { title: T.reason, value: (i) => el('span', { class: `reason r-${i.reason}`, text: reasonName(i.reason) }) },
      { title: T.since, value: (i) => when(i.since) },
      { title: T.carrier, value: (i) => carrierName(i.carrier), cls: 'wide' },
      { title: T.status, value: (i) => statusPill(i.status), cls: 'wide' },
      { title: T.eta, value: (i) => when(i.estimated_delivery), cls: 'wide' },
      { title: T.promised, value: (i) => when(i.promised_delivery), cls: 'wide' },
    ]),
  );
  current = { kind: 'queue', reload: () => showQueue(reason) };
}

async function showSearch(q) {
  const t = seq;
  setNav(null);
  search.value = q;
  const r = await call('GET', `/v1/shipments?q=${encodeURIComponent(q)}&limit=100`);
  if (t !== seq) return;
  if (r.status !== 200) return problem(r.body?.message || r.status);
  const rows = r.body.shipments || [];
  show(
    el('h1', {}, T.results, ' ', el('span', { class: 'count', text: `(${rows.length})` })),
    el('p', { class: 'query' }, el('q', { text: q })),
    shipTable(T.results, rows, [
      { title: T.order, value: (s) => s.order_id || s.id },
      { title: T.tracking, value: (s) => el('span', { class: 'mono', text: s.tracking_number }) },
      { title: T.carrier, value: (s) => carrierName(s.carrier), cls: 'wide' },
      { title: T.status, value: (s) => statusPill(s.status) },
      { title: T.eta, value: (s) => when(s.estimated_delivery), cls: 'wide' },
      { title: T.contact, value: (s) => [s.email, s.phone].filter(Boolean).join(' · '), cls: 'wide' },
    ]),
  );
  const first = view.querySelector('a.open');
  if (first) first.focus();
  current = { kind: 'search', reload: () => showSearch(q) };
}

let refreshTimer = null;

async function showShipment(id, flash) {
  const t = seq;
  setNav(null);
  const r = await call('GET', `/v1/shipments/${encodeURIComponent(id)}`);
  if (t !== seq) return;
  if (r.status !== 200) return problem(r.body?.message || r.status);
  const s = r.body;
  const note = el('p', { class: 'refresh-note', role: 'status', 'aria-live': 'polite' });
  const refresh = el('button', {
    type: 'button', class: 'primary', id: 'refresh', text: T.refresh,
    onclick: async () => {
      refresh.disabled = true;
      const x = await call('POST', `/v1/shipments/${encodeURIComponent(id)}/refresh`);
      if (x.status === 202) {
        note.textContent = T.refresh_queued;
        setTimeout(() => { refresh.disabled = false; }, 2000);
      } else if (x.status === 429) {
        let left = parseInt(x.headers.get('Retry-After') || '5', 10);
        note.textContent = fmt(T.refresh_wait, left);
        clearInterval(refreshTimer);
        refreshTimer = setInterval(() => {
          left -= 1;
          if (left <= 0) {
            clearInterval(refreshTimer);
            refresh.disabled = false;
            note.textContent = '';
          } else {
            note.textContent = fmt(T.refresh_wait, left);
          }
        }, 1000);
      } else if (x.status === 409) {
        note.textContent = T.refresh_final;
      } else {
        note.textContent = fmt(T.error, x.body?.message || x.status);
        refresh.disabled = false;
      }
    },
  });
  const late = s.delay;
  const facts = el('dl', { class: 'facts' },
    el('div', {}, el('dt', { text: T.status }), el('dd', {}, statusPill(s.status), s.substatus ? ` ${s.substatus}` : '')),
    el('div', {}, el('dt', { text: T.eta }), el('dd', { text: when(s.estimated_delivery) })),
    el('div', {}, el('dt', { text: T.promised }), el('dd', { text: when(s.promised_delivery) })),
    el('div', { class: late ? 'late' : 'ok' }, el('dt', { text: T.delay }),
      el('dd', { text: late ? `${reasonName(late.reason)} · ${T.since.toLowerCase()} ${when(late.since)}` : T.no_delay })),
    el('div', {}, el('dt', { text: T.contact }), el('dd', { text: [s.email, s.phone, s.postcode].filter(Boolean).join(' · ') || '–' })),
    s.last_error ? el('div', { class: 'late' }, el('dt', { text: T.last_error }),
      el('dd', { text: `${s.last_error.error} · ${when(s.last_error.at)}` })) : null);
  const events = [...(s.events || [])].reverse();
  const timeline = events.length ? el('div', { class: 'tablewrap' }, el('table', { class: 'timeline' },
    el('caption', { class: 'sr', text: T.timeline }),
    el('thead', {}, el('tr', {}, [T.local, T.utc, T.what, T.place].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, events.map((e) => {
      const cc = e.location?.country;
      const zone = cc && ZONES[cc];
      return el('tr', { class: `ev-${e.status}` },
        el('td', { class: 'nowrap' }, zone ? `${when(e.time, zone)} ${zoneShort(zone, e.time)}` : '–'),
        el('td', { class: 'nowrap mono', text: utc(e.time) }),
        el('td', {}, el('span', { class: 'what', text: e.description || e.status }), ' ', statusPill(e.status)),
        el('td', { class: 'where', text: [e.location?.city, cc].filter(Boolean).join(', ') }));
    })))) : el('p', { class: 'none', text: T.none });
  const notes = s.notifications || [];
  const notifications = notes.length ? el('div', { class: 'tablewrap' }, el('table', { class: 'notes' },
    el('caption', { class: 'sr', text: T.notifications }),
    el('thead', {}, el('tr', {}, [T.time, T.reason, T.channel, T.outcome, T.text].map((t) => el('th', { scope: 'col', text: t })))),
    el('tbody', {}, [...notes].reverse().map((n) => el('tr', { class: `o-${n.outcome}` },
      el('td', { class: 'nowrap', text: when(n.at) }),
      el('td', { text: reasonName(n.reason) }),
      el('td', { text: n.channel }),
      el('td', {}, el('span', { class: `outcome o-${n.outcome}`, text: n.outcome }), n.why ? ` (${n.why})` : ''),
      el('td', { class: 'text' },
        n.subject ? el('strong', { text: n.subject }) : null,
        n.subject && n.text ? el('br') : null,
        n.text ? el('span', { class: 'msg', text: n.text }) : '–')))))) : el('p', { class: 'none', text: T.none });
  const c = CARRIERS[s.carrier];
  const url = c && c.url && s.tracking_number ? c.url.replace('%s', encodeURIComponent(s.tracking_number)) : null;
  const link = url ? el('a', { href: url, rel: 'noopener noreferrer', target: '_blank', class: 'ext', text: `${T.carrier_link} (${c.name})` }) : null;
  show(
    el('div', { class: 'crumbs' }, el('a', { href: '#', onclick: (e) => { e.preventDefault(); back(); }, text: `← ${T.back}` })),
    el('div', { class: 'shiphead' },
      el('div', {},
        el('h1', {}, T.order, ' ', el('span', { text: s.order_id || s.id })),
        el('p', { class: 'sub' }, el('span', { text: carrierName(s.carrier) }), ' · ', el('span', { class: 'mono', text: s.tracking_number }), link ? ' · ' : '', link)),
      el('div', { class: 'actions' }, refresh, note)),
    flash ? el('p', { class: 'flash', role: 'status', text: `${T.updated} ${when(new Date().toISOString())}` }) : null,
    facts,
    el('h2', { text: T.timeline }), timeline,
    el('h2', { text: T.notifications }), notifications,
  );
  current = { kind: 'ship', id: s.id, reload: () => showShipment(id, true) };
  if (!flash) {
    view.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

async function showCarriers(from, to) {
  const t = seq;
  setNav('carriers');
  const today = new Date();
  const ago = new Date(today.getTime() - 30 * 86400000);
  from = from || ago.toISOString().slice(0, 10);
  to = to || today.toISOString().slice(0, 10);
  const r = await call('GET', `/v1/stats/carriers?from=${from}&to=${to}`);
  if (t !== seq) return;
  if (r.status !== 200) return problem(r.body?.message || r.status);
  const rows = r.body.rows || [];
  const form = el('form', {
    class: 'range',
    onsubmit: (e) => {
      e.preventDefault();
      go(`#/carriers/${form.elements.from.value}/${form.elements.to.value}`);
    },
  },
  el('label', { for: 'from', text: T.from }), el('input', { id: 'from', name: 'from', type: 'date', value: from }),
  el('label', { for: 'to', text: T.to }), el('input', { id: 'to', name: 'to', type: 'date', value: to }),
  el('button', { type: 'submit', text: T.show }));
  const label = (x) => `${carrierName(x.carrier)} ${x.country || '??'}`;
  const pct = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)}%`);
  const num = (v) => (v === null || v === undefined ? '–' : v.toFixed(1));
  show(
    el('h1', { text: T.carriers }), form,
    rows.length ? el('div', { class: 'charts' },
      el('figure', {}, el('figcaption', { text: T.on_time }),
        barChart(rows.map((x) => ({ label: label(x), value: x.on_time_rate, text: pct(x.on_time_rate) })), { max: 1 })),
      el('figure', {}, el('figcaption', { text: `${T.p50} / ${T.p90}` }),
        rangeChart(rows.map((x) => ({ label: label(x), lo: x.transit_days_p50, hi: x.transit_days_p90 })))),
      el('figure', {}, el('figcaption', { text: `${T.exceptions} · ${T.failed}` }),
        barChart(rows.map((x) => ({ label: label(x), value: x.exceptions_per_100, value2: x.failed_attempts_per_100, text: `${num(x.exceptions_per_100)} · ${num(x.failed_attempts_per_100)}` })), {}))) : null,
    rows.length ? el('div', { class: 'tablewrap' }, el('table', { class: 'stats' },
      el('caption', { class: 'sr', text: T.carriers }),
      el('thead', {}, el('tr', {}, [T.carrier, T.country, T.shipments, T.delivered, T.on_time, T.p50, T.p90, T.exceptions, T.failed]
        .map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, rows.map((x) => el('tr', {},
        el('th', { scope: 'row', text: carrierName(x.carrier) }), el('td', { text: x.country || '??' }),
        el('td', { class: 'num', text: String(x.shipments) }), el('td', { class: 'num', text: String(x.delivered) }),
        el('td', { class: 'num', text: pct(x.on_time_rate) }), el('td', { class: 'num', text: num(x.transit_days_p50) }),
        el('td', { class: 'num', text: num(x.transit_days_p90) }), el('td', { class: 'num', text: num(x.exceptions_per_100) }),
        el('td', { class: 'num', text: num(x.failed_attempts_per_100) })))))) : el('p', { class: 'none', text: T.none }),
  );
  current = { kind: 'carriers', reload: null };
}

async function route() {
  const hash = location.hash || '#/queue';
  // A reload planned for the view being left must not draw it again.
  seq += 1;
  clearTimeout(pending);
  current = null;
  if (history[history.length - 1] !== hash) history.push(hash);
  if (history.length > 50) history = history.slice(-50);
  const [, kind, a, b] = hash.split('/');
  try {
    if (kind === 's' && a) await showShipment(decodeURIComponent(a));
    else if (kind === 'search' && a) await showSearch(decodeURIComponent(a));
    else if (kind === 'carriers') await showCarriers(a, b);
    else await showQueue(a);
  } catch (e) {
    problem(e.message);
  }
}

// --- keys ------------------------------------------------------------------

document.addEventListener('keydown', (e) => {
  const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement?.tagName);
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    search.focus();
    search.select();
  } else if (e.key === 'Escape') {
    if (typing && document.activeElement === search && search.value) return; // clears it
    e.preventDefault();
    if (typing) document.activeElement.blur();
    if (current && current.kind !== 'queue') back();
  }
});

// --- live updates (Server-Sent Events fed by the change stream) -------------

let pending = null;
// One long-lived answer of /agent/events: an event per change as it
// happens, a heartbeat comment every 15 s. EventSource reconnects by
// itself (2 s, as the server's "retry:" says) with the last id, and the
// server sends what was missed. Live means the stream is open.
function showLive(on) {
  liveDot.className = on ? 'live on' : 'live off';
  liveDot.textContent = on ? T.live : T.offline;
}
function reloadSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => current && current.reload && current.reload(), 500);
}
function connect() {
  const es = new EventSource('/agent/events');
  es.addEventListener('open', () => showLive(true));
  es.addEventListener('error', () => showLive(es.readyState === EventSource.OPEN));
  // Too far behind to catch up: whatever is shown may be stale.
  es.addEventListener('reset', reloadSoon);
  es.addEventListener('change', (e) => {
    let c;
    try { c = JSON.parse(e.data); } catch { return; }
    if (!current) return;
    if (current.kind === 'ship' && c.id === current.id) current.reload();
    else if (current.kind === 'queue' || current.kind === 'search') reloadSoon();
  });
}

window.addEventListener('hashchange', route);
route();
connect();
