/**
 * What a bearer token may hold: printable ASCII without spaces (RFC 6750's b64token is a subset).
 * A token is never shown: a bad character is described by its position and kind only.
 */
import { describeCodePoint } from './visible.js';

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
