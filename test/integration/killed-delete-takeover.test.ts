/**
 * A `custctl delete` killed with SIGKILL on the real cluster and the real
 * PostgreSQL, then taken over by the next command. `CUSTCTL_TEST_BIN` runs them against another
 * build (main's, where they fail).
 */
import { execa, type ResultPromise } from 'execa';
import { mkdir, readFile, rmdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

interface JobJson {
  id: string;
  state: string;
  progress: number;
  returnvalue: { outcome?: string; superseded?: boolean } | null;
  attempts: Array<{ outcome: string }>;
}

async function row(customerId: string) {
  const r = await db().query('select deployment_status, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; deletion_job_id: string | null };
}

function startDelete(customerId: string, state: string): { child: ResultPromise; stderr: () => string } {
  const child = execa('node', [BIN, 'delete', customerId, '--yes'], { env: { ...cliEnv(), CUSTCTL_STATE_DIR: state, NO_COLOR: '1' }, extendEnv: false, reject: false });
  let seen = '';
  child.stderr?.on('data', (b: Buffer) => {
    seen += b.toString();
  });
  return { child, stderr: () => seen };
}

async function kill(child: ResultPromise): Promise<void> {
  child.kill('SIGKILL');
  await child.catch(() => undefined);
}

describe('jobs resume takes over at once a job whose process on this machine is gone', () => {
  it('kill -9 while the namespace is deleted, then `jobs resume` right away: resumed and completed (not "Nothing to resume" until the 30 s lease expires)', async () => {
    const state = tempStateDir();
    const c = await provisionCustomer(randomKey('tk'));
    const d = startDelete(c.customerId, state);
    await waitFor(async () => /Deleting Kubernetes namespace/.test(d.stderr()), 'the namespace step', 90_000, 50);
    await kill(d.child);
    const killedAt = Date.now();
    const jobId = (await row(c.customerId)).deletion_job_id as string;
    const resumed = await custctl(['jobs', 'resume'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(resumed.stderr).not.toMatch(/Nothing to resume/);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`Resuming job ${jobId}`));
    expect(Date.now() - killedAt).toBeLessThan(30_000); // well before the lease would have expired
    const { json: job } = await custctlJson<JobJson>(['status', 'job', jobId], { env: { CUSTCTL_STATE_DIR: state } });
    expect(job).toMatchObject({ state: 'completed', progress: 100 });
    expect(job.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'completed']);
    expect((await row(c.customerId)).deployment_status).toBe('pending');
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 180_000);
});

describe('a job killed after the row reset but before it was marked completed', () => {
  it('is reported deleted with progress 100 by the next attempt, not "superseded … nothing touched" at 85', async () => {
    const state = tempStateDir();
    const c = await provisionCustomer(randomKey('fz'));
    const d = startDelete(c.customerId, state);
    await waitFor(async () => /Deleting Kubernetes namespace/.test(d.stderr()), 'the namespace step', 90_000, 50);
    const jobId = (await row(c.customerId)).deletion_job_id as string;
    const jobFile = path.join(state, 'journal', 'jobs', `${jobId}.json`);
    const lockDir = path.join(state, 'journal', 'journal.lock');

    // 1. hold the row: step 4's UPDATE waits behind this transaction
    const client = await db().connect();
    let fresh: NodeJS.Timeout | undefined;
    try {
      await client.query('begin');
      await client.query('select 1 from customers where customer_id = $1 for update', [c.customerId]);
      // 2. once step 3 is recorded (85), the process is on its way to the row update
      await waitFor(async () => (JSON.parse(await readFile(jobFile, 'utf8')) as JobJson).progress === 85, 'progress 85', 120_000, 50);
      // 3. hold the journal lock (as proper-lockfile does: a directory kept fresh), so the job
      //    cannot be marked completed after the row is reset
      await waitFor(async () => mkdir(lockDir).then(() => true, () => false), 'the journal lock', 10_000, 20);
      fresh = setInterval(() => void utimes(lockDir, new Date(), new Date()).catch(() => undefined), 500);
      // 4. let the row update through, and kill the process right after it
      await client.query('commit');
      await waitFor(async () => (await row(c.customerId)).deployment_status === 'pending', 'the row reset', 30_000, 20);
      await kill(d.child);
    } finally {
      if (fresh) clearInterval(fresh);
      await rmdir(lockDir).catch(() => undefined);
      client.release();
    }
    const { json: before } = await custctlJson<JobJson>(['status', 'job', jobId], { env: { CUSTCTL_STATE_DIR: state } });
    expect(before).toMatchObject({ state: 'active', progress: 85 }); // the killed process got no further

    // the next worker takes it over (its holder is gone) and must see that the job is done
    const w = await custctl(['worker', '--once'], { env: { CUSTCTL_STATE_DIR: state } });
    expect(w.exitCode, w.stderr).toBe(0);
    const { json: job } = await custctlJson<JobJson>(['status', 'job', jobId], { env: { CUSTCTL_STATE_DIR: state } });
    expect(job).toMatchObject({ state: 'completed', progress: 100, returnvalue: { outcome: 'deleted' } });
    expect(job.returnvalue?.superseded).toBeUndefined();
    expect(job.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'completed']);
    const human = await custctl(['status', 'job', jobId], { env: { CUSTCTL_STATE_DIR: state } });
    expect(human.stdout).not.toMatch(/superseded|nothing touched/);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'pending', deletion_job_id: jobId });
  }, 240_000);
});
