/**
 * Versioned SQL migrations of the customer store: the same SQL for PostgreSQL and PGlite.
 *
 * The billing system may already own `customers` (created by its own DDL, perhaps without the
 * deletion columns), so every statement is tolerant: `create table if not exists`, `add column if
 * not exists`. Migration 1's table matches the DDL the test fixtures use (`ensureCustomersTable`).
 * Applied versions are recorded in `schema_migrations`; never edit a released migration, add one.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Where applied migrations are recorded. */
export const SCHEMA_MIGRATIONS_DDL = `create table if not exists schema_migrations (
  version int primary key,
  name text not null,
  applied_at timestamptz not null default now()
)`;

/** Key of the transaction-level advisory lock that serialises concurrent `db migrate` runs. */
export const MIGRATION_LOCK_KEY = 7_283_017_466;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create customers',
    sql: `create table if not exists customers (
  id serial primary key,
  customer_id text unique not null,
  email text not null default '',
  company_name text not null default '',
  deployment_status text not null default 'pending'
    check (deployment_status in ('pending','deploying','deployed','deleting','deletion_failed','failed')),
  instance_namespace text not null default '',
  instance_url text not null default '',
  deletion_job_id text,
  previous_status text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists customers_deployment_status_idx on customers (deployment_status);`,
  },
  {
    version: 2,
    name: 'add deletion columns',
    sql: `alter table customers add column if not exists deletion_job_id text;
alter table customers add column if not exists previous_status text;`,
  },
  {
    // The audit table (issue 14): append-only, enforced here by a trigger; retention only through
    // custctl_audit_prune(), which records itself. See docs/audit.md.
    version: 3,
    name: 'create custctl_audit',
    sql: `create table if not exists custctl_audit (
  id bigserial primary key,
  at timestamptz not null default clock_timestamp(),
  actor text not null,
  action text not null,
  customer_id text,
  namespace text,
  job_id text,
  outcome text,
  row_status text,
  deleted jsonb,
  reason text
);
create index if not exists custctl_audit_at_idx on custctl_audit (at);
create index if not exists custctl_audit_customer_idx on custctl_audit (customer_id, at);
create or replace function custctl_audit_refuse_change() returns trigger language plpgsql as $fn$
begin
  if tg_op = 'DELETE' and current_setting('custctl.audit_prune', true) = 'on' then
    return old;
  end if;
  raise exception 'custctl_audit is append-only: % refused (retention: custctl audit prune)', tg_op
    using errcode = 'insufficient_privilege';
end
$fn$;
drop trigger if exists custctl_audit_append_only on custctl_audit;
create trigger custctl_audit_append_only before update or delete on custctl_audit
  for each row execute function custctl_audit_refuse_change();
drop trigger if exists custctl_audit_no_truncate on custctl_audit;
create trigger custctl_audit_no_truncate before truncate on custctl_audit
  for each statement execute function custctl_audit_refuse_change();
create or replace function custctl_audit_prune(before timestamptz, pruned_by text) returns bigint
  language plpgsql security definer set search_path from current as $fn$
declare
  n bigint;
begin
  perform set_config('custctl.audit_prune', 'on', true);
  delete from custctl_audit where at < before;
  get diagnostics n = row_count;
  perform set_config('custctl.audit_prune', 'off', true);
  insert into custctl_audit (actor, action, outcome, reason, deleted)
    values (pruned_by, 'audit-pruned', 'pruned', 'rows recorded before ' || to_char(before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            jsonb_build_object('auditRows', n));
  return n;
end
$fn$;`,
  },
  {
    version: 4,
    name: 'add soft delete columns',
    sql: `alter table customers add column if not exists deletion_scheduled_at timestamptz;
alter table customers add column if not exists deleted_at timestamptz;`,
  },
];

/** Every column this version of custctl reads or writes (the read-only schema check looks for each). */
export const REQUIRED_CUSTOMER_COLUMNS: readonly string[] = [
  'id',
  'customer_id',
  'email',
  'company_name',
  'deployment_status',
  'instance_namespace',
  'instance_url',
  'deletion_job_id',
  'previous_status',
  'deletion_scheduled_at',
  'deleted_at',
  'created_at',
  'updated_at',
];

/** The audit table (migration 3) and the columns this version writes (the read-only schema check looks for each). */
export const AUDIT_TABLE = 'custctl_audit';
export const REQUIRED_AUDIT_COLUMNS: readonly string[] = [
  'id', 'at', 'actor', 'action', 'customer_id', 'namespace', 'job_id', 'outcome', 'row_status', 'deleted', 'reason',
];
