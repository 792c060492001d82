/**
 * Erasure of the personal text in BullMQ's jobs, once per backend (Redis, PostgreSQL), with the
 * built binary: a BullMQ worker runs two jobs of a deleted customer, one that completes with a
 * result and a log line quoting the customer's e-mail and one that fails with a message (and so a
 * stack trace) quoting its e-mail and company; the job data names a path with the e-mail too.
 * `custctl erase` rewrites both in place — data, result, failure message, stack trace, logs —
 * says so in its report, and leaves another customer's job as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job as BullJob } from 'bullmq';
import { BullQueue, type BullData, type BullMQWorker } from '../../src/adapters/bullmq-queue.js';
import { RedisBullBackend, redisConnectionFrom } from '../../src/adapters/bullmq-redis.js';
import { openPostgresBullQueue } from '../../src/adapters/bullmq-postgres.js';
import { ERASED_MARK } from '../../src/domain/erasure.js';
import type { JobName, NewJob } from '../../src/domain/job.js';
import { custctlJson } from '../support/cli.js';
import { pgTarget } from '../support/bull-backends.js';
import { db, ensureCustomersTable, randomKey, waitFor } from '../support/fixtures.js';
import { CLI_BULL_BACKENDS } from '../support/queue-backends.js';

interface EraseJson {
  outcome: string;
  fields: string[];
  journal: { jobs: number; scrubbed: boolean; rewritten: number; valuesReplaced: number; note?: string } | null;
  warnings: string[];
}

beforeAll(async () => {
  await ensureCustomersTable();
}, 120_000);

describe.each(CLI_BULL_BACKENDS)('erase on %s', (_title, backend) => {
  let queueEnv: Record<string, string>;
  let q: BullQueue;
  let worker: BullMQWorker | undefined;

  beforeAll(async () => {
    queueEnv = await backend.queueEnv(7);
    q = backend.name === 'redis'
      ? new BullQueue(new RedisBullBackend(redisConnectionFrom({ REDIS_URL: queueEnv.REDIS_URL })))
      : await openPostgresBullQueue(pgTarget(queueEnv.CUSTCTL_QUEUE_SCHEMA as string));
  }, 120_000);

  afterAll(async () => {
    await worker?.close();
    await q?.close();
    await backend.cleanup();
  });

  /** a deleted customer: `pending`, no namespace, its personal fields still in the row */
  async function deletedCustomer(): Promise<{ id: string; key: string; email: string; company: string }> {
    const key = randomKey('e');
    const c = { id: `cust_${key}`, key, email: `jane.${key}@acme.example`, company: `Owing ${key} GmbH` };
    await db().query(`insert into customers (customer_id, email, company_name, deployment_status, instance_namespace, instance_url) values ($1, $2, $3, 'pending', '', $4)`,
      [c.id, c.email, c.company, `https://${key}.acme.example`]);
    return c;
  }

  const newJob = (customerId: string, data: Record<string, unknown> = {}): NewJob => ({
    name: 'delete', data: { customerId, namespace: `customer-${customerId.slice(5)}`, ...data },
    opts: { attempts: 1, backoff: { type: 'exponential', delay: 1000 }, timeoutMs: 60_000 }, requestedBy: 'tester', simulated: true,
  });

  it('rewrites the data, result, failure, stack trace and log of each finished job of the customer in place, and reports how many', async () => {
    const c = await deletedCustomer();
    const other = await deletedCustomer();
    // what the (simulated) steps did: a log line and a result quoting the e-mail, or a failure quoting it and the company
    worker = q.backend.createWorker(async (job: BullJob<BullData, unknown, JobName>) => {
      const email = job.data.customerId === c.id ? c.email : other.email;
      await job.log(`billing: receipt mailed to ${email}`);
      if (job.data.from) throw new Error(`billing: ${email} (${c.company}) has an open invoice`);
      return { receipt: `mailed to ${email}` };
    }, { concurrency: 1 });
    worker.on('error', () => undefined);
    const done = await q.add(await q.allocateId(), newJob(c.id), Date.now());
    const failed = await q.add(await q.allocateId(), newJob(c.id, { from: `s3://exports/${c.email}/export.tar` }), Date.now());
    const others = await q.add(await q.allocateId(), newJob(other.id), Date.now());
    for (const [j, state] of [[done, 'completed'], [failed, 'failed'], [others, 'completed']] as const) {
      await waitFor(async () => (await q.get(j.id))?.state === state, `job ${j.id} ${state}`, 60_000);
    }
    await worker.close();
    worker = undefined;

    /** everything BullMQ keeps of a job: its hash/row as BullMQ reads it, and its log */
    const kept = async (id: string) => {
      const b = await q.queue.getJob(`j${id}`);
      const { logs } = await q.queue.getJobLogs(`j${id}`, 0, -1);
      return JSON.stringify({ data: b?.data, returnvalue: b?.returnvalue, failedReason: b?.failedReason, stacktrace: b?.stacktrace, logs, job: await q.get(id) });
    };
    expect(await kept(done.id)).toContain(c.email);
    const failedBefore = await kept(failed.id);
    expect(failedBefore).toContain(c.email);
    expect(failedBefore).toContain(c.company);
    const otherBefore = await kept(others.id);

    const er = await custctlJson<EraseJson>(['erase', c.id, '--yes'], { env: { ...queueEnv, SIMULATE_K8S_DEPLOYMENT: 'true' } });
    expect(er.result.exitCode, er.result.stderr).toBe(0);
    expect(er.json.outcome).toBe('erased');
    expect(er.json.journal).toMatchObject({ jobs: 2, scrubbed: true, rewritten: 2 });
    expect(er.json.journal?.valuesReplaced).toBeGreaterThanOrEqual(6);
    expect(er.json.warnings.join('\n')).not.toMatch(/not rewritten|cannot rewrite/);

    for (const id of [done.id, failed.id]) {
      const after = await kept(id);
      expect(after).not.toContain(c.email);
      expect(after).not.toContain(c.company);
      expect(after).toContain(ERASED_MARK);
    }
    // still the same jobs, in the same states, readable as before; only the text changed
    const d = await q.get(done.id);
    expect(d).toMatchObject({ state: 'completed', data: { customerId: c.id, namespace: `customer-${c.key}` }, returnvalue: { receipt: `mailed to ${ERASED_MARK}` } });
    expect(d?.attempts[0]?.log).toEqual([`billing: receipt mailed to ${ERASED_MARK}`]);
    const f = await q.get(failed.id);
    expect(f).toMatchObject({ state: 'failed', failedReason: `billing: ${ERASED_MARK} (${ERASED_MARK}) has an open invoice` });
    expect(f?.stacktrace.join('\n')).toContain(`billing: ${ERASED_MARK} (${ERASED_MARK}) has an open invoice`);
    expect((await q.queue.getJob(`j${failed.id}`))?.data.from).toBe(`s3://exports/${ERASED_MARK}/export.tar`);
    // another customer's job: untouched
    expect(await kept(others.id)).toBe(otherBefore);
  }, 180_000);
});
