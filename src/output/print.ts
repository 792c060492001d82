/** Commands return data; these render it. JSON is a contract: stable fields, no ANSI. */
import type { IO } from '../io.js';

export type OutputFormat = 'table' | 'json';
export const OUTPUT_FORMATS = ['table', 'json'] as const;

export function printJson(io: IO, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A borderless table like kubectl's; plain columns when stdout is not a terminal. */
export async function printTable(io: IO, head: string[], rows: Array<Array<string | number>>): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const t = new Table({
    head: head.map((h) => (io.color ? io.chalk.bold(h) : h)),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
    },
  });
  for (const r of rows) t.push(r.map(String));
  io.out.write(`${t.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`);
}

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
