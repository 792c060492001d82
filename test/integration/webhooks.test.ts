/**
 * Webhooks on job end, end to end: a real HTTP receiver (node:http on 127.0.0.1, in this file)
 * verifies `X-Custctl-Signature-256` over the raw body for real deletions on the real control
 * plane (helm, the API server, PostgreSQL), run by the built binary as an operator runs it:
 *
 * - `custctl delete` (file journal): delivered before the command exits, signed, visible in
 *   `status job N` (human and -o json); two endpoints from a config file, one with the wrong
 *   secret, which the receiver refuses (401) and `status job` shows pending;
 * - the receiver down: the deletion is not delayed or failed; the delivery is journaled and
 *   delivered by the next custctl process (`worker --once`) once the receiver is back;
 * - `custctl serve` killed (-9) while the receiver is down, restarted: it delivers, and the
 *   deliveries are on its API (`GET /api/admin/jobs/:id/deliveries`, `status job --api-url`);
 * - BullMQ on Redis (db 11): the worker journals in Redis; a new worker after a kill delivers;
 * - a broken configuration is refused (exit 2) before anything is deleted;
 * - no secret in any stderr, log or journal file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/domain/webhook.js';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';

const SECRET = `whsec-${randomKey('s')}-0123456789abcdef`;
const WRONG_SECRET = `whsec-${randomKey('w')}-not-the-receivers`;
const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  verified: boolean;
  status: number;
}

/** The billing side: checks the signature in constant time (README "Webhooks"), 204 or 401. */
class Receiver {
  readonly got: Received[] = [];
  private server: Server | null = null;
  constructor(readonly port: number) {}
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verifySignature(SECRET, body, req.headers['x-custctl-signature-256'] as string | undefined);
        const status = verified ? 204 : 401;
        this.got.push({ path: req.url ?? '', headers: req.headers, body, verified, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
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
const children: ChildProcess[] = [];
/** every stderr and log this file saw: none may hold a secret */
const outputs: string[] = [];
const stateDirs: string[] = [];

async function receiver(start = true): Promise<Receiver> {
  const r = new Receiver(await freePort());
  receivers.push(r);
  if (start) await r.start();
  return r;
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const r of receivers) await r.stop();
  for (const [, b] of CLI_BULL_BACKENDS) await b.cleanup();
});

type JobJson = { id: string; state: string; deliveries: Array<{ id: string; endpoint: string; url: string; event: string; state: string; attempts: number; statusCode: number | null; lastError: string | null; deliveredAt: number | null }> };

/** `custctl` with the real parts; records its stderr for the no-secret check. */
async function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 180_000) {
  const r = await custctl(args, { env, timeoutMs });
  outputs.push(r.stderr, r.stdout);
  return r;
}

async function statusJob(id: string, env: NodeJS.ProcessEnv): Promise<JobJson> {
  const r = await custctlJson<JobJson>(['status', 'job', id], { env });
  outputs.push(r.result.stderr);
  expect(r.result.exitCode, r.result.stderr).toBe(0);
  return r.json;
}

function hookEnv(r: Receiver, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const stateDir = tempStateDir();
  stateDirs.push(stateDir);
  return { CUSTCTL_STATE_DIR: stateDir, CUSTCTL_WEBHOOK_URL: `${r.url}/hooks/custctl`, CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_EXIT_WAIT: '30s', ...extra };
}

/** A custctl process that runs until stopped (serve, worker), its stderr in a file. */
async function spawnCustctl(args: string[], env: NodeJS.ProcessEnv, ready: (log: string) => boolean): Promise<{ child: ChildProcess; log: () => string; exited: Promise<void> }> {
  const dir = tempStateDir();
  const file = path.join(dir, `custctl-${args[0]}.log`);
  writeFileSync(file, '');
  const e: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', ...env };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN']) delete e[k];
  if (!env.REDIS_URL) delete e.REDIS_URL;
  const child = spawn('node', [BIN, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = createWriteStream(file);
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = () => readFileSync(file, 'utf8');
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`custctl ${args[0]} exited ${child.exitCode}:\n${log()}`);
    return ready(log());
  }, `custctl ${args.join(' ')} to start`, 60_000, 100);
  return { child, log: () => log(), exited };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath ?? (d as unknown as { path: string }).path, d.name));
}

function expectNoSecretIn(text: string, where: string): void {
  for (const s of [SECRET, WRONG_SECRET]) expect(text.includes(s), `${where} holds a webhook secret`).toBe(false);
}

describe('webhooks on job end, on the real control plane', () => {
  it('custctl delete: one signed POST before the command exits; status job shows it delivered', async () => {
    const r = await receiver();
    // the OpenCost RBAC outside the release: step 3 deletes it (helm does not), so it is counted
    const c = await provisionCustomer(randomKey('wh'), { rbacOutsideRelease: true });
    const env = hookEnv(r);
    const t0 = Date.now();
    const d = await run(['delete', c.customerId, '--yes', '-o', 'json'], env);
    const took = Date.now() - t0;
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    const jobId = (JSON.parse(d.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;

    // delivered by the deleting process itself, before it exited
    expect(r.got).toHaveLength(1);
    const got = r.got[0] as Received;
    expect(got.verified).toBe(true);
    expect(got.path).toBe('/hooks/custctl');
    expect(got.headers['x-custctl-event']).toBe('job.completed');
    expect(got.headers['user-agent']).toMatch(/^custctl\/\d+\.\d+\.\d+/);
    expect(got.headers['content-type']).toBe('application/json');
    const body = JSON.parse(got.body);
    expect(body).toMatchObject({
      event: 'job.completed',
      deliveryId: got.headers['x-custctl-delivery'],
      job: { id: jobId, kind: 'delete', outcome: 'completed', customerId: c.customerId, namespace: c.namespace, simulated: false, attemptsMade: 1, error: null },
      deleted: { releases: 1, clusterRbac: 2, names: { releases: [c.release] } },
    });
    expect(body.deleted.objects).toBeGreaterThanOrEqual(2);
    expect(body.deleted.objectsByKind).toMatchObject({ Deployment: 1, PersistentVolumeClaim: 1 });
    expect(body.durations.totalMs).toBeGreaterThan(4_000); // the namespace controller's grace period at least
    expect(body.durations.totalMs).toBeLessThan(took);
    expect(Date.parse(body.timestamp)).toBeGreaterThan(t0);

    const job = await statusJob(jobId, env);
    expect(job.state).toBe('completed');
    expect(job.deliveries).toHaveLength(1);
    expect(job.deliveries[0]).toMatchObject({ id: got.headers['x-custctl-delivery'], endpoint: 'default', url: `${r.url}/hooks/custctl`, event: 'job.completed', state: 'delivered', attempts: 1, statusCode: 204, lastError: null });
    const human = await run(['status', 'job', jobId], env);
    expect(human.stdout).toMatch(/Webhooks\n  default  job\.completed  delivered HTTP 204 at \S+ \(1 attempt\)/);
  }, 240_000);

  it('two endpoints from a config file: the receiver refuses the one signed with the wrong secret; status job shows both', async () => {
    const r = await receiver();
    const c = await provisionCustomer(randomKey('whf'));
    const dir = tempStateDir();
    stateDirs.push(dir);
    writeFileSync(path.join(dir, 'billing.secret'), `${SECRET}\n`, { mode: 0o600 });
    const config = path.join(dir, 'webhooks.yaml');
    writeFileSync(config, [
      'endpoints:',
      '  - name: billing',
      `    url: ${r.url}/billing?tenant=prod`,
      '    secretFile: billing.secret',
      '    events: [completed, failed]',
      '  - name: misconfigured',
      `    url: ${r.url}/other`,
      '    secretEnv: OTHER_HOOK_SECRET',
      '',
    ].join('\n'), { mode: 0o600 });
    const env = { CUSTCTL_STATE_DIR: path.join(dir, 'state'), CUSTCTL_WEBHOOKS_FILE: config, OTHER_HOOK_SECRET: WRONG_SECRET, CUSTCTL_WEBHOOK_EXIT_WAIT: '30s' };
    const d = await run(['delete', c.customerId, '--yes', '-o', 'json'], env);
    expect(d.exitCode, d.stderr).toBe(0); // a refused webhook never fails the deletion
    const jobId = (JSON.parse(d.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;
    const billing = r.got.filter((g) => g.path === '/billing?tenant=prod');
    const other = r.got.filter((g) => g.path === '/other');
    expect(billing.map((g) => g.verified)).toEqual([true]);
    expect(other.map((g) => [g.verified, g.status])).toEqual([[false, 401]]); // the receiver detects the wrong secret
    const job = await statusJob(jobId, env);
    const byName = Object.fromEntries(job.deliveries.map((x) => [x.endpoint, x]));
    expect(byName.billing).toMatchObject({ state: 'delivered', statusCode: 204, url: `${r.url}/billing?…` });
    expect(byName.misconfigured).toMatchObject({ state: 'pending', attempts: 1, statusCode: 401, lastError: 'HTTP 401 Unauthorized' });
    expect(d.stderr).toMatch(/Webhook job\.completed of job \d+ to misconfigured failed; next try/);
    const human = await run(['status', 'job', jobId], env);
    expect(human.stdout).toMatch(/misconfigured  job\.completed  pending 1 attempt, last HTTP 401; next try/);
    expect(human.stdout).toContain('last error: HTTP 401 Unauthorized');
    expect(human.stdout).not.toContain('tenant=prod');
  }, 240_000);

  it('the receiver down: the deletion ends as fast, the delivery waits journaled, and the next custctl process delivers it once the receiver is back', async () => {
    const r = await receiver(false); // nothing listens on its port yet
    const c = await provisionCustomer(randomKey('whd'));
    const env = hookEnv(r, { CUSTCTL_WEBHOOK_RETRY_DELAY: '200ms', CUSTCTL_WEBHOOK_EXIT_WAIT: '2s' });
    const d = await run(['delete', c.customerId, '--yes', '-o', 'json'], env);
    const exitedAt = Date.now();
    expect(d.exitCode, d.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    const row = await db().query('select deployment_status from customers where customer_id = $1', [c.customerId]);
    expect(row.rows[0]?.deployment_status).toBe('pending');
    const jobId = (JSON.parse(d.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;
    const ended = await statusJob(jobId, env);
    // the command ended at most the exit wait (2 s) after the job, plus process start-up and exit on a loaded machine
    expect(exitedAt - (ended as unknown as { finishedOn: number }).finishedOn).toBeLessThan(2_000 + 8_000);
    const pending = ended.deliveries;
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ state: 'pending', statusCode: null, lastError: 'connection refused (ECONNREFUSED)' });
    expect(pending[0]?.attempts).toBeGreaterThanOrEqual(1);
    expect(d.stderr).toMatch(/Webhook job\.completed of job \d+ to default failed; next try/);

    await r.start();
    // a later custctl process that works with jobs (here the cron-style `worker --once`) delivers it
    const w = await run(['worker', '--once'], env);
    expect(w.exitCode, w.stderr).toBe(0);
    expect(r.got.map((g) => g.verified)).toEqual([true]);
    const after = (await statusJob(jobId, env)).deliveries;
    expect(after[0]).toMatchObject({ id: pending[0]?.id, state: 'delivered', statusCode: 204, lastError: null });
    expect(after[0]?.attempts).toBeGreaterThan(pending[0]?.attempts ?? 0);
    expect(JSON.parse((r.got[0] as Received).body).deliveryId).toBe(pending[0]?.id);
  }, 240_000);

  it('serve killed while the receiver is down delivers after its restart; its API and status job --api-url show the deliveries', async () => {
    const r = await receiver(false);
    const c = await provisionCustomer(randomKey('whs'));
    const stateDir = tempStateDir();
    stateDirs.push(stateDir);
    const tokens = path.join(stateDir, 'tokens');
    writeFileSync(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\n`, { mode: 0o600 });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = { CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokens, CUSTCTL_WEBHOOK_URL: `${r.url}/h`, CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_RETRY_DELAY: '300ms', CUSTCTL_WEBHOOK_RETRY_MAX_DELAY: '1s', CUSTCTL_WEBHOOK_TIMEOUT: '2s' };
    const api = async (method: string, p: string) => {
      const res = await fetch(`${url}${p}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
      return { status: res.status, body: (await res.json()) as any };
    };
    let s = await spawnCustctl(['serve', '--port', String(port)], env, (l) => l.includes(`listening on ${url}`));
    const del = await api('DELETE', `/api/customers/${c.customerId}`);
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    const jobId = del.body.jobId as string;
    await waitFor(async () => (await api('GET', `/api/admin/jobs/${jobId}`)).body.state === 'completed', 'the deletion', 120_000);
    // retried while the receiver is down
    await waitFor(async () => ((await api('GET', `/api/admin/jobs/${jobId}/deliveries`)).body.deliveries[0]?.attempts ?? 0) >= 2, 'two failed tries', 60_000);
    s.child.kill('SIGKILL');
    await s.exited;
    outputs.push(s.log());
    await r.start();
    s = await spawnCustctl(['serve', '--port', String(port)], env, (l) => l.includes(`listening on ${url}`));
    await waitFor(async () => r.got.length > 0, 'the restarted serve to deliver', 60_000);
    expect(r.got.map((g) => g.verified)).toEqual([true]);
    const api2 = await waitFor(async () => {
      const a = await api('GET', `/api/admin/jobs/${jobId}/deliveries`);
      return a.body.deliveries[0]?.state === 'delivered' ? a : null;
    }, 'the delivery recorded', 30_000);
    expect(api2.body).toMatchObject({ jobId, deliveries: [{ endpoint: 'default', event: 'job.completed', state: 'delivered', statusCode: 204 }] });
    const remote = await custctlJson<JobJson>(['status', 'job', jobId, '--api-url', url], { env: { CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(remote.result.exitCode, remote.result.stderr).toBe(0);
    expect(remote.json.deliveries[0]).toMatchObject({ state: 'delivered', statusCode: 204 });
    expect(remote.json.deliveries[0]?.attempts).toBeGreaterThanOrEqual(3);
    s.child.kill('SIGTERM');
    await s.exited;
    outputs.push(s.log());
  }, 300_000);

  it.each(CLI_BULL_BACKENDS)('%s: the worker journals beside the queue; after a kill, a new worker delivers; status job reads it from there', async (_title, backend) => {
    const r = await receiver(false);
    const c = await provisionCustomer(randomKey('whb'));
    const queueEnv = await backend.queueEnv(11);
    const workerEnv = { ...queueEnv, CUSTCTL_STATE_DIR: tempStateDir(), CUSTCTL_WEBHOOK_URL: `${r.url}/bull`, CUSTCTL_WEBHOOK_SECRET: SECRET, CUSTCTL_WEBHOOK_RETRY_DELAY: '300ms', CUSTCTL_WEBHOOK_RETRY_MAX_DELAY: '1s', CUSTCTL_WEBHOOK_TIMEOUT: '2s' };
    // the CLI that queues and follows has no webhook configured: the worker that runs the job journals and delivers
    const cliEnvB = { ...queueEnv, CUSTCTL_STATE_DIR: tempStateDir() };
    let w = await spawnCustctl(['worker'], workerEnv, (l) => l.includes(backend.started));
    const d = await run(['delete', c.customerId, '--yes', '-o', 'json'], cliEnvB);
    expect(d.exitCode, d.stderr).toBe(0);
    const jobId = (JSON.parse(d.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId as string;
    const failing = await waitFor(async () => {
      const j = await statusJob(jobId, cliEnvB);
      return (j.deliveries[0]?.attempts ?? 0) >= 2 ? j : null;
    }, 'the worker to try twice', 60_000, 500);
    expect(failing.deliveries[0]).toMatchObject({ state: 'pending', statusCode: null, lastError: 'connection refused (ECONNREFUSED)' });
    w.child.kill('SIGKILL');
    await w.exited;
    outputs.push(w.log());
    await r.start();
    w = await spawnCustctl(['worker'], workerEnv, (l) => l.includes(backend.started));
    await waitFor(async () => r.got.length > 0, 'the new worker to deliver', 60_000);
    expect(r.got.map((g) => [g.verified, g.path])).toEqual([[true, '/bull']]);
    const done = await waitFor(async () => {
      const j = await statusJob(jobId, cliEnvB);
      return j.deliveries[0]?.state === 'delivered' ? j : null;
    }, `the delivery recorded in ${backend.name}`, 30_000, 500);
    expect(done.deliveries[0]).toMatchObject({ id: failing.deliveries[0]?.id, statusCode: 204 });
    expect(JSON.parse((r.got[0] as Received).body)).toMatchObject({ event: 'job.completed', job: { id: jobId, customerId: c.customerId } });
    w.child.kill('SIGTERM');
    await w.exited;
    outputs.push(w.log());
  }, 300_000);

  it('a broken webhook configuration is refused (exit 2) before anything is deleted, naming no secret', async () => {
    const c = await provisionCustomer(randomKey('whx'));
    const base = { CUSTCTL_STATE_DIR: tempStateDir() };
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ CUSTCTL_WEBHOOK_URL: 'ftp://127.0.0.1/x', CUSTCTL_WEBHOOK_SECRET: SECRET }, /must be an http:\/\/ or https:\/\/ URL/],
      [{ CUSTCTL_WEBHOOK_URL: 'http://127.0.0.1:9/x' }, /CUSTCTL_WEBHOOK_SECRET is not/],
      [{ CUSTCTL_WEBHOOK_URL: 'http://127.0.0.1:9/x', CUSTCTL_WEBHOOK_SECRET: SECRET.slice(0, 10) }, /at least 16/],
    ];
    for (const [extra, msg] of cases) {
      const d = await run(['delete', c.customerId, '--yes'], { ...base, ...extra });
      expect(d.exitCode, d.stderr).toBe(2);
      expect(d.stderr).toMatch(msg);
      expect(d.stderr).not.toContain(SECRET.slice(0, 10));
    }
    const s = await run(['serve', '--port', '0'], { ...base, CUSTCTL_API_TOKEN: ADMIN, CUSTCTL_WEBHOOK_URL: 'http://127.0.0.1:9/x', CUSTCTL_WEBHOOK_SECRET: 'short' }, 60_000);
    expect(s.exitCode, s.stderr).toBe(2);
    expect(s.stderr).not.toContain('listening on');
    // nothing was touched
    expect(await getNamespace(c.namespace)).not.toBeNull();
    const row = await db().query('select deployment_status, deletion_job_id from customers where customer_id = $1', [c.customerId]);
    expect(row.rows[0]).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
    // and the customer is still deletable (without webhooks)
    const ok = await run(['delete', c.customerId, '--yes'], base);
    expect(ok.exitCode, ok.stderr).toBe(0);
  }, 180_000);

  it('no secret in any stderr, log, or file under the state directories', () => {
    expect(outputs.length).toBeGreaterThan(10);
    for (const [i, o] of outputs.entries()) expectNoSecretIn(o, `output #${i}`);
    let files = 0;
    for (const dir of stateDirs) {
      for (const f of filesUnder(dir)) {
        if (/webhooks\.yaml$|\.secret$|tokens$/.test(f) || statSync(f).size > 5_000_000) continue; // the configuration holds them, as it must
        expectNoSecretIn(readFileSync(f, 'latin1'), f);
        files++;
      }
    }
    expect(files).toBeGreaterThan(5);
  });
});
