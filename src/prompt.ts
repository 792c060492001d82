/** The typed confirmation before anything destructive. */
import { UsageError } from './errors.js';
import type { IO } from './io.js';

/** What the prompt says when the operator stops it (Ctrl-C, Esc, end of input). */
export const ABORTED = 'aborted, nothing changed';

/**
 * On a TTY: ask the operator to type `expected`; anything else is refused (exit 2, nothing done),
 * and the prompt line shows it refused (a cross, not a tick). Ctrl-C: "aborted, nothing changed"
 * (exit 2, like gh's cancelled prompt). Without a TTY: refuse, since nobody can confirm.
 */
export async function confirmOrRefuse(d: { io: IO }, question: string, expected: string, what: string): Promise<void> {
  if (!d.io.canPrompt) {
    throw new UsageError(`refusing to ${what} without confirmation: no terminal to ask on. Pass --yes to confirm non-interactively (or --dry-run to see the plan).`);
  }
  const { default: Enquirer } = await import('enquirer');
  let answer = '';
  try {
    const r = (await Enquirer.prompt({
      type: 'input',
      name: 'answer',
      message: question,
      stdin: d.io.in,
      stdout: d.io.err,
      // drawn before the prompt's last render: a wrong answer is shown with enquirer's cross, as refused
      onSubmit(this: { state: { cancelled: boolean } }, _name: string, value: unknown) {
        if (String(value ?? '').trim() !== expected) this.state.cancelled = true;
      },
    } as never)) as { answer: string };
    answer = String(r.answer ?? '').trim();
  } catch {
    throw new UsageError(ABORTED);
  }
  if (answer !== expected) throw new UsageError(`confirmation refused: ${JSON.stringify(answer)} is not ${JSON.stringify(expected)}; nothing changed`);
}
