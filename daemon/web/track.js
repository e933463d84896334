// Enhances the tracking page; everything works without it. Shows the
// timeline in the browser's own time zone when it differs from the one the
// server used (the shopper's, guessed from the order), and keeps the page
// in step when the shopper comes back to an open tab.
const lang = document.documentElement.lang || 'en';

function localise() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const note of document.querySelectorAll('p.zone[data-zone]')) {
    if (!zone || note.dataset.zone === zone) continue;
    const ship = note.closest('section');
    const day = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' });
    const hm = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hour12: false });
    for (const t of ship.querySelectorAll('time[datetime]')) {
      const d = new Date(t.getAttribute('datetime'));
      if (Number.isNaN(d.getTime())) continue;
      t.textContent = `${day.format(d)} ${hm.format(d)}`;
    }
    note.textContent = note.textContent.replace(note.dataset.zone, zone);
    note.dataset.zone = zone;
  }
}

function refreshWhenVisible() {
  let hidden = 0;
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) { hidden = Date.now(); return; }
    if (hidden && Date.now() - hidden > 5 * 60 * 1000 && location.search.includes('order_id=')) {
      location.reload();
    }
  });
}

localise();
refreshWhenVisible();
