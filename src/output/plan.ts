/** Renders what a deletion will act on: for dry-run (stdout) and the confirmation prompt (stderr). */
import type { ChalkInstance } from 'chalk';
import type { PlanView } from '../pipeline/plan.js';
import { h, paint, styled, Styled } from './text.js';

export { planView, type PlanView } from '../pipeline/plan.js';

/** The plan as it reads: every name, e-mail, URL and error in it made visible (src/output/text.ts). */
export function renderPlan(p: PlanView, chalk: ChalkInstance): Styled {
  const c = paint(chalk);
  const lines: Styled[] = [];
  const label = (s: string) => c.bold(s.padEnd(13));
  const indent = styled(' '.repeat(13));
  lines.push(h`${c.bold('Customer')}     ${p.customerId}  ${whoIs(p.row)}${p.simulated ? c.yellow('  (simulated: cluster untouched)') : ''}`);
  if (p.cluster) lines.push(h`${label('Cluster')}${p.cluster.name}  (context ${p.cluster.context}, ${p.cluster.server})`);
  if (p.alreadyDeleted) {
    lines.push(h`${label('Status')}${c.green(alreadyDeletedText(p.alreadyDeleted))}: nothing left on the cluster, nothing to do (no job is created)`);
    return Styled.join(lines);
  }
  if (p.namespaceFound === null) {
    lines.push(h`${label('Namespace')}${p.namespace} (not inspected)`);
  } else if (!p.namespaceFound) {
    lines.push(h`${label('Namespace')}${p.namespace} ${c.yellow('not found (already gone)')}`);
  } else {
    const total = (p.objects ?? []).reduce((n, o) => n + o.count, 0);
    const kinds = [...(p.objects ?? [])].sort((a, b) => b.count - a.count).map((o) => `${o.count} ${o.resource}`).join(', ');
    lines.push(h`${label('Namespace')}${c.red('delete')} ${p.namespace}${p.objects ? ` with ${total} objects${kinds ? `: ${kinds}` : ''}` : ''}`);
  }
  if (p.namespaceFound !== null) {
    if (p.releases.length === 0) lines.push(h`${label('Releases')}none found`);
    for (const r of p.releases) {
      lines.push(r.removal === 'namespace'
        ? h`${label('Release')}${c.red('remove')} ${r.name} (${r.status}, ${r.chart}): removed with the namespace: ${r.why} (no helm process)`
        : h`${label('Release')}${c.red('uninstall')} ${r.name} (${r.status}, ${r.chart}) with helm: ${r.why}`);
      for (const o of r.clusterScoped) lines.push(h`${indent}${c.red('cluster-scoped')} ${o}`);
      for (const o of r.outsideNamespace) lines.push(h`${indent}${c.red('outside the namespace')} ${o}`);
      for (const u of r.unreadable) lines.push(h`${indent}${c.red('unknown')} ${u}: treated as possibly cluster-scoped`);
    }
    if (p.volumeSnapshots) {
      const s = p.volumeSnapshots;
      lines.push(s.refused
        ? h`${label('Snapshots')}${c.red('REFUSED')} ${s.refused}: the deletion will be refused, nothing deleted`
        : h`${label('Snapshots')}${c.green('take and wait for')} a VolumeSnapshot of every bound PVC first (class ${s.class}, ${s.deletionPolicy ?? '?'}${s.driver ? `, driver ${s.driver}` : ''})`);
    }
    for (const v of p.pvcs ?? []) {
      const warn = v.reclaimPolicy === 'Delete' ? c.red(v.dataLoss) : c.yellow(v.dataLoss);
      const cover = v.coverage === 'snapshot' ? c.green(v.coverageNote) : v.coverage === 'not-covered' ? c.red(v.coverageNote) : v.coverageNote;
      lines.push(h`${label('PVC')}${v.name} ${v.storage ?? ''} ${v.phase}${v.volume ? ` → ${v.volume}` : ''}: ${warn}; ${cover}`);
    }
    if (p.rbac.delete.length === 0) lines.push(h`${label('Cluster RBAC')}none owned`);
    for (const o of p.rbac.delete) lines.push(h`${label('Cluster RBAC')}${c.red('delete')} ${o.kind} ${o.name} (${o.rule})`);
    for (const o of p.rbac.keptByPolicy) lines.push(h`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (helm.sh/resource-policy: keep)`);
    for (const o of p.rbac.keptUnowned) lines.push(h`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (binds an owned role, carries no ownership mark)`);
  }
  if (p.backup) {
    lines.push(h`${label('Backup')}${c.green('write and verify')} ${p.backup.url} first: ${p.backup.covers}`);
    if (p.backup.encryptedTo?.length) lines.push(h`${indent}${c.green('encrypted')} to age ${p.backup.encryptedTo.map((r) => `${r.slice(0, 12)}…${r.slice(-6)}`).join(', ')} (this tool cannot read it back)`);
    for (const n of p.backup.notCovered) lines.push(h`${indent}${c.yellow('not in the backup')} ${n}`);
  } else if (p.backup === null) {
    lines.push(h`${label('Backup')}${c.yellow('none')} (no --backup, and CUSTCTL_BACKUP_URL is not set or --no-backup)`);
  }
  for (const s of p.outside ?? []) {
    for (const [i, l] of s.lines.entries()) lines.push(h`${i === 0 ? label(s.label) : indent}${s.refusal ? c.red(l) : l}`);
  }
  lines.push(h`${label('Database')}${p.row.change}`);
  return Styled.join(lines);
}

/** Who the customer is, beside its ID: `(Example Corp, ops@example.com)`, the values made visible. */
export function whoIs(row: { companyName?: string; email?: string }): Styled {
  return h`(${row.companyName || '-'}, ${row.email || '-'})`;
}

/** `already deleted (by job 12, 2026-12-01T10:00:00.000Z)` */
export function alreadyDeletedText(a: { byJob: string | null; at: string | null }): string {
  const parts = [a.byJob ? `by job ${a.byJob}` : null, a.at].filter((x): x is string => !!x);
  return `already deleted${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** What several plans add up to: the closing summary of a bulk confirmation and dry run. */
export interface PlanTotals {
  customers: number;
  /** plans that looked at the cluster (not simulated, not through the API) */
  inspected: number;
  namespaces: number;
  namespacesGone: number;
  namespaceObjects: number;
  releases: number;
  /** PVCs whose data goes with the namespace: not snapshotted, volume reclaimed (Delete) */
  pvcsDataLost: number;
  pvcs: number;
  rbac: number;
  /** objects of the releases outside the namespace (cluster-scoped, other namespaces) */
  outside: number;
  total: number;
}

export function planTotals(plans: ReadonlyArray<PlanView | null>): PlanTotals {
  const t: PlanTotals = { customers: plans.length, inspected: 0, namespaces: 0, namespacesGone: 0, namespaceObjects: 0, releases: 0, pvcsDataLost: 0, pvcs: 0, rbac: 0, outside: 0, total: 0 };
  for (const p of plans) {
    if (!p || p.namespaceFound === null) continue;
    t.inspected += 1;
    if (p.namespaceFound) t.namespaces += 1;
    else t.namespacesGone += 1;
    t.namespaceObjects += (p.objects ?? []).reduce((n, o) => n + o.count, 0);
    t.releases += p.releases.length;
    t.outside += p.releases.reduce((n, r) => n + r.clusterScoped.length + r.outsideNamespace.length, 0);
    t.pvcs += p.pvcs?.length ?? 0;
    t.pvcsDataLost += (p.pvcs ?? []).filter((v) => v.coverage === 'not-covered').length;
    t.rbac += p.rbac.delete.length;
  }
  t.total = t.namespaceObjects + t.rbac + t.outside;
  return t;
}

/**
 * `Summary  20 customers` and what they add up to: namespaces (with their objects), Helm releases,
 * PVCs whose data is lost, cluster RBAC objects, objects in all.
 */
export function renderBulkSummary(plans: ReadonlyArray<PlanView | null>, chalk: ChalkInstance): Styled {
  const c = paint(chalk);
  const t = planTotals(plans);
  const label = (s: string) => c.bold(s.padEnd(13));
  const indent = styled(' '.repeat(13));
  const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
  const lines = [h`${label('Summary')}${c.bold(n(t.customers, 'customer'))}`];
  const uninspected = t.customers - t.inspected;
  if (t.inspected > 0) {
    lines.push(h`${indent}${c.red(n(t.namespaces, 'namespace'))} with ${n(t.namespaceObjects, 'object')}${t.namespacesGone ? ` (${t.namespacesGone} already gone)` : ''}`);
    lines.push(h`${indent}${n(t.releases, 'Helm release')}${t.outside ? c.red(` holding ${n(t.outside, 'object')} outside their namespaces`) : ''}`);
    lines.push(h`${indent}${t.pvcsDataLost ? c.red(`${n(t.pvcsDataLost, 'PVC')} whose data is lost`) : c.green('no PVC whose data is lost')}${t.pvcs ? ` (of ${n(t.pvcs, 'PVC')})` : ''}`);
    lines.push(h`${indent}${n(t.rbac, 'cluster RBAC object')}`);
    lines.push(h`${indent}${c.bold(`${n(t.total, 'object')} deleted in all`)}${uninspected ? ` (${n(uninspected, 'customer')} not inspected)` : ''}`);
  } else {
    lines.push(h`${indent}not inspected here (${plans.some((p) => p?.simulated) ? 'simulated: the cluster is not touched' : 'each deletion inspects its customer when it runs'})`);
  }
  return Styled.join(lines);
}
