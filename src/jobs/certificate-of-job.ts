/**
 * A job's signed certificate, where every edge reads it (`status job --certificate`, the API's
 * `GET /jobs/:id/certificate`, the console's job page, the portal): the job result's
 * `certificate` field, written by the hard deletion's end (src/jobs/certify.ts).
 */
import { parseSignedCertificate, type SignedCertificate } from '../domain/certificate.js';
import { kindFacts, type Job } from '../domain/job.js';
import { NotFoundError } from '../errors.js';

/** The result field that holds a job's certificate. */
export const CERTIFICATE_FIELD = 'certificate';

/** The job's certificate, or null when it has none (not a finished hard deletion, or the site has no signing key). */
export function certificateOfJob(job: Job): SignedCertificate | null {
  const rv = job.returnvalue as Record<string, unknown> | null;
  const raw = rv && typeof rv === 'object' ? rv[CERTIFICATE_FIELD] : undefined;
  if (raw === undefined || raw === null) return null;
  return parseSignedCertificate(JSON.stringify(raw));
}

/** The job's certificate; NotFoundError (exit 3, HTTP 404) saying why there is none. */
export function jobCertificate(job: Job): SignedCertificate {
  const c = certificateOfJob(job);
  if (c) return c;
  const why = !kindFacts(job.name).holdsCustomerRow
    ? `job ${job.id} is a ${job.name} job: only a hard deletion has a certificate`
    : job.state !== 'completed'
      ? `job ${job.id} is ${job.state}: a certificate is issued when a hard deletion completes`
      : job.simulated
        ? `job ${job.id} was simulated: nothing was deleted, so it has no certificate`
        : `job ${job.id} has no certificate: the site had no signing key when it ran (CUSTCTL_SIGNING_KEY_FILE), or it was superseded`;
  throw new NotFoundError(why);
}
