/**
 * Commands return data; `print` renders it. Every command prints through here, so a format is
 * added in one place: `table` (the human view), `json` and `yaml` (a contract: the same fields,
 * stable, no ANSI). The `-o` option is defined once, below.
 *
 * Outside values cannot spoof the human view (src/output/text.ts): the table printer makes every
 * cell visible unless it is Styled, and a human view's stdout writes Styled text as it is and makes
 * plain strings visible. JSON and YAML keep every value exactly, with the characters a terminal
 * would act on written as escapes inside their strings (what a parser reads back is the same value).
 */
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type * as Commander from '@commander-js/extra-typings';
import type { IO } from '../io.js';
import { visible } from '../domain/visible.js';
import { shown, Styled, type Shown } from './text.js';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
/** what a listing offers besides: `wide` (more columns) and `name` (`kind/name` per line, as kubectl) */
export const LIST_OUTPUT_FORMATS = ['table', 'wide', 'name', 'json', 'yaml'] as const;
export type OutputFormat = (typeof LIST_OUTPUT_FORMATS)[number];

/** What a command prints: its data (json/yaml) and how a human reads it (table). */
export interface View<T = unknown> {
  data: T;
  human(io: IO): void | Promise<void>;
  /** `-o name`: each item's identity, `kind/name` (`job/12`, `customer/cust_abc`) */
  names?: () => readonly string[];
  /** `-o wide`: the table with more columns */
  wide?: (io: IO) => void | Promise<void>;
}

export function view<T>(data: T, human: (io: IO) => void | Promise<void>, more: Pick<View<T>, 'names' | 'wide'> = {}): View<T> {
  return { data, human, ...more };
}

/**
 * `-o, --output table|json|yaml`, default table: the one definition every command adds. A listing
 * (its View carries names and a wide table) passes `{ list: true }` for `wide` and `name` too.
 */
export function outputOption(o: { list?: boolean } = {}) {
  // commander is loaded when a command tree is built, not by printing (`status job`'s short path prints without it)
  const { Option } = createRequire(import.meta.url)('@commander-js/extra-typings') as typeof Commander;
  return new Option('-o, --output <format>', o.list ? 'output format (wide: more columns; name: kind/name per line)' : 'output format')
    .choices(o.list ? LIST_OUTPUT_FORMATS : OUTPUT_FORMATS)
    .default('table' as OutputFormat);
}

export async function print(io: IO, format: OutputFormat, v: View): Promise<void> {
  switch (format) {
    case 'json':
      printJson(io, v.data);
      return;
    case 'yaml':
      await printYaml(io, v.data);
      return;
    case 'name':
      // offered only where the view names its items; a view without names prints none
      for (const n of v.names?.() ?? []) io.out.write(`${visible(n)}\n`);
      return;
    case 'wide':
      await (v.wide ?? v.human)(humanIO(io));
      return;
    default:
      await v.human(humanIO(io));
  }
}

/**
 * The IO a human view writes with: its stdout writes Styled text as it is and makes a plain string
 * visible (its leading and trailing line breaks kept: `text\n` is one line). A view that builds
 * its lines as plain strings therefore shows a value's escape sequence as `\u001b`, and its own
 * colour too: build lines with `h` and `paint` (src/output/text.ts).
 */
export function humanIO(io: IO): IO {
  if (isGuarded(io.out)) return io;
  return { ...io, out: guarded(io.out) };
}

/** A human view written to stderr instead (a table shown before a confirmation), with stderr's colour. */
export function onStderr(io: IO): IO {
  return { ...io, out: io.err, isOutTTY: io.isErrTTY, color: io.errColor, chalk: io.errChalk };
}

/** Styled text to stdout, as it is. */
export function writeStyled(io: IO, text: Styled): void {
  humanIO(io).out.write(text as unknown as string);
}

const GUARDED = Symbol('custctl.guarded');

function isGuarded(w: Writable): boolean {
  return (w as unknown as Record<symbol, unknown>)[GUARDED] === true;
}

/** `text` with its leading and trailing line breaks kept, everything between made visible. */
export function plainText(text: string): string {
  const m = /^(\n*)([\s\S]*?)(\n*)$/.exec(text);
  return m ? `${m[1]}${visible(m[2] ?? '')}${m[3]}` : visible(text);
}

function guarded(w: Writable): Writable {
  return new Proxy(w, {
    get(target, prop) {
      if (prop === GUARDED) return true;
      if (prop === 'write') {
        return (chunk: unknown, ...rest: unknown[]) =>
          (target.write as (...a: unknown[]) => boolean)(chunk instanceof Styled ? chunk.text : typeof chunk === 'string' ? plainText(chunk) : chunk, ...rest);
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * The characters a JSON text may hold raw but a terminal would act on or hide (C1 controls, DEL,
 * bidi and other format characters, line separators): JSON.stringify escapes C0 itself.
 */
// eslint-disable-next-line no-control-regex
const JSON_RAW_UNSAFE = /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu;

/** `\uXXXX` for JSON and YAML (a code point beyond the BMP as its surrogate pair). */
function utf16Escape(ch: string): string {
  return [...Array(ch.length).keys()].map((i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
}

/** The JSON text of `value`: every value exact; nothing in it a terminal acts on. */
export function jsonText(value: unknown): string {
  return (JSON.stringify(value, null, 2) ?? 'null').replace(JSON_RAW_UNSAFE, utf16Escape);
}

export function printJson(io: IO, value: unknown): void {
  io.out.write(`${jsonText(value)}\n`);
}

/**
 * The JSON document as YAML: the same fields (undefined dropped, dates as strings), nothing more.
 * A string (key or value) holding a character `visible` escapes is written double-quoted, with
 * that character as a `\u` escape: the value read back is the same, the terminal shows it.
 */
export async function printYaml(io: IO, value: unknown): Promise<void> {
  const { Document, isScalar, visit } = await import('yaml'); // only for -o yaml
  const plain: unknown = value === undefined ? null : JSON.parse(JSON.stringify(value));
  const doc = new Document(plain);
  let quotedAny = false;
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(node.value)) {
        node.type = 'QUOTE_DOUBLE';
        quotedAny = true;
      }
    },
  });
  let text = doc.toString({ lineWidth: 0 });
  // only double-quoted scalars hold such characters now, where `\uXXXX` means the character itself
  if (quotedAny) text = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu, (ch) => (ch === '\n' ? ch : utf16Escape(ch)));
  io.out.write(text);
}

/** A cell of a human table: a plain value is made visible; Styled (ours, coloured) is written as it is. */
export type Cell = Shown;

/** A borderless table like kubectl's; plain columns when stdout is not a terminal. Every plain cell is made visible. */
export async function printTable(io: IO, head: string[], rows: ReadonlyArray<ReadonlyArray<Cell>>): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const t = new Table({
    head: head.map((h) => (io.color ? io.chalk.bold(h) : h)),
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2 },
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '',
    },
  });
  for (const r of rows) t.push(r.map(shown));
  writeStyled(io, new Styled(`${t.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`));
}

export function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
