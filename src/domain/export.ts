/**
 * A customer's export: what of the cluster and the row is theirs to take away, in a form they can
 * read and use elsewhere. Pure rules; src/pipeline/export.ts reads the cluster and writes the archive.
 *
 * Included: the objects of the customer's own namespace that make up their instance: ConfigMaps
 * and Secrets (their configuration), workloads, Services, Ingresses, PVCs, autoscalers, disruption
 * budgets, custom resources of their app. Cleaned of what the server set (status, uid,
 * resourceVersion, managedFields, …) and of the platform's bookkeeping (Helm's ownership
 * annotations, the namespace), so `kubectl apply -f` takes them anywhere.
 *
 * Left out, each listed in the README with the reason:
 * - Helm's release records (the platform's chart as installed; the objects it made are included);
 * - service-account token Secrets (credentials that work only inside this cluster);
 * - what the cluster makes in every namespace (kube-root-ca.crt, the default ServiceAccount) or
 *   makes from other objects (anything with an owner reference, Endpoints, EndpointSlices, Events);
 * - the platform's settings in the namespace: ResourceQuota, LimitRange, NetworkPolicy, Role,
 *   RoleBinding, ServiceAccount;
 * - never anything cluster-scoped (the operator's cluster RBAC) or of another namespace.
 *
 * The row: the customer's own fields (id, e-mail, company, URL, status, when it was created and
 * when its deletion is due, and the site's extra personal columns), never custctl's bookkeeping.
 */
import type { KubeObject } from './backup.js';

export const EXPORT_FORMAT = 'custctl-export/1';
/** S3 tag `retention-days` of an export: the site's lifecycle rule removes it after this. */
export const EXPORT_RETENTION_DAYS = 30;
/** The shortest passphrase an export is encrypted with (age scrypt). */
export const MIN_PASSPHRASE_LENGTH = 12;

/** `cust_abc-export-20261201T131500Z.tar.gz` (`.age` when encrypted): never the name of a backup, so `restore` and `backups list` never take one for a backup. */
export function exportArchiveName(customerId: string, at: Date, encrypted: boolean): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${customerId}-export-${stamp}.tar.gz${encrypted ? '.age' : ''}`;
}

/** What an export's name says; undefined for anything else (a backup included). */
export function exportInfo(name: string): { customerId: string; createdAt: Date; encrypted: boolean } | undefined {
  const m = /^(cust_[a-z0-9]{1,44})-export-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z\.tar\.gz(\.age)?$/.exec(name);
  if (!m) return undefined;
  const [, customerId, y, mo, d, h, mi, se, age] = m as unknown as [string, string, string, string, string, string, string, string, string | undefined];
  return { customerId, createdAt: new Date(`${y}-${mo}-${d}T${h}:${mi}:${se}Z`), encrypted: age !== undefined };
}

/** Where an included object goes. */
export type ExportSection = 'configuration' | 'secrets' | 'workloads' | 'network' | 'storage' | 'other';

export type ExportDecision = { include: true; section: ExportSection } | { include: false; reason: string };

const PLATFORM_SETTINGS = new Set(['ResourceQuota', 'LimitRange', 'NetworkPolicy', 'Role', 'RoleBinding', 'ServiceAccount']);
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'Pod', 'ReplicaSet', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']);
const NETWORK = new Set(['Service', 'Ingress']);

export class ForeignObjectError extends Error {}

/**
 * Whether an object of the namespace goes into the export. An object of another namespace (or
 * none) is never decided on: ForeignObjectError, and the export stops.
 */
export function exportDecision(o: KubeObject, namespace: string): ExportDecision {
  if (o.metadata.namespace !== namespace) {
    throw new ForeignObjectError(`${o.kind} ${o.metadata.name} is in ${JSON.stringify(o.metadata.namespace ?? '(no namespace)')}, not ${namespace}: an export holds only the customer's namespace`);
  }
  const md = o.metadata as KubeObject['metadata'] & { ownerReferences?: unknown[] };
  const type = (o as { type?: unknown }).type;
  if (o.kind === 'Secret' && type === 'helm.sh/release.v1') return { include: false, reason: "the platform's Helm release record (the chart as installed); the objects it made are included" };
  if (o.kind === 'Secret' && type === 'kubernetes.io/service-account-token') return { include: false, reason: 'a service-account token: a credential that works only inside this cluster' };
  if (o.kind === 'ConfigMap' && md.name === 'kube-root-ca.crt') return { include: false, reason: "the cluster's certificate authority, made in every namespace" };
  if (o.kind === 'Event' || o.apiVersion.startsWith('events.k8s.io/')) return { include: false, reason: 'events are not kept' };
  if (o.kind === 'Endpoints' || o.kind === 'EndpointSlice') return { include: false, reason: "made by the cluster from the Services" };
  if (Array.isArray(md.ownerReferences) && md.ownerReferences.length > 0) return { include: false, reason: 'made by the cluster from another object of this export (it has an owner)' };
  if (PLATFORM_SETTINGS.has(o.kind)) return { include: false, reason: "a setting of the platform (quotas, network and access rules): not part of your application's configuration" };
  if (o.kind === 'ConfigMap') return { include: true, section: 'configuration' };
  if (o.kind === 'Secret') return { include: true, section: 'secrets' };
  if (WORKLOADS.has(o.kind)) return { include: true, section: 'workloads' };
  if (NETWORK.has(o.kind)) return { include: true, section: 'network' };
  if (o.kind === 'PersistentVolumeClaim') return { include: true, section: 'storage' };
  return { include: true, section: 'other' };
}

const SERVER_SET = ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'namespace', 'ownerReferences', 'finalizers'];
const DROPPED_ANNOTATION = /^(meta\.helm\.sh\/|kubectl\.kubernetes\.io\/last-applied-configuration$|deployment\.kubernetes\.io\/|pv\.kubernetes\.io\/|volume\.(beta\.)?kubernetes\.io\/|control-plane\.alpha\.kubernetes\.io\/|custctl\.io\/)/;

/** Printable text: no control characters but tab, newline and carriage return. */
function printable(s: string): boolean {
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/.test(s);
}

/**
 * An object as the customer gets it: no status, no server-set metadata, no namespace (applied
 * where they choose), no platform annotations; the fields the API server allocates in a spec
 * left out (a Service's cluster IPs, a PVC's bound volume). A Secret's values that are text are
 * written as `stringData` (readable; kubectl applies it the same), binary values stay `data`.
 * `suspendedFrom`: a workload scaled down while its deletion waits gets back the count it had.
 */
export function cleanForExport(o: KubeObject, suspendedFrom?: string): KubeObject {
  const c = JSON.parse(JSON.stringify(o)) as KubeObject & { data?: Record<string, string>; stringData?: Record<string, string>; spec?: Record<string, unknown> };
  delete c.status;
  const md = c.metadata as Record<string, unknown> & { annotations?: Record<string, string> };
  for (const k of SERVER_SET) delete md[k];
  if (md.annotations) {
    for (const a of Object.keys(md.annotations)) if (DROPPED_ANNOTATION.test(a)) delete md.annotations[a];
    if (Object.keys(md.annotations).length === 0) delete md.annotations;
  }
  const spec = c.spec;
  if (c.kind === 'Service' && spec) {
    delete spec.clusterIP;
    delete spec.clusterIPs;
    if (Array.isArray(spec.ports) && spec.type !== 'NodePort' && spec.type !== 'LoadBalancer') for (const p of spec.ports as Array<Record<string, unknown>>) delete p.nodePort;
  }
  if (c.kind === 'PersistentVolumeClaim' && spec) delete spec.volumeName;
  if (suspendedFrom !== undefined && spec) {
    if (c.kind === 'CronJob') spec.suspend = suspendedFrom === 'true';
    else if (/^\d+$/.test(suspendedFrom)) spec.replicas = Number(suspendedFrom);
  }
  if (c.kind === 'Secret' && c.data) {
    const text: Record<string, string> = {};
    const binary: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.data)) {
      const decoded = Buffer.from(v, 'base64');
      const s = decoded.toString('utf8');
      if (decoded.toString('base64') === v && Buffer.from(s, 'utf8').equals(decoded) && printable(s)) text[k] = s;
      else binary[k] = v;
    }
    delete c.data;
    if (Object.keys(binary).length) c.data = binary;
    if (Object.keys(text).length) c.stringData = { ...(c.stringData ?? {}), ...text };
  }
  return c;
}

export interface ExportVolume {
  pvc: string;
  /** requested size, e.g. `10Gi` */
  storage: string | null;
  storageClass: string | null;
  accessModes: string[];
  /** the bound PV and its reclaim policy */
  volume: string | null;
  reclaimPolicy: string | null;
}

/** The README's section for one volume: what it is, what happens to it, how to get its data out. */
export function volumeSection(v: ExportVolume, namespace: string, dueAt: string | null): string {
  const lines = [`### Volume \`${v.pvc}\``, ''];
  lines.push(`- Size: ${v.storage ?? 'not recorded'}${v.storageClass ? `, storage class \`${v.storageClass}\`` : ''}${v.accessModes.length ? `, access ${v.accessModes.join(', ')}` : ''}`);
  lines.push(`- Volume: ${v.volume ? `\`${v.volume}\`` : 'none bound'}`);
  const fate = !v.volume
    ? 'No volume is bound to it: it holds no data.'
    : v.reclaimPolicy === 'Delete'
      ? `When your account is deleted${dueAt ? ` (${dueAt})` : ''}, this volume and the data on it are deleted with it (reclaim policy Delete). Take the data out before then.`
      : `Its reclaim policy is ${v.reclaimPolicy ?? 'unknown'}: the volume is kept when your account is deleted, but you will have no access to it. Ask us for a copy if you need one later.`;
  lines.push(`- ${fate}`, '');
  lines.push('This export holds the volume\'s definition (`kubernetes/storage.yaml`), not the files on it: they are your application\'s data, as your application wrote them. To take them with you:');
  lines.push('');
  lines.push('1. Through your application, if it has an export or backup function (a database dump, a download of uploaded files): that is the most faithful copy.');
  lines.push('2. With access to your namespace, copy the files with a short-lived pod that mounts the volume (scale your application down first if the volume can be mounted by one pod only):');
  lines.push('');
  lines.push('   ```sh');
  lines.push(`   kubectl -n ${namespace} run export-${v.pvc.slice(0, 40)} --image=busybox --restart=Never \\`);
  lines.push(`     --overrides='{"spec":{"containers":[{"name":"x","image":"busybox","command":["sleep","3600"],"volumeMounts":[{"name":"d","mountPath":"/data"}]}],"volumes":[{"name":"d","persistentVolumeClaim":{"claimName":"${v.pvc}"}}]}}'`);
  lines.push(`   kubectl -n ${namespace} exec export-${v.pvc.slice(0, 40)} -- tar czf - -C /data . > ${v.pvc}.tar.gz`);
  lines.push(`   kubectl -n ${namespace} delete pod export-${v.pvc.slice(0, 40)}`);
  lines.push('   ```');
  lines.push('');
  lines.push('3. Otherwise, contact us before the deletion and we make the copy for you.');
  lines.push('');
  return lines.join('\n');
}

export interface ReadmeFacts {
  customerId: string;
  site: string;
  createdAt: string;
  namespace: string;
  /** null: the namespace no longer exists (the account was deleted): the export holds the row only */
  clusterRead: boolean;
  /** ISO time the deletion is due, when one is scheduled */
  dueAt: string | null;
  files: Array<{ path: string; what: string }>;
  excluded: Array<{ kind: string; name: string; reason: string }>;
  volumes: ExportVolume[];
  releases: string[];
}

export function exportReadme(f: ReadmeFacts): string {
  const out: string[] = [];
  out.push(`# Your data export (${f.customerId})`, '');
  out.push(`Made by ${f.site} on ${f.createdAt}.`, '');
  if (f.dueAt) out.push(`**Your account is scheduled for deletion on ${f.dueAt}.** After that date your application, its configuration and the data on its volumes cannot be recovered.`, '');
  out.push('## What is in this archive', '');
  for (const file of f.files) out.push(`- \`${file.path}\`: ${file.what}`);
  out.push('- `SHA256SUMS`: a checksum of every file (`sha256sum -c SHA256SUMS` checks them)', '');
  if (!f.clusterRead) {
    out.push(`Your instance (namespace \`${f.namespace}\`) no longer exists, so this export holds your account's details only.`, '');
  } else {
    out.push('The Kubernetes files can be applied to another cluster with `kubectl apply -f kubernetes/ -n YOUR-NAMESPACE`.', '');
    out.push('**`kubernetes/secrets.yaml` holds your passwords, keys and certificates in clear text: keep it as safe as the originals.**', '');
    if (f.releases.length) out.push(`Your instance was installed as ${f.releases.map((r) => `\`${r}\``).join(', ')}; the objects it made are in \`kubernetes/\`.`, '');
  }
  if (f.volumes.length) {
    out.push('## Your volumes', '');
    for (const v of f.volumes) out.push(volumeSection(v, f.namespace, f.dueAt));
  }
  if (f.excluded.length) {
    out.push('## Not included', '');
    const byReason = new Map<string, string[]>();
    for (const x of f.excluded) byReason.set(x.reason, [...(byReason.get(x.reason) ?? []), `${x.kind} ${x.name}`]);
    for (const [reason, names] of byReason) out.push(`- ${names.map((n) => `\`${n}\``).join(', ')}: ${reason}`);
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

/**
 * Site policy CUSTCTL_EXPORT_ENCRYPTION=required: an export holds the customer's secrets, so the
 * site may refuse to write one in clear text. The message says how to encrypt it.
 */
export function exportEncryptionRefusal(required: boolean, encryption: 'none' | 'recipients' | 'passphrase'): { message: string; next: string } | null {
  if (!required || encryption !== 'none') return null;
  return {
    message: 'this site requires exports to be encrypted (CUSTCTL_EXPORT_ENCRYPTION=required): refusing to write one in clear text',
    next: "Encrypt it to the customer's age public key (--recipient age1…) or to a passphrase they give (--passphrase-file FILE). Nothing was written.",
  };
}
