/**
 * A deletion's row statements, each one compare-and-set (two processes, or two workers of one
 * process, can never both own a deletion): the claim (also a scheduled one, soft delete), the
 * owner's check, completion, failure, release (cancel), and the restore of a deleted customer.
 *
 * Ownership bookkeeping:
 * - `deletion_job_id` holds the job that holds (or last held) the deletion; completing or failing
 *   keeps it (audit), releasing clears it.
 * - `previous_status` is the status the row had before the job first claimed it, so `jobs cancel`
 *   can put it back. A retry/resume of the SAME job (`expectJobId`) keeps it: the job's "before" is
 *   still the status before its first attempt, not `deletion_failed`/`deleting` (a row with no
 *   recorded value falls back to `deletion_failed`). A new job claiming a `deletion_failed` row
 *   records `deletion_failed`.
 */
import { DELETABLE_STATUSES, type AuditEntry, type ClaimResult, type CustomerRow } from '../store.js';
import type { SqlContext } from './context.js';
import { asStatus, iso, none, orNone, status, statusOrNull, toCustomerRow, type ClaimDbRow } from './rows.js';

/** How many times a failed claim is re-tried when the row, read afterwards, turned claimable (a race). */
const CLAIM_TRIES = 3;

/** Would `claimForDeletion` accept this row? (Mirrors the claim's WHERE; used only to re-try after a race.) */
function claimable(row: CustomerRow, force: boolean, expectJobId: string | undefined): boolean {
  if (DELETABLE_STATUSES.includes(row.deploymentStatus)) return true;
  if (force && row.deploymentStatus === 'deploying') return true;
  return expectJobId !== undefined && row.deletionJobId === expectJobId
    && (row.deploymentStatus === 'deletion_failed' || row.deploymentStatus === 'deleting');
}

export async function claimForDeletion(s: SqlContext, customerId: string, jobId: string, opts: { force: boolean; expectJobId?: string; scheduledAt?: Date; audit?: AuditEntry }): Promise<ClaimResult> {
  return s.guard('claiming customer ' + customerId + ' for deletion', async () => {
    const allowed: string[] = [...DELETABLE_STATUSES, ...(opts.force ? ['deploying'] : [])];
    const expect = opts.expectJobId ?? null;
    const returning = await s.rowColumns('c.');
    for (let attempt = 1; ; attempt++) {
      // One statement: the sub-select locks the row (waiting for a concurrent claim to commit and
      // then seeing its result), the UPDATE re-checks the predicate on the latest row version.
      // The status is compared as text, so an ENUM column works too (a literal written to it
      // becomes the ENUM's value; the enum must have it: db check / db migrate).
      const r = await s.audited(opts.audit, (db) => db.query<ClaimDbRow>(
        `update customers c set
           deployment_status = 'deleting',
           previous_status = case
             when c.deployment_status::text = 'deleting' then c.previous_status::text
             when c.deployment_status::text = 'deletion_failed' and c.deletion_job_id::text = $3::text
               then coalesce(c.previous_status::text, 'deletion_failed')
             else c.deployment_status::text
           end,
           deletion_job_id = $2::text,
           deletion_scheduled_at = case when c.deletion_job_id::text = $3::text then c.deletion_scheduled_at::timestamptz else $5::timestamptz end,
           deleted_at = null,
           updated_at = now()
         from (select id, deployment_status::text as deployment_status, deletion_job_id::text as deletion_job_id,
                 previous_status::text as previous_status, updated_at::timestamptz as updated_at
               from customers where customer_id = $1 for update) b
         where c.id = b.id
           and (c.deployment_status::text = any($4::text[])
                or (c.deletion_job_id::text = $3::text and c.deployment_status::text in ('deletion_failed', 'deleting')))
         returning ${returning},
           b.deployment_status as before_status, b.deletion_job_id as before_deletion_job_id,
           b.previous_status as before_previous_status, b.updated_at as before_updated_at`,
        [customerId, jobId, expect, allowed, opts.scheduledAt ? opts.scheduledAt.toISOString() : null],
      ), (r) => r.rows[0]?.deployment_status ?? null);
      const won = r.rows[0];
      if (won) {
        const after = toCustomerRow(won);
        const before: CustomerRow = {
          ...after,
          deploymentStatus: status(won.before_status),
          deletionJobId: won.before_deletion_job_id,
          previousStatus: statusOrNull(won.before_previous_status),
          updatedAt: iso(won.before_updated_at),
        };
        return { ok: true, before, after };
      }
      const row = await s.get(customerId);
      if (!row) return { ok: false, reason: 'not-found' };
      if (claimable(row, opts.force, opts.expectJobId) && attempt < CLAIM_TRIES) continue;
      if (row.deploymentStatus === 'deploying') return { ok: false, reason: 'deploying', row };
      if (row.deploymentStatus === 'deleting') return { ok: false, reason: 'deleting', row };
      return { ok: false, reason: 'status', row };
    }
  });
}

export async function isOwnedBy(s: SqlContext, customerId: string, jobId: string): Promise<boolean> {
  return s.guard('checking the deletion owner of ' + customerId, async () => {
    const r = await s.db.query<{ one: number }>(
      `select 1 as one from customers where customer_id = $1 and deployment_status::text = 'deleting' and deletion_job_id::text = $2::text`,
      [customerId, jobId],
    );
    return r.rows.length > 0;
  });
}

export async function completeDeletion(s: SqlContext, customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
  return ownedUpdate(s, 'completing the deletion of ' + customerId,
    `deployment_status = 'pending', instance_namespace = ${none('instance_namespace')}, instance_url = ${none('instance_url')},
     deletion_scheduled_at = null, deleted_at = now()`, customerId, jobId, audit);
}

export async function completeRestore(s: SqlContext, customerId: string, namespace: string, url: string, audit?: AuditEntry): Promise<boolean> {
  return s.guard('restoring the row of ' + customerId, async () => {
    const r = await s.audited(audit, (db) => db.query<{ deployment_status: string }>(
      `update customers set deployment_status = 'deployed', instance_namespace = ${orNone('$2', 'instance_namespace')},
         instance_url = ${orNone('$3', 'instance_url')}, deletion_job_id = null, previous_status = null, updated_at = now()
       where customer_id = $1 and deployment_status::text = 'pending'
       returning deployment_status::text as deployment_status`,
      [customerId, namespace, url],
    ), (r) => r.rows[0]?.deployment_status ?? null);
    return r.rows.length > 0;
  });
}

export async function failDeletion(s: SqlContext, customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
  return ownedUpdate(s, 'marking the deletion of ' + customerId + ' failed',
    `deployment_status = 'deletion_failed', deletion_scheduled_at = null`, customerId, jobId, audit);
}

/**
 * Back to the status before the claim. With no recorded previous status (a row claimed by an
 * older custctl, or edited by hand) it falls back to `deletion_failed`, not `deployed`: part of
 * the instance may already be gone, and `deletion_failed` tells billing to look while staying
 * deletable; `deployed` could claim a live instance that no longer exists.
 */
export async function releaseDeletion(s: SqlContext, customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
  return ownedUpdate(s, 'releasing the deletion of ' + customerId,
    `deployment_status = ${asStatus(`coalesce(previous_status::text, 'deletion_failed')`)}, deletion_job_id = null, previous_status = null, deletion_scheduled_at = null`,
    customerId, jobId, audit);
}

/** compare-and-set on `deleting AND deletion_job_id = jobId` */
async function ownedUpdate(s: SqlContext, what: string, set: string, customerId: string, jobId: string, audit?: AuditEntry): Promise<boolean> {
  return s.guard(what, async () => {
    const r = await s.audited(audit, (db) => db.query<{ deployment_status: string }>(
      `update customers set ${set}, updated_at = now()
       where customer_id = $1 and deployment_status::text = 'deleting' and deletion_job_id::text = $2::text
       returning deployment_status::text as deployment_status`,
      [customerId, jobId],
    ), (r) => r.rows[0]?.deployment_status ?? null);
    return r.rows.length > 0;
  });
}
