/**
 * `custctl audit list|verify|prune`: the append-only, hash-chained audit log in the customers
 * database (custctl_audit). `list` reads the database (or `GET /api/admin/audit` with --api-url);
 * `verify` walks the chain in the database and reports the first row that does not verify; `prune`
 * is the one way rows leave it: the database function custctl_audit_prune(), which keeps a minimum
 * age and leaves a chained checkpoint.
 */
import { Command, Option } from '@commander-js/extra-typings';
import { AUDIT_ACTIONS, type AuditRecord } from '../adapters/store.js';
import { AUDIT_PRUNE_MIN_AGE_DAYS } from '../db/migrations.js';
import { parseAnchor, type AuditVerifyReport } from '../domain/audit-chain.js';
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

export async function runAuditPrune(d: Deps, o: { before: string; yes: boolean; allowRecent: boolean; output: OutputFormat }): Promise<{ before: string; pruned: number }> {
  const now = d.now();
  const before = parseTimePoint(o.before, now, '--before');
  if (before.getTime() > now.getTime()) throw new UsageError(`--before ${before.toISOString()} is in the future: that would prune rows just written`);
  // the database function refuses it as well (on the database's clock): this says it sooner
  const floor = now.getTime() - AUDIT_PRUNE_MIN_AGE_DAYS * 86_400_000;
  if (before.getTime() > floor && !o.allowRecent) {
    throw new UsageError(`--before ${before.toISOString()} is less than ${AUDIT_PRUNE_MIN_AGE_DAYS} days ago: audit rows are kept at least ${AUDIT_PRUNE_MIN_AGE_DAYS} days`, [
      `Prune rows older than that (--before ${AUDIT_PRUNE_MIN_AGE_DAYS}d or earlier), or pass --allow-recent to prune younger rows (the prune row records that).`,
    ]);
  }
  if (d.config().apiUrl) {
    throw new UsageError('audit prune acts on the customers database itself, not through the queue API: run it without --api-url, with DATABASE_URL pointing at the database');
  }
  const store = await d.store();
  if (!o.yes) {
    throw new UsageError(`refusing to prune the audit log without --yes: this deletes every audit row recorded before ${before.toISOString()} in ${store.description}`, [
      'The prune is recorded as an audit-pruned row. Pass --yes to go ahead.',
    ]);
  }
  const pruned = await store.pruneAudit(before, cliRequester(d.worker), { allowRecent: o.allowRecent });
  const result = { before: before.toISOString(), pruned };
  await print(d.io, o.output, view(result, (io) => void io.out.write(`pruned ${pruned} audit row${pruned === 1 ? '' : 's'} recorded before ${result.before} from ${store.description} (recorded as audit-pruned)\n`)));
  return result;
}

const short = (h: string | null | undefined) => (h ? h.slice(0, 16) : '-');

export async function runAuditVerify(d: Deps, o: { anchor?: string; output: OutputFormat }, setExit: (code: number) => void): Promise<AuditVerifyReport & { database: string }> {
  const anchor = o.anchor !== undefined ? parseAnchor(o.anchor) : undefined;
  if (anchor === null) throw new UsageError(`--anchor takes SEQ:HASH as 'custctl audit verify' prints the head (e.g. 1234:${'0'.repeat(64)})`);
  if (d.config().apiUrl) {
    throw new UsageError('audit verify reads the customers database itself, not through the queue API: run it without --api-url, with DATABASE_URL pointing at the database');
  }
  const store = await d.store();
  if (!store.verifyAudit) throw new UsageError(`${store.description} keeps no hash-chained audit log`);
  const report = { database: store.description, ...(await store.verifyAudit(anchor ? { anchor } : {})) };
  await print(d.io, o.output, view(report, (io) => {
    const range = report.checked === 0 ? 'no rows' : `${report.checked} row${report.checked === 1 ? '' : 's'} (seq ${report.firstSeq}–${report.lastSeq})`;
    const pruned = report.prunedThrough ? `; rows up to seq ${report.prunedThrough.lastSeq} were pruned (checkpoint at seq ${report.prunedThrough.checkpointSeq})` : '';
    if (report.ok) {
      io.out.write(`${store.description}: audit chain verified: ${range}${pruned}\n`);
    } else {
      const first = report.problems[0];
      io.out.write(`${store.description}: audit chain BROKEN: ${report.problemCount} problem${report.problemCount === 1 ? '' : 's'} in ${range}${pruned}\n`);
      if (first) io.out.write(`first row that does not verify: ${first.id === '-' ? '' : `id ${first.id}, `}seq ${first.seq ?? '-'}${first.action ? ` (${first.action}${first.at ? ` at ${first.at}` : ''})` : ''}: ${first.problem}\n`);
      for (const p of report.problems.slice(1)) io.out.write(`  then ${p.id === '-' ? '' : `id ${p.id}, `}seq ${p.seq ?? '-'}: ${p.problem}\n`);
      if (report.problemCount > report.problems.length) io.out.write(`  … and ${report.problemCount - report.problems.length} more\n`);
    }
    if (report.anchor) io.out.write(`anchor ${report.anchor.seq}:${short(report.anchor.hash)}…: ${report.anchor.ok ? 'ok' : 'FAILED'}: ${report.anchor.note}\n`);
    if (report.head) io.out.write(`head: ${report.head.seq}:${report.head.hash} (keep it outside the database; check it later with --anchor)\n`);
  }));
  if (!report.ok) setExit(1);
  return report;
}

export function makeAuditCommand(d: Deps, setExit: (code: number) => void = () => undefined) {
  const cmd = new Command('audit')
    .description('The append-only audit log of deletions and row changes (in the customers database)')
    .addHelpText('after', '\nExamples:\n  custctl audit list --customer cust_abc123\n  custctl audit list --since 7d --action deletion-completed,deletion-failed -o json\n  custctl audit verify\n  custctl audit prune --before 2025-12-01 --yes');
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
    .command('verify')
    .description('Walk the audit log\'s hash chain and report the first row that does not verify (exit 1 if any)')
    .option('--anchor <seq:hash>', 'also check that the log still holds a head recorded earlier (printed by a previous verify)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl audit verify\n  custctl audit verify --anchor 1234:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n  custctl audit verify -o json | jq .problems')
    .action(async (f) => {
      await runAuditVerify(d, { ...(f.anchor !== undefined ? { anchor: f.anchor } : {}), output: f.output }, setExit);
    });
  cmd
    .command('prune')
    .description(`Delete audit rows recorded before a date (at least ${AUDIT_PRUNE_MIN_AGE_DAYS} days ago), through the database function custctl_audit_prune, which leaves a chained checkpoint`)
    .requiredOption('--before <date|age>', `prune rows recorded before this (2025-12-01, 365d; at least ${AUDIT_PRUNE_MIN_AGE_DAYS}d ago)`)
    .option('--allow-recent', `prune rows younger than ${AUDIT_PRUNE_MIN_AGE_DAYS} days too (recorded in the prune row)`)
    .option('-y, --yes', 'really prune (required)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl audit prune --before 365d --yes\n  custctl audit prune --before 2025-12-01 --yes -o json')
    .action(async (f) => {
      await runAuditPrune(d, { before: f.before, yes: !!f.yes, allowRecent: !!f.allowRecent, output: f.output });
    });
  return cmd;
}
