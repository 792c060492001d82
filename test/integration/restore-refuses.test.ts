/**
 * Restore creates only what the customer owned, end to end: the built binary, a real
 * kube-apiserver, real PostgreSQL, s3rver. Each archive here is edited the way an attacker would
 * edit one (entries changed or added, manifest.json rewritten with recomputed sums), and each is
 * refused before anything is created: the namespace stays absent, the row pending, and what the
 * archive tried to create does not exist afterwards.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { generateIdentity, identityToRecipient, Encrypter } from 'age-encryption';
import { execa } from 'execa';
import tar from 'tar-stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { forgeArchive, tarEntries } from '../support/archive.js';
import { BIN, custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { cliEnv, testEnv } from '../support/env.js';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { db, getNamespace, kubectl, kubectlJson, openCostName, provisionCustomer, randomKey } from '../support/fixtures.js';

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };

let key = '';
let customerId = '';
let namespace = '';
let original = '';
let entries = new Map<string, Buffer>();

async function rowStatus(): Promise<string | undefined> {
  const r = await db().query('select deployment_status from customers where customer_id = $1', [customerId]);
  return (r.rows[0] as { deployment_status: string } | undefined)?.deployment_status;
}

/** A fresh private directory holding one archive under the customer's archive name. */
function place(bytes: Buffer, stamp = '20261201T120000Z'): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-forged-'));
  const file = path.join(dir, `${customerId}-${stamp}.tar.gz`);
  writeFileSync(file, bytes, { mode: 0o600 });
  return { dir, file };
}

const json = (o: unknown) => Buffer.from(`${JSON.stringify(o, null, 2)}\n`);
const edited = (change: (m: Map<string, Buffer>) => void) => {
  const m = new Map(entries);
  change(m);
  return m;
};
const firstEntry = (prefix: string) => [...entries.keys()].find((n) => n.startsWith(prefix)) as string;

/** Nothing of the customer came back, and the row is still pending. */
async function nothingCreated(): Promise<void> {
  expect(await getNamespace(namespace)).toBeNull();
  expect(await rowStatus()).toBe('pending');
  expect((await kubectl(['get', 'clusterrole', openCostName(key)])).exitCode).not.toBe(0);
}

async function anonymousAdmins(): Promise<string[]> {
  const list = await kubectlJson<{ items: Array<{ metadata: { name: string }; roleRef: { name: string }; subjects?: Array<{ kind: string; name: string }> }> }>(['get', 'clusterrolebindings']);
  return list.items.filter((b) => b.subjects?.some((s) => s.name === 'system:anonymous')).map((b) => `${b.metadata.name}→${b.roleRef.name}`);
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  key = randomKey('rr');
  const c = await provisionCustomer(key);
  customerId = c.customerId;
  namespace = c.namespace;
  const dir = mkdtempSync(path.join(tmpdir(), 'custctl-backups-'));
  const del = await custctl(['delete', customerId, '--yes', '--backup', `file://${dir}`], { env });
  expect(del.exitCode, del.stderr).toBe(0);
  const { readdirSync } = await import('node:fs');
  original = path.join(dir, readdirSync(dir).find((n) => n.endsWith('.tar.gz')) as string);
  entries = await tarEntries(original);
  // the control: the archive as custctl wrote it passes every rule (and so does one re-packed unchanged)
  const ok = await custctl(['restore', customerId, '--from', `file://${original}`, '--dry-run'], { env });
  expect(ok.exitCode, ok.stderr).toBe(0);
  const same = place(await forgeArchive(entries));
  const ok2 = await custctl(['restore', customerId, '--from', `file://${same.file}`, '--dry-run'], { env });
  expect(ok2.exitCode, ok2.stderr).toBe(0);
}, 300_000);

describe('restore refuses what the customer did not own (exit 2, each refused entry listed, nothing created)', () => {
  it('a ClusterRoleBinding of cluster-admin to system:anonymous, also with --dry-run', async () => {
    const name = `custctl-test-pwn-${key}`;
    const pwn = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
    };
    const { file } = place(await forgeArchive(edited((m) => m.set(`cluster/ClusterRoleBinding/${name}.json`, json(pwn)))));
    for (const extra of [['--dry-run'], ['--yes']]) {
      const r = await custctl(['restore', customerId, '--from', `file://${file}`, ...extra], { env });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`cluster/ClusterRoleBinding/${name}.json: ClusterRoleBinding ${name} is not ${customerId}'s`);
      expect(r.stderr).toContain('binds ClusterRole cluster-admin, which');
      expect(r.stderr).toContain('grants User system:anonymous cluster-wide');
      expect(r.stderr).toContain('nothing was created');
    }
    expect((await kubectl(['get', 'clusterrolebinding', name])).exitCode).not.toBe(0);
    expect(await anonymousAdmins()).toEqual([]);
    await nothingCreated();
  }, 120_000);

  it('the same binding named by the ownership rule, to look like the customer\'s', async () => {
    const name = `c${key}-customer-instance-pwn`;
    const pwn = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:anonymous' }],
    };
    const { file } = place(await forgeArchive(edited((m) => m.set(`cluster/ClusterRoleBinding/${name}.json`, json(pwn)))));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`binds ClusterRole cluster-admin, which ${customerId} does not own`);
    expect((await kubectl(['get', 'clusterrolebinding', name])).exitCode).not.toBe(0);
    expect(await anonymousAdmins()).toEqual([]);
    await nothingCreated();
  }, 120_000);

  it('a namespaced object naming kube-system (refused, not rewritten)', async () => {
    const cm = firstEntry('objects/core/ConfigMap/');
    const o = JSON.parse((entries.get(cm) as Buffer).toString()) as { metadata: { name: string; namespace: string } };
    o.metadata.namespace = 'kube-system';
    const { file } = place(await forgeArchive(edited((m) => m.set(cm, json(o)))));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`${cm}: names the namespace "kube-system", not ${namespace}: refused, not rewritten`);
    expect((await kubectl(['get', 'configmap', o.metadata.name, '-n', 'kube-system'])).exitCode).not.toBe(0);
    await nothingCreated();
  }, 120_000);

  it('a cluster-scoped kind placed under objects/', async () => {
    const name = `custctl-test-under-objects-${key}`;
    const crb = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name, namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'default', namespace }],
    };
    const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: `custctl-test-pv-${key}`, namespace }, spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/' } } };
    const { file } = place(await forgeArchive(edited((m) => {
      m.set(`objects/rbac.authorization.k8s.io/ClusterRoleBinding/${name}.json`, json(crb));
      m.set(`objects/core/PersistentVolume/${pv.metadata.name}.json`, json(pv));
    })));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`objects/rbac.authorization.k8s.io/ClusterRoleBinding/${name}.json: rbac.authorization.k8s.io/v1 ClusterRoleBinding is cluster-scoped`);
    expect(r.stderr).toContain(`objects/core/PersistentVolume/${pv.metadata.name}.json: v1 PersistentVolume is cluster-scoped`);
    expect((await kubectl(['get', 'clusterrolebinding', name])).exitCode).not.toBe(0);
    expect((await kubectl(['get', 'persistentvolume', pv.metadata.name])).exitCode).not.toBe(0);
    await nothingCreated();
  }, 120_000);

  it('bindings to roles the customer does not own: a RoleBinding to cluster-admin in the namespace, a ClusterRoleBinding to edit', async () => {
    const rb = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'everyone-admin', namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: 'customer-instance', namespace }],
    };
    const crbName = openCostName(key);
    const crbEntry = `cluster/ClusterRoleBinding/${crbName}.json`;
    const crb = JSON.parse((entries.get(crbEntry) as Buffer).toString()) as { roleRef: { name: string } };
    crb.roleRef.name = 'edit';
    const { file } = place(await forgeArchive(edited((m) => {
      m.set('objects/rbac.authorization.k8s.io/RoleBinding/everyone-admin.json', json(rb));
      m.set(crbEntry, json(crb));
    })));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`objects/rbac.authorization.k8s.io/RoleBinding/everyone-admin.json: binds ClusterRole cluster-admin, which ${customerId} does not own`);
    expect(r.stderr).toContain(`${crbEntry}: binds ClusterRole edit, which ${customerId} does not own`);
    await nothingCreated();
  }, 120_000);

  it('a row.json of another customer under this customer\'s manifest', async () => {
    const other = `cust_${randomKey('ro')}`;
    const { file } = place(await forgeArchive(edited((m) => m.set('row.json', json({ ...(JSON.parse((entries.get('row.json') as Buffer).toString()) as object), customerId: other })))));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toContain(`row.json: is the row of "${other}", not ${customerId}`);
    await nothingCreated();
  }, 120_000);

  it('the same rules through an encrypted archive (age, no sums beside it) and through s3://', async () => {
    const name = `custctl-test-pwn-enc-${key}`;
    const pwn = {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'Group', name: 'system:authenticated' }],
    };
    const forged = await forgeArchive(edited((m) => m.set(`cluster/ClusterRoleBinding/${name}.json`, json(pwn))));
    const identity = await generateIdentity();
    const e = new Encrypter();
    e.addRecipient(await identityToRecipient(identity));
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-forged-enc-'));
    const encFile = path.join(dir, `${customerId}-20261201T120000Z.tar.gz.age`);
    writeFileSync(encFile, Buffer.from(await e.encrypt(forged)), { mode: 0o600 });
    const enc = await custctl(['restore', customerId, '--from', `file://${encFile}`, '--yes'], { env: { ...env, CUSTCTL_BACKUP_IDENTITY: identity } });
    expect(enc.exitCode, enc.stderr).toBe(2);
    expect(enc.stderr).toContain(`cluster/ClusterRoleBinding/${name}.json`);

    const s3 = new S3Client({ endpoint: testEnv().s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const prefix = `forged-${key}`;
    await s3.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `${prefix}/${customerId}-20261201T120000Z.tar.gz`, Body: forged }));
    s3.destroy();
    const s3env = { ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' };
    const viaS3 = await custctl(['restore', customerId, '--from', `s3://${S3_BUCKET}/${prefix}`, '--yes'], { env: s3env });
    expect(viaS3.exitCode, viaS3.stderr).toBe(2);
    expect(viaS3.stderr).toContain(`cluster/ClusterRoleBinding/${name}.json`);
    expect((await kubectl(['get', 'clusterrolebinding', name])).exitCode).not.toBe(0);
    await nothingCreated();
  }, 180_000);
});

describe('the archive is trusted no further than its location', () => {
  it('a directory others can write is refused (exit 2); --trust-backup-location reads it', async () => {
    const { dir, file } = place(readFileSync(original));
    chmodSync(dir, 0o777);
    for (const from of [`file://${file}`, `file://${dir}`]) {
      const r = await custctl(['restore', customerId, '--from', from, '--dry-run'], { env });
      expect(r.exitCode, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${dir} is writable by everyone (mode 0777)`);
      expect(r.stderr).toContain('--trust-backup-location');
    }
    const trusted = await custctl(['restore', customerId, '--from', `file://${file}`, '--dry-run', '--trust-backup-location'], { env });
    expect(trusted.exitCode, trusted.stderr).toBe(0);
    await nothingCreated();
  }, 120_000);

  it('an archive file others can write, or owned by another user, is refused', async () => {
    const { file } = place(readFileSync(original));
    chmodSync(file, 0o666);
    const writable = await custctl(['restore', customerId, '--from', `file://${file}`, '--dry-run'], { env });
    expect(writable.exitCode, writable.stderr).toBe(2);
    expect(writable.stderr).toContain(`${file} is writable by everyone (mode 0666)`);
    chmodSync(file, 0o600);
    chownSync(file, 65534, 65534);
    const owned = await custctl(['restore', customerId, '--from', `file://${file}`, '--dry-run'], { env });
    expect(owned.exitCode, owned.stderr).toBe(2);
    expect(owned.stderr).toContain(`${file} is owned by uid 65534`);
    await nothingCreated();
  }, 120_000);

  it('restore --from DIR picks the archive by the time in its manifest, not by the newest file name', async () => {
    const realTime = (JSON.parse((entries.get('manifest.json') as Buffer).toString()) as { createdAt: string }).createdAt;
    const { dir, file } = place(readFileSync(original), '20261201T120000Z');
    // an older backup (by its manifest) under a name that sorts last
    const older = await forgeArchive(entries, (m) => { m.createdAt = new Date(Date.parse(realTime) - 86_400_000).toISOString(); });
    writeFileSync(path.join(dir, `${customerId}-29991231T235959Z.tar.gz`), older, { mode: 0o600 });
    const { result, json: plan } = await custctlJson<{ plan: { from: string; backup: { createdAt: string } } }>(['restore', customerId, '--from', `file://${dir}`, '--dry-run'], { env });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(plan.plan.from).toBe(`file://${file}`);
    expect(plan.plan.backup.createdAt).toBe(realTime);
  }, 120_000);
});

/** Runs the built CLI under GNU time: its exit code, stderr, and its peak RSS in MiB. */
async function custctlRss(args: readonly string[]): Promise<{ exitCode: number; stderr: string; rssMiB: number }> {
  const r = await execa('/usr/bin/time', ['-f', 'MAXRSS_KB=%M', 'node', BIN, ...args], { env: { ...cliEnv(), NO_COLOR: '1', ...env }, extendEnv: false, reject: false, timeout: 300_000 });
  const m = /MAXRSS_KB=(\d+)/.exec(String(r.stderr));
  const rssMiB = m ? Number(m[1]) / 1024 : Number.NaN;
  console.info(`custctl ${args.slice(0, 2).join(' ')} …: peak RSS ${rssMiB.toFixed(0)} MiB, exit ${r.exitCode}`);
  return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr), rssMiB };
}

/** The archive's own entries, then `name` holding `bytes` zeros (not in the manifest), gzipped as a stream. */
async function bomb(name: string, bytes: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise<void>((r) => gz.on('end', () => r()));
  const pack = tar.pack();
  pack.on('data', (c: Buffer) => { if (!gz.write(c)) pack.pause(); });
  gz.on('drain', () => pack.resume());
  const packed = new Promise<void>((r) => pack.on('end', () => r()));
  for (const [n, data] of entries) pack.entry({ name: n, size: data.length }, data);
  const s = pack.entry({ name, size: bytes });
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let left = bytes; left > 0; left -= chunk.length) {
    if (!s.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  pack.finalize();
  await packed;
  gz.end();
  await ended;
  return Buffer.concat(out);
}

describe('reading an archive is bounded and every failure names its entry', () => {
  it('a small archive that inflates to a gigabyte (an entry the manifest does not list) is refused early, with flat memory', async () => {
    const bytes = await bomb('objects/core/ConfigMap/zeros.json', 1024 * 1024 * 1024);
    expect(bytes.length).toBeLessThan(2 * 1024 * 1024);
    const { file } = place(bytes);
    const r = await custctlRss(['restore', customerId, '--from', `file://${file}`, '--dry-run']);
    // measured: 62 MiB; read whole into memory (as before), 3.1 GiB
    expect(r.rssMiB, r.stderr.slice(-2000)).toBeLessThan(400);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('objects/core/ConfigMap/zeros.json: not in the manifest: refused before it is read');
    await nothingCreated();
  }, 300_000);

  it('a manifest of another customer is refused from the manifest, before a gigabyte it lists is inflated', async () => {
    const other = `cust_${randomKey('ro')}`;
    const big = 'objects/core/ConfigMap/zeros.json';
    const size = 1024 * 1024 * 1024;
    const hash = createHash('sha256');
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    for (let left = size; left > 0; left -= zeros.length) hash.update(zeros);
    const m = JSON.parse((entries.get('manifest.json') as Buffer).toString()) as { customerId: string; entries: unknown[] };
    m.customerId = other;
    m.entries.push({ name: big, sha256: hash.digest('hex'), bytes: size });
    const saved = entries;
    entries = edited((x) => x.set('manifest.json', Buffer.from(JSON.stringify(m, null, 2))));
    let bytes: Buffer;
    try {
      bytes = await bomb(big, size);
    } finally {
      entries = saved;
    }
    const { file } = place(bytes);
    const r = await custctlRss(['restore', customerId, '--from', `file://${file}`, '--dry-run']);
    expect(r.rssMiB, r.stderr.slice(-2000)).toBeLessThan(400);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain(`is of ${other}, not ${customerId}: refusing`);
    await nothingCreated();
  }, 300_000);

  it('a listed entry that is far larger than the manifest says is refused from its header, memory flat', async () => {
    const big = firstEntry('objects/core/ConfigMap/');
    const withoutIt = edited((m) => m.delete(big));
    const saved = entries;
    entries = withoutIt;
    let bytes: Buffer;
    try {
      bytes = await bomb(big, 1024 * 1024 * 1024);
    } finally {
      entries = saved;
    }
    const { file } = place(bytes);
    const r = await custctlRss(['restore', customerId, '--from', `file://${file}`, '--dry-run']);
    expect(r.rssMiB, r.stderr.slice(-2000)).toBeLessThan(400);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${big}: 1073741824 bytes in the archive, the manifest says ${(entries.get(big) as Buffer).length}`);
  }, 300_000);

  it('malformed JSON, and an object without metadata: a verification error naming the entry, not an unexpected error', async () => {
    const cm = firstEntry('objects/core/ConfigMap/');
    const svc = firstEntry('objects/core/Service/');
    const { file } = place(await forgeArchive(edited((m) => {
      m.set(cm, Buffer.from('{"apiVersion": "v1", "kind": "ConfigMap", '));
      m.set(svc, json({ apiVersion: 'v1', kind: 'Service', spec: {} }));
    })));
    const r = await custctl(['restore', customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toContain('failed verification');
    expect(r.stderr).toContain(`${cm}: not JSON`);
    expect(r.stderr).toContain(`${svc}: not what custctl writes: has no metadata`);
    expect(r.stderr).not.toMatch(/unexpected error/i);
    await nothingCreated();
  }, 120_000);
});

describe('backup URLs: refused, never silently changed', () => {
  it('delete --backup with credentials or a port in an s3:// URL, and restore --from climbing out, are refused (exit 2) with nothing deleted', async () => {
    const c = await provisionCustomer(randomKey('ru'));
    const s3env = { ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' };
    for (const url of [`s3://AKIAEXAMPLE:secret@${S3_BUCKET}/x`, `s3://${S3_BUCKET}:9000/x`, `s3://${S3_BUCKET}/x?versionId=1`, 'file:backups', 'file:///var/backups/%2F..%2Fetc']) {
      const r = await custctl(['delete', c.customerId, '--yes', '--backup', url], { env: s3env });
      expect(r.exitCode, `${url}: ${r.stderr}`).toBe(2);
      expect(r.stderr).not.toContain('secret');
      expect(await getNamespace(c.namespace), url).not.toBeNull();
    }
    const viaEnv = await custctl(['delete', c.customerId, '--yes'], { env: { ...s3env, CUSTCTL_BACKUP_URL: `s3://AKIAEXAMPLE:secret@${S3_BUCKET}/x` } });
    expect(viaEnv.exitCode).toBe(2);
    expect(await getNamespace(c.namespace)).not.toBeNull();
    const from = await custctl(['restore', customerId, '--from', 'file:///tmp/%2F..%2Fetc', '--dry-run'], { env });
    expect(from.exitCode).toBe(2);
    expect(from.stderr).toContain('path separator');
    const list = await custctl(['backups', 'list', '--backup', `s3://${S3_BUCKET}/x#frag`], { env: s3env });
    expect(list.exitCode).toBe(2);
    const del = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(del.exitCode, del.stderr).toBe(0);
  }, 180_000);
});
