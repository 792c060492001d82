/**
 * The customer store on a real PostgreSQL through `pg` (a Pool of up to 10 connections).
 * The connection is configured in pg-connection.ts (DATABASE_URL or the libpq PG* variables,
 * sslmode with libpq's meaning). Migrations are NOT applied here: the schema is checked read-only
 * on open and `custctl db migrate` applies what is missing.
 */

import type { Pool, PoolClient } from 'pg';
import { UsageError } from '../errors.js';
import { openPool, pgTarget } from './pg-connection.js';
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

export { pgTarget, type PgTarget } from './pg-connection.js';

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
 * Opens the store on PostgreSQL: connects (failure → OperationError naming the cause and what to
 * set), then checks the schema read-only (anything missing → UsageError saying to run
 * `custctl db migrate`) unless `skipSchemaCheck`.
 */
export async function openPgStore(opts: PgStoreOptions): Promise<CustomerStore> {
  const t = pgTarget(opts);
  const { pool, transport } = await openPool(t, opts.env);
  const store = new SqlCustomerStore(pgDriver(pool), { kind: 'postgres', description: t.description, transport, ...(opts.clusterColumn !== undefined ? { clusterColumn: opts.clusterColumn } : {}) });
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
