/**
 * The one way an error reads on stderr, whoever reports it (main's catch-all, commander's usage
 * errors, one customer's failure in a bulk run): `Error: message`, then its details indented.
 */
import type { IO } from '../io.js';

export const ERROR_PREFIX = 'Error:';

export function errorText(io: Pick<IO, 'chalk'>, message: string, details: readonly string[] = []): string {
  return `${io.chalk.red(ERROR_PREFIX)} ${message}\n${details.map((l) => `  ${l}\n`).join('')}`;
}

export function writeError(io: Pick<IO, 'chalk' | 'err'>, message: string, details: readonly string[] = []): void {
  io.err.write(errorText(io, message, details));
}

/** commander's own messages (`error: unknown option '--x'`) in the same style. */
export function commanderErrorText(io: Pick<IO, 'chalk'>, text: string): string {
  return text.replace(/^error: /, `${io.chalk.red(ERROR_PREFIX)} `);
}
