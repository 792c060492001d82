/**
 * The queue backends' interfaces. `JobQueue` is storage, which every backend implements (the file
 * journal, BullMQ on Redis). `LeasedQueue` adds the attempt protocol the runner
 * (src/jobs/runner.ts) drives — claim, lease, record — for a backend whose attempts this process
 * runs itself (the file journal); BullMQ's own Worker does that part for BullMQ. They know nothing
 * of customers: the job kinds (src/jobs/kinds/) add that.
 */
import { NotFoundError } from '../errors.js';
import type { Job, JobName, JobState, NewJob } from '../domain/job.js';
import type { AttemptFailure } from '../domain/job-machine.js';

export interface JobFilter {
  state?: JobState;
  name?: JobName;
  customerId?: string;
}

/** What a processor gets for one attempt. */
export interface AttemptContext {
  job: Job;
  /** 1-based number of this attempt */
  attempt: number;
  /** aborted on the attempt timeout and on shutdown */
  signal: AbortSignal;
  progress(n: number): Promise<void>;
  log(line: string): Promise<void>;
}

export type Processor = (ctx: AttemptContext) => Promise<unknown>;

/** A failed attempt as the runner classified it (the state machine's input to `fail`). */
export type FailureInfo = AttemptFailure;

export interface JobQueue {
  readonly kind: 'file' | 'bullmq';

  /** Allocates a job id (numeric string, never reused) without creating the job. */
  allocateId(): Promise<string>;
  /** Creates the job in `waiting` with an id from allocateId. */
  add(id: string, job: NewJob, now: number): Promise<Job>;
  get(id: string): Promise<Job | null>;
  list(filter?: JobFilter): Promise<Job[]>;
  /** jobs by state, cheaper than `list()` where the backend counts itself (BullMQ); absent: count a list */
  counts?(): Promise<Record<JobState, number>>;

  /** waiting or delayed only: → failed with failedReason 'cancelled'. */
  cancel(id: string, now: number): Promise<Job>;
  /** failed only: a fresh set of attempts, → waiting. */
  retry(id: string, now: number): Promise<Job>;
  /** Removes completed/failed jobs finished before `before` (ms); returns how many. */
  prune(before: number): Promise<number>;
  /**
   * Rewrites every finished job of the customer (cancelled ones included) with `scrub`'s result:
   * its data (besides its identity), result, failure message, stack trace and log lines; jobs
   * that have not ended are listed, not touched. Erasure uses it; absent: the backend cannot.
   */
  scrubCustomer?(customerId: string, scrub: JobScrubber): Promise<QueueScrubResult>;
  close(): Promise<void>;
}

/** A job's personal text replaced: the job rewritten (only its content, never its id, state or attempts) and how many values were replaced. */
export type JobScrubber = (job: Job) => { job: Job; count: number };

export interface QueueScrubResult {
  /** jobs of the customer looked at */
  jobs: number;
  /** jobs rewritten, with how many values were replaced in each */
  rewritten: Array<{ id: string; replaced: number }>;
  /** jobs that have not ended: not touched */
  unfinished: string[];
}

/** A queue whose attempts the runner of this process claims, leases and records. */
export interface LeasedQueue extends JobQueue {
  /**
   * Takes the job for one attempt if it is due (waiting, delayed and due, or active with an
   * expired lease): → active, lease set, processedOn, a new AttemptRecord. Null when not due or
   * leased by someone else.
   */
  claim(id: string, worker: string, now: number, leaseMs: number): Promise<Job | null>;
  /**
   * An `active` job whose worker is gone: its lease expired, or (where the backend can tell) the
   * lease names a process on this machine that no longer exists. Optional: without it, only
   * expiry counts.
   */
  leaseAbandoned?(job: Job, now: number): boolean;
  /** Claims the next due job of any kind, oldest first; null when none. */
  claimNext(worker: string, now: number, leaseMs: number): Promise<Job | null>;
  /** Extends the lease; false when the job is no longer ours. */
  renewLease(id: string, worker: string, now: number, leaseMs: number): Promise<boolean>;
  /** Progress and log lines of the running attempt. */
  update(id: string, worker: string, patch: { progress?: number; logLines?: string[] }): Promise<void>;
  /** The attempt succeeded (or ended superseded with `superseded: true`). */
  complete(id: string, worker: string, returnvalue: unknown, now: number, opts?: { superseded?: boolean }): Promise<Job>;
  /** The attempt failed: → delayed (with delayUntil by backoff) or failed after the last try or when final. */
  fail(id: string, worker: string, failure: FailureInfo, now: number): Promise<Job>;
  /** The process is shutting down mid-attempt: hand the job back (delayed/waiting, attempt marked interrupted). */
  release(id: string, worker: string, now: number): Promise<Job>;
}

export function isLeased(q: JobQueue): q is LeasedQueue {
  return typeof (q as Partial<LeasedQueue>).claim === 'function';
}

/** A job by id, or a not-found error that says where to look. */
export async function requireJob(queue: JobQueue, id: string): Promise<Job> {
  const job = await queue.get(id);
  if (!job) throw new NotFoundError(`job ${id} not found`, ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."]);
  return job;
}
