/**
 * BullMQ on the real Redis with real `custctl worker` processes: ten deletions queued from the
 * CLI, two workers, one of them killed with SIGKILL mid-deletion; every job still completes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';

/** Redis database 2: its own queue, apart from the other BullMQ tests running at the same time. */
const redisUrl = () => testEnv().redisUrl.replace(/\/\d+$/, '/2');

describe('two custctl workers on one BullMQ queue', () => {
  it('10 deletions each complete; a worker killed with SIGKILL mid-deletion loses nothing', async () => {
    const env = { REDIS_URL: redisUrl(), CUSTCTL_STATE_DIR: tempStateDir() };
    const customers = [];
    for (let i = 0; i < 10; i++) customers.push(await provisionCustomer(randomKey(`bw${i}`), { release: i % 2 === 0, rbacOutsideRelease: true }));

    const logs = ['', ''];
    const workers: ChildProcess[] = [0, 1].map((i) => {
      const w = spawn('node', [BIN, 'worker', '--concurrency', '2'], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      w.stderr?.on('data', (b: Buffer) => (logs[i] += b.toString()));
      return w;
    });
    try {
      await waitFor(async () => logs.every((l) => l.includes('started on redis://')), `workers to start:\n${logs.join('\n')}`, 30_000, 100);
      // kill worker 0 while it is in the middle of a deletion (started, not ended, namespace being deleted)
      const killed = waitFor(async () => {
        const l = logs[0] ?? '';
        const open = [...l.matchAll(/Job (\d+) attempt \d+\/\d+ started/g)].map((m) => m[1] ?? '').filter((id) => !new RegExp(`Job ${id} (completed|failed)`).test(l));
        return open.length > 0 && /Deleting Kubernetes namespace/.test(l.slice(l.lastIndexOf(`Job ${open[0]} attempt`))) ? open[0] : undefined;
      }, 'worker 0 to be mid-deletion', 120_000, 20).then((id) => {
        workers[0]?.kill('SIGKILL');
        return id;
      });
      const jobIds: string[] = [];
      for (const c of customers) {
        const { result, json } = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--detach'], { env });
        expect(result.exitCode, result.stderr).toBe(0);
        jobIds.push(json.results[0]?.jobId ?? '');
      }
      const victim = await killed;

      for (const c of customers) {
        await waitFor(async () => (await db().query('select deployment_status from customers where customer_id = $1', [c.customerId])).rows[0]?.deployment_status === 'pending', `${c.customerId} to be deleted`, 240_000, 500)
          .catch(async (e: unknown) => {
            const jobs = await custctl(['jobs', 'list'], { env });
            throw new Error(`${String(e)}\nkilled job ${victim}\n--- jobs\n${jobs.stdout}${jobs.stderr}\n--- worker 0\n${logs[0]}\n--- worker 1\n${logs[1]}`);
          });
        expect(await getNamespace(c.namespace)).toBeNull();
      }
      for (const id of jobIds) {
        const { json } = await custctlJson<{ state: string; progress: number }>(['status', 'job', id], { env });
        expect(json, `job ${id}`).toMatchObject({ state: 'completed', progress: 100 });
      }
      // the survivor recovered the killed worker's job; jobs that worker never started ran exactly once
      const started = (l: string, id: string) => (l.match(new RegExp(`Job ${id} attempt \\d+/\\d+ started`, 'g')) ?? []).length;
      expect(started(logs[1] ?? '', victim)).toBeGreaterThanOrEqual(1);
      for (const id of jobIds) {
        if (started(logs[0] ?? '', id) === 0) expect(started(logs[1] ?? '', id), `job ${id}`).toBe(1);
      }
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once('exit', r)))));
    }
  }, 420_000);

  it('custctl worker --once is refused on BullMQ with a clear message', async () => {
    const r = await custctl(['worker', '--once'], { env: { REDIS_URL: redisUrl(), CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--once is for the file journal/);
  });
});
