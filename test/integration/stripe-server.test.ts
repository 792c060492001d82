/**
 * The Stripe-protocol test server (test/env/stripe-server.ts) holds to what Stripe documents for
 * the calls custctl makes — checked with the official SDK where it can send the request, and with
 * raw HTTP where the SDK would never send it wrong: form encoding (nested, indexed and `[]`
 * arrays), unknown and missing parameters, authentication and restricted-key permissions,
 * Idempotency-Key replay and misuse, Stripe-Should-Retry on injected failures, pagination, search,
 * and the state rules of cancel, pause_collection and refunds.
 */
import Stripe from 'stripe';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FULL_ACCESS_KEY, startStripeServer, type StripeServer } from '../env/stripe-server.js';
import type { Obj } from '../env/stripe/state.js';

let srv: StripeServer;
let stripe: Stripe;

beforeEach(async () => {
  srv = await startStripeServer({
    keys: {
      [FULL_ACCESS_KEY]: { permissions: 'all' },
      rk_test_custctl_subs_only: { permissions: ['subscription_write'] },
      sk_test_custctl_expired_key: { permissions: 'all', expired: true },
    },
  });
  stripe = sdk(FULL_ACCESS_KEY);
});

afterEach(async () => {
  await srv.stop();
});

function sdk(key: string, retries = 0): Stripe {
  return new Stripe(key, { host: srv.host, port: srv.port, protocol: 'http', maxNetworkRetries: retries, telemetry: false });
}

async function raw(method: string, path: string, o: { body?: string; key?: string | null; headers?: Record<string, string> } = {}): Promise<{ status: number; body: { error?: { type: string; code?: string; message: string; param?: string } } & Obj; headers: Headers }> {
  const headers: Record<string, string> = { ...(o.key === null ? {} : { authorization: `Bearer ${o.key ?? FULL_ACCESS_KEY}` }), ...o.headers };
  if (o.body !== undefined && !('content-type' in headers)) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(`${srv.url}${path}`, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}) });
  return { status: res.status, body: (await res.json()) as never, headers: res.headers };
}

function world() {
  const st = srv.state;
  const now = st.clock.now();
  const cust = st.seedCustomer({ email: 'ops@example.test', metadata: { custctl_customer_id: 'cust_proto1' } });
  const price = st.seedPrice({ unitAmount: 3000, nickname: 'Pro' });
  const sub = st.seedSubscription({ customer: cust.id as string, prices: [{ price }], periodStart: now - 10 * 86400, periodEnd: now + 20 * 86400 });
  const pi = [...st.paymentIntents.values()][0] as Obj;
  return { st, cust, price, sub, pi };
}

describe('encoding and parameters', () => {
  it('reads nested hashes, indexed arrays and [] arrays, in the query (DELETE) as in the body (POST)', async () => {
    const { sub } = world();
    const viaBrackets = await raw('GET', `/v1/subscriptions/${sub.id as string}?expand[]=latest_invoice`);
    expect(viaBrackets.status).toBe(200);
    expect((viaBrackets.body.latest_invoice as Obj).object).toBe('invoice');
    const viaIndex = await raw('GET', `/v1/subscriptions/${sub.id as string}?expand%5B0%5D=latest_invoice`);
    expect((viaIndex.body.latest_invoice as Obj).object).toBe('invoice');
    const upd = await raw('POST', `/v1/subscriptions/${sub.id as string}`, { body: 'pause_collection[behavior]=void&metadata[a]=1&metadata[b]=two+words' });
    expect(upd.status).toBe(200);
    expect(upd.body.pause_collection).toEqual({ behavior: 'void', resumes_at: null });
    expect(upd.body.metadata).toEqual({ a: '1', b: 'two words' });
    const del = await raw('DELETE', `/v1/subscriptions/${sub.id as string}?invoice_now=true&prorate=true&cancellation_details[comment]=bye`);
    expect(del.body).toMatchObject({ status: 'canceled', cancellation_details: { comment: 'bye' } });
  });

  it('an unknown parameter, at the top or nested, is 400 parameter_unknown with Stripe\'s error shape', async () => {
    const { sub } = world();
    await expect(stripe.subscriptions.update(sub.id as string, { colour: 'red' } as never)).rejects.toMatchObject({
      type: 'StripeInvalidRequestError', statusCode: 400, code: 'parameter_unknown', param: 'colour', message: expect.stringContaining('Received unknown parameter: colour'),
    });
    const nested = await raw('POST', `/v1/subscriptions/${sub.id as string}`, { body: 'pause_collection[behavior]=void&pause_collection[until]=1' });
    expect(nested.status).toBe(400);
    expect(nested.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_unknown', param: 'pause_collection[until]', message: 'Received unknown parameter: pause_collection[until]' });
    const onDelete = await raw('DELETE', `/v1/subscriptions/${sub.id as string}?invoice_now=true&refund=true`);
    expect(onDelete.body.error).toMatchObject({ code: 'parameter_unknown', param: 'refund' });
    expect(srv.state.subscription(sub.id as string).status).toBe('active');
  });

  it('a missing required parameter is parameter_missing; a bad value is named; an empty string unsets only what can be unset', async () => {
    const { cust, sub } = world();
    await expect(stripe.customers.createBalanceTransaction(cust.id as string, { currency: 'usd' } as never)).rejects.toMatchObject({ statusCode: 400, code: 'parameter_missing', param: 'amount' });
    expect((await raw('POST', `/v1/subscriptions/${sub.id as string}`, { body: 'pause_collection[resumes_at]=5' })).body.error).toMatchObject({ code: 'parameter_missing', param: 'pause_collection[behavior]' });
    expect((await raw('POST', `/v1/subscriptions/${sub.id as string}`, { body: 'pause_collection[behavior]=sleep' })).body.error?.message).toMatch(/^Invalid pause_collection\[behavior\]: must be one of/);
    expect((await raw('DELETE', `/v1/subscriptions/${sub.id as string}?prorate=yes`)).body.error).toMatchObject({ param: 'prorate', message: 'Invalid boolean: yes' });
    expect((await raw('GET', '/v1/subscriptions?limit=500')).body.error).toMatchObject({ param: 'limit', code: 'parameter_invalid_integer' });
    expect((await raw('POST', '/v1/refunds', { body: 'amount=' })).body.error).toMatchObject({ param: 'amount', code: 'parameter_invalid_empty' });
    // pause_collection= unsets it
    await stripe.subscriptions.update(sub.id as string, { pause_collection: { behavior: 'void' } });
    expect((await stripe.subscriptions.update(sub.id as string, { pause_collection: '' })).pause_collection).toBeNull();
  });

  it('a POST body must be form-encoded; an expansion that is not offered is refused', async () => {
    const { sub } = world();
    const json = await raw('POST', `/v1/subscriptions/${sub.id as string}`, { body: '{"metadata":{"a":"1"}}', headers: { 'content-type': 'application/json' } });
    expect(json.status).toBe(400);
    expect(json.body.error?.message).toMatch(/^Invalid request: unsupported Content-Type application\/json/);
    await expect(stripe.subscriptions.retrieve(sub.id as string, { expand: ['items.data.price.product'] })).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining('This property cannot be expanded (items.data.price.product).') });
  });

  it('an unknown URL is 404 with Stripe\'s message', async () => {
    const r = await raw('GET', '/v1/subscriptionz');
    expect(r.status).toBe(404);
    expect(r.body.error?.message).toBe('Unrecognized request URL (GET: /v1/subscriptionz). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.');
  });
});

describe('authentication and permissions', () => {
  it('no key, an unknown key, an expired key, a publishable key: 401 (the SDK raises StripeAuthenticationError)', async () => {
    world();
    expect((await raw('GET', '/v1/subscriptions', { key: null })).status).toBe(401);
    await expect(sdk('sk_test_nobody_knows_this_one').subscriptions.list()).rejects.toMatchObject({ type: 'StripeAuthenticationError', statusCode: 401, message: expect.stringMatching(/Invalid API Key provided: sk_test_\*+_one$/) });
    await expect(sdk('sk_test_custctl_expired_key').subscriptions.list()).rejects.toMatchObject({ statusCode: 401, code: 'api_key_expired' });
    await expect(sdk('pk_test_publishable0000').subscriptions.list()).rejects.toMatchObject({ statusCode: 401, code: 'secret_key_required' });
    // Basic auth with the key as user name, as curl -u sends it
    const basic = await raw('GET', '/v1/subscriptions', { key: null, headers: { authorization: `Basic ${Buffer.from(`${FULL_ACCESS_KEY}:`).toString('base64')}` } });
    expect(basic.status).toBe(200);
  });

  it('a restricted key lacking a permission (or an expansion\'s) is 403, naming the permission (StripePermissionError)', async () => {
    const { sub, cust } = world();
    const rk = sdk('rk_test_custctl_subs_only');
    await expect(rk.customers.retrieve(cust.id as string)).rejects.toMatchObject({ type: 'StripePermissionError', statusCode: 403, message: expect.stringContaining("Having the 'rak_customer_read' permission would allow this request to continue.") });
    await expect(rk.subscriptions.retrieve(sub.id as string)).resolves.toMatchObject({ id: sub.id });
    await expect(rk.subscriptions.retrieve(sub.id as string, { expand: ['latest_invoice'] })).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining('rak_invoice_read') });
    await expect(rk.refunds.create({ payment_intent: 'pi_x' })).rejects.toMatchObject({ statusCode: 403, message: expect.stringContaining('rak_refund_write') });
    expect(srv.state.events).toEqual([]);
  });
});

describe('idempotency', () => {
  it('the same key and parameters: the first answer again, marked Idempotent-Replayed, executed once', async () => {
    const { pi } = world();
    const first = await stripe.refunds.create({ payment_intent: pi.id as string, amount: 500 }, { idempotencyKey: 'k-refund-1' });
    const again = await stripe.refunds.create({ payment_intent: pi.id as string, amount: 500 }, { idempotencyKey: 'k-refund-1' });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(again.lastResponse.headers['idempotency-key']).toBe('k-refund-1');
    expect(srv.state.count('refund.created')).toBe(1);
  });

  it('the same key with other parameters: 400 idempotency_error (StripeIdempotencyError), nothing executed', async () => {
    const { pi } = world();
    await stripe.refunds.create({ payment_intent: pi.id as string, amount: 500 }, { idempotencyKey: 'k-refund-2' });
    await expect(stripe.refunds.create({ payment_intent: pi.id as string, amount: 600 }, { idempotencyKey: 'k-refund-2' })).rejects.toMatchObject({
      type: 'StripeIdempotencyError', statusCode: 400, rawType: 'idempotency_error', message: expect.stringContaining("Try using a key other than 'k-refund-2'"),
    });
    expect(srv.state.count('refund.created')).toBe(1);
  });

  it('while the first request with a key runs, a second gets 409 idempotency_key_in_use (the SDK retries 409 into the replay)', async () => {
    const { pi } = world();
    srv.inject({ method: 'POST', path: '/v1/refunds', runMs: 400 });
    const body = `payment_intent=${pi.id as string}&amount=100`;
    const first = raw('POST', '/v1/refunds', { body, headers: { 'idempotency-key': 'k-busy' } });
    await new Promise((r) => setTimeout(r, 150));
    const second = await raw('POST', '/v1/refunds', { body, headers: { 'idempotency-key': 'k-busy' } });
    expect([second.status, second.body.error?.type, second.body.error?.code]).toEqual([409, 'idempotency_error', 'idempotency_key_in_use']);
    expect((await first).status).toBe(200);
    srv.inject({ method: 'POST', path: '/v1/refunds', runMs: 400 });
    const a = sdk(FULL_ACCESS_KEY, 2).refunds.create({ payment_intent: pi.id as string, amount: 200 }, { idempotencyKey: 'k-busy-2' });
    await new Promise((r) => setTimeout(r, 150));
    const b = await sdk(FULL_ACCESS_KEY, 2).refunds.create({ payment_intent: pi.id as string, amount: 200 }, { idempotencyKey: 'k-busy-2' });
    expect(b.id).toBe((await a).id);
    expect(srv.requestsTo('POST', '/v1/refunds').map((r) => r.status)).toEqual(expect.arrayContaining([409]));
    expect(srv.state.count('refund.created')).toBe(2);
  });

  it('an error of the endpoint is saved and replayed; a refused parameter is not (the key stays usable)', async () => {
    const { pi } = world();
    const tooMuch = await raw('POST', '/v1/refunds', { body: `payment_intent=${pi.id as string}&amount=999999`, headers: { 'idempotency-key': 'k-err' } });
    expect(tooMuch.body.error).toMatchObject({ code: 'amount_too_large' });
    const replay = await raw('POST', '/v1/refunds', { body: `payment_intent=${pi.id as string}&amount=999999`, headers: { 'idempotency-key': 'k-err' } });
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([400, 'true']);
    const bad = await raw('POST', '/v1/refunds', { body: `payment_intent=${pi.id as string}&amount=100&colour=red`, headers: { 'idempotency-key': 'k-fresh' } });
    expect(bad.body.error?.code).toBe('parameter_unknown');
    const good = await raw('POST', '/v1/refunds', { body: `payment_intent=${pi.id as string}&amount=100`, headers: { 'idempotency-key': 'k-fresh' } });
    expect([good.status, good.headers.get('idempotent-replayed')]).toEqual([200, null]);
  });

  it('keys are pruned after 24 hours of the server clock; a key on a DELETE has no effect (Stripe: GET and DELETE are idempotent by definition)', async () => {
    const { pi, sub } = world();
    await stripe.refunds.create({ payment_intent: pi.id as string, amount: 100 }, { idempotencyKey: 'k-old' });
    srv.clock.advance(24 * 3600);
    await stripe.refunds.create({ payment_intent: pi.id as string, amount: 100 }, { idempotencyKey: 'k-old' });
    expect(srv.state.count('refund.created')).toBe(2);
    await stripe.subscriptions.cancel(sub.id as string, {}, { idempotencyKey: 'k-del' });
    await expect(stripe.subscriptions.cancel(sub.id as string, {}, { idempotencyKey: 'k-del' })).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing', message: expect.stringContaining(`No such subscription: '${sub.id as string}'`) });
  });
});

describe('injected failures and Stripe-Should-Retry', () => {
  it('503 carries Stripe-Should-Retry: true; the SDK with maxNetworkRetries retries it and succeeds', async () => {
    const { sub } = world();
    srv.inject({ path: `/v1/subscriptions/${sub.id as string}`, status: 503, times: 2 });
    const r = await raw('GET', `/v1/subscriptions/${sub.id as string}`);
    expect([r.status, r.headers.get('stripe-should-retry'), r.body.error?.type]).toEqual([503, 'true', 'api_error']);
    await expect(sdk(FULL_ACCESS_KEY, 2).subscriptions.retrieve(sub.id as string)).resolves.toMatchObject({ id: sub.id });
    expect(srv.requestsTo('GET', `/v1/subscriptions/${sub.id as string}`).map((x) => x.status)).toEqual([503, 503, 200]);
  });

  it('the SDK itself does not retry a 429 that carries no Stripe-Should-Retry (why custctl retries 429 itself)', async () => {
    world();
    srv.inject({ path: '/v1/subscriptions', status: 429 });
    await expect(sdk(FULL_ACCESS_KEY, 2).subscriptions.list()).rejects.toMatchObject({ type: 'StripeRateLimitError', statusCode: 429, code: 'rate_limit' });
    expect(srv.requestsTo('GET', '/v1/subscriptions')).toHaveLength(1);
  });

  it('Stripe-Should-Retry: false stops the SDK; a 500 after execution is saved under the key and replayed', async () => {
    const { pi } = world();
    srv.inject({ method: 'POST', path: '/v1/refunds', after: 'error' });
    await expect(sdk(FULL_ACCESS_KEY, 3).refunds.create({ payment_intent: pi.id as string, amount: 100 }, { idempotencyKey: 'k-500' })).rejects.toMatchObject({ statusCode: 500 });
    expect(srv.requestsTo('POST', '/v1/refunds')).toHaveLength(1);
    expect(srv.state.count('refund.created')).toBe(1); // it ran: the 500 is indeterminate, as Stripe warns
    const again = await raw('POST', '/v1/refunds', { body: `payment_intent=${pi.id as string}&amount=100`, headers: { 'idempotency-key': 'k-500' } });
    expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([500, 'true']);
  });
});

describe('lists, search, and the state rules', () => {
  it('pagination: has_more and starting_after walk every subscription, newest first; the SDK auto-pages', async () => {
    const { st, cust, price } = world();
    for (let i = 0; i < 4; i++) { st.clock.advance(1); st.seedSubscription({ customer: cust.id as string, prices: [{ price }] }); }
    const p1 = await stripe.subscriptions.list({ customer: cust.id as string, limit: 2 });
    expect([p1.data.length, p1.has_more]).toEqual([2, true]);
    const p2 = await stripe.subscriptions.list({ customer: cust.id as string, limit: 2, starting_after: p1.data[1]?.id as string });
    const p3 = await stripe.subscriptions.list({ customer: cust.id as string, limit: 2, starting_after: p2.data[1]?.id as string });
    expect([p3.data.length, p3.has_more]).toEqual([1, false]);
    const all = await stripe.subscriptions.list({ customer: cust.id as string, limit: 2 }).autoPagingToArray({ limit: 100 });
    expect(all.map((s) => s.id)).toEqual([...p1.data, ...p2.data, ...p3.data].map((s) => s.id));
    expect(new Set(all.map((s) => s.id)).size).toBe(5);
    await expect(stripe.subscriptions.list({ starting_after: 'sub_nope' })).rejects.toMatchObject({ statusCode: 404, param: 'starting_after' });
  });

  it('status: none lists all but canceled, all lists all, ended lists the ended', async () => {
    const { st, cust, price } = world();
    st.seedSubscription({ customer: cust.id as string, prices: [{ price }], status: 'canceled', invoice: 'none' });
    const ids = async (status?: Stripe.SubscriptionListParams.Status) => (await stripe.subscriptions.list({ customer: cust.id as string, ...(status ? { status } : {}) })).data.map((s) => s.status);
    expect(await ids()).toEqual(['active']);
    expect((await ids('all')).sort()).toEqual(['active', 'canceled']);
    expect(await ids('ended')).toEqual(['canceled']);
  });

  it('search on metadata with Stripe\'s query language; a query it cannot read is 400; deleted customers are not found', async () => {
    const { cust } = world();
    const found = await stripe.customers.search({ query: "metadata['custctl_customer_id']:'cust_proto1'" });
    expect(found).toMatchObject({ object: 'search_result', has_more: false, next_page: null, data: [{ id: cust.id }] });
    expect((await stripe.customers.search({ query: "email:'ops@example.test' AND metadata['custctl_customer_id']:'cust_proto1'" })).data).toHaveLength(1);
    await expect(stripe.customers.search({ query: 'metadata[custctl_customer_id]=cust_proto1' })).rejects.toMatchObject({ statusCode: 400, param: 'query' });
    await stripe.customers.del(cust.id as string);
    expect((await stripe.customers.search({ query: "metadata['custctl_customer_id']:'cust_proto1'" })).data).toEqual([]);
    expect(await stripe.customers.retrieve(cust.id as string)).toMatchObject({ id: cust.id, deleted: true });
    await expect(stripe.customers.del(cust.id as string)).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
  });

  it('cancel with invoice_now and prorate: a final invoice whose proration line credits the paid period; a second cancel is 404; a canceled subscription takes only metadata', async () => {
    const { st, sub, cust } = world();
    st.seedPendingItem({ customer: cust.id as string, subscription: sub.id as string, amount: 700, description: 'API calls' });
    const done = await stripe.subscriptions.cancel(sub.id as string, { invoice_now: true, prorate: true, expand: ['latest_invoice'] });
    const inv = done.latest_invoice as Stripe.Invoice;
    expect(done).toMatchObject({ status: 'canceled', canceled_at: st.clock.now(), ended_at: st.clock.now() });
    expect(inv.lines.data.map((l) => [l.amount, l.parent?.subscription_item_details?.proration])).toEqual([[700, false], [-2000, true]]);
    expect(inv).toMatchObject({ total: -1300, amount_due: 0, status: 'paid', starting_balance: 0, ending_balance: -1300 });
    expect(st.customer(cust.id as string).balance).toBe(-1300);
    await expect(stripe.subscriptions.cancel(sub.id as string)).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing' });
    await expect(stripe.subscriptions.update(sub.id as string, { pause_collection: { behavior: 'void' } })).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining('A canceled subscription can only update its cancellation_details and metadata.') });
    await expect(stripe.subscriptions.update(sub.id as string, { metadata: { note: 'ok' } })).resolves.toMatchObject({ metadata: { note: 'ok' } });
    expect(st.count('invoice.finalized')).toBe(1);
  });

  it('cancel without invoice_now leaves the proration pending; cancel_at is set and unset', async () => {
    const { st, sub, cust, price } = world();
    const other = st.seedSubscription({ customer: cust.id as string, prices: [{ price }] });
    const at = st.clock.now() + 5 * 86400;
    expect((await stripe.subscriptions.update(other.id as string, { cancel_at: at })).cancel_at).toBe(at);
    expect((await stripe.subscriptions.update(other.id as string, { cancel_at: '' })).cancel_at).toBeNull();
    await expect(stripe.subscriptions.update(other.id as string, { cancel_at: st.clock.now() - 1 })).rejects.toMatchObject({ statusCode: 400, param: 'cancel_at' });
    await stripe.subscriptions.cancel(sub.id as string, { prorate: true });
    expect(st.count('invoice.finalized')).toBe(0);
    expect(st.pendingItems.get(cust.id as string)?.map((x) => x.amount)).toEqual([-2000]);
  });

  it('refunds never exceed what is unrefunded on the charge; a fully refunded charge refuses another', async () => {
    const { pi, st } = world();
    await expect(stripe.refunds.create({ payment_intent: pi.id as string, amount: 3001 })).rejects.toMatchObject({ statusCode: 400, code: 'amount_too_large', message: expect.stringContaining('Refund amount ($30.01) is greater than unrefunded amount on charge ($30.00)') });
    await stripe.refunds.create({ payment_intent: pi.id as string, amount: 1000 });
    await expect(stripe.refunds.create({ payment_intent: pi.id as string, amount: 2500 })).rejects.toMatchObject({ code: 'amount_too_large' });
    const rest = await stripe.refunds.create({ payment_intent: pi.id as string });
    expect(rest.amount).toBe(2000);
    await expect(stripe.refunds.create({ payment_intent: pi.id as string, amount: 1 })).rejects.toMatchObject({ statusCode: 400, code: 'charge_already_refunded' });
    const listed = await stripe.refunds.list({ payment_intent: pi.id as string });
    expect(listed.data.map((r) => r.amount).sort()).toEqual([1000, 2000]);
    expect(st.charges.get(pi.latest_charge as string)).toMatchObject({ amount_refunded: 3000, refunded: true });
  });

  it('an invoice\'s payments appear only when expanded; a PaymentIntent expands its charge', async () => {
    const { sub, pi } = world();
    const inv = await stripe.invoices.retrieve(sub.latest_invoice as string);
    expect(inv.payments).toBeUndefined();
    const withPayments = await stripe.invoices.retrieve(sub.latest_invoice as string, { expand: ['payments'] });
    expect(withPayments.payments?.data[0]).toMatchObject({ status: 'paid', amount_paid: 3000, payment: { type: 'payment_intent', payment_intent: pi.id } });
    const intent = await stripe.paymentIntents.retrieve(pi.id as string, { expand: ['latest_charge'] });
    expect(intent.latest_charge).toMatchObject({ object: 'charge', amount_captured: 3000, amount_refunded: 0 });
  });
});
