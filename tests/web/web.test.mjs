// The shopper's tracking page and the agent console in a real browser
// (Debian's chromium), against the wismod, redis-server and fake carrier
// that test_web.sh started. Every wait is for a condition, never a clock.
import {
  W, api, axe, browser, fake, ok, redis, shot, summary, waitFor, watch,
} from './lib.mjs';

const XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">"><svg onload="window.__xss=3">';

// Registers a DHL parcel whose fake timeline started `elapsed` fake seconds
// ago in `scenario`, and waits until wismod stored a status in `want`.
async function parcel(n, order, scenario, elapsed, fields, want) {
  const number = `482715${String(n).padStart(4, '0')}`;
  await fake('PUT', `/_admin/scenario/dhl/${number}`, { scenario, elapsed });
  const r = await api('POST', '/v1/shipments', {
    tracking_number: number, carrier: 'dhl', order_id: order, ...fields,
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
  const ontime = await parcel(1, 'WS-1001', 'on_time', 20 * 3600, contact, ['in_transit']);
  // The promise is two days after the carrier's ETA: on time.
  await api('POST', '/v1/shipments', {
    tracking_number: ontime.number, carrier: 'dhl', order_id: 'WS-1001',
    promised_delivery: dayAfter(ontime.ship.estimated_delivery),
  });
  const delayed = await parcel(2, 'WS-1002', 'delayed', 30 * 3600,
    { postcode: '3511 LK', email: 'bram@example.nl', phone: '+31687654321', locale: 'nl' }, ['in_transit']);
  // The promise is the day before the carrier's (moved) ETA: late.
  await api('POST', '/v1/shipments', {
    tracking_number: delayed.number, carrier: 'dhl', order_id: 'WS-1002',
    promised_delivery: dayBefore(delayed.ship.estimated_delivery),
  });
  const pickup = await parcel(3, 'WS-1003', 'failed_attempt', 50 * 3600,
    { postcode: '1011 AB', email: 'carla@example.nl', locale: 'nl' }, ['available_for_pickup']);
  const xss = await parcel(4, 'WS-1004', 'on_time', 6 * 3600,
    { postcode: '9999 ZZ', email: 'xss@example.nl', locale: 'en' }, ['in_transit']);
  // A carrier event whose description is hostile (written where the
  // carrier's events are kept, as a merge would).
  const t = new Date(Date.parse(xss.ship.events.at(-1).time) + 60000).toISOString().replace(/\.\d+Z$/, 'Z');
  const ev = { time: t, status: 'in_transit', code: 'XSS', description: XSS, location: { city: '<b>Utrecht</b>', postcode: null, country: 'NL' } };
  redis('HSET', `wismo:s:{${xss.id}}:ev`, `${t}|XSS|Utrecht||NL`, JSON.stringify(ev));
  return { ontime, delayed, pickup, xss };
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

  // Embeddable: no header and footer, framed only by the configured origin.
  r = await page.goto(`${W}/track?order_id=WS-1001&postcode=1234AB&embed=1`);
  ok(await page.locator('header.site').count() === 0 && await page.locator('footer.site').count() === 0, 'embed: no header or footer');
  ok((r.headers()['content-security-policy'] || '').includes('frame-ancestors https://shop.example'), 'embed: frame-ancestors from [web]');
  ok(r.headers()['x-frame-options'] === undefined, 'embed: no X-Frame-Options');
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

async function main() {
  const s = await setup();
  const ctx = await browser({ locale: 'nl-NL', timezoneId: 'Europe/Amsterdam' });
  try {
    await shopper(ctx, s);
    await noScript();
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
