/**
 * Choosing the queue backend (src/adapters/queue-config.ts) and the PostgreSQL backend's pure
 * rules (src/adapters/bullmq-postgres.ts): the server version it refuses, the grants it lists.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_SCHEMA, parseQueueSchema, parseQueueSelection } from '../../src/adapters/queue-config.js';
import { assertServerVersion, MINIMUM_POSTGRES_VERSION, postgresQueueGrants, serverVersionCheck } from '../../src/adapters/bullmq-postgres.js';
import { OperationError, UsageError, isPermanent } from '../../src/errors.js';

describe('CUSTCTL_QUEUE: which backend, chosen in one place', () => {
  it('unset: redis when REDIS_URL or REDIS_HOST is set (as always), else the file journal', () => {
    expect(parseQueueSelection({})).toEqual({ backend: 'file', explicit: false, notes: [] });
    expect(parseQueueSelection({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual({ backend: 'redis', explicit: false, notes: [] });
    expect(parseQueueSelection({ REDIS_HOST: 'redis.internal' })).toMatchObject({ backend: 'redis', explicit: false });
    expect(parseQueueSelection({ REDIS_URL: '', DATABASE_URL: 'postgres://u@db/x' })).toMatchObject({ backend: 'file' });
  });

  it.each([['file'], ['redis'], ['postgres'], [' Postgres ']])('CUSTCTL_QUEUE=%j is explicit', (v) => {
    expect(parseQueueSelection({ CUSTCTL_QUEUE: v })).toMatchObject({ backend: v.trim().toLowerCase(), explicit: true });
  });

  it('postgres: the customers database and the custctl_queue schema by default', () => {
    expect(parseQueueSelection({ CUSTCTL_QUEUE: 'postgres', DATABASE_URL: 'postgres://app@db:5432/billing' })).toEqual({
      backend: 'postgres', explicit: true, databaseUrl: 'postgres://app@db:5432/billing', databaseUrlFrom: 'DATABASE_URL',
      sameDatabaseAsCustomers: true, schema: DEFAULT_QUEUE_SCHEMA, notes: [],
    });
    expect(DEFAULT_QUEUE_SCHEMA).toBe('custctl_queue');
    // no URL at all: the PG* variables, as for the customers database
    expect(parseQueueSelection({ CUSTCTL_QUEUE: 'postgres', PGHOST: 'db' })).toMatchObject({ databaseUrl: undefined, databaseUrlFrom: 'PG*', sameDatabaseAsCustomers: true });
  });

  it('postgres: its own database and schema', () => {
    const s = parseQueueSelection({
      CUSTCTL_QUEUE: 'postgres', DATABASE_URL: 'postgres://app@db/billing',
      CUSTCTL_QUEUE_DATABASE_URL: 'postgresql://queue@qdb:6432/jobs', CUSTCTL_QUEUE_SCHEMA: 'deletions_q',
    });
    expect(s).toMatchObject({ backend: 'postgres', databaseUrl: 'postgresql://queue@qdb:6432/jobs', databaseUrlFrom: 'CUSTCTL_QUEUE_DATABASE_URL', sameDatabaseAsCustomers: false, schema: 'deletions_q' });
  });

  it('names Redis settings it does not use', () => {
    expect(parseQueueSelection({ CUSTCTL_QUEUE: 'postgres', REDIS_URL: 'redis://r:6379' }).notes.join()).toMatch(/Redis is not used/);
    expect(parseQueueSelection({ CUSTCTL_QUEUE: 'file', REDIS_URL: 'redis://r:6379' }).notes.join()).toMatch(/file journal/);
  });

  it.each([
    [{ CUSTCTL_QUEUE: 'kafka' }, /CUSTCTL_QUEUE="kafka" is not a queue backend: choose file, redis, postgres/],
    [{ CUSTCTL_QUEUE_DATABASE_URL: 'postgres://q@db/jobs' }, /CUSTCTL_QUEUE_DATABASE_URL is set but the queue is file \(CUSTCTL_QUEUE unset\)/],
    [{ CUSTCTL_QUEUE_SCHEMA: 'q', REDIS_URL: 'redis://r:6379' }, /CUSTCTL_QUEUE_SCHEMA is set but the queue is redis/],
    [{ CUSTCTL_QUEUE: 'redis', CUSTCTL_QUEUE_SCHEMA: 'q', CUSTCTL_QUEUE_DATABASE_URL: 'postgres://q@db/jobs' }, /CUSTCTL_QUEUE_DATABASE_URL and CUSTCTL_QUEUE_SCHEMA are set but the queue is redis/],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_DATABASE_URL: 'redis://r:6379' }, /CUSTCTL_QUEUE_DATABASE_URL must start with postgres:\/\//],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_DATABASE_URL: 'db:5432' }, /CUSTCTL_QUEUE_DATABASE_URL (is not a URL|must start)/],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: 'public' }, /CUSTCTL_QUEUE_SCHEMA=public is refused/],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: 'pg_catalog' }, /refused.*PostgreSQL's/],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: 'q; drop table customers' }, /is not a schema name/],
    [{ CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: '1queue' }, /is not a schema name/],
  ])('refuses %j (exit 2)', (env, msg) => {
    expect(() => parseQueueSelection(env)).toThrow(UsageError);
    expect(() => parseQueueSelection(env)).toThrow(msg);
  });

  it('a schema name: plain identifiers up to 63 characters', () => {
    expect(parseQueueSchema('custctl_queue')).toBe('custctl_queue');
    expect(parseQueueSchema('Q_2')).toBe('Q_2');
    expect(() => parseQueueSchema('x'.repeat(64))).toThrow(/at most 63/);
    expect(() => parseQueueSchema('"quoted"')).toThrow(UsageError);
    expect(() => parseQueueSchema('INFORMATION_SCHEMA')).toThrow(/refused/);
  });
});

describe("the PostgreSQL server BullMQ's backend needs", () => {
  it(`is ${MINIMUM_POSTGRES_VERSION} or newer: an older one is refused, naming its version`, () => {
    expect(MINIMUM_POSTGRES_VERSION).toBe(13);
    expect(serverVersionCheck('120017', '12.17 (Debian 12.17-1)')).toEqual({ status: 'fail', detail: "PostgreSQL 12.17 (Debian 12.17-1) is too old for BullMQ's PostgreSQL backend: it needs 13 or newer" });
    expect(serverVersionCheck('90624', '9.6.24')).toMatchObject({ status: 'fail', detail: expect.stringContaining('PostgreSQL 9.6.24 is too old') });
    expect(serverVersionCheck('130014', '13.14')).toEqual({ status: 'warn', detail: 'PostgreSQL 13.14 works; BullMQ recommends 14 or newer' });
    expect(serverVersionCheck('150018', '15.18')).toEqual({ status: 'ok', detail: 'PostgreSQL 15.18' });
    expect(serverVersionCheck('170002', '17.2')).toMatchObject({ status: 'ok' });
    expect(serverVersionCheck('', 'unknown')).toMatchObject({ status: 'fail', detail: expect.stringContaining('did not say its version') });
  });

  it('opening refuses an older server before anything else, naming both versions; a permanent error (no retry helps)', async () => {
    const sql: string[] = [];
    const fake = (num: string, ver: string) => ({
      query: async (text: string) => {
        sql.push(text);
        return { rows: [{ num, ver }] };
      },
    }) as never;
    const err = await assertServerVersion(fake('110022', '11.22'), 'postgres://app@db:5432/billing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toBe("the queue database postgres://app@db:5432/billing: PostgreSQL 11.22 is too old for BullMQ's PostgreSQL backend: it needs 13 or newer");
    expect((err as OperationError).details.join()).toMatch(/PostgreSQL 13 or newer/);
    expect(isPermanent(err)).toBe(true);
    expect(sql).toEqual(["select current_setting('server_version_num') as num, current_setting('server_version') as ver"]);
    await expect(assertServerVersion(fake('160004', '16.4'), 'x')).resolves.toEqual({ status: 'ok', detail: 'PostgreSQL 16.4' });
    await expect(assertServerVersion(fake('130001', '13.1'), 'x')).resolves.toMatchObject({ status: 'warn' });
  });

  it('the runtime grants: schema usage, table rows, sequences, functions; names quoted', () => {
    expect(postgresQueueGrants('custctl_queue', 'custctl_worker')).toEqual([
      'GRANT USAGE ON SCHEMA "custctl_queue" TO custctl_worker;',
      'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "custctl_queue" TO custctl_worker;',
      'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "custctl_queue" TO custctl_worker;',
      'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "custctl_queue" TO custctl_worker;',
    ]);
    expect(postgresQueueGrants('q', 'App-User')[0]).toBe('GRANT USAGE ON SCHEMA "q" TO "App-User";');
    expect(() => postgresQueueGrants('q"; drop', 'x')).toThrow(UsageError);
  });
});
