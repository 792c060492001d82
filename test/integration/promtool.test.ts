/**
 * promtool (Debian's prometheus package, installed by test/env/prepare.sh): the shipped alert rules
 * and their unit tests (deploy/prometheus/), and `promtool check metrics` on the series of a worker's
 * metrics port (with Node's process series) and on a textfile merged over two runs. No server needed;
 * this lives in the integration project because that is where prepare.sh's tools are guaranteed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/domain/job.js';
import { PromMetrics } from '../../src/jobs/metrics-prom.js';
import { listenMetrics } from '../../src/server/metrics-http.js';

const RULES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/prometheus');

async function checkMetrics(text: string): Promise<{ code: number; out: string }> {
  const r = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
  return { code: r.exitCode ?? -1, out: `${r.stdout}${r.stderr}` };
}

const job = (over: Partial<Job> = {}): Job => ({
  id: '9', name: 'delete', state: 'completed', progress: 100, data: { customerId: 'cust_pt1', namespace: 'customer-pt1' },
  opts: { attempts: 1, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 600_000 }, attemptsMade: 1, maxAttempts: 1,
  delayUntil: null, failedReason: null, failedCode: null, stacktrace: [], returnvalue: { durationMs: 6_100 }, requestedBy: 't',
  simulated: false, timestamp: 0, processedOn: 0, finishedOn: 1_796_000_000_000, attempts: [], lease: null, ...over,
});

describe('deploy/prometheus/custctl-rules.yml', () => {
  it('passes promtool check rules and its unit tests (promtool test rules custctl-rules.test.yml)', async () => {
    const check = await execa('promtool', ['check', 'rules', 'custctl-rules.yml'], { cwd: RULES_DIR, reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 4 rules found/);
    const r = await execa('promtool', ['test', 'rules', 'custctl-rules.test.yml'], { cwd: RULES_DIR, reject: false });
    expect(r.exitCode, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
  }, 60_000);
});

describe('promtool check metrics', () => {
  it('on a worker\'s metrics port (custctl series and the process series)', async () => {
    const m = new PromMetrics({ now: () => 0, processMetrics: true });
    await m.onJobEvent({ type: 'completed', job: job(), attempt: 1 });
    m.stepTimed({ step: 'namespace', seconds: 5.6, ok: true, namespaceOutcome: 'deleted' });
    const l = await listenMetrics(m, { host: '127.0.0.1', port: 0 });
    try {
      const text = await (await fetch(l.url)).text();
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
      expect(await checkMetrics(text)).toEqual({ code: 0, out: '' });
    } finally {
      await l.close();
    }
  });

  it('on a textfile merged over two runs', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'custctl-promtool-'));
    const file = path.join(dir, 'custctl.prom');
    try {
      for (const step of ['helm-uninstall', 'row']) {
        const m = new PromMetrics({ now: () => 0 });
        await m.onJobEvent({ type: 'completed', job: job(), attempt: 1 });
        await m.onJobEvent({ type: 'failed', job: job({ state: 'failed' }), attempt: 1, error: 'x', errorName: 'internal' });
        m.stepTimed({ step, seconds: 0.2, ok: true });
        m.orphansScanned([{ kind: 'ClusterRoleBinding' }]);
        await m.writeTextfile(file);
      }
      const text = await readFile(file, 'utf8');
      expect(text).toMatch(/^customer_deletions_total\{status="success"\} 2$/m);
      expect(await checkMetrics(text)).toEqual({ code: 0, out: '' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
