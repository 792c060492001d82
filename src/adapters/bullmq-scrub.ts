/**
 * Erasure in a BullMQ queue (`JobQueue.scrubCustomer` of BullQueue, on either backend): each
 * finished job of the customer rewritten in place. Its data through BullMQ (`updateData`), its log
 * by clearing it and writing the scrubbed lines back (`clearLogs`, `log`), its result, failure
 * message and stack trace through the backend (BullMQ has no call for those), only while it is
 * still finished; a cancelled record is rewritten whole. The scrubber sees BullMQ's whole data
 * (what custctl keeps beside the job data included) and every log line.
 *
 * It reaches the queue only through `BullScrubTarget`, which BullQueue builds from its BullMQ
 * queue and its backend.
 */
import type { Job as BullJob } from 'bullmq';
import type { AttemptRecord, Job, JobData, JobName } from '../domain/job.js';
import type { JobScrubber, QueueScrubResult } from './queue.js';

/** What an erasure rewrites in a finished BullMQ job besides its data and logs. */
export interface FinishedFields {
  returnvalue: unknown;
  failedReason: string | null;
  stacktrace: string[];
}

/** BullMQ's job states, in the order the scrub reads them. */
const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;
export type ScrubState = (typeof STATES)[number];

/** What the scrub needs of a BullMQ queue and its backend; `D`: the queue's job data. */
export interface BullScrubTarget<D extends JobData> {
  /** custctl's jobs in one of BullMQ's states, each with custctl's id beside BullMQ's job */
  jobs(state: ScrubState): Promise<Array<{ id: string; job: BullJob<D, unknown, JobName> }>>;
  /** every log line of a job, by BullMQ's id */
  logs(bullId: string): Promise<string[]>;
  /** the job as custctl shows it (src/domain/job.ts) */
  toJob(b: BullJob<D, unknown, JobName>, state: 'completed' | 'failed'): Promise<Job>;
  /** the cancelled records the backend keeps */
  cancelledRecords(): Promise<Job[]>;
  /** `BullBackend.rewriteFinished`: false when the job is no longer finished */
  rewriteFinished(bullId: string, fields: FinishedFields): Promise<boolean>;
  /** replaces a cancelled record (job JSON by id) */
  putCancelled(id: string, json: string): Promise<void>;
}

export async function scrubBullJobs<D extends JobData>(t: BullScrubTarget<D>, customerId: string, scrub: JobScrubber): Promise<QueueScrubResult> {
  const out: QueueScrubResult = { jobs: 0, rewritten: [], unfinished: [] };
  for (const s of STATES) {
    for (const { id, job: b } of await t.jobs(s)) {
      if (b.data.customerId !== customerId) continue;
      out.jobs += 1;
      if (s !== 'completed' && s !== 'failed') {
        out.unfinished.push(id);
        continue;
      }
      const bid = b.id as string;
      const view = await t.toJob(b, s);
      const logs = await t.logs(bid);
      const attempt: AttemptRecord = view.attempts[0] ?? { attempt: 1, startedOn: b.timestamp, finishedOn: b.finishedOn ?? null, worker: 'bullmq', outcome: 'failed', log: [] };
      const stacktrace = [...(b.stacktrace ?? [])].filter((x): x is string => typeof x === 'string');
      const r = scrub({ ...view, data: b.data, failedReason: b.failedReason ? b.failedReason : null, stacktrace, attempts: [{ ...attempt, log: logs }] });
      if (r.count === 0) continue;
      const ok = await t.rewriteFinished(bid, { returnvalue: r.job.returnvalue, failedReason: r.job.failedReason, stacktrace: r.job.stacktrace });
      if (!ok) {
        out.unfinished.push(id);
        continue;
      }
      await b.updateData(r.job.data as D);
      const scrubbedLogs = r.job.attempts[0]?.log ?? [];
      if (JSON.stringify(scrubbedLogs) !== JSON.stringify(logs)) {
        await b.clearLogs();
        for (const line of scrubbedLogs) await b.log(line);
      }
      out.rewritten.push({ id, replaced: r.count });
    }
  }
  for (const j of await t.cancelledRecords()) {
    if (j.data.customerId !== customerId) continue;
    out.jobs += 1;
    const r = scrub(j);
    if (r.count === 0) continue;
    await t.putCancelled(j.id, JSON.stringify(r.job));
    out.rewritten.push({ id: j.id, replaced: r.count });
  }
  return out;
}
