// Live re-rendering for the overview, the task list and the task page. A container names a stream URL:
//   <div data-live="/api/v1/orgs/acme/events?topics=tasks,agents">
// and the elements inside it say which events re-fetch them, and from where:
//   <tbody data-refresh-on="task" data-refresh-url="/o/acme/tasks/_rows?status=running" data-refresh-ms="1500"
//          data-refresh-task="<id>" (only that task's events) data-refresh-count="tr[data-task]" (asks for as many rows)>
// Refreshes are throttled per element with a leading and a trailing edge: the first event re-fetches at once,
// events during the pause are folded into one more fetch at its end, so the last state is always shown.
// After a reconnect or a resync (events may have been missed) every element is re-fetched.
const DEFAULT_MS = 1500;

function refresh(el) {
  let url = el.dataset.refreshUrl;
  if (!url || !window.htmx) return;
  if (el.dataset.refreshCount) {
    const shown = el.querySelectorAll(el.dataset.refreshCount).length;
    const limit = Math.min(200, Math.max(50, shown));
    url += (url.includes('?') ? '&' : '?') + 'limit=' + limit;
  }

  // Keep what the reader opened (<details>) open across the swap.
  const open = [...el.querySelectorAll('details')].map((d) => d.open);
  window.htmx.ajax('GET', url, { target: el, swap: 'innerHTML' }).then(() => {
    el.querySelectorAll('details').forEach((d, i) => { if (open[i]) d.open = true; });
  });
}

function schedule(el) {
  const state = el._live || (el._live = { timer: 0, pending: false });
  if (state.timer) {
    state.pending = true;
    return;
  }

  refresh(el);
  const ms = Number(el.dataset.refreshMs || DEFAULT_MS);
  const tick = () => {
    if (state.pending) {
      state.pending = false;
      refresh(el);
      state.timer = setTimeout(tick, ms);
    } else {
      state.timer = 0;
    }
  };
  state.timer = setTimeout(tick, ms);
}

function targets(container, kind, data) {
  return [...container.querySelectorAll('[data-refresh-on]')].filter((el) => {
    if (!el.dataset.refreshOn.split(/[\s,]+/).includes(kind)) return false;
    const task = el.dataset.refreshTask;
    return !task || !data || data.taskId === task;
  });
}

function connect(container) {
  const source = new EventSource(container.dataset.live, { withCredentials: true });
  container._source = source;
  source.addEventListener('open', () => {
    // Anything that changed between rendering the page (or a dropped connection) and this subscription raised
    // events nobody heard: re-fetch once now.
    for (const el of container.querySelectorAll('[data-refresh-on]')) schedule(el);
  });
  for (const kind of ['task', 'clarification', 'agent']) {
    source.addEventListener(kind, (m) => {
      let data = null;
      try { data = JSON.parse(m.data).data; } catch { /* refresh anyway */ }
      for (const el of targets(container, kind, data)) schedule(el);
    });
  }

  source.addEventListener('resync', () => {
    source.close();
    for (const el of container.querySelectorAll('[data-refresh-on]')) schedule(el);
    setTimeout(() => connect(container), 500);
  });
}

function init() {
  for (const container of document.querySelectorAll('[data-live]')) {
    if (!container._source && 'EventSource' in window) connect(container);
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
