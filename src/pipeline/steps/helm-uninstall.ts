/**
 * Step 1: Helm first wherever it runs: deleting the namespace first would delete the release
 * records. Releases helm adds nothing to are left for the namespace (step 2).
 */
import { uninstallReleases } from '../helm-uninstall.js';
import type { Step } from '../step.js';

export const helmUninstallStep: Step = {
  name: 'helm-uninstall',
  progress: 25,
  cluster: true,
  simulatedAs: 'Helm uninstall',
  async run(ctx) {
    const c = ctx.cluster!;
    const insp = ctx.inspection!;
    ctx.result.releases = await uninstallReleases(c.helm, ctx.namespace, insp.releases, ctx.timeoutMs, ctx.log, ctx.signal);
    for (const r of insp.releases) if (r.removal.by === 'helm') for (const o of r.clusterRbac) ctx.removedByHelm.add(`${o.kind}/${o.name}`);
  },
};
