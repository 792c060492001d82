/** Renders what a restore will do: for --dry-run (stdout) and the confirmation prompt (stderr). */
import type { ChalkInstance } from 'chalk';
import type { RestorePlanView } from '../pipeline/restore.js';
import { h, paint, styled, Styled } from './text.js';

/** The restore plan as it reads: every name and URL from the archive or the cluster made visible. */
export function renderRestorePlan(p: RestorePlanView, chalk: ChalkInstance): Styled {
  const c = paint(chalk);
  const label = (s: string) => c.bold(s.padEnd(13));
  const indent = styled(' '.repeat(13));
  const b = p.backup;
  const lines = [
    h`${c.bold('Customer')}     ${p.customerId}`,
    h`${label('Backup')}${p.from}`,
    h`${indent}written ${b.createdAt} by custctl ${b.custctlVersion} from ${b.cluster.context} (${b.cluster.server}); ${b.entries} entries, ${b.encrypted ? 'decrypted (age), ' : ''}checksums verified, every entry within what the customer owned`,
    h`${label('Namespace')}${c.green('create')} ${p.namespace} with ${p.create.reduce((n, x) => n + x.count, 0)} objects: ${p.create.map((x) => `${x.count} ${x.kind}`).join(', ') || 'none'}`,
  ];
  if (p.skipped.length) lines.push(h`${indent}left to the cluster's controllers: ${p.skipped.length} (${[...new Set(p.skipped.map((s) => s.kind))].join(', ')})`);
  for (const r of p.backup.releases) lines.push(h`${label('Release')}${c.green('restore')} ${r} (its Helm release records)`);
  for (const o of p.clusterRbac) lines.push(h`${label('Cluster RBAC')}${c.green('create')} ${o.replace('/', ' ')}`);
  lines.push(h`${label('Database')}${p.row.change}`);
  return Styled.join(lines);
}
