/**
 * The objects the Stripe-protocol test server keeps, shaped as API version 2026-11-18 returns them
 * (the version the pinned `stripe` SDK sends), and the rules Stripe documents for the calls
 * custctl makes:
 *
 * - cancel (`DELETE /v1/subscriptions/:id`): `prorate` credits the unused time of the current
 *   period as proration lines pointing at the invoice they credit; `invoice_now` puts those and the
 *   subscription's pending items on a final invoice at once (a negative total goes to the
 *   customer's credit balance; a credit balance pays a positive total first); otherwise prorations
 *   stay pending. A canceled subscription is gone for DELETE (404 `resource_missing`) but still
 *   readable, and only its metadata and cancellation_details can change.
 * - refunds never exceed what remains unrefunded on the charge (`amount_too_large`,
 *   `charge_already_refunded`).
 * - deleting a customer cancels its live subscriptions at once (no invoice) and leaves a
 *   `{id, object, deleted: true}` stub.
 *
 * Tests build the starting state with the `seed*` helpers (a paid period is an invoice, a
 * PaymentIntent and a charge) and read `events` to count what the API executed.
 */
import { StripeHttpError, invalidParameter, noSuch } from './errors.js';

export type Obj = Record<string, unknown>;

export interface Clock {
  /** unix seconds */
  now(): number;
  advance(seconds: number): void;
  set(unixSeconds: number): void;
}

export function makeClock(start = Math.floor(Date.now() / 1000)): Clock {
  let t = start;
  return { now: () => t, advance: (s) => { t += s; }, set: (u) => { t = u; } };
}

export interface Price {
  id: string; object: 'price'; active: boolean; currency: string; unit_amount: number; nickname: string | null; product: string;
  recurring: { interval: 'day' | 'week' | 'month' | 'year'; interval_count: number; usage_type: 'licensed' | 'metered' };
  type: 'recurring'; livemode: boolean; created: number; metadata: Record<string, string>;
}

export interface StripeEvent { type: string; id: string; at: number; detail?: Record<string, unknown> }

export type SubscriptionStatus = 'active' | 'trialing' | 'past_due' | 'unpaid' | 'paused' | 'canceled' | 'incomplete' | 'incomplete_expired';

const LIVE = ['active', 'trialing', 'past_due', 'unpaid', 'paused', 'incomplete'];

export class StripeState {
  readonly customers = new Map<string, Obj>();
  readonly prices = new Map<string, Price>();
  readonly subscriptions = new Map<string, Obj>();
  readonly invoices = new Map<string, Obj>();
  readonly paymentIntents = new Map<string, Obj>();
  readonly charges = new Map<string, Obj>();
  readonly refunds = new Map<string, Obj>();
  readonly balanceTransactions = new Map<string, Obj>();
  /** pending invoice items by customer (metered usage, prorations not yet invoiced) */
  readonly pendingItems = new Map<string, Obj[]>();
  /** every mutation the API executed, in order (seeding is not an event) */
  readonly events: StripeEvent[] = [];
  private seq = 0;

  constructor(readonly clock: Clock, readonly livemode = false) {}

  id(prefix: string): string {
    this.seq++;
    return `${prefix}_T${this.seq.toString(36).toUpperCase().padStart(6, '0')}${Math.random().toString(36).slice(2, 8)}`;
  }

  count(type: string): number {
    return this.events.filter((e) => e.type === type).length;
  }

  private event(type: string, id: string, detail?: Record<string, unknown>): void {
    this.events.push({ type, id, at: this.clock.now(), ...(detail ? { detail } : {}) });
  }

  // ---------- seeding (tests only; no events) ----------

  seedCustomer(o: { id?: string; email?: string; name?: string; metadata?: Record<string, string>; balance?: number; currency?: string } = {}): Obj {
    const c: Obj = {
      id: o.id ?? this.id('cus'), object: 'customer', address: null, balance: o.balance ?? 0, created: this.clock.now(), currency: o.currency ?? 'usd',
      default_source: null, delinquent: false, description: null, discount: null, email: o.email ?? null, invoice_prefix: 'CUST', invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      livemode: this.livemode, metadata: o.metadata ?? {}, name: o.name ?? null, phone: null, preferred_locales: [], shipping: null, tax_exempt: 'none', test_clock: null,
    };
    this.customers.set(c.id as string, c);
    return c;
  }

  seedPrice(o: { id?: string; unitAmount: number; currency?: string; interval?: Price['recurring']['interval']; intervalCount?: number; nickname?: string; product?: string }): Price {
    const p: Price = {
      id: o.id ?? this.id('price'), object: 'price', active: true, currency: o.currency ?? 'usd', unit_amount: o.unitAmount, nickname: o.nickname ?? null,
      product: o.product ?? this.id('prod'), recurring: { interval: o.interval ?? 'month', interval_count: o.intervalCount ?? 1, usage_type: 'licensed' },
      type: 'recurring', livemode: this.livemode, created: this.clock.now(), metadata: {},
    };
    this.prices.set(p.id, p);
    return p;
  }

  /**
   * A subscription in `status` with one item per price, its current period [periodStart, periodEnd),
   * and the invoice for that period: `paid` (default for active: an invoice, a PaymentIntent and a
   * succeeded charge), `open` (past_due, unpaid, incomplete) or a $0 trial invoice.
   */
  seedSubscription(o: {
    customer: string; prices: Array<{ price: Price; quantity?: number }>; status?: SubscriptionStatus;
    periodStart?: number; periodEnd?: number; invoice?: 'paid' | 'open' | 'none'; metadata?: Record<string, string>;
    pauseCollection?: { behavior: string; resumes_at: number | null } | null; cancelAt?: number | null;
  }): Obj {
    const now = this.clock.now();
    const status = o.status ?? 'active';
    const periodStart = o.periodStart ?? now - 10 * 86400;
    const periodEnd = o.periodEnd ?? periodStart + 30 * 86400;
    const id = this.id('sub');
    const first = o.prices[0]?.price;
    if (!first) throw new Error('seedSubscription: at least one price');
    const items = o.prices.map(({ price, quantity }) => ({
      id: this.id('si'), object: 'subscription_item', created: periodStart, current_period_start: periodStart, current_period_end: periodEnd,
      discounts: [], metadata: {}, price, quantity: quantity ?? 1, subscription: id, tax_rates: [],
    }));
    const sub: Obj = {
      id, object: 'subscription', application: null, automatic_tax: { enabled: false, liability: null, disabled_reason: null }, billing_cycle_anchor: periodStart,
      billing_mode: { type: 'flexible', flexible: null }, cancel_at: o.cancelAt ?? null, cancel_at_period_end: false, canceled_at: null,
      cancellation_details: { comment: null, feedback: null, reason: null }, collection_method: 'charge_automatically', created: periodStart,
      currency: first.currency, customer: o.customer, days_until_due: null, default_payment_method: null, description: null, discounts: [], ended_at: null,
      items: { object: 'list', data: items, has_more: false, total_count: items.length, url: `/v1/subscription_items?subscription=${id}` },
      latest_invoice: null, livemode: this.livemode, metadata: o.metadata ?? {}, pause_collection: o.pauseCollection ?? null,
      start_date: periodStart, status, test_clock: null, trial_end: status === 'trialing' ? periodEnd : null, trial_start: status === 'trialing' ? periodStart : null,
    };
    this.subscriptions.set(id, sub);
    const kind = o.invoice ?? (status === 'active' ? 'paid' : status === 'trialing' ? 'paid' : status === 'paused' ? 'none' : 'open');
    if (kind !== 'none') {
      const trial = status === 'trialing';
      const lines = items.map((it) => this.line({
        amount: trial ? 0 : it.price.unit_amount * it.quantity, currency: it.price.currency, sub: id, item: it.id, price: it.price, quantity: it.quantity,
        start: periodStart, end: periodEnd, proration: false, description: `${it.quantity} × ${it.price.nickname ?? it.price.product} (at ${it.price.unit_amount} / ${it.price.recurring.interval})`,
      }));
      const inv = this.makeInvoice({ customer: o.customer, sub: id, lines, created: periodStart, billingReason: 'subscription_cycle', periodStart, periodEnd });
      this.finalizeSeeded(inv, kind);
      sub.latest_invoice = inv.id;
    }
    return sub;
  }

  /** Metered usage (or any pending item) of a subscription, billed on its next or final invoice. */
  seedPendingItem(o: { customer: string; subscription: string; amount: number; currency?: string; description?: string }): void {
    const list = this.pendingItems.get(o.customer) ?? [];
    list.push({ id: this.id('ii'), amount: o.amount, currency: o.currency ?? 'usd', subscription: o.subscription, description: o.description ?? 'Usage', proration: false, credited: null });
    this.pendingItems.set(o.customer, list);
  }

  private finalizeSeeded(inv: Obj, kind: 'paid' | 'open'): void {
    const total = inv.total as number;
    if (kind === 'paid' && total > 0) {
      const pi = this.makePayment(inv.customer as string, total, inv.currency as string);
      inv.status = 'paid';
      inv.amount_paid = total;
      inv.amount_remaining = 0;
      inv.payments_data = [{
        id: this.id('inpay'), object: 'invoice_payment', amount_paid: total, amount_requested: total, created: inv.created, currency: inv.currency,
        invoice: inv.id, is_default: true, livemode: this.livemode, payment: { type: 'payment_intent', payment_intent: pi.id }, status: 'paid',
        status_transitions: { canceled_at: null, paid_at: inv.created },
      }];
    } else if (kind === 'paid') {
      inv.status = 'paid';
    } else {
      inv.status = 'open';
      inv.amount_remaining = total;
    }
  }

  private makePayment(customer: string, amount: number, currency: string): Obj {
    const piId = this.id('pi');
    const ch: Obj = {
      id: this.id('ch'), object: 'charge', amount, amount_captured: amount, amount_refunded: 0, captured: true, created: this.clock.now(), currency, customer,
      livemode: this.livemode, paid: true, payment_intent: piId, refunded: false, status: 'succeeded', metadata: {},
    };
    const pi: Obj = {
      id: piId, object: 'payment_intent', amount, amount_capturable: 0, amount_received: amount, capture_method: 'automatic', created: this.clock.now(), currency, customer,
      latest_charge: ch.id, livemode: this.livemode, metadata: {}, status: 'succeeded',
    };
    this.charges.set(ch.id as string, ch);
    this.paymentIntents.set(piId, pi);
    return pi;
  }

  private line(o: { amount: number; currency: string; sub: string; item: string | null; price: Price | null; quantity: number | null; start: number; end: number; proration: boolean; description: string; credited?: { invoice: string; invoice_line_items: string[] } | null; invoiceItem?: string | null }): Obj {
    return {
      id: this.id('il'), object: 'line_item', amount: o.amount, currency: o.currency, description: o.description, discount_amounts: [], discountable: !o.proration, discounts: [],
      invoice: null, livemode: this.livemode, metadata: {},
      parent: {
        type: 'subscription_item_details', invoice_item_details: null,
        subscription_item_details: {
          invoice_item: o.invoiceItem ?? null, proration: o.proration, proration_details: o.proration ? { credited_items: o.credited ?? null } : { credited_items: null },
          subscription: o.sub, subscription_item: o.item,
        },
      },
      period: { start: o.start, end: o.end }, pretax_credit_amounts: [],
      pricing: o.price ? { type: 'price_details', price_details: { price: o.price.id, product: o.price.product }, unit_amount_decimal: String(o.price.unit_amount) } : null,
      quantity: o.quantity, quantity_decimal: o.quantity === null ? null : String(o.quantity), subscription: o.sub, subtotal: o.amount, taxes: [],
    };
  }

  private makeInvoice(o: { customer: string; sub: string; lines: Obj[]; created: number; billingReason: string; periodStart: number; periodEnd: number }): Obj {
    const id = this.id('in');
    for (const l of o.lines) l.invoice = id;
    const total = o.lines.reduce((s, l) => s + (l.amount as number), 0);
    const currency = (o.lines[0]?.currency as string | undefined) ?? 'usd';
    const inv: Obj = {
      id, object: 'invoice', account_country: 'US', account_name: 'custctl test account', amount_due: Math.max(0, total), amount_overpaid: 0, amount_paid: 0, amount_remaining: Math.max(0, total),
      amount_shipping: 0, attempt_count: 0, attempted: false, auto_advance: false, billing_reason: o.billingReason, collection_method: 'charge_automatically',
      created: o.created, currency, customer: o.customer, description: null, discounts: [], due_date: null, effective_at: o.created, ending_balance: null,
      lines: { object: 'list', data: o.lines, has_more: false, total_count: o.lines.length, url: `/v1/invoices/${id}/lines` }, livemode: this.livemode, metadata: {},
      number: `CUST-${this.seq}`, parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: {}, subscription: o.sub } },
      period_end: o.periodEnd, period_start: o.periodStart, post_payment_credit_notes_amount: 0, pre_payment_credit_notes_amount: 0, starting_balance: 0,
      status: 'draft', status_transitions: { finalized_at: o.created, marked_uncollectible_at: null, paid_at: null, voided_at: null }, subtotal: total,
      subtotal_excluding_tax: total, total, total_excluding_tax: total, webhooks_delivered_at: o.created, payments_data: [],
    };
    this.invoices.set(id, inv);
    return inv;
  }

  // ---------- reads ----------

  customer(id: string): Obj {
    const c = this.customers.get(id);
    if (!c) throw noSuch('customer', id);
    return c;
  }

  subscription(id: string): Obj {
    const s = this.subscriptions.get(id);
    if (!s) throw noSuch('subscription', id);
    return s;
  }

  invoice(id: string): Obj {
    const i = this.invoices.get(id);
    if (!i) throw noSuch('invoice', id);
    return i;
  }

  paymentIntent(id: string): Obj {
    const p = this.paymentIntents.get(id);
    if (!p) throw noSuch('payment_intent', id);
    return p;
  }

  liveCustomer(id: string, param = 'id'): Obj {
    const c = this.customers.get(id);
    if (!c || c.deleted) throw noSuch('customer', id, param);
    return c;
  }

  // ---------- writes ----------

  cancelSubscription(id: string, p: { invoice_now?: boolean; prorate?: boolean; cancellation_details?: { comment?: string | null; feedback?: string | null } }): Obj {
    const sub = this.subscriptions.get(id);
    if (!sub || !LIVE.includes(sub.status as string)) throw noSuch('subscription', id);
    const now = this.clock.now();
    const customer = sub.customer as string;
    const items = (sub.items as { data: Obj[] }).data;
    const prorations: Obj[] = [];
    if (p.prorate && ['active', 'past_due', 'unpaid'].includes(sub.status as string)) {
      const latest = sub.latest_invoice ? this.invoices.get(sub.latest_invoice as string) : undefined;
      for (const it of items) {
        const start = it.current_period_start as number;
        const end = it.current_period_end as number;
        if (now >= end || end <= start) continue;
        const price = it.price as Price;
        const quantity = it.quantity as number;
        const credit = -Math.round((price.unit_amount * quantity * (end - now)) / (end - start));
        if (credit === 0) continue;
        const creditedLine = latest ? ((latest.lines as { data: Obj[] }).data.find((l) => (l.parent as { subscription_item_details: { subscription_item: string } }).subscription_item_details.subscription_item === it.id)) : undefined;
        prorations.push({
          id: this.id('ii'), amount: credit, currency: price.currency, subscription: id, item: it.id, price, quantity, start: now, end, proration: true,
          description: `Unused time on ${quantity} × ${price.nickname ?? price.product} after ${new Date(now * 1000).toISOString().slice(0, 10)}`,
          credited: latest && creditedLine ? { invoice: latest.id as string, invoice_line_items: [creditedLine.id as string] } : null,
        });
      }
    }
    const pending = this.pendingItems.get(customer) ?? [];
    let finalInvoice: Obj | undefined;
    if (p.invoice_now) {
      const mine = pending.filter((x) => x.subscription === id);
      this.pendingItems.set(customer, pending.filter((x) => x.subscription !== id));
      const lines = [...mine, ...prorations].map((x) => this.line({
        amount: x.amount as number, currency: x.currency as string, sub: id, item: (x.item as string | undefined) ?? null, price: (x.price as Price | undefined) ?? null,
        quantity: (x.quantity as number | undefined) ?? null, start: (x.start as number | undefined) ?? now, end: (x.end as number | undefined) ?? now, proration: x.proration === true,
        description: x.description as string, credited: (x.credited as { invoice: string; invoice_line_items: string[] } | null) ?? null, invoiceItem: x.id as string,
      }));
      if (lines.length > 0) {
        finalInvoice = this.makeInvoice({ customer, sub: id, lines, created: now, billingReason: 'subscription_update', periodStart: now, periodEnd: now });
        this.finalize(finalInvoice);
        this.event('invoice.finalized', finalInvoice.id as string, { subscription: id, total: finalInvoice.total });
      }
    } else if (p.prorate) {
      this.pendingItems.set(customer, [...pending, ...prorations]);
    }
    sub.status = 'canceled';
    sub.canceled_at = now;
    sub.ended_at = now;
    sub.cancellation_details = { comment: p.cancellation_details?.comment ?? null, feedback: p.cancellation_details?.feedback ?? null, reason: 'cancellation_requested' };
    if (finalInvoice) sub.latest_invoice = finalInvoice.id;
    this.event('customer.subscription.deleted', id, { invoice_now: !!p.invoice_now, prorate: !!p.prorate });
    return sub;
  }

  /** Finalizes a new invoice: the customer's credit balance pays it first; a negative total becomes credit. */
  private finalize(inv: Obj): void {
    const customer = this.customers.get(inv.customer as string);
    const total = inv.total as number;
    const before = (customer?.balance as number | undefined) ?? 0;
    let after = before;
    let due = total;
    if (total < 0) {
      after = before + total;
      due = 0;
    } else if (total > 0 && before < 0) {
      const applied = Math.min(total, -before);
      after = before + applied;
      due = total - applied;
    }
    if (customer) customer.balance = after;
    inv.starting_balance = before;
    inv.ending_balance = after;
    inv.amount_due = due;
    inv.amount_remaining = due;
    inv.status = due === 0 ? 'paid' : 'open';
    if (due === 0) (inv.status_transitions as Obj).paid_at = inv.created;
  }

  updateSubscription(id: string, p: Record<string, unknown>): Obj {
    const sub = this.subscription(id);
    if (!LIVE.includes(sub.status as string)) {
      const other = Object.keys(p).filter((k) => !['metadata', 'cancellation_details', 'expand'].includes(k));
      if (other.length > 0) throw new StripeHttpError(400, { type: 'invalid_request_error', message: 'A canceled subscription can only update its cancellation_details and metadata.' });
    }
    const now = this.clock.now();
    if ('pause_collection' in p) {
      const pc = p.pause_collection as { behavior: string; resumes_at?: number } | null;
      if (pc && pc.resumes_at !== undefined && pc.resumes_at <= now) throw invalidParameter('pause_collection[resumes_at]', 'Invalid timestamp: pause_collection[resumes_at] must be in the future');
      sub.pause_collection = pc ? { behavior: pc.behavior, resumes_at: pc.resumes_at ?? null } : null;
    }
    if ('cancel_at' in p) {
      const at = p.cancel_at as number | null;
      if (at !== null && at <= now) throw invalidParameter('cancel_at', 'Invalid timestamp: cancel_at must be in the future');
      sub.cancel_at = at;
    }
    if ('metadata' in p) sub.metadata = mergeMetadata(sub.metadata as Record<string, string>, p.metadata as Record<string, string | null> | null);
    if ('cancellation_details' in p) sub.cancellation_details = { ...(sub.cancellation_details as Obj), ...(p.cancellation_details as Obj) };
    this.event('customer.subscription.updated', id, { params: Object.keys(p).filter((k) => k !== 'expand') });
    return sub;
  }

  createRefund(p: { payment_intent?: string; charge?: string; amount?: number; reason?: string; metadata?: Record<string, string | null> | null }): Obj {
    if (p.payment_intent !== undefined && p.charge !== undefined) throw invalidParameter('charge', 'You cannot specify both charge and payment_intent.', 'parameters_exclusive');
    let charge: Obj | undefined;
    if (p.payment_intent !== undefined) {
      const pi = this.paymentIntents.get(p.payment_intent);
      if (!pi) throw noSuch('payment_intent', p.payment_intent, 'payment_intent');
      charge = pi.latest_charge ? this.charges.get(pi.latest_charge as string) : undefined;
      if (!charge) throw invalidParameter('payment_intent', `This PaymentIntent (${p.payment_intent}) does not have a successful charge to refund.`);
    } else if (p.charge !== undefined) {
      charge = this.charges.get(p.charge);
      if (!charge) throw noSuch('charge', p.charge, 'charge');
    } else {
      throw invalidParameter('payment_intent', 'One of the following params should be provided for this request: payment_intent or charge.', 'parameter_missing');
    }
    const remaining = (charge.amount_captured as number) - (charge.amount_refunded as number);
    if (remaining <= 0) throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'charge_already_refunded', message: `Charge ${charge.id as string} has already been refunded.` });
    const amount = p.amount ?? remaining;
    if (amount <= 0) throw invalidParameter('amount', 'Invalid positive integer', 'parameter_invalid_integer');
    if (amount > remaining) {
      const money = (n: number) => `$${(n / 100).toFixed(2)}`;
      throw new StripeHttpError(400, { type: 'invalid_request_error', code: 'amount_too_large', param: 'amount', message: `Refund amount (${money(amount)}) is greater than unrefunded amount on charge (${money(remaining)})` });
    }
    charge.amount_refunded = (charge.amount_refunded as number) + amount;
    charge.refunded = charge.amount_refunded === charge.amount_captured;
    const r: Obj = {
      id: this.id('re'), object: 'refund', amount, balance_transaction: this.id('txn'), charge: charge.id, created: this.clock.now(), currency: charge.currency,
      destination_details: { type: 'card', card: { type: 'refund', reference_status: 'pending' } }, metadata: mergeMetadata({}, p.metadata ?? null),
      payment_intent: charge.payment_intent, reason: p.reason ?? null, receipt_number: null, source_transfer_reversal: null, status: 'succeeded', transfer_reversal: null,
    };
    this.refunds.set(r.id as string, r);
    this.event('refund.created', r.id as string, { amount, charge: charge.id });
    return r;
  }

  createBalanceTransaction(customerId: string, p: { amount: number; currency: string; description?: string; metadata?: Record<string, string | null> | null }): Obj {
    const c = this.liveCustomer(customerId, 'customer');
    if (p.currency !== c.currency) throw invalidParameter('currency', `The currency ${p.currency} does not match the customer's currency ${c.currency as string}.`);
    c.balance = (c.balance as number) + p.amount;
    const t: Obj = {
      id: this.id('cbtxn'), object: 'customer_balance_transaction', amount: p.amount, created: this.clock.now(), credit_note: null, currency: p.currency, customer: customerId,
      description: p.description ?? null, ending_balance: c.balance, invoice: null, livemode: this.livemode, metadata: mergeMetadata({}, p.metadata ?? null), type: 'adjustment',
    };
    this.balanceTransactions.set(t.id as string, t);
    this.event('customer_balance_transaction.created', t.id as string, { amount: p.amount });
    return t;
  }

  deleteCustomer(id: string): Obj {
    const c = this.liveCustomer(id);
    const now = this.clock.now();
    for (const s of this.subscriptions.values()) {
      if (s.customer === id && LIVE.includes(s.status as string)) {
        s.status = 'canceled';
        s.canceled_at = now;
        s.ended_at = now;
        s.cancellation_details = { comment: null, feedback: null, reason: 'cancellation_requested' };
        this.event('customer.subscription.deleted', s.id as string, { byCustomerDeletion: true });
      }
    }
    c.deleted = true;
    this.event('customer.deleted', id);
    return { id, object: 'customer', deleted: true };
  }
}

function mergeMetadata(base: Record<string, string>, change: Record<string, string | null> | null): Record<string, string> {
  if (change === null) return {};
  const out = { ...base };
  for (const [k, v] of Object.entries(change)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
