/**
 * A `customers` row in SQL: the columns as custctl reads them whatever shape the billing system
 * gave them, the values custctl writes through the column's own type, and the row as custctl
 * sees it (CustomerRow).
 */
import type { CustomerRow, DeploymentStatus } from '../store.js';

/** A `customers` row as the database returns it. */
export interface DbRow {
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
export interface ClaimDbRow extends DbRow {
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
export function columns(p = ''): string {
  return `${p}id, ${p}customer_id::text as customer_id, coalesce(${p}email::text, '') as email, coalesce(${p}company_name::text, '') as company_name,
  ${p}deployment_status::text as deployment_status, coalesce(${p}instance_namespace::text, '') as instance_namespace,
  coalesce(${p}instance_url::text, '') as instance_url, ${p}deletion_job_id::text as deletion_job_id, ${p}previous_status::text as previous_status,
  ${p}deletion_scheduled_at::timestamptz as deletion_scheduled_at, ${p}deleted_at::timestamptz as deleted_at,
  ${p}created_at::timestamptz as created_at, ${p}updated_at::timestamptz as updated_at`;
}

/** A column name as an SQL identifier, quoted: exactly as the table spells it (case included). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A text value for the status column, through the column's own type: an ENUM's input function, a
 * varchar's length, a domain's checks. (A text expression cannot be assigned to an ENUM column,
 * and SQL has no "cast to the type of that column"; json_populate_record converts a value to the
 * type the table's row type gives the field, whatever it is.)
 */
export function asStatus(textExpr: string): string {
  return `(json_populate_record(null::customers, json_build_object('deployment_status', ${textExpr}))).deployment_status`;
}

/**
 * "None" for a text column custctl clears, the way the table says it: NULL where the column allows
 * NULL (an ORM's nullable column), '' where it is NOT NULL. Read from the catalog at every
 * statement, so a table changed while custctl runs is still written right.
 */
export function none(column: string): string {
  return `case when (select a.attnotnull from pg_attribute a where a.attrelid = 'customers'::regclass and a.attname = '${column}') then '' end`;
}

/** A value custctl writes into a text column, or the table's "none" when it is empty. */
export function orNone(param: string, column: string): string {
  return `coalesce(nullif(${param}::text, ''), ${none(column)})`;
}


/** `pg` error codes the store translates. */
export const UNIQUE_VIOLATION = '23505';
export const CHECK_VIOLATION = '23514';
export const NOT_NULL_VIOLATION = '23502';
export const INVALID_PARAMETER_VALUE = '22023';

export function iso(v: Date | string): string {
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}

/** The table's check constraint keeps the column to DEPLOYMENT_STATUSES. */
export function status(v: string): DeploymentStatus {
  return v as DeploymentStatus;
}

export function statusOrNull(v: string | null): DeploymentStatus | null {
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

export function sqlState(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
