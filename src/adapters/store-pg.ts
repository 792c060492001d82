/**
 * The customer store on a real PostgreSQL through `pg` (a Pool of up to 10 connections).
 * The connection comes from a database URL (DATABASE_URL) or the libpq PG* variables, read from the
 * `env` given, never from process.env. Migrations are NOT applied here: the schema is checked
 * read-only on open and `custctl db migrate` applies what is missing.
 */

import os from 'node:os';
import type { Pool, PoolClient, PoolConfig } from 'pg';
import { OperationError, UsageError } from '../errors.js';
import { SqlCustomerStore, type SqlDriver } from './store-sql.js';
import type { CustomerStore } from './store.js';

export interface PgStoreOptions {
  /** a postgres:// URL; defaults to env.DATABASE_URL, then the PG* variables */
  connectionString?: string;
  env: Record<string, string | undefined>;
  /** `db migrate` opens the store before the schema exists */
  skipSchemaCheck?: boolean;
  /** the column naming a customer's cluster (CUSTCTL_CLUSTER_COLUMN; default `cluster`) */
  clusterColumn?: string;
}

/** Where to connect, resolved from the options, and how to name it (never with the password). */
export interface PgTarget {
  config: PoolConfig;
  host: string;
  port: number;
  user: string;
  database: string;
  /** `postgres://user@host:port/db` */
  description: string;
  /** what the operator changes to point custctl elsewhere */
  source: string;
}

const POOL_MAX = 10;
const CONNECT_TIMEOUT_MS = 10_000;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function defaultUser(env: Record<string, string | undefined>): string {
  const fromEnv = nonEmpty(env.PGUSER) ?? nonEmpty(env.USER) ?? nonEmpty(env.USERNAME);
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username;
  } catch {
    return 'postgres';
  }
}

function port(v: string | undefined, what: string): number {
  if (v === undefined || v === '') return 5432;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${what} port '${v}' is not a port number`);
  return n;
}

/** libpq's PGSSLMODE as `pg` itself maps it. */
function sslFromMode(mode: string | undefined): PoolConfig['ssl'] {
  switch (mode) {
    case undefined:
    case '':
    case 'disable':
    case 'allow':
      return undefined;
    case 'no-verify':
      return { rejectUnauthorized: false };
    default:
      return true;
  }
}

function describe(user: string, host: string, p: number, database: string): string {
  return `postgres://${user}@${host}:${p}/${database}`;
}

/**
 * Resolves the connection: a URL (its missing parts filled from PG* of `env`, so `pg` never falls
 * back to process.env), or the PG* variables alone.
 */
export function pgTarget(opts: { connectionString?: string; env: Record<string, string | undefined> }): PgTarget {
  const { env } = opts;
  const url = nonEmpty(opts.connectionString) ?? nonEmpty(env.DATABASE_URL);
  const common: PoolConfig = { max: POOL_MAX, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'custctl' };
  if (url !== undefined) {
    const source = opts.connectionString && opts.connectionString !== env.DATABASE_URL ? 'the database URL' : 'DATABASE_URL';
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new UsageError(`${source} is not a valid URL: expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`);
    }
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
      throw new UsageError(`${source} must start with postgres:// or postgresql:// (it starts with ${u.protocol}//)`);
    }
    const socket = nonEmpty(u.searchParams.get('host') ?? undefined);
    const envHost = nonEmpty(env.PGHOST);
    if (!u.hostname) {
      if (!socket && envHost?.startsWith('/')) u.searchParams.set('host', envHost);
      u.hostname = envHost && !envHost.startsWith('/') ? envHost : 'localhost';
    }
    if (!u.port) u.port = String(port(env.PGPORT, 'PGPORT'));
    if (!u.username) u.username = encodeURIComponent(defaultUser(env));
    if (!u.password && nonEmpty(env.PGPASSWORD)) u.password = encodeURIComponent(env.PGPASSWORD ?? '');
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || nonEmpty(env.PGDATABASE) || decodeURIComponent(u.username);
    if (!u.pathname.replace(/^\//, '')) u.pathname = '/' + encodeURIComponent(database);
    const host = u.searchParams.get('host') ?? u.hostname;
    const p = port(u.port, source);
    const user = decodeURIComponent(u.username);
    return {
      config: { ...common, connectionString: u.toString() },
      host, port: p, user, database, source,
      description: describe(user, host, p, database),
    };
  }
  const host = nonEmpty(env.PGHOST) ?? 'localhost';
  const p = port(env.PGPORT, 'PGPORT');
  const user = defaultUser(env);
  const database = nonEmpty(env.PGDATABASE) ?? user;
  const ssl = sslFromMode(env.PGSSLMODE);
  return {
    config: {
      ...common, host, port: p, user, database,
      ...(nonEmpty(env.PGPASSWORD) !== undefined ? { password: env.PGPASSWORD } : {}),
      ...(ssl !== undefined ? { ssl } : {}),
    },
    host, port: p, user, database,
    source: 'PGHOST/PGPORT/PGUSER/PGDATABASE (or DATABASE_URL)',
    description: describe(user, host, p, database),
  };
}

/** The reason of a connection error, also for Node's AggregateError (IPv4 + IPv6 both refused) whose message is empty. */
function reason(e: unknown): string {
  const err = e as { message?: string; code?: string; errors?: Array<{ message?: string }> };
  const msg = err.message || err.errors?.[0]?.message || err.code || String(e);
  return msg;
}

function pgDriver(pool: Pool): SqlDriver {
  const onClient = (c: PoolClient): SqlDriver => {
    const d: SqlDriver = {
      async query<T>(text: string, params?: unknown[]) {
        const r = await c.query(text, params);
        return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
      },
      async exec(sql: string) {
        await c.query(sql);
      },
      async transaction<T>(fn: (d: SqlDriver) => Promise<T>): Promise<T> {
        return fn(d); // already inside one
      },
      async close() {
        // the pool owns the client
      },
    };
    return d;
  };
  return {
    async query<T>(text: string, params?: unknown[]) {
      const r = await pool.query(text, params);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (d: SqlDriver) => Promise<T>): Promise<T> {
      const c = await pool.connect();
      let broken = false;
      // a connection that dies while checked out emits 'error' on the client (the pool listens
      // only to idle ones): without a listener that crashes the process; the query fails anyway
      const onError = () => { broken = true; };
      c.on('error', onError);
      try {
        await c.query('begin');
        const v = await fn(onClient(c));
        await c.query('commit');
        return v;
      } catch (e) {
        await c.query('rollback').catch(() => { broken = true; });
        throw e;
      } finally {
        c.off('error', onError);
        c.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * Opens the store on PostgreSQL: connects (failure → OperationError naming host:port and what to
 * set), then checks the schema read-only (anything missing → UsageError saying to run
 * `custctl db migrate`) unless `skipSchemaCheck`.
 */
export async function openPgStore(opts: PgStoreOptions): Promise<CustomerStore> {
  const t = pgTarget(opts);
  const { default: pg } = await import('pg');
  const pool = new pg.Pool(t.config);
  // an idle connection dropped by the server must not crash the process; the next query reconnects
  pool.on('error', () => undefined);
  try {
    await pool.query('select 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new OperationError(
      `cannot connect to PostgreSQL at ${t.host}:${t.port} (database ${t.database}, user ${t.user}): ${reason(e)}`,
      [`check that PostgreSQL runs there, or point ${t.source} at the billing database, e.g. DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DATABASE`,
        `or use the embedded store to try custctl: --store embedded (or CUSTCTL_STORE=embedded)`],
    );
  }
  const store = new SqlCustomerStore(pgDriver(pool), { kind: 'postgres', description: t.description, ...(opts.clusterColumn !== undefined ? { clusterColumn: opts.clusterColumn } : {}) });
  if (opts.skipSchemaCheck) return store;
  let missing: string[];
  try {
    missing = await store.checkSchema();
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  if (missing.length > 0) {
    await store.close().catch(() => undefined);
    throw new UsageError(
      `the customers schema in ${t.description} is not up to date (missing: ${missing.join(', ')}); run 'custctl db migrate' to apply the migrations`,
    );
  }
  return store;
}
