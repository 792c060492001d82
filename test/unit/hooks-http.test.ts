/**
 * Deletion hooks against a real receiver: node:http on 127.0.0.1 in this file, which checks
 * `X-Custctl-Signature-256` over the raw body in constant time (as docs/billing.md tells a
 * receiver to) and answers as each test scripts it. The calls go through the real POST
 * (src/adapters/hook-http.ts, Node's fetch) and the real retry loop with its real waits.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { postHook } from '../../src/adapters/hook-http.js';
import { hookDeliveryId, HookFailedError, HookRefusedError, makeHookEndpoint, MAX_ANSWER_BYTES, MAX_MESSAGE_CHARS, type HookEndpoint, type HookPayload, type HookPoint, type HookPolicy } from '../../src/domain/hooks.js';
import { isPermanent } from '../../src/errors.js';
import { callHookPoint, passHookPoint, type HookCallInput, type HooksEnv } from '../../src/pipeline/hooks.js';

const SECRET = 'hooksec-0123456789abcdef-loopback';
const JOB = { id: '512', timestamp: Date.UTC(2026, 11, 1, 13, 0, 0), requestedBy: 'alice@ops-1 (cli)', maxAttempts: 3 };

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: boolean;
}

type Answer = (req: IncomingMessage, res: ServerResponse, got: Received) => void;

/** The site's service: verifies the signature in constant time, then answers as scripted (by request number). */
class Receiver {
  readonly got: Received[] = [];
  private server: Server | null = null;
  private port = 0;
  constructor(private readonly script: (n: number, path: string) => Answer) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
        const header = Buffer.from(String(req.headers['x-custctl-signature-256'] ?? ''));
        const verified = header.length === expected.length && timingSafeEqual(header, expected);
        const got = { path: req.url ?? '', headers: req.headers, body: raw.toString('utf8'), verified };
        this.got.push(got);
        if (!verified) return void res.writeHead(401).end();
        this.script(this.got.length, got.path)(req, res, got);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.stop();
});

async function receiver(script: (n: number, path: string) => Answer): Promise<Receiver> {
  const r = await new Receiver(script).start();
  receivers.push(r);
  return r;
}

const json = (status: number, v: unknown, headers: Record<string, string> = {}): Answer => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(v));
};
const empty = (status: number, headers: Record<string, string> = {}): Answer => (_req, res) => void res.writeHead(status, headers).end();

/** Fast waits for the tests; the real defaults are 1 s doubling to 8 s. */
const FAST: Partial<HookPolicy> = { baseDelayMs: 20, maxDelayMs: 50, timeoutMs: 2_000 };

function endpoint(url: string, o: { name?: string; points?: HookPoint[]; policy?: Partial<HookPolicy>; secret?: string } = {}): HookEndpoint {
  return makeHookEndpoint({ name: o.name ?? 'billing', url, secret: o.secret ?? SECRET, points: o.points ?? ['before', 'after-cluster'], policy: { ...FAST, ...o.policy } });
}

function env(endpoints: HookEndpoint[]): HooksEnv {
  return { endpoints, post: postHook, userAgent: 'custctl/test' };
}

function input(point: HookPoint, o: Partial<HookCallInput> & { progress?: number } = {}): HookCallInput & { lines: string[] } {
  const lines: string[] = [];
  return {
    point,
    job: { ...JOB, progress: o.progress ?? 0 },
    customerId: 'cust_abc123',
    namespace: 'customer-abc123',
    attempt: 1,
    signal: new AbortController().signal,
    log: (level, message) => void lines.push(`${level} ${message}`),
    lines,
    ...o,
  };
}

const body = (r: Received) => JSON.parse(r.body) as HookPayload;

// real waits (a timeout, Retry-After: 1) on a machine that may be loaded
describe('deletion hooks against a real receiver', { timeout: 30_000 }, () => {
  it('2xx continues, and its message is returned; the request is signed and carries the job', async () => {
    const rx = await receiver(() => json(200, { message: 'final invoice in_1 sent' }));
    const i = input('before', { attempt: 2 });
    const r = await passHookPoint(env([endpoint(`${rx.url}/custctl/hooks?token=q`)]), i);
    expect(r).toMatchObject({ point: 'before', outcome: 'continued', notCalled: [] });
    expect(r.calls).toEqual([expect.objectContaining({ endpoint: 'billing', url: `${rx.url}/custctl/hooks?…`, outcome: 'continued', status: 200, message: 'final invoice in_1 sent', tries: 1 })]);
    expect(rx.got).toHaveLength(1);
    const got = rx.got[0] as Received;
    expect(got.verified).toBe(true);
    expect(got.path).toBe('/custctl/hooks?token=q');
    const id = hookDeliveryId({ customerId: 'cust_abc123', jobId: '512', jobCreatedAt: JOB.timestamp, point: 'before', endpoint: 'billing' });
    expect(got.headers).toMatchObject({ 'x-custctl-event': 'hook.before', 'x-custctl-delivery': id, 'content-type': 'application/json', 'user-agent': 'custctl/test' });
    expect(body(got)).toMatchObject({ event: 'hook.before', deliveryId: id, point: 'before', customerId: 'cust_abc123', namespace: 'customer-abc123', job: { id: '512', attempt: 2, kind: 'delete' }, deleted: null });
    expect(r.calls[0]?.deliveryId).toBe(id);
    expect(i.lines.join('\n')).not.toContain('token=q');
  });

  it('409 refuses with its message (made visible, bounded); the endpoints after it are not called', async () => {
    const rx = await receiver(() => json(409, { message: 'open dispute dp_1\n\u001b[2Jall good' }));
    const audit = await receiver(() => empty(204));
    const i = input('before');
    const e = await passHookPoint(env([endpoint(rx.url), endpoint(audit.url, { name: 'audit' })]), i).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HookRefusedError);
    const err = e as HookRefusedError;
    expect(err.message).toBe('hook billing refused the deletion (HTTP 409): open dispute dp_1 \\u001b[2Jall good');
    expect(err).toMatchObject({ point: 'before', endpoint: 'billing', status: 409, nothingDeleted: true, exitCode: 4 });
    expect(isPermanent(err)).toBe(true);
    expect(err.result.notCalled).toEqual(['audit']);
    expect(rx.got).toHaveLength(1);
    expect(audit.got).toHaveLength(0);
  });

  it('503 twice then 200 continues: exactly 3 requests, the same delivery id, body and signature', async () => {
    const rx = await receiver((n) => (n <= 2 ? empty(503) : json(200, { message: 'ok' })));
    const i = input('before');
    const r = await passHookPoint(env([endpoint(rx.url)]), i);
    expect(r.calls[0]).toMatchObject({ outcome: 'continued', status: 200, message: 'ok', tries: 3 });
    expect(rx.got).toHaveLength(3);
    expect(new Set(rx.got.map((g) => g.headers['x-custctl-delivery'])).size).toBe(1);
    expect(new Set(rx.got.map((g) => g.body)).size).toBe(1);
    expect(new Set(rx.got.map((g) => g.headers['x-custctl-signature-256'])).size).toBe(1);
    expect(rx.got.every((g) => g.verified)).toBe(true);
    expect(i.lines.filter((l) => l.startsWith('warn'))).toEqual([
      expect.stringMatching(/^warn Hook billing \(before\): HTTP 503 Service Unavailable; try 2 of 4 in \d\.\d s$/),
      expect.stringMatching(/^warn Hook billing \(before\): HTTP 503 Service Unavailable; try 3 of 4 in /),
    ]);
  });

  it('no answer within the timeout, then 200: continues on the second request', async () => {
    const held: ServerResponse[] = [];
    const rx = await receiver((n) => (n === 1 ? (_req, res) => void held.push(res) : json(200, {})));
    const t0 = Date.now();
    const r = await passHookPoint(env([endpoint(rx.url, { policy: { timeoutMs: 400 } })]), input('before'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(r.calls[0]).toMatchObject({ outcome: 'continued', status: 200, message: null, tries: 2 });
    expect(rx.got).toHaveLength(2);
    expect(rx.got[0]?.headers['x-custctl-delivery']).toBe(rx.got[1]?.headers['x-custctl-delivery']);
    for (const res of held) res.destroy();
  });

  it('a redirect is not followed: the call fails at once, the place it points to never sees the body', async () => {
    const rx = await receiver((_n, path) => (path === '/moved' ? json(200, { message: 'should never be asked' }) : empty(307, { location: '/moved' })));
    const e = await passHookPoint(env([endpoint(`${rx.url}/hooks`)]), input('before')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HookFailedError);
    expect((e as HookFailedError).message).toMatch(/^hook billing \(before\) failed: HTTP 307 \(a redirect: not followed/);
    expect(isPermanent(e)).toBe(false);
    expect(rx.got.map((g) => g.path)).toEqual(['/hooks']);
  });

  it('an answer body without end is read only up to the bound: the call goes on, the connection is closed', async () => {
    let written = 0;
    let closedByClient = false;
    const rx = await receiver(() => (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => void (closedByClient = !res.writableFinished));
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = (): void => {
        while (!res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const t0 = Date.now();
    const r = await passHookPoint(env([endpoint(rx.url, { policy: { timeoutMs: 10_000 } })]), input('before'));
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r.calls[0]).toMatchObject({ outcome: 'continued', status: 200, message: null, tries: 1 });
    await expect.poll(() => closedByClient, { timeout: 5_000 }).toBe(true);
    // what the sockets' buffers took before the close, never the whole endless answer
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('a refusal with an oversized text body: the message is its start, bounded', async () => {
    const rx = await receiver(() => (_req, res) => void res.writeHead(409, { 'content-type': 'text/plain' }).end('z'.repeat(4 * MAX_ANSWER_BYTES)));
    const e = (await passHookPoint(env([endpoint(rx.url)]), input('before')).catch((x: unknown) => x)) as HookRefusedError;
    expect(e).toBeInstanceOf(HookRefusedError);
    expect(Array.from(e.answer as string)).toHaveLength(MAX_MESSAGE_CHARS);
    expect(e.answer?.endsWith('…')).toBe(true);
  });

  it('the attempt aborted while waiting to try again: rejects at once with the abort, no further request', async () => {
    const rx = await receiver(() => empty(503, { 'retry-after': '10' }));
    const ac = new AbortController();
    const i = input('before', { signal: ac.signal });
    const reason = new Error('attempt timed out');
    const t0 = Date.now();
    const p = passHookPoint(env([endpoint(rx.url)]), i);
    await expect.poll(() => rx.got.length, { timeout: 5_000 }).toBe(1);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(Date.now() - t0).toBeLessThan(5_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.got).toHaveLength(1);
  });

  it('the attempt aborted mid-request: the request is stopped, the abort goes up', async () => {
    const held: ServerResponse[] = [];
    const rx = await receiver(() => (_req, res) => void held.push(res));
    const ac = new AbortController();
    const reason = new Error('cancelled');
    const p = passHookPoint(env([endpoint(rx.url, { policy: { timeoutMs: 30_000 } })]), input('before', { signal: ac.signal }));
    await expect.poll(() => rx.got.length, { timeout: 5_000 }).toBe(1);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
    for (const res of held) res.destroy();
  });

  it('an attempt already aborted sends nothing', async () => {
    const rx = await receiver(() => empty(204));
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(passHookPoint(env([endpoint(rx.url)]), input('before', { signal: ac.signal }))).rejects.toThrow('gone');
    expect(rx.got).toHaveLength(0);
  });

  it('429 with Retry-After: 1 waits that second (not the short backoff), then continues', async () => {
    const rx = await receiver((n) => (n === 1 ? empty(429, { 'retry-after': '1' }) : empty(204)));
    const t0 = Date.now();
    const r = await passHookPoint(env([endpoint(rx.url)]), input('before'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(r.calls[0]).toMatchObject({ outcome: 'continued', status: 204, tries: 2 });
  });

  it('a Retry-After longer than an attempt waits: fails at once, saying so', async () => {
    const rx = await receiver(() => empty(503, { 'retry-after': '120' }));
    const r = await callHookPoint(env([endpoint(rx.url)]), input('before'));
    expect(r.outcome).toBe('failed');
    expect(r.calls[0]).toMatchObject({ outcome: 'failed', status: 503, tries: 1, error: 'HTTP 503 Service Unavailable, and it asks to wait 120 s (Retry-After): longer than an attempt waits (30 s)' });
    expect(rx.got).toHaveLength(1);
  });

  it('5xx on every try: failed after the tries, not permanent', async () => {
    const rx = await receiver(() => empty(502));
    const e = await passHookPoint(env([endpoint(rx.url, { policy: { tries: 3 } })]), input('after-cluster')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HookFailedError);
    expect((e as HookFailedError).message).toBe('hook billing (after-cluster) failed after 3 tries: HTTP 502 Bad Gateway');
    expect(isPermanent(e)).toBe(false);
    expect(rx.got).toHaveLength(3);
  });

  it('nobody listening: connection refused on every try, failed', async () => {
    const rx = await receiver(() => empty(204));
    const url = rx.url;
    await rx.stop();
    const r = await callHookPoint(env([endpoint(url, { policy: { tries: 2 } })]), input('before'));
    expect(r.calls[0]).toMatchObject({ outcome: 'failed', status: null, tries: 2, error: 'connection refused (ECONNREFUSED)' });
  });

  it('after-cluster: the body says what was deleted; a refusal there is not "nothing deleted"', async () => {
    const rx = await receiver(() => json(422, { message: 'final invoice failed: card declined' }));
    const deleted = { releases: ['customer-abc123'], objects: { Deployment: 1, Service: 1 }, rbac: ['ClusterRole/cabc123-x'], namespace: 'deleted' as const };
    const e = (await passHookPoint(env([endpoint(rx.url)]), input('after-cluster', { deleted })).catch((x: unknown) => x)) as HookRefusedError;
    expect(e).toBeInstanceOf(HookRefusedError);
    expect(e).toMatchObject({ point: 'after-cluster', status: 422, nothingDeleted: false, answer: 'final invoice failed: card declined' });
    const b = body(rx.got[0] as Received);
    expect(b.event).toBe('hook.after-cluster');
    expect(rx.got[0]?.headers['x-custctl-event']).toBe('hook.after-cluster');
    expect(b.deleted).toEqual({ releases: 1, objects: 2, objectsByKind: { Deployment: 1, Service: 1 }, clusterRbac: 1, names: { releases: ['customer-abc123'], clusterRbac: ['ClusterRole/cabc123-x'] }, namespace: 'deleted' });
  });

  it('a receiver that does not know the secret is a refusal (401), and nothing goes on', async () => {
    const rx = await receiver(() => empty(204));
    const e = await passHookPoint(env([endpoint(rx.url, { secret: 'not-the-receivers-secret-0123' })]), input('before')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HookRefusedError);
    expect((e as HookRefusedError).status).toBe(401);
    expect(rx.got[0]?.verified).toBe(false);
  });

  it('an answer quoting the secret shows <secret> instead', async () => {
    const rx = await receiver(() => json(200, { message: `configured with ${SECRET}` }));
    const r = await passHookPoint(env([endpoint(rx.url)]), input('before'));
    expect(r.calls[0]).toMatchObject({ message: 'configured with <secret>' });
  });

  it('a point an earlier attempt got past, or with no hook, calls nobody', async () => {
    const rx = await receiver(() => empty(204));
    expect(await passHookPoint(env([endpoint(rx.url)]), input('before', { progress: 25 }))).toEqual({ point: 'before', outcome: 'passed', calls: [], notCalled: [] });
    expect(await passHookPoint(env([endpoint(rx.url, { points: ['after-cluster'] })]), input('before'))).toEqual({ point: 'before', outcome: 'none', calls: [], notCalled: [] });
    expect(rx.got).toHaveLength(0);
  });

  it('two endpoints at one point: called in order, both answer, both results kept', async () => {
    const order: string[] = [];
    const a = await receiver(() => (req, res) => { order.push('billing'); json(200, { message: 'a' })(req, res, undefined as never); });
    const b = await receiver(() => (req, res) => { order.push('audit'); json(202, { message: 'b' })(req, res, undefined as never); });
    const r = await passHookPoint(env([endpoint(a.url), endpoint(b.url, { name: 'audit' })]), input('before'));
    expect(order).toEqual(['billing', 'audit']);
    expect(r.calls.map((c) => [c.endpoint, c.outcome, c.deliveryId === r.calls[0]?.deliveryId])).toEqual([['billing', 'continued', true], ['audit', 'continued', false]]);
  });
});
