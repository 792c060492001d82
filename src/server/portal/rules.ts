/**
 * The account owner's rules as the portal applies them, behind one small function each: the
 * retention a customer's own deletion gets, and what of a job, a row or an error the customer may
 * read. The rules themselves are the one policy's (src/service/policy.ts), which the API and the
 * console ask too; this module only words them for the customer.
 */
import type { CustomerRow } from '../../adapters/store.js';
import type { ErrorName } from '../../domain/errors.js';
import type { Job } from '../../domain/job.js';
import { formatRetention } from '../../domain/duration.js';
import { UsageError } from '../../errors.js';
import { defaultRetentionFor, deletionTerms, errorForOwner, jobForOwner, ownerNotFound, rowForOwner, type RetentionRule } from '../../service/policy.js';

/** The customer, as the policy knows an account owner. */
const CUSTOMER = { role: 'owner', name: 'portal' } as const;

/** The retention a customer gets when it asks for none: the site's, never below the owner's minimum. */
export function ownerDefaultRetention(r: RetentionRule): number {
  return defaultRetentionFor(CUSTOMER, r);
}

/**
 * The retention of a deletion the customer schedules itself: what it asked for (or the default),
 * refused below the owner's minimum. Never immediate.
 */
export function ownerRetention(r: RetentionRule, askedMs: number | undefined): number {
  const terms = deletionTerms(CUSTOMER, askedMs === undefined ? {} : { afterMs: askedMs }, r);
  if (!terms.allowed) {
    const asked = terms.refusal === 'too-soon' ? terms.afterMs : 0;
    throw new UsageError(`Your deletion waits at least ${formatRetention(r.ownerMinMs)} (you asked for ${asked === 0 ? 'now' : formatRetention(asked)}): it is never immediate. Nothing was scheduled.`);
  }
  return terms.afterMs ?? ownerDefaultRetention(r);
}

/** A job as the customer (principal `ownerName`) may read it. */
export const ownerJob = (job: Job, ownerName: string): Job => jobForOwner(job, ownerName);

/** The customer's row as it may read it. */
export const ownerRow = (row: CustomerRow): Omit<CustomerRow, 'cluster'> => rowForOwner(row);

/** An error as the customer reads it: its own input and state only, the site's strings taken out. */
export function ownerError(name: ErrorName, message: string, id: unknown, secrets: readonly string[]): string {
  return errorForOwner(name, message, ownerNotFound(id), secrets).message;
}
