/**
 * The audit log on both stores custctl runs on: a real PostgreSQL and PGlite.
 * - append-only by the database: UPDATE, DELETE and TRUNCATE refused by the trigger;
 * - retention only through custctl_audit_prune(), which records the prune, keeps a 30-day floor
 *   in SQL (a future `before` refused even with allow_recent) and leaves a chained checkpoint;
 * - the hash chain: computed by the database, checked by custctl (audit verify), which finds an
 *   UPDATE made with the trigger disabled, a row deleted from the middle or the end, a row
 *   inserted past the chain; the same canonical form on PostgreSQL and PGlite; linear under
 *   concurrent writers;
 * - the actor is the OS account of the uid, whatever $USER says; no control characters stored;
 * - a row change and its audit row are one transaction: a failure (PGlite, PostgreSQL) or the
 *   connection dying (PostgreSQL: the backend terminated) between them leaves neither;
 * - end to end with the built binary: the actions of a deletion, a cancel, `audit list|prune`,
 *   and a real deletion on the real cluster records what it deleted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openPgStore } from '../../src/adapters/store-pg.js';
import { pgliteDriver } from '../../src/adapters/store-pglite.js';
import { SqlCustomerStore } from '../../src/adapters/store-sql.js';
import type { AuditRecord, CustomerStore } from '../../src/adapters/store.js';
import { MIGRATIONS } from '../../src/db/migrations.js';
import { auditRowHash, canonicalAuditRow, type AuditVerifyReport } from '../../src/domain/audit-chain.js';
import { UsageError } from '../../src/errors.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, ensureCustomersTable, openCostName, provisionCustomer, randomKey, withAdminClient } from '../support/fixtures.js';

const databaseUrl = inject('databaseUrl');
const newKey = (): string => randomBytes(6).toString('hex');

interface Backend {
  name: string;
  store: CustomerStore;
  /** the database session user (recorded in every row) */
  dbUser: string;
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
  backends.push({ name: 'PostgreSQL', store: pgStore, dbUser: u.username, sql: async (t, p) => (await pool.query(t, p)).rows });

  // PGlite: in memory, the same SQL
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = new PGlite();
  await lite.waitReady;
  const liteStore = new SqlCustomerStore(pgliteDriver(lite), { kind: 'embedded', description: 'embedded (memory)' });
  await liteStore.migrate();
  backends.push({ name: 'PGlite', store: liteStore, dbUser: 'postgres', sql: async (t, p) => (await lite.query<Record<string, unknown>>(t, p)).rows });
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const verify = (b: Backend, opts: { anchor?: { seq: string; hash: string } } = {}): Promise<AuditVerifyReport> => {
  if (!b.store.verifyAudit) throw new Error('no verifyAudit');
  return b.store.verifyAudit(opts);
};

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
    const old = await seed(b);
    await b.sql(`insert into custctl_audit (actor, action, customer_id) values ('old', 'deletion-started', $1)`, [old]);
    // the time of a row is the database's, when the row was chained: an explicit one is not kept
    await b.sql(`insert into custctl_audit (at, actor, action, customer_id) values (now() - interval '400 days', 'backdated', 'deletion-started', $1)`, [old]);
    const backdated = (await rowsOf(b, old))[0];
    expect(backdated?.actor).toBe('backdated');
    expect(Math.abs(Date.now() - Date.parse(backdated?.at ?? ''))).toBeLessThan(60_000);
    await sleep(50);
    const cut = new Date((await b.sql(`select now() as t`))[0]?.t as Date);
    await sleep(50);
    const young = await seed(b);
    await expect(b.sql(`delete from custctl_audit where customer_id = $1`, [old])).rejects.toThrow(/append-only/);
    // a session setting does not open the door (it did when the trigger trusted one)
    await expect(b.sql(`do $$ begin perform set_config('custctl.audit_prune', 'on', true); delete from custctl_audit where customer_id = '${old}'; end $$`))
      .rejects.toThrow(/append-only/);

    const pruned = await b.store.pruneAudit(cut, 'tester@host (cli)', { allowRecent: true });
    expect(pruned).toBeGreaterThanOrEqual(3);
    expect(await rowsOf(b, old)).toEqual([]);
    expect((await rowsOf(b, young)).map((r) => r.action)).toEqual(['customer-added']); // the younger row stays
    const [prune] = await b.store.listAudit({ actions: ['audit-pruned'], limit: 1 });
    expect(prune).toMatchObject({ action: 'audit-pruned', actor: 'tester@host (cli)', outcome: 'pruned', deleted: { auditRows: pruned } });
    expect(prune?.reason).toMatch(/^rows recorded before \d{4}-\d\d-\d\dT.* \(younger than 30 days: allow_recent\)$/);
    // the database session user is recorded beside the label custctl passed
    expect(prune?.dbUser).toBe(b.dbUser);
    // the permission lasted for the function's transaction only
    await expect(b.sql(`delete from custctl_audit where customer_id = $1`, [young])).rejects.toThrow(/append-only/);
    // and the pruned log still verifies, through the checkpoint
    const report = await verify(b);
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.prunedThrough?.checkpointSeq).toBe(String(prune?.seq));
  });

  each('the prune floor is kept by the SQL function itself: a future before always, a recent one without allow_recent', async (b) => {
    const id = await seed(b);
    const before = await b.sql(`select count(*)::int as n from custctl_audit`);
    await expect(b.sql(`select custctl_audit_prune(now() + interval '1 day', 'x')`)).rejects.toThrow(/in the future: refused/);
    await expect(b.sql(`select custctl_audit_prune(now() + interval '1 day', 'x', true)`)).rejects.toThrow(/in the future: refused/);
    await expect(b.sql(`select custctl_audit_prune(now() - interval '29 days', 'x')`)).rejects.toThrow(/less than 30 days ago: refused/);
    await expect(b.sql(`select custctl_audit_prune(now() - interval '1 hour', 'x', false)`)).rejects.toThrow(/less than 30 days ago: refused/);
    await expect(b.sql(`select custctl_audit_prune(null, 'x', true)`)).rejects.toThrow(/before must be a time/);
    // the store says it as a usage error
    await expect(b.store.pruneAudit(new Date(Date.now() - 86_400_000), 'x')).rejects.toThrow(UsageError);
    // nothing went, nothing was recorded
    expect(await b.sql(`select count(*)::int as n from custctl_audit`)).toEqual(before);
    expect((await rowsOf(b, id)).map((r) => r.action)).toEqual(['customer-added']);
    // old enough: allowed without the flag (nothing that old here, and the prune is recorded)
    expect(await b.store.pruneAudit(new Date(Date.now() - 31 * 86_400_000), 'x')).toBe(0);
  });

  each('an audit-pruned row can only come from the function', async (b) => {
    await expect(b.sql(`insert into custctl_audit (actor, action, deleted) values ('x', 'audit-pruned', '{"auditRows": 5, "lastSeq": 1}')`))
      .rejects.toThrow(/written only by custctl_audit_prune/);
    await expect(b.sql(`update custctl_audit_head set seq = seq - 1`)).rejects.toThrow(/moved only by the audit chain/);
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

// ---- the hash chain -------------------------------------------------------------------------

/** A database of its own for a test that breaks the chain on purpose: PostgreSQL (a new database) or PGlite (in memory). */
interface Fresh extends Backend {
  url?: string;
  /** several statements at once (DDL) */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

async function fresh(name: string, opts: { upTo?: number } = {}): Promise<Fresh> {
  const migrations = MIGRATIONS.filter((m) => m.version <= (opts.upTo ?? Infinity));
  if (name === 'PostgreSQL') {
    const dbName = `custctl_chain_${newKey()}`;
    await admin((c) => c.query(`create database ${dbName}`));
    const u = new URL(databaseUrl);
    u.pathname = `/${dbName}`;
    const url = u.toString();
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    pool.on('error', () => undefined);
    for (const m of migrations) await pool.query(m.sql);
    const store = await openPgStore({ connectionString: url, env: {}, skipSchemaCheck: true });
    return {
      name, store, url, dbUser: u.username, sql: async (t, p) => (await pool.query(t, p)).rows, exec: async (t) => void (await pool.query(t)),
      close: async () => {
        await store.close();
        await pool.end();
        await admin((c) => c.query(`drop database if exists ${dbName} with (force)`)).catch(() => undefined);
      },
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const lite = new PGlite();
  await lite.waitReady;
  for (const m of migrations) await lite.exec(m.sql);
  const store = new SqlCustomerStore(pgliteDriver(lite), { kind: 'embedded', description: 'embedded (memory)' });
  return {
    name, store, dbUser: 'postgres', sql: async (t, p) => (await lite.query<Record<string, unknown>>(t, p)).rows, exec: async (t) => void (await lite.exec(t)),
    close: () => store.close(),
  };
}

const eachFresh = (title: string, fn: (b: Fresh) => Promise<void>, opts: { upTo?: number } = {}) =>
  it.each(['PostgreSQL', 'PGlite'])(`${title} (%s)`, async (name) => {
    const b = await fresh(name, opts);
    try {
      await fn(b);
    } finally {
      await b.close();
    }
  });

/** A change made by someone who owns the table: the append-only trigger switched off around it. */
async function asOwner(b: Backend, statement: string, trigger = 'custctl_audit_append_only'): Promise<void> {
  await b.sql(`alter table custctl_audit disable trigger ${trigger}`);
  try {
    await b.sql(statement);
  } finally {
    await b.sql(`alter table custctl_audit enable trigger ${trigger}`);
  }
}

async function rows(b: Backend, n: number, prefix = 'r'): Promise<void> {
  for (let i = 0; i < n; i++) {
    await b.store.appendAudit({ action: 'deletion-started', actor: `${prefix}${i}@host (cli)`, customerId: `cust_${prefix}${i}`, jobId: String(i), outcome: 'running', reason: `attempt ${i}` });
  }
}

/** What `audit verify` reads, straight from SQL, beside the database's own canonical form. */
async function storedChain(b: Backend): Promise<Array<{ sqlCanonical: string; sqlHash: string; hash: string; ts: Parameters<typeof canonicalAuditRow>[0] }>> {
  const r = await b.sql(`select custctl_audit_canonical(a) as canonical, custctl_audit_hash(a) as sql_hash, a.hash,
      a.id::text as id, a.seq::text as seq, a.prev_hash, to_char(a.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
      a.actor, a.actor_label, a.db_user, a.action, a.customer_id, a.namespace, a.job_id, a.outcome, a.row_status, a.deleted::text as deleted, a.reason
    from custctl_audit a order by a.seq`);
  return r.map((x) => ({
    sqlCanonical: x.canonical as string, sqlHash: x.sql_hash as string, hash: x.hash as string,
    ts: {
      id: x.id as string, seq: x.seq as string, prevHash: x.prev_hash as string, hash: x.hash as string, at: x.at as string,
      actor: x.actor as string | null, actorLabel: x.actor_label as string | null, dbUser: x.db_user as string | null, action: x.action as string | null,
      customerId: x.customer_id as string | null, namespace: x.namespace as string | null, jobId: x.job_id as string | null,
      outcome: x.outcome as string | null, rowStatus: x.row_status as string | null, deleted: x.deleted as string | null, reason: x.reason as string | null,
    },
  }));
}

describe('the hash chain', () => {
  eachFresh('every row is chained by the database, seq without gaps; custctl computes the same hash from the stored columns', async (b) => {
    await rows(b, 3);
    const id = await seed(b);
    await b.store.claimForDeletion(id, '7', { force: false, audit: { action: 'deletion-accepted', actor: 't', customerId: id, jobId: '7' } });
    await b.store.completeDeletion(id, '7', { action: 'deletion-completed', actor: 't', customerId: id, jobId: '7', outcome: 'deleted',
      deleted: { releases: ['customer-x'], objects: { Deployment: 1, PersistentVolumeClaim: 2 }, rbac: ['ClusterRole/cx-customer-instance'] } });
    const chain = await storedChain(b);
    expect(chain.map((c) => c.ts.seq)).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(chain[0]?.ts.prevHash).toBe('0'.repeat(64));
    for (const [i, c] of chain.entries()) {
      expect(canonicalAuditRow(c.ts)).toBe(c.sqlCanonical);
      expect(auditRowHash(c.ts)).toBe(c.hash);
      expect(c.sqlHash).toBe(c.hash);
      if (i > 0) expect(c.ts.prevHash).toBe(chain[i - 1]?.hash);
      expect(c.ts.dbUser).toBe(b.dbUser);
    }
    const report = await verify(b);
    expect(report).toMatchObject({ ok: true, checked: 6, firstSeq: '1', lastSeq: '6', head: { seq: '6', hash: chain[5]?.hash }, problems: [], unchained: 0 });
    // the records say where each row is in the chain
    const [newest] = await b.store.listAudit({ limit: 1 });
    expect(newest).toMatchObject({ seq: 6, hash: chain[5]?.hash, prevHash: chain[4]?.hash, dbUser: b.dbUser });
  });

  eachFresh("the session's time zone changes nothing: rows written and verified under another one chain the same", async (b) => {
    await rows(b, 2);
    let store = b.store;
    if (b.name === 'PostgreSQL') {
      // new connections of this database get the zone: a writer and a verifier elsewhere in the world
      const dbName = new URL(b.url as string).pathname.slice(1);
      await admin((c) => c.query(`alter database ${dbName} set timezone to 'Pacific/Chatham'`));
      store = await openPgStore({ connectionString: b.url as string, env: {}, skipSchemaCheck: true });
    } else {
      await b.sql(`set timezone to 'Pacific/Chatham'`);
    }
    try {
      await store.appendAudit({ action: 'deletion-started', actor: 'far away', reason: 'x' });
      const report = await store.verifyAudit?.();
      expect(report).toMatchObject({ ok: true, checked: 3 });
      expect((await verify(b)).ok).toBe(true);
      const chain = await storedChain(b);
      expect(chain.every((c) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/.test(c.ts.at ?? ''))).toBe(true);
      const [newest] = await store.listAudit({ limit: 1 });
      expect(Math.abs(Date.parse(newest?.at ?? '') - Date.now())).toBeLessThan(60_000);
    } finally {
      if (store !== b.store) await store.close();
    }
  });

  eachFresh('an UPDATE made with the trigger disabled is the first row that does not verify', async (b) => {
    await rows(b, 5);
    expect((await verify(b)).ok).toBe(true);
    await asOwner(b, `update custctl_audit set reason = 'nothing to see here' where seq = 3`);
    const report = await verify(b);
    expect(report.ok).toBe(false);
    expect(report.problemCount).toBe(1);
    expect(report.problems[0]).toMatchObject({ seq: '3', action: 'deletion-started' });
    expect(report.problems[0]?.problem).toMatch(/was changed after it was written/);
    // every column is covered, the time too
    await asOwner(b, `update custctl_audit set reason = 'attempt 2', at = at - interval '1 microsecond' where seq = 3`);
    expect((await verify(b)).problems[0]?.seq).toBe('3');
  });

  eachFresh('a row deleted from the middle, rows deleted from the end, a row inserted past the chain: each found', async (b) => {
    await rows(b, 6);
    await asOwner(b, `delete from custctl_audit where seq = 3`);
    let report = await verify(b);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.seq, p.problem])).toEqual([['4', 'row seq 3 is missing before this row (deleted)']]);

    await asOwner(b, `delete from custctl_audit where seq >= 5`);
    report = await verify(b);
    expect(report.problems.map((p) => [p.seq, p.problem])).toEqual([
      ['4', 'row seq 3 is missing before this row (deleted)'],
      ['6', 'rows seq 5–6 are missing at the end of the log (deleted)'],
    ]);

    await asOwner(b, `insert into custctl_audit (actor, action) values ('ghost', 'deletion-completed')`, 'zz_custctl_audit_chain');
    report = await verify(b);
    expect(report.unchained).toBe(1);
    expect(report.problems[2]?.problem).toMatch(/not in the chain/);

    // a prefix deleted without custctl audit prune has no checkpoint to account for it
    const b2 = await fresh(b.name);
    try {
      await rows(b2, 4);
      await asOwner(b2, `delete from custctl_audit where seq <= 2`);
      expect((await verify(b2)).problems[0]).toMatchObject({ seq: '3', problem: expect.stringMatching(/no prune checkpoint accounts for them/) });
    } finally {
      await b2.close();
    }
  });

  eachFresh('pruned twice, the log still verifies through the latest checkpoint; a checkpoint changed afterwards does not', async (b) => {
    await rows(b, 3, 'a');
    await sleep(20);
    await b.store.pruneAudit(new Date(Date.now() - 5), 'ops (cli)', { allowRecent: true });
    await rows(b, 3, 'b');
    await sleep(20);
    await b.store.pruneAudit(new Date(Date.now() - 5), 'ops (cli)', { allowRecent: true });
    await rows(b, 2, 'c');
    const report = await verify(b);
    expect(report).toMatchObject({ ok: true, problems: [] });
    const cps = await b.store.listAudit({ actions: ['audit-pruned'] });
    expect(cps).toHaveLength(1); // the first checkpoint went with the second prune
    // the second prune took the first checkpoint (seq 4) and the three rows after it
    expect(cps[0]?.deleted).toMatchObject({ auditRows: 4, firstSeq: 4, lastSeq: 7 });
    expect(report.prunedThrough).toEqual({ lastSeq: '7', checkpointSeq: '8' });
    await asOwner(b, `update custctl_audit set deleted = jsonb_set(deleted, '{auditRows}', '1') where action = 'audit-pruned'`);
    expect((await verify(b)).problems[0]).toMatchObject({ action: 'audit-pruned', problem: expect.stringMatching(/changed after it was written/) });
  });

  eachFresh('an owner who rewrites a row and recomputes every hash after it passes the chain, not an anchor kept outside', async (b) => {
    await rows(b, 4);
    const anchor = (await verify(b)).head as { seq: string; hash: string };
    expect((await verify(b, { anchor })).anchor).toMatchObject({ ok: true });
    await b.sql(`alter table custctl_audit disable trigger custctl_audit_append_only`);
    await b.sql(`alter table custctl_audit_head disable trigger custctl_audit_head_guard`);
    await b.sql(`do $$
      declare r custctl_audit; h text;
      begin
        update custctl_audit set actor = 'someone else' where seq = 2;
        select hash into h from custctl_audit where seq = 1;
        for r in select * from custctl_audit where seq >= 2 order by seq loop
          r.prev_hash := h;
          h := custctl_audit_hash(r);
          update custctl_audit set prev_hash = r.prev_hash, hash = h where seq = r.seq;
        end loop;
        update custctl_audit_head set hash = h;
      end $$`);
    await b.sql(`alter table custctl_audit_head enable trigger custctl_audit_head_guard`);
    await b.sql(`alter table custctl_audit enable trigger custctl_audit_append_only`);
    expect((await verify(b)).ok).toBe(true); // self-consistent again: the chain alone cannot tell
    const report = await verify(b, { anchor });
    expect(report.ok).toBe(false);
    expect(report.anchor).toMatchObject({ ok: false, note: expect.stringMatching(/rewritten since the anchor was taken/) });
  });

  eachFresh('rows written before the chain existed are chained as they are by the migration, odd text and all, and verify', async (b) => {
    const odd = ['tab\there', 'new\nline', 'esc \u001b[31m red', 'quote " back \\ slash', 'é 日本 🙂', 'line\u2028sep', 'del\u007f c1\u0085', 'bidi \u202e'];
    for (const [i, t] of odd.entries()) {
      await b.sql(`insert into custctl_audit (at, actor, action, customer_id, reason, deleted) values ($1::timestamptz, $2, 'deletion-completed', 'cust_old', $3, $4::jsonb)`,
        [new Date(Date.UTC(2025, 0, 1 + i, 12, 0, 0, 123)).toISOString(), `old${i} ${t}`, t, JSON.stringify({ releases: [t], objects: { [t]: i }, rbac: [] })]);
    }
    for (const m of MIGRATIONS.filter((x) => x.version > 4)) await b.exec(m.sql);
    const chain = await storedChain(b);
    expect(chain.map((c) => c.ts.seq)).toEqual(odd.map((_, i) => String(i + 1)));
    expect(chain[0]?.ts.at).toBe('2025-01-01T12:00:00.123000Z'); // kept as written: only new rows get the database's time
    expect(chain.map((c) => c.ts.reason)).toEqual(odd); // not rewritten
    for (const c of chain) expect(canonicalAuditRow(c.ts)).toBe(c.sqlCanonical);
    expect(await verify(b)).toMatchObject({ ok: true, checked: odd.length });
    await rows(b, 1);
    expect(await verify(b)).toMatchObject({ ok: true, checked: odd.length + 1 });
  }, { upTo: 4 });

  eachFresh('control characters never reach a stored actor or reason, from custctl or from any other writer', async (b) => {
    await b.store.appendAudit({ action: 'deletion-started', actor: 'ev\u001b[2Jil\r\nroot', reason: 'a\u0007b\u009bc \u202ed\u2066e\u2069 f\tg', customerId: 'cust_x' });
    await b.sql(`insert into custctl_audit (actor, actor_label, action, reason) values ($1, $2, 'deletion-started', $3)`, ['sql\u001bwriter', 'la\nbel', 'r\u0085e\u200fa\u0001son']);
    const [other, mine] = await b.store.listAudit({ limit: 2 });
    expect(mine).toMatchObject({ actor: 'ev[2Jil root', reason: 'abc de f g' });
    expect(other).toMatchObject({ actor: 'sqlwriter', actorLabel: 'la bel', reason: 'reason' });
    expect((await verify(b)).ok).toBe(true);
  });

  it('PostgreSQL: 8 writers at once, 25 rows each: one chain, in order, no gap, no fork', async () => {
    const b = await fresh('PostgreSQL');
    const stores = await Promise.all(Array.from({ length: 8 }, () => openPgStore({ connectionString: b.url as string, env: {}, skipSchemaCheck: true })));
    try {
      await Promise.all(stores.map(async (s, w) => {
        for (let i = 0; i < 25; i++) await s.appendAudit({ action: 'deletion-started', actor: `w${w}`, reason: String(i) });
      }));
      const chain = await storedChain(b);
      expect(chain.map((c) => c.ts.seq)).toEqual(Array.from({ length: 200 }, (_, i) => String(i + 1)));
      // the time follows the chain's order (set after the lock)
      const times = chain.map((c) => c.ts.at as string);
      expect([...times].sort()).toEqual(times);
      expect(await verify(b)).toMatchObject({ ok: true, checked: 200 });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await b.close();
    }
  });
});

describe('the built binary', () => {
  const actions = (rows: AuditRecord[], customerId: string) => rows.filter((r) => r.customerId === customerId).map((r) => r.action).reverse();

  it('a simulated deletion, a cancel, audit list filters and audit prune, on PostgreSQL', async () => {
    await ensureCustomersTable(); // the shared test database, migrated by custctl
    const state = tempStateDir();
    // $USER names someone else: the audit log names the account of the process's uid
    const env = { CUSTCTL_STATE_DIR: state, SIMULATE_K8S_DEPLOYMENT: 'true', USER: 'alice', LOGNAME: 'alice' };
    const account = userInfo().username;
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
    expect(completed?.actor).toBe(`${account}@${hostname()} (cli)`);
    expect(all.filter((r) => r.customerId === a || r.customerId === c).map((r) => r.actor)).not.toContainEqual(expect.stringContaining('alice'));
    // no personal data in the audit log: the row's e-mail never appears in it
    expect(JSON.stringify(all.filter((r) => r.customerId === a || r.customerId === c))).not.toContain('x@x.test');
    expect(all.find((r) => r.customerId === c && r.action === 'deletion-cancelled')?.rowStatus).toBe('deployed');

    const { json: one } = await custctlJson<AuditRecord[]>(['audit', 'list', '--customer', a, '--action', 'deletion-accepted,deletion-completed'], { env });
    expect(one.map((r) => r.action)).toEqual(['deletion-completed', 'deletion-accepted']);
    const table = await custctl(['audit', 'list', '--customer', a], { env });
    expect(table.stdout).toMatch(new RegExp(`deletion-completed\\s+cust_\\w+\\s+\\d+\\s+simulated\\s+pending\\s+${account}@`));
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
    expect(prunes[0]?.actor).toBe(`${account}@${hostname()} (cli)`);
    // a direct DELETE by the same database user is still refused
    await expect(db().query(`delete from custctl_audit where customer_id = $1`, [a])).rejects.toThrow(/append-only/);
  }, 180_000);

  it('audit verify: exit 0 with the head; after an UPDATE made with the trigger disabled, exit 1 naming the row; --anchor', async () => {
    const b = await fresh('PostgreSQL');
    try {
      const env = { DATABASE_URL: b.url as string, SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_STATE_DIR: tempStateDir() };
      for (const key of ['va', 'vb']) expect((await custctl(['customers', 'add', `cust_${key}${newKey()}`, '--email', 'e@x.test', '--company', 'C', '--status', 'deployed'], { env })).exitCode).toBe(0);
      await rows(b, 3);
      const ok = await custctl(['audit', 'verify'], { env });
      expect(ok.exitCode, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/audit chain verified: 5 rows \(seq 1–5\)/);
      const head = /head: (\d+:[0-9a-f]{64})/.exec(ok.stdout)?.[1] as string;
      expect(head).toMatch(/^5:/);

      await asOwner(b, `update custctl_audit set reason = 'attempt 9' where seq = 4`);
      const broken = await custctl(['audit', 'verify'], { env });
      expect(broken.exitCode).toBe(1);
      expect(broken.stdout).toMatch(/audit chain BROKEN: 1 problem/);
      expect(broken.stdout).toMatch(/first row that does not verify: id \d+, seq 4 \(deletion-started at \d{4}-.*\): was changed after it was written/);
      const { result, json } = await custctlJson<AuditVerifyReport>(['audit', 'verify'], { env });
      expect(result.exitCode).toBe(1);
      expect(json).toMatchObject({ ok: false, problemCount: 1, problems: [{ seq: '4', action: 'deletion-started' }], head: { seq: '5' } });
      // the anchor still matches (row 5 was not touched); a wrong one fails; a malformed one is a usage error
      expect((await custctl(['audit', 'verify', '--anchor', head], { env })).stdout).toMatch(/anchor 5:[0-9a-f]{16}…: ok/);
      const wrong = await custctl(['audit', 'verify', '--anchor', `3:${'ab'.repeat(32)}`], { env });
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stdout).toMatch(/anchor 3:.*FAILED/);
      expect((await custctl(['audit', 'verify', '--anchor', 'latest'], { env })).exitCode).toBe(2);
    } finally {
      await b.close();
    }
  }, 180_000);

  it('audit prune keeps the 30-day floor: --before 1d refused (exit 2) with nothing pruned; --allow-recent prunes and says so', async () => {
    const b = await fresh('PostgreSQL');
    try {
      const env = { DATABASE_URL: b.url as string, CUSTCTL_STATE_DIR: tempStateDir() };
      await rows(b, 3);
      const refused = await custctl(['audit', 'prune', '--before', '1d', '--yes'], { env });
      expect(refused.exitCode).toBe(2);
      expect(refused.stderr).toMatch(/less than 30 days ago/);
      expect(refused.stderr).toMatch(/--allow-recent/);
      expect((await custctl(['audit', 'prune', '--before', '29d', '--yes'], { env })).exitCode).toBe(2);
      expect((await custctl(['audit', 'prune', '--before', '2999-01-01', '--allow-recent', '--yes'], { env })).exitCode).toBe(2);
      expect((await verify(b)).checked).toBe(3);
      await sleep(1100);
      const pruned = await custctlJson<{ pruned: number }>(['audit', 'prune', '--before', '1s', '--allow-recent', '--yes'], { env });
      expect(pruned.result.exitCode, pruned.result.stderr).toBe(0);
      expect(pruned.json.pruned).toBe(3);
      const [cp] = await b.store.listAudit({ actions: ['audit-pruned'] });
      expect(cp).toMatchObject({ actor: `${userInfo().username}@${hostname()} (cli)`, dbUser: b.dbUser, reason: expect.stringMatching(/younger than 30 days: allow_recent/) });
      expect((await custctl(['audit', 'verify'], { env })).exitCode).toBe(0);
    } finally {
      await b.close();
    }
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
