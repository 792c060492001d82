/**
 * The one way an error reads on stderr, whoever reports it (main's catch-all, commander's usage
 * errors, one customer's failure in a bulk run): `Error: message`, then its details indented.
 * Messages carry outside text (a server's answer, a helm error, an object name): every line is
 * made visible, and a message's own further lines are indented like details, so no error text
 * can pass for a line of custctl's own.
 */
import type { IO } from '../io.js';
import { visible, visibleLines } from '../domain/visible.js';

export const ERROR_PREFIX = 'Error:';

export function errorText(io: Pick<IO, 'errChalk'>, message: string, details: readonly string[] = []): string {
  const [first, ...more] = message.split('\n');
  const lines = [...more, ...details.flatMap((d) => d.split('\n'))];
  return `${io.errChalk.red(ERROR_PREFIX)} ${visible(first ?? '')}\n${lines.map((l) => `  ${visible(l)}\n`).join('')}`;
}

export function writeError(io: Pick<IO, 'errChalk' | 'err'>, message: string, details: readonly string[] = []): void {
  io.err.write(errorText(io, message, details));
}

/**
 * commander's own messages (`error: unknown option '--x'`) in the same style: what the user typed
 * made visible, and further lines indented (a typed line break cannot start a line of its own).
 */
export function commanderErrorText(io: Pick<IO, 'errChalk'>, text: string): string {
  const [first = '', ...more] = visibleLines(text).split('\n');
  const rest = more.map((l, i) => (l === '' && i === more.length - 1 ? '' : `  ${l}`));
  return [first, ...rest].join('\n').replace(/^error: /, `${io.errChalk.red(ERROR_PREFIX)} `);
}
