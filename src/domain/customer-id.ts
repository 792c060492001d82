import { InvalidIdError } from './errors.js';

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

function describeInvalidId(raw: string): string {
  const shown = JSON.stringify(raw);
  if (/^\d+$/.test(raw)) {
    return `${shown} looks like a database row id; pass the customer's cust_… ID instead (e.g. cust_abc123; see 'custctl customers list')`;
  }
  if (raw === 'cust_' || raw === '') return `${shown} is not a customer ID: expected cust_ followed by 1-${MAX_KEY_LENGTH} lowercase letters or digits`;
  if (raw.startsWith('cust_')) {
    const key = raw.slice(5);
    if (key.length > MAX_KEY_LENGTH) {
      return `${shown} is not a customer ID: its key has ${key.length} characters, at most ${MAX_KEY_LENGTH} are allowed (Helm's 53-character release name limit)`;
    }
    return `${shown} is not a customer ID: after cust_ only lowercase letters a-z and digits 0-9 are allowed`;
  }
  return `${shown} is not a customer ID: expected cust_ followed by 1-${MAX_KEY_LENGTH} lowercase letters or digits (e.g. cust_abc123)`;
}

/** Several IDs, all validated before anything happens; naming one twice is an error too. */
export function parseCustomerIds(raws: readonly string[]): CustomerId[] {
  const out: CustomerId[] = [];
  for (const raw of raws) {
    const c = parseCustomerId(raw);
    if (out.some((x) => x.id === c.id)) throw new InvalidIdError(`${c.id} is named twice`);
    out.push(c);
  }
  return out;
}
