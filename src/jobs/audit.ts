/**
 * The audit rows of job events that change no customer row: a job was superseded, and the rows
 * each kind writes for its own events (an attempt of a deletion started, a cleanup-rbac sweep
 * deleted cluster RBAC: `JobKind.audit`, src/jobs/kinds/). Every change of a row is recorded by
 * the store, in the same transaction as the change: src/adapters/store-sql/. Registered on the
 * lifecycle stream in src/jobs/env.ts.
 */
import type { AuditEntry, CustomerStore } from '../adapters/store.js';
import type { Job } from '../domain/job.js';
import type { JobListener } from './events.js';
import { knownKind } from './kinds/index.js';

function base(job: Job): Pick<AuditEntry, 'actor' | 'customerId' | 'namespace' | 'jobId'> {
  return { actor: job.requestedBy, customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id };
}

export function auditListener(store: Pick<CustomerStore, 'appendAudit'>): JobListener {
  return async (e) => {
    if (e.type === 'superseded') {
      const reason = (e.job.returnvalue as { reason?: string } | null)?.reason ?? null;
      await store.appendAudit({ ...base(e.job), action: 'deletion-superseded', outcome: 'superseded', reason });
      return;
    }
    if (!('job' in e)) return; // progress: no row
    for (const row of knownKind(e.job.name)?.audit?.(e) ?? []) await store.appendAudit(row);
  };
}
