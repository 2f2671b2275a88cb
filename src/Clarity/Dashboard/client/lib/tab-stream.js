// One event stream per browser tab. Every part of a page that follows live events declares its topics in the markup
// (data-topics="tasks,clarifications"); the first call to tabStream() opens ONE EventSource on
// /api/v1/orgs/{org}/events for all of them. One connection per part would not do: each open stream holds an HTTP
// connection, and browsers allow six per host over HTTP/1.1, so a few tabs would stall every other request.
//
// Listeners: on('task' | 'logs' | 'clarification' | 'agent' | 'run' | 'run.step', fn(envelope)), on('open', fn({ reconnect })) and
// on('resync', fn()). For htmx, each event is also fired as an `sse:<kind>` DOM event on the elements whose hx-trigger
// names it (hx-trigger="sse:clarification"), so fragments re-fetch themselves, throttles and all.
//
// The browser reconnects by itself after a drop and sends Last-Event-ID: the server replays what was missed. A resync
// means events were missed that cannot be replayed: the stream starts afresh, and every listener and every htmx
// element re-fetches its state. A stream the browser gave up on (an error status) is retried with a growing delay.
const KINDS = ['task', 'logs', 'clarification', 'agent', 'run', 'run.step'];
const RESTART_MS = 500;
const RETRY_MS = 2500;
const MAX_RETRY_MS = 60000;

class TabStream {
  constructor() {
    this.listeners = new Map();
    this.source = null;
    this.opened = false;
    this.url = null;
  }

  /** Registers a listener. An 'open' listener added after the stream opened is called at once (reconnect: false). */
  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, []);
    this.listeners.get(kind).push(fn);
    if (kind === 'open' && this.opened) queueMicrotask(() => fn({ reconnect: false }));
    return this;
  }

  /** Opens the stream once, with every topic declared on the page; does nothing on pages outside an org. */
  start() {
    if (this.url || !('EventSource' in window)) return this;
    const org = document.querySelector('.app[data-org]')?.dataset.org;
    const topics = new Set();
    for (const el of document.querySelectorAll('[data-topics]')) {
      for (const topic of el.dataset.topics.split(/[\s,]+/)) if (topic) topics.add(topic);
    }

    if (!org || topics.size === 0) return this;
    this.url = `/api/v1/orgs/${encodeURIComponent(org)}/events?topics=${encodeURIComponent([...topics].sort().join(','))}`;
    this.open();
    return this;
  }

  open() {
    const source = new EventSource(this.url, { withCredentials: true });
    this.source = source;
    source.addEventListener('open', () => {
      const reconnect = this.opened;
      this.opened = true;
      this.emit('open', { reconnect });
      if (reconnect) this.refetchAllFragments();
    });
    for (const kind of KINDS) {
      source.addEventListener(kind, (m) => {
        let envelope = null;
        try { envelope = JSON.parse(m.data); } catch { /* a malformed event still signals a change */ }
        this.emit(kind, envelope);
        this.fireHtmx('sse:' + kind);
      });
    }

    source.addEventListener('resync', () => {
      source.close();
      this.emit('resync');
      this.refetchAllFragments();
      setTimeout(() => this.open(), RESTART_MS);
    });

    // A browser gives up on an event stream that answers an error status (401 once the session has expired, 404
    // once the user has left the org). Re-fetching the fragments then takes a signed-out user to the sign-in page
    // (a fragment answers 401 with HX-Redirect); otherwise try again, less and less often.
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED || this.source !== source) return;
      this.refetchAllFragments();
      this.retryMs = Math.min((this.retryMs || RETRY_MS) * 2, MAX_RETRY_MS);
      setTimeout(() => this.open(), this.retryMs);
    });
    source.addEventListener('open', () => { this.retryMs = 0; });
  }

  emit(kind, arg) {
    for (const fn of this.listeners.get(kind) || []) {
      try { fn(arg); } catch (err) { console.error(err); }
    }
  }

  fireHtmx(name) {
    if (!window.htmx) return;
    for (const el of document.querySelectorAll('[hx-trigger*="sse:"]')) {
      if (triggersOf(el).includes(name)) window.htmx.trigger(el, name);
    }
  }

  refetchAllFragments() {
    if (!window.htmx) return;
    for (const el of document.querySelectorAll('[hx-trigger*="sse:"]')) {
      const first = triggersOf(el).find((t) => t.startsWith('sse:'));
      if (first) window.htmx.trigger(el, first);
    }
  }
}

function triggersOf(el) {
  return el.getAttribute('hx-trigger').split(',').map((part) => part.trim().split(/\s+/)[0]);
}

/** The tab's stream (shared by every module bundle on the page through window). */
export function tabStream() {
  window.__clarityTabStream ??= new TabStream();
  return window.__clarityTabStream;
}
