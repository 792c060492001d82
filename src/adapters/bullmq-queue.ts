/**
 * The job queue on BullMQ: workers on many machines. One implementation for BullMQ's backends —
 * Redis (src/adapters/bullmq-redis.ts) and PostgreSQL (src/adapters/bullmq-postgres.ts) run the
 * same Queue/Worker API; what differs (where ids come from, where a delayed job's due time is kept,
 * how a cancel removes a job atomically, ping) is a `BullBackend`.
 *
 * - queue `custctl-deletions`, job names `delete` and `cleanup-rbac`;
 * - ids: the interface allocates an id before the job exists (the row's compare-and-set records
 *   it first). BullMQ refuses integer custom ids, so ids come from a counter of our own (Redis:
 *   `<prefix>:custctl-deletions:custctl-id`, INCR; PostgreSQL: a sequence in the queue schema):
 *   numeric, never reused, and the BullMQ job id is `j<id>`; the API and `status job` show the number;
 * - `attempts`, `backoff: {type: 'exponential', delay}` (BullMQ's formula is ours:
 *   delay × 2^(attemptsMade−1)), `removeOnComplete/removeOnFail: {age: 7 days}` (seconds; BullMQ
 *   applies it lazily, when later jobs finish);
 * - no per-job timeout in BullMQ: the worker aborts the processor's signal after `opts.timeoutMs`;
 * - a worker killed mid-attempt: BullMQ's stalled-job check moves the job back to wait (at-least-
 *   once; every pipeline step is idempotent). `maxStalledCount` is 2: a job whose worker dies twice
 *   in a row (e.g. it is what kills the worker) fails instead of looping; the worker's `failed`
 *   event then settles the row to `deletion_failed`.
 * The runner-style methods (claim, complete, …) are not used with BullMQ: BullMQ's Worker runs
 * the jobs (src/jobs/bullmq-worker.ts).
 *
 * The job state machine (src/domain/job-machine.ts) and BullMQ: BullMQ makes these transitions
 * itself, atomically in its Redis/PostgreSQL scripts, with the same rules as the machine: the
 * initial state of `add` (delayed when given a delay), claim (moveToActive, the lock as the lease),
 * lease renewal (lock extension), progress, complete, fail (backoff `delay × 2^(attemptsMade−1)`
 * = `backoffDelay`; UnrecoverableError = a final failure; the last attempt → failed), and stall
 * recovery (a lost lock → back to wait, failed after `maxStalledCount`; the file journal instead
 * counts each abandoned attempt against `attempts`). A worker shutting down finishes its attempts
 * (BullMQ's close), so `release` has no BullMQ counterpart. custctl decides the rest here through
 * the machine: which states may be cancelled and the cancelled record (`cancel`), which may be
 * retried (`assertRetryable`).
 */
import type { Queue, Worker, IQueueBackend, Job as BullJob, JobProgress, JobsOptions, Processor as BullMQProcessor, WorkerOptions } from 'bullmq';
import { ConflictError, NotFoundError, OperationError, UsageError, type ErrorName } from '../errors.js';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { isSupersededResult, type AttemptRecord, type Job, type JobData, type JobName, type JobOptions, type JobState, type NewJob } from '../domain/job.js';
import { assertRetryable, cancel as cancelled } from '../domain/job-machine.js';
import type { JobFilter, JobQueue, JobScrubber, QueueScrubResult } from './queue.js';
import { scrubBullJobs, type FinishedFields } from './bullmq-scrub.js';

export const QUEUE_NAME = 'custctl-deletions';
export const JOB_TTL_SECONDS = 7 * 24 * 3600;
/** the lock (lease) of a running job; renewed by BullMQ every lockDuration/2 */
export const LOCK_MS = 30_000;
export const MAX_STALLED_COUNT = 2;

/**
 * What custctl needs of one BullMQ backend besides BullMQ's Queue/Worker API. Implemented for
 * Redis (src/adapters/bullmq-redis.ts) and PostgreSQL (src/adapters/bullmq-postgres.ts).
 */
export interface BullBackend {
  readonly name: 'redis' | 'postgres';
  /** where the queue lives, never with a password: `redis://host:6379 (queue custctl-deletions)` */
  readonly description: string;
  /** BullMQ's Queue on this backend (each call a new one, with its own connections) */
  createQueue(): BullMQQueue;
  /** BullMQ's Worker on this backend */
  createWorker(processor: BullProcessor, opts: BullWorkerSettings): BullMQWorker;
  /** a new job id: numeric, never reused */
  allocateId(): Promise<string>;
  /** when the delayed job `bullId` is due (ms), from the backend's delayed index; null when it is not there */
  delayedUntil(bullId: string): Promise<number | null>;
  /** removes a waiting or delayed job; throws when a worker holds it or takes it meanwhile (atomically) */
  remove(b: BullJob<BullData, unknown, JobName>): Promise<void>;
  /** cancelled jobs as custctl keeps them (BullMQ has no such state): the job JSON by id */
  readonly cancelled: CancelledRecords;
  /**
   * Replaces a finished job's result, failure message and stack trace (BullMQ has no call for
   * them), atomically with the check that it is still completed or failed; false when it is not
   * (or is gone). `stacktrace` in BullMQ's order.
   */
  rewriteFinished(bullId: string, fields: FinishedFields): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The cancelled jobs a backend keeps beside BullMQ's: our job JSON by id, read like finished jobs until pruned. */
export interface CancelledRecords {
  get(id: string): Promise<string | null>;
  all(): Promise<string[]>;
  count(): Promise<number>;
  put(id: string, json: string): Promise<void>;
  remove(ids: readonly string[]): Promise<void>;
}

/** What we keep in a BullMQ job's data besides {customerId, namespace}. */
export interface Meta {
  opts: JobOptions;
  requestedBy: string;
  simulated: boolean;
  previousStatus?: string | null;
  failedCode?: ErrorName;
}

export type BullData = JobData & { meta: Meta };

const bullId = (id: string) => `j${id}`;
const ourId = (bid: string | undefined) => (bid ?? '').replace(/^j/, '');
const ID = JOB_ID_PATTERN;

export function mapState(s: string): JobState | null {
  switch (s) {
    case 'waiting':
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    case 'active':
    case 'delayed':
    case 'completed':
    case 'failed':
      return s;
    default:
      return null;
  }
}

/** BullMQ's options for one of our jobs (also used by the transactional add of the PostgreSQL backend). */
export function bullJobOptions(id: string, nj: NewJob, now: number): JobsOptions {
  return {
    jobId: bullId(id),
    attempts: nj.opts.attempts,
    backoff: { type: 'exponential', delay: nj.opts.backoff.delay },
    removeOnComplete: { age: JOB_TTL_SECONDS },
    removeOnFail: { age: JOB_TTL_SECONDS },
    timestamp: now,
    // a scheduled deletion: BullMQ's delayed set, kept by the backend across worker restarts
    ...(nj.delayUntil !== undefined && nj.delayUntil > now ? { delay: nj.delayUntil - now } : {}),
  };
}

/** Our job data with what we keep beside it (BullMQ's `data`). */
export function bullData(nj: NewJob): BullData {
  return {
    ...nj.data,
    meta: { opts: nj.opts, requestedBy: nj.requestedBy, simulated: nj.simulated, ...(nj.previousStatus !== undefined ? { previousStatus: nj.previousStatus } : {}) },
  };
}

/**
 * BullMQ's Queue and Worker, typed for our job data whichever backend runs them (the connection
 * options' type differs per backend; only the backend itself builds them).
 */
type AnyConnection = any;
export type BullMQQueue = Queue<BullData, unknown, JobName, BullData, unknown, JobName, IQueueBackend, AnyConnection>;
export type BullMQWorker = Worker<BullData, unknown, JobName, IQueueBackend, JobProgress, AnyConnection>;
export type BullProcessor = BullMQProcessor<BullData, unknown, JobName>;
/** a Worker's settings besides where it connects (the backend adds that) */
export type BullWorkerSettings = Omit<WorkerOptions, 'connection' | 'prefix'>;

export class BullQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  readonly queue: BullMQQueue;
  readonly description: string;

  constructor(readonly backend: BullBackend) {
    this.queue = backend.createQueue();
    // a dropped connection is retried by ioredis (pg: the next query reconnects); the calls that fail say so themselves
    this.queue.on('error', () => undefined);
    this.description = backend.description;
  }

  async allocateId(): Promise<string> {
    return this.backend.allocateId();
  }

  async add(id: string, nj: NewJob, now: number): Promise<Job> {
    if (!ID.test(id)) throw new UsageError(`job id ${JSON.stringify(id)} is not numeric`);
    await this.queue.add(nj.name, bullData(nj), bullJobOptions(id, nj, now));
    const job = await this.get(id);
    if (!job) throw new OperationError(`job ${id} was added to ${this.description} but cannot be read back`);
    return job;
  }

  async get(id: string): Promise<Job | null> {
    if (!ID.test(id)) return null;
    // The state first, then the hash: a job's move to failed writes its reason and its state in one
    // script, so a state read after the hash could say failed next to a hash read before it (no reason).
    const state = await this.queue.getJobState(bullId(id));
    const b = await this.queue.getJob(bullId(id));
    if (!b) return this.cancelledRecord(id);
    return this.toJob(b, mapState(state) ?? undefined);
  }

  /**
   * Cancelled jobs: BullMQ can only remove a job that is not running, so the cancelled job is kept
   * by the backend (`BullBackend.cancelled`: job JSON by id) and read like any other job — `status
   * job N`, `jobs list --state cancelled` — until prune removes it with the other finished jobs.
   */
  private async cancelledRecord(id: string): Promise<Job | null> {
    const raw = await this.backend.cancelled.get(id);
    return raw ? (JSON.parse(raw) as Job) : null;
  }

  private async cancelledRecords(): Promise<Job[]> {
    const all = await this.backend.cancelled.all();
    const out: Job[] = [];
    for (const raw of all) {
      try {
        out.push(JSON.parse(raw) as Job);
      } catch {
        // not ours to read: skipped (prune leaves it, a person can look at it)
      }
    }
    return out;
  }

  /** Maps a BullMQ job to the one job schema (src/domain/job.ts). */
  async toJob(b: BullJob<BullData, unknown, JobName>, knownState?: JobState): Promise<Job> {
    const state = knownState ?? mapState(await b.getState()) ?? 'waiting';
    const meta: Meta = b.data.meta ?? { opts: { attempts: b.opts.attempts ?? 1, backoff: { type: 'exponential', delay: 0 }, timeoutMs: 0 }, requestedBy: 'unknown', simulated: false };
    let delayUntil: number | null = null;
    if (state === 'delayed') {
      delayUntil = (await this.backend.delayedUntil(b.id ?? '')) ?? b.timestamp + (b.delay ?? 0);
    }
    const { logs } = await this.queue.getJobLogs(b.id ?? '', 0, 999).catch(() => ({ logs: [] as string[] }));
    const attemptsMade = b.attemptsMade ?? 0;
    const attempts: AttemptRecord[] = b.processedOn
      ? [{
          attempt: Math.max(1, attemptsMade + (state === 'active' ? 1 : 0)),
          startedOn: b.processedOn,
          finishedOn: b.finishedOn ?? null,
          worker: 'bullmq',
          outcome: state === 'active' ? 'running' : state === 'completed' ? (isSupersededResult(b.returnvalue) ? 'superseded' : 'completed') : 'failed',
          log: logs,
        }]
      : [];
    const data: JobData = {};
    if (b.data.customerId !== undefined) data.customerId = b.data.customerId;
    if (b.data.namespace !== undefined) data.namespace = b.data.namespace;
    if (b.data.namespaceUid !== undefined) data.namespaceUid = b.data.namespaceUid;
    if (b.data.scheduledFor !== undefined) data.scheduledFor = b.data.scheduledFor;
    if (Array.isArray(b.data.billingPaused)) data.billingPaused = b.data.billingPaused;
    return {
      id: ourId(b.id),
      name: b.name,
      state,
      progress: typeof b.progress === 'number' ? b.progress : 0,
      data,
      opts: meta.opts,
      attemptsMade,
      maxAttempts: b.opts.attempts ?? 1,
      delayUntil,
      failedReason: b.failedReason ? b.failedReason : null,
      failedCode: state === 'failed' ? (meta.failedCode ?? 'internal') : null,
      stacktrace: [...(b.stacktrace ?? [])].filter((s): s is string => typeof s === 'string').reverse(),
      returnvalue: b.returnvalue ?? null,
      requestedBy: meta.requestedBy,
      simulated: meta.simulated,
      timestamp: b.timestamp,
      processedOn: b.processedOn ?? null,
      finishedOn: b.finishedOn ?? null,
      ...(meta.previousStatus !== undefined ? { previousStatus: meta.previousStatus } : {}),
      attempts,
      lease: null,
    };
  }

  async counts(): Promise<Record<JobState, number>> {
    const c = await this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    const cancelled = await this.backend.cancelled.count();
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: (c.failed ?? 0) + cancelled };
  }

  async list(filter: JobFilter = {}): Promise<Job[]> {
    const states = filter.state ? (filter.state === 'waiting' ? ['waiting', 'prioritized'] : [filter.state]) : ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'];
    const out: Job[] = [];
    for (const s of states) {
      const jobs = await this.queue.getJobs([s as 'waiting'], 0, -1);
      for (const b of jobs) {
        if (!b || !b.id?.startsWith('j')) continue;
        if (filter.name && b.name !== filter.name) continue;
        if (filter.customerId && b.data.customerId !== filter.customerId) continue;
        out.push(await this.toJob(b, mapState(s) ?? 'waiting'));
      }
    }
    if (!filter.state || filter.state === 'failed') {
      for (const j of await this.cancelledRecords()) {
        if (filter.name && j.name !== filter.name) continue;
        if (filter.customerId && j.data.customerId !== filter.customerId) continue;
        out.push(j);
      }
    }
    return out.sort((a, b) => Number(b.id) - Number(a.id));
  }

  /**
   * waiting or delayed only. BullMQ has no "cancelled": the job is removed from the queue — which
   * BullMQ refuses while a worker holds its lock, so a cancel never races a running attempt — and
   * kept as a cancelled record (state failed, failedReason 'cancelled') that get/list read.
   */
  async cancel(id: string, now: number): Promise<Job> {
    const b = await this.queue.getJob(bullId(id));
    if (!b) {
      if (await this.cancelledRecord(id)) throw new ConflictError(`job ${id} is cancelled already`);
      throw new NotFoundError(`job ${id} not found in ${this.description}`);
    }
    const job = await this.toJob(b);
    // refuses a job that is running or has ended
    const record = cancelled(job, now);
    try {
      await this.backend.remove(b);
    } catch (e) {
      throw new ConflictError(`job ${id} could not be cancelled: a worker took it just now (${e instanceof Error ? e.message : String(e)})`, [
        `Follow it with 'custctl status job ${id} --watch'.`,
      ]);
    }
    await this.backend.cancelled.put(id, JSON.stringify(record)).catch(() => undefined);
    return record;
  }

  /** failed only: a fresh set of attempts. */
  async retry(id: string, _now: number): Promise<Job> {
    const b = await this.queue.getJob(bullId(id));
    if (!b) throw new NotFoundError(`job ${id} not found in ${this.description}`);
    const state = await b.getState();
    assertRetryable({ id, state: mapState(state) ?? 'waiting' });
    await b.updateData({ ...b.data, meta: { ...b.data.meta, failedCode: undefined } as Meta });
    await b.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return (await this.get(id)) as Job;
  }

  /** Erasure (src/adapters/bullmq-scrub.ts): the customer's finished jobs rewritten in place. */
  async scrubCustomer(customerId: string, scrub: JobScrubber): Promise<QueueScrubResult> {
    return scrubBullJobs<BullData>({
      jobs: async (state) => (await this.queue.getJobs([state], 0, -1)).filter((b) => b?.id?.startsWith('j')).map((b) => ({ id: ourId(b.id), job: b })),
      logs: async (bid) => (await this.queue.getJobLogs(bid, 0, -1)).logs,
      toJob: (b, state) => this.toJob(b, state),
      cancelledRecords: () => this.cancelledRecords(),
      rewriteFinished: (bid, fields) => this.backend.rewriteFinished(bid, fields),
      putCancelled: (id, json) => this.backend.cancelled.put(id, json),
    }, customerId, scrub);
  }

  async prune(before: number): Promise<number> {
    const grace = Math.max(0, Date.now() - before);
    const a = await this.queue.clean(grace, 0, 'completed');
    const b = await this.queue.clean(grace, 0, 'failed');
    const old = (await this.cancelledRecords()).filter((j) => j.finishedOn !== null && j.finishedOn < before).map((j) => j.id);
    await this.backend.cancelled.remove(old);
    return a.length + b.length + old.length;
  }

  async ping(): Promise<void> {
    await this.backend.ping();
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.backend.close();
  }
}
