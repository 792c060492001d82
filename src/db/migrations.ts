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
  /**
   * custctl works without it (it adds what only some sites use): the schema check does not count it
   * as missing; `db migrate` applies it like any other.
   */
  optional?: true;
}

/**
 * The session setting that names the cluster column for migration 6 (CUSTCTL_CLUSTER_COLUMN): the
 * store sets it, transaction-local, before each migration; unset, the column is `cluster`.
 */
export const CLUSTER_COLUMN_SETTING = 'custctl.cluster_column';

/**
 * Migration 6: the column naming the cluster that holds a customer (src/domain/clusters.ts), plain
 * nullable text, added only when the table has no column of that name (the billing system may
 * already keep one: CUSTCTL_CLUSTER_COLUMN names it, and it is left as it is). Optional: a site with
 * one cluster needs no column.
 */
const CLUSTER_COLUMN_SQL = `do $do$
declare
  col text := coalesce(nullif(current_setting('${CLUSTER_COLUMN_SETTING}', true), ''), 'cluster');
begin
  if not exists (select 1 from pg_attribute where attrelid = 'customers'::regclass and attname = col and attnum > 0 and not attisdropped) then
    execute format('alter table customers add column %I text', col);
  end if;
end
$do$;`;

/** Where applied migrations are recorded. */
export const SCHEMA_MIGRATIONS_DDL = `create table if not exists schema_migrations (
  version int primary key,
  name text not null,
  applied_at timestamptz not null default now()
)`;

/** Key of the transaction-level advisory lock that serialises concurrent `db migrate` runs. */
export const MIGRATION_LOCK_KEY = 7_283_017_466;

/** Audit rows younger than this are pruned only with an explicit `allow_recent` (custctl: --allow-recent); migration 5 says 30 days in its SQL (a unit test keeps the two equal). */
export const AUDIT_PRUNE_MIN_AGE_DAYS = 30;

/**
 * Migration 5: the audit log's hash chain (src/domain/audit-chain.ts defines the canonical form and
 * checks it; the SQL here must compute the same).
 * - custctl_audit gains seq, prev_hash, hash (the chain), db_user (the database session user that
 *   wrote the row) and actor_label (an unproven label, beside the proven actor).
 * - custctl_audit_head: one row, the chain's last seq and hash. The insert trigger locks it
 *   (SELECT … FOR UPDATE), so inserts are chained one at a time, in commit order; under REPEATABLE
 *   READ a concurrent insert fails with a serialization error instead of forking the chain. It also
 *   lets `audit verify` see rows deleted from the end.
 * - The insert trigger cleans every text column (custctl_audit_clean(), the same rule as
 *   src/domain/audit-text.ts), sets `at` from the clock after taking the lock (so `at` follows the
 *   chain's order), records session_user, and computes the hash. BEFORE INSERT triggers run in name
 *   order: `zz_…` makes it see the row as every other trigger left it.
 * - Retention: custctl_audit_prune(before, pruned_by, allow_recent) refuses a `before` in the future
 *   and, unless allow_recent, one younger than the minimum age; it deletes a prefix of the chain
 *   (never a row recorded at or after `before`) and inserts a checkpoint row (`audit-pruned`) that
 *   records the range and the last pruned hash. The delete trigger lets a row go only when the
 *   function's ticket for this transaction covers it (a table only the functions' owner can write:
 *   a session setting anyone could set would not do); an `audit-pruned` row needs the ticket too.
 * - Existing rows are chained in id order, as they are (their text is not rewritten).
 * The audit log holds no personal data (customer id, namespace, job, counts and object names,
 * custctl's own reasons, a pseudonymous actor), so an erasure never needs to rewrite the chain.
 */
const AUDIT_CHAIN_SQL = `alter table custctl_audit add column if not exists seq bigint;
alter table custctl_audit add column if not exists prev_hash text;
alter table custctl_audit add column if not exists hash text;
alter table custctl_audit add column if not exists actor_label text;
alter table custctl_audit add column if not exists db_user text;
create unique index if not exists custctl_audit_seq_idx on custctl_audit (seq);
create table if not exists custctl_audit_head (
  one boolean primary key default true check (one),
  seq bigint not null,
  hash text not null
);
create table if not exists custctl_audit_prune_ticket (
  txid bigint primary key,
  upto_seq bigint not null
);
revoke all on custctl_audit_head from public;
revoke all on custctl_audit_prune_ticket from public;

create or replace function custctl_audit_clean(s text) returns text language sql immutable as $fn$
  select regexp_replace(regexp_replace(s, '[\\u0009-\\u000d]+', ' ', 'g'),
    '[\\u0001-\\u0008\\u000e-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]', '', 'g')
$fn$;
create or replace function custctl_audit_json(s text) returns text language sql immutable as $fn$
  select coalesce(to_json(s)::text, 'null')
$fn$;
create or replace function custctl_audit_canonical(r custctl_audit) returns text language sql stable as $fn$
  select '["custctl-audit/1",' || r.seq::text
    || ',' || custctl_audit_json(r.prev_hash)
    || ',' || custctl_audit_json(to_char(r.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    || ',' || custctl_audit_json(r.actor)
    || ',' || custctl_audit_json(r.actor_label)
    || ',' || custctl_audit_json(r.db_user)
    || ',' || custctl_audit_json(r.action)
    || ',' || custctl_audit_json(r.customer_id)
    || ',' || custctl_audit_json(r.namespace)
    || ',' || custctl_audit_json(r.job_id)
    || ',' || custctl_audit_json(r.outcome)
    || ',' || custctl_audit_json(r.row_status)
    || ',' || coalesce(r.deleted::text, 'null')
    || ',' || custctl_audit_json(r.reason)
    || ']'
$fn$;
create or replace function custctl_audit_hash(r custctl_audit) returns text language sql stable as $fn$
  select encode(sha256(convert_to(custctl_audit_canonical(r), 'UTF8')), 'hex')
$fn$;

-- existing rows, chained in id order as they are
drop trigger if exists custctl_audit_append_only on custctl_audit;
do $do$
declare
  r custctl_audit;
  s bigint := 0;
  h text := repeat('0', 64);
begin
  for r in select * from custctl_audit where seq is null order by id loop
    s := s + 1;
    r.seq := s;
    r.prev_hash := h;
    h := custctl_audit_hash(r);
    update custctl_audit set seq = r.seq, prev_hash = r.prev_hash, hash = h where id = r.id;
  end loop;
  insert into custctl_audit_head (one, seq, hash) values (true, s, h) on conflict (one) do nothing;
end
$do$;

create or replace function custctl_audit_head_guard() returns trigger language plpgsql as $fn$
begin
  -- depth 1: a statement on the head itself; the chain trigger's own UPDATE runs at depth 2
  if pg_trigger_depth() < 2 then
    raise exception 'custctl_audit_head is moved only by the audit chain: % refused', tg_op using errcode = 'insufficient_privilege';
  end if;
  return new;
end
$fn$;
drop trigger if exists custctl_audit_head_guard on custctl_audit_head;
create trigger custctl_audit_head_guard before update or delete on custctl_audit_head
  for each row execute function custctl_audit_head_guard();

create or replace function custctl_audit_chain() returns trigger language plpgsql security definer set search_path from current as $fn$
declare
  head_seq bigint;
  head_hash text;
begin
  if new.action = 'audit-pruned' and not exists (select 1 from custctl_audit_prune_ticket where txid = txid_current()) then
    raise exception 'custctl_audit: audit-pruned rows are written only by custctl_audit_prune()' using errcode = 'insufficient_privilege';
  end if;
  -- one writer at a time: the head's row lock is held until this transaction ends
  select seq, hash into head_seq, head_hash from custctl_audit_head where one for update;
  if not found then
    raise exception 'custctl_audit: the chain head (custctl_audit_head) is missing: nothing can be recorded (run custctl audit verify)'
      using errcode = 'object_not_in_prerequisite_state';
  end if;
  new.seq := head_seq + 1;
  new.prev_hash := head_hash;
  new.at := clock_timestamp();
  new.db_user := session_user;
  new.actor := custctl_audit_clean(new.actor);
  new.actor_label := custctl_audit_clean(new.actor_label);
  new.action := custctl_audit_clean(new.action);
  new.customer_id := custctl_audit_clean(new.customer_id);
  new.namespace := custctl_audit_clean(new.namespace);
  new.job_id := custctl_audit_clean(new.job_id);
  new.outcome := custctl_audit_clean(new.outcome);
  new.row_status := custctl_audit_clean(new.row_status);
  new.reason := custctl_audit_clean(new.reason);
  new.hash := custctl_audit_hash(new);
  update custctl_audit_head set seq = new.seq, hash = new.hash where one;
  return new;
end
$fn$;
drop trigger if exists zz_custctl_audit_chain on custctl_audit;
create trigger zz_custctl_audit_chain before insert on custctl_audit
  for each row execute function custctl_audit_chain();

create or replace function custctl_audit_refuse_change() returns trigger language plpgsql security definer set search_path from current as $fn$
begin
  if tg_op = 'DELETE' then
    if exists (select 1 from custctl_audit_prune_ticket t where t.txid = txid_current() and old.seq <= t.upto_seq) then
      return old;
    end if;
  end if;
  raise exception 'custctl_audit is append-only: % refused (retention: custctl audit prune)', tg_op
    using errcode = 'insufficient_privilege';
end
$fn$;
create trigger custctl_audit_append_only before update or delete on custctl_audit
  for each row execute function custctl_audit_refuse_change();
drop trigger if exists custctl_audit_no_truncate on custctl_audit;
create trigger custctl_audit_no_truncate before truncate on custctl_audit
  for each statement execute function custctl_audit_refuse_change();

drop function if exists custctl_audit_prune(timestamptz, text);
create or replace function custctl_audit_prune(before timestamptz, pruned_by text, allow_recent boolean default false) returns bigint
  language plpgsql security definer set search_path from current as $fn$
declare
  min_age constant interval := interval '30 days';
  stamp text := to_char(before at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  head_seq bigint;
  cut bigint;
  first_seq bigint;
  last_hash text;
  n bigint;
begin
  if before is null then
    raise exception 'custctl_audit_prune: before must be a time' using errcode = 'invalid_parameter_value';
  end if;
  if before > now() then
    raise exception 'custctl_audit_prune: before % is in the future: refused', stamp using errcode = 'invalid_parameter_value';
  end if;
  if before > now() - min_age and allow_recent is not true then
    raise exception 'custctl_audit_prune: before % is less than 30 days ago: refused (audit rows are kept at least 30 days; allow_recent => true prunes younger rows, and the prune row says so)', stamp
      using errcode = 'invalid_parameter_value';
  end if;
  select seq into head_seq from custctl_audit_head where one for update;
  if not found then
    raise exception 'custctl_audit: the chain head (custctl_audit_head) is missing (run custctl audit verify)' using errcode = 'object_not_in_prerequisite_state';
  end if;
  -- a prefix of the chain, up to the first row recorded at or after before
  select coalesce(min(seq), head_seq + 1) - 1 into cut from custctl_audit where at >= before;
  select min(seq) into first_seq from custctl_audit where seq <= cut;
  select hash into last_hash from custctl_audit where seq = cut;
  insert into custctl_audit_prune_ticket (txid, upto_seq) values (txid_current(), cut);
  delete from custctl_audit where seq <= cut;
  get diagnostics n = row_count;
  insert into custctl_audit (actor, action, outcome, reason, deleted) values (
    coalesce(pruned_by, ''), 'audit-pruned', 'pruned',
    'rows recorded before ' || stamp || case when before > now() - min_age then ' (younger than 30 days: allow_recent)' else '' end,
    jsonb_build_object('auditRows', n)
      || case when n > 0 then jsonb_build_object('firstSeq', first_seq, 'lastSeq', cut, 'lastHash', last_hash) else '{}'::jsonb end);
  delete from custctl_audit_prune_ticket where txid = txid_current();
  return n;
end
$fn$;`;

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
    // The audit table: append-only, enforced here by a trigger; retention only through
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
  },  {
    // The audit log made tamper-evident: see AUDIT_CHAIN_SQL.
    version: 5,
    name: 'chain custctl_audit',
    sql: AUDIT_CHAIN_SQL,
  },
  {
    // Which cluster holds a customer: see CLUSTER_COLUMN_SQL.
    version: 6,
    name: 'add cluster column',
    sql: CLUSTER_COLUMN_SQL,
    optional: true,
  },
  {
    // Which Stripe customer a customer is (CUSTCTL_BILLING=stripe): plain nullable text, the
    // column's default name. A billing system that keeps it under another name sets
    // CUSTCTL_STRIPE_CUSTOMER_COLUMN; a site without it finds the customer by a metadata search.
    // Optional: only sites that bill through custctl read it.
    version: 7,
    name: 'add stripe_customer_id column',
    sql: 'alter table customers add column if not exists stripe_customer_id text',
    optional: true,
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
  'seq', 'prev_hash', 'hash', 'actor_label', 'db_user',
];
/** The chain's head (migration 5). */
export const AUDIT_HEAD_TABLE = 'custctl_audit_head';
