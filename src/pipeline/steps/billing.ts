/**
 * The billing step: after the `before` hooks, before Helm. Billing comes before the cluster part so
 * that no charge follows a deletion that has started: a customer whose instance is being deleted
 * is never billed for the next period. A failure here comes before anything is deleted: a
 * permanent one (a refused key, a missing permission, several Stripe customers) that changed
 * nothing at the provider hands the row back (src/pipeline/run.ts); a passing one (429, 5xx, no
 * answer after the retries) fails the attempt and a later attempt of the same job runs it again,
 * its idempotency keys making the provider answer what the first did.
 *
 * Progress 10 once done: a later attempt (after something in the cluster was deleted) does not
 * call the provider again.
 */
import { billingSummary, changedAnything, resultLines, summaryLines, type BillingSummary } from '../../domain/billing.js';
import { billingCustomerOf } from '../outside.js';
import type { Step } from '../step.js';

export const BILLING_PROGRESS = 10;

export const billingStep: Step = {
  name: 'billing',
  cluster: false,
  outside: true,
  simulatedAs: 'Billing (cancel, final invoice, refund)',
  applies: (ctx) => Boolean(ctx.outside?.billing),
  async run(ctx) {
    const o = ctx.outside;
    if (!o?.billing) return;
    if (ctx.job.progress >= BILLING_PROGRESS) {
      // what that attempt did, from its audit row: the result and the completion's audit row carry it again
      const done = (await ctx.store.listAudit({ customerId: ctx.customer.id, actions: ['billing-stopped'], limit: 50 })).find((a) => a.jobId === ctx.job.id);
      const summary = (done?.deleted as { billing?: BillingSummary } | null | undefined)?.billing;
      if (summary) ctx.result.billing = { ...summary, lines: summaryLines(summary) };
      ctx.log('info', 'Billing already done by an earlier attempt of this job', {});
      return;
    }
    const providerCustomerId = await billingCustomerOf(ctx.store, ctx.customer.id, o);
    const r = await o.billing.cancel(
      { customerId: ctx.customer.id, providerCustomerId },
      { jobId: ctx.job.id, signal: ctx.signal, log: (level, message) => ctx.log(level, message) },
    );
    const lines = resultLines(r);
    const summary = billingSummary(r);
    ctx.result.billing = { ...summary, lines };
    // recorded as soon as money moved: a job that fails later still says what billing did
    await ctx.store.appendAudit({
      action: 'billing-stopped', actor: ctx.job.requestedBy, customerId: ctx.customer.id, namespace: ctx.namespace, jobId: ctx.job.id,
      outcome: changedAnything(r) ? 'cancelled' : 'nothing', deleted: { billing: summary }, reason: r.warnings.length ? r.warnings.join('; ') : null,
    });
    for (const w of r.warnings) ctx.result.warnings.push(`billing: ${w}`);
    ctx.log('ok', lines.join('; '), {});
    await ctx.progress?.(BILLING_PROGRESS);
  },
};
