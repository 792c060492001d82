// The console's sessions and CSRF handling: the SessionStore and checks alone, then the console's
// routes over fastify inject() with a real file journal, an in-memory store and the real
// submitDeletion (the browser test, test/integration/console.test.ts, drives the real thing).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CustomerRow, DeploymentStatus } from '../../src/adapters/store.js';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import { buildConfig } from '../../src/config.js';
import type { Logger } from '../../src/io.js';
import type { JobsEnv } from '../../src/jobs/env.js';
import { submitDeletion } from '../../src/jobs/kinds/delete.js';
import { buildServer } from '../../src/server/app.js';
import { parseTokensFile, sha256Hex } from '../../src/server/auth.js';
import { CONTENT_SECURITY_POLICY } from '../../src/server/console/index.js';
import { esc, html } from '../../src/server/console/html.js';
import { csrfMatches, sameOrigin, SessionStore } from '../../src/server/console/session.js';
import { FakeStore } from '../support/fakes.js';
import { generateCerts } from '../env/certs.js';

describe('SessionStore', () => {
  const principal = { name: 'ci-bot', role: 'admin' as const };

  it('a new session has a random id and CSRF token (256 bits each, different), found by its id only', () => {
    let t = 0;
    const s = new SessionStore(() => t);
    const a = s.create(principal);
    const b = s.create(principal);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.session.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.id).not.toBe(b.id);
    expect(a.session.csrf).not.toBe(a.id);
    expect(s.get(a.id)?.principal).toEqual(principal);
    expect(s.get(`${a.id}x`)).toBeNull();
    expect(s.get(undefined)).toBeNull();
    expect(s.get('')).toBeNull();
  });

  it('ends after the idle limit without use; every use renews it, up to the absolute limit', () => {
    let t = 1_000;
    const s = new SessionStore(() => t, { idleMs: 100, absoluteMs: 250, max: 10 });
    const { id } = s.create(principal);
    t += 99;
    expect(s.get(id)).not.toBeNull(); // renewed at 1099
    t += 99;
    expect(s.get(id)).not.toBeNull(); // 1198
    t += 100;
    expect(s.get(id)).toBeNull(); // idle 100: gone
    expect(s.size).toBe(0);

    const busy = s.create(principal).id; // at 1298
    for (let i = 0; i < 4; i++) {
      t += 60;
      expect(s.get(busy), `after ${(i + 1) * 60} ms`).not.toBeNull();
    }
    t += 10; // 250 after sign-in, although used 10 ms ago
    expect(s.get(busy)).toBeNull();
  });

  it('destroy (sign-out) ends it at once; at most `max` sessions, the least recently used dropped first', () => {
    const s = new SessionStore(() => 0, { idleMs: 1_000, absoluteMs: 10_000, max: 2 });
    const a = s.create(principal).id;
    const b = s.create(principal).id;
    expect(s.get(a)).not.toBeNull(); // a is now the most recently used
    const c = s.create(principal).id;
    expect(s.size).toBe(2);
    expect(s.get(b)).toBeNull();
    expect(s.get(a)).not.toBeNull();
    s.destroy(c);
    expect(s.get(c)).toBeNull();
  });

  it('keeps no session id in memory (only its SHA-256): the map keys are not cookie values', () => {
    const s = new SessionStore(() => 0);
    const { id } = s.create(principal);
    const keys = [...(s as unknown as { sessions: Map<string, unknown> }).sessions.keys()];
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toBe(id);
    expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('CSRF and same-origin checks', () => {
  it.each([
    ['the token', 'tok-123', true],
    ['another token of the same length', 'tok-124', false],
    ['a prefix', 'tok-12', false],
    ['nothing', undefined, false],
    ['an empty string', '', false],
    ['an array (repeated header)', ['tok-123'], false],
  ])('csrfMatches with %s → %s', (_what, sent, ok) => {
    expect(csrfMatches({ csrf: 'tok-123' }, sent)).toBe(ok);
  });

  it.each([
    [{ host: 'h:1', origin: 'http://h:1', 'sec-fetch-site': 'same-origin' }, 'http', true],
    [{ host: 'h:1' }, 'http', true],
    [{ host: 'h:1', 'sec-fetch-site': 'none' }, 'http', true],
    [{ host: 'h:1', origin: 'http://evil.example' }, 'http', false],
    [{ host: 'h:1', origin: 'https://h:1' }, 'http', false],
    [{ host: 'h:1', 'sec-fetch-site': 'cross-site' }, 'http', false],
    [{ host: 'h:1', 'sec-fetch-site': 'same-site', origin: 'http://h:1' }, 'http', false],
    [{ origin: 'http://h:1' }, 'http', false],
  ] as const)('sameOrigin(%j, %s) → %s', (headers, scheme, ok) => {
    expect(sameOrigin(headers, scheme)).toBe(ok);
  });

  it('html escapes every interpolation, arrays and nested html are not escaped twice', () => {
    const name = `<script>alert("x")</script>&'`;
    expect(html`<p title="${name}">${name}</p>`.text).toBe(`<p title="${esc(name)}">${esc(name)}</p>`);
    expect(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.text).toBe('<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
    expect(esc(name)).not.toMatch(/[<>"']/);
  });
});

// ---- the console's routes ----------------------------------------------------------------------

const ADMIN = 'adm1n-T0KEN-for-console-0123456789';
const VIEWER = 'v1ewer-T0KEN-for-console-0123456789';
const OWNER = '0wner-T0KEN-for-console-0123456789';
const TOKENS = parseTokensFile(`ci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\nportal:owner:cust_own1:${sha256Hex(OWNER)}\n`, 'test');
const ORIGIN = 'http://localhost:80';

let dir: string;
let queue: FileJournal;
let store: FakeStore;
let app: FastifyInstance;
let submits: string[];
let plans: string[];
const log: Logger = { info: () => undefined, ok: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

function seed(customerId: string, status: DeploymentStatus = 'deployed', over: Partial<CustomerRow> = {}): void {
  store.rows.set(customerId, {
    id: store.rows.size + 1, customerId, email: `${customerId}@x`, companyName: `Co ${customerId}`, deploymentStatus: status,
    instanceNamespace: `customer-${customerId.slice(5)}`, instanceUrl: 'https://x', deletionJobId: null, previousStatus: null,
    deletionScheduledAt: null, deletedAt: null, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', ...over,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'custctl-console-'));
  queue = await openFileJournal({ dir: join(dir, 'journal'), worker: 'test' });
  store = new FakeStore();
  submits = [];
  plans = [];
  const config = buildConfig({ QUEUE_RETRY_DELAY: '1' }, {});
  const env: JobsEnv = { queue, store, config, cluster: async () => { throw new Error('no cluster in unit tests'); }, now: () => Date.now() };
  app = buildServer({
    store, queue, tokens: TOKENS, log, now: () => Date.now(),
    submit: async (customer, requestedBy, extras) => {
      submits.push(`${customer.id} ${requestedBy} ${JSON.stringify(extras)}`);
      return submitDeletion(env, customer, { ...extras, requestedBy });
    },
    runSync: async (j) => j,
    retention: { defaultMs: 0, ownerMinMs: 7 * 86_400_000 },
    console: {
      plan: async (customer) => {
        plans.push(customer.id);
        return {
          target: { context: 'ctx-a', server: 'https://127.0.0.1:6443', database: 'postgres://u@db/x' },
          plan: {
            customerId: customer.id, namespace: `customer-${customer.key}`, simulated: false,
            row: { status: 'deployed', instanceNamespace: '', instanceUrl: '', change: 'deployment_status deployed → deleting → pending' },
            namespaceFound: true, objects: [{ resource: 'configmaps', kind: 'ConfigMap', count: 3 }], releases: [{ name: `customer-${customer.key}`, status: 'deployed', chart: 'customer-instance-1.0.0', clusterScoped: [], outsideNamespace: [], clusterRbac: [], removal: 'namespace', why: 'no delete hooks', unreadable: [] }],
            pvcs: [{ name: 'data', phase: 'Bound', storage: '1Gi', volume: 'pv-1', reclaimPolicy: 'Delete', dataLoss: 'volume and data deleted', coverage: 'not-covered', coverageNote: 'NOT covered: the data is lost when the namespace is deleted' }],
            rbac: { delete: [{ kind: 'ClusterRole', name: `c${customer.key}-customer-instance-opencost`, rule: 'name' }], keptByPolicy: [], keptUnowned: [] },
            backup: null,
          },
        };
      },
    },
  });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await queue.close();
  await rm(dir, { recursive: true, force: true });
});

const form = (fields: Record<string, string>) => ({ 'content-type': 'application/x-www-form-urlencoded', payload: new URLSearchParams(fields).toString() });

/** Signs in with a token: the session cookie (name=value) and the CSRF token of its pages. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const { payload, ...headers } = form({ token, next: '/' });
  const res = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: ORIGIN, host: 'localhost:80' }, payload });
  expect(res.statusCode, res.body).toBe(303);
  const setCookie = String(res.headers['set-cookie']);
  const cookie = setCookie.split(';')[0] as string;
  const page = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1];
  expect(csrf).toBeTruthy();
  return { cookie, csrf: csrf as string, setCookie };
}

async function post(url: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const { payload, ...h } = form(fields);
  return app.inject({ method: 'POST', url, headers: { ...h, cookie, ...headers }, payload });
}

describe('console: sign-in, session cookie, sign-out', () => {
  it('without a session every page sends the browser to sign in; a POST is 401; nothing needs a token in the page', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/jobs?state=failed' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/console/login?next=${encodeURIComponent('/console/jobs?state=failed')}`);
    seed('cust_abc1');
    expect((await post('/console/customers/cust_abc1/delete', '', { confirm: 'cust_abc1' })).statusCode).toBe(401);
    expect(submits).toEqual([]);
    const login = await app.inject({ method: 'GET', url: '/console/login' });
    expect(login.statusCode).toBe(200);
    expect(login.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(login.body).toContain('type="password"');
  });

  it('a known token gets an HttpOnly, SameSite=Strict session cookie (not Secure over plain HTTP) that holds no token', async () => {
    const { setCookie, cookie } = await signIn(ADMIN);
    expect(setCookie).toMatch(/^custctl_session=[A-Za-z0-9_-]{43}; Max-Age=1800; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ADMIN);
    const page = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
    expect(page.body).not.toContain(ADMIN);
    expect(page.body).toContain('ci-bot');
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['x-frame-options']).toBe('DENY');
  });

  it('under TLS the cookie is also Secure and named __Host- (sent only over HTTPS, to this host, for every path)', async () => {
    const certs = await generateCerts(join(dir, 'certs'));
    const https = { cert: await readFile(certs.serving.cert), key: await readFile(certs.serving.key) };
    const tls = buildServer({ store, queue, tokens: TOKENS, log, now: () => Date.now(), https, submit: async () => { throw new Error('unused'); }, runSync: async (j) => j, console: { plan: async () => { throw new Error('unused'); } } });
    try {
      const { payload, ...headers } = form({ token: ADMIN });
      const res = await tls.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: 'https://localhost:80', host: 'localhost:80' }, payload });
      expect(res.statusCode).toBe(303);
      expect(String(res.headers['set-cookie'])).toMatch(/^__Host-custctl_session=[A-Za-z0-9_-]{43}; Max-Age=1800; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
      expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
      // a plain-http origin is another origin
      const other = await tls.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: 'http://localhost:80', host: 'localhost:80' }, payload });
      expect(other.statusCode).toBe(403);
    } finally {
      await tls.close();
    }
  }, 60_000); // openssl makes the certificates: slow on a loaded machine

  it('an unknown token is 401 with no cookie; a sign-in from another origin is 403', async () => {
    const { payload, ...headers } = form({ token: 'not-a-token-0123456789' });
    const res = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: ORIGIN, host: 'localhost:80' }, payload });
    expect(res.statusCode).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('Unknown or wrong API token');
    const cross = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: 'http://evil.example', host: 'localhost:80' }, payload: new URLSearchParams({ token: ADMIN }).toString() });
    expect(cross.statusCode).toBe(403);
    expect(cross.headers['set-cookie']).toBeUndefined();
  });

  it('after sign-in only a local path is followed (never //host or a URL)', async () => {
    for (const [next, to] of [['/console/jobs', '/console/jobs'], ['//evil.example/x', '/'], ['https://evil.example', '/'], ['/\\evil', '/']] as const) {
      const { payload, ...headers } = form({ token: VIEWER, next });
      const res = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, host: 'localhost:80' }, payload });
      expect(res.headers.location, next).toBe(to);
    }
  });

  it('sign-out needs the CSRF token; then the session is gone on the server, whatever the browser keeps', async () => {
    const { cookie, csrf } = await signIn(VIEWER);
    expect((await post('/console/logout', cookie, {})).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/', headers: { cookie } })).statusCode).toBe(200);
    const out = await post('/console/logout', cookie, { _csrf: csrf });
    expect(out.statusCode).toBe(303);
    expect(String(out.headers['set-cookie'])).toMatch(/^custctl_session=; Max-Age=0;|Expires=Thu, 01 Jan 1970/);
    const after = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
    expect(after.statusCode).toBe(303);
    expect(after.headers.location).toContain('/console/login');
  });

  it('the API itself still takes only bearer tokens: a session cookie does not authenticate DELETE /api/customers/:id', async () => {
    seed('cust_abc1');
    const { cookie, csrf } = await signIn(ADMIN);
    const res = await app.inject({ method: 'DELETE', url: '/api/customers/cust_abc1', headers: { cookie, 'x-csrf-token': csrf } });
    expect(res.statusCode).toBe(401);
    expect(submits).toEqual([]);
  });
});

describe('console: CSRF on every state-changing request, roles, the typed confirmation', () => {
  it('a deletion without the CSRF token, or with another session\'s, is 403 and deletes nothing', async () => {
    seed('cust_abc1');
    const a = await signIn(ADMIN);
    const b = await signIn(ADMIN);
    expect((await post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1' })).statusCode).toBe(403);
    expect((await post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1', _csrf: b.csrf })).statusCode).toBe(403);
    expect((await post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1' }, { 'x-csrf-token': `${a.csrf}x` })).statusCode).toBe(403);
    for (const url of ['/console/jobs/1/retry', '/console/jobs/1/cancel', '/console/rbac/sweep', '/console/customers/cust_abc1/cancel-deletion']) {
      expect((await post(url, a.cookie, {})).statusCode, url).toBe(403);
    }
    expect(submits).toEqual([]);
    expect(store.rows.get('cust_abc1')?.deploymentStatus).toBe('deployed');
  });

  it('the header x-csrf-token serves as well as the form field', async () => {
    seed('cust_abc1');
    const a = await signIn(ADMIN);
    const res = await post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1' }, { 'x-csrf-token': a.csrf });
    expect(res.statusCode).toBe(303);
    expect(submits).toHaveLength(1);
  });

  it('a wrong customer ID typed is refused (422) with the dialog open again; nothing submitted, the row unchanged', async () => {
    seed('cust_abc1');
    const { cookie, csrf } = await signIn(ADMIN);
    for (const typed of ['cust_abc2', 'cust_abc', '', 'CUST_ABC1']) {
      const res = await post('/console/customers/cust_abc1/delete', cookie, { confirm: typed, _csrf: csrf });
      expect(res.statusCode, typed).toBe(422);
      expect(res.body).toContain('nothing was deleted');
      expect(res.body).toContain('data-open-on-load');
    }
    expect(submits).toEqual([]);
    expect(await queue.list()).toEqual([]);
    expect(store.rows.get('cust_abc1')?.deploymentStatus).toBe('deployed');
  });

  it('the right ID queues the deletion as the token\'s name and sends the browser to the job; a bad retention period is refused', async () => {
    seed('cust_abc1');
    seed('cust_abc2');
    const { cookie, csrf } = await signIn(ADMIN);
    const res = await post('/console/customers/cust_abc1/delete', cookie, { confirm: 'cust_abc1', after: '', _csrf: csrf });
    expect(res.statusCode).toBe(303);
    const [job] = await queue.list();
    expect(res.headers.location).toBe(`/console/jobs/${job?.id}`);
    expect(job).toMatchObject({ state: 'waiting', requestedBy: 'api:ci-bot', data: { customerId: 'cust_abc1' } });
    expect(submits).toEqual(['cust_abc1 api:ci-bot {}']);
    const bad = await post('/console/customers/cust_abc2/delete', cookie, { confirm: 'cust_abc2', after: 'soon', _csrf: csrf });
    expect(bad.statusCode).toBe(422);
    expect(submits).toHaveLength(1);
  });

  it('a viewer sees no delete button and no retry/cancel; its forged POSTs (with its own CSRF token) are 403', async () => {
    seed('cust_abc1');
    const { cookie, csrf } = await signIn(VIEWER);
    const page = await app.inject({ method: 'GET', url: '/console/customers/cust_abc1', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('What a deletion does');
    expect(page.body).not.toContain('Delete customer');
    expect(page.body).not.toContain('/delete"');
    const forged = await post('/console/customers/cust_abc1/delete', cookie, { confirm: 'cust_abc1', _csrf: csrf });
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('needs an admin token');
    expect((await post('/console/rbac/sweep', cookie, { _csrf: csrf })).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/console/rbac', headers: { cookie } })).statusCode).toBe(403);
    expect(submits).toEqual([]);
  });

  it('an owner sees its own customer only, and its deletion waits at least the minimum retention', async () => {
    seed('cust_own1');
    seed('cust_abc1');
    const { cookie, csrf } = await signIn(OWNER);
    const list = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
    expect(list.body).toContain('cust_own1');
    expect(list.body).not.toContain('cust_abc1');
    expect((await app.inject({ method: 'GET', url: '/console/customers/cust_abc1', headers: { cookie } })).statusCode).toBe(404);
    expect((await post('/console/customers/cust_abc1/delete', cookie, { confirm: 'cust_abc1', _csrf: csrf })).statusCode).toBe(404);
    const now = await post('/console/customers/cust_own1/delete', cookie, { confirm: 'cust_own1', after: '0', _csrf: csrf });
    expect(now.statusCode).toBe(422);
    expect(now.body).toContain('waits at least 7d');
    expect(submits).toEqual([]);
  });
});

describe('console: pages', () => {
  it('customers: search, status filter and pages of 25', async () => {
    for (let i = 0; i < 30; i++) seed(`cust_p${String(i).padStart(2, '0')}`, i % 3 === 0 ? 'pending' : 'deployed');
    seed('cust_zeta', 'deleting', { deletionScheduledAt: '2027-01-01T00:00:00.000Z', companyName: 'Zeta <GmbH>' });
    const { cookie } = await signIn(VIEWER);
    const first = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
    expect(first.body).toContain('31 customers');
    expect(first.body).toContain('Page 1 of 2');
    expect((first.body.match(/href="\/console\/customers\//g) ?? []).length).toBe(25);
    const search = await app.inject({ method: 'GET', url: '/?q=zeta', headers: { cookie } });
    expect(search.body).toContain('1 customer match');
    expect(search.body).toContain('Zeta &lt;GmbH&gt;');
    expect(search.body).toContain('<time datetime="2027-01-01T00:00:00.000Z">');
    const pending = await app.inject({ method: 'GET', url: '/?status=pending', headers: { cookie } });
    expect(pending.body).toContain('10 customers match');
  });

  it('a customer page shows the plan: releases, objects by kind, PVC data loss in words, cluster RBAC, row change, cluster and database', async () => {
    seed('cust_abc1');
    const { cookie } = await signIn(ADMIN);
    const page = await app.inject({ method: 'GET', url: '/console/customers/cust_abc1', headers: { cookie } });
    expect(plans).toEqual(['cust_abc1']);
    for (const s of ['customer-abc1</code> (deployed, customer-instance-1.0.0)', 'ConfigMap', 'all the data on it are deleted', 'cabc1-customer-instance-opencost', 'deployment_status deployed → deleting → pending', 'ctx-a', 'postgres://u@db/x', 'Delete customer']) {
      expect(page.body, s).toContain(s);
    }
  });
});
