/**
 * The account owner's rules as the portal applies them, behind one small function each: the
 * retention a customer's own deletion gets, and what of a job, a row or an error the customer may
 * read. The rules themselves are the API's and the console's (src/jobs/owner-view.ts, and the
 * owner's retention of src/server/app.ts); the portal calls them only through this module, so that
 * they can be repointed at one policy module without touching the portal's routes.
 */
import type { CustomerRow } from '../../adapters/store.js';
import type { ErrorName } from '../../domain/errors.js';
import type { Job } from '../../domain/job.js';
import { formatRetention } from '../../domain/duration.js';
import { UsageError } from '../../errors.js';
import { errorForOwner, jobForOwner, ownerNotFound, rowForOwner } from '../../jobs/owner-view.js';

export interface RetentionRule {
  /** the site's default retention, ms */
  defaultMs: number;
  /** the shortest an account owner may ask for, ms (never 0) */
  ownerMinMs: number;
}

/** The retention a customer gets when it asks for none: the site's, never below the owner's minimum. */
export function ownerDefaultRetention(r: RetentionRule): number {
  return Math.max(r.defaultMs, r.ownerMinMs);
}

/**
 * The retention of a deletion the customer schedules itself: what it asked for (or the default),
 * refused below the owner's minimum. Never immediate.
 */
export function ownerRetention(r: RetentionRule, askedMs: number | undefined): number {
  const afterMs = askedMs ?? ownerDefaultRetention(r);
  if (afterMs < r.ownerMinMs) {
    throw new UsageError(`Your deletion waits at least ${formatRetention(r.ownerMinMs)} (you asked for ${afterMs === 0 ? 'now' : formatRetention(afterMs)}): it is never immediate. Nothing was scheduled.`);
  }
  return afterMs;
}

/** A job as the customer (principal `ownerName`) may read it. */
export const ownerJob = (job: Job, ownerName: string): Job => jobForOwner(job, ownerName);

/** The customer's row as it may read it. */
export const ownerRow = (row: CustomerRow): Omit<CustomerRow, 'cluster'> => rowForOwner(row);

/** An error as the customer reads it: its own input and state only, the site's strings taken out. */
export function ownerError(name: ErrorName, message: string, id: unknown, secrets: readonly string[]): string {
  return errorForOwner(name, message, ownerNotFound(id), secrets).message;
}
