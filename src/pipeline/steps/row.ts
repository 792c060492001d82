/** Step 4: the row → pending, a compare-and-set on this job's ownership; only after step 2 saw the namespace gone. */
import type { Step } from '../step.js';

export const rowStep: Step = {
  name: 'row',
  progress: 100,
  cluster: false,
  async run(ctx) {
    ctx.signal.throwIfAborted();
    if (!(await ctx.store.completeDeletion(ctx.customer.id, ctx.job.id))) {
      ctx.superseded = 'the row was taken by another job or changed while the instance was being deleted';
      ctx.log('warn', 'Job superseded before the row update', { customerId: ctx.customer.id, reason: ctx.superseded });
      return;
    }
    ctx.result.row = { status: 'pending' };
  },
};
