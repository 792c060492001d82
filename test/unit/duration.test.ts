// Retention periods: one parser (src/domain/duration.ts) behind `--after`, CUSTCTL_RETENTION,
// `?after=` and the console's field; a value outside 0 | 1h…400d is a usage error (exit 2 /
// HTTP 400) before anything happens. Through the built binary and the real serve:
// test/integration/cancel.test.ts ("bounded retention").
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config.js';
import { parseDuration, parseRetention, RETENTION_MAX_MS, RETENTION_MIN_MS } from '../../src/domain/duration.js';
import { UsageError } from '../../src/errors.js';
import { retentionFlag } from '../../src/flags.js';

const H = 3_600_000;
const D = 24 * H;

describe('parseRetention: the documented range', () => {
  it.each([
    ['0', 0],
    ['0d', 0],
    ['0s', 0],
    ['0.0h', 0],
    ['1h', H],
    ['60m', H],
    ['3600s', H],
    ['1.5h', 1.5 * H],
    ['36h', 36 * H],
    ['7d', 7 * D],
    ['1w', 7 * D],
    ['2w3d', 17 * D],
    ['0.5w', 3.5 * D],
    ['400d', 400 * D],
    [' 30d ', 30 * D],
  ])('%j → %d ms', (raw, ms) => {
    expect(parseRetention(raw, '--after')).toBe(ms);
  });

  it.each([
    ['59m', /--after 59m is shorter than 1h/],
    ['3s', /shorter than 1h/],
    ['0.5h', /shorter than 1h/],
    ['0.0000001s', /shorter than 1h \(it rounds to 0 ms, which is not "now": write 0 for that\)/],
    ['0.0001ms', /rounds to 0 ms/],
    ['401d', /--after 401d is longer than 400d/],
    ['58w', /longer than 400d/],
    ['99999999999d', /longer than 400d/],
    ['1e3d', /is not a retention period/],
    ['7', /is not a retention period/],
    ['-1d', /is not a retention period/],
    ['7 d', /is not a retention period/],
    ['1y', /is not a retention period/],
    ['', /is empty/],
    ['9'.repeat(100) + 'd', /too long/],
  ])('%j is refused: %s', (raw, message) => {
    const e = (() => {
      try {
        parseRetention(raw, '--after');
        return null;
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    expect((e as Error).message).toMatch(message);
    expect((e as Error).message).toMatch(/give 0 \(now\) or from 1h to 400d, with a unit \(ms, s, m, h, d, w\)/);
  });

  it('the bounds are 1h and 400d', () => {
    expect([RETENTION_MIN_MS, RETENTION_MAX_MS]).toEqual([H, 400 * D]);
    expect(parseRetention(`${RETENTION_MIN_MS}ms`, 'x')).toBe(H);
    expect(() => parseRetention(`${RETENTION_MIN_MS - 1}ms`, 'x')).toThrow(UsageError);
    expect(parseRetention(`${RETENTION_MAX_MS}ms`, 'x')).toBe(400 * D);
    expect(() => parseRetention(`${RETENTION_MAX_MS + 1}ms`, 'x')).toThrow(UsageError);
  });

  it('weeks are a unit of every duration', () => {
    expect(parseDuration('1w')).toBe(7 * D);
  });
});

describe('every entry point uses it', () => {
  it('--after (the flag parser)', () => {
    expect(retentionFlag('--after')('1w')).toBe(7 * D);
    expect(() => retentionFlag('--after')('30m')).toThrow(/--after 30m is shorter than 1h/);
  });

  it('CUSTCTL_RETENTION and CUSTCTL_OWNER_MIN_RETENTION', () => {
    expect(buildConfig({ CUSTCTL_RETENTION: '2w' }, {}).retentionMs).toBe(14 * D);
    expect(buildConfig({ CUSTCTL_RETENTION: '0' }, {}).retentionMs).toBe(0);
    expect(() => buildConfig({ CUSTCTL_RETENTION: '500d' }, {})).toThrow(/CUSTCTL_RETENTION 500d is longer than 400d/);
    expect(() => buildConfig({ CUSTCTL_RETENTION: '0.00001s' }, {})).toThrow(/rounds to 0 ms/);
    expect(() => buildConfig({ CUSTCTL_OWNER_MIN_RETENTION: '10m' }, {})).toThrow(/CUSTCTL_OWNER_MIN_RETENTION 10m is shorter than 1h/);
  });
});
