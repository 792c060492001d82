/**
 * The queue backends, in one table: the file journal, BullMQ on Redis, BullMQ on PostgreSQL.
 * Which one a process uses is decided here (from CUSTCTL_QUEUE and the variables
 * src/adapters/queue-config.ts reads) and nowhere else; every edge that depends on the backend
 * (deps' jobs() and delivery journal, `worker`, `serve`, `doctor`, `version`, `db migrate`,
 * completion, the local client's texts) asks its entry.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { Env } from '../config.js';
import type { JobQueue } from '../adapters/queue.js';
import type { DeliveryJournal } from '../adapters/webhook-journal.js';
import type { PostgresQueueTarget, QueueCheck } from '../adapters/bullmq-postgres.js';
import { parseQueueSelection, type QueueBackendName, type QueueSelection } from '../adapters/queue-config.js';

/** What a backend needs of the process that opens it. */
export interface BackendContext {
  env: Env;
  /** the state directory, checked (and created 0700) */
  stateDir(): Promise<string>;
  /** the state directory's path, not created */
  stateDirPath: string;
  /** `pid@host` */
  worker: string;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export type { QueueCheck };

/** A queue and what closes it. */
interface Opened<T> { value: T; close?: () => Promise<void> }

export interface QueueBackend {
  readonly name: QueueBackendName;
  /** `file journal`, `BullMQ on Redis`, `BullMQ on PostgreSQL` */
  readonly title: string;
  /**
   * Jobs are run by `custctl worker` processes, on any number of machines, that share the queue
   * (`serve` runs no embedded worker, `worker --once` is refused). false: this machine's journal,
   * run by `worker`, `serve` or the CLI itself.
   */
  readonly separateWorkers: boolean;
  /** what a worker elsewhere must be given to share this queue (for messages) */
  readonly sameSettings: string;
  /** one line for `version` and logs: what the queue is and where (never a password) */
  describe(ctx: BackendContext): Promise<string>;
  /** the jobs queue */
  open(ctx: BackendContext): Promise<Opened<JobQueue>>;
  /** the webhook delivery journal, kept beside the queue (every worker of the queue sees it) */
  deliveryJournal(ctx: BackendContext): Promise<Opened<DeliveryJournal>>;
  /** whether anything could be in the delivery journal (false: reading it would only create files) */
  mayHaveDeliveries(ctx: BackendContext): boolean;
  /** whether anything could be in the queue (completion reads it only then) */
  mayHaveJobs(ctx: BackendContext): boolean;
  /** `doctor`'s checks of the queue; `open` is deps' (cached) open of the queue */
  check(ctx: BackendContext, open: () => Promise<JobQueue>): Promise<QueueCheck[]>;
  /** `db migrate`: what the queue's own schema needs (nothing for file and Redis) */
  migrate(ctx: BackendContext): Promise<{ where: string; applied: string[] } | null>;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const fixOf = (e: unknown, fallback: string): string => (e as { details?: readonly string[] }).details?.[0] ?? fallback;

const file: QueueBackend = {
  name: 'file',
  title: 'file journal',
  separateWorkers: false,
  sameSettings: 'the same state directory (CUSTCTL_STATE_DIR)',
  describe: async (ctx) => `file journal (${ctx.stateDirPath}/journal)`,
  async open(ctx) {
    const dir = await ctx.stateDir();
    const { openFileJournal } = await import('../adapters/file-journal.js');
    const q = await openFileJournal({
      dir: join(dir, 'journal'),
      worker: ctx.worker,
      // once per damaged file and process: the other jobs keep working
      onCorrupt: (p) => ctx.warn(`Skipping damaged job file ${p.path}: ${p.reason}`, { hint: 'move it away to silence this' }),
    });
    return { value: q, close: () => q.close() };
  },
  async deliveryJournal(ctx) {
    const dir = await ctx.stateDir();
    const { openFileDeliveryJournal } = await import('../adapters/webhook-journal.js');
    return { value: openFileDeliveryJournal(join(dir, 'webhooks')) };
  },
  mayHaveDeliveries: (ctx) => existsSync(join(ctx.stateDirPath, 'webhooks')),
  mayHaveJobs: (ctx) => existsSync(join(ctx.stateDirPath, 'journal', 'jobs')),
  check: async (ctx) => [{ name: 'queue', status: 'ok', detail: `file journal in ${ctx.stateDirPath}/journal` }],
  migrate: async () => null,
};

const redis: QueueBackend = {
  name: 'redis',
  title: 'BullMQ on Redis',
  separateWorkers: true,
  sameSettings: 'the same REDIS_URL',
  describe: async () => 'BullMQ on Redis (REDIS_URL / REDIS_HOST)',
  async open(ctx) {
    // BullMQ on Redis: workers on many machines
    const { openBullQueue } = await import('../adapters/bullmq-redis.js');
    const q = await openBullQueue(ctx.env);
    return { value: q, close: () => q.close() };
  },
  async deliveryJournal(ctx) {
    const [{ RedisDeliveryJournal }, { redisConnectionFrom }] = await Promise.all([import('../adapters/webhook-journal-redis.js'), import('../adapters/bullmq-redis.js')]);
    const j = new RedisDeliveryJournal(redisConnectionFrom(ctx.env));
    return { value: j, close: () => j.close() };
  },
  mayHaveDeliveries: () => true,
  mayHaveJobs: () => true,
  async check(_ctx, open) {
    try {
      const q = await open();
      return [{ name: 'queue', status: 'ok', detail: `BullMQ (${q.kind}) answers` }];
    } catch (e) {
      return [{ name: 'queue', status: 'fail', detail: errorText(e), fix: fixOf(e, 'Check REDIS_URL, or unset it to use the local file journal.') }];
    }
  },
  migrate: async () => null,
};

/**
 * Where the PostgreSQL queue lives: its URL (or the PG* variables) resolved as the customers
 * database's is (sslmode, certificates, timeouts), and tried once, so that the pool's TLS settings
 * are the ones that worked (prefer/allow) and a failure names its cause.
 */
export async function postgresQueueTarget(s: Extract<QueueSelection, { backend: 'postgres' }>, env: Env): Promise<PostgresQueueTarget> {
  const t = await queuePgTarget(s, env);
  const where = t.description;
  const { openPool } = await import('../adapters/pg-connection.js');
  const opened = await openPool(t, { ...env });
  await opened.pool.end().catch(() => undefined);
  return { pool: opened.config, schema: s.schema, where };
}

/** The queue database as libpq would read it: its own URL, the customers' DATABASE_URL, or the PG* variables. */
async function queuePgTarget(s: Extract<QueueSelection, { backend: 'postgres' }>, env: Env) {
  // the PostgreSQL client's rules load only for this backend: the file journal's commands do without
  const { pgTarget } = await import('../adapters/pg-connection.js');
  return pgTarget({ ...(s.databaseUrl !== undefined ? { connectionString: s.databaseUrl } : {}), env: { ...env } });
}

function pgSelection(env: Env): Extract<QueueSelection, { backend: 'postgres' }> {
  const s = parseQueueSelection(env);
  if (s.backend !== 'postgres') throw new Error(`the queue is ${s.backend}, not postgres`);
  return s;
}

/** one resolved target per process (the connection tried once: the TLS settings that worked) */
const targets = new WeakMap<BackendContext, Promise<PostgresQueueTarget>>();
function targetOf(ctx: BackendContext): Promise<PostgresQueueTarget> {
  let t = targets.get(ctx);
  if (!t) {
    t = postgresQueueTarget(pgSelection(ctx.env), ctx.env);
    targets.set(ctx, t);
    t.catch(() => targets.delete(ctx));
  }
  return t;
}

const postgres: QueueBackend = {
  name: 'postgres',
  title: 'BullMQ on PostgreSQL',
  separateWorkers: true,
  sameSettings: 'CUSTCTL_QUEUE=postgres and the same queue database and schema',
  async describe(ctx) {
    const s = pgSelection(ctx.env);
    let where: string;
    try {
      where = (await queuePgTarget(s, ctx.env)).description;
    } catch (e) {
      where = `unresolved: ${errorText(e)}`;
    }
    return `BullMQ on PostgreSQL, ${where}, schema ${s.schema}`;
  },
  async open(ctx) {
    const target = await targetOf(ctx);
    const { openPostgresBullQueue } = await import('../adapters/bullmq-postgres.js');
    const q = await openPostgresBullQueue(target);
    return { value: q, close: () => q.close() };
  },
  async deliveryJournal(ctx) {
    const target = await targetOf(ctx);
    const { PostgresDeliveryJournal } = await import('../adapters/webhook-journal-pg.js');
    const j = new PostgresDeliveryJournal(target);
    return { value: j, close: () => j.close() };
  },
  mayHaveDeliveries: () => true,
  mayHaveJobs: () => true,
  async check(ctx) {
    let target: PostgresQueueTarget;
    try {
      target = await targetOf(ctx);
    } catch (e) {
      return [{ name: 'queue database', status: 'fail', detail: errorText(e), fix: fixOf(e, 'Check CUSTCTL_QUEUE_DATABASE_URL (or DATABASE_URL), or choose another queue with CUSTCTL_QUEUE.') }];
    }
    const { checkPostgresQueue } = await import('../adapters/bullmq-postgres.js');
    return checkPostgresQueue(target);
  },
  async migrate(ctx) {
    const s = pgSelection(ctx.env);
    const target = await postgresQueueTarget(s, ctx.env);
    const { migratePostgresQueue } = await import('../adapters/bullmq-postgres.js');
    const r = await migratePostgresQueue(target);
    const applied = r.to > r.from ? [`BullMQ queue schema ${s.schema}: version ${r.from} → ${r.to}`] : [];
    return { where: `${target.where} (queue schema ${s.schema})`, applied };
  },
};

/** The registry: every queue backend custctl has. */
export const QUEUE_BACKEND_TABLE: Readonly<Record<QueueBackendName, QueueBackend>> = { file, redis, postgres };

/** This process's backend, from its environment (UsageError for a setting that would be ignored or is malformed). */
export function selectQueueBackend(env: Env): { backend: QueueBackend; selection: QueueSelection } {
  const selection = parseQueueSelection(env);
  return { backend: QUEUE_BACKEND_TABLE[selection.backend], selection };
}

/** What queueBackendOf reads of the composition root (Deps has it; so does a test double). */
export interface QueueBackendHost {
  queueBackend?: () => Promise<{ backend: QueueBackend; ctx: BackendContext }>;
  config(): { stateDir: string };
  env: Env;
  worker: string;
  log: { warn(message: string, fields?: Record<string, unknown>): void };
}

/** The backend of `d` (its own choice when it made one; test doubles of Deps: from their environment). */
export async function queueBackendOf(d: QueueBackendHost): Promise<{ backend: QueueBackend; ctx: BackendContext }> {
  if (d.queueBackend) return d.queueBackend();
  const stateDirPath = d.config().stateDir;
  return {
    backend: selectQueueBackend(d.env).backend,
    ctx: { env: d.env, stateDir: async () => stateDirPath, stateDirPath, worker: d.worker, warn: (m, f) => d.log.warn(m, f) },
  };
}
