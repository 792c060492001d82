/**
 * `custctl serve` as a process (the built binary) on a free loopback port, with the real
 * PostgreSQL, the real cluster and helm, the file journal and its embedded worker; and the
 * remote CLI (`--api-url`) against it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { BIN, custctl, tempStateDir } from '../support/cli.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;
const VIEWER = `view-${randomKey('v')}-secret-0123456789`;
/** the binary that has `serve` (override only while main.ts does not register it yet) */
const SERVE_BIN = process.env.CUSTCTL_TEST_SERVE_BIN ?? BIN;

interface Served {
  url: string;
  child: ChildProcess;
  stderrFile: string;
  stateDir: string;
  exited: Promise<number | null>;
  stderr(): string;
}

async function startServe(extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<Served> {
  const stateDir = tempStateDir();
  const port = await freePort();
  const tokensFile = path.join(stateDir, 'tokens');
  writeFileSync(tokensFile, `# test tokens\nci-bot:admin:${sha256Hex(ADMIN)}\ngrafana:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  const stderrFile = path.join(stateDir, 'serve.stderr');
  const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokensFile, ...extraEnv };
  delete env.SIMULATE_K8S_DEPLOYMENT;
  delete env.CUSTCTL_API_URL;
  delete env.CUSTCTL_API_TOKEN;
  if (!('REDIS_URL' in extraEnv)) delete env.REDIS_URL; // the file journal unless the test asks for Redis
  const child = spawn('node', [SERVE_BIN, 'serve', '--port', String(port), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(stderrFile);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const served: Served = { url: `http://127.0.0.1:${port}`, child, stderrFile, stateDir, exited, stderr: () => readFileSync(stderrFile, 'utf8') };
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`custctl serve exited ${child.exitCode}:\n${served.stderr()}`);
    return served.stderr().includes(`listening on ${served.url}`);
  }, 'custctl serve to listen', 60_000, 100).catch((e: unknown) => {
    child.kill('SIGTERM');
    throw e;
  });
  return served;
}

async function stop(s: Served): Promise<number | null> {
  if (s.child.exitCode === null) s.child.kill('SIGTERM');
  return s.exited;
}

async function api(s: Served, method: string, p: string, token?: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${s.url}${p}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, instance_url, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; instance_url: string; deletion_job_id: string | null } | undefined;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

let server: Served;

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
  expect(m.exitCode, m.stderr).toBe(0);
  server = await startServe({ QUEUE_RETRY_DELAY: '1000' });
});

afterAll(async () => {
  if (server) await stop(server);
});

describe('custctl serve: the seed endpoint contract on the real cluster', () => {
  it('DELETE /api/customers/:id → 200 seed shape; the job goes waiting → active → completed, progress 100; namespace gone; row pending', async () => {
    const c = await provisionCustomer(randomKey('sv'));
    const res = await api(server, 'DELETE', `/api/customers/${c.customerId}`, ADMIN);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      message: 'Customer deletion queued successfully',
      customerId: c.customerId,
      jobId: expect.stringMatching(/^\d+$/),
      status: 'pending',
      note: 'Kubernetes namespace will be deleted asynchronously. Check job status for progress.',
    });
    const jobId = res.body.jobId as string;

    // the second DELETE while the first runs: the seed's 400
    const again = await api(server, 'DELETE', `/api/customers/${c.customerId}`, ADMIN);
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ error: 'conflict', message: expect.stringContaining(`job ${jobId}`) });

    const states: string[] = [];
    const progress: number[] = [];
    const final = await waitFor(async () => {
      const j = await api(server, 'GET', `/api/admin/jobs/${jobId}`, VIEWER);
      expect(j.status).toBe(200);
      if (states.at(-1) !== j.body.state) states.push(j.body.state);
      if (progress.at(-1) !== j.body.progress) progress.push(j.body.progress);
      return j.body.state === 'completed' || j.body.state === 'failed' ? j.body : null;
    }, `job ${jobId} to end`, 120_000, 100);
    expect(final).toMatchObject({ id: jobId, state: 'completed', progress: 100, data: { customerId: c.customerId, namespace: c.namespace }, attemptsMade: 1, requestedBy: 'api:ci-bot', failedReason: null });
    expect(states.at(-1)).toBe('completed');
    expect(['waiting', 'active']).toContain(states[0]);
    expect(states.filter((s) => !['waiting', 'active', 'completed'].includes(s))).toEqual([]);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress); // never goes back
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'pending', instance_namespace: '', instance_url: '' });

    const listed = await api(server, 'GET', '/api/admin/jobs?state=completed', VIEWER);
    expect(listed.body.map((j: { id: string }) => j.id)).toContain(jobId);
    const cust = await api(server, 'GET', `/api/customers/${c.customerId}`, VIEWER);
    expect(cust.body).toMatchObject({ customer: { customerId: c.customerId, deploymentStatus: 'pending' }, jobs: [{ id: jobId }] });
  });

  it('404 for an unknown customer and job; 400 for a bad id; nothing queued', async () => {
    const before = (await api(server, 'GET', '/api/admin/jobs', VIEWER)).body.length as number;
    const missing = await api(server, 'DELETE', `/api/customers/cust_${randomKey('nobody')}`, ADMIN);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not_found');
    const bad = await api(server, 'DELETE', '/api/customers/12345', ADMIN);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid_id', message: expect.stringContaining('database row id') });
    expect((await api(server, 'GET', '/api/admin/jobs/99999999', VIEWER)).status).toBe(404);
    expect((await api(server, 'GET', '/api/admin/jobs/x1', VIEWER)).status).toBe(400);
    expect((await api(server, 'GET', '/api/admin/jobs', VIEWER)).body.length).toBe(before);
  });

  it('DELETE /api/customers/:id/deployment runs all four steps and answers with the result', async () => {
    const c = await provisionCustomer(randomKey('sy'));
    const res = await api(server, 'DELETE', `/api/customers/${c.customerId}/deployment`, ADMIN);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ customerId: c.customerId, state: 'completed', progress: 100, failedReason: null, result: { outcome: 'deleted', namespaceOutcome: 'deleted' } });
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('auth: no token and a wrong token 401, viewer 403 on DELETE, /healthz open; nothing changed', async () => {
    const c = await provisionCustomer(randomKey('au'));
    for (const [token, status] of [[undefined, 401], ['wrong-token-0000000000000000', 401], [VIEWER, 403]] as const) {
      const r = await api(server, 'DELETE', `/api/customers/${c.customerId}`, token);
      expect(r.status).toBe(status);
      expect(r.body.error).toBe(status === 401 ? 'unauthorized' : 'forbidden');
      if (status === 401) expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
    expect((await api(server, 'GET', '/api/admin/jobs')).status).toBe(401);
    expect((await api(server, 'POST', '/api/admin/jobs/1/cancel', VIEWER)).status).toBe(403);
    expect((await api(server, 'GET', '/readyz')).status).toBe(401);
    const ready = await api(server, 'GET', '/readyz', VIEWER);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', queue: 'file' } });
    const health = await api(server, 'GET', '/healthz');
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
    expect(await getNamespace(c.namespace)).not.toBeNull();
  });
});

describe('remote CLI (--api-url) against custctl serve with the file journal', () => {
  it('custctl delete --api-url … --yes prints progress and exits 0 with the namespace gone', async () => {
    const c = await provisionCustomer(randomKey('rc'));
    const r = await custctl(['delete', c.customerId, '--api-url', server.url, '--yes'], { env: { CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${c.customerId}\\s+${c.namespace}\\s+\\d+\\s+deleted`));
    expect(r.stderr).toContain('Customer deletion queued successfully');
    expect(r.stderr).toMatch(/job \d+ active \d+%/);
    expect(r.stderr).toMatch(/job \d+ completed 100%/);
    expect(r.stderr).toContain('Namespace deleted successfully'); // the server's pipeline log, relayed
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
    expect(r.stderr + r.stdout).not.toContain(ADMIN);

    // status job and jobs list through the API, the same output as locally
    const jobId = /\s(\d+)\s+deleted/.exec(r.stdout)?.[1] ?? '';
    const s = await custctl(['status', 'job', jobId, '--api-url', server.url, '-o', 'json'], { env: { CUSTCTL_API_TOKEN: VIEWER } });
    expect(s.exitCode, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ id: jobId, state: 'completed', progress: 100, data: { customerId: c.customerId } });
  });

  it('custctl delete --api-url … --sync runs the pipeline on the server synchronously', async () => {
    const c = await provisionCustomer(randomKey('sy'));
    const r = await custctl(['delete', c.customerId, '--api-url', server.url, '--yes', '--sync', '-o', 'json'], { env: { CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 0, results: [{ customerId: c.customerId, state: 'completed', result: { outcome: 'deleted', namespaceOutcome: 'deleted' } }] });
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
  });

  it('maps API errors to exit codes: not found 3, already deleting 4, viewer 1 (forbidden), no server 1 with a clear message', async () => {
    const env = { CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() };
    const missing = await custctl(['delete', `cust_${randomKey('zz')}`, '--api-url', server.url, '--yes'], { env });
    expect(missing.exitCode).toBe(3);
    const c = await provisionCustomer(randomKey('cf'));
    const queued = await custctl(['delete', c.customerId, '--api-url', server.url, '--yes', '--detach'], { env });
    expect(queued.exitCode, queued.stderr).toBe(0);
    const conflict = await custctl(['delete', c.customerId, '--api-url', server.url, '--yes'], { env });
    expect(conflict.exitCode).toBe(4);
    const viewer = await custctl(['delete', c.customerId, '--api-url', server.url, '--yes'], { env: { ...env, CUSTCTL_API_TOKEN: VIEWER } });
    expect(viewer.exitCode).toBe(1);
    expect(viewer.stderr).toMatch(/refused the request: token grafana has role viewer/);
    const port = await freePort();
    const down = await custctl(['jobs', 'list', '--api-url', `http://127.0.0.1:${port}`], { env });
    expect(down.exitCode).toBe(1);
    expect(down.stderr).toContain(`cannot reach the custctl API at http://127.0.0.1:${port}`);
    expect(down.stderr).toContain('ECONNREFUSED');
    expect(down.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const usage = await custctl(['delete', c.customerId, '--api-url', server.url, '--context', 'x', '--yes'], { env });
    expect(usage.exitCode).toBe(2);
    await waitFor(async () => (await row(c.customerId))?.deployment_status === 'pending', `${c.customerId} to be deleted by the worker`, 120_000);
  });
});

describe.each(CLI_BULL_BACKENDS)('serve on %s with two custctl worker processes', (_title, backend) => {
  afterAll(() => backend.cleanup());

  it('deletions through the API are run once each by the workers; the remote CLI follows them to the end', async () => {
    const prefixEnv = { ...(await backend.queueEnv(0)), QUEUE_RETRY_DELAY: '1000' };
    const s = await startServe(prefixEnv);
    const workers: ChildProcess[] = [];
    const workerLogs: string[] = ['', ''];
    try {
      expect(s.stderr()).toContain('queue=bullmq');
      for (const i of [0, 1]) {
        const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: tempStateDir(), ...prefixEnv };
        delete env.SIMULATE_K8S_DEPLOYMENT;
        const w = spawn('node', [SERVE_BIN, 'worker', '--concurrency', '2'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        w.stderr?.on('data', (b: Buffer) => { workerLogs[i] += b.toString(); });
        workers.push(w);
      }
      await waitFor(async () => workerLogs.every((l) => l.includes(backend.started)), `both workers to start:\n${workerLogs.join('\n')}`, 30_000, 100);

      const customers = await Promise.all([0, 1, 2].map(() => provisionCustomer(randomKey('bq'))));
      const jobIds: string[] = [];
      for (const c of customers) {
        const r = await api(s, 'DELETE', `/api/customers/${c.customerId}`, ADMIN);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        jobIds.push(r.body.jobId);
      }
      // the remote CLI on one more customer, following the BullMQ job
      const last = await provisionCustomer(randomKey('bq'));
      const cli = await custctl(['delete', last.customerId, '--api-url', s.url, '--yes'], { env: { CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() } });
      expect(cli.exitCode, cli.stderr).toBe(0);
      expect(cli.stderr).toMatch(/job \d+ completed 100%/);
      // a local delete with the BullMQ queue configured queues on BullMQ and follows the job a worker runs
      const local = await provisionCustomer(randomKey('bq'));
      const lr = await custctl(['delete', local.customerId, '--yes'], { env: { ...prefixEnv, CUSTCTL_STATE_DIR: tempStateDir() } });
      expect(lr.exitCode, lr.stderr).toBe(0);
      expect(lr.stderr).toMatch(/job \d+ completed 100%/);
      expect(lr.stdout).toMatch(new RegExp(`${local.customerId}\\s+${local.namespace}\\s+\\d+\\s+deleted`));

      for (const id of jobIds) {
        const j = await waitFor(async () => {
          const r = await api(s, 'GET', `/api/admin/jobs/${id}`, VIEWER);
          return r.body.state === 'completed' || r.body.state === 'failed' ? r.body : null;
        }, `job ${id}`, 120_000, 200);
        expect(j).toMatchObject({ id, state: 'completed', progress: 100, attemptsMade: 1, requestedBy: 'api:ci-bot' });
      }
      for (const c of [...customers, last, local]) {
        expect(await getNamespace(c.namespace)).toBeNull();
        expect((await row(c.customerId))?.deployment_status).toBe('pending');
      }
      // each job ran once, on one of the two workers
      const started = workerLogs.join('\n').match(/Job \d+ attempt 1\/\d+ started/g) ?? [];
      for (const id of jobIds) expect(started.filter((l) => l.startsWith(`Job ${id} `))).toHaveLength(1);
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
      await stop(s);
    }
    for (const t of [ADMIN, VIEWER]) expect(s.stderr() + workerLogs.join('')).not.toContain(t);
  }, 240_000);
});

describe('serve start-up and shutdown', () => {
  it('refuses to start without a token, and plain HTTP on a non-loopback address', async () => {
    const env = { CUSTCTL_STATE_DIR: tempStateDir(), CUSTCTL_API_TOKEN: '', CUSTCTL_API_TOKENS_FILE: '' };
    const serveCli = async (args: string[], extra: NodeJS.ProcessEnv) => {
      const r = await execa('node', [SERVE_BIN, 'serve', ...args], { env: { ...cliEnv(), NO_COLOR: '1', ...extra }, reject: false, timeout: 30_000 });
      return { exitCode: r.exitCode, stderr: String(r.stderr) };
    };
    const none = await serveCli(['--port', '0'], env);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('no API token configured');
    const open = await serveCli(['--port', '0', '--host', '0.0.0.0'], { ...env, CUSTCTL_API_TOKEN: ADMIN });
    expect(open.exitCode).toBe(2);
    expect(open.stderr).toContain('refusing to serve plain HTTP on 0.0.0.0');
  }, 60_000);

  it('with the store down: starts, /healthz 200, /readyz and DELETE 500 internal; SIGTERM stops it cleanly', async () => {
    const port = await freePort(); // nothing listens there
    const s = await startServe({ DATABASE_URL: `postgres://custctl_test@127.0.0.1:${port}/custctl_test` });
    try {
      expect((await api(s, 'GET', '/healthz')).status).toBe(200);
      const ready = await api(s, 'GET', '/readyz', VIEWER);
      expect(ready.status).toBe(500);
      expect(ready.body).toMatchObject({ error: 'internal', message: expect.stringContaining('store') });
      const del = await api(s, 'DELETE', `/api/customers/cust_${randomKey('down')}`, ADMIN);
      expect(del.status).toBe(500);
      expect(del.body.error).toBe('internal');
    } finally {
      // a clean stop; main.ts turns "interrupted" into 130 for every command (serve included)
      expect([0, 130]).toContain(await stop(s));
    }
    expect(s.stderr()).toContain('Stopped');
  });

  it('the tokens appear in no server log and no journal file', async () => {
    const texts = [server.stderr(), ...filesUnder(server.stateDir).filter((f) => !f.endsWith('tokens')).map((f) => readFileSync(f, 'latin1'))];
    const all = texts.join('\n');
    expect(all).toContain('api:ci-bot'); // the name is recorded
    for (const t of [ADMIN, VIEWER]) expect(all).not.toContain(t);
  });
});
