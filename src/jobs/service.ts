/**
 * Jobs that touch customers: submitting a deletion (the row compare-and-set + the job), the
 * processor that runs attempts, and what happens to the row when a job ends. Every entry point
 * (`delete`, `worker`, `serve`, `jobs …`) goes through here, so the rules live in one place.
 */
import type { ClusterTarget } from '../adapters/kube.js';
import { DELETABLE_STATUSES, type ClaimResult, type CustomerRow, type CustomerStore } from '../adapters/store.js';
import type { Config } from '../config.js';
import { DEFAULTS } from '../config.js';
import type { CustomerId } from '../domain/customer-id.js';
import { namespaceFor } from '../domain/namespace-name.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { plainLine, type Level, type Logger } from '../io.js';
import type { Job, JobOptions } from '../queue/job.js';
import type { AttemptContext, JobQueue, Processor } from '../queue/queue.js';
import type { PipelineEnv } from '../pipeline/types.js';
import { runDeleteAttempt } from '../pipeline/run.js';

/** Completed and failed jobs are kept this long (the seed's 7 days), then pruned by workers and new deletions. */
export const RETENTION_MS = 7 * 24 * 3_600_000;

export interface JobsEnv {
  queue: JobQueue;
  store: CustomerStore;
  config: Config;
  /** the cluster adapters, loaded on first use (never for simulated jobs) */
  cluster: () => Promise<Omit<PipelineEnv, 'store'> & { target: ClusterTarget }>;
  now: () => number;
  /** live sink for attempt log lines (the terminal); the journal always gets them */
  sink?: (job: Job, level: Level, message: string, fields?: Record<string, unknown>) => void;
  /** cleanup-rbac jobs, plugged in by that command's module */
  cleanupProcessor?: Processor;
}

export interface SubmitOptions {
  force?: boolean;
  allowMissing?: boolean;
  allowClusterScoped?: boolean;
  waitTimeoutMs?: number;
  jobTimeoutMs?: number;
  requestedBy: string;
  /** the namespace uid seen when the deletion was accepted (step 2's precondition) */
  namespaceUid?: string;
}

export function jobOptions(config: Config, o: Omit<SubmitOptions, 'requestedBy' | 'namespaceUid'>): JobOptions {
  return {
    attempts: config.maxAttempts,
    backoff: { type: 'exponential', delay: config.retryDelayMs },
    timeoutMs: o.jobTimeoutMs ?? config.jobTimeoutMs,
    waitTimeoutMs: o.waitTimeoutMs ?? DEFAULTS.waitTimeoutMs,
    force: o.force ?? false,
    allowMissing: o.allowMissing ?? false,
    allowClusterScoped: o.allowClusterScoped ?? false,
  };
}

/**
 * Accepts a deletion: allocates the job id, moves the row to `deleting` with that id in one
 * compare-and-set, then writes the job. Two submissions for one customer yield one job: the
 * loser's compare-and-set fails and it creates nothing. A crash between the row and the journal
 * leaves a row `deleting` whose job does not exist; `jobs resume --customer` recreates it.
 */
export async function submitDeletion(env: JobsEnv, customer: CustomerId, o: SubmitOptions): Promise<Job> {
  const namespace = namespaceFor(customer, env.config.namespacePrefix);
  // Refuse what is known to be refused before allocating: an unknown customer or a status that
  // cannot be claimed must not consume a job id (only a lost race between this read and the claim can).
  const current = await env.store.get(customer.id);
  if (!current) throw await claimError(env, customer.id, { ok: false, reason: 'not-found' });
  const refused = await statusConflict(env.queue, current, o.force ?? false);
  if (refused) throw refused;
  const id = await env.queue.allocateId();
  const claim = await env.store.claimForDeletion(customer.id, id, { force: o.force ?? false });
  if (!claim.ok) throw await claimError(env, customer.id, claim);
  return env.queue.add(
    id,
    {
      name: 'delete',
      data: { customerId: customer.id, namespace, ...(o.namespaceUid ? { namespaceUid: o.namespaceUid } : {}) },
      opts: jobOptions(env.config, o),
      requestedBy: o.requestedBy,
      simulated: env.config.simulate,
      previousStatus: claim.before.deploymentStatus,
    },
    env.now(),
  );
}

/**
 * Why a row cannot be claimed for a deletion right now: `deploying` (unless forced), `deleting`
 * (naming the job that holds it, and how to recreate that job if the journal lost it). Null when
 * its status allows a deletion.
 */
export async function statusConflict(queue: JobQueue, row: CustomerRow, force: boolean): Promise<ConflictError | null> {
  const id = row.customerId;
  if (row.deploymentStatus === 'deploying') {
    if (force) return null;
    return new ConflictError(`customer ${id} is being deployed right now (status deploying): refusing to delete it mid-install`, [
      'Wait for the deployment to finish, or pass --force if it is stuck.',
    ]);
  }
  if (row.deploymentStatus === 'deleting') {
    const holder = row.deletionJobId ? await queue.get(row.deletionJobId).catch(() => null) : null;
    const details = holder
      ? [`Follow it with 'custctl status job ${holder.id} --watch'.`]
      : [`Job ${row.deletionJobId ?? '(none)'} no longer exists in this journal; recreate it with 'custctl jobs resume --customer ${id}'.`];
    return new ConflictError(`customer ${id} is already being deleted by job ${row.deletionJobId ?? '(unknown)'}${holder ? ` (${holder.state})` : ''}`, details);
  }
  if (!DELETABLE_STATUSES.includes(row.deploymentStatus)) return new ConflictError(`customer ${id} cannot be deleted from status ${row.deploymentStatus}`);
  return null;
}

async function claimError(env: JobsEnv, customerId: string, claim: Exclude<ClaimResult, { ok: true }>): Promise<Error> {
  if (claim.reason === 'not-found') return new NotFoundError(`customer ${customerId} not found in ${env.store.description}`, ["List customers with 'custctl customers list'."]);
  return (await statusConflict(env.queue, claim.row, false)) ?? new ConflictError(`customer ${customerId} changed while it was being claimed; try again`);
}

/** The processor every runner uses: `delete` jobs run the pipeline, `cleanup-rbac` jobs the sweep. */
export function makeProcessor(env: JobsEnv): Processor {
  return async (ctx: AttemptContext) => {
    if (ctx.job.name === 'cleanup-rbac') {
      if (!env.cleanupProcessor) throw new Error('cleanup-rbac jobs are not available in this process');
      return env.cleanupProcessor(ctx);
    }
    const log = (level: Level, message: string, fields?: Record<string, unknown>) => {
      env.sink?.(ctx.job, level, message, fields);
      void ctx.log(plainLine(level, message, fields)).catch(() => undefined);
    };
    return runDeleteAttempt(
      { job: ctx.job, attempt: ctx.attempt, signal: ctx.signal, progress: (n) => ctx.progress(n), log },
      env.store,
      env.cluster,
      { namespacePrefix: env.config.namespacePrefix, defaultWaitTimeoutMs: DEFAULTS.waitTimeoutMs, now: env.now },
    );
  };
}

/**
 * What a job's end means for its row: a `delete` job that failed for good leaves the row
 * `deletion_failed` (a compare-and-set on ownership, so a refusal that handed the row back, or a
 * superseded job, changes nothing). Idempotent; called after every run and by `jobs resume`.
 */
export async function settle(env: Pick<JobsEnv, 'store'>, job: Job): Promise<void> {
  if (job.name !== 'delete' || job.state !== 'failed' || !job.data.customerId) return;
  if (job.failedReason === 'cancelled') {
    await env.store.releaseDeletion(job.data.customerId, job.id);
    return;
  }
  await env.store.failDeletion(job.data.customerId, job.id);
}

export function logToSink(log: Logger) {
  return (_job: Job, level: Level, message: string, fields?: Record<string, unknown>) => {
    const fn = level === 'ok' ? log.ok : level === 'warn' ? log.warn : level === 'error' ? log.error : level === 'debug' ? log.debug : log.info;
    fn.call(log, message, fields);
  };
}
