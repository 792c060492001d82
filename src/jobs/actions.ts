/**
 * Job actions shared by the CLI (`custctl jobs retry|cancel`) and the API
 * (`POST /api/admin/jobs/:id/retry|cancel`): the rules, without any printing.
 */
import type { CustomerStore } from '../adapters/store.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { isCancelled, stateName, type Job } from '../domain/job.js';
import { requireJob, type JobQueue } from '../adapters/queue.js';
import type { JobEvents } from './events.js';
import { eventsOf } from './lifecycle.js';
import type { CustomerId } from '../domain/customer-id.js';
import { checkRowNamespace } from '../domain/namespace-name.js';
import type { JobsEnv } from './env.js';
import type { SuspendChange } from '../pipeline/suspend.js';
import { restoreAfterSchedule } from './scheduled.js';

export interface JobActionEnv {
  queue: JobQueue;
  store: CustomerStore;
  now: () => number;
  /** the lifecycle stream; without one, a cancel still settles its row */
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
  if (job.state !== 'failed') throw new ConflictError(`job ${job.id} is ${job.state}: only failed jobs can be retried`);
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

/** A waiting or delayed job → failed ('cancelled'); a deletion's row goes back to its previous status. */
export async function cancelJob(env: JobActionEnv, id: string): Promise<Job> {
  const job = await requireJob(env.queue, id);
  if (job.state !== 'waiting' && job.state !== 'delayed') {
    throw new ConflictError(
      `job ${job.id} is ${isCancelled(job) ? 'cancelled already' : stateName(job)}: only waiting or delayed jobs can be cancelled`,
      job.state === 'active' ? ['Stop its worker (Ctrl-C / SIGTERM) first; the job is then handed back and can be cancelled.'] : [],
    );
  }
  const cancelled = await env.queue.cancel(job.id, env.now());
  await eventsOf(env).emit({ type: 'cancelled', job: cancelled });
  // the request; the row given back is recorded by the settlement (deletion-cancelled), with the row change
  await env.store.appendAudit({ ...auditOf(env, job, 'job-cancelled'), outcome: 'cancelled', reason: `was ${job.state}` });
  return cancelled;
}

export interface CancelDeletionResult {
  customerId: string;
  jobId: string;
  /** the row's status now (the one it had before the deletion) */
  status: string;
  /** when the deletion would have run (ISO), if it was scheduled */
  scheduledFor: string | null;
  /** what was put back */
  restored: SuspendChange[];
  simulated: boolean;
}

/** Has the hard deletion begun? (an attempt ran, or is running, or the job has ended) */
function hardDeletionStarted(job: Job): boolean {
  return job.state === 'active' || job.state === 'completed' || job.attemptsMade > 0 || job.attempts.length > 0 || job.progress > 0;
}

/**
 * `custctl cancel ID`: while the deletion has not started, its job is cancelled (the queue's
 * cancel is atomic against a worker claiming it), the instance restored, and the row handed back
 * (compare-and-set on this job's ownership). After the hard deletion has started: ConflictError
 * (exit 4). A cancel interrupted after the job was cancelled (the restore failed) is finished by
 * running `custctl cancel` again.
 */
export async function cancelDeletion(env: JobsEnv, customer: CustomerId, actor = 'unknown'): Promise<CancelDeletionResult> {
  const row = await env.store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${env.store.description}`, ["List customers with 'custctl customers list'."]);
  if (row.deploymentStatus !== 'deleting' || !row.deletionJobId) {
    throw new ConflictError(`customer ${customer.id} is ${row.deploymentStatus}: no deletion to cancel`, row.deletedAt ? [`Its last deletion completed at ${row.deletedAt}.`] : []);
  }
  const namespace = checkRowNamespace(customer, row.instanceNamespace, env.config.namespacePrefix);
  const jobId = row.deletionJobId;
  let job = await env.queue.get(jobId);
  const resumingCancel = job === null || (job.state === 'failed' && job.failedReason === 'cancelled');
  if (job && !resumingCancel) {
    if (hardDeletionStarted(job)) {
      throw new ConflictError(`customer ${customer.id}: the deletion has started (job ${job.id} is ${job.state}, ${job.progress}%, attempt ${job.attemptsMade}/${job.maxAttempts}): it can no longer be cancelled`, [
        `Follow it with 'custctl status job ${job.id} --watch'.`,
      ]);
    }
    if (job.state !== 'waiting' && job.state !== 'delayed') throw new ConflictError(`job ${job.id} is ${job.state}: only a deletion that has not started can be cancelled`);
    job = await env.queue.cancel(job.id, env.now()); // refuses (409) if a worker took it meanwhile
  }
  const restored = await restoreAfterSchedule(env, namespace);
  const audit = { actor, customerId: customer.id, namespace, jobId };
  if (job) await eventsOf(env).emit({ type: 'cancelled', job }); // settles the row (deletion-cancelled): back to its previous status
  else await env.store.releaseDeletion(customer.id, jobId, { ...audit, action: 'deletion-cancelled', outcome: 'cancelled', reason: 'its job is gone' });
  // the request, with what was put back
  await env.store.appendAudit({
    ...audit, action: 'schedule-cancelled', outcome: 'cancelled',
    reason: `${row.deletionScheduledAt ? `was due ${row.deletionScheduledAt}; ` : ''}restored ${restored.length} object(s)`,
  });
  const after = await env.store.get(customer.id);
  return {
    customerId: customer.id,
    jobId,
    status: after?.deploymentStatus ?? row.previousStatus ?? 'unknown',
    scheduledFor: row.deletionScheduledAt,
    restored,
    simulated: env.config.simulate,
  };
}

function auditOf(env: JobActionEnv, job: Job, action: 'job-retried' | 'job-cancelled') {
  return { action, actor: env.actor ?? 'unknown', customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id };
}
