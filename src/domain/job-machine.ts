/**
 * The job state machine: every change of a job's state, as pure functions of the job (they never
 * change their argument; each returns the job after the transition or refuses with a typed
 * error). A backend stores what they return; it does not decide transitions itself.
 *
 *   add                 → waiting, or delayed (created with a future `delayUntil`)
 *   claim               waiting | delayed and due | active with an abandoned lease → active
 *                       (a new attempt, a lease); an abandoned attempt is first recorded as
 *                       interrupted and counted, which fails the job when it was the last allowed
 *   renewLease          active, held by the worker → active (lease extended)
 *   progress            active, held by the worker → active (progress 0-100)
 *   complete            active, held by the worker → completed (or completed superseded)
 *   fail                active, held by the worker → delayed (backoff) or failed (final, or the
 *                       last allowed attempt)
 *   release             active, held by the worker → waiting (the attempt is handed back, not counted)
 *   cancel              waiting | delayed → failed with failedReason 'cancelled'
 *   retry               failed → waiting with a fresh set of attempts (history kept)
 *
 * Refused transitions throw ConflictError (exit 4) naming the job, its state and the next step.
 * The file journal applies every transition here; BullMQ's Worker makes claim, lease, progress,
 * complete, fail and stall-recovery itself inside Redis/PostgreSQL scripts, with the same rules
 * (see src/adapters/bullmq-queue.ts); custctl's BullMQ adapter applies `add`'s initial state,
 * `mayCancel`/`cancel` and `mayRetry` from here.
 */
import { ConflictError, type ErrorName } from './errors.js';
import { backoffDelay, type AttemptRecord, type Job, type JobState, type Lease, type NewJob } from './job.js';

/** The failure of one attempt, as the runner classified it. */
export interface AttemptFailure {
  message: string;
  errorName: ErrorName;
  stack?: string;
  /** true: no further attempts (e.g. usage/conflict errors, superseded) */
  final: boolean;
}

/** Who takes a lease: the worker's name and where it runs. */
export interface LeaseHolder {
  owner: string;
  pid: number;
  host: string;
}

/** Why a job may be claimed now. */
export type DueReason = 'waiting' | 'delayed' | 'lease-expired';

/** How many stack traces a job keeps (latest first). */
export const STACKTRACE_LIMIT = 10;

/** When a job whose attempt just failed (`attemptsMade` counted) is tried again. */
export function retryAt(job: Pick<Job, 'opts' | 'attemptsMade'>, now: number): number {
  return now + backoffDelay(job.opts.backoff.delay, job.attemptsMade);
}

/** The job as created: waiting, or delayed when `delayUntil` is in the future. */
export function newJobRecord(id: string, nj: NewJob, now: number): Job {
  const delayed = nj.delayUntil !== undefined && nj.delayUntil > now;
  return {
    id,
    name: nj.name,
    state: delayed ? 'delayed' : 'waiting',
    progress: 0,
    data: nj.data,
    opts: nj.opts,
    attemptsMade: 0,
    maxAttempts: Math.max(1, nj.opts.attempts),
    delayUntil: delayed ? nj.delayUntil! : null,
    failedReason: null,
    failedCode: null,
    stacktrace: [],
    returnvalue: null,
    requestedBy: nj.requestedBy,
    simulated: nj.simulated,
    timestamp: now,
    processedOn: null,
    finishedOn: null,
    previousStatus: nj.previousStatus ?? null,
    attempts: [],
    lease: null,
  };
}

/**
 * Whether the job may be claimed at `now`, and why; null when not. `holderGone` tells whether the
 * lease's holder is known to be gone before its lease expires (a dead process on this host).
 */
export function dueReason(job: Job, now: number, holderGone: (lease: Lease) => boolean = () => false): DueReason | null {
  switch (job.state) {
    case 'waiting':
      return 'waiting';
    case 'delayed':
      return (job.delayUntil ?? 0) <= now ? 'delayed' : null;
    case 'active': {
      const lease = job.lease;
      if (lease === null || lease.expiresAt <= now) return 'lease-expired';
      return holderGone(lease) ? 'lease-expired' : null;
    }
    default:
      return null;
  }
}

/**
 * The worker of the running attempt is gone: that attempt is interrupted and counts as made (so a
 * job that kills its worker cannot loop forever); after the last allowed attempt the job fails.
 */
export function recordStalled(job: Job, now: number): Job {
  const n = job.attemptsMade + 1;
  const reason = `the worker running attempt ${n} (${job.lease?.owner ?? 'unknown'}) stopped (lease expired)`;
  const next = finishAttempt(job, now, 'interrupted', { error: reason, errorName: 'internal' });
  next.attemptsMade = n;
  next.lease = null;
  if (next.attemptsMade >= next.maxAttempts) {
    next.state = 'failed';
    next.failedReason = `${reason} during its last allowed attempt; run \`custctl jobs retry ${job.id}\` to try again`;
    next.failedCode = 'internal';
    next.stacktrace = [reason, ...next.stacktrace].slice(0, STACKTRACE_LIMIT);
    next.finishedOn = now;
    next.delayUntil = null;
  }
  return next;
}

/** A new attempt: → active, leased to `holder` until now + leaseMs. The job must be due (see `claim`). */
export function startAttempt(job: Job, holder: LeaseHolder, now: number, leaseMs: number): Job {
  const attempt = job.attemptsMade + 1;
  const record: AttemptRecord = { attempt, startedOn: now, finishedOn: null, worker: holder.owner, outcome: 'running', log: [] };
  return {
    ...job,
    state: 'active',
    delayUntil: null,
    processedOn: now,
    lease: { owner: holder.owner, pid: holder.pid, host: holder.host, expiresAt: now + leaseMs },
    attempts: [...job.attempts.map((a) => ({ ...a })), record],
  };
}

/**
 * Takes a due job for one attempt. `claimed` is null when the job is not due, or when its
 * abandoned attempt was its last (then `job` is the failed job to store).
 */
export function claim(job: Job, holder: LeaseHolder, now: number, leaseMs: number, holderGone?: (lease: Lease) => boolean): { job: Job; claimed: Job | null } {
  const due = dueReason(job, now, holderGone);
  if (due === null) return { job, claimed: null };
  let current = job;
  if (due === 'lease-expired') {
    current = recordStalled(job, now);
    if (current.state === 'failed') return { job: current, claimed: null };
  }
  const claimed = startAttempt(current, holder, now, leaseMs);
  return { job: claimed, claimed };
}

/** The job is active and `worker` holds its lease. */
export function holds(job: Job, worker: string): boolean {
  return job.state === 'active' && job.lease !== null && job.lease.owner === worker;
}

/** Refuses a change by a worker that no longer holds the job. */
export function assertHolds(job: Job, worker: string): void {
  if (!holds(job, worker)) {
    throw new ConflictError(`job ${job.id} is no longer run by ${worker}`, [
      job.state === 'active'
        ? `its lease passed to ${job.lease?.owner ?? 'another worker'}`
        : `it is ${job.state} now; see \`custctl status job ${job.id}\``,
    ]);
  }
}

/** The lease extended to now + leaseMs; null when `worker` no longer holds the job. */
export function renewLease(job: Job, worker: string, now: number, leaseMs: number): Job | null {
  if (!holds(job, worker)) return null;
  return { ...job, lease: { ...job.lease!, expiresAt: now + leaseMs } };
}

/** The running attempt's progress (rounded, 0-100); null when unchanged. */
export function setProgress(job: Job, worker: string, progress: number): Job | null {
  assertHolds(job, worker);
  const p = Math.max(0, Math.min(100, Math.round(progress)));
  return job.progress === p ? null : { ...job, progress: p };
}

/** The attempt succeeded (or found its subject taken over: `superseded`). */
export function complete(job: Job, worker: string, returnvalue: unknown, now: number, opts: { superseded?: boolean } = {}): Job {
  assertHolds(job, worker);
  const next = finishAttempt(job, now, opts.superseded ? 'superseded' : 'completed');
  next.attemptsMade += 1;
  next.state = 'completed';
  next.returnvalue = opts.superseded ? supersededValue(returnvalue) : returnvalue;
  if (!opts.superseded) next.progress = 100;
  next.finishedOn = now;
  next.delayUntil = null;
  next.lease = null;
  return next;
}

/** The attempt failed: → delayed until the backoff passes, or failed when final or the last allowed. */
export function fail(job: Job, worker: string, failure: AttemptFailure, now: number): Job {
  assertHolds(job, worker);
  const next = finishAttempt(job, now, 'failed', { error: failure.message, errorName: failure.errorName });
  next.attemptsMade += 1;
  next.failedReason = failure.message;
  next.failedCode = failure.errorName;
  next.stacktrace = [failure.stack ?? failure.message, ...next.stacktrace].slice(0, STACKTRACE_LIMIT);
  next.lease = null;
  if (failure.final || next.attemptsMade >= next.maxAttempts) {
    next.state = 'failed';
    next.delayUntil = null;
    next.finishedOn = now;
  } else {
    next.state = 'delayed';
    next.delayUntil = retryAt(next, now);
  }
  return next;
}

/** The worker shuts down mid-attempt: the job goes back to waiting; the attempt does not count. */
export function release(job: Job, worker: string, now: number): Job {
  assertHolds(job, worker);
  const next = finishAttempt(job, now, 'interrupted', { error: `handed back: the worker ${worker} shut down; the attempt does not count` });
  next.state = 'waiting';
  next.delayUntil = null;
  next.lease = null;
  return next;
}

/** Only a job that is not running and has not ended can be cancelled. */
export function mayCancel(state: JobState): boolean {
  return state === 'waiting' || state === 'delayed';
}

/** waiting or delayed → failed, failedReason 'cancelled' (BullMQ has no cancelled state; see isCancelled). */
export function cancel(job: Job, now: number): Job {
  if (!mayCancel(job.state)) {
    throw new ConflictError(`job ${job.id} is ${job.state}: only a waiting or delayed job can be cancelled`, [
      job.state === 'active'
        ? `attempt ${job.attemptsMade + 1} is running (${job.lease?.owner ?? 'unknown worker'}); cancel it between attempts or stop that worker`
        : `see it with \`custctl status job ${job.id}\``,
    ]);
  }
  return { ...job, state: 'failed', failedReason: 'cancelled', failedCode: null, delayUntil: null, finishedOn: now, lease: null };
}

/** Only a failed job can be retried. */
export function mayRetry(state: JobState): boolean {
  return state === 'failed';
}

/** Refuses to retry a job that has not failed. */
export function assertRetryable(job: Pick<Job, 'id' | 'state'>): void {
  if (!mayRetry(job.state)) {
    throw new ConflictError(`job ${job.id} is ${job.state}: only a failed job can be retried`, [`see it with \`custctl status job ${job.id}\``]);
  }
}

/** failed → waiting with a fresh set of `opts.attempts` tries; its attempt history is kept. */
export function retry(job: Job): Job {
  assertRetryable(job);
  return {
    ...job,
    state: 'waiting',
    attemptsMade: 0,
    maxAttempts: Math.max(1, job.opts.attempts),
    failedReason: null,
    failedCode: null,
    finishedOn: null,
    delayUntil: null,
    returnvalue: null,
  };
}

/** A copy of the job whose running attempt (if any) ended with `outcome` at `now`. */
function finishAttempt(job: Job, now: number, outcome: AttemptRecord['outcome'], extra: { error?: string; errorName?: ErrorName } = {}): Job {
  const attempts = job.attempts.map((a) => ({ ...a }));
  const last = attempts.at(-1);
  if (last && last.outcome === 'running') {
    last.outcome = outcome;
    last.finishedOn = now;
    if (extra.error !== undefined) last.error = extra.error;
    if (extra.errorName !== undefined) last.errorName = extra.errorName;
  }
  return { ...job, attempts, stacktrace: [...job.stacktrace] };
}

function supersededValue(returnvalue: unknown): unknown {
  if (typeof returnvalue === 'object' && returnvalue !== null && !Array.isArray(returnvalue)) {
    return { ...returnvalue, superseded: true };
  }
  return returnvalue === undefined || returnvalue === null ? { superseded: true } : { superseded: true, reason: returnvalue };
}
