/** Step 2: delete the namespace (uid precondition) and wait until it is gone. */
import { deleteNamespaceAndWait } from '../namespace.js';
import type { Step } from '../step.js';

export const namespaceStep: Step = {
  name: 'namespace',
  progress: 70,
  cluster: true,
  simulatedAs: 'namespace deletion',
  report: (ctx) => ({ waitedForNamespace: true, ...(ctx.result.namespaceOutcome !== undefined ? { namespaceOutcome: ctx.result.namespaceOutcome } : {}) }),
  async run(ctx) {
    ctx.result.namespaceOutcome = await deleteNamespaceAndWait(ctx.cluster!.kube, ctx.namespace, ctx.inspection!.ns, ctx.timeoutMs, ctx.log, ctx.signal, (ms) => { ctx.result.namespaceWaitMs = ms; });
  },
};
