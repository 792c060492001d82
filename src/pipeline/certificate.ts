/**
 * Certificates built from what the pipeline returns: `certificateFor(result, position, extras)` for
 * a finished hard deletion (DeleteResult and the audit row step 4 wrote), `erasureCertificateFor`
 * for an erasure. Each is one call where a job ends; signing is `signCertificate` (domain).
 */
import type { PvcInfo } from '../adapters/kube.js';
import type { AuditPosition, CustomerStore } from '../adapters/store.js';
import { auditCitationProblems, CERTIFICATE_FORMAT, CITED_ACTION, type Certificate, type CertificateVolume } from '../domain/certificate.js';
import { ConflictError } from '../errors.js';
import type { DeleteResult } from './types.js';

export type { AuditPosition };

export interface CertificateExtras {
  /** CUSTCTL_SITE_NAME */
  issuer: string;
  issuedAt: Date;
  /** the namespace's uid as the job saw it when it was accepted (job.data.namespaceUid) */
  namespaceUid?: string | null;
  /** the PVCs with their volumes' reclaim policy, read before the namespace went (the pipeline's ctx.pvcs) */
  pvcs?: readonly PvcInfo[];
  /** what the billing step did (provider-defined entries, no personal data) */
  billing?: readonly unknown[];
}

const KEPT_BY_POLICY = 'kept by its helm.sh/resource-policy: keep annotation';
const KEPT_UNOWNED = 'not marked as this customer\'s (no release annotation, name not the instance\'s): left alone';

function volumesOf(r: DeleteResult, pvcs: readonly PvcInfo[] | undefined, warnings: string[]): CertificateVolume[] {
  if (!pvcs) {
    if (r.retainedVolumes.length === 0) warnings.push('the volumes the namespace held were not recorded with this deletion');
    return r.retainedVolumes.map((v) => ({ pvc: v.pvc, volume: v.volume, reclaimPolicy: v.reclaimPolicy, storage: null, dataKept: true }));
  }
  // the same rule as the retained-volumes step: a bound PV whose policy is not Delete stays
  return [...pvcs].sort((a, b) => a.name.localeCompare(b.name)).map((p) => ({
    pvc: p.name,
    volume: p.volumeName ?? null,
    reclaimPolicy: p.reclaimPolicy ?? null,
    storage: p.storage ?? null,
    dataKept: Boolean(p.volumeName && p.reclaimPolicy && p.reclaimPolicy !== 'Delete'),
  }));
}

/**
 * The certificate of a finished hard deletion. Refused (ConflictError) for a job that deleted
 * nothing: superseded, simulated (no cluster call was made), or not finished (the row was not
 * handed back), and for an audit row that is not the deletion's.
 */
export function certificateFor(r: DeleteResult, position: AuditPosition, x: CertificateExtras): Certificate {
  if (r.outcome !== 'deleted' || r.superseded) throw new ConflictError(`job ${r.jobId} was superseded: it deleted nothing, so it has no certificate`);
  if (r.simulated) throw new ConflictError(`job ${r.jobId} was simulated (SIMULATE_K8S_DEPLOYMENT): nothing was deleted from the cluster, so it has no certificate`);
  if (r.row?.status !== 'pending') throw new ConflictError(`job ${r.jobId} has not finished the deletion of ${r.customerId} (the row was not handed back): no certificate yet`);
  if (position.action !== CITED_ACTION.deletion) throw new ConflictError(`audit row ${position.seq} records ${position.action}, not ${CITED_ACTION.deletion}: it cannot back a deletion certificate`);
  const warnings = [...r.warnings];
  const namespace: Certificate['namespace'] = r.namespaceOutcome === 'deleted'
    ? { name: r.namespace, uid: x.namespaceUid ?? null, outcome: 'deleted' }
    : { name: r.namespace, uid: null, outcome: 'already-gone' };
  const ref = (o: { kind: string; name: string }) => `${o.kind}/${o.name}`;
  return {
    format: CERTIFICATE_FORMAT,
    subject: 'deletion',
    customerId: r.customerId,
    issuer: x.issuer,
    issuedAt: x.issuedAt.toISOString(),
    job: { id: r.jobId },
    namespace,
    releases: r.releases.map((rel) => ({ name: rel.name, outcome: rel.outcome })),
    // what step 4 recorded in the audit row, so the certificate and its row say the same
    objects: { ...(r.deleted?.objects ?? {}) },
    clusterRbac: {
      deleted: r.deleted?.rbac ? [...r.deleted.rbac] : r.rbac.deleted.map(ref),
      alreadyGone: r.rbac.alreadyGone.map(ref),
      kept: [...r.rbac.keptByPolicy.map((o) => ({ name: ref(o), why: KEPT_BY_POLICY })), ...r.rbac.keptUnowned.map((o) => ({ name: ref(o), why: KEPT_UNOWNED }))],
      failed: r.rbac.failed.map(ref),
    },
    volumes: volumesOf(r, x.pvcs, warnings),
    volumeSnapshots: (r.volumeSnapshots ?? []).map((s) => ({ name: s.snapshot, pvc: s.pvc, content: s.content || null })),
    backups: { deleted: [], kept: r.backup ? [{ url: r.backup.url, sha256: r.backup.sha256 }] : [] },
    billing: [...(x.billing ?? [])],
    rowFieldsErased: [],
    audit: { seq: position.seq, hash: position.hash, action: position.action, at: position.at },
    warnings,
  };
}

export interface ErasureFacts {
  customerId: string;
  /** the job that ran the erasure, if it ran as one */
  jobId?: string | null;
  /** the row's columns erased (names) */
  fields: readonly string[];
  /** backups and exports deleted, by URL */
  backupsDeleted?: readonly string[];
  billing?: readonly unknown[];
  warnings?: readonly string[];
}

/** The certificate of an erasure, citing its `customer-erased` audit row. */
export function erasureCertificateFor(f: ErasureFacts, position: AuditPosition, x: Pick<CertificateExtras, 'issuer' | 'issuedAt'>): Certificate {
  if (position.action !== CITED_ACTION.erasure) throw new ConflictError(`audit row ${position.seq} records ${position.action}, not ${CITED_ACTION.erasure}: it cannot back an erasure certificate`);
  return {
    format: CERTIFICATE_FORMAT,
    subject: 'erasure',
    customerId: f.customerId,
    issuer: x.issuer,
    issuedAt: x.issuedAt.toISOString(),
    job: f.jobId ? { id: f.jobId } : null,
    namespace: null,
    releases: [],
    objects: {},
    clusterRbac: { deleted: [], alreadyGone: [], kept: [], failed: [] },
    volumes: [],
    volumeSnapshots: [],
    backups: { deleted: [...(f.backupsDeleted ?? [])], kept: [] },
    billing: [...(f.billing ?? [])],
    rowFieldsErased: [...f.fields],
    audit: { seq: position.seq, hash: position.hash, action: position.action, at: position.at },
    warnings: [...(f.warnings ?? [])],
  };
}

export interface AuditBacking {
  /** the audit log was read */
  checked: boolean;
  /** the chain holds the cited row with that hash and content, and verifies up to it */
  ok: boolean;
  database: string;
  problems: string[];
  /** worth knowing, not a failure: the chain has problems after the cited row; the row was pruned */
  notes: string[];
}

/**
 * What the audit log says of the row a certificate cites: it is there (or pruned, with a
 * checkpoint recording its hash), its hash and content are the certificate's (action, customer,
 * job, time, what was deleted or erased), and the chain verifies up to it (a row changed or removed
 * at or before it fails; problems after it are notes).
 */
export async function auditBacking(store: CustomerStore, c: Certificate): Promise<AuditBacking> {
  const out: AuditBacking = { checked: false, ok: false, database: store.description, problems: [], notes: [] };
  if (!store.auditRowAt || !store.verifyAudit) {
    out.notes.push(`${store.description} keeps no hash-chained audit log`);
    return out;
  }
  const row = await store.auditRowAt(c.audit.seq);
  const report = await store.verifyAudit({ anchor: { seq: c.audit.seq, hash: c.audit.hash } });
  out.checked = true;
  if (row) {
    out.problems.push(...auditCitationProblems(c, {
      seq: String(row.seq), hash: row.hash, action: row.action, customerId: row.customerId, jobId: row.jobId, outcome: row.outcome, at: row.at, deleted: row.deleted,
    }));
  } else if (report.anchor?.ok) {
    out.notes.push(`audit row ${c.audit.seq} was pruned; the prune checkpoint records its hash, so it is accounted for, but its content can no longer be compared`);
  } else {
    out.problems.push(report.anchor?.note ?? `the audit log has no row ${c.audit.seq}`);
  }
  const cited = BigInt(c.audit.seq);
  const upTo = report.problems.filter((p) => p.seq !== null && BigInt(p.seq) <= cited);
  const after = report.problems.filter((p) => !(p.seq !== null && BigInt(p.seq) <= cited));
  out.problems.push(...upTo.map((p) => `the audit chain does not verify at seq ${p.seq}${p.action ? ` (${p.action})` : ''}: ${p.problem}`));
  const unlisted = report.problemCount - report.problems.length;
  if (unlisted > 0 && after.length === 0) out.problems.push(`the audit chain has ${unlisted} more problems than listed; run 'custctl audit verify'`);
  if (after.length > 0 || unlisted > 0) out.notes.push(`the audit chain has ${report.problemCount - upTo.length} problem(s) after the cited row (seq ${c.audit.seq}): run 'custctl audit verify'`);
  out.ok = out.problems.length === 0;
  return out;
}
