// SVG charts drawn by the console itself (no library): horizontal bars
// with their numbers beside them, and ranges (median to 90th percentile).
// Every label goes in with textContent.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const ROW = 30;
const LABEL = 120;
const WIDTH = 440;
const NUM = 92;

function frame(n, title) {
  const h = n * ROW + 8;
  const root = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${h}`, width: '100%', role: 'img', class: 'chart', preserveAspectRatio: 'xMinYMin meet',
  });
  root.append(svg('title', {}, title));
  return root;
}

// rows: [{label, value, value2?, text}]; value2 draws a second, thinner bar.
export function barChart(rows, { max } = {}) {
  const top = max ?? Math.max(1e-9, ...rows.map((r) => Math.max(r.value ?? 0, r.value2 ?? 0)));
  const root = frame(rows.length, rows.map((r) => `${r.label}: ${r.text}`).join('; '));
  const span = WIDTH - LABEL - NUM;
  rows.forEach((r, i) => {
    const y = i * ROW + 4;
    root.append(svg('text', { x: LABEL - 8, y: y + 15, 'text-anchor': 'end', class: 'lbl' }, r.label));
    root.append(svg('rect', { x: LABEL, y: y + 2, width: span, height: ROW - 8, class: 'track', rx: 3 }));
    if (r.value !== null && r.value !== undefined) {
      root.append(svg('rect', {
        x: LABEL, y: y + 2, width: Math.max(1, (span * r.value) / top), height: r.value2 === undefined ? ROW - 8 : (ROW - 8) / 2, class: 'bar', rx: 3,
      }));
    }
    if (r.value2 !== undefined && r.value2 !== null) {
      root.append(svg('rect', {
        x: LABEL, y: y + 2 + (ROW - 8) / 2, width: Math.max(1, (span * r.value2) / top), height: (ROW - 8) / 2, class: 'bar2', rx: 3,
      }));
    }
    root.append(svg('text', { x: WIDTH - NUM + 8, y: y + 15, class: 'num' }, r.text));
  });
  return root;
}

// rows: [{label, lo, hi}] in days: a line from lo to hi with dots.
export function rangeChart(rows) {
  const top = Math.max(1, ...rows.map((r) => r.hi ?? 0)) * 1.1;
  const root = frame(rows.length, rows.map((r) => `${r.label}: ${r.lo ?? '–'}–${r.hi ?? '–'}`).join('; '));
  const span = WIDTH - LABEL - NUM;
  const x = (v) => LABEL + (span * v) / top;
  rows.forEach((r, i) => {
    const y = i * ROW + 4 + (ROW - 8) / 2 + 2;
    root.append(svg('text', { x: LABEL - 8, y: y + 5, 'text-anchor': 'end', class: 'lbl' }, r.label));
    root.append(svg('line', { x1: LABEL, x2: LABEL + span, y1: y, y2: y, class: 'axis' }));
    if (r.lo === null || r.lo === undefined) {
      root.append(svg('text', { x: WIDTH - NUM + 8, y: y + 5, class: 'num' }, '–'));
      return;
    }
    const hi = r.hi ?? r.lo;
    root.append(svg('line', { x1: x(r.lo), x2: x(hi), y1: y, y2: y, class: 'range' }));
    root.append(svg('circle', { cx: x(r.lo), cy: y, r: 5, class: 'p50' }));
    root.append(svg('circle', { cx: x(hi), cy: y, r: 5, class: 'p90' }));
    root.append(svg('text', { x: WIDTH - NUM + 8, y: y + 5, class: 'num' }, `${r.lo.toFixed(1)}–${hi.toFixed(1)}`));
  });
  return root;
}
