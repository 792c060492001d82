/**
 * Builds the jobs environment (`JobsEnv`, src/jobs/jobs-env.ts) once per process from what the
 * composition root hands down (`JobsEnvSource`: the process's `Deps`): the event stream with its
 * settling, audit and webhook listeners, metrics, and the cluster adapters loaded on first use.
 */
import type { Kube } from '../adapters/kube.js';
import { singleCluster, type Clusters } from '../adapters/clusters.js';
import type { CustomerStore } from '../adapters/store.js';
import type { Config } from '../config.js';
import type { Level, Logger } from '../io.js';
import type { Helm } from '../adapters/helm.js';
import type { JobsEnv } from './jobs-env.js';
import { settlingEvents } from './lifecycle.js';
import { auditListener } from './audit.js';
import { withWebhooks, type Webhooks } from './webhooks.js';
import type { CustomerNotices } from './customer-notices.js';
import type { OutsideEnv } from '../pipeline/outside.js';
import type { Job } from '../domain/job.js';
import type { JobQueue } from '../adapters/queue.js';
import { withMetrics, type Metrics } from './metrics.js';
import { openBackupTarget, type BackupEnv } from '../adapters/backup-target.js';
import { siteSigningKey } from './certify.js';

export { JOB_TTL_MS, LEASE_MS, type JobsEnv } from './jobs-env.js';

/**
 * What `jobsEnv` takes from the process (src/deps.ts's `Deps` is one): its adapters, opened on
 * first use, and its log. Named here so that jobs/ never imports the composition root.
 */
export interface JobsEnvSource {
  env: BackupEnv;
  now(): Date;
  log: Logger;
  config(): Config;
  kube(): Promise<Kube>;
  helm(): Promise<Helm>;
  store(): Promise<CustomerStore>;
  jobs(): Promise<JobQueue>;
  metrics(): Promise<Metrics | null>;
  webhooks?(): Promise<Webhooks>;
  outside?(): Promise<OutsideEnv>;
  /** the clusters registry (absent: the one cluster of kube() and helm()) */
  clusters?(): Promise<Clusters>;
}

export async function jobsEnv(d: JobsEnvSource, extra: Partial<JobsEnv> = {}): Promise<JobsEnv> {
  const store = extra.store ?? (await d.store());
  const events = settlingEvents({ store }, (m, f) => d.log.error(m, f));
  events.on(auditListener(store)); // the audit rows of events that change no customer row
  const hooks = await d.webhooks?.();
  withWebhooks(hooks, events); // signed POSTs on job end, journaled first (src/jobs/webhooks.ts)
  const notices = hooks ? await customerNotices(d, hooks, store, () => (extra.queue ? Promise.resolve(extra.queue) : d.jobs())) : null;
  if (notices) events.on(notices.onJobEvent); // the customer events (src/jobs/customer-notices.ts)
  await d.outside?.(); // billing and the deletion hooks: a broken configuration is refused now (exit 2), not at the first attempt
  return withMetrics(await d.metrics(), {
    queue: extra.queue ?? (await d.jobs()),
    store,
    events,
    config: d.config(),
    clusters: extra.clusters ?? (d.clusters ? await d.clusters() : singleCluster({ kube: () => d.kube(), helm: () => d.helm(), backups: (url: string) => openBackupTarget(url, d.env) })),
    now: () => d.now().getTime(),
    signingKey: siteSigningKey(d.config().signingKeyFile),
    ...(d.outside ? { outside: d.outside } : {}),
    sink: logToSink(d.log),
    ...(notices ? { notices } : {}),
    ...extra,
  });
}

/** The customer events of this process, when webhooks are configured: reminder settings and the portal's links from the environment. */
async function customerNotices(d: JobsEnvSource, hooks: Webhooks, store: CustomerStore, queue: () => Promise<JobQueue>): Promise<CustomerNotices | null> {
  if (!hooks.endpoints.some((e) => e.customerEvents)) return null;
  const [{ CustomerNotices, reminderSettings }, { loadPortalSecrets }] = await Promise.all([import('./customer-notices.js'), import('../adapters/secret-files.js')]);
  const { beforeMs, scanMs } = reminderSettings(d.env);
  const baseUrl = d.config().portalUrl;
  const secrets = baseUrl ? await loadPortalSecrets(d.env) : null;
  return new CustomerNotices({
    hooks, store, queue, now: () => d.now().getTime(), log: d.log, reminderBeforeMs: beforeMs, reminderScanMs: scanMs,
    ...(baseUrl && secrets ? { portal: { baseUrl, secrets } } : {}),
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
