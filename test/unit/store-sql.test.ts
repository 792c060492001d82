import { randomBytes } from 'node:crypto';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDriver } from '../../src/adapters/store-pglite.js';
import { SqlCustomerStore } from '../../src/adapters/store-sql.js';
import type { CustomerRow, DeploymentStatus } from '../../src/adapters/store.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { ConflictError, OperationError } from '../../src/errors.js';

// One in-memory PGlite for the file (opening one costs seconds); schema tests run in their own
// PostgreSQL schema (search_path) of it, so they start from an empty database.
let db: PGlite;
let store: SqlCustomerStore;

beforeAll(async () => {
  const { PGlite } = await import('@electric-sql/pglite');
  db = new PGlite();
  await db.waitReady;
  store = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)' });
  expect(await store.migrate()).toEqual(ALL_MIGRATIONS);
}, 60_000);

afterAll(async () => {
  await store?.close();
});

const newKey = (): string => randomBytes(8).toString('hex');
/** `migrate()`'s answer on an empty database: every migration, by version and name */
const ALL_MIGRATIONS = MIGRATIONS.map((m) => `${m.version} ${m.name}`);

async function seed(status: DeploymentStatus): Promise<CustomerRow> {
  const key = newKey();
  return store.add({
    customerId: `cust_${key}`,
    email: `${key}@example.test`,
    companyName: `Company ${key}`,
    deploymentStatus: status,
    instanceNamespace: `customer-${key}`,
    instanceUrl: `https://${key}.example.test`,
  });
}

/** Runs `fn` with search_path set to a new, empty schema (restored afterwards). */
async function inFreshSchema(fn: () => Promise<void>): Promise<void> {
  const schema = `s_${newKey()}`;
  await db.exec(`create schema ${schema}; set search_path to ${schema}`);
  try {
    await fn();
  } finally {
    await db.exec('set search_path to public');
  }
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe('rows', () => {
  it('add, get and list map snake_case columns to CustomerRow with ISO timestamps', async () => {
    const row = await seed('deployed');
    expect(row).toMatchObject({
      deploymentStatus: 'deployed',
      deletionJobId: null,
      previousStatus: null,
      instanceNamespace: `customer-${row.customerId.slice(5)}`,
    });
    expect(typeof row.id).toBe('number');
    expect(row.createdAt).toMatch(ISO);
    expect(row.updatedAt).toMatch(ISO);
    expect(await store.get(row.customerId)).toEqual(row);
    expect((await store.list()).map((r) => r.customerId)).toContain(row.customerId);
    expect(await store.get('cust_doesnotexist')).toBeNull();
  });

  it('a duplicate customer_id is a ConflictError naming the customer', async () => {
    const row = await seed('deployed');
    const dup = store.add({ ...row, deploymentStatus: 'pending' });
    await expect(dup).rejects.toBeInstanceOf(ConflictError);
    await expect(dup).rejects.toThrow(`customer ${row.customerId} already exists`);
  });

  it('ping answers', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});

describe('claimForDeletion', () => {
  it.each<[DeploymentStatus, boolean, 'ok' | 'deploying' | 'deleting']>([
    ['pending', false, 'ok'],
    ['deployed', false, 'ok'],
    ['failed', false, 'ok'],
    ['deletion_failed', false, 'ok'],
    ['deploying', false, 'deploying'],
    ['deploying', true, 'ok'],
    ['pending', true, 'ok'],
  ])('from %s (force %s): %s', async (from, force, expected) => {
    const row = await seed(from);
    const r = await store.claimForDeletion(row.customerId, 'job-1', { force });
    if (expected === 'ok') {
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.before).toMatchObject({ deploymentStatus: from, deletionJobId: null, previousStatus: null });
      expect(r.after).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: 'job-1', previousStatus: from });
      expect(r.after.instanceNamespace).toBe(row.instanceNamespace);
      expect(await store.get(row.customerId)).toEqual(r.after);
    } else {
      expect(r).toEqual({ ok: false, reason: expected, row: await store.get(row.customerId) });
      expect((await store.get(row.customerId))?.deploymentStatus).toBe(from);
    }
  });

  it.each([false, true])('a row in deleting is refused (force %s) and names the job that holds it', async (force) => {
    const row = await seed('deployed');
    expect((await store.claimForDeletion(row.customerId, 'job-a', { force: false })).ok).toBe(true);
    const r = await store.claimForDeletion(row.customerId, 'job-b', { force });
    expect(r).toMatchObject({ ok: false, reason: 'deleting', row: { deletionJobId: 'job-a', deploymentStatus: 'deleting' } });
  });

  it('an unknown customer is not-found', async () => {
    expect(await store.claimForDeletion(`cust_${newKey()}`, 'job-1', { force: true })).toEqual({ ok: false, reason: 'not-found' });
  });

  it('expectJobId: the same job resumes a row it holds in deleting, keeping previous_status', async () => {
    const row = await seed('deployed');
    await store.claimForDeletion(row.customerId, 'job-a', { force: false });
    const r = await store.claimForDeletion(row.customerId, 'job-a', { force: false, expectJobId: 'job-a' });
    expect(r).toMatchObject({ ok: true, before: { deploymentStatus: 'deleting', deletionJobId: 'job-a' },
      after: { deploymentStatus: 'deleting', deletionJobId: 'job-a', previousStatus: 'deployed' } });
    const other = await store.claimForDeletion(row.customerId, 'job-b', { force: false, expectJobId: 'job-b' });
    expect(other).toMatchObject({ ok: false, reason: 'deleting' });
  });

  it('expectJobId: a retry of the same job from deletion_failed keeps the original previous_status', async () => {
    const row = await seed('deployed');
    await store.claimForDeletion(row.customerId, 'job-a', { force: false });
    expect(await store.failDeletion(row.customerId, 'job-a')).toBe(true);
    const r = await store.claimForDeletion(row.customerId, 'job-a', { force: false, expectJobId: 'job-a' });
    expect(r).toMatchObject({ ok: true, before: { deploymentStatus: 'deletion_failed' },
      after: { deploymentStatus: 'deleting', deletionJobId: 'job-a', previousStatus: 'deployed' } });
  });

  it('a new job claiming a deletion_failed row records deletion_failed as its previous status', async () => {
    const row = await seed('deployed');
    await store.claimForDeletion(row.customerId, 'job-a', { force: false });
    await store.failDeletion(row.customerId, 'job-a');
    const r = await store.claimForDeletion(row.customerId, 'job-b', { force: false });
    expect(r).toMatchObject({ ok: true, after: { deletionJobId: 'job-b', previousStatus: 'deletion_failed' } });
  });

  it('concurrent claims with different jobs: exactly one wins', async () => {
    const row = await seed('deployed');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      store.claimForDeletion(row.customerId, `job-${i}`, { force: false })));
    const won = results.filter((r) => r.ok);
    expect(won).toHaveLength(1);
    const winner = won[0]?.ok ? won[0].after.deletionJobId : undefined;
    for (const r of results.filter((x) => !x.ok)) expect(r).toMatchObject({ reason: 'deleting', row: { deletionJobId: winner } });
  });

  it('updates updated_at', async () => {
    const row = await seed('deployed');
    await db.query(`update customers set updated_at = '2001-01-01T00:00:00Z' where customer_id = $1`, [row.customerId]);
    const r = await store.claimForDeletion(row.customerId, 'job-1', { force: false });
    expect(r.ok && r.before.updatedAt).toBe('2001-01-01T00:00:00.000Z');
    expect(r.ok && r.after.updatedAt > '2001-01-01T00:00:00.000Z').toBe(true);
  });
});

describe('ownership compare-and-sets', () => {
  async function claimed(from: DeploymentStatus = 'deployed'): Promise<CustomerRow> {
    const row = await seed(from);
    const r = await store.claimForDeletion(row.customerId, 'owner', { force: false });
    if (!r.ok) throw new Error('claim failed');
    return r.after;
  }

  it('isOwnedBy is true only for the job holding a row in deleting', async () => {
    const row = await claimed();
    expect(await store.isOwnedBy(row.customerId, 'owner')).toBe(true);
    expect(await store.isOwnedBy(row.customerId, 'other')).toBe(false);
    expect(await store.isOwnedBy(`cust_${newKey()}`, 'owner')).toBe(false);
    await store.failDeletion(row.customerId, 'owner');
    expect(await store.isOwnedBy(row.customerId, 'owner')).toBe(false);
  });

  it.each(['completeDeletion', 'failDeletion', 'releaseDeletion'] as const)('%s by another job changes nothing', async (method) => {
    const row = await claimed();
    expect(await store[method](row.customerId, 'other')).toBe(false);
    expect(await store.get(row.customerId)).toEqual(row);
    expect(await store[method](`cust_${newKey()}`, 'owner')).toBe(false);
  });

  it('completeDeletion: pending, namespace and URL cleared, job id kept; only once', async () => {
    const row = await claimed();
    expect(await store.completeDeletion(row.customerId, 'owner')).toBe(true);
    expect(await store.get(row.customerId)).toMatchObject({
      deploymentStatus: 'pending', instanceNamespace: '', instanceUrl: '', deletionJobId: 'owner', previousStatus: 'deployed',
      email: row.email, companyName: row.companyName,
    });
    expect(await store.completeDeletion(row.customerId, 'owner')).toBe(false);
  });

  it('completeDeletion is refused once the row left deleting (a stale retry cannot reset a redeployed row)', async () => {
    const row = await claimed();
    await db.query(`update customers set deployment_status = 'deployed' where customer_id = $1`, [row.customerId]);
    expect(await store.completeDeletion(row.customerId, 'owner')).toBe(false);
    expect((await store.get(row.customerId))?.instanceNamespace).toBe(row.instanceNamespace);
  });

  it('failDeletion: deletion_failed, job id and previous status kept', async () => {
    const row = await claimed('failed');
    expect(await store.failDeletion(row.customerId, 'owner')).toBe(true);
    expect(await store.get(row.customerId)).toMatchObject({
      deploymentStatus: 'deletion_failed', deletionJobId: 'owner', previousStatus: 'failed', instanceNamespace: row.instanceNamespace,
    });
  });

  it.each<DeploymentStatus>(['deployed', 'pending', 'failed', 'deletion_failed'])('releaseDeletion restores %s and clears the job', async (from) => {
    const row = await claimed(from);
    expect(await store.releaseDeletion(row.customerId, 'owner')).toBe(true);
    expect(await store.get(row.customerId)).toMatchObject({ deploymentStatus: from, deletionJobId: null, previousStatus: null });
  });

  it('releaseDeletion with no recorded previous status falls back to deletion_failed', async () => {
    const row = await claimed();
    await db.query(`update customers set previous_status = null where customer_id = $1`, [row.customerId]);
    expect(await store.releaseDeletion(row.customerId, 'owner')).toBe(true);
    expect((await store.get(row.customerId))?.deploymentStatus).toBe('deletion_failed');
  });
});

describe('schema', () => {
  it('checkSchema on an empty database lists everything and creates nothing; migrate applies it once', async () => {
    await inFreshSchema(async () => {
      expect(await store.checkSchema()).toEqual([
        'table customers',
        'table custctl_audit',
        'table schema_migrations',
        // an optional migration (the cluster column) is never missing: custctl works without it
        ...MIGRATIONS.filter((m) => !m.optional).map((m) => `migration ${m.version} (${m.name})`),
      ]);
      const after = await db.query<{ c: string | null; m: string | null }>(
        `select to_regclass('customers')::text as c, to_regclass('schema_migrations')::text as m`);
      expect(after.rows[0]).toEqual({ c: null, m: null });
      await expect(store.get('cust_abc')).rejects.toThrow(OperationError);
      await expect(store.get('cust_abc')).rejects.toMatchObject({ details: [expect.stringContaining('custctl db migrate')] });

      expect(await store.migrate()).toEqual(ALL_MIGRATIONS);
      expect(await store.checkSchema()).toEqual([]);
      expect(await store.migrate()).toEqual([]);
      const recorded = await db.query<{ version: number }>('select version from schema_migrations order by version');
      expect(recorded.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    });
  });

  it('an older customers table (billing DDL without the deletion columns) gets only the missing columns', async () => {
    await inFreshSchema(async () => {
      await db.exec(`create table customers (
        id serial primary key, customer_id text unique not null, email text not null default '',
        company_name text not null default '', deployment_status text not null default 'pending',
        instance_namespace text not null default '', instance_url text not null default '',
        created_at timestamptz not null default now(), updated_at timestamptz not null default now());
        insert into customers (customer_id, deployment_status) values ('cust_old1', 'deployed');`);
      const missing = await store.checkSchema();
      expect(missing).toEqual(expect.arrayContaining(['column customers.deletion_job_id', 'column customers.previous_status']));
      expect(missing).not.toContain('table customers');
      const cols = await db.query(`select 1 from information_schema.columns where table_schema = current_schema()
        and table_name = 'customers' and column_name = 'deletion_job_id'`);
      expect(cols.rows).toHaveLength(0);

      expect(await store.migrate()).toEqual(ALL_MIGRATIONS);
      expect(await store.checkSchema()).toEqual([]);
      expect(await store.get('cust_old1')).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null, previousStatus: null });
      expect((await store.claimForDeletion('cust_old1', 'job-1', { force: false })).ok).toBe(true);
    });
  });

  it('a complete customers table made by someone else (no schema_migrations) passes the check once the audit table exists', async () => {
    await inFreshSchema(async () => {
      // the table as billing might create it today: every column (the customers migrations' DDL, no record of them)
      const audit = (m: { version: number }) => m.version === 3 || m.version === 5;
      for (const m of MIGRATIONS) if (!audit(m)) await db.exec(m.sql);
      expect(await store.checkSchema()).toEqual(expect.arrayContaining(['table custctl_audit', 'migration 3 (create custctl_audit)']));
      expect(await store.checkSchema()).not.toContain('table customers');
      expect(await store.checkSchema()).not.toEqual(expect.arrayContaining([expect.stringMatching(/^column customers\./)]));
      for (const m of MIGRATIONS) if (audit(m)) await db.exec(m.sql);
      expect(await store.checkSchema()).toEqual([]);
    });
  });

  it('a recorded schema with a migration missing lists that migration', async () => {
    await inFreshSchema(async () => {
      await store.migrate();
      await db.exec('delete from schema_migrations where version = 2');
      expect(await store.checkSchema()).toEqual(['migration 2 (add deletion columns)']);
      expect(await store.migrate()).toEqual(['2 add deletion columns']);
    });
  });
});

describe('the cluster column (CUSTCTL_CLUSTER_COLUMN)', () => {
  const BILLING_DDL = `create table customers (
    id serial primary key, customer_id text unique not null, email text not null default '',
    company_name text not null default '', deployment_status text not null default 'pending',
    instance_namespace text not null default '', instance_url text not null default '',
    deletion_job_id text, previous_status text, deletion_scheduled_at timestamptz, deleted_at timestamptz,
    created_at timestamptz not null default now(), updated_at timestamptz not null default now()`;

  it('migration 6 adds "cluster": a row names its cluster there; none reads as null, as does an empty value', async () => {
    const row = await seed('deployed');
    expect(row.cluster).toBeNull();
    await db.query(`update customers set cluster = 'eu-1' where customer_id = $1`, [row.customerId]);
    expect((await store.get(row.customerId))?.cluster).toBe('eu-1');
    expect((await store.list()).find((r) => r.customerId === row.customerId)?.cluster).toBe('eu-1');
    const claimed = await store.claimForDeletion(row.customerId, 'job-cluster', { force: false });
    expect(claimed.ok && [claimed.before.cluster, claimed.after.cluster]).toEqual(['eu-1', 'eu-1']);
    await db.query(`update customers set cluster = '' where customer_id = $1`, [row.customerId]);
    expect((await store.get(row.customerId))?.cluster).toBeNull();
  });

  it('a table without the column reads as before: rows carry no cluster at all', async () => {
    await inFreshSchema(async () => {
      await db.exec(`${BILLING_DDL}); insert into customers (customer_id, deployment_status) values ('cust_nocol1', 'deployed');`);
      const s = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)' });
      const row = await s.get('cust_nocol1');
      expect(row).toMatchObject({ customerId: 'cust_nocol1', deploymentStatus: 'deployed' });
      expect(row && 'cluster' in row).toBe(false);
      expect((await s.list()).map((r) => 'cluster' in r)).toEqual([false]);
      expect((await s.claimForDeletion('cust_nocol1', 'job-1', { force: false })).ok).toBe(true);
    });
  });

  it('a column the billing system already has, under its own name and type, is read as text and left as it is by migrate', async () => {
    await inFreshSchema(async () => {
      await db.exec(`${BILLING_DDL}, "Region" character varying(20)); insert into customers (customer_id, deployment_status, "Region") values ('cust_region1', 'deployed', 'us-2');`);
      const s = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)', clusterColumn: 'Region' });
      expect((await s.get('cust_region1'))?.cluster).toBe('us-2');
      expect(await s.migrate()).toContain('6 add cluster column');
      const cols = await db.query<{ attname: string; t: string }>(
        `select attname::text as attname, format_type(atttypid, atttypmod) as t from pg_attribute where attrelid = 'customers'::regclass and attnum > 0 and not attisdropped and attname in ('cluster', 'Region')`);
      expect(cols.rows).toEqual([{ attname: 'Region', t: 'character varying(20)' }]);
      expect((await s.get('cust_region1'))?.cluster).toBe('us-2');
    });
  });

  it('migrate adds the configured column when the table lacks it (nullable text), not "cluster"', async () => {
    await inFreshSchema(async () => {
      const s = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)', clusterColumn: 'k8s_cluster' });
      await s.migrate();
      const cols = await db.query<{ attname: string; t: string; notnull: boolean }>(
        `select attname::text as attname, format_type(atttypid, atttypmod) as t, attnotnull as notnull from pg_attribute where attrelid = 'customers'::regclass and attnum > 0 and not attisdropped and attname in ('cluster', 'k8s_cluster')`);
      expect(cols.rows).toEqual([{ attname: 'k8s_cluster', t: 'text', notnull: false }]);
      const row = await s.add({ customerId: 'cust_k8s1', email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: '', instanceUrl: '' });
      expect(row.cluster).toBeNull();
    });
  });

  it('migration 6 is optional: a schema without it is up to date, and migrate applies it (rows then carry the cluster)', async () => {
    await inFreshSchema(async () => {
      const s = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)' });
      await s.migrate();
      await db.exec(`delete from schema_migrations where version = 6; alter table customers drop column cluster;
        insert into customers (customer_id, deployment_status) values ('cust_opt1', 'deployed');`);
      const fresh = new SqlCustomerStore(pgliteDriver(db), { kind: 'embedded', description: 'embedded (memory)' });
      expect(await fresh.checkSchema()).toEqual([]);
      await expect(fresh.get('cust_opt1')).resolves.not.toHaveProperty('cluster');
      expect(await fresh.migrate()).toEqual(['6 add cluster column']);
      expect(await fresh.get('cust_opt1')).toHaveProperty('cluster', null);
    });
  });
});
