import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPgStore } from '../../src/adapters/store-pg.js';
import type { CustomerRow, CustomerStore } from '../../src/adapters/store.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { OperationError, UsageError } from '../../src/errors.js';
import { ensureCustomersTable, withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(8).toString('hex');

/** The test database URL pointing at another database of the same server. */
function urlFor(database: string, password?: string): string {
  const u = new URL(databaseUrl);
  u.pathname = `/${database}`;
  if (password !== undefined) u.password = password;
  return u.toString();
}

const admin = withAdminClient;

const scratchDbs: string[] = [];
async function scratchDatabase(): Promise<string> {
  const name = `custctl_store_${newKey()}`;
  await admin((c) => c.query(`create database ${name}`));
  scratchDbs.push(name);
  return name;
}

async function tablesIn(database: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: urlFor(database) });
  await c.connect();
  try {
    const r = await c.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by table_name`);
    return r.rows.map((x) => x.table_name);
  } finally {
    await c.end();
  }
}

let store: CustomerStore;

beforeAll(async () => {
  // other test files create the table with the fixture's DDL; the migrations run on top of it
  await ensureCustomersTable();
  const s = await openPgStore({ connectionString: databaseUrl, env: {}, skipSchemaCheck: true });
  await s.migrate();
  await s.close();
  store = await openPgStore({ connectionString: databaseUrl, env: {} });
});

afterAll(async () => {
  await store?.close();
  for (const name of scratchDbs) await admin((c) => c.query(`drop database if exists ${name} with (force)`)).catch(() => undefined);
});

async function seed(): Promise<CustomerRow> {
  const key = newKey();
  return store.add({
    customerId: `cust_${key}`, email: `${key}@example.test`, companyName: `Company ${key}`, deploymentStatus: 'deployed',
    instanceNamespace: `customer-${key}`, instanceUrl: `https://${key}.example.test`,
  });
}

describe('PostgreSQL store', () => {
  it('is migrated on the shared database and checks clean', async () => {
    expect(store.kind).toBe('postgres');
    expect(await store.checkSchema()).toEqual([]);
    expect(await store.migrate()).toEqual([]);
  });

  it('20 concurrent claims with different jobs, each over its own pool: exactly one wins', async () => {
    const row = await seed();
    const stores = await Promise.all(Array.from({ length: 20 }, () => openPgStore({ connectionString: databaseUrl, env: {} })));
    try {
      const results = await Promise.all(stores.map((s, i) => s.claimForDeletion(row.customerId, `job-${i}`, { force: false })));
      const won = results.filter((r) => r.ok);
      expect(won).toHaveLength(1);
      const winner = won[0]?.ok ? won[0].after.deletionJobId : undefined;
      expect(won[0]).toMatchObject({ before: { deploymentStatus: 'deployed' }, after: { deploymentStatus: 'deleting', previousStatus: 'deployed' } });
      const lost = results.filter((r) => !r.ok);
      expect(lost).toHaveLength(19);
      for (const r of lost) expect(r).toMatchObject({ ok: false, reason: 'deleting', row: { deletionJobId: winner } });

      // and step 4 is a compare-and-set on the same ownership: only the winner completes
      const done = await Promise.all(stores.map((s, i) => s.completeDeletion(row.customerId, `job-${i}`)));
      expect(done.filter(Boolean)).toHaveLength(1);
      expect(done[Number(winner?.slice(4))]).toBe(true);
      expect(await store.get(row.customerId)).toMatchObject({ deploymentStatus: 'pending', instanceNamespace: '', instanceUrl: '', deletionJobId: winner });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('claim, fail, retry by the same job, release: the compare-and-sets hold on a real server', async () => {
    const row = await seed();
    expect((await store.claimForDeletion(row.customerId, 'job-a', { force: false })).ok).toBe(true);
    expect(await store.failDeletion(row.customerId, 'job-b')).toBe(false);
    expect(await store.failDeletion(row.customerId, 'job-a')).toBe(true);
    const retry = await store.claimForDeletion(row.customerId, 'job-a', { force: false, expectJobId: 'job-a' });
    expect(retry).toMatchObject({ ok: true, after: { deploymentStatus: 'deleting', previousStatus: 'deployed' } });
    expect(await store.releaseDeletion(row.customerId, 'job-a')).toBe(true);
    expect(await store.get(row.customerId)).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
    await expect(store.add({ ...row })).rejects.toThrow(`customer ${row.customerId} already exists`);
  });

  it('checkSchema is read-only; opening an empty database refuses and says to migrate; db migrate fixes it', async () => {
    const name = await scratchDatabase();
    const url = urlFor(name);
    const refused = await openPgStore({ connectionString: url, env: {} }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(UsageError);
    expect((refused as Error).message).toContain('table customers');
    expect((refused as Error).message).toContain("run 'custctl db migrate'");
    expect(await tablesIn(name)).toEqual([]);

    const raw = await openPgStore({ connectionString: url, env: {}, skipSchemaCheck: true });
    try {
      expect(await raw.checkSchema()).toContain('table customers');
      expect(await tablesIn(name)).toEqual([]);
    } finally {
      await raw.close();
    }

    // several `db migrate` at once: the advisory lock lets each migration run exactly once
    const migrators = await Promise.all(Array.from({ length: 4 }, () => openPgStore({ connectionString: url, env: {}, skipSchemaCheck: true })));
    try {
      const applied = (await Promise.all(migrators.map((m) => m.migrate()))).flat().sort();
      expect(applied).toEqual(MIGRATIONS.map((m) => `${m.version} ${m.name}`).sort());
    } finally {
      await Promise.all(migrators.map((m) => m.close()));
    }
    expect(await tablesIn(name)).toEqual(['custctl_audit', 'custctl_audit_head', 'custctl_audit_prune_ticket', 'customers', 'schema_migrations']);
    const ok = await openPgStore({ connectionString: url, env: {} });
    await ok.close();
  });

  it('an old billing table without the deletion columns: refused, then migrated in place', async () => {
    const name = await scratchDatabase();
    const url = urlFor(name);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(`create table customers (
        id serial primary key, customer_id text unique not null, email text not null default '',
        company_name text not null default '', deployment_status text not null default 'pending',
        instance_namespace text not null default '', instance_url text not null default '',
        created_at timestamptz not null default now(), updated_at timestamptz not null default now())`);
      await c.query(`insert into customers (customer_id, deployment_status, instance_namespace) values ('cust_billing1', 'deployed', 'customer-billing1')`);
    } finally {
      await c.end();
    }
    await expect(openPgStore({ connectionString: url, env: {} })).rejects.toThrow(/column customers\.deletion_job_id.*column customers\.previous_status/);
    const m = await openPgStore({ connectionString: url, env: {}, skipSchemaCheck: true });
    try {
      expect(await m.migrate()).toEqual(MIGRATIONS.map((x) => `${x.version} ${x.name}`));
      expect(await m.checkSchema()).toEqual([]);
      expect(await m.get('cust_billing1')).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
    } finally {
      await m.close();
    }
  });

  it('description never shows the password; DATABASE_URL from env works the same', async () => {
    const url = urlFor(new URL(databaseUrl).pathname.slice(1), 's3cret-pw');
    const s = await openPgStore({ env: { DATABASE_URL: url } });
    try {
      const u = new URL(databaseUrl);
      expect(s.description).toBe(`postgres://${u.username}@${u.hostname}:${u.port}${u.pathname}`);
      expect(s.description).not.toContain('s3cret');
    } finally {
      await s.close();
    }
  });

  it('PG* variables alone are enough', async () => {
    const u = new URL(databaseUrl);
    const s = await openPgStore({ env: { PGHOST: u.hostname, PGPORT: u.port, PGUSER: u.username, PGDATABASE: u.pathname.slice(1) } });
    try {
      expect(s.description).toBe(`postgres://${u.username}@${u.hostname}:${u.port}${u.pathname}`);
      await s.ping();
    } finally {
      await s.close();
    }
  });

  it('an unreachable server is an OperationError naming host:port and the variable, without the password', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const err = await openPgStore({ env: { DATABASE_URL: `postgres://someone:hunter2@127.0.0.1:${port}/nothing` } })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    const text = [(err as OperationError).message, ...(err as OperationError).details].join('\n');
    expect(text).toContain(`127.0.0.1:${port}`);
    expect(text).toContain('DATABASE_URL');
    expect(text).not.toContain('hunter2');
  });
});
