// The shopper's tracking page and the agent console in a real browser
// (Debian's chromium), against the wismod, redis-server and fake carrier
// that test_web.sh started. Every wait is for a condition, never a clock.
import {
  W, api, axe, browser, fake, mailsTo, ok, redis, shot, summary, waitFor, watch,
} from './lib.mjs';

const XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">"><svg onload="window.__xss=3">';

// Registers a DHL parcel whose fake timeline started `elapsed` fake seconds
// ago in `scenario`, and waits until wismod stored a status in `want`.
// promise(eta): the promised delivery from the ETA the carrier shows now.
async function parcel(n, order, scenario, elapsed, fields, want, promise) {
  const number = `482715${String(n).padStart(4, '0')}`;
  await fake('PUT', `/_admin/scenario/dhl/${number}`, { scenario, elapsed });
  const extra = {};
  if (promise) {
    const x = await fake('GET', `/_admin/expected/dhl/${number}?at=now`);
    extra.promised_delivery = promise(x.shipments[0].estimated_delivery || x.shipments[0].delivered_at);
  }
  const r = await api('POST', '/v1/shipments', {
    tracking_number: number, carrier: 'dhl', order_id: order, ...fields, ...extra,
  });
  ok(r.status === 201, `register ${order} (${r.status})`);
  const id = r.json.id;
  const ship = await waitFor(async () => {
    const g = await api('GET', `/v1/shipments/${id}`, undefined, 'agent-token');
    return want.includes(g.json?.status) && g.json.events.length > 0 ? g.json : null;
  }, `${order} to be ${want.join('|')}`);
  return { id, number, ship };
}

const dayBefore = (iso) => {
  const d = new Date(iso);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
};
const dayAfter = (iso) => {
  const d = new Date(iso);
  d.setUTCDate(d.getUTCDate() + 2);
  return d.toISOString().slice(0, 10);
};

async function setup() {
  const contact = { postcode: '1234 AB', email: 'Anna.de.Vries@example.nl', phone: '+31612345678', locale: 'nl' };
  // The promise is two days after the carrier's ETA: on time.
  const ontime = await parcel(1, 'WS-1001', 'on_time', 20 * 3600, contact, ['in_transit'], dayAfter);
  // The promise is the day before the carrier's (moved) ETA: late.
  const delayed = await parcel(2, 'WS-1002', 'delayed', 30 * 3600,
    { postcode: '3511 LK', email: 'bram@example.nl', phone: '+31687654321', locale: 'nl' }, ['in_transit'], dayBefore);
  const pickup = await parcel(3, 'WS-1003', 'failed_attempt', 50 * 3600,
    { postcode: '1011 AB', email: 'carla@example.nl', locale: 'nl' }, ['available_for_pickup']);
  const xss = await parcel(4, 'WS-1004', 'on_time', 6 * 3600,
    { postcode: '9999 ZZ', email: 'xss@example.nl', locale: 'en' }, ['in_transit']);
  // A carrier event whose description is hostile (written where the
  // carrier's events are kept, as a merge would).
  const t = new Date(Date.parse(xss.ship.events.at(-1).time) + 60000).toISOString().replace(/\.\d+Z$/, 'Z');
  const ev = { time: t, status: 'in_transit', code: 'XSS', description: XSS, location: { city: '<b>Utrecht</b>', postcode: null, country: 'NL' } };
  redis('HSET', `wismo:s:{${xss.id}}:ev`, `${t}|XSS|Utrecht||NL`, JSON.stringify(ev));
  // For the queue: a problem, a stalled parcel; for live updates, one
  // that is about to move; delivered ones for carrier performance.
  const exception = await parcel(5, 'WS-1005', 'exception', 30 * 3600,
    { postcode: '2511 AA', email: 'dirk@example.nl', phone: '+31611112222', locale: 'nl' }, ['exception']);
  const stalled = await parcel(6, 'WS-1006', 'stalled', 80 * 3600,
    { postcode: '3011 AB', email: 'eva@example.nl', locale: 'nl' }, ['in_transit']);
  const live = await parcel(7, 'WS-1007', 'on_time', 6 * 3600,
    { postcode: '4811 AA', email: 'Anna.de.Vries@example.nl', phone: '+31612345678', locale: 'nl' }, ['in_transit']);
  const done = [];
  for (let i = 0; i < 4; i++) {
    const p = await parcel(20 + i, `WS-20${i}`, i === 3 ? 'delayed' : 'on_time', 90 * 3600,
      { postcode: '1000 AA', email: `d${i}@example.nl`, locale: 'nl' }, ['delivered'], i === 3 ? dayBefore : dayAfter);
    done.push(p);
  }
  return { ontime, delayed, pickup, xss, exception, stalled, live, done };
}

async function shopper(ctx, s) {
  const page = await ctx.newPage();
  const seen = watch(page);

  // The form, in the default language (nl).
  let r = await page.goto(`${W}/track`);
  ok(r.status() === 200, 'GET /track answers 200');
  ok(await page.getAttribute('html', 'lang') === 'nl', 'nl-NL browser gets nl');
  const plain = await fetch(`${W}/track`);
  ok((await plain.text()).includes('<html lang="nl"'), 'no Accept-Language: [web] default_lang nl');
  const csp = r.headers()['content-security-policy'] || '';
  ok(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline') && csp.includes("frame-ancestors 'none'"),
    `CSP without unsafe-inline, not frameable: ${csp}`);
  ok(r.headers()['x-frame-options'] === 'DENY', 'X-Frame-Options DENY');

  // Postcode: typed as a shopper types it (lower case, no space).
  await page.fill('#order_id', 'WS-1001');
  await page.fill('#postcode', '1234ab');
  await Promise.all([page.waitForURL(/order_id=WS-1001/), page.click('form.lookup button')]);
  ok((await page.textContent('h1')).includes('WS-1001'), 'postcode finds the order');
  ok(await page.locator('.badge.ontime').count() === 1, 'on time against the promise');
  ok(await page.locator('ol.progress li[aria-current="step"]').count() === 1, 'progress line marks the current step');
  ok(await page.locator('ol.timeline li').count() >= 3, 'timeline shows the carrier events');
  const link = await page.getAttribute('a.ext', 'href');
  ok(link && link.startsWith('https://www.dhl.com/') && link.includes(s.ontime.number), `carrier link ${link}`);
  const html = await page.content();
  ok(!/1234\s*AB|anna|example\.nl|\+316/i.test(html), 'no contact data in the page');
  await shot(page, 'track-on-time', 1280, 800);
  await shot(page, 'track-on-time', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });
  let v = await axe(page);
  ok(v.length === 0, `axe: tracking page (on time) ${JSON.stringify(v)}`);

  // Language switch on the page: the signed link, no postcode in it.
  await Promise.all([page.waitForURL(/lang=de/), page.click('form.langs button[value="de"]')]);
  ok(await page.getAttribute('html', 'lang') === 'de', 'switched to German');
  ok((await page.textContent('h1')).includes('Bestellung WS-1001'), 'German heading');
  ok(!page.url().includes('postcode'), 'language switch carries no postcode');
  await Promise.all([page.waitForURL(/lang=fr/), page.click('form.langs button[value="fr"]')]);
  ok((await page.textContent('h1')).includes('Commande WS-1001'), 'French heading');
  await Promise.all([page.waitForURL(/lang=en/), page.click('form.langs button[value="en"]')]);
  ok((await page.textContent('h1')).includes('Order WS-1001'), 'English heading');

  // Accept-Language chooses when ?lang= is absent.
  const de = await fetch(`${W}/track?order_id=WS-1001&postcode=1234AB`, { headers: { 'Accept-Language': 'de-DE,de;q=0.9,en;q=0.5' } });
  ok((await de.text()).includes('<html lang="de"'), 'Accept-Language de');

  // E-mail, case and spaces as typed.
  await page.goto(`${W}/track?lang=en`);
  await page.fill('#order_id', 'WS-1002');
  await page.fill('#email', '  BRAM@example.NL ');
  await Promise.all([page.waitForURL(/order_id=WS-1002/), page.click('form.lookup button')]);
  ok((await page.textContent('h1')).includes('WS-1002'), 'e-mail finds the order');
  ok(await page.locator('.badge.late').count() === 1, 'delayed: late badge');
  const honest = await page.textContent('p.honest');
  ok(/running late/.test(honest) && /promised/.test(honest), `delayed: honest sentence: ${honest}`);
  await shot(page, 'track-delayed', 1280, 800);
  await shot(page, 'track-delayed', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });

  // Ready for pickup, with where.
  await page.goto(`${W}/track?order_id=WS-1003&postcode=1011AB&lang=nl`);
  ok((await page.textContent('h2.status')).includes("op te halen"), 'ready for pickup status');
  ok(await page.locator('ol.progress li.detour').count() === 1, 'pickup detour on the progress line');
  ok(/afhaalpunt in Utrecht/.test(await page.textContent('p.honest')), 'pickup: where it waits');
  await shot(page, 'track-pickup', 1280, 800);
  await shot(page, 'track-pickup', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });
  v = await axe(page);
  ok(v.length === 0, `axe: tracking page (pickup) ${JSON.stringify(v)}`);

  // A wrong postcode gets exactly the unknown-order answer.
  const wrong = await fetch(`${W}/track?order_id=WS-1001&postcode=9999XX&lang=nl`);
  const unknown = await fetch(`${W}/track?order_id=NO-SUCH-ORDER&postcode=9999XX&lang=nl`);
  const wb = await wrong.text();
  const ub = await unknown.text();
  ok(wrong.status === 404 && unknown.status === 404, `404 for both (${wrong.status}, ${unknown.status})`);
  ok(wb === ub, 'wrong postcode and unknown order: the same bytes');
  const forged = await fetch(`${W}/track?order_id=WS-1001&exp=${Math.floor(Date.now() / 1000) + 3600}&sig=${'0'.repeat(64)}&lang=nl`);
  ok(forged.status === 404 && (await forged.text()) === ub, 'a forged language link is the same 404');
  await page.goto(`${W}/track?order_id=WS-1001&postcode=9999XX`);
  ok(await page.locator('p.alert').count() === 1, '404 page says so');
  v = await axe(page);
  ok(v.length === 0, `axe: not-found page ${JSON.stringify(v)}`);

  // Hostile carrier text is text (the 404 pages above logged their status).
  seen.errors.length = 0;
  await page.goto(`${W}/track?order_id=WS-1004&postcode=9999ZZ&lang=en`);
  const what = await page.locator('ol.timeline li .what').first().textContent();
  ok(what === XSS, 'XSS description shown literally');
  ok((await page.locator('ol.timeline li .where').first().textContent()).includes('<b>Utrecht</b>'), 'hostile city literal');
  ok(await page.evaluate(() => window.__xss === undefined), 'no injected script ran (tracking page)');
  ok(await page.locator('ol.timeline img, ol.timeline svg, ol.timeline script').count() === 0, 'no injected elements');
  ok(seen.dialogs.length === 0 && seen.errors.length === 0, `no dialogs or errors ${JSON.stringify(seen)}`);

  // Assets: compiled in, ETag and cache headers, 304 on revalidation.
  const css = await fetch(`${W}/assets/track.css`);
  const etag = css.headers.get('etag');
  ok(css.status === 200 && etag && /max-age=\d+/.test(css.headers.get('cache-control')) &&
    css.headers.get('content-type').startsWith('text/css'), `asset: 200, ETag, Cache-Control (${etag})`);
  const again = await fetch(`${W}/assets/track.css`, { headers: { 'If-None-Match': etag } });
  ok(again.status === 304, `asset revalidated: 304 (${again.status})`);
  const page304 = await fetch(`${W}/track?order_id=WS-1001&postcode=1234AB&lang=en`);
  const again2 = await fetch(`${W}/track?order_id=WS-1001&postcode=1234AB&lang=en`, { headers: { 'If-None-Match': page304.headers.get('etag') } });
  ok(page304.status === 200 && again2.status === 304, `tracking page revalidated: 304 (${again2.status})`);

  // Embeddable: no header and footer, framed only by the configured origin.
  r = await page.goto(`${W}/track?order_id=WS-1001&postcode=1234AB&embed=1`);
  ok(await page.locator('header.site').count() === 0 && await page.locator('footer.site').count() === 0, 'embed: no header or footer');
  ok((r.headers()['content-security-policy'] || '').includes('frame-ancestors https://shop.example'), 'embed: frame-ancestors from [web]');
  ok(r.headers()['x-frame-options'] === undefined, 'embed: no X-Frame-Options');
  await page.close();
}

// Words the page breaks across lines (the tracking number and the
// carrier's own texts may break anywhere: they are not words).
function brokenWords() {
  const bad = [];
  const root = document.querySelector('main') || document.body;
  const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (n.parentElement.closest('.number, .timeline .what, .timeline .where, .sr')) continue;
    const re = /[^\s\-/]{2,}/g;
    let m;
    while ((m = re.exec(n.textContent))) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
      if (tops.size > 1) bad.push(m[0]);
    }
  }
  return bad;
}

// No word of the tracking page breaks mid-word, in any language, from
// 320 px up, for every state the test parcels are in (the progress line's
// labels: "aangemaakt", "fehlgeschlagen").
async function noBrokenWords(ctx) {
  const page = await ctx.newPage();
  const orders = [['WS-1001', 'postcode=1234AB'], ['WS-1002', 'email=bram%40example.nl'],
    ['WS-1003', 'postcode=1011AB'], ['WS-1005', 'postcode=2511AA'], ['WS-200', 'postcode=1000AA']];
  const bad = [];
  let seen = 0;
  for (const lang of ['nl', 'en', 'de', 'fr']) {
    for (const [order, q] of [...orders, [null, null]]) {
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(order ? `${W}/track?order_id=${order}&${q}&lang=${lang}` : `${W}/track?lang=${lang}`);
      if (order) ok(await page.locator('ol.progress li').count() >= 4, `${order} ${lang}: a progress line`);
      for (const width of [320, 360, 375, 390, 414, 600, 640, 641, 720, 1280]) {
        await page.setViewportSize({ width, height: 844 });
        const words = await page.evaluate(brokenWords);
        seen++;
        if (words.length) bad.push(`${order || 'form'} ${lang} ${width}px: ${words.join(', ')}`);
      }
    }
  }
  ok(bad.length === 0, `no word breaks mid-word at 320-1280 px in nl, en, de, fr (${seen} views): ${bad.slice(0, 8).join('; ')}`);
  await page.close();
}

// JavaScript off: the form posts and the answer is complete.
async function noScript() {
  const ctx = await browser({ javaScriptEnabled: false });
  const page = await ctx.newPage();
  await page.goto(`${W}/track?lang=en`);
  await page.fill('#order_id', 'WS-1001');
  await page.fill('#postcode', '1234 AB');
  await Promise.all([page.waitForURL(/order_id=WS-1001/), page.click('form.lookup button')]);
  ok((await page.textContent('h1')).includes('Order WS-1001'), 'JS off: the result page');
  ok(await page.locator('ol.timeline li').count() >= 3, 'JS off: timeline');
  await Promise.all([page.waitForURL(/lang=nl/), page.click('form.langs button[value="nl"]')]);
  ok((await page.textContent('h1')).includes('Bestelling WS-1001'), 'JS off: language switch');
  await ctx.close();
}

// Opens a shipment in the console and waits until that one is shown.
async function openShip(page, id, order) {
  await page.goto(`${W}/agent/?lang=en#/s/${id}`);
  await waitFor(async () => (await page.locator('.shiphead h1').count()) === 1 &&
    (await page.textContent('.shiphead h1')).includes(order) && page.url().endsWith(`#/s/${id}`), `the console showing ${order}`);
}

async function signIn(page) {
  await page.goto(`${W}/agent/`);
  await page.fill('#token', 'agent-token');
  await Promise.all([page.waitForSelector('header.top'), page.press('#token', 'Enter')]);
}

async function agent(ctx, s) {
  const page = await ctx.newPage();
  const seen = watch(page);
  let r = await page.goto(`${W}/agent/?lang=en`);
  ok(r.status() === 200 && await page.locator('input[type="password"]#token').count() === 1, 'sign-in form with a password field');
  let v = await axe(page);
  ok(v.length === 0, `axe: sign-in ${JSON.stringify(v)}`);
  await page.fill('#token', 'wrong-token');
  r = await Promise.all([page.waitForNavigation(), page.press('#token', 'Enter')]).then((x) => x[0]);
  ok(r.status() === 401 && await page.locator('p.alert').count() === 1, 'wrong token: 401 and says so');
  await page.fill('#token', 'agent-token');
  await Promise.all([page.waitForSelector('header.top'), page.press('#token', 'Enter')]);
  const cookie = (await ctx.cookies(W)).find((c) => c.name === 'wismo_session');
  ok(cookie && cookie.httpOnly && cookie.sameSite === 'Strict' && cookie.path === '/' && !cookie.secure,
    `session cookie HttpOnly, SameSite=Strict, Path=/, not Secure on loopback ${JSON.stringify(cookie)}`);
  ok(!(await page.evaluate(() => document.cookie)).includes('wismo_session'), 'the cookie is out of reach of scripts');
  ok(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage)) === '{}{}', 'nothing in web storage');
  ok(await page.locator('input[type="search"]#q').count() === 1, 'console: a search field');

  // State-changing cookie requests must come from the same origin.
  const jar = `wismo_session=${cookie.value}`;
  let x = await fetch(`${W}/v1/shipments/${s.live.id}/refresh`, { method: 'POST', headers: { Cookie: jar, Origin: 'https://evil.example' } });
  ok(x.status === 403, `cross-origin refresh with the cookie: 403 (${x.status})`);
  x = await fetch(`${W}/v1/shipments/${s.live.id}/refresh`, { method: 'POST', headers: { Cookie: jar, 'Sec-Fetch-Site': 'cross-site' } });
  ok(x.status === 403, `Sec-Fetch-Site cross-site: 403 (${x.status})`);
  x = await fetch(`${W}/v1/shipments/${s.live.id}`, { headers: { Cookie: jar } });
  ok(x.status === 200, 'GET with the cookie is the agent role');
  x = await fetch(`${W}/v1/shipments/${s.live.id}`, { headers: { Cookie: 'wismo_session=v1.9999999999.00.' + '0'.repeat(64) } });
  ok(x.status === 401, 'a forged cookie: 401');

  // The needs-attention queue.
  await page.goto(`${W}/agent/?lang=en#/queue`);
  await page.waitForSelector('table.ships');
  const queueText = await page.textContent('table.ships');
  ok(queueText.includes('WS-1002') && queueText.includes('WS-1005') && queueText.includes('WS-1006'),
    'queue: delayed, exception and stalled parcels');
  ok(!queueText.includes('WS-1001'), 'queue: the on-time parcel is not in it');
  const chip = async (name) => page.locator(`a.chip.r-${name} b`).textContent();
  ok(Number(await chip('exception')) >= 1 && Number(await chip('eta_late')) >= 1 && Number(await chip('stalled')) >= 1,
    'queue: counts per reason');
  const since = await page.$$eval('table.ships tbody tr', (rows) => rows.length);
  ok(since >= 3, 'queue rows');
  await shot(page, 'console-queue', 1280, 800);
  await shot(page, 'console-queue', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });
  v = await axe(page);
  ok(v.length === 0, `axe: queue ${JSON.stringify(v)}`);

  // Search by e-mail (any case) and by phone.
  await page.keyboard.press('/');
  ok(await page.evaluate(() => document.activeElement.id) === 'q', '"/" focuses the search');
  await page.keyboard.type('ANNA.de.vries@example.nl');
  await page.keyboard.press('Enter');
  await waitFor(async () => page.url().includes('#/search/') && (await page.textContent('h1')).includes('(2)'), 'e-mail search');
  let res = await page.textContent('table.ships');
  ok(res.includes('WS-1001') && res.includes('WS-1007'), 'search by e-mail finds the customer\'s shipments');
  await page.fill('#q', '+31612345678');
  await page.press('#q', 'Enter');
  await waitFor(async () => (await page.textContent('h1')).includes('(2)') && page.url().includes('31612345678'), 'phone search');
  res = await page.textContent('table.ships');
  ok(res.includes('WS-1001') && res.includes('WS-1007'), 'search by phone');

  // A shipment: timeline in local time and UTC, ETA against the promise,
  // delay reason, notifications.
  await openShip(page, s.delayed.id, 'WS-1002');
  const facts = await page.textContent('dl.facts');
  ok(/Delayed/.test(facts), `shipment: delay reason shown: ${facts}`);
  const row = await page.locator('table.timeline tbody tr').first().textContent();
  ok(/CET|GMT\+1|CEST/.test(row) && /\d\d:\d\dZ/.test(row), `timeline: place's local time and UTC: ${row}`);
  ok((await page.getAttribute('a.ext', 'href')).includes(s.delayed.number), 'shipment: carrier link');
  await waitFor(async () => {
    await page.reload();
    await openShip(page, s.delayed.id, 'WS-1002');
    return (await page.locator('table.notes tr.o-sent').count()) > 0;
  }, 'a sent notification on the delayed parcel');
  const notes = await page.textContent('table.notes');
  ok(/email/.test(notes) && /sent/.test(notes), `notifications with channel and outcome: ${notes.slice(0, 200)}`);
  // The text the customer got: the e-mail the SMTP server took, subject
  // and plain text, is what the console shows for the sent record.
  const mails = await waitFor(async () => { const m = mailsTo('bram@example.nl'); return m.length ? m : null; }, 'the e-mail to the customer');
  const sentRow = page.locator('table.notes tr.o-sent').filter({ hasText: 'email' }).first();
  const shownSubject = (await sentRow.locator('td.text strong').count()) ? await sentRow.locator('td.text strong').textContent() : null;
  const shownText = (await sentRow.locator('td.text .msg').count()) ? await sentRow.locator('td.text .msg').textContent() : '';
  ok(mails.some((m) => m.subject === shownSubject && m.text.trimEnd() === shownText.trimEnd() && m.text.includes('WS-1002')),
    `the console shows the e-mail as sent: ${JSON.stringify({ shownSubject, shownText: shownText.slice(0, 80), mail: mails[0] && mails[0].subject })}`);
  await shot(page, 'console-shipment', 1280, 800);
  await shot(page, 'console-shipment', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });
  v = await axe(page);
  ok(v.length === 0, `axe: shipment ${JSON.stringify(v)}`);

  // Refresh now (202, or 429 while the carrier backs off).
  await page.click('#refresh');
  await waitFor(async () => (await page.textContent('.refresh-note')).length > 0, 'refresh answer');
  const note = await page.textContent('.refresh-note');
  ok(/Refresh asked|backing off/.test(note), `refresh: ${note}`);

  // Live: a new carrier event appears without reloading.
  await openShip(page, s.live.id, 'WS-1007');
  await waitFor(async () => (await page.textContent('.live')) === 'Live', 'the live connection');
  const before = await page.locator('table.timeline tbody tr').count();
  await page.evaluate(() => { window.__still = 'same page'; });
  // The event comes over the stream that is open now: no answer of
  // /agent/events ends (an answer that ended with the event would have
  // finished before the shipment it points to is fetched), none begins.
  const asked = [];
  const onRequest = (rq) => { if (rq.url().includes('/agent/events')) asked.push(rq.url()); };
  page.on('request', onRequest);
  page.on('requestfinished', onRequest);
  await fake('PUT', `/_admin/scenario/dhl/${s.live.number}`, { scenario: 'on_time', elapsed: 15 * 3600 });
  await waitFor(async () => (await page.locator('table.timeline tbody tr').count()) > before, 'the new event on the open page');
  page.off('request', onRequest);
  page.off('requestfinished', onRequest);
  ok(await page.evaluate(() => window.__still) === 'same page', 'live: new event shown without a reload');
  ok(asked.length === 0, `live: the event came over the open stream, no answer ended, none began (${asked.length})`);
  ok((await page.textContent('.live')) === 'Live', 'live: still connected');

  // Hostile carrier text is text in the console too.
  await openShip(page, s.xss.id, 'WS-1004');
  const what = await page.locator('table.timeline .what').first().textContent();
  ok(what === XSS, 'console: XSS description literal');
  ok(await page.evaluate(() => window.__xss === undefined), 'console: no injected script ran');
  ok(seen.dialogs.length === 0, 'console: no dialogs');

  // nl
  await page.goto(`${W}/agent/?lang=nl#/queue`);
  await page.waitForSelector('table.ships');
  ok((await page.textContent('h1')).includes('Aandacht nodig'), 'console in Dutch');

  // Signing out ends the session.
  await page.goto(`${W}/agent/?lang=en#/queue`);
  await page.waitForSelector('header.top');
  await Promise.all([page.waitForSelector('#token'), page.click('header .tools form button')]);
  x = await fetch(`${W}/v1/shipments/${s.live.id}`, { headers: { Cookie: jar } });
  ok(x.status === 401, `after sign-out the old cookie is refused (${x.status})`);
  await page.close();
}

// From sign-in to a shipment and back without a mouse.
async function keyboardOnly(s) {
  const ctx = await browser({ locale: 'en-GB' });
  const page = await ctx.newPage();
  await page.goto(`${W}/agent/`);
  await page.keyboard.type('agent-token'); // the token field has focus
  await Promise.all([page.waitForSelector('header.top'), page.keyboard.press('Enter')]);
  await page.waitForSelector('table.ships');
  await page.keyboard.press('/');
  await page.keyboard.type('WS-1005');
  await page.keyboard.press('Enter');
  await waitFor(async () => page.url().includes('#/search/WS-1005') && await page.locator('table.ships a.open').count() === 1, 'search results');
  await waitFor(async () => page.evaluate(() => document.activeElement.classList.contains('open')), 'the first result focused');
  await page.keyboard.press('Enter');
  await page.waitForSelector('table.timeline');
  ok(page.url().includes(`#/s/${s.exception.id}`), 'keyboard: Enter opens the shipment');
  await page.keyboard.press('Escape');
  await waitFor(async () => page.url().includes('#/search/WS-1005'), 'Esc goes back');
  ok(true, 'keyboard only: sign-in, search, open, back');
  await ctx.close();
}

async function carrierStats(ctx, s) {
  const r = await api('GET', '/v1/stats/carriers', undefined, 'agent-token');
  ok(r.status === 200 && Array.isArray(r.json.rows), `stats answer ${r.status}`);
  const total = r.json.rows.filter((x) => x.carrier === 'dhl').reduce((a, x) => a + x.shipments, 0);
  ok(total === 11, `every registered dhl parcel counted once (${total})`);
  const dl = r.json.rows.filter((x) => x.carrier === 'dhl').reduce((a, x) => a + x.delivered, 0);
  ok(dl === 4, `delivered counted (${dl})`);
  const ot = r.json.rows.filter((x) => x.carrier === 'dhl').reduce((a, x) => a + x.on_time, 0);
  ok(ot === 3, `on time against the promise: 3 of 4 (${ot})`);
  const row = r.json.rows.find((x) => x.delivered > 0);
  ok(row && row.transit_days_p50 > 1 && row.transit_days_p90 >= row.transit_days_p50, `transit days ${JSON.stringify(row)}`);
  const bad = await api('GET', '/v1/stats/carriers?from=2026-13-01&to=2026-12-01', undefined, 'agent-token');
  ok(bad.status === 400, 'bad dates: 400');
  const page = await ctx.newPage();
  await signIn(page);
  await page.goto(`${W}/agent/?lang=en#/carriers`);
  await page.waitForSelector('svg.chart');
  ok(await page.locator('svg.chart').count() === 3, 'three charts');
  ok(await page.locator('table.stats tbody tr').count() >= 1, 'numbers beside the charts');
  await shot(page, 'console-carriers', 1280, 800);
  await shot(page, 'console-carriers', 390, 844);
  await page.setViewportSize({ width: 1280, height: 800 });
  const v = await axe(page);
  ok(v.length === 0, `axe: carrier performance ${JSON.stringify(v)}`);
  await page.close();
}

// Sign-in attempts are rate-limited per client, like the lookup.
async function signInLimit() {
  const post = (token) => fetch(`${W}/agent/session`, {
    method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/json', Origin: W },
    body: JSON.stringify({ token }),
  });
  // [http] lookup_failures = 20 in this test; one wrong sign-in came before.
  let wrong = 0;
  let limited = null;
  for (let i = 0; i < 25 && !limited; i++) {
    const r = await post(`wrong-${i}`);
    if (r.status === 401) wrong++;
    else limited = r;
  }
  ok(wrong === 19, `wrong tokens: 401 until the limit (${wrong})`);
  ok(limited && limited.status === 429 && Number(limited.headers.get('retry-after')) > 0,
    `then 429 with Retry-After (${limited && limited.status})`);
  const right = await post('agent-token');
  ok(right.status === 429, `even the right token waits (${right.status})`);
  const cross = await fetch(`${W}/agent/session`, {
    method: 'POST', redirect: 'manual', headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example' },
    body: JSON.stringify({ token: 'agent-token' }),
  });
  ok(cross.status === 403, `sign-in from another origin: 403 (${cross.status})`);
}

// The tracking page shares the lookup's rate limit: a 429 page with
// Retry-After once a client used up its failures.
async function lookupLimit() {
  let limited = null;
  for (let i = 0; i < 30 && !limited; i++) {
    const r = await fetch(`${W}/track?order_id=GUESS-${i}&postcode=1234AB&lang=en`);
    if (r.status !== 404) limited = r;
  }
  ok(limited && limited.status === 429 && Number(limited.headers.get('retry-after')) > 0,
    `tracking page: 429 with Retry-After after the failures (${limited && limited.status})`);
  const body = limited ? await limited.text() : '';
  ok(body.includes('<html lang="en"') && body.includes('Too many attempts'), 'tracking page: the 429 page says so');
  const right = await fetch(`${W}/track?order_id=WS-1001&postcode=1234AB&lang=en`);
  ok(right.status === 429, `a locked-out client waits even with the right postcode (${right.status})`);
}

async function main() {
  const s = await setup();
  const ctx = await browser({ locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' });
  try {
    await shopper(ctx, s);
    await noBrokenWords(ctx);
    await noScript();
    await agent(ctx, s);
    await keyboardOnly(s);
    await carrierStats(ctx, s);
    await signInLimit(); // last: they lock this client out
    await lookupLimit();
  } finally {
    await ctx.close();
  }
  process.exit(summary() === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  summary();
  process.exit(1);
});
