/**
 * The billing provider seen from a deletion: plan (read only), cancel at the hard deletion,
 * suspend at a soft delete's scheduling and unsuspend when that deletion is cancelled. Every
 * method is idempotent for one job: a retried attempt, a resumed job or a second worker with the
 * same job id changes nothing twice and reports what the first did.
 *
 * Failures are `BillingError` (src/domain/billing.ts): `permanent` when no retry can help, with
 * `partial` holding what was done before the failure.
 */
import type { BillingPlan, BillingResult, SuspendResult } from '../domain/billing.js';

/** Which customer: the custctl ID, and what the customers row holds for the provider (its configured column). */
export interface BillingTarget {
  customerId: string;
  /** the row's provider customer id (`stripe_customer_id` by default); null/undefined: the row has none */
  providerCustomerId?: string | null;
}

export interface BillingRun {
  /** the job's id: the idempotency keys and markers derive from it */
  jobId: string;
  /** the attempt's signal: no request or retry wait outlives it */
  signal?: AbortSignal;
  log?: (level: 'info' | 'warn', message: string) => void;
}

export interface Billing {
  readonly provider: 'stripe';
  /** read only: the customer, each subscription and what the deletion will do to it */
  plan(t: BillingTarget, o?: Omit<BillingRun, 'jobId'>): Promise<BillingPlan>;
  /** the hard deletion: cancel what still bills, final invoice, credit or refund per policy, optionally delete the customer */
  cancel(t: BillingTarget, o: BillingRun): Promise<BillingResult>;
  /** a soft delete's scheduling: pause collection, recording what to restore */
  suspend(t: BillingTarget, o: BillingRun): Promise<SuspendResult>;
  /** the cancel of a soft delete: restore exactly what `suspend` of the same job changed */
  unsuspend(t: BillingTarget, o: BillingRun): Promise<SuspendResult>;
  /**
   * An erasure: the provider's customer deleted (with `dryRun`, only found). Idempotent: a customer
   * already deleted is `already`, none found is `none` (with the notes saying why).
   */
  eraseCustomer?(t: BillingTarget, o: Omit<BillingRun, 'jobId'> & { dryRun?: boolean }): Promise<BillingErasure>;
}

/** What an erasure did at the billing provider: ids only (never a name or an e-mail address). */
export interface BillingErasure {
  provider: 'stripe';
  mode: 'test' | 'live';
  /** the provider's customer id, null: none found */
  customer: string | null;
  outcome: 'deleted' | 'already' | 'none' | 'would-delete';
  notes: string[];
  /** the customer's name and e-mail as the provider held them: looked for in the job journal, never recorded */
  personal: string[];
}
