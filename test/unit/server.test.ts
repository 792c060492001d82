// The queue API over fastify inject(): a real file journal in a temp dir, an in-memory store, the
// real submitDeletion; the processor is a fake (the pipeline has its own tests).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { singleCluster } from '../../src/adapters/clusters.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimResult, CustomerRow, DeploymentStatus, NewCustomer } from '../../src/adapters/store.js';
import { FakeStore } from '../support/fakes.js';
import { buildConfig } from '../../src/config.js';
import { OperationError, UsageError, WaitTimeoutError } from '../../src/errors.js';
import { ReopeningStore, validateServeOptions } from '../../src/commands/serve.js';
import { generateCerts } from '../env/certs.js';
import { get as httpsGet } from 'node:https';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../src/io.js';
import type { JobsEnv } from '../../src/jobs/env.js';
import { submitDeletion } from '../../src/jobs/kinds/delete.js';
import { settle } from '../../src/jobs/kinds/index.js';
import { cancel } from '../../src/jobs/cancel.js';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import type { Job } from '../../src/domain/job.js';
import type { Processor } from '../../src/adapters/queue.js';
import { runJobAttached } from '../../src/jobs/runner.js';
import { buildServer } from '../../src/server/app.js';
import { QUEUED_MESSAGE, QUEUED_NOTE } from '../../src/server/api-routes.js';
import { parseTokensFile, sha256Hex } from '../../src/server/auth.js';

const ADMIN = 'adm1n-T0KEN-for-tests-0123456789';
const VIEWER = 'v1ewer-T0KEN-for-tests-0123456789';
const TOKENS = parseTokensFile(`ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, 'test');
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

/** The shared in-memory store, plus a switch that takes it "down" and a quick way to seed rows. */
class MemoryStore extends FakeStore {
  override readonly description: string = 'memory';
  down = false;
  private n = 0;

  private check() {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5999');
  }
  seed(customerId: string, status: DeploymentStatus, over: Partial<CustomerRow> = {}): CustomerRow {
    const row: CustomerRow = {
      id: ++this.n, customerId, email: `${customerId}@x`, companyName: 'Co', deploymentStatus: status,
      instanceNamespace: `customer-${customerId.slice(5)}`, instanceUrl: 'https://x', deletionJobId: null, previousStatus: null, deletionScheduledAt: null, deletedAt: null,
      createdAt: 'now', updatedAt: 'now', ...over,
    };
    this.rows.set(customerId, row);
    return row;
  }
  override async get(id: string) { this.check(); return super.get(id); }
  override async list() { this.check(); return super.list(); }
  override async add(r: NewCustomer) { this.check(); return this.seed(r.customerId, r.deploymentStatus); }
  override async claimForDeletion(customerId: string, jobId: string, o: { force: boolean; expectJobId?: string }): Promise<ClaimResult> {
    this.check();
    return super.claimForDeletion(customerId, jobId, o);
  }
  override async ping() { this.check(); }
}

let dir: string;
let queue: FileJournal;
let store: MemoryStore;
let app: FastifyInstance;
let logs: string[];
let processor: Processor;
let cleanupCalls: Array<[boolean, string]>;

const log: Logger = {
  info: (m, f) => logs.push(`INFO ${m} ${JSON.stringify(f ?? {})}`),
  ok: (m, f) => logs.push(`OK ${m} ${JSON.stringify(f ?? {})}`),
  warn: (m, f) => logs.push(`WARN ${m} ${JSON.stringify(f ?? {})}`),
  error: (m, f) => logs.push(`ERROR ${m} ${JSON.stringify(f ?? {})}`),
  debug: () => undefined,
};

function build(o: { cleanup?: boolean } = {}) {
  const config = buildConfig({ QUEUE_RETRY_DELAY: '1', QUEUE_MAX_RETRIES: '2' }, {});
  const env: JobsEnv = { queue, store, config, clusters: singleCluster({ kube: async () => { throw new Error('no cluster in unit tests'); }, helm: async () => { throw new Error('no cluster in unit tests'); } }), now: () => Date.now() };
  return buildServer({
    store,
    queue,
    tokens: TOKENS,
    log,
    now: () => Date.now(),
    submit: (customer, requestedBy, extras) => submitDeletion(env, customer, { ...extras, requestedBy }),
    cancel: (target, who) => cancel(env, target, who),
    runSync: async (job: Job) => {
      const final = await runJobAttached(queue, job.id, processor, { worker: 'sync', leaseMs: 30_000, now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
      await settle(env, final);
      return final;
    },
    ...(o.cleanup ? { cleanupRbac: async (dryRun: boolean, by: string) => { cleanupCalls.push([dryRun, by]); return { orphans: [] }; } } : {}),
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custctl-server-'));
  queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
  store = new MemoryStore();
  logs = [];
  cleanupCalls = [];
  processor = async (ctx) => {
    await ctx.progress(25);
    await ctx.log('INFO  helm uninstall customer-x');
    await ctx.progress(100);
    return { outcome: 'deleted', customerId: ctx.job.data.customerId };
  };
  app = build({ cleanup: true });
});
afterEach(async () => {
  await app.close();
  await queue.close();
  await rm(dir, { recursive: true, force: true });
});

describe('DELETE /api/customers/:id (the seed contract)', () => {
  it('200 with the seed shape; the job waits with the token name as requestedBy', async () => {
    store.seed('cust_abc123', 'deployed');
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ message: QUEUED_MESSAGE, customerId: 'cust_abc123', jobId: expect.stringMatching(/^\d+$/), status: 'pending', note: QUEUED_NOTE });
    expect(body.message).toBe('Customer deletion queued successfully');
    const job = await queue.get(body.jobId);
    expect(job).toMatchObject({ name: 'delete', state: 'waiting', requestedBy: 'api:ci-bot', data: { customerId: 'cust_abc123', namespace: 'customer-abc123' } });
    expect(store.rows.get('cust_abc123')).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: body.jobId });
  });

  it('404 not_found for an unknown customer', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_nobody', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: expect.stringContaining('cust_nobody'), details: expect.any(Array) });
  });

  it('400 conflict when already being deleted (the seed says 400), naming the job', async () => {
    store.seed('cust_abc123', 'deployed');
    const first = (await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(ADMIN) })).json();
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'conflict', message: expect.stringContaining(`job ${first.jobId}`) });
    expect((await queue.list()).length).toBe(1);
  });

  it('400 conflict for a customer being deployed; force=true accepts it', async () => {
    store.seed('cust_dep1', 'deploying');
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_dep1', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('conflict');
    const forced = await app.inject({ method: 'DELETE', url: '/api/customers/cust_dep1?force=true', headers: auth(ADMIN) });
    expect(forced.statusCode).toBe(200);
    expect((await queue.get(forced.json().jobId))?.opts.force).toBe(true);
  });

  it.each(['12', 'cust_ABC', 'cust_', 'customer-abc', 'cust_abc%2F..', `cust_${'a'.repeat(45)}`])('400 invalid_id for %s before any work', async (id) => {
    const res = await app.inject({ method: 'DELETE', url: `/api/customers/${id}`, headers: auth(ADMIN) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_id');
    expect(await queue.list()).toEqual([]);
  });

  it('400 invalid_request for a bad query parameter', async () => {
    store.seed('cust_abc123', 'deployed');
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123?force=maybe', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_request', message: 'query parameter force must be true or false' });
  });

  it('500 internal with the store down, without internals in the answer; the log has them', async () => {
    store.seed('cust_abc123', 'deployed');
    store.down = true;
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal', message: 'internal server error (the server log has the details)' });
    expect(logs.join('\n')).toContain('ECONNREFUSED');
  });
});

describe('DELETE /api/customers/:id/deployment (synchronous)', () => {
  it('200 with the result when the job completed', async () => {
    store.seed('cust_abc123', 'deployed');
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123/deployment', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ customerId: 'cust_abc123', jobId: expect.any(String), state: 'completed', progress: 100, result: { outcome: 'deleted' }, failedReason: null });
    expect((await queue.get(res.json().jobId))?.state).toBe('completed');
  });

  it('504 timeout when the last attempt timed out; the row is deletion_failed', async () => {
    store.seed('cust_abc123', 'deployed');
    processor = async () => { throw new WaitTimeoutError('namespace customer-abc123 still Terminating after 5m'); };
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123/deployment', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(504);
    expect(res.json()).toMatchObject({ state: 'failed', error: 'timeout', message: expect.stringContaining('Terminating'), failedReason: expect.stringContaining('Terminating') });
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deletion_failed');
  });

  it('500 internal when it failed otherwise', async () => {
    store.seed('cust_abc123', 'deployed');
    processor = async () => { throw new OperationError('helm uninstall failed'); };
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123/deployment', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ state: 'failed', error: 'internal', message: 'helm uninstall failed' });
  });

  it('404 and 400 like the queued endpoint', async () => {
    expect((await app.inject({ method: 'DELETE', url: '/api/customers/cust_none/deployment', headers: auth(ADMIN) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/customers/42/deployment', headers: auth(ADMIN) })).json().error).toBe('invalid_id');
  });
});

describe('jobs', () => {
  async function queued(id = 'cust_abc123'): Promise<string> {
    store.seed(id, 'deployed');
    return (await app.inject({ method: 'DELETE', url: `/api/customers/${id}`, headers: auth(ADMIN) })).json().jobId;
  }

  it('GET /api/admin/jobs/:id → the job JSON (seed fields and the rest of the schema)', async () => {
    const id = await queued();
    const res = await app.inject({ method: 'GET', url: `/api/admin/jobs/${id}`, headers: auth(VIEWER) });
    expect(res.statusCode).toBe(200);
    const job = res.json();
    expect(job).toMatchObject({ id, state: 'waiting', progress: 0, data: { customerId: 'cust_abc123', namespace: 'customer-abc123' } });
    for (const k of ['name', 'attemptsMade', 'maxAttempts', 'delayUntil', 'failedReason', 'stacktrace', 'returnvalue', 'requestedBy', 'simulated', 'timestamp', 'processedOn', 'finishedOn']) {
      expect(job).toHaveProperty(k);
    }
  });

  it('404 for an unknown job, 400 for a non-numeric id', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/admin/jobs/999', headers: auth(VIEWER) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
    const bad = await app.inject({ method: 'GET', url: '/api/admin/jobs/abc', headers: auth(VIEWER) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('invalid_id');
  });

  it('GET /api/admin/jobs?state= filters; a bad state is 400', async () => {
    const a = await queued('cust_a1');
    await queued('cust_b1');
    const all = await app.inject({ method: 'GET', url: '/api/admin/jobs', headers: auth(VIEWER) });
    expect(all.json().map((j: Job) => j.id)).toHaveLength(2);
    await app.inject({ method: 'POST', url: `/api/admin/jobs/${a}/cancel`, headers: auth(ADMIN) });
    // cancelled is a state of its own: `failed` leaves it out (the job JSON keeps BullMQ's state: failed)
    const cancelled = await app.inject({ method: 'GET', url: '/api/admin/jobs?state=cancelled', headers: auth(VIEWER) });
    expect(cancelled.json().map((j: Job) => [j.id, j.state, j.failedReason])).toEqual([[a, 'failed', 'cancelled']]);
    const failed = await app.inject({ method: 'GET', url: '/api/admin/jobs?state=failed', headers: auth(VIEWER) });
    expect(failed.json()).toEqual([]);
    const byCustomer = await app.inject({ method: 'GET', url: '/api/admin/jobs?customer=cust_b1', headers: auth(VIEWER) });
    expect(byCustomer.json().map((j: Job) => j.data.customerId)).toEqual(['cust_b1']);
    const bad = await app.inject({ method: 'GET', url: '/api/admin/jobs?state=done', headers: auth(VIEWER) });
    expect(bad.statusCode).toBe(400);
  });

  it('cancel: a waiting job → failed cancelled, row back to its status; cancelling again is 409', async () => {
    const id = await queued();
    const res = await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/cancel`, headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, state: 'failed', failedReason: 'cancelled', cancel: { customerId: 'cust_abc123', status: 'deployed', restored: [], deletionStarted: false, cancelledBy: 'api:ci-bot' } });
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
    const again = await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/cancel`, headers: auth(ADMIN) });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('conflict');
  });

  it('retry: a failed job → waiting, row taken back; a waiting job is 409; a row that moved on is 409', async () => {
    store.seed('cust_abc123', 'deployed');
    processor = async () => { throw new OperationError('boom'); };
    const sync = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123/deployment?jobTimeoutMs=60000', headers: auth(ADMIN) });
    const id = sync.json().jobId as string;
    expect(sync.json().state).toBe('failed');
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deletion_failed');
    const res = await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, state: 'waiting', attemptsMade: 0 });
    expect(store.rows.get('cust_abc123')).toMatchObject({ deploymentStatus: 'deleting', deletionJobId: id });
    expect((await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, headers: auth(ADMIN) })).statusCode).toBe(409);

    // cancel it, then the customer is redeployed: a retry must not touch it, and says the job was cancelled
    // (a failed job whose row moved on: test/integration/journal.test.ts, "refusing to retry")
    await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/cancel`, headers: auth(ADMIN) });
    (store.rows.get('cust_abc123') as CustomerRow).deploymentStatus = 'deployed';
    const stale = await app.inject({ method: 'POST', url: `/api/admin/jobs/${id}/retry`, headers: auth(ADMIN) });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().message).toBe(`job ${id} was cancelled: a cancelled job is not retried`);
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
  });
});

describe('customers, cleanup-rbac, health', () => {
  it('GET /api/customers/:id → row and jobs; 404; 400', async () => {
    store.seed('cust_abc123', 'deployed');
    const res = await app.inject({ method: 'GET', url: '/api/customers/cust_abc123', headers: auth(VIEWER) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ customer: { customerId: 'cust_abc123', deploymentStatus: 'deployed' }, jobs: [] });
    expect((await app.inject({ method: 'GET', url: '/api/customers/cust_zzz', headers: auth(VIEWER) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/api/customers/7', headers: auth(VIEWER) })).json().error).toBe('invalid_id');
  });

  it('POST /api/admin/cleanup-rbac?dryRun=true calls the sweep with the token name; 501 without one', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/admin/cleanup-rbac?dryRun=true', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ dryRun: true, result: { orphans: [] } });
    expect(cleanupCalls).toEqual([[true, 'api:ci-bot']]);
    await app.close();
    app = build({ cleanup: false });
    const none = await app.inject({ method: 'POST', url: '/api/admin/cleanup-rbac?dryRun=true', headers: auth(ADMIN) });
    expect(none.statusCode).toBe(501);
    expect(none.json().error).toBe('internal');
  });

  it('/healthz needs no token and shows no data; /readyz checks store and queue', async () => {
    const h = await app.inject({ method: 'GET', url: '/healthz' });
    expect(h.statusCode).toBe(200);
    expect(h.json()).toEqual({ status: 'ok' });
    const r = await app.inject({ method: 'GET', url: '/readyz', headers: auth(VIEWER) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'ready', queue: 'file' });
    store.down = true;
    const down = await app.inject({ method: 'GET', url: '/readyz', headers: auth(VIEWER) });
    expect(down.statusCode).toBe(500);
    expect(down.json()).toMatchObject({ error: 'internal', message: expect.stringContaining('store') });
  });

  it('unknown endpoints are 404 JSON', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/nothing', headers: auth(ADMIN) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('not_found');
  });
});

describe('auth matrix', () => {
  const endpoints: Array<{ method: 'GET' | 'POST' | 'DELETE'; url: string; role: 'admin' | 'viewer' }> = [
    { method: 'DELETE', url: '/api/customers/cust_abc123', role: 'admin' },
    { method: 'DELETE', url: '/api/customers/cust_abc123/deployment', role: 'admin' },
    { method: 'GET', url: '/api/customers/cust_abc123', role: 'viewer' },
    { method: 'GET', url: '/api/admin/jobs', role: 'viewer' },
    { method: 'GET', url: '/api/admin/jobs/1', role: 'viewer' },
    { method: 'POST', url: '/api/admin/jobs/1/retry', role: 'admin' },
    { method: 'POST', url: '/api/admin/jobs/1/cancel', role: 'admin' },
    { method: 'POST', url: '/api/admin/cleanup-rbac?dryRun=true', role: 'admin' },
    { method: 'GET', url: '/readyz', role: 'viewer' },
    { method: 'GET', url: '/api/admin/audit', role: 'viewer' },
  ];

  it.each(endpoints)('$method $url: no token 401, wrong token 401, viewer ok only for reads, admin passes', async ({ method, url, role }) => {
    store.seed('cust_abc123', 'deployed');
    const none = await app.inject({ method, url });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json().error).toBe('unauthorized');

    const wrong = await app.inject({ method, url, headers: auth('not-a-token-at-all-0000000000') });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('unauthorized');

    const basic = await app.inject({ method, url, headers: { authorization: `Basic ${ADMIN}` } });
    expect(basic.statusCode).toBe(401);

    const viewer = await app.inject({ method, url, headers: auth(VIEWER) });
    if (role === 'admin') {
      expect(viewer.statusCode).toBe(403);
      expect(viewer.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining('grafana') });
    } else {
      expect([200, 404]).toContain(viewer.statusCode);
    }
    const admin = await app.inject({ method, url, headers: auth(ADMIN) });
    expect([200, 404, 409]).toContain(admin.statusCode);

    expect(await queue.list().then((js) => js.every((j) => j.requestedBy === 'api:ci-bot'))).toBe(true);
  });

  it('auth comes before validation: a bad id without a token is 401, and refused requests do no work', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/12' });
    expect(res.statusCode).toBe(401);
    store.seed('cust_abc123', 'deployed');
    await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(VIEWER) });
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
    expect(await queue.list()).toEqual([]);
  });

  it('the tokens never appear in logs, answers or the journal; the token name does', async () => {
    store.seed('cust_abc123', 'deployed');
    const answers: string[] = [];
    for (const t of [ADMIN, VIEWER, 'garbage-token-value-123456789']) {
      for (const [method, url] of [['DELETE', '/api/customers/cust_abc123'], ['DELETE', '/api/customers/cust_abc123/deployment'], ['GET', '/api/admin/jobs'], ['GET', '/readyz']] as const) {
        const res = await app.inject({ method, url, headers: auth(t) });
        answers.push(res.body, JSON.stringify(res.headers));
      }
    }
    const journal: string[] = [];
    const walk = async (p: string): Promise<void> => {
      for (const e of await readdir(p, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(p, e.name));
        else journal.push(await readFile(join(p, e.name), 'utf8'));
      }
    };
    await walk(dir);
    const all = [...logs, ...answers, ...journal].join('\n');
    for (const t of [ADMIN, VIEWER, 'garbage-token-value-123456789', sha256Hex(ADMIN)]) expect(all).not.toContain(t);
    expect(logs.join('\n')).toContain('"by":"ci-bot"');
    expect(journal.join('\n')).toContain('api:ci-bot');
  });
});

describe('GET /api/admin/audit', () => {
  it('viewer reads the rows API actions wrote, under the token NAME; filters; refusals are 400', async () => {
    store.seed('cust_abc123', 'deployed');
    store.seed('cust_other1', 'deployed');
    const del = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123', headers: auth(ADMIN) });
    expect(del.statusCode).toBe(200);
    const jobId = del.json().jobId as string;
    expect((await app.inject({ method: 'POST', url: `/api/admin/jobs/${jobId}/cancel`, headers: auth(ADMIN) })).statusCode).toBe(200);
    await app.inject({ method: 'DELETE', url: '/api/customers/cust_other1', headers: auth(ADMIN) });

    const res = await app.inject({ method: 'GET', url: '/api/admin/audit?customer=cust_abc123', headers: auth(VIEWER) });
    expect(res.statusCode).toBe(200);
    const rows = res.json() as Array<{ action: string; actor: string; jobId: string; rowStatus: string | null }>;
    // one row for the cancel, in the row's transaction, naming who cancelled and the status the row went back to
    expect(rows.map((r) => r.action)).toEqual(['deletion-cancelled', 'deletion-accepted']);
    expect(rows.every((r) => r.jobId === jobId)).toBe(true);
    expect(rows.find((r) => r.action === 'deletion-cancelled')).toMatchObject({ actor: 'api:ci-bot', rowStatus: 'deployed' });
    expect(rows.find((r) => r.action === 'deletion-accepted')).toMatchObject({ actor: 'api:ci-bot', rowStatus: 'deleting' });
    expect(res.body).not.toContain(ADMIN);

    const only = await app.inject({ method: 'GET', url: '/api/admin/audit?action=deletion-accepted&since=1h', headers: auth(VIEWER) });
    expect((only.json() as Array<{ customerId: string }>).map((r) => r.customerId)).toEqual(['cust_other1', 'cust_abc123']);
    for (const q of ['action=nonsense', 'since=yesterday', 'limit=0', 'customer=12']) {
      const bad = await app.inject({ method: 'GET', url: `/api/admin/audit?${q}`, headers: auth(VIEWER) });
      expect(bad.statusCode, q).toBe(400);
    }
  });
});

describe('serve options, TLS and the reopening store', () => {
  it.each([
    ['127.0.0.1', {}, null],
    ['127.0.0.2', {}, null],
    ['localhost', {}, null],
    ['::1', {}, null],
    ['0.0.0.0', {}, /refusing to serve plain HTTP on 0.0.0.0/],
    ['10.1.2.3', {}, /refusing to serve plain HTTP/],
    ['0.0.0.0', { insecureHttp: true }, null],
    ['0.0.0.0', { tlsCert: 'c.pem', tlsKey: 'k.pem' }, null],
    ['127.0.0.1', { tlsCert: 'c.pem' }, /--tls-cert and --tls-key go together/],
  ] as const)('host %s %j', (host, extra, error) => {
    const o = { port: 3100, host, worker: true, concurrency: 4, insecureHttp: false, ...extra };
    if (error) expect(() => validateServeOptions(o)).toThrow(error);
    else expect(() => validateServeOptions(o)).not.toThrow();
    if (error) expect(() => validateServeOptions(o)).toThrow(UsageError);
  });

  it('serves HTTPS with --tls-cert/--tls-key', async () => {
    const certs = await generateCerts(join(dir, 'certs'));
    const https = { cert: await readFile(certs.serving.cert), key: await readFile(certs.serving.key) };
    const tls = buildServer({ store, queue, tokens: TOKENS, log, now: () => Date.now(), https, submit: async () => { throw new Error('unused'); }, runSync: async (j) => j });
    await tls.listen({ port: 0, host: '127.0.0.1' });
    try {
      const addr = tls.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const body = await new Promise<string>((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(certs.caCert) }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => { b += c.toString(); });
          res.on('end', () => resolve(b));
        }).on('error', reject);
      });
      expect(JSON.parse(body)).toEqual({ status: 'ok' });
    } finally {
      await tls.close();
    }
  });

  it('ReopeningStore: a failed open is retried on the next call (serve starts while the database is down)', async () => {
    let opens = 0;
    const s = new ReopeningStore(async () => {
      opens += 1;
      if (opens === 1) throw new OperationError('cannot connect to PostgreSQL at 127.0.0.1:5999');
      return store;
    }, 'PostgreSQL (not connected yet)', 'postgres');
    expect(s.description).toBe('PostgreSQL (not connected yet)');
    await expect(s.ping()).rejects.toThrow(/cannot connect/);
    store.seed('cust_abc123', 'deployed');
    expect((await s.get('cust_abc123'))?.deploymentStatus).toBe('deployed');
    expect(s.description).toBe('memory');
    expect(opens).toBe(2);
  });
});

describe('?after= (a retention period)', () => {
  it('outside 0 | 1h…400d: 400, nothing claimed, no job id allocated', async () => {
    store.seed('cust_abc123', 'deployed');
    for (const after of ['500d', '30m', '0.0000001s', '1e3d', '7']) {
      const res = await app.inject({ method: 'DELETE', url: `/api/customers/cust_abc123?after=${encodeURIComponent(after)}`, headers: auth(ADMIN) });
      expect(res.statusCode, after).toBe(400);
      expect(res.json().error).toBe('invalid_request');
      expect(res.json().message).toMatch(/^query parameter after .*give 0 \(now\) or from 1h to 400d/);
    }
    expect(store.rows.get('cust_abc123')?.deploymentStatus).toBe('deployed');
    expect(await queue.list()).toEqual([]);
    // the next accepted deletion gets the first id: none was used up by the refusals
    const ok = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc123?after=0', headers: auth(ADMIN) });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ jobId: '1', status: 'pending' });
  });
});
