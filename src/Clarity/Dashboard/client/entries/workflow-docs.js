// The workflow version page: draws the graph in place of the docs' Mermaid block (<figure data-workflow-graph
// data-steps="[…]">), with the same code as the editor's preview.
import { drawGraph } from '../lib/workflow-graph.js';

for (const figure of document.querySelectorAll('[data-workflow-graph]')) {
  let steps = [];
  try { steps = JSON.parse(figure.dataset.steps || '[]'); } catch { steps = []; }
  drawGraph(figure, steps);
}
