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
