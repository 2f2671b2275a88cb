'use strict';
// Starting and stopping the servers under test as their own processes, and Clarity's first-run setup over HTTP.
// Shared by fanout.js and logtail.js.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

async function waitForHttp(url, child, seconds) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    if (child.exitCode != null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch { await sleep(200); }
  }
  throw new Error(`${url} did not answer within ${seconds} s`);
}

/**
 * Starts one server: kind 'clarity' (`dotnet <dll> serve` on a fresh SQLite data folder, or on `database` when given),
 * 'ws' or 'socketio' (the peers in this folder). Its output goes to `logPath`. Returns { child, port, url }.
 */
async function startServer(kind, { clarityDll, database, logPath } = {}) {
  const port = await freePort();
  let child; let dataDir = null;
  if (kind === 'clarity') {
    if (!clarityDll) throw new Error('--clarity-dll is required for Clarity');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clarity-bench-data-'));
    const args = [clarityDll, 'serve', '--urls', `http://127.0.0.1:${port}`, '--data', dataDir];
    if (database) args.push('--database', database);
    child = spawn('dotnet', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, Logging__LogLevel__Default: 'Warning' } });
  } else {
    const script = { ws: 'ws-server.js', socketio: 'socketio-server.js' }[kind];
    if (!script) throw new Error(`unknown server ${kind}`);
    child = spawn(process.execPath, [path.join(__dirname, script), '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  if (logPath) {
    const logFile = fs.createWriteStream(logPath);
    child.stdout.pipe(logFile); child.stderr.pipe(logFile);
  } else {
    child.stdout.resume(); child.stderr.resume();
  }
  const url = `http://127.0.0.1:${port}`;
  const probe = { clarity: '/api/v1/setup', ws: '/', socketio: '/socket.io/?EIO=4&transport=polling' }[kind];
  try {
    await waitForHttp(url + probe, child, 90);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { kind, child, port, url, dataDir };
}

async function stopServer(server) {
  const { child } = server;
  if (child.exitCode == null && child.signalCode == null) {
    child.kill('SIGTERM');
    const until = Date.now() + 10000;
    while (child.exitCode == null && child.signalCode == null && Date.now() < until) await sleep(100);
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL');
  }
  if (server.dataDir) fs.rmSync(server.dataDir, { recursive: true, force: true });
}

async function api(url, method, pathAndQuery, body, token) {
  const res = await fetch(url + pathAndQuery, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text, json: () => JSON.parse(text) };
}

/** First-run setup (org `org`), the owner's sign-in: returns { token, cookie } (cookie = the clarity_session value). */
async function claritySetup(url, org) {
  const email = 'owner@bench.example';
  const password = 'bench-password-123';
  const setup = await api(url, 'POST', '/api/v1/setup', { org, orgName: 'Bench', email, password });
  if (setup.status !== 201 && setup.status !== 409) throw new Error(`setup: ${setup.status} ${setup.body}`);
  const login = await api(url, 'POST', '/api/v1/auth/login', { email, password });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`);
  const setCookie = login.headers.get('set-cookie') || '';
  const m = /clarity_session=([^;]+)/.exec(setCookie);
  return { token: login.json().token, cookie: m ? m[1] : login.json().token };
}

module.exports = { sleep, freePort, startServer, stopServer, api, claritySetup };
