/** Parsers of command-line flag values: a bad value is a usage error (exit 2) before anything runs. */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { parseDuration, parseRetention } from './domain/duration.js';

export function durationFlag(flag: string) {
  return (raw: string): number => {
    try {
      const ms = parseDuration(raw);
      if (ms <= 0) throw new Error('must be positive');
      return ms;
    } catch {
      throw new InvalidArgumentError(`${flag} takes a duration with a unit, e.g. 90s, 5m, 1h`);
    }
  };
}

/** A retention period (`--after`): `0` (now) or 1h…400d (src/domain/duration.ts); outside: a UsageError (exit 2). */
export function retentionFlag(flag: string) {
  return (raw: string): number => parseRetention(raw, flag);
}

export function intFlag(flag: string, min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max}`);
    return Number(raw);
  };
}
