/**
 * Erasure ("right to be forgotten"), the rules: which of a customer row's fields are personal,
 * when an erasure is refused, and how personal values are found and removed from the text custctl
 * kept elsewhere (the job journal: job data, results, failure messages, logs).
 *
 * - Personal fields: `email`, `company_name`, `instance_url`, and the site's extra columns
 *   (CUSTCTL_ERASE_COLUMNS, e.g. `phone,billing_address`). Never custctl's own columns: the id,
 *   the status, the deletion bookkeeping, the times (an erased row stays a row: billing's id for
 *   it, the audit log's customer id).
 * - Refused while the customer has an instance (any status but `pending`, a namespace in the row
 *   or on the cluster) or a deletion that is pending, scheduled or running (`deleting`, or a job
 *   of the customer that has not ended): an erasure must come after the deletion, not race it.
 * - The audit log holds no personal data (customer id, pseudonymous actor, counts and object
 *   names), so an erasure never rewrites the chain; the erasure itself is an audit row
 *   (`customer-erased`) that names the columns erased, never their values.
 */
import type { Job, JobData } from './job.js';

/** The row's own personal fields (column names). */
export const PERSONAL_COLUMNS = ['email', 'company_name', 'instance_url'] as const;

/**
 * custctl's own columns: an erasure never touches them (REQUIRED_CUSTOMER_COLUMNS without the
 * personal ones; a unit test keeps the two lists equal).
 */
export const CUSTCTL_OWN_COLUMNS = [
  'id', 'customer_id', 'deployment_status', 'instance_namespace', 'deletion_job_id', 'previous_status',
  'deletion_scheduled_at', 'deleted_at', 'created_at', 'updated_at',
] as const;

/** A column name custctl will put in SQL: ASCII letters, digits and `_`, not starting with a digit, at most 63 (PostgreSQL's limit). Always written quoted. */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export class EraseColumnsError extends Error {}

/**
 * CUSTCTL_ERASE_COLUMNS: extra personal columns of `customers`, separated by commas or white
 * space. Each an identifier as the table spells it (quoted in SQL, so `phoneNumber` is the
 * camelCase column Prisma makes without @map); never one of custctl's own columns.
 */
export function parseEraseColumns(raw: string | undefined, source = 'CUSTCTL_ERASE_COLUMNS'): string[] {
  const out: string[] = [];
  for (const c of (raw ?? '').split(/[\s,]+/).filter(Boolean)) {
    if (!IDENTIFIER.test(c)) throw new EraseColumnsError(`${source}: ${JSON.stringify(c.slice(0, 80))} is not a column name (letters, digits and _, not starting with a digit, at most 63)`);
    if ((CUSTCTL_OWN_COLUMNS as readonly string[]).includes(c)) throw new EraseColumnsError(`${source}: ${c} is one of custctl's own columns: an erasure never touches it`);
    if ((PERSONAL_COLUMNS as readonly string[]).includes(c)) continue; // erased anyway
    if (!out.includes(c)) out.push(c);
  }
  return out;
}

/** Every column an erasure blanks: the personal ones, then the site's extra ones. */
export function erasableColumns(extra: readonly string[] = []): string[] {
  return [...PERSONAL_COLUMNS, ...extra.filter((c) => !(PERSONAL_COLUMNS as readonly string[]).includes(c))];
}

/** `"col"`: an identifier checked by parseEraseColumns (or a personal column), quoted for SQL. */
export function quoteColumn(c: string): string {
  if (!IDENTIFIER.test(c)) throw new EraseColumnsError(`${JSON.stringify(c)} is not a column name custctl writes into SQL`);
  return `"${c}"`;
}

/** What the erasure rule looks at. */
export interface ErasureSubject {
  customerId: string;
  row: { deploymentStatus: string; instanceNamespace: string; deletionScheduledAt: string | null; deletionJobId: string | null } | null;
  /** jobs of the customer that have not ended (waiting, delayed, active) */
  unfinishedJobs: ReadonlyArray<{ id: string; name: string; state: string }>;
  /** the customer's namespace exists on the cluster (undefined: not looked at) */
  namespaceExists?: boolean;
}

export type ErasureRefusal = { reason: 'not-found' | 'instance' | 'deletion' | 'job'; message: string; next: string };

/** Why the erasure is refused, or null when it may go ahead. */
export function erasureRefusal(s: ErasureSubject): ErasureRefusal | null {
  const id = s.customerId;
  if (!s.row) return { reason: 'not-found', message: `customer ${id} has no row: nothing to erase`, next: "List customers with 'custctl customers list'." };
  const r = s.row;
  if (r.deploymentStatus === 'deleting') {
    const when = r.deletionScheduledAt ? `scheduled for ${r.deletionScheduledAt}` : 'in progress';
    return { reason: 'deletion', message: `customer ${id} has a deletion ${when} (job ${r.deletionJobId ?? '?'}): refusing to erase before it has run`, next: 'Erase after the deletion has completed; or cancel it first if the customer stays.' };
  }
  if (r.deploymentStatus !== 'pending') {
    return { reason: 'instance', message: `customer ${id} is ${r.deploymentStatus}: it may still have an instance; refusing to erase`, next: `Delete it first ('custctl delete ${id}'), then erase.` };
  }
  if (r.instanceNamespace !== '') {
    return { reason: 'instance', message: `customer ${id}'s row still names namespace ${r.instanceNamespace}: refusing to erase`, next: `Delete it first ('custctl delete ${id}'), then erase.` };
  }
  const job = s.unfinishedJobs[0];
  if (job) return { reason: 'job', message: `customer ${id} has ${job.name} job ${job.id} ${job.state}: refusing to erase while it may still run`, next: `Wait for it ('custctl status job ${job.id} --watch') or cancel it.` };
  if (s.namespaceExists) return { reason: 'instance', message: `customer ${id}'s namespace still exists on the cluster: refusing to erase`, next: `Delete it first ('custctl delete ${id}'), then erase.` };
  return null;
}

// ---- finding personal values in text -----------------------------------------------------------

/** What replaces a personal value in kept text. */
export const ERASED_MARK = '[erased]';

/** Shorter values are not looked for: a two-letter company name would match inside ordinary words and ids. */
export const MIN_NEEDLE_LENGTH = 3;

export interface Needles {
  /** one pattern for every form of every value */
  readonly pattern: RegExp | null;
  /** values left out (shorter than MIN_NEEDLE_LENGTH) */
  readonly tooShort: number;
  /** custctl's own names that are never changed, even where a value matches inside them (`cust_acme`, `customer-acme`) */
  readonly keep: readonly string[];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The forms a value takes in kept text: as is, JSON-escaped, percent-encoded, and a URL's host. */
function formsOf(v: string): string[] {
  const forms = new Set<string>([v]);
  forms.add(JSON.stringify(v).slice(1, -1));
  try {
    forms.add(encodeURIComponent(v));
  } catch {
    // a lone surrogate: no percent-encoded form
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    try {
      const host = new URL(v).hostname;
      if (host.length >= MIN_NEEDLE_LENGTH) forms.add(host);
    } catch {
      // not a URL after all
    }
  }
  return [...forms].filter((f) => f.length >= MIN_NEEDLE_LENGTH);
}

/**
 * The personal values to look for (empty and short ones left out). Matching is case-insensitive
 * and whole-word: a value is found where no letter, digit or `_` touches it, so the company
 * `Test` is found in `Test GmbH` and `"Test"`, never inside `latest`. `keep`: custctl's own names
 * (the customer id, its namespace, its RBAC names), left whole even where a value matches in them.
 */
export function personalNeedles(values: Iterable<string | null | undefined>, keep: Iterable<string> = []): Needles {
  const forms = new Set<string>();
  let tooShort = 0;
  for (const raw of values) {
    const v = (raw ?? '').trim();
    if (v === '') continue;
    if (v.length < MIN_NEEDLE_LENGTH) {
      tooShort += 1;
      continue;
    }
    for (const f of formsOf(v)) forms.add(f);
  }
  const kept = [...new Set([...keep].filter((k) => k !== ''))];
  if (forms.size === 0) return { pattern: null, tooShort, keep: kept };
  // longest first: a value containing another is replaced whole
  const alternatives = [...forms].sort((a, b) => b.length - a.length || (a < b ? -1 : 1)).map(escapeRegExp);
  return { pattern: new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}_])`, 'giu'), tooShort, keep: kept };
}

/** Where the kept names are in `s` (start, end), case-insensitive like the matching. */
function keptSpans(s: string, keep: readonly string[]): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  for (const m of s.matchAll(new RegExp(keep.map(escapeRegExp).join('|'), 'giu'))) spans.push([m.index, m.index + m[0].length]);
  return spans;
}

export function scrubText(s: string, n: Needles): { text: string; count: number } {
  if (!n.pattern) return { text: s, count: 0 };
  let count = 0;
  const spans = n.keep.length ? keptSpans(s, n.keep) : [];
  const text = s.replace(n.pattern, (match: string, offset: number) => {
    if (spans.some(([a, b]) => offset < b && offset + match.length > a)) return match;
    count += 1;
    return ERASED_MARK;
  });
  return { text, count };
}

/** Every string in a JSON value (object keys left as they are), scrubbed; a new value, the input untouched. */
export function scrubValue<T>(v: T, n: Needles): { value: T; count: number } {
  let count = 0;
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') {
      const r = scrubText(x, n);
      count += r.count;
      return r.text;
    }
    if (Array.isArray(x)) return x.map(walk);
    if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    return x;
  };
  const value = walk(v) as T;
  return { value, count };
}

/**
 * The parts of a job where personal text can be: its data (not the customer id, namespace or its
 * uid, which are pseudonymous and the job's identity), its result, its failure message and stack
 * trace, and each attempt's error and log lines. Returns the job scrubbed (a new object) and how
 * many values were replaced.
 */
export function scrubJobRecord(job: Job, n: Needles): { job: Job; count: number } {
  let count = 0;
  const s = <T>(v: T): T => {
    const r = scrubValue(v, n);
    count += r.count;
    return r.value;
  };
  const { customerId, namespace, namespaceUid, ...rest } = job.data;
  const data: JobData = { ...s(rest), ...(customerId !== undefined ? { customerId } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(namespaceUid !== undefined ? { namespaceUid } : {}) };
  const out: Job = {
    ...job,
    data,
    returnvalue: s(job.returnvalue),
    failedReason: job.failedReason === null ? null : s(job.failedReason),
    stacktrace: s(job.stacktrace),
    attempts: job.attempts.map((a) => ({ ...a, ...(a.error !== undefined ? { error: s(a.error) } : {}), log: s(a.log) })),
  };
  return { job: out, count };
}
