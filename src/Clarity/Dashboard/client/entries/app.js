// The dashboard's shell module: htmx and the tab's one event stream (lib/tab-stream.js), antiforgery for htmx requests, the theme toggle,
// the phone navigation drawer, copy buttons, confirmations, relative times, browser notifications for new
// clarifications, the inbox's approval events and the service worker registration. Pages add their own modules in client/entries/.
import htmx from 'htmx.org';
import { tabStream } from '../lib/tab-stream.js';

window.htmx = htmx;
htmx.config.includeIndicatorStyles = false;
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;

const $ = (sel, root = document) => root.querySelector(sel);

// htmx requests that change state carry the antiforgery token from <meta name="csrf-token">.
document.addEventListener('htmx:configRequest', (e) => {
  const meta = $('meta[name="csrf-token"]');
  if (meta && e.detail.verb !== 'get') e.detail.headers['RequestVerificationToken'] = meta.content;
});

// A fragment request made after the session ended answers 401 with HX-Redirect; htmx follows it.
document.addEventListener('htmx:responseError', (e) => {
  const status = e.detail.xhr?.status;
  if (status === 401) window.location.assign('/login?returnUrl=' + encodeURIComponent(location.pathname + location.search));
});

// Theme: system by default, a toggle stored in localStorage.
function currentTheme() {
  const set = document.documentElement.dataset.theme;
  if (set) return set;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
function syncThemeButton() {
  const btn = $('#theme-toggle');
  if (!btn) return;
  const dark = currentTheme() === 'dark';
  btn.setAttribute('aria-pressed', String(dark));
  btn.setAttribute('aria-label', dark ? 'Switch to light theme' : 'Switch to dark theme');
  btn.title = btn.getAttribute('aria-label');
}
document.addEventListener('click', (e) => {
  const toggle = e.target.closest('#theme-toggle');
  if (toggle) {
    const next = currentTheme() === 'dark' ? 'light' : 'dark';
    document.documentElement.dataset.theme = next;
    try { localStorage.setItem('clarity-theme', next); } catch { /* ignore */ }
    syncThemeButton();
  }
});

// Phone navigation drawer.
function setNav(open) {
  const btn = $('#nav-toggle');
  const nav = $('#site-nav');
  if (!btn || !nav) return;
  btn.setAttribute('aria-expanded', String(open));
  document.body.classList.toggle('nav-open', open);
  if (open) nav.querySelector('a, button, select')?.focus();
}
document.addEventListener('click', (e) => {
  if (e.target.closest('#nav-toggle')) {
    setNav($('#nav-toggle').getAttribute('aria-expanded') !== 'true');
  } else if (e.target.closest('.nav-scrim')) {
    setNav(false);
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && document.body.classList.contains('nav-open')) {
    setNav(false);
    $('#nav-toggle')?.focus();
  }
});

// Org switcher: submits on change (a submit button covers no-JS).
document.addEventListener('change', (e) => {
  const select = e.target.closest('select[data-autosubmit]');
  if (select?.form) select.form.requestSubmit();
});

// Copy buttons: <button data-copy="#target">.
document.addEventListener('click', async (e) => {
  const btn = e.target.closest('[data-copy]');
  if (!btn) return;
  const target = $(btn.dataset.copy);
  const text = target?.value ?? target?.textContent ?? '';
  try {
    await navigator.clipboard.writeText(text);
    btn.textContent = 'Copied';
  } catch {
    target?.select?.();
    btn.textContent = 'Press Ctrl+C';
  }
});

// Confirmations: <form data-confirm="Revoke this key?">.
document.addEventListener('submit', (e) => {
  const form = e.target.closest('form[data-confirm]');
  const message = form?.dataset.confirm;
  if (message && !window.confirm(message)) e.preventDefault();
}, true);

// Relative times: <time datetime="…" data-relative>.
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
function relative(iso) {
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(diff);
  const [value, unit] = abs < 60 ? [diff, 'second'] : abs < 3600 ? [diff / 60, 'minute'] : abs < 86400 ? [diff / 3600, 'hour'] : [diff / 86400, 'day'];
  return rtf.format(Math.round(value), unit);
}
function refreshTimes(root = document) {
  for (const t of root.querySelectorAll('time[data-relative]')) {
    const prefix = t.dataset.relative || '';
    t.textContent = prefix + relative(t.getAttribute('datetime'));
    if (!t.title) t.title = new Date(t.getAttribute('datetime')).toLocaleString();
  }
}
document.addEventListener('htmx:afterSettle', (e) => refreshTimes(e.target));
setInterval(refreshTimes, 30_000);

// Notifications for new pending clarifications while the tab is open (asked from a button, never on load).
const seen = new Set();
function notificationsSupported() { return 'Notification' in window; }
function syncNotifyButton() {
  for (const btn of document.querySelectorAll('[data-notify-toggle]')) {
    btn.hidden = !notificationsSupported() || Notification.permission !== 'default';
  }
}
document.addEventListener('click', async (e) => {
  if (!e.target.closest('[data-notify-toggle]') || !notificationsSupported()) return;
  await Notification.requestPermission();
  syncNotifyButton();
});
async function notifyClarification(envelope) {
  const d = envelope?.data;
  if (!d || d.status !== 'pending' || seen.has(d.clarificationId)) return;
  seen.add(d.clarificationId);
  if (!notificationsSupported() || Notification.permission !== 'granted') return;
  const org = $('[data-org]')?.dataset.org;
  if (!org) return;
  let body = 'An agent is waiting for an answer.';
  try {
    const r = await fetch(`/api/v1/orgs/${encodeURIComponent(org)}/clarifications/${encodeURIComponent(d.clarificationId)}`, { credentials: 'same-origin' });
    if (r.ok) body = (await r.json()).question ?? body;
  } catch { /* keep the generic text */ }
  const n = new Notification('Clarity: a question needs an answer', { body, tag: 'clarification-' + d.clarificationId, icon: '/icons/icon-192.png' });
  n.onclick = () => { window.focus(); window.location.assign(`/o/${encodeURIComponent(org)}/clarifications`); };
}
tabStream().on('clarification', notifyClarification);

// The inbox's approvals and the nav badge follow approval steps only: a run.step event of an approval step (one
// became pending, took a vote, or was decided or cancelled) fires `sse:approval` for the elements that name it
// (hx-trigger="sse:approval"). A malformed event still signals a change.
tabStream().on('run.step', (envelope) => {
  const kind = envelope?.data?.kind;
  if (kind === undefined || kind === 'approval') tabStream().fireHtmx('sse:approval');
});

// The service worker caches the shell (css, js, icons) for installability and fast starts.
if ('serviceWorker' in navigator && window.isSecureContext) {
  window.addEventListener('load', () => navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => { }));
}

function init() {
  tabStream().start();
  syncThemeButton();
  syncNotifyButton();
  refreshTimes();
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();

// The account menu (a <details>) closes on a click elsewhere or Escape.
document.addEventListener('click', (e) => {
  for (const menu of document.querySelectorAll('details.user-menu[open]')) {
    if (!menu.contains(e.target)) menu.open = false;
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  for (const menu of document.querySelectorAll('details.user-menu[open]')) {
    menu.open = false;
    menu.querySelector('summary')?.focus();
  }
});
