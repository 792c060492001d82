/**
 * The webhook delivery journal's contract, one suite for its three backends: the file journal, Redis
 * (the test run's redis-server, a key prefix per test) and PostgreSQL (the test run's database, a
 * schema per test). Journaled once per key, read per job, the pending scan, a claim is a lease only
 * one process holds, finish only by the holder, and pruning.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redisConnectionFrom } from '../../src/adapters/bullmq-redis.js';
import { openFileDeliveryJournal, type DeliveryJournal } from '../../src/adapters/webhook-journal.js';
import { RedisDeliveryJournal } from '../../src/adapters/webhook-journal-redis.js';
import { KEEP_MS, PostgresDeliveryJournal } from '../../src/adapters/webhook-journal-pg.js';
import type { DeliveryRecord } from '../../src/domain/webhook.js';
import { pgTarget } from '../support/bull-backends.js';
import { testEnv } from '../support/env.js';
import { randomKey } from '../support/fixtures.js';

interface JournalFixture {
  name: 'file' | 'redis' | 'postgres';
  open(now?: () => number): Promise<DeliveryJournal>;
  /** another journal on the same storage as `j` (another process) */
  sibling(j: DeliveryJournal): Promise<DeliveryJournal>;
  /** prune drops ended deliveries itself (Redis lets them expire instead) */
  prunes: boolean;
  cleanup(): Promise<void>;
}

const schemas: string[] = [];
const dirs: string[] = [];
/** how each journal was opened, to open its siblings */
const reopen = new WeakMap<DeliveryJournal, () => DeliveryJournal>();
const opening = (make: () => DeliveryJournal): DeliveryJournal => {
  const j = make();
  reopen.set(j, make);
  return j;
};
const sibling = async (j: DeliveryJournal): Promise<DeliveryJournal> => opening((reopen.get(j) as () => DeliveryJournal));

const FIXTURES: JournalFixture[] = [
  {
    name: 'file',
    prunes: true,
    open: async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'custctl-deliveries-'));
      dirs.push(dir);
      return opening(() => openFileDeliveryJournal(path.join(dir, 'webhooks')));
    },
    sibling,
    cleanup: async () => {
      for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
    },
  },
  {
    name: 'redis',
    prunes: false,
    open: async () => {
      const prefix = `t${randomKey('w')}`;
      return opening(() => new RedisDeliveryJournal(redisConnectionFrom({ REDIS_URL: testEnv().redisUrl }), prefix));
    },
    sibling,
    cleanup: async () => undefined,
  },
  {
    name: 'postgres',
    prunes: true,
    open: async (now) => {
      const schema = `t_${randomKey('w')}`;
      schemas.push(schema);
      return opening(() => new PostgresDeliveryJournal(pgTarget(schema), now));
    },
    sibling,
    cleanup: async () => {
      const c = new pg.Client({ connectionString: testEnv().databaseUrl });
      await c.connect();
      try {
        for (const s of schemas.splice(0)) await c.query(`drop schema if exists "${s}" cascade`);
      } finally {
        await c.end();
      }
    },
  },
];

let pool: pg.Pool | undefined;
const testDb = () => (pool ??= new pg.Pool({ connectionString: testEnv().databaseUrl, max: 2 }));
afterAll(async () => { await pool?.end(); });

const BASE = Date.now() - 20 * 86_400_000;
let seq = 0;
function record(jobId: string, over: Partial<DeliveryRecord> = {}): DeliveryRecord {
  seq += 1;
  // made 20 days ago (ordered by seq): old enough for any prune cut the tests make
  const createdAt = BASE + seq;
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    jobId,
    endpoint: 'billing',
    url: 'https://hooks.example.test/custctl',
    event: 'job.completed',
    key: `${jobId}/job.completed/${createdAt}/billing`,
    state: 'pending',
    attempts: 0,
    statusCode: null,
    lastError: null,
    createdAt,
    lastAttemptAt: null,
    nextAttemptAt: createdAt,
    deliveredAt: null,
    giveUpAt: createdAt + 86_400_000,
    body: '{"event":"job.completed"}',
    lease: null,
    ...over,
  };
}

const delivered = (at: number) => ({ state: 'delivered' as const, attempts: 1, statusCode: 204, lastError: null, lastAttemptAt: at, nextAttemptAt: null, deliveredAt: at });

describe.each(FIXTURES)('the delivery journal on $name', (fx) => {
  const opened: DeliveryJournal[] = [];
  const open = async (now?: () => number) => {
    const j = await fx.open(now);
    opened.push(j);
    return j;
  };
  afterEach(async () => {
    for (const j of opened.splice(0)) await j.close().catch(() => undefined);
  });
  afterAll(() => fx.cleanup());

  it('reads nothing before the first write, and creates nothing by reading', async () => {
    const j = await open();
    expect(await j.forJob('41')).toEqual([]);
    expect(await j.pending()).toEqual([]);
    expect(await j.claim('41', 'x', 'me', Date.now(), 1000)).toBeNull();
    expect(j.kind).toBe(fx.name);
    expect(j.description).not.toMatch(/password|:[^@/]*@/);
    if (fx.name === 'postgres') {
      const schema = schemas[schemas.length - 1] ?? '';
      const r = await testDb().query<{ t: string | null }>('select to_regnamespace($1)::text as t', [schema]);
      expect(r.rows[0]?.t).toBeNull();
    }
  });

  it('journals each key once; reads a job\'s deliveries oldest first; the pending scan lists what is pending', async () => {
    const j = await open();
    const a = record('42');
    const b = record('42', { endpoint: 'audit', key: '42/job.completed/x/audit' });
    const other = record('43');
    expect(await j.add([a, b, other])).toEqual([a, b, other]);
    expect(await j.add([{ ...a, id: 'another-id-for-the-same-key' }])).toEqual([]);
    expect((await j.forJob('42')).map((r) => r.id)).toEqual([a.id, b.id]);
    expect(await j.forJob('42')).toEqual([a, b]);
    expect((await j.pending()).map((r) => r.id).sort()).toEqual([a.id, b.id, other.id].sort());
  });

  it('a claim is a lease one process holds: others get null until it ends or expires; not due is not claimed', async () => {
    const j = await open();
    const now = Date.now();
    const r = record('44', { nextAttemptAt: now });
    const later = record('44', { key: '44/later', nextAttemptAt: now + 60_000 });
    await j.add([r, later]);
    expect(await j.claim('44', later.id, 'p1', now, 30_000)).toBeNull();
    // a short lease in real time (Redis expires its lease key by its own clock)
    const held = await j.claim('44', r.id, 'p1', now, 700);
    expect(held).toMatchObject({ id: r.id, lease: { owner: 'p1', expiresAt: now + 700 } });
    expect(await j.claim('44', r.id, 'p2', Date.now(), 30_000)).toBeNull();
    expect((await j.pending()).find((x) => x.id === r.id)?.lease).not.toBeNull();
    // the holder died: after its lease, another takes it
    await new Promise((res) => setTimeout(res, 900));
    expect(await j.claim('44', r.id, 'p2', Date.now(), 30_000)).toMatchObject({ lease: { owner: 'p2' } });
  });

  it('ten processes claim the same delivery at once: exactly one holds it', async () => {
    const j = await open();
    const r = record('45', { nextAttemptAt: 0 });
    await j.add([r]);
    const others = await Promise.all(Array.from({ length: 9 }, async () => {
      const o = await fx.sibling(j);
      opened.push(o);
      return o;
    }));
    const now = Date.now();
    const got = await Promise.all([j, ...others].map((x, i) => x.claim('45', r.id, `p${i}`, now, 30_000)));
    expect(got.filter((g) => g !== null)).toHaveLength(1);
  });

  it('finish: only by the holder; a delivered one leaves the pending scan, one to retry stays with its next time', async () => {
    const j = await open();
    const now = Date.now();
    const r = record('46', { nextAttemptAt: now });
    const s = record('46', { key: '46/second', nextAttemptAt: now });
    await j.add([r, s]);
    await j.claim('46', r.id, 'p1', now, 30_000);
    expect(await j.finish('46', r.id, 'p2', delivered(now))).toBe(false);
    expect(await j.finish('46', r.id, 'p1', delivered(now))).toBe(true);
    expect(await j.finish('46', r.id, 'p1', delivered(now))).toBe(false);
    await j.claim('46', s.id, 'p1', now, 30_000);
    expect(await j.finish('46', s.id, 'p1', { state: 'pending', attempts: 1, statusCode: 503, lastError: 'HTTP 503', lastAttemptAt: now, nextAttemptAt: now + 10_000, deliveredAt: null })).toBe(true);
    const [first, second] = await j.forJob('46');
    expect(first).toMatchObject({ id: r.id, state: 'delivered', statusCode: 204, deliveredAt: now, lease: null, body: r.body });
    expect(second).toMatchObject({ id: s.id, state: 'pending', attempts: 1, statusCode: 503, nextAttemptAt: now + 10_000, lease: null });
    expect((await j.pending()).map((x) => x.id)).toEqual([s.id]);
    expect(await j.claim('46', s.id, 'p1', now + 5_000, 30_000)).toBeNull();
    expect(await j.claim('46', s.id, 'p1', now + 10_000, 30_000)).not.toBeNull();
  });

  it(fx.prunes ? 'prune drops the jobs whose deliveries all ended before the cut, never a pending one' : 'prune leaves it to Redis\' expiry (8 days after the last write)', async () => {
    const j = await open();
    const t0 = Date.now();
    const old = record('47', { nextAttemptAt: t0 });
    const pendingOld = record('48', { nextAttemptAt: t0 + 3_600_000 });
    const recent = record('49', { nextAttemptAt: t0 });
    await j.add([old, pendingOld, recent]);
    await j.claim('47', old.id, 'p', t0, 1000);
    await j.finish('47', old.id, 'p', delivered(t0 - 10 * 86_400_000));
    await j.claim('49', recent.id, 'p', t0, 1000);
    await j.finish('49', recent.id, 'p', delivered(t0));
    const cut = t0 - 7 * 86_400_000;
    if (!fx.prunes) {
      expect(await j.prune(cut)).toBe(0);
      return;
    }
    expect(await j.prune(cut)).toBe(1);
    expect(await j.forJob('47')).toEqual([]);
    expect(await j.forJob('48')).toHaveLength(1);
    expect(await j.forJob('49')).toHaveLength(1);
  });
});

describe('the delivery journal on postgres: its own table, kept 8 days', () => {
  afterAll(() => FIXTURES[2]?.cleanup());

  it('anything not written for 8 days goes, pending or not; the table is made on the first write', async () => {
    let clock = Date.now();
    const j = await FIXTURES[2]!.open(() => clock);
    try {
      const r = record('50', { nextAttemptAt: clock + 3_600_000 });
      await j.add([r]);
      expect(j.description).toMatch(/custctl_webhook_deliveries/);
      clock += KEEP_MS - 1_000;
      expect(await j.prune(0)).toBe(0);
      clock += 2_000;
      expect(await j.prune(0)).toBe(1);
      expect(await j.forJob('50')).toEqual([]);
      expect(KEEP_MS).toBe(8 * 86_400_000);
    } finally {
      await j.close();
    }
  });
});
