/** Backups with fakes of our own cluster interfaces and the real archive code and file target. */
import { chmodSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { packArchive, readArchive } from '../../src/adapters/backup-archive.js';
import { repackArchive } from '../support/archive.js';
import { FileBackupTarget, splitArchiveUrl, type BackupTarget } from '../../src/adapters/backup-target.js';
import { archiveName, normalizeObject, parseBackupUrl, skippedOnRestore, sortForRestore, type KubeObject } from '../../src/domain/backup.js';
import type { Job } from '../../src/domain/job.js';
import { exitCodeFor, OperationError, UsageError } from '../../src/errors.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import { FakeHelm, FakeKube, FakeStore, runningDeleteJob } from '../support/fakes.js';

const KEY = 'bak123';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;

describe('backup URLs and names', () => {
  it.each([
    ['file:///var/backups/custctl/', { scheme: 'file', dir: '/var/backups/custctl', url: 'file:///var/backups/custctl' }],
    ['s3://bucket/pre/fix/', { scheme: 's3', bucket: 'bucket', prefix: 'pre/fix', url: 's3://bucket/pre/fix' }],
    ['s3://bucket', { scheme: 's3', bucket: 'bucket', prefix: '', url: 's3://bucket' }],
  ])('%s', (raw, want) => expect(parseBackupUrl(raw)).toEqual(want));
  it.each(['ftp://x/y', 'file://host/dir', '/var/backups', 's3:///nobucket', ''])('refuses %j (exit 2)', (raw) => {
    expect(() => parseBackupUrl(raw)).toThrow(UsageError);
  });
  it('names archives by customer and time; --from takes an archive or its directory', () => {
    expect(archiveName(ID, new Date('2026-12-01T13:15:00.123Z'))).toBe(`${ID}-20261201T131500Z.tar.gz`);
    expect(splitArchiveUrl(`file:///b/${ID}-20261201T131500Z.tar.gz`)).toEqual({ target: { scheme: 'file', dir: '/b', url: 'file:///b' }, name: `${ID}-20261201T131500Z.tar.gz` });
    expect(splitArchiveUrl('file:///b')).toEqual({ target: { scheme: 'file', dir: '/b', url: 'file:///b' } });
  });
});

describe('normalizing and ordering objects', () => {
  it('strips server-set fields and keeps what the user wrote', () => {
    const o: KubeObject = {
      apiVersion: 'v1', kind: 'Service', status: { loadBalancer: {} },
      metadata: { name: 's', namespace: NS, uid: 'u', resourceVersion: '9', creationTimestamp: 'now', managedFields: [], generation: 2, labels: { a: 'b' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } },
      spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [{ port: 80, protocol: 'TCP' }], selector: { a: 'b' } },
    };
    expect(normalizeObject(o)).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: NS, labels: { a: 'b' } }, spec: { ports: [{ port: 80, protocol: 'TCP' }], selector: { a: 'b' } } });
  });
  it('leaves to the controllers what they make, and orders what others refer to first', () => {
    const svc = new Set(['web']);
    const mk = (kind: string, name: string, extra: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name, ...extra } });
    expect(skippedOnRestore(mk('Pod', 'p', { ownerReferences: [{ kind: 'ReplicaSet' }] }), svc)).toMatch(/controller/);
    expect(skippedOnRestore(mk('Endpoints', 'web'), svc)).toMatch(/endpoints/);
    expect(skippedOnRestore(mk('ServiceAccount', 'default'), svc)).toMatch(/every namespace/);
    expect(skippedOnRestore({ ...mk('Secret', 't'), type: 'kubernetes.io/service-account-token' }, svc)).toMatch(/token/);
    expect(skippedOnRestore({ ...mk('Secret', 'sh.helm.release.v1.x.v1'), type: 'helm.sh/release.v1' }, svc)).toBeNull();
    expect(sortForRestore([mk('Deployment', 'd'), mk('Widget', 'w'), mk('Secret', 's'), mk('ServiceAccount', 'sa'), mk('ResourceQuota', 'q')]).map((o) => o.kind))
      .toEqual(['ResourceQuota', 'ServiceAccount', 'Secret', 'Deployment', 'Widget']);
  });
});

describe('the archive', () => {
  it('round-trips, and a changed, missing or extra entry fails verification by name', async () => {
    const entries = [{ name: 'objects/core/ConfigMap/a.json', data: Buffer.from('{"a":1}') }, { name: 'row.json', data: Buffer.from('{}') }];
    const base = { format: 1 as const, custctlVersion: 't', createdAt: '2026-12-01T00:00:00.000Z', customerId: ID, namespace: NS, cluster: { server: 's', context: 'c' }, counts: {}, releases: [] };
    const { bytes } = await packArchive(entries, base, new Date(0));
    const read = await readArchive(bytes, 'x');
    expect(read.manifest.entries.map((e) => e.name)).toEqual(['objects/core/ConfigMap/a.json', 'row.json']);
    expect([...read.files.keys()]).toEqual(['objects/core/ConfigMap/a.json', 'row.json']);
    const files = new Map([['manifest.json', read.manifestBytes], ...read.files]);
    const changed = new Map(files).set('row.json', Buffer.from('{"x":1}'));
    await expect(readArchive(await repackArchive(changed), 'x')).rejects.toThrow(/failed verification/);
    const missing = new Map(files);
    missing.delete('row.json');
    await expect(readArchive(await repackArchive(missing), 'x')).rejects.toThrow(/failed verification/);
    const extra = new Map(files).set('evil.json', Buffer.from('{}'));
    const e = await readArchive(await repackArchive(extra), 'x').catch((err: unknown) => err as OperationError);
    expect(e).toBeInstanceOf(OperationError);
    expect((e as OperationError).details.join('\n')).toMatch(/evil\.json: not in the manifest/);
    await expect(readArchive(Buffer.from('not gzip'), 'x')).rejects.toThrow(/not a gzip archive/);
    await expect(readArchive(bytes, 'x', { customerId: 'cust_other' })).rejects.toThrow(/is of cust_bak123, not cust_other/);
  });
});

const job = (opts: Partial<Job['opts']> = {}, over: Partial<Job> = {}): Job => runningDeleteJob(ID, NS, opts, over);

describe('the backup step (fakes of the cluster, the real file target)', () => {
  let kube: FakeKube;
  let helm: FakeHelm;
  let store: FakeStore;
  let progress: number[];
  let dir: string;

  const run = (j: Job, backups: (u: string) => Promise<BackupTarget>) => runDeleteAttempt(
    { job: j, attempt: 1, signal: new AbortController().signal, progress: async (n) => void progress.push(n), log: () => undefined },
    store,
    async () => ({ kube, helm, target: kube.target, backups }),
    { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => Date.parse('2026-12-01T13:00:00Z') },
  );

  beforeEach(async () => {
    kube = new FakeKube();
    helm = new FakeHelm(kube);
    store = new FakeStore();
    progress = [];
    dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-backup-'));
    await store.add({ customerId: ID, email: 'e', companyName: 'c', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    await store.claimForDeletion(ID, '7', { force: false });
    kube.addNamespace(NS);
    kube.objects.set(NS, [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: NS, uid: 'u1' }, data: { a: '1' } }]);
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cfg' }]);
  });

  it('writes and verifies before anything is deleted, then deletes (progress 5 first)', async () => {
    const r = await run(job({ backupUrl: `file://${dir}` }), async () => new FileBackupTarget(dir));
    expect(r.backup?.url).toBe(`file://${dir}/${ID}-20261201T130000Z.tar.gz`);
    expect(readdirSync(dir)).toEqual([`${ID}-20261201T130000Z.tar.gz`]);
    expect(progress[0]).toBe(5);
    const firstDelete = kube.calls.findIndex((c) => c.startsWith('delete'));
    expect(kube.calls.indexOf(`export ${NS}`)).toBeLessThan(firstDelete);
    // then deletes (the release has no delete hooks: it goes with the namespace)
    expect(kube.calls).toContain(`delete ns/${NS}`);
  });

  it('a backup directory others can write: the backup is written, with a warning that a restore will refuse it', async () => {
    chmodSync(dir, 0o777);
    const lines: string[] = [];
    const r = await runDeleteAttempt(
      { job: job({ backupUrl: `file://${dir}` }), attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: (level, m, f) => void lines.push(`${level} ${m} ${JSON.stringify(f ?? {})}`) },
      store,
      async () => ({ kube, helm, target: kube.target, backups: async () => new FileBackupTarget(dir) }),
      { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => Date.parse('2026-12-01T13:00:00Z') },
    );
    expect(r.backup?.url).toBe(`file://${dir}/${ID}-20261201T130000Z.tar.gz`);
    expect(lines.join('\n')).toMatch(/warn Others can write where this backup lies: a restore will refuse it unless --trust-backup-location .*writable by everyone/);
  });

  it('a read-back that does not match (checksum mismatch) stops the deletion: nothing deleted, row handed back, no retry', async () => {
    const inner = new FileBackupTarget(dir);
    const corrupting: BackupTarget = {
      url: inner.url,
      put: (n, b, m) => inner.put(n, b, m),
      get: async (n) => { const b = await inner.get(n); b.writeUInt8(b.readUInt8(b.length - 9) ^ 0xff, b.length - 9); return b; },
      list: () => inner.list(),
      remove: (n) => inner.remove(n),
    };
    const e = await run(job({ backupUrl: `file://${dir}` }), async () => corrupting).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(/backup to file:\/\/.* failed, nothing was deleted: .*read back differs/);
    expect(exitCodeFor(e)).toBe(1);
    expect((e as { permanent: boolean }).permanent).toBe(true);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(helm.calls.filter((c) => c.startsWith('uninstall'))).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
    expect(progress).toEqual([]);
  });

  it('a later attempt of the job (progress past the backup) does not write a second, partial backup', async () => {
    await run(job({ backupUrl: `file://${dir}` }, { progress: 25, attemptsMade: 1 }), async () => new FileBackupTarget(dir));
    expect(readdirSync(dir)).toEqual([]);
    expect(kube.calls).not.toContain(`export ${NS}`);
  });

  it('without a backup URL nothing is exported', async () => {
    await run(job(), async () => { throw new Error('not called'); });
    expect(kube.calls).not.toContain(`export ${NS}`);
    expect(progress).not.toContain(5);
  });
});
