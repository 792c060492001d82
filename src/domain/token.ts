/**
 * What a bearer token may hold: printable ASCII without spaces (RFC 6750's b64token is a subset).
 * A token is never shown: a bad character is described by its position and kind only.
 */

const NAMES: Record<number, string> = {
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
  const name = NAMES[cp] ?? (cp < 0x20 || (cp >= 0x80 && cp < 0xa0) ? 'a control character' : 'a non-ASCII character');
  return `${name}, ${hex}`;
}

/** Null when `token` can travel in an Authorization header; else which character is wrong (never the token). */
export function tokenProblem(token: string): string | null {
  let pos = 0;
  for (const ch of token) {
    pos += 1;
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x21 || cp > 0x7e) return `holds an invalid character at position ${pos} of ${[...token].length} (${describeCodePoint(cp)}); a token is printable ASCII without spaces or line breaks`;
  }
  return null;
}
