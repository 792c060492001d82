/**
 * `custctl serve`: the queue API (the seed's endpoints, src/server/app.ts) with an embedded worker
 * for the file journal. Refuses to start without an API token, and on a non-loopback address
 * without TLS (or an explicit --insecure-http). SIGTERM: stop accepting, hand running attempts
 * back, answer the requests in flight, close.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Command, Option } from '@commander-js/extra-typings';
import { ReopeningStore } from '../adapters/reopening-store.js';
import type { Deps } from '../deps.js';
import { errorMessage, UsageError } from '../errors.js';
import { intFlag } from '../flags.js';
import { LocalJobsClient } from '../jobs/local-client.js';
import { runFileWorker } from '../jobs/worker.js';
import type { Job } from '../domain/job.js';
import type { JobQueue } from '../adapters/queue.js';
import type { WorkerSummary } from '../jobs/runner.js';
import { loadTokens } from '../server/auth.js';

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
}


export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1' || host === '[::1]') return true;
  return isIP(host) === 4 && host.startsWith('127.');
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

async function openServeStore(d: Deps): Promise<ReopeningStore> {
  const c = d.config();
  const { openStore, chooseStore } = await import('../adapters/open-store.js');
  const kind = chooseStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: c.simulate }) === 'embedded' ? 'embedded' : 'postgres';
  const store = new ReopeningStore(
    () => openStore({ store: c.store, databaseUrl: c.databaseUrl, env: d.env, simulate: c.simulate, stateDir: c.stateDir }),
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

  const { buildServer } = await import('../server/app.js'); // fastify: loaded only by serve
  const { consolePlan } = await import('../server/console/plan.js');
  const app = buildServer({
    store,
    queue,
    tokens,
    log: d.log,
    now: env.now,
    ...(env.events ? { events: env.events } : {}),
    ...(env.metrics ? { metrics: env.metrics } : {}),
    https,
    limits: {
      ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs, checkIntervalMs: Math.min(1_000, Math.max(50, Math.floor(o.requestTimeoutMs / 4))) } : {}),
      ...(o.idleTimeoutMs !== undefined ? { keepAliveTimeoutMs: o.idleTimeoutMs } : {}),
    },
    submit: (customer, requestedBy, extras) => jobs.submitDeletion(customer, { ...extras, requestedBy }),
    cancelDeletion: (customer, requestedBy) => jobs.cancelDeletion(customer, requestedBy),
    retention: { defaultMs: config.retentionMs, ownerMinMs: config.ownerMinRetentionMs },
    runSync: (job: Job) => jobs.follow(job, { label: job.id, run: true }),
    deliveries: (id) => jobs.deliveries(id),
    cleanupRbac: async (dryRun, requestedBy, opts) => {
      // A simulated server makes no cluster calls (DESIGN): there is nothing to list, so nothing to sweep.
      if (config.simulate) return { dryRun, simulated: true, ...(dryRun ? {} : { jobId: null }), orphans: [], deleted: [], kept: [], errors: [], note: SIMULATED_CLEANUP_NOTE };
      const ask = { ...(opts.customer ? { customer: opts.customer.id } : {}), includeKept: opts.includeKept };
      return dryRun ? (await jobs.planCleanup(ask)).report : jobs.submitCleanup({ ...ask, requestedBy });
    },
    console: { plan: (customer) => consolePlan(env, customer) },
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
  d.log.info(`listening on ${url}`, { tokens: `${tokens.entries.length} (${tokens.source})`, store: store.description, queue: queue.kind, simulated: config.simulate || undefined });

  let worker: Promise<WorkerSummary | null> = Promise.resolve(null);
  if (o.worker && queue.kind === 'file') {
    worker = runFileWorker(d, env, { concurrency: o.concurrency, once: false });
  } else {
    d.log.info(o.worker ? `No embedded worker for the ${queue.kind} queue: run 'custctl worker' (with the same REDIS_* settings) on one or more machines` : 'No embedded worker (--no-worker): run custctl worker to process jobs');
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
    .description("Serve the queue API (the seed's endpoints) and, with the file journal, run its jobs")
    .addOption(new Option('--port <port>', 'TCP port (0: any free port)').argParser(portFlag).default(3100))
    .option('--host <address>', 'address to listen on; a non-loopback one needs TLS or --insecure-http', '127.0.0.1')
    .option('--no-worker', 'do not run jobs here (leave them to custctl worker)')
    .addOption(new Option('--concurrency <n>', 'jobs the embedded worker runs at once').argParser(intFlag('--concurrency', 1, 64)).default(4))
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--insecure-http', 'allow plain HTTP on a non-loopback address (TLS terminated in front)')
    .addOption(new Option('--request-timeout <duration>', 'a request (headers and body) must arrive within this, else 408 and the connection closes').argParser(durationFlag('--request-timeout')).default(30_000, '30s'))
    .addOption(new Option('--idle-timeout <duration>', 'an idle keep-alive connection is closed after this').argParser(durationFlag('--idle-timeout')).default(5_000, '5s'))
    .addHelpText(
      'after',
      `
Authentication: CUSTCTL_API_TOKEN (one admin token, named "default") or CUSTCTL_API_TOKENS_FILE
(one name:role:sha256hex a line; role admin or viewer). serve refuses to start without either.

Examples:
  CUSTCTL_API_TOKEN=$(openssl rand -hex 32) custctl serve
  custctl serve --host 0.0.0.0 --tls-cert tls.crt --tls-key tls.key
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
      });
      setExit(0);
    });
}
