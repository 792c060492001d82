/**
 * Backup before deletion and restore, end to end on the real parts: the built binary, a real
 * kube-apiserver + controller-manager, real helm, real PostgreSQL. The round trip proves the two
 * directions against each other: what `delete --backup` wrote, `restore` brings back.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectTaggingCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { tarEntries } from '../support/archive.js';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { db, getNamespace, helm, kubectl, kubectlJson, namespaceOf, openCostName, provisionCustomer, randomKey } from '../support/fixtures.js';

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };
const mounts: string[] = [];

async function row(customerId: string) {
  const r = await db().query('select deployment_status, instance_namespace, instance_url from customers where customer_id = $1', [customerId]);
  return r.rows[0] as { deployment_status: string; instance_namespace: string; instance_url: string } | undefined;
}

const KINDS = ['configmaps', 'secrets', 'services', 'deployments.apps', 'serviceaccounts', 'roles.rbac.authorization.k8s.io', 'rolebindings.rbac.authorization.k8s.io', 'persistentvolumeclaims', 'networkpolicies.networking.k8s.io', 'resourcequotas'];

interface Obj { kind: string; type?: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] }; spec?: Record<string, unknown>; data?: unknown; rules?: unknown; subjects?: unknown; roleRef?: unknown }

/**
 * What must come back, compared field by field: spec (without what the API server allocates),
 * data, rules, subjects, labels, type. Written independently of custctl's own normalization.
 */
async function snapshot(namespace: string, extra: string[] = []): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of [...KINDS, ...extra]) {
    const list = await kubectlJson<{ items: Obj[] }>(['get', kind, '-n', namespace]);
    for (const o of list.items) {
      if (o.metadata.ownerReferences?.length) continue;
      if (o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt') continue;
      if (o.kind === 'ServiceAccount' && o.metadata.name === 'default') continue;
      if (o.type === 'kubernetes.io/service-account-token') continue;
      const spec = o.spec ? { ...o.spec } : undefined;
      if (spec && o.kind === 'Service') { delete spec.clusterIP; delete spec.clusterIPs; }
      if (spec && o.kind === 'PersistentVolumeClaim') delete spec.volumeName;
      out[`${o.kind}/${o.metadata.name}`] = { labels: o.metadata.labels, spec, data: o.data, rules: o.rules, subjects: o.subjects, roleRef: o.roleRef, type: o.type };
    }
  }
  return out;
}

async function clusterRbac(key: string) {
  const name = openCostName(key);
  const role = await kubectl(['get', 'clusterrole', name, '-o', 'json']);
  const binding = await kubectl(['get', 'clusterrolebinding', name, '-o', 'json']);
  const pick = (r: { exitCode: number; stdout: string }) => {
    if (r.exitCode !== 0) return null;
    const o = JSON.parse(r.stdout) as { metadata: { labels?: unknown; annotations?: Record<string, string> }; rules?: unknown; subjects?: unknown; roleRef?: unknown };
    return { labels: o.metadata.labels, rules: o.rules, subjects: o.subjects, roleRef: o.roleRef };
  };
  return { role: pick(role), binding: pick(binding) };
}

/** A CRD outside the release and one custom object in the namespace: discovery must find CRD-defined kinds. */
async function addGadget(key: string, namespace: string): Promise<string> {
  const plural = `${key}gadgets`;
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `${plural}.example.com` },
    spec: { group: 'example.com', scope: 'Namespaced', names: { plural, singular: `${key}gadget`, kind: `Gadget${key}` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }] },
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd), check: true });
  await kubectl(['wait', '--for=condition=Established', `crd/${plural}.example.com`, '--timeout=60s'], { check: true });
  const obj = { apiVersion: 'example.com/v1', kind: `Gadget${key}`, metadata: { name: 'the-gadget', namespace }, spec: { size: 3, colour: 'teal' } };
  // discovery of a new CRD can lag its Established condition: try until the server serves it
  for (let i = 0; ; i++) {
    const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(obj) });
    if (r.exitCode === 0) break;
    if (i > 30) throw new Error(r.stderr);
    await new Promise((res) => setTimeout(res, 500));
  }
  return `${plural}.example.com`;
}

function archives(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.tar.gz'));
}

async function repack(entries: Map<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => { pack.on('data', (c: Buffer) => chunks.push(c)); pack.on('end', () => resolve()); });
  for (const [name, data] of entries) pack.entry({ name, size: data.length }, data);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
});

afterAll(() => {
  for (const m of mounts) { try { execFileSync('umount', [m]); } catch { /* already gone */ } }
});

describe('delete --backup file:// and restore (round trip)', () => {
  it('backs up, deletes, restores everything (helm status deployed, specs, RBAC, row), and deletes again', async () => {
    const key = randomKey('bk');
    const c = await provisionCustomer(key, { pvcs: 1, extraConfigMaps: 2, extraSecrets: 1 });
    const crd = await addGadget(key, c.namespace);
    const before = await snapshot(c.namespace, [crd]);
    expect(Object.keys(before)).toEqual(expect.arrayContaining([`Gadget${key}/the-gadget`, 'Deployment/customer-instance', 'Service/customer-instance', 'PersistentVolumeClaim/customer-instance-data']));
    const rbacBefore = await clusterRbac(key);
    expect(rbacBefore.role).not.toBeNull();
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-backups-'));

    // the plan names the backup and what it does not cover
    const plan = await custctl(['delete', c.customerId, '--dry-run', '--backup', `file://${dir}`], { env });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(`write and verify file://${dir}`);
    expect(plan.stdout).toContain('not in the backup the data in PVC customer-instance-data');

    const del = await custctl(['delete', c.customerId, '--yes', '--backup', `file://${dir}`, '-o', 'json'], { env });
    expect(del.exitCode, del.stderr).toBe(0);
    expect(del.stderr).toContain('Backup written and verified');
    const files = archives(dir);
    expect(files).toHaveLength(1);
    const file = path.join(dir, files[0] as string);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const report = JSON.parse(del.stdout) as { results: Array<{ result: { backup: { url: string; entries: number } } }> };
    expect(report.results[0]?.result.backup.url).toBe(`file://${file}`);

    const entries = await tarEntries(file);
    const manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString()) as { customerId: string; custctlVersion: string; cluster: { server: string; context: string }; counts: Record<string, number>; releases: string[]; entries: Array<{ name: string; sha256: string }> };
    expect(manifest.customerId).toBe(c.customerId);
    expect(manifest.cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:/);
    expect(manifest.releases).toEqual([c.release]);
    expect(manifest.counts.ConfigMap).toBeGreaterThanOrEqual(3);
    expect(manifest.counts[`Gadget${key}`]).toBe(1);
    expect(manifest.counts.ClusterRole).toBe(1);
    expect(manifest.counts.Event ?? 0).toBe(0);
    expect(manifest.entries.length).toBe(entries.size - 1);
    // server-set fields are gone, the Helm release record is there
    const cm = JSON.parse((entries.get('objects/core/ConfigMap/customer-instance.json') ?? entries.get([...entries.keys()].find((n) => n.startsWith('objects/core/ConfigMap/')) as string) as Buffer).toString()) as { metadata: Record<string, unknown>; status?: unknown };
    for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields']) expect(cm.metadata).not.toHaveProperty(f);
    expect([...entries.keys()].some((n) => n.startsWith(`objects/core/Secret/sh.helm.release.v1.${c.release}.v1`))).toBe(true);

    // everything is gone
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await clusterRbac(key)).role).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');

    // restore: the dry run changes nothing; then the real one
    const dry = await custctl(['restore', c.customerId, '--from', `file://${dir}`, '--dry-run'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`create ${c.namespace}`);
    expect(dry.stdout).toContain(`restore ${c.release}`);
    expect(await getNamespace(c.namespace)).toBeNull();
    const noTty = await custctl(['restore', c.customerId, '--from', `file://${dir}`], { env });
    expect(noTty.exitCode).toBe(2);
    expect(await getNamespace(c.namespace)).toBeNull();

    const res = await custctl(['restore', c.customerId, '--from', `file://${file}`, '--yes', '-o', 'json'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    const rr = JSON.parse(res.stdout) as { state: string; jobId: string; result: { created: number; clusterRbac: string[] } };
    expect(rr.state).toBe('completed');
    expect(rr.result.created).toBeGreaterThan(5);

    const status = await helm(['status', c.release, '-n', c.namespace, '-o', 'json'], { check: true });
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');
    const history = await helm(['history', c.release, '-n', c.namespace, '-o', 'json'], { check: true });
    expect((JSON.parse(history.stdout) as unknown[]).length).toBe(1);
    expect(await snapshot(c.namespace, [crd])).toEqual(before);
    expect(await clusterRbac(key)).toEqual(rbacBefore);
    expect(await row(c.customerId)).toEqual({ deployment_status: 'deployed', instance_namespace: c.namespace, instance_url: `https://${key}.example.test` });
    const audited = await db().query<{ action: string; row_status: string; reason: string }>(`select action, row_status, reason from custctl_audit where customer_id = $1 and action = 'customer-restored'`, [c.customerId]);
    expect(audited.rows).toHaveLength(1);
    expect(audited.rows[0]).toMatchObject({ row_status: 'deployed', reason: expect.stringMatching(/^from file:\/\/.*objects created/) });
    const job = await custctl(['status', 'job', rr.jobId, '-o', 'json'], { env });
    expect((JSON.parse(job.stdout) as { name: string; state: string }).name).toBe('restore');

    // a second deletion works on the restored instance (its release records are found again)
    const again = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/Helm release goes with the namespace: no helm process\s+releaseName=customer-/);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await clusterRbac(key)).role).toBeNull();
    await kubectl(['delete', 'crd', crd, '--wait=false']);
  }, 300_000);

  it('CUSTCTL_BACKUP_URL is the default; --no-backup skips it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-backups-'));
    const a = await provisionCustomer(randomKey('bd'));
    const r = await custctl(['delete', a.customerId, '--yes'], { env: { ...env, CUSTCTL_BACKUP_URL: `file://${dir}` } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(archives(dir).filter((n) => n.startsWith(a.customerId))).toHaveLength(1);
    const b = await provisionCustomer(randomKey('bn'));
    const s = await custctl(['delete', b.customerId, '--yes', '--no-backup'], { env: { ...env, CUSTCTL_BACKUP_URL: `file://${dir}` } });
    expect(s.exitCode, s.stderr).toBe(0);
    expect(archives(dir).filter((n) => n.startsWith(b.customerId))).toHaveLength(0);
  }, 180_000);
});

describe('delete --backup s3:// and restore (s3rver on loopback)', () => {
  const s3env = () => ({ ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' });

  it('writes a tagged object, restores from it, and deletes again', async () => {
    const key = randomKey('bs');
    const c = await provisionCustomer(key, { extraConfigMaps: 3 });
    const before = await snapshot(c.namespace);
    const prefix = `prod-${key}`;
    const del = await custctl(['delete', c.customerId, '--yes', '--backup', `s3://${S3_BUCKET}/${prefix}`, '-o', 'json'], { env: s3env() });
    expect(del.exitCode, del.stderr).toBe(0);
    expect(await getNamespace(c.namespace)).toBeNull();
    const s3 = new S3Client({ endpoint: testEnv().s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${prefix}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${prefix}/${c.customerId}-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
    const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: S3_BUCKET, Key: keys[0] }));
    expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ 'customer-id': c.customerId, 'retention-days': '90' });
    s3.destroy();

    const res = await custctl(['restore', c.customerId, '--from', `s3://${S3_BUCKET}/${prefix}`, '--yes'], { env: s3env() });
    expect(res.exitCode, res.stderr).toBe(0);
    const status = await helm(['status', c.release, '-n', c.namespace, '-o', 'json'], { check: true });
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');
    expect(await snapshot(c.namespace)).toEqual(before);
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
    const again = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
  }, 240_000);

  it('an unreachable S3 endpoint stops the deletion with nothing deleted', async () => {
    const c = await provisionCustomer(randomKey('bz'));
    const r = await custctl(['delete', c.customerId, '--yes', '--backup', `s3://${S3_BUCKET}/x`], { env: { ...s3env(), CUSTCTL_S3_ENDPOINT: 'http://127.0.0.1:9' } });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('failed, nothing was deleted');
    expect(await getNamespace(c.namespace)).not.toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
    expect((await clusterRbac(c.key)).role).not.toBeNull();
    await custctl(['delete', c.customerId, '--yes'], { env });
  }, 180_000);
});

describe('a backup that cannot be written stops the deletion with nothing deleted', () => {
  const targets: Array<[string, () => string]> = [
    ['a path under a regular file (ENOTDIR)', () => {
      const d = mkdtempSync(path.join(tmpdir(), 'custctl-notdir-'));
      writeFileSync(path.join(d, 'file'), 'x');
      return path.join(d, 'file', 'backups');
    }],
    ['a full disk (a 64 KiB tmpfs filled up; a read-only dir when not root)', () => {
      const d = mkdtempSync(path.join(tmpdir(), 'custctl-full-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d]);
        mounts.push(d);
        try { writeFileSync(path.join(d, 'filler'), Buffer.alloc(1 << 20)); } catch { /* ENOSPC: full now */ }
      } catch {
        chmodSync(d, 0o500); // not root: a directory we may not write
      }
      return d;
    }],
    ['a read-only file system (a read-only tmpfs; a read-only dir when not root)', () => {
      const d = mkdtempSync(path.join(tmpdir(), 'custctl-ro-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', d]);
        mounts.push(d);
      } catch {
        chmodSync(d, 0o500);
      }
      return d;
    }],
  ];
  it.each(targets)('%s', async (_what, make) => {
    const dir = make();
    const c = await provisionCustomer(randomKey('bf'));
    const r = await custctl(['delete', c.customerId, '--yes', '--backup', `file://${dir}`], { env });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('failed, nothing was deleted');
    expect(r.stderr).toContain('The row is unchanged');
    expect(await getNamespace(c.namespace)).not.toBeNull();
    const rel = await helm(['status', c.release, '-n', c.namespace], {});
    expect(rel.exitCode, rel.stderr).toBe(0);
    expect((await clusterRbac(c.key)).role).not.toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
    // and the customer is deletable again at once
    const again = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
  }, 180_000);

  it('an unusable URL is refused before anything happens (exit 2)', async () => {
    const c = await provisionCustomer(randomKey('bu'));
    const r = await custctl(['delete', c.customerId, '--yes', '--backup', 'ftp://example/x'], { env });
    expect(r.exitCode).toBe(2);
    expect(await getNamespace(c.namespace)).not.toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('deployed');
    await custctl(['delete', c.customerId, '--yes'], { env });
  }, 120_000);
});

describe('restore refuses', () => {
  it('a row that is not pending, a namespace that exists, and an archive whose checksums do not match', async () => {
    const key = randomKey('br');
    const c = await provisionCustomer(key);
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-backups-'));
    const del = await custctl(['delete', c.customerId, '--yes', '--backup', `file://${dir}`], { env });
    expect(del.exitCode, del.stderr).toBe(0);
    const file = path.join(dir, archives(dir)[0] as string);

    // a checksum mismatch: one entry changed, the manifest kept
    const entries = await tarEntries(file);
    const name = [...entries.keys()].find((n) => n.startsWith('objects/core/ConfigMap/')) as string;
    entries.set(name, Buffer.from((entries.get(name) as Buffer).toString().replace('"data"', '"data" ')));
    const tamperedDir = mkdtempSync(path.join(tmpdir(), 'custctl-tampered-'));
    const tampered = path.join(tamperedDir, path.basename(file));
    writeFileSync(tampered, await repack(entries));
    const bad = await custctl(['restore', c.customerId, '--from', `file://${tampered}`, '--yes'], { env });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('failed verification');
    expect(bad.stderr).toContain(name);
    expect(await getNamespace(c.namespace)).toBeNull();
    expect((await row(c.customerId))?.deployment_status).toBe('pending');

    // the namespace exists (someone redeployed by hand)
    await kubectl(['create', 'namespace', c.namespace], { check: true });
    const exists = await custctl(['restore', c.customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(exists.exitCode).toBe(4);
    expect(exists.stderr).toContain(`namespace ${c.namespace} exists`);
    expect((await row(c.customerId))?.deployment_status).toBe('pending');
    await kubectl(['delete', 'namespace', c.namespace, '--wait=true', '--timeout=120s'], { check: true });

    // the row is not pending
    await db().query(`update customers set deployment_status = 'deployed' where customer_id = $1`, [c.customerId]);
    const deployed = await custctl(['restore', c.customerId, '--from', `file://${file}`, '--yes'], { env });
    expect(deployed.exitCode).toBe(4);
    expect(deployed.stderr).toContain('not pending');
    expect(await getNamespace(c.namespace)).toBeNull();
    // a directory with no backup of this customer
    const other = mkdtempSync(path.join(tmpdir(), 'custctl-empty-'));
    mkdirSync(path.join(other, 'x'));
    await db().query(`update customers set deployment_status = 'pending' where customer_id = $1`, [c.customerId]);
    const none = await custctl(['restore', c.customerId, '--from', `file://${other}`, '--yes'], { env });
    expect(none.exitCode).toBe(3);
    expect(namespaceOf(key)).toBe(c.namespace);
  }, 300_000);
});
