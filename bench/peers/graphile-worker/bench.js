// Peer benchmark for docs/benchmarks.md: graphile-worker on the same PostgreSQL as Clarity's run.
//
//   node bench.js <connection string> [jobs] [concurrency]
//
// Phase 1 (add): `jobs` jobs are added through WorkerUtils.addJob, `concurrency` (16) at a time.
// Phase 2 (complete): a worker with the same concurrency runs a no-op task until every job has completed.
// Prints one JSON line with jobs/s for each phase, so bench/run.sh and the Clarity harness can read it.
"use strict";

const { makeWorkerUtils, run, Logger } = require("graphile-worker");

const connectionString = process.argv[2] || process.env.GW_DATABASE;
const jobs = Number(process.argv[3] || 20000);
const concurrency = Number(process.argv[4] || 16);
if (!connectionString) {
  console.error("usage: node bench.js <postgres connection string> [jobs] [concurrency]");
  process.exit(2);
}

const silent = new Logger(() => () => {});

async function main() {
  const utils = await makeWorkerUtils({ connectionString, logger: silent });
  await utils.migrate();

  // Phase 1: add jobs, `concurrency` in flight at a time.
  let next = 0;
  const addStarted = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const i = next++;
        await utils.addJob("bench", { i, title: `job ${i}` });
      }
    }),
  );
  const addSeconds = Number(process.hrtime.bigint() - addStarted) / 1e9;

  // Phase 2: one worker, `concurrency` jobs at a time, completes them all.
  let done = 0;
  let resolveDone;
  const allDone = new Promise((resolve) => (resolveDone = resolve));
  const completeStarted = process.hrtime.bigint();
  const runner = await run({
    connectionString,
    concurrency,
    logger: silent,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList: {
      bench: async () => {
        // a no-op job: the measurement is the queue's own cost
      },
    },
  });
  runner.events.on("job:complete", () => {
    done++;
    if (done >= jobs) resolveDone();
  });
  await allDone;
  // job:complete fires as the worker finishes a job; the completion reaches the database just after. Count the
  // phase as done when the jobs table is empty (the worker still running), so the time includes every completion.
  const remaining = () =>
    utils.withPgClient((client) => client.query("SELECT count(*)::int AS n FROM graphile_worker.jobs")).then((r) => r.rows[0].n);
  let left = await remaining();
  const deadline = Date.now() + 60_000;
  while (left > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    left = await remaining();
  }
  const completeSeconds = Number(process.hrtime.bigint() - completeStarted) / 1e9;
  await runner.stop();
  await utils.release();
  if (left !== 0) {
    throw new Error(`${left} jobs are still in the queue 60 s after the last job:complete`);
  }

  const version = require("graphile-worker/package.json").version;
  console.log(
    JSON.stringify({
      peer: "graphile-worker",
      version,
      node: process.version,
      jobs,
      concurrency,
      addSeconds,
      addPerSecond: jobs / addSeconds,
      completeSeconds,
      completePerSecond: jobs / completeSeconds,
      endToEndPerSecond: jobs / (addSeconds + completeSeconds),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
