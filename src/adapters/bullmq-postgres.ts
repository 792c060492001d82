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
import type { Pool, PoolClient, PoolConfig } from 'pg';
import {
  assertSchemaCompatibility,
  createPostgresBackend,
  LATEST_SCHEMA_VERSION,
  MINIMUM_POSTGRES_VERSION,
  PostgresQueueBackend,
  Queue,
  RECOMMENDED_POSTGRES_VERSION,
  runMigrations,
  SchemaMigrationRequiredError,
  SchemaVersionMismatchError,
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

export { MINIMUM_POSTGRES_VERSION, RECOMMENDED_POSTGRES_VERSION, LATEST_SCHEMA_VERSION };

/** our job id sequence, in the queue schema */
export const ID_SEQUENCE = 'custctl_job_id';
/** the cancelled jobs' records, in the queue schema */
export const CANCELLED_TABLE = 'custctl_cancelled_jobs';

/** Where the PostgreSQL queue lives. */
export interface PostgresQueueTarget {
  /** pg's connection settings for the queue database (host, user, password, TLS; `max` per pool) */
  pool: PoolConfig;
  /** the schema of BullMQ's tables and ours (a plain identifier; see parseQueueSelection) */
  schema: string;
  /** the database without its password, `postgres://user@host:5432/db`, for messages */
  where: string;
}

const quote = (schema: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema) || schema.length > 63) throw new UsageError(`${JSON.stringify(schema)} is not a schema name custctl uses: letters, digits and _ only, at most 63`);
  return `"${schema}"`;
};

const errorText = (e: unknown): string => {
  const err = e as { message?: string; code?: string; errors?: Array<{ message?: string }> };
  return err.message || err.errors?.[0]?.message || err.code || String(e);
};

async function loadPg(): Promise<typeof import('pg').default> {
  return (await import('pg')).default;
}

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

export interface VersionVerdict {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

/**
 * BullMQ's PostgreSQL backend refuses servers older than MINIMUM_POSTGRES_VERSION and recommends
 * RECOMMENDED_POSTGRES_VERSION. `num` is `server_version_num` (150004 for 15.4), `reported`
 * `server_version` as the server names itself.
 */
export function serverVersionCheck(num: string, reported: string): VersionVerdict {
  const n = Number.parseInt(num, 10);
  if (!Number.isFinite(n) || n <= 0) return { status: 'fail', detail: `PostgreSQL did not say its version (server_version_num ${JSON.stringify(num)})` };
  const major = Math.floor(n / 10_000);
  if (major < MINIMUM_POSTGRES_VERSION) {
    return { status: 'fail', detail: `PostgreSQL ${reported} is too old for BullMQ's PostgreSQL backend: it needs ${MINIMUM_POSTGRES_VERSION} or newer` };
  }
  if (major < RECOMMENDED_POSTGRES_VERSION) {
    return { status: 'warn', detail: `PostgreSQL ${reported} works; BullMQ recommends ${RECOMMENDED_POSTGRES_VERSION} or newer` };
  }
  return { status: 'ok', detail: `PostgreSQL ${reported}` };
}

/** Refuses a server older than BullMQ supports (OperationError naming both versions; permanent). */
export async function assertServerVersion(client: Pick<PoolClient, 'query'>, where: string): Promise<VersionVerdict> {
  const r = await client.query<{ num: string; ver: string }>(`select current_setting('server_version_num') as num, current_setting('server_version') as ver`);
  const v = serverVersionCheck(r.rows[0]?.num ?? '0', r.rows[0]?.ver ?? 'unknown');
  if (v.status === 'fail') {
    throw new OperationError(`the queue database ${where}: ${v.detail}`, [`Upgrade that server to PostgreSQL ${MINIMUM_POSTGRES_VERSION} or newer, or keep the queue on Redis or the file journal (CUSTCTL_QUEUE).`], { permanent: true });
  }
  return v;
}

// ---- migrations, checks, grants --------------------------------------------------------------

/** What BullMQ's migrations create in the schema (bullmq 6.7, schema version 11), besides its `migration` ledger. */
export const BULLMQ_OBJECTS = {
  tables: ['meta', 'job', 'job_log', 'job_dependency', 'event', 'metrics', 'rate_limit', 'dedup', 'scheduler', 'dedup_next', 'relay_node', 'relay_subscription', 'relay_inbox', 'relay_retained'],
  /** 78 PL/pgSQL and SQL functions (add_job, move_to_active, move_stalled_jobs_to_wait, remove, clean, …) and 33 indexes */
  types: ['job_state', 'dep_status'],
  sequences: ['job_seq', 'event_seq', 'relay_inbox_id_seq', 'relay_mid_seq'],
} as const;

/** custctl's own objects in the schema. */
export const CUSTCTL_OBJECTS = { sequences: [ID_SEQUENCE], tables: [CANCELLED_TABLE, 'custctl_webhook_deliveries'] } as const;

/**
 * What a role that runs custctl (workers, serve, the CLI) needs once the schema is migrated. The
 * functions are SECURITY INVOKER, so the role needs the tables themselves; EXECUTE on functions
 * is PostgreSQL's default for PUBLIC (revoke it and grant it here as well).
 */
export function postgresQueueGrants(schema: string, role: string): string[] {
  const s = quote(schema);
  const r = /^[a-z_][a-z0-9_$]*$/.test(role) ? role : `"${role.replace(/"/g, '""')}"`;
  return [
    `GRANT USAGE ON SCHEMA ${s} TO ${r};`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${s} TO ${r};`,
    `GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${s} TO ${r};`,
    `GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ${s} TO ${r};`,
  ];
}

const MIGRATE_LOCK = 'custctl:queue-schema:';

/** Creates custctl's own objects in the schema (idempotent; serialised across processes). */
async function ensureCustctlObjects(c: Pick<PoolClient, 'query'>, schema: string): Promise<void> {
  const s = quote(schema);
  await c.query('begin');
  try {
    await c.query(`select pg_advisory_xact_lock(hashtext($1))`, [MIGRATE_LOCK + schema]);
    await c.query(`create schema if not exists ${s}`);
    await c.query(`create sequence if not exists ${s}.${ID_SEQUENCE} minvalue 1 start 1`);
    await c.query(`create table if not exists ${s}.${CANCELLED_TABLE} (id text primary key, job text not null)`);
    await c.query(deliveriesTableDdl(schema));
    await c.query('commit');
  } catch (e) {
    await c.query('rollback').catch(() => undefined);
    throw e;
  }
}

/** The webhook delivery journal's table (also created by the journal itself on its first write). */
export function deliveriesTableDdl(schema: string): string {
  const s = quote(schema);
  return `create table if not exists ${s}.custctl_webhook_deliveries (
    job_id text not null,
    id text not null,
    key text not null,
    state text not null,
    created_at bigint not null,
    next_attempt_at bigint,
    record jsonb not null,
    lease_owner text,
    lease_expires_at bigint,
    updated_at bigint not null,
    primary key (job_id, id),
    unique (job_id, key)
  );
  create index if not exists custctl_webhook_deliveries_pending on ${s}.custctl_webhook_deliveries (next_attempt_at) where state = 'pending';
  create index if not exists custctl_webhook_deliveries_updated on ${s}.custctl_webhook_deliveries (updated_at)`;
}

async function connectOnce<T>(target: PostgresQueueTarget, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const pg = await loadPg();
  const pool = new pg.Pool({ ...target.pool, max: 1 });
  pool.on('error', () => undefined);
  let c: PoolClient;
  try {
    c = await pool.connect();
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new OperationError(`cannot connect to the queue database ${target.where}: ${errorText(e)}`, [
      'Check CUSTCTL_QUEUE_DATABASE_URL (or DATABASE_URL, which it defaults to), or choose another queue with CUSTCTL_QUEUE.',
    ]);
  }
  c.on('error', () => undefined);
  try {
    return await fn(c);
  } finally {
    c.release(true);
    await pool.end().catch(() => undefined);
  }
}

export interface MigrationResult {
  server: VersionVerdict;
  /** BullMQ's schema version before and after */
  from: number;
  to: number;
}

/**
 * Brings the queue schema up to date: BullMQ's migrations (one transaction, serialised by its
 * advisory lock), then custctl's sequence and delivery table. Refuses an older server first.
 */
export async function migratePostgresQueue(target: PostgresQueueTarget): Promise<MigrationResult> {
  return connectOnce(target, async (c) => {
    const server = await assertServerVersion(c, target.where);
    let from = 0;
    try {
      from = await assertSchemaCompatibility(c, target.schema, { skipVersionCheck: true });
    } catch (e) {
      if (!(e instanceof SchemaMigrationRequiredError)) throw translateSchemaError(e, target);
    }
    let to: number;
    try {
      to = await runMigrations(c, target.schema, { skipVersionCheck: true });
      await ensureCustctlObjects(c, target.schema);
    } catch (e) {
      throw new OperationError(`migrating the queue schema ${target.schema} in ${target.where} failed: ${errorText(e)}`, [
        'Nothing of BullMQ\'s migrations was applied (one transaction). The role needs CREATE on the database (or to own the schema): run the migration as the schema\'s owner.',
      ], { cause: e });
    }
    return { server, from, to };
  });
}

function translateSchemaError(e: unknown, target: PostgresQueueTarget): Error {
  if (e instanceof SchemaMigrationRequiredError) {
    return new UsageError(`the queue schema ${target.schema} in ${target.where} does not exist yet`, ['Create it with the queue migrations: `custctl db migrate` (with CUSTCTL_QUEUE=postgres), as a role that may create the schema.']);
  }
  if (e instanceof SchemaVersionMismatchError) {
    return new UsageError(`the queue schema ${target.schema} in ${target.where} was migrated by a newer BullMQ (needs major ${e.minimumClientVersion}, this custctl has ${e.clientVersion})`, ['Upgrade custctl on this machine.'], { permanent: true });
  }
  return e instanceof Error ? e : new Error(String(e));
}

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped';
/** the shape of a doctor check */
export interface QueueCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

const TABLE_RIGHTS = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const;
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * Read-only checks of the PostgreSQL queue for `doctor`: the server (refusing one older than
 * BullMQ supports, naming its version), the schema (migrated and current), and the rights of the
 * connecting role. Creates nothing.
 */
export async function checkPostgresQueue(target: PostgresQueueTarget): Promise<QueueCheck[]> {
  const out: QueueCheck[] = [];
  try {
    await connectOnce(target, async (c) => {
      const who = await c.query<{ u: string }>('select current_user as u');
      const role = who.rows[0]?.u ?? 'the role';
      out.push({ name: 'queue database', status: 'ok', detail: `${target.where} answers (role ${role})` });
      const r = await c.query<{ num: string; ver: string }>(`select current_setting('server_version_num') as num, current_setting('server_version') as ver`);
      const v = serverVersionCheck(r.rows[0]?.num ?? '0', r.rows[0]?.ver ?? 'unknown');
      out.push({
        name: 'queue server version', status: v.status, detail: v.detail,
        ...(v.status === 'ok' ? {} : { fix: v.status === 'fail' ? `Upgrade the server to PostgreSQL ${MINIMUM_POSTGRES_VERSION} or newer, or keep the queue on Redis or the file journal (CUSTCTL_QUEUE).` : `Plan an upgrade to PostgreSQL ${RECOMMENDED_POSTGRES_VERSION} or newer.` }),
      });
      if (v.status === 'fail') {
        out.push({ name: 'queue schema', status: 'skipped', detail: 'the server is too old' }, { name: 'queue privileges', status: 'skipped', detail: 'the server is too old' });
        return;
      }
      const ns = await c.query<{ there: boolean; usage: boolean }>(
        `select true as there, has_schema_privilege(current_user, n.oid, 'USAGE') as usage from pg_namespace n where n.nspname = $1`,
        [target.schema],
      );
      const fixGrants = `As the schema owner: ${postgresQueueGrants(target.schema, role).join(' ')}`;
      if (ns.rows[0]?.there && !ns.rows[0].usage) {
        out.push({ name: 'queue schema', status: 'skipped', detail: `${target.schema} exists; ${role} may not look into it` });
        out.push({ name: 'queue privileges', status: 'fail', detail: `${role} lacks USAGE on schema ${target.schema} (and so everything in it)`, fix: fixGrants });
        return;
      }
      let version: number | null;
      try {
        version = await assertSchemaCompatibility(c, target.schema, { skipVersionCheck: true });
      } catch (e) {
        if ((e as { code?: string }).code === INSUFFICIENT_PRIVILEGE) {
          version = null; // the privileges check below names what is missing
        } else {
          const err = translateSchemaError(e, target);
          out.push({ name: 'queue schema', status: 'fail', detail: errorText(err), fix: e instanceof SchemaVersionMismatchError ? 'Upgrade custctl.' : 'Run the queue migrations as the schema owner (`custctl db migrate` with CUSTCTL_QUEUE=postgres).' });
          out.push({ name: 'queue privileges', status: 'skipped', detail: 'no schema' });
          return;
        }
      }
      const ours = await custctlObjects(c, target.schema);
      const missing = ours.filter((o) => !o.present).map((o) => `${o.kind} ${o.name}`);
      if (version === null) {
        out.push({ name: 'queue schema', status: 'skipped', detail: `${role} may not read BullMQ's migration ledger in ${target.schema}` });
      } else if (version < LATEST_SCHEMA_VERSION || missing.length > 0) {
        out.push({
          name: 'queue schema', status: 'fail',
          detail: `${target.schema}: ${[...(version < LATEST_SCHEMA_VERSION ? [`BullMQ schema version ${version}, this custctl needs ${LATEST_SCHEMA_VERSION}`] : []), ...missing.map((m) => `missing ${m}`)].join('; ')}`,
          fix: 'Run the queue migrations as the schema owner (`custctl db migrate` with CUSTCTL_QUEUE=postgres).',
        });
      } else {
        out.push({ name: 'queue schema', status: 'ok', detail: `${target.schema}: BullMQ schema version ${version}, custctl's id sequence and tables present` });
      }
      const lacking: string[] = [];
      const ledger = await c.query<{ ok: boolean }>(`select has_table_privilege(current_user, $1, 'SELECT') as ok`, [`${quote(target.schema)}.migration`]);
      if (!ledger.rows[0]?.ok) lacking.push('SELECT on migration');
      const tables = [...BULLMQ_OBJECTS.tables, ...ours.filter((o) => o.present && o.kind === 'table').map((o) => o.name)];
      for (const t of tables) {
        const rights = await c.query<{ right: string; ok: boolean }>(
          `select x as right, has_table_privilege(current_user, $1, x) as ok from unnest($2::text[]) x`,
          [`${quote(target.schema)}.${t}`, TABLE_RIGHTS],
        );
        const no = rights.rows.filter((x) => !x.ok).map((x) => x.right);
        if (no.length) lacking.push(`${no.join(', ')} on ${t}`);
      }
      const seqs = [...BULLMQ_OBJECTS.sequences, ...ours.filter((o) => o.present && o.kind === 'sequence').map((o) => o.name)];
      for (const sq of seqs) {
        const ok = await c.query<{ ok: boolean }>(`select has_sequence_privilege(current_user, $1, 'USAGE') as ok`, [`${quote(target.schema)}.${sq}`]);
        if (!ok.rows[0]?.ok) lacking.push(`USAGE on sequence ${sq}`);
      }
      const fn = await c.query<{ ok: boolean }>(`select has_function_privilege(current_user, $1, 'EXECUTE') as ok`, [`${quote(target.schema)}.move_to_active(text, text, bigint, bigint, text, integer, bigint)`]);
      if (!fn.rows[0]?.ok) lacking.push('EXECUTE on the functions');
      if (lacking.length === 0) out.push({ name: 'queue privileges', status: 'ok', detail: `${role} may use every queue table, sequence and function in ${target.schema}` });
      else out.push({ name: 'queue privileges', status: 'fail', detail: `${role} lacks ${lacking.join('; ')}`, fix: fixGrants });
    });
  } catch (e) {
    out.push({ name: 'queue database', status: 'fail', detail: errorText(e), fix: (e as { details?: readonly string[] }).details?.[0] ?? 'Check CUSTCTL_QUEUE_DATABASE_URL (or DATABASE_URL).' });
  }
  return out;
}

/** custctl's own objects in the schema, and whether each is there. */
async function custctlObjects(c: Pick<PoolClient, 'query'>, schema: string): Promise<Array<{ kind: 'sequence' | 'table'; name: string; present: boolean }>> {
  const want = [...CUSTCTL_OBJECTS.sequences.map((name) => ({ kind: 'sequence' as const, name })), ...CUSTCTL_OBJECTS.tables.map((name) => ({ kind: 'table' as const, name }))];
  const r = await c.query<{ name: string; there: string | null }>(
    `select x as name, to_regclass($1 || '.' || x)::text as there from unnest($2::text[]) x`,
    [quote(schema), want.map((w) => w.name)],
  );
  const there = new Map(r.rows.map((row) => [row.name, row.there !== null]));
  return want.map((w) => ({ ...w, present: there.get(w.name) ?? false }));
}

/** `version`/`doctor` line: what the queue is and where. */
export function describePostgresQueue(target: PostgresQueueTarget): string {
  return `BullMQ on PostgreSQL, ${target.where}, schema ${target.schema}`;
}

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
