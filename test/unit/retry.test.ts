/** The one retry loop (src/adapters/retry.ts) and helm's re-runs on transient errors. */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeHelm, saysPermanent, saysTransient } from '../../src/adapters/helm-cli.js';
import { HELM_RETRY, KUBE_RETRY, backoffMs, parseRetryAfter, withRetries, type RetryPolicy } from '../../src/adapters/retry.js';
import { isPermanent, OperationError, UsageError } from '../../src/errors.js';
import { defaultClassify } from '../../src/queue/runner.js';

const policy: RetryPolicy = { tries: 5, baseMs: 100, maxMs: 400, maxRetryAfterMs: 10_000, maxElapsedMs: 60_000 };

function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => { waits.push(ms); } };
}

describe('withRetries', () => {
  it('capped exponential backoff with equal jitter: each wait in [step/2, step]', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 0))).toEqual([50, 100, 200, 200, 200]);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 1))).toEqual([100, 200, 400, 400, 400]);
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, KUBE_RETRY, () => 1))).toEqual([250, 500, 1000, 2000, 4000, 8000, 8000]);
  });

  it('Retry-After: delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('1')).toBe(1000);
    expect(parseRetryAfter(' 3 ')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('retries what the classifier says, waiting Retry-After exactly, until it works', async () => {
    const r = recorder();
    let n = 0;
    const v = await withRetries(async () => {
      n++;
      if (n === 1) throw Object.assign(new Error('429'), { after: 1000 });
      if (n < 4) throw new Error('500');
      return 'ok';
    }, { policy, sleep: r.sleep, random: () => 1, classify: (e) => ({ retry: true, why: (e as Error).message, ...((e as { after?: number }).after ? { afterMs: 1000 } : {}) }) });
    expect(v).toBe('ok');
    expect(n).toBe(4);
    expect(r.waits).toEqual([1000, 200, 400]);
  });

  it('a permanent failure goes up at once; so does the last try', async () => {
    const r = recorder();
    let n = 0;
    await expect(withRetries(async () => { n++; throw new Error('forbidden'); }, { policy, sleep: r.sleep, classify: () => ({ retry: false }) })).rejects.toThrow('forbidden');
    expect(n).toBe(1);
    n = 0;
    await expect(withRetries(async () => { n++; throw new Error(`500 #${n}`); }, { policy, sleep: r.sleep, classify: () => ({ retry: true, why: '500' }) })).rejects.toThrow('500 #5');
    expect(n).toBe(policy.tries);
  });

  it('a Retry-After beyond maxRetryAfterMs, or past maxElapsedMs, is not waited for', async () => {
    const r = recorder();
    await expect(withRetries(async () => { throw new Error('429'); }, { policy, sleep: r.sleep, classify: () => ({ retry: true, why: '429', afterMs: 3_600_000 }) })).rejects.toThrow('429');
    expect(r.waits).toEqual([]);
    let t = 0;
    await expect(withRetries(async () => { t += 25_000; throw new Error('503'); }, { policy, sleep: r.sleep, now: () => t, classify: () => ({ retry: true, why: '503' }) })).rejects.toThrow('503');
    expect(r.waits.length).toBeLessThan(policy.tries - 1);
  });

  it('an abort during a wait rejects with the signal reason and tries no more', async () => {
    const ac = new AbortController();
    const reason = new Error('attempt timed out');
    let n = 0;
    setTimeout(() => ac.abort(reason), 50);
    const started = Date.now();
    await expect(withRetries(async () => { n++; throw new Error('503'); }, { policy: { ...policy, baseMs: 10_000, maxMs: 10_000 }, signal: ac.signal, classify: () => ({ retry: true, why: '503' }) })).rejects.toBe(reason);
    expect(n).toBe(1);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('permanent errors end the job at once', () => {
  it.each([
    ['helm missing', new OperationError('helm not found: HELM_BIN=/x', [], { permanent: true }), true],
    ['a bad kubeconfig (usage)', new UsageError('context "x" not found'), true],
    ['a transient failure', new OperationError('cannot list clusterroles: HTTP 503'), false],
  ])('%s: final=%s', (_what, err, final) => {
    expect(isPermanent(err)).toBe(final);
    expect(defaultClassify(err).final).toBe(final);
  });
});

describe('helm: which failures are transient', () => {
  it.each([
    'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused',
    'Error: list: failed to list: Get "https://127.0.0.1:1/api/v1/namespaces/x/secrets?labelSelector=owner%3Dhelm": read tcp 127.0.0.1:5->127.0.0.1:1: read: connection reset by peer',
    'Error: uninstallation completed with 1 error(s): Internal error occurred: injected by the test fault proxy',
    'Error: query: failed to query with labels: the server has received too many requests and has asked us to try again later',
    'Error: Too many requests, please try again later.',
    'Error: the server is currently unable to handle the request (get secrets)',
    'Error: an error on the server ("") has prevented the request from succeeding (get secrets)',
    'Error: unexpected EOF',
    'Error: failed to delete release: customer-abc',
  ])('transient: %s', (stderr) => {
    expect(saysTransient(stderr)).toBe(true);
  });

  it.each([
    'Error: Kubernetes cluster unreachable: invalid configuration: no configuration has been provided',
    'Error: list: failed to list: secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "x"',
    'Error: context "prod" does not exist',
    'Error: unknown flag: --ignore-not-found',
    'Error: uninstallation completed with 1 error(s): context deadline exceeded',
    'Error: release: not found',
  ])('not transient: %s', (stderr) => {
    expect(saysTransient(stderr)).toBe(false);
  });

  it('forbidden and a bad context are permanent', () => {
    expect(saysPermanent('Error: secrets is forbidden: User "bob" cannot list resource "secrets"')).toBe(true);
    expect(saysPermanent('Error: context "prod" does not exist')).toBe(true);
    expect(saysPermanent('Error: Internal error occurred')).toBe(false);
  });
});

describe('helm: a transient failure re-runs the command within the step', () => {
  /** a fake helm that fails `failures` times with `stderr`, then prints `[]` */
  function fakeHelm(failures: number, stderr: string): { bin: string; runs: () => number } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-flaky-helm-'));
    const bin = path.join(dir, 'helm');
    writeFileSync(path.join(dir, 'left'), String(failures));
    writeFileSync(path.join(dir, 'stderr'), stderr);
    writeFileSync(bin, `#!/bin/sh
d="$(dirname "$0")"
echo x >> "$d/runs"
left=$(cat "$d/left")
if [ "$left" -gt 0 ]; then echo $((left - 1)) > "$d/left"; cat "$d/stderr" >&2; exit 1; fi
echo '[]'
`);
    chmodSync(bin, 0o755);
    return { bin, runs: () => readFileSync(path.join(dir, 'runs'), 'utf8').split('\n').filter((l) => l).length };
  }

  it('three 5xx/reset failures, then success: four runs, the waits of HELM_RETRY, retries reported', async () => {
    const f = fakeHelm(3, 'Error: list: failed to list: read: connection reset by peer\n');
    const r = recorder();
    const seen: string[] = [];
    const h = makeHelm({ helmBin: f.bin, context: 'c', kubeconfig: '/k', env: { PATH: process.env.PATH }, retry: { sleep: r.sleep }, onRetry: (e) => seen.push(`${e.op} ${e.tryNo}/${e.tries}`) });
    expect(await h.listReleases('customer-abc')).toEqual([]);
    expect(f.runs()).toBe(4);
    expect(r.waits).toHaveLength(3);
    r.waits.forEach((w, i) => expect(w).toBeLessThanOrEqual(Math.min(HELM_RETRY.maxMs, HELM_RETRY.baseMs * 2 ** i)));
    expect(seen).toEqual(['helm list 1/6', 'helm list 2/6', 'helm list 3/6']);
  });

  it('bounded: a cluster that stays unreachable fails after HELM_RETRY.tries runs, not permanent (the job retries later)', async () => {
    const f = fakeHelm(100, 'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:1/version": dial tcp: connect: connection refused\n');
    const r = recorder();
    const h = makeHelm({ helmBin: f.bin, context: 'c', kubeconfig: '/k', env: { PATH: process.env.PATH }, retry: { sleep: r.sleep } });
    const err = await h.listReleases('customer-abc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toContain('cluster unreachable');
    expect(f.runs()).toBe(HELM_RETRY.tries);
    expect(isPermanent(err)).toBe(false);
  });

  it('forbidden: one run, permanent', async () => {
    const f = fakeHelm(100, 'Error: list: failed to list: secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" in the namespace "customer-abc"\n');
    const r = recorder();
    const h = makeHelm({ helmBin: f.bin, context: 'c', kubeconfig: '/k', env: { PATH: process.env.PATH }, retry: { sleep: r.sleep } });
    const err = await h.listReleases('customer-abc').catch((e: unknown) => e);
    expect(isPermanent(err)).toBe(true);
    expect(f.runs()).toBe(1);
    expect(r.waits).toEqual([]);
  });

  it('helm missing or not runnable: permanent, nothing re-run', async () => {
    const r = recorder();
    const missing = makeHelm({ helmBin: '/nonexistent/helm', context: 'c', kubeconfig: '/k', env: { PATH: process.env.PATH }, retry: { sleep: r.sleep } });
    const e1 = await missing.listReleases('ns').catch((e: unknown) => e);
    expect(isPermanent(e1)).toBe(true);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-noexec-helm-'));
    const noexec = path.join(dir, 'helm');
    writeFileSync(noexec, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    const e2 = await makeHelm({ helmBin: noexec, context: 'c', kubeconfig: '/k', env: { PATH: process.env.PATH }, retry: { sleep: r.sleep } }).listReleases('ns').catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(OperationError);
    expect(isPermanent(e2)).toBe(true);
    expect(r.waits).toEqual([]);
  });
});
