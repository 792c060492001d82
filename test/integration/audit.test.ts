/**
 * The audit log (issue 14) on both stores custctl runs on: a real PostgreSQL and PGlite.
 * - append-only by the database: UPDATE, DELETE and TRUNCATE refused by the trigger;
 * - retention only through custctl_audit_prune(), which records the prune;
 * - a row change and its audit row are one transaction: a failure (PGlite, PostgreSQL) or the
 *   connection dying (PostgreSQL: the backend terminated) between them leaves neither;
 * - end to end with the built binary: the actions of a deletion, a cancel, `audit list|prune`,
 *   and a real deletion on the real cluster records what it deleted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPgStore } from '../../src/adapters/store-pg.js';
import { pgliteDriver } from '../../src/adapters/store-pglite.js';
import { SqlCustomerStore } from '../../src/adapters/store-sql.js';
import type { AuditRecord, CustomerStore } from '../../src/adapters/store.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, ensureCustomersTable, openCostName, provisionCustomer, randomKey, withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(6).toString('hex');

interface Backend {
  name: string;
  store: CustomerStore;
  /** raw SQL on the same database, outside the store */
  sql(text: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
}

const backends: Backend[] = [];
let pgScratch: string | undefined;

const admin = withAdminClient;

beforeAll(async () => {
  // PostgreSQL: a database of its own, migrated by custctl
  pgScratch = `custctl_audit_${newKey()}`;
  await admin((c) => c.query(`create database ${pgScratch}`));
  const u = new URL(databaseUrl);
  u.pathname = `/${pgScratch}`;
  const pgUrl = u.toString();
  const m = await openPgStore({ connectionString: pgUrl, env: {}, skipSchemaCheck: true });
  await m.migrate();
  await m.close();
  const pgStore = await openPgStore({ connectionString: pgUrl, env: {} });
  const pool = new pg.Pool({ connectionString: pgUrl, max: 2 });
  pool.on('error', () => undefined);
  afterAll(() => pool.end());
  backends.push({ name: 'PostgreSQL', store: pgStore, sql: async (t, p) => (await pool.query(t, p)).rows });

  // PGlite: in memory, the same SQL
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = new PGlite();
  await lite.waitReady;
  const liteStore = new SqlCustomerStore(pgliteDriver(lite), { kind: 'embedded', description: 'embedded (memory)' });
  await liteStore.migrate();
  backends.push({ name: 'PGlite', store: liteStore, sql: async (t, p) => (await lite.query<Record<string, unknown>>(t, p)).rows });
}, 120_000);

afterAll(async () => {
  for (const b of backends) await b.store.close().catch(() => undefined);
  if (pgScratch) await admin((c) => c.query(`drop database if exists ${pgScratch} with (force)`)).catch(() => undefined);
});

const each = (title: string, fn: (b: Backend) => Promise<void>) =>
  it.each(['PostgreSQL', 'PGlite'])(`${title} (%s)`, async (name) => {
    const b = backends.find((x) => x.name === name);
    if (!b) throw new Error(`backend ${name} not opened`);
    await fn(b);
  });

async function seed(b: Backend, status = 'deployed'): Promise<string> {
  const key = newKey();
  const id = `cust_${key}`;
  await b.store.add({ customerId: id, email: `${key}@x.test`, companyName: 'Co', deploymentStatus: status as 'deployed', instanceNamespace: `customer-${key}`, instanceUrl: 'https://x' },
    { action: 'customer-added', actor: 'tester@host (cli)', customerId: id, outcome: 'added' });
  return id;
}

const rowsOf = (b: Backend, customerId: string) => b.store.listAudit({ customerId });

describe('append-only, enforced by the database', () => {
  each('UPDATE, DELETE and TRUNCATE of audit rows are refused by the trigger', async (b) => {
    const id = await seed(b);
    const before = await rowsOf(b, id);
    expect(before.map((r) => r.action)).toEqual(['customer-added']);
    await expect(b.sql(`update custctl_audit set actor = 'someone else' where customer_id = $1`, [id])).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(b.sql(`delete from custctl_audit where customer_id = $1`, [id])).rejects.toThrow(/append-only: DELETE refused/);
    await expect(b.sql(`truncate custctl_audit`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    expect(await rowsOf(b, id)).toEqual(before);
  });

  each('a prune goes only through custctl_audit_prune(), which records itself', async (b) => {
    const id = await seed(b);
    // an old row: inserted with an explicit time (INSERT is allowed; that is what append-only means)
    await b.sql(`insert into custctl_audit (at, actor, action, customer_id) values (now() - interval '400 days', 'old', 'deletion-started', $1)`, [id]);
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['deletion-started', 'customer-added']);
    await expect(b.sql(`delete from custctl_audit where at < now() - interval '365 days'`)).rejects.toThrow(/append-only/);

    const pruned = await b.store.pruneAudit(new Date(Date.now() - 365 * 86_400_000), 'tester@host (cli)');
    expect(pruned).toBeGreaterThanOrEqual(1);
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['customer-added']); // the recent row stays
    const [prune] = await b.store.listAudit({ actions: ['audit-pruned'], limit: 1 });
    expect(prune).toMatchObject({ action: 'audit-pruned', actor: 'tester@host (cli)', outcome: 'pruned', deleted: { auditRows: pruned } });
    expect(prune?.reason).toMatch(/^rows recorded before \d{4}-\d\d-\d\dT/);
    // the permission lasted for the function's transaction only
    await expect(b.sql(`delete from custctl_audit where customer_id = $1`, [id])).rejects.toThrow(/append-only/);
  });
});

describe('a row change and its audit row are one transaction', () => {
  each('every row change records one row with the new status; a compare-and-set that loses records none', async (b) => {
    const id = await seed(b);
    const who = 'tester@host (cli)';
    const claim = await b.store.claimForDeletion(id, '41', { force: false, audit: { action: 'deletion-accepted', actor: who, customerId: id, jobId: '41' } });
    expect(claim.ok).toBe(true);
    expect(await b.store.completeDeletion(id, '99', { action: 'deletion-completed', actor: who, customerId: id, jobId: '99' })).toBe(false);
    expect(await b.store.completeDeletion(id, '41', {
      action: 'deletion-completed', actor: who, customerId: id, jobId: '41', outcome: 'deleted',
      deleted: { releases: ['customer-x'], objects: { Deployment: 1, Service: 2 }, rbac: ['ClusterRole/cx-customer-instance'] },
    })).toBe(true);
    const rows = await rowsOf(b, id);
    expect(rows.map((r) => [r.action, r.jobId, r.rowStatus])).toEqual([
      ['deletion-completed', '41', 'pending'],
      ['deletion-accepted', '41', 'deleting'],
      ['customer-added', null, 'deployed'],
    ]);
    expect(rows[0]?.deleted).toEqual({ releases: ['customer-x'], objects: { Deployment: 1, Service: 2 }, rbac: ['ClusterRole/cx-customer-instance'] });
  });

  each('an audit insert that fails rolls the row change back (and a failed row change writes no audit row)', async (b) => {
    const id = await seed(b);
    // a second trigger, for this customer only, makes the audit insert fail after the row's UPDATE ran
    await b.sql(`create or replace function test_audit_fail() returns trigger language plpgsql as $$
      begin if new.customer_id = '${id}' and new.action = 'deletion-accepted' then raise exception 'audit insert failed (test)'; end if; return new; end $$`);
    await b.sql(`create trigger test_audit_fail_${id} before insert on custctl_audit for each row execute function test_audit_fail()`);
    try {
      await expect(b.store.claimForDeletion(id, '7', { force: false, audit: { action: 'deletion-accepted', actor: 't', customerId: id, jobId: '7' } }))
        .rejects.toThrow(/audit insert failed/);
      expect(await b.store.get(id)).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
      expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['customer-added']);
    } finally {
      await b.sql(`drop trigger test_audit_fail_${id} on custctl_audit`);
    }
    // the other way round: a row insert refused (duplicate) leaves no audit row
    await expect(b.store.add({ customerId: id, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: '', instanceUrl: '' },
      { action: 'customer-added', actor: 't', customerId: id })).rejects.toThrow(/already exists/);
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['customer-added']);
  });

  it('PostgreSQL: the connection dying after both statements ran, before COMMIT, leaves neither', async () => {
    const b = backends.find((x) => x.name === 'PostgreSQL') as Backend;
    const id = await seed(b);
    // the backend terminates itself while inserting the audit row: the row's UPDATE already ran in
    // the same transaction; nothing is committed
    await b.sql(`create or replace function test_audit_crash() returns trigger language plpgsql as $$
      begin if new.customer_id = '${id}' and new.action = 'deletion-accepted' then perform pg_terminate_backend(pg_backend_pid()); end if; return new; end $$`);
    await b.sql(`create trigger test_audit_crash_${id} after insert on custctl_audit for each row execute function test_audit_crash()`);
    try {
      const err = await b.store.claimForDeletion(id, '8', { force: false, audit: { action: 'deletion-accepted', actor: 't', customerId: id, jobId: '8' } })
        .then(() => null, (e: unknown) => e as Error);
      expect(err?.message).toMatch(/terminat/i);
    } finally {
      await b.sql(`drop trigger test_audit_crash_${id} on custctl_audit`);
    }
    expect(await b.store.get(id)).toMatchObject({ deploymentStatus: 'deployed', deletionJobId: null });
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['customer-added']);
    // and the store carries on (a fresh connection from the pool)
    expect((await b.store.claimForDeletion(id, '9', { force: false, audit: { action: 'deletion-accepted', actor: 't', customerId: id, jobId: '9' } })).ok).toBe(true);
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['deletion-accepted', 'customer-added']);
  });
});

describe('the built binary', () => {
  const actions = (rows: AuditRecord[], customerId: string) => rows.filter((r) => r.customerId === customerId).map((r) => r.action).reverse();

  it('a simulated deletion, a cancel, audit list filters and audit prune, on PostgreSQL', async () => {
    await ensureCustomersTable(); // the shared test database, migrated by custctl
    const state = tempStateDir();
    const env = { CUSTCTL_STATE_DIR: state, SIMULATE_K8S_DEPLOYMENT: 'true', USER: 'alice' };
    const a = `cust_${randomKey('aud')}`;
    const c = `cust_${randomKey('aud')}`;
    for (const id of [a, c]) {
      const r = await custctl(['customers', 'add', id, '--email', 'x@x.test', '--company', 'X', '--status', 'deployed'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
    }
    expect((await custctl(['delete', a, '--yes'], { env })).exitCode).toBe(0);
    const detached = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c, '--yes', '--detach'], { env });
    const jobId = detached.json.results[0]?.jobId ?? '';
    expect((await custctl(['jobs', 'cancel', jobId], { env })).exitCode).toBe(0);

    const { json: all } = await custctlJson<AuditRecord[]>(['audit', 'list', '--since', '1h'], { env });
    expect(actions(all, a)).toEqual(['customer-added', 'deletion-accepted', 'deletion-started', 'deletion-completed']);
    expect(actions(all, c)).toEqual(['customer-added', 'deletion-accepted', 'deletion-cancelled']); // one row per cancel, with the row's change
    const completed = all.find((r) => r.customerId === a && r.action === 'deletion-completed');
    expect(completed).toMatchObject({ outcome: 'simulated', rowStatus: 'pending', namespace: `customer-${a.slice(5)}` });
    expect(completed?.actor).toMatch(/^alice@.+ \(cli\)$/);
    expect(all.find((r) => r.customerId === c && r.action === 'deletion-cancelled')?.rowStatus).toBe('deployed');

    const { json: one } = await custctlJson<AuditRecord[]>(['audit', 'list', '--customer', a, '--action', 'deletion-accepted,deletion-completed'], { env });
    expect(one.map((r) => r.action)).toEqual(['deletion-completed', 'deletion-accepted']);
    const table = await custctl(['audit', 'list', '--customer', a], { env });
    expect(table.stdout).toMatch(/deletion-completed\s+cust_\w+\s+\d+\s+simulated\s+pending\s+alice@/);
    const yaml = await custctl(['audit', 'list', '--customer', a, '-o', 'yaml'], { env });
    expect(yaml.stdout).toContain('action: deletion-accepted');

    // refusals: without --yes, a date in the future, a bad action, a bad --since
    expect((await custctl(['audit', 'prune', '--before', '400d'], { env })).exitCode).toBe(2);
    expect((await custctl(['audit', 'prune', '--before', '2999-01-01', '--yes'], { env })).exitCode).toBe(2);
    expect((await custctl(['audit', 'list', '--action', 'nonsense'], { env })).exitCode).toBe(2);
    expect((await custctl(['audit', 'list', '--since', 'yesterday'], { env })).exitCode).toBe(2);
    const pruned = await custctlJson<{ pruned: number }>(['audit', 'prune', '--before', '3650d', '--yes'], { env });
    expect(pruned.result.exitCode, pruned.result.stderr).toBe(0);
    const { json: prunes } = await custctlJson<AuditRecord[]>(['audit', 'list', '--action', 'audit-pruned', '--limit', '1'], { env });
    expect(prunes[0]).toMatchObject({ action: 'audit-pruned', deleted: { auditRows: pruned.json.pruned } });
    expect(prunes[0]?.actor).toMatch(/^alice@/);
    // a direct DELETE by the same database user is still refused
    await expect(db().query(`delete from custctl_audit where customer_id = $1`, [a])).rejects.toThrow(/append-only/);
  }, 180_000);

  it('a real deletion on the real cluster records the releases, objects by kind and RBAC it deleted', async () => {
    const key = randomKey('aud');
    // the OpenCost RBAC outside the release: step 3 deletes it (not helm)
    const c = await provisionCustomer(key, { rbacOutsideRelease: true });
    const state = mkdtempSync(path.join(tmpdir(), 'custctl-audit-'));
    const r = await custctl(['delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(r.exitCode, r.stderr).toBe(0);
    const { json } = await custctlJson<AuditRecord[]>(['audit', 'list', '--customer', c.customerId, '--action', 'deletion-completed'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(json).toHaveLength(1);
    const row = json[0] as AuditRecord;
    expect(row).toMatchObject({ outcome: 'deleted', rowStatus: 'pending', namespace: c.namespace });
    expect(row.deleted?.releases).toEqual([c.release]);
    expect(row.deleted?.objects).toMatchObject({ Deployment: 1, PersistentVolumeClaim: 1 });
    expect((row.deleted?.rbac ?? []).sort()).toEqual([`ClusterRole/${openCostName(key)}`, `ClusterRoleBinding/${openCostName(key)}`]);
  }, 180_000);
});
