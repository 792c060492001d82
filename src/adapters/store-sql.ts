/**
 * The customer store in SQL, one set of statements for PostgreSQL (`pg`) and PGlite, over a tiny
 * driver interface. Every state change is one compare-and-set statement, so two processes (or two
 * workers of one process) can never both own a deletion.
 *
 * This class holds the store's state and guards; the statements live by concern in store-sql/:
 * rows.ts (the row's columns and values), deletions.ts (claim, complete, fail, release, restore),
 * audit.ts (the audit log and its chain), erasure.ts (personal fields), schema.ts (check, migrate,
 * the table's review), catalog.ts (the table as the catalog describes it).
 */
import type { Transport } from './pg-connection.js';
import { ConflictError, CliError, OperationError, UsageError, errorMessage } from '../errors.js';
import { reviewCustomersTable, type TableReview } from '../db/customer-table.js';
import { DEFAULT_CLUSTER_COLUMN } from '../domain/clusters.js';
import type { AuditVerifyReport, ChainHead } from '../domain/audit-chain.js';
import {
  type AuditEntry,
  type AuditPosition,
  type EraseResult,
  type AuditFilter,
  type AuditRecord,
  type TableCheck,
  DEPLOYMENT_STATUSES,
  type ClaimResult,
  type CustomerRow,
  type CustomerStore,
  type NewCustomer,
} from './store.js';
import * as auditLog from './store-sql/audit.js';
import { catalogColumns } from './store-sql/catalog.js';
import type { SqlContext, SqlDriver, SqlStoreInfo } from './store-sql/context.js';
import * as deletions from './store-sql/deletions.js';
import * as erasure from './store-sql/erasure.js';
import { CHECK_VIOLATION, NOT_NULL_VIOLATION, UNIQUE_VIOLATION, columns, orNone, quoteIdent, sqlState, toCustomerRow, type DbRow } from './store-sql/rows.js';
import * as schema from './store-sql/schema.js';

export type { SqlDriver, SqlStoreInfo } from './store-sql/context.js';
export { toCustomerRow } from './store-sql/rows.js';

export class SqlCustomerStore implements CustomerStore {
  readonly kind: 'postgres' | 'embedded';
  readonly description: string;
  readonly clusterColumn: string;
  readonly transport?: Transport;
  private closed = false;
  /** what the statements of store-sql/ share */
  private readonly ctx: SqlContext;

  constructor(private readonly db: SqlDriver, info: SqlStoreInfo) {
    this.kind = info.kind;
    this.description = info.description;
    if (info.transport !== undefined) this.transport = info.transport;
    this.clusterColumn = info.clusterColumn ?? DEFAULT_CLUSTER_COLUMN;
    this.ctx = {
      db, kind: this.kind, description: this.description, clusterColumn: this.clusterColumn,
      rowColumns: (p) => this.rowColumns(p),
      columnsChanged: () => { this.clusterColumnPresent = undefined; },
      guard: (what, fn) => this.guard(what, fn),
      audited: (a, change, statusOf) => this.audited(a, change, statusOf),
      get: (customerId) => this.get(customerId),
      on: (tx) => new SqlCustomerStore(tx, { kind: this.kind, description: this.description, clusterColumn: this.clusterColumn }),
    };
  }

  /**
   * Whether the customers table has the cluster column, asked of the catalog once per store (a
   * table without it reads as before: rows without `cluster`). Asked again after `migrate`.
   */
  private clusterColumnPresent?: Promise<boolean>;
  private async rowColumns(p = ''): Promise<string> {
    this.clusterColumnPresent ??= this.db.query<{ present: boolean; table: boolean }>(
      `select to_regclass('customers') is not null as table,
         exists (select 1 from pg_attribute where attrelid = to_regclass('customers') and attname = $1 and attnum > 0 and not attisdropped) as present`,
      [this.clusterColumn],
    ).then((r) => {
      // no table yet: the statement itself says so; the answer is not kept
      if (r.rows[0]?.table !== true) this.clusterColumnPresent = undefined;
      return r.rows[0]?.present === true;
    }, () => {
      this.clusterColumnPresent = undefined; // the statement itself reports what is wrong; ask again next time
      return false;
    });
    return (await this.clusterColumnPresent) ? `${columns(p)}, ${p}${quoteIdent(this.clusterColumn)}::text as cluster` : columns(p);
  }

  async column(customerId: string, column: string): Promise<string | null> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(column)) throw new Error(`column ${JSON.stringify(column)} is not a plain column name`);
    try {
      const r = await this.db.query<{ v: string | null }>(`select ${quoteIdent(column)}::text as v from customers where customer_id = $1`, [customerId]);
      return r.rows[0]?.v ?? null;
    } catch (e) {
      // undefined_column: this site keeps no such column
      if ((e as { code?: unknown }).code === '42703') return null;
      throw e;
    }
  }

  async get(customerId: string): Promise<CustomerRow | null> {
    return this.guard('reading customer ' + customerId, async () => {
      const r = await this.db.query<DbRow>(`select ${await this.rowColumns()} from customers where customer_id = $1`, [customerId]);
      const row = r.rows[0];
      return row ? toCustomerRow(row) : null;
    });
  }

  async list(): Promise<CustomerRow[]> {
    return this.guard('listing customers', async () => {
      const r = await this.db.query<DbRow>(`select ${await this.rowColumns()} from customers order by id`);
      return r.rows.map(toCustomerRow);
    });
  }

  async add(row: NewCustomer, audit?: AuditEntry): Promise<CustomerRow> {
    return this.guard('adding customer ' + row.customerId, async () => {
      try {
        // the status as a parameter, typed by the column (an ENUM too); empty text as the table's "none";
        // both times set here, since an ORM's updated_at may have no default (Prisma's @updatedAt)
        const returning = await this.rowColumns();
        const r = await this.audited(audit, (db) => db.query<DbRow>(
          `insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url, created_at, updated_at)
           values ($1, ${orNone('$2', 'email')}, ${orNone('$3', 'company_name')}, $4,
             ${orNone('$5', 'instance_namespace')}, ${orNone('$6', 'instance_url')}, now(), now())
           returning ${returning}`,
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
        if (sqlState(e) === NOT_NULL_VIOLATION) {
          const column = (e as { column?: unknown }).column;
          throw new UsageError(`customer ${row.customerId}: customers.${typeof column === 'string' ? column : '?'} is NOT NULL without a default, and custctl has no value for it`,
            ['Add the row through the billing system; custctl only needs it to exist.']);
        }
        throw e;
      }
    });
  }

  async claimForDeletion(customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string; scheduledAt?: Date; audit?: AuditEntry }): Promise<ClaimResult> {
    await this.tableFitForDeletions();
    return deletions.claimForDeletion(this.ctx, customerId, jobId, opts);
  }

  isOwnedBy(customerId: string, jobId: string): Promise<boolean> {
    return deletions.isOwnedBy(this.ctx, customerId, jobId);
  }

  completeDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return deletions.completeDeletion(this.ctx, customerId, jobId, audit);
  }

  completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean> {
    return deletions.completeRestore(this.ctx, customerId, namespace, url, audit);
  }

  failDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return deletions.failDeletion(this.ctx, customerId, jobId, audit);
  }

  releaseDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return deletions.releaseDeletion(this.ctx, customerId, jobId, audit);
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return auditLog.appendAudit(this.ctx, entry);
  }

  listAudit(f: AuditFilter): Promise<AuditRecord[]> {
    return auditLog.listAudit(this.ctx, f);
  }

  pruneAudit(before: Date, actor: string, opts: { allowRecent?: boolean } = {}): Promise<number> {
    return auditLog.pruneAudit(this.ctx, before, actor, opts);
  }

  verifyAudit(opts: { anchor?: ChainHead } = {}): Promise<AuditVerifyReport> {
    return auditLog.verifyAudit(this.ctx, opts);
  }

  auditPosition(q: { customerId: string; action: AuditEntry['action']; jobId?: string | null }): Promise<AuditPosition | null> {
    return auditLog.auditPosition(this.ctx, q);
  }

  auditRowAt(seq: string): Promise<AuditRecord | null> {
    return auditLog.auditRowAt(this.ctx, seq);
  }

  readPersonalFields(customerId: string, columns: readonly string[]): Promise<Record<string, string> | null> {
    return erasure.readPersonalFields(this.ctx, customerId, columns);
  }

  erasePersonalFields(customerId: string, columns: readonly string[], audit: Omit<AuditEntry, 'action' | 'deleted'>): Promise<EraseResult> {
    return erasure.erasePersonalFields(this.ctx, customerId, columns, audit);
  }

  serverVersion(): Promise<string> {
    return schema.serverVersion(this.ctx);
  }

  checkSchema(): Promise<string[]> {
    return schema.checkSchema(this.ctx);
  }

  migrate(): Promise<string[]> {
    return schema.migrate(this.ctx);
  }

  reviewTable(opts: { tryStatements: boolean }): Promise<TableCheck> {
    return schema.reviewTable(this.ctx, opts);
  }

  /**
   * Before the first claim of this process: a customers table on which a deletion would trip (an
   * ENUM without 'deleting', NOT NULL where custctl writes NULL, …) is refused with the column and
   * the fix, before anything is claimed or deleted. Once per store; a failing catalog read is left
   * to the statements themselves.
   */
  private tableCheck?: Promise<TableReview | null>;
  private async tableFitForDeletions(): Promise<void> {
    this.tableCheck ??= catalogColumns(this.db).then((cols) => (cols.length > 0 ? reviewCustomersTable(cols, DEPLOYMENT_STATUSES) : null), () => null);
    const review = await this.tableCheck;
    if (review && review.problems.length > 0) {
      this.tableCheck = undefined; // looked at again next time: it may have been fixed meanwhile
      throw new UsageError(`the customers table in ${this.description} would make this deletion fail: ${review.problems.map((p) => `${p.column} ${p.problem}`).join('; ')}`,
        [...new Set(review.problems.map((p) => `fix: ${p.fix}`)), "'custctl db check' lists what a deletion needs and tries it"]);
    }
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

  /**
   * A row change and its audit row in ONE transaction: a crash (or a failed insert) can never
   * leave one without the other. `statusOf` tells the row's new status, null when nothing changed
   * (a compare-and-set that lost): then no audit row is written.
   */
  private async audited<T>(entry: AuditEntry | undefined, change: (db: SqlDriver) => Promise<T>, statusOf: (v: T) => string | null): Promise<T> {
    if (!entry) return change(this.db);
    return this.db.transaction(async (tx) => {
      const v = await change(tx);
      const rowStatus = statusOf(v);
      if (rowStatus !== null) await auditLog.insertAudit(tx, entry, rowStatus);
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
