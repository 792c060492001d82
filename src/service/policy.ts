/**
 * Who may do what: the one answer the CLI, the HTTP API and the console ask.
 *
 * Principals: the CLI (the OS account that runs custctl: everything its credentials reach), and
 * API tokens with a role: `admin` (everything), `viewer` (reads only), `owner` (an account owner:
 * its own customer, its own jobs, a deletion that waits at least the owner's minimum retention
 * and takes no override flags, a cancel of what it asked for). To an owner, another customer or
 * another customer's job reads exactly as a missing one (404), and an action it may not take at
 * all reads as a route that does not exist.
 *
 * What an owner is shown of a job, a row, a delivery or an error is in owner-view.ts (re-exported
 * here: the edges import this module only).
 */
import type { TokenRole } from '../domain/tokens-file.js';
import type { Job } from '../domain/job.js';
import type { DeletionOptions } from '../domain/deletion-options.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import { mayCancel, type Canceller } from '../jobs/cancel.js';
import { deliveryForOwner, jobForOwner, rowForOwner } from './owner-view.js';

export { deliveryForOwner, errorForOwner, jobForOwner, OPERATOR, ownerNotFound, rowForOwner, scrub, type OwnerError } from './owner-view.js';

/** Who asks: the CLI's OS account, or an API token (the server's and the console's principal). */
export type Asker = { role: 'cli'; name: string } | { role: TokenRole; name: string; customerId?: string };

/** What may be asked of the service. */
export const ACTIONS = [
  'plan', 'submit', 'cancel', 'retry', 'restore', 'cleanup',
  'read-job', 'read-customer', 'list-jobs', 'list-customers', 'deliveries', 'audit', 'metrics', 'ready',
] as const;
export type Action = (typeof ACTIONS)[number];

/** The actions that change something: admins (and the CLI) only; an owner only the two below, on its own customer. */
const WRITES: ReadonlySet<Action> = new Set(['submit', 'cancel', 'retry', 'restore', 'cleanup']);
/** What an owner may ask at all, always of its own customer. */
const OWNER_ACTIONS: ReadonlySet<Action> = new Set(['plan', 'submit', 'cancel', 'read-job', 'read-customer', 'list-jobs', 'list-customers', 'deliveries']);

/** What an action is about: a customer, or a job (whose customer decides). */
export interface Target {
  customerId?: string | undefined;
  job?: Pick<Job, 'id' | 'data'> | undefined;
}

export type Decision = { allowed: true } | { allowed: false; refusal: 'not_found' | 'forbidden'; message: string };

/** The answer, as data: whether `who` may do `action` on `target`, and if not how it is refused. */
export function decide(who: Asker, action: Action, target: Target = {}): Decision {
  if (who.role === 'cli' || who.role === 'admin') return { allowed: true };
  if (who.role === 'viewer') {
    return WRITES.has(action) ? { allowed: false, refusal: 'forbidden', message: `token ${who.name} has role viewer; this needs an admin token` } : { allowed: true };
  }
  // an account owner
  if (!OWNER_ACTIONS.has(action)) return { allowed: false, refusal: 'not_found', message: 'not found' };
  const own = 'customerId' in who ? who.customerId : undefined;
  if (target.job && target.job.data.customerId !== own) return { allowed: false, refusal: 'not_found', message: `job ${target.job.id} not found` };
  if (target.customerId !== undefined && target.customerId !== own) return { allowed: false, refusal: 'not_found', message: `customer ${target.customerId} not found` };
  return { allowed: true };
}

/** `decide`, throwing its refusal: NotFoundError (404, the owner's "no such thing") or ForbiddenError (403). */
export function authorize(who: Asker, action: Action, target: Target = {}): void {
  const d = decide(who, action, target);
  if (d.allowed) return;
  if (d.refusal === 'forbidden') throw new ForbiddenError(d.message);
  throw new NotFoundError(d.message, d.message.startsWith('job ') ? ["List jobs with 'custctl jobs list' (finished jobs are kept 7 days)."] : []);
}

/** Whether `who` may read `job` (an owner: its own customer's only). */
export function mayReadJob(who: Asker, job: Pick<Job, 'id' | 'data'>): boolean {
  return decide(who, 'read-job', { job }).allowed;
}

/** Whether `who` may read the row of `customerId` (an owner: its own only). */
export function mayReadCustomer(who: Asker, customerId: string): boolean {
  return decide(who, 'read-customer', { customerId }).allowed;
}

/** Whose jobs a listing holds: an owner lists its own customer's, whatever it asked for; others what they asked. */
export function jobsScope(who: Asker, asked: string | undefined): string | undefined {
  if (who.role === 'owner') return 'customerId' in who ? who.customerId : undefined;
  return asked;
}

/** A job as `who` may see it: an owner's view of its own customer's job (the site's internals left out), else the job. */
export function jobView(who: Asker, job: Job): Job {
  return who.role === 'owner' ? jobForOwner(job, who.name) : job;
}

/** A customer row as `who` may see it (an owner: without the cluster that holds it). */
export function rowView<T extends { cluster?: unknown }>(who: Asker, row: T): T | Omit<T, 'cluster'> {
  return who.role === 'owner' ? rowForOwner(row) : row;
}

/** A webhook delivery as `who` may see it (an owner: that it was sent and how it went, not where to). */
export function deliveryView<T extends Parameters<typeof deliveryForOwner>[0]>(who: Asker, d: T): T | ReturnType<typeof deliveryForOwner<T>> {
  return who.role === 'owner' ? deliveryForOwner(d) : d;
}

/** The site's retention settings: its default for a deletion, and the least an account owner's deletion waits (ms). */
export interface RetentionRule {
  defaultMs: number;
  ownerMinMs: number;
}

export const DEFAULT_RETENTION_RULE: RetentionRule = { defaultMs: 0, ownerMinMs: 7 * 86_400_000 };

/** The retention a deletion asked by `who` gets, or why it is refused (the edge words the refusal). */
export type DeletionTerms =
  | { allowed: true; afterMs: number | undefined }
  | { allowed: false; refusal: 'overrides' }
  | { allowed: false; refusal: 'too-soon'; afterMs: number; minMs: number };

/**
 * The owner retention rule. Anyone but an owner: `afterMs` as asked (undefined: the site's
 * default, decided where the job is made). An owner: never immediate, at least `ownerMinMs`
 * (asked for nothing: the larger of the site's default and the minimum), and none of the override
 * flags (force, allowMissing, allowClusterScoped).
 */
export function deletionTerms(who: Asker, asked: Pick<DeletionOptions, 'afterMs' | 'force' | 'allowMissing' | 'allowClusterScoped'>, rule: RetentionRule): DeletionTerms {
  if (who.role !== 'owner') return { allowed: true, afterMs: asked.afterMs };
  if (asked.force || asked.allowMissing || asked.allowClusterScoped) return { allowed: false, refusal: 'overrides' };
  const afterMs = asked.afterMs ?? Math.max(rule.defaultMs, rule.ownerMinMs);
  if (afterMs < rule.ownerMinMs) return { allowed: false, refusal: 'too-soon', afterMs, minMs: rule.ownerMinMs };
  return { allowed: true, afterMs };
}

/** The retention an owner's deletion dialog offers when nothing is typed (others: the site's default). */
export function defaultRetentionFor(who: Asker, rule: RetentionRule): number {
  return who.role === 'owner' ? Math.max(rule.defaultMs, rule.ownerMinMs) : rule.defaultMs;
}

/** Who cancels (src/jobs/cancel.ts), for a token: `api:<name>`, and for an account owner its customer (it cancels only what it asked for there). */
export function cancellerOf(who: Pick<Asker, 'name' | 'role'> & { customerId?: string } | undefined): Canceller {
  return { actor: `api:${who?.name ?? 'unknown'}`, ...(who?.role === 'owner' && who.customerId ? { ownerOf: who.customerId } : {}) };
}

/** Whether `who` may cancel `job` at all (an owner: only a deletion of its customer that it asked for). */
export function mayCancelJob(who: Asker, job: Pick<Job, 'requestedBy' | 'data'>): boolean {
  if (who.role === 'viewer') return false;
  return who.role === 'cli' || mayCancel(job, cancellerOf(who));
}
