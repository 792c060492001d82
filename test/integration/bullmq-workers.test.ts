/**
 * BullMQ with real `custctl worker` processes, on each BullMQ backend (Redis, PostgreSQL): deletions
 * queued from the CLI, several workers, one of them killed with SIGKILL mid-deletion; every job
 * still completes, and none twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { postgresCli, redisCli, type CliBullBackend } from '../support/queue-backends.js';

/** Redis: database 2, its own queue apart from the other BullMQ tests running at the same time; PostgreSQL: a schema of its own. */
const cases: Array<[string, CliBullBackend, { workers: number; deletions: number }]> = [
  ['two workers on BullMQ on Redis, 10 deletions', redisCli, { workers: 2, deletions: 10 }],
  ['three workers on BullMQ on PostgreSQL, 20 deletions', postgresCli, { workers: 3, deletions: 20 }],
];

describe.each(cases)('%s', (_title, backend, size) => {
  afterAll(() => backend.cleanup());

  it(`${size.deletions} deletions each complete once; a worker killed with SIGKILL mid-deletion loses nothing`, async () => {
    const env = { ...(await backend.queueEnv(2)), CUSTCTL_STATE_DIR: tempStateDir() };
    const customers: Array<Awaited<ReturnType<typeof provisionCustomer>>> = [];
    for (let i = 0; i < size.deletions; i += 5) {
      const batch = Array.from({ length: Math.min(5, size.deletions - i) }, (_, k) => i + k);
      customers.push(...(await Promise.all(batch.map((n) => provisionCustomer(randomKey(`bw${n}`), { release: n % 2 === 0, rbacOutsideRelease: true })))));
    }

    const logs = Array.from({ length: size.workers }, () => '');
    const workers: ChildProcess[] = logs.map((_, i) => {
      const w = spawn('node', [BIN, 'worker', '--concurrency', '2'], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      w.stderr?.on('data', (b: Buffer) => (logs[i] += b.toString()));
      return w;
    });
    try {
      await waitFor(async () => logs.every((l) => l.includes(backend.started)), `workers to start:\n${logs.join('\n')}`, 30_000, 100);
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
            throw new Error(`${String(e)}\nkilled job ${victim}\n--- jobs\n${jobs.stdout}${jobs.stderr}\n${logs.map((l, i) => `--- worker ${i}\n${l}`).join('\n')}`);
          });
        expect(await getNamespace(c.namespace)).toBeNull();
      }
      for (const id of jobIds) {
        const { json } = await custctlJson<{ state: string; progress: number }>(['status', 'job', id], { env });
        expect(json, `job ${id}`).toMatchObject({ state: 'completed', progress: 100 });
      }
      // a survivor recovered the killed worker's job; jobs that worker never started ran exactly once
      const started = (l: string, id: string) => (l.match(new RegExp(`Job ${id} attempt \\d+/\\d+ started`, 'g')) ?? []).length;
      const survivors = logs.slice(1);
      expect(survivors.reduce((n, l) => n + started(l, victim), 0)).toBeGreaterThanOrEqual(1);
      for (const id of jobIds) {
        if (started(logs[0] ?? '', id) === 0) expect(survivors.reduce((n, l) => n + started(l, id), 0), `job ${id}`).toBe(1);
      }
      // each customer's deletion completed once: one audit completion row each
      const audit = await db().query<{ customer_id: string; n: string }>(
        "select customer_id, count(*) as n from custctl_audit where action = 'deletion-completed' and customer_id = any($1) group by customer_id",
        [customers.map((c) => c.customerId)],
      );
      expect(Object.fromEntries(audit.rows.map((r) => [r.customer_id, Number(r.n)]))).toEqual(Object.fromEntries(customers.map((c) => [c.customerId, 1])));
    } finally {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null || w.signalCode !== null ? r(null) : w.once('exit', r)))));
    }
  }, 420_000);

  it('custctl worker --once is refused on BullMQ with a clear message', async () => {
    const r = await custctl(['worker', '--once'], { env: { ...(await backend.queueEnv(2)), CUSTCTL_STATE_DIR: tempStateDir() } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--once is for the file journal/);
  });
});
