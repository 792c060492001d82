/**
 * What only the PostgreSQL queue has (the behaviour both backends share is test/integration/
 * bullmq.test.ts, one suite for both): its migrations and what they create, the grants a role
 * that runs custctl needs (and a refusal without them), a cancel that a worker's claim cannot
 * slip into, the claim of a row and the enqueue in one transaction, and a PostgreSQL restarted
 * while jobs wait (a throwaway server of its own, test/env/postgres.ts).
 */
import { stat, mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  BULLMQ_OBJECTS,
  checkPostgresQueue,
  CUSTCTL_OBJECTS,
  ID_SEQUENCE,
  LATEST_SCHEMA_VERSION,
  migratePostgresQueue,
  openPostgresBullQueue,
  postgresQueueGrants,
  PostgresBullBackend,
  type PostgresQueueTarget,
} from '../../src/adapters/bullmq-postgres.js';
import { QUEUE_NAME, type BullQueue } from '../../src/adapters/bullmq-queue.js';
import { PostgresDeliveryJournal } from '../../src/adapters/webhook-journal-pg.js';
import { runBullWorker } from '../../src/jobs/bullmq-worker.js';
import type { Job, NewJob } from '../../src/domain/job.js';
import { ConflictError, OperationError, UsageError } from '../../src/errors.js';
import { startPostgres, PG_BIN, type Postgres } from '../env/postgres.js';
import { startProcess, waitUntil, type ManagedProcess } from '../env/process.js';
import { pgTarget } from '../support/bull-backends.js';
import { testEnv } from '../support/env.js';
import { randomKey, waitFor } from '../support/fixtures.js';

const schemas: string[] = [];
const roles: string[] = [];
const opened: Array<{ close(): Promise<void> }> = [];
const stops: AbortController[] = [];

let admin: pg.Pool | undefined;
const db = () => (admin ??= new pg.Pool({ connectionString: testEnv().databaseUrl, max: 4 }));

function freshTarget(url?: string): PostgresQueueTarget {
  const t = pgTarget(`t_${randomKey('p')}`, url);
  schemas.push(t.schema);
  return t;
}

function newJob(customer: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    name: 'delete',
    data: { customerId: customer, namespace: `customer-${customer.slice(5)}` },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 100 }, timeoutMs: 10_000 },
    requestedBy: 'api:ci-bot',
    simulated: false,
    previousStatus: 'deployed',
    ...extra,
  };
}

async function open(t: PostgresQueueTarget): Promise<BullQueue> {
  const q = await openPostgresBullQueue(t);
  opened.push(q);
  return q;
}

function work(q: BullQueue, processor: Parameters<typeof runBullWorker>[0]['processor'], o: { lockMs?: number; concurrency?: number } = {}) {
  const stop = new AbortController();
  stops.push(stop);
  return runBullWorker({
    queue: q, processor, concurrency: o.concurrency ?? 2, signal: stop.signal, worker: 'test', onFailed: async () => undefined,
    ...(o.lockMs ? { lockMs: o.lockMs, stalledIntervalMs: o.lockMs } : {}),
  });
}

const until = (q: BullQueue, id: string, states: Job['state'][] = ['completed', 'failed'], ms = 30_000) =>
  waitFor(async () => {
    const j = await q.get(id);
    return j && states.includes(j.state) ? j : null;
  }, `job ${id} to be ${states.join('/')}`, ms, 50);

afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await new Promise((r) => setTimeout(r, 50));
  for (const q of opened.splice(0)) await q.close().catch(() => undefined);
});

afterAll(async () => {
  for (const s of schemas.splice(0)) await db().query(`drop schema if exists "${s}" cascade`);
  for (const r of roles.splice(0)) await db().query(`drop role if exists ${r}`);
  await admin?.end();
});

describe('the queue schema: migrations, checks, grants', () => {
  it('migrating creates what BULLMQ_OBJECTS and CUSTCTL_OBJECTS list, once; a second run changes nothing', async () => {
    const t = freshTarget();
    const first = await migratePostgresQueue(t);
    expect(first).toMatchObject({ from: 0, to: LATEST_SCHEMA_VERSION, server: { status: 'ok' } });
    expect(LATEST_SCHEMA_VERSION).toBe(11);
    const rel = await db().query<{ kind: string; name: string }>(
      `select c.relkind::text as kind, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = $1 and c.relkind in ('r', 'S') order by 2`, [t.schema]);
    const tables = rel.rows.filter((r) => r.kind === 'r').map((r) => r.name);
    const sequences = rel.rows.filter((r) => r.kind === 'S').map((r) => r.name);
    expect(tables.sort()).toEqual(['migration', ...BULLMQ_OBJECTS.tables, ...CUSTCTL_OBJECTS.tables].sort());
    expect(sequences.sort()).toEqual([...BULLMQ_OBJECTS.sequences, ...CUSTCTL_OBJECTS.sequences].sort());
    const types = await db().query<{ name: string }>(`select t.typname as name from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = $1 and t.typtype = 'e'`, [t.schema]);
    expect(types.rows.map((r) => r.name).sort()).toEqual([...BULLMQ_OBJECTS.types].sort());
    const ledger = await db().query<{ n: number }>(`select count(*)::int as n from "${t.schema}".migration`);
    expect(ledger.rows[0]?.n).toBe(LATEST_SCHEMA_VERSION);

    expect(await migratePostgresQueue(t)).toMatchObject({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION });
    expect((await db().query(`select count(*)::int as n from "${t.schema}".migration`)).rows[0]).toEqual({ n: LATEST_SCHEMA_VERSION });
    const checks = await checkPostgresQueue(t);
    expect(checks.map((c) => [c.name, c.status])).toEqual([['queue database', 'ok'], ['queue server version', 'ok'], ['queue schema', 'ok'], ['queue privileges', 'ok']]);
  });

  it('open never migrates: an unmigrated schema is refused (exit 2) and nothing is created; doctor\'s check says what to run', async () => {
    const t = freshTarget();
    const err = await openPostgresBullQueue(t).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String((err as Error).message)).toMatch(new RegExp(`the queue schema ${t.schema} .* does not exist yet`));
    expect((err as UsageError).details.join()).toMatch(/migrations/);
    const ns = await db().query('select 1 from pg_namespace where nspname = $1', [t.schema]);
    expect(ns.rowCount).toBe(0);
    const checks = await checkPostgresQueue(t);
    expect(checks.find((c) => c.name === 'queue schema')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/migrations/) });

    // a schema with BullMQ's objects but without custctl's sequence is not up to date either
    await migratePostgresQueue(t);
    await db().query(`drop sequence "${t.schema}".${ID_SEQUENCE}`);
    await expect(openPostgresBullQueue(t)).rejects.toThrow(new RegExp(`not up to date .*no sequence ${ID_SEQUENCE}`));
    expect((await checkPostgresQueue(t)).find((c) => c.name === 'queue schema')).toMatchObject({ status: 'fail', detail: expect.stringContaining(`missing sequence ${ID_SEQUENCE}`) });
  });

  it('a role with only the listed grants runs the queue; without them doctor names what is missing; it cannot migrate', async () => {
    const t = freshTarget();
    await migratePostgresQueue(t);
    const role = `custctl_w_${randomKey('r')}`;
    roles.push(role);
    await db().query(`create role ${role} login`);
    const u = new URL(testEnv().databaseUrl);
    u.username = role;
    const asRole: PostgresQueueTarget = { ...t, pool: { connectionString: u.toString(), max: 4 } };

    const before = await checkPostgresQueue(asRole);
    expect(before.find((c) => c.name === 'queue privileges')).toMatchObject({
      status: 'fail', detail: expect.stringContaining(`USAGE on schema ${t.schema}`), fix: expect.stringContaining(`GRANT USAGE ON SCHEMA "${t.schema}" TO ${role};`),
    });
    expect(before.find((c) => c.name === 'queue schema')).toMatchObject({ status: 'skipped' });
    const [usage, ...rest] = postgresQueueGrants(t.schema, role);
    await db().query(usage ?? '');
    const partly = await checkPostgresQueue(asRole);
    expect(partly.find((c) => c.name === 'queue schema')).toMatchObject({ status: 'skipped', detail: expect.stringContaining('may not read BullMQ\'s migration ledger') });
    expect(partly.find((c) => c.name === 'queue privileges')).toMatchObject({
      status: 'fail', detail: expect.stringMatching(/lacks SELECT on migration; SELECT, INSERT, UPDATE, DELETE on meta; .*USAGE on sequence custctl_job_id/),
    });
    for (const g of rest) await db().query(g);
    expect((await checkPostgresQueue(asRole)).find((c) => c.name === 'queue privileges')).toMatchObject({ status: 'ok' });

    const q = await open(asRole);
    const a = await q.add(await q.allocateId(), newJob('cust_role1'), Date.now());
    const later = await q.add(await q.allocateId(), newJob('cust_role2', { delayUntil: Date.now() + 60_000 }), Date.now());
    expect(await q.cancel(later.id, Date.now())).toMatchObject({ failedReason: 'cancelled' });
    work(q, async (ctx) => { await ctx.progress(50); await ctx.log('ran as the runtime role'); return { outcome: 'deleted' }; });
    expect(await until(q, a.id)).toMatchObject({ state: 'completed', progress: 50 });
    expect(await q.get(later.id)).toMatchObject({ failedReason: 'cancelled' });
    expect(await q.prune(Date.now() + 1)).toBe(2); // the completed job and the cancelled one's record
    const journal = new PostgresDeliveryJournal(asRole);
    opened.push(journal);
    const now = Date.now();
    const rec = { id: 'd1', jobId: a.id, endpoint: 'e', url: 'https://x.test/', event: 'job.completed' as const, key: `${a.id}/k`, state: 'pending' as const, attempts: 0, statusCode: null, lastError: null, createdAt: now, lastAttemptAt: null, nextAttemptAt: now, deliveredAt: null, giveUpAt: now + 1000, body: '{}', lease: null };
    expect(await journal.add([rec])).toHaveLength(1);
    expect(await journal.claim(a.id, 'd1', 'me', now, 1000)).not.toBeNull();
    expect(await journal.finish(a.id, 'd1', 'me', { state: 'delivered', attempts: 1, statusCode: 200, lastError: null, lastAttemptAt: now, nextAttemptAt: null, deliveredAt: now })).toBe(true);

    // the runtime role has no CREATE: migrating a new schema is refused and leaves nothing
    const other = freshTarget();
    const asRoleOther: PostgresQueueTarget = { ...other, pool: asRole.pool };
    const err = await migratePostgresQueue(asRoleOther).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect(String((err as Error).message)).toMatch(/migrating the queue schema .* failed: permission denied/);
    expect((await db().query('select 1 from pg_namespace where nspname = $1', [other.schema])).rowCount).toBe(0);
  });
});

describe('a cancel and a worker\'s claim', () => {
  /** a worker's claim, BullMQ's own move_to_active, held open in a transaction */
  async function claimHeldOpen(t: PostgresQueueTarget): Promise<{ commit(): Promise<void>; claimed: string | undefined }> {
    const c = await db().connect();
    await c.query('begin');
    await c.query(`set local search_path to "${t.schema}"`);
    const r = await c.query<{ id: string }>(`select id from move_to_active($1, 'a-worker-token', 30000, $2, 'a-worker', null, null)`, [QUEUE_NAME, Date.now()]);
    return { claimed: r.rows[0]?.id, commit: async () => { await c.query('commit'); c.release(); } };
  }

  it('a cancel waits for a claim in flight and then refuses (the job stays with its worker); one before the claim wins', async () => {
    const t = freshTarget();
    await migratePostgresQueue(t);
    const q = await open(t);
    const j = await q.add(await q.allocateId(), newJob('cust_race1'), Date.now());
    const claim = await claimHeldOpen(t);
    expect(claim.claimed).toBe(`j${j.id}`);
    let settled = false;
    const cancelling = q.cancel(j.id, Date.now()).finally(() => { settled = true; });
    cancelling.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false); // waiting on the claim's row lock
    await claim.commit();
    await expect(cancelling).rejects.toThrow(ConflictError);
    expect((await q.get(j.id))?.state).toBe('active');

    // the other order: the cancel holds the row, the claim skips it and finds nothing
    const k = await q.add(await q.allocateId(), newJob('cust_race2'), Date.now());
    expect(await q.cancel(k.id, Date.now())).toMatchObject({ failedReason: 'cancelled' });
    const after = await claimHeldOpen(t);
    expect(after.claimed).toBeUndefined();
    await after.commit();
  });

  it("why: BullMQ's Job.remove() alone, in the same race, deletes the job the worker just claimed", async () => {
    const t = freshTarget();
    await migratePostgresQueue(t);
    const q = await open(t);
    const j = await q.add(await q.allocateId(), newJob('cust_race3'), Date.now());
    const b = await q.queue.getJob(`j${j.id}`);
    const claim = await claimHeldOpen(t);
    expect(claim.claimed).toBe(`j${j.id}`);
    const removing = b!.remove();
    removing.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    await claim.commit();
    await removing; // no error: it read the row before the claim committed
    expect(await q.get(j.id)).toBeNull();
  });
});

describe('the row claim and the enqueue in one transaction (prototype)', () => {
  it('rolled back: neither the claim nor the job; committed: both, and no worker saw the job before the commit', async () => {
    const t = freshTarget();
    await migratePostgresQueue(t);
    const q = await open(t);
    const backend = q.backend as PostgresBullBackend;
    const rows = `"${t.schema}".claims_test`;
    await db().query(`create table ${rows} (customer_id text primary key, status text not null, job_id text)`);
    await db().query(`insert into ${rows} values ('cust_tx1', 'deployed', null)`);
    const ran: string[] = [];
    work(q, async (ctx) => { ran.push(ctx.job.id); return { outcome: 'deleted' }; });

    const tx = async (id: string, end: 'commit' | 'rollback', whileOpen?: () => Promise<void>) => {
      const c = await db().connect();
      try {
        await c.query('begin');
        const claimed = await c.query(`update ${rows} set status = 'deleting', job_id = $2 where customer_id = $1 and status = 'deployed'`, ['cust_tx1', id]);
        expect(claimed.rowCount).toBe(1);
        await backend.addInTransaction(c, id, newJob('cust_tx1'), Date.now());
        // the transaction's own statements still resolve as before (its search path was put back)
        expect((await c.query(`select current_setting('search_path') as p`)).rows[0]).toEqual({ p: '"$user", public' });
        await whileOpen?.();
        await c.query(end);
      } finally {
        c.release();
      }
    };

    const id1 = await q.allocateId();
    await tx(id1, 'rollback');
    expect(await q.get(id1)).toBeNull();
    expect((await db().query(`select status, job_id from ${rows}`)).rows[0]).toEqual({ status: 'deployed', job_id: null });

    const id2 = await q.allocateId();
    await tx(id2, 'commit', async () => {
      await new Promise((r) => setTimeout(r, 700));
      expect(await q.get(id2)).toBeNull();
      expect(ran).toEqual([]);
    });
    expect((await db().query(`select status, job_id from ${rows}`)).rows[0]).toEqual({ status: 'deleting', job_id: id2 });
    expect(await until(q, id2)).toMatchObject({ state: 'completed', data: { customerId: 'cust_tx1' }, requestedBy: 'api:ci-bot' });
    expect(ran).toEqual([id2]);
  });
});

describe('PostgreSQL restarted while jobs wait', () => {
  let server: Postgres | undefined;
  let restarted: ManagedProcess | undefined;

  afterAll(async () => {
    await restarted?.stop('SIGINT', 10_000);
    await server?.stop();
  });

  /** stops the server (fast shutdown: every connection dropped) and starts it again on the same data and port */
  async function restart(s: Postgres, downMs: number): Promise<void> {
    const opts = await readFile(path.join(dataDir, 'postmaster.opts'), 'utf8');
    const argv = [...opts.matchAll(/"([^"]*)"/g)].map((m) => m[1] as string);
    await s.process.stop('SIGINT', 10_000);
    await new Promise((r) => setTimeout(r, downMs));
    const owner = await stat(dataDir);
    restarted = startProcess('postgres (restarted)', path.join(PG_BIN, 'postgres'), argv, {
      logFile: s.process.logFile,
      ...(process.getuid?.() === 0 ? { runAs: { uid: owner.uid, gid: owner.gid } } : {}),
    });
    await waitUntil(async () => {
      const c = new pg.Client({ connectionString: s.url });
      await c.connect();
      await c.end();
      return true;
    }, { timeoutMs: 30_000, intervalMs: 100, proc: restarted, what: 'postgres to accept connections again' });
  }

  let dataDir = '';

  it('the jobs queued, running and delayed before the restart all complete after it; the queue takes new ones', async () => {
    const runDir = await mkdtemp(path.join(testEnv().runDir, 'pg-restart-'));
    server = await startPostgres(runDir);
    dataDir = path.join(runDir, 'postgres', 'data');
    const t = freshTarget(server.url);
    await migratePostgresQueue(t);
    const q = await open(t);
    const runs = new Map<string, number>();
    work(q, async (ctx) => {
      runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 300));
      return { outcome: 'deleted' };
    }, { concurrency: 1, lockMs: 2_000 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await q.add(await q.allocateId(), newJob(`cust_rs${i}`), Date.now())).id);
    const later = await q.add(await q.allocateId(), newJob('cust_rslater', { delayUntil: Date.now() + 6_000 }), Date.now());
    await until(q, ids[1] ?? '', ['completed']);
    const waitingBefore = (await q.counts()).waiting;
    expect(waitingBefore).toBeGreaterThan(0);

    await restart(server, 1_500);

    const fresh = await q.add(await q.allocateId(), newJob('cust_rsafter'), Date.now());
    for (const id of [...ids, later.id, fresh.id]) {
      expect(await until(q, id, ['completed', 'failed'], 90_000), `job ${id}`).toMatchObject({ state: 'completed' });
    }
    // at-least-once: only the attempt in flight at the restart may have run twice
    expect([...runs.values()].filter((n) => n > 1).length).toBeLessThanOrEqual(1);
    expect([...runs.keys()].sort()).toEqual([...ids, later.id, fresh.id].sort());
    expect(await q.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
  }, 240_000);
});
