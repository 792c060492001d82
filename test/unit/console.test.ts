// The console's sessions and CSRF handling: the SessionStore and checks alone, then the console's
// routes over fastify inject() with a real file journal, an in-memory store and the real
// submitDeletion (the browser test, test/integration/console.test.ts, drives the real thing).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { singleCluster } from '../../src/adapters/clusters.js';
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
import { CONTENT_SECURITY_POLICY, safeNext } from '../../src/server/console/index.js';
import { AuthFailures } from '../../src/server/auth-failures.js';
import { parsePublicUrl, parseTrustProxy } from '../../src/commands/serve.js';
import { UsageError } from '../../src/errors.js';
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
    const s = new SessionStore(() => t, { idleMs: 100, absoluteMs: 250, max: 10, perPrincipal: 10 });
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
    const s = new SessionStore(() => 0, { idleMs: 1_000, absoluteMs: 10_000, max: 2, perPrincipal: 10 });
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

  it('caps the sessions of one token: its next sign-in ends its own oldest, never another token\'s', () => {
    let t = 0;
    const s = new SessionStore(() => t, { idleMs: 1_000_000, absoluteMs: 10_000_000, max: 100, perPrincipal: 3 });
    const viewer = s.create({ name: 'grafana', role: 'viewer' }).id;
    const admin: string[] = [];
    for (let i = 0; i < 5; i++) {
      t++;
      admin.push(s.create(principal).id);
    }
    expect(admin.map((id) => s.get(id) !== null)).toEqual([false, false, true, true, true]);
    expect(s.countOf('ci-bot')).toBe(3);
    expect(s.get(viewer)).not.toBeNull();
  });

  it('when the store is full, the token holding the most sessions gives one up: a flood of one token\'s sign-ins evicts no one else', () => {
    const s = new SessionStore(() => 0, { idleMs: 1_000, absoluteMs: 10_000, max: 10, perPrincipal: 10 });
    const others = ['a', 'b', 'c'].map((name) => s.create({ name, role: 'viewer' }).id);
    for (let i = 0; i < 50; i++) s.create(principal);
    expect(s.size).toBe(10);
    expect(others.every((id) => s.get(id) !== null)).toBe(true);
    expect(s.countOf('ci-bot')).toBe(7);
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
    [{ origin: 'http://h:1', 'sec-fetch-site': 'same-origin' }, 'http://h:1', true],
    [{}, 'http://h:1', true],
    [{ 'sec-fetch-site': 'none' }, 'http://h:1', true],
    [{ origin: 'http://evil.example' }, 'http://h:1', false],
    [{ origin: 'https://h:1' }, 'http://h:1', false],
    [{ 'sec-fetch-site': 'cross-site' }, 'http://h:1', false],
    [{ 'sec-fetch-site': 'same-site', origin: 'http://h:1' }, 'http://h:1', false],
    [{ origin: 'http://h:1' }, null, false],
    // behind a TLS proxy: the public origin is what the browser names
    [{ origin: 'https://console.example', 'sec-fetch-site': 'same-origin' }, 'https://console.example', true],
    [{ origin: 'http://console.example' }, 'https://console.example', false],
  ] as const)('sameOrigin(%j, %s) → %s', (headers, expected, ok) => {
    expect(sameOrigin(headers, expected)).toBe(ok);
  });

  it.each([
    ['/console/jobs?state=failed', '/console/jobs?state=failed'],
    ['/', '/'],
    ['//evil.example/x', '/'],
    ['/\\evil.example', '/'],
    ['/a\\b', '/'],
    ['https://evil.example/', '/'],
    ['/\u2603', '/'], // not Latin-1: a Location header cannot carry it
    ['/caf\u00e9', '/'], // Latin-1, still not a URI
    ['/a b', '/'],
    ['/a\u0000b', '/'],
    ['/x'.repeat(300), '/'],
    [['/a'], '/'],
    [undefined, '/'],
  ] as const)('safeNext(%j) → %s', (raw, to) => {
    expect(safeNext(raw)).toBe(to);
  });

  it('html escapes every interpolation, arrays and nested html are not escaped twice', () => {
    const name = `<script>alert("x")</script>&'`;
    expect(html`<p title="${name}">${name}</p>`.text).toBe(`<p title="${esc(name)}">${esc(name)}</p>`);
    expect(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.text).toBe('<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
    expect(esc(name)).not.toMatch(/[<>"']/);
  });
});

describe('failed authentications per client address', () => {
  const lines = () => {
    const out: string[] = [];
    return { out, log: { warn: (m: string, f?: Record<string, unknown>) => void out.push(`${m} ${JSON.stringify(f ?? {})}`) } };
  };

  it('answers 429 after the budget of a window, until the window has passed; another address keeps its own budget', () => {
    let t = 0;
    const { log } = lines();
    const f = new AuthFailures(log, () => t, { windowMs: 60_000, maxFailures: 3, summaryEveryMs: 600_000, maxAddresses: 100 });
    for (let i = 0; i < 3; i++) {
      expect(f.retryAfter('10.0.0.1')).toBe(0);
      f.fail('10.0.0.1', 'wrong token');
    }
    t = 10_000;
    expect(f.retryAfter('10.0.0.1')).toBe(50);
    expect(f.retryAfter('10.0.0.2')).toBe(0);
    t = 60_000;
    expect(f.retryAfter('10.0.0.1')).toBe(0);
  });

  it('logs the first failure of a burst, then one summary when it is over (and one while a long one goes on)', () => {
    let t = 0;
    const { out, log } = lines();
    const f = new AuthFailures(log, () => t, { windowMs: 1_000, maxFailures: 5, summaryEveryMs: 10_000, maxAddresses: 100 });
    for (let i = 0; i < 100; i++) {
      t += 10;
      if (f.retryAfter('10.0.0.1') === 0) f.fail('10.0.0.1', 'unknown or wrong API token');
    }
    expect(out).toHaveLength(1);
    expect(out[0]).toContain('authentication failed from 10.0.0.1: unknown or wrong API token');
    t += 1_000;
    f.flush();
    expect(out).toHaveLength(2);
    expect(out[1]).toMatch(/^99 more failed authentications from 10\.0\.0\.1 in 1 s /);
    expect(out[1]).toContain('"wrongOrMissingToken":4');
    expect(out[1]).toContain('"answered429":95');
    expect(f.size).toBe(0);
    // a burst that goes on: summed up every summaryEveryMs, not per request
    for (let i = 0; i < 2_500; i++) {
      t += 10;
      if (f.retryAfter('10.0.0.9') === 0) f.fail('10.0.0.9', 'x');
    }
    expect(out.filter((l) => l.includes('10.0.0.9'))).toHaveLength(3); // the first line, two summaries (at 10 s and 20 s)
    expect(out.at(-1)).toContain('(still going on)');
  });

  it('tracks at most maxAddresses: the oldest is summed up and forgotten', () => {
    const { out, log } = lines();
    const f = new AuthFailures(log, () => 0, { windowMs: 1_000, maxFailures: 5, summaryEveryMs: 10_000, maxAddresses: 2 });
    for (const a of ['a', 'a', 'b', 'c']) f.fail(a, 'x');
    expect(f.size).toBe(2);
    expect(out.filter((l) => l.startsWith('1 more failed authentication from a'))).toHaveLength(1);
  });
});

describe('serve --public-url and --trust-proxy', () => {
  it.each([
    ['https://custctl.example.com', 'https://custctl.example.com'],
    ['https://custctl.example.com/', 'https://custctl.example.com'],
    ['https://custctl.example.com:8443', 'https://custctl.example.com:8443'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
  ])('--public-url %s → origin %s', (raw, origin) => {
    expect(parsePublicUrl(raw)).toBe(origin);
  });

  it.each([
    ['custctl.example.com', /takes the URL browsers open/],
    ['ftp://x.example', /must be an https:\/\/ \(or http:\/\/\) URL/],
    ['https://x.example/console', /origin only/],
    ['https://u:p@x.example', /origin only/],
    ['https://x.example/?a=1', /origin only/],
  ])('--public-url %s is refused (exit 2)', (raw, message) => {
    expect(() => parsePublicUrl(raw)).toThrow(UsageError);
    expect(() => parsePublicUrl(raw)).toThrow(message);
  });

  it('--trust-proxy takes addresses, CIDRs and loopback, comma-separated or repeated; anything else is refused', () => {
    expect(parseTrustProxy('127.0.0.1,10.0.0.0/8', parseTrustProxy('loopback'))).toEqual(['loopback', '127.0.0.1', '10.0.0.0/8']);
    expect(parseTrustProxy('::1, fd00::/8')).toEqual(['::1', 'fd00::/8']);
    for (const bad of ['proxy.example', '10.0.0.0/33', '10.0.0.1/8/9', '*', 'true']) expect(() => parseTrustProxy(bad), bad).toThrow(UsageError);
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
  const env: JobsEnv = { queue, store, config, clusters: singleCluster({ kube: async () => { throw new Error('no cluster in unit tests'); }, helm: async () => { throw new Error('no cluster in unit tests'); } }), now: () => Date.now() };
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

/**
 * A form post is answered with a redirect, whatever its outcome (POST-redirect-GET): where it
 * sends the browser, and that page as the browser then gets it (the outcome is its message).
 */
async function answered(res: Awaited<ReturnType<typeof post>>, cookie: string): Promise<{ location: string; status: number; body: string }> {
  expect(res.statusCode, res.body).toBe(303);
  const location = String(res.headers.location);
  const page = await app.inject({ method: 'GET', url: location, headers: cookie ? { cookie } : {} });
  return { location, status: page.statusCode, body: page.body };
}

describe('console: sign-in, session cookie, sign-out', () => {
  it('without a session every page sends the browser to sign in, a POST too (nothing done); nothing needs a token in the page', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/jobs?state=failed' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`/console/login?next=${encodeURIComponent('/console/jobs?state=failed')}`);
    seed('cust_abc1');
    const refused = await answered(await post('/console/customers/cust_abc1/delete', '', { confirm: 'cust_abc1' }), '');
    expect(refused.location).toBe('/console/login?error=expired');
    expect(refused.body).toContain('the session has ended');
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
      expect(other.statusCode).toBe(303);
      expect(other.headers.location).toBe('/console/login?error=origin');
      expect(other.headers['set-cookie']).toBeUndefined();
    } finally {
      await tls.close();
    }
  }, 60_000); // openssl makes the certificates: slow on a loaded machine

  it('an unknown token is sent back to sign in, with no cookie; so is a sign-in from another origin', async () => {
    const { payload, ...headers } = form({ token: 'not-a-token-0123456789', next: '/console/jobs' });
    const res = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: ORIGIN, host: 'localhost:80' }, payload });
    expect(res.headers['set-cookie']).toBeUndefined();
    const again = await answered(res, '');
    expect(again.location).toBe(`/console/login?error=token&next=${encodeURIComponent('/console/jobs')}`);
    expect(again.body).toContain('Unknown or wrong API token');
    expect(again.body).toContain('name="next" value="/console/jobs"');
    const cross = await app.inject({ method: 'POST', url: '/console/login', headers: { ...headers, origin: 'http://evil.example', host: 'localhost:80' }, payload: new URLSearchParams({ token: ADMIN }).toString() });
    expect(cross.statusCode).toBe(303);
    expect(cross.headers.location).toBe('/console/login?error=origin');
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
    expect((await answered(await post('/console/logout', cookie, {}), cookie)).body).toContain('missing or wrong CSRF token');
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
  it('a deletion without the CSRF token, or with another session\'s, is refused (the page says so) and deletes nothing', async () => {
    seed('cust_abc1');
    const a = await signIn(ADMIN);
    const b = await signIn(ADMIN);
    for (const send of [
      () => post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1' }),
      () => post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1', _csrf: b.csrf }),
      () => post('/console/customers/cust_abc1/delete', a.cookie, { confirm: 'cust_abc1' }, { 'x-csrf-token': `${a.csrf}x` }),
    ]) {
      const page = await answered(await send(), a.cookie);
      expect(page.location).toBe('/console/customers/cust_abc1');
      expect(page.body).toContain('missing or wrong CSRF token');
    }
    for (const url of ['/console/jobs/1/retry', '/console/jobs/1/cancel', '/console/rbac/sweep', '/console/customers/cust_abc1/cancel-deletion']) {
      expect((await answered(await post(url, a.cookie, {}), a.cookie)).body, url).toContain('missing or wrong CSRF token');
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

  it('a wrong customer ID typed is refused with the dialog open again (after a redirect); nothing submitted, the row unchanged', async () => {
    seed('cust_abc1');
    const { cookie, csrf } = await signIn(ADMIN);
    for (const typed of ['cust_abc2', 'cust_abc', '', 'CUST_ABC1']) {
      const page = await answered(await post('/console/customers/cust_abc1/delete', cookie, { confirm: typed, _csrf: csrf }), cookie);
      expect(page.location, typed).toBe('/console/customers/cust_abc1');
      expect(page.body).toContain('nothing was deleted');
      expect(page.body).toContain('data-open-on-load');
      // the typed value quoted once, escaped (no doubled quotes)
      if (typed !== '') expect(page.body).toContain(`You typed &quot;${typed}&quot;, not the customer ID cust_abc1`);
      else expect(page.body).toContain('You typed nothing, not the customer ID cust_abc1');
      // the message is shown once: a reload shows the page without it
      expect((await app.inject({ method: 'GET', url: page.location, headers: { cookie } })).body).not.toContain('nothing was deleted');
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
    const bad = await answered(await post('/console/customers/cust_abc2/delete', cookie, { confirm: 'cust_abc2', after: 'soon', _csrf: csrf }), cookie);
    expect(bad.body).toContain('is not a retention period: give 0 (now) or from 1h to 400d');
    expect(bad.body).toContain('Nothing was deleted.');
    const short = await answered(await post('/console/customers/cust_abc2/delete', cookie, { confirm: 'cust_abc2', after: '30m', _csrf: csrf }), cookie);
    expect(short.body).toContain('The retention period 30m is shorter than 1h');
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
    const forged = await answered(await post('/console/customers/cust_abc1/delete', cookie, { confirm: 'cust_abc1', _csrf: csrf }), cookie);
    expect(forged.body).toContain('needs an admin token');
    expect((await answered(await post('/console/rbac/sweep', cookie, { _csrf: csrf }), cookie)).body).toContain('needs an admin token');
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
    const other = await answered(await post('/console/customers/cust_abc1/delete', cookie, { confirm: 'cust_abc1', _csrf: csrf }), cookie);
    expect(other.location).toBe('/');
    expect(other.body).toContain('customer cust_abc1 not found');
    const now = await answered(await post('/console/customers/cust_own1/delete', cookie, { confirm: 'cust_own1', after: '0', _csrf: csrf }), cookie);
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
