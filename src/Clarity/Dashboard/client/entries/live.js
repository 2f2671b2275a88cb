import { tabStream } from '../lib/tab-stream.js';

// Live re-rendering for the overview, the task list, the task page, the runs list and the run page. A container declares the topics it follows
// (the tab's one stream carries them, see lib/tab-stream.js):
//   <div data-live data-topics="tasks,agents">
// and the elements inside it say which events re-fetch them, and from where:
//   <tbody data-refresh-on="task" data-refresh-url="/o/acme/tasks/_rows?status=running" data-refresh-ms="1500"
//          data-refresh-task="<id>" (only that task's events) data-refresh-run="<id>" (only that run's events)
//          data-refresh-count="tr[data-task]" (asks for as many rows)>
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
    const { refreshTask: task, refreshRun: run } = el.dataset;
    if (!data) return true;
    return (!task || data.taskId === task) && (!run || data.runId === run);
  });
}

function init() {
  const containers = [...document.querySelectorAll('[data-live]')];
  if (containers.length === 0) return;
  const everything = () => containers.flatMap((c) => [...c.querySelectorAll('[data-refresh-on]')]);
  const stream = tabStream();
  // Anything that changed between rendering the page (or a dropped connection, or a resync) and the stream's
  // subscription raised events nobody heard: re-fetch once then.
  stream.on('open', () => everything().forEach(schedule));
  stream.on('resync', () => everything().forEach(schedule));
  for (const kind of ['task', 'clarification', 'agent', 'run', 'run.step']) {
    stream.on(kind, (envelope) => {
      for (const container of containers) for (const el of targets(container, kind, envelope?.data ?? null)) schedule(el);
    });
  }

  stream.start();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
