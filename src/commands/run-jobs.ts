/** Running jobs from the CLI: the environment the processor needs, and an attached run with a live view. */
import type { Deps } from '../deps.js';
import { errorMessage, NotFoundError } from '../errors.js';
import { formatDuration } from '../domain/duration.js';
import { logToSink, makeProcessor, RETENTION_MS, settle, type JobsEnv } from '../jobs/service.js';
import type { Job } from '../queue/job.js';
import { runJobAttached, runWorker, type RunnerEvent, type WorkerSummary } from '../queue/runner.js';

export const LEASE_MS = 30_000;

export async function jobsEnv(d: Deps, extra: Partial<JobsEnv> = {}): Promise<JobsEnv> {
  return {
    queue: extra.queue ?? (await d.jobs()),
    store: extra.store ?? (await d.store()),
    config: d.config(),
    cluster: async () => {
      const kube = await d.kube();
      return { kube, helm: await d.helm(), target: kube.target };
    },
    now: () => d.now().getTime(),
    sink: logToSink(d.log),
    // loaded on first use: a cleanup-rbac job may be queued by serve and run by any worker
    cleanupProcessor: async (ctx) => (await import('./cleanup-rbac.js')).makeCleanupProcessor(d)(ctx),
    ...extra,
  };
}

/**
 * Runs `job` in this process until it completes or fails, waiting through the backoff with a
 * visible countdown. Ctrl-C leaves it delayed (or hands the running attempt back) and says how
 * to resume.
 */
export async function runAttached(d: Deps, env: JobsEnv, job: Job, opts: { status?: boolean } = {}): Promise<Job> {
  /** this job's progress on the status line; off when the caller shows a count over many jobs */
  const status = opts.status ?? true;
  const setStatus = (text: string | null) => {
    if (status) d.log.setStatus(text);
  };
  if (env.queue.kind !== 'file') {
    // BullMQ: the queue's workers run it (on any machine); this process follows it
    const { followJob } = await import('./remote.js');
    const queue = env.queue;
    const final = await followJob(d, { get: async (id) => (await queue.get(id)) ?? Promise.reject(new NotFoundError(`job ${id} not found`)), hint: '' }, job.id, job.data.customerId ?? job.name);
    await settle(env, final);
    return final;
  }
  await d.log.enableSpinner();
  let countdown: NodeJS.Timeout | undefined;
  const stopCountdown = () => {
    if (countdown) clearInterval(countdown);
    countdown = undefined;
  };
  const final = await runJobAttached(env.queue, job.id, makeProcessor(env), {
    worker: d.worker,
    leaseMs: LEASE_MS,
    now: env.now,
    sleep: d.sleep,
    signal: d.shutdown,
    onEvent: (e) => {
      switch (e.type) {
        case 'attempt-started':
          stopCountdown();
          setStatus(`${job.data.customerId ?? job.name}: attempt ${e.attempt}/${job.maxAttempts}`);
          break;
        case 'progress':
          setStatus(`${job.data.customerId ?? job.name}: ${e.progress}%`);
          break;
        case 'attempt-failed':
          setStatus(null);
          {
            const [first, ...rest] = e.error.split('\n');
            d.log.warn(`Attempt ${e.attempt} of ${job.maxAttempts} failed: ${first ?? ''}`, { job: job.id });
            for (const line of rest) d.log.line(`    ${line}`);
          }
          break;
        default:
          break;
      }
    },
    onWait: (until) => {
      const left = Math.max(0, until - env.now());
      d.log.info(`Retrying in ${formatDuration(left)}`, { job: job.id, at: new Date(until).toISOString() });
      const show = () =>
        setStatus(`${job.data.customerId ?? job.name}: next attempt in ${formatDuration(Math.max(0, until - env.now()))} (Ctrl-C leaves job ${job.id} delayed)`);
      show();
      stopCountdown();
      if (d.io.isErrTTY) countdown = setInterval(show, 1000).unref();
    },
  }).finally(stopCountdown);
  setStatus(null);
  await settle(env, final);
  if (final.state !== 'completed' && final.state !== 'failed') {
    d.log.warn(`Job ${final.id} is ${final.state}: resume it with 'custctl jobs resume' or 'custctl worker --once'`);
  }
  return final;
}

/** The log lines of a worker (`custctl worker`, the embedded worker of `serve`); a job that failed for good settles its row. */
export function workerEvents(d: Deps, env: JobsEnv, settleFailed = true): (e: RunnerEvent) => void {
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
        if (settleFailed) void settle(env, e.job).catch((err: unknown) => d.log.error(`could not mark the row of job ${e.job.id}`, { error: errorMessage(err) }));
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

/**
 * Works the file journal: prunes old jobs, settles failed deletions whose worker died on their
 * last attempt, then runs due jobs until nothing is due (`once`) or `d.shutdown`.
 */
export async function runFileWorker(d: Deps, env: JobsEnv, o: { concurrency: number; once: boolean }): Promise<WorkerSummary> {
  const pruned = await env.queue.prune(env.now() - RETENTION_MS).catch(() => 0);
  for (const j of await env.queue.list({ state: 'failed' })) await settle(env, j);
  d.log.info(`Worker ${d.worker} started`, { concurrency: o.concurrency, once: o.once || undefined, database: env.store.description, pruned: pruned || undefined });
  const summary = await runWorker(env.queue, makeProcessor(env), {
    worker: d.worker,
    concurrency: o.concurrency,
    once: o.once,
    pollMs: 1_000,
    leaseMs: LEASE_MS,
    now: env.now,
    sleep: d.sleep,
    signal: d.shutdown,
    onEvent: workerEvents(d, env),
  });
  d.log.info('Worker stopped', { ...summary });
  return summary;
}
