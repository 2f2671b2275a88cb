// Peer benchmark for docs/benchmarks.md: pg-boss on the same PostgreSQL as Clarity's run.
//
//   node bench.js <connection string> [jobs] [concurrency]
//
// Phase 1 (enqueue): `jobs` jobs are sent with PgBoss.send, one job per call, from `concurrency` (16) concurrent
// producers: the same shape as graphile-worker's addJob phase and Clarity's POST /tasks phase. (pg-boss also has a
// batch `insert`; it is not used, so every peer pays one commit per job.)
// Phase 2 (complete): `concurrency` concurrent workers loop PgBoss.fetch (one job) → PgBoss.complete until fetch
// finds nothing, the same claim loop as Clarity's checkout → complete. pg-boss's work() with batchSize 1 waits out
// its polling interval (at least 0.5 s) after every job, so it would measure the interval, not the queue.
// Prints one JSON line with jobs/s for each phase, so bench/run.sh and the Clarity harness can read it.
import { createRequire } from "node:module";
import { PgBoss } from "pg-boss";

const connectionString = process.argv[2] || process.env.PGBOSS_DATABASE;
const jobs = Number(process.argv[3] || 20000);
const concurrency = Number(process.argv[4] || 16);
if (!connectionString) {
  console.error("usage: node bench.js <postgres connection string> [jobs] [concurrency]");
  process.exit(2);
}

const queue = "bench";

async function main() {
  // One pooled connection per producer or worker, plus a few for pg-boss's own maintenance: the pool (10 by
  // default) must not be what limits 16 concurrent callers.
  const boss = new PgBoss({ connectionString, max: concurrency + 4, schedule: false });
  boss.on("error", (err) => console.error(err));
  await boss.start();
  await boss.createQueue(queue);

  // Phase 1: send jobs, `concurrency` in flight at a time.
  let next = 0;
  const addStarted = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const i = next++;
        await boss.send(queue, { i, title: `job ${i}` });
      }
    }),
  );
  const addSeconds = Number(process.hrtime.bigint() - addStarted) / 1e9;

  // Phase 2: `concurrency` workers fetch one job and complete it until the queue is empty. complete() returns once
  // its UPDATE has committed, so when every loop has ended, every completion is in the database.
  let done = 0;
  const completeStarted = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (true) {
        const [job] = await boss.fetch(queue);
        if (!job) break;
        // a no-op job: the measurement is the queue's own cost
        await boss.complete(queue, job.id);
        done++;
      }
    }),
  );
  const completeSeconds = Number(process.hrtime.bigint() - completeStarted) / 1e9;

  const { rows } = await boss
    .getDb()
    .executeSql("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'", [queue]);
  await boss.stop({ graceful: false, close: true });
  if (done !== jobs || rows[0].n !== jobs) {
    throw new Error(`pg-boss completed ${done} of ${jobs} jobs; ${rows[0].n} are completed in the database`);
  }

  const version = createRequire(import.meta.url)("pg-boss/package.json").version;
  console.log(
    JSON.stringify({
      peer: "pg-boss",
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
