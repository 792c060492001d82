/**
 * BullMQ on PostgreSQL selected with CUSTCTL_QUEUE=postgres: what doctor, version, worker and delete
 * say of a schema not migrated yet (refused, nothing changed), and end to end, with the queue in a database of its own
 * (CUSTCTL_QUEUE_DATABASE_URL: a throwaway server, so that restarting it disturbs no other test)
 * and the customers in the test run's database: `custctl db migrate` creates the queue schema
 * there, a `custctl worker` keeps running while that server restarts, and the deletions that
 * waited across the restart (delayed, then due) and one queued after it all complete, once each.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { restartPostgres, startPostgres, type Postgres } from '../env/postgres.js';
import type { ManagedProcess } from '../env/process.js';
import { openPostgresBullQueue } from '../../src/adapters/bullmq-postgres.js';

describe('CUSTCTL_QUEUE=postgres before db migrate', () => {
  it('doctor names the missing schema and its fix; version describes the queue; worker and delete refuse, nothing changed', async () => {
    const schema = `nomig_${randomKey('s').replace(/[^a-z0-9_]/gi, '_')}`;
    const env = { CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_SCHEMA: schema, CUSTCTL_STATE_DIR: tempStateDir() };
    const doctor = await custctlJson<{ ok: boolean; checks: Array<{ name: string; status: string; detail: string; fix?: string }> }>(['doctor'], { env });
    expect(doctor.result.exitCode).toBe(1);
    const queue = doctor.json.checks.filter((c) => c.name.startsWith('queue'));
    expect(queue.map((c) => [c.name, c.status])).toEqual([['queue database', 'ok'], ['queue server version', 'ok'], ['queue schema', 'fail'], ['queue privileges', 'skipped']]);
    expect(queue[1]?.detail).toMatch(/^PostgreSQL \d+/);
    expect(queue[2]).toMatchObject({ detail: expect.stringContaining(`${schema}`), fix: expect.stringContaining('custctl db migrate') });

    const version = await custctlJson<{ queue: string }>(['version'], { env });
    expect(version.json.queue).toMatch(new RegExp(`^BullMQ on PostgreSQL, postgres://[^:@]+@127\\.0\\.0\\.1:\\d+/\\w+, schema ${schema}$`));

    const worker = await custctl(['worker'], { env });
    expect(worker.exitCode, worker.stderr).toBe(2);
    expect(worker.stderr).toContain(`the queue schema ${schema}`);
    expect(worker.stderr).toContain('custctl db migrate');

    const c = await provisionCustomer(randomKey('qn'));
    const del = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(del.exitCode, del.stderr).toBe(2);
    const row = await db().query('select deployment_status, deletion_job_id from customers where customer_id = $1', [c.customerId]);
    expect(row.rows[0]).toEqual({ deployment_status: 'deployed', deletion_job_id: null });
    expect(await getNamespace(c.namespace)).not.toBeNull();
    const schemas = await db().query('select 1 from pg_namespace where nspname = $1', [schema]);
    expect(schemas.rowCount).toBe(0);
  }, 120_000);
});

describe('BullMQ on PostgreSQL: the queue database restarted while deletions wait', () => {
  let server: Postgres | undefined;
  let restarted: ManagedProcess | undefined;
  let worker: ChildProcess | undefined;

  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill('SIGTERM');
      await new Promise((r) => worker?.once('exit', r));
    }
    await restarted?.stop('SIGINT', 10_000);
    await server?.stop();
  });

  it('a running worker finishes the deletions delayed before the restart and one queued after it, each once', async () => {
    const runDir = await mkdtemp(path.join(testEnv().runDir, 'queue-pg-restart-'));
    server = await startPostgres(runDir);
    const queueEnv = { CUSTCTL_QUEUE: 'postgres', CUSTCTL_QUEUE_DATABASE_URL: server.url, CUSTCTL_QUEUE_SCHEMA: 'custctl_queue' };
    const env = { ...queueEnv, CUSTCTL_STATE_DIR: tempStateDir() };
    const m = await custctl(['db', 'migrate'], { env });
    expect(m.exitCode, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/queue schema custctl_queue: version 0 → \d+/);
    const doctor = await custctlJson<{ checks: Array<{ name: string; status: string; detail: string }> }>(['doctor'], { env });
    expect(doctor.json.checks.filter((c) => c.name.startsWith('queue')).map((c) => [c.name, c.status])).toEqual([
      ['queue database', 'ok'], ['queue server version', 'ok'], ['queue schema', 'ok'], ['queue privileges', 'ok'],
    ]);

    const customers = await Promise.all([0, 1, 2].map((i) => provisionCustomer(randomKey(`qr${i}`))));
    let log = '';
    worker = spawn('node', [BIN, 'worker', '--concurrency', '2'], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    worker.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    await waitFor(async () => log.includes('started on postgres://'), `the worker to start:\n${log}`, 30_000, 100);

    // two deletions wait (delayed an hour) across the restart
    const delayed: string[] = [];
    for (const c of customers.slice(0, 2)) {
      const r = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', c.customerId, '--yes', '--after', '1h'], { env });
      expect(r.result.exitCode, r.result.stderr).toBe(0);
      delayed.push(r.json.results[0]?.jobId ?? '');
    }
    restarted = await restartPostgres(server, path.join(runDir, 'postgres', 'data'), 1_500);
    expect(worker.exitCode, log).toBeNull();

    // after it: they come due, and a third deletion is queued
    const q = await openPostgresBullQueue({ pool: { connectionString: server.url, max: 2 }, schema: 'custctl_queue', where: 'test' });
    try {
      for (const [i, id] of delayed.entries()) {
        const b = await q.queue.getJob(`j${id}`);
        expect(b, `job ${id}`).toBeTruthy();
        await b?.updateData({ ...b.data, scheduledFor: Date.now() - 1_000 });
        await b?.changeDelay(0);
        await db().query('update customers set deletion_scheduled_at = now() where customer_id = $1', [customers[i]?.customerId]);
      }
    } finally {
      await q.close();
    }
    const third = await custctlJson<{ results: Array<{ jobId: string }> }>(['delete', customers[2]?.customerId ?? '', '--yes', '--detach'], { env });
    expect(third.result.exitCode, third.result.stderr).toBe(0);
    const ids = [...delayed, third.json.results[0]?.jobId ?? ''];

    for (const id of ids) {
      await waitFor(async () => (await custctlJson<{ state: string }>(['status', 'job', id], { env })).json.state === 'completed', `job ${id} to complete:\n${log}`, 120_000, 1_000);
    }
    expect(worker.exitCode, log).toBeNull();
    for (const c of customers) expect(await getNamespace(c.namespace)).toBeNull();
    const audit = await db().query<{ customer_id: string; n: string }>(
      "select customer_id, count(*) as n from custctl_audit where action = 'deletion-completed' and customer_id = any($1) group by customer_id",
      [customers.map((c) => c.customerId)],
    );
    expect(Object.fromEntries(audit.rows.map((r) => [r.customer_id, Number(r.n)]))).toEqual(Object.fromEntries(customers.map((c) => [c.customerId, 1])));
    for (const id of ids) expect((log.match(new RegExp(`Job ${id} attempt \\d+/\\d+ started`, 'g')) ?? []).length, `job ${id}`).toBe(1);
  }, 300_000);
});
