/**
 * The typed confirmation before anything destructive, on node:readline (no prompt library):
 * one line of input, its editing and echo done by readline, Ctrl-C heard as readline's 'SIGINT'
 * event. The question is made visible (src/output/text.ts): a company name cannot redraw it.
 */
import { clearScreenDown, createInterface, cursorTo, moveCursor } from 'node:readline';
import { stripVTControlCharacters } from 'node:util';
import { InterruptedError, UsageError } from './errors.js';
import type { IO } from './io.js';
import { quoted, visible } from './domain/visible.js';
import { h, paint, shown, type Shown } from './output/text.js';

/** What the prompt says when the operator stops it (Ctrl-C, Esc, end of input). */
export const ABORTED = 'aborted, nothing changed';

/** How a question ended: the line typed, or how it was stopped. */
type Answer = { kind: 'answer'; text: string } | { kind: 'interrupted' } | { kind: 'cancelled' };

/**
 * On a TTY: ask the operator to type `expected`; anything else is refused (exit 2, nothing done),
 * and the prompt line shows it refused (a cross, not a tick). Ctrl-C (or SIGINT/SIGTERM, through
 * `shutdown`): "aborted, nothing changed", exit 130 as the shell's convention for an interrupt;
 * Esc or end of input: the same words, exit 2. Without a TTY: refuse, since nobody can confirm.
 */
export async function confirmOrRefuse(d: { io: IO; shutdown?: AbortSignal }, question: Shown, expected: string, what: string): Promise<void> {
  if (!d.io.canPrompt) {
    throw new UsageError(`refusing to ${what} without confirmation: no terminal to ask on. Pass --yes to confirm non-interactively (or --dry-run to see the plan).`);
  }
  const r = await ask(d.io, shown(question), (text) => text.trim() === expected, d.shutdown);
  if (r.kind === 'interrupted') throw new InterruptedError(ABORTED);
  if (r.kind === 'cancelled') throw new UsageError(ABORTED);
  const answer = r.text.trim();
  if (answer !== expected) throw new UsageError(`confirmation refused: ${quoted(answer)} is not ${quoted(expected)}; nothing changed`);
}

/**
 * Asks `question` (already visible) on stderr and reads one line from stdin. When it ends, the
 * prompt line is redrawn as its outcome: `✔ question · answer` when `accepted`, else `✖`.
 */
function ask(io: IO, question: string, accepted: (text: string) => boolean, shutdown?: AbortSignal): Promise<Answer> {
  const c = paint(io.errChalk);
  const prompt = h`${c.cyan('?')} ${c.bold(question)} ${c.dim('›')} `.text;
  return new Promise<Answer>((resolve) => {
    const rl = createInterface({ input: io.in, output: io.err, terminal: true, historySize: 0 });
    let ended = false;
    const finish = (a: Answer, lineEnded: boolean) => {
      if (ended) return;
      ended = true;
      const typed = a.kind === 'answer' ? a.text : rl.line;
      io.in.removeListener('keypress', onKey);
      shutdown?.removeEventListener('abort', onAbort);
      rl.close();
      // back to the start of the prompt (it may have wrapped), and draw its outcome there
      const columns = (io.err as { columns?: number }).columns || 80;
      const rows = Math.max(1, Math.ceil(stripVTControlCharacters(prompt + typed).length / columns));
      if (!lineEnded) io.err.write('\n');
      moveCursor(io.err, 0, -rows);
      cursorTo(io.err, 0);
      clearScreenDown(io.err);
      const ok = a.kind === 'answer' && accepted(a.text);
      io.err.write(h`${ok ? c.green('✔') : c.red('✖')} ${c.bold(question)} ${c.dim('·')} ${visible(typed)}\n`.text);
      resolve(a);
    };
    const onKey = (_s: string | undefined, key: { name?: string } | undefined) => {
      if (key?.name === 'escape') finish({ kind: 'cancelled' }, false);
    };
    const onAbort = () => finish({ kind: 'interrupted' }, false);
    rl.on('SIGINT', () => finish({ kind: 'interrupted' }, false));
    rl.on('close', () => finish({ kind: 'cancelled' }, false));
    io.in.on('keypress', onKey);
    if (shutdown?.aborted) return onAbort();
    shutdown?.addEventListener('abort', onAbort, { once: true });
    rl.question(prompt, (text) => finish({ kind: 'answer', text }, true));
  });
}
