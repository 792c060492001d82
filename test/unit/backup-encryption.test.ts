/**
 * Encrypted backups (the real age-encryption, the real file target), restore
 * tiers with bounded concurrency, `backups list|prune` over a file target, and the option rules.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decryptArchive, encryptArchive, isAgeEncrypted, loadIdentities, parseIdentities } from '../../src/adapters/backup-age.js';
import { archiveInfo, FileBackupTarget, type BackupTarget } from '../../src/adapters/backup-target.js';
import { parseRecipients, restoreTiers, SUMS_SUFFIX, type BackupSums, type KubeObject } from '../../src/domain/backup.js';
import type { Job } from '../../src/domain/job.js';
import { exitCodeFor, OperationError, UsageError } from '../../src/errors.js';
import { backupOption } from '../../src/jobs/kinds/delete.js';
import { loadBackup } from '../../src/pipeline/backup.js';
import { listBackups, pruneCandidates, removeBackups } from '../../src/pipeline/backups.js';
import { createInTiers } from '../../src/pipeline/restore.js';
import { runDeleteAttempt } from '../../src/pipeline/run.js';
import { FakeHelm, FakeKube, FakeStore, runningDeleteJob } from '../support/fakes.js';

const KEY = 'enc123';
const NS = `customer-${KEY}`;
const ID = `cust_${KEY}`;

let identity = '';
let recipient = '';
let otherIdentity = '';
beforeAll(async () => {
  identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  otherIdentity = await generateIdentity();
});

const job = (opts: Partial<Job['opts']> = {}): Job => runningDeleteJob(ID, NS, opts);

const errorOf = async (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as Error);

describe('age recipients and identities', () => {
  it('takes age public keys, split at commas and spaces, without duplicates', () => {
    expect(parseRecipients([`${recipient}, ${recipient}`])).toEqual([recipient]);
    expect(parseRecipients([''])).toEqual([]);
  });
  it.each([
    ['a secret key', () => identity, /secret key/],
    ['not a key', () => 'age1notakey', /not an age public key/],
    ['an ssh key', () => 'ssh-ed25519 AAAAC3', /not an age public key/],
  ])('refuses %s (exit 2)', (_n, value, msg) => {
    expect(() => parseRecipients([value()])).toThrow(msg);
    expect(exitCodeFor((() => { try { parseRecipients([value()]); } catch (e) { return e; } })())).toBe(2);
  });
  it('reads an identity file as age-keygen writes it (comments, the key), or the key itself', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-age-'));
    const file = path.join(dir, 'key.txt');
    writeFileSync(file, `# created: 2026-12-01T00:00:00Z\n# public key: ${recipient}\n${identity}\n`);
    expect(await loadIdentities(file, '--identity')).toEqual([identity]);
    expect(await loadIdentities(identity, 'CUSTCTL_BACKUP_IDENTITY')).toEqual([identity]);
    expect(() => parseIdentities(`# public key: ${recipient}\n${recipient}\n`, 'f')).toThrow(UsageError);
    await expect(loadIdentities(path.join(dir, 'missing'), '--identity')).rejects.toThrow(/cannot read the identity file/);
  });
  it('the recipients go with a backup; without one, or with --no-backup, they are refused', () => {
    expect(backupOption({ backupUrl: 'file:///b', backupRecipients: [recipient] }, {})).toEqual({ backupUrl: 'file:///b', backupRecipients: [recipient] });
    expect(backupOption({ backupUrl: undefined, backupRecipients: [] }, { backupUrl: 'file:///b' })).toEqual({ backupUrl: 'file:///b' });
    expect(() => backupOption({ backupUrl: undefined, backupRecipients: [] }, { backupRecipients: [recipient] })).toThrow(/there is none/);
    expect(() => backupOption({ backupUrl: 'file:///b', backupRecipients: [] }, { noBackup: true, backupRecipients: [recipient] })).toThrow(/--no-backup/);
    // the site's recipient with --no-backup: no backup, nothing refused
    expect(backupOption({ backupUrl: 'file:///b', backupRecipients: [recipient] }, { noBackup: true })).toEqual({});
  });
});

describe('encryption (age-encryption)', () => {
  it('round-trips; without the identity, or with another one, it cannot be read (clear errors)', async () => {
    const plain = Buffer.from('a tar.gz, in fact');
    const enc = await encryptArchive(plain, [recipient]);
    expect(isAgeEncrypted(enc)).toBe(true);
    expect(enc.includes(plain)).toBe(false);
    expect(await decryptArchive(enc, [identity], 'x')).toEqual(plain);
    const none = await errorOf(decryptArchive(enc, [], 'file:///b/x.tar.gz.age'));
    expect(none).toBeInstanceOf(OperationError);
    expect(none?.message).toBe('backup file:///b/x.tar.gz.age is encrypted (age): it cannot be read without the identity');
    const other = await errorOf(decryptArchive(enc, [otherIdentity], 'x'));
    expect(other?.message).toMatch(/^cannot decrypt backup x: /);
  });
});

describe('the backup step with --backup-recipient (fakes of the cluster, the real file target)', () => {
  let kube: FakeKube;
  let helm: FakeHelm;
  let store: FakeStore;
  let dir: string;
  const run = (j: Job, backups: (u: string) => Promise<BackupTarget>) => runDeleteAttempt(
    { job: j, attempt: 1, signal: new AbortController().signal, progress: async () => undefined, log: () => undefined },
    store,
    async () => ({ kube, helm, target: kube.target, backups }),
    { namespacePrefix: 'customer-', defaultWaitTimeoutMs: 1_000, now: () => Date.parse('2026-12-01T13:00:00Z') },
  );

  beforeEach(async () => {
    kube = new FakeKube();
    helm = new FakeHelm(kube);
    store = new FakeStore();
    dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-encbackup-'));
    await store.add({ customerId: ID, email: 'e', companyName: 'c', deploymentStatus: 'deployed', instanceNamespace: NS, instanceUrl: 'https://x' });
    await store.claimForDeletion(ID, '7', { force: false });
    kube.addNamespace(NS);
    kube.objects.set(NS, [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: NS }, data: { password: Buffer.from('hunter2-very-secret').toString('base64') } }]);
    helm.install(`customer-${KEY}`, NS, [{ apiVersion: 'v1', kind: 'Secret', name: 'db' }]);
  });

  it('writes NAME.tar.gz.age (0600) and its sums, unreadable without the identity, whole with it', async () => {
    const r = await run(job({ backupUrl: `file://${dir}`, backupRecipients: [recipient] }), async () => new FileBackupTarget(dir));
    const name = `${ID}-20261201T130000Z.tar.gz.age`;
    expect(r.backup?.url).toBe(`file://${dir}/${name}`);
    expect(readdirSync(dir).sort()).toEqual([name, `${name}${SUMS_SUFFIX}`]);
    expect(statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
    const bytes = readFileSync(path.join(dir, name));
    expect(isAgeEncrypted(bytes)).toBe(true);
    expect(bytes.includes(Buffer.from('hunter2'))).toBe(false);
    expect(bytes.includes(Buffer.from(Buffer.from('hunter2-very-secret').toString('base64')))).toBe(false);
    const sums = JSON.parse(readFileSync(path.join(dir, `${name}${SUMS_SUFFIX}`), 'utf8')) as BackupSums;
    expect(sums).toMatchObject({ archive: name, customerId: ID, encryption: 'age', recipients: [recipient], encrypted: { bytes: bytes.length } });
    expect(r.backup?.sha256).toBe(sums.encrypted.sha256);
    expect(r.backup?.encrypted?.manifestSha256).toBe(sums.manifest.sha256);

    const open = async () => new FileBackupTarget(dir);
    const without = await errorOf(loadBackup(`file://${dir}`, ID, open));
    expect(without?.message).toMatch(/is encrypted \(age\): it cannot be read without the identity/);
    expect((without as OperationError).details.join(' ')).toMatch(/--identity FILE/);
    const wrong = await errorOf(loadBackup(`file://${dir}`, ID, open, undefined, [otherIdentity]));
    expect(wrong?.message).toMatch(/cannot decrypt backup/);
    const b = await loadBackup(`file://${dir}`, ID, open, undefined, [identity]);
    expect(b.encrypted).toBe(true);
    expect(b.objects.map((a) => `${a.object.kind}/${a.object.metadata.name}`)).toEqual(['Secret/db']);
    expect(b.row.customerId).toBe(ID);
  });

  it('an encrypted archive changed after writing is refused by its recorded sum, before any decryption', async () => {
    await run(job({ backupUrl: `file://${dir}`, backupRecipients: [recipient] }), async () => new FileBackupTarget(dir));
    const p = path.join(dir, `${ID}-20261201T130000Z.tar.gz.age`);
    const b = readFileSync(p);
    b.writeUInt8(b.readUInt8(b.length - 5) ^ 0xff, b.length - 5);
    writeFileSync(p, b);
    const e = await errorOf(loadBackup(`file://${dir}`, ID, async () => new FileBackupTarget(dir), undefined, [identity]));
    expect(e?.message).toMatch(/is damaged: its sha256 differs from the one recorded beside it/);
  });

  it('a read-back that differs stops the deletion before anything is deleted (the identity is not needed to see it)', async () => {
    const inner = new FileBackupTarget(dir);
    const corrupting: BackupTarget = {
      url: inner.url,
      put: (n, b, m) => inner.put(n, b, m),
      get: async (n) => { const b = await inner.get(n); if (n.endsWith('.age')) b.writeUInt8(b.readUInt8(b.length - 3) ^ 0xff, b.length - 3); return b; },
      list: () => inner.list(),
      remove: (n) => inner.remove(n),
    };
    const e = await errorOf(run(job({ backupUrl: `file://${dir}`, backupRecipients: [recipient] }), async () => corrupting));
    expect(e?.message).toMatch(/backup to file:\/\/.* failed, nothing was deleted: .*read back differs/);
    expect(kube.calls.filter((c) => c.startsWith('delete'))).toEqual([]);
    expect(helm.calls.filter((c) => c.startsWith('uninstall'))).toEqual([]);
    expect((await store.get(ID))?.deploymentStatus).toBe('deployed');
  });
});

describe('restore tiers', () => {
  const mk = (kind: string, name: string): KubeObject => ({ apiVersion: 'v1', kind, metadata: { name, namespace: NS } });

  it('groups what others refer to first, workloads after, unknown kinds last', () => {
    const tiers = restoreTiers([mk('Deployment', 'd'), mk('Widget', 'w'), mk('RoleBinding', 'rb'), mk('Role', 'r'), mk('ConfigMap', 'c'), mk('ServiceAccount', 'sa'), mk('Ingress', 'i'), mk('Service', 's')]);
    expect(tiers.map((t) => t.map((o) => o.kind))).toEqual([['ServiceAccount', 'ConfigMap', 'Role'], ['RoleBinding', 'Service'], ['Deployment'], ['Ingress', 'Widget']]);
  });

  it('creates at most `limit` at once, tier after tier', async () => {
    let inFlight = 0;
    let most = 0;
    const order: string[] = [];
    const kube = {
      async createObject(o: KubeObject) {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setImmediate(r));
        order.push(o.kind);
        inFlight--;
        return 'created' as const;
      },
    };
    const objects = [...Array.from({ length: 40 }, (_, i) => mk('ConfigMap', `c${i}`)), ...Array.from({ length: 10 }, (_, i) => mk('Deployment', `d${i}`))];
    const r = await createInTiers(objects, kube, new AbortController().signal, () => undefined, 16);
    expect(r).toEqual({ created: 50, existed: 0 });
    expect(most).toBe(16);
    expect(order.lastIndexOf('ConfigMap')).toBeLessThan(order.indexOf('Deployment'));
  });

  it('a failure: the first failing object in restore order is thrown as it came, the next tier never starts', async () => {
    const created: string[] = [];
    const logged: string[] = [];
    const kube = {
      async createObject(o: KubeObject) {
        await new Promise((r) => setImmediate(r));
        if (o.metadata.name === 'c03' || o.metadata.name === 'c05') throw new OperationError(`cannot create configmaps ${NS}/${o.metadata.name}: Forbidden`);
        created.push(o.metadata.name);
        return 'created' as const;
      },
    };
    const objects = [...Array.from({ length: 30 }, (_, i) => mk('ConfigMap', `c${String(i).padStart(2, '0')}`)), mk('Deployment', 'web')];
    const e = await errorOf(createInTiers(objects, kube, new AbortController().signal, (_l, m, f) => void logged.push(`${m} ${String(f?.name)}`), 4));
    expect(e?.message).toBe(`cannot create configmaps ${NS}/c03: Forbidden`);
    expect(logged).toEqual(['Also failed c05']);
    expect(created).not.toContain('web');
    expect(created.length).toBeLessThan(30);
  });
});

describe('backups list and prune (the real file target)', () => {
  let dir: string;
  let target: FileBackupTarget;
  const names = [`cust_a1-20260801T000000Z.tar.gz`, `cust_a1-20261130T000000Z.tar.gz`, `cust_b2-20260701T120000Z.tar.gz.age`, `cust_b2-20261201T000000Z.tar.gz.age`];
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'custctl-unit-backups-'));
    target = new FileBackupTarget(dir);
    for (const n of names) writeFileSync(path.join(dir, n), 'x');
    writeFileSync(path.join(dir, `${names[2]}${SUMS_SUFFIX}`), '{}');
    writeFileSync(path.join(dir, 'notes.txt'), 'not a backup');
  });

  it('reads customer, time and encryption from the name', () => {
    expect(archiveInfo(names[2] as string)).toEqual({ customerId: 'cust_b2', createdAt: new Date('2026-07-01T12:00:00Z'), encrypted: true });
    expect(archiveInfo('notes.txt')).toBeUndefined();
  });

  it('lists oldest first, one customer or all; prunes what is older than the cutoff with the sums file, nothing else', async () => {
    expect((await listBackups(target)).map((b) => b.name)).toEqual([names[3 - 1], names[0], names[1], names[3]]);
    expect((await listBackups(target, 'cust_a1')).map((b) => b.name)).toEqual([names[0], names[1]]);
    const old = pruneCandidates(await listBackups(target), new Date('2026-09-01T00:00:00Z'));
    expect(old.map((b) => b.name)).toEqual([names[2], names[0]]);
    const audited: string[] = [];
    await removeBackups(target, old, async (b) => void audited.push(b.name));
    expect(audited).toEqual([names[2], names[0]]);
    expect(readdirSync(dir).sort()).toEqual([names[1], names[3], 'notes.txt'].sort());
  });
});
