/** The typed confirmation before anything destructive. */
import { UsageError } from './errors.js';
import type { IO } from './io.js';

/**
 * On a TTY: ask the operator to type `expected`; anything else aborts (exit 2, nothing done).
 * Without a TTY: refuse, since nobody can confirm.
 */
export async function confirmOrRefuse(d: { io: IO }, question: string, expected: string, what: string): Promise<void> {
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
