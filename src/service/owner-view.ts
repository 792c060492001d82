/**
 * What an account owner (an owner token, through the API or the console) is shown: its own
 * customer and that customer's jobs, and nothing of how the site runs. No database location, no
 * cluster server or context, no backup URL, no other token's name, no `pid@host` of a worker, no
 * error text from the cluster or the database, no stack trace. A job of another customer and a job
 * that does not exist read the same (status and body), as do another customer and a missing one.
 *
 * Allow-listed by construction (only the fields below are copied), then scrubbed of the site's
 * own strings (`secrets`) as a second net for text that is kept (refusal messages).
 */
import type { Job } from '../domain/job.js';
import type { ErrorName } from '../domain/errors.js';
import type { DeliveryView } from '../domain/webhook.js';
import { isJobId } from '../domain/job-id.js';

/** Who asked, for the owner's eyes: its own token's requests by name, everyone else's as the operators'. */
export const OPERATOR = 'an operator';

/** A failure as the owner reads it: what happened, not the server's words. */
function ownerReason(job: Pick<Job, 'failedReason' | 'failedCode'>): string | null {
  if (job.failedReason === null) return null;
  if (job.failedReason === 'cancelled') return 'cancelled';
  return `the deletion did not succeed (${job.failedCode ?? 'internal'}); the operators have the details`;
}

/** The result fields that concern the customer (never the backup's location or RBAC errors' text). */
function ownerResult(rv: unknown): unknown {
  if (typeof rv !== 'object' || rv === null) return null;
  const r = rv as Record<string, unknown>;
  const keep = ['customerId', 'namespace', 'jobId', 'simulated', 'outcome', 'namespaceOutcome', 'releases', 'row', 'durationMs'] as const;
  const out: Record<string, unknown> = {};
  for (const k of keep) if (k in r) out[k] = r[k];
  if (r.backup !== undefined) out.backup = { written: true };
  return out;
}

/** A job as its customer's owner sees it: the same schema, the site's internals left out. */
export function jobForOwner(job: Job, ownerName: string): Job {
  const mine = job.requestedBy === `api:${ownerName}`;
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    progress: job.progress,
    data: {
      ...(job.data.customerId !== undefined ? { customerId: job.data.customerId } : {}),
      ...(job.data.namespace !== undefined ? { namespace: job.data.namespace } : {}),
      ...(job.data.scheduledFor !== undefined ? { scheduledFor: job.data.scheduledFor } : {}),
    },
    opts: { attempts: job.opts.attempts, backoff: job.opts.backoff, timeoutMs: job.opts.timeoutMs },
    attemptsMade: job.attemptsMade,
    maxAttempts: job.maxAttempts,
    delayUntil: job.delayUntil,
    failedReason: ownerReason(job),
    failedCode: job.failedCode,
    stacktrace: [],
    returnvalue: ownerResult(job.returnvalue),
    requestedBy: mine ? job.requestedBy : OPERATOR,
    simulated: job.simulated,
    timestamp: job.timestamp,
    processedOn: job.processedOn,
    finishedOn: job.finishedOn,
    ...(job.previousStatus !== undefined ? { previousStatus: job.previousStatus } : {}),
    attempts: job.attempts.map((a) => ({ attempt: a.attempt, startedOn: a.startedOn, finishedOn: a.finishedOn, worker: '', outcome: a.outcome, log: [] })),
    lease: null,
  };
}

/** Its customer row as an owner reads it: which cluster holds it is how the site runs, left out. */
export function rowForOwner<T extends { cluster?: unknown }>(row: T): Omit<T, 'cluster'> {
  const { cluster: _cluster, ...rest } = row;
  return rest;
}

type OwnerDelivery<T> = Pick<T, Extract<keyof T, 'id' | 'jobId' | 'event' | 'state' | 'attempts' | 'createdAt' | 'deliveredAt'>>;

/** A webhook delivery of its job as an owner sees it: that it was sent and how it went, not where to. */
export function deliveryForOwner<T extends Pick<DeliveryView, 'id' | 'jobId' | 'event' | 'state' | 'attempts'> & { createdAt: unknown; deliveredAt: unknown }>(d: T): OwnerDelivery<T> {
  return { id: d.id, jobId: d.jobId, event: d.event, state: d.state, attempts: d.attempts, createdAt: d.createdAt, deliveredAt: d.deliveredAt } as OwnerDelivery<T>;
}

/**
 * What a not-found answer says to an owner about the id in the path (`customer cust_x not found`,
 * `job 12 not found`): the same for another customer's and a missing one. Anything that is not an
 * id is not echoed.
 */
export function ownerNotFound(id: unknown): string {
  if (typeof id === 'string' && isJobId(id)) return `job ${id} not found`;
  if (typeof id === 'string' && /^cust_[a-z0-9]{1,44}$/.test(id)) return `customer ${id} not found`;
  return 'not found';
}

/** An error answer as an owner gets it. */
export interface OwnerError {
  message: string;
  details: string[];
}

/** Error names whose message an owner may read (its own input, its own customer's state). */
const SAID_TO_OWNERS: ReadonlySet<ErrorName> = new Set(['invalid_id', 'invalid_request', 'usage', 'conflict', 'unauthorized', 'forbidden', 'unavailable', 'too_many_requests', 'payload_too_large', 'unsupported_media_type', 'request_timeout', 'headers_too_large']);

/**
 * The message of an error answered to an owner. Not found: `notFound` (e.g. `job 12 not found`),
 * the same whether it is another customer's or missing. A failure of the server (the database,
 * the cluster): a fixed sentence. A refusal of its own request: its message, without the hints
 * meant for operators, with the site's own strings taken out.
 */
export function errorForOwner(name: ErrorName, message: string, notFound: string, secrets: readonly string[]): OwnerError {
  if (name === 'not_found') return { message: notFound, details: [] };
  if (!SAID_TO_OWNERS.has(name)) return { message: 'the server could not do this now; the operators have the details', details: [] };
  return { message: scrub(message, secrets), details: [] };
}

/**
 * Each of the site's own strings (database, cluster, backup URL, token names, this host) in `text`
 * replaced by `…`, where it stands as a word of its own (a token named `ops` leaves "stops" alone).
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...new Set(secrets)].filter((x) => x.length >= 2).sort((a, b) => b.length - a.length)) {
    const escaped = s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`(?<![A-Za-z0-9_.-])${escaped}(?![A-Za-z0-9_-])`, 'g'), '…');
  }
  return out;
}
