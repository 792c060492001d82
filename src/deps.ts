/**
 * Everything a command needs, built lazily: heavy modules (client-node, pg, PGlite) load only
 * when a command asks for the adapter that needs them.
 */
import { hostname } from 'node:os';
import { buildConfig, type Config, type Env, type GlobalFlags } from './config.js';
import { UsageError } from './errors.js';
import { Reporter, type IO } from './io.js';
import type { Kube } from './adapters/kube.js';
import type { Helm } from './adapters/helm.js';
import type { Cluster, Clusters } from './adapters/clusters.js';
import type { CustomerStore } from './adapters/store.js';
import type { JobQueue } from './adapters/queue.js';
import type { JobsClient } from './service/service.js';
import type { Metrics } from './jobs/metrics.js';
import type { DeliveryView, Webhooks } from './jobs/webhooks.js';
import type { DeliveryJournal } from './adapters/webhook-journal.js';
import type { OutsideEnv } from './pipeline/outside.js';
import type { BackendContext, QueueBackend } from './jobs/backends.js';
import { VERSION } from './version.js';
import { retryText, type RetryEvent } from './adapters/retry.js';

export interface Deps {
  io: IO;
  env: Env;
  now: () => Date;
  /** abortable sleep (backoff waits, polling) */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: Reporter;
  /** `pid@host`, the name this process uses in leases */
  worker: string;
  /** Ctrl-C / SIGTERM: the command should stop what it does and hand work back */
  shutdown: AbortSignal;
  config(): Config;
  /** the one cluster of this run; with a clusters file naming several, refused: ask `clusters()` for the customer's */
  kube(): Promise<Kube>;
  helm(): Promise<Helm>;
  /**
   * The clusters registry (src/adapters/clusters.ts): CUSTCTL_CLUSTERS_FILE, else the one cluster
   * configured the usual way. `clusters.for(row)` is the customer's cluster. Optional: test doubles
   * of Deps leave it out (then the one cluster of kube()/helm()).
   */
  clusters?(): Promise<Clusters>;
  store(opts?: { skipSchemaCheck?: boolean }): Promise<CustomerStore>;
  /** the queue backend of this process (src/jobs/backends.ts): the file journal, BullMQ on Redis or on PostgreSQL */
  jobs(): Promise<JobQueue>;
  /** which queue backend this process uses, and what its entry needs (src/jobs/backends.ts) */
  queueBackend?(): Promise<{ backend: QueueBackend; ctx: BackendContext }>;
  /** the jobs client, chosen once: the queue API with --api-url / CUSTCTL_API_URL, else this machine's queue */
  client(): Promise<JobsClient>;
  /** this process keeps metrics (serve, worker --metrics-port); --metrics-textfile asks for them too */
  wantMetrics(): void;
  /** the metrics of this process (prom-client, loaded on first use), null unless they were asked for */
  metrics(): Promise<Metrics | null>;
  /**
   * Webhooks on job end (CUSTCTL_WEBHOOK_URL / CUSTCTL_WEBHOOKS_FILE, checked at the first call:
   * UsageError) and this process's delivery loop. Optional: test doubles of Deps leave it out.
   */
  webhooks?(): Promise<Webhooks>;
  /**
   * Billing (CUSTCTL_BILLING, src/adapters/billing-config.ts) and the deletion hooks
   * (CUSTCTL_HOOKS_FILE), checked at the first call (UsageError). Optional: test doubles leave it out.
   */
  outside?(): Promise<OutsideEnv>;
  /** The webhook deliveries of a job (the delivery journal; no configuration needed to read it). */
  deliveries?(jobId: string): Promise<DeliveryView[]>;
  /** What this process has been told by the cluster so far: 429 answers (custctl's requests and helm's), for the pace of a bulk run. Optional: test doubles of Deps leave it out. */
  pressure?: { throttles: number; /** the same, per cluster of the fleet (by name) */ byCluster?: Record<string, number> };
  /** Closes what was opened (store connections, locks); writes --metrics-textfile; gives webhook deliveries their last try. */
  close(): Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
}

export interface MakeDepsOptions {
  io: IO;
  env: Env;
  flags: () => GlobalFlags;
  shutdown: AbortSignal;
  pid: number;
  /** where an inCluster cluster entry's service account is mounted (default: the pod's, clusters-config.ts SERVICE_ACCOUNT_DIR) */
  serviceAccountDir?: string;
}

export function makeDeps(opts: MakeDepsOptions): Deps {
  const { io, env } = opts;
  const now = () => new Date();
  let config: Config | undefined;
  const getConfig = () => (config ??= buildConfig(env, opts.flags()));
  const log = new Reporter(io, now, () => opts.flags().verbose ?? false);
  const closers: Array<() => Promise<void>> = [];
  const pressure: { throttles: number; byCluster: Record<string, number> } = { throttles: 0, byCluster: {} };
  const throttled = (cluster?: string) => {
    pressure.throttles += 1;
    if (cluster !== undefined) pressure.byCluster[cluster] = (pressure.byCluster[cluster] ?? 0) + 1;
  };

  /** the context helm was given, when it was found without the kube client (see adapters/kube/kubeconfig.ts) */
  let helmContext: string | null = null;
  let kubeContext: string | null = null;
  const refuseTwoContexts = () => {
    if (helmContext !== null && kubeContext !== null && helmContext !== kubeContext) {
      throw new UsageError(`helm was given kube context ${helmContext}, but the kubeconfig selects ${kubeContext}: refusing to act on two clusters`);
    }
  };
  const usualKube = once(async () => {
    const c = getConfig();
    const { openKube } = await import('./adapters/kube/index.js');
    const k = await openKube({ kubeconfig: c.kubeconfig, context: c.context, env, userAgent: `custctl/${VERSION}`, onRetry: kubeRetry() });
    kubeContext = k.target.context;
    kubeOpened = k;
    refuseTwoContexts();
    // background watches and idle connections end with the command
    closers.push(async () => k.close?.());
    return k;
  });
  /** whether the kube client (when opened) got an answer from the API server in this process */
  let kubeOpened: Kube | undefined;
  const kubeAnswered = (): boolean => kubeOpened?.answered?.() ?? false;
  // helm does not wait for the kube client: it needs only the context name
  const usualHelm = once(async () => {
    const c = getConfig();
    const { contextName } = await import('./adapters/kube/kubeconfig.js');
    helmContext = contextName({ kubeconfig: c.kubeconfig, context: c.context, env });
    refuseTwoContexts();
    const context = helmContext ?? (await usualKube()).target.context;
    return openHelm(c.kubeconfig, context, env, usualKube, () => kubeAnswered());
  });
  /** helm on one cluster: its release records read through that cluster's own client */
  const openHelm = async (kubeconfig: string | undefined, context: string, helmEnv: Env, k: () => Promise<Kube>, answered: () => boolean, cluster?: string): Promise<Helm> => {
    const { makeHelm } = await import('./adapters/helm-cli.js');
    return makeHelm({
      helmBin: getConfig().helmBin, ...(kubeconfig !== undefined ? { kubeconfig } : {}), context, env: helmEnv,
      // `helm list` / `get manifest` / hooks: the release records read through custctl's own client
      releaseRecords: async (namespace, resource, signal) => (await k()).listHelmReleaseRecords(namespace, resource, signal),
      // an exec plugin's token, fetched once by custctl: helm does not run the plugin again
      kubeToken: async (signal) => (await k()).pluginToken?.(signal) ?? null,
      onRetry: (e) => {
        if (/too many requests|429/i.test(e.why)) throttled(cluster);
        log.warn(`${e.op}: ${retryText(e)}`, { inMs: e.waitMs });
      },
      serverAnswered: answered,
    });
  };
  const kubeRetry = (name?: string) => (e: RetryEvent & { op: string }) => {
    if (e.why === 'HTTP 429') throttled(name);
    // on a terminal every retry is shown (a wait is never silent); in logs with -v
    (io.isErrTTY ? log.warn : log.debug).call(log, `${name ? `cluster ${name}: ` : ''}${e.op}: ${retryText(e)}`, { inMs: e.waitMs });
  };
  // the clusters registry: CUSTCTL_CLUSTERS_FILE, else the usual one cluster (usualKube/usualHelm)
  const clusters = once(async (): Promise<Clusters> => {
    const c = getConfig();
    const [{ loadFleet, openClusterKube, clusterKubeconfig }, { makeClusters }, { openBackupTarget }] = await Promise.all([
      import('./adapters/clusters-config.js'), import('./adapters/clusters.js'), import('./adapters/backup-target.js'),
    ]);
    const fleet = await loadFleet({ env, kubeconfig: c.kubeconfig, context: c.context });
    const backups = (url: string) => openBackupTarget(url, env);
    if (!env.CUSTCTL_CLUSTERS_FILE) return makeClusters(fleet, { kube: () => usualKube(), helm: () => usualHelm(), backups });
    return makeClusters(fleet, {
      backups,
      kube: async (entry) => {
        const k = await openClusterKube(entry, { env, userAgent: `custctl/${VERSION}`, source: fleet.source, serviceAccountDir: opts.serviceAccountDir, onRetry: kubeRetry(entry.name) });
        closers.push(async () => k.close?.());
        return k;
      },
      helm: async (entry, k) => {
        const kube = await k();
        // the cluster's own storage driver; HELM_DRIVER otherwise
        const helmEnv = entry.helmDriver ? { ...env, HELM_DRIVER: entry.helmDriver } : env;
        // the same kubeconfig file and context as the cluster's client (an in-cluster entry's is
        // written for helm and kept until the process closes)
        const kc = await clusterKubeconfig(entry, { env, source: fleet.source, serviceAccountDir: opts.serviceAccountDir });
        closers.push(kc.dispose);
        return openHelm(kc.kubeconfig, kc.context ?? kube.target.context, helmEnv, k, () => kube.answered?.() ?? false, entry.name);
      },
    });
  });
  /** kube()/helm() of a command that acts on one cluster: with a clusters file, its only cluster, or refused */
  const oneCluster = async (): Promise<Cluster> => {
    const all = await clusters();
    if (all.several) {
      throw new UsageError(`this acts on one cluster, and ${all.fleet.source} names ${all.fleet.clusters.length} (${all.fleet.clusters.map((x) => x.name).join(', ')}): nothing was done`, ['each customer is acted on on its own cluster; this path does not know which: report it']);
    }
    return all.default();
  };
  const kube = () => (env.CUSTCTL_CLUSTERS_FILE ? oneCluster().then((x) => x.kube()) : usualKube());
  const helm = () => (env.CUSTCTL_CLUSTERS_FILE ? oneCluster().then((x) => x.helm()) : usualHelm());
  // checked (and created 0700) before the journal or the embedded store is opened in it
  const stateDir = once(async () => {
    const c = getConfig();
    const { ensureStateDir } = await import('./adapters/state-dir.js');
    const r = await ensureStateDir(c.stateDir);
    if (r.warning) log.warn(r.warning);
    return c.stateDir;
  });
  let storeSkip = false;
  const store = once(async () => {
    const c = getConfig();
    const { openStore, chooseStore } = await import('./adapters/open-store.js');
    if (chooseStore({ ...c, env }) === 'embedded') await stateDir();
    const s = await openStore({ store: c.store, databaseUrl: c.databaseUrl, env, simulate: c.simulate, stateDir: c.stateDir, skipSchemaCheck: storeSkip });
    closers.push(() => s.close());
    return s;
  });
  // the queue backend, chosen once from the environment (src/jobs/backends.ts: the one table of backends)
  const queueBackend = once(async () => {
    const { selectQueueBackend } = await import('./jobs/backends.js');
    const { backend } = selectQueueBackend(env);
    const ctx: BackendContext = {
      env, stateDir, stateDirPath: getConfig().stateDir, worker: `${opts.pid}@${hostname()}`,
      warn: (m, f) => log.warn(m, f),
    };
    return { backend, ctx };
  });
  const jobs = once(async (): Promise<JobQueue> => {
    const { backend, ctx } = await queueBackend();
    const q = await backend.open(ctx);
    if (q.close) closers.push(q.close);
    return q.value;
  });

  const client = once(async (): Promise<JobsClient> => {
    const c = getConfig();
    if (c.apiUrl) {
      const { RemoteJobsClient } = await import('./service/remote.js');
      return new RemoteJobsClient(deps, c.apiUrl, c.apiToken);
    }
    const { LocalJobsClient } = await import('./service/local.js');
    return new LocalJobsClient(deps);
  });

  let metricsWanted = false;
  const metrics = once(async (): Promise<Metrics> => {
    const { PromMetrics } = await import('./jobs/metrics-prom.js');
    const long = opts.flags().metricsTextfile === undefined;
    return new PromMetrics({ now: () => Date.now(), processMetrics: long, onError: (m, e) => log.warn(m, { error: e instanceof Error ? e.message : String(e) }) });
  });
  const textfile = async () => {
    const path = opts.flags().metricsTextfile;
    if (path === undefined) return;
    try {
      await (await metrics()).writeTextfile(path);
    } catch (e) {
      log.error(`could not write the metrics textfile ${path}`, { error: e instanceof Error ? e.message : String(e) });
    }
  };

  // the delivery journal beside the queue: in Redis or PostgreSQL with BullMQ (every machine sees it), else the state directory
  const deliveryJournal = once(async (): Promise<DeliveryJournal> => {
    const { backend, ctx } = await queueBackend();
    const j = await backend.deliveryJournal(ctx);
    if (j.close) closers.push(j.close);
    return j.value;
  });
  let hooksP: Promise<Webhooks> | undefined;
  const webhooks = () =>
    (hooksP ??= (async () => {
      const [{ loadWebhookConfig }, { Webhooks }, { postWebhook }] = await Promise.all([
        import('./adapters/webhook-config.js'), import('./jobs/webhooks.js'), import('./adapters/webhook-http.js'),
      ]);
      const config = await loadWebhookConfig(env);
      for (const w of config.warnings) log.warn(w);
      return new Webhooks({ config, journal: deliveryJournal, post: postWebhook, log, now: () => Date.now(), owner: `${opts.pid}@${hostname()}`, userAgent: `custctl/${VERSION}` });
    })());

  const outside = once(async (): Promise<OutsideEnv> => {
    const [{ loadBillingConfig }, { loadHookConfig }] = await Promise.all([import('./adapters/billing-config.js'), import('./adapters/hook-config.js')]);
    const [billingConfig, hookConfig] = await Promise.all([loadBillingConfig(env), loadHookConfig(env)]);
    for (const w of hookConfig.warnings) log.warn(w);
    let billing: OutsideEnv['billing'] = null;
    if (billingConfig.provider === 'stripe') {
      const { makeStripeBilling } = await import('./adapters/billing-stripe.js');
      billing = makeStripeBilling({ settings: billingConfig.stripe, policy: billingConfig.policy });
    }
    let hooks: OutsideEnv['hooks'] = null;
    if (hookConfig.endpoints.length > 0) {
      const { postHook } = await import('./adapters/hook-http.js');
      hooks = { endpoints: hookConfig.endpoints, post: postHook, userAgent: `custctl/${VERSION}` };
    }
    return { billing, billingColumn: billingConfig.provider === 'stripe' ? billingConfig.stripe.customerColumn : null, hooks };
  });

  const deps: Deps = {
    io,
    env,
    now,
    sleep,
    log,
    worker: `${opts.pid}@${hostname()}`,
    shutdown: opts.shutdown,
    pressure,
    config: getConfig,
    kube,
    helm,
    clusters,
    store: (o) => {
      if (o?.skipSchemaCheck) storeSkip = true;
      return store();
    },
    jobs,
    queueBackend,
    client,
    wantMetrics: () => {
      metricsWanted = true;
    },
    metrics: async () => (metricsWanted || opts.flags().metricsTextfile !== undefined ? metrics() : null),
    webhooks,
    outside,
    deliveries: async (jobId) => {
      // no delivery was ever journaled in this state directory: nothing to load or read (`status job` stays light)
      const { backend, ctx } = await queueBackend();
      if (!backend.mayHaveDeliveries(ctx)) return [];
      return (await deliveryJournal()).forJob(jobId).then((rs) => rs.map(({ body: _b, lease: _l, key: _k, ...v }) => v));
    },
    close: async () => {
      // the deliveries due now get their try (bounded: CUSTCTL_WEBHOOK_EXIT_WAIT); the rest stay journaled
      if (hooksP) await (await hooksP.catch(() => null))?.close();
      await textfile(); // before the queue closes: custctl_jobs is read from it
      for (const c of closers.reverse()) await c().catch(() => undefined);
    },
  };
  return deps;
}
