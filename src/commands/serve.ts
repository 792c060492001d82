/**
 * `custctl serve`: the queue API (src/server/app.ts) with an embedded worker
 * for the file journal. Refuses to start without an API token, and on a non-loopback address
 * without TLS (or an explicit --insecure-http). SIGTERM: stop accepting, hand running attempts
 * back, answer the requests in flight, close.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { Command, Option } from '@commander-js/extra-typings';
import { ReopeningStore } from '../adapters/reopening-store.js';
import type { Deps } from '../deps.js';
import { errorMessage, UsageError } from '../errors.js';
import { intFlag } from '../flags.js';
import { LocalJobsClient } from '../service/local.js';
import { runFileWorker, startErasureLoop } from '../jobs/worker.js';
import { queueBackendOf } from '../jobs/backends.js';
import type { Job } from '../domain/job.js';
import type { JobQueue } from '../adapters/queue.js';
import type { CustomerRow } from '../adapters/store.js';
import type { WorkerSummary } from '../jobs/runner.js';
import { loadTokens } from '../server/auth.js';
import { ownerTokenNames } from '../domain/tokens-file.js';
import type { PortalOptions } from '../server/portal/index.js';

export { ReopeningStore };

export const SIMULATED_CLEANUP_NOTE = 'SIMULATE_K8S_DEPLOYMENT=true: this server contacts no cluster, so no cluster RBAC was listed and nothing was deleted';
import { parseDuration } from '../domain/duration.js';

export interface ServeOptions {
  port: number;
  host: string;
  worker: boolean;
  concurrency: number;
  tlsCert?: string;
  tlsKey?: string;
  insecureHttp: boolean;
  /** headers and body must arrive within this, ms (default 30 s) */
  requestTimeoutMs?: number;
  /** idle keep-alive connections close after this, ms (default 5 s) */
  idleTimeoutMs?: number;
  /** the origin browsers reach the console at, when a proxy stands in front (`--public-url`) */
  publicUrl?: string;
  /** proxies whose X-Forwarded-* headers are believed (`--trust-proxy`) */
  trustProxy?: string[];
}


export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * `--public-url`: an origin (scheme, host, port), as a browser's Origin header names it. A path,
 * query, fragment or user name would never match one: refused rather than ignored.
 */
export function parsePublicUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError('--public-url takes the URL browsers open, e.g. https://custctl.example.com');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError(`--public-url must be an https:// (or http://) URL, not ${u.protocol}`);
  if (u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    throw new UsageError('--public-url is an origin only (scheme, host and port, e.g. https://custctl.example.com): the console is served at / and cannot live under a path');
  }
  return u.origin;
}

const PROXY_KEYWORDS = ['loopback', 'linklocal', 'uniquelocal'];

/** `--trust-proxy`: IP addresses, CIDR ranges, or loopback/linklocal/uniquelocal; comma-separated or repeated. */
export function parseTrustProxy(raw: string, previous: string[] = []): string[] {
  const out = [...previous];
  for (const item of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [addr = '', prefix, extra] = item.split('/');
    const family = isIP(addr);
    const okPrefix = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!(PROXY_KEYWORDS.includes(item) || (family !== 0 && okPrefix && extra === undefined))) {
      throw new UsageError(`--trust-proxy takes IP addresses, CIDR ranges (10.0.0.0/8) or ${PROXY_KEYWORDS.join('/')}: ${JSON.stringify(item.slice(0, 60))} is none of them`);
    }
    out.push(item);
  }
  return out;
}

/** Checks the flags before anything is opened (exit 2 on a bad combination). */
export function validateServeOptions(o: ServeOptions): void {
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together: pass both (PEM files) or neither');
  if (!isLoopback(o.host) && o.tlsCert === undefined && !o.insecureHttp) {
    throw new UsageError(`refusing to serve plain HTTP on ${o.host}: bearer tokens would cross the network in clear text`, [
      'Pass --tls-cert FILE --tls-key FILE, or --insecure-http if TLS is terminated in front of custctl (e.g. by an ingress).',
    ]);
  }
}

/** serve's note on the embedded store it holds: other processes are told at once to read through it. */
const SERVE_HOLDER: { command: string; url?: string } = { command: 'serve' };

async function openServeStore(d: Deps): Promise<ReopeningStore> {
  const c = d.config();
  const { openStore, chooseStore } = await import('../adapters/open-store.js');
  const kind = chooseStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: c.simulate }) === 'embedded' ? 'embedded' : 'postgres';
  const store = new ReopeningStore(
    () => openStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: c.simulate, stateDir: c.stateDir, holder: SERVE_HOLDER }),
    kind === 'embedded' ? 'embedded store (not opened yet)' : 'PostgreSQL (not connected yet)',
    kind,
  );
  // open now so that the startup log names the store; a database that is down is not fatal
  await store.ping().catch((e: unknown) => d.log.warn(`customer store not reachable yet; /readyz answers 500 until it is`, { error: errorMessage(e).split('\n')[0] }));
  return store;
}


export interface ServeHandle {
  url: string;
  /** resolves when the server and the worker have stopped */
  done: Promise<void>;
}

/**
 * Starts the API (and the embedded worker) and returns once listening; `done` resolves after
 * `d.shutdown` aborted and everything was handed back and closed.
 */
export async function startServe(d: Deps, o: ServeOptions, queueOverride?: JobQueue): Promise<ServeHandle> {
  validateServeOptions(o);
  const loaded = await loadTokens(d.env);
  for (const w of loaded.warnings ?? []) d.log.warn(w);
  // a tokens file is followed: `custctl token create/revoke` takes effect without a restart
  const tokensFile = d.env.CUSTCTL_API_TOKENS_FILE;
  const tokens = tokensFile
    ? (await import('../adapters/tokens-file.js')).followTokensFile(tokensFile, loaded, (level, m) => d.log[level](m))
    : loaded;
  const https = o.tlsCert && o.tlsKey ? await readTls(o.tlsCert, o.tlsKey) : undefined;
  const config = d.config();
  const queue: JobQueue = queueOverride ?? (await d.jobs());
  const store = await openServeStore(d);
  d.wantMetrics(); // GET /metrics (viewer token)
  const jobs = new LocalJobsClient(d, { mode: 'server', env: { queue, store } });
  const env = await jobs.env();
  // deletions and cancels by an owner token are the customer's in the customer events (the followed tokens file, read at each event)
  env.notices?.useOwners(() => ownerTokenNames(tokens));
  env.notices?.startReminders(d.shutdown); // deletion reminders to the customer (src/jobs/customer-notices.ts)

  const { buildServer } = await import('../server/app.js'); // fastify: loaded only by serve
  const portal = await portalOptions(d, env);
  const { serverService } = await import('../service/server-service.js');

  // the cluster this server acts on, for the console's banner (its kubeconfig, read once; no request)
  const seen: string[] = [];
  const environment = async () => {
    if (config.simulate) return { simulated: true, database: store.description };
    // a fleet of several: every cluster's context and server are internals an owner must not see
    const kubes = await Promise.all(env.clusters.all().map((c) => c.kube()));
    for (const k of kubes) seen.push(k.target.context, k.target.server);
    const one = kubes[0] as (typeof kubes)[number];
    if (kubes.length === 1) return { simulated: false, context: one.target.context, server: one.target.server, database: store.description };
    return { simulated: false, context: env.clusters.all().map((c) => c.name).join(', '), server: `${kubes.length} clusters (${env.clusters.fleet.source})`, database: store.description };
  };
  // the one service every route and console page calls: this server's jobs client over its store and queue
  const service = serverService({
    store,
    queue,
    now: env.now,
    events: env.events,
    submit: (customer, requestedBy, extras) => jobs.submitDeletion(customer, extras, { requestedBy }),
    cancel: (target, who) => jobs.cancel(target, who),
    runSync: (job: Job) => jobs.follow(job, { label: job.id, run: true }),
    deliveries: (id) => jobs.deliveries(id),
    erase: async (customer, requestedBy, dryRun) => {
      const [{ eraseCustomer, eraseEnvOf }, { openBackupTarget }] = await Promise.all([import('../jobs/erase.js'), import('../adapters/backup-target.js')]);
      const r = await eraseCustomer(eraseEnvOf(env, { openTarget: (u) => openBackupTarget(u, d.env), log: (level, m, f) => d.log.write(level, m, f), signal: d.shutdown }), { customerId: customer.id, actor: requestedBy, dryRun });
      return r;
    },
    cleanupRbac: async (dryRun, requestedBy, opts) => {
      // A simulated server makes no cluster calls (DESIGN): there is nothing to list, so nothing to sweep.
      if (config.simulate) return { dryRun, simulated: true, ...(dryRun ? {} : { jobId: null }), orphans: [], deleted: [], kept: [], errors: [], note: SIMULATED_CLEANUP_NOTE };
      const ask = { ...(opts.customer ? { customer: opts.customer.id } : {}), includeKept: opts.includeKept };
      return dryRun ? (await jobs.planCleanup(ask)).report : jobs.submitCleanup({ ...ask, requestedBy });
    },
    // the customer page's plan: the service's, the one `delete --dry-run` shows
    plan: (customer) => jobs.planCustomer(customer),
  });
  const app = buildServer({
    service,
    tokens,
    log: d.log,
    ...(env.metrics ? { metrics: env.metrics } : {}),
    https,
    limits: {
      ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs, checkIntervalMs: Math.min(1_000, Math.max(50, Math.floor(o.requestTimeoutMs / 4))) } : {}),
      ...(o.idleTimeoutMs !== undefined ? { keepAliveTimeoutMs: o.idleTimeoutMs } : {}),
    },
    retention: { defaultMs: config.retentionMs, ownerMinMs: config.ownerMinRetentionMs },
    console: { environment, clusterNames: () => env.clusters.all().map((c) => c.name) },
    portal,
    ...(o.publicUrl !== undefined ? { publicUrl: o.publicUrl } : {}),
    ...(o.trustProxy?.length ? { trustProxy: o.trustProxy } : {}),
    // what an owner must never read, beside the database and the token names the server knows
    ownerSecrets: () => [...seen, ...(config.backupUrl ? [config.backupUrl] : []), d.worker, hostname(), config.stateDir],
  });

  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot listen on ${o.host}:${o.port}: ${code === 'EADDRINUSE' ? 'the port is in use' : errorMessage(e)}`, ['Pick another port with --port.']);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const hostShown = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  const url = `${https ? 'https' : 'http'}://${hostShown}:${port}`;
  d.log.info(`listening on ${url}`, {
    tokens: `${tokens.entries.length} (${tokens.source})`, store: store.description, queue: queue.kind, simulated: config.simulate || undefined,
    publicUrl: o.publicUrl, trustProxy: o.trustProxy?.length ? o.trustProxy.join(',') : undefined,
  });
  if (store.kind === 'embedded') {
    // the CLI's read commands beside this server are told where to read (--api-url), at once
    SERVE_HOLDER.url = url;
    const { recordHolder } = await import('../adapters/store-pglite.js');
    const { embeddedStoreDir } = await import('../adapters/open-store.js');
    await recordHolder(embeddedStoreDir(config.stateDir), SERVE_HOLDER);
  }

  let worker: Promise<WorkerSummary | null> = Promise.resolve(null);
  if (o.worker && queue.kind === 'file') {
    worker = runFileWorker(d, env, { concurrency: o.concurrency, once: false });
  } else {
    // the automatic erasure runs beside the embedded worker; without one, beside the server
    const erasing = startErasureLoop(d, env);
    worker = erasing.then(() => null);
    const { backend } = await queueBackendOf(d);
    d.log.info(o.worker ? `No embedded worker for the ${queue.kind} queue (${backend.title}): run 'custctl worker' (with ${backend.sameSettings}) on one or more machines` : 'No embedded worker (--no-worker): run custctl worker to process jobs');
  }


  const done = (async () => {
    await new Promise<void>((resolve) => {
      if (d.shutdown.aborted) resolve();
      else d.shutdown.addEventListener('abort', () => resolve(), { once: true });
    });
    d.log.info('Shutting down: no new requests; running attempts are handed back');
    // the worker and the synchronous runs see the same signal and hand their attempts back;
    // close() then waits for the requests in flight (they answer 202 for a handed-back job)
    await Promise.all([worker.catch((e: unknown) => (d.log.error('worker stopped with an error', { error: errorMessage(e) }), null)), app.close()]);
    await store.close().catch(() => undefined);
    if (queue.kind === 'bullmq' && !queueOverride) await queue.close().catch(() => undefined);
    d.log.info('Stopped');
  })();
  return { url, done };
}

/** The customer portal's options: the link secrets, the links' base URL, the export as a download. */
async function portalOptions(d: Deps, env: Awaited<ReturnType<LocalJobsClient['env']>>): Promise<PortalOptions> {
  const config = d.config();
  const { loadPortalSecrets } = await import('../adapters/secret-files.js');
  const { exportDownload } = await import('../jobs/export-download.js');
  const secrets = await loadPortalSecrets(d.env);
  if (!secrets) d.log.info('No portal secret (CUSTCTL_PORTAL_SECRET_FILE): the customer portal at /portal signs in with owner tokens only');
  const kube = (row: CustomerRow) => env.clusters.for(row).kube(); // the customer's cluster
  return {
    site: config.siteName,
    secrets,
    ...(config.portalUrl ? { baseUrl: config.portalUrl } : {}),
    export: (customer, o) => exportDownload({ store: env.store, kube, config, now: env.now }, customer, o),
  };
}

async function readTls(certPath: string, keyPath: string): Promise<{ cert: Buffer; key: Buffer }> {
  const read = async (p: string, what: string) => {
    try {
      return await readFile(p);
    } catch (e) {
      throw new UsageError(`cannot read the TLS ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
    }
  };
  return { cert: await read(certPath, 'certificate'), key: await read(keyPath, 'key') };
}

export async function runServe(d: Deps, o: ServeOptions): Promise<void> {
  const h = await startServe(d, o);
  await h.done;
}

function durationFlag(name: string): (raw: string) => number {
  return (raw) => {
    let ms: number;
    try {
      ms = /^\d+$/.test(raw) ? Number(raw) : parseDuration(raw);
    } catch {
      throw new UsageError(`${name} takes a duration like 30s or 2m (or milliseconds)`);
    }
    if (ms < 100 || ms > 3_600_000) throw new UsageError(`${name} must be from 100ms to 1h`);
    return ms;
  };
}

function portFlag(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new UsageError(`--port takes a port number from 0 to 65535`);
  return Number(raw);
}

export function makeServeCommand(d: Deps, setExit: (code: number) => void, runF = runServe) {
  return new Command('serve')
    .description("Serve the queue API and, with the file journal, run its jobs")
    .addOption(new Option('--port <port>', 'TCP port (0: any free port)').argParser(portFlag).default(3100))
    .option('--host <address>', 'address to listen on; a non-loopback one needs TLS or --insecure-http', '127.0.0.1')
    .option('--no-worker', 'do not run jobs here (leave them to custctl worker)')
    .addOption(new Option('--concurrency <n>', 'jobs the embedded worker runs at once').argParser(intFlag('--concurrency', 1, 64)).default(4))
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure-http', 'allow plain HTTP on a non-loopback address (TLS terminated in front)')
    .addOption(new Option('--request-timeout <duration>', 'a request (headers and body) must arrive within this, else 408 and the connection closes').argParser(durationFlag('--request-timeout')).default(30_000, '30s'))
    .addOption(new Option('--idle-timeout <duration>', 'an idle keep-alive connection is closed after this').argParser(durationFlag('--idle-timeout')).default(5_000, '5s'))
    .addOption(new Option('--public-url <url>', 'the URL browsers open when a proxy stands in front (e.g. https://custctl.example.com): the console checks sign-ins against it; https makes its cookie Secure').argParser(parsePublicUrl))
    .addOption(new Option('--trust-proxy <addresses>', 'believe X-Forwarded-For/-Proto/-Host from these proxies only (IPs, CIDRs, loopback; comma-separated or repeated)').argParser(parseTrustProxy))
    .addHelpText(
      'after',
      `
Authentication: CUSTCTL_API_TOKEN (one admin token, named "default") or CUSTCTL_API_TOKENS_FILE
(one name:role:sha256hex a line; role admin or viewer). serve refuses to start without either.

The customer portal is at /portal: customers sign in with a link from 'custctl portal link'
(CUSTCTL_PORTAL_SECRET_FILE) or their owner token (docs/portal.md).

Behind a proxy that ends TLS (nginx, an ingress): pass --public-url with the address browsers
open, and --trust-proxy with the proxy's address so that X-Forwarded-For names the client
(failed sign-ins are limited per client address).

Examples:
  CUSTCTL_API_TOKEN=$(openssl rand -hex 32) custctl serve
  custctl serve --host 0.0.0.0 --tls-cert tls.crt --tls-key tls.key
  custctl serve --public-url https://custctl.example.com --trust-proxy 127.0.0.1
  curl -X DELETE -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3100/api/customers/cust_abc123
  curl -H "Authorization: Bearer $VIEWER_TOKEN" http://127.0.0.1:3100/metrics   # Prometheus (a viewer token)`,
    )
    .action(async (f) => {
      await runF(d, {
        port: f.port,
        host: f.host,
        worker: f.worker,
        concurrency: f.concurrency,
        ...(f.tlsCert !== undefined ? { tlsCert: f.tlsCert } : {}),
        ...(f.tlsKey !== undefined ? { tlsKey: f.tlsKey } : {}),
        insecureHttp: !!f.insecureHttp,
        requestTimeoutMs: f.requestTimeout,
        idleTimeoutMs: f.idleTimeout,
        ...(f.publicUrl !== undefined ? { publicUrl: f.publicUrl } : {}),
        ...(f.trustProxy !== undefined ? { trustProxy: f.trustProxy } : {}),
      });
      setExit(0);
    });
}
