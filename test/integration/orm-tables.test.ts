/**
 * custctl on a `customers` table built by the billing system's ORM, on a real PostgreSQL: the DDL
 * TypeORM and Prisma generate (an ENUM status named as each names it, `character varying`,
 * `TIMESTAMP(3)` without time zone, nullable text, an updated_at without default, extra NOT NULL
 * columns with defaults, a trigger of the billing system's own), driven through the built binary:
 * db check / db migrate / deletions end to end (simulated cluster, and one on the real control
 * plane). Then the shapes a deletion would trip on: db check fails on each, naming the column and
 * the fix, and a deletion there indeed fails; db check passes only where a deletion passes. And the
 * same statements on PGlite.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { pgliteDriver } from '../../src/adapters/store-pglite.js';
import { SqlCustomerStore } from '../../src/adapters/store-sql.js';
import type { AuditRecord, CustomerRow } from '../../src/adapters/store.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { kubectl, provisionCustomer, randomKey, withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(5).toString('hex');

/**
 * TypeORM 0.3 `migration:generate` for
 *   enum DeploymentStatus { Pending = 'pending', Deploying = 'deploying', Deployed = 'deployed', Failed = 'failed' }
 *   @Entity('customers') class Customer {
 *     @PrimaryGeneratedColumn() id; @Column({ unique: true }) customer_id: string; @Column() email: string;
 *     @Column({ nullable: true }) company_name; @Column({ type: 'enum', enum: DeploymentStatus, default: 'pending' }) deployment_status;
 *     @Column({ nullable: true }) instance_namespace; @Column({ nullable: true }) instance_url;
 *     @Column({ default: 'starter' }) plan; @CreateDateColumn() created_at; @UpdateDateColumn() updated_at }
 * plus the billing team's own trigger keeping updated_at (a raw migration).
 */
const TYPEORM = `CREATE TYPE "public"."customers_deployment_status_enum" AS ENUM('pending', 'deploying', 'deployed', 'failed');
CREATE TABLE "customers" ("id" SERIAL NOT NULL, "customer_id" character varying NOT NULL, "email" character varying NOT NULL, "company_name" character varying, "deployment_status" "public"."customers_deployment_status_enum" NOT NULL DEFAULT 'pending', "instance_namespace" character varying, "instance_url" character varying, "plan" character varying NOT NULL DEFAULT 'starter', "created_at" TIMESTAMP NOT NULL DEFAULT now(), "updated_at" TIMESTAMP NOT NULL DEFAULT now(), CONSTRAINT "UQ_8536b8b85c06969f84f0c098b03" UNIQUE ("customer_id"), CONSTRAINT "PK_133ec679a801fab5e070f73d3ea" PRIMARY KEY ("id"));
CREATE FUNCTION customers_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER customers_touch_updated_at BEFORE UPDATE ON "customers" FOR EACH ROW EXECUTE FUNCTION customers_touch_updated_at();`;

/**
 * Prisma 5 `migrate dev` for
 *   enum DeploymentStatus { pending deploying deployed failed }
 *   model Customer {
 *     id Int @id @default(autoincrement())
 *     customerId String @unique @map("customer_id")
 *     email String @db.VarChar(255)
 *     companyName String? @map("company_name")
 *     deploymentStatus DeploymentStatus @default(pending) @map("deployment_status")
 *     instanceNamespace String? @map("instance_namespace")
 *     instanceUrl String? @map("instance_url")
 *     stripeCustomerId String? @map("stripe_customer_id")
 *     createdAt DateTime @default(now()) @map("created_at")
 *     updatedAt DateTime @updatedAt @map("updated_at")
 *     @@map("customers")
 *   }
 */
const PRISMA = `-- CreateEnum
CREATE TYPE "DeploymentStatus" AS ENUM ('pending', 'deploying', 'deployed', 'failed');

-- CreateTable
CREATE TABLE "customers" (
    "id" SERIAL NOT NULL,
    "customer_id" TEXT NOT NULL,
    "email" VARCHAR(255) NOT NULL,
    "company_name" TEXT,
    "deployment_status" "DeploymentStatus" NOT NULL DEFAULT 'pending',
    "instance_namespace" TEXT,
    "instance_url" TEXT,
    "stripe_customer_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "customers_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "customers_customer_id_key" ON "customers"("customer_id");`;

/** The same Prisma model without the @map attributes: Prisma's default, quoted camelCase columns. */
const PRISMA_CAMEL = `CREATE TYPE "DeploymentStatus" AS ENUM ('pending', 'deploying', 'deployed', 'failed');
CREATE TABLE "customers" (
    "id" SERIAL NOT NULL,
    "customerId" TEXT NOT NULL,
    "email" TEXT NOT NULL,
    "companyName" TEXT,
    "deploymentStatus" "DeploymentStatus" NOT NULL DEFAULT 'pending',
    "instanceNamespace" TEXT,
    "instanceUrl" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "customers_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "customers_customerId_key" ON "customers"("customerId");`;

/** A hand-written billing table, text status, with custctl's columns: the base of the broken shapes below. */
const TEXT_TABLE = (status = 'text', extra = '') => `create table customers (
  id serial primary key, customer_id text unique not null, email text not null default '', company_name text not null default '',
  deployment_status ${status} not null default 'pending', instance_namespace text not null default '', instance_url text not null default '',
  deletion_job_id text, previous_status text, deletion_scheduled_at timestamptz, deleted_at timestamptz,
  created_at timestamptz not null default now(), updated_at timestamptz not null default now()${extra});`;

interface Db {
  url: string;
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
}

const dbs: Array<{ name: string; pool: pg.Pool }> = [];

async function database(ddl: string): Promise<Db> {
  const name = `custctl_orm_${newKey()}`;
  await withAdminClient((c) => c.query(`create database ${name}`));
  const u = new URL(databaseUrl);
  u.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: u.toString(), max: 2 });
  pool.on('error', () => undefined);
  dbs.push({ name, pool });
  await pool.query(ddl);
  return { url: u.toString(), sql: async <T>(t: string, p?: unknown[]) => (await pool.query(t, p)).rows as T[] };
}

afterAll(async () => {
  for (const d of dbs) {
    await d.pool.end().catch(() => undefined);
    await withAdminClient((c) => c.query(`drop database if exists ${d.name} with (force)`)).catch(() => undefined);
  }
});

/** Rows as billing inserts them: NULL company, a namespace and URL, no custctl columns. */
async function billingRow(d: Db, key: string, opts: { company?: string | null; status?: string } = {}): Promise<string> {
  const id = `cust_${key}`;
  const cols = (await d.sql<{ n: string }>(`select attname::text as n from pg_attribute where attrelid = 'customers'::regclass and attnum > 0 and not attisdropped`)).map((c) => c.n);
  const updated = cols.includes('updated_at') ? ', updated_at' : '';
  await d.sql(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url${updated})
    values ($1, $2, $3, $4, $5, $6${updated ? ', now()' : ''})`,
  [id, `${key}@example.test`, opts.company === undefined ? null : opts.company, opts.status ?? 'deployed', `customer-${key}`, `https://${key}.example.test`]);
  return id;
}

const raw = (d: Db, id: string) => d.sql(`select * from customers where customer_id = $1`, [id]).then((r) => r[0] as Record<string, unknown>);

function envFor(d: Db, simulate = true): NodeJS.ProcessEnv {
  // one attempt: a deletion that fails says so at once, not after the retries' backoff
  return { DATABASE_URL: d.url, CUSTCTL_STATE_DIR: tempStateDir(), QUEUE_MAX_RETRIES: '1', ...(simulate ? { SIMULATE_K8S_DEPLOYMENT: 'true' } : {}) };
}

interface DbCheckJson {
  ok: boolean;
  upToDate: boolean;
  missing: string[];
  table: { problems: Array<{ column: string; problem: string; fix: string }>; notes: string[]; tried: { ran: boolean; ok: boolean; statement?: string; error?: string; fix?: string; on: string | null } | null } | null;
}

describe.each([
  ['TypeORM', TYPEORM, 'customers_deployment_status_enum', 'plan', 'trigger customers_touch_updated_at'],
  ['Prisma', PRISMA, '"DeploymentStatus"', 'stripe_customer_id', null],
])('a customers table made by %s', (_orm, ddl, enumType, extraColumn, own) => {
  it('db check names the ENUM and the fix until db migrate adds the values; then it passes, trying the statements and changing nothing', async () => {
    const d = await database(ddl);
    const id = await billingRow(d, `c${newKey()}`);
    const env = envFor(d);
    const before = await custctl(['db', 'check'], { env });
    expect(before.exitCode).toBe(1);
    expect(before.stdout).toContain(`customers.deployment_status is the enum ${enumType}, which lacks 'deleting', 'deletion_failed'`);
    expect(before.stdout).toMatch(/fix: run 'custctl db migrate' \(ALTER TYPE .* ADD VALUE …\), and add the same values to the enum in the billing system's model/);

    const migrated = await custctl(['db', 'migrate'], { env });
    expect(migrated.exitCode, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(`applied enum ${enumType} += 'deleting' (customers.deployment_status)`);
    expect((await d.sql<{ v: string }>(`select unnest(enum_range(null::${enumType}))::text as v`)).map((r) => r.v))
      .toEqual(['pending', 'deploying', 'deployed', 'failed', 'deleting', 'deletion_failed']);
    expect((await custctl(['db', 'migrate'], { env })).stdout).toMatch(/schema is up to date/);

    const row = await raw(d, id);
    const audit = await d.sql(`select count(*)::int as n from custctl_audit`);
    const { result, json } = await custctlJson<DbCheckJson>(['db', 'check'], { env });
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    expect(json).toMatchObject({ ok: true, upToDate: true, missing: [], table: { problems: [], tried: { ran: true, ok: true, on: `customer ${id}, rolled back` } } });
    if (own) expect(json.table?.notes.join('\n')).toContain(`${own}): custctl's statements are tried on it`);
    // the check changed nothing: the row, the audit log
    expect(await raw(d, id)).toEqual(row);
    expect(await d.sql(`select count(*)::int as n from custctl_audit`)).toEqual(audit);
    expect((await custctl(['audit', 'verify'], { env })).exitCode).toBe(0);
  });

  it('deletions end to end (simulated cluster): delete, schedule + cancel, a cancelled job, customers add + delete; NULL stays NULL, the table\'s own columns untouched', async () => {
    const d = await database(ddl);
    const env = envFor(d);
    expect((await custctl(['db', 'migrate'], { env })).exitCode).toBe(0);
    const [a, b, c] = [await billingRow(d, `a${newKey()}`), await billingRow(d, `b${newKey()}`, { company: 'B Corp' }), await billingRow(d, `c${newKey()}`)];
    const aBefore = await raw(d, a);

    const del = await custctl(['delete', a, '--yes'], { env });
    expect(del.exitCode, del.stderr).toBe(0);
    const aAfter = await raw(d, a);
    expect(aAfter).toMatchObject({
      deployment_status: 'pending', instance_namespace: null, instance_url: null, // the table's "none" is NULL
      previous_status: 'deployed', deletion_scheduled_at: null, company_name: null, [extraColumn]: aBefore[extraColumn],
    });
    expect(aAfter.deletion_job_id).toMatch(/^\d+$/);
    expect(aAfter.deleted_at).toBeInstanceOf(Date);
    expect((aAfter.updated_at as Date).getTime()).toBeGreaterThanOrEqual((aBefore.updated_at as Date).getTime());

    const scheduled = await custctl(['delete', b, '--yes', '--after', '1d'], { env });
    expect(scheduled.exitCode, scheduled.stderr).toBe(0);
    expect(await raw(d, b)).toMatchObject({ deployment_status: 'deleting' });
    expect((await raw(d, b)).deletion_scheduled_at).toBeInstanceOf(Date);
    const cancelled = await custctl(['cancel', b], { env });
    expect(cancelled.exitCode, cancelled.stderr).toBe(0);
    expect(await raw(d, b)).toMatchObject({ deployment_status: 'deployed', instance_namespace: b.replace('cust_', 'customer-'), company_name: 'B Corp', deletion_job_id: null, previous_status: null });

    const detached = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c, '--yes', '--detach'], { env });
    const jobId = detached.json.results[0]?.jobId ?? '';
    expect((await custctl(['jobs', 'cancel', jobId], { env })).exitCode).toBe(0);
    expect(await raw(d, c)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });

    // a row added by custctl: updated_at filled (Prisma's has no default), empty text as NULL
    const added = `cust_d${newKey()}`;
    const add = await custctl(['customers', 'add', added, '--email', 'd@example.test', '--company', 'D', '--status', 'deployed'], { env });
    expect(add.exitCode, add.stderr).toBe(0);
    expect((await custctl(['delete', added, '--yes'], { env })).exitCode).toBe(0);
    expect(await raw(d, added)).toMatchObject({ deployment_status: 'pending', instance_url: null });

    // read back through custctl: NULL text as '', times as ISO
    const { json: { customer: shown } } = await custctlJson<{ customer: CustomerRow }>(['status', 'customer', a], { env });
    expect(shown).toMatchObject({ customerId: a, deploymentStatus: 'pending', companyName: '', instanceNamespace: '', instanceUrl: '' });
    expect(shown.deletedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const { json: audit } = await custctlJson<AuditRecord[]>(['audit', 'list', '--customer', a], { env });
    expect(audit.map((r) => r.action).reverse()).toEqual(['deletion-accepted', 'deletion-started', 'deletion-completed']);
    expect((await custctl(['audit', 'verify'], { env })).exitCode).toBe(0);
  }, 180_000);
});

describe('the real control plane', () => {
  it('a customer in a TypeORM-shaped table is deleted for real: release, namespace and RBAC gone, the row handed back as the table says "none"', async () => {
    const d = await database(TYPEORM);
    const env = envFor(d, false);
    expect((await custctl(['db', 'migrate'], { env })).exitCode).toBe(0);
    const key = randomKey('orm');
    const c = await provisionCustomer(key, { row: false, rbacOutsideRelease: true });
    await billingRow(d, key);
    expect((await custctl(['db', 'check'], { env })).exitCode).toBe(0);
    const r = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await kubectl(['get', 'namespace', c.namespace])).stderr).toMatch(/NotFound/);
    expect(await raw(d, c.customerId)).toMatchObject({ deployment_status: 'pending', instance_namespace: null, instance_url: null, previous_status: 'deployed' });
    const { json } = await custctlJson<AuditRecord[]>(['audit', 'list', '--customer', c.customerId, '--action', 'deletion-completed'], { env });
    expect(json[0]).toMatchObject({ outcome: 'deleted', rowStatus: 'pending', deleted: { releases: [c.release] } });
  }, 240_000);
});

/**
 * Each shape a deletion trips on: db check exits 1 naming the column (or the statement) and the
 * fix, and a deletion there does fail; with the fix applied both pass.
 */
describe('db check fails where a deletion would fail, and only there', () => {
  const cases: Array<{
    name: string;
    ddl: string;
    /** what db check prints */
    check: RegExp[];
    /** how the deletion fails: the exit code and what it says */
    deletion: { exitCode: number; says: RegExp; row: string };
    fix: string;
    /** db migrate refuses the table (exit 2, saying this) */
    migrateRefuses?: RegExp;
  }> = [
    {
      name: 'a status column too short for deletion_failed',
      ddl: TEXT_TABLE('character varying(10)'),
      check: [/customers\.deployment_status is character varying\(10\): too short for 'deletion_failed'/, /fix: alter table customers alter column deployment_status type character varying\(15\)/],
      deletion: { exitCode: 2, says: /customers\.deployment_status is character varying\(10\)/, row: 'deployed' },
      fix: 'alter table customers alter column deployment_status type character varying(15)',
    },
    {
      name: 'NOT NULL where custctl writes NULL',
      ddl: TEXT_TABLE().replace('deletion_job_id text,', "deletion_job_id text not null default '',"),
      check: [/customers\.deletion_job_id is NOT NULL: custctl writes NULL there/, /fix: alter table customers alter column deletion_job_id drop not null/],
      deletion: { exitCode: 2, says: /customers\.deletion_job_id is NOT NULL/, row: 'deployed' },
      fix: 'alter table customers alter column deletion_job_id drop not null',
    },
    {
      name: "a CHECK constraint that does not allow 'deleting'",
      ddl: TEXT_TABLE('text', `, constraint customers_status_check check (deployment_status in ('pending', 'deploying', 'deployed', 'failed'))`),
      check: [/a deletion would fail on customers: claim a deletion \(→ deleting\): .*customers_status_check.* \[23514\]/, /fix: the CHECK constraint customers_status_check of customers must allow custctl's values/],
      deletion: { exitCode: 1, says: /customers_status_check/, row: 'deployed' },
      fix: 'alter table customers drop constraint customers_status_check',
    },
    {
      // the dangerous one: nothing in the columns says so, and a deletion fails at step 4, after the cluster is gone
      name: 'a billing trigger that refuses deleting → pending',
      ddl: `${TEXT_TABLE()}
        create function billing_status_guard() returns trigger language plpgsql as $$ begin
          if old.deployment_status = 'deleting' and new.deployment_status = 'pending' then
            raise exception 'billing: a deleted customer must be archived first';
          end if;
          return new;
        end $$;
        create trigger billing_status_guard before update on customers for each row execute function billing_status_guard();`,
      check: [/a deletion would fail on customers: complete it: step 4 \(→ pending, namespace and URL cleared\): .*billing: a deleted customer must be archived first \[P0001\]/, /fix: a trigger or function of the table refused it \(PL\/pgSQL function billing_status_guard\(\)/],
      deletion: { exitCode: 1, says: /billing: a deleted customer must be archived first/, row: 'deletion_failed' },
      fix: 'drop trigger billing_status_guard on customers',
    },
    {
      name: "Prisma's camelCase columns (no @map)",
      ddl: PRISMA_CAMEL,
      check: [/customers\.customer_id is missing; the table has "customerId" instead/, /fix: custctl's column names are fixed: name the column customer_id \(Prisma: @map\("customer_id"\) on the field/],
      deletion: { exitCode: 2, says: /not up to date \(missing: column customers\.customer_id/, row: '' },
      fix: '',
      migrateRefuses: /has custctl's columns under other names: customers\.customer_id is missing; the table has "customerId" instead.*\n.*@map\("customer_id"\)/,
    },
  ];

  it.each(cases)('$name', async (c) => {
    const d = await database(c.ddl);
    const env = envFor(d);
    const migrated = await custctl(['db', 'migrate'], { env });
    if (c.migrateRefuses) {
      expect(migrated.exitCode).toBe(2);
      expect(migrated.stderr).toMatch(c.migrateRefuses);
      expect(await d.sql(`select to_regclass('schema_migrations') as t`)).toEqual([{ t: null }]);
    } else {
      expect(migrated.exitCode, migrated.stderr).toBe(0);
    }
    const key = `k${newKey()}`;
    let id = `cust_${key}`;
    if (c.deletion.row) id = await billingRow(d, key, { company: 'K' });
    const check = await custctl(['db', 'check'], { env });
    expect(check.exitCode, check.stdout).toBe(1);
    for (const rx of c.check) expect(check.stdout).toMatch(rx);

    const del = await custctl(['delete', id, '--yes'], { env });
    expect(del.exitCode, del.stdout + del.stderr).toBe(c.deletion.exitCode);
    expect(del.stdout + del.stderr).toMatch(c.deletion.says);
    if (!c.deletion.row) return;
    expect(await raw(d, id)).toMatchObject({ deployment_status: c.deletion.row });

    // fixed: both pass
    await d.sql(c.fix);
    const again = await custctl(['db', 'check'], { env });
    expect(again.exitCode, again.stdout).toBe(0);
    const other = await billingRow(d, `o${newKey()}`, { company: 'O' });
    const ok = await custctl(['delete', other, '--yes'], { env });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(await raw(d, other)).toMatchObject({ deployment_status: 'pending' });
  }, 180_000);

  it('an extra NOT NULL column without a default stops no deletion (db check passes with a note); customers add says which column it cannot fill', async () => {
    const d = await database(TEXT_TABLE('text', ', plan_id integer not null'));
    const env = envFor(d);
    expect((await custctl(['db', 'migrate'], { env })).exitCode).toBe(0);
    await d.sql(`insert into customers (customer_id, deployment_status, instance_namespace, plan_id) values ('cust_p1', 'deployed', 'customer-p1', 7)`);
    const check = await custctl(['db', 'check'], { env });
    expect(check.exitCode, check.stdout).toBe(0);
    expect(check.stderr).toMatch(/note: 'custctl customers add' cannot fill customers\.plan_id \(NOT NULL, no default\)/);
    expect((await custctl(['delete', 'cust_p1', '--yes'], { env })).exitCode).toBe(0);
    const add = await custctl(['customers', 'add', 'cust_p2', '--email', 'e@x.test', '--company', 'P'], { env });
    expect(add.exitCode).toBe(2);
    expect(add.stderr).toMatch(/customers\.plan_id is NOT NULL without a default/);
  }, 180_000);
});

describe('PGlite', () => {
  it('the Prisma table: the ENUM values added by migrate, the statements tried and rolled back, a deletion and a cancel write through the ENUM and NULL', async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const lite = new PGlite();
    await lite.waitReady;
    await lite.exec(PRISMA);
    await lite.query(`insert into customers (customer_id, email, deployment_status, instance_namespace, instance_url, updated_at) values
      ('cust_l1', 'l1@x.test', 'deployed', 'customer-l1', 'https://l1', now()), ('cust_l2', 'l2@x.test', 'deployed', 'customer-l2', 'https://l2', now())`);
    const store = new SqlCustomerStore(pgliteDriver(lite), { kind: 'embedded', description: 'embedded (memory)' });
    try {
      expect(await store.checkSchema()).toEqual(expect.arrayContaining([`enum value 'deleting' of "DeploymentStatus" (customers.deployment_status)`]));
      await expect(store.claimForDeletion('cust_l1', '1', { force: false })).rejects.toThrow(/lacks 'deleting', 'deletion_failed'/);
      expect(await store.migrate()).toEqual(expect.arrayContaining([`enum "DeploymentStatus" += 'deleting' (customers.deployment_status)`]));
      expect(await store.checkSchema()).toEqual([]);
      const review = await store.reviewTable({ tryStatements: true });
      expect(review).toMatchObject({ problems: [], tried: { ran: true, ok: true } });
      const who = { actor: 't', customerId: 'cust_l1', jobId: '1' };
      expect((await store.claimForDeletion('cust_l1', '1', { force: false, audit: { ...who, action: 'deletion-accepted' } })).ok).toBe(true);
      expect(await store.completeDeletion('cust_l1', '1', { ...who, action: 'deletion-completed' })).toBe(true);
      expect((await lite.query(`select deployment_status::text as s, instance_namespace, instance_url, company_name from customers where customer_id = 'cust_l1'`)).rows[0])
        .toEqual({ s: 'pending', instance_namespace: null, instance_url: null, company_name: null });
      expect((await store.claimForDeletion('cust_l2', '2', { force: false, scheduledAt: new Date(Date.now() + 3_600_000) })).ok).toBe(true);
      expect(await store.releaseDeletion('cust_l2', '2')).toBe(true);
      expect(await store.get('cust_l2')).toMatchObject({ deploymentStatus: 'deployed', instanceNamespace: 'customer-l2', companyName: '' });
      expect(await store.completeRestore('cust_l1', 'customer-l1', 'https://l1')).toBe(true);
      expect(await store.get('cust_l1')).toMatchObject({ deploymentStatus: 'deployed', instanceNamespace: 'customer-l1' });
      expect((await store.verifyAudit?.())?.ok).toBe(true);
    } finally {
      await store.close();
    }
  }, 120_000);
});
