/**
 * The runner for the BullMQ queue: BullMQ's Worker claims, locks and records; each attempt is the
 * same `executeAttempt` the file journal's runner uses (context, timeout, grace, classification),
 * and it emits the same runner events. A job that fails for good settles through the `failed`
 * event.
 */
import { UnrecoverableError } from 'bullmq';
import { LOCK_MS, MAX_STALLED_COUNT, mapState, type BullQueue } from '../adapters/bullmq-queue.js';
import type { Processor } from '../adapters/queue.js';
import { isSupersededResult, type Job } from '../domain/job.js';
import { executeAttempt, type RunnerEvent, type WorkerSummary } from './runner.js';

export interface BullWorkerOptions {
  queue: BullQueue;
  processor: Processor;
  concurrency: number;
  /** stop taking jobs; running attempts are finished (BullMQ's close waits for them) */
  signal: AbortSignal;
  /** a name in the logs, `pid@host` */
  worker: string;
  onEvent?: (e: RunnerEvent) => unknown;
  /** a job failed for good (last attempt, a final error, or stalled too often) */
  onFailed?: (job: Job) => Promise<void>;
  lockMs?: number;
  maxStalledCount?: number;
  stalledIntervalMs?: number;
}

/**
 * Works the BullMQ queue with BullMQ's Worker and our processor until `signal` aborts.
 * Usage/not-found/conflict and permanent errors are final (UnrecoverableError: BullMQ makes no
 * further attempt); the error name is kept on the
 * job (exit codes for `status job`).
 */
export async function runBullWorker(o: BullWorkerOptions): Promise<WorkerSummary> {
  const summary: WorkerSummary = { attempts: 0, completed: 0, failed: 0, delayed: 0, released: 0 };
  const emit = async (e: RunnerEvent) => {
    await o.onEvent?.(e);
  };
  const q = o.queue;
  const worker = q.backend.createWorker(
    async (b, _token, bullSignal) => {
      const job = await q.toJob(b, 'active');
      const attempt = (b.attemptsMade ?? 0) + 1;
      summary.attempts += 1;
      const cancelled = new AbortController();
      const onBullAbort = () => cancelled.abort(new Error(`attempt ${attempt} of job ${job.id} was cancelled by BullMQ`));
      bullSignal?.addEventListener('abort', onBullAbort, { once: true });
      try {
        const end = await executeAttempt(
          job,
          attempt,
          o.processor,
          { progress: (n) => b.updateProgress(n), log: async (line) => void (await b.log(line)) },
          { now: () => Date.now(), timeoutMs: job.opts.timeoutMs || 600_000, abortWhen: [{ signal: cancelled.signal, cause: 'error' }], onEvent: emit },
        );
        if (end.kind === 'ok') return end.value;
        const failure = end.kind === 'error' ? end.failure : { message: String(end.error), errorName: 'internal' as const, final: false };
        await b.updateData({ ...b.data, meta: { ...b.data.meta, failedCode: failure.errorName } }).catch(() => undefined);
        throw failure.final ? new UnrecoverableError(failure.message) : new Error(failure.message);
      } finally {
        bullSignal?.removeEventListener('abort', onBullAbort);
      }
    },
    {
      concurrency: o.concurrency,
      lockDuration: o.lockMs ?? LOCK_MS,
      maxStalledCount: o.maxStalledCount ?? MAX_STALLED_COUNT,
      stalledInterval: o.stalledIntervalMs ?? o.lockMs ?? LOCK_MS,
      autorun: false,
      name: o.worker,
    },
  );
  worker.on('error', () => undefined); // connection trouble: ioredis reconnects
  worker.on('completed', (b, rv) => {
    summary.completed += 1;
    void (async () => {
      const job = await q.toJob(b, 'completed');
      await emit({ type: 'completed', job, attempt: b.attemptsMade, superseded: isSupersededResult(rv) });
    })().catch(() => undefined);
  });
  worker.on('failed', (b, err) => {
    if (!b) return;
    void (async () => {
      const state = mapState(await b.getState()) ?? 'failed';
      const job = await q.toJob(b, state);
      if (state === 'failed') {
        summary.failed += 1;
        await emit({ type: 'failed', job, attempt: b.attemptsMade, error: err.message, errorName: job.failedCode ?? 'internal' });
        await o.onFailed?.(job);
      } else {
        summary.delayed += 1;
        await emit({ type: 'attempt-failed', job, attempt: b.attemptsMade, error: err.message, errorName: b.data.meta?.failedCode ?? 'internal', delayUntil: job.delayUntil ?? Date.now() });
      }
    })().catch(() => undefined);
  });
  const stopped = new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    else o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const running = worker.run();
  await stopped;
  await worker.close();
  await running.catch(() => undefined);
  return summary;
}
