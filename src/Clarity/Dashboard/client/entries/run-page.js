// The run page: draws the run's DAG once (lib/workflow-graph.js) and colours it from the states the server renders into
// the live body (<div data-run-steps="[{id, kind, status, held, critical}]">). live.js re-fetches that body when a
// `run` or `run.step` event of this run arrives; after each swap the same drawing moves into the new body's frame
// (<figure data-run-graph>) and its nodes are re-coloured, never re-laid out.
// Clicking a node chooses it: the body is fetched again with ?step=<id>, and the side panel shows that step.
// A form the reader is filling in (a skip output, a signal payload, a vote comment) is not swept away by a live
// refresh: while one is edited, only the graph takes the new states, and the body catches up once it is left.
import { drawGraph, setStepStates, setSelected } from '../lib/workflow-graph.js';

const body = document.getElementById('run-body');
const figure = body?.querySelector('[data-run-graph]');

function parse(text, fallback) {
  try { return JSON.parse(text); } catch { return fallback; }
}

function statesIn(root) {
  return parse(root?.querySelector('[data-run-steps]')?.dataset.runSteps || '[]', []);
}

function selectedIn(root) {
  return root?.querySelector('[data-run-steps]')?.dataset.selected || null;
}

function withStep(url, id) {
  const u = new URL(url, location.origin);
  if (id) u.searchParams.set('step', id); else u.searchParams.delete('step');
  return u.pathname + u.search;
}

if (figure && body) {
  let svg = null;
  let choosing = false;
  let stale = false;

  const choose = (step) => {
    if (!window.htmx) {
      location.assign(withStep(location.href, step.id));
      return;
    }
    body.dataset.refreshUrl = withStep(body.dataset.refreshUrl, step.id);
    history.replaceState(null, '', withStep(location.href, step.id));
    setSelected(svg, step.id);
    choosing = true;
    window.htmx.ajax('GET', body.dataset.refreshUrl, { target: body, swap: 'innerHTML' });
  };

  svg = drawGraph(figure, parse(figure.dataset.steps || '[]', []), {
    onSelect: choose,
    label: figure.dataset.label,
    selectLabel: (id) => `Show step ${id}`,
    withStatus: true,
  });
  setStepStates(svg, statesIn(body));
  setSelected(svg, selectedIn(body));

  const editing = () => [...body.querySelectorAll('form[data-dirty]')].length > 0;
  body.addEventListener('input', (e) => {
    const form = e.target.closest('form');
    if (form) form.dataset.dirty = 'true';
  });
  body.addEventListener('focusout', () => {
    // Left a form: when it is still untouched, catch up with what changed meanwhile.
    setTimeout(() => {
      if (stale && !body.contains(document.activeElement) && window.htmx) {
        for (const form of body.querySelectorAll('form[data-dirty]')) {
          if ([...form.elements].every((f) => !('defaultValue' in f) || f.value === f.defaultValue)) delete form.dataset.dirty;
        }
        if (!editing()) {
          stale = false;
          window.htmx.ajax('GET', body.dataset.refreshUrl, { target: body, swap: 'innerHTML' });
        }
      }
    }, 0);
  });

  body.addEventListener('htmx:beforeSwap', (e) => {
    if (e.detail.target !== body || choosing || !editing() || !e.detail.xhr || e.detail.xhr.status !== 200) return;
    e.detail.shouldSwap = false;
    stale = true;
    const next = new DOMParser().parseFromString(e.detail.serverResponse, 'text/html');
    setStepStates(svg, statesIn(next));
  });

  body.addEventListener('htmx:afterSwap', (e) => {
    if (e.detail.target !== body) return;
    choosing = false;
    const frame = body.querySelector('[data-run-graph]');
    if (frame && svg) frame.appendChild(svg);
    setStepStates(svg, statesIn(body));
    setSelected(svg, selectedIn(body));
  });
}
