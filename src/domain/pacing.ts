/**
 * The pace of a bulk run: how many deletions run at once, lowered when the cluster says it is
 * overwhelmed and raised again when it recovers (additive increase, multiplicative decrease, as
 * TCP and client-go's flow control do). Pure: the caller reports what it sees, with the time.
 *
 * Two signals:
 * - 429 Too Many Requests from the API server (its priority-and-fairness or max-in-flight limit):
 *   the concurrency drops to 3/4, at most once per COOLDOWN_MS (a burst of 429s is one event);
 * - the namespace controller falling behind: the last few namespaces took more than three times the
 *   median of all before them (a sudden slowdown: a stuck controller, an aggregated API down). The
 *   gradual rise of a bulk run's waits while the controller's 10 workers queue the namespaces is
 *   not one: fewer deletions at once would only leave those workers idle during each namespace's
 *   5 s grace period.
 * After QUIET_MS without either, it rises by a quarter of the way back (at least 1) every QUIET_MS.
 * The run says what it did at the end ("paced to 12 after 429s").
 */

const COOLDOWN_MS = 3_000;
const QUIET_MS = 5_000;
/** the last waits compared with all before them */
const RECENT = 5;
/** no judgement before this many waits */
const MIN_SAMPLES = 10;
const SLOW_FACTOR = 3;

export type PaceReason = '429s' | 'namespace controller falling behind';

export interface PaceSummary {
  /** the concurrency asked for */
  max: number;
  /** the lowest it was lowered to */
  lowest: number;
  /** at the end */
  final: number;
  reasons: PaceReason[];
}

export class Pacer {
  private current: number;
  private lowest: number;
  private readonly reasons = new Set<PaceReason>();
  private lastDrop = -Infinity;
  private lastSignal = -Infinity;
  private lastRaise = -Infinity;
  private readonly waits: number[] = [];

  constructor(readonly max: number, private readonly min = 1) {
    this.current = Math.max(min, max);
    this.lowest = this.current;
  }

  /** How many may run at once now (`now`: the caller's clock, ms). */
  limit(now: number): number {
    if (this.current < this.max && now - this.lastSignal >= QUIET_MS && now - this.lastRaise >= QUIET_MS) {
      this.current = Math.min(this.max, this.current + Math.max(1, Math.ceil((this.max - this.current) / 4)));
      this.lastRaise = now;
    }
    return this.current;
  }

  /** The API server answered 429. */
  throttled(now: number): void {
    this.drop(now, '429s');
  }

  /** A deletion's namespace took `ms` to go. */
  namespaceWaited(ms: number, now: number): void {
    this.waits.push(ms);
    if (this.waits.length < MIN_SAMPLES) return;
    const before = median(this.waits.slice(0, -RECENT));
    const recent = median(this.waits.slice(-RECENT));
    if (recent > SLOW_FACTOR * before) this.drop(now, 'namespace controller falling behind');
  }

  private drop(now: number, why: PaceReason): void {
    this.lastSignal = now;
    if (now - this.lastDrop < COOLDOWN_MS) return;
    this.lastDrop = now;
    const next = Math.max(this.min, Math.floor((this.current * 3) / 4));
    if (next === this.current) return;
    this.current = next;
    this.lowest = Math.min(this.lowest, next);
    this.reasons.add(why);
  }

  /** null when the pace never changed. */
  summary(): PaceSummary | null {
    if (this.reasons.size === 0) return null;
    return { max: this.max, lowest: this.lowest, final: this.current, reasons: [...this.reasons] };
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** `paced to 12 after 429s (24 at the end, of the 32 asked for)` */
export function paceText(s: PaceSummary): string {
  return `paced to ${s.lowest} after ${s.reasons.join(' and ')} (${s.final} at the end, of the ${s.max} asked for)`;
}
