// The task page's live log tail. A virtualized list (@tanstack/virtual-core) of fixed-height rows over a plain
// array indexed by seq - 1: sequence numbers rise by one per line per task, so the row count is known from the
// newest seq, and only the rows on screen (plus a small overscan) exist in the DOM. Lines are fetched in chunks
// from GET …/tasks/{id}/logs?afterSeq= when their rows come into view, and arrive live through the tab stream's
// `logs` events on topic task:{id}:logs (carried inline up to 1,000 lines, else `truncated` and fetched).
// Placing a line at its seq makes every delivery idempotent (deduplicated by seq).
//
// Markup (rendered by TaskDetail.razor):
//   <section data-log-tail data-org data-task data-count data-finished data-topics="task:{id}:logs,tasks">
//     <button data-follow aria-pressed>…</button> <button data-new-lines hidden>…</button> <span data-log-status>…</span>
//     <div class="log-viewport" tabindex="0"><div class="log-spacer" role="list"></div></div>
//   </section>
//   <form data-log-search> <input name="q"> </form> <div data-log-search-results></div>
import { tabStream } from '../lib/tab-stream.js';
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from '@tanstack/virtual-core';

const ROW = 20;          // px; must match .log-row height in pages.css
const CHUNK = 5000;      // lines per request (the API allows up to 10,000)
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);
// Links name this page in full: with a <base href> a bare "#seq-1" would resolve against another URL.
const hereWith = (hash) => location.pathname + location.search + hash;
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hour12: false });

class LogTail {
  constructor(root) {
    this.root = root;
    this.org = root.dataset.org;
    this.task = root.dataset.task;
    this.api = `/api/v1/orgs/${encodeURIComponent(this.org)}`;
    this.viewport = root.querySelector('.log-viewport');
    this.spacer = root.querySelector('.log-spacer');
    this.followButton = root.querySelector('[data-follow]');
    this.newLinesButton = root.querySelector('[data-new-lines]');
    this.status = root.querySelector('[data-log-status]');
    this.empty = root.querySelector('[data-log-empty]');
    this.lines = [];             // index seq - 1 → {seq, ts, level, stream, text}; holes are lines not loaded yet
    this.total = Number(root.dataset.count || 0);
    this.pending = new Set();    // afterSeq values being fetched
    this.following = true;
    this.newLines = 0;
    this.highlight = null;
    this.expectedTop = null;
    this.pinnedTop = null;
    this.pool = [];
    this.minWidth = 0;

    this.virtualizer = new Virtualizer({
      count: this.total,
      getScrollElement: () => this.viewport,
      estimateSize: () => ROW,
      scrollToFn: elementScroll,
      observeElementRect,
      observeElementOffset,
      overscan: 30,
      onChange: () => this.render(),
    });
    this.cleanup = this.virtualizer._didMount();
    this.virtualizer._willUpdate();

    this.viewport.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.followButton?.addEventListener('click', () => this.setFollowing(!this.following));
    this.newLinesButton?.addEventListener('click', () => this.setFollowing(true));
    window.addEventListener('hashchange', () => this.jumpToHash());

    this.render();
    if (!this.jumpToHash()) this.scrollToEnd();
    this.connect();
  }

  // ---- data --------------------------------------------------------------------------------------------------

  place(entry) {
    const i = entry.seq - 1;
    if (i < 0) return false;
    const isNew = this.lines[i] === undefined;
    this.lines[i] = entry;
    return isNew;
  }

  grow(total) {
    if (total <= this.total) return 0;
    const added = total - this.total;
    this.total = total;
    this.virtualizer.setOptions({ ...this.virtualizer.options, count: total });
    this.virtualizer._willUpdate();
    return added;
  }

  async fetchAfter(afterSeq, limit = CHUNK) {
    if (this.pending.has(afterSeq)) return null;
    this.pending.add(afterSeq);
    try {
      const r = await fetch(`${this.api}/tasks/${this.task}/logs?afterSeq=${afterSeq}&limit=${limit}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (!r.ok) return null;
      const page = await r.json();
      for (const e of page.entries) this.place(e);
      // A hole inside a fetched range is a line that does not exist: mark it so it is not asked for again.
      const last = page.entries.length ? page.entries[page.entries.length - 1].seq : afterSeq;
      // At the end of the log (no next page), nothing more exists up to the count we were told about either.
      const upTo = page.nextAfterSeq == null ? Math.max(last, Math.min(this.total, afterSeq + limit)) : last;
      for (let s = afterSeq + 1; s <= upTo; s++) if (this.lines[s - 1] === undefined) this.lines[s - 1] = null;
      const added = this.grow(last);
      this.afterData(added);
      return page;
    } catch {
      return null;
    } finally {
      this.pending.delete(afterSeq);
    }
  }

  /** Fetches the first missing lines among the rows on screen (called after each render). */
  loadVisible() {
    const items = this.virtualizer.getVirtualItems();
    if (!items.length) return;
    const first = items[0].index;
    const last = items[items.length - 1].index;
    for (let i = first; i <= last; i++) {
      if (this.lines[i] === undefined) {
        // Align chunk starts so neighbouring requests do not overlap.
        const afterSeq = Math.max(0, Math.floor(i / CHUNK) * CHUNK);
        let start = afterSeq;
        while (start < i && this.lines[start] !== undefined) start++;
        this.fetchAfter(start);
        return;
      }
    }
  }

  /** Reads everything after the newest known line (on connect, after a resync, after a truncated event). */
  async catchUp() {
    let after = this.total;
    for (let guard = 0; guard < 1000; guard++) {
      const page = await this.fetchAfter(after);
      if (!page || page.nextAfterSeq == null) return;
      after = page.nextAfterSeq;
    }
  }

  // ---- live ----------------------------------------------------------------------------------------------------

  connect() {
    if (this.root.dataset.finished === 'true') return;
    // The tab's one stream carries this task's lines and its status (data-topics on the tail's element).
    const stream = tabStream();
    stream.on('open', () => this.catchUp());
    stream.on('resync', () => this.catchUp()); // the server could not replay what was missed: read the gap
    stream.on('logs', (envelope) => {
      const d = envelope?.data;
      if (!d || d.taskId !== this.task) return;
      if (d.truncated || !Array.isArray(d.lines)) {
        this.catchUp();
        return;
      }

      let fresh = 0;
      for (const e of d.lines) if (this.place(e)) fresh++;
      this.grow(d.lastSeq);
      this.afterData(fresh);
    });
    stream.on('task', (envelope) => {
      const d = envelope?.data;
      if (d?.taskId === this.task && ['succeeded', 'failed', 'cancelled'].includes(d.status)) this.catchUp();
    });
    stream.start();
  }

  afterData(added) {
    if (this.following && this.readerScrolledAway()) {
      // The reader scrolled up since our last scroll to the end and its scroll event is still on its way: data that
      // lands first must not pull the view back down.
      this.setFollowing(false);
    }

    if (added > 0 && !this.following) {
      this.newLines += added;
    }

    this.render();
    if (this.following) this.scrollToEnd();
  }

  // ---- scrolling -------------------------------------------------------------------------------------------

  onScroll() {
    const top = this.viewport.scrollTop;
    const ours = this.expectedTop != null && Math.abs(top - this.expectedTop) < 2;
    this.expectedTop = null;
    if (ours) return; // our own scroll to the end, not the reader's
    const atEnd = this.viewport.scrollHeight - top - this.viewport.clientHeight < ROW * 1.5;
    if (atEnd && !this.following && this.highlight == null) this.setFollowing(true);
    else if (!atEnd && this.following) this.setFollowing(false);
  }

  scrollToEnd() {
    if (!this.total) return;
    this.spacer.style.height = this.virtualizer.getTotalSize() + 'px';
    const before = this.viewport.scrollTop;
    this.viewport.scrollTop = this.viewport.scrollHeight;
    this.pinnedTop = this.viewport.scrollTop;
    // Remember where we put it, so that onScroll can tell this scroll from the reader's.
    if (this.viewport.scrollTop !== before) this.expectedTop = this.viewport.scrollTop;
  }

  // Above where scrollToEnd last put the view, and not at the end (a taller window lowers the end, and is no scroll).
  readerScrolledAway() {
    const top = this.viewport.scrollTop;
    const atEnd = this.viewport.scrollHeight - top - this.viewport.clientHeight < ROW * 1.5;
    return this.pinnedTop != null && top < this.pinnedTop - 1 && !atEnd;
  }

  setFollowing(on) {
    this.following = on;
    if (on) {
      this.newLines = 0;
      this.highlight = null;
      if (location.hash.startsWith('#seq-')) history.replaceState(null, '', location.pathname + location.search);
      this.scrollToEnd();
    }

    this.render();
  }

  /** Scrolls to the line named by #seq-N and highlights it. True when the hash named a line. */
  jumpToHash() {
    const m = /^#seq-(\d+)$/.exec(location.hash);
    if (!m) return false;
    const seq = Number(m[1]);
    if (seq < 1) return false;
    this.following = false;
    this.highlight = seq;
    if (seq > this.total) {
      // Not known yet (the page rendered before it arrived): learn the newest lines first.
      this.catchUp().then(() => seq <= this.total && this.jumpTo(seq));
    } else {
      this.jumpTo(seq);
    }

    this.render();
    return true;
  }

  jumpTo(seq) {
    this.virtualizer.scrollToIndex(seq - 1, { align: 'center' });
    this.render();
  }

  // ---- rendering -------------------------------------------------------------------------------------------

  row() {
    const el = document.createElement('div');
    el.className = 'log-row';
    el.setAttribute('role', 'listitem');
    const seq = document.createElement('a');
    seq.className = 'log-seq';
    const ts = document.createElement('span');
    ts.className = 'log-ts';
    const level = document.createElement('span');
    level.className = 'log-level';
    const text = document.createElement('span');
    text.className = 'log-text';
    el.append(seq, ts, level, text);
    return el;
  }

  render() {
    const v = this.virtualizer;
    const items = v.getVirtualItems();
    this.spacer.style.height = v.getTotalSize() + 'px';
    if (this.labelled !== this.total) {
      this.labelled = this.total;
      this.spacer.setAttribute('aria-label', `${this.total.toLocaleString()} log lines`);
    }

    while (this.pool.length < items.length) {
      const el = this.row();
      this.pool.push(el);
      this.spacer.append(el);
    }

    const changed = [];
    for (let k = 0; k < this.pool.length; k++) {
      const el = this.pool[k];
      const item = items[k];
      if (!item) {
        el.hidden = true;
        continue;
      }

      el.hidden = false;
      const seq = item.index + 1;
      const line = this.lines[item.index];
      el.style.transform = `translateY(${item.start}px)`;
      if (el.dataset.seq !== String(seq) || el._line !== line) {
        el.dataset.seq = String(seq);
        el._line = line;
        el.id = 'seq-' + seq;
        el.setAttribute('aria-posinset', String(seq));
        const [a, ts, level, text] = el.children;
        a.href = hereWith('#seq-' + seq);
        a.textContent = String(seq);
        if (line) {
          const lvl = LEVELS.has(line.level) ? line.level : 'info';
          el.className = 'log-row lvl-' + lvl + (line.stream === 'stderr' ? ' stderr' : '');
          ts.textContent = timeFormat.format(new Date(line.ts));
          ts.title = line.ts;
          level.textContent = lvl.toUpperCase();
          text.textContent = line.text;
          changed.push(el);
        } else {
          el.className = 'log-row ' + (line === null ? 'missing' : 'loading');
          ts.textContent = '';
          level.textContent = '';
          text.textContent = line === null ? '' : '…';
        }
      }

      el.setAttribute('aria-setsize', String(this.total));
      el.classList.toggle('highlight', seq === this.highlight);
    }

    // Read widths only after all writes (one layout, not one per row), and only of rows whose text changed.
    let widest = 0;
    for (const el of changed) widest = Math.max(widest, el.scrollWidth);

    // Rows are absolutely positioned: give the list the width of the widest row seen, for horizontal scrolling.
    if (widest > this.minWidth) {
      this.minWidth = widest;
      this.spacer.style.minWidth = widest + 'px';
    }

    if (this.followButton) {
      this.followButton.setAttribute('aria-pressed', String(this.following));
      this.followButton.querySelector('[data-follow-label]')?.replaceChildren(this.following ? '· on' : '· paused');
    }

    if (this.newLinesButton) {
      this.newLinesButton.hidden = this.following || this.newLines === 0;
      this.newLinesButton.textContent = `${this.newLines.toLocaleString()} new line${this.newLines === 1 ? '' : 's'} ↓`;
    }

    if (this.status) this.status.textContent = `${this.total.toLocaleString()} line${this.total === 1 ? '' : 's'}`;
    if (this.empty) this.empty.hidden = this.total > 0;
    this.loadVisible();
  }
}

// ---- search within the task ----------------------------------------------------------------------------------

function setUpSearch(form) {
  const org = form.dataset.org;
  const task = form.dataset.task;
  const results = document.getElementById(form.dataset.results);
  const input = form.querySelector('input[name="q"]');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    results.replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'Searching…' }));
    try {
      const r = await fetch(`/api/v1/orgs/${encodeURIComponent(org)}/logs/search?taskId=${encodeURIComponent(task)}&limit=50&q=${encodeURIComponent(q)}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      const body = await r.json();
      if (!r.ok) {
        results.replaceChildren(Object.assign(document.createElement('p'), { className: 'error', textContent: body.detail || 'The search failed.' }));
        return;
      }

      if (!body.results.length) {
        results.replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: `No line of this task matches “${q}”.` }));
        return;
      }

      const heading = Object.assign(document.createElement('p'), { className: 'muted', textContent: `${body.results.length}${body.nextCursor ? '+' : ''} matching line${body.results.length === 1 ? '' : 's'}, newest first:` });
      const list = document.createElement('ol');
      list.className = 'search-hits';
      for (const hit of body.results) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = hereWith('#seq-' + hit.seq);
        const seq = Object.assign(document.createElement('span'), { className: 'log-seq', textContent: '#' + hit.seq });
        const snippet = document.createElement('span');
        snippet.className = 'snippet';
        // The API returns the snippet HTML-escaped with only <mark> added (docs/api.md).
        snippet.innerHTML = hit.snippet;
        a.append(seq, ' ', snippet);
        li.append(a);
        list.append(li);
      }

      results.replaceChildren(heading, list);
    } catch {
      results.replaceChildren(Object.assign(document.createElement('p'), { className: 'error', textContent: 'The search failed.' }));
    }
  });
}

function init() {
  for (const el of document.querySelectorAll('[data-log-tail]')) {
    if (!el._tail) el._tail = new LogTail(el);
  }

  for (const form of document.querySelectorAll('form[data-log-search]')) {
    if (!form._search) {
      form._search = true;
      setUpSearch(form);
    }
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
