/**
 * Queue backends side by side, same run: the file journal, BullMQ on Redis, BullMQ on PostgreSQL.
 * Starts its own redis-server and PostgreSQL 15 (test/env/*) on 127.0.0.1 unless given URLs.
 *
 *   npm run bench:queues                       # builds, starts the servers, prints markdown
 *   BENCH_QUEUE_JOBS=1000 BENCH_QUEUE_WORKERS=3 BENCH_QUEUE_CONCURRENCY=4 npm run bench:queues
 *   BENCH_QUEUE_ONLY=postgres,redis npm run bench:queues
 *
 * What it measures, per backend (in one process: the workers are separate queue objects with
 * their own connections, as separate `custctl worker` processes would have, on one event loop):
 *   1. enqueue: allocate an id and add a job, one after the other (how custctl submits), jobs/s;
 *   2. claim: N waiting jobs, W workers × C concurrency, a processor that returns at once, from
 *      start to the last completion recorded, jobs/s;
 *   3. simulated deletions: 100 jobs whose processor takes 20 ms, through 3 workers of
 *      concurrency 1: the wall time next to the ideal (100 × 20 ms / 3).
 * `queueBenchSection` is exported for bench/run.ts (a section entry there adds it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BullQueue } from '../src/adapters/bullmq-queue.js';
import { RedisBullBackend, redisConnectionFrom } from '../src/adapters/bullmq-redis.js';
import { migratePostgresQueue, openPostgresBullQueue, type PostgresQueueTarget } from '../src/adapters/bullmq-postgres.js';
import { openFileJournal } from '../src/adapters/file-journal.js';
import type { JobQueue, LeasedQueue, Processor } from '../src/adapters/queue.js';
import type { NewJob } from '../src/domain/job.js';
import { runBullWorker } from '../src/jobs/bullmq-worker.js';
import { runWorker, type RunnerEvent } from '../src/jobs/runner.js';
import { startPostgres } from '../test/env/postgres.js';
import { startRedis } from '../test/env/redis.js';

export type QueueArm = 'file' | 'redis' | 'postgres';

export interface QueueBenchOptions {
  arms: QueueArm[];
  jobs: number;
  workers: number;
  concurrency: number;
  redisUrl: string;
  postgresUrl: string;
  /** for the file journal */
  tmpDir: string;
  log?: (msg: string) => void;
}

interface ArmResult {
  arm: QueueArm;
  enqueuePerSec: number;
  claimPerSec: number;
  simulatedMs: number;
}

/** One backend's queues on one storage: `open()` gives another queue object on it (another "process"). */
interface Arm {
  open(): Promise<JobQueue>;
  /** runs a worker until `signal`; `onCompleted` for each completed job */
  work(q: JobQueue, processor: Processor, concurrency: number, signal: AbortSignal, onCompleted: () => void): Promise<unknown>;
  cleanup(): Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

function job(i: number): NewJob {
  return {
    name: 'delete',
    data: { customerId: `cust_bench${i}`, namespace: `customer-bench${i}` },
    opts: { attempts: 1, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 60_000 },
    requestedBy: 'bench',
    simulated: true,
  };
}

async function makeArm(arm: QueueArm, o: QueueBenchOptions): Promise<Arm> {
  const completedOn = (onCompleted: () => void) => (e: RunnerEvent) => { if (e.type === 'completed') onCompleted(); };
  if (arm === 'file') {
    const dir = await mkdtemp(path.join(o.tmpDir, 'custctl-bench-journal-'));
    let n = 0;
    return {
      open: async () => openFileJournal({ dir, worker: `bench-${++n}@local` }),
      work: (q, processor, concurrency, signal, onCompleted) => runWorker(q as LeasedQueue, processor, {
        worker: `bench-w${++n}`, concurrency, once: false, pollMs: 50, leaseMs: 60_000, now: Date.now, sleep, signal, onEvent: completedOn(onCompleted),
      }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (arm === 'redis') {
    const prefix = `bench${randomBytes(4).toString('hex')}`;
    const opened: BullQueue[] = [];
    return {
      open: async () => {
        const q = new BullQueue(new RedisBullBackend(redisConnectionFrom({ REDIS_URL: o.redisUrl }), prefix));
        opened.push(q);
        return q;
      },
      work: (q, processor, concurrency, signal, onCompleted) => runBullWorker({ queue: q as BullQueue, processor, concurrency, signal, worker: 'bench', onEvent: completedOn(onCompleted) }),
      cleanup: async () => {
        await opened[0]?.queue.obliterate({ force: true }).catch(() => undefined);
        for (const q of opened.splice(0)) await q.close().catch(() => undefined);
      },
    };
  }
  const target: PostgresQueueTarget = { pool: { connectionString: o.postgresUrl }, schema: `bench_${randomBytes(4).toString('hex')}`, where: 'bench' };
  await migratePostgresQueue(target);
  const opened: BullQueue[] = [];
  return {
    open: async () => {
      const q = await openPostgresBullQueue(target);
      opened.push(q);
      return q;
    },
    work: (q, processor, concurrency, signal, onCompleted) => runBullWorker({ queue: q as BullQueue, processor, concurrency, signal, worker: 'bench', onEvent: completedOn(onCompleted) }),
    cleanup: async () => {
      for (const q of opened.splice(0)) await q.close().catch(() => undefined);
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: o.postgresUrl });
      await c.connect();
      await c.query(`drop schema if exists "${target.schema}" cascade`).finally(() => c.end());
    },
  };
}

/** Runs `count` jobs through `workers` workers; resolves with the ms from start to the last completion. */
async function drain(a: Arm, count: number, workers: number, concurrency: number, processor: Processor): Promise<number> {
  const queues = await Promise.all(Array.from({ length: workers }, () => a.open()));
  const stop = new AbortController();
  let done = 0;
  let finish = () => undefined as void;
  const all = new Promise<void>((r) => { finish = r; });
  const t0 = performance.now();
  const running = queues.map((q) => a.work(q, processor, concurrency, stop.signal, () => { done += 1; if (done >= count) finish(); }));
  const timeout = setTimeout(finish, 600_000);
  await all;
  const ms = performance.now() - t0;
  clearTimeout(timeout);
  stop.abort();
  await Promise.all(running.map((p) => p.catch(() => undefined)));
  for (const q of queues) await q.close().catch(() => undefined);
  if (done < count) throw new Error(`only ${done} of ${count} jobs completed in 10 minutes`);
  return ms;
}

async function benchArm(arm: QueueArm, o: QueueBenchOptions): Promise<ArmResult> {
  const log = o.log ?? (() => undefined);
  const a = await makeArm(arm, o);
  try {
    const q = await a.open();
    log(`${arm}: enqueue ${o.jobs}`);
    const t0 = performance.now();
    for (let i = 0; i < o.jobs; i++) await q.add(await q.allocateId(), job(i), Date.now());
    const enqueueMs = performance.now() - t0;
    log(`${arm}: claim ${o.jobs} with ${o.workers}×${o.concurrency}`);
    const claimMs = await drain(a, o.jobs, o.workers, o.concurrency, async () => ({ outcome: 'deleted' }));
    log(`${arm}: 100 simulated deletions of 20 ms through 3 workers`);
    for (let i = 0; i < 100; i++) await q.add(await q.allocateId(), job(i), Date.now());
    const simulatedMs = await drain(a, 100, 3, 1, async () => { await sleep(20); return { outcome: 'deleted' }; });
    await q.close();
    return { arm, enqueuePerSec: (o.jobs / enqueueMs) * 1000, claimPerSec: (o.jobs / claimMs) * 1000, simulatedMs };
  } finally {
    await a.cleanup().catch(() => undefined);
  }
}

/** The markdown section: one row per backend. */
export async function runQueueBench(o: QueueBenchOptions): Promise<string> {
  const rows: ArmResult[] = [];
  for (const arm of o.arms) rows.push(await benchArm(arm, o));
  const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
  return [
    `### Queue backends (${o.jobs} jobs; claim: ${o.workers} workers × concurrency ${o.concurrency}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`,
    '',
    '| backend | enqueue (jobs/s) | claim + complete (jobs/s) | 100 × 20 ms through 3 workers (ms; ideal 667) |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.arm} | ${f0(r.enqueuePerSec)} | ${f0(r.claimPerSec)} | ${f0(r.simulatedMs)} |`),
    '',
  ].join('\n');
}

const intEnv = (name: string, def: number) => (process.env[name] && /^\d+$/.test(process.env[name] ?? '') ? Number(process.env[name]) : def);

/**
 * The section for bench/run.ts: the three backends with the BENCH_QUEUE_* settings, on the given
 * PostgreSQL (a fresh schema, dropped after) and a redis-server of its own in `runDir`. Wiring it
 * there: `import { queueBenchSection } from './queues.js'` and a section
 * `['queues', async (e) => { out.push(await queueBenchSection({ runDir: e.runDir, postgresUrl: e.postgres.url })); }]`.
 */
export async function queueBenchSection(o: { runDir: string; postgresUrl: string; log?: (msg: string) => void }): Promise<string> {
  const arms = (process.env.BENCH_QUEUE_ONLY ?? 'file,redis,postgres').split(',').map((s) => s.trim()).filter((s): s is QueueArm => s === 'file' || s === 'redis' || s === 'postgres');
  const redis = arms.includes('redis') ? await startRedis(o.runDir) : null;
  try {
    return await runQueueBench({
      arms, jobs: intEnv('BENCH_QUEUE_JOBS', 500), workers: intEnv('BENCH_QUEUE_WORKERS', 3), concurrency: intEnv('BENCH_QUEUE_CONCURRENCY', 4),
      redisUrl: redis?.url ?? '', postgresUrl: o.postgresUrl, tmpDir: o.runDir, ...(o.log ? { log: o.log } : {}),
    });
  } finally {
    await redis?.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const runDir = await mkdtemp(path.join(os.tmpdir(), 'custctl-bench-queues-'));
  const log = (msg: string) => process.stderr.write(`[bench queues ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
  const pgServer = await startPostgres(runDir);
  try {
    process.stdout.write(await queueBenchSection({ runDir, postgresUrl: pgServer.url, log }));
  } finally {
    await pgServer.stop().catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exit(1);
  });
}
