'use strict';
// "A task page with 100,000 log lines: time to first render and the scroll frame rate, measured in Chromium."
//
// Starts Clarity (`dotnet clarity.dll serve`, fresh SQLite), sets it up over the API, creates a task, checks it out
// (so it is running, as when someone watches an agent work) and appends N log lines in batches of 5,000 (the API's
// largest). Then Debian's Chromium (playwright-core, executablePath /usr/bin/chromium; nothing is downloaded) opens
// the task page /o/{org}/tasks/{id}, signed in with the `clarity_session` cookie from POST /api/v1/auth/login.
//
// Selector contract with the dashboard: the tail element carries `data-log-tail`, each rendered row `data-seq="<seq>"`,
// and the scrollable element is the tail element itself or an element inside it.
//
// Measured per page load (the first, with a cold browser, then the median and the worst of the later ones), in the page's own clock
// (performance.now(), 0 = navigation start):
//   firstRowMs   the first [data-log-tail] [data-seq] row is in the DOM and laid out (at the next animation frame)
//   newestLineMs the row of the newest line (data-seq = N) is laid out with that line's text: the tail opened at its end
//   fcpMs        first-contentful-paint; domContentLoadedMs; loadMs
// Scrolling (after the last load and a 1 s warm-up scroll), driven from requestAnimationFrame in the page, 3 s each:
// The tail's scroller is first scrolled into the window's viewport (1280 x 900), so that the frames paint its rows.
//   steady       scroll up from the end at 3,000 px/s (a quick read-back)
//   sweep        from the first line to the last in 3 s (every frame shows rows never seen before)
//   for each: frames per second, p95 and worst frame time (the gap between animation frames), and the rows on screen
//   that still showed no text at the end (lines being fetched).
//
//   node logtail.js --clarity-dll src/Clarity/bin/Release/net10.0/clarity.dll [--lines 100000] [--loads 5] [--out dir]
//   node logtail.js --url http://127.0.0.1:PORT ...   (an already running Clarity with no user yet)
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { startServer, stopServer, api, claritySetup } = require('./servers');

const argv = process.argv.slice(2);
const opt = (name, fallback) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : fallback; };
const quick = argv.includes('--quick');
const lines = Number(opt('--lines', 100000));
const loads = Number(opt('--loads', quick ? 3 : 5));
const scrollSeconds = Number(opt('--scroll-seconds', 3));
const clarityDll = opt('--clarity-dll', null);
const givenUrl = opt('--url', null);
const out = opt('--out', null);
const executablePath = opt('--chromium', '/usr/bin/chromium');
const org = 'bench';
const BATCH = 5000;
const log = (...a) => console.error('[logtail]', ...a);

const words = ['fetch', 'cache', 'tool call', 'model reply', 'retry', 'upload', 'parse', 'index', 'embed', 'plan', 'review', 'commit'];
function lineText(seq) {
  const w = words[seq % words.length];
  return `#${seq} ${w} step=${(seq * 7919) % 1000} took=${(seq * 31) % 997}ms id=${(seq * 2654435761 >>> 0).toString(16)} ` +
    `status=${seq % 50 === 0 ? 'warn: slow upstream' : 'ok'} bytes=${(seq * 131) % 65536}`;
}

async function seed(url, token) {
  const task = await api(url, 'POST', `/api/v1/orgs/${org}/tasks`, { title: `log tail with ${lines.toLocaleString('en-US')} lines`, queue: 'logtail' }, token);
  if (task.status !== 201) throw new Error(`create task: ${task.status} ${task.body}`);
  const id = task.json().id;
  const checkout = await api(url, 'POST', `/api/v1/orgs/${org}/work/checkout`, { agent: 'bench-agent', queues: ['logtail'], taskId: id, leaseSeconds: 3600 }, token);
  if (checkout.status !== 200) log(`checkout: ${checkout.status} (the task stays queued)`);
  const t0 = Date.now();
  const start = Date.now() - lines * 10;
  for (let first = 1; first <= lines; first += BATCH) {
    const batch = [];
    for (let seq = first; seq < first + BATCH && seq <= lines; seq++) {
      batch.push({ text: lineText(seq), ts: new Date(start + seq * 10).toISOString(), level: seq % 50 === 0 ? 'warn' : 'info', stream: seq % 50 === 0 ? 'stderr' : 'stdout' });
    }
    const res = await api(url, 'POST', `/api/v1/orgs/${org}/tasks/${id}/logs`, JSON.stringify(batch), token);
    if (res.status !== 200 && res.status !== 201) throw new Error(`append logs: ${res.status} ${res.body}`);
  }
  log(`seeded ${lines.toLocaleString('en-US')} lines in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return id;
}

// Runs in the page before its own scripts: notes when the first row and the newest line's row are rendered.
function pageProbe({ newestSeq, newestText }) {
  window.__tail = {};
  const check = () => {
    const t = window.__tail;
    const tail = document.querySelector('[data-log-tail]');
    if (!tail) return;
    if (t.firstRowMs == null) {
      const row = tail.querySelector('[data-seq]');
      if (row && row.getClientRects().length) {
        t.firstRowSeen = performance.now();
        requestAnimationFrame(() => { t.firstRowMs = performance.now(); });
      }
    }
    if (t.newestLineMs == null && t.newestSeen == null) {
      const row = tail.querySelector(`[data-seq="${newestSeq}"]`);
      if (row && row.getClientRects().length && row.textContent.includes(newestText)) {
        t.newestSeen = performance.now();
        requestAnimationFrame(() => { t.newestLineMs = performance.now(); });
      }
    }
  };
  new MutationObserver(check).observe(document, { childList: true, subtree: true, characterData: true, attributes: true });
  const poll = () => { check(); if (window.__tail.newestLineMs == null) requestAnimationFrame(poll); };
  requestAnimationFrame(poll);
}

// Runs in the page: scrolls the tail for `seconds` from requestAnimationFrame and returns the frame statistics.
async function scrollRun({ mode, seconds }) {
  const tail = document.querySelector('[data-log-tail]');
  const candidates = [tail, ...tail.querySelectorAll('*')];
  const scroller = candidates.find((el) => {
    const style = getComputedStyle(el);
    return el.scrollHeight > el.clientHeight + 1 && /(auto|scroll)/.test(style.overflowY);
  });
  if (!scroller) return { mode, error: 'no scrollable element inside [data-log-tail]' };
  // The tail's scroller in the window's viewport, so that the frames paint the rows being scrolled.
  scroller.scrollIntoView({ block: 'end' });
  const max = scroller.scrollHeight - scroller.clientHeight;
  scroller.scrollTop = mode === 'sweep' ? 0 : max;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  // Long animation frames (> 50 ms) as Chromium itself accounts them: how much of a slow frame was the page's
  // script, and how much style and layout; a slow rAF gap without a long animation frame was lost outside the page's
  // main thread (the compositor, or the CPU given to other processes).
  const loaf = [];
  let observer = null;
  if (PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')) {
    observer = new PerformanceObserver((list) => loaf.push(...list.getEntries()));
    observer.observe({ type: 'long-animation-frame' });
  }
  const gaps = [];
  let last = null; let startTs = null;
  await new Promise((resolve) => {
    const frame = (ts) => {
      if (startTs == null) startTs = ts;
      if (last != null) gaps.push(ts - last);
      last = ts;
      const progress = Math.min(1, (ts - startTs) / (seconds * 1000));
      if (mode === 'sweep') scroller.scrollTop = progress * max;
      else scroller.scrollTop = Math.max(0, max - progress * seconds * 3000);
      if (progress < 1) requestAnimationFrame(frame); else resolve();
    };
    requestAnimationFrame(frame);
  });
  const elapsed = last - startTs;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))); // let the list render its last position
  if (observer) { loaf.push(...observer.takeRecords()); observer.disconnect(); }
  const inRun = loaf.filter((e) => e.startTime >= startTs && e.startTime <= last);
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const longFrames = observer == null ? null : {
    count: inRun.length,
    totalMs: sum(inRun.map((e) => e.duration)),
    scriptMs: sum(inRun.map((e) => sum([...(e.scripts || [])].map((x) => x.duration)))),
    styleLayoutMs: sum(inRun.map((e) => (e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0))),
    forcedLayoutInScriptMs: sum(inRun.map((e) => sum([...(e.scripts || [])].map((x) => x.forcedStyleAndLayoutDuration || 0)))),
    topScripts: Object.entries(inRun.flatMap((e) => [...(e.scripts || [])]).reduce((acc, x) => {
      const key = `${x.invoker || x.invokerType} (${(x.sourceURL || '').split('/').pop()}:${x.sourceFunctionName || '?'})`;
      acc[key] = (acc[key] || 0) + x.duration;
      return acc;
    }, {})).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k} ${Math.round(v)} ms`),
  };
  const sorted = [...gaps].sort((a, b) => a - b);
  const view = scroller.getBoundingClientRect();
  const onScreen = [...tail.querySelectorAll('[data-seq]')].filter((row) => {
    const r = row.getBoundingClientRect();
    return !row.hidden && r.bottom > view.top && r.top < view.bottom;
  });
  const blank = onScreen.filter((row) => !/#\d+ /.test(row.textContent)).length;
  return {
    mode, frames: gaps.length, seconds: elapsed / 1000, fps: gaps.length / (elapsed / 1000),
    p95FrameMs: sorted[Math.floor(0.95 * (sorted.length - 1))], worstFrameMs: sorted[sorted.length - 1],
    framesOver50Ms: gaps.filter((g) => g > 50).length, scrolledPx: mode === 'sweep' ? max : Math.min(max, seconds * 3000),
    scrollHeightPx: scroller.scrollHeight, rowsOnScreen: onScreen.length, rowsWithoutTextAtEnd: blank, longFrames,
  };
}

const median = (xs) => { const s = xs.filter((x) => x != null).sort((a, b) => a - b); return s.length ? s[Math.floor((s.length - 1) / 2)] : null; };
const worst = (xs) => { const s = xs.filter((x) => x != null); return s.length ? Math.max(...s) : null; };
const r1 = (x) => (x == null ? null : Math.round(x * 10) / 10);

async function main() {
  if (!fs.existsSync(executablePath)) throw new Error(`${executablePath} is missing: apt-get install -y chromium`);
  let server = null;
  const outDir = out || fs.mkdtempSync(path.join(os.tmpdir(), 'clarity-logtail-'));
  fs.mkdirSync(outDir, { recursive: true });
  let browser = null;
  try {
    let url = givenUrl;
    if (!url) {
      server = await startServer('clarity', { clarityDll, logPath: path.join(outDir, 'logtail-clarity-server.log') });
      url = server.url;
    }
    const { token, cookie } = await claritySetup(url, org);
    const taskId = await seed(url, token);
    const pageUrl = `${url}/o/${org}/tasks/${taskId}`;

    browser = await chromium.launch({
      executablePath, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addCookies([{ name: 'clarity_session', value: cookie, url }]);
    await context.addInitScript(pageProbe, { newestSeq: lines, newestText: lineText(lines) });
    const page = await context.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));

    const samples = [];
    for (let i = 0; i < loads; i++) {
      const res = await page.goto(pageUrl, { waitUntil: 'commit' });
      if (!res || res.status() !== 200) throw new Error(`${pageUrl} answered ${res && res.status()} (is the task page built?)`);
      await page.waitForFunction(() => window.__tail && window.__tail.newestLineMs != null, null, { timeout: 60000 });
      const s = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        return {
          firstRowMs: window.__tail.firstRowMs, newestLineMs: window.__tail.newestLineMs, fcpMs: fcp ? fcp.startTime : null,
          responseStartMs: nav.responseStart, domContentLoadedMs: nav.domContentLoadedEventEnd, loadMs: nav.loadEventEnd,
          domNodes: document.getElementsByTagName('*').length, rows: document.querySelectorAll('[data-log-tail] [data-seq]').length,
        };
      });
      samples.push(s);
      log(`load ${i + 1}: first row ${r1(s.firstRowMs)} ms, newest line ${r1(s.newestLineMs)} ms, FCP ${r1(s.fcpMs)} ms, ` +
        `DOMContentLoaded ${r1(s.domContentLoadedMs)} ms, ${s.rows} rows in the DOM (${s.domNodes} elements)`);
    }
    await page.waitForTimeout(500);
    const scroll = [];
    await page.evaluate(scrollRun, { mode: 'steady', seconds: 1 }); // warm-up (the page's scroll paths compile), not reported
    for (const mode of ['steady', 'sweep']) {
      const r = await page.evaluate(scrollRun, { mode, seconds: scrollSeconds });
      scroll.push(r);
      log(`scroll ${mode}: ${r.error || `${r1(r.fps)} fps, p95 frame ${r1(r.p95FrameMs)} ms, worst ${r1(r.worstFrameMs)} ms, ` +
        `${r.framesOver50Ms} frames > 50 ms, ${r.rowsWithoutTextAtEnd}/${r.rowsOnScreen} rows on screen without text at the end` +
        (r.longFrames ? `; long animation frames: ${r.longFrames.count}, ${r1(r.longFrames.totalMs)} ms in all, script ${r1(r.longFrames.scriptMs)} ms, ` +
          `style+layout ${r1(r.longFrames.styleLayoutMs)} ms, forced layout inside scripts ${r1(r.longFrames.forcedLayoutInScriptMs)} ms; ` +
          `top: ${r.longFrames.topScripts.join('; ')}` : '')}`);
    }
    await page.screenshot({ path: path.join(outDir, 'logtail.png') });

    const warm = samples.length > 1 ? samples.slice(1) : samples;
    const result = {
      benchmark: 'logtail', lines, loads, chromium: browser.version(),
      // The first load starts with a cold browser (no cached assets, nothing compiled); the later ones are warm.
      firstRowMs: { first: r1(samples[0].firstRowMs), median: r1(median(warm.map((s) => s.firstRowMs))), worst: r1(worst(warm.map((s) => s.firstRowMs))) },
      newestLineMs: { first: r1(samples[0].newestLineMs), median: r1(median(warm.map((s) => s.newestLineMs))), worst: r1(worst(warm.map((s) => s.newestLineMs))) },
      fcpMs: { first: r1(samples[0].fcpMs), median: r1(median(warm.map((s) => s.fcpMs))), worst: r1(worst(warm.map((s) => s.fcpMs))) },
      domContentLoadedMs: { first: r1(samples[0].domContentLoadedMs), median: r1(median(warm.map((s) => s.domContentLoadedMs))) },
      rowsInDom: samples[samples.length - 1].rows,
      scroll: scroll.map((s) => (s.error ? s : { ...s, fps: r1(s.fps), p95FrameMs: r1(s.p95FrameMs), worstFrameMs: r1(s.worstFrameMs), seconds: r1(s.seconds) })),
      samples,
    };
    const md = [
      `### Log tail in Chromium ${result.chromium} (${lines.toLocaleString('en-US')} lines, ${loads} loads, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`,
      '',
      `| figure (navigation start →) | first load, cold browser | median of the ${Math.max(1, loads - 1)} later loads | worst later load |`,
      '|---|---:|---:|---:|',
      `| first log row rendered | ${result.firstRowMs.first} ms | ${result.firstRowMs.median} ms | ${result.firstRowMs.worst} ms |`,
      `| newest line's row rendered with its text | ${result.newestLineMs.first} ms | ${result.newestLineMs.median} ms | ${result.newestLineMs.worst} ms |`,
      `| first contentful paint | ${result.fcpMs.first} ms | ${result.fcpMs.median} ms | ${result.fcpMs.worst} ms |`,
      '',
      '| scroll (3 s, requestAnimationFrame) | fps | p95 frame | worst frame | frames > 50 ms | rows without text at the end |',
      '|---|---:|---:|---:|---:|---:|',
      ...result.scroll.map((s) => (s.error ? `| ${s.mode} | ${s.error} | | | | |`
        : `| ${s.mode === 'sweep' ? `sweep, first → last line (${Math.round(s.scrolledPx / 1000).toLocaleString('en-US')}k px)` : 'steady, 3,000 px/s upward from the end'} | ${s.fps} | ${s.p95FrameMs} ms | ${s.worstFrameMs} ms | ${s.framesOver50Ms} | ${s.rowsWithoutTextAtEnd} of ${s.rowsOnScreen} |`)),
      '',
    ].join('\n');
    fs.writeFileSync(path.join(outDir, 'logtail.json'), JSON.stringify(result, null, 2) + '\n');
    fs.writeFileSync(path.join(outDir, 'logtail.md'), md);
    console.log('\n' + md);
    console.log(`Wrote ${path.join(outDir, 'logtail.md')}, logtail.json and logtail.png`);
  } finally {
    if (browser) await browser.close();
    if (server) await stopServer(server);
  }
}

main().then(() => process.exit(0), (err) => { console.error('[logtail]', err.stack || String(err)); process.exit(1); });
