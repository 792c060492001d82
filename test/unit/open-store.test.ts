import { describe, expect, it } from 'vitest';
import { chooseStore, embeddedStoreDir, openStore, storeConfigured } from '../../src/adapters/open-store.js';
import { pgTarget } from '../../src/adapters/store-pg.js';
import { UsageError } from '../../src/errors.js';

describe('storeConfigured', () => {
  it.each<[Record<string, string | undefined>, boolean]>([
    [{}, false],
    [{ DATABASE_URL: '' }, false],
    [{ PGPASSWORD: 'x', PGPORT: '5433' }, false],
    [{ DATABASE_URL: 'postgres://u@h/d' }, true],
    [{ PGHOST: 'db.internal' }, true],
    [{ PGDATABASE: 'billing' }, true],
    [{ PGUSER: 'billing' }, true],
  ])('%j → %s', (env, expected) => {
    expect(storeConfigured(env)).toBe(expected);
  });
});

describe('chooseStore', () => {
  it.each<['auto' | 'embedded' | 'postgres', Record<string, string>, string | undefined, boolean, 'embedded' | 'postgres']>([
    ['embedded', { DATABASE_URL: 'postgres://u@h/d' }, undefined, false, 'embedded'],
    ['postgres', {}, undefined, false, 'postgres'],
    ['auto', { DATABASE_URL: 'postgres://u@h/d' }, undefined, true, 'postgres'],
    ['auto', { PGHOST: 'h' }, undefined, false, 'postgres'],
    ['auto', {}, 'postgres://u@h/d', false, 'postgres'],
    ['auto', {}, undefined, true, 'embedded'],
  ])('store %s, env %j, url %s, simulate %s → %s', (store, env, databaseUrl, simulate, expected) => {
    expect(chooseStore({ store, env, simulate, ...(databaseUrl ? { databaseUrl } : {}) })).toBe(expected);
  });

  it('auto, no database, a real run: a UsageError that says how to configure one', async () => {
    const cfg = { store: 'auto' as const, env: {}, simulate: false, stateDir: '/nonexistent' };
    expect(() => chooseStore(cfg)).toThrow(UsageError);
    const err = await openStore(cfg).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const text = [(err as UsageError).message, ...(err as UsageError).details].join('\n');
    expect(text).toContain('DATABASE_URL=postgres://');
    expect(text).toContain('PG');
    expect(text).toContain('--store embedded');
    expect(text).toContain('SIMULATE_K8S_DEPLOYMENT=true');
  });

  it('the embedded store lives in <stateDir>/embedded-pg', () => {
    expect(embeddedStoreDir('/var/lib/custctl')).toBe('/var/lib/custctl/embedded-pg');
  });
});

describe('pgTarget', () => {
  it('a URL: description without the password; missing parts filled from the given env, not process.env', () => {
    const t = pgTarget({ env: { DATABASE_URL: 'postgres://bob:s3cret@db.internal:6543/billing?sslmode=require' } });
    expect(t.description).toBe('postgres://bob@db.internal:6543/billing');
    expect(t.source).toBe('DATABASE_URL');
    expect(t.sslMode).toBe('require');
    expect(t.config).toMatchObject({ host: 'db.internal', port: 6543, user: 'bob', password: 's3cret', database: 'billing' });
    expect(t.config.connectionString).toBeUndefined();

    const filled = pgTarget({ env: { DATABASE_URL: 'postgres://db.internal', PGUSER: 'alice', PGPASSWORD: 'pw', PGDATABASE: 'billing' } });
    expect(filled.description).toBe('postgres://alice@db.internal:5432/billing');
    expect(filled.config).toMatchObject({ host: 'db.internal', port: 5432, user: 'alice', password: 'pw', database: 'billing' });
  });

  it('an explicit connection string beats DATABASE_URL', () => {
    const t = pgTarget({ connectionString: 'postgresql://x@h1:1/a', env: { DATABASE_URL: 'postgres://y@h2:2/b' } });
    expect(t.description).toBe('postgres://x@h1:1/a');
    expect(t.source).toBe('the database URL');
  });

  it('PG* variables', () => {
    const t = pgTarget({ env: { PGHOST: 'h', PGPORT: '5433', PGUSER: 'u', PGPASSWORD: 'p', PGDATABASE: 'd', PGSSLMODE: 'no-verify' } });
    expect(t.description).toBe('postgres://u@h:5433/d');
    expect(t.config).toMatchObject({ host: 'h', port: 5433, user: 'u', password: 'p', database: 'd', max: 10 });
    // pg's `no-verify` is libpq's `require`: encrypted, the certificate not checked
    expect(t.sslMode).toBe('require');
    expect(pgTarget({ env: { PGUSER: 'u' } }).description).toBe('postgres://u@localhost:5432/u');
  });

  it.each([
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }, /DATABASE_URL is not a valid URL/],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://u:pw@h/d' }, /must start with postgres:\/\//],
    ['PGPORT', { PGHOST: 'h', PGPORT: 'abc' }, /PGPORT port 'abc'/],
  ])('a bad %s is a UsageError that does not echo a password', (_name, env, re) => {
    let err: unknown;
    try {
      pgTarget({ env });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('pw');
  });
});
