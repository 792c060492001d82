/**
 * Stripe's failures as custctl reads them: which are retried (Stripe's documented rules, with
 * `Stripe-Should-Retry` first), which are permanent, and how one is shown (naming the call and
 * Stripe's message, never the key). Used by billing-stripe-client.ts for every call it makes.
 */
import { BillingError, type BillingResult } from '../domain/billing.js';
import { type RetryPolicy, type Verdict, parseRetryAfter } from './retry.js';

/** 5 tries: 0.5 s, 1 s, 2 s, 4 s between them (± jitter), or what Retry-After says (up to a minute). */
export const STRIPE_RETRY: RetryPolicy = { tries: 5, baseMs: 500, maxMs: 8_000, maxRetryAfterMs: 60_000, maxElapsedMs: 120_000 };

/** The fields of a Stripe SDK error this adapter reads. */
interface StripeErrorLike {
  type?: string;
  rawType?: string;
  statusCode?: number;
  code?: string;
  message: string;
  headers?: Record<string, string | undefined>;
}

function stripeError(e: unknown): StripeErrorLike | null {
  const x = e as StripeErrorLike | null;
  return x !== null && typeof x === 'object' && typeof x.type === 'string' && x.type.startsWith('Stripe') ? x : null;
}

/** Stripe's documented retry rules (docs.stripe.com/error-low-level), as a verdict for withRetries. */
export function stripeVerdict(e: unknown): Verdict {
  const err = stripeError(e);
  if (err === null) return { retry: false };
  if (err.type === 'StripeConnectionError') return { retry: true, why: `no answer from Stripe (${err.message})` };
  const should = err.headers?.['stripe-should-retry'];
  if (should === 'false') return { retry: false };
  const status = err.statusCode;
  const afterMs = parseRetryAfter(err.headers?.['retry-after']);
  const why = `HTTP ${status ?? '?'}${err.code ? ` ${err.code}` : ''}`;
  const verdict = (w: string): Verdict => (afterMs === undefined ? { retry: true, why: w } : { retry: true, why: w, afterMs });
  if (should === 'true') return verdict(`${why} (Stripe-Should-Retry: true)`);
  if (status === 409 || status === 429) return verdict(why);
  if (status !== undefined && status >= 500) return verdict(why);
  return { retry: false };
}

/** A failed call, with what it was for. */
export class CallFailed extends Error {
  constructor(readonly what: string, readonly error: unknown) {
    super(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function is(e: unknown, status: number, type?: string): boolean {
  const err = stripeError(e instanceof CallFailed ? e.error : e);
  return err !== null && err.statusCode === status && (type === undefined || err.rawType === type);
}

export function replayed(r: { lastResponse?: { headers?: Record<string, string> } }): boolean {
  return r.lastResponse?.headers?.['idempotent-replayed'] === 'true';
}

/** A failure as custctl shows it: permanent or not, naming the call and Stripe's message (never the key). */
export function toBillingError(e: unknown, partial?: BillingResult): BillingError {
  if (e instanceof BillingError) return partial && !e.partial ? new BillingError(e.message, e.details, { cause: e.cause, permanent: e.permanent, partial }) : e;
  const what = e instanceof CallFailed ? e.what : 'call Stripe';
  const err = stripeError(e instanceof CallFailed ? e.error : e);
  const opts = (permanent: boolean) => ({ cause: e, permanent, ...(partial ? { partial } : {}) });
  if (err === null) return new BillingError(`Stripe: ${what} failed: ${e instanceof CallFailed ? String((e.error as Error)?.message ?? e.error) : String((e as Error)?.message ?? e)}`, [], opts(false));
  const status = err.statusCode;
  const said = `${status !== undefined ? `HTTP ${status}` : err.type}${err.code ? ` ${err.code}` : ''}: ${err.message}`;
  if (status === 401) {
    return new BillingError(`Stripe refused the API key (${said})`, ['check STRIPE_API_KEY or CUSTCTL_STRIPE_API_KEY_FILE: the key may be revoked, expired, or of another account or mode'], opts(true));
  }
  if (status === 403) {
    return new BillingError(`the Stripe key may not ${what} (${said})`, ['give the restricted key the permission Stripe names (docs/billing.md lists every permission custctl needs)'], opts(true));
  }
  // a server error, a lock, a rate limit or no answer may pass: a later attempt may retry (after reading what happened)
  if (status === undefined || status >= 500 || status === 409 || status === 429) {
    return new BillingError(`Stripe: ${what} failed${stripeVerdict(err).retry ? ' after retries' : ''} (${said})`, [], opts(false));
  }
  return new BillingError(`Stripe refused to ${what} (${said})`, [], opts(true));
}
