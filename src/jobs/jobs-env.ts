/**
 * What running and accepting jobs needs: the queue, the customer store, the configuration and the
 * cluster adapters (loaded on first use, never for a simulated job), and the jobs' timing
 * constants. Types and constants only, so that every job module can import it; the builder is
 * `jobsEnv` (src/jobs/env.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { Clusters } from '../adapters/clusters.js';
import type { CustomerStore } from '../adapters/store.js';
import type { JobQueue } from '../adapters/queue.js';
import type { Config } from '../config.js';
import type { Level } from '../io.js';
import type { Job } from '../domain/job.js';
import type { OutsideEnv } from '../pipeline/outside.js';
import type { JobEvents } from './events.js';
import type { Metrics } from './metrics.js';
import type { CustomerNotices } from './customer-notices.js';

/**
 * How long a finished (completed or failed) job is kept before workers and new deletions prune it:
 * 7 days. Not to be confused with a soft deletion's delay (CUSTCTL_RETENTION, `retentionMs`).
 */
export const JOB_TTL_MS = 7 * 24 * 3_600_000;

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
  /** the customer events on the webhooks (absent: no endpoint configured) */
  notices?: CustomerNotices;
  /** the site's certificate signing key (null: none configured): a hard deletion's end signs its certificate */
  signingKey?: () => Promise<KeyObject | null>;
  /** live sink for attempt log lines (the terminal); the journal always gets them */
  sink?: (job: Job, level: Level, message: string, fields?: Record<string, unknown>) => void;
}
