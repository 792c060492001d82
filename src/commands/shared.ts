/** Small pieces several commands share: confirmation, flag parsing, the target banner. */
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { parseDuration } from '../domain/duration.js';
import { UsageError } from '../errors.js';
import type { Deps } from '../deps.js';

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

export function intFlag(flag: string, min: number, max: number) {
  return (raw: string): number => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new InvalidArgumentError(`${flag} takes a whole number from ${min} to ${max}`);
    return Number(raw);
  };
}

/**
 * On a TTY: ask the operator to type `expected`; anything else aborts (exit 2, nothing done).
 * Without a TTY: refuse, since nobody can confirm.
 */
export async function confirmOrRefuse(d: Deps, question: string, expected: string, what: string): Promise<void> {
  if (!d.io.canPrompt) {
    throw new UsageError(`refusing to ${what} without confirmation: no terminal to ask on. Pass --yes to confirm non-interactively (or --dry-run to see the plan).`);
  }
  const { default: Enquirer } = await import('enquirer');
  let answer = '';
  try {
    const r = (await Enquirer.prompt({ type: 'input', name: 'answer', message: question, stdin: d.io.in, stdout: d.io.err } as never)) as { answer: string };
    answer = r.answer.trim();
  } catch {
    throw new UsageError('aborted: nothing was changed');
  }
  if (answer !== expected) throw new UsageError(`confirmation did not match (expected ${JSON.stringify(expected)}): nothing was changed`);
}


/** For commands that work on the local journal only. */
export function refuseRemote(d: Deps, what: string): void {
  if (d.config().apiUrl) throw new UsageError(`${what} works on the local journal only: it is not available with --api-url / CUSTCTL_API_URL`);
}
