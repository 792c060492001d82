/**
 * Transient API faults on the real control plane: custctl and helm talk to the API server through
 * the fault-injecting TLS proxy of test/env/fault-proxy.ts (429 with Retry-After: 1, 500, resets).
 * And a permanent error (helm missing) fails at once, leaving the row as it was.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openKube } from '../../src/adapters/kube/index.js';
import { startFaultProxy, type FaultProxy, type LoggedRequest } from '../env/fault-proxy.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey } from '../support/fixtures.js';

interface Report {
  exitCode: number;
  results: Array<{ customerId: string; jobId: string | null; state: string; exitCode: number; error: { message: string } | null }>;
}
interface JobJson {
  state: string;
  attemptsMade: number;
  timestamp: number;
  processedOn: number | null;
  finishedOn: number | null;
  attempts: Array<{ attempt: number; outcome: string; error?: string }>;
}

const state = tempStateDir();
let proxy: FaultProxy;
let proxied: string;
/** the CLI through the proxy; small QUEUE_RETRY_DELAY so a failed attempt is retried within seconds */
const env = (): NodeJS.ProcessEnv => ({ CUSTCTL_STATE_DIR: state, KUBECONFIG: proxied, QUEUE_RETRY_DELAY: '500' });

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, instance_url, deletion_job_id, previous_status from customers where customer_id = $1', [customerId]);
  return r.rows[0] as Record<string, unknown> | undefined;
}

const failedAttempts = (stderr: string): number => (stderr.match(/Attempt \d+ of \d+ failed/g) ?? []).length;
const attemptFailures = (stderr: string): string => (stderr.match(/Attempt \d+ of \d+ failed.*/g) ?? []).map((l) => `\n  ${l}`).join('');
const helmReruns = (stderr: string): number => (stderr.match(/helm \w+: retrying \(/g) ?? []).length;
const isCustctl = (r: LoggedRequest): boolean => r.userAgent.startsWith('custctl/');
const isHelm = (r: LoggedRequest): boolean => /^helm\b/i.test(r.userAgent);

beforeAll(async () => {
  const e = testEnv();
  proxy = await startFaultProxy({ upstream: e.apiServer, certDir: path.join(e.runDir, 'certs'), seed: 20261201 });
  proxied = proxy.kubeconfigFor(e.kubeconfig, path.join(state, 'proxied.kubeconfig'));
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: state } });
  expect(m.exitCode, m.stderr).toBe(0);
});
afterAll(async () => {
  await proxy?.stop();
});

describe('a request answered 429, 500 or reset is tried again (the real API server behind the proxy)', () => {
  it('honours Retry-After: 1 on a 429, then retries the 500 and the reset, and answers', async () => {
    proxy.set({ rate: 0, userAgent: 'custctl-probe/' });
    const k = await openKube({ kubeconfig: proxied, env: {}, userAgent: 'custctl-probe/1' });
    proxy.failNext(['429', '500', 'reset']);
    const from = proxy.log.length;
    const ns = await k.getNamespace('default');
    expect(ns?.name).toBe('default');
    const mine = proxy.log.slice(from).filter((r) => r.path.startsWith('/api/v1/namespaces/default'));
    expect(mine.map((r) => r.fault)).toEqual(['429', '500', 'reset', null]);
    // the server said to come back in 1 s: not earlier
    expect(mine[1]!.at - mine[0]!.at).toBeGreaterThanOrEqual(1000);
    proxy.set({ userAgent: null });
  });
});

describe('deleting customers through a flaky API server', () => {
  it('5 % faults on every request (helm included): 5 customers deleted together all complete within the default attempts', async () => {
    const customers = await Promise.all(Array.from({ length: 5 }, () => provisionCustomer(randomKey('f'))));
    const from = proxy.log.length;
    proxy.set({ rate: 0.05, userAgent: null, seed: 5 });
    const started = Date.now();
    // helm for every release, so that helm's requests meet the faults too
    const { result, json } = await custctlJson<Report>(['delete', ...customers.map((c) => c.customerId), '--yes', '--concurrency', '5', '--helm-uninstall', 'always'], { env: env() });
    const seconds = (Date.now() - started) / 1000;
    proxy.set({ rate: 0 });
    const log = proxy.log.slice(from);
    const summary = `${seconds.toFixed(1)} s; custctl: ${proxy.describe((r) => log.includes(r) && isCustctl(r))}; helm: ${proxy.describe((r) => log.includes(r) && isHelm(r))}; `
      + `${failedAttempts(result.stderr)} failed attempts, ${helmReruns(result.stderr)} helm re-runs`;
    console.log(`[faults 5 %] ${summary}${attemptFailures(result.stderr)}`);
    expect(result.exitCode, `${summary}\n${result.stderr}`).toBe(0);
    expect(json.results.map((r) => r.state)).toEqual(customers.map(() => 'completed'));
    for (const c of customers) {
      expect(await getNamespace(c.namespace)).toBeNull();
      expect((await row(c.customerId))?.deployment_status).toBe('pending');
    }
    // the faults did happen, to both clients
    expect(log.filter((r) => isHelm(r)).length, summary).toBeGreaterThan(0);
    expect(log.filter((r) => r.fault !== null && isHelm(r)).length, summary).toBeGreaterThan(0);
    expect(log.filter((r) => r.fault !== null && isCustctl(r)).length, summary).toBeGreaterThan(0);
  });

  it("20 % faults on custctl's own requests: no attempt fails because of them", async () => {
    const customers = await Promise.all(Array.from({ length: 5 }, () => provisionCustomer(randomKey('g'))));
    const from = proxy.log.length;
    proxy.set({ rate: 0.2, userAgent: 'custctl/', seed: 20 });
    const started = Date.now();
    const { result, json } = await custctlJson<Report>(['delete', ...customers.map((c) => c.customerId), '--yes', '--concurrency', '5'], { env: env() });
    const seconds = (Date.now() - started) / 1000;
    proxy.set({ rate: 0, userAgent: null });
    const log = proxy.log.slice(from);
    const summary = `${seconds.toFixed(1)} s; custctl: ${proxy.describe((r) => log.includes(r) && isCustctl(r))}; ${failedAttempts(result.stderr)} failed attempts`;
    console.log(`[faults 20 % custctl] ${summary}${attemptFailures(result.stderr)}`);
    expect(result.exitCode, `${summary}\n${result.stderr}`).toBe(0);
    for (const r of json.results) {
      const job = await custctlJson<JobJson>(['status', 'job', r.jobId ?? ''], { env: env() });
      expect(job.json.state).toBe('completed');
      expect(job.json.attempts.map((a) => a.outcome), `${r.customerId}: ${job.json.attempts.map((a) => a.error).join(' | ')}`).toEqual(['completed']);
    }
    for (const c of customers) expect((await row(c.customerId))?.deployment_status).toBe('pending');
    expect(log.filter((r) => r.fault !== null).length, summary).toBeGreaterThanOrEqual(4);
    expect(log.filter((r) => r.fault !== null && !isCustctl(r))).toEqual([]);
  });
});

describe('a bulk run paces itself', () => {
  it("429s on custctl's requests lower its concurrency; it still deletes every customer and says what it did", async () => {
    const customers = await Promise.all(Array.from({ length: 8 }, () => provisionCustomer(randomKey('p'))));
    proxy.set({ rate: 0.25, faults: ['429'], userAgent: 'custctl/', seed: 429 });
    const { result, json } = await custctlJson<Report & { pacing?: { max: number; lowest: number; final: number; reasons: string[] } }>(
      ['delete', ...customers.map((c) => c.customerId), '--yes', '--concurrency', '4'], { env: env() });
    proxy.set({ rate: 0, faults: ['429', '500', 'reset'], userAgent: null });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.results.map((r) => r.state)).toEqual(customers.map(() => 'completed'));
    expect(json.pacing).toMatchObject({ max: 4, reasons: ['429s'] });
    expect(json.pacing?.lowest).toBeLessThan(4);
    expect(result.stderr).toMatch(/Concurrency paced to \d after 429s \(\d at the end, of the 4 asked for\)/);
    for (const c of customers) expect(await getNamespace(c.namespace)).toBeNull();
  });
});

describe('permanent errors fail at once', () => {
  it('a missing helm (a release that needs it): delete --yes fails in < 2 s with the message --dry-run gives, the row unchanged, no retry', async () => {
    const c = await provisionCustomer(randomKey('h'));
    const before = await row(c.customerId);
    // helm runs for every release: the site says so (a release with delete hooks needs it too)
    const noHelm = { ...env(), KUBECONFIG: testEnv().kubeconfig, HELM_BIN: path.join(state, 'no-such-helm'), CUSTCTL_HELM_UNINSTALL: 'always' };
    const dry = await custctl(['delete', c.customerId, '--dry-run'], { env: noHelm });
    expect(dry.exitCode).toBe(1);
    const message = `helm not found: HELM_BIN=${noHelm.HELM_BIN}`;
    expect(dry.stderr).toContain(message);

    const started = Date.now();
    const { result, json } = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env: noHelm });
    const ms = Date.now() - started;
    expect(result.exitCode, result.stderr).toBe(1);
    expect(json.results[0]?.state).toBe('failed');
    expect(json.results[0]?.error?.message).toContain(message);
    expect(result.stderr).toContain(message);
    expect(await row(c.customerId)).toEqual(before);
    const job = await custctlJson<JobJson>(['status', 'job', json.results[0]?.jobId ?? ''], { env: noHelm });
    expect(job.json).toMatchObject({ state: 'failed', attemptsMade: 1 });
    // from the job's creation to its failure: no retry, no backoff (the process's own start-up,
    // mostly importing client-node, comes on top and depends on the machine's load)
    const failedAfter = (job.json.finishedOn ?? Infinity) - job.json.timestamp;
    const attemptMs = (job.json.finishedOn ?? Infinity) - (job.json.processedOn ?? 0);
    console.log(`[missing helm] job failed ${failedAfter} ms after it was created (attempt ${attemptMs} ms); the whole command took ${ms} ms`);
    expect(failedAfter).toBeLessThan(2000);
    expect(attemptMs).toBeLessThan(1000);
    expect(await getNamespace(c.namespace)).not.toBeNull();
  });

  it('a missing helm does not stop a release helm adds nothing to (no delete hooks): it goes with the namespace', async () => {
    const c = await provisionCustomer(randomKey('hn'));
    const noHelm = { ...env(), KUBECONFIG: testEnv().kubeconfig, HELM_BIN: path.join(state, 'no-such-helm') };
    const { result, json } = await custctlJson<Report>(['delete', c.customerId, '--yes'], { env: noHelm });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.results[0]?.state).toBe('completed');
    expect(await getNamespace(c.namespace)).toBeNull();
  });
});
