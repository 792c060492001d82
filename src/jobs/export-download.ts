/**
 * A customer's export as a download (the portal's "Download the export"): the same archive as
 * `custctl export` (src/pipeline/export.ts: what is theirs, never another's, never the operator's
 * cluster RBAC), packed in memory and, when the customer gives a passphrase, encrypted to it; an
 * audit row records that it was taken (by whom, how many objects, encrypted or not; no location:
 * the archive is handed to the customer, not stored).
 */
import type { Kube } from '../adapters/kube.js';
import type { CustomerRow } from '../adapters/store.js';
import type { CustomerStore } from '../adapters/store.js';
import type { CustomerId } from '../domain/customer-id.js';
import { exportArchiveName } from '../domain/export.js';
import { NotFoundError, UsageError } from '../errors.js';

export interface ExportDownloadEnv {
  store: CustomerStore;
  /** the customer's cluster's client (clusters.for(row).kube) */
  kube: (row: CustomerRow) => Promise<Kube>;
  config: { simulate: boolean; namespacePrefix: string; siteName: string; eraseColumns: readonly string[] };
  now: () => number;
}

export async function exportDownload(env: ExportDownloadEnv, customer: CustomerId, o: { passphrase?: string; actor: string }): Promise<{ name: string; bytes: Buffer; objects: number }> {
  if (env.config.simulate) throw new UsageError('exports read the cluster, and this server is simulated (SIMULATE_K8S_DEPLOYMENT): no export can be made');
  const row = await env.store.get(customer.id);
  if (!row) throw new NotFoundError(`customer ${customer.id} not found`);
  let extraFields: Record<string, string> | undefined;
  if (env.config.eraseColumns.length > 0 && env.store.readPersonalFields) {
    const all = await env.store.readPersonalFields(customer.id, env.config.eraseColumns);
    extraFields = Object.fromEntries(env.config.eraseColumns.map((k) => [k, all?.[k] ?? '']));
  }
  const [{ collectExport }, { encryptExport, packExport }] = await Promise.all([import('../pipeline/export.js'), import('../adapters/export-archive.js')]);
  const now = new Date(env.now());
  const content = await collectExport({ kube: await env.kube(row), customer, row, ...(extraFields ? { extraFields } : {}), namespacePrefix: env.config.namespacePrefix, site: env.config.siteName, now });
  const plain = await packExport(content.root, content.files, now);
  const encrypted = o.passphrase !== undefined;
  const bytes = encrypted ? await encryptExport(plain, { kind: 'passphrase', passphrase: o.passphrase as string }) : plain;
  const objects = Object.values(content.summary.included).reduce((a, b) => a + b, 0);
  await env.store.appendAudit({
    action: 'customer-exported', actor: o.actor, customerId: customer.id, namespace: content.summary.namespace, outcome: 'exported',
    reason: `downloaded (${encrypted ? 'encrypted with a passphrase' : 'not encrypted'}; ${objects} objects)`,
  });
  return { name: exportArchiveName(customer.id, now, encrypted), bytes, objects };
}
