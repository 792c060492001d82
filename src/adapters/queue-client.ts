/**
 * The HTTP client of the queue API (`custctl serve`), for `--api-url`. Global fetch (Node 20).
 * Translates at the boundary: the API's `{error, message}` → the typed errors (same exit codes as
 * a local run); an unreachable server or a non-JSON answer → an OperationError naming the URL.
 * The bearer token is sent and never put into a message.
 */
import { deliveryFromJson } from '../domain/json-times.js';
import { tokenProblem } from '../domain/token.js';
import { errorFromName, errorMessage, OperationError, TransportError, UnauthorizedError, ForbiddenError, UsageError, type CliError } from '../errors.js';
import { toQuery, type DeletionOptions } from '../domain/deletion-options.js';
import type { Job, JobState, StateName } from '../domain/job.js';
import type { DeliveryView } from '../domain/webhook.js';
import type { AuditRecord, CustomerRow } from './store.js';
import { networkVerdict, parseRetryAfter, withRetries, type RetryEvent, type RetryPolicy } from './retry.js';

export { TransportError };

export interface QueuedDeletion {
  message: string;
  customerId: string;
  jobId: string;
  status: string;
  note: string;
}

export interface SyncDeletion {
  customerId: string;
  jobId: string;
  state: JobState;
  progress: number;
  result: unknown;
  failedReason: string | null;
  simulated?: boolean;
  error?: string;
  message?: string;
}


export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /** aborts the request (Ctrl-C) */
  signal?: AbortSignal;
  /** ms; default 30 s, 0 for none */
  timeoutMs?: number;
  /** return the JSON body for these statuses instead of throwing */
  acceptStatus?: (status: number, body: unknown) => boolean;
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * Reads (GET) are tried again when the failure can recover: a reset or a timeout, 429, 502, 503,
 * 504 (a proxy or the server restarting); a refused connection or an unknown host only when the
 * server answered earlier in this process (retry.ts). Writes are sent once: the server may have
 * acted on a request whose answer was lost.
 */
export const API_RETRY: RetryPolicy = { tries: 4, baseMs: 500, maxMs: 4_000, maxRetryAfterMs: 30_000, maxElapsedMs: 60_000 };
const RETRY_STATUS = new Set([429, 502, 503, 504]);

export interface QueueApiClientOptions {
  /** told of every retry of a read */
  onRetry?: (e: RetryEvent & { op: string }) => void;
  /** tests: a faster policy, a fake sleep */
  retry?: { policy?: RetryPolicy; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> };
}

/** One failed try of a read that may be tried again; `final` is what the caller sees if it is the last. */
class RetryableFailure extends Error {
  constructor(readonly why: string, readonly final: CliError, readonly network: string | undefined, readonly afterMs?: number) {
    super(final.message);
  }
}

export class QueueApiClient {
  readonly baseUrl: string;

  /** the server answered a request of this process: a refused connection now means it is restarting */
  private answered = false;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
    private readonly fetchImpl: FetchLike = (i, init) => fetch(i, init),
    private readonly options: QueueApiClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    const problem = token === undefined ? null : tokenProblem(token);
    if (problem) {
      // fetch would refuse the header with the whole token in its message: say what is wrong instead
      throw new UsageError(`CUSTCTL_API_TOKEN ${problem}`, ['Set it again without the stray character (a file read with a trailing newline or CR is a common cause).']);
    }
  }

  /** A message that can be shown: the token, should it appear in a foreign error, is masked. */
  private scrub(message: string): string {
    return this.token ? message.split(this.token).join('<token>') : message;
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(`${this.baseUrl}${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, o: RequestOptions = {}): Promise<T> {
    if (method !== 'GET') return this.requestOnce<T>(method, path, o);
    try {
      return await withRetries(() => this.requestOnce<T>(method, path, o), {
        policy: this.options.retry?.policy ?? API_RETRY,
        classify: (e) => {
          if (!(e instanceof RetryableFailure)) return { retry: false };
          if (e.network !== undefined) return networkVerdict(e.network, this.answered);
          return { retry: true, why: e.why, ...(e.afterMs !== undefined ? { afterMs: e.afterMs } : {}) };
        },
        signal: o.signal,
        ...(this.options.retry?.sleep ? { sleep: this.options.retry.sleep } : {}),
        onRetry: (ev) => this.options.onRetry?.({ ...ev, op: `${method} ${path}` }),
      });
    } catch (e) {
      if (e instanceof RetryableFailure) throw e.final;
      if (o.signal?.aborted && !(e instanceof OperationError)) throw new OperationError(`${method} ${this.url(path, o.query)}: interrupted`);
      throw e;
    }
  }

  private async requestOnce<T>(method: 'GET' | 'POST' | 'DELETE', path: string, o: RequestOptions): Promise<T> {
    const url = this.url(path, o.query);
    const shown = `${method} ${url}`;
    const signals: AbortSignal[] = [];
    if (o.signal) signals.push(o.signal);
    const timeoutMs = o.timeoutMs ?? 30_000;
    if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers: { accept: 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        ...(signals.length ? { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) } : {}),
      });
    } catch (e) {
      if (o.signal?.aborted) throw new OperationError(`${shown}: interrupted`);
      const final = new TransportError(`cannot reach the custctl API at ${this.baseUrl} (${shown}): ${this.scrub(networkReason(e, timeoutMs))}`, [
        'Check --api-url / CUSTCTL_API_URL and that custctl serve runs there.',
      ]);
      const code = networkCode(e);
      if (method === 'GET' && code !== undefined) throw new RetryableFailure(code, final, code === 'TimeoutError' ? 'ETIMEDOUT' : code);
      throw final;
    }
    this.answered = true;
    const text = await res.text().catch(() => '');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    let failure: CliError | undefined;
    if (body === undefined && !(res.status === 204)) {
      failure = new TransportError(
        `${shown} answered HTTP ${res.status} ${res.statusText} with ${text === '' ? 'an empty body' : `non-JSON (${res.headers.get('content-type') ?? 'no content-type'})`}: is --api-url pointing at custctl serve?`,
      );
    } else if (res.ok || o.acceptStatus?.(res.status, body)) {
      return body as T;
    } else {
      failure = this.errorFrom(res.status, body, shown);
    }
    // custctl's own answers with an error name mean what they say (504 `timeout`: the deletion's wait
    // timed out); a proxy's 502/504, a 503 `unavailable` (the store or queue down) or a 429 may pass
    const named = typeof (body as { error?: unknown } | undefined)?.error === 'string' ? (body as { error: string }).error : undefined;
    if (method === 'GET' && RETRY_STATUS.has(res.status) && (named === undefined || named === 'unavailable' || res.status === 429)) {
      const after = parseRetryAfter(res.headers.get('retry-after'));
      throw new RetryableFailure(`HTTP ${res.status}`, failure, undefined, after);
    }
    throw failure;
  }

  private errorFrom(status: number, body: unknown, shown: string): CliError {
    const b = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; message?: unknown; details?: unknown };
    const name = typeof b.error === 'string' ? b.error : undefined;
    const message = typeof b.message === 'string' ? b.message : `${shown} answered HTTP ${status}`;
    const details = Array.isArray(b.details) ? b.details.filter((x): x is string => typeof x === 'string') : [];
    if (status === 401 || name === 'unauthorized') {
      return new UnauthorizedError(`the custctl API at ${this.baseUrl} refused the request: ${message}`, [
        this.token ? 'CUSTCTL_API_TOKEN is not a token this server knows.' : 'Set CUSTCTL_API_TOKEN to an API token of this server.',
      ]);
    }
    if (status === 403 || name === 'forbidden') return new ForbiddenError(`the custctl API at ${this.baseUrl} refused the request: ${message}`, ['Ask for an admin token.']);
    if (name === undefined) return new TransportError(`${shown} answered HTTP ${status} without an error name: is --api-url pointing at custctl serve?`);
    return errorFromName(name, message, details);
  }

  // ---- endpoints -----------------------------------------------------------------------------

  deleteCustomer(id: string, q: DeletionOptions = {}, signal?: AbortSignal): Promise<QueuedDeletion> {
    return this.request('DELETE', `/api/customers/${encodeURIComponent(id)}`, { query: deleteQuery(q), ...(signal ? { signal } : {}) });
  }

  /** The synchronous endpoint: answers when the job has ended (no client timeout). */
  deleteDeployment(id: string, q: DeletionOptions = {}, signal?: AbortSignal): Promise<SyncDeletion> {
    return this.request('DELETE', `/api/customers/${encodeURIComponent(id)}/deployment`, {
      query: deleteQuery(q),
      timeoutMs: 0,
      ...(signal ? { signal } : {}),
      acceptStatus: (_status, body) => typeof body === 'object' && body !== null && typeof (body as { jobId?: unknown }).jobId === 'string',
    });
  }

  getJob(id: string, signal?: AbortSignal): Promise<Job> {
    return this.request('GET', `/api/admin/jobs/${encodeURIComponent(id)}`, signal ? { signal } : {});
  }

  /** GET /api/admin/jobs/:id/deliveries (viewer, owner: own jobs): the webhook deliveries of the job; [] from a server without webhooks. */
  async jobDeliveries(id: string): Promise<DeliveryView[]> {
    const r = await this.request<{ deliveries?: Array<Record<string, unknown>> } | { error: string }>('GET', `/api/admin/jobs/${encodeURIComponent(id)}/deliveries`, {
      // a server from before webhooks answers this path 404 without a job error: no deliveries there
      acceptStatus: (status, body) => status === 404 && /^no such endpoint/.test(String((body as { message?: string } | undefined)?.message ?? '')),
    });
    // ISO times in the answer (an older server: ms), ms in the views
    return 'deliveries' in r && Array.isArray(r.deliveries) ? r.deliveries.map(deliveryFromJson) : [];
  }

  listJobs(filter: { state?: StateName; customer?: string } = {}): Promise<Job[]> {
    return this.request('GET', '/api/admin/jobs', { query: { state: filter.state, customer: filter.customer } });
  }

  retryJob(id: string): Promise<Job> {
    return this.request('POST', `/api/admin/jobs/${encodeURIComponent(id)}/retry`);
  }

  cancelJob<R = Job>(id: string): Promise<R> {
    return this.request('POST', `/api/admin/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /** Soft delete: cancels a deletion that has not started; the answer is the cancel's result. */
  cancelDeletion<R = unknown>(id: string): Promise<R> {
    return this.request('POST', `/api/customers/${encodeURIComponent(id)}/cancel-deletion`);
  }

  /** GET /api/customers (viewer; an owner: its own row): the rows, in the store's order. */
  listCustomers(filter: { status?: string } = {}): Promise<CustomerRow[]> {
    return this.request('GET', '/api/customers', { query: { status: filter.status } });
  }

  getCustomer(id: string): Promise<{ customer: CustomerRow; jobs: Job[] }> {
    return this.request('GET', `/api/customers/${encodeURIComponent(id)}`);
  }

  /** GET /api/admin/audit (viewer): newest first. */
  listAudit(q: { customer?: string; since?: string; action?: string; limit?: number }): Promise<AuditRecord[]> {
    return this.request('GET', '/api/admin/audit', { query: q });
  }

  cleanupRbac<R = unknown>(o: { dryRun: boolean; customer?: string; includeKept?: boolean; cluster?: string }): Promise<{ dryRun: boolean; result: R }> {
    return this.request('POST', '/api/admin/cleanup-rbac', { query: { dryRun: o.dryRun, customer: o.customer, includeKept: o.includeKept || undefined, cluster: o.cluster }, timeoutMs: 0 });
  }
}

function deleteQuery(q: DeletionOptions): RequestOptions['query'] {
  return toQuery(q);
}

/** The network error code of a failed fetch (undici puts it on the cause), `TimeoutError` for our timeout. */
function networkCode(e: unknown): string | undefined {
  const err = e as { name?: string; cause?: { code?: string; errors?: Array<{ code?: string }> } };
  if (err.name === 'TimeoutError') return 'TimeoutError';
  return err.cause?.code ?? err.cause?.errors?.[0]?.code;
}

function networkReason(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
  if (err.name === 'TimeoutError') return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  const code = err.cause?.code ?? err.cause?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${code})`;
  if (code) return code;
  return err.cause?.message ?? errorMessage(e);
}
