/**
 * What a job kind is: how one attempt runs, what the job's end means for its subject, the audit
 * rows its lifecycle events write, and what a retry must check first. Its facts (whether it holds
 * its customer's row, its label, how to start it anew) are `JOB_KINDS` in src/domain/job.ts; what a
 * webhook says it deleted is src/domain/webhook.ts.
 */
import type { AuditEntry, CustomerStore } from '../../adapters/store.js';
import type { Job, JobName } from '../../domain/job.js';
import type { AttemptContext } from '../../adapters/queue.js';
import type { JobEvent } from '../events.js';
import type { JobsEnv } from '../jobs-env.js';

/** What a retry guard needs: the store, and who asks (as the audit log records it). */
export interface RetryEnv {
  store: CustomerStore;
  actor?: string;
}

export interface JobKind<R = unknown> {
  name: JobName;
  /** one attempt; honours ctx.signal; throws typed errors (src/errors.ts) */
  process(env: JobsEnv, ctx: AttemptContext): Promise<R>;
  /** the job has ended (failed, cancelled, completed): bring its subject in line. Idempotent. */
  settle(env: Pick<JobsEnv, 'store'>, job: Job): Promise<void>;
  /**
   * The audit rows a lifecycle event of a job of this kind writes, beyond the ones every job
   * writes (src/jobs/audit.ts) and the row changes the store records itself. Absent: none.
   */
  audit?(e: JobEvent): AuditEntry[];
  /**
   * Before a failed job is retried: refuses (a typed error) when its subject moved on, takes the
   * subject back and records the retry (`job-retried`). Absent: the retry is recorded by a plain
   * audit row.
   */
  retryGuard?(env: RetryEnv, job: Job): Promise<void>;
}

/** The `job-retried` audit row of a job. */
export function retriedAudit(env: RetryEnv, job: Job): Pick<AuditEntry, 'action' | 'actor' | 'customerId' | 'namespace' | 'jobId'> {
  return { action: 'job-retried', actor: env.actor ?? 'unknown', customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id };
}
