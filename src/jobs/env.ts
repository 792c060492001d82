/**
 * What running and accepting jobs needs: the queue, the customer store, the configuration and the
 * cluster adapters (loaded on first use, never for a simulated job). Built once per process from
 * `Deps` by the local client and the workers.
 */
import { singleCluster, type Clusters } from '../adapters/clusters.js';
import type { CustomerStore } from '../adapters/store.js';
import type { Config } from '../config.js';
import type { Deps } from '../deps.js';
import type { Level, Logger } from '../io.js';
import type { JobEvents } from './events.js';
import { settlingEvents } from './lifecycle.js';
import { auditListener } from './audit.js';
import { withWebhooks } from './webhooks.js';
import type { OutsideEnv } from '../pipeline/outside.js';
import type { Job } from '../domain/job.js';
import type { JobQueue } from '../adapters/queue.js';
import { withMetrics, type Metrics } from './metrics.js';
import { openBackupTarget } from '../adapters/backup-target.js';

/** Completed and failed jobs are kept this long (the seed's 7 days), then pruned by workers and new deletions. */
export const RETENTION_MS = 7 * 24 * 3_600_000;

/** How long a worker's lease on a running attempt lasts before another worker may take the job over. */
export const LEASE_MS = 30_000;

export interface JobsEnv {
  queue: JobQueue;
  store: CustomerStore;
  config: Config;
  /**
   * The clusters registry (src/adapters/clusters.ts): `clusters.for(row)` is the customer's
   * cluster, whose adapters load on first use (never for simulated jobs).
   */
  clusters: Clusters;
  now: () => number;
  /** the job lifecycle: accepted … completed/failed/cancelled/superseded (src/jobs/events.ts) */
  events?: JobEvents;
  /** this process's metrics (src/jobs/metrics.ts), when a command exposes or writes them */
  metrics?: Metrics;
  /** billing and the deletion hooks (absent: none configured) */
  outside?: () => Promise<OutsideEnv>;
  /** live sink for attempt log lines (the terminal); the journal always gets them */
  sink?: (job: Job, level: Level, message: string, fields?: Record<string, unknown>) => void;
}

export async function jobsEnv(d: Deps, extra: Partial<JobsEnv> = {}): Promise<JobsEnv> {
  const store = extra.store ?? (await d.store());
  const events = settlingEvents({ store }, (m, f) => d.log.error(m, f));
  events.on(auditListener(store)); // the audit rows of events that change no customer row
  withWebhooks(await d.webhooks?.(), events); // signed POSTs on job end, journaled first (src/jobs/webhooks.ts)
  await d.outside?.(); // billing and the deletion hooks: a broken configuration is refused now (exit 2), not at the first attempt
  return withMetrics(await d.metrics(), {
    queue: extra.queue ?? (await d.jobs()),
    store,
    events,
    config: d.config(),
    clusters: extra.clusters ?? (d.clusters ? await d.clusters() : singleCluster({ kube: () => d.kube(), helm: () => d.helm(), backups: (url: string) => openBackupTarget(url, d.env) })),
    now: () => d.now().getTime(),
    ...(d.outside ? { outside: d.outside } : {}),
    sink: logToSink(d.log),
    ...extra,
  });
}

/** A job's log lines as they happen: step lines of the Reporter (quiet in a run over several customers). */
export function logToSink(log: Logger) {
  return (_job: Job, level: Level, message: string, fields?: Record<string, unknown>) => {
    if (log.step) return log.step(level, message, fields);
    const fn = level === 'ok' ? log.ok : level === 'warn' ? log.warn : level === 'error' ? log.error : level === 'debug' ? log.debug : log.info;
    fn.call(log, message, fields);
  };
}

export { cliRequester } from './actor.js';
