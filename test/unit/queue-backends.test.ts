/** The one table of queue backends: which entry an environment selects, and what each entry says of itself. */
import { describe, expect, it } from 'vitest';
import { QUEUE_BACKEND_TABLE, selectQueueBackend, type BackendContext } from '../../src/jobs/backends.js';
import { UsageError } from '../../src/errors.js';

const ctx = (env: Record<string, string>): BackendContext => ({
  env, stateDir: async () => '/state', stateDirPath: '/state', worker: '1@h', warn: () => undefined,
});

describe('queue backends', () => {
  it.each([
    [{}, 'file'],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'redis'],
    [{ REDIS_HOST: 'r' }, 'redis'],
    [{ CUSTCTL_QUEUE: 'file', REDIS_URL: 'redis://r:6379' }, 'file'],
    [{ CUSTCTL_QUEUE: 'postgres' }, 'postgres'],
    [{ CUSTCTL_QUEUE: 'postgres', REDIS_URL: 'redis://r:6379' }, 'postgres'],
    [{ CUSTCTL_QUEUE: 'Redis', REDIS_URL: 'redis://r:6379' }, 'redis'],
  ] as Array<[Record<string, string>, string]>)('%j selects %s', (env, name) => {
    expect(selectQueueBackend(env).backend.name).toBe(name);
  });

  it('a PostgreSQL setting without CUSTCTL_QUEUE=postgres, or an unknown backend, is refused', () => {
    expect(() => selectQueueBackend({ CUSTCTL_QUEUE_SCHEMA: 'q', REDIS_URL: 'redis://r:6379' })).toThrow(UsageError);
    expect(() => selectQueueBackend({ CUSTCTL_QUEUE: 'kafka' })).toThrow(/choose file, redis, postgres/);
  });

  it('only the BullMQ backends run jobs in separate worker processes', () => {
    expect(Object.values(QUEUE_BACKEND_TABLE).map((b) => [b.name, b.separateWorkers])).toEqual([['file', false], ['redis', true], ['postgres', true]]);
  });

  it('describe names the queue and where it is, never a password', async () => {
    expect(await QUEUE_BACKEND_TABLE.file.describe(ctx({}))).toBe('file journal (/state/journal)');
    expect(await QUEUE_BACKEND_TABLE.redis.describe(ctx({ REDIS_URL: 'redis://:pw@r:6379' }))).toBe('BullMQ on Redis (REDIS_URL / REDIS_HOST)');
    const pg = await QUEUE_BACKEND_TABLE.postgres.describe(ctx({ CUSTCTL_QUEUE: 'postgres', DATABASE_URL: 'postgres://app:secret@db:5432/billing', CUSTCTL_QUEUE_SCHEMA: 'jobs' }));
    expect(pg).toBe('BullMQ on PostgreSQL, postgres://app@db:5432/billing, schema jobs');
    const own = await QUEUE_BACKEND_TABLE.postgres.describe(ctx({ CUSTCTL_QUEUE: 'postgres', DATABASE_URL: 'postgres://app@db/billing', CUSTCTL_QUEUE_DATABASE_URL: 'postgres://q:pw@qdb:5433/queue' }));
    expect(own).toBe('BullMQ on PostgreSQL, postgres://q@qdb:5433/queue, schema custctl_queue');
  });

  it('file and Redis have no schema of their own to migrate', async () => {
    expect(await QUEUE_BACKEND_TABLE.file.migrate(ctx({}))).toBeNull();
    expect(await QUEUE_BACKEND_TABLE.redis.migrate(ctx({ REDIS_URL: 'redis://r:6379' }))).toBeNull();
  });
});
