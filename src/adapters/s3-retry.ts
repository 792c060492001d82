/**
 * The S3 client's retries with custctl's rules (retry.ts): the SDK's own strategy also retries a
 * refused connection and an unknown host, which only delays the answer when the store was never
 * reached. Same shape as the SDK's RetryStrategyV2 (acquire / refresh / recordSuccess), so the
 * client's retry middleware runs it; 3 tries in all, as before, with capped backoff and jitter.
 */
import { backoffMs, networkVerdict } from './retry.js';

interface Token { getRetryCount(): number; getRetryDelay(): number }
interface ErrorInfo { error?: unknown; errorType: 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR'; retryAfterHint?: Date }

export const S3_TRIES = 3;
const POLICY = { baseMs: 250, maxMs: 4_000 };

function codeOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function token(count: number, delay: number): Token {
  return { getRetryCount: () => count, getRetryDelay: () => delay };
}

export class S3RetryStrategy {
  /** the store answered a request of this process (any status) */
  private answered = false;

  constructor(private readonly onRetry?: (e: { tryNo: number; tries: number; waitMs: number; why: string }) => void) {}

  async acquireInitialRetryToken(_scope: string): Promise<Token> {
    return token(0, 0);
  }

  async refreshRetryTokenForRetry(t: Token, info: ErrorInfo): Promise<Token> {
    const status = (info.error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
    if (status !== undefined) this.answered = true;
    const tryNo = t.getRetryCount() + 1;
    if (tryNo >= S3_TRIES || info.errorType === 'CLIENT_ERROR') throw info.error;
    const code = codeOf(info.error);
    let why: string;
    if (status !== undefined) {
      why = `HTTP ${status}`;
    } else {
      const v = networkVerdict(code, this.answered);
      // a failure without a code the SDK still calls transient (its own timeouts): retried
      if (code !== undefined && !v.retry) throw info.error;
      why = v.retry ? v.why : code ?? info.errorType.toLowerCase();
    }
    const waitMs = info.retryAfterHint ? Math.max(0, info.retryAfterHint.getTime() - Date.now()) : backoffMs(tryNo, POLICY);
    this.onRetry?.({ tryNo, tries: S3_TRIES, waitMs, why });
    return token(tryNo, waitMs);
  }

  recordSuccess(_t: Token): void {
    this.answered = true;
  }
}
