/**
 * The BullMQ queue on the real redis-server of the test run (password, loopback): the job schema,
 * retries/backoff, final errors, timeouts, two workers sharing a queue, and a worker killed with
 * SIGKILL mid-attempt (BullMQ's stalled-job check). Fake processors: the pipeline has its own tests.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, OperationError } from '../../src/errors.js';
import { BullQueue, redisConnectionFrom } from '../../src/adapters/bullmq-queue.js';
import { runBullWorker } from '../../src/jobs/bullmq-worker.js';
import type { Job, NewJob } from '../../src/domain/job.js';
import type { Processor } from '../../src/adapters/queue.js';
import { testEnv } from '../support/env.js';
import { randomKey, waitFor } from '../support/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const opened: BullQueue[] = [];
const stops: AbortController[] = [];

function queue(prefix = `t${randomKey('q')}`): BullQueue {
  const q = new BullQueue(redisConnectionFrom({ REDIS_URL: testEnv().redisUrl }), prefix);
  opened.push(q);
  return q;
}

function newJob(customer: string, over: Partial<NewJob['opts']> = {}): NewJob {
  return {
    name: 'delete',
    data: { customerId: customer, namespace: `customer-${customer.slice(5)}` },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 100 }, timeoutMs: 10_000, ...over },
    requestedBy: 'api:ci-bot',
    simulated: false,
    previousStatus: 'deployed',
  };
}

async function add(q: BullQueue, customer: string, over: Partial<NewJob['opts']> = {}): Promise<Job> {
  return q.add(await q.allocateId(), newJob(customer, over), Date.now());
}

function work(q: BullQueue, processor: Processor, extra: { concurrency?: number; failed?: Job[]; lockMs?: number; name?: string } = {}) {
  const stop = new AbortController();
  stops.push(stop);
  const done = runBullWorker({
    queue: q, processor, concurrency: extra.concurrency ?? 2, signal: stop.signal, worker: extra.name ?? 'test',
    onFailed: async (j) => { extra.failed?.push(j); },
    ...(extra.lockMs ? { lockMs: extra.lockMs, stalledIntervalMs: extra.lockMs } : {}),
  });
  return { stop: () => { stop.abort(); return done; }, done };
}

async function until(q: BullQueue, id: string, states: Job['state'][] = ['completed', 'failed'], ms = 30_000): Promise<Job> {
  return waitFor(async () => {
    const j = await q.get(id);
    return j && states.includes(j.state) ? j : null;
  }, `job ${id} to be ${states.join('/')}`, ms, 50);
}

afterEach(async () => {
  for (const s of stops.splice(0)) s.abort();
  await new Promise((r) => setTimeout(r, 50));
  for (const q of opened.splice(0)) {
    await q.queue.obliterate({ force: true }).catch(() => undefined);
    await q.close().catch(() => undefined);
  }
});

describe('BullQueue: the one job schema on Redis', () => {
  it('allocates numeric, increasing ids; add/get/list map to our job JSON', async () => {
    const q = queue();
    const a = await add(q, 'cust_aaa1');
    const b = await add(q, 'cust_bbb2');
    expect(a.id).toMatch(/^\d+$/);
    expect(Number(b.id)).toBeGreaterThan(Number(a.id));
    expect(a).toMatchObject({
      name: 'delete', state: 'waiting', progress: 0, data: { customerId: 'cust_aaa1', namespace: 'customer-aaa1' },
      attemptsMade: 0, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: [], returnvalue: null,
      requestedBy: 'api:ci-bot', simulated: false, processedOn: null, finishedOn: null, previousStatus: 'deployed', lease: null,
    });
    expect((await q.list()).map((j) => j.id)).toEqual([b.id, a.id]);
    expect((await q.list({ customerId: 'cust_bbb2' })).map((j) => j.id)).toEqual([b.id]);
    expect(await q.get('999999')).toBeNull();
    expect(q.queue.opts.prefix).toBeDefined();
    const raw = await q.queue.getJob(`j${a.id}`);
    expect(raw?.opts).toMatchObject({ attempts: 3, backoff: { type: 'exponential', delay: 100 }, removeOnComplete: { age: 604800 }, removeOnFail: { age: 604800 } });
  });

  it('a worker runs it: progress, logs, returnvalue, completed', async () => {
    const q = queue();
    const j = await add(q, 'cust_run1');
    const w = work(q, async (ctx) => {
      await ctx.progress(25);
      await ctx.log('INFO  Uninstalling Helm release');
      await ctx.progress(100);
      return { outcome: 'deleted' };
    });
    const done = await until(q, j.id);
    expect(done).toMatchObject({ state: 'completed', progress: 100, attemptsMade: 1, returnvalue: { outcome: 'deleted' } });
    expect(done.attempts[0]?.log.join('\n')).toContain('Uninstalling Helm release');
    expect((await w.stop()).completed).toBe(1);
  });

  it('retries with backoff, then completes; a final error fails at once with its name; onFailed sees it', async () => {
    const q = queue();
    const flaky = await add(q, 'cust_flaky1');
    const refused = await add(q, 'cust_refused1');
    const failed: Job[] = [];
    let tries = 0;
    work(q, async (ctx) => {
      if (ctx.job.data.customerId === 'cust_refused1') throw new ConflictError('customer was redeployed: superseded');
      tries += 1;
      if (tries === 1) throw new OperationError('kube-apiserver unavailable');
      return { outcome: 'deleted' };
    }, { failed });
    const ok = await until(q, flaky.id);
    expect(ok).toMatchObject({ state: 'completed', attemptsMade: 2 });
    const no = await until(q, refused.id);
    expect(no).toMatchObject({ state: 'failed', attemptsMade: 1, failedCode: 'conflict', failedReason: expect.stringContaining('superseded') });
    await waitFor(async () => failed.some((j) => j.id === refused.id), 'onFailed', 5_000, 20);

    // retry: a fresh set of attempts
    const again = await q.retry(refused.id, Date.now());
    expect(['waiting', 'active', 'completed', 'failed']).toContain(again.state);
  });

  it('a permanent error (helm missing, 403) fails the job at once: UnrecoverableError, no further attempt', async () => {
    const q = queue();
    const j = await add(q, 'cust_perm1');
    let tries = 0;
    work(q, async () => {
      tries += 1;
      throw new OperationError('helm not found: HELM_BIN=/x/helm (set HELM_BIN to the helm binary, v3.8+ or v4)', [], { permanent: true });
    });
    const no = await until(q, j.id);
    expect(no).toMatchObject({ state: 'failed', attemptsMade: 1, maxAttempts: 3, failedReason: expect.stringContaining('helm not found') });
    expect(tries).toBe(1);
  });

  it('the attempt timeout aborts the processor (BullMQ has none of its own); the last attempt fails with the timeout', async () => {
    const q = queue();
    const j = await add(q, 'cust_slow1', { attempts: 2, timeoutMs: 200, backoff: { type: 'exponential', delay: 50 } });
    const failed: Job[] = [];
    work(q, (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })), { failed });
    const end = await until(q, j.id);
    expect(end).toMatchObject({ state: 'failed', attemptsMade: 2, failedCode: 'internal', failedReason: expect.stringContaining('timed out') });
    await waitFor(async () => failed.length === 1, 'onFailed', 5_000, 20);
  });

  it('a job a worker holds is not cancelled (409), and BullMQ itself refuses to remove it: the guarantee a cancel that races a worker leans on', async () => {
    const q = queue();
    const j = await add(q, 'cust_race1');
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const w = work(q, async () => {
      await held;
      return { outcome: 'deleted' };
    });
    await until(q, j.id, ['active']);
    await expect(q.cancel(j.id, Date.now())).rejects.toBeInstanceOf(ConflictError);
    const b = await q.queue.getJob(`j${j.id}`);
    await expect(b?.remove()).rejects.toThrow(/locked/);
    release();
    expect((await until(q, j.id)).state).toBe('completed');
    await w.stop();
  });

  it('cancel removes a waiting job from BullMQ and keeps a cancelled record that get, list and prune see', async () => {
    const q = queue();
    const j = await add(q, 'cust_cancel1');
    const t = Date.now();
    const c = await q.cancel(j.id, t);
    expect(c).toMatchObject({ id: j.id, state: 'failed', failedReason: 'cancelled', data: { customerId: 'cust_cancel1' } });
    expect(await q.queue.getJob(`j${j.id}`)).toBeUndefined(); // no worker can take it
    expect(await q.get(j.id)).toEqual(c);
    expect((await q.list({ state: 'failed', customerId: 'cust_cancel1' })).map((x) => x.id)).toEqual([j.id]);
    expect((await q.list({ state: 'waiting', customerId: 'cust_cancel1' })).map((x) => x.id)).toEqual([]);
    await expect(q.cancel(j.id, t)).rejects.toThrow(/cancelled already/);
    expect(await q.prune(t - 1)).toBe(0);
    expect(await q.prune(t + 1)).toBeGreaterThanOrEqual(1);
    expect(await q.get(j.id)).toBeNull();
  });
});

describe('BullMQ workers sharing a queue', () => {
  it('two workers, 10 jobs: each job runs exactly once', async () => {
    const q = queue();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await add(q, `cust_two${i}`)).id);
    const runs = new Map<string, string[]>();
    const proc = (name: string): Processor => async (ctx) => {
      runs.set(ctx.job.id, [...(runs.get(ctx.job.id) ?? []), name]);
      await new Promise((r) => setTimeout(r, 30));
      return { outcome: 'deleted' };
    };
    const q2 = queue(q.prefix);
    work(q, proc('w1'), { concurrency: 2, name: 'w1' });
    work(q2, proc('w2'), { concurrency: 2, name: 'w2' });
    for (const id of ids) expect((await until(q, id)).state).toBe('completed');
    expect([...runs.keys()].sort()).toEqual([...ids].sort());
    for (const id of ids) expect(runs.get(id)).toHaveLength(1);
    const by = [...runs.values()].flat();
    expect(new Set(by).size).toBe(2); // both took work
  });

  it('kill -9 a worker mid-attempt: the stalled job is recovered and completes on the other', async () => {
    const q = queue();
    const j = await add(q, 'cust_kill1');
    // a worker in another process that hangs in the attempt; lock 1 s so the stall shows quickly
    const script = `
      const { BullQueue, redisConnectionFrom } = await import(${JSON.stringify(path.join(root, 'dist/adapters/bullmq-queue.js'))});
      const { runBullWorker } = await import(${JSON.stringify(path.join(root, 'dist/jobs/bullmq-worker.js'))});
      const q = new BullQueue(redisConnectionFrom({ REDIS_URL: process.env.REDIS_URL }), process.env.PREFIX);
      await runBullWorker({ queue: q, concurrency: 1, signal: new AbortController().signal, worker: 'victim', lockMs: 1000, stalledIntervalMs: 1000,
        onFailed: async () => {}, processor: async (ctx) => { await ctx.progress(25); console.log('STARTED'); await new Promise(() => {}); } });`;
    const child = spawn('node', ['--input-type=module', '-e', script], { env: { ...process.env, REDIS_URL: testEnv().redisUrl, PREFIX: q.prefix }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor(async () => out.includes('STARTED'), `the victim worker to start the job (${out})`, 30_000, 50);
    expect((await q.get(j.id))?.state).toBe('active');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const rescuer = queue(q.prefix);
    let ran = 0;
    work(rescuer, async (ctx) => { ran += 1; await ctx.progress(100); return { outcome: 'deleted' }; }, { lockMs: 1000, name: 'rescuer' });
    const end = await until(q, j.id, ['completed', 'failed'], 60_000);
    expect(end).toMatchObject({ state: 'completed', progress: 100 });
    expect(ran).toBe(1);
  });

  it('a job that stalls more than maxStalledCount fails, and the failed event settles it', async () => {
    const q = queue();
    const j = await add(q, 'cust_stall1');
    const script = `
      const { BullQueue, redisConnectionFrom } = await import(${JSON.stringify(path.join(root, 'dist/adapters/bullmq-queue.js'))});
      const { runBullWorker } = await import(${JSON.stringify(path.join(root, 'dist/jobs/bullmq-worker.js'))});
      const q = new BullQueue(redisConnectionFrom({ REDIS_URL: process.env.REDIS_URL }), process.env.PREFIX);
      await runBullWorker({ queue: q, concurrency: 1, signal: new AbortController().signal, worker: 'victim', lockMs: 1000, stalledIntervalMs: 1000,
        onFailed: async () => {}, processor: async () => { console.log('STARTED'); await new Promise(() => {}); } });`;
    const child = spawn('node', ['--input-type=module', '-e', script], { env: { ...process.env, REDIS_URL: testEnv().redisUrl, PREFIX: q.prefix }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor(async () => out.includes('STARTED'), 'the victim worker to start the job', 30_000, 50);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // maxStalledCount 0 here: the first stall is one too many
    const failed: Job[] = [];
    const rescuer = queue(q.prefix);
    const stop = new AbortController();
    stops.push(stop);
    void runBullWorker({ queue: rescuer, concurrency: 1, signal: stop.signal, worker: 'rescuer', lockMs: 1000, stalledIntervalMs: 1000, maxStalledCount: 0,
      onFailed: async (f) => { failed.push(f); }, processor: async () => ({ outcome: 'deleted' }) });
    const end = await until(q, j.id, ['failed', 'completed'], 60_000);
    expect(end.state).toBe('failed');
    expect(end.failedReason).toMatch(/stalled/);
    await waitFor(async () => failed.some((f) => f.id === j.id && f.state === 'failed'), 'the failed event with the job', 10_000, 50);
  });
});
