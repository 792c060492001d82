/** What a job kind is: how one attempt runs, and what the job's end means for its subject. */
import type { Job, JobName } from '../../domain/job.js';
import type { AttemptContext } from '../../adapters/queue.js';
import type { JobsEnv } from '../jobs-env.js';

export interface JobKind<R = unknown> {
  name: JobName;
  /** one attempt; honours ctx.signal; throws typed errors (src/errors.ts) */
  process(env: JobsEnv, ctx: AttemptContext): Promise<R>;
  /** the job has ended (failed, cancelled, completed): bring its subject in line. Idempotent. */
  settle(env: Pick<JobsEnv, 'store'>, job: Job): Promise<void>;
}
