/**
 * `custctl jobs retry` and `POST /api/admin/jobs/:id/retry` (and the console's Retry): the rules,
 * without any printing. Cancelling has a module of its own (src/jobs/cancel.ts).
 */
import type { CustomerStore } from '../adapters/store.js';
import { ConflictError } from '../errors.js';
import { isCancelled, kindFacts, type Job } from '../domain/job.js';
import { mayRetry } from '../domain/job-machine.js';
import { requireJob, type JobQueue } from '../adapters/queue.js';
import type { JobEvents } from './events.js';
import { knownKind } from './kinds/index.js';
import { retriedAudit } from './kinds/kind.js';

export interface JobActionEnv {
  queue: JobQueue;
  store: CustomerStore;
  now: () => number;
  /** the lifecycle stream */
  events?: JobEvents;
  /** who asks, as the audit log records it: `alice@host (cli)`, `api:<token name>` */
  actor?: string;
}


/**
 * A failed job gets a fresh set of attempts (→ waiting), once its kind's retry guard agrees (a
 * deletion: only while its row still points at it, taken back first: src/jobs/kinds/delete.ts).
 */
export async function retryJob(env: JobActionEnv, id: string): Promise<Job> {
  const job = await requireJob(env.queue, id);
  if (isCancelled(job)) {
    throw new ConflictError(`job ${job.id} was cancelled: a cancelled job is not retried`, [kindFacts(job.name).startAnew(job)]);
  }
  if (!mayRetry(job.state)) throw new ConflictError(`job ${job.id} is ${job.state}: only failed jobs can be retried`);
  const guard = knownKind(job.name)?.retryGuard;
  if (guard) await guard(env, job);
  else await env.store.appendAudit({ ...retriedAudit(env, job), outcome: 'retried' });
  return env.queue.retry(job.id, env.now());
}
