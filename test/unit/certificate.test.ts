/**
 * Deletion and erasure certificates, the pure parts: the canonical form (pinned by a test vector,
 * so a change of it is seen), ed25519 signing and its refusals (a changed field, another key,
 * another algorithm), what a certificate built from a pipeline result holds and when none is made,
 * the check against the audit row it cites, and the renderings (HTML escaped and self-contained).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/domain/canonical-json.js';
import {
  auditCitationProblems, certificateHtml, certificateJson, certificateText, checkCertificate, keyIdOf, parseSignedCertificate,
  signCertificate, signedBytes, verifyCertificateSignature, type Certificate, type CitedAuditRow,
} from '../../src/domain/certificate.js';
import { certificateFor, erasureCertificateFor } from '../../src/pipeline/certificate.js';
import type { DeleteResult } from '../../src/pipeline/types.js';
import { ConflictError } from '../../src/errors.js';

/** An ed25519 key from a fixed seed (PKCS#8 DER: the fixed prefix, then the 32-byte seed). */
function keyFromSeed(byte: number): KeyObject {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, byte)]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function result(over: Partial<DeleteResult> = {}): DeleteResult {
  return {
    customerId: 'cust_abc123',
    namespace: 'customer-abc123',
    jobId: '42',
    simulated: false,
    outcome: 'deleted',
    releases: [{ name: 'customer-abc123', outcome: 'uninstalled' }],
    namespaceOutcome: 'deleted',
    rbac: {
      deleted: [{ kind: 'ClusterRole', name: 'cabc123-customer-instance-opencost' }, { kind: 'ClusterRoleBinding', name: 'cabc123-customer-instance-opencost' }],
      alreadyGone: [],
      keptByPolicy: [{ kind: 'ClusterRole', name: 'cabc123-customer-instance-keep' }],
      keptUnowned: [],
      failed: [],
    },
    retainedVolumes: [{ pvc: 'data-1', volume: 'pv-2', reclaimPolicy: 'Retain' }],
    row: { status: 'pending' },
    warnings: [],
    durationMs: 6500,
    deleted: {
      releases: ['customer-abc123'],
      objects: { ConfigMap: 2, Deployment: 1, PersistentVolumeClaim: 2 },
      rbac: ['ClusterRole/cabc123-customer-instance-opencost', 'ClusterRoleBinding/cabc123-customer-instance-opencost'],
    },
    ...over,
  };
}

const position = { seq: '17', hash: 'a'.repeat(64), action: 'deletion-completed', at: '2026-12-01T12:00:00.123Z' };
const extras = {
  issuer: 'Example Hosting', issuedAt: new Date('2026-12-01T12:00:05.000Z'), namespaceUid: '6f1c0d5e-0000-4000-8000-000000000001',
  pvcs: [
    { name: 'data-0', phase: 'Bound', storage: '1Gi', volumeName: 'pv-1', reclaimPolicy: 'Delete' },
    { name: 'data-1', phase: 'Bound', storage: '2Gi', volumeName: 'pv-2', reclaimPolicy: 'Retain' },
  ],
};

function rowOf(c: Certificate, over: Partial<CitedAuditRow> = {}): CitedAuditRow {
  return {
    seq: c.audit.seq, hash: c.audit.hash, action: c.audit.action, customerId: c.customerId, jobId: c.job?.id ?? null, outcome: 'deleted', at: c.audit.at,
    deleted: { releases: ['customer-abc123'], objects: { ConfigMap: 2, Deployment: 1, PersistentVolumeClaim: 2 }, rbac: ['ClusterRoleBinding/cabc123-customer-instance-opencost', 'ClusterRole/cabc123-customer-instance-opencost'] },
    ...over,
  };
}

describe('canonical JSON', () => {
  it('sorts members by UTF-16 code units, writes no white space, escapes as JSON.stringify', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x"\n'], B: { z: 0, é: 'é', '€': 1, '\u{1F600}': 2 } }))
      .toBe('{"B":{"z":0,"é":"é","€":1,"\u{1F600}":2},"a":[true,null,"x\\"\\n"],"b":1}');
  });

  it.each([
    ['a fraction', { n: 1.5 }],
    ['NaN', { n: Number.NaN }],
    ['an unsafe integer', { n: 2 ** 53 }],
    ['undefined', { n: undefined }],
    ['a date object', { n: new Date(0) }],
    ['a bigint', { n: 1n }],
  ])('refuses %s', (_what, v) => {
    expect(() => canonicalJson(v)).toThrow();
  });
});

describe('signing and verifying', () => {
  const c = certificateFor(result(), position, extras);

  it('pins the signed bytes and the signature for a fixed key (ed25519 is deterministic)', () => {
    const key = keyFromSeed(7);
    const doc = signCertificate(c, key);
    expect(signedBytes(c).toString('utf8').startsWith('custctl-certificate-signature/1\n{"audit":{"action":"deletion-completed","at":"2026-12-01T12:00:00.123Z"')).toBe(true);
    expect(doc.signature.keyId).toBe(keyIdOf(createPublicKey(key)));
    // the vector: a change of the canonical form, the context line or the fields fails here
    expect(doc.signature.keyId).toMatchInlineSnapshot(`"324be2dea8bc44461b0233e51fa48902ed6b1cc671e7739af2551e0bfe68f54e"`);
    expect(doc.signature.value).toMatchInlineSnapshot(`"Nujz8SmMPhGAfRcxHPWDIkLCuzIYR+WnqL3acCRuGhgGQnyLpsMePjD8Nsa0J9buTo76kQjRKRVeoYvV9iknCw=="`);
  });

  it('verifies with the public key, after a round trip through the file', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const doc = parseSignedCertificate(certificateJson(signCertificate(c, privateKey)));
    expect(verifyCertificateSignature(doc, publicKey)).toEqual({ ok: true, keyId: keyIdOf(publicKey) });
  });

  it.each<[string, (x: Certificate) => void]>([
    ['a count of objects', (x) => { x.objects.ConfigMap = 3; }],
    ['the namespace uid', (x) => { if (x.namespace) x.namespace.uid = 'other'; }],
    ['the audit hash', (x) => { x.audit.hash = 'b'.repeat(64); }],
    ['the customer', (x) => { x.customerId = 'cust_abc124'; }],
    ['a volume\'s fate', (x) => { (x.volumes[1] as { dataKept: boolean }).dataKept = false; }],
    ['a warning added', (x) => { x.warnings.push('x'); }],
  ])('refuses a document whose %s changed after signing', (_what, change) => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const doc = JSON.parse(certificateJson(signCertificate(c, privateKey))) as ReturnType<typeof signCertificate>;
    change(doc.certificate);
    const r = verifyCertificateSignature(doc, publicKey);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.problem).toMatch(/does not match the document/);
  });

  it('refuses another ed25519 key, and keys that are not ed25519', () => {
    const a = generateKeyPairSync('ed25519');
    const b = generateKeyPairSync('ed25519');
    const doc = signCertificate(c, a.privateKey);
    const other = verifyCertificateSignature(doc, b.publicKey);
    expect(other.ok ? '' : other.problem).toMatch(/signed by key .* not by the key given/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const r = verifyCertificateSignature(doc, rsa.publicKey);
    expect(r.ok ? '' : r.problem).toMatch(/not ed25519/);
    expect(() => signCertificate(c, rsa.privateKey)).toThrow(/ed25519/);
    // the key id is right but the signature is another document's
    const forged = { ...doc, signature: { ...doc.signature, value: signCertificate({ ...c, issuer: 'x' }, a.privateKey).signature.value } };
    expect(verifyCertificateSignature(forged, a.publicKey).ok).toBe(false);
    expect(verifyCertificateSignature({ ...doc, signature: { ...doc.signature, value: 'not base64!' } }, a.publicKey).ok).toBe(false);
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['no signature', '{"certificate":{}}', /signature/],
    ['another format', JSON.stringify({ signature: { algorithm: 'ed25519', keyId: 'x', value: 'y' }, certificate: { format: 'x/2' } }), /format/],
  ])('a file that is %s is not read as a certificate', (_what, text, msg) => {
    expect(() => parseSignedCertificate(text)).toThrow(msg);
  });

  it('checkCertificate names the field that is wrong', () => {
    expect(() => checkCertificate({ ...c, customerId: 'Alice <alice@example.com>' })).toThrow(/customerId/);
    expect(() => checkCertificate({ ...c, audit: { ...c.audit, seq: '-1' } })).toThrow(/audit/);
    expect(() => checkCertificate({ ...c, objects: { ConfigMap: 1.5 } })).toThrow(/objects/);
    expect(checkCertificate(JSON.parse(JSON.stringify(c)))).toEqual(c);
  });
});

describe('certificateFor (a finished deletion)', () => {
  it('holds what step 4 recorded, the namespace uid, each PVC with its reclaim policy, what was kept and why', () => {
    const c = certificateFor(result({ backup: { url: 'file:///b/cust_abc123-20261201T120000Z.tar.gz', bytes: 10, sha256: 'c'.repeat(64), entries: 3, counts: {} } }), position, { ...extras, billing: [{ provider: 'stripe', cancelled: 1 }] });
    expect(c).toMatchObject({
      format: 'custctl-certificate/1', subject: 'deletion', customerId: 'cust_abc123', issuer: 'Example Hosting', issuedAt: '2026-12-01T12:00:05.000Z',
      job: { id: '42' },
      namespace: { name: 'customer-abc123', uid: '6f1c0d5e-0000-4000-8000-000000000001', outcome: 'deleted' },
      releases: [{ name: 'customer-abc123', outcome: 'uninstalled' }],
      objects: { ConfigMap: 2, Deployment: 1, PersistentVolumeClaim: 2 },
      clusterRbac: {
        deleted: ['ClusterRole/cabc123-customer-instance-opencost', 'ClusterRoleBinding/cabc123-customer-instance-opencost'],
        kept: [{ name: 'ClusterRole/cabc123-customer-instance-keep', why: expect.stringMatching(/resource-policy: keep/) }],
      },
      volumes: [
        { pvc: 'data-0', volume: 'pv-1', reclaimPolicy: 'Delete', storage: '1Gi', dataKept: false },
        { pvc: 'data-1', volume: 'pv-2', reclaimPolicy: 'Retain', storage: '2Gi', dataKept: true },
      ],
      backups: { deleted: [], kept: [{ url: 'file:///b/cust_abc123-20261201T120000Z.tar.gz', sha256: 'c'.repeat(64) }] },
      billing: [{ provider: 'stripe', cancelled: 1 }],
      audit: position,
    });
    // no personal data: nothing of the row but its id
    expect(JSON.stringify(c)).not.toMatch(/@|example\.test|company/i);
  });

  it('a namespace that was already gone has no uid; without the PVC list, the retained volumes only and a warning', () => {
    const c = certificateFor(result({ namespaceOutcome: 'already-gone' }), position, { issuer: 'x', issuedAt: new Date(0) });
    expect(c.namespace).toEqual({ name: 'customer-abc123', uid: null, outcome: 'already-gone' });
    expect(c.volumes).toEqual([{ pvc: 'data-1', volume: 'pv-2', reclaimPolicy: 'Retain', storage: null, dataKept: true }]);
  });

  it.each<[string, Partial<DeleteResult>, Partial<typeof position>, RegExp]>([
    ['a superseded job', { outcome: 'superseded', superseded: true }, {}, /superseded/],
    ['a simulated run', { simulated: true }, {}, /simulated/],
    ['an unfinished deletion (row not handed back)', { row: null }, {}, /not finished/],
    ['an audit row of another action', {}, { action: 'deletion-started' }, /not deletion-completed/],
  ])('makes none for %s', (_what, over, pos, msg) => {
    expect(() => certificateFor(result(over), { ...position, ...pos }, extras)).toThrow(ConflictError);
    expect(() => certificateFor(result(over), { ...position, ...pos }, extras)).toThrow(msg);
  });

  it('erasureCertificateFor names the columns, the backups deleted, and cites customer-erased', () => {
    const c = erasureCertificateFor({ customerId: 'cust_abc123', fields: ['email', 'company_name'], backupsDeleted: ['s3://b/cust_abc123-20261201T120000Z.tar.gz'] },
      { ...position, action: 'customer-erased' }, { issuer: 'x', issuedAt: new Date(0) });
    expect(c).toMatchObject({ subject: 'erasure', job: null, namespace: null, rowFieldsErased: ['email', 'company_name'], backups: { deleted: ['s3://b/cust_abc123-20261201T120000Z.tar.gz'], kept: [] } });
    expect(() => erasureCertificateFor({ customerId: 'cust_abc123', fields: [] }, position, { issuer: 'x', issuedAt: new Date(0) })).toThrow(/not customer-erased/);
  });
});

describe('the audit row a certificate cites', () => {
  const c = certificateFor(result(), position, extras);

  it('backs it when it is that act with those contents (lists compared as sets)', () => {
    expect(auditCitationProblems(c, rowOf(c))).toEqual([]);
  });

  it.each<[string, Partial<CitedAuditRow>, RegExp]>([
    ['another hash', { hash: 'b'.repeat(64) }, /holds hash/],
    ['another action', { action: 'deletion-failed' }, /records deletion-failed/],
    ['another customer', { customerId: 'cust_other' }, /is of cust_other/],
    ['another job', { jobId: '43' }, /names job 43/],
    ['another time', { at: '2026-12-01T12:00:01.000Z' }, /recorded at/],
    ['another outcome', { outcome: 'simulated' }, /outcome simulated/],
    ['fewer objects', { deleted: { releases: ['customer-abc123'], objects: { ConfigMap: 1, Deployment: 1, PersistentVolumeClaim: 2 }, rbac: c.clusterRbac.deleted } }, /objects by kind differ/],
    ['other RBAC', { deleted: { releases: ['customer-abc123'], objects: c.objects, rbac: [] } }, /cluster RBAC differs/],
    ['no release', { deleted: { releases: [], objects: c.objects, rbac: c.clusterRbac.deleted } }, /releases differ/],
  ])('does not back it when the row has %s', (_what, over, msg) => {
    expect(auditCitationProblems(c, rowOf(c, over)).join('\n')).toMatch(msg);
  });

  it('an erasure certificate is compared by the columns erased', () => {
    const e = erasureCertificateFor({ customerId: 'cust_abc123', fields: ['email', 'company_name'] }, { ...position, action: 'customer-erased' }, { issuer: 'x', issuedAt: new Date(0) });
    const row = { ...rowOf(e), action: 'customer-erased', jobId: null, outcome: 'erased', deleted: { fields: ['company_name', 'email'] } };
    expect(auditCitationProblems(e, row)).toEqual([]);
    expect(auditCitationProblems(e, { ...row, deleted: { fields: ['email'] } }).join()).toMatch(/erased fields differ/);
  });
});

describe('renderings', () => {
  const hostile = '<img src=x onerror=alert(1)>"\'&';
  const c = certificateFor(result({ warnings: [hostile] }), position, { ...extras, issuer: `Site ${hostile}` });
  const doc = signCertificate(c, generateKeyPairSync('ed25519').privateKey);

  it('HTML: every value escaped, one page with no script and nothing loaded from elsewhere', () => {
    const html = certificateHtml(doc, 'verified');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
    expect(html).not.toMatch(/<script|<[a-z]+[^>]*\s(src|href)=|@import|url\(/i);
    expect(html).toContain("default-src 'none'");
    // what remains is said, with the reason
    expect(html).toContain('PersistentVolume pv-2 (claim data-1) stays with its data: reclaim policy Retain');
    expect(html).toContain('ClusterRole/cabc123-customer-instance-keep was not deleted');
  });

  it('text: the act, what went and what remains, the key and how to check', () => {
    const t = certificateText(doc);
    expect(t).toContain('Deletion certificate for cust_abc123');
    expect(t).toMatch(/Namespace\s+customer-abc123 \(uid 6f1c0d5e-0000-4000-8000-000000000001\): deleted/);
    expect(t).toMatch(/Objects\s+ConfigMap 2, Deployment 1, PersistentVolumeClaim 2/);
    expect(t).toContain('data-0 1Gi → pv-1 (Delete: data deleted)');
    expect(t).toContain('What remains:');
    expect(t).toContain(`Signed (ed25519) by key ${doc.signature.keyId}`);
  });
});
