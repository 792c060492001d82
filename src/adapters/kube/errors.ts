/**
 * The API server's refusals and the network's failures, translated into the typed errors of
 * src/errors.ts (naming the object, the server and the next step), and the verdict on each failed
 * request: worth another try or not.
 */
import type http from 'node:http';
import { ConflictError, OperationError, UsageError, errorMessage } from '../../errors.js';
import { networkVerdict, parseRetryAfter, type RetryPolicy, type Verdict } from '../retry.js';

/** A request that gets no answer within this time fails (watches excepted: they have timeoutSeconds). */
export const REQUEST_TIMEOUT_MS = 60_000;

/** A non-2xx answer: `code`, `body` (text) and `headers`, the shape translateError and requestVerdict read. */
export class ApiStatusError extends Error {
  constructor(readonly code: number, readonly body: string, readonly headers: http.IncomingHttpHeaders) {
    super(`HTTP ${code}`);
  }
}

export interface Op {
  /** get, delete, list, watch */
  verb: string;
  /** `namespace customer-abc`, `clusterroles` */
  what: string;
  /** instead of the client's policy (KUBE_RETRY) */
  retry?: RetryPolicy;
}

export interface K8sStatus { message?: string; reason?: string; code?: number }

export function statusOf(body: unknown): K8sStatus {
  let v = body;
  if (typeof v === 'string') {
    const text = v;
    try {
      v = JSON.parse(text);
    } catch {
      return text.trim() ? { message: text.trim() } : {};
    }
  }
  if (typeof v !== 'object' || v === null) return {};
  const s = v as Record<string, unknown>;
  const out: K8sStatus = {};
  if (typeof s.message === 'string') out.message = s.message;
  if (typeof s.reason === 'string') out.reason = s.reason;
  if (typeof s.code === 'number') out.code = s.code;
  return out;
}

/**
 * `clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "bob" cannot delete resource
 * "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope` →
 * `permission denied: cannot delete clusterroles.rbac.authorization.k8s.io (user bob)`.
 * Returns null when the message is not an RBAC refusal.
 */
export function permissionDeniedMessage(statusMessage: string): string | null {
  const m = /User "([^"]*)" cannot ([\w-]+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)")?/.exec(statusMessage);
  if (!m) return null;
  const [, user, verb, resource, group, namespace] = m;
  const qualified = group ? `${resource}.${group}` : resource;
  const where = namespace ? ` in namespace ${namespace}` : '';
  return `permission denied: cannot ${verb} ${qualified}${where} (user ${user})`;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

function errorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const errno = (e as { errno?: unknown }).errno;
  return typeof errno === 'string' ? errno : undefined;
}

function isTlsCode(code: string): boolean {
  return /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/.test(code);
}

export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError';
}

export interface ErrorContext { server: string; context: string; user?: string }

/** Turns an API answer (ApiStatusError or anything with a numeric `code`) / a network failure into a typed error. 404 is the caller's business. */
export function translateError(e: unknown, op: Op, t: ErrorContext): Error {
  if (e instanceof OperationError || e instanceof ConflictError || e instanceof UsageError) return e;
  const at = `the API server ${t.server} (context ${t.context})`;
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    const code = (e as { code: number }).code;
    const st = statusOf((e as { body?: unknown }).body);
    const msg = st.message ?? `HTTP ${code}`;
    if (code === 403) {
      return new OperationError(permissionDeniedMessage(msg) ?? `permission denied: cannot ${op.verb} ${op.what}: ${msg}`, [
        `${at} refused: ${msg}`,
        'ask a cluster admin for the RBAC permission, or use a context with it (--context)',
      ], { permanent: true });
    }
    if (code === 401) {
      return new OperationError(`${at} rejected the credentials of user ${t.user ?? '(none)'} (401 Unauthorized) on ${op.verb} ${op.what}`, [
        'refresh your credentials or fix the user in the kubeconfig',
      ], { permanent: true });
    }
    if (code === 404) {
      // the callers that expect a 404 (get, delete) handle it before; here it is a path the server does not serve
      return new OperationError(`cannot ${op.verb} ${op.what}: ${at} does not serve this API (404)`, [
        'the cluster is older or newer than custctl expects, or an aggregated API is not installed',
      ], { cause: e, permanent: true });
    }
    if (code === 409) return new ConflictError(`cannot ${op.verb} ${op.what}: ${msg}`, [], { cause: e });
    return new OperationError(`cannot ${op.verb} ${op.what}: ${msg} (HTTP ${code} from ${at})`, [], { cause: e });
  }
  const code = errorCode(e);
  if (code && NETWORK_CODES.has(code)) {
    return new OperationError(`cannot reach ${at}: ${code}`, [errorMessage(e), 'check that the cluster is up and that --context / KUBECONFIG point at it']);
  }
  if (code && isTlsCode(code)) {
    return new OperationError(`TLS error talking to ${at}: ${code}`, [errorMessage(e), 'check the certificate-authority of the cluster in the kubeconfig'], { permanent: true });
  }
  return new OperationError(`cannot ${op.verb} ${op.what} on ${at}: ${errorMessage(e)}`);
}

/** Answers worth another try: the server is overloaded, restarting or briefly broken (client-go's list). */
const RETRY_STATUS = new Set([429, 500, 502, 503, 504]);

/** A request that got no answer within REQUEST_TIMEOUT_MS (retried like a reset). */
export class RequestTimeout extends Error {}

function headerOf(e: unknown, name: string): string | undefined {
  const headers = typeof e === 'object' && e !== null ? (e as { headers?: unknown }).headers : undefined;
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const [k, v] of Object.entries(headers as Record<string, unknown>)) {
    if (k.toLowerCase() === name && typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * Whether one failed request (before translation) is worth another try, and when (Retry-After).
 * Connection failures as retry.ts's networkVerdict: a reset or a timeout always; refused or no such
 * host only when the API server answered earlier in this process (`answeredBefore`): an API server
 * that restarts refuses connections for a few seconds, while one that never answered is most
 * likely a wrong address or a cluster that is down, and the operator should hear so at once.
 */
export function requestVerdict(e: unknown, answeredBefore = true): Verdict {
  if (e instanceof RequestTimeout) return { retry: true, why: `no answer within ${REQUEST_TIMEOUT_MS / 1000}s` };
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number') {
    const code = (e as { code: number }).code;
    if (!RETRY_STATUS.has(code)) return { retry: false };
    const afterMs = parseRetryAfter(headerOf(e, 'retry-after'));
    return { retry: true, why: `HTTP ${code}`, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  return networkVerdict(errorCode(e), answeredBefore);
}

/** `HTTP 503: service unavailable` for an API answer, else the message: for one line of a report. */
export function shortReason(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  if (typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'number') {
    const code = (cause as { code: number }).code;
    const msg = statusOf((cause as { body?: unknown }).body).message;
    return msg ? `HTTP ${code}: ${msg}` : `HTTP ${code}`;
  }
  return errorMessage(e);
}

export function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 404;
}

/** A continue token etcd no longer has (410 Gone, translated by the client's call). */
export const isExpired = (e: unknown): boolean => e instanceof OperationError && / \(HTTP 410 /.test(e.message);
