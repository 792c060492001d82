/**
 * One client of one API server: the wire (transport.ts) with the credentials of the kubeconfig's
 * user (credentials.ts), every request tried again on transient faults (src/adapters/retry.ts's
 * KUBE_RETRY) within the caller's AbortSignal and a per-request timeout, and every foreign
 * failure translated into a typed error (errors.ts). The resource families (resources/*) speak
 * to the API server only through it.
 */
import { OperationError, errorMessage } from '../../errors.js';
import { KUBE_RETRY, withRetries, type RetryPolicy } from '../retry.js';
import type { ClusterTarget } from '../kube.js';
import { clientNodeOptions, execSource, plainCredentials, plainOptions } from './credentials.js';
import {
  REQUEST_TIMEOUT_MS, RequestTimeout, isAbortError, isNotFound, requestVerdict, translateError, type ErrorContext, type Op,
} from './errors.js';
import type { LoadedKubeconfig } from './kubeconfig.js';
import type { OpenKubeOptions } from './options.js';
import { openWire, type Query, type Wire } from './transport.js';
import { raceSignal } from '../../util/race-signal.js';

export interface Client extends Pick<Wire, 'send' | 'sendStreamed' | 'watchOnce' | 'answered'> {
  readonly target: ClusterTarget;
  readonly errCtx: ErrorContext;
  /** the client's retry policy (KUBE_RETRY unless the caller gave one) */
  readonly retryPolicy: RetryPolicy;
  /**
   * Counting a namespace's objects (the plan, a timeout's diagnosis) reports a failing group
   * instead of failing: an aggregated API that is down (metrics.k8s.io) gets a short try only.
   */
  readonly diagnosisRetry: RetryPolicy;
  /**
   * One request, tried again on transient faults (429, 5xx, resets, no answer) as the policy says,
   * within the caller's signal. Every call custctl makes is idempotent: reads, lists, and deletes
   * whose 404 the caller counts as done. 404 goes to the caller untranslated. `seen.tries`: the
   * try that answered.
   */
  call<T>(op: Op, signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T>;
  /** `call`, with 404 answered by `notFound`. */
  callOr<T, N>(op: Op, signal: AbortSignal | undefined, notFound: N, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T | N>;
  /** A GET of any path (discovery, any resource's list), `accept` as given. */
  get(urlPath: string, query: Query, accept: string, signal: AbortSignal | undefined, op: Op): Promise<unknown>;
  /** Any method on any path; a body is sent as JSON. */
  request(method: string, urlPath: string, query: Query, accept: string, body: unknown, signal: AbortSignal | undefined, op: Op): Promise<unknown>;
  /** The bearer token of an exec plugin credential (fetched once per expiry); null for any other credential. */
  pluginToken(signal?: AbortSignal): Promise<string | null>;
  /** Closes idle connections. */
  close(): void;
}

export function openClient(loaded: LoadedKubeconfig, opts: OpenKubeOptions): Client {
  const { target } = loaded;
  const errCtx: ErrorContext = { server: target.server, context: target.context, ...(target.user ? { user: target.user } : {}) };
  const plain = plainCredentials(loaded.cluster, loaded.user);
  const exec = plain ? execSource(loaded, opts.env) : null;
  const wire = openWire({
    server: target.server, userAgent: opts.userAgent, exec,
    requestOptions: plain ? plainOptions(loaded, exec) : clientNodeOptions(loaded),
    ...(opts.transport ? { pool: opts.transport } : {}),
  });
  const retryPolicy = opts.retry?.policy ?? KUBE_RETRY;

  async function call<T>(op: Op, signal: AbortSignal | undefined, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T> {
    signal?.throwIfAborted();
    try {
      return await withRetries(async (tryNo) => {
        if (seen) seen.tries = tryNo;
        const rs = requestSignal(signal);
        try {
          return await raceSignal(fn(rs.signal), signal);
        } catch (e) {
          if (!signal?.aborted && (rs.timeout.aborted || isAbortError(e))) throw new RequestTimeout(errorMessage(e));
          throw e;
        }
      }, {
        policy: op.retry ?? retryPolicy,
        classify: (e) => requestVerdict(e, wire.answered()),
        signal,
        ...(opts.retry?.sleep ? { sleep: opts.retry.sleep } : {}),
        onRetry: (ev) => opts.onRetry?.({ ...ev, op: `${op.verb} ${op.what}` }),
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (isNotFound(e)) throw e;
      if (e instanceof RequestTimeout) {
        throw new OperationError(`${op.verb} ${op.what}: the API server ${target.server} (context ${target.context}) did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`);
      }
      throw translateError(e, op, errCtx);
    }
  }

  async function callOr<T, N>(op: Op, signal: AbortSignal | undefined, notFound: N, fn: (s: AbortSignal) => Promise<T>, seen?: { tries: number }): Promise<T | N> {
    try {
      return await call(op, signal, fn, seen);
    } catch (e) {
      if (isNotFound(e)) return notFound;
      throw e;
    }
  }

  return {
    target,
    errCtx,
    retryPolicy,
    diagnosisRetry: { ...retryPolicy, tries: Math.min(retryPolicy.tries, 3) },
    send: wire.send,
    sendStreamed: wire.sendStreamed,
    watchOnce: wire.watchOnce,
    answered: wire.answered,
    call,
    callOr,
    get: (urlPath, query, accept, signal, op) => call(op, signal, (s) => wire.send('GET', urlPath, query, { accept, signal: s })),
    request: (method, urlPath, query, accept, body, signal, op) =>
      call(op, signal, (s) => wire.send(method, urlPath, query, { accept, signal: s, ...(body !== undefined ? { body } : {}) })),
    pluginToken: async (signal) => (exec ? (await exec.get(signal)).token ?? null : null),
    close: wire.close,
  };
}

/** The caller's signal and the request's own timeout, as one signal (and the timeout, to tell which fired). */
function requestSignal(signal: AbortSignal | undefined): { signal: AbortSignal; timeout: AbortSignal } {
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  if (!signal) return { signal: timeout, timeout };
  if (typeof AbortSignal.any === 'function') return { signal: AbortSignal.any([signal, timeout]), timeout };
  // Node < 20.3: no AbortSignal.any
  const both = new AbortController();
  const stop = (s: AbortSignal) => () => both.abort(s.reason);
  signal.addEventListener('abort', stop(signal), { once: true });
  timeout.addEventListener('abort', stop(timeout), { once: true });
  return { signal: both.signal, timeout };
}
