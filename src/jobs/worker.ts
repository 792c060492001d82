/**
 * Long-running workers: `custctl worker` and the embedded worker of `serve`, on the file journal
 * or on BullMQ, and their log lines. What a job's end means is the lifecycle's (src/jobs/lifecycle.ts).
 */
import { isLeased } from '../adapters/queue.js';
import { OperationError } from '../errors.js';
import type { Logger } from '../io.js';
import type { BackupEnv } from '../adapters/backup-target.js';
import { runWorker, type RunnerEvent, type WorkerSummary } from './runner.js';
import { JOB_TTL_MS, LEASE_MS, type JobsEnv } from './jobs-env.js';
import { makeProcessor, settle } from './kinds/index.js';
import { runnerEvents } from './lifecycle.js';

/** What a long-running worker needs of its process besides the jobs environment (the caller's `Deps` is one). */
export interface WorkerProcess {
  log: Logger;
  /** `pid@host`, the name this process uses in leases */
  worker: string;
  /** abortable sleep (polling) */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Ctrl-C / SIGTERM: stop taking jobs, hand running ones back (file journal) or finish them (BullMQ) */
  shutdown: AbortSignal;
  /** the process environment (the backup targets' credentials, for the automatic erasure) */
  env: BackupEnv;
}

/** The log lines of a worker (`custctl worker`, the embedded worker of `serve`). */
export function workerEvents(d: { log: Logger }): (e: RunnerEvent) => void {
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
export function startErasureLoop(d: WorkerProcess, env: JobsEnv): Promise<void> {
  if (env.config.eraseAfterMs <= 0) return Promise.resolve();
  return (async () => {
    const [{ eraseEnvOf, runErasureLoop }, { openBackupTarget }] = await Promise.all([import('./erase.js'), import('../adapters/backup-target.js')]);
    const eraseEnv = eraseEnvOf(env, { openTarget: (u) => openBackupTarget(u, d.env), log: (level, m, f) => d.log[level](m, f), signal: d.shutdown });
    await runErasureLoop(eraseEnv, { afterMs: env.config.eraseAfterMs, actor: `custctl (automatic erasure, ${d.worker})`, sleep: d.sleep, signal: d.shutdown });
  })().catch((e: unknown) => d.log.error(`Automatic erasure stopped: ${(e as Error).message}`));
}

/**
 * Works the file journal: prunes old jobs, settles failed deletions whose worker died on their
 * last attempt, then runs due jobs until nothing is due (`once`) or `d.shutdown`.
 */
export async function runFileWorker(d: WorkerProcess, env: JobsEnv, o: { concurrency: number; once: boolean }): Promise<WorkerSummary> {
  const queue = env.queue;
  if (!isLeased(queue)) throw new OperationError(`the ${queue.kind} queue is worked by its own workers`);
  const pruned = await queue.prune(env.now() - JOB_TTL_MS).catch(() => 0);
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
 * `env.queue` is the process's queue (src/jobs/backends.ts: BullMQ on Redis or on PostgreSQL),
 * closed with the process.
 */
export async function runBullWorkerCommand(d: WorkerProcess, env: JobsEnv, o: { concurrency: number }): Promise<WorkerSummary> {
  const { BullQueue, MAX_STALLED_COUNT } = await import('../adapters/bullmq-queue.js');
  const { runBullWorker } = await import('./bullmq-worker.js');
  const queue = env.queue;
  if (!(queue instanceof BullQueue)) throw new OperationError(`the queue is ${queue.kind}, not BullMQ`);
  {
    env.notices?.startReminders(d.shutdown); // deletion reminders to the customer (src/jobs/customer-notices.ts)
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
