/** Running one job in this process with a live view: spinner, attempt lines, the backoff countdown. */
import { isLeased } from '../adapters/queue.js';
import type { ServiceEnv } from './env.js';
import { OperationError } from '../errors.js';
import { formatDuration } from '../domain/duration.js';
import type { Job } from '../domain/job.js';
import { runJobAttached } from '../jobs/runner.js';
import { LEASE_MS, type JobsEnv } from '../jobs/env.js';
import { makeProcessor } from '../jobs/kinds/index.js';
import { runnerEvents } from '../jobs/lifecycle.js';

/**
 * Runs `job` (of the file journal) here until it completes or fails, waiting through the backoff
 * with a visible countdown. Ctrl-C leaves it delayed (or hands the running attempt back) and says
 * how to resume.
 */
export async function runAttached(d: ServiceEnv, env: JobsEnv, job: Job, opts: { status?: boolean } = {}): Promise<Job> {
  /** this job's progress on the status line; off when the caller shows a count over many jobs */
  const status = opts.status ?? true;
  const setStatus = (text: string | null) => {
    if (status) d.log.setStatus(text);
  };
  const queue = env.queue;
  if (!isLeased(queue)) throw new OperationError(`job ${job.id} is on ${queue.kind}: its own workers run it`);
  await d.log.enableSpinner();
  let countdown: NodeJS.Timeout | undefined;
  const stopCountdown = () => {
    if (countdown) clearInterval(countdown);
    countdown = undefined;
  };
  const final = await runJobAttached(queue, job.id, makeProcessor(env), {
    worker: d.worker,
    leaseMs: LEASE_MS,
    now: env.now,
    sleep: d.sleep,
    signal: d.shutdown,
    onEvent: runnerEvents(env, (e) => {
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
            d.log.warn(`${d.log.stepsAreQuiet && job.data.customerId ? `${job.data.customerId}: ` : ''}Attempt ${e.attempt} of ${job.maxAttempts} failed: ${first ?? ''}`, { job: job.id });
            for (const line of rest) d.log.stepLine(`    ${line}`);
          }
          break;
        default:
          break;
      }
    }),
    onWait: (until) => {
      const left = Math.max(0, until - env.now());
      d.log.step('info', `Retrying in ${formatDuration(left)}`, { job: job.id, at: new Date(until).toISOString() });
      const show = () =>
        setStatus(`${job.data.customerId ?? job.name}: next attempt in ${formatDuration(Math.max(0, until - env.now()))} (Ctrl-C leaves job ${job.id} delayed)`);
      show();
      stopCountdown();
      if (d.io.isErrTTY) countdown = setInterval(show, 1000).unref();
    },
  }).finally(stopCountdown);
  setStatus(null);
  if (final.state !== 'completed' && final.state !== 'failed') {
    d.log.warn(`Job ${final.id} is ${final.state}: resume it with 'custctl jobs resume' or 'custctl worker --once'`);
  }
  return final;
}
