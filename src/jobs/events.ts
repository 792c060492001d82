/**
 * The job lifecycle, one stream for every backend: the runner (file journal), the BullMQ worker,
 * the submissions and cancel emit here, and whatever must happen when a job moves (the row
 * settlement, the terminal view, worker logs; later metrics, an audit row, a webhook) listens
 * here — in one place, not at each call site.
 *
 * The end of a job is exactly one of `completed`, `failed`, `cancelled`, `superseded`.
 */
import type { ErrorName } from '../errors.js';
import type { Job } from '../domain/job.js';
import type { RunnerEvent } from './runner.js';

export type JobEvent =
  | { type: 'accepted'; job: Job }
  | { type: 'started'; job: Job; attempt: number }
  | { type: 'progress'; jobId: string; attempt: number; progress: number }
  | { type: 'attempt-failed'; job: Job; attempt: number; error: string; errorName: ErrorName; delayUntil: number }
  | { type: 'completed'; job: Job; attempt: number }
  | { type: 'failed'; job: Job; attempt: number; error: string; errorName: ErrorName }
  | { type: 'cancelled'; job: Job }
  | { type: 'superseded'; job: Job; attempt: number };

export type JobEventType = JobEvent['type'];
export type JobEndEvent = Extract<JobEvent, { type: 'completed' | 'failed' | 'cancelled' | 'superseded' }>;
export const END_EVENTS: readonly JobEventType[] = ['completed', 'failed', 'cancelled', 'superseded'];

export function isEnd(e: JobEvent): e is JobEndEvent {
  return END_EVENTS.includes(e.type);
}

export type JobListener = (e: JobEvent) => void | Promise<void>;

/** Listeners are awaited in order; one that throws is reported and does not stop the others. */
export class JobEvents {
  private readonly listeners: JobListener[] = [];

  constructor(private readonly onListenerError: (e: unknown, event: JobEvent) => void = () => undefined) {}

  on(listener: JobListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  async emit(e: JobEvent): Promise<void> {
    for (const l of [...this.listeners]) {
      try {
        await l(e);
      } catch (err) {
        this.onListenerError(err, e);
      }
    }
  }
}

/** The lifecycle event a runner event stands for (log lines, hand-backs and lost leases are not lifecycle events). */
export function lifecycleOf(e: RunnerEvent): JobEvent | null {
  switch (e.type) {
    case 'attempt-started':
      return { type: 'started', job: e.job, attempt: e.attempt };
    case 'progress':
      return { type: 'progress', jobId: e.jobId, attempt: e.attempt, progress: e.progress };
    case 'attempt-failed':
      return { type: 'attempt-failed', job: e.job, attempt: e.attempt, error: e.error, errorName: e.errorName, delayUntil: e.delayUntil };
    case 'completed':
      return e.superseded ? { type: 'superseded', job: e.job, attempt: e.attempt } : { type: 'completed', job: e.job, attempt: e.attempt };
    case 'failed':
      return { type: 'failed', job: e.job, attempt: e.attempt, error: e.error, errorName: e.errorName };
    default:
      return null;
  }
}
