/**
 * What a restore refuses, rule by rule: backup URLs (one parser everywhere), the location of a
 * file backup, the bounded reading of an archive, and the restore rules (only what the customer
 * owned). The real archive code and file target; the cluster's answers as plain data.
 */
import { chmodSync, chownSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { packArchive, readArchive } from '../../src/adapters/backup-archive.js';
import { FileBackupTarget, splitArchiveUrl } from '../../src/adapters/backup-target.js';
import { parseBackupUrl } from '../../src/domain/backup.js';
import { locationProblems, type PathFacts } from '../../src/domain/backup-location.js';
import { parseCustomerId } from '../../src/domain/customer-id.js';
import { judgeRestore, RestoreRefusedError, type ArchivedObject, type RestoreContents, type RestoreFacts } from '../../src/domain/restore-rules.js';
import type { RbacObject } from '../../src/domain/rbac-owner.js';
import { exitCodeFor, OperationError, UsageError } from '../../src/errors.js';
import { buildConfig } from '../../src/config.js';

describe('backup URLs: one parser for --backup, --from, backups list/prune and CUSTCTL_BACKUP_URL', () => {
  it.each([
    ['file:///var/backups/custctl', { scheme: 'file', dir: '/var/backups/custctl', url: 'file:///var/backups/custctl' }],
    ['file:///var/backups/custctl/', { scheme: 'file', dir: '/var/backups/custctl', url: 'file:///var/backups/custctl' }],
    ['FILE://localhost/var/b', { scheme: 'file', dir: '/var/b', url: 'file:///var/b' }],
    ['file:///', { scheme: 'file', dir: '/', url: 'file:///' }],
    ['file:///var/my%20backups', { scheme: 'file', dir: '/var/my backups', url: 'file:///var/my%20backups' }],
    // a directory literally named `%2F..` is one directory, and stays one when the URL is stored and read again
    ['file:///var/b/%252F..', { scheme: 'file', dir: '/var/b/%2F..', url: 'file:///var/b/%252F..' }],
    ['s3://custctl-backups/pre/fix/', { scheme: 's3', bucket: 'custctl-backups', prefix: 'pre/fix', url: 's3://custctl-backups/pre/fix' }],
    ['s3://my.bucket.example', { scheme: 's3', bucket: 'my.bucket.example', prefix: '', url: 's3://my.bucket.example' }],
    ['S3://abc/a%20b', { scheme: 's3', bucket: 'abc', prefix: 'a b', url: 's3://abc/a%20b' }],
  ])('accepts %s', (raw, want) => {
    expect(parseBackupUrl(raw)).toEqual(want);
    // what is stored (a job's backupUrl, the plan's from) parses to the same target
    expect(parseBackupUrl(parseBackupUrl(raw).url)).toEqual(want);
  });

  it.each([
    // relative and host forms
    ['file:backups', /relative file URL/],
    ['file:./backups', /relative file URL/],
    ['file:../etc', /relative file URL/],
    ['file:/var/backups', /relative file URL/],
    ['file://var/backups', /not a host/],
    ['file://evil.example/x', /not a host/],
    ['/var/backups', /is not a URL/],
    ['backups', /is not a URL/],
    // climbing out, written or percent-encoded
    ['file:///var/backups/..', /dot segment/],
    ['file:///var/backups/../../etc', /dot segment/],
    ['file:///var/backups/%2e%2E/etc', /dot segment/],
    ['file:///var/backups/%2F..%2Fetc', /path separator/],
    ['file:///var/backups/x%2f..', /path separator/],
    ['file:///var/backups/x%5C..', /path separator/],
    ['file:///var\\..\\etc', /backslash/],
    ['file:///var//backups', /empty path segment/],
    // control characters, raw or encoded; junk the URL parser would drop
    ['file:///var/back\u0000ups', /control character/],
    ['file:///var/back\tups', /control character/],
    ['file:///var/back\nups', /control character/],
    ['file:///var/back\u009bups', /control character/],
    ['file:///var/back%00ups', /decodes to a control character/],
    ['file:///var/back%0aups', /decodes to a control character/],
    ['file:///var/back%1b[31mups', /decodes to a control character/],
    ['file:///var/b%zz', /not valid percent-encoding/],
    ['file:///var/b%ff', /not valid percent-encoding/],
    [' file:///var/b', /white space/],
    ['file:///var/b ', /white space/],
    ['file:///var/b?x=1', /query or fragment/],
    ['file:///var/b#frag', /query or fragment/],
    // s3: port, credentials, query, fragment: refused, not dropped
    ['s3://custctl-backups:9000/x', /a port/],
    ['s3://AKIA:secret@custctl-backups/x', /credentials/],
    ['s3://user@custctl-backups/x', /credentials/],
    ['s3://custctl-backups/x?versionId=1', /query or fragment/],
    ['s3://custctl-backups?x', /query or fragment/],
    ['s3://custctl-backups/x#y', /query or fragment/],
    ['s3:///nobucket', /needs a bucket/],
    ['s3:bucket/x', /s3:\/\/bucket\/prefix/],
    ['s3://custctl-backups/a/../b', /dot segment/],
    ['s3://custctl-backups/a/%2E%2E/b', /dot segment/],
    ['s3://custctl-backups/a%00', /control character/],
    ['s3://custctl-backups//a', /empty path segment/],
    // S3's bucket naming rules
    ['s3://ab/x', /3 to 63 characters/],
    [`s3://${'a'.repeat(64)}/x`, /3 to 63 characters/],
    ['s3://My-Bucket/x', /lowercase letters/],
    ['s3://my_bucket/x', /lowercase letters/],
    ['s3://-bucket/x', /starts and ends/],
    ['s3://bucket-/x', /starts and ends/],
    ['s3://my..bucket/x', /two dots/],
    ['s3://192.168.5.4/x', /IP address/],
    ['s3://[::1]/x', /a port/],
    ['s3://xn--bucket/x', /xn--/],
    ['s3://sthree-bucket/x', /sthree-/],
    ['s3://bucket-s3alias/x', /-s3alias/],
    ['s3://bucket--ol-s3/x', /--ol-s3/],
    ['s3://my%2Dbucket/x', /lowercase letters/],
    [`s3://custctl-backups/${'p'.repeat(901)}`, /longer than 900 bytes/],
    // other schemes
    ['ftp://example/x', /only file:\/\/ and s3:\/\//],
    ['http://127.0.0.1:9000/bucket', /only file:\/\/ and s3:\/\//],
    ['', /empty/],
  ])('refuses %j (exit 2)', (raw, why) => {
    let err: unknown;
    try {
      parseBackupUrl(raw, '--backup');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect(exitCodeFor(err)).toBe(2);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect((err as Error).message).not.toContain('secret');
  });

  it('applies the same rules to --from (an archive in a directory), CUSTCTL_BACKUP_URL and the archive name', () => {
    expect(() => splitArchiveUrl('file:///var/b/%2F..%2Fetc/cust_a-20261201T000000Z.tar.gz')).toThrow(/path separator/);
    expect(() => splitArchiveUrl('s3://custctl-backups:9000/cust_a-20261201T000000Z.tar.gz')).toThrow(/a port/);
    expect(splitArchiveUrl('file:///var/my%20b/cust_a-20261201T000000Z.tar.gz')).toEqual({ target: { scheme: 'file', dir: '/var/my b', url: 'file:///var/my%20b' }, name: 'cust_a-20261201T000000Z.tar.gz' });
    expect(() => buildConfig({ CUSTCTL_BACKUP_URL: 's3://AKIA:secret@custctl-backups/x' }, {})).toThrow(/CUSTCTL_BACKUP_URL .*credentials/);
    expect(() => buildConfig({ CUSTCTL_BACKUP_URL: 'file:relative' }, {})).toThrow(/relative/);
  });
});

describe('the location of a file backup', () => {
  const f = (p: string, mode: number, uid = 1000, kind: PathFacts['kind'] = 'dir'): PathFacts => ({ path: p, uid, mode, kind });
  const chain = (dirMode: number, dirUid = 1000) => [f('/srv/b', dirMode, dirUid), f('/srv', 0o40755, 0), f('/', 0o40755, 0)];
  it.each([
    ['a private directory and file', chain(0o40700), f('/srv/b/a', 0o100600, 1000, 'file'), []],
    ['root owns them', chain(0o40755, 0), f('/srv/b/a', 0o100644, 0, 'file'), []],
    ['a world-writable directory', chain(0o40777), f('/srv/b/a', 0o100600, 1000, 'file'), [/\/srv\/b is writable by everyone/]],
    ['a sticky world-writable directory (like /tmp) as the backup directory', chain(0o41777), f('/srv/b/a', 0o100600, 1000, 'file'), [/\/srv\/b is writable by everyone/]],
    ['a group-writable directory', chain(0o40770), f('/srv/b/a', 0o100600, 1000, 'file'), [/writable by its group/]],
    ['a directory of another user', chain(0o40700, 1001), f('/srv/b/a', 0o100600, 1000, 'file'), [/\/srv\/b is owned by uid 1001/]],
    ['a file of another user', chain(0o40700), f('/srv/b/a', 0o100600, 1001, 'file'), [/\/srv\/b\/a is owned by uid 1001/]],
    ['a world-writable file', chain(0o40700), f('/srv/b/a', 0o100666, 1000, 'file'), [/\/srv\/b\/a is writable by everyone/]],
    ['a symbolic link', chain(0o40700), f('/srv/b/a', 0o120777, 1000, 'link'), [/symbolic link/, /writable by everyone/]],
  ])('%s', (_n, c, file, want) => {
    const got = locationProblems(c, file, 1000);
    expect(got).toHaveLength(want.length);
    want.forEach((w, i) => expect(got[i]).toMatch(w));
  });
  it('a sticky directory above is fine (others cannot rename what is in it), a writable one is not', () => {
    expect(locationProblems([f('/tmp/b', 0o40700), f('/tmp', 0o41777, 0), f('/', 0o40755, 0)], null, 1000)).toEqual([]);
    expect(locationProblems([f('/srv/b', 0o40700), f('/srv', 0o40777, 0), f('/', 0o40755, 0)], null, 1000)).toEqual(['/srv is writable by everyone (mode 0777)']);
  });

  it('the file target refuses to read from such a place for a restore (exit 2), and reads it when trusted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-loc-'));
    writeFileSync(path.join(dir, 'a'), 'x', { mode: 0o600 });
    const t = new FileBackupTarget(dir);
    expect((await t.get('a', undefined, { checkLocation: true })).toString()).toBe('x');
    chmodSync(dir, 0o777);
    const e = await t.get('a', undefined, { checkLocation: true }).catch((err: unknown) => err);
    expect(exitCodeFor(e)).toBe(2);
    expect((e as UsageError).details.join('\n')).toMatch(/writable by everyone/);
    expect((await t.get('a')).toString()).toBe('x'); // the deletion's read-back of what it wrote
    expect(await t.locationProblems()).toEqual([`${dir} is writable by everyone (mode 0777): anyone who can write there can put an archive in`]);
    chmodSync(dir, 0o700);
    symlinkSync(path.join(dir, 'a'), path.join(dir, 'link'));
    await expect(t.get('link', undefined, { checkLocation: true })).rejects.toThrow(/symbolic link/);
    if (process.getuid?.() === 0) {
      chownSync(path.join(dir, 'a'), 65534, 65534);
      const o = await t.get('a', undefined, { checkLocation: true }).catch((err: unknown) => err as UsageError);
      expect((o as UsageError).details.join('\n')).toMatch(/a is owned by uid 65534, not by you \(uid 0\) or root/);
    }
    await expect(t.get('a', undefined, { checkLocation: true, maxBytes: 0 })).rejects.toThrow();
  });
});

const KEY = 'own123';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;
const customer = parseCustomerId(ID);

describe('reading an archive is bounded by what its manifest declares', () => {
  const base = { format: 1 as const, custctlVersion: 't', createdAt: '2026-12-01T00:00:00.000Z', customerId: ID, namespace: NS, cluster: { server: 's', context: 'c' }, counts: {}, releases: [] };
  /** A tar stream written entry by entry, gzipped as a stream (a gigabyte of zeros costs no memory). */
  async function rawArchive(entries: Array<{ name: string; size: number; data?: Buffer; type?: 'file' | 'symlink' }>, trailingZeros = 0): Promise<Buffer> {
    const { createGzip } = await import('node:zlib');
    const gz = createGzip({ level: 1 });
    const out: Buffer[] = [];
    gz.on('data', (c: Buffer) => out.push(c));
    const ended = new Promise<void>((r) => gz.on('end', () => r()));
    const pack = tar.pack();
    pack.on('data', (c: Buffer) => { if (!gz.write(c)) pack.pause(); });
    gz.on('drain', () => pack.resume());
    const packed = new Promise<void>((r) => pack.on('end', () => r()));
    for (const e of entries) {
      if (e.type === 'symlink') { pack.entry({ name: e.name, type: 'symlink', linkname: '/etc/passwd' }); continue; }
      if (e.data) { pack.entry({ name: e.name, size: e.data.length }, e.data); continue; }
      const s = pack.entry({ name: e.name, size: e.size });
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = e.size; left > 0; left -= chunk.length) {
        if (!s.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    }
    pack.finalize();
    await packed;
    const zero = Buffer.alloc(1024 * 1024);
    for (let left = trailingZeros; left > 0; left -= zero.length) if (!gz.write(zero)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await ended;
    return Buffer.concat(out);
  }
  const manifestOf = async (entries: Array<{ name: string; data: Buffer }>) => {
    const { manifest } = await packArchive(entries, base, new Date(0));
    return Buffer.from(JSON.stringify(manifest));
  };

  it.each([
    ['an entry the manifest does not list (256 MiB of zeros)', async (m: Buffer) => rawArchive([{ name: 'manifest.json', size: m.length, data: m }, { name: 'objects/core/Secret/bomb.json', size: 256 * 1024 * 1024 }]), /objects\/core\/Secret\/bomb\.json: not in the manifest: refused before it is read/],
    ['a listed entry larger than declared', async (m: Buffer) => rawArchive([{ name: 'manifest.json', size: m.length, data: m }, { name: 'row.json', size: 256 * 1024 * 1024 }]), /row\.json: 268435456 bytes in the archive, the manifest says 2/],
    ['zeros after the end of the tar', async (m: Buffer) => rawArchive([{ name: 'manifest.json', size: m.length, data: m }, { name: 'row.json', size: 2, data: Buffer.from('{}') }], 256 * 1024 * 1024), /inflates past \d+ bytes, more than its manifest declares/],
    ['a manifest that is not first', async (m: Buffer) => rawArchive([{ name: 'row.json', size: 2, data: Buffer.from('{}') }, { name: 'manifest.json', size: m.length, data: m }]), /the first entry is "row\.json"/],
    ['a huge manifest', async () => rawArchive([{ name: 'manifest.json', size: 256 * 1024 * 1024 }]), /manifest\.json is 268435456 bytes, more than/],
    ['a symbolic link', async (m: Buffer) => rawArchive([{ name: 'manifest.json', size: m.length, data: m }, { name: 'row.json', size: 0, type: 'symlink' }]), /row\.json: a symlink entry/],
    ['an entry twice', async (m: Buffer) => rawArchive([{ name: 'manifest.json', size: m.length, data: m }, { name: 'row.json', size: 2, data: Buffer.from('{}') }, { name: 'row.json', size: 2, data: Buffer.from('{}') }]), /row\.json: in the archive twice/],
  ])('refuses %s early, memory flat', async (_n, make, why) => {
    const m = await manifestOf([{ name: 'row.json', data: Buffer.from('{}') }]);
    const bytes = await make(m);
    const before = process.memoryUsage().rss;
    const e = await readArchive(bytes, 'bomb').catch((err: unknown) => err);
    const grew = process.memoryUsage().rss - before;
    expect(e).toBeInstanceOf(OperationError);
    expect(exitCodeFor(e)).toBe(1);
    expect([(e as OperationError).message, ...(e as OperationError).details].join('\n')).toMatch(why);
    expect(grew).toBeLessThan(64 * 1024 * 1024);
  }, 120_000);

  it('refuses a manifest that is not a custctl manifest, naming the field', async () => {
    const bad = async (m: unknown) => readArchive(gzipSync(await new Promise<Buffer>((resolve) => {
      const pack = tar.pack();
      const parts: Buffer[] = [];
      pack.on('data', (c: Buffer) => parts.push(c));
      pack.on('end', () => resolve(Buffer.concat(parts)));
      const data = Buffer.from(typeof m === 'string' ? m : JSON.stringify(m));
      pack.entry({ name: 'manifest.json', size: data.length }, data);
      pack.finalize();
    })), 'x').then(() => new Error('read'), (e: unknown) => e as Error);
    expect((await bad('{not json')).message).toMatch(/manifest\.json is not a custctl manifest: not JSON/);
    expect((await bad({ ...base, entries: [{ name: 'a', sha256: 'x', bytes: 1 }] })).message).toMatch(/sha256 is not 64 hex digits/);
    expect((await bad({ ...base, entries: [{ name: 'a', sha256: '0'.repeat(64), bytes: 1e12 }] })).message).toMatch(/outside 0…/);
    expect((await bad({ ...base, customerId: '../x', entries: [] })).message).toMatch(/customerId/);
    expect((await bad({ ...base, entries: [{ name: 'a', sha256: '0'.repeat(64), bytes: 1 }, { name: 'a', sha256: '0'.repeat(64), bytes: 1 }] })).message).toMatch(/listed twice/);
  });
});

describe('the restore rules: only what the customer owned', () => {
  const obj = (entry: string, o: Record<string, unknown>): ArchivedObject => ({ entry, object: o as never });
  const role = (name: string, extra: Record<string, unknown> = {}) => obj(`cluster/ClusterRole/${name}.json`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }], ...extra });
  const crb = (name: string, roleName: string, subjects: unknown[] = [{ kind: 'ServiceAccount', name: 'customer-instance', namespace: NS }], extra: Record<string, unknown> = {}) => obj(`cluster/ClusterRoleBinding/${name}.json`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects, ...extra,
  });
  const cm = (name: string, namespace: string | null = NS) => obj(`objects/core/ConfigMap/${name}.json`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(namespace !== null ? { namespace } : {}) }, data: { a: 'b' } });
  const rb = (name: string, ref: { kind: string; name: string }, subjects: unknown[] = [{ kind: 'ServiceAccount', name: 'customer-instance', namespace: NS }]) => obj(`objects/rbac.authorization.k8s.io/RoleBinding/${name}.json`, {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name, namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...ref }, subjects,
  });
  const owned = `c${KEY}-customer-instance-opencost`;
  const contents = (over: Partial<RestoreContents> = {}): RestoreContents => ({
    namespaceEntry: obj('namespace.json', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } }),
    objects: [cm('settings')],
    cluster: [role(owned), crb(owned, owned)],
    row: { customerId: ID, email: 'a@b', companyName: 'c', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' },
    otherEntries: [],
    releaseRecords: [],
    ...over,
  });
  const CLUSTER = new Set(['ClusterRole', 'ClusterRoleBinding', 'Namespace', 'CustomResourceDefinition', 'StorageClass', 'PersistentVolume', 'ValidatingWebhookConfiguration']);
  const facts = (live: Record<string, RbacObject> = {}): RestoreFacts => ({
    scope: (apiVersion, kind) => (apiVersion === 'example.com/v1' ? 'unknown' : CLUSTER.has(kind) ? 'cluster' : 'namespaced'),
    live: (kind, name) => live[`${kind}/${name}`] ?? null,
  });
  const liveAdmin: Record<string, RbacObject> = { 'ClusterRole/cluster-admin': { kind: 'ClusterRole', name: 'cluster-admin', annotations: {} } };

  it('a backup as custctl writes it passes', () => {
    expect(judgeRestore(contents(), customer, NS, facts())).toEqual([]);
    // a chart's own role, owned by the release-namespace annotation, with a binding to it
    const ann = { annotations: { 'meta.helm.sh/release-namespace': NS } };
    expect(judgeRestore(contents({ cluster: [role('chart-reader', { metadata: { name: 'chart-reader', ...ann } }), crb('chart-reader', 'chart-reader', undefined, { metadata: { name: 'chart-reader', ...ann } })] }), customer, NS, facts())).toEqual([]);
    // its RoleBinding to a Role of the namespace, and to an owned ClusterRole
    expect(judgeRestore(contents({ objects: [rb('a', { kind: 'Role', name: 'r' }), rb('b', { kind: 'ClusterRole', name: owned })] }), customer, NS, facts())).toEqual([]);
  });

  it.each<[string, Partial<RestoreContents>, Record<string, RbacObject>, RegExp]>([
    ['a ClusterRoleBinding of cluster-admin to system:anonymous', { cluster: [crb('pwn', 'cluster-admin', [{ kind: 'User', name: 'system:anonymous' }])] }, liveAdmin, /ClusterRoleBinding pwn is not cust_own123's/],
    ['the same, named by the rule so that it looks owned', { cluster: [crb(`c${KEY}-customer-instance-x`, 'cluster-admin', [{ kind: 'User', name: 'system:anonymous' }])] }, liveAdmin, /binds ClusterRole cluster-admin, which cust_own123 does not own/],
    ['an owned binding that grants system:anonymous an owned role', { cluster: [role(owned), crb(owned, owned, [{ kind: 'User', name: 'system:anonymous' }])] }, {}, /grants User system:anonymous cluster-wide/],
    ['an owned binding that grants a service account of another namespace', { cluster: [role(owned), crb(owned, owned, [{ kind: 'ServiceAccount', name: 'default', namespace: 'kube-system' }])] }, {}, /grants ServiceAccount kube-system\/default cluster-wide/],
    ['a ClusterRole named cluster-admin, annotated as the customer\'s', { cluster: [role('cluster-admin', { metadata: { name: 'cluster-admin', annotations: { 'meta.helm.sh/release-namespace': NS } } })] }, liveAdmin, /exists on the cluster and is not cust_own123's/],
    ['a ClusterRole of another customer (a name that only contains the key)', { cluster: [role(`cx${KEY}-customer-instance`)] }, {}, /is not cust_own123's/],
    ['an owned ClusterRole with every verb on every resource', { cluster: [role(owned, { rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] })] }, {}, /grants every verb on \*/],
    ['an owned ClusterRole that may escalate', { cluster: [role(owned, { rules: [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['escalate'] }] })] }, {}, /grants escalate/],
    ['an owned ClusterRole that may impersonate', { cluster: [role(owned, { rules: [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }] })] }, {}, /grants impersonate/],
    ['an owned ClusterRole aggregated into admin', { cluster: [role(owned, { metadata: { name: owned, labels: { 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } } })] }, {}, /aggregate-to-admin/],
    ['an owned ClusterRole with an aggregationRule', { cluster: [role(owned, { aggregationRule: { clusterRoleSelectors: [{ matchLabels: { x: 'y' } }] } })] }, {}, /aggregationRule/],
    ['another cluster-scoped kind under cluster/', { cluster: [obj('cluster/CustomResourceDefinition/x.json', { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `c${KEY}-customer-instance` } })] }, {}, /a restore creates no cluster-scoped object but/],
    ['a cluster-scoped kind under objects/', { objects: [obj('objects/rbac.authorization.k8s.io/ClusterRoleBinding/pwn.json', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'pwn', namespace: NS }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [] })] }, {}, /is cluster-scoped: under objects\/ it would be created cluster-wide/],
    ['a PersistentVolume under objects/', { objects: [obj('objects/core/PersistentVolume/pv.json', { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pv', namespace: NS } })] }, {}, /cluster-scoped/],
    ['a kind whose scope is unknown', { objects: [obj('objects/example.com/Gadget/g.json', { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g', namespace: NS } })] }, {}, /does not serve example\.com\/v1 Gadget/],
    ['an object naming kube-system', { objects: [cm('evil', 'kube-system')] }, {}, /names the namespace "kube-system", not customer-own123: refused, not rewritten/],
    ['an object naming another customer\'s namespace', { objects: [cm('evil', 'customer-other')] }, {}, /names the namespace "customer-other"/],
    ['an object naming no namespace', { objects: [cm('evil', null)] }, {}, /names no namespace/],
    ['an object at a path custctl does not give it', { objects: [obj('objects/core/ConfigMap/a.json', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'b', namespace: NS } })] }, {}, /which custctl writes as objects\/core\/Secret\/b\.json/],
    ['a RoleBinding to cluster-admin in the namespace', { objects: [rb('admin', { kind: 'ClusterRole', name: 'cluster-admin' })] }, liveAdmin, /binds ClusterRole cluster-admin, which cust_own123 does not own: inside the namespace too/],
    ['a RoleBinding to the built-in edit role', { objects: [rb('edit', { kind: 'ClusterRole', name: 'edit' })] }, {}, /binds ClusterRole edit/],
    ['a RoleBinding that grants system:authenticated', { objects: [rb('all', { kind: 'Role', name: 'r' }, [{ kind: 'Group', name: 'system:authenticated' }])] }, {}, /grants Group system:authenticated, which stands for everybody/],
    ['a PVC naming a volume', { objects: [obj('objects/core/PersistentVolumeClaim/data.json', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: NS }, spec: { volumeName: 'pvc-of-someone-else' } })] }, {}, /names the PersistentVolume "pvc-of-someone-else"/],
    ['namespace.json of another namespace', { namespaceEntry: obj('namespace.json', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kube-system' } }) }, {}, /is the namespace "kube-system"/],
    ['row.json of another customer', { row: { customerId: 'cust_other', email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: '' } }, {}, /is the row of "cust_other"/],
    ['an entry custctl does not write', { otherEntries: ['etc/passwd'] }, {}, /not an entry custctl writes/],
    ['a Helm release record whose manifest holds cluster-admin', { releaseRecords: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', release: 'x', namespace: NS, objects: [{ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', name: 'cluster-admin' }] }] }, liveAdmin, /Helm release x holds ClusterRole cluster-admin, which cust_own123 does not own/],
    ['a Helm release record whose manifest holds a CRD', { releaseRecords: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', release: 'x', namespace: NS, objects: [{ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'crontabs.example.com' }] }] }, {}, /would delete it for every customer/],
    ['a Helm release record placing an object in kube-system', { releaseRecords: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', release: 'x', namespace: NS, objects: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'c', namespace: 'kube-system' }] }] }, {}, /in namespace kube-system/],
    ['a Helm release record of another namespace', { releaseRecords: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', release: 'x', namespace: 'kube-system', objects: [] }] }, {}, /in namespace "kube-system"/],
    ['a Helm release record custctl cannot read', { releaseRecords: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', error: 'bad gzip' }] }, {}, /cannot read \(bad gzip\)/],
  ])('refuses %s', (_n, over, live, why) => {
    const refused = judgeRestore(contents(over), customer, NS, facts(live));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.map((r) => `${r.entry}: ${r.reason}`).join('\n')).toMatch(why);
    const err = new RestoreRefusedError(ID, 'file:///b/x.tar.gz', refused);
    expect(exitCodeFor(err)).toBe(2);
    expect(err.message).toMatch(/nothing was created/);
    expect(err.details[0]).toMatch(/^(cluster|objects|namespace|row|etc)/);
  });

  it('lists every refused entry, not the first only', () => {
    const refused = judgeRestore(contents({ objects: [cm('a', 'kube-system'), cm('b', 'default')], cluster: [crb('pwn', 'cluster-admin', [{ kind: 'User', name: 'system:anonymous' }])] }), customer, NS, facts(liveAdmin));
    const entries = new Set(refused.map((r) => r.entry));
    expect(entries).toEqual(new Set(['objects/core/ConfigMap/a.json', 'objects/core/ConfigMap/b.json', 'cluster/ClusterRoleBinding/pwn.json']));
  });
});

describe('loading the archive the plan showed', () => {
  const base = { format: 1 as const, custctlVersion: 't', customerId: ID, namespace: NS, cluster: { server: 's', context: 'c' }, counts: {}, releases: [] };
  const row = Buffer.from(JSON.stringify({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: '' }));
  const archive = async (createdAt: string) => (await packArchive([{ name: 'row.json', data: row }], { ...base, createdAt }, new Date(0))).bytes;

  it('a directory: the newest by the manifest\'s own time; an archive that cannot be read stops the choice', async () => {
    const { loadBackup } = await import('../../src/pipeline/backup.js');
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-choose-'));
    writeFileSync(path.join(dir, `${ID}-20261201T000000Z.tar.gz`), await archive('2026-12-01T00:00:00.000Z'));
    writeFileSync(path.join(dir, `${ID}-29991231T000000Z.tar.gz`), await archive('2026-11-01T00:00:00.000Z'));
    const open = async (u: string) => new FileBackupTarget((parseBackupUrl(u) as { dir: string }).dir);
    const b = await loadBackup(`file://${dir}`, ID, open);
    expect(b.url).toBe(`file://${dir}/${ID}-20261201T000000Z.tar.gz`);
    expect(b.manifest.createdAt).toBe('2026-12-01T00:00:00.000Z');
    // the sha256 the plan saw: another archive under the same name is refused
    await expect(loadBackup(b.url, ID, open, undefined, [], { expectSha256: '0'.repeat(64) })).rejects.toThrow(/is not the archive the plan showed/);
    expect((await loadBackup(b.url, ID, open, undefined, [], { expectSha256: b.sha256 })).sha256).toBe(b.sha256);
    // one that cannot be read might be the newest: no choice, each named
    writeFileSync(path.join(dir, `${ID}-20261115T000000Z.tar.gz`), Buffer.from('damaged'));
    const e = await loadBackup(`file://${dir}`, ID, open).catch((err: unknown) => err as OperationError);
    expect((e as OperationError).message).toMatch(/cannot choose the newest backup of cust_own123 .*: 1 of 3 cannot be read/);
    expect((e as OperationError).details.join('\n')).toMatch(new RegExp(`${ID}-20261115T000000Z\\.tar\\.gz: backup .* is not a gzip archive`));
  });
});

describe('the restore attempt (a worker running the job) judges the archive again before creating anything', () => {
  it('a forged archive: RestoreRefusedError (exit 2), no create call, the row pending', async () => {
    const { runRestoreAttempt } = await import('../../src/pipeline/restore.js');
    const { FakeKube, FakeStore, runningDeleteJob } = await import('../support/fakes.js');
    const kube = new FakeKube();
    kube.rbac.push({ kind: 'ClusterRole', name: 'cluster-admin', annotations: {} });
    const store = new FakeStore();
    await store.add({ customerId: ID, email: 'a@b', companyName: 'c', deploymentStatus: 'pending', instanceNamespace: '', instanceUrl: '' });
    const row = Buffer.from(JSON.stringify({ customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: '' }));
    const pwn = Buffer.from(JSON.stringify({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'pwn' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'User', name: 'system:anonymous' }] }));
    const cmObj = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: NS } }));
    const { bytes } = await packArchive([{ name: 'objects/core/ConfigMap/c.json', data: cmObj }, { name: 'cluster/ClusterRoleBinding/pwn.json', data: pwn }, { name: 'row.json', data: row }],
      { format: 1, custctlVersion: 't', createdAt: '2026-12-01T00:00:00.000Z', customerId: ID, namespace: NS, cluster: { server: 's', context: 'c' }, counts: {}, releases: [] }, new Date(0));
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-attempt-'));
    writeFileSync(path.join(dir, `${ID}-20261201T000000Z.tar.gz`), bytes);
    const job = { ...runningDeleteJob(ID, NS), name: 'restore' as const, data: { customerId: ID, namespace: NS, from: `file://${dir}/${ID}-20261201T000000Z.tar.gz` } };
    const e = await runRestoreAttempt(
      { job, customer, namespace: NS, prefix: 'customer-', signal: new AbortController().signal, progress: async () => undefined, log: () => undefined, now: () => 0 },
      store,
      { kube, target: kube.target, backups: async (u) => new FileBackupTarget((parseBackupUrl(u) as { dir: string }).dir) },
    ).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(RestoreRefusedError);
    expect(exitCodeFor(e)).toBe(2);
    expect(kube.created).toEqual([]);
    expect(kube.calls.filter((c) => c.startsWith('create'))).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('pending');
  });
});

describe('Helm release records in an archive: what a later helm uninstall would act on', () => {
  const secret = (inner: Buffer) => ({
    apiVersion: 'v1', kind: 'Secret', type: 'helm.sh/release.v1',
    metadata: { name: 'sh.helm.release.v1.x.v1', namespace: NS, labels: { owner: 'helm', name: 'x', version: '1' } },
    data: { release: Buffer.from(inner.toString('base64')).toString('base64') },
  });
  const loaded = (record: Record<string, unknown>) => ({
    url: 'file:///b/a.tar.gz', sha256: '0', encrypted: false,
    manifest: { format: 1 as const, custctlVersion: 't', createdAt: '2026-12-01T00:00:00.000Z', customerId: ID, namespace: NS, cluster: { server: 's', context: 'c' }, counts: {}, releases: ['x'], entries: [] },
    namespace: null, objects: [{ entry: 'objects/core/Secret/sh.helm.release.v1.x.v1.json', object: record as never }], clusterObjects: [], otherEntries: [],
    row: { customerId: ID, email: '', companyName: '', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: '' }, helmRecords: [],
  });
  const manifest = (yaml: string) => gzipSync(Buffer.from(JSON.stringify({ name: 'x', namespace: NS, version: 1, info: { status: 'deployed' }, manifest: yaml })));

  it('a record of the chart passes; one whose manifest holds cluster-admin is refused', async () => {
    const { admitRestore } = await import('../../src/pipeline/restore.js');
    const { FakeKube } = await import('../support/fakes.js');
    const kube = new FakeKube();
    kube.rbac.push({ kind: 'ClusterRole', name: 'cluster-admin', annotations: {} });
    const ok = manifest(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: c${KEY}-customer-instance-opencost\n`);
    await expect(admitRestore(loaded(secret(ok)), customer, NS, kube)).resolves.toBeUndefined();
    const bad = manifest('apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: cluster-admin\n');
    const e = await admitRestore(loaded(secret(bad)), customer, NS, kube).catch((err: unknown) => err as RestoreRefusedError);
    expect(e).toBeInstanceOf(RestoreRefusedError);
    expect((e as RestoreRefusedError).details.join('\n')).toMatch(/Helm release x holds ClusterRole cluster-admin, which cust_own123 does not own: a later helm uninstall would delete it/);
  });

  it('a record that inflates to a gigabyte is refused as unreadable, memory bounded', async () => {
    const { admitRestore } = await import('../../src/pipeline/restore.js');
    const { FakeKube } = await import('../support/fakes.js');
    const { createGzip } = await import('node:zlib');
    const gz = createGzip({ level: 1 });
    const parts: Buffer[] = [];
    gz.on('data', (c: Buffer) => parts.push(c));
    const ended = new Promise<void>((r) => gz.on('end', () => r()));
    const zero = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < 128; i++) if (!gz.write(zero)) await new Promise((r) => gz.once('drain', r));
    gz.end();
    await ended;
    const before = process.memoryUsage().rss;
    const e = await admitRestore(loaded(secret(Buffer.concat(parts))), customer, NS, new FakeKube()).catch((err: unknown) => err as RestoreRefusedError);
    expect(process.memoryUsage().rss - before).toBeLessThan(400 * 1024 * 1024);
    expect(e).toBeInstanceOf(RestoreRefusedError);
    expect((e as RestoreRefusedError).details.join('\n')).toMatch(/is a Helm release record custctl cannot read \(.*cannot be decoded/);
  }, 60_000);
});
