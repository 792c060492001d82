/**
 * Text that came from outside (a company name, an e-mail, an error a server sent, an object name,
 * a log line) shown to a person: every character that a terminal would act on instead of showing,
 * or that hides or reorders text, is written as an escape (`\u001b`, `\r`, `\u202e`), so what is
 * printed is what is there. A value can then neither clear the screen, move the cursor, set the
 * window title, forge a hyperlink (OSC 8), overwrite a line with `\r`, add a fake line with `\n`,
 * nor reverse the text after it (bidi overrides).
 *
 * The characters made visible: control characters (C0, DEL, C1: \p{Cc}), format characters
 * (\p{Cf}: bidi embeddings, overrides and isolates, zero-width space/joiners, soft hyphen, word
 * joiner, byte-order mark, tag characters), the line and paragraph separators (U+2028, U+2029)
 * and lone surrogates. Everything else, non-Latin scripts and emoji included, is shown as it is.
 *
 * The escapes are JSON's (`\n`, `\t`, `\u001b`), and `\u{e0001}` beyond the BMP. JSON and YAML
 * output keep the exact value (as escapes inside their strings: see src/output/print.ts).
 */

/** Every character made visible. */
export const UNSAFE_CHARACTERS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const SHORT: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };

/** The escape of one unsafe character: `\n`, `\u001b`, `\u202e`, `\u{e0001}`. */
export function escapeCharacter(ch: string): string {
  const short = SHORT[ch];
  if (short) return short;
  const cp = ch.codePointAt(0) ?? 0;
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** True when `s` holds a character that `visible` would escape. */
export function hasUnsafe(s: string): boolean {
  UNSAFE_CHARACTERS.lastIndex = 0;
  const r = UNSAFE_CHARACTERS.test(s);
  UNSAFE_CHARACTERS.lastIndex = 0;
  return r;
}

/** One line of text as it may be shown: every unsafe character (line breaks included) escaped. */
export function visible(s: string): string {
  return s.replace(UNSAFE_CHARACTERS, escapeCharacter);
}

/** Text of several lines (a help text, a stack trace): line breaks kept, everything else as `visible`. */
export function visibleLines(s: string): string {
  return s.split('\n').map(visible).join('\n');
}

/**
 * A value shown quoted in a message (`"cust_\u001b[2J" is not a customer ID`): JSON's quoting
 * (`\"`, `\\`, control characters), and the characters JSON leaves raw (C1, bidi, format) escaped too.
 */
export function quoted(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`).replace(UNSAFE_CHARACTERS, escapeCharacter)}"`;
}

const CODE_POINT_NAMES: Record<number, string> = {
  0x00: 'a NUL byte',
  0x09: 'a tab',
  0x0a: 'a line feed (LF)',
  0x0d: 'a carriage return (CR)',
  0x20: 'a space',
  0x7f: 'a DEL control character',
  0xa0: 'a no-break space',
  0x200b: 'a zero-width space',
  0xfeff: 'a byte-order mark',
};

/** The kind of a character, without the character itself: `a carriage return (CR), U+000D`. */
export function describeCodePoint(cp: number): string {
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const name = CODE_POINT_NAMES[cp] ?? (cp < 0x20 || (cp >= 0x80 && cp < 0xa0) ? 'a control character' : 'a non-ASCII character');
  return `${name}, ${hex}`;
}
