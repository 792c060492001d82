/**
 * The audit rows of job events that change no customer row: an attempt of a deletion started, a
 * job was superseded, a cleanup-rbac sweep deleted cluster RBAC. (Every change of a row is
 * recorded by the store, in the same transaction as the change: src/adapters/store-sql.ts.)
 * Registered on the lifecycle stream in src/jobs/env.ts.
 */
import type { AuditEntry, CustomerStore } from '../adapters/store.js';
import type { RbacReportEntry } from '../domain/orphans.js';
import type { Job } from '../domain/job.js';
import type { JobListener } from './events.js';

function base(job: Job): Pick<AuditEntry, 'actor' | 'customerId' | 'namespace' | 'jobId'> {
  return { actor: job.requestedBy, customerId: job.data.customerId ?? null, namespace: job.data.namespace ?? null, jobId: job.id };
}

export function auditListener(store: Pick<CustomerStore, 'appendAudit'>): JobListener {
  return async (e) => {
    if (e.type === 'started' && e.job.name === 'delete') {
      await store.appendAudit({ ...base(e.job), action: 'deletion-started', outcome: 'running', reason: `attempt ${e.attempt}/${e.job.maxAttempts}` });
    } else if (e.type === 'superseded') {
      const reason = (e.job.returnvalue as { reason?: string } | null)?.reason ?? null;
      await store.appendAudit({ ...base(e.job), action: 'deletion-superseded', outcome: 'superseded', reason });
    } else if (e.type === 'completed' && e.job.name === 'cleanup-rbac') {
      const deleted = ((e.job.returnvalue as { deleted?: RbacReportEntry[] } | null)?.deleted ?? []);
      // one row per customer whose leftovers went
      const byCustomer = new Map<string, string[]>();
      for (const x of deleted) {
        const id = `cust_${x.customerKey}`;
        byCustomer.set(id, [...(byCustomer.get(id) ?? []), `${x.kind}/${x.name}`]);
      }
      for (const [customerId, rbac] of byCustomer) {
        await store.appendAudit({ ...base(e.job), customerId, namespace: null, action: 'rbac-deleted', outcome: 'deleted', deleted: { rbac }, reason: 'orphaned cluster RBAC (cleanup-rbac)' });
      }
    }
  };
}
