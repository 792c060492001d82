/**
 * Certificates where jobs end: the site's signing key (CUSTCTL_SIGNING_KEY_FILE, read once per
 * process) and the signed certificate of a finished hard deletion, citing the `deletion-completed`
 * audit row its row step wrote. The erasure's certificate is issued by src/jobs/erase.ts.
 */
import type { KeyObject } from 'node:crypto';
import type { CustomerStore } from '../adapters/store.js';
import type { PvcInfo } from '../adapters/kube.js';
import type { SignedCertificate } from '../domain/certificate.js';
import { OperationError } from '../errors.js';
import type { DeleteResult } from '../pipeline/types.js';

/** The signing key of the site, loaded on first use and kept; null when none is configured. */
export function siteSigningKey(file: string | undefined): () => Promise<KeyObject | null> {
  let p: Promise<KeyObject | null> | undefined;
  return () => {
    p ??= file
      ? import('../adapters/secret-files.js').then(({ loadSigningKey }) => loadSigningKey(file))
      : Promise.resolve(null);
    // a failed read is tried again next time (the file fixed), not cached
    p.catch(() => { p = undefined; });
    return p;
  };
}

/** The `certify` a deletion attempt calls after its row step (src/pipeline/run.ts). */
export function deletionCertifier(env: { store: CustomerStore; issuer: string; now: () => number; signingKey: () => Promise<KeyObject | null> }) {
  return async (r: DeleteResult, x: { namespaceUid: string | null; pvcs?: readonly PvcInfo[] }): Promise<SignedCertificate | null> => {
    const key = await env.signingKey();
    if (!key) return null;
    if (!env.store.auditPosition) throw new OperationError(`${env.store.description} keeps no hash-chained audit log: a certificate needs the row it cites`);
    const position = await env.store.auditPosition({ customerId: r.customerId, action: 'deletion-completed', jobId: r.jobId });
    if (!position) throw new OperationError(`the audit log has no deletion-completed row of job ${r.jobId}`);
    const [{ certificateFor }, { signCertificate }] = await Promise.all([import('../pipeline/certificate.js'), import('../domain/certificate.js')]);
    const billing = r.deleted?.billing ?? (r.billing ? (({ lines: _l, ...b }) => b)(r.billing) : undefined);
    return signCertificate(certificateFor(r, position, {
      issuer: env.issuer, issuedAt: new Date(env.now()), namespaceUid: x.namespaceUid, ...(x.pvcs ? { pvcs: x.pvcs } : {}), ...(billing ? { billing: [billing] } : {}),
    }), key);
  };
}
