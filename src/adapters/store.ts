/**
 * The customer store: one interface over PostgreSQL (`pg`) and embedded PostgreSQL (PGlite),
 * with the same SQL for both. Implementations load their driver lazily (see openStore).
 */
import type { BillingSummary } from '../domain/billing.js';
import type { Transport } from './pg-connection.js';

import type { TableProblem } from '../db/customer-table.js';
import type { AuditVerifyReport, ChainHead } from '../domain/audit-chain.js';

export const DEPLOYMENT_STATUSES = ['pending', 'deploying', 'deployed', 'deleting', 'deletion_failed', 'failed'] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** A deletion is accepted only from these (plus `deploying` with --force). */
export const DELETABLE_STATUSES: readonly DeploymentStatus[] = ['deployed', 'failed', 'deletion_failed', 'pending'];

export interface CustomerRow {
  id: number;
  customerId: string;
  email: string;
  companyName: string;
  deploymentStatus: DeploymentStatus;
  instanceNamespace: string;
  instanceUrl: string;
  /** the job that holds (or last held) the deletion */
  deletionJobId: string | null;
  /** the status the row had before the deletion claimed it (restored by `jobs cancel`) */
  previousStatus: DeploymentStatus | null;
  /** soft delete: while `deleting`, when the scheduled deletion is due (ISO); null otherwise */
  deletionScheduledAt: string | null;
  /** when a deletion last completed (ISO); cleared by the next claim */
  deletedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /**
   * The cluster that holds the customer, as its row names it (the CUSTCTL_CLUSTER_COLUMN column,
   * default `cluster`): null when the row names none; absent when the table has no such column.
   * src/domain/clusters.ts clusterFor decides what it means in this fleet.
   */
  cluster?: string | null;
}

export interface NewCustomer {
  customerId: string;
  email: string;
  companyName: string;
  deploymentStatus: DeploymentStatus;
  instanceNamespace: string;
  instanceUrl: string;
}

/**
 * The audit log (custctl_audit, migration 3): one row per action, append-only (a trigger refuses
 * UPDATE, DELETE and TRUNCATE; retention only through `pruneAudit`). An action that changes a
 * customer row is written in the same transaction as the change.
 */
export const AUDIT_ACTIONS = [
  'customer-added',
  'deletion-accepted',
  'deletion-scheduled',
  'deletion-started',
  'deletion-completed',
  'deletion-failed',
  'deletion-cancelled',
  'schedule-cancelled',
  'deletion-refused',
  'deletion-superseded',
  'job-retried',
  'job-cancelled',
  'rbac-deleted',
  'audit-pruned',
  'customer-restored',
  'backup-pruned',
  'customer-exported',
  'customer-erased',
  'billing-stopped',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** What a deletion removed: the releases, the objects they held by kind, the cluster RBAC (`Kind/name`). */
export interface AuditDeleted {
  releases?: string[];
  objects?: Record<string, number>;
  rbac?: string[];
  /** audit-pruned: how many audit rows went */
  auditRows?: number;
  /** customer-erased: the row's columns whose values were erased (names, never values) */
  fields?: string[];
  /** deletion-completed with billing configured: what was cancelled, invoiced and refunded at the provider (ids, amounts) */
  billing?: BillingSummary;
}

/** Where a row sits in the audit chain: what a certificate cites. */
export interface AuditPosition {
  /** decimal */
  seq: string;
  hash: string;
  action: string;
  /** ISO time */
  at: string;
}

/** `erasePersonalFields`: what happened to the row. */
export type EraseResult =
  | {
    outcome: 'erased';
    row: CustomerRow;
    /** the columns that held a value and were erased */
    fields: string[];
    /** the columns that held nothing already */
    alreadyEmpty: string[];
    /** the `customer-erased` audit row, written in the same transaction */
    position: AuditPosition;
  }
  | { outcome: 'nothing-to-erase'; row: CustomerRow; fields: []; alreadyEmpty: string[]; position: null }
  | { outcome: 'not-found' }
  /** the row has an instance or a deletion (the compare-and-set found it not `pending` with no namespace): nothing changed */
  | { outcome: 'refused'; row: CustomerRow };

/**
 * One audit row to write. Never personal data: the customer's id, namespace and job, counts and
 * object names, custctl's own reasons, a pseudonymous actor; never the row's e-mail, company or URL
 * (an erasure must never need to rewrite the chain). Control characters are removed from every
 * text before it is stored (src/domain/audit-text.ts; the database's trigger does the same).
 */
export interface AuditEntry {
  action: AuditAction;
  /** who asked, as custctl can prove it: `alice@host (cli)` (the OS account of the process's uid), `api:<token name>`; never a token */
  actor: string;
  /** an unproven label given by the one who asked, stored beside the actor, never instead of it */
  actorLabel?: string | null;
  customerId?: string | null;
  namespace?: string | null;
  jobId?: string | null;
  outcome?: string | null;
  deleted?: AuditDeleted | null;
  reason?: string | null;
}

export interface AuditRecord {
  id: number;
  /** ISO time */
  at: string;
  actor: string;
  actorLabel: string | null;
  /** the database session user that wrote the row */
  dbUser: string | null;
  /** the row's place in the hash chain (null: not chained) */
  seq: number | null;
  prevHash: string | null;
  hash: string | null;
  action: string;
  customerId: string | null;
  namespace: string | null;
  jobId: string | null;
  outcome: string | null;
  /** the customer row's status after the action, when the action changed it */
  rowStatus: string | null;
  deleted: AuditDeleted | null;
  reason: string | null;
}

export interface AuditFilter {
  customerId?: string;
  /** at or after this time */
  since?: Date;
  actions?: readonly string[];
  /** newest rows, at most (default 1000) */
  limit?: number;
}

/** `db check`'s look at the customers table beyond its columns' presence. */
/** A deletion's row statements, tried on one row and rolled back (`db check`). */
export interface TriedStatements {
  ran: boolean;
  ok: boolean;
  /** which row they ran on */
  on: string | null;
  note?: string;
  /** the statement that failed, its error and the fix */
  statement?: string;
  error?: string;
  fix?: string;
}

export interface TableCheck {
  /** what a deletion would trip on, each with the column and the fix */
  problems: TableProblem[];
  notes: string[];
  /** a deletion's row statements tried on one row and rolled back (null: no customers table) */
  tried: TriedStatements | null;
}

export type ClaimResult =
  | { ok: true; before: CustomerRow; after: CustomerRow }
  | { ok: false; reason: 'not-found' }
  | { ok: false; reason: 'deploying' | 'deleting' | 'status'; row: CustomerRow };

export interface CustomerStore {
  /** What stderr shows as "database": `postgres://user@host:port/db` (never a password) or `embedded (<dir>)`. */
  readonly description: string;
  readonly kind: 'postgres' | 'embedded';
  /** PostgreSQL: how the connection is secured (TLS and what was verified, with the sslmode), for `doctor` */
  readonly transport?: Transport;

  get(customerId: string): Promise<CustomerRow | null>;
  /**
   * One text column of a customer's row that only some sites keep (the billing provider's customer
   * id): null when the row, the value or the column itself is missing. `column` is a plain name
   * (lower case letters, digits, _), checked by the caller's configuration. Optional: test doubles
   * leave it out.
   */
  column?(customerId: string, column: string): Promise<string | null>;
  list(): Promise<CustomerRow[]>;
  /** Inserts a row; a duplicate customer_id is a ConflictError. `audit`: recorded in the same transaction. */
  add(row: NewCustomer, audit?: AuditEntry): Promise<CustomerRow>;

  /**
   * The one compare-and-set that starts a deletion: from DELETABLE_STATUSES (or `deploying` when
   * `force`) to `deleting`, recording `jobId` in deletion_job_id and the old status in previous_status.
   * `expectJobId` (retry/resume of an existing job): also accepted when the row is in
   * `deletion_failed` or `deleting` with deletion_job_id = expectJobId (which keeps its schedule).
   * `scheduledAt` (soft delete) goes to deletion_scheduled_at; a new claim clears deleted_at.
   */
  claimForDeletion(customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string; scheduledAt?: Date; audit?: AuditEntry }): Promise<ClaimResult>;
  /** `deployment_status='deleting' AND deletion_job_id=jobId` */
  isOwnedBy(customerId: string, jobId: string): Promise<boolean>;
  /** Step 4, compare-and-set on ownership: → pending, namespace and URL cleared, deleted_at now. False when not owned. */
  completeDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean>;
  /** After the last failed attempt, compare-and-set on ownership: → deletion_failed. */
  failDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean>;
  /** `jobs cancel`: compare-and-set on ownership, back to previous_status. */
  releaseDeletion(customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean>;
  // (each row change above: `audit` is written in the same transaction, only when the row changed)

  /** An action that changes no customer row (an attempt started, cluster RBAC swept). */
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Newest first. */
  listAudit(filter: AuditFilter): Promise<AuditRecord[]>;
  /**
   * Deletes the audit rows recorded before `before` through custctl_audit_prune(), which refuses a
   * future `before` and (unless `allowRecent`) one younger than AUDIT_PRUNE_MIN_AGE_DAYS, and
   * records the prune as a chained checkpoint row; returns how many went.
   */
  pruneAudit(before: Date, actor: string, opts?: { allowRecent?: boolean }): Promise<number>;
  /** Walks the audit chain (one consistent snapshot) and reports the rows that do not verify. */
  verifyAudit?(opts?: { anchor?: ChainHead }): Promise<AuditVerifyReport>;
  /** The newest chained audit row of this action (and job, when given) for the customer; null when there is none. */
  auditPosition?(q: { customerId: string; action: AuditAction; jobId?: string | null }): Promise<AuditPosition | null>;
  /** The audit row at this chain position (null: no such row, e.g. pruned). */
  auditRowAt?(seq: string): Promise<AuditRecord | null>;

  /**
   * The row's personal fields as stored, as text ('' for NULL): `columns` are erasableColumns()
   * (the personal ones and CUSTCTL_ERASE_COLUMNS). A column the table lacks is a UsageError that
   * names it. Null when there is no row.
   */
  readPersonalFields?(customerId: string, columns: readonly string[]): Promise<Record<string, string> | null>;
  /**
   * Erasure: every column in `columns` set to the table's "none" (NULL where the column allows it,
   * '' where it is NOT NULL text), as a compare-and-set on `pending` with no namespace, with a
   * `customer-erased` audit row (the columns erased, never their values) in the same transaction.
   * A NOT NULL column that is not text cannot be blanked: UsageError, nothing changed.
   */
  erasePersonalFields?(customerId: string, columns: readonly string[], audit: Omit<AuditEntry, 'action' | 'deleted'>): Promise<EraseResult>;

  /** `restore`, compare-and-set from `pending`: → deployed with the namespace and URL. False when the row is not pending. */
  completeRestore(customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean>;

  /** The database server's own version string (`select version()`). For `version` and `doctor`. */
  serverVersion?(): Promise<string>;
  /** Read-only check that the schema has everything this version needs; lists what is missing. */
  checkSchema(): Promise<string[]>;
  /**
   * The customers table judged for what a deletion needs (column types, an ENUM's values, NOT NULL
   * where custctl writes NULL…) and, with `tryStatements`, a deletion's row statements run on one
   * row in a transaction that is rolled back. For `db check`; absent where there is no SQL table.
   */
  reviewTable?(opts: { tryStatements: boolean }): Promise<TableCheck>;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Can the store be reached? (readiness) */
  ping(): Promise<void>;
  close(): Promise<void>;
}
