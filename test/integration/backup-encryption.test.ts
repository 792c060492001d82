/**
 * Encrypted backups and `backups list|prune`, end to end on the real parts (built binary, real kube-apiserver, helm,
 * PostgreSQL, s3rver on loopback): an encrypted backup cannot be read without the identity and
 * restores with it; `backups list|prune` on file and S3 targets, refusals and audit rows included.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DeleteObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { beforeAll, describe, expect, it } from 'vitest';
import { custctl, tempStateDir } from '../support/cli.js';
import { testEnv } from '../support/env.js';
import { S3_BUCKET, S3_CREDENTIALS } from '../env/s3.js';
import { db, getNamespace, helm, kubectlJson, provisionCustomer, randomKey } from '../support/fixtures.js';

const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };
const s3env = () => ({ ...env, ...S3_CREDENTIALS, CUSTCTL_S3_ENDPOINT: testEnv().s3Endpoint, CUSTCTL_S3_FORCE_PATH_STYLE: 'true', CUSTCTL_S3_REGION: 'us-east-1' });
const s3client = () => new S3Client({ endpoint: testEnv().s3Endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });

let identity = '';
let recipient = '';
let identityFile = '';

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  identityFile = path.join(mkdtempSync(path.join(tmpdir(), 'custctl-age-')), 'backup-key.txt');
  writeFileSync(identityFile, `# created by the test\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
});

async function row(customerId: string) {
  const r = await db().query('select deployment_status from customers where customer_id = $1', [customerId]);
  return (r.rows[0] as { deployment_status: string } | undefined)?.deployment_status;
}

/** ConfigMaps and Secrets of the namespace (name → data), the objects the chart and the customer own. */
async function dataOf(namespace: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of ['configmaps', 'secrets']) {
    const list = await kubectlJson<{ items: Array<{ kind: string; type?: string; metadata: { name: string }; data?: unknown }> }>(['get', kind, '-n', namespace]);
    for (const o of list.items) if (o.metadata.name !== 'kube-root-ca.crt' && o.type !== 'kubernetes.io/service-account-token') out[`${o.kind ?? kind}/${o.metadata.name}`] = o.data;
  }
  return out;
}

describe('delete --backup-recipient, restore --identity (file://)', () => {
  it('encrypts the backup; restore without the identity fails clearly and changes nothing; with it the customer comes back', async () => {
    const key = randomKey('be');
    const c = await provisionCustomer(key, { extraSecrets: 2, extraConfigMaps: 2 });
    const before = await dataOf(c.namespace);
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-encbackups-'));

    const plan = await custctl(['delete', c.customerId, '--dry-run', '--backup', `file://${dir}`, '--backup-recipient', recipient], { env });
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/encrypted to age age1/);
    const del = await custctl(['delete', c.customerId, '--yes', '--backup', `file://${dir}`, '--backup-recipient', recipient, '-o', 'json'], { env });
    expect(del.exitCode, del.stderr).toBe(0);
    expect(del.stderr).toContain('Encrypted backup written and verified');
    expect(await getNamespace(c.namespace)).toBeNull();
    const files = readdirSync(dir).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(new RegExp(`^${c.customerId}-\\d{8}T\\d{6}Z\\.tar\\.gz\\.age$`));
    expect(files[1]).toBe(`${files[0]}.sums.json`);
    const bytes = readFileSync(path.join(dir, files[0] as string));
    expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    expect(() => gunzipSync(bytes)).toThrow();
    expect(bytes.includes(Buffer.from(Buffer.from(`test-token-${key}`).toString('base64')))).toBe(false);
    const report = JSON.parse(del.stdout) as { results: Array<{ result: { backup: { url: string; sha256: string; encrypted: { recipients: string[] } } } }> };
    expect(report.results[0]?.result.backup.encrypted.recipients).toEqual([recipient]);

    // without the identity: a clear error, nothing created, the row still pending
    for (const args of [['--dry-run'], ['--yes']]) {
      const r = await custctl(['restore', c.customerId, '--from', `file://${dir}`, ...args], { env });
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toContain('is encrypted (age): it cannot be read without the identity');
      expect(r.stderr).toContain('--identity FILE');
    }
    // another identity does not open it either
    const otherFile = path.join(path.dirname(identityFile), 'other.txt');
    writeFileSync(otherFile, `${await generateIdentity()}\n`);
    const wrong = await custctl(['restore', c.customerId, '--from', `file://${dir}`, '--identity', otherFile, '--yes'], { env });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toContain('cannot decrypt backup');
    expect(await getNamespace(c.namespace)).toBeNull();
    expect(await row(c.customerId)).toBe('pending');

    const dry = await custctl(['restore', c.customerId, '--from', `file://${dir}`, '--identity', identityFile, '--dry-run'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('decrypted (age), checksums verified');
    const res = await custctl(['restore', c.customerId, '--from', `file://${dir}`, '--identity', identityFile, '--yes', '-o', 'json'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { state: string }).state).toBe('completed');
    const status = await helm(['status', c.release, '-n', c.namespace, '-o', 'json'], { check: true });
    expect((JSON.parse(status.stdout) as { info: { status: string } }).info.status).toBe('deployed');
    expect(await dataOf(c.namespace)).toEqual(before);
    expect(await row(c.customerId)).toBe('deployed');
    // the journal holds the identity's file, never the key
    const jobs = readdirSync(state, { recursive: true }).map(String).filter((n) => n.endsWith('.json'));
    for (const j of jobs) expect(readFileSync(path.join(state, j), 'utf8')).not.toContain('AGE-SECRET-KEY-');

    const again = await custctl(['delete', c.customerId, '--yes'], { env });
    expect(again.exitCode, again.stderr).toBe(0);
  }, 300_000);

  it('refuses a recipient that is not an age public key, and a recipient without a backup (exit 2, nothing deleted)', async () => {
    const c = await provisionCustomer(randomKey('bq'));
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-encbackups-'));
    const secret = await custctl(['delete', c.customerId, '--yes', '--backup', `file://${dir}`, '--backup-recipient', identity], { env });
    expect(secret.exitCode).toBe(2);
    expect(secret.stderr).toContain('secret key');
    const none = await custctl(['delete', c.customerId, '--yes', '--backup-recipient', recipient], { env });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('there is none');
    expect(await getNamespace(c.namespace)).not.toBeNull();
    expect(await row(c.customerId)).toBe('deployed');
    expect(readdirSync(dir)).toEqual([]);
    await custctl(['delete', c.customerId, '--yes'], { env });
  }, 120_000);
});

describe('the site defaults through s3:// (CUSTCTL_BACKUP_URL, CUSTCTL_BACKUP_RECIPIENT, CUSTCTL_BACKUP_IDENTITY)', () => {
  it('writes the encrypted object and its sums, both tagged, and restores with the identity from the environment', async () => {
    const key = randomKey('bt');
    const c = await provisionCustomer(key, { extraSecrets: 1 });
    const before = await dataOf(c.namespace);
    const prefix = `enc-${key}`;
    const site = { ...s3env(), CUSTCTL_BACKUP_URL: `s3://${S3_BUCKET}/${prefix}`, CUSTCTL_BACKUP_RECIPIENT: recipient };
    const del = await custctl(['delete', c.customerId, '--yes'], { env: site });
    expect(del.exitCode, del.stderr).toBe(0);
    const s3 = s3client();
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${prefix}/` }))).Contents ?? []).map((o) => o.Key as string).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/\.tar\.gz\.age$/);
    expect(keys[1]).toBe(`${keys[0]}.sums.json`);
    for (const k of keys) {
      const tags = await s3.send(new GetObjectTaggingCommand({ Bucket: S3_BUCKET, Key: k }));
      expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toEqual({ 'customer-id': c.customerId, 'retention-days': '90' });
    }
    s3.destroy();
    const without = await custctl(['restore', c.customerId, '--from', `s3://${S3_BUCKET}/${prefix}`, '--yes'], { env: site });
    expect(without.exitCode).toBe(1);
    expect(without.stderr).toContain('cannot be read without the identity');
    const res = await custctl(['restore', c.customerId, '--from', `s3://${S3_BUCKET}/${prefix}`, '--yes'], { env: { ...site, CUSTCTL_BACKUP_IDENTITY: identity } });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await dataOf(c.namespace)).toEqual(before);
    expect(await row(c.customerId)).toBe('deployed');
    const again = await custctl(['delete', c.customerId, '--yes', '--no-backup'], { env: site });
    expect(again.exitCode, again.stderr).toBe(0);
  }, 300_000);
});

const OLD = ['cust_pa1-20250101T000000Z.tar.gz', 'cust_pa1-20250301T000000Z.tar.gz.age', 'cust_pb2-20250601T120000Z.tar.gz'];

interface Listed { name: string; customerId: string; createdAt: string; encrypted: boolean; url: string }

async function auditRows(names: readonly string[]) {
  const r = await db().query<{ customer_id: string; reason: string; outcome: string }>(`select customer_id, reason, outcome from custctl_audit where action = 'backup-pruned' order by id`);
  return r.rows.filter((x) => names.some((n) => x.reason.includes(n)));
}

describe('backups list and prune', () => {
  it('file://: lists (json, --customer), refuses without --yes off a terminal, dry-runs, prunes only the old ones and audits each', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-prune-'));
    const fresh = `cust_pa1-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}.tar.gz`;
    for (const n of [...OLD, fresh]) writeFileSync(path.join(dir, n), 'x', { mode: 0o600 });
    writeFileSync(path.join(dir, `${OLD[1]}.sums.json`), '{}');
    writeFileSync(path.join(dir, 'README'), 'not a backup');

    const list = await custctl(['backups', 'list', '--backup', `file://${dir}`, '-o', 'json'], { env });
    expect(list.exitCode, list.stderr).toBe(0);
    const all = JSON.parse(list.stdout) as Listed[];
    expect(all.map((b) => b.name)).toEqual([...OLD, fresh]);
    expect(all[1]).toMatchObject({ customerId: 'cust_pa1', createdAt: '2025-03-01T00:00:00.000Z', encrypted: true, url: `file://${dir}/${OLD[1]}` });
    const one = await custctl(['backups', 'list', '--customer', 'cust_pb2', '-o', 'yaml'], { env: { ...env, CUSTCTL_BACKUP_URL: `file://${dir}` } });
    expect(one.exitCode, one.stderr).toBe(0);
    expect(one.stdout).toContain(`name: ${OLD[2]}`);
    expect(one.stdout).not.toContain('cust_pa1');
    const table = await custctl(['backups', 'list', '--backup', `file://${dir}`], { env });
    expect(table.stdout).toMatch(/NAME\s+CUSTOMER\s+TAKEN\s+AGE\s+SIZE\s+ENCRYPTED/);

    const refused = await custctl(['backups', 'prune', '--older-than', '90d', '--backup', `file://${dir}`], { env });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('without confirmation');
    const tooShort = await custctl(['backups', 'prune', '--older-than', '1h', '--yes', '--backup', `file://${dir}`], { env });
    expect(tooShort.exitCode).toBe(2);
    expect(readdirSync(dir)).toHaveLength(6);

    const dry = await custctl(['backups', 'prune', '--older-than', '90d', '--dry-run', '--backup', `file://${dir}`, '-o', 'json'], { env });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect((JSON.parse(dry.stdout) as { candidates: Listed[] }).candidates.map((b) => b.name)).toEqual(OLD);
    expect(readdirSync(dir)).toHaveLength(6);

    const yes = await custctl(['backups', 'prune', '--older-than', '90d', '--yes', '--backup', `file://${dir}`], { env });
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(yes.stdout).toContain('Deleted 3 backups');
    expect(readdirSync(dir).sort()).toEqual(['README', fresh].sort());
    const audited = await auditRows(OLD.map((n) => `${dir}/${n}`));
    expect(audited.map((a) => a.customer_id)).toEqual(['cust_pa1', 'cust_pa1', 'cust_pb2']);
    expect(audited[0]?.reason).toMatch(/taken 2025-01-01T00:00:00.000Z: older than 90d/);
    const listed = await custctl(['audit', 'list', '--customer', 'cust_pb2', '--action', 'backup-pruned', '-o', 'json'], { env });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('s3:// (s3rver): lists, prunes the old objects with the sums beside them, leaves the rest', async () => {
    const prefix = `prune-${randomKey('p')}`;
    const s3 = s3client();
    const fresh = `cust_pa1-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}.tar.gz`;
    const put = (n: string) => s3.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `${prefix}/${n}`, Body: 'x' }));
    for (const n of [...OLD, fresh, `${OLD[1]}.sums.json`, 'nested/cust_pa1-20250101T000000Z.tar.gz']) await put(n);
    const list = await custctl(['backups', 'list', '--backup', `s3://${S3_BUCKET}/${prefix}`, '-o', 'json'], { env: s3env() });
    expect(list.exitCode, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Listed[]).map((b) => b.name)).toEqual([...OLD, fresh]);
    const refused = await custctl(['backups', 'prune', '--older-than', '90d', '--backup', `s3://${S3_BUCKET}/${prefix}`], { env: s3env() });
    expect(refused.exitCode).toBe(2);
    const pruned = await custctl(['backups', 'prune', '--older-than', '90d', '--yes', '--customer', 'cust_pa1', '--backup', `s3://${S3_BUCKET}/${prefix}`, '-o', 'json'], { env: s3env() });
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    const r = JSON.parse(pruned.stdout) as { removed: Listed[]; audited: boolean };
    expect(r.removed.map((b) => b.name)).toEqual([OLD[0], OLD[1]]);
    expect(r.audited).toBe(true);
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: `${prefix}/` }))).Contents ?? []).map((o) => (o.Key as string).slice(prefix.length + 1)).sort();
    expect(keys).toEqual([OLD[2], fresh, 'nested/cust_pa1-20250101T000000Z.tar.gz'].sort());
    for (const k of keys) await s3.send(new DeleteObjectCommand({ Bucket: S3_BUCKET, Key: `${prefix}/${k}` }));
    s3.destroy();
  }, 120_000);
});
