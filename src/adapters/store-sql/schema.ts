/**
 * The schema: what is missing (db check), the migrations (db migrate), and the customers table
 * reviewed for what a deletion writes (db check --try: the row statements run and rolled back).
 */
import { OperationError, UsageError, errorMessage, CliError } from '../../errors.js';
import { CLUSTER_COLUMN_SETTING, MIGRATIONS, MIGRATION_LOCK_KEY, REQUIRED_AUDIT_COLUMNS, REQUIRED_CUSTOMER_COLUMNS, SCHEMA_MIGRATIONS_DDL, AUDIT_TABLE } from '../../db/migrations.js';
import { reviewCustomersTable, type TableReview } from '../../db/customer-table.js';
import { DELETABLE_STATUSES, DEPLOYMENT_STATUSES, type AuditEntry, type TableCheck, type TriedStatements } from '../store.js';
import { catalogColumns, lackingStatusValues } from './catalog.js';
import type { SqlContext } from './context.js';
import { sqlState } from './rows.js';

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

export async function serverVersion(s: SqlContext): Promise<string> {
  return s.guard('reading the server version', async () => {
    const r = await s.db.query<{ v: string }>('select version() as v');
    // `PostgreSQL 16.4 (Debian 16.4-1.pgdg120+2) on x86_64-pc-linux-gnu, compiled by …`: up to " on "
    return (r.rows[0]?.v ?? 'unknown').split(' on ')[0] as string;
  });
}

export async function checkSchema(s: SqlContext): Promise<string[]> {
  return s.guard('checking the schema', async () => {
    const missing: string[] = [];
    const tables = await s.db.query<{ customers: string | null; migrations: string | null; audit: string | null }>(
      `select to_regclass('customers')::text as customers, to_regclass('schema_migrations')::text as migrations,
         to_regclass('${AUDIT_TABLE}')::text as audit`,
    );
    const t = tables.rows[0];
    if (!t?.customers) {
      missing.push('table customers');
    } else {
      // the same table to_regclass found (first on search_path), not merely one in current_schema()
      const cols = await s.db.query<{ column_name: string }>(
        `select attname::text as column_name from pg_attribute
         where attrelid = to_regclass('customers') and attnum > 0 and not attisdropped`,
      );
      const have = new Set(cols.rows.map((c) => c.column_name));
      for (const c of REQUIRED_CUSTOMER_COLUMNS) if (!have.has(c)) missing.push(`column customers.${c}`);
      for (const e of await lackingStatusValues(s.db)) missing.push(`enum value '${e.value}' of ${e.type} (customers.deployment_status)`);
    }
    if (!t?.audit) {
      missing.push(`table ${AUDIT_TABLE}`);
    } else {
      const cols = await s.db.query<{ column_name: string }>(
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
    const applied = await s.db.query<{ version: number }>(`select version from schema_migrations`);
    const done = new Set(applied.rows.map((a) => Number(a.version)));
    for (const m of MIGRATIONS) if (!done.has(m.version) && !m.optional) missing.push(`migration ${m.version} (${m.name})`);
    return missing;
  });
}

export async function migrate(s: SqlContext): Promise<string[]> {
  return s.guard('migrating the schema', async () => {
    // custctl's column names are fixed: a table that has them under other names (an ORM's
    // camelCase) is not migrated around them
    const renamed = reviewCustomersTable(await catalogColumns(s.db), DEPLOYMENT_STATUSES).problems.filter((p) => p.kind === 'name');
    if (renamed.length > 0) {
      throw new UsageError(`the customers table in ${s.description} has custctl's columns under other names: ${renamed.map((p) => `${p.column} ${p.problem}`).join('; ')}`,
        [renamed[0]?.fix ?? '', 'nothing was migrated']);
    }
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      // One transaction per migration, serialised across processes by an advisory lock (PGlite
      // supports it too). The record is checked under the lock, so two runs never apply one twice.
      const ran = await s.db.transaction(async (tx) => {
        await tx.query(`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
        await tx.exec(SCHEMA_MIGRATIONS_DDL);
        const seen = await tx.query<{ version: number }>(`select version from schema_migrations where version = $1`, [m.version]);
        if (seen.rows.length > 0) return false;
        try {
          // the cluster column's name for migration 6 (CUSTCTL_CLUSTER_COLUMN), for this transaction only
          await tx.query(`select set_config('${CLUSTER_COLUMN_SETTING}', $1, true)`, [s.clusterColumn]);
          await tx.exec(m.sql);
        } catch (e) {
          throw new OperationError(`migration ${m.version} (${m.name}) failed on ${s.description}: ${errorMessage(e)}`,
            ['nothing of this migration was applied (it runs in a transaction); fix the cause and run \'custctl db migrate\' again'],
            { cause: e });
        }
        await tx.query(`insert into schema_migrations (version, name) values ($1, $2)`, [m.version, m.name]);
        return true;
      });
      if (ran) applied.push(`${m.version} ${m.name}`);
    }
    s.columnsChanged(); // migration 6 may have added the cluster column
    // An ENUM status (an ORM's) gets the values custctl writes. Not a versioned migration: the
    // billing system may recreate its type later (Prisma does on every change of the enum), and
    // then the values are added again. Each ADD VALUE on its own, outside a transaction block
    // (older servers refuse it inside one).
    for (const e of await lackingStatusValues(s.db)) {
      try {
        await s.db.exec(`alter type ${e.type} add value if not exists '${e.value}'`);
      } catch (err) {
        throw new OperationError(`adding '${e.value}' to the enum ${e.type} of customers.deployment_status failed on ${s.description}: ${errorMessage(err)}`,
          [`run it as the type's owner: ALTER TYPE ${e.type} ADD VALUE IF NOT EXISTS '${e.value}'; and add the value to the enum in the billing system's model`],
          { cause: err });
      }
      applied.push(`enum ${e.type} += '${e.value}' (customers.deployment_status)`);
    }
    return applied;
  });
}

export async function reviewTable(s: SqlContext, opts: { tryStatements: boolean }): Promise<TableCheck> {
  return s.guard('checking the customers table', async () => {
    const cols = await catalogColumns(s.db);
    if (cols.length === 0) return { problems: [], notes: [], tried: null };
    const review: TableReview = reviewCustomersTable(cols, DEPLOYMENT_STATUSES);
    const own = await s.db.query<{ kind: string; name: string }>(
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
    const tried = await tryRowStatements(s);
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
async function tryRowStatements(s: SqlContext): Promise<TriedStatements> {
  const rollback = new Error('roll back the tried statements');
  let result: TriedStatements = { ran: false, ok: false, on: null, note: '' };
  let step = 'finding a row to try them on';
  try {
    await s.db.transaction(async (tx) => {
      const probe = s.on(tx);
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
