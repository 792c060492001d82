/**
 * BullMQ's backends for one parametrised suite: the test run's redis-server, and the test run's
 * PostgreSQL (a fresh schema per queue, migrated, dropped after). Each fixture isolates a queue
 * (Redis: its own key prefix; PostgreSQL: its own schema), opens more queues on the same storage
 * (what another process would open), and says how a child process opens it.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { BullQueue, QUEUE_NAME } from '../../src/adapters/bullmq-queue.js';
import { RedisBullBackend, redisConnectionFrom } from '../../src/adapters/bullmq-redis.js';
import { migratePostgresQueue, openPostgresBullQueue, type PostgresQueueTarget } from '../../src/adapters/bullmq-postgres.js';
import { testEnv } from './env.js';
import { randomKey } from './fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface BullBackendFixture {
  name: 'redis' | 'postgres';
  /** a queue on fresh, isolated storage */
  fresh(): Promise<BullQueue>;
  /** another queue on the same storage as `q` */
  sibling(q: BullQueue): Promise<BullQueue>;
  /** for a child process: its environment, and ESM statements that leave the queue in `q` (dist/ built) */
  child(q: BullQueue): { env: Record<string, string>; open: string };
  /** makes a finished job look finished at `at` (ms), where BullMQ's retention reads it */
  backdateFinished(q: BullQueue, id: string, at: number): Promise<void>;
  /** what isolates `q` from the other tests' queues */
  isolation(q: BullQueue): string;
  /** removes everything `fresh` made (after the queues are closed) */
  cleanup(): Promise<void>;
}

const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p));

export function redisFixture(): BullBackendFixture {
  const url = () => testEnv().redisUrl;
  const prefixOf = (q: BullQueue) => (q.backend as RedisBullBackend).prefix;
  const open = (prefix: string) => new BullQueue(new RedisBullBackend(redisConnectionFrom({ REDIS_URL: url() }), prefix));
  return {
    name: 'redis',
    fresh: async () => open(`t${randomKey('q')}`),
    sibling: async (q) => open(prefixOf(q)),
    child: (q) => ({
      env: { REDIS_URL: url(), PREFIX: prefixOf(q) },
      open: `const [{ BullQueue }, { RedisBullBackend, redisConnectionFrom }] = await Promise.all([import(${dist('adapters/bullmq-queue.js')}), import(${dist('adapters/bullmq-redis.js')})]);
        const q = new BullQueue(new RedisBullBackend(redisConnectionFrom({ REDIS_URL: process.env.REDIS_URL }), process.env.PREFIX));`,
    }),
    backdateFinished: async (q, id, at) => {
      const r = new Redis({ ...redisConnectionFrom({ REDIS_URL: url() }), lazyConnect: false });
      try {
        const state = await q.queue.getJobState(`j${id}`);
        await r.zadd(`${prefixOf(q)}:${QUEUE_NAME}:${state}`, 'XX', at, `j${id}`);
        await r.hset(`${prefixOf(q)}:${QUEUE_NAME}:j${id}`, 'finishedOn', String(at));
      } finally {
        r.disconnect();
      }
    },
    isolation: (q) => `prefix ${prefixOf(q)}`,
    cleanup: async () => undefined,
  };
}

/** A target on the test run's PostgreSQL (or `url`) in schema `schema`. */
export function pgTarget(schema: string, url = testEnv().databaseUrl): PostgresQueueTarget {
  return { pool: { connectionString: url, max: 4 }, schema, where: url.replace(/\/\/[^@]*@/, '//…@') };
}

export function postgresFixture(url?: () => string): BullBackendFixture {
  const dbUrl = () => url?.() ?? testEnv().databaseUrl;
  const schemas: string[] = [];
  const targetOf = (q: BullQueue) => (q.backend as unknown as { target: PostgresQueueTarget }).target;
  return {
    name: 'postgres',
    fresh: async () => {
      const t = pgTarget(`t_${randomKey('q')}`, dbUrl());
      schemas.push(t.schema);
      await migratePostgresQueue(t);
      return openPostgresBullQueue(t);
    },
    sibling: async (q) => openPostgresBullQueue(targetOf(q)),
    child: (q) => ({
      env: { QUEUE_URL: dbUrl(), SCHEMA: targetOf(q).schema },
      open: `const { openPostgresBullQueue } = await import(${dist('adapters/bullmq-postgres.js')});
        const q = await openPostgresBullQueue({ pool: { connectionString: process.env.QUEUE_URL, max: 4 }, schema: process.env.SCHEMA, where: 'test' });`,
    }),
    backdateFinished: async (q, id, at) => {
      const c = new pg.Client({ connectionString: dbUrl() });
      await c.connect();
      try {
        await c.query(`update "${targetOf(q).schema}".job set finished_at_ms = $3 where queue = $1 and id = $2`, [QUEUE_NAME, `j${id}`, at]);
      } finally {
        await c.end();
      }
    },
    isolation: (q) => `schema ${targetOf(q).schema}`,
    cleanup: async () => {
      if (schemas.length === 0) return;
      const c = new pg.Client({ connectionString: dbUrl() });
      await c.connect();
      try {
        for (const s of schemas.splice(0)) await c.query(`drop schema if exists "${s}" cascade`);
      } finally {
        await c.end();
      }
    },
  };
}
