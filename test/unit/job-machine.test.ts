// The job state machine (src/domain/job-machine.ts): every transition, and every one it refuses.
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../src/errors.js';
import type { Job, JobState, NewJob } from '../../src/domain/job.js';
import * as m from '../../src/domain/job-machine.js';

const T0 = 1_700_000_000_000;
const LEASE = 30_000;
const W = { owner: 'w1', pid: 100, host: 'h1' };

function nj(over: Partial<NewJob> = {}, attempts = 3): NewJob {
  return {
    name: 'delete',
    data: { customerId: 'cust_abc123', namespace: 'customer-abc123' },
    opts: { attempts, backoff: { type: 'exponential', delay: 60_000 }, timeoutMs: 600_000 },
    requestedBy: 'tester',
    simulated: false,
    ...over,
  };
}

function waiting(attempts = 3): Job {
  return m.newJobRecord('7', nj({}, attempts), T0);
}

function active(attempts = 3): Job {
  const { claimed } = m.claim(waiting(attempts), W, T0, LEASE);
  return claimed!;
}

function inState(state: JobState): Job {
  switch (state) {
    case 'waiting':
      return waiting();
    case 'delayed':
      return m.newJobRecord('7', nj({ delayUntil: T0 + 1000 }), T0);
    case 'active':
      return active();
    case 'completed':
      return m.complete(active(), 'w1', { ok: true }, T0 + 5);
    case 'failed':
      return m.fail(active(), 'w1', { message: 'no', errorName: 'usage', final: true }, T0 + 5);
  }
}

const boom = { message: 'helm exploded', errorName: 'internal' as const, final: false };

describe('add', () => {
  it('creates a waiting job with the options’ attempts (at least 1)', () => {
    const j = m.newJobRecord('7', nj({}, 0), T0);
    expect(j).toMatchObject({ id: '7', state: 'waiting', attemptsMade: 0, maxAttempts: 1, delayUntil: null, timestamp: T0, attempts: [], lease: null, previousStatus: null });
  });

  it('creates a delayed job when delayUntil is in the future, waiting when it has passed', () => {
    expect(m.newJobRecord('7', nj({ delayUntil: T0 + 1 }), T0)).toMatchObject({ state: 'delayed', delayUntil: T0 + 1 });
    expect(m.newJobRecord('7', nj({ delayUntil: T0 }), T0)).toMatchObject({ state: 'waiting', delayUntil: null });
  });
});

describe('dueReason and claim', () => {
  it('a waiting job is due; a delayed one when its time has come', () => {
    expect(m.dueReason(waiting(), T0)).toBe('waiting');
    const delayed = inState('delayed');
    expect(m.dueReason(delayed, T0 + 999)).toBeNull();
    expect(m.dueReason(delayed, T0 + 1000)).toBe('delayed');
  });

  it('claims a due job: active, leased, a running attempt; the argument is not changed', () => {
    const j = waiting();
    const before = structuredClone(j);
    const { job, claimed } = m.claim(j, W, T0 + 10, LEASE);
    expect(j).toEqual(before);
    expect(claimed).toBe(job);
    expect(claimed).toMatchObject({
      state: 'active',
      processedOn: T0 + 10,
      delayUntil: null,
      lease: { owner: 'w1', pid: 100, host: 'h1', expiresAt: T0 + 10 + LEASE },
      attempts: [{ attempt: 1, startedOn: T0 + 10, finishedOn: null, worker: 'w1', outcome: 'running', log: [] }],
    });
  });

  it('refuses a delayed job before its time, a leased active job and finished jobs (nothing changes)', () => {
    for (const [j, at] of [[inState('delayed'), T0], [active(), T0 + 1], [inState('completed'), T0 + 10], [inState('failed'), T0 + 10]] as const) {
      const r = m.claim(j, { ...W, owner: 'w2' }, at, LEASE);
      expect(r.claimed).toBeNull();
      expect(r.job).toBe(j);
    }
  });

  it('takes over an expired lease: the abandoned attempt is interrupted and counted', () => {
    const { claimed } = m.claim(active(), { ...W, owner: 'w2' }, T0 + LEASE, LEASE);
    expect(claimed).toMatchObject({ state: 'active', attemptsMade: 1, lease: { owner: 'w2' } });
    expect(claimed!.attempts.map((a) => [a.attempt, a.outcome, a.worker])).toEqual([[1, 'interrupted', 'w1'], [2, 'running', 'w2']]);
    expect(claimed!.attempts[0]).toMatchObject({ errorName: 'internal', error: expect.stringMatching(/attempt 1 \(w1\) stopped \(lease expired\)/) });
  });

  it('takes over a live lease only when its holder is known to be gone', () => {
    expect(m.dueReason(active(), T0 + 1)).toBeNull();
    expect(m.dueReason(active(), T0 + 1, (l) => l.pid === 100)).toBe('lease-expired');
  });

  it('an abandoned last allowed attempt fails the job instead of starting another', () => {
    const { job, claimed } = m.claim(active(1), { ...W, owner: 'w2' }, T0 + LEASE, LEASE);
    expect(claimed).toBeNull();
    expect(job).toMatchObject({ state: 'failed', attemptsMade: 1, failedCode: 'internal', finishedOn: T0 + LEASE, lease: null });
    expect(job.failedReason).toMatch(/during its last allowed attempt; run `custctl jobs retry 7`/);
    expect(job.stacktrace[0]).toMatch(/stopped \(lease expired\)/);
  });
});

describe('lease and progress', () => {
  it('the holder renews its lease; anyone else gets null', () => {
    expect(m.renewLease(active(), 'w1', T0 + 100, LEASE)?.lease?.expiresAt).toBe(T0 + 100 + LEASE);
    expect(m.renewLease(active(), 'w2', T0 + 100, LEASE)).toBeNull();
    expect(m.renewLease(waiting(), 'w1', T0 + 100, LEASE)).toBeNull();
  });

  it('progress is rounded and clamped; unchanged progress is null; only the holder may set it', () => {
    expect(m.setProgress(active(), 'w1', 41.6)?.progress).toBe(42);
    expect(m.setProgress(active(), 'w1', 250)?.progress).toBe(100);
    expect(m.setProgress(active(), 'w1', -3)).toBeNull();
    expect(() => m.setProgress(active(), 'w2', 50)).toThrow(ConflictError);
    expect(() => m.setProgress(active(), 'w2', 50)).toThrow(/job 7 is no longer run by w2/);
  });
});

describe('complete', () => {
  it('→ completed: attempt counted, progress 100, lease dropped', () => {
    const j = m.complete(active(), 'w1', { ok: true }, T0 + 5);
    expect(j).toMatchObject({ state: 'completed', attemptsMade: 1, progress: 100, returnvalue: { ok: true }, finishedOn: T0 + 5, lease: null });
    expect(j.attempts[0]).toMatchObject({ outcome: 'completed', finishedOn: T0 + 5 });
  });

  it('superseded: the result says so and progress stays', () => {
    const j = m.complete(m.setProgress(active(), 'w1', 30)!, 'w1', 'taken over', T0 + 5, { superseded: true });
    expect(j).toMatchObject({ state: 'completed', progress: 30, returnvalue: { superseded: true, reason: 'taken over' } });
    expect(j.attempts[0]!.outcome).toBe('superseded');
    expect(m.complete(active(), 'w1', { a: 1 }, T0, { superseded: true }).returnvalue).toEqual({ a: 1, superseded: true });
    expect(m.complete(active(), 'w1', undefined, T0, { superseded: true }).returnvalue).toEqual({ superseded: true });
  });

  it.each(['waiting', 'delayed', 'completed', 'failed'] as const)('refuses a %s job', (state) => {
    expect(() => m.complete(inState(state), 'w1', null, T0)).toThrow(/job 7 is no longer run by w1.*/);
  });

  it('refuses a worker whose lease passed to another', () => {
    const taken = m.claim(active(), { ...W, owner: 'w2' }, T0 + LEASE, LEASE).claimed!;
    try {
      m.complete(taken, 'w1', null, T0);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConflictError);
      expect((e as ConflictError).details).toEqual(['its lease passed to w2']);
    }
  });
});

describe('fail', () => {
  it('a retryable failure before the last attempt → delayed by the backoff', () => {
    const j = m.fail(active(), 'w1', { ...boom, stack: 'Error: helm exploded\n at x' }, T0 + 5);
    expect(j).toMatchObject({ state: 'delayed', attemptsMade: 1, delayUntil: T0 + 5 + 60_000, failedReason: 'helm exploded', failedCode: 'internal', lease: null, finishedOn: null });
    expect(j.stacktrace).toEqual(['Error: helm exploded\n at x']);
    expect(j.attempts[0]).toMatchObject({ outcome: 'failed', error: 'helm exploded', errorName: 'internal', finishedOn: T0 + 5 });
  });

  it('the backoff doubles with each failed try', () => {
    let j = waiting(4);
    const delays: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      j = m.claim(j, W, j.delayUntil ?? T0, LEASE).claimed!;
      j = m.fail(j, 'w1', boom, T0);
      delays.push(j.delayUntil! - T0);
    }
    expect(delays).toEqual([60_000, 120_000, 240_000]);
    expect(m.retryAt({ opts: j.opts, attemptsMade: 4 }, 0)).toBe(480_000);
  });

  it('the last allowed attempt → failed', () => {
    const j = m.fail(active(1), 'w1', boom, T0 + 5);
    expect(j).toMatchObject({ state: 'failed', attemptsMade: 1, delayUntil: null, finishedOn: T0 + 5 });
  });

  it('a final failure → failed at once', () => {
    expect(m.fail(active(3), 'w1', { ...boom, final: true }, T0 + 5)).toMatchObject({ state: 'failed', attemptsMade: 1 });
  });

  it('keeps at most 10 stack traces, latest first', () => {
    let j = waiting(20);
    for (let i = 0; i < 12; i += 1) {
      j = m.claim(j, W, j.delayUntil ?? T0, LEASE).claimed!;
      j = m.fail(j, 'w1', { ...boom, message: `try ${i}` }, T0);
    }
    expect(j.stacktrace).toHaveLength(m.STACKTRACE_LIMIT);
    expect(j.stacktrace[0]).toBe('try 11');
  });

  it.each(['waiting', 'delayed', 'completed', 'failed'] as const)('refuses a %s job', (state) => {
    expect(() => m.fail(inState(state), 'w1', boom, T0)).toThrow(ConflictError);
  });

  it('refuses a worker that does not hold the lease', () => {
    expect(() => m.fail(active(), 'w2', boom, T0)).toThrow(/no longer run by w2/);
  });
});

describe('release', () => {
  it('→ waiting; the attempt is interrupted and does not count', () => {
    const j = m.release(active(), 'w1', T0 + 5);
    expect(j).toMatchObject({ state: 'waiting', attemptsMade: 0, lease: null, delayUntil: null });
    expect(j.attempts[0]).toMatchObject({ outcome: 'interrupted', finishedOn: T0 + 5, error: expect.stringMatching(/handed back: the worker w1 shut down/) });
  });

  it.each(['waiting', 'delayed', 'completed', 'failed'] as const)('refuses a %s job', (state) => {
    expect(() => m.release(inState(state), 'w1', T0)).toThrow(ConflictError);
  });

  it('refuses a worker that does not hold the lease', () => {
    expect(() => m.release(active(), 'w2', T0)).toThrow(/no longer run by w2/);
  });
});

describe('cancel', () => {
  it.each(['waiting', 'delayed'] as const)('a %s job → failed, reason cancelled', (state) => {
    const j = m.cancel(inState(state), T0 + 9);
    expect(j).toMatchObject({ state: 'failed', failedReason: 'cancelled', failedCode: null, delayUntil: null, finishedOn: T0 + 9, lease: null });
    expect(m.mayCancel(state)).toBe(true);
  });

  it('refuses a running job, naming the attempt and its worker', () => {
    expect(m.mayCancel('active')).toBe(false);
    try {
      m.cancel(active(), T0);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConflictError);
      expect((e as ConflictError).message).toBe('job 7 is active: only a waiting or delayed job can be cancelled');
      expect((e as ConflictError).details).toEqual(['attempt 1 is running (w1); cancel it between attempts or stop that worker']);
    }
  });

  it.each(['completed', 'failed'] as const)('refuses a %s job', (state) => {
    expect(m.mayCancel(state)).toBe(false);
    expect(() => m.cancel(inState(state), T0)).toThrow(`job 7 is ${state}: only a waiting or delayed job can be cancelled`);
  });
});

describe('retry', () => {
  it('a failed job → waiting with a fresh set of attempts; its history is kept', () => {
    const failed = m.fail(active(1), 'w1', boom, T0 + 5);
    const j = m.retry(failed);
    expect(j).toMatchObject({ state: 'waiting', attemptsMade: 0, maxAttempts: 1, failedReason: null, failedCode: null, finishedOn: null, delayUntil: null, returnvalue: null });
    expect(j.attempts).toHaveLength(1);
    expect(m.retry(m.cancel(waiting(), T0)).state).toBe('waiting');
  });

  it.each(['waiting', 'delayed', 'active', 'completed'] as const)('refuses a %s job', (state) => {
    expect(m.mayRetry(state)).toBe(false);
    expect(() => m.retry(inState(state))).toThrow(`job 7 is ${state}: only a failed job can be retried`);
  });
});
