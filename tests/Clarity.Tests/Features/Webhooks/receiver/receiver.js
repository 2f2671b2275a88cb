// A webhook receiver on loopback for the tests. Every delivery is verified with the Standard Webhooks reference
// implementation (npm standardwebhooks), not with Clarity's own code.
//
//   node receiver.js            listens on 127.0.0.1 on a free port and prints {"port": N} on its first line
//
// Hooks are named by the path: POST /hooks/{name}. The test configures each name first:
//   PUT  /_config/{name}  {"secrets": ["whsec_…", …], "failFirst": 0, "status": 204, "hang": false}
//     secrets:   each is tried on its own; a delivery is accepted when the first one verifies
//     failFirst: answer 503 to the first N deliveries
//     hang:      accept the request and never answer (a dead receiver)
//   GET  /_log/{name}     every delivery seen: {webhookId, timestamp, verified: [per secret], error, status, body, headers}
//   POST /_verify/{name}  {"headers": {…}, "body": "…", "shiftSeconds": 600} verifies a captured delivery again as if it
//                         arrived shiftSeconds later: {"verified": [per secret], "errors": [per secret]}
"use strict";
const http = require("node:http");
const { Webhook } = require("standardwebhooks");

const hooks = new Map();

function hookOf(name) {
  if (!hooks.has(name)) {
    hooks.set(name, { secrets: [], failFirst: 0, status: 204, hang: false, seen: 0, log: [] });
  }
  return hooks.get(name);
}

function verifyAll(secrets, body, headers, shiftSeconds) {
  const realNow = Date.now;
  if (shiftSeconds) {
    Date.now = () => realNow() + shiftSeconds * 1000;
  }
  try {
    const verified = [];
    const errors = [];
    for (const secret of secrets) {
      try {
        new Webhook(secret).verify(body, headers);
        verified.push(true);
        errors.push(null);
      } catch (e) {
        verified.push(false);
        errors.push(String(e.message || e));
      }
    }
    return { verified, errors };
  } finally {
    Date.now = realNow;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function json(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

const server = http.createServer(async (req, res) => {
  const [, kind, name] = req.url.split("/");
  const body = await readBody(req);
  if (kind === "_config" && req.method === "PUT") {
    const hook = hookOf(name);
    Object.assign(hook, JSON.parse(body));
    return json(res, 200, { ok: true });
  }
  if (kind === "_log" && req.method === "GET") {
    return json(res, 200, hookOf(name).log);
  }
  if (kind === "_verify" && req.method === "POST") {
    const request = JSON.parse(body);
    return json(res, 200, verifyAll(hookOf(name).secrets, request.body, request.headers, request.shiftSeconds || 0));
  }
  if (kind === "hooks" && req.method === "POST") {
    const hook = hookOf(name);
    hook.seen++;
    const headers = {
      "webhook-id": req.headers["webhook-id"],
      "webhook-timestamp": req.headers["webhook-timestamp"],
      "webhook-signature": req.headers["webhook-signature"],
    };
    const { verified, errors } = verifyAll(hook.secrets, body, headers, 0);
    const entry = { webhookId: headers["webhook-id"], timestamp: headers["webhook-timestamp"], verified, errors, headers, body };
    if (hook.hang) {
      entry.status = 0;
      hook.log.push(entry);
      return; // never answers
    }
    let status = hook.status;
    if (!verified.some((v) => v)) {
      status = 401;
    } else if (hook.seen <= hook.failFirst) {
      status = 503;
    }
    entry.status = status;
    hook.log.push(entry);
    res.writeHead(status, { "content-type": "text/plain" });
    return res.end(status < 300 ? "" : "refused: " + (errors.find((e) => e) || "try again"));
  }
  json(res, 404, { error: "no such route" });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
