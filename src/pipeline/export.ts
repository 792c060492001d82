/**
 * A customer's export, read from the cluster and the row (src/domain/export.ts decides what goes
 * in and how it is cleaned) and written, optionally encrypted, to a backup target (file:// or
 * s3://), then read back and compared. Only reads: nothing of the customer's instance changes.
 *
 * The namespace is the one custctl derives from the customer id; a row that names another is
 * refused before any call to the cluster, and every object read must be of that namespace (an
 * object of another is never written: the export stops).
 */
import { stringify } from 'yaml';
import { encryptExport, packExport, sha256Hex, type ExportEncryption, type ExportFile } from '../adapters/export-archive.js';
import type { OpenBackupTarget } from '../adapters/backup-target.js';
import type { Kube, PvcInfo } from '../adapters/kube.js';
import type { CustomerRow } from '../adapters/store.js';
import type { KubeObject } from '../domain/backup.js';
import type { CustomerId } from '../domain/customer-id.js';
import {
  cleanForExport, EXPORT_FORMAT, EXPORT_RETENTION_DAYS, exportArchiveName, exportDecision, exportReadme,
  type ExportSection, type ExportVolume,
} from '../domain/export.js';
import { checkRowNamespace, namespaceFor } from '../domain/namespace-name.js';
import { InvalidNamespaceError, OperationError } from '../errors.js';
import { SUSPENDED_ANNOTATION } from './suspend.js';
import type { StepLog } from './types.js';
import { isDeletionSnapshot } from './volume-snapshots.js';

export interface ExportInput {
  kube: Pick<Kube, 'getNamespace' | 'exportNamespaceObjects' | 'listPvcs'>;
  customer: CustomerId;
  row: CustomerRow;
  /** the site's extra personal columns (CUSTCTL_ERASE_COLUMNS) as stored: theirs too */
  extraFields?: Readonly<Record<string, string>>;
  namespacePrefix: string;
  /** CUSTCTL_SITE_NAME: who made the export (the README says it) */
  site: string;
  now: Date;
  signal?: AbortSignal;
}

export interface ExportSummary {
  format: typeof EXPORT_FORMAT;
  customerId: string;
  createdAt: string;
  namespace: string;
  /** false: the namespace does not exist (the account's instance is gone): the export holds the row only */
  clusterRead: boolean;
  /** objects included, by kind */
  included: Record<string, number>;
  excluded: Array<{ kind: string; name: string; reason: string }>;
  volumes: ExportVolume[];
  releases: string[];
}

export interface ExportContent {
  /** the directory the archive unpacks into */
  root: string;
  files: ExportFile[];
  summary: ExportSummary;
}

const SECTION_FILES: Record<ExportSection, { path: string; what: string }> = {
  configuration: { path: 'kubernetes/configuration.yaml', what: 'your ConfigMaps: the configuration of your application' },
  secrets: { path: 'kubernetes/secrets.yaml', what: 'your Secrets, readable values as `stringData` (passwords, keys, certificates: keep it safe)' },
  workloads: { path: 'kubernetes/workloads.yaml', what: 'what runs your application (Deployments, StatefulSets, CronJobs, …)' },
  network: { path: 'kubernetes/network.yaml', what: 'how it is reached (Services, Ingresses)' },
  storage: { path: 'kubernetes/storage.yaml', what: "your volumes' definitions (PersistentVolumeClaims; the data on them: see \"Your volumes\" below)" },
  other: { path: 'kubernetes/other.yaml', what: 'the other objects of your instance (custom resources)' },
};

const json = (v: unknown) => Buffer.from(`${JSON.stringify(v, null, 2)}\n`);
const yamlDocs = (objects: readonly KubeObject[]) => Buffer.from(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));

function volumesOf(pvcs: readonly PvcInfo[], objects: readonly KubeObject[]): ExportVolume[] {
  const specOf = new Map(objects.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => [o.metadata.name, (o.spec ?? {}) as { storageClassName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } }]));
  return [...pvcs].sort((a, b) => a.name.localeCompare(b.name)).map((p) => {
    const spec = specOf.get(p.name);
    return {
      pvc: p.name,
      storage: p.storage ?? spec?.resources?.requests?.storage ?? null,
      storageClass: spec?.storageClassName ?? null,
      accessModes: spec?.accessModes ?? [],
      volume: p.volumeName ?? null,
      reclaimPolicy: p.reclaimPolicy ?? null,
    };
  });
}

/** What the archive holds, read from the cluster and the row; nothing written yet. */
export async function collectExport(i: ExportInput): Promise<ExportContent> {
  const namespace = namespaceFor(i.customer, i.namespacePrefix);
  try {
    checkRowNamespace(i.customer, i.row.instanceNamespace, i.namespacePrefix);
  } catch (e) {
    if (!(e instanceof InvalidNamespaceError)) throw e;
    throw new InvalidNamespaceError(`refusing to export ${i.customer.id}: its row says instance_namespace=${JSON.stringify(i.row.instanceNamespace)}, but ${i.customer.id} may only own namespace ${JSON.stringify(namespace)}`, ['Nothing was read from the cluster. Fix the row (or CUSTCTL_NAMESPACE_PREFIX).']);
  }
  if (i.row.customerId !== i.customer.id) throw new OperationError(`the row read is of ${i.row.customerId}, not ${i.customer.id}: refusing`);
  const createdAt = i.now.toISOString();
  const ns = await i.kube.getNamespace(namespace, i.signal);
  const objects = ns ? await i.kube.exportNamespaceObjects(namespace, i.signal) : [];
  const pvcs = ns ? await i.kube.listPvcs(namespace, i.signal) : [];

  const sections = new Map<ExportSection, KubeObject[]>();
  const excluded: ExportSummary['excluded'] = [];
  const included: Record<string, number> = {};
  const releases = new Set<string>();
  for (const o of objects) {
    const d = exportDecision(o, namespace); // throws on an object of another namespace
    if (o.kind === 'Secret' && (o as { type?: string }).type === 'helm.sh/release.v1') {
      const name = o.metadata.labels?.name;
      if (name) releases.add(name);
    }
    if (!d.include) {
      excluded.push({ kind: o.kind, name: o.metadata.name, reason: d.reason });
      continue;
    }
    if (isDeletionSnapshot(o)) {
      excluded.push({ kind: o.kind, name: o.metadata.name, reason: 'a snapshot the platform took of a volume before a deletion' });
      continue;
    }
    const cleaned = cleanForExport(o, o.metadata.annotations?.[SUSPENDED_ANNOTATION]);
    sections.set(d.section, [...(sections.get(d.section) ?? []), cleaned]);
    included[o.kind] = (included[o.kind] ?? 0) + 1;
  }

  const files: ExportFile[] = [];
  const described: Array<{ path: string; what: string }> = [];
  const account = {
    customerId: i.row.customerId,
    email: i.row.email,
    companyName: i.row.companyName,
    instanceUrl: i.row.instanceUrl,
    status: i.row.deploymentStatus,
    createdAt: i.row.createdAt,
    deletionScheduledAt: i.row.deletionScheduledAt,
    ...(i.extraFields && Object.keys(i.extraFields).length ? { other: { ...i.extraFields } } : {}),
  };
  files.push({ path: 'account.json', data: json(account) });
  described.push({ path: 'account.json', what: 'your account as we keep it (e-mail, company, address of your instance, status)' });
  for (const section of Object.keys(SECTION_FILES) as ExportSection[]) {
    const list = (sections.get(section) ?? []).sort((a, b) => a.kind.localeCompare(b.kind) || a.metadata.name.localeCompare(b.metadata.name));
    if (list.length === 0) continue;
    files.push({ path: SECTION_FILES[section].path, data: yamlDocs(list) });
    described.push(SECTION_FILES[section]);
  }
  const volumes = volumesOf(pvcs, objects);
  if (volumes.length) {
    files.push({ path: 'volumes.json', data: json(volumes) });
    described.push({ path: 'volumes.json', what: 'your volumes: size, class, what happens to them (see "Your volumes")' });
  }
  const summary: ExportSummary = {
    format: EXPORT_FORMAT, customerId: i.customer.id, createdAt, namespace, clusterRead: ns !== null,
    included, excluded, volumes, releases: [...releases].sort(),
  };
  files.push({ path: 'export.json', data: json(summary) });
  described.push({ path: 'export.json', what: 'what this export holds and leaves out, for programs' });
  files.unshift({
    path: 'README.md',
    data: Buffer.from(exportReadme({
      customerId: i.customer.id, site: i.site, createdAt, namespace, clusterRead: ns !== null, dueAt: i.row.deploymentStatus === 'deleting' ? i.row.deletionScheduledAt : null,
      files: described, excluded, volumes, releases: summary.releases,
    })),
  });
  const root = exportArchiveName(i.customer.id, i.now, false).replace(/\.tar\.gz$/, '');
  return { root, files, summary };
}

export interface WrittenExport {
  url: string;
  bytes: number;
  /** of the bytes written (encrypted ones, when encrypted) */
  sha256: string;
  encryption: ExportEncryption['kind'];
  /** age recipients the archive is encrypted to */
  recipients?: string[];
  files: number;
  summary: ExportSummary;
}

/** Packs, encrypts as asked, writes (never over an existing object), reads back and compares. */
export async function writeExport(c: ExportContent, o: { openTarget: OpenBackupTarget; url: string; encryption: ExportEncryption; now: Date; signal?: AbortSignal; log?: StepLog }): Promise<WrittenExport> {
  const plain = await packExport(c.root, c.files, o.now);
  const bytes = await encryptExport(plain, o.encryption);
  const name = exportArchiveName(c.summary.customerId, o.now, o.encryption.kind !== 'none');
  const target = await o.openTarget(o.url);
  o.signal?.throwIfAborted();
  const url = await target.put(name, bytes, { customerId: c.summary.customerId, retentionDays: EXPORT_RETENTION_DAYS }, o.signal);
  const back = await target.get(name, o.signal);
  if (sha256Hex(back) !== sha256Hex(bytes)) throw new OperationError(`export ${url} read back differs from what was written (${back.length} bytes, wrote ${bytes.length})`);
  o.log?.('ok', 'Export written and read back', { url, bytes: bytes.length, encryption: o.encryption.kind });
  return {
    url, bytes: bytes.length, sha256: sha256Hex(bytes), encryption: o.encryption.kind,
    ...(o.encryption.kind === 'recipients' ? { recipients: [...o.encryption.recipients] } : {}),
    files: c.files.length + 1, summary: c.summary,
  };
}
