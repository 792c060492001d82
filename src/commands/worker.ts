/** `custctl worker [--once] [--concurrency N]`: runs due jobs from the journal. */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { UsageError } from '../errors.js';
import { makeProcessor, settle } from '../jobs/service.js';
import { runWorker, type WorkerSummary } from '../queue/runner.js';
import { intFlag } from './shared.js';
import { jobsEnv, LEASE_MS } from './run-jobs.js';
import { RETENTION_MS } from '../jobs/service.js';
import { runBullWorkerCommand } from './serve.js';
import { redisConfigured } from '../config.js';

export async function runWorkerCommand(d: Deps, o: { once: boolean; concurrency: number }): Promise<WorkerSummary> {
  if (redisConfigured(d.env)) {
    if (o.once) throw new UsageError('--once is for the file journal: a BullMQ worker runs until stopped (SIGTERM)');
    return runBullWorkerCommand(d, { concurrency: o.concurrency });
  }
  const env = await jobsEnv(d);
  const pruned = await env.queue.prune(env.now() - RETENTION_MS);
  d.log.info(`Worker ${d.worker} started`, { concurrency: o.concurrency, once: o.once || undefined, database: env.store.description, pruned: pruned || undefined });
  // failed deletions whose worker died on their last attempt still hold their rows
  for (const j of await env.queue.list({ state: 'failed' })) await settle(env, j);
  const summary = await runWorker(env.queue, makeProcessor(env), {
    worker: d.worker,
    concurrency: o.concurrency,
    once: o.once,
    pollMs: 1_000,
    leaseMs: LEASE_MS,
    now: env.now,
    sleep: d.sleep,
    signal: d.shutdown,
    onEvent: (e) => {
      switch (e.type) {
        case 'attempt-started':
          d.log.info(`Job ${e.job.id} attempt ${e.attempt}/${e.job.maxAttempts} started`, { name: e.job.name, customerId: e.job.data.customerId });
          break;
        case 'attempt-failed':
          d.log.warn(`Job ${e.job.id} attempt ${e.attempt} failed; next try ${new Date(e.delayUntil).toISOString()}`, { error: e.error.split('\n')[0] });
          break;
        case 'failed':
          d.log.error(`Job ${e.job.id} failed`, { error: e.error.split('\n')[0] });
          void settle(env, e.job).catch((err: unknown) => d.log.error(`could not mark the row of job ${e.job.id}`, { error: String(err) }));
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
    },
  });
  d.log.info('Worker stopped', { ...summary });
  return summary;
}

export function makeWorkerCommand(d: Deps, setExit: (code: number) => void) {
  return new Command('worker')
    .description('Run due jobs (waiting, delayed and due, abandoned by a dead worker) from the journal')
    .option('--once', 'stop when nothing is due (jobs delayed into the future are left for later)')
    .addOption(new Option('--concurrency <n>', 'jobs at once').argParser(intFlag('--concurrency', 1, 64)).default(4))
    .addHelpText('after', '\nExamples:\n  custctl worker              # run until SIGTERM/Ctrl-C\n  custctl worker --once       # drain what is due, then exit (cron)')
    .action(async (f) => {
      const s = await runWorkerCommand(d, { once: !!f.once, concurrency: f.concurrency });
      setExit(s.failed > 0 ? 1 : 0);
    });
}
