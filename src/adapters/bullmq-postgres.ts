/**
 * BullMQ on PostgreSQL: the same Queue/Worker as on Redis (src/adapters/bullmq-queue.ts) through
 * BullMQ's PostgreSQL backend (`createPostgresBackend`): one `job` table with a state column,
 * claims with `FOR UPDATE SKIP LOCKED`, wake-ups by LISTEN/NOTIFY, all in one schema of the queue
 * database (default `custctl_queue` in the customers database).
 *
 * What custctl keeps beside BullMQ's objects, in the same schema:
 *   custctl_job_id               sequence: our job ids (numeric, never reused; the BullMQ id is `j<id>`)
 *   custctl_cancelled_jobs       table: cancelled jobs (BullMQ removes them; custctl keeps their record)
 *   custctl_webhook_deliveries   table: the webhook delivery journal (src/adapters/webhook-journal-pg.ts)
 *
 * Schema changes are never made on open: `migratePostgresQueue` applies BullMQ's migrations (its
 * own ledger, `migration`, in the schema) and creates ours; `openPostgresBullQueue` checks. The
 * role that migrates needs CREATE on the database (or an existing schema it owns); the role that
 * runs custctl only the grants `postgresQueueGrants` lists.
 *
 * Where it behaves differently from Redis (what custctl relies on is the same):
 *   - a delayed job's due time is the row's `process_at_ms` (Redis: the delayed zset's score);
 *   - a cancel removes the job inside our own transaction holding the row lock, so a worker's
 *     claim (which skips locked rows) cannot take it in between; BullMQ's `remove()` alone reads,
 *     checks the lock and deletes in separate statements, and could delete a job a worker claimed
 *     between them (Redis runs that as one script);
 *   - a job's lock is a time in its row written with the claiming worker's clock and compared
 *     with the checking worker's clock (Redis: a key that expires on the server's clock), so the
 *     workers' clocks must agree to well within the lock (30 s); the stalled check is the same
 *     mark and sweep (active with an expired lock on two checks in a row → back to wait; past
 *     `maxStalledCount` it carries a deferred failure the next worker to take it records);
 *   - BullMQ's own ids (when no id is given) come from a sequence it creates on a queue's first
 *     add, which would need CREATE at run time; custctl always gives `j<id>`, so it never does.
 *   - BullMQ's PostgreSQL connection memoizes its first start: one that failed (the database
 *     down) fails every later call of that Queue or Worker, where ioredis would reconnect; the
 *     open below fails instead, and a worker must be started anew.
 *
 * Connections per process: a pool of up to BULL_POOL_MAX for BullMQ's Queue and another for its
 * Worker, one LISTEN connection per Worker, 3 of ours (ids, due times, cancels) and 2 of the
 * delivery journal.
 */
import type { Pool, PoolClient } from 'pg';
import {
  assertSchemaCompatibility,
  createPostgresBackend,
  LATEST_SCHEMA_VERSION,
  PostgresQueueBackend,
  Queue,
  withBackend,
  type Job as BullJob,
  type PostgresConnection,
  type PostgresPoolConfig,
} from 'bullmq';
import { JOB_ID_PATTERN } from '../domain/job-id.js';
import { inTransaction } from './pg-connection.js';
import type { JobName, NewJob } from '../domain/job.js';
import { OperationError, UsageError } from '../errors.js';
import {
  bullData,
  bullJobOptions,
  BullQueue,
  QUEUE_NAME,
  type BullBackend,
  type BullData,
  type CancelledRecords,
  type BullMQQueue,
  type BullMQWorker,
  type BullProcessor,
  type BullWorkerSettings,
} from './bullmq-queue.js';
import type { FinishedFields } from './bullmq-scrub.js';

import {
  assertServerVersion, CANCELLED_TABLE, connectOnce, custctlObjects, errorText, ID_SEQUENCE, loadPg, quote, translateSchemaError, type PostgresQueueTarget,
} from './bullmq-postgres-schema.js';

export * from './bullmq-postgres-schema.js';

/** each BullMQ Queue and Worker has a pool of its own: kept small, see the connection budget above */
export const BULL_POOL_MAX = 5;

/** BullMQ's Queue/Worker constructors bound to its PostgreSQL backend. */
const PG = withBackend(createPostgresBackend);

export class PostgresBullBackend implements BullBackend {
  readonly name = 'postgres' as const;
  readonly description: string;
  private pool: Pool | null = null;
  private readonly q: string;

  constructor(readonly target: PostgresQueueTarget) {
    this.q = quote(target.schema);
    this.description = `${target.where} (schema ${target.schema}, queue ${QUEUE_NAME})`;
  }

  /**
   * What BullMQ's own pool (one per Queue and per Worker, plus a Worker's LISTEN connection) is
   * built from. Its version check is skipped because custctl makes its own first
   * (`serverVersionCheck`: it names the version, and says nothing on stderr by itself).
   */
  connection(): PostgresPoolConfig {
    return { ...this.target.pool, max: Math.min(this.target.pool.max ?? BULL_POOL_MAX, BULL_POOL_MAX), schema: this.target.schema, skipVersionCheck: true } as PostgresPoolConfig;
  }

  createQueue(): BullMQQueue {
    return new PG.Queue<BullData, unknown, JobName>(QUEUE_NAME, { connection: this.connection() }) as unknown as BullMQQueue;
  }

  createWorker(processor: BullProcessor, opts: BullWorkerSettings): BullMQWorker {
    return new PG.Worker<BullData, unknown, JobName>(QUEUE_NAME, processor, { connection: this.connection(), ...opts }) as unknown as BullMQWorker;
  }

  /** our own small pool: ids, due times, cancels, checks */
  async db(): Promise<Pool> {
    if (!this.pool) {
      const pg = await loadPg();
      this.pool = new pg.Pool({ ...this.target.pool, max: 3 });
      // an idle connection dropped by the server (a restart) must not crash the process; the next query reconnects
      this.pool.on('error', () => undefined);
    }
    return this.pool;
  }

  async allocateId(): Promise<string> {
    const r = await (await this.db()).query<{ id: string }>(`select nextval('${this.q}.${ID_SEQUENCE}')::text as id`);
    const id = r.rows[0]?.id ?? '';
    if (!JOB_ID_PATTERN.test(id)) throw new OperationError(`the job id sequence ${this.target.schema}.${ID_SEQUENCE} gave ${JSON.stringify(id)}, not a job id`);
    return id;
  }

  async delayedUntil(bullId: string): Promise<number | null> {
    const r = await (await this.db()).query<{ at: string | null }>(
      `select process_at_ms::text as at from ${this.q}.job where queue = $1 and id = $2 and state = 'delayed'`,
      [QUEUE_NAME, bullId],
    );
    const at = r.rows[0]?.at;
    return at === undefined || at === null ? null : Number(at);
  }

  /**
   * Removes a waiting or delayed job in one transaction that holds its row lock: a worker's claim
   * skips the locked row (`FOR UPDATE SKIP LOCKED`), a claim that committed first is seen here
   * and refused. The removal itself is BullMQ's (its events, deduplication keys, flows).
   */
  async remove(b: BullJob<BullData, unknown, JobName>): Promise<void> {
    const id = b.id ?? '';
    await this.inTransaction(async (c) => {
      const r = await c.query<{ state: string }>(`select state::text as state from ${this.q}.job where queue = $1 and id = $2 for update`, [QUEUE_NAME, id]);
      const state = r.rows[0]?.state;
      if (state === undefined) throw new Error(`job ${id} is gone`);
      if (state !== 'waiting' && state !== 'delayed') throw new Error(`job ${id} is ${state}`);
      const n = await c.query<{ n: number }>(`select ${this.q}.remove($1, $2, true) as n`, [QUEUE_NAME, id]);
      if (Number(n.rows[0]?.n ?? 0) === 0) throw new Error(`job ${id} could not be removed because it is locked by another worker`);
    });
  }

  /** a table of job JSON by id (custctl_cancelled_jobs) */
  readonly cancelled: CancelledRecords = (() => {
    const t = () => `${this.q}.${CANCELLED_TABLE}`;
    const db = () => this.db();
    return {
      get: async (id: string) => (await (await db()).query<{ job: string }>(`select job from ${t()} where id = $1`, [id])).rows[0]?.job ?? null,
      all: async () => (await (await db()).query<{ job: string }>(`select job from ${t()} order by id::bigint`)).rows.map((r) => r.job),
      count: async () => Number((await (await db()).query<{ n: number }>(`select count(*)::int as n from ${t()}`)).rows[0]?.n ?? 0),
      put: async (id: string, json: string) => {
        await (await db()).query(`insert into ${t()} (id, job) values ($1, $2) on conflict (id) do update set job = excluded.job`, [id, json]);
      },
      remove: async (ids: readonly string[]) => {
        if (ids.length) await (await db()).query(`delete from ${t()} where id = any($1::text[])`, [ids]);
      },
    };
  })();

  /**
   * Adds a job inside the caller's transaction on the queue database (the customers database when
   * the queue lives there): with the row's claim in the same transaction, the claim and the job
   * commit together or not at all, and no worker sees the job before the commit. BullMQ's Queue
   * has no transaction parameter; this builds its PostgreSQL backend over the caller's client
   * (`PostgresQueueBackend` with a connection that is that client), which is what its add runs on.
   */
  async addInTransaction(client: PoolClient, id: string, nj: NewJob, now: number): Promise<void> {
    if (!JOB_ID_PATTERN.test(id)) throw new UsageError(`job id ${JSON.stringify(id)} is not numeric`);
    const schema = this.target.schema;
    const connection = {
      schema,
      pool: { query: (text: string, params?: unknown[]) => client.query(text, params) },
      isClosing: undefined,
      waitUntilReady: async () => undefined,
      close: async () => undefined,
      disconnect: async () => undefined,
      on: () => connection,
    };
    const factory = (name: string, opts: object) => new PostgresQueueBackend(connection as unknown as PostgresConnection, name, opts as never, false);
    // BullMQ's statements name its objects without a schema: the transaction's search path points at the queue schema for the add, then back
    const before = await client.query<{ path: string }>(`select current_setting('search_path') as path`);
    await client.query(`select set_config('search_path', $1, true)`, [this.q]);
    try {
      const queue = new Queue<BullData, unknown, JobName>(QUEUE_NAME, { connection: {}, skipMetasUpdate: true } as never, factory as never);
      queue.on('error', () => undefined);
      await queue.add(nj.name, bullData(nj), bullJobOptions(id, nj, now));
      await queue.close();
    } finally {
      await client.query(`select set_config('search_path', $1, true)`, [before.rows[0]?.path ?? '"$user", public']);
    }
  }

  async inTransaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(await this.db(), fn);
  }

  /** one statement: only while the row is still completed or failed */
  async rewriteFinished(bullId: string, f: FinishedFields): Promise<boolean> {
    const r = await (await this.db()).query(
      `update ${this.q}.job set return_value = $3::jsonb, failed_reason = $4, stacktrace = $5::jsonb where queue = $1 and id = $2 and state::text in ('completed', 'failed')`,
      [QUEUE_NAME, bullId, JSON.stringify(f.returnvalue ?? null), f.failedReason, JSON.stringify(f.stacktrace)],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async ping(): Promise<void> {
    await (await this.db()).query('select 1');
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    if (p) await p.end().catch(() => undefined);
  }
}

// ---- the server version ------------------------------------------------------------------------

/**
 * Opens the queue: connects, refuses a server older than BullMQ supports, and checks (read-only)
 * that the schema is migrated and current; it never migrates (migratePostgresQueue does).
 */
export async function openPostgresBullQueue(target: PostgresQueueTarget): Promise<BullQueue> {
  await connectOnce(target, async (c) => {
    await assertServerVersion(c, target.where);
    let version: number;
    try {
      version = await assertSchemaCompatibility(c, target.schema, { skipVersionCheck: true });
    } catch (e) {
      throw translateSchemaError(e, target);
    }
    const missing = (await custctlObjects(c, target.schema)).filter((o) => !o.present).map((o) => `no ${o.kind} ${o.name}`);
    if (version < LATEST_SCHEMA_VERSION || missing.length > 0) {
      throw new UsageError(`the queue schema ${target.schema} in ${target.where} is not up to date (BullMQ schema version ${version} of ${LATEST_SCHEMA_VERSION}${missing.map((m) => `, ${m}`).join('')})`, [
        'Run the queue migrations as the schema owner (`custctl db migrate` with CUSTCTL_QUEUE=postgres).',
      ]);
    }
  });
  const q = new BullQueue(new PostgresBullBackend(target));
  // BullMQ's PostgreSQL connection remembers a failed first start for good: fail the open now rather than every call later
  try {
    await q.queue.waitUntilReady();
  } catch (e) {
    await q.close().catch(() => undefined);
    throw new OperationError(`the queue ${q.description} did not start: ${errorText(e)}`, ['Check that the queue database answers, then start again.']);
  }
  return q;
}
