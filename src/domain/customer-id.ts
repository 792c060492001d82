import { CliError, InvalidIdError, type Refusal } from './errors.js';
import { describeCodePoint, quoted } from './visible.js';

/** The longest key whose release name `customer-<key>` still fits Helm's 53-character limit. */
export const MAX_KEY_LENGTH = 44;

const CUSTOMER_ID = /^cust_([a-z0-9]{1,44})$/;

export interface CustomerId {
  /** `cust_abc123` */
  readonly id: string;
  /** `abc123`: the tail every derived name is built from */
  readonly key: string;
}

/**
 * Validates a customer ID as given by an operator or an API client. Only `cust_` followed by
 * 1–44 of [a-z0-9] is accepted; nothing is trimmed or lower-cased, so what is validated is
 * exactly what is acted on.
 */
export function parseCustomerId(raw: string): CustomerId {
  const m = CUSTOMER_ID.exec(raw);
  if (m?.[1]) return { id: raw, key: m[1] };
  throw new InvalidIdError(describeInvalidId(raw));
}

/** At most this much of a rejected input is shown back (an API client may send anything). */
const SHOWN_MAX = 64;

/** The input as shown in an error: quoted with every control or format character escaped (`quoted`), and cut (with its length) when long. */
export function shownInput(raw: string): string {
  const chars = [...raw];
  if (chars.length <= SHOWN_MAX) return quoted(raw);
  return `${quoted(chars.slice(0, SHOWN_MAX).join(''))}… (${chars.length} characters)`;
}

/** Which character (1-based position, code point) breaks `cust_[a-z0-9]+`, or null. */
function firstBadCharacter(raw: string): string | null {
  const chars = [...raw];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    const cp = ch.codePointAt(0) ?? 0;
    const ok = i < 5 ? ch === 'cust_'[i] : /^[a-z0-9]$/.test(ch);
    if (ok) continue;
    const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
    let kind: string;
    if (cp > 0x7e || cp < 0x21) kind = `${describeCodePoint(cp)}${cp > 0x7f && /\p{L}|\p{N}/u.test(ch) ? ' that may look like a Latin letter or digit' : ''}`;
    else if (/[A-Z]/.test(ch)) kind = `an uppercase letter ${quoted(ch)}, ${hex}`;
    else kind = `${quoted(ch)}, ${hex}`;
    return `character ${i + 1} is ${kind}`;
  }
  return null;
}

function describeInvalidId(raw: string): string {
  const shown = shownInput(raw);
  if (/^\d+$/.test(raw) && raw.length <= 20) {
    return `${shown} looks like a database row id; pass the customer's cust_… ID instead (e.g. cust_abc123; see 'custctl customers list')`;
  }
  if (raw === 'cust_' || raw === '') return `${shown} is not a customer ID: expected cust_ followed by 1-${MAX_KEY_LENGTH} lowercase letters or digits`;
  const bad = firstBadCharacter(raw);
  if (raw.startsWith('cust_') && !bad) {
    const key = raw.slice(5);
    return `${shown} is not a customer ID: its key has ${[...key].length} characters, at most ${MAX_KEY_LENGTH} are allowed (Helm's 53-character release name limit)`;
  }
  if (raw.startsWith('cust_')) return `${shown} is not a customer ID: ${bad}; after cust_ only lowercase letters a-z and digits 0-9 are allowed`;
  return `${shown} is not a customer ID: ${bad ? `${bad}; ` : ''}expected cust_ followed by 1-${MAX_KEY_LENGTH} lowercase letters or digits (e.g. cust_abc123)`;
}

/**
 * An optional id flag (`--customer`): absent is undefined, anything given is validated, the empty
 * string included (an unset shell variable must not widen a command to every customer).
 */
export function parseOptionalCustomerId(raw: string | undefined): CustomerId | undefined {
  return raw === undefined ? undefined : parseCustomerId(raw);
}

/** Several IDs, every one checked: the valid ones, and a refusal for each invalid or repeated one. */
export function checkCustomerIds(raws: readonly string[]): { ids: CustomerId[]; refusals: Refusal[] } {
  const ids: CustomerId[] = [];
  const refusals: Refusal[] = [];
  for (const raw of raws) {
    try {
      const c = parseCustomerId(raw);
      if (ids.some((x) => x.id === c.id)) throw new InvalidIdError(`${c.id} is named twice`);
      ids.push(c);
    } catch (e) {
      if (!(e instanceof CliError)) throw e;
      refusals.push({ subject: '', error: e });
    }
  }
  return { ids, refusals };
}

