/**
 * A Stripe-protocol server on loopback for tests: the official `stripe` SDK talks to it through its
 * `host` / `port` / `protocol` options (plain HTTP on 127.0.0.1). No Stripe server is reachable from
 * the test machines and the published mocks cannot cancel a subscription, so this is what the
 * billing adapter is proven against. It implements exactly the endpoints the adapter calls
 * (test/env/stripe/routes.ts) and checks, in Stripe's order of layers:
 *
 * 1. routing: an unknown URL is 404 `Unrecognized request URL`;
 * 2. authentication: `Authorization: Bearer <key>` (or Basic with the key as user name); none,
 *    an unknown, expired or publishable key is 401;
 * 3. injected faults (`inject`): 429 / 5xx before the idempotency layer, with `Stripe-Should-Retry`
 *    and `Retry-After` as asked; latency;
 * 4. encoding: POST bodies must be `application/x-www-form-urlencoded`; brackets nest (`a[b]`,
 *    `a[0]`, `a[]`); GET and DELETE carry their parameters in the query string;
 * 5. a restricted key lacking the endpoint's (or an expansion's) permission is 403;
 * 6. parameters: unknown → 400 `parameter_unknown`, missing → `parameter_missing`, … (schema.ts);
 * 7. idempotency (POST only; Stripe says keys on GET and DELETE have no effect): the first answer
 *    of an executed request is saved and replayed (`Idempotent-Replayed: true`), 400 errors of the
 *    endpoint included; the same key with other parameters or another endpoint is 400
 *    `idempotency_error`; while the first is still running, 409 `idempotency_key_in_use`; keys are
 *    pruned after 24 hours of the server's clock;
 * 8. the endpoint runs on the state (test/env/stripe/state.ts); `after` faults then lose or replace
 *    its answer (the operation happened, the client does not learn it).
 *
 * Every request is logged (`requests`) and every mutation counted (`state.events`).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { StripeHttpError, maskKey } from './stripe/errors.js';
import { decodeForm, decodePairs, type FormHash } from './stripe/form.js';
import { expansionPermissions, matchRoute, render, type Permission, type Route } from './stripe/routes.js';
import { checkParams } from './stripe/schema.js';
import { StripeState, makeClock, type Clock } from './stripe/state.js';

export type { Permission } from './stripe/routes.js';
export { StripeState } from './stripe/state.js';

export interface ApiKey {
  /** 'all' for a secret key (sk_…); a list for a restricted key (rk_…); write implies read */
  permissions: 'all' | Permission[];
  /** 401 api_key_expired */
  expired?: boolean;
}

export interface FaultRule {
  method?: 'GET' | 'POST' | 'DELETE';
  /** a path prefix, or a pattern tested against the path (no query) */
  path?: string | RegExp;
  /** how many matching requests it applies to (default 1) */
  times?: number;
  /** answer this status before anything runs (429 or 5xx; 409 for a lock) */
  status?: number;
  /** `Stripe-Should-Retry` header: default true for 5xx and 409, absent for 429 */
  shouldRetry?: boolean | null;
  /** `Retry-After` header, seconds */
  retryAfter?: number;
  /** the error's code (429: `rate_limit` unless given, e.g. `lock_timeout`) */
  code?: string;
  /** wait this long before anything runs (with or without a status) */
  latencyMs?: number;
  /** the endpoint itself takes this long (inside the idempotency layer: a second request with the key meets 409) */
  runMs?: number;
  /**
   * the request runs, then its answer is lost: `drop` closes the connection without an answer;
   * `error` answers 500 with `Stripe-Should-Retry: false` and saves that 500 under the
   * idempotency key (Stripe's documented behaviour for a failure after execution began)
   */
  after?: 'drop' | 'error';
}

export interface LoggedRequest {
  method: string;
  path: string;
  query: string;
  params: FormHash;
  status: number;
  idempotencyKey: string | null;
  replayed: boolean;
  fault: string | null;
  stripeVersion: string | null;
  userAgent: string | null;
}

export interface StripeServerOptions {
  /** keys the server accepts; default one secret key `sk_test_custctl_full_access` */
  keys?: Record<string, ApiKey>;
  clock?: Clock;
  /** idempotency keys are pruned after this long (default 24 h of the server's clock) */
  idempotencyTtlSeconds?: number;
  livemode?: boolean;
  account?: string;
}

export interface StripeServer {
  /** http://127.0.0.1:<port> */
  url: string;
  host: string;
  port: number;
  protocol: 'http';
  state: StripeState;
  clock: Clock;
  keys: Record<string, ApiKey>;
  requests: LoggedRequest[];
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** the requests whose method and path match */
  requestsTo(method: string, path: string | RegExp): LoggedRequest[];
  stop(): Promise<void>;
}

export const FULL_ACCESS_KEY = 'sk_test_custctl_full_access';

interface SavedAnswer { fingerprint: string; at: number; status: number; body: string; headers: Record<string, string>; running: boolean }

export async function startStripeServer(o: StripeServerOptions = {}): Promise<StripeServer> {
  const clock = o.clock ?? makeClock();
  const state = new StripeState(clock, o.livemode ?? false);
  const keys: Record<string, ApiKey> = o.keys ?? { [FULL_ACCESS_KEY]: { permissions: 'all' } };
  const account = o.account ?? 'acct_custctltest';
  const ttl = o.idempotencyTtlSeconds ?? 24 * 3600;
  const faults: Array<FaultRule & { left: number }> = [];
  const saved = new Map<string, SavedAnswer>();
  const requests: LoggedRequest[] = [];
  const sockets = new Set<Socket>();
  let reqSeq = 0;

  const takeFault = (method: string, path: string): (FaultRule & { left: number }) | undefined => {
    const f = faults.find((r) => r.left > 0 && (r.method === undefined || r.method === method)
      && (r.path === undefined || (typeof r.path === 'string' ? path.startsWith(r.path) : r.path.test(path))));
    if (f) f.left--;
    return f;
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = `req_${(++reqSeq).toString().padStart(8, '0')}`;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const header = (n: string) => { const v = req.headers[n]; return Array.isArray(v) ? v[0] ?? null : v ?? null; };
    const idemKey = method === 'POST' ? header('idempotency-key') : null;
    const entry: LoggedRequest = {
      method, path: url.pathname, query: url.search, params: {}, status: 0, idempotencyKey: header('idempotency-key'), replayed: false, fault: null,
      stripeVersion: header('stripe-version'), userAgent: header('user-agent'),
    };
    requests.push(entry);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      const text = JSON.stringify(payload, null, 2);
      res.writeHead(status, {
        'content-type': 'application/json', 'request-id': requestId, 'stripe-version': entry.stripeVersion ?? '2026-11-18.endive',
        ...(idemKey ? { 'idempotency-key': idemKey } : {}), ...headers,
      });
      res.end(text);
      return text;
    };
    const sendError = (e: StripeHttpError) => send(e.status, { error: { ...e.error, request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}` } }, e.headers);

    try {
      const body = await readBody(req);
      // 1. routing
      const found = matchRoute(method, url.pathname);
      if (found === null || !('route' in found)) {
        throw new StripeHttpError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.` });
      }
      const { route, ids } = found;
      // 2. authentication
      const key = apiKeyOf(header('authorization'));
      if (key === null) {
        throw new StripeHttpError(401, { type: 'invalid_request_error', message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/." });
      }
      if (/^pk_/.test(key)) throw new StripeHttpError(401, { type: 'invalid_request_error', code: 'secret_key_required', message: 'This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.' });
      const known = Object.hasOwn(keys, key) ? keys[key] : undefined;
      if (!known) throw new StripeHttpError(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${maskKey(key)}` });
      if (known.expired) throw new StripeHttpError(401, { type: 'invalid_request_error', code: 'api_key_expired', message: `Expired API Key provided: ${maskKey(key)}` });
      // 3. faults before the API runs (rate limiters and load balancers sit in front of idempotency)
      const fault = takeFault(method, url.pathname);
      if (fault?.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
      if (fault?.status !== undefined) {
        entry.fault = String(fault.status);
        throw injected(fault);
      }
      // 4. encoding
      if (method === 'POST') {
        const ct = (header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        if (ct !== 'application/x-www-form-urlencoded' && !(ct === '' && body === '')) {
          throw new StripeHttpError(400, { type: 'invalid_request_error', message: `Invalid request: unsupported Content-Type ${ct || '(none)'}. If error persists and you need assistance, please contact support@stripe.com.` });
        }
      } else if (body !== '') {
        throw new StripeHttpError(400, { type: 'invalid_request_error', message: `Invalid request: a ${method} request carries its parameters in the query string, not in a body.` });
      }
      const raw = decodeForm(method === 'POST' ? [...decodePairs(url.search.slice(1)), ...decodePairs(body)] : decodePairs(url.search.slice(1)));
      entry.params = raw;
      // 5. permissions (a restricted key), 6. parameters
      const params = checkParams(raw, route.params);
      const expand = (params.expand as string[] | undefined) ?? [];
      checkPermission(known, key, [route.permission, ...expansionPermissions(route, expand)], account);
      // 7. idempotency
      const fingerprint = JSON.stringify([method, url.pathname, raw]);
      const slot = idemKey ? `${account}\u0000${idemKey}` : null;
      if (slot) {
        if (idemKey && idemKey.length > 255) throw new StripeHttpError(400, { type: 'invalid_request_error', message: 'Idempotency keys can be at most 255 characters long.' });
        const prior = saved.get(slot);
        if (prior && clock.now() - prior.at >= ttl) saved.delete(slot);
        const still = saved.get(slot);
        if (still) {
          if (still.running) {
            throw new StripeHttpError(409, { type: 'idempotency_error', code: 'idempotency_key_in_use', message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${idemKey}. Please try again later.` });
          }
          if (still.fingerprint !== fingerprint) {
            throw new StripeHttpError(400, { type: 'idempotency_error', message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idemKey}' if you meant to execute a different request.` });
          }
          entry.replayed = true;
          entry.status = still.status;
          res.writeHead(still.status, { ...still.headers, 'request-id': requestId, 'idempotent-replayed': 'true' });
          res.end(still.body);
          return;
        }
        saved.set(slot, { fingerprint, at: clock.now(), status: 0, body: '', headers: {}, running: true });
      }
      // 8. the endpoint
      if (fault?.runMs) await new Promise((r) => setTimeout(r, fault.runMs));
      let status = 200;
      let payload: unknown;
      let extra: Record<string, string> = {};
      try {
        payload = run(route, ids, params, expand);
      } catch (e) {
        if (!(e instanceof StripeHttpError)) {
          if (slot) saved.delete(slot);
          throw e;
        }
        status = e.status;
        payload = { error: { ...e.error, request_log_url: `https://dashboard.stripe.com/test/logs/${requestId}` } };
        extra = e.headers;
      }
      if (fault?.after === 'error') {
        entry.fault = 'after:error';
        status = 500;
        payload = { error: { type: 'api_error', message: 'An unknown error occurred' } };
        extra = { 'stripe-should-retry': 'false' };
      }
      const text = JSON.stringify(payload, null, 2);
      if (slot) {
        saved.set(slot, {
          fingerprint, at: clock.now(), status, body: text, running: false,
          headers: { 'content-type': 'application/json', 'stripe-version': entry.stripeVersion ?? '2026-11-18.endive', 'idempotency-key': idemKey as string, ...extra },
        });
      }
      if (fault?.after === 'drop') {
        entry.fault = 'after:drop';
        entry.status = -1;
        req.socket.destroy();
        return;
      }
      send(status, payload, extra);
    } catch (e) {
      if (e instanceof StripeHttpError) {
        sendError(e);
        return;
      }
      send(500, { error: { type: 'api_error', message: `test server bug: ${e instanceof Error ? e.stack ?? e.message : String(e)}` } });
    }
  }

  function run(route: Route, ids: string[], params: Record<string, unknown>, expand: string[]): unknown {
    const obj = route.handle({ state, params: params as never, ids });
    return render(state, obj, expand, route);
  }

  const server = http.createServer((req, res) => {
    // a client killed mid-request: what the server still writes goes nowhere
    res.on('error', () => {});
    req.on('error', () => {});
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: String(e) } }));
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, host: '127.0.0.1', port, protocol: 'http', state, clock, keys, requests,
    inject: (rule) => { faults.push({ ...rule, left: rule.times ?? 1 }); },
    clearFaults: () => { faults.length = 0; },
    requestsTo: (m, p) => requests.filter((r) => r.method === m && (typeof p === 'string' ? r.path === p : p.test(r.path))),
    stop: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 1024 * 1024) {
        reject(new StripeHttpError(413, { type: 'invalid_request_error', message: 'Request body too large' }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function apiKeyOf(authorization: string | null): string | null {
  if (!authorization) return null;
  const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (bearer) return bearer[1] as string;
  const basic = /^Basic\s+(\S+)$/i.exec(authorization);
  if (basic) {
    const user = Buffer.from(basic[1] as string, 'base64').toString('utf8').split(':')[0] ?? '';
    return user === '' ? null : user;
  }
  return null;
}

function checkPermission(key: ApiKey, raw: string, needed: Permission[], account: string): void {
  if (key.permissions === 'all') return;
  for (const p of needed) {
    const [resource, level] = [p.slice(0, p.lastIndexOf('_')), p.slice(p.lastIndexOf('_') + 1)];
    const has = key.permissions.includes(p) || (level === 'read' && key.permissions.includes(`${resource}_write` as Permission));
    if (!has) {
      throw new StripeHttpError(403, {
        type: 'invalid_request_error',
        message: `The provided key '${maskKey(raw)}' does not have the required permissions for this endpoint on account '${account}'. Having the 'rak_${p}' permission would allow this request to continue.`,
      });
    }
  }
}

function injected(f: FaultRule): StripeHttpError {
  const status = f.status as number;
  const headers: Record<string, string> = {};
  const should = f.shouldRetry !== undefined ? f.shouldRetry : status >= 500 || status === 409 ? true : null;
  if (should !== null) headers['stripe-should-retry'] = String(should);
  if (f.retryAfter !== undefined) headers['retry-after'] = String(f.retryAfter);
  if (status === 429) {
    const code = f.code ?? 'rate_limit';
    return new StripeHttpError(429, {
      type: 'invalid_request_error', code,
      message: code === 'lock_timeout'
        ? 'This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request.'
        : 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
    }, headers);
  }
  if (status === 409) return new StripeHttpError(409, { type: 'invalid_request_error', code: f.code ?? 'lock_timeout', message: 'This object cannot be accessed right now because another API request or Stripe process is currently accessing it.' }, headers);
  return new StripeHttpError(status, { type: 'api_error', ...(f.code ? { code: f.code } : {}), message: status === 503 ? 'The service is temporarily unavailable. Please try again later.' : 'An unknown error occurred' }, headers);
}
