/**
 * `custctl restore <customerId> --from URL`: bring a deleted customer back from a backup. Shows the
 * plan (what the verified archive holds, what will be created), confirms like `delete`, then runs
 * the restore as a journaled job in this process.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { withCompletions } from '../completions.js';
import { parseBackupUrl } from '../domain/backup.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { jobExitCode, type Job } from '../domain/job.js';
import { OperationError } from '../errors.js';
import { intFlag } from '../flags.js';
import { outputOption, print, view, writeStyled, type OutputFormat } from '../output/print.js';
import { h } from '../output/text.js';
import { renderRestorePlan } from '../output/restore-plan.js';
import type { RestorePlanView, RestoreResult } from '../pipeline/restore.js';
import { confirmOrRefuse } from '../prompt.js';

export interface RestoreOptions {
  id: string;
  from: string;
  dryRun: boolean;
  yes: boolean;
  output: OutputFormat;
  /** age identity file for an encrypted backup (default CUSTCTL_BACKUP_IDENTITY) */
  identity?: string;
  /** creates in flight inside a tier */
  concurrency?: number;
  /** read a file target others can write, or owned by another user */
  trustLocation?: boolean;
}

export interface RestoreReport {
  dryRun: boolean;
  target: { context?: string; server?: string; database: string };
  plan: RestorePlanView;
  jobId: string | null;
  state: Job['state'] | 'planned';
  result: RestoreResult | null;
  error: string | null;
  exitCode: number;
}

export async function runRestore(o: RestoreOptions, d: Deps): Promise<RestoreReport> {
  const customer = parseCustomerId(o.id);
  parseBackupUrl(o.from, '--from');
  const client = await d.client();
  const req = { ...(o.identity !== undefined ? { identityFile: o.identity } : {}), ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}), ...(o.trustLocation ? { trustLocation: true } : {}) };
  const { target, plan } = await client.planRestore(customer, o.from, req);
  if (o.dryRun) return { dryRun: true, target, plan, jobId: null, state: 'planned', result: null, error: null, exitCode: 0 };
  if (!o.yes) {
    d.log.line(renderRestorePlan(plan, d.io.errChalk));
    await confirmOrRefuse(d, `Restore ${customer.id} into context ${target.context ?? '-'}? Type its customer ID to confirm`, customer.id, `restore ${customer.id}`);
  }
  // the archive the plan showed, by its URL and its sha256: a directory is not chosen again, a replaced file is refused
  const job = await client.submitRestore(customer, plan.from, { ...req, sha256: plan.backup.sha256 });
  const final = await client.follow(job, { label: customer.id, run: true });
  if (final.state !== 'completed' && final.state !== 'failed') {
    const why = client.interrupted(final);
    throw new OperationError(`interrupted: restore job ${final.id} is ${final.state}`, why.details);
  }
  const exitCode = jobExitCode(final);
  return {
    dryRun: false,
    target,
    plan,
    jobId: final.id,
    state: final.state,
    result: (final.returnvalue as RestoreResult | null) ?? null,
    error: final.state === 'failed' ? final.failedReason : null,
    exitCode,
  };
}

export function makeRestoreCommand(d: Deps, setExit: (code: number) => void, runF = runRestore) {
  // offered at TAB: a deleted customer (its row back to pending)
  return withCompletions(new Command('restore'), { customers: (r) => r.deploymentStatus === 'pending' })
    .description('Bring a deleted customer back from a backup: namespace, objects, Helm release records, cluster RBAC, row')
    .argument('<customerId>', 'customer ID (cust_…); its row must be pending and its namespace absent')
    .requiredOption('--from <url>', 'the backup: file:///dir/NAME.tar.gz, or a directory/prefix (the customer\'s newest backup there, by the time in its manifest)')
    .option('--identity <file>', 'age identity file (AGE-SECRET-KEY-1…) that decrypts an encrypted backup (default CUSTCTL_BACKUP_IDENTITY)')
    .addOption(new Option('--concurrency <n>', 'objects created at once inside a tier (default 16; 1: one by one)').argParser(intFlag('--concurrency', 1, 64)))
    .option('--trust-backup-location', 'read a backup file or directory that other users can write or own (refused otherwise)')
    .option('--dry-run', 'verify the backup and show what would be created, change nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .addOption(outputOption())
    .addHelpText('after', `
Examples:
  custctl restore cust_abc123 --from file:///var/backups/custctl --dry-run
  custctl restore cust_abc123 --from file:///var/backups/custctl/cust_abc123-20261201T131500Z.tar.gz --yes
  custctl restore cust_abc123 --from s3://backups/custctl --identity ~/.config/custctl/backup-key.txt`)
    .action(async (id, f) => {
      const r = await runF({ id, from: f.from, dryRun: !!f.dryRun, yes: !!f.yes, output: f.output, ...(f.identity !== undefined ? { identity: f.identity } : {}), ...(f.concurrency !== undefined ? { concurrency: f.concurrency } : {}), ...(f.trustBackupLocation ? { trustLocation: true } : {}) }, d);
      await print(d.io, f.output, view(r, (io) => {
        if (r.dryRun) {
          writeStyled(io, h`Dry run: nothing will be changed. context ${r.target.context ?? '-'} (${r.target.server ?? '-'}), database ${r.target.database}\n\n${renderRestorePlan(r.plan, io.chalk)}\n`);
          return;
        }
        const x = r.result;
        writeStyled(io, r.state === 'completed' && x
          ? h`${r.plan.customerId} restored (job ${r.jobId}): namespace ${x.namespace}, ${x.created} objects created${x.existed ? `, ${x.existed} already there` : ''}, ${x.clusterRbac.length} cluster RBAC, row ${x.row.status}\n`
          : h`${r.plan.customerId}: restore job ${r.jobId} ${r.state}\n`);
        if (r.error) d.log.error(r.error);
      }));
      setExit(r.exitCode);
    });
}
