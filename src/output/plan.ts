/** Renders what a deletion will act on: for dry-run (stdout) and the confirmation prompt (stderr). */
import type { ChalkInstance } from 'chalk';
import type { PlanView } from '../pipeline/plan.js';

export { planView, type PlanView } from '../pipeline/plan.js';

export function renderPlan(p: PlanView, c: ChalkInstance): string {
  const lines: string[] = [];
  const label = (s: string) => c.bold(s.padEnd(13));
  lines.push(`${c.bold('Customer')}     ${p.customerId}  ${whoIs(p.row)}${p.simulated ? c.yellow('  (simulated: cluster untouched)') : ''}`);
  if (p.alreadyDeleted) {
    lines.push(`${label('Status')}${c.green(alreadyDeletedText(p.alreadyDeleted))}: nothing left on the cluster, nothing to do (no job is created)`);
    return lines.join('\n');
  }
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
      lines.push(r.removal === 'namespace'
        ? `${label('Release')}${c.red('remove')} ${r.name} (${r.status}, ${r.chart}): removed with the namespace: ${r.why} (no helm process)`
        : `${label('Release')}${c.red('uninstall')} ${r.name} (${r.status}, ${r.chart}) with helm: ${r.why}`);
      for (const o of r.clusterScoped) lines.push(`${' '.repeat(13)}${c.red('cluster-scoped')} ${o}`);
      for (const o of r.outsideNamespace) lines.push(`${' '.repeat(13)}${c.red('outside the namespace')} ${o}`);
      for (const u of r.unreadable) lines.push(`${' '.repeat(13)}${c.red('unknown')} ${u}: treated as possibly cluster-scoped`);
    }
    if (p.volumeSnapshots) {
      const s = p.volumeSnapshots;
      lines.push(s.refused
        ? `${label('Snapshots')}${c.red('REFUSED')} ${s.refused}: the deletion will be refused, nothing deleted`
        : `${label('Snapshots')}${c.green('take and wait for')} a VolumeSnapshot of every bound PVC first (class ${s.class}, ${s.deletionPolicy ?? '?'}${s.driver ? `, driver ${s.driver}` : ''})`);
    }
    for (const v of p.pvcs ?? []) {
      const warn = v.reclaimPolicy === 'Delete' ? c.red(v.dataLoss) : c.yellow(v.dataLoss);
      const cover = v.coverage === 'snapshot' ? c.green(v.coverageNote) : v.coverage === 'not-covered' ? c.red(v.coverageNote) : v.coverageNote;
      lines.push(`${label('PVC')}${v.name} ${v.storage ?? ''} ${v.phase}${v.volume ? ` → ${v.volume}` : ''}: ${warn}; ${cover}`);
    }
    if (p.rbac.delete.length === 0) lines.push(`${label('Cluster RBAC')}none owned`);
    for (const o of p.rbac.delete) lines.push(`${label('Cluster RBAC')}${c.red('delete')} ${o.kind} ${o.name} (${o.rule})`);
    for (const o of p.rbac.keptByPolicy) lines.push(`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (helm.sh/resource-policy: keep)`);
    for (const o of p.rbac.keptUnowned) lines.push(`${label('Cluster RBAC')}keep ${o.kind} ${o.name} (binds an owned role, carries no ownership mark)`);
  }
  if (p.backup) {
    lines.push(`${label('Backup')}${c.green('write and verify')} ${p.backup.url} first: ${p.backup.covers}`);
    if (p.backup.encryptedTo?.length) lines.push(`${' '.repeat(13)}${c.green('encrypted')} to age ${p.backup.encryptedTo.map((r) => `${r.slice(0, 12)}…${r.slice(-6)}`).join(', ')} (this tool cannot read it back)`);
    for (const n of p.backup.notCovered) lines.push(`${' '.repeat(13)}${c.yellow('not in the backup')} ${n}`);
  } else if (p.backup === null) {
    lines.push(`${label('Backup')}${c.yellow('none')} (no --backup, and CUSTCTL_BACKUP_URL is not set or --no-backup)`);
  }
  lines.push(`${label('Database')}${p.row.change}`);
  return lines.join('\n');
}

/** Who the customer is, beside its ID: `(Example Corp, ops@example.com)`. */
export function whoIs(row: { companyName?: string; email?: string }): string {
  return `(${row.companyName || '-'}, ${row.email || '-'})`;
}

/** `already deleted (by job 12, 2026-12-01T10:00:00.000Z)` */
export function alreadyDeletedText(a: { byJob: string | null; at: string | null }): string {
  const parts = [a.byJob ? `by job ${a.byJob}` : null, a.at].filter((x): x is string => !!x);
  return `already deleted${parts.length ? ` (${parts.join(', ')})` : ''}`;
}
