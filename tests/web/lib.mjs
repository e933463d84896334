// Shared by the browser tests: the processes test_web.sh started, the
// browser (Debian's chromium through playwright-core), axe-core, and
// waiting for conditions instead of racing clocks.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const W = process.env.WISMO_URL;
export const FAKE = process.env.FAKE_URL;
export const SOCK = process.env.REDIS_SOCK;
export const SHOTS = process.env.SHOTS;
export const WORK = process.env.WORK;
export const MAILDIR = process.env.MAILDIR;

const axeSource = readFileSync(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

let failures = 0;
let checks = 0;
export function ok(cond, what) {
  checks++;
  if (cond) {
    console.log(`ok: ${what}`);
  } else {
    failures++;
    console.log(`FAIL: ${what}`);
  }
  return cond;
}
export function summary() {
  console.log(`${checks} checks, ${failures} failures`);
  return failures;
}

export async function api(method, path, body, token = 'shop-token') {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(W + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

export async function fake(method, path, body) {
  const r = await fetch(FAKE + path, {
    method, headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`fake ${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

export function redis(...args) {
  return execFileSync('redis-cli', ['-s', SOCK, '--raw', ...args], { encoding: 'utf8' });
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// Polls fn until it returns a truthy value (returned), up to timeout ms.
export async function waitFor(fn, what, timeout = 90000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${last}`);
    await sleep(200);
  }
}

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

// A browser with a fresh profile (a new --user-data-dir, removed on close).
export async function browser(options = {}) {
  const dir = mkdtempSync(join(WORK, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: false, // --headless is in FLAGS, as the project runs it
    args: FLAGS,
    viewport: { width: 1280, height: 800 },
    timeout: 60000,
    ...options,
  });
  ctx.setDefaultTimeout(30000);
  const close = ctx.close.bind(ctx);
  ctx.close = async () => { await close(); rmSync(dir, { recursive: true, force: true }); };
  return ctx;
}

// Records script execution and console errors of a page (XSS canaries).
export function watch(page) {
  const seen = { dialogs: [], errors: [], csp: [] };
  page.on('dialog', async (d) => { seen.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') {
      (m.text().includes('Content Security Policy') ? seen.csp : seen.errors).push(m.text());
    }
  });
  return seen;
}

// axe-core on the page: the serious and critical violations.
export async function axe(page) {
  // The page's CSP refuses inline scripts (as it should); the DevTools
  // protocol's evaluation is not a page script.
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  return res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function shot(page, name, width, height) {
  await page.setViewportSize({ width, height });
  await page.waitForTimeout(100);
  await page.screenshot({ path: join(SHOTS, `${name}-${width}x${height}.png`), fullPage: false });
}

// The e-mails the SMTP sink took for `to`, as {subject, text}: the
// Subject's encoded words decoded (folded lines joined), the text/plain
// part's base64 decoded, CRLF as LF.
export function mailsTo(to) {
  let names = [];
  try { names = readdirSync(MAILDIR).filter((n) => n.endsWith('.eml')).sort(); } catch { return []; }
  const out = [];
  for (const n of names) {
    const raw = readFileSync(join(MAILDIR, n), 'latin1');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]/g, ' ');
    if (!new RegExp(`^X-Envelope-To: ${to.replace(/[.+]/g, '\\$&')}$`, 'mi').test(head)) continue;
    const subj = (head.match(/^Subject: (.*)$/m) || [])[1] || '';
    const subject = subj.replace(/=\?UTF-8\?B\?([^?]*)\?=\s*/gi, (_, b) => Buffer.from(b, 'base64').toString('latin1'));
    const part = raw.split(/^--=_wismo_\w+/m).find((p) => p.includes('Content-Type: text/plain'));
    const b64 = part ? part.slice(part.indexOf('\r\n\r\n') + 4).replace(/\s+/g, '') : '';
    out.push({
      subject: Buffer.from(subject, 'latin1').toString('utf8'),
      text: Buffer.from(b64, 'base64').toString('utf8').replace(/\r\n/g, '\n'),
    });
  }
  return out;
}
