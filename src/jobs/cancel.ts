/**
 * The one cancel. `custctl cancel ID`, `custctl jobs cancel N`, `POST /api/admin/jobs/:id/cancel`,
 * `POST /api/customers/:id/cancel-deletion` and the console's two Cancel buttons all come here, by
 * job or by customer, so a cancel means the same wherever it is asked for and the customer row,
 * the job and the audit log say the same thing afterwards:
 *
 * - Only a job that is not running can be cancelled: waiting, or delayed (a scheduled deletion, or
 *   a deletion between two attempts). The queue's cancel is atomic against a worker taking the job
 *   (the file journal's lock; BullMQ refuses to remove a locked job), so a cancel that races a
 *   worker either wins (the worker never starts it) or is refused (409, exit 4) with nothing
 *   changed.
 * - A deletion whose hard part never started (no attempt ran): a scheduled one gets its suspended
 *   instance back (replicas and CronJob `suspend` exactly as they were), then the row goes back to
 *   the status it had before, in one compare-and-set on this job's ownership, with the audit row
 *   naming who cancelled.
 * - A deletion an attempt of which had already run (delayed between attempts, or handed back by a
 *   worker that stopped): the attempt may have deleted part of the instance, so nothing is put back
 *   and the row becomes `deletion_failed` (never `deployed` over a half-deleted instance); no
 *   further attempt runs.
 * - When the restore fails, the job stays cancelled (nothing more is deleted) and the row becomes
 *   `deletion_failed`, not `deployed` with its workloads at 0; the same cancel asked again (by job
 *   or by customer) restores and hands the row back. A process that died between the job's cancel
 *   and the row is finished the same way.
 * - An account owner's token cancels only a deletion of its own customer that it asked for itself:
 *   another customer's job reads as one that does not exist, an administrator's deletion is refused
 *   (403).
 *
 * The row is settled here, not by the job's `cancelled` event (whose listeners only notify:
 * webhooks, metrics), so no other path can hand a row back before its instance is restored.
 */
import type { CustomerRow } from '../adapters/store.js';
import { parseCustomerId, type CustomerId } from '../domain/customer-id.js';
import { deletionStarted, isCancelled, kindFacts, type Job } from '../domain/job.js';
import { mayCancel as cancellableState } from '../domain/job-machine.js';
import { checkRowNamespace } from '../domain/namespace-name.js';
import { ConflictError, errorMessage, ForbiddenError, NotFoundError, OperationError } from '../errors.js';
import type { SuspendChange } from '../pipeline/suspend.js';
import type { JobsEnv } from './jobs-env.js';
import { eventsOf } from './lifecycle.js';
import { restoreAfterSchedule, resumeBillingAfterSchedule } from './scheduled.js';

/** What to cancel: a job by id, or the deletion that holds a customer. */
export type CancelTarget = { jobId: string } | { customer: CustomerId };

/** Who cancels. */
export interface Canceller {
  /** as the job and the audit log record it: `alice@host (cli)`, `api:<token name>` */
  actor: string;
  /** an account owner's token: the customer it owns (it may cancel only what it asked for there) */
  ownerOf?: string;
}

/** The answer of every cancel (`cancel -o json`, the cancel-deletion route; `jobs cancel` adds it to the job as `cancel`). */
export interface CancelResult {
  /** the customer whose deletion was cancelled; null for a job of no customer */
  customerId: string | null;
  jobId: string;
  /** the row's status now (e.g. `deployed` again); null for a job of no customer */
  status: string | null;
  /** when the deletion would have run (ISO), if it was scheduled */
  scheduledFor: string | null;
  /** what was put back (replicas, CronJob suspend) */
  restored: SuspendChange[];
  /** billing configured: the subscriptions whose collection was resumed as it was before the schedule paused it, and the lines saying so */
  billingResumed?: { subscriptions: string[]; lines: string[] };
  simulated: boolean;
  /** an attempt had already run: nothing was put back and the row is `deletion_failed` */
  deletionStarted: boolean;
  /** who cancelled (as the audit row records it) */
  cancelledBy: string;
  /** the job, cancelled (its JSON keeps BullMQ's shape: state failed, failedReason cancelled) */
  job: Job;
}

/** The owner rule alone (the console asks it to decide whether to offer the button). */
export function mayCancel(job: Pick<Job, 'requestedBy' | 'data'>, who: Canceller): boolean {
  return who.ownerOf === undefined || (job.data.customerId === who.ownerOf && job.requestedBy === who.actor);
}

/** The same answer as for a job that does not exist (an owner cannot tell another customer's job from none). */
function jobNotFound(id: string): NotFoundError {
  return new NotFoundError(`job ${id} not found`, ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."]);
}

function refuseOwner(job: Job | null, customerId: string, who: Canceller): void {
  if (who.ownerOf === undefined) return;
  if (job && mayCancel(job, who)) return;
  throw new ForbiddenError(`the deletion of ${customerId}${job ? ` (job ${job.id})` : ''} was not asked for with this account owner's token: an account owner cancels only a deletion it asked for`, [
    'Ask your administrator to cancel it.',
  ]);
}

interface Found {
  job: Job | null;
  jobId: string;
  row: CustomerRow | null;
}

/** Is the row held by this job's deletion (in progress, or left deletion_failed by an unfinished cancel)? */
function heldBy(row: CustomerRow | null, jobId: string): row is CustomerRow {
  return row !== null && row.deletionJobId === jobId && (row.deploymentStatus === 'deleting' || row.deploymentStatus === 'deletion_failed');
}

async function byCustomer(env: JobsEnv, customer: CustomerId, who: Canceller): Promise<Found> {
  if (who.ownerOf !== undefined && who.ownerOf !== customer.id) throw new NotFoundError(`customer ${customer.id} not found`);
  const row = await env.store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found${who.ownerOf === undefined ? ` in ${env.store.description}` : ''}`, who.ownerOf === undefined ? ["List customers with 'custctl customers list'."] : []);
  const jobId = row.deletionJobId;
  const job = jobId && (row.deploymentStatus === 'deleting' || row.deploymentStatus === 'deletion_failed') ? await env.queue.get(jobId) : null;
  // a cancel whose restore failed left the row deletion_failed: asking again finishes it
  const unfinished = jobId !== null && row.deploymentStatus === 'deletion_failed' && job !== null && isCancelled(job) && !deletionStarted(job);
  if (!jobId || !(row.deploymentStatus === 'deleting' || unfinished)) {
    throw new ConflictError(`customer ${customer.id} is ${row.deploymentStatus}: no deletion to cancel`, row.deletedAt ? [`Its last deletion completed at ${row.deletedAt}.`] : []);
  }
  return { job, jobId, row };
}

async function byJob(env: JobsEnv, id: string, who: Canceller): Promise<Found> {
  const job = await env.queue.get(id);
  if (!job || (who.ownerOf !== undefined && job.data.customerId !== who.ownerOf)) throw jobNotFound(id);
  const row = kindFacts(job.name).holdsCustomerRow && job.data.customerId ? await env.store.get(job.data.customerId) : null;
  return { job, jobId: job.id, row };
}

/** Why a job in this state cannot be cancelled. */
function notCancellable(job: Job, customerId: string | null): ConflictError {
  if (isCancelled(job)) return new ConflictError(`job ${job.id} is cancelled already`, customerId ? [`See the customer with 'custctl status customer ${customerId}'.`] : []);
  if (job.state === 'active') {
    return new ConflictError(`job ${job.id} is running (attempt ${job.attemptsMade + 1}/${job.maxAttempts}, ${job.progress}%): a running attempt cannot be cancelled`, [
      `Follow it with 'custctl status job ${job.id} --watch'. To stop it, stop its worker (Ctrl-C / SIGTERM): the attempt is handed back and the job can be cancelled then (the deletion has started, so the customer is left deletion_failed).`,
    ]);
  }
  return new ConflictError(`job ${job.id} has ended (${job.state}): only a waiting or delayed job can be cancelled`);
}

/**
 * Cancels a job, or the deletion that holds a customer, and brings the row in line (see the module
 * comment). Refusals: NotFoundError (exit 3), ConflictError (exit 4: running, ended, nothing to
 * cancel, a worker took it first), ForbiddenError (an owner, another's deletion). A restore that
 * fails: OperationError (exit 1) after the job was cancelled and the row set to deletion_failed.
 */
export async function cancel(env: JobsEnv, target: CancelTarget, who: Canceller): Promise<CancelResult> {
  const found = 'jobId' in target ? await byJob(env, target.jobId, who) : await byCustomer(env, target.customer, who);
  const { jobId } = found;
  let job = found.job;
  const row = found.row;
  const customerId = row?.customerId ?? job?.data.customerId ?? null;
  if (customerId) refuseOwner(job, customerId, who);
  const held = heldBy(row, jobId);
  // the row's namespace is checked before anything changes (a corrupted row is refused, not acted on)
  const namespace = held ? checkRowNamespace(parseCustomerId(row.customerId), row.instanceNamespace, env.config.namespacePrefix) : null;

  let cancelledNow = false;
  if (job && !isCancelled(job)) {
    if (!cancellableState(job.state)) throw notCancellable(job, customerId);
    job = await env.queue.cancel(job.id, env.now()); // refused (409) if a worker took it meanwhile
    cancelledNow = true;
  } else if (job && !(held && (row.deploymentStatus === 'deleting' || !deletionStarted(job)))) {
    // cancelled already, and nothing of it left to finish
    throw notCancellable(job, customerId);
  }

  try {
    if (!held || namespace === null) {
      // a job of no customer, or one whose customer has moved on (redeployed, another deletion): the job alone
      await env.store.appendAudit({ action: 'job-cancelled', actor: who.actor, customerId, namespace: job?.data.namespace ?? null, jobId, outcome: 'cancelled', reason: `was ${found.job?.state ?? 'unknown'}` });
      const now = customerId ? await env.store.get(customerId) : null;
      return result(env, job, jobId, who, { customerId, status: now?.deploymentStatus ?? null, scheduledFor: null, restored: [], started: job ? deletionStarted(job) : false });
    }
    return await settleCancelledDeletion(env, row, job, jobId, namespace, who, found.job);
  } finally {
    // the job has ended: webhooks and metrics hear of it once, after the row is settled
    if (cancelledNow && job) await eventsOf(env).emit({ type: 'cancelled', job });
  }
}

/** The row of a cancelled deletion: restored and handed back, or deletion_failed when an attempt had run. */
async function settleCancelledDeletion(env: JobsEnv, row: CustomerRow, job: Job | null, jobId: string, namespace: string, who: Canceller, before: Job | null): Promise<CancelResult> {
  const customerId = row.customerId;
  const audit = { action: 'deletion-cancelled' as const, actor: who.actor, customerId, namespace, jobId };
  const due = job?.data.scheduledFor !== undefined ? new Date(job.data.scheduledFor).toISOString() : row.deletionScheduledAt;
  const dueWords = due ? `was due ${due}` : null;
  const was = !job
    ? `${dueWords ? `${dueWords}; ` : ''}its job is gone`
    : before && !isCancelled(before)
      ? (dueWords && before.state === 'delayed' && !deletionStarted(before) ? dueWords : `was ${before.state}`)
      : `${dueWords ? `${dueWords}; ` : ''}finishing an earlier cancel`;

  if (job && deletionStarted(job)) {
    const n = Math.max(job.attemptsMade, job.attempts.length);
    await env.store.failDeletion(customerId, jobId, {
      ...audit, outcome: 'cancelled',
      reason: `${was}; the deletion had started (${n} attempt${n === 1 ? '' : 's'} ran), so part of the instance may be gone: nothing restored, no further attempt`,
    });
    return result(env, job, jobId, who, { customerId, status: (await env.store.get(customerId))?.deploymentStatus ?? 'deletion_failed', scheduledFor: due, restored: [], started: true });
  }

  let restored: SuspendChange[] = [];
  let billing: { resumed: string[]; lines: string[] } = { resumed: [], lines: [] };
  if (due !== null) {
    try {
      restored = await restoreAfterSchedule(env, row, namespace);
      billing = await resumeBillingAfterSchedule(env, customerId, jobId);
    } catch (e) {
      const why = errorMessage(e).split('\n')[0] ?? 'unknown error';
      // never `deployed` over workloads still at 0: the row says the deletion did not end well
      await env.store.failDeletion(customerId, jobId, { ...audit, outcome: 'restore-failed', reason: `${was}; the instance could not be restored (${why}): it stays suspended` }).catch(() => false);
      throw new OperationError(`job ${jobId} is cancelled, so nothing of ${customerId} will be deleted; but its suspended instance could not be restored: ${why}`, [
        `The instance stays suspended (Deployments and StatefulSets at 0, CronJobs suspended) and the row says deletion_failed, not deployed.`,
        `Run 'custctl cancel ${customerId}' again to restore it; each workload keeps what it had in the custctl.io/suspended-from annotation.`,
      ]);
    }
  }
  // a cancel whose restore failed earlier left the row deletion_failed: take it back for this job first
  if (row.deploymentStatus === 'deletion_failed') await env.store.claimForDeletion(customerId, jobId, { force: false, expectJobId: jobId });
  await env.store.releaseDeletion(customerId, jobId, { ...audit, outcome: 'cancelled', reason: `${was}; restored ${restored.length} object(s)${billing.resumed.length ? `; billing resumed: ${billing.resumed.join(', ')}` : ''}` });
  const after = await env.store.get(customerId);
  return { ...result(env, job, jobId, who, { customerId, status: after?.deploymentStatus ?? row.previousStatus ?? null, scheduledFor: due, restored, started: false }), ...(billing.lines.length ? { billingResumed: { subscriptions: billing.resumed, lines: billing.lines } } : {}) };
}

function result(env: JobsEnv, job: Job | null, jobId: string, who: Canceller, r: { customerId: string | null; status: string | null; scheduledFor: string | null; restored: SuspendChange[]; started: boolean }): CancelResult {
  return {
    customerId: r.customerId,
    jobId,
    status: r.status,
    scheduledFor: r.scheduledFor,
    restored: r.restored,
    simulated: env.config.simulate,
    deletionStarted: r.started,
    cancelledBy: who.actor,
    job: job ?? lostJob(jobId, r.customerId, env.now()),
  };
}

/** A job the journal lost (a crash between the row and the journal): what the answer shows for it. */
function lostJob(id: string, customerId: string | null, now: number): Job {
  return {
    id, name: 'delete', state: 'failed', progress: 0, data: customerId ? { customerId } : {},
    opts: { attempts: 0, backoff: { type: 'exponential', delay: 0 }, timeoutMs: 0 },
    attemptsMade: 0, maxAttempts: 0, delayUntil: null, failedReason: 'cancelled', failedCode: null, stacktrace: [], returnvalue: null,
    requestedBy: 'unknown', simulated: false, timestamp: now, processedOn: null, finishedOn: now, attempts: [], lease: null,
  };
}
