/**
 * What a deletion changes outside the cluster and the row: the billing provider (cancel, final
 * invoice, refund) and the site's own deletion hooks. Both are optional: a site configures none,
 * either or both. Loaded once per process (src/jobs/env.ts) and handed to every attempt.
 */
import type { Billing } from '../adapters/billing.js';
import type { CustomerStore } from '../adapters/store.js';
import type { HooksEnv } from './hooks.js';

export interface OutsideEnv {
  /** null: CUSTCTL_BILLING is none */
  billing: Billing | null;
  /** the row column holding the provider's customer id (CUSTCTL_STRIPE_CUSTOMER_COLUMN) */
  billingColumn: string | null;
  /** null: CUSTCTL_HOOKS_FILE is not set */
  hooks: HooksEnv | null;
}

export const NO_OUTSIDE: OutsideEnv = Object.freeze({ billing: null, billingColumn: null, hooks: null });

/** The billing provider's customer id from the row's configured column (null: none kept). */
export async function billingCustomerOf(store: CustomerStore, customerId: string, o: Pick<OutsideEnv, 'billingColumn'>): Promise<string | null> {
  return o.billingColumn && store.column ? store.column(customerId, o.billingColumn) : null;
}
