/**
 * Exactly the endpoints custctl's Stripe adapter calls, each with the parameters Stripe's API
 * reference lists for it (so an unknown one is refused as Stripe refuses it), the restricted-key
 * permission it needs, and the fields it may expand.
 */
import { StripeHttpError, invalidParameter, noSuch } from './errors.js';
import { EXPAND, PAGINATION, type Params, type Spec } from './schema.js';
import type { Obj, StripeState } from './state.js';

/** Restricted-key permissions, as the Dashboard's restricted-key form groups them (write implies read). */
export type Resource = 'customer' | 'subscription' | 'invoice' | 'payment_intent' | 'charge' | 'refund';
export type Permission = `${Resource}_${'read' | 'write'}`;

export interface RouteContext {
  state: StripeState;
  params: Params;
  /** path captures (`:id`) */
  ids: string[];
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** e.g. /v1/subscriptions/:id */
  path: string;
  permission: Permission;
  params: Record<string, Spec>;
  /** expandable paths and the permission each expansion needs besides the route's */
  expandable: Record<string, Permission>;
  handle(c: RouteContext): Obj;
}

const list = (url: string, all: Obj[], p: Params, what: string): Obj => {
  // Stripe lists newest first
  const sorted = [...all].sort((a, b) => (b.created as number) - (a.created as number) || String(b.id).localeCompare(String(a.id)));
  const limit = (p.limit as number | undefined) ?? 10;
  let start = 0;
  let end = sorted.length;
  if (typeof p.starting_after === 'string') {
    const i = sorted.findIndex((o) => o.id === p.starting_after);
    if (i < 0) throw noSuch(what, p.starting_after, 'starting_after');
    start = i + 1;
  } else if (typeof p.ending_before === 'string') {
    const i = sorted.findIndex((o) => o.id === p.ending_before);
    if (i < 0) throw noSuch(what, p.ending_before, 'ending_before');
    end = i;
    start = Math.max(0, end - limit);
  }
  const data = sorted.slice(start, Math.min(end, start + limit));
  return { object: 'list', data, has_more: start + data.length < end, url };
};

const ENDED = ['canceled', 'incomplete_expired'];

/** The search query language for what custctl asks: `field:'value'` clauses (email, name, metadata['key']) joined by AND or OR. */
export function parseSearchQuery(q: string): { join: 'AND' | 'OR'; clauses: Array<{ field: string; key?: string; value: string }> } {
  const clauses: Array<{ field: string; key?: string; value: string }> = [];
  const joins = new Set<string>();
  const rx = /\s*(?:(email|name|metadata\['((?:[^'\\]|\\.)+)'\]):'((?:[^'\\]|\\.)*)')\s*(?:(AND|OR)\s*|$)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < q.length && (m = rx.exec(q)) !== null) {
    const field = m[1]?.startsWith('metadata') ? 'metadata' : (m[1] as string);
    clauses.push({ field, ...(m[2] !== undefined ? { key: m[2].replace(/\\(.)/g, '$1') } : {}), value: (m[3] as string).replace(/\\(.)/g, '$1') });
    if (m[4]) joins.add(m[4]);
    at = rx.lastIndex;
    if (!m[4]) break;
  }
  if (clauses.length === 0 || at !== q.length || joins.size > 1 || (clauses.length > 1 && joins.size === 0)) {
    throw invalidParameter('query', `Invalid search query: ${q}. See https://stripe.com/docs/search#search-query-language for the syntax.`);
  }
  return { join: joins.has('OR') ? 'OR' : 'AND', clauses };
}

export const ROUTES: Route[] = [
  {
    method: 'GET', path: '/v1/customers/search', permission: 'customer_read',
    params: { query: { t: 'string', required: true }, limit: { t: 'integer', min: 1, max: 100 }, page: { t: 'string' }, ...EXPAND },
    expandable: {},
    handle: ({ state, params }) => {
      const q = parseSearchQuery(params.query as string);
      const hit = (c: Obj) => {
        const tests = q.clauses.map((cl) => cl.field === 'metadata' ? (c.metadata as Record<string, string>)[cl.key as string] === cl.value : c[cl.field] === cl.value);
        return q.join === 'AND' ? tests.every(Boolean) : tests.some(Boolean);
      };
      const found = [...state.customers.values()].filter((c) => !c.deleted && hit(c)).sort((a, b) => (b.created as number) - (a.created as number));
      const limit = (params.limit as number | undefined) ?? 10;
      const offset = typeof params.page === 'string' ? Number(/^page_(\d+)$/.exec(params.page)?.[1] ?? NaN) : 0;
      if (Number.isNaN(offset)) throw invalidParameter('page', `Invalid page: ${params.page as string}`);
      const data = found.slice(offset, offset + limit);
      const more = offset + data.length < found.length;
      return { object: 'search_result', data, has_more: more, next_page: more ? `page_${offset + data.length}` : null, url: '/v1/customers/search' };
    },
  },
  {
    method: 'GET', path: '/v1/customers/:id', permission: 'customer_read', params: { ...EXPAND }, expandable: {},
    handle: ({ state, ids }) => {
      const c = state.customer(ids[0] as string);
      return c.deleted ? { id: c.id, object: 'customer', deleted: true } : c;
    },
  },
  {
    method: 'DELETE', path: '/v1/customers/:id', permission: 'customer_write', params: {}, expandable: {},
    handle: ({ state, ids }) => state.deleteCustomer(ids[0] as string),
  },
  {
    method: 'POST', path: '/v1/customers/:id/balance_transactions', permission: 'customer_write',
    params: { amount: { t: 'integer', required: true }, currency: { t: 'string', required: true }, description: { t: 'string', max: 350 }, metadata: { t: 'metadata' }, ...EXPAND },
    expandable: {},
    handle: ({ state, ids, params }) => state.createBalanceTransaction(ids[0] as string, params as { amount: number; currency: string }),
  },
  {
    method: 'GET', path: '/v1/customers/:id/balance_transactions', permission: 'customer_read',
    params: { ...PAGINATION, created: { t: 'integer' }, invoice: { t: 'string' }, ...EXPAND }, expandable: {},
    handle: ({ state, ids, params }) => {
      const c = state.liveCustomer(ids[0] as string, 'customer');
      const all = [...state.balanceTransactions.values()].filter((t) => t.customer === c.id);
      return list(`/v1/customers/${c.id as string}/balance_transactions`, all, params, 'customer_balance_transaction');
    },
  },
  {
    method: 'GET', path: '/v1/subscriptions', permission: 'subscription_read',
    params: {
      ...PAGINATION, customer: { t: 'string' }, price: { t: 'string' },
      status: { t: 'string', enum: ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'] }, ...EXPAND,
    },
    expandable: { 'data.latest_invoice': 'invoice_read', 'data.customer': 'customer_read' },
    handle: ({ state, params }) => {
      const status = (params.status as string | undefined) ?? null;
      const all = [...state.subscriptions.values()].filter((s) => {
        if (params.customer !== undefined && s.customer !== params.customer) return false;
        if (status === 'all') return true;
        if (status === null) return s.status !== 'canceled';
        if (status === 'ended') return ENDED.includes(s.status as string);
        return s.status === status;
      });
      return list('/v1/subscriptions', all, params, 'subscription');
    },
  },
  {
    method: 'GET', path: '/v1/subscriptions/:id', permission: 'subscription_read', params: { ...EXPAND },
    expandable: { latest_invoice: 'invoice_read', customer: 'customer_read' },
    handle: ({ state, ids }) => state.subscription(ids[0] as string),
  },
  {
    method: 'POST', path: '/v1/subscriptions/:id', permission: 'subscription_write',
    params: {
      pause_collection: { t: 'hash', emptyable: true, fields: { behavior: { t: 'string', required: true, enum: ['keep_as_draft', 'mark_uncollectible', 'void'] }, resumes_at: { t: 'integer' } } },
      cancel_at: { t: 'integer', emptyable: true },
      cancel_at_period_end: { t: 'boolean' },
      cancellation_details: { t: 'hash', fields: { comment: { t: 'string', emptyable: true, max: 5000 }, feedback: { t: 'string', emptyable: true, enum: ['customer_service', 'low_quality', 'missing_features', 'other', 'switched_service', 'too_complex', 'too_expensive', 'unused'] } } },
      proration_behavior: { t: 'string', enum: ['always_invoice', 'create_prorations', 'none'] },
      description: { t: 'string', emptyable: true },
      metadata: { t: 'metadata' },
      ...EXPAND,
    },
    expandable: { latest_invoice: 'invoice_read', customer: 'customer_read' },
    handle: ({ state, ids, params }) => state.updateSubscription(ids[0] as string, params),
  },
  {
    method: 'DELETE', path: '/v1/subscriptions/:id', permission: 'subscription_write',
    params: {
      invoice_now: { t: 'boolean' },
      prorate: { t: 'boolean' },
      cancellation_details: { t: 'hash', fields: { comment: { t: 'string', emptyable: true, max: 5000 }, feedback: { t: 'string', emptyable: true, enum: ['customer_service', 'low_quality', 'missing_features', 'other', 'switched_service', 'too_complex', 'too_expensive', 'unused'] } } },
      ...EXPAND,
    },
    expandable: { latest_invoice: 'invoice_read', customer: 'customer_read' },
    handle: ({ state, ids, params }) => state.cancelSubscription(ids[0] as string, params as Parameters<StripeState['cancelSubscription']>[1]),
  },
  {
    method: 'GET', path: '/v1/invoices/:id', permission: 'invoice_read', params: { ...EXPAND },
    // `payments` is includable: it is in the answer only when expanded
    expandable: { payments: 'invoice_read', customer: 'customer_read' },
    handle: ({ state, ids }) => state.invoice(ids[0] as string),
  },
  {
    method: 'GET', path: '/v1/payment_intents/:id', permission: 'payment_intent_read', params: { client_secret: { t: 'string' }, ...EXPAND },
    expandable: { latest_charge: 'charge_read', customer: 'customer_read' },
    handle: ({ state, ids }) => state.paymentIntent(ids[0] as string),
  },
  {
    method: 'GET', path: '/v1/refunds', permission: 'refund_read',
    params: { ...PAGINATION, charge: { t: 'string' }, payment_intent: { t: 'string' }, created: { t: 'integer' }, ...EXPAND },
    expandable: {},
    handle: ({ state, params }) => {
      const all = [...state.refunds.values()].filter((r) => (params.charge === undefined || r.charge === params.charge) && (params.payment_intent === undefined || r.payment_intent === params.payment_intent));
      return list('/v1/refunds', all, params, 'refund');
    },
  },
  {
    method: 'POST', path: '/v1/refunds', permission: 'refund_write',
    params: {
      amount: { t: 'integer' }, charge: { t: 'string' }, payment_intent: { t: 'string' },
      reason: { t: 'string', enum: ['duplicate', 'fraudulent', 'requested_by_customer'] },
      metadata: { t: 'metadata' }, instructions_email: { t: 'string' }, refund_application_fee: { t: 'boolean' }, reverse_transfer: { t: 'boolean' },
      ...EXPAND,
    },
    expandable: {},
    handle: ({ state, params }) => state.createRefund(params as Parameters<StripeState['createRefund']>[0]),
  },
];

export function matchRoute(method: string, path: string): { route: Route; ids: string[] } | { allowed: string[] } | null {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const rx = new RegExp(`^${route.path.replace(/:id/g, '([^/]+)')}$`);
    const m = rx.exec(path);
    if (!m) continue;
    // a fixed segment wins over a capture (/v1/customers/search is not customer "search")
    if (route.path.includes(':id') && ROUTES.some((r) => r.path === path && r.method === method)) continue;
    if (route.method === method) return { route, ids: m.slice(1).map((s) => decodeURIComponent(s)) };
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : null;
}

/** The object as Stripe sends it: internal fields dropped, `expand[]` applied (nested `data.` for lists). */
export function render(state: StripeState, obj: Obj, expand: string[], route: Route): Obj {
  for (const e of expand) {
    if (!Object.hasOwn(route.expandable, e)) {
      throw new StripeHttpError(400, { type: 'invalid_request_error', param: 'expand', message: `This property cannot be expanded (${e}).` });
    }
  }
  const apply = (o: Obj, paths: string[]): Obj => {
    const out: Obj = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === 'payments_data') continue;
      out[k] = v;
    }
    if (o.object === 'invoice' && paths.includes('payments')) {
      const data = (o.payments_data as Obj[] | undefined) ?? [];
      out.payments = { object: 'list', data, has_more: false, url: `/v1/invoice_payments?invoice=${o.id as string}` };
    }
    if (paths.includes('latest_invoice') && typeof o.latest_invoice === 'string') out.latest_invoice = apply(state.invoice(o.latest_invoice), []);
    if (paths.includes('latest_charge') && typeof o.latest_charge === 'string') out.latest_charge = state.charges.get(o.latest_charge) ?? o.latest_charge;
    if (paths.includes('customer') && typeof o.customer === 'string') {
      const c = state.customers.get(o.customer);
      out.customer = c?.deleted ? { id: c.id, object: 'customer', deleted: true } : c ?? o.customer;
    }
    if (o.object === 'list' || o.object === 'search_result') {
      const inner = paths.filter((p) => p.startsWith('data.')).map((p) => p.slice(5));
      out.data = (o.data as Obj[]).map((x) => apply(x, inner));
    }
    if (o.object === 'customer' && o.deleted) return { id: o.id, object: 'customer', deleted: true };
    return out;
  };
  return apply(obj, expand);
}

export function expansionPermissions(route: Route, expand: string[]): Permission[] {
  return expand.map((e) => route.expandable[e]).filter((p): p is Permission => p !== undefined);
}
