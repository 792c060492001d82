/**
 * The customer store in SQL, one set of statements for PostgreSQL (`pg`) and PGlite, over a tiny
 * driver interface. Every state change is one compare-and-set statement, so two processes (or two
 * workers of one process) can never both own a deletion.
 *
 * Ownership bookkeeping:
 * - `deletion_job_id` holds the job that holds (or last held) the deletion; completing or failing
 *   keeps it (audit), releasing clears it.
 * - `previous_status` is the status the row had before the job first claimed it, so `jobs cancel`
 *   can put it back. A retry/resume of the SAME job (`expectJobId`) keeps it: the job's "before" is
 *   still the status before its first attempt, not `deletion_failed`/`deleting` (a row with no
 *   recorded value falls back to `deletion_failed`). A new job claiming a `deletion_failed` row
 *   records `deletion_failed`.
 */

import type { Transport } from './pg-connection.js';
import { ConflictError, CliError, OperationError, UsageError, errorMessage } from '../errors.js';
import { AUDIT_TABLE, MIGRATIONS, MIGRATION_LOCK_KEY, REQUIRED_AUDIT_COLUMNS, REQUIRED_CUSTOMER_COLUMNS, SCHEMA_MIGRATIONS_DDL } from '../db/migrations.js';
import {
  type AuditDeleted,
  type AuditEntry,
  type AuditFilter,
  type AuditRecord,
  DELETABLE_STATUSES,
  DEPLOYMENT_STATUSES,
  type ClaimResult,
  type CustomerRow,
  type CustomerStore,
  type DeploymentStatus,
  type NewCustomer,
} from './store.js';

/** The few things the store needs from a driver; `pg` and PGlite each get a small adapter. */
export interface SqlDriver {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[]; rowCount: number }>;
  /** One or more statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection (BEGIN/COMMIT, ROLLBACK on a throw). */
  transaction<T>(fn: (d: SqlDriver) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A `customers` row as the database returns it. */
interface DbRow {
  id: number | string;
  customer_id: string;
  email: string;
  company_name: string;
  deployment_status: string;
  instance_namespace: string;
  instance_url: string;
  deletion_job_id: string | null;
  previous_status: string | null;
  deletion_scheduled_at: Date | string | null;
  deleted_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

/** The claim's RETURNING: the new row plus the four columns the claim changes, as they were. */
interface ClaimDbRow extends DbRow {
  before_status: string;
  before_deletion_job_id: string | null;
  before_previous_status: string | null;
  before_updated_at: Date | string;
}

const COLUMNS = `id, customer_id, email, company_name, deployment_status, instance_namespace, instance_url,
  deletion_job_id, previous_status, deletion_scheduled_at, deleted_at, created_at, updated_at`;

const AUDIT_COLUMNS = 'id, at, actor, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason';

interface AuditDbRow {
  id: number | string;
  at: Date | string;
  actor: string;
  action: string;
  customer_id: string | null;
  namespace: string | null;
  job_id: string | null;
  outcome: string | null;
  row_status: string | null;
  deleted: AuditDeleted | string | null;
  reason: string | null;
}

function toAuditRecord(r: AuditDbRow): AuditRecord {
  return {
    id: Number(r.id),
    at: iso(r.at),
    actor: r.actor,
    action: r.action,
    customerId: r.customer_id,
    namespace: r.namespace,
    jobId: r.job_id,
    outcome: r.outcome,
    rowStatus: r.row_status,
    deleted: typeof r.deleted === 'string' ? (JSON.parse(r.deleted) as AuditDeleted) : r.deleted,
    reason: r.reason,
  };
}

/** One audit row, on the connection (or transaction) given. */
async function insertAudit(db: SqlDriver, e: AuditEntry, rowStatus: string | null): Promise<void> {
  await db.query(
    `insert into ${AUDIT_TABLE} (actor, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason)
     values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)`,
    [e.actor, e.action, e.customerId ?? null, e.namespace ?? null, e.jobId ?? null, e.outcome ?? null, rowStatus,
      e.deleted ? JSON.stringify(e.deleted) : null, e.reason ?? null],
  );
}

/** How many times a failed claim is re-tried when the row, read afterwards, turned claimable (a race). */
const CLAIM_TRIES = 3;

/** `pg` error codes the store translates. */
const UNIQUE_VIOLATION = '23505';
const CHECK_VIOLATION = '23514';

function iso(v: Date | string): string {
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

/** The table's check constraint keeps the column to DEPLOYMENT_STATUSES. */
function status(v: string): DeploymentStatus {
  return v as DeploymentStatus;
}

function statusOrNull(v: string | null): DeploymentStatus | null {
  return v === null ? null : status(v);
}

export function toCustomerRow(r: DbRow): CustomerRow {
  return {
    id: Number(r.id),
    customerId: r.customer_id,
    email: r.email,
    companyName: r.company_name,
    deploymentStatus: status(r.deployment_status),
    instanceNamespace: r.instance_namespace,
    instanceUrl: r.instance_url,
    deletionJobId: r.deletion_job_id,
    previousStatus: statusOrNull(r.previous_status),
    deletionScheduledAt: r.deletion_scheduled_at === null || r.deletion_scheduled_at === undefined ? null : iso(r.deletion_scheduled_at),
    deletedAt: r.deleted_at === null || r.deleted_at === undefined ? null : iso(r.deleted_at),
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
  };
}

function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Would `claimForDeletion` accept this row? (Mirrors the claim's WHERE; used only to re-try after a race.) */
function claimable(row: CustomerRow, force: boolean, expectJobId: string | undefined): boolean {
  if (DELETABLE_STATUSES.includes(row.deploymentStatus)) return true;
  if (force && row.deploymentStatus === 'deploying') return true;
  return expectJobId !== undefined && row.deletionJobId === expectJobId
    && (row.deploymentStatus === 'deletion_failed' || row.deploymentStatus === 'deleting');
}

export interface SqlStoreInfo {
  kind: 'postgres' | 'embedded';
  /** `postgres://user@host:port/db` (never a password) or `embedded (<dir>)` */
  description: string;
  /** how the connection is secured (PostgreSQL): `TLS 1.3, certificate and host name verified …` */
  transport?: Transport;
}

export class SqlCustomerStore implements CustomerStore {
  readonly kind: 'postgres' | 'embedded';
  readonly description: string;
  readonly transport?: Transport;
  private closed = false;

  constructor(private readonly db: SqlDriver, info: SqlStoreInfo) {
    this.kind = info.kind;
    this.description = info.description;
    if (info.transport !== undefined) this.transport = info.transport;
  }

  async get(customerId: string): Promise<CustomerRow | null> {
    return this.guard('reading customer ' + customerId, async () => {
      const r = await this.db.query<DbRow>(`select ${COLUMNS} from customers where customer_id = $1`, [customerId]);
      const row = r.rows[0];
      return row ? toCustomerRow(row) : null;
    });
  }

  async list(): Promise<CustomerRow[]> {
    return this.guard('listing customers', async () => {
      const r = await this.db.query<DbRow>(`select ${COLUMNS} from customers order by id`);
      return r.rows.map(toCustomerRow);
    });
  }

  async add(row: NewCustomer, audit?: AuditEntry): Promise<CustomerRow> {
    return this.guard('adding customer ' + row.customerId, async () => {
      try {
        const r = await this.audited(audit, (db) => db.query<DbRow>(
          `insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url)
           values ($1, $2, $3, $4, $5, $6)
           returning ${COLUMNS}`,
          [row.customerId, row.email, row.companyName, row.deploymentStatus, row.instanceNamespace, row.instanceUrl],
        ), (r) => r.rows[0]?.deployment_status ?? null);
        const added = r.rows[0];
        if (!added) throw new OperationError(`adding customer ${row.customerId} returned no row`);
        return toCustomerRow(added);
      } catch (e) {
        if (sqlState(e) === UNIQUE_VIOLATION) {
          throw new ConflictError(`customer ${row.customerId} already exists in ${this.description}`,
            [`see it with 'custctl status customer ${row.customerId}'`]);
        }
        if (sqlState(e) === CHECK_VIOLATION) {
          throw new UsageError(`customer ${row.customerId}: deployment status '${row.deploymentStatus}' is not one of ${DEPLOYMENT_STATUSES.join(', ')}`);
        }
        throw e;
      }
    });
  }

  async claimForDeletion(customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string; scheduledAt?: Date; audit?: AuditEntry }): Promise<ClaimResult> {
    return this.guard('claiming customer ' + customerId + ' for deletion', async () => {
      const allowed: string[] = [...DELETABLE_STATUSES, ...(opts.force ? ['deploying'] : [])];
      const expect = opts.expectJobId ?? null;
      for (let attempt = 1; ; attempt++) {
        // One statement: the sub-select locks the row (waiting for a concurrent claim to commit and
        // then seeing its result), the UPDATE re-checks the predicate on the latest row version.
        const r = await this.audited(opts.audit, (db) => db.query<ClaimDbRow>(
          `update customers c set
             deployment_status = 'deleting',
             previous_status = case
               when c.deployment_status = 'deleting' then c.previous_status
               when c.deployment_status = 'deletion_failed' and c.deletion_job_id = $3::text
                 then coalesce(c.previous_status, 'deletion_failed')
               else c.deployment_status
             end,
             deletion_job_id = $2::text,
             deletion_scheduled_at = case when c.deletion_job_id = $3::text then c.deletion_scheduled_at else $5::timestamptz end,
             deleted_at = null,
             updated_at = now()
           from (select id, deployment_status, deletion_job_id, previous_status, updated_at
                 from customers where customer_id = $1 for update) b
           where c.id = b.id
             and (c.deployment_status = any($4::text[])
                  or (c.deletion_job_id = $3::text and c.deployment_status in ('deletion_failed', 'deleting')))
           returning c.id, c.customer_id, c.email, c.company_name, c.deployment_status, c.instance_namespace,
             c.instance_url, c.deletion_job_id, c.previous_status, c.deletion_scheduled_at, c.deleted_at, c.created_at, c.updated_at,
             b.deployment_status as before_status, b.deletion_job_id as before_deletion_job_id,
             b.previous_status as before_previous_status, b.updated_at as before_updated_at`,
          [customerId, jobId, expect, allowed, opts.scheduledAt ? opts.scheduledAt.toISOString() : null],
        ), (r) => r.rows[0]?.deployment_status ?? null);
        const won = r.rows[0];
        if (won) {
          const after = toCustomerRow(won);
          const before: CustomerRow = {
            ...after,
            deploymentStatus: status(won.before_status),
            deletionJobId: won.before_deletion_job_id,
            previousStatus: statusOrNull(won.before_previous_status),
            updatedAt: iso(won.before_updated_at),
          };
          return { ok: true, before, after };
        }
        const row = await this.get(customerId);
        if (!row) return { ok: false, reason: 'not-found' };
        if (claimable(row, opts.force, opts.expectJobId) && attempt < CLAIM_TRIES) continue;
        if (row.deploymentStatus === 'deploying') return { ok: false, reason: 'deploying', row };
        if (row.deploymentStatus === 'deleting') return { ok: false, reason: 'deleting', row };
        return { ok: false, reason: 'status', row };
      }
    });
  }

  async isOwnedBy(customerId: string, jobId: string): Promise<boolean> {
    return this.guard('checking the deletion owner of ' + customerId, async () => {
      const r = await this.db.query<{ one: number }>(
        `select 1 as one from customers where customer_id = $1 and deployment_status = 'deleting' and deletion_job_id = $2`,
        [customerId, jobId],
      );
      return r.rows.length > 0;
    });
  }

  async completeDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return this.ownedUpdate('completing the deletion of ' + customerId,
      `deployment_status = 'pending', instance_namespace = '', instance_url = '', deletion_scheduled_at = null, deleted_at = now()`, customerId, jobId, audit);
  }

  async completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean> {
    return this.guard('restoring the row of ' + customerId, async () => {
      const r = await this.audited(audit, (db) => db.query<{ deployment_status: string }>(
        `update customers set deployment_status = 'deployed', instance_namespace = $2, instance_url = $3,
           deletion_job_id = null, previous_status = null, updated_at = now()
         where customer_id = $1 and deployment_status = 'pending'
         returning deployment_status`,
        [customerId, namespace, url],
      ), (r) => r.rows[0]?.deployment_status ?? null);
      return r.rows.length > 0;
    });
  }

  async failDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return this.ownedUpdate('marking the deletion of ' + customerId + ' failed',
      `deployment_status = 'deletion_failed', deletion_scheduled_at = null`, customerId, jobId, audit);
  }

  /**
   * Back to the status before the claim. With no recorded previous status (a row claimed by an
   * older custctl, or edited by hand) it falls back to `deletion_failed`, not `deployed`: part of
   * the instance may already be gone, and `deletion_failed` tells billing to look while staying
   * deletable; `deployed` could claim a live instance that no longer exists.
   */
  async releaseDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return this.ownedUpdate('releasing the deletion of ' + customerId,
      `deployment_status = coalesce(previous_status, 'deletion_failed'), deletion_job_id = null, previous_status = null, deletion_scheduled_at = null`,
      customerId, jobId, audit);
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.guard(`recording ${entry.action} in the audit log`, () => insertAudit(this.db, entry, null));
  }

  async listAudit(f: AuditFilter): Promise<AuditRecord[]> {
    return this.guard('reading the audit log', async () => {
      const r = await this.db.query<AuditDbRow>(
        `select ${AUDIT_COLUMNS} from ${AUDIT_TABLE}
         where ($1::text is null or customer_id = $1::text)
           and ($2::timestamptz is null or at >= $2::timestamptz)
           and ($3::text[] is null or action = any($3::text[]))
         order by id desc limit $4`,
        [f.customerId ?? null, f.since ? f.since.toISOString() : null, f.actions && f.actions.length > 0 ? [...f.actions] : null, f.limit ?? 1000],
      );
      return r.rows.map(toAuditRecord);
    });
  }

  async pruneAudit(before: Date, actor: string): Promise<number> {
    return this.guard('pruning the audit log', async () => {
      const r = await this.db.query<{ n: number | string }>(`select custctl_audit_prune($1::timestamptz, $2::text) as n`, [before.toISOString(), actor]);
      return Number(r.rows[0]?.n ?? 0);
    });
  }

  async serverVersion(): Promise<string> {
    return this.guard('reading the server version', async () => {
      const r = await this.db.query<{ v: string }>('select version() as v');
      // `PostgreSQL 16.4 (Debian 16.4-1.pgdg120+2) on x86_64-pc-linux-gnu, compiled by …`: up to " on "
      return (r.rows[0]?.v ?? 'unknown').split(' on ')[0] as string;
    });
  }

  async checkSchema(): Promise<string[]> {
    return this.guard('checking the schema', async () => {
      const missing: string[] = [];
      const tables = await this.db.query<{ customers: string | null; migrations: string | null; audit: string | null }>(
        `select to_regclass('customers')::text as customers, to_regclass('schema_migrations')::text as migrations,
           to_regclass('${AUDIT_TABLE}')::text as audit`,
      );
      const t = tables.rows[0];
      if (!t?.customers) {
        missing.push('table customers');
      } else {
        // the same table to_regclass found (first on search_path), not merely one in current_schema()
        const cols = await this.db.query<{ column_name: string }>(
          `select attname::text as column_name from pg_attribute
           where attrelid = to_regclass('customers') and attnum > 0 and not attisdropped`,
        );
        const have = new Set(cols.rows.map((c) => c.column_name));
        for (const c of REQUIRED_CUSTOMER_COLUMNS) if (!have.has(c)) missing.push(`column customers.${c}`);
      }
      if (!t?.audit) {
        missing.push(`table ${AUDIT_TABLE}`);
      } else {
        const cols = await this.db.query<{ column_name: string }>(
          `select attname::text as column_name from pg_attribute
           where attrelid = to_regclass('${AUDIT_TABLE}') and attnum > 0 and not attisdropped`,
        );
        const have = new Set(cols.rows.map((c) => c.column_name));
        for (const c of REQUIRED_AUDIT_COLUMNS) if (!have.has(c)) missing.push(`column ${AUDIT_TABLE}.${c}`);
      }
      if (!t?.migrations) {
        // A customers table created by someone else (billing) that has every column is enough.
        if (missing.length > 0) {
          missing.push('table schema_migrations');
          for (const m of MIGRATIONS) missing.push(`migration ${m.version} (${m.name})`);
        }
        return missing;
      }
      const applied = await this.db.query<{ version: number }>(`select version from schema_migrations`);
      const done = new Set(applied.rows.map((a) => Number(a.version)));
      for (const m of MIGRATIONS) if (!done.has(m.version)) missing.push(`migration ${m.version} (${m.name})`);
      return missing;
    });
  }

  async migrate(): Promise<string[]> {
    return this.guard('migrating the schema', async () => {
      const applied: string[] = [];
      for (const m of MIGRATIONS) {
        // One transaction per migration, serialised across processes by an advisory lock (PGlite
        // supports it too). The record is checked under the lock, so two runs never apply one twice.
        const ran = await this.db.transaction(async (tx) => {
          await tx.query(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
          await tx.exec(SCHEMA_MIGRATIONS_DDL);
          const seen = await tx.query<{ version: number }>(`select version from schema_migrations where version = $1`, [m.version]);
          if (seen.rows.length > 0) return false;
          try {
            await tx.exec(m.sql);
          } catch (e) {
            throw new OperationError(`migration ${m.version} (${m.name}) failed on ${this.description}: ${errorMessage(e)}`,
              ['nothing of this migration was applied (it runs in a transaction); fix the cause and run \'custctl db migrate\' again'],
              { cause: e });
          }
          await tx.query(`insert into schema_migrations (version, name) values ($1, $2)`, [m.version, m.name]);
          return true;
        });
        if (ran) applied.push(`${m.version} ${m.name}`);
      }
      return applied;
    });
  }

  async ping(): Promise<void> {
    await this.guard('reaching the store', async () => {
      await this.db.query('select 1');
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  /** compare-and-set on `deleting AND deletion_job_id = jobId` */
  private async ownedUpdate(what: string, set: string, customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return this.guard(what, async () => {
      const r = await this.audited(audit, (db) => db.query<{ deployment_status: string }>(
        `update customers set ${set}, updated_at = now()
         where customer_id = $1 and deployment_status = 'deleting' and deletion_job_id = $2
         returning deployment_status`,
        [customerId, jobId],
      ), (r) => r.rows[0]?.deployment_status ?? null);
      return r.rows.length > 0;
    });
  }

  /**
   * A row change and its audit row in ONE transaction: a crash (or a failed insert) can never
   * leave one without the other. `statusOf` tells the row's new status, null when nothing changed
   * (a compare-and-set that lost): then no audit row is written.
   */
  private async audited<T>(audit: AuditEntry | undefined, change: (db: SqlDriver) => Promise<T>, statusOf: (v: T) => string | null): Promise<T> {
    if (!audit) return change(this.db);
    return this.db.transaction(async (tx) => {
      const v = await change(tx);
      const rowStatus = statusOf(v);
      if (rowStatus !== null) await insertAudit(tx, audit, rowStatus);
      return v;
    });
  }

  /** Typed errors pass through; anything else (a driver or SQL error) becomes an OperationError. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CliError) throw e;
      const code = sqlState(e);
      const hint = code === '42P01' || code === '42703'
        ? ['the schema looks out of date: run \'custctl db migrate\'']
        : [];
      throw new OperationError(`customer store (${this.description}): ${what} failed: ${errorMessage(e)}${code && /^[0-9A-Z]{5}$/.test(code) ? ` [${code}]` : ''}`,
        hint, { cause: e });
    }
  }
}
