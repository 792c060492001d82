/**
 * Erasure in the job queue: a customer's finished jobs with every personal value replaced
 * by `[erased]` (src/domain/erasure.ts says where it is looked for and how it is matched), their
 * log lines included. The jobs stay (their ids, states, times and counts are the deletion's
 * record); only the text goes.
 *
 * Where personal text gets into a job: a failure message that quotes a row (a billing table's own
 * trigger raising with the e-mail, a CHECK constraint's message), the billing step's plan and
 * result lines (a Stripe customer's name and e-mail), a restore's log of the row it brought back,
 * and anything a future step logs. The queue's backend rewrites the jobs
 * (`JobQueue.scrubCustomer`: the file journal, BullMQ on Redis and on PostgreSQL).
 */
import type { JobQueue } from '../adapters/queue.js';
import type { Job } from '../domain/job.js';
import { personalNeedles, scrubJobRecord } from '../domain/erasure.js';

export interface JournalScrubReport {
  customerId: string;
  /** jobs of the customer looked at */
  jobs: number;
  /** jobs rewritten, with how many values were replaced in each */
  rewritten: Array<{ id: string; replaced: number }>;
  /** jobs that have not ended: not touched (an erasure is refused while there are any) */
  unfinished: string[];
  /** values shorter than MIN_NEEDLE_LENGTH, not looked for */
  valuesNotLookedFor: number;
}

/**
 * Scrubs every finished job of `customerId` in the queue of the personal `values` (the row's
 * e-mail, company, URL, extra columns, and whatever else the caller knows: a billing customer's
 * name). Idempotent: a second run finds nothing to replace. Null when the queue cannot rewrite
 * its jobs (`JobQueue.scrubCustomer` absent).
 */
export async function scrubCustomerJobs(queue: JobQueue, customerId: string, values: Iterable<string | null | undefined>): Promise<JournalScrubReport | null> {
  if (!queue.scrubCustomer) return null;
  const key = customerId.replace(/^cust_/, '');
  const jobs = await queue.list({ customerId });
  // custctl's own names of this customer stay whole: its id, its namespace(s), its RBAC names
  const keep = [customerId, `c${key}-customer-instance`, ...jobs.map((j) => j.data.namespace ?? '')];
  const needles = personalNeedles(values, keep);
  const r = await queue.scrubCustomer(customerId, (job: Job) => scrubJobRecord(job, needles));
  return { customerId, ...r, valuesNotLookedFor: needles.tooShort };
}
