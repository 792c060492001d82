/**
 * Commands return data; `print` renders it. Every command prints through here, so a format is
 * added in one place: `table` (the human view), `json` and `yaml` (a contract: the same fields,
 * stable, no ANSI). The `-o` option is defined once, below.
 */
import { createRequire } from 'node:module';
import type * as Commander from '@commander-js/extra-typings';
import type { IO } from '../io.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** What a command prints: its data (json/yaml) and how a human reads it (table). */
export interface View<T = unknown> {
  data: T;
  human(io: IO): void | Promise<void>;
}

export function view<T>(data: T, human: (io: IO) => void | Promise<void>): View<T> {
  return { data, human };
}

/** `-o, --output table|json|yaml`, default table: the one definition every command adds. */
export function outputOption() {
  // commander is loaded when a command tree is built, not by printing (`status job`'s short path prints without it)
  const { Option } = createRequire(import.meta.url)('@commander-js/extra-typings') as typeof Commander;
  return new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table' as OutputFormat);
}

export async function print(io: IO, format: OutputFormat, v: View): Promise<void> {
  switch (format) {
    case 'json':
      printJson(io, v.data);
      return;
    case 'yaml':
      await printYaml(io, v.data);
      return;
    default:
      await v.human(io);
  }
}

export function printJson(io: IO, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** The JSON document as YAML: the same fields (undefined dropped, dates as strings), nothing more. */
export async function printYaml(io: IO, value: unknown): Promise<void> {
  const { stringify } = await import('yaml'); // only for -o yaml
  const plain: unknown = value === undefined ? null : JSON.parse(JSON.stringify(value));
  io.out.write(stringify(plain, { lineWidth: 0 }));
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
