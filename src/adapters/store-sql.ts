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
import { AUDIT_HEAD_TABLE, AUDIT_TABLE, CLUSTER_COLUMN_SETTING, MIGRATIONS, MIGRATION_LOCK_KEY, REQUIRED_AUDIT_COLUMNS, REQUIRED_CUSTOMER_COLUMNS, SCHEMA_MIGRATIONS_DDL } from '../db/migrations.js';
import { reviewCustomersTable, type CatalogColumn, type TableReview } from '../db/customer-table.js';
import { DEFAULT_CLUSTER_COLUMN } from '../domain/clusters.js';
import { AuditChainWalker, checkpointOf, type AuditVerifyReport, type ChainHead, type ChainRow } from '../domain/audit-chain.js';
import { cleanAuditText } from '../domain/audit-text.js';
import { quoteColumn } from '../domain/erasure.js';
import {
  type AuditDeleted,
  type AuditEntry,
  type AuditPosition,
  type EraseResult,
  type AuditFilter,
  type AuditRecord,
  type TableCheck,
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
  /** the cluster column (CUSTCTL_CLUSTER_COLUMN) as text; absent when the table has no such column */
  cluster?: string | null;
}

/** The claim's RETURNING: the new row plus the four columns the claim changes, as they were. */
interface ClaimDbRow extends DbRow {
  before_status: string;
  before_deletion_job_id: string | null;
  before_previous_status: string | null;
  before_updated_at: Date | string;
}

/**
 * The columns as custctl reads them, whatever shape the billing system gave them: the status as
 * text (an ENUM's label), NULL text as '', timestamps as timestamptz (a `timestamp without time
 * zone` in the session's TimeZone, as its DEFAULT now() wrote it).
 */
function columns(p = ''): string {
  return `${p}id, ${p}customer_id::text as customer_id, coalesce(${p}email::text, '') as email, coalesce(${p}company_name::text, '') as company_name,
  ${p}deployment_status::text as deployment_status, coalesce(${p}instance_namespace::text, '') as instance_namespace,
  coalesce(${p}instance_url::text, '') as instance_url, ${p}deletion_job_id::text as deletion_job_id, ${p}previous_status::text as previous_status,
  ${p}deletion_scheduled_at::timestamptz as deletion_scheduled_at, ${p}deleted_at::timestamptz as deleted_at,
  ${p}created_at::timestamptz as created_at, ${p}updated_at::timestamptz as updated_at`;
}

/** A column name as an SQL identifier, quoted: exactly as the table spells it (case included). */
function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A text value for the status column, through the column's own type: an ENUM's input function, a
 * varchar's length, a domain's checks. (A text expression cannot be assigned to an ENUM column,
 * and SQL has no "cast to the type of that column"; json_populate_record converts a value to the
 * type the table's row type gives the field, whatever it is.)
 */
function asStatus(textExpr: string): string {
  return `(json_populate_record(null::customers, json_build_object('deployment_status', ${textExpr}))).deployment_status`;
}

/**
 * "None" for a text column custctl clears, the way the table says it: NULL where the column allows
 * NULL (an ORM's nullable column), '' where it is NOT NULL. Read from the catalog at every
 * statement, so a table changed while custctl runs is still written right.
 */
function none(column: string): string {
  return `case when (select a.attnotnull from pg_attribute a where a.attrelid = 'customers'::regclass and a.attname = '${column}') then '' end`;
}

/** A value custctl writes into a text column, or the table's "none" when it is empty. */
function orNone(param: string, column: string): string {
  return `coalesce(nullif(${param}::text, ''), ${none(column)})`;
}

const AUDIT_COLUMNS = 'id, at, actor, actor_label, db_user, seq, prev_hash, hash, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason';

interface AuditDbRow {
  id: number | string;
  at: Date | string;
  actor: string;
  actor_label: string | null;
  db_user: string | null;
  seq: number | string | null;
  prev_hash: string | null;
  hash: string | null;
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
    actorLabel: r.actor_label ?? null,
    dbUser: r.db_user ?? null,
    seq: r.seq === null || r.seq === undefined ? null : Number(r.seq),
    prevHash: r.prev_hash ?? null,
    hash: r.hash ?? null,
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

/**
 * One audit row, on the connection (or transaction) given. Its text is cleaned of control
 * characters here (the database's chain trigger does the same, and sets seq, time, hash and the
 * session user).
 */
async function insertAudit(db: SqlDriver, e: AuditEntry, rowStatus: string | null): Promise<AuditPosition | null> {
  const t = cleanAuditText;
  const r = await db.query<{ seq: string | null; hash: string | null; action: string; at: Date | string }>(
    `insert into ${AUDIT_TABLE} (actor, actor_label, action, customer_id, namespace, job_id, outcome, row_status, deleted, reason)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
     returning seq::text as seq, hash, action, at`,
    [t(e.actor), t(e.actorLabel), t(e.action), t(e.customerId), t(e.namespace), t(e.jobId), t(e.outcome), t(rowStatus),
      e.deleted ? JSON.stringify(e.deleted) : null, t(e.reason)],
  );
  return positionOf(r.rows[0]);
}

/** A chained row's place (null: the row is not chained, or there is none). */
function positionOf(r: { seq: string | null; hash: string | null; action: string; at: Date | string } | undefined): AuditPosition | null {
  if (!r || r.seq === null || r.hash === null) return null;
  return { seq: String(r.seq), hash: r.hash, action: r.action, at: iso(r.at) };
}

/** Column types an erasure may blank with '' when the column is NOT NULL. */
const ERASABLE_TEXT_TYPES = new Set(['text', 'character varying', 'character', 'citext', 'name']);

/**
 * A chain row as `audit verify` reads it: every value as stored, `at` and `deleted` as the chain's
 * canonical form writes them. (Qualify the table's columns in WHERE and ORDER BY: `seq` alone
 * in ORDER BY is the text output column, which sorts '10' before '8'.)
 */
const CHAIN_SELECT = `select id::text as id, seq::text as seq, prev_hash, hash,
  to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, actor, actor_label, db_user, action,
  customer_id, namespace, job_id, outcome, row_status, deleted::text as deleted, reason
  from ${AUDIT_TABLE} a`;

interface ChainDbRow {
  id: string; seq: string | null; prev_hash: string | null; hash: string | null; at: string | null;
  actor: string | null; actor_label: string | null; db_user: string | null; action: string | null;
  customer_id: string | null; namespace: string | null; job_id: string | null; outcome: string | null;
  row_status: string | null; deleted: string | null; reason: string | null;
}

function toChainRow(r: ChainDbRow): ChainRow {
  return {
    id: r.id, seq: r.seq, prevHash: r.prev_hash, hash: r.hash, at: r.at, actor: r.actor, actorLabel: r.actor_label,
    dbUser: r.db_user, action: r.action, customerId: r.customer_id, namespace: r.namespace, jobId: r.job_id,
    outcome: r.outcome, rowStatus: r.row_status, deleted: r.deleted, reason: r.reason,
  };
}

/** Rows read per query while walking the chain. */
const CHAIN_BATCH = 2000;

/**
 * `--anchor SEQ:HASH`: a head recorded earlier, outside the database. The row at that seq must
 * still hold that hash (or, when it was pruned since, a checkpoint must name it as its last pruned
 * row). A database owner who rewrote the rows and recomputed every hash after them is caught here,
 * not by the chain alone.
 */
function checkAnchor(anchor: ChainHead, row: ChainRow | null, report: AuditVerifyReport, checkpointRows: ChainRow[]): NonNullable<AuditVerifyReport['anchor']> {
  const base = { seq: anchor.seq, hash: anchor.hash };
  if (row) {
    return row.hash === anchor.hash
      ? { ...base, ok: true, note: `row ${anchor.seq} still holds the recorded hash` }
      : { ...base, ok: false, note: `row ${anchor.seq} holds ${row.hash ?? 'no hash'}, not the recorded hash: the log was rewritten since the anchor was taken` };
  }
  const cp = checkpointRows.map(checkpointOf).find((c) => c?.lastSeq === anchor.seq);
  if (cp) {
    return cp.lastHash === anchor.hash
      ? { ...base, ok: true, note: `row ${anchor.seq} was pruned; the prune checkpoint (seq ${cp.seq}) records the same hash` }
      : { ...base, ok: false, note: `row ${anchor.seq} was pruned; the prune checkpoint (seq ${cp.seq}) records another hash: the log was rewritten` };
  }
  const first = report.firstSeq !== null ? BigInt(report.firstSeq) : null;
  if (first !== null && BigInt(anchor.seq) < first) {
    return { ...base, ok: false, note: `row ${anchor.seq} was pruned and no checkpoint ends at it, so it cannot be checked any more; take anchors from the head (audit verify prints it)` };
  }
  return { ...base, ok: false, note: `there is no row ${anchor.seq}: the log ends at ${report.lastSeq ?? 'nothing'}` };
}

/** How many times a failed claim is re-tried when the row, read afterwards, turned claimable (a race). */
const CLAIM_TRIES = 3;

/** `pg` error codes the store translates. */
const UNIQUE_VIOLATION = '23505';
const CHECK_VIOLATION = '23514';
const NOT_NULL_VIOLATION = '23502';
const INVALID_PARAMETER_VALUE = '22023';

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
    ...(r.cluster !== undefined ? { cluster: r.cluster === '' ? null : r.cluster } : {}),
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

/** The driver's own error under custctl's wrapping (OperationError's cause). */
function rootCause(e: unknown): unknown {
  let c = e;
  while (c instanceof CliError && (c as { cause?: unknown }).cause !== undefined) c = (c as { cause?: unknown }).cause;
  return c;
}

function rootMessage(e: unknown): string {
  const c = rootCause(e);
  const code = sqlState(c);
  return `${errorMessage(c)}${code && /^[0-9A-Z]{5}$/.test(code) ? ` [${code}]` : ''}`;
}

/** What to do about an error a deletion's row statement met. */
function fixFor(e: unknown): string {
  const err = e as { code?: string; column?: string; constraint?: string; where?: string } | null;
  switch (err?.code) {
    case '23514': return `the CHECK constraint ${err.constraint ?? '?'} of customers must allow custctl's values (statuses: ${DEPLOYMENT_STATUSES.join(', ')}; '' or NULL for a cleared namespace or URL)`;
    case '23502': return `alter table customers alter column ${err.column ?? '?'} drop not null`;
    case '22P02': return `the status column's ENUM lacks a value custctl writes: run 'custctl db migrate'`;
    case '22001': return 'a column is too short for what custctl writes: widen it (text)';
    case '42501': return 'grant the database user custctl connects as SELECT and UPDATE on customers (and INSERT on custctl_audit)';
    case 'P0001': return `a trigger or function of the table refused it${err.where ? ` (${err.where.split('\n')[0]})` : ''}: let custctl's statements through`;
    default: return 'the error names what refused it';
  }
}

interface TriedStatements {
  ran: boolean;
  ok: boolean;
  on: string | null;
  note?: string;
  statement?: string;
  error?: string;
  fix?: string;
}

export interface SqlStoreInfo {
  kind: 'postgres' | 'embedded';
  /** `postgres://user@host:port/db` (never a password) or `embedded (<dir>)` */
  description: string;
  /** the column naming a customer's cluster (CUSTCTL_CLUSTER_COLUMN; default `cluster`), read when the table has it */
  clusterColumn?: string;
  /** how the connection is secured (PostgreSQL): `TLS 1.3, certificate and host name verified …` */
  transport?: Transport;
}

export class SqlCustomerStore implements CustomerStore {
  readonly kind: 'postgres' | 'embedded';
  readonly description: string;
  readonly clusterColumn: string;
  readonly transport?: Transport;
  private closed = false;

  constructor(private readonly db: SqlDriver, info: SqlStoreInfo) {
    this.kind = info.kind;
    this.description = info.description;
    if (info.transport !== undefined) this.transport = info.transport;
    this.clusterColumn = info.clusterColumn ?? DEFAULT_CLUSTER_COLUMN;
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
    return this.guard('claiming customer ' + customerId + ' for deletion', async () => {
      const allowed: string[] = [...DELETABLE_STATUSES, ...(opts.force ? ['deploying'] : [])];
      const expect = opts.expectJobId ?? null;
      const returning = await this.rowColumns('c.');
      for (let attempt = 1; ; attempt++) {
        // One statement: the sub-select locks the row (waiting for a concurrent claim to commit and
        // then seeing its result), the UPDATE re-checks the predicate on the latest row version.
        // The status is compared as text, so an ENUM column works too (a literal written to it
        // becomes the ENUM's value; the enum must have it: db check / db migrate).
        const r = await this.audited(opts.audit, (db) => db.query<ClaimDbRow>(
          `update customers c set
             deployment_status = 'deleting',
             previous_status = case
               when c.deployment_status::text = 'deleting' then c.previous_status::text
               when c.deployment_status::text = 'deletion_failed' and c.deletion_job_id::text = $3::text
                 then coalesce(c.previous_status::text, 'deletion_failed')
               else c.deployment_status::text
             end,
             deletion_job_id = $2::text,
             deletion_scheduled_at = case when c.deletion_job_id::text = $3::text then c.deletion_scheduled_at::timestamptz else $5::timestamptz end,
             deleted_at = null,
             updated_at = now()
           from (select id, deployment_status::text as deployment_status, deletion_job_id::text as deletion_job_id,
                   previous_status::text as previous_status, updated_at::timestamptz as updated_at
                 from customers where customer_id = $1 for update) b
           where c.id = b.id
             and (c.deployment_status::text = any($4::text[])
                  or (c.deletion_job_id::text = $3::text and c.deployment_status::text in ('deletion_failed', 'deleting')))
           returning ${returning},
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
        `select 1 as one from customers where customer_id = $1 and deployment_status::text = 'deleting' and deletion_job_id::text = $2::text`,
        [customerId, jobId],
      );
      return r.rows.length > 0;
    });
  }

  async completeDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
    return this.ownedUpdate('completing the deletion of ' + customerId,
      `deployment_status = 'pending', instance_namespace = ${none('instance_namespace')}, instance_url = ${none('instance_url')},
       deletion_scheduled_at = null, deleted_at = now()`, customerId, jobId, audit);
  }

  async completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean> {
    return this.guard('restoring the row of ' + customerId, async () => {
      const r = await this.audited(audit, (db) => db.query<{ deployment_status: string }>(
        `update customers set deployment_status = 'deployed', instance_namespace = ${orNone('$2', 'instance_namespace')},
           instance_url = ${orNone('$3', 'instance_url')}, deletion_job_id = null, previous_status = null, updated_at = now()
         where customer_id = $1 and deployment_status::text = 'pending'
         returning deployment_status::text as deployment_status`,
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
      `deployment_status = ${asStatus(`coalesce(previous_status::text, 'deletion_failed')`)}, deletion_job_id = null, previous_status = null, deletion_scheduled_at = null`,
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
         order by seq desc nulls first, id desc limit $4`,
        [f.customerId ?? null, f.since ? f.since.toISOString() : null, f.actions && f.actions.length > 0 ? [...f.actions] : null, f.limit ?? 1000],
      );
      return r.rows.map(toAuditRecord);
    });
  }

  async pruneAudit(before: Date, actor: string, opts: { allowRecent?: boolean } = {}): Promise<number> {
    return this.guard('pruning the audit log', async () => {
      try {
        const r = await this.db.query<{ n: number | string }>(`select custctl_audit_prune($1::timestamptz, $2::text, $3::boolean) as n`,
          [before.toISOString(), cleanAuditText(actor), opts.allowRecent ?? false]);
        return Number(r.rows[0]?.n ?? 0);
      } catch (e) {
        // the function's own refusals (a future or too recent `before`) are the caller's to fix
        if (sqlState(e) === INVALID_PARAMETER_VALUE) throw new UsageError(errorMessage(e));
        throw e;
      }
    });
  }

  async verifyAudit(opts: { anchor?: ChainHead } = {}): Promise<AuditVerifyReport> {
    return this.guard('verifying the audit log', () => this.db.transaction(async (tx) => {
      // one snapshot for the whole walk: a prune or an insert meanwhile is not a break
      await tx.query('set transaction isolation level repeatable read, read only');
      const heads = await tx.query<{ seq: string; hash: string }>(`select seq::text as seq, hash from ${AUDIT_HEAD_TABLE}`);
      const head: ChainHead | null = heads.rows[0] ? { seq: heads.rows[0].seq, hash: heads.rows[0].hash } : null;
      const cps = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.action = 'audit-pruned' and a.seq is not null order by a.seq`);
      const walker = new AuditChainWalker(cps.rows.map((r) => checkpointOf(toChainRow(r))).filter((c) => c !== null));
      let after = '0';
      let anchorRow: ChainRow | null = null;
      for (;;) {
        const batch = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.seq > $1::bigint order by a.seq limit ${CHAIN_BATCH}`, [after]);
        for (const r of batch.rows) {
          const row = toChainRow(r);
          walker.push(row);
          if (opts.anchor && row.seq === opts.anchor.seq) anchorRow = row;
        }
        const last = batch.rows[batch.rows.length - 1];
        if (!last || batch.rows.length < CHAIN_BATCH) break;
        after = last.seq as string;
      }
      const loose = await tx.query<ChainDbRow>(`${CHAIN_SELECT} where a.seq is null order by a.id limit 20`);
      const looseCount = await tx.query<{ n: string }>(`select count(*)::text as n from ${AUDIT_TABLE} where seq is null`);
      const report = walker.end(head, loose.rows.map(toChainRow), Number(looseCount.rows[0]?.n ?? 0));
      if (opts.anchor) report.anchor = checkAnchor(opts.anchor, anchorRow, report, cps.rows.map(toChainRow));
      if (report.anchor && !report.anchor.ok) report.ok = false;
      return report;
    }));
  }

  async auditPosition(q: { customerId: string; action: AuditEntry['action']; jobId?: string | null }): Promise<AuditPosition | null> {
    return this.guard(`finding the ${q.action} audit row of ${q.customerId}`, async () => {
      const r = await this.db.query<{ seq: string | null; hash: string | null; action: string; at: Date | string }>(
        `select a.seq::text as seq, a.hash, a.action, a.at from ${AUDIT_TABLE} a
         where a.customer_id = $1 and a.action = $2 and ($3::text is null or a.job_id = $3::text) and a.seq is not null
         order by a.seq desc limit 1`,
        [q.customerId, q.action, q.jobId ?? null],
      );
      return positionOf(r.rows[0]);
    });
  }

  async auditRowAt(seq: string): Promise<AuditRecord | null> {
    if (!/^\d{1,18}$/.test(seq)) throw new UsageError(`audit seq ${JSON.stringify(seq.slice(0, 40))} is not a chain position`);
    return this.guard(`reading audit row ${seq}`, async () => {
      const r = await this.db.query<AuditDbRow>(`select ${AUDIT_COLUMNS} from ${AUDIT_TABLE} where seq = $1::bigint`, [seq]);
      const row = r.rows[0];
      return row ? toAuditRecord(row) : null;
    });
  }

  /** The columns as the catalog has them, each of `columns` required (UsageError naming the missing ones). */
  private async personalColumns(columns: readonly string[]): Promise<CatalogColumn[]> {
    const have = new Map((await this.catalogColumns()).map((c) => [c.name, c]));
    if (have.size === 0) throw new UsageError(`there is no customers table in ${this.description}`, ["Run 'custctl db migrate' (or point DATABASE_URL at the billing database)."]);
    const missing = columns.filter((c) => !have.has(c));
    if (missing.length > 0) {
      throw new UsageError(`the customers table in ${this.description} has no column ${missing.map((c) => JSON.stringify(c)).join(', ')}`, [
        'CUSTCTL_ERASE_COLUMNS names columns exactly as the table spells them (case included); fix it or the table.',
      ]);
    }
    return columns.map((c) => have.get(c) as CatalogColumn);
  }

  async readPersonalFields(customerId: string, columns: readonly string[]): Promise<Record<string, string> | null> {
    return this.guard(`reading the personal fields of ${customerId}`, async () => {
      const cols = await this.personalColumns(columns);
      const r = await this.db.query<Record<string, string>>(
        `select ${cols.map((c, i) => `coalesce(${quoteColumn(c.name)}::text, '') as f${i}`).join(', ')} from customers where customer_id = $1`, [customerId]);
      const row = r.rows[0];
      if (!row) return null;
      return Object.fromEntries(cols.map((c, i) => [c.name, row[`f${i}`] ?? '']));
    });
  }

  async erasePersonalFields(customerId: string, columns: readonly string[], audit: Omit<AuditEntry, 'action' | 'deleted'>): Promise<EraseResult> {
    return this.guard(`erasing the personal fields of ${customerId}`, async () => {
      const cols = await this.personalColumns(columns);
      // "none" for each column as the table says it: NULL where allowed, '' in NOT NULL text
      const blanks = cols.map((c) => {
        if (c.generated) throw new UsageError(`customers.${c.name} is a generated column: custctl cannot erase it`, ['Take it out of CUSTCTL_ERASE_COLUMNS; erase what it is generated from.']);
        if (!c.notNull) return `${quoteColumn(c.name)} = null`;
        if (ERASABLE_TEXT_TYPES.has(c.baseType)) return `${quoteColumn(c.name)} = ''`;
        throw new UsageError(`customers.${c.name} is ${c.type} NOT NULL: it can be neither NULL nor empty text, so custctl cannot erase it`, [
          `alter table customers alter column ${quoteColumn(c.name)} drop not null (or take it out of CUSTCTL_ERASE_COLUMNS); nothing was erased`,
        ]);
      });
      const returning = await this.rowColumns();
      return this.db.transaction(async (tx): Promise<EraseResult> => {
        const probe = new SqlCustomerStore(tx, { kind: this.kind, description: this.description, clusterColumn: this.clusterColumn });
        const held = await tx.query<Record<string, unknown>>(
          `select deployment_status::text as deployment_status, coalesce(instance_namespace::text, '') as instance_namespace,
             ${cols.map((c, i) => `(${quoteColumn(c.name)} is not null and ${quoteColumn(c.name)}::text <> '') as h${i}`).join(', ')}
           from customers where customer_id = $1 for update`, [customerId]);
        const h = held.rows[0];
        if (!h) return { outcome: 'not-found' };
        const row = await probe.get(customerId);
        if (!row) return { outcome: 'not-found' };
        if (h.deployment_status !== 'pending' || h.instance_namespace !== '') return { outcome: 'refused', row };
        const fields = cols.filter((_, i) => h[`h${i}`] === true).map((c) => c.name);
        const alreadyEmpty = cols.filter((_, i) => h[`h${i}`] !== true).map((c) => c.name);
        if (fields.length === 0) return { outcome: 'nothing-to-erase', row, fields: [], alreadyEmpty, position: null };
        const updated = await tx.query<DbRow>(
          `update customers set ${blanks.join(', ')}, updated_at = now()
           where customer_id = $1 and deployment_status::text = 'pending' and coalesce(instance_namespace::text, '') = ''
           returning ${returning}`, [customerId]);
        const after = updated.rows[0];
        if (!after) return { outcome: 'refused', row };
        const position = await insertAudit(tx, { ...audit, action: 'customer-erased', deleted: { fields } }, after.deployment_status);
        if (!position) throw new OperationError(`the customer-erased audit row of ${customerId} was not chained: the audit table lacks its chain (run 'custctl db migrate')`);
        return { outcome: 'erased', row: toCustomerRow(after), fields, alreadyEmpty, position };
      });
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
        for (const e of await this.lackingStatusValues()) missing.push(`enum value '${e.value}' of ${e.type} (customers.deployment_status)`);
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
          for (const m of MIGRATIONS) if (!m.optional) missing.push(`migration ${m.version} (${m.name})`);
        }
        return missing;
      }
      const applied = await this.db.query<{ version: number }>(`select version from schema_migrations`);
      const done = new Set(applied.rows.map((a) => Number(a.version)));
      for (const m of MIGRATIONS) if (!done.has(m.version) && !m.optional) missing.push(`migration ${m.version} (${m.name})`);
      return missing;
    });
  }

  async migrate(): Promise<string[]> {
    return this.guard('migrating the schema', async () => {
      // custctl's column names are fixed: a table that has them under other names (an ORM's
      // camelCase) is not migrated around them
      const renamed = reviewCustomersTable(await this.catalogColumns(), DEPLOYMENT_STATUSES).problems.filter((p) => p.kind === 'name');
      if (renamed.length > 0) {
        throw new UsageError(`the customers table in ${this.description} has custctl's columns under other names: ${renamed.map((p) => `${p.column} ${p.problem}`).join('; ')}`,
          [renamed[0]?.fix ?? '', 'nothing was migrated']);
      }
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
            // the cluster column's name for migration 6 (CUSTCTL_CLUSTER_COLUMN), for this transaction only
            await tx.query(`select set_config('${CLUSTER_COLUMN_SETTING}', $1, true)`, [this.clusterColumn]);
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
      this.clusterColumnPresent = undefined; // migration 6 may have added it
      // An ENUM status (an ORM's) gets the values custctl writes. Not a versioned migration: the
      // billing system may recreate its type later (Prisma does on every change of the enum), and
      // then the values are added again. Each ADD VALUE on its own, outside a transaction block
      // (older servers refuse it inside one).
      for (const e of await this.lackingStatusValues()) {
        try {
          await this.db.exec(`alter type ${e.type} add value if not exists '${e.value}'`);
        } catch (err) {
          throw new OperationError(`adding '${e.value}' to the enum ${e.type} of customers.deployment_status failed on ${this.description}: ${errorMessage(err)}`,
            [`run it as the type's owner: ALTER TYPE ${e.type} ADD VALUE IF NOT EXISTS '${e.value}'; and add the value to the enum in the billing system's model`],
            { cause: err });
        }
        applied.push(`enum ${e.type} += '${e.value}' (customers.deployment_status)`);
      }
      return applied;
    });
  }

  /**
   * Before the first claim of this process: a customers table on which a deletion would trip (an
   * ENUM without 'deleting', NOT NULL where custctl writes NULL, …) is refused with the column and
   * the fix, before anything is claimed or deleted. Once per store; a failing catalog read is left
   * to the statements themselves.
   */
  private tableCheck?: Promise<TableReview | null>;
  private async tableFitForDeletions(): Promise<void> {
    this.tableCheck ??= this.catalogColumns().then((cols) => (cols.length > 0 ? reviewCustomersTable(cols, DEPLOYMENT_STATUSES) : null), () => null);
    const review = await this.tableCheck;
    if (review && review.problems.length > 0) {
      this.tableCheck = undefined; // looked at again next time: it may have been fixed meanwhile
      throw new UsageError(`the customers table in ${this.description} would make this deletion fail: ${review.problems.map((p) => `${p.column} ${p.problem}`).join('; ')}`,
        [...new Set(review.problems.map((p) => `fix: ${p.fix}`)), "'custctl db check' lists what a deletion needs and tries it"]);
    }
  }

  /** The customers table's columns as the catalog describes them (none when there is no table). */
  private async catalogColumns(): Promise<CatalogColumn[]> {
    const r = await this.db.query<{
      name: string; type: string; base_type: string; kind: string; enum_values: string[] | string | null;
      max_length: number | null; not_null: boolean; has_default: boolean; generated: boolean;
    }>(
      `select a.attname::text as name, format_type(a.atttypid, a.atttypmod) as type,
         format_type(bt.oid, null) as base_type, bt.typtype::text as kind,
         (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e where e.enumtypid = bt.oid) as enum_values,
         case when bt.typcategory = 'S' and coalesce(nullif(a.atttypmod, -1), t.typtypmod) > 4
           then coalesce(nullif(a.atttypmod, -1), t.typtypmod) - 4 end as max_length,
         a.attnotnull as not_null, a.atthasdef as has_default, a.attgenerated <> '' as generated
       from pg_attribute a
       join pg_type t on t.oid = a.atttypid
       join pg_type bt on bt.oid = coalesce(nullif(t.typbasetype, 0), t.oid)
       where a.attrelid = to_regclass('customers') and a.attnum > 0 and not a.attisdropped
       order by a.attnum`,
    );
    return r.rows.map((c) => ({
      name: c.name, type: c.type, baseType: c.base_type, kind: c.kind,
      // PGlite hands an array of text back as an array, pg too; a driver without the type parser as '{a,b}'
      enumValues: c.enum_values === null ? null : Array.isArray(c.enum_values) ? c.enum_values : c.enum_values.replace(/^\{|\}$/g, '').split(',').filter(Boolean),
      maxLength: c.max_length === null ? null : Number(c.max_length),
      notNull: c.not_null, hasDefault: c.has_default, generated: c.generated,
    }));
  }

  /** The statuses an ENUM status column lacks (none for a text column). */
  private async lackingStatusValues(): Promise<Array<{ type: string; value: string }>> {
    const status = (await this.catalogColumns()).find((c) => c.name === 'deployment_status');
    if (!status?.enumValues) return [];
    return DEPLOYMENT_STATUSES.filter((v) => !status.enumValues?.includes(v)).map((value) => ({ type: status.baseType, value }));
  }

  async reviewTable(opts: { tryStatements: boolean }): Promise<TableCheck> {
    return this.guard('checking the customers table', async () => {
      const cols = await this.catalogColumns();
      if (cols.length === 0) return { problems: [], notes: [], tried: null };
      const review: TableReview = reviewCustomersTable(cols, DEPLOYMENT_STATUSES);
      const own = await this.db.query<{ kind: string; name: string }>(
        `select 'trigger' as kind, tgname::text as name from pg_trigger where tgrelid = 'customers'::regclass and not tgisinternal
         union all
         select 'check constraint', conname::text from pg_constraint where conrelid = 'customers'::regclass and contype = 'c'
         union all
         select 'row level security', 'enabled' from pg_class where oid = 'customers'::regclass and relrowsecurity
         order by 1, 2`,
      );
      const unseen = own.rows.map((o) => `${o.kind} ${o.name}`);
      if (unseen.length > 0) review.notes.push(`the table has what a look at its columns cannot judge (${unseen.join(', ')}): custctl's statements are tried on it`);
      if (!opts.tryStatements) {
        return { ...review, tried: { ran: false, ok: true, on: null, note: 'not tried (--read-only)' } };
      }
      if (review.problems.length > 0) {
        return { ...review, tried: { ran: false, ok: true, on: null, note: 'not tried: fix the problems first' } };
      }
      const tried = await this.tryRowStatements();
      if (!tried.ran && unseen.length > 0) {
        tried.ok = false;
        tried.note += `; with ${unseen.join(', ')} on the table, custctl cannot tell whether a deletion would pass`;
      }
      return { ...review, tried };
    });
  }

  /**
   * A deletion's row statements (claim, failure, retry, cancel, scheduled claim, step 4, restore,
   * each with its audit row), run on one row inside a transaction that is then rolled back: the
   * table's own triggers, CHECK constraints, ENUM and column types judge them as they would judge a
   * real deletion, and nothing is kept. The row is an existing deletable one (locked for the
   * moment, never waited for), else one inserted for the purpose.
   */
  private async tryRowStatements(): Promise<TriedStatements> {
    const rollback = new Error('roll back the tried statements');
    let result: TriedStatements = { ran: false, ok: false, on: null, note: '' };
    let step = 'finding a row to try them on';
    try {
      await this.db.transaction(async (tx) => {
        const probe = new SqlCustomerStore(tx, { kind: this.kind, description: this.description, clusterColumn: this.clusterColumn });
        const found = await tx.query<{ customer_id: string }>(
          `select customer_id::text as customer_id from customers where deployment_status::text = any($1::text[])
           order by (deployment_status::text = 'deployed') desc limit 1 for update skip locked`, [[...DELETABLE_STATUSES]]);
        let id = found.rows[0]?.customer_id;
        let on = `customer ${id}, rolled back`;
        if (!id) {
          id = `cust_custctlcheck${Date.now().toString(36)}`;
          on = `a row inserted for the purpose (${id}), rolled back`;
          step = 'inserting a row to try them on (the table has no deletable row)';
          try {
            await probe.add({ customerId: id, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: '', instanceUrl: '' });
          } catch (e) {
            result = { ran: false, ok: true, on: null, note: `not tried: the table has no deletable row and custctl could not insert one (${rootMessage(e)})` };
            throw rollback;
          }
        }
        const before = await probe.get(id);
        const audit = (action: AuditEntry['action']): AuditEntry => ({ action, actor: 'custctl db check', customerId: id, jobId: 'db-check', reason: 'rolled back' });
        const steps: Array<[string, () => Promise<boolean>]> = [
          ['claim a deletion (→ deleting)', async () => (await probe.claimForDeletion(id, 'db-check-1', { force: false, audit: audit('deletion-accepted') })).ok],
          ['fail it (→ deletion_failed)', () => probe.failDeletion(id, 'db-check-1', audit('deletion-failed'))],
          ['retry the same job (→ deleting)', async () => (await probe.claimForDeletion(id, 'db-check-1', { force: false, expectJobId: 'db-check-1', audit: audit('job-retried') })).ok],
          ['cancel it (→ the status before)', () => probe.releaseDeletion(id, 'db-check-1', audit('deletion-cancelled'))],
          ['schedule a deletion (→ deleting, due later)', async () => (await probe.claimForDeletion(id, 'db-check-2', { force: false, scheduledAt: new Date(Date.now() + 86_400_000), audit: audit('deletion-scheduled') })).ok],
          ['complete it: step 4 (→ pending, namespace and URL cleared)', () => probe.completeDeletion(id, 'db-check-2', audit('deletion-completed'))],
          ['restore it (→ deployed)', () => probe.completeRestore(id, before?.instanceNamespace ?? '', before?.instanceUrl ?? '', audit('customer-restored'))],
        ];
        for (const [name, run] of steps) {
          step = name;
          if (!(await run())) {
            result = { ran: true, ok: false, on, statement: name, error: 'the statement changed no row (a trigger of the table may have changed or skipped it)', fix: 'look at the table\'s triggers' };
            throw rollback;
          }
        }
        result = { ran: true, ok: true, on, note: `${steps.length} statements passed` };
        throw rollback;
      });
    } catch (e) {
      if (e !== rollback) {
        const cause = rootCause(e);
        result = { ran: true, ok: false, on: result.on, statement: step, error: rootMessage(e), fix: fixFor(cause) };
      }
    }
    return result;
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
         where customer_id = $1 and deployment_status::text = 'deleting' and deletion_job_id::text = $2::text
         returning deployment_status::text as deployment_status`,
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
