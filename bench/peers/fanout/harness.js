'use strict';
// The fan-out benchmark's client harness: ONE node process that opens N WebSocket subscribers to a target,
// offers R events/s for D seconds per step through the target's natural publish path, and records the receipt of
// every (event, subscriber) pair. The same code measures every target:
//
//   clarity   N `ws` clients on GET /api/v1/orgs/{org}/stream (bearer API key), {"type":"subscribe","topics":["tasks"]};
//             events are published by creating tasks over the REST API (POST /api/v1/orgs/{org}/tasks, keep-alive
//             connections, open loop: each request goes out when it is due, at most --concurrency (128) in flight);
//             each creation raises one `task` event, matched by the taskId in the POST's response.
//   ws        N `ws` clients on a plain broadcast server (ws-server.js); one extra `ws` connection publishes.
//   socketio  N socket.io-client sockets (WebSocket transport) on socketio-server.js; one extra socket publishes.
//
// Latency = receipt time − publish send time, both read from performance.now() in this process: for Clarity the send
// time of the POST (receipts that arrive before its response are matched when the response names the taskId), for
// the peers the send time of the publish frame. The peers publish an envelope shaped and sized like Clarity's, and
// every target's receipts go through the same JSON parse and bookkeeping.
//
// Per step it reports: offered and actually sent events/s, delivered events/s (receipts of the step's events that
// arrived by step end + drain, divided by the step's duration), p50/p99/max latency of those receipts, deliveries
// missing by then, connections the server dropped, CPU of the server and of this harness, this harness's own
// event-loop delay (how late it ran its callbacks, which every latency above includes), and server RSS.
// Memory per connection = (server RSS with all N subscribed − RSS before the first connection) / N.
//
//   node harness.js --target ws --url http://127.0.0.1:PORT --server-pid PID [--quick] [--out results.jsonl]
//   node harness.js --target clarity --url http://127.0.0.1:PORT --server-pid PID --setup
// See parseArgs for every option.
const http = require('node:http');
const fs = require('node:fs');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');
const WebSocket = require('ws');
const { io: ioClient } = require('socket.io-client');

function parseArgs(argv) {
  const o = {
    target: null, url: null, serverPid: null, clients: 1000, rates: [100, 300, 1000], duration: 10, drain: 2,
    warmup: 5, settle: 20, concurrency: 128, org: 'bench', key: process.env.CLARITY_KEY || null, setup: false,
    out: null, label: null, quick: false, connectBatch: 50,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    switch (a) {
      case '--target': o.target = v(); break;
      case '--url': o.url = v().replace(/\/$/, ''); break;
      case '--server-pid': o.serverPid = Number(v()); break;
      case '--clients': o.clients = Number(v()); break;
      case '--rates': o.rates = v().split(',').map(Number); break;
      case '--duration': o.duration = Number(v()); break;
      case '--drain': o.drain = Number(v()); break;
      case '--warmup': o.warmup = Number(v()); break;
      case '--settle': o.settle = Number(v()); break;
      case '--concurrency': o.concurrency = Number(v()); break;
      case '--org': o.org = v(); break;
      case '--key': o.key = v(); break;
      case '--setup': o.setup = true; break;
      case '--out': o.out = v(); break;
      case '--label': o.label = v(); break;
      case '--quick': o.quick = true; break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.quick) {
    if (!argv.includes('--duration')) o.duration = 4;
    if (!argv.includes('--warmup')) o.warmup = 2;
    if (!argv.includes('--settle')) o.settle = 10;
  }
  if (!['clarity', 'ws', 'socketio'].includes(o.target)) throw new Error('--target clarity|ws|socketio');
  if (!o.url) throw new Error('--url http://127.0.0.1:PORT');
  o.label = o.label || o.target;
  return o;
}

const opts = parseArgs(process.argv);
const log = (...a) => console.error(`[${opts.label}]`, ...a);
const SEND_GRACE_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- server process figures (/proc)

function rssKb(pid) {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

const clockTicks = 100; // USER_HZ on Linux
function cpuSeconds(pid) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks; // utime + stime
  } catch { return null; }
}

function selfCpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// ---------------------------------------------------------------- HTTP (Clarity only)

let agent = null; // keep-alive, one socket per request in flight (set up in main)

function request(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request(opts.url + path, {
      method, agent,
      headers: { ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}), ...headers },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function claritySetup() {
  const email = 'owner@bench.example';
  const password = 'bench-password-123';
  const setup = await request('POST', '/api/v1/setup', { org: opts.org, orgName: 'Bench', email, password });
  if (setup.status !== 201 && setup.status !== 409) throw new Error(`setup: ${setup.status} ${setup.body}`);
  const login = await request('POST', '/api/v1/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`);
  const token = JSON.parse(login.body).token;
  const key = await request('POST', `/api/v1/orgs/${opts.org}/api-keys`, { name: 'fanout', role: 'member' },
    { authorization: `Bearer ${token}` });
  if (key.status !== 201) throw new Error(`api key: ${key.status} ${key.body}`);
  return JSON.parse(key.body).secret;
}

// ---------------------------------------------------------------- bookkeeping

class Samples {
  constructor() { this.chunks = [new Float64Array(1 << 16)]; this.n = 0; this.pos = 0; }
  push(x) {
    let c = this.chunks[this.chunks.length - 1];
    if (this.pos === c.length) { c = new Float64Array(Math.min(c.length * 2, 1 << 22)); this.chunks.push(c); this.pos = 0; }
    c[this.pos++] = x; this.n++;
  }
  sorted() {
    const all = new Float64Array(this.n);
    let off = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      const c = i === this.chunks.length - 1 ? this.chunks[i].subarray(0, this.pos) : this.chunks[i];
      all.set(c, off); off += c.length;
    }
    return all.sort();
  }
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

// One entry per step; index -1 = warm-up (not reported).
const steps = new Map();
function newStep(index, rate) {
  const s = {
    index, rate, start: 0, end: 0, deadline: Infinity, sent: 0, failed: 0, expectedPerEvent: 0,
    delivered: 0, late: 0, latencies: new Samples(), dropped: 0, publishLatencies: new Samples(),
  };
  steps.set(index, s);
  return s;
}

// Event identity (taskId, or the peers' synthetic id) → { step, sentAt } once its send time is known.
const events = new Map();
// Clarity only: receipts whose taskId arrived before the POST's response: taskId → [receipt times].
const early = new Map();
let totalReceipts = 0;
let lastReceiptAt = 0;
let strayReceipts = 0;

function record(step, sentAt, at) {
  if (at <= step.deadline) {
    step.delivered++;
    step.latencies.push(at - sentAt);
  } else {
    step.late++;
  }
}

function onEvent(key, at) {
  totalReceipts++;
  lastReceiptAt = at;
  const e = events.get(key);
  if (e) { record(steps.get(e.step), e.sentAt, at); return; }
  if (opts.target === 'clarity') {
    const list = early.get(key);
    if (list) list.push(at); else early.set(key, [at]);
  } else {
    strayReceipts++;
  }
}

function sentKnown(key, stepIndex, sentAt) {
  events.set(key, { step: stepIndex, sentAt });
  const list = early.get(key);
  if (list) {
    early.delete(key);
    const step = steps.get(stepIndex);
    for (const at of list) record(step, sentAt, at);
  }
}

// ---------------------------------------------------------------- subscribers

let currentStep = null; // the step whose traffic is flowing (for counting dropped connections)

class Subscriber {
  constructor(i) { this.i = i; this.open = false; this.subscribed = false; }

  connect() {
    return new Promise((resolve, reject) => {
      const done = (err) => { if (this._settled) return; this._settled = true; err ? reject(err) : resolve(); };
      this._settled = false;
      const gen = this.gen = (this.gen || 0) + 1;
      const timer = setTimeout(() => done(new Error(`subscriber ${this.i}: no subscription within 30 s`)), 30000);
      const subscribed = () => { clearTimeout(timer); this.subscribed = true; done(); };
      const lost = (why) => {
        if (gen !== this.gen) return; // a late callback of an earlier connection
        clearTimeout(timer);
        if (this.subscribed && currentStep) currentStep.dropped++;
        this.open = false; this.subscribed = false;
        done(new Error(`subscriber ${this.i}: ${why}`));
      };
      if (opts.target === 'socketio') {
        const s = ioClient(opts.url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 30000 });
        this.socket = s;
        s.on('connect', () => { this.open = true; s.emit('subscribe', ['tasks'], () => subscribed()); });
        s.on('event', (msg) => { const at = performance.now(); onEvent(msg.data.taskId, at); });
        s.on('connect_error', (e) => lost(`connect error ${e.message}`));
        s.on('disconnect', (r) => lost(`disconnected (${r})`));
        return;
      }
      const path = opts.target === 'clarity' ? `/api/v1/orgs/${opts.org}/stream` : '/';
      const headers = opts.target === 'clarity' ? { authorization: `Bearer ${opts.key}` } : {};
      const ws = new WebSocket(opts.url.replace(/^http/, 'ws') + path, { headers, perMessageDeflate: false });
      this.socket = ws;
      ws.on('open', () => { this.open = true; ws.send('{"type":"subscribe","topics":["tasks"]}'); });
      ws.on('message', (data) => {
        const at = performance.now();
        const msg = JSON.parse(data.toString());
        if (msg.type === 'event') onEvent(msg.data.taskId, at);
        else if (msg.type === 'subscribed') subscribed();
        else if (msg.type === 'resync') resyncs++;
        else if (msg.type === 'error') log(`subscriber ${this.i}: error frame ${data}`);
      });
      ws.on('unexpected-response', (_req, res) => lost(`upgrade answered ${res.statusCode}`));
      ws.on('error', (e) => lost(`error ${e.message}`));
      ws.on('close', (code) => lost(`closed (${code})`));
    });
  }

  close() {
    if (!this.socket) return;
    this.subscribed = false;
    if (opts.target === 'socketio') this.socket.close(); else this.socket.terminate();
  }
}
let resyncs = 0;

async function connectAll(subs) {
  const todo = subs.filter((s) => !s.subscribed);
  for (let i = 0; i < todo.length; i += opts.connectBatch) {
    await Promise.all(todo.slice(i, i + opts.connectBatch).map((s) => s.connect()));
  }
  return todo.length;
}

// ---------------------------------------------------------------- publishers

let inFlight = 0;
let eventSeq = 0;
const publisher = {};

async function openPublisher() {
  if (opts.target === 'ws') {
    const ws = new WebSocket(opts.url.replace(/^http/, 'ws') + '/', { perMessageDeflate: false });
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    publisher.send = (text) => ws.send(text);
    publisher.close = () => ws.terminate();
  } else if (opts.target === 'socketio') {
    const s = ioClient(opts.url, { transports: ['websocket'], forceNew: true, reconnection: false });
    await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
    publisher.send = (obj) => s.emit('publish', obj);
    publisher.close = () => s.close();
  }
}

const hex = (n, width) => n.toString(16).padStart(width, '0');

// The peers' publication: shaped and sized like Clarity's `task` envelope, with a unique id as its taskId.
function peerEnvelope(seq) {
  const taskId = `0196${hex(seq, 4).slice(-4)}-0000-7000-8000-${hex(seq, 12)}`;
  return {
    taskId,
    message: {
      type: 'event', id: seq, topic: 'tasks', event: 'task', at: new Date().toISOString(),
      correlationId: hex(seq, 32), data: { taskId, queue: 'default', status: 'queued' },
    },
  };
}

const taskPath = () => `/api/v1/orgs/${opts.org}/tasks`;

function publishOne(step) {
  const seq = ++eventSeq;
  if (opts.target === 'clarity') {
    const body = `{"title":"fanout ${seq}","queue":"default"}`;
    inFlight++;
    const sentAt = performance.now();
    request('POST', taskPath(), body, { authorization: `Bearer ${opts.key}` }).then((res) => {
      inFlight--;
      step.publishLatencies.push(performance.now() - sentAt);
      if (res.status !== 201) { step.failed++; if (step.failed <= 3) log(`create task: ${res.status} ${res.body}`); return; }
      sentKnown(JSON.parse(res.body).id, step.index, sentAt);
    }, (err) => { inFlight--; step.failed++; if (step.failed <= 3) log(`create task: ${err.message}`); });
  } else {
    const { taskId, message } = peerEnvelope(seq);
    const payload = opts.target === 'ws' ? JSON.stringify(message) : message;
    const sentAt = performance.now();
    events.set(taskId, { step: step.index, sentAt });
    publisher.send(payload);
  }
  step.sent++;
}

// Offers `rate` events/s for `seconds`: event i is due at start + i/rate; a 1 ms timer sends whatever is due
// (Clarity: at most `concurrency` requests in flight; what cannot go out by the end of the step is not offered).
async function runStep(step, seconds, subscriberCount) {
  step.expectedPerEvent = subscriberCount;
  step.start = performance.now();
  step.end = step.start + seconds * 1000;
  step.deadline = step.end + opts.drain * 1000;
  currentStep = step;
  const total = Math.round(step.rate * seconds);
  const cpu0 = cpuSeconds(opts.serverPid);
  const self0 = selfCpuSeconds();
  const receipts0 = totalReceipts;
  // How late this process's own event loop ran during the step: every receipt and response waits that long too.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  let i = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Events due before the end that a late timer has not sent yet still go out (a short grace for timer slip).
      if (i >= total || now >= step.end + SEND_GRACE_MS) { resolve(); return; }
      const due = Math.min(total, Math.floor(((now - step.start) / 1000) * step.rate) + 1);
      while (i < due && (opts.target !== 'clarity' || inFlight < opts.concurrency)) { publishOne(step); i++; }
      setTimeout(tick, 1);
    };
    tick();
  });
  const sendEnd = performance.now();
  step.sendSeconds = (sendEnd - step.start) / 1000;
  // Drain: receipts of this step's events still count until the deadline.
  while (performance.now() < step.deadline) await sleep(20);
  loopDelay.disable();
  step.loopDelayP50Ms = loopDelay.percentile(50) / 1e6;
  step.loopDelayP99Ms = loopDelay.percentile(99) / 1e6;
  step.cpuServer = cpu0 == null ? null : (cpuSeconds(opts.serverPid) - cpu0);
  step.cpuHarness = selfCpuSeconds() - self0;
  step.wallSeconds = (performance.now() - step.start) / 1000;
  step.receiptsInWindow = totalReceipts - receipts0;
  step.rssKb = rssKb(opts.serverPid);
  currentStep = null;
  // Settle before the next step: every request answered and no receipt for 500 ms (or give up after --settle s),
  // so that a backlog from this step does not land in the next one.
  const settleUntil = performance.now() + opts.settle * 1000;
  while (performance.now() < settleUntil && (inFlight > 0 || performance.now() - lastReceiptAt < 500)) await sleep(50);
  step.backlogClearedMs = performance.now() - step.deadline;
  step.unsettled = inFlight > 0 || performance.now() - lastReceiptAt < 500;
}

function summarize(step, memory) {
  const sorted = step.latencies.sorted();
  const publish = step.publishLatencies.sorted();
  const seconds = (step.end - step.start) / 1000;
  const expected = step.sent * step.expectedPerEvent;
  const r = (x, d = 1) => (x == null ? null : Number(x.toFixed(d)));
  return {
    benchmark: 'fanout', target: opts.label, clients: step.expectedPerEvent, step: step.index + 1,
    offered: step.rate, sentPerSecond: r(step.sent / seconds), failedPublishes: step.failed,
    deliveredPerSecond: r(step.delivered / seconds, 0), expectedPerSecond: r(expected / seconds, 0),
    p50Ms: r(quantile(sorted, 0.5), 2), p99Ms: r(quantile(sorted, 0.99), 2), maxMs: r(sorted.length ? sorted[sorted.length - 1] : null, 2),
    createP50Ms: r(quantile(publish, 0.5), 2), createP99Ms: r(quantile(publish, 0.99), 2),
    harnessLoopDelayP50Ms: r(step.loopDelayP50Ms, 2), harnessLoopDelayP99Ms: r(step.loopDelayP99Ms, 2),
    missing: expected - step.delivered, late: step.late, droppedConnections: step.dropped,
    serverCpuPercent: step.cpuServer == null ? null : r((100 * step.cpuServer) / step.wallSeconds, 0),
    harnessCpuPercent: r((100 * step.cpuHarness) / step.wallSeconds, 0),
    serverCpuUsPerDelivery: step.cpuServer == null || step.receiptsInWindow === 0 ? null : r((1e6 * step.cpuServer) / step.receiptsInWindow, 2),
    harnessCpuUsPerDelivery: step.receiptsInWindow === 0 ? null : r((1e6 * step.cpuHarness) / step.receiptsInWindow, 2),
    serverRssMb: step.rssKb == null ? null : r(step.rssKb / 1024),
    rssBeforeMb: memory.before == null ? null : r(memory.before / 1024),
    rssConnectedMb: memory.connected == null ? null : r(memory.connected / 1024),
    mbPer1000Connections: memory.perConnectionKb == null ? null : r(memory.perConnectionKb * 1000 / 1024, 1),
    kbPerConnection: memory.perConnectionKb == null ? null : r(memory.perConnectionKb, 1),
    durationSeconds: seconds, drainSeconds: opts.drain, backlogClearedMs: r(step.backlogClearedMs, 0), unsettled: step.unsettled,
  };
}

async function main() {
  agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  if (opts.target === 'clarity' && opts.setup) opts.key = await claritySetup();
  if (opts.target === 'clarity' && !opts.key) throw new Error('Clarity needs --key <api key> or --setup');
  if (opts.target !== 'clarity') await openPublisher();

  await sleep(1000);
  const memory = { before: rssKb(opts.serverPid) };
  const t0 = performance.now();
  const subs = Array.from({ length: opts.clients }, (_, i) => new Subscriber(i));
  await connectAll(subs);
  log(`${opts.clients} subscribers connected and subscribed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(1000);
  memory.connected = rssKb(opts.serverPid);
  memory.perConnectionKb = memory.before != null && memory.connected != null ? (memory.connected - memory.before) / opts.clients : null;
  if (memory.before != null) {
    log(`server RSS ${(memory.before / 1024).toFixed(1)} MB before, ${(memory.connected / 1024).toFixed(1)} MB with ${opts.clients} subscribers`);
  }

  if (opts.warmup > 0) {
    log(`warm-up: ${opts.warmup} s at ${opts.rates[0]} events/s (not reported)`);
    await runStep(newStep(-1, opts.rates[0]), opts.warmup, opts.clients);
    const reconnected = await connectAll(subs);
    if (reconnected) log(`reconnected ${reconnected} subscribers after the warm-up`);
  }

  const results = [];
  for (let k = 0; k < opts.rates.length; k++) {
    const step = newStep(k, opts.rates[k]);
    const live = subs.filter((s) => s.subscribed).length;
    await runStep(step, opts.duration, live);
    const result = summarize(step, memory);
    results.push(result);
    const line = JSON.stringify(result);
    console.log(line);
    if (opts.out) fs.appendFileSync(opts.out, line + '\n');
    log(`offered ${result.offered}/s (sent ${result.sentPerSecond}/s): delivered ${result.deliveredPerSecond}/s of ${result.expectedPerSecond}/s, ` +
      `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms, missing ${result.missing}, dropped ${result.droppedConnections}, ` +
      `server CPU ${result.serverCpuPercent}%, harness CPU ${result.harnessCpuPercent}%, harness event-loop delay p50 ${result.harnessLoopDelayP50Ms} ms, p99 ${result.harnessLoopDelayP99Ms} ms` +
      (result.createP50Ms != null ? `; create request p50 ${result.createP50Ms} ms, p99 ${result.createP99Ms} ms` : ''));
    if (k + 1 < opts.rates.length) {
      const reconnected = await connectAll(subs);
      if (reconnected) log(`reconnected ${reconnected} subscribers dropped during the step`);
    }
  }
  if (strayReceipts) log(`${strayReceipts} receipts of unknown events`);
  if (early.size) log(`${early.size} Clarity events never matched a create response`);
  for (const s of subs) s.close();
  if (publisher.close) publisher.close();
  agent.destroy();
  return results;
}

main().then(() => process.exit(0), (err) => { log(err.stack || String(err)); process.exit(1); });
