/**
 * A customer row's status as people read it. The database says `deleting` both for a deletion in
 * progress and for one that waits for its time (soft delete: `deletion_scheduled_at` set); the
 * human views say `scheduled` until the due time, as the job does. JSON keeps the stored value.
 */
export function isScheduledRow(row: { deploymentStatus: string; deletionScheduledAt: string | null }, now: number): boolean {
  return row.deploymentStatus === 'deleting' && row.deletionScheduledAt !== null && Date.parse(row.deletionScheduledAt) > now;
}

/** `scheduled` for a deletion waiting for its due time, else the stored status. */
export function rowStatusName(row: { deploymentStatus: string; deletionScheduledAt: string | null }, now: number): string {
  return isScheduledRow(row, now) ? 'scheduled' : row.deploymentStatus;
}
