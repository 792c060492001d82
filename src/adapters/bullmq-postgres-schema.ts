/**
 * The PostgreSQL queue's schema: what BullMQ's migrations and custctl create in it, the server
 * version BullMQ needs, the grants the running role needs, and the checks `doctor` runs. Schema
 * changes are made here only (`migratePostgresQueue`), never on open. The queue itself:
 * bullmq-postgres.ts.
 */
import type { PoolClient, PoolConfig } from 'pg';
import {
  assertSchemaCompatibility,
  LATEST_SCHEMA_VERSION,
  MINIMUM_POSTGRES_VERSION,
  RECOMMENDED_POSTGRES_VERSION,
  runMigrations,
  SchemaMigrationRequiredError,
  SchemaVersionMismatchError,
} from 'bullmq';
import { OperationError, UsageError } from '../errors.js';

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

export const quote = (schema: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(schema) || schema.length > 63) throw new UsageError(`${JSON.stringify(schema)} is not a schema name custctl uses: letters, digits and _ only, at most 63`);
  return `"${schema}"`;
};

export const errorText = (e: unknown): string => {
  const err = e as { message?: string; code?: string; errors?: Array<{ message?: string }> };
  return err.message || err.errors?.[0]?.message || err.code || String(e);
};

export async function loadPg(): Promise<typeof import('pg').default> {
  return (await import('pg')).default;
}

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

export async function connectOnce<T>(target: PostgresQueueTarget, fn: (c: PoolClient) => Promise<T>): Promise<T> {
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

export function translateSchemaError(e: unknown, target: PostgresQueueTarget): Error {
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
export async function custctlObjects(c: Pick<PoolClient, 'query'>, schema: string): Promise<Array<{ kind: 'sequence' | 'table'; name: string; present: boolean }>> {
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
