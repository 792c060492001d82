/** Go-style durations as kubectl and helm take them: `5m`, `90s`, `1h30m`, `500ms`; plus days (`7d`) for retention periods. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

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
    if (!m || m.index !== pos) throw new Error(`invalid duration ${JSON.stringify(raw)}: use a number with a unit, e.g. 90s, 5m, 1h30m, 7d`);
    total += Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0);
    pos = PART.lastIndex;
  }
  return Math.round(total);
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
