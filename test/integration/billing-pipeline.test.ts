/**
 * Billing and the deletion hooks inside the deletion job, on the real parts: the built binary, the
 * real control plane, helm and PostgreSQL, the official `stripe` SDK talking to the Stripe-protocol
 * server on loopback (test/env/stripe-server.ts: no Stripe server is reachable from here), and a
 * hook receiver on loopback. File journal, and BullMQ on Redis through `custctl worker`.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { db, getNamespace, provisionCustomer, randomKey, waitFor } from '../support/fixtures.js';
import { startServe } from '../support/serve.js';
import { sha256Hex } from '../../src/server/auth.js';
import { FULL_ACCESS_KEY, startStripeServer, type StripeServer } from '../env/stripe-server.js';

let srv: StripeServer;
const state = tempStateDir();

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env: { CUSTCTL_STATE_DIR: state } });
  expect(m.exitCode, m.stderr).toBe(0);
}, 120_000);

beforeEach(async () => {
  srv = await startStripeServer({ keys: { [FULL_ACCESS_KEY]: { permissions: 'all' } } });
});

afterEach(async () => {
  await srv.stop();
});

function billingEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    CUSTCTL_STATE_DIR: state,
    CUSTCTL_BILLING: 'stripe',
    STRIPE_API_KEY: FULL_ACCESS_KEY,
    CUSTCTL_STRIPE_API_BASE: srv.url,
    CUSTCTL_STRIPE_CUSTOMER_METADATA_KEY: 'custctl_customer_id',
    CUSTCTL_STRIPE_REFUND: 'unused',
    // the SDK advertises itself on stderr when this is set: custctl must never show it
    CLAUDECODE: '1',
    ...extra,
  };
}

/** A Stripe customer for `customerId`: A active and paid (20 of 30 days unused), B trialing, C cancelled long ago. */
function seedStripe(customerId: string) {
  const st = srv.state;
  const now = st.clock.now();
  const cust = st.seedCustomer({ email: 'ops@acme.test', name: 'ACME', metadata: { custctl_customer_id: customerId } });
  const pro = st.seedPrice({ unitAmount: 3000, nickname: 'Pro' });
  const seat = st.seedPrice({ unitAmount: 1000, nickname: 'Seat' });
  const a = st.seedSubscription({ customer: cust.id as string, prices: [{ price: pro }], status: 'active', periodStart: now - 10 * 86400, periodEnd: now + 20 * 86400 });
  const b = st.seedSubscription({ customer: cust.id as string, prices: [{ price: seat, quantity: 3 }], status: 'trialing', periodStart: now - 86400, periodEnd: now + 13 * 86400 });
  const c = st.seedSubscription({ customer: cust.id as string, prices: [{ price: pro }], status: 'canceled', invoice: 'none', periodStart: now - 400 * 86400, periodEnd: now - 370 * 86400 });
  return { cust: cust.id as string, a: a.id as string, b: b.id as string, c: c.id as string };
}

function counts() {
  const st = srv.state;
  return {
    cancels: st.count('customer.subscription.deleted'),
    invoices: st.count('invoice.finalized'),
    refunds: st.count('refund.created'),
    balance: st.count('customer_balance_transaction.created'),
    updates: st.count('customer.subscription.updated'),
  };
}

async function row(customerId: string) {
  const r = await db().query('select deployment_status, deletion_job_id from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; deletion_job_id: string | null };
}

interface BillingJson { customer: string; cancelled: Array<{ subscription: string }>; invoiced: Array<{ invoice: string; total: number }>; refunded: Array<{ refund: string; amount: number; currency: string }>; lines: string[] }
interface DeleteJson { exitCode: number; results: Array<{ jobId: string; exitCode: number; state: string; error: { message: string; details: string[] } | null; result: { billing?: BillingJson; hooks?: Array<{ point: string; outcome: string; calls: Array<{ tries: number; status: number }> }> } | null; plan?: { billing?: { lines: string[] } } }> }

describe('billing in the deletion job (file journal)', () => {
  it('a deletion cancels two subscriptions with a final prorated invoice and one refund, shown in the plan, the result, status job, the audit row', async () => {
    const c = await provisionCustomer(randomKey('bl'));
    const s = seedStripe(c.customerId);
    const env = billingEnv();

    const dry = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`Stripe (test mode): customer ${s.cust} (ACME, ops@acme.test), found by metadata search`);
    expect(dry.stdout).toMatch(new RegExp(`${s.a} active: Pro 30.00 USD/month.*→ cancel now, final invoice`));
    expect(dry.stdout).toContain(`${s.c} canceled`);
    expect(counts()).toMatchObject({ cancels: 0, refunds: 0 });

    const { result, json } = await custctlJson<DeleteJson>(['delete', c.customerId, '--yes'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('claude-code-hint');
    expect(result.stdout).not.toContain('claude-code-hint');
    expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0 });
    expect(srv.state.subscription(s.a).status).toBe('canceled');
    expect(srv.state.subscription(s.b).status).toBe('canceled');
    const r0 = json.results[0];
    const b = r0?.result?.billing as BillingJson;
    expect(b.customer).toBe(s.cust);
    expect(b.cancelled.map((x) => x.subscription).sort()).toEqual([s.a, s.b].sort());
    expect(b.invoiced.some((x) => x.total === -2000)).toBe(true);
    expect(b.refunded).toEqual([expect.objectContaining({ amount: 2000, currency: 'usd' })]);
    expect((await row(c.customerId)).deployment_status).toBe('pending');
    expect(await getNamespace(c.namespace)).toBeNull();

    // status job: the billing lines with ids and amounts
    const st = await custctl(['status', 'job', r0?.jobId ?? ''], { env });
    expect(st.stdout).toContain(`Stripe: refunded 20.00 USD`);
    expect(st.stdout).toContain(`Stripe: cancelled ${s.a} (was active)`);
    // the audit row carries what was cancelled, invoiced and refunded
    const audit = await db().query(`select deleted from custctl_audit where customer_id = $1 and action = 'deletion-completed'`, [c.customerId]);
    const deleted = (audit.rows[0] as { deleted: { billing?: BillingJson } }).deleted;
    expect(deleted.billing?.refunded[0]).toMatchObject({ refund: b.refunded[0]?.refund, amount: 2000 });
    expect(deleted.billing?.cancelled).toHaveLength(2);
  }, 240_000);

  it('an invalid key fails fast: the row handed back, nothing deleted, nothing changed at Stripe', async () => {
    const c = await provisionCustomer(randomKey('bk'));
    seedStripe(c.customerId);
    const t0 = Date.now();
    const r = await custctl(['delete', c.customerId, '--yes'], { env: billingEnv({ STRIPE_API_KEY: 'sk_test_not_a_known_key_1234' }) });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/Stripe/);
    expect(r.stderr).toMatch(/key/i);
    expect(r.stderr).toContain('the row was handed back');
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
    expect(await getNamespace(c.namespace)).not.toBeNull();
    expect(counts()).toMatchObject({ cancels: 0, invoices: 0, refunds: 0 });
    // one attempt only: permanent
    expect(srv.requests.filter((x) => x.status === 401).length).toBeLessThanOrEqual(2);
  }, 240_000);

  it('kill -9 mid-billing, then jobs resume: no second cancel, invoice or refund', async () => {
    const c = await provisionCustomer(randomKey('bj'));
    seedStripe(c.customerId);
    const kstate = tempStateDir();
    const env = billingEnv({ CUSTCTL_STATE_DIR: kstate });
    await custctl(['db', 'migrate'], { env });
    // the refund takes long on the server: the process is killed while it is in flight (both cancels done)
    srv.inject({ method: 'POST', path: '/v1/refunds', runMs: 8_000 });
    const child = execa('node', [BIN, 'delete', c.customerId, '--yes'], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, extendEnv: false, reject: false });
    await waitFor(async () => srv.requestsTo('POST', '/v1/refunds').length > 0, 'the refund in flight', 120_000, 50);
    child.kill('SIGKILL');
    await child.catch(() => undefined);
    expect(counts()).toMatchObject({ cancels: 2, invoices: 1 });
    expect(await getNamespace(c.namespace)).not.toBeNull(); // billing comes before the cluster
    srv.clearFaults();
    // the refund's first request is still running on the server: let it finish (else its key answers 409 in use, retried)
    await new Promise((r) => setTimeout(r, 9_000));
    const resumed = await custctl(['jobs', 'resume'], { env });
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0 });
    expect((await row(c.customerId)).deployment_status).toBe('pending');
    expect(await getNamespace(c.namespace)).toBeNull();
  }, 300_000);
});

describe('which Stripe customer', () => {
  it('the row\'s stripe_customer_id (added by db migrate) names it; none found is said in the plan; two found by metadata refuse, the row handed back', async () => {
    const c = await provisionCustomer(randomKey('bw'));
    const s = seedStripe(c.customerId);
    // another Stripe customer that carries the same metadata: the search finds two, the row decides
    srv.state.seedCustomer({ email: 'other@acme.test', name: 'ACME 2', metadata: { custctl_customer_id: c.customerId } });
    const env = billingEnv();
    const two = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(two.stdout).toMatch(/Stripe \(test mode\): refused: .*/);
    const refused = await custctl(['delete', c.customerId, '--yes'], { env: { ...env } });
    expect(refused.exitCode).not.toBe(0);
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed' });
    expect(counts()).toMatchObject({ cancels: 0 });
    await db().query('update customers set stripe_customer_id = $1 where customer_id = $2', [s.cust, c.customerId]);
    const byRow = await custctl(['delete', c.customerId, '--dry-run'], { env });
    expect(byRow.exitCode, byRow.stderr).toBe(0);
    expect(byRow.stdout).toContain(`Stripe (test mode): customer ${s.cust} (ACME, ops@acme.test), found by the row`);
    const none = await provisionCustomer(randomKey('bn'));
    const nothing = await custctl(['delete', none.customerId, '--dry-run'], { env });
    expect(nothing.stdout).toContain('Stripe (test mode): no customer found');
  }, 240_000);
});

describe('configuration', () => {
  it('a worker refuses to start on a broken billing or hooks configuration (exit 2), before any attempt', async () => {
    const noKey = await custctl(['worker', '--once'], { env: { CUSTCTL_STATE_DIR: tempStateDir(), CUSTCTL_BILLING: 'stripe' } });
    expect(noKey.exitCode).toBe(2);
    expect(noKey.stderr).toContain('CUSTCTL_BILLING=stripe needs a key');
    const h = path.join(tempStateDir(), 'hooks.yaml');
    writeFileSync(h, 'hooks:\n  - name: x\n    url: http://example.com/h\n    secret: test-secret-0123456789abcdef\n    points: [before]\n', { mode: 0o600 });
    const plain = await custctl(['worker', '--once'], { env: { CUSTCTL_STATE_DIR: tempStateDir(), CUSTCTL_HOOKS_FILE: h } });
    expect(plain.exitCode).toBe(2);
    expect(plain.stderr).toContain('is plain http');
  }, 120_000);
});

describe('simulated runs', () => {
  it('billing and hooks are skipped in a simulated run, and it says so: nothing changes at Stripe, no hook is called', async () => {
    const c = await provisionCustomer(randomKey('bm'));
    seedStripe(c.customerId);
    const h = await hookServer([]);
    try {
      const r = await custctl(['delete', c.customerId, '--yes'], { env: billingEnv({ SIMULATE_K8S_DEPLOYMENT: 'true', CUSTCTL_HOOKS_FILE: hooksFile(h.url) }) });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('Simulated: Billing (cancel, final invoice, refund) skipped: a simulated run changes nothing outside');
      expect(r.stderr).toContain('Simulated: The before hooks (before anything is deleted) skipped');
      expect(h.calls).toHaveLength(0);
      expect(counts()).toMatchObject({ cancels: 0, invoices: 0, refunds: 0, updates: 0 });
      expect(await getNamespace(c.namespace)).not.toBeNull();
    } finally {
      await h.close();
    }
  }, 240_000);
});

describe('soft delete and billing (file journal)', () => {
  it('delete --after pauses collection; its cancel resumes exactly what it paused', async () => {
    const c = await provisionCustomer(randomKey('bs'));
    const s = seedStripe(c.customerId);
    const env = billingEnv();
    const dry = await custctl(['delete', c.customerId, '--dry-run', '--after', '7d'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/Stripe \(test mode\): collection of .* paused \(void\) until the deletion runs/);
    const { result, json } = await custctlJson<{ results: Array<{ jobId: string; state: string }> }>(['delete', c.customerId, '--yes', '--after', '7d'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(json.results[0]?.state).toBe('delayed');
    const pause = (id: string) => srv.state.subscription(id).pause_collection as { behavior: string } | null;
    expect(pause(s.a)).toMatchObject({ behavior: 'void' });
    expect(pause(s.b)).toMatchObject({ behavior: 'void' });
    expect(counts()).toMatchObject({ cancels: 0, updates: 2 });
    expect(srv.state.subscription(s.a).status).toBe('active');

    const cancel = await custctl(['cancel', c.customerId], { env });
    expect(cancel.exitCode, cancel.stderr).toBe(0);
    expect(cancel.stdout + cancel.stderr).toContain(`Stripe: ${s.a}: paused (void) → collecting`);
    expect(pause(s.a)).toBeNull();
    expect(pause(s.b)).toBeNull();
    expect(srv.state.subscription(s.a).metadata).not.toHaveProperty('custctl_suspended_by', expect.stringMatching(/./));
    expect(counts()).toMatchObject({ cancels: 0, updates: 4 });
    expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
    const audit = await db().query(`select reason from custctl_audit where customer_id = $1 and action = 'deletion-cancelled'`, [c.customerId]);
    expect((audit.rows[0] as { reason: string }).reason).toContain('billing resumed');
  }, 240_000);
});

/** A hook receiver on loopback answering from a script: `answers` in order, then 200. */
async function hookServer(answers: Array<{ status: number; body?: string }>): Promise<{ url: string; calls: Array<{ headers: Record<string, string | string[] | undefined>; body: string }>; close: () => Promise<void> }> {
  const calls: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      calls.push({ headers: req.headers, body });
      const a = answers.shift() ?? { status: 200, body: '{"message":"ok"}' };
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body ?? '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/hooks`, calls, close: () => new Promise((r) => server.close(() => r())) };
}

function hooksFile(url: string, points = '[before]'): string {
  const file = path.join(tempStateDir(), 'hooks.yaml');
  writeFileSync(file, `hooks:\n  - name: billing-service\n    url: ${url}\n    secret: test-secret-0123456789abcdef\n    points: ${points}\n    tries: 4\n`);
  chmodSync(file, 0o600);
  return file;
}

describe('deletion hooks (file journal)', () => {
  it('a before hook answering 409 refuses: exit 4, its message shown, nothing deleted, the row handed back', async () => {
    const c = await provisionCustomer(randomKey('hr'));
    const h = await hookServer([{ status: 409, body: '{"message":"invoice INV-7 is still open"}' }]);
    try {
      const r = await custctl(['delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: state, CUSTCTL_HOOKS_FILE: hooksFile(h.url) } });
      expect(r.exitCode, r.stderr).toBe(4);
      expect(r.stderr).toContain('invoice INV-7 is still open');
      expect(r.stderr).toContain('refused the deletion (HTTP 409)');
      expect(h.calls).toHaveLength(1);
      expect(h.calls[0]?.headers['x-custctl-signature'] ?? Object.keys(h.calls[0]?.headers ?? {}).find((k) => k.includes('signature'))).toBeTruthy();
      expect(await row(c.customerId)).toMatchObject({ deployment_status: 'deployed', deletion_job_id: null });
      expect(await getNamespace(c.namespace)).not.toBeNull();
    } finally {
      await h.close();
    }
  }, 240_000);

  it('a before hook answering 503 twice then 200 continues: the deletion completes', async () => {
    const c = await provisionCustomer(randomKey('hc'));
    const h = await hookServer([{ status: 503 }, { status: 503 }, { status: 200, body: '{"message":"go ahead"}' }]);
    try {
      const file = hooksFile(h.url);
      const dry = await custctl(['delete', c.customerId, '--dry-run'], { env: { CUSTCTL_STATE_DIR: state, CUSTCTL_HOOKS_FILE: file } });
      expect(dry.stdout).toContain(`before anything is deleted: hook billing-service (POST ${h.url}, signed)`);
      expect(h.calls).toHaveLength(0); // a plan calls nothing
      const { result, json } = await custctlJson<DeleteJson>(['delete', c.customerId, '--yes'], { env: { CUSTCTL_STATE_DIR: state, CUSTCTL_HOOKS_FILE: file } });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(h.calls).toHaveLength(3);
      // one delivery id for every try
      const ids = new Set(h.calls.map((x) => Object.entries(x.headers).find(([k]) => k.includes('delivery'))?.[1]));
      expect(ids.size).toBe(1);
      expect(json.results[0]?.result?.hooks?.[0]).toMatchObject({ point: 'before', outcome: 'continued', calls: [{ tries: 3, status: 200 }] });
      expect((await row(c.customerId)).deployment_status).toBe('pending');
      expect(await getNamespace(c.namespace)).toBeNull();
    } finally {
      await h.close();
    }
  }, 240_000);
});

describe('after-cluster hooks with billing (file journal)', () => {
  it('an after-cluster refusal leaves the row deletion_failed with billing done once; jobs retry calls the hook again and finishes without billing again', async () => {
    const c = await provisionCustomer(randomKey('ba'));
    seedStripe(c.customerId);
    const h = await hookServer([{ status: 200 }, { status: 409, body: '{"message":"ledger closed for the night"}' }]);
    const env = billingEnv({ CUSTCTL_HOOKS_FILE: hooksFile(h.url, '[before, after-cluster]') });
    try {
      const { result, json } = await custctlJson<DeleteJson>(['delete', c.customerId, '--yes'], { env });
      expect(result.exitCode).toBe(4);
      expect(result.stderr).toContain('ledger closed for the night');
      expect(await getNamespace(c.namespace)).toBeNull();
      expect((await row(c.customerId)).deployment_status).toBe('deletion_failed');
      expect(counts()).toMatchObject({ cancels: 2, invoices: 1, refunds: 1 });
      const jobId = json.results[0]?.jobId ?? '';
      const retried = await custctl(['jobs', 'retry', jobId], { env });
      expect(retried.exitCode, retried.stderr).toBe(0);
      expect((await row(c.customerId)).deployment_status).toBe('pending');
      expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0 });
      // the audit: billing recorded once, when it happened; the completion carries it again
      const audit = await db().query(`select action, deleted from custctl_audit where customer_id = $1 and action in ('billing-stopped', 'deletion-completed') order by id`, [c.customerId]);
      const rows = audit.rows as Array<{ action: string; deleted: { billing?: BillingJson } }>;
      expect(rows.map((x) => x.action)).toEqual(['billing-stopped', 'deletion-completed']);
      expect(rows[1]?.deleted.billing?.refunded[0]?.refund).toBe(rows[0]?.deleted.billing?.refunded[0]?.refund);
      // before (once: passed), after-cluster refused, after-cluster again: 3 calls
      const events = h.calls.map((x) => (JSON.parse(x.body) as { point: string }).point);
      expect(events).toEqual(['before', 'after-cluster', 'after-cluster']);
    } finally {
      await h.close();
    }
  }, 240_000);
});

describe('billing through custctl worker on BullMQ (Redis)', () => {
  it('delete --detach, then a custctl worker: cancelled, invoiced and refunded once, shown in status job', async () => {
    const c = await provisionCustomer(randomKey('bq'));
    const s = seedStripe(c.customerId);
    const env = billingEnv({ REDIS_URL: testEnv().redisUrl, CUSTCTL_STATE_DIR: tempStateDir() });
    let log = '';
    const w = spawn('node', [BIN, 'worker'], { env: { ...cliEnv(), ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    w.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    try {
      await waitFor(async () => log.includes('started on redis://'), `the worker to start:\n${log}`, 30_000, 100);
      const { result, json } = await custctlJson<DeleteJson>(['delete', c.customerId, '--yes', '--detach'], { env });
      expect(result.exitCode, result.stderr).toBe(0);
      await waitFor(async () => (await row(c.customerId)).deployment_status === 'pending', `the row reset:\n${log}`, 120_000, 200);
      expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0 });
      const st = await custctl(['status', 'job', json.results[0]?.jobId ?? ''], { env });
      expect(st.stdout).toContain(`Stripe: cancelled ${s.a} (was active)`);
      expect(st.stdout).toContain('Stripe: refunded 20.00 USD');
      expect(log + result.stderr).not.toContain('claude-code-hint');
    } finally {
      w.kill('SIGTERM');
      await new Promise((r) => w.once('exit', r));
    }
  }, 240_000);
});

describe('billing through custctl serve: the console plan, the API, the webhook body', () => {
  it('the console shows the plan\'s billing lines; a deletion through the API cancels and refunds; the webhook carries what was cancelled, invoiced and refunded', async () => {
    const c = await provisionCustomer(randomKey('bv'));
    const s = seedStripe(c.customerId);
    const stateDir = tempStateDir();
    const ADMIN = `adm-${randomKey('t')}-billing-0123456789`;
    const tokens = path.join(stateDir, 'tokens');
    writeFileSync(tokens, `ci-bot:admin:${sha256Hex(ADMIN)}\n`, { mode: 0o600 });
    const received = await hookServer([]);
    const env = billingEnv({ CUSTCTL_STATE_DIR: stateDir, CUSTCTL_API_TOKENS_FILE: tokens, CUSTCTL_WEBHOOK_URL: received.url, CUSTCTL_WEBHOOK_SECRET: 'webhook-secret-0123456789abcdef' });
    const serve = await startServe({ stateDir, env });
    try {
      // the console: signed in, the customer page shows the same billing lines as the CLI's plan
      const login = await fetch(`${serve.url}/console/login`, { method: 'POST', redirect: 'manual', headers: { origin: serve.url, 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${encodeURIComponent(ADMIN)}` });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      expect(cookie).toMatch(/=/);
      const page = await (await fetch(`${serve.url}/console/customers/${c.customerId}`, { headers: { cookie } })).text();
      expect(page).toContain(`Stripe (test mode): customer ${s.cust} (ACME, ops@acme.test), found by metadata search`);
      expect(page).toContain(`${s.a} active: Pro 30.00 USD/month`);
      expect(counts()).toMatchObject({ cancels: 0, refunds: 0 });

      const r = await fetch(`${serve.url}/api/customers/${c.customerId}?after=0`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
      const body = await r.text();
      expect(r.status, body).toBe(200);
      await waitFor(async () => (await row(c.customerId)).deployment_status === 'pending', `the row reset:\n${serve.log()}`, 120_000, 200);
      expect(counts()).toEqual({ cancels: 2, invoices: 1, refunds: 1, balance: 1, updates: 0 });
      const jobId = (await db().query('select deletion_job_id from customers where customer_id = $1', [c.customerId])).rows[0].deletion_job_id as string;
      const job = (await (await fetch(`${serve.url}/api/admin/jobs/${jobId}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { returnvalue: { billing: BillingJson } };
      expect(job.returnvalue.billing.refunded[0]).toMatchObject({ amount: 2000, currency: 'usd' });
      await waitFor(async () => received.calls.some((x) => x.body.includes('"job.completed"')), 'the webhook delivery', 60_000, 200);
      const delivered = JSON.parse(received.calls.find((x) => x.body.includes('"job.completed"'))?.body ?? '{}') as { billing?: BillingJson & { lines?: unknown } };
      expect(delivered.billing?.customer).toBe(s.cust);
      expect(delivered.billing?.cancelled.map((x) => x.subscription).sort()).toEqual([s.a, s.b].sort());
      expect(delivered.billing?.invoiced.some((x) => x.total === -2000)).toBe(true);
      expect(delivered.billing?.refunded[0]).toMatchObject({ amount: 2000, currency: 'usd' });
      expect(delivered.billing).not.toHaveProperty('lines');
      expect(serve.log()).not.toContain('claude-code-hint');
    } finally {
      await serve.stop();
      await received.close();
    }
  }, 240_000);
});
