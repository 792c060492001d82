/**
 * Billing rules at a customer's deletion, whatever the billing provider (Stripe is the first):
 * which subscriptions still bill and are cancelled, when the unused part of a period is credited
 * and refunded (never more than was paid, never twice), how a soft delete stops collection so that
 * its cancel can undo it exactly, the idempotency keys and markers that make a retried attempt, a
 * resumed job or a second worker a no-op, and the plan and result lines people read.
 *
 * Amounts are integers in the currency's smallest unit (cents), as payment APIs carry them.
 */
import { OperationError } from './errors.js';

// ---------- policy ----------

export type RefundPolicy = 'none' | 'unused';
export type PauseBehavior = 'void' | 'keep_as_draft' | 'mark_uncollectible';
export const PAUSE_BEHAVIORS: readonly PauseBehavior[] = ['void', 'keep_as_draft', 'mark_uncollectible'];

/** What a site decided happens to a customer's subscriptions when custctl deletes the customer. */
export interface BillingPolicy {
  /** a final invoice at cancellation for metered usage, pending items and the proration */
  finalInvoice: boolean;
  /** credit the unused part of a paid period */
  prorate: boolean;
  /** `unused`: refund that credit to the payment that paid the period */
  refund: RefundPolicy;
  /** delete the billing provider's customer after cancelling (erasure) */
  deleteCustomer: boolean;
  /** soft delete: how invoices raised while collection is paused are treated */
  suspendBehavior: PauseBehavior;
}

export const DEFAULT_BILLING_POLICY: Readonly<BillingPolicy> = {
  finalInvoice: true,
  prorate: true,
  refund: 'none',
  deleteCustomer: false,
  suspendBehavior: 'void',
};

/** A policy that cannot work, or null. */
export function policyProblem(p: BillingPolicy): string | null {
  if (p.refund === 'unused' && !(p.prorate && p.finalInvoice)) {
    return 'refunding the unused part needs both a final invoice and proration: the refund is the credit that the final invoice gives for the unused time';
  }
  return null;
}

// ---------- subscriptions ----------

/** Statuses a subscription may still bill from (Stripe's names). */
export const BILLING_STATUSES = ['active', 'trialing', 'past_due', 'unpaid', 'paused', 'incomplete'] as const;
export const ENDED_STATUSES = ['canceled', 'incomplete_expired'] as const;

export type CancelAction = { action: 'cancel'; why: string } | { action: 'none'; why: string } | { action: 'refuse'; why: string };

/** What the hard deletion does to a subscription in this status. */
export function cancelActionFor(status: string): CancelAction {
  switch (status) {
    case 'active': return { action: 'cancel', why: 'bills every period' };
    case 'trialing': return { action: 'cancel', why: 'bills when the trial ends' };
    case 'past_due': return { action: 'cancel', why: 'payment is being retried' };
    case 'unpaid': return { action: 'cancel', why: 'its open invoices can still be paid and it can start again' };
    case 'paused': return { action: 'cancel', why: 'bills again when resumed' };
    case 'incomplete': return { action: 'cancel', why: 'its first invoice can still be paid, which starts it' };
    case 'canceled': return { action: 'none', why: 'already cancelled' };
    case 'incomplete_expired': return { action: 'none', why: 'expired before it started' };
    default: return { action: 'refuse', why: `status "${status}" is unknown to custctl, which cannot tell whether it bills: cancel it in the Stripe Dashboard, or upgrade custctl` };
  }
}

/**
 * Whether cancelling credits the unused part of the current period: only when the policy says so
 * and that period was paid (its invoice paid, for more than nothing). A trial, an unpaid or
 * past-due period, or a period whose invoice was voided while a soft delete paused collection,
 * is not credited: the customer would get back money they never paid.
 */
export function prorateAtCancel(p: BillingPolicy, latestInvoice: { status: string | null; amountPaid: number } | null): boolean {
  return p.prorate && latestInvoice !== null && latestInvoice.status === 'paid' && latestInvoice.amountPaid > 0;
}

/**
 * The refund for the unused part of one cancelled subscription: the credit its final invoice left
 * (a negative total), but never more than the period's invoice was paid, than what is still
 * unrefunded on that payment, or than the credit the customer still holds (credit already spent
 * on another invoice is not refunded again).
 */
export function refundAmount(o: { finalInvoiceTotal: number; paid: number; unrefunded: number; customerCredit: number }): number {
  const credit = Math.max(0, -o.finalInvoiceTotal);
  return Math.max(0, Math.min(credit, o.paid, o.unrefunded, o.customerCredit));
}

// ---------- soft delete ----------

export interface PauseState {
  behavior: string;
  /** unix seconds, or null */
  resumesAt: number | null;
}

export type SuspendAction = { action: 'pause'; why: string } | { action: 'already'; why: string } | { action: 'none'; why: string } | { action: 'refuse'; why: string };

/** Metadata keys custctl writes on a subscription whose collection it paused (Stripe keys are at most 40 characters). */
export const SUSPENDED_BY_KEY = 'custctl_suspended_by';
export const SUSPENSION_KEY = 'custctl_suspension';

/** What a soft delete does to a subscription in this status, given custctl's marker on it. */
export function suspendActionFor(status: string, suspendedBy: string | undefined, jobId: string): SuspendAction {
  if (suspendedBy === jobId) return { action: 'already', why: 'collection already paused by this job' };
  switch (status) {
    case 'active':
    case 'trialing':
    case 'past_due':
    case 'unpaid':
      return { action: 'pause', why: 'collection paused until the deletion is cancelled or done' };
    case 'paused': return { action: 'none', why: 'paused: it bills nothing until resumed' };
    case 'incomplete': return { action: 'none', why: 'incomplete: it bills nothing unless its first invoice is paid' };
    case 'canceled':
    case 'incomplete_expired':
      return { action: 'none', why: 'ended' };
    default: return { action: 'refuse', why: `status "${status}" is unknown to custctl, which cannot tell whether it bills` };
  }
}

/** What custctl records on a subscription it paused: what to restore, and what it set (to see a later change by someone else). */
export interface SuspensionRecord {
  prior: PauseState | null;
  set: string;
}

export function encodeSuspension(r: SuspensionRecord): string {
  return JSON.stringify({ p: r.prior === null ? null : { b: r.prior.behavior, r: r.prior.resumesAt }, s: r.set });
}

/** Reads a recorded suspension; null when absent or unreadable (then nothing is restored). */
export function decodeSuspension(text: string | undefined): SuspensionRecord | null {
  if (text === undefined || text === '') return null;
  try {
    const v = JSON.parse(text) as { p?: { b?: unknown; r?: unknown } | null; s?: unknown };
    if (typeof v.s !== 'string') return null;
    if (v.p === null || v.p === undefined) return { prior: null, set: v.s };
    if (typeof v.p.b !== 'string' || !(v.p.r === null || typeof v.p.r === 'number')) return null;
    return { prior: { behavior: v.p.b, resumesAt: v.p.r }, set: v.s };
  } catch {
    return null;
  }
}

/**
 * What the undo of a soft delete writes back: the pause there was before (a `resumes_at` already
 * past is dropped: collection would have resumed by now), or none. `changed`: someone altered the
 * pause since custctl set it, so it is left as it is.
 */
export function restoreOf(record: SuspensionRecord, current: PauseState | null, nowSeconds: number): { restore: PauseState | null } | { changed: true } {
  if (current === null || current.behavior !== record.set || current.resumesAt !== null) return { changed: true };
  const p = record.prior;
  if (p === null) return { restore: null };
  if (p.resumesAt !== null && p.resumesAt <= nowSeconds) return { restore: null };
  return { restore: p };
}

// ---------- idempotency and markers ----------

/**
 * The Idempotency-Key of one write: the same for every attempt of one job on one object, so a
 * retried request, a resumed job or a second worker gets the first answer instead of a second
 * effect. The custctl customer ID keeps two sites (whose job ids may coincide) apart.
 */
export function idempotencyKey(o: { customerId: string; jobId: string; object: string; action: string }): string {
  for (const [k, v] of Object.entries(o)) {
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(v)) throw new Error(`idempotency key part ${k}=${JSON.stringify(v)}: 1-64 of [A-Za-z0-9_.:-]`);
  }
  return `custctl/${o.customerId}/job-${o.jobId}/${o.object}/${o.action}`;
}

/**
 * The cancellation comment custctl leaves on a subscription it cancels: a later attempt that finds
 * the subscription cancelled reads it to tell its own earlier cancel (go on: final invoice, refund)
 * from a cancel by someone else (nothing more to do), and what its status was before.
 */
export function cancelComment(jobId: string, customerId: string, statusBefore: string): string {
  return `custctl: deleted with customer ${customerId} by job ${jobId} (was ${statusBefore})`;
}

/** The status before, when `comment` is this job's cancellation comment; else null. */
export function cancelledByJob(comment: string | null | undefined, jobId: string, customerId: string): string | null {
  if (!comment) return null;
  const head = `custctl: deleted with customer ${customerId} by job ${jobId} (was `;
  if (!comment.startsWith(head) || !comment.endsWith(')')) return null;
  const before = comment.slice(head.length, -1);
  return /^[a-z_]{1,40}$/.test(before) ? before : null;
}

// ---------- money and time ----------

const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** `4900, 'usd'` → `49.00 USD`; `-1500, 'usd'` → `-15.00 USD`; `500, 'jpy'` → `500 JPY`. */
export function formatMoney(amount: number, currency: string): string {
  const c = currency.toLowerCase();
  const digits = ZERO_DECIMAL.has(c) ? 0 : THREE_DECIMAL.has(c) ? 3 : 2;
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  const whole = Math.floor(abs / 10 ** digits);
  const frac = digits === 0 ? '' : `.${String(abs % 10 ** digits).padStart(digits, '0')}`;
  return `${sign}${whole}${frac} ${currency.toUpperCase()}`;
}

export function formatInterval(interval: string | null, count: number): string {
  if (interval === null) return 'once';
  return count === 1 ? interval : `${count} ${interval}s`;
}

/** Unix seconds as a UTC date (`2026-05-01`). */
export function formatDay(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}

// ---------- plan and result ----------

export interface PlannedPrice {
  price: string;
  /** the price's nickname or product */
  name: string;
  unitAmount: number | null;
  currency: string;
  interval: string | null;
  intervalCount: number;
  quantity: number;
}

export interface PlannedSubscription {
  id: string;
  status: string;
  prices: PlannedPrice[];
  /** when the next invoice is due and its list amount (price × quantity, before tax, discounts and usage); null: none coming */
  nextInvoice: { at: number; amount: number | null; currency: string } | null;
  pauseCollection: PauseState | null;
  cancelAt: number | null;
  /** the invoice of the current period */
  latestInvoice: { id: string; status: string | null; amountPaid: number; currency: string } | null;
  action: CancelAction['action'];
  why: string;
  /** what cancelling does to money: final invoice, credit, refund */
  effects: string[];
}

export interface BillingCustomer {
  id: string;
  name: string | null;
  email: string | null;
  deleted: boolean;
}

export interface BillingPlan {
  provider: 'stripe';
  mode: 'test' | 'live';
  /** how the customer was found: the row's column, a metadata search, or not at all */
  foundBy: 'row' | 'search' | 'none';
  customer: BillingCustomer | null;
  /** why none was found, or other facts worth a line */
  notes: string[];
  subscriptions: PlannedSubscription[];
  policy: BillingPolicy;
  /** set: the billing step refuses to run (several customers found, an unknown status) */
  refusal?: string;
}

/** The effects listed in the plan for one subscription to be cancelled. */
export function cancelEffects(p: BillingPolicy, s: Pick<PlannedSubscription, 'latestInvoice'>): string[] {
  const out = ['cancel now'];
  const prorate = prorateAtCancel(p, s.latestInvoice);
  if (p.finalInvoice) out.push('final invoice (usage and pending items)');
  if (prorate) {
    out.push(p.finalInvoice ? 'unused time credited on it' : 'unused time credited to the next invoice');
    if (p.refund === 'unused') out.push('the credit refunded to the payment of the period');
  } else if (p.prorate) {
    out.push('no credit (the current period was not paid)');
  }
  return out;
}

export interface CancelledSubscription {
  id: string;
  /** status before this job cancelled it */
  statusBefore: string;
  /** `earlier-attempt`: found done by this job before (an earlier attempt, or a request of this one whose answer was lost) */
  by: 'this-attempt' | 'earlier-attempt';
  finalInvoice: { id: string; total: number; amountDue: number; currency: string; status: string | null } | null;
}

export interface BillingRefund {
  id: string;
  subscription: string;
  amount: number;
  currency: string;
  paymentIntent: string;
  /** the invoice whose payment was refunded */
  invoice: string;
  /** the balance adjustment that takes the refunded credit back off the customer's balance */
  balanceTransaction: string | null;
  /** Stripe's refund status (`succeeded`, `pending`; `failed` or `canceled` need a person) */
  status: string | null;
  by: 'this-attempt' | 'earlier-attempt';
}

export interface BillingResult {
  provider: 'stripe';
  mode: 'test' | 'live';
  customer: string | null;
  cancelled: CancelledSubscription[];
  /** subscriptions that had ended before this job (nothing to do) */
  untouched: Array<{ id: string; status: string; why: string }>;
  refunds: BillingRefund[];
  /** credit left on the customer's balance (not refunded by policy), by subscription */
  credited: Array<{ subscription: string; amount: number; currency: string }>;
  customerDeleted: 'no' | 'deleted' | 'already';
  warnings: string[];
}

export function emptyResult(mode: 'test' | 'live', customer: string | null): BillingResult {
  return { provider: 'stripe', mode, customer, cancelled: [], untouched: [], refunds: [], credited: [], customerDeleted: 'no', warnings: [] };
}

export interface SuspendResult {
  provider: 'stripe';
  mode: 'test' | 'live';
  customer: string | null;
  /** subscriptions whose collection this job paused (or, undoing, resumed) */
  changed: Array<{ id: string; prior: PauseState | null; now: PauseState | null; by: 'this-attempt' | 'earlier-attempt' }>;
  skipped: Array<{ id: string; status: string; why: string }>;
  warnings: string[];
}

/** Did this operation change anything at the billing provider (in this attempt or an earlier one)? */
export function changedAnything(r: BillingResult): boolean {
  return r.cancelled.length > 0 || r.refunds.length > 0 || r.customerDeleted === 'deleted';
}

export function planLines(p: BillingPlan): string[] {
  const mode = p.mode === 'test' ? ' (test mode)' : '';
  if (p.refusal) return [`Stripe${mode}: refused: ${p.refusal}`];
  if (p.customer === null) return [`Stripe${mode}: no customer found${p.notes.length > 0 ? ` (${p.notes.join('; ')})` : ''}: nothing to cancel`];
  const who = [p.customer.name, p.customer.email].filter((x): x is string => !!x).join(', ');
  const head = `Stripe${mode}: customer ${p.customer.id}${who ? ` (${who})` : ''}, found by ${p.foundBy === 'row' ? 'the row' : 'metadata search'}`;
  if (p.customer.deleted) return [`${head}: already deleted, nothing bills`];
  const lines = [head];
  for (const s of p.subscriptions) {
    const prices = s.prices.map((x) => `${x.name} ${x.unitAmount === null ? '(metered)' : formatMoney(x.unitAmount, x.currency)}/${formatInterval(x.interval, x.intervalCount)}${x.quantity !== 1 ? ` × ${x.quantity}` : ''}`).join(' + ');
    const next = s.nextInvoice ? `, next invoice ${formatDay(s.nextInvoice.at)}${s.nextInvoice.amount !== null ? ` ${formatMoney(s.nextInvoice.amount, s.nextInvoice.currency)}` : ''}` : '';
    const paused = s.pauseCollection ? `, collection paused (${s.pauseCollection.behavior})` : '';
    const what = s.action === 'cancel' ? s.effects.join(', ') : s.action === 'none' ? `nothing (${s.why})` : `refused: ${s.why}`;
    lines.push(`  ${s.id} ${s.status}: ${prices}${next}${paused} → ${what}`);
  }
  if (p.subscriptions.length === 0) lines.push('  no subscriptions');
  if (p.policy.deleteCustomer) lines.push(`  then the Stripe customer ${p.customer.id} is deleted`);
  return lines;
}

/** What a soft delete's scheduling will do (the same rule as suspendActionFor, before any marker is read). */
export function suspendPlanLines(p: BillingPlan): string[] {
  const mode = p.mode === 'test' ? ' (test mode)' : '';
  if (p.refusal) return [`Stripe${mode}: refused: ${p.refusal}`];
  if (p.customer === null) return [`Stripe${mode}: no customer found${p.notes.length > 0 ? ` (${p.notes.join('; ')})` : ''}: nothing to pause`];
  if (p.customer.deleted) return [`Stripe${mode}: customer ${p.customer.id} already deleted: nothing to pause`];
  const paused = p.subscriptions.filter((s) => suspendActionFor(s.status, undefined, '').action === 'pause').map((s) => s.id);
  if (paused.length === 0) return [`Stripe${mode}: customer ${p.customer.id}: nothing bills, nothing to pause`];
  return [`Stripe${mode}: collection of ${paused.join(', ')} paused (${p.policy.suspendBehavior}) until the deletion runs (then cancelled) or is cancelled (then resumed as it was)`];
}

export function suspendResultLines(r: SuspendResult, undo: boolean): string[] {
  const show = (x: PauseState | null) => (x === null ? 'collecting' : `paused (${x.behavior}${x.resumesAt !== null ? ` until ${formatDay(x.resumesAt)}` : ''})`);
  const lines = r.changed.map((c) => `Stripe: ${c.id}: ${undo ? `${show(c.prior)} → ${show(c.now)}` : `collection ${show(c.now)}${c.prior ? `, was ${show(c.prior)}` : ''}`}`);
  if (lines.length === 0) lines.push(`Stripe: ${r.customer ?? 'no customer'}: nothing ${undo ? 'to resume' : 'to pause'}`);
  return [...lines, ...r.warnings.map((w) => `Stripe: warning: ${w}`)];
}

export function resultLines(r: BillingResult): string[] {
  if (r.customer === null) return ['Stripe: no customer: nothing cancelled'];
  const lines: string[] = [];
  for (const c of r.cancelled) {
    const inv = c.finalInvoice ? `, final invoice ${c.finalInvoice.id} ${formatMoney(c.finalInvoice.total, c.finalInvoice.currency)}${c.finalInvoice.amountDue > 0 ? ` (${formatMoney(c.finalInvoice.amountDue, c.finalInvoice.currency)} due)` : ''}` : '';
    lines.push(`Stripe: cancelled ${c.id} (was ${c.statusBefore})${inv}`);
  }
  for (const f of r.refunds) lines.push(`Stripe: refunded ${formatMoney(f.amount, f.currency)} of ${f.invoice} (${f.id}) for ${f.subscription}${f.status && !['succeeded', 'pending'].includes(f.status) ? ` — refund ${f.status}: see the Stripe Dashboard` : ''}`);
  for (const c of r.credited) lines.push(`Stripe: ${formatMoney(c.amount, c.currency)} of unused time left as credit on ${r.customer} (${c.subscription})`);
  if (r.customerDeleted !== 'no') lines.push(`Stripe: customer ${r.customer} ${r.customerDeleted === 'deleted' ? 'deleted' : 'was already deleted'}`);
  if (lines.length === 0) lines.push(`Stripe: ${r.customer}: nothing was billing`);
  return [...lines, ...r.warnings.map((w) => `Stripe: warning: ${w}`)];
}

// ---------- errors ----------

/**
 * A billing call failed. `permanent`: no retry can help (the key is refused, a permission is
 * missing, several customers match, an answer custctl cannot act on). `partial`: what had been
 * done before the failure (the pipeline needs it to decide whether the row can be handed back).
 */
export class BillingError extends OperationError {
  readonly partial: BillingResult | undefined;

  constructor(message: string, details: readonly string[] = [], options?: { cause?: unknown; permanent?: boolean; partial?: BillingResult }) {
    super(message, details, options);
    this.partial = options?.partial;
  }
}

// ---------- the record a deletion keeps ----------

/**
 * What a deletion did at the billing provider, in the few fields the audit row, the webhook body
 * and `status job` carry: ids and amounts (smallest currency unit), nothing else of the customer.
 */
export interface BillingSummary {
  provider: 'stripe';
  mode: 'test' | 'live';
  customer: string | null;
  cancelled: Array<{ subscription: string; statusBefore: string }>;
  invoiced: Array<{ subscription: string; invoice: string; total: number; amountDue: number; currency: string }>;
  refunded: Array<{ subscription: string; refund: string; amount: number; currency: string; invoice: string; status: string | null }>;
  credited: Array<{ subscription: string; amount: number; currency: string }>;
  customerDeleted: BillingResult['customerDeleted'];
}

export function billingSummary(r: BillingResult): BillingSummary {
  return {
    provider: r.provider,
    mode: r.mode,
    customer: r.customer,
    cancelled: r.cancelled.map((c) => ({ subscription: c.id, statusBefore: c.statusBefore })),
    invoiced: r.cancelled.flatMap((c) => (c.finalInvoice ? [{ subscription: c.id, invoice: c.finalInvoice.id, total: c.finalInvoice.total, amountDue: c.finalInvoice.amountDue, currency: c.finalInvoice.currency }] : [])),
    refunded: r.refunds.map((f) => ({ subscription: f.subscription, refund: f.id, amount: f.amount, currency: f.currency, invoice: f.invoice, status: f.status })),
    credited: r.credited,
    customerDeleted: r.customerDeleted,
  };
}

/** The lines of a summary recorded by an earlier attempt of the job (`status job`, the result). */
export function summaryLines(s: BillingSummary): string[] {
  if (s.customer === null) return ['Stripe: no customer: nothing cancelled'];
  const lines = s.cancelled.map((c) => {
    const inv = s.invoiced.find((i) => i.subscription === c.subscription);
    return `Stripe: cancelled ${c.subscription} (was ${c.statusBefore})${inv ? `, final invoice ${inv.invoice} ${formatMoney(inv.total, inv.currency)}` : ''}`;
  });
  for (const f of s.refunded) lines.push(`Stripe: refunded ${formatMoney(f.amount, f.currency)} of ${f.invoice} (${f.refund}) for ${f.subscription}`);
  for (const c of s.credited) lines.push(`Stripe: ${formatMoney(c.amount, c.currency)} of unused time left as credit on ${s.customer} (${c.subscription})`);
  if (s.customerDeleted !== 'no') lines.push(`Stripe: customer ${s.customer} ${s.customerDeleted === 'deleted' ? 'deleted' : 'was already deleted'}`);
  if (lines.length === 0) lines.push(`Stripe: ${s.customer}: nothing was billing`);
  return lines.map((l) => `${l} (by an earlier attempt of this job)`);
}

/** One line for a closing summary: `billing cancelled 2, invoiced 2, refunded 20.00 USD`. */
export function summaryWords(s: BillingSummary): string {
  const refunded = s.refunded.map((f) => formatMoney(f.amount, f.currency)).join(' + ');
  return [`billing cancelled ${s.cancelled.length}`, `invoiced ${s.invoiced.length}`, ...(refunded ? [`refunded ${refunded}`] : [])].join(', ');
}
