/**
 * Which queue backend a process uses, from its environment, decided in one place:
 *
 *   CUSTCTL_QUEUE               file | redis | postgres. Unset: redis when REDIS_URL or REDIS_HOST is
 *                               set (how custctl has always chosen), else file.
 *   CUSTCTL_QUEUE_DATABASE_URL  postgres only: the queue database; default the customers database
 *                               (DATABASE_URL, else the PG* variables).
 *   CUSTCTL_QUEUE_SCHEMA        postgres only: the schema of the queue's tables; default custctl_queue.
 *
 * A setting that would be silently ignored is refused (a postgres setting without
 * CUSTCTL_QUEUE=postgres): otherwise workers meant for PostgreSQL would run on the file journal
 * of one machine. Redis' own settings next to CUSTCTL_QUEUE=file|postgres are not refused (other
 * tools read them too) but named in `notes`.
 */
import { UsageError } from '../errors.js';

export const QUEUE_BACKENDS = ['file', 'redis', 'postgres'] as const;
export type QueueBackendName = (typeof QUEUE_BACKENDS)[number];

export const DEFAULT_QUEUE_SCHEMA = 'custctl_queue';

export type QueueSelection =
  | { backend: 'file' | 'redis'; explicit: boolean; notes: string[] }
  | {
      backend: 'postgres';
      explicit: true;
      /** the queue database's URL; undefined: the PG* variables (as for the customers database) */
      databaseUrl: string | undefined;
      /** where it came from, for messages */
      databaseUrlFrom: 'CUSTCTL_QUEUE_DATABASE_URL' | 'DATABASE_URL' | 'PG*';
      /** the queue shares the customers database (so a claim and an enqueue could share a transaction) */
      sameDatabaseAsCustomers: boolean;
      schema: string;
      notes: string[];
    };

type Env = Readonly<Record<string, string | undefined>>;

const set = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';

/** PostgreSQL's own schemas, and `public` (where the customers tables live): never the queue's. */
const RESERVED_SCHEMAS = new Set(['public', 'information_schema']);

/** A schema name the queue may use: a plain identifier (no quoting surprises), not a system or the customers' schema. */
export function parseQueueSchema(raw: string, from = 'CUSTCTL_QUEUE_SCHEMA'): string {
  const s = raw.trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s) || s.length > 63) {
    throw new UsageError(`${from}=${JSON.stringify(raw)} is not a schema name: letters, digits and _ only, not starting with a digit, at most 63 (e.g. ${DEFAULT_QUEUE_SCHEMA})`);
  }
  if (RESERVED_SCHEMAS.has(s.toLowerCase()) || /^pg_/i.test(s)) {
    throw new UsageError(`${from}=${s} is refused: the queue's tables (job, event, meta, …) need a schema of their own, not ${s.toLowerCase().startsWith('pg_') ? "one of PostgreSQL's" : s}`, [
      `Leave it unset for ${DEFAULT_QUEUE_SCHEMA}.`,
    ]);
  }
  return s;
}

function checkUrl(url: string, from: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`${from} is not a URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new UsageError(`${from} must start with postgres:// or postgresql:// (it starts with ${u.protocol}//)`);
}

export function parseQueueSelection(env: Env): QueueSelection {
  const raw = env.CUSTCTL_QUEUE?.trim().toLowerCase() ?? '';
  const redisSet = set(env.REDIS_URL) || set(env.REDIS_HOST);
  if (raw !== '' && !(QUEUE_BACKENDS as readonly string[]).includes(raw)) {
    throw new UsageError(`CUSTCTL_QUEUE=${JSON.stringify(env.CUSTCTL_QUEUE)} is not a queue backend: choose ${QUEUE_BACKENDS.join(', ')}`);
  }
  const backend = (raw || (redisSet ? 'redis' : 'file')) as QueueBackendName;
  const pgOnly = ['CUSTCTL_QUEUE_DATABASE_URL', 'CUSTCTL_QUEUE_SCHEMA'].filter((k) => set(env[k]));
  if (backend !== 'postgres') {
    if (pgOnly.length > 0) {
      throw new UsageError(`${pgOnly.join(' and ')} ${pgOnly.length > 1 ? 'are' : 'is'} set but the queue is ${backend}${raw ? '' : ' (CUSTCTL_QUEUE unset)'}`, [
        'Set CUSTCTL_QUEUE=postgres to keep the queue in PostgreSQL, or unset them.',
      ]);
    }
    const notes = backend === 'file' && redisSet ? ['REDIS_URL/REDIS_HOST are set but CUSTCTL_QUEUE=file: the queue is this machine\'s file journal'] : [];
    return { backend, explicit: raw !== '', notes };
  }
  const notes = redisSet ? ['REDIS_URL/REDIS_HOST are set but CUSTCTL_QUEUE=postgres: the queue is in PostgreSQL, Redis is not used'] : [];
  const own = set(env.CUSTCTL_QUEUE_DATABASE_URL) ? env.CUSTCTL_QUEUE_DATABASE_URL.trim() : undefined;
  const customers = set(env.DATABASE_URL) ? env.DATABASE_URL.trim() : undefined;
  if (own !== undefined) checkUrl(own, 'CUSTCTL_QUEUE_DATABASE_URL');
  const databaseUrl = own ?? customers;
  return {
    backend,
    explicit: true,
    databaseUrl,
    databaseUrlFrom: own !== undefined ? 'CUSTCTL_QUEUE_DATABASE_URL' : customers !== undefined ? 'DATABASE_URL' : 'PG*',
    sameDatabaseAsCustomers: own === undefined || own === customers,
    schema: set(env.CUSTCTL_QUEUE_SCHEMA) ? parseQueueSchema(env.CUSTCTL_QUEUE_SCHEMA) : DEFAULT_QUEUE_SCHEMA,
    notes,
  };
}
