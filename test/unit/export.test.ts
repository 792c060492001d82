/**
 * The export's rules (what of a namespace is the customer's, cleaned how), its name (never a
 * backup's), the archive (one directory, SHA256SUMS as sha256sum writes it, plain paths only),
 * encryption with a passphrase (age scrypt) and the README's volume sections; the pipeline's
 * collection over a fake cluster (the real one: test/integration/export.test.ts).
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { archiveInfo } from '../../src/adapters/backup-target.js';
import { decryptWithPassphrase, encryptExport, packExport, passphraseFromFile, sumsFile } from '../../src/adapters/export-archive.js';
import type { CustomerRow } from '../../src/adapters/store.js';
import { archiveName, type KubeObject } from '../../src/domain/backup.js';
import { cleanForExport, exportArchiveName, exportDecision, exportInfo, volumeSection } from '../../src/domain/export.js';
import { InvalidNamespaceError } from '../../src/errors.js';
import { collectExport } from '../../src/pipeline/export.js';

const NS = 'customer-abc';
const obj = (kind: string, name: string, extra: Record<string, unknown> = {}, apiVersion = 'v1', namespace = NS): KubeObject =>
  ({ apiVersion, kind, metadata: { name, namespace, uid: 'u', resourceVersion: '9', creationTimestamp: 't', managedFields: [{}] }, ...extra }) as KubeObject;

async function untar(bytes: Buffer): Promise<Map<string, { type: string; mode: number; data: Buffer }>> {
  const out = new Map<string, { type: string; mode: number; data: Buffer }>();
  const ex = tar.extract();
  await new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, s, next) => {
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => { out.set(h.name, { type: h.type ?? 'file', mode: h.mode ?? 0, data: Buffer.concat(parts) }); next(); });
    });
    ex.on('finish', () => resolve());
    ex.on('error', reject);
    ex.end(gunzipSync(bytes));
  });
  return out;
}

describe('what goes into an export', () => {
  it.each<[string, KubeObject, string | RegExp]>([
    ['a ConfigMap', obj('ConfigMap', 'settings'), 'configuration'],
    ['an Opaque Secret', obj('Secret', 'db', { type: 'Opaque' }), 'secrets'],
    ['a TLS Secret', obj('Secret', 'tls', { type: 'kubernetes.io/tls' }), 'secrets'],
    ['a Deployment', obj('Deployment', 'app', {}, 'apps/v1'), 'workloads'],
    ['a CronJob', obj('CronJob', 'nightly', {}, 'batch/v1'), 'workloads'],
    ['a Service', obj('Service', 'app'), 'network'],
    ['an Ingress', obj('Ingress', 'app', {}, 'networking.k8s.io/v1'), 'network'],
    ['a PVC', obj('PersistentVolumeClaim', 'data'), 'storage'],
    ['a custom resource', obj('Widget', 'w', {}, 'example.com/v1'), 'other'],
    ['a Helm release record', obj('Secret', 'sh.helm.release.v1.x.v1', { type: 'helm.sh/release.v1' }), /Helm release record/],
    ['a service-account token', obj('Secret', 't', { type: 'kubernetes.io/service-account-token' }), /only inside this cluster/],
    ['kube-root-ca.crt', obj('ConfigMap', 'kube-root-ca.crt'), /certificate authority/],
    ['an Event', obj('Event', 'e'), /events/],
    ['Endpoints', obj('Endpoints', 'app'), /from the Services/],
    ['a ReplicaSet with an owner', obj('ReplicaSet', 'app-1', { metadata: { name: 'app-1', namespace: NS, ownerReferences: [{ kind: 'Deployment' }] } }, 'apps/v1'), /owner/],
    ['a ResourceQuota', obj('ResourceQuota', 'q'), /setting of the platform/],
    ['a NetworkPolicy', obj('NetworkPolicy', 'p', {}, 'networking.k8s.io/v1'), /setting of the platform/],
    ['a Role', obj('Role', 'r', {}, 'rbac.authorization.k8s.io/v1'), /setting of the platform/],
    ['a ServiceAccount', obj('ServiceAccount', 'default'), /setting of the platform/],
  ])('%s → %s', (_what, o, want) => {
    const d = exportDecision(o, NS);
    if (typeof want === 'string') expect(d).toEqual({ include: true, section: want });
    else expect(d.include ? '' : d.reason).toMatch(want);
  });

  it('an object of another namespace (or none) stops the export', () => {
    expect(() => exportDecision(obj('ConfigMap', 'x', {}, 'v1', 'customer-other'), NS)).toThrow(/not customer-abc/);
    expect(() => exportDecision({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }, NS)).toThrow(/no namespace/);
  });

  it('cleaning: no server fields, namespace or platform annotations; text Secret values as stringData, binary ones stay data; a suspended workload gets its count back', () => {
    const secret = obj('Secret', 'db', {
      type: 'Opaque',
      metadata: { name: 'db', namespace: NS, uid: 'u', annotations: { 'meta.helm.sh/release-name': 'r', keep: 'me' }, labels: { app: 'x' } },
      data: { password: Buffer.from('s3cr3t\n').toString('base64'), blob: Buffer.from([0, 1, 2, 255]).toString('base64') },
    });
    expect(cleanForExport(secret)).toEqual({
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: { name: 'db', labels: { app: 'x' }, annotations: { keep: 'me' } },
      data: { blob: 'AAEC/w==' }, stringData: { password: 's3cr3t\n' },
    });
    const deploy = obj('Deployment', 'app', { spec: { replicas: 0 }, status: { ready: 1 }, metadata: { name: 'app', namespace: NS, annotations: { 'custctl.io/suspended-from': '3', 'deployment.kubernetes.io/revision': '2' } } }, 'apps/v1');
    expect(cleanForExport(deploy, '3')).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app' }, spec: { replicas: 3 } });
    const svc = cleanForExport(obj('Service', 's', { spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [{ port: 80, nodePort: 3 }] } }));
    expect(svc.spec).toEqual({ ports: [{ port: 80 }] });
  });
});

describe('the archive', () => {
  it('an export is never named like a backup, and the reverse', () => {
    const at = new Date('2026-12-01T13:15:00.000Z');
    const name = exportArchiveName('cust_abc', at, true);
    expect(name).toBe('cust_abc-export-20261201T131500Z.tar.gz.age');
    expect(archiveInfo(name)).toBeUndefined();
    expect(exportInfo(name)).toEqual({ customerId: 'cust_abc', createdAt: at, encrypted: true });
    expect(exportInfo(archiveName('cust_abc', at))).toBeUndefined();
  });

  it('one directory, 0700 directories and 0600 files, SHA256SUMS as sha256sum writes it', async () => {
    const files = [{ path: 'README.md', data: Buffer.from('# hi\n') }, { path: 'kubernetes/secrets.yaml', data: Buffer.from('a: 1\n') }];
    const entries = await untar(await packExport('cust_abc-export-x', files, new Date(0)));
    expect([...entries.keys()]).toEqual(['cust_abc-export-x/', 'cust_abc-export-x/kubernetes/', 'cust_abc-export-x/README.md', 'cust_abc-export-x/kubernetes/secrets.yaml', 'cust_abc-export-x/SHA256SUMS']);
    expect(entries.get('cust_abc-export-x/kubernetes/')?.mode).toBe(0o700);
    expect(entries.get('cust_abc-export-x/README.md')?.mode).toBe(0o600);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(entries.get('cust_abc-export-x/SHA256SUMS')?.data.toString()).toBe(`${sha(Buffer.from('# hi\n'))}  README.md\n${sha(Buffer.from('a: 1\n'))}  kubernetes/secrets.yaml\n`);
    expect(sumsFile(files).toString()).toBe(entries.get('cust_abc-export-x/SHA256SUMS')?.data.toString());
  });

  it.each(['../x', 'a/../b', '/etc/passwd', 'a//b', 'a b'])('refuses the path %j', async (p) => {
    await expect(packExport('root', [{ path: p, data: Buffer.from('') }], new Date(0))).rejects.toThrow(/plain relative path/);
  });

  it('a passphrase: at least 12 characters, the first line of its file; decrypts with it and no other', async () => {
    expect(() => passphraseFromFile('short\n', 'f')).toThrow(/shorter than 12/);
    expect(() => passphraseFromFile(' leading space here\n', 'f')).toThrow(/white space/);
    const pass = passphraseFromFile('correct horse battery staple\nignored\n', 'f');
    expect(pass).toBe('correct horse battery staple');
    const enc = await encryptExport(Buffer.from('the archive'), { kind: 'passphrase', passphrase: pass });
    expect(enc.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect((await decryptWithPassphrase(enc, pass)).toString()).toBe('the archive');
    await expect(decryptWithPassphrase(enc, 'wrong horse battery staple')).rejects.toThrow();
  }, 60_000);
});

describe('the README', () => {
  it('a volume whose data goes with the account says so and when, and how to copy it out', () => {
    const s = volumeSection({ pvc: 'data', storage: '1Gi', storageClass: 'standard', accessModes: ['ReadWriteOnce'], volume: 'pv-1', reclaimPolicy: 'Delete' }, NS, '2026-12-08T00:00:00.000Z');
    expect(s).toContain('### Volume `data`');
    expect(s).toContain('deleted with it (reclaim policy Delete)');
    expect(s).toContain('(2026-12-08T00:00:00.000Z)');
    expect(s).toContain(`kubectl -n ${NS} exec export-data -- tar czf - -C /data . > data.tar.gz`);
    expect(volumeSection({ pvc: 'd', storage: null, storageClass: null, accessModes: [], volume: 'pv', reclaimPolicy: 'Retain' }, NS, null)).toContain('kept when your account is deleted');
  });
});

describe('collectExport (fake cluster)', () => {
  const row: CustomerRow = {
    id: 1, customerId: 'cust_abc', email: 'ops@abc.example', companyName: 'ABC Ltd', deploymentStatus: 'deleting', instanceNamespace: NS,
    instanceUrl: 'https://abc.example', deletionJobId: '3', previousStatus: 'deployed', deletionScheduledAt: '2026-12-08T00:00:00.000Z', deletedAt: null,
    createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z',
  };
  const objects = [
    obj('ConfigMap', 'settings', { data: { mode: 'fast' } }),
    obj('Secret', 'db', { type: 'Opaque', data: { password: Buffer.from('pw').toString('base64') } }),
    obj('Secret', 'sh.helm.release.v1.customer-abc.v1', { type: 'helm.sh/release.v1', metadata: { name: 'sh.helm.release.v1.customer-abc.v1', namespace: NS, labels: { name: 'customer-abc', owner: 'helm' } } }),
    obj('PersistentVolumeClaim', 'data', { spec: { storageClassName: 'standard', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeName: 'pv-1' } }),
  ];
  const kube = (objs: KubeObject[], exists = true) => ({
    calls: 0,
    async getNamespace(name: string) { this.calls++; return exists ? { name, uid: 'u', phase: 'Active', conditions: [], finalizers: [] } : null; },
    async exportNamespaceObjects() { this.calls++; return objs; },
    async listPvcs() { this.calls++; return [{ name: 'data', phase: 'Bound', storage: '1Gi', volumeName: 'pv-1', reclaimPolicy: 'Delete' }]; },
  });
  const input = (k: ReturnType<typeof kube>, r: CustomerRow = row) => ({ kube: k, customer: { id: 'cust_abc', key: 'abc' }, row: r, extraFields: { phone: '+1 555' }, namespacePrefix: 'customer-', site: 'Example Hosting', now: new Date('2026-12-01T12:00:00.000Z') });

  it('files: README, account (with the extra columns), one YAML per section, volumes, export.json', async () => {
    const c = await collectExport(input(kube(objects)));
    expect(c.root).toBe('cust_abc-export-20261201T120000Z');
    expect(c.files.map((f) => f.path)).toEqual(['README.md', 'account.json', 'kubernetes/configuration.yaml', 'kubernetes/secrets.yaml', 'kubernetes/storage.yaml', 'volumes.json', 'export.json']);
    const file = (p: string) => c.files.find((f) => f.path === p)?.data.toString() ?? '';
    expect(JSON.parse(file('account.json'))).toEqual({ customerId: 'cust_abc', email: 'ops@abc.example', companyName: 'ABC Ltd', instanceUrl: 'https://abc.example', status: 'deleting', createdAt: '2026-01-01T00:00:00.000Z', deletionScheduledAt: '2026-12-08T00:00:00.000Z', other: { phone: '+1 555' } });
    expect(parseAllDocuments(file('kubernetes/secrets.yaml')).map((d) => d.toJS())).toEqual([{ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: 'db' }, stringData: { password: 'pw' } }]);
    expect(file('README.md')).toContain('**Your account is scheduled for deletion on 2026-12-08T00:00:00.000Z.**');
    expect(file('README.md')).toContain('`Secret sh.helm.release.v1.customer-abc.v1`');
    expect(c.summary).toMatchObject({ included: { ConfigMap: 1, Secret: 1, PersistentVolumeClaim: 1 }, releases: ['customer-abc'], clusterRead: true });
    expect(file('kubernetes/storage.yaml')).not.toContain('volumeName');
  });

  it('a namespace that is gone: the row only, said in the README', async () => {
    const k = kube(objects, false);
    const c = await collectExport(input(k, { ...row, deploymentStatus: 'pending', instanceNamespace: '', deletionScheduledAt: null }));
    expect(c.files.map((f) => f.path)).toEqual(['README.md', 'account.json', 'export.json']);
    expect(c.files[0]?.data.toString()).toContain('no longer exists');
    expect(k.calls).toBe(1);
  });

  it("a row naming another customer's namespace is refused before any call to the cluster", async () => {
    const k = kube(objects);
    await expect(collectExport(input(k, { ...row, instanceNamespace: 'customer-other' }))).rejects.toThrow(InvalidNamespaceError);
    await expect(collectExport(input(k, { ...row, instanceNamespace: 'customer-other' }))).rejects.toThrow(/refusing to export cust_abc/);
    expect(k.calls).toBe(0);
  });

  it('an object of another namespace in what the cluster answered stops it', async () => {
    await expect(collectExport(input(kube([...objects, obj('ConfigMap', 'theirs', {}, 'v1', 'customer-other')])))).rejects.toThrow(/not customer-abc/);
  });
});
