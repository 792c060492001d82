/**
 * The BullMQ queue on each of BullMQ's backends, one suite: the real redis-server of the test run
 * (password, loopback) and the test run's PostgreSQL (a schema per test). The job schema,
 * retries/backoff, final errors, timeouts, delayed jobs and their cancel, ids under concurrency,
 * counts and pruning, two workers sharing a queue, and a worker killed with SIGKILL mid-attempt
 * (BullMQ's stalled-job check). Fake processors: the pipeline has its own tests.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, OperationError } from '../../src/errors.js';
import type { BullQueue } from '../../src/adapters/bullmq-queue.js';
import { runBullWorker } from '../../src/jobs/bullmq-worker.js';
import type { Job, NewJob } from '../../src/domain/job.js';
import type { Processor } from '../../src/adapters/queue.js';
import { postgresFixture, redisFixture, type BullBackendFixture } from '../support/bull-backends.js';
import { waitFor } from '../support/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BACKENDS: BullBackendFixture[] = [redisFixture(), postgresFixture()];

function newJob(customer: string, over: Partial<NewJob['opts']> = {}, extra: Partial<NewJob> = {}): NewJob {
  return {
    name: 'delete',
    data: { customerId: customer, namespace: `customer-${customer.slice(5)}` },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 100 }, timeoutMs: 10_000, ...over },
    requestedBy: 'api:ci-bot',
    simulated: false,
    previousStatus: 'deployed',
    ...extra,
  };
}

async function add(q: BullQueue, customer: string, over: Partial<NewJob['opts']> = {}, extra: Partial<NewJob> = {}): Promise<Job> {
  return q.add(await q.allocateId(), newJob(customer, over, extra), Date.now());
}

async function until(q: BullQueue, id: string, states: Job['state'][] = ['completed', 'failed'], ms = 30_000): Promise<Job> {
  return waitFor(async () => {
    const j = await q.get(id);
    return j && states.includes(j.state) ? j : null;
  }, `job ${id} to be ${states.join('/')}`, ms, 50);
}

describe.each(BACKENDS)('BullMQ on $name', (fx) => {
  const opened: BullQueue[] = [];
  const stops: AbortController[] = [];

  async function queue(): Promise<BullQueue> {
    const q = await fx.fresh();
    opened.push(q);
    return q;
  }

  async function sibling(q: BullQueue): Promise<BullQueue> {
    const s = await fx.sibling(q);
    opened.push(s);
    return s;
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

  /** a worker in another process that takes one job and hangs in it (lock 1 s, so a stall shows quickly) */
  function victim(q: BullQueue, processorBody: string) {
    const c = fx.child(q);
    const script = `
        ${c.open}
        const { runBullWorker } = await import(${JSON.stringify(path.join(root, 'dist/jobs/bullmq-worker.js'))});
        await runBullWorker({ queue: q, concurrency: 1, signal: new AbortController().signal, worker: 'victim', lockMs: 1000, stalledIntervalMs: 1000,
          onFailed: async () => {}, processor: ${processorBody} });`;
    return spawn('node', ['--input-type=module', '-e', script], { env: { ...process.env, ...c.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  }

  afterEach(async () => {
    for (const s of stops.splice(0)) s.abort();
    await new Promise((r) => setTimeout(r, 50));
    for (const q of opened.splice(0)) {
      if (fx.name === 'redis') await q.queue.obliterate({ force: true }).catch(() => undefined);
      await q.close().catch(() => undefined);
    }
    await fx.cleanup();
  });

  describe('BullQueue: the one job schema', () => {
    it('allocates numeric, increasing ids; add/get/list map to our job JSON', async () => {
      const q = await queue();
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
      expect(fx.isolation(q)).toMatch(fx.name === 'redis' ? /^prefix t/ : /^schema t_/);
      const raw = await q.queue.getJob(`j${a.id}`);
      expect(raw?.opts).toMatchObject({ attempts: 3, backoff: { type: 'exponential', delay: 100 }, removeOnComplete: { age: 604800 }, removeOnFail: { age: 604800 } });
    });

    it('a worker runs it: progress, logs, returnvalue, completed', async () => {
      const q = await queue();
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
      const q = await queue();
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
      const q = await queue();
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
      const q = await queue();
      const j = await add(q, 'cust_slow1', { attempts: 2, timeoutMs: 200, backoff: { type: 'exponential', delay: 50 } });
      const failed: Job[] = [];
      work(q, (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true })), { failed });
      const end = await until(q, j.id);
      expect(end).toMatchObject({ state: 'failed', attemptsMade: 2, failedCode: 'internal', failedReason: expect.stringContaining('timed out') });
      await waitFor(async () => failed.length === 1, 'onFailed', 5_000, 20);
    });

    it('a job a worker holds is not cancelled (409), and BullMQ itself refuses to remove it: the guarantee a cancel that races a worker leans on', async () => {
      const q = await queue();
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
      const q = await queue();
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

    it('a delayed (scheduled) job shows its due time, runs when due and not before', async () => {
      const q = await queue();
      const due = Date.now() + 2_500;
      const j = await add(q, 'cust_later1', {}, { delayUntil: due, data: { customerId: 'cust_later1', namespace: 'customer-later1', scheduledFor: due } });
      expect(j).toMatchObject({ state: 'delayed', delayUntil: due, data: { scheduledFor: due } });
      const ran: number[] = [];
      work(q, async () => { ran.push(Date.now()); return { outcome: 'deleted' }; });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(ran).toEqual([]);
      expect(await q.get(j.id)).toMatchObject({ state: 'delayed', delayUntil: due });
      const end = await until(q, j.id, ['completed', 'failed'], 30_000);
      expect(end.state).toBe('completed');
      expect(ran).toHaveLength(1);
      expect(ran[0]).toBeGreaterThanOrEqual(due);
      expect(end.processedOn).toBeGreaterThanOrEqual(due);
    });

    it('a retry waits its backoff in delayed, with the due time of the retry', async () => {
      const q = await queue();
      const j = await add(q, 'cust_backoff1', { backoff: { type: 'exponential', delay: 3_000 } });
      let tries = 0;
      work(q, async () => { tries += 1; if (tries === 1) throw new OperationError('kube-apiserver unavailable'); return { outcome: 'deleted' }; });
      const waiting = await until(q, j.id, ['delayed'], 30_000);
      expect(waiting).toMatchObject({ state: 'delayed', attemptsMade: 1, failedReason: 'kube-apiserver unavailable' });
      // BullMQ's exponential backoff: delay × 2^(attemptsMade−1) after the failed attempt ended
      expect(waiting.delayUntil).toBeGreaterThan(Date.now() + 1_000);
      expect(waiting.delayUntil).toBeLessThanOrEqual(Date.now() + 3_100);
      expect(await until(q, j.id, ['completed'], 30_000)).toMatchObject({ attemptsMade: 2 });
    });

    it('cancel of a delayed job: out of BullMQ, a worker never runs it, its record counts as failed; a cancel of an active one is refused', async () => {
      const q = await queue();
      const later = await add(q, 'cust_cancel2', {}, { delayUntil: Date.now() + 1_000 });
      expect(later.state).toBe('delayed');
      const cancelled = await q.cancel(later.id, Date.now());
      expect(cancelled).toMatchObject({ id: later.id, state: 'failed', failedReason: 'cancelled', delayUntil: null });
      expect(await q.queue.getJob(`j${later.id}`)).toBeUndefined();
      expect(await q.get(later.id)).toEqual(cancelled);
      expect(await q.counts()).toMatchObject({ delayed: 0, failed: 1 });
      const ran: string[] = [];
      let release = () => undefined as void;
      const hold = new Promise<void>((r) => { release = r; });
      work(q, async (ctx) => { ran.push(ctx.job.id); await hold; return { outcome: 'deleted' }; });
      const busy = await add(q, 'cust_busy1');
      await until(q, busy.id, ['active']);
      await expect(q.cancel(busy.id, Date.now())).rejects.toThrow(ConflictError);
      expect((await q.get(busy.id))?.state).toBe('active');
      await new Promise((r) => setTimeout(r, 1_500));
      release();
      await until(q, busy.id);
      expect(ran).toEqual([busy.id]);
    });

    it('removeOnComplete/removeOnFail: a job finished more than 7 days ago goes when a later one finishes', async () => {
      const q = await queue();
      const old = await add(q, 'cust_old1');
      const oldFailed = await add(q, 'cust_old2', { attempts: 1 });
      const failing = new Set([oldFailed.id]);
      work(q, async (ctx) => { if (failing.has(ctx.job.id)) throw new OperationError('no'); return { outcome: 'deleted' }; });
      await until(q, old.id);
      await until(q, oldFailed.id);
      const eightDaysAgo = Date.now() - 8 * 86_400_000;
      await fx.backdateFinished(q, old.id, eightDaysAgo);
      await fx.backdateFinished(q, oldFailed.id, eightDaysAgo);
      const recent = await add(q, 'cust_recent1');
      expect(await until(q, recent.id)).toMatchObject({ state: 'completed' });
      expect(await q.get(old.id)).toBeNull();
      expect((await q.get(oldFailed.id))?.state).toBe('failed'); // failed ones go when a later one fails
      const failsToo = await q.allocateId();
      failing.add(failsToo);
      await q.add(failsToo, newJob('cust_recent2', { attempts: 1 }), Date.now());
      expect(await until(q, failsToo)).toMatchObject({ state: 'failed' });
      expect(await q.get(oldFailed.id)).toBeNull();
      expect((await q.get(recent.id))?.state).toBe('completed');
    });

    it('ids are numeric and unique when three processes allocate at once', async () => {
      const q = await queue();
      const all = [q, await sibling(q), await sibling(q)];
      const ids = (await Promise.all(all.flatMap((x) => Array.from({ length: 40 }, () => x.allocateId())))).map(String);
      expect(ids.every((id) => /^[1-9]\d*$/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(120);
    });

    it('counts per state for metrics; prune removes the finished jobs before the cut, nothing else', async () => {
      const q = await queue();
      const ok1 = await add(q, 'cust_cnt1');
      const ok2 = await add(q, 'cust_cnt2');
      const bad = await add(q, 'cust_cnt3', { attempts: 1 });
      const later = await add(q, 'cust_cnt4', {}, { delayUntil: Date.now() + 600_000 });
      work(q, async (ctx) => { if (ctx.job.id === bad.id) throw new OperationError('no'); return { outcome: 'deleted' }; });
      for (const id of [ok1.id, ok2.id, bad.id]) await until(q, id);
      expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 1, completed: 2, failed: 1 });
      expect(await q.prune(Date.now() - 3_600_000)).toBe(0);
      expect(await q.prune(Date.now() + 1)).toBe(3);
      expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 1, completed: 0, failed: 0 });
      expect((await q.list()).map((j) => j.id)).toEqual([later.id]);
    });
  });

  describe('BullMQ workers sharing a queue', () => {
    it('two workers, 10 jobs: each job runs exactly once', async () => {
      const q = await queue();
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push((await add(q, `cust_two${i}`)).id);
      const runs = new Map<string, string[]>();
      const proc = (name: string): Processor => async (ctx) => {
        runs.set(ctx.job.id, [...(runs.get(ctx.job.id) ?? []), name]);
        await new Promise((r) => setTimeout(r, 30));
        return { outcome: 'deleted' };
      };
      const q2 = await sibling(q);
      work(q, proc('w1'), { concurrency: 2, name: 'w1' });
      work(q2, proc('w2'), { concurrency: 2, name: 'w2' });
      for (const id of ids) expect((await until(q, id)).state).toBe('completed');
      expect([...runs.keys()].sort()).toEqual([...ids].sort());
      for (const id of ids) expect(runs.get(id)).toHaveLength(1);
      const by = [...runs.values()].flat();
      expect(new Set(by).size).toBe(2); // both took work
    });

    it('kill -9 a worker mid-attempt: the stalled job is recovered and completes on the other', async () => {
      const q = await queue();
      const j = await add(q, 'cust_kill1');
      // a worker in another process that hangs in the attempt
      const child = victim(q, `async (ctx) => { await ctx.progress(25); console.log('STARTED'); await new Promise(() => {}); }`);
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
      await waitFor(async () => out.includes('STARTED'), `the victim worker to start the job (${out})`, 30_000, 50);
      expect((await q.get(j.id))?.state).toBe('active');
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));

      const rescuer = await sibling(q);
      let ran = 0;
      work(rescuer, async (ctx) => { ran += 1; await ctx.progress(100); return { outcome: 'deleted' }; }, { lockMs: 1000, name: 'rescuer' });
      const end = await until(q, j.id, ['completed', 'failed'], 60_000);
      expect(end).toMatchObject({ state: 'completed', progress: 100 });
      expect(ran).toBe(1);
    });

    it('a job that stalls more than maxStalledCount fails, and the failed event settles it', async () => {
      const q = await queue();
      const j = await add(q, 'cust_stall1');
      const child = victim(q, `async () => { console.log('STARTED'); await new Promise(() => {}); }`);
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      await waitFor(async () => out.includes('STARTED'), 'the victim worker to start the job', 30_000, 50);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // maxStalledCount 0 here: the first stall is one too many
      const failed: Job[] = [];
      const rescuer = await sibling(q);
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
});
