/**
 * Wiring of the job lifecycle (src/jobs/events.ts): every jobs environment has one event stream
 * whose first listener is the job kind's settlement (the row of a job that failed for good, or
 * was cancelled). The runners of every backend feed it through `runnerEvents`. A metric, an
 * audit row or a webhook on job end is one more listener: `env.events.on(...)`.
 */
import { errorMessage } from '../errors.js';
import type { RunnerEvent } from './runner.js';
import { isEnd, JobEvents, lifecycleOf } from './events.js';
import type { JobsEnv } from './jobs-env.js';
import { settle } from './kinds/index.js';

/** A stream whose first listener settles ended jobs; `report` hears of a listener that failed. */
export function settlingEvents(env: Pick<JobsEnv, 'store'>, report: (message: string, fields: Record<string, unknown>) => void = () => undefined): JobEvents {
  const events = new JobEvents((err, e) => report(`could not handle the ${e.type} event of job ${'job' in e ? e.job.id : e.jobId}`, { error: errorMessage(err) }));
  events.on(async (e) => {
    if (!isEnd(e)) return;
    try {
      await settle(env, e.job);
    } catch (err) {
      report(`could not mark the row of job ${e.job.id}`, { error: errorMessage(err) });
    }
  });
  return events;
}

const fallback = new WeakMap<object, JobEvents>();

/** The environment's stream (an environment built without one gets a settling stream of its own). */
export function eventsOf(env: Pick<JobsEnv, 'store' | 'events'>): JobEvents {
  if (env.events) return env.events;
  let e = fallback.get(env);
  if (!e) fallback.set(env, (e = settlingEvents(env)));
  return e;
}

/** The runner's events into the lifecycle stream; `also` sees every runner event first (a view, worker logs). */
export function runnerEvents(env: Pick<JobsEnv, 'store' | 'events'>, also?: (e: RunnerEvent) => void): (e: RunnerEvent) => Promise<void> {
  const events = eventsOf(env);
  return async (e) => {
    also?.(e);
    const l = lifecycleOf(e);
    if (l) await events.emit(l);
  };
}
