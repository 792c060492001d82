/**
 * Billing rules (src/domain/billing.ts), the billing configuration (src/adapters/billing-config.ts)
 * and how the Stripe adapter classifies failures (src/adapters/billing-stripe.ts). The adapter
 * itself is proven against the SDK and the loopback Stripe server in
 * test/integration/billing-stripe.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeBilling, loadBillingConfig } from '../../src/adapters/billing-config.js';
import { stripeVerdict, toBillingError } from '../../src/adapters/billing-stripe.js';
import {
  BillingError, DEFAULT_BILLING_POLICY, cancelActionFor, cancelComment, cancelEffects, cancelledByJob, changedAnything, decodeSuspension, emptyResult,
  encodeSuspension, formatMoney, idempotencyKey, planLines, policyProblem, prorateAtCancel, refundAmount, restoreOf, resultLines, suspendActionFor, suspendPlanLines, suspendResultLines,
  type BillingPlan,
} from '../../src/domain/billing.js';
import { isPermanent, UsageError } from '../../src/errors.js';

describe('which subscriptions a deletion cancels', () => {
  it.each([
    ['active', 'cancel'], ['trialing', 'cancel'], ['past_due', 'cancel'], ['unpaid', 'cancel'], ['paused', 'cancel'], ['incomplete', 'cancel'],
    ['canceled', 'none'], ['incomplete_expired', 'none'], ['some_future_status', 'refuse'], ['', 'refuse'],
  ])('%s → %s', (status, action) => {
    expect(cancelActionFor(status).action).toBe(action);
  });

  it('credits the unused part only of a paid period (not a trial, not an unpaid or voided period), and only when the policy says so', () => {
    const p = DEFAULT_BILLING_POLICY;
    expect(prorateAtCancel(p, { status: 'paid', amountPaid: 3000 })).toBe(true);
    expect(prorateAtCancel(p, { status: 'paid', amountPaid: 0 })).toBe(false);
    expect(prorateAtCancel(p, { status: 'open', amountPaid: 0 })).toBe(false);
    expect(prorateAtCancel(p, { status: 'void', amountPaid: 0 })).toBe(false);
    expect(prorateAtCancel(p, null)).toBe(false);
    expect(prorateAtCancel({ ...p, prorate: false }, { status: 'paid', amountPaid: 3000 })).toBe(false);
  });

  it('the plan lists the effects in words', () => {
    const paid = { latestInvoice: { id: 'in_1', status: 'paid', amountPaid: 3000, currency: 'usd' } };
    expect(cancelEffects(DEFAULT_BILLING_POLICY, paid)).toEqual(['cancel now', 'final invoice (usage and pending items)', 'unused time credited on it']);
    expect(cancelEffects({ ...DEFAULT_BILLING_POLICY, refund: 'unused' }, paid)).toContain('the credit refunded to the payment of the period');
    expect(cancelEffects(DEFAULT_BILLING_POLICY, { latestInvoice: null })).toEqual(['cancel now', 'final invoice (usage and pending items)', 'no credit (the current period was not paid)']);
    expect(cancelEffects({ ...DEFAULT_BILLING_POLICY, finalInvoice: false, prorate: false }, paid)).toEqual(['cancel now']);
  });
});

describe('refunds: never more than was paid, never twice', () => {
  it.each([
    [{ finalInvoiceTotal: -2000, paid: 3000, unrefunded: 3000, customerCredit: 2000 }, 2000],
    [{ finalInvoiceTotal: -2000, paid: 1500, unrefunded: 3000, customerCredit: 2000 }, 1500],
    [{ finalInvoiceTotal: -2000, paid: 3000, unrefunded: 500, customerCredit: 2000 }, 500],
    [{ finalInvoiceTotal: -2000, paid: 3000, unrefunded: 3000, customerCredit: 800 }, 800],
    [{ finalInvoiceTotal: -2000, paid: 3000, unrefunded: 0, customerCredit: 2000 }, 0],
    [{ finalInvoiceTotal: 700, paid: 3000, unrefunded: 3000, customerCredit: 2000 }, 0],
    [{ finalInvoiceTotal: 0, paid: 3000, unrefunded: 3000, customerCredit: 0 }, 0],
  ])('%j → %d', (o, amount) => {
    expect(refundAmount(o)).toBe(amount);
  });

  it('a policy that refunds needs the final invoice and proration', () => {
    expect(policyProblem(DEFAULT_BILLING_POLICY)).toBeNull();
    expect(policyProblem({ ...DEFAULT_BILLING_POLICY, refund: 'unused' })).toBeNull();
    expect(policyProblem({ ...DEFAULT_BILLING_POLICY, refund: 'unused', prorate: false })).toMatch(/needs both a final invoice and proration/);
    expect(policyProblem({ ...DEFAULT_BILLING_POLICY, refund: 'unused', finalInvoice: false })).not.toBeNull();
  });
});

describe('idempotency keys and the cancellation marker', () => {
  it('one key per job, object and action; the same for every attempt; refuses parts that could collide', () => {
    const k = idempotencyKey({ customerId: 'cust_abc', jobId: '17', object: 'sub_1', action: 'refund' });
    expect(k).toBe('custctl/cust_abc/job-17/sub_1/refund');
    expect(idempotencyKey({ customerId: 'cust_abc', jobId: '17', object: 'sub_1', action: 'refund' })).toBe(k);
    expect(idempotencyKey({ customerId: 'cust_abc', jobId: '18', object: 'sub_1', action: 'refund' })).not.toBe(k);
    expect(idempotencyKey({ customerId: 'cust_abc', jobId: '17', object: 'sub_1', action: 'refund-balance' })).not.toBe(k);
    expect(() => idempotencyKey({ customerId: 'cust_abc', jobId: '1/2', object: 'sub_1', action: 'refund' })).toThrow(/jobId/);
    expect(() => idempotencyKey({ customerId: 'cust_abc', jobId: '', object: 'sub_1', action: 'refund' })).toThrow();
    expect(k.length).toBeLessThanOrEqual(255);
  });

  it('the cancellation comment names job, customer and status before; only this job\'s comment is read as its own', () => {
    const c = cancelComment('17', 'cust_abc', 'past_due');
    expect(cancelledByJob(c, '17', 'cust_abc')).toBe('past_due');
    expect(cancelledByJob(c, '1', 'cust_abc')).toBeNull();
    expect(cancelledByJob(c, '17', 'cust_ab')).toBeNull();
    expect(cancelledByJob(cancelComment('170', 'cust_abc', 'active'), '17', 'cust_abc')).toBeNull();
    expect(cancelledByJob('Customer asked', '17', 'cust_abc')).toBeNull();
    expect(cancelledByJob(null, '17', 'cust_abc')).toBeNull();
  });
});

describe('soft delete: pause and its exact undo', () => {
  it.each([
    ['active', undefined, 'pause'], ['trialing', undefined, 'pause'], ['past_due', undefined, 'pause'], ['unpaid', undefined, 'pause'],
    ['active', '9', 'already'], ['active', '8', 'pause'], ['paused', undefined, 'none'], ['incomplete', undefined, 'none'], ['canceled', undefined, 'none'],
    ['strange', undefined, 'refuse'],
  ])('%s (suspended by %s) → %s', (status, by, action) => {
    expect(suspendActionFor(status, by, '9').action).toBe(action);
  });

  it('the record of what was there round-trips; an unreadable one is null', () => {
    for (const r of [{ prior: null, set: 'void' }, { prior: { behavior: 'keep_as_draft', resumesAt: 1_900_000_000 }, set: 'void' }, { prior: { behavior: 'void', resumesAt: null }, set: 'mark_uncollectible' }]) {
      expect(decodeSuspension(encodeSuspension(r))).toEqual(r);
      expect(encodeSuspension(r).length).toBeLessThanOrEqual(500);
    }
    expect(decodeSuspension(undefined)).toBeNull();
    expect(decodeSuspension('{')).toBeNull();
    expect(decodeSuspension('{"p":{"b":1},"s":"void"}')).toBeNull();
  });

  it('restores the earlier pause, none, or leaves a pause changed since custctl set it', () => {
    const now = 1_800_000_000;
    const mine = { behavior: 'void', resumesAt: null };
    expect(restoreOf({ prior: null, set: 'void' }, mine, now)).toEqual({ restore: null });
    expect(restoreOf({ prior: { behavior: 'keep_as_draft', resumesAt: now + 10 }, set: 'void' }, mine, now)).toEqual({ restore: { behavior: 'keep_as_draft', resumesAt: now + 10 } });
    // an earlier pause that would have ended by now: collection resumes
    expect(restoreOf({ prior: { behavior: 'keep_as_draft', resumesAt: now - 10 }, set: 'void' }, mine, now)).toEqual({ restore: null });
    expect(restoreOf({ prior: null, set: 'void' }, { behavior: 'mark_uncollectible', resumesAt: null }, now)).toEqual({ changed: true });
    expect(restoreOf({ prior: null, set: 'void' }, null, now)).toEqual({ changed: true });
    expect(restoreOf({ prior: null, set: 'void' }, { behavior: 'void', resumesAt: now + 5 }, now)).toEqual({ changed: true });
  });
});

describe('money and lines', () => {
  it.each([
    [4900, 'usd', '49.00 USD'], [-1500, 'eur', '-15.00 EUR'], [5, 'usd', '0.05 USD'], [500, 'jpy', '500 JPY'], [1234, 'kwd', '1.234 KWD'], [0, 'usd', '0.00 USD'],
  ])('%d %s → %s', (amount, currency, text) => {
    expect(formatMoney(amount, currency)).toBe(text);
  });

  it('plan lines: a refusal, none found, a deleted customer, subscriptions with their effects', () => {
    const base: BillingPlan = { provider: 'stripe', mode: 'live', foundBy: 'row', customer: { id: 'cus_1', name: 'ACME', email: null, deleted: false }, notes: [], subscriptions: [], policy: DEFAULT_BILLING_POLICY };
    expect(planLines({ ...base, refusal: 'two customers' })).toEqual(['Stripe: refused: two customers']);
    expect(planLines({ ...base, customer: null, foundBy: 'none', notes: ['no row id'] })).toEqual(['Stripe: no customer found (no row id): nothing to cancel']);
    expect(planLines({ ...base, customer: { id: 'cus_1', name: null, email: null, deleted: true } })).toEqual(['Stripe: customer cus_1, found by the row: already deleted, nothing bills']);
    const lines = planLines({
      ...base, mode: 'test', policy: { ...DEFAULT_BILLING_POLICY, deleteCustomer: true },
      subscriptions: [{
        id: 'sub_1', status: 'active', prices: [{ price: 'price_1', name: 'Pro', unitAmount: 4900, currency: 'usd', interval: 'month', intervalCount: 1, quantity: 2 }],
        nextInvoice: { at: Date.UTC(2026, 5, 1) / 1000, amount: 9800, currency: 'usd' }, pauseCollection: null, cancelAt: null, latestInvoice: null,
        action: 'cancel', why: 'bills every period', effects: ['cancel now', 'final invoice (usage and pending items)'],
      }],
    });
    expect(lines).toEqual([
      'Stripe (test mode): customer cus_1 (ACME), found by the row',
      '  sub_1 active: Pro 49.00 USD/month × 2, next invoice 2026-06-01 98.00 USD → cancel now, final invoice (usage and pending items)',
      '  then the Stripe customer cus_1 is deleted',
    ]);
  });

  it('result lines and whether anything changed', () => {
    const r = emptyResult('test', 'cus_1');
    expect(changedAnything(r)).toBe(false);
    expect(resultLines(r)).toEqual(['Stripe: cus_1: nothing was billing']);
    r.cancelled.push({ id: 'sub_1', statusBefore: 'active', by: 'this-attempt', finalInvoice: { id: 'in_9', total: -2000, amountDue: 0, currency: 'usd', status: 'paid' } });
    r.refunds.push({ id: 're_1', subscription: 'sub_1', amount: 2000, currency: 'usd', paymentIntent: 'pi_1', invoice: 'in_1', balanceTransaction: 'cbtxn_1', status: 'succeeded', by: 'this-attempt' });
    expect(changedAnything(r)).toBe(true);
    expect(resultLines(r)).toEqual(['Stripe: cancelled sub_1 (was active), final invoice in_9 -20.00 USD', 'Stripe: refunded 20.00 USD of in_1 (re_1) for sub_1']);
  });

  it('soft delete lines: what will be paused, what was, and the undo', () => {
    const sub = (id: string, status: string) => ({ id, status, prices: [], nextInvoice: null, pauseCollection: null, cancelAt: null, latestInvoice: null, action: 'cancel' as const, why: '', effects: [] });
    const plan: BillingPlan = { provider: 'stripe', mode: 'live', foundBy: 'row', customer: { id: 'cus_1', name: null, email: null, deleted: false }, notes: [], subscriptions: [sub('sub_1', 'active'), sub('sub_2', 'paused')], policy: DEFAULT_BILLING_POLICY };
    expect(suspendPlanLines(plan)).toEqual(['Stripe: collection of sub_1 paused (void) until the deletion runs (then cancelled) or is cancelled (then resumed as it was)']);
    expect(suspendPlanLines({ ...plan, subscriptions: [sub('sub_2', 'paused')] })).toEqual(['Stripe: customer cus_1: nothing bills, nothing to pause']);
    const r = { provider: 'stripe' as const, mode: 'live' as const, customer: 'cus_1', skipped: [], warnings: [], changed: [{ id: 'sub_1', prior: { behavior: 'keep_as_draft', resumesAt: Date.UTC(2027, 0, 1) / 1000 }, now: { behavior: 'void', resumesAt: null }, by: 'this-attempt' as const }] };
    expect(suspendResultLines(r, false)).toEqual(['Stripe: sub_1: collection paused (void), was paused (keep_as_draft until 2027-01-01)']);
    expect(suspendResultLines({ ...r, changed: [{ id: 'sub_1', prior: { behavior: 'void', resumesAt: null }, now: null, by: 'this-attempt' }] }, true)).toEqual(['Stripe: sub_1: paused (void) → collecting']);
  });
});

describe('configuration', () => {
  const key = 'rk_live_0123456789abcdefghij';

  it('off unless CUSTCTL_BILLING=stripe; a stray CUSTCTL_STRIPE_* without it is an error', async () => {
    expect(await loadBillingConfig({})).toEqual({ provider: 'none' });
    expect(await loadBillingConfig({ CUSTCTL_BILLING: 'none', STRIPE_API_KEY: key })).toEqual({ provider: 'none' });
    await expect(loadBillingConfig({ CUSTCTL_STRIPE_REFUND: 'unused' })).rejects.toThrow(/CUSTCTL_STRIPE_REFUND is set but CUSTCTL_BILLING is not/);
    await expect(loadBillingConfig({ CUSTCTL_BILLING: 'chargebee' })).rejects.toThrow(UsageError);
  });

  it('the defaults, as documented', async () => {
    const c = await loadBillingConfig({ CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: key });
    expect(c).toEqual({
      provider: 'stripe',
      stripe: { apiKey: key, keySource: 'STRIPE_API_KEY', mode: 'live', restricted: true, customerColumn: 'stripe_customer_id', metadataKey: null, apiBase: null },
      policy: { finalInvoice: true, prorate: true, refund: 'none', deleteCustomer: false, suspendBehavior: 'void' },
    });
    expect(describeBilling(c)).not.toContain(key);
    expect(describeBilling(c)).toBe('stripe (live mode, restricted key from STRIPE_API_KEY); customer from column stripe_customer_id; final invoice yes, proration yes, refund none, delete customer no, soft delete pauses collection (void)');
  });

  it('the policy variables, and what they refuse', async () => {
    const env = { CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: key };
    const c = await loadBillingConfig({ ...env, CUSTCTL_STRIPE_REFUND: 'unused', CUSTCTL_STRIPE_DELETE_CUSTOMER: 'yes', CUSTCTL_STRIPE_SUSPEND_BEHAVIOR: 'keep_as_draft', CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'custctl_customer_id', CUSTCTL_STRIPE_CUSTOMER_COLUMN: 'billing_ref' });
    expect(c.provider === 'stripe' && c.policy).toEqual({ finalInvoice: true, prorate: true, refund: 'unused', deleteCustomer: true, suspendBehavior: 'keep_as_draft' });
    expect(c.provider === 'stripe' && [c.stripe.customerColumn, c.stripe.metadataKey]).toEqual(['billing_ref', 'custctl_customer_id']);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_REFUND: 'unused', CUSTCTL_STRIPE_PRORATE: 'false' })).rejects.toThrow(/needs both a final invoice and proration/);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_PRORATE: 'maybe' })).rejects.toThrow(/expected true or false/);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_REFUND: 'all' })).rejects.toThrow(/expected one of none, unused/);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_CUSTOMER_COLUMN: 'x; drop table customers' })).rejects.toThrow(/not a plain column name/);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'a'.repeat(41) })).rejects.toThrow(/1-40/);
  });

  it('the key: required, one source, never publishable, never shown', async () => {
    await expect(loadBillingConfig({ CUSTCTL_BILLING: 'stripe' })).rejects.toThrow(/needs a key: set STRIPE_API_KEY, or CUSTCTL_STRIPE_API_KEY_FILE/);
    await expect(loadBillingConfig({ CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: 'pk_live_0123456789abcdef' })).rejects.toThrow(/publishable key/);
    const bad = await loadBillingConfig({ CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: 'hunter2-secret-value' }).then(() => new Error('accepted'), (e: unknown) => e as Error);
    expect(bad.message).toMatch(/does not look like a Stripe secret key/);
    expect(bad.message).not.toContain('hunter2');
    await expect(loadBillingConfig({ CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: key, CUSTCTL_STRIPE_API_KEY_FILE: '/x' })).rejects.toThrow(/both set/);
  });

  it('a key file only its owner can read; group- or world-readable is refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-stripe-key-'));
    const file = path.join(dir, 'key');
    writeFileSync(file, `${key}\n`);
    chmodSync(file, 0o644);
    const env = { CUSTCTL_BILLING: 'stripe', CUSTCTL_STRIPE_API_KEY_FILE: file };
    await expect(loadBillingConfig(env)).rejects.toThrow(/others can read it \(mode 0644\).*chmod 600/);
    chmodSync(file, 0o600);
    const c = await loadBillingConfig(env);
    expect(c.provider === 'stripe' && [c.stripe.apiKey, c.stripe.keySource]).toEqual([key, `CUSTCTL_STRIPE_API_KEY_FILE ${file}`]);
    await expect(loadBillingConfig({ ...env, CUSTCTL_STRIPE_API_KEY_FILE: path.join(dir, 'missing') })).rejects.toThrow(/cannot read it \(ENOENT\)/);
  });

  it('docs/billing.md states the defaults the code has', async () => {
    const doc = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/billing.md'), 'utf8');
    const documented = (name: string) => new RegExp(`^\\| \`${name}\` \\| \`?([^|\`]+?)\`? \\|`, 'm').exec(doc)?.[1];
    const c = await loadBillingConfig({ CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: key });
    if (c.provider !== 'stripe') throw new Error('not stripe');
    expect({
      CUSTCTL_STRIPE_CUSTOMER_COLUMN: documented('CUSTCTL_STRIPE_CUSTOMER_COLUMN'),
      CUSTCTL_STRIPE_FINAL_INVOICE: documented('CUSTCTL_STRIPE_FINAL_INVOICE'),
      CUSTCTL_STRIPE_PRORATE: documented('CUSTCTL_STRIPE_PRORATE'),
      CUSTCTL_STRIPE_REFUND: documented('CUSTCTL_STRIPE_REFUND'),
      CUSTCTL_STRIPE_DELETE_CUSTOMER: documented('CUSTCTL_STRIPE_DELETE_CUSTOMER'),
      CUSTCTL_STRIPE_SUSPEND_BEHAVIOR: documented('CUSTCTL_STRIPE_SUSPEND_BEHAVIOR'),
    }).toEqual({
      CUSTCTL_STRIPE_CUSTOMER_COLUMN: c.stripe.customerColumn,
      CUSTCTL_STRIPE_FINAL_INVOICE: String(c.policy.finalInvoice),
      CUSTCTL_STRIPE_PRORATE: String(c.policy.prorate),
      CUSTCTL_STRIPE_REFUND: c.policy.refund,
      CUSTCTL_STRIPE_DELETE_CUSTOMER: String(c.policy.deleteCustomer),
      CUSTCTL_STRIPE_SUSPEND_BEHAVIOR: c.policy.suspendBehavior,
    });
  });

  it('another API base: https anywhere, plain http only to loopback, an origin only', async () => {
    const env = { CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: key };
    const at = async (u: string) => { const c = await loadBillingConfig({ ...env, CUSTCTL_STRIPE_API_BASE: u }); return c.provider === 'stripe' ? c.stripe.apiBase : null; };
    expect(await at('http://127.0.0.1:12111')).toEqual({ protocol: 'http', host: '127.0.0.1', port: 12111 });
    expect(await at('https://stripe-proxy.internal')).toEqual({ protocol: 'https', host: 'stripe-proxy.internal', port: 443 });
    await expect(at('http://stripe-proxy.internal:8080')).rejects.toThrow(/plain http would send the Stripe key in clear/);
    await expect(at('https://proxy/v1')).rejects.toThrow(/an origin only/);
  });
});

describe('Stripe failures: retried as Stripe documents, or permanent', () => {
  const err = (o: { type?: string; statusCode?: number; code?: string; rawType?: string; headers?: Record<string, string> }) =>
    Object.assign(new Error('boom'), { type: 'StripeAPIError', ...o });

  it.each([
    ['503', err({ statusCode: 503 }), true],
    ['500 with Stripe-Should-Retry: false', err({ statusCode: 500, headers: { 'stripe-should-retry': 'false' } }), false],
    ['429 (the SDK would not retry it without the header)', err({ type: 'StripeRateLimitError', statusCode: 429, code: 'rate_limit' }), true],
    ['409 idempotency_key_in_use', err({ type: 'StripeIdempotencyError', statusCode: 409, code: 'idempotency_key_in_use' }), true],
    ['400 with Stripe-Should-Retry: true', err({ type: 'StripeInvalidRequestError', statusCode: 400, headers: { 'stripe-should-retry': 'true' } }), true],
    ['connection', err({ type: 'StripeConnectionError' }), true],
    ['400', err({ type: 'StripeInvalidRequestError', statusCode: 400 }), false],
    ['401', err({ type: 'StripeAuthenticationError', statusCode: 401 }), false],
    ['403', err({ type: 'StripePermissionError', statusCode: 403 }), false],
    ['not a Stripe error', new Error('x'), false],
  ])('%s → retry %s', (_name, e, retry) => {
    expect(stripeVerdict(e).retry).toBe(retry);
  });

  it('Retry-After is honoured', () => {
    expect(stripeVerdict(err({ statusCode: 429, headers: { 'retry-after': '2' } }))).toMatchObject({ retry: true, afterMs: 2000 });
  });

  it.each([
    [401, true], [403, true], [400, true], [404, true], [402, true], [409, false], [429, false], [500, false], [503, false],
  ])('HTTP %d, once retries are spent → permanent %s', (status, permanent) => {
    const e = toBillingError(err({ statusCode: status, type: status === 401 ? 'StripeAuthenticationError' : 'StripeAPIError' }));
    expect(e).toBeInstanceOf(BillingError);
    expect(isPermanent(e)).toBe(permanent);
  });
});
