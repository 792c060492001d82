/**
 * The queue API (`custctl serve`) over fastify: the deletion endpoints (DELETE /api/customers/:id,
 * GET /api/jobs/:id, …), the admin API, the console and the portal. Thin: every rule lives in the
 * service and its policy; this module maps HTTP to them and errors to `{error, message}`.
 *
 * fastify: maintained, fast, first-class TypeScript, `inject()` for tests without a socket, and a
 * single error handler. Its own logger is off: requests are logged here through the Reporter,
 * with the token's name and never a header.
 */
import { deliveryJson, jobJson as jobWithIsoTimes, type JobJson } from '../domain/json-times.js';
import type { DeliveryView } from '../domain/webhook.js';
import fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { AUDIT_ACTIONS, DEPLOYMENT_STATUSES } from '../adapters/store.js';
import { parseTimePoint } from '../domain/time-window.js';
import type { Socket } from 'node:net';
import { parseCustomerId, shownInput } from '../domain/customer-id.js';
import { fromQuery, type DeletionOptions } from '../domain/deletion-options.js';
import { isJobId } from '../domain/job-id.js';
import { CliError, errorMessage, httpStatusForErrorName, type ErrorName, InvalidIdError, NotFoundError, UnauthorizedError, UsageError } from '../errors.js';
import { CLUSTER_NAME } from '../domain/clusters.js';
import { isStateName, STATE_NAMES, type Job } from '../domain/job.js';
import { formatRetention } from '../domain/duration.js';
import { authorize, cancellerOf, type Principal, type Role } from './auth.js';
import { AUTH_FAILURE_LIMITS, AuthFailures } from './auth-failures.js';
import { serverService, type ServerParts, type ServerService } from '../service/server-service.js';
import { registerConsole, type ConsoleOptions } from './console/index.js';
import { registerPortal, type PortalOptions } from './portal/index.js';
import type { RouteSettings } from './settings.js';
import { authorize as allow, deletionTerms, DEFAULT_RETENTION_RULE, deliveryView, errorForOwner, jobsScope, jobView, ownerNotFound, rowView, type Action } from '../service/policy.js';

/**
 * The server: the service it calls (src/service/server-service.ts: `serverService` over serve's
 * jobs client, store and queue), the tokens, the log, the metrics, and how it listens. The parts
 * of a service may be passed instead of one (unit tests: a store, a queue and the operations).
 */
export type ServerOptions = ServerSettings & ({ service: ServerService } | ServiceParts);

/** The parts `serverService` makes a service of (src/service/server-service.ts). */
export type ServiceParts = Omit<ServerParts, 'plan'>;

/** What the server's own parts need besides the route groups' settings (src/server/settings.ts). */
export interface ServerSettings extends RouteSettings {
  /** bounds on what a client may send and how slowly (defaults: SERVER_LIMITS) */
  limits?: Partial<ServerLimits>;
  /** `GET /metrics` (viewer token): the Prometheus text format */
  metrics?: { contentType: string; text(): Promise<string> };
  /** the admin console at `/` (src/server/console) */
  console?: ConsoleOptions;
  /** the customer portal at `/portal` (src/server/portal) */
  portal?: PortalOptions;
}

export interface ServerLimits {
  /** the whole request (headers and body) must arrive within this, ms; answered 408 */
  requestTimeoutMs: number;
  /** the headers must arrive within this, ms (at most requestTimeoutMs) */
  headersTimeoutMs: number;
  /** an idle keep-alive connection is closed after this, ms */
  keepAliveTimeoutMs: number;
  /** request bodies larger than this are answered 413 (no endpoint takes a body) */
  bodyLimitBytes: number;
  /** how often Node checks the two timeouts above, ms */
  checkIntervalMs: number;
}

export const SERVER_LIMITS: ServerLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  bodyLimitBytes: 64 * 1024,
  checkIntervalMs: 1_000,
};

/** Path parameters longer than this are refused by the router (our JSON, never the path echoed). */
const MAX_PARAM_LENGTH = 200;

export const QUEUED_MESSAGE = 'Customer deletion queued successfully';
export const SCHEDULED_MESSAGE = 'Customer deletion scheduled';
export const QUEUED_NOTE = 'Kubernetes namespace will be deleted asynchronously. Check job status for progress.';

/** HTTP status of an error name (the one table, src/domain/errors.ts); `conflict` is 409 except on DELETE /api/customers/:id (400, the status that endpoint has always answered). */
export const statusForErrorName = (name: ErrorName, conflictStatus = 409): number => httpStatusForErrorName(name, conflictStatus);

/** The API's error names are a closed set (docs/remote.md): a usage error travels as `invalid_request`. */
function apiErrorBody(e: unknown): { error: ErrorName; message: string; details?: string[] } {
  if (e instanceof CliError) {
    const error = e.errorName === 'usage' ? 'invalid_request' : e.errorName;
    return { error, message: e.message, ...(e.details.length ? { details: [...e.details] } : {}) };
  }
  return { error: 'internal', message: 'internal server error (the server log has the details)' };
}

/** An error answer of its own (not a CliError): name, status, message; never echoing the request. */
class HttpRefusal extends Error {
  constructor(readonly errorName: ErrorName, message: string) {
    super(message);
  }
}

/** fastify's own 4xx errors, by code, as our names (their messages may quote the request). */
function frameworkRefusal(fe: FastifyError, bodyLimit: number): HttpRefusal {
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpRefusal('payload_too_large', `request body too large: at most ${bodyLimit} bytes (no endpoint takes a body)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpRefusal('unsupported_media_type', 'unsupported content type: send no body, or application/json');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new HttpRefusal('invalid_id', `the id in the path is longer than ${MAX_PARAM_LENGTH} characters: not a customer ID (cust_ followed by 1-44 lowercase letters or digits) or a job id`);
    case 'FST_ERR_BAD_URL':
      return new HttpRefusal('invalid_request', 'the path is not valid percent-encoding (e.g. a % not followed by two hex digits)');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpRefusal('invalid_request', 'the request body is not valid JSON (no endpoint needs a body: send none)');
    default:
      return new HttpRefusal('invalid_request', `invalid request (${fe.code ?? `HTTP ${fe.statusCode ?? 400}`})`);
  }
}

/** A path as shown in messages and logs: at most 100 characters. */
function shownPath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.length <= 100 ? path : `${path.slice(0, 100)}… (${path.length} characters)`;
}

/**
 * Errors Node's HTTP parser raises before fastify sees a request (too slow, headers too large,
 * not HTTP): our JSON, then the connection is closed.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let body: { error: ErrorName; message: string } = { error: 'invalid_request', message: 'malformed HTTP request' };
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    body = { error: 'request_timeout', message: 'the request (headers and body) did not arrive in time: connection closed' };
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    body = { error: 'headers_too_large', message: 'request headers (or the URL) too large' };
  }
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }
  socket.destroy();
}

function parseJobIdParam(raw: string): string {
  if (!isJobId(raw)) throw new InvalidIdError(`${shownInput(raw)} is not a job id: job ids are numbers, e.g. 12345`);
  return raw;
}

function boolParam(name: string, raw: unknown): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new UsageError(`query parameter ${name} must be true or false`);
}

type Query = Record<string, string | undefined>;

/** The job as the API shows it: the one schema (DESIGN "The job journal", ISO times beside BullMQ's ms), without the lease's pid/host. */
export function jobJson(job: Job): JobJson {
  return jobWithIsoTimes(job.lease ? { ...job, lease: { ...job.lease, pid: 0, host: '' } } : job);
}

/** The end of a synchronous deletion as HTTP: 200 completed, the failure's status, 202 when handed back. */
export function syncStatus(job: Job): { status: number; error?: ErrorName } {
  if (job.state === 'completed') {
    const superseded = (job.returnvalue as { outcome?: string } | null)?.outcome === 'superseded';
    return superseded ? { status: 409, error: 'conflict' } : { status: 200 };
  }
  if (job.state === 'failed') {
    const name = job.failedCode ?? 'internal';
    return { status: httpStatusForErrorName(name), error: name };
  }
  return { status: 202 };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** null: no token needed */
    role?: Role | null;
    /** owner tokens may call this route (for their own customer only: the route checks) */
    owner?: boolean;
    /** status of a ConflictError on this route (DELETE /api/customers/:id answers 400) */
    conflictStatus?: number;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function buildServer(opts: ServerOptions): FastifyInstance {
  // the one service every route and console page calls (the console's plan: the service's, or the one given with the console)
  const svc: ServerService = 'service' in opts ? opts.service : serverService({ ...opts, ...(opts.console?.plan ? { plan: opts.console.plan } : {}) });
  const limits: ServerLimits = { ...SERVER_LIMITS, ...opts.limits };
  const headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const nodeServer = { headersTimeout: headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: limits.checkIntervalMs };
  const common = {
    logger: false,
    // requests that arrive while closing get our 503 (below), not fastify's own body
    return503OnClosing: false,
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // no socket inactivity timeout: a synchronous deletion answers after minutes of silence
    connectionTimeout: 0,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler,
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: import('fastify').FastifyReply) => {
      const r = frameworkRefusal(err, limits.bodyLimitBytes);
      void reply.code(statusForErrorName(r.errorName)).header('connection', 'close').send({ error: r.errorName, message: r.message });
    },
  } as const;
  const proxy = opts.trustProxy?.length ? { trustProxy: [...opts.trustProxy] } : {};
  const app = (opts.https
    ? fastify({ ...common, ...proxy, https: { ...opts.https, ...nodeServer } })
    : fastify({ ...common, ...proxy, http: nodeServer })) as unknown as FastifyInstance;
  // nothing takes a text body: only JSON (or none) is accepted, anything else is 415
  app.removeContentTypeParser('text/plain');
  const { log } = opts;
  const startedAt = new WeakMap<FastifyRequest, number>();
  // failed authentications are logged by the limiter, once per burst: not again per request
  const authFailureLogged = new WeakSet<FastifyRequest>();
  const failures = new AuthFailures(log, () => svc.now(), { ...AUTH_FAILURE_LIMITS, ...opts.authFailures });
  failures.start();
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => failures.stop());

  app.addHook('onRequest', async (req, reply) => {
    startedAt.set(req, Date.now());
    if (closing) throw new HttpRefusal('unavailable', 'the server is shutting down: try again in a moment (or another instance)');
    const role = req.routeOptions.config.role;
    if (role === undefined || role === null) return;
    const wait = failures.retryAfter(req.ip);
    if (wait > 0) {
      authFailureLogged.add(req);
      void reply.header('retry-after', String(wait));
      throw new HttpRefusal('too_many_requests', `too many failed authentications from this address: try again in ${wait} s`);
    }
    try {
      req.principal = authorize(opts.tokens, req.headers.authorization, role, req.routeOptions.config.owner === true);
    } catch (e) {
      if (e instanceof UnauthorizedError) {
        failures.fail(req.ip, `${e.message} (${req.method} ${shownPath(req.url)})`);
        authFailureLogged.add(req);
      }
      throw e;
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const ms = Date.now() - (startedAt.get(req) ?? Date.now());
    if ((req.routeOptions.url === '/healthz' || req.routeOptions.url === '/metrics') && reply.statusCode === 200) return; // probes and scrapes every few seconds: no noise
    if (authFailureLogged.has(req)) return;
    const fields = { status: reply.statusCode, by: req.principal?.name, ms };
    const line = `${req.method} ${shownPath(req.url)}`;
    if (reply.statusCode >= 500) log.error(line, fields);
    else if (reply.statusCode >= 400) log.warn(line, fields);
    else log.info(line, fields);
  });

  // Every error answer closes the connection: a refused client (401 while it still sends a body,
  // 413, 415) must not keep a socket open.
  /** The site's own strings an owner must not read: the database, the other tokens' names, what serve adds. */
  const ownerSecrets = (): string[] => [
    svc.where(),
    ...opts.tokens.entries.filter((e) => e.role !== 'owner').map((e) => e.name),
    ...(opts.ownerSecrets?.() ?? []),
  ];
  /** An owner's answer: its own customer's and jobs' words only (src/jobs/owner-view.ts). */
  function ownerBody(req: FastifyRequest, name: ErrorName, message: string): { error: ErrorName; message: string } {
    const what = ownerNotFound((req.params as { id?: unknown } | undefined)?.id);
    return { error: name, message: errorForOwner(name, message, what, ownerSecrets()).message };
  }

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    void reply.header('connection', 'close');
    const owner = req.principal?.role === 'owner';
    if (err instanceof CliError) {
      const status = httpStatusForErrorName(err.errorName, req.routeOptions.config?.conflictStatus ?? 409);
      if (status === 401) void reply.header('WWW-Authenticate', 'Bearer realm="custctl"');
      if (status >= 500) log.error(`${req.method} ${shownPath(req.url)} failed`, { error: errorMessage(err), by: req.principal?.name });
      const body = apiErrorBody(err);
      return reply.code(status).send(owner ? ownerBody(req, body.error, body.message) : body);
    }
    if (err instanceof HttpRefusal) return reply.code(statusForErrorName(err.errorName)).send({ error: err.errorName, message: err.message });
    const fe = err as FastifyError;
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      const r = frameworkRefusal(fe, limits.bodyLimitBytes);
      return reply.code(statusForErrorName(r.errorName)).send({ error: r.errorName, message: r.message });
    }
    log.error(`${req.method} ${shownPath(req.url)} failed`, { error: errorMessage(err), by: req.principal?.name });
    return reply.code(500).send(owner ? ownerBody(req, 'internal', '') : apiErrorBody(err));
  });

  app.setNotFoundHandler((req, reply) => {
    return reply.code(404).header('connection', 'close').send({ error: 'not_found', message: `no such endpoint: ${req.method} ${shownPath(req.url)}` });
  });

  const requestedBy = (req: FastifyRequest) => `api:${req.principal?.name ?? 'unknown'}`;
  /** A job as the caller may see it: the API's JSON, or an owner's view of its own customer's job. */
  /** Who asks (every route that reaches a handler with a role has authenticated one). */
  const who = (req: FastifyRequest): Principal => req.principal as Principal;
  /** The job as the caller may see it (src/service/policy.ts): the API's JSON, or an owner's view of its own customer's job. */
  const jobFor = (req: FastifyRequest) => (job: Job): JobJson => (who(req).role === 'owner' ? jobWithIsoTimes(jobView(who(req), job)) : jobJson(job));
  /** The job, if the caller may read it; a missing one and (to an owner) another customer's read the same. */
  async function readableJob(req: FastifyRequest, raw: string, action: Action = 'read-job'): Promise<Job> {
    const id = parseJobIdParam(raw);
    const job = await svc.job(id);
    if (!job) throw new NotFoundError(`job ${id} not found`, ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."]);
    allow(who(req), action, { job });
    return job;
  }
  const retention = opts.retention ?? DEFAULT_RETENTION_RULE;

  /**
   * The options of a deletion asked through the API: `?after=7d` (0: now) or the site's default,
   * as the policy's retention rule allows them (an owner: at least its minimum, no override flags).
   */
  function retentionFor(req: FastifyRequest, extras: DeletionOptions): DeletionOptions {
    const terms = deletionTerms(who(req), extras, retention);
    if (!terms.allowed && terms.refusal === 'overrides') throw new UsageError('an owner token cannot pass force, allowMissing or allowClusterScoped');
    if (!terms.allowed) {
      throw new UsageError(`an account owner's deletion waits at least ${formatRetention(terms.minMs)} (after=${formatRetention(terms.afterMs)} is shorter): it is never immediate`, [
        `Ask for after=${formatRetention(terms.minMs)} or more, or leave after out for the site's retention period.`,
      ]);
    }
    const { afterMs: _asked, ...rest } = extras;
    return terms.afterMs !== undefined ? { ...rest, afterMs: terms.afterMs } : rest;
  }

  // ---- health --------------------------------------------------------------------------------

  app.get('/healthz', { config: { role: null } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { role: 'viewer' } }, async (_req, reply) => {
    const problems = await svc.problems();
    if (problems.length) return reply.code(500).send({ error: 'internal', message: `not ready: ${problems.join('; ')}` });
    return { status: 'ready', store: svc.where(), queue: svc.queueKind };
  });

  // Prometheus scrapes with a viewer token (`authorization: {credentials_file: …}`): the series
  // hold no customer data, but the API's rule stays one rule — only /healthz is open.
  const metrics = opts.metrics;
  if (metrics) {
    app.get('/metrics', { config: { role: 'viewer' } }, async (_req, reply) => reply.header('content-type', metrics.contentType).send(await metrics.text()));
  }

  // ---- customers -----------------------------------------------------------------------------

  app.delete<{ Params: { id: string }; Querystring: Query }>(
    '/api/customers/:id',
    { config: { role: 'admin', owner: true, conflictStatus: 400 } },
    async (req) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'submit', { customerId: customer.id });
      const extras = retentionFor(req, fromQuery(req.query));
      const job = await svc.submit(customer, requestedBy(req), extras);
      if (job.data.scheduledFor !== undefined) {
        const at = new Date(job.data.scheduledFor).toISOString();
        log.info('Deletion scheduled', { customerId: customer.id, job: job.id, deletesAt: at, by: req.principal?.name });
        return {
          message: SCHEDULED_MESSAGE,
          customerId: customer.id,
          jobId: job.id,
          status: 'scheduled',
          scheduledFor: at,
          note: `The instance is suspended now; its data will be deleted at ${at}. Cancel before then with POST /api/customers/${customer.id}/cancel-deletion.`,
        };
      }
      log.info('Deletion queued', { customerId: customer.id, job: job.id, by: req.principal?.name });
      return { message: QUEUED_MESSAGE, customerId: customer.id, jobId: job.id, status: 'pending', note: QUEUED_NOTE };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/customers/:id/cancel-deletion',
    { config: { role: 'admin', owner: true } },
    async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      allow(who(req), 'cancel', { customerId: customer.id });
      if (!svc.cancel) return reply.code(501).send({ error: 'internal', message: 'cancelling deletions is not available on this server' });
      const r = await svc.cancel({ customer }, cancellerOf(req.principal));
      log.info('Deletion cancelled', { customerId: customer.id, job: r.jobId, status: r.status ?? undefined, restored: r.restored.length, deletionStarted: r.deletionStarted || undefined, by: req.principal?.name });
      return { ...r, job: jobFor(req)(r.job) };
    },
  );

  app.delete<{ Params: { id: string }; Querystring: Query }>(
    '/api/customers/:id/deployment',
    { config: { role: 'admin', conflictStatus: 400 } },
    async (req, reply) => {
      const customer = parseCustomerId(req.params.id);
      if (fromQuery({ after: req.query.after }).afterMs !== undefined) throw new UsageError('the synchronous endpoint deletes now: schedule a deletion with DELETE /api/customers/:id?after=7d');
      // synchronous means now, whatever the site's default retention
      const extras = { ...fromQuery(req.query), afterMs: 0 };
      const job = await svc.submit(customer, requestedBy(req), extras);
      log.info('Deletion started (synchronous)', { customerId: customer.id, job: job.id, by: req.principal?.name });
      // not tied to the request: a client that goes away leaves the job running to its end
      const run = svc.runSync(job);
      run.catch((e: unknown) => log.error(`job ${job.id}: synchronous run failed`, { error: errorMessage(e) }));
      const final = await run;
      const { status, error } = syncStatus(final);
      const firstLine = (final.failedReason ?? '').split('\n')[0] ?? '';
      return reply.code(status).send({
        customerId: customer.id,
        jobId: final.id,
        state: final.state,
        progress: final.progress,
        result: final.returnvalue ?? null,
        failedReason: final.failedReason,
        simulated: final.simulated,
        ...(error ? { error, message: firstLine || `job ${final.id} ${final.state}` } : {}),
        ...(status === 202 ? { message: `job ${final.id} is ${final.state}: the server is shutting down; another worker will finish it` } : {}),
      });
    },
  );

  app.get<{ Params: { id: string } }>('/api/customers/:id', { config: { role: 'viewer', owner: true } }, async (req) => {
    const customer = parseCustomerId(req.params.id);
    allow(who(req), 'read-customer', { customerId: customer.id });
    const row = await svc.row(customer.id);
    if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${svc.where()}`);
    const jobs = await svc.latestJobs(customer.id);
    return { customer: rowView(who(req), row), jobs: jobs.map(jobFor(req)) };
  });

  // the rows (customers list --api-url); an owner gets its own row only
  app.get<{ Querystring: Query }>('/api/customers', { config: { role: 'viewer', owner: true } }, async (req) => {
    const status = req.query.status;
    if (status !== undefined && !(DEPLOYMENT_STATUSES as readonly string[]).includes(status)) throw new UsageError(`status must be one of ${DEPLOYMENT_STATUSES.join(', ')}`);
    const p = who(req);
    const own = jobsScope(p, undefined);
    const rows = p.role === 'owner' ? [await svc.row(own ?? '')].filter((r) => r !== null).map((r) => rowView(p, r)) : await svc.rows();
    return rows.filter((r) => status === undefined || r.deploymentStatus === status);
  });

  // ---- jobs ----------------------------------------------------------------------------------

  app.get<{ Querystring: Query }>('/api/admin/jobs', { config: { role: 'viewer', owner: true } }, async (req) => {
    // the states as people read them: `failed` leaves out the cancelled jobs, `delayed` the scheduled deletions
    const state = req.query.state;
    if (state !== undefined && !isStateName(state)) throw new UsageError(`state must be one of ${STATE_NAMES.join(', ')}`);
    const asked = req.query.customer !== undefined ? parseCustomerId(req.query.customer) : undefined;
    if (asked) allow(who(req), 'list-jobs', { customerId: asked.id });
    // an owner lists its own customer's jobs, whatever it asked for
    const customerId = jobsScope(who(req), asked?.id);
    return (await svc.jobs({ ...(state ? { state } : {}), ...(customerId ? { customerId } : {}) })).map(jobFor(req));
  });

  // another customer's job reads to an owner exactly as a job that does not exist
  app.get<{ Params: { id: string } }>('/api/admin/jobs/:id', { config: { role: 'viewer', owner: true } }, async (req) => jobFor(req)(await readableJob(req, req.params.id)));

  // webhook deliveries of a job (who was told, status code, attempts): read as the job is; an
  // owner learns only that its customer's deliveries exist, not where they go
  app.get<{ Params: { id: string } }>('/api/admin/jobs/:id/deliveries', { config: { role: 'viewer', owner: true } }, async (req) => {
    const job = await readableJob(req, req.params.id, 'deliveries');
    const deliveries = (await svc.deliveries(job.id)).map((x) => deliveryJson(x as DeliveryView));
    return { jobId: job.id, deliveries: deliveries.map((x) => deliveryView(who(req), x)) };
  });

  // the job's signed deletion certificate (the file `certificate verify` reads; ?format=text|html renders it).
  // Staff only: a signed document cannot be trimmed for an owner, and it names the backup target
  // and the cluster RBAC, which owner views never show; the customer portal decides what a customer gets.
  app.get<{ Params: { id: string }; Querystring: Query }>('/api/admin/jobs/:id/certificate', { config: { role: 'viewer' } }, async (req, reply) => {
    const job = await readableJob(req, req.params.id);
    const format = req.query.format ?? 'json';
    if (!['json', 'text', 'html'].includes(format)) throw new UsageError('format must be json, text or html');
    const [{ jobCertificate }, { certificateHtml, certificateText }] = await Promise.all([import('../jobs/certificate-of-job.js'), import('../domain/certificate.js')]);
    const doc = jobCertificate(job);
    const note = 'Shown, not verified: check it with custctl certificate verify.';
    if (format === 'html') return reply.header('content-type', 'text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'").send(certificateHtml(doc, note));
    if (format === 'text') return reply.header('content-type', 'text/plain; charset=utf-8').send(certificateText(doc, note));
    return doc;
  });

  app.post<{ Params: { id: string } }>('/api/admin/jobs/:id/retry', { config: { role: 'admin' } }, async (req) => {
    const job = await svc.retry(parseJobIdParam(req.params.id), requestedBy(req));
    log.info(`Job ${job.id} queued again`, { by: req.principal?.name });
    return jobJson(job);
  });

  // the job, as GET answers it, plus what the cancel did (`cancel`: the row's status, what was restored)
  app.post<{ Params: { id: string } }>('/api/admin/jobs/:id/cancel', { config: { role: 'admin' } }, async (req, reply) => {
    const id = parseJobIdParam(req.params.id);
    if (!svc.cancel) return reply.code(501).send({ error: 'internal', message: 'cancelling jobs is not available on this server' });
    const { job, ...done } = await svc.cancel({ jobId: id }, cancellerOf(req.principal));
    log.info(`Job ${job.id} cancelled`, { customerId: done.customerId ?? undefined, status: done.status ?? undefined, restored: done.restored.length, by: req.principal?.name });
    return { ...jobJson(job), cancel: done };
  });

  // ---- audit ---------------------------------------------------------------------------------

  app.get<{ Querystring: Query }>('/api/admin/audit', { config: { role: 'viewer' } }, async (req) => {
    const q = req.query;
    const customerId = q.customer !== undefined ? parseCustomerId(q.customer).id : undefined;
    const since = q.since !== undefined ? parseTimePoint(q.since, new Date(svc.now()), 'since') : undefined;
    const actions = (q.action ?? '').split(',').map((a) => a.trim()).filter(Boolean);
    for (const a of actions) if (!(AUDIT_ACTIONS as readonly string[]).includes(a)) throw new UsageError(`action must be one of ${AUDIT_ACTIONS.join(', ')}`);
    const limit = q.limit !== undefined ? Number(q.limit) : 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new UsageError('limit must be a whole number from 1 to 100000');
    return svc.audit({ ...(customerId ? { customerId } : {}), ...(since ? { since } : {}), actions, limit });
  });

  // ---- erasure -------------------------------------------------------------------------------

  app.post<{ Params: { id: string }; Querystring: Query }>('/api/admin/customers/:id/erase', { config: { role: 'admin' } }, async (req, reply) => {
    const customer = parseCustomerId(req.params.id);
    const dryRun = boolParam('dryRun', req.query.dryRun) ?? false;
    if (!svc.erase) return reply.code(501).send({ error: 'internal', message: 'erasure is not available on this server' });
    const result = await svc.erase(customer, requestedBy(req), dryRun);
    log.info(dryRun ? `Erasure of ${customer.id} planned` : `Customer ${customer.id} erased`, { by: req.principal?.name });
    return result;
  });

  // ---- cleanup-rbac --------------------------------------------------------------------------

  app.post<{ Querystring: Query }>('/api/admin/cleanup-rbac', { config: { role: 'admin' } }, async (req, reply) => {
    const dryRun = boolParam('dryRun', req.query.dryRun) ?? false;
    const includeKept = boolParam('includeKept', req.query.includeKept) ?? false;
    const customer = req.query.customer !== undefined ? parseCustomerId(req.query.customer) : undefined;
    // one cluster of the server's fleet (its name is checked against the fleet by the sweep: unknown → 400 naming them)
    const cluster = req.query.cluster;
    if (cluster !== undefined && !CLUSTER_NAME.test(cluster)) throw new UsageError("query parameter cluster must be a cluster's name (a DNS label)");
    if (!svc.cleanupRbac) return reply.code(501).send({ error: 'internal', message: 'cleanup-rbac is not available on this server' });
    const result = await svc.cleanupRbac(dryRun, requestedBy(req), { includeKept, ...(customer ? { customer } : {}), ...(cluster !== undefined ? { cluster } : {}) });
    return { dryRun, result };
  });

  // a group of routes of its own (the console; the same way, e.g. a customer portal) takes the one
  // service `svc` and asks src/service/policy.ts who may do what
  if (opts.console) registerConsole(app, svc, opts, opts.console, { failures, ownerSecrets, quiet: (req) => authFailureLogged.add(req) });
  if (opts.portal) registerPortal(app, svc, opts, opts.portal, { failures, ownerSecrets, quiet: (req) => authFailureLogged.add(req) });
  return app;
}

