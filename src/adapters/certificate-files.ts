/**
 * Where a process keeps the erasure certificates it signed: `<state dir>/certificates/`, one file
 * per certificate (`<customerId>-erasure-<audit seq>.json`), the file `certificate verify` reads.
 * A deletion's certificate lives in its job's result instead.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { certificateJson, type SignedCertificate } from '../domain/certificate.js';
import { writeFileAtomic } from './fs-atomic.js';

export async function saveCertificate(stateDir: string, doc: SignedCertificate, file?: string): Promise<string> {
  const c = doc.certificate;
  const p = file ?? path.join(stateDir, 'certificates', `${c.customerId}-${c.subject}-${c.audit.seq}.json`);
  await mkdir(path.dirname(p), { recursive: true, mode: 0o700 });
  await writeFileAtomic(p, certificateJson(doc), 0o644);
  return p;
}
