/**
 * Metrics end to end: a real Prometheus (test/env/prometheus.ts) scrapes `custctl serve` (the built
 * binary, file journal, embedded worker) every second with a viewer token while deletions run on the
 * real control plane, and PromQL over its HTTP API returns the counts; `promtool check metrics`
 * passes on serve's /metrics and on a CLI run's --metrics-textfile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/server/auth.js';
import { freePort } from '../env/ports.js';
import { startPrometheus, type Prometheus } from '../env/prometheus.js';
import { BIN, custctl, tempStateDir } from '../support/cli.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';
import { cliEnv } from '../support/env.js';
import { getNamespace, provisionCustomer, randomKey, unstick, waitFor } from '../support/fixtures.js';

const ADMIN = `adm-${randomKey('a')}-secret-0123456789`;
const VIEWER = `view-${randomKey('v')}-secret-0123456789`;

let stateDir: string;
let serveUrl: string;
let child: ChildProcess;
let exited: Promise<number | null>;
let prom: Prometheus;
/** the BullMQ worker's --metrics-port, chosen now so that Prometheus scrapes it from the start */
let workerPort: number;

async function promtoolCheck(text: string): Promise<{ code: number; out: string }> {
  const r = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
  return { code: r.exitCode ?? -1, out: `${r.stdout}${r.stderr}` };
}

async function api(method: string, p: string, token = ADMIN): Promise<{ status: number; body: any }> {
  const res = await fetch(`${serveUrl}${p}`, { method, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

/** the single value of an instant query, or null while it returns nothing */
async function scalar(q: string): Promise<number | null> {
  const r = await prom.query(q);
  return r.length === 1 ? (r[0] as { value: number }).value : null;
}

beforeAll(async () => {
  stateDir = tempStateDir();
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: stateDir } });
  expect(m.exitCode, m.stderr).toBe(0);
  const tokensFile = path.join(stateDir, 'tokens');
  writeFileSync(tokensFile, `ci-bot:admin:${sha256Hex(ADMIN)}\nprometheus:viewer:${sha256Hex(VIEWER)}\n`, { mode: 0o600 });
  const viewerFile = path.join(stateDir, 'viewer-token');
  writeFileSync(viewerFile, VIEWER, { mode: 0o600 });
  const port = await freePort();
  serveUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { ...cliEnv(), NO_COLOR: '1', CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokensFile, QUEUE_MAX_RETRIES: '1' };
  for (const k of ['SIMULATE_K8S_DEPLOYMENT', 'CUSTCTL_API_URL', 'CUSTCTL_API_TOKEN', 'REDIS_URL']) delete env[k];
  child = spawn('node', [BIN, 'serve', '--port', String(port)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = path.join(stateDir, 'serve.stderr');
  const out = createWriteStream(log);
  child.stderr?.pipe(out);
  child.stdout?.pipe(out);
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`custctl serve exited ${child.exitCode}:\n${readFileSync(log, 'utf8')}`);
    return readFileSync(log, 'utf8').includes(`listening on ${serveUrl}`);
  }, 'custctl serve to listen', 60_000, 100);
  workerPort = await freePort();
  prom = await startPrometheus(path.join(stateDir, 'prometheus'), [
    { job: 'custctl', target: `127.0.0.1:${port}`, bearerTokenFile: viewerFile },
    { job: 'custctl-worker', target: `127.0.0.1:${workerPort}` },
  ]);
  await waitFor(async () => (await scalar('up{job="custctl"}')) === 1, 'Prometheus to scrape serve', 60_000, 250);
});

afterAll(async () => {
  await prom?.stop();
  if (child && child.exitCode === null) child.kill('SIGTERM');
  await exited;
});

describe('Prometheus scrapes custctl serve while deletions run on the real cluster', () => {
  it('two deletions succeed and one times out on a stuck namespace: PromQL returns the counts, durations and queue depth', async () => {
    const ok = await Promise.all([provisionCustomer(randomKey('pm')), provisionCustomer(randomKey('pm'))]);
    const stuck = await provisionCustomer(randomKey('pms'), { stuck: true });
    try {
      const jobs: string[] = [];
      for (const c of ok) {
        const r = await api('DELETE', `/api/customers/${c.customerId}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        jobs.push(r.body.jobId);
      }
      const s = await api('DELETE', `/api/customers/${stuck.customerId}?timeoutMs=3000`);
      expect(s.status, JSON.stringify(s.body)).toBe(200);
      jobs.push(s.body.jobId);

      // while they run, a scrape sees them active (each takes ≥ 5 s: the namespace controller's grace period)
      await waitFor(async () => ((await scalar('custctl_jobs{job="custctl",state="active"}')) ?? 0) >= 1, 'a scrape to see an active job', 60_000, 250);

      const finals = await Promise.all(jobs.map((id) => waitFor(async () => {
        const j = await api('GET', `/api/admin/jobs/${id}`, VIEWER);
        return j.body.state === 'completed' || j.body.state === 'failed' ? j.body : null;
      }, `job ${id} to end`, 180_000, 250)));
      expect(finals.map((j: { state: string }) => j.state)).toEqual(['completed', 'completed', 'failed']);
      for (const c of ok) expect(await getNamespace(c.namespace)).toBeNull();

      // the next scrapes carry the ends
      await waitFor(async () => (await scalar('sum(customer_deletions_total{status="failed"})')) === 1, 'the failed deletion in Prometheus', 30_000, 250);
      await waitFor(async () => (await scalar('sum(customer_deletions_total{status="success"})')) === 2, 'the two successes in Prometheus', 30_000, 250);
      expect(await scalar('sum(custctl_job_attempts_total{kind="delete",outcome="completed"})')).toBe(2);
      expect(await scalar('sum(custctl_job_attempts_total{kind="delete",outcome="failed"})')).toBe(1);
      expect(await scalar('customer_deletion_duration_seconds_count')).toBe(2);
      // a real deletion takes at least the namespace controller's 5 s grace period
      expect(await scalar('customer_deletion_duration_seconds_sum / customer_deletion_duration_seconds_count')).toBeGreaterThan(4);
      // step 2: two namespaces deleted and one wait that timed out (≥ 3 s)
      expect(await scalar('customer_namespace_deletion_duration_seconds_count')).toBe(3);
      expect(await scalar('customer_namespace_deletion_duration_seconds_bucket{le="2.5"}')).toBe(0);
      expect(await scalar('custctl_step_duration_seconds_count{step="namespace"}')).toBe(3);
      expect(await scalar('custctl_step_duration_seconds_count{step="helm-uninstall"}')).toBe(3);
      expect(await scalar('custctl_step_duration_seconds_count{step="row"}')).toBe(2);
      expect(await scalar('custctl_jobs{state="completed"}')).toBe(2);
      expect(await scalar('custctl_jobs{state="failed"}')).toBe(1);
      expect(await scalar('custctl_jobs{state="active"}')).toBe(0);
      expect(await scalar('custctl_last_successful_deletion_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 600);
      // no customer id or namespace in any series custctl exports
      const series = await prom.query('{job="custctl", __name__=~"customer_.*|custctl_.*"}');
      expect(series.length).toBeGreaterThan(20);
      const labels = JSON.stringify(series.map((x) => x.metric));
      for (const c of [...ok, stuck]) expect(labels).not.toContain(c.key);
    } finally {
      await unstick(stuck.namespace);
    }
  }, 300_000);

  it('a cleanup-rbac dry run sets custctl_orphaned_cluster_rbac for both kinds', async () => {
    const r = await api('POST', '/api/admin/cleanup-rbac?dryRun=true');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const roles = r.body.result.orphans.filter((o: { kind: string }) => o.kind === 'ClusterRole').length as number;
    await waitFor(async () => (await prom.query('custctl_orphaned_cluster_rbac')).length === 2, 'the orphan gauge in Prometheus', 30_000, 250);
    // other test files create and remove RBAC at the same time: the value is this scan's, read back from serve
    const text = (await api('GET', '/metrics', VIEWER)).body as string;
    expect(text).toMatch(new RegExp(`^custctl_orphaned_cluster_rbac\\{kind="ClusterRole"\\} ${roles}$`, 'm'));
  });

  it('promtool check metrics passes on serve\'s /metrics (with the process series)', async () => {
    const res = await api('GET', '/metrics', VIEWER);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^process_resident_memory_bytes /m);
    expect(await promtoolCheck(res.body)).toEqual({ code: 0, out: '' });
    expect((await fetch(`${serveUrl}/metrics`)).status).toBe(401);
  });
});

describe('--metrics-textfile on a one-off CLI deletion', () => {
  it('writes the run\'s series atomically; promtool check metrics passes', async () => {
    const c = await provisionCustomer(randomKey('pmt'));
    const file = path.join(stateDir, 'textfile', 'custctl.prom');
    const { mkdirSync, readdirSync } = await import('node:fs');
    mkdirSync(path.dirname(file), { recursive: true });
    const r = await custctl(['--metrics-textfile', file, 'delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode, r.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^customer_deletions_total\{status="success"\} 1$/m);
    expect(text).toMatch(/^customer_namespace_deletion_duration_seconds_count 1$/m);
    expect(text).toMatch(/^custctl_jobs\{state="completed"\} 1$/m);
    expect(text).not.toMatch(/^process_/m); // a finished process's CPU and memory would mislead
    expect(text).not.toContain(c.key);
    expect(readdirSync(path.dirname(file))).toEqual(['custctl.prom']);
    expect(await promtoolCheck(text)).toEqual({ code: 0, out: '' });
  }, 120_000);
});

describe.each(CLI_BULL_BACKENDS)('custctl worker --metrics-port on %s', (_title, backend) => {
  afterAll(() => backend.cleanup());

  it('Prometheus scrapes the worker that ran the deletion: its counts and the queue depth', async () => {
    // Redis database 3 / a schema of its own: a queue apart from the other BullMQ tests
    const env = { ...(await backend.queueEnv(3)), CUSTCTL_STATE_DIR: tempStateDir() };
    let log = '';
    const w = spawn('node', [BIN, 'worker', '--metrics-port', String(workerPort)], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    w.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    const gone = new Promise((resolve) => w.once('exit', resolve));
    try {
      await waitFor(async () => log.includes(`metrics on http://127.0.0.1:${workerPort}/metrics`) && log.includes(backend.started), `the worker to start:\n${log}`, 60_000, 100);
      await waitFor(async () => (await scalar('up{job="custctl-worker"}')) === 1, 'Prometheus to scrape the worker', 60_000, 250);
      const c = await provisionCustomer(randomKey('pmw'));
      const r = await custctl(['delete', c.customerId, '--yes'], { env });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(await getNamespace(c.namespace)).toBeNull();
      await waitFor(async () => (await scalar('customer_deletions_total{job="custctl-worker",status="success"}')) === 1, `the worker's deletion in Prometheus:\n${log}`, 30_000, 250);
      expect(await scalar('customer_namespace_deletion_duration_seconds_count{job="custctl-worker"}')).toBe(1);
      expect(await scalar('custctl_step_duration_seconds_count{job="custctl-worker",step="helm-uninstall"}')).toBe(1);
      await waitFor(async () => (await scalar('custctl_jobs{job="custctl-worker",state="completed"}')) === 1, `the queue depth from ${backend.name}`, 30_000, 250);
      const text = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
      expect(await promtoolCheck(text)).toEqual({ code: 0, out: '' });
    } finally {
      w.kill('SIGTERM');
      await gone;
    }
  }, 180_000);
});
