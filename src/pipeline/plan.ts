/** What a deletion will act on, as data: the plan of `delete --dry-run` (rendered by src/output/plan.ts). */
import type { Inspection } from './types.js';
import { unreadableText } from './inspect.js';
import { volumeCoverage, type VolumeCoverage } from '../domain/volume-snapshots.js';
import type { HookPlanLine } from '../domain/hooks.js';
import type { OutsidePlanBilling, PlanSection } from './outside.js';

export type { PlanSection } from './outside.js';

export interface PlanView {
  customerId: string;
  namespace: string;
  simulated: boolean;
  /** the customer's cluster (its name in the fleet; the context and API server it is reached by) */
  cluster?: { name: string; context: string; server: string };
  /** companyName and email: who is being deleted (shown beside the id) */
  row: { status: string; instanceNamespace: string; instanceUrl: string; change: string; companyName?: string; email?: string };
  /** a `pending` row with nothing left on the cluster: nothing to do, no job (by which job, when) */
  alreadyDeleted?: { byJob: string | null; at: string | null };
  namespaceFound: boolean | null;
  namespaceUid?: string;
  objects?: Array<{ resource: string; kind: string; count: number }>;
  /**
   * outsideNamespace: `Kind namespace/name` of namespaced objects the release keeps in other namespaces;
   * removal: `helm` (helm uninstall in step 1) or `namespace` (removed with the namespace, no helm process), `why` says why;
   * unreadable: manifest documents custctl could not interpret (treated as possibly cluster-scoped)
   */
  releases: Array<{ name: string; status: string; chart: string; clusterScoped: string[]; outsideNamespace: string[]; clusterRbac: string[]; removal: 'helm' | 'namespace'; why: string; unreadable: string[] }>;
  /** coverage: what protects the PVC's data (a snapshot, the PV's reclaim policy, nothing); coverageNote says it in words */
  pvcs?: Array<{ name: string; phase: string; storage?: string; volume?: string; reclaimPolicy?: string; dataLoss: string; coverage: VolumeCoverage; coverageNote: string }>;
  rbac: { delete: Array<{ kind: string; name: string; rule: string }>; keptByPolicy: Array<{ kind: string; name: string }>; keptUnowned: Array<{ kind: string; name: string }> };
  /** where the verified backup goes first; null: no backup (`--no-backup`, or none configured) */
  backup?: { url: string; covers: string; notCovered: string[]; encryptedTo?: string[] } | null;
  /**
   * `--snapshot-volumes CLASS` (CUSTCTL_SNAPSHOT_CLASS): the class as the cluster has it; `refused`
   * when the deletion will be refused (no snapshot API, no such class, deletionPolicy not Retain).
   * null: no snapshots asked for.
   */
  volumeSnapshots?: { class: string; deletionPolicy?: string; driver?: string; refused?: string } | null;
  /**
   * What the deletion changes outside the cluster and the row, one section per outside system
   * (the deletion hooks, the billing provider, …) in the order they run: the CLI, `-o json` and the
   * console render these generically, so a new outside step adds its section and no view changes.
   */
  outside?: PlanSection[];
  /** the billing provider's customer, its subscriptions and what the deletion does to each (also in `outside`); absent: no billing configured */
  billing?: OutsidePlanBilling;
  /** the deletion hooks called, point by point (also in `outside`); absent: none configured */
  hooks?: HookPlanLine[];
}


/** Sets each PVC's coverage from the snapshot plan (usable class: covered; refused or none: by its PV's reclaim policy only). */
export function coverVolumes(p: PlanView, snapshots: PlanView['volumeSnapshots']): void {
  p.volumeSnapshots = snapshots ?? null;
  const usable = snapshots && !snapshots.refused && snapshots.deletionPolicy ? { class: snapshots.class, deletionPolicy: snapshots.deletionPolicy } : null;
  for (const v of p.pvcs ?? []) {
    const c = volumeCoverage({ ...(v.volume ? { volumeName: v.volume } : {}), ...(v.reclaimPolicy ? { reclaimPolicy: v.reclaimPolicy } : {}) }, usable);
    v.coverage = c.coverage;
    v.coverageNote = c.note;
  }
}

export function planView(insp: Inspection | null, row: Inspection['row'], customerId: string, namespace: string, simulated: boolean): PlanView {
  const change = `deployment_status ${row.deploymentStatus} → deleting → pending; instance_namespace and instance_url cleared`;
  const base: PlanView = {
    customerId,
    namespace,
    simulated,
    row: { status: row.deploymentStatus, instanceNamespace: row.instanceNamespace, instanceUrl: row.instanceUrl, change, companyName: row.companyName, email: row.email },
    namespaceFound: null,
    releases: [],
    rbac: { delete: [], keptByPolicy: [], keptUnowned: [] },
  };
  if (!insp) return base;
  return {
    ...base,
    namespaceFound: insp.ns !== null,
    namespaceUid: insp.ns?.uid,
    objects: insp.objects,
    releases: insp.releases.map((r) => ({
      name: r.name,
      status: r.status,
      chart: r.chart,
      clusterScoped: r.clusterScoped.map((o) => `${o.kind}/${o.name}`),
      outsideNamespace: r.outsideNamespace.map((o) => `${o.kind} ${o.namespace ?? ''}/${o.name}`),
      clusterRbac: r.clusterRbac.map((o) => `${o.kind}/${o.name}`),
      removal: r.removal.by,
      why: r.removal.why,
      unreadable: r.unreadable.map(unreadableText),
    })),
    pvcs: insp.pvcs?.map((p) => ({
      name: p.name,
      phase: p.phase,
      storage: p.storage,
      volume: p.volumeName,
      reclaimPolicy: p.reclaimPolicy,
      dataLoss: !p.volumeName ? 'no volume bound' : p.reclaimPolicy === 'Delete' ? 'volume and data deleted' : `volume kept (${p.reclaimPolicy ?? 'unknown'})`,
      ...coverageOf(volumeCoverage(p, null)),
    })),
    rbac: {
      delete: insp.rbac.owned.map((o) => ({ kind: o.kind, name: o.name, rule: o.rule })),
      keptByPolicy: insp.rbac.keptByPolicy.map((o) => ({ kind: o.kind, name: o.name })),
      keptUnowned: insp.rbac.keptUnowned,
    },
  };
}

function coverageOf(c: { coverage: VolumeCoverage; note: string }): { coverage: VolumeCoverage; coverageNote: string } {
  return { coverage: c.coverage, coverageNote: c.note };
}
