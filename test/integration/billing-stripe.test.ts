/**
 * The Stripe billing adapter (src/adapters/billing-stripe.ts) on the official `stripe` SDK,
 * talking HTTP to the Stripe-protocol server (test/env/stripe-server.ts) on loopback — no Stripe
 * server is reachable from here, so this is the proof:
 *
 * - a hard deletion cancels two subscriptions, one with a final prorated invoice whose credit is
 *   refunded (and taken off the credit balance), and leaves an earlier-cancelled one alone;
 * - the same job again — in-process, after a `kill -9` of a child process at three points, past
 *   Stripe's 24 hours of idempotency, and as two workers at once — makes no second cancel,
 *   invoice, refund or balance adjustment (counted on the server);
 * - an invalid key, and a restricted key without a permission, fail fast and for good, having
 *   changed nothing; 503 twice then 200 carries on; Stripe-Should-Retry: false is obeyed;
 * - a soft delete pauses collection and its undo restores exactly what was there;
 * - the customer from the row, from a metadata search, none (said in the plan), several (refused).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBillingConfig } from '../../src/adapters/billing-config.js';
import { STRIPE_RETRY, makeStripeBilling } from '../../src/adapters/billing-stripe.js';
import type { RetryPolicy } from '../../src/adapters/retry.js';
import type { Billing } from '../../src/adapters/billing.js';
import { BillingError, planLines, resultLines, type BillingPolicy } from '../../src/domain/billing.js';
import { isPermanent } from '../../src/errors.js';
import { FULL_ACCESS_KEY, startStripeServer, type StripeServer } from '../env/stripe-server.js';
import type { Obj } from '../env/stripe/state.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CID = 'cust_billing0test';
const FAST = { tries: 5, baseMs: 20, maxMs: 100, maxRetryAfterMs: 5_000, maxElapsedMs: 30_000 };

let srv: StripeServer;

beforeEach(async () => {
  srv = await startStripeServer({
    keys: {
      [FULL_ACCESS_KEY]: { permissions: 'all' },
      rk_test_custctl_readonly: { permissions: ['customer_read', 'subscription_read', 'invoice_read'] },
    },
  });
});

afterEach(async () => {
  await srv.stop();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { CUSTCTL_BILLING: 'stripe', STRIPE_API_KEY: FULL_ACCESS_KEY, CUSTCTL_STRIPE_API_BASE: srv.url, CUSTCTL_STRIPE_REFUND: 'unused', ...extra };
}

async function billing(extra: Record<string, string> = {}, o: { policy?: Partial<BillingPolicy>; retry?: RetryPolicy } = {}): Promise<Billing> {
  const c = await loadBillingConfig(env(extra));
  if (c.provider !== 'stripe') throw new Error('not stripe');
  return makeStripeBilling({ settings: c.stripe, policy: { ...c.policy, ...o.policy }, retry: o.retry ?? FAST });
}

/** ACME: A active and paid (a third of its period used: 2000 of 3000 unused), B trialing, C cancelled last year. */
function acme() {
  const st = srv.state;
  const now = st.clock.now();
  const cust = st.seedCustomer({ email: 'ops@acme.test', name: 'ACME', metadata: { custctl_customer_id: CID } });
  const pro = st.seedPrice({ unitAmount: 3000, nickname: 'Pro' });
  const seat = st.seedPrice({ unitAmount: 1000, nickname: 'Seat' });
  const a = st.seedSubscription({ customer: cust.id as string, prices: [{ price: pro }], status: 'active', periodStart: now - 10 * 86400, periodEnd: now + 20 * 86400 });
  const b = st.seedSubscription({ customer: cust.id as string, prices: [{ price: seat, quantity: 3 }], status: 'trialing', periodStart: now - 86400, periodEnd: now + 13 * 86400 });
  const c = st.seedSubscription({ customer: cust.id as string, prices: [{ price: pro }], status: 'canceled', invoice: 'none', periodStart: now - 400 * 86400, periodEnd: now - 370 * 86400 });
  const aInvoice = st.invoice(a.latest_invoice as string);
  const aCharge = [...st.charges.values()].find((ch) => ch.amount === 3000) as Obj;
  return { cust, a, b, c, aInvoice, aCharge, target: { customerId: CID, providerCustomerId: cust.id as string } };
}

/** What the server executed, by kind. */
function counts() {
  const st = srv.state;
  return {
    cancels: st.count('customer.subscription.deleted'),
    invoices: st.count('invoice.finalized'),
    refunds: st.count('refund.created'),
    balance: st.count('customer_balance_transaction.created'),
    updates: st.count('customer.subscription.updated'),
    customersDeleted: st.count('customer.deleted'),
  };
}

describe('hard deletion: cancel, final invoice, refund', () => {
  it('plans what it will do: the customer, each subscription with price, interval, next invoice, and the effect', async () => {
    const w = acme();
    const plan = await (await billing()).plan(w.target);
    expect(plan).toMatchObject({ provider: 'stripe', mode: 'test', foundBy: 'row', customer: { id: w.cust.id, name: 'ACME', email: 'ops@acme.test', deleted: false } });
    const byId = Object.fromEntries(plan.subscriptions.map((s) => [s.id, s]));
    expect(byId[w.a.id as string]).toMatchObject({
      status: 'active', action: 'cancel',
      prices: [{ name: 'Pro', unitAmount: 3000, currency: 'usd', interval: 'month', intervalCount: 1, quantity: 1 }],
      nextInvoice: { amount: 3000, currency: 'usd' },
      effects: ['cancel now', 'final invoice (usage and pending items)', 'unused time credited on it', 'the credit refunded to the payment of the period'],
    });
    expect(byId[w.b.id as string]).toMatchObject({ status: 'trialing', action: 'cancel', nextInvoice: { amount: 3000 } });
    expect(byId[w.b.id as string]?.effects).not.toContain('unused time credited on it');
    expect(byId[w.c.id as string]).toMatchObject({ status: 'canceled', action: 'none', nextInvoice: null });
    const text = planLines(plan).join('\n');
    expect(text).toContain(`Stripe (test mode): customer ${w.cust.id as string} (ACME, ops@acme.test), found by the row`);
    expect(text).toMatch(new RegExp(`${w.a.id as string} active: Pro 30.00 USD/month, next invoice \\d{4}-\\d\\d-\\d\\d 30.00 USD → cancel now`));
    expect(text).toContain(`${w.c.id as string} canceled`);
    // a plan is read only
    expect(srv.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(counts()).toMatchObject({ cancels: 0, refunds: 0, updates: 0 });
  });

  it('cancels two subscriptions, one with a final prorated invoice, refunds its credit once and takes it off the balance', async () => {
    const w = acme();
    const r = await (await billing()).cancel(w.target, { jobId: '41' });
    const st = srv.state;
    expect(st.subscription(w.a.id as string).status).toBe('canceled');
    expect(st.subscription(w.b.id as string).status).toBe('canceled');
    expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0, customersDeleted: 0 });
    // the final invoice: one proration line crediting the unused 20 of 30 days of A's paid invoice
    const finalId = st.subscription(w.a.id as string).latest_invoice as string;
    const final = st.invoice(finalId);
    expect(final).toMatchObject({ total: -2000, amount_due: 0, status: 'paid' });
    const line = (final.lines as { data: Obj[] }).data[0] as { amount: number; parent: { subscription_item_details: { proration: boolean; proration_details: { credited_items: { invoice: string } } } } };
    expect(line.amount).toBe(-2000);
    expect(line.parent.subscription_item_details.proration).toBe(true);
    expect(line.parent.subscription_item_details.proration_details.credited_items.invoice).toBe(w.aInvoice.id);
    // refunded to the card that paid the period, and the credit taken back off the balance
    expect(w.aCharge).toMatchObject({ amount_refunded: 2000, refunded: false });
    expect(st.customer(w.cust.id as string).balance).toBe(0);
    // what the adapter sent: prorate only for the paid period; idempotency keys on the POSTs only
    const deletes = srv.requestsTo('DELETE', /^\/v1\/subscriptions\//);
    const qa = deletes.find((d) => d.path.endsWith(w.a.id as string))?.query ?? '';
    const qb = deletes.find((d) => d.path.endsWith(w.b.id as string))?.query ?? '';
    expect(qa).toContain('invoice_now=true');
    expect(qa).toContain('prorate=true');
    expect(qb).toContain('prorate=false');
    expect(deletes.every((d) => d.idempotencyKey === null)).toBe(true);
    expect(srv.requestsTo('POST', '/v1/refunds')[0]?.idempotencyKey).toBe(`custctl/${CID}/job-41/${w.a.id as string}/refund`);
    expect(srv.requestsTo('POST', /balance_transactions$/)[0]?.idempotencyKey).toBe(`custctl/${CID}/job-41/${w.a.id as string}/refund-balance`);
    // the result carries ids and amounts
    expect(r).toMatchObject({ provider: 'stripe', mode: 'test', customer: w.cust.id, customerDeleted: 'no', credited: [], warnings: [] });
    expect(r.cancelled).toEqual(expect.arrayContaining([
      { id: w.a.id, statusBefore: 'active', by: 'this-attempt', finalInvoice: { id: finalId, total: -2000, amountDue: 0, currency: 'usd', status: 'paid' } },
      { id: w.b.id, statusBefore: 'trialing', by: 'this-attempt', finalInvoice: null },
    ]));
    expect(r.untouched).toEqual([{ id: w.c.id, status: 'canceled', why: 'already cancelled' }]);
    expect(r.refunds).toEqual([expect.objectContaining({ subscription: w.a.id, amount: 2000, currency: 'usd', invoice: w.aInvoice.id, by: 'this-attempt' })]);
    expect(r.refunds[0]?.id).toMatch(/^re_/);
    expect(r.refunds[0]?.balanceTransaction).toMatch(/^cbtxn_/);
    expect(resultLines(r).join('\n')).toContain(`Stripe: refunded 20.00 USD of ${w.aInvoice.id as string}`);
  });

  it('without a refund policy the credit stays on the customer balance, and the result says how much', async () => {
    const w = acme();
    const r = await (await billing({ CUSTCTL_STRIPE_REFUND: 'none' })).cancel(w.target, { jobId: '42' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 0, balance: 0 });
    expect(srv.state.customer(w.cust.id as string).balance).toBe(-2000);
    expect(r.credited).toEqual([{ subscription: w.a.id, amount: 2000, currency: 'usd' }]);
    expect(resultLines(r).join('\n')).toContain('20.00 USD of unused time left as credit');
  });

  it('never refunds more than was paid: a partly refunded charge caps the refund at what is left', async () => {
    const w = acme();
    w.aCharge.amount_refunded = 2500; // a support agent refunded 25.00 of 30.00 earlier
    const r = await (await billing()).cancel(w.target, { jobId: '43' });
    expect(r.refunds).toEqual([expect.objectContaining({ amount: 500 })]);
    expect(w.aCharge.amount_refunded).toBe(3000);
    expect(r.credited).toEqual([{ subscription: w.a.id, amount: 1500, currency: 'usd' }]);
  });

  it('deletes the Stripe customer when the policy says so, once', async () => {
    const w = acme();
    const b = await billing({ CUSTCTL_STRIPE_DELETE_CUSTOMER: 'true' });
    expect((await b.cancel(w.target, { jobId: '44' })).customerDeleted).toBe('deleted');
    expect((await b.cancel(w.target, { jobId: '44' })).customerDeleted).toBe('already');
    expect(counts().customersDeleted).toBe(1);
  });
});

describe('never twice: a replayed job makes no second cancel, invoice or refund', () => {
  it('the same job run again finds its own work done and reports it', async () => {
    const w = acme();
    const b = await billing();
    const first = await b.cancel(w.target, { jobId: '50' });
    const again = await b.cancel(w.target, { jobId: '50' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(again.cancelled.map((c) => c.by)).toEqual(['earlier-attempt', 'earlier-attempt']);
    expect(again.cancelled.map(({ by: _by, ...c }) => c)).toEqual(first.cancelled.map(({ by: _by, ...c }) => c));
    expect(again.refunds).toEqual([{ ...first.refunds[0], by: 'earlier-attempt' }]);
  });

  it('past the 24 hours Stripe keeps idempotency keys, the metadata still stops a second refund', async () => {
    const w = acme();
    const b = await billing();
    await b.cancel(w.target, { jobId: '51' });
    srv.clock.advance(25 * 3600);
    const again = await b.cancel(w.target, { jobId: '51' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(again.refunds.map((r) => r.by)).toEqual(['earlier-attempt']);
  });

  it('another job (a new deletion of a customer already cancelled) leaves the earlier job\'s work alone', async () => {
    const w = acme();
    const b = await billing();
    await b.cancel(w.target, { jobId: '52' });
    const other = await b.cancel(w.target, { jobId: '53' });
    expect(counts()).toMatchObject({ cancels: 2, refunds: 1 });
    expect(other.cancelled).toEqual([]);
    expect(other.refunds).toEqual([]);
    expect(other.untouched.map((u) => u.id).sort()).toEqual([w.a.id, w.b.id, w.c.id].sort());
  });

  it('two workers running the same job at once: one cancel each, one refund', async () => {
    const w = acme();
    // the first refund runs a while, so that the other worker's meets it (409, retried into the replay)
    srv.inject({ method: 'POST', path: '/v1/refunds', runMs: 1_500 });
    // the production retry policy (0.5 s, 1 s, 2 s, 4 s) outlasts the other worker's request
    const [b1, b2] = [await billing({}, { retry: STRIPE_RETRY }), await billing({}, { retry: STRIPE_RETRY })];
    const [r1, r2] = await Promise.all([b1.cancel(w.target, { jobId: '54' }), b2.cancel(w.target, { jobId: '54' })]);
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(srv.requestsTo('POST', '/v1/refunds').map((x) => x.status)).toContain(409);
    expect(r1.refunds[0]?.id).toBe(r2.refunds[0]?.id);
    expect(r1.refunds[0]?.id).toBeDefined();
  });

  /** Runs the built adapter in a child process and kills it (-9) once the server has received `method path`. */
  async function killDuring(method: string, pathRx: RegExp, jobId: string, target: { customerId: string; providerCustomerId: string }): Promise<void> {
    srv.inject({ method: method as 'GET', path: pathRx, latencyMs: 1_500 });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custctl-stripe-kill-'));
    const script = path.join(dir, 'run.mjs');
    writeFileSync(script, [
      `const { loadBillingConfig } = await import(${JSON.stringify(path.join(repo, 'dist/adapters/billing-config.js'))});`,
      `const { makeStripeBilling } = await import(${JSON.stringify(path.join(repo, 'dist/adapters/billing-stripe.js'))});`,
      'const c = await loadBillingConfig(process.env);',
      'const b = makeStripeBilling({ settings: c.stripe, policy: c.policy });',
      `await b.cancel(${JSON.stringify(target)}, { jobId: ${JSON.stringify(jobId)} });`,
      'console.log("finished");',
    ].join('\n'));
    const child = spawn(process.execPath, [script], { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(sig === 'SIGKILL' ? -9 : code)));
    const deadline = Date.now() + 30_000;
    while (!srv.requests.some((r) => r.method === method && pathRx.test(r.path))) {
      if (Date.now() > deadline) throw new Error(`the child never reached ${method} ${pathRx.source}: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    expect(code, out).toBe(-9);
    expect(out).not.toContain('finished');
    // the server finishes what it had received (the client is gone)
    await new Promise((r) => setTimeout(r, 1_700));
  }

  it('kill -9 while the refund is in flight, then resume: the refund is found, not repeated; the balance is then adjusted once', async () => {
    const w = acme();
    await killDuring('POST', /^\/v1\/refunds$/, '60', w.target);
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 0 });
    const r = await (await billing()).cancel(w.target, { jobId: '60' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(r.cancelled.map((c) => c.by)).toEqual(['earlier-attempt', 'earlier-attempt']);
    expect(r.refunds).toEqual([expect.objectContaining({ amount: 2000, by: 'earlier-attempt' })]);
    expect(srv.state.customer(w.cust.id as string).balance).toBe(0);
  });

  it('kill -9 between the cancels and the refund, then resume: the cancels are recognised, the refund made once', async () => {
    const w = acme();
    await killDuring('GET', /^\/v1\/invoices\//, '61', w.target);
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 0 });
    const r = await (await billing()).cancel(w.target, { jobId: '61' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(r.cancelled.find((c) => c.id === w.a.id)).toMatchObject({ by: 'earlier-attempt', statusBefore: 'active', finalInvoice: { total: -2000 } });
    expect(r.refunds).toEqual([expect.objectContaining({ amount: 2000, by: 'this-attempt' })]);
  });

  it('kill -9 while a cancel is in flight, then resume: the cancel is recognised as this job\'s own, with its final invoice', async () => {
    const w = acme();
    await killDuring('DELETE', new RegExp(`^/v1/subscriptions/${w.a.id as string}$`), '62', w.target);
    const r = await (await billing()).cancel(w.target, { jobId: '62' });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
    expect(r.cancelled.find((c) => c.id === w.a.id)).toMatchObject({ by: 'earlier-attempt', statusBefore: 'active', finalInvoice: { total: -2000 } });
  });

  it('the answer of a cancel is lost (connection closed after Stripe ran it): the retry\'s 404 is read as this job\'s own cancel', async () => {
    const w = acme();
    srv.inject({ method: 'DELETE', path: `/v1/subscriptions/${w.a.id as string}`, after: 'drop' });
    const r = await (await billing()).cancel(w.target, { jobId: '63' });
    expect(srv.requestsTo('DELETE', `/v1/subscriptions/${w.a.id as string}`).map((x) => x.status)).toEqual([-1, 404]);
    expect(srv.requestsTo('GET', `/v1/subscriptions/${w.a.id as string}`)).toHaveLength(1);
    expect(r.cancelled.find((c) => c.id === w.a.id)).toMatchObject({ by: 'earlier-attempt', statusBefore: 'active', finalInvoice: { total: -2000 } });
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
  });

  it('the answer of a refund is lost: the retry (same Idempotency-Key) gets the first answer, Idempotent-Replayed', async () => {
    const w = acme();
    srv.inject({ method: 'POST', path: '/v1/refunds', after: 'drop' });
    const r = await (await billing()).cancel(w.target, { jobId: '64' });
    const posts = srv.requestsTo('POST', '/v1/refunds');
    expect(posts.map((x) => [x.status, x.replayed])).toEqual([[-1, false], [200, true]]);
    expect(new Set(posts.map((x) => x.idempotencyKey)).size).toBe(1);
    expect(r.refunds).toEqual([expect.objectContaining({ amount: 2000, by: 'earlier-attempt' })]);
    expect(counts()).toMatchObject({ refunds: 1, balance: 1 });
  });
});

describe('failures: permanent ones fast, transient ones retried as Stripe says', () => {
  it('an invalid key fails at once, for good, having changed nothing', async () => {
    const w = acme();
    const b = await billing({ STRIPE_API_KEY: 'sk_test_not_a_key_of_this_account' });
    const e = await b.cancel(w.target, { jobId: '70' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BillingError);
    expect(isPermanent(e)).toBe(true);
    expect((e as BillingError).message).toMatch(/Stripe refused the API key \(HTTP 401: .*Invalid API Key provided: sk_test_\*+ount\)/);
    expect((e as Error).message).not.toContain('not_a_key_of_this_account');
    expect(srv.requests).toHaveLength(1);
    expect(srv.state.events).toEqual([]);
    expect((e as BillingError).partial?.cancelled).toEqual([]);
  });

  it('a restricted key without write permission on subscriptions fails for good at the first cancel; plan works with it', async () => {
    const w = acme();
    const b = await billing({ STRIPE_API_KEY: 'rk_test_custctl_readonly' });
    await expect(b.plan(w.target)).resolves.toMatchObject({ customer: { id: w.cust.id } });
    const e = await b.cancel(w.target, { jobId: '71' }).catch((x: unknown) => x);
    expect(isPermanent(e)).toBe(true);
    expect((e as Error).message).toMatch(/^the Stripe key may not cancel subscription sub_\w+ \(HTTP 403: .*'rak_subscription_write' permission/);
    expect(srv.requestsTo('DELETE', /^\/v1\/subscriptions\//)).toHaveLength(1);
    expect(srv.state.events).toEqual([]);
  });

  it('503 twice, then 200: the cancel carries on (Stripe-Should-Retry: true), and the log says so', async () => {
    const w = acme();
    srv.inject({ method: 'DELETE', path: `/v1/subscriptions/${w.a.id as string}`, status: 503, times: 2 });
    const log: string[] = [];
    const r = await (await billing()).cancel(w.target, { jobId: '72', log: (_l, m) => log.push(m) });
    expect(r.cancelled).toHaveLength(2);
    expect(srv.requestsTo('DELETE', `/v1/subscriptions/${w.a.id as string}`).map((x) => x.status)).toEqual([503, 503, 200]);
    expect(log.filter((m) => m.includes('HTTP 503'))).toHaveLength(2);
    expect(counts()).toMatchObject({ cancels: 2, refunds: 1 });
  });

  it('429 with Retry-After waits that long; a lock (409) is retried', async () => {
    const w = acme();
    srv.inject({ method: 'GET', path: '/v1/subscriptions', status: 429, retryAfter: 1 });
    srv.inject({ method: 'POST', path: '/v1/refunds', status: 409 });
    const t0 = Date.now();
    const r = await (await billing()).cancel(w.target, { jobId: '73' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(r.refunds).toHaveLength(1);
    expect(srv.requestsTo('POST', '/v1/refunds').map((x) => x.status)).toEqual([409, 200]);
  });

  it('Stripe-Should-Retry: false is obeyed: no retry, a failure that a later attempt may retry (not permanent)', async () => {
    const w = acme();
    srv.inject({ method: 'DELETE', path: `/v1/subscriptions/${w.a.id as string}`, status: 500, shouldRetry: false });
    const e = await (await billing()).cancel(w.target, { jobId: '74' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BillingError);
    expect(isPermanent(e)).toBe(false);
    expect(srv.requestsTo('DELETE', `/v1/subscriptions/${w.a.id as string}`)).toHaveLength(1);
  });

  it('a failure after some work carries what was done (partial), and the next attempt completes it', async () => {
    const w = acme();
    srv.inject({ method: 'POST', path: '/v1/refunds', status: 503, times: 10 });
    const e = await (await billing()).cancel(w.target, { jobId: '75' }).catch((x: unknown) => x) as BillingError;
    expect(isPermanent(e)).toBe(false);
    expect(e.partial?.cancelled.map((c) => c.id).sort()).toEqual([w.a.id, w.b.id].sort());
    srv.clearFaults();
    const r = await (await billing()).cancel(w.target, { jobId: '75' });
    expect(r.refunds).toHaveLength(1);
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1, balance: 1 });
  });
});

describe('soft delete: pause collection, and the exact undo', () => {
  it('pauses what bills, records what was there, and the undo restores it exactly (twice is a no-op both ways)', async () => {
    const st = srv.state;
    const now = st.clock.now();
    const cust = st.seedCustomer({ metadata: { custctl_customer_id: CID } });
    const price = st.seedPrice({ unitAmount: 900 });
    const plain = st.seedSubscription({ customer: cust.id as string, prices: [{ price }], metadata: { team: 'blue' } });
    const drafted = st.seedSubscription({ customer: cust.id as string, prices: [{ price }], pauseCollection: { behavior: 'keep_as_draft', resumes_at: now + 90 * 86400 } });
    const paused = st.seedSubscription({ customer: cust.id as string, prices: [{ price }], status: 'paused' });
    const target = { customerId: CID, providerCustomerId: cust.id as string };
    const b = await billing();

    const s1 = await b.suspend(target, { jobId: '80' });
    expect(plain.pause_collection).toEqual({ behavior: 'void', resumes_at: null });
    expect(drafted.pause_collection).toEqual({ behavior: 'void', resumes_at: null });
    expect(paused.pause_collection).toBeNull();
    expect(plain.metadata).toMatchObject({ team: 'blue', custctl_suspended_by: '80' });
    expect(s1.changed.map((c) => [c.id, c.prior, c.by])).toEqual(expect.arrayContaining([
      [plain.id, null, 'this-attempt'],
      [drafted.id, { behavior: 'keep_as_draft', resumesAt: now + 90 * 86400 }, 'this-attempt'],
    ]));
    expect(s1.skipped).toEqual([{ id: paused.id, status: 'paused', why: 'paused: it bills nothing until resumed' }]);
    expect(srv.requestsTo('POST', `/v1/subscriptions/${plain.id as string}`)[0]?.idempotencyKey).toBe(`custctl/${CID}/job-80/${plain.id as string}/suspend`);

    await b.suspend(target, { jobId: '80' });
    expect(counts().updates).toBe(2);

    const u1 = await b.unsuspend(target, { jobId: '80' });
    expect(plain.pause_collection).toBeNull();
    expect(drafted.pause_collection).toEqual({ behavior: 'keep_as_draft', resumes_at: now + 90 * 86400 });
    expect(plain.metadata).toEqual({ team: 'blue' });
    expect(drafted.metadata).toEqual({});
    expect(u1.changed.map((c) => c.id).sort()).toEqual([plain.id, drafted.id].sort());
    expect(counts().updates).toBe(4);

    const u2 = await b.unsuspend(target, { jobId: '80' });
    expect(u2.changed).toEqual([]);
    expect(counts()).toMatchObject({ updates: 4, cancels: 0, refunds: 0 });
  });

  it('the undo leaves a pause someone changed meanwhile as it is (and says so); another job\'s undo touches nothing', async () => {
    const st = srv.state;
    const cust = st.seedCustomer({});
    const price = st.seedPrice({ unitAmount: 900 });
    const sub = st.seedSubscription({ customer: cust.id as string, prices: [{ price }] });
    const target = { customerId: CID, providerCustomerId: cust.id as string };
    const b = await billing();
    await b.suspend(target, { jobId: '81' });
    expect((await b.unsuspend(target, { jobId: '82' })).changed).toEqual([]);
    expect(sub.pause_collection).toEqual({ behavior: 'void', resumes_at: null });
    sub.pause_collection = { behavior: 'mark_uncollectible', resumes_at: null }; // an operator in the Dashboard
    const u = await b.unsuspend(target, { jobId: '81' });
    expect(sub.pause_collection).toEqual({ behavior: 'mark_uncollectible', resumes_at: null });
    expect(sub.metadata).toEqual({});
    expect(u.warnings.join('\n')).toContain('changed since custctl paused it');
  });

  it('a hard deletion after a soft delete credits nothing for a period whose invoice was voided while paused', async () => {
    const st = srv.state;
    const now = st.clock.now();
    const cust = st.seedCustomer({});
    const price = st.seedPrice({ unitAmount: 3000 });
    const sub = st.seedSubscription({ customer: cust.id as string, prices: [{ price }], periodStart: now - 5 * 86400, periodEnd: now + 25 * 86400 });
    st.invoice(sub.latest_invoice as string).status = 'void'; // the period rolled over while collection was paused (void)
    st.invoice(sub.latest_invoice as string).amount_paid = 0;
    const r = await (await billing()).cancel({ customerId: CID, providerCustomerId: cust.id as string }, { jobId: '83' });
    expect(srv.requestsTo('DELETE', /^\/v1\/subscriptions\//)[0]?.query).toContain('prorate=false');
    expect(r.refunds).toEqual([]);
    expect(counts()).toMatchObject({ cancels: 1, invoices: 0, refunds: 0 });
  });
});

describe('which Stripe customer', () => {
  it('by metadata search when the row has none; none found is said in the plan and changes nothing', async () => {
    const w = acme();
    const b = await billing({ CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'custctl_customer_id' });
    expect(await b.plan({ customerId: CID })).toMatchObject({ foundBy: 'search', customer: { id: w.cust.id } });
    const none = await b.plan({ customerId: 'cust_nobodyhere' });
    expect(none).toMatchObject({ foundBy: 'none', customer: null });
    expect(planLines(none)[0]).toMatch(/^Stripe \(test mode\): no customer found \(no Stripe customer has metadata custctl_customer_id=cust_nobodyhere .*\): nothing to cancel$/);
    expect(srv.requestsTo('GET', '/v1/customers/search')[0]?.params).toEqual({ query: `metadata['custctl_customer_id']:'${CID}'`, limit: '10' });
    const r = await b.cancel({ customerId: 'cust_nobodyhere' }, { jobId: '90' });
    expect(r).toMatchObject({ customer: null, cancelled: [] });
    expect(srv.state.events).toEqual([]);
  });

  it('without a row id and without a configured search: none, and the plan says why', async () => {
    acme();
    const plan = await (await billing()).plan({ customerId: CID, providerCustomerId: null });
    expect(plan.notes.join()).toContain('the row has no stripe_customer_id and no metadata search is configured');
  });

  it('several customers carrying the id: refused in the plan and by the cancel, with nothing changed', async () => {
    acme();
    srv.state.seedCustomer({ metadata: { custctl_customer_id: CID } });
    const b = await billing({ CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'custctl_customer_id' });
    const plan = await b.plan({ customerId: CID });
    expect(plan.refusal).toMatch(/^2 Stripe customers have metadata custctl_customer_id=cust_billing0test \(cus_\w+, cus_\w+\): custctl does not guess/);
    const e = await b.cancel({ customerId: CID }, { jobId: '91' }).catch((x: unknown) => x);
    expect(isPermanent(e)).toBe(true);
    await expect(b.suspend({ customerId: CID }, { jobId: '91' })).rejects.toSatisfy(isPermanent);
    expect(srv.state.events).toEqual([]);
  });

  it('a row id Stripe does not know (another account or mode) is refused, not taken as "none"', async () => {
    const b = await billing();
    const plan = await b.plan({ customerId: CID, providerCustomerId: 'cus_NotInThisAccount' });
    expect(plan.refusal).toContain('is not a customer of this Stripe account in test mode');
    await expect(b.cancel({ customerId: CID, providerCustomerId: 'cus_NotInThisAccount' }, { jobId: '92' })).rejects.toSatisfy(isPermanent);
  });

  it('an unknown subscription status is refused, not guessed', async () => {
    const w = acme();
    srv.state.subscription(w.b.id as string).status = 'frozen_by_2030_feature';
    const b = await billing();
    expect((await b.plan(w.target)).refusal).toMatch(/status "frozen_by_2030_feature" is unknown to custctl/);
    await expect(b.cancel(w.target, { jobId: '93' })).rejects.toSatisfy(isPermanent);
    expect(srv.state.events).toEqual([]);
  });
});
