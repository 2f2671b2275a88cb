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
  // stop() waits for the last completions to reach the database, so the time includes them.
  await runner.stop();
  const completeSeconds = Number(process.hrtime.bigint() - completeStarted) / 1e9;
  const left = await utils.withPgClient((client) => client.query("SELECT count(*)::int AS n FROM graphile_worker.jobs"));
  await utils.release();
  if (left.rows[0].n !== 0) {
    throw new Error(`${left.rows[0].n} jobs are still in the queue after the worker stopped`);
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
