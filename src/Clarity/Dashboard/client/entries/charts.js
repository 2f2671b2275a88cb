// Trend charts of the overview, drawn with uPlot. Each <div data-chart> holds its data in its data-chart-spec
// attribute (htmx drops script elements from swapped fragments): {"x":[unix seconds…],"unit":"count"|"ms"|"ratio","step":"hour"|"day",
// "series":[{"label":"Created","color":"accent","values":[…]}]}. Colours are CSS custom properties of the theme
// (--accent, --ok, --danger, --muted …), so the charts follow the light/dark switch; they redraw on resize and on
// htmx swaps. uPlot's stylesheet comes in through pages.css. Each chart's figure also carries a server-rendered data table, the text alternative.
import uPlot from 'uplot';

const charts = new Map();
// Whole numbers for counts; round seconds, minutes and hours for durations.
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
const MS_STEPS = [1e3, 5e3, 1e4, 3e4, 6e4, 3e5, 6e5, 18e5, 36e5, 72e5, 216e5, 432e5, 864e5, 1728e5];

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue('--' + name).trim();
  return value || fallback;
}

function formatValue(unit, v) {
  if (v == null) return '–';
  if (v === 0) return '0';
  if (unit === 'ratio') return (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0) + '%';
  if (unit === 'ms') {
    const s = v / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 3600) return (s / 60).toFixed(1) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }
  return String(Math.round(v * 100) / 100);
}

function options(el, spec, width) {
  const text = cssVar('muted', '#555');
  const grid = cssVar('border', '#ddd');
  const fmt = spec.step === 'hour' ? '{HH}:{mm}' : '{MMM} {D}';
  const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '12px system-ui, sans-serif' };
  return {
    width,
    height: Number(el.dataset.height || 220),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, spec.unit === 'ratio' ? 1 : Math.max(max || 0, spec.unit === 'ms' ? 60_000 : 4) * 1.1] } },
    axes: [
      { ...axis, values: (u, splits) => splits.map((s) => uPlot.fmtDate(fmt)(uPlot.tzDate(new Date(s * 1e3), 'Etc/UTC'))) },
      { ...axis, size: 60, incrs: spec.unit === 'count' ? COUNT_STEPS : spec.unit === 'ms' ? MS_STEPS : undefined, values: (u, splits) => splits.map((v) => formatValue(spec.unit, v)) },
    ],
    series: [
      { label: spec.step === 'hour' ? 'Hour (UTC)' : 'Day (UTC)', value: (u, v) => (v == null ? '–' : uPlot.fmtDate(spec.step === 'hour' ? '{YYYY}-{MM}-{DD} {HH}:00' : '{YYYY}-{MM}-{DD}')(uPlot.tzDate(new Date(v * 1e3), 'Etc/UTC'))) },
      ...spec.series.map((s) => {
        const color = cssVar(s.color, '#2454d6');
        return {
          label: s.label,
          stroke: color,
          width: 2,
          fill: spec.series.length === 1 && /^#[0-9a-f]{6}$/i.test(color) ? color + '22' : undefined,
          points: { show: true, size: 5, fill: color },
          spanGaps: false,
          value: (u, v) => formatValue(spec.unit, v),
        };
      }),
    ],
  };
}

function draw(el) {
  let spec;
  try { spec = JSON.parse(el.dataset.chartSpec); } catch { return; }
  charts.get(el)?.chart.destroy();
  const host = el.querySelector('.chart-canvas') || el;
  host.replaceChildren();
  const width = Math.max(200, Math.floor(host.clientWidth || el.clientWidth || 320));
  const data = [spec.x, ...spec.series.map((s) => s.values)];
  const chart = new uPlot(options(el, spec, width), data, host);
  chart.root.querySelector('canvas')?.setAttribute('aria-hidden', 'true');
  charts.set(el, { chart, spec, host, width });
}

const resize = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const el = entry.target.closest('[data-chart]');
    const state = el && charts.get(el);
    if (!state) continue;
    const width = Math.max(200, Math.floor(entry.contentRect.width));
    if (Math.abs(width - state.width) < 2) continue;
    state.width = width;
    state.chart.setSize({ width, height: state.chart.height });
  }
});

function init(root = document) {
  for (const [el, state] of charts) {
    if (!el.isConnected) {
      state.chart.destroy();
      charts.delete(el);
    }
  }

  for (const el of root.querySelectorAll('[data-chart]')) {
    draw(el);
    resize.observe(el.querySelector('.chart-canvas') || el);
  }
}

function redrawAll() {
  for (const el of charts.keys()) if (el.isConnected) draw(el);
}

// Theme changes: the toggle sets data-theme on <html>; the system preference may change too.
new MutationObserver(redrawAll).observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redrawAll);
document.addEventListener('htmx:afterSettle', (e) => init(e.target));
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => init()); else init();
