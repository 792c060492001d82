/**
 * Deletion certificates: a signed statement of what custctl deleted (a customer's instance) or
 * erased (the personal fields of a customer's row), and when, that a customer can keep and anyone
 * holding the site's public key can check.
 *
 * - The document is JSON. What is signed is its canonical form (src/domain/canonical-json.ts)
 *   behind a context line, with the site's ed25519 key; the key is identified by `keyId`, the
 *   SHA-256 of its public key (SPKI DER). The public key itself is not in the file: a verifier
 *   must get it from the site (a key carried by the document would prove only that someone signed).
 * - It names the audit chain row that recorded the act (seq, hash, action, time): with database
 *   access, `custctl certificate verify` checks that the chain holds that row with that hash and
 *   content and verifies up to it, so a certificate cannot cite a row that is not there.
 * - No personal data: the customer is its `cust_…` id, objects are names and counts, a row's
 *   erased fields are column names, never values. Namespace and object names are the platform's
 *   (`customer-<key>`, the chart's), not the customer's words.
 * - It says what remains as plainly as what went: volumes whose reclaim policy keeps their data,
 *   volume snapshots and backups taken before the deletion, cluster RBAC kept by policy or that
 *   failed to delete.
 */
import { releaseRemoved } from './release-outcome.js';
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

export const CERTIFICATE_FORMAT = 'custctl-certificate/1';
/** Signed before the canonical document, so the key's signature can never be taken for one over another kind of message. */
export const SIGNING_CONTEXT = 'custctl-certificate-signature/1\n';

export type CertificateSubject = 'deletion' | 'erasure';

export interface CertificateVolume {
  /** the PersistentVolumeClaim */
  pvc: string;
  /** the PersistentVolume bound to it (null: none was bound) */
  volume: string | null;
  /** the PV's reclaim policy: Delete (the data went with it), Retain (the data stays on the volume) */
  reclaimPolicy: string | null;
  /** the requested size, e.g. `10Gi` */
  storage: string | null;
  /** the volume, and the data on it, outlive the deletion */
  dataKept: boolean;
}

export interface Certificate {
  format: typeof CERTIFICATE_FORMAT;
  subject: CertificateSubject;
  /** the customer, by its pseudonymous id (never a name or an e-mail address) */
  customerId: string;
  /** the site that issued it (CUSTCTL_SITE_NAME) */
  issuer: string;
  /** ISO time */
  issuedAt: string;
  /** the job that did it (null: an erasure run outside a job) */
  job: { id: string } | null;
  /** deletion: the namespace and its uid (null: it was already gone); erasure: null */
  namespace: { name: string; uid: string | null; outcome: 'deleted' | 'already-gone' } | null;
  releases: Array<{ name: string; outcome: string }>;
  /** what the releases held, by kind (the audit row's counts) */
  objects: Record<string, number>;
  /** cluster-scoped RBAC, `Kind/name` */
  clusterRbac: {
    deleted: string[];
    alreadyGone: string[];
    /** not deleted: `Kind/name` and why (kept by helm.sh/resource-policy, or not the customer's) */
    kept: Array<{ name: string; why: string }>;
    failed: string[];
  };
  volumes: CertificateVolume[];
  /** VolumeSnapshots taken before the deletion: their contents are retained */
  volumeSnapshots: Array<{ name: string; pvc: string; content: string | null }>;
  backups: {
    /** backups and exports deleted (an erasure) */
    deleted: string[];
    /** the backup written before the deletion: it holds the customer's data until it is pruned or erased */
    kept: Array<{ url: string; sha256: string }>;
  };
  /** what the billing provider was asked to do (provider-defined entries) */
  billing: unknown[];
  /** erasure: the row's columns whose values were erased (names, never values) */
  rowFieldsErased: string[];
  /** the audit chain row that recorded the act */
  audit: { seq: string; hash: string; action: string; at: string };
  warnings: string[];
}

export interface CertificateSignature {
  algorithm: 'ed25519';
  /** SHA-256 (hex) of the signing key's public key, SPKI DER */
  keyId: string;
  /** base64 */
  value: string;
}

export interface SignedCertificate {
  certificate: Certificate;
  signature: CertificateSignature;
}

/** The bytes that are signed: the context line, then the canonical document. */
export function signedBytes(c: Certificate): Buffer {
  return Buffer.from(`${SIGNING_CONTEXT}${canonicalJson(c)}`, 'utf8');
}

/** SHA-256 (hex) of a public key's SPKI DER: how a certificate names the key that signed it. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

export function isEd25519(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ed25519';
}

export function signCertificate(c: Certificate, privateKey: KeyObject): SignedCertificate {
  if (privateKey.type !== 'private' || !isEd25519(privateKey)) throw new Error('a certificate is signed with an ed25519 private key');
  checkCertificate(c);
  const value = sign(null, signedBytes(c), privateKey).toString('base64');
  return { certificate: c, signature: { algorithm: 'ed25519', keyId: keyIdOf(privateKey), value } };
}

export type SignatureCheck =
  | { ok: true; keyId: string }
  | { ok: false; problem: string };

/**
 * Checks the signature with the public key given (the site's, obtained from the site, never from
 * the document). A key other than the one that signed says so; a changed document fails.
 */
export function verifyCertificateSignature(doc: SignedCertificate, publicKey: KeyObject): SignatureCheck {
  const pub = publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  if (!isEd25519(pub)) return { ok: false, problem: `the key given is ${pub.asymmetricKeyType ?? 'not an asymmetric key'}, not ed25519` };
  const keyId = keyIdOf(pub);
  if (doc.signature.algorithm !== 'ed25519') return { ok: false, problem: `signature algorithm ${JSON.stringify(doc.signature.algorithm)}: only ed25519 is accepted` };
  if (doc.signature.keyId !== keyId) {
    return { ok: false, problem: `signed by key ${shortKey(doc.signature.keyId)}, not by the key given (${shortKey(keyId)})` };
  }
  let bytes: Buffer;
  try {
    bytes = signedBytes(doc.certificate);
  } catch (e) {
    return { ok: false, problem: `the document has no canonical form: ${(e as Error).message}` };
  }
  const sig = Buffer.from(doc.signature.value, 'base64');
  if (sig.length !== 64 || sig.toString('base64') !== doc.signature.value) return { ok: false, problem: 'the signature is not 64 bytes of base64' };
  return verify(null, bytes, pub, sig) ? { ok: true, keyId } : { ok: false, problem: 'the signature does not match the document: it was changed after it was signed, or signed by another key' };
}

export const shortKey = (k: string): string => (k.length > 16 ? `${k.slice(0, 16)}…` : k);

// ---- reading a document ------------------------------------------------------------------------

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const strList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

/** Throws an Error that names the first field that is not what a certificate holds. */
export function checkCertificate(v: unknown): Certificate {
  const bad = (what: string): never => {
    throw new Error(`certificate.${what}`);
  };
  if (!isRecord(v)) throw new Error('certificate is not an object');
  if (v.format !== CERTIFICATE_FORMAT) bad(`format is ${JSON.stringify(v.format)}, not ${CERTIFICATE_FORMAT}`);
  if (v.subject !== 'deletion' && v.subject !== 'erasure') bad('subject is neither deletion nor erasure');
  if (!isStr(v.customerId) || !/^cust_[a-z0-9]{1,44}$/.test(v.customerId)) bad('customerId is not a customer id (cust_…)');
  if (!isStr(v.issuer)) bad('issuer is not a string');
  if (!isStr(v.issuedAt) || Number.isNaN(Date.parse(v.issuedAt))) bad('issuedAt is not a time');
  if (v.job !== null && !(isRecord(v.job) && isStr(v.job.id))) bad('job is not {id} or null');
  const ns = v.namespace;
  if (ns !== null && !(isRecord(ns) && isStr(ns.name) && (ns.uid === null || isStr(ns.uid)) && (ns.outcome === 'deleted' || ns.outcome === 'already-gone'))) bad('namespace is not {name, uid, outcome} or null');
  if (!Array.isArray(v.releases) || !v.releases.every((r) => isRecord(r) && isStr(r.name) && isStr(r.outcome))) bad('releases is not a list of {name, outcome}');
  if (!isRecord(v.objects) || !Object.values(v.objects).every((n) => Number.isSafeInteger(n))) bad('objects is not a map of counts');
  const r = v.clusterRbac;
  if (!isRecord(r) || !strList(r.deleted) || !strList(r.alreadyGone) || !strList(r.failed) || !Array.isArray(r.kept) || !r.kept.every((k) => isRecord(k) && isStr(k.name) && isStr(k.why))) bad('clusterRbac is not {deleted, alreadyGone, kept, failed}');
  const nullableStr = (x: unknown) => x === null || isStr(x);
  if (!Array.isArray(v.volumes) || !v.volumes.every((x) => isRecord(x) && isStr(x.pvc) && nullableStr(x.volume) && nullableStr(x.reclaimPolicy) && nullableStr(x.storage) && typeof x.dataKept === 'boolean')) bad('volumes is not a list of {pvc, volume, reclaimPolicy, storage, dataKept}');
  if (!Array.isArray(v.volumeSnapshots) || !v.volumeSnapshots.every((x) => isRecord(x) && isStr(x.name) && isStr(x.pvc) && nullableStr(x.content))) bad('volumeSnapshots is not a list of {name, pvc, content}');
  const b = v.backups;
  if (!isRecord(b) || !strList(b.deleted) || !Array.isArray(b.kept) || !b.kept.every((x) => isRecord(x) && isStr(x.url) && isStr(x.sha256))) bad('backups is not {deleted, kept}');
  if (!Array.isArray(v.billing)) bad('billing is not a list');
  if (!strList(v.rowFieldsErased)) bad('rowFieldsErased is not a list of column names');
  const a = v.audit;
  if (!isRecord(a) || !isStr(a.seq) || !/^\d{1,18}$/.test(a.seq) || !isStr(a.hash) || !/^[0-9a-f]{64}$/.test(a.hash) || !isStr(a.action) || !isStr(a.at)) bad('audit is not {seq, hash, action, at}');
  if (!strList(v.warnings)) bad('warnings is not a list');
  return v as unknown as Certificate;
}

/** A certificate file as `certificate verify` reads it: JSON `{certificate, signature}`. */
export function parseSignedCertificate(text: string): SignedCertificate {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON (${(e as Error).message})`);
  }
  if (!isRecord(v)) throw new Error('not a JSON object');
  const s = v.signature;
  if (!isRecord(s) || !isStr(s.algorithm) || !isStr(s.keyId) || !isStr(s.value)) throw new Error('signature is not {algorithm, keyId, value}');
  const certificate = checkCertificate(v.certificate);
  return { certificate, signature: { algorithm: s.algorithm as 'ed25519', keyId: s.keyId, value: s.value } };
}

/** The file as written: pretty JSON (the signature covers the canonical form, not these bytes). */
export function certificateJson(doc: SignedCertificate): string {
  return `${JSON.stringify(doc, null, 2)}\n`;
}

// ---- the audit row a certificate cites ---------------------------------------------------------

/** The audit action a certificate of each subject cites. */
export const CITED_ACTION: Record<CertificateSubject, string> = {
  deletion: 'deletion-completed',
  erasure: 'customer-erased',
};

/** The audit row as the chain holds it (the fields a certificate is checked against). */
export interface CitedAuditRow {
  seq: string;
  hash: string | null;
  action: string;
  customerId: string | null;
  jobId: string | null;
  outcome: string | null;
  /** ISO time, milliseconds */
  at: string;
  deleted: { releases?: string[]; objects?: Record<string, number>; rbac?: string[]; fields?: string[] } | null;
}

const sorted = (xs: readonly string[] | undefined) => [...(xs ?? [])].sort();
const sameList = (a: readonly string[] | undefined, b: readonly string[] | undefined) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const sameCounts = (a: Record<string, number> | undefined, b: Record<string, number> | undefined) =>
  canonicalJson(Object.fromEntries(Object.entries(a ?? {}).filter(([, n]) => n !== 0))) === canonicalJson(Object.fromEntries(Object.entries(b ?? {}).filter(([, n]) => n !== 0)));

/**
 * What differs between the certificate and the audit row it cites: the row must be the act the
 * certificate describes (action, customer, job, time, hash) and record the same things deleted or
 * erased. An empty list: the row backs the certificate.
 */
export function auditCitationProblems(c: Certificate, row: CitedAuditRow): string[] {
  const out: string[] = [];
  const want = CITED_ACTION[c.subject];
  if (row.seq !== c.audit.seq) out.push(`the row read is seq ${row.seq}, the certificate cites ${c.audit.seq}`);
  if (row.hash !== c.audit.hash) out.push(`audit row ${c.audit.seq} holds hash ${shortKey(row.hash ?? 'none')}, the certificate cites ${shortKey(c.audit.hash)}`);
  if (row.action !== c.audit.action || row.action !== want) out.push(`audit row ${c.audit.seq} records ${row.action}, a ${c.subject} certificate cites ${want}`);
  if (row.customerId !== c.customerId) out.push(`audit row ${c.audit.seq} is of ${row.customerId ?? 'no customer'}, the certificate of ${c.customerId}`);
  if ((row.jobId ?? null) !== (c.job?.id ?? null)) out.push(`audit row ${c.audit.seq} names job ${row.jobId ?? 'none'}, the certificate job ${c.job?.id ?? 'none'}`);
  if (Date.parse(row.at) !== Date.parse(c.audit.at)) out.push(`audit row ${c.audit.seq} was recorded at ${row.at}, the certificate says ${c.audit.at}`);
  const d = row.deleted ?? {};
  if (c.subject === 'deletion') {
    if (row.outcome !== 'deleted') out.push(`audit row ${c.audit.seq} has outcome ${row.outcome ?? 'none'}, not deleted`);
    const uninstalled = c.releases.filter((r) => releaseRemoved(r.outcome)).map((r) => r.name);
    if (!sameList(d.releases, uninstalled)) out.push(`the releases differ: the audit row records ${sorted(d.releases).join(', ') || 'none'}, the certificate ${sorted(uninstalled).join(', ') || 'none'}`);
    if (!sameCounts(d.objects, c.objects)) out.push(`the objects by kind differ: the audit row records ${canonicalJson(d.objects ?? {})}, the certificate ${canonicalJson(c.objects)}`);
    if (!sameList(d.rbac, c.clusterRbac.deleted)) out.push(`the cluster RBAC differs: the audit row records ${sorted(d.rbac).join(', ') || 'none'}, the certificate ${sorted(c.clusterRbac.deleted).join(', ') || 'none'}`);
  } else if (!sameList(d.fields, c.rowFieldsErased)) {
    out.push(`the erased fields differ: the audit row records ${sorted(d.fields).join(', ') || 'none'}, the certificate ${sorted(c.rowFieldsErased).join(', ') || 'none'}`);
  }
  return out;
}

// ---- renderings ------------------------------------------------------------------------------

function countLine(objects: Record<string, number>): string {
  const kinds = Object.entries(objects).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b));
  return kinds.length ? kinds.map(([k, n]) => `${k} ${n}`).join(', ') : 'none recorded';
}

/** What stays after the act, in plain words (the same lines in the text and the HTML). */
export function remainingLines(c: Certificate): string[] {
  const out: string[] = [];
  for (const v of c.volumes.filter((x) => x.dataKept)) out.push(`PersistentVolume ${v.volume ?? '?'} (claim ${v.pvc}) stays with its data: reclaim policy ${v.reclaimPolicy ?? '?'}`);
  for (const s of c.volumeSnapshots) out.push(`the snapshot ${s.content ? `VolumeSnapshotContent ${s.content}` : s.name} of the volume of ${s.pvc} is retained with its data`);
  for (const b of c.backups.kept) out.push(`the backup ${b.url} (sha256 ${b.sha256.slice(0, 16)}…) holds a copy until it is pruned or erased`);
  for (const k of c.clusterRbac.kept) out.push(`${k.name} was not deleted: ${k.why}`);
  for (const f of c.clusterRbac.failed) out.push(`${f} could not be deleted (it is swept up later by cleanup-rbac)`);
  return out;
}

const SUBJECT_TITLE: Record<CertificateSubject, string> = {
  deletion: 'Deletion certificate',
  erasure: 'Erasure certificate',
};

/** Plain text, for a terminal or an e-mail. */
export function certificateText(doc: SignedCertificate, verdict?: string): string {
  const c = doc.certificate;
  const lines: string[] = [];
  const add = (label: string, value: string) => lines.push(`${label.padEnd(20)} ${value}`);
  lines.push(`${SUBJECT_TITLE[c.subject]} for ${c.customerId}`, '');
  add('Issued by', c.issuer);
  add('Issued at', c.issuedAt);
  add('Recorded at', `${c.audit.at} (audit row ${c.audit.seq}, ${c.audit.action})`);
  if (c.job) add('Job', c.job.id);
  if (c.subject === 'deletion') {
    add('Namespace', c.namespace ? `${c.namespace.name}${c.namespace.uid ? ` (uid ${c.namespace.uid})` : ''}: ${c.namespace.outcome === 'deleted' ? 'deleted' : 'already gone'}` : '-');
    add('Helm releases', c.releases.length ? c.releases.map((r) => `${r.name} (${r.outcome})`).join(', ') : 'none');
    add('Objects', countLine(c.objects));
    add('Cluster RBAC', [...c.clusterRbac.deleted.map((x) => `${x} deleted`), ...c.clusterRbac.alreadyGone.map((x) => `${x} already gone`)].join(', ') || 'none');
    add('Volumes', c.volumes.length ? c.volumes.map((v) => `${v.pvc}${v.storage ? ` ${v.storage}` : ''} → ${v.volume ?? 'unbound'} (${v.reclaimPolicy ?? 'no policy'}: ${v.dataKept ? 'data kept' : 'data deleted'})`).join('; ') : 'none');
  }
  if (c.rowFieldsErased.length) add('Row fields erased', c.rowFieldsErased.join(', '));
  if (c.backups.deleted.length) add('Backups deleted', c.backups.deleted.join(', '));
  if (c.billing.length) add('Billing', c.billing.map((b) => (typeof b === 'string' ? b : JSON.stringify(b))).join('; '));
  const remains = remainingLines(c);
  lines.push('', remains.length ? 'What remains:' : 'Nothing of the above remains on the platform.');
  for (const r of remains) lines.push(`  - ${r}`);
  for (const w of c.warnings) lines.push(`  ! ${w}`);
  lines.push('', `Signed (ed25519) by key ${doc.signature.keyId}`);
  lines.push(`Check it: custctl certificate verify FILE --public-key <the site's public key>`);
  if (verdict) lines.push('', verdict);
  return `${lines.join('\n')}\n`;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML text or attribute value: the five characters HTML gives meaning to, escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ESCAPES[ch] as string);
}

/**
 * One self-contained HTML page (no scripts, no external resources, a CSP that allows none), every
 * value escaped. The JSON document is embedded as text for a reader who wants to check it.
 */
export function certificateHtml(doc: SignedCertificate, verdict?: string): string {
  const c = doc.certificate;
  const e = escapeHtml;
  const row = (label: string, value: string) => `<tr><th>${e(label)}</th><td>${value}</td></tr>`;
  const list = (items: string[]) => (items.length ? `<ul>${items.map((x) => `<li>${e(x)}</li>`).join('')}</ul>` : 'none');
  const rows: string[] = [
    row('Customer', `<code>${e(c.customerId)}</code>`),
    row('Issued by', e(c.issuer)),
    row('Issued at', `<time>${e(c.issuedAt)}</time>`),
    row('Recorded at', `<time>${e(c.audit.at)}</time> (audit row ${e(c.audit.seq)}, ${e(c.audit.action)})`),
  ];
  if (c.job) rows.push(row('Job', e(c.job.id)));
  if (c.subject === 'deletion') {
    rows.push(row('Namespace', c.namespace ? `<code>${e(c.namespace.name)}</code>${c.namespace.uid ? ` (uid <code>${e(c.namespace.uid)}</code>)` : ''}: ${c.namespace.outcome === 'deleted' ? 'deleted' : 'already gone'}` : '-'));
    rows.push(row('Helm releases', list(c.releases.map((r) => `${r.name} (${r.outcome})`))));
    rows.push(row('Objects', list(Object.entries(c.objects).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`))));
    rows.push(row('Cluster RBAC', list([...c.clusterRbac.deleted.map((x) => `${x} deleted`), ...c.clusterRbac.alreadyGone.map((x) => `${x} already gone`)])));
    rows.push(row('Volumes', list(c.volumes.map((v) => `${v.pvc}${v.storage ? ` ${v.storage}` : ''} → ${v.volume ?? 'unbound'} (${v.reclaimPolicy ?? 'no policy'}: ${v.dataKept ? 'data kept' : 'data deleted'})`))));
  }
  if (c.rowFieldsErased.length) rows.push(row('Row fields erased', list(c.rowFieldsErased)));
  if (c.backups.deleted.length) rows.push(row('Backups deleted', list(c.backups.deleted)));
  if (c.billing.length) rows.push(row('Billing', list(c.billing.map((b) => (typeof b === 'string' ? b : JSON.stringify(b))))));
  const remains = remainingLines(c);
  const title = `${SUBJECT_TITLE[c.subject]} for ${c.customerId}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#111;line-height:1.4}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid #ddd}
th{width:11rem;font-weight:600}code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{white-space:pre-wrap;word-break:break-all;background:#f5f5f5;padding:.75rem}
ul{margin:0;padding-left:1.2rem}.remains{background:#fff7e0;padding:.5rem 1rem}.verdict{font-weight:600}
</style>
</head>
<body>
<h1>${e(title)}</h1>
${verdict ? `<p class="verdict">${e(verdict)}</p>\n` : ''}<table>
${rows.join('\n')}
</table>
<h2>What remains</h2>
<div class="remains">${remains.length ? list(remains) : '<p>Nothing of the above remains on the platform.</p>'}${c.warnings.length ? `<p>Warnings:</p>${list(c.warnings)}` : ''}</div>
<h2>Signature</h2>
<p>Signed with ed25519 by the key <code>${e(doc.signature.keyId)}</code> (SHA-256 of its public key). Check it with
<code>custctl certificate verify FILE --public-key SITE-KEY.pem</code>, where FILE holds the document below and SITE-KEY.pem is the site's published public key.</p>
<pre>${e(certificateJson(doc))}</pre>
</body>
</html>
`;
}
