/**
 * `custctl backups list|prune`: the backups in a target (`--backup URL`, else CUSTCTL_BACKUP_URL),
 * file:// or s3://. `prune --older-than 90d` removes those taken before then: a plan first, then a
 * typed confirmation on a terminal (or --yes); each archive removed is an audit row
 * (`backup-pruned`) when a customers database is configured.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { BackupTarget } from '../adapters/backup-target.js';
import type { CustomerStore } from '../adapters/store.js';
import type { Deps } from '../deps.js';
import { parseBackupUrl } from '../domain/backup.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { formatDuration } from '../domain/duration.js';
import { UsageError } from '../errors.js';
import type { IO } from '../io.js';
import { durationFlag } from '../flags.js';
import { cliRequester } from '../jobs/actor.js';
import { ago, outputOption, print, printTable, view, type OutputFormat, onStderr } from '../output/print.js';
import type { BackupListing } from '../pipeline/backups.js';
import { confirmOrRefuse } from '../prompt.js';

/** The shortest `--older-than`: a backup a deletion wrote today is never pruned by a slip of the finger. */
export const MIN_PRUNE_AGE_MS = 24 * 3600_000;

export interface BackupsListOptions {
  backup?: string;
  customer?: string;
  output: OutputFormat;
}

export interface BackupsPruneOptions extends BackupsListOptions {
  olderThanMs: number;
  dryRun: boolean;
  yes: boolean;
}

export interface PruneReport {
  dryRun: boolean;
  target: string;
  olderThan: string;
  cutoff: string;
  candidates: BackupListing[];
  removed: BackupListing[];
  /** false: no customers database configured, nothing recorded */
  audited: boolean;
}

async function openTarget(d: Deps, flag: string | undefined): Promise<BackupTarget> {
  const raw = flag ?? d.config().backupUrl;
  if (!raw) throw new UsageError('which backups? pass --backup file:///dir or s3://bucket/prefix (or set CUSTCTL_BACKUP_URL)');
  const url = parseBackupUrl(raw, '--backup');
  const { openBackupTarget } = await import('../adapters/backup-target.js');
  return openBackupTarget(url, d.env);
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

async function table(io: IO, now: number, rows: readonly BackupListing[]): Promise<void> {
  await printTable(io, ['NAME', 'CUSTOMER', 'TAKEN', 'AGE', 'SIZE', 'ENCRYPTED'], rows.map((b) => [
    b.name, b.customerId, b.createdAt, ago(new Date(b.createdAt).getTime(), now), size(b.bytes), b.encrypted ? 'age' : 'no',
  ]));
}

export async function runBackupsList(d: Deps, o: BackupsListOptions): Promise<BackupListing[]> {
  const customerId = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
  const target = await openTarget(d, o.backup);
  const { listBackups } = await import('../pipeline/backups.js');
  const rows = await listBackups(target, customerId, d.shutdown);
  await print(d.io, o.output, view(rows, async () => {
    if (rows.length === 0) {
      d.log.info(`No backups${customerId ? ` of ${customerId}` : ''} in ${target.url}`);
      return;
    }
    await table(d.io, d.now().getTime(), rows);
  }, { names: () => rows.map((b) => `backup/${b.name}`) }));
  return rows;
}

/** The audit log, when there is one: a configured database. None configured: null (not audited, said on stderr). */
async function auditStore(d: Deps): Promise<CustomerStore | null> {
  try {
    return await d.store();
  } catch (e) {
    if (e instanceof UsageError) return null;
    throw e; // configured but unreachable: nothing is pruned unrecorded
  }
}

export async function runBackupsPrune(d: Deps, o: BackupsPruneOptions): Promise<PruneReport> {
  const customerId = o.customer !== undefined ? parseCustomerId(o.customer).id : undefined;
  if (o.olderThanMs < MIN_PRUNE_AGE_MS) throw new UsageError(`--older-than ${formatDuration(o.olderThanMs)} is shorter than a day: refusing (a backup a deletion has just written must not go by a slip)`);
  if (o.dryRun && o.yes) throw new UsageError('--dry-run and --yes contradict each other: drop one');
  const target = await openTarget(d, o.backup);
  const { listBackups, pruneCandidates, removeBackups } = await import('../pipeline/backups.js');
  const cutoff = new Date(d.now().getTime() - o.olderThanMs);
  const candidates = pruneCandidates(await listBackups(target, customerId, d.shutdown), cutoff);
  const days = o.olderThanMs / 86_400_000;
  const report: PruneReport = { dryRun: o.dryRun, target: target.url, olderThan: Number.isInteger(days) ? `${days}d` : formatDuration(o.olderThanMs), cutoff: cutoff.toISOString(), candidates, removed: [], audited: false };
  const say = () => print(d.io, o.output, view(report, async (io) => {
    if (candidates.length === 0) {
      io.out.write(`No backups${customerId ? ` of ${customerId}` : ''} taken before ${report.cutoff} in ${target.url}: nothing to prune\n`);
      return;
    }
    await table(io, d.now().getTime(), o.dryRun ? candidates : report.removed);
    io.out.write(o.dryRun
      ? `Dry run: ${candidates.length} backup${candidates.length === 1 ? '' : 's'} taken before ${report.cutoff} would be deleted from ${target.url}\n`
      : `Deleted ${report.removed.length} backup${report.removed.length === 1 ? '' : 's'} taken before ${report.cutoff} from ${target.url}${report.audited ? ' (recorded as backup-pruned in the audit log)' : ''}\n`);
  }));
  if (o.dryRun || candidates.length === 0) {
    await say();
    return report;
  }
  const store = await auditStore(d);
  if (!o.yes) {
    await table(onStderr(d.io), d.now().getTime(), candidates);
    await confirmOrRefuse(d, `Delete these ${candidates.length} backups from ${target.url} for good? Type their count (${candidates.length}) to confirm`, String(candidates.length), `delete ${candidates.length} backups from ${target.url}`);
  }
  if (!store) d.log.warn('No customers database configured: the prune is not recorded in an audit log');
  const actor = cliRequester(d.worker);
  report.audited = store !== null;
  report.removed = await removeBackups(target, candidates, async (b) => {
    d.log.info('Backup deleted', { url: b.url });
    await store?.appendAudit({
      action: 'backup-pruned', actor, customerId: b.customerId, outcome: 'deleted',
      reason: `${b.url} taken ${b.createdAt}: older than ${report.olderThan}`,
    });
  }, d.shutdown);
  await say();
  return report;
}

export function makeBackupsCommand(d: Deps) {
  const cmd = new Command('backups')
    .description('The backups in a target (file:// or s3://): list them, prune old ones')
    .addHelpText('after', `
Examples:
  custctl backups list --backup file:///var/backups/custctl
  custctl backups list --customer cust_abc123 -o json          # target: CUSTCTL_BACKUP_URL
  custctl backups prune --older-than 90d --dry-run
  custctl backups prune --older-than 90d --yes --backup s3://backups/custctl`);
  cmd
    .command('list')
    .description('List the backups, oldest first')
    .option('--backup <url>', 'the target: file:///dir or s3://bucket/prefix (default CUSTCTL_BACKUP_URL)')
    .option('--customer <id>', 'only this customer')
    .addOption(outputOption({ list: true }))
    .addHelpText('after', '\nExamples:\n  custctl backups list --backup file:///var/backups/custctl\n  custctl backups list --customer cust_abc123 -o json          # target: CUSTCTL_BACKUP_URL')
    .action(async (f) => {
      await runBackupsList(d, { ...(f.backup !== undefined ? { backup: f.backup } : {}), ...(f.customer !== undefined ? { customer: f.customer } : {}), output: f.output });
    });
  cmd
    .command('prune')
    .description('Delete the backups taken longer ago than --older-than (asks first; audited)')
    .addOption(new Option('--older-than <duration>', 'delete backups taken before now minus this (e.g. 90d; at least 1d)').argParser(durationFlag('--older-than')).makeOptionMandatory())
    .option('--backup <url>', 'the target: file:///dir or s3://bucket/prefix (default CUSTCTL_BACKUP_URL)')
    .option('--customer <id>', 'only this customer')
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl backups prune --older-than 90d --dry-run\n  custctl backups prune --older-than 90d --yes --backup s3://backups/custctl\n  custctl backups prune --older-than 180d --customer cust_abc123')
    .action(async (f) => {
      await runBackupsPrune(d, {
        ...(f.backup !== undefined ? { backup: f.backup } : {}),
        ...(f.customer !== undefined ? { customer: f.customer } : {}),
        olderThanMs: f.olderThan, dryRun: !!f.dryRun, yes: !!f.yes, output: f.output,
      });
    });
  return cmd;
}
