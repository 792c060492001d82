/**
 * The job queue on BullMQ (Redis): the seed's production shape, workers on many machines.
 *
 * - queue `custctl-deletions`, job names `delete` and `cleanup-rbac`;
 * - ids: the interface allocates an id before the job exists (the row's compare-and-set records
 *   it first). BullMQ refuses integer custom ids, so ids come from our own Redis counter
 *   (`<prefix>:custctl-deletions:custctl-id`, INCR: numeric, never reused) and the BullMQ job id
 *   is `j<id>`; the API and `status job` show the number;
 * - `attempts`, `backoff: {type: 'exponential', delay}` (BullMQ's formula is ours:
 *   delay × 2^(attemptsMade−1)), `removeOnComplete/removeOnFail: {age: 7 days}` (seconds; BullMQ
 *   applies it lazily, when later jobs finish);
 * - no per-job timeout in BullMQ: the worker aborts the processor's signal after `opts.timeoutMs`;
 * - a worker killed mid-attempt: BullMQ's stalled-job check moves the job back to wait (at-least-
 *   once; every pipeline step is idempotent). `maxStalledCount` is 2: a job whose worker dies twice
 *   in a row (e.g. it is what kills the worker) fails instead of looping; the worker's `failed`
 *   event then settles the row to `deletion_failed`.
 * The runner-style methods (claim, complete, …) are not used with BullMQ: BullMQ's Worker runs
 * the jobs (runBullWorker below).
 */
import { Redis } from 'ioredis';
import { Queue, type Job as BullJob, type JobsOptions } from 'bullmq';
import { ConflictError, NotFoundError, OperationError, UsageError, type ErrorName } from '../errors.js';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { isSupersededResult, type AttemptRecord, type Job, type JobData, type JobName, type JobOptions, type JobState, type NewJob } from '../domain/job.js';
import type { JobFilter, JobQueue } from './queue.js';

export const QUEUE_NAME = 'custctl-deletions';
export const RETENTION_SECONDS = 7 * 24 * 3600;
/** the lock (lease) of a running job; renewed by BullMQ every lockDuration/2 */
export const LOCK_MS = 30_000;
export const MAX_STALLED_COUNT = 2;

export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: Record<string, never>;
  /** BullMQ workers need blocking commands without a retry limit */
  maxRetriesPerRequest: null;
}


/** REDIS_URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS) or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD. */
export function redisConnectionFrom(env: Readonly<Record<string, string | undefined>>): RedisConnection {
  if (env.REDIS_URL) {
    let u: URL;
    try {
      u = new URL(env.REDIS_URL);
    } catch {
      throw new UsageError('REDIS_URL is not a URL: expected redis://[:password@]host:6379[/db]');
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`REDIS_URL must start with redis:// or rediss://, not ${u.protocol}`);
    const db = u.pathname.replace(/^\//, '');
    if (db !== '' && !/^\d+$/.test(db)) throw new UsageError('REDIS_URL: the path must be a database number, e.g. /0');
    return {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db ? { db: Number(db) } : {}),
      ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
      maxRetriesPerRequest: null,
    };
  }
  const port = env.REDIS_PORT ? Number(env.REDIS_PORT) : 6379;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`REDIS_PORT=${JSON.stringify(env.REDIS_PORT)} is not a port number`);
  return {
    host: env.REDIS_HOST || '127.0.0.1',
    port,
    ...(env.REDIS_PASSWORD ? { password: env.REDIS_PASSWORD } : {}),
    maxRetriesPerRequest: null,
  };
}

export function describeRedis(c: RedisConnection): string {
  return `redis${c.tls ? 's' : ''}://${c.host}:${c.port}${c.db ? `/${c.db}` : ''} (queue ${QUEUE_NAME})`;
}

/** What we keep in a BullMQ job's data besides the seed's {customerId, namespace}. */
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

export class BullQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  readonly queue: Queue<BullData, unknown, JobName>;
  readonly description: string;

  constructor(readonly connection: RedisConnection, readonly prefix = 'bull') {
    this.queue = new Queue<BullData, unknown, JobName>(QUEUE_NAME, { connection: { ...connection }, prefix });
    // a dropped connection is retried by ioredis; the calls that fail say so themselves
    this.queue.on('error', () => undefined);
    this.description = describeRedis(connection);
  }

  private redis: Redis | null = null;

  /** our own connection for the id counter, delayed-until scores and ping */
  private async client(): Promise<Redis> {
    if (!this.redis) {
      this.redis = new Redis({ ...this.connection, lazyConnect: false });
      this.redis.on('error', () => undefined);
    }
    return this.redis;
  }

  async allocateId(): Promise<string> {
    const redis = await this.client();
    return String(await redis.incr(`${this.prefix}:${QUEUE_NAME}:custctl-id`));
  }

  async add(id: string, nj: NewJob, now: number): Promise<Job> {
    if (!ID.test(id)) throw new UsageError(`job id ${JSON.stringify(id)} is not numeric`);
    const data: BullData = {
      ...nj.data,
      meta: { opts: nj.opts, requestedBy: nj.requestedBy, simulated: nj.simulated, ...(nj.previousStatus !== undefined ? { previousStatus: nj.previousStatus } : {}) },
    };
    const opts: JobsOptions = {
      jobId: bullId(id),
      attempts: nj.opts.attempts,
      backoff: { type: 'exponential', delay: nj.opts.backoff.delay },
      removeOnComplete: { age: RETENTION_SECONDS },
      removeOnFail: { age: RETENTION_SECONDS },
      timestamp: now,
      // a scheduled deletion: BullMQ's delayed set, kept in Redis across worker restarts
      ...(nj.delayUntil !== undefined && nj.delayUntil > now ? { delay: nj.delayUntil - now } : {}),
    };
    await this.queue.add(nj.name, data, opts);
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
    if (!b) return null;
    return this.toJob(b, mapState(state) ?? undefined);
  }

  /** Maps a BullMQ job to the one job schema (src/domain/job.ts). */
  async toJob(b: BullJob<BullData, unknown, JobName>, knownState?: JobState): Promise<Job> {
    const state = knownState ?? mapState(await b.getState()) ?? 'waiting';
    const meta: Meta = b.data.meta ?? { opts: { attempts: b.opts.attempts ?? 1, backoff: { type: 'exponential', delay: 0 }, timeoutMs: 0 }, requestedBy: 'unknown', simulated: false };
    let delayUntil: number | null = null;
    if (state === 'delayed') {
      const score = await (await this.client()).zscore(`${this.prefix}:${QUEUE_NAME}:delayed`, b.id ?? '');
      delayUntil = score !== null ? Math.floor(Number(score) / 0x1000) : b.timestamp + (b.delay ?? 0);
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
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
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
    return out.sort((a, b) => Number(b.id) - Number(a.id));
  }

  /**
   * waiting or delayed only. BullMQ has no "cancelled": the job is removed from the queue and the
   * returned record (state failed, failedReason 'cancelled') is what the caller settles the row with.
   */
  async cancel(id: string, now: number): Promise<Job> {
    const b = await this.queue.getJob(bullId(id));
    if (!b) throw new NotFoundError(`job ${id} not found in ${this.description}`);
    const job = await this.toJob(b);
    if (job.state !== 'waiting' && job.state !== 'delayed') throw new ConflictError(`job ${id} is ${job.state}: only waiting or delayed jobs can be cancelled`);
    try {
      await b.remove();
    } catch (e) {
      throw new ConflictError(`job ${id} could not be cancelled (a worker took it just now?): ${String(e)}`);
    }
    return { ...job, state: 'failed', failedReason: 'cancelled', failedCode: 'conflict', finishedOn: now, delayUntil: null };
  }

  /** failed only: a fresh set of attempts. */
  async retry(id: string, _now: number): Promise<Job> {
    const b = await this.queue.getJob(bullId(id));
    if (!b) throw new NotFoundError(`job ${id} not found in ${this.description}`);
    if ((await b.getState()) !== 'failed') throw new ConflictError(`job ${id} is not failed: only failed jobs can be retried`);
    await b.updateData({ ...b.data, meta: { ...b.data.meta, failedCode: undefined } as Meta });
    await b.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return (await this.get(id)) as Job;
  }

  async prune(before: number): Promise<number> {
    const grace = Math.max(0, Date.now() - before);
    const a = await this.queue.clean(grace, 0, 'completed');
    const b = await this.queue.clean(grace, 0, 'failed');
    return a.length + b.length;
  }

  async ping(): Promise<void> {
    await (await this.client()).ping();
  }

  async close(): Promise<void> {
    await this.queue.close();
    if (this.redis) await this.redis.quit().catch(() => this.redis?.disconnect());
    this.redis = null;
  }
}

/** How long the first connection to Redis may take before custctl says it got no answer. */
export const REDIS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * One connection that does not retry, to learn whether Redis is there before the queue's own
 * connections (which reconnect forever, as a BullMQ worker must) are opened: a refused connection
 * or an unknown host fails at once with its cause instead of waiting, and nothing is left running.
 */
export async function probeRedis(conn: RedisConnection, description: string, timeoutMs = REDIS_CONNECT_TIMEOUT_MS): Promise<void> {
  const probe = new Redis({ ...conn, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  let lastError: unknown;
  probe.on('error', (e) => { lastError = e; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (e) {
    const err = (lastError ?? e) as { code?: string; message?: string };
    const code = err.code ?? (e as { code?: string }).code;
    const reason = code === 'ECONNREFUSED' ? 'connection refused (ECONNREFUSED)'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `host ${conn.host} not found (${code})`
        : code === 'ETIMEDOUT' || /timeout/i.test(err.message ?? '') ? `no answer within ${Math.round(timeoutMs / 1000)} s`
          : err.message ?? String(e);
    throw new OperationError(`cannot reach Redis at ${description}: ${reason}`, [
      code === 'ECONNREFUSED' ? `check that Redis runs there and listens on port ${conn.port}` : 'check the host and port',
      'Check REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD), or unset them to use the local file journal.',
    ]);
  } finally {
    probe.disconnect();
  }
}

export async function openBullQueue(env: Readonly<Record<string, string | undefined>>): Promise<BullQueue> {
  const conn = redisConnectionFrom(env);
  await probeRedis(conn, describeRedis(conn));
  const q = new BullQueue(conn);
  try {
    await Promise.race([
      q.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${REDIS_CONNECT_TIMEOUT_MS / 1000} s`)), REDIS_CONNECT_TIMEOUT_MS).unref()),
    ]);
  } catch (e) {
    await q.close().catch(() => undefined);
    throw new OperationError(`cannot reach Redis at ${q.description}: ${e instanceof Error ? e.message : String(e)}`, [
      'Check REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD), or unset them to use the local file journal.',
    ]);
  }
  return q;
}
