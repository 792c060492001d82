/**
 * The job kinds, by job name. A new kind is one module in this folder plus one line here (and its
 * name in `JobName` and its facts in `JOB_KINDS`, src/domain/job.ts).
 */
import { OperationError } from '../../errors.js';
import type { Job, JobName } from '../../domain/job.js';
import type { Processor } from '../../adapters/queue.js';
import type { JobsEnv } from '../jobs-env.js';
import { cleanupRbacKind } from './cleanup-rbac.js';
import { deleteKind } from './delete.js';
import { restoreKind } from './restore.js';
import type { JobKind } from './kind.js';

export const KINDS: Readonly<Record<JobName, JobKind>> = {
  delete: deleteKind,
  'cleanup-rbac': cleanupRbacKind,
  restore: restoreKind,
};

export function kindOf(name: string): JobKind {
  const k = (KINDS as Record<string, JobKind | undefined>)[name];
  if (!k) throw new OperationError(`unknown job kind ${JSON.stringify(name)}: this custctl runs ${Object.keys(KINDS).join(', ')}`);
  return k;
}

/** The kind of a job, or null for a name this custctl does not know (a journal written by a newer one). */
export function knownKind(name: string): JobKind | null {
  return (KINDS as Record<string, JobKind | undefined>)[name] ?? null;
}

/** The processor every runner uses: the job's kind runs the attempt. */
export function makeProcessor(env: JobsEnv): Processor {
  return (ctx) => kindOf(ctx.job.name).process(env, ctx);
}

/** What a job's end means for its subject, by kind. Idempotent; called when a job ends and by `jobs resume`. */
export function settle(env: Pick<JobsEnv, 'store'>, job: Job): Promise<void> {
  return kindOf(job.name).settle(env, job);
}
