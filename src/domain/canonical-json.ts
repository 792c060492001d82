/**
 * Canonical JSON: the one byte string a signed document is signed as. The rules are those of
 * RFC 8785 (JCS) for the values custctl signs: object members sorted by their names' UTF-16 code
 * units, no white space, strings escaped as ECMAScript's JSON.stringify escapes them (which is what
 * JCS prescribes), `true`/`false`/`null`. Numbers are limited to safe integers (their one
 * serialisation is the same in every language), so a document with a fraction, NaN or an
 * unrepresentable integer is refused rather than signed in a form another verifier might write
 * differently. `undefined`, functions, symbols and bigint are refused too.
 */

export class CanonicalJsonError extends Error {}

/** UTF-16 code unit order, as JCS sorts member names (not localeCompare). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function canonicalJson(value: unknown, path = '$'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) throw new CanonicalJsonError(`${path}: ${String(value)} is not a safe integer (a signed document holds whole numbers only)`);
      return String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(`${path}: not a plain object`);
      const entries = Object.entries(value as Record<string, unknown>);
      for (const [k, v] of entries) if (v === undefined) throw new CanonicalJsonError(`${path}.${k}: undefined has no JSON form`);
      return `{${entries.sort(([a], [b]) => byCodeUnits(a, b)).map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, `${path}.${k}`)}`).join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`${path}: a ${typeof value} has no JSON form`);
  }
}
