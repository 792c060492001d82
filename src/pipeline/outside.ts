/**
 * What a deletion changes outside the cluster and the row: the billing provider (cancel, final
 * invoice, refund) and the site's own deletion hooks. Both are optional: a site configures none,
 * either or both. Loaded once per process (src/jobs/env.ts) and handed to every attempt.
 */
import type { Billing } from '../adapters/billing.js';
import type { CustomerStore } from '../adapters/store.js';
import { planLines, suspendPlanLines, type BillingPlan } from '../domain/billing.js';
import { HOOK_POINTS, hookPlanLines, type HookEndpoint, type HookPlanLine } from '../domain/hooks.js';
import type { PostHook } from '../adapters/hook-http.js';

/** What calling the deletion hooks needs (src/pipeline/hooks.ts calls them). */
export interface HooksEnv {
  /** the configured hooks (src/adapters/hook-config.ts), in the file's order */
  endpoints: readonly HookEndpoint[];
  post: PostHook;
  /** `custctl/<version>` */
  userAgent: string;
  now?: () => number;
  /** injectable for tests */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

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

/**
 * The plan's billing and hook lines, as data with their text: the CLI, `-o json` and the console
 * all show these same lines. `scheduled`: a soft delete (billing is paused now, cancelled when the
 * deletion runs). Read only: the billing provider is only read.
 */
export async function outsidePlan(
  outside: OutsideEnv,
  store: CustomerStore,
  customerId: string,
  o: { scheduled: boolean; simulated: boolean },
): Promise<{ outside: PlanSection[]; billing?: OutsidePlanBilling; hooks?: HookPlanLine[] }> {
  const out: { outside: PlanSection[]; billing?: OutsidePlanBilling; hooks?: HookPlanLine[] } = { outside: [] };
  if (outside.billing) {
    const plan = await outside.billing.plan({ customerId, providerCustomerId: await billingCustomerOf(store, customerId, outside) });
    const lines = o.simulated
      ? ['not called: a simulated run changes nothing outside (SIMULATE_K8S_DEPLOYMENT=true)', ...planLines(plan)]
      : o.scheduled
        ? [...suspendPlanLines(plan), ...planLines(plan).map((l, i) => (i === 0 ? `when the deletion runs: ${l}` : l))]
        : planLines(plan);
    out.billing = { provider: plan.provider, lines, plan };
  }
  if (outside.hooks) {
    const lines = HOOK_POINTS.flatMap((p) => hookPlanLines(outside.hooks?.endpoints ?? [], p, { simulated: o.simulated }));
    if (lines.length > 0) out.hooks = lines;
  }
  // the sections every view renders, in the order the steps run: the hooks' endpoints, then billing
  for (const x of out.hooks ?? []) out.outside.push({ id: 'hook', label: 'Hook', lines: [x.text] });
  if (out.billing) out.outside.push({ id: 'billing', label: 'Billing', lines: out.billing.lines, ...(out.billing.plan.refusal ? { refusal: out.billing.plan.refusal } : {}) });
  return out;
}

export interface OutsidePlanBilling {
  provider: BillingPlan['provider'];
  /** what people read (the CLI, the console) */
  lines: string[];
  plan: BillingPlan;
}

/** One outside system's part of a plan: a label (`Billing`), the lines people read, and why the deletion will be refused, if it will. */
export interface PlanSection {
  /** a stable name: `billing`, `hook` */
  id: string;
  label: string;
  lines: string[];
  /** set: the deletion will be refused for this (shown in red, and refused before the prompt) */
  refusal?: string;
}
