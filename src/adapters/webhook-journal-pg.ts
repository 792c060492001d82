/**
 * The delivery journal in PostgreSQL, beside the BullMQ queue (same database, same schema), so that
 * a delivery journaled by the worker that ran the job is resumed by any worker or `serve` after a
 * restart, and `status job N` (and serve's API) show it from any machine. One table:
 *
 *   <schema>.custctl_webhook_deliveries
 *     (job_id, id)       primary key; (job_id, key) unique: one delivery per job end and endpoint
 *     state, next_attempt_at, created_at, updated_at   what the scans and prune read
 *     record             the DeliveryRecord JSON (without its lease)
 *     lease_owner, lease_expires_at                    the process trying it now
 *
 * The table is created idempotently here on the first write (and by the queue migrations,
 * src/adapters/bullmq-postgres.ts); reading never creates anything. A claim is one UPDATE whose
 * WHERE is `isDue` (pending, due, lease free or expired), so two processes never both hold it.
 * Kept like the other journals: `prune(before)` drops the jobs whose deliveries all ended before
 * `before`, and anything not written for 8 days (Redis' expiry) goes as well. Nothing here holds a
 * secret (the endpoint is named; signatures are made at each try).
 */
import type { Pool, PoolClient } from 'pg';
import type { DeliveryRecord } from '../domain/webhook.js';
import { deliveriesTableDdl, type PostgresQueueTarget } from './bullmq-postgres.js';
import type { DeliveryJournal } from './webhook-journal.js';
import { inTransaction } from './pg-connection.js';

/** Deliveries not written for this long are dropped whatever their state (Redis expires them after as long). */
export const KEEP_MS = 8 * 24 * 3600 * 1000;
const TABLE = 'custctl_webhook_deliveries';
/** the pending scan reads at most this many (Redis' scan: the first 1000) */
const PENDING_LIMIT = 1000;

interface Row {
  record: DeliveryRecord;
  lease_owner: string | null;
  lease_expires_at: string | null;
}

const UNDEFINED_TABLE = '42P01';
const UNDEFINED_SCHEMA = '3F000';

function missingTable(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === UNDEFINED_TABLE || code === UNDEFINED_SCHEMA;
}

function withLease(r: Row): DeliveryRecord {
  const { lease: _l, ...rest } = r.record;
  return { ...rest, lease: r.lease_owner !== null ? { owner: r.lease_owner, expiresAt: Number(r.lease_expires_at ?? 0) } : null } as DeliveryRecord;
}

function stored(r: DeliveryRecord): Omit<DeliveryRecord, 'lease'> {
  const { lease: _l, ...rest } = r;
  return rest;
}

export class PostgresDeliveryJournal implements DeliveryJournal {
  readonly kind = 'postgres';
  readonly description: string;
  private pool: Pool | null = null;
  private ready: Promise<void> | null = null;
  private readonly t: string;

  constructor(
    private readonly target: PostgresQueueTarget,
    /** the clock of `updated_at` (tests move it) */
    private readonly now: () => number = Date.now,
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(target.schema) || target.schema.length > 63) throw new Error(`not a schema name: ${JSON.stringify(target.schema)}`);
    this.t = `"${target.schema}".${TABLE}`;
    this.description = `${target.where} (table ${target.schema}.${TABLE})`;
  }

  private async db(): Promise<Pool> {
    if (!this.pool) {
      const pg = (await import('pg')).default;
      this.pool = new pg.Pool({ ...this.target.pool, max: 2 });
      this.pool.on('error', () => undefined);
    }
    return this.pool;
  }

  /** The table, created on the first write if the queue migrations have not made it (serialised across processes). */
  private ensureTable(): Promise<void> {
    return (this.ready ??= (async () => {
      const db = await this.db();
      const there = await db.query<{ t: string | null }>('select to_regclass($1)::text as t', [this.t]);
      if (there.rows[0]?.t) return;
      await this.transaction(async (c) => {
        await c.query('select pg_advisory_xact_lock(hashtext($1))', [`custctl:queue-schema:${this.target.schema}`]);
        await c.query(`create schema if not exists "${this.target.schema}"`);
        await c.query(deliveriesTableDdl(this.target.schema));
      });
    })().catch((e: unknown) => {
      this.ready = null;
      throw e;
    }));
  }

  private async transaction<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(await this.db(), fn);
  }

  /** a statement that finds no table yet finds nothing (reading never creates it) */
  private async run(text: string, params: unknown[]): Promise<Row[]> {
    try {
      return (await (await this.db()).query<Row>(text, params)).rows;
    } catch (e) {
      if (missingTable(e)) return [];
      throw e;
    }
  }

  async add(records: readonly DeliveryRecord[]): Promise<DeliveryRecord[]> {
    if (records.length === 0) return [];
    await this.ensureTable();
    const now = this.now();
    // one transaction: the deliveries of one job end are journaled all or none
    return this.transaction(async (c) => {
      const added: DeliveryRecord[] = [];
      for (const r of records) {
        const ins = await c.query(
          `insert into ${this.t} (job_id, id, key, state, created_at, next_attempt_at, record, updated_at)
           values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
           on conflict do nothing`,
          [r.jobId, r.id, r.key, r.state, r.createdAt, r.state === 'pending' ? (r.nextAttemptAt ?? r.createdAt) : null, JSON.stringify(stored(r)), now],
        );
        if ((ins.rowCount ?? 0) > 0) added.push(r);
      }
      return added;
    });
  }

  async forJob(jobId: string): Promise<DeliveryRecord[]> {
    const rows = await this.run(`select record, lease_owner, lease_expires_at::text from ${this.t} where job_id = $1 order by created_at, id`, [jobId]);
    return rows.map(withLease);
  }

  async pending(): Promise<DeliveryRecord[]> {
    const rows = await this.run(
      `select record, lease_owner, lease_expires_at::text from ${this.t} where state = 'pending' order by next_attempt_at, created_at limit $1`,
      [PENDING_LIMIT],
    );
    return rows.map(withLease);
  }

  async claim(jobId: string, id: string, owner: string, now: number, leaseMs: number): Promise<DeliveryRecord | null> {
    const rows = await this.run(
      `update ${this.t} set lease_owner = $3, lease_expires_at = $4 + $5::bigint
       where job_id = $1 and id = $2 and state = 'pending' and coalesce(next_attempt_at, 0) <= $4
         and (lease_owner is null or lease_expires_at <= $4)
       returning record, lease_owner, lease_expires_at::text`,
      [jobId, id, owner, now, leaseMs],
    );
    const r = rows[0];
    return r ? withLease(r) : null;
  }

  async finish(jobId: string, id: string, owner: string, patch: Parameters<DeliveryJournal['finish']>[3]): Promise<boolean> {
    const rows = await this.run(
      `update ${this.t} set record = record || $4::jsonb, state = $5, next_attempt_at = $6, lease_owner = null, lease_expires_at = null, updated_at = $7
       where job_id = $1 and id = $2 and lease_owner = $3
       returning record, lease_owner, lease_expires_at::text`,
      [jobId, id, owner, JSON.stringify(patch), patch.state, patch.state === 'pending' ? (patch.nextAttemptAt ?? this.now()) : null, this.now()],
    );
    return rows.length > 0;
  }

  async prune(before: number): Promise<number> {
    const now = this.now();
    const rows = await this.run(
      `with gone as (
         delete from ${this.t} d
         where d.updated_at < $2
            or d.job_id in (
              select job_id from ${this.t}
              group by job_id
              having bool_and(state <> 'pending')
                 and max(greatest(coalesce((record->>'deliveredAt')::bigint, 0), coalesce((record->>'lastAttemptAt')::bigint, 0), created_at)) < $1)
         returning d.job_id)
       select count(distinct job_id)::int as n from gone`,
      [before, now - KEEP_MS],
    );
    return Number((rows[0] as unknown as { n?: number } | undefined)?.n ?? 0);
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    this.ready = null;
    if (p) await p.end().catch(() => undefined);
  }
}
