/**
 * The deletion plan builder of the service (src/service/local.ts): one plan for `delete --dry-run`,
 * the confirmation and the console's customer page. Loaded with the planning code
 * (src/service/local-running.ts), never on `status job`'s path.
 */
import type { Kube } from '../adapters/kube.js';
import type { CustomerRow, CustomerStore } from '../adapters/store.js';
import type { Config } from '../config.js';
import type { CustomerId } from '../domain/customer-id.js';
import type { DeletionOptions } from '../domain/deletion-options.js';
import type { Inspection } from '../pipeline/types.js';
import { coverVolumes, planView, type PlanView } from '../pipeline/plan.js';
import { outsidePlan, type OutsideEnv } from '../pipeline/outside.js';
import { snapshotPlan } from '../pipeline/volume-snapshots.js';
import { backupOption, snapshotOption } from '../jobs/kinds/delete.js';

/**
 * The plan of one customer's deletion, from its inspection (null: simulated) and the options: what
 * goes (pipeline/plan.ts), the volume snapshots and what they cover, the backup (where, encrypted
 * to whom, what it does not cover), billing and the hooks. `delete --dry-run`, the confirmation and
 * the console's customer page all show this one.
 */
export async function planOf(a: {
  customer: CustomerId; namespace: string; row: CustomerRow; insp: Inspection | null; o: DeletionOptions; config: Config;
  kube: Kube | null; outside: OutsideEnv | null; store: CustomerStore; alreadyDeleted?: NonNullable<PlanView['alreadyDeleted']>;
}): Promise<PlanView> {
  const { config: cfg, insp, o } = a;
  const plan = planView(insp, a.row, a.customer.id, a.namespace, cfg.simulate);
  if (a.alreadyDeleted) plan.alreadyDeleted = a.alreadyDeleted;
  const snapshotClass = snapshotOption(cfg, o).snapshotClass;
  if (a.kube) coverVolumes(plan, snapshotClass ? await snapshotPlan(a.kube, snapshotClass) : null);
  const snapshotted = (name: string) => plan.pvcs?.some((p) => p.name === name && p.coverage === 'snapshot') ?? false;
  const chosen = backupOption(cfg, o);
  const backupUrl = chosen.backupUrl;
  plan.backup = backupUrl
    ? {
        url: backupUrl,
        ...(chosen.backupRecipients ? { encryptedTo: chosen.backupRecipients } : {}),
        covers: 'every namespaced object (Helm release records included), the owned cluster RBAC, the row',
        notCovered: (insp?.pvcs ?? []).filter((p) => !snapshotted(p.name)).map((p) => `the data in PVC ${p.name}${p.volumeName ? ` (volume ${p.volumeName})` : ''}: only the PVC object is kept`),
      }
    : null;
  if (backupUrl && plan.backup && snapshotClass && plan.volumeSnapshots && !plan.volumeSnapshots.refused) plan.backup.covers += '; the manifest records the volume snapshots';
  if (a.outside) Object.assign(plan, await outsidePlan(a.outside, a.store, a.customer.id, { scheduled: (o.afterMs ?? cfg.retentionMs) > 0, simulated: cfg.simulate }));
  return plan;
}
