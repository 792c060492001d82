/**
 * What the service (src/service/local.ts, remote.ts, attached.ts) reads of the process it runs in:
 * the configuration, the adapters (opened lazily), the terminal's reporter, the abort signal. The
 * composition root (src/deps.ts) builds it: its `Deps` has every member, so `deps` itself is one.
 * Nothing in src/service/ imports deps.ts (the import-graph test holds it).
 */
import type { Config, Env } from '../config.js';
import type { Reporter } from '../io.js';
import type { Kube } from '../adapters/kube.js';
import type { Helm } from '../adapters/helm.js';
import type { Clusters } from '../adapters/clusters.js';
import type { CustomerStore } from '../adapters/store.js';
import type { JobQueue } from '../adapters/queue.js';
import type { Metrics } from '../jobs/metrics.js';
import type { Webhooks } from '../jobs/webhooks.js';
import type { BackendContext, QueueBackend } from '../jobs/backends.js';
import type { OutsideEnv } from '../pipeline/outside.js';
import type { DeliveryView } from '../domain/webhook.js';

export interface ServiceEnv {
  io: { isErrTTY: boolean };
  env: Env;
  now: () => Date;
  /** abortable sleep (backoff waits, polling) */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: Reporter;
  /** `pid@host`, the name this process uses in leases */
  worker: string;
  /** Ctrl-C / SIGTERM: stop and hand work back */
  shutdown: AbortSignal;
  config(): Config;
  kube(): Promise<Kube>;
  helm(): Promise<Helm>;
  /** the clusters registry (absent: the one cluster of kube() and helm()) */
  clusters?(): Promise<Clusters>;
  store(): Promise<CustomerStore>;
  /** this process's queue backend (the file journal, BullMQ) */
  jobs(): Promise<JobQueue>;
  /** which queue backend this process uses (absent: chosen from `env`) */
  queueBackend?(): Promise<{ backend: QueueBackend; ctx: BackendContext }>;
  /** the metrics of this process, null unless asked for */
  metrics(): Promise<Metrics | null>;
  /** webhooks on job end (a broken configuration: UsageError at the first call) */
  webhooks?(): Promise<Webhooks>;
  /** billing and the deletion hooks (a broken configuration: UsageError at the first call) */
  outside?(): Promise<OutsideEnv>;
  /** the webhook deliveries of a job */
  deliveries?(jobId: string): Promise<DeliveryView[]>;
}
