/**
 * Human output is built from two kinds of text: ours (labels, layout, colour) and values that came
 * from outside (names, e-mails, errors, log lines). Values are made visible (src/domain/visible.ts)
 * by default; only `Styled` text, which is built here from our own literals and already-visible
 * values, is written as it is.
 *
 * - `h\`Customer ${id} (${company})\`` : the literal parts are ours, each value is made visible
 *   unless it is Styled already;
 * - `paint(chalk).red(value)`          : the value made visible, then coloured;
 * - `styled(text)`                     : the explicit opt-out, for text that is ours alone.
 *
 * The sinks take it from there: the table printer, the Reporter (stderr) and the human views'
 * stdout (src/output/print.ts) write Styled text as it is and make any plain string visible.
 */
import type { ChalkInstance } from 'chalk';
import { visible } from '../domain/visible.js';

/** Text that is safe to write to a terminal as it is: ours, with every outside value made visible. */
export class Styled {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
  /** Styled parts joined by our own separator. */
  static join(parts: readonly Styled[], separator = '\n'): Styled {
    return new Styled(parts.map((p) => p.text).join(separator));
  }
}

export type Shown = string | number | boolean | null | undefined | Styled;

/** A value as it may be written: Styled as it is, anything else made visible. */
export function shown(x: Shown): string {
  if (x instanceof Styled) return x.text;
  return visible(String(x ?? ''));
}

/** Marks text as ours (no value from outside in it): written as it is. */
export function styled(text: string): Styled {
  return new Styled(text);
}

/** A template whose literal parts are ours and whose values are made visible (unless Styled). */
export function h(strings: TemplateStringsArray, ...values: Shown[]): Styled {
  let s = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) s += shown(values[i]) + (strings[i + 1] ?? '');
  return new Styled(s);
}

type Style = (x: Shown) => Styled;

/** chalk's styles over values made visible: what human views colour with. */
export interface Paint {
  readonly color: boolean;
  bold: Style;
  dim: Style;
  red: Style;
  green: Style;
  yellow: Style;
  cyan: Style;
  blue: Style;
  gray: Style;
  magenta: Style;
}

const STYLES = ['bold', 'dim', 'red', 'green', 'yellow', 'cyan', 'blue', 'gray', 'magenta'] as const;

export function paint(c: ChalkInstance): Paint {
  const p = { color: c.level > 0 } as { -readonly [K in keyof Paint]: Paint[K] };
  for (const name of STYLES) p[name] = (x: Shown) => new Styled(c[name](shown(x)));
  return p;
}
