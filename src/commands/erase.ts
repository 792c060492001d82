/**
 * `custctl erase <customerId>`: the "right to be forgotten" after a hard deletion. What it does and
 * refuses is src/jobs/erase.ts (the same for the API and the automatic erasure); this command
 * shows the plan, asks (type the id, or --yes), runs it, and keeps the signed certificate.
 */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import type { SignedCertificate } from '../domain/certificate.js';
import { parseBackupUrl } from '../domain/backup.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { UsageError } from '../errors.js';
import { cliRequester } from '../jobs/actor.js';
import type { ErasureReport } from '../jobs/erase.js';
import { outputOption, print, view, type OutputFormat } from '../output/print.js';
import { confirmOrRefuse } from '../prompt.js';

export interface EraseOptions {
  customerId: string;
  dryRun: boolean;
  yes: boolean;
  targets: string[];
  certificateOut?: string;
  output: OutputFormat;
}

export type EraseResult = ErasureReport;

function planLines(r: ErasureReport): string[] {
  const lines = [
    `row fields: ${r.fields.length ? r.fields.join(', ') : 'none hold a value'}`,
    `backups and exports: ${r.objects.length ? `${r.objects.length} object(s)` : 'none'} in ${r.targets.length ? r.targets.join(', ') : 'no configured target (CUSTCTL_BACKUP_URL, CUSTCTL_ERASE_TARGETS, --target)'}`,
    ...r.objects.map((u) => `  ${u}`),
    `billing: ${r.billing ? `${r.billing.provider} customer ${r.billing.customer ?? '(none found)'}: ${r.billing.outcome}` : 'not configured'}`,
    ...(r.billing?.notes ?? []).map((n) => `  ${n}`),
  ];
  if (r.journal) lines.push(`job journal: ${r.journal.scrubbed ? `${r.journal.rewritten} of ${r.journal.jobs} job(s) rewritten, ${r.journal.valuesReplaced} value(s) replaced` : r.journal.note ?? 'not rewritten'}`);
  else lines.push('job journal: the finished jobs of the customer, personal values replaced by [erased]');
  return lines;
}

export async function runErase(d: Deps, o: EraseOptions): Promise<EraseResult> {
  const customer = parseCustomerId(o.customerId);
  if (o.dryRun && o.yes) throw new UsageError('--dry-run and --yes contradict each other: drop one');
  const targets = o.targets.map((t) => parseBackupUrl(t, '--target').url);
  const c = d.config();
  if (c.apiUrl) throw new UsageError('erase runs against the customers database and the targets itself: run it without --api-url, or ask the server (POST /api/admin/customers/ID/erase)');
  const [{ jobsEnv }, { eraseCustomer, eraseEnvOf }, { openBackupTarget }] = await Promise.all([import('../jobs/env.js'), import('../jobs/erase.js'), import('../adapters/backup-target.js')]);
  const env = await jobsEnv(d);
  const { saveCertificate } = await import('../adapters/certificate-files.js');
  const eraseEnv = {
    ...eraseEnvOf(env, { openTarget: (u: string) => openBackupTarget(u, d.env), log: (level, message, fields) => d.log.write(level, message, fields), signal: d.shutdown }),
    keepCertificate: (doc: SignedCertificate) => saveCertificate(c.stateDir, doc, o.certificateOut),
  };
  const actor = cliRequester(d.worker);
  const plan = await eraseCustomer(eraseEnv, { customerId: customer.id, actor, dryRun: true, targets });
  if (o.dryRun) {
    const result: EraseResult = plan;
    await print(d.io, o.output, view(result, (io) => {
      io.out.write(`Dry run: erasing ${customer.id} would delete:\n${planLines(plan).map((l) => `  ${l}`).join('\n')}\n`);
    }));
    return result;
  }
  if (!o.yes) {
    d.io.err.write(`Erasing ${customer.id} deletes for good:\n${planLines(plan).map((l) => `  ${l}`).join('\n')}\n`);
    await confirmOrRefuse(d, `Type the customer id (${customer.id}) to erase it`, customer.id, `erase ${customer.id}`);
  }
  const report = await eraseCustomer(eraseEnv, { customerId: customer.id, actor, dryRun: false, targets });
  const certificatePath = report.certificatePath;
  if (!report.certificate && report.outcome === 'erased' && !c.signingKeyFile) {
    d.log.warn('No certificate: the site has no signing key (CUSTCTL_SIGNING_KEY_FILE; make one with custctl certificate keygen)');
  }
  const result: EraseResult = report;
  await print(d.io, o.output, view(result, (io) => {
    if (report.outcome === 'nothing-to-erase') {
      io.out.write(`${customer.id}: nothing to erase (its fields are empty, no backups, exports or billing customer found)\n`);
      return;
    }
    io.out.write(`Erased ${customer.id}:\n${planLines(report).map((l) => `  ${l}`).join('\n')}\n`);
    if (report.audit) io.out.write(`  audit: row ${report.audit.seq} (customer-erased)\n`);
    if (certificatePath) io.out.write(`  certificate: ${certificatePath} (custctl certificate verify ${certificatePath})\n`);
    for (const w of report.warnings) d.log.warn(w);
  }));
  return result;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function makeEraseCommand(d: Deps) {
  return new Command('erase')
    .description("Erase a deleted customer's personal data: the row's fields, its backups and exports, the billing customer, the job journal's text; signed certificate")
    .argument('<customerId>', 'the customer (cust_…): deleted, with no pending deletion')
    .option('--dry-run', 'list what would be erased; change nothing', false)
    .option('-y, --yes', 'do not ask (type-to-confirm otherwise)', false)
    .option('--target <url>', 'another backup or export target to empty (file:///dir or s3://bucket/prefix; repeatable; besides CUSTCTL_BACKUP_URL and CUSTCTL_ERASE_TARGETS)', collect, [] as string[])
    .option('--certificate-out <file>', 'where the signed certificate goes (default: <state dir>/certificates/)')
    .addOption(outputOption())
    .addHelpText('after', `
Refused (exit 4, nothing changed) while the customer has an instance, a pending or scheduled
deletion, or a job that has not ended; exit 3 when there is no such customer.

Examples:
  custctl erase cust_abc123 --dry-run
  custctl erase cust_abc123 --yes --certificate-out cert.json
  CUSTCTL_ERASE_TARGETS=s3://exports/custctl custctl erase cust_abc123 -o json`)
    .action(async (id, f) => {
      await runErase(d, { customerId: id, dryRun: f.dryRun, yes: f.yes, targets: f.target, ...(f.certificateOut !== undefined ? { certificateOut: f.certificateOut } : {}), output: f.output });
    });
}
