/**
 * When an audit query starts or a prune ends: an age (`7d`, `12h`, `30m`, `90s`, `2w`: that long
 * before now) or a date/time (`2026-11-01`, `2026-11-01T12:00:00Z`; a bare date is midnight UTC).
 */
import { UsageError } from './errors.js';

const AGE_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export function parseTimePoint(raw: string, now: Date, what: string): Date {
  const text = raw.trim();
  const age = /^(\d+)([smhdw])$/.exec(text);
  if (age) return new Date(now.getTime() - Number(age[1]) * (AGE_MS[age[2] as string] ?? 0));
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text.replace(' ', 'T'));
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new UsageError(`${what} ${JSON.stringify(raw.slice(0, 40))} is neither an age (7d, 12h, 30m, 2w) nor a date (2026-11-01, 2026-11-01T12:00:00Z)`);
}
