/** Renders what a restore will do: for --dry-run (stdout) and the confirmation prompt (stderr). */
import type { ChalkInstance } from 'chalk';
import type { RestorePlanView } from '../pipeline/restore.js';

export function renderRestorePlan(p: RestorePlanView, c: ChalkInstance): string {
  const label = (s: string) => c.bold(s.padEnd(13));
  const b = p.backup;
  const lines = [
    `${c.bold('Customer')}     ${p.customerId}`,
    `${label('Backup')}${p.from}`,
    `${' '.repeat(13)}written ${b.createdAt} by custctl ${b.custctlVersion} from ${b.cluster.context} (${b.cluster.server}); ${b.entries} entries, ${b.encrypted ? 'decrypted (age), ' : ''}checksums verified, every entry within what the customer owned`,
    `${label('Namespace')}${c.green('create')} ${p.namespace} with ${p.create.reduce((n, x) => n + x.count, 0)} objects: ${p.create.map((x) => `${x.count} ${x.kind}`).join(', ') || 'none'}`,
  ];
  if (p.skipped.length) lines.push(`${' '.repeat(13)}left to the cluster's controllers: ${p.skipped.length} (${[...new Set(p.skipped.map((s) => s.kind))].join(', ')})`);
  for (const r of p.backup.releases) lines.push(`${label('Release')}${c.green('restore')} ${r} (its Helm release records)`);
  for (const o of p.clusterRbac) lines.push(`${label('Cluster RBAC')}${c.green('create')} ${o.replace('/', ' ')}`);
  lines.push(`${label('Database')}${p.row.change}`);
  return lines.join('\n');
}
