// What an account owner is shown: the owner view of a job and of an error (src/service/policy.ts),
// and that the table of routes the owner tests walk (test/support/owner-routes.ts) names every
// route the server registers, so a new route cannot escape them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFileJournal } from '../../src/adapters/file-journal.js';
import type { Job } from '../../src/domain/job.js';
import type { Logger } from '../../src/io.js';
import { errorForOwner, jobForOwner, OPERATOR, scrub } from '../../src/service/policy.js';
import { buildServer } from '../../src/server/app.js';
import { parseTokensFile, sha256Hex } from '../../src/server/auth.js';
import { FakeStore } from '../support/fakes.js';
import { OWNER_ROUTES } from '../support/owner-routes.js';

/** `METHOD /path` of every route in fastify's printRoutes tree (one segment a line, four columns a level). */
function registered(tree: string): Set<string> {
  const out = new Set<string>();
  const at: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = Math.floor((m[1] ?? '').length / 4);
    at[depth] = (depth > 0 ? at[depth - 1] ?? '' : '') + (m[2] ?? '');
    at.length = depth + 1;
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter((x) => x && x !== 'HEAD')) out.add(`${method} ${at[depth]}`);
  }
  return out;
}

const log: Logger = { info: () => undefined, ok: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

describe('the routes the owner tests walk', () => {
  it('are every route serve registers (API and console), each once per method', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'custctl-owner-routes-'));
    const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
    const app = buildServer({
      store: new FakeStore(), queue, tokens: parseTokensFile(`a:admin:${sha256Hex('x'.repeat(20))}\n`, 'test'), log, now: () => Date.now(),
      submit: async () => { throw new Error('unused'); },
      runSync: async (j) => j,
      cancel: async () => { throw new Error('unused'); },
      cleanupRbac: async () => ({}),
      metrics: { contentType: 'text/plain', text: async () => '' },
      deliveries: async () => [],
      console: { plan: async () => { throw new Error('unused'); } },
    });
    try {
      await app.ready();
      const routes = registered(app.printRoutes({ commonPrefix: false }));
      expect(routes.size).toBeGreaterThan(20);
      const table = new Set(OWNER_ROUTES.map((r) => `${r.method} ${r.route}`));
      expect([...routes].filter((r) => !table.has(r)), 'routes missing from test/support/owner-routes.ts').toEqual([]);
      expect([...table].filter((r) => !routes.has(r)), 'table entries no route matches').toEqual([]);
    } finally {
      await app.close();
      await queue.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const job: Job = {
  id: '12', name: 'delete', state: 'failed', progress: 40,
  data: { customerId: 'cust_own1', namespace: 'customer-own1', namespaceUid: 'uid-1', from: '/srv/backups/secret-path', identityFile: '/etc/custctl/age.key' },
  opts: { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 60_000, backupUrl: 's3://site-backups/prefix', backupRecipients: ['age1xyz'], snapshotClass: 'retain-class' },
  attemptsMade: 1, maxAttempts: 3, delayUntil: null,
  failedReason: 'cannot reach the Kubernetes API at https://10.0.0.1:6443 (context prod-eu): ECONNREFUSED',
  failedCode: 'internal',
  stacktrace: ['Error: boom\n    at run (/app/dist/pipeline/run.js:12:3)'],
  returnvalue: { outcome: 'deleted', customerId: 'cust_own1', backup: { url: 's3://site-backups/prefix/x.tar.gz', bytes: 1 }, warnings: ['db postgres://u@db:5432/x slow'] },
  requestedBy: 'api:ops-admin', simulated: false, timestamp: 1, processedOn: 2, finishedOn: 3,
  attempts: [{ attempt: 1, startedOn: 2, finishedOn: 3, worker: '4242@node-7', outcome: 'failed', error: 'at /app/dist/x.js:1', log: ['2026-01-01T00:00:00Z context prod-eu https://10.0.0.1:6443'] }],
  lease: { owner: '4242@node-7', pid: 4242, host: 'node-7', expiresAt: 9 },
};

describe('jobForOwner', () => {
  it('keeps the job\'s schema and its progress; leaves out the worker, logs, errors, backup and cluster of the site', () => {
    const v = jobForOwner(job, 'portal');
    expect(v).toMatchObject({ id: '12', state: 'failed', progress: 40, attemptsMade: 1, maxAttempts: 3, failedCode: 'internal', data: { customerId: 'cust_own1', namespace: 'customer-own1' } });
    expect(v.requestedBy).toBe(OPERATOR);
    expect(v.lease).toBeNull();
    expect(v.stacktrace).toEqual([]);
    expect(v.attempts).toEqual([{ attempt: 1, startedOn: 2, finishedOn: 3, worker: '', outcome: 'failed', log: [] }]);
    const text = JSON.stringify(v);
    for (const secret of ['10.0.0.1', 'prod-eu', '4242', 'node-7', 'site-backups', 'ops-admin', 'postgres://', '/app/dist', '/srv/backups', 'age.key', 'age1xyz', 'retain-class']) {
      expect(text, secret).not.toContain(secret);
    }
    expect(v.returnvalue).toEqual({ outcome: 'deleted', customerId: 'cust_own1', backup: { written: true } });
  });

  it('its own requests keep their token\'s name; a cancelled job says cancelled', () => {
    const v = jobForOwner({ ...job, requestedBy: 'api:portal', failedReason: 'cancelled' }, 'portal');
    expect(v.requestedBy).toBe('api:portal');
    expect(v.failedReason).toBe('cancelled');
  });
});

describe('errorForOwner', () => {
  const secrets = ['postgres://u@db:5432/x', 'ops-admin', 'prod-eu', 'https://10.0.0.1:6443'];
  it.each([
    ['not_found', 'customer cust_a not found in postgres://u@db:5432/x', 'customer cust_a not found'],
    ['internal', 'cannot reach https://10.0.0.1:6443', 'the server could not do this now; the operators have the details'],
    ['timeout', 'waited 5m for namespace customer-a', 'the server could not do this now; the operators have the details'],
    ['conflict', 'customer cust_a is already being deleted by job 12 (delayed), asked by ops-admin', 'customer cust_a is already being deleted by job 12 (delayed), asked by …'],
    ['usage', "an account owner's deletion waits at least 7d", "an account owner's deletion waits at least 7d"],
  ] as const)('%s: %s → %s', (name, message, shown) => {
    expect(errorForOwner(name, message, 'customer cust_a not found', secrets)).toEqual({ message: shown, details: [] });
  });

  it('scrub takes out whole words only: a token named ops leaves "stops" alone', () => {
    expect(scrub('ops stopped: ops. (ops) stops', ['ops'])).toBe('… stopped: …. (…) stops');
  });
});

describe('an owner\'s own row', () => {
  it('leaves out which cluster holds it; an admin sees it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'custctl-owner-row-'));
    const queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
    const store = new FakeStore();
    const row = await store.add({ customerId: 'cust_own1', email: 'o@x', companyName: 'Own', deploymentStatus: 'deployed', instanceNamespace: 'customer-own1', instanceUrl: '' });
    store.rows.set('cust_own1', { ...row, cluster: 'eu-prod-7' });
    const ownerToken = 'owner-T0KEN-for-tests-0123456789';
    const adminToken = 'adm1n-T0KEN-for-tests-0123456789';
    const app = buildServer({
      store, queue, log, now: () => Date.now(),
      tokens: parseTokensFile(`portal:owner:cust_own1:${sha256Hex(ownerToken)}\nops:admin:${sha256Hex(adminToken)}\n`, 'test'),
      submit: async () => { throw new Error('unused'); },
      runSync: async (j) => j,
      metrics: { contentType: 'text/plain', text: async () => '' },
      deliveries: async () => [],
    });
    try {
      const get = (url: string, token: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
      const one = await get('/api/customers/cust_own1', ownerToken);
      expect(one.statusCode).toBe(200);
      expect(one.json().customer).toMatchObject({ customerId: 'cust_own1', deploymentStatus: 'deployed' });
      expect(one.json().customer).not.toHaveProperty('cluster');
      expect(one.body).not.toContain('eu-prod-7');
      const list = await get('/api/customers', ownerToken);
      expect(list.json()).toHaveLength(1);
      expect(list.body).not.toContain('eu-prod-7');
      expect((await get('/api/customers/cust_own1', adminToken)).json().customer.cluster).toBe('eu-prod-7');
      expect((await get('/api/customers', adminToken)).json()[0].cluster).toBe('eu-prod-7');
    } finally {
      await app.close();
      await queue.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
