import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, OperationError, UsageError, WaitTimeoutError } from '../../src/errors.js';
import { openFileJournal } from '../../src/adapters/file-journal.js';
import type { FileJournal } from '../../src/adapters/file-journal.js';
import type { NewJob } from '../../src/domain/job.js';
import type { AttemptContext, Processor } from '../../src/adapters/queue.js';
import { defaultClassify, runAttempt, runJobAttached, runWorker } from '../../src/jobs/runner.js';
import type { RunnerEvent } from '../../src/jobs/runner.js';

const T0 = 1_700_000_000_000;
const W = 'w1';
const LEASE = 30_000;

let dir: string;
let q: FileJournal;
let t: number;
const now = () => t;
/** a fake sleep: advances the clock at once; abortable */
const sleep = async (ms: number, signal?: AbortSignal) => {
  if (signal?.aborted) throw signal.reason;
  t += ms;
  await new Promise((r) => setImmediate(r));
};

function newJob(over: Partial<NewJob['opts']> = {}): NewJob {
  return {
    name: 'delete',
    data: { customerId: 'cust_abc123' },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000, ...over },
    requestedBy: 'tester',
    simulated: false,
  };
}

async function addJob(over: Partial<NewJob['opts']> = {}): Promise<string> {
  const id = await q.allocateId();
  await q.add(id, newJob(over), t);
  return id;
}

/** resolves when the signal aborts, rejecting with its reason (what a well-behaved step does) */
function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'custctl-runner-')), 'journal');
  q = await openFileJournal({ dir, worker: W });
  t = T0;
});
afterEach(async () => {
  await q.close();
  await rm(dirname(dir), { recursive: true, force: true });
});

describe('runAttempt', () => {
  it('passes progress and log through and completes', async () => {
    const id = await addJob();
    const events: RunnerEvent[] = [];
    const processor: Processor = async (ctx) => {
      expect(ctx.attempt).toBe(1);
      await ctx.progress(25);
      await ctx.log('helm uninstall customer-abc123');
      t += 1000;
      await ctx.progress(70);
      return { steps: 4 };
    };
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, processor, { worker: W, leaseMs: LEASE, now, onEvent: (e) => events.push(e) });
    expect(job).toMatchObject({ state: 'completed', progress: 100, returnvalue: { steps: 4 }, finishedOn: T0 + 1000 });
    expect(job.attempts[0]!.log).toEqual([`${new Date(T0).toISOString()} helm uninstall customer-abc123`]);
    expect(events.map((e) => e.type)).toEqual(['attempt-started', 'progress', 'log', 'progress', 'completed']);
  });

  it('records a retryable failure as delayed by the backoff', async () => {
    const id = await addJob();
    const events: RunnerEvent[] = [];
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async () => {
      throw new OperationError('the API server answered 503', ['try again later']);
    }, { worker: W, leaseMs: LEASE, now, onEvent: (e) => events.push(e) });
    expect(job).toMatchObject({ state: 'delayed', delayUntil: T0 + 60_000, attemptsMade: 1, failedReason: 'the API server answered 503\ntry again later', failedCode: 'internal' });
    expect(job.stacktrace[0]).toBe('the API server answered 503\ntry again later'); // no stack for expected failures
    expect(events.at(-1)).toMatchObject({ type: 'attempt-failed', attempt: 1, delayUntil: T0 + 60_000 });
  });

  it('keeps the stack of an unexpected error', async () => {
    const id = await addJob();
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async () => {
      throw new TypeError('x is undefined');
    }, { worker: W, leaseMs: LEASE, now });
    expect(job.stacktrace[0]).toMatch(/^TypeError: x is undefined\n\s+at /);
  });

  it.each([
    ['usage', new UsageError('bad'), true],
    ['not found', new NotFoundError('gone'), true],
    ['conflict', new ConflictError('taken'), true],
    ['operation', new OperationError('boom'), false],
    ['wait timeout', new WaitTimeoutError('namespace still terminating'), false],
    ['plain error', new Error('boom'), false],
  ])('default classification: %s final=%s', async (_name, err, final) => {
    expect(defaultClassify(err).final).toBe(final);
    const id = await addJob();
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async () => {
      throw err;
    }, { worker: W, leaseMs: LEASE, now });
    expect(job.state).toBe(final ? 'failed' : 'delayed');
  });

  it('a WaitTimeoutError on the last try fails the job with failedCode timeout', async () => {
    const id = await addJob({ attempts: 1 });
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async () => {
      throw new WaitTimeoutError('namespace customer-abc123 is still terminating after 5m');
    }, { worker: W, leaseMs: LEASE, now });
    expect(job).toMatchObject({ state: 'failed', failedCode: 'timeout' });
  });

  it('the attempt timeout aborts the processor signal and records the failure', async () => {
    const id = await addJob({ timeoutMs: 20 });
    let seen: AbortSignal | undefined;
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async (ctx) => {
      seen = ctx.signal;
      await untilAborted(ctx.signal);
    }, { worker: W, leaseMs: LEASE, now });
    expect(seen!.aborted).toBe(true);
    expect(job).toMatchObject({ state: 'delayed', failedCode: 'internal', failedReason: 'attempt 1 timed out after 20ms (CUSTCTL_JOB_TIMEOUT / --job-timeout)' });
    expect(job.attempts[0]).toMatchObject({ outcome: 'failed', errorName: 'internal' });
  });

  it('names the timeout even when the step reports the abort its own way', async () => {
    const id = await addJob({ timeoutMs: 600_000 });
    const claimed = (await q.claim(id, W, t, LEASE))!;
    // same code path with a long timeout is untestable without waiting; use a short one and a step that throws AbortError
    const short = { ...claimed, opts: { ...claimed.opts, timeoutMs: 10 } };
    const job = await runAttempt(q, short, async (ctx) => {
      await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new DOMException('This operation was aborted', 'AbortError'))));
    }, { worker: W, leaseMs: LEASE, now });
    expect(job.failedReason).toBe('attempt 1 timed out after 10ms (CUSTCTL_JOB_TIMEOUT / --job-timeout)');
  });

  it('a processor that ignores its signal is abandoned after the grace period', async () => {
    const id = await addJob({ timeoutMs: 10 });
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, () => new Promise(() => undefined), {
      worker: W, leaseMs: LEASE, now, abortGraceMs: 10,
    });
    expect(job.state).toBe('delayed');
    expect(job.failedReason).toMatch(/timed out after 10ms/);
  });

  it('shutdown hands the attempt back (not counted)', async () => {
    const id = await addJob();
    const stop = new AbortController();
    const events: RunnerEvent[] = [];
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async (ctx) => {
      setTimeout(() => stop.abort(), 5);
      await untilAborted(ctx.signal);
    }, { worker: W, leaseMs: LEASE, now, signal: stop.signal, onEvent: (e) => events.push(e) });
    expect(job).toMatchObject({ state: 'waiting', attemptsMade: 0, lease: null });
    expect(job.attempts[0]!.outcome).toBe('interrupted');
    expect(events.at(-1)!.type).toBe('released');
  });

  it('a superseded result completes without touching progress', async () => {
    const id = await addJob();
    const job = await runAttempt(q, (await q.claim(id, W, t, LEASE))!, async () => ({ superseded: true, reason: 'redeployed' }), {
      worker: W, leaseMs: LEASE, now,
    });
    expect(job).toMatchObject({ state: 'completed', progress: 0, returnvalue: { superseded: true, reason: 'redeployed' } });
    expect(job.attempts[0]!.outcome).toBe('superseded');
  });

  it('renews the lease while the attempt runs', async () => {
    const id = await addJob();
    const realNow = () => Date.now();
    const other = await openFileJournal({ dir, worker: 'w2' });
    let stolen: unknown = 'not tried';
    const job = await runAttempt(q, (await q.claim(id, W, realNow(), 400))!, async () => {
      await new Promise((r) => setTimeout(r, 1_000)); // well past the first lease of 400 ms
      stolen = await other.claim(id, 'w2', realNow(), 400);
    }, { worker: W, leaseMs: 400, now: realNow });
    expect(stolen).toBeNull();
    expect(job.state).toBe('completed');
  });

  it('stops and records nothing when another worker took the job over', async () => {
    const id = await addJob();
    const other = await openFileJournal({ dir, worker: 'w2' });
    const events: RunnerEvent[] = [];
    const job = await runAttempt(q, (await q.claim(id, W, t, 1_000))!, async (ctx: AttemptContext) => {
      await other.claim(id, 'w2', t + 1_000, LEASE); // our lease expired (we were frozen)
      await expect(ctx.log('late line')).rejects.toBeInstanceOf(ConflictError);
      return 'done';
    }, { worker: W, leaseMs: 1_000, now, onEvent: (e) => events.push(e) });
    expect(job).toMatchObject({ state: 'active', lease: { owner: 'w2' } });
    expect(events.at(-1)!.type).toBe('lease-lost');
  });
});

describe('runJobAttached', () => {
  it('waits through the backoff and finishes on the third try', async () => {
    const id = await addJob();
    const waits: number[] = [];
    let tries = 0;
    const job = await runJobAttached(q, id, async (ctx) => {
      tries += 1;
      await ctx.log(`try ${ctx.attempt}`);
      if (tries < 3) throw new WaitTimeoutError('namespace customer-abc123 is still terminating');
      return { ok: true };
    }, { worker: W, leaseMs: LEASE, now, sleep, onWait: (until) => waits.push(until - t) });
    expect(waits).toEqual([60_000, 120_000]);
    expect(job.state).toBe('completed');
    expect(job.attempts.map((a) => [a.attempt, a.outcome, a.log.length])).toEqual([[1, 'failed', 1], [2, 'failed', 1], [3, 'completed', 1]]);
    expect(job.finishedOn).toBe(T0 + 180_000);
  });

  it('fails after the last try with the last error', async () => {
    const id = await addJob({ attempts: 2 });
    const job = await runJobAttached(q, id, async () => {
      throw new WaitTimeoutError('namespace customer-abc123 is still terminating');
    }, { worker: W, leaseMs: LEASE, now, sleep });
    expect(job).toMatchObject({ state: 'failed', attemptsMade: 2, failedCode: 'timeout' });
  });

  it('Ctrl-C during the wait leaves the job delayed and resumable', async () => {
    const id = await addJob();
    const stop = new AbortController();
    const job = await runJobAttached(q, id, async () => {
      throw new OperationError('flaky');
    }, { worker: W, leaseMs: LEASE, now, sleep, onWait: () => stop.abort(), signal: stop.signal });
    expect(job).toMatchObject({ state: 'delayed', attemptsMade: 1, delayUntil: T0 + 60_000 });
  });

  it('unknown job: NotFoundError', async () => {
    await expect(runJobAttached(q, '77', async () => null, { worker: W, leaseMs: LEASE, now, sleep })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('follows a job another worker runs until it ends', async () => {
    const id = await addJob();
    const other = await openFileJournal({ dir, worker: 'w2' });
    await other.claim(id, 'w2', t, LEASE);
    let polls = 0;
    const job = await runJobAttached(q, id, async () => 'should not run', {
      worker: W, leaseMs: LEASE, now, pollMs: 500,
      sleep: async (ms) => {
        t += ms;
        if (++polls === 3) await other.complete(id, 'w2', 'by w2', t);
      },
    });
    expect(job).toMatchObject({ state: 'completed', returnvalue: 'by w2' });
  });
});

describe('runWorker', () => {
  it('once: runs every due job with bounded concurrency and leaves future ones', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await addJob());
    const future = await addJob();
    await q.claim(future, W, t, LEASE);
    await q.fail(future, W, { message: 'x', errorName: 'internal', final: false }, t); // due in 60 s
    let active = 0;
    let peak = 0;
    const ran: string[] = [];
    const summary = await runWorker(q, async (ctx) => {
      active += 1;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 60)); // long enough for the next claim to start
      ran.push(ctx.job.id);
      active -= 1;
    }, { worker: W, concurrency: 2, once: true, pollMs: 1000, leaseMs: LEASE, now, sleep });
    expect(ran.sort()).toEqual(ids.sort());
    expect(peak).toBe(2);
    expect(summary).toEqual({ attempts: 6, completed: 6, failed: 0, delayed: 0, released: 0 });
    expect((await q.get(future))!.state).toBe('delayed');
  });

  it('stop: claims nothing more, hands running attempts back, then resolves', async () => {
    const a = await addJob();
    const b = await addJob();
    const c = await addJob();
    const stop = new AbortController();
    let started = 0;
    const summary = await runWorker(q, async (ctx) => {
      if (++started === 2) setTimeout(() => stop.abort(), 5);
      await untilAborted(ctx.signal);
    }, { worker: W, concurrency: 2, once: false, pollMs: 1000, leaseMs: LEASE, now, sleep, signal: stop.signal });
    expect(summary).toMatchObject({ attempts: 2, released: 2 });
    const states = await Promise.all([a, b, c].map(async (id) => (await q.get(id))!.state));
    expect(states).toEqual(['waiting', 'waiting', 'waiting']);
  });

  it('polls for new jobs until stopped', async () => {
    const stop = new AbortController();
    let polls = 0;
    const ran: string[] = [];
    await runWorker(q, async (ctx) => {
      ran.push(ctx.job.id);
    }, {
      worker: W, concurrency: 1, once: false, pollMs: 1000, leaseMs: LEASE, now, signal: stop.signal,
      sleep: async (ms, signal) => {
        if (signal?.aborted) throw signal.reason;
        t += ms;
        polls += 1;
        if (polls === 2) await addJob();
        if (polls === 4) stop.abort();
      },
    });
    expect(ran).toEqual(['1']);
  });

  it('two workers on one journal run every job once', async () => {
    for (let i = 0; i < 12; i++) await addJob();
    const other = await openFileJournal({ dir, worker: 'w2' });
    const ran: string[] = [];
    const processor: Processor = async (ctx) => {
      ran.push(ctx.job.id);
      await new Promise((r) => setTimeout(r, 2));
    };
    const opts = { concurrency: 3, once: true, pollMs: 1000, leaseMs: LEASE, now, sleep };
    await Promise.all([runWorker(q, processor, { ...opts, worker: W }), runWorker(other, processor, { ...opts, worker: 'w2' })]);
    expect(ran.length).toBe(12);
    expect(new Set(ran).size).toBe(12);
  });
});
