/**
 * The billing step in the deletion pipeline (fakes of our own interfaces; the real proof is
 * test/integration/billing-pipeline.test.ts): where it runs, when a failure hands the row back,
 * and that a later attempt does not bill again.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Billing } from '../../src/adapters/billing.js';
import { BillingError, emptyResult, type BillingResult } from '../../src/domain/billing.js';
import type { Job } from '../../src/domain/job.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import type { OutsideEnv } from '../../src/pipeline/outside.js';
import { FakeHelm, FakeKube, FakeStore } from '../support/fakes.js';

const KEY = 'bill01';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;

function job(over: Partial<Job> = {}): Job {
  return {
    id: '7', name: 'delete', state: 'active', progress: 0, data: { customerId: ID, namespace: NS },
    opts: { attempts: 3, backoff: { type: 'exponential', delay: 1 }, timeoutMs: 60_000, waitTimeoutMs: 1_000 },
    attemptsMade: 0, maxAttempts: 3, delayUntil: null, failedReason: null, failedCode: null, stacktrace: [], returnvalue: null,
    requestedBy: 'test', simulated: false, timestamp: 0, processedOn: 0, finishedOn: null,
    attempts: [{ attempt: 1, startedOn: 0, finishedOn: null, worker: 'w', outcome: 'running', log: [] }], lease: null, ...over,
  };
}

function result(): BillingResult {
  return {
    ...emptyResult('test', 'cus_1'),
    cancelled: [{ id: 'sub_1', statusBefore: 'active', by: 'this-attempt', finalInvoice: { id: 'in_9', total: -2000, amountDue: 0, currency: 'usd', status: 'paid' } }],
    refunds: [{ id: 're_1', subscription: 'sub_1', amount: 2000, currency: 'usd', paymentIntent: 'pi_1', invoice: 'in_1', balanceTransaction: 'cbtxn_1', status: 'succeeded', by: 'this-attempt' }],
  };
}

describe('the billing step', () => {
  let kube: FakeKube;
  let helm: FakeHelm;
  let store: FakeStore;
  let order: string[];
  let cancel: () => Promise<BillingResult>;

  const billing: Billing = {
    provider: 'stripe',
    plan: async () => { throw new Error('not called'); },
    cancel: async () => { order.push('billing'); return cancel(); },
    suspend: async () => { throw new Error('not called'); },
    unsuspend: async () => { throw new Error('not called'); },
  };
  const outside: OutsideEnv = { billing, billingColumn: null, hooks: null };
  const run = (j: Job = job()) => runDeleteAttempt(
    { job: j, attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: () => undefined },
    store,
    async () => ({ kube, helm, target: kube.target }),
    { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => 0, outside: async () => outside },
  );

  beforeEach(async () => {
    kube = new FakeKube();
    helm = new FakeHelm(kube);
    store = new FakeStore();
    order = [];
    cancel = async () => result();
    await store.add({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    await store.claimForDeletion(ID, '7', { force: false });
    kube.addNamespace(NS);
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' }]);
  });

  it('runs before anything in the cluster is deleted, and the result carries ids and amounts', async () => {
    const r = await run();
    expect(order).toEqual(['billing']);
    expect(r.billing).toMatchObject({ customer: 'cus_1', cancelled: [{ subscription: 'sub_1' }], invoiced: [{ invoice: 'in_9', total: -2000 }], refunded: [{ refund: 're_1', amount: 2000 }] });
    expect(r.billing?.lines.join('\n')).toContain('Stripe: refunded 20.00 USD of in_1 (re_1) for sub_1');
    expect(r.deleted?.billing?.refunded[0]?.refund).toBe('re_1');
    const stopped = await store.listAudit({ customerId: ID, actions: ['billing-stopped'] });
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ jobId: '7', outcome: 'cancelled', deleted: { billing: { refunded: [{ refund: 're_1', amount: 2000 }] } } });
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('a permanent failure that changed nothing hands the row back, nothing deleted', async () => {
    cancel = async () => { throw new BillingError('Stripe refused the API key (HTTP 401)', [], { permanent: true, partial: emptyResult('test', 'cus_1') }); };
    const e = await run().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BillingError);
    expect((e as BillingError).details.join(' ')).toContain('the row was handed back');
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(helm.calls.filter((c) => c.startsWith('uninstall'))).toEqual([]);
  });

  it('a permanent failure after something was cancelled keeps the row (the job fails, not handed back)', async () => {
    cancel = async () => { throw new BillingError('Stripe: permission missing for refunds', [], { permanent: true, partial: result() }); };
    await expect(run()).rejects.toBeInstanceOf(BillingError);
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
  });

  it('a passing failure fails the attempt without handing back (a later attempt bills again, idempotently)', async () => {
    cancel = async () => { throw new BillingError('Stripe: HTTP 503 after 5 tries', []); };
    await expect(run()).rejects.toBeInstanceOf(BillingError);
    expect((await store.get(ID))?.deploymentStatus).toBe('deleting');
  });

  it('an attempt after billing was done (progress 10) does not call the provider again, and carries what the earlier one recorded', async () => {
    await store.appendAudit({ action: 'billing-stopped', actor: 'test', customerId: ID, namespace: NS, jobId: '7', outcome: 'cancelled', deleted: { billing: { provider: 'stripe', mode: 'test', customer: 'cus_1', cancelled: [{ subscription: 'sub_1', statusBefore: 'active' }], invoiced: [], refunded: [{ subscription: 'sub_1', refund: 're_1', amount: 2000, currency: 'usd', invoice: 'in_1', status: 'succeeded' }], credited: [], customerDeleted: 'no' } } });
    const r = await run(job({ progress: 10, attemptsMade: 1 }));
    expect(order).toEqual([]);
    expect(r.billing?.refunded[0]?.refund).toBe('re_1');
    expect(r.billing?.lines).toContain('Stripe: refunded 20.00 USD of in_1 (re_1) for sub_1 (by an earlier attempt of this job)');
    expect(r.deleted?.billing?.cancelled).toEqual([{ subscription: 'sub_1', statusBefore: 'active' }]);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });

  it('a simulated run skips billing', async () => {
    const r = await run(job({ simulated: true }));
    expect(order).toEqual([]);
    expect(r.billing).toBeUndefined();
  });
});
