// The Prometheus series (src/jobs/metrics-prom.ts): fed from lifecycle events, the pipeline's step
// timings (real pipeline over the fakes) and cleanup-rbac scans; the queue depth from a real file
// journal; the textfile merge; GET /metrics behind the viewer token. promtool (Debian's prometheus
// package, from prepare.sh) checks the output and the alert rules in test/integration/promtool.test.ts.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFileJournal, type FileJournal } from '../../src/adapters/file-journal.js';
import type { Job } from '../../src/domain/job.js';
import { mergeExposition, PromMetrics } from '../../src/jobs/metrics-prom.js';
import type { StepTiming } from '../../src/jobs/metrics.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import { buildServer } from '../../src/server/app.js';
import { parseTokensFile, sha256Hex } from '../../src/server/auth.js';
import { listenMetrics } from '../../src/server/metrics-http.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';


function job(over: Partial<Job> = {}): Job {
  return {
    id: '41', name: 'delete', state: 'completed', progress: 100,
    data: { customerId: 'cust_secretkey1', namespace: 'customer-secretkey1' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 600_000 },
    attemptsMade: 1, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: [],
    returnvalue: { outcome: 'deleted', durationMs: 6_400 }, requestedBy: 'test', simulated: false,
    timestamp: 1_000, processedOn: 1_000, finishedOn: 1_796_000_000_000, attempts: [], lease: null,
    ...over,
  };
}

/** `name{labels} value` lines of the exposition, by series. */
function values(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('metrics from the job lifecycle', () => {
  it('counts deletions by status, attempts by kind and outcome; a superseded or cancelled job is no deletion', async () => {
    const m = new PromMetrics({ now: () => 0 });
    await m.onJobEvent({ type: 'attempt-failed', job: job({ state: 'delayed' }), attempt: 1, error: 'x', errorName: 'internal', delayUntil: 0 });
    await m.onJobEvent({ type: 'completed', job: job(), attempt: 2 });
    await m.onJobEvent({ type: 'failed', job: job({ id: '42', state: 'failed' }), attempt: 3, error: 'x', errorName: 'timeout' });
    await m.onJobEvent({ type: 'superseded', job: job({ id: '43' }), attempt: 1 });
    await m.onJobEvent({ type: 'cancelled', job: job({ id: '44', state: 'failed', failedReason: 'cancelled' }) });
    await m.onJobEvent({ type: 'completed', job: job({ id: '45', name: 'cleanup-rbac', returnvalue: {} }), attempt: 1 });
    const text = await m.text();
    const v = values(text);
    expect(v.get('customer_deletions_total{status="success"}')).toBe(1);
    expect(v.get('customer_deletions_total{status="failed"}')).toBe(1);
    expect(v.get('custctl_job_attempts_total{kind="delete",outcome="failed"}')).toBe(2);
    expect(v.get('custctl_job_attempts_total{kind="delete",outcome="completed"}')).toBe(1);
    expect(v.get('custctl_job_attempts_total{kind="delete",outcome="superseded"}')).toBe(1);
    expect(v.get('custctl_job_attempts_total{kind="cleanup-rbac",outcome="completed"}')).toBe(1);
    expect(v.get('customer_deletion_duration_seconds_count')).toBe(1);
    expect(v.get('customer_deletion_duration_seconds_sum')).toBe(6.4);
    expect(v.get('customer_deletion_duration_seconds_bucket{le="5"}')).toBe(0);
    expect(v.get('customer_deletion_duration_seconds_bucket{le="7.5"}')).toBe(1);
    expect(v.get('custctl_last_successful_deletion_timestamp_seconds')).toBe(1_796_000_000);
    // bounded labels: no customer id, namespace or job id anywhere
    expect(text).not.toMatch(/secretkey1/);
    const labelNames = new Set([...text.matchAll(/[{,](\w+)="/g)].map((x) => x[1]));
    expect([...labelNames].sort()).toEqual(['kind', 'le', 'outcome', 'status']);
  });

  it('the pipeline reports every step; step 2 feeds the namespace histogram when it deleted or timed out, not when already gone', async () => {
    const KEY = 'met1';
    const NS = `customer-${KEY}`;
    const ID = `cust_${KEY}`;
    const attempt = async (setup: (kube: FakeKube) => void, waitMs = 1_000) => {
      const kube = new FakeKube();
      const helm = new FakeHelm(kube);
      const store = new FakeStore();
      await store.add({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
      await store.claimForDeletion(ID, '7', { force: false });
      setup(kube);
      const timings: StepTiming[] = [];
      let t = 0;
      const r = await runDeleteAttempt(
        {
          job: job({ id: '7', state: 'active', data: { customerId: ID, namespace: NS }, attemptsMade: 1, progress: 25, opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 60_000, waitTimeoutMs: waitMs } }),
          attempt: 2, signal: new AbortController().signal, progress: async () => undefined, log: () => undefined,
          onStep: (x) => void timings.push(x),
        },
        store,
        async () => ({ kube, helm, target: kube.target }),
        { namespacePrefix: 'customer-', defaultWaitTimeoutMs: waitMs, now: () => (t += 500) },
      ).then(() => 'ok', (e: unknown) => e);
      return { r, timings };
    };

    const deleted = await attempt((k) => k.addNamespace(NS));
    expect(deleted.r).toBe('ok');
    expect(deleted.timings.map((x) => x.step).sort()).toEqual(['cluster-rbac', 'helm-uninstall', 'namespace', 'retained-volumes', 'row']);
    expect(deleted.timings.find((x) => x.step === 'namespace')).toMatchObject({ ok: true, namespaceOutcome: 'deleted' });
    expect(deleted.timings.every((x) => x.seconds > 0)).toBe(true);

    const gone = await attempt(() => undefined);
    expect(gone.timings.find((x) => x.step === 'namespace')).toMatchObject({ ok: true, namespaceOutcome: 'already-gone' });

    const stuck = await attempt((k) => {
      k.addNamespace(NS);
      k.stuck.add(NS);
    }, 200);
    expect(stuck.r).toMatchObject({ errorName: 'timeout' });
    expect(stuck.timings.find((x) => x.step === 'namespace')).toMatchObject({ ok: false, errorName: 'timeout' });

    const m = new PromMetrics({ now: () => 0 });
    for (const x of [...deleted.timings, ...gone.timings, ...stuck.timings]) m.stepTimed(x);
    const v = values(await m.text());
    expect(v.get('customer_namespace_deletion_duration_seconds_count')).toBe(2); // deleted + timed out
    expect(v.get('custctl_step_duration_seconds_count{step="namespace"}')).toBe(3);
    expect(v.get('custctl_step_duration_seconds_count{step="row"}')).toBe(2);
  });

  it('custctl_orphaned_cluster_rbac is set by every scan, both kinds, 0 when none remain', async () => {
    const m = new PromMetrics({ now: () => 0 });
    m.orphansScanned([{ kind: 'ClusterRole' }, { kind: 'ClusterRole' }, { kind: 'ClusterRoleBinding' }]);
    let v = values(await m.text());
    expect(v.get('custctl_orphaned_cluster_rbac{kind="ClusterRole"}')).toBe(2);
    expect(v.get('custctl_orphaned_cluster_rbac{kind="ClusterRoleBinding"}')).toBe(1);
    m.orphansScanned([]);
    v = values(await m.text());
    expect(v.get('custctl_orphaned_cluster_rbac{kind="ClusterRole"}')).toBe(0);
    expect(v.get('custctl_orphaned_cluster_rbac{kind="ClusterRoleBinding"}')).toBe(0);
  });
});

describe('queue depth, read at scrape time from a real file journal', () => {
  let dir: string;
  let queue: FileJournal;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'custctl-metrics-'));
    queue = await openFileJournal({ dir: path.join(dir, 'journal'), worker: 'test' });
  });
  afterEach(async () => {
    await queue.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('custctl_jobs{state} counts jobs by state; custctl_jobs_past_timeout counts active jobs older than their own timeout', async () => {
    let now = 1_000_000;
    const m = new PromMetrics({ now: () => now });
    m.watchQueue(queue);
    const nj = (timeoutMs: number) => ({ name: 'delete' as const, data: { customerId: 'cust_q1', namespace: 'customer-q1' }, opts: { attempts: 1, backoff: { type: 'exponential' as const, delay: 1 }, timeoutMs }, requestedBy: 't', simulated: true });
    await queue.add(await queue.allocateId(), nj(60_000), now);
    const a = await queue.add(await queue.allocateId(), nj(60_000), now);
    const b = await queue.add(await queue.allocateId(), nj(600_000), now);
    await queue.claim(a.id, 'w', now, 3_600_000);
    await queue.claim(b.id, 'w', now, 3_600_000);
    let v = values(await m.text());
    expect(v.get('custctl_jobs{state="waiting"}')).toBe(1);
    expect(v.get('custctl_jobs{state="active"}')).toBe(2);
    expect(v.get('custctl_jobs{state="completed"}')).toBe(0);
    expect(v.get('custctl_jobs_past_timeout')).toBe(0);
    now += 120_000; // past a's 1 min, within b's 10 min
    v = values(await m.text());
    expect(v.get('custctl_jobs_past_timeout')).toBe(1);
  });
});

describe('--metrics-textfile', () => {
  it('accumulates counters and histograms over runs, keeps the later success time and series only the previous run had; atomic', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'custctl-textfile-'));
    const file = path.join(dir, 'custctl.prom');
    try {
      const first = new PromMetrics({ now: () => 0 });
      await first.onJobEvent({ type: 'completed', job: job({ finishedOn: 2_000_000 }), attempt: 1 });
      first.stepTimed({ step: 'helm-uninstall', seconds: 0.4, ok: true });
      first.orphansScanned([{ kind: 'ClusterRole' }]);
      await first.writeTextfile(file);
      const second = new PromMetrics({ now: () => 0 });
      await second.onJobEvent({ type: 'completed', job: job({ finishedOn: 1_000_000 }), attempt: 1 });
      await second.onJobEvent({ type: 'failed', job: job({ state: 'failed' }), attempt: 3, error: 'x', errorName: 'internal' });
      second.stepTimed({ step: 'row', seconds: 0.01, ok: true });
      await second.writeTextfile(file);
      const text = await readFile(file, 'utf8');
      const v = values(text);
      expect(v.get('customer_deletions_total{status="success"}')).toBe(2);
      expect(v.get('customer_deletions_total{status="failed"}')).toBe(1);
      expect(v.get('customer_deletion_duration_seconds_count')).toBe(2);
      expect(v.get('custctl_step_duration_seconds_count{step="helm-uninstall"}')).toBe(1); // only the first run had it
      expect(v.get('custctl_step_duration_seconds_count{step="row"}')).toBe(1);
      expect(v.get('custctl_last_successful_deletion_timestamp_seconds')).toBe(2_000); // the later of the two
      expect(v.get('custctl_orphaned_cluster_rbac{kind="ClusterRole"}')).toBe(1); // the last scan's, kept
      expect(await readdir(dir)).toEqual(['custctl.prom']); // no temporary file left
      } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('mergeExposition with no previous file is the current text', () => {
    expect(mergeExposition('', '# TYPE a_total counter\na_total 1\n')).toBe('# TYPE a_total counter\na_total 1\n');
  });
});

describe('exposure', () => {
  const VIEWER = 'v1ewer-T0KEN-for-metrics-0123456789';
  const ADMIN = 'adm1n-T0KEN-for-metrics-0123456789';
  const tokens = parseTokensFile(`ci-bot:admin:${sha256Hex(ADMIN)}\nprometheus:viewer:${sha256Hex(VIEWER)}\n`, 'test');
  const log = { info: () => undefined, ok: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

  it('serve: GET /metrics needs a token (401 without, 401 with a wrong one), answers a viewer with the text format', async () => {
    const m = new PromMetrics({ now: () => 0 });
    const store = new FakeStore();
    const dir = await mkdtemp(path.join(tmpdir(), 'custctl-metrics-srv-'));
    const queue = await openFileJournal({ dir: path.join(dir, 'journal'), worker: 'test' });
    const app = buildServer({ store, queue, tokens, log, now: () => 0, metrics: m, submit: async () => { throw new Error('no'); }, runSync: async (j) => j });
    try {
      expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer nope-nope-nope' } })).statusCode).toBe(401);
      const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${VIEWER}` } });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(ok.body).toMatch(/^customer_deletions_total\{status="success"\} 0$/m);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200); // still the only open endpoint
    } finally {
      await app.close();
      await queue.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('worker --metrics-port: GET /metrics on loopback, anything else 404', async () => {
    const m = new PromMetrics({ now: () => 0, processMetrics: true });
    const l = await listenMetrics(m, { host: '127.0.0.1', port: 0 });
    try {
      expect(l.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(l.url);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toMatch(/^custctl_jobs_past_timeout 0$/m);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect((await fetch(l.url.replace('/metrics', '/api/customers'))).status).toBe(404);
      } finally {
      await l.close();
    }
  });
});

describe('the cluster label', () => {
  it('jobs of a fleet of several carry their cluster (a bounded label); with one cluster the series are unchanged', async () => {
    const m = new PromMetrics({ now: () => 0 });
    await m.onJobEvent({ type: 'completed', job: job({ data: { customerId: 'cust_a', namespace: 'customer-a', cluster: 'eu' } }), attempt: 1 });
    await m.onJobEvent({ type: 'failed', job: job({ id: '2', state: 'failed', data: { customerId: 'cust_b', namespace: 'customer-b', cluster: 'us' } }), attempt: 1, error: 'x', errorName: 'internal' });
    await m.onJobEvent({ type: 'completed', job: job({ id: '3' }), attempt: 1 });
    const v = values(await m.text());
    expect(v.get('customer_deletions_total{status="success",cluster="eu"}')).toBe(1);
    expect(v.get('customer_deletions_total{status="failed",cluster="us"}')).toBe(1);
    expect(v.get('customer_deletions_total{status="success"}')).toBe(1);
    expect(v.get('custctl_job_attempts_total{kind="delete",outcome="completed",cluster="eu"}')).toBe(1);
  });
});
