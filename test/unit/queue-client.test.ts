// The remote client's boundary: API errors → typed errors (exit codes), transport trouble → clear
// OperationErrors naming the URL, the token sent as a bearer and never put into a message.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueApiClient, TransportError } from '../../src/adapters/queue-client.js';
import { retryText } from '../../src/adapters/retry.js';
import { ConflictError, exitCodeFor, ForbiddenError, InvalidIdError, NotFoundError, UnauthorizedError, WaitTimeoutError } from '../../src/errors.js';

const TOKEN = 'client-secret-token-0123456789';
let server: Server | undefined;

async function serve(handler: (req: { method?: string; url?: string; auth?: string }) => { status: number; body: string; type?: string }): Promise<string> {
  server = createServer((req, res) => {
    const r = handler({ method: req.method, url: req.url, auth: req.headers.authorization });
    res.writeHead(r.status, { 'content-type': r.type ?? 'application/json' });
    res.end(r.body);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(null)));
  server = undefined;
});

describe('QueueApiClient', () => {
  it('sends the bearer token and the query; returns the JSON', async () => {
    const seen: Array<{ method?: string; url?: string; auth?: string }> = [];
    const url = await serve((req) => {
      seen.push(req);
      return { status: 200, body: JSON.stringify({ message: 'Customer deletion queued successfully', customerId: 'cust_a1', jobId: '7', status: 'pending', note: 'n' }) };
    });
    const c = new QueueApiClient(`${url}/`, TOKEN);
    const r = await c.deleteCustomer('cust_a1', { force: true, waitTimeoutMs: 1000 });
    expect(r.jobId).toBe('7');
    expect(seen[0]).toEqual({ method: 'DELETE', url: '/api/customers/cust_a1?force=true&timeoutMs=1000', auth: `Bearer ${TOKEN}` });
  });

  it.each([
    [404, 'not_found', NotFoundError, 3],
    [400, 'conflict', ConflictError, 4],
    [400, 'invalid_id', InvalidIdError, 2],
    [504, 'timeout', WaitTimeoutError, 5],
    [401, 'unauthorized', UnauthorizedError, 1],
    [403, 'forbidden', ForbiddenError, 1],
  ] as const)('HTTP %i {error: %s} → %s, exit %i', async (status, error, cls, exit) => {
    const url = await serve(() => ({ status, body: JSON.stringify({ error, message: `the ${error} message` }) }));
    const err = await new QueueApiClient(url, TOKEN).getJob('1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect(exitCodeFor(err)).toBe(exit);
    expect((err as Error).message).toContain(`the ${error} message`);
    expect((err as Error).message).not.toContain(TOKEN);
  });

  it('no server: a clear OperationError naming the URL (ECONNREFUSED), exit 1', async () => {
    const url = await serve(() => ({ status: 200, body: '{}' }));
    await new Promise((r) => server?.close(r));
    server = undefined;
    const err = await new QueueApiClient(url, TOKEN).listJobs().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toBe(`cannot reach the custctl API at ${url} (GET ${url}/api/admin/jobs): connection refused (ECONNREFUSED)`);
    expect(exitCodeFor(err)).toBe(1);
  });

  it('a read is tried again on 503/502/429 and a reset, each retry told; then it answers', async () => {
    let n = 0;
    const url = await serve(() => {
      n += 1;
      if (n === 1) return { status: 503, body: JSON.stringify({ error: 'unavailable', message: 'store down' }) };
      if (n === 2) return { status: 502, body: '<html>Bad Gateway</html>', type: 'text/html' };
      if (n === 3) return { status: 429, body: JSON.stringify({ error: 'rate_limited', message: 'slow down' }) };
      return { status: 200, body: '[]' };
    });
    const told: string[] = [];
    const waits: number[] = [];
    const c = new QueueApiClient(url, TOKEN, undefined, { onRetry: (e) => told.push(`${e.op}: ${retryText(e)}`), retry: { sleep: async (ms) => { waits.push(ms); } } });
    expect(await c.listJobs()).toEqual([]);
    expect(told).toEqual(['GET /api/admin/jobs: retrying (HTTP 503) 2/4', 'GET /api/admin/jobs: retrying (HTTP 502) 3/4', 'GET /api/admin/jobs: retrying (HTTP 429) 4/4']);
  });

  it('a write is sent once, and custctl\'s own 504 timeout answer is not retried', async () => {
    let n = 0;
    const url = await serve(() => { n += 1; return { status: 503, body: JSON.stringify({ error: 'unavailable', message: 'store down' }) }; });
    const told: string[] = [];
    const c = new QueueApiClient(url, TOKEN, undefined, { onRetry: (e) => told.push(retryText(e)), retry: { sleep: async () => undefined } });
    await expect(c.retryJob('4')).rejects.toThrow(/store down/);
    expect(n).toBe(1);
    expect(told).toEqual([]);
  });

  it('refused by a server that never answered: said at once, no retry', async () => {
    const url = await serve(() => ({ status: 200, body: '{}' }));
    await new Promise((r) => server?.close(r));
    server = undefined;
    const told: string[] = [];
    const t0 = Date.now();
    const err = await new QueueApiClient(url, TOKEN, undefined, { onRetry: (e) => told.push(retryText(e)) }).listJobs().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/connection refused \(ECONNREFUSED\)$/);
    expect(told).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a non-JSON answer (a proxy page, another service) is a clear error', async () => {
    const url = await serve(() => ({ status: 502, body: '<html>Bad Gateway</html>', type: 'text/html' }));
    const err = await new QueueApiClient(url, TOKEN).getJob('3').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/answered HTTP 502 .* non-JSON \(text\/html\): is --api-url pointing at custctl serve\?/);
  });

  it('without a token: 401 says to set CUSTCTL_API_TOKEN', async () => {
    const url = await serve((req) => (req.auth ? { status: 200, body: '[]' } : { status: 401, body: JSON.stringify({ error: 'unauthorized', message: 'missing bearer token' }) }));
    const err = await new QueueApiClient(url, undefined).listJobs().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect((err as UnauthorizedError).details.join(' ')).toContain('Set CUSTCTL_API_TOKEN');
  });

  it('the synchronous endpoint returns a failed job answer instead of throwing', async () => {
    const url = await serve(() => ({ status: 504, body: JSON.stringify({ customerId: 'cust_a1', jobId: '9', state: 'failed', error: 'timeout', message: 'still Terminating' }) }));
    const r = await new QueueApiClient(url, TOKEN).deleteDeployment('cust_a1');
    expect(r).toMatchObject({ jobId: '9', state: 'failed', error: 'timeout' });
  });
});
