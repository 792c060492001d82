/**
 * The billing adapter for Stripe, on the official `stripe` SDK (loaded only when billing is
 * configured). The rules are in src/domain/billing.ts; this file maps them onto Stripe's API:
 *
 * - which customer: the row's id (`GET /v1/customers/:id`), else a search on a metadata key
 *   (`GET /v1/customers/search`); none → the plan says so; several → refused.
 * - cancel: `DELETE /v1/subscriptions/:id` with `invoice_now` and `prorate` per policy and a
 *   cancellation comment naming the job. Stripe ignores Idempotency-Key on DELETE (a DELETE is
 *   idempotent by definition: a second cancel answers 404), so a 404 is followed by a read: a
 *   subscription cancelled with this job's comment was cancelled by an earlier attempt (go on with
 *   its final invoice), any other cancelled one was not ours (nothing to do).
 * - refund (policy `unused`): the final invoice's credit, refunded to the PaymentIntent that paid
 *   the credited invoice, capped as the domain says; then the refunded amount is taken back off
 *   the customer's credit balance. Both are POSTs with Idempotency-Keys derived from the job and
 *   the subscription, and carry metadata naming the job, so that past Stripe's 24 hours of
 *   idempotency a resumed job still finds what it did instead of doing it again.
 * - soft delete: `pause_collection` (see docs/billing.md for why, not `cancel_at`), with the
 *   previous pause recorded in the subscription's metadata; the undo writes it back.
 *
 * Retries (the client, src/adapters/billing-stripe-client.ts): the SDK's own retries are off
 * (`maxNetworkRetries: 0`); every call goes through the project's one retry loop
 * (src/adapters/retry.ts) with Stripe's rules: `Stripe-Should-Retry` decides when present;
 * otherwise 409 (a lock or a key in use), 429 and 5xx and connection failures are retried
 * (`Retry-After` honoured), everything else is not. 401 and 403 are permanent errors.
 */
import type Stripe from 'stripe';
import {
  BillingError, SUSPENDED_BY_KEY, SUSPENSION_KEY, cancelActionFor, cancelComment, cancelEffects, cancelledByJob, decodeSuspension, emptyResult,
  encodeSuspension, formatMoney, idempotencyKey, prorateAtCancel, refundAmount, restoreOf, suspendActionFor,
  type BillingCustomer, type BillingPlan, type BillingPolicy, type BillingResult, type PauseState, type PlannedSubscription, type SuspendResult,
} from '../domain/billing.js';
import type { Billing, BillingRun, BillingTarget } from './billing.js';
import { CallFailed, STRIPE_RETRY, is, replayed, stripeVerdict, toBillingError } from './billing-stripe-errors.js';
import { stripeClient, type Ctx, type StripeClientOptions } from './billing-stripe-client.js';

export { STRIPE_RETRY, stripeVerdict, toBillingError };

export interface StripeBillingOptions extends StripeClientOptions {
  policy: BillingPolicy;
  /** list page size (default 100, Stripe's largest) */
  pageSize?: number;
  /** ms; default Date.now */
  now?: () => number;
}

/** The id of an expandable field (a string or an object with an id). */
function idOf(v: string | { id: string } | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : v.id;
}

function pauseOf(p: Stripe.Subscription.PauseCollection | null): PauseState | null {
  return p === null ? null : { behavior: p.behavior, resumesAt: p.resumes_at };
}

const CUSTOMER_ID = /^cus_[A-Za-z0-9]{1,250}$/;

interface Located {
  foundBy: BillingPlan['foundBy'];
  customer: BillingCustomer | null;
  notes: string[];
  refusal?: string;
}

export function makeStripeBilling(o: StripeBillingOptions): Billing {
  const s = o.settings;
  const policy = o.policy;
  const pageSize = o.pageSize ?? 100;
  const now = o.now ?? Date.now;
  const { call, listAll } = stripeClient(o);

  const key = (t: BillingTarget, run: BillingRun, object: string, action: string) => idempotencyKey({ customerId: t.customerId, jobId: run.jobId, object, action });

  async function locate(t: BillingTarget, ctx: Ctx): Promise<Located> {
    const rowId = t.providerCustomerId?.trim() || null;
    if (rowId !== null) {
      if (!CUSTOMER_ID.test(rowId)) {
        return { foundBy: 'row', customer: null, notes: [], refusal: `the row's ${s.customerColumn} is ${JSON.stringify(rowId.slice(0, 60))}, not a Stripe customer id (cus_…): fix the row` };
      }
      try {
        const c = await call(ctx, `read customer ${rowId}`, (api) => api.customers.retrieve(rowId));
        if ('deleted' in c && c.deleted) return { foundBy: 'row', customer: { id: c.id, name: null, email: null, deleted: true }, notes: [] };
        const cu = c as Stripe.Customer;
        return { foundBy: 'row', customer: { id: cu.id, name: cu.name ?? null, email: cu.email ?? null, deleted: false }, notes: [] };
      } catch (e) {
        if (!is(e, 404)) throw e;
        return {
          foundBy: 'row', customer: null, notes: [],
          refusal: `the row's ${s.customerColumn} ${rowId} is not a customer of this Stripe account in ${s.mode} mode (a ${s.mode === 'test' ? 'live' : 'test'}-mode customer, or another account's?): fix the row or the key`,
        };
      }
    }
    if (s.metadataKey === null) {
      return { foundBy: 'none', customer: null, notes: [`the row has no ${s.customerColumn} and no metadata search is configured (CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY)`] };
    }
    const esc = (v: string) => v.replace(/[\\']/g, (c) => `\\${c}`);
    const query = `metadata['${esc(s.metadataKey)}']:'${esc(t.customerId)}'`;
    const r = await call(ctx, `search customers with metadata ${s.metadataKey}=${t.customerId}`, (api) => api.customers.search({ query, limit: 10 }));
    if (r.data.length === 0) {
      return {
        foundBy: 'none', customer: null,
        notes: [`no Stripe customer has metadata ${s.metadataKey}=${t.customerId} (Stripe's search can lag up to a minute behind a new customer)`],
      };
    }
    if (r.data.length > 1) {
      return {
        foundBy: 'search', customer: null, notes: [],
        refusal: `${r.data.length}${r.has_more ? '+' : ''} Stripe customers have metadata ${s.metadataKey}=${t.customerId} (${r.data.map((c) => c.id).join(', ')}): custctl does not guess; put the right one in the row's ${s.customerColumn}`,
      };
    }
    const c = r.data[0] as Stripe.Customer;
    return { foundBy: 'search', customer: { id: c.id, name: c.name ?? null, email: c.email ?? null, deleted: false }, notes: [] };
  }

  function planned(sub: Stripe.Subscription): PlannedSubscription {
    const prices = sub.items.data.map((it) => {
      const p = it.price;
      const product = typeof p.product === 'string' ? p.product : 'name' in p.product && typeof p.product.name === 'string' ? p.product.name : p.product.id;
      return {
        price: p.id, name: p.nickname ?? product, unitAmount: p.recurring?.usage_type === 'metered' ? null : p.unit_amount,
        currency: p.currency, interval: p.recurring?.interval ?? null, intervalCount: p.recurring?.interval_count ?? 1, quantity: it.quantity ?? 1,
      };
    });
    const li = sub.latest_invoice;
    const latestInvoice = li === null ? null : typeof li === 'string' ? { id: li, status: null, amountPaid: 0, currency: sub.currency }
      : { id: li.id, status: li.status, amountPaid: li.amount_paid, currency: li.currency };
    const action = cancelActionFor(sub.status);
    const ends = sub.items.data.map((it) => it.current_period_end);
    const periodEnd = ends.length > 0 ? Math.min(...ends) : null;
    let nextInvoice: PlannedSubscription['nextInvoice'] = null;
    if (action.action === 'cancel' && sub.status !== 'paused' && periodEnd !== null) {
      const at = sub.status === 'trialing' && sub.trial_end !== null ? sub.trial_end : periodEnd;
      if (sub.cancel_at === null || sub.cancel_at > at) {
        const amount = prices.every((p) => p.unitAmount !== null) ? prices.reduce((n, p) => n + (p.unitAmount as number) * p.quantity, 0) : null;
        nextInvoice = { at, amount, currency: sub.currency };
      }
    }
    return {
      id: sub.id, status: sub.status, prices, nextInvoice, pauseCollection: pauseOf(sub.pause_collection), cancelAt: sub.cancel_at, latestInvoice,
      action: action.action, why: action.why, effects: action.action === 'cancel' ? cancelEffects(policy, { latestInvoice }) : [],
    };
  }

  async function subscriptionsOf(ctx: Ctx, customer: string): Promise<Stripe.Subscription[]> {
    return listAll(ctx, `list subscriptions of ${customer}`, (api, after) => api.subscriptions.list({
      customer, status: 'all', limit: pageSize, expand: ['data.latest_invoice'], ...(after ? { starting_after: after } : {}),
    }));
  }

  async function planWith(t: BillingTarget, ctx: Ctx): Promise<{ plan: BillingPlan; subs: Stripe.Subscription[] }> {
    const at = await locate(t, ctx);
    const base: BillingPlan = { provider: 'stripe', mode: s.mode, foundBy: at.foundBy, customer: at.customer, notes: at.notes, subscriptions: [], policy, ...(at.refusal ? { refusal: at.refusal } : {}) };
    if (at.customer === null || at.customer.deleted || at.refusal) return { plan: base, subs: [] };
    const subs = await subscriptionsOf(ctx, at.customer.id);
    const subscriptions = subs.map(planned);
    const refused = subscriptions.find((x) => x.action === 'refuse');
    return { plan: { ...base, subscriptions, ...(refused ? { refusal: `subscription ${refused.id}: ${refused.why}` } : {}) }, subs };
  }

  function refuse(plan: BillingPlan): never {
    throw new BillingError(`Stripe: refusing to change billing: ${plan.refusal as string}`, [], { permanent: true });
  }

  /** The final invoice of a subscription this job cancelled: its latest invoice, if made at the cancellation. */
  function finalInvoiceOf(sub: Stripe.Subscription): Stripe.Invoice | null {
    const li = sub.latest_invoice;
    if (li === null || typeof li === 'string' || sub.canceled_at === null) return null;
    return li.created >= sub.canceled_at ? li : null;
  }

  async function cancelAll(t: BillingTarget, run: BillingRun, plan: BillingPlan, subs: Stripe.Subscription[], result: BillingResult): Promise<Array<{ sub: Stripe.Subscription; final: Stripe.Invoice | null }>> {
    const ctx: Ctx = { run };
    const ours: Array<{ sub: Stripe.Subscription; final: Stripe.Invoice | null }> = [];
    const record = (sub: Stripe.Subscription, before: string, by: 'this-attempt' | 'earlier-attempt') => {
      const final = finalInvoiceOf(sub);
      result.cancelled.push({
        id: sub.id, statusBefore: before, by,
        finalInvoice: final ? { id: final.id, total: final.total, amountDue: final.amount_due, currency: final.currency, status: final.status } : null,
      });
      ours.push({ sub, final });
      run.log?.('info', `Stripe: ${by === 'this-attempt' ? 'cancelled' : 'found cancelled by an earlier attempt:'} ${sub.id}${final ? `, final invoice ${final.id} ${formatMoney(final.total, final.currency)}` : ''}`);
    };
    for (const p of plan.subscriptions) {
      const sub = subs.find((x) => x.id === p.id) as Stripe.Subscription;
      if (p.action === 'none') {
        const before = cancelledByJob(sub.cancellation_details?.comment, run.jobId, t.customerId);
        if (before !== null) record(sub, before, 'earlier-attempt');
        else result.untouched.push({ id: sub.id, status: sub.status, why: p.why });
        continue;
      }
      const prorate = prorateAtCancel(policy, p.latestInvoice);
      try {
        const done = await call(ctx, `cancel subscription ${sub.id}`, (api) => api.subscriptions.cancel(sub.id, {
          invoice_now: policy.finalInvoice, prorate, cancellation_details: { comment: cancelComment(run.jobId, t.customerId, sub.status) }, expand: ['latest_invoice'],
        }));
        record(done, sub.status, 'this-attempt');
      } catch (e) {
        // a second cancel answers 404: read it to see whose cancel it was
        if (!is(e, 404)) throw e;
        const now2 = await call(ctx, `read subscription ${sub.id}`, (api) => api.subscriptions.retrieve(sub.id, { expand: ['latest_invoice'] }));
        if (cancelActionFor(now2.status).action !== 'none') throw e;
        const before = cancelledByJob(now2.cancellation_details?.comment, run.jobId, t.customerId);
        if (before !== null) record(now2, before, 'earlier-attempt');
        else result.untouched.push({ id: sub.id, status: now2.status, why: 'cancelled meanwhile by someone else' });
      }
    }
    return ours;
  }

  /** The invoice that the final invoice's proration credits (the paid period), from its proration lines. */
  function creditedInvoice(final: Stripe.Invoice, subId: string): string | null {
    for (const l of final.lines.data) {
      const d = l.parent?.subscription_item_details;
      if (d && d.proration && d.subscription === subId && d.proration_details?.credited_items?.invoice) return d.proration_details.credited_items.invoice;
    }
    return null;
  }

  async function refundOne(t: BillingTarget, run: BillingRun, customer: string, sub: Stripe.Subscription, final: Stripe.Invoice, result: BillingResult): Promise<void> {
    const ctx: Ctx = { run };
    const credit = Math.max(0, -final.total);
    if (credit === 0) return;
    const leaveCredit = (amount: number, why?: string) => {
      if (amount > 0) result.credited.push({ subscription: sub.id, amount, currency: final.currency });
      if (why) result.warnings.push(why);
    };
    if (policy.refund !== 'unused') return leaveCredit(credit);
    const creditedId = creditedInvoice(final, sub.id);
    if (creditedId === null) return leaveCredit(credit, `${sub.id}: the final invoice ${final.id} names no paid invoice for its credit: ${formatMoney(credit, final.currency)} left as credit, refund it by hand if due`);
    const paidInvoice = await call(ctx, `read invoice ${creditedId}`, (api) => api.invoices.retrieve(creditedId, { expand: ['payments'] }));
    const payment = paidInvoice.payments?.data.find((p) => p.status === 'paid' && p.payment.type === 'payment_intent' && p.payment.payment_intent);
    const pi = payment ? idOf(payment.payment.payment_intent as string | Stripe.PaymentIntent) : null;
    if (!payment || pi === null) return leaveCredit(credit, `${sub.id}: ${creditedId} was not paid through a Stripe payment: ${formatMoney(credit, final.currency)} left as credit, refund it by hand if due`);
    const mine = (r: Stripe.Refund) => r.metadata?.custctl_job_id === run.jobId && r.metadata?.custctl_subscription === sub.id;
    const findRefund = async () => (await listAll(ctx, `list refunds of ${pi}`, (api, after) => api.refunds.list({ payment_intent: pi, limit: pageSize, ...(after ? { starting_after: after } : {}) }))).find(mine);
    let refund = await findRefund();
    let by: 'this-attempt' | 'earlier-attempt' = 'earlier-attempt';
    if (refund === undefined) {
      const intent = await call(ctx, `read payment ${pi}`, (api) => api.paymentIntents.retrieve(pi, { expand: ['latest_charge'] }));
      const charge = intent.latest_charge;
      if (charge === null || typeof charge === 'string') return leaveCredit(credit, `${sub.id}: payment ${pi} has no charge to refund: ${formatMoney(credit, final.currency)} left as credit`);
      const cust = await call(ctx, `read customer ${customer}`, (api) => api.customers.retrieve(customer));
      const customerCredit = 'deleted' in cust && cust.deleted ? 0 : Math.max(0, -(cust as Stripe.Customer).balance);
      const amount = refundAmount({ finalInvoiceTotal: final.total, paid: payment.amount_paid ?? paidInvoice.amount_paid, unrefunded: charge.amount_captured - charge.amount_refunded, customerCredit });
      if (amount === 0) return leaveCredit(credit, `${sub.id}: nothing refundable (already refunded, or the credit was used): ${formatMoney(credit, final.currency)} credit not refunded`);
      try {
        const r = await call(ctx, `refund ${formatMoney(amount, final.currency)} of ${pi}`, (api) => api.refunds.create({
          payment_intent: pi, amount, reason: 'requested_by_customer',
          metadata: { custctl_job_id: run.jobId, custctl_customer_id: t.customerId, custctl_subscription: sub.id, custctl_final_invoice: final.id },
        }, { idempotencyKey: key(t, run, sub.id, 'refund') }));
        refund = r;
        by = replayed(r) ? 'earlier-attempt' : 'this-attempt';
      } catch (e) {
        // the same key with other parameters: an earlier attempt refunded from what it saw then
        if (!is(e, 400, 'idempotency_error')) throw e;
        refund = await findRefund();
        if (refund === undefined) throw e;
      }
      if (amount < credit) leaveCredit(credit - amount);
    } else if (refund.amount < credit) {
      leaveCredit(credit - refund.amount);
    }
    const r = refund;
    // the refunded credit comes off the customer's balance, so it is not also spent on a later invoice
    const mineTxn = (x: Stripe.CustomerBalanceTransaction) => x.metadata?.custctl_refund === r.id;
    const findTxn = async () => (await listAll(ctx, `list balance transactions of ${customer}`, (api, after) => api.customers.listBalanceTransactions(customer, { limit: pageSize, ...(after ? { starting_after: after } : {}) }))).find(mineTxn);
    let txn = await findTxn();
    if (txn === undefined) {
      try {
        txn = await call(ctx, `take the refunded ${formatMoney(r.amount, r.currency)} off ${customer}'s credit balance`, (api) => api.customers.createBalanceTransaction(customer, {
          amount: r.amount, currency: r.currency, description: `custctl: ${sub.id}'s unused time was refunded (${r.id})`,
          metadata: { custctl_job_id: run.jobId, custctl_refund: r.id, custctl_subscription: sub.id },
        }, { idempotencyKey: key(t, run, sub.id, 'refund-balance') }));
      } catch (e) {
        if (!is(e, 400, 'idempotency_error')) throw e;
        txn = await findTxn();
        if (txn === undefined) throw e;
      }
    }
    result.refunds.push({ id: r.id, subscription: sub.id, amount: r.amount, currency: r.currency, paymentIntent: pi, invoice: creditedId, balanceTransaction: txn.id, status: r.status, by });
    if (r.status === 'failed' || r.status === 'canceled') result.warnings.push(`${sub.id}: refund ${r.id} is ${r.status}: see the Stripe Dashboard`);
    run.log?.('info', `Stripe: ${by === 'this-attempt' ? 'refunded' : 'found refunded by an earlier attempt:'} ${formatMoney(r.amount, r.currency)} of ${creditedId} (${r.id})`);
  }

  async function deleteCustomer(run: BillingRun, customer: string, result: BillingResult): Promise<void> {
    const ctx: Ctx = { run };
    try {
      await call(ctx, `delete customer ${customer}`, (api) => api.customers.del(customer));
      result.customerDeleted = 'deleted';
      run.log?.('info', `Stripe: deleted customer ${customer}`);
    } catch (e) {
      if (!is(e, 404)) throw e;
      const c = await call(ctx, `read customer ${customer}`, (api) => api.customers.retrieve(customer));
      if (!('deleted' in c && c.deleted)) throw e;
      result.customerDeleted = 'already';
    }
  }

  async function suspension(t: BillingTarget, run: BillingRun, undo: boolean): Promise<SuspendResult> {
    const ctx: Ctx = { run };
    const at = await locate(t, ctx);
    if (at.refusal) refuse({ provider: 'stripe', mode: s.mode, foundBy: at.foundBy, customer: null, notes: [], subscriptions: [], policy, refusal: at.refusal });
    const result: SuspendResult = { provider: 'stripe', mode: s.mode, customer: at.customer?.id ?? null, changed: [], skipped: [], warnings: [...at.notes] };
    if (at.customer === null || at.customer.deleted) return result;
    const customer = at.customer.id;
    const subs = await subscriptionsOf(ctx, customer);
    const update = async (sub: Stripe.Subscription, params: Stripe.SubscriptionUpdateParams, action: string) => {
      try {
        const r = await call(ctx, `${action === 'suspend' ? 'pause' : 'resume'} collection of ${sub.id}`, (api) => api.subscriptions.update(sub.id, params, { idempotencyKey: key(t, run, sub.id, action) }));
        return { sub: r as Stripe.Subscription, by: replayed(r) ? 'earlier-attempt' as const : 'this-attempt' as const };
      } catch (e) {
        if (!is(e, 400, 'idempotency_error')) throw e;
        // the key was used with other parameters by an earlier attempt: read what it left
        const again = await call(ctx, `read subscription ${sub.id}`, (api) => api.subscriptions.retrieve(sub.id));
        return { sub: again, by: 'earlier-attempt' as const };
      }
    };
    if (!undo) {
      const actions = subs.map((sub) => ({ sub, a: suspendActionFor(sub.status, sub.metadata[SUSPENDED_BY_KEY], run.jobId) }));
      const refused = actions.find((x) => x.a.action === 'refuse');
      if (refused) throw new BillingError(`Stripe: refusing to pause billing: subscription ${refused.sub.id}: ${refused.a.why}`, [], { permanent: true });
      for (const { sub, a } of actions) {
        if (a.action === 'none') { result.skipped.push({ id: sub.id, status: sub.status, why: a.why }); continue; }
        const record = decodeSuspension(sub.metadata[SUSPENSION_KEY]);
        if (a.action === 'already') { result.changed.push({ id: sub.id, prior: record?.prior ?? null, now: pauseOf(sub.pause_collection), by: 'earlier-attempt' }); continue; }
        const other = sub.metadata[SUSPENDED_BY_KEY];
        let prior = pauseOf(sub.pause_collection);
        if (other !== undefined && record !== null) {
          prior = record.prior;
          result.warnings.push(`${sub.id}: collection was paused by custctl job ${other}, which never resumed it: this job takes it over and will restore what was there before`);
        }
        const set = policy.suspendBehavior;
        const r = await update(sub, {
          pause_collection: { behavior: set },
          metadata: { [SUSPENDED_BY_KEY]: run.jobId, [SUSPENSION_KEY]: encodeSuspension({ prior, set }) },
        }, 'suspend');
        result.changed.push({ id: sub.id, prior, now: pauseOf(r.sub.pause_collection), by: r.by });
        run.log?.('info', `Stripe: paused collection of ${sub.id} (${set})`);
      }
      return result;
    }
    for (const sub of subs) {
      if (sub.metadata[SUSPENDED_BY_KEY] !== run.jobId) continue;
      if (cancelActionFor(sub.status).action === 'none') { result.skipped.push({ id: sub.id, status: sub.status, why: 'ended while its collection was paused' }); continue; }
      const record = decodeSuspension(sub.metadata[SUSPENSION_KEY]);
      if (record === null) {
        result.warnings.push(`${sub.id}: the record of what collection was before custctl paused it is unreadable: left paused; resume it in the Stripe Dashboard`);
        continue;
      }
      const current = pauseOf(sub.pause_collection);
      const r = restoreOf(record, current, Math.floor(now() / 1000));
      const clear = { [SUSPENDED_BY_KEY]: '', [SUSPENSION_KEY]: '' };
      if ('changed' in r) {
        await update(sub, { metadata: clear }, 'unsuspend');
        result.warnings.push(`${sub.id}: its collection was changed since custctl paused it: left as it is now`);
        continue;
      }
      const restore = r.restore;
      const u = await update(sub, {
        pause_collection: restore === null ? '' : { behavior: restore.behavior as Stripe.SubscriptionUpdateParams.PauseCollection.Behavior, ...(restore.resumesAt !== null ? { resumes_at: restore.resumesAt } : {}) },
        metadata: clear,
      }, 'unsuspend');
      result.changed.push({ id: sub.id, prior: current, now: pauseOf(u.sub.pause_collection), by: u.by });
      run.log?.('info', `Stripe: ${restore === null ? 'resumed collection of' : 'restored the earlier pause of'} ${sub.id}`);
    }
    return result;
  }

  return {
    provider: 'stripe',

    async plan(t, o2 = {}) {
      try {
        return (await planWith(t, { run: o2 })).plan;
      } catch (e) {
        throw toBillingError(e);
      }
    },

    async cancel(t, run) {
      let result = emptyResult(s.mode, null);
      try {
        const { plan, subs } = await planWith(t, { run });
        if (plan.refusal) refuse(plan);
        if (plan.customer === null) {
          result.warnings.push(...plan.notes);
          return result;
        }
        result = emptyResult(s.mode, plan.customer.id);
        if (plan.customer.deleted) {
          result.customerDeleted = 'already';
          return result;
        }
        const ours = await cancelAll(t, run, plan, subs, result);
        for (const { sub, final } of ours) {
          if (final) await refundOne(t, run, plan.customer.id, sub, final, result);
        }
        if (policy.deleteCustomer) await deleteCustomer(run, plan.customer.id, result);
        return result;
      } catch (e) {
        if (run.signal?.aborted && !(e instanceof CallFailed) && !(e instanceof BillingError)) throw e;
        throw toBillingError(e, result);
      }
    },

    async eraseCustomer(t, run) {
      const ctx: Ctx = { run: { jobId: 'erasure', ...run } };
      try {
        const at = await locate(t, ctx);
        if (at.refusal) throw new BillingError(`Stripe: ${at.refusal}`, [], { permanent: true });
        const base = { provider: 'stripe' as const, mode: s.mode, notes: [...at.notes] };
        if (at.customer === null) return { ...base, customer: null, outcome: 'none', personal: [] };
        const personal = [at.customer.name, at.customer.email].filter((v): v is string => typeof v === 'string' && v !== '');
        if (at.customer.deleted) return { ...base, customer: at.customer.id, outcome: 'already', personal };
        if (run.dryRun) return { ...base, customer: at.customer.id, outcome: 'would-delete', personal };
        const r = emptyResult(s.mode, at.customer.id);
        await deleteCustomer({ jobId: 'erasure', ...run }, at.customer.id, r);
        return { ...base, customer: at.customer.id, outcome: r.customerDeleted === 'already' ? 'already' : 'deleted', personal };
      } catch (e) {
        if (run.signal?.aborted && !(e instanceof CallFailed) && !(e instanceof BillingError)) throw e;
        throw toBillingError(e);
      }
    },

    async suspend(t, run) {
      try {
        return await suspension(t, run, false);
      } catch (e) {
        if (run.signal?.aborted && !(e instanceof CallFailed) && !(e instanceof BillingError)) throw e;
        throw toBillingError(e);
      }
    },

    async unsuspend(t, run) {
      try {
        return await suspension(t, run, true);
      } catch (e) {
        if (run.signal?.aborted && !(e instanceof CallFailed) && !(e instanceof BillingError)) throw e;
        throw toBillingError(e);
      }
    },
  };
}
