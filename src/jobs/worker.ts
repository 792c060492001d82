/**
 * Long-running workers: `custctl worker` and the embedded worker of `serve`, on the file journal
 * or on BullMQ, and their log lines. What a job's end means is the lifecycle's (src/jobs/lifecycle.ts).
 */
import type { Deps } from '../deps.js';
import { isLeased } from '../adapters/queue.js';
import { OperationError } from '../errors.js';
import { runWorker, type RunnerEvent, type WorkerSummary } from './runner.js';
import { jobsEnv, LEASE_MS, RETENTION_MS, type JobsEnv } from './env.js';
import { makeProcessor, settle } from './kinds/index.js';
import { runnerEvents } from './lifecycle.js';

/** The log lines of a worker (`custctl worker`, the embedded worker of `serve`). */
export function workerEvents(d: Pick<Deps, 'log'>): (e: RunnerEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'attempt-started':
        d.log.info(`Job ${e.job.id} attempt ${e.attempt}/${e.job.maxAttempts} started`, { name: e.job.name, customerId: e.job.data.customerId, by: e.job.requestedBy });
        break;
      case 'attempt-failed':
        d.log.warn(`Job ${e.job.id} attempt ${e.attempt} failed; next try ${new Date(e.delayUntil).toISOString()}`, { error: e.error.split('\n')[0] });
        break;
      case 'failed':
        d.log.error(`Job ${e.job.id} failed`, { error: e.error.split('\n')[0] });
        break;
      case 'completed':
        d.log.ok(`Job ${e.job.id} completed${e.superseded ? ' (superseded: nothing touched)' : ''}`);
        break;
      case 'released':
        d.log.warn(`Job ${e.job.id} handed back (shutting down)`);
        break;
      case 'lease-lost':
        d.log.warn(`Job ${e.jobId}: lease lost to another worker`);
        break;
      default:
        break;
    }
  };
}

/** The automatic erasure beside a worker (CUSTCTL_ERASE_AFTER; nothing when unset), stopped with it. */
export function startErasureLoop(d: Pick<Deps, 'env' | 'log' | 'sleep' | 'shutdown' | 'worker'>, env: JobsEnv): Promise<void> {
  if (env.config.eraseAfterMs <= 0) return Promise.resolve();
  return (async () => {
    const [{ eraseEnvOf, runErasureLoop }, { openBackupTarget }] = await Promise.all([import('./erase.js'), import('../adapters/backup-target.js')]);
    const eraseEnv = eraseEnvOf(env, { openTarget: (u) => openBackupTarget(u, d.env), log: (level, m, f) => d.log.write(level, m, f), signal: d.shutdown });
    await runErasureLoop(eraseEnv, { afterMs: env.config.eraseAfterMs, actor: `custctl (automatic erasure, ${d.worker})`, sleep: d.sleep, signal: d.shutdown });
  })().catch((e: unknown) => d.log.error(`Automatic erasure stopped: ${(e as Error).message}`));
}

/**
 * Works the file journal: prunes old jobs, settles failed deletions whose worker died on their
 * last attempt, then runs due jobs until nothing is due (`once`) or `d.shutdown`.
 */
export async function runFileWorker(d: Deps, env: JobsEnv, o: { concurrency: number; once: boolean }): Promise<WorkerSummary> {
  const queue = env.queue;
  if (!isLeased(queue)) throw new OperationError(`the ${queue.kind} queue is worked by its own workers`);
  const pruned = await queue.prune(env.now() - RETENTION_MS).catch(() => 0);
  // repair: a failed job whose end was never settled (its worker died right after recording it)
  for (const j of await env.queue.list({ state: 'failed' })) await settle(env, j);
  d.log.info(`Worker ${d.worker} started`, { concurrency: o.concurrency, once: o.once || undefined, database: env.store.description, pruned: pruned || undefined });
  const erasing = o.once ? Promise.resolve() : startErasureLoop(d, env);
  const summary = await runWorker(queue, makeProcessor(env), {
    worker: d.worker,
    concurrency: o.concurrency,
    once: o.once,
    pollMs: 1_000,
    leaseMs: LEASE_MS,
    now: env.now,
    sleep: d.sleep,
    signal: d.shutdown,
    onEvent: runnerEvents(env, workerEvents(d)),
  });
  await erasing;
  d.log.info('Worker stopped', { ...summary });
  return summary;
}

/**
 * `custctl worker` on a BullMQ queue (Redis or PostgreSQL): BullMQ's Worker on the shared queue, with the same
 * processor; a job that fails for good (last attempt, final error, stalled too often) settles its
 * row to deletion_failed through the `failed` event. SIGTERM: no new jobs, running ones finish.
 */
export async function runBullWorkerCommand(d: Deps, o: { concurrency: number }): Promise<WorkerSummary> {
  const { BullQueue, MAX_STALLED_COUNT } = await import('../adapters/bullmq-queue.js');
  const { runBullWorker } = await import('./bullmq-worker.js');
  // the process's queue (src/jobs/backends.ts: BullMQ on Redis or on PostgreSQL), closed with the process
  const queue = await d.jobs();
  if (!(queue instanceof BullQueue)) throw new OperationError(`the queue is ${queue.kind}, not BullMQ`);
  {
    const env = await jobsEnv(d, { queue });
    d.log.info(`Worker ${d.worker} started on ${queue.description}`, { concurrency: o.concurrency, maxStalledCount: MAX_STALLED_COUNT, database: env.store.description });
    const erasing = startErasureLoop(d, env);
    const summary = await runBullWorker({
      queue,
      processor: makeProcessor(env),
      concurrency: o.concurrency,
      signal: d.shutdown,
      worker: d.worker,
      onEvent: runnerEvents(env, workerEvents(d)),
    });
    await erasing;
    d.log.info('Worker stopped', { ...summary });
    return summary;
  }
}
