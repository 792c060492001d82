/**
 * The metrics of this process, as the jobs layer sees them: a listener on the job lifecycle
 * (src/jobs/events.ts), the pipeline's step timings, the cleanup-rbac scans, and the queue whose
 * depth is read at every scrape. The Prometheus side (prom-client) is src/jobs/metrics-prom.ts,
 * loaded only by the commands that expose or write metrics (`serve`, `worker --metrics-port`,
 * `--metrics-textfile`): nothing here imports it.
 *
 * No label holds a customer id, a namespace or a job id: label values are a fixed set (status,
 * step name, job kind, outcome, state, RBAC kind), so the series count stays bounded.
 */
import type { JobQueue } from '../adapters/queue.js';
import type { RbacKind } from '../domain/rbac-owner.js';
import type { StepTiming } from '../pipeline/step.js';
import type { JobEvents, JobListener } from './events.js';

export type { StepTiming };

export interface Metrics {
  /** registered on the jobs environment's event stream (src/jobs/env.ts) */
  readonly onJobEvent: JobListener;
  /** one pipeline step ran (done or failed) */
  stepTimed(t: StepTiming): void;
  /** a cleanup-rbac scan (dry run, plan or sweep) found these orphans, and these are still there */
  orphansScanned(remaining: ReadonlyArray<{ kind: RbacKind }>): void;
  /** the queue whose depth `custctl_jobs{state}` reports, read at every scrape */
  watchQueue(queue: JobQueue): void;
  /** the Prometheus text exposition format */
  readonly contentType: string;
  text(): Promise<string>;
  /** node_exporter's textfile collector: the series written atomically (temporary file + rename) */
  writeTextfile(path: string): Promise<void>;
}

/**
 * The environment with `metrics` listening on its event stream and reading its queue's depth
 * (the one registration in src/jobs/env.ts); unchanged when the command keeps no metrics.
 */
export function withMetrics<E extends { queue: JobQueue; events?: JobEvents; metrics?: Metrics }>(metrics: Metrics | null, env: E): E {
  if (!metrics) return env;
  env.events?.on(metrics.onJobEvent);
  metrics.watchQueue(env.queue);
  return { ...env, metrics };
}
