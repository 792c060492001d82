/**
 * Failed authentications per client address: a wrong or missing bearer token on the API, an
 * unknown token at the console's sign-in. Each address has a budget of failures per window; over
 * it, every request of that address that needs a token is answered 429 (with Retry-After) before
 * any token is looked at, until the window has passed. So a client that guesses tokens gets a
 * handful of guesses a minute, and a flood of wrong tokens costs a counter, not a hash and a log
 * line each.
 *
 * Logging is once per burst: the first failure of an address is a WARN line; the rest are counted
 * and said in one summary line when the burst ends (no failure for a window), and every
 * `summaryEveryMs` while it lasts. The address is the socket's peer, or the client a trusted proxy
 * names (serve --trust-proxy): behind a proxy that is not trusted, every client shares the
 * proxy's address and budget.
 */
import type { Logger } from '../io.js';

export interface AuthFailureLimits {
  /** the window the budget is counted over, ms; also how long a burst lasts without a failure */
  windowMs: number;
  /** failures an address may have in one window before it is answered 429 */
  maxFailures: number;
  /** a burst that goes on is summed up in the log this often, ms */
  summaryEveryMs: number;
  /** addresses tracked at once (the oldest is summed up and forgotten beyond it) */
  maxAddresses: number;
}

export const AUTH_FAILURE_LIMITS: AuthFailureLimits = { windowMs: 60_000, maxFailures: 20, summaryEveryMs: 10 * 60_000, maxAddresses: 10_000 };

interface Burst {
  /** start of the current budget window */
  windowStart: number;
  /** failures in the current window */
  inWindow: number;
  /** since the burst began (or since its last summary) */
  failures: number;
  refused: number;
  firstAt: number;
  lastAt: number;
  /** when the burst was last summed up (or began) */
  saidAt: number;
  /** failures and refusals said so far (the first line and any summaries) */
  said: boolean;
}

export class AuthFailures {
  private readonly bursts = new Map<string, Burst>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly log: Pick<Logger, 'warn'>,
    private readonly now: () => number = Date.now,
    readonly limits: AuthFailureLimits = AUTH_FAILURE_LIMITS,
  ) {}

  /** Starts the timer that sums up the bursts that have ended (unref'd: it keeps nothing alive). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.flush(), Math.max(1_000, Math.floor(this.limits.windowMs / 2)));
    this.timer.unref();
  }

  /** Stops the timer and sums up every burst still open. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const [addr, b] of this.bursts) this.summary(addr, b, true);
    this.bursts.clear();
  }

  /**
   * Seconds this address must wait (it is over its budget: answer 429 and count it), or 0.
   * Called before a token is checked.
   */
  retryAfter(addr: string): number {
    const b = this.bursts.get(addr);
    if (!b) return 0;
    const t = this.now();
    if (t - b.windowStart >= this.limits.windowMs) return 0;
    if (b.inWindow < this.limits.maxFailures) return 0;
    b.refused++;
    this.touch(addr, b, t);
    return Math.max(1, Math.ceil((b.windowStart + this.limits.windowMs - t) / 1000));
  }

  /** One failed authentication of this address: the first of a burst is logged, the rest counted. */
  fail(addr: string, what: string): void {
    const t = this.now();
    let b = this.bursts.get(addr);
    if (b && t - b.lastAt >= this.limits.windowMs) {
      this.summary(addr, b, true);
      b = undefined;
    }
    if (!b) {
      this.evictIfFull();
      b = { windowStart: t, inWindow: 0, failures: 0, refused: 0, firstAt: t, lastAt: t, saidAt: t, said: false };
    }
    if (t - b.windowStart >= this.limits.windowMs) {
      b.windowStart = t;
      b.inWindow = 0;
    }
    b.inWindow++;
    b.failures++;
    this.touch(addr, b, t);
    if (!b.said) {
      b.said = true;
      b.failures = 0;
      this.log.warn(`authentication failed from ${addr}: ${what}`, {
        note: `further failures from this address are counted and summed up once the burst ends; more than ${this.limits.maxFailures} a minute are answered 429`,
      });
    } else if (t - b.saidAt >= this.limits.summaryEveryMs) {
      this.summary(addr, b, false);
    }
  }

  /** Sums up the bursts that have ended (and the long ones that are due). */
  flush(): void {
    const t = this.now();
    for (const [addr, b] of this.bursts) {
      if (t - b.lastAt >= this.limits.windowMs) {
        this.summary(addr, b, true);
        this.bursts.delete(addr);
      } else if (t - b.saidAt >= this.limits.summaryEveryMs) this.summary(addr, b, false);
    }
  }

  /** How many addresses have an open burst (for tests and metrics). */
  get size(): number {
    return this.bursts.size;
  }

  private touch(addr: string, b: Burst, t: number): void {
    b.lastAt = t;
    // Map order: least recently failing first
    this.bursts.delete(addr);
    this.bursts.set(addr, b);
  }

  private evictIfFull(): void {
    while (this.bursts.size >= this.limits.maxAddresses) {
      const [addr, b] = this.bursts.entries().next().value as [string, Burst];
      this.summary(addr, b, true);
      this.bursts.delete(addr);
    }
  }

  private summary(addr: string, b: Burst, ended: boolean): void {
    if (b.failures > 0 || b.refused > 0) {
      const seconds = Math.max(1, Math.round((b.lastAt - b.saidAt) / 1000));
      this.log.warn(`${b.failures + b.refused} more failed authentication${b.failures + b.refused === 1 ? '' : 's'} from ${addr} in ${seconds} s${ended ? '' : ' (still going on)'}`, {
        wrongOrMissingToken: b.failures,
        answered429: b.refused,
        since: new Date(b.firstAt).toISOString(),
      });
    }
    b.failures = 0;
    b.refused = 0;
    b.saidAt = b.lastAt;
  }
}
