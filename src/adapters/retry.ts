/**
 * The one retry loop for calls to the cluster: every request to the API server (kube/client.ts) and every
 * helm invocation (helm-cli.ts) goes through `withRetries`. Only idempotent calls use it (reads,
 * lists, deletes whose 404 counts as done, `helm uninstall --ignore-not-found`).
 *
 * Like client-go: a 429 (or a 5xx) carrying `Retry-After` is tried again after exactly that long;
 * other transient failures after a capped exponential backoff with jitter. A permanent failure
 * (the caller's `classify` says so) goes up at once. Every wait is cut short by the caller's
 * AbortSignal (the attempt's timeout), so retries never outlive the attempt.
 */

export interface RetryPolicy {
  /** tries in all, the first included */
  tries: number;
  /** the first backoff; doubled for every further retry */
  baseMs: number;
  /** the largest backoff */
  maxMs: number;
  /** a Retry-After longer than this is not waited for: the failure goes up at once */
  maxRetryAfterMs: number;
  /** no retry starts once this long has passed since the first try */
  maxElapsedMs: number;
}

/** client-node requests: 8 tries, 250 ms, 500 ms, 1 s, 2 s, 4 s, 8 s, 8 s (each ±50 % jitter). */
export const KUBE_RETRY: RetryPolicy = { tries: 8, baseMs: 250, maxMs: 8_000, maxRetryAfterMs: 60_000, maxElapsedMs: 120_000 };

/** helm invocations (each is many requests): 6 runs, 500 ms, 1 s, 2 s, 4 s, 4 s between them. */
export const HELM_RETRY: RetryPolicy = { tries: 6, baseMs: 500, maxMs: 4_000, maxRetryAfterMs: 60_000, maxElapsedMs: 180_000 };

/**
 * Connection failures that can recover by themselves: the connection was cut, reset or timed out
 * (a proxy restarting, a dropped packet, an overloaded server).
 */
export const RECOVERABLE_NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * Connection failures that say where the server is not: nothing listens there (ECONNREFUSED), no
 * such host (ENOTFOUND, EAI_AGAIN), no route. From a server that never answered in this process
 * they mean a wrong address, a server that is down or a tunnel not started: retrying only delays
 * the answer, so they fail at once. From a server that did answer earlier in this process they
 * mean it is restarting (an API server refuses for the seconds it takes to come back): retried.
 */
export const UNREACHABLE_NETWORK_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The verdict on a connection failure by its code; `answeredBefore`: the server answered earlier in this process. */
export function networkVerdict(code: string | undefined, answeredBefore: boolean): Verdict {
  if (code === undefined) return { retry: false };
  if (RECOVERABLE_NETWORK_CODES.has(code)) return { retry: true, why: code };
  if (UNREACHABLE_NETWORK_CODES.has(code) && answeredBefore) return { retry: true, why: code };
  return { retry: false };
}

/** How a retry is shown to the operator: `retrying (ECONNRESET) 2/8`, the try about to run of all. */
export function retryText(e: Pick<RetryEvent, 'tryNo' | 'tries' | 'why'>): string {
  return `retrying (${e.why}) ${e.tryNo + 1}/${e.tries}`;
}

/** What the caller's classifier says of one failure. */
export type Verdict =
  | { retry: false }
  /** afterMs: the server said when to come back (Retry-After) */
  | { retry: true; why: string; afterMs?: number };

export interface RetryEvent {
  /** the try that failed (1 = the first) */
  tryNo: number;
  tries: number;
  waitMs: number;
  why: string;
}

export interface RetryOptions {
  policy: RetryPolicy;
  classify: (err: unknown) => Verdict;
  signal?: AbortSignal | undefined;
  onRetry?: ((e: RetryEvent) => void) | undefined;
  /** injectable for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/**
 * The wait before retry `n` (1 = the first retry): min(maxMs, baseMs × 2^(n−1)), of which a
 * random half is kept ("equal jitter": never less than half the step, so callers that failed
 * together spread out without coming back too early).
 */
export function backoffMs(n: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs'>, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined | null, now: number = Date.now()): number | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn` until it resolves, fails for good, or the policy is used up; rejects with the last
 * failure (or the signal's reason once it aborts). `fn` gets the number of the try (1-based).
 */
export async function withRetries<T>(fn: (tryNo: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const sleep = o.sleep ?? abortableSleep;
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  const started = now();
  for (let tryNo = 1; ; tryNo++) {
    o.signal?.throwIfAborted();
    try {
      return await fn(tryNo);
    } catch (e) {
      if (o.signal?.aborted) throw o.signal.reason;
      if (tryNo >= o.policy.tries) throw e;
      const v = o.classify(e);
      if (!v.retry) throw e;
      let waitMs: number;
      if (v.afterMs !== undefined) {
        if (v.afterMs > o.policy.maxRetryAfterMs) throw e;
        waitMs = v.afterMs;
      } else {
        waitMs = backoffMs(tryNo, o.policy, random);
      }
      if (now() + waitMs - started > o.policy.maxElapsedMs) throw e;
      o.onRetry?.({ tryNo, tries: o.policy.tries, waitMs, why: v.why });
      await sleep(waitMs, o.signal);
    }
  }
}
