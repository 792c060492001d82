/**
 * The job journal on the real parts: retries with backoff through a stuck namespace, kill -9 at
 * any point and resume, concurrent deletes of one customer, two workers, superseded retries and
 * cancellation.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, unstick, waitFor } from '../support/fixtures.js';

interface JobJson {
  id: string;
  state: string;
  progress: number;
  attemptsMade: number;
  maxAttempts: number;
  failedReason: string | null;
  data: { customerId: string; namespace: string };
  attempts: Array<{ attempt: number; outcome: string; log: string[] }>;
}

async function row(customerId: string) {
  const r = await db().query('select deployment_status, deletion_job_id, instance_namespace from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; deletion_job_id: string | null; instance_namespace: string };
}

async function jobsOf(state: string, customerId: string): Promise<JobJson[]> {
  const { json } = await custctlJson<JobJson[]>(['jobs', 'list', '--customer', customerId], { env: { CUSTCTL_STATE_DIR: state } });
  return json;
}

describe('retries with backoff', () => {
  it('a stuck namespace fails attempts 1 and 2; the finalizer is removed; attempt 3 completes', async () => {
    const state = tempStateDir();
    const c = await provisionCustomer(randomKey('bk'), { stuck: true });
    const child = execa('node', [BIN, 'delete', c.customerId, '--yes', '--timeout', '10s', '-o', 'json'], {
      env: { ...cliEnv(), CUSTCTL_STATE_DIR: state, QUEUE_RETRY_DELAY: '200', QUEUE_MAX_RETRIES: '3', NO_COLOR: '1' },
      extendEnv: false,
      reject: false,
    });
    await waitFor(async () => (await jobsOf(state, c.customerId))[0]?.attemptsMade === 2, 'two failed attempts', 90_000, 500);
    await unstick(c.namespace);
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toMatch(/Attempt 1 of 3 failed/);
    expect(String(r.stderr)).toMatch(/Retrying in \d+ms/);
    const [job] = await jobsOf(state, c.customerId);
    expect(job).toMatchObject({ state: 'completed', attemptsMade: 3, progress: 100 });
    expect(job?.attempts.map((a) => a.outcome)).toEqual(['failed', 'failed', 'completed']);
    expect(job?.attempts[0]?.log.join('\n')).toMatch(/Deleting Kubernetes namespace/);
    const human = await custctl(['status', 'job', job?.id ?? ''], { env: { CUSTCTL_STATE_DIR: state } });
    expect(human.stdout).toMatch(/Attempt 1\s+failed/);
    expect(human.stdout).toMatch(/Attempt 3\s+completed/);
    expect(human.stdout).toMatch(/custctl\.test\/stuck/);
    expect((await row(c.customerId)).deployment_status).toBe('pending');
  }, 180_000);
});

describe('crash safety', () => {
  /** Kills `custctl delete` when `marker` appears on stderr (plus a delay), or after `afterMs`. */
  async function killDuring(customerId: string, state: string, trigger: { marker?: RegExp; delayMs: number }): Promise<string> {
    const child = execa('node', [BIN, 'delete', customerId, '--yes'], {
      env: { ...cliEnv(), CUSTCTL_STATE_DIR: state, NO_COLOR: '1' },
      extendEnv: false,
      reject: false,
    });
    let seen = '';
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const fire = () => {
        if (!timer) timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve();
        }, trigger.delayMs);
      };
      if (!trigger.marker) fire();
      child.stderr?.on('data', (b: Buffer) => {
        seen += b.toString();
        if (trigger.marker?.test(seen)) fire();
      });
      void child.then(() => resolve(), () => resolve());
    });
    await child.catch(() => undefined);
    return seen;
  }

  async function resumeUntilDone(customerId: string, state: string): Promise<void> {
    const env = { CUSTCTL_STATE_DIR: state };
    let r = await row(customerId);
    if (r.deployment_status === 'deployed') {
      // killed before the row was claimed: nothing happened yet; the operator simply runs it again
      const again = await custctl(['delete', customerId, '--yes'], { env });
      expect(again.exitCode, again.stderr).toBe(0);
      return;
    }
    const resumed = await custctl(['jobs', 'resume'], { env });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    r = await row(customerId);
    if (r.deployment_status === 'deleting') {
      // killed between the row and the journal: the job is recreated from the row
      const byCustomer = await custctl(['jobs', 'resume', '--customer', customerId], { env });
      expect(byCustomer.exitCode, byCustomer.stderr).toBe(0);
    }
  }

  const points: Array<[string, { marker?: RegExp; delayMs: number }]> = [
    ['before the namespace call', { marker: /Uninstalling Helm release|Helm release goes with the namespace/, delayMs: 0 }],
    ['while waiting for the namespace', { marker: /Deleting Kubernetes namespace/, delayMs: 300 }],
    ['after the namespace is gone, before the row update', { marker: /Namespace deleted successfully/, delayMs: 0 }],
  ];
  it.each(points)('kill -9 %s, then resume: completes, nothing lost', async (_name, trigger) => {
    const state = tempStateDir();
    const c = await provisionCustomer(randomKey('kp'), { rbacOutsideRelease: true });
    await killDuring(c.customerId, state, trigger);
    await resumeUntilDone(c.customerId, state);
    expect((await row(c.customerId)).deployment_status).toBe('pending');
    expect(await getNamespace(c.namespace)).toBeNull();
    const jobs = await jobsOf(state, c.customerId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.state).toBe('completed');
  }, 180_000);

  it('20 kills at random instants: every deletion completes after resume, no job lost', async () => {
    const runs = 20;
    const stats = { runs: 0, kills: 0, lost: 0, beforeClaim: 0 };
    const one = async (i: number) => {
      const state = tempStateDir();
      const c = await provisionCustomer(randomKey(`kr${i}`), { rbacOutsideRelease: true });
      // half at a random instant after the job is queued (inside the pipeline), half anywhere
      const trigger = i % 2 === 0 ? { marker: /Deletion queued/, delayMs: Math.floor(Math.random() * 5_000) } : { delayMs: Math.floor(Math.random() * 6_000) };
      await killDuring(c.customerId, state, trigger);
      stats.kills++;
      if ((await row(c.customerId)).deployment_status === 'deployed') stats.beforeClaim++;
      await resumeUntilDone(c.customerId, state);
      stats.runs++;
      const ok = (await row(c.customerId)).deployment_status === 'pending' && (await getNamespace(c.namespace)) === null;
      const jobs = await jobsOf(state, c.customerId);
      if (!ok || jobs.length !== 1 || jobs[0]?.state !== 'completed') stats.lost++;
    };
    for (let i = 0; i < runs; i += 4) await Promise.all([0, 1, 2, 3].filter((j) => i + j < runs).map((j) => one(i + j)));
    console.log(`crash loop: ${JSON.stringify(stats)}`);
    expect(stats).toMatchObject({ runs, kills: runs, lost: 0 });
  }, 900_000);
});

describe('concurrency', () => {
  it('20 concurrent `delete --detach` of one customer yield exactly one job; the others exit 4', async () => {
    const state = tempStateDir();
    const c = await provisionCustomer(randomKey('race'));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => custctl(['delete', c.customerId, '--yes', '--detach'], { env: { CUSTCTL_STATE_DIR: state } })),
    );
    const codes = results.map((r) => r.exitCode).sort();
    expect(codes.filter((x) => x === 0)).toHaveLength(1);
    expect(codes.filter((x) => x === 4)).toHaveLength(19);
    const jobs = await jobsOf(state, c.customerId);
    expect(jobs).toHaveLength(1);
    expect((await row(c.customerId)).deletion_job_id).toBe(jobs[0]?.id);
    const w = await custctl(['worker', '--once'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(w.exitCode, w.stderr).toBe(0);
    expect((await row(c.customerId)).deployment_status).toBe('pending');
  }, 180_000);

  it('two workers on one journal run every job exactly once', async () => {
    const state = tempStateDir();
    const env = { CUSTCTL_STATE_DIR: state };
    const customers = await Promise.all(Array.from({ length: 6 }, (_, i) => provisionCustomer(randomKey(`w${i}`), { release: false })));
    for (const c of customers) expect((await custctl(['delete', c.customerId, '--yes', '--detach'], { env })).exitCode).toBe(0);
    const [a, b] = await Promise.all([custctl(['worker', '--once', '--concurrency', '2'], { env }), custctl(['worker', '--once', '--concurrency', '2'], { env })]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    for (const c of customers) {
      const jobs = await jobsOf(state, c.customerId);
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ state: 'completed', attemptsMade: 1 });
      expect(jobs[0]?.attempts).toHaveLength(1);
      expect((await row(c.customerId)).deployment_status).toBe('pending');
    }
    const started = `${a.stderr}\n${b.stderr}`.match(/attempt 1\/\d started/g) ?? [];
    expect(started).toHaveLength(customers.length);
  }, 300_000);
});

describe('superseded and cancelled jobs', () => {
  it('a failed job retried after the customer was redeployed refuses and leaves the new instance untouched', async () => {
    const state = tempStateDir();
    const env = { CUSTCTL_STATE_DIR: state };
    const c = await provisionCustomer(randomKey('sup'), { stuck: true });
    const first = await custctl(['delete', c.customerId, '--yes', '--timeout', '3s', '-o', 'json'], { env: { ...env, QUEUE_MAX_RETRIES: '1' } });
    expect(first.exitCode).toBe(5);
    const jobId = (JSON.parse(first.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId ?? '';
    expect((await row(c.customerId)).deployment_status).toBe('deletion_failed');
    // billing redeploys the customer: the old namespace goes, a new one (new uid) comes
    await unstick(c.namespace);
    await waitFor(async () => (await getNamespace(c.namespace)) === null, 'the old namespace to go', 120_000);
    await db().query('delete from customers where customer_id = $1', [c.customerId]);
    await provisionCustomer(c.key);
    const uid = (await getNamespace(c.namespace))?.metadata?.uid;
    const retry = await custctl(['jobs', 'retry', jobId], { env });
    expect(retry.exitCode).toBe(4);
    expect(retry.stderr).toMatch(/refusing to retry/);
    expect((await getNamespace(c.namespace))?.metadata?.uid).toBe(uid);
    expect((await row(c.customerId)).deployment_status).toBe('deployed');
  }, 240_000);

  it('a delayed job cancelled between attempts never runs again; the row is deletion_failed (its attempt had deleted the namespace), not its previous status', async () => {
    const state = tempStateDir();
    const env = { CUSTCTL_STATE_DIR: state, QUEUE_RETRY_DELAY: '600000' };
    const c = await provisionCustomer(randomKey('can'), { stuck: true, status: 'failed' });
    try {
      const q = await custctl(['delete', c.customerId, '--yes', '--detach', '--timeout', '3s', '-o', 'json'], { env });
      expect(q.exitCode, q.stderr).toBe(0);
      const jobId = (JSON.parse(q.stdout) as { results: Array<{ jobId: string }> }).results[0]?.jobId ?? '';
      await custctl(['worker', '--once'], { env });
      const { json: delayed } = await custctlJson<JobJson>(['status', 'job', jobId], { env });
      expect(delayed).toMatchObject({ state: 'delayed', attemptsMade: 1 });
      const cancel = await custctl(['jobs', 'cancel', jobId], { env });
      expect(cancel.exitCode, cancel.stderr).toBe(0);
      expect(cancel.stdout).toContain('cancelled after it had started; status deletion_failed; nothing restored');
      expect((await row(c.customerId)).deployment_status).toBe('deletion_failed');
      const again = await custctl(['worker', '--once'], { env: { ...env, QUEUE_RETRY_DELAY: '1' } });
      expect(again.exitCode).toBe(0);
      const { json: after } = await custctlJson<JobJson>(['status', 'job', jobId], { env });
      expect(after).toMatchObject({ state: 'failed', attemptsMade: 1, failedReason: 'cancelled' });
    } finally {
      await unstick(c.namespace);
    }
  }, 180_000);

  it('status job of an unknown id exits 3; a malformed id exits 2', async () => {
    const env = { CUSTCTL_STATE_DIR: tempStateDir() };
    expect((await custctl(['status', 'job', '424242'], { env })).exitCode).toBe(3);
    expect((await custctl(['status', 'job', 'abc'], { env })).exitCode).toBe(2);
  });
});
