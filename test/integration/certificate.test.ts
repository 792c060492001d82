/**
 * Deletion certificates on the real parts: a real deletion (helm release, namespace, cluster
 * RBAC, PVC) by the built binary against the real control plane and PostgreSQL; the certificate
 * built from its result and the audit row step 4 wrote (the one call the wiring will make),
 * signed with a key `certificate keygen` wrote; `certificate verify` with the public key and the
 * database: verified; openssl agrees with the signature; a changed document, a document citing
 * another row, one claiming more than the row recorded, the wrong key, a key file others can
 * read: refused. And the deletion's job in the journal holds no personal data.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openKube } from '../../src/adapters/kube/index.js';
import type { PvcInfo } from '../../src/adapters/kube.js';
import { loadSigningKey } from '../../src/adapters/secret-files.js';
import { openPgStore } from '../../src/adapters/store-pg.js';
import type { CustomerStore } from '../../src/adapters/store.js';
import { certificateJson, signCertificate, signedBytes, type Certificate, type SignedCertificate } from '../../src/domain/certificate.js';
import { certificateFor } from '../../src/pipeline/certificate.js';
import type { DeleteResult } from '../../src/pipeline/types.js';
import { custctl, custctlJson, tempStateDir } from '../support/cli.js';
import { db, provisionCustomer, randomKey } from '../support/fixtures.js';

const dir = mkdtempSync(path.join(tmpdir(), 'custctl-cert-'));
const keyFile = path.join(dir, 'signing-key.pem');
const pubFile = path.join(dir, 'signing-key.pub.pem');
const state = tempStateDir();
const env = { CUSTCTL_STATE_DIR: state };
let store: CustomerStore;

beforeAll(async () => {
  const m = await custctl(['db', 'migrate'], { env });
  expect(m.exitCode, m.stderr).toBe(0);
  store = await openPgStore({ connectionString: inject('databaseUrl'), env: {} });
});
afterAll(() => store?.close());

interface Deleted { customerId: string; email: string; company: string; job: string; result: DeleteResult; namespaceUid: string; pvcs: PvcInfo[] }

/** A real customer, deleted for real; what the wiring will have at the job's end. */
async function deleteOne(): Promise<Deleted> {
  const key = randomKey('ce');
  const c = await provisionCustomer(key, { pvcs: 1, extraConfigMaps: 1 });
  const kube = await openKube({ kubeconfig: inject('kubeconfig'), context: inject('kubeContext'), env: {}, userAgent: 'custctl-it/certificate' });
  const pvcs = await kube.listPvcs(c.namespace);
  const uid = (await kube.getNamespace(c.namespace))?.uid as string;
  const d = await custctlJson<{ results: Array<{ jobId: string; state: string; result: DeleteResult }> }>(['delete', c.customerId, '--yes'], { env });
  expect(d.result.exitCode, d.result.stderr).toBe(0);
  const r = d.json.results[0];
  if (!r) throw new Error('no result');
  // the uid and the PVCs as the attempt's inspection read them (ctx.inspection, ctx.pvcs: the wiring passes those)
  return { customerId: c.customerId, email: `${key}@example.test`, company: `Test company ${key}`, job: r.jobId, result: r.result, namespaceUid: uid, pvcs };
}

async function issue(d: Deleted): Promise<Certificate> {
  const position = await store.auditPosition?.({ customerId: d.customerId, action: 'deletion-completed', jobId: d.job });
  if (!position) throw new Error('no deletion-completed audit row');
  return certificateFor(d.result, position, { issuer: 'Example Hosting', issuedAt: new Date(), namespaceUid: d.namespaceUid, pvcs: d.pvcs });
}

const write = (name: string, doc: SignedCertificate) => {
  const p = path.join(dir, name);
  writeFileSync(p, certificateJson(doc));
  return p;
};

interface VerifyJson { ok: boolean; signature: { ok: boolean; problem?: string }; audit: { checked: boolean; ok: boolean; problems: string[]; notes: string[] } }

describe('certificate keygen', () => {
  it('writes an ed25519 key at mode 0600, prints its public key, and never overwrites one', async () => {
    const k = await custctl(['certificate', 'keygen', '--out', keyFile], { env });
    expect(k.exitCode, k.stderr).toBe(0);
    expect(k.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----$/);
    writeFileSync(pubFile, `${k.stdout}\n`);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const before = readFileSync(keyFile, 'utf8');
    const again = await custctl(['certificate', 'keygen', '--out', keyFile], { env });
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/exists already: a signing key is never overwritten/);
    expect(readFileSync(keyFile, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});

describe('a real deletion, certified', () => {
  let d: Deleted;
  let cert: Certificate;
  let file: string;

  beforeAll(async () => {
    d = await deleteOne();
    cert = await issue(d);
    file = write('cert.json', signCertificate(cert, await loadSigningKey(keyFile)));
  }, 300_000);

  it('holds the namespace and its uid, the release, objects by kind, the cluster RBAC, each PVC and its policy, the audit row; no personal data', () => {
    expect(cert).toMatchObject({
      subject: 'deletion', customerId: d.customerId, job: { id: d.job },
      namespace: { name: d.result.namespace, uid: d.namespaceUid, outcome: 'deleted' },
      releases: [{ name: d.result.namespace, outcome: expect.any(String) }],
      audit: { action: 'deletion-completed' },
    });
    expect(cert.objects).toMatchObject({ ConfigMap: expect.any(Number), Deployment: 1, PersistentVolumeClaim: 2 });
    expect(cert.clusterRbac.deleted.sort()).toEqual([`ClusterRole/c${d.customerId.slice(5)}-customer-instance-opencost`, `ClusterRoleBinding/c${d.customerId.slice(5)}-customer-instance-opencost`]);
    expect(cert.volumes.map((v) => v.pvc).sort()).toEqual(d.pvcs.map((p) => p.name).sort());
    const text = JSON.stringify(cert);
    expect(text).not.toContain(d.email);
    expect(text).not.toContain(d.company);
    // nor does the deletion's job in the journal hold any (its file and its log)
    const jobs = path.join(state, 'journal', 'jobs');
    const kept = ['json', 'log'].map((e) => { try { return readFileSync(path.join(jobs, `${d.job}.${e}`), 'utf8'); } catch { return ''; } }).join('');
    expect(kept).toContain(d.customerId);
    expect(kept).not.toContain(d.email);
    expect(kept).not.toContain(d.company);
  });

  it('certificate verify: the signature and the audit chain (the row at that seq, that hash and content, the chain up to it)', async () => {
    const v = await custctlJson<VerifyJson>(['certificate', 'verify', file, '--public-key', pubFile], { env });
    expect(v.result.exitCode, v.result.stdout + v.result.stderr).toBe(0);
    expect(v.json).toMatchObject({ ok: true, signature: { ok: true }, audit: { checked: true, ok: true, problems: [] } });
    const human = await custctl(['certificate', 'verify', file, '--public-key', pubFile], { env });
    expect(human.stdout).toMatch(/signature: ok/);
    expect(human.stdout).toMatch(new RegExp(`audit chain: ok: .* holds row ${cert.audit.seq} \\(deletion-completed`));
    expect(human.stdout).toMatch(/certificate: verified/);
    // the site's own key file serves as well (its public half)
    const site = await custctl(['certificate', 'verify', file], { env: { ...env, CUSTCTL_SIGNING_KEY_FILE: keyFile } });
    expect(site.exitCode, site.stdout + site.stderr).toBe(0);
  });

  it('jq and openssl verify the file as docs/customer-data.md says: plain ed25519 over the canonical form, no custctl needed', () => {
    const script = `{ printf 'custctl-certificate-signature/1\\n'; jq -cjS .certificate "$1"; } > "$2/signed.bin"
      jq -r .signature.value "$1" | base64 -d > "$2/signature.bin"
      openssl pkeyutl -verify -pubin -inkey "$3" -rawin -in "$2/signed.bin" -sigfile "$2/signature.bin"`;
    const out = execFileSync('bash', ['-c', script, 'verify', file, dir, pubFile], { encoding: 'utf8' });
    expect(out).toMatch(/Signature Verified Successfully/);
    // and the bytes are the ones custctl signs
    const doc = JSON.parse(readFileSync(file, 'utf8')) as SignedCertificate;
    expect(readFileSync(path.join(dir, 'signed.bin')).equals(signedBytes(doc.certificate))).toBe(true);
  });

  it('without a database the signature is checked and the report says the chain was not', async () => {
    const v = await custctlJson<VerifyJson>(['certificate', 'verify', file, '--public-key', pubFile], { env: { ...env, DATABASE_URL: '' } });
    expect(v.result.exitCode, v.result.stdout).toBe(0);
    expect(v.json).toMatchObject({ ok: true, audit: { checked: false } });
    expect(v.json.audit.notes.join()).toMatch(/no customers database configured/);
  });

  it('a changed document fails its signature (exit 1)', async () => {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as SignedCertificate;
    doc.certificate.objects.Deployment = 0;
    const v = await custctlJson<VerifyJson>(['certificate', 'verify', write('changed.json', doc), '--public-key', pubFile], { env });
    expect(v.result.exitCode).toBe(1);
    expect(v.json).toMatchObject({ ok: false, signature: { ok: false } });
    expect(v.json.signature.problem).toMatch(/does not match the document/);
  });

  it('signed by the site, but citing a row that is not its act or claiming more than the row recorded: the audit check fails (exit 1)', async () => {
    const key = await loadSigningKey(keyFile);
    const other = await deleteOne();
    const otherRow = await store.auditPosition?.({ customerId: other.customerId, action: 'deletion-completed' });
    if (!otherRow) throw new Error('no row');
    const cases: Array<[string, Certificate, RegExp]> = [
      ['another customer\'s row', { ...cert, audit: otherRow }, new RegExp(`is of ${other.customerId}`)],
      ['more objects than recorded', { ...cert, objects: { ...cert.objects, Secret: 99 } }, /objects by kind differ/],
      ['a row that does not exist', { ...cert, audit: { ...cert.audit, seq: '99999999' } }, /no row 99999999/],
      ['another hash', { ...cert, audit: { ...cert.audit, hash: 'f'.repeat(64) } }, /holds hash/],
    ];
    for (const [what, forged, msg] of cases) {
      const v = await custctlJson<VerifyJson>(['certificate', 'verify', write('forged.json', signCertificate(forged, key)), '--public-key', pubFile], { env });
      expect(v.result.exitCode, what).toBe(1);
      expect(v.json.signature.ok, what).toBe(true);
      expect(v.json.audit.problems.join('\n'), what).toMatch(msg);
    }
  }, 300_000);

  it('another key, a key file others can read, no key at all: refused', async () => {
    const otherKey = path.join(dir, 'other.pem');
    const k = await custctl(['certificate', 'keygen', '--out', otherKey], { env });
    const otherPub = path.join(dir, 'other.pub.pem');
    writeFileSync(otherPub, `${k.stdout}\n`);
    const wrong = await custctlJson<VerifyJson>(['certificate', 'verify', file, '--public-key', otherPub], { env });
    expect(wrong.result.exitCode).toBe(1);
    expect(wrong.json.signature.problem).toMatch(/not by the key given/);
    chmodSync(otherKey, 0o644);
    const loose = await custctl(['certificate', 'verify', file], { env: { ...env, CUSTCTL_SIGNING_KEY_FILE: otherKey } });
    expect(loose.exitCode).toBe(2);
    expect(loose.stderr).toMatch(/readable or writable by others \(mode 0644\): refused/);
    const none = await custctl(['certificate', 'verify', file], { env });
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/which key\? pass --public-key FILE/);
    const notCert = await custctl(['certificate', 'verify', pubFile, '--public-key', pubFile], { env });
    expect(notCert.exitCode).toBe(2);
    expect(notCert.stderr).toMatch(/is not a custctl certificate/);
  });

  it('certificate show: text, and one HTML page', async () => {
    const t = await custctl(['certificate', 'show', file], { env });
    expect(t.exitCode).toBe(0);
    expect(t.stdout).toContain(`Deletion certificate for ${d.customerId}`);
    expect(t.stdout).toContain('Shown, not verified');
    const h = await custctl(['certificate', 'show', file, '--format', 'html'], { env });
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toMatch(/^<!doctype html>/);
    expect(h.stdout).not.toMatch(/<script/i);
    expect(h.stdout).toContain(d.namespaceUid);
  });
});

// the customers row after the deletion, for the record: the deletion left its personal fields
describe('what the deletion left in the row', () => {
  it('e-mail and company stay until an erasure', async () => {
    const d = await deleteOne();
    const r = await db().query('select email, company_name, deployment_status from customers where customer_id = $1', [d.customerId]);
    expect(r.rows[0]).toEqual({ email: d.email, company_name: d.company, deployment_status: 'pending' });
  }, 300_000);
});
