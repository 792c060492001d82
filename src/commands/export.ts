/**
 * `custctl export <customerId> --to URL`: the customer's data in an archive they can read (their
 * namespace's configuration and secrets as YAML, their account's fields, their volumes and how to
 * get the data on them, a README), written to file:// or s3://, optionally encrypted to their age
 * public key (--recipient) or a passphrase (--passphrase-file). A read of the cluster and the row;
 * local only. Recorded in the audit log (`customer-exported`).
 */
import { Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { parseBackupUrl, parseRecipients } from '../domain/backup.js';
import { parseCustomerId } from '../domain/customer-id.js';
import { exportEncryptionRefusal } from '../domain/export.js';
import { NotFoundError, UsageError } from '../errors.js';
import { cliRequester } from '../jobs/actor.js';
import { onStderr, outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';
import type { WrittenExport } from '../pipeline/export.js';

export interface ExportOptions {
  customerId: string;
  to: string;
  recipients: string[];
  passphraseFile?: string;
  output: OutputFormat;
}

export async function runExport(d: Deps, o: ExportOptions): Promise<WrittenExport> {
  const customer = parseCustomerId(o.customerId);
  const target = parseBackupUrl(o.to, '--to');
  const recipients = parseRecipients(o.recipients, '--recipient');
  if (recipients.length > 0 && o.passphraseFile !== undefined) throw new UsageError('--recipient and --passphrase-file: choose one way to encrypt the export');
  const c = d.config();
  const refusal = exportEncryptionRefusal(c.exportEncryptionRequired, recipients.length > 0 ? 'recipients' : o.passphraseFile !== undefined ? 'passphrase' : 'none');
  if (refusal) throw new UsageError(refusal.message, [refusal.next]);
  if (c.apiUrl) throw new UsageError('export reads the cluster and the customers database itself: run it without --api-url');
  const [{ readSecretFile }, { passphraseFromFile }] = await Promise.all([import('../adapters/secret-files.js'), import('../adapters/export-archive.js')]);
  const encryption = recipients.length > 0
    ? { kind: 'recipients' as const, recipients }
    : o.passphraseFile !== undefined
      ? { kind: 'passphrase' as const, passphrase: passphraseFromFile(await readSecretFile(o.passphraseFile, '--passphrase-file'), o.passphraseFile) }
      : { kind: 'none' as const };
  const store = await d.store();
  const row = await store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found in ${store.description}`, ["List customers with 'custctl customers list'."]);
  let extraFields: Record<string, string> | undefined;
  if (c.eraseColumns.length > 0) {
    if (!store.readPersonalFields) throw new UsageError(`${store.description} cannot read CUSTCTL_ERASE_COLUMNS`);
    const all = await store.readPersonalFields(customer.id, c.eraseColumns);
    extraFields = Object.fromEntries(c.eraseColumns.map((k) => [k, all?.[k] ?? '']));
  }
  if (encryption.kind === 'none') d.log.warn('The export is not encrypted: it holds the customer\'s secrets in clear text (--recipient or --passphrase-file encrypt it)');
  const { collectExport, writeExport } = await import('../pipeline/export.js');
  // the customer's cluster, as its row names it (the one cluster when configured the usual way)
  const kube = d.clusters ? await (await d.clusters()).for(row).kube() : await d.kube();
  const now = d.now();
  const content = await collectExport({ kube, customer, row, ...(extraFields ? { extraFields } : {}), namespacePrefix: c.namespacePrefix, site: c.siteName, now, signal: d.shutdown });
  const { openBackupTarget } = await import('../adapters/backup-target.js');
  const written = await writeExport(content, {
    openTarget: (u) => openBackupTarget(u, d.env), url: target.url, encryption, now, signal: d.shutdown,
    log: (level, message, fields) => d.log.write(level, message, fields),
  });
  await store.appendAudit({
    action: 'customer-exported', actor: cliRequester(d.worker), customerId: customer.id, namespace: content.summary.namespace, outcome: 'exported',
    reason: `${written.url} (${written.encryption === 'none' ? 'not encrypted' : written.encryption === 'recipients' ? `encrypted to ${recipients.length} age recipient${recipients.length === 1 ? '' : 's'}` : 'encrypted with a passphrase'}; ${Object.values(content.summary.included).reduce((a, b) => a + b, 0)} objects)`,
  });
  await print(d.io, o.output, view(written, async (io) => {
    io.out.write(`${written.url}\n`);
    const kinds = Object.entries(written.summary.included).sort(([a], [b]) => a.localeCompare(b));
    if (kinds.length) await printTable(onStderr(io), ['KIND', 'EXPORTED'], kinds);
    if (!written.summary.clusterRead) d.log.warn(`Namespace ${written.summary.namespace} does not exist: the export holds the account's fields only`);
    d.log.info(`${written.files} files, ${written.bytes} bytes, sha256 ${written.sha256}; ${written.summary.excluded.length} objects left out (the README says why)`);
  }));
  return written;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function makeExportCommand(d: Deps) {
  return new Command('export')
    .description("Write a customer's data (configuration and secrets as YAML, account fields, volumes, a README) to file:// or s3://")
    .argument('<customerId>', 'the customer (cust_…)')
    .requiredOption('--to <url>', 'where the archive goes: file:///dir or s3://bucket/prefix')
    .option('--recipient <age-public-key>', "encrypt to the customer's age public key (age1…; repeatable)", collect, [] as string[])
    .option('--passphrase-file <file>', 'encrypt with the passphrase in this file (first line, at least 12 characters; mode 0600): age -d asks for it')
    .addOption(outputOption())
    .addHelpText('after', `
Examples:
  custctl export cust_abc123 --to file:///var/exports --recipient age1…
  custctl export cust_abc123 --to s3://exports/custctl --passphrase-file ./passphrase
  custctl export cust_abc123 --to file:///tmp/export -o json`)
    .action(async (id, f) => {
      await runExport(d, { customerId: id, to: f.to, recipients: f.recipient, ...(f.passphraseFile !== undefined ? { passphraseFile: f.passphraseFile } : {}), output: f.output });
    });
}
