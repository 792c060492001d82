/**
 * Stripe's v1 request encoding, decoded as Stripe documents it: `application/x-www-form-urlencoded`
 * pairs (the query string for GET and DELETE, the body for POST) whose keys nest with brackets:
 * `a[b]=1` is a hash, `a[]=1&a[]=2` and `a[0]=1&a[1]=2` are arrays (the official SDKs send the
 * indexed form; Stripe accepts both), `a=` is the empty string (Stripe reads it as "unset").
 *
 * Brackets may arrive encoded (`%5B`) or not: the official node SDK leaves them readable.
 */
import { StripeHttpError } from './errors.js';

export type FormValue = string | FormValue[] | FormHash;
export interface FormHash { [key: string]: FormValue }

/** The pairs of a query string or body, decoded (`+` is a space). */
export function decodePairs(text: string): Array<[string, string]> {
  if (text === '') return [];
  return text.split('&').filter((p) => p !== '').map((p) => {
    const i = p.indexOf('=');
    const raw = i < 0 ? [p, ''] : [p.slice(0, i), p.slice(i + 1)];
    try {
      return raw.map((s) => decodeURIComponent((s as string).replace(/\+/g, ' '))) as [string, string];
    } catch {
      throw invalid(`Invalid request: the form data holds a malformed percent-encoding (${JSON.stringify(p.slice(0, 40))})`);
    }
  });
}

/** `a[b][0]` → ['a', 'b', '0']; `a[]` → ['a', '']. */
export function keyPath(key: string): string[] {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!m) throw invalid(`Invalid request: cannot read the parameter name ${JSON.stringify(key)}`);
  const rest = [...(m[2] as string).matchAll(/\[([^[\]]*)\]/g)].map((x) => x[1] as string);
  return [m[1] as string, ...rest];
}

/** Builds the nested parameters from decoded pairs. */
export function decodeForm(pairs: Array<[string, string]>): FormHash {
  // arrays are first collected as index → value maps, then compacted in index order
  type Tmp = { kind: 'hash'; v: Map<string, Tmp> } | { kind: 'array'; v: Map<number, Tmp>; next: number } | { kind: 'leaf'; v: string };
  const root: Tmp = { kind: 'hash', v: new Map() };
  for (const [key, value] of pairs) {
    const path = keyPath(key);
    let node: Tmp = root;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as string;
      const last = i === path.length - 1;
      const nextSeg = path[i + 1];
      const childKind = last ? 'leaf' : nextSeg === '' || /^\d+$/.test(nextSeg as string) ? 'array' : 'hash';
      const make = (): Tmp => (childKind === 'leaf' ? { kind: 'leaf', v: value } : childKind === 'array' ? { kind: 'array', v: new Map(), next: 0 } : { kind: 'hash', v: new Map() });
      const shown = path.slice(0, i + 1).map((s, j) => (j === 0 ? s : `[${s}]`)).join('');
      if (node.kind === 'hash') {
        if (seg === '' || /^\d+$/.test(seg)) throw invalid(`Invalid array: ${shown}`, shown);
        const have: Tmp | undefined = node.v.get(seg);
        if (have === undefined) {
          const c = make();
          node.v.set(seg, c);
          node = c;
        } else {
          if (last || have.kind !== childKind) throw invalid(`Invalid request: the parameter ${shown} is given more than once, or both as a value and as a hash or array`, shown);
          node = have;
        }
      } else if (node.kind === 'array') {
        const idx = seg === '' ? node.next : Number(seg);
        if (seg !== '' && !/^\d+$/.test(seg)) throw invalid(`Invalid array: ${shown}`, shown);
        node.next = Math.max(node.next, idx + 1);
        const have: Tmp | undefined = node.v.get(idx);
        if (have === undefined || seg === '') {
          const c = make();
          node.v.set(idx, c);
          node = c;
        } else {
          if (last || have.kind !== childKind) throw invalid(`Invalid request: the parameter ${shown} is given more than once`, shown);
          node = have;
        }
      } else {
        throw invalid(`Invalid request: ${shown} is both a value and a hash`, shown);
      }
    }
  }
  const out = (t: Tmp): FormValue => {
    if (t.kind === 'leaf') return t.v;
    if (t.kind === 'array') return [...t.v.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => out(v));
    const h: FormHash = {};
    for (const [k, v] of t.v) h[k] = out(v);
    return h;
  };
  return out(root) as FormHash;
}

function invalid(message: string, param?: string): StripeHttpError {
  return new StripeHttpError(400, { type: 'invalid_request_error', message, ...(param ? { param } : {}) });
}
