/**
 * The Stripe API client of the billing adapter (src/adapters/billing-stripe.ts): the official SDK,
 * loaded on first use, with its own retries off; every call goes through the project's one retry
 * loop (src/adapters/retry.ts) with Stripe's rules (src/adapters/billing-stripe-errors.ts), and a
 * failure that is not retried any more names the call.
 */
import type Stripe from 'stripe';
import { BillingError } from '../domain/billing.js';
import type { BillingRun } from './billing.js';
import type { StripeSettings } from './billing-config.js';
import { abortableSleep, withRetries, type RetryPolicy } from './retry.js';
import { CallFailed, STRIPE_RETRY, stripeVerdict } from './billing-stripe-errors.js';

/** What a call belongs to: the run's signal stops the retries, its log hears of them. */
export interface Ctx {
  run: BillingRun | Omit<BillingRun, 'jobId'>;
}

export interface StripeClientOptions {
  settings: StripeSettings;
  retry?: RetryPolicy;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** one request's timeout (default 30 s) */
  timeoutMs?: number;
}

export interface StripeClient {
  /** one API call `what` (named in retries and failures), retried by Stripe's rules */
  call<T>(ctx: Ctx, what: string, fn: (api: Stripe) => Promise<T>): Promise<T>;
  /** every page of a list, each page a call (at most 1000 pages) */
  listAll<T extends { id: string }>(ctx: Ctx, what: string, page: (api: Stripe, after: string | undefined) => Promise<Stripe.ApiList<T>>): Promise<T[]>;
}

/**
 * Loads the SDK. When the environment names a coding assistant (CLAUDECODE, CLAUDE_CODE_CHILD_SESSION)
 * the SDK writes an advertisement line to stderr as it loads: custctl's stderr is for the people
 * running a deletion, so those variables are hidden from it while it loads (and put back after).
 */
export async function importSdk(): Promise<typeof Stripe> {
  const hidden: Array<[string, string]> = [];
  for (const k of ['CLAUDECODE', 'CLAUDE_CODE_CHILD_SESSION']) {
    const v = process.env[k];
    if (v !== undefined) {
      hidden.push([k, v]);
      delete process.env[k];
    }
  }
  try {
    return (await import('stripe')).default;
  } finally {
    for (const [k, v] of hidden) process.env[k] = v;
  }
}

export function stripeClient(o: StripeClientOptions): StripeClient {
  const s = o.settings;
  let client: Promise<Stripe> | undefined;

  const stripe = (): Promise<Stripe> => {
    client ??= importSdk().then((StripeSdk) => new StripeSdk(s.apiKey, {
      maxNetworkRetries: 0,
      timeout: o.timeoutMs ?? 30_000,
      telemetry: false,
      appInfo: { name: 'custctl' },
      ...(s.apiBase ? { host: s.apiBase.host, port: s.apiBase.port, protocol: s.apiBase.protocol } : {}),
    }));
    return client;
  };

  async function call<T>(ctx: Ctx, what: string, fn: (api: Stripe) => Promise<T>): Promise<T> {
    const api = await stripe();
    const signal = ctx.run.signal;
    try {
      return await withRetries(() => fn(api), {
        policy: o.retry ?? STRIPE_RETRY,
        classify: stripeVerdict,
        signal,
        sleep: o.sleep ?? abortableSleep,
        onRetry: (ev) => ctx.run.log?.('warn', `Stripe: ${what}: ${ev.why}; try ${ev.tryNo + 1} of ${ev.tries} in ${(ev.waitMs / 1000).toFixed(1)} s`),
      });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new CallFailed(what, e);
    }
  }

  async function listAll<T extends { id: string }>(ctx: Ctx, what: string, page: (api: Stripe, after: string | undefined) => Promise<Stripe.ApiList<T>>): Promise<T[]> {
    const out: T[] = [];
    let after: string | undefined;
    for (let n = 0; n < 1000; n++) {
      const r = await call(ctx, n === 0 ? what : `${what} (page ${n + 1})`, (api) => page(api, after));
      out.push(...r.data);
      const last = r.data[r.data.length - 1];
      if (!r.has_more || last === undefined) return out;
      after = last.id;
    }
    throw new BillingError(`Stripe: ${what}: more than 1000 pages`, [], { permanent: true });
  }

  return { call, listAll };
}
