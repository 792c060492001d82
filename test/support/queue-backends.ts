/**
 * The BullMQ queue backends as `custctl` processes select them, for end-to-end suites that run
 * once per backend (`describe.each(CLI_BULL_BACKENDS)`): BullMQ on the test run's Redis (a
 * database number of the suite's own), and BullMQ on the test run's PostgreSQL (CUSTCTL_QUEUE=
 * postgres, a schema of the suite's own, created by `custctl db migrate` as an operator would).
 */
import pg from 'pg';
import { custctl } from './cli.js';
import { testEnv } from './env.js';
import { randomKey } from './fixtures.js';

export interface CliBullBackend {
  name: 'redis' | 'postgres';
  /**
   * The queue variables of every custctl process of a suite (one isolated queue per `slot`:
   * Redis database `slot`, PostgreSQL a fresh schema), ready to use (migrated).
   */
  queueEnv(slot: number): Promise<Record<string, string>>;
  /** what `custctl worker` logs once it works the queue: `started on redis://` / `postgres://` */
  started: string;
  /** drops what queueEnv made */
  cleanup(): Promise<void>;
}

const schemas: string[] = [];

export const redisCli: CliBullBackend = {
  name: 'redis',
  queueEnv: async (slot) => ({ REDIS_URL: testEnv().redisUrl.replace(/\/\d+$/, `/${slot}`) }),
  started: 'started on redis://',
  cleanup: async () => undefined,
};

export const postgresCli: CliBullBackend = {
  name: 'postgres',
  async queueEnv() {
    const schema = `e2e_${randomKey('q').replace(/[^a-z0-9_]/gi, '_')}`;
    schemas.push(schema);
    const env = { CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: schema };
    const r = await custctl(['db', 'migrate'], { env });
    if (r.exitCode !== 0) throw new Error(`custctl db migrate (queue schema ${schema}) failed: ${r.stderr}${r.stdout}`);
    return env;
  },
  started: 'started on postgres://',
  async cleanup() {
    if (schemas.length === 0) return;
    const c = new pg.Client({ connectionString: testEnv().databaseUrl });
    await c.connect();
    try {
      for (const s of schemas.splice(0)) await c.query(`drop schema if exists "${s}" cascade`);
    } finally {
      await c.end();
    }
  },
};

/** both BullMQ backends, for describe.each */
export const CLI_BULL_BACKENDS: Array<[string, CliBullBackend]> = [['BullMQ on Redis', redisCli], ['BullMQ on PostgreSQL', postgresCli]];
