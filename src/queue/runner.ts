/**
 * Runs attempts of queued jobs: leases, per-attempt timeouts, backoff waits, clean shutdown.
 * Generic over `JobQueue` and `Processor`: it knows nothing of customers or Kubernetes.
 *
 * Conventions for processors:
 * - honour `ctx.signal` (aborted on the attempt timeout, on shutdown and when the lease is lost);
 *   a processor still running `abortGraceMs` after the abort is abandoned and the attempt recorded;
 * - return `{ superseded: true, … }` when the job no longer owns its subject: the attempt ends
 *   `superseded`, the job `completed` with that returnvalue and its progress unchanged;
 * - throw typed errors (src/errors.ts); by default usage/not-found/conflict (exit 2/3/4) and
 *   permanent errors (`CliError.permanent`) are final, everything else is retried with backoff.
 */
import { CliError, ConflictError, NotFoundError, OperationError, errorMessage, errorNameFor, isPermanent } from '../errors.js';
import type { ErrorName } from '../errors.js';
import { formatDuration } from '../domain/duration.js';
import { isFinished } from './job.js';
import type { Job } from './job.js';
import type { AttemptContext, JobQueue, Processor } from './queue.js';

export type RunnerEvent =
  | { type: 'attempt-started'; job: Job; attempt: number }
  | { type: 'progress'; jobId: string; attempt: number; progress: number }
  | { type: 'log'; jobId: string; attempt: number; line: string }
  | { type: 'attempt-failed'; job: Job; attempt: number; error: string; errorName: ErrorName; delayUntil: number }
  | { type: 'completed'; job: Job; attempt: number; superseded: boolean }
  | { type: 'failed'; job: Job; attempt: number; error: string; errorName: ErrorName }
  | { type: 'released'; job: Job; attempt: number }
  /** another worker took the job over (our lease was not renewed in time); nothing was recorded */
  | { type: 'lease-lost'; jobId: string; attempt: number };

export interface RunAttemptOptions {
  worker: string;
  leaseMs: number;
  now: () => number;
  /** shutdown: the attempt is aborted and handed back (`release`) */
  signal?: AbortSignal;
  onEvent?: (e: RunnerEvent) => void;
  classify?: (err: unknown) => { final: boolean };
  /** how long an aborted processor may take to settle before the attempt is recorded anyway (default 30 s) */
  abortGraceMs?: number;
}

export interface RunAttachedOptions extends RunAttemptOptions {
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** the job waits for its next try until `untilMs` (a countdown) */
  onWait?: (untilMs: number) => void;
  /** how often to look again while another worker runs the job (default 1 s) */
  pollMs?: number;
}

export interface RunWorkerOptions {
  worker: string;
  concurrency: number;
  /** stop when nothing is due (jobs delayed into the future are not waited for) */
  once: boolean;
  pollMs: number;
  leaseMs: number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** stop: no new claims, running attempts are aborted and handed back */
  signal?: AbortSignal;
  onEvent?: (e: RunnerEvent) => void;
  classify?: (err: unknown) => { final: boolean };
  abortGraceMs?: number;
}

export interface WorkerSummary {
  attempts: number;
  completed: number;
  failed: number;
  delayed: number;
  released: number;
}

/** Usage, not-found and conflict errors, and permanent ones (helm missing, 403…), will not get better by retrying. */
export function defaultClassify(err: unknown): { final: boolean } {
  return { final: isPermanent(err) || (err instanceof CliError && (err.exitCode === 2 || err.exitCode === 3 || err.exitCode === 4)) };
}

export function isSupersededResult(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { superseded?: unknown }).superseded === true;
}

/** The message stored for a failure: the error's message and its detail lines. */
export function failureMessage(err: unknown): string {
  const details = err instanceof CliError ? err.details : [];
  return [errorMessage(err), ...details].join('\n');
}

/**
 * Runs one attempt of a job this worker has just claimed and records its outcome. Never throws for
 * a processor failure (only for a journal that cannot be written). Returns the job as stored.
 */
export async function runAttempt(queue: JobQueue, job: Job, processor: Processor, opts: RunAttemptOptions): Promise<Job> {
  const attempt = job.attemptsMade + 1;
  const emit = opts.onEvent ?? (() => undefined);
  const controller = new AbortController();
  let cause: 'timeout' | 'shutdown' | 'lease-lost' | null = null;
  const abort = (why: NonNullable<typeof cause>, reason: Error) => {
    if (cause !== null) return;
    cause = why;
    controller.abort(reason);
  };

  const timeoutError = new OperationError(
    `attempt ${attempt} timed out after ${formatDuration(job.opts.timeoutMs)} (CUSTCTL_JOB_TIMEOUT / --job-timeout)`,
  );
  const timer = setTimeout(() => abort('timeout', timeoutError), job.opts.timeoutMs);
  const onShutdown = () => abort('shutdown', new OperationError(`attempt ${attempt} of job ${job.id} stopped: the worker is shutting down`));
  if (opts.signal?.aborted) onShutdown();
  opts.signal?.addEventListener('abort', onShutdown, { once: true });

  let renewing: Promise<unknown> = Promise.resolve();
  const renewal = setInterval(() => {
    renewing = queue.renewLease(job.id, opts.worker, opts.now(), opts.leaseMs).then(
      (ours) => {
        if (!ours) abort('lease-lost', new ConflictError(`job ${job.id} was taken over by another worker (lease lost)`));
      },
      () => undefined, // a failed renewal is retried at the next tick; the lease still has 2/3 to run
    );
  }, Math.max(1, Math.floor(opts.leaseMs / 3)));

  const ctx: AttemptContext = {
    job,
    attempt,
    signal: controller.signal,
    progress: async (n) => {
      await queue.update(job.id, opts.worker, { progress: n });
      emit({ type: 'progress', jobId: job.id, attempt, progress: n });
    },
    log: async (line) => {
      const stamped = `${new Date(opts.now()).toISOString()} ${line}`;
      await queue.update(job.id, opts.worker, { logLines: [stamped] });
      emit({ type: 'log', jobId: job.id, attempt, line: stamped });
    },
  };

  emit({ type: 'attempt-started', job, attempt });
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    outcome = await settleWithGrace(processor(ctx), controller.signal, opts.abortGraceMs ?? 30_000);
  } finally {
    clearTimeout(timer);
    clearInterval(renewal);
    opts.signal?.removeEventListener('abort', onShutdown);
  }
  await renewing;

  const stillStored = async () => (await queue.get(job.id)) ?? job;
  try {
    if (cause === 'lease-lost') {
      emit({ type: 'lease-lost', jobId: job.id, attempt });
      return await stillStored();
    }
    if (outcome.ok) {
      const superseded = isSupersededResult(outcome.value);
      const done = await queue.complete(job.id, opts.worker, outcome.value, opts.now(), { superseded });
      emit({ type: 'completed', job: done, attempt, superseded });
      return done;
    }
    if (cause === 'shutdown') {
      const released = await queue.release(job.id, opts.worker, opts.now());
      emit({ type: 'released', job: released, attempt });
      return released;
    }
    const err = cause === 'timeout' ? timeoutError : outcome.error;
    const message = failureMessage(err);
    const errorName = errorNameFor(err);
    const stack = err instanceof CliError || !(err instanceof Error) ? undefined : err.stack;
    const final = (opts.classify ?? defaultClassify)(err).final;
    const after = await queue.fail(job.id, opts.worker, { message, errorName, final, ...(stack ? { stack } : {}) }, opts.now());
    if (after.state === 'delayed') {
      emit({ type: 'attempt-failed', job: after, attempt, error: message, errorName, delayUntil: after.delayUntil ?? opts.now() });
    } else {
      emit({ type: 'failed', job: after, attempt, error: message, errorName });
    }
    return after;
  } catch (e) {
    // the job stopped being ours between the processor's end and the record (lease expired and taken)
    if (e instanceof ConflictError) {
      emit({ type: 'lease-lost', jobId: job.id, attempt });
      return await stillStored();
    }
    throw e;
  }
}

/**
 * Runs job `id` in this process until it is completed or failed, waiting through backoff delays.
 * Aborting `opts.signal` during an attempt hands the attempt back; during a wait it leaves the job
 * delayed (resumable by `jobs resume` / `worker`). Returns the job as stored at the end.
 */
export async function runJobAttached(queue: JobQueue, id: string, processor: Processor, opts: RunAttachedOptions): Promise<Job> {
  const pollMs = opts.pollMs ?? 1_000;
  for (;;) {
    const job = await queue.get(id);
    if (job === null) throw new NotFoundError(`job ${id} not found`, ['list the jobs with `custctl jobs list`']);
    if (isFinished(job) || opts.signal?.aborted) return job;

    const claimed = await queue.claim(id, opts.worker, opts.now(), opts.leaseMs);
    if (claimed) {
      const after = await runAttempt(queue, claimed, processor, opts);
      if (after.state === 'waiting' && opts.signal?.aborted) return after; // handed back on shutdown
      continue;
    }

    // not due: delayed until later, or another worker holds it
    const current = (await queue.get(id)) ?? job;
    if (isFinished(current)) return current;
    const now = opts.now();
    let waitMs = pollMs;
    if (current.state === 'delayed' && current.delayUntil !== null && current.delayUntil > now) {
      opts.onWait?.(current.delayUntil);
      waitMs = current.delayUntil - now;
    } else if (current.state === 'active' && current.lease !== null) {
      waitMs = Math.max(1, Math.min(pollMs, current.lease.expiresAt - now));
    }
    try {
      await opts.sleep(waitMs, opts.signal);
    } catch (e) {
      if (opts.signal?.aborted) return (await queue.get(id)) ?? current;
      throw e;
    }
    if (opts.signal?.aborted) return (await queue.get(id)) ?? current;
  }
}

/**
 * Claims due jobs (oldest first) and runs up to `concurrency` attempts at once. `once`: returns when
 * nothing is due and nothing runs (jobs delayed into the future are left for a later run).
 * Otherwise polls every `pollMs` until `signal` aborts; then claims nothing more, the running
 * attempts get the abort and are handed back, and it resolves when they all have ended.
 */
export async function runWorker(queue: JobQueue, processor: Processor, opts: RunWorkerOptions): Promise<WorkerSummary> {
  const summary: WorkerSummary = { attempts: 0, completed: 0, failed: 0, delayed: 0, released: 0 };
  const stop = new AbortController();
  const onStop = () => stop.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onStop();
  opts.signal?.addEventListener('abort', onStop, { once: true });
  const running = new Set<Promise<void>>();
  const concurrency = Math.max(1, opts.concurrency);
  const attemptOpts: RunAttemptOptions = {
    worker: opts.worker,
    leaseMs: opts.leaseMs,
    now: opts.now,
    signal: stop.signal,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.classify ? { classify: opts.classify } : {}),
    ...(opts.abortGraceMs !== undefined ? { abortGraceMs: opts.abortGraceMs } : {}),
  };
  let failure: unknown = null;

  const start = (job: Job) => {
    summary.attempts += 1;
    const p: Promise<void> = runAttempt(queue, job, processor, attemptOpts).then(
      (after) => {
        if (after.state === 'completed') summary.completed += 1;
        else if (after.state === 'failed') summary.failed += 1;
        else if (after.state === 'delayed') summary.delayed += 1;
        else if (after.state === 'waiting') summary.released += 1;
      },
      (e: unknown) => {
        failure ??= e;
        stop.abort(e);
      },
    ).finally(() => running.delete(p));
    running.add(p);
  };

  try {
    while (!stop.signal.aborted) {
      while (running.size < concurrency && !stop.signal.aborted) {
        const job = await queue.claimNext(opts.worker, opts.now(), opts.leaseMs);
        if (!job) break;
        start(job);
      }
      if (stop.signal.aborted) break;
      if (running.size >= concurrency) {
        await Promise.race(running); // a slot frees up
        continue;
      }
      // a free slot and nothing due right now
      if (opts.once) {
        if (running.size === 0) break; // nothing due, nothing running: done
        await Promise.race(running); // an ending attempt may make something due: look again
        continue;
      }
      await opts.sleep(opts.pollMs, stop.signal).catch(() => undefined);
    }
  } catch (e) {
    failure ??= e;
    stop.abort(e);
  } finally {
    await Promise.allSettled([...running]);
    opts.signal?.removeEventListener('abort', onStop);
  }
  if (failure !== null) throw failure;
  return summary;
}

/**
 * Waits for the processor; once `signal` aborts, waits at most `graceMs` more and then gives up on
 * it (a processor that ignores its signal must not hold the worker forever).
 */
async function settleWithGrace(
  work: Promise<unknown>,
  signal: AbortSignal,
  graceMs: number,
): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  const settled = work.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  let graceTimer: NodeJS.Timeout | undefined;
  const abandoned = new Promise<{ ok: false; error: unknown }>((resolve) => {
    const onAbort = () => {
      graceTimer = setTimeout(() => resolve({ ok: false, error: signal.reason }), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([settled, abandoned]);
  } finally {
    clearTimeout(graceTimer);
  }
}
