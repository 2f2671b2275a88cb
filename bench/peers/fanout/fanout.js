'use strict';
// Runs the fan-out benchmark against every target in turn, in one run: starts the target's server as its own
// process (Clarity: `dotnet clarity.dll serve` on a fresh SQLite data folder, or a fresh PostgreSQL database; the
// peers: node ws-server.js / socketio-server.js), runs harness.js against it as another process, stops the server,
// and prints one comparison table (also written to <out>/fanout.md and fanout.jsonl).
//
//   node fanout.js --clarity-dll src/Clarity/bin/Release/net10.0/clarity.dll --out bench/results/T [--quick]
//                  [--targets clarity,ws,socketio] [--database <PostgreSQL connection string>]
//                  [--clients 1000] [--rates 100,300,1000] [--duration 10]
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const argv = process.argv.slice(2);
const opt = (name, fallback) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : fallback; };
const quick = argv.includes('--quick');
const targets = opt('--targets', 'clarity,ws,socketio').split(',');
const clarityDll = opt('--clarity-dll', null);
const database = opt('--database', null);
const out = opt('--out', fs.mkdtempSync(path.join(os.tmpdir(), 'clarity-fanout-')));
const passThrough = [];
for (const name of ['--clients', '--rates', '--duration', '--drain', '--warmup', '--concurrency']) {
  if (argv.includes(name)) passThrough.push(name, opt(name));
}
if (quick) passThrough.push('--quick');

const here = __dirname;
const { startServer, stopServer } = require('./servers');

// Targets: clarity (SQLite), clarity-postgres (Clarity on --database), ws, socketio.
const serverKind = (target) => (target.startsWith('clarity') ? 'clarity' : target);

function runHarness(target, port, pid, jsonl) {
  return new Promise((resolve) => {
    const args = [path.join(here, 'harness.js'), '--target', serverKind(target), '--label', target, '--url', `http://127.0.0.1:${port}`,
      '--server-pid', String(pid), '--out', jsonl, ...passThrough];
    if (serverKind(target) === 'clarity') args.push('--setup');
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => resolve(code));
  });
}

const fmt = (x, d = 0) => (x == null ? '–' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));

function table(rows) {
  const lines = [
    '| offered ev/s | target | sent ev/s | delivered ev/s | p50 ms | p99 ms | max ms | missing | dropped conn | MB/1000 conn | server CPU | harness CPU | harness loop delay p99 ms |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const byRate = [...new Set(rows.map((r) => r.offered))];
  for (const rate of byRate) {
    for (const r of rows.filter((x) => x.offered === rate)) {
      lines.push(`| ${fmt(rate)} | ${r.target} | ${fmt(r.sentPerSecond)} | ${fmt(r.deliveredPerSecond)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ` +
        `${fmt(r.maxMs, 0)} | ${fmt(r.missing)} | ${fmt(r.droppedConnections)} | ${fmt(r.mbPer1000Connections, 1)} | ` +
        `${r.serverCpuPercent == null ? '–' : r.serverCpuPercent + ' %'} | ${r.harnessCpuPercent} % | ${fmt(r.harnessLoopDelayP99Ms, 1)} |`);
    }
  }
  return lines.join('\n');
}

function verdicts(rows) {
  const lines = [];
  for (const rate of [...new Set(rows.map((r) => r.offered))]) {
    const c = rows.find((r) => r.offered === rate && r.target === 'clarity');
    const peers = rows.filter((r) => r.offered === rate && !r.target.startsWith('clarity'));
    if (!c || peers.length === 0) continue;
    const best = peers.reduce((a, b) => (b.deliveredPerSecond > a.deliveredPerSecond ? b : a));
    const bestP99 = Math.min(...peers.map((p) => p.p99Ms ?? Infinity));
    const rateOk = c.deliveredPerSecond >= best.deliveredPerSecond;
    const p99Ok = c.p99Ms != null && c.p99Ms < bestP99;
    let line = `- ${rate} ev/s: Clarity delivered ${fmt(c.deliveredPerSecond)}/s vs best peer ${best.target} ${fmt(best.deliveredPerSecond)}/s ` +
      `(${rateOk ? 'met' : 'MISSED'}); p99 ${fmt(c.p99Ms, 1)} ms vs best peer ${Number.isFinite(bestP99) ? `${fmt(bestP99, 1)} ms` : 'none (no peer delivered within the step)'} (${p99Ok ? 'met' : 'MISSED'})`;
    if (rate === 100) line += `; p99 < 50 ms: ${c.p99Ms != null && c.p99Ms < 50 ? 'met' : 'MISSED'}`;
    const short = [c, ...peers].filter((r) => r.sentPerSecond < 0.95 * rate).map((r) => `${r.target} ${fmt(r.sentPerSecond)}`);
    if (short.length) line += ` (publish path accepted less than offered: ${short.join(', ')} ev/s)`;
    const unsettled = [c, ...peers].filter((r) => r.unsettled).map((r) => r.target);
    if (unsettled.length) line += ` (backlog still draining when the next step began: ${unsettled.join(', ')})`;
    lines.push(line);
  }
  return lines.join('\n');
}

async function main() {
  fs.mkdirSync(out, { recursive: true });
  const jsonl = path.join(out, 'fanout.jsonl');
  fs.rmSync(jsonl, { force: true });
  let failures = 0;
  for (const target of targets) {
    console.error(`\n== fan-out: ${target}`);
    let server;
    try {
      if (target === 'clarity-postgres' && !database) throw new Error('clarity-postgres needs --database <connection string>');
      server = await startServer(serverKind(target), {
        clarityDll, database: target === 'clarity-postgres' ? database : null, logPath: path.join(out, `fanout-${target}-server.log`),
      });
      const code = await runHarness(target, server.port, server.child.pid, jsonl);
      if (code !== 0) { failures++; console.error(`!! harness for ${target} exited with ${code}`); }
    } catch (err) {
      failures++;
      console.error(`!! ${target}: ${err.message}`);
    } finally {
      if (server) await stopServer(server);
    }
  }
  const rows = fs.existsSync(jsonl) ? fs.readFileSync(jsonl, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const md = `### Fan-out (${rows[0]?.clients ?? '?'} subscribers, ${quick ? 'quick' : 'full'} run, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})\n\n` +
    `${table(rows)}\n\n${verdicts(rows)}\n`;
  fs.writeFileSync(path.join(out, 'fanout.md'), md);
  console.log('\n' + md);
  console.log(`Wrote ${path.join(out, 'fanout.md')} and fanout.jsonl`);
  process.exit(failures ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
