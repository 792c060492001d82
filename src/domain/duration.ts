/**
 * Go-style durations as kubectl and helm take them: `5m`, `90s`, `1h30m`, `500ms`; plus days and
 * weeks (`7d`, `2w`) for retention periods. A retention period (`parseRetention`) is bounded.
 */
import { UsageError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/y;

export function parseDuration(raw: string): number {
  const text = raw.trim();
  if (text === '' || text === '0') {
    if (text === '0') return 0;
    throw new Error('empty duration');
  }
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m || m.index !== pos) throw new Error(`invalid duration ${JSON.stringify(raw)}: use a number with a unit, e.g. 90s, 5m, 1h30m, 7d, 2w`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    pos = PART.lastIndex;
  }
  return Math.round(total);
}

/**
 * The range of a retention period: how long a scheduled deletion waits (soft delete). Below an
 * hour nobody could react to a mistake before the data goes (use `0` for an immediate deletion);
 * beyond 400 days a typo (`700d` for `70d`) would hold a suspended instance for years.
 */
export const RETENTION_MIN_MS = 3_600_000;
export const RETENTION_MAX_MS = 400 * 86_400_000;

/**
 * A retention period as every entry point takes it (`--after`, `CUSTCTL_RETENTION`, `?after=`, the
 * console's field, `CUSTCTL_OWNER_MIN_RETENTION`): `0` (or `0d`, …) for now, else from 1h to 400d,
 * units ms|s|m|h|d|w. A value that is not zero as written but rounds to zero is refused, never
 * taken for "now". `name` is how the message names the input (`--after`, `query parameter after`).
 * Throws UsageError (exit 2, HTTP 400).
 */
export function parseRetention(raw: string, name: string): number {
  const text = raw.trim();
  const give = `give 0 (now) or from ${formatDuration(RETENTION_MIN_MS)} to ${formatDuration(RETENTION_MAX_MS)}, with a unit (ms, s, m, h, d, w), e.g. 36h, 7d, 2w`;
  if (text === '0') return 0;
  if (text === '') throw new UsageError(`${name} is empty: ${give}`);
  if (text.length > 64) throw new UsageError(`${name} is too long to be a retention period: ${give}`);
  let exact = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m || m.index !== pos) throw new UsageError(`${name} ${JSON.stringify(text)} is not a retention period: ${give}`);
    exact += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    pos = PART.lastIndex;
  }
  if (exact === 0) return 0;
  if (!Number.isFinite(exact) || exact > RETENTION_MAX_MS) throw new UsageError(`${name} ${text} is longer than ${formatDuration(RETENTION_MAX_MS)}: ${give}`);
  if (exact < RETENTION_MIN_MS) {
    throw new UsageError(`${name} ${text} is shorter than ${formatDuration(RETENTION_MIN_MS)}${Math.round(exact) === 0 ? ' (it rounds to 0 ms, which is not "now": write 0 for that)' : ''}: ${give}`);
  }
  return Math.round(exact);
}

/** `7d`, `1d2h`, `1h30m`, `1m30s`, `45s`, `500ms`; zero is `0s` (never `0ms` or `168h`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1_000) return `${ms}ms`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  const rest = s % 60;
  if (m < 60) return rest ? `${m}m${rest}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const days = Math.floor(h / 24);
  return h % 24 ? `${days}d${h % 24}h` : `${days}d`;
}

/** A retention period as people say it: `7d`, `36h`, `90s` (whole days when it is whole days). */
export function formatRetention(ms: number): string {
  return formatDuration(ms);
}
