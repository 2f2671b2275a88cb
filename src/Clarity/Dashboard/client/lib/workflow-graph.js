// A workflow's DAG as SVG, laid out by dagre: one box per step (its id and kind; the shape says the kind), an arrow
// from each step to the steps that need it, dashed when the step runs only under a `when:` condition. Used by the
// editor's preview (workflow-editor.js) and the version page (workflow-docs.js), from the same step shape as
// POST …/workflows/validate answers: [{id, kind, needs, when, line, column}].
// The run page (run-page.js) draws a run's steps the same way, then colours them by status with setStepStates() and
// marks the chosen one with setSelected().
// Text goes in with textContent only, so step ids can never become markup.
import { Graph, layout } from '@dagrejs/dagre';

const SVG = 'http://www.w3.org/2000/svg';
const FONT_PX = 13;
const PAD_X = 14;
const NODE_H = 44;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

// Measures text in a hidden SVG of the page, so boxes fit the font the page really uses.
let measurer = null;
function textWidth(text, cls) {
  if (!measurer) {
    measurer = el('svg', { width: 0, height: 0, 'aria-hidden': 'true', class: 'wf-graph-svg', style: 'position:absolute;left:-9999px;top:0;visibility:hidden' });
    document.body.appendChild(measurer);
  }
  const t = el('text', { class: cls }, measurer);
  t.textContent = text;
  const w = t.getComputedTextLength?.() || text.length * FONT_PX * 0.6;
  t.remove();
  return w;
}

/**
 * Draws `steps` into `container` (replacing what it held). `onSelect(step)` is called when a step is clicked or
 * chosen with Enter; without it the boxes are not focusable. `selectLabel(id)` names that action for screen readers;
 * `withStatus` leaves room for setStepStates' "kind · status" line.
 * @returns {SVGSVGElement | null} the drawing, or null when there are no steps.
 */
export function drawGraph(container, steps, { onSelect, label, selectLabel = (id) => `Go to step ${id}`, withStatus = false } = {}) {
  container.querySelector(':scope > svg.wf-graph-svg')?.remove();
  if (!Array.isArray(steps) || steps.length === 0) return null;

  const g = new Graph({ directed: true, multigraph: false });
  g.setGraph({ rankdir: 'TB', nodesep: 22, ranksep: 42, edgesep: 12, marginx: 6, marginy: 6 });
  g.setDefaultEdgeLabel(() => ({}));
  const byId = new Map();
  for (const step of steps) {
    if (byId.has(step.id)) continue;
    byId.set(step.id, step);
    // With withStatus, the second line will read "kind · status" (setStepStates): room for the longest status.
    const second = withStatus ? `${step.kind} · succeeded` : step.kind;
    const width = Math.max(textWidth(step.id, 'wf-node-id'), textWidth(second, 'wf-node-kind')) + 2 * PAD_X + (step.kind === 'approval' ? 24 : 0);
    g.setNode(step.id, { width: Math.ceil(width), height: NODE_H });
  }
  for (const step of byId.values()) {
    for (const need of step.needs || []) if (byId.has(need) && need !== step.id) g.setEdge(need, step.id);
  }
  layout(g);

  const { width, height } = g.graph();
  const svg = el('svg', {
    class: 'wf-graph-svg',
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    width: Math.ceil(width),
    height: Math.ceil(height),
    role: 'img',
    'aria-label': label || `Graph of ${byId.size} step${byId.size === 1 ? '' : 's'}`,
  });
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'wf-arrow-' + Math.random().toString(36).slice(2), viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
  el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'wf-arrow' }, marker);

  const edges = el('g', { class: 'wf-edges' }, svg);
  for (const e of g.edges()) {
    const points = g.edge(e).points || [];
    if (points.length < 2) continue;
    const d = points.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    const conditional = Boolean(byId.get(e.w)?.when);
    const path = el('path', { d, class: conditional ? 'wf-edge wf-edge-when' : 'wf-edge', 'marker-end': `url(#${marker.id})` }, edges);
    path.dataset.from = e.v;
    path.dataset.to = e.w;
  }

  const nodes = el('g', { class: 'wf-nodes' }, svg);
  for (const id of g.nodes()) {
    const step = byId.get(id);
    const n = g.node(id);
    const x = n.x - n.width / 2;
    const y = n.y - n.height / 2;
    const group = el('g', { class: `wf-node wf-kind-${step.kind}${step.when ? ' wf-node-when' : ''}`, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` }, nodes);
    group.dataset.step = id;
    const title = el('title', {}, group);
    title.textContent = `${id} (${step.kind})` + ((step.needs || []).length ? `, needs ${step.needs.join(', ')}` : '') + (step.when ? `, when ${step.when}` : '');
    const w = n.width;
    const h = n.height;
    if (step.kind === 'approval') {
      const c = 12;
      el('path', { d: `M ${c} 0 H ${w - c} L ${w} ${h / 2} L ${w - c} ${h} H ${c} L 0 ${h / 2} Z`, class: 'wf-shape' }, group);
    } else {
      el('rect', { width: w, height: h, rx: step.kind === 'wait' ? h / 2 : 6, class: 'wf-shape' }, group);
      if (step.kind === 'workflow') el('rect', { x: 4, y: 4, width: w - 8, height: h - 8, rx: 4, class: 'wf-shape-inner' }, group);
    }
    const idText = el('text', { x: w / 2, y: 19, 'text-anchor': 'middle', class: 'wf-node-id' }, group);
    idText.textContent = id;
    const kindText = el('text', { x: w / 2, y: 35, 'text-anchor': 'middle', class: 'wf-node-kind' }, group);
    kindText.textContent = step.kind;
    if (onSelect) {
      group.setAttribute('tabindex', '0');
      group.setAttribute('role', 'button');
      group.setAttribute('aria-label', selectLabel(id));
      group.addEventListener('click', () => onSelect(step));
      group.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          onSelect(step);
        }
      });
    }
  }

  container.appendChild(svg);
  return svg;
}

const STATUSES = ['pending', 'waiting', 'running', 'succeeded', 'failed', 'skipped', 'cancelled'];

/**
 * Colours a drawing by the steps' states: `states` is [{id, status, held, critical}]. Each node gets the class
 * wf-status-<status> (plus wf-held, wf-critical) and its second line reads "kind · status"; an edge between two steps
 * of the critical path gets wf-edge-critical. Only the classes and texts change, never the layout.
 */
export function setStepStates(svg, states) {
  if (!svg || !Array.isArray(states)) return;
  const byId = new Map(states.map((s) => [s.id, s]));
  for (const group of svg.querySelectorAll('.wf-node')) {
    const state = byId.get(group.dataset.step);
    if (!state) continue;
    for (const status of STATUSES) group.classList.toggle(`wf-status-${status}`, state.status === status);
    group.classList.toggle('wf-held', Boolean(state.held));
    group.classList.toggle('wf-critical', Boolean(state.critical));
    group.dataset.status = state.status;
    const kind = group.querySelector('.wf-node-kind');
    if (kind) kind.textContent = `${state.kind || kind.textContent.split(' · ')[0]} · ${state.held ? 'held' : state.status}`;
    const title = group.querySelector('title');
    if (title) title.textContent = `${group.dataset.step}: ${state.status}${state.held ? ' (held by the debugger)' : ''}${state.critical ? ', on the critical path' : ''}`;
  }
  for (const edge of svg.querySelectorAll('.wf-edge')) {
    edge.classList.toggle('wf-edge-critical', Boolean(byId.get(edge.dataset.from)?.critical && byId.get(edge.dataset.to)?.critical));
  }
}

/** Marks the step `id` as the chosen one (aria-pressed), and no other. */
export function setSelected(svg, id) {
  if (!svg) return;
  for (const group of svg.querySelectorAll('.wf-node')) {
    const selected = group.dataset.step === id;
    group.classList.toggle('wf-selected', selected);
    if (group.hasAttribute('role')) group.setAttribute('aria-pressed', String(selected));
  }
}
