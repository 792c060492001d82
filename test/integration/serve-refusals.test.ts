/**
 * The queue API's refusals (error answers, slow requests, id use, the tokens file's mode): a real `custctl serve`
 * (the built binary) on a free loopback port with the real PostgreSQL, simulated cluster steps,
 * and real sockets that trickle bytes. `CUSTCTL_TEST_BIN=<other build>/bin/custctl.js` runs the
 * same tests against another build (e.g. main's, where they fail).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { BIN, custctl, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { randomKey, waitFor } from '../support/fixtures.js';

const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;
const README = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/remote.md'), 'utf8');

interface Served {
  url: string;
  port: number;
  child: ChildProcess;
  stateDir: string;
  exited: Promise<number | null>;
  stderr(): string;
}

function tokensFile(stateDir: string, mode: number): string {
  const file = path.join(stateDir, 'tokens');
  writeFileSync(file, `ci-bot:admin:${sha256Hex(ADMIN)}\n`);
  chmodSync(file, mode);
  return file;
}

function spawnServe(stateDir: string, port: number, env: NodeJS.ProcessEnv, args: string[] = []): Served {
  const stderrFile = path.join(stateDir, 'serve.stderr');
  const full: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: stateDir, SIMULATE_K8S_DEPLOYMENT: 'true', ...env };
  delete full.CUSTCTL_API_URL;
  delete full.CUSTCTL_API_TOKEN;
  delete full.REDIS_URL;
  const child = spawn('node', [BIN, 'serve', '--port', String(port), ...args], { env: full, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(stderrFile);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { url: `http://127.0.0.1:${port}`, port, child, stateDir, exited, stderr: () => readFileSync(stderrFile, 'utf8') };
}

async function startServe(args: string[] = []): Promise<Served> {
  const stateDir = tempStateDir();
  const s = spawnServe(stateDir, await freePort(), { CUSTCTL_API_TOKENS_FILE: tokensFile(stateDir, 0o600) }, args);
  await waitFor(async () => {
    if (s.child.exitCode !== null) throw new Error(`custctl serve exited ${s.child.exitCode}:\n${s.stderr()}`);
    return s.stderr().includes(`listening on ${s.url}`);
  }, 'custctl serve to listen', 60_000, 100);
  return s;
}

async function stop(s: Served): Promise<void> {
  if (s.child.exitCode === null) s.child.kill('SIGTERM');
  await s.exited;
}

async function call(s: Served, method: string, p: string, init: { token?: string; body?: string; contentType?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.contentType) headers['content-type'] = init.contentType;
  const res = await fetch(`${s.url}${p}`, { method, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { error?: string; message?: string; [k: string]: unknown } };
}

/** The `error` names the README documents for the API. */
function documentedNames(): string[] {
  const m = /Errors are `\{error, message\}` \(sometimes with `details`\) with `error` one of ([^;]+);/.exec(README.replace(/\n/g, ' '));
  if (!m?.[1]) throw new Error('docs/remote.md: the list of API error names is missing');
  return [...m[1].matchAll(/`([a-z_]+)`/g)].map((x) => x[1] as string);
}

interface RawResult {
  /** the raw bytes the server sent */
  response: string;
  status: number | null;
  /** ms from connect until the server closed the connection (null: still open when we gave up) */
  closedAfterMs: number | null;
  /** ms from connect until the first response byte */
  answeredAfterMs: number | null;
}

/**
 * A raw TCP client on loopback: sends `head`, then `trickle` one byte every `everyMs` (at most
 * `maxBytes` of them), and records when the server answers and when it closes the connection.
 */
function rawRequest(port: number, head: string, o: { trickle?: string; everyMs?: number; maxBytes?: number; giveUpMs: number }): Promise<RawResult> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = net.connect({ host: '127.0.0.1', port });
    let response = '';
    let answeredAfterMs: number | null = null;
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      if (timer) clearInterval(timer);
      clearTimeout(giveUp);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolve({ response, status: m ? Number(m[1]) : null, closedAfterMs: closed ? Date.now() - t0 : null, answeredAfterMs });
      socket.destroy();
    };
    const giveUp = setTimeout(() => finish(false), o.giveUpMs);
    socket.on('connect', () => {
      socket.write(head);
      if (o.trickle) {
        const bytes = o.trickle;
        timer = setInterval(() => {
          if (sent >= (o.maxBytes ?? bytes.length) || socket.destroyed) return clearInterval(timer);
          socket.write(bytes[sent % bytes.length] as string, () => undefined);
          sent += 1;
        }, o.everyMs ?? 200);
      }
    });
    socket.on('data', (b) => {
      answeredAfterMs ??= Date.now() - t0;
      response += b.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
  });
}

function bodyOf(raw: string): { error?: string; message?: string } {
  const at = raw.indexOf('\r\n\r\n');
  const rest = raw.slice(at + 4);
  // a chunked body: take the JSON between the first chunk size line and the next CRLF
  const json = /^\s*\{/.test(rest) ? rest : (rest.split('\r\n')[1] ?? '');
  return JSON.parse(json) as { error?: string; message?: string };
}

let server: Served;

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
  expect(m.exitCode, m.stderr).toBe(0);
  // another build (main's) has no such flags: it runs with its own defaults, and the timeout tests fail there
  server = await startServe(process.env.CUSTCTL_TEST_BIN ? [] : ['--request-timeout', '2s', '--idle-timeout', '1s']);
});

afterAll(async () => {
  if (server) await stop(server);
});

describe('every error answer is {error, message} with a documented name, never echoing unbounded input', () => {
  it('an id of 150 characters answers invalid_id (400) with a bounded message, not fastify 414 echoing the path', async () => {
    const long = `cust_${'x'.repeat(150)}`;
    const r = await call(server, 'DELETE', `/api/customers/${long}`, { token: ADMIN });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_id');
    expect(r.text).not.toContain(long);
    expect(r.text.length).toBeLessThan(400);
    const longer = await call(server, 'GET', `/api/customers/${'y'.repeat(5000)}`, { token: ADMIN });
    expect(longer.status).toBe(400);
    expect(longer.body.error).toBe('invalid_id');
    expect(longer.text.length).toBeLessThan(400);
  });

  it('a 5 MB body answers 413 payload_too_large', async () => {
    const r = await rawRequest(server.port, `POST /api/admin/jobs/1/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: ${5 * 1024 * 1024}\r\n\r\n{"a":"`, { giveUpMs: 10_000 });
    expect(r.status).toBe(413);
    expect(bodyOf(r.response)).toMatchObject({ error: 'payload_too_large', message: expect.stringMatching(/too large/) });
  });

  it.each([['application/xml', '<a/>'], ['text/plain', 'hello']])('content type %s answers 415 unsupported_media_type', async (contentType, body) => {
    const r = await call(server, 'POST', '/api/admin/jobs/1/retry', { token: ADMIN, contentType, body });
    expect(r.status).toBe(415);
    expect(r.body).toEqual({ error: 'unsupported_media_type', message: expect.any(String) });
  });

  it('%zz in the path answers our invalid_request, not FST_ERR_BAD_URL', async () => {
    const r = await call(server, 'DELETE', '/api/customers/%zz', { token: ADMIN });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', message: expect.any(String) });
    expect(r.text).not.toMatch(/FST_|%zz/);
  });

  it('a bad job id answers invalid_id (not usage); a bad query parameter answers invalid_request; an unknown path is bounded', async () => {
    for (const p of ['/api/admin/jobs/abc', '/api/admin/jobs/0', `/api/admin/jobs/${'9'.repeat(30)}`]) {
      const r = await call(server, 'GET', p, { token: ADMIN });
      expect(r.status, p).toBe(400);
      expect(r.body.error, p).toBe('invalid_id');
    }
    const retry = await call(server, 'POST', '/api/admin/jobs/abc/retry', { token: ADMIN });
    expect(retry.body.error).toBe('invalid_id');
    const q = await call(server, 'GET', '/api/admin/jobs?state=nope', { token: ADMIN });
    expect(q).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    const unknown = await call(server, 'GET', `/${'z'.repeat(3000)}`, { token: ADMIN });
    expect(unknown.status).toBe(404);
    expect(unknown.text.length).toBeLessThan(400);
  });

  it('every error name the API answered above is in the list docs/remote.md documents', async () => {
    const names = documentedNames();
    for (const n of ['invalid_id', 'invalid_request', 'payload_too_large', 'unsupported_media_type', 'request_timeout', 'headers_too_large', 'unavailable', 'not_found', 'conflict', 'unauthorized']) {
      expect(names, n).toContain(n);
    }
    const huge = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, { giveUpMs: 10_000 });
    expect(huge.status).toBe(431);
    expect(bodyOf(huge.response).error).toBe('headers_too_large');
  });
});

describe('slow requests are timed out, refusals close the connection (--request-timeout 2s, --idle-timeout 1s)', () => {
  it('headers trickled one byte per 200 ms: 408 request_timeout and closed within the request timeout (+ slack)', async () => {
    const r = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', { trickle: 'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', everyMs: 200, maxBytes: 60, giveUpMs: 12_000 });
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs as number).toBeLessThan(5_000);
    expect(r.status).toBe(408);
    expect(bodyOf(r.response).error).toBe('request_timeout');
  });

  it('an authenticated body trickled one byte per 200 ms: 408 and closed', async () => {
    const head = `POST /api/admin/jobs/1/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
    const r = await rawRequest(server.port, head, { trickle: '{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', everyMs: 200, maxBytes: 60, giveUpMs: 12_000 });
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs as number).toBeLessThan(5_000);
    expect(r.status).toBe(408);
  });

  it('an unauthenticated request still sending its body gets 401 at once and the connection is closed', async () => {
    const head = 'POST /api/admin/jobs/1/retry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{';
    const r = await rawRequest(server.port, head, { trickle: 'a', everyMs: 100, maxBytes: 100, giveUpMs: 12_000 });
    expect(r.status).toBe(401);
    expect(r.answeredAfterMs as number).toBeLessThan(1_000);
    expect(r.response.toLowerCase()).toContain('connection: close');
    expect(r.closedAfterMs).not.toBeNull();
    expect((r.closedAfterMs as number) - (r.answeredAfterMs as number)).toBeLessThan(1_500);
  });

  it('an idle keep-alive connection is closed after the idle timeout', async () => {
    const r = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', { giveUpMs: 10_000 });
    expect(r.status).toBe(200);
    expect(r.closedAfterMs).not.toBeNull();
    expect(r.closedAfterMs as number).toBeLessThan(4_000);
  });

  it('a healthy request is unaffected', async () => {
    const r = await call(server, 'GET', '/healthz');
    expect(r).toMatchObject({ status: 200, body: { status: 'ok' } });
  });
});

describe('refusals consume no job id; cleanup-rbac under simulation', () => {
  it('an unknown-customer or refused DELETE does not consume a job id', async () => {
    const env = { CUSTCTL_STATE_DIR: tempStateDir() };
    const [a, b, busy] = [`cust_${randomKey('ida')}`, `cust_${randomKey('idb')}`, `cust_${randomKey('idc')}`];
    for (const [id, status] of [[a, 'deployed'], [b, 'deployed'], [busy, 'deploying']] as const) {
      const r = await custctl(['customers', 'add', id, '--email', 'ops@example.test', '--company', 'T', '--status', status], { env });
      expect(r.exitCode, r.stderr).toBe(0);
    }
    const first = await call(server, 'DELETE', `/api/customers/${a}`, { token: ADMIN });
    expect(first.status, first.text).toBe(200);
    const missing = await call(server, 'DELETE', `/api/customers/cust_${randomKey('nobody')}`, { token: ADMIN });
    expect(missing.status).toBe(404);
    const deploying = await call(server, 'DELETE', `/api/customers/${busy}`, { token: ADMIN });
    expect(deploying).toMatchObject({ status: 400, body: { error: 'conflict' } });
    const again = await call(server, 'DELETE', `/api/customers/${a}`, { token: ADMIN });
    expect(again).toMatchObject({ status: 400, body: { error: 'conflict' } });
    const second = await call(server, 'DELETE', `/api/customers/${b}`, { token: ADMIN });
    expect(second.status, second.text).toBe(200);
    expect(Number(second.body.jobId)).toBe(Number(first.body.jobId) + 1);
  });

  it('POST /api/admin/cleanup-rbac?dryRun=true under simulation answers 200 with an empty report that says it is simulated', async () => {
    const r = await call(server, 'POST', '/api/admin/cleanup-rbac?dryRun=true', { token: ADMIN });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ dryRun: true, result: { dryRun: true, simulated: true, orphans: [], kept: [], deleted: [], errors: [], note: expect.stringMatching(/no cluster/) } });
  });
});

describe('the tokens file permissions', () => {
  it('a group- or world-writable tokens file: serve refuses to start (exit 2) and says why', async () => {
    for (const mode of [0o666, 0o620]) {
      const stateDir = tempStateDir();
      const s = spawnServe(stateDir, await freePort(), { CUSTCTL_API_TOKENS_FILE: tokensFile(stateDir, mode) });
      const code = await Promise.race([s.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
      if (code === 'still running') await stop(s);
      expect(code, s.stderr()).toBe(2);
      expect(s.stderr()).toMatch(/writable by (everyone|its group) \(mode 0(666|620)\): refusing to start/);
      expect(s.stderr()).toContain('chmod 600');
    }
  });

  it('a tokens file readable by others: serve starts and warns', async () => {
    const stateDir = tempStateDir();
    const s = spawnServe(stateDir, await freePort(), { CUSTCTL_API_TOKENS_FILE: tokensFile(stateDir, 0o644) });
    try {
      await waitFor(async () => {
        if (s.child.exitCode !== null) throw new Error(`custctl serve exited ${s.child.exitCode}:\n${s.stderr()}`);
        return s.stderr().includes('listening on');
      }, 'serve to listen', 60_000, 100);
      expect(s.stderr()).toMatch(/WARN .*readable by everyone \(mode 0644\)/);
    } finally {
      await stop(s);
    }
  });
});
