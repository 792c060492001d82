/** Renders what a deletion will act on: for dry-run (stdout) and the confirmation prompt (stderr). */
import type { Inspection } from '../pipeline/types.js';
import type { ChalkInstance } from 'chalk';

export interface PlanView {
  customerId: string;
  namespace: string;
  simulated: boolean;
  row: { status: string; instanceNamespace: string; instanceUrl: string; change: string };
  namespaceFound: boolean | null;
  namespaceUid?: string;
  objects?: Array<{ resource: string; kind: string; count: number }>;
  /** outsideNamespace: `Kind namespace/name` of namespaced objects the release keeps in other namespaces */
  releases: Array<{ name: string; status: string; chart: string; clusterScoped: string[]; outsideNamespace: string[]; clusterRbac: string[] }>;
  pvcs?: Array<{ name: string; phase: string; storage?: string; volume?: string; reclaimPolicy?: string; dataLoss: string }>;
  rbac: { delete: Array<{ kind: string; name: string; rule: string }>; keptByPolicy: Array<{ kind: string; name: string }>; keptUnowned: Array<{ kind: string; name: string }> };
}

export function planView(insp: Inspection | null, row: Inspection['row'], customerId: string, namespace: string, simulated: boolean): PlanView {
  const change = `deployment_status ${row.deploymentStatus} → deleting → pending; instance_namespace and instance_url cleared`;
  const base: PlanView = {
    customerId,
    namespace,
    simulated,
    row: { status: row.deploymentStatus, instanceNamespace: row.instanceNamespace, instanceUrl: row.instanceUrl, change },
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
    })),
    pvcs: insp.pvcs?.map((p) => ({
      name: p.name,
      phase: p.phase,
      storage: p.storage,
      volume: p.volumeName,
      reclaimPolicy: p.reclaimPolicy,
      dataLoss: !p.volumeName ? 'no volume bound' : p.reclaimPolicy === 'Delete' ? 'volume and data deleted' : `volume kept (${p.reclaimPolicy ?? 'unknown'})`,
    })),
    rbac: {
      delete: insp.rbac.owned.map((o) => ({ kind: o.kind, name: o.name, rule: o.rule })),
      keptByPolicy: insp.rbac.keptByPolicy.map((o) => ({ kind: o.kind, name: o.name })),
      keptUnowned: insp.rbac.keptUnowned,
    },
  };
}

export function renderPlan(p: PlanView, c: ChalkInstance): string {
  const lines: string[] = [];
  const label = (s: string) => c.bold(s.padEnd(13));
  lines.push(`${c.bold('Customer')}     ${p.customerId}${p.simulated ? c.yellow('  (simulated: cluster untouched)') : ''}`);
  if (p.namespaceFound === null) {
    lines.push(`${label('Namespace')}${p.namespace} (not inspected)`);
  } else if (!p.namespaceFound) {
    lines.push(`${label('Namespace')}${p.namespace} ${c.yellow('not found (already gone)')}`);
  } else {
    const total = (p.objects ?? []).reduce((n, o) => n + o.count, 0);
    const kinds = (p.objects ?? []).sort((a, b) => b.count - a.count).map((o) => `${o.count} ${o.resource}`).join(', ');
    lines.push(`${label('Namespace')}${c.red('delete')} ${p.namespace}${p.objects ? ` with ${total} objects${kinds ? `: ${kinds}` : ''}` : ''}`);
  }
  if (p.namespaceFound !== null) {
    if (p.releases.length === 0) lines.push(`${label('Releases')}none found`);
    for (const r of p.releases) {
      lines.push(`${label('Release')}${c.red('uninstall')} ${r.name} (${r.status}, ${r.chart})`);
      for (const o of r.clusterScoped) lines.push(`${' '.repeat(13)}${c.red('cluster-scoped')} ${o}`);
      for (const o of r.outsideNamespace) lines.push(`${' '.repeat(13)}${c.red('outside the namespace')} ${o}`);
    }
    for (const v of p.pvcs ?? []) {
      const warn = v.reclaimPolicy === 'Delete' ? c.red(v.dataLoss) : c.yellow(v.dataLoss);
      lines.push(`${label('PVC')}${v.name} ${v.storage ?? ''} ${v.phase}${v.volume ? ` → ${v.volume}` : ''}: ${warn}`);
    }
    if (p.rbac.delete.length === 0) lines.push(`${label('Cluster RBAC')}none owned`);
    for (const o of p.rbac.delete) lines.push(`${label('Cluster RBAC')}${c.red('delete')} ${o.kind} ${o.name} (${o.rule})`);
    for (const o of p.rbac.keptByPolicy) lines.push(`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (helm.sh/resource-policy: keep)`);
    for (const o of p.rbac.keptUnowned) lines.push(`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (binds an owned role, carries no ownership mark)`);
  }
  lines.push(`${label('Database')}${p.row.change}`);
  return lines.join('\n');
}
