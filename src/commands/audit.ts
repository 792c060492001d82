/**
 * `custctl audit list|prune`: the append-only audit log in the customers database (custctl_audit).
 * `list` reads the database (or `GET /api/admin/audit` with --api-url); `prune` is the one way
 * rows leave it: the database function custctl_audit_prune(), which records the prune itself.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { AUDIT_ACTIONS, type AuditRecord } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { parseTimePoint } from '../domain/time-window.js';
import { UsageError } from '../errors.js';
import { cliRequester } from '../jobs/actor.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';

export interface AuditListOptions {
  customer?: string;
  since?: string;
  actions: string[];
  limit: number;
  output: OutputFormat;
}

function checkActions(actions: readonly string[]): string[] {
  const list = actions.flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  for (const a of list) {
    if (!(AUDIT_ACTIONS as readonly string[]).includes(a)) throw new UsageError(`unknown audit action ${JSON.stringify(a.slice(0, 40))}: one of ${AUDIT_ACTIONS.join(', ')}`);
  }
  return list;
}

/** What a row removed, in a few words: `2 releases, Deployment 1 Pod 2, ClusterRole/x`. */
export function deletedSummary(r: AuditRecord): string {
  const d = r.deleted;
  if (!d) return '';
  const parts: string[] = [];
  if (d.releases?.length) parts.push(`releases ${d.releases.join(' ')}`);
  const kinds = Object.entries(d.objects ?? {});
  if (kinds.length) parts.push(kinds.map(([k, n]) => `${k} ${n}`).join(' '));
  if (d.rbac?.length) parts.push(d.rbac.join(' '));
  if (d.auditRows !== undefined) parts.push(`${d.auditRows} audit rows`);
  return parts.join(', ');
}

export async function runAuditList(d: Deps, o: AuditListOptions): Promise<AuditRecord[]> {
  const customerId = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
  const since = o.since !== undefined ? parseTimePoint(o.since, d.now(), '--since') : undefined;
  const actions = checkActions(o.actions);
  if (!Number.isInteger(o.limit) || o.limit < 1 || o.limit > 100_000) throw new UsageError('--limit must be a whole number from 1 to 100000');
  const client = await d.client();
  const rows = await client.audit({ ...(customerId ? { customerId } : {}), ...(since ? { since } : {}), actions, limit: o.limit });
  await print(d.io, o.output, view(rows, async (io) => {
    if (rows.length === 0) {
      d.log.info('No audit rows match');
      return;
    }
    await printTable(io, ['TIME', 'ACTION', 'CUSTOMER', 'JOB', 'OUTCOME', 'ROW', 'WHO', 'DELETED / REASON'], rows.map((r) => [
      r.at, r.action, r.customerId ?? '-', r.jobId ?? '-', r.outcome ?? '-', r.rowStatus ?? '-', r.actor,
      [deletedSummary(r), r.reason ?? ''].filter(Boolean).join('; ') || '-',
    ]));
  }));
  return rows;
}

export async function runAuditPrune(d: Deps, o: { before: string; yes: boolean; output: OutputFormat }): Promise<{ before: string; pruned: number }> {
  const now = d.now();
  const before = parseTimePoint(o.before, now, '--before');
  if (before.getTime() > now.getTime()) throw new UsageError(`--before ${before.toISOString()} is in the future: that would prune rows just written`);
  if (d.config().apiUrl) {
    throw new UsageError('audit prune acts on the customers database itself, not through the queue API: run it without --api-url, with DATABASE_URL pointing at the database');
  }
  const store = await d.store();
  if (!o.yes) {
    throw new UsageError(`refusing to prune the audit log without --yes: this deletes every audit row recorded before ${before.toISOString()} in ${store.description}`, [
      'The prune is recorded as an audit-pruned row. Pass --yes to go ahead.',
    ]);
  }
  const pruned = await store.pruneAudit(before, cliRequester(d.env, d.worker));
  const result = { before: before.toISOString(), pruned };
  await print(d.io, o.output, view(result, (io) => void io.out.write(`pruned ${pruned} audit row${pruned === 1 ? '' : 's'} recorded before ${result.before} from ${store.description} (recorded as audit-pruned)\n`)));
  return result;
}

export function makeAuditCommand(d: Deps) {
  const cmd = new Command('audit')
    .description('The append-only audit log of deletions and row changes (in the customers database)')
    .addHelpText('after', '\nExamples:\n  custctl audit list --customer cust_abc123\n  custctl audit list --since 7d --action deletion-completed,deletion-failed -o json\n  custctl audit prune --before 2025-12-01 --yes');
  cmd
    .command('list')
    .description('List audit rows, newest first')
    .option('--customer <id>', 'only this customer')
    .option('--since <age|date>', 'only rows at or after this (7d, 12h, 2026-11-01)')
    .addOption(new Option('--action <actions...>', `only these actions (comma separated or repeated): ${AUDIT_ACTIONS.join(', ')}`))
    .option('--limit <n>', 'at most this many rows', (v) => Number(v), 1000)
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl audit list --customer cust_abc123\n  custctl audit list --since 7d --action deletion-completed,deletion-failed -o json')
    .action(async (f) => {
      await runAuditList(d, {
        ...(f.customer !== undefined ? { customer: f.customer } : {}),
        ...(f.since !== undefined ? { since: f.since } : {}),
        actions: f.action ?? [], limit: f.limit, output: f.output,
      });
    });
  cmd
    .command('prune')
    .description('Delete audit rows recorded before a date, through the database function custctl_audit_prune (itself audited)')
    .requiredOption('--before <date|age>', 'prune rows recorded before this (2025-12-01, 365d)')
    .option('-y, --yes', 'really prune (required)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl audit prune --before 365d --yes\n  custctl audit prune --before 2025-12-01 --yes -o json')
    .action(async (f) => {
      await runAuditPrune(d, { before: f.before, yes: !!f.yes, output: f.output });
    });
  return cmd;
}
