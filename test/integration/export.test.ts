/**
 * `custctl export` on the real parts: the built binary, the real control plane with the test
 * chart and `helm create`'s starter chart installed by real helm, PostgreSQL, s3rver, and the real
 * `age`, `tar`, `sha256sum` and `kubectl` a customer would use.
 * - the archive holds their ConfigMaps and Secrets (readable values), workloads, Services, PVCs,
 *   their account's fields and a README with a section per volume; no ClusterRole or binding, no
 *   Helm release record, no service-account token, nothing of another customer's namespace, no
 *   server-set field; it unpacks with tar, its SHA256SUMS checks with sha256sum, its YAML applies
 *   to another namespace with kubectl; the instance is untouched; the export is audited;
 * - encrypted to an age key (decrypted by the age CLI) into S3 with its tags, or with a passphrase;
 * - refused, with nothing written: a row naming another customer's namespace, an unknown
 *   customer, two ways to encrypt, a passphrase file others can read, a target that is not a URL.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { decryptWithPassphrase } from '../../src/adapters/export-archive.js';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { db, helm, kubectl, kubectlJson, provisionCustomer, randomKey, type ProvisionedCustomer } from '../support/fixtures.js';

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state, CUSTCTL_SITE_NAME: 'Example Hosting' };
const work = mkdtempSync(path.join(tmpdir(), 'custctl-export-'));

interface Written { url: string; bytes: number; sha256: string; encryption: string; files: number; summary: { included: Record<string, number>; excluded: Array<{ kind: string; name: string; reason: string }>; namespace: string } }

/** Unpacks with the real tar into a fresh directory; returns the export's directory. */
function untar(file: string): string {
  const into = mkdtempSync(path.join(work, 'x-'));
  execFileSync('tar', ['xzf', file, '-C', into]);
  const [root] = readdirSync(into);
  return path.join(into, root as string);
}

const read = (root: string, p: string) => readFileSync(path.join(root, p), 'utf8');
const docs = (root: string, p: string) => parseAllDocuments(read(root, p)).map((d) => d.toJS() as { kind: string; metadata: Record<string, unknown>; stringData?: Record<string, string>; data?: Record<string, string>; spec?: Record<string, unknown> });

let a: ProvisionedCustomer;
let b: ProvisionedCustomer;
let starter: string;

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  a = await provisionCustomer(randomKey('ex'), { pvcs: 1, extraConfigMaps: 2, extraSecrets: 1 });
  b = await provisionCustomer(randomKey('eo'), { extraConfigMaps: 1 });
  // the customer's own application, from helm create's starter chart, beside the platform's
  const charts = mkdtempSync(path.join(work, 'charts-'));
  await helm(['create', path.join(charts, 'starter')], { check: true });
  starter = 'web';
  await helm(['install', starter, path.join(charts, 'starter'), '--namespace', a.namespace], { check: true });
  // a secret the customer made themselves, one text value and one binary value
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-db', namespace: a.namespace }, type: 'Opaque',
    data: { password: Buffer.from('hunter2-correct').toString('base64'), keystore: Buffer.from('\u0000\u0001binary').toString('base64') } };
  await kubectl(['create', '-f', '-'], { input: JSON.stringify(secret), check: true });
}, 300_000);

describe('export to file://', () => {
  let out: string;
  let written: Written;
  let root: string;
  let before: string;

  beforeAll(async () => {
    out = mkdtempSync(path.join(work, 'to-'));
    before = JSON.stringify((await kubectlJson<{ items: Array<{ metadata: { name: string; resourceVersion: string } }> }>(['get', 'configmaps,secrets,deployments,services', '-n', a.namespace])).items.map((i) => [i.metadata.name, i.metadata.resourceVersion]));
    const r = await custctlJson<Written>(['export', a.customerId, '--to', `file://${out}`], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.result.stderr).toMatch(/not encrypted: it holds the customer's secrets in clear text/);
    written = r.json;
    const files = readdirSync(out);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^${a.customerId}-export-\\d{8}T\\d{6}Z\\.tar\\.gz$`));
    root = untar(path.join(out, files[0] as string));
  }, 300_000);

  it('holds their ConfigMaps and Secrets (readable values), workloads, Services and PVCs, of both their charts', () => {
    const cms = docs(root, 'kubernetes/configuration.yaml');
    expect(cms.map((d) => d.metadata.name).sort()).toEqual(['customer-instance', 'customer-instance-extra-0', 'customer-instance-extra-1']);
    expect(cms.find((d) => d.metadata.name === 'customer-instance')).toMatchObject({ data: { CUSTOMER_KEY: a.key } });
    const secrets = docs(root, 'kubernetes/secrets.yaml');
    expect(secrets.map((d) => d.metadata.name).sort()).toEqual(['app-db', 'customer-instance', 'customer-instance-extra-0']);
    expect(secrets.find((d) => d.metadata.name === 'customer-instance')?.stringData).toEqual({ API_TOKEN: `test-token-${a.key}` });
    const appDb = secrets.find((d) => d.metadata.name === 'app-db');
    expect(appDb?.stringData).toEqual({ password: 'hunter2-correct' });
    expect(Buffer.from(appDb?.data?.keystore ?? '', 'base64').toString()).toBe('\u0000\u0001binary');
    const workloads = docs(root, 'kubernetes/workloads.yaml').map((d) => `${d.kind}/${d.metadata.name}`).sort();
    expect(workloads).toEqual(['Deployment/customer-instance', `Deployment/${starter}-starter`]);
    expect(docs(root, 'kubernetes/network.yaml').map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual(['Service/customer-instance', `Service/${starter}-starter`]);
    expect(docs(root, 'kubernetes/storage.yaml').map((d) => d.metadata.name).sort()).toEqual(['customer-instance-data', 'customer-instance-data-1']);
    expect(written.summary.included).toMatchObject({ ConfigMap: 3, Secret: 3, Deployment: 2, Service: 2, PersistentVolumeClaim: 2 });
  });

  it('holds nothing of the operator or of another customer, and no field the server set', () => {
    const all = readdirSync(path.join(root, 'kubernetes')).map((f) => read(root, `kubernetes/${f}`)).join('\n') + read(root, 'export.json') + read(root, 'README.md');
    expect(all).not.toMatch(/ClusterRole|kind: Namespace|helm\.sh\/release\.v1|service-account-token|kube-root-ca/);
    expect(all).not.toContain(b.key);
    for (const f of readdirSync(path.join(root, 'kubernetes'))) {
      for (const d of docs(root, `kubernetes/${f}`)) {
        expect(Object.keys(d.metadata).filter((k) => ['uid', 'resourceVersion', 'managedFields', 'creationTimestamp', 'namespace', 'ownerReferences', 'generation'].includes(k)), `${d.kind}/${d.metadata.name}`).toEqual([]);
        expect(d).not.toHaveProperty('status');
        expect(Object.keys((d.metadata.annotations as Record<string, string> | undefined) ?? {}).filter((k) => k.startsWith('meta.helm.sh/'))).toEqual([]);
      }
    }
    // what was left out, and why, for them to read
    const excluded = written.summary.excluded.map((x) => `${x.kind}/${x.name}`);
    expect(excluded).toEqual(expect.arrayContaining([`Secret/sh.helm.release.v1.${a.release}.v1`, `Secret/sh.helm.release.v1.${starter}.v1`, 'ServiceAccount/default', 'ResourceQuota/customer-instance', 'Role/customer-instance', 'RoleBinding/customer-instance']));
    const reasons = new Map(written.summary.excluded.map((x) => [`${x.kind}/${x.name}`, x.reason]));
    expect([...reasons].filter(([k]) => /^Secret\/.*-token-/.test(k)).map(([, r]) => r)).toEqual(expect.arrayContaining([expect.stringMatching(/service-account token/)]));
    expect([...reasons].filter(([k]) => k.startsWith('ReplicaSet/') || k.startsWith('Pod/')).every(([, r]) => /owner/.test(r))).toBe(true);
  });

  it('their account, their volumes (a README section each) and a README; SHA256SUMS checks with sha256sum', () => {
    expect(JSON.parse(read(root, 'account.json'))).toMatchObject({ customerId: a.customerId, email: `${a.key}@example.test`, companyName: `Test company ${a.key}`, instanceUrl: `https://${a.key}.example.test`, status: 'deployed' });
    const readme = read(root, 'README.md');
    expect(readme).toContain(`# Your data export (${a.customerId})`);
    expect(readme).toContain('Made by Example Hosting');
    expect(readme).toContain('### Volume `customer-instance-data`');
    expect(readme).toContain('### Volume `customer-instance-data-1`');
    expect(readme).toContain('## Not included');
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' })).toMatch(/README\.md: OK[\s\S]*kubernetes\/secrets\.yaml: OK/);
  });

  it('its YAML applies to another namespace with kubectl, as the README says', async () => {
    const ns = `customer-${randomKey('ap')}`;
    await kubectl(['create', 'namespace', ns], { check: true });
    try {
      const r = await kubectl(['apply', '-n', ns, '-f', path.join(root, 'kubernetes')]);
      expect(r.exitCode, r.stderr).toBe(0);
      const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'customer-instance', '-n', ns]);
      expect(cm.data.CUSTOMER_KEY).toBe(a.key);
      const s = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'app-db', '-n', ns]);
      expect(Buffer.from(s.data.password ?? '', 'base64').toString()).toBe('hunter2-correct');
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });

  it('leaves the instance as it was, and is recorded in the audit log', async () => {
    const after = JSON.stringify((await kubectlJson<{ items: Array<{ metadata: { name: string; resourceVersion: string } }> }>(['get', 'configmaps,secrets,deployments,services', '-n', a.namespace])).items.map((i) => [i.metadata.name, i.metadata.resourceVersion]));
    expect(after).toBe(before);
    const r = await db().query(`select action, outcome, reason from custctl_audit where customer_id = $1 and action = 'customer-exported'`, [a.customerId]);
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0]).toMatchObject({ outcome: 'exported' });
    expect(r.rows[0]?.reason).toContain(written.url);
    expect(r.rows[0]?.reason).not.toContain('@');
  });
});

describe('encrypted exports', () => {
  it('to an age key, in S3 with its tags; the age CLI decrypts it', async () => {
    const identity = path.join(work, 'customer.key');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const prefix = `exports-${a.key}`;
    const s3env = { ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' };
    const r = await custctlJson<Written>(['export', a.customerId, '--to', `s3://${S3_BUCKET}/${prefix}`, '--recipient', recipient], { env: s3env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.json.encryption).toBe('recipients');
    const s3 = new S3Client({ endpoint: testEnv().s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${prefix}/` }));
      const keys = (listed.Contents ?? []).map((o) => o.Key as string);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(new RegExp(`^${prefix}/${a.customerId}-export-\\d{8}T\\d{6}Z\\.tar\\.gz\\.age$`));
      const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: S3_BUCKET, Key: keys[0] }));
      expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ 'customer-id': a.customerId, 'retention-days': '30' });
      const obj = await s3.send(new GetObjectCommand({ Bucket: S3_BUCKET, Key: keys[0] }));
      const enc = path.join(work, 'export.tar.gz.age');
      writeFileSync(enc, Buffer.from(await (obj.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()));
      const plain = path.join(work, 'export-from-s3.tar.gz');
      execFileSync('age', ['-d', '-i', identity, '-o', plain, enc]);
      const root = untar(plain);
      expect(docs(root, 'kubernetes/secrets.yaml').find((d) => d.metadata.name === 'app-db')?.stringData).toEqual({ password: 'hunter2-correct' });
    } finally {
      s3.destroy();
    }
  }, 240_000);

  it('with a passphrase from a file (0600 only); it decrypts with that passphrase', async () => {
    const out = mkdtempSync(path.join(work, 'pp-'));
    const pass = path.join(work, 'passphrase');
    writeFileSync(pass, 'orbit lantern velvet thistle\n', { mode: 0o644 });
    chmodSync(pass, 0o644);
    const loose = await custctl(['export', a.customerId, '--to', `file://${out}`, '--passphrase-file', pass], { env });
    expect(loose.exitCode).toBe(2);
    expect(loose.stderr).toMatch(/readable or writable by others/);
    expect(readdirSync(out)).toEqual([]);
    chmodSync(pass, 0o600);
    const r = await custctlJson<Written>(['export', a.customerId, '--to', `file://${out}`, '--passphrase-file', pass], { env });
    expect(r.result.exitCode, r.result.stderr).toBe(0);
    expect(r.json.encryption).toBe('passphrase');
    const [name] = readdirSync(out);
    expect(name).toMatch(/\.tar\.gz\.age$/);
    const plain = path.join(work, 'export-pp.tar.gz');
    writeFileSync(plain, await decryptWithPassphrase(readFileSync(path.join(out, name as string)), 'orbit lantern velvet thistle'));
    expect(read(untar(plain), 'account.json')).toContain(a.customerId);
  }, 240_000);
});

describe('refusals, with nothing written', () => {
  it("a row naming another customer's namespace, an unknown customer, two ways to encrypt, a target that is not a URL", async () => {
    const c = await provisionCustomer(randomKey('er'), { release: false, namespace: false });
    await db().query('update customers set instance_namespace = $2 where customer_id = $1', [c.customerId, b.namespace]);
    const out = mkdtempSync(path.join(work, 'refused-'));
    const foreign = await custctl(['export', c.customerId, '--to', `file://${out}`], { env });
    expect(foreign.exitCode).toBe(2);
    expect(foreign.stderr).toMatch(new RegExp(`refusing to export ${c.customerId}: its row says instance_namespace="${b.namespace}"`));
    const unknown = await custctl(['export', 'cust_nosuchexport1', '--to', `file://${out}`], { env });
    expect(unknown.exitCode).toBe(3);
    const both = await custctl(['export', a.customerId, '--to', `file://${out}`, '--recipient', 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p', '--passphrase-file', '/dev/null'], { env });
    expect(both.exitCode).toBe(2);
    const notUrl = await custctl(['export', a.customerId, '--to', 'http://example.com/x'], { env });
    expect(notUrl.exitCode).toBe(2);
    expect(readdirSync(out)).toEqual([]);
    const audited = await db().query(`select count(*)::int as n from custctl_audit where customer_id = $1 and action = 'customer-exported'`, [c.customerId]);
    expect(audited.rows[0]?.n).toBe(0);
  }, 120_000);
});
