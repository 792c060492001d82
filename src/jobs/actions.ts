/**
 * `custctl jobs retry` and `POST /api/admin/jobs/:id/retry` (and the console's Retry): the rules,
 * without any printing. Cancelling has a module of its own (src/jobs/cancel.ts).
 */
import type { CustomerStore } from '../adapters/store.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { isCancelled, type Job } from '../domain/job.js';
import { mayRetry } from '../domain/job-machine.js';
import { requireJob, type JobQueue } from '../adapters/queue.js';
import type { JobEvents } from './events.js';

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
 * A failed job gets a fresh set of attempts (→ waiting). A deletion only while its row still
 * points at it (`deletion_failed` or `deleting` with deletion_job_id = this job): the row is taken
 * back to `deleting` first, so a retry never touches an instance deployed after the failure.
 */
export async function retryJob(env: JobActionEnv, id: string): Promise<Job> {
  const job = await requireJob(env.queue, id);
  if (isCancelled(job)) {
    throw new ConflictError(`job ${job.id} was cancelled: a cancelled job is not retried`, [
      job.name === 'delete' && job.data.customerId ? `Start a new deletion with 'custctl delete ${job.data.customerId}'.` : `Start it anew (custctl ${job.name}).`,
    ]);
  }
  if (!mayRetry(job.state)) throw new ConflictError(`job ${job.id} is ${job.state}: only failed jobs can be retried`);
  if (job.name === 'delete' && job.data.customerId) {
    const row = await env.store.get(job.data.customerId);
    if (!row) throw new NotFoundError(`customer ${job.data.customerId} no longer exists`);
    if (row.deletionJobId !== job.id || (row.deploymentStatus !== 'deletion_failed' && row.deploymentStatus !== 'deleting')) {
      throw new ConflictError(
        `refusing to retry job ${job.id}: customer ${row.customerId} is ${row.deploymentStatus}${row.deletionJobId && row.deletionJobId !== job.id ? ` and held by job ${row.deletionJobId}` : ''} since this job failed`,
        ['A retry never touches an instance deployed after it failed. Start a new deletion with custctl delete if it must go.'],
      );
    }
    const claim = await env.store.claimForDeletion(row.customerId, job.id, {
      force: false, expectJobId: job.id,
      audit: { ...auditOf(env, job, 'job-retried'), outcome: 'retried', reason: `after: ${(job.failedReason ?? 'failed').split('\n')[0]}` },
    });
    if (!claim.ok) throw new ConflictError(`customer ${row.customerId} could not be taken back for job ${job.id} (${claim.reason})`);
  } else {
    await env.store.appendAudit({ ...auditOf(env, job, 'job-retried'), outcome: 'retried' });
  }
  return env.queue.retry(job.id, env.now());
}

function auditOf(env: JobActionEnv, job: Job, action: 'job-retried') {
  return { action, actor: env.actor ?? 'unknown', customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id };
}
