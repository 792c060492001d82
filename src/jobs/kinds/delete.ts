/**
 * The `delete` job kind: accepting a deletion (the row compare-and-set + the job), one attempt
 * (the pipeline), what the job's end means for the row (settle), and how a finished job reads as
 * a result (outcome). Every entry point (`delete`, `worker`, `serve`, `jobs …`) goes through here,
 * so the rules live in one place.
 */
import { DELETABLE_STATUSES, type AuditEntry, type ClaimResult, type CustomerRow } from '../../adapters/store.js';
import type { Config } from '../../config.js';
import { DEFAULTS } from '../../config.js';
import type { CustomerId } from '../../domain/customer-id.js';
import { deletionTimeouts, type ClusterEntry, type DeletionTimeouts } from '../../domain/clusters.js';
import type { DeletionOptions } from '../../domain/deletion-options.js';
import type { PaceSummary } from '../../domain/pacing.js';
import { namespaceFor } from '../../domain/namespace-name.js';
import { parseBackupUrl, parseRecipients } from '../../domain/backup.js';
import { parseSnapshotClass } from '../../domain/volume-snapshots.js';
import { ConflictError, exitCodeForErrorName, NotFoundError, UsageError } from '../../errors.js';
import { plainLine, type Level } from '../../io.js';
import type { PlanView } from '../../pipeline/plan.js';
import type { DeleteResult } from '../../pipeline/types.js';
import { isCancelled, type Job, type JobOptions } from '../../domain/job.js';
import type { AttemptContext, JobQueue } from '../../adapters/queue.js';
import type { JobsEnv } from '../jobs-env.js';
import { retriedAudit, type JobKind, type RetryEnv } from './kind.js';
import type { JobEvent } from '../events.js';
import { localInterruption } from '../interruption.js';
import { deletionCertifier } from '../certify.js';
import { checkBeforeScheduling, requireExportBeforeScheduling, pauseBillingForSchedule, restoreAfterSchedule, resumeBillingAfterSchedule, scheduledFor, suspendForSchedule } from '../scheduled.js';

export interface SubmitOptions extends DeletionOptions {
  requestedBy: string;
  /** the namespace uid seen when the deletion was accepted (step 2's precondition) */
  namespaceUid?: string;
}

/** A deletion's job options; its timeouts are the cluster's when the caller asked for none (deletionTimeouts). */
export function jobOptions(config: Config, o: DeletionOptions, cluster?: Pick<ClusterEntry, 'timeouts'>): JobOptions {
  const t = planTimeouts(config, o, cluster ?? { timeouts: {} });
  return {
    attempts: config.maxAttempts,
    backoff: { type: 'exponential', delay: config.retryDelayMs },
    timeoutMs: t.jobMs,
    waitTimeoutMs: t.namespaceMs,
    force: o.force ?? false,
    allowMissing: o.allowMissing ?? false,
    allowClusterScoped: o.allowClusterScoped ?? false,
    // recorded only when helm runs for every release: a job without it (or an older one) is `auto`
    ...((o.helmUninstall ?? config.helmUninstall) === 'always' ? { helmUninstall: 'always' as const } : {}),
    ...backupOption(config, o),
    ...snapshotOption(config, o),
  };
}

/** The timeouts a deletion on this cluster gets and where each comes from, for its plan (the same rule as jobOptions). */
export function planTimeouts(config: Config, o: DeletionOptions, cluster: Pick<ClusterEntry, 'timeouts'>): DeletionTimeouts {
  return deletionTimeouts(o, cluster, { jobTimeoutMs: config.jobTimeoutMs, jobTimeoutSet: config.jobTimeoutSet ?? false, defaultWaitTimeoutMs: DEFAULTS.waitTimeoutMs });
}

/** `--snapshot-volumes CLASS` beats the site default CUSTCTL_SNAPSHOT_CLASS; `--no-snapshot-volumes` drops both. */
export function snapshotOption(config: Pick<Config, 'snapshotClass'>, o: DeletionOptions): Pick<JobOptions, 'snapshotClass' | 'snapshotTimeoutMs'> {
  if (o.noSnapshotVolumes) return {};
  const cls = o.snapshotClass ?? config.snapshotClass;
  return cls ? { snapshotClass: parseSnapshotClass(cls), ...(o.snapshotTimeoutMs !== undefined ? { snapshotTimeoutMs: o.snapshotTimeoutMs } : {}) } : {};
}

/**
 * `--backup URL` beats the site default CUSTCTL_BACKUP_URL; `--no-backup` drops both. The age
 * recipients (`--backup-recipient`, else CUSTCTL_BACKUP_RECIPIENT) go with the backup.
 */
export function backupOption(config: Pick<Config, 'backupUrl' | 'backupRecipients'>, o: DeletionOptions): Pick<JobOptions, 'backupUrl' | 'backupRecipients'> {
  if (o.noBackup) {
    if (o.backupRecipients?.length) throw new UsageError('--backup-recipient encrypts a backup, and --no-backup asks for none: drop one of them');
    return {};
  }
  const url = o.backupUrl ?? config.backupUrl;
  const recipients = parseRecipients(o.backupRecipients ?? config.backupRecipients ?? []);
  if (!url) {
    if (o.backupRecipients?.length) throw new UsageError('--backup-recipient encrypts a backup, but there is none: pass --backup URL (or set CUSTCTL_BACKUP_URL)');
    return {};
  }
  return { backupUrl: parseBackupUrl(url).url, ...(recipients.length ? { backupRecipients: recipients } : {}) };
}

/**
 * Accepts a deletion: allocates the job id, moves the row to `deleting` with that id in one
 * compare-and-set, then writes the job. Two submissions for one customer yield one job: the
 * loser's compare-and-set fails and it creates nothing. A crash between the row and the journal
 * leaves a row `deleting` whose job does not exist; `jobs resume --customer` recreates it.
 */
export async function submitDeletion(env: JobsEnv, customer: CustomerId, o: SubmitOptions): Promise<Job> {
  const namespace = namespaceFor(customer, env.config.namespacePrefix);
  // the options first: a refused one (e.g. --backup-recipient without a backup) must not leave a claimed row
  let opts = jobOptions(env.config, o);
  // the attempt that follows loads the pipeline (processDelete): its modules load while the claim
  // and the job's writes wait on the database and the disk, not after them
  if (!env.config.simulate) void import('../../pipeline/run.js').catch(() => undefined);
  // Refuse what is known to be refused before allocating: an unknown customer or a status that
  // cannot be claimed must not consume a job id (only a lost race between this read and the claim can).
  const current = await env.store.get(customer.id);
  if (!current) throw await claimError(env, customer.id, { ok: false, reason: 'not-found' });
  const refused = await statusConflict(env.queue, current, o.force ?? false);
  if (refused) throw refused;
  // the row's cluster: a row naming none in a fleet of several is refused here, before any claim
  const home = env.clusters.for(current);
  opts = jobOptions(env.config, o, home.entry); // the cluster's timeouts, where the caller asked for none
  // soft delete: with a retention period the job waits (delayed) and the instance is suspended now
  const due = scheduledFor(env.now(), o.afterMs ?? env.config.retentionMs);
  if (due !== undefined) {
    await requireExportBeforeScheduling(env, customer.id);
    await checkBeforeScheduling(env, customer, current, o);
  }
  const id = await env.queue.allocateId();
  const claim = await env.store.claimForDeletion(customer.id, id, {
    force: o.force ?? false,
    ...(due !== undefined ? { scheduledAt: new Date(due) } : {}),
    audit: {
      action: due !== undefined ? 'deletion-scheduled' : 'deletion-accepted', actor: o.requestedBy, customerId: customer.id, namespace, jobId: id,
      outcome: due !== undefined ? 'scheduled' : 'accepted',
      reason: [due !== undefined ? `due ${new Date(due).toISOString()}` : '', o.force ? '--force' : '', o.allowMissing ? '--allow-missing' : '', o.allowClusterScoped ? '--allow-cluster-scoped' : '', env.config.simulate ? 'simulated' : ''].filter(Boolean).join(' ') || null,
    },
  });
  if (!claim.ok) throw await claimError(env, customer.id, claim);
  let namespaceUid = o.namespaceUid;
  let billingPaused: string[] = [];
  if (due !== undefined) {
    try {
      const suspended = await suspendForSchedule(env, current, namespace);
      namespaceUid ??= suspended.uid;
      billingPaused = (await pauseBillingForSchedule(env, customer.id, id)).paused;
    } catch (e) {
      await undoSchedule(env, current, id, namespace, o.requestedBy);
      throw e;
    }
  }
  try {
    return await env.queue.add(
      id,
      {
        name: 'delete',
        data: { customerId: customer.id, namespace, ...(env.clusters.several ? { cluster: home.name } : {}), ...(namespaceUid ? { namespaceUid } : {}), ...(due !== undefined ? { scheduledFor: due } : {}), ...(billingPaused.length ? { billingPaused } : {}) },
        opts,
        requestedBy: o.requestedBy,
        simulated: env.config.simulate,
        previousStatus: claim.before.deploymentStatus,
        ...(due !== undefined ? { delayUntil: due } : {}),
      },
      env.now(),
    );
  } catch (e) {
    if (due !== undefined) await undoSchedule(env, current, id, namespace, o.requestedBy);
    throw e;
  }
}

/** A scheduled deletion that could not be set up: the instance restored (best effort), the row handed back. */
async function undoSchedule(env: JobsEnv, row: CustomerRow, jobId: string, namespace: string, actor: string): Promise<void> {
  const customerId = row.customerId;
  await restoreAfterSchedule(env, row, namespace).catch(() => undefined);
  await resumeBillingAfterSchedule(env, customerId, jobId).catch(() => undefined);
  await env.store.releaseDeletion(customerId, jobId, {
    action: 'deletion-cancelled', actor, customerId, namespace, jobId, outcome: 'cancelled', reason: 'the scheduled deletion could not be set up',
  }).catch(() => undefined);
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
    if (holder && isCancelled(holder)) {
      return new ConflictError(`customer ${id} is held by job ${holder.id}, which was cancelled, but the cancel did not finish`, [`Finish it with 'custctl cancel ${id}' (it restores a suspended instance and hands the row back).`]);
    }
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

/**
 * One attempt of a `delete` job: the pipeline, its log lines to the journal and the live sink. The
 * pipeline is loaded here, by the attempt: reading jobs (`jobs list`, their outcomes) stays light.
 */
async function processDelete(env: JobsEnv, ctx: AttemptContext): Promise<DeleteResult> {
  const { runDeleteAttempt } = await import('../../pipeline/run.js');
  const log = (level: Level, message: string, fields?: Record<string, unknown>) => {
    env.sink?.(ctx.job, level, message, fields);
    void ctx.log(plainLine(level, message, fields)).catch(() => undefined);
  };
  return runDeleteAttempt(
    { job: ctx.job, attempt: ctx.attempt, signal: ctx.signal, progress: (n) => ctx.progress(n), log, ...(env.metrics ? { onStep: env.metrics.stepTimed } : {}) },
    env.store,
    env.clusters,
    {
      namespacePrefix: env.config.namespacePrefix, defaultWaitTimeoutMs: DEFAULTS.waitTimeoutMs, now: env.now, ...(env.outside ? { outside: env.outside } : {}),
      ...(env.signingKey ? { certify: deletionCertifier({ store: env.store, issuer: env.config.siteName, now: env.now, signingKey: env.signingKey }) } : {}),
    },
  );
}

/**
 * What a `delete` job's end means for its row: failed for good leaves the row `deletion_failed`
 * (a compare-and-set on ownership, so a refusal that handed the row back, or a superseded job,
 * changes nothing). A cancelled job's row is the cancel's to settle (src/jobs/cancel.ts: the
 * instance restored first, then the row handed back), never this: a worker starting up or
 * `jobs resume` must not hand back a row whose instance is still suspended. Idempotent.
 */
async function settleDelete(env: Pick<JobsEnv, 'store'>, job: Job): Promise<void> {
  if (job.state !== 'failed' || !job.data.customerId || isCancelled(job)) return;
  const audit = { actor: job.requestedBy, customerId: job.data.customerId, namespace: job.data.namespace ?? null, jobId: job.id };
  await env.store.failDeletion(job.data.customerId, job.id, {
    ...audit, action: 'deletion-failed', outcome: job.failedCode ?? 'failed',
    reason: (job.failedReason ?? '').split('\n')[0] || null,
  });
}

/**
 * A deletion is retried only while its row still points at it (`deletion_failed` or `deleting`
 * with deletion_job_id = this job): the row is taken back to `deleting` first, recording the
 * retry in the same transaction, so a retry never touches an instance deployed after the failure.
 */
async function retryGuardDelete(env: RetryEnv, job: Job): Promise<void> {
  if (!job.data.customerId) {
    await env.store.appendAudit({ ...retriedAudit(env, job), outcome: 'retried' });
    return;
  }
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
    audit: { ...retriedAudit(env, job), outcome: 'retried', reason: `after: ${(job.failedReason ?? 'failed').split('\n')[0]}` },
  });
  if (!claim.ok) throw new ConflictError(`customer ${row.customerId} could not be taken back for job ${job.id} (${claim.reason})`);
}

/** Each attempt that starts is recorded (the row changes only at its claim and its end). */
function auditDelete(e: JobEvent): AuditEntry[] {
  if (e.type !== 'started') return [];
  const job = e.job;
  return [{ actor: job.requestedBy, customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id, action: 'deletion-started', outcome: 'running', reason: `attempt ${e.attempt}/${job.maxAttempts}` }];
}

export const deleteKind: JobKind<DeleteResult> = {
  name: 'delete',
  process: processDelete,
  settle: settleDelete,
  audit: auditDelete,
  retryGuard: retryGuardDelete,
};

// ---- outcome: a finished (or interrupted) job as one customer's line of `delete -o json` --------

export interface DeleteOutcome {
  customerId: string;
  namespace: string;
  /** the customer's cluster (its name in the fleet; absent when the server ran it, or simulated) */
  cluster?: string;
  jobId: string | null;
  state: Job['state'] | 'planned' | 'refused' | 'already-deleted';
  exitCode: number;
  simulated: boolean;
  error: { error: string; message: string; details: string[] } | null;
  result: DeleteResult | null;
  plan?: PlanView;
  /** soft delete: when the scheduled deletion is due (ISO); the job waits delayed until then */
  scheduledFor?: string;
  /** a `pending` row with nothing left on the cluster: no job was created; which job deleted it, and when */
  alreadyDeleted?: { byJob: string | null; at: string | null };
}

export interface DeleteReport {
  dryRun: boolean;
  simulated: boolean;
  /** context and server: the cluster when every customer is on one; `clusters`: each cluster the run acts on */
  target: { context?: string; server?: string; database: string; clusters?: Array<{ name: string; context: string; server: string }> };
  results: DeleteOutcome[];
  exitCode: number;
  /** dry run: when the data would be deleted (ISO), null for now; absent when the server decides */
  deletesAt?: string | null;
  /** a run over several customers whose concurrency was lowered (429s, a namespace controller falling behind); absent when it never changed */
  pacing?: PaceSummary;
}

/**
 * How a job reads as a result. `interrupted` says why a job that has not ended is not finished and
 * how to pick it up (it depends on where the job lives: this journal, or the server).
 */
export function outcomeOf(
  base: Pick<DeleteOutcome, 'customerId' | 'namespace' | 'simulated'>,
  job: Job,
  interrupted: NonNullable<DeleteOutcome['error']> = localInterruption(job),
): DeleteOutcome {
  const result = (job.returnvalue as DeleteResult | null) ?? null;
  if (job.state === 'completed') {
    const superseded = result?.outcome === 'superseded';
    return {
      ...base,
      jobId: job.id,
      state: job.state,
      exitCode: superseded ? 4 : 0,
      error: superseded ? { error: 'conflict', message: `job ${job.id} was superseded: ${result?.reason ?? ''}`, details: [] } : null,
      result,
    };
  }
  if (job.state === 'failed') {
    const [firstLine = 'failed', ...restLines] = (job.failedReason ?? 'failed').split('\n');
    return {
      ...base,
      jobId: job.id,
      state: job.state,
      exitCode: exitCodeForErrorName(job.failedCode ?? undefined),
      error: { error: job.failedCode ?? 'internal', message: firstLine, details: restLines },
      result,
    };
  }
  // interrupted (Ctrl-C) while waiting or running: the job stays resumable
  return { ...base, jobId: job.id, state: job.state, exitCode: 1, error: interrupted, result };
}

