/**
 * The queue API (`custctl serve`) over fastify: the deletion endpoints (DELETE /api/customers/:id,
 * GET /api/jobs/:id, …) and the admin API (src/server/api-routes.ts), the console and the portal.
 * Thin: every rule lives in the service and its policy; this module authenticates each request,
 * logs it, registers the route groups and maps errors to `{error, message}`.
 *
 * fastify: maintained, fast, first-class TypeScript, `inject()` for tests without a socket, and a
 * single error handler. Its own logger is off: requests are logged here through the Reporter,
 * with the token's name and never a header.
 */
import fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import { CliError, errorMessage, httpStatusForErrorName, type ErrorName, UnauthorizedError } from '../errors.js';
import { authorize, type Principal, type Role } from './auth.js';
import { AUTH_FAILURE_LIMITS, AuthFailures } from './auth-failures.js';
import { serverService, type ServerParts, type ServerService } from '../service/server-service.js';
import { registerApi } from './api-routes.js';
import { registerConsole, type ConsoleOptions } from './console/index.js';
import { registerPortal, type PortalOptions } from './portal/index.js';
import type { RouteSettings } from './settings.js';
import { errorForOwner, ownerNotFound } from '../service/policy.js';

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

  // the API: customers, jobs, audit, erasure, cleanup-rbac
  registerApi(app, svc, opts);

  // a group of routes of its own (the console; the same way, e.g. a customer portal) takes the one
  // service `svc` and asks src/service/policy.ts who may do what
  if (opts.console) registerConsole(app, svc, opts, opts.console, { failures, ownerSecrets, quiet: (req) => authFailureLogged.add(req) });
  if (opts.portal) registerPortal(app, svc, opts, opts.portal, { failures, ownerSecrets, quiet: (req) => authFailureLogged.add(req) });
  return app;
}

